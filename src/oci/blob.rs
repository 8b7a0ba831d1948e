//! Content-addressed blobs: writing them atomically and checking them while they stream.
//!
//! `BlobWriter` hashes every byte while writing it into a temp file under `envc/tmp` (large
//! blobs in 4 MiB blocks through a small pipeline: one thread hashes, one writes with
//! `O_DIRECT`, so the disk works while the caller produces the next block);
//! `finish` fsyncs and renames the file to `blobs/sha256/<hex>` (or drops it when the layout
//! already holds that content), so a blob at its final path is always complete. A dropped,
//! unfinished writer removes its temp file. `HashingReader` checks a stored blob while it
//! streams out. Reading a layer once to check it is `scan.rs`.

use super::error::Error;
use crate::types::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

/// Buffer size for blob writes and layer reads (large: layers are big and sequential).
pub(crate) const BUF: usize = 1 << 20;

/// Blocks of this size are written by a writer thread with `O_DIRECT`, so the disk works while
/// the caller produces the next block instead of all at once in the final fsync (a 1 GiB
/// layer's fsync alone took 0.7–4.5 s here; direct writes of the same bytes 0.4–0.9 s).
const DIRECT_BLOCK: usize = 4 << 20;
/// Alignment `O_DIRECT` needs for buffers, offsets and lengths.
const DIRECT_ALIGN: usize = 4096;
/// Blocks in flight between the caller and the writer thread (bounds memory: 3 × 4 MiB).
const DIRECT_BUFFERS: usize = 4;

/// A block buffer whose usable part starts on a [`DIRECT_ALIGN`] boundary (the heap buffer of
/// a `Vec` does not move when the `Vec` does).
struct Aligned {
    raw: Vec<u8>,
    off: usize,
}

impl Aligned {
    fn new() -> Aligned {
        let raw = vec![0u8; DIRECT_BLOCK + DIRECT_ALIGN];
        let off = raw.as_ptr().align_offset(DIRECT_ALIGN);
        Aligned { raw, off }
    }

    fn block(&self) -> &[u8] {
        &self.raw[self.off..self.off + DIRECT_BLOCK]
    }

    fn block_mut(&mut self) -> &mut [u8] {
        &mut self.raw[self.off..self.off + DIRECT_BLOCK]
    }
}

type Job = (Aligned, u64);

/// Full blocks go to a writer thread (opened with `O_DIRECT` where the filesystem allows it,
/// plain writes otherwise); the partial last block is written through the ordinary handle when
/// the blob is finished. Small blobs never start the thread.
struct Blocks {
    cur: Aligned,
    fill: usize,
    /// File offset of `cur`.
    pos: u64,
    spare: Vec<Aligned>,
    allocated: usize,
    worker: Option<Worker>,
}

/// The block pipeline's ends: blocks go in, free buffers come back, the hash comes out.
struct Worker {
    blocks: std::sync::mpsc::SyncSender<Job>,
    free: std::sync::mpsc::Receiver<Aligned>,
    done: std::thread::JoinHandle<io::Result<Sha256>>,
}

impl Blocks {
    fn new() -> Blocks {
        Blocks {
            cur: Aligned::new(),
            fill: 0,
            pos: 0,
            spare: Vec::new(),
            allocated: 1,
            worker: None,
        }
    }

