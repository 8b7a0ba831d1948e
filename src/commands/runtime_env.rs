//! The runtime-environment commands: `envc runtime-env check|normalize|merge|uri` and
//! `envc package`. Arguments → [`crate::runtime_env`] → output through the [`Printer`].

use super::{compile_one, Error, Printer, EXIT_NO, EXIT_OK};
use crate::cli::{Format, InputArgs, LevelArg, MergeMode, RuntimeEnvCommand};
use crate::diag::render;
use crate::ops::compile::Usable;
use crate::runtime_env::merge;
use crate::runtime_env::parse::{self, Level, RuntimeEnv};
use crate::runtime_env::working_dir::{self, PackageOptions};
use crate::runtime_env::RayGeneration;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn generation(ray: u8) -> RayGeneration {
    if ray == 1 {
        RayGeneration::V1
    } else {
        RayGeneration::V2
    }
}

fn level(l: LevelArg) -> Level {
    match l {
        LevelArg::Job => Level::Job,
        LevelArg::Task => Level::TaskOrActor,
    }
}

/// Reads and validates one runtime env; relative paths resolve against the current directory,
/// as they do for Ray's driver. `Err` carries the diagnostics when it has errors.
pub(super) fn load(
    path: &Path,
    level: Level,
    ray: RayGeneration,
) -> Result<(Result<RuntimeEnv, ()>, Vec<crate::diag::Diagnostic>), Error> {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let (env, diags) = parse::load(path, &cwd, level, ray)?;
    Ok((env.ok_or(()), diags))
}

pub fn run(printer: &Printer, cmd: RuntimeEnvCommand) -> Result<u8, Error> {
    match cmd {
        RuntimeEnvCommand::Check {
            file,
            level: l,
            ray,
            cluster_env,
            format,
        } => check(
            printer,
            &file,
            level(l),
            generation(ray),
            cluster_env.as_deref(),
            format,
        ),
        RuntimeEnvCommand::Normalize {
            file,
            level: l,
            ray,
        } => {
            let (env, diags) = load(&file, level(l), generation(ray))?;
            printer.diagnostics(&diags);
            match env {
                Ok(env) => printer
                    .data(&format!("{}\n", env.canonical_json()))
                    .map(|()| EXIT_OK)
                    .map_err(Error::from),
                Err(()) => Ok(EXIT_NO),
            }
        }
        RuntimeEnvCommand::Merge {
            parent,
            child,
            mode,
        } => {
            let child_level = match mode {
                MergeMode::Task => Level::TaskOrActor,
                MergeMode::Job => Level::Job,
            };
            let (p, pd) = load(&parent, Level::Job, RayGeneration::V2)?;
            let (c, cd) = load(&child, child_level, RayGeneration::V2)?;
            printer.diagnostics(&pd);
            printer.diagnostics(&cd);
            let (Ok(p), Ok(c)) = (p, c) else {
                return Ok(EXIT_NO);
            };
            let merged = match mode {
                MergeMode::Task => merge::merge_child(&p, &c),
                MergeMode::Job => merge::merge_job(&p, &c),
            };
            match merged {
                Ok(env) => printer
                    .data(&format!("{}\n", env.canonical_json()))
                    .map(|()| EXIT_OK)
                    .map_err(Error::from),
                Err(e) => Err(e.into()),
            }
        }
        RuntimeEnvCommand::Uri { uri } => {
            let name = working_dir::remote_cache_name(&uri)?;
            if name.ends_with(".whl") {
                printer
                    .note("a .whl URI is valid in `py_modules` only (a `working_dir` is a .zip)");
            }
            printer
                .data(&format!("{name}\n"))
                .map(|()| EXIT_OK)
                .map_err(Error::from)
        }
    }
}

fn check(
    printer: &Printer,
    file: &Path,
    level: Level,
    ray: RayGeneration,
    cluster_env: Option<&Path>,
    format: Format,
) -> Result<u8, Error> {
    let (env, diags) = load(file, level, ray)?;
    let mut isolated = Vec::new();
    if let (Ok(env), Some(spec)) = (&env, cluster_env) {
        let input = InputArgs {
            template: false,
            vars: Vec::new(),
            public_vars: Vec::new(),
            config: None,
            deny_warnings: false,
        };
        let Some(Usable { compiled, .. }) = compile_one(printer, spec, &input)? else {
            return Ok(EXIT_NO);
        };
        isolated = merge::isolated_packages(&compiled.plan, env, ray);
    }
    match format {
        Format::Json => {
            let mut doc: Value = serde_json::from_str(&render::json(&diags, 1))?;
            doc["isolated"] = json!(isolated
                .iter()
                .map(|(kind, p)| json!({"kind": kind, "package": p}))
                .collect::<Vec<_>>());
            printer.data(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        }
        Format::Human => {
            printer.diagnostics(&diags);
            if !isolated.is_empty() {
                let mut out = String::from(
                    "this runtime env will not see these cluster-env packages (it installs its own environment):\n",
                );
                for (kind, p) in &isolated {
                    let _ = writeln!(out, "  {kind}: {p}");
                }
                printer.data(&out)?;
            }
        }
    }
    Ok(if env.is_ok() { EXIT_OK } else { EXIT_NO })
}

#[allow(clippy::too_many_arguments)]
pub fn package_cmd(
    printer: &Printer,
    dir: &Path,
    excludes: Vec<String>,
    output: Option<&Path>,
    max_size: u64,
    ray: u8,
    follow_external_links: bool,
    format: Format,
) -> Result<u8, Error> {
    let options = PackageOptions {
        excludes,
        ray: generation(ray),
        max_size,
        follow_external_links,
    };
    let result = match output {
        Some(path) => {
            // Stream the zip into a temp file beside the destination and rename it only on
            // success: nothing half-written is left behind.
            let write_err = |source| Error::Write {
                path: path.display().to_string(),
                source,
            };
            let mut tmp = crate::oci::blob::AtomicFile::create(path).map_err(write_err)?;
            let pkg = working_dir::package_dir(dir, &options, std::io::BufWriter::new(&mut tmp))?;
            tmp.commit().map_err(write_err)?;
            pkg
        }
        None => working_dir::package_dir(dir, &options, std::io::sink())?,
    };
    for note in &result.notes {
        printer.note(note);
    }
    match format {
        Format::Json => printer.data(&format!("{}\n", serde_json::to_string_pretty(&result)?))?,
        Format::Human => printer.data(&format!(
            "{}\n  sha256 {}\n  {} entries, {} bytes\n",
            result.uri, result.sha256, result.file_count, result.size
        ))?,
    }
    Ok(EXIT_OK)
}
