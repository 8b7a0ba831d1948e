//! Builds .debs for tests: `ar` + `tar` + gzip/xz/zstd, as dpkg-deb lays them out.

use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Comp {
    None,
    Gz,
    Xz,
    Zst,
    Bz2,
}

impl Comp {
    fn suffix(self) -> &'static str {
        match self {
            Comp::None => "",
            Comp::Gz => ".gz",
            Comp::Xz => ".xz",
            Comp::Zst => ".zst",
            Comp::Bz2 => ".bz2",
        }
    }

    fn compress(self, raw: Vec<u8>) -> Vec<u8> {
        match self {
            Comp::None | Comp::Bz2 => raw,
            Comp::Gz => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
                e.write_all(&raw).unwrap();
                e.finish().unwrap()
            }
            Comp::Xz => {
                let mut e =
                    lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(1))
                        .unwrap();
                e.write_all(&raw).unwrap();
                e.finish().unwrap()
            }
            Comp::Zst => zstd::encode_all(&raw[..], 1).unwrap(),
        }
    }
}

/// One data.tar entry: path as written (`./usr/bin/x`), and what it is.
pub(crate) enum T {
    Dir(&'static str),
    File(&'static str, &'static [u8], u32),
    Link(&'static str, &'static str),
    Hard(&'static str, &'static str),
}

pub(crate) fn tar_of(entries: &[T]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        match e {
            T::Dir(p) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_data(&mut h, p, &[][..]).unwrap();
            }
            T::File(p, bytes, mode) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_size(bytes.len() as u64);
                b.append_data(&mut h, p, *bytes).unwrap();
            }
            T::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
            T::Hard(p, target) => {
                h.set_entry_type(tar::EntryType::Link);
                h.set_mode(0o755);
                h.set_size(0);
                b.append_link(&mut h, p, target).unwrap();
            }
        }
    }
    b.into_inner().unwrap()
}

/// A deb: `control` text, extra control.tar members (name, bytes), data entries.
pub(crate) struct Spec<'a> {
    pub control: &'a str,
    pub extra: Vec<(&'a str, &'a [u8])>,
    pub data: Vec<T>,
    pub comp: Comp,
}

pub(crate) fn control(name: &str, version: &str, arch: &str, more: &str) -> String {
    format!("Package: {name}\nVersion: {version}\nArchitecture: {arch}\nMaintainer: T <t@example.org>\n{more}Description: test package\n a test\n")
}

pub(crate) fn build(dir: &Path, file: &str, spec: &Spec<'_>) -> PathBuf {
    let mut ctl = tar::Builder::new(Vec::new());
    let mut members: Vec<(&str, &[u8])> = vec![("./control", spec.control.as_bytes())];
    let extra: Vec<(String, &[u8])> = spec
        .extra
        .iter()
        .map(|(n, b)| (format!("./{n}"), *b))
        .collect();
    members.extend(extra.iter().map(|(n, b)| (n.as_str(), *b)));
    for (name, bytes) in members {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(bytes.len() as u64);
        ctl.append_data(&mut h, name, bytes).unwrap();
    }
    let ctl = spec.comp.compress(ctl.into_inner().unwrap());
    let data = spec.comp.compress(tar_of(&spec.data));
    raw(
        dir,
        file,
        &[
            ("debian-binary", b"2.0\n"),
            (&format!("control.tar{}", spec.comp.suffix()), &ctl),
            (&format!("data.tar{}", spec.comp.suffix()), &data),
        ],
    )
}

/// An ar archive of the given members, as is.
pub(crate) fn raw(dir: &Path, file: &str, members: &[(&str, &[u8])]) -> PathBuf {
    let path = dir.join(file);
    let mut ar = ar::Builder::new(std::fs::File::create(&path).unwrap());
    for (name, bytes) in members {
        ar.append(
            &ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64),
            *bytes,
        )
        .unwrap();
    }
    path
}
