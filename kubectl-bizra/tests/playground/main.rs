//! The browser playground in Debian's headless Chromium, driven through chromedriver (WebDriver):
//! the built page (`bash playground/build.sh`) is served from a folder on 127.0.0.1 under a base
//! path of its own, every file of a corpus is entered into its editor, and the results table,
//! the list of what cannot be read and the list of what was not checked are read back from the
//! page and compared with `kubectl bizra lint -o json` on the same file and settings: they must
//! be identical for every file. Besides: results update as one types, the share link keeps
//! manifest and settings, a malformed document is named by line and column, a settings change
//! turns a rule off, every control is labelled, and the page works offline once loaded. It
//! saves a screenshot of the page with a failing manifest, and prints what the page measured.

#[path = "../support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use support::repo_root;

/// Where the page is served from: any base path must work.
const BASE: &str = "/some/base/path/";

fn built_page() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    let page = target.join("playground");
    assert!(
        page.join("bizra_playground_bg.wasm").is_file(),
        "build the playground first: bash playground/build.sh (looked in {})",
        page.display()
    );
    page
}

/// A static file server on 127.0.0.1 for `root` under [`BASE`]; stops listening when dropped.
struct StaticServer {
    port: u16,
    stop: Arc<AtomicBool>,
    listener: Option<std::thread::JoinHandle<()>>,
}

impl StaticServer {
    fn start(root: PathBuf) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("address").port();
        listener.set_nonblocking(true).expect("nonblocking");
        let stop = Arc::new(AtomicBool::new(false));
        let stopping = Arc::clone(&stop);
        let listener = std::thread::spawn(move || {
            while !stopping.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let root = root.clone();
                        std::thread::spawn(move || serve(stream, &root));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        StaticServer {
            port,
            stop,
            listener: Some(listener),
        }
    }

    fn url(&self, rest: &str) -> String {
        format!("http://127.0.0.1:{}{BASE}{rest}", self.port)
    }
}

impl Drop for StaticServer {
    /// Returns once the socket is closed, so that the page is offline from then on.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(listener) = self.listener.take() {
            let _ = listener.join();
        }
    }
}

fn serve(mut stream: TcpStream, root: &Path) {
    stream.set_nonblocking(false).ok();
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer) {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let path = head.split_whitespace().nth(1).unwrap_or("/");
    let path = path.split(['?', '#']).next().unwrap_or("/");
    let file = path
        .strip_prefix(BASE)
        .map(|rest| if rest.is_empty() { "index.html" } else { rest })
        .filter(|rest| !rest.contains(".."))
        .map(|rest| root.join(rest));
    let (status, kind, body) = match file.and_then(|f| std::fs::read(&f).ok().map(|b| (f, b))) {
        Some((file, body)) => {
            let kind = match file.extension().and_then(|e| e.to_str()) {
                Some("html") => "text/html; charset=utf-8",
                Some("js") => "text/javascript",
                Some("css") => "text/css",
                Some("wasm") => "application/wasm",
                _ => "application/octet-stream",
            };
            ("200 OK", kind, body)
        }
        None => ("404 Not Found", "text/plain", b"not found".to_vec()),
    };
    let header = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes());
    let _ = stream.write_all(&body);
}

/// chromedriver on a port of its own, with a session of Debian's Chromium, headless.
struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// One WebDriver call over HTTP/1.1 on loopback; the answer's `value`.
fn webdriver(port: u16, method: &str, path: &str, body: Option<&Value>) -> Result<Value, String> {
    let mut stream =
        TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("chromedriver: {e}"))?;
    let body = body.map(Value::to_string).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    // Read the head, then exactly Content-Length bytes: chromedriver may keep the connection.
    let mut answer = Vec::new();
    let mut buffer = [0u8; 65536];
    let head_end = loop {
        if let Some(at) = answer.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        let n = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("chromedriver closed the connection".into());
        }
        answer.extend_from_slice(&buffer[..n]);
    };
    let head = String::from_utf8_lossy(&answer[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (name, value) = l.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse().ok())?
        })
        .ok_or("no Content-Length")?;
    while answer.len() < head_end + length {
        let n = stream.read(&mut buffer).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buffer[..n]);
    }
    let body = String::from_utf8_lossy(&answer[head_end..]).into_owned();
    let body = body.as_str();
    let value: Value = serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))?;
    if !head.starts_with("HTTP/1.1 200") {
        return Err(format!("{method} {path}: {head}: {value}"));
    }
    Ok(value["value"].clone())
}

