//! HostPath Volumes (baseline): no `hostPath` volume. Restricted replaces this check with
//! [`volume_types`](super::volume_types).

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, pod_violation};
use super::Check;

pub fn check(pod: &PodFields) -> Vec<Violation> {
    pod.volumes
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, volume)| {
            let path = &volume.host_path.as_ref()?.path;
            Some(pod_violation(
                Rule::PodSecurity(Check::HostPathVolumes),
                format!("spec.volumes[{i}].hostPath"),
                Some(path.clone()),
                format!(
                    "volume {:?} mounts the host's {path:?} (hostPath); hostPath volumes are not allowed",
                    volume.name
                ),
            ))
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages.
pub fn cel() -> String {
    let message = format!(
        "'volume ' + {} + ' mounts the host\\'s ' + {} + ' (hostPath); hostPath volumes are not allowed'",
        cel_parts::quoted("v.name"),
        cel_parts::quoted("v.hostPath.path")
    );
    format!(
        "variables.spec.?volumes.orValue([])\n  .filter(v, has(v.hostPath))\n  .map(v, {})",
        cel_parts::pod_says(&message, Rule::PodSecurity(Check::HostPathVolumes).name())
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn a_host_path_of_root_fails() {
        let found = found(Check::HostPathVolumes, |v| {
            v["spec"]["volumes"] = json!([
                {"name": "cache", "emptyDir": {}},
                {"name": "host", "hostPath": {"path": "/"}}
            ])
        });
        assert_eq!(
            found,
            [
                "spec.volumes[1].hostPath=/: volume \"host\" mounts the host's \"/\" (hostPath); hostPath volumes are not allowed"
            ]
        );
    }
}
