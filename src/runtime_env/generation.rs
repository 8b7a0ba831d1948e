//! The one Ray-version switch: `--ray VERSION` becomes a [`RayRules`], one flag per change
//! envc follows, so code asks "does this Ray read `.rayignore`?" and never compares version
//! strings. [`RayGeneration`] stays the coarser Ray 1 / Ray 2 split (the URI hash, the
//! isolation rule, the 1.x validation quirks) and is one field of the rules.
//! A leaf: it imports nothing, so every part of `runtime_env` can use it.
//!
//! Releases between 2.40 and 2.60 get the rules of their own release, flag by flag, read from
//! each wheel; the one approximation is the URI family (see [`RayRules::local_uri`]). `2`
//! means the newest supported, 2.60.

use std::fmt;

/// The Ray generation whose rules apply where Ray 1 and Ray 2 differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RayGeneration {
    /// Ray 1.x (the seed's era).
    V1,
    /// Ray 2.x (what clusters run today).
    #[default]
    V2,
}

/// One Ray release's rules, as flags per change between Ray 2.40 and Ray 2.60. Each flag
/// says in which release it first holds ([`RayRules::for_minor`]), as read from every wheel
/// 2.40.0 … 2.60.0 (`ray/_private/runtime_env/`, `ray/_common/`, `ray/runtime_env/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RayRules {
    /// The release asked for: `(1, 0)` for `--ray 1`, else `(2, minor)`.
    pub release: (u16, u16),
    /// Ray 1 or Ray 2 (URI hash, isolation, 1.x quirks).
    pub generation: RayGeneration,
    /// 2.54: `.git`, `.venv`, `venv`, `__pycache__` are excluded from a `working_dir` by
    /// default (`RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES`).
    pub default_excludes: bool,
    /// 2.53: a `.rayignore` at every level beside `.gitignore`.
    pub rayignore: bool,
    /// 2.54: the size message names `.gitignore` and `.rayignore`.
    pub size_message: bool,
    /// 2.56: a warning at half the cap (`RAY_PACKAGE_SIZE_WARNING_MIB`).
    pub package_size_warning: bool,
    /// 2.43: `py_executable` is a field.
    pub py_executable: bool,
    /// 2.48: `_rocprof_sys` is a field.
    pub rocprof_sys: bool,
    /// 2.48: `docker` is no longer a known field.
    pub no_docker: bool,
    /// 2.50: `mpi` is no longer a field.
    pub no_mpi: bool,
    /// 2.49: `pip.pip_install_options`.
    pub pip_install_options: bool,
    /// 2.41: `uv.uv_pip_install_options` (and `uv` checked as Ray checks it).
    pub uv_install_options: bool,
    /// 2.45: a string `conda` that is an absolute path names an environment directory (which
    /// must exist).
    pub conda_env_dir: bool,
    /// 2.60: `.tar.gz`, `.tgz`, `.tar.xz` packages for `working_dir` and `py_modules` (Ray
    /// took `.tar.gz`/`.tgz` URIs from 2.56, with other messages; envc gives them from 2.60).
    pub tar_packages: bool,
    /// 2.60: `local://` URIs, and with them envc's whole 2.60 URI rules: the protocols `http`
    /// (from 2.56), `azure`, `abfss` (from 2.57) and remote cache names
    /// `<protocol>_<sha1 of the URI><ext>` (from 2.57). Releases 2.56–2.59 keep 2.40's URI
    /// rules in envc: the README says so.
    pub local_uri: bool,
}

impl RayRules {
    /// Ray 1.x.
    pub const V1: RayRules = RayRules {
        release: (1, 0),
        generation: RayGeneration::V1,
        ..RayRules::for_minor(40)
    };
    /// Ray 2.40.
    pub const V2_40: RayRules = RayRules::for_minor(40);
    /// Ray 2.60, the newest supported (what `--ray 2` and no `--ray` mean).
    pub const V2_60: RayRules = RayRules::for_minor(60);
    /// The newest supported.
    pub const NEWEST: RayRules = RayRules::V2_60;

