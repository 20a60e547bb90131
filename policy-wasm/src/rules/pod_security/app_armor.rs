//! AppArmor (baseline): the runtime's default profile may not be turned off. A profile
//! `type` on the pod or a container must be `RuntimeDefault` or `Localhost`; the deprecated
//! annotations `container.apparmor.security.beta.kubernetes.io/<container>` must be empty,
//! `runtime/default` or `localhost/<profile>`.

use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::AppArmor);
pub const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn allowed_type(profile_type: &str) -> bool {
    matches!(profile_type, "RuntimeDefault" | "Localhost")
}

fn type_message(profile_type: &str) -> String {
    format!("appArmorProfile.type is {profile_type:?}; it must be RuntimeDefault or Localhost")
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

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages.
pub fn cel() -> String {
    let prefix_length = ANNOTATION_PREFIX.len();
    format!(
        r#"(variables.podSecurityContext.?appArmorProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost'] ? []
  : ['pod: appArmorProfile.type is "' + variables.podSecurityContext.appArmorProfile.type
    + '"; it must be RuntimeDefault or Localhost [appArmorProfile]'])
+ variables.containers
  .filter(e, !(e.c.?securityContext.?appArmorProfile.?type.orValue('RuntimeDefault') in ['RuntimeDefault', 'Localhost']))
  .map(e, e.label + ': appArmorProfile.type is "' + e.c.securityContext.appArmorProfile.type
    + '"; it must be RuntimeDefault or Localhost [appArmorProfile]')
+ variables.annotations
  .filter(k, k.startsWith('{ANNOTATION_PREFIX}')
    && !(variables.annotations[k] == '' || variables.annotations[k] == 'runtime/default'
      || variables.annotations[k].startsWith('localhost/')))
  .map(k, 'pod: the AppArmor annotation for container "' + k.substring({prefix_length}) + '" is "'
    + variables.annotations[k] + '"; it must be runtime/default or localhost/<profile> [appArmorProfile]')"#
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
