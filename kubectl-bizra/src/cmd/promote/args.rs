//! `promote`'s flags, and the plan and mode they make.

use std::path::PathBuf;
use std::time::Duration;

use crate::canary::cluster::Names;
use crate::canary::decide::{Mode, Target};
use crate::canary::plan::{Plan, Stage, parse_stages};
use crate::error::Error;
use crate::global::DryRun;
use crate::prometheus::PrometheusArgs;

#[derive(Debug, Clone)]
pub struct StageList(pub Vec<Stage>);

fn parse_stage_list(text: &str) -> Result<StageList, String> {
    parse_stages(text).map(StageList)
}

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub names: Names,

    /// Start the release with this node image on the canary (only when no release is under way).
    #[arg(long, value_name = "IMAGE", value_parser = crate::values::image)]
    pub image: Option<policy_wasm::image_ref::ImageRef>,

    /// Move the canary to this traffic share after a passing analysis (100 completes).
    #[arg(long, value_name = "PERCENT", value_parser = clap::value_parser!(u8).range(1..=100), conflicts_with = "full")]
    pub to: Option<u8>,

    /// Complete the release now, after a passing analysis (or without one, with --force).
    #[arg(long)]
    pub full: bool,

    /// Run the whole plan: hold each stage, analyse every interval, roll back when the analysis
    /// fails more often than the failure limit. Resumes a release that is under way.
    #[arg(long, conflicts_with_all = ["to", "full"])]
    pub auto: bool,

    /// Move on even when the analysis fails or cannot decide; release a rolled-back template again.
    #[arg(long)]
    pub force: bool,

    /// `server`: run the analysis and send the planned changes to the server as a dry run.
    #[arg(long, value_enum, value_name = "STRATEGY", default_value_t = DryRun::None, conflicts_with = "auto")]
    pub dry_run: DryRun,

    /// YAML plan: stages and analysis settings (see docs/promote-plan.example.yaml); flags override it.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// The stages as WEIGHT:HOLD pairs [default: 5:30m,25:1h,50:1h].
    #[arg(long, value_name = "STAGES", value_parser = parse_stage_list)]
    pub stages: Option<StageList>,

    /// Time between analyses in --auto [default: 1m].
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag)]
    pub interval: Option<Duration>,

    /// PromQL rate window of the analysis [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag)]
    pub window: Option<Duration>,

    /// Failed analyses in a row --auto tolerates before rolling back [default: 1].
    #[arg(long, value_name = "N")]
    pub failure_limit: Option<u32>,

    /// Inconclusive analyses in a row --auto tolerates before stopping [default: 5].
    #[arg(long, value_name = "N")]
    pub inconclusive_limit: Option<u32>,

    /// Requests a track must serve in the window before its traffic checks can pass [default: 100].
    #[arg(long, value_name = "N", value_parser = crate::values::non_negative_number, allow_negative_numbers = true)]
    pub min_requests: Option<f64>,

    #[command(flatten)]
    pub prometheus: PrometheusArgs,

    /// How long to wait for a Deployment to scale or roll out.
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag, default_value = "10m")]
    pub timeout: Duration,
}

impl Args {
    fn explicit_plan(&self) -> bool {
        self.config.is_some() || self.stages.is_some()
    }

    /// The plan: a release under way keeps the plan it started with unless one is given again;
    /// analysis flags always apply.
    pub fn plan(&self, recorded: Option<&Plan>) -> anyhow::Result<Plan> {
        let mut plan = match (&self.config, recorded) {
            (Some(path), _) => Plan::load(path).map_err(Error::Usage)?,
            (None, Some(recorded)) if !self.explicit_plan() => recorded.clone(),
            _ => Plan::default(),
        };
        if let Some(StageList(stages)) = &self.stages {
            plan.stages = stages.clone();
        }
        let a = &mut plan.analysis;
        if let Some(v) = self.interval {
            a.interval = v;
        }
        if let Some(v) = self.window {
            a.window = v;
        }
        if let Some(v) = self.failure_limit {
            a.failure_limit = v;
        }
        if let Some(v) = self.inconclusive_limit {
            a.inconclusive_limit = v;
        }
        if let Some(v) = self.min_requests {
            a.min_requests = v;
        }
        plan.check().map_err(Error::Usage)?;
        Ok(plan)
    }

    pub fn mode(&self) -> Mode {
        if self.auto {
            return Mode::Auto {
                started: false,
                force: self.force,
            };
        }
        let target = match (self.full, self.to) {
            (true, _) => Target::Full,
            (_, Some(to)) => Target::To(to),
            _ => Target::Next,
        };
        Mode::Once {
            target,
            force: self.force,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Command;

    fn args(extra: &[&str]) -> Args {
        let mut argv = vec!["kubectl-bizra", "promote"];
        argv.extend(extra);
        match crate::cli::parse_from(argv).expect("valid").command {
            Command::Promote(args) => *args,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn flags_override_the_plan_and_a_release_keeps_its_own() {
        let recorded = Plan {
            stages: parse_stages("10:1m,60:1m").expect("stages"),
            ..Plan::default()
        };
        let plan = args(&["--interval", "10s"])
            .plan(Some(&recorded))
            .expect("plan");
        assert_eq!(plan.stages, recorded.stages);
        assert_eq!(plan.analysis.interval, Duration::from_secs(10));

        let plan = args(&["--stages", "20:1s"])
            .plan(Some(&recorded))
            .expect("plan");
        assert_eq!(plan.stages.len(), 1);
        assert_eq!(plan.stages[0].weight, 20);
    }

    #[test]
    fn contradicting_flags_are_usage_errors() {
        for argv in [
            &["kubectl-bizra", "promote", "--auto", "--full"][..],
            &["kubectl-bizra", "promote", "--to", "0"][..],
            &["kubectl-bizra", "promote", "--to", "101"][..],
            &["kubectl-bizra", "promote", "--auto", "--dry-run=server"][..],
            &["kubectl-bizra", "promote", "--stages", "50:1m,25:1m"][..],
            &["kubectl-bizra", "promote", "--stages", "5:0s"][..],
            &[
                "kubectl-bizra",
                "promote",
                "--stages",
                "5:99999999999999999999s",
            ][..],
        ] {
            let err = crate::cli::parse_from(argv).expect_err("rejected");
            assert_eq!(err.exit_code(), 2, "{argv:?}");
        }
    }
}
