//! The kubectl-style options every subcommand accepts, and how they map onto kube's client config.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::KubeConfigOptions;
use kube::{Client, Config};

use crate::error::{ClusterError, Error, classify_kube_error};
use crate::kubeconfig;
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
    #[arg(short = 'n', long, global = true, value_name = "NAMESPACE", default_value = DEFAULT_NAMESPACE, value_parser = crate::values::dns_label)]
    pub namespace: String,

    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Table)]
    pub output: OutputFormat,

    /// How long to wait for a single server request before giving up: a kubectl duration such as
    /// 30s, 1m or 1m30s, or whole seconds; 0 means no timeout.
    #[arg(long, global = true, value_name = "DURATION", default_value = "0", value_parser = parse_request_timeout)]
    pub request_timeout: RequestTimeout,

    /// Log level, as kubectl's: 6 logs every API and Prometheus request (method, URL, status,
    /// duration), 7 their headers, 8 their bodies (cut at 10 KiB), 9 whole bodies; to stderr.
    #[arg(short = 'v', long = "v", global = true, value_name = "LEVEL", default_value_t = 0, value_parser = clap::value_parser!(u8).range(0..=10))]
    pub verbosity: u8,

    /// Print a plain line per change of state while waiting, instead of live lines on a
    /// terminal (off a terminal, that is what is printed anyway).
    #[arg(long, global = true)]
    pub no_progress: bool,
}

/// kubectl's `--request-timeout`: `None` means wait as long as the server takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RequestTimeout(pub Option<Duration>);

pub fn parse_request_timeout(value: &str) -> Result<RequestTimeout, String> {
    // kubectl takes a bare integer as seconds, anything else as a Go duration.
    let duration = match value.parse::<u64>() {
        Ok(seconds) if seconds <= crate::duration::MAX.as_secs() => Duration::from_secs(seconds),
        Ok(_) => return Err(crate::duration::DurationError::TooLarge(value.into()).to_string()),
        Err(_) => crate::duration::parse(value).map_err(|e| e.to_string())?,
    };
    Ok(RequestTimeout((!duration.is_zero()).then_some(duration)))
}

impl GlobalOptions {
    /// An empty `--context`, `--cluster` or `--user` means "not set", as in kubectl, so that
    /// `--context "$CTX"` works with `CTX` empty.
    fn kubeconfig_options(&self) -> KubeConfigOptions {
        let set = |value: &Option<String>| value.clone().filter(|v| !v.is_empty());
        KubeConfigOptions {
            context: set(&self.context),
            cluster: set(&self.cluster),
            user: set(&self.user),
        }
    }

    /// Resolves the client configuration as kubectl does: an explicit `--kubeconfig` file, else
    /// `$KUBECONFIG` (several paths are merged; missing ones are skipped, as kubectl skips them)
    /// or `~/.kube/config`, else the in-cluster account. Everything that is wrong locally (a file
    /// that does not parse, an unknown context, cluster or user, a certificate, key, token file
    /// or exec plugin that is not there) is a configuration error naming the file.
    pub async fn kube_config(&self) -> Result<Config, Error> {
        self.kube_config_and_source()
            .await
            .map(|(config, _)| config)
    }

    /// The config and how to name where it came from in messages.
    async fn kube_config_and_source(&self) -> Result<(Config, String), Error> {
        let options = self.kubeconfig_options();
        let (mut config, source) = match kubeconfig::load(self.kubeconfig.as_deref())? {
            Some((kubeconfig, source)) => {
                kubeconfig::check_selection(&kubeconfig, &options, &source)?;
                let config = Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| Error::KubeconfigInvalid {
                        source_name: source.clone(),
                        reason: crate::error::render(&anyhow::Error::new(e)),
                    })?;
                (config, source)
            }
            None => (
                Config::incluster().map_err(|source| Error::NoConfig { source })?,
                "the in-cluster service account".to_owned(),
            ),
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
        Ok((config, source))
    }

    pub async fn client(&self) -> anyhow::Result<KubeClient> {
        let (config, source) = self.kube_config_and_source().await?;
        let server = config.cluster_url.to_string();
        // Building the client only reads local files and sets up TLS: what fails is the config.
        let client = crate::trace::client(config).map_err(|e| Error::KubeconfigInvalid {
            source_name: source,
            reason: crate::error::render(&anyhow::Error::new(e)),
        })?;
        Ok(KubeClient { client, server })
    }
}

/// kubectl's `--dry-run`: what the commands that change the cluster do with their changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Apply for real.
    None,
    /// Send every object to the server for validation and show what would change; change nothing.
    Server,
}

/// A client together with the server address, for error messages.
#[derive(Clone)]
pub struct KubeClient {
    pub client: Client,
    pub server: String,
}

impl KubeClient {
    /// Maps a failed call onto [`ClusterError`].
    pub fn classify(&self, err: kube::Error) -> ClusterError {
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
    fn request_timeout_rejects_garbage_and_negative() {
        assert!(parse_request_timeout("soon").is_err());
        assert!(parse_request_timeout("-5s").is_err());
        assert!(parse_request_timeout("10x").is_err());
        assert!(parse_request_timeout("99999999999999999999").is_err());
        assert!(parse_request_timeout("99999999999999999999s").is_err());
    }
}
