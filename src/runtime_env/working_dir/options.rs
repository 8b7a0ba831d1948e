//! What packaging is asked for and what it gives: the options, the package and its entries,
//! and the errors (Ray's size message among them). The other files of `working_dir` build on
//! these; this one imports none of them.

use crate::runtime_env::generation::RayGeneration;
use crate::types::digest::Digest;
use std::io;
use std::path::Path;

/// Ray warns about any single file at least this big.
pub const FILE_SIZE_WARNING: u64 = 10 * 1024 * 1024;
/// The default package size limit (Ray 1.x, Anyscale's upload limit, Ray 2's job upload cap).
pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;

/// How to package a directory.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Gitignore-style patterns rooted at the working dir (Ray's `excludes`).
    pub excludes: Vec<String>,
    /// Whose URI hash to compute: MD5 for Ray 1, SHA-1 for Ray 2.
    pub ray: RayGeneration,
    /// Packages of this many bytes or more are refused.
    pub max_size: u64,
    /// Follow symlinks that resolve outside the working dir instead of refusing them.
    pub follow_external_links: bool,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            excludes: Vec::new(),
            ray: RayGeneration::V2,
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

pub(super) fn mib(bytes: u64) -> String {
    format!("{:.2}MiB", bytes as f64 / (1024.0 * 1024.0))
}

/// Ray's message, made true at the edges: exact bytes when the two sizes print alike in MiB,
/// and "reaches" for a package exactly at the limit (Ray refuses it too, saying "exceeds").
pub(super) fn too_large(size: u64, max: u64, at_least: bool) -> String {
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

pub(super) fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_string_lossy().into_owned(),
        source,
    }
}
