//! Reads everything the selected gates need, concurrently, into a [`Snapshot`]. Nothing here
//! decides anything: a failed read is kept as what it was (absent, forbidden, not served) for the
//! gates to judge. Only an unreachable cluster or refused credentials stop the run.

use std::collections::{BTreeMap, BTreeSet};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams, LogParams};
use serde::Deserialize;

use super::GateId;
use super::config::Expectations;
use crate::global::KubeClient;
use crate::prometheus::{Prometheus, PrometheusError, Sample};
use crate::rollout::pod_selector;

/// Per-pod requests in flight at once: enough to be quick, bounded so 1000 pods do not open 1000
/// connections through the apiserver.
const PER_POD_CONCURRENCY: usize = 16;

/// What a gate may read beside the Deployment and its pods (which every gate reads). Each gate
/// lists its own (`gates::inputs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Input {
    Service,
    EndpointSlices,
    ServiceMonitor,
    PodMetrics,
    /// Every pod's /metrics.
    Scrapes,
    Logs,
    /// The ConfigMaps the node container's environment comes from.
    ConfigMaps,
    /// `printenv` in one pod, with `--exec`.
    ExecEnv,
    /// Prometheus's `up` for the pods.
    PrometheusTargets,
    /// The SLA gate's queries.
    SlaQueries,
}

/// The outcome of one read.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetch<T> {
    Ok(T),
    NotFound(String),
    Forbidden(String),
    /// The API (group or CRD) is not served by this cluster.
    NotServed(String),
    Failed(String),
    /// Not read: no selected gate needs it.
    NotRead,
}

impl<T> Fetch<T> {
    pub fn ok(&self) -> Option<&T> {
        match self {
            Fetch::Ok(value) => Some(value),
            _ => None,
        }
    }

    /// Turns a value into another read outcome (e.g. parses it), keeping every failure as it was.
    pub fn map_ok<U>(self, f: impl FnOnce(T) -> Fetch<U>) -> Fetch<U> {
        match self {
            Fetch::Ok(value) => f(value),
            Fetch::NotFound(m) => Fetch::NotFound(m),
            Fetch::Forbidden(m) => Fetch::Forbidden(m),
            Fetch::NotServed(m) => Fetch::NotServed(m),
            Fetch::Failed(m) => Fetch::Failed(m),
            Fetch::NotRead => Fetch::NotRead,
        }
    }

    /// Why there is no value, for messages.
    pub fn problem(&self) -> Option<String> {
        match self {
            Fetch::Ok(_) => None,
            Fetch::NotFound(m) => Some(format!("not found: {m}")),
            Fetch::Forbidden(m) => Some(format!("forbidden: {m}")),
            Fetch::NotServed(m) => Some(format!("not served: {m}")),
            Fetch::Failed(m) => Some(m.clone()),
            Fetch::NotRead => Some("not read (no selected gate needs it)".into()),
        }
    }
}

/// Metrics-server's view of one pod (metrics.k8s.io/v1beta1 PodMetrics).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PodMetrics {
    pub metadata: kube::api::ObjectMeta,
    #[serde(default)]
    pub containers: Vec<ContainerMetrics>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContainerMetrics {
    pub name: String,
    #[serde(default)]
    pub usage: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
struct PodMetricsList {
    items: Vec<PodMetrics>,
}

/// A pod's recent log, at most `logs.maxBytes` of it.
#[derive(Debug, Clone, PartialEq)]
pub struct PodLog {
    pub text: String,
    /// The log held more than was read; lines past the cut were not seen.
    pub truncated: bool,
}

/// What the SLA and scraping gates read from Prometheus.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusData {
    pub target: String,
    pub up: Fetch<Vec<Sample>>,
    pub finality_p99: Fetch<Vec<Sample>>,
    pub poi_generate: Fetch<Vec<Sample>>,
    pub poi_verify: Fetch<Vec<Sample>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// When the snapshot was taken, for judging ages (pods younger than a rate window).
    pub collected_at: k8s_openapi::jiff::Timestamp,
    pub namespace: String,
    pub deployment: Fetch<Deployment>,
    pub pods: Fetch<Vec<Pod>>,
    pub service: Fetch<Service>,
    pub endpoint_slices: Fetch<Vec<EndpointSlice>>,
    pub service_monitor: Fetch<serde_json::Value>,
    pub pod_metrics: Fetch<Vec<PodMetrics>>,
    /// Pod name -> its /metrics text.
    pub scrapes: BTreeMap<String, Fetch<String>>,
    /// Pod name -> its recent log.
    pub logs: BTreeMap<String, Fetch<PodLog>>,
    pub config_maps: BTreeMap<String, Fetch<ConfigMap>>,
    /// None when no Prometheus was given.
    pub prometheus: Option<PrometheusData>,
    /// With `--exec`: the pod asked, and what `printenv` printed in its node container.
    pub exec_env: Option<(String, Fetch<BTreeMap<String, String>>)>,
}

