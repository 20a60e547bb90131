//! Resource limits: cpu and memory limits on every container and init container, and optionally
//! requests too. Ephemeral containers cannot carry resources and are exempt. A limit of zero
//! (`0`, `0m`, `0Gi`, `0.0`) is no limit: the kubelet sets no quota for it.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use super::{PodFields, Rule, Violation, cel_parts, containers};

/// The resources every container must limit.
const RESOURCES: [&str; 2] = ["cpu", "memory"];

/// Whether a quantity (`<sign><digits>[.<digits>]<suffix>`, as Kubernetes writes them) is zero.
/// The suffix does not matter for zero (`0Gi`, `0m`, `0e3`); a text that is not a quantity is
/// not called zero (the apiserver refuses it before any policy sees it).
fn is_zero(quantity: &str) -> bool {
    let text = quantity.trim();
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    let well_formed_number = digits > 0 && number.matches('.').count() <= 1;
    let known_suffix = matches!(
        suffix,
        "" | "n"
            | "u"
            | "m"
            | "k"
            | "M"
            | "G"
            | "T"
            | "P"
            | "E"
            | "Ki"
            | "Mi"
            | "Gi"
            | "Ti"
            | "Pi"
            | "Ei"
    ) || suffix
        .strip_prefix(['e', 'E'])
        .map(|exponent| exponent.strip_prefix(['+', '-']).unwrap_or(exponent))
        .is_some_and(|exponent| {
            !exponent.is_empty() && exponent.chars().all(|c| c.is_ascii_digit())
        });
    well_formed_number && known_suffix && number.chars().all(|c| c == '0' || c == '.')
}

pub fn check_limits(spec: &PodFields, require_requests: bool) -> Vec<Violation> {
    let mut violations = Vec::new();
    for c in containers(spec) {
        let Some(resources) = c.resources else {
            continue;
        };
        let limits = resources.and_then(|r| r.limits.as_ref());
        let requests = resources.and_then(|r| r.requests.as_ref());
        let mut check = |set: Option<&BTreeMap<String, Quantity>>, what: &str| {
            for resource in RESOURCES {
                let found = set.and_then(|s| s.get(resource));
                let message = match found {
                    None => format!("no {resource} {what}"),
                    Some(Quantity(value)) if what == "limit" && is_zero(value) => format!(
                        "no {resource} limit: {value:?} is zero, which the kubelet treats as no limit"
                    ),
                    Some(_) => continue,
                };
                violations.push(c.violation(
                    Rule::Limits,
                    &format!("resources.{what}s.{resource}"),
                    found.map(|q| q.0.clone()),
                    message,
                ));
            }
        };
        check(limits, "limit");
        if require_requests {
            check(requests, "request");
        }
    }
    violations
}

/// The same rule in CEL, for the ValidatingAdmissionPolicy: its violation messages. The
/// apiserver's `quantity()` reads the value, so a zero is zero whatever its suffix (`sign()` is
/// declared as a function, not a method, in Kubernetes 1.35's library, so `compareTo` it is).
pub fn cel(require_requests: bool) -> String {
    let rule = Rule::Limits.name();
    let mut parts = Vec::new();
    let mut wanted = vec![("limit", "limits")];
    if require_requests {
        wanted.push(("request", "requests"));
    }
    for (what, field) in wanted {
        for resource in RESOURCES {
            parts.push(format!(
                "variables.resourceContainers\n  .filter(e, !e.c.?resources.?{field}.?{resource}.hasValue())\n  .map(e, {})",
                cel_parts::container_says(&cel_parts::text(&format!("no {resource} {what}")), rule)
            ));
            if what == "limit" {
                let value = format!("e.c.resources.limits.{resource}");
                let message = format!(
                    "'no {resource} limit: ' + {} + ' is zero, which the kubelet treats as no limit'",
                    cel_parts::quoted(&value)
                );
                parts.push(format!(
                    "variables.resourceContainers\n  .filter(e, e.c.?resources.?limits.?{resource}.hasValue() && quantity({value}).compareTo(quantity('0')) == 0)\n  .map(e, {})",
                    cel_parts::container_says(&message, rule)
                ));
            }
        }
    }
    parts.join("\n+ ")
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
    fn a_zero_limit_is_no_limit_and_its_value_is_named() {
        for zero in ["0", "0m", "0Gi", "0.0", "000", "+0", "0e3", "0.000Ki"] {
            let spec = pod_spec(|v| {
                v["containers"][0]["resources"]["limits"] = json!({"cpu": zero, "memory": "1Gi"})
            });
            assert_eq!(
                messages(&spec, false),
                [format!(
                    "container \"bizra-node\": no cpu limit: {zero:?} is zero, which the kubelet treats as no limit [limits]"
                )],
                "{zero}"
            );
        }
        for not_zero in ["1", "0.1", "100m", "1Gi", "0.0001", "1e0", "0x", "", "."] {
            assert!(!is_zero(not_zero), "{not_zero:?} called zero");
        }
        // A zero request is a request (it only matters for scheduling).
        let zero_request = pod_spec(|v| {
            v["containers"][0]["resources"]["requests"] = json!({"cpu": "0", "memory": "0"})
        });
        assert!(messages(&zero_request, true).is_empty());
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
