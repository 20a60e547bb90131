//! The policy's settings, validated strictly: unknown fields, unparsable PEM, bad URLs and empty
//! rules are refused when the policy is loaded, not when a pod arrives.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::glob::Glob;
use crate::pem;
use crate::rules::Profile;

/// Which of our own rules (beyond the Pod Security Standards profile) run; all on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RuleToggles {
    pub signed_images: bool,
    pub limits: bool,
    /// Before `podSecurity`: runAsNonRoot and runAsUser, now checks of the restricted profile.
    /// Kept so that old settings saying `true` keep working; anything else is refused with
    /// what replaces it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_root: Option<bool>,
    /// Before `podSecurity`: allowPrivilegeEscalation and drop ALL, likewise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_context: Option<bool>,
}

impl Default for RuleToggles {
    fn default() -> Self {
        RuleToggles {
            signed_images: true,
            limits: true,
            non_root: None,
            security_context: None,
        }
    }
}

impl RuleToggles {
    /// Refuses the retired toggles unless they ask for what `profile` checks anyway.
    fn check_retired(&self, profile: Profile) -> Result<(), String> {
        for (name, value, checks) in [
            ("nonRoot", self.non_root, "runAsNonRoot and runAsUser"),
            (
                "securityContext",
                self.security_context,
                "allowPrivilegeEscalation and capabilities_restricted",
            ),
        ] {
            match value {
                None => {}
                Some(true) if profile == Profile::Restricted => {}
                Some(true) => {
                    return Err(format!(
                        "rules.{name} asks for the {checks} checks, which only podSecurity: restricted makes (podSecurity is {}); remove rules.{name} or set podSecurity: restricted",
                        profile.name()
                    ));
                }
                Some(false) => {
                    return Err(format!(
                        "rules.{name} is replaced by podSecurity: its {checks} checks are part of the restricted profile; to go without them, remove rules.{name} and set podSecurity: baseline (or none)"
                    ));
                }
            }
        }
        Ok(())
    }
}

