//! What a base image holds that hermetic installation depends on, read from its layers
//! (whiteouts applied, nothing executed): the distribution (`/etc/os-release`), dpkg's database,
//! the apt sources and keyrings the image itself trusts, and its Python. `envc lock` resolves
//! against these facts; `envc build --lock` reads them again and installs on top of them.

use crate::oci::archive::ImageSource;
use crate::oci::final_view::{final_view, Entry as ViewEntry, FinalView, Kind, Select};
use crate::oci::Descriptor;
use std::collections::BTreeMap;

/// Mode and owner of a path in the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `/etc/os-release` (through its symlink to `usr/lib/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OsRelease {
    /// `debian`, `ubuntu`.
    pub id: String,
    /// `12`, `22.04`; empty on testing/sid.
    pub version_id: String,
    /// `bookworm`, `jammy`.
    pub codename: String,
}

/// One `deb` line (or deb822 stanza, per suite) of the base's apt sources.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AptSource {
    /// The archive root, no trailing `/` (`http://deb.debian.org/debian`).
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// `Signed-By` / `[signed-by=…]`: an absolute keyring path in the image, if given.
    pub signed_by: Option<String>,
    /// Where it was read (`etc/apt/sources.list.d/debian.sources`), for messages.
    pub file: String,
}

/// A keyring file the image's apt trusts (`etc/apt/trusted.gpg`, `etc/apt/trusted.gpg.d/*`,
/// `usr/share/keyrings/*`): binary (`.gpg`) or ASCII-armoured (`.asc`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Keyring {
    /// Absolute path in the image (`/usr/share/keyrings/debian-archive-keyring.gpg`).
    pub path: String,
    pub bytes: Vec<u8>,
}

/// dpkg's database in the base.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dpkg {
    /// `var/lib/dpkg/status`, verbatim.
    pub status: String,
    /// `var/lib/dpkg/info/*.list` by file stem (`jq`, `libc6:amd64`), verbatim.
    pub lists: BTreeMap<String, String>,
    /// `var/lib/apt/extended_states`, verbatim, if present.
    pub extended_states: Option<String>,
}

/// One installed distribution in the base's site-packages.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Dist {
    /// As its `METADATA` spells it.
    pub name: String,
    pub version: String,
    /// The `.dist-info` directory, relative to site-packages.
    pub dist_info: String,
    /// Its `RECORD`, verbatim, if present (what an upgrade must white out).
    pub record: Option<String>,
}

/// The base's Python environment (the first `python3`/`python` on the image's `PATH`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Python {
    /// The environment's prefix (`/home/ray/anaconda3`).
    pub prefix: String,
    /// The interpreter path on `PATH` (`/home/ray/anaconda3/bin/python`), for shebangs.
    pub executable: String,
    /// Full version (`3.11.2`).
    pub version: String,
    /// Absolute site-packages (`/home/ray/anaconda3/lib/python3.11/site-packages`).
    pub site_packages: String,
    /// Owner and mode of site-packages: what installed files get.
    pub owner: Meta,
    /// Installed distributions by normalised name (PEP 503: lower case, runs of `-_.` → `-`).
    pub dists: BTreeMap<String, Dist>,
}

/// Everything hermetic installation reads of a base image.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BaseFacts {
    pub os: OsRelease,
    /// The image config's `os/arch[/variant]` (`linux/amd64`).
    pub platform: String,
    /// dpkg's name for the architecture (`amd64`, `arm64`, `armhf`).
    pub dpkg_arch: String,
    /// `None`: the base has no `var/lib/dpkg/status`.
    pub dpkg: Option<Dpkg>,
    pub apt_sources: Vec<AptSource>,
    pub keyrings: Vec<Keyring>,
    /// glibc's version from the base's `libc6` (`2.36`), for the manylinux platform tag.
    pub glibc: Option<String>,
    pub python: Option<Python>,
    /// Top-level symlinks of a merged-`/usr` base (`bin` → `usr/bin`), relative targets
    /// resolved: a deb's `./bin/x` is written to `usr/bin/x`.
    pub merged_usr: BTreeMap<String, String>,
    /// Mode and owner of the directories on the way to every path above (and of `/`'s
    /// top-level directories), so a layer that writes a parent writes it as the base has it.
    pub dirs: BTreeMap<String, Meta>,
}