impl Browser {
    fn start() -> Self {
        let port = free_port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver runs (apt install chromium-driver)");
        let deadline = Instant::now() + Duration::from_secs(20);
        while webdriver(port, "GET", "/status", None).is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        let profile = std::env::temp_dir().join(format!("bizra-chromium-{port}"));
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--disable-quic", "--no-first-run", "--disable-background-networking",
                         "--disable-component-update", "--disable-sync", "--window-size=1400,1800",
                         format!("--user-data-dir={}", profile.display())]
            }
        }}});
        let session =
            webdriver(port, "POST", "/session", Some(&capabilities)).expect("a Chromium session");
        Browser {
            driver,
            port,
            session: session["sessionId"]
                .as_str()
                .expect("session id")
                .to_owned(),
        }
    }

    fn call(&self, method: &str, rest: &str, body: Option<Value>) -> Value {
        let path = format!("/session/{}{rest}", self.session);
        webdriver(self.port, method, &path, body.as_ref()).unwrap_or_else(|e| panic!("{e}"))
    }

    fn open(&self, url: &str) {
        self.call("POST", "/url", Some(json!({ "url": url })));
        self.until("the page is ready", |b| {
            b.script(
                "return window.bizraPlayground && window.bizraPlayground.ready === true",
                json!([]),
            ) == json!(true)
        });
    }

    fn script(&self, script: &str, args: Value) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            Some(json!({ "script": script, "args": args })),
        )
    }

    fn until(&self, what: &str, check: impl Fn(&Self) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while !check(self) {
            assert!(Instant::now() < deadline, "timed out waiting until {what}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Puts `text` into a textarea as a paste would, then evaluates at once.
    fn enter(&self, id: &str, text: &str) {
        self.script(
            "const area = document.getElementById(arguments[0]); area.value = arguments[1]; \
             area.dispatchEvent(new Event('input', {bubbles: true})); window.bizraPlayground.evaluate();",
            json!([id, text]),
        );
    }

    /// What the page shows: the results table's rows, what cannot be read, what was skipped.
    fn shown(&self) -> Value {
        self.script(
            "const texts = (selector) => [...document.querySelectorAll(selector)].map((n) => n.textContent); \
             return { rows: [...document.querySelectorAll('#results tbody tr')].map((tr) => [...tr.cells].map((c) => c.textContent)), \
                      problems: texts('#problem-list li'), skipped: texts('#skipped-list li'), \
                      summary: document.getElementById('summary').textContent };",
            json!([]),
        )
    }

    fn click(&self, css: &str) {
        let element = self.call(
            "POST",
            "/element",
            Some(json!({"using": "css selector", "value": css})),
        );
        let id = element
            .as_object()
            .and_then(|o| o.values().next())
            .and_then(Value::as_str)
            .expect("element id")
            .to_owned();
        self.call("POST", &format!("/element/{id}/click"), Some(json!({})));
    }

    fn screenshot(&self, file: &Path) {
        use base64_decode::decode;
        let png = self.call("GET", "/screenshot", None);
        std::fs::write(file, decode(png.as_str().expect("base64"))).expect("screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = webdriver(
            self.port,
            "DELETE",
            &format!("/session/{}", self.session),
            None,
        );
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// Standard base64, for the screenshot (no crate for twenty lines).
mod base64_decode {
    pub fn decode(text: &str) -> Vec<u8> {
        let value = |c: u8| -> Option<u32> {
            Some(match c {
                b'A'..=b'Z' => c - b'A',
                b'a'..=b'z' => c - b'a' + 26,
                b'0'..=b'9' => c - b'0' + 52,
                b'+' => 62,
                b'/' => 63,
                _ => return None,
            } as u32)
        };
        let digits: Vec<u32> = text.bytes().filter_map(value).collect();
        let mut out = Vec::with_capacity(digits.len() * 3 / 4);
        for chunk in digits.chunks(4) {
            let mut n = 0u32;
            for (i, d) in chunk.iter().enumerate() {
                n |= d << (18 - 6 * i);
            }
            for i in 0..chunk.len().saturating_sub(1) {
                out.push((n >> (16 - 8 * i)) as u8);
            }
        }
        out
    }
}

/// What the page must show for a LintReport (`kubectl bizra lint -o json`), written as the page
/// writes it (see playground/web/app.js).
fn expected(report: &Value) -> Value {
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    let rows: Vec<Value> = list("findings")
        .iter()
        .map(|f| {
            let kind_label = match f["containerKind"].as_str() {
                Some("initContainer") => "init container",
                Some("ephemeralContainer") => "ephemeral container",
                _ => "container",
            };
            let container = match f["container"].as_str() {
                Some(name) => format!("{kind_label} {name}"),
                None => "(pod)".into(),
            };
            let line = f.get("fieldLine").unwrap_or(&f["line"]);
            json!([
                format!("{}/{}", text(&f["kind"]), text(&f["name"])),
                container,
                text(&f["rule"]),
                text(&f["message"]),
                text(&f["field"]),
                line.to_string()
            ])
        })
        .collect();
    let problems: Vec<Value> = list("errors")
        .iter()
        .map(|e| {
            let mut place = Vec::new();
            if let Some(d) = e.get("document") {
                place.push(format!("document {d}"));
            }
            if let Some(l) = e.get("line") {
                place.push(format!("line {l}"));
            }
            if let Some(c) = e.get("column") {
                place.push(format!("column {c}"));
            }
            if let Some(f) = e.get("field") {
                place.push(text(f));
            }
            json!(format!("{}: {}", place.join(", "), text(&e["message"])))
        })
        .collect();
    let skipped: Vec<Value> = list("skipped")
        .iter()
        .map(|s| {
            let kind = match text(&s["kind"]) {
                k if k.is_empty() => "(no kind)".to_owned(),
                k => k,
            };
            json!(format!(
                "line {}: {kind}/{}: {}",
                s["line"],
                text(&s["name"]),
                text(&s["reason"])
            ))
        })
        .collect();
    json!({ "rows": rows, "problems": problems, "skipped": skipped })
}

/// A LintReport without the names of files (the page's is always manifest.yaml) and the count
/// of files read.
fn comparable(report: &Value) -> Value {
    let mut report = report.clone();
    if let Some(object) = report.as_object_mut() {
        object.remove("files");
        for list in ["findings", "skipped", "errors"] {
            for item in object
                .get_mut(list)
                .and_then(Value::as_array_mut)
                .into_iter()
                .flatten()
            {
                if let Some(item) = item.as_object_mut() {
                    item.remove("file");
                }
            }
        }
    }
    report
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// `kubectl bizra lint -o json --settings SETTINGS -f FILE`.
fn lint(file: &Path, settings: &Path) -> Value {
    let out = Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"))
        .args(["lint", "-o", "json", "--settings"])
        .arg(settings)
        .arg("-f")
        .arg(file)
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("kubectl-bizra runs");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: no JSON report ({e}): {}",
            file.display(),
            support::stderr(&out)
        )
    })
}

/// The corpus: everything under manifests/, the lint corpus (the YAML of the lint tests and
/// the fixtures' objects, see fuzz/make-corpus.py), and each policy-wasm fixture's object as YAML.
fn corpus(scratch: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut folders = vec![
        repo_root().join("manifests"),
        repo_root().join("fuzz/corpus/lint"),
    ];
    while let Some(folder) = folders.pop() {
        for entry in std::fs::read_dir(&folder).expect("folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                folders.push(path);
            } else if std::fs::read_to_string(&path).is_ok() {
                files.push(path);
            }
        }
    }
    let fixtures = repo_root().join("policy-wasm/test_data");
    for entry in std::fs::read_dir(&fixtures).expect("test_data") {
        let path = entry.expect("entry").path();
        let request: Value =
            serde_json::from_str(&std::fs::read_to_string(&path).expect("fixture")).expect("JSON");
        if let Some(object) = request.get("object").filter(|o| o.is_object()) {
            let yaml = serde_saphyr::to_string(object).expect("YAML");
            let file = scratch.join(format!(
                "{}.yaml",
                path.file_stem()
                    .and_then(|s| s.to_str())
                    .unwrap_or("fixture")
            ));
            std::fs::write(&file, yaml).expect("write");
            files.push(file);
        }
    }
    files.sort();
    files
}

fn shipped_settings(browser: &Browser) -> String {
    browser
        .script(
            "return document.getElementById('settings').value",
            json!([]),
        )
        .as_str()
        .expect("settings")
        .to_owned()
}

#[test]
#[ignore = "needs the built playground and Debian's chromium; run by tests/run.sh"]
fn the_page_shows_what_kubectl_bizra_lint_says_for_every_file_of_the_corpus() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("playground");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let server = StaticServer::start(built_page());
    let browser = Browser::start();
    browser.open(&server.url("index.html"));
    let first_verdict = browser.script("return window.bizraPlayground.firstVerdictMs", json!([]));
    // The settings the page starts with (the shipped policy's), and a baseline variant.
    let shipped = shipped_settings(&browser);
    let variants = [
        ("shipped", shipped.clone()),
        (
            "baseline",
            "podSecurity: baseline\nrequireRequests: true\nrules: {signedImages: false}\nexemptNamespaces: [kube-system]\n".to_owned(),
        ),
    ];
    let files = corpus(&scratch);
    assert!(files.len() >= 60, "only {} files", files.len());
    let mut compared = 0;
    let mut differences = Vec::new();
    for (label, settings) in &variants {
        let settings_file = scratch.join(format!("settings-{label}.yaml"));
        std::fs::write(&settings_file, settings).expect("settings");
        browser.enter("settings", settings);
        for file in &files {
            let content = std::fs::read_to_string(file).expect("UTF-8");
            let before = browser.script("return window.bizraPlayground.evaluations", json!([]));
            browser.enter("manifest", &content);
            let page = browser.script(
                "const p = window.bizraPlayground; return {evaluations: p.evaluations, state: p.state, report: p.report}",
                json!([]),
            );
            let cli = lint(file, &settings_file);
            compared += 1;
            // The page evaluated this very text (no stale table from the file before)...
            if page["evaluations"].as_u64() <= before.as_u64() || page["state"] == "error" {
                differences.push(format!(
                    "{} ({label} settings): the page did not evaluate it: {page}",
                    file.display()
                ));
                continue;
            }
            // ...its report is lint's, field for field (the file's name aside)...
            if comparable(&page["report"]) != comparable(&cli) {
                differences.push(format!(
                    "{} ({label} settings):\n  page's report: {}\n  kubectl bizra lint: {}",
                    file.display(),
                    comparable(&page["report"]),
                    comparable(&cli)
                ));
            }
            // ...and what it shows is that report.
            let mut shown = browser.shown();
            shown.as_object_mut().expect("shown").remove("summary");
            let wanted = expected(&cli);
            if shown != wanted {
                differences.push(format!(
                    "{} ({label} settings):\n  page shows: {shown}\n  kubectl bizra lint: {wanted}",
                    file.display()
                ));
            }
        }
    }
    eprintln!(
        "{compared} files compared ({} files, {} settings); first verdict {first_verdict} ms after load",
        files.len(),
        variants.len()
    );
    assert!(
        differences.is_empty(),
        "{} of {compared} differ:\n{}",
        differences.len(),
        differences.join("\n")
    );
}

