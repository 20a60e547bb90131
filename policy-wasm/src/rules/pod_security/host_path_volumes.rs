//! HostPath Volumes (baseline): no `hostPath` volume. Restricted replaces this check with
//! [`volume_types`](super::volume_types).

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

/// The same check in CEL, for the ValidatingAdmissionPolicy: a list of violation messages.
pub const CEL: &str = r#"variables.spec.?volumes.orValue([])
  .filter(v, has(v.hostPath))
  .map(v, 'pod: volume "' + v.name + '" mounts the host\'s "' + v.hostPath.path
    + '" (hostPath); hostPath volumes are not allowed [hostPathVolumes]')"#;

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
