//! The use cases, as library calls: `check`, `dockerfile`, `build`, `bake`, `bakefile`, `diff`,
//! the store's `list`/`show`/`rollback`/`export` and `verify`/`gc`, and the runtime env's
//! `check`/`normalize`/`merge`/`uri`/`package` ([`runtime_env`]). Each takes typed inputs (paths,
//! [`EnvName`](crate::types::name::EnvName), an options struct; never a clap type), returns a
//! typed outcome, and fails with an [`Error`] whose kind carries its exit code. The CLI
//! (`commands/`) maps arguments to these inputs and formats the outcomes; an HTTP API would
//! call the same functions.
//!
//! Decisions: what a use case says while it runs (a verbose line, a note, the diagnostics of a
//! spec it compiles) goes to a [`Log`] the caller supplies, in the order it happens, so the
//! CLI's stderr is the same whether the use case later succeeds or fails; what it produces is
//! in the outcome. Time is an input (`epoch` fields, from [`crate::epoch`]); nothing here reads
//! the clock, and the process environment only as a template's `env` when `--template` asks
//! for it ([`compile`]).

pub mod bake;
pub mod bakefile;
pub mod build;
pub mod build_text;
pub mod check;
pub mod check_image;
pub mod compile;
pub mod diff;
pub mod dockerfile;
pub mod engine_build;
mod error;
pub mod history;
pub mod import;
pub mod lock;
pub mod locked_build;
pub mod maintenance;
pub mod registry;
pub mod revisions;
pub mod runtime_env;

pub use error::{Error, EXIT_ERROR, EXIT_INTERRUPTED, EXIT_NO, EXIT_OK};

use crate::diag::Diagnostic;
use crate::store::Store;
use std::path::{Path, PathBuf};

/// Where a use case reports while it runs. The CLI's printer writes each to stderr.
pub trait Log {
    /// A line shown under `--verbose`.
    fn verbose(&self, message: &str);
    /// A note worth seeing without `--verbose`.
    fn note(&self, message: &str);
    /// Diagnostics (warnings or errors) of an input the use case read.
    fn diagnostics(&self, diags: &[Diagnostic]);
    /// A line a container engine printed, as it printed it.
    fn engine(&self, _line: &str) {}
    /// A phase of a build finished (`render`, `base`, `build`, `export`, `import`).
    fn phase(&self, _phase: &str, _elapsed: std::time::Duration) {}
}

/// A [`Log`] that drops everything.
pub struct Silent;

impl Log for Silent {
    fn verbose(&self, _: &str) {}
    fn note(&self, _: &str) {}
    fn diagnostics(&self, _: &[Diagnostic]) {}
}

/// The store directory: the one given, else `./.envc/store`.
pub fn store_dir(store: Option<&Path>) -> PathBuf {
    store.map_or_else(|| PathBuf::from(".envc/store"), Path::to_path_buf)
}

/// Runs `f` on the store at `store_dir`, created when missing; a store this created that still
/// holds nothing when `f` fails is removed again, so a failed command leaves the disk as it was.
pub(crate) fn with_store<T>(
    store_dir: &Path,
    f: impl FnOnce(&Store) -> Result<T, Error>,
) -> Result<T, Error> {
    let existed = store_dir.exists();
    let store = Store::open_or_create(store_dir)?;
    let result = f(&store);
    if result.is_err() && !existed && store.is_empty().unwrap_or(false) {
        let _ = std::fs::remove_dir_all(store_dir);
    }
    result
}

/// Opens an existing store.
pub fn open(store: Option<&Path>) -> Result<Store, Error> {
    Ok(Store::open(&store_dir(store))?)
}
