//! Each requirement of the admission edge, through the real apiserver.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use super::*;

fn refused(out: &Output) -> String {
    assert!(!out.status.success(), "admitted: {}", text(out));
    text(out)
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn an_unsigned_image_is_refused_with_the_policys_message() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-unsigned");
    let (image, _) = pushed("bizra/node:unsigned");
    let message = refused(&apply(&pod(
        &ns.name,
        "unsigned",
        vec![compliant_container("bizra-node", &image)],
    )));
    assert!(message.contains("denied the request"), "{message}");
    assert!(
        message.contains(&format!(
            "Pod {}/unsigned is not accepted (1 violation): container \"bizra-node\": image {image}: signature verification failed",
            ns.name
        )) && message.contains("no signatures found")
            && message.contains("[signedImages]"),
        "{message}"
    );
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn a_signed_image_is_admitted_and_stored_pinned_to_its_digest() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-signed");
    let (image, digest) = signed("bizra/node:signed-pod");
    let out = apply(&pod(
        &ns.name,
        "signed",
        vec![compliant_container("bizra-node", &image)],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let stored = kubectl_ok(&[
        "get",
        "pod",
        "signed",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.spec.containers[0].image}",
    ]);
    assert_eq!(stored, format!("{image}@{digest}"));
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn root_zero_and_missing_limits_and_privilege_escalation_are_listed_in_one_message() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-violations");
    let (image, _) = signed("bizra/node:violations");
    let out = apply(&pod(
        &ns.name,
        "broken",
        vec![json!({
            "name": "bizra-node",
            "image": image,
            "securityContext": {"runAsUser": 0, "allowPrivilegeEscalation": true, "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}},
            "resources": {"limits": {"cpu": "0"}}
        })],
    ));
    let message = refused(&out);
    assert_eq!(
        message.matches("denied the request").count(),
        1,
        "{message}"
    );
    for expected in [
        format!("webhook \"{VALIDATING_POLICY}.kubewarden.admission\" denied the request"),
        format!("Pod {}/broken is not accepted (5 violations)", ns.name),
        "runAsNonRoot is not set on the container or the pod; it must be true [runAsNonRoot]"
            .into(),
        "runAsUser is 0 (root) [runAsUser]".into(),
        "no cpu limit: \"0\" is zero, which the kubelet treats as no limit [limits]".into(),
        "no memory limit [limits]".into(),
        "allowPrivilegeEscalation".into(),
    ] {
        assert!(
            message.contains(&expected),
            "{expected} missing from {message}"
        );
    }
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn a_deployment_with_a_broken_template_is_refused_before_any_pod_exists() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-deployment");
    let (image, _) = signed("bizra/node:deployment");
    let mut container = compliant_container("bizra-node", &image);
    container["securityContext"]["runAsUser"] = json!(0);
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "root-node", "namespace": ns.name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "root-node"}},
            "template": {"metadata": {"labels": {"app": "root-node"}}, "spec": {"containers": [container]}}
        }
    });
    let message = refused(&apply(&deployment));
    assert!(
        message.contains(&format!("Deployment {}/root-node is not accepted", ns.name))
            && message.contains("[runAsUser]"),
        "{message}"
    );
    assert_eq!(
        kubectl_ok(&[
            "get",
            "deployments,replicasets,pods",
            "-n",
            &ns.name,
            "-o",
            "name"
        ])
        .trim(),
        ""
    );
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn kubectl_bizra_deploys_the_shipped_manifests_with_a_signed_image_and_the_gates_pass() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-deploy");
    let (image, digest) = signed("bizra/node:v2.2.0-rc1");
    let out = Command::new(workspace_binary("kubectl-bizra"))
        .env("KUBECONFIG", state_dir().join("kubeconfig"))
        .args([
            "deploy",
            "-n",
            &ns.name,
            "--image",
            &image,
            "--timeout",
            "3m",
            "--prometheus-url",
            "http://127.0.0.1:9090",
            "-o",
            "json",
        ])
        .output()
        .expect("kubectl-bizra runs");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let report: Value = serde_json::from_slice(&out.stdout).expect("deploy report JSON");
    let rejected: Vec<&Value> = report["objects"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|o| o["action"] == "failed")
        .collect();
    assert!(rejected.is_empty(), "{report}");
    // Both tracks were admitted, pinned by the mutating policy.
    for deployment in ["bizra-apex", "bizra-apex-canary"] {
        let stored = kubectl_ok(&[
            "get",
            "deployment",
            deployment,
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.template.spec.containers[0].image}",
        ]);
        assert_eq!(stored, format!("{image}@{digest}"), "{deployment}");
    }
    let log = server_log();
    assert!(
        log.contains(&format!("policy={VALIDATING_POLICY}"))
            && log.contains(&format!("object={}/bizra-apex ", ns.name)),
        "the server saw no request for the deployment"
    );
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn kubectl_debug_with_a_root_container_is_refused_and_a_compliant_one_admitted() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-debug");
    let (image, _) = signed("bizra/node:debug");
    let out = apply(&pod(
        &ns.name,
        "target",
        vec![compliant_container("bizra-node", &image)],
    ));
    assert!(out.status.success(), "{}", text(&out));

    let root = kubectl(&[
        "debug",
        "pod/target",
        "-n",
        &ns.name,
        "--image",
        &image,
        "-c",
        "root-debugger",
        "--profile",
        "general",
    ]);
    let message = refused(&root);
    assert!(
        message.contains("ephemeral container \"root-debugger\": runAsNonRoot is not set")
            && message.contains("[runAsNonRoot]"),
        "{message}"
    );
    let restricted = kubectl(&[
        "debug",
        "pod/target",
        "-n",
        &ns.name,
        "--image",
        &image,
        "-c",
        "debugger",
        "--profile",
        "restricted",
    ]);
    assert!(restricted.status.success(), "{}", text(&restricted));
    let names = kubectl_ok(&[
        "get",
        "pod",
        "target",
        "-n",
        &ns.name,
        "-o",
        "jsonpath={.spec.ephemeralContainers[*].name}",
    ]);
    assert_eq!(names, "debugger");
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn a_replicaset_from_before_the_webhooks_can_be_scaled_down_and_deleted() {
    let _guard = serial();
    let _restore = RestoreOnDrop;
    admission("up", &[]);
    let ns = TestNamespace::new("adm-legacy");
    // The webhooks go away for a moment, as before the policy was installed.
    kubectl_ok(&[
        "delete",
        "validatingwebhookconfigurations,mutatingwebhookconfigurations",
        "-l",
        "app.kubernetes.io/part-of=kubewarden",
    ]);
    let legacy = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {"name": "legacy", "namespace": ns.name},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "legacy"}},
            "template": {"metadata": {"labels": {"app": "legacy"}},
                         "spec": {"containers": [{"name": "old", "image": "busybox:1.36"}]}}
        }
    });
    eventually(
        "the ReplicaSet to be created unchecked",
        Duration::from_secs(60),
        || apply(&legacy).status.success().then_some(()),
    );
    admission("up", &[]);
    // Still broken: a new one like it is refused now.
    let mut twin = legacy.clone();
    twin["metadata"]["name"] = json!("legacy-twin");
    refused(&apply(&twin));

    // What the deployment controller does to an old ReplicaSet: replicas and annotations change,
    // the template does not.
    let scaled = kubectl(&[
        "patch",
        "replicaset",
        "legacy",
        "-n",
        &ns.name,
        "--type",
        "merge",
        "-p",
        r#"{"metadata":{"annotations":{"deployment.kubernetes.io/revision":"1"}},"spec":{"replicas":0}}"#,
    ]);
    assert!(scaled.status.success(), "{}", text(&scaled));
    assert_eq!(
        kubectl_ok(&[
            "get",
            "replicaset",
            "legacy",
            "-n",
            &ns.name,
            "-o",
            "jsonpath={.spec.replicas}"
        ]),
        "0"
    );
    // A change to the pod spec is checked in full.
    let changed = kubectl(&[
        "patch",
        "replicaset",
        "legacy",
        "-n",
        &ns.name,
        "--type",
        "json",
        "-p",
        r#"[{"op":"add","path":"/spec/template/spec/containers/0/env","value":[{"name":"A","value":"1"}]}]"#,
    ]);
    let message = refused(&changed);
    assert!(
        message.contains("ReplicaSet") && message.contains("[runAsNonRoot]"),
        "{message}"
    );
    let deleted = kubectl(&[
        "delete",
        "replicaset",
        "legacy",
        "-n",
        &ns.name,
        "--wait=true",
    ]);
    assert!(deleted.status.success(), "{}", text(&deleted));
}

