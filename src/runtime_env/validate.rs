//! Validation and normalisation of a Ray runtime environment given as JSON or YAML.
//!
//! The input is read with envc's spanned YAML reader (JSON is YAML), so every finding points at
//! the value it is about. The rules and, where Ray has one, the message are Ray's own (see
//! `shared/reference/runtime-env.md`, "Validation"): a user sees the text Ray would raise, with
//! envc's `help` added. Values are typed the way Python's YAML/JSON loaders type them, and type
//! names in messages are Python's (`<class 'int'>`). The few places where Ray 1 and Ray 2 differ
//! are chosen by [`RayGeneration`]. Relative paths (a requirements file, a conda YAML file, a
//! local `working_dir` or `py_modules` entry) resolve against the directory given to [`parse`],
//! as they do against the driver's current directory in Ray.
//!
//! The result, [`RuntimeEnv`], is normalised as Ray normalises it: `None` values, an empty pip
//! list, empty `excludes` and empty `env_vars` are dropped, pip entries are deduplicated keeping
//! the first occurrence. [`RuntimeEnv::canonical_json`] is its one serialisation (keys sorted).

use crate::diag::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::input::read::{self, InputKind, TextError};
use crate::input::source::{SourceFile, Span};
use crate::input::yaml::{self, Kind, Node, Resolved};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The Ray generation whose rules apply where Ray 1 and Ray 2 differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RayGeneration {
    /// Ray 1.x (the seed's era).
    V1,
    /// Ray 2.x (what clusters run today).
    #[default]
    V2,
}

/// Where a runtime environment is given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `ray.init` or job submission: local paths are allowed (they are uploaded).
    Job,
    /// `.options(runtime_env=…)` of a task or actor: only URIs.
    TaskOrActor,
}

/// What a `working_dir` or `py_modules` entry names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LocationKind {
    /// A URI (`s3://…/x.zip`, `gcs://_ray_pkg_….zip`); `scheme` is lower case.
    Uri { scheme: String },
    /// A local directory (resolved path).
    LocalDir(PathBuf),
    /// A local `.zip` package, used as is.
    LocalZip(PathBuf),
    /// A local `.whl` (`py_modules`, Ray 2).
    LocalWheel(PathBuf),
    /// A local single-file module (`py_modules`, Ray 2).
    LocalPy(PathBuf),
}

/// A `working_dir` or `py_modules` entry: as written, and what it resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    pub raw: String,
    pub kind: LocationKind,
}

impl Location {
    pub fn is_uri(&self) -> bool {
        matches!(self.kind, LocationKind::Uri { .. })
    }

    /// The resolved local path, for local entries.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.kind {
            LocationKind::Uri { .. } => None,
            LocationKind::LocalDir(p)
            | LocationKind::LocalZip(p)
            | LocationKind::LocalWheel(p)
            | LocationKind::LocalPy(p) => Some(p),
        }
    }
}

/// What `Cx::packages` found.
enum Packages<'n> {
    /// The packages, and the requirements file they came from.
    Read(Vec<String>, Option<PathBuf>),
    /// An error was already reported (a requirements file that cannot be read).
    Reported,
    /// A list entry that is not a string.
    BadEntry(&'n Node),
    /// Neither a string nor a list.
    WrongType,
}

/// The `pip` field, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipSpec {
    /// Deduplicated, first occurrence kept; from a requirements file, its lines as Ray reads
    /// them (blank and `#` lines kept verbatim).
    pub packages: Vec<String>,
    pub pip_check: Option<bool>,
    pub pip_version: Option<String>,
    /// The requirements file the packages were read from (resolved), if any.
    pub requirements_file: Option<PathBuf>,
}

/// The `conda` field.
#[derive(Debug, Clone, PartialEq)]
pub enum Conda {
    /// An inline `environment.yml` mapping.
    Inline(Value),
    /// A local `.yaml`/`.yml` file (resolved path) and its parsed content.
    File { path: PathBuf, content: Value },
    /// The name (or absolute path) of an existing conda environment.
    Name(String),
}

/// The `config` field; `None` means Ray's default (600 s, eager install, no log files).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeConfig {
    pub setup_timeout_seconds: Option<i64>,
    pub eager_install: Option<bool>,
    pub log_files: Option<Vec<String>>,
}

impl RuntimeConfig {
    pub fn is_empty(&self) -> bool {
        *self == RuntimeConfig::default()
    }
}

/// A validated, normalised runtime environment.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RuntimeEnv {
    pub working_dir: Option<Location>,
    /// `Some(vec![])` is kept: an empty list given by a task replaces its parent's.
    pub py_modules: Option<Vec<Location>>,
    pub excludes: Vec<String>,
    pub pip: Option<PipSpec>,
    pub conda: Option<Conda>,
    /// In source order; names are unique.
    pub env_vars: Vec<(String, String)>,
    pub container: Option<Value>,
    pub image_uri: Option<String>,
    pub config: RuntimeConfig,
    /// Fields envc does not know: kept unchanged (Ray 2 passes them to plugins).
    pub unknown: BTreeMap<String, Value>,
    /// Where each top-level field's value was written, for later located findings.
    pub spans: BTreeMap<String, Span>,
}

/// Ray 2.40's message when more than one of `pip`, `uv` and `conda` is given (its first line).
pub const PIP_UV_CONDA: &str = "The 'pip' field, 'uv' field, and 'conda' field of runtime_env \
     cannot be specified at the same time.";

/// Ray 2.40's message for `container` or `image_uri` given with `others` (Python reprs).
fn image_conflict(field: &str, mut others: Vec<String>) -> String {
    // Ray prints a Python set (its order varies between runs); envc sorts it.
    others.sort();
    format!(
        "The '{field}' field currently cannot be used together with other fields of \
         runtime_env. Specified fields: {{{}}}",
        others.join(", ")
    )
}

/// Whether a `container` or `image_uri` value is truthy: then it takes the worker.
fn runs_in_image(value: Option<&Value>) -> bool {
    value.is_some_and(truthy)
}

/// The fields Ray 2.40's `RuntimeEnv.__init__` refuses together, on a runtime env's top-level
/// JSON (for merged environments): Ray's message for the first rule broken.
pub fn exclusive_fields(fields: &Map<String, Value>) -> Option<String> {
    let installers = ["pip", "uv", "conda"];
    if installers
        .iter()
        .filter(|k| fields.contains_key(**k))
        .count()
        > 1
    {
        return Some(PIP_UV_CONDA.to_string());
    }
    ["container", "image_uri"].into_iter().find_map(|field| {
        if !runs_in_image(fields.get(field)) {
            return None;
        }
        let others: Vec<String> = fields
            .keys()
            .filter(|k| !matches!(k.as_str(), "config" | "env_vars") && *k != field)
            .map(|k| py_str_repr(k))
            .collect();
        (!others.is_empty()).then(|| image_conflict(field, others))
    })
}

/// What Ray says to do when `pip` meets `conda`.
const CONDA_PIP_HELP: &str = "To use pip with conda, please only set the 'conda' field, and \
     specify your pip dependencies within the conda YAML config dict (a `pip:` list under \
     `dependencies:`)";

/// Ray 2.40's `RuntimeEnv.__init__` parameters: a `None` given to one of them is dropped.
const RAY_NAMED_FIELDS: &[&str] = &[
    "py_modules",
    "working_dir",
    "pip",
    "conda",
    "container",
    "env_vars",
    "worker_process_setup_hook",
    "nsight",
    "config",
    "mpi",
    "image_uri",
    "uv",
];

const KNOWN: &[&str] = &[
    "working_dir",
    "py_modules",
    "excludes",
    "pip",
    "conda",
    "env_vars",
    "container",
    "image_uri",
    "config",
];