/// Reading the facts failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    #[error("the base image's {what} is not usable: {reason}")]
    Bad { what: String, reason: String },
}

/// dpkg's status file is read whole; other kept files at most this much.
const MAX_STATUS: u64 = 64 << 20;
const MAX_FILE: u64 = 4 << 20;

/// Reads the facts of the image whose config is `config` and layers are `layers` in `src`:
/// one read of each layer, keeping only the paths below.
pub fn read(
    src: &dyn ImageSource,
    config: &serde_json::Value,
    layers: &[Descriptor],
) -> Result<BaseFacts, Error> {
    let platform = platform_of(config);
    let path_env = crate::assemble::config_env(config)
        .into_iter()
        .find_map(|kv| kv.strip_prefix("PATH=").map(str::to_string))
        .unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    let bin_dirs: Vec<String> = path_env
        .split(':')
        .map(|d| d.trim_matches('/').to_string())
        .filter(|d| !d.is_empty())
        .collect();
    // An environment's prefix is the parent of a PATH directory (`home/ray/anaconda3/bin`).
    let prefixes: Vec<String> = bin_dirs
        .iter()
        .filter_map(|d| d.rsplit_once('/').map(|(p, _)| p.to_string()))
        .collect();
    let select = |p: &str| select(p, &bin_dirs, &prefixes);
    let view = final_view(src, layers, &select)?;
    facts_of(&view, &platform, &bin_dirs)
}

fn platform_of(config: &serde_json::Value) -> String {
    let field = |k: &str| config.get(k).and_then(|v| v.as_str()).unwrap_or("");
    let (os, arch) = (field("os"), field("architecture"));
    let mut p = format!(
        "{}/{}",
        if os.is_empty() { "linux" } else { os },
        if arch.is_empty() { "amd64" } else { arch }
    );
    if !field("variant").is_empty() {
        p = format!("{p}/{}", field("variant"));
    }
    p
}

fn select(p: &str, bin_dirs: &[String], prefixes: &[String]) -> Select {
    let content = Select::Content { max: MAX_FILE };
    match p {
        "etc/os-release" | "usr/lib/os-release" | "var/lib/dpkg/arch" => return content,
        "etc/apt/sources.list" | "etc/apt/trusted.gpg" | "var/lib/apt/extended_states" => {
            return content
        }
        "var/lib/dpkg/status" => return Select::Content { max: MAX_STATUS },
        _ => {}
    }
    let in_dir = |dir: &str| {
        p.strip_prefix(dir)
            .and_then(|r| r.strip_prefix('/'))
            .filter(|r| !r.contains('/'))
    };
    if in_dir("etc/apt/sources.list.d")
        .is_some_and(|n| n.ends_with(".list") || n.ends_with(".sources"))
        || in_dir("etc/apt/trusted.gpg.d").is_some()
        || in_dir("usr/share/keyrings").is_some()
    {
        return content;
    }
    if in_dir("var/lib/dpkg/info").is_some_and(|n| n.ends_with(".list")) {
        return content;
    }
    if !p.contains('/') {
        // Top-level entries: merged-/usr symlinks, and the owners of `/home`, `/opt`…
        return Select::Presence;
    }
    for dir in bin_dirs {
        if in_dir(dir).is_some_and(|n| n == "python" || n == "python3") {
            return Select::Presence;
        }
    }
    for prefix in prefixes {
        // The ancestors of a prefix, for their owners.
        if prefix.starts_with(p) && prefix.as_bytes().get(p.len()) == Some(&b'/') || prefix == p {
            return Select::Presence;
        }
        let Some(rest) = p
            .strip_prefix(prefix.as_str())
            .and_then(|r| r.strip_prefix('/'))
        else {
            continue;
        };
        let parts: Vec<&str> = rest.split('/').collect();
        match parts.as_slice() {
            ["pyvenv.cfg"] => return content,
            ["bin" | "lib" | "include"] => return Select::Presence,
            ["lib", py] | ["lib", py, "site-packages"] if py.starts_with("python3") => {
                return Select::Presence
            }
            ["include", py, "patchlevel.h"] if py.starts_with("python3") => return content,
            ["conda-meta", f] if f.starts_with("python-3") && f.ends_with(".json") => {
                return Select::Presence
            }
            ["lib", py, "site-packages", d, f]
                if py.starts_with("python3")
                    && d.ends_with(".dist-info")
                    && (*f == "METADATA" || *f == "RECORD") =>
            {
                return content
            }
            _ => {}
        }
    }
    Select::Skip
}

