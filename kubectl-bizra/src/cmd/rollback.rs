//! `kubectl bizra rollback`: all traffic to stable and the canary scaled down in one command;
//! after a completed release also `kubectl rollout undo` of stable. Idempotent and resumable.

use std::time::Duration;

use serde::Serialize;

use crate::canary::cluster::{Cluster, Names, Observed, replicas};
use crate::canary::decide::rollback_plan;
use crate::canary::execute::{Change, ExecuteError, Executor, changes_table};
use crate::canary::plan::Plan;
use crate::canary::retry::RETRY;
use crate::canary::routing::Weights;
use crate::canary::state::Phase;
use crate::duration::format as format_duration;
use crate::exit_code::ExitStatus;
use crate::global::{DryRun, GlobalOptions};
use crate::output;

/// The reason is kept in the rollout's annotation, whose total size the apiserver limits.
fn reason(text: &str) -> Result<String, String> {
    const MAX: usize = 1024;
    if text.trim().is_empty() {
        return Err("the reason must not be empty".into());
    }
    if text.chars().count() > MAX {
        return Err(format!("the reason is longer than {MAX} characters"));
    }
    Ok(text.to_owned())
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub names: Names,

    /// Why, recorded in the rollout's history.
    #[arg(long, value_name = "TEXT", default_value = "manual rollback", value_parser = reason)]
    pub reason: String,

    /// The stable revision to go back to (as `kubectl rollout undo --to-revision`); by default
    /// the revision before the completed release, or none while the release is not completed.
    #[arg(long, value_name = "REVISION", value_parser = clap::value_parser!(i64).range(1..))]
    pub to_revision: Option<i64>,

    /// `server`: send the planned changes to the server as a dry run.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = DryRun::None)]
    pub dry_run: DryRun,

    /// How long to wait for the Deployments to scale and roll out.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag, default_value = "10m")]
    pub timeout: Duration,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub virtual_service: String,
    pub rolled_back: bool,
    pub phase: Phase,
    pub weights: Weights,
    pub reason: String,
    pub dry_run: bool,
    pub changes: Vec<Change>,
}

fn render_table(report: &RollbackReport) -> String {
    let mut text = if report.rolled_back {
        format!(
            "rolled back{}: {}\n",
            if report.dry_run {
                " (server dry run: nothing changed)"
            } else {
                ""
            },
            report.reason
        )
    } else {
        "nothing to roll back: all traffic is on stable and the canary is scaled down\n".to_string()
    };
    text.push_str(&format!(
        "weights: stable {}%, canary {}%\n",
        report.weights.stable, report.weights.canary
    ));
    text.push_str(&changes_table(&report.changes));
    text
}

/// Decides the rollback of what was read, and does it; false when there was nothing to do.
async fn roll_back(
    executor: &mut Executor<'_>,
    mut observed: Observed,
    args: &Args,
) -> Result<(Observed, bool), ExecuteError> {
    let Some(plan) = rollback_plan(
        &observed.state,
        observed.weights,
        replicas(&observed.canary),
        args.to_revision,
    ) else {
        return Ok((observed, false));
    };
    executor.rollback(&mut observed, plan, &args.reason).await?;
    Ok((observed, true))
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    let kube = global.client().await?;
    let cluster = Cluster::new(
        kube,
        &global.namespace,
        args.names.clone(),
        args.dry_run == DryRun::Server,
    );
    let mut executor = Executor {
        cluster: &cluster,
        prometheus: None,
        plan: Plan::default(),
        wait_timeout: args.timeout,
        changes: Vec::new(),
    };
    // The first read fails at once (a wrong context, an unreachable cluster); once it has
    // begun, a rollback must get through: a concurrent writer or a restarting apiserver only
    // makes it read again and decide again, as the retry policy says.
    let mut read = Some(cluster.observe().await?);
    let mut failing_since: Option<tokio::time::Instant> = None;
    let (observed, rolled_back) = loop {
        let attempt = match read.take() {
            Some(observed) => roll_back(&mut executor, observed, &args).await,
            None => match cluster.observe().await {
                Ok(observed) => roll_back(&mut executor, observed, &args).await,
                Err(e) => Err(e.into()),
            },
        };
        match attempt {
            Ok(done) => break done,
            Err(err) => {
                let retryable = err.is_retryable();
                let err = anyhow::Error::new(err);
                if !retryable {
                    return Err(err);
                }
                let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                if !RETRY.again(since.elapsed()) {
                    return Err(err.context(format!(
                        "gave up after retrying for {}",
                        format_duration(RETRY.give_up_after)
                    )));
                }
                crate::progress::progress().println(&format!(
                    "retrying the rollback: {}",
                    crate::error::render(&err)
                ));
                tokio::time::sleep(RETRY.pause).await;
            }
        }
    };
    let report = RollbackReport {
        api_version: crate::output::API_VERSION,
        kind: "RollbackResult",
        namespace: global.namespace.clone(),
        virtual_service: args.names.virtual_service.clone(),
        rolled_back,
        phase: observed.state.phase,
        weights: observed.weights,
        reason: observed
            .state
            .reason
            .clone()
            .unwrap_or_else(|| args.reason.clone()),
        dry_run: cluster.dry_run,
        changes: executor.changes,
    };
    output::print(global.output, &report, render_table)?;
    Ok(ExitStatus::Success)
}
