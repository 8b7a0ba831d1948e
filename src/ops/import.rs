//! `import`: an image built elsewhere (BuildKit, kaniko, docker, a CI job) recorded as a
//! revision of NAME. The image is kept byte for byte, so the revision's manifest digest is the
//! one its builder made and a registry serves; the spec's digest and canonical plan go beside
//! it, in the index entry's annotations, so `show`, `diff` and `rollback` treat it as any
//! revision. Before a blob is written, the image's first layers are compared (by diff_id) with
//! the spec's base, which must be in the store or given with `--base`; `--force` records it
//! anyway. The import verifies every blob as it copies (the layout's import); a refusal or a
//! corrupt archive leaves `index.json` as it was.

use super::build::BuildOutcome;
use super::{Error, Log};
use crate::oci::archive::{choose_image, LayoutSource};
use crate::oci::import::image_documents;
use crate::oci::{Descriptor, ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME};
use crate::store::annotations::{PLAN, SPEC_DIGEST};
use crate::store::{base_arg, Store};
use crate::types::name::EnvName;
use crate::Compiled;
use std::collections::BTreeMap;
use std::path::Path;

/// What to import.
#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// The image, in the `--base` grammar (`oci:`, `oci-archive:`, `docker-archive:`).
    pub image: String,
    /// The spec's base, when the store does not have it.
    pub base: Option<String>,
    /// Record the image even when it is not built on the spec's base.
    pub force: bool,
}

/// Why an image is not recorded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ImportRefused {
    #[error(
        "`{image}` is not built on the spec's base `{base}` ({digest}): its first layers are not \
         the base's; check the spec, or record it anyway with --force"
    )]
    NotOnBase {
        image: String,
        base: String,
        digest: String,
    },
    #[error(
        "the spec's base `{base}` is not in the store, so envc cannot check that `{image}` is \
         built on it: give the base with `--base SOURCE`, or record it unchecked with --force"
    )]
    BaseUnknown { image: String, base: String },
}

/// Imports the image into the store at `store_dir` (created when missing) as a revision of
/// `name`.
pub fn import(
    store_dir: &Path,
    name: &EnvName,
    compiled: &Compiled,
    options: &ImportOptions,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let location = base_arg::parse(&options.image)?;
    let existed = store_dir.exists();
    let store = Store::open_or_create(store_dir)?;
    let result = import_into(&store, name, compiled, options, &location, log);
    if result.is_err() && !existed && store.is_empty().unwrap_or(false) {
        let _ = std::fs::remove_dir_all(store_dir);
    }
    result
}

fn import_into(
    store: &Store,
    name: &EnvName,
    compiled: &Compiled,
    options: &ImportOptions,
    location: &crate::oci::archive::SourceLocation,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let plan = &compiled.plan;
    let base_name = plan.base.reference.clone();
    let base = match &options.base {
        Some(arg) => Some(store.import_base(&base_arg::parse(arg)?, &base_name)?),
        None => store.stored_base(&base_name)?,
    };
    let src = LayoutSource::open(location)?;
    let chosen = choose_image(&src, location.reference())?;
    // The small documents first: the base check costs no layer read and writes nothing.
    let diff_ids = image_documents(&src, &chosen)?.diff_ids;
    match &base {
        Some(b) => {
            let on_base = diff_ids.len() >= b.diff_ids.len()
                && diff_ids[..b.diff_ids.len()] == b.diff_ids[..];
            if !on_base {
                let refused = ImportRefused::NotOnBase {
                    image: options.image.clone(),
                    base: base_name.clone(),
                    digest: b.manifest.digest.to_string(),
                };
                if !options.force {
                    return Err(Error::ImportRefused(refused));
                }
                log.note(&format!("{refused} (recorded: --force)"));
            }
        }
        None if !options.force => {
            return Err(Error::ImportRefused(ImportRefused::BaseUnknown {
                image: options.image.clone(),
                base: base_name.clone(),
            }))
        }
        None => log.note(&format!(
            "the base `{base_name}` is not in the store; recorded unchecked (--force)"
        )),
    }
    let image = store.import_image(&src, &chosen)?;
    log.verbose(&format!(
        "imported {} ({} layers)",
        chosen.digest,
        image.layers.len()
    ));
    let mut annotations = BTreeMap::from([
        (SPEC_DIGEST.to_string(), plan.digest().to_string()),
        (PLAN.to_string(), plan.canonical_json()),
        (ANNOTATION_BASE_NAME.to_string(), base_name),
    ]);
    if let Some(b) = &base {
        annotations.insert(
            ANNOTATION_BASE_DIGEST.to_string(),
            b.manifest.digest.to_string(),
        );
    }
    if let Some(p) = &compiled.provenance {
        annotations.insert(
            crate::store::annotations::PROVENANCE.into(),
            serde_json::to_string(p)?,
        );
    }
    let entry = Descriptor {
        media_type: chosen.media_type.clone(),
        digest: chosen.digest,
        size: chosen.size,
        annotations,
        platform: image.platform.clone(),
    };
    let lock = store.lock()?;
    let commit = store.commit(&lock, name, entry)?;
    drop(lock);
    Ok(BuildOutcome::new(name, commit))
}
