//! The project configuration, `envc.toml`: the base-image policy, facts about bases outside the
//! ray family (`[[image]]`) and warning settings.
//! Found by walking up from the spec's directory (or given with `--config`); its errors are
//! diagnostics located in the TOML file, like the spec's. [`Configs`] finds and loads each file
//! once for a run over many specs.

use crate::diag::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::input::read::{self, InputKind, ReadError};
use crate::input::source::{SourceFile, Span};
use crate::plan::ImageFacts;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub const FILE_NAME: &str = "envc.toml";

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct Raw {
    #[serde(default)]
    base_image: RawPolicy,
    #[serde(default)]
    warnings: RawWarnings,
    #[serde(default)]
    image: Vec<RawImage>,
    #[serde(default)]
    engine: RawEngine,
    #[serde(default)]
    import: RawImport,
}

/// `[engine]`: which engine builds specs that need execution, and arguments for its build.
#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawEngine {
    name: Option<toml::Spanned<String>>,
    #[serde(default)]
    args: Vec<String>,
}

/// `[import]`: what importing an engine's build drops from its new layers.
#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawImport {
    drop: Option<Vec<toml::Spanned<String>>>,
    #[serde(default)]
    extend_drop: Vec<toml::Spanned<String>>,
}

/// `[[image]]`: what the generated steps need to know about bases matching `match`.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawImage {
    #[serde(rename = "match")]
    pattern: toml::Spanned<String>,
    user: toml::Spanned<String>,
    uid: u32,
    gid: u32,
    home: toml::Spanned<String>,
    pip: Option<toml::Spanned<String>>,
    conda_prefix: Option<toml::Spanned<String>>,
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawPolicy {
    #[serde(default)]
    allow: Vec<toml::Spanned<String>>,
    mirror: Option<toml::Spanned<String>>,
}

#[derive(Debug, serde::Deserialize, Default)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct RawWarnings {
    #[serde(default)]
    deny: bool,
    #[serde(default)]
    ignore: Vec<toml::Spanned<String>>,
}

/// A repository pattern: `*` (any image), `PREFIX/*` or an exact repository. A pattern whose
/// first component is a registry host (`host.example.com/…`, `localhost/…`) matches the full
/// name; otherwise it matches the repository under any registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepoPattern(String);

impl RepoPattern {
    pub fn matches(&self, registry: Option<&str>, repository: &str) -> bool {
        let p = self.0.as_str();
        if p == "*" {
            return true;
        }
        let first = p.split('/').next().unwrap_or("");
        let with_registry = first.contains(['.', ':']) || first == "localhost";
        let full;
        let name = if with_registry {
            full = format!("{}/{repository}", registry.unwrap_or("docker.io"));
            full.as_str()
        } else {
            repository
        };
        match p.strip_suffix("/*") {
            Some(prefix) => name.starts_with(prefix) && name[prefix.len()..].starts_with('/'),
            None => name == p,
        }
    }
}

/// The resolved configuration.
#[derive(Debug, Clone, Default)]
pub struct Config {
    /// Where it came from, for `--verbose`.
    pub path: Option<PathBuf>,
    pub allow: Vec<RepoPattern>,
    /// A registry host used in `FROM` for Docker Hub images.
    pub mirror: Option<String>,
    pub deny_warnings: bool,
    pub ignore: Vec<codes::Code>,
    /// `[[image]]` facts, in file order (the first matching pattern wins).
    pub images: Vec<(RepoPattern, ImageFacts)>,
    /// `[engine] name`: podman, buildah or docker.
    pub engine: Option<String>,
    /// `[engine] args`: passed to the engine's build after any `--engine-arg`.
    pub engine_args: Vec<String>,
    /// The drop patterns of `[import]`: `drop` (replacing the default list) plus
    /// `extend-drop`; `None` for the default list alone.
    pub drop: Option<Vec<String>>,
}

impl Config {
    /// The facts `envc.toml` states for this base image, if any.
    pub fn image_facts(&self, registry: Option<&str>, repository: &str) -> Option<&ImageFacts> {
        self.images
            .iter()
            .find(|(p, _)| p.matches(registry, repository))
            .map(|(_, f)| f)
    }
}

/// Finds `envc.toml` in `dir` or its ancestors.
pub fn discover(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .map(|d| d.join(FILE_NAME))
        .find(|p| p.is_file())
}

