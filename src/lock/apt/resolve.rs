//! The resolver: apt-get's `install --no-install-recommends` choices, greedily, over the
//! candidates of every source and the base's installed packages. A dependency the base (or the
//! selection) already meets is skipped; otherwise the alternatives are tried in apt's order, a
//! real package's candidate (its highest version) before providers of a virtual one. After the
//! selection, `Conflicts` and `Breaks` are checked both ways, and base packages' dependencies on
//! anything upgraded; envc never removes a base package, so each clash is an error.

use std::collections::BTreeMap;

use debian_control::lossy::Relation;
use debian_control::relations::VersionConstraint;
use debversion::Version;

use super::index::{relations, Pkg};
use super::Error;

/// All candidates (of the base's architecture or `all`) and the base's installed packages.
pub(super) struct Universe<'a> {
    pub(super) pkgs: &'a [Pkg],
    /// name → indexes into `pkgs`, highest version first (ties: source order).
    by_name: BTreeMap<&'a str, Vec<usize>>,
    /// virtual name → (index, provided version).
    providers: BTreeMap<String, Vec<(usize, Option<Version>)>>,
    base: BTreeMap<&'a str, &'a Pkg>,
    base_providers: BTreeMap<String, Vec<(&'a Pkg, Option<Version>)>>,
    arch: &'a str,
}

fn provides_of(p: &Pkg) -> Result<Vec<(String, Option<Version>)>, Error> {
    let rels = relations(p, "Provides", &p.provides).map_err(Error::index_of(p))?;
    Ok(rels
        .into_iter()
        .flatten()
        .map(|r| (r.name, r.version.map(|(_, v)| v)))
        .collect())
}

impl<'a> Universe<'a> {
    pub(super) fn new(pkgs: &'a [Pkg], base: &'a [Pkg], arch: &'a str) -> Result<Self, Error> {
        let mut by_name: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        let mut providers: BTreeMap<String, Vec<(usize, Option<Version>)>> = BTreeMap::new();
        for (i, p) in pkgs.iter().enumerate() {
            by_name.entry(&p.name).or_default().push(i);
            for (name, v) in provides_of(p)? {
                providers.entry(name).or_default().push((i, v));
            }
        }
        for ids in by_name.values_mut() {
            // Stable: equal versions keep source order, the first source wins.
            ids.sort_by(|a, b| pkgs[*b].version.cmp(&pkgs[*a].version));
        }
        let mut base_map = BTreeMap::new();
        let mut base_providers: BTreeMap<String, Vec<(&Pkg, Option<Version>)>> = BTreeMap::new();
        for p in base.iter().filter(|p| p.arch == arch || p.arch == "all") {
            base_map.insert(p.name.as_str(), p);
            for (name, v) in provides_of(p)? {
                base_providers.entry(name).or_default().push((p, v));
            }
        }
        Ok(Universe {
            pkgs,
            by_name,
            providers,
            base: base_map,
            base_providers,
            arch,
        })
    }

    pub(super) fn base(&self, name: &str) -> Option<&'a Pkg> {
        self.base.get(name).copied()
    }

    /// The candidates of `name`, highest first.
    pub(super) fn versions(&self, name: &str) -> &[usize] {
        self.by_name.get(name).map_or(&[], Vec::as_slice)
    }

    pub(super) fn arch_name(&self) -> &str {
        self.arch
    }

    pub(super) fn names(&self) -> impl Iterator<Item = &&'a str> {
        self.by_name.keys()
    }

    pub(super) fn provider_names(&self, name: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .providers
            .get(name)
            .into_iter()
            .flatten()
            .map(|(i, _)| self.pkgs[*i].name.clone())
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Whether `r` concerns this architecture: `[arch …]` lists and `:arch` qualifiers.
    fn applies(&self, r: &Relation) -> bool {
        let listed = r.architectures.as_ref().is_none_or(|archs| {
            let negated = archs.iter().any(|a| a.starts_with('!'));
            let hit = archs.iter().any(|a| a.trim_start_matches('!') == self.arch);
            if negated {
                !hit
            } else {
                hit
            }
        });
        listed
    }

    /// `:any`/`:native` (a single-arch base has only its own) or the base's own arch.
    fn arch_ok(&self, r: &Relation) -> bool {
        r.archqual
            .as_deref()
            .is_none_or(|q| matches!(q, "any" | "native") || q == self.arch)
    }
}

fn satisfies(r: &Relation, v: &Version) -> bool {
    match &r.version {
        None => true,
        Some((c, want)) => match c {
            VersionConstraint::GreaterThanEqual => v >= want,
            VersionConstraint::LessThanEqual => v <= want,
            VersionConstraint::Equal => v == want,
            VersionConstraint::GreaterThan => v > want,
            VersionConstraint::LessThan => v < want,
        },
    }
}

