//! Base images in the store: imported from an image source once, verified then (by the
//! layout's import), named in `index.json` as `envc.base/sha256-<manifest hex>` with the name
//! the spec wrote (`dev.envc.base.name`), and found again by that name
//! (`envc/bases/<sha256 of the name>`: which manifest it was last imported as) without reading
//! any layer.

use super::annotations::{base_ref, BASE_NAME, BASE_SOURCE};
use super::{entry_kind, EntryKind, Error, Store};
use crate::oci::archive::{choose_image, ImageSource, LayoutSource, SourceLocation};
use crate::oci::import::StoredImage;
use crate::oci::{
    self, canonical_json, Descriptor, Platform, ANNOTATION_REF_NAME, MEDIA_TYPE_MANIFEST,
};
use crate::types::digest::Digest;
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::PathBuf;

/// An imported base image's index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseEntry {
    /// The name it was first imported under (`dev.envc.base.name`).
    pub name: String,
    pub manifest: Descriptor,
}

/// A base in the store, ready for image assembly.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedBase {
    /// The base's index entry in the store (annotations include the ref and base name).
    pub manifest: Descriptor,
    /// The base's image config.
    pub config: Value,
    /// The base's layers. Docker layer media types are given as their OCI equivalents (same
    /// bytes, same digests), so they can go into an OCI manifest as they are.
    pub layers: Vec<Descriptor>,
    /// `rootfs.diff_ids` of the config, one per layer.
    pub diff_ids: Vec<Digest>,
    /// From the config (`architecture`, `os`, `variant`), else from the source's descriptor.
    pub platform: Option<Platform>,
    /// The store already had this base: only its small JSON blobs were read.
    pub reused: bool,
}

impl ImportedBase {
    fn new(manifest: Descriptor, image: StoredImage, reused: bool) -> ImportedBase {
        ImportedBase {
            manifest,
            config: image.config,
            layers: image.layers,
            diff_ids: image.diff_ids,
            platform: image.platform,
            reused,
        }
    }
}

impl Store {
    /// Every imported base, by ref.
    pub fn bases(&self) -> Result<Vec<BaseEntry>, Error> {
        let index = self.read_index()?;
        let mut out: Vec<BaseEntry> = index
            .entries
            .iter()
            .filter(|(_, d)| matches!(entry_kind(d), EntryKind::Base(_)))
            .map(|(_, d)| BaseEntry {
                name: d.annotations.get(BASE_NAME).cloned().unwrap_or_default(),
                manifest: d.clone(),
            })
            .collect();
        out.sort_by_key(|b| b.manifest.digest);
        Ok(out)
    }

    /// Imports a base image: verified once (every blob's digest and size, every layer's gzip,
    /// tar paths and diff_id), then trusted by digest. When the store already has this base
    /// and all its blobs, only small JSON blobs are read (`reused`). On any error nothing is
    /// added to `index.json`.
    pub fn import_base(
        &self,
        source: &SourceLocation,
        base_name: &str,
    ) -> Result<ImportedBase, Error> {
        let src = LayoutSource::open(source)?;
        let chosen = choose_image(&src, source.reference())?;
        self.import_base_from(&src, &chosen, base_name, None)
    }

    /// [`Store::import_base`] of the manifest `chosen` of an open source; `origin` is the
    /// registry repository it comes from, if it does (`dev.envc.base.source`).
    pub fn import_base_from(
        &self,
        src: &dyn ImageSource,
        chosen: &Descriptor,
        base_name: &str,
        origin: Option<&str>,
    ) -> Result<ImportedBase, Error> {
        if let Some(mut reused) = self.try_reuse(chosen)? {
            let origin_missing = origin.is_some_and(|o| {
                reused
                    .manifest
                    .annotations
                    .get(BASE_SOURCE)
                    .map(String::as_str)
                    != Some(o)
            });
            if self.base_map(base_name) != Some(chosen.digest) || origin_missing {
                let mut entry = reused.manifest.clone();
                if let Some(o) = origin {
                    entry.annotations.insert(BASE_SOURCE.into(), o.to_string());
                }
                reused.manifest = self.record_base(entry, base_name)?;
            }
            return Ok(reused);
        }
        let image = self.import_image(src, chosen)?;
        let mut annotations = BTreeMap::from([
            (ANNOTATION_REF_NAME.to_string(), base_ref(&chosen.digest)),
            (BASE_NAME.to_string(), base_name.to_string()),
        ]);
        if let Some(o) = origin {
            annotations.insert(BASE_SOURCE.to_string(), o.to_string());
        }
        let entry = Descriptor {
            media_type: chosen.media_type.clone(),
            digest: chosen.digest,
            size: chosen.size,
            annotations,
            platform: image.platform.clone(),
        };
        let manifest = self.record_base(entry, base_name)?;
        Ok(ImportedBase::new(manifest, image, false))
    }

