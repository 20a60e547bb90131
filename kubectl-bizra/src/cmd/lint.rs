//! `kubectl bizra lint -f FILE|DIR`: checks manifests offline, before anything is applied, with
//! the admission policy's own rule functions (the Pod Security Standards profile, limits). Image
//! signatures need the registry and are checked at admission only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::PodSpec;
use policy_wasm::rules::{ContainerKind, PodFields, PodRules, Profile, Rule, check_pod};
use serde::Serialize;

use crate::documents::Object;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output;

#[derive(Debug, clap::Args)]
pub struct Args {
    /// A manifest file, or a folder searched recursively for .yaml, .yml and .json files
    /// (repeatable).
    #[arg(short = 'f', long = "filename", value_name = "PATH", required = true, value_hint = clap::ValueHint::AnyPath)]
    pub paths: Vec<PathBuf>,

    /// The Pod Security Standards profile to check (as the policy's `podSecurity`).
    #[arg(long, value_enum, default_value = "restricted", value_name = "PROFILE")]
    pub pod_security: ProfileArg,

    /// Also require cpu and memory requests (as the policy's `requireRequests`).
    #[arg(long)]
    pub require_requests: bool,
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

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub file: String,
    /// The document's position in the file, from 1, and the line where it starts.
    pub document: usize,
    pub line: usize,
    pub kind: String,
    pub name: String,
    /// The container at fault; both absent when the pod itself is (host namespaces, volumes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_kind: Option<ContainerKind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    pub rule: Rule,
    /// Where in the object, e.g. `spec.template.spec.containers[0].securityContext.privileged`.
    pub field: String,
    /// The value found there; absent when the field is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    pub message: String,
}

/// An object that carries no pod template, so no rule applies to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Skipped {
    pub file: String,
    pub document: usize,
    pub line: usize,
    pub kind: String,
    pub name: String,
    pub reason: String,
}

/// A file, document or pod spec that could not be read; lint goes on with the rest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputError {
    pub file: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub document: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<usize>,
    /// Where in the object, e.g. `spec.template.spec.containers[0].resources`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl InputError {
    /// A fault of a whole file or folder, not of one document in it.
    fn whole_file(path: &Path, message: String) -> Self {
        InputError {
            file: path.display().to_string(),
            document: None,
            line: None,
            column: None,
            field: None,
            message,
        }
    }
}

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.file)?;
        if let Some(document) = self.document {
            write!(f, ": document {document}")?;
        }
        if let Some(line) = self.line {
            write!(f, ", line {line}")?;
        }
        if let Some(column) = self.column {
            write!(f, ", column {column}")?;
        }
        if let Some(field) = &self.field {
            write!(f, ", {field}")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// `kubectl bizra lint -o json`: see the README for the schema.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct LintReport {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub files: usize,
    /// Objects that carry a pod spec and were checked.
    pub workloads: usize,
    pub findings: Vec<Finding>,
    pub skipped: Vec<Skipped>,
    pub errors: Vec<InputError>,
}

/// An empty report, before any file is read.
impl Default for LintReport {
    fn default() -> Self {
        LintReport {
            api_version: crate::output::API_VERSION,
            kind: "LintReport",
            files: 0,
            workloads: 0,
            findings: Vec::new(),
            skipped: Vec::new(),
            errors: Vec::new(),
        }
    }
}

/// Where an object keeps its pod spec, whatever its kind: a Pod's `spec`, a PodTemplate's
/// `template.spec`, a CronJob's `spec.jobTemplate.spec.template.spec`, and `spec.template.spec`
/// for the workload controllers and any custom resource built the same way (an Argo Rollout, a
/// Knative Service, an OpenKruise CloneSet). A candidate must hold `containers` to count.
fn pod_spec_of(object: &serde_json::Value) -> Result<(&'static str, &serde_json::Value), String> {
    let kind = object.get("kind").and_then(|k| k.as_str()).unwrap_or("");
    let candidates: &[&'static str] = match kind {
        "Pod" => &["/spec"],
        "PodTemplate" => &["/template/spec"],
        _ => &[
            "/spec/template/spec",
            "/spec/jobTemplate/spec/template/spec",
        ],
    };
    for pointer in candidates {
        if let Some(spec) = object.pointer(pointer) {
            // A pod needs at least one container (the apiserver refuses one without): with
            // none there is nothing to check, and counting it would let an empty run pass.
            if spec
                .get("containers")
                .and_then(|c| c.as_array())
                .is_some_and(|c| !c.is_empty())
            {
                return Ok((pointer, spec));
            }
            return Err(format!(
                "{} has no containers, so it is not a pod template",
                field_path(pointer)
            ));
        }
    }
    Err(if kind.is_empty() {
        "it has no kind".into()
    } else {
        "it carries no pod template".into()
    })
}

