//! Progressive delivery of the canary track: the plan, the state kept on the VirtualService, the
//! analysis, and the engine that moves a release through its stages, completes it, or rolls it
//! back. Each step is idempotent and recorded before the next one starts, so an interrupted
//! `promote` or `rollback` is resumed by running it again.

pub mod analysis;
pub mod cluster;
pub mod plan;
pub mod routing;
pub mod state;
pub mod undo;

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use self::analysis::{AnalysisRecord, Observations, Verdict};
use self::cluster::{
    Cluster, Observed, available, canary_replicas_for, image, replicas, template_hash,
};
use self::plan::Plan;
use self::routing::Weights;
use self::state::{CompletionStep, Phase, Release};
use self::undo::{UndoPlan, revision_of};
use crate::error::Error;
use crate::prometheus::{Prometheus, PrometheusError};

/// One change made (or, in a dry run, that would be made) to the cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    pub kind: String,
    pub name: String,
    pub field: String,
    pub from: String,
    pub to: String,
}

/// The changes as a table after a blank line; nothing when there were none.
pub fn changes_table(changes: &[Change]) -> String {
    if changes.is_empty() {
        return String::new();
    }
    let rows = changes.iter().map(|c| {
        [
            c.kind.clone(),
            c.name.clone(),
            c.field.clone(),
            c.from.clone(),
            c.to.clone(),
        ]
    });
    format!(
        "\n{}",
        crate::output::table(&["kind", "name", "field", "from", "to"], rows)
    )
}

pub struct Engine<'a> {
    pub cluster: &'a Cluster,
    pub prometheus: Option<Prometheus>,
    pub plan: Plan,
    /// How long to wait for a Deployment to scale or roll out.
    pub wait_timeout: Duration,
    pub changes: Vec<Change>,
}

fn now() -> Timestamp {
    Timestamp::now()
}

impl<'a> Engine<'a> {
    fn note(
        &mut self,
        kind: &str,
        name: &str,
        field: &str,
        from: impl ToString,
        to: impl ToString,
    ) {
        let (from, to) = (from.to_string(), to.to_string());
        if from != to {
            eprintln!(
                "{kind} {name}: {field} {from} -> {to}{}",
                if self.cluster.dry_run {
                    " (server dry run)"
                } else {
                    ""
                }
            );
            self.changes.push(Change {
                kind: kind.into(),
                name: name.into(),
                field: field.into(),
                from,
                to,
            });
        }
    }

    /// Writes the state and the weights together and keeps `observed` current.
    async fn write(&mut self, observed: &mut Observed, weights: Weights) -> anyhow::Result<()> {
        let name = self.cluster.names.virtual_service.clone();
        self.note(
            "VirtualService",
            &name,
            "weights (stable/canary)",
            format!("{}/{}", observed.weights.stable, observed.weights.canary),
            format!("{}/{}", weights.stable, weights.canary),
        );
        let written = self
            .cluster
            .write(observed, &observed.state, weights)
            .await?;
        observed.virtual_service = written;
        observed.weights = weights;
        Ok(())
    }

    async fn scale_canary(
        &mut self,
        observed: &mut Observed,
        replicas_wanted: i32,
    ) -> anyhow::Result<()> {
        let name = self.cluster.names.canary_deployment.clone();
        let current = replicas(&observed.canary);
        if current != replicas_wanted {
            self.note("Deployment", &name, "replicas", current, replicas_wanted);
            observed.canary = self.cluster.scale(&name, replicas_wanted).await?;
        }
        if replicas_wanted > 0 {
            self.cluster.wait(&name, self.wait_timeout).await?;
            if !self.cluster.dry_run {
                observed.canary = self.cluster.observe().await?.canary;
                // Never weight a canary that has no pod to take the traffic.
                anyhow::ensure!(
                    available(&observed.canary) >= replicas_wanted,
                    "deployment {name:?} has {} of {replicas_wanted} pods available; no traffic was moved",
                    available(&observed.canary)
                );
            }
        }
        Ok(())
    }

    /// Puts `image` into the canary's node container (and its tag into the `version` label).
    pub async fn set_canary_image(
        &mut self,
        observed: &mut Observed,
        image: &policy_wasm::image_ref::ImageRef,
    ) -> anyhow::Result<()> {
        let name = self.cluster.names.canary_deployment.clone();
        let before = cluster::image(&observed.canary);
        self.note("Deployment", &name, "image", &before, image.to_string());
        observed.canary = self.cluster.set_node_image(&name, image).await?;
        Ok(())
    }

