//! What an operator sees while the plugin works, on the local cluster: live progress on a
//! terminal (a pseudo-terminal from util-linux's `script`), one line per change in a log, colour
//! only on a terminal and never with NO_COLOR, `--no-progress`, the `-v` request log, and
//! `status --watch` printing each change it hears through the watch API.

#[path = "../support/mod.rs"]
mod support;

use std::process::Command;
use std::time::Duration;

use support::*;

/// Runs the plugin on a pseudo-terminal (stdout and stderr both on it) and returns everything
/// the terminal received, escape sequences included.
fn on_a_terminal(args: &[&str], env: &[(&str, &str)]) -> (i32, String) {
    let quoted: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .chain(args.iter().copied())
        .map(|word| format!("'{}'", word.replace('\'', r"'\''")))
        .collect();
    let mut script = command("script");
    script
        .args(["--quiet", "--flush", "--return", "--command"])
        .arg(quoted.join(" "))
        .arg("/dev/null")
        .env("TERM", "xterm-256color")
        .env_remove("NO_COLOR");
    for (name, value) in env {
        script.env(name, value);
    }
    let out = script.output().expect("script (util-linux) runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// SGR colour sequences (`ESC [ 3x m`), as the plugin writes them.
fn colours(text: &str) -> usize {
    ["\u{1b}[31m", "\u{1b}[32m", "\u{1b}[33m"]
        .iter()
        .map(|c| text.matches(c).count())
        .sum()
}

/// Signs of a line rewritten in place: indicatif clears lines and moves the cursor up.
fn redraws(text: &str) -> usize {
    text.matches("\u{1b}[2K").count() + text.matches("\u{1b}[1A").count()
}

/// A namespace whose Deployment takes a few seconds to roll out: `kubectl bizra deploy` waits.
fn deploy_args(ns: &str) -> Vec<String> {
    ["deploy", "-n", ns, "--no-validate", "--timeout", "3m"]
        .iter()
        .map(|s| s.to_string())
        .collect()
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn on_a_terminal_progress_is_live_and_verdicts_are_coloured() {
    let ns = TestNamespace::new("progress-live");
    let args = deploy_args(&ns.name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, screen) = on_a_terminal(&args, &[]);
    assert_eq!(code, 0, "{screen}");
    assert!(
        redraws(&screen) > 0,
        "no line was rewritten in place:\n{screen:?}"
    );
    assert!(
        screen.contains("\u{1b}[32m✓\u{1b}[0m deployment bizra-apex: "),
        "no green mark for the finished rollout:\n{screen:?}"
    );
    // The validation table's verdicts are coloured on the terminal too.
    let (_, table) = on_a_terminal(&["validate", "-n", &ns.name, "--gate", "pod-health"], &[]);
    assert!(table.contains("\u{1b}[32mPASS\u{1b}[0m"), "{table:?}");

    // NO_COLOR: still live, never coloured.
    let ns = TestNamespace::new("progress-nocolor");
    let args = deploy_args(&ns.name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, screen) = on_a_terminal(&args, &[("NO_COLOR", "1")]);
    assert_eq!(code, 0, "{screen}");
    assert!(redraws(&screen) > 0, "{screen:?}");
    assert_eq!(colours(&screen), 0, "{screen:?}");
    let (_, table) = on_a_terminal(
        &["validate", "-n", &ns.name, "--gate", "pod-health"],
        &[("NO_COLOR", "1")],
    );
    assert_eq!(colours(&table), 0, "{table:?}");

    // --no-progress: plain lines on the terminal, nothing rewritten.
    let ns = TestNamespace::new("progress-off");
    let mut args = deploy_args(&ns.name);
    args.push("--no-progress".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, screen) = on_a_terminal(&args, &[]);
    assert_eq!(code, 0, "{screen}");
    assert_eq!(redraws(&screen), 0, "{screen:?}");
    assert!(screen.contains("deployment bizra-apex: "), "{screen:?}");
}

/// The progress lines of one task (`deployment bizra-apex: ...`) in a log.
fn task_lines<'a>(log: &'a str, task: &str) -> Vec<&'a str> {
    log.lines()
        .filter(|l| l.starts_with(&format!("{task}: ")))
        .collect()
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn in_a_log_progress_is_one_line_per_change() {
    let ns = TestNamespace::new("progress-log");
    let args = deploy_args(&ns.name);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = bizra(&args);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        !log.contains('\u{1b}'),
        "escape sequences in a log: {log:?}"
    );
    for task in ["deployment bizra-apex", "deployment bizra-apex-canary"] {
        let lines = task_lines(&log, task);
        assert!(!lines.is_empty(), "no progress of {task}:\n{log}");
        for pair in lines.windows(2) {
            assert_ne!(pair[0], pair[1], "a line repeated without a change:\n{log}");
        }
        assert!(
            lines
                .last()
                .is_some_and(|l| l.contains("successfully rolled out")),
            "{log}"
        );
    }
    // validate --wait on a pod that turns unready and back: each gate says each change once,
    // however many times it was checked.
    let pod = stable_pods(&ns.name)[0].clone();
    kubectl_ok(&[
        "annotate",
        "pod",
        &pod,
        "-n",
        &ns.name,
        "sim.bizra.dev/ready=false",
    ]);
    eventually("the pod unready", Duration::from_secs(60), || {
        let ready = kubectl_ok(&[
            "get",
            "pod",
            &pod,
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}",
        ]);
        (ready == "False").then_some(())
    });
    let child = bizra_spawn(&[
        "validate",
        "-n",
        &ns.name,
        "--gate",
        "pod-health",
        "--wait",
        "2m",
    ]);
    std::thread::sleep(Duration::from_secs(12));
    kubectl_ok(&[
        "annotate",
        "pod",
        &pod,
        "-n",
        &ns.name,
        "sim.bizra.dev/ready=true",
        "--overwrite",
    ]);
    let out = finish(child, Duration::from_secs(150));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let log = stderr(&out);
    let lines = task_lines(&log, "gate pod-health");
    assert!(
        lines
            .first()
            .is_some_and(|l| l.starts_with("gate pod-health: fail: ")),
        "{log}"
    );
    assert!(
        lines
            .last()
            .is_some_and(|l| l.starts_with("gate pod-health: pass: ")),
        "{log}"
    );
    for pair in lines.windows(2) {
        assert_ne!(pair[0], pair[1], "{log}");
    }
    // Checked every 5 s for at least 12 s, but said only when it changed.
    assert!(lines.len() <= 4, "{log}");
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn verbosity_six_logs_each_request_and_eight_its_bodies() {
    let ns = deployed("verbosity");
    let args = |level: &'static str| {
        vec![
            "validate",
            "-n",
            &ns.name,
            "--gate",
            "pod-health",
            "--gate",
            "sla",
            "--prometheus-url",
            PROMETHEUS_URL,
            "-v",
            level,
        ]
    };
    let request = format!(
        "GET {}/apis/apps/v1/namespaces/{}/deployments/bizra-apex 200 OK in ",
        apiserver_url(),
        ns.name
    );
    let prometheus = "GET http://127.0.0.1:9090/api/v1/query?query=";
    let quiet = stderr(&bizra(&args("0")));
    assert!(
        !quiet.contains(&request) && !quiet.contains(prometheus),
        "{quiet}"
    );
    let six = stderr(&bizra(&args("6")));
    assert!(
        six.contains(&request),
        "no apiserver request logged:\n{six}"
    );
    let logged = six
        .lines()
        .find(|l| l.contains(&request))
        .expect("request line");
    assert!(logged.trim_end().ends_with(" milliseconds"), "{logged}");
    assert!(
        six.contains(prometheus),
        "no Prometheus request logged:\n{six}"
    );
    assert!(!six.contains("Response Body:"), "{six}");
    let eight = stderr(&bizra(&args("8")));
    assert!(eight.contains("Response Body: {"), "{eight}");
    assert!(eight.contains("\"kind\":\"Deployment\""), "{eight}");
}

