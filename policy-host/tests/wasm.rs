//! The compiled policy run as Kubewarden runs it: loaded in wasmtime, called through waPC, its
//! host calls answered here. Needs the module built first (tests/run.sh does it:
//! `cargo build -p policy-wasm --target wasm32-wasip1 --profile policy`).
//!
//! Here the signature host call is answered by the test's handler, to pin down the wire format
//! and the decisions; `signatures.rs` answers it with real sigstore verification against a
//! local registry.

mod support;

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use policy_host::{GuestOutcome, HostCallHandler, PolicyHost, no_host_calls, verified};
use serde_json::{Value, json};
use support::keyless_host::{
    ANOTHER_SIGNER_CERT, GITHUB_ACTIONS_ISSUER, KeylessHost, RELEASE_CA, RELEASE_CERT, Signature,
    Signer, github_workflow,
};
use support::{Recorded, fixture, fixture_names, new_host, recording, requests, respond, validate};

fn pod_rules_only() -> Value {
    json!({"allowedUnsigned": ["*"], "exemptNamespaces": ["kube-system"]})
}

#[test]
fn the_module_speaks_the_kubewarden_protocol() {
    let mut host = new_host(no_host_calls());
    let version = respond(&mut host, "protocol_version", b"");
    assert_eq!(String::from_utf8_lossy(&version), "\"v1\"");
    assert!(
        matches!(host.call("no_such_function", b"").expect("no trap"), GuestOutcome::Error(e) if e.contains("No handler"))
    );
}

#[test]
fn every_fixture_gets_the_same_decision_in_wasm_as_natively() {
    let mut host = new_host(no_host_calls());
    let names = fixture_names();
    assert!(names.len() >= 20, "{names:?}");
    for name in names {
        let request = fixture(&name);
        let payload = json!({"settings": pod_rules_only(), "request": request}).to_string();
        let wasm: ValidationResponse =
            serde_json::from_slice(&respond(&mut host, "validate", payload.as_bytes()))
                .expect("response");
        let native: ValidationResponse = serde_json::from_slice(
            &policy_wasm::policy::validate(payload.as_bytes()).expect("native"),
        )
        .expect("response");
        assert_eq!(
            (wasm.accepted, &wasm.message),
            (native.accepted, &native.message),
            "{name}"
        );
    }
}

#[test]
fn settings_are_validated_in_the_module() {
    let mut host = new_host(no_host_calls());
    let answer = |host: &mut PolicyHost, json: &str| -> SettingsValidationResponse {
        serde_json::from_slice(&respond(host, "validate_settings", json.as_bytes()))
            .expect("response")
    };
    assert!(
        answer(
            &mut host,
            r#"{"signatures":[{"image":"ghcr.io/bizra/*","githubActions":{"owner":"bizra"}}]}"#
        )
        .valid
    );
    let bad = answer(
        &mut host,
        r#"{"signatures":[{"image":"x/*","keylessPrefix":[{"issuer":"https://i","urlPrefix":"not a url"}]}]}"#,
    );
    assert!(!bad.valid && bad.message.unwrap_or_default().contains("urlPrefix"));
}

/// A handler answering `oci/v2/verify` with `answer`, recording the requests.
fn verifier(answer: Result<Vec<u8>, String>) -> (HostCallHandler, Recorded) {
    recording(Box::new(move |binding, namespace, operation, _| {
        assert_eq!(
            (binding, namespace, operation),
            ("kubewarden", "oci", "v2/verify")
        );
        answer.clone()
    }))
}

fn key_settings(pin: bool) -> Value {
    let key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEK5dJ8tlF4eIBlywvJQeKYUx1mQF7\n3acbTM/+aMBQtuCt2htbSU5vMLMzlceMPxLcFqmm3YG2DrbJwDGN7+dK6g==\n-----END PUBLIC KEY-----\n";
    let job = if pin { "pinDigests" } else { "validate" };
    json!({"signatures": [{"image": "ghcr.io/bizra/*", "pubKeys": [key]}], "job": job})
}

