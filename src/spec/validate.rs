//! Semantic checks on the stage-0 [`Spec`]: what each value means. Every user string leaves
//! this module as a type that has already been checked (an [`ImageRef`], an [`VarName`], a
//! [`DebianPackage`], …), so later stages cannot see an unchecked string. All problems are
//! reported, not just the first.

use crate::config::Config;
use crate::diag::codes;
use crate::diag::Diagnostics;
use crate::input::yaml::Resolved;
use crate::plan::ImageFacts;
use crate::spec::{Byod, EnvEntry, Spanned, Spec, Standard};
use crate::types::env::{EnvValue, VarName};
use crate::types::image_ref::{self, AnyscaleTag, ImageRef, TagError, TagStatus};
use crate::types::package::{self, CondaSpec, DebianPackage, EntryError, PipRequirement};
use std::str::FromStr;

/// The base image, checked against the policy.
#[derive(Debug, Clone)]
pub struct BaseImage {
    pub reference: ImageRef,
    /// Present for Anyscale images: the versions parsed out of the tag.
    pub anyscale: Option<AnyscaleTag>,
}

/// A post-build command: not empty, no NUL or CR; may span lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command(String);

impl Command {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Clone)]
pub struct ValidStandard {
    pub base: BaseImage,
    pub env: Vec<(VarName, EnvValue)>,
    pub debian: Vec<DebianPackage>,
    pub conda: Vec<CondaSpec>,
    pub pip: Vec<PipRequirement>,
    pub post_build: Vec<Command>,
    /// The base image's user and tools; `None` only when no step needs them.
    pub facts: Option<ImageFacts>,
}

#[derive(Debug, Clone)]
pub struct ValidByod {
    pub image: ImageRef,
    pub ray_version: String,
    pub env: Vec<(VarName, EnvValue)>,
    pub registry_login_secret: Option<String>,
}

#[derive(Debug, Clone)]
pub enum Validated {
    Standard(Box<ValidStandard>),
    Byod(ValidByod),
}

/// Checks `spec`; returns `None` when any error was reported.
pub fn validate(spec: &Spec, config: &Config, diags: &mut Diagnostics) -> Option<Validated> {
    let v = match spec {
        Spec::Standard(s) => standard(s, config, diags).map(|s| Validated::Standard(Box::new(s))),
        Spec::Byod(b) => byod(b, diags).map(Validated::Byod),
    };
    if diags.has_errors() {
        None
    } else {
        v
    }
}

fn entries<T: FromStr<Err = EntryError>>(
    items: &[Spanned<String>],
    diags: &mut Diagnostics,
) -> Vec<T> {
    items
        .iter()
        .filter_map(|item| match item.value.parse::<T>() {
            Ok(v) => Some(v),
            Err(e) => {
                let span = e.at.map_or(item.span, |(a, b)| item.sub_span(a, b));
                diags.error(e.code, span, e.message).help_opt(e.help);
                None
            }
        })
        .collect()
}

fn standard(s: &Standard, config: &Config, diags: &mut Diagnostics) -> Option<ValidStandard> {
    let base = s
        .base_image
        .as_ref()
        .and_then(|b| base_image(b, config, diags));
    let env = env_vars(&s.env_vars, diags);
    let debian = entries(&s.debian_packages, diags);
    let conda = entries(&s.conda_packages, diags);
    conda_files_alone(&s.conda_packages, diags);
    let pip = entries(&s.pip_packages, diags);
    let post_build = s
        .post_build_cmds
        .iter()
        .filter_map(|c| command(c, diags))
        .collect();
    let base = base?;
    super::skew::check(&base, s, diags);
    let facts = image_facts(&base, s, config, diags);
    Some(ValidStandard {
        base,
        facts,
        env,
        debian,
        conda,
        pip,
        post_build,
    })
}

