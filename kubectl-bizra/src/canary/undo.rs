//! `kubectl rollout undo` for a Deployment, decided purely: which ReplicaSet's template to go
//! back to and the template and annotations the Deployment gets (kubectl's
//! `pkg/polymorphichelpers/rollback.go`, which sends them as a JSON patch; we send them as an
//! update guarded by the Deployment's resourceVersion).

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::PodTemplateSpec;

pub const REVISION_ANNOTATION: &str = "deployment.kubernetes.io/revision";
const POD_TEMPLATE_HASH: &str = "pod-template-hash";

/// Deployment annotations kubectl keeps on an undo instead of taking the ReplicaSet's.
const KEPT_ANNOTATIONS: &[&str] = &[
    "kubectl.kubernetes.io/last-applied-configuration",
    REVISION_ANNOTATION,
    "deployment.kubernetes.io/revision-history",
    "deployment.kubernetes.io/desired-replicas",
    "deployment.kubernetes.io/max-replicas",
    "deprecated.deployment.rollback.to",
];

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum UndoError {
    #[error("deployment {0:?} is paused; resume it before rolling back (kubectl rollout resume)")]
    Paused(String),
    #[error("no rollout history found for deployment {0:?}")]
    NoHistory(String),
    #[error("unable to find the specified revision {0} of deployment {1:?}")]
    NoSuchRevision(i64, String),
}

#[derive(Debug, Clone, PartialEq)]
pub enum UndoPlan {
    /// The current template already is that revision's.
    Skip { revision: i64 },
    Apply {
        revision: i64,
        template: Box<PodTemplateSpec>,
        annotations: BTreeMap<String, String>,
    },
}

pub fn revision_of(
    meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> Option<i64> {
    meta.annotations
        .as_ref()?
        .get(REVISION_ANNOTATION)?
        .parse()
        .ok()
}

fn without_hash(template: &PodTemplateSpec) -> PodTemplateSpec {
    let mut template = template.clone();
    if let Some(labels) = template.metadata.as_mut().and_then(|m| m.labels.as_mut()) {
        labels.remove(POD_TEMPLATE_HASH);
    }
    template
}

/// ReplicaSets controlled by the Deployment (owner reference with its uid and `controller`).
pub fn owned<'a>(deployment: &Deployment, replica_sets: &'a [ReplicaSet]) -> Vec<&'a ReplicaSet> {
    let uid = deployment.metadata.uid.as_deref();
    replica_sets
        .iter()
        .filter(|rs| {
            rs.metadata.owner_references.iter().flatten().any(|o| {
                o.controller == Some(true) && Some(o.uid.as_str()) == uid && o.kind == "Deployment"
            })
        })
        .collect()
}

