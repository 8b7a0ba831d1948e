//! Image assembly: a plan on top of a base image, as OCI blobs in the store. What a Dockerfile
//! build of the same plan would produce for the steps that need no execution: `ENV` values
//! expanded against the base image's `Env` and earlier variables (exactly as BuildKit expands
//! them), the base's user, working directory and platform kept, plus one small metadata layer
//! holding the canonical plan at [`PLAN_PATH`], so an image explains itself. Base layers are
//! reused by digest, never rewritten. Every JSON document is canonical and every time is the
//! build epoch, so the manifest digest is a pure function of (plan, base, epoch, compression).

use crate::oci::layer::{self, Compression, Entry, EntryKind, FileSource};
use crate::oci::spec::{History, ImageConfig, ImageManifest, RootFs};
use crate::oci::{
    self, canonical_json, Descriptor, ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME,
    ANNOTATION_CREATED, MEDIA_TYPE_CONFIG, MEDIA_TYPE_LAYER, MEDIA_TYPE_MANIFEST,
};
use crate::plan::{Plan, Step};
use crate::store::annotations::{SPEC_DIGEST, VERSION};
use crate::store::{self, Store};
use crate::types::digest::Digest;
use serde_json::Value;
pub mod hermetic;
pub mod packages;
pub mod runtime_env;

use std::collections::BTreeMap;

/// Where the metadata layer puts the canonical plan (`/.envc/plan.json` in the image).
pub const PLAN_PATH: &str = ".envc/plan.json";
/// gzip level and parallel-gzip block size of layers envc writes: part of their bytes.
pub const GZIP_LEVEL: u32 = 6;
pub const BLOCK_SIZE: usize = 1 << 20;

/// The base an image is assembled on (imported into the store beforehand).
#[derive(Debug, Clone)]
pub struct Base {
    /// The reference the spec names (`anyscale/ray:2.9.0-py310`, `localhost/busybox:1`).
    pub name: String,
    pub manifest: Descriptor,
    pub config: Value,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Seconds since the Unix epoch for every timestamp (SOURCE_DATE_EPOCH, or 0).
    pub epoch: u64,
    pub compression: Compression,
}

/// An assembled image, its blobs already in the store.
#[derive(Debug, Clone)]
pub struct Image {
    /// The manifest descriptor, with the annotations a store entry should carry.
    pub manifest: Descriptor,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(
        "this spec needs a container build to run {steps}; envc cannot assemble it without an engine yet: \
         use `envc dockerfile` and build the Dockerfile with BuildKit, docker, buildah or kaniko"
    )]
    NeedsExecution { steps: String },
    #[error("the base image's config is not usable: {reason}")]
    BaseConfig { reason: String },
    #[error(transparent)]
    Store(#[from] store::Error),
    #[error(transparent)]
    Layer(#[from] layer::Error),
}

/// A layout error is a store error: one variant, so callers map exit codes in one place.
impl From<oci::Error> for Error {
    fn from(e: oci::Error) -> Error {
        Error::Store(store::Error::Oci(e))
    }
}

/// The steps of `plan` that need a container to run, in words ("2 Debian packages, …").
pub fn steps_needing_execution(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::Env { .. } => None,
            Step::Debian { packages, .. } => Some(format!("{} Debian package(s)", packages.len())),
            Step::Conda { packages, .. } => Some(format!("{} conda package(s)", packages.len())),
            Step::Pip { packages, .. } => Some(format!("{} pip package(s)", packages.len())),
            Step::Run { command, .. } => {
                let first = command.lines().next().unwrap_or("");
                Some(format!("the post-build command `{first}`"))
            }
        })
        .collect()
}

/// The `ENV` steps applied to a base `Env` list (`K=V` strings), as a Dockerfile build applies
/// them: each value is expanded against the variables set so far; a redefined variable keeps
/// its position, a new one is appended.
pub fn apply_env(base_env: &[String], plan: &Plan) -> Vec<String> {
    let mut env: Vec<(String, String)> = base_env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    for step in &plan.steps {
        let Step::Env { vars } = step else { continue };
        for var in vars {
            let value = var.value.expand(|name| {
                env.iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            });
            let name = var.name.as_str();
            match env.iter_mut().find(|(k, _)| k == name) {
                Some(slot) => slot.1 = value,
                None => env.push((name.to_string(), value)),
            }
        }
    }
    env.into_iter().map(|(k, v)| format!("{k}={v}")).collect()
}

