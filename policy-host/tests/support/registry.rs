//! A real OCI registry on loopback: Debian's `docker-registry` (CNCF distribution 2.8), started
//! per test on a free port with its own storage, and a pusher for small test images.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use oci_client::client::{Config, ImageLayer};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use sigstore::registry::{ClientConfig, ClientProtocol};

pub struct Registry {
    child: Option<Child>,
    address: String,
    dir: PathBuf,
}

/// `$DOCKER_REGISTRY`, or the Debian package's binary on PATH.
fn binary() -> String {
    std::env::var("DOCKER_REGISTRY").unwrap_or_else(|_| "docker-registry".into())
}

impl Registry {
    /// Starts a registry listening on 127.0.0.1 and waits until `/v2/` answers.
    pub fn start() -> Registry {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "bizra-registry-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("registry dir");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\n  formatter: text\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:0\n",
                dir.join("data").display()
            ),
        )
        .expect("registry config");
        let mut child = Command::new(binary())
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start {} ({e}); install Debian's docker-registry (tests/setup.sh does)",
                    binary()
                )
            });

        // The registry logs `listening on 127.0.0.1:PORT`; keep draining its log afterwards so
        // it never blocks on a full pipe.
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, address) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(rest) = line.split("listening on ").nth(1) {
                    let address: String = rest
                        .chars()
                        .take_while(|c| !c.is_whitespace() && *c != '"')
                        .collect();
                    if let Some(sender) = found.take() {
                        let _ = sender.send(address);
                    }
                }
            }
        });
        let address = address
            .recv_timeout(Duration::from_secs(20))
            .expect("the registry reports its listening address");
        let registry = Registry {
            child: Some(child),
            address,
            dir,
        };
        registry.wait_ready();
        registry
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if self
                .api_status()
                .is_some_and(|s| s.starts_with("HTTP/1.1 200"))
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("the registry at {} never answered /v2/", self.address);
    }

    /// The status line of `GET /v2/`, or None when nothing answers.
    fn api_status(&self) -> Option<String> {
        let mut stream = TcpStream::connect(&self.address).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        write!(
            stream,
            "GET /v2/ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.address
        )
        .ok()?;
        let mut answer = String::new();
        stream.read_to_string(&mut answer).ok()?;
        answer.lines().next().map(str::to_owned)
    }

    /// `host:port`, as it appears in image references.
    pub fn address(&self) -> &str {
        &self.address
    }

    /// `host:port/repository:tag`.
    pub fn image(&self, repository_and_tag: &str) -> String {
        format!("{}/{repository_and_tag}", self.address)
    }

    /// Stops the registry: nothing listens at its address any more.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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
pub async fn push_image(image: &str, motd: &str) -> String {
    let reference: Reference = image.parse().expect("image reference");
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
                serde_json::to_vec(&config).expect("config JSON"),
                Some(BTreeMap::new()),
            ),
            &RegistryAuth::Anonymous,
            None,
        )
        .await
        .unwrap_or_else(|e| panic!("push {image}: {e}"));
    client
        .fetch_manifest_digest(&reference, &RegistryAuth::Anonymous)
        .await
        .unwrap_or_else(|e| panic!("digest of {image}: {e}"))
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
