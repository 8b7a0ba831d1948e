//! The store: revisions of environments and imported base images, on top of one OCI image
//! layout (`crate::oci::layout`), which holds the blobs, the locks and `index.json`.
//!
//! A revision is one `index.json` entry whose `org.opencontainers.image.ref.name` is
//! `NAME:REV`; a base is an entry named `envc.base/sha256-<manifest hex>` (names have no `/`,
//! so the two never collide). The store decides what the layout does not: the names and
//! numbers, the fixed order `index.json` is written in (bases by ref, revisions by name and
//! number, anything else after), which manifest a base name was last imported as
//! (`envc/bases/<sha256 of a base name>`), and every `dev.envc.*` annotation
//! ([`annotations`]). Every mutation is the layout's: under its lock, after re-reading
//! `index.json`, rewritten atomically; a kill at any instant leaves a store that verifies.
//! A [`Store`] dereferences to its [`Layout`], so blob reads and writes are the layout's own.

pub mod annotations;
pub mod base;
pub mod base_arg;
pub mod builds;
pub mod merge;
pub mod rollback;
#[cfg(test)]
mod tests;
pub mod view;

use crate::oci::archive::ExportFormat;
use crate::oci::index::Index;
use crate::oci::layout::{Layout, LayoutLock};
use crate::oci::{self, Descriptor, ANNOTATION_REF_NAME};
use crate::types::name::{self, EnvName, Identifier};
use annotations::{base_ref, BASE_REF_PREFIX, PARENT, REVISION};
use std::path::Path;

/// What the store can refuse: the layout's errors, and names or revisions it does not have.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Oci(#[from] oci::Error),
    #[error("{}", name::name_not_found_message(.name.as_str()))]
    NameNotFound { name: EnvName },
    #[error("{}", name::revision_not_found_message(.name.as_str(), *.revision))]
    RevisionNotFound { name: EnvName, revision: u32 },
    #[error("the revisions of `{name}` changed while this ran (a build or another pull committed); nothing was written: run it again")]
    Changed { name: EnvName },
}

impl Error {
    /// An I/O failure (exit 2) rather than a refused input (exit 1).
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Oci(oci::Error::Io { .. }))
    }
}

/// One revision: `NAME:REV` and its index entry (annotations included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub name: EnvName,
    pub revision: u32,
    pub manifest: Descriptor,
}

impl Revision {
    /// `NAME:REV`, the entry's `ref.name`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.revision)
    }

    /// An annotation of the index entry.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.manifest.annotations.get(key).map(String::as_str)
    }
}

/// What `commit` did: a new revision, or (`unchanged`) the latest one, whose manifest was the
/// same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub revision: Revision,
    pub unchanged: bool,
}

/// The result of `verify`: `problems` empty means the store is sound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub problems: Vec<String>,
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    pub revisions: usize,
    pub bases: usize,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// An open store. Cheap to open; every query re-reads `index.json`.
#[derive(Debug)]
pub struct Store {
    layout: Layout,
}

impl std::ops::Deref for Store {
    type Target = Layout;

    fn deref(&self) -> &Layout {
        &self.layout
    }
}

enum EntryKind {
    Base(String),
    Revision(EnvName, u32),
    Other(String),
}

fn entry_kind(d: &Descriptor) -> EntryKind {
    let Some(r) = d.annotations.get(ANNOTATION_REF_NAME) else {
        return EntryKind::Other(String::new());
    };
    if r.starts_with(BASE_REF_PREFIX) {
        return EntryKind::Base(r.clone());
    }
    match parse_revision_ref(r) {
        Some((name, rev)) => EntryKind::Revision(name, rev),
        None => EntryKind::Other(r.clone()),
    }
}

/// `NAME:REV` exactly as envc writes it (no leading zeros, REV ≥ 1).
fn parse_revision_ref(r: &str) -> Option<(EnvName, u32)> {
    let (name, rev) = r.rsplit_once(':')?;
    let n: u32 = rev.parse().ok()?;
    if n == 0 || n.to_string() != rev {
        return None;
    }
    Some((EnvName::parse(name).ok()?, n))
}

impl Store {
    /// Opens an existing store; never modifies anything.
    pub fn open(root: &Path) -> Result<Store, Error> {
        Ok(Store {
            layout: Layout::open(root)?,
        })
    }

    /// Opens the store at `root`, creating an empty one if `root` is absent or an empty
    /// directory (see [`Layout::open_or_create`]).
    pub fn open_or_create(root: &Path) -> Result<Store, Error> {
        Ok(Store {
            layout: Layout::open_or_create(root)?,
        })
    }

    /// Rewrites `index.json` in the store's fixed order: bases by ref, revisions by name and
    /// number, anything else by ref and digest.
    fn write_index(&self, lock: &LayoutLock, mut index: Index) -> Result<(), Error> {
        index
            .entries
            .sort_by_cached_key(|(_, d)| match entry_kind(d) {
                EntryKind::Base(r) => (0, r, 0, String::new()),
                EntryKind::Revision(n, rev) => (1, n.to_string(), rev, String::new()),
                EntryKind::Other(r) => (2, r, 0, d.digest.to_string()),
            });
        Ok(self.layout.write_index(lock, &index)?)
    }

