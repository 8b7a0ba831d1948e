//! Baking a Ray runtime environment into an image: the packaged `working_dir` (exactly the files
//! Ray would upload, after excludes and `.gitignore`s) becomes one deterministic layer at
//! [`WORKING_DIR`], owned by the image user; local `py_modules` directories go under
//! [`PY_MODULES`]; `Env` is what a Ray worker of the runtime env sees on a node with the base's
//! environment ([`worker_env`]: `env_vars` with `$VAR`s expanded as the base's Ray release
//! does, `PYTHONPATH` built as Ray's plugins build it), and `WorkingDir` the worker's current
//! directory. `pip` and
//! `conda` are not installed by baking: they need a build that runs code (the caller says so).
//! The code layer depends only on the files, so unchanged code gives the same layer digest.

use super::{compose, config_env, metadata_layer, Base, Edit, Error, Image, Options, PLAN_PATH};
use crate::oci::layer::{Entry, EntryKind, FileSource};
use crate::oci::Descriptor;
use crate::plan::Plan;
use crate::runtime_env::validate::{LocationKind, RuntimeEnv};
use crate::runtime_env::worker_env::{self, Expansion};
use crate::runtime_env::working_dir::{self, PackageKind, PackageOptions, RayPackagingEnv};
use crate::runtime_env::RayRules;
use crate::store::annotations::{RUNTIME_ENV_DIGEST, SPEC_DIGEST, WORKING_DIR_URI};
use crate::store::Store;
use crate::types::digest::Digest;
use std::collections::BTreeMap;
use std::path::Path;

/// Where the working directory is laid out in the image.
pub const WORKING_DIR: &str = "/opt/envc/working_dir";
/// Where local `py_modules` directories are laid out (each under its own name).
pub const PY_MODULES: &str = "/opt/envc/py_modules";
/// The runtime env, canonical, in the metadata layer.
pub const RUNTIME_ENV_PATH: &str = ".envc/runtime_env.json";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BakeError {
    #[error(transparent)]
    Image(#[from] Error),
    #[error("cannot package `{path}`: {source}")]
    Package {
        path: String,
        source: working_dir::Error,
    },
    #[error(
        "`{field}` is `{value}`, which is not a local directory: envc bakes local directories; \
         a URI or a .zip/.whl is fetched by Ray at run time"
    )]
    NotLocal { field: &'static str, value: String },
    #[error(
        "nothing to bake: the runtime env has no local `working_dir`, `py_modules` or `env_vars`"
    )]
    Nothing,
    #[error(
        "the runtime env's `{field}` runs Ray workers in `{image}`, not in the image baked onto: \
         bake onto a revision of that image, or leave `{field}` out"
    )]
    OtherImage { field: &'static str, image: String },
}

/// The uid and gid files should belong to: the plan's image user, else the config's numeric
/// `User`, else root.
fn owner(plan: &Plan, config: &serde_json::Value) -> (u32, u32) {
    if let Some(facts) = &plan.image {
        return (facts.uid, facts.gid);
    }
    let user = config
        .pointer("/config/User")
        .and_then(serde_json::Value::as_str)
        .unwrap_or("");
    let mut parts = user.split(':');
    let uid = parts.next().and_then(|u| u.parse().ok()).unwrap_or(0);
    let gid = parts.next().and_then(|g| g.parse().ok()).unwrap_or(0);
    (uid, gid)
}

fn dir(path: &str, uid: u32, gid: u32) -> Entry {
    Entry {
        path: path.into(),
        kind: EntryKind::Dir,
        mode: 0o755,
        uid,
        gid,
        xattrs: Default::default(),
    }
}

/// Adds the files of `root` (as Ray would package them) under `prefix` (no leading `/`).
fn add_tree(
    entries: &mut Vec<Entry>,
    root: &Path,
    prefix: &str,
    owner: (u32, u32),
    options: &PackageOptions,
    notes: &mut Vec<String>,
) -> Result<String, BakeError> {
    let contents = working_dir::contents(root, options).map_err(|source| BakeError::Package {
        path: root.display().to_string(),
        source,
    })?;
    notes.extend(contents.notes);
    entries.push(dir(prefix, owner.0, owner.1));
    for d in contents.empty_dirs {
        entries.push(dir(&format!("{prefix}/{d}"), owner.0, owner.1));
    }
    for (rel, abs) in contents.files {
        // Executable bits survive; everything else is normalised.
        let mode = std::fs::metadata(&abs)
            .map(|m| {
                use std::os::unix::fs::PermissionsExt;
                if m.permissions().mode() & 0o100 != 0 {
                    0o755
                } else {
                    0o644
                }
            })
            .unwrap_or(0o644);
        entries.push(Entry {
            path: format!("{prefix}/{rel}"),
            kind: EntryKind::File(FileSource::Path(abs)),
            mode,
            uid: owner.0,
            gid: owner.1,
            xattrs: Default::default(),
        });
    }
    Ok(contents.uri)
}

