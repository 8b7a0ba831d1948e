//! The layer writer's byte level: tar headers filled field by field (the rules are in the
//! parent module's documentation), GNU long names, the one PAX record kind (extended
//! attributes), file contents copied in bounded chunks, and the writers that hash and count
//! the stream on its way out. Moved out of `layer.rs` to keep it readable; nothing here sorts or
//! validates (that is `layer::plan`).

use super::{io_at, Error, FileSource, Item, ItemKind};
use crate::types::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc;

/// A writer that hashes and counts what passes through it.
pub(super) struct Hashing<W> {
    inner: W,
    sha: Sha256,
    n: u64,
}

impl<W: Write> Hashing<W> {
    pub(super) fn new(inner: W) -> Self {
        Hashing {
            inner,
            sha: Sha256::new(),
            n: 0,
        }
    }

    pub(super) fn finish(self) -> (Digest, u64, W) {
        (
            Digest::from_bytes(self.sha.finalize().into()),
            self.n,
            self.inner,
        )
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(data)?;
        self.sha.update(&data[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn write_all(&mut self, data: &[u8]) -> io::Result<()> {
        self.inner.write_all(data)?;
        self.sha.update(data);
        self.n += data.len() as u64;
        Ok(())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The uncompressed path's writer: it writes `COPY_BUF`-sized chunks to `out` and then hands
/// each chunk to a hashing thread, so sha256 runs alongside reading and writing (two cores);
/// at most a handful of chunks exist at any time.
pub(super) struct Offload<'a, W: Write> {
    pub(super) out: &'a mut W,
    pub(super) buf: Vec<u8>,
    pub(super) to_hash: Option<mpsc::SyncSender<Vec<u8>>>,
    pub(super) back: mpsc::Receiver<Vec<u8>>,
    pub(super) n: u64,
}

impl<W: Write> Offload<'_, W> {
    pub(super) fn ship(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        self.out.write_all(&self.buf)?;
        let next = self
            .back
            .try_recv()
            .unwrap_or_else(|_| Vec::with_capacity(COPY_BUF));
        let full = std::mem::replace(&mut self.buf, next);
        self.to_hash
            .as_ref()
            .and_then(|tx| tx.send(full).ok())
            .ok_or_else(|| io::Error::other("the hashing thread stopped"))
    }
}

impl<W: Write> Write for Offload<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let take = (COPY_BUF - self.buf.len()).min(data.len());
        self.buf.extend_from_slice(&data[..take]);
        self.n += take as u64;
        if self.buf.len() == COPY_BUF {
            self.ship()?;
        }
        Ok(take)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

const BLOCK: usize = 512;
const ZEROS: [u8; 2 * BLOCK] = [0; 2 * BLOCK];
/// The copy buffer for file contents.
pub(super) const COPY_BUF: usize = 1 << 20;

fn pad<W: Write>(w: &mut W, size: u64) -> io::Result<()> {
    let rem = (size % BLOCK as u64) as usize;
    if rem != 0 {
        w.write_all(&ZEROS[..BLOCK - rem])?;
    }
    Ok(())
}

/// The GNU long-name/long-link extension entry, as GNU tar and the `tar` crate write it.
fn write_long<W: Write>(w: &mut W, kind: u8, data: &[u8]) -> io::Result<()> {
    let mut h = tar::Header::new_gnu();
    let name = b"././@LongLink";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64 + 1);
    h.set_entry_type(tar::EntryType::new(kind));
    h.set_cksum();
    w.write_all(h.as_bytes())?;
    w.write_all(data)?;
    w.write_all(&[0])?;
    pad(w, data.len() as u64 + 1)
}

/// The PAX extended header carrying an entry's extended attributes: one
/// `SCHILY.xattr.NAME=VALUE` record per attribute, sorted by name (a `BTreeMap`), in a ustar
/// header named `././@PaxHeader` with every other field fixed. The only PAX record written.
fn write_xattrs<W: Write>(w: &mut W, xattrs: &BTreeMap<String, Vec<u8>>) -> io::Result<()> {
    let mut data = Vec::new();
    for (name, value) in xattrs {
        let body_len = " SCHILY.xattr.".len() + name.len() + 1 + value.len() + 1;
        // The length field counts itself: find the width that is consistent.
        let mut len = body_len + 1;
        while len != body_len + len.to_string().len() {
            len = body_len + len.to_string().len();
        }
        data.extend_from_slice(format!("{len} SCHILY.xattr.{name}=").as_bytes());
        data.extend_from_slice(value);
        data.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    let name = b"././@PaxHeader";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    h.set_size(data.len() as u64);
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_cksum();
    w.write_all(h.as_bytes())?;
    w.write_all(&data)?;
    pad(w, data.len() as u64)
}

fn write_header<W: Write>(w: &mut W, item: &Item, mtime: u64, size: u64) -> io::Result<()> {
    if !item.xattrs.is_empty() {
        write_xattrs(w, &item.xattrs)?;
    }
    let mut h = tar::Header::new_gnu();
    let (entry_type, type_bits) = match item.kind {
        ItemKind::Dir => (tar::EntryType::Directory, 0o040000),
        ItemKind::File(_) | ItemKind::Marker => (tar::EntryType::Regular, 0o100000),
        ItemKind::Symlink(_) => (tar::EntryType::Symlink, 0o120000),
        // GNU tar writes a hard link's mode with the regular-file type bits.
        ItemKind::HardLink(_) => (tar::EntryType::Link, 0o100000),
        ItemKind::CharDevice { .. } => (tar::EntryType::Char, 0o020000),
        ItemKind::BlockDevice { .. } => (tar::EntryType::Block, 0o060000),
        ItemKind::Fifo => (tar::EntryType::Fifo, 0o010000),
    };
    let mut name = item.path.clone().into_bytes();
    if matches!(item.kind, ItemKind::Dir) {
        name.push(b'/');
    }
    let field = &mut h.as_old_mut().name;
    if name.len() > field.len() {
        write_long(w, b'L', &name)?;
    }
    let n = name.len().min(field.len());
    field[..n].copy_from_slice(&name[..n]);
    if let ItemKind::Symlink(target) | ItemKind::HardLink(target) = &item.kind {
        let target = target.as_bytes();
        let field = &mut h.as_old_mut().linkname;
        if target.len() > field.len() {
            write_long(w, b'K', target)?;
        }
        let n = target.len().min(field.len());
        field[..n].copy_from_slice(&target[..n]);
    }
    let (major, minor) = match item.kind {
        ItemKind::CharDevice { major, minor } | ItemKind::BlockDevice { major, minor } => {
            (major, minor)
        }
        _ => (0, 0),
    };
    h.set_entry_type(entry_type);
    h.set_mode(type_bits | item.mode);
    h.set_uid(item.uid as u64);
    h.set_gid(item.gid as u64);
    h.set_mtime(mtime);
    h.set_size(size);
    h.set_device_major(major)?;
    h.set_device_minor(minor)?;
    h.set_cksum();
    w.write_all(h.as_bytes())
}

/// Copies exactly `size` bytes of `file` (opened from `path`) to `w`, and refuses a file that
/// grew meanwhile.
fn copy_file<W: Write>(
    w: &mut W,
    file: &mut fs::File,
    path: &Path,
    size: u64,
    buf: &mut [u8],
) -> Result<(), Error> {
    copy_range(w, file, path, size, buf)?;
    let mut probe = [0u8; 1];
    loop {
        match file.read(&mut probe) {
            Ok(0) => return Ok(()),
            Ok(_) => {
                return Err(Error::FileChanged {
                    path: path.to_path_buf(),
                })
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_at(path)(e)),
        }
    }
}

/// Writes the tar stream of `items` (already planned) to `w`.
pub(super) fn emit<W: Write>(items: &[Item], mtime: u64, w: &mut W) -> Result<(), Error> {
    let mut buf = Vec::new();
    // The file of the last `FileSource::Range`: ranges of one spool file are read through one
    // handle.
    let mut range_file: Option<(PathBuf, fs::File)> = None;
    for item in items {
        match &item.kind {
            ItemKind::Dir
            | ItemKind::Symlink(_)
            | ItemKind::Marker
            | ItemKind::HardLink(_)
            | ItemKind::CharDevice { .. }
            | ItemKind::BlockDevice { .. }
            | ItemKind::Fifo => {
                write_header(w, item, mtime, 0)?;
            }
            ItemKind::File(FileSource::Bytes(data)) => {
                write_header(w, item, mtime, data.len() as u64)?;
                w.write_all(data)?;
                pad(w, data.len() as u64)?;
            }
            ItemKind::File(FileSource::Range { file, offset, len }) => {
                let open = match range_file.take() {
                    Some((p, f)) if p == *file => (p, f),
                    _ => (file.clone(), fs::File::open(file).map_err(io_at(file))?),
                };
                let (_, f) = range_file.insert(open);
                if buf.is_empty() && *len > 0 {
                    buf = vec![0u8; COPY_BUF];
                }
                f.seek(SeekFrom::Start(*offset)).map_err(io_at(file))?;
                write_header(w, item, mtime, *len)?;
                copy_range(w, f, file, *len, &mut buf)?;
                pad(w, *len)?;
            }
            ItemKind::File(FileSource::Path(path)) => {
                // Never open a FIFO or device (open could block) or follow a symlink here.
                let meta = fs::symlink_metadata(path).map_err(io_at(path))?;
                if !meta.file_type().is_file() {
                    return Err(Error::NotRegularFile { path: path.clone() });
                }
                let mut file = fs::File::open(path).map_err(io_at(path))?;
                let meta = file.metadata().map_err(io_at(path))?;
                if !meta.file_type().is_file() {
                    return Err(Error::NotRegularFile { path: path.clone() });
                }
                let size = meta.len();
                if buf.is_empty() && size > 0 {
                    buf = vec![0u8; COPY_BUF];
                }
                write_header(w, item, mtime, size)?;
                copy_file(w, &mut file, path, size, &mut buf)?;
                pad(w, size)?;
            }
        }
    }
    w.write_all(&ZEROS)?;
    Ok(())
}

/// Copies exactly `len` bytes of `file` from where it is positioned (a range of `path`).
fn copy_range<W: Write>(
    w: &mut W,
    file: &mut fs::File,
    path: &Path,
    len: u64,
    buf: &mut [u8],
) -> Result<(), Error> {
    let mut left = len;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        let n = match file.read(&mut buf[..want]) {
            Ok(0) => {
                return Err(Error::FileChanged {
                    path: path.to_path_buf(),
                })
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_at(path)(e)),
        };
        w.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Counts the bytes that pass through.
pub(super) struct Counting<'a, W: Write> {
    pub(super) out: &'a mut W,
    pub(super) n: u64,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = self.out.write(data)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}
