//! The manifest set `deploy` applies: the testnet manifests embedded in the binary, a folder of
//! YAML files, or a kustomization rendered by `kubectl kustomize`. Everything here is pure apart
//! from reading the files.

use std::path::{Path, PathBuf};

use kube::api::DynamicObject;
use policy_wasm::image_ref::ImageRef;
use serde_json::Value;

/// The manifests of `manifests/` compiled into the binary, in the order of the base kustomization.
const EMBEDDED: &[(&str, &str)] = &[
    (
        "namespace.yaml",
        include_str!("../../manifests/overlays/testnet/namespace.yaml"),
    ),
    (
        "configmap.yaml",
        include_str!("../../manifests/base/configmap.yaml"),
    ),
    (
        "service.yaml",
        include_str!("../../manifests/base/service.yaml"),
    ),
    (
        "deployment.yaml",
        include_str!("../../manifests/base/deployment.yaml"),
    ),
    (
        "deployment-canary.yaml",
        include_str!("../../manifests/base/deployment-canary.yaml"),
    ),
    (
        "destinationrule.yaml",
        include_str!("../../manifests/base/destinationrule.yaml"),
    ),
    (
        "virtualservice.yaml",
        include_str!("../../manifests/base/virtualservice.yaml"),
    ),
    (
        "servicemonitor.yaml",
        include_str!("../../manifests/base/servicemonitor.yaml"),
    ),
    (
        "prometheusrule.yaml",
        include_str!("../../manifests/base/prometheusrule.yaml"),
    ),
    (
        "networkpolicy.yaml",
        include_str!("../../manifests/base/networkpolicy.yaml"),
    ),
];
const EMBEDDED_DASHBOARD: &str = include_str!("../../manifests/base/grafana-rust-metrics.json");

/// The container of the node in the bizra-apex Deployments, the one `--image`/`--tag` change.
pub const NODE_CONTAINER: &str = "bizra-node";

#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("{source_name}: {message}")]
    Yaml {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: document {index} is not a Kubernetes object ({reason})")]
    NotAnObject {
        source_name: String,
        index: usize,
        reason: String,
    },
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} holds no .yaml, .yml or .json files")]
    EmptyDir { path: PathBuf },
    #[error("{path} is a kustomization, not a manifest; use -k {dir} instead of -f", dir = path.parent().map(|p| p.display().to_string()).unwrap_or_default())]
    IsKustomization { path: PathBuf },
    #[error("`kubectl kustomize {path}` failed: {message}")]
    Kustomize { path: PathBuf, message: String },
    #[error("invalid image reference {image:?}: {reason}")]
    Image { image: String, reason: String },
    #[error(
        "no container named {NODE_CONTAINER} in any Deployment labelled app=bizra-apex; nothing to set the image on"
    )]
    NoNodeContainer,
}

/// One object to apply, with where it came from for messages.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub source: String,
    pub object: DynamicObject,
}

impl Manifest {
    pub fn kind(&self) -> &str {
        self.object
            .types
            .as_ref()
            .map(|t| t.kind.as_str())
            .unwrap_or("")
    }

    pub fn api_version(&self) -> &str {
        self.object
            .types
            .as_ref()
            .map(|t| t.api_version.as_str())
            .unwrap_or("")
    }

    pub fn name(&self) -> &str {
        self.object.metadata.name.as_deref().unwrap_or("")
    }
}

/// Parses multi-document YAML (or JSON) into objects, expanding `kind: *List`. Deploy applies
/// all or nothing, so the first unreadable document is the error.
pub fn parse_documents(source_name: &str, text: &str) -> Result<Vec<Manifest>, ManifestError> {
    let (objects, errors) = bizra_offline::documents::parse_stream(text);
    if let Some(error) = errors.into_iter().next() {
        return Err(ManifestError::Yaml {
            source_name: source_name.to_owned(),
            message: error.to_string(),
        });
    }
    objects
        .into_iter()
        .map(|object| to_manifest(source_name, object.document, object.value))
        .collect()
}

