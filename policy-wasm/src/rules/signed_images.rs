//! Signed images: every image of every container matches a signature rule and verifies, or is
//! allowed unsigned. Verification itself is the host's (Kubewarden's `oci/v2/verify`), reached
//! through [`Verifier`], so the rule is decided here and tested without a registry.

use super::{ContainerKind, PodFields, Rule, Violation, containers, short};
use crate::settings::{Settings, SignatureRule};

/// The host's answer for one image under one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    pub trusted: bool,
    /// The digest the host resolved and verified (`sha256:...`).
    pub digest: String,
}

/// Verifies one image against one signature rule. The policy asks the host; tests answer
/// themselves.
pub trait Verifier {
    fn verify(&self, image: &str, rule: &SignatureRule) -> Result<Verification, String>;
}

/// An image that verified under every rule matching it, with the digest the host resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedImage {
    pub kind: ContainerKind,
    pub container: String,
    pub image: String,
    pub digest: String,
}

/// Every signature violation of the pod, and the images that verified.
pub fn check_signed_images(
    spec: &PodFields,
    settings: &Settings,
    verifier: &dyn Verifier,
) -> (Vec<Violation>, Vec<VerifiedImage>) {
    let mut violations = Vec::new();
    let mut verified = Vec::new();
    for container in containers(spec) {
        let violation = |message: String| {
            container.violation(
                Rule::SignedImages,
                "image",
                container.image.map(str::to_owned),
                message,
            )
        };
        let Some(image) = container.image else {
            violations.push(violation("has no image".into()));
            continue;
        };
        let rules = settings.rules_for(image);
        if rules.is_empty() {
            if !settings.allowed_unsigned(image) {
                violations.push(violation(format!(
                    "image {image} matches no signature rule and is not in allowedUnsigned"
                )));
            }
            continue;
        }
        // Every matching rule must verify (like Kubewarden's and sigstore's own policies).
        let mut digest = None;
        let before = violations.len();
        for rule in rules {
            match verifier.verify(image, rule) {
                Err(e) => violations.push(violation(format!(
                    "image {image}: signature verification failed ({}): {}",
                    rule.image(),
                    short(&e)
                ))),
                Ok(answer) if !answer.trusted => violations.push(violation(format!(
                    "image {image}: signature not trusted ({})",
                    rule.image()
                ))),
                Ok(answer) => digest = Some(answer.digest),
            }
        }
        if let Some(digest) = digest
            && violations.len() == before
        {
            verified.push(VerifiedImage {
                kind: container.kind,
                container: container.name.to_string(),
                image: image.to_string(),
                digest,
            });
        }
    }
    (violations, verified)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use super::*;
    use crate::settings::{Annotations, GithubActions};

    /// Answers from a table keyed by image and rule glob, and records what was asked.
    struct Table {
        answers: Vec<(&'static str, &'static str, Result<Verification, String>)>,
        asked: RefCell<Vec<(String, String)>>,
    }

    impl Verifier for Table {
        fn verify(&self, image: &str, rule: &SignatureRule) -> Result<Verification, String> {
            self.asked
                .borrow_mut()
                .push((image.to_string(), rule.image().to_string()));
            self.answers
                .iter()
                .find(|(i, r, _)| *i == image && *r == rule.image())
                .map(|(_, _, a)| a.clone())
                .unwrap_or_else(|| Err("no answer".into()))
        }
    }

    fn rule(glob: &str) -> SignatureRule {
        SignatureRule::GithubActions {
            image: glob.into(),
            github_actions: GithubActions {
                owner: "bizra".into(),
                repo: None,
            },
            annotations: Annotations::new(),
        }
    }

    fn pod(images: &[&str]) -> PodFields {
        serde_json::from_value(serde_json::json!({
            "containers": images.iter().enumerate().map(|(i, image)| serde_json::json!({"name": format!("c{i}"), "image": image})).collect::<Vec<_>>()
        }))
        .expect("pod fields")
    }

    fn trusted(digest: &str) -> Result<Verification, String> {
        Ok(Verification {
            trusted: true,
            digest: digest.into(),
        })
    }

    #[test]
    fn every_matching_rule_must_verify_and_the_rule_is_passed_to_the_verifier() {
        let settings = Settings {
            signatures: vec![rule("ghcr.io/bizra/*"), rule("ghcr.io/*")],
            ..Settings::default()
        };
        let table = Table {
            answers: vec![
                (
                    "ghcr.io/bizra/node:v1",
                    "ghcr.io/bizra/*",
                    trusted("sha256:a"),
                ),
                ("ghcr.io/bizra/node:v1", "ghcr.io/*", Err("expired".into())),
            ],
            asked: RefCell::default(),
        };
        let (violations, verified) =
            check_signed_images(&pod(&["ghcr.io/bizra/node:v1"]), &settings, &table);
        assert_eq!(verified, []);
        assert_eq!(
            violations
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            [
                "container \"c0\": image ghcr.io/bizra/node:v1: signature verification failed (ghcr.io/*): expired [signedImages]"
            ]
        );
        assert_eq!(table.asked.borrow().len(), 2);
    }

    #[test]
    fn verified_unmatched_and_untrusted_images() {
        let settings = Settings {
            signatures: vec![rule("ghcr.io/bizra/*")],
            allowed_unsigned: vec!["registry.k8s.io/pause:*".into()],
            ..Settings::default()
        };
        let table = Table {
            answers: vec![
                (
                    "ghcr.io/bizra/node:v1",
                    "ghcr.io/bizra/*",
                    trusted("sha256:a"),
                ),
                (
                    "ghcr.io/bizra/x:v1",
                    "ghcr.io/bizra/*",
                    Ok(Verification {
                        trusted: false,
                        digest: "sha256:b".into(),
                    }),
                ),
            ],
            asked: RefCell::default(),
        };
        let spec = pod(&[
            "ghcr.io/bizra/node:v1",
            "ghcr.io/bizra/x:v1",
            "registry.k8s.io/pause:3.9",
            "busybox",
        ]);
        let (violations, verified) = check_signed_images(&spec, &settings, &table);
        assert_eq!(
            verified,
            [VerifiedImage {
                kind: ContainerKind::Container,
                container: "c0".into(),
                image: "ghcr.io/bizra/node:v1".into(),
                digest: "sha256:a".into()
            }]
        );
        let text: Vec<String> = violations.iter().map(ToString::to_string).collect();
        assert_eq!(
            text,
            [
                "container \"c1\": image ghcr.io/bizra/x:v1: signature not trusted (ghcr.io/bizra/*) [signedImages]",
                "container \"c3\": image busybox matches no signature rule and is not in allowedUnsigned [signedImages]"
            ]
        );
    }
}
