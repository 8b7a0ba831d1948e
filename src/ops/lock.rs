//! `envc lock`, `envc lock --check` and `envc fetch`: the hermetic path's only steps that may
//! touch the network. `lock` reads the base's facts, resolves the spec's Debian packages
//! against the image's own signed apt sources and its pip requirements for the image's Python,
//! fetches every artifact into the content-addressed cache (so the build that follows needs no
//! network, and the lock stays buildable when archives drop old versions), and writes the
//! lockfile atomically. `--check` recomputes the inputs without the network or a resolver.

use super::Error;
use crate::lock::cache::{Artifact, Cache};
use crate::lock::facts::{self, BaseFacts};
use crate::lock::fetch::{Fetch, Web};
use crate::lock::file::{
    AptSourceRecord, BaseRecord, Inputs, LockedDeb, LockedWheel, Lockfile, PythonRecord,
};
use crate::lock::{apt, pip};
use crate::oci::archive::{choose_image, LayoutSource};
use crate::plan::{Plan, Step};
use crate::store::base::ImportedBase;
use crate::store::{base_arg, Store};
use crate::types::package::{DebianPackage, PipRequirement};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Why a lock cannot be made, read, or used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LockError {
    #[error("envc cannot lock conda packages yet ({}): remove them from `python.conda_packages`, install them in `post_build_cmds`, or build without --lock", .packages.join(", "))]
    Conda { packages: Vec<String> },
    #[error("the base image `{base}` has no dpkg database (/var/lib/dpkg/status), so envc cannot install the Debian packages {} into it: use a Debian or Ubuntu base, or build without --lock", .packages.join(", "))]
    NoDpkg { base: String, packages: Vec<String> },
    #[error(
        "the base image `{base}` is `{id}`, not Debian or Ubuntu: envc installs debs only on those"
    )]
    NotDebian { base: String, id: String },
    #[error("the base image `{base}` has no Python environment on its PATH (no `python3` with a `lib/python3.*/site-packages`), so envc cannot install the pip packages {}", .packages.join(", "))]
    NoPython { base: String, packages: Vec<String> },
    #[error("the base image `{base}` has no glibc (`libc6` in its dpkg database), so no manylinux wheel fits it")]
    NoGlibc { base: String },
    #[error("{path} is stale; what changed since it was written:\n{}\n  help: run `envc lock` again and commit the new lock", .diff.iter().map(|l| format!("  {l}")).collect::<Vec<_>>().join("\n"))]
    Stale { path: String, diff: Vec<String> },
    #[error(transparent)]
    Facts(#[from] facts::Error),
    #[error(transparent)]
    Apt(#[from] apt::Error),
    #[error(transparent)]
    Pip(#[from] pip::Error),
    #[error(transparent)]
    Cache(#[from] crate::lock::cache::Error),
    #[error(transparent)]
    File(#[from] crate::lock::file::Error),
    #[error(transparent)]
    Deb(#[from] crate::assemble::packages::deb::Error),
    #[error(transparent)]
    Hermetic(#[from] crate::assemble::hermetic::Error),
}

impl LockError {
    /// 2 for what failed to run or be read (the network, the disk); 1 for a refusal.
    pub fn exit_code(&self) -> u8 {
        use crate::lock::cache::Error as C;
        match self {
            LockError::Cache(C::Fetch { .. } | C::Io { .. }) => super::EXIT_ERROR,
            LockError::Facts(facts::Error::Oci(crate::oci::Error::Io { .. })) => super::EXIT_ERROR,
            LockError::Hermetic(
                crate::assemble::hermetic::Error::Assemble(_)
                | crate::assemble::hermetic::Error::Spool(_),
            ) => super::EXIT_ERROR,
            _ => super::EXIT_NO,
        }
    }
}

/// The packages of a plan that a lock covers.
#[derive(Debug, Default, Clone)]
pub struct Wanted {
    pub debian: Vec<DebianPackage>,
    pub pip: Vec<PipRequirement>,
}

impl Wanted {
    /// The Debian and pip entries as the lock's `[inputs]` lists them.
    pub fn lists(&self) -> (Vec<String>, Vec<String>) {
        (
            self.debian.iter().map(|p| p.as_str().to_string()).collect(),
            self.pip.iter().map(|p| p.as_str().to_string()).collect(),
        )
    }
}

/// The plan's Debian and pip packages, in order; conda packages are refused by name.
pub fn wanted(plan: &Plan) -> Result<Wanted, LockError> {
    let mut w = Wanted::default();
    let mut conda = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Debian { packages, .. } => w.debian.extend(packages.iter().cloned()),
            Step::Pip { packages, .. } => w.pip.extend(packages.iter().cloned()),
            Step::Conda { packages, .. } => {
                conda.extend(packages.iter().map(|p| p.as_str().to_string()))
            }
            Step::Env { .. } | Step::Run { .. } => {}
        }
    }
    if !conda.is_empty() {
        return Err(LockError::Conda { packages: conda });
    }
    Ok(w)
}

/// How `envc lock` and `envc fetch` run.
pub struct LockOptions {
    /// `--base`, as for `envc build`.
    pub base: Option<String>,
    pub registry: Arc<crate::registry::Client>,
    pub mirror: Option<String>,
    pub cache: Cache,
    pub pip: pip::PipSettings,
    /// Now, for `Valid-Until` of the apt sources.
    pub now: u64,
}

/// The resolvers' settings, as recorded in the lock (and compared by `--check`).
pub fn settings(pip: &pip::PipSettings) -> Vec<String> {
    let mut s = vec![
        "apt: Pre-Depends and Depends, no Recommends (as the Dockerfile's --no-install-recommends)"
            .to_string(),
        "pip: wheels only, for the base's Python and platform".to_string(),
    ];
    // Only find-links: uv runs with --no-index (lock::pip), and the lock says so.
    let find_links_only =
        pip.index_url.is_none() && pip.extra_index_urls.is_empty() && !pip.find_links.is_empty();
    if find_links_only {
        s.push("pip index: none (find-links only)".to_string());
    } else {
        s.push(format!(
            "pip index: {}",
            pip.index_url
                .as_deref()
                .unwrap_or("https://pypi.org/simple")
        ));
    }
    s.extend(
        pip.extra_index_urls
            .iter()
            .map(|u| format!("pip extra index: {u}")),
    );
    s.extend(
        pip.find_links
            .iter()
            .map(|u| format!("pip find-links: {u}")),
    );
    s
}

/// The digest of the apt sources and keyrings a base trusts.
fn sources_digest(facts: &BaseFacts) -> String {
    let sources: Vec<serde_json::Value> = facts
        .apt_sources
        .iter()
        .map(|s| {
            serde_json::json!({"uri": s.uri, "suite": s.suite, "components": s.components,
                "signed_by": s.signed_by})
        })
        .collect();
    let keyrings: Vec<serde_json::Value> = facts
        .keyrings
        .iter()
        .map(|k| serde_json::json!({"path": k.path, "sha256": crate::types::digest::Digest::of(&k.bytes).to_string()}))
        .collect();
    let doc = serde_json::json!({"sources": sources, "keyrings": keyrings});
    crate::types::digest::Digest::of(doc.to_string().as_bytes()).to_string()
}

/// The base in the store (imported or pulled first, as `envc build` does) and its facts.
pub(crate) fn base_and_facts(
    store: &Store,
    plan: &Plan,
    base: Option<&str>,
    registry: &Arc<crate::registry::Client>,
    mirror: Option<&str>,
) -> Result<(ImportedBase, BaseFacts), Error> {
    let options = super::build::BuildOptions {
        base: base.map(str::to_string),
        compression: crate::oci::Compression::Gzip,
        epoch: 0,
        registry: registry.clone(),
        mirror: mirror.map(str::to_string),
    };
    let imported = super::build::base(store, &plan.base.reference, base, &options)?;
    // The facts of an image are a function of its digest: read its layers once per store, then
    // from `envc/facts/` (a file that does not parse is read again from the layers).
    let cached = store
        .root()
        .join("envc/facts")
        .join(format!("v1-{}.json", imported.manifest.digest.hex()));
    if let Ok(bytes) = std::fs::read(&cached) {
        if let Ok(facts) = serde_json::from_slice::<BaseFacts>(&bytes) {
            return Ok((imported, facts));
        }
    }
    let src = LayoutSource::Dir(store.root().to_path_buf());
    let facts = facts::read(&src, &imported.config, &imported.layers).map_err(LockError::from)?;
    // A cache: failing to write it costs the next build a read of the layers, nothing else.
    if let (Some(dir), Ok(bytes)) = (cached.parent(), serde_json::to_vec(&facts)) {
        if std::fs::create_dir_all(dir).is_ok() {
            let _ = store.write_file_atomically(&cached, &bytes);
        }
    }
    Ok((imported, facts))
}

/// Resolves `plan`'s packages on its base and fetches every artifact into the cache.
pub fn lock(
    store_dir: &Path,
    plan: &Plan,
    options: &LockOptions,
    log: &dyn super::Log,
) -> Result<Lockfile, Error> {
    let wanted = wanted(plan)?;
    super::with_store(store_dir, |store| {
        let (base, facts) = base_and_facts(
            store,
            plan,
            options.base.as_deref(),
            &options.registry,
            options.mirror.as_deref(),
        )?;
        let name = plan.base.reference.clone();
        log.verbose(&format!(
            "base `{name}` {}: {} {} ({}), python {}",
            base.manifest.digest,
            facts.os.id,
            facts.os.codename,
            facts.platform,
            facts.python.as_ref().map_or("none", |p| p.version.as_str())
        ));
        let fetch = Web {
            client: options.registry.clone(),
        };
        let (apt_sources, mut debs) =
            resolve_debs(&name, &facts, &wanted.debian, &fetch, options.now)?;
        let (python, wheels) = resolve_wheels(&name, &facts, &wanted.pip, &options.pip)?;
        let (deb_paths, wheel_paths) = fetch_all(&options.cache, &fetch, &debs, &wheels, false)?;
        record_scripts(&mut debs, &deb_paths)?;
        log.verbose(&format!(
            "{} artifact(s) in the cache {}",
            deb_paths.len() + wheel_paths.len(),
            options.cache.root().display()
        ));
        let mut tools = vec![format!("envc {}", env!("CARGO_PKG_VERSION"))];
        if !wanted.pip.is_empty() {
            tools.push(pip::resolver_version(&options.pip).map_err(LockError::from)?);
        }
        let (debian, pip) = wanted.lists();
        let inputs = Inputs::compute(
            debian,
            pip,
            format!("{name}@{}", base.manifest.digest),
            sources_digest(&facts),
            settings(&options.pip),
            tools,
        );
        Ok(Lockfile {
            version: crate::lock::file::VERSION,
            inputs,
            base: BaseRecord {
                name,
                digest: base.manifest.digest.to_string(),
                platform: facts.platform.clone(),
                os_id: facts.os.id.clone(),
                os_version_id: facts.os.version_id.clone(),
                os_codename: facts.os.codename.clone(),
                dpkg_arch: facts.dpkg.as_ref().map(|_| facts.dpkg_arch.clone()),
                python,
            },
            apt_sources,
            debs,
            wheels,
        })
    })
}

fn resolve_debs(
    base: &str,
    facts: &BaseFacts,
    wanted: &[DebianPackage],
    fetch: &dyn Fetch,
    now: u64,
) -> Result<(Vec<AptSourceRecord>, Vec<LockedDeb>), LockError> {
    if wanted.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let names = || wanted.iter().map(|p| p.as_str().to_string()).collect();
    if facts.dpkg.is_none() {
        return Err(LockError::NoDpkg {
            base: base.into(),
            packages: names(),
        });
    }
    if !matches!(facts.os.id.as_str(), "debian" | "ubuntu") {
        return Err(LockError::NotDebian {
            base: base.into(),
            id: facts.os.id.clone(),
        });
    }
    let r = apt::resolve(facts, wanted, fetch, now)?;
    Ok((r.sources, r.debs))
}

fn resolve_wheels(
    base: &str,
    facts: &BaseFacts,
    wanted: &[PipRequirement],
    settings: &pip::PipSettings,
) -> Result<(Option<PythonRecord>, Vec<LockedWheel>), LockError> {
    if wanted.is_empty() {
        return Ok((None, Vec::new()));
    }
    let names = || wanted.iter().map(|p| p.as_str().to_string()).collect();
    let Some(python) = &facts.python else {
        return Err(LockError::NoPython {
            base: base.into(),
            packages: names(),
        });
    };
    let glibc = facts
        .glibc
        .as_deref()
        .ok_or_else(|| LockError::NoGlibc { base: base.into() })?;
    let platform = pip::platform(glibc, &facts.platform)?;
    let wheels = pip::resolve(python, &platform, wanted, settings)?;
    Ok((
        Some(PythonRecord {
            executable: python.executable.clone(),
            version: python.version.clone(),
            site_packages: python.site_packages.clone(),
            platform,
        }),
        wheels,
    ))
}

/// Every artifact of `debs` and `wheels` into the cache (verified), four at a time; their
/// cache paths, debs first.
pub(crate) fn fetch_all(
    cache: &Cache,
    fetch: &dyn Fetch,
    debs: &[LockedDeb],
    wheels: &[LockedWheel],
    offline: bool,
) -> Result<(Vec<PathBuf>, Vec<PathBuf>), LockError> {
    let what: Vec<String> = debs
        .iter()
        .map(|d| format!("deb {} {}", d.name, d.version))
        .chain(
            wheels
                .iter()
                .map(|w| format!("wheel {} {}", w.name, w.version)),
        )
        .collect();
    let jobs: Vec<Artifact<'_>> = debs
        .iter()
        .map(|d| (&d.url, &d.sha256, d.size))
        .chain(wheels.iter().map(|w| (&w.url, &w.sha256, w.size)))
        .zip(&what)
        .map(|((url, sha256, size), what)| Artifact {
            what,
            url,
            sha256,
            size,
        })
        .collect();
    let next = std::sync::atomic::AtomicUsize::new(0);
    type Slot = Option<Result<PathBuf, crate::lock::cache::Error>>;
    let results: std::sync::Mutex<Vec<Slot>> =
        std::sync::Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..4.min(jobs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some(job) = jobs.get(i) else { return };
                let r = cache.ensure(fetch, job, offline);
                results.lock().expect("results")[i] = Some(r);
            });
        }
    });
    let mut paths = Vec::new();
    for r in results.into_inner().expect("results") {
        paths.push(r.expect("every job ran")?);
    }
    let wheel_paths = paths.split_off(debs.len());
    Ok((paths, wheel_paths))
}