#[test]
fn a_verified_image_is_accepted_and_pinned_through_the_host_call() {
    let (handler, seen) = verifier(Ok(verified("sha256:1d9d3da4")));
    let mut host = new_host(handler);
    let response = validate(
        &mut host,
        &key_settings(true),
        &fixture("deployment_compliant"),
    );
    assert!(response.accepted, "{:?}", response.message);
    let mutated = response.mutated_object.expect("mutation");
    assert_eq!(
        mutated["spec"]["template"]["spec"]["containers"][0]["image"],
        "ghcr.io/bizra/node:v2.2.0-rc1@sha256:1d9d3da4"
    );
    let settings = key_settings(true);
    assert_eq!(
        requests(&seen),
        vec![expected_request(NODE_IMAGE, &settings["signatures"][0])]
    );
}

#[test]
fn a_failed_or_untrusted_verification_rejects() {
    let (handler, _) = verifier(Err(
        "no signatures found for image ghcr.io/bizra/node:v2.2.0-rc1".into(),
    ));
    let mut host = new_host(handler);
    let response = validate(&mut host, &key_settings(false), &fixture("pod_compliant"));
    assert!(!response.accepted);
    let message = response.message.unwrap_or_default();
    assert!(
        message.contains("signature verification failed")
            && message.contains("no signatures found"),
        "{message}"
    );

    let (handler, _) = verifier(Ok(serde_json::to_vec(
        &json!({"is_trusted": false, "digest": "sha256:00"}),
    )
    .expect("json")));
    let mut host = new_host(handler);
    let response = validate(&mut host, &key_settings(false), &fixture("pod_compliant"));
    assert!(!response.accepted);
    assert!(
        response
            .message
            .unwrap_or_default()
            .contains("signature not trusted")
    );
}

#[test]
fn malformed_and_huge_inputs_never_trap() {
    let mut host = new_host(no_host_calls());
    let mut seed: u64 = 0x5eed_0004;
    for case in 0..300 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let bytes: Vec<u8> = (0..(seed % 4096))
            .map(|i| (seed.rotate_left(i as u32 % 64) & 0xff) as u8)
            .collect();
        for operation in ["validate", "validate_settings"] {
            match host.call(operation, &bytes) {
                Ok(GuestOutcome::Response(_)) => {}
                other => panic!("{operation} on random bytes (case {case}): {other:?}"),
            }
        }
    }
    let containers: Vec<Value> = (0..3000)
        .map(
            |i| json!({"name": format!("c{i}"), "image": "x", "securityContext": {"runAsUser": 0}}),
        )
        .collect();
    let request = json!({"kind": {"kind": "Pod"}, "name": "huge", "object": {"spec": {"containers": containers}}});
    let response = validate(&mut host, &pod_rules_only(), &request);
    assert!(!response.accepted && response.message.unwrap_or_default().contains("c2999"));
    let deep = "[".repeat(50_000) + &"]".repeat(50_000);
    assert!(matches!(
        host.call("validate", deep.as_bytes()).expect("no trap"),
        GuestOutcome::Response(_)
    ));
}

/// The image of the fixtures' `bizra-node` container, as the policy names it in its requests.
const NODE_IMAGE: &str = "ghcr.io/bizra/node:v2.2.0-rc1";
const NODE_DIGEST: &str = "sha256:5f481572d088dc4023afb35fced9530ced3d9b03bf7299c6f492163cb9f0452e";
const GOOGLE_ISSUER: &str = "https://accounts.google.com";

fn each(list: &Value) -> impl Iterator<Item = &Value> {
    list.as_array().expect("a list").iter()
}

