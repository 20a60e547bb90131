//! The PromQL of our monitoring assets: every expression of the PrometheusRule and the Grafana
//! dashboard, parsed, and the metric names each one reads.

use std::collections::BTreeSet;

use promql_parser::parser::{self, Expr};

use super::repo_root;

/// (where, expression) for every alert rule and every dashboard target.
pub fn expressions() -> Vec<(String, String)> {
    let root = repo_root();
    let rule: serde_json::Value = serde_saphyr::from_str(
        &std::fs::read_to_string(root.join("manifests/base/prometheusrule.yaml"))
            .expect("rule file"),
    )
    .expect("rule YAML");
    let mut found = Vec::new();
    for group in rule["spec"]["groups"].as_array().expect("groups") {
        for rule in group["rules"].as_array().expect("rules") {
            let name = rule["alert"]
                .as_str()
                .or(rule["record"].as_str())
                .unwrap_or("?");
            found.push((
                format!("alert {name}"),
                rule["expr"].as_str().expect("expr").to_owned(),
            ));
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("manifests/base/grafana-rust-metrics.json"))
            .expect("dashboard"),
    )
    .expect("dashboard JSON");
    for panel in dashboard["panels"].as_array().expect("panels") {
        for target in panel["targets"].as_array().expect("targets") {
            let place = format!(
                "panel {:?} target {}",
                panel["title"].as_str().unwrap_or("?"),
                target["refId"]
            );
            found.push((
                place,
                grafana_to_promql(target["expr"].as_str().expect("expr")),
            ));
        }
    }
    found
}

/// Replaces Grafana's template variables with values PromQL accepts, as Grafana does before it
/// sends a query.
pub fn grafana_to_promql(expr: &str) -> String {
    expr.replace("$__rate_interval", "1m")
        .replace("$__interval", "1m")
        .replace("$__range", "1h")
        .replace("$namespace", "testnet")
}

pub fn parse(expr: &str) -> Result<Expr, String> {
    parser::parse(expr)
}

/// The metric names an expression selects.
pub fn metric_names(expr: &Expr) -> BTreeSet<String> {
    fn walk(expr: &Expr, out: &mut BTreeSet<String>) {
        match expr {
            Expr::Aggregate(e) => {
                walk(&e.expr, out);
                if let Some(param) = &e.param {
                    walk(param, out);
                }
            }
            Expr::Unary(e) => walk(&e.expr, out),
            Expr::Binary(e) => {
                walk(&e.lhs, out);
                walk(&e.rhs, out);
            }
            Expr::Paren(e) => walk(&e.expr, out),
            Expr::Subquery(e) => walk(&e.expr, out),
            Expr::VectorSelector(vs) => {
                out.extend(vs.name.clone());
            }
            Expr::MatrixSelector(ms) => {
                out.extend(ms.vs.name.clone());
            }
            Expr::Call(call) => call.args.args.iter().for_each(|arg| walk(arg, out)),
            Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
        }
    }
    let mut names = BTreeSet::new();
    walk(expr, &mut names);
    names
}

/// Standard metrics of kube-state-metrics and cAdvisor (the kubelet) that the assets may use.
pub const STANDARD_KUBERNETES_METRICS: &[&str] = &[
    "kube_pod_status_ready",
    "kube_pod_container_status_restarts_total",
    "container_cpu_usage_seconds_total",
    "container_memory_working_set_bytes",
];