impl RuntimeEnv {
    /// The normalised environment as JSON. Empty values are left out; pip is a plain list unless
    /// `pip_check: true` or a `pip_version` is set; a conda file is replaced by its content.
    pub fn to_value(&self) -> Value {
        let mut m = Map::new();
        if let Some(w) = &self.working_dir {
            m.insert("working_dir".into(), Value::String(w.raw.clone()));
        }
        if let Some(p) = &self.py_modules {
            let list = p.iter().map(|l| Value::String(l.raw.clone())).collect();
            m.insert("py_modules".into(), Value::Array(list));
        }
        if !self.excludes.is_empty() {
            m.insert("excludes".into(), strings(&self.excludes));
        }
        if let Some(pip) = &self.pip {
            let packages = dedup(&pip.packages);
            if !packages.is_empty() {
                let packages = strings(&packages);
                let value = if pip.pip_check == Some(true) || pip.pip_version.is_some() {
                    let mut o = Map::new();
                    o.insert("packages".into(), packages);
                    if pip.pip_check == Some(true) {
                        o.insert("pip_check".into(), Value::Bool(true));
                    }
                    if let Some(v) = &pip.pip_version {
                        o.insert("pip_version".into(), Value::String(v.clone()));
                    }
                    Value::Object(o)
                } else {
                    packages
                };
                m.insert("pip".into(), value);
            }
        }
        if let Some(c) = &self.conda {
            let v = match c {
                Conda::Inline(v) | Conda::File { content: v, .. } => v.clone(),
                Conda::Name(n) => Value::String(n.clone()),
            };
            m.insert("conda".into(), v);
        }
        if !self.env_vars.is_empty() {
            let vars = self
                .env_vars
                .iter()
                .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                .collect();
            m.insert("env_vars".into(), Value::Object(vars));
        }
        if let Some(c) = &self.container {
            m.insert("container".into(), c.clone());
        }
        if let Some(i) = &self.image_uri {
            m.insert("image_uri".into(), Value::String(i.clone()));
        }
        if !self.config.is_empty() {
            let mut o = Map::new();
            if let Some(t) = self.config.setup_timeout_seconds {
                o.insert("setup_timeout_seconds".into(), Value::from(t));
            }
            if let Some(e) = self.config.eager_install {
                o.insert("eager_install".into(), Value::Bool(e));
            }
            if let Some(l) = &self.config.log_files {
                o.insert("log_files".into(), strings(l));
            }
            m.insert("config".into(), Value::Object(o));
        }
        for (k, v) in &self.unknown {
            m.insert(k.clone(), v.clone());
        }
        Value::Object(m)
    }

    /// The canonical serialisation: compact JSON, keys sorted at every level.
    pub fn canonical_json(&self) -> String {
        // serde_json's map is a BTreeMap (no `preserve_order`): keys come out sorted.
        self.to_value().to_string()
    }
}

fn strings(v: &[String]) -> Value {
    Value::Array(v.iter().cloned().map(Value::String).collect())
}

/// Removes repeated entries, keeping the first occurrence (Ray's `OrderedDict.fromkeys`).
pub fn dedup(v: &[String]) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    v.iter()
        .filter(|s| seen.insert(s.as_str()))
        .cloned()
        .collect()
}

/// Reads (through the one input reader: `-` is stdin, a file over the size limit is E002, one
/// that is not UTF-8 E003), validates and normalises the runtime environment at `path`; relative
/// paths in it resolve against `cwd`. The environment is `None` when it has errors, all of them
/// among the diagnostics; `Err` only when the file cannot be read.
pub fn load(
    path: &Path,
    cwd: &Path,
    level: Level,
    ray: RayGeneration,
) -> Result<(Option<RuntimeEnv>, Vec<Diagnostic>), read::ReadError> {
    let file = match read::read(path, InputKind::RuntimeEnv)? {
        Ok(file) => file,
        Err(diags) => return Ok((None, diags)),
    };
    let mut diags = Diagnostics::new(file.clone());
    let env = parse(file, cwd, level, ray, &mut diags);
    Ok((env, diags.into_vec()))
}

/// Reads, validates and normalises a runtime environment. `None` when it has errors (all of
/// them are in `diags`); warnings never make it fail.
pub fn parse(
    file: Arc<SourceFile>,
    cwd: &Path,
    level: Level,
    ray: RayGeneration,
    diags: &mut Diagnostics,
) -> Option<RuntimeEnv> {
    let root = match yaml::parse(&file.text) {
        Ok(Some(root)) => root,
        Ok(None) => {
            diags
                .error(
                    codes::RTE_NOT_A_MAP,
                    Span::new(0, 0),
                    "runtime_env must be of type dict, got an empty file",
                )
                .help("write a JSON object, for example `{\"working_dir\": \".\"}`");
            return None;
        }
        Err(e) => {
            yaml::report(
                e,
                "a runtime environment is a JSON object or a YAML mapping",
                diags,
            );
            return None;
        }
    };
    let mut cx = Cx {
        text: &file.text,
        cwd,
        level,
        ray,
        diags,
        failed: false,
    };
    let env = cx.runtime_env(&root);
    if cx.failed {
        None
    } else {
        env
    }
}

struct Cx<'a> {
    text: &'a str,
    cwd: &'a Path,
    level: Level,
    ray: RayGeneration,
    diags: &'a mut Diagnostics,
    failed: bool,
}

/// A mapping entry: the key's text, the key node, the value node.
type Entry<'n> = (String, &'n Node, &'n Node);

