//! The Pod Security Standards profiles proven against the apiserver's own Pod Security
//! Admission (PSA) on the local cluster: generated pods and PSA's published fixtures are created
//! with server-side dry run in namespaces that enforce `restricted` or `baseline` at the
//! cluster's version, and for every one PSA's verdict (admitted, or forbidden naming these
//! checks) must equal the verdict of `policy_wasm::rules::pod_security`. PodSecurity runs
//! before any webhook and stops the chain, and these namespaces carry no other admission.
//!
//! `BIZRA_PSS_SPECS` sets the number of generated pods per profile (default 2,000; the
//! on-demand campaign in BENCHMARKS.md used 100,000) and `BIZRA_PSS_SEED` the seed.

#[path = "../support/mod.rs"]
mod support;

mod generator;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, PostParams};
use policy_wasm::rules::{Check, PodFields, Profile, pod_security::failed_checks};
use serde_json::{Value, json};
use support::{TestNamespace, kubectl_ok, repo_root};

use generator::Rng;

const PROFILES: [Profile; 2] = [Profile::Restricted, Profile::Baseline];

/// The apiserver's minor version, from the harness's pinned Kubernetes version.
fn cluster_version() -> (u32, u32) {
    let env = std::fs::read_to_string(repo_root().join("tests/cluster/versions.env"))
        .expect("versions.env");
    let version = env
        .lines()
        .find_map(|l| l.strip_prefix("KUBERNETES_VERSION="))
        .expect("KUBERNETES_VERSION");
    let mut parts = version
        .split('.')
        .map(|p| p.parse::<u32>().expect("number"));
    let (major, minor, patch) = (
        parts.next().expect("major"),
        parts.next().expect("minor"),
        parts.next().expect("patch"),
    );
    assert_eq!(major, 1);
    (minor, patch)
}

/// A namespace enforcing `profile` at the cluster's version, and nothing else: no webhook and
/// no ValidatingAdmissionPolicy may exist while the proof runs, or a verdict could be theirs.
fn oracle_namespace(profile: Profile) -> TestNamespace {
    let others = kubectl_ok(&[
        "get",
        "validatingwebhookconfigurations,mutatingwebhookconfigurations,validatingadmissionpolicybindings",
        "-o",
        "name",
    ]);
    assert!(
        others.trim().is_empty(),
        "other admission is installed; the Pod Security proof needs the apiserver's PodSecurity alone:\n{others}"
    );
    let ns = TestNamespace::new(&format!("pss-{}", profile.name()));
    let (minor, _) = cluster_version();
    kubectl_ok(&[
        "label",
        "namespace",
        &ns.name,
        &format!("pod-security.kubernetes.io/enforce={}", profile.name()),
        &format!("pod-security.kubernetes.io/enforce-version=v1.{minor}"),
    ]);
    ns
}

/// What Pod Security Admission said: the reasons its denial names (`host namespaces`,
/// `runAsNonRoot != true`), none when it admitted the pod.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Verdict {
    Reasons(BTreeSet<String>),
    /// Refused by something other than PodSecurity (validation): the spec is the generator's
    /// fault and proves nothing.
    Other(String),
}