/// Whose packaging rules a bake follows: the Ray release and the variables Ray's packaging
/// reads (so the layer holds exactly what that Ray would upload).
#[derive(Debug, Clone, Copy)]
pub struct Rules<'a> {
    pub ray: RayRules,
    pub env: &'a RayPackagingEnv,
}

impl Rules<'_> {
    fn options(&self, env: &RuntimeEnv, kind: PackageKind) -> PackageOptions {
        PackageOptions {
            excludes: env.excludes.clone(),
            ray: self.ray,
            kind,
            env: self.env.clone(),
            ..PackageOptions::default()
        }
    }
}

/// What a bake produced.
#[derive(Debug)]
pub struct Baked {
    pub image: Image,
    /// Ray's URI of the working dir, when there is one.
    pub working_dir_uri: Option<String>,
    /// Where the working dir is in the image, when there is one.
    pub working_dir: Option<String>,
    /// Where each local `py_modules` directory is in the image, in the runtime env's order.
    pub py_modules: Vec<String>,
    pub notes: Vec<String>,
}

/// Bakes `env` onto `base` (a stored revision). `plan` is the base revision's plan.
pub fn bake(
    store: &Store,
    base: &Base,
    plan: &Plan,
    env: &RuntimeEnv,
    rules: &Rules<'_>,
    options: &Options,
) -> Result<Baked, BakeError> {
    // A worker of such a runtime env never runs in the baked image.
    if let Some(c) = env
        .container
        .as_ref()
        .filter(|c| c.as_object().is_some_and(|o| !o.is_empty()))
    {
        return Err(BakeError::OtherImage {
            field: "container",
            image: c
                .get("image")
                .and_then(serde_json::Value::as_str)
                .unwrap_or_default()
                .to_string(),
        });
    }
    if let Some(i) = env.image_uri.as_ref().filter(|i| !i.is_empty()) {
        return Err(BakeError::OtherImage {
            field: "image_uri",
            image: i.clone(),
        });
    }
    let owner = owner(plan, &base.config);
    let mut notes = Vec::new();
    let mut entries = vec![dir("opt", 0, 0), dir("opt/envc", 0, 0)];
    let mut working_dir = None;
    let mut working_dir_uri = None;
    if let Some(loc) = &env.working_dir {
        let LocationKind::LocalDir(path) = &loc.kind else {
            return Err(BakeError::NotLocal {
                field: "working_dir",
                value: loc.raw.clone(),
            });
        };
        let uri = add_tree(
            &mut entries,
            path,
            &WORKING_DIR[1..],
            owner,
            &rules.options(env, PackageKind::WorkingDir),
            &mut notes,
        )?;
        working_dir_uri = Some(uri);
        working_dir = Some(WORKING_DIR.to_string());
    }
    let modules: Vec<_> = env.py_modules.iter().flatten().collect();
    let has_modules = !modules.is_empty();
    let mut module_paths = Vec::new();
    if has_modules {
        entries.push(dir(&PY_MODULES[1..], owner.0, owner.1));
        for loc in modules {
            let LocationKind::LocalDir(path) = &loc.kind else {
                return Err(BakeError::NotLocal {
                    field: "py_modules",
                    value: loc.raw.clone(),
                });
            };
            let name = path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            add_tree(
                &mut entries,
                path,
                &format!("{}/{name}", &PY_MODULES[1..]),
                owner,
                &rules.options(env, PackageKind::PyModule),
                &mut notes,
            )?;
            module_paths.push(format!("{PY_MODULES}/{name}"));
        }
    }
    if entries.len() == 2 && env.env_vars.is_empty() {
        return Err(BakeError::Nothing);
    }

    let mut layers = Vec::new();
    if entries.len() > 2 {
        let (desc, diff_id) = code_layer(store, entries, options)?;
        layers.push((
            desc,
            diff_id,
            format!(
                "envc: runtime env files under /opt/envc (working_dir {})",
                working_dir_uri.as_deref().unwrap_or("-")
            ),
        ));
    }
    let runtime_json = env.canonical_json();
    let runtime_digest = Digest::of(runtime_json.as_bytes()).to_string();
    let mut plan_bytes = plan.canonical_json().into_bytes();
    plan_bytes.push(b'\n');
    let mut runtime_bytes = runtime_json.into_bytes();
    runtime_bytes.push(b'\n');
    let (meta, meta_diff_id) = metadata_layer(
        store,
        &[(PLAN_PATH, plan_bytes), (RUNTIME_ENV_PATH, runtime_bytes)],
        options,
    )?;
    layers.push((
        meta,
        meta_diff_id,
        format!(
            "envc {}: metadata layer /{PLAN_PATH}, /{RUNTIME_ENV_PATH}",
            env!("CARGO_PKG_VERSION")
        ),
    ));

    // Env: what a Ray worker of this runtime env sees on a node whose environment is the
    // base's (PYTHONPATH and `$VAR` expansion as the base's Ray release does them).
    let node: worker_env::Env = config_env(&base.config)
        .iter()
        .map(|kv| {
            kv.split_once('=')
                .map_or((kv.clone(), String::new()), |(k, v)| (k.into(), v.into()))
        })
        .collect();
    let ctx = worker_env::context_vars(
        &node,
        &env.env_vars,
        working_dir.as_deref(),
        has_modules.then_some(PY_MODULES),
    );
    let version = plan.base.ray_version.as_deref();
    let rule = match version.and_then(Expansion::for_ray_version) {
        Some(rule) => rule,
        None => {
            if ctx.iter().any(|(_, v)| v.contains('$')) {
                notes.push(format!(
                    "the base's Ray version is {}: `$VAR` in env_vars is expanded as Ray 2.7 \
                     and later do",
                    version.map_or("not recorded".to_string(), |v| format!("`{v}`"))
                ));
            }
            Expansion::ExpandVars
        }
    };
    if rule == Expansion::Literal {
        for (k, v) in &env.env_vars {
            if v.contains('$') {
                notes.push(format!(
                    "Ray {} sets env_vars literally: `{k}` keeps `{v}` as written",
                    version.unwrap_or_default()
                ));
            }
        }
    }
    let vars = worker_env::apply(&node, &ctx, rule);
    let mut empty_history: Vec<String> = ctx
        .iter()
        .filter_map(|(k, _)| vars.iter().find(|(n, _)| n == k))
        .map(|(k, v)| format!("ENV {k}={v}"))
        .collect();
    if let Some(d) = &working_dir {
        empty_history.push(format!("WORKDIR {d}"));
    }
    let spec_digest = plan.digest().to_string();
    let mut labels = vec![(RUNTIME_ENV_DIGEST.to_string(), runtime_digest.clone())];
    if let Some(uri) = &working_dir_uri {
        labels.push((WORKING_DIR_URI.to_string(), uri.clone()));
    }
    let mut annotations = BTreeMap::from([(RUNTIME_ENV_DIGEST.to_string(), runtime_digest)]);
    labels.push((SPEC_DIGEST.to_string(), spec_digest.clone()));
    annotations.insert(SPEC_DIGEST.to_string(), spec_digest);
    let baked_dir = working_dir.clone();
    let edit = Edit {
        env: vars.into_iter().map(|(k, v)| format!("{k}={v}")).collect(),
        labels,
        working_dir,
        empty_history,
        layers,
        annotations,
    };
    Ok(Baked {
        image: compose(store, base, edit, options)?,
        working_dir_uri,
        working_dir: baked_dir,
        py_modules: module_paths,
        notes,
    })
}