impl Cx<'_> {
    fn error(&mut self, code: codes::Code, span: Span, message: String, help: String) {
        self.failed = true;
        self.diags.error(code, span, message).help(help);
    }

    /// A mapping's entries in source order; a repeated key is an error (JSON and YAML loaders
    /// would keep one silently).
    fn entries<'n>(&mut self, node: &'n Node) -> Vec<Entry<'n>> {
        let Kind::Map(items) = &node.kind else {
            return Vec::new();
        };
        let text = self.text;
        // A key that is not a scalar is named by its text as written.
        let key = |k: &Node, _: &mut Diagnostics| {
            Some(match &k.kind {
                Kind::Scalar { value, .. } => value.clone(),
                _ => text[k.span.start..k.span.end].to_string(),
            })
        };
        let out = yaml::entries(items, text, self.diags, key, String::as_str);
        // Every key is taken, so a shorter list means a repeated key was reported.
        self.failed |= out.len() < items.len();
        out.into_iter()
            .map(|e| (e.key, e.key_node, e.value))
            .collect()
    }

    fn runtime_env(&mut self, root: &Node) -> Option<RuntimeEnv> {
        if !matches!(root.kind, Kind::Map(_)) {
            self.error(
                codes::RTE_NOT_A_MAP,
                root.span,
                format!("runtime_env must be of type dict, got {}", py_type(root)),
                "write a JSON object (a YAML mapping) of fields, for example \
                 `{\"working_dir\": \".\", \"pip\": [\"requests\"]}`"
                    .into(),
            );
            return None;
        }
        let mut env = RuntimeEnv::default();
        let mut keys: Vec<(&str, Span)> = Vec::new();
        // Every field Ray's `RuntimeEnv` ends up holding, for the fields-that-exclude-others
        // rules: Ray drops a `None` given to one of its named parameters, but keeps a `None`
        // plugin field (it arrives in `**kwargs`).
        let mut given: Vec<(String, Span)> = Vec::new();
        for (key, knode, v) in self.entries(root) {
            if !v.is_null() || !RAY_NAMED_FIELDS.contains(&key.as_str()) {
                given.push((key.clone(), knode.span));
            }
            // Ray skips fields whose value is `None`.
            if v.is_null() {
                continue;
            }
            env.spans.insert(key.clone(), v.span);
            match key.as_str() {
                "working_dir" => env.working_dir = self.location(v, "working_dir"),
                "py_modules" => env.py_modules = self.py_modules(v),
                "excludes" => env.excludes = self.excludes(v),
                "pip" => {
                    keys.push(("pip", knode.span));
                    env.pip = self.pip(v);
                }
                "conda" => {
                    keys.push(("conda", knode.span));
                    env.conda = self.conda(v);
                }
                // Ray 2.40's `uv` (unknown to Ray 1): counted against `pip` and `conda`, then
                // kept unchecked.
                "uv" if self.ray == RayGeneration::V2 => {
                    keys.push(("uv", knode.span));
                    self.diags
                        .warning(
                            codes::RTE_UNKNOWN_FIELD,
                            knode.span,
                            "envc does not check the contents of `uv`: kept and passed on \
                             unchanged",
                        )
                        .help(
                            "Ray 2.40 takes a list of packages, a requirements file, or a \
                             mapping of `packages`, `uv_check` and `uv_version`",
                        );
                    env.unknown.insert(key, to_value(v));
                }
                "env_vars" => env.env_vars = self.env_vars(v),
                "container" => env.container = self.container(v),
                "image_uri" => env.image_uri = self.image_uri(v),
                "config" => env.config = self.config(v),
                _ => self.unknown_field(&mut env, key, knode, v),
            }
        }
        self.pip_and_conda(&env, &keys);
        if self.ray == RayGeneration::V2 {
            self.exclusive_images(&env, &given);
        }
        Some(env)
    }

    fn unknown_field(&mut self, env: &mut RuntimeEnv, key: String, knode: &Node, v: &Node) {
        let help = match crate::spec::suggest(&key, KNOWN) {
            Some(s) => format!("did you mean `{s}`?"),
            None => format!(
                "if `{key}` is a runtime-env plugin's field, ignore this warning; \
                 known fields are {}",
                KNOWN.join(", ")
            ),
        };
        self.diags
            .warning(
                codes::RTE_UNKNOWN_FIELD,
                knode.span,
                format!("unknown runtime_env field `{key}`: kept and passed on unchanged"),
            )
            .help(help);
        env.unknown.insert(key, to_value(v));
    }

    /// Ray 2.40's `RuntimeEnv.__init__`: a truthy `container`, else a truthy `image_uri`, runs
    /// the worker in that image, so no other field but `config` and `env_vars` may be given.
    fn exclusive_images(&mut self, env: &RuntimeEnv, given: &[(String, Span)]) {
        let container = env.container.clone();
        let image_uri = env.image_uri.clone().map(Value::String);
        let Some(field) = [("container", container), ("image_uri", image_uri)]
            .into_iter()
            .find(|(_, v)| runs_in_image(v.as_ref()))
            .map(|(f, _)| f)
        else {
            return;
        };
        let others: Vec<&(String, Span)> = given
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "config" | "env_vars") && k != field)
            .collect();
        let Some((_, at)) = others.first() else {
            return;
        };
        let names = others.iter().map(|(k, _)| py_str_repr(k)).collect();
        self.failed = true;
        self.diags
            .error(codes::RTE_CONFIG, *at, image_conflict(field, names))
            .label(format!("not allowed with `{field}`"))
            .help(format!(
                "the worker runs in the `{field}` image: install packages and code into that \
                 image (for example with `envc build` and `envc bake`), and keep only \
                 `{field}`, `config` and `env_vars` here"
            ));
    }

    fn pip_and_conda(&mut self, env: &RuntimeEnv, keys: &[(&str, Span)]) {
        if self.ray == RayGeneration::V2 {
            // Ray 2.40 tests presence of `pip`, `uv` and `conda`: at most one of them.
            if keys.len() < 2 {
                return;
            }
            let (second, at) = keys[1];
            let help = if keys.iter().any(|(k, _)| *k == "conda") {
                CONDA_PIP_HELP.to_string()
            } else {
                "keep one installer: `uv` (its packages are installed with uv pip) or `pip`, \
                 with every package in that one list"
                    .to_string()
            };
            self.failed = true;
            self.diags
                .error(codes::RTE_PIP_AND_CONDA, at, PIP_UV_CONDA)
                .label(format!("`{second}` after `{}`", keys[0].0))
                .help(help);
            return;
        }
        // Ray 1 tests the truthiness of `pip` and `conda` (it has no `uv`).
        let both = env.pip.as_ref().is_some_and(|p| !p.packages.is_empty())
            && env.conda.as_ref().is_some_and(|c| match c {
                Conda::Inline(v) | Conda::File { content: v, .. } => truthy(v),
                Conda::Name(n) => !n.is_empty(),
            });
        if both {
            let (_, at) = keys[keys.len() - 1];
            self.failed = true;
            self.diags
                .error(
                    codes::RTE_PIP_AND_CONDA,
                    at,
                    "The 'pip' field and 'conda' field of runtime_env cannot both be specified.",
                )
                .label("the second of the two")
                .help(CONDA_PIP_HELP);
        }
    }

    // --- working_dir and py_modules -----------------------------------------------------------

    fn location(&mut self, node: &Node, field: &str) -> Option<Location> {
        let py_modules = field == "py_modules";
        let Some(raw) = str_value(node) else {
            let msg = if py_modules {
                format!("`py_module` must be a string, got {}.", py_type(node))
            } else {
                format!("`working_dir` must be a string, got {}.", py_type(node))
            };
            self.error(
                codes::RTE_LOCATION,
                node.span,
                msg,
                "give a local path or a URI such as `s3://bucket/code.zip`, as a string".into(),
            );
            return None;
        };
        if let Some(scheme) = uri_scheme(raw) {
            return self.uri(node, raw, scheme, py_modules);
        }
        if self.level == Level::TaskOrActor {
            self.error(
                codes::RTE_LOCATION,
                node.span,
                format!(
                    "{raw} is not a valid URI. Passing directories or modules to be dynamically \
                     uploaded is only supported at the job level (i.e., passed to `ray.init`)."
                ),
                format!(
                    "set the local `{field}` in the job's runtime environment, or upload it and \
                     give its URI here"
                ),
            );
            return None;
        }
        let path = self.cwd.join(raw);
        let ext = |e: &str| raw.to_ascii_lowercase().ends_with(e) && path.is_file();
        let kind = if path.is_dir() {
            LocationKind::LocalDir(path)
        } else if ext(".zip") {
            LocationKind::LocalZip(path)
        } else if py_modules && self.ray == RayGeneration::V2 && ext(".whl") {
            LocationKind::LocalWheel(path)
        } else if py_modules && self.ray == RayGeneration::V2 && ext(".py") {
            LocationKind::LocalPy(path)
        } else {
            let allowed = if !py_modules {
                "a local `working_dir` is a directory or a `.zip` file"
            } else if self.ray == RayGeneration::V2 {
                "a local `py_modules` entry is a directory, a `.zip`, a `.whl` or a `.py` file"
            } else {
                "a local `py_modules` entry is a directory or a `.zip` file (Ray 1)"
            };
            let msg = if path.exists() {
                format!("{raw} is not a directory or a supported package file")
            } else {
                format!("directory {raw} must be an existing directory")
            };
            self.error(
                codes::RTE_LOCATION,
                node.span,
                msg,
                format!("{allowed}; relative paths are read from the current directory"),
            );
            return None;
        };
        Some(Location {
            raw: raw.to_string(),
            kind,
        })
    }

    fn uri(
        &mut self,
        node: &Node,
        raw: &str,
        scheme: String,
        py_modules: bool,
    ) -> Option<Location> {
        let supported: &[&str] = match self.ray {
            RayGeneration::V1 => &["gcs", "https", "s3", "gs"],
            RayGeneration::V2 => &["gcs", "https", "s3", "gs", "file"],
        };
        if !supported.contains(&scheme.as_str()) {
            // Ray lists its whole `Protocol` enum (checked against Ray 2.40: it includes the
            // internal conda/pip/uv package protocols).
            let listed: &[&str] = match self.ray {
                RayGeneration::V1 => supported,
                RayGeneration::V2 => &["gcs", "conda", "pip", "uv", "https", "s3", "gs", "file"],
            };
            let names: Vec<String> = listed
                .iter()
                .map(|s| format!("'{}'", s.to_ascii_uppercase()))
                .collect();
            let help = if scheme == "http" {
                "use `https://`".to_string()
            } else if scheme == "file" {
                "`file://` URIs need Ray 2 (`--ray 2`)".to_string()
            } else {
                format!(
                    "use one of {}:// (or give a local path at job level)",
                    supported.join("://, ")
                )
            };
            self.error(
                codes::RTE_URI,
                node.span,
                format!(
                    "Invalid protocol for runtime_env URI \"{raw}\". Supported protocols: [{}].",
                    names.join(", ")
                ),
                help,
            );
            return None;
        }
        if scheme != "gcs" {
            // Ray tests the name its `parse_uri` gives (`;params` of an https path cut, a
            // wheel's own file name), not the URI's text.
            let path = super::working_dir::remote_package_name(raw).unwrap_or_default();
            let wheels = py_modules && self.ray == RayGeneration::V2;
            let ok = path.ends_with(".zip") || (wheels && path.ends_with(".whl"));
            if !ok {
                let msg = if wheels {
                    "Only .zip or .whl files supported for remote URIs."
                } else {
                    "Only .zip files supported for remote URIs."
                };
                self.error(
                    codes::RTE_URI,
                    node.span,
                    msg.into(),
                    "point at a `.zip` archive holding one top-level directory (its contents \
                     become the directory); `envc package DIR -o code.zip` makes one"
                        .into(),
                );
                return None;
            }
        }
        Some(Location {
            raw: raw.to_string(),
            kind: LocationKind::Uri { scheme },
        })
    }

    fn py_modules(&mut self, node: &Node) -> Option<Vec<Location>> {
        let Kind::Seq(items) = &node.kind else {
            self.error(
                codes::RTE_LOCATION,
                node.span,
                format!(
                    "`py_modules` must be a list of strings, got {}.",
                    py_type(node)
                ),
                "write a list, even for one module: `[\"./my_module\"]`".into(),
            );
            return None;
        };
        let mut out = Vec::new();
        let mut ok = true;
        for item in items {
            match self.location(item, "py_modules") {
                Some(l) => out.push(l),
                None => ok = false,
            }
        }
        ok.then_some(out)
    }

    // --- excludes and env_vars ----------------------------------------------------------------

    fn excludes(&mut self, node: &Node) -> Vec<String> {
        let bad = match &node.kind {
            Kind::Seq(items) => items.iter().find(|i| str_value(i).is_none()),
            _ => Some(node),
        };
        if let Some(bad) = bad {
            let help = if std::ptr::eq(bad, node) {
                match str_value(node) {
                    Some(s) => format!("write a list, even for one pattern: `[\"{s}\"]`"),
                    None => "write a list of gitignore-style patterns".into(),
                }
            } else {
                format!("this entry is {}; every pattern is a string", py_type(bad))
            };
            self.error(
                codes::RTE_EXCLUDES,
                bad.span,
                format!(
                    "runtime_env['excludes'] must be of type List[str], got {}",
                    py_type(node)
                ),
                help,
            );
            return Vec::new();
        }
        let Kind::Seq(items) = &node.kind else {
            return Vec::new();
        };
        items
            .iter()
            .filter_map(|i| str_value(i).map(String::from))
            .collect()
    }

    fn env_vars(&mut self, node: &Node) -> Vec<(String, String)> {
        match &node.kind {
            Kind::Map(_) => {}
            // Ray tests `len(env_vars) == 0` first: an empty list or string is dropped.
            Kind::Seq(items) if items.is_empty() => return Vec::new(),
            Kind::Scalar { value, .. } if value.is_empty() => return Vec::new(),
            _ => {
                self.error(
                    codes::RTE_ENV_VARS,
                    node.span,
                    format!(
                        "runtime_env['env_vars'] must be of type Dict[str, str], got {}",
                        py_type(node)
                    ),
                    "write a mapping of names to string values: `{\"MY_VAR\": \"1\"}`".into(),
                );
                return Vec::new();
            }
        }
        let mut out = Vec::new();
        for (key, knode, v) in self.entries(node) {
            if str_value(knode).is_none() {
                self.error(
                    codes::RTE_ENV_VARS,
                    knode.span,
                    format!(
                        "runtime_env['env_vars'] must be of type Dict[str, str], but the key {} \
                         is of type {}",
                        py_str(knode),
                        py_type(knode)
                    ),
                    format!("quote the name: `\"{key}\"`"),
                );
                continue;
            }
            let Some(value) = str_value(v) else {
                let help = match &v.kind {
                    Kind::Scalar { value, .. } => {
                        format!("quote the value of `{key}`: `\"{key}\": \"{value}\"`")
                    }
                    _ => format!("the value of `{key}` must be a string"),
                };
                self.error(
                    codes::RTE_ENV_VARS,
                    v.span,
                    format!(
                        "runtime_env['env_vars'] must be of type Dict[str, str], but the value \
                         {} is of type {}",
                        py_str(v),
                        py_type(v)
                    ),
                    help,
                );
                continue;
            };
            out.push((key, value.to_string()));
        }
        out
    }

    // --- pip ----------------------------------------------------------------------------------

    fn pip(&mut self, node: &Node) -> Option<PipSpec> {
        let mut spec = PipSpec::default();
        if let Kind::Map(_) = node.kind {
            spec = self.pip_map(node)?;
        } else {
            match self.packages(node) {
                Packages::Read(packages, file) => {
                    spec.packages = packages;
                    spec.requirements_file = file;
                }
                Packages::Reported => return None,
                Packages::BadEntry(bad) => {
                    self.error(
                        codes::RTE_PIP,
                        bad.span,
                        format!(
                            "runtime_env['pip'] must be of type str or List[str], got {}",
                            py_type(node)
                        ),
                        format!(
                            "this entry is {}: every requirement is a string (quote it)",
                            py_type(bad)
                        ),
                    );
                    return None;
                }
                Packages::WrongType => {
                    self.error(
                        codes::RTE_PIP,
                        node.span,
                        format!(
                            "runtime_env['pip'] must be of type str or List[str], got {}",
                            py_type(node)
                        ),
                        "give a list of requirements (`[\"requests==2.31.0\"]`) or the path of a \
                     requirements file"
                            .into(),
                    );
                    return None;
                }
            }
        }
        spec.packages = dedup(&spec.packages);
        // Ray drops a pip field with no packages.
        (!spec.packages.is_empty()).then_some(spec)
    }

    fn pip_map(&mut self, node: &Node) -> Option<PipSpec> {
        let entries = self.entries(node);
        const FIELDS: &[&str] = &["packages", "pip_check", "pip_version"];
        if let Some((bad, k, _)) = entries
            .iter()
            .find(|(k, _, _)| !FIELDS.contains(&k.as_str()))
        {
            let got: Vec<String> = entries.iter().map(|(_, k, _)| py_repr(k)).collect();
            let help = match crate::spec::suggest(bad, FIELDS) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("remove `{bad}`"),
            };
            self.error(
                codes::RTE_PIP,
                k.span,
                format!(
                    "runtime_env['pip'] can only have these fields: packages, pip_check and \
                     pip_version, but got: [{}]",
                    got.join(", ")
                ),
                help,
            );
            return None;
        }
        let mut spec = PipSpec::default();
        let mut ok = true;
        let mut packages = None;
        for (key, _, v) in &entries {
            match key.as_str() {
                "pip_check" => match bool_value(v) {
                    Some(b) => spec.pip_check = Some(b),
                    None => {
                        ok = false;
                        self.error(
                            codes::RTE_PIP,
                            v.span,
                            format!(
                                "runtime_env['pip']['pip_check'] must be of type bool, got {}",
                                py_type(v)
                            ),
                            "write `true` or `false` (unquoted)".into(),
                        );
                    }
                },
                "pip_version" => match str_value(v) {
                    Some(s) => spec.pip_version = Some(s.to_string()),
                    None => {
                        ok = false;
                        self.error(
                            codes::RTE_PIP,
                            v.span,
                            format!(
                                "runtime_env['pip']['pip_version'] must be of type str, got {}",
                                py_type(v)
                            ),
                            "quote it, with its operator: `\"==23.3.1\"`".into(),
                        );
                    }
                },
                _ => packages = Some(*v),
            }
        }
        if !ok {
            return None;
        }
        let Some(p) = packages else {
            self.error(
                codes::RTE_PIP,
                node.span,
                format!(
                    "runtime_env['pip'] must include field 'packages', but got {}",
                    py_repr(node)
                ),
                "add `packages`: a list of requirements or the path of a requirements file".into(),
            );
            return None;
        };
        match self.packages(p) {
            Packages::Read(packages, file) => {
                spec.packages = packages;
                spec.requirements_file = file;
            }
            Packages::Reported => return None,
            Packages::BadEntry(bad) => {
                self.error(
                    codes::RTE_PIP,
                    bad.span,
                    format!(
                        "runtime_env['pip']['packages'] entries must be strings, got {}",
                        py_type(bad)
                    ),
                    "quote the requirement".into(),
                );
                return None;
            }
            Packages::WrongType => {
                self.error(
                    codes::RTE_PIP,
                    p.span,
                    format!(
                        "runtime_env['pip']['packages'] must be of type str of list, got: {}",
                        py_type(p)
                    ),
                    "give a list of requirements or the path of a requirements file".into(),
                );
                return None;
            }
        }
        Some(spec)
    }

    /// A pip package list as both `pip` and `pip.packages` accept it: the path of a
    /// requirements file, or a list of strings. The callers word the wrong shapes themselves.
    fn packages<'n>(&mut self, node: &'n Node) -> Packages<'n> {
        match &node.kind {
            Kind::Scalar { value, .. } if res(node) == Resolved::Str => {
                match self.requirements(node, value) {
                    Some(packages) => Packages::Read(packages, Some(self.cwd.join(value))),
                    None => Packages::Reported,
                }
            }
            Kind::Seq(items) => match items.iter().find(|i| str_value(i).is_none()) {
                Some(bad) => Packages::BadEntry(bad),
                None => Packages::Read(
                    items
                        .iter()
                        .filter_map(|i| str_value(i).map(String::from))
                        .collect(),
                    None,
                ),
            },
            _ => Packages::WrongType,
        }
    }

    /// A requirements file, read as Ray reads it: `read_text().strip().split("\n")`.
    fn requirements(&mut self, node: &Node, raw: &str) -> Option<Vec<String>> {
        let path = self.cwd.join(raw);
        if !path.is_file() {
            self.error(
                codes::RTE_PIP,
                node.span,
                format!("{} is not a valid file", py_path(raw)),
                format!(
                    "a string `pip` is the path of a requirements file, relative to the current \
                     directory; for one package write a list: `[\"{raw}\"]`"
                ),
            );
            return None;
        }
        match read::read_text(&path) {
            Ok(text) => Some(requirements_lines(&text)),
            Err(TextError::NotUtf8(_)) => {
                self.error(
                    codes::RTE_PIP,
                    node.span,
                    format!("{} is not UTF-8 text", py_path(raw)),
                    "save the requirements file as UTF-8".into(),
                );
                None
            }
            Err(e @ TextError::TooLarge { .. }) => {
                self.error(
                    codes::RTE_PIP,
                    node.span,
                    format!("{} could not be read: {e}", py_path(raw)),
                    "a requirements file has one requirement a line; this one is too large to \
                     be one"
                        .into(),
                );
                None
            }
            Err(e) => {
                self.error(
                    codes::RTE_PIP,
                    node.span,
                    format!("{} could not be read: {e}", py_path(raw)),
                    "check the file's permissions".into(),
                );
                None
            }
        }
    }

    // --- conda, container, image_uri, config -------------------------------------------------

    fn conda(&mut self, node: &Node) -> Option<Conda> {
        match &node.kind {
            Kind::Map(_) => Some(Conda::Inline(to_value(node))),
            Kind::Scalar { value, .. } if res(node) == Resolved::Str => {
                if !matches!(py_suffix(value), ".yaml" | ".yml") {
                    return Some(Conda::Name(value.clone()));
                }
                let path = self.cwd.join(value);
                if !path.is_file() {
                    self.error(
                        codes::RTE_CONDA,
                        node.span,
                        format!("Can't find conda YAML file {}.", py_path(value)),
                        "the path is read relative to the current directory; a string not \
                         ending in `.yaml`/`.yml` names an existing conda environment"
                            .into(),
                    );
                    return None;
                }
                let read = read::read_text(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| yaml::parse(&t).map_err(|e| e.message));
                match read {
                    Ok(root) => Some(Conda::File {
                        path,
                        content: root.as_ref().map_or(Value::Null, to_value),
                    }),
                    Err(e) => {
                        self.error(
                            codes::RTE_CONDA,
                            node.span,
                            format!("Failed to read conda file {}: {e}.", py_path(value)),
                            "the file must be a readable, UTF-8 `environment.yml`".into(),
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    codes::RTE_CONDA,
                    node.span,
                    format!(
                        "runtime_env['conda'] must be of type str or dict, got {}.",
                        py_type(node)
                    ),
                    "give an inline environment.yml mapping, a `.yaml` file or an environment's \
                     name"
                        .into(),
                );
                None
            }
        }
    }

    fn container(&mut self, node: &Node) -> Option<Value> {
        if let Kind::Map(_) = node.kind {
            self.entries(node);
            return Some(to_value(node));
        }
        self.error(
            codes::RTE_CONFIG,
            node.span,
            format!(
                "runtime_env['container'] must be of type dict, got {}",
                py_type(node)
            ),
            "write a mapping such as `{\"image\": \"repo/image:tag\"}`".into(),
        );
        None
    }

    fn image_uri(&mut self, node: &Node) -> Option<String> {
        if let Some(s) = str_value(node) {
            return Some(s.to_string());
        }
        self.error(
            codes::RTE_CONFIG,
            node.span,
            format!(
                "runtime_env['image_uri'] must be of type str, got {}",
                py_type(node)
            ),
            "give an image reference as a string".into(),
        );
        None
    }

    fn config(&mut self, node: &Node) -> RuntimeConfig {
        let mut config = RuntimeConfig::default();
        if !matches!(node.kind, Kind::Map(_)) {
            self.error(
                codes::RTE_CONFIG,
                node.span,
                format!(
                    "runtime_env['config'] must be of type dict or RuntimeEnvConfig, got: {}",
                    py_type(node)
                ),
                "write a mapping: `{\"setup_timeout_seconds\": 600, \"eager_install\": true}`"
                    .into(),
            );
            return config;
        }
        for (key, knode, v) in self.entries(node) {
            match key.as_str() {
                "setup_timeout_seconds" => match int_value(v) {
                    Some(t) if t > 0 || t == -1 => config.setup_timeout_seconds = Some(t),
                    Some(t) => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!(
                            "setup_timeout_seconds must be greater than zero or equals to -1, \
                             got: {t}"
                        ),
                        "give a number of seconds, or -1 for no timeout".into(),
                    ),
                    None => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!(
                            "setup_timeout_seconds must be of type int, got: {}",
                            py_type(v)
                        ),
                        "give a whole number of seconds (unquoted), or -1 for no timeout".into(),
                    ),
                },
                "eager_install" => match bool_value(v) {
                    Some(b) => config.eager_install = Some(b),
                    None => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!("eager_install must be a boolean. got {}", py_type(v)),
                        "write `true` or `false` (unquoted)".into(),
                    ),
                },
                "log_files" => match &v.kind {
                    _ if v.is_null() => {}
                    Kind::Seq(items) if items.iter().all(|i| str_value(i).is_some()) => {
                        config.log_files = Some(
                            items
                                .iter()
                                .filter_map(|i| str_value(i).map(String::from))
                                .collect(),
                        );
                    }
                    _ => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!(
                            "log_files must be a list of strings or None, got {} with type {}.",
                            py_str(v),
                            py_type(v)
                        ),
                        "write a list of file names".into(),
                    ),
                },
                _ => {
                    self.diags
                        .warning(
                            codes::RTE_UNKNOWN_CONFIG,
                            knode.span,
                            format!(
                                "The following unknown entries in the runtime_env_config \
                                 dictionary will be ignored: {{{}}}.",
                                py_repr(knode)
                            ),
                        )
                        .help("known entries are setup_timeout_seconds, eager_install, log_files");
                }
            }
        }
        config
    }
}

