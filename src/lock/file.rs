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

/// What decided the resolution, each as a digest, and one digest over all of them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Inputs {
    /// sha256 over the lines below, in order: the one value `--check` compares first.
    pub digest: String,
    /// The spec's Debian package list (canonical JSON).
    pub debian: String,
    /// The spec's pip requirement list (canonical JSON).
    pub pip: String,
    /// The base image's manifest digest.
    pub base: String,
    /// The apt sources and keyrings taken from the base (canonical JSON).
    pub sources: String,
    /// The resolvers and their settings (envc version, uv version, index URLs, Recommends policy).
    pub resolver: String,
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
