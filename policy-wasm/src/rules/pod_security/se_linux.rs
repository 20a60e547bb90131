//! SELinux (baseline): `seLinuxOptions` on the pod or a container may set only a container
//! type (`container_t`, `container_init_t`, `container_kvm_t`, and since 1.31
//! `container_engine_t`) and never `user` or `role`. `level` is free.

use k8s_openapi::api::core::v1::SELinuxOptions;

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::SeLinux);
const ALLOWED_TYPES: [&str; 5] = [
    "",
    "container_t",
    "container_init_t",
    "container_kvm_t",
    "container_engine_t",
];

const TYPE_MESSAGE_END: &str =
    "allowed are container_t, container_init_t, container_kvm_t and container_engine_t";

/// Each forbidden part of one `seLinuxOptions`: (its field, the value, the message).
fn forbidden(options: &SELinuxOptions) -> Vec<(&'static str, String, String)> {
    let mut found = Vec::new();
    let selinux_type = options.type_.as_deref().unwrap_or("");
    if !ALLOWED_TYPES.contains(&selinux_type) {
        found.push((
            "type",
            selinux_type.to_owned(),
            format!("seLinuxOptions.type is {selinux_type:?}; {TYPE_MESSAGE_END}"),
        ));
    }
    for (part, value) in [("user", &options.user), ("role", &options.role)] {
        if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
            found.push((
                part,
                value.to_owned(),
                format!("seLinuxOptions.{part} is {value:?}; it may not be set"),
            ));
        }
    }
    found
}

pub fn check(pod: &PodFields) -> Vec<Violation> {
    let mut violations = Vec::new();
    if let Some(options) = super::pod_context(pod).and_then(|sc| sc.se_linux_options.as_ref()) {
        for (part, value, message) in forbidden(options) {
            violations.push(pod_violation(
                RULE,
                format!("spec.securityContext.seLinuxOptions.{part}"),
                Some(value),
                message,
            ));
        }
    }
    for c in containers(pod) {
        if let Some(options) = c
            .security_context
            .and_then(|sc| sc.se_linux_options.as_ref())
        {
            for (part, value, message) in forbidden(options) {
                violations.push(c.violation(
                    RULE,
                    &format!("securityContext.seLinuxOptions.{part}"),
                    Some(value),
                    message,
                ));
            }
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages, one per
/// forbidden part of the pod's or a container's options.
pub fn cel() -> String {
    let rule = RULE.name();
    let types = cel_parts::list(&ALLOWED_TYPES);
    let mut parts = Vec::new();
    for (has, options, says) in [
        (
            "variables.podSecurityContext.?seLinuxOptions",
            "variables.podSecurityContext.seLinuxOptions",
            cel_parts::pod_says as fn(&str, &str) -> String,
        ),
        (
            "e.c.?securityContext.?seLinuxOptions",
            "e.c.securityContext.seLinuxOptions",
            cel_parts::container_says,
        ),
    ] {
        let type_message = format!(
            "'seLinuxOptions.type is ' + {} + '; {TYPE_MESSAGE_END}'",
            cel_parts::quoted(&format!("{options}.?type.orValue('')"))
        );
        let mut conditions = vec![(
            format!("!({has}.?type.orValue('') in {types})"),
            type_message,
        )];
        for part in ["user", "role"] {
            conditions.push((
                format!("{has}.?{part}.orValue('') != ''"),
                format!(
                    "'seLinuxOptions.{part} is ' + {} + '; it may not be set'",
                    cel_parts::quoted(&format!("{options}.{part}"))
                ),
            ));
        }
        for (condition, message) in conditions {
            let said = says(&message, rule);
            parts.push(if options.starts_with("e.") {
                format!("variables.containers\n  .filter(e, {condition})\n  .map(e, {said})")
            } else {
                format!("({condition} ? [{said}] : [])")
            });
        }
    }
    parts.join("\n+ ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn only_container_types_and_no_user_or_role() {
        let with = |options: serde_json::Value| {
            found(Check::SeLinux, |v| {
                v["spec"]["containers"][0]["securityContext"]["seLinuxOptions"] = options
            })
        };
        assert!(with(json!({"type": "container_engine_t", "level": "s0:c1,c2"})).is_empty());
        assert!(with(json!({"user": "", "role": ""})).is_empty());
        assert_eq!(
            with(json!({"type": "spc_t", "user": "system_u", "role": "system_r"})),
            [
                "spec.containers[0].securityContext.seLinuxOptions.type=spc_t: seLinuxOptions.type is \"spc_t\"; allowed are container_t, container_init_t, container_kvm_t and container_engine_t",
                "spec.containers[0].securityContext.seLinuxOptions.user=system_u: seLinuxOptions.user is \"system_u\"; it may not be set",
                "spec.containers[0].securityContext.seLinuxOptions.role=system_r: seLinuxOptions.role is \"system_r\"; it may not be set",
            ]
        );
        let pod_level = found(Check::SeLinux, |v| {
            v["spec"]["securityContext"]["seLinuxOptions"] = json!({"type": "unconfined_t"})
        });
        assert_eq!(pod_level.len(), 1);
        assert!(pod_level[0].starts_with("spec.securityContext.seLinuxOptions.type=unconfined_t"));
    }
}
