//! Fuzz target: [`gnbr_fuzz::settings_ini`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gnbr_fuzz::settings_ini(data));
