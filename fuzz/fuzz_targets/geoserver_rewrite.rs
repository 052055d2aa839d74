//! Fuzz target: [`gnbr_fuzz::geoserver_rewrite`].

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gnbr_fuzz::geoserver_rewrite(data));
