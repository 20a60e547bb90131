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

    #[error("no usable cluster configuration (no kubeconfig and not running in a cluster)")]
    NoConfig {
        #[source]
        source: kube::config::InClusterError,
    },

    /// Could not be decided now (no data, Prometheus unreachable); nothing was changed.
    #[error("{0}")]
    Inconclusive(String),
}

impl Error {
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_)
            | Error::KubeconfigFile { .. }
            | Error::KubeconfigInvalid { .. }
            | Error::NoConfig { .. } => ExitStatus::Usage,
            Error::Inconclusive(_) => ExitStatus::Inconclusive,
        }
    }
}

/// What went wrong talking to the cluster, in the cases callers tell apart: a concurrent writer
/// (read again and decide again), a transient fault (wait it out), something missing, refused,
/// or unreadable. Every call to the apiserver maps its error to one of these (see
/// [`classify_kube_error`]).
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// Another writer changed the object between our read and our write; nothing was written.
    #[error("{0}")]
    Conflict(String),

    /// The apiserver cannot be reached (transient: restarting, network).
    #[error("cannot reach the cluster at {server}")]
    Unreachable {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// The apiserver answered 5xx or 429 (transient: overloaded, restarting).
    #[error(transparent)]
    Unavailable(Box<kube::Error>),

    /// An object the command needs is not there; the message says how to name or make it.
    #[error("{0}")]
    NotFound(String),

    /// The credentials may not do this (403).
    #[error(transparent)]
    Forbidden(Box<kube::Error>),

    #[error(
        "the cluster at {server} refused the credentials ({reason}); check the user in your kubeconfig"
    )]
    Unauthorized { server: String, reason: String },

    /// The kubeconfig's credentials could not be produced here (exec plugin, token file).
    #[error("cannot get credentials for {server} from the kubeconfig")]
    Credentials {
        server: String,
        #[source]
        source: Box<kube::Error>,
    },

    /// The cluster holds something the command cannot read (a corrupt state annotation, routes
    /// of another shape); the message says what to fix.
    #[error("{0}")]
    Unreadable(String),

    #[error(transparent)]
    Other(Box<kube::Error>),
}

impl ClusterError {
    /// Worth waiting out: the apiserver unreachable, restarting or overloaded.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ClusterError::Unreachable { .. } | ClusterError::Unavailable(_)
        )
    }

    /// Worth reading again and retrying: a concurrent writer, or a transient fault.
    pub fn is_retryable(&self) -> bool {
        self.is_transient() || matches!(self, ClusterError::Conflict(_))
    }

    /// The cluster cannot be used at all (unreachable, or the credentials are refused or cannot
    /// be made): nothing else read from it would mean anything.
    pub fn is_fatal(&self) -> bool {
        matches!(
            self,
            ClusterError::Unreachable { .. }
                | ClusterError::Unauthorized { .. }
                | ClusterError::Credentials { .. }
        )
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self {
            ClusterError::Unreachable { .. } | ClusterError::Unauthorized { .. } => {
                ExitStatus::ClusterUnreachable
            }
            ClusterError::Credentials { .. } | ClusterError::NotFound(_) => ExitStatus::Usage,
            ClusterError::Conflict(_)
            | ClusterError::Unavailable(_)
            | ClusterError::Forbidden(_)
            | ClusterError::Unreadable(_)
            | ClusterError::Other(_) => ExitStatus::Failed,
        }
    }
}

/// Maps a client error onto [`ClusterError`], so the exit code tells a CI job that the cluster,
/// not the rollout, is the problem, and callers can tell a conflict or a transient fault apart.
pub fn classify_kube_error(server: &str, err: kube::Error) -> ClusterError {
    match err {
        kube::Error::Api(status) if status.code == 401 => ClusterError::Unauthorized {
            server: server.to_owned(),
            reason: status.message.clone(),
        },
        // 409 is also AlreadyExists, which no retry mends.
        kube::Error::Api(status) if status.code == 409 && status.reason == "Conflict" => {
            ClusterError::Conflict(format!("{} ({})", status.message, status.reason))
        }
        err @ kube::Error::Api(_) => {
            let code = match &err {
                kube::Error::Api(status) => status.code,
                _ => 0,
            };
            match code {
                403 => ClusterError::Forbidden(Box::new(err)),
                429 | 500.. => ClusterError::Unavailable(Box::new(err)),
                _ => ClusterError::Other(Box::new(err)),
            }
        }
        err @ kube::Error::Auth(_) => ClusterError::Credentials {
            server: server.to_owned(),
            source: Box::new(err),
        },
        // ReadEvents: a watch's connection broke mid-stream (a restart, a cut network).
        err @ (kube::Error::HyperError(_)
        | kube::Error::Service(_)
        | kube::Error::RustlsTls(_)
        | kube::Error::ReadEvents(_)) => ClusterError::Unreachable {
            server: server.to_owned(),
            source: Box::new(err),
        },
        other => ClusterError::Other(Box::new(other)),
    }
}

/// The exit status an error chain stands for: the first typed [`Error`] or [`ClusterError`] in
/// it decides; a broken pipe on stdout (`kubectl bizra ... | head`) is not a failure. Only the
/// binary's edge reads an error chain so.
pub fn exit_status_of(err: &anyhow::Error) -> ExitStatus {
    for cause in err.chain() {
        if let Some(typed) = cause.downcast_ref::<Error>() {
            return typed.exit_status();
        }
        if let Some(typed) = cause.downcast_ref::<ClusterError>() {
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
    fn a_watch_cut_mid_stream_is_an_unreachable_cluster() {
        let cut = std::io::Error::other("error reading a body from connection");
        assert!(matches!(
            classify_kube_error("https://x", kube::Error::ReadEvents(cut)),
            ClusterError::Unreachable { .. }
        ));
    }

    #[test]
    fn typed_errors_decide_the_exit_status() {
        let err = anyhow::Error::new(Error::Usage("bad".into())).context("while parsing");
        assert_eq!(exit_status_of(&err), ExitStatus::Usage);
        let err = anyhow::Error::new(ClusterError::Unauthorized {
            server: "https://x".into(),
            reason: "Unauthorized".into(),
        })
        .context("while reading");
        assert_eq!(exit_status_of(&err), ExitStatus::ClusterUnreachable);
        let err = anyhow::Error::new(ClusterError::NotFound("no such deployment".into()));
        assert_eq!(exit_status_of(&err), ExitStatus::Usage);
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
