//! `kubectl bizra promote`: analyse the canary's current stage and, when it passes, move it to
//! the next one; `--auto` runs the whole plan and rolls back on failure.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::canary::analysis::{AnalysisRecord, Verdict};
use crate::canary::cluster::{Cluster, Names, Observed};
use crate::canary::plan::{Plan, Stage, parse_stages};
use crate::canary::routing::Weights;
use crate::canary::state::Phase;
use crate::canary::{Change, Engine, changes_table, is_conflict, is_transient};
use crate::cmd::deploy::DryRun;
use crate::duration::format as format_duration;
use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output;
use crate::prometheus::PrometheusArgs;

#[derive(Debug, Clone)]
pub struct StageList(pub Vec<Stage>);

fn parse_stage_list(text: &str) -> Result<StageList, String> {
    parse_stages(text).map(StageList)
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub names: Names,

    /// Start the release with this node image on the canary (only when no release is under way).
    #[arg(long, value_name = "IMAGE", value_parser = crate::values::image)]
    pub image: Option<policy_wasm::image_ref::ImageRef>,

    /// Move the canary to this traffic share after a passing analysis (100 completes).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100), conflicts_with = "full")]
    pub to: Option<u8>,

    /// Complete the release now, after a passing analysis (or without one, with --force).
    #[arg(long)]
    pub full: bool,

    /// Run the whole plan: hold each stage, analyse every interval, roll back when the analysis
    /// fails more often than the failure limit. Resumes a release that is under way.
    #[arg(long, conflicts_with_all = ["to", "full"])]
    pub auto: bool,

    /// Move on even when the analysis fails or cannot decide; release a rolled-back template again.
    #[arg(long)]
    pub force: bool,

    /// `server`: run the analysis and send the planned changes to the server as a dry run.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = DryRun::None, conflicts_with = "auto")]
    pub dry_run: DryRun,

    /// YAML plan: stages and analysis settings (see docs/promote-plan.example.yaml); flags override it.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// The stages as WEIGHT:HOLD pairs [default: 5:30m,25:1h,50:1h].
    #[arg(long, value_name = "STAGES", value_parser = parse_stage_list)]
    pub stages: Option<StageList>,

    /// Time between analyses in --auto [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag)]
    pub interval: Option<Duration>,

    /// PromQL rate window of the analysis [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag)]
    pub window: Option<Duration>,

    /// Failed analyses in a row --auto tolerates before rolling back [default: 1].
    #[arg(long, value_name = "N")]
    pub failure_limit: Option<u32>,

    /// Inconclusive analyses in a row --auto tolerates before stopping [default: 5].
    #[arg(long, value_name = "N")]
    pub inconclusive_limit: Option<u32>,

    /// Requests a track must serve in the window before its traffic checks can pass [default: 100].
    #[arg(long, value_name = "N", value_parser = crate::values::non_negative_number, allow_negative_numbers = true)]
    pub min_requests: Option<f64>,

    #[command(flatten)]
    pub prometheus: PrometheusArgs,

    /// How long to wait for a Deployment to scale or roll out.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag, default_value = "10m")]
    pub timeout: Duration,
}

impl Args {
    fn explicit_plan(&self) -> bool {
        self.config.is_some() || self.stages.is_some()
    }

