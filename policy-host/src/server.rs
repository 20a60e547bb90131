//! The test bed's admission server, doing for our module what Kubewarden's policy-server does
//! (../shared/reference/admission-edge.md, B): HTTPS, `POST /validate/<policy id>` taking an
//! AdmissionReview v1, a fresh instance of the compiled module per request, and the answer
//! post-processed as policy-server does (monitor mode, mutation refused to a policy not allowed
//! to mutate, the policy's own message). The decision on the wire is [`review_response`], a pure
//! function; the rest is I/O.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Value, json};

use crate::kubewarden::PolicyMode;
use crate::{Compiled, GuestOutcome, HostCallHandler, no_host_calls};

/// A policy's entry in `policies.yml` (policy-server's keys; the others, such as
/// `namespacedName`, are ignored as policy-server ignores them).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyEntry {
    /// `file:///path/policy.wasm` or a path: the test bed downloads nothing.
    pub module: String,
    #[serde(default)]
    pub policy_mode: PolicyMode,
    #[serde(default)]
    pub allowed_to_mutate: bool,
    #[serde(default = "empty_settings")]
    pub settings: Value,
    /// Replaces the policy's own rejection message, which moves to `status.details.causes`.
    #[serde(default)]
    pub message: Option<String>,
}

fn empty_settings() -> Value {
    json!({})
}

/// `policies.yml`: policy id → entry.
pub type PoliciesFile = BTreeMap<String, PolicyEntry>;

pub fn read_policies_file(path: &Path) -> anyhow::Result<PoliciesFile> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let policies: PoliciesFile = serde_saphyr::from_str(&text)
        .map_err(|e| anyhow::anyhow!("{} is not a policies.yml: {e}", path.display()))?;
    if let Some(bad) = policies.keys().find(|id| id.contains('/') || id.is_empty()) {
        bail!(
            "policy id {bad:?} in {}: ids may not be empty or hold '/'",
            path.display()
        );
    }
    Ok(policies)
}

fn module_path(module: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = module.strip_prefix("file://") {
        return Ok(PathBuf::from(path));
    }
    if module.contains("://") {
        bail!("module {module}: the test bed runs local modules only (file:///path or a path)");
    }
    Ok(PathBuf::from(module))
}

/// A policy ready to evaluate requests.
pub struct LoadedPolicy {
    pub id: String,
    pub entry: PolicyEntry,
    compiled: Arc<Compiled>,
}

/// What the guest's `validate_settings` answers.
#[derive(Deserialize)]
struct SettingsAnswer {
    valid: bool,
    #[serde(default)]
    message: Option<String>,
}

/// Compiles every policy's module (once per file) and validates its settings with the module's
/// `validate_settings`, as policy-server does at start: the first invalid policy stops it.
pub fn load(policies: PoliciesFile) -> anyhow::Result<Vec<LoadedPolicy>> {
    let mut modules: BTreeMap<PathBuf, Arc<Compiled>> = BTreeMap::new();
    let mut loaded = Vec::new();
    for (id, entry) in policies {
        let path = module_path(&entry.module).with_context(|| format!("policy {id}"))?;
        let compiled = match modules.get(&path) {
            Some(compiled) => compiled.clone(),
            None => {
                let compiled =
                    Arc::new(Compiled::load(&path).with_context(|| format!("policy {id}"))?);
                modules.insert(path, compiled.clone());
                compiled
            }
        };
        let mut host = compiled.instantiate(no_host_calls())?;
        let settings = serde_json::to_vec(&entry.settings)?;
        let answer = match host.call("validate_settings", &settings) {
            Ok(GuestOutcome::Response(bytes)) => serde_json::from_slice::<SettingsAnswer>(&bytes)
                .map_err(|e| anyhow::anyhow!("unreadable settings validation answer: {e}")),
            Ok(GuestOutcome::Error(e)) => Err(anyhow::anyhow!(
                "Error invoking settings validation callback: {e}"
            )),
            Err(e) => Err(anyhow::anyhow!(
                "Error invoking settings validation callback: {e}"
            )),
        }
        .with_context(|| format!("policy {id}"))?;
        if !answer.valid {
            bail!(
                "policy {id}: Policy settings are invalid: {}",
                answer.message.unwrap_or_default()
            );
        }
        loaded.push(LoadedPolicy {
            id,
            entry,
            compiled,
        });
    }
    Ok(loaded)
}