/// The `oci/v2/verify` request Kubewarden's SDK (0.17.3, `SigstoreVerificationInputV2`) defines
/// for `rule`, written out here from the rule's settings rather than by the policy's code: tagged
/// by `type`, snake_case field names, absent options as null, PEM certificates as byte arrays.
fn expected_request(image: &str, rule: &Value) -> Value {
    let annotations = rule.get("annotations").cloned().unwrap_or(Value::Null);
    let bytes = |pem: &Value| json!(pem.as_str().expect("a PEM string").as_bytes());
    if let Some(keys) = rule.get("pubKeys") {
        json!({"type": "SigstorePubKeyVerify", "image": image, "pub_keys": keys,
               "annotations": annotations})
    } else if let Some(identities) = rule.get("keyless") {
        let keyless: Vec<Value> = each(identities)
            .map(|i| json!({"issuer": i["issuer"], "subject": i["subject"]}))
            .collect();
        json!({"type": "SigstoreKeylessVerify", "image": image, "keyless": keyless,
               "annotations": annotations})
    } else if let Some(prefixes) = rule.get("keylessPrefix") {
        let keyless_prefix: Vec<Value> = each(prefixes)
            .map(|p| json!({"issuer": p["issuer"], "url_prefix": p["urlPrefix"]}))
            .collect();
        json!({"type": "SigstoreKeylessPrefixVerify", "image": image,
               "keyless_prefix": keyless_prefix, "annotations": annotations})
    } else if let Some(github) = rule.get("githubActions") {
        json!({"type": "SigstoreGithubActionsVerify", "image": image, "owner": github["owner"],
               "repo": github.get("repo").cloned().unwrap_or(Value::Null),
               "annotations": annotations})
    } else if let Some(certificate) = rule.get("certificate") {
        let chain = certificate
            .get("certificateChain")
            .map_or(Value::Null, |chain| each(chain).map(bytes).collect());
        json!({"type": "SigstoreCertificateVerify", "image": image,
               "certificate": bytes(&certificate["certificate"]), "certificate_chain": chain,
               "require_rekor_bundle": certificate.get("requireRekorBundle").cloned().unwrap_or(json!(false)),
               "annotations": annotations})
    } else {
        panic!("no verification method in {rule}")
    }
}

/// The policy's decision on `request` under `settings` when the only signatures of the node
/// image are `signatures` (a stand-in for Fulcio and Rekor knows them), and the requests it sent.
fn admit_signed_by(
    settings: &Value,
    request: &Value,
    signatures: &[Signature],
) -> (ValidationResponse, Vec<Value>) {
    let known = signatures
        .iter()
        .cloned()
        .fold(KeylessHost::default(), |host, signature| {
            host.signed(NODE_IMAGE, NODE_DIGEST, signature)
        });
    let (handler, recorded) = recording(known.handler());
    let response = validate(&mut new_host(handler), settings, request);
    (response, requests(&recorded))
}

/// For each case (what it is, the node image's signatures, whether it is admitted): the policy
/// under `settings` sends exactly the SDK's request for its one signature rule, and admits
/// `request` only when the signatures satisfy that rule.
fn assert_decisions(settings: &Value, request: &Value, cases: &[(&str, Vec<Signature>, bool)]) {
    let expected = expected_request(NODE_IMAGE, &settings["signatures"][0]);
    for (case, signatures, admitted) in cases {
        let (response, sent) = admit_signed_by(settings, request, signatures);
        assert_eq!(sent, vec![expected.clone()], "{case}: the request sent");
        let message = response.message.clone().unwrap_or_default();
        assert_eq!(response.accepted, *admitted, "{case}: {message}");
        if !admitted {
            assert!(
                message.contains("[signedImages]")
                    && message.contains(&format!(
                        "image {NODE_IMAGE}: signature verification failed"
                    )),
                "{case}: {message}"
            );
        }
    }
}

