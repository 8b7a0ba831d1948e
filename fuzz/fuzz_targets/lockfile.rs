#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| envc::fuzz::text::lockfile(data));
