//! Packaging a working directory exactly as Ray identifies it.
//!
//! Traversal mirrors Ray 2.40's `_dir_travel` (`ray/_private/runtime_env/packaging.py`):
//! depth-first from the root; at every directory a `.gitignore` there adds one pattern list,
//! rooted at that directory, which applies to the directory itself (as `.`) and its subtree; the
//! user's `excludes` are one list rooted at the working dir; a path is skipped when ANY list
//! matches it, and skipping a directory skips its subtree. Each list is matched like Ray's
//! vendored `pathspec` 0.8.1 (`gitwildmatch`, see [`super::pathspec`]): lines are `strip()`ped,
//! the last matching pattern of the list wins, and a pattern is tested on the path itself, with
//! no trailing slash for a directory (so `build/` never matches the directory `build`, and
//! `["build/", "!build/keep"]` keeps `build/keep`).
//!
//! Ray's URI: `acc = b"00000000"`, XORed with the first 8 bytes of `H(relpath + content)` for
//! every visited path (the root as `.`); SHA-1 for Ray 2, MD5 for Ray 1. The zip holds regular
//! files and directories that are empty on disk (Ray's rule), stored, sorted, with fixed
//! timestamps and permissions; an empty working dir gives one `./` entry. Every file is read
//! once, feeding the URI hash and the zip together; the size limit is checked from `stat` sizes
//! before anything is read, and again as bytes are written.
//!
//! Deviations from Ray (deliberate): symlinks resolving outside the root are refused unless
//! `follow_external_links`; a symlink loop is an error (Ray recurses until it fails); sockets,
//! fifos, devices and dangling links are skipped with a note and count in the URI by name only
//! (what Ray does for an entry it cannot open; Ray would block on a fifo); an unreadable file is
//! an error (Ray silently hashes its name only, then fails when zipping).

use super::pathspec::PathSpec;
use crate::types::digest::Digest;
use sha2::Digest as _;
use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Ray warns about any single file at least this big.
pub const FILE_SIZE_WARNING: u64 = 10 * 1024 * 1024;
/// The default package size limit (Ray 1.x, Anyscale's upload limit, Ray 2's job upload cap).
pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;

/// The Ray generation whose URI hash to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RayVersion {
    /// Ray 1.x: MD5.
    V1,
    /// Ray 2.x: SHA-1.
    #[default]
    V2,
}

/// How to package a directory.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Gitignore-style patterns rooted at the working dir (Ray's `excludes`).
    pub excludes: Vec<String>,
    pub ray: RayVersion,
    /// Packages of this many bytes or more are refused.
    pub max_size: u64,
    /// Follow symlinks that resolve outside the working dir instead of refusing them.
    pub follow_external_links: bool,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            excludes: Vec::new(),
            ray: RayVersion::V2,
            max_size: DEFAULT_MAX_SIZE,
            follow_external_links: false,
        }
    }
}

/// One entry of the zip.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct PackagedFile {
    /// The entry name: a relative path; directories end in `/` (`./` for an empty root).
    pub path: String,
    pub is_dir: bool,
    /// Content bytes (0 for a directory).
    pub size: u64,
}

/// A packaged working directory.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Package {
    /// Ray's URI, `gcs://_ray_pkg_<16 hex>.zip`.
    pub uri: String,
    /// sha256 of the zip bytes: envc's content identity.
    pub sha256: Digest,
    /// Every zip entry, sorted by name.
    pub files: Vec<PackagedFile>,
    /// Number of zip entries.
    pub file_count: usize,
    /// Zip size in bytes.
    pub size: u64,
    /// Skipped special files, large-file warnings.
    pub notes: Vec<String>,
}

/// Why packaging failed. Every I/O error names its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error("directory {path} must be an existing directory")]
    NotADirectory { path: String },
    #[error("{path}: the file name is not valid UTF-8")]
    NonUtf8Name { path: String },
    #[error("{path}: symlink resolves to {target}, outside the working directory (pass --follow-external-links to package it)")]
    ExternalLink { path: String, target: String },
    #[error("{path}: symlink loop (it leads back to {target})")]
    SymlinkLoop { path: String, target: String },
    #[error("{path}: the .gitignore is not valid UTF-8")]
    BadGitignore { path: String },
    #[error("{path}: invalid pattern: {message}")]
    BadPattern { path: String, message: String },
    /// Ray's rule: a package of `max` bytes or more is refused. `at_least` when `size` is a
    /// lower bound (from `stat` sizes, or the bytes written so far).
    #[error("{}", too_large(*.size, *.max, *.at_least))]
    TooLarge { size: u64, max: u64, at_least: bool },
    #[error("{path}: writing the zip: {message}")]
    Zip { path: String, message: String },
    #[error("{0}")]
    Uri(String),
}