    fn start_worker(&mut self, path: &Path) -> io::Result<()> {
        use std::os::unix::fs::{FileExt, OpenOptionsExt};
        let mut options = std::fs::OpenOptions::new();
        options.write(true);
        #[cfg(target_os = "linux")]
        options.custom_flags(libc::O_DIRECT);
        // Filesystems without O_DIRECT (tmpfs) refuse it: write through the page cache then.
        let file = options
            .open(path)
            .or_else(|_| std::fs::OpenOptions::new().write(true).open(path))?;
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(DIRECT_BUFFERS);
        let (to_writer, writer_rx) = std::sync::mpsc::sync_channel::<Job>(DIRECT_BUFFERS);
        let (back_tx, back_rx) = std::sync::mpsc::channel::<Aligned>();
        // Two stages beside the caller's thread: one hashes each block (in order), one writes
        // it. The digest is still computed from exactly the bytes written, and neither the
        // hashing nor the disk holds up the caller while it produces the next block.
        let writer = std::thread::spawn(move || -> io::Result<()> {
            for (buf, pos) in writer_rx {
                file.write_all_at(buf.block(), pos)?;
                // The caller may be gone after an error of its own: nothing to return then.
                let _ = back_tx.send(buf);
            }
            Ok(())
        });
        let handle = std::thread::spawn(move || -> io::Result<Sha256> {
            let mut hasher = Sha256::new();
            for job in rx {
                hasher.update(job.0.block());
                if to_writer.send(job).is_err() {
                    break; // the writer failed: its error is reported below
                }
            }
            drop(to_writer);
            writer
                .join()
                .map_err(|_| io::Error::other("the blob writer thread panicked"))??;
            Ok(hasher)
        });
        self.worker = Some(Worker {
            blocks: tx,
            free: back_rx,
            done: handle,
        });
        Ok(())
    }

    /// Hands the full current block to the writer and takes a free buffer.
    fn ship(&mut self, path: &Path) -> io::Result<()> {
        if self.worker.is_none() {
            self.start_worker(path)?;
        }
        let Some(Worker {
            blocks: tx,
            free: back,
            ..
        }) = &self.worker
        else {
            return Err(io::Error::other("blob writer thread missing"));
        };
        while let Ok(b) = back.try_recv() {
            self.spare.push(b);
        }
        let next = match self.spare.pop() {
            Some(b) => b,
            None if self.allocated < DIRECT_BUFFERS + 1 => {
                self.allocated += 1;
                Aligned::new()
            }
            None => back
                .recv()
                .map_err(|_| io::Error::other("the blob writer thread stopped"))?,
        };
        let full = std::mem::replace(&mut self.cur, next);
        if tx.send((full, self.pos)).is_err() {
            return Err(self
                .join()
                .err()
                .unwrap_or_else(|| io::Error::other("the blob writer thread stopped")));
        }
        self.pos += DIRECT_BLOCK as u64;
        self.fill = 0;
        Ok(())
    }

    fn write(&mut self, path: &Path, mut data: &[u8]) -> io::Result<()> {
        while !data.is_empty() {
            let n = (DIRECT_BLOCK - self.fill).min(data.len());
            self.cur.block_mut()[self.fill..self.fill + n].copy_from_slice(&data[..n]);
            self.fill += n;
            data = &data[n..];
            if self.fill == DIRECT_BLOCK {
                self.ship(path)?;
            }
        }
        Ok(())
    }

    /// Waits for the writer thread: the hash of the blocks it wrote, or its first error.
    fn join(&mut self) -> io::Result<Sha256> {
        match self.worker.take() {
            Some(Worker { blocks, done, .. }) => {
                drop(blocks);
                done.join()
                    .map_err(|_| io::Error::other("the blob writer thread panicked"))?
            }
            None => Ok(Sha256::new()),
        }
    }

    /// Writes everything out (full blocks by the thread, the tail through `file`) and returns
    /// the sha256 of all of it.
    fn finish(&mut self, file: &File) -> io::Result<Sha256> {
        use std::os::unix::fs::FileExt;
        let mut hasher = self.join()?;
        let tail = &self.cur.block()[..self.fill];
        file.write_all_at(tail, self.pos)?;
        hasher.update(tail);
        Ok(hasher)
    }
}

/// A temp file that becomes a blob: bytes go in unhashed, the caller names the digest.
pub(crate) struct TempBlob {
    file: tempfile::NamedTempFile,
    blocks: Blocks,
    tmp_dir: PathBuf,
    blobs_dir: PathBuf,
}

