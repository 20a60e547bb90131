//! Signing for the tests: the library's cosign signing ([`policy_host::cosign`]) failing the test
//! on an error, and what only an attacker does (copying a signature under another tag).

use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use sigstore::cosign::CosignCapabilities;
use sigstore::registry::{Auth, OciReference};

pub use policy_host::cosign::Tamper;
use policy_host::cosign::sigstore_client;

use super::registry::plain_http;

pub use policy_host::cosign::CosignKey;

/// A new cosign key pair, failing the test on an error.
pub fn new_key(password: &str) -> CosignKey {
    CosignKey::generate(password).unwrap_or_else(|e| panic!("{e}"))
}

pub async fn sign(image: &str, key: &CosignKey, annotations: &[(&str, &str)], tamper: Tamper) {
    policy_host::cosign::sign(image, key, annotations, tamper)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

/// Where cosign stores the signatures of `image`: the `sha256-<digest>.sig` tag of its current
/// digest.
async fn signature_tag(image: &str) -> oci_client::Reference {
    let reference: OciReference = image.parse().expect("image reference");
    let (signature_image, _) = sigstore_client()
        .expect("sigstore client")
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .unwrap_or_else(|e| panic!("resolve {image}: {e}"));
    signature_image
        .whole()
        .parse()
        .expect("signature reference")
}

/// Puts the signature cosign stored for `signed` (its `sha256-<digest>.sig` manifest) under the
/// signature tag of `other`, as anybody who can push to the repository could: the signed payload
/// still names `signed`'s digest. Both images are in one repository, which holds the blobs.
pub async fn copy_signature(signed: &str, other: &str) {
    let from = signature_tag(signed).await;
    let to = signature_tag(other).await;
    assert_eq!(
        (from.registry(), from.repository()),
        (to.registry(), to.repository()),
        "a signature is copied within one repository"
    );
    let registry = oci_client::Client::new(plain_http().into());
    let (manifest, _) = registry
        .pull_image_manifest(&from, &RegistryAuth::Anonymous)
        .await
        .unwrap_or_else(|e| panic!("the signature of {signed}: {e}"));
    registry
        .push_manifest(&to, &OciManifest::Image(manifest.clone()))
        .await
        .unwrap_or_else(|e| panic!("push the signature of {signed} as {to}: {e}"));
    let (copied, _) = registry
        .pull_image_manifest(&to, &RegistryAuth::Anonymous)
        .await
        .unwrap_or_else(|e| panic!("read back {to}: {e}"));
    // The same layers, with the signatures in their annotations.
    let layers =
        |manifest: &OciImageManifest| serde_json::to_value(&manifest.layers).expect("JSON");
    assert_eq!(
        layers(&copied),
        layers(&manifest),
        "{to} holds the signature of {signed}"
    );
}
