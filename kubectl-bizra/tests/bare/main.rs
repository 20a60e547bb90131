//! Behaviour on a cluster without the optional CRDs (Prometheus Operator, Istio, Kubewarden).
//! tests/run.sh runs this binary before it installs them.

#[path = "../support/mod.rs"]
mod support;

use support::*;

#[test]
#[ignore = "needs the local cluster without optional CRDs; run by tests/run.sh"]
fn deploy_skips_optional_kinds_whose_crd_is_absent() {
    let ns = TestNamespace::new("bare-deploy");
    // A missing CRD does not heal by waiting: bound the gates' re-checking.
    let (code, report) =
        bizra_json(&["deploy", "-n", &ns.name, "--timeout", "2m", "--wait", "15s"]);
    // Applied and rolled out; then the gates find what is missing: the ServiceMonitor CRD, and
    // only that.
    assert_eq!(code, 1, "{report}");
    let failed: Vec<&str> = report["validation"]["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .filter(|g| g["status"] == "fail")
        .map(|g| g["gate"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(failed, ["prometheus-scraping"], "{report}");
    for rollout in report["rollouts"].as_array().expect("rollouts") {
        assert_eq!(rollout["state"], "complete", "{rollout}");
    }
    for applied in report["applied"].as_array().expect("applied") {
        let optional = [
            "DestinationRule",
            "VirtualService",
            "ServiceMonitor",
            "PrometheusRule",
        ]
        .contains(&applied["kind"].as_str().unwrap_or(""));
        if optional {
            assert_eq!(applied["action"], "skipped", "{applied}");
            assert!(
                applied["detail"]
                    .as_str()
                    .unwrap_or("")
                    .contains("CRD is not installed"),
                "{applied}"
            );
        } else {
            assert_ne!(applied["action"], "skipped", "{applied}");
        }
    }
}

#[test]
#[ignore = "needs the local cluster without optional CRDs; run by tests/run.sh"]
fn validate_reports_an_absent_service_monitor_crd_as_such() {
    let ns = TestNamespace::new("bare-validate");
    let (code, report) =
        bizra_json(&["deploy", "-n", &ns.name, "--no-validate", "--timeout", "2m"]);
    assert_eq!(code, 0, "{report}");
    let (code, report) = bizra_json(&["validate", "-n", &ns.name, "--gate", "prometheus-scraping"]);
    assert_eq!(code, 1, "{report}");
    let scraping = gate(&report, "prometheus-scraping");
    assert_eq!(scraping["status"], "fail");
    let message = scraping["message"].as_str().unwrap_or("");
    assert!(
        message.contains("ServiceMonitor CRD") && message.contains("not served"),
        "{message}"
    );
}
