//! /proc Mount Type: `securityContext.procMount` unset or `Default`, so /proc stays masked.
//! Baseline (1.35+) lets a pod in a user namespace (`hostUsers: false`) unmask it, its root
//! being unprivileged on the host; restricted (1.35+) does not.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers};
use super::Check;

fn unmasked(pod: &PodFields, rule: Rule) -> Vec<Violation> {
    containers(pod)
        .iter()
        .filter_map(|c| {
            let mount = c.security_context.and_then(|sc| sc.proc_mount.as_deref())?;
            (mount != "Default").then(|| {
                c.violation(
                    rule,
                    "securityContext.procMount",
                    Some(mount.to_owned()),
                    format!("securityContext.procMount is {mount:?}; it must be Default or unset"),
                )
            })
        })
        .collect()
}

pub fn check_baseline(pod: &PodFields) -> Vec<Violation> {
    if super::in_user_namespace(pod) {
        return Vec::new();
    }
    unmasked(pod, Rule::PodSecurity(Check::ProcMountBaseline))
}

pub fn check_restricted(pod: &PodFields) -> Vec<Violation> {
    unmasked(pod, Rule::PodSecurity(Check::ProcMountRestricted))
}

/// Both checks in CEL, for the ValidatingAdmissionPolicy: their violation messages.
fn cel_unmasked(rule: Rule) -> String {
    let message = format!(
        "'securityContext.procMount is ' + {} + '; it must be Default or unset'",
        cel_parts::quoted("e.c.securityContext.procMount")
    );
    format!(
        "variables.containers\n  .filter(e, e.c.?securityContext.?procMount.orValue('Default') != 'Default')\n  .map(e, {})",
        cel_parts::container_says(&message, rule.name())
    )
}

pub fn cel_baseline() -> String {
    format!(
        "variables.userNamespace ? [] : {}",
        cel_unmasked(Rule::PodSecurity(Check::ProcMountBaseline))
    )
}

pub fn cel_restricted() -> String {
    cel_unmasked(Rule::PodSecurity(Check::ProcMountRestricted))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn unmasked_fails_and_a_user_namespace_excuses_it_under_baseline_only() {
        let unmasked = |v: &mut serde_json::Value| {
            v["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Unmasked")
        };
        let message = "spec.containers[0].securityContext.procMount=Unmasked: securityContext.procMount is \"Unmasked\"; it must be Default or unset";
        assert_eq!(found(Check::ProcMountBaseline, unmasked), [message]);
        assert_eq!(found(Check::ProcMountRestricted, unmasked), [message]);
        let in_userns = |v: &mut serde_json::Value| {
            unmasked(v);
            v["spec"]["hostUsers"] = json!(false);
        };
        assert!(found(Check::ProcMountBaseline, in_userns).is_empty());
        assert_eq!(found(Check::ProcMountRestricted, in_userns).len(), 1);
        assert!(
            found(Check::ProcMountRestricted, |v| {
                v["spec"]["containers"][0]["securityContext"]["procMount"] = json!("Default")
            })
            .is_empty()
        );
    }
}
