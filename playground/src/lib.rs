//! The browser playground's engine: `kubectl bizra lint` and `kubectl bizra policy vap` as
//! functions the page calls, on the same crate the plugin uses (`bizra-offline`, and through it
//! the policy's own rule functions), so the page cannot drift from the command. Nothing leaves
//! the browser: the page passes text in and shows what comes back.

use bizra_offline::lint::{LintReport, LintRules, lint_text};
use bizra_offline::settings::{PolicySource, SHIPPED_POLICY, settings_from_text};
use bizra_offline::vap::{VapFormat, render};
use policy_wasm::cel::{Action, admission_policy};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// What the page's examples are made of, each a manifest a user would paste.
const EXAMPLES: [(&str, &str); 5] = [
    (
        "The shipped Deployment",
        include_str!("../../manifests/base/deployment.yaml"),
    ),
    (
        "A pod running as root",
        include_str!("../examples/root-pod.yaml"),
    ),
    (
        "A CronJob without limits",
        include_str!("../examples/cronjob-without-limits.yaml"),
    ),
    (
        "A privileged debug container",
        include_str!("../examples/privileged-debug.yaml"),
    ),
    (
        "A Deployment with several violations",
        include_str!("../examples/many-violations.yaml"),
    ),
];

fn settings(source: &str, text: &str) -> Result<PolicySource, JsValue> {
    settings_from_text(source, text).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// `kubectl bizra lint -o json --settings SETTINGS FILE` for one file: the LintReport as JSON.
/// Throws the settings' fault when they cannot be read.
#[wasm_bindgen]
pub fn lint(file: &str, manifest: &str, settings_text: &str) -> Result<String, JsValue> {
    let rules = LintRules::from_settings(&settings("the settings", settings_text)?.settings);
    Ok(lint_json(file, manifest, &rules))
}

fn lint_json(file: &str, manifest: &str, rules: &LintRules) -> String {
    let mut report = LintReport {
        files: 1,
        ..LintReport::default()
    };
    lint_text(file, manifest, rules, &mut report);
    serde_json::to_string(&report).unwrap_or_default()
}

/// `kubectl bizra policy vap --settings SETTINGS --action ACTION`: the YAML it prints. Throws
/// the settings' fault, or why CEL has nothing to check.
#[wasm_bindgen]
pub fn vap(settings_text: &str, action: &str) -> Result<String, JsValue> {
    let source = settings("the settings", settings_text)?;
    let action = match action {
        "warn" => Action::Warn,
        "audit" => Action::Audit,
        _ => Action::Deny,
    };
    let generated = admission_policy(&source.settings, action, &source.scope)
        .map_err(|e| JsValue::from_str(&e.to_string()))?;
    render(&generated, VapFormat::Yaml).map_err(|e| JsValue::from_str(&e.to_string()))
}

/// The shipped bizra-secure-pods policy's settings, as the settings pane starts.
#[wasm_bindgen]
pub fn shipped_settings() -> String {
    let value: Result<serde_json::Value, _> = serde_saphyr::from_str(SHIPPED_POLICY);
    value
        .ok()
        .and_then(|policy| serde_saphyr::to_string(&policy["spec"]["settings"]).ok())
        .unwrap_or_default()
}

#[derive(Serialize)]
struct Example {
    name: &'static str,
    manifest: &'static str,
}

/// The examples, as JSON `[{name, manifest}]`.
#[wasm_bindgen]
pub fn examples() -> String {
    let list: Vec<Example> = EXAMPLES
        .iter()
        .map(|(name, manifest)| Example { name, manifest })
        .collect();
    serde_json::to_string(&list).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_settings_read_back_and_every_example_breaks_or_passes_as_named() {
        let settings_text = shipped_settings();
        let rules = LintRules::from_settings(
            &settings_from_text("pane", &settings_text)
                .expect("the shipped settings read back")
                .settings,
        );
        for (name, manifest) in EXAMPLES {
            let report: serde_json::Value =
                serde_json::from_str(&lint_json("example.yaml", manifest, &rules)).expect("JSON");
            assert_eq!(report["errors"], serde_json::json!([]), "{name}");
            let findings = report["findings"].as_array().expect("findings").len();
            assert_eq!(
                findings == 0,
                name == "The shipped Deployment",
                "{name}: {findings} findings"
            );
        }
    }
}
