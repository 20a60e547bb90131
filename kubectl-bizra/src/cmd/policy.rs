//! `kubectl bizra policy vap`: the admission policy's rules as a CEL ValidatingAdmissionPolicy and
//! its binding, for clusters without Kubewarden. The expressions come from the rule modules of
//! `policy-wasm` (each beside its Rust function); this command only reads the settings and prints.

use std::path::{Path, PathBuf};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use policy_wasm::cel::{self, Action, AdmissionPolicy, Scope};
use policy_wasm::settings::Settings;
use serde::Serialize;

use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output::OutputFormat;

/// The shipped validating policy, whose settings are the default.
const SHIPPED_POLICY: &str = include_str!("../../../manifests/policy/bizra-secure-pods.yaml");

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(subcommand)]
    pub command: PolicyCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Print a ValidatingAdmissionPolicy and its binding enforcing the policy's rules (all but
    /// signature verification, which CEL cannot do) with the apiserver's own CEL.
    Vap(VapArgs),
}

#[derive(Debug, clap::Args)]
pub struct VapArgs {
    /// The policy settings, YAML or JSON: the `spec.settings` of a ClusterAdmissionPolicy, or the
    /// ClusterAdmissionPolicy itself (default: the shipped bizra-secure-pods settings).
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub settings: Option<PathBuf>,

    /// What the binding does with a violation: deny the request, warn (admit it with a warning)
    /// or audit (admit it and record the violations in the audit log) [default: deny, or audit
    /// for a policy in monitor mode].
    #[arg(long, value_enum, value_name = "ACTION")]
    pub action: Option<ActionArg>,
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub enum ActionArg {
    Deny,
    Warn,
    Audit,
}

impl From<ActionArg> for Action {
    fn from(arg: ActionArg) -> Self {
        match arg {
            ActionArg::Deny => Action::Deny,
            ActionArg::Warn => Action::Warn,
            ActionArg::Audit => Action::Audit,
        }
    }
}

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
pub fn settings_from_text(source: &str, text: &str) -> Result<PolicySource, Error> {
    let value: serde_json::Value = serde_saphyr::from_str(text)
        .map_err(|e| Error::Usage(format!("{source}: not YAML or JSON: {e}")))?;
    let empty = || serde_json::Value::Object(Default::default());
    let (settings, scope, monitor) = match value.get("kind").and_then(serde_json::Value::as_str) {
        Some("ClusterAdmissionPolicy") => {
            let selector = match value.pointer("/spec/namespaceSelector") {
                None | Some(serde_json::Value::Null) => None,
                Some(selector) => Some(
                    serde_json::from_value::<LabelSelector>(selector.clone()).map_err(|e| {
                        Error::Usage(format!("{source}: spec.namespaceSelector: {e}"))
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
            return Err(Error::Usage(format!(
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
        .map_err(|e| Error::Usage(format!("{source}: the policy settings are not valid: {e}")))?;
    Ok(PolicySource {
        settings,
        scope,
        monitor,
    })
}

fn read_settings(path: Option<&Path>) -> Result<PolicySource, Error> {
    match path {
        None => settings_from_text("the shipped bizra-secure-pods policy", SHIPPED_POLICY),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                Error::Usage(format!(
                    "cannot read the settings file {}: {e}",
                    path.display()
                ))
            })?;
            settings_from_text(&path.display().to_string(), &text)
        }
    }
}

/// kubectl's form for several objects in JSON.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct List {
    api_version: &'static str,
    kind: &'static str,
    items: [serde_json::Value; 2],
}

/// The policy and binding as the command prints them: YAML (the default, and for `-o table`)
/// with a header naming what it leaves out, or a JSON `List`.
pub fn render(generated: &AdmissionPolicy, format: OutputFormat) -> anyhow::Result<String> {
    Ok(match format {
        OutputFormat::Json => {
            let list = List {
                api_version: "v1",
                kind: "List",
                items: [
                    serde_json::to_value(&generated.policy)?,
                    serde_json::to_value(&generated.binding)?,
                ],
            };
            serde_json::to_string_pretty(&list)? + "\n"
        }
        OutputFormat::Yaml | OutputFormat::Table => format!(
            "# Generated by `kubectl bizra policy vap` from the rules of policy-wasm; do not edit.\n\
             # Not covered: {}.\n{}---\n{}",
            cel::NOT_COVERED,
            serde_saphyr::to_string(&generated.policy)?,
            serde_saphyr::to_string(&generated.binding)?
        ),
    })
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        PolicyCommand::Vap(args) => {
            let source = read_settings(args.settings.as_deref())?;
            let action = match (args.action, source.monitor) {
                (Some(action), _) => action.into(),
                (None, true) => {
                    eprintln!(
                        "the policy is in monitor mode: the binding audits (--action sets another)"
                    );
                    Action::Audit
                }
                (None, false) => Action::Deny,
            };
            let generated = cel::admission_policy(&source.settings, action, &source.scope)
                .map_err(|e| Error::Usage(e.to_string()))?;
            let text = render(&generated, global.output)?;
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            stdout.write_all(text.as_bytes())?;
            stdout.flush()?;
            Ok(ExitStatus::Success)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_settings_and_scope_are_read_from_the_policy() {
        let source = read_settings(None).expect("shipped settings");
        assert_eq!(source.settings.exempt_namespaces, ["kube-system"]);
        assert_eq!(source.settings.signatures.len(), 1);
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

    #[test]
    fn yaml_output_says_what_it_leaves_out_and_holds_both_objects() {
        let source = read_settings(None).expect("settings");
        let generated =
            cel::admission_policy(&source.settings, Action::Deny, &source.scope).expect("policy");
        let yaml = render(&generated, OutputFormat::Yaml).expect("YAML");
        assert!(
            yaml.lines()
                .nth(1)
                .is_some_and(|l| l.contains("signedImages"))
        );
        let documents: Vec<serde_json::Value> = yaml
            .split("\n---\n")
            .map(|d| serde_saphyr::from_str(d).expect("a YAML document"))
            .collect();
        assert_eq!(documents[0]["kind"], "ValidatingAdmissionPolicy");
        assert_eq!(documents[1]["kind"], "ValidatingAdmissionPolicyBinding");
        let json: serde_json::Value =
            serde_json::from_str(&render(&generated, OutputFormat::Json).expect("JSON"))
                .expect("JSON");
        assert_eq!(json["kind"], "List");
        assert_eq!(json["items"][0], documents[0]);
        assert_eq!(json["items"][1], documents[1]);
    }
}
