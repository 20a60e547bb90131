//! The kubectl-style options every subcommand accepts, and how they map onto kube's client config.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::{Error, classify_kube_error};
use crate::output::OutputFormat;

pub const DEFAULT_NAMESPACE: &str = "testnet";

/// `kubectl-bizra/v0.1.0 (linux/x86_64)`, like kubectl's `kubectl/v1.32.4 (linux/amd64)`.
pub fn user_agent() -> String {
    format!(
        "kubectl-bizra/v{} ({}/{})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

#[derive(Debug, Clone, clap::Args)]
#[command(next_help_heading = "Kubernetes flags")]
pub struct GlobalOptions {
    /// Path to the kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, global = true, value_name = "PATH", value_hint = clap::ValueHint::FilePath)]
    pub kubeconfig: Option<PathBuf>,

    /// The kubeconfig context to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub context: Option<String>,

    /// The kubeconfig cluster to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub cluster: Option<String>,

    /// The kubeconfig user to use.
    #[arg(long, global = true, value_name = "NAME")]
    pub user: Option<String>,

    /// Namespace of the bizra-apex deployment.
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", default_value = DEFAULT_NAMESPACE)]
    pub namespace: String,

    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// How long to wait for a single server request before giving up: a kubectl duration such as
    /// 30s, 1m or 1m30s, or whole seconds; 0 means no timeout.
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_request_timeout)]
    pub request_timeout: RequestTimeout,
}

/// kubectl's `--request-timeout`: `None` means wait as long as the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

/// Parses a Go duration (`30s`, `1m30s`, `500ms`); negative values are rejected.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let parsed: kube::core::Duration = value
        .parse()
        .map_err(|e| format!("invalid duration {value:?} ({e}); use e.g. 30s, 5m or 1m30s"))?;
    if parsed.is_negative() {
        return Err(format!(
            "invalid duration {value:?}: it must not be negative"
        ));
    }
    Ok(parsed.into())
}

/// A duration as kubectl prints one: `5m`, `1h30m`, `45s`, `1.5s`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() != 0 || seconds == 0 {
        return format!("{}s", duration.as_secs_f64());
    }
    let (h, m, s) = (seconds / 3600, seconds / 60 % 60, seconds % 60);
    let mut text = String::new();
    if h > 0 {
        text.push_str(&format!("{h}h"));
    }
    if m > 0 {
        text.push_str(&format!("{m}m"));
    }
    if s > 0 {
        text.push_str(&format!("{s}s"));
    }
    text
}

pub fn parse_request_timeout(value: &str) -> Result<RequestTimeout, String> {
    // kubectl takes a bare integer as seconds, anything else as a Go duration.
    let duration = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => parse_duration(value)?,
    };
    Ok(RequestTimeout((!duration.is_zero()).then_some(duration)))
}

impl GlobalOptions {
    fn kubeconfig_options(&self) -> KubeConfigOptions {
        KubeConfigOptions {
            context: self.context.clone(),
            cluster: self.cluster.clone(),
            user: self.user.clone(),
        }
    }

    /// Resolves the client configuration as kubectl does: an explicit `--kubeconfig` file, else
    /// `$KUBECONFIG` (several paths are merged) or `~/.kube/config`, else the in-cluster account.
    pub async fn kube_config(&self) -> Result<Config, Error> {
        let options = self.kubeconfig_options();
        let mut config = if let Some(path) = &self.kubeconfig {
            let kubeconfig =
                Kubeconfig::read_from(path).map_err(|source| Error::KubeconfigFile {
                    path: path.clone(),
                    source,
                })?;
            Config::from_custom_kubeconfig(kubeconfig, &options)
                .await
                .map_err(|source| Error::KubeconfigFile {
                    path: path.clone(),
                    source,
                })?
        } else if self.context.is_some() || self.cluster.is_some() || self.user.is_some() {
            Config::from_kubeconfig(&options)
                .await
                .map_err(|source| Error::Kubeconfig { source })?
        } else {
            Config::infer()
                .await
                .map_err(|source| Error::NoConfig { source })?
        };
        config.default_namespace = self.namespace.clone();
        // Identify ourselves in the apiserver's logs and audit trail, as kubectl does.
        if let Ok(agent) = http::HeaderValue::from_str(&user_agent()) {
            config.headers.push((http::header::USER_AGENT, agent));
        }
        if let RequestTimeout(Some(timeout)) = self.request_timeout {
            config.connect_timeout = Some(timeout);
            config.read_timeout = Some(timeout);
            config.write_timeout = Some(timeout);
        }
        Ok(config)
    }

    pub async fn client(&self) -> anyhow::Result<KubeClient> {
        let config = self.kube_config().await?;
        let server = config.cluster_url.to_string();
        let client = Client::try_from(config).map_err(|e| classify_kube_error(&server, e))?;
        Ok(KubeClient { client, server })
    }
}

/// A client together with the server address, for error messages.
#[derive(Clone)]
pub struct KubeClient {
    pub client: Client,
    pub server: String,
}

impl KubeClient {
    /// Maps a failed call onto the exit-code-bearing errors (unreachable, unauthorized).
    pub fn classify(&self, err: kube::Error) -> anyhow::Error {
        classify_kube_error(&self.server, err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_timeout_accepts_kubectl_forms() {
        assert_eq!(parse_request_timeout("0"), Ok(RequestTimeout(None)));
        assert_eq!(
            parse_request_timeout("15"),
            Ok(RequestTimeout(Some(Duration::from_secs(15))))
        );
        assert_eq!(
            parse_request_timeout("1m30s"),
            Ok(RequestTimeout(Some(Duration::from_secs(90))))
        );
        assert_eq!(
            parse_request_timeout("500ms"),
            Ok(RequestTimeout(Some(Duration::from_millis(500))))
        );
    }

    #[test]
    fn durations_print_like_kubectl() {
        assert_eq!(format_duration(Duration::from_secs(300)), "5m");
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_secs(45)), "45s");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
    }

    #[test]
    fn request_timeout_rejects_garbage_and_negative() {
        assert!(parse_request_timeout("soon").is_err());
        assert!(parse_request_timeout("-5s").is_err());
        assert!(parse_request_timeout("10x").is_err());
    }
}
