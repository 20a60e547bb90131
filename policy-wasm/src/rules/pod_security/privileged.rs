//! Privileged Containers (baseline): `securityContext.privileged` must not be true.

use super::super::{PodFields, Rule, Violation, containers};
use super::Check;

pub fn check(pod: &PodFields) -> Vec<Violation> {
    containers(pod)
        .iter()
        .filter(|c| c.security_context.and_then(|sc| sc.privileged) == Some(true))
        .map(|c| {
            c.violation(
                Rule::PodSecurity(Check::Privileged),
                "securityContext.privileged",
                Some("true".into()),
                "securityContext.privileged is true; privileged containers are not allowed",
            )
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages.
pub const CEL: &str = r#"variables.containers
  .filter(e, e.c.?securityContext.?privileged.orValue(false) == true)
  .map(e, e.label + ': securityContext.privileged is true; privileged containers are not allowed [privileged]')"#;

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
