//! The runtime-environment use cases: `check` (with what a cluster environment's packages the
//! runtime env will not see), `normalize`, `merge`, `uri` (Ray's cache name for a remote
//! package) and `package` (a working directory into Ray's zip and URI).
//!
//! Decisions: a runtime env is read as Ray's driver reads it, its relative paths against the
//! process's current directory ([`load`]). A use case that only prints a runtime env sends its
//! diagnostics to the [`Log`] as soon as they are known (both inputs' before a merge, so a
//! merge error comes after them); `check` keeps them in its outcome instead, because
//! `--format json` prints them as data. A cluster environment given to `check` is compiled
//! like any spec ([`compile_one`]): its diagnostics go to the log, and a refused one ends the
//! check. A packaged zip given an output path is streamed to a temporary file beside it and
//! renamed only on success, so nothing half-written is left behind.

use super::compile::{compile_one, Refused, SpecInputs};
use super::{Error, Log, EXIT_NO, EXIT_OK};
use crate::diag::{Diagnostic, Diagnostics};
use crate::input::read::{self, InputKind};
use crate::oci::blob::AtomicFile;
use crate::runtime_env::merge;
use crate::runtime_env::parse::{self, Level, RuntimeEnv};
use crate::runtime_env::working_dir::{self, Package, PackageOptions};
use crate::runtime_env::RayRules;
use crate::spec::skew;
use std::path::{Path, PathBuf};

/// A runtime env as read: the environment, `None` when it has errors, and every diagnostic.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub env: Option<RuntimeEnv>,
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads and validates the runtime env at `path` (`-` is standard input); relative paths in it
/// resolve against the current directory, as they do for Ray's driver. `Err` only when it
/// cannot be read.
pub fn load(path: &Path, level: Level, ray: RayRules) -> Result<Loaded, Error> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (env, diagnostics) = parse::load(path, &cwd, level, ray)?;
    Ok(Loaded { env, diagnostics })
}

/// A package of the cluster environment that a runtime env will not see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Isolated {
    /// `pip` or `conda`.
    pub kind: String,
    pub package: String,
}

/// What `check` found.
#[derive(Debug, Clone)]
pub struct CheckOutcome {
    /// The runtime env's warnings and errors.
    pub diagnostics: Vec<Diagnostic>,
    /// It has no errors.
    pub valid: bool,
    /// The cluster environment's packages it will not see, in the plan's order (empty without
    /// a cluster environment, or when the runtime env is invalid).
    pub isolated: Vec<Isolated>,
}

impl CheckOutcome {
    pub fn exit_code(&self) -> u8 {
        if self.valid {
            EXIT_OK
        } else {
            EXIT_NO
        }
    }
}

/// Checks the runtime env at `file`; with `cluster_env`, a spec compiled for the packages the
/// runtime env hides of it and for the `ray` pins that do not match its base (W023)
/// (`Ok(Err(_))` when that spec is refused).
pub fn check(
    file: &Path,
    level: Level,
    ray: RayRules,
    cluster_env: Option<&Path>,
    log: &dyn Log,
) -> Result<Result<CheckOutcome, Refused>, Error> {
    // Read here rather than with `load`: the skew warnings below point into this file.
    let source = match read::read(file, InputKind::RuntimeEnv)? {
        Ok(source) => source,
        Err(diagnostics) => {
            return Ok(Ok(CheckOutcome {
                diagnostics,
                valid: false,
                isolated: Vec::new(),
            }))
        }
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut diags = Diagnostics::new(source.clone());
    let env = parse::parse(source, &cwd, level, ray, &mut diags);
    let mut isolated = Vec::new();
    if let (Some(env), Some(spec)) = (&env, cluster_env) {
        let usable = match compile_one(spec, &SpecInputs::default(), log)? {
            Ok(usable) => usable,
            Err(refused) => return Ok(Err(refused)),
        };
        let base = &usable.compiled.plan.base;
        if let Some(v) = &base.ray_version {
            skew::runtime_env_ray_pins(env, v, &base.reference, &mut diags);
        }
        isolated = merge::isolated_packages(&usable.compiled.plan, env, ray)
            .into_iter()
            .map(|(kind, package)| Isolated { kind, package })
            .collect();
    }
    let diagnostics = diags.into_vec();
    Ok(Ok(CheckOutcome {
        diagnostics,
        valid: env.is_some(),
        isolated,
    }))
}

/// The runtime env at `file`, normalised as Ray normalises it; `None` when it has errors. Its
/// diagnostics go to the log.
pub fn normalize(
    file: &Path,
    level: Level,
    ray: RayRules,
    log: &dyn Log,
) -> Result<Option<RuntimeEnv>, Error> {
    let Loaded { env, diagnostics } = load(file, level, ray)?;
    log.diagnostics(&diagnostics);
    Ok(env)
}

/// Which of Ray's two merge rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeMode {
    /// A task or actor environment (given at task level) over its parent's.
    Task,
    /// A job's submission environment against `ray.init`'s (both at job level).
    Job,
}

/// Merges the runtime env at `child` over (or, in [`MergeMode::Job`], with) the one at
/// `parent`, both read under `ray`'s rules; `None` when either has errors. Both inputs'
/// diagnostics go to the log, the parent's first.
pub fn merge(
    parent: &Path,
    child: &Path,
    mode: MergeMode,
    ray: RayRules,
    log: &dyn Log,
) -> Result<Option<RuntimeEnv>, Error> {
    let child_level = match mode {
        MergeMode::Task => Level::TaskOrActor,
        MergeMode::Job => Level::Job,
    };
    let p = load(parent, Level::Job, ray)?;
    let c = load(child, child_level, ray)?;
    log.diagnostics(&p.diagnostics);
    log.diagnostics(&c.diagnostics);
    let (Some(p), Some(c)) = (p.env, c.env) else {
        return Ok(None);
    };
    let merged = match mode {
        MergeMode::Task => merge::merge_child(&p, &c)?,
        MergeMode::Job => merge::merge_job(&p, &c)?,
    };
    Ok(Some(merged))
}

/// The name Ray caches the remote package `uri` under. A wheel's URI gets a note: it is valid
/// in `py_modules` only.
pub fn uri(uri: &str, ray: RayRules, log: &dyn Log) -> Result<String, Error> {
    let name = working_dir::remote_cache_name(uri, ray)?;
    if name.ends_with(".whl") {
        log.note("a .whl URI is valid in `py_modules` only (a `working_dir` is a .zip)");
    }
    Ok(name)
}

/// Packages `dir` as Ray uploads a working directory, writing the zip to `output` if given
/// (else only its URI and digest are computed). What was skipped goes to the log as notes,
/// after the package is complete; they are in the outcome as well.
pub fn package(
    dir: &Path,
    options: &PackageOptions,
    output: Option<&Path>,
    log: &dyn Log,
) -> Result<Package, Error> {
    let package = match output {
        Some(path) => {
            let write_err = |source| Error::Write {
                path: path.display().to_string(),
                source,
            };
            let mut tmp = AtomicFile::create(path).map_err(write_err)?;
            let pkg = working_dir::package_dir(dir, options, std::io::BufWriter::new(&mut tmp))?;
            tmp.commit().map_err(write_err)?;
            pkg
        }
        None => working_dir::package_dir(dir, options, std::io::sink())?,
    };
    for note in &package.notes {
        log.note(note);
    }
    Ok(package)
}
