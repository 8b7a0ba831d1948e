//! `diff`: two plans compared, each side a spec file or a stored revision, with the layers
//! compared too when both sides are stored. Owns how an argument is read: `-` and anything
//! with a `/` is a spec file; `NAME:REV` is always a stored revision (a file of that name is
//! `./NAME:REV`); a bare word is the spec file of that name when one exists, else the latest
//! revision of the environment of that name. The reading not taken is never silent: a note
//! (to the [`Log`]) names it. And its exit contract, diff(1)'s, so CI can ask "does this
//! change alter the image?": 0 equal, 1 different, 2 trouble (a side that cannot be read,
//! resolved or compiled) — [`DiffOutcome::exit_code`] and [`DiffError::exit_code`].

use super::compile::{compile_one, Refused, SpecInputs};
use super::{open, Error, Log, EXIT_ERROR, EXIT_NO, EXIT_OK};
use crate::assemble;
use crate::oci::Descriptor;
use crate::plan::diff::PlanDiff;
use crate::plan::Plan;
use crate::types::name::Identifier;
use std::path::Path;

/// One side of a diff: a plan, and the layers when it is a stored revision.
#[derive(Debug, Clone)]
pub struct Side {
    /// The argument (a spec file) or `NAME:REV` (a stored revision).
    pub label: String,
    pub plan: Plan,
    /// Empty for a spec file.
    pub layers: Vec<Descriptor>,
    /// The versions a `--lock` build of it installed (`None` for a spec file, or a revision
    /// built without a lock).
    pub locked: Option<crate::store::view::LockedVersions>,
}

/// A locked package whose version differs between the sides (`None`: not installed there).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct LockedChange {
    pub ecosystem: String,
    pub name: String,
    pub from: Option<String>,
    pub to: Option<String>,
}

/// The locked packages that differ, by ecosystem then name.
pub fn locked_changes(
    a: &crate::store::view::LockedVersions,
    b: &crate::store::view::LockedVersions,
) -> Vec<LockedChange> {
    let empty = std::collections::BTreeMap::new();
    let mut out = Vec::new();
    let ecosystems: std::collections::BTreeSet<&String> = a.keys().chain(b.keys()).collect();
    for eco in ecosystems {
        let (pa, pb) = (a.get(eco).unwrap_or(&empty), b.get(eco).unwrap_or(&empty));
        let names: std::collections::BTreeSet<&String> = pa.keys().chain(pb.keys()).collect();
        for name in names {
            let (from, to) = (pa.get(name), pb.get(name));
            if from != to {
                out.push(LockedChange {
                    ecosystem: eco.clone(),
                    name: name.clone(),
                    from: from.cloned(),
                    to: to.cloned(),
                });
            }
        }
    }
    out
}

/// Two sides compared.
#[derive(Debug, Clone)]
pub struct DiffOutcome {
    pub a: Side,
    pub b: Side,
    pub changes: PlanDiff,
    /// Both sides were built with `--lock`: the locked versions that differ.
    pub locked: Option<Vec<LockedChange>>,
    /// Both sides are stored revisions, so their layers were compared.
    pub layers_known: bool,
    /// The plans or the layers differ.
    pub differ: bool,
}

impl DiffOutcome {
    /// 0 equal, 1 different.
    pub fn exit_code(&self) -> u8 {
        if self.differ {
            EXIT_NO
        } else {
            EXIT_OK
        }
    }
}

/// Why there is nothing to compare; always exit 2.
#[derive(Debug)]
pub enum DiffError {
    /// Both sides are `-`.
    StdinTwice,
    /// A side's spec was refused; its diagnostics are already in the log.
    Refused(Refused),
    /// A side cannot be read, resolved or compiled.
    Side(Error),
}

impl DiffError {
    pub fn exit_code(&self) -> u8 {
        EXIT_ERROR
    }

    /// The message to show, if the log has not said it all.
    pub fn message(&self) -> Option<String> {
        match self {
            DiffError::StdinTwice => {
                Some("standard input (`-`) can be read only once: name it for one side".to_string())
            }
            DiffError::Refused(r) => r.message().map(str::to_string),
            DiffError::Side(e) => Some(e.to_string()),
        }
    }
}

impl From<Error> for DiffError {
    fn from(e: Error) -> DiffError {
        DiffError::Side(e)
    }
}

/// Compares `a` with `b`; stored revisions are read from the store at `store`.
pub fn diff(
    a: &str,
    b: &str,
    store: Option<&Path>,
    log: &dyn Log,
) -> Result<DiffOutcome, DiffError> {
    if a == "-" && b == "-" {
        return Err(DiffError::StdinTwice);
    }
    let a = side(a, store, log)?;
    let b = side(b, store, log)?;
    Ok(compare(a, b))
}

/// Compares two sides already read (the HTTP API reads a posted spec as a side).
pub fn compare(a: Side, b: Side) -> DiffOutcome {
    let changes = crate::plan::diff::diff(&a.plan, &b.plan);
    let layers_known = !a.layers.is_empty() && !b.layers.is_empty();
    let layers_differ = layers_known
        && a.layers
            .iter()
            .map(|l| &l.digest)
            .ne(b.layers.iter().map(|l| &l.digest));
    let locked = match (&a.locked, &b.locked) {
        (Some(la), Some(lb)) => Some(locked_changes(la, lb)),
        (None, None) => None,
        (la, lb) => Some(locked_changes(
            la.as_ref().unwrap_or(&Default::default()),
            lb.as_ref().unwrap_or(&Default::default()),
        )),
    };
    let differ =
        !changes.is_empty() || layers_differ || locked.as_ref().is_some_and(|l| !l.is_empty());
    DiffOutcome {
        a,
        b,
        changes,
        locked,
        layers_known,
        differ,
    }
}

