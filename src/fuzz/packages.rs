//! Package indexes and archives: `InRelease` and `Packages` (deb822), dpkg's status, `.deb`
//! archives, wheel zips and their `RECORD`.

use crate::assemble::packages::deb::{self, DataKind};
use crate::assemble::packages::wheel::format::{parse_record, write_record};
use crate::assemble::packages::wheel::{install, safe_components};
use crate::lock::apt::index::{decompress, installed, relations, stanzas, Pkg};
use crate::lock::apt::release;
use crate::lock::facts::{Meta, Python};
use crate::lock::file::LockedWheel;
use crate::oci::layer::validate_path;
use std::collections::BTreeMap;
use std::path::Path;

/// deb822 text as an `InRelease`'s signed body, a `Packages` index and dpkg's status; then
/// the bytes as a compressed index, capped. Every stanza's relations are parsed.
pub fn apt(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = release::parse(text);
        let _ = release::valid_until(text);
        if let Ok(all) = stanzas(text) {
            for (i, st) in all.iter().enumerate() {
                if let Ok(pkg) = Pkg::from_stanza(st, i) {
                    for field in ["Pre-Depends", "Depends", "Provides", "Breaks", "Conflicts"] {
                        let _ = relations(&pkg, field, st.get(field).unwrap_or(""));
                    }
                }
            }
        }
        let _ = installed(text);
    }
    const CAP: u64 = 1 << 20;
    for name in ["Packages.xz", "Packages.gz", "Packages"] {
        if let Ok(out) = decompress(name, data.to_vec(), CAP) {
            assert!(out.len() as u64 <= CAP, "the cap holds");
        }
    }
}

/// Components a path may not have, in a deb or a wheel.
fn clean(path: &str) -> bool {
    !path.starts_with('/') && path.split('/').all(|c| c != ".." && c != ".")
}

/// Only what envc made is in `dir`: regular files, no directories, links or anything else.
fn only_files(dir: &Path) -> usize {
    let mut n = 0;
    for e in std::fs::read_dir(dir).expect("the scratch dir reads") {
        let e = e.expect("an entry");
        let t = e.file_type().expect("its type");
        assert!(
            t.is_file(),
            "{} is not a file envc spooled",
            e.path().display()
        );
        n += 1;
    }
    n
}

/// A `.deb` (ar, control.tar and data.tar): every entry read has a clean relative path and
/// hard links name clean paths; envc writes only its spool file into the scratch directory.
pub fn deb(data: &[u8]) {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let path = tmp.path().join("fuzz.deb");
    std::fs::write(&path, data).expect("write the deb");
    let spool = tmp.path().join("spool");
    std::fs::create_dir(&spool).expect("spool dir");
    if let Ok(d) = deb::read(&path, &spool) {
        for e in &d.data {
            assert!(e.path.is_empty() || clean(&e.path), "unclean {:?}", e.path);
            if let DataKind::HardLink(t) = &e.kind {
                assert!(clean(t), "unclean link target {t:?}");
            }
        }
        assert!(d.spool.starts_with(&spool));
    }
    assert!(only_files(&spool) <= 1);
}

/// A wheel (after the first byte, which names its RECORD's fate): RECORD rows round-trip
/// through envc's writer; installing the wheel into a Python yields only valid layer paths
/// under the prefix, and nothing but the spool file is written.
pub fn wheel(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(rows) = parse_record(text) {
            let written = write_record(&rows);
            let back = parse_record(&written).expect("a written RECORD reads back");
            assert_eq!(write_record(&back), written, "RECORD round-trips");
        }
        if let Some(parts) = safe_components(text) {
            assert!(parts
                .iter()
                .all(|p| !p.is_empty() && *p != ".." && *p != "."));
        }
    }
    let tmp = tempfile::tempdir().expect("a temp dir");
    let whl = tmp.path().join("fuzz-1.0-py3-none-any.whl");
    std::fs::write(&whl, data).expect("write the wheel");
    let spool = tmp.path().join("spool");
    std::fs::create_dir(&spool).expect("spool dir");
    let site = "/opt/py/lib/python3.11/site-packages";
    let python = Python {
        prefix: "/opt/py".into(),
        executable: "/opt/py/bin/python".into(),
        version: "3.11.2".into(),
        site_packages: site.into(),
        owner: Meta {
            mode: 0o755,
            uid: 1000,
            gid: 100,
        },
        dists: BTreeMap::new(),
    };
    let locked = LockedWheel {
        name: "fuzz".into(),
        version: "1.0".into(),
        filename: "fuzz-1.0-py3-none-any.whl".into(),
        url: "file:///fuzz".into(),
        sha256: "0".repeat(64),
        size: data.len() as u64,
        installs: site.into(),
        requested: true,
        upgrades: None,
    };
    if let Ok(entries) = install(&python, &BTreeMap::new(), &[(locked, whl)], &spool) {
        for e in &entries {
            validate_path(&e.path).unwrap_or_else(|err| panic!("{err}"));
            let parent_of_prefix = "opt/py/".starts_with(&format!("{}/", e.path));
            assert!(
                parent_of_prefix || e.path.starts_with("opt/py/"),
                "{} is outside the prefix",
                e.path
            );
        }
    }
    assert!(only_files(&spool) <= 1);
}
