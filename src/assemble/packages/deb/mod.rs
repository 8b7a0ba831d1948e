//! Locked .debs installed as layer entries, without dpkg and without an engine (hermetic.md
//! §1.1, §1.4, §1.5, §7 "Debs"). [`read`] takes a .deb apart (payload spooled to disk);
//! [`layer`] turns the locked debs into the entries dpkg would have left: the payload (paths
//! through the base's merged-`/usr` symlinks, owners and modes from the tar headers, setuid
//! kept), dpkg's database (`status`, `info/*`), apt's `extended_states`, and whiteouts for what
//! an upgrade of a base package drops.
//!
//! Maintainer scripts are **not run**. Policy, as apko does it: the one common effect that is
//! pure data is emulated — `update-alternatives --install LINK NAME PATH PRIORITY [--slave LINK
//! NAME PATH]…` with literal arguments in a `postinst` writes `etc/alternatives/NAME`, the
//! link, and `var/lib/dpkg/alternatives/NAME` in dpkg's format, the highest priority among
//! this layer's packages winning (the base's own alternatives files are not among the facts, so
//! a name the base already has is rewritten from this layer's choices only). `ldconfig` calls
//! and `ldconfig` triggers need nothing on Debian/Ubuntu: ld.so searches the multiarch
//! directories without a cache. Every other effect (users and groups, services, CA bundles,
//! debconf, triggers, state directories, anything not recognisably a debhelper no-op) gives one
//! warning per package naming the commands and what the image will lack.

mod archive;
mod dpkg_db;
mod scripts;

pub use archive::{ControlMember, DataEntry, DataKind};

use crate::lock::facts::BaseFacts;
use crate::lock::file::LockedDeb;
use crate::oci::layer::{Entry, EntryKind, FileSource};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// A .deb read and checked: its control fields, control.tar members, and its data.tar entries
/// (contents spooled).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
    pub multi_arch_same: bool,
    /// The .deb it was read from, for messages.
    pub file: PathBuf,
    /// The `control` stanza, verbatim, trailing newlines trimmed.
    pub control: String,
    /// control.tar members other than `control`, by name.
    pub control_files: BTreeMap<String, ControlMember>,
    /// data.tar entries in archive order.
    pub data: Vec<DataEntry>,
    /// The spool file `DataKind::File` ranges point into.
    pub spool: PathBuf,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("`{}` is not a .deb (not an ar archive: {reason}); fetch it again and check its sha256 against the lock", .path.display())]
    NotAr { path: PathBuf, reason: String },
    #[error("`{}` is not a usable .deb: {what}", .path.display())]
    Member { path: PathBuf, what: String },
    #[error("`{}`: member `{member}` is {compression}-compressed, which envc does not read (it reads gzip, xz, zstd and uncompressed tars); use the archive's xz/zstd build of the package", .path.display())]
    Unsupported {
        path: PathBuf,
        member: String,
        compression: &'static str,
    },
    #[error("`{}`: {member} is larger than {limit} bytes uncompressed; envc refuses it as a likely decompression bomb", .path.display())]
    TooLarge {
        path: PathBuf,
        member: String,
        limit: u64,
    },
    #[error("`{}`: {reason}", .path.display())]
    Control { path: PathBuf, reason: String },
    #[error("`{}`: unsafe path `{entry}` in data.tar ({reason}); envc installs only relative paths below `/`", .path.display())]
    UnsafePath {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    #[error("the file for {locked} holds {found} (`{}`); the artifact cache or mirror serves another build: run `envc lock` again", .path.display())]
    Mismatch {
        path: PathBuf,
        locked: String,
        found: String,
    },
    #[error("{package}: trying to overwrite `/{path}`, which is also in package {other}; neither declares `Replaces` on the other, so dpkg would refuse this too: drop one of them from the spec")]
    Overwrite {
        package: String,
        other: String,
        path: String,
    },
    #[error("the base's dpkg database: {reason}")]
    Base { reason: String },
}

/// Reads the .deb at `path` (ar: debian-binary 2.0, control.tar[.gz|.xz|.zst],
/// data.tar[.gz|.xz|.zst|none]); file contents go into a spool file under `spool_dir`
/// (FileSource::Range), not memory.
pub fn read(path: &Path, spool_dir: &Path) -> Result<Deb, Error> {
    archive::read(path, spool_dir)
}

/// What the package's maintainer scripts and triggers would do, one line each ("postinst",
/// "trigger: activate-noawait ldconfig").
pub fn scripts(deb: &Deb) -> Vec<String> {
    scripts::list(deb)
}

/// The layer that installs some debs, and what it could not do (scripts not run).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DebLayer {
    pub entries: Vec<Entry>,
    pub warnings: Vec<String>,
}

