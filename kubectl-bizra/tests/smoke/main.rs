//! The local cluster from start to end: the harness brings up a real control plane with KWOK
//! nodes, a Deployment of simulated bizra-apex pods becomes Available through the real
//! controllers, the pod proxy reaches the node simulator, kubectl finds the plugin, and `down`
//! leaves nothing behind. It owns the cluster's lifecycle, so it runs alone (tests/run.sh).

#[path = "../support/mod.rs"]
mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use support::*;

const PODS_NETNS: &str = "bizra-pods";
const FAKE_RANGES: [&str; 3] = ["10.244.0.0/16", "10.96.0.0/16", "10.0.0.0/24"];

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .expect("command runs");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn harness_ok(action: &str) -> Duration {
    let start = Instant::now();
    let out = harness(action);
    assert!(
        out.status.success(),
        "harness.sh {action} failed:\n{}",
        stderr(&out)
    );
    start.elapsed()
}

fn cluster_processes() -> Vec<String> {
    let state =
        std::env::var("BIZRA_CLUSTER_DIR").unwrap_or_else(|_| "/var/tmp/bizra-cluster".into());
    run("pgrep", &["-af", &state])
        .lines()
        .filter(|line| !line.contains("pgrep"))
        .map(str::to_owned)
        .collect()
}

fn assert_nothing_left() {
    let processes = cluster_processes();
    assert!(
        processes.is_empty(),
        "processes left after down: {processes:?}"
    );
    assert!(
        !run("ip", &["netns", "list"]).contains(PODS_NETNS),
        "network namespace left after down"
    );
    let routes = run("ip", &["route", "show", "table", "all"]);
    for range in FAKE_RANGES {
        assert!(
            !routes.contains(range),
            "route for {range} left after down:\n{routes}"
        );
    }
    assert!(
        !run("ip", &["-br", "link"]).contains("bzpods0"),
        "veth left after down"
    );
}

const SIMULATED_DEPLOYMENT: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: smoke, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: smoke}}
  template:
    metadata: {labels: {app: smoke}}
    spec:
      containers:
      - name: node
        image: ghcr.io/bizra/node:v2.2.0-rc1
        ports: [{name: rust-metrics, containerPort: 9464}]
"#;

#[test]
#[ignore = "starts and stops the local cluster; run by tests/run.sh"]
fn cluster_lifecycle() {
    // From nothing, even after an earlier run died half-way.
    harness_ok("down");
    assert_nothing_left();
    let first = harness_ok("up");
    let second = harness_ok("up");
    eprintln!("harness up: {first:.1?} from scratch, {second:.1?} when already up");
    assert!(
        harness("status").status.success(),
        "status must report a running cluster"
    );

    // A Deployment becomes Available through the real deployment controller and scheduler.
    let mut apply = command("kubectl")
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl apply");
    std::io::Write::write_all(
        apply.stdin.as_mut().expect("stdin"),
        SIMULATED_DEPLOYMENT.as_bytes(),
    )
    .expect("write manifest");
    assert!(apply.wait().expect("kubectl apply").success());
    kubectl_ok(&[
        "rollout",
        "status",
        "deployment/smoke",
        "-n",
        "default",
        "--timeout=120s",
    ]);
    let nodes = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        "default",
        "-l",
        "app=smoke",
        "-o",
        "jsonpath={.items[*].spec.nodeName}",
    ]);
    assert_eq!(
        nodes.split_whitespace().count(),
        3,
        "every pod scheduled: {nodes}"
    );

    // The pod proxy reaches the simulator at the pod's IP.
    let pod = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        "default",
        "-l",
        "app=smoke",
        "-o",
        "jsonpath={.items[0].metadata.name}",
    ]);
    let metrics = kubectl_ok(&[
        "get",
        "--raw",
        &format!("/api/v1/namespaces/default/pods/{pod}:9464/proxy/metrics"),
    ]);
    for family in [
        "bizra_finality_check_seconds",
        "bizra_poi_generate_seconds",
        "bizra_poi_verify_seconds",
        "bizra_errors_total",
    ] {
        assert!(
            metrics.contains(&format!("# TYPE {family} ")),
            "{family} missing from:\n{metrics}"
        );
    }
    let logs = eventually(
        "the pod's log through kwok",
        Duration::from_secs(30),
        || {
            let out = kubectl(&["logs", "-n", "default", &pod]);
            out.status.success().then(|| stdout(&out))
        },
    );
    assert!(
        logs.contains("starting bizra-apex"),
        "pod log served through kwok: {logs}"
    );

    // kubectl finds the plugin and the plugin reaches the server.
    let plugins = kubectl_ok(&["plugin", "list", "--name-only"]);
    assert!(
        plugins.lines().any(|l| l.trim() == "kubectl-bizra"),
        "plugin list: {plugins}"
    );
    let version = command("kubectl")
        .args(["bizra", "version", "-o", "json"])
        .output()
        .expect("kubectl bizra");
    assert!(
        version.status.success(),
        "kubectl bizra version: {}",
        stderr(&version)
    );
    let report: serde_json::Value = serde_json::from_slice(&version.stdout).expect("json");
    assert_eq!(report["serverVersion"]["gitVersion"], "v1.35.4", "{report}");

    harness_ok("down");
    assert_nothing_left();
    let after = harness("status");
    assert!(
        !after.status.success(),
        "status must fail once the cluster is down"
    );
}
