//! Signing as `cosign generate-key-pair` + `cosign sign --key` do, with the sigstore crate: an
//! ECDSA P-256 key pair whose private half is stored scrypt-encrypted in cosign's PEM format, a
//! SimpleSigning payload for the image's manifest digest, and the signature pushed to the
//! registry as the image's `sha256-<digest>.sig` tag.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use oci_client::manifest::{OciImageManifest, OciManifest};
use oci_client::secrets::RegistryAuth;
use sigstore::cosign::constraint::{AnnotationMarker, PrivateKeySigner, SignConstraintVec};
use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::{Client, ClientBuilder, CosignCapabilities, apply_constraints};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, OciReference};
use zeroize::Zeroizing;

use super::registry::plain_http;

/// A cosign key pair: what `cosign generate-key-pair` writes to cosign.key and cosign.pub.
pub struct CosignKey {
    pub encrypted_private_pem: Zeroizing<String>,
    pub public_pem: String,
    password: Zeroizing<Vec<u8>>,
}

impl CosignKey {
    pub fn generate(password: &str) -> CosignKey {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .expect("generate a P-256 key");
        let pair = signer.to_sigstore_keypair().expect("key pair");
        CosignKey {
            encrypted_private_pem: pair
                .private_key_to_encrypted_pem(password.as_bytes())
                .expect("encrypt the private key"),
            public_pem: pair.public_key_to_pem().expect("public key PEM"),
            password: Zeroizing::new(password.as_bytes().to_vec()),
        }
    }
}

/// What to do to a signature after signing it, before pushing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tamper {
    Nothing,
    /// One bit of the signature flipped.
    Signature,
    /// The signed payload's annotations rewritten after signing.
    Payload,
}

/// A sigstore client for the test registry.
pub fn sigstore_client() -> Client {
    ClientBuilder::default()
        .with_oci_client_config(plain_http())
        .build()
        .expect("sigstore client")
}

/// Signs `image` (resolved to its current digest) with `key`, the annotations going into the
/// signed payload as `cosign sign -a key=value` does, and pushes the signature.
pub async fn sign(image: &str, key: &CosignKey, annotations: &[(&str, &str)], tamper: Tamper) {
    let reference: OciReference = image.parse().expect("image reference");
    let mut client = sigstore_client();
    let (signature_image, digest) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .unwrap_or_else(|e| panic!("resolve {image}: {e}"));

    // The private key is read back from its encrypted PEM, as cosign reads cosign.key.
    let signer = PrivateKeySigner::new_with_raw(
        Zeroizing::new(key.encrypted_private_pem.as_bytes().to_vec()),
        key.password.clone(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .expect("load the encrypted private key");
    let annotations: HashMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Annotations first: the signature covers them.
    let constraints: SignConstraintVec = vec![
        Box::new(AnnotationMarker::new(annotations)),
        Box::new(signer),
    ];
    let mut layer = SignatureLayer::new_unsigned(&reference, &digest).expect("payload");
    apply_constraints(&mut layer, constraints.iter()).expect("sign");

    match tamper {
        Tamper::Nothing => {}
        Tamper::Signature => {
            let signature = layer.signature.as_deref().expect("signed");
            let mut bytes = BASE64.decode(signature).expect("base64 signature");
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
            layer.signature = Some(BASE64.encode(bytes));
        }
        Tamper::Payload => {
            let optional = layer.simple_signing.optional.get_or_insert_default();
            optional
                .extra
                .insert("env".into(), serde_json::Value::String("mainnet".into()));
        }
    }

    client
        .push_signature(
            Some(BTreeMap::new()),
            &Auth::Anonymous,
            &signature_image,
            vec![layer],
        )
        .await
        .unwrap_or_else(|e| panic!("push the signature of {image}: {e}"));
}

/// Where cosign stores the signatures of `image`: the `sha256-<digest>.sig` tag of its current
/// digest.
async fn signature_tag(image: &str) -> oci_client::Reference {
    let reference: OciReference = image.parse().expect("image reference");
    let (signature_image, _) = sigstore_client()
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
