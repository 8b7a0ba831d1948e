//! `envc build --lock`: the spec's Debian and pip packages installed from the lock's
//! artifacts, hermetically (no engine, no network once the cache is warm), then the post-build
//! commands, if any, run by the engine bridge on top of the hermetic image. In order:
//!
//! 1. The lock must be current for the spec (its package lists) and the base (its digest);
//!    a stale one is refused with what changed, before anything is written.
//! 2. The base's facts are read again from its layers and compared with the lock's.
//! 3. Every artifact comes from the cache, verified against the lock's sha256 (fetched into
//!    the cache first unless `--offline`).
//! 4. The hermetic layers ([`crate::assemble::hermetic`]), then either the image (ENV steps,
//!    metadata layer with the plan and the lock) committed as a revision, or, with post-build
//!    commands, the hermetic image recorded as a base and handed to the engine with a
//!    Dockerfile of the remaining steps. The revision records the lock's digest, the locked
//!    versions per ecosystem and which layers are hermetic.

use super::build::{BuildOptions, BuildOutcome, EngineOptions};
use super::engine_build::OnHermetic;
use super::lock::{base_and_facts, fetch_all, wanted, LockError};
use super::{Error, Log};
use crate::assemble::{self, hermetic, Base, Edit};
use crate::lock::cache::Cache;
use crate::lock::fetch::Web;
use crate::lock::file::{Inputs, Lockfile};
use crate::plan::{Plan, Step};
use crate::store::annotations::{
    HERMETIC_LAYERS, LOCKED_PACKAGES, LOCK_BASE, LOCK_DIGEST, PROVENANCE, SPEC_DIGEST,
};
use crate::types::name::EnvName;
use crate::Compiled;
use std::collections::BTreeMap;
use std::path::Path;

/// What a locked build reads beside the spec.
pub struct Locked<'a> {
    pub path: &'a Path,
    pub lock: &'a Lockfile,
    pub cache: &'a Cache,
}

fn stale(locked: &Locked<'_>, now: Inputs) -> Error {
    LockError::Stale {
        path: locked.path.display().to_string(),
        diff: locked.lock.inputs.diff(&now),
    }
    .into()
}

/// Builds `compiled` from `locked` into the store at `store_dir` as a revision of `name`.
pub fn build_locked(
    store_dir: &Path,
    name: &EnvName,
    compiled: &Compiled,
    locked: &Locked<'_>,
    options: &BuildOptions,
    engine: &EngineOptions,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let plan = &compiled.plan;
    let lock = locked.lock;
    // 1. The spec's lists, before any store is opened.
    let w = wanted(plan)?;
    let lists = |debian: Vec<String>, pip: Vec<String>, base: String| {
        Inputs::compute(
            debian,
            pip,
            base,
            lock.inputs.sources.clone(),
            lock.inputs.settings.clone(),
            lock.inputs.tools.clone(),
        )
    };
    // A lock whose digest does not follow from its own inputs was edited by hand.
    let own = lists(
        lock.inputs.debian.clone(),
        lock.inputs.pip.clone(),
        lock.inputs.base.clone(),
    );
    if own.digest != lock.inputs.digest {
        return Err(stale(locked, own));
    }
    let (debian, pip) = w.lists();
    if debian != lock.inputs.debian
        || pip != lock.inputs.pip
        || plan.base.reference != lock.base.name
    {
        let base = format!("{}@{}", plan.base.reference, lock.base.digest);
        return Err(stale(locked, lists(debian, pip, base)));
    }
    super::with_store(store_dir, |store| {
        let (base, facts) = base_and_facts(
            store,
            plan,
            options.base.as_deref(),
            &options.registry,
            options.mirror.as_deref(),
        )?;
        if base.manifest.digest.to_string() != lock.base.digest {
            let now = format!("{}@{}", plan.base.reference, base.manifest.digest);
            return Err(stale(locked, lists(debian.clone(), pip.clone(), now)));
        }
        // 2. The base's facts, again.
        let python_now = facts
            .python
            .as_ref()
            .map(|p| (&p.version, &p.site_packages));
        let python_then = lock
            .base
            .python
            .as_ref()
            .map(|p| (&p.version, &p.site_packages));
        if facts.os.id != lock.base.os_id
            || facts.os.codename != lock.base.os_codename
            || (lock.base.python.is_some() && python_now != python_then)
        {
            return Err(Error::Usage(format!(
                "the base `{}` no longer reads as the lock says ({} {}, python {:?}); run `envc lock` again",
                lock.base.name, lock.base.os_id, lock.base.os_codename, python_then
            )));
        }
        for layer in &base.layers {
            store.check_layer(layer)?;
        }
        // 3. The artifacts.
        let fetch = Web {
            client: options.registry.clone(),
        };
        let offline = options.registry.options().offline;
        let (deb_paths, wheel_paths) =
            fetch_all(locked.cache, &fetch, &lock.debs, &lock.wheels, offline)?;
        log.verbose(&format!(
            "{} artifact(s) verified in the cache {}",
            deb_paths.len() + wheel_paths.len(),
            locked.cache.root().display()
        ));
        // 4. The hermetic layers.
        let assemble_options = assemble::Options {
            epoch: options.epoch,
            compression: options.compression,
        };
        let debs: Vec<_> = lock.debs.iter().cloned().zip(deb_paths).collect();
        let wheels: Vec<_> = lock.wheels.iter().cloned().zip(wheel_paths).collect();
        store.start_writing()?;
        let layers = hermetic::write_layers(store, &facts, &debs, &wheels, &assemble_options)
            .map_err(LockError::from)?;
        for w in &layers.warnings {
            log.note(w);
        }
        let packages = serde_json::to_string(&hermetic::locked_packages(lock))?;
        let hermetic_digests: Vec<String> = layers
            .layers
            .iter()
            .map(|(d, _, _)| d.digest.to_string())
            .collect();
        let mut annotations = BTreeMap::from([
            (LOCK_DIGEST.to_string(), lock.inputs.digest.clone()),
            (LOCKED_PACKAGES.to_string(), packages),
            (
                HERMETIC_LAYERS.to_string(),
                serde_json::to_string(&hermetic_digests)?,
            ),
        ]);
        let base = Base {
            name: plan.base.reference.clone(),
            manifest: base.manifest,
            config: base.config,
            layers: base.layers,
        };
        let has_commands = plan.steps.iter().any(|s| matches!(s, Step::Run { .. }));
        if has_commands {
            on_engine(
                store,
                name,
                compiled,
                &base,
                layers,
                annotations,
                options,
                engine,
                log,
            )
        } else {
            let spec_digest = plan.digest().to_string();
            let mut plan_bytes = plan.canonical_json().into_bytes();
            plan_bytes.push(b'\n');
            let lock_text = lock.to_text().into_bytes();
            let (meta, meta_diff_id) = assemble::metadata_layer(
                store,
                &[(assemble::PLAN_PATH, plan_bytes), (LOCK_PATH, lock_text)],
                &assemble_options,
            )?;
            let mut new_layers = layers.layers;
            new_layers.push((
                meta,
                meta_diff_id,
                format!(
                    "envc {}: metadata layer /{} and /{LOCK_PATH}",
                    env!("CARGO_PKG_VERSION"),
                    assemble::PLAN_PATH
                ),
            ));
            annotations.insert(SPEC_DIGEST.to_string(), spec_digest.clone());
            if let Some(p) = &compiled.provenance {
                annotations.insert(PROVENANCE.into(), serde_json::to_string(p)?);
            }
            let edit = Edit {
                env: assemble::apply_env(&assemble::config_env(&base.config), plan),
                labels: vec![(SPEC_DIGEST.into(), spec_digest)],
                working_dir: None,
                empty_history: assemble::env_history(plan),
                layers: new_layers,
                annotations,
            };
            let image = assemble::compose(store, &base, edit, &assemble_options)?;
            let lock_guard = store.lock()?;
            let commit = store.commit(&lock_guard, name, image.manifest)?;
            drop(lock_guard);
            Ok(BuildOutcome::new(name, commit))
        }
    })
}

