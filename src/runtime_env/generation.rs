//! The one Ray-version switch: `--ray VERSION` becomes a [`RayRules`], one flag per change
//! envc follows, so code asks "does this Ray read `.rayignore`?" and never compares version
//! strings. [`RayGeneration`] stays the coarser Ray 1 / Ray 2 split (the URI hash, the
//! isolation rule, the 1.x validation quirks) and is one field of the rules.
//! A leaf: it imports nothing, so every part of `runtime_env` can use it.
//!
//! Releases between 2.40 and 2.60 (2.41–2.59) are accepted and get the 2.40 rules: envc has
//! checked only the 2.40 and 2.60 wheels, so it does not claim to know in which release each
//! change first appeared (the README says so). `2` means the newest supported, 2.60.

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

/// One Ray release's rules, as flags per change between Ray 2.40 and Ray 2.60.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RayRules {
    /// The release asked for: `(1, 0)` for `--ray 1`, else `(2, minor)`.
    pub release: (u16, u16),
    /// Ray 1 or Ray 2 (URI hash, isolation, 1.x quirks).
    pub generation: RayGeneration,
    /// 2.60: `.git`, `.venv`, `venv`, `__pycache__` are excluded from a `working_dir` by
    /// default (`RAY_OVERRIDE_RUNTIME_ENV_DEFAULT_EXCLUDES`).
    pub default_excludes: bool,
    /// 2.60: a `.rayignore` at every level beside `.gitignore`.
    pub rayignore: bool,
    /// 2.60: a 512 MiB cap (`RAY_max_grpc_message_size`) and a warning at half of it
    /// (`RAY_PACKAGE_SIZE_WARNING_MIB`), the messages naming `.gitignore` and `.rayignore`.
    pub package_size_warning: bool,
    /// 2.60: `py_executable` and `_rocprof_sys` are fields; `mpi` and `docker` are not.
    pub py_executable: bool,
    /// 2.60: `uv.uv_pip_install_options` and `pip.pip_install_options`.
    pub install_options: bool,
    /// 2.60: a string `conda` that is an absolute path names an environment directory (which
    /// must exist).
    pub conda_env_dir: bool,
    /// 2.60: `.tar.gz`, `.tgz`, `.tar.xz` packages for `working_dir` and `py_modules`.
    pub tar_packages: bool,
    /// 2.60: `local://` (a directory already on every node) and `abfss://` URIs; remote cache
    /// names are `<protocol>_<sha1 of the URI><ext>`.
    pub local_uri: bool,
}

impl RayRules {
    /// Ray 1.x.
    pub const V1: RayRules = RayRules::v2_40((1, 0), RayGeneration::V1);
    /// Ray 2.40.
    pub const V2_40: RayRules = RayRules::v2_40((2, 40), RayGeneration::V2);
    /// Ray 2.60, the newest supported (what `--ray 2` and no `--ray` mean).
    pub const V2_60: RayRules = RayRules {
        release: (2, 60),
        generation: RayGeneration::V2,
        default_excludes: true,
        rayignore: true,
        package_size_warning: true,
        py_executable: true,
        install_options: true,
        conda_env_dir: true,
        tar_packages: true,
        local_uri: true,
    };
    /// The newest supported.
    pub const NEWEST: RayRules = RayRules::V2_60;

    /// What `--ray` accepts, for messages.
    pub const SUPPORTED: &'static str =
        "1, 2 (= 2.60), 2.40, 2.60 (2.41-2.59 are accepted and follow the 2.40 rules)";

    const fn v2_40(release: (u16, u16), generation: RayGeneration) -> RayRules {
        RayRules {
            release,
            generation,
            default_excludes: false,
            rayignore: false,
            package_size_warning: false,
            py_executable: false,
            install_options: false,
            conda_env_dir: false,
            tar_packages: false,
            local_uri: false,
        }
    }

    /// Parses `--ray`: `1`, `2`, `2.40`, `2.60`, `2.N` for 40 ≤ N ≤ 60, each with an optional
    /// `.PATCH`. Anything else is an error naming the supported versions.
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
            60 => Ok(RayRules::V2_60),
            40..=59 => Ok(RayRules {
                release: (2, minor),
                ..RayRules::V2_40
            }),
            _ => Err(bad()),
        }
    }

    /// Whose rules apply: `2.40` or `2.60` (or `1`).
    pub fn rules_name(&self) -> &'static str {
        match (self.generation, self.default_excludes) {
            (RayGeneration::V1, _) => "1",
            (RayGeneration::V2, false) => "2.40",
            (RayGeneration::V2, true) => "2.60",
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
        assert_eq!(mid.rules_name(), "2.40");
        assert_eq!(mid.to_string(), "Ray 2.47");
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
