//! The admission decision: every rule over every container of the pod spec the request carries,
//! signatures through Kubewarden's sigstore host capabilities, one rejection listing all
//! violations, and (with `pinDigest`) verified images pinned to their digest by mutation.

use kubewarden_policy_sdk::host_capabilities::verification::{
    KeylessInfo, KeylessPrefixInfo, VerificationResponse, verify_certificate,
    verify_keyless_exact_match, verify_keyless_github_actions, verify_keyless_prefix_match,
    verify_pub_keys_image,
};
use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::CallResult;
use kubewarden_policy_sdk::{accept_request, mutate_request, reject_request};
use serde::Deserialize;

use crate::rules::{
    ContainerKind, PodFields, PodRules, Rule, Violation, check_pod, containers, pod_spec_pointer,
};
use crate::settings::{Settings, SignatureRule};

/// Verifies one image against one signature rule. The policy uses the host; tests may not.
pub trait Verifier {
    fn verify(&self, image: &str, rule: &SignatureRule) -> Result<VerificationResponse, String>;
}

/// Kubewarden's `oci/v2/verify` host capability.
pub struct HostVerifier;

impl Verifier for HostVerifier {
    fn verify(&self, image: &str, rule: &SignatureRule) -> Result<VerificationResponse, String> {
        let annotations = (!rule.annotations.is_empty()).then(|| rule.annotations.clone());
        let result = if !rule.pub_keys.is_empty() {
            verify_pub_keys_image(image, rule.pub_keys.clone(), annotations)
        } else if !rule.keyless.is_empty() {
            let ids = rule
                .keyless
                .iter()
                .map(|k| KeylessInfo {
                    issuer: k.issuer.clone(),
                    subject: k.subject.clone(),
                })
                .collect();
            verify_keyless_exact_match(image, ids, annotations)
        } else if !rule.keyless_prefix.is_empty() {
            let prefixes = rule
                .keyless_prefix
                .iter()
                .map(|k| KeylessPrefixInfo {
                    issuer: k.issuer.clone(),
                    url_prefix: k.url_prefix.clone(),
                })
                .collect();
            verify_keyless_prefix_match(image, prefixes, annotations)
        } else if let Some(gh) = &rule.github_actions {
            verify_keyless_github_actions(image, gh.owner.clone(), gh.repo.clone(), annotations)
        } else if let Some(cert) = &rule.certificate {
            let chain =
                (!cert.certificate_chain.is_empty()).then(|| cert.certificate_chain.clone());
            verify_certificate(
                image,
                cert.certificate.clone(),
                chain,
                cert.require_rekor_bundle,
                annotations,
            )
        } else {
            return Err("the signature rule has no verification method".into());
        };
        result.map_err(|e| host_reason(&e))
    }
}

/// The host's own words for a failed verification, without the SDK's and waPC's wrapping
/// ("error invoking host capability oci.verify: Host error: ...").
fn host_reason(error: &kubewarden_policy_sdk::error::Error) -> String {
    match error {
        kubewarden_policy_sdk::error::Error::HostCall { source, .. } => {
            let text = source.to_string();
            match text.strip_prefix("Host error: ") {
                Some(reason) => reason.to_owned(),
                None => text,
            }
        }
        other => other.to_string(),
    }
}

/// Keeps a host error readable: first line, bounded length.
fn short(message: &str) -> String {
    let line = message.lines().next().unwrap_or("").trim();
    if line.chars().count() > 300 {
        format!("{}...", line.chars().take(300).collect::<String>())
    } else {
        line.to_string()
    }
}

/// What the policy decided for one pod spec.
#[derive(Debug, PartialEq)]
pub enum Decision {
    Accept,
    /// Accept with verified images pinned to their digests (the pod spec as it should be).
    Pin(Box<PodFields>),
    Reject(Vec<Violation>),
}

