//! Every decision of a canary release, in one place and pure: from the plan, the state recorded
//! on the VirtualService, what was observed of both tracks, the latest analysis and the current
//! time (passed in, never read here), the next step. `promote` runs decide-then-execute
//! ([`super::execute`] applies a step, recording it before it acts); `rollback` asks
//! [`rollback_plan`]; `deploy` asks [`release_in_progress`].
//!
//! To change how a stage advances, edit [`next_step`]; its table of tests below covers each
//! phase, verdict, limit and hold.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use super::analysis::{AnalysisRecord, Verdict};
use super::plan::Plan;
use super::routing::Weights;
use super::state::{CompletionStep, Phase, RolloutState};

/// What was observed of the two Deployments.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tracks {
    pub stable_replicas: i32,
    pub canary_replicas: i32,
    /// Stable already runs the pod template a release of the canary would give it.
    pub stable_runs_canary_template: bool,
    /// The fingerprint of the canary's pod template (see `cluster::template_hash`).
    pub canary_template_hash: String,
}

/// Everything a decision reads.
#[derive(Debug, Clone, Copy)]
pub struct Situation<'a> {
    pub plan: &'a Plan,
    pub state: &'a RolloutState,
    /// The weights the VirtualService routes with now.
    pub weights: Weights,
    pub tracks: &'a Tracks,
    /// The analysis this run just made of the current stage, already counted into `state`.
    pub analysis: Option<&'a AnalysisRecord>,
    pub now: Timestamp,
}

/// Where a one-shot promote moves the canary after a passing analysis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The plan's next stage (or the completion after the last).
    Next,
    /// This weight; 100 completes.
    To(u8),
    /// Complete now.
    Full,
}

/// What the operator asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One `promote`: start a release, or analyse the stage and move to `target`; `force` moves
    /// on despite a failing or undecided analysis and releases a rolled-back template again.
    Once { target: Target, force: bool },
    /// `promote --auto`: the whole plan. `started` once this run has started the release, so a
    /// release that ends meanwhile (rolled back by someone) ends the run instead of restarting;
    /// `force` releases a rolled-back template again.
    Auto { started: bool, force: bool },
}

/// The next thing to do.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Put the `--image` into the canary first (then decide again).
    SetImage,
    /// Start a release at `weight`, the canary scaled to `canary_replicas` first.
    Start { weight: u8, canary_replicas: i32 },
    /// Analyse the current stage (then decide again with the analysis).
    Analyse,
    /// Record the analysis and look again after this long.
    Wait(Duration),
    /// Move the canary to `to` % (100 completes the release), scaling it up to
    /// `scale_canary_to` pods first when it has fewer; `forced` names the verdict moved on
    /// despite, recorded first.
    Advance {
        to: u8,
        scale_canary_to: Option<i32>,
        forced: Option<Verdict>,
    },
    /// Finish a completion that was interrupted, from this step on.
    Complete { from: CompletionStep },
    /// All traffic back to stable, the canary down: the analysis failed too often.
    RollBack { reason: String, plan: RollbackPlan },
    /// Record the analysis and end the run without moving.
    Stop(Stop),
    /// Refuse (after recording the analysis, if one was made): nothing moves.
    Refuse(Refusal),
}

/// Why a run ends without moving the canary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stop {
    /// The analysis of a one-shot promote failed.
    AnalysisFailed { weight: u8 },
    /// The analysis of a one-shot promote could not decide.
    Inconclusive { weight: u8 },
    /// `--auto`: more inconclusive analyses in a row than the plan tolerates.
    InconclusiveLimit { weight: u8, count: u32 },
    /// `--auto`: the release was rolled back while this run was going.
    RolledBackMeanwhile { reason: String },
    /// `--auto`: the release completed.
    Completed,
}

/// Why nothing may be done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// The VirtualService routes other weights than the state last wrote.
    RoutesEdited { routed: u8, recorded: u8 },
    /// A rollback was interrupted; it must be finished first.
    RollbackUnfinished { reason: String },
    /// `--image` while a release is under way.
    ImageDuringRelease { weight: u8 },
    /// Stable already runs the canary's template.
    NothingToRelease,
    /// The canary's template was rolled back before (`--force` releases it again).
    RolledBackBefore { reason: String },
    /// `--to` not above the current weight.
    TargetNotHigher { current: u8 },
}

