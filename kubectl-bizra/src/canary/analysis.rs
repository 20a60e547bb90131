//! The analysis of one stage: PromQL checks on the canary's traffic (error rate, p99 latency,
//! the comparison with stable) and its pods' restarts from the API. Deciding is pure
//! ([`evaluate`]); [`observe`] does the queries. Too little traffic or no data is inconclusive,
//! never a pass.

use std::time::Duration;

use k8s_openapi::jiff::Timestamp;
use serde::{Deserialize, Serialize};

use super::plan::Analysis;
use crate::duration::format as format_duration;
use crate::prometheus::{Prometheus, PrometheusError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Verdict {
    Pass,
    Fail,
    Inconclusive,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckResult {
    pub check: String,
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed: Option<f64>,
    pub threshold: String,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRecord {
    pub at: Timestamp,
    pub canary_weight: u8,
    pub verdict: Verdict,
    pub checks: Vec<CheckResult>,
}

/// The worst verdict decides: any failure fails, else anything undecided is inconclusive.
pub fn overall(checks: &[CheckResult]) -> Verdict {
    if checks.iter().any(|c| c.verdict == Verdict::Fail) {
        Verdict::Fail
    } else if checks.iter().any(|c| c.verdict == Verdict::Inconclusive) {
        Verdict::Inconclusive
    } else {
        Verdict::Pass
    }
}

/// One track's traffic over the window; `None` is "no data" (no series, or NaN from 0/0).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct TrackTraffic {
    pub requests: Option<f64>,
    pub error_rate: Option<f64>,
    pub latency_p99: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Observations {
    pub window: Duration,
    pub canary: TrackTraffic,
    pub stable: TrackTraffic,
    pub canary_restarts: i32,
    pub canary_available: i32,
}

/// The queries actually sent, for the report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ResolvedQuery {
    pub track: &'static str,
    pub name: &'static str,
    pub query: String,
}

fn check(
    name: &str,
    verdict: Verdict,
    observed: Option<f64>,
    threshold: String,
    message: String,
) -> CheckResult {
    CheckResult {
        check: name.into(),
        verdict,
        observed,
        threshold,
        message,
    }
}

/// Why a track's traffic cannot be judged yet, if it cannot.
fn too_little_traffic(
    track: &str,
    traffic: &TrackTraffic,
    analysis: &Analysis,
    window: Duration,
) -> Option<String> {
    let requests = traffic.requests.unwrap_or(0.0);
    (requests < analysis.min_requests).then(|| {
        format!(
            "{track} served {requests:.0} requests in {} (at least {:.0} needed): is traffic reaching it?",
            format_duration(window),
            analysis.min_requests
        )
    })
}

pub fn evaluate(analysis: &Analysis, obs: &Observations) -> Vec<CheckResult> {
    let canary_scarce = too_little_traffic("the canary", &obs.canary, analysis, obs.window);
    let mut checks = Vec::new();

    let threshold = format!("< {}%", analysis.error_rate.max * 100.0);
    checks.push(match (&canary_scarce, obs.canary.error_rate) {
        (Some(why), rate) => check(
            "error-rate",
            Verdict::Inconclusive,
            rate,
            threshold,
            why.clone(),
        ),
        (None, None) => check(
            "error-rate",
            Verdict::Inconclusive,
            None,
            threshold,
            "no data for the canary's error rate".into(),
        ),
        (None, Some(rate)) if rate >= analysis.error_rate.max => check(
            "error-rate",
            Verdict::Fail,
            Some(rate),
            threshold,
            format!(
                "canary error rate {:.3}% is not under {}%",
                rate * 100.0,
                analysis.error_rate.max * 100.0
            ),
        ),
        (None, Some(rate)) => check(
            "error-rate",
            Verdict::Pass,
            Some(rate),
            threshold,
            format!("canary error rate {:.3}%", rate * 100.0),
        ),
    });

    let threshold = format!("< {}s", analysis.latency_p99.max);
    checks.push(match (&canary_scarce, obs.canary.latency_p99) {
        (Some(why), p99) => check(
            "latency-p99",
            Verdict::Inconclusive,
            p99,
            threshold,
            why.clone(),
        ),
        (None, None) => check(
            "latency-p99",
            Verdict::Inconclusive,
            None,
            threshold,
            "no data for the canary's p99 latency".into(),
        ),
        (None, Some(p99)) if p99 >= analysis.latency_p99.max => check(
            "latency-p99",
            Verdict::Fail,
            Some(p99),
            threshold,
            format!(
                "canary p99 latency {p99:.3}s is not under {}s",
                analysis.latency_p99.max
            ),
        ),
        (None, Some(p99)) => check(
            "latency-p99",
            Verdict::Pass,
            Some(p99),
            threshold,
            format!("canary p99 latency {p99:.3}s"),
        ),
    });

    let threshold = format!("<= {} restarts, >= 1 available pod", analysis.max_restarts);
    let restarts = f64::from(obs.canary_restarts);
    checks.push(if obs.canary_restarts > analysis.max_restarts {
        check(
            "restarts",
            Verdict::Fail,
            Some(restarts),
            threshold,
            format!("canary containers restarted {} times", obs.canary_restarts),
        )
    } else if obs.canary_available < 1 {
        check(
            "restarts",
            Verdict::Fail,
            Some(restarts),
            threshold,
            "no canary pod is available".into(),
        )
    } else {
        check(
            "restarts",
            Verdict::Pass,
            Some(restarts),
            threshold,
            format!(
                "{} available canary pods, {} restarts",
                obs.canary_available, obs.canary_restarts
            ),
        )
    });

    let margin = &analysis.versus_stable;
    let threshold = format!(
        "error rate <= stable + {}%, p99 <= {}x stable",
        margin.error_rate_margin * 100.0,
        margin.latency_ratio
    );
    let stable_scarce = too_little_traffic("stable", &obs.stable, analysis, obs.window);
    checks.push(
        match (canary_scarce.or(stable_scarce), obs.canary, obs.stable) {
            (Some(why), _, _) => {
                check("versus-stable", Verdict::Inconclusive, None, threshold, why)
            }
            (
                None,
                TrackTraffic {
                    error_rate: Some(ce),
                    latency_p99: Some(cl),
                    ..
                },
                TrackTraffic {
                    error_rate: Some(se),
                    latency_p99: Some(sl),
                    ..
                },
            ) => {
                if ce > se + margin.error_rate_margin {
                    check(
                        "versus-stable",
                        Verdict::Fail,
                        Some(ce - se),
                        threshold,
                        format!(
                            "canary error rate {:.3}% exceeds stable's {:.3}% by more than {}%",
                            ce * 100.0,
                            se * 100.0,
                            margin.error_rate_margin * 100.0
                        ),
                    )
                } else if cl > sl * margin.latency_ratio {
                    check(
                        "versus-stable",
                        Verdict::Fail,
                        Some(cl / sl),
                        threshold,
                        format!(
                            "canary p99 {cl:.3}s is more than {}x stable's {sl:.3}s",
                            margin.latency_ratio
                        ),
                    )
                } else {
                    check(
                        "versus-stable",
                        Verdict::Pass,
                        Some(ce - se),
                        threshold,
                        format!(
                            "canary {:.3}% / {cl:.3}s vs stable {:.3}% / {sl:.3}s",
                            ce * 100.0,
                            se * 100.0
                        ),
                    )
                }
            }
            _ => check(
                "versus-stable",
                Verdict::Inconclusive,
                None,
                threshold,
                "no data for the error rate or p99 of one of the tracks".into(),
            ),
        },
    );
    checks
}

fn resolve(template: &str, namespace: &str, track: &str, window: Duration) -> String {
    template
        .replace("$namespace", namespace)
        .replace("$track", track)
        .replace("$window", &format_duration(window))
}

/// Every query of an analysis, resolved for the namespace and both tracks.
pub fn queries(analysis: &Analysis, namespace: &str) -> Vec<ResolvedQuery> {
    let mut all = Vec::new();
    for track in ["canary", "stable"] {
        for (name, template) in [
            ("requests", &analysis.requests_query),
            ("error-rate", &analysis.error_rate.query),
            ("latency-p99", &analysis.latency_p99.query),
        ] {
            all.push(ResolvedQuery {
                track,
                name,
                query: resolve(template, namespace, track, analysis.window),
            });
        }
    }
    all
}

/// A single number from a query: the sum of the vector, `None` when empty or NaN.
async fn scalar(prometheus: &Prometheus, query: &str) -> Result<Option<f64>, PrometheusError> {
    let samples = prometheus.query(query).await?;
    if samples.is_empty() {
        return Ok(None);
    }
    let value: f64 = samples.iter().map(|s| s.value).sum();
    Ok((!value.is_nan()).then_some(value))
}

/// Runs the traffic queries for both tracks concurrently.
pub async fn observe_traffic(
    prometheus: &Prometheus,
    analysis: &Analysis,
    namespace: &str,
) -> Result<(TrackTraffic, TrackTraffic), PrometheusError> {
    let resolved = queries(analysis, namespace);
    let values =
        futures::future::try_join_all(resolved.iter().map(|q| scalar(prometheus, &q.query)))
            .await?;
    let track = |offset: usize| TrackTraffic {
        requests: values[offset],
        error_rate: values[offset + 1],
        latency_p99: values[offset + 2],
    };
    Ok((track(0), track(3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn healthy() -> Observations {
        let traffic = TrackTraffic {
            requests: Some(6000.0),
            error_rate: Some(0.0),
            latency_p99: Some(0.024),
        };
        Observations {
            window: Duration::from_secs(300),
            canary: traffic,
            stable: traffic,
            canary_restarts: 0,
            canary_available: 1,
        }
    }

    fn verdicts(obs: &Observations) -> Vec<(String, Verdict)> {
        evaluate(&Analysis::default(), obs)
            .into_iter()
            .map(|c| (c.check, c.verdict))
            .collect()
    }

    fn verdict_of(obs: &Observations, name: &str) -> CheckResult {
        evaluate(&Analysis::default(), obs)
            .into_iter()
            .find(|c| c.check == name)
            .expect("check present")
    }

    #[test]
    fn healthy_canary_passes_every_check() {
        let checks = evaluate(&Analysis::default(), &healthy());
        assert_eq!(overall(&checks), Verdict::Pass, "{checks:?}");
        assert_eq!(checks.len(), 4);
    }

    #[test]
    fn error_rate_at_or_over_the_threshold_fails() {
        let mut obs = healthy();
        obs.canary.error_rate = Some(0.001);
        assert_eq!(verdict_of(&obs, "error-rate").verdict, Verdict::Fail);
        obs.canary.error_rate = Some(0.05);
        let checks = evaluate(&Analysis::default(), &obs);
        assert_eq!(overall(&checks), Verdict::Fail);
        assert!(
            checks[0].message.contains("5.000%"),
            "{}",
            checks[0].message
        );
    }

    #[test]
    fn slow_canary_fails_latency_and_comparison() {
        let mut obs = healthy();
        obs.canary.latency_p99 = Some(0.8);
        assert_eq!(verdict_of(&obs, "latency-p99").verdict, Verdict::Fail);
        assert_eq!(verdict_of(&obs, "versus-stable").verdict, Verdict::Fail);
        // Under the SLA but far slower than stable: only the comparison fails.
        obs.canary.latency_p99 = Some(0.2);
        assert_eq!(verdict_of(&obs, "latency-p99").verdict, Verdict::Pass);
        assert_eq!(verdict_of(&obs, "versus-stable").verdict, Verdict::Fail);
    }

    #[test]
    fn no_traffic_or_no_data_is_inconclusive_never_a_pass() {
        let mut obs = healthy();
        obs.canary = TrackTraffic {
            requests: Some(0.0),
            error_rate: None,
            latency_p99: None,
        };
        let checks = evaluate(&Analysis::default(), &obs);
        assert_eq!(overall(&checks), Verdict::Inconclusive);
        assert!(
            checks[0].message.contains("is traffic reaching it?"),
            "{}",
            checks[0].message
        );

        let mut obs = healthy();
        obs.canary.requests = Some(99.0);
        assert_eq!(
            verdict_of(&obs, "error-rate").verdict,
            Verdict::Inconclusive
        );

        let mut obs = healthy();
        obs.canary.latency_p99 = None;
        assert_eq!(
            verdict_of(&obs, "latency-p99").verdict,
            Verdict::Inconclusive
        );
        assert_eq!(
            verdict_of(&obs, "versus-stable").verdict,
            Verdict::Inconclusive
        );

        let mut obs = healthy();
        obs.stable.requests = None;
        assert_eq!(
            verdict_of(&obs, "versus-stable").verdict,
            Verdict::Inconclusive
        );
        assert_eq!(verdict_of(&obs, "error-rate").verdict, Verdict::Pass);
    }

    #[test]
    fn restarts_or_no_available_pod_fail() {
        let mut obs = healthy();
        obs.canary_restarts = 1;
        assert_eq!(verdict_of(&obs, "restarts").verdict, Verdict::Fail);
        let mut obs = healthy();
        obs.canary_available = 0;
        assert_eq!(verdict_of(&obs, "restarts").verdict, Verdict::Fail);
        assert_eq!(
            verdicts(&healthy())
                .into_iter()
                .filter(|(_, v)| *v == Verdict::Pass)
                .count(),
            4
        );
    }

    #[test]
    fn queries_are_resolved_per_track() {
        let all = queries(&Analysis::default(), "testnet");
        assert_eq!(all.len(), 6);
        assert!(
            all[0]
                .query
                .contains(r#"namespace="testnet",track="canary""#),
            "{}",
            all[0].query
        );
        assert!(all[0].query.contains("[5m]"), "{}", all[0].query);
        assert!(all[3].query.contains(r#"track="stable""#));
        assert!(all.iter().all(|q| !q.query.contains('$')));
    }
}
