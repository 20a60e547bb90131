//! Host Namespaces (baseline): sharing the host's network, PID or IPC namespace is not allowed
//! (`hostNetwork`, `hostPID`, `hostIPC` false or unset).

use super::super::{PodFields, Rule, Violation, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::HostNamespaces);

pub fn check(pod: &PodFields) -> Vec<Violation> {
    [
        ("hostNetwork", pod.host_network, "network"),
        ("hostPID", pod.host_pid, "process"),
        ("hostIPC", pod.host_ipc, "IPC"),
    ]
    .into_iter()
    .filter(|(_, value, _)| *value == Some(true))
    .map(|(field, _, namespace)| {
        pod_violation(
            RULE,
            format!("spec.{field}"),
            Some("true".into()),
            format!("{field} is true; the pod must not share the host's {namespace} namespace"),
        )
    })
    .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages.
pub const CEL: &str = r#"[['hostNetwork', 'network'], ['hostPID', 'process'], ['hostIPC', 'IPC']]
  .filter(f, variables.spec[?f[0]].orValue(false) == true)
  .map(f, 'pod: ' + f[0] + ' is true; the pod must not share the host\'s ' + f[1]
    + ' namespace [hostNamespaces]')"#;

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
