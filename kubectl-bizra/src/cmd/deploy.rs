//! `kubectl bizra deploy`: apply the manifests with server-side apply and wait for the rollout.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use serde::Serialize;

use crate::apply::{Action, ApplyResult, apply_all};
use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::{GlobalOptions, KubeClient};
use crate::manifests::{self, ImageOverride, Manifest};
use crate::output;
use crate::rollout::{
    PodFailure, RolloutState, deployment_rollout, pod_failure, pod_selector, pod_unscheduled_reason,
};

pub const CANARY_DEPLOYMENT: &str = "bizra-apex-canary";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DryRun {
    /// Apply for real.
    None,
    /// Send every object to the server for validation and show what would change; change nothing.
    Server,
}

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Apply the YAML files in this folder instead of the embedded testnet manifests.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "DIR",
        value_hint = clap::ValueHint::DirPath,
        conflicts_with = "kustomize"
    )]
    pub filename: Option<PathBuf>,

    /// Apply this kustomization (rendered with `kubectl kustomize`).
    #[arg(short = 'k', long = "kustomize", value_name = "DIR", value_hint = clap::ValueHint::DirPath)]
    pub kustomize: Option<PathBuf>,

    /// Run this node image (e.g. ghcr.io/bizra/node:v2.3.0).
    #[arg(long, value_name = "IMAGE", conflicts_with = "tag", value_parser = crate::values::image)]
    pub image: Option<policy_wasm::image_ref::ImageRef>,

    /// Run this tag of the node image.
    #[arg(long, value_name = "TAG", value_parser = crate::values::image_tag)]
    pub tag: Option<String>,

    /// `server`: show what would change, change nothing.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = DryRun::None)]
    pub dry_run: DryRun,

    /// How long to wait for the rollout.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = crate::duration::flag)]
    pub timeout: Duration,

    /// Apply even while a canary release is in progress (it resets the canary).
    #[arg(long)]
    pub force: bool,

    /// Do not run the validation gates after the rollout.
    #[arg(long)]
    pub no_validate: bool,

    #[command(
        flatten,
        next_help_heading = "Validation after the rollout (see `validate --help`)"
    )]
    pub validate: crate::cmd::validate::Args,
}

