//! The admission rules as plain functions over k8s-openapi types: a pod spec in, every violation
//! out. The Kubewarden policy and `kubectl bizra` (its security gate and `lint`) call these same
//! functions, so the cluster edge and the plugin cannot disagree.

mod limits;
mod non_root;
mod security_context;
pub mod signed_images;

use k8s_openapi::api::core::v1::{
    PodSecurityContext, PodSpec, ResourceRequirements, SecurityContext,
};
use serde::{Deserialize, Serialize};

pub use limits::check_limits;
pub use non_root::check_non_root;
pub use security_context::check_security_context;

/// Which rule a violation breaks; the names are the settings keys that turn rules off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Rule {
    SignedImages,
    NonRoot,
    Limits,
    SecurityContext,
}

impl Rule {
    pub fn name(self) -> &'static str {
        match self {
            Rule::SignedImages => "signedImages",
            Rule::NonRoot => "nonRoot",
            Rule::Limits => "limits",
            Rule::SecurityContext => "securityContext",
        }
    }
}

/// Containers, init containers and ephemeral containers are checked alike where the rule allows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ContainerKind {
    Container,
    InitContainer,
    EphemeralContainer,
}

impl ContainerKind {
    /// Every kind, in the order the rules walk them.
    pub const ALL: [ContainerKind; 3] = [
        ContainerKind::Container,
        ContainerKind::InitContainer,
        ContainerKind::EphemeralContainer,
    ];

    /// The pod spec field holding the list.
    pub fn field(self) -> &'static str {
        match self {
            ContainerKind::Container => "containers",
            ContainerKind::InitContainer => "initContainers",
            ContainerKind::EphemeralContainer => "ephemeralContainers",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            ContainerKind::Container => "container",
            ContainerKind::InitContainer => "init container",
            ContainerKind::EphemeralContainer => "ephemeral container",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Violation {
    pub rule: Rule,
    pub kind: ContainerKind,
    pub container: String,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {:?}: {} [{}]",
            self.kind.label(),
            self.container,
            self.message,
            self.rule.name()
        )
    }
}

/// One container of any kind, as the rules see it.
pub struct ContainerView<'a> {
    pub kind: ContainerKind,
    pub name: &'a str,
    pub image: Option<&'a str>,
    pub security_context: Option<&'a SecurityContext>,
    /// None for ephemeral containers, which cannot carry resources.
    pub resources: Option<Option<&'a ResourceRequirements>>,
}

/// The parts of a pod spec the rules read, in k8s-openapi's own types. The policy deserializes
/// only these from a request (a full `PodSpec` deserializer would make the module far larger);
/// the plugin converts a `PodSpec` with `From`. Unknown fields are ignored, as in `PodSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    pub containers: Vec<ContainerFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<ContainerFields>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<Vec<ContainerFields>>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerFields {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<SecurityContext>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resources: Option<ResourceRequirements>,
}

impl From<&PodSpec> for PodFields {
    fn from(spec: &PodSpec) -> Self {
        let fields = |name: &str,
                      image: &Option<String>,
                      sc: &Option<SecurityContext>,
                      res: &Option<ResourceRequirements>| {
            ContainerFields {
                name: name.to_owned(),
                image: image.clone(),
                security_context: sc.clone(),
                resources: res.clone(),
            }
        };
        PodFields {
            security_context: spec.security_context.clone(),
            containers: spec
                .containers
                .iter()
                .map(|c| fields(&c.name, &c.image, &c.security_context, &c.resources))
                .collect(),
            init_containers: spec.init_containers.as_ref().map(|list| {
                list.iter()
                    .map(|c| fields(&c.name, &c.image, &c.security_context, &c.resources))
                    .collect()
            }),
            ephemeral_containers: spec.ephemeral_containers.as_ref().map(|list| {
                list.iter()
                    .map(|c| fields(&c.name, &c.image, &c.security_context, &c.resources))
                    .collect()
            }),
        }
    }
}

impl PodFields {
    /// The containers of one kind.
    pub fn list(&self, kind: ContainerKind) -> &[ContainerFields] {
        match kind {
            ContainerKind::Container => &self.containers,
            ContainerKind::InitContainer => self.init_containers.as_deref().unwrap_or_default(),
            ContainerKind::EphemeralContainer => {
                self.ephemeral_containers.as_deref().unwrap_or_default()
            }
        }
    }
}