    /// Starts a release: the canary gets the first stage's pods, then its traffic.
    pub async fn start(&mut self, observed: &mut Observed, force: bool) -> anyhow::Result<()> {
        let released = cluster::released_template(&observed.stable, &observed.canary);
        if observed.stable.spec.as_ref().map(|s| &s.template) == Some(&released) {
            return Err(Error::Usage(format!(
                "nothing to release: deployment {:?} already runs the pod template of {:?}; change the canary's template (e.g. its image) first",
                self.cluster.names.deployment, self.cluster.names.canary_deployment
            ))
            .into());
        }
        let hash = template_hash(&observed.canary);
        if observed.state.phase == Phase::RolledBack
            && observed.state.release.as_ref().map(|r| &r.template_hash) == Some(&hash)
            && !force
        {
            return Err(Error::Usage(format!(
                "this canary template was rolled back ({}); change it, or pass --force to release it again",
                observed.state.reason.clone().unwrap_or_default()
            ))
            .into());
        }
        let weight = self.plan.stages[0].weight;
        let wanted = canary_replicas_for(weight, replicas(&observed.stable));
        self.scale_canary(observed, wanted).await?;
        let at = now();
        let state = &mut observed.state;
        state.release = Some(Release {
            canary_image: image(&observed.canary),
            stable_image: image(&observed.stable),
            template_hash: hash,
            started_at: at,
            previous_stable_revision: None,
        });
        state.plan = Some(self.plan.clone());
        state.reason = None;
        state.completion_step = None;
        state.enter(Phase::Progressing, weight, at);
        state.record(
            at,
            "Started",
            format!("canary {} at {weight}%", image(&observed.canary)),
        );
        self.write(observed, Weights::canary(weight)).await
    }

    /// Runs the analysis of the current stage (nothing is written).
    pub async fn analyse(&self, observed: &Observed) -> anyhow::Result<AnalysisRecord> {
        let prometheus = self.prometheus.as_ref().ok_or_else(|| {
            Error::Usage("the analysis needs a Prometheus: pass --prometheus-url URL or --prometheus-service NS/NAME:PORT".into())
        })?;
        let settings = &self.plan.analysis;
        let (traffic, restarts) = tokio::join!(
            analysis::observe_traffic(prometheus, settings, &self.cluster.namespace),
            self.cluster.canary_restarts(&observed.canary)
        );
        let (canary, stable) = traffic.map_err(|e| match e {
            e @ PrometheusError::Unreachable { .. } => {
                anyhow::Error::from(Error::Inconclusive(format!("{e}; nothing was changed")))
            }
            e => anyhow::Error::from(Error::Usage(format!(
                "{e}; check the analysis queries in the plan"
            ))),
        })?;
        let observations = Observations {
            window: settings.window,
            canary,
            stable,
            canary_restarts: restarts?,
            canary_available: available(&observed.canary),
        };
        let checks = analysis::evaluate(settings, &observations);
        Ok(AnalysisRecord {
            at: now(),
            canary_weight: observed.weights.canary,
            verdict: analysis::overall(&checks),
            checks,
        })
    }