impl DiffOutcome {
    /// The document `envc diff --format json` prints and the HTTP API serves.
    pub fn document(&self) -> serde_json::Value {
        let layer_json = |s: &Side| {
            s.layers
                .iter()
                .map(|l| l.digest.to_string())
                .collect::<Vec<_>>()
        };
        let mut doc = serde_json::json!({
            "a": self.a.label, "b": self.b.label, "changes": self.changes, "differ": self.differ,
            "layers": self.layers_known.then(|| serde_json::json!({
                "a": layer_json(&self.a), "b": layer_json(&self.b)
            })),
        });
        if let Some(locked) = &self.locked {
            doc["locked"] = serde_json::json!(locked);
        }
        doc
    }
}

/// A stored revision as a side.
pub fn stored_side(store: &crate::store::Store, id: &Identifier) -> Result<Side, Error> {
    let r = store.resolve(id)?;
    Ok(Side {
        label: format!("{}:{}", r.name, r.revision),
        plan: assemble::revision_plan(store, &r)?,
        layers: store.layers(&r)?,
        locked: crate::store::view::locked_versions(&r),
    })
}

/// A compiled spec as a side, shown as `label`.
pub fn spec_side(label: &str, plan: Plan) -> Side {
    Side {
        label: label.to_string(),
        plan,
        layers: Vec::new(),
        locked: None,
    }
}

/// A `diff` argument that names nothing to compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoSuchSide {
    /// A path-like word (no valid name) with no file.
    SpecFile { arg: String },
    /// A bare name: no such file, and no such environment in the store.
    Either { arg: String },
}

impl NoSuchSide {
    pub(crate) fn message(&self) -> String {
        const FORMS: &str = "a spec file is a path such as `./env.yaml` (or `-`, standard \
                             input); a stored revision is `NAME` (the latest) or `NAME:REV`";
        match self {
            NoSuchSide::SpecFile { arg } => {
                format!("`{arg}`: no such spec file, and not a revision name; {FORMS}")
            }
            NoSuchSide::Either { arg } => format!(
                "`{arg}` is neither a spec file (no file `{arg}` exists) nor a cluster \
                 environment in the store; {FORMS}"
            ),
        }
    }
}

/// Reads one side (see the module's opening for the rules).
fn side(arg: &str, store: Option<&Path>, log: &dyn Log) -> Result<Side, DiffError> {
    let path = Path::new(arg);
    let id = if arg == "-" || arg.contains('/') {
        None
    } else {
        Identifier::parse(arg).ok()
    };
    let spec_file = || -> Result<Side, DiffError> {
        match compile_one(path, &SpecInputs::default(), log)? {
            Ok(u) => Ok(spec_side(arg, u.compiled.plan)),
            Err(refused) => Err(DiffError::Refused(refused)),
        }
    };
    let Some(id) = id else {
        if arg != "-" && !arg.contains('/') && !path.exists() {
            return Err(Error::NoSuchSide(NoSuchSide::SpecFile {
                arg: arg.to_string(),
            })
            .into());
        }
        return spec_file();
    };
    if id.revision.is_some() {
        if path.exists() {
            log.note(&format!(
                "`{arg}` is read as the stored revision {arg}, not as the file `{arg}` (write \
                 `./{arg}` for the file)"
            ));
        }
    } else if path.is_file() {
        if open(store)
            .and_then(|s| Ok(s.revisions(Some(&id.name))?))
            .is_ok_and(|r| !r.is_empty())
        {
            log.note(&format!(
                "`{arg}` is read as the spec file `{arg}`, not as the stored environment \
                 {arg} (write `{arg}:REV` for a revision)"
            ));
        }
        return spec_file();
    }
    match open(store).and_then(|s| stored_side(&s, &id)) {
        Err(Error::Store(
            crate::store::Error::NameNotFound { .. }
            | crate::store::Error::Oci(crate::oci::Error::NotALayout { .. }),
        )) if id.revision.is_none() => Err(Error::NoSuchSide(NoSuchSide::Either {
            arg: arg.to_string(),
        })
        .into()),
        r => Ok(r?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::Silent;

    #[test]
    fn two_spec_files_follow_the_diff1_contract() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.yaml");
        let b = dir.path().join("b.yaml");
        std::fs::write(&a, "base_image: anyscale/ray:2.9.0-py310\n").unwrap();
        std::fs::write(
            &b,
            "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: \"1\"\n",
        )
        .unwrap();
        let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());
        let same = diff(a, a, Some(dir.path()), &Silent).unwrap();
        assert_eq!(same.exit_code(), EXIT_OK);
        assert!(!same.layers_known);
        let changed = diff(a, b, Some(dir.path()), &Silent).unwrap();
        assert_eq!(changed.exit_code(), EXIT_NO);
        assert_eq!(changed.changes.env.len(), 1);
        let twice = diff("-", "-", None, &Silent).unwrap_err();
        assert!(matches!(twice, DiffError::StdinTwice));
        assert_eq!(twice.exit_code(), EXIT_ERROR);
    }
}