/// The configuration each spec sees, loaded once per `envc.toml` (a run over a thousand specs
/// in one directory walks the tree and parses the file once). A broken configuration is
/// reported once, with the first spec that uses it.
#[derive(Default)]
pub struct Configs {
    /// Directory → the `envc.toml` that governs it.
    found: HashMap<PathBuf, Option<PathBuf>>,
    loaded: HashMap<PathBuf, Result<Arc<Config>, Vec<Diagnostic>>>,
    reported: HashSet<PathBuf>,
}

/// What a spec compiles against, or the configuration's diagnostics (new ones only).
pub enum ConfigFor {
    Ok(Arc<Config>),
    Broken(Vec<Diagnostic>),
}

impl Configs {
    /// `explicit` (`--config`) wins; otherwise the `envc.toml` found from the spec's directory
    /// (the current directory for stdin).
    fn path_for(&mut self, spec: &Path, explicit: Option<&Path>) -> Option<PathBuf> {
        if let Some(p) = explicit {
            return Some(p.to_path_buf());
        }
        let dir = if spec == Path::new("-") {
            std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."))
        } else {
            spec.parent()
                .filter(|p| !p.as_os_str().is_empty())
                .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
        };
        self.found
            .entry(dir)
            .or_insert_with_key(|dir| {
                let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                discover(&dir)
            })
            .clone()
    }

    /// The configuration for the spec at `spec`; `loaded` is told each file read for the
    /// first time (for `--verbose`). `Err` only when that file cannot be read.
    pub fn for_spec(
        &mut self,
        spec: &Path,
        explicit: Option<&Path>,
        loaded: impl FnOnce(&Path),
    ) -> Result<ConfigFor, ReadError> {
        let Some(path) = self.path_for(spec, explicit) else {
            return Ok(ConfigFor::Ok(Arc::new(Config::default())));
        };
        if !self.loaded.contains_key(&path) {
            let parsed = load(&path)?;
            loaded(&path);
            self.loaded.insert(path.clone(), parsed.map(Arc::new));
        }
        match &self.loaded[&path] {
            Ok(config) => Ok(ConfigFor::Ok(config.clone())),
            Err(diags) if self.reported.insert(path.clone()) => {
                Ok(ConfigFor::Broken(diags.clone()))
            }
            Err(_) => Ok(ConfigFor::Broken(Vec::new())),
        }
    }
}

/// Reads and parses the configuration at `path` through the one input reader (a file over the
/// size limit is E002, one that is not UTF-8 E003); `Err` only when it cannot be read.
pub fn load(path: &Path) -> Result<Result<Config, Vec<Diagnostic>>, ReadError> {
    Ok(read::read(path, InputKind::Config)?.and_then(|file| parse(file, Some(path.to_path_buf()))))
}

