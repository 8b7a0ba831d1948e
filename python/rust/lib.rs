//! `envc._envc`: the native half of the Python SDK, a thin layer over `envc::ops`.
//!
//! Decisions: every function takes plain values (paths, strings, numbers) and returns one JSON
//! string, an envelope `{"ok": VALUE}` or `{"error": {...}}` that the pure-Python package
//! (`python/src/envc/`) unwraps into its dataclasses and exception classes. So the native module
//! defines no Python classes and raises only for arguments of the wrong Python type, and what
//! the SDK returns is exactly the documents the CLI's `--format json` prints (the same `ops`
//! calls, the same serialisers). Every call that reads files, compiles or touches the store runs
//! under `py.detach`, so the GIL is released while it works and other Python threads run.
//! An error document carries `class` (which Python exception), `kind` (a stable code: the
//! error's kind, or a diagnostic code), `message`, `exit_code` (the CLI's for the same failure)
//! and, for refused specs and runtime envs, `diagnostics`.

mod errors;
mod runtime_env;
mod spec;
mod store;

use pyo3::prelude::*;
use serde_json::{json, Value};

/// The JSON envelope of a successful call.
pub(crate) fn ok(value: Value) -> String {
    json!({ "ok": value }).to_string()
}

/// The JSON envelope of a failed call.
pub(crate) fn fail(error: Value) -> String {
    json!({ "error": error }).to_string()
}

/// `Ok` or `Err` of a call, as its envelope.
pub(crate) fn envelope(result: Result<Value, Value>) -> String {
    match result {
        Ok(v) => ok(v),
        Err(e) => fail(e),
    }
}

/// The version of the envc library this module was built from.
#[pyfunction]
fn version() -> &'static str {
    env!("CARGO_PKG_VERSION")
}

#[pymodule]
fn _envc(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(version, m)?)?;
    m.add_function(wrap_pyfunction!(spec::check_path, m)?)?;
    m.add_function(wrap_pyfunction!(spec::check_text, m)?)?;
    m.add_function(wrap_pyfunction!(spec::check_paths, m)?)?;
    m.add_function(wrap_pyfunction!(spec::compile_path, m)?)?;
    m.add_function(wrap_pyfunction!(spec::compile_text, m)?)?;
    m.add_function(wrap_pyfunction!(spec::dockerfile_path, m)?)?;
    m.add_function(wrap_pyfunction!(spec::dockerfile_text, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_env::runtime_env_validate, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_env::runtime_env_merge, m)?)?;
    m.add_function(wrap_pyfunction!(runtime_env::package, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_environments, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_list, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_show, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_diff, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_build, m)?)?;
    m.add_function(wrap_pyfunction!(store::store_rollback, m)?)?;
    Ok(())
}
