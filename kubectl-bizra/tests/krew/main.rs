//! Installing through krew, offline, as an operator would: the release command builds the
//! linux/amd64 archive and writes its sha256 into a copy of krew.yaml named `bizra.yaml` (the
//! validator wants the file named after the plugin); krew-index's validator checks it; krew
//! installs it into a temporary KREW_ROOT; kubectl then runs the krew-installed plugin and
//! completes its words through `kubectl_complete-bizra`. A wrong sha256 must stop the install.
//!
//! Needs krew and validate-krew-manifest from tests/cluster/build-tools.sh; run with --ignored.

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};

use std::process::{Command, Output};
use support::repo_root;

fn pinned(name: &str) -> String {
    let versions = std::fs::read_to_string(repo_root().join("tests/cluster/versions.env"))
        .expect("read versions.env");
    versions
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("{name} not pinned in versions.env"))
        .to_string()
}

/// krew and validate-krew-manifest as build-tools.sh caches them.
fn krew_tools() -> PathBuf {
    let cache = std::env::var("BIZRA_CACHE").unwrap_or_else(|_| "/var/cache/kubectl-bizra".into());
    let dir = Path::new(&cache).join(format!("krew-v{}/bin", pinned("KREW_VERSION")));
    assert!(
        dir.join("krew").is_file() && dir.join("validate-krew-manifest").is_file(),
        "krew tools missing in {}: run tests/cluster/build-tools.sh",
        dir.display()
    );
    dir
}

fn plugin_version() -> String {
    format!("v{}", env!("CARGO_PKG_VERSION"))
}

fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("krew-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

fn run(command: &mut Command) -> Output {
    command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"))
}

fn run_ok(command: &mut Command) -> String {
    let output = run(command);
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn sha256(path: &Path) -> String {
    let out = run_ok(Command::new("sha256sum").arg(path));
    out.split_whitespace()
        .next()
        .expect("sha256sum output")
        .to_string()
}

/// A folder with `kubectl-krew` (krew run as a kubectl plugin), put on PATH.
fn krew_path(dir: &Path) -> String {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).expect("create bin");
    std::os::unix::fs::symlink(krew_tools().join("krew"), bin.join("kubectl-krew"))
        .expect("link kubectl-krew");
    format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

struct Release {
    manifest: PathBuf,
    archive: PathBuf,
}

/// Runs the repository's release command for linux/amd64 into `dir`.
fn release(dir: &Path) -> Release {
    let manifest = dir.join("bizra.yaml");
    std::fs::copy(repo_root().join("krew.yaml"), &manifest).expect("copy krew.yaml");
    run_ok(
        Command::new("bash")
            .arg(repo_root().join("release/release.sh"))
            .args(["--out"])
            .arg(dir.join("dist"))
            .arg("--manifest")
            .arg(&manifest)
            .arg("linux/amd64"),
    );
    let archive = dir.join(format!(
        "dist/kubectl-bizra_{}_linux_amd64.tar.gz",
        plugin_version()
    ));
    assert!(archive.is_file(), "release made no {}", archive.display());
    Release { manifest, archive }
}

fn krew_install(path: &str, root: &Path, release: &Release, manifest: &Path) -> Output {
    run(Command::new("kubectl")
        .args(["krew", "install"])
        .arg(format!("--manifest={}", manifest.display()))
        .arg(format!("--archive={}", release.archive.display()))
        .env("PATH", path)
        .env("KREW_ROOT", root))
}

#[test]
#[ignore = "builds a release archive and needs krew from tests/cluster/build-tools.sh"]
fn krew_installs_the_released_archive_and_kubectl_completes_through_it() {
    let dir = scratch("install");
    let release = release(&dir);

    // The release command wrote this archive's checksum and URI into the manifest.
    let manifest = std::fs::read_to_string(&release.manifest).expect("read manifest");
    let digest = sha256(&release.archive);
    let linux_block = manifest
        .split("    - selector:")
        .find(|block| block.contains("os: linux") && block.contains("arch: amd64"))
        .expect("linux/amd64 platform");
    assert!(
        linux_block.contains(&format!("sha256: \"{digest}\"")),
        "{linux_block}"
    );
    assert!(linux_block.contains("kubectl-bizra_v"), "{linux_block}");

    // The archive holds the binary, the licence and the completion script, nothing else.
    let listing = run_ok(Command::new("tar").arg("-tzf").arg(&release.archive));
    let mut entries: Vec<&str> = listing.lines().collect();
    entries.sort();
    assert_eq!(
        entries,
        vec!["LICENSE", "kubectl-bizra", "kubectl_complete-bizra"]
    );

    // krew-index's validator (installing every platform needs their archives online, so skip).
    run_ok(
        Command::new(krew_tools().join("validate-krew-manifest"))
            .arg("-manifest")
            .arg(&release.manifest)
            .arg("-skip-install"),
    );

    let path = krew_path(&dir);
    let root = dir.join("krew-root");
    let installed = krew_install(&path, &root, &release, &release.manifest);
    assert!(
        installed.status.success(),
        "krew install failed:\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );
    let store = root.join(format!("store/bizra/{}", plugin_version()));
    for file in ["LICENSE", "kubectl-bizra", "kubectl_complete-bizra"] {
        assert!(
            store.join(file).is_file(),
            "{file} not installed in {}",
            store.display()
        );
    }

    // kubectl finds the krew-installed plugin and runs it.
    let with_plugin = format!("{}:{path}", root.join("bin").display());
    let version = run_ok(
        Command::new("kubectl")
            .args(["bizra", "version", "--client", "-o", "json"])
            .env("PATH", &with_plugin),
    );
    let version: serde_json::Value = serde_json::from_str(&version).expect("version JSON");
    assert_eq!(version["clientVersion"]["gitVersion"], plugin_version());
    let list = run_ok(
        Command::new("kubectl")
            .args(["plugin", "list", "--name-only"])
            .env("PATH", &with_plugin),
    );
    assert!(list.lines().any(|l| l.trim() == "kubectl-bizra"), "{list}");

    // Completion as the caveats tell users to set it up: the script from the store on PATH.
    let completions = dir.join("completions");
    std::fs::create_dir_all(&completions).expect("create completions dir");
    std::os::unix::fs::symlink(
        store.join("kubectl_complete-bizra"),
        completions.join("kubectl_complete-bizra"),
    )
    .expect("link completion script");
    let with_completion = format!("{}:{with_plugin}", completions.display());
    let complete = |words: &[&str]| {
        run_ok(
            Command::new("kubectl")
                .args(["__complete", "bizra"])
                .args(words)
                .env("PATH", &with_completion),
        )
    };
    let subcommands = complete(&[""]);
    for sub in ["deploy", "validate", "version"] {
        assert!(
            subcommands.lines().any(|l| l == sub),
            "{sub}:\n{subcommands}"
        );
    }
    assert!(subcommands.lines().any(|l| l == ":4"), "{subcommands}");
    let gates = complete(&["validate", "--gate", "se"]);
    let gates: Vec<&str> = gates.lines().filter(|l| !l.starts_with(':')).collect();
    assert_eq!(gates, vec!["service-connectivity", "security"]);
    let flags = complete(&["deploy", "--dry"]);
    assert!(flags.lines().any(|l| l == "--dry-run"), "{flags}");
}

#[test]
#[ignore = "builds a release archive and needs krew from tests/cluster/build-tools.sh"]
fn a_wrong_sha256_stops_the_install() {
    let dir = scratch("wrong-sha");
    let release = release(&dir);
    let digest = sha256(&release.archive);
    // Flip the last hex digit: still a well-formed checksum, just not this archive's.
    let last = digest.chars().last().expect("digest");
    let wrong = format!("{}{}", &digest[..63], if last == '0' { '1' } else { '0' });
    let manifest = std::fs::read_to_string(&release.manifest).expect("read manifest");
    let tampered = dir.join("tampered/bizra.yaml");
    std::fs::create_dir_all(tampered.parent().expect("parent")).expect("create dir");
    std::fs::write(&tampered, manifest.replace(&digest, &wrong)).expect("write manifest");

    let path = krew_path(&dir);
    let root = dir.join("krew-root");
    let installed = krew_install(&path, &root, &release, &tampered);
    let stderr = String::from_utf8_lossy(&installed.stderr);
    assert!(
        !installed.status.success(),
        "install with a wrong sha256 succeeded"
    );
    assert!(
        stderr.contains("checksum") || stderr.contains("sha256"),
        "{stderr}"
    );
    assert!(!root.join("bin/kubectl-bizra").exists());
    assert!(!root.join("store/bizra").exists());
}
