//! Stage 0: the spec exactly as the user wrote it — every value with its span, optional keys
//! still optional, source order kept. This module owns the *shape* checks (which keys exist,
//! duplicates, types, null-as-empty, the standard vs BYOD form); what the values mean is
//! checked in `validate`. Mapping entries and their duplicate-key errors come from the YAML
//! front end (`input::yaml::entries`), which runtime environments share.

pub mod anyscale;
pub mod schema;
pub(crate) mod skew;
pub mod validate;

use crate::diag::codes;
use crate::diag::Diagnostics;
use crate::input::source::Span;
use crate::input::yaml::{self, Kind, Node, Resolved, Style};

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    pub value: T,
    pub span: Span,
    /// Byte offset in the file of the value's first character when the source spells the value
    /// verbatim (plain, or quoted without escapes), so errors can point inside it.
    pub verbatim_at: Option<usize>,
}

impl<T> Spanned<T> {
    /// The span of bytes `a..b` of the value, or the whole value when not verbatim.
    pub fn sub_span(&self, a: usize, b: usize) -> Span {
        match self.verbatim_at {
            Some(base) => Span::new(base + a, base + b),
            None => self.span,
        }
    }
}

#[derive(Debug, Clone)]
pub struct EnvEntry {
    pub name: Spanned<String>,
    pub value: Spanned<String>,
    /// The value was an unquoted YAML scalar of this type (checked in `validate`).
    pub resolved: Resolved,
}

#[derive(Debug, Clone, Default)]
pub struct Standard {
    pub base_image: Option<Spanned<String>>,
    pub env_vars: Vec<EnvEntry>,
    pub debian_packages: Vec<Spanned<String>>,
    pub pip_packages: Vec<Spanned<String>>,
    pub conda_packages: Vec<Spanned<String>>,
    pub post_build_cmds: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Byod {
    pub docker_image: Option<Spanned<String>>,
    pub ray_version: Option<EnvEntry>,
    pub env_vars: Vec<EnvEntry>,
    pub registry_login_secret: Option<Spanned<String>>,
}

#[derive(Debug, Clone)]
pub enum Spec {
    Standard(Standard),
    Byod(Byod),
}

const STANDARD_KEYS: &[&str] = &[
    "base_image",
    "env_vars",
    "debian_packages",
    "python",
    "post_build_cmds",
];
const BYOD_KEYS: &[&str] = &[
    "docker_image",
    "ray_version",
    "env_vars",
    "registry_login_secret",
];
const PYTHON_KEYS: &[&str] = &["pip_packages", "conda_packages"];

/// Top-level keys starting with `x-` are extension fields, ignored (as docker compose ignores
/// them): the place for an anchor that other keys alias (`x-common: &common {…}`).
fn is_extension(key: &str) -> bool {
    key.starts_with("x-")
}

/// Keys users put in a spec that belong in another file, and where.
fn belongs_elsewhere(key: &str) -> Option<&'static str> {
    Some(match key {
        "aws" | "gcp" | "azure" | "head_node_type" | "worker_node_types" | "cloud" | "region"
        | "compute_config" | "cluster_compute" | "max_workers" | "allowed_azs" => {
            "`{key}` is compute configuration: move it to the cluster compute config"
        }
        "working_dir" | "excludes" | "py_modules" | "pip" | "conda" | "runtime_env" => {
            "`{key}` belongs in a Ray runtime environment, not a cluster environment"
        }
        "pip_packages" | "conda_packages" => "`{key}` goes under `python:`",
        "name" => {
            "a cluster environment's name is given when it is built (`--name`), not in the spec"
        }
        "apt_packages" | "apt" | "debian" | "packages" => "Debian packages go in `debian_packages`",
        "post_build" | "post_build_commands" | "commands" | "run" => {
            "post-build commands go in `post_build_cmds`"
        }
        "env" | "environment" | "envs" => "environment variables go in `env_vars`",
        "image" | "base" => "the base image goes in `base_image`",
        _ => return None,
    })
}

/// The closest known key, if one is close enough to be a likely typo.
pub fn suggest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    known
        .iter()
        .map(|k| (strsim::jaro_winkler(&key.to_ascii_lowercase(), k), *k))
        .filter(|(score, _)| *score > 0.8)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, k)| k)
}

fn spanned(node: &Node, value: &str, text: &str) -> Spanned<String> {
    let raw = text.get(node.span.start..node.span.end).unwrap_or("");
    let verbatim_at = match &node.kind {
        Kind::Scalar {
            style: Style::Plain,
            ..
        } if raw == value => Some(node.span.start),
        Kind::Scalar {
            style: Style::Quoted,
            ..
        } if raw.len() >= 2 && &raw[1..raw.len() - 1] == value => Some(node.span.start + 1),
        _ => None,
    };
    Spanned {
        value: value.to_string(),
        span: node.span,
        verbatim_at,
    }
}

