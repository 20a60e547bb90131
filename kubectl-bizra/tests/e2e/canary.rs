//! promote, rollback and status on the local control plane, with Debian's Prometheus scraping the
//! node simulator (whose `sim.bizra.dev/*` annotations make canary pods fail, slow or silent).

use std::time::Duration;

use crate::support::*;

fn with(base: &[&str], extra: &[&str]) -> Vec<String> {
    base.iter().chain(extra).map(|s| s.to_string()).collect()
}

fn promote(ns: &str, extra: &[&str]) -> (i32, serde_json::Value) {
    let args = with(&["promote", "-n", ns], extra);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bizra_json(&args)
}

/// Starts a release (canary at 5 %) and waits until Prometheus has enough canary samples for a
/// verdict with [`FAST_ANALYSIS`].
fn started(ns: &str) {
    let (code, report) = promote(ns, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["outcome"], "Started");
    assert_eq!(rollout(ns).0, (95, 5));
    std::thread::sleep(Duration::from_secs(25));
}

#[test]
#[ignore = "needs the local cluster"]
fn auto_runs_the_whole_plan_and_completes() {
    let ns = deployed("auto");
    let args = with(
        &[
            "promote",
            "-n",
            &ns.name,
            "--auto",
            "--image",
            "ghcr.io/bizra/node:v2.3.0",
            "--stages",
            "5:10s,25:10s,50:10s",
        ],
        FAST_ANALYSIS,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, report) = bizra_json(&args);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["outcome"], "Completed");

    let ((stable, canary), state, _) = rollout(&ns.name);
    assert_eq!((stable, canary), (100, 0));
    assert_eq!(state["phase"], "Completed");
    assert_eq!(history_events(&state), COMPLETED_RELEASE_HISTORY);
    let weights: Vec<i64> = state["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|h| h["canaryWeight"].as_i64().unwrap_or(-1))
        .collect();
    assert_eq!(weights, [5, 25, 50, 100, 0, 0]);
    // Stable runs the canary's template and the canary is gone.
    assert_eq!(
        deployment_spec(&ns.name, "bizra-apex"),
        (3, "ghcr.io/bizra/node:v2.3.0".into())
    );
    assert_eq!(deployment_spec(&ns.name, "bizra-apex-canary").0, 0);
    assert_eq!(
        kubectl_ok(&[
            "rollout",
            "status",
            "deployment/bizra-apex",
            "-n",
            &ns.name,
            "--timeout=10s"
        ])
        .trim(),
        "deployment \"bizra-apex\" successfully rolled out"
    );
    let pods = kubectl_ok(&[
        "get",
        "pods",
        "-n",
        &ns.name,
        "-l",
        "track=stable",
        "-o",
        "jsonpath={range .items[*]}{.spec.containers[0].image}{\"\\n\"}{end}",
    ]);
    assert!(
        pods.lines().all(|i| i == "ghcr.io/bizra/node:v2.3.0"),
        "{pods}"
    );

    // The next release starts clean from 0 %; --image cannot change it once under way.
    let (code, report) = promote(&ns.name, &["--image", "ghcr.io/bizra/node:v2.4.0"]);
    assert_eq!(code, 0, "{report}");
    let out = bizra(&[
        "promote",
        "-n",
        &ns.name,
        "--image",
        "ghcr.io/bizra/node:v2.5.0",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--image only starts one"),
        "{}",
        stderr(&out)
    );
    // Nor may a deploy reset the canary under traffic (the same rule), unless forced.
    let out = bizra(&["deploy", "-n", &ns.name, "--no-validate"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("a canary release is in progress (the canary takes 5% of the traffic"),
        "{}",
        stderr(&out)
    );
    let canary_version = kubectl_ok(&[
        "get",
        "deployment",
        "bizra-apex-canary",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.spec.template.metadata.labels.version}",
    ]);
    assert_eq!(canary_version, "v2.4.0");
    let (_, state, _) = rollout(&ns.name);
    assert_eq!(state["phase"], "Progressing");
    assert_eq!(state["canaryWeight"], 5);
    assert_eq!(state["failedAnalyses"], 0);
    assert_eq!(state["release"]["canaryImage"], "ghcr.io/bizra/node:v2.4.0");
    assert_eq!(state["release"]["stableImage"], "ghcr.io/bizra/node:v2.3.0");
}

/// A breach at the second stage (25 %) makes `--auto` roll back by itself.
fn breach_at_stage_two(prefix: &str, annotation: (&str, &str), failing_check: &str) {
    let ns = release_ready(prefix, &[]);
    let args = with(
        &[
            "promote",
            "-n",
            &ns.name,
            "--auto",
            "--stages",
            "5:5s,25:5m,50:5s",
            "-o",
            "json",
        ],
        FAST_ANALYSIS,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let child = bizra_spawn(&args);
    wait_for_canary_weight(&ns.name, 25, Duration::from_secs(120));
    kubectl_ok(&[
        "annotate",
        "pods",
        "-n",
        &ns.name,
        "-l",
        "track=canary",
        "--overwrite",
        &format!("{}={}", annotation.0, annotation.1),
    ]);
    let out = finish(child, Duration::from_secs(180));
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert_eq!(report["outcome"], "RolledBack", "{report}");
    assert!(
        report["message"]
            .as_str()
            .unwrap_or("")
            .contains(failing_check),
        "{report}"
    );

    let ((stable, canary), state, _) = rollout(&ns.name);
    assert_eq!((stable, canary), (100, 0));
    assert_eq!(state["phase"], "RolledBack");
    // The canary is worse than stable too, with stable's own traffic to compare with.
    let failed = state["analyses"]
        .as_array()
        .and_then(|a| a.iter().rev().find(|r| r["verdict"] == "Fail"))
        .expect("a failed analysis");
    assert_eq!(check_verdict(failed, "versus-stable"), "Fail", "{failed}");
    let reason = state["reason"].as_str().unwrap_or("");
    assert!(
        reason.contains("analysis failed at 25%") && reason.contains(failing_check),
        "{reason}"
    );
    assert_eq!(
        history_events(&state).last().map(String::as_str),
        Some("RolledBack")
    );
    assert_eq!(deployment_spec(&ns.name, "bizra-apex-canary").0, 0);
    // Stable never ran the release.
    assert_eq!(
        deployment_spec(&ns.name, "bizra-apex").1,
        "ghcr.io/bizra/node:v2.2.0-rc1"
    );
}

#[test]
#[ignore = "needs the local cluster"]
fn error_rate_breach_at_stage_two_rolls_back_automatically() {
    breach_at_stage_two(
        "breach-errors",
        ("sim.bizra.dev/error-ratio", "0.05"),
        "error-rate",
    );
}

#[test]
#[ignore = "needs the local cluster"]
fn latency_breach_at_stage_two_rolls_back_automatically() {
    breach_at_stage_two(
        "breach-p99",
        ("sim.bizra.dev/latency-ms", "900"),
        "latency-p99",
    );
}

fn replica_set_revisions(ns: &str) -> Vec<(String, i64, i64)> {
    let text = kubectl_ok(&[
        "get",
        "replicasets",
        "-n",
        ns,
        "-l",
        "track=stable",
        "-o",
        "jsonpath={range .items[*]}{.spec.template.spec.containers[0].image} {.metadata.annotations.deployment\\.kubernetes\\.io/revision} {.spec.replicas}{\"\\n\"}{end}",
    ]);
    let mut rows: Vec<(String, i64, i64)> = text
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            (
                f[0].to_owned(),
                f[1].parse().unwrap_or(-1),
                f[2].parse().unwrap_or(-1),
            )
        })
        .collect();
    rows.sort_by_key(|r| r.1);
    rows
}

