//! `kubectl bizra deploy`: apply the manifests with server-side apply and wait for the rollout.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject};
use serde::Serialize;

use crate::apply::{Action, ApplyResult, apply_all};
use crate::canary::cluster::{
    CANARY_DEPLOYMENT, VIRTUAL_SERVICE, rollout_of, virtual_service_resource,
};
use crate::canary::decide::release_in_progress;
use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::{DryRun, GlobalOptions, KubeClient};
use crate::manifests::{self, ImageOverride, Manifest};
use crate::output;
use crate::rollout::{DeploymentProgress, DeploymentRollout, wait_for_rollout};

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
            DeploymentProgress::Complete(m)
            | DeploymentProgress::Progressing(m)
            | DeploymentProgress::Failed(m) => m,
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

/// Refuses to reset the canary while a release is in progress (the rule of
/// [`release_in_progress`]: the rollout state recorded on the VirtualService, or routes that
/// send the canary traffic), unless forced. Without a VirtualService (or Istio's API) there is
/// no release.
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
    let api: Api<DynamicObject> =
        Api::namespaced_with(kube.client.clone(), namespace, &virtual_service_resource());
    let virtual_service = match api.get_opt(VIRTUAL_SERVICE).await {
        Ok(found) => found,
        Err(kube::Error::Api(status)) if status.code == 404 => None,
        Err(e) => return Err(kube.classify(e).into()),
    };
    let Some(virtual_service) = virtual_service else {
        return Ok(());
    };
    let (state, weights) = rollout_of(&virtual_service)?;
    if release_in_progress(state.phase, weights.canary) {
        anyhow::bail!(
            "a canary release is in progress (the canary takes {}% of the traffic, the rollout is {:?}); finish it with \
             `kubectl bizra promote` or `kubectl bizra rollback`, or pass --force to reset it",
            weights.canary,
            state.phase
        );
    }
    Ok(())
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
        .any(|r| matches!(r.state, DeploymentProgress::Failed(_)));
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
