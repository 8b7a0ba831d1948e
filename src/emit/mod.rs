//! Backends: turn a [`Plan`](crate::plan::Plan) into something a builder consumes.

pub mod bakefile;
pub mod dockerfile;
