//! One environment's history shared through one registry repository (records and tags:
//! [`crate::registry::history`]).
//!
//! **How numbers are assigned.** A store numbers its own builds (`NAME:N`, next after its
//! latest). The registry decides which revision *is* number N once it is pushed: `push` refuses
//! a revision whose number the repository already gives to another image, and after writing
//! tag `N` reads it back (a push that finds another record there fails). A registry has no
//! compare-and-swap, so two pushes that interleave exactly can both succeed, the later tag
//! replacing the earlier; nothing is lost, because every record is first written under its own
//! tag `N.<hex>`, which no other record can have. `pull` makes a store agree with the
//! repository: the repository's revisions take their numbers; this store's revisions that
//! conflict with them (and the ones after those) move, in order, after the repository's
//! newest, as do records that lost a race for their number (in the order of their number,
//! then digest) — the same numbers on every machine that pulls the same repository, so the
//! next `push` publishes them without conflict. A moved revision keeps its image and
//! annotations, with `dev.envc.renumbered-from` saying what it was.

use super::Error;
use crate::oci::archive::choose_image;
use crate::oci::Descriptor;
use crate::registry::history::{classify, list_tags, tag_digest, Record, Tag};
use crate::registry::push::{push_image, put_manifest_bytes};
use crate::registry::source::{fetch_manifest, RegistrySource};
use crate::registry::{self, Client, Reference};
use crate::store::annotations::{PARENT, REVISION, ROLLBACK_TO, ROLLED_BACK_FROM};
use crate::store::{Revision, Store};
use crate::types::digest::Digest;
use crate::types::name::EnvName;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// On a revision `pull` renumbered: the number it had.
pub const RENUMBERED_FROM: &str = "dev.envc.renumbered-from";

/// The repository's view of one history.
struct Remote {
    /// Revision N: the record tag `N` names (or, if a push died before writing it, the one
    /// record tagged `N.<hex>`).
    numbered: BTreeMap<u32, Record>,
    /// Records that lost a race for their number.
    orphans: Vec<Record>,
}

fn repository(text: &str) -> Result<Reference, Error> {
    let r = super::registry::reference(text)?;
    if r.tag.is_some() || r.digest.is_some() {
        return Err(Error::Usage(format!(
            "`{text}` names a tag or digest: a history goes to a repository, \
             `[REGISTRY/]REPOSITORY`, one tag per revision"
        )));
    }
    Ok(r)
}

fn read_remote(client: &Client, repo: &Reference, name: &EnvName) -> Result<Remote, Error> {
    let mut numbered = BTreeMap::new();
    let mut unique: Vec<Record> = Vec::new();
    for tag in list_tags(client, repo)? {
        let (n, is_unique) = match classify(&tag) {
            Tag::Number(n) => (n, false),
            Tag::Unique(n) => (n, true),
            Tag::Other => continue,
        };
        let Some(fetched) = fetch_manifest(client, repo, &tag)? else {
            continue;
        };
        let record = Record::parse(name.as_str(), n, &fetched.bytes).map_err(|reason| {
            Error::from(registry::Error::Protocol {
                url: format!("{}:{tag}", repo.repository_name()),
                reason: format!(
                    "{reason}; a history needs a repository of its own (envc writes tags 1, 2, …)"
                ),
            })
        })?;
        if is_unique {
            unique.push(record);
        } else {
            numbered.insert(n, record);
        }
    }
    unique.sort_by_key(|r| (r.number, r.digest));
    let mut orphans = Vec::new();
    for r in unique {
        match numbered.get(&r.number) {
            Some(n) if n.digest == r.digest => {}
            Some(_) => orphans.push(r),
            None => {
                numbered.insert(r.number, r);
            }
        }
    }
    Ok(Remote { numbered, orphans })
}

/// What `push NAME REPO` did: `REPO:N` and the image digest of each revision it pushed.
#[derive(Debug, Clone, Default)]
pub struct HistoryPush {
    pub pushed: Vec<(String, Digest)>,
}

