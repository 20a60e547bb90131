//! The signature rule end to end with real parts: a local OCI registry (Debian's
//! docker-registry on loopback), test images pushed to it, signed here with generated keys in
//! cosign's format, and the compiled policy's `kubewarden/oci/v2/verify` host calls answered by
//! sigstore verification against that registry.
//!
//! Needs the module built first (tests/run.sh does it) and `docker-registry` on PATH.

mod support;

use kubewarden_policy_sdk::response::ValidationResponse;
use serde_json::{Value, json};
use support::cosign::{CosignKey, Tamper, copy_signature, new_key, sign};
use support::registry::{Registry, push_image};
use support::sigstore_host::sigstore_verifier;
use support::{fixture, new_host, validate};

fn block_on<F: std::future::Future>(future: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
        .block_on(future)
}

/// Settings trusting `key` for every image of the registry, with the other rules on.
fn trusting(registry: &Registry, key: &CosignKey, extra: Value) -> Value {
    let mut rule =
        json!({"image": format!("{}/bizra/*", registry.address()), "pubKeys": [key.public_pem]});
    if let (Some(rule), Some(extra)) = (rule.as_object_mut(), extra.as_object()) {
        rule.extend(extra.clone());
    }
    json!({"signatures": [rule], "job": "pinDigests"})
}

/// A compliant Pod (restricted, limits) running `image`.
fn pod_running(image: &str) -> Value {
    let mut request = fixture("pod_compliant");
    request["object"]["spec"]["containers"][0]["image"] = json!(image);
    request
}

fn admit(settings: &Value, request: &Value) -> ValidationResponse {
    let mut host = new_host(sigstore_verifier());
    validate(&mut host, settings, request)
}

fn rejection(response: &ValidationResponse) -> String {
    assert!(!response.accepted, "expected a rejection: {response:?}");
    let message = response.message.clone().unwrap_or_default();
    // The host's reason, not the SDK's wrapping of it.
    assert!(
        !message.contains("error invoking host capability"),
        "{message}"
    );
    message
}

#[test]
fn keys_are_generated_in_cosign_format() {
    let key = new_key("correct horse");
    assert!(
        key.encrypted_private_pem
            .starts_with("-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"),
        "{}",
        key.encrypted_private_pem.lines().next().unwrap_or_default()
    );
    assert!(key.public_pem.starts_with("-----BEGIN PUBLIC KEY-----"));
}

#[test]
fn a_signed_image_is_admitted_and_pinned_to_the_digest_that_was_verified() {
    let registry = Registry::start();
    let image = registry.image("bizra/node:v2.3.0");
    let digest = block_on(push_image(&image, "bizra-apex v2.3.0"));
    let key = new_key("pw");
    block_on(sign(&image, &key, &[], Tamper::Nothing));

    let response = admit(&trusting(&registry, &key, json!({})), &pod_running(&image));
    assert!(response.accepted, "{:?}", response.message);
    let pinned = response.mutated_object.expect("pinned by mutation");
    assert_eq!(
        pinned["spec"]["containers"][0]["image"],
        json!(format!("{image}@{digest}"))
    );

    // The same image in a Deployment's template.
    let mut deployment = fixture("deployment_compliant");
    deployment["object"]["spec"]["template"]["spec"]["containers"][0]["image"] = json!(image);
    let response = admit(&trusting(&registry, &key, json!({})), &deployment);
    assert!(response.accepted, "{:?}", response.message);
}

#[test]
fn an_unsigned_image_is_rejected() {
    let registry = Registry::start();
    let image = registry.image("bizra/node:unsigned");
    block_on(push_image(&image, "never signed"));
    let key = new_key("pw");

    let message = rejection(&admit(
        &trusting(&registry, &key, json!({})),
        &pod_running(&image),
    ));
    assert!(
        message.contains("signature verification failed")
            && message.contains("no signatures found"),
        "{message}"
    );
}

#[test]
fn a_signature_by_another_key_is_rejected() {
    let registry = Registry::start();
    let image = registry.image("bizra/node:v2.3.0");
    block_on(push_image(&image, "bizra-apex v2.3.0"));
    let signer = new_key("pw");
    let trusted = new_key("pw");
    block_on(sign(&image, &signer, &[], Tamper::Nothing));

    let message = rejection(&admit(
        &trusting(&registry, &trusted, json!({})),
        &pod_running(&image),
    ));
    assert!(
        message.contains("public key(s) verify none of its 1 signature(s)"),
        "{message}"
    );
    // The signer's own key accepts it: the rejection above is the key's doing.
    assert!(
        admit(
            &trusting(&registry, &signer, json!({})),
            &pod_running(&image)
        )
        .accepted
    );
}

