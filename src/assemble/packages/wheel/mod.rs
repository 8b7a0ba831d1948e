//! The wheel installer (hermetic.md §2.1, §2.4, §7 "Wheels"): locked, verified `.whl` files →
//! the layer entries that install them into the base's Python, as pip would with
//! `--no-compile`, but with no interpreter, no host filesystem tree and no root.
//!
//! Per the binary distribution format spec each wheel's `WHEEL` is read (a newer major
//! `Wheel-Version` is refused), every member is checked against `RECORD` (a mismatch or a
//! member RECORD does not list is refused), `.data/<key>/` subtrees go to their scheme paths,
//! `#!python` scripts and entry-point launchers name the base's interpreter, and RECORD is
//! rewritten with installed paths. No `.pyc` is written: Python compiles at first import.
//!
//! Every entry is owned by the environment's owner (`Python::owner`); the parent directories
//! the layer touches are given explicitly, as the base has them, so the layer writer never
//! adds a root-owned `home/ray`. A wheel that upgrades a base dist whiteouts the old files its
//! RECORD lists that the new one does not write, and the old dist-info directory.
//! Contents are streamed into one spool file (`FileSource::Range`); an 800 MB torch wheel is
//! never held in memory.

pub(crate) mod format;
mod unpack;
pub(crate) use unpack::safe_components;

use crate::lock::facts::{Meta, Python};
use crate::lock::file::LockedWheel;
#[cfg(test)]
use crate::oci::layer::FileSource;
use crate::oci::layer::{Entry, EntryKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// Members one wheel may have (torch has about 15 000).
pub const MAX_ENTRIES: usize = 500_000;
/// Uncompressed bytes of one member, and of one wheel (zip bombs).
pub const MAX_FILE: u64 = 8 << 30;
pub const MAX_TOTAL: u64 = 32 << 30;

/// The caps one install applies (the constants above; smaller in tests).
#[derive(Debug, Clone, Copy)]
struct Limits {
    entries: usize,
    file: u64,
    total: u64,
}

const LIMITS: Limits = Limits {
    entries: MAX_ENTRIES,
    file: MAX_FILE,
    total: MAX_TOTAL,
};

/// `WHEEL`, `RECORD`, `entry_points.txt`.
pub const MAX_METADATA: u64 = 64 << 20;

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{wheel} is not a readable wheel: {detail}")]
    Zip { wheel: String, detail: String },
    #[error("{wheel} is not a valid wheel: {detail}")]
    Invalid { wheel: String, detail: String },
    #[error("{wheel}: {path} does not match its RECORD: {detail}; the wheel is corrupt or was altered, fetch it again")]
    HashMismatch {
        wheel: String,
        path: String,
        detail: String,
    },
    #[error("{wheel}: {path} is not listed in RECORD, so it cannot be verified; the wheel is corrupt or was altered")]
    NotInRecord { wheel: String, path: String },
    #[error("{wheel}: member `{path}` is an unsafe path (absolute, `..`, or a backslash); refusing to install it")]
    UnsafePath { wheel: String, path: String },
    #[error("{wheel} is too large to install: {detail}")]
    TooLarge { wheel: String, detail: String },
    #[error("/{path} is written by both {first} and {second}; lock only one of them")]
    Conflict {
        path: String,
        first: String,
        second: String,
    },
    #[error("{wheel} upgrades the base's {name} {version}, but the base has no {name} installed; run `envc lock` again")]
    NoBaseDist {
        wheel: String,
        name: String,
        version: String,
    },
    #[error("the base's Python paths are not usable: {0}")]
    Layout(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

/// Where the base's environment puts things, as layer paths (no leading `/`).
struct Layout {
    prefix: String,
    site: String,
    /// `python3.11`, for headers.
    python_dir: String,
    executable: String,
    limits: Limits,
}

impl Layout {
    fn new(python: &Python, limits: Limits) -> Result<Layout, Error> {
        let rel = |p: &str| -> Result<String, Error> {
            let parts = unpack::safe_components(p.trim_start_matches('/'))
                .filter(|_| p.starts_with('/'))
                .ok_or_else(|| Error::Layout(format!("`{p}` is not an absolute path")))?;
            Ok(parts.join("/"))
        };
        let prefix = rel(&python.prefix)?;
        let site = rel(&python.site_packages)?;
        if !site.starts_with(&format!("{prefix}/")) {
            return Err(Error::Layout(format!(
                "site-packages {} is not inside the prefix {}",
                python.site_packages, python.prefix
            )));
        }
        let mut v = python.version.split('.');
        let python_dir = match (v.next(), v.next()) {
            (Some(a), Some(b)) => format!("python{a}.{b}"),
            _ => return Err(Error::Layout(format!("version `{}`", python.version))),
        };
        Ok(Layout {
            prefix,
            site,
            python_dir,
            executable: python.executable.clone(),
            limits,
        })
    }

    /// The layer path of an archive member and whether it is a script.
    fn destination(
        &self,
        parts: &[&str],
        data_dir: &str,
        dist_name: &str,
    ) -> Result<(String, bool), String> {
        let joined = |base: &str, rest: &[&str]| format!("{base}/{}", rest.join("/"));
        let (path, script) = if parts[0] == data_dir {
            let rest = parts
                .get(2..)
                .filter(|r| !r.is_empty())
                .ok_or("a file directly in .data/")?;
            match parts[1] {
                "purelib" | "platlib" => (joined(&self.site, rest), false),
                "scripts" => (joined(&format!("{}/bin", self.prefix), rest), true),
                "headers" => {
                    let base = format!("{}/include/{}/{dist_name}", self.prefix, self.python_dir);
                    (joined(&base, rest), false)
                }
                "data" => (joined(&self.prefix, rest), false),
                other => return Err(format!("unknown .data directory `{other}`")),
            }
        } else {
            (joined(&self.site, parts), false)
        };
        if path.split('/').any(|c| c.starts_with(".wh.")) {
            return Err("a `.wh.` name, which layers reserve for whiteouts".into());
        }
        Ok((path, script))
    }

    fn script_path(&self, name: &str) -> Option<String> {
        let ok = !name.is_empty()
            && !name.contains(['/', '\\', '\0'])
            && name != "."
            && name != ".."
            && !name.starts_with(".wh.");
        ok.then(|| format!("{}/bin/{name}", self.prefix))
    }

    /// `path` relative to site-packages (`../../../bin/x`), as RECORD spells it.
    fn relative_to_site(&self, path: &str) -> String {
        let site: Vec<&str> = self.site.split('/').collect();
        let p: Vec<&str> = path.split('/').collect();
        let common = site.iter().zip(&p).take_while(|(a, b)| a == b).count();
        let mut out: Vec<&str> = vec![".."; site.len() - common];
        out.extend(&p[common..]);
        out.join("/")
    }

    /// A RECORD path of the base (relative to site-packages) → its layer path, if it stays
    /// inside the prefix.
    fn resolve_record_path(&self, rel: &str) -> Option<String> {
        if rel.starts_with('/') || rel.contains('\0') {
            return None;
        }
        let mut out: Vec<&str> = self.site.split('/').collect();
        for c in rel.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    out.pop()?;
                }
                c => out.push(c),
            }
        }
        if out.iter().any(|c| c.starts_with(".wh.")) {
            return None;
        }
        let path = out.join("/");
        path.starts_with(&format!("{}/", self.prefix))
            .then_some(path)
    }
}