/// The facts the steps run with: `envc.toml`'s `[[image]]` for the base, else the ray family's
/// for its images. A step that needs a fact envc does not know is refused at its first entry,
/// rather than guessed (a ray user and pip on an `ubuntu` base build the wrong image).
fn image_facts(
    base: &BaseImage,
    s: &Standard,
    config: &Config,
    diags: &mut Diagnostics,
) -> Option<ImageFacts> {
    let r = &base.reference;
    let facts = config
        .image_facts(r.registry.as_deref(), &r.repository)
        .cloned()
        .or_else(|| {
            (image_ref::is_anyscale_repository(&r.repository)
                || matches!(
                    r.repository.as_str(),
                    "rayproject/ray" | "rayproject/ray-ml"
                ))
            .then(ImageFacts::ray_family)
        });
    let repo = &r.repository;
    let table = format!(
        "add `[[image]]` to envc.toml with `match = \"{repo}\"`, `user`, `uid`, `gid` and `home`"
    );
    let Some(facts) = facts else {
        let needs = [
            (
                s.debian_packages.first(),
                "Debian packages run as root and then return to the image's user",
            ),
            (
                s.conda_packages.first(),
                "conda packages need the image's user and conda prefix",
            ),
            (
                s.pip_packages.first(),
                "pip packages need the image's user and pip",
            ),
            (
                s.post_build_cmds.first(),
                "post-build commands run as the image's user",
            ),
        ];
        for (first, why) in needs {
            if let Some(first) = first {
                diags
                    .error(
                        codes::IMAGE_FACTS,
                        first.span,
                        format!("envc does not know the user of `{}`: {why}", r),
                    )
                    .help(format!("{table} (and `pip` or `conda-prefix` for Python packages); see `envc explain E045`"));
            }
        }
        return None;
    };
    if let (Some(first), None) = (s.conda_packages.first(), facts.conda()) {
        diags
            .error(
                codes::IMAGE_FACTS,
                first.span,
                format!("the `[[image]]` facts for `{r}` name no conda installation"),
            )
            .help("add `conda-prefix = \"/opt/conda\"` (the image's conda prefix) to that `[[image]]` table in envc.toml");
    }
    if let (Some(first), None) = (s.pip_packages.first(), facts.pip()) {
        diags
            .error(
                codes::IMAGE_FACTS,
                first.span,
                format!("the `[[image]]` facts for `{r}` name no pip"),
            )
            .help("add `pip = \"/usr/bin/pip3\"` (the image's pip) or `conda-prefix` to that `[[image]]` table in envc.toml");
    }
    Some(facts)
}

/// `conda install` installs package files (URLs ending in `.conda` or `.tar.bz2`) only when
/// every argument is one; beside a MatchSpec it stops with "cannot mix specifications with
/// conda package filenames". All conda entries go to one `conda install`.
fn conda_files_alone(items: &[Spanned<String>], diags: &mut Diagnostics) {
    let is_file = |c: &Spanned<String>| package::is_conda_package_file(&c.value);
    if !items.iter().any(|c| !is_file(c)) {
        return;
    }
    // A local package file is refused on its own (E032); a URL is refused only here.
    if let Some(first) = items.iter().find(|c| is_file(c) && c.value.contains("://")) {
        diags
            .error(
                codes::CONDA_SPEC,
                first.span,
                "a conda package file beside MatchSpecs, which `conda install` refuses to mix",
            )
            .help("list only package-file URLs, or name this package as a MatchSpec (`channel::name=VERSION=BUILD`)");
    }
}

fn command(c: &Spanned<String>, diags: &mut Diagnostics) -> Option<Command> {
    if c.value.trim().is_empty() {
        diags
            .error(codes::EMPTY, c.span, "empty post-build command")
            .help("remove the empty item");
        return None;
    }
    if let Some(i) = c.value.find(['\0', '\r']) {
        diags
            .error(
                codes::CONTROL_CHAR,
                c.sub_span(i, i + 1),
                format!("post-build command contains a {}", package::control_name(c.value.as_bytes()[i])),
            )
            .help("a command may span lines (a YAML block scalar), but NUL and carriage returns are refused; save the file with Unix line endings");
        return None;
    }
    Some(Command(c.value.clone()))
}

