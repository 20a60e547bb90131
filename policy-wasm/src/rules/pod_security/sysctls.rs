//! Sysctls (baseline): only the sysctls Kubernetes calls safe (namespaced, isolated from the
//! host and other pods) may be set in `spec.securityContext.sysctls`: the 1.0 set, then
//! `net.ipv4.ip_local_reserved_ports` (1.27), four TCP keepalive and fin timeouts (1.29), and
//! `net.ipv4.tcp_rmem`/`tcp_wmem` (1.32).

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, pod_violation};
use super::Check;

const SAFE: [&str; 12] = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
];

pub fn check(pod: &PodFields) -> Vec<Violation> {
    super::pod_context(pod)
        .and_then(|sc| sc.sysctls.as_ref())
        .into_iter()
        .flatten()
        .enumerate()
        .filter(|(_, sysctl)| !SAFE.contains(&sysctl.name.as_str()))
        .map(|(i, sysctl)| {
            pod_violation(
                Rule::PodSecurity(Check::Sysctls),
                format!("spec.securityContext.sysctls[{i}].name"),
                Some(sysctl.name.clone()),
                format!("sysctl {} is not one of the safe sysctls", sysctl.name),
            )
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    format!(
        "variables.podSecurityContext.?sysctls.orValue([])\n  .filter(s, !(s.name in {}))\n  .map(s, {})",
        cel_parts::list(&SAFE),
        cel_parts::pod_says(
            "'sysctl ' + s.name + ' is not one of the safe sysctls'",
            Rule::PodSecurity(Check::Sysctls).name()
        )
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn only_safe_sysctls() {
        let found = found(Check::Sysctls, |v| {
            v["spec"]["securityContext"]["sysctls"] = json!([
                {"name": "net.ipv4.tcp_wmem", "value": "4096 16384 4194304"},
                {"name": "kernel.msgmax", "value": "65536"},
                {"name": "net.ipv4.ip_local_port_range", "value": "1024 65535"}
            ])
        });
        assert_eq!(
            found,
            [
                "spec.securityContext.sysctls[1].name=kernel.msgmax: sysctl kernel.msgmax is not one of the safe sysctls"
            ]
        );
    }
}