#[test]
#[ignore = "needs the built playground and Debian's chromium; run by tests/run.sh"]
fn typing_sharing_errors_settings_labels_and_offline() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("playground");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let server = StaticServer::start(built_page());
    let browser = Browser::start();
    browser.open(&server.url(""));

    // Results update as one types: a root pod becomes compliant by editing one value.
    let root = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsNonRoot: true, runAsUser: 0, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: c\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n    resources: {limits: {cpu: 100m, memory: 64Mi}}\n";
    browser.enter("manifest", root);
    let before = browser.shown();
    assert!(before.to_string().contains("runAsUser"), "{before}");
    let area = browser.call(
        "POST",
        "/element",
        Some(json!({"using": "css selector", "value": "#manifest"})),
    );
    let id = area
        .as_object()
        .and_then(|o| o.values().next())
        .and_then(Value::as_str)
        .expect("element")
        .to_owned();
    // Select "runAsUser: 0" and type 1000 over it, key by key.
    browser.script(
        "const a = document.getElementById('manifest'); const at = a.value.indexOf('runAsUser: 0') + 11; \
         a.focus(); a.setSelectionRange(at, at + 1);",
        json!([]),
    );
    browser.call(
        "POST",
        &format!("/element/{id}/value"),
        Some(json!({"text": "1000"})),
    );
    browser.until("the results follow the typing", |b| {
        let shown = b.shown();
        shown["rows"] == json!([])
            && shown["problems"] == json!([])
            && shown["summary"] == "1 workload checked: no violations"
    });
    let typed = browser.script(
        "return document.getElementById('manifest').value",
        json!([]),
    );
    assert_eq!(
        typed,
        json!(root.replace("runAsUser: 0", "runAsUser: 1000"))
    );

    // A malformed document is named with its line and column.
    browser.enter(
        "manifest",
        "apiVersion: v1\nkind: Pod\nmetadata: {name: [x\n",
    );
    let problems = browser.shown()["problems"].clone();
    let problem = problems[0].as_str().unwrap_or_default().to_owned();
    assert!(
        problem.starts_with("document 1, line 3, column "),
        "{problems}"
    );

    // A settings change turns a rule off: no limits, no limit findings.
    let no_limits = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}\n  containers:\n  - name: c\n    securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}\n";
    browser.enter("manifest", no_limits);
    let rules = |b: &Browser| -> Vec<String> {
        b.shown()["rows"]
            .as_array()
            .expect("rows")
            .iter()
            .map(|row| row[2].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(rules(&browser), ["limits", "limits"]);
    let shipped = shipped_settings(&browser);
    browser.enter(
        "settings",
        &format!(
            "{}rules: {{limits: false}}\n",
            shipped.replace("job: validate\n", "")
        ),
    );
    assert_eq!(rules(&browser), Vec::<String>::new());

    // The share link keeps manifest and settings in the fragment and brings them back.
    let settings = "podSecurity: baseline\nrules: {signedImages: false}\n";
    browser.enter("settings", settings);
    browser.enter("manifest", root);
    let shown = browser.shown();
    browser.click("#share");
    browser.until("the link is made", |b| {
        b.script(
            "return document.getElementById('share-link').value",
            json!([]),
        )
        .as_str()
        .is_some_and(|l| l.contains("#s="))
    });
    let link = browser
        .script(
            "return document.getElementById('share-link').value",
            json!([]),
        )
        .as_str()
        .expect("link")
        .to_owned();
    assert!(link.starts_with(&server.url("")), "{link}");
    browser.open(&server.url("index.html"));
    browser.open(&link);
    let restored = browser.script(
        "return [document.getElementById('manifest').value, document.getElementById('settings').value]",
        json!([]),
    );
    assert_eq!(restored, json!([root, settings]));
    assert_eq!(browser.shown(), shown);

    // Editing after opening a link drops the fragment, so a reload keeps the edits...
    let location = |b: &Browser| b.script("return location.hash", json!([]));
    assert!(
        location(&browser)
            .as_str()
            .is_some_and(|h| h.starts_with("#s="))
    );
    browser.enter("manifest", "kind: ConfigMap\nmetadata: {name: edited}\n");
    assert_eq!(location(&browser), json!(""));
    // ...and a link opened in the page already showing the playground is read too.
    let fragment = link.split_once('#').map(|(_, f)| f).expect("fragment");
    browser.script("location.hash = arguments[0]", json!([fragment]));
    browser.until("the link opened in place is shown", |b| {
        b.script(
            "return document.getElementById('manifest').value",
            json!([]),
        ) == json!(root)
    });
    // A link that cannot be read says so, and the message stays after the next evaluation.
    browser.script("location.hash = 's=not-a-link'", json!([]));
    let share_status = |b: &Browser| {
        b.script(
            "return document.getElementById('share-status').textContent",
            json!([]),
        )
    };
    browser.until("the broken link is named", |b| {
        share_status(b)
            .as_str()
            .is_some_and(|s| s.starts_with("The shared link cannot be read"))
    });
    browser.script("window.bizraPlayground.evaluate()", json!([]));
    assert!(
        share_status(&browser)
            .as_str()
            .is_some_and(|s| s.starts_with("The shared link cannot be read")),
        "{}",
        share_status(&browser)
    );
    assert_eq!(
        browser.script(
            "return document.getElementById('manifest').value",
            json!([])
        ),
        json!(root)
    );

    // An internal error (a panic, which aborts the module) clears the results, says so, and a
    // fresh instance decides the next edit as the first did.
    let privileged = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n  - name: c\n    securityContext: {privileged: true}\n";
    browser.enter("manifest", privileged);
    let before_crash = browser.shown();
    assert!(
        before_crash.to_string().contains("privileged"),
        "{before_crash}"
    );
    assert_eq!(
        browser.script(
            "return window.bizraPlayground.internalErrorForTests()",
            json!([])
        ),
        json!(true)
    );
    let broken = browser.shown();
    assert_eq!(broken["rows"], json!([]), "{broken}");
    assert!(
        broken["summary"]
            .as_str()
            .is_some_and(|s| s.contains("internal error")),
        "{broken}"
    );
    browser.until("a fresh instance is loaded", |b| {
        b.script("return window.bizraPlayground.instances", json!([])) == json!(2)
    });
    browser.enter("manifest", privileged);
    assert_eq!(browser.shown(), before_crash);

    // Every control has a name a screen reader says.
    let unnamed = browser.script(
        "return [...document.querySelectorAll('textarea, select, input, button')].filter((e) => \
           !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim()).map((e) => e.id)",
        json!([]),
    );
    assert_eq!(unnamed, json!([]), "controls without a label");

    // A failing manifest, for the eyes.
    browser.enter(
        "manifest",
        &std::fs::read_to_string(repo_root().join("playground/examples/many-violations.yaml"))
            .expect("example"),
    );
    browser.enter("settings", &shipped);
    let screenshot = scratch.join("playground-failing.png");
    browser.screenshot(&screenshot);
    eprintln!("screenshot: {}", screenshot.display());

    // Offline once loaded: the service worker serves the page when the server is gone.
    browser.until("the service worker controls the page", |b| {
        b.script("return !!navigator.serviceWorker.controller", json!([])) == json!(true) || {
            b.call("POST", "/refresh", Some(json!({})));
            false
        }
    });
    let page = server.url("index.html");
    drop(server);
    browser.open(&page);
    browser.enter("manifest", root);
    assert!(browser.shown().to_string().contains("runAsUser"));
}

/// `kubectl bizra policy vap --settings SETTINGS [--action ACTION]`.
fn policy_vap(settings: &Path, action: &str) -> String {
    let mut command = Command::new(env!("CARGO_BIN_EXE_kubectl-bizra"));
    command.args(["policy", "vap", "--settings"]).arg(settings);
    if !action.is_empty() {
        command.args(["--action", action]);
    }
    let out = command
        .env("KUBECONFIG", "/nonexistent")
        .output()
        .expect("kubectl-bizra runs");
    assert!(out.status.success(), "{}", support::stderr(&out));
    String::from_utf8(out.stdout).expect("UTF-8")
}

#[test]
#[ignore = "needs the built playground and Debian's chromium; run by tests/run.sh"]
fn the_page_writes_the_vap_kubectl_bizra_policy_vap_writes() {
    let scratch = Path::new(env!("CARGO_TARGET_TMPDIR")).join("playground");
    std::fs::create_dir_all(&scratch).expect("scratch");
    let server = StaticServer::start(built_page());
    let browser = Browser::start();
    browser.open(&server.url(""));
    let shipped = shipped_settings(&browser);
    let monitor_policy =
        std::fs::read_to_string(repo_root().join("manifests/policy/bizra-secure-pods.yaml"))
            .expect("the shipped policy")
            .replace("mode: protect", "mode: monitor");
    assert!(monitor_policy.contains("mode: monitor"), "{monitor_policy}");
    let variants = [
        ("shipped", shipped),
        ("baseline", "podSecurity: baseline\nrules: {signedImages: false}\nexemptNamespaces: [kube-system, tools]\n".to_owned()),
        ("monitor-policy", monitor_policy),
    ];
    let mut compared = 0;
    for (label, settings) in &variants {
        let file = scratch.join(format!("vap-{label}.yaml"));
        std::fs::write(&file, settings).expect("settings");
        browser.enter("settings", settings);
        for action in ["", "deny", "warn", "audit"] {
            let page = browser.script(
                "const select = document.getElementById('vap-action'); select.value = arguments[0]; \
                 select.dispatchEvent(new Event('change')); return document.getElementById('vap').textContent",
                json!([action]),
            );
            let cli = policy_vap(&file, action);
            assert_eq!(
                page.as_str(),
                Some(cli.as_str()),
                "{label} settings, action {action:?}"
            );
            compared += 1;
        }
    }
    // The default follows the policy's mode, as the command's does.
    let audit = policy_vap(&scratch.join("vap-monitor-policy.yaml"), "");
    assert!(audit.contains("- Audit"), "{audit}");
    eprintln!("{compared} policies compared");
}

#[test]
#[ignore = "needs the built playground and Debian's chromium; a benchmark, run on demand"]
fn benchmark_the_page() {
    let server = StaticServer::start(built_page());
    // Cold loads: a browser of its own each time (an empty cache, no service worker yet); the
    // figure counts from the start of the navigation, downloads included.
    // Each load gives: the first verdict from the start of the navigation, the page's load
    // event from the same origin, and when the first byte of the HTML arrived.
    let timings = |browser: &Browser| -> [f64; 3] {
        let t = browser.script(
            "const n = performance.getEntriesByType('navigation')[0]; \
             return [window.bizraPlayground.firstVerdictMs, n.loadEventEnd, n.responseStart];",
            json!([]),
        );
        let at = |i: usize| (t[i].as_f64().expect("ms") * 10.0).round() / 10.0;
        [at(0), at(1), at(2)]
    };
    let mut cold = Vec::new();
    let mut again = Vec::new();
    for _ in 0..5 {
        let browser = Browser::start();
        browser.open(&server.url("index.html"));
        cold.push(timings(&browser));
        // The same browser loading it again: its cache and the service worker in place.
        browser.open(&server.url("index.html?again"));
        again.push(timings(&browser));
    }
    let first: Vec<f64> = cold.iter().map(|t| t[0]).collect();
    let after_load = |loads: &[[f64; 3]]| -> Vec<f64> {
        loads
            .iter()
            .map(|t| ((t[0] - t[1]) * 10.0).round() / 10.0)
            .collect()
    };
    eprintln!(
        "first verdict after the load event (ms): cold {:?}, again {:?}",
        after_load(&cold),
        after_load(&again)
    );
    eprintln!(
        "cold loads [first verdict, load event, first byte of the HTML] (ms from the start of navigation): {cold:?}"
    );
    eprintln!("loaded again in the same browser: {again:?}");
    let browser = Browser::start();
    browser.open(&server.url("index.html"));
    let mut shipped = String::new();
    for file in [
        "configmap",
        "service",
        "deployment",
        "deployment-canary",
        "virtualservice",
    ] {
        shipped.push_str("---\n");
        shipped.push_str(
            &std::fs::read_to_string(repo_root().join(format!("manifests/base/{file}.yaml")))
                .expect("manifest"),
        );
    }
    browser.enter("manifest", &shipped);
    let per_evaluation = browser.script(
        "const n = 200; const t = performance.now(); for (let i = 0; i < n; i++) window.bizraPlayground.evaluate(); \
         return (performance.now() - t) / n;",
        json!([]),
    );
    eprintln!(
        "first verdict after the start of navigation (ms, five cold loads): {first:?}; one evaluation of the shipped manifests (lint and the results shown): {per_evaluation} ms"
    );
}

#[test]
#[ignore = "runs cargo tree; run by tests/run.sh"]
fn the_browser_module_carries_no_kube_tokio_or_tls() {
    let out = Command::new(env!("CARGO"))
        .args([
            "tree",
            "--offline",
            "-p",
            "bizra-playground",
            "--target",
            "wasm32-unknown-unknown",
            "-e",
            "normal",
            "--prefix",
            "none",
            "--format",
            "{p}",
        ])
        .current_dir(repo_root())
        .output()
        .expect("cargo tree runs");
    assert!(out.status.success(), "{}", support::stderr(&out));
    let tree = String::from_utf8_lossy(&out.stdout);
    let crates: std::collections::BTreeSet<&str> = tree
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .collect();
    assert!(crates.contains("bizra-offline"), "{tree}");
    let forbidden: Vec<&&str> = crates
        .iter()
        .filter(|name| {
            [
                "kube",
                "kube-client",
                "tokio",
                "hyper",
                "rustls",
                "ring",
                "openssl",
                "kubectl-bizra",
            ]
            .contains(name)
        })
        .collect();
    assert!(
        forbidden.is_empty(),
        "the browser module depends on {forbidden:?}"
    );
}
