#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| bizra_fuzz::policy_targets::image_ref(data));
