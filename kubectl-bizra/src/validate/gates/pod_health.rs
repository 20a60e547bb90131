//! Gate 1: the rollout is complete (kubectl rollout status rules), every replica Running and Ready
//! with zero restarts, and no pod stuck in a state that does not heal.

use k8s_openapi::api::core::v1::Pod;

use super::unreadable;
use crate::rollout::{DeploymentProgress, deployment_rollout, pod_failure};
use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::{GateId, GateResult, PodDetail, Status, from_pods};

const GATE: GateId = GateId::PodHealth;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[];

fn judge_pod(pod: &Pod) -> PodDetail {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let detail = |status, message: String| PodDetail {
        pod: name.clone(),
        status,
        message,
    };
    if let Some(failure) = pod_failure(pod) {
        return detail(
            Status::Fail,
            format!(
                "{}: {} {}",
                failure.container, failure.reason, failure.message
            )
            .trim_end()
            .to_owned(),
        );
    }
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("Unknown");
    if phase != "Running" {
        return detail(Status::Fail, format!("phase is {phase}, not Running"));
    }
    let ready = status
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
    if !ready {
        return detail(Status::Fail, "not Ready".into());
    }
    let restarts: i32 = status
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| c.restart_count)
        .sum();
    if restarts > 0 {
        return detail(Status::Fail, format!("{restarts} restarts"));
    }
    detail(Status::Pass, "Running and Ready, no restarts".into())
}

pub fn pod_health(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let Fetch::Ok(deployment) = &snapshot.deployment else {
        return unreadable(GATE, "the Deployment", &snapshot.deployment);
    };
    let Fetch::Ok(pods) = &snapshot.pods else {
        return unreadable(GATE, "the Deployment's pods", &snapshot.pods);
    };
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let wanted = expectations.replicas.unwrap_or(desired);
    let ready = deployment
        .status
        .as_ref()
        .and_then(|s| s.ready_replicas)
        .unwrap_or(0);
    let observed = format!("{ready}/{desired} ready");
    let threshold = format!("{wanted} ready, no restarts");

    let details: Vec<PodDetail> = pods.iter().map(judge_pod).collect();
    // Stuck pods decide first: their reason says more than "rollout not complete".
    if pods.iter().any(|p| pod_failure(p).is_some()) {
        let mut result = from_pods(GATE, details, "healthy");
        result.message = format!(
            "pods failing: {}",
            result
                .pods
                .iter()
                .map(|p| format!("{} ({})", p.pod, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        );
        return result.measured(observed, threshold);
    }
    match deployment_rollout(deployment) {
        DeploymentProgress::Failed(message) => {
            return GateResult::fail(GATE, message).measured(observed, threshold);
        }
        DeploymentProgress::Progressing(message) => {
            return GateResult::fail(GATE, format!("rollout not complete: {message}"))
                .measured(observed, threshold)
                .with_pods(
                    details
                        .into_iter()
                        .filter(|d| d.status != Status::Pass)
                        .collect(),
                );
        }
        DeploymentProgress::Complete(_) => {}
    }
    if desired != wanted {
        return GateResult::fail(
            GATE,
            format!("the Deployment runs {desired} replicas; {wanted} are expected"),
        )
        .measured(observed, threshold);
    }
    from_pods(GATE, details, "Running and Ready with no restarts").measured(observed, threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::gates::fixtures::{edit, healthy};

    #[test]
    fn a_healthy_deployment_passes() {
        let result = pod_health(&healthy(), &Expectations::default());
        assert_eq!(result.status, Status::Pass, "{result:?}");
        assert_eq!(result.observed.as_deref(), Some("3/3 ready"));
    }

    fn break_pod(change: impl FnOnce(&mut serde_json::Value)) -> GateResult {
        let mut snapshot = healthy();
        if let Fetch::Ok(pods) = &mut snapshot.pods {
            edit(&mut pods[1], change);
        }
        pod_health(&snapshot, &Expectations::default())
    }

    #[test]
    fn a_restart_or_an_unready_pod_fails_with_the_pod_named() {
        let result = break_pod(|p| p["status"]["containerStatuses"][0]["restartCount"] = 2.into());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.pods,
            [PodDetail {
                pod: "bizra-apex-abc-2".into(),
                status: Status::Fail,
                message: "2 restarts".into()
            }]
        );
        let result = break_pod(|p| p["status"]["conditions"][0]["status"] = "False".into());
        assert_eq!(result.pods[0].message, "not Ready");
    }

    #[test]
    fn crash_loops_fail_fast_with_the_reason() {
        let result = break_pod(|p| {
            p["status"]["containerStatuses"][0]["state"] = serde_json::json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 10s"}});
        });
        assert_eq!(result.status, Status::Fail);
        assert!(
            result
                .message
                .contains("bizra-apex-abc-2 (bizra-node: CrashLoopBackOff back-off 10s)"),
            "{}",
            result.message
        );
    }

    #[test]
    fn an_incomplete_rollout_fails() {
        let mut snapshot = healthy();
        if let Fetch::Ok(d) = &mut snapshot.deployment {
            edit(d, |d| d["status"]["availableReplicas"] = 2.into());
        }
        let result = pod_health(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.message,
            "rollout not complete: 2 of 3 updated replicas are available"
        );
    }

    #[test]
    fn a_different_replica_count_than_expected_fails() {
        let expectations = Expectations {
            replicas: Some(5),
            ..Expectations::default()
        };
        let result = pod_health(&healthy(), &expectations);
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.message,
            "the Deployment runs 3 replicas; 5 are expected"
        );
    }

    #[test]
    fn a_missing_deployment_fails_and_a_forbidden_one_is_inconclusive() {
        let mut snapshot = healthy();
        snapshot.deployment = Fetch::NotFound(
            "Deployment \"bizra-apex\" does not exist in namespace \"testnet\"".into(),
        );
        let result = pod_health(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert!(
            result.message.contains("does not exist"),
            "{}",
            result.message
        );
        snapshot.deployment = Fetch::Forbidden("cannot get deployments".into());
        assert_eq!(
            pod_health(&snapshot, &Expectations::default()).status,
            Status::Inconclusive
        );
    }
}
