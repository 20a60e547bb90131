//! The plugin's fuzz corpora and the crashes the fuzzers found (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`), replayed as an ordinary test on stable through the very
//! functions the fuzz targets call. The campaign itself: `bash tests/fuzz.sh`.

use std::path::Path;

#[path = "../../../fuzz/src/plugin_targets.rs"]
mod plugin_targets;
#[path = "../../../fuzz/src/replay.rs"]
mod replay;

#[test]
fn the_plugin_fuzz_corpora_and_regressions_pass() {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz");
    replay::replay(&fuzz, plugin_targets::TARGETS, replay::PLUGIN_TARGETS);
}