/// Records each deb's maintainer scripts and triggers, read from its control archive.
fn record_scripts(debs: &mut [LockedDeb], paths: &[PathBuf]) -> Result<(), LockError> {
    let spool = tempfile::tempdir().map_err(|e| crate::lock::cache::Error::Io {
        path: std::env::temp_dir().display().to_string(),
        source: e,
    })?;
    for (d, p) in debs.iter_mut().zip(paths) {
        let deb = crate::assemble::packages::deb::read(p, spool.path())?;
        d.scripts = crate::assemble::packages::deb::scripts(&deb);
    }
    Ok(())
}

/// The inputs a lock would have today, computed without the network or a resolver: the spec's
/// lists and the resolvers' settings, and the base's digest when it can be known locally
/// (`--base`'s, or the store's base of that name); `None` fields are taken from `lock`.
pub fn current_inputs(
    store_dir: &Path,
    plan: &Plan,
    base: Option<&str>,
    pip_settings: &pip::PipSettings,
    lock: &Lockfile,
) -> Result<Inputs, Error> {
    let wanted = wanted(plan)?;
    let name = &plan.base.reference;
    let digest = match base {
        Some(arg) if base_arg::registry_ref(arg).is_none() => {
            let loc = base_arg::parse(arg)?;
            let src = LayoutSource::open(&loc)?;
            Some(choose_image(&src, loc.reference())?.digest.to_string())
        }
        Some(_) => None,
        None => match Store::open(store_dir) {
            Ok(store) => store
                .stored_base(name)?
                .map(|b| b.manifest.digest.to_string()),
            Err(_) => None,
        },
    };
    let locked_digest = &lock.base.digest;
    let base_text = format!("{name}@{}", digest.as_deref().unwrap_or(locked_digest));
    // The sources are read from the base: the same base digest has the same sources.
    let sources = if base_text == lock.inputs.base {
        lock.inputs.sources.clone()
    } else {
        "(the new base's, unknown until `envc lock`)".into()
    };
    let (debian, pip) = wanted.lists();
    Ok(Inputs::compute(
        debian,
        pip,
        base_text,
        sources,
        settings(pip_settings),
        lock.inputs.tools.clone(),
    ))
}

/// Reads the lockfile at `path`.
pub fn read_lock(path: &Path) -> Result<Lockfile, Error> {
    let text = crate::input::read::read_text(path).map_err(|e| Error::Read {
        path: path.display().to_string(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()),
    })?;
    Ok(Lockfile::parse(&text, &path.display().to_string()).map_err(LockError::from)?)
}

/// `Err(Stale)` with what changed, when `lock` was not made for today's inputs.
pub fn check(path: &Path, lock: &Lockfile, now: &Inputs) -> Result<(), Error> {
    let diff = lock.inputs.diff(now);
    if diff.is_empty() && lock.inputs.digest == now.digest {
        return Ok(());
    }
    Err(LockError::Stale {
        path: path.display().to_string(),
        diff,
    }
    .into())
}

/// `envc fetch`: every artifact of `lock` into the cache (nothing else is written); how many.
pub fn fetch(
    lock: &Lockfile,
    cache: &Cache,
    registry: Arc<crate::registry::Client>,
) -> Result<usize, Error> {
    let fetch = Web { client: registry };
    let (d, w) = fetch_all(cache, &fetch, &lock.debs, &lock.wheels, false)?;
    Ok(d.len() + w.len())
}
