//! The browser playground's engine: `kubectl bizra lint` and `kubectl bizra policy vap` as
//! functions the page calls, on the same crate the plugin uses (`bizra-offline`, and through it
//! the policy's own rule functions), so the page cannot drift from the command. Nothing leaves
//! the browser: the page passes text in and shows what comes back.
//!
//! A fault of the input is a thrown `Error` with the reason; a bug (a panic) is written to the
//! browser console and ends as a `WebAssembly.RuntimeError` (the module aborts on panic), after
//! which the page starts a fresh instance.

use bizra_offline::lint::{LintReport, LintRules, lint_text};
use bizra_offline::settings::{PolicySource, SHIPPED_POLICY, settings_from_text};
use bizra_offline::vap::{VapFormat, default_action, render};
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

#[wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = console, js_name = error)]
    fn console_error(message: &str);
}

/// A panic's message goes to the browser console before the module aborts.
#[wasm_bindgen(start)]
pub fn start() {
    std::panic::set_hook(Box::new(|info| {
        console_error(&format!("bizra playground: internal error: {info}"));
    }));
}

fn settings(text: &str) -> Result<PolicySource, JsError> {
    settings_from_text("the settings", text).map_err(|e| JsError::new(&e.to_string()))
}

fn json<T: Serialize>(value: &T) -> Result<String, JsError> {
    serde_json::to_string(value).map_err(|e| JsError::new(&e.to_string()))
}

/// `kubectl bizra lint -o json --settings SETTINGS FILE` for one file: the LintReport as JSON.
/// Throws the settings' fault when they cannot be read.
#[wasm_bindgen]
pub fn lint(file: &str, manifest: &str, settings_text: &str) -> Result<String, JsError> {
    let rules = LintRules::from_settings(&settings(settings_text)?.settings);
    json(&lint_report(file, manifest, &rules))
}

fn lint_report(file: &str, manifest: &str, rules: &LintRules) -> LintReport {
    let mut report = LintReport {
        files: 1,
        ..LintReport::default()
    };
    lint_text(file, manifest, rules, &mut report);
    report
}

/// `kubectl bizra policy vap --settings SETTINGS [--action ACTION]`: the YAML it prints. An
/// empty action is the command's default (audit for a policy in monitor mode, else deny).
/// Throws the settings' fault, an unknown action, or why CEL has nothing to check.
#[wasm_bindgen]
pub fn vap(settings_text: &str, action: &str) -> Result<String, JsError> {
    let source = settings(settings_text)?;
    let action = match action {
        "" => default_action(&source),
        "deny" => Action::Deny,
        "warn" => Action::Warn,
        "audit" => Action::Audit,
        other => {
            return Err(JsError::new(&format!(
                "unknown action {other:?}: deny, warn or audit"
            )));
        }
    };
    let generated = admission_policy(&source.settings, action, &source.scope)
        .map_err(|e| JsError::new(&e.to_string()))?;
    render(&generated, VapFormat::Yaml).map_err(|e| JsError::new(&e.to_string()))
}

/// The shipped bizra-secure-pods policy's settings, as the settings pane starts.
#[wasm_bindgen]
pub fn shipped_settings() -> Result<String, JsError> {
    let policy: serde_json::Value =
        serde_saphyr::from_str(SHIPPED_POLICY).map_err(|e| JsError::new(&e.to_string()))?;
    serde_saphyr::to_string(&policy["spec"]["settings"]).map_err(|e| JsError::new(&e.to_string()))
}

#[derive(Serialize)]
struct Example {
    name: &'static str,
    manifest: &'static str,
}

/// The examples, as JSON `[{name, manifest}]`.
#[wasm_bindgen]
pub fn examples() -> Result<String, JsError> {
    let list: Vec<Example> = EXAMPLES
        .iter()
        .map(|(name, manifest)| Example { name, manifest })
        .collect();
    json(&list)
}

/// Panics. The browser test calls it through the page's guard to check that the page recovers
/// from an internal error (a fresh instance, the results cleared, the fault said).
#[wasm_bindgen]
pub fn internal_error_for_tests() {
    panic!("internal_error_for_tests was called");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_settings_read_back_and_every_example_breaks_or_passes_as_named() {
        let settings_text = shipped_settings().unwrap_or_else(|_| panic!("shipped settings"));
        let rules = LintRules::from_settings(
            &settings_from_text("pane", &settings_text)
                .expect("the shipped settings read back")
                .settings,
        );
        for (name, manifest) in EXAMPLES {
            let report = lint_report("example.yaml", manifest, &rules);
            assert_eq!(report.errors, [], "{name}");
            assert_eq!(
                report.findings.is_empty(),
                name == "The shipped Deployment",
                "{name}: {} findings",
                report.findings.len()
            );
        }
    }
}
