//! A store's revisions: `environments`, `list` (and `--all`), `show`, `diff`, `build` of a
//! spec and `rollback`, each returning the document `envc ... --format json` prints.
//!
//! Decisions: the store must exist for reads (as `envc list` requires); `build` creates it, as
//! `envc build` does. A spec given by path is read as text and built with the configuration its
//! `envc.toml` gives (found as `envc build FILE` finds it); text is built with the default
//! configuration, as the server builds a posted spec. Builds take the engine from
//! the configuration or `PATH` (only specs that run steps need one), the epoch from
//! `SOURCE_DATE_EPOCH`, and a registry client for bases the store lacks. A build or rollback
//! answers `{"name","revision","manifest","unchanged"}`, the fields of `envc bake --format json`.

use crate::envelope;
use crate::errors;
use crate::spec::Collect;
use envc::config::{ConfigFor, Configs};
use envc::oci::Compression;
use envc::ops::build::BuildOutcome;
use envc::ops::build_text::{build_text, TextBuild};
use envc::ops::diff::DiffError;
use envc::ops::{self, revisions, Error, Silent};
use envc::registry::{Client, Options};
use envc::types::name::{EnvName, Identifier};
use pyo3::prelude::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;

fn run(f: impl FnOnce() -> Result<Value, Error>) -> String {
    envelope(f().map_err(|e| errors::ops(&e)))
}

fn to_value(v: &impl serde::Serialize) -> Result<Value, Error> {
    Ok(serde_json::to_value(v)?)
}

fn commit(outcome: &BuildOutcome) -> Value {
    json!({
        "name": outcome.name.to_string(),
        "revision": outcome.revision.revision,
        "manifest": outcome.revision.manifest.digest.to_string(),
        "unchanged": outcome.unchanged,
    })
}

/// `envc list --environments --format json`.
#[pyfunction]
pub(crate) fn store_environments(py: Python<'_>, store: PathBuf) -> String {
    py.detach(|| run(|| to_value(&revisions::environments(&ops::open(Some(&store))?)?)))
}

/// `envc list [NAME] [--all] --format json`.
#[pyfunction]
#[pyo3(signature = (store, name, all))]
pub(crate) fn store_list(
    py: Python<'_>,
    store: PathBuf,
    name: Option<String>,
    all: bool,
) -> String {
    py.detach(|| {
        run(|| {
            let store = ops::open(Some(&store))?;
            let name = name.as_deref().map(EnvName::parse).transpose()?;
            if all {
                to_value(&revisions::history(&store, name.as_ref())?)
            } else {
                to_value(&revisions::list(&store, name.as_ref())?)
            }
        })
    })
}

/// `envc show NAME[:REV] --format json`.
#[pyfunction]
pub(crate) fn store_show(py: Python<'_>, store: PathBuf, reference: String) -> String {
    py.detach(|| {
        run(|| {
            let store = ops::open(Some(&store))?;
            to_value(&revisions::show(&store, &Identifier::parse(&reference)?)?)
        })
    })
}

/// `envc diff A B --format json`; each side a spec file or a stored revision.
#[pyfunction]
pub(crate) fn store_diff(py: Python<'_>, store: PathBuf, a: String, b: String) -> String {
    py.detach(|| {
        let log = Collect::default();
        envelope(match ops::diff::diff(&a, &b, Some(&store), &log) {
            Ok(outcome) => Ok(outcome.document()),
            Err(DiffError::Refused(r)) => Err(errors::spec(&log.take(), r.message())),
            Err(DiffError::Side(e)) => Err(errors::ops(&e)),
            Err(e @ DiffError::StdinTwice) => Err(errors::usage(
                "envc",
                "usage",
                e.message().unwrap_or_default(),
            )),
        })
    })
}

/// A spec to build: the name diagnostics give it, its text and its configuration.
struct SpecInput {
    filename: String,
    text: String,
    config: Arc<envc::config::Config>,
}

