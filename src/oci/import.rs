//! Copying an image from an [`ImageSource`] into a layout, verified once (every blob's digest
//! and size, every layer's gzip, tar paths and diff_id) and then trusted by digest, and reading
//! an image back when the layout already has all its blobs (only its small JSON blobs read).
//! Naming the image in `index.json` is the caller's.

use super::archive::ImageSource;
use super::blob::TempBlob;
use super::error::Error;
use super::layout::Layout;
use super::manifest::{
    diff_ids_of, is_config_type, json, layer_compression, oci_layer, platform_of, ParsedManifest,
};
use super::scan;
use super::{Descriptor, Platform};
use crate::types::digest::Digest;
use serde_json::Value;
use std::fs;

/// An image whose blobs are all in the layout.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredImage {
    /// The image config.
    pub config: Value,
    /// The layers. Docker layer media types are given as their OCI equivalents (same bytes,
    /// same digests), so they can go into an OCI manifest as they are.
    pub layers: Vec<Descriptor>,
    /// `rootfs.diff_ids` of the config, one per layer.
    pub diff_ids: Vec<Digest>,
    /// From the config (`architecture`, `os`, `variant`), else from the manifest's descriptor.
    pub platform: Option<Platform>,
}

impl Layout {
    /// Copies the image `chosen` (a manifest in `src`) into the layout: small JSON first, every
    /// check before any big read, each layer read once and written only if the layout lacks it.
    /// Adds nothing to `index.json`.
    pub fn import_image(
        &self,
        src: &dyn ImageSource,
        chosen: &Descriptor,
    ) -> Result<StoredImage, Error> {
        // Full import: small JSON first, every check before any big read.
        let manifest_bytes = src.read_json(chosen, "manifest")?;
        let parsed =
            ParsedManifest::parse(&manifest_bytes, &format!("manifest {}", chosen.digest))?;
        if !is_config_type(&parsed.config.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("config {}", parsed.config.digest),
                media_type: parsed.config.media_type.clone(),
            });
        }
        let compressions = parsed
            .layers
            .iter()
            .map(|l| {
                layer_compression(&l.media_type).ok_or_else(|| Error::UnknownMediaType {
                    what: format!("layer {}", l.digest),
                    media_type: l.media_type.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let config_bytes = src.read_json(&parsed.config, "config")?;
        let config: Value = json(&config_bytes, &format!("config {}", parsed.config.digest))?;
        let diff_ids = diff_ids_of(&config, parsed.layers.len())
            .map_err(|r| src.base_error(format!("config {}: {r}", parsed.config.digest)))?;

        self.start_writing()?;
        let n = parsed.layers.len();
        for (i, (layer, compression)) in parsed.layers.iter().zip(&compressions).enumerate() {
            let (reader, len) = src.open_blob(&layer.digest)?;
            let what = format!(
                "layer {} of {n} ({})",
                i + 1,
                src.describe_blob(&layer.digest).display()
            );
            if len != layer.size {
                return Err(Error::SizeMismatch {
                    what,
                    expected: layer.size,
                    found: len,
                });
            }
            let tee = if self.has_blob(&layer.digest) {
                None
            } else {
                Some(TempBlob::new(&self.tmp_dir(), &self.blobs_dir())?)
            };
            let (scan, tee) = scan::scan_layer(
                reader,
                *compression,
                &layer.digest,
                &src.describe_blob(&layer.digest),
                tee,
            )?;
            if scan.digest != layer.digest {
                return Err(Error::DigestMismatch {
                    what,
                    expected: layer.digest,
                    found: scan.digest,
                });
            }
            if scan.diff_id != diff_ids[i] {
                return Err(Error::DiffIdMismatch {
                    layer: layer.digest,
                    expected: diff_ids[i],
                    found: scan.diff_id,
                });
            }
            if let Some(tee) = tee {
                tee.persist(&layer.digest)?;
            }
        }
        self.write_blob(&config_bytes)?;
        self.write_blob(&manifest_bytes)?;

        Ok(StoredImage {
            platform: platform_of(&config).or_else(|| chosen.platform.clone()),
            config,
            layers: parsed.layers.iter().map(oci_layer).collect(),
            diff_ids,
        })
    }

    /// The image whose manifest is `entry`, if the layout has all its blobs: answered from its
    /// small JSON blobs. `None` means "import it again"; a corrupt blob is an error, never a
    /// silent fallback that would leave it in place.
    pub fn stored_image(&self, entry: &Descriptor) -> Result<Option<StoredImage>, Error> {
        let bytes = match self.read_json_blob(&entry.digest) {
            Err(Error::MissingBlob { .. }) => return Ok(None),
            r => r?,
        };
        let Ok(parsed) = ParsedManifest::parse(&bytes, "manifest") else {
            return Ok(None);
        };
        let config_bytes = match self.read_json_blob(&parsed.config.digest) {
            Err(Error::MissingBlob { .. }) => return Ok(None),
            r => r?,
        };
        if !parsed.layers.iter().all(|l| {
            fs::metadata(self.blob_path(&l.digest)).is_ok_and(|m| m.is_file() && m.len() == l.size)
        }) {
            return Ok(None);
        }
        let config: Value = json(&config_bytes, "config")?;
        let Ok(diff_ids) = diff_ids_of(&config, parsed.layers.len()) else {
            return Ok(None);
        };
        Ok(Some(StoredImage {
            platform: platform_of(&config).or_else(|| entry.platform.clone()),
            config,
            layers: parsed.layers.iter().map(oci_layer).collect(),
            diff_ids,
        }))
    }
}
