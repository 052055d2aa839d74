//! Fuzz target: [`gnbr_fuzz::backup_archive`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gnbr_fuzz::backup_archive(data));
