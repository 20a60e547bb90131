//! `kubectl bizra status`: where the rollout stands: phase, stage, weights, replicas per track,
//! the last analyses and the history, all read from the cluster. `--watch` prints it again on
//! every change, following the three objects through the watch API ([`crate::watch`]).

use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DynamicObject};
use serde::Serialize;

use crate::canary::analysis::AnalysisRecord;
use crate::canary::cluster::{
    Cluster, Names, Observed, image, replicas, rollout_of, virtual_service_resource,
};
use crate::canary::routing::Weights;
use crate::canary::state::{HistoryEntry, Phase, RolloutState};
use crate::duration::format as format_duration;
use crate::error::ClusterError;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output::{self, OutputFormat};
use crate::progress::progress;
use crate::watch::{Seen, follow};

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
    let palette = crate::style::Palette::stdout();
    let print = |report: &StatusReport| {
        output::print(global.output, report, |r| {
            palette.column(&render_table(r, args.history), "verdict")
        })
    };
    // The first reading decides as without --watch: what is missing or refused is an error.
    let observed = cluster.observe().await?;
    let mut last = report(&cluster, &observed);
    print(&last)?;
    if !args.watch {
        return Ok(ExitStatus::Success);
    }
    let mut view = Watched {
        stable: Some(Some(observed.stable)),
        canary: Some(Some(observed.canary)),
        routes: Some(Some(observed.virtual_service)),
    };
    let mut parts = watch_parts(&cluster);
    let mut said = String::new();
    while let Some(part) = parts.next().await {
        let seen = match part {
            Part::Stable(seen) => view.take(seen, |v| &mut v.stable),
            Part::Canary(seen) => view.take(seen, |v| &mut v.canary),
            Part::Routes(seen) => view.take(seen, |v| &mut v.routes),
        }?;
        if let Some(notice) = seen {
            progress().println(&notice);
            continue;
        }
        match view.observed(&cluster) {
            Ok(Some(observed)) => {
                said.clear();
                let current = report(&cluster, &observed);
                // Replica counts and state are what change; the report holds no clock text.
                if current != last {
                    if global.output == OutputFormat::Table {
                        println!("---");
                    }
                    print(&current)?;
                    last = current;
                }
            }
            Ok(None) => {}
            Err(why) => {
                if why != said {
                    progress().println(&why);
                    said = why;
                }
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// What the watch has heard of each object: `None` not yet, `Some(None)` absent.
struct Watched {
    stable: Option<Option<Deployment>>,
    canary: Option<Option<Deployment>>,
    routes: Option<Option<DynamicObject>>,
}

enum Part {
    Stable(Seen<Deployment>),
    Canary(Seen<Deployment>),
    Routes(Seen<DynamicObject>),
}

impl Watched {
    /// Keeps what was seen in its slot; a notice is handed back to be said, and the error of a
    /// watch that gave up to end the command with.
    fn take<K>(
        &mut self,
        seen: Seen<K>,
        slot: impl Fn(&mut Self) -> &mut Option<Option<K>>,
    ) -> Result<Option<String>, ClusterError> {
        match seen {
            Seen::Object(object) => *slot(self) = Some(Some(object)),
            Seen::Absent => *slot(self) = Some(None),
            Seen::Notice(notice) => return Ok(Some(notice)),
            Seen::Stopped(error) => return Err(error),
        }
        Ok(None)
    }

    /// The three objects as one observation; `Err` says why there is none (an object gone, the
    /// state unreadable).
    fn observed(&self, cluster: &Cluster) -> Result<Option<Observed>, String> {
        let names = &cluster.names;
        let (Some(stable), Some(canary), Some(routes)) = (&self.stable, &self.canary, &self.routes)
        else {
            return Ok(None);
        };
        let missing = |kind: &str, name: &str| {
            format!(
                "{kind} {name} does not exist in namespace {}: waiting for it",
                cluster.namespace
            )
        };
        let stable = stable
            .clone()
            .ok_or_else(|| missing("deployment", &names.deployment))?;
        let canary = canary
            .clone()
            .ok_or_else(|| missing("deployment", &names.canary_deployment))?;
        let virtual_service = routes
            .clone()
            .ok_or_else(|| missing("virtualservice", &names.virtual_service))?;
        let (state, weights) = rollout_of(&virtual_service).map_err(|e| e.to_string())?;
        Ok(Some(Observed {
            virtual_service,
            state,
            weights,
            stable,
            canary,
        }))
    }
}

/// The three objects' changes, as they come (each followed through the watch API).
fn watch_parts(cluster: &Cluster) -> futures::stream::SelectAll<BoxStream<'static, Part>> {
    let client = cluster.kube.client.clone();
    let server = &cluster.kube.server;
    let names = &cluster.names;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &cluster.namespace);
    let routes: Api<DynamicObject> =
        Api::namespaced_with(client, &cluster.namespace, &virtual_service_resource());
    futures::stream::select_all([
        follow(
            deployments.clone(),
            server,
            &names.deployment,
            format!("deployment {}", names.deployment),
        )
        .map(Part::Stable)
        .boxed(),
        follow(
            deployments,
            server,
            &names.canary_deployment,
            format!("deployment {}", names.canary_deployment),
        )
        .map(Part::Canary)
        .boxed(),
        follow(
            routes,
            server,
            &names.virtual_service,
            format!("virtualservice {}", names.virtual_service),
        )
        .map(Part::Routes)
        .boxed(),
    ])
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
