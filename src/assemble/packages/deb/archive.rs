//! Reading a .deb: the `ar` container, its two tars in whichever compression the deb uses,
//! the control stanza's identity fields, and the payload's entries with cleaned paths. File
//! contents are copied once into a spool file and referred to by range, so a deb of any size
//! costs memory only for its entry list; each file's md5 is taken on the way (dpkg's
//! `md5sums` and `Conffiles:` need it).

use super::{Deb, Error};
use md5::{Digest as _, Md5};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

/// control.tar, decompressed: control, scripts and md5sums are small; 64 MiB is far above any
/// real package and stops a decompression bomb before it fills memory.
pub(super) const MAX_CONTROL: u64 = 64 << 20;
/// data.tar, decompressed, spooled to disk: larger than any Debian/Ubuntu package (the biggest
/// are a few GiB installed).
pub(super) const MAX_DATA: u64 = 32 << 30;
/// Entries in data.tar: the largest real packages ship tens of thousands of paths.
const MAX_ENTRIES: usize = 2_000_000;

/// A member of control.tar other than `control` (`md5sums`, `conffiles`, `postinst`, …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControlMember {
    pub bytes: Vec<u8>,
    pub mode: u32,
}

/// One entry of data.tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataEntry {
    /// Relative, as the deb names it, cleaned (`usr/bin/jq`); empty for the root `./`.
    pub path: String,
    pub kind: DataKind,
    /// Permission bits as the tar header has them (setuid/setgid/sticky kept).
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataKind {
    Dir,
    /// `len` bytes at `offset` of the deb's spool file, with their md5.
    File {
        offset: u64,
        len: u64,
        md5: [u8; 16],
    },
    Symlink(String),
    /// A hard link to another cleaned data.tar path.
    HardLink(String),
    CharDevice {
        major: u32,
        minor: u32,
    },
    BlockDevice {
        major: u32,
        minor: u32,
    },
    Fifo,
}

pub(super) fn read(path: &Path, spool_dir: &Path) -> Result<Deb, Error> {
    let io_err = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io_err)?;
    let mut ar = ar::Archive::new(BufReader::new(file));
    let mut seen_binary = false;
    let mut control: Option<(String, BTreeMap<String, ControlMember>)> = None;
    let mut data: Option<(Vec<DataEntry>, PathBuf)> = None;
    while let Some(member) = ar.next_entry() {
        let member = member.map_err(|e| Error::NotAr {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let id = String::from_utf8_lossy(member.header().identifier())
            .trim_end_matches('/')
            .to_string();
        if !seen_binary {
            // deb(5): the first member is debian-binary, "2.0\n".
            if id != "debian-binary" {
                return Err(member_error(
                    path,
                    format!(
                        "the first ar member is `{id}`, not `debian-binary` (not a binary package)"
                    ),
                ));
            }
            let mut text = String::new();
            member
                .take(64)
                .read_to_string(&mut text)
                .map_err(|e| member_error(path, format!("debian-binary: {e}")))?;
            if !text.starts_with("2.") {
                return Err(member_error(
                    path,
                    format!(
                        "debian-binary says format `{}`, envc reads format 2.x",
                        text.trim()
                    ),
                ));
            }
            seen_binary = true;
        } else if let Some(comp) = id.strip_prefix("control.tar") {
            let reader = decompress(path, &id, comp, member)?;
            control = Some(read_control(path, &id, reader)?);
        } else if let Some(comp) = id.strip_prefix("data.tar") {
            let Some((stanza, _)) = &control else {
                return Err(member_error(
                    path,
                    "data.tar comes before control.tar (dpkg-deb puts control first)".into(),
                ));
            };
            let reader = decompress(path, &id, comp, member)?;
            let name = super::field(stanza, "Package").unwrap_or_default();
            data = Some(read_data(path, &id, reader, spool_dir, &name)?);
        }
        // Other members (`_gpgorigin` signatures, dpkg-sig's `_gpgbuilder`) are ignored, as dpkg does.
    }
    if !seen_binary {
        return Err(Error::NotAr {
            path: path.to_path_buf(),
            reason: "empty archive".into(),
        });
    }
    let Some((control, control_files)) = control else {
        return Err(member_error(path, "no control.tar member".into()));
    };
    let Some((data, spool)) = data else {
        return Err(member_error(path, "no data.tar member".into()));
    };
    let need = |name: &str| {
        super::field(&control, name).ok_or_else(|| Error::Control {
            path: path.to_path_buf(),
            reason: format!("the control file has no `{name}` field"),
        })
    };
    let name = need("Package")?;
    let version = need("Version")?;
    let arch = need("Architecture")?;
    let multi_arch_same = super::field(&control, "Multi-Arch").as_deref() == Some("same");
    Ok(Deb {
        name,
        version,
        arch,
        multi_arch_same,
        file: path.to_path_buf(),
        control,
        control_files,
        data,
        spool,
    })
}

fn member_error(path: &Path, what: String) -> Error {
    Error::Member {
        path: path.to_path_buf(),
        what,
    }
}

fn decompress<'a>(
    path: &Path,
    member: &str,
    suffix: &str,
    reader: impl Read + 'a,
) -> Result<Box<dyn Read + 'a>, Error> {
    Ok(match suffix {
        "" => Box::new(reader),
        ".gz" => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        ".xz" => Box::new(lzma_rust2::XzReader::new(reader, true)),
        ".zst" => Box::new(
            zstd::stream::read::Decoder::new(reader)
                .map_err(|e| member_error(path, format!("{member}: starting zstd: {e}")))?,
        ),
        ".bz2" | ".lzma" => {
            return Err(Error::Unsupported {
                path: path.to_path_buf(),
                member: member.to_string(),
                compression: if suffix == ".bz2" { "bzip2" } else { "lzma" },
            })
        }
        _ => return Err(member_error(path, format!("unknown member `{member}`"))),
    })
}