fn mib(bytes: u64) -> String {
    format!("{:.2}MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Ray's message, made true at the edges: exact bytes when the two sizes print alike in MiB,
/// and "reaches" for a package exactly at the limit (Ray refuses it too, saying "exceeds").
fn too_large(size: u64, max: u64, at_least: bool) -> String {
    let (s, m) = if mib(size) == mib(max) {
        (
            format!("{} = {size} bytes", mib(size)),
            format!("{} = {max} bytes", mib(max)),
        )
    } else {
        (mib(size), mib(max))
    };
    let s = if at_least { format!("at least {s}") } else { s };
    let verb = if size > max { "exceeds" } else { "reaches" };
    let rule = if size > max {
        ""
    } else {
        " (a package must be smaller than the maximum)"
    };
    format!(
        "Package size ({s}) {verb} the maximum size of {m}{rule}. You can exclude large files \
         using the 'excludes' option to the runtime_env."
    )
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_string_lossy().into_owned(),
        source,
    }
}

// ---------------------------------------------------------------------------------------------
// Pattern lists.

/// One pattern list: a `.gitignore` or the user's excludes, rooted at `base` (relative to the
/// working dir; empty for the root).
struct PatternList {
    base: String,
    spec: PathSpec,
}

impl PatternList {
    fn new(base: &str, lines: &[String], origin: &str) -> Result<PatternList, Error> {
        let spec = PathSpec::from_lines(lines).map_err(|message| Error::BadPattern {
            path: origin.to_string(),
            message,
        })?;
        Ok(PatternList {
            base: base.to_string(),
            spec,
        })
    }

    /// Whether this list excludes `rel` (relative to the working dir; `.` is the root). Only
    /// the path itself is tested, as Ray does: an excluded directory's subtree is never visited.
    fn excludes(&self, rel: &str) -> bool {
        if self.spec.is_empty() {
            return false;
        }
        let local: &str = if self.base.is_empty() {
            rel
        } else if rel == self.base {
            "."
        } else {
            match rel
                .strip_prefix(self.base.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(r) => r,
                None => return false,
            }
        };
        self.spec.match_file(local)
    }
}

// ---------------------------------------------------------------------------------------------
// The walk.

#[derive(Debug)]
enum Kind {
    Dir {
        empty: bool,
    },
    File {
        size: u64,
    },
    /// Socket, fifo, device or dangling link: hashed by name, not packaged.
    Special,
}

#[derive(Debug)]
struct Entry {
    rel: String,
    abs: PathBuf,
    kind: Kind,
}

struct Walker<'a> {
    options: &'a PackageOptions,
    root_canon: PathBuf,
    lists: Vec<PatternList>,
    /// Canonical paths of the directories being traversed.
    active: HashSet<PathBuf>,
    entries: Vec<Entry>,
    notes: Vec<String>,
    /// A lower bound of the zip size, when limiting: never above the real size, so the early
    /// check refuses only packages that cannot fit.
    projected: u64,
    limit: Option<u64>,
}

/// The least zip overhead of one entry: its local and central headers, each with the name.
fn entry_overhead(name_len: usize) -> u64 {
    30 + 46 + 2 * name_len as u64
}

fn join_rel(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

fn read_gitignore(path: &Path) -> Result<Vec<String>, Error> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::BadGitignore {
        path: path.to_string_lossy().into_owned(),
    })?;
    // Python's universal newlines: \n, \r\n and \r all end a line.
    Ok(text
        .split('\n')
        .flat_map(|l| l.split('\r'))
        .map(str::to_string)
        .collect())
}

