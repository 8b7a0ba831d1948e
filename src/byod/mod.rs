//! Anyscale's requirements for a bring-your-own (BYOD) image, checked from what the image
//! holds, never by running it: the final view of a handful of files ([`select`] picks them,
//! [`crate::oci::final_view`] applies the layers and their whiteouts) and the image config.
//! [`check`] reports each requirement the image misses as a located diagnostic (E070–E081):
//! the file inside the image and the layer that last wrote it (or deleted it), or the config
//! field.
//!
//! The requirements are Anyscale's "Image requirements" page
//! (<https://docs.anyscale.com/configuration/dependency-management/image-requirement>, read
//! 2026-12): Ubuntu 22.04; user `ray` with uid 1000 and gid 100 and passwordless sudo;
//! `WORKDIR` and `HOME` `/home/ray`; linux/amd64; the system packages in
//! [`SYSTEM_PACKAGES`], the Python packages in [`PYTHON_PACKAGES`] with `ray>=2.7`; the
//! reserved paths and ports left alone.
//!
//! Decisions where the page is silent: `python` is met by a dpkg package `python3`,
//! `python3.N`, `python3-minimal` or `python-is-python3`, or by any Python environment holding
//! `*.dist-info` (Anyscale's images bring Python with conda, not dpkg). `HOME` is the config's
//! `Env`, else the passwd home of the config's `User` (what an engine sets at run time). sudo
//! rules are read from `/etc/sudoers` and, when it has `@includedir /etc/sudoers.d` (or
//! `#includedir`), from the files there whose names have no `.` and do not end in `~`, as sudo
//! does; the last rule that matches `ray` (`ray`, `ALL`, `#1000`, `%GROUP` of ray's groups)
//! decides, as in sudo; aliases are not expanded. A symlinked `/etc/passwd`, `/etc/group` or
//! `/etc/sudoers` is refused ([`Error::Symlink`]): following it would be guessing what the
//! running image sees.

mod sudoers;

use crate::diag::{codes, Diagnostic, Diagnostics};
use crate::input::source::{SourceFile, Span};
use crate::oci::final_view::{Entry, FinalView, Kind, Select};
use crate::oci::Descriptor;
use pep508_rs::pep440_rs::Version;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::str::FromStr;
use std::sync::Arc;
#[cfg(test)]
use sudoers::scan_sudoers;
use sudoers::sudo;

/// Where the requirements come from.
pub const SOURCE_URL: &str =
    "https://docs.anyscale.com/configuration/dependency-management/image-requirement";
pub const SYSTEM_PACKAGES: &[&str] = &[
    "sudo",
    "python",
    "bash",
    "openssh-server",
    "openssh-client",
    "rsync",
    "zip",
    "unzip",
    "git",
    "gdb",
    "curl",
];
pub const PYTHON_PACKAGES: &[&str] = &[
    "ray",
    "anyscale",
    "packaging",
    "boto3",
    "google",
    "google-cloud-storage",
    "jupyterlab",
];
pub const MIN_RAY: &str = "2.7";
/// Reserved paths (relative); `mnt` is reserved below itself only (`/mnt/`).
pub const RESERVED_PATHS: &[&str] = &[
    "etc/anyscale",
    "opt/anyscale",
    "tmp/anyscale",
    "tmp/ray",
    "mnt",
];
pub const RESERVED_PORTS: &[u16] = &[
    80, 443, 1010, 1012, 2222, 5555, 5903, 6379, 6822, 6823, 6824, 6826, 7878, 8000, 8076, 8085,
    8201, 8265, 8266, 8686, 8687, 8912, 8999, 9090, 9092, 9100, 9478, 9479, 9480, 9481, 9482,
];

/// Caps on what one kept file may hold.
const SMALL: u64 = 1 << 20;
const DPKG_STATUS: u64 = 32 << 20;
/// A wheel's METADATA: only its headers (which come first) are read.
const METADATA: u64 = 64 << 10;

/// Why an image cannot be checked (exit 2).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "`/{path}` is a symlink to `{target}` (layer {layer}): envc does not follow it, since \
         what it names depends on the running container; make it a regular file"
    )]
    Symlink {
        path: String,
        target: String,
        layer: String,
    },
    #[error("`/{path}` (layer {layer}) is larger than {max} bytes, more than envc reads")]
    TooLarge {
        path: String,
        layer: String,
        max: u64,
    },
}

