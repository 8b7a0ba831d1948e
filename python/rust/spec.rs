//! Specs: `check`, `compile` and `dockerfile`, of a file (its `envc.toml` found as `envc check
//! FILE` finds it) or of text (the default configuration, as the server compiles a posted spec).
//!
//! Decisions: `check` never fails for an invalid spec: its diagnostics are the answer, and an
//! unreadable file is its E005 diagnostic, as in `envc check`. `compile` and `dockerfile`
//! refuse an invalid spec with a `spec` error carrying every diagnostic of it; warnings of a
//! usable spec are returned beside the plan. A plan is sent as its canonical JSON (the bytes its
//! digest is taken of), parsed into a value inside the envelope.

use crate::errors;
use crate::{envelope, ok};
use envc::config::Config;
use envc::diag::Diagnostic;
use envc::emit::dockerfile;
use envc::ops::compile::{compile_one, SpecInputs, Usable};
use envc::ops::{self, Log, Silent};
use envc::Compiled;
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::Mutex;

/// A [`Log`] that keeps the diagnostics a use case reports, for the error document.
#[derive(Default)]
pub(crate) struct Collect(Mutex<Vec<Diagnostic>>);

impl Collect {
    pub(crate) fn take(&self) -> Vec<Diagnostic> {
        std::mem::take(&mut *self.0.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl Log for Collect {
    fn verbose(&self, _: &str) {}
    fn note(&self, _: &str) {}
    fn diagnostics(&self, diags: &[Diagnostic]) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(diags);
    }
}

fn check_outcome(files: &[PathBuf]) -> String {
    match ops::check::check(files, &SpecInputs::default(), &Silent) {
        Ok(o) => ok(json!({
            "diagnostics": errors::diagnostics(&o.diagnostics),
            "files": o.files,
            "exit_code": o.exit_code(),
        })),
        Err(e) => crate::fail(errors::ops(&e)),
    }
}

/// `envc check FILE --format json`'s diagnostics, and its exit code.
#[pyfunction]
pub(crate) fn check_path(py: Python<'_>, path: PathBuf) -> String {
    py.detach(|| check_outcome(&[path]))
}

/// `envc check FILE... --format json` over many files in one call.
#[pyfunction]
pub(crate) fn check_paths(py: Python<'_>, paths: Vec<PathBuf>) -> String {
    py.detach(|| check_outcome(&paths))
}

/// The diagnostics of spec text (warnings of a valid spec, or every finding of an invalid one).
#[pyfunction]
pub(crate) fn check_text(py: Python<'_>, filename: String, text: String) -> String {
    py.detach(|| {
        let (diags, code) =
            match ops::build_text::compile_text(&filename, &text, &Config::default()) {
                Ok(c) => (c.warnings, ops::EXIT_OK),
                Err(d) => (d, ops::EXIT_NO),
            };
        ok(json!({"diagnostics": errors::diagnostics(&diags), "files": 1, "exit_code": code}))
    })
}

fn compiled_value(c: &Compiled) -> Value {
    json!({
        "plan": serde_json::from_str::<Value>(&c.plan.canonical_json()).unwrap_or(Value::Null),
        "digest": c.digest.to_string(),
        "warnings": errors::diagnostics(&c.warnings),
    })
}

/// A spec file compiled as `envc plan FILE` compiles it.
#[pyfunction]
pub(crate) fn compile_path(py: Python<'_>, path: PathBuf) -> String {
    py.detach(|| {
        let log = Collect::default();
        envelope(match compile_one(&path, &SpecInputs::default(), &log) {
            Ok(Ok(Usable { compiled, .. })) => Ok(compiled_value(&compiled)),
            Ok(Err(refused)) => Err(errors::spec(&log.take(), refused.message())),
            Err(e) => Err(errors::ops(&e)),
        })
    })
}

/// Spec text compiled with the default configuration.
#[pyfunction]
pub(crate) fn compile_text(py: Python<'_>, filename: String, text: String) -> String {
    py.detach(|| {
        envelope(
            match ops::build_text::compile_text(&filename, &text, &Config::default()) {
                Ok(c) => Ok(compiled_value(&c)),
                Err(d) => Err(errors::spec(&d, None)),
            },
        )
    })
}

/// `envc dockerfile FILE`.
#[pyfunction]
pub(crate) fn dockerfile_path(py: Python<'_>, path: PathBuf) -> String {
    py.detach(|| {
        let log = Collect::default();
        let options = ops::dockerfile::DockerfileOptions::default();
        envelope(
            match ops::dockerfile::dockerfile(&path, &options, &SpecInputs::default(), &log) {
                Ok(Ok(text)) => Ok(json!(text)),
                Ok(Err(refused)) => Err(errors::spec(&log.take(), refused.message())),
                Err(e) => Err(errors::ops(&e)),
            },
        )
    })
}

/// The Dockerfile of spec text, with the emitter's default options.
#[pyfunction]
pub(crate) fn dockerfile_text(py: Python<'_>, filename: String, text: String) -> String {
    py.detach(|| {
        envelope(
            match ops::build_text::compile_text(&filename, &text, &Config::default()) {
                Ok(c) => dockerfile::render(&c.plan, &dockerfile::Options::default())
                    .map(|t| json!(t))
                    .map_err(|e| errors::ops(&ops::Error::from(e))),
                Err(d) => Err(errors::spec(&d, None)),
            },
        )
    })
}
