//! Seccomp. Baseline (1.19+): a `seccompProfile.type` set on the pod or a container must be
//! `RuntimeDefault` or `Localhost` (the alpha annotations no longer count). Restricted: besides,
//! every container sets one or inherits a valid one from the pod; Windows pods pass (1.25+).

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const ALLOWED: [&str; 2] = ["RuntimeDefault", "Localhost"];
const TYPE_MESSAGE_END: &str = "it must be RuntimeDefault or Localhost";
const NOT_SET_MESSAGE: &str =
    "seccompProfile is not set on the container or the pod; it must be RuntimeDefault or Localhost";

fn allowed(profile_type: &str) -> bool {
    ALLOWED.contains(&profile_type)
}

fn type_message(profile_type: &str) -> String {
    format!("seccompProfile.type is {profile_type:?}; {TYPE_MESSAGE_END}")
}

/// The explicitly set profiles that are not allowed.
fn forbidden_types(pod: &PodFields, rule: Rule) -> Vec<Violation> {
    let mut violations = Vec::new();
    if let Some(profile) = super::pod_context(pod).and_then(|sc| sc.seccomp_profile.as_ref())
        && !allowed(&profile.type_)
    {
        violations.push(pod_violation(
            rule,
            "spec.securityContext.seccompProfile.type",
            Some(profile.type_.clone()),
            type_message(&profile.type_),
        ));
    }
    for c in containers(pod) {
        if let Some(profile) = c
            .security_context
            .and_then(|sc| sc.seccomp_profile.as_ref())
            && !allowed(&profile.type_)
        {
            violations.push(c.violation(
                rule,
                "securityContext.seccompProfile.type",
                Some(profile.type_.clone()),
                type_message(&profile.type_),
            ));
        }
    }
    violations
}

pub fn check_baseline(pod: &PodFields) -> Vec<Violation> {
    forbidden_types(pod, Rule::PodSecurity(Check::SeccompBaseline))
}

pub fn check_restricted(pod: &PodFields) -> Vec<Violation> {
    if super::is_windows(pod) {
        return Vec::new();
    }
    let rule = Rule::PodSecurity(Check::SeccompRestricted);
    let mut violations = forbidden_types(pod, rule);
    let pod_profile = super::pod_context(pod).and_then(|sc| sc.seccomp_profile.as_ref());
    // A pod-level profile that is not allowed is reported once, above, not again per container.
    if pod_profile.is_none() {
        for c in containers(pod) {
            if c.security_context
                .and_then(|sc| sc.seccomp_profile.as_ref())
                .is_none()
            {
                violations.push(c.violation(
                    rule,
                    "securityContext.seccompProfile",
                    None,
                    NOT_SET_MESSAGE,
                ));
            }
        }
    }
    violations
}

/// The explicitly set profiles that are not allowed, in CEL.
fn cel_forbidden_types(rule: Rule) -> String {
    let allowed = cel_parts::list(&ALLOWED);
    let message = |profile: &str| {
        format!(
            "'seccompProfile.type is ' + {} + '; {TYPE_MESSAGE_END}'",
            cel_parts::quoted(&format!("{profile}.type"))
        )
    };
    format!(
        "(variables.podSecurityContext.?seccompProfile.hasValue()
    && !(variables.podSecurityContext.seccompProfile.type in {allowed})
  ? [{pod}] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?seccompProfile.hasValue()
    && !(e.c.securityContext.seccompProfile.type in {allowed}))
  .map(e, {container})",
        pod = cel_parts::pod_says(
            &message("variables.podSecurityContext.seccompProfile"),
            rule.name()
        ),
        container =
            cel_parts::container_says(&message("e.c.securityContext.seccompProfile"), rule.name()),
    )
}

/// Baseline in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel_baseline() -> String {
    cel_forbidden_types(Rule::PodSecurity(Check::SeccompBaseline))
}

/// Restricted in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel_restricted() -> String {
    let rule = Rule::PodSecurity(Check::SeccompRestricted);
    format!(
        "variables.windows ? [] :
{forbidden}
+ (variables.podSecurityContext.?seccompProfile.hasValue() ? [] : variables.containers
  .filter(e, !e.c.?securityContext.?seccompProfile.hasValue())
  .map(e, {unset}))",
        forbidden = cel_forbidden_types(rule),
        unset = cel_parts::container_says(&cel_parts::text(NOT_SET_MESSAGE), rule.name()),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn unconfined_fails_both_levels() {
        let unconfined = |v: &mut serde_json::Value| {
            v["spec"]["containers"][0]["securityContext"]["seccompProfile"] =
                json!({"type": "Unconfined"})
        };
        let message = "spec.containers[0].securityContext.seccompProfile.type=Unconfined: seccompProfile.type is \"Unconfined\"; it must be RuntimeDefault or Localhost";
        assert_eq!(found(Check::SeccompBaseline, unconfined), [message]);
        assert_eq!(found(Check::SeccompRestricted, unconfined), [message]);
    }

    #[test]
    fn restricted_requires_a_profile_on_the_container_or_the_pod() {
        let unset = |v: &mut serde_json::Value| {
            v["spec"]["securityContext"] = json!({"runAsNonRoot": true})
        };
        assert!(found(Check::SeccompBaseline, unset).is_empty());
        assert_eq!(
            found(Check::SeccompRestricted, unset),
            [
                "spec.containers[0].securityContext.seccompProfile=<unset>: seccompProfile is not set on the container or the pod; it must be RuntimeDefault or Localhost"
            ]
        );
        let own = found(Check::SeccompRestricted, |v| {
            unset(v);
            v["spec"]["containers"][0]["securityContext"]["seccompProfile"] =
                json!({"type": "Localhost", "localhostProfile": "profiles/audit.json"});
        });
        assert!(own.is_empty());
        let windows = found(Check::SeccompRestricted, |v| {
            unset(v);
            v["spec"]["os"] = json!({"name": "windows"});
        });
        assert!(windows.is_empty());
    }
}