/// The JSON documents printed so far by `status --watch -o json`.
fn documents(text: &str) -> Vec<serde_json::Value> {
    serde_json::Deserializer::from_str(text)
        .into_iter::<serde_json::Value>()
        .map_while(Result::ok)
        .collect()
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn status_watch_prints_each_change_it_hears() {
    let ns = deployed("status-watch");
    // -v 6 shows how it hears: watch requests, not a read every few seconds.
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .args(["status", "-n", &ns.name, "--watch", "-o", "json", "-v", "6"])
        .env("KUBECONFIG", kubeconfig())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("status --watch starts");
    let reader = read_in_background(child.stdout.take().expect("stdout"));
    let log = read_in_background(child.stderr.take().expect("stderr"));
    eventually("the first status", Duration::from_secs(30), || {
        (documents(&reader.text()).len() == 1).then_some(())
    });
    kubectl_ok(&[
        "scale",
        "deployment",
        "bizra-apex-canary",
        "-n",
        &ns.name,
        "--replicas=2",
    ]);
    let printed = eventually("the scaled canary", Duration::from_secs(60), || {
        let docs = documents(&reader.text());
        docs.iter()
            .any(|d| d["tracks"][1]["desired"] == 2 && d["tracks"][1]["ready"] == 2)
            .then_some(docs)
    });
    // Quiet for longer than any poll interval: nothing is read again.
    std::thread::sleep(Duration::from_secs(10));
    let _ = child.kill();
    let _ = child.wait();
    let log = log.text();
    let requests = |path: &str, watch: bool| {
        log.lines()
            .filter(|l| l.contains(path) && l.contains("watch=true") == watch)
            .filter(|l| l.contains(" 200 OK in "))
            .count()
    };
    let deployments = format!("/apis/apps/v1/namespaces/{}/deployments", ns.name);
    let routes = format!("/namespaces/{}/virtualservices", ns.name);
    // Each object read once as the command starts, once more to start following it, then
    // watched: one watch per Deployment and one of the routes.
    assert!(requests(&deployments, true) >= 2, "{log}");
    assert!(requests(&routes, true) >= 1, "{log}");
    assert!(requests(&deployments, false) <= 4, "{log}");
    assert!(requests(&routes, false) <= 2, "{log}");
    // Every document differs from the one before: a print per change, none per poll.
    for pair in printed.windows(2) {
        assert_ne!(pair[0], pair[1]);
    }
    // The canary of the shipped manifests starts at 0 replicas.
    assert_eq!(printed[0]["tracks"][1]["desired"], 0, "{:#}", printed[0]);
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn status_watch_without_the_watch_verb_says_so_and_ends() {
    let ns = deployed("status-nowatch");
    kubectl_ok(&[
        "create",
        "role",
        "look-no-watch",
        "-n",
        &ns.name,
        "--verb=get,list",
        "--resource=deployments.apps,virtualservices.networking.istio.io",
    ]);
    kubectl_ok(&["create", "serviceaccount", "looker", "-n", &ns.name]);
    kubectl_ok(&[
        "create",
        "rolebinding",
        "looker",
        "-n",
        &ns.name,
        "--role=look-no-watch",
        &format!("--serviceaccount={}:looker", ns.name),
    ]);
    let looker = service_account_kubeconfig(&ns.name, "looker");
    let looker = looker.to_str().expect("path");
    // It may read: status works.
    let out = bizra(&["status", "-n", &ns.name, "--kubeconfig", looker]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    // It may not watch: --watch prints once, then says why it stops, and fails.
    let child = bizra_spawn(&["status", "-n", &ns.name, "--watch", "--kubeconfig", looker]);
    let out = finish(child, Duration::from_secs(60));
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stdout(&out).contains("Rollout:"), "{}", stdout(&out));
    assert!(stderr(&out).contains("forbidden"), "{}", stderr(&out));
    assert!(!stderr(&out).contains("retrying"), "{}", stderr(&out));
}