impl std::fmt::Debug for TempBlob {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TempBlob")
            .field("path", &self.file.path())
            .finish()
    }
}

impl TempBlob {
    /// Where the bytes are going (named in errors).
    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }

    pub(crate) fn new(tmp_dir: &Path, blobs_dir: &Path) -> Result<TempBlob, Error> {
        let file = tempfile::Builder::new()
            .prefix("blob-")
            .permissions(new_file_permissions())
            .tempfile_in(tmp_dir)
            .map_err(|e| Error::io(tmp_dir, e))?;
        Ok(TempBlob {
            file,
            blocks: Blocks::new(),
            tmp_dir: tmp_dir.to_path_buf(),
            blobs_dir: blobs_dir.to_path_buf(),
        })
    }

    /// Writes out, fsyncs and renames the temp file to `blobs/sha256/<hex of digest>`; when
    /// that path already exists the temp file is dropped instead (same digest, same content).
    pub(crate) fn persist(self, digest: &Digest) -> Result<(), Error> {
        self.written()?.persist(digest)
    }

    /// Writes everything to the temp file (the writer thread and its buffers end here), to be
    /// persisted later: an import keeps every layer in `envc/tmp` until all are verified.
    pub(crate) fn written(self) -> Result<WrittenBlob, Error> {
        Ok(self.written_hashed()?.0)
    }

    /// [`TempBlob::written`], and the sha256 of what was written.
    fn written_hashed(mut self) -> Result<(WrittenBlob, Sha256), Error> {
        let hash = self.write_out()?;
        let TempBlob {
            file,
            tmp_dir,
            blobs_dir,
            ..
        } = self;
        Ok((
            WrittenBlob {
                file,
                tmp_dir,
                blobs_dir,
            },
            hash,
        ))
    }

    /// Writes everything to the file; returns the sha256 of what was written.
    fn write_out(&mut self) -> Result<Sha256, Error> {
        self.blocks
            .finish(self.file.as_file())
            .map_err(|e| Error::io(&self.tmp_dir, e))
    }
}

/// A temp file holding a whole blob, not yet named by its digest; dropped, it is removed.
pub(crate) struct WrittenBlob {
    file: tempfile::NamedTempFile,
    tmp_dir: PathBuf,
    blobs_dir: PathBuf,
}

impl WrittenBlob {
    /// Fsyncs and renames the file to `blobs/sha256/<hex of digest>` (dropped instead when
    /// that blob exists).
    pub(crate) fn persist(self, digest: &Digest) -> Result<(), Error> {
        let final_path = self.blobs_dir.join(digest.hex());
        if final_path.is_file() {
            return Ok(()); // `file` is dropped and removed
        }
        let file = self.file;
        file.as_file()
            .sync_all()
            .map_err(|e| Error::io(file.path(), e))?;
        file.persist(&final_path)
            .map_err(|e| Error::io(&final_path, e.error))?;
        sync_dir(&self.blobs_dir)?;
        // Its content was hashed on the way in: remember the file as checked.
        if let Some(envc) = self.tmp_dir.parent() {
            record_checked(&envc.join("checked"), digest, &final_path);
        }
        Ok(())
    }
}

impl Drop for Blocks {
    fn drop(&mut self) {
        // An unfinished blob: stop the writer before its temp file is removed.
        let _ = self.join();
    }
}

impl Write for TempBlob {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let path = self.file.path().to_path_buf();
        self.blocks.write(&path, buf)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Writes one blob: hashes while writing into a temp file under `envc/tmp`; `finish` makes it
/// `blobs/sha256/<hex>` atomically. Obtain one with `Layout::blob_writer`.
pub struct BlobWriter {
    temp: TempBlob,
    size: u64,
}

impl BlobWriter {
    pub(crate) fn new(tmp_dir: &Path, blobs_dir: &Path) -> Result<BlobWriter, Error> {
        Ok(BlobWriter {
            temp: TempBlob::new(tmp_dir, blobs_dir)?,
            size: 0,
        })
    }

