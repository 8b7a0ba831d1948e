//! Ray runtime environments: parsing and validating one as Ray does (`parse`, with Python's view
//! of its values in `python`), merging them (`merge`), the worker's environment variables
//! (`worker_env`) and packaging a working directory into Ray's zip and URI (`working_dir`).
//! [`RayRules`] (from `--ray VERSION`) is the one switch for the places where Ray releases differ.

pub mod generation;
pub mod merge;
pub mod parse;
pub(crate) mod pathspec;
pub(crate) mod python;
pub mod worker_env;
pub mod working_dir;

/// The old name of `parse`, for callers outside this folder that other parts of issue 8 are
/// rewriting (`assemble::runtime_env`, `commands::store`); new code names `parse`.
pub use parse as validate;

pub use generation::{RayGeneration, RayRules};
