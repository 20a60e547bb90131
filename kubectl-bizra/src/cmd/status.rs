//! `kubectl bizra status`: where the rollout stands: phase, stage, weights, replicas per track,
//! the last analyses and the history, all read from the cluster. `--watch` prints it again on
//! every change.

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use crate::canary::analysis::AnalysisRecord;
use crate::canary::cluster::{Cluster, Names, Observed, image, replicas};
use crate::canary::routing::Weights;
use crate::canary::state::{HistoryEntry, Phase, RolloutState};
use crate::duration::format as format_duration;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output::{self, OutputFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub names: Names,

    /// Keep printing the status whenever it changes (until interrupted).
    #[arg(short = 'w', long)]
    pub watch: bool,

    /// History entries to show in the table (all are in -o json/yaml).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub history: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Track {
    pub track: &'static str,
    pub deployment: String,
    pub image: String,
    pub desired: i32,
    pub ready: i32,
    pub available: i32,
    pub updated: i32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub virtual_service: String,
    pub phase: Phase,
    /// `2/3` while progressing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    pub weights: Weights,
    /// The routes were changed outside kubectl bizra (they differ from the recorded state).
    pub weights_edited: bool,
    pub tracks: Vec<Track>,
    pub state: RolloutState,
}

fn track(name: &'static str, deployment: &Deployment) -> Track {
    let status = deployment.status.clone().unwrap_or_default();
    Track {
        track: name,
        deployment: deployment.metadata.name.clone().unwrap_or_default(),
        image: image(deployment),
        desired: replicas(deployment),
        ready: status.ready_replicas.unwrap_or(0),
        available: status.available_replicas.unwrap_or(0),
        updated: status.updated_replicas.unwrap_or(0),
    }
}

pub fn report(cluster: &Cluster, observed: &Observed) -> StatusReport {
    let state = &observed.state;
    let stage = state.plan.as_ref().and_then(|plan| {
        let (index, _) = plan.stage_of(state.canary_weight)?;
        (state.phase == Phase::Progressing).then(|| format!("{}/{}", index + 1, plan.stages.len()))
    });
    StatusReport {
        api_version: crate::output::API_VERSION,
        kind: "RolloutStatus",
        namespace: cluster.namespace.clone(),
        virtual_service: cluster.names.virtual_service.clone(),
        phase: state.phase,
        stage,
        weights: observed.weights,
        weights_edited: crate::canary::decide::routes_edited(state, observed.weights),
        tracks: vec![
            track("stable", &observed.stable),
            track("canary", &observed.canary),
        ],
        state: state.clone(),
    }
}

fn ago(at: Timestamp) -> String {
    let elapsed = Timestamp::now().duration_since(at).unsigned_abs();
    format!(
        "{} ago",
        format_duration(Duration::from_secs(elapsed.as_secs()))
    )
}

pub fn analysis_table(record: &AnalysisRecord) -> String {
    let mut text = format!(
        "analysis at {}% ({}): {:?}\n",
        record.canary_weight, record.at, record.verdict
    );
    text.push_str(&output::table(
        &["check", "verdict", "observed", "threshold", "message"],
        record.checks.iter().map(|c| {
            [
                c.check.clone(),
                format!("{:?}", c.verdict),
                c.observed
                    .map(|v| format!("{v:.4}"))
                    .unwrap_or_else(|| "-".into()),
                c.threshold.clone(),
                c.message.clone(),
            ]
        }),
    ));
    text
}

