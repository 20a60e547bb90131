//! `policy-host serve` as a process, spoken to over HTTPS as the apiserver speaks to it: settings
//! checked at start, AdmissionReviews answered per policy id, unknown ids and bad bodies refused.
//! Needs the module built first and `openssl` (the certificates are made as the harness makes
//! them).

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use policy_host::default_policy_path;
use serde_json::{Value, json};
use support::fixture;

fn temp_dir(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("server-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a certificate for 127.0.0.1 signed by it, as tests/cluster/admission.sh makes them.
fn certificates(dir: &Path) {
    let p = |name: &str| dir.join(name).to_string_lossy().into_owned();
    openssl(&[
        "req",
        "-x509",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.crt"),
    ]);
    openssl(&[
        "req",
        "-new",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=server",
        "-keyout",
        &p("tls.key"),
        "-out",
        &p("tls.csr"),
    ]);
    std::fs::write(dir.join("tls.ext"), "subjectAltName=IP:127.0.0.1\n").expect("ext");
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p("tls.csr"),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("tls.ext"),
        "-out",
        &p("tls.crt"),
    ]);
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn policies_yml(dir: &Path, settings: Value) -> PathBuf {
    let module = format!("file://{}", default_policy_path().display());
    let file = json!({
        "kw.cap.checks": {"module": module, "policyMode": "protect", "allowedToMutate": false,
                          "settings": settings, "namespacedName": {"namespace": "", "name": "checks"}},
    });
    let path = dir.join("policies.yml");
    std::fs::write(&path, file.to_string()).expect("policies.yml");
    path
}

fn serve(dir: &Path, policies: &Path, port: u16) -> Child {
    Command::new(env!("CARGO_BIN_EXE_policy-host"))
        .args(["serve", "--policies"])
        .arg(policies)
        .arg("--cert-file")
        .arg(dir.join("tls.crt"))
        .arg("--key-file")
        .arg(dir.join("tls.key"))
        .args(["--addr", &format!("127.0.0.1:{port}")])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("policy-host serve starts")
}

/// One HTTPS request, trusting only the test CA; (status, body).
fn request(dir: &Path, port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let ca = native_tls::Certificate::from_pem(&std::fs::read(dir.join("ca.crt")).ok()?).ok()?;
    let connector = native_tls::TlsConnector::builder()
        .add_root_certificate(ca)
        .disable_built_in_roots(true)
        .build()
        .ok()?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).ok()?;
    let mut tls = connector.connect("127.0.0.1", tcp).ok()?;
    write!(
        tls,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer.split_once("\r\n\r\n")?.1.to_string();
    Some((status, body))
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn started(dir: &Path, settings: Value) -> (Server, u16) {
    let port = free_port();
    let server = Server(serve(dir, &policies_yml(dir, settings), port));
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if request(dir, port, "GET", "/readiness", "").is_some_and(|(s, _)| s == 200) {
            return (server, port);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("policy-host serve did not become ready");
}

#[test]
fn invalid_settings_stop_the_server_with_the_modules_message() {
    let dir = temp_dir("invalid");
    certificates(&dir);
    let policies = policies_yml(
        &dir,
        json!({"job": "pinDigests", "rules": {"nonRoot": true}}),
    );
    let out = serve(&dir, &policies, free_port())
        .wait_with_output()
        .expect("policy-host runs");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("policy kw.cap.checks: Policy settings are invalid: job pinDigests only verifies signatures and pins digests; rules belongs to the validating policy"),
        "{stderr}"
    );
}

#[test]
fn an_admission_review_is_answered_with_the_modules_verdict() {
    let dir = temp_dir("review");
    certificates(&dir);
    let (_server, port) = started(&dir, json!({"allowedUnsigned": ["*"]}));
    let mut request_object = fixture("pod_root");
    request_object["uid"] = json!("uid-42");
    let review = json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": request_object});
    // The apiserver appends the webhook timeout as a query.
    let (status, body) = request(
        &dir,
        port,
        "POST",
        "/validate/kw.cap.checks?timeout=10s",
        &review.to_string(),
    )
    .expect("an answer");
    assert_eq!(status, 200, "{body}");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(answer["kind"], "AdmissionReview");
    assert_eq!(answer["response"]["uid"], "uid-42");
    assert_eq!(answer["response"]["allowed"], false);
    let message = answer["response"]["status"]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("is not accepted") && message.contains("[runAsUser]"),
        "{message}"
    );
    assert!(answer["response"].get("patch").is_none());

    let compliant = json!({"request": fixture("pod_compliant")});
    let (_, body) = request(
        &dir,
        port,
        "POST",
        "/validate/kw.cap.checks",
        &compliant.to_string(),
    )
    .expect("an answer");
    let answer: Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(answer["response"]["allowed"], true, "{answer}");

    let (status, body) = request(
        &dir,
        port,
        "POST",
        "/validate/kw.cap.other",
        &compliant.to_string(),
    )
    .expect("an answer");
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("policy kw.cap.other not found"), "{body}");
    let (status, _) =
        request(&dir, port, "POST", "/validate/kw.cap.checks", "{not json").expect("an answer");
    assert_eq!(status, 400);
}