/// The spool file every installed member is streamed into.
struct Spool {
    path: PathBuf,
    out: BufWriter<File>,
    offset: u64,
}

impl Spool {
    fn write(&mut self, b: &[u8]) -> Result<(), Error> {
        self.out.write_all(b).map_err(|source| Error::Io {
            what: format!("writing the spool file {}", self.path.display()),
            source,
        })?;
        self.offset += b.len() as u64;
        Ok(())
    }
}

/// The layer entries that install `wheels` (locked record + path of the verified .whl) into the
/// base's Python. The spool file they read from is created in `spool_dir` and must live until
/// the layer is written.
pub fn install(
    python: &Python,
    dirs: &BTreeMap<String, Meta>,
    wheels: &[(LockedWheel, PathBuf)],
    spool_dir: &Path,
) -> Result<Vec<Entry>, Error> {
    install_limited(python, dirs, wheels, spool_dir, LIMITS)
}

fn install_limited(
    python: &Python,
    dirs: &BTreeMap<String, Meta>,
    wheels: &[(LockedWheel, PathBuf)],
    spool_dir: &Path,
    limits: Limits,
) -> Result<Vec<Entry>, Error> {
    let layout = Layout::new(python, limits)?;
    let (file, path) = tempfile::Builder::new()
        .prefix("envc-wheels-")
        .suffix(".spool")
        .tempfile_in(spool_dir)
        .and_then(|t| t.keep().map_err(|e| e.error))
        .map_err(|source| Error::Io {
            what: format!("creating a spool file in {}", spool_dir.display()),
            source,
        })?;
    let mut spool = Spool {
        path,
        out: BufWriter::with_capacity(1 << 20, file),
        offset: 0,
    };
    let spool_path = spool.path.clone();
    let result = install_into(python, dirs, wheels, &layout, &mut spool);
    if result.is_err() {
        // Nothing refers to a failed install's spool; best effort, the error is what matters.
        let _ = std::fs::remove_file(&spool_path);
    }
    result
}

