//! Ray runtime environments.

pub mod merge;
mod pathspec;
pub mod validate;
pub mod worker_env;
pub mod working_dir;
