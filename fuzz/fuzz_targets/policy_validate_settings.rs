#![no_main]

libfuzzer_sys::fuzz_target!(
    |data: &[u8]| bizra_fuzz::policy_targets::policy_validate_settings(data)
);
