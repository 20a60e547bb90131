//! `kubectl bizra validate`: run the deployment gates and exit with their verdict.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::jiff::Timestamp;

use crate::error::Error;
use crate::exit_code::ExitStatus;
use crate::global::{GlobalOptions, KubeClient};
use crate::output::{self, OutputFormat};
use crate::progress::{Task, progress};
use crate::prometheus::{Prometheus, PrometheusArgs};
use crate::style::{Palette, Tone};
use crate::validate::collect::Collector;
use crate::validate::config::Expectations;
use crate::validate::{GateId, Report, Status, gates, junit, render_table};

#[derive(Debug, Clone, Default, clap::Args)]
// Flattened into `deploy` too: no argument group of its own, whose name would clash there.
#[group(skip)]
pub struct Args {
    /// YAML file of expectations (see README); flags override it.
    #[arg(long, value_name = "FILE", value_hint = clap::ValueHint::FilePath)]
    pub config: Option<PathBuf>,

    /// Run only these gates (repeat or comma-separate).
    #[arg(long = "gate", value_enum, value_delimiter = ',', value_name = "GATE")]
    pub gates: Vec<GateId>,

    /// Skip these gates (repeat or comma-separate).
    #[arg(long = "skip", value_enum, value_delimiter = ',', value_name = "GATE")]
    pub skip: Vec<GateId>,

    #[command(flatten)]
    pub prometheus: PrometheusArgs,

    /// Also run `printenv` in one ready pod and check what the running node sees (needs create on
    /// pods/exec).
    #[arg(long)]
    pub exec: bool,

    /// Re-check until every gate passes or this much time has passed (e.g. 5m).
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag)]
    pub wait: Option<Duration>,

    /// The Deployment to validate [default: bizra-apex].
    #[arg(long, value_name = "NAME", value_parser = crate::values::dns_subdomain)]
    pub deployment: Option<String>,

    /// The node's container [default: bizra-node].
    #[arg(long, value_name = "NAME", value_parser = crate::values::dns_label)]
    pub container: Option<String>,

    /// Ready replicas required [default: the Deployment's spec.replicas].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(i32).range(0..))]
    pub replicas: Option<i32>,

    /// The pods' metrics port [default: 9464].
    #[arg(long, value_name = "PORT", value_parser = clap::value_parser!(u16).range(1..))]
    pub metrics_port: Option<u16>,

    /// How far back to read pod logs [default: 5m].
    #[arg(long, value_name = "DURATION", value_parser = crate::duration::flag)]
    pub log_window: Option<Duration>,

    /// SLA: maximum finality check p99 in seconds [default: 0.001].
    #[arg(long, value_name = "SECONDS", value_parser = crate::values::positive_number, allow_negative_numbers = true)]
    pub max_finality_p99: Option<f64>,

    /// SLA: minimum PoI generations per second per pod [default: 10000].
    #[arg(long, value_name = "OPS", value_parser = crate::values::non_negative_number, allow_negative_numbers = true)]
    pub min_poi_generate: Option<f64>,

    /// SLA: minimum PoI verifications per second per pod [default: 5000].
    #[arg(long, value_name = "OPS", value_parser = crate::values::non_negative_number, allow_negative_numbers = true)]
    pub min_poi_verify: Option<f64>,
}

impl Args {
    pub fn expectations(&self) -> Result<Expectations, Error> {
        let mut e = match &self.config {
            Some(path) => Expectations::from_file(path).map_err(|e| Error::Usage(e.to_string()))?,
            None => Expectations::default(),
        };
        if let Some(v) = &self.deployment {
            e.deployment = v.clone();
        }
        if let Some(v) = &self.container {
            e.container = v.clone();
        }
        if self.replicas.is_some() {
            e.replicas = self.replicas;
        }
        if let Some(v) = self.metrics_port {
            e.metrics.port = v;
        }
        if let Some(v) = self.log_window {
            e.logs.window = v;
        }
        if let Some(v) = self.max_finality_p99 {
            e.sla.finality_p99_seconds = v;
        }
        if let Some(v) = self.min_poi_generate {
            e.sla.poi_generate_per_second = v;
        }
        if let Some(v) = self.min_poi_verify {
            e.sla.poi_verify_per_second = v;
        }
        e.check().map_err(Error::Usage)?;
        Ok(e)
    }

