//! Host Probes / Lifecycle Hooks (baseline, 1.34+): probes and lifecycle handlers must not name
//! a `host` (`httpGet.host`, `tcpSocket.host` of the liveness, readiness and startup probes and
//! of the postStart and preStop handlers): the kubelet would connect there on the pod's behalf.

use k8s_openapi::api::core::v1::{HTTPGetAction, TCPSocketAction};

use super::super::cel_parts;
use super::super::{ContainerView, PodFields, Rule, Violation, containers};
use super::Check;

/// The handler actions that can name a host.
const ACTIONS: [&str; 2] = ["httpGet", "tcpSocket"];
const MESSAGE_END: &str = "probes and lifecycle handlers must not set a host";

fn hosts(
    c: &ContainerView<'_>,
    at: &str,
    http: Option<&HTTPGetAction>,
    tcp: Option<&TCPSocketAction>,
    violations: &mut Vec<Violation>,
) {
    let named = [
        http.and_then(|h| h.host.as_deref()),
        tcp.and_then(|t| t.host.as_deref()),
    ];
    for (action, host) in ACTIONS.into_iter().zip(named) {
        let Some(host) = host.filter(|h| !h.is_empty()) else {
            continue;
        };
        violations.push(c.violation(
            Rule::PodSecurity(Check::HostProbesAndLifecycle),
            &format!("{at}.{action}.host"),
            Some(host.to_owned()),
            format!("{at}.{action}.host is {host:?}; {MESSAGE_END}"),
        ));
    }
}

pub fn check(pod: &PodFields) -> Vec<Violation> {
    let mut violations = Vec::new();
    for c in containers(pod) {
        let f = c.fields;
        for (at, probe) in [
            ("livenessProbe", &f.liveness_probe),
            ("readinessProbe", &f.readiness_probe),
            ("startupProbe", &f.startup_probe),
        ] {
            if let Some(p) = probe {
                hosts(
                    &c,
                    at,
                    p.http_get.as_ref(),
                    p.tcp_socket.as_ref(),
                    &mut violations,
                );
            }
        }
        let lifecycle = f.lifecycle.as_ref();
        for (at, handler) in [
            (
                "lifecycle.postStart",
                lifecycle.and_then(|l| l.post_start.as_ref()),
            ),
            (
                "lifecycle.preStop",
                lifecycle.and_then(|l| l.pre_stop.as_ref()),
            ),
        ] {
            if let Some(h) = handler {
                hosts(
                    &c,
                    at,
                    h.http_get.as_ref(),
                    h.tcp_socket.as_ref(),
                    &mut violations,
                );
            }
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages, one
/// expression per handler and action as above.
pub fn cel() -> String {
    let rule = Rule::PodSecurity(Check::HostProbesAndLifecycle).name();
    let mut parts = Vec::new();
    for (at, path) in [
        ("livenessProbe", "e.c.?livenessProbe"),
        ("readinessProbe", "e.c.?readinessProbe"),
        ("startupProbe", "e.c.?startupProbe"),
        ("lifecycle.postStart", "e.c.?lifecycle.?postStart"),
        ("lifecycle.preStop", "e.c.?lifecycle.?preStop"),
    ] {
        for action in ACTIONS {
            let host = format!("{path}.?{action}.?host.orValue('')");
            let message = format!(
                "'{at}.{action}.host is ' + {} + '; {MESSAGE_END}'",
                cel_parts::quoted(&host)
            );
            parts.push(format!(
                "variables.containers\n  .filter(e, {host} != '')\n  .map(e, {})",
                cel_parts::container_says(&message, rule)
            ));
        }
    }
    parts.join("\n+ ")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn a_probe_or_hook_host_fails_and_an_empty_one_does_not() {
        let found = found(Check::HostProbesAndLifecycle, |v| {
            let c = &mut v["spec"]["containers"][0];
            c["livenessProbe"] = json!({"httpGet": {"port": 80, "host": "10.0.0.1"}});
            c["readinessProbe"] = json!({"tcpSocket": {"port": 80, "host": ""}});
            c["lifecycle"] = json!({"preStop": {"tcpSocket": {"port": 22, "host": "metadata"}}});
        });
        assert_eq!(
            found,
            [
                "spec.containers[0].livenessProbe.httpGet.host=10.0.0.1: livenessProbe.httpGet.host is \"10.0.0.1\"; probes and lifecycle handlers must not set a host",
                "spec.containers[0].lifecycle.preStop.tcpSocket.host=metadata: lifecycle.preStop.tcpSocket.host is \"metadata\"; probes and lifecycle handlers must not set a host",
            ]
        );
    }
}
