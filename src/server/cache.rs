//! What the server remembers between requests, so listing 1,000 revisions or showing one does
//! not re-parse the store's `index.json`, re-read the image's metadata layer or re-serialise
//! the document each time: the documents are kept as the bytes they are sent as.
//!
//! Decisions: the revisions are cached against `index.json`'s identity (inode, size, mtime
//! and ctime to the nanosecond). Every writer replaces the index by a rename, so any commit,
//! by this server or by a CLI beside it, changes the key and the next request reads the new
//! index; nothing is ever served from an index that was replaced. A revision's detail is
//! immutable once committed (revisions are never rewritten), so it is cached by `NAME:REV`
//! and manifest digest, at most [`DETAILS`] of them. A list's document is kept per name for
//! the index it was made from.

use super::error::ApiError;
use crate::ops::revisions;
use crate::store::view::{RevisionDetail, RevisionView};
use crate::store::{Revision, Store};
use crate::types::name::{EnvName, Identifier};
use axum::body::Bytes;
use flate2::write::GzEncoder;
use std::collections::HashMap;
use std::io::Write as _;
use std::os::unix::fs::MetadataExt as _;
use std::sync::{Arc, Mutex, OnceLock};

/// How many revision details are kept.
const DETAILS: usize = 4096;

type IndexKey = (u64, u64, i64, i64, i64, i64);

/// A document as it is sent: its JSON, and the same gzip-compressed for a client that takes
/// it, made on first use (a 1,000-revision list is 500 KB of JSON, 30 KB compressed).
#[derive(Debug)]
pub struct Doc {
    pub json: Bytes,
    gzip: OnceLock<Option<Bytes>>,
}

impl Doc {
    pub fn new(json: Bytes) -> Arc<Doc> {
        Arc::new(Doc {
            json,
            gzip: OnceLock::new(),
        })
    }

    /// The gzip form; `None` for a document too small to gain from it.
    pub fn gzip(&self) -> Option<&Bytes> {
        self.gzip
            .get_or_init(|| {
                if self.json.len() < 512 {
                    return None;
                }
                let mut e = GzEncoder::new(Vec::new(), flate2::Compression::default());
                e.write_all(&self.json).ok()?;
                e.finish().ok().map(Bytes::from)
            })
            .as_ref()
    }
}

/// A revision's detail and its document.
pub struct Detail {
    pub detail: RevisionDetail,
    pub doc: Arc<Doc>,
}

#[derive(Default)]
pub struct Cache {
    index: Mutex<Option<(IndexKey, Arc<Vec<Revision>>)>>,
    details: Mutex<HashMap<(String, String), Arc<Detail>>>,
    /// Per name: the index it was made from and the list's document.
    lists: Mutex<HashMap<EnvName, (IndexKey, Arc<Doc>)>>,
}

/// A document as the API sends it (`--format json`'s bytes).
pub fn document(doc: &impl serde::Serialize) -> Result<axum::body::Bytes, ApiError> {
    serde_json::to_value(doc)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .map(|text| axum::body::Bytes::from(format!("{text}\n")))
        .map_err(|e| ApiError::internal(format!("cannot write the JSON document: {e}")))
}

fn index_key(store: &Store) -> Option<IndexKey> {
    std::fs::metadata(store.root().join("index.json"))
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
        .ok()
}

impl Cache {
    /// The store's revisions, re-read only when `index.json` was replaced.
    fn revisions(&self, store: &Store) -> Result<Arc<Vec<Revision>>, ApiError> {
        self.revisions_at(store, index_key(store))
    }

    fn revisions_at(
        &self,
        store: &Store,
        key: Option<IndexKey>,
    ) -> Result<Arc<Vec<Revision>>, ApiError> {
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

    /// `list NAME`: the views from the index identified by `key`.
    fn views(
        &self,
        store: &Store,
        key: Option<IndexKey>,
        name: &EnvName,
    ) -> Result<Vec<RevisionView>, ApiError> {
        let views: Vec<RevisionView> = self
            .revisions_at(store, key)?
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

    /// `list NAME`.
    pub fn list(&self, store: &Store, name: &EnvName) -> Result<Vec<RevisionView>, ApiError> {
        self.views(store, index_key(store), name)
    }

    /// The document of `list NAME`.
    pub fn list_doc(&self, store: &Store, name: &EnvName) -> Result<Arc<Doc>, ApiError> {
        let key = index_key(store);
        if let Some(key) = key {
            if let Some((k, body)) = self.lists.lock().expect("cache lock").get(name) {
                if *k == key {
                    return Ok(body.clone());
                }
            }
        }
        let body = Doc::new(document(&self.views(store, key, name)?)?);
        if let Some(key) = key {
            let mut lists = self.lists.lock().expect("cache lock");
            if lists.len() >= DETAILS {
                lists.clear();
            }
            lists.insert(name.clone(), (key, body.clone()));
        }
        Ok(body)
    }

    /// `show NAME[:REV]`, and its document.
    pub fn show(&self, store: &Store, id: &Identifier) -> Result<Arc<Detail>, ApiError> {
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
        let detail = revisions::detail(store, r)?;
        let doc = Doc::new(document(&detail)?);
        let detail = Arc::new(Detail { detail, doc });
        let mut details = self.details.lock().expect("cache lock");
        if details.len() >= DETAILS {
            details.clear();
        }
        details.insert(key, detail.clone());
        Ok(detail)
    }
}