#[test]
#[ignore = "needs the local cluster"]
fn full_needs_a_passing_analysis_and_rollback_undoes_a_completed_release() {
    let ns = release_ready("undo", &[]);
    let (code, _) = promote(&ns.name, &[]);
    assert_eq!(code, 0);
    // Far more requests than exist: inconclusive, so --full refuses without --force.
    let (code, report) = promote(
        &ns.name,
        &[
            "--full",
            "--prometheus-url",
            PROMETHEUS_URL,
            "--min-requests",
            "100000000",
        ],
    );
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["outcome"], "Inconclusive");
    assert_eq!(rollout(&ns.name).0, (95, 5));

    let (code, report) = promote(
        &ns.name,
        &[
            "--full",
            "--force",
            "--prometheus-url",
            PROMETHEUS_URL,
            "--min-requests",
            "100000000",
        ],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["outcome"], "Completed");
    assert_eq!(
        replica_set_revisions(&ns.name),
        [
            ("ghcr.io/bizra/node:v2.2.0-rc1".into(), 1, 0),
            ("ghcr.io/bizra/node:v2.3.0".into(), 2, 3)
        ]
    );
    let (_, state, _) = rollout(&ns.name);
    assert!(
        history_events(&state).contains(&"Forced".to_string()),
        "{state}"
    );

    let (code, report) = bizra_json(&["rollback", "-n", &ns.name, "--reason", "pager went off"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rolledBack"], true);
    // As `kubectl rollout undo`: revision 1's template comes back as revision 3.
    assert_eq!(
        replica_set_revisions(&ns.name),
        [
            ("ghcr.io/bizra/node:v2.3.0".into(), 2, 0),
            ("ghcr.io/bizra/node:v2.2.0-rc1".into(), 3, 3)
        ]
    );
    let (weights, state, _) = rollout(&ns.name);
    assert_eq!(weights, (100, 0));
    assert_eq!(state["phase"], "RolledBack");
    assert_eq!(state["reason"], "pager went off");

    // Idempotent: a second rollback changes nothing (no flip back to revision 2).
    let (code, report) = bizra_json(&["rollback", "-n", &ns.name]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["rolledBack"], false);
    assert_eq!(
        replica_set_revisions(&ns.name)[1],
        ("ghcr.io/bizra/node:v2.2.0-rc1".into(), 3, 3)
    );

    // The rolled-back template is not released again by accident.
    let out = bizra(&["promote", "-n", &ns.name]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("was rolled back (pager went off)"),
        "{}",
        stderr(&out)
    );
}

#[test]
#[ignore = "needs the local cluster"]
fn too_little_canary_traffic_is_inconclusive_and_does_not_advance() {
    let ns = release_ready("quiet", &[]);
    // The mesh's clients send 20 requests a second in all: at 5 % the canary serves one a
    // second, 20 in the 20 s window, under the 50 the analysis needs (stable serves 380).
    kubectl_ok(&[
        "annotate",
        "virtualservice",
        "bizra-apex",
        "-n",
        &ns.name,
        "sim.bizra.dev/request-rate=20",
    ]);
    started(&ns.name);
    let (code, report) = promote(&ns.name, FAST_ANALYSIS);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["outcome"], "Inconclusive");
    let error_rate = &report["analysis"]["checks"][0];
    assert_eq!(error_rate["verdict"], "Inconclusive");
    assert!(
        error_rate["message"]
            .as_str()
            .unwrap_or("")
            .contains("is traffic reaching it?"),
        "{error_rate}"
    );
    let (weights, state, _) = rollout(&ns.name);
    assert_eq!(weights, (95, 5));
    assert_eq!(state["inconclusiveAnalyses"], 1);

    // --auto retries until its limit, then stops where it was.
    let args = with(
        &[
            "promote",
            "-n",
            &ns.name,
            "--auto",
            "--inconclusive-limit",
            "1",
        ],
        FAST_ANALYSIS,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, report) = bizra_json(&args);
    assert_eq!(code, 3, "{report}");
    assert_eq!(report["outcome"], "Inconclusive");
    assert_eq!(rollout(&ns.name).0, (95, 5));
}