/// Reads at most `limit` bytes, then fails (instead of silently truncating like `take`).
struct Capped<R> {
    inner: R,
    left: u64,
    what: String,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let want = buf
            .len()
            .min(usize::try_from(self.left + 1).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n as u64 > self.left {
            return Err(io::Error::other(format!("TOO_LARGE {}", self.what)));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn capped<R: Read>(inner: R, limit: u64, what: &str) -> Capped<R> {
    Capped {
        inner,
        left: limit,
        what: what.to_string(),
    }
}

/// Maps a tar or I/O error of a member to `TooLarge` when the cap fired, else `Member`.
fn tar_error(path: &Path, member: &str, limit: u64, e: io::Error) -> Error {
    if e.to_string().contains("TOO_LARGE") {
        Error::TooLarge {
            path: path.to_path_buf(),
            member: member.to_string(),
            limit,
        }
    } else {
        member_error(path, format!("{member}: {e}"))
    }
}

fn read_control(
    path: &Path,
    member: &str,
    reader: Box<dyn Read + '_>,
) -> Result<(String, BTreeMap<String, ControlMember>), Error> {
    let err = |e| tar_error(path, member, MAX_CONTROL, e);
    let mut tar = tar::Archive::new(capped(reader, MAX_CONTROL, member));
    let mut stanza = None;
    let mut files = BTreeMap::new();
    for entry in tar.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let name = entry.path().map_err(err)?.to_string_lossy().to_string();
        let name = name.trim_start_matches("./").to_string();
        let mode = entry.header().mode().map_err(err)? & 0o7777;
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(err)?;
        if name == "control" {
            let text = String::from_utf8(bytes).map_err(|_| Error::Control {
                path: path.to_path_buf(),
                reason: "the control file is not UTF-8".into(),
            })?;
            stanza = Some(text.trim_end().to_string());
        } else if !name.contains('/') && !name.is_empty() {
            files.insert(name, ControlMember { bytes, mode });
        }
    }
    let stanza =
        stanza.ok_or_else(|| member_error(path, format!("{member} holds no `control` file")))?;
    Ok((stanza, files))
}

/// Cleans a data.tar path: `./usr/bin/jq` → `usr/bin/jq`, `./` → ``. Refuses absolute
/// paths, `..` and names the layer writer would take for whiteouts.
pub(super) fn clean_path(raw: &str) -> Result<String, String> {
    if raw.starts_with('/') {
        return Err("absolute path".into());
    }
    let mut parts = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("`..` component".into()),
            p if p.starts_with(".wh.") => return Err("`.wh.` name (an OCI whiteout marker)".into()),
            p => parts.push(p),
        }
    }
    Ok(parts.join("/"))
}