// --- Python's view of YAML values --------------------------------------------------------------

/// What a scalar loads as in Python: envc's YAML resolution, except that PyYAML reads `y`,
/// `Y`, `n` and `N` as strings, not booleans.
fn res(n: &Node) -> Resolved {
    match &n.kind {
        Kind::Scalar { value, .. } if matches!(value.as_str(), "y" | "Y" | "n" | "N") => {
            Resolved::Str
        }
        _ => n.resolved(),
    }
}

/// The string a scalar holds, when Python would load it as a `str`.
fn str_value(n: &Node) -> Option<&str> {
    match &n.kind {
        Kind::Scalar { value, .. } if res(n) == Resolved::Str => Some(value),
        _ => None,
    }
}

fn bool_value(n: &Node) -> Option<bool> {
    match &n.kind {
        Kind::Scalar { value, .. } if res(n) == Resolved::Bool => Some(matches!(
            value.as_str(),
            "true" | "True" | "TRUE" | "yes" | "Yes" | "YES" | "on" | "On" | "ON"
        )),
        _ => None,
    }
}

/// An integer scalar (not a boolean: envc refuses `true` as a number of seconds).
fn int_value(n: &Node) -> Option<i64> {
    match to_value(n) {
        Value::Number(x) if matches!(res(n), Resolved::DecimalInt | Resolved::OtherInt) => {
            x.as_i64()
        }
        _ => None,
    }
}

