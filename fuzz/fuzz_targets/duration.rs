#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bizra_fuzz::plugin_targets::duration(data));