    /// The plan: a release under way keeps the plan it started with unless one is given again;
    /// analysis flags always apply.
    fn plan(&self, recorded: Option<&Plan>) -> anyhow::Result<Plan> {
        let mut plan = match (&self.config, recorded) {
            (Some(path), _) => Plan::load(path).map_err(Error::Usage)?,
            (None, Some(recorded)) if !self.explicit_plan() => recorded.clone(),
            _ => Plan::default(),
        };
        if let Some(StageList(stages)) = &self.stages {
            plan.stages = stages.clone();
        }
        let a = &mut plan.analysis;
        if let Some(v) = self.interval {
            a.interval = v;
        }
        if let Some(v) = self.window {
            a.window = v;
        }
        if let Some(v) = self.failure_limit {
            a.failure_limit = v;
        }
        if let Some(v) = self.inconclusive_limit {
            a.inconclusive_limit = v;
        }
        if let Some(v) = self.min_requests {
            a.min_requests = v;
        }
        plan.check().map_err(Error::Usage)?;
        Ok(plan)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// A release started at the first stage.
    Started,
    /// The canary moved to a higher stage.
    Advanced,
    /// The analysis passed; the stage is held (in --auto, its hold time is not over).
    Held,
    Completed,
    /// The analysis failed; nothing moved (a one-shot promote does not roll back).
    AnalysisFailed,
    /// The analysis could not decide; nothing moved.
    Inconclusive,
    RolledBack,
}

impl Outcome {
    fn exit_status(self) -> ExitStatus {
        match self {
            Outcome::Started | Outcome::Advanced | Outcome::Held | Outcome::Completed => {
                ExitStatus::Success
            }
            Outcome::AnalysisFailed | Outcome::RolledBack => ExitStatus::Failed,
            Outcome::Inconclusive => ExitStatus::Inconclusive,
        }
    }
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromoteReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub virtual_service: String,
    pub outcome: Outcome,
    pub phase: Phase,
    pub weights: Weights,
    pub dry_run: bool,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRecord>,
    pub changes: Vec<Change>,
}

pub fn render_table(report: &PromoteReport) -> String {
    let mut text = format!(
        "{:?}: {}{}\nweights: stable {}%, canary {}% (VirtualService {}/{})\n",
        report.outcome,
        report.message,
        if report.dry_run {
            " (server dry run: nothing changed)"
        } else {
            ""
        },
        report.weights.stable,
        report.weights.canary,
        report.namespace,
        report.virtual_service
    );
    if let Some(analysis) = &report.analysis {
        text.push('\n');
        text.push_str(&crate::cmd::status::analysis_table(analysis));
    }
    text.push_str(&changes_table(&report.changes));
    text
}

struct Run<'a> {
    engine: Engine<'a>,
    args: &'a Args,
}

