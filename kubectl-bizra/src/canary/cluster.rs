//! The rollout's I/O: reading the VirtualService, both Deployments and the canary's pods, and
//! the guarded writes. Every VirtualService write is a full update carrying the resourceVersion
//! it was read at, so a concurrent writer makes it fail with a conflict instead of being lost.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use kube::api::{
    Api, ApiResource, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams, PostParams,
};

use super::decide::Tracks;
use super::routing::{self, Weights};
use super::state::{RolloutState, STATE_ANNOTATION};
use crate::apply::FIELD_MANAGER;
use crate::error::ClusterError;
use crate::global::KubeClient;
use crate::rollout::{DeploymentRollout, pod_selector, wait_for_rollout};

/// The stable Deployment of the shipped manifests.
pub const STABLE_DEPLOYMENT: &str = "bizra-apex";
/// The canary Deployment of the shipped manifests.
pub const CANARY_DEPLOYMENT: &str = "bizra-apex-canary";
/// The VirtualService of the shipped manifests, which holds the rollout's state.
pub const VIRTUAL_SERVICE: &str = "bizra-apex";

/// The objects of one rollout.
#[derive(Debug, Clone, clap::Args)]
pub struct Names {
    /// The VirtualService that splits traffic between the `stable` and `canary` subsets.
    #[arg(long, value_name = "NAME", default_value = VIRTUAL_SERVICE, value_parser = crate::values::dns_subdomain)]
    pub virtual_service: String,
    /// The stable Deployment.
    #[arg(long, value_name = "NAME", default_value = STABLE_DEPLOYMENT, value_parser = crate::values::dns_subdomain)]
    pub deployment: String,
    /// The canary Deployment.
    #[arg(long, value_name = "NAME", default_value = CANARY_DEPLOYMENT, value_parser = crate::values::dns_subdomain)]
    pub canary_deployment: String,
}

pub fn virtual_service_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", "v1", "VirtualService"),
        "virtualservices",
    )
}

/// The rollout's state and the weights a VirtualService routes with.
pub fn rollout_of(
    virtual_service: &DynamicObject,
) -> Result<(RolloutState, Weights), ClusterError> {
    let name = virtual_service.metadata.name.as_deref().unwrap_or("");
    let state = RolloutState::parse(
        virtual_service
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(STATE_ANNOTATION))
            .map(String::as_str),
    )
    .map_err(|e| ClusterError::Unreadable(e.to_string()))?;
    let weights = routing::read_weights(
        virtual_service
            .data
            .get("spec")
            .unwrap_or(&serde_json::Value::Null),
    )
    .map_err(|e| ClusterError::Unreadable(format!("VirtualService {name:?}: {e}")))?;
    Ok((state, weights))
}

/// What the cluster says about the rollout at one moment.
#[derive(Debug, Clone)]
pub struct Observed {
    pub virtual_service: DynamicObject,
    pub state: RolloutState,
    pub weights: Weights,
    pub stable: Deployment,
    pub canary: Deployment,
}

impl Observed {
    pub fn resource_version(&self) -> String {
        self.virtual_service
            .metadata
            .resource_version
            .clone()
            .unwrap_or_default()
    }

    /// What the decisions read of the two Deployments.
    pub fn tracks(&self) -> Tracks {
        let released = released_template(&self.stable, &self.canary);
        Tracks {
            stable_replicas: replicas(&self.stable),
            canary_replicas: replicas(&self.canary),
            stable_runs_canary_template: self.stable.spec.as_ref().map(|s| &s.template)
                == Some(&released),
            canary_template_hash: template_hash(&self.canary),
        }
    }
}

pub fn replicas(deployment: &Deployment) -> i32 {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.replicas)
        .unwrap_or(1)
}

pub fn available(deployment: &Deployment) -> i32 {
    deployment
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
}

pub fn image(deployment: &Deployment) -> String {
    deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| {
            p.containers
                .iter()
                .filter_map(|c| c.image.clone())
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default()
}

/// The template stable gets when a release completes: the canary's, with stable's selector
/// labels (the `track` label) so stable's selector still matches its pods.
pub fn released_template(stable: &Deployment, canary: &Deployment) -> PodTemplateSpec {
    let mut template = canary
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    let selector = stable
        .spec
        .as_ref()
        .and_then(|s| s.selector.match_labels.clone())
        .unwrap_or_default();
    let labels = template
        .metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new);
    labels.extend(selector);
    template
}

/// A fingerprint of the canary's pod template without its labels (FNV-1a over its JSON), to
/// recognise a release that was already rolled back.
pub fn template_hash(deployment: &Deployment) -> String {
    let mut template = deployment
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .unwrap_or_default();
    if let Some(meta) = template.metadata.as_mut() {
        meta.labels = None;
    }
    let text = serde_json::to_string(&template).unwrap_or_default();
    let mut hash: u64 = 0xcbf29ce484222325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x100000001b3);
    }
    format!("{hash:016x}")
}

