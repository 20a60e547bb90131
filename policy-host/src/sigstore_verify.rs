//! The host side of `kubewarden/oci/v2/verify`, done for real with the sigstore crate as
//! Kubewarden's policy-server does: resolve the image to its digest in the registry, fetch the
//! cosign signatures stored for that digest, and require every given public key (and the
//! annotations, when asked) to be satisfied by some signature. Every failure is an error, so the
//! policy fails closed.
//!
//! Keyless, GitHub Actions and certificate checks need Fulcio and Rekor, which do not exist
//! offline; they are refused with an error rather than answered.

use std::collections::BTreeMap;

use crate::{HostCallHandler, verified};
use serde::Deserialize;
use sigstore::cosign::verification_constraint::{
    AnnotationVerifier, PublicKeyVerifier, VerificationConstraint, VerificationConstraintVec,
};
use sigstore::cosign::{CosignCapabilities, verify_constraints};
use sigstore::registry::{Auth, OciReference};

use crate::cosign::sigstore_client;

/// The SDK's `SigstoreVerificationInputV2` for public keys, as the policy sends it.
#[derive(Deserialize)]
#[serde(tag = "type")]
enum VerificationRequest {
    SigstorePubKeyVerify {
        image: String,
        pub_keys: Vec<String>,
        annotations: Option<BTreeMap<String, String>>,
    },
    #[serde(other)]
    NeedsFulcioAndRekor,
}

/// A handler answering the policy's signature host calls from the registries its images name.
pub fn sigstore_verifier() -> HostCallHandler {
    // Made on the first verification: most admission requests need none.
    let mut runtime: Option<tokio::runtime::Runtime> = None;
    Box::new(move |binding, namespace, operation, payload| {
        if (binding, namespace, operation) != ("kubewarden", "oci", "v2/verify") {
            return Err(format!(
                "host call {binding}/{namespace}/{operation} is not available"
            ));
        }
        match serde_json::from_slice(payload) {
            Ok(VerificationRequest::SigstorePubKeyVerify {
                image,
                pub_keys,
                annotations,
            }) => {
                if runtime.is_none() {
                    runtime = Some(
                        tokio::runtime::Builder::new_current_thread()
                            .enable_all()
                            .build()
                            .map_err(|e| format!("tokio runtime: {e}"))?,
                    );
                }
                let Some(runtime) = runtime.as_ref() else {
                    return Err("no tokio runtime".into());
                };
                let digest = runtime.block_on(verify_with_keys(
                    &image,
                    &pub_keys,
                    annotations.unwrap_or_default(),
                ))?;
                Ok(verified(&digest))
            }
            Ok(VerificationRequest::NeedsFulcioAndRekor) => Err(
                "keyless and certificate verification need Fulcio and Rekor, which this offline host does not have".into(),
            ),
            Err(e) => Err(format!("malformed verification request: {e}")),
        }
    })
}

/// The image's digest when every key, and the annotations, are satisfied by its signatures.
async fn verify_with_keys(
    image: &str,
    pub_keys: &[String],
    annotations: BTreeMap<String, String>,
) -> Result<String, String> {
    if pub_keys.is_empty() {
        return Err("no public keys to verify with".into());
    }
    let mut key_constraints: VerificationConstraintVec = Vec::new();
    for key in pub_keys {
        let verifier = PublicKeyVerifier::try_from(key.as_bytes())
            .map_err(|e| format!("unusable public key: {e}"))?;
        key_constraints.push(Box::new(verifier));
    }

    let reference: OciReference = image
        .parse()
        .map_err(|e| format!("bad image reference {image}: {e}"))?;
    let mut client = sigstore_client()?;
    let (_, digest) = client
        .triangulate(&reference, &Auth::Anonymous)
        .await
        .map_err(|e| format!("cannot resolve {image}: {e}"))?;
    // Verify the digest just resolved, so what is verified is what the answer pins.
    let pinned = OciReference::with_digest(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        digest.clone(),
    );
    // sigstore keeps only the layers whose SimpleSigning payload names this digest
    // (`critical.image.docker-manifest-digest`), as for Kubewarden's policy-server: a signature
    // copied under another image's `.sig` tag is dropped here.
    let layers = client
        .trusted_signature_layers(&Auth::Anonymous, &pinned)
        .await
        .map_err(|e| format!("cannot fetch the signatures of {image}: {e}"))?;
    if layers.is_empty() {
        return Err(format!("no signatures found for {image}"));
    }
    if let Err(e) = verify_constraints(&layers, key_constraints.iter()) {
        return Err(format!(
            "{image}: {} of {} public key(s) verify none of its {} signature(s)",
            e.unsatisfied_constraints.len(),
            pub_keys.len(),
            layers.len()
        ));
    }
    if annotations.is_empty() {
        return Ok(digest);
    }
    // Annotations count only on a signature one of the keys made: anybody who can push to the
    // registry can add unsigned layers.
    let wanted = AnnotationVerifier { annotations };
    let carried = layers.iter().any(|layer| {
        wanted.verify(layer).unwrap_or(false)
            && key_constraints
                .iter()
                .any(|key| key.verify(layer).unwrap_or(false))
    });
    if !carried {
        return Err(format!(
            "{image}: no verified signature carries the annotations {:?}",
            wanted.annotations
        ));
    }
    Ok(digest)
}
