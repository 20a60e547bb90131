//! Running as Non-root (restricted): `runAsNonRoot: true` on every container, set on it or
//! inherited from the pod, and `false` nowhere (a pod-level `false` fails even when every
//! container overrides it). Since 1.35 a pod in a user namespace (`hostUsers: false`) passes.

use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::RunningAsNonRoot);

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
            "runAsNonRoot is false on the pod; it must be true",
        ));
    }
    for c in containers(pod) {
        match c.security_context.and_then(|sc| sc.run_as_non_root) {
            Some(true) => {}
            Some(false) => violations.push(c.violation(
                RULE,
                "securityContext.runAsNonRoot",
                Some("false".into()),
                "runAsNonRoot is false; it must be true",
            )),
            None if pod_value == Some(true) => {}
            // Inheriting the pod's false is reported once, on the pod.
            None if pod_value == Some(false) => {}
            None => violations.push(c.violation(
                RULE,
                "securityContext.runAsNonRoot",
                None,
                "runAsNonRoot is not set on the container or the pod; it must be true",
            )),
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages.
pub const CEL: &str = r#"variables.userNamespace ? [] :
(variables.podSecurityContext.?runAsNonRoot.orValue(true) == false
  ? ['pod: runAsNonRoot is false on the pod; it must be true [runAsNonRoot]'] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?runAsNonRoot.orValue(true) == false)
  .map(e, e.label + ': runAsNonRoot is false; it must be true [runAsNonRoot]')
+ (variables.podSecurityContext.?runAsNonRoot.hasValue() ? [] : variables.containers
  .filter(e, !e.c.?securityContext.?runAsNonRoot.hasValue())
  .map(e, e.label + ': runAsNonRoot is not set on the container or the pod; it must be true [runAsNonRoot]'))"#;

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