/// `spec.settings` of a ClusterAdmissionPolicy the repository ships (`bizra-secure-pods` or
/// `bizra-pin-digests`).
fn shipped_settings(policy: &str) -> Value {
    let path = format!(
        "{}/../manifests/policy/{policy}.yaml",
        env!("CARGO_MANIFEST_DIR")
    );
    let policy: Value =
        serde_saphyr::from_str(&std::fs::read_to_string(path).expect("the shipped policy"))
            .expect("policy YAML");
    policy["spec"]["settings"].clone()
}

fn github_actions(owner: &str, repo: &str) -> Signature {
    Signer::github_actions(owner, repo).into()
}

#[test]
fn the_shipped_settings_admit_only_images_signed_by_their_github_workflow() {
    let settings = shipped_settings("bizra-pin-digests");
    let github = &settings["signatures"][0]["githubActions"];
    let (owner, repo) = (
        github["owner"]
            .as_str()
            .expect("the shipped rule is githubActions"),
        github["repo"]
            .as_str()
            .expect("the shipped rule names a repo"),
    );
    let deployment = fixture("deployment_compliant");

    let (response, _) = admit_signed_by(&settings, &deployment, &[github_actions(owner, repo)]);
    assert!(response.accepted, "{:?}", response.message);
    let pinned = response
        .mutated_object
        .expect("the shipped bizra-pin-digests pins");
    assert_eq!(
        pinned["spec"]["template"]["spec"]["containers"][0]["image"],
        json!(format!("{NODE_IMAGE}@{NODE_DIGEST}"))
    );
    let cases = [
        (
            "the configured workflow",
            vec![github_actions(owner, repo)],
            true,
        ),
        (
            "another owner",
            vec![github_actions("bizra-forks", repo)],
            false,
        ),
        (
            "another repository",
            vec![github_actions(owner, "wallet")],
            false,
        ),
        (
            "owner and repository swapped",
            vec![github_actions(repo, owner)],
            false,
        ),
        (
            "the workflow's URL from another issuer",
            vec![Signer::keyless(GOOGLE_ISSUER, &github_workflow(owner, repo)).into()],
            false,
        ),
        ("no signature", vec![], false),
    ];
    // Both shipped policies verify: the pinning one before mutating, the validating one on the
    // final object (which never mutates).
    assert_decisions(&settings, &deployment, &cases);
    let validating = shipped_settings("bizra-secure-pods");
    assert_decisions(&validating, &deployment, &cases);
    let (response, _) = admit_signed_by(&validating, &deployment, &[github_actions(owner, repo)]);
    assert!(
        response.accepted && response.mutated_object.is_none(),
        "{response:?}"
    );
}

#[test]
fn a_github_actions_rule_without_repo_admits_every_repository_of_the_owner() {
    let settings = json!({"signatures": [{"image": "ghcr.io/bizra/*",
        "githubActions": {"owner": "bizra"}, "annotations": {"env": "testnet"}}]});
    assert_decisions(
        &settings,
        &fixture("pod_compliant"),
        &[
            (
                "bizra/node",
                vec![github_actions("bizra", "node").annotated("env", "testnet")],
                true,
            ),
            (
                "bizra/wallet",
                vec![github_actions("bizra", "wallet").annotated("env", "testnet")],
                true,
            ),
            (
                "another owner",
                vec![github_actions("bizra-forks", "node").annotated("env", "testnet")],
                false,
            ),
            (
                "without the annotation",
                vec![github_actions("bizra", "node")],
                false,
            ),
            (
                "another annotation value",
                vec![github_actions("bizra", "node").annotated("env", "mainnet")],
                false,
            ),
        ],
    );
}

