//! `build`: a compiled spec → an OCI image on its base → a new revision in the store. Owns the
//! order of the steps and the transaction around them. A plan that needs execution goes to an
//! engine ([`super::engine_build`]); otherwise the image is assembled here: the base comes from
//! `--base` (imported, or found already imported) or from the store by the name the spec gives
//! it; the base's layers are checked before anything is written, so a corrupt one leaves no
//! blob behind; template provenance is recorded as an annotation beside the revision, never in
//! the image's digest; the commit is under the store's lock. A store this build created and
//! that still holds nothing when it fails is removed again, so a failed build leaves the disk
//! as it was.

pub use super::engine_build::EngineOptions;
use super::{Error, Log};
use crate::assemble::{self, Base};
use crate::oci::Compression;
use crate::store::annotations::PROVENANCE;
use crate::store::base::ImportedBase;
use crate::store::{base_arg, Commit, Store};
use crate::types::name::EnvName;
use crate::Compiled;
use std::path::Path;

/// How to build.
#[derive(Debug, Clone)]
pub struct BuildOptions {
    /// The `--base` text (see [`base_arg`]); `None` takes the base from the store.
    pub base: Option<String>,
    pub compression: Compression,
    /// Seconds since the Unix epoch for every timestamp ([`crate::epoch`]).
    pub epoch: u64,
    /// Where a base the store lacks is pulled from (refusing, under `--offline`).
    pub registry: std::sync::Arc<crate::registry::Client>,
    /// The configuration's registry mirror (`[base-image] mirror`), for a pulled base.
    pub mirror: Option<String>,
}

/// The revision a build or a bake committed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuildOutcome {
    pub name: EnvName,
    /// The revision: `NAME:REV` and its manifest.
    pub revision: crate::store::Revision,
    /// The latest revision already had this manifest: no revision was added.
    pub unchanged: bool,
}

impl BuildOutcome {
    pub(crate) fn new(name: &EnvName, commit: Commit) -> BuildOutcome {
        BuildOutcome {
            name: name.clone(),
            revision: commit.revision,
            unchanged: commit.unchanged,
        }
    }
}

/// Builds `compiled` into the store at `store_dir` (created when missing) as a revision of
/// `name`: assembled without an engine when the plan needs no execution, else built by one
/// ([`super::engine_build`]).
pub fn build(
    store_dir: &Path,
    name: &EnvName,
    compiled: &Compiled,
    options: &BuildOptions,
    engine: &EngineOptions,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let needs_engine = !assemble::steps_needing_execution(&compiled.plan).is_empty();
    let existed = store_dir.exists();
    let store = Store::open_or_create(store_dir)?;
    let result = if needs_engine {
        super::engine_build::build_with_engine(&store, name, compiled, options, engine, None, log)
    } else {
        build_into(&store, name, compiled, options, log)
    };
    // A store this command created and that holds nothing (the base could not be read, the
    // engine is missing, say) is removed again, so a failed build leaves the disk as it was.
    // One that holds a failed build's record is kept: the record is what the user asked for.
    if result.is_err() && !existed && store.is_empty().unwrap_or(false) && !store.has_builds() {
        let _ = std::fs::remove_dir_all(store_dir);
    }
    result
}

/// The base a build assembles on: `--base` (a registry's with `docker://`), else the store's,
/// else pulled from its registry (the mirror applied).
pub(crate) fn base(
    store: &Store,
    base_name: &str,
    arg: Option<&str>,
    options: &BuildOptions,
) -> Result<ImportedBase, Error> {
    Ok(match arg {
        Some(arg) => match base_arg::registry_ref(arg) {
            Some(r) => super::registry::pull_base(store, &options.registry, r, base_name)?,
            None => store.import_base(&base_arg::parse(arg)?, base_name)?,
        },
        None => match store.stored_base(base_name)? {
            Some(b) => b,
            None => {
                let from =
                    crate::emit::dockerfile::from_image(base_name, options.mirror.as_deref());
                super::registry::pull_base(store, &options.registry, &from, base_name)?
            }
        },
    })
}

fn build_into(
    store: &Store,
    name: &EnvName,
    compiled: &Compiled,
    options: &BuildOptions,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let plan = &compiled.plan;
    let base_name = plan.base.reference.clone();
    let imported = base(store, &base_name, options.base.as_deref(), options)?;
    if imported.reused {
        log.verbose(&format!(
            "base `{base_name}` already in the store ({})",
            imported.manifest.digest
        ));
    } else {
        log.verbose(&format!(
            "imported base `{base_name}` ({})",
            imported.manifest.digest
        ));
    }
    // The base's layers are checked before anything is written, so a corrupt one leaves no
    // blob behind.
    for layer in &imported.layers {
        store.check_layer(layer)?;
    }
    let base = Base {
        name: base_name,
        manifest: imported.manifest,
        config: imported.config,
        layers: imported.layers,
    };
    let assemble_options = assemble::Options {
        epoch: options.epoch,
        compression: options.compression,
    };
    let mut manifest = assemble::assemble(store, plan, &base, &assemble_options)?.manifest;
    if let Some(p) = &compiled.provenance {
        // Template inputs: recorded beside the revision, never part of the image's digest.
        let text = serde_json::to_string(p)?;
        manifest.annotations.insert(PROVENANCE.into(), text);
    }
    let lock = store.lock()?;
    let commit = store.commit(&lock, name, manifest)?;
    drop(lock);
    Ok(BuildOutcome::new(name, commit))
}
