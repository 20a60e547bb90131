//! The admission rules as plain functions over k8s-openapi types: a pod spec in, every violation
//! out. The Kubewarden policy and `kubectl bizra` (its security gate and `lint`) call these same
//! functions, so the cluster edge and the plugin cannot disagree.

pub mod cel_parts;
mod limits;
pub mod pod_security;
pub mod signed_images;

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    ContainerPort, HostPathVolumeSource, Lifecycle, PodOS, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, SecurityContext, Volume,
};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use limits::{cel as limits_cel, check_limits};
pub use pod_security::APP_ARMOR_ANNOTATION_PREFIX;
pub use pod_security::{Check, Profile, check_pod_security};

/// Which rule a violation breaks: one of the Pod Security Standards' checks (named by the id
/// k8s.io/pod-security-admission gives it), or one of our own rules beyond the standard.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Rule {
    PodSecurity(Check),
    SignedImages,
    Limits,
}

impl Rule {
    /// The name violations carry: the check id for the standard's checks (`runAsNonRoot`,
    /// `capabilities_restricted`), the settings key for ours (`signedImages`, `limits`).
    pub fn name(self) -> &'static str {
        match self {
            Rule::PodSecurity(check) => check.id(),
            Rule::SignedImages => "signedImages",
            Rule::Limits => "limits",
        }
    }

    /// What the rule requires, in one sentence, for reports that describe their rules (SARIF).
    pub fn summary(self) -> &'static str {
        match self {
            Rule::PodSecurity(check) => check.summary(),
            Rule::SignedImages => {
                "Every image must carry a signature that verifies against a signature rule, or be allowed unsigned."
            }
            Rule::Limits => {
                "Every container and init container must set cpu and memory limits (and requests, when requireRequests is set); a limit of zero is none."
            }
        }
    }

    pub fn from_name(name: &str) -> Option<Rule> {
        match name {
            "signedImages" => Some(Rule::SignedImages),
            "limits" => Some(Rule::Limits),
            _ => Check::ALL
                .into_iter()
                .find(|c| c.id() == name)
                .map(Rule::PodSecurity),
        }
    }
}

impl Serialize for Rule {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.name())
    }
}

impl<'de> Deserialize<'de> for Rule {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = String::deserialize(deserializer)?;
        Rule::from_name(&name)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown rule {name:?}")))
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

/// The container a violation is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ContainerName {
    pub kind: ContainerKind,
    pub name: String,
}

/// One broken rule: which container (none when the pod itself is at fault: host namespaces,
/// volumes, sysctls, a pod-level security context field), the field and the value found there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Violation {
    pub container: Option<ContainerName>,
    pub rule: Rule,
    /// Where, from the pod template: `spec.containers[0].securityContext.privileged`,
    /// `spec.hostNetwork`, `metadata.annotations[...]`.
    pub field: String,
    /// The value found there as written; `None` when the field is missing.
    pub value: Option<String>,
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.container {
            Some(c) => write!(f, "{} {:?}", c.kind.label(), c.name)?,
            None => write!(f, "pod")?,
        }
        write!(f, ": {} [{}]", self.message, self.rule.name())
    }
}

/// A violation of the pod itself.
pub(crate) fn pod_violation(
    rule: Rule,
    field: impl Into<String>,
    value: Option<String>,
    message: impl Into<String>,
) -> Violation {
    Violation {
        container: None,
        rule,
        field: field.into(),
        value,
        message: message.into(),
    }
}

/// One container of any kind, as the rules see it.
pub struct ContainerView<'a> {
    pub kind: ContainerKind,
    /// Its position in its list.
    pub index: usize,
    pub name: &'a str,
    pub image: Option<&'a str>,
    pub security_context: Option<&'a SecurityContext>,
    /// None for ephemeral containers, which cannot carry resources.
    pub resources: Option<Option<&'a ResourceRequirements>>,
    pub fields: &'a ContainerFields,
}

impl ContainerView<'_> {
    /// The path of one of its fields from the pod template: `spec.containers[0].<rest>`.
    pub fn path(&self, rest: &str) -> String {
        format!("spec.{}[{}].{rest}", self.kind.field(), self.index)
    }

    /// A violation of this container at `spec.<list>[<index>].<rest>`.
    pub fn violation(
        &self,
        rule: Rule,
        rest: &str,
        value: Option<String>,
        message: impl Into<String>,
    ) -> Violation {
        Violation {
            container: Some(ContainerName {
                kind: self.kind,
                name: self.name.to_owned(),
            }),
            rule,
            field: self.path(rest),
            value,
            message: message.into(),
        }
    }
}