impl Run<'_> {
    fn report(
        &mut self,
        observed: &Observed,
        outcome: Outcome,
        message: String,
        analysis: Option<AnalysisRecord>,
    ) -> PromoteReport {
        PromoteReport {
            api_version: crate::output::API_VERSION,
            kind: "PromoteResult",
            namespace: self.engine.cluster.namespace.clone(),
            virtual_service: self.engine.cluster.names.virtual_service.clone(),
            outcome,
            phase: observed.state.phase,
            weights: observed.weights,
            dry_run: self.engine.cluster.dry_run,
            message,
            analysis,
            changes: std::mem::take(&mut self.engine.changes),
        }
    }

    /// `--image` starts a release; it cannot change one under way.
    fn check_image_flag(&self, observed: &Observed) -> anyhow::Result<()> {
        if self.args.image.is_some() && observed.state.phase.in_release() {
            return Err(Error::Usage(format!(
                "a release is under way (canary at {}%); --image only starts one. Finish it with `kubectl bizra promote` or `kubectl bizra rollback` first",
                observed.weights.canary
            ))
            .into());
        }
        Ok(())
    }

    /// Refuses to act on routes somebody changed behind the state's back.
    fn check_consistent(&self, observed: &Observed) -> anyhow::Result<()> {
        if observed.state.phase.in_release() && observed.weights_edited() {
            anyhow::bail!(
                "VirtualService {:?} sends {}% to the canary but the rollout state says {}%: the routes were edited outside kubectl bizra; run `kubectl bizra rollback` to reset",
                self.engine.cluster.names.virtual_service,
                observed.weights.canary,
                observed.state.canary_weight
            );
        }
        if observed.state.phase == Phase::RollingBack {
            anyhow::bail!(
                "a rollback is unfinished ({}); run `kubectl bizra rollback` to finish it",
                observed.state.reason.clone().unwrap_or_default()
            );
        }
        Ok(())
    }

    async fn start(&mut self, observed: &mut Observed) -> anyhow::Result<()> {
        if let Some(image) = &self.args.image {
            self.engine.set_canary_image(observed, image).await?;
        }
        self.engine.start(observed, self.args.force).await
    }

    /// One promote: start, resume a completion, or analyse and move on.
    async fn once(&mut self, observed: &mut Observed) -> anyhow::Result<PromoteReport> {
        self.check_consistent(observed)?;
        self.check_image_flag(observed)?;
        match observed.state.phase {
            Phase::Idle | Phase::Completed | Phase::RolledBack => {
                self.start(observed).await?;
                let message = format!("release started: canary at {}%", observed.weights.canary);
                return Ok(self.report(observed, Outcome::Started, message, None));
            }
            Phase::Completing => {
                self.engine.complete(observed).await?;
                return Ok(self.report(
                    observed,
                    Outcome::Completed,
                    "release completed (resumed)".into(),
                    None,
                ));
            }
            Phase::Progressing | Phase::RollingBack => {}
        }
        let record = self.engine.analyse(observed).await?;
        let verdict = record.verdict;
        self.engine.count(observed, record.clone());
        let current = observed.weights.canary;
        let target = match (self.args.to, self.args.full) {
            (_, true) => 100,
            (Some(to), _) => to,
            _ => self.engine.plan.next_weight(current),
        };
        if target <= current {
            self.engine.save(observed).await?;
            return Err(Error::Usage(format!(
                "the canary is already at {current}%; --to must be higher (use `kubectl bizra rollback` to go back)"
            ))
            .into());
        }
        if verdict != Verdict::Pass && !self.args.force {
            self.engine.save(observed).await?;
            let (outcome, message) = if verdict == Verdict::Fail {
                (
                    Outcome::AnalysisFailed,
                    format!(
                        "analysis failed at {current}%; nothing moved. Fix the canary or run `kubectl bizra rollback`"
                    ),
                )
            } else {
                (
                    Outcome::Inconclusive,
                    format!("analysis inconclusive at {current}%; nothing moved. Try again later"),
                )
            };
            return Ok(self.report(observed, outcome, message, Some(record)));
        }
        if verdict != Verdict::Pass {
            let at = Timestamp::now();
            observed.state.record(
                at,
                "Forced",
                format!("moved on despite a {verdict:?} analysis"),
            );
        }
        self.engine.advance(observed, target).await?;
        let (outcome, message) = if target >= 100 {
            (
                Outcome::Completed,
                "release completed: stable runs the canary's template".to_string(),
            )
        } else {
            (Outcome::Advanced, format!("canary {current}% -> {target}%"))
        };
        Ok(self.report(observed, outcome, message, Some(record)))
    }

    /// The whole plan, resumable: every decision is taken from the state in the cluster.
    async fn auto(&mut self) -> anyhow::Result<PromoteReport> {
        self.check_image_flag(&self.engine.cluster.observe().await?)?;
        let mut started_here = false;
        let mut transient_since: Option<tokio::time::Instant> = None;
        let mut last_analysis = None;
        loop {
            let step = self.auto_step(&mut started_here, &mut last_analysis).await;
            match step {
                Ok(Some(report)) => return Ok(report),
                Ok(None) => transient_since = None,
                Err(err) if is_transient(&err) || is_conflict(&err) => {
                    let since = *transient_since.get_or_insert_with(tokio::time::Instant::now);
                    if since.elapsed() > API_RETRY_LIMIT {
                        return Err(err.context(format!(
                            "gave up after retrying for {}",
                            format_duration(API_RETRY_LIMIT)
                        )));
                    }
                    eprintln!("will retry: {}", crate::error::render(&err));
                    // A conflict means someone else wrote: the next step re-reads and decides again.
                    tokio::time::sleep(Duration::from_secs(2)).await;
                }
                Err(err) => return Err(err),
            }
        }
    }

    /// One step of `--auto`; `Some(report)` when the run is over.
    async fn auto_step(
        &mut self,
        started_here: &mut bool,
        last: &mut Option<AnalysisRecord>,
    ) -> anyhow::Result<Option<PromoteReport>> {
        let mut observed = self.engine.cluster.observe().await?;
        self.check_consistent(&observed)?;
        let analysis = &self.engine.plan.analysis;
        let interval = analysis.interval;
        match observed.state.phase {
            Phase::Idle | Phase::RolledBack | Phase::Completed if !*started_here => {
                self.start(&mut observed).await?;
                *started_here = true;
                eprintln!("release started: canary at {}%", observed.weights.canary);
                tokio::time::sleep(interval).await;
                Ok(None)
            }
            Phase::Idle | Phase::RolledBack => {
                let message = format!(
                    "rolled back while this promote was running: {}",
                    observed.state.reason.clone().unwrap_or_default()
                );
                Ok(Some(self.report(
                    &observed,
                    Outcome::RolledBack,
                    message,
                    last.take(),
                )))
            }
            Phase::Completed => Ok(Some(self.report(
                &observed,
                Outcome::Completed,
                "release completed: stable runs the canary's template".into(),
                last.take(),
            ))),
            Phase::Completing => {
                self.engine.complete(&mut observed).await?;
                Ok(Some(self.report(
                    &observed,
                    Outcome::Completed,
                    "release completed: stable runs the canary's template".into(),
                    last.take(),
                )))
            }
            // check_consistent refuses this first; kept as an error, never a panic.
            Phase::RollingBack => {
                anyhow::bail!("a rollback is unfinished; run `kubectl bizra rollback` to finish it")
            }
            Phase::Progressing => {
                let weight = observed.weights.canary;
                let hold = self
                    .engine
                    .plan
                    .stage_of(weight)
                    .map(|(_, s)| s.hold)
                    .unwrap_or(interval);
                let began = observed
                    .state
                    .stage_started_at
                    .unwrap_or_else(Timestamp::now);
                let held = Timestamp::now().duration_since(began).unsigned_abs();
                let record = match self.engine.analyse(&observed).await {
                    Ok(record) => record,
                    Err(err)
                        if matches!(err.downcast_ref::<Error>(), Some(Error::Inconclusive(_))) =>
                    {
                        // Prometheus unreachable: counts as an inconclusive analysis.
                        crate::canary::analysis::AnalysisRecord {
                            at: Timestamp::now(),
                            canary_weight: weight,
                            verdict: Verdict::Inconclusive,
                            checks: vec![crate::canary::analysis::CheckResult {
                                check: "prometheus".into(),
                                verdict: Verdict::Inconclusive,
                                observed: None,
                                threshold: "reachable".into(),
                                message: crate::error::render(&err),
                            }],
                        }
                    }
                    Err(err) => return Err(err),
                };
                eprintln!(
                    "analysis at {weight}% ({} of {} held): {:?}{}",
                    format_duration(Duration::from_secs(held.as_secs())),
                    format_duration(hold),
                    record.verdict,
                    record
                        .checks
                        .iter()
                        .filter(|c| c.verdict != Verdict::Pass)
                        .map(|c| format!("; {}: {}", c.check, c.message))
                        .collect::<String>()
                );
                self.engine.count(&mut observed, record.clone());
                *last = Some(record.clone());
                let limits = (analysis.failure_limit, analysis.inconclusive_limit);
                match record.verdict {
                    Verdict::Fail if observed.state.failed_analyses > limits.0 => {
                        let failed: Vec<String> = record
                            .checks
                            .iter()
                            .filter(|c| c.verdict == Verdict::Fail)
                            .map(|c| format!("{}: {}", c.check, c.message))
                            .collect();
                        let reason = format!("analysis failed at {weight}%: {}", failed.join("; "));
                        self.engine.rollback(&mut observed, &reason, None).await?;
                        Ok(Some(self.report(
                            &observed,
                            Outcome::RolledBack,
                            reason,
                            last.take(),
                        )))
                    }
                    Verdict::Inconclusive if observed.state.inconclusive_analyses > limits.1 => {
                        self.engine.save(&mut observed).await?;
                        let message = format!(
                            "{} inconclusive analyses in a row at {weight}%; stopped without moving. Run `kubectl bizra promote --auto` again when traffic and metrics are back",
                            observed.state.inconclusive_analyses
                        );
                        Ok(Some(self.report(
                            &observed,
                            Outcome::Inconclusive,
                            message,
                            last.take(),
                        )))
                    }
                    Verdict::Pass if held >= hold => {
                        let target = self.engine.plan.next_weight(weight);
                        self.engine.advance(&mut observed, target).await?;
                        if target >= 100 {
                            return Ok(Some(self.report(
                                &observed,
                                Outcome::Completed,
                                "release completed: stable runs the canary's template".into(),
                                last.take(),
                            )));
                        }
                        eprintln!("canary {weight}% -> {target}%");
                        tokio::time::sleep(interval).await;
                        Ok(None)
                    }
                    _ => {
                        self.engine.save(&mut observed).await?;
                        let left = hold.saturating_sub(held);
                        let pause = if record.verdict == Verdict::Pass && !left.is_zero() {
                            left.min(interval)
                        } else {
                            interval
                        };
                        tokio::time::sleep(pause).await;
                        Ok(None)
                    }
                }
            }
        }
    }
}

