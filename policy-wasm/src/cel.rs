//! The policy's rules as a CEL ValidatingAdmissionPolicy and its binding, for clusters without
//! Kubewarden (the apiserver enforces it itself, with no webhook to install or to fail).
//!
//! Nothing here is a second copy of a rule: each rule's CEL expression is written beside its
//! Rust function ([`Check::cel`](crate::rules::Check::cel), [`limits_cel`], and
//! [`unchanged_by_update_cel`] for the UPDATE that keeps the pod spec), and this module only
//! assembles them for the given settings: the shared variables ([`cel_parts::VARIABLES`]), one
//! variable per enabled rule holding its violation messages, and one validation that fails when
//! any rule has a violation, its message listing them all as the policy's rejection does (the
//! apiserver reports only the first failed validation, so one validation is the only way to name
//! every rule broken).
//!
//! CEL libraries used: optional types and `quantity()` (Kubernetes 1.28), the strings library's
//! `join` (1.29); nothing newer. It has been run only on the local cluster's 1.35.

use std::collections::BTreeMap;

use k8s_openapi::api::admissionregistration::v1::{
    MatchResources, NamedRuleWithOperations, ValidatingAdmissionPolicyBindingSpec,
    ValidatingAdmissionPolicySpec, Validation, Variable,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};
use serde::Serialize;

use crate::rules::{cel_parts, limits_cel, unchanged_by_update_cel};
use crate::settings::{Job, Settings};

/// The name of the policy and of its binding.
pub const NAME: &str = "bizra-secure-pods";

/// What the ValidatingAdmissionPolicy leaves out, in one line (the command prints it, the policy
/// carries it as an annotation, the README says it).
pub const NOT_COVERED: &str = "signature verification (signedImages) is not in the ValidatingAdmissionPolicy: CEL cannot verify signatures; the Kubewarden policy does";

/// The annotation carrying [`NOT_COVERED`].
pub const NOT_COVERED_ANNOTATION: &str = "bizra.dev/not-covered";

/// The apiserver drops a messageExpression result over 5 KiB and falls back to the static
/// message, which names no rule; a longer list is cut to fit (see the validation's
/// messageExpression).
const MESSAGE_BYTES: usize = 5000;

/// The binding's `validationActions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Refuse the request.
    Deny,
    /// Admit it with a warning naming the violations.
    Warn,
    /// Admit it and record the violations in the audit log.
    Audit,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Deny => "Deny",
            Action::Warn => "Warn",
            Action::Audit => "Audit",
        }
    }
}

/// Where the policy applies beyond the settings' exempt namespaces: the namespaceSelector of the
/// ClusterAdmissionPolicy the settings came from (the shipped one leaves out kube-system,
/// kube-public, kubewarden and istio-system), carried into the binding.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Scope {
    pub namespace_selector: Option<LabelSelector>,
}

/// Why settings make no ValidatingAdmissionPolicy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CelError {
    #[error(
        "the settings are a pinDigests policy's, which only verifies signatures and pins digests; CEL can do neither: give the settings of the validating policy (job: validate)"
    )]
    PinningJob,
    #[error(
        "the settings enable no rule CEL can check (podSecurity is none, limits are off); {NOT_COVERED}"
    )]
    NothingToCheck,
}

/// The metadata the generated objects carry (k8s-openapi's `ObjectMeta` would bring its
/// timestamps' code into the browser playground for nothing).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Metadata {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    pub labels: BTreeMap<String, String>,
    pub name: String,
}

/// One generated object: a ValidatingAdmissionPolicy or its binding, with its spec in
/// k8s-openapi's type.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Generated<Spec> {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub metadata: Metadata,
    pub spec: Spec,
}

/// The policy and its binding.
#[derive(Debug, Clone, PartialEq)]
pub struct AdmissionPolicy {
    pub policy: Generated<ValidatingAdmissionPolicySpec>,
    pub binding: Generated<ValidatingAdmissionPolicyBindingSpec>,
}