/// `envc push NAME REPO`: every revision of `name` the repository lacks, as tag `N`, and
/// `latest`. Refuses (before anything is written) when the repository gives one of this
/// store's numbers to another image.
pub fn push(
    store: &Store,
    client: &Client,
    name: &EnvName,
    repo_text: &str,
) -> Result<HistoryPush, Error> {
    let repo = repository(repo_text)?;
    let remote = read_remote(client, &repo, name)?;
    let local = store.revisions(Some(name))?;
    let conflict = |rev: &Revision, registry_digest: Digest| {
        Error::from(registry::Error::Conflict {
            name: name.to_string(),
            repository: repo.repository_name(),
            revision: rev.revision,
            registry_digest,
            local_digest: rev.manifest.digest,
        })
    };
    let mut todo = Vec::new();
    for rev in &local {
        match remote.numbered.get(&rev.revision) {
            Some(rec) if rec.entry.digest == rev.manifest.digest => {}
            Some(rec) => return Err(conflict(rev, rec.entry.digest)),
            None => todo.push(rev),
        }
    }
    let mut out = HistoryPush::default();
    for rev in &todo {
        let record = Record::new(name.as_str(), rev.revision, &rev.manifest)?;
        let at_digest = Reference {
            tag: None,
            digest: None,
            ..repo.clone()
        };
        let mounts = super::registry::mount_candidates(store, &rev.manifest);
        push_image(client, store, &rev.manifest, &at_digest, &mounts)?;
        let media = crate::oci::MEDIA_TYPE_INDEX;
        put_manifest_bytes(client, &repo, &record.unique_tag(), media, &record.bytes)?;
        put_manifest_bytes(
            client,
            &repo,
            &rev.revision.to_string(),
            media,
            &record.bytes,
        )?;
        // Read back: another machine may have written this number at the same moment.
        match tag_digest(client, &repo, &rev.revision.to_string())? {
            Some(d) if d == record.digest => {}
            _ => {
                let theirs = read_remote(client, &repo, name)?
                    .numbered
                    .get(&rev.revision)
                    .map_or(record.entry.digest, |r| r.entry.digest);
                return Err(conflict(rev, theirs));
            }
        }
        out.pushed.push((
            format!("{}:{}", repo.repository_name(), rev.revision),
            rev.manifest.digest,
        ));
    }
    let remote_max = remote.numbered.keys().next_back().copied().unwrap_or(0);
    if let Some(newest) = local.last().filter(|l| l.revision >= remote_max) {
        let record = Record::new(name.as_str(), newest.revision, &newest.manifest)?;
        if tag_digest(client, &repo, "latest")? != Some(record.digest) {
            put_manifest_bytes(
                client,
                &repo,
                "latest",
                crate::oci::MEDIA_TYPE_INDEX,
                &record.bytes,
            )?;
        }
    }
    Ok(out)
}

/// What `pull NAME --from REPO` did.
#[derive(Debug, Clone, Default)]
pub struct HistoryPull {
    /// Revisions this store did not have, as now stored.
    pub added: Vec<Revision>,
    /// This store's revisions that moved: (old number, new number).
    pub renumbered: Vec<(u32, u32)>,
}

/// `envc pull NAME --from REPO`: the repository's revisions of `name` this store lacks, their
/// images verified as every import is; conflicting local revisions renumbered (module docs).
pub fn pull(
    store_dir: &Path,
    client: &Client,
    name: &EnvName,
    repo_text: &str,
) -> Result<HistoryPull, Error> {
    let repo = repository(repo_text)?;
    let remote = read_remote(client, &repo, name)?;
    if remote.numbered.is_empty() && remote.orphans.is_empty() {
        return Err(Error::from(registry::Error::NotFound {
            reference: repo.repository_name(),
            what: format!("a revision of `{name}`"),
            detail: String::new(),
        }));
    }
    super::with_store(store_dir, |store| {
        pull_into(store, client, &repo, name, &remote)
    })
}