fn is_metadata(path: &str) -> bool {
    let mut parts = path.rsplit('/');
    parts.next() == Some("METADATA")
        && parts.next().is_some_and(|d| d.ends_with(".dist-info"))
        && parts
            .next()
            .is_some_and(|d| d == "site-packages" || d == "dist-packages")
}

/// The paths the checks need.
pub fn select(path: &str) -> Select {
    match path {
        "etc/os-release" | "usr/lib/os-release" | "etc/passwd" | "etc/group" | "etc/sudoers" => {
            return Select::Content { max: SMALL }
        }
        "var/lib/dpkg/status" => return Select::Content { max: DPKG_STATUS },
        _ => {}
    }
    if let Some(name) = path.strip_prefix("etc/sudoers.d/") {
        if !name.contains('/') {
            return Select::Content { max: SMALL };
        }
    }
    if is_metadata(path) {
        return Select::Content { max: METADATA };
    }
    for r in RESERVED_PATHS {
        let under = path.len() > r.len() && path.starts_with(r) && path.as_bytes()[r.len()] == b'/';
        if under || (path == *r && *r != "mnt") {
            return Select::Presence;
        }
    }
    Select::Skip
}

/// What the image is, for naming layers in messages.
pub struct Image<'a> {
    pub view: &'a FinalView,
    pub layers: &'a [Descriptor],
    pub config: &'a Value,
    pub config_digest: String,
}

impl Image<'_> {
    fn layer_name(&self, i: usize) -> String {
        let hex = self.layers.get(i).map_or(String::new(), |d| d.digest.hex());
        format!(
            "{} of {}, sha256:{}",
            i + 1,
            self.layers.len(),
            &hex[..hex.len().min(12)]
        )
    }

    /// The text of a kept regular file; a symlink refused; a truncated file refused.
    fn text(&self, path: &str, refuse_symlink: bool) -> Result<Option<(String, &Entry)>, Error> {
        let Some(e) = self.view.get(path) else {
            return Ok(None);
        };
        match &e.kind {
            Kind::File { data, truncated } => {
                if *truncated && !is_metadata(path) {
                    let Select::Content { max } = select(path) else {
                        unreachable!("only content is read")
                    };
                    return Err(Error::TooLarge {
                        path: path.into(),
                        layer: self.layer_name(e.layer),
                        max,
                    });
                }
                Ok(Some((String::from_utf8_lossy(data).into_owned(), e)))
            }
            Kind::Symlink { target } if refuse_symlink => Err(Error::Symlink {
                path: path.into(),
                target: target.clone(),
                layer: self.layer_name(e.layer),
            }),
            _ => Ok(None),
        }
    }

    /// A file inside the image as a diagnostic's source.
    fn file(&self, path: &str, text: &str, e: &Entry) -> Diagnostics {
        Diagnostics::new(Arc::new(SourceFile::new(
            format!("/{path} [layer {}]", self.layer_name(e.layer)),
            text.to_string(),
        )))
    }

    /// A file that is not there (deleted by a later layer, or never written).
    fn absent(&self, path: &str) -> Diagnostics {
        let name = match self.view.deleted.get(path) {
            Some(l) => format!("/{path} [deleted by layer {}]", self.layer_name(*l)),
            None => format!("/{path} [absent]"),
        };
        Diagnostics::new(Arc::new(SourceFile::new(name, String::new())))
    }
}

fn line_span(text: &str, pred: impl Fn(&str) -> bool) -> Option<Span> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if pred(body) {
            return Some(Span::new(at, at + body.len()));
        }
        at += line.len();
    }
    None
}

/// Every requirement `image` misses, in the order of Anyscale's page.
pub fn check(image: &Image<'_>) -> Result<Vec<Diagnostic>, Error> {
    let mut out = Vec::new();
    os_release(image, &mut out)?;
    let users = users(image, &mut out)?;
    sudo(image, users.as_ref(), &mut out)?;
    let config = ConfigFile::new(image);
    config.workdir(&mut out);
    config.home(users.as_ref(), &mut out);
    config.platform(&mut out);
    let mut python = Vec::new();
    let python_envs = python_packages(image, &mut python)?;
    system_packages(image, python_envs, &mut out)?;
    out.extend(python);
    reserved_paths(image, &mut out);
    config.ports(&mut out);
    Ok(out)
}

