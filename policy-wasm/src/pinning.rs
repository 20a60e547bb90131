//! Pinning: verified images rewritten to `image@digest` in the object the request carries, so
//! what runs is what was verified. Only the image fields change; every other field stays as the
//! user sent it (and the module needs no serializer for the whole PodSpec).

use serde_json::Value;

use crate::rules::ContainerKind;
use crate::rules::signed_images::VerifiedImage;

/// Writes `image@digest` into every container of `spec` (the pod spec JSON) whose image was
/// verified and is not pinned yet; true when something changed.
pub fn pin_images(spec: &mut Value, verified: &[VerifiedImage]) -> bool {
    let mut changed = false;
    for kind in ContainerKind::ALL {
        let Some(list) = spec.get_mut(kind.field()).and_then(Value::as_array_mut) else {
            continue;
        };
        for container in list {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("");
            let Some(found) = verified
                .iter()
                .find(|v| v.kind == kind && v.container == name)
            else {
                continue;
            };
            let current = container.get("image").and_then(Value::as_str);
            if current == Some(found.image.as_str())
                && !found.image.contains('@')
                && !found.digest.is_empty()
            {
                container["image"] = Value::String(format!("{}@{}", found.image, found.digest));
                changed = true;
            }
        }
    }
    changed
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn verified(kind: ContainerKind, container: &str, image: &str) -> VerifiedImage {
        VerifiedImage {
            kind,
            container: container.into(),
            image: image.into(),
            digest: "sha256:abc".into(),
        }
    }

    #[test]
    fn each_list_is_pinned_by_kind_and_name_and_other_fields_are_kept() {
        let mut spec = json!({
            "containers": [{"name": "a", "image": "r/a:1", "ports": [{"containerPort": 1}]}, {"name": "b", "image": "r/b:1"}],
            "initContainers": [{"name": "a", "image": "r/init:1"}],
            "ephemeralContainers": [{"name": "d", "image": "r/d:1"}]
        });
        let changed = pin_images(
            &mut spec,
            &[
                verified(ContainerKind::Container, "a", "r/a:1"),
                verified(ContainerKind::EphemeralContainer, "d", "r/d:1"),
            ],
        );
        assert!(changed);
        assert_eq!(
            spec,
            json!({
                "containers": [{"name": "a", "image": "r/a:1@sha256:abc", "ports": [{"containerPort": 1}]}, {"name": "b", "image": "r/b:1"}],
                "initContainers": [{"name": "a", "image": "r/init:1"}],
                "ephemeralContainers": [{"name": "d", "image": "r/d:1@sha256:abc"}]
            })
        );
    }

    #[test]
    fn pinned_images_are_left_alone() {
        let mut spec = json!({"containers": [{"name": "a", "image": "r/a:1@sha256:abc"}]});
        let before = spec.clone();
        assert!(!pin_images(
            &mut spec,
            &[verified(ContainerKind::Container, "a", "r/a:1@sha256:abc")]
        ));
        assert_eq!(spec, before);
    }
}
