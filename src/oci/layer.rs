//! The layer writer: deterministic tar layers from a list of entries, streamed to any writer
//! with the diff_id (sha256 of the tar) and the blob digest (sha256 of the bytes written)
//! computed in the same pass, uncompressed, gzip-compressed (`super::gzip`, parallel and
//! deterministic for a fixed block size) or zstd-compressed (`super::zstd`, libzstd's worker
//! threads, deterministic for any number of them). Also `entries_from_dir`, which turns a directory tree
//! into entries without following symlinks.
//!
//! The tar rules (reproducible-oci.md, "Tar entries"):
//! - Entries are sorted by the bytes of their full path (as written: a whiteout sorts as
//!   `.wh.NAME`), so parents come before children. Every parent directory is written
//!   explicitly; a parent the caller did not give is added as a directory with mode 0755,
//!   uid 0, gid 0 (give an explicit `EntryKind::Dir` to choose another owner or mode).
//!   [`write_exact`] (for rewriting a layer another tool built, `super::normalise`) adds no
//!   parent: an added `home/ray/` owned by root would override a lower layer's owner.
//! - Every header is a GNU header (`tar::Header::new_gnu`) that this module fills field by
//!   field: GNU because its numeric fields fall back to base-256 (files over 8 GiB, large
//!   uids) and its long-name extension (`././@LongLink`, types `L` and `K`, written here
//!   exactly as GNU tar and the `tar` crate write it) covers paths and link targets over 100
//!   bytes, so one format covers every entry. mtime is `Options::mtime`; uid/gid from the
//!   entry; uname/gname empty; devmajor/devminor 0 except for devices; atime/ctime zero;
//!   mode = file type bits (`0o040000`, `0o100000` also for hard links, `0o120000`,
//!   `0o020000`, `0o060000`, `0o010000`) + the entry's permission bits; directory names end
//!   in `/`.
//! - The only PAX record ever written: an entry with extended attributes (`Entry::xattrs`,
//!   e.g. `security.capability` on `ping`) is preceded by one PAX extended header
//!   (`././@PaxHeader`, fixed fields) of `SCHILY.xattr.NAME` records sorted by name, as GNU
//!   tar writes them. An entry without any has none.
//! - Whiteouts are empty regular files `.wh.NAME` in the parent; an opaque directory is the
//!   directory itself plus an empty `DIR/.wh..wh..opq`. Markers take the entry's mode, uid
//!   and gid. A hard link (`EntryKind::HardLink`) names a regular file of the layer that sorts
//!   before it (or, in `write_exact`, a path of a lower layer); `entries_from_dir` writes each
//!   name as a file.
//! - The archive ends with two zero blocks (no padding to a 10 KiB record as GNU tar does).

use super::gzip;
use super::{MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD};
pub use crate::oci::Compression;
use crate::types::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

mod emit;
use emit::{emit, Counting, Hashing, Offload, COPY_BUF};

/// One path in a layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Relative, `/`-separated, no leading `/`, no `.`/`..` or empty components, no trailing
    /// `/`, no component starting with `.wh.` (whiteouts are `EntryKind::Whiteout`).
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits only (at most `0o7777`), e.g. `0o755`.
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    /// Extended attributes (name → value), empty for nearly every entry; written as one PAX
    /// header of `SCHILY.xattr.*` records (see the module documentation).
    pub xattrs: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryKind {
    Dir,
    File(FileSource),
    /// A symlink to this target (any non-empty string without NUL; never followed).
    Symlink(String),
    /// Deletes `path` of a lower layer: writes `.wh.<name>` in the parent.
    Whiteout,
    /// A directory that hides everything below it in lower layers: writes the directory and
    /// `<dir>/.wh..wh..opq`.
    OpaqueDir,
    /// Only the opaque marker `<path>/.wh..wh..opq` (the directory entry is given separately,
    /// or, in `write_exact`, not at all).
    OpaqueMarker,
    /// A hard link to the layer path `target` (see the module documentation).
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    Bytes(Vec<u8>),
    /// Read at write time, streamed in bounded chunks; must be a regular file then.
    Path(PathBuf),
    /// `len` bytes of `file` from `offset` (a spool file holding many contents), read at
    /// write time; consecutive ranges of one file share one handle.
    Range {
        file: PathBuf,
        offset: u64,
        len: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Every entry's mtime: SOURCE_DATE_EPOCH or 0, decided by the caller.
    pub mtime: u64,
    pub compression: Compression,
    /// zlib level 0–9 for gzip (6 is gzip's default); part of the bytes.
    pub gzip_level: u32,
    /// gzip and zstd worker threads; 0 = `available_parallelism`. Never changes the bytes.
    pub threads: usize,
    /// The parallel-gzip block size; part of determinism (default 1 MiB).
    pub block_size: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            mtime: 0,
            compression: Compression::Gzip,
            gzip_level: 6,
            threads: 0,
            block_size: gzip::DEFAULT_BLOCK_SIZE,
        }
    }
}

/// What `write` wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
    /// sha256 of the bytes written to `out` (== `diff_id` when uncompressed).
    pub digest: Digest,
    /// Bytes written to `out`.
    pub size: u64,
    pub media_type: &'static str,
    pub uncompressed_size: u64,
    /// Tar entries written, added parents and whiteout markers included (GNU long-name
    /// extension headers not counted).
    pub entries: usize,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{}: {source}", .path.as_ref().map_or("writing the layer".to_string(), |p| p.display().to_string()))]
    Io {
        path: Option<PathBuf>,
        #[source]
        source: io::Error,
    },
    #[error("invalid layer path `{path}`: {reason}")]
    InvalidPath { path: String, reason: String },
    #[error("`{path}` appears more than once in the layer")]
    Duplicate { path: String },
    #[error("`{}` changed while it was written into the layer (its size differs from its stat)", .path.display())]
    FileChanged { path: PathBuf },
    #[error("`{}` is not a regular file", .path.display())]
    NotRegularFile { path: PathBuf },
    #[error("`{path}`: mode {mode:#o} has bits outside 0o7777 (give permission bits only)")]
    InvalidMode { path: String, mode: u32 },
    #[error("invalid layer options: {reason}")]
    InvalidOptions { reason: String },
}

