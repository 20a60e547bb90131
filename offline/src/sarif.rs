//! `kubectl bizra lint -o sarif`: the lint report as SARIF 2.1.0 (the OASIS standard that GitHub
//! code scanning, GitLab and Jenkins' Warnings plugin read). Each finding is a result naming its
//! rule, file, line and column; every rule is described once, in the tool's `rules`; a file or
//! document that could not be read is a tool execution notification, and makes the run
//! unsuccessful.

use policy_wasm::rules::Rule;
use policy_wasm::rules::pod_security::Check;
use serde_json::{Value, json};

use crate::lint::{Finding, InputError, LintReport};

/// The schema the output follows (OASIS SARIF 2.1.0, errata 01).
pub const SCHEMA: &str =
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

const INFORMATION_URI: &str = "https://github.com/bizra/kubectl-bizra";
const POD_SECURITY_STANDARDS: &str =
    "https://kubernetes.io/docs/concepts/security/pod-security-standards/";

/// Every rule lint can report, in the order `rules` lists them (results point at them by index).
fn all_rules() -> Vec<Rule> {
    Check::ALL
        .into_iter()
        .map(Rule::PodSecurity)
        .chain([Rule::Limits, Rule::SignedImages])
        .collect()
}

fn describe(rule: Rule) -> Value {
    let (short, help_uri, tags) = match rule {
        Rule::PodSecurity(check) => {
            let level = check.level().name();
            (
                format!("Pod Security Standards, {level}: {}", check.control()),
                format!("{POD_SECURITY_STANDARDS}#{level}"),
                json!(["security", "kubernetes", "pod-security-standards", level]),
            )
        }
        Rule::Limits => (
            "Resource limits on every container".to_owned(),
            format!("{INFORMATION_URI}#the-admission-policy"),
            json!(["reliability", "kubernetes"]),
        ),
        Rule::SignedImages => (
            "Signed images".to_owned(),
            format!("{INFORMATION_URI}#the-admission-policy"),
            json!(["security", "kubernetes", "supply-chain"]),
        ),
    };
    json!({
        "id": rule.name(),
        "name": rule.name(),
        "shortDescription": {"text": short},
        "fullDescription": {"text": rule.summary()},
        "help": {"text": rule.summary()},
        "helpUri": help_uri,
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": tags},
    })
}

/// A file name as a URI reference: relative paths stay relative (to the source root, as code
/// scanning resolves them), absolute ones become `file:` URIs; characters a URI cannot carry
/// are percent-encoded, Windows separators become `/`.
pub fn file_uri(file: &str) -> (String, bool) {
    let path = file.replace('\\', "/");
    let windows_drive =
        path.len() >= 2 && path.as_bytes()[1] == b':' && path.as_bytes()[0].is_ascii_alphabetic();
    let absolute = path.starts_with('/') || windows_drive;
    let mut encoded = String::new();
    for byte in path.bytes() {
        let keep = byte.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&byte);
        if keep {
            encoded.push(byte as char);
        } else {
            encoded.push_str(&format!("%{byte:02X}"));
        }
    }
    // `./x` and `x` name the same file; code scanning wants the latter.
    while let Some(rest) = encoded.strip_prefix("./") {
        encoded = rest.to_owned();
    }
    if absolute {
        let slash = if windows_drive { "/" } else { "" };
        (format!("file://{slash}{encoded}"), true)
    } else {
        (encoded, false)
    }
}

fn artifact(file: &str) -> Value {
    let (uri, absolute) = file_uri(file);
    if absolute {
        json!({"uri": uri})
    } else {
        json!({"uri": uri, "uriBaseId": "%SRCROOT%"})
    }
}

fn result(finding: &Finding, rule_index: Option<usize>) -> Value {
    let mut region = json!({"startLine": finding.field_line.unwrap_or(finding.line)});
    if let (Some(_), Some(column)) = (finding.field_line, finding.field_column) {
        region["startColumn"] = json!(column);
    }
    let container = finding
        .container
        .as_ref()
        .map(|c| format!(", container {c:?}"))
        .unwrap_or_default();
    let mut properties = json!({
        "document": finding.document,
        "kind": finding.kind,
        "name": finding.name,
        "field": finding.field,
    });
    if let Some(value) = &finding.value {
        properties["value"] = json!(value);
    }
    let mut result = json!({
        "ruleId": finding.rule.name(),
        "level": "error",
        "message": {"text": format!("{} {:?}{container}: {}", finding.kind, finding.name, finding.message)},
        "locations": [{
            "physicalLocation": {"artifactLocation": artifact(&finding.file), "region": region},
            "logicalLocations": [{"fullyQualifiedName": format!("{}/{}", finding.kind, finding.name), "kind": "object"}],
        }],
        "properties": properties,
    });
    // Pointing at no rule is better than at the wrong one (every rule is listed: a test says so).
    if let Some(index) = rule_index {
        result["ruleIndex"] = json!(index);
    }
    result
}