fn os_release(image: &Image<'_>, out: &mut Vec<Diagnostic>) -> Result<(), Error> {
    let mut path = "etc/os-release";
    if let Some(Entry {
        kind: Kind::Symlink { target },
        ..
    }) = image.view.get(path)
    {
        // Ubuntu's is `../usr/lib/os-release`: read what it names inside the image.
        if target.trim_start_matches("../").trim_start_matches('/') == "usr/lib/os-release" {
            path = "usr/lib/os-release";
        }
    }
    let help = "base the image on `ubuntu:22.04`";
    let Some((text, e)) = image.text(path, false)? else {
        let mut d = image.absent("etc/os-release");
        d.file_error(
            codes::BYOD_UBUNTU,
            "the image has no `/etc/os-release`, so it is not Ubuntu 22.04",
        )
        .help(help);
        out.extend(d.into_vec());
        return Ok(());
    };
    let field = |key: &str| {
        text.lines().find_map(|l| {
            l.strip_prefix(key)
                .and_then(|r| r.strip_prefix('='))
                .map(|v| v.trim().trim_matches(['"', '\'']).to_string())
        })
    };
    let (id, version) = (field("ID"), field("VERSION_ID"));
    if id.as_deref() != Some("ubuntu") || version.as_deref() != Some("22.04") {
        let mut d = image.file(path, &text, e);
        let found = format!(
            "`{}` `{}`",
            id.as_deref().unwrap_or("?"),
            version.as_deref().unwrap_or("?")
        );
        let msg = format!("the image is {found}, not Ubuntu 22.04");
        match line_span(&text, |l| {
            l.starts_with("VERSION_ID=") || l.starts_with("ID=")
        }) {
            Some(s) => d.error(codes::BYOD_UBUNTU, s, msg).label("here"),
            None => d.file_error(codes::BYOD_UBUNTU, msg),
        }
        .help(help);
        out.extend(d.into_vec());
    }
    Ok(())
}

/// `ray`'s passwd entry and groups.
struct RayUser {
    home: String,
    groups: BTreeSet<String>,
}

fn users(image: &Image<'_>, out: &mut Vec<Diagnostic>) -> Result<Option<RayUser>, Error> {
    let group_text = image.text("etc/group", true)?;
    let help = "create it with `groupadd -g 100 users` (if missing) and \
                `useradd -m -u 1000 -g 100 -s /bin/bash ray`";
    let Some((text, e)) = image.text("etc/passwd", true)? else {
        let mut d = image.absent("etc/passwd");
        d.file_error(
            codes::BYOD_USER,
            "the image has no `/etc/passwd`, so no user `ray`",
        )
        .help(help);
        out.extend(d.into_vec());
        return Ok(None);
    };
    let fields = |l: &str| l.split(':').map(str::to_string).collect::<Vec<_>>();
    let ray = text
        .lines()
        .map(fields)
        .find(|f| f.first().map(String::as_str) == Some("ray"));
    let Some(ray) = ray else {
        let mut d = image.file("etc/passwd", &text, e);
        d.file_error(codes::BYOD_USER, "the image has no user `ray`")
            .help(help);
        out.extend(d.into_vec());
        return Ok(None);
    };
    let get = |i: usize| ray.get(i).cloned().unwrap_or_default();
    let (uid, gid, home) = (get(2), get(3), get(5));
    if uid != "1000" || gid != "100" {
        let mut d = image.file("etc/passwd", &text, e);
        let span = line_span(&text, |l| l.starts_with("ray:")).expect("the line was found");
        d.error(
            codes::BYOD_USER,
            span,
            format!("user `ray` has uid {uid} and gid {gid}, not uid 1000 and gid 100"),
        )
        .label("ray's entry")
        .help("`usermod -u 1000 -g 100 ray`");
        out.extend(d.into_vec());
    }
    let mut groups = BTreeSet::new();
    let mut group_100 = false;
    if let Some((gtext, _)) = &group_text {
        for f in gtext.lines().map(fields) {
            let (name, id) = (f.first().cloned().unwrap_or_default(), f.get(2).cloned());
            let members = f.get(3).cloned().unwrap_or_default();
            if id.as_deref() == Some("100") {
                group_100 = true;
            }
            if id.as_deref() == Some(gid.as_str()) || members.split(',').any(|m| m == "ray") {
                groups.insert(name);
                groups.insert(format!("#{}", id.unwrap_or_default()));
            }
        }
    }
    if !group_100 {
        let mut d = match &group_text {
            Some((t, e)) => image.file("etc/group", t, e),
            None => image.absent("etc/group"),
        };
        d.file_error(codes::BYOD_GROUP, "`/etc/group` has no group with gid 100")
            .help("`groupadd -g 100 users` (Ubuntu's images have it)");
        out.extend(d.into_vec());
    }
    Ok(Some(RayUser { home, groups }))
}

