//! What the server remembers between requests, so listing 1,000 revisions or showing one does
//! not re-parse the store's `index.json` and re-read the image's metadata layer each time.
//!
//! Decisions: the revisions are cached against `index.json`'s identity (inode, size, mtime
//! and ctime to the nanosecond). Every writer replaces the index by a rename, so any commit,
//! by this server or by a CLI beside it, changes the key and the next request reads the new
//! index; nothing is ever served from an index that was replaced. A revision's detail is
//! immutable once committed (revisions are never rewritten), so it is cached by `NAME:REV`
//! and manifest digest, at most [`DETAILS`] of them.

use super::error::ApiError;
use crate::ops::revisions;
use crate::store::view::{RevisionDetail, RevisionView};
use crate::store::{Revision, Store};
use crate::types::name::{EnvName, Identifier};
use std::collections::HashMap;
use std::os::unix::fs::MetadataExt as _;
use std::sync::{Arc, Mutex};

/// How many revision details are kept.
const DETAILS: usize = 4096;

type IndexKey = (u64, u64, i64, i64, i64, i64);

#[derive(Default)]
pub struct Cache {
    index: Mutex<Option<(IndexKey, Arc<Vec<Revision>>)>>,
    details: Mutex<HashMap<(String, String), Arc<RevisionDetail>>>,
}

impl Cache {
    /// The store's revisions, re-read only when `index.json` was replaced.
    fn revisions(&self, store: &Store) -> Result<Arc<Vec<Revision>>, ApiError> {
        let key = std::fs::metadata(store.root().join("index.json"))
            .map(|m| {
                (
                    m.ino(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.ctime(),
                    m.ctime_nsec(),
                )
            })
            .ok();
        if let (Some(key), Some((cached, revs))) = (key, &*self.index.lock().expect("cache lock")) {
            if key == *cached {
                return Ok(revs.clone());
            }
        }
        let revs = Arc::new(store.revisions(None)?);
        if let Some(key) = key {
            *self.index.lock().expect("cache lock") = Some((key, revs.clone()));
        }
        Ok(revs)
    }

    /// `list NAME`.
    pub fn list(&self, store: &Store, name: &EnvName) -> Result<Vec<RevisionView>, ApiError> {
        let views: Vec<RevisionView> = self
            .revisions(store)?
            .iter()
            .filter(|r| r.name == *name)
            .map(RevisionView::new)
            .collect();
        if views.is_empty() {
            return Err(crate::ops::Error::NameNotFound {
                name: name.to_string(),
            }
            .into());
        }
        Ok(views)
    }

    /// `show NAME[:REV]`.
    pub fn show(&self, store: &Store, id: &Identifier) -> Result<Arc<RevisionDetail>, ApiError> {
        let revs = self.revisions(store)?;
        let mut of_name = revs.iter().filter(|r| r.name == id.name).peekable();
        if of_name.peek().is_none() {
            return Err(crate::store::Error::NameNotFound {
                name: id.name.clone(),
            }
            .into());
        }
        let found = match id.revision {
            None => of_name.last(),
            Some(n) => of_name.find(|r| r.revision == n),
        };
        let Some(r) = found else {
            return Err(crate::store::Error::RevisionNotFound {
                name: id.name.clone(),
                revision: id.revision.unwrap_or(0),
            }
            .into());
        };
        let key = (r.reference(), r.manifest.digest.to_string());
        if let Some(d) = self.details.lock().expect("cache lock").get(&key) {
            return Ok(d.clone());
        }
        let detail = Arc::new(revisions::detail(store, r)?);
        let mut details = self.details.lock().expect("cache lock");
        if details.len() >= DETAILS {
            details.clear();
        }
        details.insert(key, detail.clone());
        Ok(detail)
    }
}
