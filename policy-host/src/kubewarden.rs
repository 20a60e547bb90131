//! What kubewarden-controller makes of a ClusterAdmissionPolicy, for the test bed: the webhook
//! configuration the apiserver calls, and the policy's entry in the policy-server's
//! `policies.yml`. The mapping follows the controller's `reconcileValidatingWebhookConfiguration`
//! / `reconcileMutatingWebhookConfiguration` and `buildPoliciesMap`
//! (../shared/reference/admission-edge.md, A and B.6); only `clientConfig` differs: a URL on
//! loopback instead of the policy-server Service.

use std::collections::BTreeMap;

use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MatchCondition, MutatingWebhook, MutatingWebhookConfiguration, RuleWithOperations,
    ValidatingWebhook, ValidatingWebhookConfiguration, WebhookClientConfig,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{
    LabelSelector, LabelSelectorRequirement, ObjectMeta,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The ClusterAdmissionPolicy fields the controller reads (policies.kubewarden.io/v1).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAdmissionPolicy {
    pub metadata: ObjectMeta,
    pub spec: PolicySpec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyMode {
    #[default]
    Protect,
    Monitor,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    pub module: String,
    #[serde(default = "default_policy_server")]
    pub policy_server: String,
    #[serde(default)]
    pub mode: PolicyMode,
    pub mutating: bool,
    pub rules: Vec<RuleWithOperations>,
    #[serde(default)]
    pub failure_policy: Option<String>,
    #[serde(default)]
    pub match_policy: Option<String>,
    #[serde(default)]
    pub side_effects: Option<String>,
    /// The CRD's default is 10.
    #[serde(default = "default_timeout_seconds")]
    pub timeout_seconds: i32,
    #[serde(default)]
    pub namespace_selector: Option<LabelSelector>,
    #[serde(default)]
    pub object_selector: Option<LabelSelector>,
    #[serde(default)]
    pub match_conditions: Option<Vec<MatchCondition>>,
    #[serde(default)]
    pub settings: Option<Value>,
    #[serde(default)]
    pub background_audit: Option<bool>,
    #[serde(default)]
    pub allow_inside_admission_controller_namespace: bool,
    #[serde(default)]
    pub timeout_eval_seconds: Option<i32>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub context_aware_resources: Vec<Value>,
}

fn default_policy_server() -> String {
    "default".into()
}

fn default_timeout_seconds() -> i32 {
    10
}

/// The policy id, which names the webhook configuration and the policy-server endpoint. Kubewarden
/// 1.37.2 and later name a ClusterAdmissionPolicy `kw.cap.<name>` (`GetUniqueName`; before, it
/// was `clusterwide-<name>`).
pub fn policy_id(policy: &ClusterAdmissionPolicy) -> String {
    format!(
        "kw.cap.{}",
        policy.metadata.name.as_deref().unwrap_or_default()
    )
}

/// Where the apiserver sends the reviews: the admission server's base URL (`https://host:port`)
/// and the CA that signed its certificate.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub ca_bundle: Vec<u8>,
    /// The namespace Kubewarden runs in, which the webhooks exclude (the chart's `kubewarden`).
    pub deployments_namespace: String,
}

/// One webhook configuration, of the kind the policy needs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum WebhookConfiguration {
    Validating(ValidatingWebhookConfiguration),
    Mutating(MutatingWebhookConfiguration),
}

/// The controller's namespaceSelector: Kubewarden's own namespace excluded first, then the
/// policy's matchExpressions (its matchLabels are not carried over, as in the controller); with
/// `allowInsideAdmissionControllerNamespace` the policy's selector as it is.
pub fn namespace_selector(spec: &PolicySpec, deployments_namespace: &str) -> LabelSelector {
    if spec.allow_inside_admission_controller_namespace {
        return spec.namespace_selector.clone().unwrap_or_default();
    }
    let mut expressions = vec![LabelSelectorRequirement {
        key: "kubernetes.io/metadata.name".into(),
        operator: "NotIn".into(),
        values: Some(vec![deployments_namespace.to_string()]),
    }];
    if let Some(own) = spec
        .namespace_selector
        .as_ref()
        .and_then(|s| s.match_expressions.clone())
    {
        expressions.extend(own);
    }
    LabelSelector {
        match_expressions: Some(expressions),
        match_labels: None,
    }
}

