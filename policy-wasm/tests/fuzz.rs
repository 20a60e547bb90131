//! Property test: `validate` and `validate_settings` driven with malformed, mutated and huge
//! inputs never panic, and every malformed input gets a well-formed rejection with a message.
//! A seeded generator keeps failures reproducible (the seed is in the assertion message).

use std::panic::{AssertUnwindSafe, catch_unwind};

use kubewarden_policy_sdk::response::ValidationResponse;
use kubewarden_policy_sdk::settings::SettingsValidationResponse;
use policy_wasm::policy::{validate, validate_settings};
use serde_json::{Value, json};

/// xorshift64*: small, seeded, good enough to explore shapes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545F4914F6CDD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn random_value(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 3 { 5 } else { 8 }) {
        0 => Value::Null,
        1 => Value::Bool(rng.below(2) == 0),
        2 => json!(rng.next() as i64),
        3 => json!(f64::from(rng.below(1000) as u32) / 7.0),
        4 => Value::String(
            [
                "",
                "0",
                "root",
                "ALL",
                "*",
                "ghcr.io/bizra/*",
                "-----BEGIN PUBLIC KEY-----",
                "\u{0}\u{ffff}",
            ][rng.below(8)]
            .repeat(1 + rng.below(3)),
        ),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_value(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "containers",
                "image",
                "securityContext",
                "runAsUser",
                "name",
                "spec",
                "kind",
                "signatures",
                "rules",
                "limits",
            ];
            Value::Object(
                (0..rng.below(4))
                    .map(|_| {
                        (
                            keys[rng.below(keys.len())].to_string(),
                            random_value(rng, depth + 1),
                        )
                    })
                    .collect(),
            )
        }
    }
}

/// Replaces one random node of `value` by a random value.
fn mutate(value: &mut Value, rng: &mut Rng) {
    let mut node = value;
    loop {
        let children = match node {
            Value::Object(map) if !map.is_empty() => map.len(),
            Value::Array(items) if !items.is_empty() => items.len(),
            _ => break,
        };
        if rng.below(3) == 0 {
            break;
        }
        let index = rng.below(children);
        node = match node {
            Value::Object(map) => map.values_mut().nth(index).expect("child"),
            Value::Array(items) => &mut items[index],
            _ => unreachable!(),
        };
    }
    *node = random_value(rng, 0);
}

fn fixtures() -> Vec<Value> {
    let mut all: Vec<Value> = Vec::new();
    for entry in std::fs::read_dir("test_data").expect("test_data") {
        let path = entry.expect("entry").path();
        // What the pss_* fixtures must fail, not a request.
        if path.ends_with("pss_expected.json") {
            continue;
        }
        let text = std::fs::read_to_string(path).expect("fixture");
        all.push(serde_json::from_str(&text).expect("fixture JSON"));
    }
    all.sort_by_key(|v| v.to_string());
    all
}

fn settings() -> Value {
    json!({"allowedUnsigned": ["*"], "exemptNamespaces": ["kube-system"]})
}

/// Runs validate; it must not panic and must answer with a response (a rejection has a message).
fn check_validate(payload: &[u8], what: &str) -> ValidationResponse {
    let result = catch_unwind(AssertUnwindSafe(|| validate(payload)))
        .unwrap_or_else(|_| panic!("validate panicked on {what}"));
    let raw = result.unwrap_or_else(|e| panic!("validate returned a guest error on {what}: {e}"));
    let response: ValidationResponse = serde_json::from_slice(&raw)
        .unwrap_or_else(|e| panic!("malformed response on {what}: {e}"));
    if !response.accepted && response.mutated_object.is_none() {
        assert!(
            response.message.as_deref().is_some_and(|m| !m.is_empty()),
            "rejection without a message on {what}"
        );
    }
    response
}

fn check_settings(payload: &[u8], what: &str) -> SettingsValidationResponse {
    let result = catch_unwind(AssertUnwindSafe(|| validate_settings(payload)))
        .unwrap_or_else(|_| panic!("validate_settings panicked on {what}"));
    let raw = result
        .unwrap_or_else(|e| panic!("validate_settings returned a guest error on {what}: {e}"));
    let response: SettingsValidationResponse = serde_json::from_slice(&raw)
        .unwrap_or_else(|e| panic!("malformed response on {what}: {e}"));
    if !response.valid {
        assert!(
            response.message.as_deref().is_some_and(|m| !m.is_empty()),
            "invalid without a reason on {what}"
        );
    }
    response
}

