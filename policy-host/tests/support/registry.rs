//! A real OCI registry on loopback: Debian's `docker-registry` (CNCF distribution 2.8), started
//! per test on a free port with its own storage, and a pusher for small test images.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub use policy_host::oci::plain_http;

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

/// [`policy_host::oci::push_image`], failing the test on an error.
pub async fn push_image(image: &str, motd: &str) -> String {
    policy_host::oci::push_image(image, motd)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}
