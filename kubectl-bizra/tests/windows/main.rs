//! One binary serves Windows: the windows/amd64 archive the release command builds is unpacked and
//! its `kubectl-bizra.exe` run under Debian's wine64, beside the Linux binary on the same input.
//! `version --client`, `lint -f manifests/`, `validate` against the local cluster through its
//! kubeconfig and the completion words must say what the Linux binary says, with the same exit
//! code; only the platform and the path separator may differ.
//!
//! Needs wine64 and the mingw-w64 cross toolchain (tests/setup.sh installs both) and, for
//! `validate`, the local cluster; run with --ignored.

#[path = "../support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use support::{deployed, kubeconfig, repo_root, stderr, stdout};

const WINE: &str = "/usr/lib/wine/wine64";

/// The unpacked archive, built once for all the tests of this binary.
fn windows_exe() -> &'static Path {
    static EXE: OnceLock<PathBuf> = OnceLock::new();
    EXE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("windows-release");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create scratch dir");
        let manifest = dir.join("bizra.yaml");
        std::fs::copy(repo_root().join("krew.yaml"), &manifest).expect("copy krew.yaml");
        let built = Command::new("bash")
            .arg(repo_root().join("release/release.sh"))
            .arg("--out")
            .arg(dir.join("dist"))
            .arg("--manifest")
            .arg(&manifest)
            .arg("windows/amd64")
            .output()
            .expect("release.sh runs");
        assert!(
            built.status.success(),
            "release.sh windows/amd64 failed:\n{}",
            stderr(&built)
        );
        let archive = dir.join(format!(
            "dist/kubectl-bizra_v{}_windows_amd64.zip",
            env!("CARGO_PKG_VERSION")
        ));
        let unpacked = dir.join("unpacked");
        let unzip = Command::new("unzip")
            .arg("-q")
            .arg(&archive)
            .arg("-d")
            .arg(&unpacked)
            .output()
            .expect("unzip runs");
        assert!(
            unzip.status.success(),
            "unzip {}: {}",
            archive.display(),
            stderr(&unzip)
        );
        for file in ["kubectl-bizra.exe", "LICENSE", "kubectl_complete-bizra.cmd"] {
            assert!(unpacked.join(file).is_file(), "the archive has no {file}");
        }
        unpacked.join("kubectl-bizra.exe")
    })
}

/// wine64 with the test's prefix (in the cache: creating one takes a while), quiet, and with no
/// Mono or Gecko install prompts: a console program needs neither.
fn wine(prefix: &Path) -> Command {
    let mut command = Command::new(WINE);
    command
        .env("WINEPREFIX", prefix)
        .env("WINEDEBUG", "-all")
        .env("WINEDLLOVERRIDES", "mscoree=;mshtml=")
        .env_remove("DISPLAY");
    command
}

/// The wine prefix, made once, with the stand-in for the system's bcryptprimitives.dll that
/// Debian's Wine 8.0 lacks (see bcryptprimitives.c; Wine has it from 8.13).
fn wine_prefix() -> &'static Path {
    static PREFIX: OnceLock<PathBuf> = OnceLock::new();
    PREFIX.get_or_init(|| {
        let cache =
            std::env::var("BIZRA_CACHE").unwrap_or_else(|_| "/var/cache/kubectl-bizra".into());
        let prefix = Path::new(&cache).join("wine-prefix");
        std::fs::create_dir_all(&prefix).expect("create the wine prefix");
        let system32 = prefix.join("drive_c/windows/system32");
        if !system32.is_dir() {
            let boot = wine(&prefix)
                .args(["wineboot", "--init"])
                .output()
                .expect("wine64 runs (apt-get install wine64)");
            assert!(boot.status.success(), "wineboot --init: {}", stderr(&boot));
        }
        let built = Command::new("x86_64-w64-mingw32-gcc")
            .args(["-O2", "-shared", "-o"])
            .arg(system32.join("bcryptprimitives.dll"))
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/windows/bcryptprimitives.c"))
            .arg("-lbcrypt")
            .output()
            .expect("x86_64-w64-mingw32-gcc runs (apt-get install gcc-mingw-w64-x86-64)");
        assert!(
            built.status.success(),
            "building the DLL: {}",
            stderr(&built)
        );
        prefix
    })
}

/// The Windows binary under wine, in the repository (so relative paths mean the same to both),
/// with the local cluster's kubeconfig.
fn windows(args: &[&str]) -> Output {
    wine(wine_prefix())
        .arg(windows_exe())
        .args(args)
        .current_dir(repo_root())
        .env("KUBECONFIG", kubeconfig())
        .output()
        .expect("wine64 runs")
}

