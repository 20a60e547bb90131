//! What `validate` expects: the seed report's values by default, each changeable in a YAML file
//! (`--config`) and then by flag. Unknown keys are an error, so a typo never silently keeps a
//! default.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Expectations {
    /// The Deployment to validate.
    pub deployment: String,
    /// The node's container in it.
    pub container: String,
    /// Ready replicas required; by default the Deployment's own `spec.replicas`.
    pub replicas: Option<i32>,
    pub metrics: MetricsExpectations,
    pub service_monitor: ServiceMonitorExpectations,
    pub service: ServiceExpectations,
    pub logs: LogExpectations,
    /// Environment variables the node needs: a value, or null for "set to anything".
    pub env: BTreeMap<String, Option<String>>,
    pub sla: SlaExpectations,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MetricsExpectations {
    pub port: u16,
    pub path: String,
    pub required_families: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServiceMonitorExpectations {
    pub name: String,
    pub port: String,
    pub path: String,
    pub interval: String,
    /// Series names the ServiceMonitor's keep rule must keep.
    pub kept_series: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ServiceExpectations {
    pub name: String,
    /// Port name -> port number.
    pub ports: BTreeMap<String, i32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct LogExpectations {
    /// How far back to read each pod's log.
    #[serde(with = "crate::duration::serde_go")]
    pub window: Duration,
    /// Regular expressions; a line matching any of them fails the gate.
    pub patterns: Vec<String>,
    /// At most this many bytes of log per pod are read (the newest lines).
    pub max_bytes: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct SlaExpectations {
    pub finality_p99_seconds: f64,
    pub poi_generate_per_second: f64,
    pub poi_verify_per_second: f64,
    /// The rate window of the SLA queries.
    #[serde(with = "crate::duration::serde_go")]
    pub window: Duration,
}

impl Default for Expectations {
    fn default() -> Self {
        Expectations {
            deployment: crate::canary::cluster::STABLE_DEPLOYMENT.into(),
            container: crate::manifests::NODE_CONTAINER.into(),
            replicas: None,
            metrics: MetricsExpectations::default(),
            service_monitor: ServiceMonitorExpectations::default(),
            service: ServiceExpectations::default(),
            logs: LogExpectations::default(),
            env: [
                ("BIZRA_USE_RUST", Some("true")),
                ("METRICS_PORT", Some("9464")),
                ("NODE_ENV", Some("testnet")),
                ("RUST_LOG", None),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
            .collect(),
            sla: SlaExpectations::default(),
        }
    }
}

impl Default for MetricsExpectations {
    fn default() -> Self {
        MetricsExpectations {
            port: 9464,
            path: "/metrics".into(),
            required_families: vec![
                "bizra_finality_check_seconds".into(),
                "bizra_poi_generate_seconds".into(),
                "bizra_poi_verify_seconds".into(),
            ],
        }
    }
}

impl Default for ServiceMonitorExpectations {
    fn default() -> Self {
        ServiceMonitorExpectations {
            name: "bizra-rust".into(),
            port: "rust-metrics".into(),
            path: "/metrics".into(),
            interval: "5s".into(),
            kept_series: vec![
                "bizra_poi_generate_seconds_bucket".into(),
                "bizra_poi_verify_seconds_count".into(),
                "bizra_finality_check_seconds_bucket".into(),
                "bizra_consensus_rounds_total".into(),
            ],
        }
    }
}

impl Default for ServiceExpectations {
    fn default() -> Self {
        ServiceExpectations {
            name: "bizra-apex".into(),
            ports: [
                ("http", 8080),
                ("rpc", 9944),
                ("ws", 9945),
                ("p2p", 30333),
                ("rust-metrics", 9464),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), v))
            .collect(),
        }
    }
}

impl Default for LogExpectations {
    fn default() -> Self {
        LogExpectations {
            window: Duration::from_secs(300),
            patterns: vec![
                r"(?i)\berror\b".into(),
                r"(?i)\bfatal\b".into(),
                r"(?i)panic".into(),
                r"(?i)consensus.*error".into(),
            ],
            max_bytes: 10 * 1024 * 1024,
        }
    }
}

impl Default for SlaExpectations {
    fn default() -> Self {
        SlaExpectations {
            finality_p99_seconds: 0.001,
            poi_generate_per_second: 10_000.0,
            poi_verify_per_second: 5_000.0,
            window: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {message}")]
    Invalid { path: String, message: String },
}

impl Expectations {
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: shown.clone(),
            source,
        })?;
        let expectations: Expectations =
            serde_saphyr::from_str(&text).map_err(|e| ConfigError::Invalid {
                path: shown.clone(),
                message: e.to_string(),
            })?;
        expectations
            .check()
            .map_err(|message| ConfigError::Invalid {
                path: shown,
                message,
            })?;
        Ok(expectations)
    }

    /// Values that parse but cannot be right.
    pub fn check(&self) -> Result<(), String> {
        for pattern in &self.logs.patterns {
            regex::Regex::new(pattern).map_err(|e| {
                format!("logs.patterns: {pattern:?} is not a valid regular expression: {e}")
            })?;
        }
        if self.replicas.is_some_and(|r| r < 0) {
            return Err("replicas must not be negative".into());
        }
        if self.logs.max_bytes <= 0 {
            return Err("logs.maxBytes must be positive".into());
        }
        for (key, window) in [
            ("logs.window", self.logs.window),
            ("sla.window", self.sla.window),
        ] {
            if window.is_zero() {
                return Err(format!("{key} must be longer than 0s"));
            }
        }
        crate::values::check_positive("sla.finalityP99Seconds", self.sla.finality_p99_seconds)?;
        crate::values::check_non_negative(
            "sla.poiGeneratePerSecond",
            self.sla.poi_generate_per_second,
        )?;
        crate::values::check_non_negative(
            "sla.poiVerifyPerSecond",
            self.sla.poi_verify_per_second,
        )?;
        if self.metrics.port == 0 {
            return Err("metrics.port must be 1 to 65535".into());
        }
        if self.sla.window.subsec_nanos() != 0 {
            return Err("sla.window must be a whole number of seconds".into());
        }
        let name = |key: &str, value: &str, check: fn(&str) -> Result<String, String>| {
            check(value).map(drop).map_err(|e| format!("{key}: {e}"))
        };
        use crate::values::{dns_label, dns_subdomain};
        name("deployment", &self.deployment, dns_subdomain)?;
        name("container", &self.container, dns_label)?;
        name("service.name", &self.service.name, dns_subdomain)?;
        name(
            "serviceMonitor.name",
            &self.service_monitor.name,
            dns_subdomain,
        )?;
        for (port_name, port) in &self.service.ports {
            name("service.ports", port_name, dns_label)?;
            if !(1..=65535).contains(port) {
                return Err(format!(
                    "service.ports.{port_name} must be 1 to 65535, not {port}"
                ));
            }
        }
        crate::duration::parse_positive(&self.service_monitor.interval)
            .map_err(|e| format!("serviceMonitor.interval: {e}"))?;
        if self.env.keys().any(|k| k.is_empty()) {
            return Err("env: a variable name must not be empty".into());
        }
        // An empty list would make its gate pass without checking anything.
        for (key, empty) in [
            ("logs.patterns", self.logs.patterns.is_empty()),
            (
                "metrics.requiredFamilies",
                self.metrics.required_families.is_empty(),
            ),
        ] {
            if empty {
                return Err(format!(
                    "{key} is empty, so its gate would check nothing; skip the gate with --skip instead"
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partial_file_keeps_the_other_defaults() {
        let partial: Expectations = serde_saphyr::from_str(
            "replicas: 5\nlogs:\n  window: 10m\nsla:\n  finalityP99Seconds: 0.002\n",
        )
        .expect("valid");
        assert_eq!(partial.replicas, Some(5));
        assert_eq!(partial.logs.window, Duration::from_secs(600));
        assert_eq!(partial.logs.patterns, LogExpectations::default().patterns);
        assert_eq!(partial.sla.finality_p99_seconds, 0.002);
        assert_eq!(partial.sla.poi_verify_per_second, 5000.0);
        assert_eq!(partial.deployment, "bizra-apex");
    }

    #[test]
    fn the_documented_example_is_exactly_the_defaults() {
        let path =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/validate-config.example.yaml");
        assert_eq!(
            Expectations::from_file(&path).expect("the example parses"),
            Expectations::default()
        );
    }

    #[test]
    fn unknown_keys_and_bad_values_are_rejected() {
        assert!(serde_saphyr::from_str::<Expectations>("replica: 5\n").is_err());
        assert!(serde_saphyr::from_str::<Expectations>("logs:\n  window: soon\n").is_err());
        let bad_regex: Expectations =
            serde_saphyr::from_str("logs:\n  patterns: ['(']\n").expect("parses");
        assert!(
            bad_regex
                .check()
                .expect_err("invalid regex")
                .contains("logs.patterns")
        );
    }

    #[test]
    fn durations_and_thresholds_that_would_disable_a_check_are_rejected() {
        for text in [
            "logs:\n  window: 99999999999999999999s\n",
            "sla:\n  window: -1m\n",
        ] {
            assert!(
                serde_saphyr::from_str::<Expectations>(text).is_err(),
                "{text}"
            );
        }
        for (text, key) in [
            ("logs:\n  window: 0s\n", "logs.window"),
            ("sla:\n  window: 0s\n", "sla.window"),
            (
                "sla:\n  finalityP99Seconds: .inf\n",
                "sla.finalityP99Seconds",
            ),
            (
                "sla:\n  finalityP99Seconds: .nan\n",
                "sla.finalityP99Seconds",
            ),
            ("sla:\n  finalityP99Seconds: 0\n", "sla.finalityP99Seconds"),
            (
                "sla:\n  poiGeneratePerSecond: -1\n",
                "sla.poiGeneratePerSecond",
            ),
            (
                "sla:\n  poiVerifyPerSecond: .nan\n",
                "sla.poiVerifyPerSecond",
            ),
            ("metrics:\n  port: 0\n", "metrics.port"),
            ("deployment: 'Bad Name/../x'\n", "deployment"),
            ("container: 'A B'\n", "container"),
            ("service: {name: ''}\n", "service.name"),
            ("service: {ports: {http: 99999}}\n", "service.ports.http"),
            (
                "serviceMonitor: {interval: soon}\n",
                "serviceMonitor.interval",
            ),
            ("env: {'': x}\n", "env"),
            ("logs: {patterns: []}\n", "logs.patterns"),
            (
                "metrics: {requiredFamilies: []}\n",
                "metrics.requiredFamilies",
            ),
            ("sla: {window: 1500ms}\n", "sla.window"),
        ] {
            let parsed: Expectations = serde_saphyr::from_str(text).expect(text);
            let err = parsed.check().expect_err(text);
            assert!(err.contains(key), "{text}: {err}");
        }
    }
}
