//! Helpers shared by the integration test binaries: the local cluster harness, kubectl, and the
//! plugin binary. Every helper talks to the real thing; nothing here is mocked.

#![allow(dead_code)]

pub mod promql;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

pub fn harness_script() -> PathBuf {
    repo_root().join("tests/cluster/harness.sh")
}

/// A folder holding only the built plugin (a link to it), put first on PATH so kubectl finds
/// `kubectl-bizra`. Cargo's own output folder will not do: kubectl reports the `kubectl-bizra.d`
/// dep-info file beside the binary as a broken plugin.
pub fn plugin_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("plugin-path");
    let link = dir.join("kubectl-bizra");
    std::fs::create_dir_all(&dir).expect("create plugin dir");
    if std::fs::read_link(&link).ok().as_deref()
        != Some(Path::new(env!("CARGO_BIN_EXE_kubectl-bizra")))
    {
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kubectl-bizra"), &link)
            .expect("link plugin");
    }
    dir
}

pub fn path_with_plugin() -> String {
    let path = std::env::var("PATH").unwrap_or_default();
    format!("{}:{path}", plugin_dir().display())
}

/// Runs the harness (`up`, `down`, `status`, `env`) and returns its output.
pub fn harness(action: &str) -> Output {
    harness_with(action, &[])
}

pub fn harness_with(action: &str, args: &[&str]) -> Output {
    Command::new("bash")
        .arg(harness_script())
        .arg(action)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run harness.sh {action}: {e}"))
}

/// The kubeconfig the harness writes, parsed from `harness.sh env`.
pub fn kubeconfig() -> PathBuf {
    let out = harness("env");
    let text = String::from_utf8_lossy(&out.stdout);
    let path = text
        .trim()
        .strip_prefix("export KUBECONFIG=")
        .unwrap_or_else(|| panic!("unexpected `harness.sh env` output: {text}"));
    PathBuf::from(path)
}

/// A command with KUBECONFIG set to the local cluster and the plugin on PATH.
pub fn command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    cmd.env("KUBECONFIG", kubeconfig())
        .env("PATH", path_with_plugin());
    cmd
}

pub fn kubectl(args: &[&str]) -> Output {
    command("kubectl")
        .args(args)
        .output()
        .expect("kubectl runs")
}

/// kubectl that must succeed; returns stdout.
pub fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs the plugin binary directly (not through kubectl) against the local cluster.
pub fn bizra(args: &[&str]) -> Output {
    command(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .args(args)
        .output()
        .expect("kubectl-bizra runs")
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A kube client for the local cluster (the harness's kubeconfig).
pub async fn client() -> kube::Client {
    let kubeconfig = kube::config::Kubeconfig::read_from(kubeconfig()).expect("kubeconfig");
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &Default::default())
        .await
        .expect("client config");
    kube::Client::try_from(config).expect("client")
}

/// Polls `check` until it returns `Some` or `timeout` passes.
pub fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A namespace made for one test and deleted when the test ends, pass or fail.
pub struct TestNamespace {
    pub name: String,
}

impl TestNamespace {
    pub fn new(prefix: &str) -> Self {
        let suffix = std::process::id() as u64 * 1000
            + std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.subsec_millis() as u64)
                .unwrap_or(0);
        let name = format!("{prefix}-{suffix}");
        kubectl_ok(&["create", "namespace", &name]);
        eventually(
            "the default ServiceAccount",
            Duration::from_secs(60),
            || {
                kubectl(&["get", "serviceaccount", "default", "-n", &name])
                    .status
                    .success()
                    .then_some(())
            },
        );
        TestNamespace { name }
    }
}

impl Drop for TestNamespace {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "namespace", &self.name, "--wait=false"]);
    }
}

/// Runs the plugin with `-o json` and returns its exit code and parsed output.
pub fn bizra_json(args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = args.to_vec();
    all.extend(["-o", "json"]);
    let out = bizra(&all);
    let code = out.status.code().unwrap_or(-1);
    let value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "kubectl-bizra {args:?} exited {code} without JSON ({e}):\nstdout: {}\nstderr: {}",
            stdout(&out),
            stderr(&out)
        )
    });
    (code, value)
}

