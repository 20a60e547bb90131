//! The compiled policy run as Kubewarden runs it: loaded in wasmtime, called through waPC, its
//! host calls answered here. Needs the module built first (tests/run.sh does it:
//! `cargo build -p policy-wasm --target wasm32-wasip1 --profile policy`).
//!
//! Here the signature host call is answered by the test's handler, to pin down the wire format
//! and the decisions; `signatures.rs` answers it with real sigstore verification against a
//! local registry.

mod support;

use std::sync::{Arc, Mutex};

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use policy_host::{GuestOutcome, HostCallHandler, PolicyHost, no_host_calls, verified};
use serde_json::{Value, json};
use support::{fixture, fixture_names, new_host, respond, validate};

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
fn verifier(answer: Result<Vec<u8>, String>) -> (HostCallHandler, Arc<Mutex<Vec<Value>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let handler: HostCallHandler = Box::new(move |binding, namespace, operation, payload| {
        assert_eq!(
            (binding, namespace, operation),
            ("kubewarden", "oci", "v2/verify")
        );
        record
            .lock()
            .expect("lock")
            .push(serde_json::from_slice(payload).expect("request JSON"));
        answer.clone()
    });
    (handler, seen)
}

fn key_settings(pin: bool) -> Value {
    let key = "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEK5dJ8tlF4eIBlywvJQeKYUx1mQF7\n3acbTM/+aMBQtuCt2htbSU5vMLMzlceMPxLcFqmm3YG2DrbJwDGN7+dK6g==\n-----END PUBLIC KEY-----\n";
    json!({"signatures": [{"image": "ghcr.io/bizra/*", "pubKeys": [key]}], "pinDigest": pin})
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
    let requests = seen.lock().expect("lock");
    assert_eq!(requests.len(), 1);
    assert_eq!(requests[0]["type"], "SigstorePubKeyVerify");
    assert_eq!(requests[0]["image"], "ghcr.io/bizra/node:v2.2.0-rc1");
    assert!(
        requests[0]["pub_keys"][0]
            .as_str()
            .unwrap_or("")
            .starts_with("-----BEGIN PUBLIC KEY-----")
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
