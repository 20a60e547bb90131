//! `validate`: the deployment gates of the testnet validation report.
//!
//! [`collect`] reads what the gates need from the cluster (and Prometheus) concurrently, into a
//! [`collect::Snapshot`]; each gate in [`gates`] is a pure function from that snapshot to a
//! [`GateResult`]. The JSON/YAML form of [`Report`] is a stable, documented schema.

pub mod collect;
pub mod config;
pub mod env;
pub mod gates;
pub mod junit;
pub mod promtext;
pub mod quantity;

use serde::Serialize;

use crate::exit_code::ExitStatus;

/// The gates, in the report's order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum GateId {
    PodHealth,
    MetricsEndpoint,
    PrometheusScraping,
    ResourceUsage,
    ErrorLogs,
    ServiceConnectivity,
    Environment,
    Security,
    Sla,
}

impl GateId {
    pub const ALL: [GateId; 9] = [
        GateId::PodHealth,
        GateId::MetricsEndpoint,
        GateId::PrometheusScraping,
        GateId::ResourceUsage,
        GateId::ErrorLogs,
        GateId::ServiceConnectivity,
        GateId::Environment,
        GateId::Security,
        GateId::Sla,
    ];

    pub fn name(self) -> &'static str {
        match self {
            GateId::PodHealth => "pod-health",
            GateId::MetricsEndpoint => "metrics-endpoint",
            GateId::PrometheusScraping => "prometheus-scraping",
            GateId::ResourceUsage => "resource-usage",
            GateId::ErrorLogs => "error-logs",
            GateId::ServiceConnectivity => "service-connectivity",
            GateId::Environment => "environment",
            GateId::Security => "security",
            GateId::Sla => "sla",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    Skipped,
    Inconclusive,
    Fail,
}

impl Status {
    pub fn name(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Skipped => "skipped",
            Status::Inconclusive => "inconclusive",
            Status::Fail => "fail",
        }
    }
}

/// What one pod contributed to a gate's verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodDetail {
    pub pod: String,
    pub status: Status,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct GateResult {
    pub gate: GateId,
    pub status: Status,
    /// One line for people: why it passed, failed or could not be decided.
    pub message: String,
    /// What was measured, when the gate measures something.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub observed: Option<String>,
    /// What it was compared with.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<String>,
    /// Per-pod evidence; pods that passed are listed only when something else did not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub pods: Vec<PodDetail>,
}

impl GateResult {
    pub fn new(gate: GateId, status: Status, message: impl Into<String>) -> Self {
        GateResult {
            gate,
            status,
            message: message.into(),
            observed: None,
            threshold: None,
            pods: Vec::new(),
        }
    }

    pub fn pass(gate: GateId, message: impl Into<String>) -> Self {
        Self::new(gate, Status::Pass, message)
    }

    pub fn fail(gate: GateId, message: impl Into<String>) -> Self {
        Self::new(gate, Status::Fail, message)
    }

    pub fn inconclusive(gate: GateId, message: impl Into<String>) -> Self {
        Self::new(gate, Status::Inconclusive, message)
    }

    pub fn skipped(gate: GateId, message: impl Into<String>) -> Self {
        Self::new(gate, Status::Skipped, message)
    }

    pub fn measured(mut self, observed: impl Into<String>, threshold: impl Into<String>) -> Self {
        self.observed = Some(observed.into());
        self.threshold = Some(threshold.into());
        self
    }

    pub fn with_pods(mut self, pods: Vec<PodDetail>) -> Self {
        self.pods = pods;
        self
    }
}

/// Folds per-pod outcomes into a gate verdict: any failed pod fails the gate, else any pod that
/// could not be judged makes it inconclusive. Only the pods that did not pass are kept as detail.
pub fn from_pods(gate: GateId, pods: Vec<PodDetail>, what: &str) -> GateResult {
    let total = pods.len();
    let worst = pods.iter().map(|p| p.status).max().unwrap_or(Status::Pass);
    let bad: Vec<PodDetail> = pods
        .into_iter()
        .filter(|p| p.status != Status::Pass)
        .collect();
    let message = match worst {
        Status::Pass | Status::Skipped => format!("{total} of {total} pods {what}"),
        _ => {
            let names: Vec<&str> = bad.iter().map(|p| p.pod.as_str()).collect();
            format!("{} of {total} pods not ok: {}", bad.len(), names.join(", "))
        }
    };
    GateResult::new(gate, worst, message).with_pods(bad)
}

/// The machine-readable result of `validate` (`-o json|yaml`). Fields are only ever added.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub namespace: String,
    pub deployment: String,
    /// The worst gate status (`skipped` gates do not count).
    pub status: Status,
    pub gates: Vec<GateResult>,
}

impl Report {
    pub fn new(namespace: &str, deployment: &str, gates: Vec<GateResult>) -> Self {
        let status = gates
            .iter()
            .map(|g| g.status)
            .filter(|s| *s != Status::Skipped)
            .max()
            .unwrap_or(Status::Pass);
        Report {
            api_version: crate::output::API_VERSION,
            kind: "ValidationReport",
            namespace: namespace.to_owned(),
            deployment: deployment.to_owned(),
            status,
            gates,
        }
    }

