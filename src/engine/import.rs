//! An engine's build, exported as a docker-archive, into the store: the base's layers are the
//! store's own blobs (matched by diff_id, never copied again), each new layer is normalised
//! as it streams out of the archive (entries sorted, every time the build epoch, build-time
//! records dropped under a [`DropPolicy`]: `oci::normalise`), the config keeps what the engine
//! set (`Env`, `User`, `Shell`, …) minus what only says where and when it ran, and envc's
//! metadata layer goes on top as on an assembled image, so `show` and `diff` read the plan
//! back the same way. Blobs only; the caller commits the revision.

use crate::assemble::{self, metadata_layer, rfc3339, PLAN_PATH};
use crate::oci::archive::{choose_image, ImageSource, LayoutSource, SourceLocation};
use crate::oci::docker_archive;
use crate::oci::import::image_documents;
use crate::oci::manifest::{diff_ids_of, json};
use crate::oci::normalise::{normalise_in_place, normalise_layer, DropPolicy};
use crate::oci::spec::{History, ImageConfig, RootFs};
use crate::oci::{self, layer, Compression, Descriptor};
use crate::plan::Plan;
use crate::store::annotations::{SPEC_DIGEST, VERSION};
use crate::store::base::ImportedBase;
use crate::store::Store;
use crate::types::digest::Digest;
use std::collections::BTreeMap;
use std::io::BufReader;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

/// Config fields that record only the machine and moment of a build: a container id, a
/// random hostname, the engine's parent image id, Docker's legacy copy of the run config.
const RUN_RECORDS: &[&str] = &["container", "container_config", "parent", "docker_version"];

/// Why a build's export cannot become a store image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Oci(#[from] oci::Error),
    #[error(transparent)]
    Image(#[from] assemble::Error),
    /// The built image does not start with the base's layers.
    #[error(
        "the engine's image is not built on the base `{base}` ({digest}): its first layers are \
         not the base's; was the Dockerfile's FROM replaced?"
    )]
    NotOnBase { base: String, digest: Digest },
    #[error("the engine's image config is not usable: {reason}")]
    Config { reason: String },
    #[error("interrupted")]
    Interrupted,
}

/// Where the export's layers are read from.
enum Layers {
    /// Offsets and sizes of plain-tar members of the archive.
    InPlace(Vec<(u64, u64)>),
    /// A verified image source and the manifest's layer descriptors.
    Source(Box<LayoutSource>, Vec<Descriptor>),
}

impl Layers {
    fn len(&self) -> usize {
        match self {
            Layers::InPlace(v) => v.len(),
            Layers::Source(_, v) => v.len(),
        }
    }
}

/// What to import.
pub struct Request<'a> {
    /// The engine's docker-archive.
    pub archive: &'a Path,
    pub base: &'a ImportedBase,
    /// The base as the spec names it.
    pub base_name: &'a str,
    pub plan: &'a Plan,
    pub policy: &'a DropPolicy,
    pub epoch: u64,
    pub compression: Compression,
    /// Index-entry annotations (the Dockerfile digest, the engine, the build id, …).
    pub annotations: BTreeMap<String, String>,
    /// Raised by a signal handler: the import stops between layers.
    pub stop: &'a AtomicBool,
}

/// The imported image.
#[derive(Debug, Clone)]
pub struct Imported {
    /// The manifest, with the annotations its store entry carries.
    pub manifest: Descriptor,
    /// Layers the build added (normalised).
    pub new_layers: usize,
    /// Paths dropped from them, per the policy.
    pub dropped: Vec<String>,
    /// Uncompressed bytes of the new layers read from the archive.
    pub bytes: u64,
}

