//! Gate 4: each pod's current cpu and memory (metrics.k8s.io) stay under its limits, and no
//! container was OOMKilled. Without the metrics API the gate cannot decide.

use k8s_openapi::api::core::v1::Pod;

use crate::rollout::pod_failure;
use crate::validate::collect::{Fetch, Input, PodMetrics, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::quantity;
use crate::validate::{GateId, GateResult, PodDetail, Status, from_pods};

const GATE: GateId = GateId::ResourceUsage;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[Input::PodMetrics];

fn judge(pod: &Pod, metrics: Option<&PodMetrics>) -> PodDetail {
    let name = pod.metadata.name.clone().unwrap_or_default();
    if let Some(failure) = pod_failure(pod).filter(|f| f.reason == "OOMKilled") {
        return PodDetail {
            pod: name,
            status: Status::Fail,
            message: format!("container {} was OOMKilled", failure.container),
        };
    }
    let Some(metrics) = metrics else {
        return PodDetail {
            pod: name,
            status: Status::Inconclusive,
            message: "no metrics for this pod yet".into(),
        };
    };
    let containers = pod
        .spec
        .as_ref()
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let mut over = Vec::new();
    let mut usage_text = Vec::new();
    for container in &metrics.containers {
        let limits = containers
            .iter()
            .find(|c| c.name == container.name)
            .and_then(|c| c.resources.as_ref()?.limits.as_ref());
        for resource in ["cpu", "memory"] {
            let used = container
                .usage
                .get(resource)
                .and_then(|q| quantity::parse(q));
            let limit = limits
                .and_then(|l| l.get(resource))
                .and_then(|q| quantity::parse(&q.0));
            if let (Some(used), Some(limit)) = (used, limit) {
                usage_text.push(format!(
                    "{} {resource} {:.0}% of limit",
                    container.name,
                    100.0 * used / limit
                ));
                if used >= limit {
                    over.push(format!(
                        "{} {resource} {} >= limit {}",
                        container.name,
                        container.usage[resource],
                        limits
                            .and_then(|l| l.get(resource))
                            .map(|q| q.0.as_str())
                            .unwrap_or("")
                    ));
                }
            }
        }
    }
    if over.is_empty() {
        PodDetail {
            pod: name,
            status: Status::Pass,
            message: usage_text.join(", "),
        }
    } else {
        PodDetail {
            pod: name,
            status: Status::Fail,
            message: over.join(", "),
        }
    }
}

pub fn resource_usage(snapshot: &Snapshot, _expectations: &Expectations) -> GateResult {
    let Some(pods) = snapshot.pods.ok() else {
        return super::unreadable(GATE, "the Deployment's pods", &snapshot.pods);
    };
    let metrics = match &snapshot.pod_metrics {
        Fetch::Ok(metrics) => metrics,
        other => {
            // OOM kills are visible without the metrics API and fail the gate regardless.
            let oom: Vec<PodDetail> = pods
                .iter()
                .map(|p| judge(p, None))
                .filter(|d| d.status == Status::Fail)
                .collect();
            if !oom.is_empty() {
                return from_pods(GATE, oom, "under their limits");
            }
            return GateResult::inconclusive(
                GATE,
                format!(
                    "cannot read pod usage: {}",
                    other.problem().unwrap_or_default()
                ),
            );
        }
    };
    let details = pods
        .iter()
        .map(|pod| {
            judge(
                pod,
                metrics
                    .iter()
                    .find(|m| m.metadata.name == pod.metadata.name),
            )
        })
        .collect();
    from_pods(GATE, details, "under their cpu and memory limits")
        .measured("metrics.k8s.io usage", "< limits")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::gates::fixtures::{POD_NAMES, edit, healthy};

    fn usage(cpu: &str, memory: &str) -> Vec<PodMetrics> {
        POD_NAMES
            .iter()
            .map(|p| serde_json::from_value(serde_json::json!({"metadata": {"name": p}, "containers": [{"name": "bizra-node", "usage": {"cpu": cpu, "memory": memory}}]})).expect("metrics"))
            .collect()
    }

    #[test]
    fn without_the_metrics_api_the_gate_is_inconclusive_not_passed() {
        let result = resource_usage(&healthy(), &Expectations::default());
        assert_eq!(result.status, Status::Inconclusive);
        assert!(result.message.contains("not served"), "{}", result.message);
    }

    #[test]
    fn usage_under_limits_passes_and_over_fails() {
        let mut snapshot = healthy();
        snapshot.pod_metrics = Fetch::Ok(usage("250m", "1Gi"));
        assert_eq!(
            resource_usage(&snapshot, &Expectations::default()).status,
            Status::Pass
        );
        snapshot.pod_metrics = Fetch::Ok(usage("2100m", "1Gi"));
        let result = resource_usage(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.pods[0].message, "bizra-node cpu 2100m >= limit 2");
    }

    #[test]
    fn an_oom_kill_fails_even_without_usage_data() {
        let mut snapshot = healthy();
        if let Fetch::Ok(pods) = &mut snapshot.pods {
            edit(
                &mut pods[0],
                |p| {
                    p["status"]["containerStatuses"][0]["lastState"] =
                        serde_json::json!({"terminated": {"exitCode": 137, "reason": "OOMKilled"}})
                },
            );
        }
        let result = resource_usage(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.pods[0].message, "container bizra-node was OOMKilled");
    }
}