    pub fn exit_status(&self) -> ExitStatus {
        match self.status {
            Status::Pass | Status::Skipped => ExitStatus::Success,
            Status::Inconclusive => ExitStatus::Inconclusive,
            Status::Fail => ExitStatus::Failed,
        }
    }
}

/// The table for people: one row per gate, then the per-pod evidence of the gates that did not pass.
pub fn render_table(report: &Report) -> String {
    let rows = report.gates.iter().map(|g| {
        vec![
            g.gate.name().to_owned(),
            g.status.name().to_uppercase(),
            g.observed.clone().unwrap_or_default(),
            g.message.clone(),
        ]
    });
    // Thresholds are in the JSON and YAML output; the table keeps to what was seen.
    let mut text = crate::output::table(&["gate", "status", "observed", "message"], rows);
    for gate in report.gates.iter().filter(|g| !g.pods.is_empty()) {
        text.push_str(&format!("\n{}:\n", gate.gate.name()));
        for pod in &gate.pods {
            text.push_str(&format!(
                "  {} [{}] {}\n",
                pod.pod,
                pod.status.name(),
                pod.message
            ));
        }
    }
    text.push_str(&format!(
        "\nresult: {}/{}: {}\n",
        report.namespace,
        report.deployment,
        report.status.name().to_uppercase()
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, status: Status) -> PodDetail {
        PodDetail {
            pod: name.into(),
            status,
            message: format!("{name} is {}", status.name()),
        }
    }

    #[test]
    fn the_worst_pod_decides_and_only_bad_pods_are_kept() {
        let gate = from_pods(
            GateId::PodHealth,
            vec![pod("a", Status::Pass), pod("b", Status::Inconclusive)],
            "ready",
        );
        assert_eq!(gate.status, Status::Inconclusive);
        assert_eq!(gate.pods, vec![pod("b", Status::Inconclusive)]);
        let gate = from_pods(
            GateId::PodHealth,
            vec![pod("a", Status::Fail), pod("b", Status::Inconclusive)],
            "ready",
        );
        assert_eq!(gate.status, Status::Fail);
        assert_eq!(gate.message, "2 of 2 pods not ok: a, b");
        let gate = from_pods(GateId::PodHealth, vec![pod("a", Status::Pass)], "ready");
        assert_eq!(
            (gate.status, gate.message.as_str()),
            (Status::Pass, "1 of 1 pods ready")
        );
    }

    #[test]
    fn report_status_and_exit_code_follow_the_worst_gate_ignoring_skipped() {
        let report = Report::new(
            "ns",
            "d",
            vec![
                GateResult::pass(GateId::PodHealth, ""),
                GateResult::skipped(GateId::Sla, ""),
            ],
        );
        assert_eq!(
            (report.status, report.exit_status()),
            (Status::Pass, ExitStatus::Success)
        );
        let report = Report::new(
            "ns",
            "d",
            vec![
                GateResult::pass(GateId::PodHealth, ""),
                GateResult::inconclusive(GateId::Sla, ""),
            ],
        );
        assert_eq!(report.exit_status(), ExitStatus::Inconclusive);
        let report = Report::new(
            "ns",
            "d",
            vec![
                GateResult::fail(GateId::PodHealth, ""),
                GateResult::inconclusive(GateId::Sla, ""),
            ],
        );
        assert_eq!(report.exit_status(), ExitStatus::Failed);
    }
}

#[cfg(test)]
mod snapshot_tests {
    use super::collect::Fetch;
    use super::config::Expectations;
    use super::gates::fixtures::{edit, healthy};
    use super::*;

    fn report(snapshot: &collect::Snapshot) -> Report {
        let expectations = Expectations::default();
        let gates = GateId::ALL
            .iter()
            .map(|g| gates::evaluate(*g, snapshot, &expectations))
            .collect();
        Report::new("testnet", "bizra-apex", gates)
    }

    fn failing() -> collect::Snapshot {
        let mut snapshot = healthy();
        if let Fetch::Ok(pods) = &mut snapshot.pods {
            edit(&mut pods[1], |p| {
                p["status"]["containerStatuses"][0]["restartCount"] = 3.into()
            });
        }
        snapshot.logs.insert(
            "bizra-apex-abc-3".into(),
            Fetch::Ok(collect::PodLog {
                text: "INFO ok\nERROR consensus: fork detected\n".into(),
                truncated: false,
            }),
        );
        snapshot.service_monitor = Fetch::NotServed(
            "the ServiceMonitor CRD (monitoring.coreos.com/v1) is not served by this cluster"
                .into(),
        );
        snapshot
    }

    #[test]
    fn table_of_a_healthy_deployment() {
        insta::assert_snapshot!(render_table(&report(&healthy())));
    }

    #[test]
    fn table_with_failures_and_pod_evidence() {
        insta::assert_snapshot!(render_table(&report(&failing())));
    }

    #[test]
    fn json_schema_of_a_report() {
        insta::assert_json_snapshot!(report(&failing()));
    }
}
