//! Host Ports (baseline): no container port bound on the host (`ports[*].hostPort` 0 or unset).
//! With `hostNetwork: true` the apiserver sets every unset `hostPort` of a Pod to its
//! `containerPort` (pkg/apis/core/v1 `defaultHostNetworkPorts`), so such ports are host ports
//! too, and Pod Security Admission, which sees the defaulted Pod, refuses them.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers};
use super::Check;

pub fn check(pod: &PodFields) -> Vec<Violation> {
    let host_network = pod.host_network == Some(true);
    let mut violations = Vec::new();
    for c in containers(pod) {
        for (i, port) in c.fields.ports.iter().flatten().enumerate() {
            let set = port.host_port.unwrap_or(0);
            let (value, message) = if set != 0 {
                (
                    set,
                    format!("hostPort is {set}; host ports are not allowed"),
                )
            } else if host_network && port.container_port != 0 {
                let p = port.container_port;
                (
                    p,
                    format!(
                        "containerPort {p} is a host port: with hostNetwork the apiserver sets hostPort to {p}"
                    ),
                )
            } else {
                continue;
            };
            violations.push(c.violation(
                Rule::PodSecurity(Check::HostPorts),
                &format!("ports[{i}].hostPort"),
                Some(value.to_string()),
                message,
            ));
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let host_port = "p.?hostPort.orValue(0) != 0 \
        || (variables.spec.?hostNetwork.orValue(false) == true && p.containerPort != 0)";
    let message = "(p.?hostPort.orValue(0) != 0
        ? 'hostPort is ' + string(p.hostPort) + '; host ports are not allowed'
        : 'containerPort ' + string(p.containerPort) + ' is a host port: with hostNetwork the apiserver sets hostPort to ' + string(p.containerPort))";
    cel_parts::per_container(&format!(
        "e.c.?ports.orValue([])\n    .filter(p, {host_port})\n    .map(p, {})",
        cel_parts::container_says(message, Rule::PodSecurity(Check::HostPorts).name())
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn host_ports_fail_and_zero_is_unset() {
        let ports = json!([
            {"containerPort": 8080},
            {"containerPort": 9090, "hostPort": 0},
            {"containerPort": 9100, "hostPort": 80}
        ]);
        let found_ports = found(Check::HostPorts, |v| {
            v["spec"]["containers"][0]["ports"] = ports.clone()
        });
        assert_eq!(
            found_ports,
            ["spec.containers[0].ports[2].hostPort=80: hostPort is 80; host ports are not allowed"]
        );
        let host_network = found(Check::HostPorts, |v| {
            v["spec"]["hostNetwork"] = json!(true);
            v["spec"]["containers"][0]["ports"] = json!([{"containerPort": 8080}]);
        });
        assert_eq!(
            host_network,
            [
                "spec.containers[0].ports[0].hostPort=8080: containerPort 8080 is a host port: with hostNetwork the apiserver sets hostPort to 8080"
            ]
        );
    }
}