/// The VirtualService routes other weights than the state last wrote: somebody edited the
/// routes by hand (or `deploy --force` reset them).
pub fn routes_edited(state: &RolloutState, weights: Weights) -> bool {
    weights.canary != state.canary_weight
}

/// A release is in progress when the state says one is under way or the routes send the canary
/// traffic: a `deploy` would reset the canary under live traffic, an `--image` would change a
/// release. (A canary with pods but no traffic, as an interrupted start leaves it, is not one.)
pub fn release_in_progress(phase: Phase, canary_weight: u8) -> bool {
    phase.in_release() || canary_weight > 0
}

/// In `--auto` an analysis Prometheus cannot answer counts as an inconclusive one (the limit
/// decides when to stop); a one-shot promote stops at once, inconclusive.
pub fn unreachable_prometheus_is_an_analysis(mode: Mode) -> bool {
    matches!(mode, Mode::Auto { .. })
}

/// The step that moves the canary to `to` %: it gets the pods that share needs first (never
/// fewer than it has).
fn advance(to: u8, tracks: &Tracks, forced: Option<Verdict>) -> Step {
    let wanted = canary_replicas_for(to.min(100), tracks.stable_replicas);
    Step::Advance {
        to,
        scale_canary_to: (to < 100 && tracks.canary_replicas < wanted).then_some(wanted),
        forced,
    }
}

/// Canary pods needed to carry `weight` % of what stable's replicas carry (at least one).
pub fn canary_replicas_for(weight: u8, stable_replicas: i32) -> i32 {
    let needed = (i64::from(stable_replicas) * i64::from(weight) + 99) / 100;
    needed.max(1) as i32
}

/// The step an interrupted completion resumes at.
pub fn completion_step(state: &RolloutState) -> CompletionStep {
    match state.phase {
        Phase::Completing => state
            .completion_step
            .unwrap_or(CompletionStep::ShiftToCanary),
        _ => CompletionStep::ShiftToCanary,
    }
}

/// How long the current stage is held in `--auto`, and how long it has been held at `now`.
pub fn stage_hold(
    plan: &Plan,
    state: &RolloutState,
    weight: u8,
    now: Timestamp,
) -> (Duration, Duration) {
    let hold = plan
        .stage_of(weight)
        .map(|(_, stage)| stage.hold)
        .unwrap_or(plan.analysis.interval);
    let held = state
        .stage_started_at
        .map(|began| now.duration_since(began).unsigned_abs())
        .unwrap_or_default();
    (hold, held)
}

/// Counts an analysis into the per-stage counters and keeps it (written with the next write).
pub fn count_analysis(state: &mut RolloutState, record: AnalysisRecord) {
    match record.verdict {
        Verdict::Pass => {
            state.failed_analyses = 0;
            state.inconclusive_analyses = 0;
        }
        Verdict::Fail => state.failed_analyses = state.failed_analyses.saturating_add(1),
        Verdict::Inconclusive => {
            state.inconclusive_analyses = state.inconclusive_analyses.saturating_add(1)
        }
    }
    state.record_analysis(record);
}

/// What to do next. `image_pending` is true while an `--image` is still to be put into the
/// canary.
pub fn next_step(situation: &Situation<'_>, mode: Mode, image_pending: bool) -> Step {
    let Situation {
        plan,
        state,
        weights,
        tracks,
        analysis,
        now,
    } = *situation;
    if state.phase.in_release() && routes_edited(state, weights) {
        return Step::Refuse(Refusal::RoutesEdited {
            routed: weights.canary,
            recorded: state.canary_weight,
        });
    }
    if state.phase == Phase::RollingBack {
        return Step::Refuse(Refusal::RollbackUnfinished {
            reason: state.reason.clone().unwrap_or_default(),
        });
    }
    if image_pending && release_in_progress(state.phase, weights.canary) {
        return Step::Refuse(Refusal::ImageDuringRelease {
            weight: weights.canary,
        });
    }
    match state.phase {
        Phase::Idle | Phase::RolledBack if matches!(mode, Mode::Auto { started: true, .. }) => {
            Step::Stop(Stop::RolledBackMeanwhile {
                reason: state.reason.clone().unwrap_or_default(),
            })
        }
        Phase::Completed if matches!(mode, Mode::Auto { started: true, .. }) => {
            Step::Stop(Stop::Completed)
        }
        Phase::Idle | Phase::Completed | Phase::RolledBack => {
            if image_pending {
                return Step::SetImage;
            }
            let force = matches!(
                mode,
                Mode::Once { force: true, .. } | Mode::Auto { force: true, .. }
            );
            if let Some(refusal) = start_refusal(state, tracks, force) {
                return Step::Refuse(refusal);
            }
            let weight = plan.stages[0].weight;
            Step::Start {
                weight,
                canary_replicas: canary_replicas_for(weight, tracks.stable_replicas),
            }
        }
        Phase::Completing => Step::Complete {
            from: completion_step(state),
        },
        // Refused above already; the match must name every phase.
        Phase::RollingBack => Step::Refuse(Refusal::RollbackUnfinished {
            reason: state.reason.clone().unwrap_or_default(),
        }),
        Phase::Progressing => {
            let Some(analysis) = analysis else {
                return Step::Analyse;
            };
            match mode {
                Mode::Once { target, force } => {
                    once_after_analysis(plan, weights, tracks, analysis, target, force)
                }
                Mode::Auto { .. } => {
                    auto_after_analysis(plan, state, weights, tracks, analysis, now)
                }
            }
        }
    }
}

