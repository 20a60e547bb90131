//! AppArmor (baseline): the runtime's default profile may not be turned off. A profile
//! `type` on the pod or a container must be `RuntimeDefault` or `Localhost`; the deprecated
//! annotations `container.apparmor.security.beta.kubernetes.io/<container>` must be empty,
//! `runtime/default` or `localhost/<profile>`.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::AppArmor);
pub const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

const ALLOWED_TYPES: [&str; 2] = ["RuntimeDefault", "Localhost"];
const TYPE_MESSAGE_END: &str = "it must be RuntimeDefault or Localhost";

fn allowed_type(profile_type: &str) -> bool {
    ALLOWED_TYPES.contains(&profile_type)
}

fn type_message(profile_type: &str) -> String {
    format!("appArmorProfile.type is {profile_type:?}; {TYPE_MESSAGE_END}")
}

pub fn check(pod: &PodFields) -> Vec<Violation> {
    let mut violations = Vec::new();
    if let Some(profile) = super::pod_context(pod).and_then(|sc| sc.app_armor_profile.as_ref())
        && !allowed_type(&profile.type_)
    {
        violations.push(pod_violation(
            RULE,
            "spec.securityContext.appArmorProfile.type",
            Some(profile.type_.clone()),
            type_message(&profile.type_),
        ));
    }
    for c in containers(pod) {
        if let Some(profile) = c
            .security_context
            .and_then(|sc| sc.app_armor_profile.as_ref())
            && !allowed_type(&profile.type_)
        {
            violations.push(c.violation(
                RULE,
                "securityContext.appArmorProfile.type",
                Some(profile.type_.clone()),
                type_message(&profile.type_),
            ));
        }
    }
    for (key, value) in &pod.annotations {
        let Some(container) = key.strip_prefix(ANNOTATION_PREFIX) else {
            continue;
        };
        if value.is_empty() || value == "runtime/default" || value.starts_with("localhost/") {
            continue;
        }
        violations.push(pod_violation(
            RULE,
            format!("metadata.annotations[{key}]"),
            Some(value.clone()),
            format!(
                "the AppArmor annotation for container {container:?} is {value:?}; it must be runtime/default or localhost/<profile>"
            ),
        ));
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let rule = RULE.name();
    let allowed = cel_parts::list(&ALLOWED_TYPES);
    let type_message = |profile: &str| {
        format!(
            "'appArmorProfile.type is ' + {} + '; {TYPE_MESSAGE_END}'",
            cel_parts::quoted(&format!("{profile}.type"))
        )
    };
    let annotation_message = format!(
        "'the AppArmor annotation for container ' + {} + ' is ' + {} + '; it must be runtime/default or localhost/<profile>'",
        cel_parts::quoted(&format!("k.substring({})", ANNOTATION_PREFIX.len())),
        cel_parts::quoted("variables.annotations[k]")
    );
    format!(
        "(variables.podSecurityContext.?appArmorProfile.hasValue()
    && !(variables.podSecurityContext.appArmorProfile.type in {allowed})
  ? [{pod}] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?appArmorProfile.hasValue()
    && !(e.c.securityContext.appArmorProfile.type in {allowed}))
  .map(e, {container})
+ variables.annotations
  .filter(k, k.startsWith('{ANNOTATION_PREFIX}')
    && !(variables.annotations[k] == '' || variables.annotations[k] == 'runtime/default'
      || variables.annotations[k].startsWith('localhost/')))
  .map(k, {annotation})",
        pod = cel_parts::pod_says(
            &type_message("variables.podSecurityContext.appArmorProfile"),
            rule
        ),
        container =
            cel_parts::container_says(&type_message("e.c.securityContext.appArmorProfile"), rule),
        annotation = cel_parts::pod_says(&annotation_message, rule),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn unconfined_fails_as_field_or_annotation() {
        assert!(found(Check::AppArmor, |_| {}).is_empty());
        let found = found(Check::AppArmor, |v| {
            v["spec"]["securityContext"]["appArmorProfile"] = json!({"type": "Unconfined"});
            v["spec"]["containers"][0]["securityContext"]["appArmorProfile"] =
                json!({"type": "Localhost", "localhostProfile": "k8s-app"});
            v["metadata"]["annotations"] = json!({
                "container.apparmor.security.beta.kubernetes.io/app": "unconfined",
                "container.apparmor.security.beta.kubernetes.io/other": "localhost/custom",
                "unrelated": "unconfined"
            });
        });
        assert_eq!(
            found,
            [
                "spec.securityContext.appArmorProfile.type=Unconfined: appArmorProfile.type is \"Unconfined\"; it must be RuntimeDefault or Localhost",
                "metadata.annotations[container.apparmor.security.beta.kubernetes.io/app]=unconfined: the AppArmor annotation for container \"app\" is \"unconfined\"; it must be runtime/default or localhost/<profile>",
            ]
        );
    }
}
