//! A host standing in for Fulcio and Rekor: it knows who signed which image ("ghcr.io/bizra/node
//! was signed in GitHub Actions of bizra/node") and answers the policy's keyless, GitHub Actions
//! and certificate `kubewarden/oci/v2/verify` calls as Kubewarden's policy-server answers them
//! from the signatures it verified: the request, parsed with the SDK's own type, is trusted only
//! when every identity it asks for is satisfied by one signature that also carries the requested
//! annotations (sigstore's `verify_constraints`), with the matching rules of Kubewarden's
//! verification constraints (policy-fetcher's `GenericIssuerSubjectVerifier` and
//! `GitHubVerifier`, sigstore's `CertificateVerifier`). Anything else is an error, so a policy
//! asking for the wrong owner, repository, issuer, subject, prefix or certificate is refused.
//!
//! Public-key rules are not answered here: `sigstore_host` verifies them for real.

use std::collections::BTreeMap;

use kubewarden_policy_sdk::host_capabilities::SigstoreVerificationInputV2;
use policy_host::{HostCallHandler, verified};

/// The OIDC issuer of GitHub Actions' tokens, the only one `GitHubVerifier` accepts.
pub const GITHUB_ACTIONS_ISSUER: &str = "https://token.actions.githubusercontent.com";

/// Test certificates (see certs/README.md): `RELEASE_CERT` is issued by `RELEASE_CA`;
/// `ANOTHER_SIGNER_CERT` is self-signed by somebody else.
pub const RELEASE_CA: &str = include_str!("certs/release-ca.pem");
pub const RELEASE_CERT: &str = include_str!("certs/release.pem");
pub const ANOTHER_SIGNER_CERT: &str = include_str!("certs/another-signer.pem");

/// Who made a signature, as its certificate (and Rekor) tell the host.
#[derive(Clone, Debug)]
pub enum Signer {
    /// A Fulcio certificate for an OIDC identity: its issuer and subject (an email or a URI).
    Keyless { issuer: String, subject: String },
    /// A signature by the key of `certificate` (PEM), issued by `issued_by` (None: self-signed),
    /// with or without a Rekor bundle.
    Certificate {
        certificate: String,
        issued_by: Option<String>,
        in_rekor: bool,
    },
}

impl Signer {
    pub fn keyless(issuer: &str, subject: &str) -> Signer {
        Signer::Keyless {
            issuer: issuer.into(),
            subject: subject.into(),
        }
    }

    /// A release workflow of github.com/`owner`/`repo` run in GitHub Actions, as Fulcio
    /// certifies it: GitHub's issuer, the workflow's URL as the subject.
    pub fn github_actions(owner: &str, repo: &str) -> Signer {
        Signer::keyless(GITHUB_ACTIONS_ISSUER, &github_workflow(owner, repo))
    }
}

/// The subject Fulcio gives a release workflow of github.com/`owner`/`repo`.
pub fn github_workflow(owner: &str, repo: &str) -> String {
    format!("https://github.com/{owner}/{repo}/.github/workflows/release.yml@refs/tags/v2.2.0")
}

/// One signature of an image: who made it, and the annotations in its signed payload.
#[derive(Clone, Debug)]
pub struct Signature {
    pub signer: Signer,
    pub annotations: BTreeMap<String, String>,
}

impl Signature {
    pub fn annotated(mut self, key: &str, value: &str) -> Signature {
        self.annotations.insert(key.into(), value.into());
        self
    }
}

impl From<Signer> for Signature {
    fn from(signer: Signer) -> Signature {
        Signature {
            signer,
            annotations: BTreeMap::new(),
        }
    }
}

/// What the stand-in knows: images by the reference the policy names them with, their digest,
/// and their signatures.
#[derive(Clone, Debug, Default)]
pub struct KeylessHost {
    images: Vec<(String, String, Vec<Signature>)>,
}

/// One identity a request asks for, as the host's verification constraint checks it.
enum Wanted {
    Identity {
        issuer: String,
        subject: String,
    },
    UrlPrefix {
        issuer: String,
        prefix: String,
    },
    GithubActions {
        owner: String,
        repo: Option<String>,
    },
    Certificate {
        certificate: Vec<u8>,
        chain: Option<Vec<Vec<u8>>>,
        require_rekor_bundle: bool,
    },
}

impl Wanted {
    fn satisfied_by(&self, signer: &Signer) -> bool {
        match (self, signer) {
            (
                Wanted::Identity { issuer, subject },
                Signer::Keyless {
                    issuer: signed_issuer,
                    subject: signed_subject,
                },
            ) => issuer == signed_issuer && subject == signed_subject,
            (
                Wanted::UrlPrefix { issuer, prefix },
                Signer::Keyless {
                    issuer: signed_issuer,
                    subject,
                },
            ) => {
                // Kubewarden ends the prefix with `/`: https://github.com/bizra must not match
                // https://github.com/bizra-forks.
                let prefix = if prefix.ends_with('/') {
                    prefix.clone()
                } else {
                    format!("{prefix}/")
                };
                issuer == signed_issuer && subject.starts_with(&prefix)
            }
            (Wanted::GithubActions { owner, repo }, Signer::Keyless { issuer, subject }) => {
                let mut path = subject
                    .strip_prefix("https://github.com/")
                    .unwrap_or_default()
                    .split('/');
                let (signed_owner, signed_repo) = (path.next(), path.next());
                issuer == GITHUB_ACTIONS_ISSUER
                    && signed_owner == Some(owner.as_str())
                    && signed_repo.is_some()
                    && repo
                        .as_ref()
                        .is_none_or(|r| signed_repo == Some(r.as_str()))
            }
            (
                Wanted::Certificate {
                    certificate,
                    chain,
                    require_rekor_bundle,
                },
                Signer::Certificate {
                    certificate: signed_with,
                    issued_by,
                    in_rekor,
                },
            ) => {
                // Without a chain the given certificate is trusted as it is; with one, the
                // signer's certificate must have been issued by a certificate of the chain.
                let trusted = chain.as_ref().is_none_or(|chain| {
                    issued_by
                        .as_ref()
                        .is_some_and(|ca| chain.iter().any(|c| c == ca.as_bytes()))
                });
                certificate == signed_with.as_bytes()
                    && trusted
                    && (*in_rekor || !require_rekor_bundle)
            }
            _ => false,
        }
    }

