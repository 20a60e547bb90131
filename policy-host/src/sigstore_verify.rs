//! The host side of `kubewarden/oci/v2/verify`, done for real with the sigstore crate as
//! Kubewarden's policy-server does: resolve the image to its digest in the registry, fetch the
//! cosign signatures stored for that digest, and require every given public key (and the
//! annotations, when asked) to be satisfied by some signature. Every failure is an error, so the
//! policy fails closed.
//!
//! Keyless, GitHub Actions and certificate checks need Fulcio and Rekor, which do not exist
//! offline; they are refused with an error rather than answered.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use serde::Deserialize;
use sigstore::cosign::verification_constraint::{
    AnnotationVerifier, PublicKeyVerifier, VerificationConstraint, VerificationConstraintVec,
};
use sigstore::cosign::{Client, CosignCapabilities, verify_constraints};
use sigstore::registry::{Auth, OciReference};

use crate::cosign::sigstore_client;
use crate::{HostCallHandler, verified};

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

/// Answers the policy's signature host calls from the registries its images name. One per
/// server: the registry client (and its connections) and the runtime are kept between requests.
pub struct SigstoreVerifier {
    runtime: tokio::runtime::Runtime,
    client: Mutex<Client>,
}

impl SigstoreVerifier {
    pub fn new() -> Result<Self, String> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .map_err(|e| format!("tokio runtime: {e}"))?;
        Ok(SigstoreVerifier {
            runtime,
            client: Mutex::new(sigstore_client()?),
        })
    }

    /// Answers one host call.
    pub fn answer(
        &self,
        binding: &str,
        namespace: &str,
        operation: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, String> {
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
                let mut client = self
                    .client
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                let digest = self.runtime.block_on(verify_with_keys(
                    &mut client,
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
    }

    /// A handler for one instance, answering through this verifier.
    pub fn handler(self: &Arc<Self>) -> HostCallHandler {
        let verifier = Arc::clone(self);
        Box::new(move |binding, namespace, operation, payload| {
            verifier.answer(binding, namespace, operation, payload)
        })
    }
}

/// A handler with a verifier of its own (for tests that make one host).
pub fn sigstore_verifier() -> HostCallHandler {
    match SigstoreVerifier::new() {
        Ok(verifier) => Arc::new(verifier).handler(),
        Err(e) => Box::new(move |_, _, _, _| Err(e.clone())),
    }
}

/// The image's digest when every key, and the annotations, are satisfied by its signatures.
async fn verify_with_keys(
    client: &mut Client,
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
