//! Lint: every object of a manifest stream that carries a pod template, checked with the
//! admission policy's own rule functions. `kubectl bizra lint` walks files into here; the
//! browser playground gives it the editor's text. The JSON report (`LintReport`) is the same.

use std::collections::BTreeMap;

use policy_wasm::rules::{ContainerKind, PodFields, PodRules, Rule, check_pod};
use policy_wasm::settings::Settings;
use serde::Serialize;

use crate::documents::Object;
use crate::positions::DocumentPositions;

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
    /// The field's line and column in the file; when the field is missing, those of the nearest
    /// enclosing field that is there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_line: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field_column: Option<usize>,
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
    pub fn whole_file(file: &str, message: String) -> Self {
        InputError {
            file: file.to_owned(),
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
            api_version: crate::API_VERSION,
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

/// Which rules lint checks, from the policy's settings: the pod rules, and the namespaces left
/// out (an object in one is skipped, as the policy admits it unchecked). Signatures need the
/// registry and are checked at admission only.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LintRules {
    pub pod: PodRules,
    pub exempt_namespaces: Vec<String>,
}

impl LintRules {
    pub fn from_settings(settings: &Settings) -> Self {
        LintRules {
            pod: PodRules {
                pod_security: settings.pod_security(),
                limits: settings.rule_toggles().limits,
                require_requests: settings.require_requests.unwrap_or(false),
            },
            exempt_namespaces: settings.exempt_namespaces.clone(),
        }
    }
}

/// Checks the objects of one file's text into `report`.
pub fn lint_text(file: &str, text: &str, rules: &LintRules, report: &mut LintReport) {
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

fn lint_object(file: &str, object: &Object, rules: &LintRules, report: &mut LintReport) {
    let (kind, name) = (object.kind().to_owned(), object.name().to_owned());
    let namespace = object
        .value
        .pointer("/metadata/namespace")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let exempt = rules.exempt_namespaces.iter().any(|n| n == namespace);
    let found = if exempt {
        Err(format!(
            "namespace {namespace:?} is exempt (exemptNamespaces): the policy admits it unchecked"
        ))
    } else {
        pod_spec_of(&object.value)
    };
    let (pointer, spec) = match found {
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
    // Read as the policy reads a request: the fields its rules check, in k8s-openapi's types
    // (a type error there names its field path); other fields are the apiserver's to judge.
    let mut pod: PodFields = match serde_path_to_error::deserialize(spec) {
        Ok(pod) => pod,
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
    pod.annotations = annotations.unwrap_or_default();
    let violations = check_pod(&pod, &rules.pod);
    if violations.is_empty() {
        return;
    }
    let positions = DocumentPositions::read(&object.source);
    report.findings.extend(violations.into_iter().map(|v| {
        let field = if prefix.is_empty() || prefix.ends_with('.') {
            format!("{prefix}{}", v.field)
        } else {
            format!("{prefix}.{}", v.field)
        };
        let position = positions.as_ref().and_then(|p| p.locate(&field));
        Finding {
            file: file.to_owned(),
            document: object.document,
            line: object.line,
            kind: kind.clone(),
            name: name.clone(),
            container_kind: v.container.as_ref().map(|c| c.kind),
            container: v.container.map(|c| c.name),
            rule: v.rule,
            field,
            field_line: position.map(|p| p.line),
            field_column: position.map(|p| p.column),
            value: v.value,
            message: v.message,
        }
    }));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lint_one(text: &str) -> LintReport {
        let mut report = LintReport::default();
        lint_text("test.yaml", text, &LintRules::default(), &mut report);
        report
    }

    const ROOT_CONTAINER: &str = "containers:\n    - name: shell\n      image: busybox\n      securityContext: {runAsUser: 0, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}, seccompProfile: {type: RuntimeDefault}}\n      resources: {limits: {cpu: 100m, memory: 64Mi}}\n";

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

    /// (rule, field line, field column) of each finding.
    fn places(report: &LintReport) -> Vec<(&str, Option<usize>, Option<usize>)> {
        report
            .findings
            .iter()
            .map(|f| (f.rule.name(), f.field_line, f.field_column))
            .collect()
    }

    #[test]
    fn findings_point_at_their_field_in_yaml_lists_and_json() {
        let yaml = format!(
            "kind: ConfigMap\nmetadata: {{name: c}}\n---\nkind: List\nitems:\n- kind: Pod\n  metadata: {{name: a}}\n  spec:\n    {}",
            ROOT_CONTAINER.replace("\n    ", "\n      ")
        );
        let report = lint_one(&yaml);
        // runAsUser: 0 on line 12 (`        securityContext: {runAsUser: 0, ...}`); runAsNonRoot
        // is missing, so the container's securityContext (the nearest field there) is named.
        assert_eq!(
            places(&report),
            [
                ("runAsNonRoot", Some(12), Some(9)),
                ("runAsUser", Some(12), Some(27))
            ],
            "{:#?}",
            report.findings
        );
        // Two JSON values on one line: the second's columns count from the line's start.
        let json = r#"{"kind": "ConfigMap"} {"kind": "Pod", "metadata": {"name": "b"}, "spec": {"hostPID": true, "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}}, "containers": [{"name": "c", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}, "resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]}}"#;
        let report = lint_one(json);
        let column = json.find("\"hostPID\"").expect("hostPID") + 1;
        assert_eq!(places(&report), [("hostNamespaces", Some(1), Some(column))]);
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
    }

    #[test]
    fn settings_choose_the_rules_and_leave_exempt_namespaces_out() {
        let text = format!(
            "kind: Pod\nmetadata: {{name: a, namespace: kube-system}}\nspec:\n  {ROOT_CONTAINER}---\nkind: Pod\nmetadata: {{name: b, namespace: apps}}\nspec:\n  {ROOT_CONTAINER}"
        );
        let settings: Settings = serde_json::from_value(serde_json::json!({
            "podSecurity": "baseline",
            "requireRequests": true,
            "exemptNamespaces": ["kube-system"],
            "rules": {"signedImages": false}
        }))
        .expect("settings");
        let mut report = LintReport::default();
        lint_text(
            "t.yaml",
            &text,
            &LintRules::from_settings(&settings),
            &mut report,
        );
        assert_eq!(report.workloads, 1);
        assert_eq!(
            report.skipped[0].reason,
            "namespace \"kube-system\" is exempt (exemptNamespaces): the policy admits it unchecked"
        );
        // Baseline lets root run; requests are required.
        let rules: Vec<&str> = report.findings.iter().map(|f| f.rule.name()).collect();
        assert_eq!(rules, ["limits", "limits"]);
        assert!(report.findings.iter().all(|f| f.name == "b"));
    }
}
