//! Is a Deployment rolled out, and is any of its pods failing for good? The same rules as
//! `kubectl rollout status`, plus the fail-fast reasons kubectl does not look at (a pod that cannot
//! pull its image will never become ready, whatever the progress deadline says).

use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::error::ClusterError;
use crate::global::KubeClient;
use crate::progress::progress;
use crate::style::Tone;

/// Where a Deployment's rollout stands, with kubectl's words for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "message", rename_all = "camelCase")]
pub enum DeploymentProgress {
    Complete(String),
    Progressing(String),
    Failed(String),
}

/// `kubectl rollout status` for a Deployment (kubectl's polymorphichelpers/rollout_status.go).
pub fn deployment_rollout(deployment: &Deployment) -> DeploymentProgress {
    let name = deployment.metadata.name.as_deref().unwrap_or("");
    let generation = deployment.metadata.generation.unwrap_or(0);
    let Some(status) = &deployment.status else {
        return DeploymentProgress::Progressing(
            "waiting for deployment spec update to be observed".into(),
        );
    };
    if generation > status.observed_generation.unwrap_or(0) {
        return DeploymentProgress::Progressing(
            "waiting for deployment spec update to be observed".into(),
        );
    }
    let deadline_exceeded = status.conditions.iter().flatten().any(|c| {
        c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
    });
    if deadline_exceeded {
        return DeploymentProgress::Failed(format!(
            "deployment {name:?} exceeded its progress deadline"
        ));
    }
    let desired = deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1);
    let updated = status.updated_replicas.unwrap_or(0);
    let replicas = status.replicas.unwrap_or(0);
    let available = status.available_replicas.unwrap_or(0);
    if updated < desired {
        DeploymentProgress::Progressing(format!(
            "{updated} out of {desired} new replicas have been updated"
        ))
    } else if replicas > updated {
        DeploymentProgress::Progressing(format!(
            "{} old replicas are pending termination",
            replicas - updated
        ))
    } else if available < updated {
        DeploymentProgress::Progressing(format!(
            "{available} of {updated} updated replicas are available"
        ))
    } else {
        DeploymentProgress::Complete(format!("deployment {name:?} successfully rolled out"))
    }
}

/// The Deployment's `matchLabels` as a label selector (`app=bizra-apex,track=stable`), or None
/// when it selects by expressions only or has no selector.
pub fn pod_selector(deployment: &Deployment) -> Option<String> {
    let labels = deployment.spec.as_ref()?.selector.match_labels.as_ref()?;
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// Container states that do not heal by waiting.
const FATAL_WAITING_REASONS: &[&str] = &[
    "CrashLoopBackOff",
    "ImagePullBackOff",
    "ErrImagePull",
    "InvalidImageName",
    "CreateContainerConfigError",
    "CreateContainerError",
    "RunContainerError",
];

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFailure {
    pub pod: String,
    pub container: String,
    pub reason: String,
    pub message: String,
}

/// The first container of `pod` stuck in a state that waiting will not fix, or last killed for
/// running out of memory.
pub fn pod_failure(pod: &Pod) -> Option<PodFailure> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref()?;
    let statuses = status
        .init_container_statuses
        .iter()
        .flatten()
        .chain(status.container_statuses.iter().flatten());
    for container in statuses {
        let failure = |reason: &str, message: Option<&String>| PodFailure {
            pod: name.clone(),
            container: container.name.clone(),
            reason: reason.to_owned(),
            message: message.cloned().unwrap_or_default(),
        };
        if let Some(waiting) = container.state.as_ref().and_then(|s| s.waiting.as_ref()) {
            let reason = waiting.reason.as_deref().unwrap_or("");
            if FATAL_WAITING_REASONS.contains(&reason) {
                return Some(failure(reason, waiting.message.as_ref()));
            }
        }
        let oom = |state: Option<&k8s_openapi::api::core::v1::ContainerState>| {
            state
                .and_then(|s| s.terminated.as_ref())
                .filter(|t| t.reason.as_deref() == Some("OOMKilled"))
                .cloned()
        };
        if let Some(terminated) =
            oom(container.state.as_ref()).or_else(|| oom(container.last_state.as_ref()))
        {
            return Some(failure("OOMKilled", terminated.message.as_ref()));
        }
    }
    None
}