    /// Records an image index whose manifests are all in the store already (imported with
    /// [`crate::oci::layout::Layout::import_image`]) as a base entry of its own, so `gc` keeps every platform and a
    /// push sends the index intact. `index_bytes` are written as they came.
    pub fn record_index(
        &self,
        index_bytes: &[u8],
        media_type: &str,
        base_name: &str,
    ) -> Result<Descriptor, Error> {
        self.start_writing()?;
        let (digest, size) = self.write_blob(index_bytes)?;
        let entry = Descriptor {
            media_type: media_type.to_string(),
            digest,
            size,
            annotations: BTreeMap::from([
                (ANNOTATION_REF_NAME.to_string(), base_ref(&digest)),
                (BASE_NAME.to_string(), base_name.to_string()),
            ]),
            platform: None,
        };
        let lock = self.lock()?;
        let mut index = self.read_index()?;
        let want = base_ref(&digest);
        if let Some((_, d)) = index
            .entries
            .iter()
            .find(|(_, d)| d.annotations.get(ANNOTATION_REF_NAME) == Some(&want))
        {
            return Ok(d.clone());
        }
        index.push(entry.clone());
        self.write_index(&lock, index)?;
        drop(lock);
        Ok(entry)
    }

    /// The base most recently imported under `base_name` (as the spec writes it), answered
    /// from the store's small JSON blobs (`reused` = true); `None` if there is none or its blobs
    /// are not all present (import it again).
    pub fn stored_base(&self, base_name: &str) -> Result<Option<ImportedBase>, Error> {
        let Some(digest) = self.base_map(base_name) else {
            return Ok(None);
        };
        let d = Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest,
            size: 0,
            annotations: BTreeMap::new(),
            platform: None,
        };
        self.try_reuse(&d)
    }

    /// `envc/bases/<sha256 of the name>`: which manifest a base name was last imported as.
    fn base_map_path(&self, base_name: &str) -> PathBuf {
        self.root()
            .join("envc")
            .join("bases")
            .join(Digest::of(base_name.as_bytes()).hex())
    }

    fn base_map(&self, base_name: &str) -> Option<Digest> {
        let bytes = fs::read(self.base_map_path(base_name)).ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        if v.get("name")?.as_str()? != base_name {
            return None;
        }
        v.get("manifest")?.as_str()?.parse().ok()
    }

    /// Under the lock: adds the base entry (unless the manifest already has one), then points
    /// `base_name` at it (`envc/bases/…`). Returns the entry as stored.
    /// Records an image the store assembled itself (all its blobs written by this store) as a
    /// base entry named `base_name`, so an engine can build on it (`oci:STORE:REF`).
    pub fn record_assembled_base(
        &self,
        manifest: &Descriptor,
        base_name: &str,
    ) -> Result<Descriptor, Error> {
        let entry = Descriptor {
            annotations: BTreeMap::from([
                (ANNOTATION_REF_NAME.to_string(), base_ref(&manifest.digest)),
                (BASE_NAME.to_string(), base_name.to_string()),
            ]),
            ..manifest.clone()
        };
        self.record_base(entry, base_name)
    }

    fn record_base(&self, entry: Descriptor, base_name: &str) -> Result<Descriptor, Error> {
        self.start_writing()?;
        let lock = self.lock()?;
        let mut index = self.read_index()?;
        let want = base_ref(&entry.digest);
        let existing = index
            .entries
            .iter_mut()
            .find(|(_, d)| d.annotations.get(ANNOTATION_REF_NAME) == Some(&want));
        let stored = match existing {
            // The entry stays as first recorded, except that it learns where it was pulled from.
            Some((_, d)) => match entry.annotations.get(BASE_SOURCE) {
                Some(o) if d.annotations.get(BASE_SOURCE) != Some(o) => {
                    d.annotations.insert(BASE_SOURCE.into(), o.clone());
                    let d = d.clone();
                    self.write_index(&lock, index)?;
                    d
                }
                _ => d.clone(),
            },
            None => {
                index.push(entry.clone());
                self.write_index(&lock, index)?;
                entry
            }
        };
        let map_dir = self.root().join("envc").join("bases");
        fs::create_dir_all(&map_dir).map_err(|e| oci::Error::io(&map_dir, e))?;
        let map = serde_json::json!({ "name": base_name, "manifest": stored.digest });
        self.write_file_atomically(&self.base_map_path(base_name), &canonical_json(&map)?)?;
        drop(lock);
        Ok(stored)
    }

    /// The base is in the store with all its blobs: answer from the store's small JSON blobs.
    fn try_reuse(&self, chosen: &Descriptor) -> Result<Option<ImportedBase>, Error> {
        let index = self.read_index()?;
        let want = base_ref(&chosen.digest);
        let Some((_, entry)) = index
            .entries
            .iter()
            .find(|(_, d)| d.annotations.get(ANNOTATION_REF_NAME) == Some(&want))
        else {
            return Ok(None);
        };
        let Some(image) = self.stored_image(entry)? else {
            return Ok(None);
        };
        Ok(Some(ImportedBase::new(entry.clone(), image, true)))
    }
}