impl Walker<'_> {
    fn visit(&mut self, abs: &Path, rel: &str, canon_hint: Option<PathBuf>) -> Result<(), Error> {
        let lmeta = fs::symlink_metadata(abs).map_err(io_err(abs))?;
        let mut canon = canon_hint;
        let meta = if lmeta.file_type().is_symlink() {
            match fs::canonicalize(abs) {
                Ok(target) => {
                    if !target.starts_with(&self.root_canon) && !self.options.follow_external_links
                    {
                        return Err(Error::ExternalLink {
                            path: abs.to_string_lossy().into_owned(),
                            target: target.to_string_lossy().into_owned(),
                        });
                    }
                    canon = Some(target);
                    Some(fs::metadata(abs).map_err(io_err(abs))?)
                }
                Err(e) if e.raw_os_error() == Some(40) => {
                    return Err(Error::SymlinkLoop {
                        path: abs.to_string_lossy().into_owned(),
                        target: fs::read_link(abs)
                            .map(|t| t.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(abs)(e)),
            }
        } else {
            Some(lmeta)
        };
        let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());

        // Like Ray: the directory's own .gitignore is in force before the directory is tested.
        let mut pushed = false;
        if is_dir {
            let gi = abs.join(".gitignore");
            if fs::metadata(&gi).is_ok_and(|m| m.is_file()) {
                let lines = read_gitignore(&gi)?;
                let base = if rel == "." { "" } else { rel };
                self.lists
                    .push(PatternList::new(base, &lines, &gi.to_string_lossy())?);
                pushed = true;
            }
        }
        let skip = self.lists.iter().any(|l| l.excludes(rel));
        if !skip {
            self.record(abs, rel, meta.as_ref(), is_dir, canon)?;
        }
        if pushed {
            self.lists.pop();
        }
        Ok(())
    }

    fn record(
        &mut self,
        abs: &Path,
        rel: &str,
        meta: Option<&fs::Metadata>,
        is_dir: bool,
        canon: Option<PathBuf>,
    ) -> Result<(), Error> {
        let Some(meta) = meta else {
            self.notes.push(format!(
                "skipped {rel}: dangling symlink (hashed by name only)"
            ));
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::Special,
            });
            return Ok(());
        };
        if is_dir {
            let canon = canon.unwrap_or_else(|| abs.to_path_buf());
            if !self.active.insert(canon.clone()) {
                return Err(Error::SymlinkLoop {
                    path: abs.to_string_lossy().into_owned(),
                    target: canon.to_string_lossy().into_owned(),
                });
            }
            let mut children = Vec::new();
            for child in fs::read_dir(abs).map_err(io_err(abs))? {
                let child = child.map_err(io_err(abs))?;
                let name = child.file_name();
                let Some(name) = name.to_str() else {
                    return Err(Error::NonUtf8Name {
                        path: child.path().to_string_lossy().into_owned(),
                    });
                };
                children.push(name.to_string());
            }
            children.sort();
            let empty = children.is_empty();
            let name = if rel == "." {
                "./".to_string()
            } else {
                format!("{rel}/")
            };
            if empty {
                self.grow(entry_overhead(name.len()))?;
            }
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::Dir { empty },
            });
            for name in children {
                let child_abs = abs.join(&name);
                let child_canon = canon.join(&name);
                self.visit(&child_abs, &join_rel(rel, &name), Some(child_canon))?;
            }
            self.active.remove(&canon);
        } else if meta.is_file() {
            let size = meta.len();
            if size >= FILE_SIZE_WARNING {
                self.notes.push(format!(
                    "File {rel} is very large ({}). Consider adding this file to the 'excludes' list to skip uploading it",
                    mib(size)
                ));
            }
            self.grow(entry_overhead(rel.len()) + size)?;
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::File { size },
            });
        } else {
            let ft = meta.file_type();
            use std::os::unix::fs::FileTypeExt;
            let what = if ft.is_socket() {
                "socket"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_block_device() || ft.is_char_device() {
                "device"
            } else {
                "special file"
            };
            self.notes
                .push(format!("skipped {rel}: {what} (hashed by name only)"));
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::Special,
            });
        }
        Ok(())
    }

    fn grow(&mut self, by: u64) -> Result<(), Error> {
        self.projected = self.projected.saturating_add(by);
        if let Some(max) = self.limit {
            if self.projected >= max {
                return Err(Error::TooLarge {
                    size: self.projected,
                    max,
                    at_least: true,
                });
            }
        }
        Ok(())
    }
}

fn walk<'a>(
    root: &Path,
    options: &'a PackageOptions,
    limit: Option<u64>,
) -> Result<Walker<'a>, Error> {
    let root_canon = fs::canonicalize(root).map_err(io_err(root))?;
    if !root_canon.is_dir() {
        return Err(Error::NotADirectory {
            path: root.to_string_lossy().into_owned(),
        });
    }
    let excludes = PatternList::new("", &options.excludes, "excludes")?;
    let mut w = Walker {
        options,
        root_canon: root_canon.clone(),
        lists: vec![excludes],
        active: HashSet::new(),
        entries: Vec::new(),
        notes: Vec::new(),
        // The end-of-central-directory record.
        projected: 22,
        limit,
    };
    w.visit(root, ".", Some(root_canon))?;
    Ok(w)
}

// ---------------------------------------------------------------------------------------------
// Hashing.

enum RayHasher {
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
}

impl RayHasher {
    fn new(ray: RayVersion, rel: &str) -> RayHasher {
        let mut h = match ray {
            RayVersion::V2 => RayHasher::Sha1(sha1::Sha1::new()),
            RayVersion::V1 => RayHasher::Md5(md5::Md5::new()),
        };
        h.update(rel.as_bytes());
        h
    }
    fn update(&mut self, b: &[u8]) {
        match self {
            RayHasher::Sha1(h) => h.update(b),
            RayHasher::Md5(h) => h.update(b),
        }
    }
    fn fold_into(self, acc: &mut [u8; 8]) {
        let d: Vec<u8> = match self {
            RayHasher::Sha1(h) => h.finalize().to_vec(),
            RayHasher::Md5(h) => h.finalize().to_vec(),
        };
        for (a, b) in acc.iter_mut().zip(d) {
            *a ^= b;
        }
    }
}

fn uri_of(acc: &[u8; 8]) -> String {
    let hex: String = acc.iter().map(|b| format!("{b:02x}")).collect();
    format!("gcs://_ray_pkg_{hex}.zip")
}

const BUF: usize = 256 * 1024;