fn to_manifest(source_name: &str, index: usize, value: Value) -> Result<Manifest, ManifestError> {
    let not_object = |reason: &str| ManifestError::NotAnObject {
        source_name: source_name.to_owned(),
        index,
        reason: reason.to_owned(),
    };
    for field in ["apiVersion", "kind"] {
        if value
            .get(field)
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            return Err(not_object(&format!("no {field}")));
        }
    }
    let object: DynamicObject =
        serde_json::from_value(value).map_err(|e| not_object(&e.to_string()))?;
    if object.metadata.name.as_deref().is_none_or(str::is_empty) {
        return Err(not_object("no metadata.name"));
    }
    Ok(Manifest {
        source: source_name.to_owned(),
        object,
    })
}

/// The embedded testnet manifests, with the Namespace renamed to `namespace`.
pub fn embedded(namespace: &str) -> Vec<Manifest> {
    let mut manifests = Vec::new();
    for (name, text) in EMBEDDED {
        manifests
            .extend(parse_documents(name, text).expect("embedded manifests are valid (tested)"));
    }
    for manifest in &mut manifests {
        if manifest.kind() == "Namespace" {
            manifest.object.metadata.name = Some(namespace.to_owned());
        }
    }
    manifests.push(dashboard_config_map());
    manifests
}

/// The Grafana dashboard as the ConfigMap the base kustomization generates from the JSON file.
fn dashboard_config_map() -> Manifest {
    let value = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "bizra-grafana-dashboard", "labels": {"grafana_dashboard": "1"}},
        "data": {"grafana-rust-metrics.json": EMBEDDED_DASHBOARD},
    });
    to_manifest("grafana-rust-metrics.json", 1, value).expect("dashboard ConfigMap is an object")
}

/// Every .yaml, .yml and .json file directly in `dir`, in name order.
pub fn load_dir(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let read_err = |source| ManifestError::Read {
        path: dir.to_owned(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(read_err)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| {
            path.is_file()
                && matches!(
                    path.extension().and_then(|e| e.to_str()),
                    Some("yaml" | "yml" | "json")
                )
        })
        .collect();
    files.sort();
    if files.is_empty() {
        return Err(ManifestError::EmptyDir {
            path: dir.to_owned(),
        });
    }
    let mut manifests = Vec::new();
    for file in files {
        let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        if stem.eq_ignore_ascii_case("kustomization") {
            return Err(ManifestError::IsKustomization { path: file });
        }
        let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Read {
            path: file.clone(),
            source,
        })?;
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        manifests.extend(parse_documents(&name, &text)?);
    }
    Ok(manifests)
}

/// Renders a kustomization with `kubectl kustomize`, as `kubectl apply -k` does.
pub fn kustomize(dir: &Path) -> Result<Vec<Manifest>, ManifestError> {
    let output = std::process::Command::new("kubectl")
        .arg("kustomize")
        .arg(dir)
        .output()
        .map_err(|source| ManifestError::Read {
            path: PathBuf::from("kubectl"),
            source,
        })?;
    if !output.status.success() {
        return Err(ManifestError::Kustomize {
            path: dir.to_owned(),
            message: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        });
    }
    parse_documents(
        &dir.display().to_string(),
        &String::from_utf8_lossy(&output.stdout),
    )
}

/// Where a kind goes in the apply order: what others refer to comes first (namespace, accounts,
/// config, RBAC, admission policy), then the workload, then routing and monitoring around it.
fn apply_rank(kind: &str) -> u8 {
    match kind {
        "Namespace" => 0,
        "CustomResourceDefinition" => 1,
        "ServiceAccount" => 2,
        "Secret" => 3,
        "ConfigMap" => 4,
        "ClusterRole" => 5,
        "ClusterRoleBinding" => 6,
        "Role" => 7,
        "RoleBinding" => 8,
        "ClusterAdmissionPolicy" | "AdmissionPolicy" => 9,
        "NetworkPolicy" => 10,
        "Service" => 11,
        "Deployment" | "StatefulSet" | "DaemonSet" => 12,
        "DestinationRule" => 13,
        "VirtualService" => 14,
        "ServiceMonitor" => 15,
        "PrometheusRule" => 16,
        _ => 20,
    }
}

