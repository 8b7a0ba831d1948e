//! Layer normalisation: rewriting a layer a container engine built (wall-clock mtimes, entries
//! in the order the engine walked them, uname/gname, files that only record the build) as a
//! deterministic layer, so that the same content always has the same diff_id.
//!
//! One streaming pass reads the input (gzip, zstd or plain tar, told apart by magic bytes),
//! spools every file's content to one scratch file in `scratch_dir` (removed afterwards, also
//! on error) and keeps only the headers in memory; then [`layer::write_exact`] writes the entries sorted by path bytes, every mtime
//! `options.mtime`, uname/gname empty, atime/ctime gone, uid/gid/mode and extended attributes
//! (`SCHILY.xattr.*`) kept, and **no entry the input did not have** (an added parent directory
//! would override a lower layer's owner and mode). Directories, files, symlinks, hard links,
//! devices and FIFOs are kept; whiteouts (`.wh.NAME`) and opaque markers (`.wh..wh..opq`) are
//! kept as they are and never dropped. The root entry (`./`), which a layer path cannot name,
//! is not written.
//!
//! Hard links: sorting may put a link before its target, so each link group (a file and the
//! links that lead to it) is rewritten with its smallest surviving path carrying the content
//! and the file's mode, owner and attributes, and every other member a link to it; a group
//! whose file was dropped by the policy is carried by its first surviving member in the same
//! way. A link to a path the layer does not hold (a lower layer's) is kept as it is. Contents
//! of dropped files are spooled too, since a later link may need them.
//!
//! What is dropped is a [`DropPolicy`]: glob patterns over layer paths; [`DEFAULT_DROP`] lists
//! the files that only record when and how the build ran.
//!
//! Python bytecode: a timestamp-based `__pycache__/NAME.*.pyc` records its source's mtime and
//! size, and Python uses it only if both are the source's. The engine's `--timestamp` already
//! set every file's mtime to the epoch, which made each cache the build compiled stale
//! (recompiled at every start of a non-root process, which cannot write it back), and the
//! build time it records made the layer differ from build to build. So a cache whose source is
//! in the same layer, with the size it records, and whose recorded mtime was the source's
//! before either rewrite (or whose source's mtime was already the epoch) gets the epoch as its
//! recorded mtime: valid for its source again, and the same bytes in every build. Any other
//! `.pyc` (hash-based, a source in a lower layer, another size) is kept as it is.

use super::blob::{HashingReader, TempBlob, BUF};
use super::error::Error;
use super::layer::{self, Entry, EntryKind, FileSource};
use super::layout::Layout;
use super::scan::unsafe_path;
use super::tar_read::Reader;
use super::Descriptor;
use crate::types::digest::Digest;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

/// Paths dropped by default: each only records when or how the build ran, and nothing reads
/// it to do its work. Not `etc/ld.so.cache` (the loader reads it), not `var/lib/dpkg/status`,
/// not all of `~/.cache` (`~/.cache/huggingface` holds models a program loads).
pub const DEFAULT_DROP: &[&str] = &[
    // apt's binary package caches: rebuilt from the lists on demand, stamped at build time.
    "var/cache/apt/*.bin",
    // Downloaded packages, installed already.
    "var/cache/apt/archives/*.deb",
    // Interrupted downloads.
    "var/cache/apt/archives/partial/*",
    // The package lists as the mirror served them on the build day (`apt-get update` fetches
    // them again; Debian's own images ship without them).
    "var/lib/apt/lists/*",
    // apt's history.log/term.log/eipp.log: what the build's apt runs did, with timestamps.
    "var/log/apt/*",
    // dpkg's and update-alternatives' logs: timestamps of every package step.
    "var/log/dpkg.log",
    "var/log/alternatives.log",
    // debconf's and dpkg's backups of their databases from before the last run (the current
    // `config.dat`, `status`, … stay).
    "var/cache/debconf/*-old",
    "var/lib/dpkg/*-old",
    // ldconfig's cache of library inodes and mtimes, for its next run; the loader never reads it.
    "var/cache/ldconfig/aux-cache",
    // pip's and uv's download caches (wheels already installed).
    "root/.cache/pip",
    "home/*/.cache/pip",
    "root/.cache/uv",
    "home/*/.cache/uv",
    // wget's HSTS database: the hosts the build contacted, and when.
    "root/.wget-hsts",
    "home/*/.wget-hsts",
    // Scratch space the build left behind (the directories themselves stay).
    "tmp/*",
    "var/tmp/*",
];

/// Which paths of a layer are dropped on normalisation (build-time records).
#[derive(Debug, Clone)]
pub struct DropPolicy {
    patterns: Vec<String>,
    set: globset::GlobSet,
}

impl DropPolicy {
    /// Glob patterns over layer paths (relative, no leading `/`; `*` and `?` stay within one
    /// path component, `**` crosses components; a pattern ending `/**` or naming a directory
    /// drops what is below it). An entry is dropped when its path or any of its ancestors
    /// matches.
    pub fn new(patterns: &[String]) -> Result<DropPolicy, Error> {
        let mut b = globset::GlobSetBuilder::new();
        for p in patterns {
            let bad = |reason: String| Error::Invalid {
                what: format!("drop pattern `{p}`"),
                reason,
            };
            if p.is_empty() {
                return Err(bad("it is empty".into()));
            }
            if p.starts_with('/') {
                return Err(bad(
                    "it starts with `/` (patterns are relative to the layer root)".into(),
                ));
            }
            let glob = globset::GlobBuilder::new(p.trim_end_matches('/'))
                .literal_separator(true)
                .backslash_escape(true)
                .build()
                .map_err(|e| bad(e.kind().to_string()))?;
            b.add(glob);
        }
        let set = b.build().map_err(|e| Error::Invalid {
            what: "drop patterns".into(),
            reason: e.to_string(),
        })?;
        Ok(DropPolicy {
            patterns: patterns.to_vec(),
            set,
        })
    }

    /// The policy of [`DEFAULT_DROP`] (valid globs: a unit test builds it).
    pub fn default_policy() -> Result<DropPolicy, Error> {
        let patterns: Vec<String> = DEFAULT_DROP.iter().map(|p| p.to_string()).collect();
        DropPolicy::new(&patterns)
    }

    /// Whether `path` (a layer path, no leading `/`) or one of its ancestors matches.
    pub fn matches(&self, path: &str) -> bool {
        let path = path.trim_end_matches('/');
        if self.set.is_empty() || path.is_empty() {
            return false;
        }
        path.match_indices('/')
            .map(|(i, _)| &path[..i])
            .chain([path])
            .any(|p| self.set.is_match(p))
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }
}