    /// Bytes written so far.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Fsyncs and renames the blob into place; returns its digest and size. If the layout
    /// already has a blob with this digest, the temp file is dropped.
    pub fn finish(self) -> Result<(Digest, u64), Error> {
        // The sha256 of exactly the bytes written, computed as they were written.
        let (written, hasher) = self.temp.written_hashed()?;
        let digest = Digest::from_bytes(hasher.finalize().into());
        written.persist(&digest)?;
        Ok((digest, self.size))
    }
}

impl Write for BlobWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.temp.write(buf)?;
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// fsync a directory so that a rename inside it is durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), Error> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

// ---------------------------------------------------------------------------------------------
// Checked blobs: layers reused without reading them

/// What a blob file looked like when envc last hashed it (`envc/checked/<hex>`): inode, size,
/// mtime and ctime, and when that was recorded. An image refers to stored layers without
/// reading them (a no-op rebuild reads only JSON); such a layer is trusted only while its file
/// is unchanged since it was hashed, and is hashed again otherwise. Any write to the file
/// changes its ctime, which no user can set back. As with git's racily clean index entries, a
/// record taken within [`RACY`] of the file's last change proves nothing (a write in the same
/// clock tick keeps the ctime), so such a file is hashed again once, then recorded for good.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct FileStamp {
    ino: u64,
    size: u64,
    mtime: (i64, i64),
    ctime: (i64, i64),
}

const RACY: i64 = 2;

fn stamp(path: &Path) -> Option<FileStamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    m.is_file().then(|| FileStamp {
        ino: m.ino(),
        size: m.len(),
        mtime: (m.mtime(), m.mtime_nsec()),
        ctime: (m.ctime(), m.ctime_nsec()),
    })
}

fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// Records that `blob` (just hashed and found to be `digest`) is sound. A cache: failing to
/// write it only means hashing the blob again later.
pub(crate) fn record_checked(checked_dir: &Path, digest: &Digest, blob: &Path) {
    let Some(s) = stamp(blob) else { return };
    let text = format!(
        "{} {} {} {} {} {} {}\n",
        s.ino,
        s.size,
        s.mtime.0,
        s.mtime.1,
        s.ctime.0,
        s.ctime.1,
        now_secs()
    );
    let _ = std::fs::create_dir_all(checked_dir);
    let _ = std::fs::write(checked_dir.join(digest.hex()), text);
}

/// Whether `blob` is unchanged since it was recorded as checked (and the record is not racy).
pub(crate) fn still_checked(checked_dir: &Path, digest: &Digest, blob: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(checked_dir.join(digest.hex())) else {
        return false;
    };
    let n: Vec<i64> = text
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    let [ino, size, ms, mn, cs, cn, at] = n[..] else {
        return false;
    };
    let recorded = FileStamp {
        ino: ino as u64,
        size: size as u64,
        mtime: (ms, mn),
        ctime: (cs, cn),
    };
    stamp(blob) == Some(recorded) && at - cs >= RACY
}

/// Hashes a stored blob while streaming it: an error unless it is `digest`, `size` bytes.
pub(crate) fn hash_stored(path: &Path, digest: &Digest, size: u64) -> Result<(), Error> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::MissingBlob {
                digest: *digest,
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    let mut r = HashingReader::new(std::io::BufReader::with_capacity(BUF, f), true);
    io::copy(&mut r, &mut io::sink()).map_err(|e| Error::io(path, e))?;
    r.check(digest, size, path)
}

// ---------------------------------------------------------------------------------------------
// Files others read: modes, symlinked destinations, atomic replacement

/// Permissions every file envc creates is opened with: 0666, which the kernel masks with the
/// umask as it creates the file. Passing the mode to `open` instead of reading the umask
/// (`umask(2)` can only be read by changing it) has no race with other threads.
pub(crate) fn new_file_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o666)
}

