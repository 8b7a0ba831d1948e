//! envc compiles ML cluster-environment specs (Anyscale's format) into a validated, normalised
//! plan and from it a deterministic, injection-proof Dockerfile.
//!
//! The pipeline, one folder per stage:
//! `input` (the one reader of every input: size cap, stdin, UTF-8; text + spans, optional Jinja
//! rendering, the spanned YAML tree with its safety limits, mapping entries and YAML errors)
//! → `spec` (shape, then `spec::validate`: meaning, as the checked values of `types`) →
//! `plan` (`plan::lower` makes the IR and its digest) → the backends: `emit::dockerfile` (a
//! Dockerfile) and `assemble` (an OCI image, no engine) → `oci` (blobs, layers, the image
//! layout) and its store of revisions; `engine` hands a Dockerfile to podman, buildah or docker
//! and brings the image back into the store. `runtime_env` is Ray's runtime environments. Diagnostics
//! (`diag`, `diag::codes`) are data collected along the way and rendered at the edge by the CLI
//! (`cli`, `commands`). The use cases (check, build, bake, diff, the store's revisions and its
//! maintenance) are library calls in `ops`, with typed outcomes and error kinds that carry their
//! exit codes; `epoch` is the build clock, the only source of time.

// Only `commands::Printer` writes to stdout (data), through `std::io`: a stray `println!` in
// the library would corrupt a Dockerfile or JSON document on stdout.
#![deny(clippy::print_stdout)]

pub mod assemble;
pub mod byod;
pub mod cli;
pub mod commands;
pub mod config;
pub mod diag;
pub mod emit;
pub mod engine;
pub mod epoch;
/// The fuzz targets' bodies (driven by `fuzz/`, replayed over their seeds by `cargo test`).
#[doc(hidden)]
pub mod fuzz;
pub mod input;
pub mod lock;
pub mod oci;
pub mod ops;
pub mod plan;
pub mod registry;
pub mod runtime_env;
pub mod server;
pub mod spec;
pub mod store;
pub mod types;

use config::Config;
use diag::codes;
use diag::{Diagnostic, Diagnostics};
use input::read::{self, InputKind};
use input::source::SourceFile;
use input::{source, template, yaml};
use plan::lower;
use plan::Plan;
use spec::validate;
use std::collections::BTreeMap;
use std::sync::Arc;
use types::digest::Digest;

/// How to read the input.
#[derive(Debug, Clone, Default)]
pub struct CompileOptions {
    /// Render as a Jinja template first, with this environment (`env`) and these `--var`s.
    pub template: Option<TemplateInputs>,
    /// The builder the spec is compiled for: `Anyscale` adds the checks of
    /// [`spec::anyscale`] (errors at the spec's positions).
    pub target: emit::Target,
}

#[derive(Debug, Clone, Default)]
pub struct TemplateInputs {
    pub process_env: BTreeMap<String, String>,
    pub vars: BTreeMap<String, String>,
    /// The `vars` whose values may be recorded in provenance (`--public-var`).
    pub public_vars: std::collections::BTreeSet<String>,
}

/// A successfully compiled spec.
#[derive(Debug, Clone)]
pub struct Compiled {
    pub plan: Plan,
    pub digest: Digest,
    /// Template inputs, when rendered with `--template`; not part of the digest.
    pub provenance: Option<template::Provenance>,
    /// Warnings (never errors) found on the way.
    pub warnings: Vec<Diagnostic>,
}

/// The outcome for one input: the compiled plan, or every error (plus warnings).
pub type Outcome = Result<Compiled, Vec<Diagnostic>>;

/// Compiles one spec from raw bytes; `name` is how diagnostics name the file. Bytes that are
/// not UTF-8 are E003.
pub fn compile(name: &str, bytes: &[u8], config: &Config, options: &CompileOptions) -> Outcome {
    compile_source(read::decode(name, bytes, InputKind::Spec)?, config, options)
}

/// Reads and compiles one spec (`-` is stdin) through the one input reader: a file over the
/// size limit is E002 and one that is not UTF-8 E003; `Err` only when it cannot be read.
pub fn compile_path(
    path: &std::path::Path,
    config: &Config,
    options: &CompileOptions,
) -> Result<Outcome, read::ReadError> {
    Ok(match read::read(path, InputKind::Spec)? {
        Ok(file) => compile_source(file, config, options),
        Err(diags) => Err(diags),
    })
}

fn compile_source(mut file: Arc<SourceFile>, config: &Config, options: &CompileOptions) -> Outcome {
    if let Some(inputs) = &options.template {
        let (rendered, prov) = template::render(
            &file,
            inputs.process_env.clone(),
            &inputs.vars,
            &inputs.public_vars,
        )?;
        // Positions in the rendered text are reported against the template's name when the
        // rendering kept every line where it was (the usual `{{ … }}` substitution); otherwise
        // they are marked as positions in the rendered text.
        let same_lines = rendered.lines().count() == file.text.lines().count();
        let shown = if same_lines {
            file.name.clone()
        } else {
            format!("{} (rendered)", file.name)
        };
        file = Arc::new(SourceFile::new(shown, rendered));
        let secrets = template::secrets(&prov, &inputs.process_env, &inputs.vars);
        return match compile_text(file, config, Some(prov), options.target) {
            Ok(mut c) => {
                c.warnings = template::mask(c.warnings, &secrets);
                Ok(c)
            }
            Err(diags) => Err(template::mask(diags, &secrets)),
        };
    }
    compile_text(file, config, None, options.target)
}

fn compile_text(
    file: Arc<SourceFile>,
    config: &Config,
    provenance: Option<template::Provenance>,
    target: emit::Target,
) -> Outcome {
    // Ignored warnings (envc.toml) are dropped on both paths; errors never are.
    let drop_ignored = |diags: Diagnostics| -> Vec<Diagnostic> {
        let mut v = diags.into_vec();
        v.retain(|d| d.is_error() || !config.ignore.contains(&d.code));
        v
    };
    match compile_yaml(file, config, target) {
        Ok((plan, diags)) => Ok(Compiled {
            digest: plan.digest(),
            plan,
            provenance,
            warnings: drop_ignored(diags),
        }),
        Err(diags) => Err(drop_ignored(diags)),
    }
}

fn compile_yaml(
    file: Arc<SourceFile>,
    config: &Config,
    target: emit::Target,
) -> Result<(Plan, Diagnostics), Diagnostics> {
    let mut diags = Diagnostics::new(file.clone());
    let root = match yaml::parse(&file.text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            diags
                .error(
                    codes::MISSING_KEY,
                    source::Span::new(0, 0),
                    "the spec is empty",
                )
                .help("start with `base_image: anyscale/ray:2.9.0-py310`");
            return Err(diags);
        }
        Err(e) => {
            let help = if file.text.contains("{{") || file.text.contains("{%") {
                "the file looks like a Jinja template: pass `--template` to render it first"
            } else {
                "fix the YAML syntax near this position"
            };
            yaml::report(e, help, &mut diags);
            return Err(diags);
        }
    };
    let Some(spec) = spec::parse(&root, &file.text, &mut diags) else {
        return Err(diags);
    };
    let Some(valid) = validate::validate(&spec, config, &mut diags) else {
        return Err(diags);
    };
    if target == emit::Target::Anyscale {
        spec::anyscale::check(&spec, &valid, &mut diags);
        if diags.has_errors() {
            return Err(diags);
        }
    }
    Ok((lower::lower(&valid), diags))
}
