//! The effective environment of a container, resolved the way the kubelet does: `envFrom` first
//! (in order, later sources win), then `env` (later entries win). ConfigMap values are looked up;
//! Secrets are never read, their variables show where they come from.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Container};

/// Where a variable's value comes from, and the value when it can be known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    Value(String),
    /// Set from a Secret, which `validate` does not read.
    FromSecret(String),
    /// Set from a field of the pod or a resource (known only inside the pod).
    FromField(String),
}

/// A ConfigMap the container refers to could not be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvProblem(pub String);

/// Resolves the container's environment. `config_maps` holds the ConfigMaps that could be read by
/// name; a reference to a missing one is a problem unless it is optional.
pub fn resolve(
    container: &Container,
    config_maps: &BTreeMap<String, ConfigMap>,
) -> (BTreeMap<String, EnvValue>, Vec<EnvProblem>) {
    let mut env = BTreeMap::new();
    let mut problems = Vec::new();
    for source in container.env_from.iter().flatten() {
        let prefix = source.prefix.clone().unwrap_or_default();
        if let Some(reference) = &source.config_map_ref {
            match config_maps.get(&reference.name) {
                Some(cm) => {
                    for (key, value) in cm.data.iter().flatten() {
                        env.insert(format!("{prefix}{key}"), EnvValue::Value(value.clone()));
                    }
                }
                None if reference.optional == Some(true) => {}
                None => problems.push(EnvProblem(format!(
                    "envFrom ConfigMap {:?} does not exist",
                    reference.name
                ))),
            }
        }
        if let Some(reference) = &source.secret_ref {
            // Which keys the Secret holds is unknown without reading it.
            env.insert(
                format!("{prefix}*"),
                EnvValue::FromSecret(reference.name.clone()),
            );
        }
    }
    for var in container.env.iter().flatten() {
        let value = match (&var.value, &var.value_from) {
            (Some(value), _) => EnvValue::Value(value.clone()),
            (None, Some(from)) => {
                if let Some(key_ref) = &from.config_map_key_ref {
                    match config_maps
                        .get(&key_ref.name)
                        .and_then(|cm| cm.data.as_ref()?.get(&key_ref.key))
                    {
                        Some(value) => EnvValue::Value(value.clone()),
                        None if key_ref.optional == Some(true) => continue,
                        None => {
                            problems.push(EnvProblem(format!(
                                "{}: key {:?} of ConfigMap {:?} does not exist",
                                var.name, key_ref.key, key_ref.name
                            )));
                            continue;
                        }
                    }
                } else if let Some(key_ref) = &from.secret_key_ref {
                    EnvValue::FromSecret(format!("{}/{}", key_ref.name, key_ref.key))
                } else if let Some(field) = &from.field_ref {
                    EnvValue::FromField(field.field_path.clone())
                } else if let Some(resource) = &from.resource_field_ref {
                    EnvValue::FromField(resource.resource.clone())
                } else {
                    EnvValue::Value(String::new())
                }
            }
            (None, None) => EnvValue::Value(String::new()),
        };
        env.insert(var.name.clone(), value);
    }
    (env, problems)
}

/// The ConfigMaps a container refers to, by name.
pub fn config_map_names(container: &Container) -> Vec<String> {
    let mut names: Vec<String> = container
        .env_from
        .iter()
        .flatten()
        .filter_map(|s| s.config_map_ref.as_ref().map(|r| r.name.clone()))
        .chain(container.env.iter().flatten().filter_map(|v| {
            v.value_from
                .as_ref()?
                .config_map_key_ref
                .as_ref()
                .map(|r| r.name.clone())
        }))
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn container(value: serde_json::Value) -> Container {
        serde_json::from_value(value).expect("container fixture")
    }

    fn config_map(data: serde_json::Value) -> ConfigMap {
        serde_json::from_value(json!({"metadata": {"name": "bizra-config"}, "data": data}))
            .expect("cm")
    }

    #[test]
    fn env_overrides_env_from_and_config_map_keys_are_looked_up() {
        let c = container(json!({"name": "c",
        "envFrom": [{"configMapRef": {"name": "bizra-config"}}, {"secretRef": {"name": "keys"}, "prefix": "S_"}],
        "env": [
            {"name": "METRICS_PORT", "value": "9999"},
            {"name": "FROM_KEY", "valueFrom": {"configMapKeyRef": {"name": "bizra-config", "key": "BIZRA_USE_RUST"}}},
            {"name": "TOKEN", "valueFrom": {"secretKeyRef": {"name": "keys", "key": "token"}}},
            {"name": "POD_IP", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}
        ]}));
        let maps = BTreeMap::from([(
            "bizra-config".to_owned(),
            config_map(json!({"BIZRA_USE_RUST": "true", "METRICS_PORT": "9464"})),
        )]);
        let (env, problems) = resolve(&c, &maps);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(env["METRICS_PORT"], EnvValue::Value("9999".into()));
        assert_eq!(env["BIZRA_USE_RUST"], EnvValue::Value("true".into()));
        assert_eq!(env["FROM_KEY"], EnvValue::Value("true".into()));
        assert_eq!(env["TOKEN"], EnvValue::FromSecret("keys/token".into()));
        assert_eq!(env["POD_IP"], EnvValue::FromField("status.podIP".into()));
        assert_eq!(env["S_*"], EnvValue::FromSecret("keys".into()));
        assert_eq!(config_map_names(&c), ["bizra-config"]);
    }

    #[test]
    fn missing_config_maps_are_problems_unless_optional() {
        let c = container(json!({"name": "c",
            "envFrom": [{"configMapRef": {"name": "gone"}}, {"configMapRef": {"name": "maybe", "optional": true}}],
            "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "gone", "key": "x"}}}]}));
        let (_, problems) = resolve(&c, &BTreeMap::new());
        assert_eq!(
            problems,
            [
                EnvProblem("envFrom ConfigMap \"gone\" does not exist".into()),
                EnvProblem("X: key \"x\" of ConfigMap \"gone\" does not exist".into())
            ]
        );
    }
}
