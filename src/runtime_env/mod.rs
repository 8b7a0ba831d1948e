//! Ray runtime environments.

pub mod merge;
pub mod package;
pub mod validate;