fn text(view: &FinalView, path: &str) -> Option<String> {
    match &view.get(path)?.kind {
        Kind::File { data, .. } => Some(String::from_utf8_lossy(data).into_owned()),
        _ => None,
    }
}

fn meta(e: &ViewEntry) -> Meta {
    Meta {
        mode: e.mode,
        uid: u32::try_from(e.uid).unwrap_or(u32::MAX),
        gid: u32::try_from(e.gid).unwrap_or(u32::MAX),
    }
}

fn facts_of(view: &FinalView, platform: &str, bin_dirs: &[String]) -> Result<BaseFacts, Error> {
    let os = os_release(view);
    let dpkg = text(view, "var/lib/dpkg/status").map(|status| Dpkg {
        status,
        lists: view
            .under("var/lib/dpkg/info")
            .filter_map(|(p, _)| {
                let stem = p.rsplit_once('/')?.1.strip_suffix(".list")?;
                Some((stem.to_string(), text(view, p)?))
            })
            .collect(),
        extended_states: text(view, "var/lib/apt/extended_states"),
    });
    let dpkg_arch = text(view, "var/lib/dpkg/arch")
        .and_then(|t| t.lines().next().map(|l| l.trim().to_string()))
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| dpkg_arch_of(platform));
    let glibc = dpkg
        .as_ref()
        .and_then(|d| installed_version(&d.status, "libc6"))
        .and_then(|v| {
            let upstream = v.split_once(':').map_or(v.as_str(), |(_, r)| r);
            let mut nums = upstream.split(['.', '-', '+', '~']);
            Some(format!("{}.{}", nums.next()?, nums.next()?))
        });
    let mut merged_usr = BTreeMap::new();
    let mut dirs = BTreeMap::new();
    for (path, entry) in &view.entries {
        match &entry.kind {
            Kind::Symlink { target } if !path.contains('/') => {
                let t = target.trim_start_matches('/').to_string();
                if t.starts_with("usr/") {
                    merged_usr.insert(path.clone(), t);
                }
            }
            Kind::Dir => {
                dirs.insert(path.clone(), meta(entry));
            }
            _ => {}
        }
    }
    Ok(BaseFacts {
        os,
        platform: platform.to_string(),
        dpkg_arch,
        apt_sources: apt_sources(view),
        keyrings: keyrings(view),
        glibc,
        python: python(view, bin_dirs, dpkg.as_ref()),
        dpkg,
        merged_usr,
        dirs,
    })
}

/// The symlink `etc/os-release` → `../usr/lib/os-release` is followed inside the image.
fn os_release(view: &FinalView) -> OsRelease {
    let body = match view.get("etc/os-release").map(|e| &e.kind) {
        Some(Kind::Symlink { .. }) | None => text(view, "usr/lib/os-release"),
        Some(_) => text(view, "etc/os-release"),
    }
    .unwrap_or_default();
    let field = |key: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
            .unwrap_or_default()
    };
    let mut codename = field("VERSION_CODENAME");
    if codename.is_empty() {
        codename = field("UBUNTU_CODENAME");
    }
    OsRelease {
        id: field("ID"),
        version_id: field("VERSION_ID"),
        codename,
    }
}

fn dpkg_arch_of(platform: &str) -> String {
    let arch = platform.split('/').skip(1).collect::<Vec<_>>().join("/");
    match arch.as_str() {
        "arm/v7" | "arm" => "armhf".into(),
        "arm/v5" => "armel".into(),
        "386" => "i386".into(),
        "ppc64le" => "ppc64el".into(),
        other => other.split('/').next().unwrap_or("amd64").to_string(),
    }
}

