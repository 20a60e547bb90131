//! Test images in a registry on loopback: a one-file image pushed with oci-client, spoken to
//! over plain HTTP (the registry listens on 127.0.0.1 only).

use std::collections::BTreeMap;

use oci_client::client::{Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sigstore::registry::{ClientConfig, ClientProtocol};

/// The registry spoken to over plain HTTP: it listens on loopback only. sigstore's form of the
/// client settings; oci-client takes them converted.
pub fn plain_http() -> ClientConfig {
    ClientConfig {
        protocol: ClientProtocol::Http,
        ..Default::default()
    }
}

/// Pushes a one-layer image whose only file is `/etc/motd` holding `motd`, and returns its
/// manifest digest.
pub async fn push_image(image: &str, motd: &str) -> Result<String, String> {
    let reference: Reference = image
        .parse()
        .map_err(|e| format!("bad image reference {image}: {e}"))?;
    let layer = tar_with_one_file("etc/motd", motd.as_bytes());
    let diff_id = sha256_hex(&layer);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {"User": "10001", "Entrypoint": ["/bin/bizra-apex"]},
        "rootfs": {"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]},
    });
    let client = Client::new(plain_http().into());
    client
        .push(
            &reference,
            &[ImageLayer::oci_v1(layer, None)],
            Config::oci_v1(
                serde_json::to_vec(&config).map_err(|e| e.to_string())?,
                Some(BTreeMap::new()),
            ),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .map_err(|e| format!("push {image}: {e}"))?;
    client
        .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
        .await
        .map_err(|e| format!("digest of {image}: {e}"))
}

/// A POSIX ustar archive holding one regular file.
fn tar_with_one_file(path: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    header[..path.len()].copy_from_slice(path.as_bytes());
    let mut field = |offset: usize, text: &str| {
        header[offset..offset + text.len()].copy_from_slice(text.as_bytes());
    };
    field(100, "0000644\0"); // mode
    field(108, "0000000\0"); // uid
    field(116, "0000000\0"); // gid
    field(124, &format!("{:011o}\0", content.len())); // size
    field(136, "00000000000\0"); // mtime
    field(148, "        "); // checksum, counted as spaces
    field(156, "0"); // regular file
    field(257, "ustar\0");
    field(263, "00");
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    header[148..156].copy_from_slice(format!("{checksum:06o}\0 ").as_bytes());

    let mut archive = header.to_vec();
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(512) * 512, 0);
    archive.extend_from_slice(&[0u8; 1024]);
    archive
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