/// Imports the build in `req.archive` into `store` (blobs only).
pub fn import_build(store: &Store, req: &Request<'_>) -> Result<Imported, Error> {
    // A classic docker-archive (what podman, buildah and docker < 25 save) is read in place:
    // no member is hashed up front, the base's layers are never read, and each new layer is
    // hashed (against its diff_id) and normalised in the same pass. Anything else goes
    // through the generic source, which verifies every member when it opens the archive.
    let (config_value, layers) = match docker_archive::first_image_unhashed(req.archive)? {
        Some(img) => {
            let config = json(&img.config, "the engine's image config")?;
            (config, Layers::InPlace(img.layers))
        }
        None => {
            let src = LayoutSource::open(&SourceLocation::DockerArchive {
                path: req.archive.to_path_buf(),
                reference: None,
            })?;
            let chosen = choose_image(&src, None)?;
            let docs = image_documents(&src, &chosen)?;
            (
                docs.config,
                Layers::Source(Box::new(src), docs.manifest.layers),
            )
        }
    };
    let diff_ids =
        diff_ids_of(&config_value, layers.len()).map_err(|reason| Error::Config { reason })?;
    let k = req.base.layers.len();
    if diff_ids.len() < k || diff_ids[..k] != req.base.diff_ids[..] {
        return Err(Error::NotOnBase {
            base: req.base_name.to_string(),
            digest: req.base.manifest.digest,
        });
    }

    store.start_writing()?;
    // The revision reuses the base's blobs: each is checked (once per file, through the
    // store's record of what it hashed), as an assembled image's are.
    for layer in &req.base.layers {
        store.check_layer(layer)?;
    }
    let options = layer::Options {
        mtime: req.epoch,
        compression: req.compression,
        gzip_level: assemble::GZIP_LEVEL,
        threads: 0,
        block_size: assemble::BLOCK_SIZE,
    };
    let scratch =
        tempfile::tempdir_in(store.tmp_dir()).map_err(|e| oci::Error::io(&store.tmp_dir(), e))?;
    let mut new_layers = Vec::new();
    let mut dropped = Vec::new();
    let mut bytes = 0;
    for (i, expected) in diff_ids.iter().enumerate().skip(k) {
        if req.stop.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let mut writer = store.blob_writer()?;
        let normalised = match &layers {
            Layers::InPlace(ranges) => {
                let (offset, size) = ranges[i];
                let (normalised, found) = normalise_in_place(
                    req.archive,
                    offset,
                    size,
                    req.policy,
                    &options,
                    &mut writer,
                )?;
                if found != *expected {
                    return Err(Error::Config {
                        reason: format!(
                            "layer {} of the engine's export is {found}, not the {expected} its \
                             config lists",
                            i + 1
                        ),
                    });
                }
                normalised
            }
            Layers::Source(src, descs) => {
                let layer_desc = &descs[i];
                let (reader, len) = src.open_blob(&layer_desc.digest)?;
                if len != layer_desc.size {
                    return Err(oci::Error::SizeMismatch {
                        what: src.describe_blob(&layer_desc.digest).display().to_string(),
                        expected: layer_desc.size,
                        found: len,
                    }
                    .into());
                }
                // The archive's members were hashed when it was opened; the stream is its bytes.
                let mut reader = BufReader::with_capacity(1 << 20, reader);
                normalise_layer(
                    &mut reader,
                    req.policy,
                    &options,
                    scratch.path(),
                    &mut writer,
                )?
            }
        };
        let (digest, size) = writer.finish()?;
        store.trust_written(&digest);
        bytes += normalised.written.uncompressed_size;
        dropped.extend(normalised.dropped);
        let desc = Descriptor {
            media_type: normalised.written.media_type.to_string(),
            digest,
            size,
            annotations: BTreeMap::new(),
            platform: None,
        };
        new_layers.push((desc, normalised.written.diff_id));
    }
    drop(scratch);

    let mut plan_bytes = req.plan.canonical_json().into_bytes();
    plan_bytes.push(b'\n');
    let assemble_options = assemble::Options {
        epoch: req.epoch,
        compression: req.compression,
    };
    let (meta, meta_diff_id) =
        metadata_layer(store, &[(PLAN_PATH, plan_bytes)], &assemble_options)?;

    let created = rfc3339(req.epoch);
    let mut config: ImageConfig =
        serde_json::from_value(config_value).map_err(|e| Error::Config {
            reason: format!("it is not an image config envc reads: {e}"),
        })?;
    for key in RUN_RECORDS {
        config.extra.remove(*key);
    }
    let mut run = config.config.take().flatten().unwrap_or_default();
    // A random name of the build container; an image's hostname is chosen at run time.
    run.extra.remove("Hostname");
    let mut labels = run.labels.take().flatten().unwrap_or_default();
    labels.insert(SPEC_DIGEST.into(), req.plan.digest().to_string());
    labels.insert(VERSION.into(), env!("CARGO_PKG_VERSION").into());
    run.labels = Some(Some(labels));
    config.config = Some(Some(run));
    let base_history = base_history_len(&req.base.config);
    let mut history = config.history.take().flatten().unwrap_or_default();
    for h in history.iter_mut().skip(base_history) {
        h.created = Some(Some(created.clone()));
        // buildah comments each step with the id of the intermediate image it started from,
        // which differs from build to build; it names nothing in the stored image.
        if h.comment
            .as_ref()
            .and_then(Option::as_deref)
            .is_some_and(is_intermediate_id)
        {
            h.comment = None;
        }
    }
    history.push(History::envc(
        &created,
        format!(
            "envc {}: metadata layer /{PLAN_PATH}",
            env!("CARGO_PKG_VERSION")
        ),
        "envc",
        false,
    ));
    config.history = Some(Some(history));
    let mut all_diff_ids = req.base.diff_ids.clone();
    let mut layers: Vec<Descriptor> = req
        .base
        .layers
        .iter()
        .map(|d| Descriptor {
            annotations: BTreeMap::new(),
            platform: None,
            ..d.clone()
        })
        .collect();
    let added = new_layers.len();
    for (desc, diff_id) in new_layers {
        layers.push(desc);
        all_diff_ids.push(diff_id);
    }
    layers.push(meta);
    all_diff_ids.push(meta_diff_id);
    config.rootfs = Some(Some(RootFs::layers(all_diff_ids)));
    config.created = Some(Some(created.clone()));
    let mut entry = req.annotations.clone();
    entry.insert(SPEC_DIGEST.into(), req.plan.digest().to_string());
    let image = assemble::write_image(
        store,
        &config,
        layers,
        (req.base_name, &req.base.manifest),
        &created,
        entry,
    )?;
    dropped.sort();
    dropped.dedup();
    Ok(Imported {
        manifest: image.manifest,
        new_layers: added,
        dropped,
        bytes,
    })
}

/// `FROM 48d48b9978b6`: buildah's record of an intermediate image.
fn is_intermediate_id(comment: &str) -> bool {
    comment.strip_prefix("FROM ").is_some_and(|id| {
        (12..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// How many history entries the base's config has (the engine's entries after them are the
/// build's own).
fn base_history_len(config: &serde_json::Value) -> usize {
    config
        .get("history")
        .and_then(serde_json::Value::as_array)
        .map_or(0, Vec::len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_intermediate_image_comments_are_dropped() {
        assert!(is_intermediate_id("FROM 48d48b9978b6"));
        assert!(is_intermediate_id(&format!("FROM {}", "a".repeat(64))));
        assert!(!is_intermediate_id("FROM localhost/anyscale/ray:2.9.0"));
        assert!(!is_intermediate_id("envc"));
        assert!(!is_intermediate_id("FROM abc"));
    }
}
