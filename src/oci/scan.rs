//! Layer scanning: one streaming read of a layer blob computes its digest and size,
//! decompresses it (gzip, zstd or plain tar), computes the diff_id, walks every tar header to refuse
//! absolute paths and `..` components, and can copy the bytes into the layout on the way, so
//! an import reads each layer exactly once. Moved out of `blob.rs`, which writes blobs.

use super::blob::{HashingReader, TempBlob, BUF};
use super::error::Error;
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
    let mut archive = tar::Archive::new(std::io::BufReader::with_capacity(BUF, tar_input));
    let walk = check_entries(&mut archive, layer);
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
}

/// Walks every header; refuses absolute paths and `..` components (also in hardlink targets).
fn check_entries<R: Read>(
    archive: &mut tar::Archive<R>,
    _layer: &Digest,
) -> Result<(), TarProblem> {
    for entry in archive.entries().map_err(TarProblem::Io)? {
        let entry = entry.map_err(TarProblem::Io)?;
        let path = entry.path_bytes();
        if let Some(bad) = unsafe_path(&path) {
            return Err(TarProblem::Unsafe(bad));
        }
        if entry.header().entry_type() == tar::EntryType::Link {
            if let Some(target) = entry.link_name_bytes() {
                if let Some(bad) = unsafe_path(&target) {
                    return Err(TarProblem::Unsafe(format!(
                        "{} (hard link to {bad})",
                        String::from_utf8_lossy(&path)
                    )));
                }
            }
        }
    }
    Ok(())
}

/// `Some(path as text)` if `path` is absolute or has a `..` component.
pub(crate) fn unsafe_path(path: &[u8]) -> Option<String> {
    let bad = path.first() == Some(&b'/') || path.split(|&b| b == b'/').any(|c| c == b"..");
    bad.then(|| String::from_utf8_lossy(path).into_owned())
}
