//! The Debian/Ubuntu side of `envc lock`: the spec's `debian_packages` resolved against the
//! base image's own apt sources, as `apt-get install --no-install-recommends` in the image would,
//! without running apt. [`release`] verifies each source's `InRelease` with the base's keyrings
//! and fetches its Packages indexes, [`index`] reads them and dpkg's status, [`resolve`] chooses.
//! The output names every deb by URL, sha256 and size; maintainer scripts are read by the lead
//! from the downloaded debs, not here.

pub(crate) mod index;
pub(crate) mod release;
mod resolve;
#[cfg(test)]
mod tests;

use crate::lock::facts::BaseFacts;
use crate::lock::fetch::{Fetch, FetchError};
use crate::lock::file::{AptSourceRecord, LockedDeb};
use crate::types::package::DebianPackage;

use index::Pkg;
use resolve::{Resolver, Universe};

/// What `envc lock` records for the debs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    /// Every source read (all of them decided which version is the candidate), sorted.
    pub sources: Vec<AptSourceRecord>,
    /// Sorted by name, then arch.
    pub debs: Vec<LockedDeb>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error("the base image has no dpkg database (`var/lib/dpkg/status`), so envc cannot install `debian_packages` into it\nhint: use a Debian or Ubuntu base, or drop `debian_packages`")]
    NoDpkg,
    #[error("the base image lists no apt sources (`etc/apt/sources.list`, `etc/apt/sources.list.d/`), so no deb can be resolved")]
    NoSources,
    #[error("the base's dpkg status: {0}")]
    Status(String),
    #[error("apt source `{apt_source}` (from `{file}`): {reason}")]
    Release {
        apt_source: String,
        file: String,
        reason: String,
    },
    #[error("apt source `{apt_source}`: its InRelease is not verified: {reason} (keyrings tried: {keyrings})\nhint: the base image must trust the archive's key itself, as apt in it would")]
    Unverified {
        apt_source: String,
        reason: String,
        keyrings: String,
    },
    #[error("debs of {release} for a base of {base} (apt source `{apt_source}`)\nhint: install only from the base's own distribution and release")]
    WrongDistribution {
        release: String,
        base: String,
        apt_source: String,
    },
    #[error("{url}: sha256 and size do not match its signed Release: expected {expected}, got {found}\nhint: the mirror is changing or corrupt; run `envc lock` again later")]
    HashMismatch {
        url: String,
        expected: String,
        found: String,
    },
    #[error("{index}: {reason}")]
    Index { index: String, reason: String },
    #[error("debian package `{entry}`: {reason}")]
    Request { entry: String, reason: String },
    #[error("`{chain}`: {reason}")]
    Unsatisfiable { chain: String, reason: String },
    #[error("`{owner}` ({owner_from}) has `{relation}`, which `{target}` ({target_from}) meets\nhint: envc never removes a base package; pin versions that agree, or use a base without `{target}`")]
    Conflict {
        owner: String,
        owner_from: &'static str,
        relation: String,
        target: String,
        target_from: &'static str,
    },
    #[error("`{base}` in the base has `{relation}`, which the upgrades no longer meet\nhint: envc upgrades only what is asked for; request `{base}`'s package too, or pin the upgraded one")]
    BaseBroken { base: String, relation: String },
}

impl Error {
    fn index_of(p: &Pkg) -> impl Fn(String) -> Error + '_ {
        move |reason| Error::Index {
            index: format!("the stanza of `{}`", p.label()),
            reason,
        }
    }
}

/// One `debian_packages` entry: `name[:arch][=version|/release]`.
struct Request<'a> {
    entry: &'a str,
    name: &'a str,
    arch: Option<&'a str>,
    version: Option<&'a str>,
    release: Option<&'a str>,
}

fn parse_request(entry: &str) -> Request<'_> {
    let (head, version, release) = match entry.find(['=', '/']) {
        Some(i) if entry.as_bytes()[i] == b'=' => (&entry[..i], Some(&entry[i + 1..]), None),
        Some(i) => (&entry[..i], None, Some(&entry[i + 1..])),
        None => (entry, None, None),
    };
    let (name, arch) = match head.split_once(':') {
        Some((n, a)) => (n, Some(a)),
        None => (head, None),
    };
    Request {
        entry,
        name,
        arch,
        version,
        release,
    }
}

