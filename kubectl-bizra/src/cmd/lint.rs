//! `kubectl bizra lint -f FILE|DIR`: checks manifests offline, before anything is applied, with
//! the admission policy's own rule functions (the Pod Security Standards profile, limits). Image
//! signatures need the registry and are checked at admission only. The checking itself is
//! `bizra_offline::lint`'s (the browser playground runs the same); this module walks the files
//! and prints.

use std::path::{Path, PathBuf};

use bizra_offline::lint::{InputError, LintReport, LintRules, lint_text};
use policy_wasm::rules::Profile;

use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output::{self, OutputFormat};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A manifest file, or a folder searched recursively for .yaml, .yml and .json files
    /// (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,

    /// Check with these policy settings, YAML or JSON (the ClusterAdmissionPolicy's
    /// `spec.settings`, or the policy itself): its profile, limits and requests, and its exempt
    /// namespaces left out [default: restricted, limits, no exempt namespace].
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub settings: Option<PathBuf>,

    /// The Pod Security Standards profile to check (as the policy's `podSecurity`; overrides the
    /// settings') [default: restricted].
    #[arg(long, value_enum, value_name = "PROFILE")]
    pub pod_security: Option<ProfileArg>,

    /// Also require cpu and memory requests (as the policy's `requireRequests`).
    #[arg(long)]
    pub require_requests: bool,
}

impl Args {
    /// The rules: the settings' (or the defaults), then the flags.
    fn rules(&self) -> anyhow::Result<LintRules> {
        let mut rules = match &self.settings {
            Some(path) => {
                LintRules::from_settings(&crate::cmd::policy::read_settings(Some(path))?.settings)
            }
            None => LintRules::default(),
        };
        if let Some(profile) = self.pod_security {
            rules.pod.pod_security = profile.into();
        }
        if self.require_requests {
            rules.pod.require_requests = true;
        }
        Ok(rules)
    }
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ProfileArg {
    Restricted,
    Baseline,
    None,
}

impl From<ProfileArg> for Profile {
    fn from(arg: ProfileArg) -> Self {
        match arg {
            ProfileArg::Restricted => Profile::Restricted,
            ProfileArg::Baseline => Profile::Baseline,
            ProfileArg::None => Profile::None,
        }
    }
}

fn is_manifest(path: &Path) -> bool {
    matches!(
        path.extension().and_then(|e| e.to_str()),
        Some("yaml" | "yml" | "json")
    )
}

/// The manifest files under `paths`, sorted within each folder, and the paths that could not be
/// read.
fn files(paths: &[PathBuf]) -> (Vec<PathBuf>, Vec<InputError>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let unreadable = |path: &Path, e: std::io::Error| {
        InputError::whole_file(&path.display().to_string(), format!("cannot read it: {e}"))
    };
    for path in paths {
        let meta = match std::fs::metadata(path) {
            Ok(meta) => meta,
            Err(e) => {
                errors.push(unreadable(path, e));
                continue;
            }
        };
        if meta.is_file() {
            found.push(path.clone());
            continue;
        }
        let mut stack = vec![path.clone()];
        let mut in_dir = Vec::new();
        // A folder reached again through a link (a loop) is read once.
        let mut visited = std::collections::HashSet::new();
        while let Some(dir) = stack.pop() {
            if !visited.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
                continue;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(e) => {
                    errors.push(unreadable(&dir, e));
                    continue;
                }
            };
            for entry in entries {
                match entry {
                    Ok(entry) if entry.path().is_dir() => stack.push(entry.path()),
                    Ok(entry) if is_manifest(&entry.path()) => in_dir.push(entry.path()),
                    Ok(_) => {}
                    Err(e) => errors.push(unreadable(&dir, e)),
                }
            }
        }
        in_dir.sort();
        found.extend(in_dir);
    }
    (found, errors)
}