/// Why a release of the canary's template may not start.
fn start_refusal(state: &RolloutState, tracks: &Tracks, force: bool) -> Option<Refusal> {
    if tracks.stable_runs_canary_template {
        return Some(Refusal::NothingToRelease);
    }
    let rolled_back_before = state.phase == Phase::RolledBack
        && state.release.as_ref().map(|r| &r.template_hash) == Some(&tracks.canary_template_hash);
    (rolled_back_before && !force).then(|| Refusal::RolledBackBefore {
        reason: state.reason.clone().unwrap_or_default(),
    })
}

/// A one-shot promote moves on after a passing analysis (or a forced one), to its target.
fn once_after_analysis(
    plan: &Plan,
    weights: Weights,
    tracks: &Tracks,
    analysis: &AnalysisRecord,
    target: Target,
    force: bool,
) -> Step {
    let current = weights.canary;
    let to = match target {
        Target::Full => 100,
        Target::To(to) => to,
        Target::Next => plan.next_weight(current),
    };
    if to <= current {
        return Step::Refuse(Refusal::TargetNotHigher { current });
    }
    match (analysis.verdict, force) {
        (Verdict::Pass, _) => advance(to, tracks, None),
        (verdict, true) => advance(to, tracks, Some(verdict)),
        (Verdict::Fail, false) => Step::Stop(Stop::AnalysisFailed { weight: current }),
        (Verdict::Inconclusive, false) => Step::Stop(Stop::Inconclusive { weight: current }),
    }
}

/// `--auto` rolls back after more failures in a row than the limit, stops after more
/// inconclusive analyses than its limit, advances a passing stage once it is held long enough,
/// and otherwise waits: the rest of the hold (at most an interval) after a pass, an interval
/// after anything else.
fn auto_after_analysis(
    plan: &Plan,
    state: &RolloutState,
    weights: Weights,
    tracks: &Tracks,
    analysis: &AnalysisRecord,
    now: Timestamp,
) -> Step {
    let settings = &plan.analysis;
    let weight = weights.canary;
    let (hold, held) = stage_hold(plan, state, weight, now);
    match analysis.verdict {
        Verdict::Fail if state.failed_analyses > settings.failure_limit => {
            let failed: Vec<String> = analysis
                .checks
                .iter()
                .filter(|c| c.verdict == Verdict::Fail)
                .map(|c| format!("{}: {}", c.check, c.message))
                .collect();
            match rollback_plan(state, weights, tracks.canary_replicas, None) {
                Some(plan) => Step::RollBack {
                    reason: format!("analysis failed at {weight}%: {}", failed.join("; ")),
                    plan,
                },
                // A progressing canary always has something to roll back; kept total.
                None => Step::Wait(settings.interval),
            }
        }
        Verdict::Inconclusive if state.inconclusive_analyses > settings.inconclusive_limit => {
            Step::Stop(Stop::InconclusiveLimit {
                weight,
                count: state.inconclusive_analyses,
            })
        }
        Verdict::Pass if held >= hold => advance(plan.next_weight(weight), tracks, None),
        Verdict::Pass => Step::Wait(hold.saturating_sub(held).min(settings.interval)),
        Verdict::Fail | Verdict::Inconclusive => Step::Wait(settings.interval),
    }
}

