//! Validation and normalisation of a Ray runtime environment given as JSON or YAML: the typed
//! result ([`RuntimeEnv`]), the walk over its top-level fields, and one file per field below.
//!
//! The input is read as every input is ([`load`]: `input::read`'s size cap and UTF-8 check, then
//! envc's spanned YAML tree; JSON is YAML), so every finding points at the value it is about. The rules and, where Ray has one, the message are Ray's own (see
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
//!
//! The files, as rattler-build's `stage0/parser/` cuts its recipe: `working_dir` (`working_dir`,
//! `py_modules` and `excludes`) and `uri` (the remote URIs they may name), `pip`, `conda`,
//! `env_vars`, `container` (`container` and `image_uri`), `config`, and `exclusive` (the rules
//! that refuse fields together). Each adds its methods to the one walk, `Cx`, so every field
//! reports into the same diagnostics with the same `failed` flag. How Python sees a YAML value
//! (`type()`, `repr()`, truthiness) is `runtime_env::python`.

mod conda;
mod config;
mod container;
mod env_vars;
pub mod exclusive;
mod pip;
#[cfg(test)]
mod tests;
pub(crate) mod uri;
mod working_dir;

/// For `runtime_env::validate::RayGeneration`, the path callers outside this folder still use.
pub use crate::runtime_env::generation::{RayGeneration, RayRules};

use crate::diag::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::input::read::{self, InputKind};
use crate::input::source::{SourceFile, Span};
use crate::input::yaml::{self, Kind, Node};
use crate::runtime_env::python::{py_type, to_value};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

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

/// The `pip` field, normalised.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PipSpec {
    /// Deduplicated, first occurrence kept; from a requirements file, its lines as Ray reads
    /// them (blank and `#` lines kept verbatim).
    pub packages: Vec<String>,
    pub pip_check: Option<bool>,
    pub pip_version: Option<String>,
    /// Ray 2.60's `pip_install_options` (no default: Ray inserts none).
    pub pip_install_options: Option<Vec<String>>,
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

/// Ray 2.60's: adds `py_executable` and `rocprof_sys` (stored as `_rocprof_sys`), drops `mpi`.
const RAY_2_60_NAMED_FIELDS: &[&str] = &[
    "py_modules",
    "py_executable",
    "working_dir",
    "pip",
    "conda",
    "container",
    "env_vars",
    "worker_process_setup_hook",
    "nsight",
    "rocprof_sys",
    "config",
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
    /// Whether `pip` names a package: an empty list is no `pip` (Ray's truthiness), so it is
    /// neither written nor merged over a parent's.
    pub(crate) fn has_pip(&self) -> bool {
        self.pip.as_ref().is_some_and(|p| !p.packages.is_empty())
    }

    /// The top-level fields this environment sets, sorted: exactly the keys [`Self::to_value`]
    /// writes (an empty `excludes`, `env_vars`, `config` or `pip` is no field). The merge
    /// rules and Ray's fields-that-exclude-others rules are about these names.
    pub fn field_names(&self) -> BTreeSet<&str> {
        let known = [
            ("working_dir", self.working_dir.is_some()),
            ("py_modules", self.py_modules.is_some()),
            ("excludes", !self.excludes.is_empty()),
            ("pip", self.has_pip()),
            ("conda", self.conda.is_some()),
            ("env_vars", !self.env_vars.is_empty()),
            ("container", self.container.is_some()),
            ("image_uri", self.image_uri.is_some()),
            ("config", !self.config.is_empty()),
        ];
        known
            .into_iter()
            .filter_map(|(name, set)| set.then_some(name))
            .chain(self.unknown.keys().map(String::as_str))
            .collect()
    }

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
        if let Some(pip) = self.pip.as_ref().filter(|_| self.has_pip()) {
            let packages = strings(&dedup(&pip.packages));
            let value = if pip.pip_check == Some(true)
                || pip.pip_version.is_some()
                || pip.pip_install_options.is_some()
            {
                let mut o = Map::new();
                o.insert("packages".into(), packages);
                if pip.pip_check == Some(true) {
                    o.insert("pip_check".into(), Value::Bool(true));
                }
                if let Some(v) = &pip.pip_version {
                    o.insert("pip_version".into(), Value::String(v.clone()));
                }
                if let Some(v) = &pip.pip_install_options {
                    o.insert("pip_install_options".into(), strings(v));
                }
                Value::Object(o)
            } else {
                packages
            };
            m.insert("pip".into(), value);
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
    ray: RayRules,
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
    ray: RayRules,
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
    ray: RayRules,
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
        let named: Vec<&str> = if self.ray.py_executable {
            RAY_2_60_NAMED_FIELDS
                .iter()
                .copied()
                .filter(|f| *f != "rocprof_sys" || self.ray.rocprof_sys)
                .chain((!self.ray.no_mpi).then_some("mpi"))
                .collect()
        } else {
            RAY_NAMED_FIELDS.to_vec()
        };
        for (key, knode, v) in self.entries(root) {
            if !v.is_null() || !named.contains(&key.as_str()) {
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
                // Ray 2.60's `uv`, checked as Ray checks it and kept as written.
                "uv" if self.ray.uv_install_options => {
                    keys.push(("uv", knode.span));
                    if self.uv_2_60(v) {
                        env.unknown.insert(key, to_value(v));
                    }
                }
                // Ray 2.40's `uv` (unknown to Ray 1): counted against `pip` and `conda`, then
                // kept unchecked.
                "uv" if self.ray.generation == RayGeneration::V2 => {
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
                // Ray 2.60's fields it passes on unchecked (`py_executable` is the command a
                // worker runs as Python).
                "py_executable" if self.ray.py_executable => {
                    env.unknown.insert(key, to_value(v));
                }
                "_rocprof_sys" if self.ray.rocprof_sys => {
                    env.unknown.insert(key, to_value(v));
                }
                "mpi" | "docker"
                    if (key == "mpi" && self.ray.no_mpi)
                        || (key == "docker" && self.ray.no_docker) =>
                {
                    self.diags
                        .warning(
                            codes::RTE_UNKNOWN_FIELD,
                            knode.span,
                            format!(
                                "`{key}` is no longer a Ray field (Ray dropped it by this release): kept and \
                                 passed on as a plugin field"
                            ),
                        )
                        .help(format!(
                            "Ray fails at run time unless a runtime-env plugin named `{key}` is \
                             installed; remove it, or use `--ray 2.40` for a cluster on that release"
                        ));
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
        if self.ray.generation == RayGeneration::V2 {
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
}