/// The checks every single-line scalar gets (image names, versions, secret names).
fn single_line(v: &Spanned<String>, what: &str, diags: &mut Diagnostics) -> bool {
    match package::check_common(&v.value, what) {
        Ok(()) => true,
        // A leading `-` is only an injection risk for package entries; here the grammar decides.
        Err(e) if e.code == codes::LEADING_DASH => true,
        Err(e) => {
            let span = e.at.map_or(v.span, |(a, b)| v.sub_span(a, b));
            diags.error(e.code, span, e.message).help_opt(e.help);
            false
        }
    }
}

fn image_ref(v: &Spanned<String>, what: &str, diags: &mut Diagnostics) -> Option<ImageRef> {
    if !single_line(v, what, diags) {
        return None;
    }
    match ImageRef::parse(&v.value) {
        Ok(r) => Some(r),
        Err(e) => {
            diags
                .error(codes::IMAGE_REF, v.span, format!("`{}` is not an image reference: {e}", v.value.escape_debug()))
                .help("write `[REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST]`, e.g. `anyscale/ray:2.9.0-py310`");
            None
        }
    }
}

fn base_image(v: &Spanned<String>, config: &Config, diags: &mut Diagnostics) -> Option<BaseImage> {
    let reference = image_ref(v, "`base_image`", diags)?;
    let allowed_elsewhere = config
        .allow
        .iter()
        .any(|p| p.matches(reference.registry.as_deref(), &reference.repository));
    let anyscale_like = image_ref::is_anyscale_repository(&reference.repository)
        || reference.repository == "anyscale"
        || reference.repository.starts_with("anyscale/")
        || v.value == "unknown";
    if !anyscale_like
        || (allowed_elsewhere && !image_ref::is_anyscale_repository(&reference.repository))
    {
        if allowed_elsewhere {
            if reference.digest.is_none() && reference.tag.as_deref().is_none_or(|t| t == "latest")
            {
                mutable_warning(v, diags);
            }
            return Some(BaseImage {
                reference,
                anyscale: None,
            });
        }
        diags
            .error(codes::IMAGE_POLICY, v.span, format!("`{}` is not an Anyscale base image", v.value))
            .label("outside the base-image policy")
            .help("use `anyscale/ray`, `anyscale/ray-ml` or `anyscale/ray-llm`; to allow other images, add their repository to `[base-image] allow` in envc.toml, or use the BYOD form (`docker_image`)");
        return None;
    }
    match image_ref::classify_anyscale(&reference) {
        Ok((tag, status)) => {
            match status {
                TagStatus::Supported => {}
                TagStatus::Unlisted => {
                    diags
                        .warning(codes::UNLISTED_TAG, v.span, format!("`{}` is not in Anyscale's current list of base images", v.value))
                        .help("the tag is well-formed, but Anyscale may refuse to build it; move to a supported tag");
                }
                TagStatus::Mutable if reference.digest.is_none() => mutable_warning(v, diags),
                TagStatus::Mutable => {}
            }
            Some(BaseImage {
                reference,
                anyscale: Some(tag),
            })
        }
        Err(TagError::NoRepository { suggestion, .. }) => {
            diags
                .error(
                    codes::IMAGE_NO_REPOSITORY,
                    v.span,
                    format!("`{}` names no repository", v.value),
                )
                .label("a version where the repository name should be")
                .help(format!("did you mean `{suggestion}`?"));
            None
        }
        Err(e) => {
            diags
                .error(codes::IMAGE_TAG, v.span, e.to_string())
                .help("see `envc explain E042` for the tag grammar");
            None
        }
    }
}

fn mutable_warning(v: &Spanned<String>, diags: &mut Diagnostics) {
    diags
        .warning(
            codes::MUTABLE_TAG,
            v.span,
            format!("`{}` is a moving tag", v.value),
        )
        .help("two builds of this spec can get different images; pin a version tag or `@sha256:…`");
}

fn env_vars(items: &[EnvEntry], diags: &mut Diagnostics) -> Vec<(VarName, EnvValue)> {
    let mut out = Vec::new();
    for e in items {
        let name = match VarName::parse(&e.name.value) {
            Ok(n) => Some(n),
            Err(msg) => {
                diags
                    .error(codes::ENV_NAME, e.name.span, msg)
                    .help("names are letters, digits and `_`, not starting with a digit");
                None
            }
        };
        let value = env_value(e, diags);
        if let (Some(n), Some(v)) = (name, value) {
            out.push((n, v));
        }
    }
    out
}