pub fn render_table(report: &StatusReport, history: usize) -> String {
    let state = &report.state;
    let mut text = format!(
        "Rollout:   {:?}{}\nWeights:   stable {}%, canary {}%{}\n",
        report.phase,
        report
            .stage
            .as_ref()
            .map(|s| format!(" (stage {s})"))
            .unwrap_or_default(),
        report.weights.stable,
        report.weights.canary,
        if report.weights_edited {
            format!(
                " (edited outside kubectl bizra; the state says canary {}%)",
                state.canary_weight
            )
        } else {
            String::new()
        }
    );
    if let Some(at) = state.stage_started_at {
        let hold = state
            .plan
            .as_ref()
            .and_then(|p| p.stage_of(state.canary_weight))
            .filter(|_| report.phase == Phase::Progressing)
            .map(|(_, s)| format!(", hold {}", format_duration(s.hold)))
            .unwrap_or_default();
        text.push_str(&format!("Since:     {at} ({}{hold})\n", ago(at)));
    }
    if let Some(release) = &state.release {
        text.push_str(&format!(
            "Release:   {} (stable was {})\n",
            release.canary_image, release.stable_image
        ));
    }
    if let Some(reason) = &state.reason {
        text.push_str(&format!("Reason:    {reason}\n"));
    }
    text.push('\n');
    text.push_str(&output::table(
        &[
            "track",
            "deployment",
            "desired",
            "ready",
            "available",
            "updated",
            "image",
        ],
        report.tracks.iter().map(|t| {
            [
                t.track.to_string(),
                t.deployment.clone(),
                t.desired.to_string(),
                t.ready.to_string(),
                t.available.to_string(),
                t.updated.to_string(),
                t.image.clone(),
            ]
        }),
    ));
    if let Some(last) = state.analyses.last() {
        text.push('\n');
        text.push_str(&analysis_table(last));
    }
    if !state.history.is_empty() {
        text.push('\n');
        let skip = state.history.len().saturating_sub(history);
        text.push_str(&output::table(
            &["time", "event", "canary", "detail"],
            state.history.iter().skip(skip).map(|h: &HistoryEntry| {
                [
                    h.at.to_string(),
                    h.event.clone(),
                    format!("{}%", h.canary_weight),
                    h.detail.clone(),
                ]
            }),
        ));
    }
    text
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    let kube = global.client().await?;
    let cluster = Cluster::new(kube, &global.namespace, args.names.clone(), false);
    let print = |report: &StatusReport| {
        output::print(global.output, report, |r| render_table(r, args.history))
    };
    let mut last: Option<StatusReport> = None;
    loop {
        let observed = cluster.observe().await?;
        let current = report(&cluster, &observed);
        // Replica counts and state are what change; the report holds no clock-dependent text.
        if last.as_ref() != Some(&current) {
            if args.watch && global.output == OutputFormat::Table && last.is_some() {
                println!("---");
            }
            print(&current)?;
            last = Some(current);
        }
        if !args.watch {
            return Ok(ExitStatus::Success);
        }
        // Polls the three objects every 2 s: cheap (3 GETs) and survives apiserver restarts.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::canary::analysis::{CheckResult, Verdict};

    #[test]
    fn status_table_shows_stage_weights_tracks_analysis_and_history() {
        let at: Timestamp = "2026-11-29T10:00:00Z".parse().expect("time");
        let mut state = RolloutState {
            plan: Some(crate::canary::plan::Plan::default()),
            ..Default::default()
        };
        state.enter(Phase::Progressing, 25, at);
        state.record(at, "Started", "canary node:v2 at 5%");
        state.record(at, "Advanced", "5% -> 25%");
        state.record_analysis(AnalysisRecord {
            at,
            canary_weight: 25,
            verdict: Verdict::Pass,
            checks: vec![CheckResult {
                check: "error-rate".into(),
                verdict: Verdict::Pass,
                observed: Some(0.0),
                threshold: "< 0.1%".into(),
                message: "canary error rate 0.000%".into(),
            }],
        });
        let deployment = |name: &str, image: &str, n: i32| -> Deployment {
            serde_json::from_value(json!({
                "metadata": {"name": name},
                "spec": {"replicas": n, "selector": {}, "template": {"spec": {"containers": [{"name": "bizra-node", "image": image}]}}},
                "status": {"readyReplicas": n, "availableReplicas": n, "updatedReplicas": n}
            }))
            .expect("deployment")
        };
        let report = StatusReport {
            api_version: crate::output::API_VERSION,
            kind: "RolloutStatus",
            namespace: "testnet".into(),
            virtual_service: "bizra-apex".into(),
            phase: Phase::Progressing,
            stage: Some("2/3".into()),
            weights: Weights::canary(25),
            weights_edited: false,
            tracks: vec![
                track("stable", &deployment("bizra-apex", "node:v1", 3)),
                track("canary", &deployment("bizra-apex-canary", "node:v2", 1)),
            ],
            state,
        };
        let text = render_table(&report, 10);
        // The "Since" line holds a relative time; everything else is fixed.
        let text: String = text
            .lines()
            .map(|l| {
                if l.starts_with("Since:") {
                    "Since:     <time>"
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        insta::assert_snapshot!(text);
    }
}