impl From<io::Error> for Error {
    /// An error of the output writer (no path).
    fn from(source: io::Error) -> Error {
        Error::Io { path: None, source }
    }
}

fn io_at(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: Some(path.to_path_buf()),
        source,
    }
}

fn invalid(path: &str, reason: impl Into<String>) -> Error {
    Error::InvalidPath {
        path: path.to_string(),
        reason: reason.into(),
    }
}

/// Checks the path rules of `Entry::path`.
pub fn validate_path(path: &str) -> Result<(), Error> {
    if path.is_empty() {
        return Err(invalid(path, "empty"));
    }
    if path.starts_with('/') {
        return Err(invalid(
            path,
            "absolute (layer paths are relative to the root)",
        ));
    }
    if path.ends_with('/') {
        return Err(invalid(path, "trailing `/`"));
    }
    if path.contains('\0') {
        return Err(invalid(path, "contains a NUL byte"));
    }
    for component in path.split('/') {
        match component {
            "" => return Err(invalid(path, "empty component (`//`)")),
            "." | ".." => return Err(invalid(path, format!("`{component}` component"))),
            c if c.starts_with(".wh.") => return Err(invalid(
                path,
                "`.wh.` names are reserved for whiteouts (use EntryKind::Whiteout or OpaqueDir)",
            )),
            _ => {}
        }
    }
    Ok(())
}

/// One tar entry to write.
#[derive(Debug)]
struct Item {
    /// Full path as written, without the trailing `/` of directories.
    path: String,
    kind: ItemKind,
    mode: u32,
    uid: u32,
    gid: u32,
    xattrs: BTreeMap<String, Vec<u8>>,
}

#[derive(Debug)]
enum ItemKind {
    Dir,
    File(FileSource),
    Symlink(String),
    /// An empty regular file: a whiteout or opaque marker.
    Marker,
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

fn split_parent(path: &str) -> (Option<&str>, &str) {
    match path.rfind('/') {
        Some(i) => (Some(&path[..i]), &path[i + 1..]),
        None => (None, path),
    }
}

/// Whether `plan` adds the parent directories the entries lack.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Parents {
    Add,
    AsGiven,
}

/// Validates, expands whiteouts, adds missing parents (with `Parents::Add`) and sorts.
fn plan(entries: Vec<Entry>, parents: Parents) -> Result<Vec<Item>, Error> {
    let mut items = Vec::with_capacity(entries.len());
    let mut whiteouts = Vec::new();
    let mut written = BTreeSet::new();
    for e in entries {
        validate_path(&e.path)?;
        if e.mode > 0o7777 {
            return Err(Error::InvalidMode {
                path: e.path,
                mode: e.mode,
            });
        }
        let (mode, uid, gid) = (e.mode, e.uid, e.gid);
        let mut xattrs = Some(e.xattrs);
        // The attributes go with the entry's own path (not with a marker of an opaque dir).
        let mut item = |path: String, kind, own: bool| Item {
            path,
            kind,
            mode,
            uid,
            gid,
            xattrs: if own { xattrs.take() } else { None }.unwrap_or_default(),
        };
        let kind = match e.kind {
            EntryKind::Whiteout => {
                let marker = match split_parent(&e.path) {
                    (Some(parent), name) => format!("{parent}/.wh.{name}"),
                    (None, name) => format!(".wh.{name}"),
                };
                items.push(item(marker, ItemKind::Marker, true));
                whiteouts.push(e.path);
                continue;
            }
            EntryKind::OpaqueDir => {
                written.insert(e.path.clone());
                let marker = format!("{}/.wh..wh..opq", e.path);
                items.push(item(marker, ItemKind::Marker, false));
                items.push(item(e.path, ItemKind::Dir, true));
                continue;
            }
            EntryKind::OpaqueMarker => {
                let marker = format!("{}/.wh..wh..opq", e.path);
                items.push(item(marker, ItemKind::Marker, true));
                continue;
            }
            EntryKind::Dir => ItemKind::Dir,
            EntryKind::File(source) => ItemKind::File(source),
            EntryKind::Symlink(target) | EntryKind::HardLink(target)
                if target.is_empty() || target.contains('\0') =>
            {
                return Err(invalid(&e.path, "link target is empty or contains NUL"));
            }
            EntryKind::Symlink(target) => ItemKind::Symlink(target),
            EntryKind::HardLink(target) => {
                validate_path(&target).map_err(|_| {
                    invalid(&e.path, format!("hard link to an invalid path `{target}`"))
                })?;
                ItemKind::HardLink(target)
            }
            EntryKind::CharDevice { major, minor } => ItemKind::CharDevice { major, minor },
            EntryKind::BlockDevice { major, minor } => ItemKind::BlockDevice { major, minor },
            EntryKind::Fifo => ItemKind::Fifo,
        };
        written.insert(e.path.clone());
        items.push(item(e.path, kind, true));
    }
    // A whiteout deletes a lower path; this layer must not also write it or below it.
    for w in &whiteouts {
        let below = format!("{w}/");
        let conflict = written.contains(w)
            || written
                .range(below.clone()..)
                .next()
                .is_some_and(|p| p.starts_with(&below));
        if conflict {
            return Err(invalid(
                w,
                "a whiteout of a path this layer also writes (use EntryKind::OpaqueDir)",
            ));
        }
    }
    // Missing parents, and parents that are not directories.
    let kinds: BTreeMap<&str, bool> = items
        .iter()
        .map(|i| (i.path.as_str(), matches!(i.kind, ItemKind::Dir)))
        .collect();
    let mut missing = BTreeSet::new();
    for i in &items {
        let mut p = i.path.as_str();
        while let (Some(parent), _) = split_parent(p) {
            match kinds.get(parent) {
                Some(true) => break, // its own parents are checked as an item
                Some(false) => {
                    return Err(invalid(
                        &i.path,
                        format!("its parent `{parent}` is not a directory in this layer"),
                    ))
                }
                None => {
                    if !missing.insert(parent.to_string()) {
                        break;
                    }
                }
            }
            p = parent;
        }
    }
    if parents == Parents::Add {
        items.extend(missing.into_iter().map(|path| Item {
            path,
            kind: ItemKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            xattrs: BTreeMap::new(),
        }));
    }
    items.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
    if let Some(w) = items.windows(2).find(|w| w[0].path == w[1].path) {
        return Err(Error::Duplicate {
            path: w[0].path.clone(),
        });
    }
    // A hard link names a regular file written before it (extractors create the target
    // first), or in an exact rewrite a path of a lower layer.
    for (i, item) in items.iter().enumerate() {
        let ItemKind::HardLink(target) = &item.kind else {
            continue;
        };
        match items.binary_search_by(|x| x.path.as_bytes().cmp(target.as_bytes())) {
            Ok(t) if t < i && matches!(items[t].kind, ItemKind::File(_)) => {}
            Ok(_) => {
                return Err(invalid(
                    &item.path,
                    format!(
                        "hard link to `{target}`, which is not a regular file sorted before it"
                    ),
                ))
            }
            Err(_) if parents == Parents::AsGiven => {}
            Err(_) => {
                return Err(invalid(
                    &item.path,
                    format!("hard link to `{target}`, which is not in this layer"),
                ))
            }
        }
    }
    Ok(items)
}