pub(crate) fn rfc3339(epoch: u64) -> String {
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(epoch);
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Writes a small metadata layer of `files` under `/.envc` (through the store's diff_id cache)
/// and returns its descriptor and diff_id.
pub(crate) fn metadata_layer(
    store: &Store,
    files: &[(&str, Vec<u8>)],
    options: &Options,
) -> Result<(Descriptor, Digest), Error> {
    let entries = || {
        let mut v = vec![Entry {
            path: ".envc".into(),
            kind: EntryKind::Dir,
            mode: 0o755,
            uid: 0,
            gid: 0,
            xattrs: Default::default(),
        }];
        v.extend(files.iter().map(|(path, bytes)| Entry {
            path: (*path).into(),
            kind: EntryKind::File(FileSource::Bytes(bytes.clone())),
            mode: 0o644,
            uid: 0,
            gid: 0,
            xattrs: Default::default(),
        }));
        v
    };
    let layer_options = |compression| layer::Options {
        mtime: options.epoch,
        compression,
        gzip_level: GZIP_LEVEL,
        threads: 1,
        block_size: BLOCK_SIZE,
    };
    // The layer is tiny: write it uncompressed first to learn its diff_id, then reuse a stored
    // blob for that diff_id if there is one, so nothing is ever recompressed.
    let mut tar = Vec::new();
    let plain = layer::write(entries(), &layer_options(Compression::None), &mut tar)?;
    let kind = options.compression.name();
    if let Some(found) = store.cached_layer(&plain.diff_id, kind) {
        // The cache maps a diff_id to a blob; the blob itself is checked before it is reused.
        store.check_cached_layer(&found, &plain.diff_id)?;
        return Ok((found, plain.diff_id));
    }
    let (bytes, media_type) = match options.compression {
        Compression::None => (tar, MEDIA_TYPE_LAYER),
        compressed => {
            let mut out = Vec::new();
            let w = layer::write(entries(), &layer_options(compressed), &mut out)?;
            (out, w.media_type)
        }
    };
    let (digest, size) = store.write_blob(&bytes)?;
    let desc = Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        annotations: BTreeMap::new(),
        platform: None,
    };
    store.cache_layer(&plain.diff_id, kind, &desc)?;
    Ok((desc, plain.diff_id))
}

/// Streams a layer of `entries` into the store in one pass (file contents are read once,
/// never buffered) and records its diff_id in the store's layer cache.
pub(crate) fn stream_layer(
    store: &Store,
    entries: Vec<Entry>,
    options: &Options,
) -> Result<(Descriptor, Digest), Error> {
    let (compression, media_type) = (options.compression, options.compression.layer_media_type());
    let mut blob = store.blob_writer()?;
    let (diff_id, digest, size) = if let Compression::None = compression {
        // The blob's digest is the diff_id: hash the layer once, in the blob writer.
        layer::write_uncompressed_unhashed(entries, options.epoch, &mut blob)?;
        let (digest, size) = blob.finish()?;
        (digest, digest, size)
    } else {
        let written = layer::write(
            entries,
            &layer::Options {
                mtime: options.epoch,
                compression,
                gzip_level: GZIP_LEVEL,
                threads: 0,
                block_size: BLOCK_SIZE,
            },
            &mut blob,
        )?;
        let (digest, size) = blob.finish()?;
        (written.diff_id, digest, size)
    };
    let desc = Descriptor {
        media_type: media_type.into(),
        digest,
        size,
        annotations: BTreeMap::new(),
        platform: None,
    };
    store.cache_layer(&diff_id, options.compression.name(), &desc)?;
    Ok((desc, diff_id))
}

/// What an image adds on top of its base: the final `Env`, labels, an optional working
/// directory, history entries for instructions without layers, and new layers (with their
/// diff_ids and a history line each). Both `assemble` (a cluster-env plan) and `bake` (a
/// runtime environment) describe their image this way; [`compose`] writes it.
pub(crate) struct Edit {
    pub env: Vec<String>,
    pub labels: Vec<(String, String)>,
    pub working_dir: Option<String>,
    pub empty_history: Vec<String>,
    pub layers: Vec<(Descriptor, Digest, String)>,
    /// Index-entry annotations (spec digest, base name and digest, …).
    pub annotations: BTreeMap<String, String>,
}

/// The `Env` list of a config (`K=V` strings).
pub(crate) fn config_env(config: &Value) -> Vec<String> {
    config
        .pointer("/config/Env")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Writes the config and manifest of `base` + `edit` into the store.
pub(crate) fn compose(
    store: &Store,
    base: &Base,
    edit: Edit,
    options: &Options,
) -> Result<Image, Error> {
    let created = rfc3339(options.epoch);
    if !base.config.is_object() {
        return Err(Error::BaseConfig {
            reason: "it is not a JSON object".into(),
        });
    }
    // Typed where envc reads or writes it, the rest kept as it came (`oci::spec`).
    let mut config: ImageConfig =
        serde_json::from_value(base.config.clone()).map_err(|e| Error::BaseConfig {
            reason: format!("it is not an image config envc reads: {e}"),
        })?;
    let mut diff_ids = config
        .rootfs
        .take()
        .flatten()
        .and_then(|r| r.diff_ids)
        .ok_or_else(|| Error::BaseConfig {
            reason: "it has no `rootfs.diff_ids`".into(),
        })?;
    if diff_ids.len() != base.layers.len() {
        return Err(Error::BaseConfig {
            reason: format!(
                "it lists {} diff_ids for {} layers",
                diff_ids.len(),
                base.layers.len()
            ),
        });
    }
    // config.config: Env, labels and working directory from the edit; everything else (User,
    // Entrypoint, Cmd…) is the base's, as a Dockerfile with only ENV steps leaves it.
    let mut run = config.config.take().flatten().unwrap_or_default();
    run.env = Some(Some(edit.env));
    let mut labels = run.labels.take().flatten().unwrap_or_default();
    labels.extend(edit.labels);
    labels.insert(VERSION.into(), env!("CARGO_PKG_VERSION").into());
    run.labels = Some(Some(labels));
    if let Some(dir) = edit.working_dir {
        run.working_dir = Some(Some(dir));
    }
    config.config = Some(Some(run));

    let mut history = config.history.take().flatten().unwrap_or_default();
    for line in edit.empty_history {
        history.push(History::envc(&created, line, "envc", true));
    }
    let mut layers: Vec<Descriptor> = base
        .layers
        .iter()
        // The store hands base layers over with OCI media types already (Docker's name the
        // same bytes); their annotations belong to the base's manifest, not to ours.
        .map(|d| Descriptor {
            annotations: BTreeMap::new(),
            platform: None,
            ..d.clone()
        })
        .collect();
    for (desc, diff_id, line) in edit.layers {
        history.push(History::envc(&created, line, "envc", false));
        diff_ids.push(diff_id);
        layers.push(desc);
    }
    config.history = Some(Some(history));
    config.rootfs = Some(Some(RootFs::layers(diff_ids)));
    config.created = Some(Some(created.clone()));
    write_image(
        store,
        &config,
        layers,
        (&base.name, &base.manifest),
        &created,
        edit.annotations,
    )
}

/// Writes `config` and the manifest of `layers` (on `base`, its name and its store entry,
/// created at `created`) into the store; the returned manifest descriptor carries `entry` plus
/// the base's name and digest,
/// the annotations of its store entry. Assembly and the engine bridge both end here, so a
/// revision's manifest has one shape whoever made its layers.
pub(crate) fn write_image(
    store: &Store,
    config: &ImageConfig,
    layers: Vec<Descriptor>,
    base: (&str, &Descriptor),
    created: &str,
    mut entry: BTreeMap<String, String>,
) -> Result<Image, Error> {
    let (base_name, base_manifest) = base;
    let (config_digest, config_size) = store.write_blob(&canonical_json(config)?)?;
    let config_desc = Descriptor {
        media_type: MEDIA_TYPE_CONFIG.into(),
        digest: config_digest,
        size: config_size,
        annotations: BTreeMap::new(),
        platform: None,
    };
    let base_annotations = [
        (ANNOTATION_BASE_NAME.to_string(), base_name.to_string()),
        (
            ANNOTATION_BASE_DIGEST.to_string(),
            base_manifest.digest.to_string(),
        ),
    ];
    let mut annotations = BTreeMap::from(base_annotations.clone());
    annotations.insert(ANNOTATION_CREATED.to_string(), created.to_string());
    let manifest = ImageManifest::new(config_desc.clone(), layers, annotations);
    let (digest, size) = store.write_blob(&canonical_json(&manifest)?)?;
    entry.extend(base_annotations);
    Ok(Image {
        manifest: Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest,
            size,
            annotations: entry,
            platform: base_manifest.platform.clone(),
        },
        config: config_desc,
        layers: manifest.layers,
    })
}

/// One history line per `ENV` variable of `plan` (they add no layer).
pub(crate) fn env_history(plan: &Plan) -> Vec<String> {
    plan.steps
        .iter()
        .filter_map(|s| match s {
            Step::Env { vars } => Some(vars),
            _ => None,
        })
        .flatten()
        .map(|v| format!("ENV {}={}", v.name.as_str(), v.value.canonical()))
        .collect()
}

/// Assembles `plan` on `base` into `store` (blobs only; the caller commits the revision).
pub fn assemble(
    store: &Store,
    plan: &Plan,
    base: &Base,
    options: &Options,
) -> Result<Image, Error> {
    let pending = steps_needing_execution(plan);
    if !pending.is_empty() {
        return Err(Error::NeedsExecution {
            steps: pending.join(", "),
        });
    }
    let spec_digest = plan.digest().to_string();
    let mut plan_bytes = plan.canonical_json().into_bytes();
    plan_bytes.push(b'\n');
    let (meta, meta_diff_id) = metadata_layer(store, &[(PLAN_PATH, plan_bytes)], options)?;
    let empty_history = env_history(plan);
    let edit = Edit {
        env: apply_env(&config_env(&base.config), plan),
        labels: vec![(SPEC_DIGEST.into(), spec_digest.clone())],
        working_dir: None,
        empty_history,
        layers: vec![(
            meta,
            meta_diff_id,
            format!(
                "envc {}: metadata layer /{PLAN_PATH}",
                env!("CARGO_PKG_VERSION")
            ),
        )],
        annotations: BTreeMap::from([(SPEC_DIGEST.to_string(), spec_digest)]),
    };
    compose(store, base, edit, options)
}

/// The plan of a revision: recorded beside it by `envc import` (whose image is kept as it
/// was built), else read from its image's metadata layer.
pub fn revision_plan(store: &Store, r: &store::Revision) -> Result<Plan, Error> {
    match r.annotation(store::annotations::PLAN) {
        Some(text) => Plan::from_json(text.as_bytes()).map_err(|e| Error::BaseConfig {
            reason: format!(
                "{}: the recorded plan is not a plan envc reads: {e}",
                r.reference()
            ),
        }),
        None => read_plan(store, &r.manifest.digest),
    }
}

/// Reads the plan back out of an image's metadata layer (its last layer), as a typed plan.
pub fn read_plan(store: &Store, manifest: &Digest) -> Result<Plan, Error> {
    let bad = |reason: String| Error::BaseConfig { reason };
    let digest = manifest;
    let manifest: Value = serde_json::from_slice(&store.read_json_blob(digest)?)
        .map_err(|e| bad(format!("manifest {digest} is not JSON: {e}")))?;
    /// As much of a manifest as this reads; a layer list that does not parse is an error,
    /// not a missing plan.
    #[derive(serde::Deserialize)]
    struct Layers {
        #[serde(default)]
        layers: Option<Vec<Descriptor>>,
    }
    let layers: Layers = serde_json::from_value(manifest).map_err(|e| {
        bad(format!(
            "manifest {digest}: its layers are not descriptors: {e}"
        ))
    })?;
    let last = layers
        .layers
        .and_then(|mut l| l.pop())
        .ok_or_else(|| bad("the manifest has no layers".into()))?;
    let path = store.blob_path(&last.digest);
    let file = std::fs::File::open(&path)
        .map_err(|e| bad(format!("cannot open {}: {e}", path.display())))?;
    // Hashed as it streams; nothing is trusted until the whole blob has matched its digest.
    let mut hashing = crate::oci::blob::HashingReader::new(file, true);
    let plan = {
        let buffered = std::io::BufReader::new(&mut hashing);
        let reader: Box<dyn std::io::Read + '_> = if last.media_type.ends_with("gzip") {
            Box::new(flate2::read::GzDecoder::new(buffered))
        } else if last.media_type.ends_with("zstd") {
            match crate::oci::zstd::decoder(buffered) {
                Ok(d) => Box::new(d),
                Err(e) => return Err(bad(format!("cannot read {}: {e}", path.display()))),
            }
        } else {
            Box::new(buffered)
        };
        plan_text(reader)
    };
    // The digest first: a flipped byte is a corrupt blob, whatever the parse made of it.
    std::io::copy(&mut hashing, &mut std::io::sink())
        .map_err(|e| bad(format!("cannot read {}: {e}", path.display())))?;
    hashing.check(&last.digest, last.size, &path)?;
    match plan.map_err(bad)? {
        Some(text) => Plan::from_json(text.as_bytes())
            .map_err(|e| bad(format!("/{PLAN_PATH} is not a plan envc reads: {e}"))),
        None => Err(bad(format!(
            "the image has no /{PLAN_PATH}: it was not built by envc"
        ))),
    }
}

/// The text of `PLAN_PATH` in a metadata layer's tar, if it has one.
fn plan_text(reader: impl std::io::Read) -> Result<Option<String>, String> {
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| format!("the metadata layer is not a tar: {e}"))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("the metadata layer is not a tar: {e}"))?;
        let is_plan = entry
            .path()
            .is_ok_and(|p| p == std::path::Path::new(PLAN_PATH));
        if is_plan {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text)
                .map_err(|e| format!("cannot read /{PLAN_PATH}: {e}"))?;
            return Ok(Some(text));
        }
    }
    Ok(None)
}