/// Why a pod has not been scheduled, as the scheduler put it, e.g. `Unschedulable: 0/3 nodes are
/// available: 3 Insufficient cpu`.
pub fn pod_unscheduled_reason(pod: &Pod) -> Option<String> {
    let condition = pod
        .status
        .as_ref()?
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "PodScheduled" && c.status == "False")?;
    Some(format!(
        "{}: {}",
        condition.reason.as_deref().unwrap_or("NotScheduled"),
        condition.message.as_deref().unwrap_or("")
    ))
}

/// How a wait for one Deployment ended.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRollout {
    pub deployment: String,
    #[serde(flatten)]
    pub state: DeploymentProgress,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_failure: Option<PodFailure>,
}

/// The pods of the Deployment's newest ReplicaSet: an old pod's past trouble says nothing about
/// the release being rolled out.
async fn newest_pods(
    kube: &KubeClient,
    namespace: &str,
    deployment: &Deployment,
) -> Result<Vec<Pod>, ClusterError> {
    let Some(selector) = pod_selector(deployment) else {
        return Ok(Vec::new());
    };
    let params = ListParams::default().labels(&selector);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(kube.client.clone(), namespace);
    let uid = deployment.metadata.uid.clone();
    let revision = |rs: &ReplicaSet| {
        rs.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .and_then(|r| r.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let newest = replica_sets
        .list(&params)
        .await
        .map_err(|e| kube.classify(e))?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .max_by_key(revision);
    let Some(hash) = newest.and_then(|rs| {
        rs.metadata
            .labels
            .and_then(|l| l.get("pod-template-hash").cloned())
    }) else {
        return Ok(Vec::new());
    };
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), namespace);
    let params = ListParams::default().labels(&format!("{selector},pod-template-hash={hash}"));
    Ok(pods
        .list(&params)
        .await
        .map_err(|e| kube.classify(e))?
        .items)
}

