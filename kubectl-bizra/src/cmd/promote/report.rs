//! How `promote` reports: the outcome of the run, its message, the table, and refusals and
//! failures as errors with their exit codes.

use serde::Serialize;

use crate::canary::analysis::AnalysisRecord;
use crate::canary::cluster::Names;
use crate::canary::decide::{Mode, Refusal, Step, Stop};
use crate::canary::execute::{AnalyseError, ExecuteError};
use crate::canary::execute::{Change, changes_table};
use crate::canary::routing::Weights;
use crate::canary::state::Phase;
use crate::error::{ClusterError, Error};
use crate::exit_code::ExitStatus;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Outcome {
    /// A release started at the first stage.
    Started,
    /// The canary moved to a higher stage.
    Advanced,
    Completed,
    /// The analysis failed; nothing moved (a one-shot promote does not roll back).
    AnalysisFailed,
    /// The analysis could not decide; nothing moved.
    Inconclusive,
    RolledBack,
}

impl Outcome {
    pub fn tone(self) -> crate::style::Tone {
        use crate::style::Tone;
        match self {
            Outcome::Started | Outcome::Advanced | Outcome::Completed => Tone::Pass,
            Outcome::AnalysisFailed | Outcome::RolledBack => Tone::Fail,
            Outcome::Inconclusive => Tone::Inconclusive,
        }
    }

    pub fn exit_status(self) -> ExitStatus {
        match self {
            Outcome::Started | Outcome::Advanced | Outcome::Completed => ExitStatus::Success,
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

const COMPLETED: &str = "release completed: stable runs the canary's template";

/// How a run that ends with `step` is reported; `from` is the canary's weight before it.
pub fn outcome_of(step: &Step, mode: Mode, from: u8, weights: Weights) -> (Outcome, String) {
    match step {
        Step::Start { .. } => (
            Outcome::Started,
            format!("release started: canary at {}%", weights.canary),
        ),
        Step::Complete { .. } if matches!(mode, Mode::Once { .. }) => {
            (Outcome::Completed, "release completed (resumed)".into())
        }
        Step::Advance { to, .. } if *to < 100 => {
            (Outcome::Advanced, format!("canary {from}% -> {to}%"))
        }
        Step::RollBack { reason, .. } => (Outcome::RolledBack, reason.clone()),
        Step::Stop(Stop::AnalysisFailed { weight }) => (
            Outcome::AnalysisFailed,
            format!(
                "analysis failed at {weight}%; nothing moved. Fix the canary or run `kubectl bizra rollback`"
            ),
        ),
        Step::Stop(Stop::Inconclusive { weight }) => (
            Outcome::Inconclusive,
            format!("analysis inconclusive at {weight}%; nothing moved. Try again later"),
        ),
        Step::Stop(Stop::InconclusiveLimit { weight, count }) => (
            Outcome::Inconclusive,
            format!(
                "{count} inconclusive analyses in a row at {weight}%; stopped without moving. Run `kubectl bizra promote --auto` again when traffic and metrics are back"
            ),
        ),
        Step::Stop(Stop::RolledBackMeanwhile { reason }) => (
            Outcome::RolledBack,
            format!("rolled back while this promote was running: {reason}"),
        ),
        Step::Complete { .. } | Step::Advance { .. } | Step::Stop(Stop::Completed) => {
            (Outcome::Completed, COMPLETED.into())
        }
        // No run ends at these (see `decide::after`); said plainly, never called a success.
        Step::SetImage | Step::Analyse | Step::Wait(_) | Step::Refuse(_) => (
            Outcome::Inconclusive,
            format!("the run stopped at {step:?} without moving"),
        ),
    }
}

/// The refusal as an error with its exit code: a state to repair is a failure (1), a request
/// that cannot be done a usage error (2).
pub fn refused(refusal: &Refusal, names: &Names) -> anyhow::Error {
    match refusal {
        Refusal::RoutesEdited { routed, recorded } => anyhow::anyhow!(
            "VirtualService {:?} sends {routed}% to the canary but the rollout state says {recorded}%: the routes were edited outside kubectl bizra; run `kubectl bizra rollback` to reset",
            names.virtual_service
        ),
        Refusal::RollbackUnfinished { reason } => anyhow::anyhow!(
            "a rollback is unfinished ({reason}); run `kubectl bizra rollback` to finish it"
        ),
        Refusal::ImageDuringRelease { weight } => Error::Usage(format!(
            "a release is under way (canary at {weight}%); --image only starts one. Finish it with `kubectl bizra promote` or `kubectl bizra rollback` first"
        ))
        .into(),
        Refusal::NothingToRelease => Error::Usage(format!(
            "nothing to release: deployment {:?} already runs the pod template of {:?}; change the canary's template (e.g. its image) first",
            names.deployment, names.canary_deployment
        ))
        .into(),
        Refusal::RolledBackBefore { reason } => Error::Usage(format!(
            "this canary template was rolled back ({reason}); change it, or pass --force to release it again"
        ))
        .into(),
        Refusal::TargetNotHigher { current } => Error::Usage(format!(
            "the canary is already at {current}%; --to must be higher (use `kubectl bizra rollback` to go back)"
        ))
        .into(),
    }
}

/// A step that did not go through, and whether `--auto` reads again and retries it.
pub struct Failure {
    pub retryable: bool,
    pub error: anyhow::Error,
}

impl From<ClusterError> for Failure {
    fn from(e: ClusterError) -> Self {
        Failure {
            retryable: e.is_retryable(),
            error: e.into(),
        }
    }
}

impl From<ExecuteError> for Failure {
    fn from(e: ExecuteError) -> Self {
        Failure {
            retryable: e.is_retryable(),
            error: e.into(),
        }
    }
}

impl From<AnalyseError> for Failure {
    fn from(e: AnalyseError) -> Self {
        let error = match e {
            AnalyseError::Cluster(e) => return e.into(),
            e @ AnalyseError::PrometheusUnreachable(_) => Error::Inconclusive(e.to_string()),
            e => Error::Usage(e.to_string()),
        };
        Failure {
            retryable: false,
            error: error.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