/// Writes the uncompressed layer (the same bytes [`write`] writes with `Compression::None`)
/// without hashing it, for a destination that hashes what it is given — a store blob, whose
/// digest is then the diff_id — so a large layer is hashed once, not twice. Returns the size
/// and the number of entries.
pub fn write_uncompressed_unhashed(
    entries: Vec<Entry>,
    mtime: u64,
    mut out: impl Write,
) -> Result<(u64, usize), Error> {
    let items = plan(entries, Parents::Add)?;
    let mut counted = Counting {
        out: &mut out,
        n: 0,
    };
    emit(&items, mtime, &mut counted)?;
    let n = counted.n;
    out.flush()?;
    Ok((n, items.len()))
}

/// Writes the layer to `out`, streaming: memory does not grow with the layer (file contents
/// are copied in 1 MiB chunks; gzip keeps at most `2 × threads` blocks in flight). Entries
/// are validated, whiteouts expanded, missing parent directories added (0755, uid 0, gid 0)
/// and everything sorted by the bytes of the full path (see the module documentation for the
/// header rules). `out` is flushed at the end but not synced: that is the caller's business.
pub fn write(entries: Vec<Entry>, options: &Options, out: impl Write) -> Result<Written, Error> {
    write_items(plan(entries, Parents::Add)?, options, out)
}

/// [`write`] for rewriting a layer another tool built: exactly the entries given, sorted, with
/// no parent directory added (a parent missing here is a lower layer's, and an added one would
/// override its owner and mode) and hard links allowed to name paths of lower layers. Parents
/// given must still be directories.
pub fn write_exact(
    entries: Vec<Entry>,
    options: &Options,
    out: impl Write,
) -> Result<Written, Error> {
    write_items(plan(entries, Parents::AsGiven)?, options, out)
}

fn write_items(items: Vec<Item>, options: &Options, mut out: impl Write) -> Result<Written, Error> {
    let count = items.len();
    let mut diff = None;
    match options.compression {
        Compression::None => {
            let size = std::thread::scope(|s| -> Result<u64, Error> {
                let (to_hash, hash_rx) = mpsc::sync_channel::<Vec<u8>>(4);
                let (back_tx, back) = mpsc::channel();
                let hasher = s.spawn(move || {
                    let mut sha = Sha256::new();
                    for mut chunk in hash_rx {
                        sha.update(&chunk);
                        chunk.clear();
                        let _ = back_tx.send(chunk);
                    }
                    sha
                });
                let mut w = Offload {
                    out: &mut out,
                    buf: Vec::with_capacity(COPY_BUF),
                    to_hash: Some(to_hash),
                    back,
                    n: 0,
                };
                let result = emit(&items, options.mtime, &mut w).and_then(|()| {
                    w.ship()?;
                    Ok(w.n)
                });
                w.to_hash = None; // ends the hasher
                let sha = hasher.join().expect("the hashing thread does not panic");
                let size = result?;
                diff = Some(Digest::from_bytes(sha.finalize().into()));
                Ok(size)
            })?;
            out.flush()?;
            let diff_id = diff.expect("set on success");
            Ok(Written {
                diff_id,
                digest: diff_id,
                size,
                media_type: MEDIA_TYPE_LAYER,
                uncompressed_size: size,
                entries: count,
            })
        }
        Compression::Zstd => {
            let threads = match options.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let mut hashed_out = Hashing::new(&mut out);
            let mut encoder = super::zstd::encoder(&mut hashed_out, threads)?;
            let mut w = Hashing::new(&mut encoder);
            emit(&items, options.mtime, &mut w)?;
            let (diff_id, uncompressed_size, _) = w.finish();
            encoder.finish()?;
            let (digest, size, _) = hashed_out.finish();
            out.flush()?;
            Ok(Written {
                diff_id,
                digest,
                size,
                media_type: MEDIA_TYPE_LAYER_ZSTD,
                uncompressed_size,
                entries: count,
            })
        }
        Compression::Gzip => {
            let level = options.gzip_level;
            if level > 9 {
                return Err(Error::InvalidOptions {
                    reason: format!("gzip level {level} is not in 0..=9"),
                });
            }
            if options.block_size == 0 {
                return Err(Error::InvalidOptions {
                    reason: "the gzip block size must be at least 1 byte".into(),
                });
            }
            let threads = match options.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            };
            let params = gzip::Params {
                level,
                threads,
                block_size: options.block_size,
            };
            let mut hashed_out = Hashing::new(&mut out);
            let ((diff_id, uncompressed_size), summary) =
                gzip::compress(params, &mut hashed_out, |blocks| -> Result<_, Error> {
                    let mut w = Hashing::new(blocks);
                    emit(&items, options.mtime, &mut w)?;
                    let (diff_id, n, _) = w.finish();
                    Ok((diff_id, n))
                })?;
            let (digest, size, _) = hashed_out.finish();
            debug_assert_eq!(size, summary.compressed_size);
            out.flush()?;
            Ok(Written {
                diff_id,
                digest,
                size,
                media_type: MEDIA_TYPE_LAYER_GZIP,
                uncompressed_size,
                entries: count,
            })
        }
    }
}