#[test]
fn a_keyless_rule_admits_only_images_signed_by_every_identity_it_lists() {
    let workflow = github_workflow("bizra", "node");
    let settings = json!({"signatures": [{"image": "ghcr.io/bizra/*", "keyless": [
        {"issuer": GOOGLE_ISSUER, "subject": "release@bizra.dev"},
        {"issuer": GITHUB_ACTIONS_ISSUER, "subject": workflow},
    ]}]});
    let release: Signature = Signer::keyless(GOOGLE_ISSUER, "release@bizra.dev").into();
    let ci: Signature = Signer::keyless(GITHUB_ACTIONS_ISSUER, &workflow).into();
    assert_decisions(
        &settings,
        &fixture("pod_compliant"),
        &[
            ("both identities", vec![release.clone(), ci.clone()], true),
            ("only the first identity", vec![release.clone()], false),
            (
                "another subject",
                vec![
                    Signer::keyless(GOOGLE_ISSUER, "intruder@bizra.dev").into(),
                    ci.clone(),
                ],
                false,
            ),
            (
                "the subject from another issuer",
                vec![
                    Signer::keyless("https://login.microsoftonline.com", "release@bizra.dev")
                        .into(),
                    ci.clone(),
                ],
                false,
            ),
            (
                "issuer and subject swapped",
                vec![
                    Signer::keyless("release@bizra.dev", GOOGLE_ISSUER).into(),
                    ci,
                ],
                false,
            ),
        ],
    );
}

#[test]
fn a_keyless_prefix_rule_admits_only_subjects_under_its_url_prefix() {
    let settings = json!({"signatures": [{"image": "ghcr.io/bizra/*", "keylessPrefix": [
        {"issuer": GITHUB_ACTIONS_ISSUER, "urlPrefix": "https://github.com/bizra"},
    ]}]});
    assert_decisions(
        &settings,
        &fixture("pod_compliant"),
        &[
            (
                "under the prefix",
                vec![github_actions("bizra", "node")],
                true,
            ),
            (
                "another owner",
                vec![github_actions("someone", "node")],
                false,
            ),
            (
                "a name that only starts like the prefix",
                vec![github_actions("bizra-forks", "node")],
                false,
            ),
            (
                "under the prefix from another issuer",
                vec![Signer::keyless(GOOGLE_ISSUER, &github_workflow("bizra", "node")).into()],
                false,
            ),
        ],
    );
}

#[test]
fn a_certificate_rule_sends_the_certificate_its_chain_and_the_rekor_requirement() {
    let signed_with = |certificate: &str, issued_by: Option<&str>, in_rekor: bool| -> Signature {
        Signer::Certificate {
            certificate: certificate.into(),
            issued_by: issued_by.map(str::to_owned),
            in_rekor,
        }
        .into()
    };
    let release_in_rekor = signed_with(RELEASE_CERT, Some(RELEASE_CA), true);
    let chained = json!({"signatures": [{"image": "ghcr.io/bizra/*", "certificate": {
        "certificate": RELEASE_CERT, "certificateChain": [RELEASE_CA], "requireRekorBundle": true}}]});
    assert_decisions(
        &chained,
        &fixture("pod_compliant"),
        &[
            (
                "the certificate, issued by the chain, in Rekor",
                vec![release_in_rekor.clone()],
                true,
            ),
            (
                "another signer's certificate",
                vec![signed_with(ANOTHER_SIGNER_CERT, None, true)],
                false,
            ),
            (
                "not in Rekor",
                vec![signed_with(RELEASE_CERT, Some(RELEASE_CA), false)],
                false,
            ),
        ],
    );

    let another_chain = json!({"signatures": [{"image": "ghcr.io/bizra/*", "certificate": {
        "certificate": RELEASE_CERT, "certificateChain": [ANOTHER_SIGNER_CERT]}}]});
    assert_decisions(
        &another_chain,
        &fixture("pod_compliant"),
        &[(
            "issued by a CA outside the chain",
            vec![release_in_rekor],
            false,
        )],
    );

    let as_is = json!({"signatures": [{"image": "ghcr.io/bizra/*", "certificate": {
        "certificate": RELEASE_CERT}}]});
    assert_decisions(
        &as_is,
        &fixture("pod_compliant"),
        &[
            (
                "no chain and no Rekor asked for",
                vec![signed_with(RELEASE_CERT, None, false)],
                true,
            ),
            (
                "another signer's certificate",
                vec![signed_with(ANOTHER_SIGNER_CERT, None, false)],
                false,
            ),
        ],
    );
}

