//! The monitoring assets on their own: the PrometheusRule passes `promtool check rules` and the
//! alert unit tests in tests/manifests/alerts.test.yaml, and every PromQL expression parses.
//! Needs Debian's `promtool` (tests/setup.sh installs it); no cluster.

#[path = "../support/mod.rs"]
mod support;

use std::process::Command;

use support::promql;

fn promtool(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new("promtool")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("promtool runs (install Debian's prometheus package: tests/setup.sh)")
}

#[test]
fn prometheus_rule_passes_promtool_check_and_alert_unit_tests() {
    let root = support::repo_root();
    let rule: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("manifests/base/prometheusrule.yaml"))
            .expect("rule file"),
    )
    .expect("rule YAML");
    // promtool reads plain rule files: the PrometheusRule's spec is one.
    let dir = std::env::temp_dir().join(format!("bizra-promtool-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    std::fs::write(
        dir.join("rules.yaml"),
        serde_json::to_string(&rule["spec"]).expect("spec"),
    )
    .expect("write rules");
    std::fs::copy(
        root.join("tests/manifests/alerts.test.yaml"),
        dir.join("alerts.test.yaml"),
    )
    .expect("copy tests");

    let check = promtool(&dir, &["check", "rules", "rules.yaml"]);
    let check_out = String::from_utf8_lossy(&check.stdout);
    assert!(
        check.status.success(),
        "promtool check rules:\n{check_out}{}",
        String::from_utf8_lossy(&check.stderr)
    );
    assert!(check_out.contains("SUCCESS: 5 rules found"), "{check_out}");

    let test = promtool(&dir, &["test", "rules", "alerts.test.yaml"]);
    assert!(
        test.status.success(),
        "promtool test rules:\n{}{}",
        String::from_utf8_lossy(&test.stdout),
        String::from_utf8_lossy(&test.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn every_promql_expression_of_the_rules_and_dashboard_parses() {
    let expressions = promql::expressions();
    assert_eq!(
        expressions.len(),
        5 + 11,
        "5 alerts and 11 dashboard targets"
    );
    for (place, expr) in expressions {
        let parsed = promql::parse(&expr).unwrap_or_else(|e| panic!("{place}: {e}\n{expr}"));
        assert!(
            !promql::metric_names(&parsed).is_empty(),
            "{place} reads no metric: {expr}"
        );
    }
}

#[test]
fn a_broken_expression_does_not_parse() {
    assert!(promql::parse("sum(rate(bizra_errors_total[5m])").is_err());
    assert!(
        promql::parse(&promql::grafana_to_promql(
            "rate(x{namespace=\"$namespace\"}[$__rate_interval])"
        ))
        .is_ok()
    );
}

#[test]
fn metric_names_are_collected_from_every_branch() {
    let expr =
        promql::parse("sum(rate(a_total[5m])) / on(pod) b or histogram_quantile(0.9, c_bucket)")
            .expect("valid");
    let names: Vec<String> = promql::metric_names(&expr).into_iter().collect();
    assert_eq!(names, ["a_total", "b", "c_bucket"]);
}

#[test]
fn the_canary_analysis_queries_parse_and_read_the_nodes_rpc_series() {
    let analysis = kubectl_bizra::canary::plan::Analysis::default();
    let queries = kubectl_bizra::canary::analysis::queries(&analysis, "testnet");
    assert_eq!(queries.len(), 6);
    for query in queries {
        let parsed = promql::parse(&query.query)
            .unwrap_or_else(|e| panic!("{} {}: {e}\n{}", query.track, query.name, query.query));
        let names = promql::metric_names(&parsed);
        assert!(
            names.iter().all(|n| n.starts_with("bizra_rpc_request")),
            "{} reads {names:?}",
            query.name
        );
    }
}
