//! `kubectl bizra policy vap`: the admission policy's rules as a CEL ValidatingAdmissionPolicy and
//! its binding, for clusters without Kubewarden. The expressions come from the rule modules of
//! `policy-wasm` (each beside its Rust function); this command only reads the settings and prints.

use std::path::{Path, PathBuf};

use bizra_offline::settings::{PolicySource, SHIPPED_POLICY, settings_from_text};
use bizra_offline::vap::{self, VapFormat};
use policy_wasm::cel::{self, Action, AdmissionPolicy};

use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::GlobalOptions;
use crate::output::OutputFormat;

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

/// The settings in `path`, or the shipped policy's; a fault is a usage error.
pub fn read_settings(path: Option<&Path>) -> Result<PolicySource, Error> {
    let read = match path {
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
    };
    read.map_err(|e| Error::Usage(e.to_string()))
}

/// The policy and binding as the command prints them: YAML (the default, and for `-o table`)
/// or a JSON `List`.
pub fn render(generated: &AdmissionPolicy, format: OutputFormat) -> anyhow::Result<String> {
    let format = match format {
        OutputFormat::Json => VapFormat::Json,
        OutputFormat::Yaml | OutputFormat::Table | OutputFormat::Junit | OutputFormat::Sarif => {
            VapFormat::Yaml
        }
    };
    Ok(vap::render(generated, format)?)
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    match args.command {
        PolicyCommand::Vap(args) => {
            let source = read_settings(args.settings.as_deref())?;
            let action = match args.action {
                Some(action) => action.into(),
                None => {
                    if source.monitor {
                        eprintln!(
                            "the policy is in monitor mode: the binding audits (--action sets another)"
                        );
                    }
                    vap::default_action(&source)
                }
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