/// Sorts into apply order, keeping the given order within a kind.
pub fn in_apply_order(mut manifests: Vec<Manifest>) -> Vec<Manifest> {
    manifests.sort_by_key(|m| apply_rank(m.kind()));
    manifests
}

/// API groups whose kinds are optional: when their CRD is not installed the object is skipped.
pub fn is_optional_group(api_version: &str) -> bool {
    let group = api_version.split_once('/').map(|(g, _)| g).unwrap_or("");
    matches!(
        group,
        "monitoring.coreos.com" | "networking.istio.io" | "policies.kubewarden.io"
    )
}

/// What `--image` / `--tag` ask for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageOverride {
    Image(ImageRef),
    /// A tag already checked with [`policy_wasm::image_ref::check_tag`].
    Tag(String),
}

/// Sets the node image in every bizra-apex Deployment, and the pods' `version` label to match.
/// Returns how many containers changed.
pub fn override_node_image(
    manifests: &mut [Manifest],
    wanted: &ImageOverride,
) -> Result<usize, ManifestError> {
    let mut changed = 0;
    for manifest in manifests.iter_mut().filter(|m| m.kind() == "Deployment") {
        let labels = &manifest.object.metadata.labels;
        if labels
            .as_ref()
            .and_then(|l| l.get("app"))
            .map(String::as_str)
            != Some("bizra-apex")
        {
            continue;
        }
        let template = &mut manifest.object.data["spec"]["template"];
        let Some(containers) = template["spec"]["containers"].as_array_mut() else {
            continue;
        };
        let mut new_image = None;
        for container in containers
            .iter_mut()
            .filter(|c| c["name"] == NODE_CONTAINER)
        {
            let image = match wanted {
                ImageOverride::Image(image) => image.clone(),
                ImageOverride::Tag(tag) => {
                    let current = container["image"].as_str().unwrap_or_default();
                    ImageRef::parse(current)
                        .and_then(|current| current.with_tag(tag))
                        .map_err(|e| ManifestError::Image {
                            image: e.image,
                            reason: e.reason,
                        })?
                }
            };
            container["image"] = Value::String(image.to_string());
            changed += 1;
            new_image = Some(image);
        }
        if let Some(image) = new_image {
            template["metadata"]["labels"]["version"] = Value::String(image.version_label());
        }
    }
    if changed == 0 {
        return Err(ManifestError::NoNodeContainer);
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_manifests_parse_and_are_complete() {
        let manifests = embedded("testnet");
        let kinds: Vec<(&str, &str)> = manifests.iter().map(|m| (m.kind(), m.name())).collect();
        for expected in [
            ("Namespace", "testnet"),
            ("ConfigMap", "bizra-config"),
            ("Service", "bizra-apex"),
            ("Deployment", "bizra-apex"),
            ("Deployment", "bizra-apex-canary"),
            ("DestinationRule", "bizra-apex"),
            ("VirtualService", "bizra-apex"),
            ("ServiceMonitor", "bizra-rust"),
            ("PrometheusRule", "bizra-apex"),
            ("NetworkPolicy", "default-deny-ingress"),
            ("NetworkPolicy", "bizra-apex"),
            ("ConfigMap", "bizra-grafana-dashboard"),
        ] {
            assert!(
                kinds.contains(&expected),
                "{expected:?} missing from {kinds:?}"
            );
        }
    }

    #[test]
    fn embedded_namespace_follows_the_flag() {
        let manifests = embedded("staging");
        let namespace = manifests
            .iter()
            .find(|m| m.kind() == "Namespace")
            .expect("namespace");
        assert_eq!(namespace.name(), "staging");
    }

    #[test]
    fn apply_order_puts_dependencies_first() {
        let ordered = in_apply_order(embedded("testnet"));
        let position = |kind: &str| ordered.iter().position(|m| m.kind() == kind).expect(kind);
        assert_eq!(position("Namespace"), 0);
        assert!(position("ConfigMap") < position("Deployment"));
        assert!(position("Service") < position("Deployment"));
        assert!(position("Deployment") < position("VirtualService"));
        assert!(position("DestinationRule") < position("VirtualService"));
    }

    #[test]
    fn list_documents_are_expanded_and_empty_documents_skipped() {
        let text = "---\n---\napiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}\n- {apiVersion: v1, kind: ConfigMap, metadata: {name: b}}\n";
        let manifests = parse_documents("list.yaml", text).expect("valid");
        assert_eq!(
            manifests.iter().map(Manifest::name).collect::<Vec<_>>(),
            ["a", "b"]
        );
    }

    #[test]
    fn broken_documents_are_named_in_the_error() {
        let err = parse_documents("bad.yaml", "kind: ConfigMap\nmetadata: {name: x}\n")
            .expect_err("no apiVersion");
        assert_eq!(
            err.to_string(),
            "bad.yaml: document 1 is not a Kubernetes object (no apiVersion)"
        );
        let err = parse_documents("bad.yaml", "a: [\n").expect_err("not yaml");
        assert!(
            err.to_string().starts_with("bad.yaml: document 1, line 1"),
            "{err}"
        );
        let err = parse_documents(
            "bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {}\n",
        )
        .expect_err("no name");
        assert!(err.to_string().contains("no metadata.name"), "{err}");
    }

    fn node_images(manifests: &[Manifest]) -> Vec<(String, String)> {
        manifests
            .iter()
            .filter(|m| m.kind() == "Deployment")
            .map(|m| {
                let template = &m.object.data["spec"]["template"];
                (
                    template["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    template["metadata"]["labels"]["version"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect()
    }

    #[test]
    fn tag_override_keeps_the_repository_and_sets_the_version_label() {
        let mut manifests = embedded("testnet");
        let changed = override_node_image(&mut manifests, &ImageOverride::Tag("v2.3.0".into()))
            .expect("valid tag");
        assert_eq!(changed, 2);
        for (image, version) in node_images(&manifests) {
            assert_eq!(image, "ghcr.io/bizra/node:v2.3.0");
            assert_eq!(version, "v2.3.0");
        }
    }

    #[test]
    fn image_override_handles_registry_ports_and_digests() {
        let mut manifests = embedded("testnet");
        let image = "127.0.0.1:5000/bizra/node@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        let parsed = ImageRef::parse(image).expect("valid image");
        override_node_image(&mut manifests, &ImageOverride::Image(parsed)).expect("applies");
        assert_eq!(
            node_images(&manifests)[0],
            (image.to_owned(), "sha256-0123456789ab".to_owned())
        );
        let mut manifests = embedded("testnet");
        override_node_image(
            &mut manifests,
            &ImageOverride::Image(ImageRef::parse("127.0.0.1:5000/node").expect("valid")),
        )
        .expect("valid");
        assert_eq!(node_images(&manifests)[0].1, "latest");
    }

    #[test]
    fn a_tag_on_an_unparsable_image_names_the_image() {
        let mut manifests = embedded("testnet");
        for manifest in &mut manifests {
            if let Some(containers) =
                manifest.object.data["spec"]["template"]["spec"]["containers"].as_array_mut()
            {
                containers[0]["image"] = Value::String("Not An Image".into());
            }
        }
        let err = override_node_image(&mut manifests, &ImageOverride::Tag("v2".into()))
            .expect_err("invalid image");
        assert!(err.to_string().contains("\"Not An Image\""), "{err}");
    }

    #[test]
    fn a_kustomization_folder_points_to_dash_k() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests/rbac");
        let err = load_dir(&dir).expect_err("kustomization is not a manifest");
        let expected = format!(
            "{} is a kustomization, not a manifest; use -k {} instead of -f",
            dir.join("kustomization.yaml").display(),
            dir.display()
        );
        assert_eq!(err.to_string(), expected);
    }

    #[test]
    fn optional_groups_are_the_crd_backed_ones() {
        assert!(is_optional_group("monitoring.coreos.com/v1"));
        assert!(is_optional_group("networking.istio.io/v1"));
        assert!(is_optional_group("policies.kubewarden.io/v1"));
        assert!(!is_optional_group("apps/v1"));
        assert!(!is_optional_group("v1"));
    }
}
