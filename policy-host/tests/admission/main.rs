//! The admission edge end to end: the real kube-apiserver admits and rejects through the compiled
//! policy. tests/cluster/admission.sh registers the webhook configurations derived from
//! manifests/policy/ and runs the test bed's admission server; images are pushed to the local
//! registry and signed here. Needs the local cluster (tests/run.sh starts it and runs this binary
//! with --ignored, one test at a time: tests change the server's mode).

mod edge;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn state_dir() -> PathBuf {
    PathBuf::from(
        std::env::var("BIZRA_CLUSTER_DIR").unwrap_or_else(|_| "/var/tmp/bizra-cluster".into()),
    )
}

fn admission_dir() -> PathBuf {
    state_dir().join("admission")
}

pub const VALIDATING_POLICY: &str = "kw.cap.bizra-secure-pods";
pub const PINNING_POLICY: &str = "kw.cap.bizra-pin-digests";
pub const REGISTRY: &str = "127.0.0.1:5055";

/// Tests change the one admission server's mode: one at a time.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: OnceLock<Mutex<()>> = OnceLock::new();
    LOCK.get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// `admission.sh ACTION` with `env`; panics with its output when it fails.
fn admission(action: &str, env: &[(&str, &str)]) {
    let out = Command::new("bash")
        .arg(repo_root().join("tests/cluster/admission.sh"))
        .arg(action)
        .envs(env.iter().copied())
        .output()
        .expect("admission.sh runs");
    assert!(
        out.status.success(),
        "admission.sh {action} failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Puts the edge back as shipped when a test that changed it ends, pass or fail.
struct RestoreOnDrop;

impl Drop for RestoreOnDrop {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(repo_root().join("tests/cluster/admission.sh"))
            .arg("up")
            .status();
    }
}

/// The edge as shipped (protect mode), for a test that holds the lock.
fn enforcing() -> MutexGuard<'static, ()> {
    let guard = serial();
    admission("up", &[]);
    guard
}

fn kubectl_command() -> Command {
    let mut command = Command::new("kubectl");
    command.env("KUBECONFIG", state_dir().join("kubeconfig"));
    command
}

fn kubectl(args: &[&str]) -> Output {
    kubectl_command().args(args).output().expect("kubectl runs")
}

fn kubectl_stdin(args: &[&str], input: &str) -> Output {
    use std::io::Write as _;
    let mut child = kubectl_command()
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(input.as_bytes())
        .expect("write stdin");
    child.wait_with_output().expect("kubectl ends")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn kubectl_ok(args: &[&str]) -> String {
    let out = kubectl(args);
    assert!(out.status.success(), "kubectl {args:?}: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl apply -f -` of `object`.
fn apply(object: &Value) -> Output {
    kubectl_stdin(&["apply", "-f", "-"], &object.to_string())
}

fn eventually<T>(what: &str, timeout: Duration, mut check: impl FnMut() -> Option<T>) -> T {
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

/// A namespace for one test, deleted when it ends.
struct TestNamespace {
    name: String,
}

impl TestNamespace {
    fn new(prefix: &str) -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let name = format!("{prefix}-{}", nanos % 1_000_000);
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

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Pushes an image to the local registry (unsigned) and returns it with its digest.
fn pushed(repository_and_tag: &str) -> (String, String) {
    let image = format!("{REGISTRY}/{repository_and_tag}");
    let digest = block_on(policy_host::oci::push_image(&image, repository_and_tag))
        .unwrap_or_else(|e| panic!("{e}"));
    (image, digest)
}

/// Pushes an image and signs it with the test bed's key (the one the server's settings trust).
fn signed(repository_and_tag: &str) -> (String, String) {
    let (image, digest) = pushed(repository_and_tag);
    let dir = admission_dir();
    let key = policy_host::cosign::CosignKey::from_pem(
        std::fs::read_to_string(dir.join("cosign.key")).expect("cosign.key"),
        std::fs::read_to_string(dir.join("cosign.pub")).expect("cosign.pub"),
        "bizra-test-bed",
    );
    block_on(policy_host::cosign::sign(
        &image,
        &key,
        &[],
        policy_host::cosign::Tamper::Nothing,
    ))
    .unwrap_or_else(|e| panic!("{e}"));
    (image, digest)
}

/// A container that passes every pod-spec rule.
fn compliant_container(name: &str, image: &str) -> Value {
    json!({
        "name": name,
        "image": image,
        "securityContext": {
            "runAsNonRoot": true, "runAsUser": 10001,
            "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"}
        },
        "resources": {"limits": {"cpu": "500m", "memory": "256Mi"}}
    })
}

fn pod(namespace: &str, name: &str, containers: Vec<Value>) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": containers}
    })
}

/// The admission server's log so far.
fn server_log() -> String {
    std::fs::read_to_string(admission_dir().join("server.log")).unwrap_or_default()
}

/// The path of a binary of the workspace built beside this test (`kubectl-bizra`).
fn workspace_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    // target/debug/deps/admission-<hash> → target/debug/<name>
    exe.parent()
        .and_then(|deps| deps.parent())
        .map(|dir| dir.join(name))
        .expect("target dir")
}
