//! Server-side apply of a manifest set, in order, with field manager `kubectl-bizra`.

use std::collections::BTreeSet;

use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{Discovery, Scope};
use serde::Serialize;
use serde_json::Value;

use crate::global::KubeClient;
use crate::manifests::{Manifest, is_optional_group};

pub const FIELD_MANAGER: &str = "kubectl-bizra";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Action {
    Created,
    Configured,
    Unchanged,
    Skipped,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApplyResult {
    pub kind: String,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub action: Action,
    /// Why it was skipped, or which fields a dry run would change.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{kind} {name}: the API {api_version} is not served by this cluster")]
    NotServed {
        kind: String,
        name: String,
        api_version: String,
    },
    #[error(
        "{kind} {name} is for namespace {object_namespace:?} but the target namespace is {namespace:?}; drop its namespace or pass -n {object_namespace}"
    )]
    NamespaceMismatch {
        kind: String,
        name: String,
        object_namespace: String,
        namespace: String,
    },
}

fn gvk_of(manifest: &Manifest) -> GroupVersionKind {
    let (group, version) = match manifest.api_version().split_once('/') {
        Some((group, version)) => (group, version),
        None => ("", manifest.api_version()),
    };
    GroupVersionKind::gvk(group, version, manifest.kind())
}

/// Fields that change on every write or belong to the server; left out when comparing.
fn comparable(object: &DynamicObject) -> Value {
    let mut value = serde_json::to_value(object).unwrap_or(Value::Null);
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "creationTimestamp",
            "uid",
        ] {
            metadata.remove(field);
        }
    }
    value
}

/// Paths whose values differ between `before` and `after`, e.g. `spec.replicas`.
pub fn changed_paths(before: &Value, after: &Value) -> Vec<String> {
    fn walk(before: &Value, after: &Value, path: &str, out: &mut Vec<String>) {
        match (before, after) {
            (Value::Object(a), Value::Object(b)) => {
                let keys: BTreeSet<&String> = a.keys().chain(b.keys()).collect();
                for key in keys {
                    let child = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    walk(
                        a.get(key).unwrap_or(&Value::Null),
                        b.get(key).unwrap_or(&Value::Null),
                        &child,
                        out,
                    );
                }
            }
            (Value::Array(a), Value::Array(b)) if a.len() == b.len() => {
                for (i, (x, y)) in a.iter().zip(b).enumerate() {
                    walk(x, y, &format!("{path}[{i}]"), out);
                }
            }
            _ if before != after => out.push(path.to_owned()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(before, after, "", &mut out);
    out
}

/// Applies `manifests` in the given order into `namespace`. Objects of optional APIs that the
/// cluster does not serve are skipped with the reason; anything else that fails stops the apply.
pub async fn apply_all(
    kube: &KubeClient,
    manifests: &[Manifest],
    namespace: &str,
    dry_run: bool,
) -> anyhow::Result<Vec<ApplyResult>> {
    let groups: BTreeSet<String> = manifests.iter().map(|m| gvk_of(m).group).collect();
    let groups: Vec<&str> = groups.iter().map(String::as_str).collect();
    let discovery = Discovery::new(kube.client.clone())
        .filter(&groups)
        .run()
        .await
        .map_err(|e| kube.classify(e))?;

    let mut params = PatchParams::apply(FIELD_MANAGER).force();
    if dry_run {
        params = params.dry_run();
    }
    let mut results = Vec::new();
    for manifest in manifests {
        let gvk = gvk_of(manifest);
        let name = manifest.name().to_owned();
        let mut result = ApplyResult {
            kind: manifest.kind().to_owned(),
            name: name.clone(),
            namespace: None,
            action: Action::Skipped,
            detail: String::new(),
        };
        let Some((resource, capabilities)) = discovery.resolve_gvk(&gvk) else {
            if is_optional_group(manifest.api_version()) {
                result.detail = format!(
                    "{} is not served: its CRD is not installed",
                    manifest.api_version()
                );
                results.push(result);
                continue;
            }
            return Err(ApplyError::NotServed {
                kind: result.kind,
                name,
                api_version: manifest.api_version().to_owned(),
            }
            .into());
        };
        let mut object = manifest.object.clone();
        let api: Api<DynamicObject> = if capabilities.scope == Scope::Namespaced {
            match object.metadata.namespace.as_deref() {
                Some(ns) if ns != namespace => {
                    return Err(ApplyError::NamespaceMismatch {
                        kind: result.kind,
                        name,
                        object_namespace: ns.to_owned(),
                        namespace: namespace.to_owned(),
                    }
                    .into());
                }
                _ => object.metadata.namespace = Some(namespace.to_owned()),
            }
            result.namespace = Some(namespace.to_owned());
            Api::namespaced_with(kube.client.clone(), namespace, &resource)
        } else {
            object.metadata.namespace = None;
            Api::all_with(kube.client.clone(), &resource)
        };

        let what = format!("{} {name}", result.kind);
        let before = api.get_opt(&name).await.map_err(|e| {
            anyhow::Error::new(kube.classify(e)).context(format!("cannot read {what}"))
        })?;
        let after = api
            .patch(&name, &params, &Patch::Apply(&object))
            .await
            .map_err(|e| {
                anyhow::Error::new(kube.classify(e)).context(format!("cannot apply {what}"))
            })?;
        match before {
            None => result.action = Action::Created,
            Some(before) => {
                let changes = changed_paths(&comparable(&before), &comparable(&after));
                if changes.is_empty() {
                    result.action = Action::Unchanged;
                } else {
                    result.action = Action::Configured;
                    result.detail = changes.join(", ");
                }
            }
        }
        results.push(result);
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn changed_paths_name_the_leaves_that_differ() {
        let before = json!({"spec": {"replicas": 3, "template": {"containers": [{"image": "a:1"}, {"image": "b"}]}}, "metadata": {"labels": {"x": "1"}}});
        let after = json!({"spec": {"replicas": 3, "template": {"containers": [{"image": "a:2"}, {"image": "b"}]}}, "metadata": {"labels": {"x": "1", "y": "2"}}});
        assert_eq!(
            changed_paths(&before, &after),
            ["metadata.labels.y", "spec.template.containers[0].image"]
        );
        assert!(changed_paths(&before, &before).is_empty());
    }

    #[test]
    fn server_owned_fields_do_not_count_as_changes() {
        let before: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "1", "managedFields": [], "generation": 1}, "data": {"a": "1"}})).expect("object");
        let after: DynamicObject = serde_json::from_value(json!({"apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "c", "resourceVersion": "2", "generation": 2}, "data": {"a": "1"}})).expect("object");
        assert!(changed_paths(&comparable(&before), &comparable(&after)).is_empty());
    }
}