/// Plans the undo to `to_revision` (0 = the previous one, the second-highest revision).
pub fn plan_undo(
    deployment: &Deployment,
    replica_sets: &[ReplicaSet],
    to_revision: i64,
) -> Result<UndoPlan, UndoError> {
    let name = deployment.metadata.name.clone().unwrap_or_default();
    if deployment.spec.as_ref().and_then(|s| s.paused) == Some(true) {
        return Err(UndoError::Paused(name));
    }
    let mut history: Vec<(i64, &ReplicaSet)> = owned(deployment, replica_sets)
        .into_iter()
        .filter_map(|rs| revision_of(&rs.metadata).map(|r| (r, rs)))
        .collect();
    history.sort_by_key(|(revision, _)| *revision);
    let (revision, target) = if to_revision == 0 {
        if history.len() < 2 {
            return Err(UndoError::NoHistory(name));
        }
        history[history.len() - 2]
    } else {
        *history
            .iter()
            .find(|(r, _)| *r == to_revision)
            .ok_or(UndoError::NoSuchRevision(to_revision, name.clone()))?
    };
    let target_template = target
        .spec
        .as_ref()
        .and_then(|s| s.template.clone())
        .unwrap_or_default();
    let current = deployment
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let template = without_hash(&target_template);
    if without_hash(&current) == template {
        return Ok(UndoPlan::Skip { revision });
    }

    let deployment_annotations = deployment.metadata.annotations.clone().unwrap_or_default();
    let mut annotations: BTreeMap<String, String> = target
        .metadata
        .annotations
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, _)| !KEPT_ANNOTATIONS.contains(&k.as_str()))
        .collect();
    for key in KEPT_ANNOTATIONS {
        if let Some(value) = deployment_annotations.get(*key) {
            annotations.insert((*key).to_string(), value.clone());
        }
    }
    Ok(UndoPlan::Apply {
        revision,
        template: Box::new(template),
        annotations,
    })
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::{DeploymentSpec, ReplicaSetSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
    use serde_json::json;

    use super::*;

    fn template(image: &str, hash: &str) -> PodTemplateSpec {
        serde_json::from_value(json!({
            "metadata": {"labels": {"app": "bizra-apex", "track": "stable", "pod-template-hash": hash}},
            "spec": {"containers": [{"name": "bizra-node", "image": image}]}
        }))
        .expect("template")
    }

    fn deployment(image: &str) -> Deployment {
        let mut t = template(image, "x");
        t.metadata
            .as_mut()
            .and_then(|m| m.labels.as_mut())
            .map(|l| l.remove("pod-template-hash"));
        Deployment {
            metadata: ObjectMeta {
                name: Some("bizra-apex".into()),
                uid: Some("dep-uid".into()),
                resource_version: Some("42".into()),
                annotations: Some(BTreeMap::from([
                    (REVISION_ANNOTATION.into(), "3".into()),
                    ("team".into(), "apex".into()),
                ])),
                ..Default::default()
            },
            spec: Some(DeploymentSpec {
                template: t,
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn replica_set(revision: i64, image: &str, owner: &str) -> ReplicaSet {
        ReplicaSet {
            metadata: ObjectMeta {
                name: Some(format!("bizra-apex-{revision}")),
                annotations: Some(BTreeMap::from([
                    (REVISION_ANNOTATION.into(), revision.to_string()),
                    ("note".into(), format!("from rs {revision}")),
                ])),
                owner_references: Some(vec![OwnerReference {
                    kind: "Deployment".into(),
                    uid: owner.into(),
                    controller: Some(true),
                    ..Default::default()
                }]),
                ..Default::default()
            },
            spec: Some(ReplicaSetSpec {
                template: Some(template(image, &format!("h{revision}"))),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn history() -> Vec<ReplicaSet> {
        vec![
            replica_set(1, "node:v1", "dep-uid"),
            replica_set(3, "node:v3", "dep-uid"),
            replica_set(2, "node:v2", "dep-uid"),
            replica_set(9, "node:v9", "someone-else"),
        ]
    }

    #[test]
    fn previous_revision_is_the_second_highest_owned_one() {
        let plan = plan_undo(&deployment("node:v3"), &history(), 0).expect("plan");
        let UndoPlan::Apply {
            revision,
            template,
            annotations,
        } = plan
        else {
            panic!("{plan:?}")
        };
        assert_eq!(revision, 2);
        let image = template
            .spec
            .as_ref()
            .and_then(|s| s.containers[0].image.as_deref());
        assert_eq!(image, Some("node:v2"));
        // The ReplicaSet's hash label does not go into the Deployment's template.
        let labels = template.metadata.and_then(|m| m.labels).expect("labels");
        assert_eq!(labels.get("pod-template-hash"), None);
        assert_eq!(labels["app"], "bizra-apex");
        // Annotations come from the ReplicaSet except the ones kubectl keeps.
        assert_eq!(annotations["note"], "from rs 2");
        assert_eq!(annotations[REVISION_ANNOTATION], "3");
        assert_eq!(annotations.get("team"), None);
    }

    #[test]
    fn explicit_revision_or_a_clear_error() {
        let UndoPlan::Apply { revision, .. } =
            plan_undo(&deployment("node:v3"), &history(), 1).expect("plan")
        else {
            panic!("expected a patch")
        };
        assert_eq!(revision, 1);
        assert_eq!(
            plan_undo(&deployment("node:v3"), &history(), 9),
            Err(UndoError::NoSuchRevision(9, "bizra-apex".into()))
        );
        assert_eq!(
            plan_undo(&deployment("node:v3"), &history()[..1], 0),
            Err(UndoError::NoHistory("bizra-apex".into()))
        );
    }

    #[test]
    fn same_template_is_skipped_and_paused_is_refused() {
        assert_eq!(
            plan_undo(&deployment("node:v2"), &history(), 2),
            Ok(UndoPlan::Skip { revision: 2 })
        );
        let mut paused = deployment("node:v3");
        paused.spec.as_mut().expect("spec").paused = Some(true);
        assert_eq!(
            plan_undo(&paused, &history(), 0),
            Err(UndoError::Paused("bizra-apex".into()))
        );
    }
}