fn notification(error: &InputError) -> Value {
    let mut location = json!({"physicalLocation": {"artifactLocation": artifact(&error.file)}});
    if let Some(line) = error.line {
        let mut region = json!({"startLine": line});
        if let Some(column) = error.column {
            region["startColumn"] = json!(column);
        }
        location["physicalLocation"]["region"] = region;
    }
    let mut message = error.message.clone();
    if let Some(field) = &error.field {
        message = format!("{field}: {message}");
    }
    json!({"level": "error", "message": {"text": message}, "locations": [location]})
}

/// The report as a SARIF log with one run of `kubectl-bizra` at `version`.
pub fn to_sarif(report: &LintReport, version: &str) -> Value {
    let rules = all_rules();
    let results: Vec<Value> = report
        .findings
        .iter()
        .map(|finding| {
            let index = rules.iter().position(|r| *r == finding.rule);
            result(finding, index)
        })
        .collect();
    json!({
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "kubectl-bizra",
                "fullName": "kubectl bizra lint",
                "version": version,
                "semanticVersion": version,
                "informationUri": INFORMATION_URI,
                "rules": rules.iter().map(|r| describe(*r)).collect::<Vec<_>>(),
            }},
            "invocations": [{
                "executionSuccessful": report.errors.is_empty(),
                "toolExecutionNotifications": report.errors.iter().map(notification).collect::<Vec<_>>(),
            }],
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lint::{LintRules, lint_text};

    #[test]
    fn every_rule_is_described() {
        // Exhaustive: a new kind of rule does not compile until it is listed here and there.
        let listed = |rule: Rule| match rule {
            Rule::PodSecurity(_) | Rule::SignedImages | Rule::Limits => all_rules().contains(&rule),
        };
        for check in Check::ALL {
            assert!(listed(Rule::PodSecurity(check)), "{check:?}");
        }
        assert!(listed(Rule::SignedImages) && listed(Rule::Limits));
        let rules = all_rules();
        for (i, rule) in rules.iter().enumerate() {
            assert_eq!(
                rules.iter().position(|r| r == rule),
                Some(i),
                "{rule:?} twice"
            );
        }
    }

    #[test]
    fn file_names_become_uri_references() {
        assert_eq!(
            file_uri("manifests/base/deployment.yaml"),
            ("manifests/base/deployment.yaml".into(), false)
        );
        assert_eq!(
            file_uri("./my manifests/ä#1.yaml"),
            ("my%20manifests/%C3%A4%231.yaml".into(), false)
        );
        assert_eq!(file_uri("/srv/x.yaml"), ("file:///srv/x.yaml".into(), true));
        assert_eq!(
            file_uri(r"C:\deploy\x.yaml"),
            ("file:///C:/deploy/x.yaml".into(), true)
        );
    }

    #[test]
    fn findings_are_results_pointing_at_their_rule_and_field() {
        let mut report = LintReport {
            files: 1,
            ..LintReport::default()
        };
        let text = "kind: Pod\nmetadata: {name: p}\nspec:\n  hostPID: true\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: c\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n    resources: {limits: {cpu: 100m, memory: 64Mi}}\n---\nkind: Pod\nmetadata: {name: [\n";
        lint_text("pods.yaml", text, &LintRules::default(), &mut report);
        let sarif = to_sarif(&report, "1.2.3");
        let run = &sarif["runs"][0];
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        assert_eq!(rules.len(), Check::ALL.len() + 2);
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), 1, "{results:#?}");
        let result = &results[0];
        assert_eq!(result["ruleId"], "hostNamespaces");
        let index = result["ruleIndex"].as_u64().expect("index") as usize;
        assert_eq!(rules[index]["id"], "hostNamespaces");
        let location = &result["locations"][0]["physicalLocation"];
        assert_eq!(location["artifactLocation"]["uri"], "pods.yaml");
        assert_eq!(
            location["region"],
            json!({"startLine": 4, "startColumn": 3})
        );
        // The broken second document is a notification, and the run did not succeed.
        let invocation = &run["invocations"][0];
        assert_eq!(invocation["executionSuccessful"], false);
        let notice = &invocation["toolExecutionNotifications"][0];
        assert_eq!(
            notice["locations"][0]["physicalLocation"]["region"]["startLine"],
            12
        );
    }
}
