//! Helpers shared by the policy-host test binaries: the compiled module, fixtures, and the
//! registry, cosign signing and sigstore verification behind the signature tests.
#![allow(dead_code)] // each test binary uses its own part of these helpers

pub mod cosign;
pub mod keyless_host;
pub mod registry;
pub mod sigstore_host;

use std::sync::{Arc, Mutex, OnceLock};

use kubewarden_policy_sdk::response::ValidationResponse;
use policy_host::{Compiled, GuestOutcome, HostCallHandler, PolicyHost, default_policy_path};
use serde_json::{Value, json};

/// The release module, compiled by wasmtime once per test binary.
pub fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| Compiled::load(&default_policy_path()).expect("policy module"))
}

pub fn new_host(handler: HostCallHandler) -> PolicyHost {
    compiled()
        .instantiate(handler)
        .expect("instantiate the policy")
}

/// An AdmissionRequest from policy-wasm's `test_data`.
pub fn fixture(name: &str) -> Value {
    let path = format!(
        "{}/../policy-wasm/test_data/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("fixture JSON")
}

pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(format!(
        "{}/../policy-wasm/test_data",
        env!("CARGO_MANIFEST_DIR")
    ))
    .expect("test_data")
    .map(|e| {
        e.expect("entry")
            .path()
            .file_stem()
            .expect("stem")
            .to_string_lossy()
            .into_owned()
    })
    // pss_expected.json holds what the pss_* fixtures must fail, not a request.
    .filter(|name| !name.ends_with("_expected"))
    .collect();
    names.sort();
    names
}

/// The guest's answer to `operation`; a guest error fails the test.
pub fn respond(host: &mut PolicyHost, operation: &str, payload: &[u8]) -> Vec<u8> {
    match host.call(operation, payload).expect("no trap") {
        GuestOutcome::Response(bytes) => bytes,
        GuestOutcome::Error(e) => panic!("guest error from {operation}: {e}"),
    }
}

pub fn validate(host: &mut PolicyHost, settings: &Value, request: &Value) -> ValidationResponse {
    let payload = json!({"settings": settings, "request": request}).to_string();
    serde_json::from_slice(&respond(host, "validate", payload.as_bytes()))
        .expect("ValidationResponse")
}

/// The payloads of the host calls a handler was given, parsed as JSON, in order.
pub type Recorded = Arc<Mutex<Vec<Value>>>;

/// `handler`, recording every payload the guest sends it (to check the wire format).
pub fn recording(mut handler: HostCallHandler) -> (HostCallHandler, Recorded) {
    let recorded = Recorded::default();
    let record = recorded.clone();
    let wrapped: HostCallHandler = Box::new(move |binding, namespace, operation, payload| {
        record
            .lock()
            .expect("lock")
            .push(serde_json::from_slice(payload).expect("a JSON host call payload"));
        handler(binding, namespace, operation, payload)
    });
    (wrapped, recorded)
}

/// What was recorded so far.
pub fn requests(recorded: &Recorded) -> Vec<Value> {
    recorded.lock().expect("lock").clone()
}
