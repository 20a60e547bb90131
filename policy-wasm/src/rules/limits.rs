//! Resource limits: cpu and memory limits on every container and init container, and optionally
//! requests too. Ephemeral containers cannot carry resources and are exempt.

use super::{PodFields, Rule, Violation, containers};

pub fn check_limits(spec: &PodFields, require_requests: bool) -> Vec<Violation> {
    let mut violations = Vec::new();
    for c in containers(spec) {
        let Some(resources) = c.resources else {
            continue;
        };
        let limits = resources.and_then(|r| r.limits.as_ref());
        let requests = resources.and_then(|r| r.requests.as_ref());
        let mut check = |set: Option<&std::collections::BTreeMap<String, _>>, what: &str| {
            for resource in ["cpu", "memory"] {
                if !set.is_some_and(|s| s.contains_key(resource)) {
                    violations.push(Violation {
                        rule: Rule::Limits,
                        kind: c.kind,
                        container: c.name.to_owned(),
                        message: format!("no {resource} {what}"),
                    });
                }
            }
        };
        check(limits, "limit");
        if require_requests {
            check(requests, "request");
        }
    }
    violations
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::pod_spec;
    use super::*;

    fn messages(spec: &k8s_openapi::api::core::v1::PodSpec, require_requests: bool) -> Vec<String> {
        let spec = &PodFields::from(spec);
        check_limits(spec, require_requests)
            .into_iter()
            .map(|v| v.to_string())
            .collect()
    }

    #[test]
    fn both_limits_are_required() {
        assert!(messages(&pod_spec(|_| {}), true).is_empty());
        let none = pod_spec(|v| v["containers"][0]["resources"] = json!({}));
        assert_eq!(
            messages(&none, false),
            [
                "container \"bizra-node\": no cpu limit [limits]",
                "container \"bizra-node\": no memory limit [limits]"
            ]
        );
    }

    #[test]
    fn requests_only_when_asked() {
        let no_requests = pod_spec(|v| {
            v["containers"][0]["resources"] = json!({"limits": {"cpu": "1", "memory": "1Gi"}})
        });
        assert!(messages(&no_requests, false).is_empty());
        assert_eq!(
            messages(&no_requests, true),
            [
                "container \"bizra-node\": no cpu request [limits]",
                "container \"bizra-node\": no memory request [limits]"
            ]
        );
    }

    #[test]
    fn init_containers_need_limits_and_ephemeral_ones_are_exempt() {
        let spec = pod_spec(|v| {
            v["initContainers"] =
                json!([{"name": "init", "resources": {"limits": {"memory": "1Gi"}}}]);
            v["ephemeralContainers"] = json!([{"name": "debug"}]);
        });
        assert_eq!(
            messages(&spec, false),
            ["init container \"init\": no cpu limit [limits]"]
        );
    }
}
