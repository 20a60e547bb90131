//! Signing as `cosign generate-key-pair` + `cosign sign --key` do, with the sigstore crate: an
//! ECDSA P-256 key pair whose private half is stored scrypt-encrypted in cosign's PEM format, a
//! SimpleSigning payload for the image's manifest digest, and the signature pushed to the
//! registry as the image's `sha256-<digest>.sig` tag.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use sigstore::cosign::constraint::{AnnotationMarker, PrivateKeySigner, SignConstraintVec};
use sigstore::cosign::signature_layers::SignatureLayer;
use sigstore::cosign::{Client, ClientBuilder, CosignCapabilities, apply_constraints};
use sigstore::crypto::SigningScheme;
use sigstore::registry::{Auth, OciReference};
use zeroize::Zeroizing;

use crate::oci::plain_http;

/// A cosign key pair: what `cosign generate-key-pair` writes to cosign.key and cosign.pub.
pub struct CosignKey {
    pub encrypted_private_pem: Zeroizing<String>,
    pub public_pem: String,
    password: Zeroizing<Vec<u8>>,
}

impl CosignKey {
    pub fn generate(password: &str) -> Result<CosignKey, String> {
        let signer = SigningScheme::ECDSA_P256_SHA256_ASN1
            .create_signer()
            .map_err(|e| format!("generate a P-256 key: {e}"))?;
        let pair = signer
            .to_sigstore_keypair()
            .map_err(|e| format!("key pair: {e}"))?;
        Ok(CosignKey {
            encrypted_private_pem: pair
                .private_key_to_encrypted_pem(password.as_bytes())
                .map_err(|e| format!("encrypt the private key: {e}"))?,
            public_pem: pair
                .public_key_to_pem()
                .map_err(|e| format!("public key PEM: {e}"))?,
            password: Zeroizing::new(password.as_bytes().to_vec()),
        })
    }

    /// A key pair as written by [`CosignKey::generate`] (cosign.key and cosign.pub), with the
    /// password that decrypts it.
    pub fn from_pem(encrypted_private_pem: String, public_pem: String, password: &str) -> Self {
        CosignKey {
            encrypted_private_pem: Zeroizing::new(encrypted_private_pem),
            public_pem,
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
pub fn sigstore_client() -> Result<Client, String> {
    ClientBuilder::default()
        .with_oci_client_config(plain_http())
        .build()
        .map_err(|e| format!("sigstore client: {e}"))
}

/// Signs `image` (resolved to its current digest) with `key`, the annotations going into the
/// signed payload as `cosign sign -a key=value` does, and pushes the signature.
pub async fn sign(
    image: &str,
    key: &CosignKey,
    annotations: &[(&str, &str)],
    tamper: Tamper,
) -> Result<(), String> {
    let reference: OciReference = image
        .parse()
        .map_err(|e| format!("bad image reference {image}: {e}"))?;
    let mut client = sigstore_client()?;
    let (signature_image, digest) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .map_err(|e| format!("resolve {image}: {e}"))?;

    // The private key is read back from its encrypted PEM, as cosign reads cosign.key.
    let signer = PrivateKeySigner::new_with_raw(
        Zeroizing::new(key.encrypted_private_pem.as_bytes().to_vec()),
        key.password.clone(),
        &SigningScheme::ECDSA_P256_SHA256_ASN1,
    )
    .map_err(|e| format!("load the encrypted private key: {e}"))?;
    let annotations: HashMap<String, String> = annotations
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // Annotations first: the signature covers them.
    let constraints: SignConstraintVec = vec![
        Box::new(AnnotationMarker::new(annotations)),
        Box::new(signer),
    ];
    let mut layer = SignatureLayer::new_unsigned(&reference, &digest)
        .map_err(|e| format!("signature payload: {e}"))?;
    apply_constraints(&mut layer, constraints.iter()).map_err(|e| format!("sign: {e:?}"))?;

    match tamper {
        Tamper::Nothing => {}
        Tamper::Signature => {
            let signature = layer.signature.as_deref().unwrap_or_default();
            let mut bytes = BASE64
                .decode(signature)
                .map_err(|e| format!("base64 signature: {e}"))?;
            if let Some(last) = bytes.last_mut() {
                *last ^= 0x01;
            }
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
        .map(|_| ())
        .map_err(|e| format!("push the signature of {image}: {e}"))
}
