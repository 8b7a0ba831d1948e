//! `bake`: a runtime env's local `working_dir`, `py_modules` and `env_vars` onto a stored
//! revision, as a new revision. Owns "a stored revision as a base": the revision's manifest,
//! config and layers become the [`Base`], and its plan is read back from the image (so the
//! bake knows the image's user and Ray version). The layers are checked before anything is
//! written; the commit is under the store's lock. Its notes (what was skipped, that pip and
//! conda are left to Ray) go to the [`Log`] before the commit, in the order they arise.

use super::build::BuildOutcome;
use super::{Error, Log};
use crate::assemble::runtime_env::WORKING_DIR;
use crate::assemble::{self, Base};
use crate::oci::Compression;
use crate::runtime_env::validate::RuntimeEnv;
use crate::runtime_env::working_dir::RayPackagingEnv;
use crate::runtime_env::RayRules;
use crate::store::Store;
use crate::types::name::{EnvName, Identifier};

/// How to bake.
#[derive(Debug, Clone)]
pub struct BakeOptions {
    pub compression: Compression,
    /// Seconds since the Unix epoch for every timestamp ([`crate::epoch`]).
    pub epoch: u64,
    /// Whose packaging rules, and the runtime env printed for jobs.
    pub ray: RayRules,
    /// The variables Ray's packaging reads.
    pub ray_env: RayPackagingEnv,
}

/// What a bake made: the revision, and the runtime env a job on it should pass.
#[derive(Debug, Clone)]
pub struct BakeOutcome {
    pub build: BuildOutcome,
    /// The job's runtime env (`local://` URIs of the baked code under Ray 2.60).
    pub runtime_env: serde_json::Value,
    /// What that runtime env does, or cannot do, under the chosen Ray.
    pub note: String,
}

/// Bakes the (valid) runtime env `env` onto the revision `from` as a revision of `name`.
pub fn bake(
    store: &Store,
    name: &EnvName,
    from: &Identifier,
    env: &RuntimeEnv,
    options: &BakeOptions,
    log: &dyn Log,
) -> Result<BakeOutcome, Error> {
    let from_rev = store.resolve(from)?;
    let config = store.image_config(&from_rev)?;
    let base = Base {
        name: from_rev.reference(),
        manifest: from_rev.manifest.clone(),
        config,
        layers: store.layers(&from_rev)?,
    };
    let plan = assemble::revision_plan(store, &from_rev)?;
    // Checked before anything is written: a corrupt layer leaves no blob behind.
    for layer in &base.layers {
        store.check_layer(layer)?;
    }
    let assemble_options = assemble::Options {
        epoch: options.epoch,
        compression: options.compression,
    };
    let rules = assemble::runtime_env::Rules {
        ray: options.ray,
        env: &options.ray_env,
    };
    let baked = assemble::runtime_env::bake(store, &base, &plan, env, &rules, &assemble_options)?;
    let (runtime_env, note) = assemble::runtime_env::job_runtime_env(env, &baked, options.ray);
    for note in &baked.notes {
        log.note(note);
    }
    if env.pip.is_some() || env.conda.is_some() {
        log.note("`pip` and `conda` are not installed by baking: Ray installs them when the job starts (or build them into the cluster environment)");
    }
    if let Some(uri) = &baked.working_dir_uri {
        log.verbose(&format!("working_dir {uri} at {WORKING_DIR}"));
    }
    let lock = store.lock()?;
    let commit = store.commit(&lock, name, baked.image.manifest)?;
    drop(lock);
    Ok(BakeOutcome {
        build: BuildOutcome::new(name, commit),
        runtime_env,
        note,
    })
}