struct Ctx<'a> {
    text: &'a str,
    diags: &'a mut Diagnostics,
}

impl Ctx<'_> {
    /// Entries of a mapping with duplicate keys reported; non-string keys reported.
    fn entries<'n>(&mut self, node: &'n Node, what: &str) -> Vec<(Spanned<String>, &'n Node)> {
        let Kind::Map(items) = &node.kind else {
            self.diags
                .error(
                    codes::WRONG_TYPE,
                    node.span,
                    format!("{what} must be a mapping, found {}", node.type_name()),
                )
                .label("expected `key: value` pairs");
            return Vec::new();
        };
        let text = self.text;
        yaml::entries(
            items,
            text,
            self.diags,
            |k, diags| match &k.kind {
                Kind::Scalar { value: key, .. } => Some(spanned(k, key, text)),
                _ => {
                    diags.error(codes::WRONG_TYPE, k.span, "a key must be a plain string");
                    None
                }
            },
            |key| &key.value,
        )
        .into_iter()
        .map(|e| (e.key, e.value))
        .collect()
    }

    fn string(&mut self, node: &Node, what: &str) -> Option<Spanned<String>> {
        match &node.kind {
            Kind::Scalar { value, .. } if node.resolved() == Resolved::Str => {
                Some(spanned(node, value, self.text))
            }
            _ => {
                self.diags
                    .error(
                        codes::WRONG_TYPE,
                        node.span,
                        format!("{what} must be a string, found {}", node.type_name()),
                    )
                    .help_opt(
                        matches!(node.kind, Kind::Scalar { .. })
                            .then(|| "quote the value".to_string()),
                    );
                None
            }
        }
    }

    fn string_list(&mut self, node: &Node, what: &str) -> Vec<Spanned<String>> {
        if node.is_null() {
            return Vec::new();
        }
        let Kind::Seq(items) = &node.kind else {
            self.diags
                .error(
                    codes::WRONG_TYPE,
                    node.span,
                    format!(
                        "`{what}` must be a list of strings, found {}",
                        node.type_name()
                    ),
                )
                .help_opt(
                    matches!(node.kind, Kind::Scalar { .. })
                        .then(|| format!("write it as a list:\n    {what}:\n      - ITEM")),
                );
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|item| match &item.kind {
                // A number or version in a package list is what the user wrote: `- 1.2` is text.
                Kind::Scalar { value, .. } if !item.is_null() => {
                    Some(spanned(item, value, self.text))
                }
                _ => {
                    self.diags
                        .error(
                            codes::WRONG_TYPE,
                            item.span,
                            format!(
                                "entries of `{what}` must be strings, found {}",
                                item.type_name()
                            ),
                        )
                        .help_opt(item.is_null().then(|| "remove the empty item".to_string()));
                    None
                }
            })
            .collect()
    }

    fn env_vars(&mut self, node: &Node) -> Vec<EnvEntry> {
        if node.is_null() {
            return Vec::new();
        }
        let mut out = Vec::new();
        for (name, v) in self.entries(node, "`env_vars`") {
            match &v.kind {
                Kind::Scalar { value, .. } => out.push(EnvEntry {
                    name,
                    value: spanned(v, value, self.text),
                    resolved: v.resolved(),
                }),
                _ => {
                    self.diags
                        .error(
                            codes::ENV_VALUE_TYPE,
                            v.span,
                            format!(
                                "the value of `{}` must be a string, found {}",
                                name.value,
                                v.type_name()
                            ),
                        )
                        .help("environment values are strings; quote the value");
                }
            }
        }
        out
    }

    fn unknown_key(&mut self, key: &Spanned<String>, known: &[&str], other_form: &[&str]) {
        let mut b = self.diags.error(
            codes::UNKNOWN_KEY,
            key.span,
            format!("unknown key `{}`", key.value),
        );
        b = b.label("not a key of a cluster-environment spec");
        if let Some(hint) = belongs_elsewhere(&key.value) {
            drop(b.help(hint.replace("{key}", &key.value)));
        } else if let Some(s) = suggest(&key.value, known) {
            drop(b.help(format!("did you mean `{s}`?")));
        } else if other_form.contains(&key.value.as_str()) {
            drop(b.help(format!(
                "`{}` belongs to the other spec form: the standard form (`base_image`) and BYOD (`docker_image`) do not mix",
                key.value
            )));
        } else {
            drop(b.help(format!("known keys are {}", list(known))));
        }
    }
}

