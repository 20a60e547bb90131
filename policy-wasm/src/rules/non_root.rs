//! Not root, as the Pod Security Standards (restricted) define it: `runAsNonRoot: true` on the
//! container or inherited from the pod, and no `runAsUser: 0` at either level (the container's
//! value overrides the pod's).

use super::{PodFields, Rule, Violation, containers};

pub fn check_non_root(spec: &PodFields) -> Vec<Violation> {
    let pod = spec.security_context.as_ref();
    let mut violations = Vec::new();
    for c in containers(spec) {
        let own = c.security_context;
        let violation = |message: String| Violation {
            rule: Rule::NonRoot,
            kind: c.kind,
            container: c.name.to_owned(),
            message,
        };
        let run_as_non_root = own
            .and_then(|s| s.run_as_non_root)
            .or(pod.and_then(|p| p.run_as_non_root));
        match run_as_non_root {
            Some(true) => {}
            Some(false) => {
                violations.push(violation("runAsNonRoot is false; it must be true".into()))
            }
            None => violations.push(violation(
                "runAsNonRoot is not set on the container or the pod; it must be true".into(),
            )),
        }
        let run_as_user = own
            .and_then(|s| s.run_as_user)
            .or(pod.and_then(|p| p.run_as_user));
        if run_as_user == Some(0) {
            let level = if own.and_then(|s| s.run_as_user).is_some() {
                "container"
            } else {
                "pod"
            };
            violations.push(violation(format!(
                "runAsUser is 0 (root), set on the {level}"
            )));
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
        check_non_root(spec)
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn pod_level_run_as_non_root_is_inherited() {
        assert!(messages(&pod_spec(|_| {})).is_empty());
    }

    #[test]
    fn container_level_run_as_non_root_suffices_without_the_pod() {
        let spec = pod_spec(|v| {
            v["securityContext"] = json!({});
            v["containers"][0]["securityContext"]["runAsNonRoot"] = json!(true);
        });
        assert!(messages(&spec).is_empty());
    }

    #[test]
    fn container_false_overrides_pod_true() {
        let spec =
            pod_spec(|v| v["containers"][0]["securityContext"]["runAsNonRoot"] = json!(false));
        assert_eq!(
            messages(&spec),
            ["container \"bizra-node\": runAsNonRoot is false; it must be true [nonRoot]"]
        );
    }

    #[test]
    fn missing_everywhere_is_a_violation() {
        let spec = pod_spec(|v| v["securityContext"] = json!({}));
        assert_eq!(
            messages(&spec),
            [
                "container \"bizra-node\": runAsNonRoot is not set on the container or the pod; it must be true [nonRoot]"
            ]
        );
    }

    #[test]
    fn uid_zero_is_rejected_at_either_level_and_the_container_wins() {
        let pod_root = pod_spec(|v| v["securityContext"]["runAsUser"] = json!(0));
        assert_eq!(
            messages(&pod_root),
            ["container \"bizra-node\": runAsUser is 0 (root), set on the pod [nonRoot]"]
        );
        let container_root =
            pod_spec(|v| v["containers"][0]["securityContext"]["runAsUser"] = json!(0));
        assert_eq!(
            messages(&container_root),
            ["container \"bizra-node\": runAsUser is 0 (root), set on the container [nonRoot]"]
        );
        let container_overrides = pod_spec(|v| {
            v["securityContext"]["runAsUser"] = json!(0);
            v["containers"][0]["securityContext"]["runAsUser"] = json!(1000);
        });
        assert!(messages(&container_overrides).is_empty());
    }

    #[test]
    fn init_and_ephemeral_containers_are_checked() {
        let spec = pod_spec(|v| {
            v["initContainers"] = json!([{"name": "init", "securityContext": {"runAsUser": 0}}]);
            v["ephemeralContainers"] =
                json!([{"name": "debug", "securityContext": {"runAsNonRoot": false}}]);
        });
        assert_eq!(
            messages(&spec),
            [
                "init container \"init\": runAsUser is 0 (root), set on the container [nonRoot]",
                "ephemeral container \"debug\": runAsNonRoot is false; it must be true [nonRoot]",
            ]
        );
    }
}
