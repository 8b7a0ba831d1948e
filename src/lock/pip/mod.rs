//! pip resolution for the base image's Python, not the host's (hermetic.md §2.3, §4): the
//! spec's requirements plus the base's installed dists as constraints → one pinned wheel
//! (URL, sha256, size) per distribution.
//!
//! The resolver is `uv pip compile` at a pinned version ([`UV_VERSION`]), run as a child with
//! `--python-version`/`--python-platform` naming the image's interpreter and glibc, and
//! `--format pylock.toml`, whose PEP 751 output lists exactly the wheels that fit. Why uv and
//! not a Rust resolver: PEP 440/508 resolution with backtracking, markers, extras, yanked
//! files, PEP 658 metadata and several index flavours is a large body of behaviour users
//! already rely on pip/uv for; re-implementing it would give different answers on the cases
//! that matter. uv's resolver crates are not a stable library (hermetic.md §2.2: one crate
//! version per uv release, rustc ahead of ours). A pinned binary gives reproducible answers,
//! its version is recorded in the lock's inputs ([`resolver_version`]), and the lock it
//! produces is then installed with no resolver at all. A native pubgrub resolver can replace
//! it behind the same [`resolve`].
//!
//! The base's own dists are passed as `name==version` constraints, except those the spec
//! names: a requested package may upgrade the base's (`upgrades = Some(old)`). Dists the
//! resolution leaves at the base's version are already installed and are not locked again.

mod pylock;
mod tags;

pub use tags::{platform_tags, supported_tags, wheel_tags, Ranking};

use crate::lock::facts::Python;
use crate::lock::file::LockedWheel;
use crate::types::package::PipRequirement;
use std::collections::BTreeSet;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::str::FromStr;

/// The uv release envc drives; another one may resolve differently.
pub const UV_VERSION: &str = "0.13.9";

/// The glibc minors uv 0.13.9 accepts in `--python-platform <arch>-manylinux_2_<minor>`.
const UV_MANYLINUX: [u32; 12] = [17, 28, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40];

/// How to run the resolver: the `uv` binary and the package locations.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipSettings {
    pub uv: PathBuf,
    /// `--index-url` (uv's default, PyPI, when `None`).
    pub index_url: Option<String>,
    pub extra_index_urls: Vec<String>,
    /// `--find-links`: directories or HTML pages of wheels. With no index URL given and
    /// find-links only, the index is turned off (`--no-index`).
    pub find_links: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot run the pip resolver `{uv}`: {source}; install it with `pip install uv=={UV_VERSION}` (or name its path in the settings)", uv = uv.display())]
    UvMissing { uv: PathBuf, source: std::io::Error },
    #[error("`{uv}` is {found}, but envc resolves with uv {UV_VERSION}; install it with `pip install uv=={UV_VERSION}`", uv = uv.display())]
    UvVersion { uv: PathBuf, found: String },
    #[error("uv failed ({status}): {stderr}")]
    UvFailed { status: String, stderr: String },
    #[error("no wheel of {package} fits Python {python} on {platform} (envc installs wheels only, never builds sdists); pin a version that has such a wheel or drop the requirement\n{detail}")]
    NoWheel {
        package: String,
        python: String,
        platform: String,
        detail: String,
    },
    #[error("the pip requirements cannot be satisfied together with the base image's installed packages (name one in the spec to let it upgrade):\n{detail}")]
    Unsatisfiable { detail: String },
    #[error("uv's pylock.toml cannot be read: {detail}")]
    Pylock { detail: String },
    #[error("uv's pylock.toml gives no sha256 for {wheel} ({package}); envc locks only hash-pinned wheels")]
    NoSha256 { package: String, wheel: String },
    #[error("none of the wheels uv found for {package} {version} fits Python {python} on {platform}: {wheels}")]
    NoCompatibleWheel {
        package: String,
        version: String,
        python: String,
        platform: String,
        wheels: String,
    },
    #[error("{package}: {detail}")]
    Size { package: String, detail: String },
    #[error("the base's Python version `{0}` is not a CPython 3.x version (`3.11.2`)")]
    PythonVersion(String),
    #[error(
        "the base's platform `{0}` has no manylinux wheels envc knows (linux/amd64, linux/arm64)"
    )]
    Platform(String),
    #[error(
        "the base's glibc `{0}` is not a version envc can map to a manylinux tag (2.17 or newer)"
    )]
    Glibc(String),
    #[error("cannot tell the project name of the pip requirement `{0}`; write it as `name @ URL`")]
    RequirementName(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
    let what = what.into();
    move |source| Error::Io { what, source }
}

