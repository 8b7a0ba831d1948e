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
    let r = store.resolve(id)?;
    Ok(RevisionDetail {
        hermetic_layers: crate::store::view::hermetic_layers(&r),
        locked: crate::store::view::locked_versions(&r),
        plan: assemble::revision_plan(store, &r)?,
        layers: store.layers(&r)?,
        revision: RevisionView::new(&r),
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
