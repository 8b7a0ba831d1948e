//! Wheels built in tests (`zip` + a correct RECORD), for the installer's and the resolver's.

use super::format;
use sha2::{Digest as _, Sha256};
use std::io::Write;
use std::path::{Path, PathBuf};

/// One member: archive path, bytes, unix mode.
pub struct Member<'a>(pub &'a str, pub &'a [u8], pub u32);

/// Writes `{dir}/{name}-{version}-{tag}.whl` with `members` plus METADATA (`requires` as
/// Requires-Dist), WHEEL and a RECORD listing every member; `tamper` edits RECORD's text.
pub fn build_wheel(
    dir: &Path,
    name: &str,
    version: &str,
    tag: &str,
    requires: &[&str],
    members: &[Member],
    tamper: impl Fn(String) -> String,
) -> PathBuf {
    let path = dir.join(format!("{name}-{version}-{tag}.whl"));
    let di = format!("{name}-{version}.dist-info");
    let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
    for r in requires {
        meta.push_str(&format!("Requires-Dist: {r}\n"));
    }
    let wheel =
        format!("Wheel-Version: 1.0\nGenerator: envc-test\nRoot-Is-Purelib: true\nTag: {tag}\n");
    let mut all: Vec<(String, Vec<u8>, u32)> = members
        .iter()
        .map(|m| (m.0.to_string(), m.1.to_vec(), m.2))
        .collect();
    all.push((format!("{di}/METADATA"), meta.into_bytes(), 0o644));
    all.push((format!("{di}/WHEEL"), wheel.into_bytes(), 0o644));
    let mut rows: Vec<format::Row> = all
        .iter()
        .map(|(p, b, _)| format::Row {
            path: p.clone(),
            hash: format::record_hash("sha256", &Sha256::digest(b)),
            size: b.len().to_string(),
        })
        .collect();
    rows.push(format::Row {
        path: format!("{di}/RECORD"),
        hash: String::new(),
        size: String::new(),
    });
    all.push((
        format!("{di}/RECORD"),
        tamper(format::write_record(&rows)).into_bytes(),
        0o644,
    ));
    let file = std::fs::File::create(&path).expect("create wheel");
    let mut zip = zip::ZipWriter::new(file);
    for (p, b, mode) in all {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .unix_permissions(mode);
        zip.start_file(p, opts).expect("zip member");
        zip.write_all(&b).expect("zip write");
    }
    zip.finish().expect("zip finish");
    path
}