impl LoadedPolicy {
    /// Runs the module's `validate` on a fresh instance (policy-server rehydrates one per
    /// request), with `handler` answering its host calls.
    pub fn evaluate(&self, request: &Value, handler: HostCallHandler) -> Result<Vec<u8>, String> {
        let payload = json!({"request": request, "settings": self.entry.settings}).to_string();
        let mut host = self
            .compiled
            .instantiate(handler)
            .map_err(|e| e.to_string())?;
        match host.call("validate", payload.as_bytes()) {
            Ok(GuestOutcome::Response(bytes)) => Ok(bytes),
            Ok(GuestOutcome::Error(e)) => Err(e),
            Err(e) => Err(e.to_string()),
        }
    }
}

/// The guest's ValidationResponse (kubewarden-policy-sdk), as policy-server reads it.
#[derive(Deserialize)]
struct GuestAnswer {
    accepted: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    mutated_object: Option<Value>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
    #[serde(default)]
    audit_annotations: Option<BTreeMap<String, String>>,
}

/// The AdmissionReview answering `request` for the policy `id`, from the guest's outcome, and
/// what the server logs about it in monitor mode (the answer it would have given).
pub fn review_response(
    id: &str,
    entry: &PolicyEntry,
    request: &Value,
    outcome: Result<Vec<u8>, String>,
) -> (Value, Option<String>) {
    let answer = outcome.and_then(|bytes| {
        serde_json::from_slice::<GuestAnswer>(&bytes)
            .map_err(|e| format!("cannot read the policy's answer: {e}"))
    });
    let mut response = json!({
        "uid": request["uid"].clone(),
        "allowed": false,
        "auditAnnotations": null,
        "warnings": null,
    });
    match answer {
        // A trap or a guest error is a well-formed denial, as policy-server answers it.
        Err(error) => {
            response["status"] =
                json!({"message": format!("internal server error: {error}"), "code": 500});
        }
        Ok(answer) => {
            response["warnings"] = json!(answer.warnings);
            response["auditAnnotations"] = json!(answer.audit_annotations);
            if answer.accepted {
                response["allowed"] = json!(true);
                if let Some(mutated) = answer.mutated_object {
                    let original = &request["object"];
                    if original.is_null() {
                        response["allowed"] = json!(false);
                        response["status"] = json!({"message": "the policy mutated a request without an object", "code": 500});
                    } else {
                        let patch = json_patch::diff(original, &mutated);
                        if !patch.0.is_empty() {
                            let text = serde_json::to_vec(&patch).unwrap_or_default();
                            response["patchType"] = json!("JSONPatch");
                            response["patch"] =
                                json!(base64::engine::general_purpose::STANDARD.encode(text));
                        }
                    }
                }
            } else {
                let mut status = serde_json::Map::new();
                if let Some(message) = answer.message {
                    status.insert("message".into(), json!(message));
                }
                if let Some(code) = answer.code {
                    status.insert("code".into(), json!(code));
                }
                if !status.is_empty() {
                    response["status"] = Value::Object(status);
                }
            }
        }
    }
    let mut monitor_log = None;
    if entry.policy_mode == PolicyMode::Monitor {
        let allowed = response["allowed"] == true;
        monitor_log = Some(if allowed {
            "monitor mode: would accept".to_string()
        } else {
            format!(
                "monitor mode: would reject: {}",
                response["status"]["message"]
                    .as_str()
                    .unwrap_or("(no message)")
            )
        });
        let fields = response.as_object_mut();
        if let Some(fields) = fields {
            fields.remove("patch");
            fields.remove("patchType");
            fields.remove("status");
            fields.insert("allowed".into(), json!(true));
        }
    } else {
        if !entry.allowed_to_mutate && response.get("patch").is_some() {
            if let Some(fields) = response.as_object_mut() {
                fields.remove("patch");
                fields.remove("patchType");
            }
            response["allowed"] = json!(false);
            response["status"] = json!({"message": format!(
                "Request rejected by policy {id}. The policy attempted to mutate the request, but it is currently configured to not allow mutations."
            )});
        }
        if response["allowed"] == false
            && let Some(custom) = &entry.message
        {
            let original = response["status"]["message"].clone();
            response["status"]["message"] = json!(custom);
            if !original.is_null() {
                response["status"]["details"] = json!({"causes": [{"message": original}]});
            }
        }
    }
    (
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": response}),
        monitor_log,
    )
}

