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
//!
//! This file owns the hash and the zip; `options` the options, the package and the errors;
//! `walk` the traversal and its pattern lists; `remote` the names Ray gives a remote URI.

mod options;
mod remote;
#[cfg(test)]
mod tests;
mod walk;

pub use options::{
    Error, Package, PackageKind, PackageOptions, PackagedFile, RayPackagingEnv, DEFAULT_MAX_SIZE,
    FILE_SIZE_WARNING, RAY_2_60_MAX_SIZE, RAY_DEFAULT_EXCLUDES,
};
pub use remote::remote_cache_name;
pub(crate) use remote::remote_package_name;

use crate::runtime_env::generation::RayGeneration;
use crate::types::digest::Digest;
use options::io_err;
use sha2::Digest as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use walk::{walk, Entry, Kind};

enum RayHasher {
    Sha1(sha1::Sha1),
    Md5(md5::Md5),
}

impl RayHasher {
    fn new(ray: RayGeneration, rel: &str) -> RayHasher {
        let mut h = match ray {
            RayGeneration::V2 => RayHasher::Sha1(sha1::Sha1::new()),
            RayGeneration::V1 => RayHasher::Md5(md5::Md5::new()),
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

/// Streams `abs` (whose size the walk saw as `expected`) through `sink` in chunks of `buf`,
/// feeding the hasher; returns the bytes read. A short read that ends the file at its expected
/// size is its end: most working-dir files fit one read, and the extra read for EOF would be a
/// third of the syscalls of a tree of small files.
fn stream_file(
    abs: &Path,
    expected: u64,
    buf: &mut [u8],
    h: &mut RayHasher,
    mut sink: impl FnMut(&[u8]) -> Result<(), Error>,
) -> Result<u64, Error> {
    let mut f = File::open(abs).map_err(io_err(abs))?;
    let mut total = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(abs)(e)),
        };
        h.update(&buf[..n]);
        sink(&buf[..n])?;
        total += n as u64;
        if n < buf.len() && total == expected {
            break;
        }
    }
    Ok(total)
}

/// Files up to this size (one read buffer) are read ahead by worker threads, whole, and hashed
/// there; larger ones are streamed by the zip writer itself.
const PREFETCH_MAX: u64 = BUF as u64;
/// At most this many files are read ahead of the writer: with [`PREFETCH_MAX`], at most 32 MiB
/// held, whatever the tree (packaging stays within its 64 MiB RSS bar).
const PREFETCH_WINDOW: usize = 128;

/// A small file read ahead: its bytes and the first 8 bytes of Ray's hash of it.
type Prefetched = Result<(Vec<u8>, [u8; 8]), Error>;

/// Reads the small files of `entries` (in their order) on `workers` threads, at most
/// [`PREFETCH_WINDOW`] ahead of the consumer, and hands each to `consume` in order; `None` for
/// an entry that is not a small file. Working dirs are mostly many small files, where the time
/// is the open/read/close of each: two cores do that twice as fast as one.
fn with_prefetch<T>(
    entries: &[Entry],
    ray: RayGeneration,
    workers: usize,
    consume: impl FnOnce(&mut dyn FnMut(usize) -> Option<Prefetched>) -> T,
) -> T {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Condvar, Mutex};
    if workers == 0 {
        return consume(&mut |_| None);
    }
    let small = |e: &Entry| matches!(e.kind, Kind::File { size } if size <= PREFETCH_MAX);
    let slots: Vec<Mutex<Option<Prefetched>>> = entries.iter().map(|_| Mutex::new(None)).collect();
    let next = AtomicUsize::new(0);
    let consumed = AtomicUsize::new(0);
    let done = AtomicBool::new(false);
    let (lock, ready) = (Mutex::new(()), Condvar::new());
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let mut buf = vec![0u8; BUF];
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= entries.len() || done.load(Ordering::SeqCst) {
                        return;
                    }
                    let e = &entries[i];
                    if !small(e) {
                        continue;
                    }
                    // Stay within the window of what the writer has taken.
                    let mut g = lock.lock().expect("not poisoned");
                    while i >= consumed.load(Ordering::SeqCst) + PREFETCH_WINDOW
                        && !done.load(Ordering::SeqCst)
                    {
                        g = ready.wait(g).expect("not poisoned");
                    }
                    drop(g);
                    let Kind::File { size } = e.kind else {
                        continue;
                    };
                    let mut h = RayHasher::new(ray, &e.rel);
                    let mut data = Vec::with_capacity(size as usize);
                    let r = stream_file(&e.abs, size, &mut buf, &mut h, |c| {
                        data.extend_from_slice(c);
                        Ok(())
                    })
                    .map(|_| {
                        let mut acc = [0u8; 8];
                        h.fold_into(&mut acc);
                        (data, acc)
                    });
                    *slots[i].lock().expect("not poisoned") = Some(r);
                    let _g = lock.lock().expect("not poisoned");
                    ready.notify_all();
                }
            });
        }
        let mut take = |i: usize| -> Option<Prefetched> {
            consumed.store(i, Ordering::SeqCst);
            {
                let _g = lock.lock().expect("not poisoned");
                ready.notify_all();
            }
            if !small(&entries[i]) {
                return None;
            }
            let mut g = lock.lock().expect("not poisoned");
            loop {
                if let Some(r) = slots[i].lock().expect("not poisoned").take() {
                    return Some(r);
                }
                g = ready.wait(g).expect("not poisoned");
            }
        };
        let out = consume(&mut take);
        done.store(true, Ordering::SeqCst);
        let _g = lock.lock().expect("not poisoned");
        ready.notify_all();
        out
    })
}