    /// Every revision (of `name`, or of all names), sorted by name and number.
    pub fn revisions(&self, name: Option<&EnvName>) -> Result<Vec<Revision>, Error> {
        Ok(revisions_of(&self.read_index()?, name))
    }

    /// `NAME:REV`, or the latest revision of `NAME`; Anyscale's messages when absent.
    pub fn resolve(&self, id: &Identifier) -> Result<Revision, Error> {
        let revs = self.revisions(Some(&id.name))?;
        if revs.is_empty() {
            return Err(Error::NameNotFound {
                name: id.name.clone(),
            });
        }
        match id.revision {
            None => Ok(revs.into_iter().next_back().expect("non-empty")),
            Some(n) => {
                revs.into_iter()
                    .find(|r| r.revision == n)
                    .ok_or_else(|| Error::RevisionNotFound {
                        name: id.name.clone(),
                        revision: n,
                    })
            }
        }
    }

    /// Records `manifest` (whose blobs must all be in the store) as the next revision of
    /// `name`, unless the latest revision has the same manifest digest (`unchanged`). Sets
    /// `ref.name`, `dev.envc.revision` and `dev.envc.parent`; keeps the caller's other
    /// annotations.
    pub fn commit(
        &self,
        lock: &LayoutLock,
        name: &EnvName,
        manifest: Descriptor,
    ) -> Result<Commit, Error> {
        self.check_lock(lock)?;
        self.check_image_blobs(&manifest)?;
        let mut index = self.read_index()?;
        let latest = revisions_of(&index, Some(name)).into_iter().next_back();
        if let Some(latest) = &latest {
            if latest.manifest.digest == manifest.digest {
                return Ok(Commit {
                    revision: latest.clone(),
                    unchanged: true,
                });
            }
        }
        let number = latest.as_ref().map_or(1, |l| l.revision + 1);
        let mut d = manifest;
        d.annotations
            .insert(ANNOTATION_REF_NAME.into(), format!("{name}:{number}"));
        d.annotations.insert(REVISION.into(), number.to_string());
        match &latest {
            Some(l) => d.annotations.insert(PARENT.into(), l.revision.to_string()),
            None => d.annotations.remove(PARENT),
        };
        index.push(d.clone());
        self.write_index(lock, index)?;
        Ok(Commit {
            revision: Revision {
                name: name.clone(),
                revision: number,
                manifest: d,
            },
            unchanged: false,
        })
    }

    /// The full check of the layout, plus each entry's own: a base's ref matches its digest,
    /// a revision's `dev.envc.revision` its number.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        let (mut revisions, mut bases) = (0, 0);
        let report = self
            .layout
            .verify(|d, label, problems| match entry_kind(d) {
                EntryKind::Base(r) => {
                    bases += 1;
                    if r != base_ref(&d.digest) {
                        problems.push(format!(
                            "{label}: the ref does not match digest {}",
                            d.digest
                        ));
                    }
                }
                EntryKind::Revision(_, n) => {
                    revisions += 1;
                    if d.annotations.get(REVISION) != Some(&n.to_string()) {
                        problems.push(format!("{label}: annotation {REVISION} is not {n}"));
                    }
                }
                EntryKind::Other(_) => {}
            })?;
        Ok(VerifyReport {
            problems: report.problems,
            blobs_checked: report.blobs_checked,
            bytes_checked: report.bytes_checked,
            revisions,
            bases,
        })
    }

    /// Writes one revision as an oci-archive or docker-archive whose one index entry is named
    /// `NAME:REV` (see [`Layout::export`]). The entry carries the revision's annotations (its
    /// provenance redacted, as every [`Revision`] the store hands out).
    pub fn export(&self, rev: &Revision, format: ExportFormat, out: &Path) -> Result<(), Error> {
        Ok(self
            .layout
            .export(&rev.manifest, &rev.reference(), format, out)?)
    }
}

fn revisions_of(index: &Index, name: Option<&EnvName>) -> Vec<Revision> {
    let mut out: Vec<Revision> = index
        .entries
        .iter()
        .filter_map(|(_, d)| match entry_kind(d) {
            EntryKind::Revision(n, rev) if name.is_none_or(|want| *want == n) => {
                let mut manifest = d.clone();
                // A revision leaves the store with its provenance redacted, whatever wrote it:
                // show, list, export and a rollback's new entry never see an older envc's values.
                if let Some(p) = manifest.annotations.get_mut(annotations::PROVENANCE) {
                    *p = crate::input::template::redact_recorded(p).to_string();
                }
                Some(Revision {
                    name: n,
                    revision: rev,
                    manifest,
                })
            }
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| (&a.name, a.revision).cmp(&(&b.name, b.revision)));
    out
}