/// Streams `abs` through `sink` in chunks, feeding the hasher; returns the bytes read.
fn stream_file(
    abs: &Path,
    h: &mut RayHasher,
    mut sink: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut f = File::open(abs).map_err(io_err(abs))?;
    let mut buf = vec![0u8; BUF];
    let mut total = 0u64;
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(abs)(e)),
        };
        h.update(&buf[..n]);
        sink(&buf[..n])?;
        total += n as u64;
    }
    Ok(total)
}

/// Ray's URI for a directory (`get_uri_for_directory`), without writing a zip. No size limit:
/// Ray hashes whatever is there.
pub fn uri_for_dir(root: &Path, options: &PackageOptions) -> Result<String, Error> {
    let w = walk(root, options, None)?;
    let mut acc = *b"00000000";
    for e in &w.entries {
        let mut h = RayHasher::new(options.ray, &e.rel);
        if let Kind::File { .. } = e.kind {
            stream_file(&e.abs, &mut h, |_| Ok(()))?;
        }
        h.fold_into(&mut acc);
    }
    Ok(uri_of(&acc))
}

/// What a package holds, as paths on disk: for laying a working directory into an image layer
/// with exactly the files Ray would upload.
#[derive(Debug, Clone)]
pub struct Contents {
    /// Ray's URI for the directory.
    pub uri: String,
    /// Regular files: (relative path, absolute path to read), sorted by relative path.
    pub files: Vec<(String, PathBuf)>,
    /// Directories that are empty on disk (Ray keeps them).
    pub empty_dirs: Vec<String>,
    /// Skipped special files.
    pub notes: Vec<String>,
}

/// The contents [`package_dir`] would zip, with the size limit applied, and Ray's URI.
pub fn contents(root: &Path, options: &PackageOptions) -> Result<Contents, Error> {
    let w = walk(root, options, Some(options.max_size))?;
    let uri = uri_for_dir(root, options)?;
    let mut files = Vec::new();
    let mut empty_dirs = Vec::new();
    for e in w.entries {
        match e.kind {
            Kind::File { .. } => files.push((e.rel, e.abs)),
            Kind::Dir { empty: true } if e.rel != "." => empty_dirs.push(e.rel),
            _ => {}
        }
    }
    files.sort();
    empty_dirs.sort();
    Ok(Contents {
        uri,
        files,
        empty_dirs,
        notes: w.notes,
    })
}

/// Counts and hashes the zip bytes as they go out.
struct Tally<W: Write> {
    inner: W,
    sha: sha2::Sha256,
    count: u64,
}

impl<W: Write> Write for Tally<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.sha.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Packages `root` into a deterministic zip written to `out`, and computes Ray's URI in the same
/// pass. On error `out` may hold a partial zip: write to a temporary file and discard it.
pub fn package_dir(
    root: &Path,
    options: &PackageOptions,
    out: impl Write,
) -> Result<Package, Error> {
    let max = options.max_size;
    let w = walk(root, options, Some(max))?;
    let mut notes = w.notes;
    let mut entries = w.entries;
    let zip_name = |e: &Entry| -> String {
        match e.kind {
            Kind::Dir { .. } if e.rel == "." => "./".to_string(),
            Kind::Dir { .. } => format!("{}/", e.rel),
            _ => e.rel.clone(),
        }
    };
    entries.sort_by_cached_key(zip_name);

    let tally = Tally {
        inner: out,
        sha: sha2::Sha256::new(),
        count: 0,
    };
    let mut zip = zip::ZipWriter::new_stream(tally);
    let base = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .last_modified_time(zip::DateTime::default());
    let root_name = root.to_string_lossy().into_owned();
    let zerr = |path: &str| {
        let path = path.to_string();
        move |e: zip::result::ZipError| Error::Zip {
            path,
            message: e.to_string(),
        }
    };
    let too_large = |size: u64, at_least: bool| Error::TooLarge {
        size,
        max,
        at_least,
    };

    let mut acc = *b"00000000";
    let mut files = Vec::new();
    for e in &entries {
        let mut h = RayHasher::new(options.ray, &e.rel);
        let name = zip_name(e);
        match e.kind {
            Kind::Dir { empty: true } => {
                zip.add_directory(name.clone(), base.unix_permissions(0o755))
                    .map_err(zerr(&root_name))?;
                files.push(PackagedFile {
                    path: name,
                    is_dir: true,
                    size: 0,
                });
            }
            Kind::File { size } => {
                let opts = base
                    .unix_permissions(0o644)
                    .large_file(size >= u32::MAX as u64 / 2);
                zip.start_file(name.clone(), opts).map_err(zerr(&e.rel))?;
                let mut written = zip.get_ref().map_or(0, |s| s.get_ref().count);
                let n = stream_file(&e.abs, &mut h, |chunk| {
                    written += chunk.len() as u64;
                    if written >= max {
                        return Err(too_large(written, true));
                    }
                    zip.write_all(chunk).map_err(io_err(&e.abs))
                })?;
                if n != size {
                    notes.push(format!(
                        "{}: changed size while packaging ({size} → {n} bytes)",
                        e.rel
                    ));
                }
                files.push(PackagedFile {
                    path: name,
                    is_dir: false,
                    size: n,
                });
            }
            Kind::Dir { empty: false } | Kind::Special => {}
        }
        h.fold_into(&mut acc);
    }
    let tally = zip.finish().map_err(zerr(&root_name))?.into_inner();
    if tally.count >= max {
        return Err(too_large(tally.count, false));
    }
    let mut inner = tally.inner;
    inner.flush().map_err(io_err(Path::new("<output>")))?;
    Ok(Package {
        uri: uri_of(&acc),
        sha256: Digest::from_bytes(tally.sha.finalize().into()),
        file_count: files.len(),
        files,
        size: tally.count,
        notes,
    })
}

