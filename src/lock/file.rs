//! `envc.lock`: what `envc lock` resolved, as deterministic TOML a reviewer can diff. Every
//! artifact names its ecosystem (the table it is in), name, version, URL, sha256, size and
//! where it installs; `[inputs]` holds a digest of everything that decided the resolution, so
//! `envc lock --check` can tell a stale lock without the network or a resolver.

use serde::{Deserialize, Serialize};

/// The lockfile format this envc writes and reads.
pub const VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Lockfile {
    pub version: u32,
    pub inputs: Inputs,
    pub base: BaseRecord,
    /// Apt sources the debs were resolved from (their signed `InRelease`).
    #[serde(default, rename = "apt-source", skip_serializing_if = "Vec::is_empty")]
    pub apt_sources: Vec<AptSourceRecord>,
    #[serde(default, rename = "deb", skip_serializing_if = "Vec::is_empty")]
    pub debs: Vec<LockedDeb>,
    #[serde(default, rename = "wheel", skip_serializing_if = "Vec::is_empty")]
    pub wheels: Vec<LockedWheel>,
}

/// What decided the resolution. The lists are kept verbatim (not only as digests) so a stale
/// lock can say what changed; `digest` covers all of them and is what `--check` compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// sha256 over the fields below but `tools`, one per line (see [`Inputs::compute`]).
    pub digest: String,
    /// The spec's `debian_packages`, in its order.
    pub debian: Vec<String>,
    /// The spec's `python.pip_packages`, in its order.
    pub pip: Vec<String>,
    /// The base image's name and manifest digest (`NAME@sha256:…`).
    pub base: String,
    /// sha256 of the apt sources and keyrings read from the base (canonical JSON).
    pub sources: String,
    /// The resolvers' settings (Recommends policy, index URLs), one per line.
    pub settings: Vec<String>,
    /// The tools that resolved (`envc 0.1.0`, `uv 0.13.9`); recorded, not part of the digest.
    pub tools: Vec<String>,
}

impl Inputs {
    /// The inputs with their digest.
    pub fn compute(
        debian: Vec<String>,
        pip: Vec<String>,
        base: String,
        sources: String,
        settings: Vec<String>,
        tools: Vec<String>,
    ) -> Inputs {
        let mut inputs = Inputs {
            digest: String::new(),
            debian,
            pip,
            base,
            sources,
            settings,
            tools,
        };
        inputs.digest = inputs.digest_of();
        inputs
    }

    fn digest_of(&self) -> String {
        let json = |v: &[String]| serde_json::to_string(v).unwrap_or_default();
        let text = format!(
            "debian={}\npip={}\nbase={}\nsources={}\nsettings={}\n",
            json(&self.debian),
            json(&self.pip),
            self.base,
            self.sources,
            json(&self.settings)
        );
        crate::types::digest::Digest::of(text.as_bytes()).to_string()
    }

    /// What differs between the inputs a lock was made for (`self`) and today's, one line
    /// each (`- debian: vim`, `+ debian: jq`, `~ base: …`); empty when the lock is current.
    pub fn diff(&self, now: &Inputs) -> Vec<String> {
        let mut out = Vec::new();
        let list = |out: &mut Vec<String>, what: &str, old: &[String], new: &[String]| {
            for o in old.iter().filter(|o| !new.contains(o)) {
                out.push(format!("- {what}: {o}"));
            }
            for n in new.iter().filter(|n| !old.contains(n)) {
                out.push(format!("+ {what}: {n}"));
            }
            if out.is_empty() && old != new {
                out.push(format!("~ {what}: order {old:?} → {new:?}"));
            }
        };
        list(&mut out, "debian", &self.debian, &now.debian);
        list(&mut out, "pip", &self.pip, &now.pip);
        if self.base != now.base {
            out.push(format!("~ base: {} → {}", self.base, now.base));
        }
        if self.sources != now.sources && self.base == now.base {
            out.push(format!("~ apt sources: {} → {}", self.sources, now.sources));
        }
        list(&mut out, "setting", &self.settings, &now.settings);
        if out.is_empty() && self.digest != self.digest_of() {
            out.push(format!(
                "~ digest: the lock says {} but its inputs give {}: it was edited by hand",
                self.digest,
                self.digest_of()
            ));
        }
        out
    }
}