/// The version of an installed (`install ok installed`) package in a dpkg status text.
pub fn installed_version(status: &str, package: &str) -> Option<String> {
    status.split("\n\n").find_map(|stanza| {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
                .map(str::trim)
        };
        (field("Package") == Some(package)
            && field("Status").is_some_and(|s| s.ends_with(" installed")))
        .then(|| field("Version").map(str::to_string))
        .flatten()
    })
}

fn apt_sources(view: &FinalView) -> Vec<AptSource> {
    let mut out = Vec::new();
    let files = std::iter::once("etc/apt/sources.list".to_string()).chain(
        view.under("etc/apt/sources.list.d")
            .map(|(p, _)| p.clone())
            .filter(|p| p.ends_with(".list") || p.ends_with(".sources")),
    );
    for file in files {
        let Some(body) = text(view, &file) else {
            continue;
        };
        if file.ends_with(".sources") {
            deb822_sources(&file, &body, &mut out);
        } else {
            one_line_sources(&file, &body, &mut out);
        }
    }
    out
}

fn one_line_sources(file: &str, body: &str, out: &mut Vec<AptSource>) {
    for line in body.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let Some(rest) = line
            .strip_prefix("deb ")
            .or_else(|| line.strip_prefix("deb\t"))
        else {
            continue;
        };
        let mut rest = rest.trim_start();
        let mut signed_by = None;
        if let Some(opts) = rest.strip_prefix('[') {
            let Some((opts, after)) = opts.split_once(']') else {
                continue;
            };
            for opt in opts.split_whitespace() {
                if let Some(v) = opt.strip_prefix("signed-by=") {
                    signed_by = Some(v.to_string());
                }
            }
            rest = after.trim_start();
        }
        let mut words = rest.split_whitespace();
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else {
            continue;
        };
        out.push(AptSource {
            uri: uri.trim_end_matches('/').to_string(),
            suite: suite.to_string(),
            components: words.map(str::to_string).collect(),
            signed_by,
            file: file.to_string(),
        });
    }
}

fn deb822_sources(file: &str, body: &str, out: &mut Vec<AptSource>) {
    for stanza in body.split("\n\n") {
        let mut fields: BTreeMap<String, String> = BTreeMap::new();
        let mut last: Option<String> = None;
        for line in stanza.lines() {
            if line.trim_start().starts_with('#') {
                continue;
            }
            if line.starts_with([' ', '\t']) {
                if let Some(k) = &last {
                    let v = fields.entry(k.clone()).or_default();
                    v.push('\n');
                    v.push_str(line.trim());
                }
            } else if let Some((k, v)) = line.split_once(':') {
                let k = k.trim().to_ascii_lowercase();
                fields.insert(k.clone(), v.trim().to_string());
                last = Some(k);
            }
        }
        let get = |k: &str| fields.get(k).map(String::as_str).unwrap_or("");
        if !get("types").split_whitespace().any(|t| t == "deb")
            || get("enabled").eq_ignore_ascii_case("no")
        {
            continue;
        }
        let signed_by = Some(get("signed-by").to_string()).filter(|s| !s.is_empty());
        for uri in get("uris").split_whitespace() {
            for suite in get("suites").split_whitespace() {
                out.push(AptSource {
                    uri: uri.trim_end_matches('/').to_string(),
                    suite: suite.to_string(),
                    components: get("components")
                        .split_whitespace()
                        .map(str::to_string)
                        .collect(),
                    signed_by: signed_by.clone(),
                    file: file.to_string(),
                });
            }
        }
    }
}

fn keyrings(view: &FinalView) -> Vec<Keyring> {
    let mut out = Vec::new();
    let paths = std::iter::once("etc/apt/trusted.gpg".to_string())
        .chain(view.under("etc/apt/trusted.gpg.d").map(|(p, _)| p.clone()))
        .chain(view.under("usr/share/keyrings").map(|(p, _)| p.clone()));
    for p in paths {
        if let Some(Kind::File {
            data,
            truncated: false,
        }) = view.get(&p).map(|e| &e.kind)
        {
            if p.ends_with(".gpg") || p.ends_with(".asc") || p == "etc/apt/trusted.gpg" {
                out.push(Keyring {
                    path: format!("/{p}"),
                    bytes: data.clone(),
                });
            }
        }
    }
    out
}