fn plural(n: usize, word: &str) -> String {
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn render_table(report: &LintReport) -> String {
    let mut text = String::new();
    if !report.findings.is_empty() {
        text.push_str(&output::table(
            &["file", "line", "object", "container", "rule", "message"],
            report.findings.iter().map(|f| {
                [
                    f.file.clone(),
                    f.line.to_string(),
                    format!("{}/{}", f.kind, f.name),
                    match (&f.container_kind, &f.container) {
                        (Some(kind), Some(name)) => format!("{} {name}", kind.label()),
                        _ => "(pod)".to_string(),
                    },
                    f.rule.name().to_string(),
                    f.message.clone(),
                ]
            }),
        ));
        text.push('\n');
    }
    if !report.skipped.is_empty() {
        text.push_str(&format!(
            "skipped {}:\n",
            plural(report.skipped.len(), "object")
        ));
        for s in &report.skipped {
            text.push_str(&format!(
                "  {}:{} {}/{}: {}\n",
                s.file, s.line, s.kind, s.name, s.reason
            ));
        }
    }
    text.push_str(&format!(
        "{} in {}: {}",
        plural(report.workloads, "workload"),
        plural(report.files, "file"),
        match report.findings.len() {
            0 => "no violations".to_string(),
            n => plural(n, "violation"),
        }
    ));
    if !report.errors.is_empty() {
        text.push_str(&format!(
            ", {} unreadable",
            plural(report.errors.len(), "input")
        ));
    }
    text.push('\n');
    text
}

pub fn lint(paths: &[PathBuf], rules: &LintRules) -> LintReport {
    let mut report = LintReport::default();
    let (files, errors) = files(paths);
    report.files = files.len();
    report.errors = errors;
    for file in &files {
        let name = file.display().to_string();
        match std::fs::read(file) {
            Ok(bytes) => match String::from_utf8(bytes) {
                Ok(text) => lint_text(&name, &text, rules, &mut report),
                Err(e) => report.errors.push(InputError::whole_file(
                    &name,
                    format!(
                        "it is not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    ),
                )),
            },
            Err(e) => report.errors.push(InputError::whole_file(
                &name,
                format!("cannot read it: {e}"),
            )),
        }
    }
    report
}

/// Unreadable input is a usage error (2) once everything else is reported; a violation fails
/// (1); so does a run that checked no workload at all, since a CI gate that checked nothing must
/// not pass.
pub fn exit_status(report: &LintReport) -> ExitStatus {
    if !report.errors.is_empty() {
        ExitStatus::Usage
    } else if !report.findings.is_empty() || report.workloads == 0 {
        ExitStatus::Failed
    } else {
        ExitStatus::Success
    }
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    let report = lint(&args.paths, &args.rules()?);
    if global.output == OutputFormat::Sarif {
        let sarif = bizra_offline::sarif::to_sarif(&report, env!("CARGO_PKG_VERSION"));
        output::write_stdout(&(serde_json::to_string_pretty(&sarif)? + "\n"))?;
    } else {
        output::print(global.output, &report, render_table)?;
    }
    for error in &report.errors {
        eprintln!("error: {error}");
    }
    if report.errors.is_empty() && report.workloads == 0 {
        let paths: Vec<String> = args.paths.iter().map(|p| p.display().to_string()).collect();
        eprintln!(
            "error: no workloads found in {}: nothing was checked (lint checks objects with a pod template)",
            paths.join(", ")
        );
    }
    Ok(exit_status(&report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_manifests() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests")
    }

    fn lint_one(text: &str) -> LintReport {
        let mut report = LintReport::default();
        lint_text("test.yaml", text, &LintRules::default(), &mut report);
        report
    }

    const ROOT_CONTAINER: &str = "containers:\n    - name: shell\n      image: busybox\n      securityContext: {runAsUser: 0, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}\n      resources: {limits: {cpu: 100m, memory: 64Mi}}\n";

    #[test]
    fn the_repositorys_manifests_pass() {
        let report = lint(&[repo_manifests()], &LintRules::default());
        assert_eq!(report.findings, []);
        assert_eq!(report.errors, []);
        // The stable and canary Deployments.
        assert_eq!(report.workloads, 2);
        assert!(report.files >= 15, "{} files", report.files);
        assert!(
            report
                .skipped
                .iter()
                .any(|s| s.kind == "Service" && s.reason == "it carries no pod template"),
            "{:?}",
            report.skipped
        );
        assert_eq!(exit_status(&report), ExitStatus::Success);
    }

    #[test]
    fn a_root_pod_in_a_list_is_found_with_its_container_and_rule() {
        let report = lint_one(&format!(
            "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Pod\n  metadata: {{name: debug}}\n  spec:\n    {ROOT_CONTAINER}---\napiVersion: v1\nkind: Service\nmetadata: {{name: x}}\n"
        ));
        assert_eq!(report.workloads, 1);
        assert!(!report.findings.is_empty());
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.name()).collect();
        assert_eq!(rules, ["runAsNonRoot", "runAsUser"]);
        assert!(
            report
                .findings
                .iter()
                .all(|f| f.container.as_deref() == Some("shell")
                    && f.name == "debug"
                    && f.line == 1)
        );
        assert_eq!(
            report.findings[1].field,
            "items[0].spec.containers[0].securityContext.runAsUser"
        );
        assert_eq!(report.findings[1].value.as_deref(), Some("0"));
        assert_eq!(report.skipped.len(), 1);
        insta::assert_snapshot!(render_table(&LintReport { files: 1, ..report }));
    }

    #[test]
    fn unreadable_paths_are_reported_with_the_rest() {
        let report = lint(
            &[PathBuf::from("/nonexistent/manifests"), repo_manifests()],
            &LintRules::default(),
        );
        assert_eq!(report.workloads, 2);
        assert_eq!(report.errors.len(), 1);
        assert!(
            report.errors[0]
                .to_string()
                .starts_with("/nonexistent/manifests: cannot read it:"),
            "{}",
            report.errors[0]
        );
        assert_eq!(exit_status(&report), ExitStatus::Usage);
    }
}