/// What [`normalise_layer`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Normalised {
    pub written: layer::Written,
    /// The paths the policy dropped, sorted.
    pub dropped: Vec<String>,
}

/// Rewrites one layer (gzip or plain tar: detected by magic bytes) as a deterministic layer,
/// written to `out` as `options.compression` says. See the module documentation for the rules.
pub fn normalise_layer(
    input: &mut dyn Read,
    policy: &DropPolicy,
    options: &layer::Options,
    scratch_dir: &Path,
    out: &mut dyn Write,
) -> Result<Normalised, Error> {
    normalise(
        input,
        policy,
        options,
        scratch_dir,
        out,
        Path::new("the input layer"),
    )
}

impl Layout {
    /// Reads layer blob `layer` from the layout (checking its digest and size), normalises it
    /// and writes the result as a new blob (a temp file in `envc/tmp` renamed into place);
    /// returns its descriptor (the OCI media type for `options.compression`), its diff_id and
    /// the dropped paths.
    pub fn normalise_layer(
        &self,
        layer: &Descriptor,
        policy: &DropPolicy,
        options: &layer::Options,
    ) -> Result<(Descriptor, Digest, Vec<String>), Error> {
        let path = self.blob_path(&layer.digest);
        let file = std::fs::File::open(&path).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => Error::MissingBlob {
                digest: layer.digest,
                path: path.clone(),
            },
            _ => Error::io(&path, e),
        })?;
        self.start_writing()?;
        let mut input = HashingReader::new(file, true);
        let mut tmp = TempBlob::new(&self.tmp_dir(), &self.blobs_dir())?;
        let n = normalise(
            &mut input,
            policy,
            options,
            &self.tmp_dir(),
            &mut tmp,
            &path,
        )?;
        // Only a blob that is what its descriptor says is rewritten.
        io::copy(&mut input, &mut io::sink()).map_err(|e| Error::io(&path, e))?;
        input.check(&layer.digest, layer.size, &path)?;
        tmp.persist(&n.written.digest)?;
        let d = Descriptor {
            media_type: options.compression.layer_media_type().to_string(),
            digest: n.written.digest,
            size: n.written.size,
            annotations: BTreeMap::new(),
            platform: None,
        };
        Ok((d, n.written.diff_id, n.dropped))
    }
}

/// The layer being read and its scratch file, named in errors.
struct Ctx<'a> {
    layer: &'a Path,
}

impl Ctx<'_> {
    fn bad(&self, reason: impl Into<String>) -> Error {
        Error::BadLayer {
            layer: self.layer.to_path_buf(),
            reason: reason.into(),
        }
    }

    fn entry(&self, path: &str, reason: impl std::fmt::Display) -> Error {
        self.bad(format!("entry `{path}`: {reason}"))
    }
}

fn normalise(
    input: &mut dyn Read,
    policy: &DropPolicy,
    options: &layer::Options,
    scratch_dir: &Path,
    out: &mut dyn Write,
    layer_path: &Path,
) -> Result<Normalised, Error> {
    let ctx = Ctx { layer: layer_path };
    let mut buffered = BufReader::with_capacity(BUF, input);
    let head = buffered.fill_buf().map_err(|e| Error::io(layer_path, e))?;
    let decoded: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(super::zstd::decoder(buffered).map_err(|e| Error::io(layer_path, e))?)
    } else {
        Box::new(buffered)
    };
    let scratch = tempfile::Builder::new()
        .prefix("normalise-")
        .tempfile_in(scratch_dir)
        .map_err(|e| Error::io(scratch_dir, e))?;
    let mut archive = Reader::new(decoded);
    let read = read_entries(&mut archive, policy, &ctx, &Contents::Spool(&scratch))?;
    // Whatever follows the end-of-archive blocks is read too (a caller may hash the input).
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| ctx.bad(format!("reading past the end of the tar: {e}")))?;
    let normalised = write_found(read, options, out, &ctx)?;
    drop(scratch); // removes the spool file (also dropped, and removed, on every error above)
    Ok(normalised)
}

/// Normalises the plain-tar layer at `offset..offset + len` of `file` (a member of an engine's
/// docker-archive) without copying its contents anywhere first: each entry's content is
/// written from where it lies in `file`, so the layer's bytes are read twice (once to find the
/// entries, hashing them; once to write) and written once. Returns the result and the sha256
/// of the input layer (its diff_id) for the caller to check against the image config. A
/// compressed member is refused; [`normalise_layer`] reads those.
pub fn normalise_in_place(
    file: &Path,
    offset: u64,
    len: u64,
    policy: &DropPolicy,
    options: &layer::Options,
    out: &mut dyn Write,
) -> Result<(Normalised, Digest), Error> {
    use std::io::Seek;
    let ctx = Ctx { layer: file };
    let mut f = std::fs::File::open(file).map_err(|e| Error::io(file, e))?;
    f.seek(io::SeekFrom::Start(offset))
        .map_err(|e| Error::io(file, e))?;
    let mut hashing = HashingReader::new(BufReader::with_capacity(BUF, f.take(len)), true);
    let mut head = [0u8; 2];
    {
        let inner = &mut hashing.inner;
        let peek = inner.fill_buf().map_err(|e| Error::io(file, e))?;
        head[..peek.len().min(2)].copy_from_slice(&peek[..peek.len().min(2)]);
    }
    if head == [0x1f, 0x8b] || head == [0x28, 0xb5] {
        return Err(ctx.bad("it is compressed; only a plain tar is normalised in place"));
    }
    let mut archive = Reader::new(&mut hashing);
    let read = read_entries(
        &mut archive,
        policy,
        &ctx,
        &Contents::InPlace { file, offset },
    )?;
    io::copy(&mut archive.into_inner(), &mut io::sink())
        .map_err(|e| ctx.bad(format!("reading past the end of the tar: {e}")))?;
    if hashing.size != len {
        return Err(ctx.bad(format!("it has {} bytes, not {len}", hashing.size)));
    }
    let diff_id = hashing.digest().unwrap_or_else(|| Digest::of(b""));
    Ok((write_found(read, options, out, &ctx)?, diff_id))
}

/// The found entries, bytecode restamped and hard links resolved, written as the layer.
fn write_found(
    mut read: Found,
    options: &layer::Options,
    out: &mut dyn Write,
    ctx: &Ctx,
) -> Result<Normalised, Error> {
    restamp_bytecode(&mut read, options.mtime)?;
    let entries = link_groups(read.entries, read.dropped_entries, ctx)?;
    let written = layer::write_exact(entries, options, out).map_err(|e| match e {
        layer::Error::Io { path, source } => Error::Io {
            path: path.unwrap_or_else(|| PathBuf::from("the normalised layer")),
            source,
        },
        other => ctx.bad(other.to_string()),
    })?;
    let mut dropped = read.dropped;
    dropped.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
    Ok(Normalised { written, dropped })
}

