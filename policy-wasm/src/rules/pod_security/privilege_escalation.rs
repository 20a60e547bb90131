//! Privilege Escalation (restricted, 1.8+): every container sets
//! `securityContext.allowPrivilegeEscalation: false` explicitly (the default lets set-user-ID
//! binaries gain privileges); Windows pods pass (1.25+).

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers};
use super::Check;

const SET_TRUE: &str = "allowPrivilegeEscalation is true; it must be false";
const NOT_SET: &str = "allowPrivilegeEscalation is not set; it must be false";

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
                Some(true) => (Some("true".to_owned()), SET_TRUE),
                None => (None, NOT_SET),
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

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let message = format!(
        "(e.c.?securityContext.?allowPrivilegeEscalation.hasValue() ? {} : {})",
        cel_parts::text(SET_TRUE),
        cel_parts::text(NOT_SET)
    );
    format!(
        "variables.windows ? [] :
variables.containers
  .filter(e, e.c.?securityContext.?allowPrivilegeEscalation.orValue(true) != false)
  .map(e, {})",
        cel_parts::container_says(
            &message,
            Rule::PodSecurity(Check::PrivilegeEscalation).name()
        )
    )
}

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
