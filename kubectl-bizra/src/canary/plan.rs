//! The release plan: the canary's traffic stages, how long each is held, and the analysis
//! settings. Defaults follow the testnet report (5 % for 30 min, 25 % for 1 h, 50 % for 1 h, then
//! 100 %); a YAML config file (`--config`) and flags change them.

use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::duration::format as format_duration;

/// One traffic stage: the canary's share and how long `promote --auto` holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Stage {
    pub weight: u8,
    #[serde(with = "crate::duration::serde_go")]
    pub hold: Duration,
}

impl Stage {
    /// `25:1h` as typed on the command line.
    pub fn parse(text: &str) -> Result<Self, String> {
        let (weight, hold) = text
            .split_once(':')
            .ok_or_else(|| format!("invalid stage {text:?}: expected WEIGHT:HOLD, e.g. 25:1h"))?;
        let weight: u8 = weight
            .trim()
            .parse()
            .map_err(|_| format!("invalid stage {text:?}: weight must be 1 to 99"))?;
        Ok(Stage {
            weight,
            hold: crate::duration::parse_positive(hold.trim())
                .map_err(|e| format!("invalid stage {text:?}: {e}"))?,
        })
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}%:{}", self.weight, format_duration(self.hold))
    }
}

/// Parses `5:30m,25:1h,50:1h`.
pub fn parse_stages(text: &str) -> Result<Vec<Stage>, String> {
    let stages = text
        .split(',')
        .map(Stage::parse)
        .collect::<Result<Vec<_>, _>>()?;
    check_stages(&stages)?;
    Ok(stages)
}

/// Weights strictly rising within 1..=99; 100 % is the completion, not a stage.
pub fn check_stages(stages: &[Stage]) -> Result<(), String> {
    if stages.is_empty() {
        return Err("the plan needs at least one stage".into());
    }
    let mut previous = 0;
    for stage in stages {
        if stage.weight == 0 || stage.weight >= 100 {
            return Err(format!(
                "stage weight {} is out of range: stages take 1 to 99 percent (100 % is the completion)",
                stage.weight
            ));
        }
        if stage.hold.is_zero() {
            return Err(format!(
                "stage {}% has a hold of 0s: a stage must be held for some time, e.g. 5:30m",
                stage.weight
            ));
        }
        if stage.weight <= previous {
            return Err(format!(
                "stage weights must rise: {} after {previous}",
                stage.weight
            ));
        }
        previous = stage.weight;
    }
    Ok(())
}

pub fn default_stages() -> Vec<Stage> {
    let minutes = |m: u64| Duration::from_secs(m * 60);
    vec![
        Stage {
            weight: 5,
            hold: minutes(30),
        },
        Stage {
            weight: 25,
            hold: minutes(60),
        },
        Stage {
            weight: 50,
            hold: minutes(60),
        },
    ]
}

