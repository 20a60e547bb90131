//! The kubectl-style options every subcommand accepts, and how they map onto kube's client config.

use std::path::{Path, PathBuf};
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

/// The kubeconfig to use and how to name it in messages; `None` when there is none (in a pod).
fn load_kubeconfig(flag: Option<&Path>) -> Result<Option<(Kubeconfig, String)>, Error> {
    let read = |path: &Path| {
        Kubeconfig::read_from(path).map_err(|source| Error::KubeconfigFile {
            path: path.to_owned(),
            source,
        })
    };
    let (kubeconfig, source) = if let Some(path) = flag {
        (read(path)?, path.display().to_string())
    } else if let Some(value) = std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
        let existing: Vec<PathBuf> = std::env::split_paths(&value)
            .filter(|p| !p.as_os_str().is_empty() && p.exists())
            .collect();
        if existing.is_empty() {
            return Err(Error::KubeconfigInvalid {
                source_name: format!("KUBECONFIG={}", value.to_string_lossy()),
                reason: "none of the files it names exists".into(),
            });
        }
        let mut merged = Kubeconfig::default();
        for path in &existing {
            merged = merged
                .merge(read(path)?)
                .map_err(|source| Error::KubeconfigFile {
                    path: path.clone(),
                    source,
                })?;
        }
        let names: Vec<String> = existing.iter().map(|p| p.display().to_string()).collect();
        (merged, names.join(", "))
    } else {
        match home_kubeconfig().filter(|p| p.exists()) {
            Some(path) => (read(&path)?, path.display().to_string()),
            None => return Ok(None),
        }
    };
    if kubeconfig.contexts.is_empty() && kubeconfig.clusters.is_empty() {
        return Err(Error::KubeconfigInvalid {
            source_name: source,
            reason: "it defines no cluster and no context (is the file empty?)".into(),
        });
    }
    Ok(Some((kubeconfig, source)))
}

/// `~/.kube/config`; the home folder as the platform knows it (`USERPROFILE` on Windows).
fn home_kubeconfig() -> Option<PathBuf> {
    std::env::home_dir().map(|home| home.join(".kube").join("config"))
}