/// The kinds the policy handles, as the shipped ClusterAdmissionPolicy's rules name them:
/// the eight kinds that carry a pod template, and the subresource `kubectl debug` adds
/// ephemeral containers through.
fn resource_rules() -> Vec<NamedRuleWithOperations> {
    [
        (
            "",
            &["pods", "pods/ephemeralcontainers", "replicationcontrollers"][..],
        ),
        (
            "apps",
            &["deployments", "replicasets", "statefulsets", "daemonsets"][..],
        ),
        ("batch", &["jobs", "cronjobs"][..]),
    ]
    .into_iter()
    .map(|(group, resources)| NamedRuleWithOperations {
        api_groups: Some(vec![group.to_owned()]),
        api_versions: Some(vec!["v1".to_owned()]),
        operations: Some(vec!["CREATE".to_owned(), "UPDATE".to_owned()]),
        resources: Some(resources.iter().map(|r| (*r).to_owned()).collect()),
        ..NamedRuleWithOperations::default()
    })
    .collect()
}

fn variable(name: &str, expression: impl Into<String>) -> Variable {
    Variable {
        name: name.to_owned(),
        expression: expression.into(),
    }
}

/// The rules `settings` enable that CEL can check, each as (variable name, expression).
pub fn rule_expressions(settings: &Settings) -> Result<Vec<(String, String)>, CelError> {
    if settings.job == Job::PinDigests {
        return Err(CelError::PinningJob);
    }
    let mut rules: Vec<(String, String)> = settings
        .pod_security()
        .checks()
        .iter()
        .map(|check| (check.id().to_owned(), check.cel()))
        .collect();
    if settings.rule_toggles().limits {
        rules.push((
            "limits".to_owned(),
            limits_cel(settings.require_requests.unwrap_or(false)),
        ));
    }
    if rules.is_empty() {
        return Err(CelError::NothingToCheck);
    }
    Ok(rules)
}

