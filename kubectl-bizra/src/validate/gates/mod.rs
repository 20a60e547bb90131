//! One pure function per gate: snapshot and expectations in, verdict out.

mod environment;
mod error_logs;
mod metrics_endpoint;
mod pod_health;
mod prometheus_scraping;
mod resource_usage;
mod security;
mod service_connectivity;
mod sla;

use super::collect::{Input, Snapshot};
use super::config::Expectations;
use super::{GateId, GateResult};

pub use environment::environment;
pub use error_logs::error_logs;
pub use metrics_endpoint::metrics_endpoint;
pub use pod_health::pod_health;
pub use prometheus_scraping::prometheus_scraping;
pub use prometheus_scraping::up_query;
pub use resource_usage::resource_usage;
pub use security::security;
pub use service_connectivity::service_connectivity;
pub use sla::{queries as sla_queries, sla};

/// What each gate reads beside the Deployment and its pods: the collector reads an input only
/// when a selected gate lists it here.
pub fn inputs(gate: GateId) -> &'static [Input] {
    match gate {
        GateId::PodHealth => pod_health::INPUTS,
        GateId::MetricsEndpoint => metrics_endpoint::INPUTS,
        GateId::PrometheusScraping => prometheus_scraping::INPUTS,
        GateId::ResourceUsage => resource_usage::INPUTS,
        GateId::ErrorLogs => error_logs::INPUTS,
        GateId::ServiceConnectivity => service_connectivity::INPUTS,
        GateId::Environment => environment::INPUTS,
        GateId::Security => security::INPUTS,
        GateId::Sla => sla::INPUTS,
    }
}

pub fn evaluate(gate: GateId, snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    match gate {
        GateId::PodHealth => pod_health(snapshot, expectations),
        GateId::MetricsEndpoint => metrics_endpoint(snapshot, expectations),
        GateId::PrometheusScraping => prometheus_scraping(snapshot, expectations),
        GateId::ResourceUsage => resource_usage(snapshot, expectations),
        GateId::ErrorLogs => error_logs(snapshot, expectations),
        GateId::ServiceConnectivity => service_connectivity(snapshot, expectations),
        GateId::Environment => environment(snapshot, expectations),
        GateId::Security => security(snapshot, expectations),
        GateId::Sla => sla(snapshot, expectations),
    }
}

/// The verdict for a gate whose input could not be read: absent objects fail it, everything else
/// (forbidden, not served, a failed read) leaves it undecided.
pub(crate) fn unreadable(
    gate: GateId,
    what: &str,
    fetch_problem: &super::collect::Fetch<impl Sized>,
) -> GateResult {
    use super::collect::Fetch;
    let problem = fetch_problem.problem().unwrap_or_default();
    match fetch_problem {
        Fetch::NotFound(_) => GateResult::fail(gate, format!("{what}: {problem}")),
        _ => GateResult::inconclusive(gate, format!("cannot read {what}: {problem}")),
    }
}

#[cfg(test)]
pub(crate) mod fixtures {
    //! A healthy snapshot as the local cluster gives it, for the gates' unit tests to break.

    use std::collections::BTreeMap;

    use serde_json::json;

    use crate::validate::collect::{Fetch, PodLog, Snapshot};

    pub const POD_NAMES: [&str; 3] = ["bizra-apex-abc-1", "bizra-apex-abc-2", "bizra-apex-abc-3"];

