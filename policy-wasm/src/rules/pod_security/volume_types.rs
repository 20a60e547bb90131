//! Volume Types (restricted): only volumes that hold no host or network storage the pod could
//! misuse: configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim,
//! projected and secret. A volume written with no source at all is an emptyDir: the apiserver
//! defaults it so (pkg/apis/core/v1 `SetDefaults_Volume`) before Pod Security Admission sees it.

use super::super::cel_parts;
use super::super::{PodFields, Rule, Violation, VolumeFields, pod_violation};
use super::Check;

const ALLOWED: [&str; 9] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

/// Every other source the API knows: each refused by restricted.
const FORBIDDEN: [&str; 21] = [
    "hostPath",
    "gcePersistentDisk",
    "awsElasticBlockStore",
    "gitRepo",
    "nfs",
    "iscsi",
    "glusterfs",
    "rbd",
    "flexVolume",
    "cinder",
    "cephfs",
    "flocker",
    "fc",
    "azureFile",
    "vsphereVolume",
    "quobyte",
    "azureDisk",
    "photonPersistentDisk",
    "portworxVolume",
    "scaleIO",
    "storageos",
];

const ALLOWED_MESSAGE: &str = "restricted allows configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret";

/// The volume's source when it is one restricted forbids; `None` when it is allowed. A source
/// this list does not know (one a newer API added) is forbidden as "unknown", as Pod Security
/// Admission does; a volume with no source at all is an emptyDir (the apiserver defaults it so,
/// after dropping keys it does not know).
fn forbidden_source(v: &VolumeFields) -> Option<&'static str> {
    if v.sources.is_empty() || ALLOWED.iter().any(|s| v.has(s)) {
        return None;
    }
    Some(
        FORBIDDEN
            .into_iter()
            .find(|s| v.has(s))
            .unwrap_or("unknown"),
    )
}

pub fn check(pod: &PodFields) -> Vec<Violation> {
    pod.volumes
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, volume)| {
            let source = forbidden_source(volume)?;
            Some(pod_violation(
                Rule::PodSecurity(Check::VolumeTypes),
                format!("spec.volumes[{i}]"),
                Some(source.to_owned()),
                format!(
                    "volume {:?} is of type {source}; {ALLOWED_MESSAGE}",
                    volume.name
                ),
            ))
        })
        .collect()
}

/// The same check in CEL, for the ValidatingAdmissionPolicy: its violation messages. A volume is
/// read as a map: its keys but `name` are its sources.
pub fn cel() -> String {
    let forbidden = cel_parts::list(&FORBIDDEN);
    let message = format!(
        "'volume ' + {} + ' is of type ' + ({forbidden}.exists(s, s in v) ? {forbidden}.filter(s, s in v)[0] : 'unknown') + {}",
        cel_parts::quoted("v.name"),
        cel_parts::text(&format!("; {ALLOWED_MESSAGE}"))
    );
    format!(
        "variables.spec.?volumes.orValue([])\n  .filter(v, v.exists(k, k != 'name') && !v.exists(k, k in {}))\n  .map(v, {})",
        cel_parts::list(&ALLOWED),
        cel_parts::pod_says(&message, Rule::PodSecurity(Check::VolumeTypes).name())
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::super::fixtures::found;
    use super::*;

    #[test]
    fn only_the_allowed_types() {
        let found = found(Check::VolumeTypes, |v| {
            v["spec"]["volumes"] = json!([
                {"name": "config", "configMap": {"name": "c"}},
                {"name": "token", "projected": {"sources": []}},
                {"name": "bare"},
                {"name": "share", "nfs": {"server": "nfs.example", "path": "/export"}},
                {"name": "root", "hostPath": {"path": "/"}},
                {"name": "future", "someNewSource": {"server": "x"}},
                {"name": "none", "nfs": null}
            ])
        });
        assert_eq!(found.len(), 3, "{found:?}");
        assert!(found[0].starts_with("spec.volumes[3]=nfs: volume \"share\" is of type nfs;"));
        assert!(found[1].starts_with("spec.volumes[4]=hostPath: volume \"root\""));
        assert!(
            found[2].starts_with("spec.volumes[5]=unknown: volume \"future\" is of type unknown;")
        );
    }
}