/// The ValidatingAdmissionPolicy for `settings` and its binding with `action`, in `scope`.
pub fn admission_policy(
    settings: &Settings,
    action: Action,
    scope: &Scope,
) -> Result<AdmissionPolicy, CelError> {
    let rules = rule_expressions(settings)?;
    let mut variables: Vec<Variable> = cel_parts::VARIABLES
        .iter()
        .map(|(name, expression)| variable(name, *expression))
        .collect();
    for (name, expression) in unchanged_by_update_cel() {
        variables.push(variable(name, expression));
    }
    variables.push(variable(
        "what",
        "object.kind + ' ' + (request.namespace == '' ? '' : request.namespace + '/') + request.name",
    ));
    for (name, expression) in &rules {
        variables.push(variable(name, expression.trim()));
    }
    let all: Vec<String> = rules
        .iter()
        .map(|(name, _)| format!("variables.{name}"))
        .collect();
    variables.push(variable("violations", all.join("\n+ ")));
    variables.push(variable(
        "message",
        "variables.what + ' is not accepted (' + string(size(variables.violations))
  + (size(variables.violations) == 1 ? ' violation' : ' violations') + '): '
  + variables.violations.join('; ')",
    ));
    // Cut by bytes, as the apiserver measures: 4,000 characters when they fit, else 1,200
    // (at most four bytes each).
    let cut = "' ... (cut; ' + string(size(variables.violations)) + ' violations in all)'";
    let validation = Validation {
        expression: "variables.unchanged || size(variables.violations) == 0".to_owned(),
        message_expression: Some(format!(
            "size(bytes(variables.message)) <= {MESSAGE_BYTES} ? variables.message
  : size(bytes(variables.message.substring(0, [size(variables.message), 4000].min()))) <= {limit}
    ? variables.message.substring(0, 4000) + {cut}
    : variables.message.substring(0, [size(variables.message), 1200].min()) + {cut}",
            limit = MESSAGE_BYTES - 100,
        )),
        message: Some(format!(
            "the pod spec breaks rules of {NAME} (the list of violations could not be shown)"
        )),
        reason: Some("Forbidden".to_owned()),
    };
    let labels = BTreeMap::from([("app.kubernetes.io/part-of".to_owned(), "bizra".to_owned())]);
    let policy = Generated {
        api_version: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        metadata: Metadata {
            annotations: Some(BTreeMap::from([(
                NOT_COVERED_ANNOTATION.to_owned(),
                NOT_COVERED.to_owned(),
            )])),
            labels: labels.clone(),
            name: NAME.to_owned(),
        },
        spec: ValidatingAdmissionPolicySpec {
            failure_policy: Some("Fail".to_owned()),
            match_constraints: Some(MatchResources {
                resource_rules: Some(resource_rules()),
                ..MatchResources::default()
            }),
            variables: Some(variables),
            validations: Some(vec![validation]),
            ..ValidatingAdmissionPolicySpec::default()
        },
    };
    let mut expressions: Vec<LabelSelectorRequirement> = Vec::new();
    if !settings.exempt_namespaces.is_empty() {
        expressions.push(LabelSelectorRequirement {
            key: "kubernetes.io/metadata.name".to_owned(),
            operator: "NotIn".to_owned(),
            values: Some(settings.exempt_namespaces.clone()),
        });
    }
    let scoped = scope.namespace_selector.clone().unwrap_or_default();
    expressions.extend(scoped.match_expressions.unwrap_or_default());
    let namespace_selector =
        (!expressions.is_empty() || scoped.match_labels.is_some()).then(|| LabelSelector {
            match_expressions: (!expressions.is_empty()).then_some(expressions),
            match_labels: scoped.match_labels,
        });
    let binding = Generated {
        api_version: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: Metadata {
            annotations: None,
            labels,
            name: NAME.to_owned(),
        },
        spec: ValidatingAdmissionPolicyBindingSpec {
            policy_name: NAME.to_owned(),
            validation_actions: vec![action.name().to_owned()],
            match_resources: namespace_selector.map(|selector| MatchResources {
                namespace_selector: Some(selector),
                ..MatchResources::default()
            }),
            param_ref: None,
        },
    };
    Ok(AdmissionPolicy { policy, binding })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{Check, Profile};
    use crate::settings::RuleToggles;

    fn variables(generated: &AdmissionPolicy) -> Vec<String> {
        generated
            .policy
            .spec
            .variables
            .as_ref()
            .expect("variables")
            .iter()
            .map(|v| v.name.clone())
            .collect()
    }

    #[test]
    fn every_check_of_the_profile_and_limits_become_a_variable_of_their_own() {
        let generated = admission_policy(&Settings::default(), Action::Deny, &Scope::default())
            .expect("policy");
        let names = variables(&generated);
        for check in Profile::Restricted.checks() {
            assert!(names.contains(&check.id().to_owned()), "{check:?}");
        }
        assert!(names.contains(&"limits".to_owned()));
        // Baseline's own checks, which restricted replaces, are not there.
        assert!(!names.contains(&Check::CapabilitiesBaseline.id().to_owned()));
        let violations = generated
            .policy
            .spec
            .variables
            .as_ref()
            .and_then(|v| v.iter().find(|v| v.name == "violations"))
            .expect("violations")
            .expression
            .clone();
        assert_eq!(
            violations.matches("variables.").count(),
            Profile::Restricted.checks().len() + 1
        );
    }

    #[test]
    fn every_rule_names_itself_in_its_messages() {
        for check in Check::ALL {
            let expression = check.cel();
            assert!(
                expression.contains(&format!("[{}]", check.id())),
                "{check:?}: {expression}"
            );
            let others = Check::ALL
                .iter()
                .filter(|other| **other != check)
                .any(|other| expression.contains(&format!("[{}]", other.id())));
            assert!(!others, "{check:?} names another check");
        }
        assert!(limits_cel(true).contains("'no cpu request' + ' [limits]'"));
        assert!(!limits_cel(false).contains("request"));
    }

    #[test]
    fn settings_choose_the_rules_and_the_binding() {
        let settings = Settings {
            pod_security: Some(Profile::Baseline),
            rules: Some(RuleToggles {
                limits: false,
                ..RuleToggles::default()
            }),
            exempt_namespaces: vec!["kube-system".into(), "ops".into()],
            ..Settings::default()
        };
        let generated =
            admission_policy(&settings, Action::Warn, &Scope::default()).expect("policy");
        let names = variables(&generated);
        assert!(names.contains(&"capabilities_baseline".to_owned()));
        assert!(!names.contains(&"runAsNonRoot".to_owned()));
        assert!(!names.contains(&"limits".to_owned()));
        let binding = generated.binding.spec;
        assert_eq!(binding.validation_actions, ["Warn"]);
        let selector = binding
            .match_resources
            .and_then(|m| m.namespace_selector)
            .expect("selector");
        assert_eq!(
            serde_json::to_value(selector).expect("JSON"),
            serde_json::json!({"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system", "ops"]}]})
        );
        let without = admission_policy(&Settings::default(), Action::Deny, &Scope::default())
            .expect("policy");
        assert_eq!(
            without.binding.spec.match_resources, None,
            "no exempt namespace, no selector"
        );
    }

    #[test]
    fn the_policys_own_namespace_selector_joins_the_exempt_namespaces() {
        let settings = Settings {
            exempt_namespaces: vec!["kube-system".into()],
            ..Settings::default()
        };
        let scope = Scope {
            namespace_selector: Some(LabelSelector {
                match_expressions: Some(vec![LabelSelectorRequirement {
                    key: "kubernetes.io/metadata.name".into(),
                    operator: "NotIn".into(),
                    values: Some(vec!["istio-system".into()]),
                }]),
                match_labels: Some(BTreeMap::from([("tier".into(), "apps".into())])),
            }),
        };
        let generated = admission_policy(&settings, Action::Deny, &scope).expect("policy");
        let selector = generated
            .binding
            .spec
            .match_resources
            .and_then(|m| m.namespace_selector)
            .expect("selector");
        assert_eq!(
            serde_json::to_value(selector).expect("JSON"),
            serde_json::json!({
                "matchExpressions": [
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]},
                    {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["istio-system"]}
                ],
                "matchLabels": {"tier": "apps"}
            })
        );
    }

    #[test]
    fn settings_without_anything_for_cel_are_refused() {
        let nothing = Settings {
            pod_security: Some(Profile::None),
            rules: Some(RuleToggles {
                limits: false,
                ..RuleToggles::default()
            }),
            ..Settings::default()
        };
        assert_eq!(
            admission_policy(&nothing, Action::Deny, &Scope::default()),
            Err(CelError::NothingToCheck)
        );
        let pinning = Settings {
            job: Job::PinDigests,
            ..Settings::default()
        };
        assert_eq!(
            admission_policy(&pinning, Action::Deny, &Scope::default()),
            Err(CelError::PinningJob)
        );
    }

    #[test]
    fn the_policy_matches_the_eight_workload_kinds_and_ephemeral_containers() {
        let generated = admission_policy(&Settings::default(), Action::Deny, &Scope::default())
            .expect("policy");
        let rules = generated
            .policy
            .spec
            .match_constraints
            .and_then(|m| m.resource_rules)
            .expect("rules");
        let resources: Vec<String> = rules
            .iter()
            .flat_map(|r| r.resources.clone().unwrap_or_default())
            .collect();
        assert_eq!(
            resources,
            [
                "pods",
                "pods/ephemeralcontainers",
                "replicationcontrollers",
                "deployments",
                "replicasets",
                "statefulsets",
                "daemonsets",
                "jobs",
                "cronjobs"
            ]
        );
    }
}