/// The base image the lock was resolved against, and the facts read from its layers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseRecord {
    /// The name the spec gives (`anyscale/ray:2.9.0-py310`).
    pub name: String,
    /// Its manifest digest.
    pub digest: String,
    /// `os/arch`, e.g. `linux/amd64`.
    pub platform: String,
    /// `/etc/os-release` `ID`, `VERSION_ID` (may be empty on testing/sid), `VERSION_CODENAME`.
    pub os_id: String,
    pub os_version_id: String,
    pub os_codename: String,
    /// dpkg's architecture name (`amd64`), when the base has dpkg.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dpkg_arch: Option<String>,
    /// The base's Python, when it has one and the spec installs wheels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub python: Option<PythonRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PythonRecord {
    /// The interpreter console scripts name in their shebang (`/home/ray/anaconda3/bin/python`).
    pub executable: String,
    /// `3.11.2`.
    pub version: String,
    /// Absolute site-packages directory.
    pub site_packages: String,
    /// The platform wheels were chosen for (`x86_64-manylinux_2_36`, uv's spelling).
    pub platform: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AptSourceRecord {
    /// The archive root, as the base's sources list gives it.
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
    /// sha256 of the `InRelease` that was verified.
    pub inrelease_sha256: String,
    /// Its `Date:` field.
    pub date: String,
    /// The base's keyring file that verified it (absolute path in the image) and its sha256.
    pub keyring: String,
    pub keyring_sha256: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedDeb {
    pub name: String,
    pub version: String,
    /// `amd64` or `all`.
    pub arch: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    /// The `uri suite` it came from.
    pub suite: String,
    /// Where its files go: always `/`.
    pub installs: String,
    /// The spec asked for it (else it is a dependency, `Auto-Installed` for apt).
    pub requested: bool,
    /// `Multi-Arch: same`: dpkg names its files `NAME:ARCH.*`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub multi_arch_same: bool,
    /// The base's version this one replaces (an upgrade), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<String>,
    /// Maintainer scripts and trigger lines the package carries, which envc does not run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scripts: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LockedWheel {
    /// The normalised project name (PEP 503).
    pub name: String,
    pub version: String,
    /// The wheel's file name (its tags say why it fits the base).
    pub filename: String,
    pub url: String,
    pub sha256: String,
    pub size: u64,
    /// Absolute site-packages directory it installs into.
    pub installs: String,
    /// The spec asked for it (pip's `REQUESTED`), else it is a dependency.
    pub requested: bool,
    /// The base's version of this distribution it replaces, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upgrades: Option<String>,
}

/// A lockfile that cannot be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{path}:{line}:{column}: {message}\n  help: {help}")]
    Parse {
        path: String,
        line: usize,
        column: usize,
        message: String,
        help: String,
    },
}

/// The first line of every lockfile.
const HEADER: &str = "# envc.lock: written by `envc lock`; do not edit. `envc lock --check` says whether it is current.\n";

impl Lockfile {
    /// The lockfile's text: TOML, keys in a fixed order, artifacts sorted, a trailing newline.
    pub fn to_text(&self) -> String {
        let body = toml::to_string(self).unwrap_or_default();
        format!("{HEADER}{body}")
    }

    /// Reads a lockfile's text (`path` for messages).
    pub fn parse(text: &str, path: &str) -> Result<Lockfile, Error> {
        let at = |span: Option<std::ops::Range<usize>>| {
            let offset = span.map_or(0, |s| s.start).min(text.len());
            let before = &text[..offset];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
            (line, column)
        };
        let lock: Lockfile = toml::from_str(text).map_err(|e| {
            let (line, column) = at(e.span());
            Error::Parse {
                path: path.into(),
                line,
                column,
                message: e.message().to_string(),
                help: "write the lock again with `envc lock`".into(),
            }
        })?;
        if lock.version != VERSION {
            return Err(Error::Parse {
                path: path.into(),
                line: 1,
                column: 1,
                message: format!(
                    "lockfile version {} is not the version {VERSION} this envc reads",
                    lock.version
                ),
                help: "write the lock again with this envc: `envc lock`".into(),
            });
        }
        Ok(lock)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Lockfile {
        Lockfile {
            version: VERSION,
            inputs: Inputs::compute(
                vec!["jq".into()],
                vec!["six".into()],
                "b@sha256:00".into(),
                "sha256:11".into(),
                vec!["apt: --no-install-recommends".into()],
                vec!["envc 0.1.0".into()],
            ),
            base: BaseRecord {
                name: "b".into(),
                digest: "sha256:00".into(),
                platform: "linux/amd64".into(),
                os_id: "debian".into(),
                os_version_id: "12".into(),
                os_codename: "bookworm".into(),
                dpkg_arch: Some("amd64".into()),
                python: None,
            },
            apt_sources: vec![],
            debs: vec![LockedDeb {
                name: "jq".into(),
                version: "1.6-2.1".into(),
                arch: "amd64".into(),
                url: "http://x/jq.deb".into(),
                sha256: "ab".repeat(32),
                size: 3,
                suite: "http://x bookworm".into(),
                installs: "/".into(),
                requested: true,
                multi_arch_same: false,
                upgrades: None,
                scripts: vec![],
            }],
            wheels: vec![],
        }
    }

    #[test]
    fn round_trips_and_is_deterministic() {
        let lock = sample();
        let text = lock.to_text();
        assert!(text.starts_with(HEADER));
        assert!(text.contains("[[deb]]"), "{text}");
        let back = Lockfile::parse(&text, "envc.lock").unwrap();
        assert_eq!(back, lock);
        assert_eq!(back.to_text(), text);
    }

    #[test]
    fn a_bad_lock_names_its_line_and_column() {
        let text = sample().to_text().replace("size = 3", "size = \"three\"");
        let e = Lockfile::parse(&text, "envc.lock").unwrap_err().to_string();
        let line = text.lines().position(|l| l.contains("three")).unwrap() + 1;
        assert!(e.starts_with(&format!("envc.lock:{line}:")), "{e}");
    }

    #[test]
    fn a_stale_lock_says_what_changed() {
        let old = sample().inputs;
        let mut new = old.clone();
        new.debian.push("vim".into());
        new = Inputs::compute(
            new.debian,
            new.pip,
            new.base,
            new.sources,
            new.settings,
            vec![],
        );
        assert_eq!(old.diff(&new), vec!["+ debian: vim".to_string()]);
        assert!(old.diff(&old).is_empty());
        // The tools are recorded but do not make a lock stale.
        let same = Inputs::compute(
            old.debian.clone(),
            old.pip.clone(),
            old.base.clone(),
            old.sources.clone(),
            old.settings.clone(),
            vec!["uv 9".into()],
        );
        assert_eq!(same.digest, old.digest);
        let mut edited = old.clone();
        edited.digest = "sha256:ff".into();
        assert!(edited.diff(&old)[0].contains("edited by hand"));
    }
}
