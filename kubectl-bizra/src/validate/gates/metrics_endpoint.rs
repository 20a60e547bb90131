//! Gate 2: every pod answers on the metrics port with valid Prometheus text holding the required
//! metric families.

use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::promtext::parse_families;
use crate::validate::{GateId, GateResult, PodDetail, Status, from_pods};

const GATE: GateId = GateId::MetricsEndpoint;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[Input::Scrapes];

pub fn metrics_endpoint(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let metrics = &expectations.metrics;
    if snapshot.pods.ok().is_none_or(|p| p.is_empty()) {
        return GateResult::inconclusive(GATE, "no pods to scrape");
    }
    let details = snapshot
        .scrapes
        .iter()
        .map(|(pod, fetched)| {
            let (status, message) = match fetched {
                Fetch::Ok(text) => match parse_families(text) {
                    Err(e) => (Status::Fail, format!("malformed metrics text ({e})")),
                    Ok(families) => {
                        let missing: Vec<&str> = metrics
                            .required_families
                            .iter()
                            .filter(|f| !families.contains(*f))
                            .map(String::as_str)
                            .collect();
                        if missing.is_empty() {
                            (Status::Pass, "all required families present".into())
                        } else {
                            (Status::Fail, format!("missing {}", missing.join(", ")))
                        }
                    }
                },
                Fetch::Forbidden(m) => (
                    Status::Inconclusive,
                    format!("cannot scrape: forbidden: {m}"),
                ),
                other => (
                    Status::Fail,
                    format!(
                        "no answer on :{}{}: {}",
                        metrics.port,
                        metrics.path,
                        other.problem().unwrap_or_default()
                    ),
                ),
            };
            PodDetail {
                pod: pod.clone(),
                status,
                message,
            }
        })
        .collect();
    from_pods(GATE, details, "serve every required metric family").measured(
        format!("port {}{}", metrics.port, metrics.path),
        metrics.required_families.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::gates::fixtures::{METRICS, healthy};

    #[test]
    fn every_pod_with_every_family_passes() {
        assert_eq!(
            metrics_endpoint(&healthy(), &Expectations::default()).status,
            Status::Pass
        );
    }

    #[test]
    fn the_pod_missing_a_family_is_named() {
        let mut snapshot = healthy();
        let without_verify: String = METRICS
            .lines()
            .filter(|l| !l.contains("poi_verify"))
            .map(|l| format!("{l}\n"))
            .collect();
        snapshot
            .scrapes
            .insert("bizra-apex-abc-3".into(), Fetch::Ok(without_verify));
        let result = metrics_endpoint(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.pods,
            [PodDetail {
                pod: "bizra-apex-abc-3".into(),
                status: Status::Fail,
                message: "missing bizra_poi_verify_seconds".into()
            }]
        );
    }

    #[test]
    fn malformed_text_and_silent_pods_fail() {
        let mut snapshot = healthy();
        snapshot.scrapes.insert(
            "bizra-apex-abc-1".into(),
            Fetch::Ok("<html>502 Bad Gateway</html>\n".into()),
        );
        snapshot.scrapes.insert(
            "bizra-apex-abc-2".into(),
            Fetch::Failed("connection refused".into()),
        );
        let result = metrics_endpoint(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert!(
            result.pods[0]
                .message
                .starts_with("malformed metrics text (line 1"),
            "{:?}",
            result.pods
        );
        assert_eq!(
            result.pods[1].message,
            "no answer on :9464/metrics: connection refused"
        );
    }
}
