//! `kubectl bizra version`

use serde::Serialize;

use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Print only the plugin version; do not contact the cluster.
    #[arg(long)]
    pub client: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionReport {
    pub client_version: ClientVersion,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_version: Option<k8s_openapi::apimachinery::pkg::version::Info>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ClientVersion {
    pub git_version: String,
    pub platform: String,
}

impl ClientVersion {
    pub fn current() -> Self {
        ClientVersion {
            git_version: format!("v{}", env!("CARGO_PKG_VERSION")),
            platform: format!("{}/{}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}

pub fn render_table(report: &VersionReport) -> String {
    let mut text = format!("Client Version: {}\n", report.client_version.git_version);
    if let Some(server) = &report.server_version {
        text.push_str(&format!("Server Version: {}\n", server.git_version));
    }
    text
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    let mut report = VersionReport {
        client_version: ClientVersion::current(),
        server_version: None,
    };
    if args.client {
        output::print(global.output, &report, render_table)?;
        return Ok(ExitStatus::Success);
    }
    // Like kubectl: the client version is printed even when the server cannot be asked.
    let server = match global.client().await {
        Ok(kube) => kube
            .client
            .apiserver_version()
            .await
            .map_err(|e| anyhow::Error::new(kube.classify(e))),
        Err(err) => Err(err),
    };
    match server {
        Ok(info) => {
            report.server_version = Some(info);
            output::print(global.output, &report, render_table)?;
            Ok(ExitStatus::Success)
        }
        Err(err) => {
            output::print(global.output, &report, render_table)?;
            Err(err)
        }
    }
}
