//! SELinux (baseline): `seLinuxOptions` on the pod or a container may set only a container
//! type (`container_t`, `container_init_t`, `container_kvm_t`, and since 1.31
//! `container_engine_t`) and never `user` or `role`. `level` is free.

use k8s_openapi::api::core::v1::SELinuxOptions;

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

/// Each forbidden part of one `seLinuxOptions`: (its field, the value, the message).
fn forbidden(options: &SELinuxOptions) -> Vec<(&'static str, String, String)> {
    let mut found = Vec::new();
    let selinux_type = options.type_.as_deref().unwrap_or("");
    if !ALLOWED_TYPES.contains(&selinux_type) {
        found.push((
            "type",
            selinux_type.to_owned(),
            format!(
                "seLinuxOptions.type is {selinux_type:?}; allowed are container_t, container_init_t, container_kvm_t and container_engine_t"
            ),
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

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages, one
/// per pod or container naming the parts it must not set.
pub fn cel() -> String {
    let types = super::super::cel_list(&ALLOWED_TYPES);
    let forbidden = |o: &str| {
        format!(
            r#"(({o}.?type.orValue('') in {types}) ? [] : ['type "' + {o}.type + '"'])
      + ({o}.?user.orValue('') == '' ? [] : ['user "' + {o}.user + '"'])
      + ({o}.?role.orValue('') == '' ? [] : ['role "' + {o}.role + '"'])"#
        )
    };
    let is_forbidden = |o: &str| {
        format!(
            "!({o}.?type.orValue('') in {types}) || {o}.?user.orValue('') != '' || {o}.?role.orValue('') != ''"
        )
    };
    let message = "'; only a container type (container_t, container_init_t, container_kvm_t, container_engine_t) and a level may be set [seLinuxOptions]'";
    let pod = "variables.podSecurityContext.seLinuxOptions";
    let container = "e.c.securityContext.seLinuxOptions";
    format!(
        r#"(variables.podSecurityContext.?seLinuxOptions.hasValue() && ({pod_forbidden})
  ? ['pod: seLinuxOptions sets ' + ({pod_parts}).join(', ') + {message}] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?seLinuxOptions.hasValue() && ({container_forbidden}))
  .map(e, e.label + ': seLinuxOptions sets ' + ({container_parts}).join(', ') + {message})"#,
        pod_forbidden = is_forbidden(pod),
        pod_parts = forbidden(pod),
        container_forbidden = is_forbidden(container),
        container_parts = forbidden(container),
    )
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