/// The parts of a pod template the rules read, in k8s-openapi's own types. The policy
/// deserializes only these from a request (a full `PodSpec` deserializer would make the module
/// far larger); the plugin converts a `PodSpec` with `From`. Unknown fields are ignored, as in
/// `PodSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodFields {
    /// The template's `metadata.annotations` (AppArmor's deprecated annotations live there);
    /// not part of the spec, so the caller fills it in.
    #[serde(skip)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security_context: Option<PodSecurityContext>,
    pub containers: Vec<ContainerFields>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub init_containers: Option<Vec<ContainerFields>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_containers: Option<Vec<ContainerFields>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_network: Option<bool>,
    #[serde(default, rename = "hostPID", skip_serializing_if = "Option::is_none")]
    pub host_pid: Option<bool>,
    #[serde(default, rename = "hostIPC", skip_serializing_if = "Option::is_none")]
    pub host_ipc: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_users: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<PodOS>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub volumes: Option<Vec<VolumeFields>>,
}

/// A volume as the checks see it: its name, which sources it names (`configMap`, `nfs`), and a
/// hostPath's path. The checks read no more, and k8s-openapi's `Volume` deserializer (thirty
/// kinds of source) would double the module's size; the plugin converts a `Volume` with `From`.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VolumeFields {
    pub name: String,
    /// The keys of the volume whose value is not null, but `name`: its sources as written.
    #[serde(skip)]
    pub sources: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_path: Option<HostPathVolumeSource>,
}

impl VolumeFields {
    pub fn has(&self, source: &str) -> bool {
        self.sources.iter().any(|s| s == source)
    }
}

impl<'de> Deserialize<'de> for VolumeFields {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Fields;
        impl<'de> serde::de::Visitor<'de> for Fields {
            type Value = VolumeFields;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a volume")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<VolumeFields, A::Error> {
                let mut volume = VolumeFields::default();
                let mut named = false;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "name" => {
                            volume.name = map.next_value()?;
                            named = true;
                        }
                        "hostPath" => {
                            volume.host_path = map.next_value()?;
                            if volume.host_path.is_some() {
                                volume.sources.push(key);
                            }
                        }
                        _ => {
                            if map.next_value::<Option<serde::de::IgnoredAny>>()?.is_some() {
                                volume.sources.push(key);
                            }
                        }
                    }
                }
                if !named {
                    return Err(serde::de::Error::missing_field("name"));
                }
                Ok(volume)
            }
        }
        deserializer.deserialize_map(Fields)
    }
}

impl From<&Volume> for VolumeFields {
    fn from(volume: &Volume) -> Self {
        let sources = match serde_json::to_value(volume) {
            Ok(serde_json::Value::Object(map)) => map
                .into_iter()
                .filter(|(key, value)| key != "name" && !value.is_null())
                .map(|(key, _)| key)
                .collect(),
            _ => Vec::new(),
        };
        VolumeFields {
            name: volume.name.clone(),
            sources,
            host_path: volume.host_path.clone(),
        }
    }
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ports: Option<Vec<ContainerPort>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub liveness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub startup_probe: Option<Probe>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
}

macro_rules! container_fields {
    ($c:expr) => {
        ContainerFields {
            name: $c.name.clone(),
            image: $c.image.clone(),
            security_context: $c.security_context.clone(),
            resources: $c.resources.clone(),
            ports: $c.ports.clone(),
            liveness_probe: $c.liveness_probe.clone(),
            readiness_probe: $c.readiness_probe.clone(),
            startup_probe: $c.startup_probe.clone(),
            lifecycle: $c.lifecycle.clone(),
        }
    };
}

impl From<&PodSpec> for PodFields {
    fn from(spec: &PodSpec) -> Self {
        PodFields {
            annotations: BTreeMap::new(),
            security_context: spec.security_context.clone(),
            containers: spec
                .containers
                .iter()
                .map(|c| container_fields!(c))
                .collect(),
            init_containers: spec
                .init_containers
                .as_ref()
                .map(|list| list.iter().map(|c| container_fields!(c)).collect()),
            ephemeral_containers: spec
                .ephemeral_containers
                .as_ref()
                .map(|list| list.iter().map(|c| container_fields!(c)).collect()),
            host_network: spec.host_network,
            host_pid: spec.host_pid,
            host_ipc: spec.host_ipc,
            host_users: spec.host_users,
            os: spec.os.clone(),
            volumes: spec
                .volumes
                .as_ref()
                .map(|list| list.iter().map(VolumeFields::from).collect()),
        }
    }
}