/// `uv 0.13.9` (the resolver's identity, recorded in the lock inputs).
pub fn resolver_version(settings: &PipSettings) -> Result<String, Error> {
    let out = uv_command(settings)
        .arg("--version")
        .output()
        .map_err(|source| Error::UvMissing {
            uv: settings.uv.clone(),
            source,
        })?;
    let text = String::from_utf8_lossy(&out.stdout);
    // `uv 0.13.9 (x86_64-unknown-linux-gnu)` or `uv 0.13.9 (abc123 2025-…)`.
    let mut words = text.split_whitespace();
    let found = match (words.next(), words.next()) {
        (Some("uv"), Some(v)) if out.status.success() => v.to_string(),
        _ => text.trim().to_string(),
    };
    if found != UV_VERSION {
        return Err(Error::UvVersion {
            uv: settings.uv.clone(),
            found,
        });
    }
    Ok(format!("uv {found}"))
}

/// uv's `--python-platform` for the base: `x86_64-manylinux_2_36` from glibc "2.36" and platform
/// "linux/amd64" (aarch64 for arm64). A glibc uv has no tag for takes the newest one below it.
pub fn platform(glibc: &str, platform: &str) -> Result<String, Error> {
    let arch = match platform.trim_end_matches("/v8") {
        "linux/amd64" => "x86_64",
        "linux/arm64" => "aarch64",
        _ => return Err(Error::Platform(platform.to_string())),
    };
    let bad = || Error::Glibc(glibc.to_string());
    let mut parts = glibc.split('.');
    let (major, minor) = match (parts.next(), parts.next()) {
        (Some(a), Some(b)) => (a.parse::<u32>(), b.parse::<u32>()),
        _ => return Err(bad()),
    };
    let (Ok(2), Ok(minor)) = (major, minor) else {
        return Err(bad());
    };
    let tag = UV_MANYLINUX
        .iter()
        .rev()
        .find(|m| **m <= minor)
        .ok_or_else(bad)?;
    Ok(format!("{arch}-manylinux_2_{tag}"))
}

/// PEP 503 normalisation: lower case, runs of `-`, `_`, `.` → `-`.
pub fn normalize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
            continue;
        }
        if sep && !out.is_empty() {
            out.push('-');
        }
        sep = false;
        out.extend(c.to_lowercase());
    }
    out
}

/// The normalised project name a requirement names (`name @ URL`, a wheel URL, `#egg=`).
fn requirement_name(req: &str) -> Result<String, Error> {
    type Req = pep508_rs::Requirement<pep508_rs::VerbatimUrl>;
    if let Ok(r) = Req::from_str(req) {
        return Ok(normalize(r.name.as_ref()));
    }
    if let Some((_, egg)) = req.split_once("#egg=") {
        let name = egg.split('&').next().unwrap_or(egg);
        if !name.is_empty() {
            return Ok(normalize(name));
        }
    }
    let file = pylock::url_filename(req);
    if file.ends_with(".whl") {
        if let Some(name) = file.split('-').next().filter(|n| !n.is_empty()) {
            return Ok(normalize(name));
        }
    }
    Err(Error::RequirementName(req.to_string()))
}

/// `3.11.2` → 11.
fn python_minor(version: &str) -> Result<u32, Error> {
    let mut parts = version.split('.');
    match (parts.next(), parts.next().map(str::parse::<u32>)) {
        (Some("3"), Some(Ok(minor))) => Ok(minor),
        _ => Err(Error::PythonVersion(version.to_string())),
    }
}

/// `x86_64-manylinux_2_36` → (`x86_64`, 36).
fn parse_platform(platform: &str) -> Result<(&str, u32), Error> {
    let bad = || Error::Platform(platform.to_string());
    let (arch, rest) = platform.split_once("-manylinux_2_").ok_or_else(bad)?;
    Ok((arch, rest.parse().map_err(|_| bad())?))
}

