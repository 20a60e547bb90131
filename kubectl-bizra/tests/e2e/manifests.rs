use std::collections::BTreeSet;
use std::process::{Command, Stdio};

use crate::support::*;

const KUBECONFORM: &str = "/var/cache/kubectl-bizra/kubeconform-v0.7.0/bin/kubeconform";

fn kubeconform_binary() -> String {
    let cache = std::env::var("BIZRA_CACHE").unwrap_or_else(|_| "/var/cache/kubectl-bizra".into());
    let path = KUBECONFORM.replace("/var/cache/kubectl-bizra", &cache);
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} missing: run tests/cluster/build-tools.sh"
    );
    path
}

/// Strict JSON schemas for every kind the cluster serves, CRDs included, from its OpenAPI.
fn cluster_schemas() -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("kubeconform-schemas");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("schema dir");
    let openapi = dir.join("openapi-v2.json");
    std::fs::write(&openapi, kubectl_ok(&["get", "--raw", "/openapi/v2"])).expect("write openapi");
    let status = Command::new("python3")
        .arg(repo_root().join("tests/manifests/openapi_to_jsonschema.py"))
        .arg(&openapi)
        .arg(&dir)
        .status()
        .expect("python3 runs");
    assert!(status.success(), "schema generation failed");
    dir
}

fn kubeconform(schemas: &std::path::Path, manifests: &str) -> (bool, String) {
    let location = format!(
        "{}/{{{{ .Group }}}}/{{{{ .ResourceKind }}}}_{{{{ .ResourceAPIVersion }}}}.json",
        schemas.display()
    );
    let mut child = Command::new(kubeconform_binary())
        .args(["-strict", "-summary", "-schema-location", &location, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubeconform runs");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), manifests.as_bytes())
        .expect("write manifests");
    let out = child.wait_with_output().expect("kubeconform finishes");
    (
        out.status.success(),
        format!("{}{}", stdout(&out), stderr(&out)),
    )
}

#[test]
#[ignore = "needs the local cluster with the upstream CRDs; run by tests/run.sh"]
fn every_manifest_passes_kubeconform_strict_against_the_cluster_schemas() {
    let schemas = cluster_schemas();
    let rendered = kubectl_ok(&[
        "kustomize",
        repo_root()
            .join("manifests/overlays/testnet")
            .to_str()
            .expect("path"),
    ]);
    let (ok, report) = kubeconform(&schemas, &rendered);
    assert!(ok, "{report}");
    assert!(
        report.contains("20 resources found")
            && report.contains("Valid: 20, Invalid: 0, Errors: 0, Skipped: 0"),
        "{report}"
    );

    // The check bites: an unknown field and a wrong type are each rejected.
    let typo = rendered.replacen("  replicas: 3\n", "  replica: 3\n", 1);
    let (ok, report) = kubeconform(&schemas, &typo);
    assert!(
        !ok && report.contains("additional properties 'replica' not allowed"),
        "{report}"
    );
    let wrong_type = rendered.replacen("interval: 5s", "interval: [5s]", 1);
    let (ok, report) = kubeconform(&schemas, &wrong_type);
    assert!(
        !ok && report.contains("ServiceMonitor bizra-rust is invalid"),
        "{report}"
    );
}

/// The series names a Prometheus scrape holds (histograms give _bucket, _sum and _count).
fn scraped_series_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn rules_and_dashboard_read_only_metrics_the_node_or_kubernetes_export() {
    let ns = TestNamespace::new("promql-names");
    let (code, report) = bizra_json(&["deploy", "-n", &ns.name, "--timeout", "2m"]);
    assert_eq!(code, 0, "{report}");
    let pod = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns.name,
        "-l",
        "track=stable",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let scrape = kubectl_ok(&[
        "get",
        "--raw",
        &format!(
            "/api/v1/namespaces/{}/pods/{pod}:9464/proxy/metrics",
            ns.name
        ),
    ]);
    let exported = scraped_series_names(&scrape);
    assert!(
        exported.contains("bizra_finality_check_seconds_bucket"),
        "{exported:?}"
    );

    for (place, expr) in promql::expressions() {
        let parsed = promql::parse(&expr).unwrap_or_else(|e| panic!("{place}: {e}"));
        for name in promql::metric_names(&parsed) {
            let known = exported.contains(&name)
                || promql::STANDARD_KUBERNETES_METRICS.contains(&name.as_str());
            assert!(
                known,
                "{place} reads {name}, which neither the node nor kube-state-metrics/cAdvisor export"
            );
        }
    }
}
