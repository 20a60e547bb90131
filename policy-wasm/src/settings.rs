//! The policy's settings, validated strictly: unknown fields, unparsable PEM, bad URLs and empty
//! rules are refused when the policy is loaded, not when a pod arrives.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::glob::Glob;
use crate::pem;

/// Which rules run; all on by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct RuleToggles {
    pub signed_images: bool,
    pub non_root: bool,
    pub limits: bool,
    pub security_context: bool,
}

impl Default for RuleToggles {
    fn default() -> Self {
        RuleToggles {
            signed_images: true,
            non_root: true,
            limits: true,
            security_context: true,
        }
    }
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

/// Images matching `image` must carry a signature verifiable by the one method set.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureRule {
    /// Image glob: `*` matches any run of characters, `?` one character.
    pub image: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pub_keys: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyless: Vec<KeylessIdentity>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub keyless_prefix: Vec<KeylessPrefix>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub github_actions: Option<GithubActions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<Certificate>,
    /// Annotations the signature must carry.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Settings {
    pub signatures: Vec<SignatureRule>,
    /// Image globs that may run without a signature (checked only when no signature rule matches).
    pub allowed_unsigned: Vec<String>,
    /// Requests in these namespaces are accepted unchecked.
    pub exempt_namespaces: Vec<String>,
    pub rules: RuleToggles,
    /// Also require cpu and memory requests.
    pub require_requests: bool,
    /// Rewrite verified images to `image@digest` (needs `mutating: true` in the policy).
    pub pin_digest: bool,
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
    fn methods(&self) -> Vec<&'static str> {
        let mut set = Vec::new();
        if !self.pub_keys.is_empty() {
            set.push("pubKeys");
        }
        if !self.keyless.is_empty() {
            set.push("keyless");
        }
        if !self.keyless_prefix.is_empty() {
            set.push("keylessPrefix");
        }
        if self.github_actions.is_some() {
            set.push("githubActions");
        }
        if self.certificate.is_some() {
            set.push("certificate");
        }
        set
    }

    fn check(&self) -> Result<(), String> {
        Glob::new(&self.image).map_err(|e| format!("image {e}"))?;
        match self.methods().as_slice() {
            [_] => {}
            [] => {
                return Err(
                    "no verification method: set one of pubKeys, keyless, keylessPrefix, githubActions, certificate (an empty list is none)".into(),
                );
            }
            several => {
                return Err(format!(
                    "several verification methods ({}); use one per rule and add a rule for the other",
                    several.join(", ")
                ));
            }
        }
        for (i, key) in self.pub_keys.iter().enumerate() {
            pem::check(key, "PUBLIC KEY").map_err(|e| format!("pubKeys[{i}]: {e}"))?;
        }
        for (i, id) in self.keyless.iter().enumerate() {
            check_url(&format!("keyless[{i}].issuer"), &id.issuer)?;
            if id.subject.trim().is_empty() {
                return Err(format!("keyless[{i}].subject is empty"));
            }
        }
        for (i, prefix) in self.keyless_prefix.iter().enumerate() {
            check_url(&format!("keylessPrefix[{i}].issuer"), &prefix.issuer)?;
            check_url(&format!("keylessPrefix[{i}].urlPrefix"), &prefix.url_prefix)?;
        }
        if let Some(gh) = &self.github_actions {
            if gh.owner.trim().is_empty() {
                return Err("githubActions.owner is empty".into());
            }
            if gh.repo.as_deref().is_some_and(|r| r.trim().is_empty()) {
                return Err(
                    "githubActions.repo is empty (leave it out to allow every repo of the owner)"
                        .into(),
                );
            }
        }
        if let Some(cert) = &self.certificate {
            pem::check(&cert.certificate, "CERTIFICATE")
                .map_err(|e| format!("certificate: {e}"))?;
            for (i, c) in cert.certificate_chain.iter().enumerate() {
                pem::check(c, "CERTIFICATE").map_err(|e| format!("certificateChain[{i}]: {e}"))?;
            }
        }
        Ok(())
    }
}

impl Settings {
    /// The whole check `validate_settings` runs; the message names the offending entry.
    pub fn check(&self) -> Result<(), String> {
        for (i, rule) in self.signatures.iter().enumerate() {
            rule.check()
                .map_err(|e| format!("signatures[{i}] ({:?}): {e}", rule.image))?;
        }
        for (i, pattern) in self.allowed_unsigned.iter().enumerate() {
            Glob::new(pattern).map_err(|e| format!("allowedUnsigned[{i}]: {e}"))?;
        }
        if let Some(bad) = self.exempt_namespaces.iter().find(|n| n.trim().is_empty()) {
            return Err(format!("exemptNamespaces holds an empty name ({bad:?})"));
        }
        if self.rules.signed_images
            && self.signatures.is_empty()
            && self.allowed_unsigned.is_empty()
        {
            return Err(
                "rules.signedImages is on but there is no signature rule and no allowedUnsigned entry, so every image would be rejected; add signatures, or turn the rule off".into(),
            );
        }
        if !self.rules.signed_images && self.pin_digest {
            return Err(
                "pinDigest needs rules.signedImages: only verified images are pinned".into(),
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
            .filter(|r| image_matches(&r.image, image))
            .collect()
    }

    pub fn allowed_unsigned(&self, image: &str) -> bool {
        self.allowed_unsigned
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
        assert!(ok.rules.non_root && ok.rules.limits && ok.rules.security_context);
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
            "exemptNamespaces": ["kube-system"],
            "pinDigest": true
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
            "allowedUnsigned": ["registry.k8s.io/pause:3.9"],
            "pinDigest": true
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
                "pinDigest needs",
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