/// A provided version meets `r` if `r` is unversioned, or the `Provides` gives a satisfying one.
fn provide_satisfies(r: &Relation, v: &Option<Version>) -> bool {
    r.version.is_none() || v.as_ref().is_some_and(|v| satisfies(r, v))
}

/// What the resolver chose: package name → (candidate index, requested by the spec).
#[derive(Clone, Default)]
pub(super) struct Selection {
    pub(super) chosen: BTreeMap<String, (usize, bool)>,
}

/// Why a chain of dependencies cannot be met.
pub(super) struct Unsat {
    chain: Vec<String>,
    reason: String,
}

impl Unsat {
    pub(super) fn into_error(self) -> Error {
        Error::Unsatisfiable {
            chain: self.chain.join(" → "),
            reason: self.reason,
        }
    }
}

pub(super) struct Resolver<'u, 'a> {
    pub(super) u: &'u Universe<'a>,
    pub(super) sel: Selection,
}

impl Resolver<'_, '_> {
    /// Whether `r` holds in the base plus the selection (a selected version overrides the base's).
    fn met(&self, r: &Relation) -> bool {
        if !self.u.arch_ok(r) {
            return false;
        }
        let real = match self.sel.chosen.get(&r.name) {
            Some((i, _)) => satisfies(r, &self.u.pkgs[*i].version),
            None => self
                .u
                .base(&r.name)
                .is_some_and(|p| satisfies(r, &p.version)),
        };
        real || self
            .u
            .providers
            .get(&r.name)
            .into_iter()
            .flatten()
            .any(|(i, v)| {
                let p = &self.u.pkgs[*i];
                self.sel.chosen.get(&p.name).is_some_and(|(c, _)| c == i) && provide_satisfies(r, v)
            })
            || self
                .u
                .base_providers
                .get(&r.name)
                .into_iter()
                .flatten()
                .any(|(p, v)| !self.sel.chosen.contains_key(&p.name) && provide_satisfies(r, v))
    }