    /// What `--ray` accepts, for messages.
    pub const SUPPORTED: &'static str = "1, 2 (= 2.60), 2.40, 2.60 and every 2.N in between";

    /// Ray 2.`minor`'s rules (40 ≤ minor ≤ 60).
    pub const fn for_minor(minor: u16) -> RayRules {
        RayRules {
            release: (2, minor),
            generation: RayGeneration::V2,
            default_excludes: minor >= 54,
            rayignore: minor >= 53,
            size_message: minor >= 54,
            package_size_warning: minor >= 56,
            py_executable: minor >= 43,
            rocprof_sys: minor >= 48,
            no_docker: minor >= 48,
            no_mpi: minor >= 50,
            pip_install_options: minor >= 49,
            uv_install_options: minor >= 41,
            conda_env_dir: minor >= 45,
            tar_packages: minor >= 60,
            local_uri: minor >= 60,
        }
    }

    /// Parses `--ray`: `1`, `2`, `2.N` for 40 ≤ N ≤ 60, each `2.N` with an optional `.PATCH`.
    /// Anything else is an error naming the supported versions.
    pub fn parse(s: &str) -> Result<RayRules, String> {
        let bad = || {
            format!(
                "unknown Ray version `{s}`; supported: {}",
                RayRules::SUPPORTED
            )
        };
        let t = s.trim();
        if t == "1" {
            return Ok(RayRules::V1);
        }
        if t == "2" {
            return Ok(RayRules::NEWEST);
        }
        let mut parts = t.split('.');
        let major = parts.next().ok_or_else(bad)?;
        let minor = parts.next().ok_or_else(bad)?;
        let patch = parts.next();
        if parts.next().is_some() || major != "2" {
            return Err(bad());
        }
        let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        if !digits(minor) || patch.is_some_and(|p| !digits(p)) {
            return Err(bad());
        }
        let minor: u16 = minor.parse().map_err(|_| bad())?;
        match minor {
            40..=60 => Ok(RayRules::for_minor(minor)),
            _ => Err(bad()),
        }
    }

    /// The release as `--ray` takes it: `1` or `2.N`.
    pub fn rules_name(&self) -> String {
        match self.release {
            (1, _) => "1".to_string(),
            (major, minor) => format!("{major}.{minor}"),
        }
    }
}

impl Default for RayRules {
    fn default() -> Self {
        RayRules::NEWEST
    }
}

impl fmt::Display for RayRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.release {
            (1, _) => write!(f, "Ray 1"),
            (major, minor) => write!(f, "Ray {major}.{minor}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_to_their_rules() {
        assert_eq!(RayRules::parse("1"), Ok(RayRules::V1));
        assert_eq!(RayRules::parse("2"), Ok(RayRules::V2_60));
        assert_eq!(RayRules::parse("2.40"), Ok(RayRules::V2_40));
        assert_eq!(RayRules::parse("2.40.0"), Ok(RayRules::V2_40));
        assert_eq!(RayRules::parse("2.60"), Ok(RayRules::V2_60));
        assert_eq!(RayRules::parse("2.60.0"), Ok(RayRules::V2_60));
        let mid = RayRules::parse("2.47.1").unwrap();
        assert_eq!(mid.rules_name(), "2.47");
        assert_eq!(mid.to_string(), "Ray 2.47");
        assert!(mid.py_executable && mid.conda_env_dir && !mid.no_docker && !mid.rayignore);
        let late = RayRules::parse("2.55").unwrap();
        assert!(late.default_excludes && late.rayignore && !late.package_size_warning);
        assert!(!late.local_uri && !late.tar_packages);
        assert_eq!(RayRules::V1.generation, RayGeneration::V1);
        const { assert!(!RayRules::V1.uv_install_options) };
        for bad in [
            "", "3", "2.39", "2.61", "2.x", "2.40.0.1", "1.13", "2.-1", "2.",
        ] {
            let e = RayRules::parse(bad).unwrap_err();
            assert!(
                e.contains("supported: 1, 2 (= 2.60), 2.40, 2.60"),
                "{bad}: {e}"
            );
        }
    }
}