impl PodFields {
    /// A pod template's fields: its spec, and the annotations of its metadata.
    pub fn of_template(annotations: Option<&BTreeMap<String, String>>, spec: &PodSpec) -> Self {
        PodFields {
            annotations: annotations.cloned().unwrap_or_default(),
            ..PodFields::from(spec)
        }
    }

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
            spec.list(kind)
                .iter()
                .enumerate()
                .map(move |(index, c)| ContainerView {
                    kind,
                    index,
                    name: &c.name,
                    image: c.image.as_deref(),
                    security_context: c.security_context.as_ref(),
                    // Ephemeral containers cannot carry resources: the limits rule skips them.
                    resources: (kind != ContainerKind::EphemeralContainer)
                        .then_some(c.resources.as_ref()),
                    fields: c,
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

/// Where the pod template sits in each kind that carries one (a JSON pointer; its `spec` and
/// `metadata` are below it): Pod, the workload controllers, Job and CronJob. `None` for any
/// other kind.
pub fn pod_template_pointer(kind: &str) -> Option<&'static str> {
    Some(match kind {
        "Pod" => "",
        "Deployment"
        | "ReplicaSet"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicationController"
        | "Job" => "/spec/template",
        "CronJob" => "/spec/jobTemplate/spec/template",
        _ => return None,
    })
}

/// Whether an UPDATE leaves what the rules read as it was: the pod spec below `template` (the
/// kind's [`pod_template_pointer`]) and the template's AppArmor annotations, which are checked
/// like the spec. Such an update (labels, other annotations, replicas, status) was either
/// checked when the spec was written or predates the policy, and is accepted unchecked: that
/// lets the deployment controller scale down and delete ReplicaSets made before the policy.
/// The ValidatingAdmissionPolicy's `unchanged` variable is its CEL twin (see [`crate::cel`]).
pub fn unchanged_by_update(
    template: &str,
    old_object: &serde_json::Value,
    object: &serde_json::Value,
) -> bool {
    let spec = format!("{template}/spec");
    let annotations = format!("{template}/metadata/annotations");
    let app_armor = |object: &'_ serde_json::Value| -> BTreeMap<String, serde_json::Value> {
        object
            .pointer(&annotations)
            .and_then(serde_json::Value::as_object)
            .into_iter()
            .flatten()
            .filter(|(key, _)| key.starts_with(APP_ARMOR_ANNOTATION_PREFIX))
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    };
    object.pointer(&spec).is_some_and(|s| !s.is_null())
        && old_object.pointer(&spec) == object.pointer(&spec)
        && app_armor(old_object) == app_armor(object)
}

/// The CEL twin of [`unchanged_by_update`]: the variables `oldTemplate` and `unchanged` the
/// ValidatingAdmissionPolicy declares after [`cel_parts::VARIABLES`].
pub fn unchanged_by_update_cel() -> [(&'static str, String); 2] {
    let old_annotations = "variables.oldTemplate.?metadata.?annotations.orValue({})";
    [
        (
            "oldTemplate",
            "oldObject == null ? null
  : oldObject.kind == 'Pod' ? dyn(oldObject)
  : oldObject.kind == 'CronJob' ? dyn(oldObject).spec.jobTemplate.spec.template
  : dyn(oldObject).spec.template"
                .to_owned(),
        ),
        (
            "unchanged",
            format!(
                "request.operation == 'UPDATE' && variables.oldTemplate != null
  && variables.oldTemplate.spec == variables.spec
  && variables.annotations.all(k, !k.startsWith('{APP_ARMOR_ANNOTATION_PREFIX}')
    || (k in {old_annotations} && {old_annotations}[k] == variables.annotations[k]))
  && {old_annotations}.all(k, !k.startsWith('{APP_ARMOR_ANNOTATION_PREFIX}') || k in variables.annotations)"
            ),
        ),
    ]
}

/// Where the pod spec sits in each kind that carries one (a JSON pointer).
pub fn pod_spec_pointer(kind: &str) -> Option<String> {
    pod_template_pointer(kind).map(|template| format!("{template}/spec"))
}

/// Which of the pod-spec rules run (signatures are checked by the policy with host calls).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodRules {
    /// The Pod Security Standards profile.
    pub pod_security: Profile,
    pub limits: bool,
    /// Also require cpu and memory requests.
    pub require_requests: bool,
}

impl Default for PodRules {
    fn default() -> Self {
        PodRules {
            pod_security: Profile::Restricted,
            limits: true,
            require_requests: false,
        }
    }
}

/// Every violation of the enabled pod-spec rules of a pod spec (without template annotations).
pub fn check_pod_spec(spec: &PodSpec, rules: &PodRules) -> Vec<Violation> {
    check_pod(&PodFields::from(spec), rules)
}

/// Every violation of the enabled pod-spec rules: the profile's first, then limits.
pub fn check_pod(spec: &PodFields, rules: &PodRules) -> Vec<Violation> {
    let mut violations = check_pod_security(spec, rules.pod_security);
    if rules.limits {
        violations.extend(check_limits(spec, rules.require_requests));
    }
    violations
}

#[cfg(test)]
pub(crate) mod fixtures {
    use k8s_openapi::api::core::v1::PodSpec;

