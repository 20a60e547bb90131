//! `kubectl bizra`: deploy, validate and progressively deliver the bizra-apex node.

pub mod apply;
pub mod canary;
pub mod cli;
pub mod cmd;
pub mod completion;
pub mod duration;
pub mod error;
pub mod exit_code;
pub mod global;
pub mod kubeconfig;
pub mod manifests;
pub mod output;
pub mod progress;
pub mod prometheus;
pub mod rollout;
pub mod style;
pub mod trace;
pub mod validate;
pub mod values;
pub mod watch;

use std::process::ExitCode;

use crate::exit_code::ExitStatus;

/// Parses the command line before any runtime starts (so `--help` stays instant), runs the
/// subcommand, prints a failure as `error: ...` on stderr, and returns its documented exit code.
pub fn main() -> ExitCode {
    // Arguments that are not UTF-8 reach clap as they are, which refuses them with exit 2.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|a| a == completion::ENTRY) {
        let words: Vec<String> = args[2..]
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        return completion::run(&cli::command(), &words);
    }
    let cli = match cli::parse_from(args) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    progress::init(cli.global.no_progress);
    trace::init(cli.global.verbosity);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("error: cannot start the async runtime: {err}");
            return ExitStatus::Failed.into();
        }
    };
    match runtime.block_on(cmd::run(cli)) {
        Ok(status) => status.into(),
        Err(err) => {
            let status = error::exit_status_of(&err);
            if status != ExitStatus::Success {
                eprintln!("error: {}", error::render(&err));
            }
            status.into()
        }
    }
}
