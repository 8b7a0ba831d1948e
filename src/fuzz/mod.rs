//! The fuzz targets' bodies, one function per input surface (built with the `fuzzing` feature;
//! `fuzz/` wraps each in a libFuzzer target). Each takes the fuzzer's bytes, runs the surface as
//! envc runs it on untrusted input, and asserts the properties that surface must keep, not only
//! that it returns: a panic here is a finding. Bodies never write outside a temp directory.

pub mod refs;
