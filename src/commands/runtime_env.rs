//! The runtime-environment commands: `envc runtime-env check|normalize|merge|uri` and
//! `envc package`. Arguments → [`crate::ops::runtime_env`] → output through the [`Printer`].

use super::{refused, Error, Printer, EXIT_NO, EXIT_OK};
use crate::cli::{Format, LevelArg, MergeMode, RuntimeEnvCommand};
use crate::diag::render;
use crate::ops::runtime_env as ops;
use crate::runtime_env::parse::{Level, RuntimeEnv};
use crate::runtime_env::working_dir::{PackageOptions, RayPackagingEnv};
use crate::runtime_env::RayRules;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::path::Path;

fn level(l: LevelArg) -> Level {
    match l {
        LevelArg::Job => Level::Job,
        LevelArg::Task => Level::TaskOrActor,
    }
}

/// Reads and validates one runtime env (for `bake`); `Err` carries the diagnostics when it has
/// errors.
pub(super) fn load(
    path: &Path,
    level: Level,
    ray: RayRules,
) -> Result<(Result<RuntimeEnv, ()>, Vec<crate::diag::Diagnostic>), Error> {
    let loaded = ops::load(path, level, ray)?;
    Ok((loaded.env.ok_or(()), loaded.diagnostics))
}

pub(super) fn run(printer: &Printer, cmd: RuntimeEnvCommand) -> Result<u8, Error> {
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
            ray,
            cluster_env.as_deref(),
            format,
        ),
        RuntimeEnvCommand::Normalize {
            file,
            level: l,
            ray,
        } => match ops::normalize(&file, level(l), ray, printer)? {
            Some(env) => {
                printer.data(&format!("{}\n", env.canonical_json()))?;
                Ok(EXIT_OK)
            }
            None => Ok(EXIT_NO),
        },
        RuntimeEnvCommand::Merge {
            parent,
            child,
            mode,
            ray,
        } => {
            let mode = match mode {
                MergeMode::Task => ops::MergeMode::Task,
                MergeMode::Job => ops::MergeMode::Job,
            };
            match ops::merge(&parent, &child, mode, ray, printer)? {
                Some(env) => {
                    printer.data(&format!("{}\n", env.canonical_json()))?;
                    Ok(EXIT_OK)
                }
                None => Ok(EXIT_NO),
            }
        }
        RuntimeEnvCommand::Uri { uri, ray } => {
            let name = ops::uri(&uri, ray, printer)?;
            printer.data(&format!("{name}\n"))?;
            Ok(EXIT_OK)
        }
    }
}

fn check(
    printer: &Printer,
    file: &Path,
    level: Level,
    ray: RayRules,
    cluster_env: Option<&Path>,
    format: Format,
) -> Result<u8, Error> {
    let outcome = match ops::check(file, level, ray, cluster_env, printer)? {
        Ok(outcome) => outcome,
        Err(r) => return Ok(refused(printer, r)),
    };
    match format {
        Format::Json => {
            let mut doc: Value = serde_json::from_str(&render::json(&outcome.diagnostics, 1))?;
            doc["isolated"] = json!(outcome
                .isolated
                .iter()
                .map(|i| json!({"kind": i.kind, "package": i.package}))
                .collect::<Vec<_>>());
            printer.data(&format!("{}\n", serde_json::to_string_pretty(&doc)?))?;
        }
        Format::Human => {
            printer.diagnostics(&outcome.diagnostics);
            if !outcome.isolated.is_empty() {
                let mut out = String::from(
                    "this runtime env will not see these cluster-env packages (it installs its own environment):\n",
                );
                for i in &outcome.isolated {
                    let _ = writeln!(out, "  {}: {}", i.kind, i.package);
                }
                printer.data(&out)?;
            }
        }
    }
    Ok(outcome.exit_code())
}

#[allow(clippy::too_many_arguments)]
pub(super) fn package_cmd(
    printer: &Printer,
    dir: &Path,
    excludes: Vec<String>,
    output: Option<&Path>,
    max_size: u64,
    ray: RayRules,
    follow_external_links: bool,
    format: Format,
) -> Result<u8, Error> {
    let options = PackageOptions {
        excludes,
        ray,
        kind: Default::default(),
        env: RayPackagingEnv::from_env(),
        max_size,
        follow_external_links,
    };
    let result = ops::package(dir, &options, output, printer)?;
    match format {
        Format::Json => printer.data(&format!("{}\n", serde_json::to_string_pretty(&result)?))?,
        Format::Human => printer.data(&format!(
            "{}\n  sha256 {}\n  {} entries, {} bytes\n",
            result.uri, result.sha256, result.file_count, result.size
        ))?,
    }
    Ok(EXIT_OK)
}