/// The webhook configuration kubewarden-controller writes for `policy`, pointed at `endpoint`.
pub fn webhook_configuration(
    policy: &ClusterAdmissionPolicy,
    endpoint: &Endpoint,
) -> WebhookConfiguration {
    let id = policy_id(policy);
    let spec = &policy.spec;
    let metadata = ObjectMeta {
        name: Some(id.clone()),
        labels: Some(BTreeMap::from([(
            "app.kubernetes.io/part-of".to_string(),
            "kubewarden".to_string(),
        )])),
        annotations: Some(BTreeMap::from([
            (
                "kubewardenPolicyName".to_string(),
                policy.metadata.name.clone().unwrap_or_default(),
            ),
            ("kubewardenPolicyNamespace".to_string(), String::new()),
        ])),
        ..ObjectMeta::default()
    };
    let client_config = WebhookClientConfig {
        // Mutating policies are served under /validate too.
        url: Some(format!(
            "{}/validate/{id}",
            endpoint.base_url.trim_end_matches('/')
        )),
        ca_bundle: Some(ByteString(endpoint.ca_bundle.clone())),
        service: None,
    };
    let name = format!("{id}.kubewarden.admission");
    let side_effects = spec.side_effects.clone().unwrap_or_else(|| "None".into());
    let selector = namespace_selector(spec, &endpoint.deployments_namespace);
    if spec.mutating {
        WebhookConfiguration::Mutating(MutatingWebhookConfiguration {
            metadata,
            webhooks: Some(vec![MutatingWebhook {
                name,
                client_config,
                rules: Some(spec.rules.clone()),
                failure_policy: spec.failure_policy.clone(),
                match_policy: spec.match_policy.clone(),
                side_effects,
                timeout_seconds: Some(spec.timeout_seconds),
                admission_review_versions: vec!["v1".into()],
                namespace_selector: Some(selector),
                object_selector: spec.object_selector.clone(),
                match_conditions: spec.match_conditions.clone(),
                // The controller never sets it: the apiserver's default, Never.
                reinvocation_policy: None,
            }]),
        })
    } else {
        WebhookConfiguration::Validating(ValidatingWebhookConfiguration {
            metadata,
            webhooks: Some(vec![ValidatingWebhook {
                name,
                client_config,
                rules: Some(spec.rules.clone()),
                failure_policy: spec.failure_policy.clone(),
                match_policy: spec.match_policy.clone(),
                side_effects,
                timeout_seconds: Some(spec.timeout_seconds),
                admission_review_versions: vec!["v1".into()],
                namespace_selector: Some(selector),
                object_selector: spec.object_selector.clone(),
                match_conditions: spec.match_conditions.clone(),
            }]),
        })
    }
}

/// The policy's entry in `policies.yml`, as the controller's `buildPoliciesMap` writes it, with
/// `module` replaced by the module the test bed runs.
pub fn policies_entry(policy: &ClusterAdmissionPolicy, module: &str) -> Value {
    let spec = &policy.spec;
    let mut entry = json!({
        "namespacedName": {"namespace": "", "name": policy.metadata.name.clone().unwrap_or_default()},
        "module": module,
        "policyMode": spec.mode,
        "allowedToMutate": spec.mutating,
        "contextAwareResources": spec.context_aware_resources,
        "settings": spec.settings.clone().unwrap_or_else(|| json!({})),
        "hostCapabilities": ["*"],
    });
    if let Some(message) = &spec.message {
        entry["message"] = json!(message);
    }
    if let Some(seconds) = spec.timeout_eval_seconds {
        entry["timeoutEvalSeconds"] = json!(seconds);
    }
    entry
}