/// The context, cluster and user that will be used exist, and the files they point to are
/// there: kube would otherwise fail later, at the first request, with an error that reads like
/// an unreachable cluster.
fn check_selection(
    kubeconfig: &Kubeconfig,
    options: &KubeConfigOptions,
    source: &str,
) -> Result<(), Error> {
    let invalid = |reason: String| Error::KubeconfigInvalid {
        source_name: source.to_owned(),
        reason,
    };
    let names = |list: Vec<&str>| {
        if list.is_empty() {
            "none".to_owned()
        } else {
            list.join(", ")
        }
    };
    let context_name = options
        .context
        .clone()
        .or_else(|| kubeconfig.current_context.clone());
    let context = match &context_name {
        Some(name) => Some(
            kubeconfig
                .contexts
                .iter()
                .find(|c| &c.name == name)
                .ok_or_else(|| {
                    invalid(format!(
                        "context {name:?} is not in it (contexts: {}); pick one with --context",
                        names(
                            kubeconfig
                                .contexts
                                .iter()
                                .map(|c| c.name.as_str())
                                .collect()
                        )
                    ))
                })?
                .context
                .clone()
                .unwrap_or_default(),
        ),
        None if options.cluster.is_none() => {
            return Err(invalid(
                "it sets no current-context; pick one with --context".into(),
            ));
        }
        None => None,
    };
    let cluster_name = options
        .cluster
        .clone()
        .or_else(|| context.as_ref().map(|c| c.cluster.clone()));
    if let Some(name) = &cluster_name {
        let cluster = kubeconfig
            .clusters
            .iter()
            .find(|c| &c.name == name)
            .ok_or_else(|| {
                invalid(format!(
                    "cluster {name:?} is not in it (clusters: {})",
                    names(
                        kubeconfig
                            .clusters
                            .iter()
                            .map(|c| c.name.as_str())
                            .collect()
                    )
                ))
            })?;
        if let Some(ca) = cluster
            .cluster
            .as_ref()
            .and_then(|c| c.certificate_authority.as_deref())
        {
            check_file(ca, &format!("cluster {name:?}'s certificate-authority"))
                .map_err(invalid)?;
        }
    }
    let user_name = options
        .user
        .clone()
        .or_else(|| context.as_ref().and_then(|c| c.user.clone()));
    let Some(user_name) = user_name else {
        return Ok(());
    };
    let user = kubeconfig.auth_infos.iter().find(|u| u.name == user_name);
    let auth = match (user, &options.user) {
        (Some(user), _) => user.auth_info.clone().unwrap_or_default(),
        (None, Some(_)) => {
            return Err(invalid(format!(
                "user {user_name:?} is not in it (users: {})",
                names(
                    kubeconfig
                        .auth_infos
                        .iter()
                        .map(|u| u.name.as_str())
                        .collect()
                )
            )));
        }
        // A context naming a user that is not there is used without credentials, as kubectl does.
        (None, None) => return Ok(()),
    };
    let what = |field: &str| format!("user {user_name:?}'s {field}");
    for (field, path) in [
        ("client-certificate", &auth.client_certificate),
        ("client-key", &auth.client_key),
        ("tokenFile", &auth.token_file),
    ] {
        if let Some(path) = path {
            check_file(path, &what(field)).map_err(invalid)?;
        }
    }
    if let Some(exec) = &auth.exec {
        let command = exec.command.as_deref().unwrap_or_default();
        if command.is_empty() {
            return Err(invalid(format!("{} has no command", what("exec plugin"))));
        }
        if find_program(command).is_none() {
            return Err(invalid(format!(
                "{} {command:?} is not installed (not found on PATH)",
                what("exec plugin")
            )));
        }
    }
    Ok(())
}

fn check_file(path: &str, what: &str) -> Result<(), String> {
    std::fs::File::open(path)
        .map(drop)
        .map_err(|e| format!("{what} {path} cannot be read: {e}"))
}

/// A command as a process would find it: a path, or a name on PATH; on Windows also with each
/// of `PATHEXT`'s extensions (`kubelogin` is `kubelogin.exe`).
fn find_program(command: &str) -> Option<PathBuf> {
    let extensions: Vec<String> = if cfg!(windows) {
        let pathext = std::env::var("PATHEXT").unwrap_or_else(|_| ".COM;.EXE;.BAT;.CMD".into());
        std::iter::once(String::new())
            .chain(
                pathext
                    .split(';')
                    .filter(|e| !e.is_empty())
                    .map(str::to_owned),
            )
            .collect()
    } else {
        vec![String::new()]
    };
    let existing = |base: &Path| {
        extensions
            .iter()
            .map(|ext| PathBuf::from(format!("{}{ext}", base.display())))
            .find(|candidate| candidate.is_file())
    };
    let path = Path::new(command);
    if path.components().count() > 1 {
        return existing(path);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).find_map(|dir| existing(&dir.join(command)))
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
        let (mut config, source) = match load_kubeconfig(self.kubeconfig.as_deref())? {
            Some((kubeconfig, source)) => {
                check_selection(&kubeconfig, &options, &source)?;
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
        let client = Client::try_from(config).map_err(|e| Error::KubeconfigInvalid {
            source_name: source,
            reason: crate::error::render(&anyhow::Error::new(e)),
        })?;
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
    fn request_timeout_rejects_garbage_and_negative() {
        assert!(parse_request_timeout("soon").is_err());
        assert!(parse_request_timeout("-5s").is_err());
        assert!(parse_request_timeout("10x").is_err());
        assert!(parse_request_timeout("99999999999999999999").is_err());
        assert!(parse_request_timeout("99999999999999999999s").is_err());
    }
}