fn pull_into(
    store: &Store,
    client: &Client,
    repo: &Reference,
    name: &EnvName,
    remote: &Remote,
) -> Result<HistoryPull, Error> {
    let local = store.revisions(Some(name))?;
    let same = |rev: &Revision| {
        remote
            .numbered
            .get(&rev.revision)
            .is_some_and(|r| r.entry.digest == rev.manifest.digest)
    };
    let first_conflict = local
        .iter()
        .filter(|rev| remote.numbered.contains_key(&rev.revision) && !same(rev))
        .map(|rev| rev.revision)
        .min();
    // This store's revisions that move: from the first conflict on, all but those the
    // repository has at the same number.
    let moving: Vec<&Revision> = match first_conflict {
        Some(c) => local
            .iter()
            .filter(|rev| rev.revision >= c && !same(rev))
            .collect(),
        None => Vec::new(),
    };
    // A lost race's record that is one of this store's revisions is that revision.
    let ours = |r: &Record| {
        local
            .iter()
            .any(|rev| rev.revision == r.number && rev.manifest.digest == r.entry.digest)
    };
    // A lost race's record whose image the history already has (its owner pushed it again
    // under a new number) is not a revision of its own.
    let known = |r: &Record| {
        remote
            .numbered
            .values()
            .any(|n| n.entry.digest == r.entry.digest)
            || local
                .iter()
                .any(|rev| rev.manifest.digest == r.entry.digest)
    };
    let foreign: Vec<&Record> = remote
        .orphans
        .iter()
        .filter(|r| !ours(r) && !known(r))
        .collect();

    let registry_max = remote.numbered.keys().next_back().copied().unwrap_or(0);
    let mut next = registry_max.max(
        local
            .iter()
            .filter(|r| !moving.iter().any(|m| m.revision == r.revision))
            .map(|r| r.revision)
            .max()
            .unwrap_or(0),
    ) + 1;
    let mut renumbered = Vec::new();
    let mut map = BTreeMap::new();
    for rev in &moving {
        map.insert(rev.revision, next);
        renumbered.push((rev.revision, next));
        next += 1;
    }

    // Images first (verified, no entry yet); then one transaction on the index.
    let mut entries: Vec<(u32, Descriptor)> = Vec::new();
    let local_numbers: BTreeSet<u32> = local
        .iter()
        .filter(|r| !moving.iter().any(|m| m.revision == r.revision))
        .map(|r| r.revision)
        .collect();
    let fetch = |rec: &Record| -> Result<(), Error> {
        if store.stored_image(&rec.entry)?.is_some() {
            return Ok(());
        }
        let at = Reference {
            tag: None,
            digest: Some(rec.entry.digest),
            ..repo.clone()
        };
        let src = RegistrySource::open(client, &at)?;
        let chosen = choose_image(&src, None)?;
        store.import_image(&src, &chosen)?;
        Ok(())
    };
    for (n, rec) in &remote.numbered {
        if local_numbers.contains(n) {
            continue;
        }
        fetch(rec)?;
        entries.push((*n, rec.entry.clone()));
    }
    for rec in &foreign {
        fetch(rec)?;
        let mut e = rec.entry.clone();
        e.annotations
            .insert(RENUMBERED_FROM.into(), rec.number.to_string());
        entries.push((next, e));
        next += 1;
    }
    for rev in &moving {
        let mut e = rev.manifest.clone();
        e.annotations
            .insert(RENUMBERED_FROM.into(), rev.revision.to_string());
        for key in [ROLLBACK_TO, ROLLED_BACK_FROM] {
            if let Some(v) = e.annotations.get(key).and_then(|v| v.parse::<u32>().ok()) {
                if let Some(new) = map.get(&v) {
                    e.annotations.insert(key.into(), new.to_string());
                }
            }
        }
        entries.push((map[&rev.revision], e));
    }
    client.progress.finish();
    for (n, e) in &mut entries {
        e.annotations.insert(REVISION.into(), n.to_string());
        if *n > 1 {
            e.annotations.insert(PARENT.into(), (*n - 1).to_string());
        } else {
            e.annotations.remove(PARENT);
        }
    }
    let moved: Vec<u32> = moving.iter().map(|r| r.revision).collect();
    let added = store.merge_history(name, &local, &moved, entries)?;
    Ok(HistoryPull {
        added: added
            .into_iter()
            .filter(|r| !renumbered.iter().any(|(_, new)| *new == r.revision))
            .collect(),
        renumbered,
    })
}
