//! `promote --auto` under disruption: the apiserver restarted mid-run, and the plugin killed with
//! SIGKILL mid-stage. Both must leave weights and state consistent, and a new `promote --auto`
//! must resume from the recorded stage. They restart shared parts of the local cluster, so
//! tests/run.sh runs this binary alone, after the e2e tests, one test at a time.

#[path = "../support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use support::*;

fn auto_args(ns: &str, stages: &str) -> Vec<String> {
    [
        "promote", "-n", ns, "--auto", "-o", "json", "--stages", stages,
    ]
    .iter()
    .chain(FAST_ANALYSIS)
    .map(|s| s.to_string())
    .collect()
}

fn spawn_auto(ns: &str, stages: &str) -> std::process::Child {
    let args = auto_args(ns, stages);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    bizra_spawn(&args)
}

/// Weights on the routes always match the state written with them.
fn assert_consistent(ns: &str) -> serde_json::Value {
    let ((stable, canary), state, _) = rollout(ns);
    assert_eq!(stable + canary, 100);
    assert_eq!(state["canaryWeight"].as_i64(), Some(canary), "{state}");
    state
}

fn timestamp_seconds(value: &serde_json::Value) -> f64 {
    let text = value.as_str().expect("timestamp");
    let out = std::process::Command::new("date")
        .args(["-d", text, "+%s.%N"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("seconds")
}

#[test]
#[ignore = "restarts the local cluster's apiserver"]
fn auto_survives_an_apiserver_restart() {
    let ns = release_ready("apirestart", &[]);
    let child = spawn_auto(&ns.name, "5:10s,25:20s,50:10s");
    wait_for_canary_weight(&ns.name, 25, Duration::from_secs(120));
    // Down for longer than the analysis interval, so the run certainly meets it.
    let restart = harness_with("restart-apiserver", &["12"]);
    assert!(restart.status.success(), "{}", stderr(&restart));
    let out = finish(child, Duration::from_secs(300));
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("will retry"),
        "the run never saw the apiserver down: {}",
        stderr(&out)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).expect("report JSON");
    assert_eq!(report["outcome"], "Completed");
    let state = assert_consistent(&ns.name);
    assert_eq!(state["phase"], "Completed");
    assert_eq!(history_events(&state), COMPLETED_RELEASE_HISTORY);
    assert_eq!(
        deployment_spec(&ns.name, "bizra-apex"),
        (3, "ghcr.io/bizra/node:v2.3.0".into())
    );
    assert_eq!(deployment_spec(&ns.name, "bizra-apex-canary").0, 0);
}

#[test]
#[ignore = "needs the local cluster"]
fn sigkill_mid_stage_then_auto_resumes_from_the_recorded_stage() {
    let ns = release_ready("sigkill", &[]);
    let mut child = spawn_auto(&ns.name, "5:10s,25:40s,50:10s");
    wait_for_canary_weight(&ns.name, 25, Duration::from_secs(120));
    std::thread::sleep(Duration::from_secs(12));
    child.kill().expect("SIGKILL");
    let _ = child.wait();
    let state = assert_consistent(&ns.name);
    assert_eq!(state["phase"], "Progressing");
    assert_eq!(state["canaryWeight"], 25);

    // No flags: the release's recorded plan (25 % held 40 s) and stage start are used.
    let resumed = Instant::now();
    let out = bizra(&[
        "promote",
        "-n",
        &ns.name,
        "--auto",
        "-o",
        "json",
        "--prometheus-url",
        PROMETHEUS_URL,
    ]);
    let took = resumed.elapsed();
    assert_eq!(out.status.code(), Some(0), "stderr: {}", stderr(&out));
    let state = assert_consistent(&ns.name);
    assert_eq!(state["phase"], "Completed");
    assert_eq!(history_events(&state), COMPLETED_RELEASE_HISTORY);
    let history = state["history"].as_array().expect("history");
    let held = timestamp_seconds(&history[2]["at"]) - timestamp_seconds(&history[1]["at"]);
    assert!(
        held >= 40.0,
        "stage 25% was held {held:.0}s, less than its 40s"
    );
    // The resumed run counted the hold from the recorded start, not from its own.
    let resumed_at_25 = took.as_secs_f64();
    assert!(
        resumed_at_25 < 40.0 + 30.0,
        "resume took {resumed_at_25:.0}s"
    );
}