#[test]
fn random_bytes_are_rejected_clearly() {
    let mut rng = Rng(0x5eed_0001);
    for case in 0..2000 {
        let len = rng.below(2048);
        let bytes: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let response = check_validate(&bytes, &format!("random bytes, case {case}"));
        assert!(!response.accepted, "random bytes accepted (case {case})");
        assert!(!check_settings(&bytes, &format!("random bytes, case {case}")).valid);
    }
}

#[test]
fn mutated_admission_requests_never_panic() {
    let fixtures = fixtures();
    let mut rng = Rng(0x5eed_0002);
    for case in 0..4000 {
        let mut request = fixtures[rng.below(fixtures.len())].clone();
        for _ in 0..=rng.below(3) {
            mutate(&mut request, &mut rng);
        }
        let payload = json!({"settings": settings(), "request": request});
        check_validate(
            payload.to_string().as_bytes(),
            &format!("mutated request, seed 0x5eed0002 case {case}"),
        );
    }
}

#[test]
fn mutated_and_random_settings_never_panic() {
    let base = json!({
        "signatures": [{"image": "ghcr.io/bizra/*", "githubActions": {"owner": "bizra", "repo": "node"}}],
        "allowedUnsigned": ["registry.k8s.io/*"], "exemptNamespaces": ["kube-system"],
        "job": "pinDigests"
    });
    let mut rng = Rng(0x5eed_0003);
    for case in 0..4000 {
        let mut settings = if rng.below(4) == 0 {
            random_value(&mut rng, 0)
        } else {
            base.clone()
        };
        mutate(&mut settings, &mut rng);
        check_settings(
            settings.to_string().as_bytes(),
            &format!("settings, seed 0x5eed0003 case {case}"),
        );
    }
}

#[test]
fn huge_inputs_are_handled() {
    let container = |i: usize| {
        json!({"name": format!("c{i}"), "image": "ghcr.io/bizra/node:v2",
               "securityContext": {"runAsUser": 0}})
    };
    // 5000 containers, every one breaking a rule: one rejection naming them all.
    let containers: Vec<Value> = (0..5000).map(container).collect();
    let request = json!({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "namespace": "testnet", "name": "huge",
        "operation": "CREATE", "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "huge"}, "spec": {"containers": containers}}});
    let response = check_validate(
        json!({"settings": settings(), "request": request})
            .to_string()
            .as_bytes(),
        "5000 containers",
    );
    assert!(!response.accepted);
    assert!(
        response
            .message
            .unwrap_or_default()
            .contains("container \"c4999\"")
    );

    // A 4 MiB image name and a deeply nested object.
    let long = "a".repeat(4 << 20);
    let request = json!({"kind": {"kind": "Pod"}, "object": {"spec": {"containers": [{"name": long.clone(), "image": long}]}}});
    check_validate(
        json!({"settings": settings(), "request": request})
            .to_string()
            .as_bytes(),
        "4 MiB strings",
    );
    let deep = "[".repeat(100_000) + &"]".repeat(100_000);
    let response = check_validate(
        format!(r#"{{"settings": {{}}, "request": {deep}}}"#).as_bytes(),
        "deep nesting",
    );
    assert!(!response.accepted);
    assert!(!check_settings(deep.as_bytes(), "deep nesting").valid);

    // 10 000 signature rules with broken keys: refused, with the first bad entry named.
    let rules: Vec<Value> = (0..10_000)
        .map(|i| json!({"image": format!("r{i}/*"), "pubKeys": ["x".repeat(1000)]}))
        .collect();
    let response = check_settings(
        json!({"signatures": rules}).to_string().as_bytes(),
        "10 000 rules",
    );
    assert!(!response.valid);
    assert!(
        response
            .message
            .unwrap_or_default()
            .contains("signatures[0]")
    );
}
