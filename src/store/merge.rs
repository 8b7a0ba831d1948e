//! Merging a history pulled from a registry: new revisions at the numbers the registry gives
//! them, and this store's conflicting revisions moved after them, in one transaction. The
//! caller plans from the revisions it read; if they changed before the lock was taken (a build
//! committed meanwhile), nothing is written and the pull is run again.

use super::{entry_kind, EntryKind, Error, Revision, Store};
use crate::oci::{Descriptor, ANNOTATION_REF_NAME};
use crate::types::name::EnvName;

impl Store {
    /// Replaces revisions `moved` of `name` and adds `entries` (number, store entry; blobs all
    /// in the store), provided the revisions of `name` are still `expected`. Returns the
    /// revisions added, as stored.
    pub fn merge_history(
        &self,
        name: &EnvName,
        expected: &[Revision],
        moved: &[u32],
        entries: Vec<(u32, Descriptor)>,
    ) -> Result<Vec<Revision>, Error> {
        for (_, e) in &entries {
            self.check_image_blobs(e)?;
        }
        let lock = self.lock()?;
        let current = self.revisions(Some(name))?;
        let key = |r: &Revision| (r.revision, r.manifest.digest);
        if current.iter().map(key).ne(expected.iter().map(key)) {
            return Err(Error::Changed { name: name.clone() });
        }
        let mut index = self.read_index()?;
        index.entries.retain(|(_, d)| match entry_kind(d) {
            EntryKind::Revision(n, rev) => !(n == *name && moved.contains(&rev)),
            _ => true,
        });
        let mut added = Vec::new();
        for (number, mut d) in entries {
            d.annotations
                .insert(ANNOTATION_REF_NAME.into(), format!("{name}:{number}"));
            index.push(d.clone());
            added.push(Revision {
                name: name.clone(),
                revision: number,
                manifest: d,
            });
        }
        self.write_index(&lock, index)?;
        drop(lock);
        added.sort_by_key(|r| r.revision);
        Ok(added)
    }
}
