//! A streaming tar reader for layers other tools wrote, for normalisation: 512-byte headers
//! (checksums checked), GNU long names and link names (`L`, `K`), and PAX extended headers
//! (`x`) parsed by their length fields. The `tar` crate's reader (0.4.46) splits PAX records at
//! newlines, so a binary `SCHILY.xattr.security.capability` value holding a `0x0a` byte is
//! "malformed" there; this one follows the record lengths. Used for headers only through
//! `tar::Header`'s field parsers. PAX `path`, `linkpath`, `size`, `uid`, `gid` and
//! `SCHILY.xattr.*` are applied; times, names and other keys are ignored (normalisation
//! replaces them); sparse files and global headers' records are refused or skipped.

use std::collections::BTreeMap;
use std::io::{self, Read};

/// One entry's header, extensions applied.
#[derive(Debug, Clone)]
pub(crate) struct RawEntry {
    pub(crate) path: Vec<u8>,
    pub(crate) link: Vec<u8>,
    pub(crate) kind: tar::EntryType,
    /// The mode field (file type bits included, as written).
    pub(crate) mode: u32,
    pub(crate) uid: u64,
    pub(crate) gid: u64,
    pub(crate) device: Option<(u32, u32)>,
    pub(crate) size: u64,
    /// The header's mtime, in whole seconds (a bad field reads as 0: only the Python
    /// bytecode check in normalisation looks at it).
    pub(crate) mtime: u64,
    pub(crate) xattrs: BTreeMap<String, Vec<u8>>,
}

/// Reads entries one by one; [`Read`] reads the current entry's content.
pub(crate) struct Reader<R> {
    inner: R,
    /// Content bytes of the current entry not read yet, then its padding.
    remaining: u64,
    padding: u64,
    /// Bytes consumed so far (named in errors).
    pos: u64,
    done: bool,
}

fn bad(msg: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg)
}

/// Extensions met before the entry they apply to.
#[derive(Default)]
struct Pending {
    long_name: Option<Vec<u8>>,
    long_link: Option<Vec<u8>>,
    path: Option<Vec<u8>>,
    link: Option<Vec<u8>>,
    size: Option<u64>,
    uid: Option<u64>,
    gid: Option<u64>,
    xattrs: BTreeMap<String, Vec<u8>>,
}

/// Extension entries larger than this are refused (they hold names and attributes).
const MAX_EXTENSION: u64 = 16 << 20;

impl<R: Read> Reader<R> {
    pub(crate) fn new(inner: R) -> Reader<R> {
        Reader {
            inner,
            remaining: 0,
            padding: 0,
            pos: 0,
            done: false,
        }
    }

    /// Bytes of the stream consumed so far: right after `next_entry`, where the entry's
    /// content starts.
    pub(crate) fn position(&self) -> u64 {
        self.pos
    }

    /// The wrapped reader (positioned after the end-of-archive block when `next` said so).
    pub(crate) fn into_inner(self) -> R {
        self.inner
    }

