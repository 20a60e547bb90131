//! Gate 6: Service `bizra-apex` has a ClusterIP, the five named ports, and a ready endpoint
//! (EndpointSlices) for every replica.

use std::collections::BTreeSet;

use super::unreadable;
use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::{GateId, GateResult, PodDetail, Status};

const GATE: GateId = GateId::ServiceConnectivity;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[Input::Service, Input::EndpointSlices];

pub fn service_connectivity(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let name = &expectations.service.name;
    let Fetch::Ok(service) = &snapshot.service else {
        return unreadable(GATE, &format!("Service {name:?}"), &snapshot.service);
    };
    let spec = service.spec.clone().unwrap_or_default();
    let mut problems = Vec::new();
    match spec.cluster_ip.as_deref() {
        None | Some("") | Some("None") => problems.push("no ClusterIP".to_owned()),
        Some(_) => {}
    }
    let ports = spec.ports.unwrap_or_default();
    for (port_name, number) in &expectations.service.ports {
        match ports
            .iter()
            .find(|p| p.name.as_deref() == Some(port_name.as_str()))
        {
            None => problems.push(format!("no port named {port_name}")),
            Some(p) if p.port != *number => {
                problems.push(format!("port {port_name} is {}, expected {number}", p.port))
            }
            Some(_) => {}
        }
    }
    let threshold = format!(
        "ClusterIP, {} ports, a ready endpoint per replica",
        expectations.service.ports.len()
    );
    if !problems.is_empty() {
        return GateResult::fail(GATE, format!("Service {name:?}: {}", problems.join("; ")))
            .measured("misconfigured", threshold);
    }
    let Fetch::Ok(slices) = &snapshot.endpoint_slices else {
        return unreadable(
            GATE,
            "the Service's EndpointSlices",
            &snapshot.endpoint_slices,
        );
    };
    let ready: BTreeSet<String> = slices
        .iter()
        .flat_map(|s| s.endpoints.iter().flatten())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false))
        .filter_map(|e| {
            e.target_ref
                .as_ref()
                .filter(|r| r.kind.as_deref() == Some("Pod"))
                .and_then(|r| r.name.clone())
        })
        .collect();
    let pods: Vec<String> = snapshot
        .pods
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    if pods.is_empty() {
        return GateResult::fail(GATE, "the Deployment has no pods to serve the Service");
    }
    let missing: Vec<PodDetail> = pods
        .iter()
        .filter(|p| !ready.contains(*p))
        .map(|p| PodDetail {
            pod: p.clone(),
            status: Status::Fail,
            message: "no ready endpoint".into(),
        })
        .collect();
    let observed = format!(
        "{}/{} ready endpoints",
        pods.len() - missing.len(),
        pods.len()
    );
    if missing.is_empty() {
        GateResult::pass(
            GATE,
            format!(
                "Service {name:?} has a ClusterIP, every port, and a ready endpoint per replica"
            ),
        )
        .measured(observed, threshold)
    } else {
        GateResult::fail(
            GATE,
            format!(
                "{} of {} replicas have no ready endpoint",
                missing.len(),
                pods.len()
            ),
        )
        .measured(observed, threshold)
        .with_pods(missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::gates::fixtures::{edit, healthy};

    #[test]
    fn the_seed_service_passes() {
        let result = service_connectivity(&healthy(), &Expectations::default());
        assert_eq!(result.status, Status::Pass, "{result:?}");
    }

    #[test]
    fn a_missing_endpoint_names_the_pod() {
        let mut snapshot = healthy();
        if let Fetch::Ok(slices) = &mut snapshot.endpoint_slices {
            edit(&mut slices[0], |s| {
                s["endpoints"][1]["conditions"]["ready"] = false.into()
            });
        }
        let result = service_connectivity(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.pods[0].pod, "bizra-apex-abc-2");
        assert_eq!(result.observed.as_deref(), Some("2/3 ready endpoints"));
    }

    #[test]
    fn wrong_ports_and_a_headless_service_fail() {
        let mut snapshot = healthy();
        if let Fetch::Ok(service) = &mut snapshot.service {
            edit(service, |s| {
                s["spec"]["clusterIP"] = "None".into();
                s["spec"]["ports"][1]["port"] = 9955.into();
                s["spec"]["ports"].as_array_mut().expect("ports").remove(4);
            });
        }
        let result = service_connectivity(&snapshot, &Expectations::default());
        assert_eq!(
            result.message,
            "Service \"bizra-apex\": no ClusterIP; port rpc is 9955, expected 9944; no port named rust-metrics"
        );
    }
}