/// A Prometheus of the test's own, stopped under a release.
struct OwnPrometheus {
    child: std::process::Child,
    url: String,
    _data: tempdir::Dir,
}

mod tempdir {
    pub struct Dir(pub std::path::PathBuf);
    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

impl OwnPrometheus {
    fn start() -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("free port")
            .local_addr()
            .expect("addr")
            .port();
        let state =
            std::env::var("BIZRA_CLUSTER_DIR").unwrap_or_else(|_| "/var/tmp/bizra-cluster".into());
        let data =
            std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("prometheus-{port}"));
        let child = std::process::Command::new("prometheus")
            .arg(format!("--config.file={state}/prometheus.yaml"))
            .arg(format!("--storage.tsdb.path={}", data.display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus");
        let url = format!("http://127.0.0.1:{port}");
        eventually(
            "the test's Prometheus to be ready",
            Duration::from_secs(60),
            || {
                std::process::Command::new("curl")
                    .args(["-fsS", &format!("{url}/-/ready")])
                    .output()
                    .ok()
                    .filter(|o| o.status.success())
                    .map(|_| ())
            },
        );
        OwnPrometheus {
            child,
            url,
            _data: tempdir::Dir(data),
        }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnPrometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
#[ignore = "needs the local cluster"]
fn prometheus_stopped_changes_nothing() {
    let mut prometheus = OwnPrometheus::start();
    let ns = release_ready("promstop", &[]);
    started(&ns.name);
    let url = prometheus.url.clone();
    let analysis = [
        "--prometheus-url",
        url.as_str(),
        "--window",
        "20s",
        "--min-requests",
        "50",
    ];
    // While it runs, the analysis can decide (shown without changing anything).
    let mut args = analysis.to_vec();
    args.push("--dry-run=server");
    let (code, report) = promote(&ns.name, &args);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["outcome"], "Advanced");

    prometheus.stop();
    let (_, _, version_before) = rollout(&ns.name);
    let out = bizra(&[&["promote", "-n", &ns.name][..], &analysis].concat());
    assert_eq!(out.status.code(), Some(3), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot be reached") && stderr(&out).contains("nothing was changed"),
        "{}",
        stderr(&out)
    );
    let (weights, state, version_after) = rollout(&ns.name);
    assert_eq!(weights, (95, 5));
    assert_eq!(
        version_after, version_before,
        "the VirtualService was written"
    );
    assert_eq!(state["inconclusiveAnalyses"], 0);
    assert_eq!(deployment_spec(&ns.name, "bizra-apex-canary").0, 1);
}

#[test]
#[ignore = "needs the local cluster"]
fn two_promotes_at_once_exactly_one_advances() {
    let ns = release_ready("race", &[]);
    started(&ns.name);
    let args = with(&["promote", "-n", &ns.name, "-o", "json"], FAST_ANALYSIS);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let first = bizra_spawn(&args);
    let second = bizra_spawn(&args);
    let outputs = [
        finish(first, Duration::from_secs(120)),
        finish(second, Duration::from_secs(120)),
    ];
    let mut codes: Vec<i32> = outputs
        .iter()
        .map(|o| o.status.code().unwrap_or(-1))
        .collect();
    codes.sort();
    assert_eq!(
        codes,
        [0, 1],
        "{:?}",
        outputs.iter().map(stderr).collect::<Vec<_>>()
    );
    let loser = outputs
        .iter()
        .find(|o| o.status.code() == Some(1))
        .expect("one failed");
    assert!(
        stderr(loser).contains("changed since this command read it"),
        "{}",
        stderr(loser)
    );
    let (weights, state, _) = rollout(&ns.name);
    assert_eq!(weights, (75, 25));
    assert_eq!(history_events(&state), ["Started", "Advanced"]);
}

#[test]
#[ignore = "needs the local cluster"]
fn dry_run_shows_the_change_and_makes_none() {
    let ns = release_ready("dryrun", &[]);
    started(&ns.name);
    let (_, _, version_before) = rollout(&ns.name);
    let mut args = FAST_ANALYSIS.to_vec();
    args.push("--dry-run=server");
    let (code, report) = promote(&ns.name, &args);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["dryRun"], true);
    let change = report["changes"]
        .as_array()
        .expect("changes")
        .iter()
        .find(|c| c["kind"] == "VirtualService")
        .expect("a VirtualService change")
        .clone();
    assert_eq!(
        (change["from"].as_str(), change["to"].as_str()),
        (Some("95/5"), Some("75/25"))
    );
    let (weights, _, version_after) = rollout(&ns.name);
    assert_eq!(weights, (95, 5));
    assert_eq!(version_after, version_before);

    let out = bizra(&["rollback", "-n", &ns.name, "--dry-run=server"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("server dry run"), "{}", stdout(&out));
    assert_eq!(rollout(&ns.name).0, (95, 5));
    assert_eq!(deployment_spec(&ns.name, "bizra-apex-canary").0, 1);
}

#[test]
#[ignore = "needs the local cluster"]
fn status_shows_the_rollout_and_watch_follows_it() {
    let ns = release_ready("status", &[]);
    let watch = bizra_spawn(&["status", "-n", &ns.name, "--watch", "-o", "json"]);
    std::thread::sleep(Duration::from_secs(3));
    let (code, _) = promote(&ns.name, &[]);
    assert_eq!(code, 0);
    std::thread::sleep(Duration::from_secs(5));
    let _ = std::process::Command::new("kill")
        .arg(watch.id().to_string())
        .status();
    let out = finish(watch, Duration::from_secs(10));
    let text = stdout(&out);
    assert!(
        text.contains(r#""phase": "Idle""#) && text.contains(r#""phase": "Progressing""#),
        "{text}"
    );

    let (code, status) = bizra_json(&["status", "-n", &ns.name]);
    assert_eq!(code, 0);
    assert_eq!(status["kind"], "RolloutStatus");
    assert_eq!(status["stage"], "1/3");
    assert_eq!(status["weights"]["canary"], 5);
    let canary = status["tracks"]
        .as_array()
        .expect("tracks")
        .iter()
        .find(|t| t["track"] == "canary")
        .expect("canary")
        .clone();
    assert_eq!(
        (canary["desired"].as_i64(), canary["image"].as_str()),
        (Some(1), Some("ghcr.io/bizra/node:v2.3.0"))
    );
    let yaml = stdout(&bizra(&["status", "-n", &ns.name, "-o", "yaml"]));
    assert!(yaml.contains("kind: RolloutStatus"), "{yaml}");
    let table = stdout(&bizra(&["status", "-n", &ns.name]));
    assert!(
        table.contains("Rollout:   Progressing (stage 1/3)")
            && table.contains("stable 95%, canary 5%"),
        "{table}"
    );
}

#[test]
#[ignore = "needs the local cluster"]
fn bad_input_gets_a_clear_error() {
    let ns = release_ready("badinput", &[]);
    let (code, _) = promote(&ns.name, &[]);
    assert_eq!(code, 0);
    let out = bizra(&["promote", "-n", &ns.name]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("needs a Prometheus"),
        "{}",
        stderr(&out)
    );

    // Routes edited by hand: promote refuses, status says so, rollback resets.
    kubectl_ok(&[
        "patch",
        "virtualservice",
        "bizra-apex",
        "-n",
        &ns.name,
        "--type",
        "json",
        "-p",
        r#"[{"op":"replace","path":"/spec/http/0/route/0/weight","value":50},{"op":"replace","path":"/spec/http/0/route/1/weight","value":50}]"#,
    ]);
    let out = bizra(&[
        "promote",
        "-n",
        &ns.name,
        "--prometheus-url",
        PROMETHEUS_URL,
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("edited outside kubectl bizra"),
        "{}",
        stderr(&out)
    );
    let (_, status) = bizra_json(&["status", "-n", &ns.name]);
    assert_eq!(status["weightsEdited"], true);
    let (code, _) = bizra_json(&["rollback", "-n", &ns.name]);
    assert_eq!(code, 0);
    assert_eq!(rollout(&ns.name).0, (100, 0));

    let empty = TestNamespace::new("novs");
    let out = bizra(&["status", "-n", &empty.name]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("VirtualService \"bizra-apex\" not found"),
        "{}",
        stderr(&out)
    );
    let out = bizra(&["promote", "-n", &ns.name, "--stages", "50:1m,25:1m"]);
    assert_eq!(out.status.code(), Some(2));
}

/// A ServiceAccount of `ns` bound (in `ns` only) to one of the manifests' ClusterRoles.
fn bound_account(ns: &str, account: &str, role: &str) -> std::path::PathBuf {
    let roles = repo_root().join("manifests/rbac/roles.yaml");
    kubectl_ok(&[
        "apply",
        "--server-side",
        "-f",
        roles.to_str().expect("path"),
    ]);
    kubectl_ok(&["create", "serviceaccount", account, "-n", ns]);
    kubectl_ok(&[
        "create",
        "rolebinding",
        account,
        "-n",
        ns,
        &format!("--clusterrole={role}"),
        &format!("--serviceaccount={ns}:{account}"),
    ]);
    service_account_kubeconfig(ns, account)
}

#[test]
#[ignore = "needs the local cluster"]
fn the_operator_role_can_release_and_roll_back_and_the_viewer_can_only_look() {
    let ns = release_ready("rbac-canary", &[]);
    let operator = bound_account(&ns.name, "bizra-release", "bizra-operator");
    let viewer = bound_account(&ns.name, "bizra-look", "bizra-viewer");
    let as_user = |kubeconfig: &std::path::Path, args: &[&str]| {
        let mut all = args.to_vec();
        all.extend([
            "-n",
            &ns.name,
            "--kubeconfig",
            kubeconfig.to_str().expect("path"),
        ]);
        bizra(&all)
    };

    let out = as_user(&operator, &["promote"]);
    assert!(out.status.success(), "operator promote: {}", stderr(&out));
    assert_eq!(rollout(&ns.name).0, (95, 5));
    let out = as_user(&viewer, &["status", "-o", "json"]);
    assert!(out.status.success(), "viewer status: {}", stderr(&out));
    // The viewer cannot move traffic: the write is refused and nothing changes.
    let out = as_user(&viewer, &["rollback"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    assert_eq!(rollout(&ns.name).0, (95, 5));

    let out = as_user(
        &operator,
        &[
            "promote",
            "--full",
            "--force",
            "--prometheus-url",
            PROMETHEUS_URL,
        ],
    );
    assert!(out.status.success(), "operator --full: {}", stderr(&out));
    let out = as_user(&operator, &["rollback", "--reason", "rbac test"]);
    assert!(out.status.success(), "operator rollback: {}", stderr(&out));
    let (weights, state, _) = rollout(&ns.name);
    assert_eq!(weights, (100, 0));
    assert_eq!(state["phase"], "RolledBack");
    assert_eq!(
        deployment_spec(&ns.name, "bizra-apex").1,
        "ghcr.io/bizra/node:v2.2.0-rc1"
    );
}

/// The verdict of one check of a recorded analysis.
fn check_verdict<'a>(record: &'a serde_json::Value, check: &str) -> &'a str {
    record["checks"]
        .as_array()
        .and_then(|checks| checks.iter().find(|c| c["check"] == check))
        .and_then(|c| c["verdict"].as_str())
        .unwrap_or_else(|| panic!("no {check} in {record}"))
}

/// The value of an instant query that sums to one number, at `time` (seconds since the epoch);
/// 0 when there is no series.
fn prometheus_value(query: &str, time: f64) -> f64 {
    prometheus_query(query, Some(time))
        .first()
        .and_then(|series| series["value"][1].as_str())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[test]
#[ignore = "needs the local cluster"]
fn traffic_follows_the_weights_at_every_stage() {
    let ns = release_ready("share", &[]);
    // A ready canary pod at 0 % serves nothing while stable serves the whole rate.
    kubectl_ok(&[
        "scale",
        "deployment",
        "bizra-apex-canary",
        "-n",
        &ns.name,
        "--replicas=1",
    ]);
    kubectl_ok(&[
        "rollout",
        "status",
        "deployment/bizra-apex-canary",
        "-n",
        &ns.name,
        "--timeout=90s",
    ]);
    let canary_ready = std::time::Instant::now();
    let ns_name = ns.name.clone();
    let args = with(
        &[
            "promote",
            "-n",
            &ns.name,
            "--auto",
            "--stages",
            "5:45s,25:45s,50:45s",
        ],
        FAST_ANALYSIS,
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let count = |track: &str| {
        let selector = match track {
            "all" => format!("namespace=\"{ns_name}\""),
            track => format!("namespace=\"{ns_name}\",track=\"{track}\""),
        };
        move |window: u64, at: f64| {
            prometheus_value(
                &format!("sum(increase(bizra_rpc_requests_total{{{selector}}}[{window}s]))"),
                at,
            )
        }
    };
    let (all_before, measured_at) =
        eventually("20 s of stable traffic", Duration::from_secs(90), || {
            let at = now_seconds();
            let all = count("all")(20, at);
            (all > 1000.0 && canary_ready.elapsed() > Duration::from_secs(25)).then_some((all, at))
        });
    let before = count("canary")(20, measured_at);
    assert_eq!(
        before, 0.0,
        "the ready canary at 0 % served {before} of {all_before:.0} requests"
    );
    let (code, report) = bizra_json(&args);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["outcome"], "Completed", "{report}");
    // The analyses passed as before: the minimum sample reached, the canary no worse than stable.
    let (_, state, _) = rollout(&ns.name);
    let analyses = state["analyses"].as_array().expect("analyses");
    assert!(!analyses.is_empty(), "{state}");
    for record in analyses {
        assert_eq!(check_verdict(record, "error-rate"), "Pass", "{record}");
        assert_eq!(check_verdict(record, "versus-stable"), "Pass", "{record}");
    }
    let history = state["history"].as_array().expect("history").clone();
    // At each stage, the canary's share of what Prometheus counted is its weight, within 2
    // points: the window keeps 10 s (two scrapes) clear of each change of weights.
    let mut shares = Vec::new();
    for pair in history.windows(2) {
        let weight = pair[0]["canaryWeight"].as_i64().expect("weight");
        if !(1..100).contains(&weight) {
            continue;
        }
        let (start, end) = (
            timestamp_seconds(&pair[0]["at"]),
            timestamp_seconds(&pair[1]["at"]),
        );
        let window = (end - start - 20.0).floor() as u64;
        assert!(window >= 20, "stage {weight}% lasted {:.0} s", end - start);
        let at = end - 10.0;
        let canary = count("canary")(window, at);
        let all = count("all")(window, at);
        let share = 100.0 * canary / all;
        shares.push((weight, share));
        assert!(
            (share - weight as f64).abs() <= 2.0,
            "at {weight}% the canary served {canary:.0} of {all:.0} requests ({share:.2}%)"
        );
    }
    assert_eq!(shares.len(), 3, "{shares:?}: {history:?}");
    eprintln!("canary share by stage (weight, % of requests): {shares:?}");
}