    pub fn deployment() -> serde_json::Value {
        json!({
            "metadata": {"name": "bizra-apex", "namespace": "testnet", "generation": 1},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "bizra-apex", "track": "stable"}},
                "template": {
                    "metadata": {"labels": {"app": "bizra-apex", "track": "stable"}},
                    "spec": {
                        "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
                        "containers": [{
                            "name": "bizra-node",
                            "image": "ghcr.io/bizra/node:v2.2.0-rc1",
                            "envFrom": [{"configMapRef": {"name": "bizra-config"}}],
                            "env": [{"name": "NODE_ENV", "value": "testnet"}, {"name": "RUST_LOG", "value": "bizra=debug"}],
                            "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                            "resources": {"limits": {"cpu": "2", "memory": "2Gi"}, "requests": {"cpu": "500m", "memory": "512Mi"}}
                        }]
                    }
                }
            },
            "status": {"observedGeneration": 1, "replicas": 3, "updatedReplicas": 3, "readyReplicas": 3, "availableReplicas": 3}
        })
    }

    pub fn pod(name: &str, ip: &str) -> serde_json::Value {
        json!({
            "metadata": {"name": name, "namespace": "testnet", "labels": {"app": "bizra-apex", "track": "stable"}},
            "spec": {"containers": [{"name": "bizra-node", "resources": {"limits": {"cpu": "2", "memory": "2Gi"}}}]},
            "status": {
                "phase": "Running",
                "startTime": "2026-11-28T11:00:00Z",
                "podIP": ip,
                "conditions": [{"type": "Ready", "status": "True"}],
                "containerStatuses": [{"name": "bizra-node", "image": "i", "imageID": "", "ready": true, "restartCount": 0, "state": {"running": {}}}]
            }
        })
    }

    pub const METRICS: &str = "# TYPE bizra_finality_check_seconds histogram\nbizra_finality_check_seconds_bucket{le=\"+Inf\"} 1\nbizra_finality_check_seconds_sum 0.0003\nbizra_finality_check_seconds_count 1\n# TYPE bizra_poi_generate_seconds histogram\nbizra_poi_generate_seconds_count 5\n# TYPE bizra_poi_verify_seconds histogram\nbizra_poi_verify_seconds_count 5\n";

    pub fn service() -> serde_json::Value {
        json!({
            "metadata": {"name": "bizra-apex", "labels": {"app": "bizra-apex"}},
            "spec": {"clusterIP": "10.96.0.10", "selector": {"app": "bizra-apex"}, "ports": [
                {"name": "http", "port": 8080}, {"name": "rpc", "port": 9944}, {"name": "ws", "port": 9945},
                {"name": "p2p", "port": 30333}, {"name": "rust-metrics", "port": 9464}
            ]}
        })
    }

    pub fn endpoint_slice() -> serde_json::Value {
        let endpoints: Vec<_> = POD_NAMES
            .iter()
            .enumerate()
            .map(|(i, p)| json!({"addresses": [format!("10.244.0.{}", i + 1)], "conditions": {"ready": true}, "targetRef": {"kind": "Pod", "name": p}}))
            .collect();
        json!({"metadata": {"name": "bizra-apex-x"}, "addressType": "IPv4", "endpoints": endpoints})
    }

    pub fn service_monitor() -> serde_json::Value {
        json!({
            "apiVersion": "monitoring.coreos.com/v1", "kind": "ServiceMonitor",
            "metadata": {"name": "bizra-rust"},
            "spec": {
                "selector": {"matchLabels": {"app": "bizra-apex"}},
                "endpoints": [{"port": "rust-metrics", "path": "/metrics", "interval": "5s", "metricRelabelings": [
                    {"sourceLabels": ["__name__"], "regex": "bizra_(poi|finality|consensus)_.*", "action": "keep"}
                ]}]
            }
        })
    }

    pub fn config_map() -> serde_json::Value {
        json!({"metadata": {"name": "bizra-config"}, "data": {"BIZRA_USE_RUST": "true", "METRICS_PORT": "9464"}})
    }

    fn from<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
        serde_json::from_value(value).expect("fixture")
    }

    pub fn healthy() -> Snapshot {
        let pods = POD_NAMES
            .iter()
            .enumerate()
            .map(|(i, p)| from(pod(p, &format!("10.244.0.{}", i + 1))))
            .collect();
        Snapshot {
            collected_at: "2026-11-28T12:00:00Z".parse().expect("time"),
            namespace: "testnet".into(),
            deployment: Fetch::Ok(from(deployment())),
            pods: Fetch::Ok(pods),
            service: Fetch::Ok(from(service())),
            endpoint_slices: Fetch::Ok(vec![from(endpoint_slice())]),
            service_monitor: Fetch::Ok(service_monitor()),
            pod_metrics: Fetch::NotServed("the metrics API is not served".into()),
            scrapes: POD_NAMES
                .iter()
                .map(|p| (p.to_string(), Fetch::Ok(METRICS.to_owned())))
                .collect(),
            logs: POD_NAMES
                .iter()
                .map(|p| {
                    (
                        p.to_string(),
                        Fetch::Ok(PodLog {
                            text: "INFO bizra::node: started\n".to_owned(),
                            truncated: false,
                        }),
                    )
                })
                .collect(),
            config_maps: BTreeMap::from([(
                "bizra-config".to_owned(),
                Fetch::Ok(from(config_map())),
            )]),
            prometheus: None,
            exec_env: None,
        }
    }

    /// Rebuilds a typed value after editing its JSON.
    pub fn edit<T: serde::Serialize + serde::de::DeserializeOwned>(
        value: &mut T,
        change: impl FnOnce(&mut serde_json::Value),
    ) {
        let mut json = serde_json::to_value(&*value).expect("serialize");
        change(&mut json);
        *value = serde_json::from_value(json).expect("deserialize");
    }
}
