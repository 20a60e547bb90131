//! The admission decision: the request's pod spec (or pod template) read once, the rules of the
//! policy's job over every container, one rejection listing all violations, and for the
//! `pinDigests` job verified images pinned to their digest by mutation.

use kubewarden_policy_sdk::host_capabilities::verification::{
    KeylessInfo, KeylessPrefixInfo, verify_certificate, verify_keyless_exact_match,
    verify_keyless_github_actions, verify_keyless_prefix_match, verify_pub_keys_image,
};
use kubewarden_policy_sdk::request::ValidationRequest;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use kubewarden_policy_sdk::wapc_guest::CallResult;
use kubewarden_policy_sdk::{accept_request, mutate_request, reject_request};
use std::collections::BTreeMap;

use serde::Deserialize;

use crate::pinning::pin_images;
use crate::rules::signed_images::{Verification, VerifiedImage, Verifier, check_signed_images};
use crate::rules::{
    PodFields, PodRules, Violation, check_pod, pod_template_pointer, short, unchanged_by_update,
};
use crate::settings::{Job, Settings, SignatureRule};

/// Kubewarden's `oci/v2/verify` host capability.
pub struct HostVerifier;

impl Verifier for HostVerifier {
    fn verify(&self, image: &str, rule: &SignatureRule) -> Result<Verification, String> {
        let annotations = rule.annotations();
        let annotations = (!annotations.is_empty()).then(|| annotations.clone());
        let result = match rule {
            SignatureRule::PubKeys { pub_keys, .. } => {
                verify_pub_keys_image(image, pub_keys.clone(), annotations)
            }
            SignatureRule::Keyless { keyless, .. } => {
                let ids = keyless
                    .iter()
                    .map(|k| KeylessInfo {
                        issuer: k.issuer.clone(),
                        subject: k.subject.clone(),
                    })
                    .collect();
                verify_keyless_exact_match(image, ids, annotations)
            }
            SignatureRule::KeylessPrefix { keyless_prefix, .. } => {
                let prefixes = keyless_prefix
                    .iter()
                    .map(|k| KeylessPrefixInfo {
                        issuer: k.issuer.clone(),
                        url_prefix: k.url_prefix.clone(),
                    })
                    .collect();
                verify_keyless_prefix_match(image, prefixes, annotations)
            }
            SignatureRule::GithubActions { github_actions, .. } => verify_keyless_github_actions(
                image,
                github_actions.owner.clone(),
                github_actions.repo.clone(),
                annotations,
            ),
            SignatureRule::Certificate { certificate, .. } => {
                let chain = (!certificate.certificate_chain.is_empty())
                    .then(|| certificate.certificate_chain.clone());
                verify_certificate(
                    image,
                    certificate.certificate.clone(),
                    chain,
                    certificate.require_rekor_bundle,
                    annotations,
                )
            }
        };
        result
            .map(|answer| Verification {
                trusted: answer.is_trusted,
                digest: answer.digest,
            })
            .map_err(|e| host_reason(&e))
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

/// What the policy decided for one pod spec.
#[derive(Debug, PartialEq)]
pub enum Decision {
    Accept,
    /// Accept with these verified images pinned to their digests where they are not yet
    /// (`pinDigests` job only).
    Pin(Vec<VerifiedImage>),
    Reject(Vec<Violation>),
}

/// The decision for a pod spec under `settings`, asking `verifier` about signatures.
pub fn decide(spec: &PodFields, settings: &Settings, verifier: &dyn Verifier) -> Decision {
    let toggles = settings.rule_toggles();
    let pod_rules = PodRules {
        pod_security: settings.pod_security(),
        limits: toggles.limits,
        require_requests: settings.require_requests.unwrap_or(false),
    };
    let mut violations = check_pod(spec, &pod_rules);
    let mut verified = Vec::new();
    if toggles.signed_images {
        let (signature_violations, images) = check_signed_images(spec, settings, verifier);
        violations.extend(signature_violations);
        verified = images;
    }
    if !violations.is_empty() {
        violations.sort();
        violations.dedup();
        return Decision::Reject(violations);
    }
    match settings.job {
        // Which of them still need a digest is pinning's to decide.
        Job::PinDigests if !verified.is_empty() => Decision::Pin(verified),
        Job::PinDigests | Job::Validate => Decision::Accept,
    }
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

fn reject(message: String) -> CallResult {
    reject_request(Some(message), Some(400), None, None)
}

/// The `validate` waPC function.
pub fn validate(payload: &[u8]) -> CallResult {
    validate_with(payload, &HostVerifier)
}

pub fn validate_with(payload: &[u8], verifier: &dyn Verifier) -> CallResult {
    let request: ValidationRequest<Settings> = match serde_json::from_slice(payload) {
        Ok(request) => request,
        Err(e) => {
            return reject(format!(
                "bizra-secure-pods cannot read the admission request: {}",
                short(&e.to_string())
            ));
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
    let Some(template) = pod_template_pointer(&request.request.kind.kind) else {
        return reject(format!(
            "bizra-secure-pods cannot check {what}: it handles Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, ReplicationController, Job and CronJob"
        ));
    };
    let pointer = format!("{template}/spec");
    let pointer = pointer.as_str();
    // Fail closed: a handled kind without a readable pod spec is not waved through.
    let value = match request.request.object.pointer(pointer) {
        None | Some(serde_json::Value::Null) => {
            return reject(format!(
                "bizra-secure-pods cannot read the pod spec of {what}: the object has no {pointer}"
            ));
        }
        Some(value) => value,
    };
    let annotations = format!("{template}/metadata/annotations");
    if request.request.operation == "UPDATE"
        && unchanged_by_update(
            template,
            &request.request.old_object,
            &request.request.object,
        )
    {
        return accept_request();
    }
    let mut spec = match PodFields::deserialize(value) {
        Ok(spec) => spec,
        Err(e) => {
            return reject(format!(
                "bizra-secure-pods cannot read the pod spec of {what}: {}",
                short(&e.to_string())
            ));
        }
    };
    // The template's annotations: AppArmor's deprecated per-container profiles live there.
    match request.request.object.pointer(&annotations) {
        None | Some(serde_json::Value::Null) => {}
        Some(value) => match BTreeMap::deserialize(value) {
            Ok(map) => spec.annotations = map,
            Err(e) => {
                return reject(format!(
                    "bizra-secure-pods cannot read the annotations of {what}: {}",
                    short(&e.to_string())
                ));
            }
        },
    }
    match decide(&spec, &request.settings, verifier) {
        Decision::Accept => accept_request(),
        Decision::Pin(verified) => {
            let mut object = request.request.object;
            let changed = object
                .pointer_mut(pointer)
                .is_some_and(|slot| pin_images(slot, &verified));
            if changed {
                mutate_request(object)
            } else {
                accept_request()
            }
        }
        Decision::Reject(violations) => reject_request(
            Some(rejection_message(&what, &violations)),
            None,
            None,
            None,
        ),
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
    use crate::rules::Profile;
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
            ("pod", "pod_root", "[runAsUser]"),
            ("deployment", "deployment_root", "[runAsUser]"),
            ("replicaset", "replicaset_no_limits", "[limits]"),
            ("statefulset", "statefulset_no_limits", "[limits]"),
            (
                "daemonset",
                "daemonset_privesc",
                "[allowPrivilegeEscalation]",
            ),
            ("job", "job_no_drop", "[capabilities_restricted]"),
            ("cronjob", "cronjob_root", "[runAsUser]"),
            (
                "replicationcontroller",
                "replicationcontroller_root",
                "[runAsUser]",
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
        // Restricted refuses a pod-level runAsUser 0 even where the container overrides it, as
        // Pod Security Admission does (the seed's own rule let the override pass).
        let pod_root = case("pod_container_overrides_root_user", false);
        assert!(
            message(&pod_root).contains("pod: runAsUser is 0 (root) on the pod [runAsUser]"),
            "{}",
            message(&pod_root)
        );
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
            "[runAsUser]",
            "[limits]",
            "[allowPrivilegeEscalation]",
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

    /// The rule names a rejection message lists (each violation ends in ` [runAsUser]`), in
    /// order, each once.
    fn rules_named(message: &str) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        let list = message.split_once("): ").map_or("", |(_, list)| list);
        for violation in list.split("; ") {
            if let Some((_, name)) = violation.rsplit_once(" [")
                && let Some(name) = name.strip_suffix(']')
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_owned());
            }
        }
        names
    }

    #[test]
    fn each_pod_security_case_fails_the_checks_pod_security_admission_names() {
        let expected: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string("test_data/pss_expected.json").expect("expectations"),
        )
        .expect("JSON");
        let cases = expected.as_object().expect("object");
        assert!(cases.len() >= 9);
        for (fixture, profiles) in cases.iter().filter(|(k, _)| k.starts_with("pss_")) {
            for (profile, name) in [
                (Profile::Restricted, "restricted"),
                (Profile::Baseline, "baseline"),
            ] {
                let want: Vec<String> =
                    serde_json::from_value(profiles[name].clone()).expect("list");
                let settings = Settings {
                    pod_security: Some(profile),
                    ..pod_rules_only()
                };
                let response = Testcase {
                    name: format!("{fixture} under {name}"),
                    fixture_file: format!("test_data/{fixture}.json"),
                    expected_validation_result: want.is_empty(),
                    settings,
                }
                .eval(validate)
                .expect("response");
                assert_eq!(
                    rules_named(&message(&response)),
                    want,
                    "{fixture} under {name}"
                );
            }
        }
    }

    #[test]
    fn an_update_that_only_unconfines_apparmor_in_the_template_is_checked() {
        let mut request: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string("test_data/replicaset_update_unchanged_spec.json")
                .expect("fixture"),
        )
        .expect("JSON");
        let decide = |request: &serde_json::Value| -> ValidationResponse {
            let payload = json!({"settings": pod_rules_only(), "request": request});
            serde_json::from_slice(&validate(payload.to_string().as_bytes()).expect("answer"))
                .expect("response")
        };
        assert!(decide(&request).accepted);
        // Other annotations of the template may change unchecked, as the spec's own do.
        request["object"]["spec"]["template"]["metadata"]["annotations"] =
            json!({"checksum/config": "abc"});
        assert!(decide(&request).accepted);
        request["object"]["spec"]["template"]["metadata"]["annotations"] = json!({
            "container.apparmor.security.beta.kubernetes.io/bizra-node": "unconfined"
        });
        let refused = decide(&request);
        assert!(!refused.accepted);
        assert!(
            message(&refused).contains("[appArmorProfile]"),
            "{}",
            message(&refused)
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
    fn the_profile_can_be_lowered_and_limits_turned_off() {
        let baseline = Settings {
            pod_security: Some(Profile::Baseline),
            ..pod_rules_only()
        };
        Testcase {
            name: "a root pod under baseline".into(),
            fixture_file: "test_data/pod_root.json".into(),
            expected_validation_result: true,
            settings: baseline,
        }
        .eval(validate)
        .expect("response");
        let no_limits = Settings {
            rules: Some(RuleToggles {
                limits: false,
                ..RuleToggles::default()
            }),
            ..pod_rules_only()
        };
        Testcase {
            name: "limits off".into(),
            fixture_file: "test_data/replicaset_no_limits.json".into(),
            expected_validation_result: true,
            settings: no_limits,
        }
        .eval(validate)
        .expect("response");
    }

    #[test]
    fn without_a_verifying_host_signed_images_fail_closed() {
        // Natively the SDK's host call fails, as an unreachable registry would.
        let settings = Settings {
            signatures: vec![SignatureRule::PubKeys {
                image: "ghcr.io/bizra/*".into(),
                pub_keys: vec![crate::settings::tests::PUBLIC_KEY.into()],
                annotations: Default::default(),
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
        answers: Vec<(&'static str, Result<Verification, String>)>,
        asked: RefCell<Vec<String>>,
    }

    impl Verifier for FakeVerifier {
        fn verify(&self, image: &str, _rule: &SignatureRule) -> Result<Verification, String> {
            self.asked.borrow_mut().push(image.to_string());
            self.answers
                .iter()
                .find(|(i, _)| *i == image)
                .map(|(_, a)| a.clone())
                .unwrap_or_else(|| Err("no answer".into()))
        }
    }

    fn trusted(digest: &str) -> Result<Verification, String> {
        Ok(Verification {
            trusted: true,
            digest: digest.into(),
        })
    }

    fn signed_settings(job: Job) -> Settings {
        Settings {
            job,
            signatures: vec![SignatureRule::GithubActions {
                image: "ghcr.io/bizra/*".into(),
                github_actions: crate::settings::GithubActions {
                    owner: "bizra".into(),
                    repo: None,
                },
                annotations: Default::default(),
            }],
            allowed_unsigned: match job {
                Job::Validate => vec!["registry.k8s.io/pause:*".into()],
                Job::PinDigests => vec![],
            },
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
        let response = run(
            "deployment_compliant",
            &signed_settings(Job::PinDigests),
            &verifier,
        );
        assert!(response.accepted);
        let mutated = response.mutated_object.expect("mutated deployment");
        assert_eq!(
            mutated["spec"]["template"]["spec"]["containers"][0]["image"],
            "ghcr.io/bizra/node:v2.2.0-rc1@sha256:abc"
        );
        // The validating job checks the same images and never mutates.
        let plain = run(
            "deployment_compliant",
            &signed_settings(Job::Validate),
            &verifier,
        );
        assert!(plain.accepted && plain.mutated_object.is_none());
    }

    #[test]
    fn untrusted_unmatched_and_failing_images_are_each_reported() {
        let verifier = FakeVerifier {
            answers: vec![(
                "ghcr.io/bizra/node:v2.2.0-rc1",
                Ok(Verification {
                    trusted: false,
                    digest: "sha256:abc".into(),
                }),
            )],
            asked: RefCell::default(),
        };
        let response = run(
            "pod_many_violations",
            &signed_settings(Job::Validate),
            &verifier,
        );
        let text = message(&response);
        assert!(!response.accepted);
        assert!(
            text.contains("image ghcr.io/bizra/node:v2.2.0-rc1: signature not trusted"),
            "{text}"
        );
        assert!(text.contains("image ghcr.io/bizra/sidecar:v1: signature verification failed (ghcr.io/bizra/*): no answer"), "{text}");
        assert_eq!(verifier.asked.borrow().len(), 2);

        let ephemeral = run(
            "pod_ephemeral_root",
            &signed_settings(Job::Validate),
            &verifier,
        );
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

    fn run_request(request: &serde_json::Value, settings: &Settings) -> ValidationResponse {
        let payload = json!({"settings": settings, "request": request});
        let verifier = FakeVerifier {
            answers: vec![],
            asked: RefCell::default(),
        };
        let raw = validate_with(payload.to_string().as_bytes(), &verifier).expect("no guest error");
        serde_json::from_slice(&raw).expect("response")
    }

    fn fixture(name: &str) -> serde_json::Value {
        serde_json::from_str(
            &std::fs::read_to_string(format!("test_data/{name}.json")).expect("fixture"),
        )
        .expect("json")
    }

    #[test]
    fn an_update_that_keeps_the_pod_spec_is_accepted_and_a_changed_one_is_checked() {
        // A ReplicaSet from before the policy, broken, scaled down by the deployment controller.
        let mut request = fixture("replicaset_no_limits");
        request["operation"] = json!("UPDATE");
        request["oldObject"] = request["object"].clone();
        request["object"]["spec"]["replicas"] = json!(0);
        request["object"]["metadata"]["annotations"] =
            json!({"deployment.kubernetes.io/revision": "2"});
        assert!(run_request(&request, &pod_rules_only()).accepted);

        // The same UPDATE that also touches the template is checked in full.
        request["object"]["spec"]["template"]["spec"]["containers"][0]["env"] =
            json!([{"name": "A", "value": "1"}]);
        let changed = run_request(&request, &pod_rules_only());
        assert!(!changed.accepted);
        assert!(
            message(&changed).contains("[limits]"),
            "{}",
            message(&changed)
        );

        // A CREATE is always checked, whatever oldObject holds.
        let mut create = fixture("replicaset_no_limits");
        create["oldObject"] = create["object"].clone();
        assert!(!run_request(&create, &pod_rules_only()).accepted);
    }

    #[test]
    fn a_handled_kind_without_a_readable_pod_spec_is_rejected() {
        let mut missing = fixture("deployment_compliant");
        missing["object"]["spec"]
            .as_object_mut()
            .expect("spec")
            .remove("template");
        let response = run_request(&missing, &pod_rules_only());
        assert!(!response.accepted);
        assert_eq!(
            message(&response),
            "bizra-secure-pods cannot read the pod spec of Deployment testnet/bizra-apex: the object has no /spec/template/spec"
        );
        assert_eq!(response.code, Some(400));

        let mut null = fixture("pod_compliant");
        null["object"]["spec"] = json!(null);
        assert!(!run_request(&null, &pod_rules_only()).accepted);

        let mut garbled = fixture("pod_compliant");
        garbled["object"]["spec"]["containers"] = json!("not a list");
        let response = run_request(&garbled, &pod_rules_only());
        assert!(!response.accepted);
        assert!(
            message(&response).contains("cannot read the pod spec of Pod testnet/bizra-apex-0"),
            "{}",
            message(&response)
        );
    }

    #[test]
    fn a_zero_limit_is_rejected_as_a_missing_limit() {
        let mut request = fixture("pod_compliant");
        request["object"]["spec"]["containers"][0]["resources"]["limits"] =
            json!({"cpu": "0m", "memory": "0Gi"});
        let response = run_request(&request, &pod_rules_only());
        assert!(!response.accepted);
        let text = message(&response);
        assert!(
            text.contains("no cpu limit: \"0m\" is zero")
                && text.contains("no memory limit: \"0Gi\" is zero"),
            "{text}"
        );
    }

    #[test]
    fn the_pinning_job_checks_signatures_only_and_rejects_what_does_not_verify() {
        let verifier = FakeVerifier {
            answers: vec![("ghcr.io/bizra/node:v2.2.0-rc1", trusted("sha256:abc"))],
            asked: RefCell::default(),
        };
        // Root, but signed: pinning is not the place to refuse it; the validating policy does.
        let mut request = fixture("deployment_root");
        request["object"]["spec"]["template"]["spec"]["containers"][0]["image"] =
            json!("ghcr.io/bizra/node:v2.2.0-rc1");
        let payload = json!({"settings": signed_settings(Job::PinDigests), "request": request});
        let raw = validate_with(payload.to_string().as_bytes(), &verifier).expect("no guest error");
        let response: ValidationResponse = serde_json::from_slice(&raw).expect("response");
        assert!(response.accepted, "{response:?}");
        assert!(response.mutated_object.is_some());

        let pin_settings = signed_settings(Job::PinDigests);
        pin_settings.check().expect("valid pinning settings");
        let unsigned = run("pod_many_violations", &pin_settings, &verifier);
        assert!(!unsigned.accepted);
        let text = message(&unsigned);
        assert!(
            text.contains("[signedImages]")
                && !text.contains("[nonRoot]")
                && !text.contains("[limits]"),
            "{text}"
        );
        // An image no signature rule names has nothing to pin: the validating policy decides.
        let unmatched = run("pod_ephemeral_root", &pin_settings, &verifier);
        assert!(
            !message(&unmatched).contains("busybox"),
            "{}",
            message(&unmatched)
        );
    }
}
