//! Gate 9: with a Prometheus, finality check p99 under 1 ms, PoI generation over 10,000/s and
//! verification over 5,000/s per pod (thresholds configurable). No data is inconclusive.

use crate::prometheus::Sample;
use crate::validate::collect::{Fetch, Input, Snapshot};
use crate::validate::config::Expectations;
use crate::validate::{GateId, GateResult, Status};

const GATE: GateId = GateId::Sla;

/// What the gate reads beside the Deployment and its pods.
pub const INPUTS: &[Input] = &[Input::SlaQueries];

/// The gate's PromQL over the pods `selector` picks, each rate over `window` (`300s`): the
/// finality check p99, then PoI generations and verifications per second per pod.
pub fn queries(selector: &str, window: &str) -> [String; 3] {
    [
        format!(
            "histogram_quantile(0.99, sum by (le) (rate(bizra_finality_check_seconds_bucket{{{selector}}}[{window}])))"
        ),
        format!("sum by (pod) (rate(bizra_poi_generate_seconds_count{{{selector}}}[{window}]))"),
        format!("sum by (pod) (rate(bizra_poi_verify_seconds_count{{{selector}}}[{window}]))"),
    ]
}

enum Check<'a> {
    Below(&'a str, &'a Fetch<Vec<Sample>>, f64, &'a str),
    Above(&'a str, &'a Fetch<Vec<Sample>>, f64, &'a str),
}

pub fn sla(snapshot: &Snapshot, expectations: &Expectations) -> GateResult {
    let Some(prometheus) = &snapshot.prometheus else {
        return GateResult::skipped(
            GATE,
            "no Prometheus given (--prometheus-url or --prometheus-service)",
        );
    };
    let sla = &expectations.sla;
    let checks = [
        Check::Below(
            "finality p99",
            &prometheus.finality_p99,
            sla.finality_p99_seconds,
            "s",
        ),
        Check::Above(
            "PoI generation",
            &prometheus.poi_generate,
            sla.poi_generate_per_second,
            "/s",
        ),
        Check::Above(
            "PoI verification",
            &prometheus.poi_verify,
            sla.poi_verify_per_second,
            "/s",
        ),
    ];
    let mut status = Status::Pass;
    let mut observed = Vec::new();
    let mut thresholds = Vec::new();
    let mut notes = Vec::new();
    for check in checks {
        let (label, fetched, limit, unit, below) = match check {
            Check::Below(l, f, t, u) => (l, f, t, u, true),
            Check::Above(l, f, t, u) => (l, f, t, u, false),
        };
        thresholds.push(format!(
            "{label} {} {limit}{unit}",
            if below { "<" } else { ">" }
        ));
        let samples = match fetched {
            Fetch::Ok(samples) => samples,
            other => {
                status = status.max(Status::Inconclusive);
                notes.push(format!("{label}: {}", other.problem().unwrap_or_default()));
                continue;
            }
        };
        let values: Vec<f64> = samples
            .iter()
            .map(|s| s.value)
            .filter(|v| !v.is_nan())
            .collect();
        // Per pod the worst value counts: the highest latency, the lowest rate.
        let worst = if below {
            values
                .iter()
                .cloned()
                .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.max(v))))
        } else {
            values
                .iter()
                .cloned()
                .fold(None, |a: Option<f64>, v| Some(a.map_or(v, |a| a.min(v))))
        };
        let Some(worst) = worst else {
            status = status.max(Status::Inconclusive);
            notes.push(format!("{label}: no data in Prometheus"));
            continue;
        };
        observed.push(format!("{label} {}{unit}", format_value(worst)));
        let ok = if below { worst < limit } else { worst > limit };
        if !ok {
            status = Status::Fail;
            notes.push(format!(
                "{label} {}{unit} breaches {} {limit}{unit}",
                format_value(worst),
                if below { "<" } else { ">" }
            ));
        }
    }
    // A rate over a window longer than a pod has lived underestimates it: such a "breach" is not
    // settled yet, and neither is a pass.
    let youngest = snapshot
        .pods
        .ok()
        .into_iter()
        .flatten()
        .filter_map(|p| p.status.as_ref()?.start_time.as_ref())
        .map(|t| snapshot.collected_at.duration_since(t.0).as_secs())
        .min();
    if let Some(age) = youngest.filter(|age| (*age as u64) < sla.window.as_secs()) {
        status = Status::Inconclusive;
        notes.insert(
            0,
            format!(
                "the youngest pod started {age}s ago, less than the {} rate window: rates are not settled yet",
                crate::duration::format(sla.window)
            ),
        );
    }
    let message = if notes.is_empty() {
        format!("all SLAs met (Prometheus {})", prometheus.target)
    } else {
        notes.join("; ")
    };
    GateResult::new(GATE, status, message).measured(observed.join(", "), thresholds.join(", "))
}