/// The image config as a diagnostic's source, with spans of its fields.
struct ConfigFile<'a> {
    image: &'a Image<'a>,
    text: String,
}

impl<'a> ConfigFile<'a> {
    fn new(image: &'a Image<'a>) -> ConfigFile<'a> {
        let text = serde_json::to_string_pretty(image.config).unwrap_or_default();
        ConfigFile { image, text }
    }

    fn diags(&self) -> Diagnostics {
        let hex = self.image.config_digest.trim_start_matches("sha256:");
        Diagnostics::new(Arc::new(SourceFile::new(
            format!("image config sha256:{}", &hex[..hex.len().min(12)]),
            self.text.clone(),
        )))
    }

    fn span_of(&self, needle: &str) -> Option<Span> {
        self.text
            .find(needle)
            .map(|i| Span::new(i, i + needle.len()))
    }

    fn field(&self, key: &str) -> Option<&'a Value> {
        self.image.config.get("config").and_then(|c| c.get(key))
    }

    fn report(
        &self,
        out: &mut Vec<Diagnostic>,
        code: codes::Code,
        at: Option<String>,
        msg: String,
        help: &str,
    ) {
        let mut d = self.diags();
        match at.and_then(|n| self.span_of(&n)) {
            Some(s) => d.error(code, s, msg).label("here"),
            None => d.file_error(code, msg),
        }
        .help(help);
        out.extend(d.into_vec());
    }

    fn workdir(&self, out: &mut Vec<Diagnostic>) {
        let wd = self
            .field("WorkingDir")
            .and_then(Value::as_str)
            .unwrap_or("");
        if wd.trim_end_matches('/') != "/home/ray" {
            let msg = if wd.is_empty() {
                "the image sets no `WORKDIR`; it must be `/home/ray`".to_string()
            } else {
                format!("the image's `WORKDIR` is `{wd}`, not `/home/ray`")
            };
            self.report(
                out,
                codes::BYOD_WORKDIR,
                Some("\"WorkingDir\"".into()),
                msg,
                "add `WORKDIR /home/ray` (owned by ray)",
            );
        }
    }

    fn home(&self, user: Option<&RayUser>, out: &mut Vec<Diagnostic>) {
        let env = self.field("Env").and_then(Value::as_array);
        let home = env.and_then(|e| {
            e.iter()
                .filter_map(Value::as_str)
                .filter_map(|v| v.strip_prefix("HOME="))
                .next_back()
        });
        let (found, at) = match home {
            Some(h) => (Some(h.to_string()), Some(format!("\"HOME={h}\""))),
            None => {
                // An engine sets HOME from the passwd entry of the image's user.
                let who = self.field("User").and_then(Value::as_str).unwrap_or("");
                let who = who.split(':').next().unwrap_or("");
                let is_ray = who == "ray" || who == "1000";
                (user.filter(|_| is_ray).map(|u| u.home.clone()), None)
            }
        };
        if found.as_deref().map(|h| h.trim_end_matches('/')) != Some("/home/ray") {
            let msg = match found {
                Some(h) => format!("the image's `HOME` is `{h}`, not `/home/ray`"),
                None => "the image sets no `HOME` (in `Env`, or as the home of a `User` `ray`); \
                         it must be `/home/ray`"
                    .to_string(),
            };
            self.report(out, codes::BYOD_HOME, at, msg, "add `ENV HOME=/home/ray`");
        }
    }

    fn platform(&self, out: &mut Vec<Diagnostic>) {
        let get = |k: &str| {
            self.image
                .config
                .get(k)
                .and_then(Value::as_str)
                .unwrap_or("")
        };
        let (os, arch) = (get("os"), get("architecture"));
        if os != "linux" || arch != "amd64" {
            self.report(
                out,
                codes::BYOD_PLATFORM,
                Some("\"architecture\"".into()),
                format!("the image is for `{os}/{arch}`, not `linux/amd64`"),
                "build it with `--platform linux/amd64`",
            );
        }
    }

    fn ports(&self, out: &mut Vec<Diagnostic>) {
        let Some(ports) = self.field("ExposedPorts").and_then(Value::as_object) else {
            return;
        };
        for key in ports.keys() {
            let port = key.split('/').next().and_then(|p| p.parse::<u16>().ok());
            if port.is_some_and(|p| RESERVED_PORTS.contains(&p)) {
                self.report(
                    out,
                    codes::BYOD_PORT,
                    Some(format!("\"{key}\"")),
                    format!("the image exposes port `{key}`, which Anyscale reserves"),
                    "remove the `EXPOSE` (Anyscale's own services listen there)",
                );
            }
        }
    }
}

