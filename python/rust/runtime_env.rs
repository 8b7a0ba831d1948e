//! Ray runtime environments given as JSON text (the Python SDK's dicts): validate, merge, and
//! a working directory packaged as Ray uploads it.
//!
//! Decisions: the text goes through the CLI's one input reader (its size cap) and the same
//! parser as `envc runtime-env check`, named `<runtime_env>` (or the caller's name) in
//! diagnostics, its relative paths resolved against the process's current directory as Ray's
//! driver resolves them. `validate` answers with the diagnostics (an invalid env is an answer,
//! not an error); `merge` refuses an invalid input with a `runtime_env` error carrying both
//! inputs' diagnostics, the parent's first, where the CLI prints them and exits 1, and a merge
//! Ray refuses with its E-code. Packaging reads Ray's packaging variables from the process
//! environment, as the CLI does.

use crate::envelope;
use crate::errors;
use envc::diag::{Diagnostic, Diagnostics};
use envc::input::read::{self, InputKind};
use envc::ops::{self, Silent};
use envc::runtime_env::merge;
use envc::runtime_env::parse::{self, Level, RuntimeEnv};
use envc::runtime_env::working_dir::{PackageOptions, RayPackagingEnv};
use envc::runtime_env::RayRules;
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::PathBuf;

fn rules(ray: &str) -> Result<RayRules, Value> {
    RayRules::parse(ray).map_err(|m| errors::usage("runtime_env", "ray_version", m))
}

fn level(level: &str) -> Result<Level, Value> {
    match level {
        "job" => Ok(Level::Job),
        "task" => Ok(Level::TaskOrActor),
        other => Err(errors::usage(
            "runtime_env",
            "level",
            format!("unknown level `{other}`: give `job` or `task`"),
        )),
    }
}

/// Parses one runtime env: the environment (`None` with errors) and every diagnostic.
fn load(
    name: &str,
    text: &str,
    level: Level,
    ray: RayRules,
) -> (Option<RuntimeEnv>, Vec<Diagnostic>) {
    let file = match read::decode(name, text.as_bytes(), InputKind::RuntimeEnv) {
        Ok(f) => f,
        Err(diags) => return (None, diags),
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    let mut diags = Diagnostics::new(file.clone());
    let env = parse::parse(file, &cwd, level, ray, &mut diags);
    (env, diags.into_vec())
}

fn canonical(env: &RuntimeEnv) -> Value {
    serde_json::from_str(&env.canonical_json()).unwrap_or(Value::Null)
}

/// `envc runtime-env check`: the diagnostics, whether it is valid, and the normalised env.
#[pyfunction]
#[pyo3(signature = (text, level_name, ray, filename))]
pub(crate) fn runtime_env_validate(
    py: Python<'_>,
    text: String,
    level_name: String,
    ray: String,
    filename: String,
) -> String {
    py.detach(|| {
        envelope((|| {
            let (ray, level) = (rules(&ray)?, level(&level_name)?);
            let (env, diags) = load(&filename, &text, level, ray);
            Ok(json!({
                "diagnostics": errors::diagnostics(&diags),
                "valid": env.is_some(),
                "normalized": env.as_ref().map(canonical),
            }))
        })())
    })
}

/// `envc runtime-env merge PARENT CHILD [--mode job]`: the merged env, normalised.
#[pyfunction]
pub(crate) fn runtime_env_merge(
    py: Python<'_>,
    parent: String,
    child: String,
    mode: String,
    ray: String,
) -> String {
    py.detach(|| {
        envelope((|| {
            let ray = rules(&ray)?;
            let child_level = match mode.as_str() {
                "task" => Level::TaskOrActor,
                "job" => Level::Job,
                other => {
                    return Err(errors::usage(
                        "runtime_env",
                        "mode",
                        format!("unknown merge mode `{other}`: give `task` or `job`"),
                    ))
                }
            };
            let (p, mut diags) = load("<parent>", &parent, Level::Job, ray);
            let (c, child_diags) = load("<child>", &child, child_level, ray);
            diags.extend(child_diags);
            let (Some(p), Some(c)) = (p, c) else {
                let first = diags.iter().find(|d| d.is_error());
                return Err(json!({
                    "class": "runtime_env",
                    "kind": first.map_or("invalid", |d| d.code.0),
                    "message": match first {
                        Some(d) => format!("the runtime env is invalid: {} ({})", d.message, d.code.0),
                        None => "the runtime env is invalid".to_string(),
                    },
                    "exit_code": ops::EXIT_NO,
                    "diagnostics": errors::diagnostics(&diags),
                }));
            };
            let merged = match mode.as_str() {
                "task" => merge::merge_child(&p, &c),
                _ => merge::merge_job(&p, &c),
            }
            .map_err(|e| errors::ops(&ops::Error::from(e)))?;
            Ok(json!({"merged": canonical(&merged), "diagnostics": errors::diagnostics(&diags)}))
        })())
    })
}

/// `envc package DIR --exclude ... -o OUTPUT --format json`.
#[pyfunction]
#[pyo3(signature = (dir, output, excludes, ray, max_size, follow_external_links))]
pub(crate) fn package(
    py: Python<'_>,
    dir: PathBuf,
    output: PathBuf,
    excludes: Vec<String>,
    ray: String,
    max_size: u64,
    follow_external_links: bool,
) -> String {
    py.detach(|| {
        envelope((|| {
            let options = PackageOptions {
                excludes,
                ray: rules(&ray)?,
                kind: Default::default(),
                env: RayPackagingEnv::from_env(),
                max_size,
                follow_external_links,
            };
            let pkg = ops::runtime_env::package(&dir, &options, Some(&output), &Silent)
                .map_err(|e| errors::ops(&e))?;
            serde_json::to_value(&pkg).map_err(|e| errors::ops(&ops::Error::from(e)))
        })())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bad_level_or_ray_is_a_usage_error() {
        assert_eq!(level("task").ok(), Some(Level::TaskOrActor));
        assert_eq!(level("x").unwrap_err()["kind"], "level");
        assert_eq!(rules("9.9").unwrap_err()["kind"], "ray_version");
    }

    #[test]
    fn text_is_parsed_as_the_cli_parses_a_file() {
        let (env, diags) = load(
            "<t>",
            r#"{"env_vars": {"A": "b"}}"#,
            Level::Job,
            RayRules::NEWEST,
        );
        assert!(env.is_some(), "{diags:?}");
        let (env, diags) = load("<t>", r#"{"pip": 3}"#, Level::Job, RayRules::NEWEST);
        assert!(env.is_none());
        assert!(diags.iter().any(|d| d.is_error()));
    }
}
