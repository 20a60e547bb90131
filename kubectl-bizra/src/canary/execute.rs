//! Applying the steps [`super::decide`] chooses, with the cluster. Every step records what it is
//! about to do in the rollout state, written with the route weights in one guarded update, before
//! it acts, so an interrupted `promote` or `rollback` is finished by running it again.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::Serialize;

use super::analysis::{self, AnalysisRecord, Observations, Verdict};
use super::cluster::{self, Cluster, Observed, available, image, replicas, template_hash};
use super::decide::{RollbackPlan, Step};
use super::plan::Plan;
use super::routing::Weights;
use super::state::{CompletionStep, Phase, Release};
use super::undo::{UndoError, UndoPlan, plan_undo, revision_of};
use crate::error::ClusterError;
use crate::prometheus::{Prometheus, PrometheusError};
use crate::rollout::DeploymentProgress;

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

/// Why a step could not be applied. Nothing after the failed write was done; what was written
/// before it is recorded in the state.
#[derive(Debug, thiserror::Error)]
pub enum ExecuteError {
    // Not transparent: the cluster error stays in the chain, where its exit code is read.
    #[error("{0}")]
    Cluster(#[from] ClusterError),

    #[error(
        "deployment {deployment:?} has {available} of {wanted} pods available; no traffic was moved"
    )]
    NotAvailable {
        deployment: String,
        available: i32,
        wanted: i32,
    },

    #[error("deployment {deployment:?}: {message}")]
    RolloutFailed { deployment: String, message: String },

    #[error(transparent)]
    Undo(#[from] UndoError),
}

impl ExecuteError {
    /// Worth reading the cluster again and retrying: a concurrent writer, a transient fault.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExecuteError::Cluster(e) if e.is_retryable())
    }
}

/// Why a stage could not be analysed.
#[derive(Debug, thiserror::Error)]
pub enum AnalyseError {
    #[error(
        "the analysis needs a Prometheus: pass --prometheus-url URL or --prometheus-service NS/NAME:PORT"
    )]
    NoPrometheus,
    /// Prometheus did not answer: the stage cannot be judged now.
    #[error("{0}; nothing was changed")]
    PrometheusUnreachable(PrometheusError),
    #[error("{0}; check the analysis queries in the plan")]
    BadQuery(PrometheusError),
    #[error("{0}")]
    Cluster(#[from] ClusterError),
}

pub struct Executor<'a> {
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