/// Directories likewise: 0777 masked by the umask.
pub(crate) fn new_dir_permissions() -> std::fs::Permissions {
    use std::os::unix::fs::PermissionsExt;
    std::fs::Permissions::from_mode(0o777)
}

/// The file writing `dest` must replace: `dest` itself, or, when `dest` is a symlink, the file
/// its chain of links names (which need not exist yet), so that the link stays a link.
pub fn resolve_destination(dest: &Path) -> io::Result<PathBuf> {
    let mut p = dest.to_path_buf();
    for _ in 0..40 {
        match std::fs::symlink_metadata(&p) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&p)?;
                p = match p.parent() {
                    Some(dir) if target.is_relative() => dir.join(target),
                    _ => target,
                };
            }
            _ => return Ok(p),
        }
    }
    Err(io::Error::other(format!(
        "too many levels of symbolic links at `{}`",
        dest.display()
    )))
}

/// A temp file in `dir` that is to replace `dest` (already resolved): created 0666 & ~umask,
/// or given `dest`'s permission bits when `dest` exists, so replacing a file keeps its mode.
/// A missing `dir` is reported as such, not as the temp file's name.
pub(crate) fn temp_file_for(
    dir: &Path,
    prefix: &str,
    dest: &Path,
) -> io::Result<tempfile::NamedTempFile> {
    use std::os::unix::fs::PermissionsExt;
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            return Err(io::Error::new(
                io::ErrorKind::NotADirectory,
                format!("`{}` is not a directory", dir.display()),
            ))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("the directory `{}` does not exist", dir.display()),
            ))
        }
        Err(e) => return Err(e),
    }
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .permissions(new_file_permissions())
        .tempfile_in(dir)
        .map_err(|e| {
            // tempfile appends the random temp name; the directory is what the user needs.
            let inner = e
                .get_ref()
                .and_then(|r| std::error::Error::source(r))
                .map_or_else(|| e.to_string(), ToString::to_string);
            io::Error::new(
                e.kind(),
                format!("cannot create a file in `{}`: {inner}", dir.display()),
            )
        })?;
    if let Ok(old) = std::fs::metadata(dest) {
        if old.is_file() {
            let mode = old.permissions().mode() & 0o777;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(mode))?;
        }
    }
    Ok(tmp)
}

/// A file written beside its destination and renamed over it on [`commit`](Self::commit): a
/// reader never sees it half-written, a failure (or a drop) leaves nothing behind, its mode
/// follows [`temp_file_for`] and a symlink at the destination writes the link's target.
pub struct AtomicFile {
    tmp: tempfile::NamedTempFile,
    dest: PathBuf,
}

impl AtomicFile {
    pub fn create(dest: &Path) -> io::Result<AtomicFile> {
        let dest = resolve_destination(dest)?;
        if dest.is_dir() {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                format!("`{}` is a directory", dest.display()),
            ));
        }
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let tmp = temp_file_for(&dir, ".envc-", &dest)?;
        Ok(AtomicFile { tmp, dest })
    }

    /// The temp file's path (for errors while writing).
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn as_file(&self) -> &File {
        self.tmp.as_file()
    }

    /// fsync, rename over the destination, fsync the directory.
    pub fn commit(self) -> io::Result<()> {
        self.tmp.as_file().sync_all()?;
        let dir = self.dest.parent().map(Path::to_path_buf);
        self.tmp.persist(&self.dest).map_err(|e| e.error)?;
        let dir = dir.filter(|d| !d.as_os_str().is_empty());
        File::open(dir.as_deref().unwrap_or(Path::new(".")))?.sync_all()
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.tmp.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.tmp.flush()
    }
}