/// The reasons of `violates PodSecurity "restricted:v1.35": host namespaces (hostNetwork=true),
/// runAsNonRoot != true (...)`. PSA writes each failed check as `reason (detail)`, joined by
/// `, `; a detail may quote values the apiserver does not validate (a probe's host, a
/// capability), parentheses included, so the list is read by the known reasons, not by counting
/// parentheses: each clause starts with one of them followed by ` (`, at the start or after
/// `), `. Text that starts no known reason fails the read, so a reason we do not know cannot
/// hide.
fn psa_reasons(message: &str) -> Option<Result<BTreeSet<String>, String>> {
    let (_, list) = message.split_once("violates PodSecurity \"")?;
    let (_, list) = list.split_once("\": ")?;
    let mut known: Vec<String> = Check::ALL
        .iter()
        .map(|c| c.admission_reason().to_string())
        .collect();
    known.push("forbidden AppArmor profiles".into());
    // Longest first, so "forbidden AppArmor profiles" is tried before its singular.
    known.sort_by_key(|r| std::cmp::Reverse(r.len()));
    let starts = |at: &str| -> Option<String> {
        known
            .iter()
            .find(|r| at.starts_with(&format!("{r} (")))
            .cloned()
    };
    let mut reasons = BTreeSet::new();
    let Some(first) = starts(list) else {
        return Some(Err(format!("no known reason starts {list:?}")));
    };
    reasons.insert(first);
    for (at, _) in list.match_indices("), ") {
        if let Some(reason) = starts(&list[at + 3..]) {
            reasons.insert(reason);
        }
    }
    let reasons = reasons
        .into_iter()
        .map(|r| {
            if r == "forbidden AppArmor profiles" {
                "forbidden AppArmor profile".into()
            } else {
                r
            }
        })
        .collect();
    Some(Ok(reasons))
}

/// PSA's verdict, and for an admitted pod the object as the apiserver would store it (defaulted
/// and prepared: what the webhook of the policy would receive).
fn verdict_of(result: Result<Pod, kube::Error>) -> (Verdict, Option<Pod>) {
    match result {
        Ok(pod) => (Verdict::Reasons(BTreeSet::new()), Some(pod)),
        Err(kube::Error::Api(status)) if status.code == 403 => {
            let verdict = match psa_reasons(&status.message) {
                Some(Ok(reasons)) => Verdict::Reasons(reasons),
                Some(Err(e)) => Verdict::Other(format!("an unreadable PSA denial ({e})")),
                None => Verdict::Other(status.message.clone()),
            };
            (verdict, None)
        }
        Err(e) => (Verdict::Other(e.to_string()), None),
    }
}

/// Our verdict, in PSA's words: the reasons of the checks the pod fails. The pod is read both
/// as the policy reads an admission request (JSON into `PodFields`) and as the plugin reads a
/// manifest (a typed `Pod`); the two must agree.
fn our_reasons(pod: &Value, profile: Profile) -> Result<(BTreeSet<String>, Vec<Check>), String> {
    let mut from_json: PodFields =
        serde_json::from_value(pod["spec"].clone()).map_err(|e| format!("policy read: {e}"))?;
    if let Some(annotations) = pod["metadata"].get("annotations") {
        from_json.annotations =
            serde_json::from_value(annotations.clone()).map_err(|e| format!("annotations: {e}"))?;
    }
    let typed: Pod = serde_json::from_value(pod.clone()).map_err(|e| format!("typed read: {e}"))?;
    let from_typed = PodFields::of_template(
        typed.metadata.annotations.as_ref(),
        typed.spec.as_ref().ok_or("no spec")?,
    );
    let checks = failed_checks(&from_json, profile);
    let typed_checks = failed_checks(&from_typed, profile);
    if checks != typed_checks {
        return Err(format!(
            "the policy's reading fails {checks:?} but the plugin's {typed_checks:?}"
        ));
    }
    let reasons = checks
        .iter()
        .map(|c| c.admission_reason().to_string())
        .collect();
    Ok((reasons, checks))
}

struct Case {
    label: String,
    pod: Value,
    /// For an ephemeral-containers update: the running pod's name.
    update_of: Option<String>,
}

#[derive(Default)]
struct Tally {
    cases: usize,
    admitted: usize,
    failing: BTreeMap<String, usize>,
    mismatches: Vec<String>,
    invalid: Vec<String>,
}

