use crate::support::*;

const OPTIONAL_KINDS: [&str; 4] = [
    "DestinationRule",
    "VirtualService",
    "ServiceMonitor",
    "PrometheusRule",
];

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn deploy_dry_run_changes_nothing_then_applies_everything_then_is_idempotent() {
    let ns = TestNamespace::new("deploy");

    let (code, report) = bizra_json(&["deploy", "-n", &ns.name, "--dry-run", "server"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["dryRun"], true);
    let planned = actions(&report);
    assert_eq!(planned["Deployment/bizra-apex"], "created", "{report}");
    for kind in OPTIONAL_KINDS {
        assert!(
            planned
                .iter()
                .any(|(k, a)| k.starts_with(kind) && a == "created"),
            "{kind} in {report}"
        );
    }
    let left = kubectl_ok(&[
        "get",
        "deployments,services,configmaps,virtualservices",
        "-n",
        &ns.name,
        "-o",
        "name",
    ]);
    assert!(!left.contains("bizra"), "a dry run created objects: {left}");

    let (code, report) = bizra_json(&["deploy", "-n", &ns.name, "--timeout", "2m"]);
    assert_eq!(code, 0, "{report}");
    let applied = actions(&report);
    assert!(
        applied
            .values()
            .all(|a| a == "created" || a == "configured"),
        "every object applied: {report}"
    );
    let expected = [
        "Namespace",
        "ConfigMap/bizra-config",
        "ConfigMap/bizra-grafana-dashboard",
        "NetworkPolicy/default-deny-ingress",
        "NetworkPolicy/bizra-apex",
        "Service/bizra-apex",
        "Deployment/bizra-apex",
        "Deployment/bizra-apex-canary",
        "DestinationRule/bizra-apex",
        "VirtualService/bizra-apex",
        "ServiceMonitor/bizra-rust",
        "PrometheusRule/bizra-apex",
    ];
    assert_eq!(applied.len(), expected.len(), "{report}");
    for object in expected {
        assert!(
            applied.keys().any(|k| k.starts_with(object)),
            "{object} not applied: {report}"
        );
    }
    for rollout in report["rollouts"].as_array().expect("rollouts") {
        assert_eq!(rollout["state"], "complete", "{rollout}");
    }
    let ready = kubectl_ok(&[
        "get",
        "deployment",
        "bizra-apex",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.status.availableReplicas}",
    ]);
    assert_eq!(ready, "3");
    let weights = kubectl_ok(&[
        "get",
        "virtualservice",
        "bizra-apex",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.spec.http[0].route[*].weight}",
    ]);
    assert_eq!(weights, "100 0");

    let (code, report) = bizra_json(&["deploy", "-n", &ns.name, "--timeout", "2m"]);
    assert_eq!(code, 0, "{report}");
    let again = actions(&report);
    assert!(
        again.values().all(|a| a == "unchanged"),
        "a second deploy changes nothing: {report}"
    );
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn rbac_and_admission_policy_manifests_apply_with_dry_run_and_for_real() {
    let ns = TestNamespace::new("deploy-rbac");
    let root = repo_root();
    for dir in ["manifests/rbac", "manifests/policy"] {
        let dir = root.join(dir);
        let dir = dir.to_str().expect("utf-8 path");
        for dry_run in ["server", "none"] {
            let (code, report) =
                bizra_json(&["deploy", "-n", &ns.name, "-k", dir, "--dry-run", dry_run]);
            assert_eq!(code, 0, "{dir} --dry-run={dry_run}: {report}");
            assert!(
                actions(&report).values().all(|a| a != "skipped"),
                "{report}"
            );
        }
    }
    let policies = kubectl_ok(&[
        "get",
        "clusteradmissionpolicy",
        "bizra-secure-pods",
        "bizra-pin-digests",
        "-o",
        "jsonpath={range .items[*]}{.metadata.name}={.spec.mode}/{.spec.mutating} {end}",
    ]);
    assert_eq!(
        policies.trim(),
        "bizra-secure-pods=protect/false bizra-pin-digests=protect/true"
    );
    let _ = kubectl(&[
        "delete",
        "clusteradmissionpolicy",
        "bizra-secure-pods",
        "bizra-pin-digests",
        "--wait=false",
    ]);
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn deploy_of_a_missing_image_fails_fast_with_the_pod_reason() {
    let ns = deployed("deploy-bad-image");

    let started = std::time::Instant::now();
    let (code, report) = bizra_json(&[
        "deploy",
        "-n",
        &ns.name,
        "--tag",
        "does-not-exist",
        "--timeout",
        "4m",
    ]);
    assert_eq!(code, 1, "{report}");
    let stable = report["rollouts"]
        .as_array()
        .expect("rollouts")
        .iter()
        .find(|r| r["deployment"] == "bizra-apex")
        .expect("stable rollout");
    assert_eq!(stable["state"], "failed", "{stable}");
    assert_eq!(
        stable["podFailure"]["reason"], "ImagePullBackOff",
        "{stable}"
    );
    assert!(
        stable["message"]
            .as_str()
            .unwrap_or("")
            .contains("ghcr.io/bizra/node:does-not-exist"),
        "{stable}"
    );
    // It failed on the pod's reason, not on the 4 minute timeout.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(120),
        "took {:?}",
        started.elapsed()
    );
    // The old pods keep serving: maxUnavailable is 0.
    let available = kubectl_ok(&[
        "get",
        "deployment",
        "bizra-apex",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.status.availableReplicas}",
    ]);
    assert_eq!(available, "3");
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn deploy_rejects_bad_input_with_a_usage_error() {
    let rbac_dir = repo_root().join("manifests/rbac").display().to_string();
    for (args, expected) in [
        (
            vec!["deploy", "-f", "/nonexistent-dir"],
            "cannot read /nonexistent-dir",
        ),
        (
            vec!["deploy", "--tag=-rc1"],
            "invalid tag \"-rc1\": the tag must not start with '.' or '-'",
        ),
        (
            vec!["deploy", "-f", &rbac_dir],
            "is a kustomization, not a manifest; use -k",
        ),
        (
            vec!["deploy", "--dry-run", "client"],
            "invalid value 'client'",
        ),
        (vec!["deploy", "--timeout", "soon"], "invalid duration"),
    ] {
        let out = bizra(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        assert!(
            stderr(&out).contains(expected),
            "{args:?}: {}",
            stderr(&out)
        );
    }
}

#[test]
#[ignore = "needs the local cluster with the upstream CRDs; run by tests/run.sh"]
fn the_ci_service_account_of_the_testnet_overlay_can_deploy_and_validate() {
    // A cluster admin installs the overlay once (RBAC, admission policy, workload) ...
    let overlay = repo_root().join("manifests/overlays/testnet");
    kubectl_ok(&[
        "apply",
        "--server-side",
        "--force-conflicts",
        "-k",
        overlay.to_str().expect("path"),
    ]);
    // ... then CI deploys and validates with nothing but the bizra-ci ServiceAccount.
    let kubeconfig = service_account_kubeconfig("testnet", "bizra-ci");
    let out = command(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .args([
            "deploy",
            "-n",
            "testnet",
            "--tag",
            "v2.2.1",
            "-o",
            "json",
            "--kubeconfig",
            kubeconfig.to_str().expect("path"),
        ])
        .output()
        .expect("runs");
    let report: serde_json::Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", stderr(&out)));
    assert!(
        !report.to_string().to_lowercase().contains("forbidden"),
        "the operator role lacks a permission: {report:#}"
    );
    assert_eq!(out.status.code(), Some(0), "{report:#}");
    // Applied as the ServiceAccount (its labels are already there, so nothing may change).
    let namespace_action = actions(&report)["Namespace/testnet"].clone();
    assert!(
        namespace_action == "configured" || namespace_action == "unchanged",
        "{report}"
    );
    let image = kubectl_ok(&[
        "get",
        "deployment",
        "bizra-apex",
        "-n",
        "testnet",
        "-o",
        "jsonpath={.spec.template.spec.containers[0].image}",
    ]);
    assert_eq!(image, "ghcr.io/bizra/node:v2.2.1");
}
