//! Layer scanning: one streaming read of a layer blob computes its digest and size,
//! decompresses it (gzip, zstd or plain tar), computes the diff_id, walks every tar header to refuse
//! absolute paths and `..` components, and can copy the bytes into the layout on the way, so
//! an import reads each layer exactly once. Moved out of `blob.rs`, which writes blobs.
//!
//! The walk uses envc's own tar reader ([`Reader`]), whose extension records are capped, so a
//! small compressed layer cannot make the walk hold a huge PAX record in memory; and it bounds
//! what no real layer reaches: entries per layer, and each path's length and depth.

use super::blob::{HashingReader, TempBlob, BUF};
use super::error::Error;
use super::tar_read::Reader;
use crate::oci::Compression;
use crate::types::digest::Digest;
use std::io::{self, Read, Write};
use std::path::Path;

/// The reading end of a layer scan: hashes the stored bytes and copies them to `tee`.
struct Tee<R> {
    reader: HashingReader<R>,
    tee: Option<TempBlob>,
    tee_error: Option<io::Error>,
}

impl<R: Read> Read for Tee<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.reader.read(buf)?;
        if let Some(t) = &mut self.tee {
            if let Err(e) = t.write_all(&buf[..n]) {
                self.tee_error = Some(io::Error::new(e.kind(), e.to_string()));
                return Err(e);
            }
        }
        Ok(n)
    }
}

/// The decompression stage; records whether the decoder itself failed.
enum Decoder<R: Read> {
    Plain(R),
    Gzip(Box<HashingReader<flate2::read::MultiGzDecoder<R>>>),
    Zstd(Box<HashingReader<super::zstd::Decoder<R>>>),
}

impl<R: Read> Read for Decoder<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Decoder::Plain(r) => r.read(buf),
            Decoder::Gzip(r) => r.read(buf),
            Decoder::Zstd(r) => r.read(buf),
        }
    }
}

/// What `scan_layer` found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LayerScan {
    /// sha256 and size of the blob as stored.
    pub digest: Digest,
    pub size: u64,
    /// sha256 of the uncompressed tar.
    pub diff_id: Digest,
}

/// Reads one layer blob from `reader` exactly once: blob digest and size, decompression,
/// diff_id and tar-path safety. `layer` (the descriptor's digest) and `path` (where the bytes
/// come from) only name things in errors. With `tee`, every byte read is also written to it;
/// the caller persists it after checking the digests. Returns the tee back.
pub(crate) fn scan_layer<R: Read>(
    reader: R,
    compression: Compression,
    layer: &Digest,
    path: &Path,
    tee: Option<TempBlob>,
) -> Result<(LayerScan, Option<TempBlob>), Error> {
    let source = Tee {
        reader: HashingReader::new(reader, true),
        tee,
        tee_error: None,
    };
    let decoder = match compression {
        Compression::None => Decoder::Plain(source),
        Compression::Gzip => Decoder::Gzip(Box::new(HashingReader::new(
            flate2::read::MultiGzDecoder::new(source),
            false,
        ))),
        Compression::Zstd => Decoder::Zstd(Box::new(HashingReader::new(
            super::zstd::decoder(source).map_err(|e| Error::io(path, e))?,
            false,
        ))),
    };
    // For an uncompressed layer the diff_id is the blob digest: hash once.
    let tar_input = HashingReader::new(decoder, compression != Compression::None);
    let mut archive = Reader::new(std::io::BufReader::with_capacity(BUF, tar_input));
    let walk = check_entries(&mut archive);
    // Drain whatever follows the end-of-archive blocks so that both digests cover every byte.
    let mut buffered = archive.into_inner();
    let drained = walk.and_then(|()| {
        io::copy(&mut buffered, &mut io::sink())
            .map(|_| ())
            .map_err(TarProblem::Io)
    });
    let mut tar_input = buffered.into_inner();
    let diff_from_decoder = tar_input.digest();
    let mut decoder = tar_input.inner;
    if drained.is_err() {
        // The tar walk failed: if the compressed stream is corrupt too, that is the root cause (a
        // damaged deflate stream often decodes to garbage headers before its CRC is checked).
        let _ = io::copy(&mut decoder, &mut io::sink());
    }
    let (mut source, decoder_error) = match decoder {
        Decoder::Plain(s) => (s, None),
        Decoder::Gzip(mut g) => {
            let err = g.error.take().map(|source| Error::CorruptGzip {
                layer: *layer,
                source,
            });
            (g.inner.into_inner(), err)
        }
        Decoder::Zstd(mut z) => {
            let err = z.error.take().map(|source| Error::CorruptZstd {
                layer: *layer,
                source,
            });
            (z.inner.finish().into_inner(), err)
        }
    };
    // Classify a failure by the stage that failed first: the source file, the copy, the
    // blob's digest (bytes that are not what the descriptor names explain any decoding
    // problem), the decoder, or else the tar structure.
    if let Err(problem) = drained {
        if let Some(e) = source.reader.error.take() {
            return Err(Error::io(path, e));
        }
        if let Some(e) = source.tee_error.take() {
            return Err(tee_error(&source.tee, e));
        }
        source.tee = None;
        if io::copy(&mut source, &mut io::sink()).is_ok() {
            if let Some(found) = source.reader.digest() {
                if found != *layer {
                    return Err(Error::DigestMismatch {
                        what: format!("layer {}", path.display()),
                        expected: *layer,
                        found,
                    });
                }
            }
        }
        if let Some(e) = decoder_error {
            return Err(e);
        }
        return Err(match problem {
            TarProblem::Io(e) => Error::CorruptTar {
                layer: *layer,
                source: e,
            },
            TarProblem::Unsafe(p) => Error::UnsafePath {
                layer: *layer,
                path: p,
            },
            TarProblem::Limit(reason) => Error::LayerLimit {
                layer: *layer,
                reason,
            },
        });
    }
    // Anything after the compressed stream (there should be nothing) still counts for the digest.
    io::copy(&mut source, &mut io::sink()).map_err(|e| match source.tee_error.take() {
        Some(t) => tee_error(&source.tee, t),
        None => Error::io(path, e),
    })?;
    let size = source.reader.size;
    let digest = source.reader.digest().unwrap_or(*layer);
    let diff_id = diff_from_decoder.unwrap_or(digest);
    Ok((
        LayerScan {
            digest,
            size,
            diff_id,
        },
        source.tee,
    ))
}