fn python(view: &FinalView, bin_dirs: &[String], dpkg: Option<&Dpkg>) -> Option<Python> {
    // The first interpreter on PATH, as a shell in the image would find it.
    let (bin, exe) = bin_dirs.iter().find_map(|d| {
        ["python3", "python"]
            .iter()
            .find(|n| view.get(&format!("{d}/{n}")).is_some())
            .map(|n| (d.clone(), format!("{d}/{n}")))
    })?;
    let prefix = bin
        .rsplit_once('/')
        .map_or(String::new(), |(p, _)| p.to_string());
    let lib = if prefix.is_empty() {
        "lib".to_string()
    } else {
        format!("{prefix}/lib")
    };
    let mut site: Vec<&String> = view
        .under(&lib)
        .filter(|(p, e)| {
            e.kind == Kind::Dir
                && p.ends_with("/site-packages")
                && p[lib.len() + 1..].split('/').count() == 2
        })
        .map(|(p, _)| p)
        .collect();
    site.sort();
    let site = site.pop()?.clone();
    let minor = site[lib.len() + 1..]
        .split('/')
        .next()?
        .trim_start_matches("python")
        .to_string();
    let version = python_version(view, &prefix, &minor, dpkg)?;
    let owner = meta(view.get(&site)?);
    let mut dists = BTreeMap::new();
    for (p, _) in view.under(&site) {
        let Some(dir) = p.strip_suffix("/METADATA") else {
            continue;
        };
        let Some(body) = text(view, p) else { continue };
        let header = |k: &str| {
            body.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(':'))
                .map(|v| v.trim().to_string())
        };
        let (Some(name), Some(version)) = (header("Name"), header("Version")) else {
            continue;
        };
        let dist_info = dir[site.len() + 1..].to_string();
        dists.insert(
            crate::lock::pip::normalize(&name),
            Dist {
                name,
                version,
                record: text(view, &format!("{dir}/RECORD")),
                dist_info,
            },
        );
    }
    Some(Python {
        executable: format!("/{exe}"),
        prefix: format!("/{prefix}"),
        version,
        site_packages: format!("/{site}"),
        owner,
        dists,
    })
}

/// The full version: a venv's `pyvenv.cfg`, conda's `conda-meta/python-X.json`, the headers'
/// `patchlevel.h`, else dpkg's `pythonX.Y-minimal`.
fn python_version(
    view: &FinalView,
    prefix: &str,
    minor: &str,
    dpkg: Option<&Dpkg>,
) -> Option<String> {
    let fits = |v: &str| v.starts_with(&format!("{minor}.")) || v == minor;
    let join = |p: &str| {
        if prefix.is_empty() {
            p.to_string()
        } else {
            format!("{prefix}/{p}")
        }
    };
    if let Some(cfg) = text(view, &join("pyvenv.cfg")) {
        let v = cfg.lines().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            matches!(k.trim(), "version" | "version_info").then(|| v.trim().to_string())
        });
        if let Some(v) = v.filter(|v| fits(v)) {
            return Some(v);
        }
    }
    let conda = view.under(&join("conda-meta")).find_map(|(p, _)| {
        let f = p.rsplit_once('/')?.1.strip_prefix("python-")?;
        Some(f.split('-').next()?.to_string())
    });
    if let Some(v) = conda.filter(|v| fits(v)) {
        return Some(v);
    }
    for inc in [join(&format!("include/python{minor}/patchlevel.h"))] {
        if let Some(h) = text(view, &inc) {
            let v = h.lines().find_map(|l| {
                let rest = l.strip_prefix("#define PY_VERSION")?;
                Some(
                    rest.trim()
                        .trim_matches('"')
                        .trim_end_matches('+')
                        .to_string(),
                )
            });
            if let Some(v) = v.filter(|v| fits(v)) {
                return Some(v);
            }
        }
    }
    let v = installed_version(&dpkg?.status, &format!("python{minor}-minimal"))?;
    let upstream = v.split_once(':').map_or(v.as_str(), |(_, r)| r);
    let v = upstream.split(['-', '~', '+']).next()?.to_string();
    fits(&v).then_some(v)
}
