//! `kubectl bizra lint` as users run it: no cluster, exit codes a CI job can branch on.

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use std::process::{Command, Output};
use support::repo_root;

fn lint(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .arg("lint")
        .args(args)
        // No cluster is needed: a kubeconfig pointing nowhere must not matter.
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .output()
        .expect("kubectl-bizra runs")
}

fn scratch(name: &str, text: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&path, text).expect("write manifest");
    path
}

#[test]
fn the_repositorys_manifests_pass() {
    let manifests = repo_root().join("manifests");
    let out = lint(&["-f", manifests.to_str().expect("utf-8"), "-o", "json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["kind"], "LintReport");
    assert_eq!(report["workloads"], 2);
    assert_eq!(report["findings"], serde_json::json!([]));
}

#[test]
fn a_pod_running_as_root_fails() {
    let pod = scratch(
        "root-pod.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: as-root\nspec:\n  securityContext:\n    runAsUser: 0\n  containers:\n  - name: node\n    image: ghcr.io/bizra/node:v2.2.0-rc1\n    securityContext:\n      allowPrivilegeEscalation: false\n      capabilities: {drop: [ALL]}\n    resources:\n      limits: {cpu: '1', memory: 1Gi}\n",
    );
    let out = lint(&["-f", pod.to_str().expect("utf-8"), "-o", "json"]);
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings.iter().any(|f| f["rule"] == "runAsUser"
            && f["name"] == "as-root"
            && f.get("container").is_none()
            && f["field"] == "spec.securityContext.runAsUser"
            && f["value"] == "0"
            && f["message"]
                .as_str()
                .unwrap_or("")
                .contains("runAsUser is 0")),
        "{report}"
    );
    let table =
        String::from_utf8_lossy(&lint(&["-f", pod.to_str().expect("utf-8")]).stdout).into_owned();
    assert!(
        table.contains("Pod/as-root") && table.contains("violation"),
        "{table}"
    );
}

/// The rules each `pss_*` admission fixture of the policy fails, per profile.
fn pod_security_cases() -> Vec<(String, serde_json::Value, serde_json::Value)> {
    let data = repo_root().join("policy-wasm/test_data");
    let expected: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("pss_expected.json")).expect("expectations"),
    )
    .expect("JSON");
    expected
        .as_object()
        .expect("object")
        .iter()
        .filter(|(name, _)| name.starts_with("pss_"))
        .map(|(name, profiles)| {
            let request: serde_json::Value = serde_json::from_str(
                &std::fs::read_to_string(data.join(format!("{name}.json"))).expect("fixture"),
            )
            .expect("JSON");
            (name.clone(), request["object"].clone(), profiles.clone())
        })
        .collect()
}

#[test]
fn the_pod_security_cases_a_new_user_tried_fail_the_profiles_as_admission_does() {
    let cases = pod_security_cases();
    assert!(cases.len() >= 9);
    for (name, object, profiles) in cases {
        let file = scratch(&format!("{name}.json"), &object.to_string());
        for profile in ["restricted", "baseline"] {
            let out = lint(&[
                "-f",
                file.to_str().expect("utf-8"),
                "-o",
                "json",
                "--pod-security",
                profile,
            ]);
            let report: serde_json::Value =
                serde_json::from_slice(&out.stdout).expect("JSON report");
            let mut rules: Vec<String> = Vec::new();
            for finding in report["findings"].as_array().expect("findings") {
                let rule = finding["rule"].as_str().expect("rule").to_owned();
                if !rules.contains(&rule) {
                    rules.push(rule);
                }
            }
            assert_eq!(
                serde_json::json!(rules),
                profiles[profile],
                "{name} under {profile}: {report}"
            );
            let code = if rules.is_empty() { 0 } else { 1 };
            assert_eq!(out.status.code(), Some(code), "{name} under {profile}");
        }
        let none = lint(&[
            "-f",
            file.to_str().expect("utf-8"),
            "--pod-security",
            "none",
        ]);
        assert_eq!(none.status.code(), Some(0), "{name} under none");
    }
}