/// PEP 503 normalisation: lower case, runs of `-_.` as one `-`.
fn normalise(name: &str) -> String {
    let mut out = String::new();
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            if !out.ends_with('-') {
                out.push('-');
            }
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Checks the Python packages; returns how many Python environments (site-packages) it saw.
fn python_packages(image: &Image<'_>, out: &mut Vec<Diagnostic>) -> Result<usize, Error> {
    // name → (version, metadata path, entry)
    let mut found: BTreeMap<String, Vec<(String, String, String, Entry)>> = BTreeMap::new();
    let mut envs = BTreeSet::new();
    for (path, e) in &image.view.entries {
        if !is_metadata(path) {
            continue;
        }
        let Kind::File { data, .. } = &e.kind else {
            continue;
        };
        let site = path.rsplitn(3, '/').nth(2).unwrap_or("").to_string();
        envs.insert(site);
        let text = String::from_utf8_lossy(data).into_owned();
        let header = |k: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        if let (Some(name), Some(version)) = (header("Name:"), header("Version:")) {
            found.entry(normalise(&name)).or_default().push((
                version,
                path.clone(),
                text,
                e.clone(),
            ));
        }
    }
    for want in PYTHON_PACKAGES {
        let Some(dists) = found.get(*want) else {
            // A later layer that deleted the package's dist-info is named.
            let deleted = image.view.deleted.keys().find(|k| {
                is_metadata(k)
                    && k.rsplit('/')
                        .nth(1)
                        .is_some_and(|d| normalise(d.split('-').next().unwrap_or("")) == *want)
            });
            let mut d = match deleted {
                Some(k) => image.absent(k),
                None => Diagnostics::new(Arc::new(SourceFile::new(
                    "*/site-packages/*.dist-info/METADATA [absent]",
                    String::new(),
                ))),
            };
            d.file_error(
                codes::BYOD_PYTHON_PACKAGE,
                format!("the Python package `{want}` is not installed"),
            )
            .help(format!("`pip install {want}` in the image's Python"));
            out.extend(d.into_vec());
            continue;
        };
        if *want != "ray" {
            continue;
        }
        let min = Version::from_str(MIN_RAY).expect("a version");
        let ok = dists
            .iter()
            .any(|(v, ..)| Version::from_str(v).is_ok_and(|v| v >= min));
        if !ok {
            let (v, path, text, e) = &dists[0];
            let mut d = image.file(path, text, e);
            let span = line_span(text, |l| l.starts_with("Version:")).expect("it was read");
            d.error(
                codes::BYOD_RAY_VERSION,
                span,
                format!("the image has Ray `{v}`; Anyscale needs `ray>=2.7`"),
            )
            .label("installed here")
            .help("install Ray 2.7 or later");
            out.extend(d.into_vec());
        }
    }
    Ok(envs.len())
}

fn system_packages(
    image: &Image<'_>,
    python_envs: usize,
    out: &mut Vec<Diagnostic>,
) -> Result<(), Error> {
    let path = "var/lib/dpkg/status";
    let Some((text, e)) = image.text(path, true)? else {
        let mut d = image.absent(path);
        d.file_error(
            codes::BYOD_SYSTEM_PACKAGE,
            format!(
                "the image has no dpkg status, so none of the required system packages ({})",
                SYSTEM_PACKAGES.join(", ")
            ),
        )
        .help("base the image on `ubuntu:22.04` and install them with apt-get");
        out.extend(d.into_vec());
        return Ok(());
    };
    let mut installed = BTreeSet::new();
    for stanza in text.split("\n\n") {
        let field = |k: &str| {
            stanza
                .lines()
                .find_map(|l| l.strip_prefix(k).map(|v| v.trim().to_string()))
        };
        if let (Some(name), Some(status)) = (field("Package:"), field("Status:")) {
            if status.ends_with(" installed") {
                installed.insert(name);
            }
        }
    }
    for want in SYSTEM_PACKAGES {
        let ok = if *want == "python" {
            python_envs > 0
                || installed.iter().any(|p| {
                    p == "python3"
                        || p == "python3-minimal"
                        || p == "python-is-python3"
                        || p.strip_prefix("python3.")
                            .is_some_and(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_digit()))
                })
        } else {
            installed.contains(*want)
        };
        if !ok {
            let mut d = image.file(path, &text, e);
            d.file_error(
                codes::BYOD_SYSTEM_PACKAGE,
                format!("the system package `{want}` is not installed"),
            )
            .help(if *want == "python" {
                "install `python3` with apt-get, or a Python environment (conda) with pip".into()
            } else {
                format!("`apt-get install -y --no-install-recommends {want}`")
            });
            out.extend(d.into_vec());
        }
    }
    Ok(())
}