fn format_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else {
        format!("{v:.6}")
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::validate::collect::PrometheusData;
    use crate::validate::gates::fixtures::healthy;

    fn samples(values: &[f64]) -> Fetch<Vec<Sample>> {
        Fetch::Ok(
            values
                .iter()
                .map(|v| Sample {
                    labels: Default::default(),
                    value: *v,
                })
                .collect(),
        )
    }

    fn with(
        finality: Fetch<Vec<Sample>>,
        generate: Fetch<Vec<Sample>>,
        verify: Fetch<Vec<Sample>>,
    ) -> GateResult {
        let mut snapshot = healthy();
        snapshot.prometheus = Some(PrometheusData {
            target: "p".into(),
            up: samples(&[]),
            finality_p99: finality,
            poi_generate: generate,
            poi_verify: verify,
        });
        sla(&snapshot, &Expectations::default())
    }

    #[test]
    fn without_prometheus_the_gate_is_skipped() {
        assert_eq!(
            sla(&healthy(), &Expectations::default()).status,
            Status::Skipped
        );
    }

    #[test]
    fn meeting_every_sla_passes() {
        let result = with(
            samples(&[0.0005]),
            samples(&[12000.0, 11000.0]),
            samples(&[6000.0]),
        );
        assert_eq!(result.status, Status::Pass, "{result:?}");
        assert_eq!(
            result.observed.as_deref(),
            Some("finality p99 0.0005s, PoI generation 11000/s, PoI verification 6000/s")
        );
    }

    #[test]
    fn the_worst_pod_breaching_fails() {
        let result = with(
            samples(&[0.0025]),
            samples(&[12000.0, 9000.0]),
            samples(&[6000.0]),
        );
        assert_eq!(result.status, Status::Fail);
        assert_eq!(
            result.message,
            "finality p99 0.0025s breaches < 0.001s; PoI generation 9000/s breaches > 10000/s"
        );
    }

    #[test]
    fn pods_younger_than_the_window_make_it_inconclusive_even_when_rates_look_low() {
        let mut snapshot = healthy();
        snapshot.collected_at = "2026-11-28T11:00:30Z".parse().expect("time");
        snapshot.prometheus = Some(PrometheusData {
            target: "p".into(),
            up: samples(&[]),
            finality_p99: samples(&[0.0005]),
            poi_generate: samples(&[6000.0]),
            poi_verify: samples(&[6000.0]),
        });
        let result = sla(&snapshot, &Expectations::default());
        assert_eq!(result.status, Status::Inconclusive);
        assert!(
            result
                .message
                .starts_with("the youngest pod started 30s ago, less than the 1m rate window"),
            "{}",
            result.message
        );
    }

    #[test]
    fn no_data_is_inconclusive_never_a_pass() {
        let result = with(samples(&[]), samples(&[f64::NAN]), samples(&[6000.0]));
        assert_eq!(result.status, Status::Inconclusive);
        let result = with(
            Fetch::Failed("Prometheus at p cannot be reached".into()),
            samples(&[12000.0]),
            samples(&[6000.0]),
        );
        assert_eq!(result.status, Status::Inconclusive);
    }
}