    /// Selects candidate `i` and, recursively, what its `Pre-Depends` and `Depends` need.
    pub(super) fn select(
        &mut self,
        i: usize,
        requested: bool,
        chain: &mut Vec<String>,
    ) -> Result<(), Unsat> {
        let p = &self.u.pkgs[i];
        if let Some((c, req)) = self.sel.chosen.get_mut(&p.name) {
            if *c == i {
                *req |= requested;
                return Ok(());
            }
            let other = self.u.pkgs[*c].version_text.clone();
            return Err(Unsat {
                chain: chain.clone(),
                reason: format!(
                    "needs {} {}, but {} {other} is already chosen",
                    p.name, p.version_text, p.name
                ),
            });
        }
        self.sel.chosen.insert(p.name.clone(), (i, requested));
        let fail = |reason: String, chain: &[String]| Unsat {
            chain: chain.to_vec(),
            reason,
        };
        for (field, text) in [("Pre-Depends", &p.pre_depends), ("Depends", &p.depends)] {
            let groups = relations(p, field, text).map_err(|e| fail(e, chain))?;
            for group in groups {
                let alts: Vec<&Relation> = group.iter().filter(|r| self.u.applies(r)).collect();
                if alts.is_empty() || alts.iter().any(|r| self.met(r)) {
                    continue;
                }
                let mut first = None;
                for r in &alts {
                    let saved = self.sel.clone();
                    chain.push(r.to_string());
                    let tried = self.install(r, chain);
                    chain.pop();
                    match tried {
                        Ok(()) => {
                            first = None;
                            break;
                        }
                        Err(e) => {
                            self.sel = saved;
                            first.get_or_insert(e);
                        }
                    }
                }
                if let Some(e) = first {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Installs something that meets `r` (not met yet): the candidate of `r.name`, else the
    /// best-ranked provider whose candidate provides it.
    fn install(&mut self, r: &Relation, chain: &mut Vec<String>) -> Result<(), Unsat> {
        let u = self.u;
        if !u.arch_ok(r) {
            return Err(Unsat {
                chain: chain.clone(),
                reason: format!("envc installs only `{}` packages", u.arch),
            });
        }
        if let Some(&best) = u.versions(&r.name).first() {
            if satisfies(r, &u.pkgs[best].version) {
                return self.select(best, false, chain);
            }
        }
        let mut providers: Vec<usize> = u
            .providers
            .get(&r.name)
            .into_iter()
            .flatten()
            .filter(|(i, v)| {
                u.versions(&u.pkgs[*i].name).first() == Some(i) && provide_satisfies(r, v)
            })
            .map(|(i, _)| *i)
            .collect();
        providers.sort_by(|a, b| {
            (u.pkgs[*a].priority, &u.pkgs[*a].name).cmp(&(u.pkgs[*b].priority, &u.pkgs[*b].name))
        });
        providers.dedup();
        let mut first = None;
        for i in providers {
            let saved = self.sel.clone();
            match self.select(i, false, chain) {
                Ok(()) => return Ok(()),
                Err(e) => {
                    self.sel = saved;
                    first.get_or_insert(e);
                }
            }
        }
        if let Some(e) = first {
            return Err(e);
        }
        let reason = match u.versions(&r.name).first() {
            Some(&best) => format!(
                "no source has a version that satisfies it ({} is the newest)",
                u.pkgs[best].label()
            ),
            None => "no source has it".to_string(),
        };
        Err(Unsat {
            chain: chain.clone(),
            reason,
        })
    }
}

/// A package of the final system: the base's (not replaced) or a new one.
struct Installed<'a> {
    pkg: &'a Pkg,
    new: bool,
}

/// Checks `Conflicts` and `Breaks` of every new package against base plus selection, base
/// packages' against the new ones, and base packages' dependencies on anything upgraded.
pub(super) fn check(u: &Universe<'_>, sel: &Selection) -> Result<(), Error> {
    let mut fin: BTreeMap<&str, Installed<'_>> = BTreeMap::new();
    for (name, p) in &u.base {
        fin.insert(name, Installed { pkg: p, new: false });
    }
    for (name, (i, _)) in &sel.chosen {
        fin.insert(
            name,
            Installed {
                pkg: &u.pkgs[*i],
                new: true,
            },
        );
    }
    let mut provided: BTreeMap<&str, Vec<(&Installed<'_>, &Option<Version>)>> = BTreeMap::new();
    let mut provides_cache = Vec::new();
    for inst in fin.values() {
        if !inst.pkg.provides.is_empty() {
            provides_cache.push((inst, provides_of(inst.pkg)?));
        }
    }
    for (inst, list) in &provides_cache {
        for (name, v) in list {
            provided.entry(name.as_str()).or_default().push((*inst, v));
        }
    }
    for owner in fin.values() {
        for field in ["Conflicts", "Breaks"] {
            let text = if field == "Breaks" {
                &owner.pkg.breaks
            } else {
                &owner.pkg.conflicts
            };
            if text.is_empty() {
                continue;
            }
            for r in relations(owner.pkg, field, text)
                .map_err(Error::index_of(owner.pkg))?
                .iter()
                .flatten()
            {
                if !u.applies(r) {
                    continue;
                }
                let real = fin
                    .get(r.name.as_str())
                    .filter(|t| satisfies(r, &t.pkg.version));
                let virt = provided
                    .get(r.name.as_str())
                    .into_iter()
                    .flatten()
                    .filter(|(_, v)| provide_satisfies(r, v))
                    .map(|(t, _)| *t);
                for target in real.into_iter().chain(virt) {
                    // A package may conflict with what it provides itself; base against base is
                    // the base's own business.
                    if target.pkg.name == owner.pkg.name || !(owner.new || target.new) {
                        continue;
                    }
                    return Err(Error::Conflict {
                        owner: owner.pkg.label(),
                        owner_from: if owner.new {
                            "to install"
                        } else {
                            "in the base"
                        },
                        relation: format!("{field}: {r}"),
                        target: target.pkg.label(),
                        target_from: if target.new {
                            "to install"
                        } else {
                            "in the base"
                        },
                    });
                }
            }
        }
    }
    // A base package whose dependency named an upgraded package must still be met.
    let upgraded: Vec<&str> = sel
        .chosen
        .keys()
        .filter(|n| u.base.contains_key(n.as_str()))
        .map(String::as_str)
        .collect();
    if upgraded.is_empty() {
        return Ok(());
    }
    let r = Resolver {
        u,
        sel: sel.clone(),
    };
    for p in fin.values().filter(|i| !i.new).map(|i| i.pkg) {
        for (field, text) in [("Pre-Depends", &p.pre_depends), ("Depends", &p.depends)] {
            if !upgraded.iter().any(|n| text.contains(n)) {
                continue;
            }
            for group in relations(p, field, text).map_err(Error::index_of(p))? {
                let alts: Vec<&Relation> = group.iter().filter(|x| u.applies(x)).collect();
                if alts.is_empty() || alts.iter().any(|x| r.met(x)) {
                    continue;
                }
                let names: Vec<String> = alts.iter().map(|x| x.to_string()).collect();
                return Err(Error::BaseBroken {
                    base: p.label(),
                    relation: format!("{field}: {}", names.join(" | ")),
                });
            }
        }
    }
    Ok(())
}