async fn judge(
    api: &Api<Pod>,
    profile: Profile,
    case: &Case,
) -> (Verdict, Result<(BTreeSet<String>, Vec<Check>), String>) {
    let dry_run = PostParams {
        dry_run: true,
        ..PostParams::default()
    };
    let mut ours = our_reasons(&case.pod, profile);
    let (theirs, stored) = match &case.update_of {
        None => match serde_json::from_value::<Pod>(case.pod.clone()) {
            Ok(pod) => verdict_of(api.create(&dry_run, &pod).await),
            Err(e) => (Verdict::Other(format!("not a Pod: {e}")), None),
        },
        Some(name) => verdict_of(
            api.replace_subresource("ephemeralcontainers", name, &dry_run, &case.pod)
                .await,
        ),
    };
    // The object the apiserver admitted (defaulted: host ports under hostNetwork, emptyDir for
    // a volume without source, AppArmor annotations copied to fields) passes our rules too.
    if let (Some(stored), Ok(_)) = (&stored, &ours)
        && let Some(spec) = &stored.spec
    {
        let after = failed_checks(
            &PodFields::of_template(stored.metadata.annotations.as_ref(), spec),
            profile,
        );
        if !after.is_empty() {
            ours = Err(format!(
                "PSA admitted it, but the stored object fails our {after:?}"
            ));
        }
    }
    (theirs, ours)
}

/// Every case through PSA in `namespace` and through our rules, eight requests at a time.
async fn prove(namespace: &str, profile: Profile, cases: Arc<Vec<Case>>) -> Tally {
    let client = support::client().await;
    let workers = 8;
    let mut set = tokio::task::JoinSet::new();
    for worker in 0..workers {
        let api: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let cases = Arc::clone(&cases);
        set.spawn(async move {
            let mut tally = Tally::default();
            for case in cases.iter().skip(worker).step_by(workers) {
                let (theirs, ours) = judge(&api, profile, case).await;
                let spec = serde_json::to_string(&case.pod).unwrap_or_default();
                match (theirs, ours) {
                    (Verdict::Other(message), _) => tally.invalid.push(format!(
                        "{}: the apiserver refused it outside PodSecurity: {message}\n  {spec}",
                        case.label
                    )),
                    (_, Err(e)) => tally.mismatches.push(format!("{}: {e}\n  {spec}", case.label)),
                    (Verdict::Reasons(theirs), Ok((ours, checks))) => {
                        tally.cases += 1;
                        if theirs.is_empty() {
                            tally.admitted += 1;
                        }
                        for check in &checks {
                            *tally.failing.entry(check.id().to_string()).or_default() += 1;
                        }
                        if theirs != ours {
                            tally.mismatches.push(format!(
                                "{} under {}: Pod Security Admission {} {theirs:?}, our rules {ours:?} ({checks:?})\n  {spec}",
                                case.label,
                                profile.name(),
                                if theirs.is_empty() { "admitted it" } else { "named" },
                            ));
                        }
                    }
                }
            }
            tally
        });
    }
    let mut total = Tally::default();
    while let Some(done) = set.join_next().await {
        let tally = done.expect("worker");
        total.cases += tally.cases;
        total.admitted += tally.admitted;
        for (check, n) in tally.failing {
            *total.failing.entry(check).or_default() += n;
        }
        total.mismatches.extend(tally.mismatches);
        total.invalid.extend(tally.invalid);
    }
    total
}

