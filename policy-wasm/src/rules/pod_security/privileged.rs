//! Privileged Containers (baseline): `securityContext.privileged` must not be true.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::Privileged);
const MESSAGE: &str = "securityContext.privileged is true; privileged containers are not allowed";

pub fn check(pod: &PodFields) -> Vec<Violation> {
    containers(pod)
        .iter()
        .filter(|c| c.security_context.and_then(|sc| sc.privileged) == Some(true))
        .map(|c| {
            c.violation(
                RULE,
                "securityContext.privileged",
                Some("true".into()),
                MESSAGE,
            )
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    format!(
        "variables.containers\n  .filter(e, e.c.?securityContext.?privileged.orValue(false) == true)\n  .map(e, {})",
        cel_parts::container_says(&cel_parts::text(MESSAGE), RULE.name())
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn privileged_init_and_ephemeral_containers_fail_too() {
        assert!(found(Check::Privileged, |_| {}).is_empty());
        let privileged = found(Check::Privileged, |v| {
            let sc = json!({"privileged": true});
            v["spec"]["initContainers"] = json!([{"name": "init", "securityContext": sc}]);
            v["spec"]["ephemeralContainers"] = json!([{"name": "debug", "securityContext": sc}]);
            v["spec"]["containers"][0]["securityContext"]["privileged"] = json!(false);
        });
        assert_eq!(
            privileged,
            [
                "spec.initContainers[0].securityContext.privileged=true: securityContext.privileged is true; privileged containers are not allowed",
                "spec.ephemeralContainers[0].securityContext.privileged=true: securityContext.privileged is true; privileged containers are not allowed",
            ]
        );
    }
}
