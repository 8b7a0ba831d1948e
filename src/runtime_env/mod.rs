//! Ray runtime environments.

pub mod merge;
pub mod package;
mod pathspec;
pub mod validate;
pub mod worker_env;