/// Parses configuration text; errors are located in `file`.
pub fn parse(file: Arc<SourceFile>, path: Option<PathBuf>) -> Result<Config, Vec<Diagnostic>> {
    let mut diags = Diagnostics::new(file.clone());
    let raw: Raw = match toml::from_str(&file.text) {
        Ok(r) => r,
        Err(e) => {
            let span = e
                .span()
                .map_or(Span::new(0, 0), |r| Span::new(r.start, r.end));
            diags
                .error(codes::CONFIG, span, e.message().trim().to_string())
                .help("see `envc explain E050` for the keys envc.toml knows");
            return Err(diags.into_vec());
        }
    };
    let mut config = Config {
        path,
        deny_warnings: raw.warnings.deny,
        ..Config::default()
    };
    static PATTERN: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex_lite::Regex::new(r"^(\*|[a-z0-9][a-z0-9._:-]*(/[a-z0-9][a-z0-9._-]*)*(/\*)?)$")
            .expect("static regex")
    });
    for p in raw.base_image.allow {
        let span = Span::new(p.span().start, p.span().end);
        if pattern.is_match(p.get_ref()) {
            config.allow.push(RepoPattern(p.into_inner()));
        } else {
            diags
                .error(
                    codes::CONFIG,
                    span,
                    format!("`{}` is not a repository pattern", p.get_ref()),
                )
                .help(
                    "write `*`, `PREFIX/*` or a repository such as `rayproject/ray` (lower case)",
                );
        }
    }
    if let Some(m) = raw.base_image.mirror {
        let span = Span::new(m.span().start, m.span().end);
        let host = m.into_inner();
        let ok = !host.is_empty()
            && host
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-:/".contains(&b))
            && !host.starts_with(['-', '/', '.'])
            && !host.ends_with('/');
        if ok {
            config.mirror = Some(host);
        } else {
            diags
                .error(codes::CONFIG, span, format!("`{host}` is not a registry host"))
                .help("write a host such as `mirror.example.com` or `mirror.example.com:5000/dockerhub`");
        }
    }
    if let Some(name) = raw.engine.name {
        if crate::engine::EngineKind::parse(name.get_ref()).is_some() {
            config.engine = Some(name.into_inner());
        } else {
            let span = name.span();
            diags
                .error(
                    codes::CONFIG,
                    Span::new(span.start, span.end),
                    format!("`{}` is not an engine envc drives", name.get_ref()),
                )
                .help("write `podman`, `buildah` or `docker`");
        }
    }
    config.engine_args = raw.engine.args;
    let mut patterns = Vec::new();
    let replaced = raw.import.drop.is_some();
    for p in raw
        .import
        .drop
        .unwrap_or_default()
        .into_iter()
        .chain(raw.import.extend_drop)
    {
        let span = p.span();
        match crate::oci::normalise::DropPolicy::new(std::slice::from_ref(p.get_ref())) {
            Ok(_) => patterns.push(p.into_inner()),
            Err(e) => {
                diags
                    .error(
                        codes::CONFIG,
                        Span::new(span.start, span.end),
                        e.to_string(),
                    )
                    .help(
                        "write a glob over image paths, such as `var/log/apt` or `home/*/.cache`",
                    );
            }
        }
    }
    if replaced || !patterns.is_empty() {
        if !replaced {
            let mut all: Vec<String> = crate::oci::normalise::DEFAULT_DROP
                .iter()
                .map(|s| s.to_string())
                .collect();
            all.extend(patterns);
            patterns = all;
        }
        config.drop = Some(patterns);
    }
    for raw_image in raw.image {
        if let Some(facts) = image_facts(&raw_image, &mut diags) {
            if pattern.is_match(raw_image.pattern.get_ref()) {
                config
                    .images
                    .push((RepoPattern(raw_image.pattern.into_inner()), facts));
            } else {
                let span = raw_image.pattern.span();
                diags
                    .error(
                        codes::CONFIG,
                        Span::new(span.start, span.end),
                        format!(
                            "`{}` is not a repository pattern",
                            raw_image.pattern.get_ref()
                        ),
                    )
                    .help(
                        "write `*`, `PREFIX/*` or a repository such as `nvidia/cuda` (lower case)",
                    );
            }
        }
    }
    for c in raw.warnings.ignore {
        let span = Span::new(c.span().start, c.span().end);
        match codes::lookup(c.get_ref()) {
            Some(doc) if doc.code.0.starts_with('W') => config.ignore.push(doc.code),
            Some(_) => {
                diags
                    .error(
                        codes::CONFIG,
                        span,
                        format!("`{}` is an error, not a warning", c.get_ref()),
                    )
                    .help("only warnings (`W…`) can be ignored");
            }
            None => {
                diags
                    .error(
                        codes::CONFIG,
                        span,
                        format!("unknown warning code `{}`", c.get_ref()),
                    )
                    .help("`envc explain` lists every code");
            }
        }
    }
    if diags.has_errors() {
        Err(diags.into_vec())
    } else {
        Ok(config)
    }
}