/// Collects the entries of the tree at `root`, placed under `prefix` in the layer (`""` for
/// the layer root; otherwise `prefix` itself becomes a directory entry). Sorted walk; regular
/// files become `FileSource::Path` (read later, by `write`); symlinks stay symlinks (never
/// followed, mode 0777); directories get mode 0755; files 0755 if the owner may execute them,
/// else 0644 (never the host umask); uid/gid from the arguments. Hard links become separate
/// files. Sockets, FIFOs and devices are skipped and returned so callers can report them.
pub fn entries_from_dir(
    root: &Path,
    prefix: &str,
    uid: u32,
    gid: u32,
) -> Result<(Vec<Entry>, Vec<PathBuf>), Error> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;

    if !prefix.is_empty() {
        validate_path(prefix)?;
    }
    let meta = fs::metadata(root).map_err(io_at(root))?;
    if !meta.is_dir() {
        return Err(Error::Io {
            path: Some(root.to_path_buf()),
            source: io::Error::new(io::ErrorKind::NotADirectory, "not a directory"),
        });
    }
    let mut entries = Vec::new();
    let mut skipped = Vec::new();
    let entry = |path: String, kind, mode| Entry {
        path,
        kind,
        mode,
        uid,
        gid,
        xattrs: BTreeMap::new(),
    };
    if !prefix.is_empty() {
        entries.push(entry(prefix.to_string(), EntryKind::Dir, 0o755));
    }
    // Depth-first, children sorted by name bytes; a stack of (directory, its layer path).
    let mut stack = vec![(root.to_path_buf(), prefix.to_string())];
    while let Some((dir, layer_dir)) = stack.pop() {
        let mut children = Vec::new();
        for child in fs::read_dir(&dir).map_err(io_at(&dir))? {
            let child = child.map_err(io_at(&dir))?;
            let ft = child.file_type().map_err(io_at(&child.path()))?;
            children.push((child.file_name(), ft));
        }
        children.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let mut subdirs = Vec::new();
        for (name, ft) in children {
            let fs_path = dir.join(&name);
            let Some(name) = name.to_str() else {
                return Err(invalid(
                    &fs_path.to_string_lossy(),
                    "the file name is not UTF-8",
                ));
            };
            let path = if layer_dir.is_empty() {
                name.to_string()
            } else {
                format!("{layer_dir}/{name}")
            };
            if ft.is_dir() {
                entries.push(entry(path.clone(), EntryKind::Dir, 0o755));
                subdirs.push((fs_path, path));
            } else if ft.is_file() {
                let meta = fs::symlink_metadata(&fs_path).map_err(io_at(&fs_path))?;
                let mode = if meta.permissions().mode() & 0o100 != 0 {
                    0o755
                } else {
                    0o644
                };
                entries.push(entry(
                    path,
                    EntryKind::File(FileSource::Path(fs_path)),
                    mode,
                ));
            } else if ft.is_symlink() {
                let target = fs::read_link(&fs_path).map_err(io_at(&fs_path))?;
                let Some(target) = target.to_str() else {
                    return Err(invalid(&path, "the symlink target is not UTF-8"));
                };
                entries.push(entry(path, EntryKind::Symlink(target.to_string()), 0o777));
            } else {
                skipped.push(fs_path);
            }
        }
        // Pushed in reverse so that the walk visits them in sorted order.
        stack.extend(subdirs.into_iter().rev());
    }
    Ok((entries, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn e(path: &str, kind: EntryKind, mode: u32, uid: u32, gid: u32) -> Entry {
        Entry {
            path: path.into(),
            kind,
            mode,
            uid,
            gid,
            xattrs: BTreeMap::new(),
        }
    }

    fn file(path: &str, data: &[u8]) -> Entry {
        e(
            path,
            EntryKind::File(FileSource::Bytes(data.to_vec())),
            0o644,
            1000,
            100,
        )
    }

    fn none() -> Options {
        Options {
            compression: Compression::None,
            ..Options::default()
        }
    }

    /// Hard links, devices, FIFOs, spool ranges and xattrs; the PAX record's exact bytes; the
    /// checks on hard links; and `write_exact`, which adds no parent.
    #[test]
    fn links_devices_ranges_and_xattrs() {
        let t = tempfile::tempdir().unwrap();
        let spool = t.path().join("spool");
        fs::write(&spool, b"xxhelloyy").unwrap();
        let mut ping = e(
            "bin/ping",
            EntryKind::File(FileSource::Range {
                file: spool.clone(),
                offset: 2,
                len: 5,
            }),
            0o755,
            0,
            0,
        );
        ping.xattrs
            .insert("security.capability".into(), b"\x01\0=\n".to_vec());
        ping.xattrs.insert("user.a".into(), b"1".to_vec());
        let entries = vec![
            e(
                "bin/ping6",
                EntryKind::HardLink("bin/ping".into()),
                0o755,
                0,
                0,
            ),
            ping,
            e(
                "dev/sda",
                EntryKind::BlockDevice { major: 8, minor: 0 },
                0o660,
                0,
                6,
            ),
            e(
                "dev/tty",
                EntryKind::CharDevice { major: 5, minor: 0 },
                0o666,
                0,
                5,
            ),
            e("run/fifo", EntryKind::Fifo, 0o600, 0, 0),
            e("opt", EntryKind::OpaqueMarker, 0o644, 0, 0),
        ];
        let (out, _) = tar_of(entries.clone(), &none());
        let r = rows(&out);
        let names: Vec<&str> = r.iter().map(|x| x.0.as_str()).collect();
        assert_eq!(
            names,
            [
                "bin/",
                "bin/ping",
                "bin/ping6",
                "dev/",
                "dev/sda",
                "dev/tty",
                "opt/",
                "opt/.wh..wh..opq",
                "run/",
                "run/fifo"
            ]
        );
        assert_eq!((r[2].1, r[2].7.as_deref()), (b'1', Some("bin/ping")));
        assert_eq!((r[4].1, r[4].2), (b'4', 0o060660));
        assert_eq!((r[5].1, r[9].1), (b'3', b'6'));
        // The PAX header: fixed fields, records sorted, lengths that count themselves.
        let at = out
            .windows(14)
            .position(|w| w == b"././@PaxHeader")
            .unwrap();
        let h = tar::Header::from_byte_slice(&out[at..at + 512]);
        assert_eq!(h.entry_type(), tar::EntryType::XHeader);
        let body = b"41 SCHILY.xattr.security.capability=\x01\0=\n\n25 SCHILY.xattr.user.a=1\n";
        assert_eq!(h.size().unwrap(), body.len() as u64);
        assert_eq!(&out[at + 512..at + 512 + body.len()], body);
        assert_eq!(&out[at + 1024..][..8], b"bin/ping");
        let mut a = tar::Archive::new(&out[..]);
        let mut en = a.entries().unwrap().nth(1).unwrap().unwrap();
        let mut data = String::new();
        en.read_to_string(&mut data).unwrap();
        assert_eq!(data, "hello");

        // `write_exact` adds no parent; both refuse a link to a later or missing path.
        let mut exact = Vec::new();
        write_exact(entries, &none(), &mut exact).unwrap();
        let names: Vec<String> = rows(&exact).into_iter().map(|x| x.0).collect();
        assert_eq!(
            names,
            [
                "bin/ping",
                "bin/ping6",
                "dev/sda",
                "dev/tty",
                "opt/.wh..wh..opq",
                "run/fifo"
            ]
        );
        let f = file("b", b"x");
        let cases = [
            (
                vec![
                    f.clone(),
                    e("a", EntryKind::HardLink("b".into()), 0o644, 0, 0),
                ],
                "not a regular file sorted before it",
            ),
            (
                vec![e("a", EntryKind::HardLink("z".into()), 0o644, 0, 0)],
                "not in this layer",
            ),
            (
                vec![e("a", EntryKind::HardLink("../z".into()), 0o644, 0, 0)],
                "invalid path",
            ),
        ];
        for (entries, want) in cases {
            let err = write(entries, &none(), Vec::new()).unwrap_err().to_string();
            assert!(err.contains(want), "{want}: {err}");
        }
        // A hard link to a lower layer's path is what an exact rewrite keeps.
        write_exact(
            vec![e("a", EntryKind::HardLink("z".into()), 0o644, 0, 0)],
            &none(),
            Vec::new(),
        )
        .unwrap();
    }

    fn tar_of(entries: Vec<Entry>, options: &Options) -> (Vec<u8>, Written) {
        let mut out = Vec::new();
        let w = write(entries, options, &mut out).unwrap();
        (out, w)
    }

    /// (path, type, mode, uid, gid, mtime, size, link) of every entry, long names resolved.
    type Row = (String, u8, u32, u64, u64, u64, u64, Option<String>);

    fn rows(tar_bytes: &[u8]) -> Vec<Row> {
        let mut a = tar::Archive::new(tar_bytes);
        a.entries()
            .unwrap()
            .map(|en| {
                let en = en.unwrap();
                let h = en.header();
                (
                    String::from_utf8(en.path_bytes().into_owned()).unwrap(),
                    h.entry_type().as_byte(),
                    h.mode().unwrap(),
                    h.uid().unwrap(),
                    h.gid().unwrap(),
                    h.mtime().unwrap(),
                    h.size().unwrap(),
                    en.link_name_bytes()
                        .map(|l| String::from_utf8(l.into_owned()).unwrap()),
                )
            })
            .collect()
    }

    fn names(tar_bytes: &[u8]) -> Vec<String> {
        rows(tar_bytes).into_iter().map(|r| r.0).collect()
    }

    fn sha(bytes: &[u8]) -> Digest {
        Digest::of(bytes)
    }

    #[test]
    fn sorted_with_explicit_parents() {
        let entries = vec![
            file("b/c/d.txt", b"d"),
            e("a", EntryKind::Dir, 0o750, 1000, 100),
            file("a-b", b"ab"),
            file("a/x", b"x"),
        ];
        let (out, w) = tar_of(entries, &none());
        assert_eq!(names(&out), ["a/", "a-b", "a/x", "b/", "b/c/", "b/c/d.txt"]);
        assert_eq!(w.entries, 6);
        let r = rows(&out);
        // The explicit directory keeps its owner and mode; added parents are 0755 root.
        assert_eq!((r[0].2, r[0].3, r[0].4), (0o040750, 1000, 100));
        assert_eq!((r[3].2, r[3].3, r[3].4), (0o040755, 0, 0));
        assert_eq!((r[4].2, r[4].3, r[4].4), (0o040755, 0, 0));
        assert_eq!((r[5].2, r[5].3, r[5].4), (0o100644, 1000, 100));
        assert_eq!(w.digest, w.diff_id);
        assert_eq!(w.diff_id, sha(&out));
        assert_eq!(w.size, out.len() as u64);
        assert_eq!(w.uncompressed_size, out.len() as u64);
        assert_eq!(w.media_type, MEDIA_TYPE_LAYER);
        // The same entries in another order give the same bytes.
        let (again, _) = tar_of(
            vec![
                file("a/x", b"x"),
                file("a-b", b"ab"),
                e("a", EntryKind::Dir, 0o750, 1000, 100),
                file("b/c/d.txt", b"d"),
            ],
            &none(),
        );
        assert_eq!(out, again);
    }

    #[test]
    fn symlinks_stay_symlinks() {
        let long_target = format!("/{}", "t".repeat(150));
        let entries = vec![
            e("bin/sh", EntryKind::Symlink("busybox".into()), 0o777, 0, 0),
            e(
                "bin/long",
                EntryKind::Symlink(long_target.clone()),
                0o777,
                0,
                0,
            ),
        ];
        let (out, _) = tar_of(entries, &none());
        let r = rows(&out);
        assert_eq!(r[1].0, "bin/long");
        assert_eq!(r[1].1, b'2');
        assert_eq!(r[1].2, 0o120777);
        assert_eq!(r[1].7.as_deref(), Some(long_target.as_str()));
        assert_eq!(r[2].0, "bin/sh");
        assert_eq!(r[2].7.as_deref(), Some("busybox"));
        assert_eq!(r[2].6, 0);
    }

    #[test]
    fn whiteouts_and_opaque_dirs() {
        let entries = vec![
            e("etc/foo", EntryKind::Whiteout, 0o644, 0, 0),
            e("top", EntryKind::Whiteout, 0o644, 0, 0),
            e("var/cache", EntryKind::OpaqueDir, 0o755, 0, 0),
            file("var/cache/keep", b"k"),
        ];
        let (out, _) = tar_of(entries, &none());
        assert_eq!(
            names(&out),
            [
                ".wh.top",
                "etc/",
                "etc/.wh.foo",
                "var/",
                "var/cache/",
                "var/cache/.wh..wh..opq",
                "var/cache/keep"
            ]
        );
        let r = rows(&out);
        assert_eq!((r[2].1, r[2].6), (b'0', 0));
        // A whiteout of something this layer writes is a contradiction.
        let err = write(
            vec![e("a", EntryKind::Whiteout, 0o644, 0, 0), file("a/b", b"")],
            &none(),
            io::sink(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
    }

    #[test]
    fn header_fields_are_all_fixed() {
        let long = format!("d/{}", "n".repeat(120));
        let entries = vec![
            file("d/f", b"hello"),
            e(
                "d/x",
                EntryKind::File(FileSource::Bytes(vec![1; 513])),
                0o755,
                5,
                6,
            ),
            file(&long, b"long"),
            e("d", EntryKind::Dir, 0o755, 0, 0),
        ];
        let options = Options {
            mtime: 1_700_000_000,
            ..none()
        };
        let (out, _) = tar_of(entries, &options);
        // Raw: every header, extension headers included.
        let mut a = tar::Archive::new(&out[..]);
        let raw = a.entries().unwrap().raw(true);
        let mut kinds = Vec::new();
        for en in raw {
            let en = en.unwrap();
            let h = en.header();
            kinds.push(h.entry_type().as_byte());
            let gnu = h.as_gnu().expect("GNU header");
            assert_eq!(gnu.atime, [0; 12]);
            assert_eq!(gnu.ctime, [0; 12]);
            assert_eq!(h.username_bytes(), Some(&b""[..]));
            assert_eq!(h.groupname_bytes(), Some(&b""[..]));
            if h.entry_type().is_gnu_longname() {
                continue; // dev fields left empty, as GNU tar writes it
            }
            assert_eq!(h.device_major().unwrap().unwrap_or(0), 0);
            assert_eq!(h.device_minor().unwrap().unwrap_or(0), 0);
        }
        assert_eq!(kinds, [b'5', b'0', b'L', b'0', b'0']);
        let r = rows(&out);
        assert_eq!(r[2].0, long);
        for row in &r {
            assert_eq!(row.5, 1_700_000_000);
        }
        assert_eq!((r[1].2, r[1].3, r[1].4, r[1].6), (0o100644, 1000, 100, 5));
        assert_eq!((r[3].2, r[3].3, r[3].4, r[3].6), (0o100755, 5, 6, 513));
        // The archive ends in exactly two zero blocks, after 512-byte-aligned entries.
        assert_eq!(out.len() % 512, 0);
        assert!(out[out.len() - 1024..].iter().all(|&b| b == 0));
        assert!(out[out.len() - 1536..out.len() - 1024]
            .iter()
            .any(|&b| b != 0));
    }

    #[test]
    fn invalid_and_duplicate_paths_are_rejected() {
        for bad in [
            "../x",
            "/abs",
            "a//b",
            "",
            ".",
            "a/./b",
            "a/..",
            "x/",
            ".wh.x",
            "a/.wh..wh..opq",
            "nul\0",
        ] {
            let err = write(vec![file(bad, b"")], &none(), io::sink()).unwrap_err();
            assert!(matches!(err, Error::InvalidPath { .. }), "{bad:?}: {err}");
        }
        let err = write(
            vec![file("a/b", b""), file("a/b", b"")],
            &none(),
            io::sink(),
        )
        .unwrap_err();
        assert!(
            matches!(err, Error::Duplicate { ref path } if path == "a/b"),
            "{err}"
        );
        let err = write(
            vec![
                e("d", EntryKind::Dir, 0o755, 0, 0),
                e("d", EntryKind::OpaqueDir, 0o755, 0, 0),
            ],
            &none(),
            io::sink(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Duplicate { .. }), "{err}");
        let err = write(vec![file("f", b""), file("f/g", b"")], &none(), io::sink()).unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
        let err = write(
            vec![e("f", EntryKind::Symlink(String::new()), 0o777, 0, 0)],
            &none(),
            io::sink(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidPath { .. }), "{err}");
        let err = write(
            vec![e("f", EntryKind::Dir, 0o40755, 0, 0)],
            &none(),
            io::sink(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::InvalidMode { .. }), "{err}");
        let bad_level = Options {
            compression: Compression::Gzip,
            gzip_level: 10,
            ..Options::default()
        };
        let err = write(vec![file("f", b"")], &bad_level, io::sink()).unwrap_err();
        assert!(matches!(err, Error::InvalidOptions { .. }), "{err}");
    }

    fn mixed_entries() -> Vec<Entry> {
        let mut entries = vec![e(
            "usr/bin/python",
            EntryKind::Symlink("python3".into()),
            0o777,
            0,
            0,
        )];
        let mut x: u64 = 42;
        for i in 0..40 {
            let mut data = Vec::new();
            for j in 0..(i * 997) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                if i % 2 == 0 {
                    data.extend_from_slice(format!("line {j} of file {i}\n").as_bytes());
                } else {
                    data.extend_from_slice(&x.to_le_bytes());
                }
            }
            entries.push(file(&format!("usr/lib/f{i:02}"), &data));
        }
        entries
    }

    #[test]
    fn gzip_decompresses_to_the_tar() {
        let (plain, pw) = tar_of(mixed_entries(), &none());
        for threads in [1, 2, 4] {
            let options = Options {
                compression: Compression::Gzip,
                gzip_level: 6,
                threads,
                block_size: 64 * 1024,
                ..Options::default()
            };
            let (gz, gw) = tar_of(mixed_entries(), &options);
            let mut back = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut back)
                .unwrap();
            assert!(back == plain);
            assert_eq!(gw.diff_id, pw.diff_id);
            assert_eq!(gw.digest, sha(&gz));
            assert_eq!(gw.size, gz.len() as u64);
            assert_eq!(gw.uncompressed_size, plain.len() as u64);
            assert_eq!(gw.media_type, MEDIA_TYPE_LAYER_GZIP);
            assert!(gw.size < gw.uncompressed_size);
        }
    }

    #[test]
    fn gzip_layer_is_identical_for_any_thread_count() {
        let digests: Vec<_> = [1, 2, 3, 4, 8]
            .into_iter()
            .map(|threads| {
                let options = Options {
                    threads,
                    block_size: 32 * 1024,
                    ..Options::default()
                };
                tar_of(mixed_entries(), &options).1.digest
            })
            .collect();
        assert!(digests.windows(2).all(|w| w[0] == w[1]), "{digests:?}");
    }

    #[test]
    fn system_tar_and_gzip_accept_the_layer() {
        if std::process::Command::new("tar")
            .arg("--version")
            .output()
            .is_err()
        {
            eprintln!("skipped: tar is not on PATH");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let blob = dir.path().join("layer.tar.gz");
        let mut entries = mixed_entries();
        entries.push(file(&format!("deep/{}", "x".repeat(200)), b"long"));
        write(
            entries,
            &Options::default(),
            fs::File::create(&blob).unwrap(),
        )
        .unwrap();
        let into = dir.path().join("root");
        fs::create_dir(&into).unwrap();
        let out = std::process::Command::new("tar")
            .arg("-xzf")
            .arg(&blob)
            .arg("-C")
            .arg(&into)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            fs::read(into.join("usr/lib/f02")).unwrap(),
            (0..2 * 997)
                .map(|j| format!("line {j} of file 2\n"))
                .collect::<String>()
                .into_bytes()
        );
        assert_eq!(
            fs::read_link(into.join("usr/bin/python")).unwrap(),
            Path::new("python3")
        );
        assert_eq!(
            fs::read(into.join("deep").join("x".repeat(200))).unwrap(),
            b"long"
        );
    }

    /// Pins the bytes: fails on purpose when a dependency bump (the `tar` crate's header
    /// encoding, flate2, zlib-rs) or a change here changes the layer. If the change is
    /// intended, update the digests and say so in the commit: every stored layer's digest
    /// changes with it (diff_ids only if the tar changed).
    #[test]
    fn golden_digests() {
        let entries = || {
            vec![
                e("etc", EntryKind::Dir, 0o755, 0, 0),
                file("etc/hello.txt", b"hello, layer\n"),
                e("bin/sh", EntryKind::Symlink("busybox".into()), 0o777, 0, 0),
                e("etc/old", EntryKind::Whiteout, 0o644, 0, 0),
                file("home/ray/run.sh", b"#!/bin/sh\necho run\n"),
            ]
        };
        let plain = write(entries(), &Options { mtime: 0, ..none() }, io::sink()).unwrap();
        let gz = write(
            entries(),
            &Options {
                threads: 1,
                ..Options::default()
            },
            io::sink(),
        )
        .unwrap();
        assert_eq!(plain.diff_id, gz.diff_id);
        // zstd: one libzstd (1.5.7, `super::super::zstd`), the same bytes for any thread count.
        let zst: Vec<Written> = [1, 2, 3]
            .map(|threads| {
                let options = Options {
                    compression: Compression::Zstd,
                    threads,
                    ..Options::default()
                };
                write(entries(), &options, io::sink()).unwrap()
            })
            .into();
        assert!(zst.iter().all(|w| *w == zst[0]), "{zst:?}");
        assert_eq!(zst[0].diff_id, plain.diff_id);
        assert_eq!(zst[0].media_type, MEDIA_TYPE_LAYER_ZSTD);
        assert_eq!(
            (zst[0].digest.to_string(), zst[0].size),
            (
                String::from(
                    "sha256:618d6965fa286959b5c2e90d7d2742d9ab85013cb050a21530d3da4885a7a970"
                ),
                267
            )
        );
        assert_eq!(
            (plain.diff_id.to_string(), gz.digest.to_string(), gz.size),
            (
                String::from(
                    "sha256:6d4a1bb84eaff78491708f7a7df47e6202e98ab39a20e833067afcaa53f4ba8d"
                ),
                String::from(
                    "sha256:dc6808ea1835552afa374f29b19adae2bef8db0edb71d492c0652454547f9e5d"
                ),
                253
            )
        );
    }

    #[test]
    fn files_are_streamed_from_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(&path, &data).unwrap();
        let (out, _) = tar_of(
            vec![e(
                "data",
                EntryKind::File(FileSource::Path(path)),
                0o644,
                0,
                0,
            )],
            &none(),
        );
        let mut a = tar::Archive::new(&out[..]);
        let mut en = a.entries().unwrap().next().unwrap().unwrap();
        let mut back = Vec::new();
        en.read_to_end(&mut back).unwrap();
        assert!(back == data);
        // A file whose size changes between stat and read (procfs reports 0 bytes).
        if Path::new("/proc/self/status").exists() {
            let err = write(
                vec![e(
                    "status",
                    EntryKind::File(FileSource::Path("/proc/self/status".into())),
                    0o644,
                    0,
                    0,
                )],
                &none(),
                io::sink(),
            )
            .unwrap_err();
            assert!(matches!(err, Error::FileChanged { .. }), "{err}");
        }
        let err = write(
            vec![e(
                "gone",
                EntryKind::File(FileSource::Path(dir.path().join("missing"))),
                0o644,
                0,
                0,
            )],
            &none(),
            io::sink(),
        )
        .unwrap_err();
        assert!(matches!(err, Error::Io { path: Some(_), .. }), "{err}");
    }

    fn vm_hwm_kib() -> Option<u64> {
        let status = fs::read_to_string("/proc/self/status").ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    #[test]
    fn memory_does_not_grow_with_the_layer() {
        let Some(before) = vm_hwm_kib() else {
            eprintln!("skipped: no /proc/self/status");
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        // 256 MiB, sparse: reads are zeros and cost no disk.
        fs::File::create(&path).unwrap().set_len(256 << 20).unwrap();
        let entries = || {
            vec![e(
                "big",
                EntryKind::File(FileSource::Path(path.clone())),
                0o644,
                0,
                0,
            )]
        };
        let plain = write(entries(), &none(), io::sink()).unwrap();
        assert_eq!(plain.uncompressed_size, (256 << 20) + 512 + 1024);
        let gz = write(
            entries(),
            &Options {
                // Level 0 (stored blocks) keeps the test fast in debug builds; the block
                // pipeline and its bounded queue are the same at every level.
                compression: Compression::Gzip,
                gzip_level: 0,
                threads: 2,
                ..Options::default()
            },
            io::sink(),
        )
        .unwrap();
        assert_eq!(gz.diff_id, plain.diff_id);
        let after = vm_hwm_kib().unwrap();
        let grown_mib = after.saturating_sub(before) / 1024;
        assert!(grown_mib < 64, "peak RSS grew by {grown_mib} MiB");
    }

    #[test]
    fn entries_from_a_directory() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("b/sub")).unwrap();
        fs::write(root.join("b/sub/z"), b"z").unwrap();
        fs::write(root.join("a.sh"), b"#!/bin/sh\n").unwrap();
        fs::set_permissions(root.join("a.sh"), fs::Permissions::from_mode(0o700)).unwrap();
        fs::write(root.join("c"), b"c").unwrap();
        fs::set_permissions(root.join("c"), fs::Permissions::from_mode(0o600)).unwrap();
        std::os::unix::fs::symlink("b/sub", root.join("link")).unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        let (entries, skipped) = entries_from_dir(root, "opt/app", 1000, 100).unwrap();
        assert_eq!(skipped, [root.join("sock")]);
        let summary: Vec<(&str, u32)> = entries
            .iter()
            .map(|en| (en.path.as_str(), en.mode))
            .collect();
        assert_eq!(
            summary,
            [
                ("opt/app", 0o755),
                ("opt/app/a.sh", 0o755),
                ("opt/app/b", 0o755),
                ("opt/app/c", 0o644),
                ("opt/app/link", 0o777),
                ("opt/app/b/sub", 0o755),
                ("opt/app/b/sub/z", 0o644),
            ]
        );
        assert!(entries.iter().all(|en| en.uid == 1000 && en.gid == 100));
        assert_eq!(entries[4].kind, EntryKind::Symlink("b/sub".into()));
        let (out, w) = tar_of(entries, &none());
        assert_eq!(w.entries, 8); // and the added parent `opt`
        let n = names(&out);
        assert_eq!(n[0], "opt/");
        assert_eq!(n[1], "opt/app/");
        assert!(entries_from_dir(&root.join("c"), "", 0, 0).is_err());
        assert!(entries_from_dir(root, "/abs", 0, 0).is_err());
    }

    #[test]
    fn unhashed_uncompressed_writes_the_same_bytes() {
        let entries = || {
            vec![
                Entry {
                    path: "a/b.txt".into(),
                    kind: EntryKind::File(FileSource::Bytes(b"hello".to_vec())),
                    mode: 0o644,
                    uid: 1000,
                    gid: 100,
                    xattrs: BTreeMap::new(),
                },
                Entry {
                    path: "a/link".into(),
                    kind: EntryKind::Symlink("b.txt".into()),
                    mode: 0o777,
                    uid: 0,
                    gid: 0,
                    xattrs: BTreeMap::new(),
                },
            ]
        };
        let options = Options {
            mtime: 7,
            compression: Compression::None,
            gzip_level: 6,
            threads: 1,
            block_size: 1 << 20,
        };
        let mut hashed = Vec::new();
        let w = write(entries(), &options, &mut hashed).unwrap();
        let mut plain = Vec::new();
        let (size, count) = write_uncompressed_unhashed(entries(), 7, &mut plain).unwrap();
        assert_eq!(plain, hashed);
        assert_eq!((size, count), (w.size, w.entries));
    }
}
