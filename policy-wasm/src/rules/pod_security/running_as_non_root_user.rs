//! Running as Non-root user (restricted, 1.23+): `runAsUser` is not 0 on the pod or any
//! container (a pod-level 0 fails even when every container overrides it). Since 1.35 a pod in
//! a user namespace (`hostUsers: false`) passes.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::RunningAsNonRootUser);
const POD_ROOT: &str = "runAsUser is 0 (root) on the pod";
const CONTAINER_ROOT: &str = "runAsUser is 0 (root)";

pub fn check(pod: &PodFields) -> Vec<Violation> {
    if super::in_user_namespace(pod) {
        return Vec::new();
    }
    let mut violations = Vec::new();
    if super::pod_context(pod).and_then(|sc| sc.run_as_user) == Some(0) {
        violations.push(pod_violation(
            RULE,
            "spec.securityContext.runAsUser",
            Some("0".into()),
            POD_ROOT,
        ));
    }
    for c in containers(pod) {
        if c.security_context.and_then(|sc| sc.run_as_user) == Some(0) {
            violations.push(c.violation(
                RULE,
                "securityContext.runAsUser",
                Some("0".into()),
                CONTAINER_ROOT,
            ));
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let rule = RULE.name();
    format!(
        "variables.userNamespace ? [] :
(variables.podSecurityContext.?runAsUser.orValue(1) == 0 ? [{pod}] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?runAsUser.orValue(1) == 0)
  .map(e, {container})",
        pod = cel_parts::pod_says(&cel_parts::text(POD_ROOT), rule),
        container = cel_parts::container_says(&cel_parts::text(CONTAINER_ROOT), rule),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn uid_zero_fails_at_either_level() {
        assert!(found(Check::RunningAsNonRootUser, |_| {}).is_empty());
        assert_eq!(
            found(Check::RunningAsNonRootUser, |v| {
                v["spec"]["securityContext"]["runAsUser"] = json!(0);
                v["spec"]["containers"][0]["securityContext"]["runAsUser"] = json!(1000);
            }),
            ["spec.securityContext.runAsUser=0: runAsUser is 0 (root) on the pod"]
        );
        assert_eq!(
            found(Check::RunningAsNonRootUser, |v| {
                v["spec"]["containers"][0]["securityContext"]["runAsUser"] = json!(0)
            }),
            ["spec.containers[0].securityContext.runAsUser=0: runAsUser is 0 (root)"]
        );
        let userns = found(Check::RunningAsNonRootUser, |v| {
            v["spec"]["securityContext"]["runAsUser"] = json!(0);
            v["spec"]["hostUsers"] = json!(false);
        });
        assert!(userns.is_empty());
    }
}
