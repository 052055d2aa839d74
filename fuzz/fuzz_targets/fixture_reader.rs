//! Fuzz target: [`gnbr_fuzz::fixture_reader`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gnbr_fuzz::fixture_reader(data));
