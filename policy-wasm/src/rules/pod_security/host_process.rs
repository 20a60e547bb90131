//! HostProcess (baseline): Windows HostProcess containers run with the host's privileges, so
//! `securityContext.windowsOptions.hostProcess` must not be true on the pod or any container.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, containers, pod_violation};
use super::Check;

const RULE: Rule = Rule::PodSecurity(Check::HostProcess);
const MESSAGE: &str = "windowsOptions.hostProcess is true; HostProcess containers are not allowed";

pub fn check(pod: &PodFields) -> Vec<Violation> {
    let mut violations = Vec::new();
    let pod_host_process = super::pod_context(pod)
        .and_then(|sc| sc.windows_options.as_ref())
        .and_then(|w| w.host_process);
    if pod_host_process == Some(true) {
        violations.push(pod_violation(
            RULE,
            "spec.securityContext.windowsOptions.hostProcess",
            Some("true".into()),
            MESSAGE,
        ));
    }
    for c in containers(pod) {
        let own = c
            .security_context
            .and_then(|sc| sc.windows_options.as_ref())
            .and_then(|w| w.host_process);
        if own == Some(true) {
            violations.push(c.violation(
                RULE,
                "securityContext.windowsOptions.hostProcess",
                Some("true".into()),
                MESSAGE,
            ));
        }
    }
    violations
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let (rule, message) = (RULE.name(), cel_parts::text(MESSAGE));
    format!(
        "(variables.podSecurityContext.?windowsOptions.?hostProcess.orValue(false) == true ? [{pod}] : [])
+ variables.containers
  .filter(e, e.c.?securityContext.?windowsOptions.?hostProcess.orValue(false) == true)
  .map(e, {container})",
        pod = cel_parts::pod_says(&message, rule),
        container = cel_parts::container_says(&message, rule),
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn host_process_on_the_pod_or_a_container_fails() {
        assert_eq!(found(Check::HostProcess, |_| {}), Vec::<String>::new());
        let hp = json!({"hostProcess": true});
        assert_eq!(
            found(Check::HostProcess, |v| {
                v["spec"]["securityContext"]["windowsOptions"] = hp.clone();
                v["spec"]["containers"][0]["securityContext"]["windowsOptions"] = hp.clone();
            }),
            [
                format!("spec.securityContext.windowsOptions.hostProcess=true: {MESSAGE}"),
                format!(
                    "spec.containers[0].securityContext.windowsOptions.hostProcess=true: {MESSAGE}"
                ),
            ]
        );
        let off = found(Check::HostProcess, |v| {
            v["spec"]["containers"][0]["securityContext"]["windowsOptions"] =
                json!({"hostProcess": false})
        });
        assert!(off.is_empty());
    }
}
