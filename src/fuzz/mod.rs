//! The fuzz targets' bodies, one function per input surface; `fuzz/` wraps each in a
//! libFuzzer target of the same name (fuzz/README.md). Each takes the fuzzer's bytes, runs the
//! surface as envc runs it on untrusted input, and asserts the properties that surface must
//! keep, not only that it returns: a panic here is a finding. Bodies write only inside temp
//! directories of their own. The test below replays every target over its seeds, so the
//! properties hold in `cargo test` too, on every machine.

pub mod archive;
pub mod dockerfile;
pub mod http;
pub mod json;
pub mod layer;
pub mod packages;
pub mod refs;
pub mod spec;
pub mod text;

/// A target's body: the fuzzer's bytes in, a panic out when a property breaks.
pub type Body = fn(&[u8]);

/// Every target: its name (the fuzz binary's and its seeds' directory, `fuzz/seeds/NAME`,
/// where symlinks bring in real inputs envc's tests hold) and its body.
pub const TARGETS: &[(&str, Body)] = &[
    ("spec", spec::spec),
    ("runtime_env", text::runtime_env),
    ("refs", refs::refs),
    ("config", text::config),
    ("pathspec", text::pathspec),
    ("lockfile", text::lockfile),
    ("oci_json", json::oci_json),
    ("registry", json::registry),
    ("layer_scan", layer::layer_scan),
    ("layer_roundtrip", layer::layer_roundtrip),
    ("archive", archive::archive),
    ("apt", packages::apt),
    ("deb", packages::deb),
    ("wheel", packages::wheel),
    ("http", http::http),
];

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }

    /// Every target over its seeds: what the fuzzer starts from keeps every property.
    #[test]
    fn every_target_keeps_its_properties_on_its_seeds() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut failed = Vec::new();
        for (name, body) in super::TARGETS {
            let mut inputs = Vec::new();
            files(&root.join("fuzz/seeds").join(name), &mut inputs);
            assert!(!inputs.is_empty(), "fuzz/seeds/{name} has no seed");
            for path in inputs {
                let bytes = std::fs::read(&path).unwrap();
                if std::panic::catch_unwind(|| body(&bytes)).is_err() {
                    failed.push(format!("{name} on {}", path.display()));
                }
            }
        }
        assert!(
            failed.is_empty(),
            "failed (panics above):\n{}",
            failed.join("\n")
        );
    }
}