/// A deb822 field's value (first line, trimmed), field names compared case-insensitively.
pub(super) fn field(stanza: &str, name: &str) -> Option<String> {
    stanza.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        (!line.starts_with([' ', '\t']) && key.eq_ignore_ascii_case(name))
            .then(|| value.trim().to_string())
    })
}

/// The dpkg info-file stem: `jq`, or `libc6:amd64` for `Multi-Arch: same`.
fn stem(deb: &Deb) -> String {
    if deb.multi_arch_same {
        format!("{}:{}", deb.name, deb.arch)
    } else {
        deb.name.clone()
    }
}

fn label(name: &str, version: &str, arch: &str) -> String {
    format!("{name} {version} ({arch})")
}

/// Rewrites a deb-relative path through the base's merged-`/usr` symlinks (`bin/x` →
/// `usr/bin/x`). Returns `None` for the symlink itself (`bin`), which the layer must not touch.
fn rewrite(merged: &BTreeMap<String, String>, path: &str) -> Option<String> {
    let (top, rest) = path
        .split_once('/')
        .map_or((path, None), |(t, r)| (t, Some(r)));
    match (merged.get(top), rest) {
        (Some(_), None) => None,
        (Some(target), Some(rest)) => Some(format!("{}/{rest}", target.trim_matches('/'))),
        (None, _) => Some(path.to_string()),
    }
}

/// Whether `deb` declares `Replaces` on package `other` at `version`.
fn replaces(deb: &Deb, other: &str, version: &str) -> bool {
    let Some(value) = dpkg_db::field_full(&deb.control, "Replaces") else {
        return false;
    };
    value.split([',', '|']).any(|rel| {
        let rel = rel.trim();
        let (name, constraint) = rel
            .split_once('(')
            .map_or((rel, None), |(n, c)| (n, Some(c)));
        let name = name.trim().split(':').next().unwrap_or_default();
        if name != other {
            return false;
        }
        let Some(constraint) = constraint else {
            return true;
        };
        let constraint = constraint.trim_end_matches(')').trim();
        let op_len = constraint.find(|c: char| !"<>=".contains(c)).unwrap_or(0);
        let (op, want) = constraint.split_at(op_len);
        let (Ok(have), Ok(want)) = (
            version.parse::<debversion::Version>(),
            want.trim().parse::<debversion::Version>(),
        ) else {
            return false;
        };
        match op {
            "<<" | "<" => have < want,
            "<=" => have <= want,
            "=" => have == want,
            ">=" => have >= want,
            ">>" | ">" => have > want,
            _ => false,
        }
    })
}

/// Who holds a layer path so far.
struct Claim {
    deb: usize,
    dir: bool,
}

/// The layer under construction: entries by path (unique), and the paths each deb lost to a
/// package that replaces it (dropped from its `.list`).
struct Builder<'a> {
    facts: &'a BaseFacts,
    entries: BTreeMap<String, Entry>,
    claims: BTreeMap<String, Claim>,
    lost: BTreeMap<usize, BTreeSet<String>>,
    /// The same for base packages (by info stem) that a new deb replaces files of.
    base_lost: BTreeMap<String, BTreeSet<String>>,
    warnings: Vec<String>,
}

fn entry(path: &str, kind: EntryKind, mode: u32, uid: u32, gid: u32) -> Entry {
    Entry {
        path: path.to_string(),
        kind,
        mode,
        uid,
        gid,
        xattrs: BTreeMap::new(),
    }
}

impl Builder<'_> {
    fn put(&mut self, e: Entry) {
        self.entries.insert(e.path.clone(), e);
    }

    /// A root-owned file of dpkg's or apt's state.
    fn put_file(&mut self, path: &str, bytes: Vec<u8>, mode: u32) {
        self.put(entry(
            path,
            EntryKind::File(FileSource::Bytes(bytes)),
            mode,
            0,
            0,
        ));
    }

    /// Gives every parent of every entry that the base knows its owner and mode, so the
    /// writer's root-0755 default never overrides e.g. `home/ray`.
    fn add_base_parents(&mut self) {
        let mut parents = BTreeSet::new();
        for path in self.entries.keys() {
            let mut p = path.as_str();
            while let Some((parent, _)) = p.rsplit_once('/') {
                parents.insert(parent.to_string());
                p = parent;
            }
        }
        for parent in parents {
            if let (false, Some(meta)) = (
                self.entries.contains_key(&parent),
                self.facts.dirs.get(&parent),
            ) {
                let e = entry(
                    &parent,
                    EntryKind::Dir,
                    meta.mode & 0o7777,
                    meta.uid,
                    meta.gid,
                );
                self.put(e);
            }
        }
    }
}

