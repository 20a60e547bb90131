//! `kubectl bizra promote`: analyse the canary's current stage and, when it passes, move it to
//! the next one; `--auto` runs the whole plan and rolls back on failure. The flags become a plan
//! and a mode ([`args`]); the loop here asks [`decide::next_step`] what to do and has the
//! [`Executor`] do it; [`report`] prints.

mod args;
mod report;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::canary::analysis::{AnalysisRecord, Verdict};
use crate::canary::cluster::{Cluster, Observed};
use crate::canary::decide::{self, After, Mode, Situation, Step};
use crate::canary::execute::{AnalyseError, Executor, unreachable_analysis};
use crate::canary::retry::RETRY;
use crate::duration::format as format_duration;
use crate::exit_code::ExitStatus;
use crate::global::{DryRun, GlobalOptions};
use crate::output;
use crate::progress::{Task, progress};
use crate::style::Palette;

pub use args::Args;
use report::{Failure, outcome_of, refused};
pub use report::{Outcome, PromoteReport, render_table};

/// Where the loop is after a step.
enum Next {
    /// Decide again with what is in memory (within one reading of the cluster).
    Decide,
    /// A reading of the cluster is done with: the next step reads it again.
    Read,
    Done(Box<PromoteReport>),
}

struct Run<'a> {
    executor: Executor<'a>,
    args: &'a Args,
    mode: Mode,
    image_set: bool,
    /// The cluster as last read and changed; `None` reads it again.
    observed: Option<Observed>,
    /// The analysis made since the last read, counted into `observed`'s state, and the time
    /// the decision after it is taken at (when the analysis began, as the hold was read).
    analysed: Option<(AnalysisRecord, Timestamp)>,
    /// The run's latest analysis, for the report.
    last: Option<AnalysisRecord>,
    /// `--auto`'s line of progress.
    canary: Option<Task>,
}