/// What the pass over the input found.
struct Found {
    /// Entries to write; hard links not yet resolved.
    entries: Vec<Entry>,
    /// Dropped entries by path (a link may lead to one).
    dropped_entries: HashMap<String, Entry>,
    dropped: Vec<String>,
    /// The input mtime and size of each regular `.py` file.
    py_sources: HashMap<String, (u64, u64)>,
    /// The index in `entries` of each `__pycache__/*.pyc` entry.
    pycs: Vec<usize>,
}

/// Where the entries' contents are read from when the layer is written.
enum Contents<'a> {
    /// Copied to this scratch file as they stream past.
    Spool(&'a tempfile::NamedTempFile),
    /// Left where they are: the input is a plain tar at `offset` in `file`.
    InPlace { file: &'a Path, offset: u64 },
}

fn read_entries<R: Read>(
    archive: &mut Reader<R>,
    policy: &DropPolicy,
    ctx: &Ctx,
    contents: &Contents<'_>,
) -> Result<Found, Error> {
    let (spool_path, spool_file) = match contents {
        Contents::Spool(scratch) => (scratch.path().to_path_buf(), Some(scratch.as_file())),
        Contents::InPlace { file, .. } => (file.to_path_buf(), None),
    };
    let mut spool: Box<dyn Write> = match spool_file {
        Some(f) => Box::new(BufWriter::with_capacity(BUF, f)),
        None => Box::new(io::sink()),
    };
    let mut offset = 0u64;
    let mut buf = vec![0u8; BUF];
    let mut seen = HashSet::new();
    let mut out = Found {
        entries: Vec::new(),
        dropped_entries: HashMap::new(),
        dropped: Vec::new(),
        py_sources: HashMap::new(),
        pycs: Vec::new(),
    };
    let tar_error = |e: io::Error| ctx.bad(format!("not a valid tar archive: {e}"));
    while let Some(raw) = archive.next_entry().map_err(tar_error)? {
        let Ok(text) = String::from_utf8(raw.path.clone()) else {
            let lossy = String::from_utf8_lossy(&raw.path).into_owned();
            return Err(ctx.entry(&lossy, "the path is not UTF-8"));
        };
        if unsafe_path(&raw.path).is_some() {
            return Err(ctx.entry(&text, "an absolute path or a `..` component"));
        }
        let path = clean(&text);
        if path.is_empty() {
            continue; // the root directory: a layer path cannot name it
        }
        if !seen.insert(path.clone()) {
            return Err(ctx.entry(&path, "appears more than once in the layer"));
        }
        let id = |v: u64, what: &str| -> Result<u32, Error> {
            u32::try_from(v)
                .map_err(|_| ctx.entry(&path, format!("its {what} {v} is not a 32-bit number")))
        };
        let mode = raw.mode & 0o7777;
        let uid = id(raw.uid, "uid")?;
        let gid = id(raw.gid, "gid")?;
        let device = || {
            raw.device
                .ok_or_else(|| ctx.entry(&path, "a device without valid major/minor numbers"))
        };
        let link = || -> Result<String, Error> {
            match String::from_utf8(raw.link.clone()) {
                Ok(t) if !t.is_empty() => Ok(t),
                _ => Err(ctx.entry(&path, "its link target is empty or not UTF-8")),
            }
        };
        let mut kind = match raw.kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                EntryKind::File(FileSource::Range {
                    file: spool_path.clone(),
                    offset: 0,
                    len: 0,
                })
            }
            tar::EntryType::Directory => EntryKind::Dir,
            tar::EntryType::Symlink => EntryKind::Symlink(link()?),
            tar::EntryType::Link => {
                let target = link()?;
                if unsafe_path(target.as_bytes()).is_some() {
                    return Err(ctx.entry(
                        &path,
                        format!(
                            "a hard link to `{target}`, an absolute path or one with a `..` \
                             component"
                        ),
                    ));
                }
                EntryKind::HardLink(clean(&target))
            }
            tar::EntryType::Char => {
                let (major, minor) = device()?;
                EntryKind::CharDevice { major, minor }
            }
            tar::EntryType::Block => {
                let (major, minor) = device()?;
                EntryKind::BlockDevice { major, minor }
            }
            tar::EntryType::Fifo => EntryKind::Fifo,
            other => {
                return Err(ctx.entry(
                    &path,
                    format!(
                        "tar entry type `{}` is not supported",
                        other.as_byte() as char
                    ),
                ))
            }
        };
        let xattrs = raw.xattrs;
        if let EntryKind::File(FileSource::Range { .. }) = kind {
            if let Contents::InPlace { offset: base, .. } = contents {
                // The content is read (the caller hashes the stream) but not copied: it is
                // written from where it lies in the input.
                offset = base + archive.position();
            }
            let len = spool_content(archive, &mut spool, &mut buf, |e| match e {
                Side::Read(e) => ctx.entry(&path, format!("reading its content: {e}")),
                Side::Write(e) => Error::io(&spool_path, e),
            })?;
            if len != raw.size {
                return Err(ctx.entry(&path, format!("{len} bytes of content, not {}", raw.size)));
            }
            kind = EntryKind::File(FileSource::Range {
                file: spool_path.clone(),
                offset,
                len,
            });
            if path.ends_with(".py") {
                out.py_sources.insert(path.clone(), (raw.mtime, len));
            }
            offset += len;
        }
        // Whiteouts and opaque markers are kept as they are, whatever the policy says.
        let (parent, name) = match path.rsplit_once('/') {
            Some((p, n)) => (p, n),
            None => ("", path.as_str()),
        };
        let e = |path: String, kind| Entry {
            path,
            kind,
            mode,
            uid,
            gid,
            xattrs,
        };
        if name == ".wh..wh..opq" {
            if parent.is_empty() {
                return Err(ctx.entry(&path, "an opaque marker of the root directory"));
            }
            out.entries
                .push(e(parent.to_string(), EntryKind::OpaqueMarker));
        } else if name.starts_with(".wh..wh.") {
            return Err(ctx.entry(&path, "aufs metadata, which envc does not rewrite"));
        } else if let Some(hidden) = name.strip_prefix(".wh.") {
            let p = if parent.is_empty() {
                hidden.to_string()
            } else {
                format!("{parent}/{hidden}")
            };
            out.entries.push(e(p, EntryKind::Whiteout));
        } else if policy.matches(&path) {
            out.dropped.push(path.clone());
            out.dropped_entries.insert(path.clone(), e(path, kind));
        } else {
            if path.ends_with(".pyc") && path.contains("__pycache__/") {
                out.pycs.push(out.entries.len());
            }
            out.entries.push(e(path, kind));
        }
    }
    spool.flush().map_err(|e| Error::io(&spool_path, e))?;
    drop(spool);
    Ok(out)
}