/// A value as a message quotes it: control characters escaped, everything else as written.
fn shown(v: &str) -> String {
    v.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Checks one `[[image]]` table. Its strings land unquoted in Dockerfiles (`USER`, the pip and
/// conda commands, cache-mount targets), so they are held to a strict grammar here.
fn image_facts(raw: &RawImage, diags: &mut Diagnostics) -> Option<ImageFacts> {
    static USER: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    static PATH: std::sync::OnceLock<regex_lite::Regex> = std::sync::OnceLock::new();
    let user_re = USER
        .get_or_init(|| regex_lite::Regex::new(r"^[a-z_][a-z0-9_-]{0,31}$").expect("static regex"));
    let path_re = PATH.get_or_init(|| {
        regex_lite::Regex::new(r"^(/[A-Za-z0-9_+-][A-Za-z0-9._+-]*)+$").expect("static regex")
    });
    let mut ok = true;
    let mut check = |v: &toml::Spanned<String>, re: &regex_lite::Regex, what: &str, help: &str| {
        if !re.is_match(v.get_ref()) {
            ok = false;
            let span = v.span();
            diags
                .error(
                    codes::CONFIG,
                    Span::new(span.start, span.end),
                    format!("`{}` is not {what}", shown(v.get_ref())),
                )
                .help(help.to_string());
        }
    };
    check(
        &raw.user,
        user_re,
        "a user name",
        "write the image user's login name, such as `root` or `ray`",
    );
    let path_help = "write an absolute path of plain components, such as `/opt/conda`";
    check(
        &raw.home,
        path_re,
        "an absolute path of plain components (letters, digits, `.`, `_`, `+`, `-`)",
        path_help,
    );
    if let Some(p) = &raw.pip {
        check(
            p,
            path_re,
            "an absolute path of plain components (letters, digits, `.`, `_`, `+`, `-`)",
            "write the pip executable's absolute path, such as `/usr/bin/pip3`",
        );
    }
    if let Some(p) = &raw.conda_prefix {
        check(
            p,
            path_re,
            "an absolute path of plain components (letters, digits, `.`, `_`, `+`, `-`)",
            path_help,
        );
    }
    ok.then(|| ImageFacts {
        user: raw.user.get_ref().clone(),
        uid: raw.uid,
        gid: raw.gid,
        home: raw.home.get_ref().clone(),
        conda_prefix: raw.conda_prefix.as_ref().map(|p| p.get_ref().clone()),
        pip: raw.pip.as_ref().map(|p| p.get_ref().clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<Config, Vec<Diagnostic>> {
        parse(Arc::new(SourceFile::new("envc.toml", text)), None)
    }

    #[test]
    fn parses_and_locates_errors() {
        let c = cfg("[base-image]\nallow = [\"rayproject/*\"]\nmirror = \"mirror.example.com\"\n[warnings]\nignore = [\"w003\"]\n").unwrap();
        assert!(c.allow[0].matches(None, "rayproject/ray"));
        assert!(c.allow[0].matches(Some("docker.io"), "rayproject/ray-ml"));
        assert!(!c.allow[0].matches(None, "rayprojectx/ray"));
        assert_eq!(c.ignore, vec![codes::MUTABLE_TAG]);
        let e = cfg("[base-image]\nallow = [\"Bad Pattern\"]\n").unwrap_err();
        assert_eq!(e[0].span.unwrap().start, 22);
        let e = cfg("[base-image]\nalow = []\n").unwrap_err();
        assert_eq!(e[0].code, codes::CONFIG);
        assert!(e[0].span.is_some());
        assert!(cfg("[warnings]\nignore = [\"E010\"]\n").is_err());
    }

    #[test]
    fn image_facts_are_parsed_and_checked() {
        let c = cfg("[[image]]\nmatch = \"ubuntu\"\nuser = \"root\"\nuid = 0\ngid = 0\nhome = \"/root\"\npip = \"/usr/bin/pip3\"\n").unwrap();
        let f = c.image_facts(None, "ubuntu").unwrap();
        assert_eq!(
            (f.uid, f.pip().as_deref(), f.conda()),
            (0, Some("/usr/bin/pip3"), None)
        );
        assert!(c.image_facts(None, "debian").is_none());
        // Strings that would land unquoted in a Dockerfile are refused, located.
        let text = "[[image]]\nmatch = \"ubuntu\"\nuser = \"root\"\nuid = 0\ngid = 0\nhome = \"/root\"\npip = \"/usr/bin/pip3 && curl x\"\n";
        let e = cfg(text).unwrap_err();
        assert_eq!(
            e[0].span.unwrap().start,
            text.find("\"/usr/bin/pip3 &&").unwrap()
        );
        assert!(cfg("[[image]]\nmatch = \"ubuntu\"\nuser = \"root\"\nuid = 0\ngid = 0\nhome = \"/root\"\nshell = \"sh\"\n").is_err());
        assert!(cfg("[[image]]\nmatch = \"ubuntu\"\nuser = \"root\"\n").is_err());
    }

    #[test]
    fn registry_patterns_match_full_names() {
        let p = RepoPattern("registry.example.com/ml/*".into());
        assert!(p.matches(Some("registry.example.com"), "ml/ray"));
        assert!(!p.matches(None, "ml/ray"));
    }
}