    /// Reads exactly `buf.len()` bytes; `Ok(false)` on a clean EOF before the first byte.
    fn fill(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        let mut got = 0;
        while got < buf.len() {
            match self.inner.read(&mut buf[got..]) {
                Ok(0) if got == 0 => return Ok(false),
                Ok(0) => {
                    return Err(bad(format!(
                        "the archive is truncated at byte {}",
                        self.pos + got as u64
                    )))
                }
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        self.pos += got as u64;
        Ok(true)
    }

    fn skip(&mut self, mut n: u64) -> io::Result<()> {
        let mut buf = [0u8; 8192];
        while n > 0 {
            let want = n.min(buf.len() as u64) as usize;
            if !self.fill(&mut buf[..want])? {
                return Err(bad(format!(
                    "the archive is truncated at byte {}",
                    self.pos
                )));
            }
            n -= want as u64;
        }
        Ok(())
    }

    fn read_extension(&mut self, size: u64) -> io::Result<Vec<u8>> {
        if size > MAX_EXTENSION {
            return Err(bad(format!(
                "an extension header of {size} bytes at byte {}",
                self.pos
            )));
        }
        let mut data = vec![0u8; size as usize];
        if !self.fill(&mut data)? && size > 0 {
            return Err(bad(format!(
                "the archive is truncated at byte {}",
                self.pos
            )));
        }
        self.skip(pad_of(size))?;
        Ok(data)
    }

    /// The next entry (its content is then read through `Read`, or skipped by the next call);
    /// `None` after the end-of-archive block or at a clean EOF between entries.
    pub(crate) fn next_entry(&mut self) -> io::Result<Option<RawEntry>> {
        if self.done {
            return Ok(None);
        }
        self.skip(self.remaining + self.padding)?;
        self.remaining = 0;
        self.padding = 0;
        let mut pending = Pending::default();
        loop {
            let at = self.pos;
            let mut block = [0u8; 512];
            if !self.fill(&mut block)? {
                if pending.long_name.is_some() || pending.path.is_some() {
                    return Err(bad("the archive ends after an extension header".into()));
                }
                self.done = true;
                return Ok(None);
            }
            if block.iter().all(|&b| b == 0) {
                self.done = true;
                return Ok(None);
            }
            let h = tar::Header::from_byte_slice(&block);
            check_sum(&block, h, at)?;
            let field = |r: io::Result<u64>, what: &str| {
                r.map_err(|e| bad(format!("header at byte {at}: bad {what} field: {e}")))
            };
            let size = field(h.entry_size(), "size")?;
            let kind = h.entry_type();
            match kind.as_byte() {
                b'L' => pending.long_name = Some(trim_nul(self.read_extension(size)?)),
                b'K' => pending.long_link = Some(trim_nul(self.read_extension(size)?)),
                b'x' => {
                    let data = self.read_extension(size)?;
                    parse_pax(&data, &mut pending, at)?;
                }
                b'g' => {
                    // Global records (a comment, a charset): nothing normalisation keeps.
                    self.read_extension(size)?;
                }
                b'S' => {
                    return Err(bad(format!(
                        "header at byte {at}: a GNU sparse file, which envc does not rewrite"
                    )))
                }
                _ => {
                    let path = pending
                        .path
                        .or(pending.long_name)
                        .unwrap_or_else(|| h.path_bytes().into_owned());
                    let link = pending
                        .link
                        .or(pending.long_link)
                        .or_else(|| h.link_name_bytes().map(|l| l.into_owned()))
                        .unwrap_or_default();
                    let size = pending.size.unwrap_or(size);
                    let device = match (h.device_major(), h.device_minor()) {
                        (Ok(Some(a)), Ok(Some(b))) => Some((a, b)),
                        _ => None,
                    };
                    let mode = h
                        .mode()
                        .map_err(|e| bad(format!("header at byte {at}: bad mode field: {e}")))?;
                    // A blank owner field reads as 0, as Go's archive/tar (what engines
                    // unpack with) reads it; anything else that is not a number is refused.
                    let old = h.as_old();
                    let uid = match pending.uid {
                        Some(u) => u,
                        None if blank(&old.uid) => 0,
                        None => field(h.uid(), "uid")?,
                    };
                    let gid = match pending.gid {
                        Some(g) => g,
                        None if blank(&old.gid) => 0,
                        None => field(h.gid(), "gid")?,
                    };
                    // Framed by the size field whatever the type (as the `tar` crate does);
                    // the caller reads content of regular files only.
                    self.remaining = size;
                    self.padding = pad_of(size);
                    return Ok(Some(RawEntry {
                        path,
                        link,
                        kind,
                        mode,
                        uid,
                        gid,
                        device,
                        size,
                        mtime: h.mtime().unwrap_or(0),
                        xattrs: pending.xattrs,
                    }));
                }
            }
        }
    }
}

impl<R: Read> Read for Reader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = (buf.len() as u64).min(self.remaining) as usize;
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(bad(format!(
                "the archive is truncated at byte {} (inside a file)",
                self.pos
            )));
        }
        self.remaining -= n as u64;
        self.pos += n as u64;
        Ok(n)
    }
}

/// A numeric header field of only NULs and spaces.
fn blank(field: &[u8]) -> bool {
    field.iter().all(|&b| b == 0 || b == b' ')
}

fn pad_of(size: u64) -> u64 {
    (512 - size % 512) % 512
}

fn trim_nul(mut v: Vec<u8>) -> Vec<u8> {
    while v.last() == Some(&0) {
        v.pop();
    }
    v
}

fn check_sum(block: &[u8; 512], h: &tar::Header, at: u64) -> io::Result<()> {
    let stored = h
        .cksum()
        .map_err(|e| bad(format!("header at byte {at}: bad checksum field: {e}")))?;
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, &b)| {
            if (148..156).contains(&i) {
                32
            } else {
                b as u32
            }
        })
        .sum();
    if sum != stored {
        return Err(bad(format!(
            "header at byte {at}: wrong checksum (not a tar archive, or a damaged one)"
        )));
    }
    Ok(())
}

/// `LEN KEY=VALUE\n` records, each LEN bytes long (LEN counting itself).
fn parse_pax(data: &[u8], p: &mut Pending, at: u64) -> io::Result<()> {
    let malformed = || bad(format!("header at byte {at}: a malformed PAX record"));
    let mut rest = data;
    while !rest.is_empty() {
        if rest.iter().all(|&b| b == 0) {
            break; // padding some writers leave
        }
        let space = rest.iter().position(|&b| b == b' ').ok_or_else(malformed)?;
        let len: usize = std::str::from_utf8(&rest[..space])
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(malformed)?;
        if len <= space + 1 || len > rest.len() || rest[len - 1] != b'\n' {
            return Err(malformed());
        }
        let record = &rest[space + 1..len - 1];
        let eq = record
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(malformed)?;
        let (key, value) = (&record[..eq], &record[eq + 1..]);
        let num = || -> io::Result<u64> {
            std::str::from_utf8(value)
                .ok()
                .and_then(|s| s.parse().ok())
                .ok_or_else(malformed)
        };
        match key {
            b"path" => p.path = Some(value.to_vec()),
            b"linkpath" => p.link = Some(value.to_vec()),
            b"size" => p.size = Some(num()?),
            b"uid" => p.uid = Some(num()?),
            b"gid" => p.gid = Some(num()?),
            k if k.starts_with(b"GNU.sparse.") => {
                return Err(bad(format!(
                    "header at byte {at}: a PAX sparse file, which envc does not rewrite"
                )))
            }
            k => {
                if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                    let name = String::from_utf8(name.to_vec()).map_err(|_| malformed())?;
                    p.xattrs.insert(name, value.to_vec());
                }
            }
        }
        rest = &rest[len..];
    }
    Ok(())
}