    fn describe(&self) -> String {
        match self {
            Wanted::Identity { issuer, subject } => format!("issuer {issuer}, subject {subject}"),
            Wanted::UrlPrefix { issuer, prefix } => {
                format!("issuer {issuer}, subject under {prefix}")
            }
            Wanted::GithubActions { owner, repo } => format!(
                "GitHub Actions of {owner}/{}",
                repo.as_deref().unwrap_or("any repository")
            ),
            Wanted::Certificate {
                chain,
                require_rekor_bundle,
                ..
            } => format!(
                "the given certificate ({}, Rekor bundle {})",
                if chain.is_some() {
                    "issued by the given chain"
                } else {
                    "trusted as it is"
                },
                if *require_rekor_bundle {
                    "required"
                } else {
                    "optional"
                }
            ),
        }
    }
}

impl KeylessHost {
    /// Adds a signature of `image` (whose manifest digest is `digest`).
    pub fn signed(mut self, image: &str, digest: &str, signature: impl Into<Signature>) -> Self {
        let signature = signature.into();
        match self.images.iter_mut().find(|(known, _, _)| known == image) {
            Some((_, _, signatures)) => signatures.push(signature),
            None => self
                .images
                .push((image.into(), digest.into(), vec![signature])),
        }
        self
    }

    /// The handler answering `kubewarden/oci/v2/verify` from what this host knows.
    pub fn handler(self) -> HostCallHandler {
        Box::new(move |binding, namespace, operation, payload| {
            if (binding, namespace, operation) != ("kubewarden", "oci", "v2/verify") {
                return Err(format!(
                    "host call {binding}/{namespace}/{operation} is not available"
                ));
            }
            let request: SigstoreVerificationInputV2 = serde_json::from_slice(payload)
                .map_err(|e| format!("malformed verification request: {e}"))?;
            self.verify(request).map(|digest| verified(&digest))
        })
    }

    /// The image's digest when every identity the request asks for signed it.
    fn verify(&self, request: SigstoreVerificationInputV2) -> Result<String, String> {
        let (image, wanted, annotations) = match request {
            SigstoreVerificationInputV2::SigstorePubKeyVerify { .. } => {
                return Err("public keys are verified against a registry (sigstore_host)".into());
            }
            SigstoreVerificationInputV2::SigstoreKeylessVerify {
                image,
                keyless,
                annotations,
            } => (
                image,
                keyless
                    .into_iter()
                    .map(|k| Wanted::Identity {
                        issuer: k.issuer,
                        subject: k.subject,
                    })
                    .collect(),
                annotations,
            ),
            SigstoreVerificationInputV2::SigstoreKeylessPrefixVerify {
                image,
                keyless_prefix,
                annotations,
            } => (
                image,
                keyless_prefix
                    .into_iter()
                    .map(|k| Wanted::UrlPrefix {
                        issuer: k.issuer,
                        prefix: k.url_prefix,
                    })
                    .collect(),
                annotations,
            ),
            SigstoreVerificationInputV2::SigstoreGithubActionsVerify {
                image,
                owner,
                repo,
                annotations,
            } => (
                image,
                vec![Wanted::GithubActions { owner, repo }],
                annotations,
            ),
            SigstoreVerificationInputV2::SigstoreCertificateVerify {
                image,
                certificate,
                certificate_chain,
                require_rekor_bundle,
                annotations,
            } => (
                image,
                vec![Wanted::Certificate {
                    certificate,
                    chain: certificate_chain,
                    require_rekor_bundle,
                }],
                annotations,
            ),
        };
        let Some((_, digest, signatures)) =
            self.images.iter().find(|(known, _, _)| *known == image)
        else {
            return Err(format!("no signatures found for image: {image}"));
        };
        if wanted.is_empty() {
            return Err(format!("{image}: the request asks for no signer"));
        }
        let annotations = annotations.unwrap_or_default();
        let unsatisfied: Vec<String> = wanted
            .iter()
            .filter(|w| {
                !signatures.iter().any(|s| {
                    w.satisfied_by(&s.signer)
                        && annotations
                            .iter()
                            .all(|(k, v)| s.annotations.get(k) == Some(v))
                })
            })
            .map(Wanted::describe)
            .collect();
        if unsatisfied.is_empty() {
            Ok(digest.clone())
        } else {
            Err(format!(
                "Image verification failed: missing signatures of {image}: {}{}",
                unsatisfied.join("; "),
                if annotations.is_empty() {
                    String::new()
                } else {
                    format!(" (with the annotations {annotations:?})")
                }
            ))
        }
    }
}