fn tee_error(tee: &Option<TempBlob>, e: io::Error) -> Error {
    match tee {
        Some(t) => Error::io(t.path(), e),
        None => Error::io(Path::new("envc/tmp"), e),
    }
}

enum TarProblem {
    Io(io::Error),
    Unsafe(String),
    Limit(String),
}

/// Entries in one layer: the largest real layers (a CUDA or conda tree) hold a few hundred
/// thousand.
pub(crate) const MAX_ENTRIES: u64 = 4_000_000;
/// A path's length in bytes: Linux's `PATH_MAX`; nothing can create a longer path whole.
pub(crate) const MAX_PATH: usize = 4096;
/// A path's components.
pub(crate) const MAX_DEPTH: usize = 256;

/// Walks every header; refuses absolute paths and `..` components (also in hardlink targets),
/// paths beyond [`MAX_PATH`] bytes or [`MAX_DEPTH`] components, and more than [`MAX_ENTRIES`]
/// entries.
fn check_entries<R: Read>(archive: &mut Reader<R>) -> Result<(), TarProblem> {
    let mut entries = 0u64;
    while let Some(entry) = archive.next_entry().map_err(TarProblem::Io)? {
        entries += 1;
        if entries > MAX_ENTRIES {
            return Err(TarProblem::Limit(format!(
                "it has more than {MAX_ENTRIES} entries, more than envc accepts in one layer"
            )));
        }
        check_path(&entry.path, None)?;
        if entry.kind == tar::EntryType::Link {
            check_path(&entry.link, Some(&entry.path))?;
        }
    }
    Ok(())
}

/// One path of the walk (`of`: the hard link whose target it is).
fn check_path(path: &[u8], of: Option<&[u8]>) -> Result<(), TarProblem> {
    let name = || match of {
        Some(link) => format!(
            "{} (hard link to {})",
            String::from_utf8_lossy(link),
            String::from_utf8_lossy(path)
        ),
        None => String::from_utf8_lossy(path).into_owned(),
    };
    if unsafe_path(path).is_some() {
        return Err(TarProblem::Unsafe(name()));
    }
    if path.len() > MAX_PATH {
        let shown: String = name().chars().take(80).collect();
        return Err(TarProblem::Limit(format!(
            "the path `{shown}…` is {} bytes long, more than {MAX_PATH}",
            path.len()
        )));
    }
    let depth = path.split(|&b| b == b'/').filter(|c| !c.is_empty()).count();
    if depth > MAX_DEPTH {
        let shown: String = name().chars().take(80).collect();
        return Err(TarProblem::Limit(format!(
            "the path `{shown}…` has {depth} components, more than {MAX_DEPTH}"
        )));
    }
    Ok(())
}

/// `Some(path as text)` if `path` is absolute or has a `..` component.
pub(crate) fn unsafe_path(path: &[u8]) -> Option<String> {
    let bad = path.first() == Some(&b'/') || path.split(|&b| b == b'/').any(|c| c == b"..");
    bad.then(|| String::from_utf8_lossy(path).into_owned())
}