    /// The seed's compliant pod spec (plus the RuntimeDefault seccomp profile restricted
    /// needs), with `edit` applied to its JSON first.
    pub fn pod_spec(edit: impl FnOnce(&mut serde_json::Value)) -> PodSpec {
        let mut value = serde_json::json!({
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000, "fsGroup": 1000, "seccompProfile": {"type": "RuntimeDefault"}},
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
            v["securityContext"] =
                serde_json::json!({"seccompProfile": {"type": "RuntimeDefault"}});
            v["containers"][0]["securityContext"] = serde_json::json!({"runAsUser": 0});
            v["containers"][0]["resources"] = serde_json::json!({});
        });
        let rules: Vec<&str> = check_pod_spec(&spec, &PodRules::default())
            .iter()
            .map(|v| v.rule.name())
            .collect();
        assert_eq!(
            rules,
            [
                "capabilities_restricted",
                "allowPrivilegeEscalation",
                "runAsNonRoot",
                "runAsUser",
                "limits",
                "limits"
            ]
        );
    }

    #[test]
    fn the_profile_and_limits_can_be_turned_off() {
        let spec = pod_spec(|v| {
            v["containers"][0]["resources"] = serde_json::json!({});
            v["securityContext"] = serde_json::json!({"runAsUser": 0});
        });
        let off = PodRules {
            limits: false,
            pod_security: Profile::None,
            ..PodRules::default()
        };
        assert_eq!(check_pod_spec(&spec, &off), []);
        let baseline = PodRules {
            limits: false,
            pod_security: Profile::Baseline,
            ..PodRules::default()
        };
        assert_eq!(check_pod_spec(&spec, &baseline), []);
    }

    #[test]
    fn violations_read_well_and_name_their_field() {
        let spec = pod_spec(|v| {
            v["containers"][0]["resources"]["limits"] = serde_json::json!({"cpu": "1"});
            v["hostNetwork"] = serde_json::json!(true);
        });
        let violations = check_pod_spec(&spec, &PodRules::default());
        let lines: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            [
                "pod: hostNetwork is true; the pod must not share the host's network namespace [hostNamespaces]",
                "container \"bizra-node\": no memory limit [limits]"
            ]
        );
        assert_eq!(
            violations[1].field,
            "spec.containers[0].resources.limits.memory"
        );
        assert_eq!(violations[1].value, None);
    }

    #[test]
    fn rules_are_named_by_their_check_id_both_ways() {
        for check in Check::ALL {
            let rule = Rule::PodSecurity(check);
            assert_eq!(Rule::from_name(rule.name()), Some(rule));
            assert_eq!(
                serde_json::to_value(rule).expect("serializes"),
                serde_json::json!(check.id())
            );
        }
        assert_eq!(Rule::from_name("limits"), Some(Rule::Limits));
        assert_eq!(Rule::from_name("nonRoot"), None);
    }

    #[test]
    fn template_pointers() {
        assert_eq!(pod_spec_pointer("Pod").as_deref(), Some("/spec"));
        assert_eq!(
            pod_spec_pointer("CronJob").as_deref(),
            Some("/spec/jobTemplate/spec/template/spec")
        );
        assert_eq!(pod_spec_pointer("Service"), None);
    }
}