#[test]
fn bad_input_is_a_usage_error_naming_the_file() {
    let out = lint(&[]);
    assert_eq!(out.status.code(), Some(2));
    let broken = scratch("broken.yaml", "kind: Pod\n  metadata: [\n");
    let out = lint(&["-f", broken.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("error: {}: document 1, line ", broken.display())),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn one_unreadable_file_does_not_hide_the_findings_of_the_others() {
    let broken = scratch(
        "duplicate-key.yaml",
        "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  name: b\n",
    );
    let root = scratch(
        "root-in-second-document.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: as-root}\nspec:\n  containers:\n  - name: node\n    image: busybox\n    securityContext: {runAsUser: 0, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n    resources: {limits: {cpu: '1', memory: 1Gi}}\n",
    );
    let out = lint(&[
        "-f",
        broken.to_str().expect("utf-8"),
        "-f",
        root.to_str().expect("utf-8"),
        "-o",
        "json",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    let findings = report["findings"].as_array().expect("findings");
    assert!(
        findings
            .iter()
            .any(|f| f["name"] == "as-root" && f["document"] == 2 && f["line"] == 5),
        "{report}"
    );
    assert_eq!(report["errors"][0]["line"], 5, "{report}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the key \"name\" appears twice in the same mapping"),
        "{stderr}"
    );
    assert!(!stderr.contains("DuplicateKeyPolicy"), "{stderr}");
}

#[test]
fn a_run_that_checked_no_workload_fails() {
    let only_config = scratch(
        "only-config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let out = lint(&["-f", only_config.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("no workloads found in {}", only_config.display())),
        "{stderr}"
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("ConfigMap/c: it carries no pod template"),
        "{stdout}"
    );
    let empty_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("no-manifests");
    std::fs::create_dir_all(&empty_dir).expect("mkdir");
    let out = lint(&["-f", empty_dir.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(1));
}

fn yaml(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read YAML");
    serde_saphyr::from_str(&text).expect("parse YAML")
}

#[test]
fn the_cluster_admission_policies_match_the_policys_metadata_and_settings() {
    use policy_wasm::settings::Job;
    for (file, job) in [
        ("bizra-secure-pods", Job::Validate),
        ("bizra-pin-digests", Job::PinDigests),
    ] {
        let policy = yaml(&repo_root().join(format!("manifests/policy/{file}.yaml")));
        assert_eq!(policy["metadata"]["name"], file);
        the_policy_matches_the_metadata_and_settings(&policy, job);
    }
}

fn the_policy_matches_the_metadata_and_settings(
    policy: &serde_json::Value,
    job: policy_wasm::settings::Job,
) {
    let metadata = yaml(&repo_root().join("policy-wasm/metadata.yml"));
    let spec = &policy["spec"];

    // The settings pass the policy's own validate_settings.
    let settings = serde_json::to_vec(&spec["settings"]).expect("settings JSON");
    let parsed = policy_wasm::settings::Settings::parse(&settings).expect("settings are valid");
    assert_eq!(parsed.job, job);
    // Only the pinning policy mutates; the one that checks runs on the final object.
    assert_eq!(
        spec["mutating"],
        serde_json::Value::Bool(job == policy_wasm::settings::Job::PinDigests)
    );
    assert_eq!(metadata["mutating"], true);

    // Same resources and operations as the metadata the policy ships with.
    let rules = |v: &serde_json::Value| {
        let mut all: Vec<String> = v
            .as_array()
            .expect("rules")
            .iter()
            .flat_map(|r| {
                let group = r["apiGroups"][0].as_str().unwrap_or("").to_string();
                let ops = r["operations"].to_string();
                r["resources"]
                    .as_array()
                    .expect("resources")
                    .iter()
                    .map(move |res| format!("{group}/{}:{ops}", res.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort();
        all
    };
    assert_eq!(rules(&spec["rules"]), rules(&metadata["rules"]));
    assert!(
        rules(&spec["rules"])
            .iter()
            .any(|r| r.starts_with("/pods/ephemeralcontainers:"))
    );

    // The module tag is the version the metadata declares.
    let version = metadata["annotations"]["io.kubewarden.policy.version"]
        .as_str()
        .expect("version");
    assert!(
        spec["module"]
            .as_str()
            .expect("module")
            .ends_with(&format!(":v{version}"))
    );
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(
        metadata["hostCapabilities"],
        serde_json::json!(["oci/v2/verify"])
    );
}

#[test]
fn a_folder_reached_again_through_a_link_is_read_once() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("link-loop");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).expect("mkdir");
    std::fs::copy(
        repo_root().join("manifests/base/deployment.yaml"),
        dir.join("sub/deployment.yaml"),
    )
    .expect("copy");
    std::os::unix::fs::symlink("..", dir.join("sub/up")).expect("link");
    let out = lint(&["-f", dir.to_str().expect("utf-8"), "-o", "json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON report");
    assert_eq!(report["files"], 1, "{report}");
    assert_eq!(report["workloads"], 1, "{report}");
}
