//! Privilege Escalation (restricted, 1.8+): every container sets
//! `securityContext.allowPrivilegeEscalation: false` explicitly (the default lets set-user-ID
//! binaries gain privileges); Windows pods pass (1.25+).

use super::super::{PodFields, Rule, Violation, containers};
use super::Check;

pub fn check(pod: &PodFields) -> Vec<Violation> {
    if super::is_windows(pod) {
        return Vec::new();
    }
    containers(pod)
        .iter()
        .filter_map(|c| {
            let (value, message) = match c
                .security_context
                .and_then(|sc| sc.allow_privilege_escalation)
            {
                Some(false) => return None,
                Some(true) => (
                    Some("true".to_owned()),
                    "allowPrivilegeEscalation is true; it must be false",
                ),
                None => (
                    None,
                    "allowPrivilegeEscalation is not set; it must be false",
                ),
            };
            Some(c.violation(
                Rule::PodSecurity(Check::PrivilegeEscalation),
                "securityContext.allowPrivilegeEscalation",
                value,
                message,
            ))
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages.
pub const CEL: &str = r#"variables.windows ? [] :
variables.containers
  .filter(e, e.c.?securityContext.?allowPrivilegeEscalation.orValue(true) != false)
  .map(e, e.label + (e.c.?securityContext.?allowPrivilegeEscalation.hasValue()
    ? ': allowPrivilegeEscalation is true; it must be false'
    : ': allowPrivilegeEscalation is not set; it must be false') + ' [allowPrivilegeEscalation]')"#;

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn escalation_must_be_explicitly_false() {
        assert!(found(Check::PrivilegeEscalation, |_| {}).is_empty());
        let unset = found(Check::PrivilegeEscalation, |v| {
            v["spec"]["containers"][0]["securityContext"] =
                json!({"capabilities": {"drop": ["ALL"]}})
        });
        assert_eq!(
            unset,
            [
                "spec.containers[0].securityContext.allowPrivilegeEscalation=<unset>: allowPrivilegeEscalation is not set; it must be false"
            ]
        );
        let on = found(Check::PrivilegeEscalation, |v| {
            v["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = json!(true)
        });
        assert_eq!(
            on,
            [
                "spec.containers[0].securityContext.allowPrivilegeEscalation=true: allowPrivilegeEscalation is true; it must be false"
            ]
        );
        let windows = found(Check::PrivilegeEscalation, |v| {
            v["spec"]["os"] = json!({"name": "windows"});
            v["spec"]["containers"][0]["securityContext"] = json!({});
        });
        assert!(windows.is_empty());
    }
}