/// Every container of the pod: containers, then init containers, then ephemeral containers. The
/// one walk every rule uses (pinning walks the same [`ContainerKind::ALL`] in the JSON).
pub fn containers(spec: &PodFields) -> Vec<ContainerView<'_>> {
    ContainerKind::ALL
        .into_iter()
        .flat_map(|kind| {
            spec.list(kind).iter().map(move |c| ContainerView {
                kind,
                name: &c.name,
                image: c.image.as_deref(),
                security_context: c.security_context.as_ref(),
                // Ephemeral containers cannot carry resources: the limits rule skips them.
                resources: (kind != ContainerKind::EphemeralContainer)
                    .then_some(c.resources.as_ref()),
            })
        })
        .collect()
}

/// Keeps an error in a message readable: its first line, at most 300 characters.
pub(crate) fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    if line.chars().count() > 300 {
        format!("{}...", line.chars().take(300).collect::<String>())
    } else {
        line.to_string()
    }
}

/// Where the pod spec sits in each kind that carries one (a JSON pointer): Pod, the workload
/// controllers, Job and CronJob. `None` for any other kind.
pub fn pod_spec_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "/spec",
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicationController"
        | "Job" => "/spec/template/spec",
        "CronJob" => "/spec/jobTemplate/spec/template/spec",
        _ => return None,
    })
}

/// Which of the pod-spec rules run (signatures are checked by the policy with host calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct PodRules {
    pub non_root: bool,
    pub limits: bool,
    pub security_context: bool,
    /// Also require cpu and memory requests.
    pub require_requests: bool,
}

impl Default for PodRules {
    fn default() -> Self {
        PodRules {
            non_root: true,
            limits: true,
            security_context: true,
            require_requests: false,
        }
    }
}

/// Every violation of the enabled pod-spec rules, in container order.
pub fn check_pod_spec(spec: &PodSpec, rules: &PodRules) -> Vec<Violation> {
    check_pod(&PodFields::from(spec), rules)
}

/// [`check_pod_spec`] on the fields the rules read.
pub fn check_pod(spec: &PodFields, rules: &PodRules) -> Vec<Violation> {
    let mut violations = Vec::new();
    if rules.non_root {
        violations.extend(check_non_root(spec));
    }
    if rules.security_context {
        violations.extend(check_security_context(spec));
    }
    if rules.limits {
        violations.extend(check_limits(spec, rules.require_requests));
    }
    violations
}

#[cfg(test)]
pub(crate) mod fixtures {
    use k8s_openapi::api::core::v1::PodSpec;

    /// The seed's compliant pod spec, with `edit` applied to its JSON first.
    pub fn pod_spec(edit: impl FnOnce(&mut serde_json::Value)) -> PodSpec {
        let mut value = serde_json::json!({
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 1000},
            "containers": [{
                "name": "bizra-node",
                "image": "ghcr.io/bizra/node:v2.2.0-rc1",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"requests": {"cpu": "500m", "memory": "512Mi"}, "limits": {"cpu": "2", "memory": "2Gi"}}
            }]
        });
        edit(&mut value);
        serde_json::from_value(value).expect("pod spec fixture")
    }
}

#[cfg(test)]
mod tests {
    use super::fixtures::pod_spec;
    use super::*;

    #[test]
    fn the_seed_pod_spec_passes_every_rule() {
        assert_eq!(check_pod_spec(&pod_spec(|_| {}), &PodRules::default()), []);
    }

    #[test]
    fn every_violation_is_reported_not_just_the_first() {
        let spec = pod_spec(|v| {
            v["securityContext"] = serde_json::json!({});
            v["containers"][0]["securityContext"] = serde_json::json!({"runAsUser": 0});
            v["containers"][0]["resources"] = serde_json::json!({});
        });
        let rules: Vec<Rule> = check_pod_spec(&spec, &PodRules::default())
            .iter()
            .map(|v| v.rule)
            .collect();
        assert_eq!(
            rules,
            [
                Rule::NonRoot,
                Rule::NonRoot,
                Rule::SecurityContext,
                Rule::SecurityContext,
                Rule::Limits,
                Rule::Limits
            ]
        );
    }

    #[test]
    fn rules_can_be_turned_off() {
        let spec = pod_spec(|v| v["containers"][0]["resources"] = serde_json::json!({}));
        let off = PodRules {
            limits: false,
            ..PodRules::default()
        };
        assert_eq!(check_pod_spec(&spec, &off), []);
    }

    #[test]
    fn violations_read_well() {
        let spec = pod_spec(|v| {
            v["containers"][0]["resources"]["limits"] = serde_json::json!({"cpu": "1"})
        });
        let violations = check_pod_spec(&spec, &PodRules::default());
        assert_eq!(violations.len(), 1);
        assert_eq!(
            violations[0].to_string(),
            "container \"bizra-node\": no memory limit [limits]"
        );
    }
}