/// A PromQL check with a template query (`$namespace`, `$track` and `$window` are replaced) and
/// the largest value that passes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct QueryCheck {
    pub query: String,
    pub max: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersusStable {
    /// The canary's error rate may exceed stable's by at most this much (absolute, 0.001 = 0.1 %).
    pub error_rate_margin: f64,
    /// The canary's p99 latency may be at most this many times stable's.
    pub latency_ratio: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Analysis {
    /// Time between analyses in `promote --auto`.
    #[serde(with = "crate::duration::serde_go")]
    pub interval: Duration,
    /// The PromQL rate window (`$window`).
    #[serde(with = "crate::duration::serde_go")]
    pub window: Duration,
    /// Failed analyses in a row tolerated in `--auto`; one more rolls the release back.
    pub failure_limit: u32,
    /// Inconclusive analyses in a row tolerated in `--auto`; one more stops it (exit 3).
    pub inconclusive_limit: u32,
    /// Requests the canary (and stable, for the comparison) must have served in the window
    /// before a traffic check can pass; fewer is inconclusive.
    pub min_requests: f64,
    /// Requests served in the window, per track.
    pub requests_query: String,
    pub error_rate: QueryCheck,
    pub latency_p99: QueryCheck,
    /// Container restarts of canary pods tolerated (from the API).
    pub max_restarts: i32,
    pub versus_stable: VersusStable,
}

const REQUESTS: &str =
    r#"sum(increase(bizra_rpc_requests_total{namespace="$namespace",track="$track"}[$window]))"#;
const ERROR_RATE: &str = r#"(sum(rate(bizra_rpc_requests_total{namespace="$namespace",track="$track",code=~"5.."}[$window])) or vector(0)) / sum(rate(bizra_rpc_requests_total{namespace="$namespace",track="$track"}[$window]))"#;
const LATENCY_P99: &str = r#"histogram_quantile(0.99, sum by (le) (rate(bizra_rpc_request_duration_seconds_bucket{namespace="$namespace",track="$track"}[$window])))"#;

impl Default for Analysis {
    fn default() -> Self {
        Analysis {
            interval: Duration::from_secs(60),
            window: Duration::from_secs(300),
            failure_limit: 1,
            inconclusive_limit: 5,
            min_requests: 100.0,
            requests_query: REQUESTS.into(),
            error_rate: QueryCheck {
                query: ERROR_RATE.into(),
                max: 0.001,
            },
            latency_p99: QueryCheck {
                query: LATENCY_P99.into(),
                max: 0.5,
            },
            max_restarts: 0,
            versus_stable: VersusStable {
                error_rate_margin: 0.0005,
                latency_ratio: 1.5,
            },
        }
    }
}

/// The whole plan: `--config FILE` holds the same fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Plan {
    pub stages: Vec<Stage>,
    pub analysis: Analysis,
}

impl Default for Plan {
    fn default() -> Self {
        Plan {
            stages: default_stages(),
            analysis: Analysis::default(),
        }
    }
}