pub struct Cluster {
    pub kube: KubeClient,
    pub namespace: String,
    pub names: Names,
    pub dry_run: bool,
    virtual_services: Api<DynamicObject>,
    deployments: Api<Deployment>,
}

impl Cluster {
    pub fn new(kube: KubeClient, namespace: &str, names: Names, dry_run: bool) -> Self {
        let virtual_services =
            Api::namespaced_with(kube.client.clone(), namespace, &virtual_service_resource());
        let deployments = Api::namespaced(kube.client.clone(), namespace);
        Cluster {
            kube,
            namespace: namespace.into(),
            names,
            dry_run,
            virtual_services,
            deployments,
        }
    }

    fn classify(&self, err: kube::Error) -> ClusterError {
        self.kube.classify(err)
    }

    async fn deployment(&self, name: &str) -> Result<Deployment, ClusterError> {
        match self
            .deployments
            .get_opt(name)
            .await
            .map_err(|e| self.classify(e))?
        {
            Some(d) => Ok(d),
            None => Err(ClusterError::NotFound(format!(
                "deployment {name:?} not found in namespace {:?}; deploy it with `kubectl bizra deploy` or name it with --deployment/--canary-deployment",
                self.namespace
            ))),
        }
    }

    pub async fn observe(&self) -> Result<Observed, ClusterError> {
        let name = &self.names.virtual_service;
        let virtual_service = match self.virtual_services.get_opt(name).await {
            Ok(Some(vs)) => vs,
            Ok(None) => {
                return Err(ClusterError::NotFound(format!(
                    "VirtualService {name:?} not found in namespace {:?}; deploy it with `kubectl bizra deploy` or name it with --virtual-service",
                    self.namespace
                )));
            }
            Err(kube::Error::Api(status)) if status.code == 404 => {
                return Err(ClusterError::NotFound(format!(
                    "the cluster does not serve Istio's VirtualService API (networking.istio.io/v1): {}",
                    status.message
                )));
            }
            Err(e) => return Err(self.classify(e)),
        };
        let (state, weights) = rollout_of(&virtual_service)?;
        let (stable, canary) = tokio::try_join!(
            self.deployment(&self.names.deployment),
            self.deployment(&self.names.canary_deployment)
        )?;
        Ok(Observed {
            virtual_service,
            state,
            weights,
            stable,
            canary,
        })
    }

