//! Compiling a spec as the use cases do: find its `envc.toml` (or the `--config` given), read
//! it through the one input reader, render it as a template when asked, and say whether it
//! is refused. Its diagnostics go to the [`Log`]; the outcome is the compiled spec and the
//! configuration's registry mirror, or the reason it was refused.
//!
//! The template inputs are resolved lazily, per spec and after its configuration is found,
//! so a broken `envc.toml` is reported before a `--var` given twice, as it always was.

use super::{Error, Log};
use crate::config::{Config, ConfigFor, Configs};
use crate::diag::Diagnostic;
use crate::{compile_path, CompileOptions, Compiled, TemplateInputs};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// How specs are read: the library's mirror of the CLI's input flags.
#[derive(Debug, Clone, Default)]
pub struct SpecInputs {
    /// Render as a Jinja template first (`--template`).
    pub template: bool,
    /// `--var NAME=VALUE`: template values not recorded in provenance.
    pub vars: Vec<(String, String)>,
    /// `--public-var NAME=VALUE`: template values recorded in provenance.
    pub public_vars: Vec<(String, String)>,
    /// `--config`: the configuration of every spec, instead of each one's `envc.toml`.
    pub config: Option<PathBuf>,
    /// `--deny-warnings`.
    pub deny_warnings: bool,
    /// The builder compiled for (`envc dockerfile --for`); adds that builder's checks.
    pub target: crate::emit::Target,
}

/// Why a compiled spec is not used.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The spec or its configuration has errors (already in the log).
    Invalid,
    /// It has warnings, and warnings are denied.
    WarningsDenied,
}

impl Refused {
    /// The message to show beside the diagnostics, if any.
    pub fn message(self) -> Option<&'static str> {
        match self {
            Refused::Invalid => None,
            Refused::WarningsDenied => Some("warnings are denied (`--deny-warnings`)"),
        }
    }
}

/// The template inputs; a name given twice (`--var`, `--public-var`, or one of each) is a
/// usage error rather than a silent last-one-wins. `env` is this process's environment.
fn options(input: &SpecInputs) -> Result<CompileOptions, Error> {
    if !input.template {
        return Ok(CompileOptions {
            template: None,
            target: input.target,
        });
    }
    let mut vars = BTreeMap::new();
    for (k, v) in input.vars.iter().chain(&input.public_vars) {
        if vars.insert(k.clone(), v.clone()).is_some() {
            return Err(Error::VarTwice { name: k.clone() });
        }
    }
    Ok(CompileOptions {
        template: Some(TemplateInputs {
            process_env: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            vars,
            public_vars: input.public_vars.iter().map(|(k, _)| k.clone()).collect(),
        }),
        target: input.target,
    })
}

/// One compiled spec: the outcome, whether warnings are denied, and the registry mirror.
pub(crate) struct Compilation {
    pub(crate) outcome: Result<Compiled, Vec<Diagnostic>>,
    pub(crate) deny: bool,
    pub(crate) mirror: Option<String>,
    /// The configuration the spec was compiled with.
    pub(crate) config: Arc<Config>,
}

/// Compiles one file; `outcome` is `Err` when the spec or its configuration has errors.
pub(crate) fn compile_file(
    path: &Path,
    input: &SpecInputs,
    log: &dyn Log,
    configs: &mut Configs,
) -> Result<Compilation, Error> {
    let verbose = |p: &Path| log.verbose(&format!("using configuration `{}`", p.display()));
    let config = match configs.for_spec(path, input.config.as_deref(), verbose)? {
        ConfigFor::Ok(c) => c,
        ConfigFor::Broken(diags) => {
            return Ok(Compilation {
                outcome: Err(diags),
                deny: false,
                mirror: None,
                config: Arc::new(Config::default()),
            })
        }
    };
    let outcome = compile_path(path, &config, &options(input)?)?;
    Ok(Compilation {
        outcome,
        deny: config.deny_warnings || input.deny_warnings,
        mirror: config.mirror.clone(),
        config,
    })
}

/// A spec compiled for use (a Dockerfile, a plan, a build, one side of a diff).
#[derive(Debug, Clone)]
pub struct Usable {
    pub compiled: Compiled,
    /// The registry mirror of its configuration.
    pub mirror: Option<String>,
    /// Its configuration (`[engine]`, `[import]`, …).
    pub config: Arc<Config>,
}

/// Compiles one spec for use, its warnings or errors to the log; `Ok(Err(_))` says why it is
/// not used. `Err` only when it (or its configuration) cannot be read.
pub fn compile_one(
    path: &Path,
    input: &SpecInputs,
    log: &dyn Log,
) -> Result<Result<Usable, Refused>, Error> {
    let c = compile_file(path, input, log, &mut Configs::default())?;
    match c.outcome {
        Ok(compiled) => {
            log.diagnostics(&compiled.warnings);
            if c.deny && !compiled.warnings.is_empty() {
                return Ok(Err(Refused::WarningsDenied));
            }
            Ok(Ok(Usable {
                compiled,
                mirror: c.mirror,
                config: c.config,
            }))
        }
        Err(d) => {
            log.diagnostics(&d);
            Ok(Err(Refused::Invalid))
        }
    }
}