/// Keeps a read's failure as data, except the failures that mean the cluster itself is not usable.
fn fetch<T>(kube: &KubeClient, result: Result<T, kube::Error>) -> anyhow::Result<Fetch<T>> {
    match result {
        Ok(value) => Ok(Fetch::Ok(value)),
        Err(kube::Error::Api(status)) => Ok(match status.code {
            404 => Fetch::NotFound(status.message.clone()),
            403 => Fetch::Forbidden(status.message.clone()),
            401 => return Err(kube.classify(kube::Error::Api(status)).into()),
            _ => Fetch::Failed(format!("{} ({})", status.message, status.code)),
        }),
        Err(other) => {
            let classified = kube.classify(other);
            if classified.is_fatal() {
                Err(classified.into())
            } else {
                Ok(Fetch::Failed(format!(
                    "{:#}",
                    anyhow::Error::new(classified)
                )))
            }
        }
    }
}

async fn raw_get(kube: &KubeClient, path: &str) -> Result<String, kube::Error> {
    let request = http::Request::get(path)
        .body(Vec::new())
        .map_err(kube::Error::HttpError)?;
    kube.client.request_text(request).await
}

/// A 404 from an API group that is not served at all becomes NotServed.
async fn not_found_or_not_served<T>(
    kube: &KubeClient,
    fetched: Fetch<T>,
    group_version_path: &str,
    what: &str,
) -> Fetch<T> {
    match fetched {
        Fetch::NotFound(message) => match raw_get(kube, group_version_path).await {
            Err(kube::Error::Api(status)) if status.code == 404 => {
                Fetch::NotServed(format!("{what} is not served by this cluster"))
            }
            _ => Fetch::NotFound(message),
        },
        other => other,
    }
}

fn pod_names(pods: &Fetch<Vec<Pod>>) -> Vec<String> {
    pods.ok()
        .into_iter()
        .flatten()
        .filter_map(|p| p.metadata.name.clone())
        .collect()
}

/// A pod name as a literal inside a PromQL regex string: names are DNS subdomains, so only the
/// dot needs escaping, and PromQL strings spell a regex backslash as `\\`.
pub fn promql_regex_literal(name: &str) -> String {
    name.replace('.', "\\\\.")
}

pub struct Collector<'a> {
    pub kube: &'a KubeClient,
    pub namespace: &'a str,
    pub expectations: &'a Expectations,
    pub gates: &'a BTreeSet<GateId>,
    pub prometheus: Option<&'a Prometheus>,
    /// Run `printenv` in one ready pod.
    pub exec: bool,
}

