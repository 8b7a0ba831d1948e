//! The revisions of a store: `list`, `show`, `rollback` and `export`. Each reads (or, for
//! `rollback`, commits) through the [`Store`] and returns the store's views
//! ([`crate::store::view`]), which the CLI formats as a table, text or JSON. Names are parsed
//! by the caller (after opening the store, so a missing store is reported first).

use super::build::BuildOutcome;
use super::Error;
use crate::assemble;
use crate::oci::archive::ExportFormat;
use crate::store::view::{RevisionDetail, RevisionView};
use crate::store::{Revision, Store};
use crate::types::name::{EnvName, Identifier};
use std::path::Path;

/// Every revision, or those of `name`; a name with no revision is [`Error::NameNotFound`].
pub fn list(store: &Store, name: Option<&EnvName>) -> Result<Vec<RevisionView>, Error> {
    let revisions = store.revisions(name)?;
    if let Some(n) = name {
        if revisions.is_empty() {
            return Err(Error::NameNotFound {
                name: n.as_str().to_string(),
            });
        }
    }
    Ok(revisions.iter().map(RevisionView::new).collect())
}

/// One revision with its layers and the plan read back from its image.
pub fn show(store: &Store, id: &Identifier) -> Result<RevisionDetail, Error> {
    detail(store, &store.resolve(id)?)
}

/// A revision already resolved, with its layers and plan.
pub fn detail(store: &Store, r: &Revision) -> Result<RevisionDetail, Error> {
    Ok(RevisionDetail {
        hermetic_layers: crate::store::view::hermetic_layers(r),
        locked: crate::store::view::locked_versions(r),
        plan: assemble::revision_plan(store, r)?,
        layers: store.layers(r)?,
        revision: RevisionView::new(r),
    })
}

/// A new revision of `name` with the manifest of its revision `to`.
pub fn rollback(store: &Store, name: &EnvName, to: u32) -> Result<BuildOutcome, Error> {
    Ok(BuildOutcome::new(name, store.rollback(name, to)?))
}

/// Writes the revision `id` to `output` as an archive; returns the revision written.
pub fn export(
    store: &Store,
    id: &Identifier,
    format: ExportFormat,
    output: &Path,
) -> Result<Revision, Error> {
    let r = store.resolve(id)?;
    store.export(&r, format, output)?;
    Ok(r)
}

/// One environment as `list --environments` shows it: how many revisions, and the latest.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct EnvironmentView {
    /// `NAME:REV` of the latest revision.
    pub latest: String,
    /// The latest revision's manifest digest.
    pub manifest: String,
    pub name: String,
    pub revisions: usize,
    /// The latest revision's spec digest.
    pub spec_digest: Option<String>,
}

/// Every environment with at least one revision, by name.
pub fn environments(store: &Store) -> Result<Vec<EnvironmentView>, Error> {
    let mut out: Vec<EnvironmentView> = Vec::new();
    // The store lists revisions by name, then number: the last of a run is the latest.
    for r in store.revisions(None)? {
        let view = RevisionView::new(&r);
        match out.last_mut() {
            Some(e) if e.name == view.name => {
                e.revisions += 1;
                e.latest = view.reference;
                e.manifest = view.manifest;
                e.spec_digest = view.spec_digest;
            }
            _ => out.push(EnvironmentView {
                latest: view.reference,
                manifest: view.manifest,
                name: view.name,
                revisions: 1,
                spec_digest: view.spec_digest,
            }),
        }
    }
    Ok(out)
}

/// `list --all`: the revisions and every build record, failed ones included.
#[derive(Debug, Clone, serde::Serialize)]
pub struct History {
    pub builds: Vec<crate::store::builds::BuildRecord>,
    pub revisions: Vec<RevisionView>,
}

/// The revisions of `name` (or all) and its build records; a name with neither is
/// [`Error::NameNotFound`].
pub fn history(store: &Store, name: Option<&EnvName>) -> Result<History, Error> {
    let revisions: Vec<RevisionView> = store
        .revisions(name)?
        .iter()
        .map(RevisionView::new)
        .collect();
    let builds = store.builds(name.map(EnvName::as_str))?;
    if let Some(n) = name {
        if revisions.is_empty() && builds.is_empty() {
            return Err(Error::NameNotFound {
                name: n.to_string(),
            });
        }
    }
    Ok(History { builds, revisions })
}
