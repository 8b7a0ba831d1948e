//! What packaging is asked for and what it gives: the options, the package and its entries,
//! and the errors (Ray's size message among them). The other files of `working_dir` build on
//! these; this one imports none of them.

use crate::runtime_env::generation::RayRules;
use crate::types::digest::Digest;
use std::io;
use std::path::Path;

/// Ray warns about any single file at least this big.
pub const FILE_SIZE_WARNING: u64 = 10 * 1024 * 1024;
/// The default package size limit (Ray 1.x, Anyscale's upload limit, Ray 2's job upload cap).
/// Ray 2.60's own cap is [`RAY_2_60_MAX_SIZE`]; envc keeps Anyscale's.
pub const DEFAULT_MAX_SIZE: u64 = 100 * 1024 * 1024;
/// Ray 2.60's cap: `GCS_STORAGE_MAX_SIZE`, `RAY_max_grpc_message_size` (512 MiB).
pub const RAY_2_60_MAX_SIZE: u64 = 512 * 1024 * 1024;
/// Ray 2.60's default excludes for a `working_dir` (`RAY_RUNTIME_ENV_DEFAULT_EXCLUDES`).
pub const RAY_DEFAULT_EXCLUDES: &str = ".git,.venv,venv,__pycache__";

/// What is packaged: Ray 2.60 adds its default excludes to a `working_dir` only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PackageKind {
    #[default]
    WorkingDir,
    PyModule,
}

/// The environment variables Ray's packaging reads, as the caller read them (the library
/// reads no environment: [`RayPackagingEnv::from_env`] is for the CLI's edge).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RayPackagingEnv {
    /// `RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES` (comma-separated; empty disables).
    pub default_excludes_override: Option<String>,
    /// `RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1`: `.gitignore` files are not read (2.40 and 2.60).
    pub ignore_gitignore: bool,
    /// `RAY_PACKAGE_SIZE_WARNING_MIB` (2.60; `-1` or any negative disables, a malformed value
    /// keeps the default).
    pub size_warning_mib: Option<String>,
}

impl RayPackagingEnv {
    /// Reads the three variables from the process environment.
    pub fn from_env() -> RayPackagingEnv {
        RayPackagingEnv {
            default_excludes_override: std::env::var("RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES")
                .ok(),
            ignore_gitignore: std::env::var("RAY_RUNTIME_ENV_IGNORE_GITIGNORE")
                .is_ok_and(|v| v == "1"),
            size_warning_mib: std::env::var("RAY_PACKAGE_SIZE_WARNING_MIB").ok(),
        }
    }

    /// Ray's `get_runtime_env_default_excludes`: split on `,`, entries stripped, empty dropped.
    pub fn default_excludes(&self) -> Vec<String> {
        self.default_excludes_override
            .as_deref()
            .unwrap_or(RAY_DEFAULT_EXCLUDES)
            .split(',')
            .map(|x| x.trim_matches(PY_WHITESPACE))
            .filter(|x| !x.is_empty())
            .map(str::to_string)
            .collect()
    }

    /// Ray 2.60's `_resolve_package_size_warning_threshold`, with envc's cap for Ray's: half of
    /// `max`, or the variable's MiB; `None` when disabled.
    pub fn size_warning(&self, max: u64) -> Option<u64> {
        let default = Some(max / 2);
        let Some(v) = &self.size_warning_mib else {
            return default;
        };
        // Python's int(): surrounding whitespace allowed, an optional sign, digits and `_`.
        let t = v.trim_matches(PY_WHITESPACE);
        match t.replace('_', "").parse::<i64>() {
            Ok(_) if t.starts_with('_') || t.ends_with('_') || t.contains("__") => default,
            Ok(m) if m < 0 => None,
            Ok(m) => Some((m as u64).saturating_mul(1024 * 1024)),
            Err(_) => default,
        }
    }
}

const PY_WHITESPACE: &[char] = &[' ', '\t', '\n', '\r', '\x0b', '\x0c'];

/// How to package a directory.
#[derive(Debug, Clone)]
pub struct PackageOptions {
    /// Gitignore-style patterns rooted at the working dir (Ray's `excludes`).
    pub excludes: Vec<String>,
    /// Whose rules: the URI hash (MD5 for Ray 1, SHA-1 for Ray 2), and from Ray 2.60 the
    /// default excludes, `.rayignore` files, the size warning and the messages.
    pub ray: RayRules,
    /// A `working_dir` (Ray 2.60's default excludes apply) or a `py_modules` directory.
    pub kind: PackageKind,
    /// The environment variables Ray's packaging reads.
    pub env: RayPackagingEnv,
    /// Packages of this many bytes or more are refused.
    pub max_size: u64,
    /// Follow symlinks that resolve outside the working dir instead of refusing them.
    pub follow_external_links: bool,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            excludes: Vec::new(),
            ray: RayRules::NEWEST,
            kind: PackageKind::WorkingDir,
            env: RayPackagingEnv::default(),
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
    #[error("{path}: the ignore file is not valid UTF-8")]
    BadGitignore { path: String },
    #[error("{path}: invalid pattern: {message}")]
    BadPattern { path: String, message: String },
    /// Ray's rule: a package of `max` bytes or more is refused. `at_least` when `size` is a
    /// lower bound (from `stat` sizes, or the bytes written so far).
    #[error("{}", too_large(*.size, *.max, *.at_least, *.rayignore))]
    TooLarge {
        size: u64,
        max: u64,
        at_least: bool,
        /// Ray 2.60's wording (it names `.gitignore` and `.rayignore`).
        rayignore: bool,
    },
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
pub(super) fn too_large(size: u64, max: u64, at_least: bool, rayignore: bool) -> String {
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
    if rayignore {
        return format!(
            "Package size ({s}) {verb} the maximum size of {m}{rule}. To exclude large files, \
             add them to '.gitignore' or '.rayignore' files, or use the 'excludes' option in the \
             runtime_env, or provide a URI of a remote zip file. For more information, refer to \
             https://docs.ray.io/en/latest/ray-core/handling-dependencies.html#api-reference."
        );
    }
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