/// Ray's URI for a local `.zip` used as is: `gcs://_ray_pkg_<sha1 of the bytes, 40 hex>.zip`.
pub fn uri_for_zip_file(path: &Path) -> Result<String, Error> {
    let mut f = File::open(path).map_err(io_err(path))?;
    let mut h = sha1::Sha1::new();
    let mut buf = vec![0u8; BUF];
    loop {
        let n = f.read(&mut buf).map_err(io_err(path))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let hex: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("gcs://_ray_pkg_{hex}.zip"))
}

/// Python's `urllib.parse.urlparse(uri)`: scheme (lower case), netloc and path, as Python 3.11
/// splits them (leading C0 controls and spaces stripped, tabs and newlines removed; `;params`
/// cut from the last path segment only for schemes that use them, such as `https`).
fn urlparse(uri: &str) -> Result<(String, String, String), Error> {
    let url: String = uri
        .trim_start_matches(|c: char| c <= ' ')
        .chars()
        .filter(|c| !matches!(c, '\t' | '\r' | '\n'))
        .collect();
    let mut scheme = String::new();
    let mut rest = url.as_str();
    if let Some(i) = url.find(':') {
        let head = &url[..i];
        let scheme_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.');
        if i > 0
            && url.starts_with(|c: char| c.is_ascii_alphabetic())
            && head.chars().all(scheme_char)
        {
            scheme = head.to_ascii_lowercase();
            rest = &url[i + 1..];
        }
    }
    let mut netloc = "";
    if let Some(after) = rest.strip_prefix("//") {
        let end = after.find(['/', '?', '#']).unwrap_or(after.len());
        netloc = &after[..end];
        rest = &after[end..];
        if netloc.contains('[') != netloc.contains(']') {
            return Err(Error::Uri("Invalid IPv6 URL".to_string()));
        }
    }
    let mut path = rest.split('#').next().unwrap_or("");
    path = path.split('?').next().unwrap_or("");
    const USES_PARAMS: &[&str] = &[
        "", "ftp", "hdl", "prospero", "http", "imap", "https", "shttp", "rtsp", "rtspu", "sip",
        "sips", "mms", "sftp", "tel",
    ];
    if USES_PARAMS.contains(&scheme.as_str()) {
        let from = path.rfind('/').unwrap_or(0);
        if let Some(i) = path[from..].find(';') {
            path = &path[..from + i];
        }
    }
    Ok((scheme, netloc.to_string(), path.to_string()))
}

/// The name part of Ray's `parse_uri` for a URI with a remote protocol (the suffix unchecked).
pub(crate) fn remote_package_name(uri: &str) -> Result<String, Error> {
    let (scheme, netloc, path) = urlparse(uri)?;
    Ok(if uri.ends_with(".whl") {
        // Ray tests and splits the URI as given, not the parsed path.
        uri.rsplit('/').next().unwrap_or(uri).to_string()
    } else {
        let mut name = format!("{scheme}_{netloc}{path}");
        for c in ['/', ':', '@', '+', ' '] {
            name = name.replace(c, "_");
        }
        let dots = name.matches('.').count();
        let mut seen = 0;
        name.chars()
            .map(|c| {
                if c == '.' {
                    seen += 1;
                    if seen < dots {
                        return '_';
                    }
                }
                c
            })
            .collect()
    })
}