/// The id in `/validate/<id>` (the apiserver adds `?timeout=10s`).
pub fn policy_id_of_path(path: &str) -> Option<&str> {
    let path = path.split('?').next().unwrap_or(path);
    path.strip_prefix("/validate/")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(mode: PolicyMode, allowed_to_mutate: bool, message: Option<&str>) -> PolicyEntry {
        PolicyEntry {
            module: "m.wasm".into(),
            policy_mode: mode,
            allowed_to_mutate,
            settings: json!({}),
            message: message.map(str::to_string),
        }
    }

    fn request() -> Value {
        json!({"uid": "u-1", "object": {"spec": {"containers": [{"name": "a", "image": "r/a:1"}]}}})
    }

    fn guest(answer: Value) -> Result<Vec<u8>, String> {
        Ok(answer.to_string().into_bytes())
    }

    fn response(review: &(Value, Option<String>)) -> &Value {
        assert_eq!(review.0["apiVersion"], "admission.k8s.io/v1");
        assert_eq!(review.0["kind"], "AdmissionReview");
        &review.0["response"]
    }

    #[test]
    fn a_rejection_carries_the_policys_message_and_code_and_the_uid() {
        let review = review_response(
            "kw.cap.p",
            &entry(PolicyMode::Protect, false, None),
            &request(),
            guest(json!({"accepted": false, "message": "no", "code": 403})),
        );
        let r = response(&review);
        assert_eq!(r["uid"], "u-1");
        assert_eq!(r["allowed"], false);
        assert_eq!(r["status"], json!({"message": "no", "code": 403}));
        assert!(r.get("patch").is_none());
    }

    #[test]
    fn a_mutation_is_a_base64_json_patch_of_the_difference() {
        let mut mutated = request()["object"].clone();
        mutated["spec"]["containers"][0]["image"] = json!("r/a:1@sha256:abc");
        let review = review_response(
            "kw.cap.p",
            &entry(PolicyMode::Protect, true, None),
            &request(),
            guest(json!({"accepted": true, "mutated_object": mutated})),
        );
        let r = response(&review);
        assert_eq!(r["allowed"], true);
        assert_eq!(r["patchType"], "JSONPatch");
        let patch: Value = serde_json::from_slice(
            &base64::engine::general_purpose::STANDARD
                .decode(r["patch"].as_str().expect("patch"))
                .expect("base64"),
        )
        .expect("JSON");
        assert_eq!(
            patch,
            json!([{"op": "replace", "path": "/spec/containers/0/image", "value": "r/a:1@sha256:abc"}])
        );
        // The same mutation from a policy not allowed to mutate is refused, as policy-server does.
        let refused = review_response(
            "kw.cap.p",
            &entry(PolicyMode::Protect, false, None),
            &request(),
            guest(json!({"accepted": true, "mutated_object": mutated})),
        );
        let r = response(&refused);
        assert_eq!(r["allowed"], false);
        assert!(r.get("patch").is_none());
        assert_eq!(
            r["status"]["message"],
            "Request rejected by policy kw.cap.p. The policy attempted to mutate the request, but it is currently configured to not allow mutations."
        );
    }

    #[test]
    fn monitor_mode_admits_and_logs_what_it_would_have_done() {
        let review = review_response(
            "kw.cap.p",
            &entry(PolicyMode::Monitor, false, None),
            &request(),
            guest(json!({"accepted": false, "message": "root", "warnings": ["w"]})),
        );
        let r = response(&review);
        assert_eq!(r["allowed"], true);
        assert!(r.get("status").is_none());
        assert_eq!(r["warnings"], json!(["w"]));
        assert_eq!(
            review.1.as_deref(),
            Some("monitor mode: would reject: root")
        );
    }

    #[test]
    fn a_trap_is_a_denial_with_code_500_and_a_custom_message_keeps_the_cause() {
        let review = review_response(
            "kw.cap.p",
            &entry(PolicyMode::Protect, false, None),
            &request(),
            Err("the guest trapped: unreachable".into()),
        );
        assert_eq!(
            response(&review)["status"],
            json!({"message": "internal server error: the guest trapped: unreachable", "code": 500})
        );
        let review = review_response(
            "kw.cap.p",
            &entry(PolicyMode::Protect, false, Some("ask the platform team")),
            &request(),
            guest(json!({"accepted": false, "message": "root"})),
        );
        assert_eq!(
            response(&review)["status"],
            json!({"message": "ask the platform team", "details": {"causes": [{"message": "root"}]}})
        );
    }

    #[test]
    fn the_path_names_the_policy_and_the_query_is_ignored() {
        assert_eq!(
            policy_id_of_path("/validate/kw.cap.p?timeout=10s"),
            Some("kw.cap.p")
        );
        assert_eq!(policy_id_of_path("/validate/kw.cap.p"), Some("kw.cap.p"));
        assert_eq!(policy_id_of_path("/validate/"), None);
        assert_eq!(policy_id_of_path("/validate/a/b"), None);
        assert_eq!(policy_id_of_path("/audit/kw.cap.p"), None);
    }
}
