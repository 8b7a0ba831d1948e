//! The OCI library's one error type, apart from the modules that return it so that none of
//! them imports another for it. Messages name the file, blob or reference involved; `Io` is
//! the only variant that is an I/O failure rather than a refused input (callers map exit
//! codes on that).

use crate::types::digest::Digest;
use std::io;
use std::path::{Path, PathBuf};

/// Everything the OCI library can refuse. Messages name the file, blob or reference involved.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not an OCI image layout: {reason}", path.display())]
    NotALayout { path: PathBuf, reason: String },
    #[error("{} is not an oci-archive: {reason}", path.display())]
    NotAnArchive { path: PathBuf, reason: String },
    #[error("{} is not a docker-archive: {reason}", path.display())]
    NotADockerArchive { path: PathBuf, reason: String },
    #[error("{what}: wrong digest: the descriptor says {expected}, the content is {found}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        found: Digest,
    },
    #[error("{what}: wrong size: the descriptor says {expected} bytes, the blob has {found}")]
    SizeMismatch {
        what: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "blob {digest} in the store is corrupt: its content has digest {found} ({}); \
         run `envc verify`, then delete the blob and build again (with `--base` for a base's \
         blob)",
        path.display()
    )]
    CorruptBlob {
        digest: Digest,
        found: Digest,
        path: PathBuf,
    },
    /// A stored blob of another size than its descriptor says: truncated or appended to.
    #[error(
        "blob {digest} in the store is corrupt: it has {found} bytes, its descriptor says \
         {expected} ({}); run `envc verify`, then delete the blob and build again (with \
         `--base` for a base's blob)",
        path.display()
    )]
    CorruptBlobSize {
        digest: Digest,
        expected: u64,
        found: u64,
        path: PathBuf,
    },
    #[error("blob {digest} is missing ({})", path.display())]
    MissingBlob { digest: Digest, path: PathBuf },
    #[error("{what} has media type `{media_type}`, which envc does not accept")]
    UnknownMediaType { what: String, media_type: String },
    #[error("layer {layer} has an unsafe path `{path}` (absolute or with a `..` component)")]
    UnsafePath { layer: Digest, path: String },
    /// A layer beyond a bound of `scan` (entries, path length or depth).
    #[error("layer {layer}: {reason}")]
    LayerLimit { layer: Digest, reason: String },
    #[error("{}: refusing entry `{path}`: {reason}", archive.display())]
    UnsafeArchive {
        archive: PathBuf,
        path: String,
        reason: String,
    },
    /// A layer that cannot be rewritten (normalised): not gzip or tar, or an entry that is
    /// unsafe, duplicated or of a kind envc does not write; `reason` names the entry.
    #[error("{}: {reason}", layer.display())]
    BadLayer { layer: PathBuf, reason: String },
    #[error("layer {layer} is not valid gzip: {source}")]
    CorruptGzip {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer} is not valid zstd: {source}")]
    CorruptZstd {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer} is not a valid tar archive: {source}")]
    CorruptTar {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error(
        "layer {layer}: its uncompressed content has digest {found}, but the config's \
         rootfs.diff_ids says {expected}"
    )]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        found: Digest,
    },
    #[error(
        "no image named `{reference}` in {}{}",
        layout.display(),
        available_refs(.available)
    )]
    RefNotFound {
        reference: String,
        layout: PathBuf,
        available: Vec<String>,
    },
    #[error("base image {}: {reason}", source_path.display())]
    Base {
        source_path: PathBuf,
        reason: String,
    },
    #[error("{what} is not valid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    /// A source's own failure (a registry's, say), kept whole so its caller can tell it apart.
    #[error("{0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
    /// A document could not be serialised (a map with non-string keys, a non-finite float):
    /// returned rather than written as `null` or as nothing.
    #[error("cannot serialise {what} as JSON: {source}")]
    Serialize {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

pub(crate) fn available_refs(refs: &[String]) -> String {
    if refs.is_empty() {
        " (its index names no images)".to_string()
    } else {
        format!(" (it has: {})", refs.join(", "))
    }
}

impl Error {
    pub(crate) fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub(crate) fn not_a_layout(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotALayout {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

pub(crate) fn not_an_archive(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotAnArchive {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}