/// A mutating webhook, served here, that applies `patch` to every pod created in one namespace:
/// what a sidecar injector or a registry rewriter running after Kubewarden's webhooks does.
struct LaterMutator {
    name: String,
    _runtime: tokio::runtime::Runtime,
}

impl LaterMutator {
    fn start(namespace: &str, what: &str, patch: Value) -> Self {
        let dir = admission_dir();
        let tls = policy_host::https::acceptor(
            &std::fs::read(dir.join("tls.crt")).expect("tls.crt"),
            &std::fs::read(dir.join("tls.key")).expect("tls.key"),
        )
        .expect("TLS");
        let handler: policy_host::https::Handler = Arc::new(move |_, _, body| {
            let review: Value = serde_json::from_slice(body).unwrap_or_default();
            let answer = json!({
                "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "response": {
                    "uid": review["request"]["uid"], "allowed": true, "patchType": "JSONPatch",
                    "patch": base64::engine::general_purpose::STANDARD.encode(patch.to_string())
                }
            });
            (200, answer.to_string().into_bytes())
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("runtime");
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("listen");
        let port = listener.local_addr().expect("address").port();
        runtime.spawn(policy_host::https::serve(listener, tls, handler));
        // Named to sort after Kubewarden's: mutating webhooks run in name order.
        let name = format!("zz-{what}-{namespace}");
        let configuration = json!({
            "apiVersion": "admissionregistration.k8s.io/v1", "kind": "MutatingWebhookConfiguration",
            "metadata": {"name": name},
            "webhooks": [{
                "name": format!("{what}.bizra.test"),
                "clientConfig": {
                    "url": format!("https://127.0.0.1:{port}/mutate"),
                    "caBundle": base64::engine::general_purpose::STANDARD.encode(std::fs::read(dir.join("ca.crt")).expect("ca.crt"))
                },
                "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"], "operations": ["CREATE"]}],
                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
                "sideEffects": "None", "failurePolicy": "Fail", "admissionReviewVersions": ["v1"]
            }]
        });
        let out = apply(&configuration);
        assert!(out.status.success(), "{}", text(&out));
        LaterMutator {
            name,
            _runtime: runtime,
        }
    }
}

