//! The traversal, as Ray's `_dir_travel`: depth-first from the root, one pattern list per
//! `.gitignore` (rooted where it is; none when `RAY_RUNTIME_ENV_IGNORE_GITIGNORE=1`) and, from
//! Ray 2.60, one per `.rayignore`, plus the user's `excludes` (from 2.60 with Ray's default
//! excludes prepended for a `working_dir`: one list, so a user's `!.git` re-includes), a path
//! skipped when any list matches it; symlinks resolved, loops and links out of the root
//! refused, and the size limit checked from `stat` sizes as entries are found.

use super::options::{io_err, mib, Error, PackageKind, PackageOptions, FILE_SIZE_WARNING};
use crate::runtime_env::pathspec::PathSpec;
use std::collections::HashSet;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

/// One pattern list: a `.gitignore` or the user's excludes, rooted at `base` (relative to the
/// working dir; empty for the root).
pub(super) struct PatternList {
    base: String,
    spec: PathSpec,
}

impl PatternList {
    fn new(base: &str, lines: &[String], origin: &str) -> Result<PatternList, Error> {
        let spec = PathSpec::from_lines(lines).map_err(|message| Error::BadPattern {
            path: origin.to_string(),
            message,
        })?;
        Ok(PatternList {
            base: base.to_string(),
            spec,
        })
    }

    /// Whether this list excludes `rel` (relative to the working dir; `.` is the root). Only
    /// the path itself is tested, as Ray does: an excluded directory's subtree is never visited.
    fn excludes(&self, rel: &str) -> bool {
        if self.spec.is_empty() {
            return false;
        }
        let local: &str = if self.base.is_empty() {
            rel
        } else if rel == self.base {
            "."
        } else {
            match rel
                .strip_prefix(self.base.as_str())
                .and_then(|r| r.strip_prefix('/'))
            {
                Some(r) => r,
                None => return false,
            }
        };
        self.spec.match_file(local)
    }
}

#[derive(Debug)]
pub(super) enum Kind {
    Dir {
        empty: bool,
    },
    File {
        size: u64,
    },
    /// Socket, fifo, device or dangling link: hashed by name, not packaged.
    Special,
}

#[derive(Debug)]
pub(super) struct Entry {
    pub(super) rel: String,
    pub(super) abs: PathBuf,
    pub(super) kind: Kind,
}

pub(super) struct Walker<'a> {
    options: &'a PackageOptions,
    root_canon: PathBuf,
    lists: Vec<PatternList>,
    /// Canonical paths of the directories being traversed.
    active: HashSet<PathBuf>,
    pub(super) entries: Vec<Entry>,
    pub(super) notes: Vec<String>,
    /// A lower bound of the zip size, when limiting: never above the real size, so the early
    /// check refuses only packages that cannot fit.
    projected: u64,
    limit: Option<u64>,
}

/// The least zip overhead of one entry: its local and central headers, each with the name.
pub(super) fn entry_overhead(name_len: usize) -> u64 {
    30 + 46 + 2 * name_len as u64
}

pub(super) fn join_rel(parent: &str, name: &str) -> String {
    if parent == "." {
        name.to_string()
    } else {
        format!("{parent}/{name}")
    }
}

pub(super) fn read_gitignore(path: &Path) -> Result<Vec<String>, Error> {
    let bytes = fs::read(path).map_err(io_err(path))?;
    let text = String::from_utf8(bytes).map_err(|_| Error::BadGitignore {
        path: path.to_string_lossy().into_owned(),
    })?;
    // Python's universal newlines: \n, \r\n and \r all end a line.
    Ok(text
        .split('\n')
        .flat_map(|l| l.split('\r'))
        .map(str::to_string)
        .collect())
}

