//! Replays a crate's fuzz targets on stable: every file of `fuzz/corpus/<target>/` (the seeds,
//! required) and `fuzz/regressions/<target>/` (crashes found, minimized) goes through the
//! target's function, and each input that panics is named.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A fuzz target: its name (also its corpus folder's) and what it runs on one input.
pub type Target = (&'static str, fn(&[u8]));

/// Every fuzz target, by the crate whose replay test runs it.
pub const PLUGIN_TARGETS: &[&str] = &["lint", "promtext", "quantity", "duration"];
pub const POLICY_TARGETS: &[&str] = &["policy_validate", "policy_validate_settings", "image_ref"];

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable folder").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn stems(dir: &Path, extension: Option<&str>) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("a readable folder").path())
        .filter(|p| extension.is_none_or(|x| p.extension().is_some_and(|e| e == x)))
        .filter_map(|p| Some(p.file_stem()?.to_str()?.to_owned()))
        .collect();
    names.sort();
    names
}

/// Runs every input of `targets` (which must be exactly `expected`), from the fuzz crate at
/// `fuzz`, and fails naming each input that panicked.
pub fn replay(fuzz: &Path, targets: &[Target], expected: &[&str]) {
    let names: Vec<&str> = targets.iter().map(|(name, _)| *name).collect();
    assert_eq!(names, expected, "the targets this test replays");
    // Every fuzz target, corpus and regression folder belongs to a replayed target.
    let mut all: Vec<String> = PLUGIN_TARGETS
        .iter()
        .chain(POLICY_TARGETS)
        .map(|s| s.to_string())
        .collect();
    all.sort();
    assert_eq!(stems(&fuzz.join("fuzz_targets"), Some("rs")), all);
    assert_eq!(stems(&fuzz.join("corpus"), None), all);
    if fuzz.join("regressions").is_dir() {
        for folder in stems(&fuzz.join("regressions"), None) {
            assert!(all.contains(&folder), "regressions/{folder} is no target");
        }
    }

    let mut failures = Vec::new();
    for (name, run) in targets {
        let corpus = files(&fuzz.join("corpus").join(name));
        assert!(!corpus.is_empty(), "fuzz/corpus/{name}/ has no seed");
        let regressions = files(&fuzz.join("regressions").join(name));
        eprintln!(
            "{name}: {} corpus and {} regression inputs",
            corpus.len(),
            regressions.len()
        );
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            if let Err(panic) = catch_unwind(AssertUnwindSafe(|| run(&data))) {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                failures.push(format!("{}: {message}", path.display()));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} input(s) failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
