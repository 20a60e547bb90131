//! The policy's fuzz targets. Each function takes one fuzzer input, runs it through the policy's
//! code and panics when an invariant does not hold. Natively, Kubewarden's signature host call
//! fails, so `validate` fails closed on every image that needs a signature; a deterministic fake
//! verifier (trusted unless the image names "untrusted", an error if it names "error") drives the
//! same requests through the verified and digest-pinning paths too.

use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::CallResult;
use policy_wasm::image_ref::{ImageRef, check_tag};
use policy_wasm::policy::{validate, validate_settings, validate_with};
use policy_wasm::rules::signed_images::{Verification, Verifier};
use policy_wasm::rules::{ContainerKind, pod_spec_pointer};
use policy_wasm::settings::{Job, Settings, SignatureRule};
use serde_json::{Value, json};

use crate::replay::Target;

/// `(name, function)`: the name is the fuzz target's, and its corpus folder's.
pub const TARGETS: &[Target] = &[
    ("policy_validate", policy_validate),
    ("policy_validate_settings", policy_validate_settings),
    ("image_ref", image_ref),
];

/// The input for a panic message: lossy, and cut so a huge input does not drown it.
fn show(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let cut: String = text.chars().take(600).collect();
    if cut.len() < text.len() {
        format!("{cut:?}... ({} bytes)", data.len())
    } else {
        format!("{cut:?}")
    }
}

/// A digest that depends only on the image: FNV-1a, spread over 64 hex digits.
fn fake_digest(image: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in image.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    let parts: Vec<String> = (0..4)
        .map(|i| format!("{:016x}", hash.rotate_left(16 * i)))
        .collect();
    format!("sha256:{}", parts.concat())
}

struct FakeVerifier;

impl Verifier for FakeVerifier {
    fn verify(&self, image: &str, _rule: &SignatureRule) -> Result<Verification, String> {
        if image.contains("error") {
            return Err(format!("no signatures found for {image}"));
        }
        Ok(Verification {
            trusted: !image.contains("untrusted"),
            digest: fake_digest(image),
        })
    }
}

/// A well-formed Kubewarden answer: JSON with a boolean `accepted`, a message on a rejection,
/// and a mutation only on an acceptance.
fn answer(data: &[u8], result: CallResult, what: &str) -> ValidationResponse {
    let raw =
        result.unwrap_or_else(|e| panic!("{what} returned a guest error ({e}) on {}", show(data)));
    let value: Value = serde_json::from_slice(&raw)
        .unwrap_or_else(|e| panic!("{what} answered with invalid JSON ({e}) on {}", show(data)));
    assert!(
        value.get("accepted").is_some_and(Value::is_boolean),
        "{what} answered without a boolean `accepted` ({value}) on {}",
        show(data)
    );
    let response: ValidationResponse = serde_json::from_value(value).unwrap_or_else(|e| {
        panic!(
            "{what} answered with no ValidationResponse ({e}) on {}",
            show(data)
        )
    });
    if !response.accepted {
        assert!(
            response
                .message
                .as_deref()
                .is_some_and(|m| !m.trim().is_empty()),
            "{what} rejected without a message on {}",
            show(data)
        );
        assert!(
            response.mutated_object.is_none(),
            "{what} rejected and mutated on {}",
            show(data)
        );
    }
    response
}

/// `validate` with the payload as the fuzzer gives it (a ValidationRequest JSON: request and
/// settings), natively and with the fake verifier.
pub fn policy_validate(data: &[u8]) {
    let native = answer(data, validate(data), "validate");
    assert!(
        native.mutated_object.is_none(),
        "validate pinned an image although no signature can verify natively: {}",
        show(data)
    );
    let verified = answer(data, validate_with(data, &FakeVerifier), "validate_with");
    if native.accepted {
        // Nothing was verified on the way, so the verifier cannot change the answer.
        assert!(
            verified.accepted && verified.mutated_object.is_none(),
            "accepted natively, but not the same with a verifier: {}",
            show(data)
        );
    }
    if let Some(pinned) = &verified.mutated_object {
        check_pinned(data, pinned);
    }
}

