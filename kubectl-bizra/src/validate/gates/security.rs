//! Gate 8: the live pod template passes the admission policy's pod-spec rules (the Pod Security
//! Standards' restricted profile and limits), computed by the policy crate's own functions.

use policy_wasm::rules::{PodFields, PodRules, check_pod};

use super::unreadable;
use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::{GateId, GateResult};

const GATE: GateId = GateId::Security;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[];

pub fn security(snapshot: &Snapshot, _expectations: &Expectations) -> GateResult {
    let Fetch::Ok(deployment) = &snapshot.deployment else {
        return unreadable(GATE, "the Deployment", &snapshot.deployment);
    };
    let Some(template) = deployment.spec.as_ref().map(|s| &s.template) else {
        return GateResult::fail(GATE, "the Deployment has no pod template");
    };
    let Some(spec) = template.spec.as_ref() else {
        return GateResult::fail(GATE, "the Deployment has no pod template");
    };
    let annotations = template
        .metadata
        .as_ref()
        .and_then(|m| m.annotations.as_ref());
    let violations = check_pod(
        &PodFields::of_template(annotations, spec),
        &PodRules::default(),
    );
    let threshold = "Pod Security Standards restricted, cpu and memory limits";
    if violations.is_empty() {
        return GateResult::pass(GATE, "the pod template passes the admission policy's rules")
            .measured("0 violations", threshold);
    }
    let listed: Vec<String> = violations.iter().map(ToString::to_string).collect();
    GateResult::fail(GATE, listed.join("; "))
        .measured(format!("{} violations", violations.len()), threshold)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Status;
    use crate::validate::gates::fixtures::{edit, healthy};

    #[test]
    fn the_seed_template_passes() {
        assert_eq!(
            security(&healthy(), &Expectations::default()).status,
            Status::Pass
        );
    }

    #[test]
    fn a_root_container_fails_with_every_violation_listed() {
        let mut snapshot = healthy();
        if let Fetch::Ok(d) = &mut snapshot.deployment {
            edit(d, |d| {
                let spec = &mut d["spec"]["template"]["spec"];
                spec["securityContext"] = serde_json::json!({"runAsUser": 0, "seccompProfile": {"type": "RuntimeDefault"}});
                spec["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = true.into();
            });
        }
        let result = security(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.observed.as_deref(), Some("3 violations"));
        assert!(
            result
                .message
                .contains("pod: runAsUser is 0 (root) on the pod [runAsUser]"),
            "{}",
            result.message
        );
        assert!(
            result.message.contains("allowPrivilegeEscalation is true"),
            "{}",
            result.message
        );
    }
}