/// What a run does after a step: decide again at once, after a pause, or end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// Decide again with what is in memory (the step changed it).
    Decide,
    /// Pause, read the cluster again, decide again.
    ObserveAfter(Duration),
    /// The run is over.
    End,
}

/// What follows `step` in `mode`. `--auto` gives the canary an interval of traffic after it
/// starts or advances before analysing it; a one-shot promote ends at its first move.
pub fn after(step: &Step, mode: Mode, plan: &Plan) -> After {
    let interval = plan.analysis.interval;
    match (step, mode) {
        (Step::SetImage | Step::Analyse, _) => After::Decide,
        (Step::Wait(pause), _) => After::ObserveAfter(*pause),
        (Step::Start { .. }, Mode::Auto { .. }) => After::ObserveAfter(interval),
        (Step::Advance { to, .. }, Mode::Auto { .. }) if *to < 100 => After::ObserveAfter(interval),
        _ => After::End,
    }
}

/// What a rollback does, decided before anything moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RollbackPlan {
    /// The stable revision to go back to, when stable already runs the release (or one is asked
    /// for): fixed in the state before anything moves, so a repeated or resumed rollback undoes
    /// once and then finds the template already there.
    pub undo_to: Option<i64>,
    /// A rollback in progress is being finished: its first write is done.
    pub resuming: bool,
}

