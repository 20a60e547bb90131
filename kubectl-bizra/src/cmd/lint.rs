//! `kubectl bizra lint -f FILE|DIR`: checks manifests offline, before anything is applied, with
//! the admission policy's own rule functions (non-root, limits, security context). Image
//! signatures need the registry and are checked at admission only.

use std::path::{Path, PathBuf};

use policy_wasm::rules::{ContainerKind, PodRules, Rule, check_pod_spec, pod_spec_pointer};
use serde::Serialize;

use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A manifest file, or a folder searched recursively for .yaml, .yml and .json files
    /// (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,

    /// Also require cpu and memory requests (as the policy's `requireRequests`).
    #[arg(long)]
    pub require_requests: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub file: String,
    pub kind: String,
    pub name: String,
    pub container_kind: ContainerKind,
    pub container: String,
    pub rule: Rule,
    pub message: String,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LintReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub files: usize,
    /// Objects that carry a pod spec and were checked.
    pub workloads: usize,
    pub findings: Vec<Finding>,
}

/// Every object in a parsed YAML stream, with `kind: *List` items flattened.
fn objects(documents: Vec<serde_json::Value>) -> Vec<serde_json::Value> {
    let mut all = Vec::new();
    for doc in documents {
        let is_list = doc
            .get("kind")
            .and_then(|k| k.as_str())
            .is_some_and(|k| k.ends_with("List"));
        match doc.get("items").and_then(|i| i.as_array()) {
            Some(items) if is_list => all.extend(items.iter().cloned()),
            _ => all.push(doc),
        }
    }
    all
}

/// Checks the objects of one file: (workloads checked, findings).
pub fn lint_objects(
    file: &str,
    documents: Vec<serde_json::Value>,
    rules: &PodRules,
) -> Result<(usize, Vec<Finding>), String> {
    let mut workloads = 0;
    let mut findings = Vec::new();
    for object in objects(documents) {
        let kind = object.get("kind").and_then(|k| k.as_str()).unwrap_or("");
        let Some(pointer) = pod_spec_pointer(kind) else {
            continue;
        };
        let name = object
            .pointer("/metadata/name")
            .and_then(|n| n.as_str())
            .unwrap_or("")
            .to_string();
        let Some(spec) = object.pointer(pointer) else {
            continue;
        };
        let spec: k8s_openapi::api::core::v1::PodSpec = serde_json::from_value(spec.clone())
            .map_err(|e| format!("{file}: {kind} {name:?} has an invalid pod spec: {e}"))?;
        workloads += 1;
        findings.extend(check_pod_spec(&spec, rules).into_iter().map(|v| Finding {
            file: file.to_string(),
            kind: kind.to_string(),
            name: name.clone(),
            container_kind: v.kind,
            container: v.container,
            rule: v.rule,
            message: v.message,
        }));
    }
    Ok((workloads, findings))
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The manifest files under `paths`, sorted within each folder.
fn files(paths: &[PathBuf]) -> Result<Vec<PathBuf>, String> {
    let mut found = Vec::new();
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if meta.is_file() {
            found.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        let mut in_dir = Vec::new();
        while let Some(dir) = stack.pop() {
            let entries = std::fs::read_dir(&dir)
                .map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
            for entry in entries {
                let entry = entry.map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if is_manifest(&path) {
                    in_dir.push(path);
                }
            }
        }
        in_dir.sort();
        found.extend(in_dir);
    }
    Ok(found)
}

fn render_table(report: &LintReport) -> String {
    let mut text = String::new();
    if !report.findings.is_empty() {
        text.push_str(&output::table(
            &["file", "object", "container", "rule", "message"],
            report.findings.iter().map(|f| {
                [
                    f.file.clone(),
                    format!("{}/{}", f.kind, f.name),
                    format!("{} {}", f.container_kind.label(), f.container),
                    f.rule.name().to_string(),
                    f.message.clone(),
                ]
            }),
        ));
        text.push('\n');
    }
    text.push_str(&format!(
        "{} workload{} in {} file{}: {}\n",
        report.workloads,
        if report.workloads == 1 { "" } else { "s" },
        report.files,
        if report.files == 1 { "" } else { "s" },
        match report.findings.len() {
            0 => "no violations".to_string(),
            1 => "1 violation".to_string(),
            n => format!("{n} violations"),
        }
    ));
    text
}

pub fn lint(paths: &[PathBuf], rules: &PodRules) -> Result<LintReport, String> {
    let files = files(paths)?;
    let mut report = LintReport {
        api_version: "bizra.dev/v1alpha1",
        kind: "LintReport",
        files: files.len(),
        workloads: 0,
        findings: Vec::new(),
    };
    for file in &files {
        let name = file.display().to_string();
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {name}: {e}"))?;
        let documents: Vec<serde_json::Value> = serde_saphyr::from_multiple(&text)
            .map_err(|e| format!("{name} is not valid YAML: {e}"))?;
        let (workloads, findings) = lint_objects(&name, documents, rules)?;
        report.workloads += workloads;
        report.findings.extend(findings);
    }
    Ok(report)
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    let rules = PodRules {
        require_requests: args.require_requests,
        ..PodRules::default()
    };
    let report = lint(&args.paths, &rules).map_err(Error::Usage)?;
    output::print(global.output, &report, render_table)?;
    Ok(if report.findings.is_empty() {
        ExitStatus::Success
    } else {
        ExitStatus::Failed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_manifests() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
    }

    #[test]
    fn the_repositorys_manifests_pass() {
        let report = lint(&[repo_manifests()], &PodRules::default()).expect("lint");
        assert_eq!(report.findings, []);
        // The stable and canary Deployments.
        assert_eq!(report.workloads, 2);
        assert!(report.files >= 15, "{} files", report.files);
    }

    #[test]
    fn a_root_pod_in_a_list_is_found_with_its_container_and_rule() {
        let docs: Vec<serde_json::Value> = serde_saphyr::from_multiple(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {name: debug}\n  spec:\n    containers:\n    - name: shell\n      image: busybox\n      securityContext: {runAsUser: 0, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n      resources: {limits: {cpu: 100m, memory: 64Mi}}\n---\napiVersion: v1\nkind: Service\nmetadata: {name: x}\n",
        )
        .expect("yaml");
        let (workloads, findings) =
            lint_objects("debug.yaml", docs, &PodRules::default()).expect("lint");
        assert_eq!(workloads, 1);
        assert!(!findings.is_empty());
        assert!(
            findings
                .iter()
                .all(|f| f.rule == Rule::NonRoot && f.container == "shell" && f.name == "debug")
        );
        let report = LintReport {
            api_version: "bizra.dev/v1alpha1",
            kind: "LintReport",
            files: 1,
            workloads,
            findings,
        };
        insta::assert_snapshot!(render_table(&report));
    }

    #[test]
    fn unreadable_input_is_a_clear_error() {
        let missing = lint(
            &[PathBuf::from("/nonexistent/manifests")],
            &PodRules::default(),
        );
        assert!(
            missing
                .expect_err("error")
                .contains("cannot read /nonexistent/manifests")
        );
        let bad_spec = lint_objects(
            "bad.yaml",
            vec![
                serde_json::json!({"kind": "Deployment", "metadata": {"name": "x"}, "spec": {"template": {"spec": {"containers": "nope"}}}}),
            ],
            &PodRules::default(),
        );
        assert!(
            bad_spec
                .expect_err("error")
                .contains("bad.yaml: Deployment \"x\" has an invalid pod spec")
        );
    }
}