/// Where the metadata layer of a locked build puts its lock (`/.envc/envc.lock`).
pub const LOCK_PATH: &str = ".envc/envc.lock";

/// The post-build commands on the hermetic image: it is recorded as a base of its own and the
/// engine builds the plan's remaining steps on it.
#[allow(clippy::too_many_arguments)]
fn on_engine(
    store: &crate::store::Store,
    name: &EnvName,
    compiled: &Compiled,
    base: &Base,
    layers: hermetic::Layers,
    mut annotations: BTreeMap<String, String>,
    options: &BuildOptions,
    engine: &EngineOptions,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let assemble_options = assemble::Options {
        epoch: options.epoch,
        compression: options.compression,
    };
    // The hermetic image: the base's config as it is (the engine applies the ENV steps).
    let edit = Edit {
        env: assemble::config_env(&base.config),
        labels: Vec::new(),
        working_dir: None,
        empty_history: Vec::new(),
        layers: layers.layers,
        annotations: BTreeMap::new(),
    };
    let image = assemble::compose(store, base, edit, &assemble_options)?;
    let hermetic_name = format!(
        "localhost/envc-lock/{name}:{}",
        &image.manifest.digest.hex()[..12]
    );
    let entry = store.record_assembled_base(&image.manifest, &hermetic_name)?;
    log.verbose(&format!("hermetic image {hermetic_name} {}", entry.digest));
    let mut dockerfile_plan: Plan = compiled.plan.clone();
    dockerfile_plan
        .steps
        .retain(|s| !matches!(s, Step::Debian { .. } | Step::Pip { .. }));
    dockerfile_plan.base.reference = hermetic_name;
    annotations.insert(
        LOCK_BASE.to_string(),
        format!("{}@{}", base.name, base.manifest.digest),
    );
    let root =
        std::fs::canonicalize(store.root()).map_err(|e| crate::oci::Error::io(store.root(), e))?;
    let engine_options = BuildOptions {
        base: Some(format!(
            "oci:{}:{}",
            root.display(),
            crate::store::annotations::base_ref(&entry.digest)
        )),
        ..options.clone()
    };
    super::engine_build::build_with_engine(
        store,
        name,
        compiled,
        &engine_options,
        engine,
        Some(&OnHermetic {
            dockerfile_plan: &dockerfile_plan,
            annotations,
        }),
        log,
    )
}