fn install_into(
    python: &Python,
    dirs: &BTreeMap<String, Meta>,
    wheels: &[(LockedWheel, PathBuf)],
    layout: &Layout,
    spool: &mut Spool,
) -> Result<Vec<Entry>, Error> {
    // Layer path → (content, mode, the wheel that writes it).
    let mut files: BTreeMap<String, (unpack::Installed, String)> = BTreeMap::new();
    let mut dist_infos: BTreeSet<String> = BTreeSet::new();
    for (lw, whl) in wheels {
        let u = unpack::unpack(lw, whl, layout, spool)?;
        dist_infos.insert(u.dist_info);
        for (p, f) in u.files {
            if let Some((_, first)) = files.get(&p) {
                return Err(Error::Conflict {
                    path: p,
                    first: first.clone(),
                    second: lw.filename.clone(),
                });
            }
            files.insert(p, (f, lw.filename.clone()));
        }
    }
    spool.out.flush().map_err(|source| Error::Io {
        what: format!("writing the spool file {}", spool.path.display()),
        source,
    })?;

    let mut dir_set: BTreeSet<String> = BTreeSet::new();
    for p in files.keys() {
        add_parents(p, &mut dir_set);
    }
    for p in files.keys() {
        if dir_set.contains(p) {
            return Err(Error::Conflict {
                path: p.clone(),
                first: files[p].1.clone(),
                second: "another file's directory".into(),
            });
        }
    }
    let whiteouts = upgrade_whiteouts(python, layout, wheels, &files, &dir_set, &dist_infos)?;
    for w in &whiteouts {
        add_parents(w, &mut dir_set);
    }

    let owner = python.owner;
    let entry = |path: String, kind: EntryKind, mode: u32, meta: Meta| Entry {
        path,
        kind,
        mode,
        uid: meta.uid,
        gid: meta.gid,
        xattrs: BTreeMap::new(),
    };
    let mut out = Vec::with_capacity(dir_set.len() + files.len() + whiteouts.len());
    for d in dir_set {
        let base = dirs.get(&d).or_else(|| dirs.get(&format!("/{d}")));
        let meta = base.copied().unwrap_or(Meta {
            mode: 0o755,
            ..owner
        });
        out.push(entry(d, EntryKind::Dir, meta.mode & 0o7777, meta));
    }
    for (p, (f, _)) in files {
        out.push(entry(p, EntryKind::File(f.source), f.mode, owner));
    }
    for w in whiteouts {
        out.push(entry(w, EntryKind::Whiteout, 0o644, owner));
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

fn add_parents(path: &str, set: &mut BTreeSet<String>) {
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('/') {
        if !set.insert(parent.to_string()) {
            break;
        }
        p = parent;
    }
}

/// Whiteouts for the base dists the wheels upgrade: every old RECORD path (inside the prefix)
/// the layer does not write, and the old dist-info directory.
fn upgrade_whiteouts(
    python: &Python,
    layout: &Layout,
    wheels: &[(LockedWheel, PathBuf)],
    files: &BTreeMap<String, (unpack::Installed, String)>,
    dirs: &BTreeSet<String>,
    new_dist_infos: &BTreeSet<String>,
) -> Result<BTreeSet<String>, Error> {
    let mut out = BTreeSet::new();
    for (lw, _) in wheels {
        let Some(version) = &lw.upgrades else {
            continue;
        };
        let old = python
            .dists
            .get(&lw.name)
            .ok_or_else(|| Error::NoBaseDist {
                wheel: lw.filename.clone(),
                name: lw.name.clone(),
                version: version.clone(),
            })?;
        let old_di = layout.resolve_record_path(&old.dist_info);
        let whole_di = old_di.as_ref().filter(|d| !new_dist_infos.contains(*d));
        if let Some(d) = whole_di {
            out.insert(d.clone());
        }
        let rows = match &old.record {
            Some(text) => format::parse_record(text).map_err(|e| Error::Invalid {
                wheel: format!("the base's {}", old.dist_info),
                detail: format!("RECORD: {e}"),
            })?,
            None => Vec::new(),
        };
        for row in rows {
            let Some(p) = layout.resolve_record_path(&row.path) else {
                continue;
            };
            let under_di = whole_di.is_some_and(|d| p.starts_with(&format!("{d}/")));
            if !under_di && !files.contains_key(&p) && !dirs.contains(&p) {
                out.insert(p);
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
