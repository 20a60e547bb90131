//! The policy's settings as operators write them: a settings map (a ClusterAdmissionPolicy's
//! `spec.settings`) or the ClusterAdmissionPolicy itself, read from YAML or JSON and checked as
//! the policy's `validate_settings` checks them. `kubectl bizra lint --settings`, `kubectl bizra
//! policy vap --settings` and the playground's settings pane read them here.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use policy_wasm::cel::Scope;
use policy_wasm::settings::Settings;

/// The shipped validating policy, whose settings are the default.
pub const SHIPPED_POLICY: &str = include_str!("../../manifests/policy/bizra-secure-pods.yaml");

/// Settings that cannot be read or are not valid; the message names the source and the fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SettingsError(pub String);

/// What the command reads from a settings file: the settings, and when the file is the policy
/// itself, where it applies and whether it only monitors.
#[derive(Debug)]
pub struct PolicySource {
    pub settings: Settings,
    pub scope: Scope,
    /// `spec.mode: monitor`: the policy admits everything and only logs.
    pub monitor: bool,
}

/// The settings in a YAML or JSON text: a settings map, or a ClusterAdmissionPolicy carrying
/// them in `spec.settings` (its namespaceSelector and mode come along; a namespaced
/// AdmissionPolicy is refused: a ValidatingAdmissionPolicy binding is cluster-wide). Checked as
/// the policy's `validate_settings` checks them.
pub fn settings_from_text(source: &str, text: &str) -> Result<PolicySource, SettingsError> {
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| SettingsError(format!("{source}: not YAML or JSON: {e}")))?;
    let empty = || serde_json::Value::Object(Default::default());
    let (settings, scope, monitor) = match value.get("kind").and_then(serde_json::Value::as_str) {
        Some("ClusterAdmissionPolicy") => {
            let selector = match value.pointer("/spec/namespaceSelector") {
                None | Some(serde_json::Value::Null) => None,
                Some(selector) => Some(
                    serde_json::from_value::<LabelSelector>(selector.clone()).map_err(|e| {
                        SettingsError(format!("{source}: spec.namespaceSelector: {e}"))
                    })?,
                ),
            };
            let monitor = value
                .pointer("/spec/mode")
                .and_then(serde_json::Value::as_str)
                == Some("monitor");
            let settings = value
                .pointer("/spec/settings")
                .cloned()
                .unwrap_or_else(empty);
            (
                settings,
                Scope {
                    namespace_selector: selector,
                },
                monitor,
            )
        }
        Some("AdmissionPolicy") => {
            return Err(SettingsError(format!(
                "{source}: a namespaced AdmissionPolicy; a ValidatingAdmissionPolicy's binding applies cluster-wide: give its spec.settings as a file, or a ClusterAdmissionPolicy"
            )));
        }
        _ => (value, Scope::default(), false),
    };
    // An empty file is the empty settings map, as in a ClusterAdmissionPolicy.
    let settings = match settings {
        serde_json::Value::Null => empty(),
        other => other,
    };
    let settings = Settings::parse(settings.to_string().as_bytes())
        .map_err(|e| SettingsError(format!("{source}: the policy settings are not valid: {e}")))?;
    Ok(PolicySource {
        settings,
        scope,
        monitor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_policy_carries_settings_and_its_namespace_scope() {
        let source =
            settings_from_text("the shipped policy", SHIPPED_POLICY).expect("shipped settings");
        assert_eq!(source.settings.exempt_namespaces, ["kube-system"]);
        assert!(!source.monitor);
        let selector = serde_json::to_value(source.scope.namespace_selector).expect("JSON");
        assert_eq!(
            selector["matchExpressions"][0]["values"],
            serde_json::json!(["kube-system", "kube-public", "kubewarden", "istio-system"])
        );
    }

    #[test]
    fn settings_are_a_map_or_a_whole_policy_and_are_checked() {
        let map = settings_from_text(
            "s.yaml",
            "podSecurity: baseline\nrules: {signedImages: false}\n",
        )
        .expect("a settings map");
        assert_eq!(
            map.settings.pod_security(),
            policy_wasm::rules::Profile::Baseline
        );
        assert_eq!(map.scope, Scope::default());
        let err = settings_from_text("s.yaml", "podSecurity: strict\n").expect_err("bad profile");
        assert!(
            err.to_string()
                .starts_with("s.yaml: the policy settings are not valid:"),
            "{err}"
        );
        let err = settings_from_text("s.yaml", "rules: [").expect_err("not YAML");
        assert!(
            err.to_string().starts_with("s.yaml: not YAML or JSON"),
            "{err}"
        );
        let monitor = settings_from_text(
            "p.yaml",
            "kind: ClusterAdmissionPolicy\nspec: {mode: monitor, settings: {rules: {signedImages: false}}}\n",
        )
        .expect("a policy");
        assert!(monitor.monitor);
        let err = settings_from_text("p.yaml", "kind: AdmissionPolicy\nspec: {}\n")
            .expect_err("namespaced");
        assert!(err.to_string().contains("cluster-wide"), "{err}");
    }
}