fn uv_command(settings: &PipSettings) -> Command {
    let mut cmd = Command::new(&settings.uv);
    // No UV_* setting of the host may change the resolution; only the cache is kept.
    for (k, _) in std::env::vars_os() {
        if let Some(k) = k.to_str() {
            if k.starts_with("UV_") && k != "UV_CACHE_DIR" {
                cmd.env_remove(k);
            }
        }
    }
    cmd
}

/// Resolves the spec's pip requirements for `python` (wheels only, pinned with sha256) → one
/// LockedWheel per dist, sorted by name.
pub fn resolve(
    python: &Python,
    platform: &str,
    requested: &[PipRequirement],
    settings: &PipSettings,
) -> Result<Vec<LockedWheel>, Error> {
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    let minor = python_minor(&python.version)?;
    let (arch, glibc_minor) = parse_platform(platform)?;
    // As `pip install` (the Dockerfile's) leaves a requirement the base already meets alone
    // ("Requirement already satisfied"), so does the lock: it stays pinned at the base's version.
    let requested: Vec<&PipRequirement> = requested
        .iter()
        .filter(|r| !satisfied_by_base(python, r.as_str()))
        .collect();
    if requested.is_empty() {
        return Ok(Vec::new());
    }
    let names: BTreeSet<String> = requested
        .iter()
        .map(|r| requirement_name(r.as_str()))
        .collect::<Result<_, _>>()?;

    let tmp = tempfile::tempdir().map_err(io("creating a temporary directory for uv"))?;
    let constraints = tmp.path().join("base-constraints.txt");
    std::fs::write(&constraints, constraint_text(python, &names))
        .map_err(io(format!("writing {}", constraints.display())))?;

    let mut cmd = uv_command(settings);
    cmd.current_dir(tmp.path())
        .args(["pip", "compile", "-", "--format", "pylock.toml"])
        .args(["--python-version", &python.version])
        .args(["--python-platform", platform])
        .args(["--only-binary", ":all:", "--no-header", "--no-config"])
        .args(["--no-python-downloads", "--quiet"])
        .arg("--constraint")
        .arg(&constraints);
    if let Some(url) = &settings.index_url {
        cmd.args(["--index-url", url]);
    }
    for url in &settings.extra_index_urls {
        cmd.args(["--extra-index-url", url]);
    }
    for l in &settings.find_links {
        cmd.args(["--find-links", l]);
    }
    if settings.index_url.is_none()
        && settings.extra_index_urls.is_empty()
        && !settings.find_links.is_empty()
    {
        cmd.arg("--no-index");
    }
    let stdin: String = requested
        .iter()
        .map(|r| format!("{}\n", r.as_str()))
        .collect();
    let out = run(cmd, &stdin, settings)?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        return Err(classify(
            &out.status.to_string(),
            &stderr,
            &python.version,
            platform,
        ));
    }
    let text = String::from_utf8(out.stdout).map_err(|_| Error::Pylock {
        detail: "uv's output is not UTF-8".into(),
    })?;
    let ranking = Ranking::new(minor, arch, glibc_minor);
    let mut out = Vec::new();
    for p in pylock::parse(&text)? {
        let name = normalize(&p.name);
        let base = python.dists.get(&name);
        if base.is_some_and(|d| same_version(&d.version, &p.version)) {
            continue; // the base has it already
        }
        let best = p
            .wheels
            .iter()
            .filter_map(|w| ranking.of(&w.filename).map(|r| (r, &w.filename, w)))
            .min_by(|a, b| (a.0, a.1).cmp(&(b.0, b.1)))
            .map(|(_, _, w)| w)
            .ok_or_else(|| Error::NoCompatibleWheel {
                package: name.clone(),
                version: p.version.clone(),
                python: python.version.clone(),
                platform: platform.to_string(),
                wheels: if p.wheels.is_empty() {
                    "uv listed no wheel".into()
                } else {
                    let files: Vec<&str> = p.wheels.iter().map(|w| w.filename.as_str()).collect();
                    files.join(", ")
                },
            })?;
        out.push(LockedWheel {
            size: wheel_size(&name, best)?,
            name: name.clone(),
            version: p.version.clone(),
            filename: best.filename.clone(),
            url: best.url.clone(),
            sha256: best.sha256.clone(),
            installs: python.site_packages.clone(),
            requested: names.contains(&name),
            upgrades: base.map(|d| d.version.clone()),
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// The base has a distribution that meets `req` (a name with optional version specifiers and
/// markers, no URL, no extras, whose own dependencies the base already holds).
fn satisfied_by_base(python: &Python, req: &str) -> bool {
    use pep508_rs::{pep440_rs::Version, Requirement, VerbatimUrl, VersionOrUrl};
    let Ok(r) = Requirement::<VerbatimUrl>::from_str(req) else {
        return false;
    };
    if !r.extras.is_empty() {
        return false;
    }
    let Some(d) = python.dists.get(&normalize(r.name.as_ref())) else {
        return false;
    };
    let Ok(installed) = Version::from_str(&d.version) else {
        return false;
    };
    match &r.version_or_url {
        None => true,
        Some(VersionOrUrl::VersionSpecifier(spec)) => spec.contains(&installed),
        Some(VersionOrUrl::Url(_)) => false,
    }
}

/// `name==version` for every base dist the spec does not name, whose version PEP 440 reads
/// (a dist with a version uv cannot parse would fail every resolution; it stays unconstrained).
fn constraint_text(python: &Python, requested: &BTreeSet<String>) -> String {
    let mut out = String::new();
    for (name, d) in &python.dists {
        if requested.contains(name) || pep508_rs::pep440_rs::Version::from_str(&d.version).is_err()
        {
            continue;
        }
        out.push_str(&format!("{name}=={}\n", d.version));
    }
    out
}

fn same_version(a: &str, b: &str) -> bool {
    use pep508_rs::pep440_rs::Version;
    match (Version::from_str(a), Version::from_str(b)) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

fn wheel_size(name: &str, w: &pylock::Wheel) -> Result<u64, Error> {
    if let Some(size) = w.size {
        return Ok(size);
    }
    // uv gives no size for find-links directories; the file is local then.
    let Some(path) = w.url.strip_prefix("file://") else {
        return Err(Error::Size {
            package: name.to_string(),
            detail: format!("uv gives no size for {}", w.url),
        });
    };
    let path = pylock::percent_decode(path);
    std::fs::metadata(Path::new(&path))
        .map(|m| m.len())
        .map_err(|e| Error::Size {
            package: name.to_string(),
            detail: format!("reading the size of {path}: {e}"),
        })
}

fn run(
    mut cmd: Command,
    stdin: &str,
    settings: &PipSettings,
) -> Result<std::process::Output, Error> {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::UvMissing {
        uv: settings.uv.clone(),
        source,
    })?;
    if let Some(mut pipe) = child.stdin.take() {
        // The requirements are a few lines: writing them before reading cannot deadlock.
        pipe.write_all(stdin.as_bytes())
            .map_err(io("writing the requirements to uv"))?;
    }
    child.wait_with_output().map_err(io("waiting for uv"))
}

/// Turns uv's failure into the error that says what to do.
fn classify(status: &str, stderr: &str, python: &str, platform: &str) -> Error {
    let detail: String = stderr
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    let wheel_re = regex_lite::Regex::new(
        r"(?:versions of |\b)([A-Za-z0-9][A-Za-z0-9._-]*?)(?:(?:==|>=|<=|!=|~=|<|>)[^ ,]*)? (?:has|have) no (?:usable |matching |compatible )?(?:source distribution or )?wheels?",
    );
    // A derivation through other packages' dependencies is a conflict, even if a branch of it
    // ends in a version without wheels.
    let conflict = stderr.contains(" depends on ");
    if let (Ok(re), false) = (wheel_re, conflict) {
        if let Some(c) = re.captures(stderr) {
            if let Some(m) = c.get(1) {
                return Error::NoWheel {
                    package: normalize(m.as_str()),
                    python: python.to_string(),
                    platform: platform.to_string(),
                    detail,
                };
            }
        }
    }
    if stderr.contains("No solution found") || stderr.contains("unsatisfiable") {
        return Error::Unsatisfiable { detail };
    }
    Error::UvFailed {
        status: status.to_string(),
        stderr: detail,
    }
}

#[cfg(test)]
mod tests;