/// The runtime env a job on the baked image should pass so Ray uses the code in the image, and
/// what to know about it. Ray 2.60: `working_dir` and `py_modules` become `local://` URIs of
/// the baked paths (Ray uses a `local://` directory in place: no upload, no unpacking);
/// `excludes` go (they were applied when baking) and so do `env_vars` (baked into the image's
/// environment, where a second expansion could differ); every other field is kept, for Ray to
/// act on at run time. Before 2.60 Ray has no `local://`: the fields go, and the note says
/// what the image gives instead.
pub fn job_runtime_env(
    env: &RuntimeEnv,
    baked: &Baked,
    ray: RayRules,
) -> (serde_json::Value, String) {
    let mut v = env.to_value();
    let m = v.as_object_mut().expect("a runtime env is an object");
    for k in ["working_dir", "py_modules", "excludes", "env_vars"] {
        m.remove(k);
    }
    if ray.local_uri {
        if let Some(d) = &baked.working_dir {
            m.insert("working_dir".into(), format!("local://{d}").into());
        }
        if !baked.py_modules.is_empty() {
            let list = baked
                .py_modules
                .iter()
                .map(|p| format!("local://{p}").into())
                .collect();
            m.insert("py_modules".into(), serde_json::Value::Array(list));
        }
        let note = format!(
            "{ray}: pass this runtime env to jobs on the baked image; `local://` directories are \
             used in place on every node (nothing is uploaded); env_vars are in the image's \
             environment"
        );
        return (v, note);
    }
    let note = format!(
        "{ray} has no `local://` URIs, so a runtime env cannot point at the baked code: pass \
         this one (no working_dir, py_modules or env_vars); the baked directories are on the \
         image's PYTHONPATH, and the image's working directory is the working dir, which a \
         worker starts in only when Ray itself was started there (Ray 2.60 and `--ray 2.60` \
         make it exact)"
    );
    (v, note)
}

/// Streams the code layer into the store in one pass (files are read once, never buffered).
fn code_layer(
    store: &Store,
    entries: Vec<Entry>,
    options: &Options,
) -> Result<(Descriptor, Digest), BakeError> {
    Ok(super::stream_layer(store, entries, options)?)
}