/// The layer that installs `debs` (each checked against its lock record: name, version, arch
/// must match) on the base.
pub fn layer(facts: &BaseFacts, debs: &[(LockedDeb, Deb)]) -> Result<DebLayer, Error> {
    for (lock, deb) in debs {
        if (
            lock.name.as_str(),
            lock.version.as_str(),
            lock.arch.as_str(),
        ) != (deb.name.as_str(), deb.version.as_str(), deb.arch.as_str())
        {
            return Err(Error::Mismatch {
                path: deb.file.clone(),
                locked: label(&lock.name, &lock.version, &lock.arch),
                found: label(&deb.name, &deb.version, &deb.arch),
            });
        }
    }
    let base = dpkg_db::Base::new(facts, debs)?;
    let mut b = Builder {
        facts,
        entries: BTreeMap::new(),
        claims: BTreeMap::new(),
        lost: BTreeMap::new(),
        base_lost: BTreeMap::new(),
        warnings: Vec::new(),
    };
    for (i, (_, deb)) in debs.iter().enumerate() {
        payload(&mut b, &base, debs, i, deb)?;
    }
    dpkg_db::write(&mut b, &base, debs)?;
    scripts::apply(&mut b, debs);
    b.add_base_parents();
    Ok(DebLayer {
        entries: b.entries.into_values().collect(),
        warnings: b.warnings,
    })
}

/// The data.tar entries of `debs[i]`, checked against what other packages own.
fn payload(
    b: &mut Builder<'_>,
    base: &dpkg_db::Base,
    debs: &[(LockedDeb, Deb)],
    i: usize,
    deb: &Deb,
) -> Result<(), Error> {
    let merged = &b.facts.merged_usr;
    for e in &deb.data {
        if e.path.is_empty() {
            continue;
        }
        let Some(path) = rewrite(merged, &e.path) else {
            // The deb's own `./bin` on a merged-/usr base: the base's symlink stays.
            if e.kind != DataKind::Dir {
                b.warnings.push(format!(
                    "{}: ships `/{}` as a non-directory, where the base has its merged-/usr symlink; the symlink is kept",
                    deb.name, e.path
                ));
            }
            continue;
        };
        let dir = e.kind == DataKind::Dir;
        if let Some(claim) = b.claims.get(&path) {
            let j = claim.deb;
            let other = &debs[j].1;
            // A shared directory, or a file `Multi-Arch: same` siblings share: the first stays.
            let siblings = j != i && other.name == deb.name && deb.multi_arch_same;
            if dir && claim.dir || siblings && !dir && !claim.dir {
                continue;
            }
            if j == i {
                return Err(Error::UnsafePath {
                    path: deb.file.clone(),
                    entry: e.path.clone(),
                    reason: format!("`/{path}` appears twice (after the merged-/usr rewrite)"),
                });
            }
            if !dir && !claim.dir && replaces(deb, &other.name, &other.version) {
                b.lost.entry(j).or_default().insert(path.clone());
            } else if !dir && !claim.dir && replaces(other, &deb.name, &deb.version) {
                b.lost.entry(i).or_default().insert(path.clone());
                continue;
            } else {
                return Err(Error::Overwrite {
                    package: deb.name.clone(),
                    other: other.name.clone(),
                    path,
                });
            }
        }
        if !dir && !b.facts.dirs.contains_key(&path) {
            for stem in base.check_overwrite(deb, &path)? {
                b.base_lost.entry(stem).or_default().insert(path.clone());
            }
        }
        let kind = match &e.kind {
            DataKind::Dir => EntryKind::Dir,
            DataKind::File { offset, len, .. } => EntryKind::File(FileSource::Range {
                file: deb.spool.clone(),
                offset: *offset,
                len: *len,
            }),
            DataKind::Symlink(target) => EntryKind::Symlink(target.clone()),
            DataKind::HardLink(target) => match rewrite(merged, target) {
                Some(t) => EntryKind::HardLink(t),
                None => {
                    return Err(Error::UnsafePath {
                        path: deb.file.clone(),
                        entry: e.path.clone(),
                        reason: format!("hard link to `{target}`, the base's merged-/usr symlink"),
                    })
                }
            },
            DataKind::CharDevice { major, minor } => EntryKind::CharDevice {
                major: *major,
                minor: *minor,
            },
            DataKind::BlockDevice { major, minor } => EntryKind::BlockDevice {
                major: *major,
                minor: *minor,
            },
            DataKind::Fifo => EntryKind::Fifo,
        };
        // dpkg leaves an existing directory as it is: the base's owner and mode win.
        let (mode, uid, gid) = match (dir, b.facts.dirs.get(&path)) {
            (true, Some(m)) => (m.mode & 0o7777, m.uid, m.gid),
            _ => (e.mode, e.uid, e.gid),
        };
        b.claims.insert(path.clone(), Claim { deb: i, dir });
        b.put(entry(&path, kind, mode, uid, gid));
    }
    Ok(())
}

#[cfg(test)]
pub(crate) mod testdeb;

#[cfg(test)]
#[cfg(test)]
mod tests;