/// The spec to build; `Ok(Err(_))` when its `envc.toml` is broken (its diagnostics).
fn spec_input(
    path: Option<PathBuf>,
    text: Option<String>,
    filename: String,
) -> Result<Result<SpecInput, Value>, Error> {
    let Some(path) = path else {
        return Ok(Ok(SpecInput {
            filename,
            text: text.unwrap_or_default(),
            config: Arc::new(envc::config::Config::default()),
        }));
    };
    let config = match Configs::default()
        .for_spec(&path, None, |_| {})
        .map_err(Error::from)?
    {
        ConfigFor::Ok(c) => c,
        ConfigFor::Broken(diags) => return Ok(Err(errors::spec(&diags, None))),
    };
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok(Ok(SpecInput {
        filename: path.display().to_string(),
        text,
        config,
    }))
}

fn compression(name: &str) -> Result<Compression, Value> {
    match name {
        "gzip" => Ok(Compression::Gzip),
        "zstd" => Ok(Compression::Zstd),
        "none" => Ok(Compression::None),
        other => Err(errors::usage(
            "envc",
            "compression",
            format!("unknown compression `{other}`: give `gzip`, `zstd` or `none`"),
        )),
    }
}

/// `envc build SPEC --name NAME [--rebuild] [--compression C]` of a spec file or of text.
#[pyfunction]
#[pyo3(signature = (store, name, path, text, filename, rebuild, compression_name))]
#[allow(clippy::too_many_arguments)]
pub(crate) fn store_build(
    py: Python<'_>,
    store: PathBuf,
    name: String,
    path: Option<PathBuf>,
    text: Option<String>,
    filename: String,
    rebuild: bool,
    compression_name: String,
) -> String {
    py.detach(|| {
        envelope((|| {
            let compression = compression(&compression_name)?;
            let e = |e: Error| errors::ops(&e);
            let name = EnvName::parse(&name).map_err(|x| e(x.into()))?;
            let SpecInput {
                filename,
                text,
                config,
            } = spec_input(path, text, filename).map_err(e)??;
            let registry = Client::new(Options {
                insecure: false,
                credential: None,
                offline: false,
                jobs: 4,
                progress: false,
            })
            .map_err(|x| e(x.into()))?;
            let options = TextBuild {
                compression,
                rebuild,
                engine: None,
                engine_args: Vec::new(),
                epoch: envc::epoch::from_env().map_err(|x| e(x.into()))?,
                stop: Arc::new(AtomicBool::new(false)),
                registry: Arc::new(registry),
                config,
            };
            match build_text(&store, &name, &filename, &text, &options, &Silent).map_err(e)? {
                Ok(outcome) => Ok(commit(&outcome)),
                Err(diags) => Err(errors::spec(&diags, None)),
            }
        })())
    })
}

/// `envc rollback NAME --to N`: a new revision with the manifest of revision `to`.
#[pyfunction]
pub(crate) fn store_rollback(py: Python<'_>, store: PathBuf, name: String, to: u32) -> String {
    py.detach(|| {
        run(|| {
            let store = ops::open(Some(Path::new(&store)))?;
            Ok(commit(&revisions::rollback(
                &store,
                &EnvName::parse(&name)?,
                to,
            )?))
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compression_names_are_the_clis() {
        assert_eq!(compression("zstd").ok(), Some(Compression::Zstd));
        assert_eq!(compression("lz4").unwrap_err()["kind"], "compression");
    }

    #[test]
    fn reading_a_missing_store_is_a_store_error() {
        let dir = std::env::temp_dir().join("envc-python-no-such-store");
        let doc: Value = serde_json::from_str(&run(|| {
            to_value(&revisions::environments(&ops::open(Some(&dir))?)?)
        }))
        .unwrap();
        assert_eq!(doc["error"]["class"], "store");
    }
}
