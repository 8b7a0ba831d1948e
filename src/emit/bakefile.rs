//! The BuildKit bake-file backend (`docker buildx bake`, JSON form): one target per
//! environment, each with its generated Dockerfile inline, a `default` group of them all and a
//! shared target they all inherit. This is not `envc bake`, which bakes a runtime env onto a
//! stored revision (`ops::bake`).
//!
//! It owns the bake document's shape and every choice in it; the Dockerfiles come rendered
//! (by [`super::dockerfile`]) and the names checked ([`EnvName`]). Decisions:
//! - Target names are bake's `[a-zA-Z0-9_-]+`: an environment name's `.` becomes `_` there
//!   (the tag keeps the real name); two environments whose target names meet (`a.b`, `a_b`)
//!   are refused, as is an environment named `default` (the group's name).
//! - The shared target is [`COMMON_TARGET`]; it starts with `_`, which no environment name
//!   can, so it never collides. It holds `context` (`.`: the Dockerfile reads nothing from it,
//!   so BuildKit sends no file), and the `--platform`, `--cache-from` and `--cache-to` values,
//!   which are bake strings passed through in the order given.
//! - Bake reads every string as an HCL template, so each one is written as buildx's own
//!   `bake --print` writes it: `${` as `$${` and `%{` as `%%{` ([`hcl_literal`]); the
//!   Dockerfile bake builds is then byte for byte the one `envc dockerfile` writes.
//! - The bytes are canonical: keys sorted, two-space indentation, a trailing newline, targets
//!   and the group sorted by name, whatever the order of the environments given.

use crate::store::annotations::{SPEC_DIGEST, VERSION};
use crate::types::digest::Digest;
use crate::types::name::EnvName;
use serde::Serialize;
use std::collections::BTreeMap;

/// The target every environment's target inherits.
pub const COMMON_TARGET: &str = "_envc-common";
/// The group listing every environment's target: what `docker buildx bake` builds by default.
pub const DEFAULT_GROUP: &str = "default";
/// How many hex digits of the spec digest a tag carries.
pub const TAG_HEX_LEN: usize = 12;

/// The settings every target shares.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--cache-from`: bake `cache-from` entries, as given.
    pub cache_from: Vec<String>,
    /// `--cache-to`: bake `cache-to` entries, as given.
    pub cache_to: Vec<String>,
    /// `--platform`: bake `platforms`, as given; none means the builder's own.
    pub platforms: Vec<String>,
    /// `--tag-prefix`: put before every tag (a registry and repository path ending in `/`).
    pub tag_prefix: Option<String>,
}

/// One environment to build.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: EnvName,
    /// Its spec digest.
    pub digest: Digest,
    /// Its generated Dockerfile.
    pub dockerfile: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Two environments whose bake target names are the same.
    #[error(
        "the environments `{a}` and `{b}` would both be the bake target `{target}` (a `.` \
         becomes `_` in a target name): rename one with `--name NAME=SPEC`"
    )]
    TargetClash {
        a: String,
        b: String,
        target: String,
    },
    /// An environment named as the default group.
    #[error(
        "an environment cannot be named `{DEFAULT_GROUP}` in a bake file (it is the name of \
         the group of all targets): rename it with `--name NAME=SPEC`"
    )]
    Reserved,
}

/// The bake file (JSON form). Field names are bake's; `Serialize` writes only what is set.
#[derive(Debug, Serialize)]
struct BakeFile {
    group: BTreeMap<String, Group>,
    target: BTreeMap<String, Target>,
}

