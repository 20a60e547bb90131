//! Volume Types (restricted): only volumes that hold no host or network storage the pod could
//! misuse: configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim,
//! projected and secret. A volume written with no source at all is an emptyDir: the apiserver
//! defaults it so (pkg/apis/core/v1 `SetDefaults_Volume`) before Pod Security Admission sees it.

use k8s_openapi::api::core::v1::Volume;

use super::super::{PodFields, Rule, Violation, pod_violation};
use super::Check;

/// The volume's source when it is one restricted forbids; `None` when it is allowed.
fn forbidden_source(v: &Volume) -> Option<&'static str> {
    let allowed = v.config_map.is_some()
        || v.csi.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.ephemeral.is_some()
        || v.image.is_some()
        || v.persistent_volume_claim.is_some()
        || v.projected.is_some()
        || v.secret.is_some();
    if allowed {
        return None;
    }
    let sources = [
        ("hostPath", v.host_path.is_some()),
        ("gcePersistentDisk", v.gce_persistent_disk.is_some()),
        ("awsElasticBlockStore", v.aws_elastic_block_store.is_some()),
        ("gitRepo", v.git_repo.is_some()),
        ("nfs", v.nfs.is_some()),
        ("iscsi", v.iscsi.is_some()),
        ("glusterfs", v.glusterfs.is_some()),
        ("rbd", v.rbd.is_some()),
        ("flexVolume", v.flex_volume.is_some()),
        ("cinder", v.cinder.is_some()),
        ("cephfs", v.cephfs.is_some()),
        ("flocker", v.flocker.is_some()),
        ("fc", v.fc.is_some()),
        ("azureFile", v.azure_file.is_some()),
        ("vsphereVolume", v.vsphere_volume.is_some()),
        ("quobyte", v.quobyte.is_some()),
        ("azureDisk", v.azure_disk.is_some()),
        ("photonPersistentDisk", v.photon_persistent_disk.is_some()),
        ("portworxVolume", v.portworx_volume.is_some()),
        ("scaleIO", v.scale_io.is_some()),
        ("storageos", v.storageos.is_some()),
    ];
    // No source at all: the apiserver makes it an emptyDir.
    sources.into_iter().find(|(_, set)| *set).map(|(name, _)| name)
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
                format!("spec.volumes[{i}].{source}"),
                Some(source.to_owned()),
                format!(
                    "volume {:?} is of type {source}; restricted allows configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret",
                    volume.name
                ),
            ))
        })
        .collect()
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
                {"name": "root", "hostPath": {"path": "/"}}
            ])
        });
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(found[0].starts_with("spec.volumes[3].nfs=nfs: volume \"share\" is of type nfs;"));
        assert!(found[1].starts_with("spec.volumes[4].hostPath=hostPath: volume \"root\""));
    }
}
