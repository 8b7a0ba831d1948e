//! The hermetic layers of a locked build: the locked debs in one layer and the wheels in
//! another, each artifact over [`OWN_LAYER`] (torch, the `nvidia-*` wheels) in a layer of its
//! own, so a change to one small package rewrites (and pushes) one small layer. Every artifact
//! comes from the cache, checked against its sha256 by the caller; nothing runs and nothing is
//! fetched here.

use super::packages::{deb, wheel};
use super::{stream_layer, Error as AssembleError, Options};
use crate::lock::facts::BaseFacts;
use crate::lock::file::{LockedDeb, LockedWheel, Lockfile};
use crate::oci::Descriptor;
use crate::store::Store;
use crate::types::digest::Digest;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// Artifacts larger than this get a layer of their own.
pub const OWN_LAYER: u64 = 100 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Deb(#[from] deb::Error),
    #[error(transparent)]
    Wheel(#[from] wheel::Error),
    #[error(transparent)]
    Assemble(#[from] AssembleError),
    #[error(
        "the lock installs wheels but the base has no Python environment: run `envc lock` again"
    )]
    NoPython,
    #[error("the store's scratch directory: {0}")]
    Spool(std::io::Error),
}

/// The layers written, with a history line each, and what the image will lack.
#[derive(Debug)]
pub struct Layers {
    pub layers: Vec<(Descriptor, Digest, String)>,
    pub warnings: Vec<String>,
}

/// The locked versions per ecosystem, as recorded on the revision.
pub fn locked_packages(lock: &Lockfile) -> BTreeMap<&'static str, BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    if !lock.debs.is_empty() {
        out.insert(
            "debian",
            lock.debs
                .iter()
                .map(|d| (d.name.clone(), d.version.clone()))
                .collect(),
        );
    }
    if !lock.wheels.is_empty() {
        out.insert(
            "pip",
            lock.wheels
                .iter()
                .map(|w| (w.name.clone(), w.version.clone()))
                .collect(),
        );
    }
    out
}

/// Writes the hermetic layers of `debs` and `wheels` (each with its verified cache path) on a
/// base with `facts` into `store`.
pub fn write_layers(
    store: &Store,
    facts: &BaseFacts,
    debs: &[(LockedDeb, PathBuf)],
    wheels: &[(LockedWheel, PathBuf)],
    options: &Options,
) -> Result<Layers, Error> {
    let spool = tempfile::Builder::new()
        .prefix("hermetic-")
        .tempdir_in(store.tmp_dir())
        .map_err(Error::Spool)?;
    let mut layers = Vec::new();
    let mut warnings = Vec::new();
    if !debs.is_empty() {
        let mut read = Vec::new();
        for (locked, path) in debs {
            read.push((locked.clone(), deb::read(path, spool.path())?));
        }
        let layer = deb::layer(facts, &read)?;
        warnings.extend(layer.warnings);
        let (desc, diff_id) = stream_layer(store, layer.entries, options)?;
        let names: Vec<String> = debs
            .iter()
            .map(|(d, _)| format!("{}={}", d.name, d.version))
            .collect();
        layers.push((desc, diff_id, format!("envc: debs {}", names.join(" "))));
    }
    if !wheels.is_empty() {
        let python = facts.python.as_ref().ok_or(Error::NoPython)?;
        let (big, small): (Vec<_>, Vec<_>) = wheels
            .iter()
            .cloned()
            .partition(|(w, _)| w.size > OWN_LAYER);
        let mut groups: Vec<Vec<(LockedWheel, PathBuf)>> = Vec::new();
        if !small.is_empty() {
            groups.push(small);
        }
        groups.extend(big.into_iter().map(|w| vec![w]));
        for group in groups {
            let entries = wheel::install(python, &facts.dirs, &group, spool.path())?;
            let (desc, diff_id) = stream_layer(store, entries, options)?;
            let names: Vec<String> = group
                .iter()
                .map(|(w, _)| format!("{}=={}", w.name, w.version))
                .collect();
            layers.push((desc, diff_id, format!("envc: wheels {}", names.join(" "))));
        }
    }
    Ok(Layers { layers, warnings })
}
