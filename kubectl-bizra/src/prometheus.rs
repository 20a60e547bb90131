//! Instant queries against a Prometheus, reached at a URL or as a Service through the apiserver's
//! service proxy (so no port-forward and no extra network access are needed).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::global::KubeClient;

/// Where the Prometheus is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrometheusTarget {
    Url(String),
    /// `namespace/name:port` of a Service, reached through the apiserver.
    Service {
        namespace: String,
        name: String,
        port: String,
    },
}

impl PrometheusTarget {
    pub fn parse_service(value: &str) -> Result<Self, String> {
        let invalid = || {
            format!(
                "invalid Prometheus service {value:?}: expected NAMESPACE/NAME:PORT, e.g. monitoring/prometheus:9090"
            )
        };
        let (namespace, rest) = value.split_once('/').ok_or_else(invalid)?;
        let (name, port) = rest.split_once(':').ok_or_else(invalid)?;
        if namespace.is_empty() || name.is_empty() || port.is_empty() {
            return Err(invalid());
        }
        crate::values::dns_label(namespace)?;
        crate::values::dns_label(name)?;
        // A port number or a port name, as the apiserver's service proxy takes.
        let port_ok = match port.parse::<u16>() {
            Ok(number) => number != 0,
            Err(_) => crate::values::dns_label(port).is_ok(),
        };
        if !port_ok {
            return Err(invalid());
        }
        Ok(PrometheusTarget::Service {
            namespace: namespace.into(),
            name: name.into(),
            port: port.into(),
        })
    }

    pub fn describe(&self) -> String {
        match self {
            PrometheusTarget::Url(url) => url.clone(),
            PrometheusTarget::Service {
                namespace,
                name,
                port,
            } => format!("service {namespace}/{name}:{port}"),
        }
    }
}

/// An http(s) URL with a host, as `--prometheus-url` takes.
fn parse_url(url: &str) -> Result<http::Uri, PrometheusError> {
    let invalid = |why: String| PrometheusError::Url(crate::values::shorten(url), why);
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| invalid(e.to_string()))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none() {
        return Err(invalid("use http(s)://host:port".into()));
    }
    // `Uri` keeps a port it cannot read as a number as no port at all (the scheme's default).
    let authority = uri.authority().map(|a| a.as_str()).unwrap_or_default();
    let host_and_port = authority.rsplit('@').next().unwrap_or_default();
    let written_port = host_and_port
        .rsplit_once(':')
        .map(|(_, p)| p)
        .filter(|p| !p.ends_with(']'));
    if written_port.is_some_and(|p| p.parse::<u16>().map_or(true, |p| p == 0)) {
        return Err(invalid("the port must be 1 to 65535".into()));
    }
    Ok(uri)
}

fn url_flag(url: &str) -> Result<String, String> {
    parse_url(url)
        .map(|_| url.to_owned())
        .map_err(|e| e.to_string())
}

/// `--prometheus-url` / `--prometheus-service`, for every command that queries Prometheus.
#[derive(Debug, Clone, Default, clap::Args)]
// Flattened into commands that are themselves flattened: no argument group of its own.
#[group(skip)]
pub struct PrometheusArgs {
    /// Prometheus base URL, e.g. http://127.0.0.1:9090.
    #[arg(long, value_name = "URL", conflicts_with = "prometheus_service", value_parser = url_flag)]
    pub prometheus_url: Option<String>,

    /// Prometheus as a Service reached through the apiserver: NAMESPACE/NAME:PORT.
    #[arg(long, value_name = "NS/NAME:PORT", value_parser = PrometheusTarget::parse_service)]
    pub prometheus_service: Option<PrometheusTarget>,
}

impl PrometheusArgs {
    pub fn target(&self) -> Option<PrometheusTarget> {
        self.prometheus_url
            .clone()
            .map(PrometheusTarget::Url)
            .or_else(|| self.prometheus_service.clone())
    }

