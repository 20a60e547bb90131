//! Errors that decide the exit code. Anything else that goes wrong is an anyhow error and exits 1.

use std::path::PathBuf;

use crate::exit_code::ExitStatus;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),

    #[error("cannot use the kubeconfig file {path}")]
    KubeconfigFile {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },

    #[error("cannot use {source_name}: {reason}")]
    KubeconfigInvalid { source_name: String, reason: String },

    /// The kubeconfig's credentials could not be produced here (exec plugin, token file).
    #[error("cannot get credentials for {server} from the kubeconfig")]
    Credentials {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    #[error("no usable cluster configuration (no kubeconfig and not running in a cluster)")]
    NoConfig {
        #[source]
        source: kube::config::InClusterError,
    },

    #[error("cannot reach the cluster at {server}")]
    Unreachable {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// Someone else changed the rollout between our read and our write; nothing was written.
    #[error("{0}")]
    Conflict(String),

    /// Could not be decided now (no data, Prometheus unreachable); nothing was changed.
    #[error("{0}")]
    Inconclusive(String),

    #[error(
        "the cluster at {server} refused the credentials ({reason}); check the user in your kubeconfig"
    )]
    Unauthorized { server: String, reason: String },
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_)
            | Error::KubeconfigFile { .. }
            | Error::KubeconfigInvalid { .. }
            | Error::Credentials { .. }
            | Error::NoConfig { .. } => ExitStatus::Usage,
            Error::Unreachable { .. } | Error::Unauthorized { .. } => {
                ExitStatus::ClusterUnreachable
            }
            Error::Conflict(_) => ExitStatus::Failed,
            Error::Inconclusive(_) => ExitStatus::Inconclusive,
        }
    }
}

/// Turns a client error into [`Error::Unreachable`] or [`Error::Unauthorized`] when it is one of
/// those, so the exit code tells a CI job that the cluster, not the rollout, is the problem.
pub fn classify_kube_error(server: &str, err: kube::Error) -> anyhow::Error {
    match err {
        kube::Error::Api(status) if status.code == 401 => Error::Unauthorized {
            server: server.to_owned(),
            reason: status.message.clone(),
        }
        .into(),
        err @ kube::Error::Auth(_) => Error::Credentials {
            server: server.to_owned(),
            source: Box::new(err),
        }
        .into(),
        err
        @ (kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::RustlsTls(_)) => {
            Error::Unreachable {
                server: server.to_owned(),
                source: Box::new(err),
            }
            .into()
        }
        other => other.into(),
    }
}

/// The exit status an error chain stands for: the first typed [`Error`] in it decides; a broken
/// pipe on stdout (`kubectl bizra ... | head`) is not a failure.
pub fn exit_status_of(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if let Some(typed) = cause.downcast_ref::<Error>() {
            return typed.exit_status();
        }
        if let Some(io) = cause.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::BrokenPipe
        {
            return ExitStatus::Success;
        }
    }
    ExitStatus::Failed
}

/// The message for `error: ...`: the chain joined by ": ", leaving out a cause whose text the
/// message already shows (kube's errors repeat their sources in their own text).
pub fn render(err: &anyhow::Error) -> String {
    let mut message = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if message.contains(&text) {
            continue;
        }
        if !message.is_empty() {
            message.push_str(": ");
        }
        message.push_str(&text);
    }
    message
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_drops_repeated_causes() {
        let inner = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let err = anyhow::Error::new(inner)
            .context("failed to read x: no such file")
            .context("cannot load");
        assert_eq!(render(&err), "cannot load: failed to read x: no such file");
    }

    #[test]
    fn typed_errors_decide_the_exit_status() {
        let err = anyhow::Error::new(Error::Usage("bad".into())).context("while parsing");
        assert_eq!(exit_status_of(&err), ExitStatus::Usage);
        let err = anyhow::Error::new(Error::Unauthorized {
            server: "https://x".into(),
            reason: "Unauthorized".into(),
        });
        assert_eq!(exit_status_of(&err), ExitStatus::ClusterUnreachable);
        assert_eq!(
            exit_status_of(&anyhow::anyhow!("anything else")),
            ExitStatus::Failed
        );
        let pipe = std::io::Error::new(std::io::ErrorKind::BrokenPipe, "closed");
        assert_eq!(
            exit_status_of(&anyhow::Error::new(pipe)),
            ExitStatus::Success
        );
    }
}
