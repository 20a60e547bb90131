//! Host Namespaces (baseline): sharing the host's network, PID or IPC namespace is not allowed
//! (`hostNetwork`, `hostPID`, `hostIPC` false or unset).

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::HostNamespaces);

/// Each host namespace field and what it shares.
const NAMESPACES: [(&str, &str); 3] = [
    ("hostNetwork", "network"),
    ("hostPID", "process"),
    ("hostIPC", "IPC"),
];

pub fn check(pod: &PodFields) -> Vec<Violation> {
    let values = [pod.host_network, pod.host_pid, pod.host_ipc];
    NAMESPACES
        .into_iter()
        .zip(values)
        .filter(|(_, value)| *value == Some(true))
        .map(|((field, namespace), _)| {
            pod_violation(
                RULE,
                format!("spec.{field}"),
                Some("true".into()),
                format!("{field} is true; the pod must not share the host's {namespace} namespace"),
            )
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let namespaces: Vec<String> = NAMESPACES
        .iter()
        .map(|(field, namespace)| cel_parts::list(&[field, namespace]))
        .collect();
    let message = "f[0] + ' is true; the pod must not share the host\\'s ' + f[1] + ' namespace'";
    format!(
        "[{}]\n  .filter(f, variables.spec[?f[0]].orValue(false) == true)\n  .map(f, {})",
        namespaces.join(", "),
        cel_parts::pod_says(message, RULE.name())
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn each_shared_namespace_is_named() {
        assert!(found(Check::HostNamespaces, |_| {}).is_empty());
        let all = found(Check::HostNamespaces, |v| {
            for f in ["hostNetwork", "hostPID", "hostIPC"] {
                v["spec"][f] = json!(true);
            }
        });
        assert_eq!(
            all,
            [
                "spec.hostNetwork=true: hostNetwork is true; the pod must not share the host's network namespace",
                "spec.hostPID=true: hostPID is true; the pod must not share the host's process namespace",
                "spec.hostIPC=true: hostIPC is true; the pod must not share the host's IPC namespace",
            ]
        );
        let explicit_false = found(Check::HostNamespaces, |v| {
            v["spec"]["hostPID"] = json!(false)
        });
        assert!(explicit_false.is_empty());
    }
}
