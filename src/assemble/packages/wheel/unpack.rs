//! One wheel → the files it installs: every archive member checked against `RECORD`, streamed
//! into the spool file (never held whole in memory), placed by its `.data/<key>/` scheme, with
//! `#!python` scripts pointed at the base's interpreter, launchers for its entry points, and
//! the dist-info files an installer writes (RECORD, INSTALLER, REQUESTED).

use super::format::{self, Row};
use super::{Error, Layout, Spool, MAX_METADATA};
use crate::lock::file::LockedWheel;
use crate::oci::layer::FileSource;
use sha2::{Digest as _, Sha256, Sha384, Sha512};
use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// A file the wheel installs: layer path → content and mode.
#[derive(Debug, Clone)]
pub struct Installed {
    pub source: FileSource,
    pub mode: u32,
    /// sha256 and size of what installs, for the new RECORD.
    pub sha256: [u8; 32],
    pub size: u64,
}

impl Installed {
    fn bytes(b: Vec<u8>, mode: u32) -> Installed {
        Installed {
            sha256: Sha256::digest(&b).into(),
            size: b.len() as u64,
            source: FileSource::Bytes(b),
            mode,
        }
    }
}

/// What one wheel writes, and its dist-info directory (layer path).
pub struct Unpacked {
    pub files: BTreeMap<String, Installed>,
    pub dist_info: String,
}

/// Normalised components of an archive member or RECORD path; `None` if it is absolute or
/// has a `..` (a wheel never needs one) or a NUL.
pub fn safe_components(name: &str) -> Option<Vec<&str>> {
    if name.starts_with('/') || name.contains('\0') || name.contains('\\') {
        return None;
    }
    let parts: Vec<&str> = name
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    if parts.is_empty() || parts.contains(&"..") {
        return None;
    }
    Some(parts)
}

enum Hasher {
    Sha256,
    Sha384(Sha384),
    Sha512(Sha512),
}