fn read_data(
    path: &Path,
    member: &str,
    reader: Box<dyn Read + '_>,
    spool_dir: &Path,
    package: &str,
) -> Result<(Vec<DataEntry>, PathBuf), Error> {
    let err = |e| tar_error(path, member, MAX_DATA, e);
    let prefix: String = package
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let spool_io = |source| Error::Io {
        path: spool_dir.to_path_buf(),
        source,
    };
    let (spool_file, spool) = tempfile::Builder::new()
        .prefix(&format!("{prefix}."))
        .suffix(".spool")
        .tempfile_in(spool_dir)
        .map_err(spool_io)?
        .keep()
        .map_err(|e| spool_io(e.error))?;
    let mut out = io::BufWriter::new(spool_file);
    let mut offset = 0u64;
    let mut entries = Vec::new();
    let mut tar = tar::Archive::new(capped(reader, MAX_DATA, member));
    let unsafe_path = |entry: &str, reason: String| Error::UnsafePath {
        path: path.to_path_buf(),
        entry: entry.to_string(),
        reason,
    };
    let mut buf = vec![0u8; 1 << 16];
    for entry in tar.entries().map_err(err)? {
        let mut entry = entry.map_err(err)?;
        if entries.len() >= MAX_ENTRIES {
            return Err(member_error(
                path,
                format!("{member} has more than {MAX_ENTRIES} entries"),
            ));
        }
        let raw = entry.path().map_err(err)?.to_string_lossy().to_string();
        if std::str::from_utf8(&entry.path_bytes()).is_err() {
            return Err(unsafe_path(&raw, "the name is not UTF-8".into()));
        }
        let clean = clean_path(&raw).map_err(|r| unsafe_path(&raw, r))?;
        let header = entry.header();
        let mode = header.mode().map_err(err)? & 0o7777;
        let id = |v: io::Result<u64>| -> Result<u32, Error> {
            let v = v.map_err(err)?;
            u32::try_from(v)
                .map_err(|_| unsafe_path(&raw, format!("owner id {v} does not fit 32 bits")))
        };
        let uid = id(header.uid())?;
        let gid = id(header.gid())?;
        let link = || -> Result<String, Error> {
            match entry.link_name().map_err(err)? {
                Some(l) => l
                    .to_str()
                    .map(str::to_string)
                    .ok_or_else(|| unsafe_path(&raw, "the link target is not UTF-8".into())),
                None => Err(unsafe_path(&raw, "link without a target".into())),
            }
        };
        let dev = |v: io::Result<Option<u32>>| v.map_err(err).map(|v| v.unwrap_or(0));
        let kind = match header.entry_type() {
            tar::EntryType::Directory => DataKind::Dir,
            tar::EntryType::Symlink => {
                let target = link()?;
                if target.is_empty() {
                    return Err(unsafe_path(&raw, "symlink with an empty target".into()));
                }
                DataKind::Symlink(target)
            }
            tar::EntryType::Link => {
                let target = link()?;
                let target = clean_path(&target)
                    .map_err(|r| unsafe_path(&target, format!("hard-link target: {r}")))?;
                DataKind::HardLink(target)
            }
            tar::EntryType::Char => DataKind::CharDevice {
                major: dev(header.device_major())?,
                minor: dev(header.device_minor())?,
            },
            tar::EntryType::Block => DataKind::BlockDevice {
                major: dev(header.device_major())?,
                minor: dev(header.device_minor())?,
            },
            tar::EntryType::Fifo => DataKind::Fifo,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut md5 = Md5::new();
                let start = offset;
                loop {
                    let n = entry.read(&mut buf).map_err(err)?;
                    if n == 0 {
                        break;
                    }
                    md5.update(&buf[..n]);
                    out.write_all(&buf[..n]).map_err(spool_io)?;
                    offset += n as u64;
                }
                DataKind::File {
                    offset: start,
                    len: offset - start,
                    md5: md5.finalize().into(),
                }
            }
            other => {
                return Err(unsafe_path(
                    &raw,
                    format!("unsupported tar entry type {:?}", other),
                ));
            }
        };
        if clean.is_empty() && kind != DataKind::Dir {
            return Err(unsafe_path(&raw, "the root is not a directory".into()));
        }
        entries.push(DataEntry {
            path: clean,
            kind,
            mode,
            uid,
            gid,
        });
    }
    out.flush().map_err(spool_io)?;
    Ok((entries, spool))
}
