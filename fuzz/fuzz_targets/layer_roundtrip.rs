#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| envc::fuzz::layer::layer_roundtrip(data));