/// Every ClusterAdmissionPolicy in the YAML files of `dir` (one document per file; other kinds,
/// such as the kustomization, are skipped), sorted by name.
pub fn read_policies(dir: &std::path::Path) -> anyhow::Result<Vec<ClusterAdmissionPolicy>> {
    let mut policies = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", dir.display()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml" || x == "yml"))
        .collect();
    paths.sort();
    for path in paths {
        let text = std::fs::read_to_string(&path)
            .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
        let value: Value = serde_saphyr::from_str(&text)
            .map_err(|e| anyhow::anyhow!("{} is not YAML: {e}", path.display()))?;
        if value["kind"] != "ClusterAdmissionPolicy" {
            continue;
        }
        let policy: ClusterAdmissionPolicy = serde_json::from_value(value).map_err(|e| {
            anyhow::anyhow!("{} is not a ClusterAdmissionPolicy: {e}", path.display())
        })?;
        policies.push(policy);
    }
    policies.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    Ok(policies)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(spec: Value) -> ClusterAdmissionPolicy {
        serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": spec})).expect("policy")
    }

    fn endpoint() -> Endpoint {
        Endpoint {
            base_url: "https://127.0.0.1:9443/".into(),
            ca_bundle: b"CA".to_vec(),
            deployments_namespace: "kubewarden".into(),
        }
    }

    fn minimal(mutating: bool) -> Value {
        json!({
            "module": "registry://r/p:v1",
            "mutating": mutating,
            "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}]
        })
    }

    #[test]
    fn a_validating_policy_gets_one_validating_webhook_with_the_controllers_defaults() {
        let config =
            serde_json::to_value(webhook_configuration(&policy(minimal(false)), &endpoint()))
                .expect("JSON");
        assert_eq!(
            config,
            json!({
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingWebhookConfiguration",
                "metadata": {
                    "name": "kw.cap.p",
                    "labels": {"app.kubernetes.io/part-of": "kubewarden"},
                    "annotations": {"kubewardenPolicyName": "p", "kubewardenPolicyNamespace": ""}
                },
                "webhooks": [{
                    "name": "kw.cap.p.kubewarden.admission",
                    "clientConfig": {"url": "https://127.0.0.1:9443/validate/kw.cap.p", "caBundle": "Q0E="},
                    "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
                    "sideEffects": "None",
                    "timeoutSeconds": 10,
                    "admissionReviewVersions": ["v1"],
                    "namespaceSelector": {"matchExpressions": [
                        {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kubewarden"]}
                    ]}
                }]
            })
        );
    }

    #[test]
    fn a_mutating_policy_gets_a_mutating_webhook_served_under_validate_and_never_reinvoked() {
        let mut spec = minimal(true);
        spec["failurePolicy"] = json!("Ignore");
        spec["matchPolicy"] = json!("Exact");
        spec["sideEffects"] = json!("NoneOnDryRun");
        spec["timeoutSeconds"] = json!(3);
        spec["objectSelector"] = json!({"matchLabels": {"a": "b"}});
        spec["matchConditions"] = json!([{"name": "c", "expression": "true"}]);
        let WebhookConfiguration::Mutating(config) =
            webhook_configuration(&policy(spec), &endpoint())
        else {
            panic!("mutating: true makes a MutatingWebhookConfiguration");
        };
        let webhook = &config.webhooks.expect("webhooks")[0];
        assert_eq!(
            webhook.client_config.url.as_deref(),
            Some("https://127.0.0.1:9443/validate/kw.cap.p")
        );
        assert_eq!(webhook.failure_policy.as_deref(), Some("Ignore"));
        assert_eq!(webhook.match_policy.as_deref(), Some("Exact"));
        assert_eq!(webhook.side_effects, "NoneOnDryRun");
        assert_eq!(webhook.timeout_seconds, Some(3));
        assert_eq!(webhook.reinvocation_policy, None);
        assert_eq!(
            webhook
                .object_selector
                .as_ref()
                .and_then(|s| s.match_labels.clone()),
            Some(BTreeMap::from([("a".to_string(), "b".to_string())]))
        );
        assert_eq!(webhook.match_conditions.as_ref().map(Vec::len), Some(1));
    }

    #[test]
    fn the_namespace_selector_excludes_kubewarden_then_keeps_only_the_policys_expressions() {
        let mut spec = minimal(false);
        spec["namespaceSelector"] = json!({
            "matchLabels": {"team": "bizra"},
            "matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}]
        });
        let selector = namespace_selector(&policy(spec.clone()).spec, "kubewarden");
        assert_eq!(
            serde_json::to_value(selector).expect("JSON"),
            json!({"matchExpressions": [
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kubewarden"]},
                {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": ["kube-system"]}
            ]})
        );
        spec["allowInsideAdmissionControllerNamespace"] = json!(true);
        let as_is = namespace_selector(&policy(spec).spec, "kubewarden");
        assert_eq!(
            as_is.match_labels,
            Some(BTreeMap::from([("team".to_string(), "bizra".to_string())]))
        );
        assert_eq!(as_is.match_expressions.map(|e| e.len()), Some(1));
    }

    #[test]
    fn monitor_mode_leaves_the_webhook_alone_and_reaches_policies_yml() {
        let mut spec = minimal(true);
        spec["mode"] = json!("monitor");
        spec["settings"] = json!({"job": "pinDigests"});
        spec["timeoutEvalSeconds"] = json!(8);
        let monitored = policy(spec);
        assert_eq!(
            webhook_configuration(&monitored, &endpoint()),
            webhook_configuration(&policy(minimal(true)), &endpoint())
        );
        assert_eq!(
            policies_entry(&monitored, "file:///m.wasm"),
            json!({
                "namespacedName": {"namespace": "", "name": "p"},
                "module": "file:///m.wasm",
                "policyMode": "monitor",
                "allowedToMutate": true,
                "contextAwareResources": [],
                "settings": {"job": "pinDigests"},
                "hostCapabilities": ["*"],
                "timeoutEvalSeconds": 8
            })
        );
    }

    #[test]
    fn the_shipped_policies_map_to_one_validating_and_one_mutating_webhook() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/policy");
        let policies = read_policies(&dir).expect("shipped policies");
        let kinds: Vec<(String, &str)> = policies
            .iter()
            .map(|p| {
                let kind = match webhook_configuration(p, &endpoint()) {
                    WebhookConfiguration::Validating(_) => "validating",
                    WebhookConfiguration::Mutating(_) => "mutating",
                };
                (policy_id(p), kind)
            })
            .collect();
        assert_eq!(
            kinds,
            [
                ("kw.cap.bizra-pin-digests".to_string(), "mutating"),
                ("kw.cap.bizra-secure-pods".to_string(), "validating")
            ]
        );
        for p in &policies {
            let WebhookConfiguration::Validating(config) = webhook_configuration(p, &endpoint())
            else {
                continue;
            };
            let webhook = &config.webhooks.expect("webhooks")[0];
            assert_eq!(webhook.failure_policy.as_deref(), Some("Fail"));
            let excluded: Vec<String> = webhook
                .namespace_selector
                .as_ref()
                .and_then(|s| s.match_expressions.clone())
                .unwrap_or_default()
                .into_iter()
                .flat_map(|e| e.values.unwrap_or_default())
                .collect();
            assert_eq!(
                excluded,
                [
                    "kubewarden",
                    "kube-system",
                    "kube-public",
                    "kubewarden",
                    "istio-system"
                ]
            );
        }
    }
}