/// Pinning rewrites images to `image@digest` of their own verification and touches nothing
/// else; the pinned object, admitted again under the same settings, passes unchanged (the
/// ReplicaSet and the pods made from a pinned Deployment are admitted too).
fn check_pinned(data: &[u8], pinned: &Value) {
    // Read as the policy reads it (a typed read skips what it ignores; a `Value` read would not).
    let mut request: ValidationRequest<Settings> =
        serde_json::from_slice(data).expect("validate read it");
    let object = &request.request.object;
    let pointer =
        pod_spec_pointer(&request.request.kind.kind).expect("a pinned object has a pod spec");
    let pointer = pointer.as_str();
    let before = object
        .pointer(pointer)
        .expect("a pinned object has a pod spec");
    let after = pinned
        .pointer(pointer)
        .expect("a pinned object has a pod spec");
    let mut restored = pinned.clone();
    assert_eq!(
        request.settings.job,
        Job::PinDigests,
        "a policy that is not the pinning job mutated: {}",
        show(data)
    );
    for list in ContainerKind::ALL.map(ContainerKind::field) {
        let Some(containers) = before.get(list).and_then(Value::as_array) else {
            continue;
        };
        let mut names: Vec<&Value> = containers.iter().map(|c| &c["name"]).collect();
        names.sort_by_key(|n| n.to_string());
        // The apiserver refuses duplicate names; with them, which digest lands where is moot.
        let unique = names.windows(2).all(|w| w[0] != w[1]);
        for (i, container) in containers.iter().enumerate() {
            let new = &after[list][i]["image"];
            let old = &container["image"];
            if new == old {
                continue;
            }
            let (Some(old_text), Some(new_text)) = (old.as_str(), new.as_str()) else {
                panic!(
                    "pinning changed a non-string image {old} to {new}: {}",
                    show(data)
                );
            };
            assert!(
                !old_text.contains('@'),
                "pinning changed the digest-pinned image {old_text}: {}",
                show(data)
            );
            if unique {
                assert_eq!(
                    new_text,
                    format!("{old_text}@{}", fake_digest(old_text)),
                    "{list}[{i}] pinned to another image's digest: {}",
                    show(data)
                );
            } else {
                assert!(new_text.starts_with(old_text) || new_text.contains('@'));
            }
            if let Some(slot) = restored.pointer_mut(&format!("{pointer}/{list}/{i}/image")) {
                *slot = old.clone();
            }
        }
    }
    assert_eq!(
        &restored,
        object,
        "pinning changed more than images: {}",
        show(data)
    );
    request.request.object = pinned.clone();
    let again = serde_json::to_vec(&request).expect("JSON");
    let second = answer(
        &again,
        validate_with(&again, &FakeVerifier),
        "validate_with (pinned)",
    );
    assert!(
        second.accepted && second.mutated_object.is_none(),
        "the pinned object is not accepted unchanged ({:?}): {}",
        second.message,
        show(data)
    );
}

/// A compliant pod whose images take the signature paths under most settings.
fn probe_request() -> Value {
    json!({
        "uid": "fuzz", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "name": "probe", "namespace": "testnet", "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "initContainers": [{"name": "init", "image": "registry.k8s.io/pause:3.9",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}, "requests": {"cpu": "10m", "memory": "16Mi"}}}],
            "containers": [{"name": "node", "image": "ghcr.io/bizra/node:v2.3.0",
                "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}},
                "resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}}]
        }}
    })
}

/// `validate_settings`: JSON with a boolean `valid`, the same verdict as `Settings::parse`, a
/// one-line reason when invalid; settings it calls valid never make `validate` fail.
pub fn policy_validate_settings(data: &[u8]) {
    let raw = validate_settings(data).unwrap_or_else(|e| {
        panic!(
            "validate_settings returned a guest error ({e}) on {}",
            show(data)
        )
    });
    let value: Value = serde_json::from_slice(&raw).expect("validate_settings answers JSON");
    assert!(
        value.get("valid").is_some_and(Value::is_boolean),
        "no boolean `valid` ({value}) on {}",
        show(data)
    );
    let response: SettingsValidationResponse =
        serde_json::from_value(value).expect("a SettingsValidationResponse");
    assert_eq!(
        response.valid,
        Settings::parse(data).is_ok(),
        "validate_settings and Settings::parse disagree on {}",
        show(data)
    );
    if !response.valid {
        let message = response.message.unwrap_or_default();
        assert!(
            !message.trim().is_empty() && !message.contains('\n') && message.chars().count() <= 303,
            "unreadable reason {message:?} for {}",
            show(data)
        );
        return;
    }
    let settings: Value = serde_json::from_slice(data).expect("valid settings are JSON");
    let payload = serde_json::to_vec(&json!({"settings": settings, "request": probe_request()}))
        .expect("JSON");
    policy_validate(&payload);
}

/// Image references: a parsed reference prints as the input and parses back equal, its parts
/// are within the grammar's bounds, and its `version` label is a valid label value.
pub fn image_ref(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let image = match ImageRef::parse(text) {
        Ok(image) => image,
        Err(e) => {
            assert!(
                e.image.chars().count() <= 80 && !e.reason.is_empty(),
                "bad error {e:?} for {}",
                show(data)
            );
            return;
        }
    };
    let printed = image.to_string();
    assert_eq!(printed, text, "{image:?} does not print as its input");
    assert_eq!(
        ImageRef::parse(&printed).as_ref(),
        Ok(&image),
        "{printed:?} does not parse back"
    );
    assert!(image.name().len() <= 255, "name too long: {}", show(data));
    if let Some(tag) = &image.tag {
        assert_eq!(check_tag(tag), Ok(()), "bad tag kept: {}", show(data));
    }
    let label = image.version_label();
    assert!(
        !label.is_empty() && label.len() <= 63,
        "label {label:?} of {}",
        show(data)
    );
    assert!(
        label.starts_with(|c: char| c.is_ascii_alphanumeric())
            && label.ends_with(|c: char| c.is_ascii_alphanumeric())
            && label
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')),
        "label {label:?} of {} is not a label value",
        show(data)
    );
    let retagged = image.with_tag("v1").expect("v1 is a tag");
    assert_eq!(
        ImageRef::parse(&retagged.to_string()).as_ref(),
        Ok(&retagged),
        "{retagged} does not parse back"
    );
}