/// The rollback of what the state and the routes say, or `None` when there is nothing to roll
/// back (all traffic on stable, the canary down, no revision asked for).
pub fn rollback_plan(
    state: &RolloutState,
    weights: Weights,
    canary_replicas: i32,
    to_revision: Option<i64>,
) -> Option<RollbackPlan> {
    if matches!(state.phase, Phase::RolledBack | Phase::Idle)
        && weights.canary == 0
        && canary_replicas == 0
        && to_revision.is_none()
    {
        return None;
    }
    // Stable runs the release once completion reached its UpdateStable step.
    let stable_updated = state.phase == Phase::Completed
        || (state.phase == Phase::Completing
            && state.completion_step >= Some(CompletionStep::UpdateStable));
    let resuming = state.phase == Phase::RollingBack;
    let undo_to = if resuming {
        state.undo_to_revision
    } else if stable_updated {
        let previous = state
            .release
            .as_ref()
            .and_then(|r| r.previous_stable_revision);
        Some(to_revision.or(previous).unwrap_or(0))
    } else {
        to_revision
    };
    Some(RollbackPlan { undo_to, resuming })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::canary::analysis::CheckResult;
    use crate::canary::plan::parse_stages;
    use crate::canary::state::Release;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_second(1_800_000_000 + seconds).expect("time")
    }

    /// Stages 5:60s, 25:60s; interval 10s; failure limit 1, inconclusive limit 2.
    fn plan() -> Plan {
        let mut plan = Plan {
            stages: parse_stages("5:60s,25:60s").expect("stages"),
            ..Plan::default()
        };
        plan.analysis.interval = Duration::from_secs(10);
        plan.analysis.failure_limit = 1;
        plan.analysis.inconclusive_limit = 2;
        plan
    }

    fn tracks() -> Tracks {
        Tracks {
            stable_replicas: 3,
            canary_replicas: 1,
            stable_runs_canary_template: false,
            canary_template_hash: "new".into(),
        }
    }

    /// A state at `phase`, the canary at `weight` since second 0, with the counters given.
    fn state(phase: Phase, weight: u8, failed: u32, inconclusive: u32) -> RolloutState {
        RolloutState {
            phase,
            canary_weight: weight,
            stage_started_at: Some(at(0)),
            failed_analyses: failed,
            inconclusive_analyses: inconclusive,
            reason: Some("why".into()),
            ..RolloutState::default()
        }
    }

    fn analysis(verdict: Verdict) -> AnalysisRecord {
        AnalysisRecord {
            at: at(0),
            canary_weight: 5,
            verdict,
            checks: vec![CheckResult {
                check: "errorRate".into(),
                verdict,
                observed: Some(0.5),
                threshold: "< 0.001".into(),
                message: "too many errors".into(),
            }],
        }
    }

    fn decide(
        state: &RolloutState,
        tracks: &Tracks,
        analysis: Option<&AnalysisRecord>,
        now: i64,
        mode: Mode,
    ) -> Step {
        let plan = plan();
        let situation = Situation {
            plan: &plan,
            state,
            weights: Weights::canary(state.canary_weight),
            tracks,
            analysis,
            now: at(now),
        };
        next_step(&situation, mode, false)
    }

    const AUTO: Mode = Mode::Auto {
        started: false,
        force: false,
    };
    const AUTO_STARTED: Mode = Mode::Auto {
        started: true,
        force: false,
    };
    const ONCE: Mode = Mode::Once {
        target: Target::Next,
        force: false,
    };
    const FORCED: Mode = Mode::Once {
        target: Target::Next,
        force: true,
    };

    #[test]
    fn auto_progressing_decides_by_verdict_limit_and_hold() {
        use Verdict::*;
        let wait = |s: u64| Step::Wait(Duration::from_secs(s));
        // Stable runs 3 pods and the canary 1: 25 % needs 1 pod, no scaling.
        let advance = Step::Advance {
            to: 25,
            scale_canary_to: None,
            forced: None,
        };
        let rollback = Step::RollBack {
            reason: "analysis failed at 5%: errorRate: too many errors".into(),
            plan: RollbackPlan {
                undo_to: None,
                resuming: false,
            },
        };
        // (verdict, failed in a row, inconclusive in a row, seconds held, the step)
        let table = [
            // A pass advances once the stage is held, else waits the rest (at most an interval).
            (Pass, 0, 0, 60, advance.clone()),
            (Pass, 0, 0, 61, advance.clone()),
            (Pass, 0, 0, 55, wait(5)),
            (Pass, 0, 0, 0, wait(10)),
            // A failure within the limit waits an interval, held or not; over it, rolls back.
            (Fail, 1, 0, 30, wait(10)),
            (Fail, 1, 0, 90, wait(10)),
            (Fail, 2, 0, 30, rollback.clone()),
            (Fail, 2, 0, 90, rollback.clone()),
            // Inconclusive within the limit waits; over it, stops without moving.
            (Inconclusive, 0, 2, 30, wait(10)),
            (Inconclusive, 0, 2, 90, wait(10)),
            (
                Inconclusive,
                0,
                3,
                30,
                Step::Stop(Stop::InconclusiveLimit {
                    weight: 5,
                    count: 3,
                }),
            ),
        ];
        for (verdict, failed, inconclusive, held, expected) in table {
            let state = state(Phase::Progressing, 5, failed, inconclusive);
            let record = analysis(verdict);
            for mode in [AUTO, AUTO_STARTED] {
                assert_eq!(
                    decide(&state, &tracks(), Some(&record), held, mode),
                    expected,
                    "{verdict:?}, {failed} failed, {inconclusive} inconclusive, held {held}s"
                );
            }
        }
    }

    #[test]
    fn the_last_stage_advances_to_the_completion() {
        let state = state(Phase::Progressing, 25, 0, 0);
        assert_eq!(
            decide(&state, &tracks(), Some(&analysis(Verdict::Pass)), 60, AUTO),
            Step::Advance {
                to: 100,
                scale_canary_to: None,
                forced: None
            }
        );
    }

    #[test]
    fn a_progressing_stage_is_analysed_first() {
        let state = state(Phase::Progressing, 5, 0, 0);
        for mode in [AUTO, ONCE, FORCED] {
            assert_eq!(decide(&state, &tracks(), None, 0, mode), Step::Analyse);
        }
    }

    #[test]
    fn a_one_shot_promote_moves_on_a_pass_or_when_forced() {
        use Verdict::*;
        let to = |to| Step::Advance {
            to,
            scale_canary_to: None,
            forced: None,
        };
        let table = [
            (Pass, ONCE, to(25)),
            (Fail, ONCE, Step::Stop(Stop::AnalysisFailed { weight: 5 })),
            (
                Inconclusive,
                ONCE,
                Step::Stop(Stop::Inconclusive { weight: 5 }),
            ),
            (Pass, FORCED, to(25)),
            (
                Fail,
                FORCED,
                Step::Advance {
                    to: 25,
                    scale_canary_to: None,
                    forced: Some(Fail),
                },
            ),
            (
                Inconclusive,
                FORCED,
                Step::Advance {
                    to: 25,
                    scale_canary_to: None,
                    forced: Some(Inconclusive),
                },
            ),
        ];
        for (verdict, mode, expected) in table {
            // Holds and counters do not matter to a one-shot promote.
            for (failed, held) in [(0, 0), (5, 999)] {
                let state = state(Phase::Progressing, 5, failed, 0);
                assert_eq!(
                    decide(&state, &tracks(), Some(&analysis(verdict)), held, mode),
                    expected,
                    "{verdict:?} {mode:?}"
                );
            }
        }
    }

    #[test]
    fn a_one_shot_target_must_be_higher() {
        let state = state(Phase::Progressing, 25, 0, 0);
        let record = analysis(Verdict::Pass);
        let with = |target| Mode::Once {
            target,
            force: false,
        };
        assert_eq!(
            decide(&state, &tracks(), Some(&record), 0, with(Target::To(25))),
            Step::Refuse(Refusal::TargetNotHigher { current: 25 })
        );
        // 60 % of stable's 3 pods needs 2: the canary is scaled up first.
        assert_eq!(
            decide(&state, &tracks(), Some(&record), 0, with(Target::To(60))),
            Step::Advance {
                to: 60,
                scale_canary_to: Some(2),
                forced: None
            }
        );
        // The completion scales the canary to stable's size itself.
        assert_eq!(
            decide(&state, &tracks(), Some(&record), 0, with(Target::Full)),
            Step::Advance {
                to: 100,
                scale_canary_to: None,
                forced: None
            }
        );
        // After the last stage, the next is the completion.
        assert_eq!(
            decide(&state, &tracks(), Some(&record), 0, ONCE),
            Step::Advance {
                to: 100,
                scale_canary_to: None,
                forced: None
            }
        );
    }

    #[test]
    fn a_release_starts_from_rest_unless_there_is_nothing_to_release() {
        let idle_tracks = Tracks {
            canary_replicas: 0,
            ..tracks()
        };
        let start = Step::Start {
            weight: 5,
            canary_replicas: 1,
        };
        for phase in [Phase::Idle, Phase::Completed, Phase::RolledBack] {
            let state = state(phase, 0, 0, 0);
            for mode in [AUTO, ONCE] {
                assert_eq!(
                    decide(&state, &idle_tracks, None, 0, mode),
                    start,
                    "{phase:?}"
                );
            }
        }
        let same = Tracks {
            stable_runs_canary_template: true,
            ..idle_tracks.clone()
        };
        assert_eq!(
            decide(&state(Phase::Idle, 0, 0, 0), &same, None, 0, FORCED),
            Step::Refuse(Refusal::NothingToRelease)
        );
        // A template rolled back before starts again only when forced.
        let mut rolled_back = state(Phase::RolledBack, 0, 0, 0);
        rolled_back.release = Some(Release {
            canary_image: "node:v2".into(),
            stable_image: "node:v1".into(),
            template_hash: "new".into(),
            started_at: at(0),
            previous_stable_revision: None,
        });
        assert_eq!(
            decide(&rolled_back, &idle_tracks, None, 0, ONCE),
            Step::Refuse(Refusal::RolledBackBefore {
                reason: "why".into()
            })
        );
        assert_eq!(decide(&rolled_back, &idle_tracks, None, 0, FORCED), start);
        let auto_forced = Mode::Auto {
            started: false,
            force: true,
        };
        assert_eq!(
            decide(&rolled_back, &idle_tracks, None, 0, auto_forced),
            start
        );
        // The canary's replicas follow stable's size.
        let big = Tracks {
            stable_replicas: 40,
            ..idle_tracks
        };
        assert_eq!(
            decide(&state(Phase::Idle, 0, 0, 0), &big, None, 0, AUTO),
            Step::Start {
                weight: 5,
                canary_replicas: 2
            }
        );
    }

    #[test]
    fn an_auto_run_ends_when_its_release_ends() {
        let rest = Tracks {
            canary_replicas: 0,
            ..tracks()
        };
        for phase in [Phase::Idle, Phase::RolledBack] {
            assert_eq!(
                decide(&state(phase, 0, 0, 0), &rest, None, 0, AUTO_STARTED),
                Step::Stop(Stop::RolledBackMeanwhile {
                    reason: "why".into()
                })
            );
        }
        assert_eq!(
            decide(
                &state(Phase::Completed, 0, 0, 0),
                &rest,
                None,
                0,
                AUTO_STARTED
            ),
            Step::Stop(Stop::Completed)
        );
    }

    #[test]
    fn an_interrupted_completion_resumes_at_its_step() {
        let mut completing = state(Phase::Completing, 100, 0, 0);
        assert_eq!(
            decide(&completing, &tracks(), None, 0, ONCE),
            Step::Complete {
                from: CompletionStep::ShiftToCanary
            }
        );
        completing.completion_step = Some(CompletionStep::UpdateStable);
        for mode in [ONCE, AUTO, AUTO_STARTED] {
            assert_eq!(
                decide(&completing, &tracks(), None, 0, mode),
                Step::Complete {
                    from: CompletionStep::UpdateStable
                }
            );
        }
    }

    #[test]
    fn edited_routes_an_unfinished_rollback_and_an_image_mid_release_are_refused() {
        let plan = plan();
        let progressing = state(Phase::Progressing, 5, 0, 0);
        let edited = Situation {
            plan: &plan,
            state: &progressing,
            weights: Weights::canary(40),
            tracks: &tracks(),
            analysis: None,
            now: at(0),
        };
        assert_eq!(
            next_step(&edited, ONCE, false),
            Step::Refuse(Refusal::RoutesEdited {
                routed: 40,
                recorded: 5
            })
        );
        let rolling_back = state(Phase::RollingBack, 0, 0, 0);
        for mode in [ONCE, AUTO] {
            assert_eq!(
                decide(&rolling_back, &tracks(), None, 0, mode),
                Step::Refuse(Refusal::RollbackUnfinished {
                    reason: "why".into()
                })
            );
        }
        let in_release = Situation {
            weights: Weights::canary(5),
            ..edited
        };
        assert_eq!(
            next_step(&in_release, AUTO, true),
            Step::Refuse(Refusal::ImageDuringRelease { weight: 5 })
        );
        // At rest, --image is put in first, then the release starts.
        let idle = state(Phase::Idle, 0, 0, 0);
        let rest = Tracks {
            canary_replicas: 0,
            ..tracks()
        };
        let at_rest = Situation {
            state: &idle,
            weights: Weights::canary(0),
            tracks: &rest,
            ..edited
        };
        assert_eq!(next_step(&at_rest, ONCE, true), Step::SetImage);
        // A canary with pods but no traffic (an interrupted start) takes an image.
        let running = Situation {
            tracks: &tracks(),
            ..at_rest
        };
        assert_eq!(next_step(&running, ONCE, true), Step::SetImage);
        // Routes sending the canary traffic outside a recorded release are a release too.
        let routed = Situation {
            weights: Weights::canary(10),
            ..at_rest
        };
        assert_eq!(
            next_step(&routed, ONCE, true),
            Step::Refuse(Refusal::ImageDuringRelease { weight: 10 })
        );
    }

    #[test]
    fn a_release_is_in_progress_by_its_phase_or_the_canary_s_traffic() {
        for phase in [Phase::Progressing, Phase::Completing] {
            assert!(release_in_progress(phase, 0), "{phase:?}");
        }
        for phase in [
            Phase::Idle,
            Phase::Completed,
            Phase::RolledBack,
            Phase::RollingBack,
        ] {
            assert!(!release_in_progress(phase, 0), "{phase:?}");
            assert!(release_in_progress(phase, 5), "{phase:?}");
        }
    }

    #[test]
    fn canary_gets_the_replicas_its_share_needs() {
        assert_eq!(canary_replicas_for(5, 3), 1);
        assert_eq!(canary_replicas_for(25, 3), 1);
        assert_eq!(canary_replicas_for(50, 3), 2);
        assert_eq!(canary_replicas_for(100, 3), 3);
        assert_eq!(canary_replicas_for(50, 0), 1);
        assert_eq!(canary_replicas_for(34, 100), 34);
    }

    #[test]
    fn analyses_count_in_a_row_and_a_pass_resets() {
        let mut state = state(Phase::Progressing, 5, 0, 0);
        count_analysis(&mut state, analysis(Verdict::Fail));
        count_analysis(&mut state, analysis(Verdict::Inconclusive));
        count_analysis(&mut state, analysis(Verdict::Fail));
        assert_eq!((state.failed_analyses, state.inconclusive_analyses), (2, 1));
        count_analysis(&mut state, analysis(Verdict::Pass));
        assert_eq!((state.failed_analyses, state.inconclusive_analyses), (0, 0));
        assert_eq!(state.analyses.len(), 4);
        state.failed_analyses = u32::MAX;
        count_analysis(&mut state, analysis(Verdict::Fail));
        assert_eq!(state.failed_analyses, u32::MAX);
    }

    #[test]
    fn what_follows_a_step() {
        let plan = plan();
        let interval = After::ObserveAfter(Duration::from_secs(10));
        let start = Step::Start {
            weight: 5,
            canary_replicas: 1,
        };
        let advance = |to| Step::Advance {
            to,
            scale_canary_to: None,
            forced: None,
        };
        assert_eq!(after(&Step::SetImage, ONCE, &plan), After::Decide);
        assert_eq!(after(&Step::Analyse, AUTO, &plan), After::Decide);
        assert_eq!(after(&start, AUTO, &plan), interval);
        assert_eq!(after(&start, ONCE, &plan), After::End);
        assert_eq!(after(&advance(25), AUTO, &plan), interval);
        assert_eq!(after(&advance(100), AUTO, &plan), After::End);
        assert_eq!(after(&advance(25), ONCE, &plan), After::End);
        assert_eq!(
            after(&Step::Wait(Duration::from_secs(3)), AUTO, &plan),
            After::ObserveAfter(Duration::from_secs(3))
        );
        assert_eq!(after(&Step::Stop(Stop::Completed), AUTO, &plan), After::End);
    }

    #[test]
    fn a_rollback_undoes_stable_only_once_it_runs_the_release() {
        let rest = Weights::canary(0);
        let mut state = state(Phase::Idle, 0, 0, 0);
        assert_eq!(rollback_plan(&state, rest, 0, None), None);
        assert_eq!(
            rollback_plan(&state, rest, 1, None),
            Some(RollbackPlan {
                undo_to: None,
                resuming: false
            })
        );
        assert_eq!(
            rollback_plan(&state, rest, 0, Some(3)),
            Some(RollbackPlan {
                undo_to: Some(3),
                resuming: false
            })
        );
        state.phase = Phase::Progressing;
        state.canary_weight = 25;
        assert_eq!(
            rollback_plan(&state, Weights::canary(25), 1, None),
            Some(RollbackPlan {
                undo_to: None,
                resuming: false
            })
        );
        state.release = Some(Release {
            canary_image: "node:v2".into(),
            stable_image: "node:v1".into(),
            template_hash: "new".into(),
            started_at: at(0),
            previous_stable_revision: Some(4),
        });
        state.phase = Phase::Completing;
        state.completion_step = Some(CompletionStep::ShiftToCanary);
        assert_eq!(
            rollback_plan(&state, Weights::canary(100), 3, None).map(|p| p.undo_to),
            Some(None)
        );
        state.completion_step = Some(CompletionStep::UpdateStable);
        assert_eq!(
            rollback_plan(&state, Weights::canary(100), 3, None).map(|p| p.undo_to),
            Some(Some(4))
        );
        state.phase = Phase::Completed;
        assert_eq!(
            rollback_plan(&state, rest, 0, Some(2)).map(|p| p.undo_to),
            Some(Some(2))
        );
        // Resumed: the revision fixed when it began.
        state.phase = Phase::RollingBack;
        state.undo_to_revision = Some(4);
        assert_eq!(
            rollback_plan(&state, rest, 0, Some(9)),
            Some(RollbackPlan {
                undo_to: Some(4),
                resuming: true
            })
        );
    }

    #[test]
    fn the_hold_is_the_stage_s_and_counts_from_its_start() {
        let plan = plan();
        let state = state(Phase::Progressing, 5, 0, 0);
        assert_eq!(
            stage_hold(&plan, &state, 5, at(42)),
            (Duration::from_secs(60), Duration::from_secs(42))
        );
        // A weight off the plan (an old plan's, or --to) is held an interval.
        assert_eq!(
            stage_hold(&plan, &state, 40, at(42)).0,
            Duration::from_secs(10)
        );
        let unstarted = RolloutState {
            stage_started_at: None,
            ..state
        };
        assert_eq!(stage_hold(&plan, &unstarted, 5, at(42)).1, Duration::ZERO);
    }
}