impl Collector<'_> {
    /// Whether a selected gate reads `input`.
    fn wants(&self, input: Input) -> bool {
        self.gates
            .iter()
            .any(|gate| super::gates::inputs(*gate).contains(&input))
    }

    pub async fn collect(&self) -> anyhow::Result<Snapshot> {
        let kube = self.kube;
        let ns = self.namespace;
        let e = self.expectations;

        let deployments: Api<Deployment> = Api::namespaced(kube.client.clone(), ns);
        let mut deployment = fetch(kube, deployments.get(&e.deployment).await)?;
        if let Fetch::NotFound(_) = deployment {
            // Say which is missing: the namespace or the Deployment in it.
            let namespaces: Api<Namespace> = Api::all(kube.client.clone());
            if let Fetch::NotFound(_) = fetch(kube, namespaces.get(ns).await)? {
                deployment = Fetch::NotFound(format!("namespace {ns:?} does not exist"));
            } else {
                deployment = Fetch::NotFound(format!(
                    "Deployment {:?} does not exist in namespace {ns:?}",
                    e.deployment
                ));
            }
        }

        let pods = match deployment.ok().and_then(pod_selector) {
            Some(selector) => {
                let api: Api<Pod> = Api::namespaced(kube.client.clone(), ns);
                fetch(
                    kube,
                    api.list(&ListParams::default().labels(&selector))
                        .await
                        .map(|l| l.items),
                )?
            }
            None => Fetch::NotFound(
                deployment
                    .problem()
                    .unwrap_or_else(|| "the Deployment has no matchLabels selector".into()),
            ),
        };
        let names = pod_names(&pods);

        let (
            service,
            endpoint_slices,
            service_monitor,
            pod_metrics,
            scrapes,
            logs,
            config_maps,
            prometheus,
            exec_env,
        ) = tokio::join!(
            self.service(),
            self.endpoint_slices(),
            self.service_monitor(),
            self.pod_metrics(&deployment),
            self.scrapes(&names),
            self.logs(&names),
            self.config_maps(&deployment),
            self.prometheus(&names),
            self.exec_env(&pods),
        );
        Ok(Snapshot {
            collected_at: k8s_openapi::jiff::Timestamp::now(),
            namespace: ns.to_owned(),
            deployment,
            pods,
            service: service?,
            endpoint_slices: endpoint_slices?,
            service_monitor: service_monitor?,
            pod_metrics: pod_metrics?,
            scrapes: scrapes?,
            logs: logs?,
            config_maps: config_maps?,
            prometheus: prometheus?,
            exec_env: exec_env?,
        })
    }

    async fn service(&self) -> anyhow::Result<Fetch<Service>> {
        if !self.wants(Input::Service) {
            return Ok(Fetch::NotRead);
        }
        let api: Api<Service> = Api::namespaced(self.kube.client.clone(), self.namespace);
        fetch(self.kube, api.get(&self.expectations.service.name).await)
    }

    async fn endpoint_slices(&self) -> anyhow::Result<Fetch<Vec<EndpointSlice>>> {
        if !self.wants(Input::EndpointSlices) {
            return Ok(Fetch::NotRead);
        }
        let api: Api<EndpointSlice> = Api::namespaced(self.kube.client.clone(), self.namespace);
        let params = ListParams::default().labels(&format!(
            "kubernetes.io/service-name={}",
            self.expectations.service.name
        ));
        fetch(self.kube, api.list(&params).await.map(|l| l.items))
    }

    async fn service_monitor(&self) -> anyhow::Result<Fetch<serde_json::Value>> {
        if !self.wants(Input::ServiceMonitor) {
            return Ok(Fetch::NotRead);
        }
        let group_version = "/apis/monitoring.coreos.com/v1";
        let path = format!(
            "{group_version}/namespaces/{}/servicemonitors/{}",
            self.namespace, self.expectations.service_monitor.name
        );
        let fetched = fetch(self.kube, raw_get(self.kube, &path).await)?;
        let fetched = fetched.map_ok(|text| match serde_json::from_str(&text) {
            Ok(value) => Fetch::Ok(value),
            Err(e) => Fetch::Failed(format!("unreadable ServiceMonitor: {e}")),
        });
        Ok(not_found_or_not_served(
            self.kube,
            fetched,
            group_version,
            "the ServiceMonitor CRD (monitoring.coreos.com/v1)",
        )
        .await)
    }

    async fn pod_metrics(
        &self,
        deployment: &Fetch<Deployment>,
    ) -> anyhow::Result<Fetch<Vec<PodMetrics>>> {
        if !self.wants(Input::PodMetrics) {
            return Ok(Fetch::NotRead);
        }
        let Some(selector) = deployment.ok().and_then(pod_selector) else {
            return Ok(Fetch::Failed("no Deployment to select pods with".into()));
        };
        let group_version = "/apis/metrics.k8s.io/v1beta1";
        let path = format!(
            "{group_version}/namespaces/{}/pods?labelSelector={}",
            self.namespace,
            selector.replace('=', "%3D").replace(',', "%2C")
        );
        let fetched = fetch(self.kube, raw_get(self.kube, &path).await)?.map_ok(|text| {
            match serde_json::from_str::<PodMetricsList>(&text) {
                Ok(list) => Fetch::Ok(list.items),
                Err(e) => Fetch::Failed(format!("unreadable PodMetrics: {e}")),
            }
        });
        Ok(not_found_or_not_served(
            self.kube,
            fetched,
            group_version,
            "the metrics API (metrics.k8s.io, served by metrics-server)",
        )
        .await)
    }

    /// Reads something for every pod, at most PER_POD_CONCURRENCY at once.
    async fn per_pod<T, F, Fut>(
        &self,
        pods: &[String],
        read: F,
    ) -> anyhow::Result<BTreeMap<String, Fetch<T>>>
    where
        F: Fn(String) -> Fut,
        Fut: std::future::Future<Output = Result<T, kube::Error>>,
    {
        let results: Vec<_> = futures::stream::iter(pods.iter().cloned())
            .map(|pod| {
                let read = read(pod.clone());
                async move { (pod, read.await) }
            })
            .buffer_unordered(PER_POD_CONCURRENCY)
            .collect()
            .await;
        results
            .into_iter()
            .map(|(pod, result)| Ok((pod, fetch(self.kube, result)?)))
            .collect()
    }

    async fn scrapes(&self, pods: &[String]) -> anyhow::Result<BTreeMap<String, Fetch<String>>> {
        if !self.wants(Input::Scrapes) {
            return Ok(BTreeMap::new());
        }
        let metrics = &self.expectations.metrics;
        self.per_pod(pods, |pod| async move {
            let path = format!(
                "/api/v1/namespaces/{}/pods/{pod}:{}/proxy{}",
                self.namespace, metrics.port, metrics.path
            );
            raw_get(self.kube, &path).await
        })
        .await
    }

    async fn logs(&self, pods: &[String]) -> anyhow::Result<BTreeMap<String, Fetch<PodLog>>> {
        if !self.wants(Input::Logs) {
            return Ok(BTreeMap::new());
        }
        let api: Api<Pod> = Api::namespaced(self.kube.client.clone(), self.namespace);
        let logs = &self.expectations.logs;
        let params = LogParams {
            container: Some(self.expectations.container.clone()),
            since_seconds: Some(logs.window.as_secs().max(1) as i64),
            limit_bytes: Some(logs.max_bytes),
            ..LogParams::default()
        };
        let max_bytes = logs.max_bytes as usize;
        self.per_pod(pods, |pod| {
            let (api, params) = (api.clone(), params.clone());
            async move {
                let text = api.logs(&pod, &params).await?;
                Ok(PodLog {
                    truncated: text.len() >= max_bytes,
                    text,
                })
            }
        })
        .await
    }

    async fn exec_env(
        &self,
        pods: &Fetch<Vec<Pod>>,
    ) -> anyhow::Result<Option<(String, Fetch<BTreeMap<String, String>>)>> {
        if !self.exec || !self.wants(Input::ExecEnv) {
            return Ok(None);
        }
        let ready = pods.ok().into_iter().flatten().find(|p| {
            p.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        });
        let Some(pod) = ready.and_then(|p| p.metadata.name.clone()) else {
            return Ok(Some((
                String::new(),
                Fetch::Failed("no ready pod to run printenv in".into()),
            )));
        };
        let api: Api<Pod> = Api::namespaced(self.kube.client.clone(), self.namespace);
        let params = kube::api::AttachParams::default()
            .container(self.expectations.container.clone())
            .stderr(false);
        let output = async {
            let mut process = api.exec(&pod, ["printenv"], &params).await?;
            let mut text = String::new();
            if let Some(mut stdout) = process.stdout() {
                tokio::io::AsyncReadExt::read_to_string(&mut stdout, &mut text)
                    .await
                    .map_err(kube::Error::ReadEvents)?;
            }
            let _ = process.join().await;
            Ok::<_, kube::Error>(text)
        }
        .await;
        let env = match fetch(self.kube, output)? {
            Fetch::Forbidden(m) => {
                Fetch::Forbidden(format!("{m} (--exec needs create on pods/exec)"))
            }
            other => other.map_ok(|text| {
                Fetch::Ok(
                    text.lines()
                        .filter_map(|l| l.split_once('='))
                        .map(|(k, v)| (k.to_owned(), v.to_owned()))
                        .collect(),
                )
            }),
        };
        Ok(Some((pod, env)))
    }

    async fn config_maps(
        &self,
        deployment: &Fetch<Deployment>,
    ) -> anyhow::Result<BTreeMap<String, Fetch<ConfigMap>>> {
        if !self.wants(Input::ConfigMaps) {
            return Ok(BTreeMap::new());
        }
        let container = deployment
            .ok()
            .and_then(|d| d.spec.as_ref())
            .and_then(|s| s.template.spec.as_ref())
            .and_then(|s| {
                s.containers
                    .iter()
                    .find(|c| c.name == self.expectations.container)
            });
        let names = container
            .map(super::env::config_map_names)
            .unwrap_or_default();
        let api: Api<ConfigMap> = Api::namespaced(self.kube.client.clone(), self.namespace);
        let mut maps = BTreeMap::new();
        for name in names {
            let fetched = fetch(self.kube, api.get(&name).await)?;
            maps.insert(name, fetched);
        }
        Ok(maps)
    }

    async fn prometheus(&self, pods: &[String]) -> anyhow::Result<Option<PrometheusData>> {
        let Some(prometheus) = self.prometheus else {
            return Ok(None);
        };
        let (targets, sla) = (
            self.wants(Input::PrometheusTargets),
            self.wants(Input::SlaQueries),
        );
        if !targets && !sla {
            return Ok(None);
        }
        let ns = self.namespace;
        let pod_regex = pods
            .iter()
            .map(|p| promql_regex_literal(p))
            .collect::<Vec<_>>()
            .join("|");
        let selector = format!("namespace=\"{ns}\",pod=~\"{pod_regex}\"");
        let window = format!("{}s", self.expectations.sla.window.as_secs().max(1));
        let run = |wanted: bool, query: String| async move {
            if !wanted {
                return Fetch::NotRead;
            }
            match prometheus.query(&query).await {
                Ok(samples) => Fetch::Ok(samples),
                Err(e @ PrometheusError::Unreachable { .. }) => Fetch::Failed(e.to_string()),
                Err(e) => Fetch::Failed(format!("{e} (query: {query})")),
            }
        };
        let [finality_p99, poi_generate, poi_verify] =
            super::gates::sla_queries(&selector, &window);
        let (up, finality_p99, poi_generate, poi_verify) = tokio::join!(
            run(targets, super::gates::up_query(&selector)),
            run(sla, finality_p99),
            run(sla, poi_generate),
            run(sla, poi_verify),
        );
        Ok(Some(PrometheusData {
            target: prometheus.target().to_owned(),
            up,
            finality_p99,
            poi_generate,
            poi_verify,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::promql_regex_literal;

    #[test]
    fn pod_names_become_promql_regex_literals() {
        assert_eq!(
            promql_regex_literal("bizra-apex-86cc-x1"),
            "bizra-apex-86cc-x1"
        );
        assert_eq!(promql_regex_literal("a.b"), "a\\\\.b");
    }
}