fn parse_int(raw: &str) -> Option<i128> {
    let (neg, u) = match raw.as_bytes().first() {
        Some(b'-') => (true, &raw[1..]),
        Some(b'+') => (false, &raw[1..]),
        _ => (false, raw),
    };
    let u = u.replace('_', "");
    let v = if let Some(h) = u.strip_prefix("0x") {
        i128::from_str_radix(h, 16).ok()?
    } else if let Some(o) = u.strip_prefix("0o") {
        i128::from_str_radix(o, 8).ok()?
    } else if let Some(b) = u.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else {
        u.parse().ok()?
    };
    Some(if neg { -v } else { v })
}

fn parse_float(raw: &str) -> f64 {
    let l = raw.to_ascii_lowercase();
    match l.trim_start_matches('+') {
        ".inf" => f64::INFINITY,
        "-.inf" => f64::NEG_INFINITY,
        ".nan" => f64::NAN,
        s => s.replace('_', "").parse().unwrap_or(f64::NAN),
    }
}

/// The node as the JSON value Python would load (YAML 1.1 booleans included).
pub(crate) fn to_value(n: &Node) -> Value {
    match &n.kind {
        Kind::Seq(items) => Value::Array(items.iter().map(to_value).collect()),
        Kind::Map(items) => {
            let mut m = Map::new();
            for (k, v) in items {
                let key = match &k.kind {
                    Kind::Scalar { value, .. } => value.clone(),
                    _ => to_value(k).to_string(),
                };
                m.insert(key, to_value(v));
            }
            Value::Object(m)
        }
        Kind::Scalar { value, .. } => match res(n) {
            Resolved::Null => Value::Null,
            Resolved::Bool => Value::Bool(bool_value(n).unwrap_or(false)),
            Resolved::DecimalInt | Resolved::OtherInt => match parse_int(value) {
                Some(i) if i64::try_from(i).is_ok() => Value::from(i as i64),
                Some(i) if u64::try_from(i).is_ok() => Value::from(i as u64),
                _ => Value::String(value.clone()),
            },
            Resolved::Float => serde_json::Number::from_f64(parse_float(value))
                .map_or_else(|| Value::String(value.clone()), Value::Number),
            Resolved::Str => Value::String(value.clone()),
        },
    }
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Python's `type(x)` of what the node loads as.
pub(crate) fn py_type(n: &Node) -> &'static str {
    match &n.kind {
        Kind::Seq(_) => "<class 'list'>",
        Kind::Map(_) => "<class 'dict'>",
        Kind::Scalar { .. } => match res(n) {
            Resolved::Null => "<class 'NoneType'>",
            Resolved::Bool => "<class 'bool'>",
            Resolved::DecimalInt | Resolved::OtherInt => "<class 'int'>",
            Resolved::Float => "<class 'float'>",
            Resolved::Str => "<class 'str'>",
        },
    }
}