    pub fn selected_gates(&self) -> Result<BTreeSet<GateId>, Error> {
        let mut gates: BTreeSet<GateId> = if self.gates.is_empty() {
            GateId::ALL.into()
        } else {
            self.gates.iter().copied().collect()
        };
        for gate in &self.skip {
            gates.remove(gate);
        }
        if gates.is_empty() {
            return Err(Error::Usage(
                "--gate and --skip leave no gate to run".into(),
            ));
        }
        Ok(gates)
    }
}

/// Runs the selected gates once.
pub async fn check(
    kube: &KubeClient,
    namespace: &str,
    expectations: &Expectations,
    gates: &BTreeSet<GateId>,
    prometheus: Option<&Prometheus>,
    exec: bool,
) -> anyhow::Result<Report> {
    let collector = Collector {
        kube,
        namespace,
        expectations,
        gates,
        prometheus,
        exec,
    };
    let snapshot = collector.collect().await?;
    let results = GateId::ALL
        .iter()
        .map(|gate| {
            if gates.contains(gate) {
                gates::evaluate(*gate, &snapshot, expectations)
            } else {
                crate::validate::GateResult::skipped(*gate, "not selected")
            }
        })
        .collect();
    Ok(Report::new(namespace, &expectations.deployment, results))
}

/// Runs the gates, re-checking until they pass while `wait` allows, with a line of progress per
/// gate on stderr while waiting.
pub async fn run_gates(
    namespace: &str,
    kube: &KubeClient,
    args: &Args,
    wait: Option<Duration>,
) -> anyhow::Result<Report> {
    let expectations = args.expectations()?;
    let gates = args.selected_gates()?;
    let prometheus = args.prometheus.connect(kube)?;
    let deadline = wait.map(|w| tokio::time::Instant::now() + w);
    let tasks: BTreeMap<GateId, Task> = match wait {
        Some(_) => gates
            .iter()
            .map(|gate| (*gate, progress().task(format!("gate {}", gate.name()))))
            .collect(),
        None => BTreeMap::new(),
    };
    loop {
        let report = check(
            kube,
            namespace,
            &expectations,
            &gates,
            prometheus.as_ref(),
            args.exec,
        )
        .await?;
        for gate in &report.gates {
            if let Some(task) = tasks.get(&gate.gate) {
                task.set_measured(&gate_state(gate), "");
            }
        }
        let done = report.status == Status::Pass;
        match deadline {
            Some(deadline) if !done && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
            _ => {
                for (gate, task) in tasks {
                    if let Some(result) = report.gates.iter().find(|g| g.gate == gate) {
                        task.finish(tone(result.status), &gate_state(result));
                    }
                }
                return Ok(report);
            }
        }
    }
}

/// A gate's state as its progress line says it.
fn gate_state(gate: &crate::validate::GateResult) -> String {
    format!("{}: {}", gate.status.name(), gate.message)
}

pub fn tone(status: Status) -> Tone {
    match status {
        Status::Pass => Tone::Pass,
        Status::Fail => Tone::Fail,
        Status::Inconclusive => Tone::Inconclusive,
        Status::Skipped => Tone::Quiet,
    }
}

pub async fn run(global: &GlobalOptions, args: Args) -> anyhow::Result<ExitStatus> {
    // Settle the arguments before contacting the cluster, so usage errors come first.
    args.expectations()?;
    args.selected_gates()?;
    let kube = global.client().await?;
    let started = (Timestamp::now(), std::time::Instant::now());
    let report = run_gates(&global.namespace, &kube, &args, args.wait).await?;
    if global.output == OutputFormat::Junit {
        let timing = junit::Timing {
            started: started.0,
            took: started.1.elapsed(),
        };
        output::write_stdout(&junit::render(&report, &timing))?;
    } else {
        let palette = Palette::stdout();
        output::print(global.output, &report, |r| {
            palette.column(&render_table(r), "status")
        })?;
    }
    Ok(report.exit_status())
}