/// Fresh pods have no usage data or scrapes yet: after a rollout the gates get this long to pass.
const DEFAULT_GATE_WAIT: Duration = Duration::from_secs(120);

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployReport {
    pub namespace: String,
    pub dry_run: bool,
    pub applied: Vec<ApplyResult>,
    pub rollouts: Vec<DeploymentRollout>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation: Option<crate::validate::Report>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRollout {
    pub deployment: String,
    #[serde(flatten)]
    pub state: RolloutState,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_failure: Option<PodFailure>,
}

fn load(args: &Args, namespace: &str) -> anyhow::Result<Vec<Manifest>> {
    let mut manifests = match (&args.filename, &args.kustomize) {
        (Some(dir), _) => manifests::load_dir(dir).map_err(|e| Error::Usage(e.to_string()))?,
        (_, Some(dir)) => manifests::kustomize(dir).map_err(|e| Error::Usage(e.to_string()))?,
        _ => manifests::embedded(namespace),
    };
    let wanted = match (&args.image, &args.tag) {
        (Some(image), _) => Some(ImageOverride::Image(image.clone())),
        (_, Some(tag)) => Some(ImageOverride::Tag(tag.clone())),
        _ => None,
    };
    if let Some(wanted) = wanted {
        manifests::override_node_image(&mut manifests, &wanted)
            .map_err(|e| Error::Usage(e.to_string()))?;
    }
    Ok(manifests::in_apply_order(manifests))
}

pub fn render_table(report: &DeployReport) -> String {
    let suffix = if report.dry_run {
        " (server dry run)"
    } else {
        ""
    };
    let rows = report.applied.iter().map(|r| {
        let action = match r.action {
            Action::Created => "created",
            Action::Configured => "configured",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
        };
        vec![
            r.kind.clone(),
            r.name.clone(),
            format!("{action}{suffix}"),
            r.detail.clone(),
        ]
    });
    let mut text = output::table(&["kind", "name", "action", "detail"], rows);
    for rollout in &report.rollouts {
        let line = match &rollout.state {
            RolloutState::Complete(m) | RolloutState::Progressing(m) | RolloutState::Failed(m) => m,
        };
        text.push_str(&format!("\n{}: {line}", rollout.deployment));
    }
    if !report.rollouts.is_empty() {
        text.push('\n');
    }
    if let Some(validation) = &report.validation {
        text.push('\n');
        text.push_str(&crate::validate::render_table(validation));
    }
    text
}

/// Refuses to reset a canary that is serving traffic, unless forced.
async fn ensure_no_release_in_progress(
    kube: &KubeClient,
    namespace: &str,
    manifests: &[Manifest],
) -> anyhow::Result<()> {
    if !manifests
        .iter()
        .any(|m| m.kind() == "Deployment" && m.name() == CANARY_DEPLOYMENT)
    {
        return Ok(());
    }
    let api: Api<Deployment> = Api::namespaced(kube.client.clone(), namespace);
    let canary = api
        .get_opt(CANARY_DEPLOYMENT)
        .await
        .map_err(|e| kube.classify(e))?;
    let replicas = canary
        .and_then(|d| d.spec)
        .and_then(|s| s.replicas)
        .unwrap_or(0);
    if replicas > 0 {
        anyhow::bail!(
            "a canary release is in progress ({CANARY_DEPLOYMENT} runs {replicas} replicas); finish it with \
             `kubectl bizra promote` or `kubectl bizra rollback`, or pass --force to reset it"
        );
    }
    Ok(())
}

/// The pods of the Deployment's newest ReplicaSet: an old pod's past trouble says nothing about
/// the release being rolled out.
async fn newest_pods(
    kube: &KubeClient,
    namespace: &str,
    deployment: &Deployment,
) -> anyhow::Result<Vec<Pod>> {
    let Some(selector) = pod_selector(deployment) else {
        return Ok(Vec::new());
    };
    let params = ListParams::default().labels(&selector);
    let replica_sets: Api<ReplicaSet> = Api::namespaced(kube.client.clone(), namespace);
    let uid = deployment.metadata.uid.clone();
    let revision = |rs: &ReplicaSet| {
        rs.metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get("deployment.kubernetes.io/revision"))
            .and_then(|r| r.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let newest = replica_sets
        .list(&params)
        .await
        .map_err(|e| kube.classify(e))?
        .items
        .into_iter()
        .filter(|rs| {
            rs.metadata
                .owner_references
                .iter()
                .flatten()
                .any(|o| Some(&o.uid) == uid.as_ref())
        })
        .max_by_key(revision);
    let Some(hash) = newest.and_then(|rs| {
        rs.metadata
            .labels
            .and_then(|l| l.get("pod-template-hash").cloned())
    }) else {
        return Ok(Vec::new());
    };
    let pods: Api<Pod> = Api::namespaced(kube.client.clone(), namespace);
    let params = ListParams::default().labels(&format!("{selector},pod-template-hash={hash}"));
    Ok(pods
        .list(&params)
        .await
        .map_err(|e| kube.classify(e))?
        .items)
}

/// Waits until the Deployment is rolled out, a pod of the release fails for good, or time is up.
/// Progress goes to stderr whenever it changes.
pub async fn wait_for_rollout(
    kube: &KubeClient,
    namespace: &str,
    name: &str,
    timeout: Duration,
) -> anyhow::Result<DeploymentRollout> {
    let api: Api<Deployment> = Api::namespaced(kube.client.clone(), namespace);
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last_message = String::new();
    loop {
        let deployment = api.get(name).await.map_err(|e| kube.classify(e))?;
        let state = deployment_rollout(&deployment);
        let mut outcome = DeploymentRollout {
            deployment: name.to_owned(),
            state: state.clone(),
            pod_failure: None,
        };
        match state {
            RolloutState::Complete(_) | RolloutState::Failed(_) => return Ok(outcome),
            RolloutState::Progressing(mut message) => {
                let pods = newest_pods(kube, namespace, &deployment).await?;
                let failure = pods.iter().find_map(pod_failure);
                if let Some(failure) = failure {
                    outcome.state = RolloutState::Failed(format!(
                        "pod {} cannot start: {} ({})",
                        failure.pod, failure.reason, failure.message
                    ));
                    outcome.pod_failure = Some(failure);
                    return Ok(outcome);
                }
                let unscheduled = pods
                    .iter()
                    .find_map(|p| Some((p.metadata.name.clone()?, pod_unscheduled_reason(p)?)));
                if let Some((pod, reason)) = unscheduled {
                    message.push_str(&format!("; pod {pod} is not scheduled: {reason}"));
                }
                if message != last_message {
                    eprintln!("waiting for deployment {name:?} rollout to finish: {message}");
                    last_message = message.clone();
                }
                if tokio::time::Instant::now() >= deadline {
                    outcome.state = RolloutState::Failed(format!(
                        "timed out after {} waiting for deployment {name:?}: {message}",
                        crate::duration::format(timeout)
                    ));
                    return Ok(outcome);
                }
            }
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    let namespace = global.namespace.clone();
    let manifests = load(&args, &namespace)?;
    if !args.no_validate {
        args.validate.expectations()?;
        args.validate.selected_gates()?;
    }
    let kube = global.client().await?;
    let dry_run = args.dry_run == DryRun::Server;
    if !args.force {
        ensure_no_release_in_progress(&kube, &namespace, &manifests).await?;
    }
    let applied = apply_all(&kube, &manifests, &namespace, dry_run).await?;
    let mut report = DeployReport {
        namespace: namespace.clone(),
        dry_run,
        applied,
        rollouts: Vec::new(),
        validation: None,
    };
    if !dry_run {
        let deployments: Vec<String> = manifests
            .iter()
            .filter(|m| m.kind() == "Deployment")
            .map(|m| m.name().to_owned())
            .collect();
        for name in deployments {
            report
                .rollouts
                .push(wait_for_rollout(&kube, &namespace, &name, args.timeout).await?);
        }
    }
    let failed = report
        .rollouts
        .iter()
        .any(|r| matches!(r.state, RolloutState::Failed(_)));
    // The gates judge one Deployment; a manifest set without it (RBAC alone, say) has nothing to
    // validate.
    let validated = args
        .validate
        .deployment
        .clone()
        .unwrap_or_else(|| crate::validate::config::Expectations::default().deployment);
    let applies_validated = manifests
        .iter()
        .any(|m| m.kind() == "Deployment" && m.name() == validated);
    if !dry_run && !failed && !args.no_validate && applies_validated {
        let wait = args.validate.wait.unwrap_or(DEFAULT_GATE_WAIT);
        report.validation = Some(
            crate::cmd::validate::run_gates(&namespace, &kube, &args.validate, Some(wait)).await?,
        );
    }
    output::print(global.output, &report, render_table)?;
    Ok(match &report.validation {
        _ if failed => ExitStatus::Failed,
        Some(validation) => validation.exit_status(),
        None => ExitStatus::Success,
    })
}