    /// Writes weights and state in one update guarded by the resourceVersion `observed` was read
    /// at. Returns the VirtualService as written (or as the server would write it, in a dry run).
    pub async fn write(
        &self,
        observed: &Observed,
        state: &RolloutState,
        weights: Weights,
    ) -> Result<DynamicObject, ClusterError> {
        let mut vs = observed.virtual_service.clone();
        vs.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(STATE_ANNOTATION.into(), state.to_annotation());
        let unreadable = |e: String| {
            ClusterError::Unreadable(format!(
                "VirtualService {:?}: {e}",
                self.names.virtual_service
            ))
        };
        let spec = vs
            .data
            .get_mut("spec")
            .ok_or_else(|| unreadable("no spec".into()))?;
        routing::set_weights(spec, weights).map_err(|e| unreadable(e.to_string()))?;
        // managedFields cannot be sent back on an update that should keep them.
        vs.metadata.managed_fields = None;
        let params = PostParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        match self
            .virtual_services
            .replace(&self.names.virtual_service, &params, &vs)
            .await
        {
            Ok(written) => Ok(written),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(ClusterError::Conflict(format!(
                    "VirtualService {:?} changed since this command read it (resourceVersion {}): another promote or rollback is running, or someone edited it; nothing was written. Check `kubectl bizra status` and run again",
                    self.names.virtual_service,
                    observed.resource_version()
                )))
            }
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Sets a Deployment's replicas (server-side dry run when asked).
    pub async fn scale(&self, name: &str, replicas: i32) -> Result<Deployment, ClusterError> {
        let params = PatchParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        let patch = serde_json::json!({"spec": {"replicas": replicas}});
        self.deployments
            .patch(name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| self.classify(e))
    }

    /// Sets the node container's image and the pods' `version` label (strategic merge patch).
    pub async fn set_node_image(
        &self,
        name: &str,
        image: &policy_wasm::image_ref::ImageRef,
    ) -> Result<Deployment, ClusterError> {
        let patch = serde_json::json!({"spec": {"template": {
            "metadata": {"labels": {"version": image.version_label()}},
            "spec": {"containers": [{"name": crate::manifests::NODE_CONTAINER, "image": image.to_string()}]}
        }}});
        let params = PatchParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        self.deployments
            .patch(name, &params, &Patch::Strategic(&patch))
            .await
            .map_err(|e| self.classify(e))
    }

    /// Waits for a Deployment's rollout (or scale) to finish, a pod of it to fail for good, or
    /// time to run out; `None` in a dry run (nothing changed to wait for).
    pub async fn wait(
        &self,
        name: &str,
        timeout: Duration,
    ) -> Result<Option<DeploymentRollout>, ClusterError> {
        if self.dry_run {
            return Ok(None);
        }
        wait_for_rollout(&self.kube, &self.namespace, name, timeout)
            .await
            .map(Some)
    }

    /// Total container restarts of the canary's pods.
    pub async fn canary_restarts(&self, canary: &Deployment) -> Result<i32, ClusterError> {
        let Some(selector) = pod_selector(canary) else {
            return Ok(0);
        };
        let pods: Api<Pod> = Api::namespaced(self.kube.client.clone(), &self.namespace);
        let list = pods
            .list(&ListParams::default().labels(&selector))
            .await
            .map_err(|e| self.classify(e))?;
        Ok(list
            .items
            .iter()
            .flat_map(|p| {
                p.status
                    .iter()
                    .flat_map(|s| s.container_statuses.iter().flatten())
            })
            .map(|c| c.restart_count)
            .sum())
    }

    /// Gives stable the canary's template. Returns false when stable already runs it.
    pub async fn update_stable_template(
        &self,
        stable: &Deployment,
        canary: &Deployment,
    ) -> Result<bool, ClusterError> {
        let template = released_template(stable, canary);
        if stable.spec.as_ref().map(|s| &s.template) == Some(&template) {
            return Ok(false);
        }
        let mut updated = stable.clone();
        if let Some(spec) = updated.spec.as_mut() {
            spec.template = template;
        }
        self.replace_deployment(updated).await?;
        Ok(true)
    }

    /// A full update guarded by the resourceVersion the Deployment was read at.
    pub async fn replace_deployment(
        &self,
        mut deployment: Deployment,
    ) -> Result<Deployment, ClusterError> {
        let name = deployment.metadata.name.clone().unwrap_or_default();
        deployment.metadata.managed_fields = None;
        deployment.status = None;
        let params = PostParams {
            dry_run: self.dry_run,
            field_manager: Some(FIELD_MANAGER.into()),
        };
        match self.deployments.replace(&name, &params, &deployment).await {
            Ok(d) => Ok(d),
            Err(kube::Error::Api(status)) if status.code == 409 => {
                Err(ClusterError::Conflict(format!(
                    "deployment {name:?} changed while this command was working on it; nothing was written. Run again"
                )))
            }
            Err(e) => Err(self.classify(e)),
        }
    }

    /// Stable and the ReplicaSets its selector selects: what `kubectl rollout undo` decides from.
    pub async fn stable_history(&self) -> Result<(Deployment, Vec<ReplicaSet>), ClusterError> {
        let stable = self.deployment(&self.names.deployment).await?;
        let replica_sets: Api<ReplicaSet> =
            Api::namespaced(self.kube.client.clone(), &self.namespace);
        let mut params = ListParams::default();
        if let Some(selector) = pod_selector(&stable) {
            params = params.labels(&selector);
        }
        let list = replica_sets
            .list(&params)
            .await
            .map_err(|e| self.classify(e))?;
        Ok((stable, list.items))
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn deployment(track: &str, image: &str, replicas: i32) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": format!("bizra-apex-{track}")},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "bizra-apex", "track": track}},
                "template": {
                    "metadata": {"labels": {"app": "bizra-apex", "track": track, "version": image}},
                    "spec": {"containers": [{"name": "bizra-node", "image": image}]}
                }
            }
        }))
        .expect("deployment")
    }

    #[test]
    fn stable_gets_the_canary_template_under_its_own_selector() {
        let stable = deployment("stable", "node:v1", 3);
        let canary = deployment("canary", "node:v2", 1);
        let template = released_template(&stable, &canary);
        let labels = template
            .metadata
            .as_ref()
            .and_then(|m| m.labels.clone())
            .expect("labels");
        assert_eq!(labels["track"], "stable");
        assert_eq!(labels["version"], "node:v2");
        assert_eq!(
            template.spec.expect("spec").containers[0].image.as_deref(),
            Some("node:v2")
        );
    }

    #[test]
    fn template_hash_ignores_labels_but_not_the_image() {
        let a = deployment("canary", "node:v2", 1);
        let mut relabelled = a.clone();
        relabelled
            .spec
            .as_mut()
            .expect("spec")
            .template
            .metadata
            .as_mut()
            .expect("meta")
            .labels = None;
        assert_eq!(template_hash(&a), template_hash(&relabelled));
        assert_ne!(
            template_hash(&a),
            template_hash(&deployment("canary", "node:v3", 1))
        );
    }
}