/// The decision for a pod spec under `settings`, asking `verifier` about signatures.
pub fn decide(spec: &PodFields, settings: &Settings, verifier: &dyn Verifier) -> Decision {
    let pod_rules = PodRules {
        non_root: settings.rules.non_root,
        limits: settings.rules.limits,
        security_context: settings.rules.security_context,
        require_requests: settings.require_requests,
    };
    let mut violations = check_pod(spec, &pod_rules);
    let mut digests: Vec<(ContainerKind, String, String)> = Vec::new();
    if settings.rules.signed_images {
        for container in containers(spec) {
            let violation = |message: String| Violation {
                rule: Rule::SignedImages,
                kind: container.kind,
                container: container.name.to_string(),
                message,
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
            for rule in rules {
                match verifier.verify(image, rule) {
                    Err(e) => violations.push(violation(format!(
                        "image {image}: signature verification failed ({}): {}",
                        rule.image,
                        short(&e)
                    ))),
                    Ok(response) if !response.is_trusted => violations.push(violation(format!(
                        "image {image}: signature not trusted ({})",
                        rule.image
                    ))),
                    Ok(response) => {
                        digests.push((container.kind, container.name.to_string(), response.digest))
                    }
                }
            }
        }
    }
    if !violations.is_empty() {
        violations.sort();
        violations.dedup();
        return Decision::Reject(violations);
    }
    if settings.pin_digest {
        let mut pinned = spec.clone();
        let mut changed = false;
        let mut pin = |kind: ContainerKind, name: &str, image: &mut Option<String>| {
            let Some((_, _, digest)) = digests.iter().find(|(k, n, _)| *k == kind && n == name)
            else {
                return;
            };
            if let Some(current) = image.as_mut()
                && !current.contains('@')
                && !digest.is_empty()
            {
                *current = format!("{current}@{digest}");
                changed = true;
            }
        };
        for c in &mut pinned.containers {
            pin(ContainerKind::Container, &c.name.clone(), &mut c.image);
        }
        for c in pinned.init_containers.iter_mut().flatten() {
            pin(ContainerKind::InitContainer, &c.name.clone(), &mut c.image);
        }
        for c in pinned.ephemeral_containers.iter_mut().flatten() {
            pin(
                ContainerKind::EphemeralContainer,
                &c.name.clone(),
                &mut c.image,
            );
        }
        if changed {
            return Decision::Pin(Box::new(pinned));
        }
    }
    Decision::Accept
}

/// The rejection message: every violation, one per clause.
pub fn rejection_message(what: &str, violations: &[Violation]) -> String {
    let list: Vec<String> = violations.iter().map(ToString::to_string).collect();
    format!(
        "{what} is not accepted ({} violation{}): {}",
        violations.len(),
        if violations.len() == 1 { "" } else { "s" },
        list.join("; ")
    )
}

/// The `validate` waPC function.
pub fn validate(payload: &[u8]) -> CallResult {
    validate_with(payload, &HostVerifier)
}

pub fn validate_with(payload: &[u8], verifier: &dyn Verifier) -> CallResult {
    let request: ValidationRequest<Settings> = match serde_json::from_slice(payload) {
        Ok(request) => request,
        Err(e) => {
            return reject_request(
                Some(format!(
                    "bizra-secure-pods cannot read the admission request: {}",
                    short(&e.to_string())
                )),
                Some(400),
                None,
                None,
            );
        }
    };
    let namespace = request.request.namespace.clone();
    if request.settings.exempt_namespaces.contains(&namespace) {
        return accept_request();
    }
    let what = format!(
        "{} {}{}",
        request.request.kind.kind,
        if namespace.is_empty() {
            String::new()
        } else {
            format!("{namespace}/")
        },
        request.request.name
    );
    let Some(pointer) = pod_spec_pointer(&request.request.kind.kind) else {
        return reject_request(
            Some(format!(
                "bizra-secure-pods cannot check {what}: it handles Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job and CronJob"
            )),
            Some(400),
            None,
            None,
        );
    };
    let spec: PodFields = match request.request.object.pointer(pointer) {
        None | Some(serde_json::Value::Null) => return accept_request(),
        Some(value) => match PodFields::deserialize(value) {
            Ok(spec) => spec,
            Err(e) => {
                return reject_request(
                    Some(format!(
                        "bizra-secure-pods cannot read the pod spec of {what}: {}",
                        short(&e.to_string())
                    )),
                    Some(400),
                    None,
                    None,
                );
            }
        },
    };
    match decide(&spec, &request.settings, verifier) {
        Decision::Accept => accept_request(),
        Decision::Pin(pinned) => {
            let mut object = request.request.object;
            if let Some(slot) = object.pointer_mut(pointer) {
                pin_images(slot, &pinned);
            }
            mutate_request(object)
        }
        Decision::Reject(violations) => reject_request(
            Some(rejection_message(&what, &violations)),
            None,
            None,
            None,
        ),
    }
}

/// Writes the pinned images into the pod spec JSON in place, leaving every other field as the
/// user sent it (and sparing the module a serializer for the whole PodSpec).
fn pin_images(spec: &mut serde_json::Value, pinned: &PodFields) {
    type Images<'a> = Vec<(&'a str, Option<&'a String>)>;
    let lists: [(&str, Images); 3] = [
        (
            "containers",
            pinned
                .containers
                .iter()
                .map(|c| (c.name.as_str(), c.image.as_ref()))
                .collect(),
        ),
        (
            "initContainers",
            pinned
                .init_containers
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.image.as_ref()))
                .collect(),
        ),
        (
            "ephemeralContainers",
            pinned
                .ephemeral_containers
                .iter()
                .flatten()
                .map(|c| (c.name.as_str(), c.image.as_ref()))
                .collect(),
        ),
    ];
    for (field, images) in lists {
        let Some(containers) = spec
            .get_mut(field)
            .and_then(serde_json::Value::as_array_mut)
        else {
            continue;
        };
        for container in containers {
            let name = container
                .get("name")
                .and_then(serde_json::Value::as_str)
                .unwrap_or("")
                .to_string();
            if let Some((_, Some(image))) = images.iter().find(|(n, _)| *n == name) {
                container["image"] = serde_json::Value::String((*image).clone());
            }
        }
    }
}