fn list(keys: &[&str]) -> String {
    keys.iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Reads the spec's shape from its YAML tree, reporting into `diags`. `None` means nothing
/// useful could be read (the root is not a mapping).
pub fn parse(root: &Node, text: &str, diags: &mut Diagnostics) -> Option<Spec> {
    let mut cx = Ctx { text, diags };
    if !matches!(root.kind, Kind::Map(_)) {
        cx.diags
            .error(
                codes::WRONG_TYPE,
                root.span,
                format!(
                    "a spec must be a mapping of keys, found {}",
                    root.type_name()
                ),
            )
            .help("start with `base_image: anyscale/ray:2.9.0-py310`");
        return None;
    }
    let entries = cx.entries(root, "the spec");
    let byod = entries.iter().any(|(k, _)| k.value == "docker_image");
    if byod {
        let mut spec = Byod::default();
        for (key, v) in &entries {
            match key.value.as_str() {
                "docker_image" => {
                    spec.docker_image = if v.is_null() {
                        None
                    } else {
                        cx.string(v, "`docker_image`")
                    }
                }
                "ray_version" if !v.is_null() => match &v.kind {
                    Kind::Scalar { value, .. } => {
                        spec.ray_version = Some(EnvEntry {
                            name: key.clone(),
                            value: spanned(v, value, text),
                            resolved: v.resolved(),
                        })
                    }
                    _ => {
                        cx.string(v, "`ray_version`");
                    }
                },
                "ray_version" => {}
                "env_vars" => spec.env_vars = cx.env_vars(v),
                k if is_extension(k) => {}
                "registry_login_secret" => {
                    spec.registry_login_secret = if v.is_null() {
                        None
                    } else {
                        cx.string(v, "`registry_login_secret`")
                    }
                }
                k if STANDARD_KEYS.contains(&k) => {
                    cx.diags
                        .error(codes::MIXED_FORMS, key.span, format!("`{k}` cannot be used with `docker_image`"))
                        .label("a standard-form key")
                        .help("a BYOD spec (`docker_image`) takes only `ray_version`, `env_vars` and `registry_login_secret`; bake packages and commands into your image, or use `base_image`");
                }
                _ => cx.unknown_key(key, BYOD_KEYS, STANDARD_KEYS),
            }
        }
        let (at, null) = entries
            .iter()
            .find(|(k, _)| k.value == "docker_image")
            .map_or((root.span, true), |(k, v)| (k.span, v.is_null()));
        if null {
            cx.diags
                .error(codes::MISSING_KEY, at, "`docker_image` has no value")
                .help("name the image, e.g. `docker_image: my-registry.example.com/ml/ray:2.9.0`");
        }
        if spec.ray_version.is_none() {
            cx.diags
                .error(codes::MISSING_KEY, at, "a BYOD spec needs `ray_version`")
                .help("add the Ray version installed in the image, e.g. `ray_version: \"2.9.0\"`");
        }
        return Some(Spec::Byod(spec));
    }

    let mut spec = Standard::default();
    let mut base_key = None;
    for (key, v) in &entries {
        match key.value.as_str() {
            "base_image" => {
                base_key = Some((key.span, v.is_null()));
                if !v.is_null() {
                    spec.base_image = cx.string(v, "`base_image`");
                }
            }
            k if is_extension(k) => {}
            "env_vars" => spec.env_vars = cx.env_vars(v),
            "debian_packages" => spec.debian_packages = cx.string_list(v, "debian_packages"),
            "post_build_cmds" => spec.post_build_cmds = cx.string_list(v, "post_build_cmds"),
            "python" if v.is_null() => {}
            "python" => {
                for (pk, pv) in cx.entries(v, "`python`") {
                    match pk.value.as_str() {
                        "pip_packages" => spec.pip_packages = cx.string_list(pv, "pip_packages"),
                        "conda_packages" => {
                            spec.conda_packages = cx.string_list(pv, "conda_packages")
                        }
                        _ => cx.unknown_key(&pk, PYTHON_KEYS, &[]),
                    }
                }
            }
            _ => cx.unknown_key(key, STANDARD_KEYS, BYOD_KEYS),
        }
    }
    match (base_key, &spec.base_image) {
        (Some((span, true)), _) => {
            cx.diags
                .error(codes::MISSING_KEY, span, "`base_image` has no value")
                .help("name an Anyscale base image, e.g. `base_image: anyscale/ray:2.9.0-py310`");
        }
        (None, _) => {
            let at = entries.first().map_or(root.span, |(k, _)| k.span);
            cx.diags
                .error(codes::MISSING_KEY, at, "the spec has no `base_image`")
                .help("add `base_image: anyscale/ray:2.9.0-py310` (or use `docker_image` for your own image)");
        }
        // Given but of the wrong type: already reported.
        (Some((_, false)), _) => {}
    }
    Some(Spec::Standard(spec))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(suggest("base_imge", STANDARD_KEYS), Some("base_image"));
        assert_eq!(suggest("env_var", STANDARD_KEYS), Some("env_vars"));
        assert_eq!(
            suggest("post_build_cmd", STANDARD_KEYS),
            Some("post_build_cmds")
        );
        assert_eq!(suggest("zzz", STANDARD_KEYS), None);
        assert!(belongs_elsewhere("aws").unwrap().contains("compute"));
    }
}