/// A reader that hashes and counts what passes through it and remembers the first error it
/// passed on (so a caller can tell which stage of a pipeline failed).
pub(crate) struct HashingReader<R> {
    pub(crate) inner: R,
    hasher: Option<Sha256>,
    pub(crate) size: u64,
    pub(crate) error: Option<io::Error>,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R, hash: bool) -> HashingReader<R> {
        HashingReader {
            inner,
            hasher: hash.then(Sha256::new),
            size: 0,
            error: None,
        }
    }

    pub(crate) fn digest(&mut self) -> Option<Digest> {
        self.hasher
            .take()
            .map(|h| Digest::from_bytes(h.finalize().into()))
    }

    /// After reading a whole stored blob: an error unless it had `digest` and `size`.
    pub(crate) fn check(&mut self, digest: &Digest, size: u64, path: &Path) -> Result<(), Error> {
        let found = self.digest().unwrap_or_else(|| Digest::of(b""));
        if found != *digest || self.size != size {
            return Err(Error::CorruptBlob {
                digest: *digest,
                found,
                path: path.to_path_buf(),
            });
        }
        Ok(())
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self.inner.read(buf) {
            Ok(n) => {
                if let Some(h) = &mut self.hasher {
                    h.update(&buf[..n]);
                }
                self.size += n as u64;
                Ok(n)
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Err(e),
            Err(e) => {
                if self.error.is_none() {
                    self.error = Some(io::Error::new(e.kind(), e.to_string()));
                }
                Err(e)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::scan::{scan_layer, LayerScan};
    use crate::oci::testutil::{gzip, tar_of};
    use crate::oci::Compression;

    fn dirs() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let t = tempfile::tempdir().unwrap();
        let tmp = t.path().join("tmp");
        let blobs = t.path().join("blobs");
        std::fs::create_dir_all(&tmp).unwrap();
        std::fs::create_dir_all(&blobs).unwrap();
        (t, tmp, blobs)
    }

    #[test]
    fn a_checked_record_holds_only_while_the_file_is_unchanged() {
        let (t, _tmp, blobs) = dirs();
        let checked = t.path().join("checked");
        let path = blobs.join("b");
        std::fs::write(&path, b"layer bytes").unwrap();
        let d = Digest::of(b"layer bytes");
        hash_stored(&path, &d, 11).unwrap();
        record_checked(&checked, &d, &path);
        // Taken in the same second as the file's last change: racy, proves nothing yet.
        assert!(!still_checked(&checked, &d, &path));
        // The same record taken later (as the next reuse would take it) is trusted.
        let text = std::fs::read_to_string(checked.join(d.hex())).unwrap();
        let mut w: Vec<i64> = text
            .split_whitespace()
            .map(|w| w.parse().unwrap())
            .collect();
        w[6] = w[4] + RACY;
        let later: Vec<String> = w.iter().map(i64::to_string).collect();
        std::fs::write(checked.join(d.hex()), later.join(" ")).unwrap();
        assert!(still_checked(&checked, &d, &path));
        // Any write changes the ctime (and a replacement the inode): hash again.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(&path, b"layer bytez").unwrap();
        assert!(!still_checked(&checked, &d, &path));
        assert!(matches!(
            hash_stored(&path, &d, 11),
            Err(Error::CorruptBlob { .. })
        ));
        assert!(!still_checked(&checked, &Digest::of(b"other"), &path));
    }

    #[test]
    fn large_blobs_go_through_the_block_pipeline_intact() {
        let (_t, tmp, blobs) = dirs();
        // Several full blocks plus an unaligned tail, written in odd-sized pieces.
        let len = 2 * DIRECT_BLOCK + DIRECT_BLOCK / 3 + 4095;
        let mut x: u32 = 1;
        let data: Vec<u8> = (0..len)
            .map(|_| {
                x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                (x >> 24) as u8
            })
            .collect();
        let mut w = BlobWriter::new(&tmp, &blobs).unwrap();
        for piece in data.chunks(1_000_003) {
            w.write_all(piece).unwrap();
        }
        let (digest, size) = w.finish().unwrap();
        assert_eq!((digest, size), (Digest::of(&data), len as u64));
        assert_eq!(std::fs::read(blobs.join(digest.hex())).unwrap(), data);
        assert_eq!(
            std::fs::read_dir(&tmp).unwrap().count(),
            0,
            "no temp file left"
        );
        // An unfinished large writer leaves nothing behind either.
        let mut w = BlobWriter::new(&tmp, &blobs).unwrap();
        w.write_all(&data).unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
    }

    #[test]
    fn writer_is_atomic_and_content_addressed() {
        let (_t, tmp, blobs) = dirs();
        let data = vec![7u8; 3 * BUF + 5];
        let expected = Digest::of(&data);
        let mut w = BlobWriter::new(&tmp, &blobs).unwrap();
        w.write_all(&data[..BUF]).unwrap();
        w.write_all(&data[BUF..]).unwrap();
        assert!(
            !blobs.join(expected.hex()).exists(),
            "no blob before finish"
        );
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 1);
        assert_eq!(w.finish().unwrap(), (expected, data.len() as u64));
        assert_eq!(std::fs::read(blobs.join(expected.hex())).unwrap(), data);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0, "temp renamed");

        // Same content again: the temp file is dropped, the blob untouched.
        let mut w = BlobWriter::new(&tmp, &blobs).unwrap();
        w.write_all(&data).unwrap();
        assert_eq!(w.finish().unwrap().0, expected);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        assert_eq!(std::fs::read_dir(&blobs).unwrap().count(), 1);

        // A writer dropped before finish leaves nothing behind.
        let mut w = BlobWriter::new(&tmp, &blobs).unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(std::fs::read_dir(&tmp).unwrap().count(), 0);
        assert!(!blobs.join(Digest::of(b"partial").hex()).exists());
    }

    #[test]
    fn scan_computes_both_digests_and_tees() {
        let (_t, tmp, blobs) = dirs();
        let tar = tar_of(&[("a/", b""), ("a/b.txt", b"hello")]);
        let gz = gzip(&tar);
        let d = Digest::of(&gz);
        let tee = TempBlob::new(&tmp, &blobs).unwrap();
        let (scan, tee) =
            scan_layer(&gz[..], Compression::Gzip, &d, Path::new("x"), Some(tee)).unwrap();
        assert_eq!(scan.digest, d);
        assert_eq!(scan.size, gz.len() as u64);
        assert_eq!(scan.diff_id, Digest::of(&tar));
        tee.unwrap().persist(&d).unwrap();
        assert_eq!(std::fs::read(blobs.join(d.hex())).unwrap(), gz);

        let (scan, _) = scan_layer(&tar[..], Compression::None, &d, Path::new("x"), None).unwrap();
        assert_eq!(scan.digest, Digest::of(&tar));
        assert_eq!(scan.diff_id, Digest::of(&tar));
    }

    /// A zstd layer: both digests, and a damaged one is a zstd error (its checksum or its
    /// structure), not a tar error.
    #[test]
    fn scan_reads_zstd() {
        let tar = tar_of(&[("a/", b""), ("a/b.txt", &[7u8; 5000])]);
        let zst = crate::oci::zstd::compress_bytes(&tar, 1).unwrap();
        let s = scan(&zst, Compression::Zstd).unwrap();
        assert_eq!((s.digest, s.size), (Digest::of(&zst), zst.len() as u64));
        assert_eq!(s.diff_id, Digest::of(&tar));
        let mut bad = zst.clone();
        let n = bad.len();
        bad[n - 2] ^= 0xff; // the content checksum
        let err = scan(&bad, Compression::Zstd).unwrap_err();
        assert!(matches!(err, Error::CorruptZstd { .. }), "{err}");
        let err = scan(b"not zstd", Compression::Zstd).unwrap_err();
        assert!(matches!(err, Error::CorruptZstd { .. }), "{err}");
        let err = scan(&zst[..n / 2], Compression::Zstd).unwrap_err();
        assert!(matches!(err, Error::CorruptZstd { .. }), "{err}");
    }

    fn scan(bytes: &[u8], c: Compression) -> Result<LayerScan, Error> {
        scan_layer(bytes, c, &Digest::of(bytes), Path::new("x"), None).map(|(s, _)| s)
    }

    #[test]
    fn scan_refuses_bad_layers() {
        for bad in ["../x", "/etc/passwd", "a/../../b", "a/.."] {
            let tar = tar_of(&[("ok", b"1"), (bad, b"2")]);
            let err = scan(&gzip(&tar), Compression::Gzip).unwrap_err();
            assert!(
                matches!(&err, Error::UnsafePath { path, .. } if path == bad),
                "{bad}: {err}"
            );
        }
        let mut gz = gzip(&tar_of(&[("ok", &[1u8; 4000])]));
        let n = gz.len();
        gz[n / 2] ^= 0xff;
        gz[n - 6] ^= 0xff; // the CRC and length trailer
        let err = scan(&gz, Compression::Gzip).unwrap_err();
        assert!(matches!(err, Error::CorruptGzip { .. }), "{err}");
        let err = scan(b"not gzip", Compression::Gzip).unwrap_err();
        assert!(matches!(err, Error::CorruptGzip { .. }), "{err}");
        let err = scan(&[1u8; 1024], Compression::None).unwrap_err();
        assert!(matches!(err, Error::CorruptTar { .. }), "{err}");
        // A truncated tar: the entry's data is cut off.
        let tar = tar_of(&[("f", &[5u8; 3000])]);
        let err = scan(&tar[..1024], Compression::None).unwrap_err();
        assert!(matches!(err, Error::CorruptTar { .. }), "{err}");
        // Bytes that are not what the descriptor names: a digest error, not a gzip error.
        let err = scan_layer(
            &b"not gzip"[..],
            Compression::Gzip,
            &Digest::of(b""),
            Path::new("x"),
            None,
        )
        .unwrap_err();
        assert!(matches!(err, Error::DigestMismatch { .. }), "{err}");
    }

    /// A tar built by the `tar` crate's own writer (long paths as GNU extension entries).
    fn tar_with_paths(paths: &[String]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for p in paths {
            let mut h = tar::Header::new_gnu();
            h.set_size(1);
            h.set_mode(0o644);
            h.set_mtime(0);
            b.append_data(&mut h, p, &b"x"[..]).unwrap();
        }
        b.into_inner().unwrap()
    }

    #[test]
    fn scan_bounds_path_length_depth_and_extension_records() {
        use crate::oci::scan::{MAX_DEPTH, MAX_PATH};
        // At the bounds: accepted.
        let long = format!("{}/f", "d".repeat(MAX_PATH - 2));
        let deep = vec!["a"; MAX_DEPTH].join("/");
        scan(
            &tar_with_paths(&[long.clone(), deep.clone()]),
            Compression::None,
        )
        .unwrap();
        // One past: refused, saying which bound.
        for (path, says) in [
            (format!("x{long}"), "bytes long, more than 4096"),
            (format!("{deep}/b"), "components, more than 256"),
        ] {
            let err = scan(&tar_with_paths(&[path]), Compression::None).unwrap_err();
            assert!(
                matches!(&err, Error::LayerLimit { .. }) && err.to_string().contains(says),
                "{err}"
            );
        }
        // A PAX record of 17 MiB in a small gzip: refused before it is held.
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::XHeader);
        let record = vec![b'a'; 17 << 20];
        h.set_size(record.len() as u64);
        h.set_cksum();
        b.append(&h, record.as_slice()).unwrap();
        let gz = gzip(&b.into_inner().unwrap());
        assert!(gz.len() < 1 << 20);
        let err = scan(&gz, Compression::Gzip).unwrap_err();
        assert!(
            matches!(err, Error::CorruptTar { .. }) && err.to_string().contains("extension"),
            "{err}"
        );
    }
}