/// `/spec/template/spec` as `spec.template.spec`.
fn field_path(pointer: &str) -> String {
    pointer.trim_start_matches('/').replace('/', ".")
}

/// Checks the objects of one file's text into `report`.
pub fn lint_text(file: &str, text: &str, rules: &PodRules, report: &mut LintReport) {
    let (objects, errors) = crate::documents::parse_stream(text);
    report.errors.extend(errors.into_iter().map(|e| InputError {
        file: file.to_owned(),
        document: Some(e.document),
        line: Some(e.line),
        column: e.column,
        field: None,
        message: e.message,
    }));
    for object in objects {
        lint_object(file, &object, rules, report);
    }
}

fn lint_object(file: &str, object: &Object, rules: &PodRules, report: &mut LintReport) {
    let (kind, name) = (object.kind().to_owned(), object.name().to_owned());
    let (pointer, spec) = match pod_spec_of(&object.value) {
        Ok(found) => found,
        Err(reason) => {
            report.skipped.push(Skipped {
                file: file.to_owned(),
                document: object.document,
                line: object.line,
                kind,
                name,
                reason,
            });
            return;
        }
    };
    // The template (`spec.template` of a Deployment, the object of a Pod) holds spec and metadata.
    let template = pointer.strip_suffix("/spec").unwrap_or("");
    let annotations = object
        .value
        .pointer(&format!("{template}/metadata/annotations"))
        .and_then(|a| serde_json::from_value::<BTreeMap<String, String>>(a.clone()).ok());
    let spec: PodSpec = match serde_path_to_error::deserialize(spec) {
        Ok(spec) => spec,
        Err(e) => {
            let inner = e.path().to_string();
            let mut field = field_path(pointer);
            if inner != "." {
                field = format!("{field}.{inner}");
            }
            if let Some(item) = object.item {
                field = format!("items[{item}].{field}");
            }
            report.errors.push(InputError {
                file: file.to_owned(),
                document: Some(object.document),
                line: Some(object.line),
                column: None,
                field: Some(field),
                message: format!(
                    "{kind} {name:?} has an invalid pod spec: {}",
                    e.into_inner()
                ),
            });
            return;
        }
    };
    report.workloads += 1;
    let mut prefix = field_path(template);
    if let Some(item) = object.item {
        prefix = format!("items[{item}].{prefix}");
    }
    let pod = PodFields::of_template(annotations.as_ref(), &spec);
    report
        .findings
        .extend(check_pod(&pod, rules).into_iter().map(|v| Finding {
            file: file.to_owned(),
            document: object.document,
            line: object.line,
            kind: kind.clone(),
            name: name.clone(),
            container_kind: v.container.as_ref().map(|c| c.kind),
            container: v.container.map(|c| c.name),
            rule: v.rule,
            field: if prefix.is_empty() || prefix.ends_with('.') {
                format!("{prefix}{}", v.field)
            } else {
                format!("{prefix}.{}", v.field)
            },
            value: v.value,
            message: v.message,
        }));
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
        InputError::whole_file(path, format!("cannot read it: {e}"))
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

pub fn lint(paths: &[PathBuf], rules: &PodRules) -> LintReport {
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
                    file,
                    format!(
                        "it is not UTF-8 text (invalid byte at offset {})",
                        e.utf8_error().valid_up_to()
                    ),
                )),
            },
            Err(e) => report
                .errors
                .push(InputError::whole_file(file, format!("cannot read it: {e}"))),
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
    let rules = PodRules {
        pod_security: args.pod_security.into(),
        require_requests: args.require_requests,
        ..PodRules::default()
    };
    let report = lint(&args.paths, &rules);
    output::print(global.output, &report, render_table)?;
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
        lint_text("test.yaml", text, &PodRules::default(), &mut report);
        report
    }

    const ROOT_CONTAINER: &str = "containers:\n    - name: shell\n      image: busybox\n      securityContext: {runAsUser: 0, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}\n      resources: {limits: {cpu: 100m, memory: 64Mi}}\n";

    #[test]
    fn the_repositorys_manifests_pass() {
        let report = lint(&[repo_manifests()], &PodRules::default());
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
    fn every_kind_with_a_pod_template_is_checked() {
        let template = format!(
            "template:\n    spec:\n      {}",
            ROOT_CONTAINER.replace("\n    ", "\n        ")
        );
        for (kind, body) in [
            ("Deployment", format!("spec:\n  {template}")),
            ("PodTemplate", template.clone()),
            (
                "CronJob",
                format!(
                    "spec:\n  jobTemplate:\n    spec:\n      {}",
                    template.replace("\n", "\n    ")
                ),
            ),
            ("Rollout", format!("spec:\n  {template}")),
            ("CloneSet", format!("spec:\n  {template}")),
            ("Service", format!("spec:\n  {template}")),
        ] {
            let text = format!("apiVersion: x/v1\nkind: {kind}\nmetadata: {{name: w}}\n{body}");
            let report = lint_one(&text);
            assert_eq!(report.errors, [], "{kind}:\n{text}");
            assert_eq!(report.workloads, 1, "{kind}:\n{text}");
            let user = Rule::PodSecurity(policy_wasm::rules::Check::RunningAsNonRootUser);
            let found = report.findings.iter().find(|f| f.rule == user);
            assert!(found.is_some(), "{kind}");
            let field = &found.map(|f| f.field.clone()).unwrap_or_default();
            assert!(
                field.ends_with("template.spec.containers[0].securityContext.runAsUser"),
                "{kind}: {field}"
            );
        }
    }

    #[test]
    fn objects_without_a_pod_template_are_listed_with_the_reason() {
        let report = lint_one(
            "kind: ConfigMap\nmetadata: {name: c}\n---\nkind: Widget\nmetadata: {name: w}\nspec: {template: {spec: {replicas: 1}}}\n---\nmetadata: {name: nokind}\n---\nkind: Pod\nmetadata: {name: empty}\nspec: {containers: []}\n",
        );
        let reasons: Vec<(&str, &str, usize)> = report
            .skipped
            .iter()
            .map(|s| (s.kind.as_str(), s.reason.as_str(), s.line))
            .collect();
        assert_eq!(
            reasons,
            [
                ("ConfigMap", "it carries no pod template", 1),
                (
                    "Widget",
                    "spec.template.spec has no containers, so it is not a pod template",
                    4
                ),
                ("", "it has no kind", 8),
                (
                    "Pod",
                    "spec has no containers, so it is not a pod template",
                    10
                ),
            ]
        );
        assert_eq!(report.workloads, 0);
        assert_eq!(exit_status(&report), ExitStatus::Failed);
    }

    #[test]
    fn a_type_error_names_the_document_line_and_field() {
        let report = lint_one(&format!(
            "kind: Pod\nmetadata: {{name: ok}}\nspec:\n  {ROOT_CONTAINER}---\nkind: Deployment\nmetadata: {{name: x}}\nspec:\n  template:\n    spec:\n      containers:\n      - name: a\n        resources: {{limits: [1]}}\n"
        ));
        assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
        let error = &report.errors[0];
        assert_eq!((error.document, error.line), (Some(2), Some(10)), "{error}");
        assert_eq!(
            error.field.as_deref(),
            Some("spec.template.spec.containers[0].resources.limits")
        );
        assert!(
            error
                .message
                .starts_with("Deployment \"x\" has an invalid pod spec: invalid type"),
            "{error}"
        );
        // The readable document is still checked and reported.
        assert_eq!(report.workloads, 1);
        assert!(!report.findings.is_empty());
        assert_eq!(exit_status(&report), ExitStatus::Usage);
    }

    #[test]
    fn unreadable_paths_are_reported_with_the_rest() {
        let report = lint(
            &[PathBuf::from("/nonexistent/manifests"), repo_manifests()],
            &PodRules::default(),
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