impl<'a> Executor<'a> {
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
            crate::progress::progress().println(&format!(
                "{kind} {name}: {field} {from} -> {to}{}",
                if self.cluster.dry_run {
                    " (server dry run)"
                } else {
                    ""
                }
            ));
            self.changes.push(Change {
                kind: kind.into(),
                name: name.into(),
                field: field.into(),
                from,
                to,
            });
        }
    }

    /// Applies a step. `Analyse` is [`Executor::analyse`]'s; `Wait`, `Stop` and `Refuse` write the
    /// state when `analysed` (the analysis just counted into it must be kept).
    pub async fn apply(
        &mut self,
        observed: &mut Observed,
        step: &Step,
        analysed: bool,
        image: Option<&policy_wasm::image_ref::ImageRef>,
    ) -> Result<(), ExecuteError> {
        match step {
            Step::SetImage => {
                if let Some(image) = image {
                    self.set_canary_image(observed, image).await?;
                }
            }
            Step::Start {
                weight,
                canary_replicas,
            } => self.start(observed, *weight, *canary_replicas).await?,
            Step::Analyse => {}
            Step::Wait(_) | Step::Stop(_) | Step::Refuse(_) => {
                if analysed {
                    self.save(observed).await?;
                }
            }
            Step::Advance {
                to,
                scale_canary_to,
                forced,
            } => {
                if let Some(verdict) = forced {
                    observed.state.record(
                        now(),
                        "Forced",
                        format!("moved on despite a {verdict:?} analysis"),
                    );
                }
                self.advance(observed, *to, *scale_canary_to).await?;
            }
            Step::Complete { from } => self.complete(observed, *from).await?,
            Step::RollBack { reason, plan } => self.rollback(observed, *plan, reason).await?,
        }
        Ok(())
    }

    /// Writes the state and the weights together and keeps `observed` current.
    async fn write(
        &mut self,
        observed: &mut Observed,
        weights: Weights,
    ) -> Result<(), ClusterError> {
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

    /// Waits for a Deployment's rollout or scale; a rollout that fails or times out is an error.
    async fn wait(&self, name: &str) -> Result<(), ExecuteError> {
        match self.cluster.wait(name, self.wait_timeout).await? {
            None => Ok(()),
            Some(outcome) => match outcome.state {
                DeploymentProgress::Complete(_) => Ok(()),
                DeploymentProgress::Failed(message) | DeploymentProgress::Progressing(message) => {
                    Err(ExecuteError::RolloutFailed {
                        deployment: name.to_owned(),
                        message,
                    })
                }
            },
        }
    }

    async fn scale_canary(
        &mut self,
        observed: &mut Observed,
        replicas_wanted: i32,
    ) -> Result<(), ExecuteError> {
        let name = self.cluster.names.canary_deployment.clone();
        let current = replicas(&observed.canary);
        if current != replicas_wanted {
            self.note("Deployment", &name, "replicas", current, replicas_wanted);
            observed.canary = self.cluster.scale(&name, replicas_wanted).await?;
        }
        if replicas_wanted > 0 {
            self.wait(&name).await?;
            if !self.cluster.dry_run {
                observed.canary = self.cluster.observe().await?.canary;
                // Never weight a canary that has no pod to take the traffic: checked on what
                // the cluster says after the scale, so it is the executor's, not a decision.
                let available = available(&observed.canary);
                if available < replicas_wanted {
                    return Err(ExecuteError::NotAvailable {
                        deployment: name,
                        available,
                        wanted: replicas_wanted,
                    });
                }
            }
        }
        Ok(())
    }

    /// Puts `image` into the canary's node container (and its tag into the `version` label).
    pub async fn set_canary_image(
        &mut self,
        observed: &mut Observed,
        image: &policy_wasm::image_ref::ImageRef,
    ) -> Result<(), ClusterError> {
        let name = self.cluster.names.canary_deployment.clone();
        let before = cluster::image(&observed.canary);
        self.note("Deployment", &name, "image", &before, image.to_string());
        observed.canary = self.cluster.set_node_image(&name, image).await?;
        Ok(())
    }

    /// Starts a release: the canary gets the first stage's pods, then its traffic.
    async fn start(
        &mut self,
        observed: &mut Observed,
        weight: u8,
        canary_replicas: i32,
    ) -> Result<(), ExecuteError> {
        self.scale_canary(observed, canary_replicas).await?;
        let at = now();
        let state = &mut observed.state;
        state.release = Some(Release {
            canary_image: image(&observed.canary),
            stable_image: image(&observed.stable),
            template_hash: template_hash(&observed.canary),
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
        Ok(self.write(observed, Weights::canary(weight)).await?)
    }

    /// Runs the analysis of the current stage (nothing is written); it is stamped when its
    /// queries have answered.
    pub async fn analyse(&self, observed: &Observed) -> Result<AnalysisRecord, AnalyseError> {
        let prometheus = self.prometheus.as_ref().ok_or(AnalyseError::NoPrometheus)?;
        let settings = &self.plan.analysis;
        let (traffic, restarts) = tokio::join!(
            analysis::observe_traffic(prometheus, settings, &self.cluster.namespace),
            self.cluster.canary_restarts(&observed.canary)
        );
        let (canary, stable) = traffic.map_err(|e| match e {
            e @ PrometheusError::Unreachable { .. } => AnalyseError::PrometheusUnreachable(e),
            e => AnalyseError::BadQuery(e),
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

    /// Writes the state with the current weights (to record an analysis).
    async fn save(&mut self, observed: &mut Observed) -> Result<(), ClusterError> {
        let weights = observed.weights;
        self.write(observed, weights).await
    }

    /// Moves the canary to `target` % (scaled to `scale_to` pods first); 100 completes the
    /// release.
    async fn advance(
        &mut self,
        observed: &mut Observed,
        target: u8,
        scale_to: Option<i32>,
    ) -> Result<(), ExecuteError> {
        if target >= 100 {
            return self.complete(observed, CompletionStep::ShiftToCanary).await;
        }
        if let Some(wanted) = scale_to {
            self.scale_canary(observed, wanted).await?;
        }
        let at = now();
        let from = observed.state.canary_weight;
        observed.state.enter(Phase::Progressing, target, at);
        observed
            .state
            .record(at, "Advanced", format!("{from}% -> {target}%"));
        Ok(self.write(observed, Weights::canary(target)).await?)
    }

    /// Completes the release from `step` on.
    async fn complete(
        &mut self,
        observed: &mut Observed,
        step: CompletionStep,
    ) -> Result<(), ExecuteError> {
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
            self.wait(&stable_name).await?;
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
        Ok(self.write(observed, Weights::canary(0)).await?)
    }

    /// All traffic to stable, canary to 0, and, when `plan` says so, stable back to a previous
    /// revision.
    pub async fn rollback(
        &mut self,
        observed: &mut Observed,
        plan: RollbackPlan,
        reason: &str,
    ) -> Result<(), ExecuteError> {
        if !plan.resuming {
            let at = now();
            let from = observed.weights.canary;
            let state = &mut observed.state;
            state.enter(Phase::RollingBack, 0, at);
            state.completion_step = None;
            state.undo_to_revision = plan.undo_to;
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
            let (stable, replica_sets) = self.cluster.stable_history().await?;
            match plan_undo(&stable, &replica_sets, revision)? {
                UndoPlan::Skip { revision } => {
                    crate::progress::progress().println(&format!(
                        "deployment {stable_name}: already at revision {revision}'s template"
                    ));
                }
                UndoPlan::Apply {
                    revision,
                    template,
                    annotations,
                } => {
                    let mut updated = stable;
                    updated.metadata.annotations = Some(annotations);
                    if let Some(spec) = updated.spec.as_mut() {
                        spec.template = *template;
                    }
                    self.cluster.replace_deployment(updated).await?;
                    self.note(
                        "Deployment",
                        &stable_name,
                        "template",
                        "current",
                        format!("revision {revision}"),
                    );
                    self.wait(&stable_name).await?;
                }
            }
        }
        let at = now();
        let state = &mut observed.state;
        state.enter(Phase::RolledBack, 0, at);
        state.undo_to_revision = None;
        state.record(at, "RolledBack", reason.to_string());
        Ok(self.write(observed, Weights::canary(0)).await?)
    }
}

/// The record of an analysis Prometheus could not answer: inconclusive, naming why.
pub fn unreachable_analysis(at: Timestamp, weight: u8, message: String) -> AnalysisRecord {
    AnalysisRecord {
        at,
        canary_weight: weight,
        verdict: Verdict::Inconclusive,
        checks: vec![analysis::CheckResult {
            check: "prometheus".into(),
            verdict: Verdict::Inconclusive,
            observed: None,
            threshold: "reachable".into(),
            message,
        }],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::exit_status_of;
    use crate::exit_code::ExitStatus;

    #[test]
    fn a_cluster_error_keeps_its_exit_code_through_a_step() {
        let unauthorized = || ClusterError::Unauthorized {
            server: "https://x".into(),
            reason: "Unauthorized".into(),
        };
        let step = anyhow::Error::new(ExecuteError::from(unauthorized()));
        assert_eq!(exit_status_of(&step), ExitStatus::ClusterUnreachable);
        let analysis = anyhow::Error::new(AnalyseError::from(ClusterError::NotFound(
            "no such deployment".into(),
        )));
        assert_eq!(exit_status_of(&analysis), ExitStatus::Usage);
        assert!(ExecuteError::from(ClusterError::Conflict("x".into())).is_retryable());
        assert!(!ExecuteError::from(unauthorized()).is_retryable());
    }
}