fn report(what: &str, profile: Profile, tally: &Tally, elapsed: Duration) {
    eprintln!(
        "{what} under {}: {} decided by PSA in {:.1} s ({} admitted, {} forbidden), {} mismatches, {} refused outside PodSecurity",
        profile.name(),
        tally.cases,
        elapsed.as_secs_f64(),
        tally.admitted,
        tally.cases - tally.admitted,
        tally.mismatches.len(),
        tally.invalid.len()
    );
    for (check, n) in &tally.failing {
        eprintln!("  {check}: failed by {n}");
    }
    let shown: Vec<&String> = tally
        .mismatches
        .iter()
        .chain(&tally.invalid)
        .take(15)
        .collect();
    assert!(
        tally.mismatches.is_empty() && tally.invalid.is_empty(),
        "{what} under {}: {} mismatches and {} invalid cases; the first:\n{}",
        profile.name(),
        tally.mismatches.len(),
        tally.invalid.len(),
        shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn specs_per_profile() -> usize {
    std::env::var("BIZRA_PSS_SPECS")
        .ok()
        .map(|v| v.parse().expect("BIZRA_PSS_SPECS is a number"))
        .unwrap_or(2000)
}

fn seed() -> u64 {
    std::env::var("BIZRA_PSS_SEED")
        .ok()
        .map(|v| v.parse().expect("BIZRA_PSS_SEED is a number"))
        .unwrap_or(0x5eed_2026_1203)
}

/// Running pods that pass restricted, for ephemeral containers to be added to: one that sets
/// runAsNonRoot and seccomp on the pod (inherited), one on its container only, one in a user
/// namespace (`hostUsers: false`) and a Windows one (both left Pending: no node matches them).
fn running_pods(namespace: &str) -> Vec<Value> {
    let container = |sc: Value| json!({"name": "app", "image": "registry.k8s.io/pause:3.10", "securityContext": sc});
    let restricted = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    let mut own = restricted.clone();
    own["runAsNonRoot"] = json!(true);
    own["seccompProfile"] = json!({"type": "RuntimeDefault"});
    let inherited = json!({"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    let nowhere = json!({"bizra.dev/no-such-node": "true"});
    let pod = |name: &str, spec: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace}, "spec": spec});
    let pods = [
        pod(
            "inherits",
            json!({"securityContext": inherited, "containers": [container(restricted.clone())]}),
        ),
        pod("own", json!({"containers": [container(own)]})),
        pod(
            "userns",
            json!({"hostUsers": false, "nodeSelector": nowhere, "securityContext": inherited,
                             "containers": [container(restricted)]}),
        ),
        pod(
            "windows",
            json!({"os": {"name": "windows"}, "nodeSelector": nowhere,
                              "securityContext": {"runAsNonRoot": true},
                              "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}),
        ),
    ];
    for pod in &pods {
        apply(pod);
    }
    pods.iter()
        .map(|p| {
            let name = p["metadata"]["name"].as_str().expect("name");
            let mut stored: Value = serde_json::from_str(&kubectl_ok(&[
                "get", "pod", name, "-n", namespace, "-o", "json",
            ]))
            .expect("pod JSON");
            // An update without resourceVersion is unconditional: the scheduler or the node may
            // write the pod meanwhile.
            stored["metadata"]
                .as_object_mut()
                .expect("metadata")
                .remove("resourceVersion");
            stored
        })
        .collect()
}

fn apply(object: &Value) {
    use std::io::Write;
    let mut child = support::command("kubectl")
        .args(["apply", "-f", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("kubectl runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(object.to_string().as_bytes())
        .expect("write");
    let out = child.wait_with_output().expect("kubectl finishes");
    assert!(out.status.success(), "{}", support::stderr(&out));
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn generated_pods_get_the_verdict_pod_security_admission_gives() {
    let count = specs_per_profile();
    let seed = seed();
    eprintln!("{count} generated pods per profile, seed {seed}");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for profile in PROFILES {
        let ns = oracle_namespace(profile);
        let mut rng = Rng::new(seed);
        let mut cases: Vec<Case> = (0..count)
            .map(|i| {
                let name = format!("gen-{i}");
                Case {
                    label: format!("pod {i} (seed {seed})"),
                    pod: generator::pod(&mut rng, &name),
                    update_of: None,
                }
            })
            .collect();
        // A tenth more as ephemeral containers added to running pods (`kubectl debug`), which
        // only the pods/ephemeralcontainers subresource can carry.
        let running = running_pods(&ns.name);
        for i in 0..count.div_ceil(10) {
            let mut pod = running[i % running.len()].clone();
            pod["spec"]["ephemeralContainers"] = generator::ephemeral_containers(&mut rng, &pod);
            cases.push(Case {
                label: format!("ephemeral containers {i} (seed {seed})"),
                update_of: Some(pod["metadata"]["name"].as_str().expect("name").to_string()),
                pod,
            });
        }
        let started = Instant::now();
        let tally = runtime.block_on(prove(&ns.name, profile, Arc::new(cases)));
        report("generated pods", profile, &tally, started.elapsed());
        assert!(tally.cases >= count, "only {} cases decided", tally.cases);
        // The corpus must exercise every check of the profile and both verdicts.
        for check in profile.checks() {
            // No valid pod fails baseline's /proc mount check since 1.35: validation allows
            // `Unmasked` only with `hostUsers: false`, which the check then lets pass.
            if *check == Check::ProcMountBaseline {
                continue;
            }
            let failed = tally.failing.get(check.id()).copied().unwrap_or(0);
            assert!(
                failed >= 5 || count < 500,
                "{} failed only {failed} times",
                check.id()
            );
        }
        assert!(
            tally.admitted * 20 >= tally.cases || count < 500,
            "only {} of {} admitted",
            tally.admitted,
            tally.cases
        );
    }
}

/// pod-security-admission's own fixtures for the cluster's version, read from its Go module
/// (fetched through the Go module proxy; not copied into this repository).
fn psa_fixture_dir() -> PathBuf {
    let (minor, patch) = cluster_version();
    let module = format!("k8s.io/pod-security-admission@v0.{minor}.{patch}");
    let out = support::command("go")
        .args(["mod", "download", "-json", &module])
        .current_dir(std::env::temp_dir())
        .output()
        .expect("go runs");
    assert!(
        out.status.success(),
        "go mod download {module}: {}",
        support::stderr(&out)
    );
    let info: Value = serde_json::from_slice(&out.stdout).expect("go mod download -json");
    Path::new(info["Dir"].as_str().expect("Dir")).join("test/testdata")
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn pod_security_admissions_own_fixtures_decide_alike() {
    let (minor, _) = cluster_version();
    let dir = psa_fixture_dir();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for profile in PROFILES {
        let ns = oracle_namespace(profile);
        let mut cases = Vec::new();
        for expected in ["pass", "fail"] {
            let folder = dir.join(format!("{}/v1.{minor}/{expected}", profile.name()));
            let mut files: Vec<PathBuf> = std::fs::read_dir(&folder)
                .unwrap_or_else(|e| panic!("{}: {e}", folder.display()))
                .map(|e| e.expect("entry").path())
                .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
                .collect();
            files.sort();
            for file in files {
                let mut pod: Value =
                    serde_saphyr::from_str(&std::fs::read_to_string(&file).expect("fixture"))
                        .expect("YAML");
                // Fixture names carry underscores, which a pod's name may not.
                let name = pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or("x")
                    .replace('_', "-");
                pod["metadata"]["name"] = json!(name);
                let label = format!(
                    "{}/{expected}/{}",
                    profile.name(),
                    file.file_name().and_then(|f| f.to_str()).unwrap_or("")
                );
                // What the fixture's folder says, checked here without the apiserver.
                let (ours, checks) = our_reasons(&pod, profile).expect("readable fixture");
                assert_eq!(
                    ours.is_empty(),
                    expected == "pass",
                    "{label}: our rules fail {checks:?}"
                );
                cases.push(Case {
                    label,
                    pod,
                    update_of: None,
                });
            }
        }
        let total = cases.len();
        let started = Instant::now();
        let mut tally = runtime.block_on(prove(&ns.name, profile, Arc::new(cases)));
        // Fixtures written for PSA's check functions alone that this apiserver's validation
        // refuses, so PSA never sees them (their folder's verdict is still checked above):
        // `procMount: Unmasked` without `hostUsers: false` is invalid since 1.33.
        let refused_by_validation = ["/fail/procmount0.yaml", "/fail/procmount1.yaml"];
        let (expected, unexpected): (Vec<String>, Vec<String>) =
            tally.invalid.drain(..).partition(|case| {
                refused_by_validation
                    .iter()
                    .any(|f| case.split(':').next().is_some_and(|l| l.ends_with(f)))
                    && case.contains("`hostUsers` must be false to use `Unmasked`")
            });
        tally.invalid = unexpected;
        eprintln!(
            "  {} fixtures refused by validation as listed",
            expected.len()
        );
        report("PSA's fixtures", profile, &tally, started.elapsed());
        assert_eq!(tally.cases + expected.len(), total);
    }
}

#[test]
fn psa_denials_are_read_into_their_reasons() {
    let message = r#"pods "x" is forbidden: violates PodSecurity "restricted:v1.35": host namespaces (hostNetwork=true, hostPID=true), forbidden AppArmor profiles (pod and container "c" must not set AppArmor profile type to "Unconfined", "unconfined"), unrestricted capabilities (container "c" must set securityContext.capabilities.drop=["ALL"]; container "c" must not include "SYS_ADMIN" in securityContext.capabilities.add)"#;
    let reasons: Vec<String> = psa_reasons(message)
        .expect("a PSA denial")
        .expect("readable")
        .into_iter()
        .collect();
    assert_eq!(
        reasons,
        [
            "forbidden AppArmor profile",
            "host namespaces",
            "unrestricted capabilities"
        ]
    );
    // Parentheses inside quoted values do not confuse the read.
    let quoted = r#"pods "x" is forbidden: violates PodSecurity "baseline:v1.35": non-default capabilities (container "c0" must not include "SYS_ADMIN(" in securityContext.capabilities.add), probe or lifecycle host (container "c0" uses probe or lifecycle host "a), b"), host namespaces (hostNetwork=true)"#;
    let reasons: Vec<String> = psa_reasons(quoted)
        .expect("a PSA denial")
        .expect("readable")
        .into_iter()
        .collect();
    assert_eq!(
        reasons,
        [
            "host namespaces",
            "non-default capabilities",
            "probe or lifecycle host"
        ]
    );
    let unknown = r#"violates PodSecurity "baseline:v1.35": something new (x)"#;
    assert!(psa_reasons(unknown).expect("a PSA denial").is_err());
    assert_eq!(psa_reasons("admission webhook denied the request"), None);
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn the_policys_pod_security_fixtures_fail_the_checks_they_expect_at_the_apiserver_too() {
    let data = repo_root().join("policy-wasm/test_data");
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(data.join("pss_expected.json")).expect("expectations"),
    )
    .expect("JSON");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    for profile in PROFILES {
        let ns = oracle_namespace(profile);
        let mut cases = Vec::new();
        for (name, profiles) in expected.as_object().expect("object") {
            if !name.starts_with("pss_") {
                continue;
            }
            let request: Value = serde_json::from_str(
                &std::fs::read_to_string(data.join(format!("{name}.json"))).expect("fixture"),
            )
            .expect("JSON");
            let mut pod = request["object"].clone();
            pod["metadata"]
                .as_object_mut()
                .expect("metadata")
                .remove("namespace");
            let (_, checks) = our_reasons(&pod, profile).expect("readable");
            let ids: Vec<&str> = checks.iter().map(|c| c.id()).collect();
            assert_eq!(
                json!(ids),
                profiles[profile.name()],
                "{name} under {}",
                profile.name()
            );
            cases.push(Case {
                label: name.clone(),
                pod,
                update_of: None,
            });
        }
        let total = cases.len();
        let started = Instant::now();
        let tally = runtime.block_on(prove(&ns.name, profile, Arc::new(cases)));
        report(
            "the policy's pss_* fixtures",
            profile,
            &tally,
            started.elapsed(),
        );
        assert_eq!(tally.cases, total);
    }
}
