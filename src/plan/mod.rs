//! Stage 1, the IR: what will be built. No spans, no `Option`s standing for "the user left it
//! out", defaults filled in and the step order fixed (by `lower`). The plan has one canonical
//! JSON form — compact, keys sorted, UTF-8 — and the **spec digest** is the sha256 of exactly
//! those bytes, so `envc plan FILE | sha256sum` reproduces it. Template provenance is kept out.
//! A plan reads back from that JSON (a stored revision's `/.envc/plan.json`) as the same typed
//! value: every string goes through its type's own check on the way in, and re-serialising
//! gives the same bytes.

pub mod diff;
pub mod lower;

use crate::types::digest::Digest;
use crate::types::env::{EnvValue, VarName};
use crate::types::package::{CondaSpec, DebianPackage, PipRequirement};

/// Version of the plan's JSON shape; part of the digest, bumped when the shape changes.
pub const SCHEMA: &str = "envc.plan/v1";

/// The `schema` field: always [`SCHEMA`]; a plan of another shape does not read back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Schema;

impl serde::Serialize for Schema {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(SCHEMA)
    }
}

impl<'de> serde::Deserialize<'de> for Schema {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Schema, D::Error> {
        let s = String::deserialize(d)?;
        if s == SCHEMA {
            Ok(Schema)
        } else {
            Err(serde::de::Error::custom(format!(
                "a plan of schema `{s}`, which this envc does not read (it reads `{SCHEMA}`)"
            )))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    pub schema: Schema,
    pub form: Form,
    pub base: Base,
    /// The user and paths the steps run with; `None` when envc does not know them (BYOD
    /// images, bases outside the ray family with no `[[image]]` facts), and then the plan has
    /// no step that needs them (validation refuses such specs).
    pub image: Option<ImageFacts>,
    pub steps: Vec<Step>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Standard,
    Byod,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
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
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ImageFacts {
    pub user: String,
    pub uid: u32,
    pub gid: u32,
    pub home: String,
    /// The conda installation (`PREFIX/bin/conda`); absent when the image has none. Absent
    /// fields are left out of the JSON, so the ray family's plan (and digest) is what it was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conda_prefix: Option<String>,
    /// The pip that installs `python.pip_packages`, when it is not `CONDA_PREFIX/bin/pip`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnvVar {
    pub name: VarName,
    /// Canonical spelling: `${NAME}` references, `$$` literal dollars.
    pub value: EnvValue,
}

impl serde::Serialize for EnvValue {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.canonical())
    }
}

/// The canonical spelling is itself a valid value, so it parses back to the same segments.
impl<'de> serde::Deserialize<'de> for EnvValue {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<EnvValue, D::Error> {
        let s = String::deserialize(d)?;
        EnvValue::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// The uid a step runs as (`0` is root).
pub type Uid = u32;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
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
    /// The canonical JSON bytes: compact, object keys sorted (the one canonical JSON, shared
    /// with every OCI document envc writes).
    pub fn canonical_json(&self) -> String {
        // Serialising a plan cannot fail (no maps with non-string keys, no non-finite floats)
        // and serde_json writes UTF-8: a failure is a bug, so it panics rather than hashing
        // empty bytes.
        let bytes = crate::oci::canonical_json(self).expect("a plan serialises as JSON");
        String::from_utf8(bytes).expect("canonical JSON is UTF-8")
    }

    /// Reads a plan back from its JSON, checking every value as validation would.
    pub fn from_json(bytes: &[u8]) -> Result<Plan, String> {
        serde_json::from_slice(bytes).map_err(|e| e.to_string())
    }

    pub fn digest(&self) -> Digest {
        Digest::of(self.canonical_json().as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every fixture's plan reads back as the same typed value and re-serialises to the same
    /// bytes, so a stored plan means what it meant when it was stored.
    #[test]
    fn plans_read_back_to_the_same_bytes() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_none_or(|e| e != "yaml") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let name = path.display().to_string();
            let compiled = crate::compile(&name, &bytes, &Default::default(), &Default::default())
                .unwrap_or_else(|d| panic!("{name}: {d:?}"));
            let json = compiled.plan.canonical_json();
            let back = Plan::from_json(json.as_bytes()).unwrap();
            assert_eq!(back, compiled.plan, "{name}");
            assert_eq!(back.canonical_json(), json, "{name}");
            n += 1;
        }
        assert!(n >= 10, "{n} fixtures");
    }

    #[test]
    fn a_plan_is_checked_as_it_reads_back() {
        let good = r#"{"base":{"accelerator":null,"family":null,"python":null,"ray_version":"2.9.0","reference":"x","registry_login_secret":null},"form":"byod","image":null,"schema":"envc.plan/v1","steps":[{"kind":"env","vars":[{"name":"A","value":"${B}$$"}]}]}"#;
        let plan = Plan::from_json(good.as_bytes()).unwrap();
        assert_eq!(plan.canonical_json(), good);
        for (from, to, why) in [
            ("envc.plan/v1", "envc.plan/v9", "schema"),
            (r#""name":"A""#, r#""name":"1A""#, "valid variable name"),
            (r#""${B}$$""#, r#""$(B)""#, "$"),
            (r#""form":"byod""#, r#""form":"other""#, "variant"),
            (
                r#""image":null"#,
                r#""image":null,"extra":1"#,
                "unknown field",
            ),
        ] {
            let bad = good.replace(from, to);
            let e = Plan::from_json(bad.as_bytes()).unwrap_err();
            assert!(e.contains(why), "{to}: {e}");
        }
        let pkgs = r#"{"base":{"accelerator":null,"family":null,"python":null,"ray_version":null,"reference":"x","registry_login_secret":null},"form":"standard","image":null,"schema":"envc.plan/v1","steps":[{"kind":"debian","packages":["vim-"],"uid":0}]}"#;
        assert!(
            Plan::from_json(pkgs.as_bytes()).is_err(),
            "a removal is refused on the way in"
        );
    }
}