#[test]
fn a_tampered_signature_is_rejected() {
    let registry = Registry::start();
    let key = new_key("pw");

    let flipped = registry.image("bizra/node:flipped-bit");
    block_on(push_image(&flipped, "flipped"));
    block_on(sign(&flipped, &key, &[], Tamper::Signature));
    let message = rejection(&admit(
        &trusting(&registry, &key, json!({})),
        &pod_running(&flipped),
    ));
    assert!(message.contains("verify none"), "{message}");

    // The payload edited after signing to claim the annotation the rule asks for.
    let edited = registry.image("bizra/node:edited-payload");
    block_on(push_image(&edited, "edited"));
    block_on(sign(&edited, &key, &[("env", "testnet")], Tamper::Payload));
    let message = rejection(&admit(
        &trusting(&registry, &key, json!({"annotations": {"env": "mainnet"}})),
        &pod_running(&edited),
    ));
    assert!(message.contains("verify none"), "{message}");
}

#[test]
fn required_annotations_must_be_in_the_signed_payload() {
    let registry = Registry::start();
    let key = new_key("pw");
    let image = registry.image("bizra/node:v2.3.0");
    block_on(push_image(&image, "bizra-apex v2.3.0"));
    block_on(sign(&image, &key, &[("env", "testnet")], Tamper::Nothing));

    let testnet = trusting(&registry, &key, json!({"annotations": {"env": "testnet"}}));
    assert!(admit(&testnet, &pod_running(&image)).accepted);
    let mainnet = trusting(&registry, &key, json!({"annotations": {"env": "mainnet"}}));
    let message = rejection(&admit(&mainnet, &pod_running(&image)));
    assert!(
        message.contains("no verified signature carries"),
        "{message}"
    );
}

#[test]
fn a_tag_moved_after_signing_is_rejected() {
    let registry = Registry::start();
    let key = new_key("pw");
    let image = registry.image("bizra/node:v2.3.0");
    block_on(push_image(&image, "the build that was signed"));
    block_on(sign(&image, &key, &[], Tamper::Nothing));
    block_on(push_image(&image, "a different build pushed over the tag"));

    let message = rejection(&admit(
        &trusting(&registry, &key, json!({})),
        &pod_running(&image),
    ));
    assert!(message.contains("no signatures found"), "{message}");
}

#[test]
fn a_signature_replayed_under_another_images_signature_tag_is_rejected() {
    let registry = Registry::start();
    let key = new_key("pw");
    let signed = registry.image("bizra/node:v2.3.0");
    let unsigned = registry.image("bizra/node:v2.4.0-unreviewed");
    let signed_digest = block_on(push_image(
        &signed,
        "the build that was reviewed and signed",
    ));
    let unsigned_digest = block_on(push_image(&unsigned, "a build nobody signed"));
    assert_ne!(signed_digest, unsigned_digest);
    block_on(sign(&signed, &key, &[], Tamper::Nothing));
    // The signature manifest of the signed image, pushed as sha256-<unsigned digest>.sig: its
    // payload's docker-manifest-digest still names the signed image.
    block_on(copy_signature(&signed, &unsigned));

    let settings = trusting(&registry, &key, json!({}));
    assert!(admit(&settings, &pod_running(&signed)).accepted);
    let message = rejection(&admit(&settings, &pod_running(&unsigned)));
    assert!(
        message.contains(&format!("no signatures found for {unsigned}")),
        "{message}"
    );
}

#[test]
fn an_unreachable_registry_fails_closed() {
    let mut registry = Registry::start();
    let key = new_key("pw");
    let image = registry.image("bizra/node:v2.3.0");
    block_on(push_image(&image, "bizra-apex v2.3.0"));
    block_on(sign(&image, &key, &[], Tamper::Nothing));
    let settings = trusting(&registry, &key, json!({}));
    assert!(admit(&settings, &pod_running(&image)).accepted);

    registry.stop();
    let message = rejection(&admit(&settings, &pod_running(&image)));
    assert!(
        message.contains("signature verification failed") && message.contains("cannot resolve"),
        "{message}"
    );
}

#[test]
fn every_image_of_a_pod_is_verified_and_each_failure_is_reported() {
    let registry = Registry::start();
    let key = new_key("pw");
    let signed = registry.image("bizra/node:v2.3.0");
    let unsigned = registry.image("bizra/sidecar:v1");
    block_on(push_image(&signed, "node"));
    block_on(push_image(&unsigned, "sidecar"));
    block_on(sign(&signed, &key, &[], Tamper::Nothing));

    let mut request = pod_running(&signed);
    let mut sidecar = request["object"]["spec"]["containers"][0].clone();
    sidecar["name"] = json!("sidecar");
    sidecar["image"] = json!(unsigned);
    let containers = request["object"]["spec"]["containers"]
        .as_array_mut()
        .expect("containers");
    containers.push(sidecar);

    let message = rejection(&admit(&trusting(&registry, &key, json!({})), &request));
    assert!(
        message.contains("sidecar") && message.contains("bizra/sidecar:v1"),
        "{message}"
    );
    assert!(!message.contains("bizra/node:v2.3.0"), "{message}");
}