/// Resolves `requested` (the spec's debian_packages) against the base's own apt sources.
pub fn resolve(
    facts: &BaseFacts,
    requested: &[DebianPackage],
    fetch: &dyn Fetch,
    now_unix: u64,
) -> Result<Resolution, Error> {
    if requested.is_empty() {
        return Ok(Resolution {
            sources: Vec::new(),
            debs: Vec::new(),
        });
    }
    let dpkg = facts.dpkg.as_ref().ok_or(Error::NoDpkg)?;
    if facts.apt_sources.is_empty() {
        return Err(Error::NoSources);
    }
    let base = index::installed(&dpkg.status).map_err(Error::Status)?;
    let arch = facts.dpkg_arch.as_str();
    let mut pkgs = Vec::new();
    let mut verified = Vec::new();
    for (n, src) in facts.apt_sources.iter().enumerate() {
        let v = release::fetch_verified(facts, src, fetch, now_unix)?;
        for (url, bytes) in release::fetch_indexes(src, &v, arch, fetch)? {
            let text = String::from_utf8_lossy(&bytes);
            let stanzas = index::stanzas(&text).map_err(|reason| Error::Index {
                index: url.clone(),
                reason,
            })?;
            for st in stanzas {
                let p = Pkg::from_stanza(&st, n).map_err(|reason| Error::Index {
                    index: url.clone(),
                    reason,
                })?;
                if p.arch == arch || p.arch == "all" {
                    pkgs.push(p);
                }
            }
        }
        verified.push(v);
    }
    let u = Universe::new(&pkgs, &base, arch)?;
    let mut r = Resolver {
        u: &u,
        sel: Default::default(),
    };
    for entry in requested {
        let req = parse_request(entry.as_str());
        let Some(i) = pick(&u, facts, &verified, &req)? else {
            continue; // The base has it at the newest version (apt: "already the newest").
        };
        r.select(i, true, &mut vec![req.name.to_string()])
            .map_err(resolve::Unsat::into_error)?;
    }
    resolve::check(&u, &r.sel)?;
    let mut debs = Vec::new();
    for (name, (i, requested)) in &r.sel.chosen {
        let p = &pkgs[*i];
        let src = &facts.apt_sources[p.source];
        let missing = |f: &str| Error::Index {
            index: format!("{} {}", src.uri, src.suite),
            reason: format!(
                "the stanza of `{}` has no `{f}`, so envc cannot fetch and check it",
                p.label()
            ),
        };
        debs.push(LockedDeb {
            name: name.clone(),
            version: p.version_text.clone(),
            arch: p.arch.clone(),
            url: format!(
                "{}/{}",
                src.uri,
                p.filename.as_deref().ok_or_else(|| missing("Filename"))?
            ),
            sha256: p.sha256.clone().ok_or_else(|| missing("SHA256"))?,
            size: p.size.ok_or_else(|| missing("Size"))?,
            suite: format!("{} {}", src.uri, src.suite),
            installs: "/".to_string(),
            requested: *requested,
            multi_arch_same: p.multi_arch_same,
            upgrades: u.base(name).map(|b| b.version_text.clone()),
            scripts: Vec::new(),
        });
    }
    debs.sort_by(|a, b| (&a.name, &a.arch).cmp(&(&b.name, &b.arch)));
    let mut sources: Vec<AptSourceRecord> = facts
        .apt_sources
        .iter()
        .zip(verified)
        .map(|(s, v)| AptSourceRecord {
            uri: s.uri.clone(),
            suite: s.suite.clone(),
            components: s.components.clone(),
            inrelease_sha256: v.inrelease_sha256,
            date: v.release.date,
            keyring: v.keyring,
            keyring_sha256: v.keyring_sha256,
        })
        .collect();
    sources
        .sort_by(|a, b| (&a.uri, &a.suite, &a.components).cmp(&(&b.uri, &b.suite, &b.components)));
    Ok(Resolution { sources, debs })
}

/// The candidate a requested entry names, or `None` when the base already has it as new.
fn pick(
    u: &Universe<'_>,
    facts: &BaseFacts,
    verified: &[release::Verified],
    req: &Request<'_>,
) -> Result<Option<usize>, Error> {
    let bad = |reason: String| Error::Request {
        entry: req.entry.to_string(),
        reason,
    };
    if let Some(a) = req.arch {
        if a != u.arch_name() && a != "all" {
            return Err(bad(format!(
                "envc installs only the base's own architecture, `{}`",
                u.arch_name()
            )));
        }
    }
    let mut ids: Vec<usize> = u.versions(req.name).to_vec();
    if ids.is_empty() {
        let providers = u.provider_names(req.name);
        return match providers.as_slice() {
            [] => Err(bad(format!(
                "no apt source of the base has it{}",
                suggest(u, req.name)
            ))),
            [one] => Ok(u.versions(one).first().copied()),
            many => Err(bad(format!(
                "it is a virtual package; name one of its providers: {}",
                many.join(", ")
            ))),
        };
    }
    if let Some(v) = req.version {
        ids.retain(|i| u.pkgs[*i].version_text == v);
        if ids.is_empty() {
            let have: Vec<&str> = u
                .versions(req.name)
                .iter()
                .map(|i| u.pkgs[*i].version_text.as_str())
                .collect();
            return Err(bad(format!(
                "no source has version `{v}`; they have {}",
                have.join(", ")
            )));
        }
    }
    if let Some(rel) = req.release {
        ids.retain(|i| {
            let n = u.pkgs[*i].source;
            let r = &verified[n].release;
            facts.apt_sources[n].suite == rel || r.suite == rel || r.codename == rel
        });
        if ids.is_empty() {
            return Err(bad(format!("no source of suite `{rel}` has it")));
        }
    }
    let best = ids[0];
    if let Some(b) = u.base(req.name) {
        let newest = req.version.is_none() && b.version >= u.pkgs[best].version;
        if newest || b.version_text == u.pkgs[best].version_text {
            return Ok(None);
        }
    }
    Ok(Some(best))
}

/// `; did you mean …?` with up to three close names, or nothing.
fn suggest(u: &Universe<'_>, name: &str) -> String {
    let mut close: Vec<(u32, &str)> = u
        .names()
        .filter_map(|n| {
            let score = strsim::jaro_winkler(name, n);
            (score > 0.88).then_some(((score * 1e6) as u32, *n))
        })
        .collect();
    close.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    let names: Vec<String> = close
        .iter()
        .take(3)
        .map(|(_, n)| format!("`{n}`"))
        .collect();
    if names.is_empty() {
        String::new()
    } else {
        format!("; did you mean {}?", names.join(", "))
    }
}