impl Drop for LaterMutator {
    fn drop(&mut self) {
        let _ = kubectl(&["delete", "mutatingwebhookconfiguration", &self.name]);
    }
}

/// Creates a compliant pod running `image` until the apiserver refuses it, and returns the
/// refusal. The apiserver loads the mutator's configuration asynchronously: until it does, a pod
/// is admitted unmutated. Each attempt is a new pod, so every answer is a CREATE's; a pod admitted
/// with the mutator's change (`mutated` says whether the stored pod has it) fails the test.
fn refused_once_mutated(namespace: &str, image: &str, mutated: impl Fn(&Value) -> bool) -> String {
    let mut attempt = 0;
    eventually(
        "the mutated pod to be refused",
        Duration::from_secs(60),
        || {
            attempt += 1;
            let name = format!("victim-{attempt}");
            let out = kubectl_stdin(
                &["create", "-f", "-"],
                &pod(
                    namespace,
                    &name,
                    vec![compliant_container("bizra-node", image)],
                )
                .to_string(),
            );
            if !out.status.success() {
                return Some(text(&out));
            }
            let stored: Value = serde_json::from_str(&kubectl_ok(&[
                "get", "pod", &name, "-n", namespace, "-o", "json",
            ]))
            .expect("pod JSON");
            assert!(
                !mutated(&stored),
                "a pod changed by the later webhook was admitted: {stored}"
            );
            None
        },
    )
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn a_root_sidecar_injected_after_our_webhooks_is_refused_by_the_validating_policy() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-injector");
    let (image, _) = signed("bizra/node:injected");
    let sidecar =
        json!({"name": "injected-root", "image": image, "securityContext": {"runAsUser": 0}});
    let _injector = LaterMutator::start(
        &ns.name,
        "root-sidecar",
        json!([{"op": "add", "path": "/spec/containers/-", "value": sidecar}]),
    );
    let message = refused_once_mutated(&ns.name, &image, |pod| {
        pod["spec"]["containers"]
            .as_array()
            .is_some_and(|c| c.len() > 1)
    });
    assert!(
        message.contains(&format!(
            "webhook \"{VALIDATING_POLICY}.kubewarden.admission\" denied the request"
        )) && message.contains("container \"injected-root\": runAsUser is 0 (root)"),
        "{message}"
    );
    assert!(!message.contains("container \"bizra-node\""), "{message}");
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn an_image_swapped_after_pinning_is_verified_again_by_the_validating_policy() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-rewriter");
    let (image, _) = signed("bizra/node:before-rewrite");
    let (unsigned, _) = pushed("bizra/node:rewritten");
    let _rewriter = LaterMutator::start(
        &ns.name,
        "registry-rewriter",
        json!([{"op": "replace", "path": "/spec/containers/0/image", "value": unsigned}]),
    );
    let swapped = unsigned.clone();
    let message = refused_once_mutated(&ns.name, &image, move |pod| {
        pod["spec"]["containers"][0]["image"] == json!(swapped)
    });
    assert!(
        message.contains(&format!(
            "webhook \"{VALIDATING_POLICY}.kubewarden.admission\" denied the request"
        )) && message.contains(&format!("image {unsigned}: signature verification failed"))
            && message.contains("[signedImages]"),
        "{message}"
    );
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn with_the_server_stopped_pods_are_refused_except_in_excluded_namespaces() {
    let _guard = serial();
    let _restore = RestoreOnDrop;
    admission("up", &[]);
    let ns = TestNamespace::new("adm-down");
    let (image, _) = signed("bizra/node:server-down");
    admission("stop-server", &[]);
    let compliant = pod(
        &ns.name,
        "p",
        vec![compliant_container("bizra-node", &image)],
    );
    let message = refused(&apply(&compliant));
    assert!(
        message.contains(&format!(
            "failed calling webhook \"{PINNING_POLICY}.kubewarden.admission\""
        )),
        "{message}"
    );
    // The validating webhook fails closed on its own too: without the mutating one in front.
    kubectl_ok(&["delete", "mutatingwebhookconfiguration", PINNING_POLICY]);
    let message = eventually(
        "the validating webhook's failure",
        Duration::from_secs(60),
        || {
            let out = apply(&compliant);
            assert!(
                !out.status.success(),
                "admitted with the server down: {}",
                text(&out)
            );
            let message = text(&out);
            message
                .contains(&format!(
                    "failed calling webhook \"{VALIDATING_POLICY}.kubewarden.admission\""
                ))
                .then_some(message)
        },
    );
    assert!(message.contains("127.0.0.1:9443"), "{message}");

    // Kubewarden's own namespace (the controller's exclusion) and kube-public (the policy's).
    // `kubewarden` is left in place: deleted, a rerun would meet it terminating.
    let _ = kubectl(&["create", "namespace", "kubewarden"]);
    for excluded in ["kubewarden", "kube-public"] {
        eventually(
            "the default ServiceAccount",
            Duration::from_secs(60),
            || {
                kubectl(&["get", "serviceaccount", "default", "-n", excluded])
                    .status
                    .success()
                    .then_some(())
            },
        );
        let out = kubectl_stdin(
            &["create", "--dry-run=server", "-f", "-"],
            &pod(
                excluded,
                "root",
                vec![json!({"name": "c", "image": "busybox:1.36"})],
            )
            .to_string(),
        );
        assert!(out.status.success(), "{excluded}: {}", text(&out));
    }
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn monitor_mode_admits_and_the_server_logs_what_it_would_have_refused() {
    let _guard = serial();
    let _restore = RestoreOnDrop;
    admission("up", &[("BIZRA_ADMISSION_MODE", "monitor")]);
    let ns = TestNamespace::new("adm-monitor");
    let out = apply(&pod(
        &ns.name,
        "root-monitored",
        vec![json!({"name": "c", "image": "busybox:1.36"})],
    ));
    assert!(out.status.success(), "{}", text(&out));
    let line = server_log()
        .lines()
        .find(|l| {
            l.contains(&format!("object={}/root-monitored", ns.name))
                && l.contains(VALIDATING_POLICY)
        })
        .map(str::to_string)
        .expect("the server logged the request");
    assert!(
        line.contains("monitor mode: would reject")
            && line.contains("[runAsNonRoot]")
            && line.contains("allowed=true"),
        "{line}"
    );
}

#[test]
#[ignore = "needs the local cluster; run by tests/run.sh"]
fn a_server_side_dry_run_is_evaluated_too() {
    let _edge = enforcing();
    let ns = TestNamespace::new("adm-dry-run");
    let out = kubectl_stdin(
        &["apply", "--dry-run=server", "-f", "-"],
        &pod(
            &ns.name,
            "dry-root",
            vec![json!({"name": "c", "image": "busybox:1.36"})],
        )
        .to_string(),
    );
    let message = refused(&out);
    assert!(
        message.contains("[runAsNonRoot]") && message.contains("denied the request"),
        "{message}"
    );
    assert!(
        server_log()
            .lines()
            .any(|l| l.contains(&format!("object={}/dry-root", ns.name))
                && l.contains("dryRun=true")),
        "the server saw no dry-run request"
    );
}