/// The `action` of each applied object in a deploy report, as `Kind/name` -> action.
pub fn actions(report: &serde_json::Value) -> std::collections::BTreeMap<String, String> {
    report["applied"]
        .as_array()
        .expect("applied list")
        .iter()
        .map(|r| {
            (
                format!(
                    "{}/{}",
                    r["kind"].as_str().unwrap_or(""),
                    r["name"].as_str().unwrap_or("")
                ),
                r["action"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

/// A namespace with the bizra-apex manifests deployed and rolled out (gates not run).
pub fn deployed(prefix: &str) -> TestNamespace {
    let ns = TestNamespace::new(prefix);
    let (code, report) =
        bizra_json(&["deploy", "-n", &ns.name, "--no-validate", "--timeout", "3m"]);
    assert_eq!(code, 0, "deploy into {}: {report}", ns.name);
    ns
}

/// The names of the stable pods of a deployed namespace.
pub fn stable_pods(namespace: &str) -> Vec<String> {
    kubectl_ok(&[
        "get",
        "pods",
        "-n",
        namespace,
        "-l",
        "app=bizra-apex,track=stable",
        "-o",
        "jsonpath={.items[*].metadata.name}",
    ])
    .split_whitespace()
    .map(str::to_owned)
    .collect()
}

/// The result of one gate in a validation report.
pub fn gate<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["gates"]
        .as_array()
        .expect("gates")
        .iter()
        .find(|g| g["gate"] == name)
        .unwrap_or_else(|| panic!("no gate {name} in {report}"))
}

/// Pods named in a gate's detail.
pub fn gate_pods(gate: &serde_json::Value) -> Vec<String> {
    gate["pods"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| p["pod"].as_str().unwrap_or("").to_owned())
        .collect()
}

pub const PROMETHEUS_URL: &str = "http://127.0.0.1:9090";

/// The result of an instant query against the local cluster's Prometheus (its HTTP API, by
/// curl), at `time` (seconds since the epoch) or now.
pub fn prometheus_query(query: &str, time: Option<f64>) -> Vec<serde_json::Value> {
    let mut curl = Command::new("curl");
    curl.args([
        "-sS",
        "--get",
        "--data-urlencode",
        &format!("query={query}"),
    ]);
    if let Some(time) = time {
        curl.args(["--data-urlencode", &format!("time={time:.3}")]);
    }
    let out = curl
        .arg(format!("{PROMETHEUS_URL}/api/v1/query"))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "query {query}: {}", stderr(&out));
    let body: serde_json::Value = serde_json::from_slice(&out.stdout).expect("Prometheus JSON");
    assert_eq!(body["status"], "success", "query {query}: {body}");
    body["data"]["result"].as_array().expect("result").clone()
}

/// Now, on this machine's clock (the one the plugin stamps its history with), in seconds.
pub fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs_f64()
}

/// An RFC 3339 timestamp of the plugin's output, in seconds since the epoch (read by GNU date).
pub fn timestamp_seconds(value: &serde_json::Value) -> f64 {
    let text = value.as_str().expect("timestamp");
    let out = Command::new("date")
        .args(["-d", text, "+%s.%N"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds")
}

/// A kubeconfig that reaches the local cluster with a bearer token (and nothing else).
pub fn token_kubeconfig(name: &str, token: &str) -> PathBuf {
    let server = apiserver_url();
    let ca = kubectl_ok(&[
        "config",
        "view",
        "--minify",
        "--raw",
        "-o",
        "jsonpath={.clusters[0].cluster.certificate-authority}",
    ]);
    let path = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}.kubeconfig"));
    std::fs::write(
        &path,
        format!("apiVersion: v1\nkind: Config\nclusters: [{{name: c, cluster: {{server: '{server}', certificate-authority: {ca}}}}}]\nusers: [{{name: u, user: {{token: {token}}}}}]\ncontexts: [{{name: x, context: {{cluster: c, user: u}}}}]\ncurrent-context: x\n"),
    )
    .expect("write kubeconfig");
    path
}

/// A kubeconfig for a ServiceAccount's token, against the local cluster.
pub fn service_account_kubeconfig(namespace: &str, account: &str) -> PathBuf {
    let token = kubectl_ok(&[
        "create",
        "token",
        account,
        "-n",
        namespace,
        "--duration=30m",
    ]);
    token_kubeconfig(&format!("{namespace}-{account}"), token.trim())
}

/// Starts the plugin without waiting for it; stdout and stderr are captured.
pub fn bizra_spawn(args: &[&str]) -> std::process::Child {
    command(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl-bizra starts")
}

/// Waits for a spawned plugin to exit (killing it after `timeout`) and returns its output.
pub fn finish(child: std::process::Child, timeout: Duration) -> Output {
    let pid = child.id();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let watchdog = {
        let done = done.clone();
        std::thread::spawn(move || {
            let deadline = Instant::now() + timeout;
            while Instant::now() < deadline {
                if done.load(std::sync::atomic::Ordering::SeqCst) {
                    return;
                }
                std::thread::sleep(Duration::from_millis(200));
            }
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        })
    };
    let out = child.wait_with_output().expect("wait for kubectl-bizra");
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = watchdog.join();
    out
}

/// A deployed namespace whose canary runs a new image (`v2.3.0`), ready for a release, with
/// `template_annotations` (the simulator's `sim.bizra.dev/*` knobs) on the canary's pods.
pub fn release_ready(prefix: &str, template_annotations: &[(&str, &str)]) -> TestNamespace {
    let ns = deployed(prefix);
    let annotations: serde_json::Map<String, serde_json::Value> = template_annotations
        .iter()
        .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
        .collect();
    let patch = serde_json::json!({"spec": {"template": {
        "metadata": {"annotations": annotations},
        "spec": {"containers": [{"name": "bizra-node", "image": "ghcr.io/bizra/node:v2.3.0"}]}
    }}});
    kubectl_ok(&[
        "patch",
        "deployment",
        "bizra-apex-canary",
        "-n",
        &ns.name,
        "--type",
        "strategic",
        "-p",
        &patch.to_string(),
    ]);
    ns
}

/// The VirtualService's weights (stable, canary) and the rollout state from its annotation.
pub fn rollout(namespace: &str) -> ((i64, i64), serde_json::Value, String) {
    let vs: serde_json::Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "virtualservice",
        "bizra-apex",
        "-n",
        namespace,
        "-o",
        "json",
    ]))
    .expect("VirtualService JSON");
    let route = &vs["spec"]["http"][0]["route"];
    let weight = |subset: &str| {
        route
            .as_array()
            .expect("route")
            .iter()
            .find(|d| d["destination"]["subset"] == subset)
            .and_then(|d| d["weight"].as_i64())
            .unwrap_or(0)
    };
    let state = vs["metadata"]["annotations"]["bizra.dev/rollout"]
        .as_str()
        .map(|s| serde_json::from_str(s).expect("state JSON"))
        .unwrap_or(serde_json::Value::Null);
    let resource_version = vs["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    (
        (weight("stable"), weight("canary")),
        state,
        resource_version,
    )
}

/// `spec.replicas` and the first container's image of a Deployment.
pub fn deployment_spec(namespace: &str, name: &str) -> (i64, String) {
    let d: serde_json::Value = serde_json::from_str(&kubectl_ok(&[
        "get",
        "deployment",
        name,
        "-n",
        namespace,
        "-o",
        "json",
    ]))
    .expect("Deployment JSON");
    (
        d["spec"]["replicas"].as_i64().unwrap_or(-1),
        d["spec"]["template"]["spec"]["containers"][0]["image"]
            .as_str()
            .unwrap_or("")
            .to_owned(),
    )
}

/// The events of a rollout's history, in order.
pub fn history_events(state: &serde_json::Value) -> Vec<String> {
    state["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| h["event"].as_str().unwrap_or("").to_owned())
        .collect()
}

/// The history of a release that ran to completion, event by event.
pub const COMPLETED_RELEASE_HISTORY: [&str; 6] = [
    "Started",
    "Advanced",
    "Advanced",
    "Completing",
    "StableUpdated",
    "Completed",
];

/// Waits until the VirtualService gives the canary `weight` percent.
pub fn wait_for_canary_weight(namespace: &str, weight: i64, timeout: Duration) {
    eventually(&format!("canary at {weight}%"), timeout, || {
        (rollout(namespace).0.1 == weight).then_some(())
    });
}

/// Analysis flags for short test stages: a 20 s rate window and 50 requests make a verdict.
pub const FAST_ANALYSIS: &[&str] = &[
    "--prometheus-url",
    PROMETHEUS_URL,
    "--window",
    "20s",
    "--min-requests",
    "50",
    "--interval",
    "5s",
];

/// Checks report files against a format's published schema (`"sarif"` or `"junit"`) with the
/// validators tests/schemas/fetch.sh installs; `Err` holds the validator's account.
pub fn schema_check(format: &str, files: &[&Path]) -> Result<String, String> {
    let dir = std::env::var_os("BIZRA_SCHEMAS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("BIZRA_CACHE")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("/var/cache/kubectl-bizra"));
            cache.join("schemas")
        });
    let python = dir.join("venv/bin/python");
    assert!(
        python.is_file() && dir.join("validate.py").is_file(),
        "the schemas and validators are not in {}: run bash tests/schemas/fetch.sh",
        dir.display()
    );
    let out = Command::new(python)
        .arg(dir.join("validate.py"))
        .arg(format)
        .args(files)
        .output()
        .expect("the schema validator runs");
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

/// A pipe read into memory by a thread of its own, so a process that keeps running (a watch)
/// can be read while it runs.
pub struct Collected {
    text: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl Collected {
    pub fn text(&self) -> String {
        let bytes = self.text.lock().map(|b| b.clone()).unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

pub fn read_in_background(mut pipe: impl std::io::Read + Send + 'static) -> Collected {
    let text = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&text);
    std::thread::spawn(move || {
        let mut buffer = [0u8; 8192];
        while let Ok(n) = pipe.read(&mut buffer) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = sink.lock() {
                text.extend_from_slice(&buffer[..n]);
            }
        }
    });
    Collected { text }
}

/// A TCP relay on loopback between a client and `upstream` that can cut every connection and
/// refuse new ones, as a network partition would, and be restored.
pub struct Relay {
    pub port: u16,
    open: std::sync::Arc<std::sync::atomic::AtomicBool>,
    live: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Relay {
    pub fn start(upstream: std::net::SocketAddr) -> Relay {
        use std::sync::atomic::Ordering;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the relay");
        let port = listener.local_addr().expect("address").port();
        let open = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
        let live = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (is_open, streams) = (open.clone(), live.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if !is_open.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = std::net::TcpStream::connect(upstream) else {
                    continue;
                };
                for stream in [&client, &server] {
                    if let (Ok(clone), Ok(mut list)) = (stream.try_clone(), streams.lock()) {
                        list.push(clone);
                    }
                }
                let pump = |mut from: std::net::TcpStream, mut to: std::net::TcpStream| {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                };
                if let (Ok(c), Ok(s)) = (client.try_clone(), server.try_clone()) {
                    pump(c, server);
                    pump(s, client);
                }
            }
        });
        Relay { port, open, live }
    }

    /// Closes every connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, std::sync::atomic::Ordering::SeqCst);
        if let Ok(mut live) = self.live.lock() {
            for stream in live.drain(..) {
                let _ = stream.shutdown(std::net::Shutdown::Both);
            }
        }
    }

    pub fn restore(&self) {
        self.open.store(true, std::sync::atomic::Ordering::SeqCst);
    }

    /// A copy of the local cluster's kubeconfig whose server is this relay.
    pub fn kubeconfig(&self, file: &Path) -> PathBuf {
        let text = std::fs::read_to_string(kubeconfig()).expect("kubeconfig");
        let server = apiserver_url();
        let relayed = format!("https://127.0.0.1:{}", self.port);
        assert!(text.contains(&server), "{server} not in the kubeconfig");
        std::fs::write(file, text.replace(&server, &relayed)).expect("write kubeconfig");
        file.to_path_buf()
    }
}

/// The apiserver's URL as the local cluster's kubeconfig names it, without a trailing `/`.
pub fn apiserver_url() -> String {
    kubectl_ok(&[
        "config",
        "view",
        "--minify",
        "-o",
        "jsonpath={.clusters[0].cluster.server}",
    ])
    .trim_end_matches('/')
    .to_owned()
}

/// The apiserver's address, from the kubeconfig's server URL.
pub fn apiserver_address() -> std::net::SocketAddr {
    let server = apiserver_url();
    server
        .trim_start_matches("https://")
        .parse()
        .unwrap_or_else(|e| panic!("{server}: {e}"))
}