/// The source of `DIR/__pycache__/NAME.TAG[.opt-N].pyc`: `DIR/NAME.py`.
fn bytecode_source(pyc: &str) -> Option<String> {
    let (dir, file) = pyc.rsplit_once("__pycache__/")?;
    let (name, _) = file.split_once('.')?;
    (!name.is_empty() && !file.contains('/')).then(|| format!("{dir}{name}.py"))
}

/// Sets the recorded source mtime of every bytecode cache that was valid for its source in
/// this layer to `epoch` (see the module documentation), in the spool.
fn restamp_bytecode(found: &mut Found, epoch: u64) -> Result<(), Error> {
    use std::os::unix::fs::FileExt;
    /// Bytecode caches are kilobytes; a larger one is left as it is rather than held in memory.
    const MAX_PYC: u64 = 64 << 20;
    for &i in &found.pycs {
        let entry = &mut found.entries[i];
        let EntryKind::File(FileSource::Range { file, offset, len }) = &entry.kind else {
            continue;
        };
        let Some(&(source_mtime, source_size)) =
            bytecode_source(&entry.path).and_then(|s| found.py_sources.get(&s))
        else {
            continue;
        };
        if *len < 16 || *len > MAX_PYC {
            continue;
        }
        let io_error = |e| Error::io(file, e);
        let mut content = vec![0u8; *len as usize];
        std::fs::File::open(file)
            .and_then(|f| f.read_exact_at(&mut content, *offset))
            .map_err(io_error)?;
        let word = |i: usize| {
            u32::from_le_bytes([content[i], content[i + 1], content[i + 2], content[i + 3]])
        };
        let (flags, recorded_mtime, recorded_size) = (word(4), word(8), word(12));
        // Python's check: the magic ends in \r\n, flags 0 is timestamp-based, and mtime and
        // size are the source's, truncated to 32 bits.
        let ours = recorded_mtime == source_mtime as u32 || source_mtime == epoch;
        if content[2..4] == *b"\r\n" && flags == 0 && recorded_size == source_size as u32 && ours {
            content[8..12].copy_from_slice(&(epoch as u32).to_le_bytes());
            entry.kind = EntryKind::File(FileSource::Bytes(content));
        }
    }
    Ok(())
}

/// Which end of a copy failed.
enum Side {
    Read(io::Error),
    Write(io::Error),
}

/// Copies an entry's content to the spool; returns its length.
fn spool_content(
    from: &mut dyn Read,
    to: &mut dyn Write,
    buf: &mut [u8],
    err: impl Fn(Side) -> Error,
) -> Result<u64, Error> {
    let mut n = 0u64;
    loop {
        let got = match from.read(buf) {
            Ok(0) => return Ok(n),
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(err(Side::Read(e))),
        };
        to.write_all(&buf[..got]).map_err(|e| err(Side::Write(e)))?;
        n += got as u64;
    }
}

/// A tar path as a layer path: no leading `./`, no trailing `/`.
fn clean(p: &str) -> String {
    let mut p = p;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    if p == "." {
        return String::new();
    }
    p.trim_end_matches('/').to_string()
}