/// Ray's local cache name for a remote `working_dir` or `py_modules` URI (Ray 2.40's
/// `parse_uri`): `s3://bucket/dir/file.zip` → `s3_bucket_dir_file.zip`; a URI ending in `.whl`
/// keeps its file name (`…/pkg-1.0-py3-none-any.whl` → `pkg-1.0-py3-none-any.whl`), as pip
/// needs the wheel's name. The scheme must be one of Ray 2's remote protocols and the name must
/// end in `.zip` or `.whl` (Ray's `py_modules` rule; a `working_dir` takes only `.zip`).
pub fn remote_cache_name(uri: &str) -> Result<String, Error> {
    let (scheme, _, _) = urlparse(uri)?;
    const PROTOCOLS: &str = "['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE']";
    match scheme.as_str() {
        "s3" | "gs" | "https" | "file" => {}
        "gcs" | "conda" | "pip" | "uv" => {
            return Err(Error::Uri(format!(
                "\"{uri}\" is not a remote URI (remote protocols: https, s3, gs, file)"
            )))
        }
        _ => {
            return Err(Error::Uri(format!(
                "Invalid protocol for runtime_env URI \"{uri}\". Supported protocols: {PROTOCOLS}. Original error: '{scheme}' is not a valid Protocol"
            )))
        }
    }
    let name = remote_package_name(uri)?;
    if !name.ends_with(".zip") && !name.ends_with(".whl") {
        return Err(Error::Uri(
            "Only .zip or .whl files supported for remote URIs.".to_string(),
        ));
    }
    Ok(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().unwrap();
        for (p, c) in files {
            let p = d.path().join(p);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, c).unwrap();
        }
        d
    }

    fn uri(d: &Path, ray: RayVersion, excludes: &[&str]) -> String {
        let o = PackageOptions {
            ray,
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let u = uri_for_dir(d, &o).unwrap();
        let p = package_dir(d, &o, Vec::new()).unwrap();
        assert_eq!(u, p.uri);
        u
    }

    #[test]
    fn reference_vectors() {
        type Vector<'a> = (&'a [(&'a str, &'a str)], &'a str, &'a str);
        let cases: &[Vector] = &[
            (&[], "0a62fe483960e4e9", "6068c19fb3b8530f"),
            (
                &[("a.txt", "hello")],
                "931181291bc7ac88",
                "def3d8d43385acd9",
            ),
            (
                &[("b.txt", "hello")],
                "32c638d95026df69",
                "f97f26747f438067",
            ),
            (
                &[("src/main.py", "print('hi')\n"), ("README.md", "# x\n")],
                "497a788ffb69bb3f",
                "5821434e97583998",
            ),
        ];
        for (files, v2, v1) in cases {
            let d = tree(files);
            assert_eq!(
                uri(d.path(), RayVersion::V2, &[]),
                format!("gcs://_ray_pkg_{v2}.zip")
            );
            assert_eq!(
                uri(d.path(), RayVersion::V1, &[]),
                format!("gcs://_ray_pkg_{v1}.zip")
            );
            for ray in [RayVersion::V1, RayVersion::V2] {
                assert_eq!(
                    uri(d.path(), ray, &["*"]),
                    "gcs://_ray_pkg_3030303030303030.zip"
                );
            }
        }
    }

    fn names(d: &Path, excludes: &[&str]) -> Vec<String> {
        let o = PackageOptions {
            excludes: excludes.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let p = package_dir(d, &o, Vec::new()).unwrap();
        p.files.into_iter().map(|f| f.path).collect()
    }

    #[test]
    fn empty_root_is_one_entry_and_zip_is_deterministic() {
        let d = tree(&[]);
        assert_eq!(names(d.path(), &[]), ["./"]);
        let d = tree(&[("b", "1"), ("a/c", "2")]);
        fs::create_dir(d.path().join("e")).unwrap();
        let o = PackageOptions::default();
        let mut z1 = Vec::new();
        let p1 = package_dir(d.path(), &o, &mut z1).unwrap();
        let mut z2 = Vec::new();
        package_dir(d.path(), &o, &mut z2).unwrap();
        assert_eq!(z1, z2);
        assert_eq!(p1.sha256, Digest::of(&z1));
        assert_eq!(p1.size, z1.len() as u64);
        let names: Vec<_> = p1.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(names, ["a/c", "b", "e/"]);
        let mut ar = zip::ZipArchive::new(io::Cursor::new(z1)).unwrap();
        assert_eq!(ar.len(), 3);
        let f = ar.by_name("a/c").unwrap();
        assert_eq!(f.compression(), zip::CompressionMethod::Stored);
        assert_eq!(f.last_modified().unwrap(), zip::DateTime::default());
        assert_eq!(f.last_modified().unwrap().year(), 1980);
    }

    #[test]
    fn exclusion_semantics() {
        let d = tree(&[
            ("build/keep", ""),
            ("build/drop", ""),
            ("x", ""),
            ("a/x", ""),
        ]);
        assert_eq!(
            names(d.path(), &["build/", "!build/keep"]),
            ["a/x", "build/keep", "x"]
        );
        assert_eq!(names(d.path(), &["./x", "/nonexistent/x"]).len(), 4);
        assert_eq!(
            names(d.path(), &["/x"]),
            ["a/x", "build/drop", "build/keep"]
        );
        let d = tree(&[
            ("sub/.gitignore", "/x\n"),
            ("sub/x", ""),
            ("sub/y/x", ""),
            ("x", ""),
        ]);
        assert_eq!(names(d.path(), &[]), ["sub/.gitignore", "sub/y/x", "x"]);
    }

    #[test]
    fn ray_exclusion_cases() {
        let t = [
            "test1",
            "test2",
            "test3",
            "tmp_dir/test_1",
            "tmp_dir/test_2",
            "tmp_dir/test_3",
            "tmp_dir/sub_dir/test_1",
            "tmp_dir/sub_dir/test_2",
            "cache/test_1",
            "tmp_dir/cache/test_1",
            "another_dir/cache/test_1",
        ];
        let files: Vec<(&str, &str)> = t.iter().map(|p| (*p, "x")).collect();
        let d = tree(&files);
        let mut left = names(
            d.path(),
            &[
                "test2",
                "tmp_dir/sub_dir",
                "tmp_dir/test_1",
                "tmp_dir/test_2",
            ],
        );
        left.sort();
        assert_eq!(
            left,
            [
                "another_dir/cache/test_1",
                "cache/test_1",
                "test1",
                "test3",
                "tmp_dir/cache/test_1",
                "tmp_dir/test_3"
            ]
        );
        fs::write(
            d.path().join(".gitignore"),
            "# Comment\ntest_[12]\n/test1\n!/tmp_dir/sub_dir/test_1\ncache/\n",
        )
        .unwrap();
        assert_eq!(
            names(d.path(), &[]),
            [
                ".gitignore",
                "test2",
                "test3",
                "tmp_dir/sub_dir/test_1",
                "tmp_dir/test_3"
            ]
        );
    }

    #[test]
    fn sparse_10gib_fails_fast() {
        let d = tree(&[]);
        let f = File::create(d.path().join("big")).unwrap();
        f.set_len(10 << 30).unwrap();
        let t = std::time::Instant::now();
        let e = package_dir(d.path(), &PackageOptions::default(), Vec::new()).unwrap_err();
        assert!(t.elapsed().as_secs() < 2);
        let msg = e.to_string();
        assert!(msg.starts_with("Package size (at least 10240.00MiB) exceeds the maximum size of 100.00MiB. You can exclude large files using the 'excludes' option to the runtime_env."), "{msg}");
    }

    /// Issue 7, item 13: at the boundary the limit is exact (refused at `size >= max`, Ray's
    /// rule), the early check never refuses a package that fits, and the message is true.
    #[test]
    fn size_limit_is_exact_at_the_boundary() {
        let many: Vec<(String, String)> = (0..300)
            .map(|i| (format!("d{}/é{i}.txt", i % 7), "x".repeat(i)))
            .collect();
        let many: Vec<(&str, &str)> = many.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
        for files in [&[("f", "hello")][..], &[][..], &many[..]] {
            let d = tree(files);
            fs::create_dir_all(d.path().join("empty/dir")).unwrap();
            let with = |max_size| PackageOptions {
                max_size,
                ..Default::default()
            };
            let size = package_dir(d.path(), &with(u64::MAX), Vec::new())
                .unwrap()
                .size;
            assert_eq!(
                package_dir(d.path(), &with(size + 1), Vec::new())
                    .unwrap()
                    .size,
                size
            );
            let at = package_dir(d.path(), &with(size), Vec::new()).unwrap_err();
            // Refused early (a lower bound reached the limit) or at the end: either way the
            // size named is the package's, and it "reaches" the limit.
            let Error::TooLarge {
                size: s,
                max,
                at_least,
            } = at
            else {
                panic!("{at:?}");
            };
            assert_eq!((s, max), (size, size));
            assert_eq!(
                too_large(s, max, at_least),
                format!(
                    "Package size ({1}{0} = {size} bytes) reaches the maximum size of {0} = {size} \
                     bytes (a package must be smaller than the maximum). You can exclude large \
                     files using the 'excludes' option to the runtime_env.",
                    mib(size),
                    if at_least { "at least " } else { "" }
                )
            );
            let over = package_dir(d.path(), &with(size - 1), Vec::new()).unwrap_err();
            assert!(
                over.to_string().contains(" exceeds the maximum size of "),
                "{over}"
            );
            assert!(!over.to_string().contains("reaches"), "{over}");
        }
        assert_eq!(
            too_large(300 << 20, 100 << 20, false),
            "Package size (300.00MiB) exceeds the maximum size of 100.00MiB. You can exclude \
             large files using the 'excludes' option to the runtime_env."
        );
    }

    #[test]
    fn size_limit_counts_package_bytes() {
        let d = tree(&[("a", "0123456789")]);
        let o = PackageOptions {
            max_size: 100,
            ..Default::default()
        };
        assert!(matches!(
            package_dir(d.path(), &o, Vec::new()),
            Err(Error::TooLarge { .. })
        ));
    }

    #[test]
    fn symlink_loop_is_an_error() {
        let d = tree(&[("a/f", "")]);
        symlink("..", d.path().join("a/up")).unwrap();
        let e = uri_for_dir(d.path(), &PackageOptions::default()).unwrap_err();
        assert!(matches!(e, Error::SymlinkLoop { .. }), "{e}");
        assert!(e.to_string().contains("a/up"), "{e}");
        let d = tree(&[]);
        symlink("self", d.path().join("self")).unwrap();
        let e = uri_for_dir(d.path(), &PackageOptions::default()).unwrap_err();
        assert!(matches!(e, Error::SymlinkLoop { .. }), "{e}");
    }

    #[test]
    fn external_link_refused_unless_allowed() {
        let d = tree(&[]);
        symlink("/etc/passwd", d.path().join("pw")).unwrap();
        let e = package_dir(d.path(), &PackageOptions::default(), Vec::new()).unwrap_err();
        assert!(matches!(e, Error::ExternalLink { .. }));
        assert!(e.to_string().contains("pw") && e.to_string().contains("/etc/passwd"));
        let o = PackageOptions {
            follow_external_links: true,
            ..Default::default()
        };
        let p = package_dir(d.path(), &o, Vec::new()).unwrap();
        assert_eq!(p.files[0].path, "pw");
    }

    #[test]
    fn internal_links_followed() {
        let d = tree(&[("real/f", "x")]);
        symlink("real", d.path().join("ln")).unwrap();
        symlink("real/f", d.path().join("lf")).unwrap();
        assert_eq!(names(d.path(), &[]), ["lf", "ln/f", "real/f"]);
    }

    #[test]
    fn invalid_utf8_name() {
        use std::os::unix::ffi::OsStrExt;
        let d = tree(&[]);
        fs::write(d.path().join(std::ffi::OsStr::from_bytes(b"bad\xff")), "").unwrap();
        let e = uri_for_dir(d.path(), &PackageOptions::default()).unwrap_err();
        assert!(matches!(e, Error::NonUtf8Name { .. }));
        assert!(e.to_string().contains("bad\u{fffd}"), "{e}");
    }

    /// Root can read a mode-000 file, so this case runs only as a non-root user; the
    /// integration test `tests/ray_oracle.rs` runs it under `setpriv --reuid 65534`.
    #[test]
    fn unreadable_file() {
        use std::os::unix::fs::PermissionsExt;
        if unsafe_is_root() {
            eprintln!("skipped: running as root (covered by the setpriv integration test)");
            return;
        }
        let d = tree(&[("secret", "x")]);
        fs::set_permissions(d.path().join("secret"), fs::Permissions::from_mode(0o000)).unwrap();
        let e = package_dir(d.path(), &PackageOptions::default(), Vec::new()).unwrap_err();
        assert!(e.to_string().contains("secret"), "{e}");
    }

    fn unsafe_is_root() -> bool {
        fs::read_to_string("/proc/self/status")
            .map(|s| {
                s.lines()
                    .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"))
            })
            .unwrap_or(false)
    }

    #[test]
    fn fifo_skipped_with_note() {
        let d = tree(&[("a", "x")]);
        let st = std::process::Command::new("mkfifo")
            .arg(d.path().join("p"))
            .status();
        if !st.is_ok_and(|s| s.success()) {
            return;
        }
        let p = package_dir(d.path(), &PackageOptions::default(), Vec::new()).unwrap();
        assert_eq!(p.file_count, 1);
        assert!(
            p.notes.iter().any(|n| n.contains("p: fifo")),
            "{:?}",
            p.notes
        );
    }

    #[test]
    fn zip_file_and_remote_names() {
        let d = tree(&[("x.zip", "hello")]);
        assert_eq!(
            uri_for_zip_file(&d.path().join("x.zip")).unwrap(),
            "gcs://_ray_pkg_aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d.zip"
        );
        assert_eq!(
            remote_cache_name("s3://bucket/dir/file.zip").unwrap(),
            "s3_bucket_dir_file.zip"
        );
        assert_eq!(
            remote_cache_name("https://a.b/c.d.zip").unwrap(),
            "https_a_b_c_d.zip"
        );
        assert_eq!(
            remote_cache_name("s3://bucket/dir/file.tar")
                .unwrap_err()
                .to_string(),
            "Only .zip or .whl files supported for remote URIs."
        );
        // Issue 7, item 15: a wheel keeps its file name (Ray's parse_uri).
        assert_eq!(
            remote_cache_name("https://x.org/a/pkg-1.0-py3-none-any.whl").unwrap(),
            "pkg-1.0-py3-none-any.whl"
        );
        assert_eq!(
            remote_cache_name("s3://b/w/m.whl?v=1").unwrap(),
            "s3_b_w_m.whl"
        );
        // urlparse: the scheme in any case, `;params` only for https.
        assert_eq!(remote_cache_name("S3://B/x.zip").unwrap(), "s3_B_x.zip");
        assert_eq!(
            remote_cache_name("https://h/p/x.zip;v=1").unwrap(),
            "https_h_p_x.zip"
        );
        assert!(remote_cache_name("s3://b/x.zip;v=1").is_err());
        assert!(remote_cache_name("ftp://x/y.zip")
            .unwrap_err()
            .to_string()
            .starts_with("Invalid protocol for runtime_env URI \"ftp://x/y.zip\". Supported protocols: ['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE']. Original error: 'ftp' is not a valid Protocol"));
    }
}