impl Plan {
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the plan {}: {e}", path.display()))?;
        let plan: Plan = serde_saphyr::from_str(&text)
            .map_err(|e| format!("invalid plan {}: {e}", path.display()))?;
        plan.check()
            .map_err(|e| format!("invalid plan {}: {e}", path.display()))?;
        Ok(plan)
    }

    pub fn check(&self) -> Result<(), String> {
        check_stages(&self.stages)?;
        let a = &self.analysis;
        if a.interval.is_zero() || a.window.is_zero() {
            return Err("analysis interval and window must be longer than 0s".into());
        }
        // PromQL range selectors take whole units; below a second the analysis would also
        // query the apiserver and Prometheus in a tight loop.
        for (key, value) in [
            ("analysis.interval", a.interval),
            ("analysis.window", a.window),
        ] {
            if value.subsec_nanos() != 0 {
                return Err(format!(
                    "{key} must be a whole number of seconds, not {}",
                    crate::duration::format(value)
                ));
            }
        }
        // One more failure than the limit rolls back: the limit must leave room for that.
        if a.failure_limit == u32::MAX || a.inconclusive_limit == u32::MAX {
            return Err(format!(
                "analysis.failureLimit and inconclusiveLimit must be below {}",
                u32::MAX
            ));
        }
        for (name, query) in [
            ("requestsQuery", &a.requests_query),
            ("errorRate.query", &a.error_rate.query),
            ("latencyP99.query", &a.latency_p99.query),
        ] {
            if !query.contains("$track") {
                return Err(format!(
                    "analysis {name} must select the track with $track, or it cannot tell canary from stable"
                ));
            }
        }
        use crate::values::{check_non_negative, check_positive};
        check_non_negative("analysis.minRequests", a.min_requests)?;
        check_positive("analysis.errorRate.max", a.error_rate.max)?;
        check_positive("analysis.latencyP99.max", a.latency_p99.max)?;
        check_non_negative(
            "analysis.versusStable.errorRateMargin",
            a.versus_stable.error_rate_margin,
        )?;
        check_positive(
            "analysis.versusStable.latencyRatio",
            a.versus_stable.latency_ratio,
        )?;
        if a.versus_stable.latency_ratio < 1.0 {
            return Err("analysis.versusStable.latencyRatio must be 1 or more".into());
        }
        if a.max_restarts < 0 {
            return Err("analysis.maxRestarts must not be negative".into());
        }
        Ok(())
    }

    /// The canary weight after `weight`: the next stage's, or 100 (completion) after the last.
    pub fn next_weight(&self, weight: u8) -> u8 {
        self.stages
            .iter()
            .map(|s| s.weight)
            .find(|w| *w > weight)
            .unwrap_or(100)
    }

    pub fn stage_of(&self, weight: u8) -> Option<(usize, &Stage)> {
        self.stages
            .iter()
            .enumerate()
            .find(|(_, s)| s.weight == weight)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_plan_is_the_reports() {
        let plan = Plan::default();
        let stages: Vec<String> = plan.stages.iter().map(ToString::to_string).collect();
        assert_eq!(stages, ["5%:30m", "25%:1h", "50%:1h"]);
        assert_eq!(plan.next_weight(0), 5);
        assert_eq!(plan.next_weight(25), 50);
        assert_eq!(plan.next_weight(50), 100);
        plan.check().expect("defaults are valid");
    }

    #[test]
    fn example_plan_is_exactly_the_defaults() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../docs/promote-plan.example.yaml");
        assert_eq!(Plan::load(&path).expect("example parses"), Plan::default());
    }

    #[test]
    fn stages_parse_and_must_rise() {
        let stages = parse_stages("10:20s,40:1m30s").expect("valid");
        assert_eq!(stages[1].hold, Duration::from_secs(90));
        for bad in [
            "",
            "10",
            "10:soon",
            "0:1m",
            "100:1m",
            "50:1m,25:1m",
            "-5:1m",
        ] {
            assert!(parse_stages(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn config_file_is_strict_and_fills_defaults() {
        let plan: Plan = serde_saphyr::from_str(
            "stages:\n- weight: 10\n  hold: 5m\nanalysis:\n  interval: 30s\n  errorRate:\n    query: 'x{track=\"$track\"}'\n    max: 0.01\n",
        )
        .expect("valid config");
        assert_eq!(
            plan.stages,
            vec![Stage {
                weight: 10,
                hold: Duration::from_secs(300)
            }]
        );
        assert_eq!(plan.analysis.interval, Duration::from_secs(30));
        assert_eq!(plan.analysis.window, Duration::from_secs(300));
        assert_eq!(plan.analysis.error_rate.max, 0.01);
        plan.check().expect("valid plan");

        assert!(serde_saphyr::from_str::<Plan>("stagez: []\n").is_err());
        let no_track: Plan = serde_saphyr::from_str(
            "analysis:\n  errorRate:\n    query: 'sum(rate(x[5m]))'\n    max: 0.01\n",
        )
        .expect("parses");
        assert!(no_track.check().expect_err("rejected").contains("$track"));
    }

    #[test]
    fn holds_windows_and_thresholds_must_be_usable() {
        assert!(
            serde_saphyr::from_str::<Plan>("stages:\n- {weight: 5, hold: 99999999999999999999s}\n")
                .is_err()
        );
        for (text, expected) in [
            ("stages:\n- {weight: 5, hold: 0s}\n", "hold of 0s"),
            ("analysis:\n  window: 0s\n", "longer than 0s"),
            ("analysis:\n  minRequests: -1\n", "analysis.minRequests"),
            ("analysis:\n  minRequests: .nan\n", "analysis.minRequests"),
            (
                "analysis:\n  errorRate: {query: 'x{track=\"$track\"}', max: .inf}\n",
                "analysis.errorRate.max",
            ),
            (
                "analysis:\n  versusStable: {errorRateMargin: -1, latencyRatio: 1.5}\n",
                "errorRateMargin",
            ),
            (
                "analysis:\n  versusStable: {errorRateMargin: 0, latencyRatio: .nan}\n",
                "latencyRatio",
            ),
            ("analysis:\n  maxRestarts: -1\n", "maxRestarts"),
            (
                "analysis:\n  window: 500ms\n",
                "analysis.window must be a whole number of seconds",
            ),
            (
                "analysis:\n  interval: 1ns\n",
                "analysis.interval must be a whole number of seconds",
            ),
            ("analysis:\n  failureLimit: 4294967295\n", "failureLimit"),
        ] {
            let plan: Plan = serde_saphyr::from_str(text).expect(text);
            let err = plan.check().expect_err(text);
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