/// Rewrites hard links so that the smallest surviving path of each group carries the content
/// (see the module documentation).
fn link_groups(
    mut entries: Vec<Entry>,
    dropped: HashMap<String, Entry>,
    ctx: &Ctx,
) -> Result<Vec<Entry>, Error> {
    let index: HashMap<String, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.clone(), i))
        .collect();
    // Each link's root: the entry at the end of its chain of links (kept or dropped), or
    // `None` for a path the layer does not hold.
    let mut groups: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, e) in entries.iter().enumerate() {
        let EntryKind::HardLink(first) = &e.kind else {
            continue;
        };
        let mut target = first.clone();
        let mut hops = 0;
        loop {
            let next = index
                .get(&target)
                .map(|&t| &entries[t])
                .or_else(|| dropped.get(&target));
            match next.map(|n| &n.kind) {
                Some(EntryKind::HardLink(t)) => {
                    hops += 1;
                    if hops > entries.len() + dropped.len() {
                        return Err(ctx.entry(&e.path, "a cycle of hard links"));
                    }
                    target = t.clone();
                }
                Some(_) => {
                    groups.entry(target).or_default().push(i);
                    break;
                }
                None => break, // a lower layer's path: kept as it is
            }
        }
    }
    for (root, links) in groups {
        let (source, root_index) = match index.get(&root) {
            Some(&r) => (entries[r].clone(), Some(r)),
            None => match dropped.get(&root) {
                Some(d) => (d.clone(), None),
                None => continue,
            },
        };
        let mut members: Vec<usize> = links;
        members.extend(root_index);
        members.sort_by(|&a, &b| entries[a].path.as_bytes().cmp(entries[b].path.as_bytes()));
        match &source.kind {
            EntryKind::File(_) => {
                let carrier = entries[members[0]].path.clone();
                for (n, &m) in members.iter().enumerate() {
                    let e = &mut entries[m];
                    e.mode = source.mode;
                    e.uid = source.uid;
                    e.gid = source.gid;
                    if n == 0 {
                        e.kind = source.kind.clone();
                        e.xattrs = source.xattrs.clone();
                    } else {
                        e.kind = EntryKind::HardLink(carrier.clone());
                        e.xattrs = BTreeMap::new();
                    }
                }
            }
            EntryKind::Dir | EntryKind::OpaqueMarker | EntryKind::Whiteout => {
                let at = &entries[members[0]].path;
                return Err(ctx.entry(at, format!("a hard link to `{root}`, which is not a file")));
            }
            // A link to a symlink, device or FIFO is one more of the same.
            other => {
                for &m in &members {
                    entries[m].kind = other.clone();
                }
            }
        }
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::testutil::gzip;
    use crate::oci::Compression;

    /// One input entry: path, tar type, mode, uid, content or link target, xattrs.
    struct In {
        path: &'static str,
        kind: tar::EntryType,
        mode: u32,
        uid: u64,
        data: &'static [u8],
        xattrs: &'static [(&'static str, &'static [u8])],
    }

    const fn i(path: &'static str, kind: tar::EntryType, mode: u32, data: &'static [u8]) -> In {
        In {
            path,
            kind,
            mode,
            uid: 0,
            data,
            xattrs: &[],
        }
    }

    use tar::EntryType as T;

    /// A layer as an engine writes it: `usr/bin/b` is a hard link to `usr/bin/a`, a file
    /// with a capability, a device, a FIFO, a whiteout, an opaque dir, files owned by uid 1000
    /// in a directory the layer does not hold, and build records.
    fn engine_entries() -> Vec<In> {
        vec![
            i("usr/", T::Directory, 0o755, b""),
            i("usr/bin/", T::Directory, 0o755, b""),
            i("usr/bin/a", T::Regular, 0o755, b"#!/bin/sh\necho a\n"),
            i("usr/bin/b", T::Link, 0o755, b"usr/bin/a"),
            In {
                xattrs: &[(
                    "security.capability",
                    b"\x01\x00\x00\x02\x00\x20\x00\x00\0\0\0\0\0\0\0\0\0\0\0\0",
                )],
                ..i("usr/bin/ping", T::Regular, 0o755, b"ELF ping")
            },
            i("usr/bin/sh", T::Symlink, 0o777, b"dash"),
            i("dev/", T::Directory, 0o755, b""),
            i("dev/null", T::Char, 0o666, b""),
            i("run/", T::Directory, 0o755, b""),
            i("run/initctl", T::Fifo, 0o600, b""),
            i("etc/", T::Directory, 0o755, b""),
            i("etc/.wh.motd", T::Regular, 0o644, b""),
            i("opt/app/", T::Directory, 0o755, b""),
            i("opt/app/.wh..wh..opq", T::Regular, 0o644, b""),
            In {
                uid: 1000,
                ..i("home/ray/.bashrc", T::Regular, 0o644, b"export A=1\n")
            },
            i(
                "var/log/dpkg.log",
                T::Regular,
                0o644,
                b"2026-12-01 install x\n",
            ),
            i("tmp/", T::Directory, 0o1777, b""),
            i("tmp/build/", T::Directory, 0o755, b""),
            i("tmp/build/big", T::Regular, 0o644, b"big content"),
            i("tmp/.wh.old", T::Regular, 0o644, b""),
            i("usr/lib/", T::Directory, 0o755, b""),
            i("usr/lib/copy", T::Link, 0o644, b"tmp/build/big"),
        ]
    }

    fn engine_tar(order: &[usize], mtime: u64, uname: &str) -> Vec<u8> {
        let all = engine_entries();
        let mut b = tar::Builder::new(Vec::new());
        for &k in order {
            let mut h = tar::Header::new_gnu();
            h.set_groupname(uname).unwrap();
            append_entry(&mut b, &all[k], h, mtime + k as u64, uname);
        }
        b.into_inner().unwrap()
    }

    /// Appends `e` (its xattrs as a PAX header first) with header `h`, as an engine writes it.
    fn append_entry(
        b: &mut tar::Builder<Vec<u8>>,
        e: &In,
        mut h: tar::Header,
        mtime: u64,
        uname: &str,
    ) {
        if !e.xattrs.is_empty() {
            let recs: Vec<(String, &[u8])> = e
                .xattrs
                .iter()
                .map(|(n, v)| (format!("SCHILY.xattr.{n}"), *v))
                .collect();
            b.append_pax_extensions(recs.iter().map(|(k, v)| (k.as_str(), *v)))
                .unwrap();
        }
        h.set_entry_type(e.kind);
        h.set_path(e.path).unwrap();
        h.set_mode(e.mode);
        h.set_uid(e.uid);
        h.set_gid(e.uid);
        h.set_mtime(mtime);
        h.set_username(uname).unwrap();
        let data: &[u8] = match e.kind {
            T::Link | T::Symlink => {
                h.set_link_name(std::str::from_utf8(e.data).unwrap())
                    .unwrap();
                b""
            }
            T::Char => {
                h.set_device_major(1).unwrap();
                h.set_device_minor(3).unwrap();
                b""
            }
            _ => e.data,
        };
        h.set_size(data.len() as u64);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn run(input: &[u8], policy: &DropPolicy, options: &layer::Options) -> (Vec<u8>, Normalised) {
        let t = tempfile::tempdir().unwrap();
        let mut out = Vec::new();
        let n = normalise_layer(&mut &input[..], policy, options, t.path(), &mut out).unwrap();
        assert_eq!(
            std::fs::read_dir(t.path()).unwrap().count(),
            0,
            "scratch file left"
        );
        (out, n)
    }

    #[test]
    fn in_place_gives_the_same_layer_and_the_input_digest() {
        let input = engine_tar(&[3, 1, 0, 2, 4, 5, 6, 7, 8, 9], 1_700_000_123, "builder");
        let (streamed, n) = run(&input, &none(), &plain());
        // The layer as a member at an odd offset of a bigger file, as in a docker-archive.
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("archive.tar");
        let mut bytes = vec![7u8; 1536];
        bytes.extend(&input);
        bytes.extend([9u8; 700]);
        std::fs::write(&file, &bytes).unwrap();
        let mut out = Vec::new();
        let (m, diff_id) =
            normalise_in_place(&file, 1536, input.len() as u64, &none(), &plain(), &mut out)
                .unwrap();
        assert_eq!(out, streamed);
        assert_eq!(m.written, n.written);
        assert_eq!(diff_id, Digest::of(&input));
        // A length past the file's end is an error, not a short layer.
        let mut sink = Vec::new();
        let too_long = input.len() as u64 + 1_000_000;
        assert!(normalise_in_place(&file, 1536, too_long, &none(), &plain(), &mut sink).is_err());
        // A gzip member is for normalise_layer.
        let gz = crate::oci::testutil::gzip(&input);
        std::fs::write(&file, &gz).unwrap();
        let e = normalise_in_place(&file, 0, gz.len() as u64, &none(), &plain(), &mut sink)
            .unwrap_err();
        assert!(e.to_string().contains("compressed"), "{e}");
    }

    #[test]
    fn bytecode_valid_for_its_source_stays_valid_and_deterministic() {
        // A CPython 3.11 header: magic, flags, source mtime, source size.
        fn pyc(flags: u32, mtime: u32, size: u32) -> Vec<u8> {
            let mut v = vec![0xa7, 0x0d, 0x0d, 0x0a];
            v.extend(flags.to_le_bytes());
            v.extend(mtime.to_le_bytes());
            v.extend(size.to_le_bytes());
            v.extend(b"code");
            v
        }
        // `source_mtime`: the engine's `--timestamp` sets every file's mtime, and the
        // normalised epoch is that timestamp; without one, the sources keep the build time.
        let tar_of = |build_time: u64, source_mtime: u64| {
            let mut b = tar::Builder::new(Vec::new());
            let mut add = |path: &str, mtime: u64, data: &[u8]| {
                let mut h = tar::Header::new_gnu();
                h.set_path(path).unwrap();
                h.set_mode(0o644);
                h.set_uid(0);
                h.set_gid(0);
                h.set_mtime(mtime);
                h.set_size(data.len() as u64);
                h.set_cksum();
                b.append(&h, data).unwrap();
            };
            let t = build_time as u32;
            add("p/m.py", source_mtime, b"x=1\n");
            add(
                "p/__pycache__/m.cpython-311.pyc",
                source_mtime,
                &pyc(0, t, 4),
            );
            add(
                "p/__pycache__/m.cpython-311.opt-1.pyc",
                source_mtime,
                &pyc(0, t, 4),
            );
            // A source in a lower layer, a hash-based cache, one of another size: kept.
            add(
                "p/__pycache__/lower.cpython-311.pyc",
                source_mtime,
                &pyc(0, t, 4),
            );
            add("p/n.py", source_mtime, b"y=2\n");
            add(
                "p/__pycache__/n.cpython-311.pyc",
                source_mtime,
                &pyc(1, t, 4),
            );
            add("p/o.py", source_mtime, b"z=3\n");
            add(
                "p/__pycache__/o.cpython-311.pyc",
                source_mtime,
                &pyc(0, t, 9),
            );
            b.into_inner().unwrap()
        };
        let contents = |tar_bytes: &[u8]| -> BTreeMap<String, Vec<u8>> {
            let mut a = tar::Archive::new(tar_bytes);
            a.entries()
                .unwrap()
                .map(|e| {
                    let mut e = e.unwrap();
                    let p = e.path().unwrap().to_string_lossy().into_owned();
                    let mut v = Vec::new();
                    e.read_to_end(&mut v).unwrap();
                    (p, v)
                })
                .collect()
        };
        let options = layer::Options {
            mtime: 7,
            ..plain()
        };
        for engine_timestamp in [true, false] {
            let tar_at = |t: u64| tar_of(t, if engine_timestamp { 7 } else { t });
            let (a, _) = run(&tar_at(1_764_000_000), &none(), &options);
            let (b, _) = run(&tar_at(1_764_000_123), &none(), &options);
            let files = contents(&a);
            assert_eq!(files["p/__pycache__/m.cpython-311.pyc"], pyc(0, 7, 4));
            assert_eq!(files["p/__pycache__/m.cpython-311.opt-1.pyc"], pyc(0, 7, 4));
            let t = 1_764_000_000;
            assert_eq!(files["p/__pycache__/lower.cpython-311.pyc"], pyc(0, t, 4));
            assert_eq!(files["p/__pycache__/n.cpython-311.pyc"], pyc(1, t, 4));
            assert_eq!(files["p/__pycache__/o.cpython-311.pyc"], pyc(0, t, 9));
            let (changed, same): (Vec<_>, Vec<_>) =
                contents(&b).into_iter().partition(|(p, v)| files[p] != *v);
            assert_eq!(
                changed.iter().map(|(p, _)| p.as_str()).collect::<Vec<_>>(),
                [
                    "p/__pycache__/lower.cpython-311.pyc",
                    "p/__pycache__/n.cpython-311.pyc",
                    "p/__pycache__/o.cpython-311.pyc"
                ],
                "only the caches envc leaves alone carry the build time"
            );
            assert_eq!(same.len(), 5);
        }
        assert_eq!(bytecode_source("a/__pycache__/b/c.pyc"), None);
    }

    fn plain() -> layer::Options {
        layer::Options {
            mtime: 1_700_000_000,
            compression: Compression::None,
            ..layer::Options::default()
        }
    }

    fn none() -> DropPolicy {
        DropPolicy::new(&[]).unwrap()
    }

    /// A zstd input (as BuildKit writes with `compression=zstd`) normalises to the layer its
    /// plain tar does, and a zstd output decodes to that layer.
    #[test]
    fn zstd_in_and_out() {
        let all: Vec<usize> = (0..engine_entries().len()).collect();
        let tar = engine_tar(&all, 1_600_000_000, "root");
        let (plain_out, plain_n) = run(&tar, &none(), &plain());
        let zst = crate::oci::zstd::compress_bytes(&tar, 1).unwrap();
        let (out, n) = run(&zst, &none(), &plain());
        assert!(out == plain_out);
        assert_eq!(n.written, plain_n.written);
        let options = layer::Options {
            compression: Compression::Zstd,
            ..plain()
        };
        let (out, n) = run(&tar, &none(), &options);
        assert_eq!(n.written.diff_id, plain_n.written.diff_id);
        assert_eq!(n.written.media_type, crate::oci::MEDIA_TYPE_LAYER_ZSTD);
        let mut back = Vec::new();
        crate::oci::zstd::decoder(&out[..])
            .unwrap()
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == plain_out);
    }

    /// (path, type, mode, uid, mtime, uname, link, size, xattrs) of every entry.
    type Row = (
        String,
        u8,
        u32,
        u64,
        u64,
        String,
        String,
        u64,
        Vec<(String, Vec<u8>)>,
    );

    fn rows(tar_bytes: &[u8]) -> Vec<Row> {
        let mut a = tar::Archive::new(tar_bytes);
        let mut out = Vec::new();
        for e in a.entries().unwrap() {
            let mut e = e.unwrap();
            let mut x = Vec::new();
            if let Some(p) = e.pax_extensions().unwrap() {
                // The tar crate cannot split a value with a newline: such records are skipped.
                for r in p.flatten() {
                    x.push((r.key().unwrap().to_string(), r.value_bytes().to_vec()));
                }
            }
            let h = e.header();
            assert_eq!(h.as_gnu().unwrap().atime, [0; 12]);
            out.push((
                e.path().unwrap().to_string_lossy().into_owned(),
                h.entry_type().as_byte(),
                h.mode().unwrap(),
                h.uid().unwrap(),
                h.mtime().unwrap(),
                h.username().unwrap().unwrap_or("").to_string(),
                e.link_name()
                    .unwrap()
                    .map(|l| l.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                e.size(),
                x,
            ));
        }
        out
    }

    #[test]
    fn any_order_and_any_mtimes_give_the_same_bytes() {
        let n = engine_entries().len();
        let forward: Vec<usize> = (0..n).collect();
        let a = engine_tar(&forward, 1_000, "root");
        // Reversed, except that a hard link's target must come before it in a tar: swap the
        // roles of `usr/bin/a` and `usr/bin/b` instead (b holds the content, a links to it).
        let all_b = {
            // Rebuild the reversed tar with the link group's roles swapped.
            let mut entries = engine_entries();
            entries[2] = i("usr/bin/b", T::Regular, 0o755, b"#!/bin/sh\necho a\n");
            entries[3] = i("usr/bin/a", T::Link, 0o755, b"usr/bin/b");
            let mut b = tar::Builder::new(Vec::new());
            let mut reordered: Vec<usize> = (0..n).rev().collect();
            // `usr/lib/copy` links to `tmp/build/big`: keep the target first.
            let (pc, pb) = (
                reordered.iter().position(|&k| k == 21).unwrap(),
                reordered.iter().position(|&k| k == 18).unwrap(),
            );
            reordered.swap(pc, pb);
            let (p2, p3) = (
                reordered.iter().position(|&k| k == 2).unwrap(),
                reordered.iter().position(|&k| k == 3).unwrap(),
            );
            reordered.swap(p2, p3);
            for k in reordered {
                append_entry(
                    &mut b,
                    &entries[k],
                    tar::Header::new_ustar(),
                    9_999 * k as u64,
                    "someone",
                );
            }
            b.into_inner().unwrap()
        };
        let policy = DropPolicy::default_policy().unwrap();
        for options in [
            plain(),
            layer::Options {
                mtime: 7,
                ..layer::Options::default()
            },
        ] {
            let (out_a, na) = run(&a, &policy, &options);
            let (out_b, nb) = run(&gzip(&all_b), &policy, &options);
            assert!(out_a == out_b, "different bytes for the same entries");
            assert_eq!(na, nb);
            // Normalising a normalised layer changes nothing.
            let (again, n2) = run(&out_a, &policy, &options);
            assert!(again == out_a, "normalising twice changed the bytes");
            assert_eq!(n2.written, na.written);
            assert!(n2.dropped.is_empty());
            assert_eq!(
                na.dropped,
                ["tmp/build", "tmp/build/big", "var/log/dpkg.log"]
            );
        }
        let (out, n) = run(&a, &policy, &plain());
        assert_eq!(n.written.diff_id, Digest::of(&out));
        let rows = rows(&out);
        let paths: Vec<&str> = rows.iter().map(|r| r.0.as_str()).collect();
        assert_eq!(
            paths,
            [
                "dev/",
                "dev/null",
                "etc/",
                "etc/.wh.motd",
                "home/ray/.bashrc",
                "opt/app/",
                "opt/app/.wh..wh..opq",
                "run/",
                "run/initctl",
                "tmp/",
                "tmp/.wh.old",
                "usr/",
                "usr/bin/",
                "usr/bin/a",
                "usr/bin/b",
                "usr/bin/ping",
                "usr/bin/sh",
                "usr/lib/",
                "usr/lib/copy",
            ],
            "sorted, no parent added (no `home/` or `home/ray/`), build records dropped"
        );
        for r in &rows {
            assert_eq!(r.4, 1_700_000_000, "{}", r.0);
            assert_eq!(r.5, "", "{}", r.0);
        }
        let get = |p: &str| rows.iter().find(|r| r.0 == p).unwrap();
        assert_eq!(get("usr/bin/a").1, b'0');
        assert_eq!(get("usr/bin/a").7, 17);
        assert_eq!(
            (get("usr/bin/b").1, get("usr/bin/b").6.as_str()),
            (b'1', "usr/bin/a")
        );
        // The dropped file's link carries its content.
        assert_eq!((get("usr/lib/copy").1, get("usr/lib/copy").7), (b'0', 11));
        assert_eq!(get("dev/null").1, b'3');
        assert_eq!(get("run/initctl").1, b'6');
        assert_eq!(get("run/initctl").2 & 0o7777, 0o600);
        assert_eq!(get("tmp/").2 & 0o7777, 0o1777);
        assert_eq!(get("home/ray/.bashrc").3, 1000);
        assert_eq!(get("usr/bin/sh").6, "dash");
        let ping = get("usr/bin/ping");
        assert_eq!(ping.8.len(), 1);
        assert_eq!(ping.8[0].0, "SCHILY.xattr.security.capability");
        assert_eq!(ping.8[0].1.len(), 20);
        assert!(rows
            .iter()
            .filter(|r| r.0 != "usr/bin/ping")
            .all(|r| r.8.is_empty()));
        // GNU tar reads it, capability and all (when it is installed).
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("l.tar");
        std::fs::write(&f, &out).unwrap();
        if let Ok(o) = std::process::Command::new("tar")
            .arg("--xattrs")
            .arg("-tvvf")
            .arg(&f)
            .output()
        {
            if o.status.success() {
                let listing = String::from_utf8_lossy(&o.stdout);
                assert!(listing.contains("usr/bin/b link to usr/bin/a"), "{listing}");
            }
        }
    }

    /// PAX records are read by their lengths: an attribute value with a newline (the `tar`
    /// crate's reader calls it malformed), a long `path`, and a `size` record where the header
    /// says 0 (as Go's archive/tar writes a file over 8 GiB).
    #[test]
    fn pax_records_are_read_by_length() {
        fn pax(records: &[(&str, &[u8])]) -> Vec<u8> {
            let mut data = Vec::new();
            for (k, v) in records {
                let body = 1 + k.len() + 1 + v.len() + 1;
                let mut len = body + 1;
                while len != body + len.to_string().len() {
                    len = body + len.to_string().len();
                }
                data.extend_from_slice(format!("{len} {k}=").as_bytes());
                data.extend_from_slice(v);
                data.push(b'\n');
            }
            let mut h = tar::Header::new_ustar();
            h.set_path("PaxHeaders/x").unwrap();
            h.set_entry_type(T::XHeader);
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            let mut out = h.as_bytes().to_vec();
            out.extend_from_slice(&data);
            out.resize(out.len().div_ceil(512) * 512, 0);
            out
        }
        fn file(path: &str, header_size: u64, data: &[u8]) -> Vec<u8> {
            let mut h = tar::Header::new_ustar();
            h.set_path(path).unwrap();
            h.set_size(header_size);
            h.set_mode(0o755);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(123);
            h.set_cksum();
            let mut out = h.as_bytes().to_vec();
            out.extend_from_slice(data);
            out.resize(out.len().div_ceil(512) * 512, 0);
            out
        }
        let long = format!("usr/{}/tool", "d".repeat(150));
        let cap: &[u8] = b"\x01\x00\x00\x02\x0a\x00\x00\x00";
        let mut input = pax(&[("SCHILY.xattr.security.capability", cap), ("mtime", b"1.5")]);
        input.extend(file("usr/bin/ping", 6, b"ELF  \n"));
        input.extend(pax(&[("path", long.as_bytes()), ("size", b"5")]));
        input.extend(file("ignored", 0, b"hello"));
        input.extend([0u8; 1024]);
        let (out, n) = run(&input, &none(), &plain());
        assert_eq!(n.written.entries, 2);
        let rows = rows(&out);
        assert_eq!(rows[0].0, "usr/bin/ping");
        assert_eq!(rows[0].7, 6);
        assert_eq!(rows[1].0, long);
        assert_eq!(rows[1].7, 5);
        // Written back as one sorted record of its exact bytes (read here by hand, since the
        // tar crate would split the value at its newline).
        let at = out
            .windows(14)
            .position(|w| w == b"././@PaxHeader")
            .unwrap();
        let want = [
            b"45 SCHILY.xattr.security.capability=".as_slice(),
            cap,
            b"\n",
        ]
        .concat();
        assert_eq!(&out[at + 512..at + 512 + want.len()], &want[..]);
        // A damaged record is an error naming where it is.
        let mut broken = pax(&[("path", b"x")]);
        broken[512] = b'7';
        broken.extend(file("a", 0, b""));
        let t = tempfile::tempdir().unwrap();
        let err = normalise_layer(
            &mut &broken[..],
            &none(),
            &plain(),
            t.path(),
            &mut Vec::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("malformed PAX record"), "{err}");
    }

    #[test]
    fn the_default_policy_drops_build_records_only() {
        let p = DropPolicy::default_policy().unwrap();
        assert_eq!(p.patterns().len(), DEFAULT_DROP.len());
        for dropped in [
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "var/lib/apt/lists/partial",
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/archives/curl_8.0_amd64.deb",
            "var/log/apt/history.log",
            "var/log/dpkg.log",
            "var/lib/dpkg/status-old",
            "var/cache/debconf/config.dat-old",
            "var/cache/ldconfig/aux-cache",
            "root/.cache/pip",
            "root/.cache/pip/http/a/b",
            "home/ray/.cache/uv/wheels/x.whl",
            "home/ray/.wget-hsts",
            "tmp/x",
            "tmp/x/y/z",
            "var/tmp/build.log",
        ] {
            assert!(p.matches(dropped), "{dropped}");
        }
        for kept in [
            "etc/ld.so.cache",
            "var/lib/apt/lists",
            "var/lib/dpkg/status",
            "var/cache/debconf/config.dat",
            "var/cache/apt/archives/lock",
            "home/ray/.cache/huggingface/hub/model.bin",
            "root/.cache",
            "tmp",
            "var/log/apt",
            "usr/bin/tmp/x",
        ] {
            assert!(!p.matches(kept), "{kept}");
        }
    }

    #[test]
    fn glob_rules_and_bad_patterns() {
        let p = |pats: &[&str]| {
            DropPolicy::new(&pats.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
        };
        assert!(!p(&["a?c"]).matches("a/c"));
        assert!(p(&["a?c"]).matches("abc/d"));
        assert!(!p(&["*.log"]).matches("var/x.log"));
        assert!(p(&["**/*.log"]).matches("var/x.log"));
        assert!(p(&["var/**"]).matches("var/a/b"));
        assert!(p(&["opt/cache/"]).matches("opt/cache/x"));
        assert!(!p(&["opt/cache"]).matches("opt/cachex"));
        for (bad, why) in [
            ("a[", "drop pattern `a[`"),
            ("/tmp/*", "starts with `/`"),
            ("", "empty"),
        ] {
            let err = DropPolicy::new(&[bad.to_string()]).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[test]
    fn unsafe_duplicate_and_unknown_inputs_are_refused() {
        // Paths written raw (the `tar` crate's `set_path` refuses bad ones).
        let tar_of = crate::oci::testutil::tar_of;
        let t = tempfile::tempdir().unwrap();
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                tar_of(&[("../etc/passwd", b"x")]),
                "entry `../etc/passwd`: an absolute path",
            ),
            (
                tar_of(&[("/etc/passwd", b"x")]),
                "entry `/etc/passwd`: an absolute path",
            ),
            (
                tar_of(&[("a", b"x"), ("./a", b"y")]),
                "entry `a`: appears more than once",
            ),
            (vec![0x28, 0xb5, 0x2f, 0xfd, 0, 0], "incomplete frame"),
            (vec![7u8; 1024], "not a valid tar archive"),
            (
                gzip(b"not a tar at all, but long enough to be read as one block of it......"),
                "the input layer",
            ),
        ];
        for (input, want) in cases {
            let mut out = Vec::new();
            let err = normalise_layer(&mut &input[..], &none(), &plain(), t.path(), &mut out)
                .unwrap_err()
                .to_string();
            assert!(err.contains(want), "{want}: {err}");
            assert_eq!(
                std::fs::read_dir(t.path()).unwrap().count(),
                0,
                "scratch left: {want}"
            );
        }
    }

    #[test]
    fn a_layout_layer_is_rewritten_as_a_new_blob() {
        let t = tempfile::tempdir().unwrap();
        let layout = Layout::open_or_create(&t.path().join("layout")).unwrap();
        let n = engine_entries().len();
        let input = gzip(&engine_tar(&(0..n).collect::<Vec<_>>(), 3, "root"));
        let (digest, size) = layout.write_blob(&input).unwrap();
        let d = Descriptor {
            media_type: crate::oci::MEDIA_TYPE_LAYER_GZIP.into(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        };
        let policy = DropPolicy::default_policy().unwrap();
        let options = layer::Options {
            mtime: 0,
            ..layer::Options::default()
        };
        let (new, diff_id, dropped) = layout.normalise_layer(&d, &policy, &options).unwrap();
        assert_eq!(new.media_type, crate::oci::MEDIA_TYPE_LAYER_GZIP);
        assert_eq!(dropped.len(), 3);
        let stored = std::fs::read(layout.blob_path(&new.digest)).unwrap();
        assert_eq!(Digest::of(&stored), new.digest);
        assert_eq!(stored.len() as u64, new.size);
        let mut tar_bytes = Vec::new();
        flate2::read::MultiGzDecoder::new(&stored[..])
            .read_to_end(&mut tar_bytes)
            .unwrap();
        assert_eq!(Digest::of(&tar_bytes), diff_id);
        assert_eq!(std::fs::read_dir(layout.tmp_dir()).unwrap().count(), 0);
        // A blob that is not what its descriptor says is not rewritten.
        let wrong = Descriptor {
            size: size + 1,
            ..d
        };
        assert!(layout.normalise_layer(&wrong, &policy, &options).is_err());
    }
}
