//! The rollout's state as it lives in the cluster: one JSON annotation on the VirtualService,
//! written in the same update as the route weights, so weights and state can never disagree
//! and any operator or CI job can read and resume it.

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::analysis::AnalysisRecord;
use super::plan::Plan;

pub const STATE_ANNOTATION: &str = "bizra.dev/rollout";
/// Entries kept in the history and in the list of analyses.
pub const HISTORY_LIMIT: usize = 50;
pub const ANALYSES_LIMIT: usize = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Phase {
    /// No release in progress: all traffic on stable.
    #[default]
    Idle,
    /// The canary serves `canaryWeight` % at `stage`.
    Progressing,
    /// Finishing at 100 %: see [`CompletionStep`].
    Completing,
    /// Stable runs the released template; the canary is scaled down.
    Completed,
    /// A rollback started and has not finished (resumed by `rollback`).
    RollingBack,
    RolledBack,
}

impl Phase {
    /// A release is under way: traffic may be on the canary.
    pub fn in_release(self) -> bool {
        matches!(self, Phase::Progressing | Phase::Completing)
    }
}

/// The steps of completing a release, in order; each is safe to repeat.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CompletionStep {
    /// Scale the canary to stable's size and move all traffic to it.
    ShiftToCanary,
    /// Give stable the canary's pod template and wait for its rollout.
    UpdateStable,
    /// Move all traffic back to stable.
    ShiftToStable,
    /// Scale the canary to 0.
    ScaleDownCanary,
}

/// What is being released, recorded when the release starts.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Release {
    pub canary_image: String,
    pub stable_image: String,
    /// Hash of the canary's pod template (labels aside), to recognise the same release again.
    pub template_hash: String,
    pub started_at: Timestamp,
    /// Stable's `deployment.kubernetes.io/revision` before completion changed its template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_stable_revision: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryEntry {
    pub at: Timestamp,
    pub event: String,
    pub canary_weight: u8,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct RolloutState {
    pub phase: Phase,
    /// The canary's traffic share as last written with this state.
    pub canary_weight: u8,
    /// When the current stage (or phase) began.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage_started_at: Option<Timestamp>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completion_step: Option<CompletionStep>,
    /// The plan in effect, recorded at the start so a resumed `--auto` keeps the same stages.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<Plan>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<Release>,
    /// Failed and inconclusive analyses in a row at the current stage.
    pub failed_analyses: u32,
    pub inconclusive_analyses: u32,
    /// The stable revision a rollback in progress takes stable back to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub undo_to_revision: Option<i64>,
    /// Why the last rollback happened.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub analyses: Vec<AnalysisRecord>,
    pub history: Vec<HistoryEntry>,
}

#[derive(Debug, thiserror::Error)]
#[error(
    "the {STATE_ANNOTATION} annotation is not a rollout state ({0}); fix or remove it, then run `kubectl bizra rollback`"
)]
pub struct CorruptState(String);

impl RolloutState {
    pub fn parse(annotation: Option<&str>) -> Result<Self, CorruptState> {
        match annotation {
            None => Ok(RolloutState::default()),
            Some(text) => serde_json::from_str(text).map_err(|e| CorruptState(e.to_string())),
        }
    }

    pub fn to_annotation(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn record(&mut self, at: Timestamp, event: &str, detail: impl Into<String>) {
        self.history.push(HistoryEntry {
            at,
            event: event.into(),
            canary_weight: self.canary_weight,
            detail: detail.into(),
        });
        let excess = self.history.len().saturating_sub(HISTORY_LIMIT);
        self.history.drain(..excess);
    }

    pub fn record_analysis(&mut self, record: AnalysisRecord) {
        self.analyses.push(record);
        let excess = self.analyses.len().saturating_sub(ANALYSES_LIMIT);
        self.analyses.drain(..excess);
    }

    /// Moves to a stage (or to 0 / 100) and resets the per-stage counters.
    pub fn enter(&mut self, phase: Phase, canary_weight: u8, at: Timestamp) {
        self.phase = phase;
        self.canary_weight = canary_weight;
        self.stage_started_at = Some(at);
        self.failed_analyses = 0;
        self.inconclusive_analyses = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_annotation_is_idle_and_state_round_trips() {
        let idle = RolloutState::parse(None).expect("idle");
        assert_eq!(idle.phase, Phase::Idle);
        assert_eq!(idle.canary_weight, 0);

        let mut state = RolloutState::default();
        let at: Timestamp = "2026-11-29T10:00:00Z".parse().expect("time");
        state.enter(Phase::Progressing, 25, at);
        state.record(at, "Advanced", "to 25%");
        let text = state.to_annotation();
        assert_eq!(RolloutState::parse(Some(&text)).expect("parses"), state);
        assert!(text.contains(r#""phase":"Progressing""#), "{text}");
    }

    #[test]
    fn history_is_bounded_oldest_first_out() {
        let mut state = RolloutState::default();
        let at: Timestamp = "2026-11-29T10:00:00Z".parse().expect("time");
        for i in 0..(HISTORY_LIMIT + 5) {
            state.record(at, "Analysed", format!("{i}"));
        }
        assert_eq!(state.history.len(), HISTORY_LIMIT);
        assert_eq!(state.history[0].detail, "5");
    }

    #[test]
    fn garbage_is_a_clear_error() {
        let err = RolloutState::parse(Some("{not json")).expect_err("rejected");
        assert!(err.to_string().contains("bizra.dev/rollout"), "{err}");
    }
}