fn linux(args: &[&str]) -> Output {
    let mut command = support::command(env!("CARGO_BIN_EXE_kubectl-bizra"));
    command.args(args).current_dir(repo_root());
    command.output().expect("kubectl-bizra runs")
}

fn json(out: &Output, what: &str) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{what}: not JSON ({e}):\n{}\n{}", stdout(out), stderr(out)))
}

/// Both binaries on the same arguments: the same exit code, and their stdout as given.
fn both(args: &[&str]) -> (Output, Output) {
    let (on_windows, on_linux) = (windows(args), linux(args));
    assert_eq!(
        on_windows.status.code(),
        on_linux.status.code(),
        "{args:?}: exit codes differ\nwindows stderr: {}\nlinux stderr: {}",
        stderr(&on_windows),
        stderr(&on_linux)
    );
    (on_windows, on_linux)
}

#[test]
#[ignore = "builds the windows/amd64 archive and runs it under wine64"]
fn version_is_the_same_but_for_the_platform() {
    let (on_windows, on_linux) = both(&["version", "--client", "-o", "json"]);
    let (mut win, mut lin) = (json(&on_windows, "windows"), json(&on_linux, "linux"));
    assert_eq!(win["clientVersion"]["platform"], "windows/x86_64", "{win}");
    assert_eq!(lin["clientVersion"]["platform"], "linux/x86_64", "{lin}");
    win["clientVersion"]["platform"].take();
    lin["clientVersion"]["platform"].take();
    assert_eq!(win, lin);
}

#[test]
#[ignore = "builds the windows/amd64 archive and runs it under wine64"]
fn lint_of_the_manifests_is_the_same() {
    for format in ["json", "table"] {
        let (on_windows, on_linux) = both(&["lint", "-f", "manifests/", "-o", format]);
        let on_windows = stdout(&on_windows);
        // Windows joins the files it finds under a folder with `\` (escaped in JSON).
        let separator = if format == "json" { "\\\\" } else { "\\" };
        let on_windows = on_windows.replace(separator, "/");
        assert!(
            stdout(&on_linux).contains("manifests/"),
            "{}",
            stdout(&on_linux)
        );
        assert_eq!(on_windows, stdout(&on_linux), "lint -o {format}");
    }
    // A violation, from a file, with its exit code.
    let (on_windows, on_linux) = both(&[
        "lint",
        "-f",
        "playground/examples/many-violations.yaml",
        "-o",
        "json",
    ]);
    assert_ne!(on_linux.status.code(), Some(0), "{}", stdout(&on_linux));
    assert_eq!(json(&on_windows, "windows"), json(&on_linux, "linux"));
}

#[test]
#[ignore = "needs the local cluster and wine64"]
fn validate_through_the_kubeconfig_is_the_same() {
    let ns = deployed("windows");
    // The gates whose evidence does not move with time: pod health, the environment and the
    // security context, read from the apiserver over TLS with the kubeconfig's credentials.
    let args = [
        "validate",
        "-n",
        &ns.name,
        "--gate",
        "pod-health,environment,security",
        "-o",
        "json",
    ];
    let (on_windows, on_linux) = both(&args);
    assert_eq!(on_linux.status.code(), Some(0), "{}", stderr(&on_linux));
    assert_eq!(json(&on_windows, "windows"), json(&on_linux, "linux"));
    // A failing gate fails on both: a namespace without the Deployment.
    let missing = ["validate", "-n", "no-such-namespace-here", "-o", "json"];
    let (on_windows, on_linux) = both(&missing);
    assert_ne!(on_linux.status.code(), Some(0), "{}", stderr(&on_linux));
    assert_eq!(json(&on_windows, "windows"), json(&on_linux, "linux"));
}

#[test]
#[ignore = "builds the windows/amd64 archive and runs it under wine64"]
fn completion_words_are_the_same() {
    for words in [
        &[""][..],
        &["validate", "--gate", ""],
        &["lint", "-o", ""],
        &["validate", "-o", ""],
        &["promote", "--"],
        &["policy", ""],
    ] {
        let args: Vec<&str> = ["__complete"].iter().chain(words).copied().collect();
        let (on_windows, on_linux) = both(&args);
        assert!(!stdout(&on_linux).trim().is_empty(), "{words:?}: no words");
        assert_eq!(
            stdout(&on_windows),
            stdout(&on_linux),
            "__complete {words:?}"
        );
    }
}