    /// Records an analysis result and its counters (written with the next write).
    pub fn count(&self, observed: &mut Observed, record: AnalysisRecord) {
        let state = &mut observed.state;
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

    /// Writes the state with the current weights (to record an analysis).
    pub async fn save(&mut self, observed: &mut Observed) -> anyhow::Result<()> {
        let weights = observed.weights;
        self.write(observed, weights).await
    }

    /// Moves the canary to `target` %; 100 completes the release.
    pub async fn advance(&mut self, observed: &mut Observed, target: u8) -> anyhow::Result<()> {
        if target >= 100 {
            return self.complete(observed).await;
        }
        let wanted = canary_replicas_for(target, replicas(&observed.stable));
        if replicas(&observed.canary) < wanted {
            self.scale_canary(observed, wanted).await?;
        }
        let at = now();
        let from = observed.state.canary_weight;
        observed.state.enter(Phase::Progressing, target, at);
        observed
            .state
            .record(at, "Advanced", format!("{from}% -> {target}%"));
        self.write(observed, Weights::canary(target)).await
    }

    /// Completes the release; resumes at the recorded step.
    pub async fn complete(&mut self, observed: &mut Observed) -> anyhow::Result<()> {
        let step = match observed.state.phase {
            Phase::Completing => observed
                .state
                .completion_step
                .unwrap_or(CompletionStep::ShiftToCanary),
            _ => CompletionStep::ShiftToCanary,
        };
        let stable_name = self.cluster.names.deployment.clone();
        if step <= CompletionStep::ShiftToCanary {
            let wanted = replicas(&observed.stable);
            self.scale_canary(observed, wanted).await?;
            let at = now();
            let state = &mut observed.state;
            if let Some(release) = state.release.as_mut() {
                release.previous_stable_revision = revision_of(&observed.stable.metadata);
            }
            state.enter(Phase::Completing, 100, at);
            state.completion_step = Some(CompletionStep::UpdateStable);
            state.record(
                at,
                "Completing",
                "all traffic on the canary; updating stable",
            );
            self.write(observed, Weights::canary(100)).await?;
        }
        if step <= CompletionStep::UpdateStable {
            let canary_image = image(&observed.canary);
            let stable_image = image(&observed.stable);
            self.note(
                "Deployment",
                &stable_name,
                "template (image)",
                &stable_image,
                &canary_image,
            );
            if stable_image == canary_image {
                self.note(
                    "Deployment",
                    &stable_name,
                    "template",
                    "stable's",
                    "the canary's",
                );
            }
            self.cluster
                .update_stable_template(&observed.stable, &observed.canary)
                .await?;
            self.cluster.wait(&stable_name, self.wait_timeout).await?;
            let at = now();
            let state = &mut observed.state;
            state.enter(Phase::Completing, 0, at);
            state.completion_step = Some(CompletionStep::ScaleDownCanary);
            state.record(
                at,
                "StableUpdated",
                format!("stable runs {canary_image}; all traffic back on stable"),
            );
            self.write(observed, Weights::canary(0)).await?;
        } else if step <= CompletionStep::ShiftToStable {
            observed.state.completion_step = Some(CompletionStep::ScaleDownCanary);
            observed.state.canary_weight = 0;
            self.write(observed, Weights::canary(0)).await?;
        }
        self.scale_canary(observed, 0).await?;
        let at = now();
        let state = &mut observed.state;
        state.enter(Phase::Completed, 0, at);
        state.completion_step = None;
        state.record(
            at,
            "Completed",
            "stable runs the release; canary scaled down",
        );
        self.write(observed, Weights::canary(0)).await
    }

    /// All traffic to stable, canary to 0, and, when stable already runs the release, stable
    /// back to its previous revision. Returns false when there was nothing to do.
    pub async fn rollback(
        &mut self,
        observed: &mut Observed,
        reason: &str,
        to_revision: Option<i64>,
    ) -> anyhow::Result<bool> {
        let state = &observed.state;
        let canary_down = replicas(&observed.canary) == 0;
        if matches!(state.phase, Phase::RolledBack | Phase::Idle)
            && observed.weights.canary == 0
            && canary_down
            && to_revision.is_none()
        {
            return Ok(false);
        }
        // The revision stable goes back to, fixed in the state before anything moves, so a
        // repeated or resumed rollback undoes once and then finds the template already there.
        // Stable may already run the release once completion reached its UpdateStable step.
        let stable_updated = state.phase == Phase::Completed
            || (state.phase == Phase::Completing
                && state.completion_step >= Some(CompletionStep::UpdateStable));
        let undo_to = if state.phase == Phase::RollingBack {
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
        if observed.state.phase != Phase::RollingBack {
            let at = now();
            let from = observed.weights.canary;
            let state = &mut observed.state;
            state.enter(Phase::RollingBack, 0, at);
            state.completion_step = None;
            state.undo_to_revision = undo_to;
            state.reason = Some(reason.to_string());
            state.record(
                at,
                "RollingBack",
                format!("{reason} (canary was at {from}%)"),
            );
            self.write(observed, Weights::canary(0)).await?;
        }
        self.scale_canary(observed, 0).await?;
        if let Some(revision) = observed.state.undo_to_revision {
            let stable_name = self.cluster.names.deployment.clone();
            match self.cluster.undo_stable(revision).await? {
                UndoPlan::Skip { revision } => {
                    eprintln!(
                        "deployment {stable_name}: already at revision {revision}'s template"
                    );
                }
                UndoPlan::Apply { revision, .. } => {
                    self.note(
                        "Deployment",
                        &stable_name,
                        "template",
                        "current",
                        format!("revision {revision}"),
                    );
                    self.cluster.wait(&stable_name, self.wait_timeout).await?;
                }
            }
        }
        let at = now();
        let state = &mut observed.state;
        state.enter(Phase::RolledBack, 0, at);
        state.undo_to_revision = None;
        state.record(at, "RolledBack", reason.to_string());
        self.write(observed, Weights::canary(0)).await?;
        Ok(true)
    }
}

/// Another writer changed the rollout between our read and our write.
pub fn is_conflict(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|cause| matches!(cause.downcast_ref::<Error>(), Some(Error::Conflict(_))))
}

/// Errors worth waiting out in `promote --auto`: the apiserver restarting or unreachable.
pub fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        matches!(cause.downcast_ref::<Error>(), Some(Error::Unreachable { .. }))
            || matches!(cause.downcast_ref::<kube::Error>(), Some(kube::Error::Api(s)) if s.code >= 500 || s.code == 429)
            || matches!(cause.downcast_ref::<kube::Error>(), Some(kube::Error::HyperError(_) | kube::Error::Service(_)))
    })
}