pub fn unpack(
    lw: &LockedWheel,
    path: &Path,
    layout: &Layout,
    spool: &mut Spool,
) -> Result<Unpacked, Error> {
    let wheel = lw.filename.as_str();
    let zerr = |e: zip::result::ZipError| Error::Zip {
        wheel: wheel.to_string(),
        detail: e.to_string(),
    };
    let file = File::open(path).map_err(|source| Error::Io {
        what: format!("opening {}", path.display()),
        source,
    })?;
    let mut zip = zip::ZipArchive::new(file).map_err(zerr)?;
    let limits = layout.limits;
    if zip.len() > limits.entries {
        return Err(Error::TooLarge {
            wheel: wheel.to_string(),
            detail: format!("{} members, more than {}", zip.len(), limits.entries),
        });
    }
    let mut names: Vec<String> = Vec::with_capacity(zip.len());
    for i in 0..zip.len() {
        match zip.name_for_index(i) {
            Some(Ok(n)) => names.push(n.into_owned()),
            Some(Err(e)) => return Err(zerr(e)),
            None => return Err(invalid_at(wheel, format!("member {i} has no name"))),
        }
    }
    let dist_info = find_dist_info(lw, &names)?;
    let data_dir = format!("{}.data", dist_info.trim_end_matches(".dist-info"));
    let dist_name = dist_info
        .split('-')
        .next()
        .unwrap_or(&dist_info)
        .to_string();

    let read_meta =
        |zip: &mut zip::ZipArchive<File>, name: &str| -> Result<Option<String>, Error> {
            let Ok(mut f) = zip.by_name(name) else {
                return Ok(None);
            };
            let mut buf = Vec::new();
            (&mut f)
                .take(MAX_METADATA + 1)
                .read_to_end(&mut buf)
                .map_err(|e| Error::Zip {
                    wheel: wheel.to_string(),
                    detail: format!("{name}: {e}"),
                })?;
            if buf.len() as u64 > MAX_METADATA {
                return Err(Error::TooLarge {
                    wheel: wheel.to_string(),
                    detail: format!("{name} is over {MAX_METADATA} bytes"),
                });
            }
            String::from_utf8(buf)
                .map(Some)
                .map_err(|_| Error::Invalid {
                    wheel: wheel.to_string(),
                    detail: format!("{name} is not UTF-8"),
                })
        };
    let invalid = |detail: String| Error::Invalid {
        wheel: wheel.to_string(),
        detail,
    };
    let wheel_meta = read_meta(&mut zip, &format!("{dist_info}/WHEEL"))?
        .ok_or_else(|| invalid(format!("it has no {dist_info}/WHEEL")))?;
    let version = format::header(&wheel_meta, "Wheel-Version")
        .ok_or_else(|| invalid("WHEEL has no Wheel-Version".into()))?;
    match version.split('.').next().map(str::parse::<u32>) {
        Some(Ok(1)) | Some(Ok(0)) => {}
        _ => {
            return Err(invalid(format!(
                "Wheel-Version {version} is newer than the 1.x this installer implements"
            )))
        }
    }
    // Root-Is-Purelib picks purelib or platlib for the root; the base has one site-packages
    // for both (conda's and a venv's posix_prefix scheme), so both land there.
    let record_name = format!("{dist_info}/RECORD");
    let record_text = read_meta(&mut zip, &record_name)?
        .ok_or_else(|| invalid(format!("it has no {record_name}")))?;
    let rows = format::parse_record(&record_text).map_err(|e| invalid(format!("RECORD: {e}")))?;
    let mut record: BTreeMap<String, Row> = BTreeMap::new();
    for row in rows {
        if let Some(parts) = safe_components(&row.path) {
            record.insert(parts.join("/"), row);
        }
    }
    let entry_points = match read_meta(&mut zip, &format!("{dist_info}/entry_points.txt"))? {
        Some(t) => format::entry_points(&t).map_err(invalid)?,
        None => Vec::new(),
    };

    let mut files: BTreeMap<String, Installed> = BTreeMap::new();
    let mut total: u64 = 0;
    for (i, name) in names.iter().enumerate() {
        let parts = safe_components(name).ok_or_else(|| Error::UnsafePath {
            wheel: wheel.to_string(),
            path: name.clone(),
        })?;
        let mut member = zip.by_index(i).map_err(zerr)?;
        if member.is_dir() {
            continue;
        }
        let key = parts.join("/");
        // Signatures sign the RECORD this installer rewrites; INSTALLER and REQUESTED are ours.
        let skip = [
            "RECORD",
            "RECORD.jws",
            "RECORD.p7s",
            "INSTALLER",
            "REQUESTED",
        ];
        if parts.len() == 2 && parts[0] == dist_info && skip.contains(&parts[1]) {
            continue;
        }
        let declared = member.size();
        total = total.saturating_add(declared);
        if declared > limits.file || total > limits.total {
            return Err(Error::TooLarge {
                wheel: wheel.to_string(),
                detail: format!(
                    "{name} unpacks to {declared} bytes (limits: {} per file, {} per wheel)",
                    limits.file, limits.total
                ),
            });
        }
        let row = record.get(&key).ok_or_else(|| Error::NotInRecord {
            wheel: wheel.to_string(),
            path: name.clone(),
        })?;
        let (algo, _) = row
            .hash
            .split_once('=')
            .ok_or_else(|| Error::HashMismatch {
                wheel: wheel.to_string(),
                path: name.clone(),
                detail: format!("RECORD gives no hash (`{}`)", row.hash),
            })?;
        let mut other = match algo {
            "sha256" => Hasher::Sha256,
            "sha384" => Hasher::Sha384(Sha384::new()),
            "sha512" => Hasher::Sha512(Sha512::new()),
            _ => {
                return Err(Error::HashMismatch {
                    wheel: wheel.to_string(),
                    path: name.clone(),
                    detail: format!("RECORD's hash algorithm `{algo}` is not sha256/384/512"),
                })
            }
        };
        let (dest, script) =
            layout
                .destination(&parts, &data_dir, &dist_name)
                .map_err(|detail| Error::Invalid {
                    wheel: wheel.to_string(),
                    detail: format!("{name}: {detail}"),
                })?;
        let exec = member.unix_mode().is_some_and(|m| m & 0o111 != 0);
        let mode = if exec || script { 0o755 } else { 0o644 };

        // Stream: the original bytes are hashed for RECORD; the spool gets what installs.
        let mut orig = Sha256::new();
        let mut rewritten = script.then(Sha256::new);
        let mut read: u64 = 0;
        let start = spool.offset;
        let mut buf = vec![0u8; 64 * 1024];
        let mut first = true;
        let limited = &mut (&mut member).take(declared + 1);
        loop {
            let n = if first && script {
                fill(limited, &mut buf)
            } else {
                limited.read(&mut buf)
            }
            .map_err(|e| Error::Zip {
                wheel: wheel.to_string(),
                detail: format!("{name}: {e}"),
            })?;
            if n == 0 {
                break;
            }
            read += n as u64;
            let chunk = &buf[..n];
            orig.update(chunk);
            match &mut other {
                Hasher::Sha256 => {}
                Hasher::Sha384(h) => h.update(chunk),
                Hasher::Sha512(h) => h.update(chunk),
            }
            let out = if first && script {
                rewrite_shebang(chunk, &layout.executable)
            } else {
                std::borrow::Cow::Borrowed(chunk)
            };
            if let Some(h) = &mut rewritten {
                h.update(&out);
            }
            spool.write(&out)?;
            first = false;
        }
        if read != declared {
            return Err(Error::TooLarge {
                wheel: wheel.to_string(),
                detail: format!(
                    "{name} holds more or fewer bytes than its header says ({declared})"
                ),
            });
        }
        let orig: [u8; 32] = orig.finalize().into();
        let got = match other {
            Hasher::Sha256 => format::record_hash("sha256", &orig),
            Hasher::Sha384(h) => format::record_hash("sha384", &h.finalize()),
            Hasher::Sha512(h) => format::record_hash("sha512", &h.finalize()),
        };
        if got != row.hash || (!row.size.is_empty() && row.size != read.to_string()) {
            return Err(Error::HashMismatch {
                wheel: wheel.to_string(),
                path: name.clone(),
                detail: format!(
                    "RECORD says {},{} but the file is {got},{read}",
                    row.hash, row.size
                ),
            });
        }
        let installed = Installed {
            source: FileSource::Range {
                file: spool.path.clone(),
                offset: start,
                len: spool.offset - start,
            },
            mode,
            sha256: rewritten.map_or(orig, |h| h.finalize().into()),
            size: spool.offset - start,
        };
        if files.insert(dest.clone(), installed).is_some() {
            return Err(Error::Conflict {
                path: dest,
                first: wheel.to_string(),
                second: wheel.to_string(),
            });
        }
    }

    let di = format!("{}/{dist_info}", layout.site);
    for ep in &entry_points {
        let dest = layout.script_path(&ep.name).ok_or_else(|| Error::Invalid {
            wheel: wheel.to_string(),
            detail: format!("entry point name `{}` is not a file name", ep.name),
        })?;
        let text = format::launcher(ep, &layout.executable).into_bytes();
        let f = Installed::bytes(text, 0o755);
        if files.insert(dest.clone(), f).is_some() {
            return Err(Error::Conflict {
                path: dest,
                first: wheel.to_string(),
                second: format!("{wheel} (entry point {})", ep.name),
            });
        }
    }
    let small = |b: &[u8]| Installed::bytes(b.to_vec(), 0o644);
    files.insert(format!("{di}/INSTALLER"), small(b"envc\n"));
    if lw.requested {
        files.insert(format!("{di}/REQUESTED"), small(b""));
    }
    let record_path = format!("{di}/RECORD");
    let mut rows = Vec::with_capacity(files.len() + 1);
    for (p, f) in &files {
        rows.push(Row {
            path: layout.relative_to_site(p),
            hash: format::record_hash("sha256", &f.sha256),
            size: f.size.to_string(),
        });
    }
    rows.push(Row {
        path: layout.relative_to_site(&record_path),
        hash: String::new(),
        size: String::new(),
    });
    rows.sort_by(|a, b| a.path.cmp(&b.path));
    files.insert(record_path, small(format::write_record(&rows).as_bytes()));
    Ok(Unpacked {
        files,
        dist_info: di,
    })
}

