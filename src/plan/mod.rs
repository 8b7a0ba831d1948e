//! Stage 1, the IR: what will be built. No spans, no `Option`s standing for "the user left it
//! out", defaults filled in and the step order fixed (by `lower`). The plan has one canonical
//! JSON form — compact, keys sorted, UTF-8 — and the **spec digest** is the sha256 of exactly
//! those bytes, so `envc plan FILE | sha256sum` reproduces it. Template provenance is kept out.

pub mod diff;
pub mod lower;

use crate::types::digest::Digest;
use crate::types::env::{EnvName, EnvValue};
use crate::types::package::{CondaSpec, DebianPackage, PipRequirement};

/// Version of the plan's JSON shape; part of the digest, bumped when the shape changes.
pub const SCHEMA: &str = "envc.plan/v1";

#[derive(Debug, Clone, serde::Serialize)]
pub struct Plan {
    pub schema: &'static str,
    pub form: Form,
    pub base: Base,
    /// The user and paths the steps run with; `None` when envc does not know them (BYOD
    /// images, bases outside the ray family with no `[[image]]` facts), and then the plan has
    /// no step that needs them (validation refuses such specs).
    pub image: Option<ImageFacts>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Standard,
    Byod,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Base {
    /// The reference as written (after validation).
    pub reference: String,
    /// `ray`, `ray-ml`, `ray-llm` for Anyscale images.
    pub family: Option<String>,
    /// `2.9.0`, `2.9.0rc1`, `nightly`, `pinned-nightly`, `latest`.
    pub ray_version: Option<String>,
    /// `3.10`.
    pub python: Option<String>,
    /// `cpu`, `gpu`, `cu118`.
    pub accelerator: Option<String>,
    /// BYOD only: the name of the secret holding registry credentials (never the secret).
    pub registry_login_secret: Option<String>,
}

/// What the steps need to know about the base image: the user they run as and where pip and
/// conda live. Built in for the ray family; stated in `envc.toml` (`[[image]]`) for other bases.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageFacts {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// The conda installation (`PREFIX/bin/conda`); absent when the image has none. Absent
    /// fields are left out of the JSON, so the ray family's plan (and digest) is what it was.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub conda_prefix: Option<String>,
    /// The pip that installs `python.pip_packages`, when it is not `CONDA_PREFIX/bin/pip`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pip: Option<String>,
}

impl ImageFacts {
    /// anyscale/ray, ray-ml and ray-llm (and rayproject's images, built from the same
    /// Dockerfiles): user `ray` (1000:100), conda at `~/anaconda3`.
    pub fn ray_family() -> ImageFacts {
        ImageFacts {
            user: "ray".into(),
            uid: 1000,
            gid: 100,
            home: "/home/ray".into(),
            conda_prefix: Some("/home/ray/anaconda3".into()),
            pip: None,
        }
    }

    /// The conda executable, if the image has conda.
    pub fn conda(&self) -> Option<String> {
        self.conda_prefix.as_ref().map(|p| format!("{p}/bin/conda"))
    }

    /// The pip executable: the stated one, else conda's.
    pub fn pip(&self) -> Option<String> {
        self.pip
            .clone()
            .or_else(|| self.conda_prefix.as_ref().map(|p| format!("{p}/bin/pip")))
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct EnvVar {
    pub name: EnvName,
    /// Canonical spelling: `${NAME}` references, `$$` literal dollars.
    pub value: EnvValue,
}

impl serde::Serialize for EnvValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical())
    }
}

/// The uid a step runs as (`0` is root).
pub type Uid = u32;

#[derive(Debug, Clone, serde::Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Set in order: a value may refer to an earlier one.
    Env {
        vars: Vec<EnvVar>,
    },
    Debian {
        uid: Uid,
        packages: Vec<DebianPackage>,
    },
    Conda {
        uid: Uid,
        packages: Vec<CondaSpec>,
    },
    Pip {
        uid: Uid,
        packages: Vec<PipRequirement>,
    },
    /// One post-build command, run by bash; `multiline` commands run with `-e`.
    Run {
        uid: Uid,
        command: String,
    },
}

impl Plan {
    /// The canonical JSON bytes: compact, object keys sorted.
    pub fn canonical_json(&self) -> String {
        // serde_json's `Value` keeps objects in a BTreeMap (no `preserve_order`), so a round
        // trip through it sorts every key.
        let value = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        value.to_string()
    }

    pub fn digest(&self) -> Digest {
        Digest::of(self.canonical_json().as_bytes())
    }
}
