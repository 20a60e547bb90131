//! Gate 7: the node container's effective environment (env, envFrom ConfigMaps, valueFrom) holds
//! the variables the node needs.

use std::collections::BTreeMap;

use super::unreadable;
use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::env::{EnvValue, resolve};
use crate::validate::{GateId, GateResult};

const GATE: GateId = GateId::Environment;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[Input::ConfigMaps, Input::ExecEnv];

pub fn environment(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let Fetch::Ok(deployment) = &snapshot.deployment else {
        return unreadable(GATE, "the Deployment", &snapshot.deployment);
    };
    let container = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .and_then(|s| {
            s.containers
                .iter()
                .find(|c| c.name == expectations.container)
        });
    let Some(container) = container else {
        return GateResult::fail(
            GATE,
            format!(
                "the pod template has no container named {:?}",
                expectations.container
            ),
        );
    };
    let mut config_maps = BTreeMap::new();
    for (name, fetched) in &snapshot.config_maps {
        match fetched {
            Fetch::Ok(cm) => {
                config_maps.insert(name.clone(), cm.clone());
            }
            Fetch::NotFound(_) => {}
            other => {
                return GateResult::inconclusive(
                    GATE,
                    format!(
                        "cannot read ConfigMap {name:?}: {}",
                        other.problem().unwrap_or_default()
                    ),
                );
            }
        }
    }
    let (env, problems) = resolve(container, &config_maps);
    let mut failures: Vec<String> = problems.into_iter().map(|p| p.0).collect();
    let mut unknowable = Vec::new();
    for (name, wanted) in &expectations.env {
        match (env.get(name), wanted) {
            (None, _) => failures.push(format!("{name} is not set")),
            (Some(EnvValue::Value(v)), None) if v.is_empty() => {
                failures.push(format!("{name} is empty"))
            }
            (Some(EnvValue::Value(v)), Some(w)) if v != w => {
                failures.push(format!("{name}={v}, expected {w}"))
            }
            (Some(EnvValue::Value(_)), _) => {}
            (Some(EnvValue::FromSecret(s)), Some(_)) => {
                unknowable.push(format!("{name} comes from Secret {s}, which is not read"))
            }
            (Some(EnvValue::FromField(f)), Some(_)) => {
                unknowable.push(format!("{name} comes from {f}, known only in the pod"))
            }
            (Some(_), None) => {}
        }
    }
    let threshold = expectations
        .env
        .iter()
        .map(|(k, v)| format!("{k}={}", v.as_deref().unwrap_or("(set)")))
        .collect::<Vec<_>>()
        .join(" ");
    let as_expected = expectations.env.len()
        - failures
            .iter()
            .filter(|f| !f.starts_with("envFrom"))
            .count()
            .min(expectations.env.len());
    let observed = format!("{as_expected}/{} as expected", expectations.env.len());
    // --exec: what the running process sees, which a ConfigMap edited after the start does not change.
    if let Some((pod, fetched)) = &snapshot.exec_env {
        match fetched {
            Fetch::Ok(live) => {
                for (name, wanted) in &expectations.env {
                    match (live.get(name), wanted) {
                        (None, _) => failures.push(format!("in pod {pod}: {name} is not set")),
                        (Some(v), Some(w)) if v != w => {
                            failures.push(format!("in pod {pod}: {name}={v}, expected {w}"))
                        }
                        (Some(v), None) if v.is_empty() => {
                            failures.push(format!("in pod {pod}: {name} is empty"))
                        }
                        _ => {}
                    }
                }
            }
            other => unknowable.push(format!(
                "printenv in {pod}: {}",
                other.problem().unwrap_or_default()
            )),
        }
    }
    if !failures.is_empty() {
        GateResult::fail(GATE, failures.join("; ")).measured(observed, threshold)
    } else if !unknowable.is_empty() {
        GateResult::inconclusive(GATE, unknowable.join("; ")).measured(observed, threshold)
    } else {
        GateResult::pass(
            GATE,
            format!("{} variables as expected", expectations.env.len()),
        )
        .measured(observed, threshold)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::Status;
    use crate::validate::gates::fixtures::{edit, healthy};

    #[test]
    fn the_seed_environment_passes() {
        let result = environment(&healthy(), &Expectations::default());
        assert_eq!(result.status, Status::Pass, "{result:?}");
    }

    #[test]
    fn a_wrong_value_in_the_config_map_fails() {
        let mut snapshot = healthy();
        if let Some(Fetch::Ok(cm)) = snapshot.config_maps.get_mut("bizra-config") {
            edit(cm, |c| c["data"]["BIZRA_USE_RUST"] = "false".into());
        }
        let result = environment(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(result.message, "BIZRA_USE_RUST=false, expected true");
    }

    #[test]
    fn printenv_in_a_pod_is_compared_too() {
        let mut snapshot = healthy();
        let live = [
            ("BIZRA_USE_RUST", "false"),
            ("METRICS_PORT", "9464"),
            ("NODE_ENV", "testnet"),
            ("RUST_LOG", "info"),
        ];
        snapshot.exec_env = Some((
            "p-1".into(),
            Fetch::Ok(
                live.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
        ));
        let result = environment(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.message,
            "in pod p-1: BIZRA_USE_RUST=false, expected true"
        );
        snapshot.exec_env = Some(("p-1".into(), Fetch::Forbidden("pods/exec".into())));
        assert_eq!(
            environment(&snapshot, &Expectations::default()).status,
            Status::Inconclusive
        );
    }

    #[test]
    fn a_missing_config_map_fails_every_variable_it_held() {
        let mut snapshot = healthy();
        snapshot.config_maps.insert(
            "bizra-config".into(),
            Fetch::NotFound("configmaps \"bizra-config\" not found".into()),
        );
        let result = environment(&snapshot, &Expectations::default());
        assert_eq!(
            result.message,
            "envFrom ConfigMap \"bizra-config\" does not exist; BIZRA_USE_RUST is not set; METRICS_PORT is not set"
        );
    }
}