#[derive(Debug, Serialize)]
struct Group {
    targets: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
struct Target {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cache_from: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    cache_to: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dockerfile_inline: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    inherits: Vec<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    platforms: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    tags: Vec<String>,
}

/// The bake target name of an environment: its name with `.` as `_`.
pub fn target_name(name: &EnvName) -> String {
    name.as_str().replace('.', "_")
}

/// `s` as a literal in a bake string (an HCL template): `${` and `%{` doubled their leading
/// character, as buildx writes them.
pub fn hcl_literal(s: &str) -> String {
    s.replace("${", "$${").replace("%{", "%%{")
}

/// The tag of an environment: `[PREFIX]NAME:<first 12 hex of the spec digest>`.
pub fn tag(name: &EnvName, digest: &Digest, prefix: Option<&str>) -> String {
    let hex = digest.hex();
    format!(
        "{}{name}:{}",
        prefix.unwrap_or(""),
        &hex[..TAG_HEX_LEN.min(hex.len())]
    )
}

/// Renders the bake file for `envs` (in any order).
pub fn render(envs: &[Environment], options: &Options) -> Result<String, Error> {
    let strings = |v: &[String]| v.iter().map(|s| hcl_literal(s)).collect::<Vec<_>>();
    let mut targets = BTreeMap::new();
    targets.insert(
        COMMON_TARGET.to_string(),
        Target {
            cache_from: strings(&options.cache_from),
            cache_to: strings(&options.cache_to),
            context: Some(".".into()),
            platforms: strings(&options.platforms),
            ..Target::default()
        },
    );
    let mut owners: BTreeMap<String, &EnvName> = BTreeMap::new();
    for env in envs {
        if env.name.as_str() == DEFAULT_GROUP {
            return Err(Error::Reserved);
        }
        let target = target_name(&env.name);
        if let Some(other) = owners.insert(target.clone(), &env.name) {
            let (a, b) = if other <= &env.name {
                (other, &env.name)
            } else {
                (&env.name, other)
            };
            return Err(Error::TargetClash {
                a: a.to_string(),
                b: b.to_string(),
                target,
            });
        }
        let labels = BTreeMap::from([
            (SPEC_DIGEST.to_string(), env.digest.to_string()),
            (VERSION.to_string(), env!("CARGO_PKG_VERSION").to_string()),
        ]);
        targets.insert(
            target,
            Target {
                dockerfile_inline: Some(hcl_literal(&env.dockerfile)),
                inherits: vec![COMMON_TARGET.to_string()],
                labels,
                tags: vec![hcl_literal(&tag(
                    &env.name,
                    &env.digest,
                    options.tag_prefix.as_deref(),
                ))],
                ..Target::default()
            },
        );
    }
    let group = BTreeMap::from([(
        DEFAULT_GROUP.to_string(),
        Group {
            targets: owners.into_keys().collect(),
        },
    )]);
    let doc = BakeFile {
        group,
        target: targets,
    };
    // Through `Value` (a `BTreeMap`: keys sorted at every level), pretty-printed.
    let value = serde_json::to_value(&doc).expect("a bake file is plain strings and lists");
    let mut text = serde_json::to_string_pretty(&value).expect("a JSON value serialises");
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    fn digest(byte: u8) -> Digest {
        Digest::of(&[byte])
    }

    fn env(name: &str, dockerfile: &str) -> Environment {
        Environment {
            name: EnvName::parse(name).unwrap(),
            digest: digest(name.len() as u8),
            dockerfile: dockerfile.to_string(),
        }
    }

    fn doc(envs: &[Environment], options: &Options) -> Value {
        serde_json::from_str(&render(envs, options).unwrap()).unwrap()
    }

    #[test]
    fn one_target_per_environment_inheriting_the_common_one() {
        let d = doc(
            &[env("train", "FROM a\n"), env("serve", "FROM b\n")],
            &Options::default(),
        );
        assert_eq!(
            d["group"]["default"]["targets"],
            serde_json::json!(["serve", "train"])
        );
        let t = &d["target"]["train"];
        assert_eq!(t["dockerfile-inline"], "FROM a\n");
        assert_eq!(t["inherits"], serde_json::json!([COMMON_TARGET]));
        let hex = digest(5).hex();
        assert_eq!(
            t["tags"],
            serde_json::json!([format!("train:{}", &hex[..12])])
        );
        assert_eq!(t["labels"][SPEC_DIGEST], digest(5).to_string());
        assert_eq!(t["labels"][VERSION], env!("CARGO_PKG_VERSION"));
        assert_eq!(
            d["target"][COMMON_TARGET],
            serde_json::json!({"context": "."})
        );
    }

    #[test]
    fn common_target_carries_cache_and_platforms_in_the_order_given() {
        let options = Options {
            cache_from: vec!["type=registry,ref=r/c".into(), "type=local,src=a".into()],
            cache_to: vec!["type=local,dest=a".into()],
            platforms: vec!["linux/arm64".into(), "linux/amd64".into()],
            tag_prefix: Some("registry.example.com/ml/".into()),
        };
        let d = doc(&[env("app", "FROM a\n")], &options);
        let c = &d["target"][COMMON_TARGET];
        assert_eq!(c["cache-from"][0], "type=registry,ref=r/c");
        assert_eq!(c["cache-to"], serde_json::json!(["type=local,dest=a"]));
        assert_eq!(
            c["platforms"],
            serde_json::json!(["linux/arm64", "linux/amd64"])
        );
        let tag = d["target"]["app"]["tags"][0].as_str().unwrap().to_string();
        assert!(tag.starts_with("registry.example.com/ml/app:"), "{tag}");
    }

    #[test]
    fn bytes_do_not_depend_on_the_order_of_environments() {
        let a = [
            env("a", "FROM a\n"),
            env("b.c", "FROM b\n"),
            env("z", "FROM z\n"),
        ];
        let mut b = a.clone();
        b.reverse();
        let text = render(&a, &Options::default()).unwrap();
        assert_eq!(text, render(&b, &Options::default()).unwrap());
        assert!(text.ends_with("}\n") && text.contains("\n  \"group\": {\n"));
    }

    #[test]
    fn a_dot_becomes_an_underscore_in_the_target_name_only() {
        let d = doc(&[env("ray2.9", "FROM a\n")], &Options::default());
        let tag = d["target"]["ray2_9"]["tags"][0]
            .as_str()
            .unwrap()
            .to_string();
        assert!(tag.starts_with("ray2.9:"), "{tag}");
        assert_eq!(
            d["group"]["default"]["targets"],
            serde_json::json!(["ray2_9"])
        );
    }

    #[test]
    fn clashing_and_reserved_names_are_refused() {
        let e = render(&[env("a_b", "x"), env("a.b", "y")], &Options::default()).unwrap_err();
        assert_eq!(
            e,
            Error::TargetClash {
                a: "a.b".into(),
                b: "a_b".into(),
                target: "a_b".into()
            }
        );
        assert!(e.to_string().contains("--name NAME=SPEC"), "{e}");
        let e = render(&[env("default", "x")], &Options::default()).unwrap_err();
        assert_eq!(e, Error::Reserved);
    }

    #[test]
    fn template_sequences_are_escaped_as_buildx_writes_them() {
        let df = "ENV PATH=\"/opt/bin:${PATH}\"\nRUN echo %{x} $$ $x\n";
        let d = doc(&[env("app", df)], &Options::default());
        assert_eq!(
            d["target"]["app"]["dockerfile-inline"],
            "ENV PATH=\"/opt/bin:$${PATH}\"\nRUN echo %%{x} $$ $x\n"
        );
        assert_eq!(hcl_literal("a$${b"), "a$$${b");
    }
}
