//! The command line: global kubectl-style options plus one subcommand.

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::cmd;
use crate::global::GlobalOptions;

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-bizra",
    bin_name = "kubectl bizra",
    version,
    about = "Deploy, validate and progressively deliver the bizra-apex node",
    propagate_version = true
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalOptions,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the bizra-apex manifests (server-side apply) and wait for the rollout.
    Deploy(Box<cmd::deploy::Args>),
    /// Check the deployment gates and exit non-zero when one fails (1) or cannot be decided (3).
    Validate(Box<cmd::validate::Args>),
    /// Check manifests offline with the admission policy's rules (the Pod Security Standards
    /// profile, limits) before anything is applied.
    Lint(cmd::lint::Args),
    /// The admission policy in other forms: `vap` prints it as a CEL ValidatingAdmissionPolicy
    /// for clusters without Kubewarden.
    Policy(cmd::policy::Args),
    /// Analyse the canary's stage and move it on when the analysis passes (--auto: the whole plan).
    Promote(Box<cmd::promote::Args>),
    /// Send all traffic to stable, scale the canary down, and undo a completed release.
    Rollback(Box<cmd::rollback::Args>),
    /// Show where the rollout stands: stage, weights, replicas per track, analyses, history.
    Status(Box<cmd::status::Args>),
    /// Print the plugin version and, when the cluster is reachable, the server version.
    Version(cmd::version::Args),
}

/// The command definition as it parses: every option that takes a value takes the next word as
/// it is, even when it starts with '-', as kubectl's flags do (`--timeout -5s` is then refused by
/// the option's own parser, naming it, instead of being read as an unknown flag `-5`).
pub fn command() -> clap::Command {
    fn hyphen_values(command: clap::Command) -> clap::Command {
        command
            .mut_args(|arg| {
                if arg.get_num_args().is_none_or(|n| n.takes_values()) && arg.get_long().is_some() {
                    arg.allow_hyphen_values(true)
                } else {
                    arg
                }
            })
            .mut_subcommands(hyphen_values)
    }
    let mut command = Cli::command();
    command.build();
    hyphen_values(command)
}

pub fn parse_from<I, T>(args: I) -> Result<Cli, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let mut command = command();
    let matches = command.try_get_matches_from_mut(args)?;
    Cli::from_arg_matches(&matches).map_err(|e| e.format(&mut command))
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;
    use crate::output::OutputFormat;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    #[test]
    fn global_options_parse_after_the_subcommand() {
        let cli = crate::cli::parse_from([
            "kubectl-bizra",
            "version",
            "--context",
            "kind-e2e",
            "-n",
            "staging",
            "-o",
            "json",
            "--request-timeout",
            "5s",
        ])
        .expect("valid command line");
        assert_eq!(cli.global.context.as_deref(), Some("kind-e2e"));
        assert_eq!(cli.global.namespace, "staging");
        assert_eq!(cli.global.output, OutputFormat::Json);
        assert_eq!(
            cli.global.request_timeout.0,
            Some(std::time::Duration::from_secs(5))
        );
    }

    #[test]
    fn namespace_defaults_to_testnet() {
        let cli = crate::cli::parse_from(["kubectl-bizra", "version"]).expect("valid command line");
        assert_eq!(cli.global.namespace, "testnet");
        assert_eq!(cli.global.output, OutputFormat::Table);
        assert_eq!(cli.global.request_timeout.0, None);
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["kubectl-bizra", "version", "-o", "xml"][..],
            &["kubectl-bizra", "version", "--request-timeout", "soon"][..],
            &["kubectl-bizra", "frobnicate"][..],
            &["kubectl-bizra", "version", "--request-timeout", "-5s"][..],
        ] {
            let err = crate::cli::parse_from(args).expect_err("must be rejected");
            assert_eq!(err.exit_code(), 2, "{args:?}");
        }
    }
}