/// Python's `str(x)` (an f-string's `{x}`).
fn py_str(n: &Node) -> String {
    match str_value(n) {
        Some(s) => s.to_string(),
        None => py_repr(n),
    }
}

/// Python's `repr(x)`.
pub(crate) fn py_repr(n: &Node) -> String {
    match &n.kind {
        Kind::Seq(items) => {
            let v: Vec<String> = items.iter().map(py_repr).collect();
            format!("[{}]", v.join(", "))
        }
        Kind::Map(items) => {
            let v: Vec<String> = items
                .iter()
                .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                .collect();
            format!("{{{}}}", v.join(", "))
        }
        Kind::Scalar { value, .. } => match res(n) {
            Resolved::Str => py_str_repr(value),
            Resolved::Null => "None".into(),
            Resolved::Bool => if bool_value(n) == Some(true) {
                "True"
            } else {
                "False"
            }
            .into(),
            Resolved::DecimalInt | Resolved::OtherInt => match parse_int(value) {
                Some(i) => i.to_string(),
                None => value.clone(),
            },
            Resolved::Float => py_float(parse_float(value)),
        },
    }
}

fn py_str_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::from(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || (0x7f..0xa0).contains(&(c as u32)) => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

fn py_float(f: f64) -> String {
    if f.is_nan() {
        return "nan".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "inf" } else { "-inf" }.into();
    }
    let a = f.abs();
    if a != 0.0 && !(1e-4..1e16).contains(&a) {
        let s = format!("{f:e}");
        let (m, e) = s.split_once('e').unwrap_or((&s, "0"));
        let (sign, digits) = match e.strip_prefix('-') {
            Some(d) => ('-', d),
            None => ('+', e),
        };
        return format!("{m}e{sign}{digits:0>2}");
    }
    let s = format!("{f}");
    if s.contains('.') {
        s
    } else {
        format!("{s}.0")
    }
}

/// `str(pathlib.Path(raw))`: empty and `.` components dropped, repeated slashes collapsed.
pub(crate) fn py_path(raw: &str) -> String {
    let prefix = if raw.starts_with("//") && !raw.starts_with("///") {
        "//"
    } else if raw.starts_with('/') {
        "/"
    } else {
        ""
    };
    let parts: Vec<&str> = raw
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect();
    let joined = parts.join("/");
    if prefix.is_empty() && joined.is_empty() {
        ".".into()
    } else {
        format!("{prefix}{joined}")
    }
}

/// `pathlib.Path(raw).suffix`.
fn py_suffix(raw: &str) -> &str {
    let name = raw.trim_end_matches('/').rsplit('/').next().unwrap_or("");
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => &name[i..],
        _ => "",
    }
}

/// The scheme of a string Python's `urlparse` sees as a URI (lower case), if any.
pub(crate) fn uri_scheme(raw: &str) -> Option<String> {
    let i = raw.find(':')?;
    let scheme = &raw[..i];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| scheme.to_ascii_lowercase())
}

