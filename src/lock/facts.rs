//! What a base image holds that hermetic installation depends on, read from its layers
//! (whiteouts applied, nothing executed): the distribution (`/etc/os-release`), dpkg's database,
//! the apt sources and keyrings the image itself trusts, and its Python. `envc lock` resolves
//! against these facts; `envc build --lock` reads them again and installs on top of them.

use std::collections::BTreeMap;

/// Mode and owner of a path in the base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
}

/// `/etc/os-release` (through its symlink to `usr/lib/os-release`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OsRelease {
    /// `debian`, `ubuntu`.
    pub id: String,
    /// `12`, `22.04`; empty on testing/sid.
    pub version_id: String,
    /// `bookworm`, `jammy`.
    pub codename: String,
}

/// One `deb` line (or deb822 stanza, per suite) of the base's apt sources.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keyring {
    /// Absolute path in the image (`/usr/share/keyrings/debian-archive-keyring.gpg`).
    pub path: String,
    pub bytes: Vec<u8>,
}

/// dpkg's database in the base.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dpkg {
    /// `var/lib/dpkg/status`, verbatim.
    pub status: String,
    /// `var/lib/dpkg/info/*.list` by file stem (`jq`, `libc6:amd64`), verbatim.
    pub lists: BTreeMap<String, String>,
    /// `var/lib/apt/extended_states`, verbatim, if present.
    pub extended_states: Option<String>,
}

/// One installed distribution in the base's site-packages.
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