#[test]
fn the_rule_corrections_hold_in_the_compiled_module() {
    let mut host = new_host(no_host_calls());
    let mut decide = |fixture_name: &str| -> (bool, String) {
        let response = validate(&mut host, &pod_rules_only(), &fixture(fixture_name));
        (response.accepted, response.message.unwrap_or_default())
    };
    let (accepted, message) = decide("pod_zero_limits");
    assert!(!accepted);
    assert!(
        message.contains("no cpu limit: \"0m\" is zero")
            && message.contains("no memory limit: \"0Gi\" is zero"),
        "{message}"
    );
    // The deployment controller scaling down a ReplicaSet made before the policy.
    assert_eq!(
        decide("replicaset_update_unchanged_spec"),
        (true, String::new())
    );
    let (accepted, message) = decide("replicaset_update_changed_spec");
    assert!(!accepted && message.contains("[limits]"), "{message}");
    assert_eq!(
        decide("deployment_without_template"),
        (
            false,
            "bizra-secure-pods cannot read the pod spec of Deployment testnet/bizra-apex: the object has no /spec/template/spec".to_string()
        )
    );
}

#[test]
fn only_the_pinning_job_mutates_and_it_checks_nothing_but_signatures() {
    let (handler, _) = verifier(Ok(verified("sha256:1d9d3da4")));
    let mut host = new_host(handler);
    let validating = validate(
        &mut host,
        &key_settings(false),
        &fixture("deployment_compliant"),
    );
    assert!(
        validating.accepted && validating.mutated_object.is_none(),
        "{validating:?}"
    );
    let mut root = fixture("deployment_root");
    root["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
        json!("ghcr.io/bizra/node:v2.2.0-rc1");
    let pinning = validate(&mut host, &key_settings(true), &root);
    assert!(
        pinning.accepted && pinning.mutated_object.is_some(),
        "{pinning:?}"
    );
    let checking = validate(&mut host, &key_settings(false), &root);
    assert!(!checking.accepted && checking.message.unwrap_or_default().contains("[runAsUser]"));
}

#[test]
fn each_pod_security_case_fails_the_same_checks_in_the_compiled_module() {
    let expected: Value = serde_json::from_str(
        &std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../policy-wasm/test_data/pss_expected.json"),
        )
        .expect("expectations"),
    )
    .expect("JSON");
    let mut host = new_host(no_host_calls());
    let cases: Vec<(&String, &Value)> = expected
        .as_object()
        .expect("object")
        .iter()
        .filter(|(name, _)| name.starts_with("pss_"))
        .collect();
    assert!(cases.len() >= 9);
    for (name, profiles) in cases {
        for profile in ["restricted", "baseline", "none"] {
            let mut settings = pod_rules_only();
            settings["podSecurity"] = json!(profile);
            let response = validate(&mut host, &settings, &fixture(name));
            let message = response.message.clone().unwrap_or_default();
            // Each violation of `...violations): a [rule]; b [rule]` ends in its rule.
            let mut named: Vec<&str> = Vec::new();
            let list = message.split_once("): ").map_or("", |(_, list)| list);
            for violation in list.split("; ") {
                if let Some((_, rule)) = violation.rsplit_once(" [")
                    && let Some(rule) = rule.strip_suffix(']')
                    && !named.contains(&rule)
                {
                    named.push(rule);
                }
            }
            let want = profiles.get(profile).cloned().unwrap_or(json!([]));
            assert_eq!(json!(named), want, "{name} under {profile}: {message}");
            assert_eq!(
                response.accepted,
                named.is_empty(),
                "{name} under {profile}"
            );
        }
    }
}