fn env_value(e: &EnvEntry, diags: &mut Diagnostics) -> Option<EnvValue> {
    let v = &e.value;
    match e.resolved {
        Resolved::Str => {}
        Resolved::DecimalInt => {
            diags
                .warning(
                    codes::UNQUOTED_INTEGER,
                    v.span,
                    format!("the value of `{}` is an unquoted integer", e.name.value),
                )
                .label(format!("read as the string \"{}\"", v.value))
                .help(format!("quote it: `{}: \"{}\"`", e.name.value, v.value));
        }
        other => {
            let what = match other {
                Resolved::Null => "null (no value)",
                Resolved::Bool => "a boolean",
                Resolved::Float => "a number",
                _ => "an integer in a non-decimal form",
            };
            let shown = if v.value.is_empty() {
                ""
            } else {
                v.value.as_str()
            };
            diags
                .error(
                    codes::ENV_VALUE_TYPE,
                    if v.value.is_empty() {
                        e.name.span
                    } else {
                        v.span
                    },
                    format!("the value of `{}` is {what}, not a string", e.name.value),
                )
                .help(format!("quote the value: `{}: \"{shown}\"`", e.name.value));
            return None;
        }
    }
    if let Some(i) = v.value.find(['\0', '\r', '\n']) {
        diags
            .error(
                codes::CONTROL_CHAR,
                v.sub_span(i, i + 1),
                format!("the value of `{}` contains a {}", e.name.value, package::control_name(v.value.as_bytes()[i])),
            )
            .help("an environment value is one line; a line break would start a new Dockerfile instruction");
        return None;
    }
    match EnvValue::parse(&v.value) {
        Ok(val) => Some(val),
        Err(d) => {
            diags
                .error(
                    codes::ENV_DOLLAR,
                    v.sub_span(d.offset, d.offset + d.len),
                    d.message,
                )
                .help(
                    "write `$$` for a literal `$`; `$NAME` and `${NAME}` refer to other variables",
                );
            None
        }
    }
}

fn byod(b: &Byod, diags: &mut Diagnostics) -> Option<ValidByod> {
    let image = b
        .docker_image
        .as_ref()
        .and_then(|d| image_ref(d, "`docker_image`", diags));
    if let (Some(r), Some(d)) = (&image, &b.docker_image) {
        if r.digest.is_none() && r.tag.as_deref().is_none_or(|t| t == "latest") {
            mutable_warning(d, diags);
        }
    }
    let ray_version = b.ray_version.as_ref().and_then(|rv| {
        let v = &rv.value;
        static RAY_VERSION: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
        let re = RAY_VERSION.get_or_init(|| {
            regex_lite::Regex::new(r"^([0-9]+\.[0-9]+\.[0-9]+(rc[0-9]+)?|nightly)$").expect("static regex")
        });
        let ok = rv.resolved == Resolved::Str && re.is_match(&v.value);
        if ok {
            Some(v.value.clone())
        } else {
            let hint = if rv.resolved == Resolved::Float || rv.resolved == Resolved::DecimalInt {
                format!("YAML reads `{}` as a number; write a full version in quotes, e.g. `ray_version: \"2.9.0\"`", v.value)
            } else {
                "write `X.Y.Z`, `X.Y.ZrcN` or `nightly`, e.g. `ray_version: \"2.9.0\"`".to_string()
            };
            diags
                .error(codes::RAY_VERSION, v.span, format!("`{}` is not a Ray version", v.value.escape_debug()))
                .help(hint);
            None
        }
    });
    let env = env_vars(&b.env_vars, diags);
    let secret = match &b.registry_login_secret {
        Some(s) if single_line(s, "`registry_login_secret`", diags) => Some(s.value.clone()),
        _ => None,
    };
    Some(ValidByod {
        image: image?,
        ray_version: ray_version?,
        env,
        registry_login_secret: secret,
    })
}
