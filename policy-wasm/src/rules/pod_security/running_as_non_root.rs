//! Running as Non-root (restricted): `runAsNonRoot: true` on every container, set on it or
//! inherited from the pod, and `false` nowhere (a pod-level `false` fails even when every
//! container overrides it). Since 1.35 a pod in a user namespace (`hostUsers: false`) passes.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::RunningAsNonRoot);
const POD_FALSE: &str = "runAsNonRoot is false on the pod; it must be true";
const CONTAINER_FALSE: &str = "runAsNonRoot is false; it must be true";
const UNSET: &str = "runAsNonRoot is not set on the container or the pod; it must be true";

pub fn check(pod: &PodFields) -> Vec<Violation> {
    if super::in_user_namespace(pod) {
        return Vec::new();
    }
    let mut violations = Vec::new();
    let pod_value = super::pod_context(pod).and_then(|sc| sc.run_as_non_root);
    if pod_value == Some(false) {
        violations.push(pod_violation(
            RULE,
            "spec.securityContext.runAsNonRoot",
            Some("false".into()),
            POD_FALSE,
        ));
    }
    for c in containers(pod) {
        match c.security_context.and_then(|sc| sc.run_as_non_root) {
            Some(true) => {}
            Some(false) => violations.push(c.violation(
                RULE,
                "securityContext.runAsNonRoot",
                Some("false".into()),
                CONTAINER_FALSE,
            )),
            None if pod_value == Some(true) => {}
            // Inheriting the pod's false is reported once, on the pod.
            None if pod_value == Some(false) => {}
            None => violations.push(c.violation(RULE, "securityContext.runAsNonRoot", None, UNSET)),
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let rule = RULE.name();
    format!(
        "variables.userNamespace ? [] :
(variables.podSecurityContext.?runAsNonRoot.orValue(true) == false ? [{pod_false}] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?runAsNonRoot.orValue(true) == false)
  .map(e, {container_false})
+ (variables.podSecurityContext.?runAsNonRoot.hasValue() ? [] : variables.containers
  .filter(e, !e.c.?securityContext.?runAsNonRoot.hasValue())
  .map(e, {unset}))",
        pod_false = cel_parts::pod_says(&cel_parts::text(POD_FALSE), rule),
        container_false = cel_parts::container_says(&cel_parts::text(CONTAINER_FALSE), rule),
        unset = cel_parts::container_says(&cel_parts::text(UNSET), rule),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn pod_level_true_is_inherited_and_container_true_suffices() {
        assert!(found(Check::RunningAsNonRoot, |_| {}).is_empty());
        let own = found(Check::RunningAsNonRoot, |v| {
            v["spec"]["securityContext"] = json!({});
            v["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
        });
        assert!(own.is_empty());
    }

    #[test]
    fn false_anywhere_or_unset_everywhere_fails() {
        assert_eq!(
            found(Check::RunningAsNonRoot, |v| v["spec"]["securityContext"] =
                json!({})),
            [
                "spec.containers[0].securityContext.runAsNonRoot=<unset>: runAsNonRoot is not set on the container or the pod; it must be true"
            ]
        );
        assert_eq!(
            found(Check::RunningAsNonRoot, |v| {
                v["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(false)
            }),
            [
                "spec.containers[0].securityContext.runAsNonRoot=false: runAsNonRoot is false; it must be true"
            ]
        );
        // The pod's false fails although the container says true.
        assert_eq!(
            found(Check::RunningAsNonRoot, |v| {
                v["spec"]["securityContext"]["runAsNonRoot"] = json!(false);
                v["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
            }),
            [
                "spec.securityContext.runAsNonRoot=false: runAsNonRoot is false on the pod; it must be true"
            ]
        );
    }

    #[test]
    fn a_user_namespace_passes() {
        let userns = found(Check::RunningAsNonRoot, |v| {
            v["spec"]["securityContext"] = json!({"runAsNonRoot": false});
            v["spec"]["hostUsers"] = json!(false);
        });
        assert!(userns.is_empty());
        let host_users = found(Check::RunningAsNonRoot, |v| {
            v["spec"]["securityContext"] = json!({});
            v["spec"]["hostUsers"] = json!(true);
        });
        assert_eq!(host_users.len(), 1);
    }
}
