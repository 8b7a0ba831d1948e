//! A spec given as text (an HTTP request's body, a Python string), compiled and built as a
//! plain `envc build FILE --name NAME` would: the same compiler, validation and build, with
//! the options a caller that is not a shell can set. There is no file, so there is no
//! `envc.toml` beside it: the caller passes the [`Config`] (the server's `--config`, the
//! default otherwise), and the spec's `filename` is only the name diagnostics show.
//!
//! The engine and its arguments come from the caller (the server's flags), never from the
//! request: a request can choose the compression and a rebuild, nothing that runs a program.

use super::build::{BuildOptions, BuildOutcome, EngineOptions};
use super::{Error, Log};
use crate::config::Config;
use crate::diag::Diagnostic;
use crate::engine;
use crate::oci::normalise::{DropPolicy, DEFAULT_DROP};
use crate::oci::Compression;
use crate::types::name::EnvName;
use crate::{CompileOptions, Compiled};
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

/// How a text spec is built.
#[derive(Debug, Clone)]
pub struct TextBuild {
    pub compression: Compression,
    /// Build even when nothing changed.
    pub rebuild: bool,
    /// The engine (`podman`, `buildah`, `docker`); `None`: the first found on `PATH`.
    pub engine: Option<String>,
    pub engine_args: Vec<String>,
    /// Seconds since the Unix epoch for every timestamp ([`crate::epoch`]).
    pub epoch: u64,
    /// Raised to stop a running engine build (recorded as interrupted).
    pub stop: Arc<AtomicBool>,
    pub registry: Arc<crate::registry::Client>,
    pub config: Arc<Config>,
}

/// Compiles `text` (named `filename` in diagnostics); `Err` holds every diagnostic of a
/// refused spec (errors, and warnings when the configuration denies them).
pub fn compile_text(
    filename: &str,
    text: &str,
    config: &Config,
) -> Result<Compiled, Vec<Diagnostic>> {
    let compiled = crate::compile(
        filename,
        text.as_bytes(),
        config,
        &CompileOptions::default(),
    )?;
    if config.deny_warnings && !compiled.warnings.is_empty() {
        return Err(compiled.warnings);
    }
    Ok(compiled)
}

/// Compiles and builds `text` into the store at `store_dir` as a revision of `name`.
/// `Ok(Err(_))`: the spec was refused, with its diagnostics; nothing was written.
pub fn build_text(
    store_dir: &Path,
    name: &EnvName,
    filename: &str,
    text: &str,
    options: &TextBuild,
    log: &dyn Log,
) -> Result<Result<BuildOutcome, Vec<Diagnostic>>, Error> {
    let compiled = match compile_text(filename, text, &options.config) {
        Ok(c) => c,
        Err(diags) => return Ok(Err(diags)),
    };
    log.diagnostics(&compiled.warnings);
    let patterns: Vec<String> = match &options.config.drop {
        Some(p) => p.clone(),
        None => DEFAULT_DROP.iter().map(|s| s.to_string()).collect(),
    };
    let mirror = options.config.mirror.clone();
    let engine_options = EngineOptions {
        choice: options
            .engine
            .clone()
            .or_else(|| options.config.engine.clone())
            .map(|name| engine::Choice {
                name,
                from: "the server's --engine".into(),
            }),
        args: options
            .engine_args
            .iter()
            .chain(&options.config.engine_args)
            .cloned()
            .collect(),
        rebuild: options.rebuild,
        dockerfile: crate::emit::dockerfile::Options {
            mirror: mirror.clone(),
            ..Default::default()
        },
        drop: Arc::new(DropPolicy::new(&patterns).map_err(Error::DropPolicy)?),
        path: std::env::var_os("PATH"),
        stop: options.stop.clone(),
    };
    let build_options = BuildOptions {
        base: None,
        compression: options.compression,
        epoch: options.epoch,
        registry: options.registry.clone(),
        mirror,
    };
    super::build::build(
        store_dir,
        name,
        &compiled,
        &build_options,
        &engine_options,
        log,
    )
    .map(Ok)
}