/// How long `--auto` keeps retrying an unreachable apiserver before giving up.
const API_RETRY_LIMIT: Duration = Duration::from_secs(300);

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
    let mut observed = cluster.observe().await?;
    let recorded = observed
        .state
        .plan
        .clone()
        .filter(|_| observed.state.phase.in_release());
    let plan = args.plan(recorded.as_ref())?;
    let engine = Engine {
        cluster: &cluster,
        prometheus,
        plan,
        wait_timeout: args.timeout,
        changes: Vec::new(),
    };
    let mut run = Run {
        engine,
        args: &args,
    };
    let report = if args.auto {
        run.auto().await?
    } else {
        run.once(&mut observed).await?
    };
    output::print(global.output, &report, render_table)?;
    Ok(report.outcome.exit_status())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["kubectl-bizra", "promote"];
        argv.extend(extra);
        match crate::cli::parse_from(argv).expect("valid").command {
            Command::Promote(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_override_the_plan_and_a_release_keeps_its_own() {
        let recorded = Plan {
            stages: parse_stages("10:1m,60:1m").expect("stages"),
            ..Plan::default()
        };
        let plan = args(&["--interval", "10s"])
            .plan(Some(&recorded))
            .expect("plan");
        assert_eq!(plan.stages, recorded.stages);
        assert_eq!(plan.analysis.interval, Duration::from_secs(10));

        let plan = args(&["--stages", "20:1s"])
            .plan(Some(&recorded))
            .expect("plan");
        assert_eq!(plan.stages.len(), 1);
        assert_eq!(plan.stages[0].weight, 20);
    }

    #[test]
    fn contradicting_flags_are_usage_errors() {
        for argv in [
            &["kubectl-bizra", "promote", "--auto", "--full"][..],
            &["kubectl-bizra", "promote", "--to", "0"][..],
            &["kubectl-bizra", "promote", "--to", "101"][..],
            &["kubectl-bizra", "promote", "--auto", "--dry-run=server"][..],
            &["kubectl-bizra", "promote", "--stages", "50:1m,25:1m"][..],
            &["kubectl-bizra", "promote", "--stages", "5:0s"][..],
            &[
                "kubectl-bizra",
                "promote",
                "--stages",
                "5:99999999999999999999s",
            ][..],
        ] {
            let err = crate::cli::parse_from(argv).expect_err("rejected");
            assert_eq!(err.exit_code(), 2, "{argv:?}");
        }
    }

    #[test]
    fn outcomes_map_to_the_shared_exit_codes() {
        assert_eq!(Outcome::Advanced.exit_status(), ExitStatus::Success);
        assert_eq!(Outcome::AnalysisFailed.exit_status(), ExitStatus::Failed);
        assert_eq!(Outcome::RolledBack.exit_status(), ExitStatus::Failed);
        assert_eq!(
            Outcome::Inconclusive.exit_status(),
            ExitStatus::Inconclusive
        );
    }
}
