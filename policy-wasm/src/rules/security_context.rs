//! The seed report's container security context: `allowPrivilegeEscalation` explicitly false and
//! every capability dropped (`capabilities.drop` holds `ALL`).

use super::{PodFields, Rule, Violation, containers};

pub fn check_security_context(spec: &PodFields) -> Vec<Violation> {
    let mut violations = Vec::new();
    for c in containers(spec) {
        let violation = |message: &str| Violation {
            rule: Rule::SecurityContext,
            kind: c.kind,
            container: c.name.to_owned(),
            message: message.to_owned(),
        };
        match c
            .security_context
            .and_then(|s| s.allow_privilege_escalation)
        {
            Some(false) => {}
            Some(true) => violations.push(violation(
                "allowPrivilegeEscalation is true; it must be false",
            )),
            None => violations.push(violation(
                "allowPrivilegeEscalation is not set; it must be false",
            )),
        }
        let drops_all = c
            .security_context
            .and_then(|s| s.capabilities.as_ref())
            .and_then(|caps| caps.drop.as_ref())
            .is_some_and(|drop| drop.iter().any(|cap| cap == "ALL"));
        if !drops_all {
            violations.push(violation("capabilities.drop does not contain ALL"));
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::pod_spec;
    use super::*;

    fn messages(spec: &k8s_openapi::api::core::v1::PodSpec) -> Vec<String> {
        let spec = &PodFields::from(spec);
        check_security_context(spec)
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn the_seed_context_passes() {
        assert!(messages(&pod_spec(|_| {})).is_empty());
    }

    #[test]
    fn escalation_must_be_explicitly_false() {
        let unset = pod_spec(|v| {
            v["containers"][0]["securityContext"] = json!({"capabilities": {"drop": ["ALL"]}})
        });
        assert_eq!(
            messages(&unset),
            [
                "container \"bizra-node\": allowPrivilegeEscalation is not set; it must be false [securityContext]"
            ]
        );
        let on = pod_spec(|v| {
            v["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true)
        });
        assert_eq!(
            messages(&on),
            [
                "container \"bizra-node\": allowPrivilegeEscalation is true; it must be false [securityContext]"
            ]
        );
    }

    #[test]
    fn dropping_some_capabilities_is_not_enough() {
        let spec = pod_spec(|v| {
            v["containers"][0]["securityContext"]["capabilities"] = json!({"drop": ["NET_RAW"]})
        });
        assert_eq!(
            messages(&spec),
            ["container \"bizra-node\": capabilities.drop does not contain ALL [securityContext]"]
        );
    }
}
