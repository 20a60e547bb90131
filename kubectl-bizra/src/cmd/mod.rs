//! One module per subcommand. Each exposes `Args` and `async fn run`.

pub mod deploy;
pub mod lint;
pub mod policy;
pub mod promote;
pub mod rollback;
pub mod status;
pub mod validate;
pub mod version;

use crate::cli::{Cli, Command};
use crate::exit_code::ExitStatus;
use crate::output;

pub async fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    let name = match &cli.command {
        Command::Deploy(_) => "deploy",
        Command::Validate(_) => "validate",
        Command::Lint(_) => "lint",
        Command::Policy(_) => "policy",
        Command::Promote(_) => "promote",
        Command::Rollback(_) => "rollback",
        Command::Status(_) => "status",
        Command::Version(_) => "version",
    };
    output::check_format(cli.global.output, name, output::own_format(name))?;
    match cli.command {
        Command::Deploy(args) => deploy::run(&cli.global, *args).await,
        Command::Validate(args) => validate::run(&cli.global, *args).await,
        Command::Lint(args) => lint::run(&cli.global, args).await,
        Command::Policy(args) => policy::run(&cli.global, args).await,
        Command::Promote(args) => promote::run(&cli.global, *args).await,
        Command::Rollback(args) => rollback::run(&cli.global, *args).await,
        Command::Status(args) => status::run(&cli.global, *args).await,
        Command::Version(args) => version::run(&cli.global, args).await,
    }
}