fn invalid_at(wheel: &str, detail: String) -> Error {
    Error::Invalid {
        wheel: wheel.to_string(),
        detail,
    }
}

/// Reads until `buf` is full or the reader ends (a script's first line must be whole).
fn fill(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// A first line starting `#!python` (`#!pythonw` too) → the base interpreter's shebang.
fn rewrite_shebang<'a>(chunk: &'a [u8], executable: &str) -> std::borrow::Cow<'a, [u8]> {
    if !chunk.starts_with(b"#!python") {
        return std::borrow::Cow::Borrowed(chunk);
    }
    let end = chunk
        .iter()
        .position(|b| *b == b'\n')
        .unwrap_or(chunk.len());
    let mut out = format::shebang(executable).into_bytes();
    out.push(b'\n');
    out.extend_from_slice(chunk.get(end + 1..).unwrap_or(&[]));
    std::borrow::Cow::Owned(out)
}

/// The wheel's `.dist-info` directory: the top-level one whose name is the locked project's.
fn find_dist_info(lw: &LockedWheel, names: &[String]) -> Result<String, Error> {
    let mut found: Vec<&str> = names
        .iter()
        .filter_map(|n| n.split('/').next())
        .filter(|d| d.ends_with(".dist-info"))
        .collect();
    found.sort_unstable();
    found.dedup();
    let want = crate::lock::pip::normalize(&lw.name);
    let matching: Vec<&str> = found
        .iter()
        .copied()
        .filter(|d| {
            let stem = d.trim_end_matches(".dist-info");
            let name = stem.rsplit_once('-').map_or(stem, |(n, _)| n);
            crate::lock::pip::normalize(name) == want
        })
        .collect();
    match matching.as_slice() {
        [one] => Ok(one.to_string()),
        _ => Err(Error::Invalid {
            wheel: lw.filename.clone(),
            detail: format!(
                "expected one `{}-<version>.dist-info` directory, found {:?}",
                lw.name, found
            ),
        }),
    }
}