    /// The Prometheus named on the command line, if any; a malformed URL is a usage error.
    pub fn connect(&self, kube: &KubeClient) -> Result<Option<Prometheus>, crate::error::Error> {
        self.target()
            .map(|target| Prometheus::new(&target, kube))
            .transpose()
            .map_err(|e| crate::error::Error::Usage(e.to_string()))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PrometheusError {
    #[error("invalid Prometheus URL {0:?}: {1}")]
    Url(String, String),
    #[error("Prometheus at {target} cannot be reached: {message}")]
    Unreachable { target: String, message: String },
    #[error("Prometheus at {target} rejected the query: {message}")]
    Query { target: String, message: String },
}

/// One series of an instant vector.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

#[derive(Clone)]
pub struct Prometheus {
    client: kube::Client,
    base_path: String,
    target: String,
}

#[derive(Deserialize)]
struct QueryResponse {
    status: String,
    #[serde(default)]
    data: Option<QueryData>,
    #[serde(default)]
    error: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryData {
    result_type: String,
    result: serde_json::Value,
}

#[derive(Deserialize)]
struct VectorSample {
    metric: BTreeMap<String, String>,
    value: (f64, String),
}

/// Percent-encodes a query parameter value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

impl Prometheus {
    pub fn new(target: &PrometheusTarget, kube: &KubeClient) -> Result<Self, PrometheusError> {
        match target {
            PrometheusTarget::Url(url) => {
                let uri = parse_url(url)?;
                let base_path = uri.path().trim_end_matches('/').to_owned();
                // kube's client is a plain HTTP(S) client here: no kubeconfig credentials go along.
                let client = crate::trace::client(kube::Config::new(uri))
                    .map_err(|e| PrometheusError::Url(url.clone(), e.to_string()))?;
                Ok(Prometheus {
                    client,
                    base_path,
                    target: url.clone(),
                })
            }
            PrometheusTarget::Service {
                namespace,
                name,
                port,
            } => Ok(Prometheus {
                client: kube.client.clone(),
                base_path: format!("/api/v1/namespaces/{namespace}/services/{name}:{port}/proxy"),
                target: target.describe(),
            }),
        }
    }

    pub fn target(&self) -> &str {
        &self.target
    }

    /// Runs an instant query that must return a vector.
    pub async fn query(&self, promql: &str) -> Result<Vec<Sample>, PrometheusError> {
        let path = format!("{}/api/v1/query?query={}", self.base_path, encode(promql));
        let request =
            http::Request::get(path)
                .body(Vec::new())
                .map_err(|e| PrometheusError::Query {
                    target: self.target.clone(),
                    message: e.to_string(),
                })?;
        let text = self
            .client
            .request_text(request)
            .await
            .map_err(|e| match e {
                kube::Error::Api(status) if status.code == 400 || status.code == 422 => {
                    PrometheusError::Query {
                        target: self.target.clone(),
                        message: status.message.clone(),
                    }
                }
                other => PrometheusError::Unreachable {
                    target: self.target.clone(),
                    message: other.to_string(),
                },
            })?;
        parse_vector(&text).map_err(|message| PrometheusError::Query {
            target: self.target.clone(),
            message,
        })
    }
}

/// Parses a `/api/v1/query` answer holding an instant vector.
pub fn parse_vector(text: &str) -> Result<Vec<Sample>, String> {
    let response: QueryResponse =
        serde_json::from_str(text).map_err(|e| format!("not a Prometheus API answer: {e}"))?;
    if response.status != "success" {
        return Err(response.error.unwrap_or_else(|| "query failed".into()));
    }
    let data = response.data.ok_or("answer without data")?;
    if data.result_type != "vector" {
        return Err(format!(
            "expected a vector result, got {}",
            data.result_type
        ));
    }
    let samples: Vec<VectorSample> =
        serde_json::from_value(data.result).map_err(|e| format!("malformed vector: {e}"))?;
    samples
        .into_iter()
        .map(|s| {
            let value = s
                .value
                .1
                .parse::<f64>()
                .map_err(|_| format!("sample value {:?} is not a number", s.value.1))?;
            Ok(Sample {
                labels: s.metric,
                value,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vectors_parse_and_errors_are_reported() {
        let ok = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{"pod":"a"},"value":[1700000000.1,"0.5"]},{"metric":{},"value":[1,"NaN"]}]}}"#;
        let samples = parse_vector(ok).expect("valid");
        assert_eq!(samples[0].labels["pod"], "a");
        assert_eq!(samples[0].value, 0.5);
        assert!(samples[1].value.is_nan());
        let error = r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#;
        assert_eq!(parse_vector(error), Err("parse error at char 5".into()));
        assert!(
            parse_vector("<html>")
                .expect_err("not json")
                .starts_with("not a Prometheus API answer")
        );
    }

    #[test]
    fn service_targets_parse() {
        assert_eq!(
            PrometheusTarget::parse_service("monitoring/prometheus:9090"),
            Ok(PrometheusTarget::Service {
                namespace: "monitoring".into(),
                name: "prometheus".into(),
                port: "9090".into()
            })
        );
        assert!(PrometheusTarget::parse_service("prometheus:9090").is_err());
        assert!(PrometheusTarget::parse_service("monitoring/prometheus").is_err());
    }

    #[test]
    fn queries_are_percent_encoded() {
        assert_eq!(encode("up{a=\"b c\"}"), "up%7Ba%3D%22b%20c%22%7D");
    }
}