impl Run<'_> {
    /// Decide, then execute, until the run ends. `--auto` reads the cluster again and decides
    /// again after a conflict or a transient fault, as the retry policy says; failures in a row
    /// count until a reading of the cluster has been carried through.
    async fn go(&mut self) -> anyhow::Result<PromoteReport> {
        let mut failing_since: Option<tokio::time::Instant> = None;
        loop {
            match self.step().await {
                Ok(Next::Done(report)) => return Ok(*report),
                Ok(Next::Decide) => {}
                Ok(Next::Read) => failing_since = None,
                Err(failure) => {
                    if !(matches!(self.mode, Mode::Auto { .. }) && failure.retryable) {
                        return Err(failure.error);
                    }
                    let since = *failing_since.get_or_insert_with(tokio::time::Instant::now);
                    if !RETRY.again(since.elapsed()) {
                        return Err(failure.error.context(format!(
                            "gave up after retrying for {}",
                            format_duration(RETRY.give_up_after)
                        )));
                    }
                    progress().println(&format!(
                        "will retry: {}",
                        crate::error::render(&failure.error)
                    ));
                    (self.observed, self.analysed) = (None, None);
                    tokio::time::sleep(RETRY.pause).await;
                }
            }
        }
    }

    async fn step(&mut self) -> Result<Next, Failure> {
        let mut observed = match self.observed.take() {
            Some(observed) => observed,
            None => self.executor.cluster.observe().await?,
        };
        let now = self
            .analysed
            .as_ref()
            .map_or_else(Timestamp::now, |(_, at)| *at);
        let tracks = observed.tracks();
        let situation = Situation {
            plan: &self.executor.plan,
            state: &observed.state,
            weights: observed.weights,
            tracks: &tracks,
            analysis: self.analysed.as_ref().map(|(record, _)| record),
            now,
        };
        let image_pending = self.args.image.is_some() && !self.image_set;
        let step = decide::next_step(&situation, self.mode, image_pending);
        let from = observed.weights.canary;
        if step == Step::Analyse {
            let record = self.analyse(&observed, now).await?;
            decide::count_analysis(&mut observed.state, record.clone());
            self.last = Some(record.clone());
            self.analysed = Some((record, now));
            self.observed = Some(observed);
            return Ok(Next::Decide);
        }
        let analysed = self.analysed.is_some();
        self.executor
            .apply(&mut observed, &step, analysed, self.args.image.as_ref())
            .await?;
        match &step {
            Step::SetImage => self.image_set = true,
            Step::Start { .. } => {
                if let Mode::Auto { force, .. } = self.mode {
                    self.mode = Mode::Auto {
                        started: true,
                        force,
                    };
                    progress().println(&format!(
                        "release started: canary at {}%",
                        observed.weights.canary
                    ));
                }
            }
            Step::Advance { to, .. } if *to < 100 && matches!(self.mode, Mode::Auto { .. }) => {
                progress().println(&format!("canary {from}% -> {to}%"))
            }
            Step::Refuse(refusal) => {
                return Err(Failure {
                    retryable: false,
                    error: refused(refusal, &self.executor.cluster.names),
                });
            }
            _ => {}
        }
        match decide::after(&step, self.mode, &self.executor.plan) {
            After::Decide => {
                self.observed = Some(observed);
                Ok(Next::Decide)
            }
            After::ObserveAfter(pause) => {
                self.analysed = None;
                tokio::time::sleep(pause).await;
                Ok(Next::Read)
            }
            After::End => {
                let (outcome, message) = outcome_of(&step, self.mode, from, observed.weights);
                Ok(Next::Done(Box::new(PromoteReport {
                    api_version: crate::output::API_VERSION,
                    kind: "PromoteResult",
                    namespace: self.executor.cluster.namespace.clone(),
                    virtual_service: self.executor.cluster.names.virtual_service.clone(),
                    outcome,
                    phase: observed.state.phase,
                    weights: observed.weights,
                    dry_run: self.executor.cluster.dry_run,
                    message,
                    analysis: self.last.take(),
                    changes: std::mem::take(&mut self.executor.changes),
                })))
            }
        }
    }

    /// The stage's analysis (an unreachable Prometheus is an inconclusive one when the mode says
    /// so); in `--auto` a line of progress, with the hold as it stood at `now`.
    async fn analyse(
        &self,
        observed: &Observed,
        now: Timestamp,
    ) -> Result<AnalysisRecord, Failure> {
        let weight = observed.weights.canary;
        let record = match self.executor.analyse(observed).await {
            Ok(record) => record,
            Err(e @ AnalyseError::PrometheusUnreachable(_))
                if decide::unreachable_prometheus_is_an_analysis(self.mode) =>
            {
                unreachable_analysis(Timestamp::now(), weight, e.to_string())
            }
            Err(e) => return Err(e.into()),
        };
        if matches!(self.mode, Mode::Auto { .. }) {
            let (hold, held) =
                decide::stage_hold(&self.executor.plan, &observed.state, weight, now);
            let failing: String = record
                .checks
                .iter()
                .filter(|c| c.verdict != Verdict::Pass)
                .map(|c| format!("; {}: {}", c.check, c.message))
                .collect();
            // The verdict is the state (a log line when it changes); the time held, live only.
            if let Some(task) = &self.canary {
                task.set_measured_in(
                    &format!("at {weight}%: "),
                    &format!("analysis {:?}{failing}", record.verdict),
                    &format!(
                        "{} of {} held",
                        format_duration(Duration::from_secs(held.as_secs())),
                        format_duration(hold)
                    ),
                );
            }
        }
        Ok(record)
    }
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    args.plan(None)?;
    let kube = global.client().await?;
    let prometheus = args.prometheus.connect(&kube)?;
    let cluster = Cluster::new(
        kube,
        &global.namespace,
        args.names.clone(),
        args.dry_run == DryRun::Server,
    );
    let observed = cluster.observe().await?;
    let recorded = observed
        .state
        .plan
        .clone()
        .filter(|_| observed.state.phase.in_release());
    let mut run = Run {
        executor: Executor {
            cluster: &cluster,
            prometheus,
            plan: args.plan(recorded.as_ref())?,
            wait_timeout: args.timeout,
            changes: Vec::new(),
        },
        args: &args,
        mode: args.mode(),
        image_set: false,
        observed: Some(observed),
        analysed: None,
        last: None,
        canary: matches!(args.mode(), Mode::Auto { .. }).then(|| progress().task("canary")),
    };
    let report = run.go().await?;
    if let Some(task) = run.canary.take() {
        task.finish(report.outcome.tone(), &report.message);
    }
    let palette = Palette::stdout();
    output::print(global.output, &report, |r| {
        palette.column(&render_table(r), "verdict")
    })?;
    Ok(report.outcome.exit_status())
}