/// What a policy built from this module does. A mutating webhook that runs after a checking one
/// could change what was checked, so one policy never does both: `validate` checks the final
/// object in the validating phase; `pinDigests` only verifies signatures and rewrites images to
/// their digest, in the mutating phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Job {
    #[default]
    Validate,
    PinDigests,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessIdentity {
    pub issuer: String,
    pub subject: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct KeylessPrefix {
    pub issuer: String,
    pub url_prefix: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GithubActions {
    pub owner: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub repo: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Certificate {
    /// PEM certificate the signature must verify against.
    pub certificate: String,
    /// PEM certificates from the certificate's issuer up to the root.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub certificate_chain: Vec<String>,
    #[serde(default)]
    pub require_rekor_bundle: bool,
}

/// Annotations a signature must carry.
pub type Annotations = BTreeMap<String, String>;

/// Images matching `image` (a glob: `*` any run of characters, `?` one) must carry a signature
/// verifiable by the rule's one method; as in Kubewarden's verify-image-signatures, each method
/// is its own variant, so a rule with two methods cannot exist.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "SignatureRuleFields", into = "SignatureRuleFields")]
pub enum SignatureRule {
    PubKeys {
        image: String,
        pub_keys: Vec<String>,
        annotations: Annotations,
    },
    Keyless {
        image: String,
        keyless: Vec<KeylessIdentity>,
        annotations: Annotations,
    },
    KeylessPrefix {
        image: String,
        keyless_prefix: Vec<KeylessPrefix>,
        annotations: Annotations,
    },
    GithubActions {
        image: String,
        github_actions: GithubActions,
        annotations: Annotations,
    },
    Certificate {
        image: String,
        certificate: Certificate,
        annotations: Annotations,
    },
}

/// A signature rule as written in the settings: every method's key is optional there, so that a
/// rule naming none or several gets a message saying so instead of serde's "no variant matched".
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct SignatureRuleFields {
    image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keyless: Vec<KeylessIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    keyless_prefix: Vec<KeylessPrefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    github_actions: Option<GithubActions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    certificate: Option<Certificate>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    annotations: Annotations,
}

impl TryFrom<SignatureRuleFields> for SignatureRule {
    type Error = String;

    fn try_from(fields: SignatureRuleFields) -> Result<Self, String> {
        let SignatureRuleFields {
            image,
            pub_keys,
            keyless,
            keyless_prefix,
            github_actions,
            certificate,
            annotations,
        } = fields;
        let mut methods = Vec::new();
        if !pub_keys.is_empty() {
            methods.push("pubKeys");
        }
        if !keyless.is_empty() {
            methods.push("keyless");
        }
        if !keyless_prefix.is_empty() {
            methods.push("keylessPrefix");
        }
        if github_actions.is_some() {
            methods.push("githubActions");
        }
        if certificate.is_some() {
            methods.push("certificate");
        }
        if methods.len() > 1 {
            return Err(format!(
                "signature rule {image:?}: several verification methods ({}); use one per rule and add a rule for the other",
                methods.join(", ")
            ));
        }
        Ok(if !pub_keys.is_empty() {
            SignatureRule::PubKeys {
                image,
                pub_keys,
                annotations,
            }
        } else if !keyless.is_empty() {
            SignatureRule::Keyless {
                image,
                keyless,
                annotations,
            }
        } else if !keyless_prefix.is_empty() {
            SignatureRule::KeylessPrefix {
                image,
                keyless_prefix,
                annotations,
            }
        } else if let Some(github_actions) = github_actions {
            SignatureRule::GithubActions {
                image,
                github_actions,
                annotations,
            }
        } else if let Some(certificate) = certificate {
            SignatureRule::Certificate {
                image,
                certificate,
                annotations,
            }
        } else {
            return Err(format!(
                "signature rule {image:?}: no verification method: set one of pubKeys, keyless, keylessPrefix, githubActions, certificate (an empty list is none)"
            ));
        })
    }
}

impl From<SignatureRule> for SignatureRuleFields {
    fn from(rule: SignatureRule) -> Self {
        match rule {
            SignatureRule::PubKeys {
                image,
                pub_keys,
                annotations,
            } => SignatureRuleFields {
                image,
                pub_keys,
                annotations,
                ..Default::default()
            },
            SignatureRule::Keyless {
                image,
                keyless,
                annotations,
            } => SignatureRuleFields {
                image,
                keyless,
                annotations,
                ..Default::default()
            },
            SignatureRule::KeylessPrefix {
                image,
                keyless_prefix,
                annotations,
            } => SignatureRuleFields {
                image,
                keyless_prefix,
                annotations,
                ..Default::default()
            },
            SignatureRule::GithubActions {
                image,
                github_actions,
                annotations,
            } => SignatureRuleFields {
                image,
                github_actions: Some(github_actions),
                annotations,
                ..Default::default()
            },
            SignatureRule::Certificate {
                image,
                certificate,
                annotations,
            } => SignatureRuleFields {
                image,
                certificate: Some(certificate),
                annotations,
                ..Default::default()
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    pub job: Job,
    pub signatures: Vec<SignatureRule>,
    /// Image globs that may run without a signature (checked only when no signature rule matches).
    pub allowed_unsigned: Vec<String>,
    /// Requests in these namespaces are accepted unchecked.
    pub exempt_namespaces: Vec<String>,
    /// The Pod Security Standards profile the `validate` job enforces (default restricted).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pod_security: Option<Profile>,
    /// Which of our own checks the `validate` job makes; a `pinDigests` policy may not set them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<RuleToggles>,
    /// Also require cpu and memory requests (`validate` job only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub require_requests: Option<bool>,
    /// Replaced by `job: pinDigests`; kept only to say so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin_digest: Option<bool>,
}

fn check_url(what: &str, url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .ok_or_else(|| format!("{what} {url:?} is not an http(s) URL"))?;
    let host = rest.split('/').next().unwrap_or("");
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '_'));
    if !host_ok || url.chars().any(char::is_whitespace) {
        return Err(format!("{what} {url:?} has no valid host"));
    }
    Ok(())
}

impl SignatureRule {
    /// The image glob the rule applies to.
    pub fn image(&self) -> &str {
        match self {
            SignatureRule::PubKeys { image, .. }
            | SignatureRule::Keyless { image, .. }
            | SignatureRule::KeylessPrefix { image, .. }
            | SignatureRule::GithubActions { image, .. }
            | SignatureRule::Certificate { image, .. } => image,
        }
    }

    /// The annotations the signature must carry.
    pub fn annotations(&self) -> &Annotations {
        match self {
            SignatureRule::PubKeys { annotations, .. }
            | SignatureRule::Keyless { annotations, .. }
            | SignatureRule::KeylessPrefix { annotations, .. }
            | SignatureRule::GithubActions { annotations, .. }
            | SignatureRule::Certificate { annotations, .. } => annotations,
        }
    }

    fn check(&self) -> Result<(), String> {
        Glob::new(self.image()).map_err(|e| format!("image {e}"))?;
        match self {
            SignatureRule::PubKeys { pub_keys, .. } => {
                for (i, key) in pub_keys.iter().enumerate() {
                    pem::check(key, "PUBLIC KEY").map_err(|e| format!("pubKeys[{i}]: {e}"))?;
                }
            }
            SignatureRule::Keyless { keyless, .. } => {
                for (i, id) in keyless.iter().enumerate() {
                    check_url(&format!("keyless[{i}].issuer"), &id.issuer)?;
                    if id.subject.trim().is_empty() {
                        return Err(format!("keyless[{i}].subject is empty"));
                    }
                }
            }
            SignatureRule::KeylessPrefix { keyless_prefix, .. } => {
                for (i, prefix) in keyless_prefix.iter().enumerate() {
                    check_url(&format!("keylessPrefix[{i}].issuer"), &prefix.issuer)?;
                    check_url(&format!("keylessPrefix[{i}].urlPrefix"), &prefix.url_prefix)?;
                }
            }
            SignatureRule::GithubActions { github_actions, .. } => {
                if github_actions.owner.trim().is_empty() {
                    return Err("githubActions.owner is empty".into());
                }
                if github_actions
                    .repo
                    .as_deref()
                    .is_some_and(|r| r.trim().is_empty())
                {
                    return Err(
                        "githubActions.repo is empty (leave it out to allow every repo of the owner)"
                            .into(),
                    );
                }
            }
            SignatureRule::Certificate { certificate, .. } => {
                pem::check(&certificate.certificate, "CERTIFICATE")
                    .map_err(|e| format!("certificate: {e}"))?;
                for (i, c) in certificate.certificate_chain.iter().enumerate() {
                    pem::check(c, "CERTIFICATE")
                        .map_err(|e| format!("certificateChain[{i}]: {e}"))?;
                }
            }
        }
        Ok(())
    }
}

impl Settings {
    /// The checks of the `validate` job (the default ones when `rules` is not given).
    pub fn rule_toggles(&self) -> RuleToggles {
        match self.job {
            Job::Validate => self.rules.unwrap_or_default(),
            // The pinning job verifies signatures and nothing else.
            Job::PinDigests => RuleToggles {
                signed_images: true,
                limits: false,
                non_root: None,
                security_context: None,
            },
        }
    }

    /// The profile the `validate` job enforces; the pinning job enforces none.
    pub fn pod_security(&self) -> Profile {
        match self.job {
            Job::Validate => self.pod_security.unwrap_or_default(),
            Job::PinDigests => Profile::None,
        }
    }

    /// The whole check `validate_settings` runs; the message names the offending entry.
    pub fn check(&self) -> Result<(), String> {
        if self.pin_digest.is_some() {
            return Err(
                "pinDigest is replaced by a second policy with `job: pinDigests` (mutating: true) beside this one (mutating: false): a policy that checks pods in the mutating phase lets a later mutating webhook change what it checked; see policy-wasm/README.md".into(),
            );
        }
        if self.job == Job::PinDigests {
            let mixed: Vec<&str> = [
                self.pod_security.map(|_| "podSecurity"),
                self.rules.map(|_| "rules"),
                self.require_requests.map(|_| "requireRequests"),
                (!self.allowed_unsigned.is_empty()).then_some("allowedUnsigned"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !mixed.is_empty() {
                return Err(format!(
                    "job pinDigests only verifies signatures and pins digests; {} belong{} to the validating policy (job: validate)",
                    mixed.join(" and "),
                    if mixed.len() == 1 { "s" } else { "" }
                ));
            }
            if self.signatures.is_empty() {
                return Err(
                    "job pinDigests needs signature rules: only verified images are pinned".into(),
                );
            }
        }
        if let Some(rules) = &self.rules {
            rules.check_retired(self.pod_security())?;
        }
        for (i, rule) in self.signatures.iter().enumerate() {
            rule.check()
                .map_err(|e| format!("signatures[{i}] ({:?}): {e}", rule.image()))?;
        }
        for (i, pattern) in self.allowed_unsigned.iter().enumerate() {
            Glob::new(pattern).map_err(|e| format!("allowedUnsigned[{i}]: {e}"))?;
        }
        if let Some(bad) = self.exempt_namespaces.iter().find(|n| n.trim().is_empty()) {
            return Err(format!("exemptNamespaces holds an empty name ({bad:?})"));
        }
        if self.job == Job::Validate
            && self.rule_toggles().signed_images
            && self.signatures.is_empty()
            && self.allowed_unsigned.is_empty()
        {
            return Err(
                "rules.signedImages is on but there is no signature rule and no allowedUnsigned entry, so every image would be rejected; add signatures, or turn the rule off".into(),
            );
        }
        Ok(())
    }

    /// Parses settings JSON strictly and checks them.
    pub fn parse(json: &[u8]) -> Result<Self, String> {
        let settings: Settings =
            serde_json::from_slice(json).map_err(|e| format!("invalid settings: {e}"))?;
        settings.check()?;
        Ok(settings)
    }

    /// The signature rules whose glob matches `image`.
    pub fn rules_for<'a>(&'a self, image: &str) -> Vec<&'a SignatureRule> {
        self.signatures
            .iter()
            .filter(|r| image_matches(r.image(), image))
            .collect()
    }

    /// Whether `image`, matching no signature rule, may run: the allow-list decides for the
    /// `validate` job; the `pinDigests` job has nothing to pin and leaves it to that decision.
    pub fn allowed_unsigned(&self, image: &str) -> bool {
        self.job == Job::PinDigests
            || self
                .allowed_unsigned
                .iter()
                .any(|p| image_matches(p, image))
    }
}

/// A pattern names an image with or without its digest: once pinned (`name:tag@sha256:...`, as
/// this policy rewrites it), the image must still match the rule that `name:tag` matched, or the
/// ReplicaSets and pods made from a pinned Deployment would be refused.
fn image_matches(pattern: &str, image: &str) -> bool {
    let Ok(glob) = Glob::new(pattern) else {
        return false;
    };
    glob.matches(image)
        || image
            .split_once('@')
            .is_some_and(|(without_digest, _)| glob.matches(without_digest))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A real P-256 public key in PEM (generated with openssl for these tests).
    pub const PUBLIC_KEY: &str = "-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEK5dJ8tlF4eIBlywvJQeKYUx1mQF7
3acbTM/+aMBQtuCt2htbSU5vMLMzlceMPxLcFqmm3YG2DrbJwDGN7+dK6g==
-----END PUBLIC KEY-----
";

    fn parse(json: serde_json::Value) -> Result<Settings, String> {
        Settings::parse(json.to_string().as_bytes())
    }

    #[test]
    fn defaults_need_a_signature_rule() {
        let err = parse(serde_json::json!({})).expect_err("empty settings rejected");
        assert!(err.contains("no signature rule"), "{err}");
        let ok = parse(serde_json::json!({"rules": {"signedImages": false}})).expect("valid");
        let rules = ok.rule_toggles();
        assert!(rules.limits && !rules.signed_images);
        assert_eq!(ok.pod_security(), Profile::Restricted);
        assert_eq!(ok.job, Job::Validate);
    }

    #[test]
    fn every_method_parses() {
        let settings = parse(serde_json::json!({
            "signatures": [
                {"image": "ghcr.io/bizra/*", "githubActions": {"owner": "bizra", "repo": "node"}},
                {"image": "127.0.0.1:5000/*", "pubKeys": [PUBLIC_KEY], "annotations": {"env": "prod"}},
                {"image": "quay.io/x/*", "keyless": [{"issuer": "https://accounts.google.com", "subject": "a@b.c"}]},
                {"image": "quay.io/y/*", "keylessPrefix": [{"issuer": "https://token.actions.githubusercontent.com", "urlPrefix": "https://github.com/bizra/"}]}
            ],
            "allowedUnsigned": ["registry.k8s.io/pause:*"],
            "exemptNamespaces": ["kube-system"]
        }))
        .expect("valid settings");
        assert_eq!(settings.rules_for("ghcr.io/bizra/node:v1").len(), 1);
        assert!(settings.rules_for("docker.io/library/nginx").is_empty());
        assert!(settings.allowed_unsigned("registry.k8s.io/pause:3.9"));
    }

    #[test]
    fn an_exact_rule_still_matches_its_image_once_pinned() {
        let settings = parse(serde_json::json!({
            "signatures": [{"image": "ghcr.io/bizra/node:v2.2.0-rc1", "githubActions": {"owner": "bizra"}}],
            "allowedUnsigned": ["registry.k8s.io/pause:3.9"]
        }))
        .expect("valid settings");
        let digest = format!("@sha256:{}", "a".repeat(64));
        assert_eq!(
            settings
                .rules_for(&format!("ghcr.io/bizra/node:v2.2.0-rc1{digest}"))
                .len(),
            1
        );
        assert!(
            settings
                .rules_for(&format!("ghcr.io/bizra/node:v2.2.0{digest}"))
                .is_empty()
        );
        assert!(settings.allowed_unsigned(&format!("registry.k8s.io/pause:3.9{digest}")));
    }

    #[test]
    fn a_rule_keeps_its_one_method_through_a_round_trip() {
        let json = serde_json::json!({"image": "x/*", "keylessPrefix": [{"issuer": "https://i", "urlPrefix": "https://github.com/b/"}], "annotations": {"env": "prod"}});
        let rule: SignatureRule = serde_json::from_value(json.clone()).expect("rule");
        assert!(
            matches!(rule, SignatureRule::KeylessPrefix { .. }),
            "{rule:?}"
        );
        assert_eq!(rule.image(), "x/*");
        assert_eq!(rule.annotations()["env"], "prod");
        assert_eq!(serde_json::to_value(&rule).expect("JSON"), json);
    }

    #[test]
    fn the_pinning_job_checks_nothing_but_signatures() {
        let settings = parse(serde_json::json!({
            "job": "pinDigests",
            "signatures": [{"image": "ghcr.io/bizra/*", "githubActions": {"owner": "bizra"}}],
            "exemptNamespaces": ["kube-system"]
        }))
        .expect("valid settings");
        assert_eq!(
            settings.rule_toggles(),
            RuleToggles {
                signed_images: true,
                limits: false,
                non_root: None,
                security_context: None
            }
        );
        assert_eq!(settings.pod_security(), Profile::None);
    }

    #[test]
    fn the_profile_is_chosen_by_name() {
        for (name, profile) in [
            ("restricted", Profile::Restricted),
            ("baseline", Profile::Baseline),
            ("none", Profile::None),
        ] {
            let settings =
                parse(serde_json::json!({"podSecurity": name, "rules": {"signedImages": false}}))
                    .expect("valid settings");
            assert_eq!(settings.pod_security(), profile);
        }
        let err = parse(
            serde_json::json!({"podSecurity": "privileged", "rules": {"signedImages": false}}),
        )
        .expect_err("not a profile name here");
        assert!(
            err.contains(
                "unknown variant `privileged`, expected one of `restricted`, `baseline`, `none`"
            ),
            "{err}"
        );
    }

    #[test]
    fn the_retired_toggles_keep_working_when_they_ask_for_the_profile() {
        let old = parse(serde_json::json!({"rules": {"signedImages": false, "nonRoot": true, "securityContext": true}}))
            .expect("the settings of the seed still load");
        assert_eq!(old.pod_security(), Profile::Restricted);
        let off = parse(serde_json::json!({"rules": {"signedImages": false, "nonRoot": false}}))
            .expect_err("turning nonRoot off cannot be honoured");
        assert!(
            off.contains("rules.nonRoot is replaced by podSecurity: its runAsNonRoot and runAsUser checks are part of the restricted profile; to go without them, remove rules.nonRoot and set podSecurity: baseline (or none)"),
            "{off}"
        );
        let contradiction = parse(serde_json::json!({"podSecurity": "baseline", "rules": {"signedImages": false, "securityContext": true}}))
            .expect_err("baseline has no such check");
        assert!(
            contradiction.contains("rules.securityContext asks for the allowPrivilegeEscalation and capabilities_restricted checks, which only podSecurity: restricted makes (podSecurity is baseline)"),
            "{contradiction}"
        );
    }

    #[test]
    fn bad_settings_get_a_clear_message() {
        for (json, expected) in [
            (
                serde_json::json!({"signatures": [], "unknown": 1}),
                "unknown field `unknown`",
            ),
            (
                serde_json::json!({"rules": {"nonRoot": true, "root": false}}),
                "unknown field `root`",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "pubKeys": ["not a key"]}]}),
                "pubKeys[0]",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "pubKeys": ["-----BEGIN PUBLIC KEY-----\n!!!!\n-----END PUBLIC KEY-----"]}]}),
                "base64",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "keylessPrefix": [{"issuer": "https://i", "urlPrefix": "github.com/bizra"}]}]}),
                "urlPrefix",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "keylessPrefix": [{"issuer": "https://i", "urlPrefix": "https:///path"}]}]}),
                "no valid host",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "pubKeys": []}]}),
                "no verification method",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "keyless": [{"issuer": "https://i", "subject": "s"}], "githubActions": {"owner": "o"}}]}),
                "several verification methods",
            ),
            (
                serde_json::json!({"signatures": [{"image": "", "githubActions": {"owner": "o"}}]}),
                "empty",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "githubActions": {"owner": " "}}]}),
                "owner is empty",
            ),
            (
                serde_json::json!({"rules": {"signedImages": false}, "pinDigest": true}),
                "pinDigest is replaced by a second policy with `job: pinDigests`",
            ),
            (
                serde_json::json!({"signatures": [{"image": "x/*", "githubActions": {"owner": "o"}}], "pinDigest": false}),
                "pinDigest is replaced",
            ),
            (
                serde_json::json!({"job": "pinDigests", "signatures": [{"image": "x/*", "githubActions": {"owner": "o"}}], "rules": {"nonRoot": true}}),
                "job pinDigests only verifies signatures and pins digests; rules belongs to the validating policy",
            ),
            (
                serde_json::json!({"job": "pinDigests", "signatures": [{"image": "x/*", "githubActions": {"owner": "o"}}], "requireRequests": false, "rules": {}}),
                "rules and requireRequests belong to the validating policy",
            ),
            (
                serde_json::json!({"job": "pinDigests", "signatures": [{"image": "x/*", "githubActions": {"owner": "o"}}], "podSecurity": "baseline"}),
                "podSecurity belongs to the validating policy",
            ),
            (
                serde_json::json!({"job": "pinDigests", "allowedUnsigned": ["*"]}),
                "allowedUnsigned belongs to the validating policy",
            ),
            (
                serde_json::json!({"job": "pinDigests"}),
                "job pinDigests needs signature rules",
            ),
            (
                serde_json::json!({"job": "mutate", "rules": {"signedImages": false}}),
                "unknown variant `mutate`",
            ),
            (
                serde_json::json!({"rules": {"signedImages": false}, "exemptNamespaces": [""]}),
                "empty name",
            ),
            (
                serde_json::json!({"signatures": {"image": "x"}}),
                "invalid type",
            ),
        ] {
            let err = parse(json.clone()).expect_err(&format!("accepted {json}"));
            assert!(err.contains(expected), "{json}: {err}");
        }
    }
}