/// Waits until the Deployment is rolled out, a pod of the release fails for good, or time is up,
/// with a line of progress on stderr.
pub async fn wait_for_rollout(
    kube: &KubeClient,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> Result<DeploymentRollout, ClusterError> {
    let api: Api<Deployment> = Api::namespaced(kube.client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    let task = progress().task(format!("deployment {name}"));
    loop {
        let deployment = api.get(name).await.map_err(|e| kube.classify(e))?;
        let state = deployment_rollout(&deployment);
        let mut outcome = DeploymentRollout {
            deployment: name.to_owned(),
            state: state.clone(),
            pod_failure: None,
        };
        match state {
            DeploymentProgress::Complete(message) => {
                task.finish(Tone::Pass, &message);
                return Ok(outcome);
            }
            DeploymentProgress::Failed(message) => {
                task.finish(Tone::Fail, &message);
                return Ok(outcome);
            }
            DeploymentProgress::Progressing(mut message) => {
                let pods = newest_pods(kube, namespace, &deployment).await?;
                let failure = pods.iter().find_map(pod_failure);
                if let Some(failure) = failure {
                    let message = format!(
                        "pod {} cannot start: {} ({})",
                        failure.pod, failure.reason, failure.message
                    );
                    task.finish(Tone::Fail, &message);
                    outcome.state = DeploymentProgress::Failed(message);
                    outcome.pod_failure = Some(failure);
                    return Ok(outcome);
                }
                let unscheduled = pods
                    .iter()
                    .find_map(|p| Some((p.metadata.name.clone()?, pod_unscheduled_reason(p)?)));
                if let Some((pod, reason)) = unscheduled {
                    message.push_str(&format!("; pod {pod} is not scheduled: {reason}"));
                }
                task.set(&message, "");
                if tokio::time::Instant::now() >= deadline {
                    let message = format!(
                        "timed out after {} waiting for deployment {name:?}: {message}",
                        crate::duration::format(timeout)
                    );
                    task.finish(Tone::Fail, &message);
                    outcome.state = DeploymentProgress::Failed(message);
                    return Ok(outcome);
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(value: serde_json::Value) -> Deployment {
        serde_json::from_value(value).expect("deployment fixture")
    }

    #[test]
    fn rollout_follows_kubectl_rules() {
        let cases = [
            (
                json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"observedGeneration": 1}}),
                DeploymentProgress::Progressing(
                    "waiting for deployment spec update to be observed".into(),
                ),
            ),
            (
                json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"observedGeneration": 2, "updatedReplicas": 1, "replicas": 3}}),
                DeploymentProgress::Progressing("1 out of 3 new replicas have been updated".into()),
            ),
            (
                json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 4}}),
                DeploymentProgress::Progressing("1 old replicas are pending termination".into()),
            ),
            (
                json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 2}}),
                DeploymentProgress::Progressing("2 of 3 updated replicas are available".into()),
            ),
            (
                json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"observedGeneration": 2, "updatedReplicas": 3, "replicas": 3, "availableReplicas": 3}}),
                DeploymentProgress::Complete("deployment \"d\" successfully rolled out".into()),
            ),
            (
                json!({"metadata": {"name": "d", "generation": 2}, "spec": {"replicas": 3, "selector": {}, "template": {}}, "status": {"observedGeneration": 2, "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}]}}),
                DeploymentProgress::Failed(
                    "deployment \"d\" exceeded its progress deadline".into(),
                ),
            ),
            (
                json!({"metadata": {"name": "d", "generation": 1}, "spec": {"replicas": 0, "selector": {}, "template": {}}, "status": {"observedGeneration": 1}}),
                DeploymentProgress::Complete("deployment \"d\" successfully rolled out".into()),
            ),
        ];
        for (fixture, expected) in cases {
            assert_eq!(
                deployment_rollout(&deployment(fixture.clone())),
                expected,
                "{fixture}"
            );
        }
    }

    fn pod(statuses: serde_json::Value) -> Pod {
        serde_json::from_value(
            json!({"metadata": {"name": "p"}, "status": {"containerStatuses": statuses}}),
        )
        .expect("pod fixture")
    }

    #[test]
    fn fatal_waiting_reasons_fail_fast() {
        let failing = pod(
            json!([{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image \"x\""}}}]),
        );
        assert_eq!(
            pod_failure(&failing),
            Some(PodFailure {
                pod: "p".into(),
                container: "c".into(),
                reason: "ImagePullBackOff".into(),
                message: "Back-off pulling image \"x\"".into()
            })
        );
        let starting = pod(
            json!([{"name": "c", "image": "i", "imageID": "", "ready": false, "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}}}]),
        );
        assert_eq!(pod_failure(&starting), None);
    }

    #[test]
    fn unscheduled_pods_say_why() {
        let pending: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "status": {"phase": "Pending",
            "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable", "message": "0/3 nodes are available: 3 Insufficient cpu."}]}}))
        .expect("pod fixture");
        assert_eq!(
            pod_unscheduled_reason(&pending).as_deref(),
            Some("Unschedulable: 0/3 nodes are available: 3 Insufficient cpu.")
        );
        assert_eq!(pod_unscheduled_reason(&pod(json!([]))), None);
    }

    #[test]
    fn an_oom_kill_in_the_last_state_is_a_failure() {
        let oom = pod(
            json!([{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 1,
            "state": {"running": {}}, "lastState": {"terminated": {"exitCode": 137, "reason": "OOMKilled"}}}]),
        );
        assert_eq!(
            pod_failure(&oom).map(|f| f.reason),
            Some("OOMKilled".into())
        );
        let healthy = pod(
            json!([{"name": "c", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]),
        );
        assert_eq!(pod_failure(&healthy), None);
    }
}