/// The `validate_settings` waPC function: malformed settings get `valid: false` with the reason,
/// never a guest error.
pub fn validate_settings(payload: &[u8]) -> CallResult {
    let response = match Settings::parse(payload) {
        Ok(_) => SettingsValidationResponse {
            valid: true,
            message: None,
        },
        Err(message) => SettingsValidationResponse {
            valid: false,
            message: Some(short(&message)),
        },
    };
    Ok(serde_json::to_vec(&response)?)
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use kubewarden_policy_sdk::response::ValidationResponse;
    use kubewarden_policy_sdk::test::Testcase;
    use serde_json::json;

    use super::*;
    use crate::settings::RuleToggles;

    /// Settings with the pod-spec rules on and every image allowed unsigned.
    fn pod_rules_only() -> Settings {
        Settings {
            allowed_unsigned: vec!["*".into()],
            exempt_namespaces: vec!["kube-system".into()],
            ..Settings::default()
        }
    }

    fn case(fixture: &str, accepted: bool) -> ValidationResponse {
        Testcase {
            name: fixture.into(),
            fixture_file: format!("test_data/{fixture}.json"),
            expected_validation_result: accepted,
            settings: pod_rules_only(),
        }
        .eval(validate)
        .expect("well-formed response")
    }

    fn message(response: &ValidationResponse) -> String {
        response.message.clone().unwrap_or_default()
    }

    #[test]
    fn a_host_error_is_reported_in_the_hosts_words() {
        let wrapped = kubewarden_policy_sdk::error::Error::HostCall {
            operation: "oci.verify".into(),
            source: "Host error: no signatures found for r.example/a:1".into(),
        };
        assert_eq!(
            host_reason(&wrapped),
            "no signatures found for r.example/a:1"
        );
        let other = kubewarden_policy_sdk::error::Error::Validation("bad input".into());
        assert_eq!(host_reason(&other), "bad input");
    }

    #[test]
    fn every_workload_kind_is_checked() {
        for (kind, broken, rule) in [
            ("pod", "pod_root", "[nonRoot]"),
            ("deployment", "deployment_root", "[nonRoot]"),
            ("replicaset", "replicaset_no_limits", "[limits]"),
            ("statefulset", "statefulset_no_limits", "[limits]"),
            ("daemonset", "daemonset_privesc", "[securityContext]"),
            ("job", "job_no_drop", "[securityContext]"),
            ("cronjob", "cronjob_root", "[nonRoot]"),
            (
                "replicationcontroller",
                "replicationcontroller_root",
                "[nonRoot]",
            ),
        ] {
            case(&format!("{kind}_compliant"), true);
            let rejected = case(broken, false);
            assert!(
                message(&rejected).contains(rule),
                "{broken}: {}",
                message(&rejected)
            );
            assert!(
                message(&rejected).contains("container \"bizra-node\""),
                "{}",
                message(&rejected)
            );
        }
    }

    #[test]
    fn pod_level_and_container_level_security_context() {
        case("pod_nonroot_inherited", true);
        let overridden = case("pod_container_overrides_nonroot", false);
        assert!(
            message(&overridden).contains("runAsNonRoot"),
            "{}",
            message(&overridden)
        );
        // The container's runAsUser 1000 overrides the pod's 0.
        case("pod_container_overrides_root_user", true);
        case("pod_no_runasnonroot", false);
    }

    #[test]
    fn init_and_ephemeral_containers() {
        let init = case("pod_init_without_limits", false);
        assert!(
            message(&init).contains("init container \"fetch-genesis\""),
            "{}",
            message(&init)
        );
        // An ephemeral container cannot carry resources: no limits needed, other rules apply.
        case("pod_ephemeral_compliant", true);
        let ephemeral = case("pod_ephemeral_root", false);
        assert!(
            message(&ephemeral).contains("ephemeral container \"debugger\""),
            "{}",
            message(&ephemeral)
        );
        assert!(
            !message(&ephemeral).contains("[limits]"),
            "{}",
            message(&ephemeral)
        );
    }

    #[test]
    fn one_rejection_lists_every_violation_per_container() {
        let rejected = case("pod_many_violations", false);
        let text = message(&rejected);
        for expected in [
            "container \"bizra-node\"",
            "container \"sidecar\"",
            "[nonRoot]",
            "[limits]",
            "[securityContext]",
        ] {
            assert!(text.contains(expected), "{expected} missing from {text}");
        }
        let count: usize = text
            .split("violations): ")
            .nth(1)
            .map(|l| l.split("; ").count())
            .unwrap_or(0);
        assert!(count >= 5, "{count} violations in {text}");
        assert!(
            text.starts_with("Pod testnet/bizra-apex-0 is not accepted ("),
            "{text}"
        );
    }

    #[test]
    fn exempt_namespace_and_unhandled_kinds() {
        case("pod_root_kube_system", true);
        let service = case("service", false);
        assert!(
            message(&service).contains("cannot check Service"),
            "{}",
            message(&service)
        );
    }

    #[test]
    fn rules_can_be_turned_off() {
        let settings = Settings {
            rules: RuleToggles {
                non_root: false,
                ..RuleToggles::default()
            },
            ..pod_rules_only()
        };
        Testcase {
            name: "non-root off".into(),
            fixture_file: "test_data/pod_root.json".into(),
            expected_validation_result: true,
            settings,
        }
        .eval(validate)
        .expect("response");
    }

    #[test]
    fn without_a_verifying_host_signed_images_fail_closed() {
        // Natively the SDK's host call fails, as an unreachable registry would.
        let settings = Settings {
            signatures: vec![SignatureRule {
                image: "ghcr.io/bizra/*".into(),
                pub_keys: vec![crate::settings::tests::PUBLIC_KEY.into()],
                ..SignatureRule::default()
            }],
            ..Settings::default()
        };
        let response = Testcase {
            name: "no host".into(),
            fixture_file: "test_data/pod_compliant.json".into(),
            expected_validation_result: false,
            settings,
        }
        .eval(validate)
        .expect("response");
        let text = message(&response);
        assert!(
            text.contains("signature verification failed (ghcr.io/bizra/*)")
                && text.contains("[signedImages]"),
            "{text}"
        );
    }

    /// Answers verification from a table and records what was asked.
    struct FakeVerifier {
        answers: Vec<(&'static str, Result<VerificationResponse, String>)>,
        asked: RefCell<Vec<String>>,
    }

    impl Verifier for FakeVerifier {
        fn verify(
            &self,
            image: &str,
            _rule: &SignatureRule,
        ) -> Result<VerificationResponse, String> {
            self.asked.borrow_mut().push(image.to_string());
            self.answers
                .iter()
                .find(|(i, _)| *i == image)
                .map(|(_, a)| a.clone())
                .unwrap_or_else(|| Err("no answer".into()))
        }
    }

    fn trusted(digest: &str) -> Result<VerificationResponse, String> {
        Ok(VerificationResponse {
            is_trusted: true,
            digest: digest.into(),
        })
    }

    fn signed_settings(pin_digest: bool) -> Settings {
        Settings {
            signatures: vec![SignatureRule {
                image: "ghcr.io/bizra/*".into(),
                github_actions: Some(crate::settings::GithubActions {
                    owner: "bizra".into(),
                    repo: None,
                }),
                ..SignatureRule::default()
            }],
            allowed_unsigned: vec!["registry.k8s.io/pause:*".into()],
            pin_digest,
            ..Settings::default()
        }
    }

    fn run(fixture: &str, settings: &Settings, verifier: &FakeVerifier) -> ValidationResponse {
        let request: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(format!("test_data/{fixture}.json")).expect("fixture"),
        )
        .expect("json");
        let payload = json!({"settings": settings, "request": request});
        let raw = validate_with(payload.to_string().as_bytes(), verifier).expect("no guest error");
        serde_json::from_slice(&raw).expect("response")
    }

    #[test]
    fn verified_images_are_pinned_to_their_digest() {
        let verifier = FakeVerifier {
            answers: vec![("ghcr.io/bizra/node:v2.2.0-rc1", trusted("sha256:abc"))],
            asked: RefCell::default(),
        };
        let response = run("deployment_compliant", &signed_settings(true), &verifier);
        assert!(response.accepted);
        let mutated = response.mutated_object.expect("mutated deployment");
        assert_eq!(
            mutated["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/bizra/node:v2.2.0-rc1@sha256:abc"
        );
        let plain = run("deployment_compliant", &signed_settings(false), &verifier);
        assert!(plain.accepted && plain.mutated_object.is_none());
    }

    #[test]
    fn untrusted_unmatched_and_failing_images_are_each_reported() {
        let verifier = FakeVerifier {
            answers: vec![(
                "ghcr.io/bizra/node:v2.2.0-rc1",
                Ok(VerificationResponse {
                    is_trusted: false,
                    digest: "sha256:abc".into(),
                }),
            )],
            asked: RefCell::default(),
        };
        let response = run("pod_many_violations", &signed_settings(false), &verifier);
        let text = message(&response);
        assert!(!response.accepted);
        assert!(
            text.contains("image ghcr.io/bizra/node:v2.2.0-rc1: signature not trusted"),
            "{text}"
        );
        assert!(text.contains("image ghcr.io/bizra/sidecar:v1: signature verification failed (ghcr.io/bizra/*): no answer"), "{text}");
        assert_eq!(verifier.asked.borrow().len(), 2);

        let ephemeral = run("pod_ephemeral_root", &signed_settings(false), &verifier);
        assert!(
            message(&ephemeral).contains("busybox:1.36 matches no signature rule"),
            "{}",
            message(&ephemeral)
        );
    }

    #[test]
    fn settings_validation_answers_valid_or_the_reason() {
        let answer = |json: &str| -> SettingsValidationResponse {
            serde_json::from_slice(&validate_settings(json.as_bytes()).expect("no guest error"))
                .expect("response")
        };
        assert!(
            answer(
                r#"{"signatures":[{"image":"ghcr.io/bizra/*","githubActions":{"owner":"bizra"}}]}"#
            )
            .valid
        );
        let bad = answer(r#"{"signatures":[{"image":"x/*","pubKeys":["nope"]}]}"#);
        assert!(!bad.valid);
        assert!(bad.message.unwrap_or_default().contains("pubKeys[0]"));
        let garbage = answer("not json at all");
        assert!(
            !garbage.valid
                && garbage
                    .message
                    .unwrap_or_default()
                    .contains("invalid settings")
        );
    }
}