/// Ray's URI for a directory (`get_uri_for_directory`), without writing a zip. No size limit:
/// Ray hashes whatever is there.
pub fn uri_for_dir(root: &Path, options: &PackageOptions) -> Result<String, Error> {
    let w = walk(root, options, None)?;
    let mut acc = *b"00000000";
    let mut buf = vec![0u8; BUF];
    for e in &w.entries {
        let mut h = RayHasher::new(options.ray.generation, &e.rel);
        if let Kind::File { size } = e.kind {
            stream_file(&e.abs, size, &mut buf, &mut h, |_| Ok(()))?;
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
        rayignore: options.ray.size_message,
    };

    let mut acc = *b"00000000";
    let mut files = Vec::new();
    let mut buf = vec![0u8; BUF];
    // Reading ahead pays for itself from a few dozen files on.
    let workers = if entries.len() >= 64 {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(4))
    } else {
        0
    };
    let generation = options.ray.generation;
    with_prefetch(&entries, generation, workers, |take| -> Result<(), Error> {
        for (i, e) in entries.iter().enumerate() {
            let ahead = take(i);
            let prefetched = ahead.is_some();
            let mut h = RayHasher::new(generation, &e.rel);
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
                    let n = match ahead {
                        Some(r) => {
                            let (data, hash) = r?;
                            written += data.len() as u64;
                            if written >= max {
                                return Err(too_large(written, true));
                            }
                            zip.write_all(&data).map_err(io_err(&e.abs))?;
                            for (a, b) in acc.iter_mut().zip(hash) {
                                *a ^= b;
                            }
                            data.len() as u64
                        }
                        None => stream_file(&e.abs, size, &mut buf, &mut h, |chunk| {
                            written += chunk.len() as u64;
                            if written >= max {
                                return Err(too_large(written, true));
                            }
                            zip.write_all(chunk).map_err(io_err(&e.abs))
                        })?,
                    };
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
            // A file read ahead had its hash folded in above.
            if !prefetched {
                h.fold_into(&mut acc);
            }
        }
        Ok(())
    })?;
    let tally = zip.finish().map_err(zerr(&root_name))?.into_inner();
    if tally.count >= max {
        return Err(too_large(tally.count, false));
    }
    if options.ray.package_size_warning
        && options
            .env
            .size_warning(max)
            .is_some_and(|w| tally.count >= w)
    {
        notes.push(size_warning(&root_name, tally.count, max));
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

/// Ray 2.60's warning for a package at or over the warning threshold (`_warn_if_package_size_
/// near_limit`), with envc's cap where Ray names its own.
fn size_warning(root: &str, size: u64, max: u64) -> String {
    format!(
        "The runtime_env package for '{root}' is {}, approaching the maximum upload size of {}. \
         If the upload fails, exclude large directories (commonly '.git', '.venv', or build \
         artifacts) via the 'excludes' option in runtime_env, or list them in '.gitignore' / \
         '.rayignore'. To raise the warning threshold set `RAY_PACKAGE_SIZE_WARNING_MIB=<size_in_MiB>`, \
         or disable the warning entirely with `RAY_PACKAGE_SIZE_WARNING_MIB=-1`. For details see \
         https://docs.ray.io/en/latest/ray-core/handling-dependencies.html#api-reference",
        options::mib(size),
        options::mib(max)
    )
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