impl Walker<'_> {
    fn visit(&mut self, abs: &Path, rel: &str, canon_hint: Option<PathBuf>) -> Result<(), Error> {
        let lmeta = fs::symlink_metadata(abs).map_err(io_err(abs))?;
        let mut canon = canon_hint;
        let meta = if lmeta.file_type().is_symlink() {
            match fs::canonicalize(abs) {
                Ok(target) => {
                    if !target.starts_with(&self.root_canon) && !self.options.follow_external_links
                    {
                        return Err(Error::ExternalLink {
                            path: abs.to_string_lossy().into_owned(),
                            target: target.to_string_lossy().into_owned(),
                        });
                    }
                    canon = Some(target);
                    Some(fs::metadata(abs).map_err(io_err(abs))?)
                }
                Err(e) if e.raw_os_error() == Some(40) => {
                    return Err(Error::SymlinkLoop {
                        path: abs.to_string_lossy().into_owned(),
                        target: fs::read_link(abs)
                            .map(|t| t.to_string_lossy().into_owned())
                            .unwrap_or_default(),
                    })
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(io_err(abs)(e)),
            }
        } else {
            Some(lmeta)
        };
        let is_dir = meta.as_ref().is_some_and(|m| m.is_dir());

        // Like Ray: the directory's own ignore files are in force before the directory is
        // tested.
        let mut pushed = 0;
        if is_dir {
            let names: &[&str] = match (
                self.options.env.ignore_gitignore,
                self.options.ray.rayignore,
            ) {
                (false, false) => &[".gitignore"],
                (false, true) => &[".gitignore", ".rayignore"],
                (true, false) => &[],
                (true, true) => &[".rayignore"],
            };
            for name in names {
                let gi = abs.join(name);
                if fs::metadata(&gi).is_ok_and(|m| m.is_file()) {
                    let lines = read_gitignore(&gi)?;
                    let base = if rel == "." { "" } else { rel };
                    self.lists
                        .push(PatternList::new(base, &lines, &gi.to_string_lossy())?);
                    pushed += 1;
                }
            }
        }
        let skip = self.lists.iter().any(|l| l.excludes(rel));
        if !skip {
            self.record(abs, rel, meta.as_ref(), is_dir, canon)?;
        }
        for _ in 0..pushed {
            self.lists.pop();
        }
        Ok(())
    }

    fn record(
        &mut self,
        abs: &Path,
        rel: &str,
        meta: Option<&fs::Metadata>,
        is_dir: bool,
        canon: Option<PathBuf>,
    ) -> Result<(), Error> {
        let Some(meta) = meta else {
            self.notes.push(format!(
                "skipped {rel}: dangling symlink (hashed by name only)"
            ));
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::Special,
            });
            return Ok(());
        };
        if is_dir {
            let canon = canon.unwrap_or_else(|| abs.to_path_buf());
            if !self.active.insert(canon.clone()) {
                return Err(Error::SymlinkLoop {
                    path: abs.to_string_lossy().into_owned(),
                    target: canon.to_string_lossy().into_owned(),
                });
            }
            let mut children = Vec::new();
            for child in fs::read_dir(abs).map_err(io_err(abs))? {
                let child = child.map_err(io_err(abs))?;
                let name = child.file_name();
                let Some(name) = name.to_str() else {
                    return Err(Error::NonUtf8Name {
                        path: child.path().to_string_lossy().into_owned(),
                    });
                };
                children.push(name.to_string());
            }
            children.sort();
            let empty = children.is_empty();
            let name = if rel == "." {
                "./".to_string()
            } else {
                format!("{rel}/")
            };
            if empty {
                self.grow(entry_overhead(name.len()))?;
            }
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::Dir { empty },
            });
            for name in children {
                let child_abs = abs.join(&name);
                let child_canon = canon.join(&name);
                self.visit(&child_abs, &join_rel(rel, &name), Some(child_canon))?;
            }
            self.active.remove(&canon);
        } else if meta.is_file() {
            let size = meta.len();
            if size >= FILE_SIZE_WARNING {
                self.notes.push(format!(
                    "File {rel} is very large ({}). Consider adding this file to the 'excludes' list to skip uploading it",
                    mib(size)
                ));
            }
            self.grow(entry_overhead(rel.len()) + size)?;
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::File { size },
            });
        } else {
            let ft = meta.file_type();
            use std::os::unix::fs::FileTypeExt;
            let what = if ft.is_socket() {
                "socket"
            } else if ft.is_fifo() {
                "fifo"
            } else if ft.is_block_device() || ft.is_char_device() {
                "device"
            } else {
                "special file"
            };
            self.notes
                .push(format!("skipped {rel}: {what} (hashed by name only)"));
            self.entries.push(Entry {
                rel: rel.to_string(),
                abs: abs.to_path_buf(),
                kind: Kind::Special,
            });
        }
        Ok(())
    }

    fn grow(&mut self, by: u64) -> Result<(), Error> {
        self.projected = self.projected.saturating_add(by);
        if let Some(max) = self.limit {
            if self.projected >= max {
                return Err(Error::TooLarge {
                    size: self.projected,
                    max,
                    at_least: true,
                    rayignore: self.options.ray.size_message,
                });
            }
        }
        Ok(())
    }
}

pub(super) fn walk<'a>(
    root: &Path,
    options: &'a PackageOptions,
    limit: Option<u64>,
) -> Result<Walker<'a>, Error> {
    let root_canon = fs::canonicalize(root).map_err(io_err(root))?;
    if !root_canon.is_dir() {
        return Err(Error::NotADirectory {
            path: root.to_string_lossy().into_owned(),
        });
    }
    let mut lines = Vec::new();
    let mut notes = Vec::new();
    if options.ray.default_excludes && options.kind == PackageKind::WorkingDir {
        lines = options.env.default_excludes();
        for d in &lines {
            // Ray warns once per default that names something in the root.
            if root.join(d).exists() {
                notes.push(format!(
                    "Directory '{d}' is now ignored by default when packaging the working \
                     directory. To disable this behavior, set the \
                     `RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES=''` environment variable."
                ));
            }
        }
    }
    lines.extend(options.excludes.iter().cloned());
    let excludes = PatternList::new("", &lines, "excludes")?;
    let mut w = Walker {
        options,
        root_canon: root_canon.clone(),
        lists: vec![excludes],
        active: HashSet::new(),
        entries: Vec::new(),
        notes,
        // The end-of-central-directory record.
        projected: 22,
        limit,
    };
    w.visit(root, ".", Some(root_canon))?;
    Ok(w)
}
