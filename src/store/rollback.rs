//! Rollback: a new revision that carries an earlier one's manifest, marked with where it came
//! from (`dev.envc.rollback-to`) and what was latest when it was made
//! (`dev.envc.rolled-back-from`). One transaction: the latest revision is read under the store
//! lock, so a concurrent build cannot slip between reading it and committing.

use super::annotations::{ROLLBACK_TO, ROLLED_BACK_FROM};
use super::{Commit, Error, Store};
use crate::types::name::{EnvName, Identifier};

impl Store {
    /// Commits revision `to` of `name` again as the next revision (`unchanged` when it already
    /// is the latest manifest; see [`Store::commit`]).
    pub fn rollback(&self, name: &EnvName, to: u32) -> Result<Commit, Error> {
        let target = self.resolve(&Identifier {
            name: name.clone(),
            revision: Some(to),
        })?;
        let lock = self.lock()?;
        let latest = self.resolve(&Identifier {
            name: name.clone(),
            revision: None,
        })?;
        let mut manifest = target.manifest.clone();
        manifest
            .annotations
            .insert(ROLLBACK_TO.into(), to.to_string());
        manifest
            .annotations
            .insert(ROLLED_BACK_FROM.into(), latest.revision.to_string());
        let commit = self.commit(&lock, name, manifest)?;
        drop(lock);
        Ok(commit)
    }
}
