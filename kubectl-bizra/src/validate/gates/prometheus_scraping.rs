//! Gate 3: ServiceMonitor `bizra-rust` exists and scrapes the Service's metrics port at the
//! expected path and interval, keeping the node's series; with a Prometheus given, every pod is
//! an `up` target.

use regex::Regex;
use serde_json::Value;

use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::{GateId, GateResult, PodDetail, Status};

const GATE: GateId = GateId::PrometheusScraping;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[
    Input::Service,
    Input::ServiceMonitor,
    Input::PrometheusTargets,
];

/// The gate's PromQL: Prometheus's `up` for the pods `selector` picks.
pub fn up_query(selector: &str) -> String {
    format!("up{{{selector}}}")
}

/// Problems of the ServiceMonitor object, against the Service and the expectations.
fn service_monitor_problems(
    monitor: &Value,
    snapshot: &Snapshot,
    expectations: &Expectations,
) -> Vec<String> {
    let wanted = &expectations.service_monitor;
    let mut problems = Vec::new();
    let endpoints = monitor["spec"]["endpoints"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let Some(endpoint) = endpoints.iter().find(|e| e["port"] == wanted.port.as_str()) else {
        problems.push(format!("no endpoint scrapes port {:?}", wanted.port));
        return problems;
    };
    let path = endpoint["path"].as_str().unwrap_or("/metrics");
    if path != wanted.path {
        problems.push(format!("path is {path:?}, expected {:?}", wanted.path));
    }
    let interval = endpoint["interval"].as_str().unwrap_or("(unset)");
    if interval != wanted.interval {
        problems.push(format!(
            "interval is {interval}, expected {}",
            wanted.interval
        ));
    }
    if let Some(service) = snapshot.service.ok() {
        let has_port = service
            .spec
            .iter()
            .flat_map(|s| s.ports.iter().flatten())
            .any(|p| p.name.as_deref() == Some(wanted.port.as_str()));
        if !has_port {
            problems.push(format!(
                "Service {:?} has no port named {:?}",
                expectations.service.name, wanted.port
            ));
        }
        let labels = service.metadata.labels.clone().unwrap_or_default();
        let selects = monitor["spec"]["selector"]["matchLabels"]
            .as_object()
            .is_some_and(|m| {
                m.iter()
                    .all(|(k, v)| labels.get(k).map(String::as_str) == v.as_str())
            });
        if !selects {
            problems.push(format!(
                "its selector does not match Service {:?}",
                expectations.service.name
            ));
        }
    }
    // Series survive when no keep rule drops them (Prometheus anchors the regex).
    let relabelings = endpoint["metricRelabelings"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for rule in relabelings.iter().filter(|r| r["action"] == "keep") {
        let on_name = rule["sourceLabels"]
            .as_array()
            .is_some_and(|l| l.len() == 1 && l[0] == "__name__");
        let pattern = rule["regex"].as_str().unwrap_or("(.*)");
        match Regex::new(&format!("^(?:{pattern})$")) {
            Err(e) => problems.push(format!("keep rule regex {pattern:?} is invalid: {e}")),
            Ok(regex) if on_name => {
                for series in wanted.kept_series.iter().filter(|s| !regex.is_match(s)) {
                    problems.push(format!("keep rule {pattern:?} drops {series}"));
                }
            }
            Ok(_) => {}
        }
    }
    problems
}

pub fn prometheus_scraping(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let name = &expectations.service_monitor.name;
    let threshold = format!(
        "port {}, {}, every {}",
        expectations.service_monitor.port,
        expectations.service_monitor.path,
        expectations.service_monitor.interval
    );
    let monitor = match &snapshot.service_monitor {
        Fetch::Ok(monitor) => monitor,
        Fetch::NotServed(m) => {
            return GateResult::fail(GATE, format!("{m}: install the Prometheus Operator CRDs"))
                .measured("no CRD", threshold);
        }
        Fetch::NotFound(_) => {
            return GateResult::fail(GATE, format!("ServiceMonitor {name:?} does not exist"))
                .measured("absent", threshold);
        }
        other => {
            return GateResult::inconclusive(
                GATE,
                format!(
                    "cannot read ServiceMonitor {name:?}: {}",
                    other.problem().unwrap_or_default()
                ),
            );
        }
    };
    let problems = service_monitor_problems(monitor, snapshot, expectations);
    if !problems.is_empty() {
        return GateResult::fail(
            GATE,
            format!("ServiceMonitor {name:?}: {}", problems.join("; ")),
        )
        .measured("misconfigured", threshold);
    }
    let Some(prometheus) = &snapshot.prometheus else {
        return GateResult::pass(
            GATE,
            format!("ServiceMonitor {name:?} matches; no Prometheus given to check targets"),
        )
        .measured("configured", threshold);
    };
    let up = match &prometheus.up {
        Fetch::Ok(samples) => samples,
        other => {
            return GateResult::inconclusive(
                GATE,
                format!(
                    "ServiceMonitor matches, but {}",
                    other.problem().unwrap_or_default()
                ),
            )
            .measured("configured", threshold);
        }
    };
    let pods = snapshot.pods.ok().cloned().unwrap_or_default();
    let details: Vec<PodDetail> = pods
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .map(|pod| {
            let value = up
                .iter()
                .find(|s| s.labels.get("pod") == Some(&pod))
                .map(|s| s.value);
            let (status, message) = match value {
                Some(1.0) => (Status::Pass, "up".to_owned()),
                Some(_) => (Status::Fail, "target is down (up == 0)".to_owned()),
                None => (
                    Status::Fail,
                    format!("not a target of {}", prometheus.target),
                ),
            };
            PodDetail {
                pod,
                status,
                message,
            }
        })
        .collect();
    let up_count = details.iter().filter(|d| d.status == Status::Pass).count();
    let total = details.len();
    let mut result = crate::validate::from_pods(GATE, details, "are up targets");
    result.message = format!("ServiceMonitor {name:?} matches; {}", result.message);
    result.measured(format!("{up_count}/{total} up"), threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prometheus::Sample;
    use crate::validate::collect::PrometheusData;
    use crate::validate::gates::fixtures::{POD_NAMES, healthy};

    #[test]
    fn the_seed_service_monitor_passes() {
        let result = prometheus_scraping(&healthy(), &Expectations::default());
        assert_eq!(result.status, Status::Pass, "{result:?}");
    }

    #[test]
    fn a_missing_crd_is_reported_as_such() {
        let mut snapshot = healthy();
        snapshot.service_monitor = Fetch::NotServed(
            "the ServiceMonitor CRD (monitoring.coreos.com/v1) is not served by this cluster"
                .into(),
        );
        let result = prometheus_scraping(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert!(
            result.message.contains("CRD")
                && result
                    .message
                    .contains("install the Prometheus Operator CRDs"),
            "{}",
            result.message
        );
    }

    #[test]
    fn a_wrong_object_names_every_difference() {
        let mut snapshot = healthy();
        if let Fetch::Ok(monitor) = &mut snapshot.service_monitor {
            monitor["spec"]["endpoints"][0]["interval"] = "30s".into();
            monitor["spec"]["endpoints"][0]["metricRelabelings"][0]["regex"] =
                "bizra_poi_.*".into();
        }
        let result = prometheus_scraping(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert!(
            result.message.contains("interval is 30s, expected 5s"),
            "{}",
            result.message
        );
        assert!(
            result
                .message
                .contains("drops bizra_finality_check_seconds_bucket"),
            "{}",
            result.message
        );
    }

    #[test]
    fn with_prometheus_every_pod_must_be_up() {
        let mut snapshot = healthy();
        let samples = POD_NAMES[..2]
            .iter()
            .map(|p| Sample {
                labels: [("pod".to_owned(), p.to_string())].into(),
                value: 1.0,
            })
            .collect();
        snapshot.prometheus = Some(PrometheusData {
            target: "http://127.0.0.1:9090".into(),
            up: Fetch::Ok(samples),
            finality_p99: Fetch::Ok(vec![]),
            poi_generate: Fetch::Ok(vec![]),
            poi_verify: Fetch::Ok(vec![]),
        });
        let result = prometheus_scraping(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.observed.as_deref(), Some("2/3 up"));
        assert_eq!(result.pods[0].pod, POD_NAMES[2]);
    }
}