/// A requirements file's entries as Ray reads them: universal newlines (Python's text mode),
/// then `text.strip().split("\n")`; blank and comment lines are kept.
pub fn requirements_lines(text: &str) -> Vec<String> {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let py_space = |c: char| c.is_whitespace() || ('\x1c'..='\x1f').contains(&c);
    text.trim_matches(py_space)
        .split('\n')
        .map(String::from)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::Diagnostic;

    fn run_in(
        cwd: &Path,
        text: &str,
        level: Level,
        ray: RayGeneration,
    ) -> (Option<RuntimeEnv>, Vec<Diagnostic>) {
        let file = Arc::new(SourceFile::new("env.yaml", text));
        let mut d = Diagnostics::new(file.clone());
        let env = parse(file, cwd, level, ray, &mut d);
        (env, d.into_vec())
    }

    fn run(text: &str) -> (Option<RuntimeEnv>, Vec<Diagnostic>) {
        run_in(
            Path::new("/nonexistent-envc-cwd"),
            text,
            Level::Job,
            RayGeneration::V2,
        )
    }

    /// The single error's code, message and 1-based line:column.
    fn error(text: &str) -> (codes::Code, String, usize, usize) {
        error_with(text, Level::Job, RayGeneration::V2)
    }

    fn error_with(
        text: &str,
        level: Level,
        ray: RayGeneration,
    ) -> (codes::Code, String, usize, usize) {
        let (env, diags) = run_in(Path::new("/nonexistent-envc-cwd"), text, level, ray);
        assert!(env.is_none(), "{text}: accepted");
        let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
        assert_eq!(errors.len(), 1, "{text}: {errors:?}");
        let d = errors[0];
        let lc = d.file.line_col(d.span.unwrap().start);
        (d.code, d.message.clone(), lc.line, lc.column)
    }

    fn ok(text: &str) -> RuntimeEnv {
        let (env, diags) = run(text);
        assert!(!diags.iter().any(Diagnostic::is_error), "{text}: {diags:?}");
        env.unwrap()
    }

    #[test]
    fn pip_messages_are_rays() {
        assert_eq!(
            error(r#"{"pip": {"packages": ["a"], "foo": 1}}"#),
            (
                codes::RTE_PIP,
                "runtime_env['pip'] can only have these fields: packages, pip_check and pip_version, but got: ['packages', 'foo']".into(),
                1,
                29
            )
        );
        assert_eq!(
            error(r#"{"pip": {"pip_check": false}}"#).1,
            "runtime_env['pip'] must include field 'packages', but got {'pip_check': False}"
        );
        assert_eq!(
            error(r#"{"pip": 1}"#),
            (
                codes::RTE_PIP,
                "runtime_env['pip'] must be of type str or List[str], got <class 'int'>".into(),
                1,
                9
            )
        );
        assert_eq!(
            error(r#"{"pip": ["a", 2]}"#),
            (
                codes::RTE_PIP,
                "runtime_env['pip'] must be of type str or List[str], got <class 'list'>".into(),
                1,
                15
            )
        );
        assert_eq!(
            error(r#"{"pip": "requirements.txt"}"#).1,
            "requirements.txt is not a valid file"
        );
        assert_eq!(
            error(r#"{"pip": "./reqs//r.txt"}"#).1,
            "reqs/r.txt is not a valid file"
        );
        assert_eq!(
            error(r#"{"pip": {"packages": ["a"], "pip_check": "yes"}}"#).1,
            "runtime_env['pip']['pip_check'] must be of type bool, got <class 'str'>"
        );
        assert_eq!(
            error(r#"{"pip": {"packages": ["a"], "pip_version": 23}}"#).1,
            "runtime_env['pip']['pip_version'] must be of type str, got <class 'int'>"
        );
        assert_eq!(
            error(r#"{"pip": {"packages": 3}}"#).1,
            "runtime_env['pip']['packages'] must be of type str of list, got: <class 'int'>"
        );
    }

    #[test]
    fn pip_is_deduplicated_and_empty_dropped() {
        let env = ok(r#"{"pip": ["b", "a", "b"]}"#);
        assert_eq!(env.pip.unwrap().packages, ["b", "a"]);
        assert!(ok(r#"{"pip": []}"#).pip.is_none());
        assert!(ok(r#"{"pip": {"packages": [], "pip_version": "==23.1"}}"#)
            .pip
            .is_none());
        let env = ok("pip:\n  packages: [x]\n  pip_check: false\n  pip_version: '==23.1'\n");
        let pip = env.pip.unwrap();
        assert_eq!(pip.pip_check, Some(false));
        assert_eq!(pip.pip_version.as_deref(), Some("==23.1"));
    }

    #[test]
    fn requirements_file_is_read_like_ray() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("req.txt"),
            "\n\nrequests\r\n# comment\n\nrequests\nchess  \n\n",
        )
        .unwrap();
        let (env, diags) = run_in(
            dir.path(),
            r#"{"pip": "req.txt"}"#,
            Level::Job,
            RayGeneration::V2,
        );
        assert!(diags.is_empty(), "{diags:?}");
        let pip = env.unwrap().pip.unwrap();
        assert_eq!(pip.packages, ["requests", "# comment", "", "chess"]);
        assert_eq!(pip.requirements_file, Some(dir.path().join("req.txt")));
        assert_eq!(requirements_lines(""), [""]);
        let (env, _) = run_in(
            dir.path(),
            r#"{"pip": {"packages": "req.txt", "pip_check": true}}"#,
            Level::Job,
            RayGeneration::V2,
        );
        assert_eq!(
            env.unwrap().canonical_json(),
            r##"{"pip":{"packages":["requests","# comment","","chess"],"pip_check":true}}"##
        );
    }

    #[test]
    fn conda_messages_and_forms() {
        assert_eq!(
            error(r#"{"conda": ["x"]}"#),
            (
                codes::RTE_CONDA,
                "runtime_env['conda'] must be of type str or dict, got <class 'list'>.".into(),
                1,
                11
            )
        );
        assert_eq!(
            error(r#"{"conda": "./envs/environment.yml"}"#).1,
            "Can't find conda YAML file envs/environment.yml."
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("env.yaml"), "dependencies: [numpy]\n").unwrap();
        std::fs::write(dir.path().join("bad.yaml"), "a: [1\n").unwrap();
        let (env, _) = run_in(
            dir.path(),
            r#"{"conda": "env.yaml"}"#,
            Level::Job,
            RayGeneration::V2,
        );
        assert_eq!(
            env.unwrap().canonical_json(),
            r#"{"conda":{"dependencies":["numpy"]}}"#
        );
        let (env, diags) = run_in(
            dir.path(),
            r#"{"conda": "bad.yaml"}"#,
            Level::Job,
            RayGeneration::V2,
        );
        assert!(env.is_none());
        assert!(
            diags[0]
                .message
                .starts_with("Failed to read conda file bad.yaml: "),
            "{}",
            diags[0].message
        );
        assert_eq!(
            ok(r#"{"conda": "my-env"}"#).conda,
            Some(Conda::Name("my-env".into()))
        );
        assert!(matches!(
            ok(r#"{"conda": {"dependencies": ["numpy"]}}"#).conda,
            Some(Conda::Inline(_))
        ));
    }

    #[test]
    fn pip_and_conda_v1_truthiness_v2_presence() {
        let text = r#"{"pip": [], "conda": "x"}"#;
        let (code, msg, line, col) = error_with(text, Level::Job, RayGeneration::V2);
        assert_eq!(code, codes::RTE_PIP_AND_CONDA);
        assert_eq!(msg, PIP_UV_CONDA);
        assert_eq!((line, col), (1, 13));
        let (env, diags) = run_in(Path::new("/"), text, Level::Job, RayGeneration::V1);
        assert!(diags.is_empty(), "{diags:?}");
        assert_eq!(env.unwrap().canonical_json(), r#"{"conda":"x"}"#);
        let both = r#"{"pip": ["a"], "conda": "x"}"#;
        assert_eq!(
            error_with(both, Level::Job, RayGeneration::V1),
            (
                codes::RTE_PIP_AND_CONDA,
                "The 'pip' field and 'conda' field of runtime_env cannot both be specified.".into(),
                1,
                16
            )
        );
        // A null field is absent (Ray skips `None`).
        assert!(ok(r#"{"pip": null, "conda": "x"}"#).pip.is_none());
    }

    /// Issue 7, item 9: Ray 2.40 refuses these (messages from `RuntimeEnv.__init__`).
    #[test]
    fn fields_ray_refuses_together() {
        // `uv` counts like `pip` and `conda`, by presence; a null is absent.
        for text in [
            r#"{"pip": ["a"], "uv": ["b"]}"#,
            r#"{"uv": [], "pip": ["a"]}"#,
            r#"{"uv": "req.txt", "conda": "x"}"#,
        ] {
            let (code, msg, _, _) = error(text);
            assert_eq!(
                (code, msg.as_str()),
                (codes::RTE_PIP_AND_CONDA, PIP_UV_CONDA),
                "{text}"
            );
        }
        assert_eq!(
            error(r#"{"pip": ["a"], "uv": ["b"]}"#),
            (codes::RTE_PIP_AND_CONDA, PIP_UV_CONDA.into(), 1, 16)
        );
        let (env, diags) = run(r#"{"uv": null, "pip": ["a"]}"#);
        assert!(env.is_some() && diags.is_empty(), "{diags:?}");
        // Ray 1 has no `uv`: a plugin field, warned about and kept.
        let (env, diags) = run_in(
            Path::new("/"),
            r#"{"pip": ["a"], "uv": ["b"]}"#,
            Level::Job,
            RayGeneration::V1,
        );
        assert!(env.is_some(), "{diags:?}");
        assert_eq!(
            diags.iter().map(|d| d.code).collect::<Vec<_>>(),
            [codes::RTE_UNKNOWN_FIELD]
        );

        // A truthy `image_uri` or `container` allows only `config` and `env_vars` besides.
        let image = "The 'image_uri' field currently cannot be used together with other fields \
                     of runtime_env. Specified fields: ";
        for (text, fields, col) in [
            (r#"{"image_uri": "r/i:1", "pip": ["a"]}"#, "{'pip'}", 24),
            (r#"{"image_uri": "r/i:1", "pip": []}"#, "{'pip'}", 24),
            (
                r#"{"image_uri": "r/i:1", "py_modules": []}"#,
                "{'py_modules'}",
                24,
            ),
            (
                r#"{"working_dir": "s3://b/w.zip", "image_uri": "r/i:1", "excludes": ["x"]}"#,
                "{'excludes', 'working_dir'}",
                2,
            ),
            // A null plugin field stays in Ray's kwargs.
            (r#"{"image_uri": "r/i:1", "foo": null}"#, "{'foo'}", 24),
        ] {
            assert_eq!(
                error(text),
                (codes::RTE_CONFIG, format!("{image}{fields}"), 1, col),
                "{text}"
            );
        }
        assert_eq!(
            error(r#"{"container": {"image": "x"}, "image_uri": "r/i:1"}"#).1,
            "The 'container' field currently cannot be used together with other fields of \
             runtime_env. Specified fields: {'image_uri'}"
        );
        for text in [
            r#"{"image_uri": "r/i:1", "env_vars": {"A": "1"}, "config": {"eager_install": true}}"#,
            r#"{"image_uri": "r/i:1", "working_dir": null}"#,
            r#"{"image_uri": "", "pip": ["a"]}"#,
            r#"{"container": {}, "pip": ["a"]}"#,
        ] {
            let (env, diags) = run(text);
            assert!(env.is_some(), "{text}: {diags:?}");
        }
        // Ray 1 has neither rule.
        let (env, _) = run_in(
            Path::new("/"),
            r#"{"image_uri": "r/i:1", "pip": ["a"]}"#,
            Level::Job,
            RayGeneration::V1,
        );
        assert!(env.is_some());
    }

    #[test]
    fn env_vars_messages() {
        assert_eq!(
            error("env_vars:\n  A: a\n  B: 1\n"),
            (
                codes::RTE_ENV_VARS,
                "runtime_env['env_vars'] must be of type Dict[str, str], but the value 1 is of type <class 'int'>".into(),
                3,
                6
            )
        );
        assert_eq!(
            error(r#"{"env_vars": {"A": true}}"#).1,
            "runtime_env['env_vars'] must be of type Dict[str, str], but the value True is of type <class 'bool'>"
        );
        assert_eq!(
            error("env_vars:\n  1: a\n"),
            (
                codes::RTE_ENV_VARS,
                "runtime_env['env_vars'] must be of type Dict[str, str], but the key 1 is of type <class 'int'>".into(),
                2,
                3
            )
        );
        assert_eq!(
            error(r#"{"env_vars": ["A=1"]}"#).1,
            "runtime_env['env_vars'] must be of type Dict[str, str], got <class 'list'>"
        );
        assert_eq!(
            error(r#"{"env_vars": {"A": "1", "A": "2"}}"#).0,
            codes::DUPLICATE_KEY
        );
        let env = ok(r#"{"env_vars": {"B": "1", "A": "x"}}"#);
        assert_eq!(
            env.env_vars,
            [("B".into(), "1".into()), ("A".into(), "x".into())]
        );
        assert!(ok(r#"{"env_vars": {}}"#).env_vars.is_empty());
        assert_eq!(ok(r#"{"env_vars": {}}"#).canonical_json(), "{}");
    }

    #[test]
    fn excludes_must_be_a_list() {
        assert_eq!(
            error(r#"{"excludes": "*.csv"}"#),
            (
                codes::RTE_EXCLUDES,
                "runtime_env['excludes'] must be of type List[str], got <class 'str'>".into(),
                1,
                14
            )
        );
        assert_eq!(
            error(r#"{"excludes": ["a", 1]}"#).1,
            "runtime_env['excludes'] must be of type List[str], got <class 'list'>"
        );
        assert_eq!(
            ok(r#"{"excludes": ["*.csv", "/x"]}"#).excludes,
            ["*.csv", "/x"]
        );
    }

    #[test]
    fn working_dir_rules() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("code")).unwrap();
        std::fs::write(dir.path().join("code.zip"), b"PK").unwrap();
        std::fs::write(dir.path().join("m.whl"), b"PK").unwrap();
        std::fs::write(dir.path().join("m.py"), b"").unwrap();
        let job = |t: &str, ray| run_in(dir.path(), t, Level::Job, ray);
        let env = job(r#"{"working_dir": "code"}"#, RayGeneration::V2)
            .0
            .unwrap();
        assert_eq!(
            env.working_dir.unwrap().kind,
            LocationKind::LocalDir(dir.path().join("code"))
        );
        let env = job(r#"{"working_dir": "./code.zip"}"#, RayGeneration::V2)
            .0
            .unwrap();
        assert!(matches!(
            env.working_dir.unwrap().kind,
            LocationKind::LocalZip(_)
        ));
        let (env, d) = job(r#"{"working_dir": "missing"}"#, RayGeneration::V2);
        assert!(env.is_none());
        assert_eq!(
            d[0].message,
            "directory missing must be an existing directory"
        );
        assert_eq!(d[0].code, codes::RTE_LOCATION);

        // Remote URIs.
        for uri in [
            "s3://bucket/code.zip",
            "gs://b/c.zip",
            "https://example.com/c.zip?x=1",
            "gcs://_ray_pkg_0a62fe483960e4e9.zip",
        ] {
            let env = ok(&format!(r#"{{"working_dir": "{uri}"}}"#));
            assert!(env.working_dir.unwrap().is_uri());
        }
        assert_eq!(
            error(r#"{"working_dir": "s3://bucket/code.tar.gz"}"#),
            (
                codes::RTE_URI,
                "Only .zip files supported for remote URIs.".into(),
                1,
                17
            )
        );
        let (code, msg, ..) = error(r#"{"working_dir": "ftp://h/c.zip"}"#);
        assert_eq!(code, codes::RTE_URI);
        assert_eq!(
            msg,
            "Invalid protocol for runtime_env URI \"ftp://h/c.zip\". Supported protocols: ['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE']."
        );
        // file:// is Ray 2 only.
        assert!(ok(r#"{"working_dir": "file:///tmp/c.zip"}"#)
            .working_dir
            .is_some());
        let (code, msg, ..) = error_with(
            r#"{"working_dir": "file:///tmp/c.zip"}"#,
            Level::Job,
            RayGeneration::V1,
        );
        assert_eq!(code, codes::RTE_URI);
        assert!(
            msg.ends_with("Supported protocols: ['GCS', 'HTTPS', 'S3', 'GS']."),
            "{msg}"
        );

        // Task/actor level: URIs only.
        assert_eq!(
            error_with(r#"{"working_dir": "."}"#, Level::TaskOrActor, RayGeneration::V2),
            (
                codes::RTE_LOCATION,
                ". is not a valid URI. Passing directories or modules to be dynamically uploaded is only supported at the job level (i.e., passed to `ray.init`).".into(),
                1,
                17
            )
        );
        assert!(run_in(
            dir.path(),
            r#"{"working_dir": "s3://b/c.zip"}"#,
            Level::TaskOrActor,
            RayGeneration::V2
        )
        .0
        .is_some());
        assert_eq!(
            error(r#"{"working_dir": 3}"#).1,
            "`working_dir` must be a string, got <class 'int'>."
        );

        // py_modules: V2 adds .whl and .py, locally and (whl) remotely.
        let text = r#"{"py_modules": ["code", "m.whl", "m.py", "s3://b/m.whl"]}"#;
        let (env, d) = job(text, RayGeneration::V2);
        assert!(d.is_empty(), "{d:?}");
        let kinds: Vec<_> = env
            .unwrap()
            .py_modules
            .unwrap()
            .into_iter()
            .map(|l| l.kind)
            .collect();
        assert!(matches!(kinds[1], LocationKind::LocalWheel(_)));
        assert!(matches!(kinds[2], LocationKind::LocalPy(_)));
        let (env, d) = job(text, RayGeneration::V1);
        assert!(env.is_none());
        let msgs: Vec<_> = d.iter().map(|d| d.message.as_str()).collect();
        assert_eq!(
            msgs,
            [
                "m.whl is not a directory or a supported package file",
                "m.py is not a directory or a supported package file",
                "Only .zip files supported for remote URIs.",
            ]
        );
        assert_eq!(
            error(r#"{"py_modules": ["s3://b/m.tar"]}"#).1,
            "Only .zip or .whl files supported for remote URIs."
        );
        assert_eq!(
            error(r#"{"py_modules": "s3://b/m.zip"}"#).1,
            "`py_modules` must be a list of strings, got <class 'str'>."
        );
        assert!(ok(r#"{"py_modules": []}"#)
            .py_modules
            .is_some_and(|p| p.is_empty()));
    }

    #[test]
    fn config_rules() {
        let env = ok(r#"{"config": {"setup_timeout_seconds": -1, "eager_install": false}}"#);
        assert_eq!(env.config.setup_timeout_seconds, Some(-1));
        assert_eq!(env.config.eager_install, Some(false));
        assert_eq!(
            error(r#"{"config": {"setup_timeout_seconds": 0}}"#),
            (
                codes::RTE_CONFIG,
                "setup_timeout_seconds must be greater than zero or equals to -1, got: 0".into(),
                1,
                38
            )
        );
        assert_eq!(
            error(r#"{"config": {"setup_timeout_seconds": "600"}}"#).1,
            "setup_timeout_seconds must be of type int, got: <class 'str'>"
        );
        assert_eq!(
            error(r#"{"config": {"eager_install": "yes"}}"#).1,
            "eager_install must be a boolean. got <class 'str'>"
        );
        assert_eq!(
            error(r#"{"config": []}"#).1,
            "runtime_env['config'] must be of type dict or RuntimeEnvConfig, got: <class 'list'>"
        );
        let (env, d) = run(r#"{"config": {"foo": 1}}"#);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].code, codes::RTE_UNKNOWN_CONFIG);
        assert_eq!(
            d[0].message,
            "The following unknown entries in the runtime_env_config dictionary will be ignored: {'foo'}."
        );
        assert_eq!(env.unwrap().canonical_json(), "{}");
    }

    #[test]
    fn not_a_map_unknown_fields_and_other_types() {
        assert_eq!(
            error("- a\n- b\n"),
            (
                codes::RTE_NOT_A_MAP,
                "runtime_env must be of type dict, got <class 'list'>".into(),
                1,
                1
            )
        );
        assert_eq!(error("").0, codes::RTE_NOT_A_MAP);
        assert_eq!(error("\"x\"").0, codes::RTE_NOT_A_MAP);
        assert_eq!(error("{").0, codes::YAML_SYNTAX);
        let (env, d) = run("working_directory: x\nmy_plugin: {a: 1}\n");
        let env = env.unwrap();
        assert_eq!(d.len(), 2);
        assert!(d.iter().all(|d| d.code == codes::RTE_UNKNOWN_FIELD));
        assert_eq!(d[0].help.as_deref(), Some("did you mean `working_dir`?"));
        assert_eq!(
            env.canonical_json(),
            r#"{"my_plugin":{"a":1},"working_directory":"x"}"#
        );
        assert_eq!(
            error(r#"{"image_uri": 1}"#).1,
            "runtime_env['image_uri'] must be of type str, got <class 'int'>"
        );
        assert_eq!(
            error(r#"{"container": "img"}"#).1,
            "runtime_env['container'] must be of type dict, got <class 'str'>"
        );
    }

    #[test]
    fn canonical_form() {
        let a = ok(
            r#"{"pip": ["b", "a", "b"], "env_vars": {"Y": "1", "X": "2"}, "excludes": [], "conda": null}"#,
        );
        let b = ok("env_vars:\n  X: '2'\n  Y: '1'\npip: [b, a]\n");
        assert_eq!(a.canonical_json(), b.canonical_json());
        assert_eq!(
            a.canonical_json(),
            r#"{"env_vars":{"X":"2","Y":"1"},"pip":["b","a"]}"#
        );
        let c = ok(
            r#"{"pip": {"packages": ["b", "a"], "pip_check": false}, "env_vars": {"X": "2", "Y": "1"}}"#,
        );
        assert_eq!(a.canonical_json(), c.canonical_json());
        assert_eq!(ok("{}").canonical_json(), "{}");
        let d = ok(
            r#"{"pip": {"packages": ["a"], "pip_version": "==23.1"}, "config": {"eager_install": true}}"#,
        );
        assert_eq!(
            d.canonical_json(),
            r#"{"config":{"eager_install":true},"pip":{"packages":["a"],"pip_version":"==23.1"}}"#
        );
        assert_eq!(
            ok(r#"{"image_uri": "r/i:1", "env_vars": {"A": "1"}}"#).canonical_json(),
            r#"{"env_vars":{"A":"1"},"image_uri":"r/i:1"}"#
        );
    }

    #[test]
    fn python_reprs() {
        assert_eq!(py_str_repr("it's"), "\"it's\"");
        assert_eq!(py_str_repr("a'\"b"), "'a\\'\"b'");
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(1e20), "1e+20");
        assert_eq!(py_float(1.5e-7), "1.5e-07");
        assert_eq!(py_path("./a//b/"), "a/b");
        assert_eq!(py_path(""), ".");
        assert_eq!(py_suffix("x/env.YML"), ".YML");
        assert_eq!(py_suffix(".yaml"), "");
        assert_eq!(uri_scheme("S3://b/x.zip").as_deref(), Some("s3"));
        assert_eq!(uri_scheme("./a:b"), None);
    }
}