fn reserved_paths(image: &Image<'_>, out: &mut Vec<Diagnostic>) {
    for r in RESERVED_PATHS {
        let hit = image.view.entries.iter().find(|(p, _)| {
            select(p) == Select::Presence && (*p == r || p.starts_with(&format!("{r}/")))
        });
        if let Some((p, e)) = hit {
            let mut d = image.file(p, "", e);
            d.file_error(
                codes::BYOD_RESERVED_PATH,
                format!("the image uses `/{p}`, inside `/{r}`, which Anyscale reserves"),
            )
            .help(format!(
                "move it out of `/{r}` (Anyscale mounts or writes there)"
            ));
            out.extend(d.into_vec());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn select_keeps_only_what_the_checks_read() {
        assert_eq!(select("etc/passwd"), Select::Content { max: SMALL });
        assert_eq!(select("etc/sudoers.d/ray"), Select::Content { max: SMALL });
        assert_eq!(select("etc/sudoers.d/a/b"), Select::Skip);
        assert_eq!(
            select("home/ray/anaconda3/lib/python3.10/site-packages/ray-2.9.0.dist-info/METADATA"),
            Select::Content { max: METADATA }
        );
        assert_eq!(
            select("usr/lib/python3/dist-packages/x-1.dist-info/RECORD"),
            Select::Skip
        );
        assert_eq!(select("mnt"), Select::Skip);
        assert_eq!(select("mnt/data"), Select::Presence);
        assert_eq!(select("tmp/ray"), Select::Presence);
        assert_eq!(select("tmp/rayx"), Select::Skip);
        assert_eq!(select("usr/bin/bash"), Select::Skip);
    }

    fn ray_user(groups: &[&str]) -> RayUser {
        RayUser {
            home: "/home/ray".into(),
            groups: groups.iter().map(|g| g.to_string()).collect(),
        }
    }

    fn verdict(text: &str, user: &RayUser) -> Option<bool> {
        let mut last = None;
        let mut inc = false;
        scan_sudoers("etc/sudoers", text, user, &mut last, &mut inc);
        last.map(|r| r.passwordless)
    }

    #[test]
    fn sudoers_last_matching_rule_decides() {
        let u = ray_user(&["users", "sudo"]);
        assert_eq!(verdict("ray ALL=(ALL) NOPASSWD:ALL\n", &u), Some(true));
        assert_eq!(
            verdict("ray ALL=(ALL:ALL) NOPASSWD: SETENV: ALL\n", &u),
            Some(true)
        );
        assert_eq!(verdict("%sudo ALL=(ALL) NOPASSWD: ALL\n", &u), Some(true));
        assert_eq!(verdict("%admin ALL=(ALL) NOPASSWD: ALL\n", &u), None);
        assert_eq!(verdict("# ray ALL=(ALL) NOPASSWD: ALL\n", &u), None);
        assert_eq!(
            verdict("ray ALL=(ALL) NOPASSWD:ALL\n%sudo ALL=(ALL:ALL) ALL\n", &u),
            Some(false)
        );
        assert_eq!(
            verdict("ray ALL=(ALL) \\\n  NOPASSWD: ALL\n", &u),
            Some(true)
        );
        assert_eq!(
            verdict("ray ALL=(ALL) NOPASSWD: /bin/ls\n", &u),
            Some(false)
        );
        assert_eq!(verdict("#1000 ALL=(ALL) NOPASSWD: ALL\n", &u), Some(true));
    }

    #[test]
    fn names_are_normalised_as_pep_503_says() {
        assert_eq!(normalise("Google_Cloud.Storage"), "google-cloud-storage");
        assert_eq!(normalise("ray"), "ray");
    }
}
