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

/// An image's small documents, read from a source (sizes and digests checked): its manifest
/// (config and layers), its config and the config's `rootfs.diff_ids`, one per layer, and the
/// bytes of both documents as they came.
pub(crate) struct ImageDocuments {
    pub(crate) manifest_bytes: Vec<u8>,
    pub(crate) config_bytes: Vec<u8>,
    pub(crate) manifest: ParsedManifest,
    pub(crate) config: Value,
    pub(crate) diff_ids: Vec<Digest>,
}

/// Reads the manifest `chosen` of `src` and its config; no layer is read.
pub(crate) fn image_documents(
    src: &dyn ImageSource,
    chosen: &Descriptor,
) -> Result<ImageDocuments, Error> {
    let manifest_bytes = src.read_json(chosen, "manifest")?;
    let manifest = ParsedManifest::parse(&manifest_bytes, &format!("manifest {}", chosen.digest))?;
    let config_bytes = src.read_json(&manifest.config, "config")?;
    let config: Value = json(&config_bytes, &format!("config {}", manifest.config.digest))?;
    let diff_ids = diff_ids_of(&config, manifest.layers.len())
        .map_err(|r| src.base_error(format!("config {}: {r}", manifest.config.digest)))?;
    Ok(ImageDocuments {
        manifest_bytes,
        config_bytes,
        manifest,
        config,
        diff_ids,
    })
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
        let ImageDocuments {
            manifest_bytes,
            config_bytes,
            manifest: parsed,
            config,
            diff_ids,
        } = image_documents(src, chosen)?;
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

        self.start_writing()?;
        let n = parsed.layers.len();
        // Verified layers wait in `envc/tmp` until every one is: a failed import adds no blob.
        let verified = std::sync::Mutex::new(Vec::new());
        let import_layer = |i: usize| -> Result<(), Error> {
            let (layer, compression) = (&parsed.layers[i], compressions[i]);
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
                compression,
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
                let written = tee.written()?;
                verified
                    .lock()
                    .expect("not poisoned")
                    .push((layer.digest, written));
            }
            Ok(())
        };
        let workers = src.parallelism().clamp(1, n.max(1));
        if workers == 1 {
            (0..n).try_for_each(import_layer)?;
        } else {
            // Layers are claimed in order by `workers` threads; the first error stops the
            // others at their next layer and is the one reported.
            let next = std::sync::atomic::AtomicUsize::new(0);
            let failed = std::sync::Mutex::new(None::<(usize, Error)>);
            std::thread::scope(|scope| {
                for _ in 0..workers {
                    scope.spawn(|| loop {
                        if failed.lock().expect("not poisoned").is_some() {
                            return;
                        }
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if i >= n {
                            return;
                        }
                        if let Err(e) = import_layer(i) {
                            let mut f = failed.lock().expect("not poisoned");
                            if f.as_ref().is_none_or(|(j, _)| i < *j) {
                                *f = Some((i, e));
                            }
                            return;
                        }
                    });
                }
            });
            if let Some((_, e)) = failed.into_inner().expect("not poisoned") {
                return Err(e);
            }
        }
        for (digest, written) in verified.into_inner().expect("not poisoned") {
            written.persist(&digest)?;
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
        // A missing layer means the image is not (all) here; one of another size is corrupt,
        // and saying "not stored" would hide that.
        for l in &parsed.layers {
            let path = self.blob_path(&l.digest);
            match fs::metadata(&path) {
                Ok(m) if m.is_file() && m.len() == l.size => {}
                Ok(m) if m.is_file() => {
                    return Err(Error::CorruptBlobSize {
                        digest: l.digest,
                        expected: l.size,
                        found: m.len(),
                        path,
                    })
                }
                _ => return Ok(None),
            }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::choose_image;
    use crate::oci::testutil::{gzip, tar_of};
    use crate::oci::{
        canonical_value, MEDIA_TYPE_CONFIG, MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER_GZIP,
        MEDIA_TYPE_MANIFEST,
    };
    use serde_json::json;
    use std::collections::{BTreeMap, HashMap};
    use std::io::Read;
    use std::path::{Path, PathBuf};

    /// An image source that is neither a directory nor an archive, as a registry client or an
    /// engine bridge will be: an index and blobs by digest, from memory.
    struct Memory {
        index: Vec<u8>,
        blobs: HashMap<Digest, Vec<u8>>,
    }

    impl ImageSource for Memory {
        fn path(&self) -> &Path {
            Path::new("memory")
        }
        fn invalid(&self, reason: String) -> Error {
            self.base_error(reason)
        }
        fn read_index(&self, _max: u64) -> Result<Vec<u8>, Error> {
            Ok(self.index.clone())
        }
        fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), Error> {
            let b = self.blobs.get(digest).ok_or_else(|| Error::MissingBlob {
                digest: *digest,
                path: self.describe_blob(digest),
            })?;
            Ok((Box::new(&b[..]), b.len() as u64))
        }
        fn describe_blob(&self, digest: &Digest) -> PathBuf {
            PathBuf::from(format!("memory/{digest}"))
        }
    }

    fn desc(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    #[test]
    fn any_image_source_imports_into_a_layout() {
        let tar = tar_of(&[("etc/hostname", b"memory")]);
        let layer = gzip(&tar);
        let config = canonical_value(&json!({
            "architecture": "amd64", "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(&tar)]},
        }));
        let manifest = canonical_value(&json!({
            "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "config": desc(MEDIA_TYPE_CONFIG, &config),
            "layers": [desc(MEDIA_TYPE_LAYER_GZIP, &layer)],
        }));
        let index = canonical_value(&json!({
            "schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [desc(MEDIA_TYPE_MANIFEST, &manifest)],
        }));
        let src = Memory {
            index,
            blobs: [&layer, &config, &manifest]
                .into_iter()
                .map(|b| (Digest::of(b), b.clone()))
                .collect(),
        };
        let t = tempfile::tempdir().unwrap();
        let layout = Layout::open_or_create(&t.path().join("layout")).unwrap();
        let chosen = choose_image(&src, None).unwrap();
        assert_eq!(chosen.digest, Digest::of(&manifest));
        let image = layout.import_image(&src, &chosen).unwrap();
        assert_eq!(image.diff_ids, vec![Digest::of(&tar)]);
        assert_eq!(image.platform.as_ref().unwrap().os, "linux");
        for b in [&layer, &config, &manifest] {
            assert!(layout.has_blob(&Digest::of(b)));
        }
        // Nothing is named in the index: that is the caller's.
        assert!(layout.is_empty().unwrap());
        assert_eq!(layout.stored_image(&chosen).unwrap(), Some(image));

        // A layer whose bytes are not its digest is refused, and nothing is kept.
        let mut bad = src;
        bad.blobs
            .insert(Digest::of(&layer), gzip(&tar_of(&[("x", b"y")])));
        let other = tempfile::tempdir().unwrap();
        let fresh = Layout::open_or_create(other.path()).unwrap();
        let err = fresh.import_image(&bad, &chosen).unwrap_err();
        assert!(
            matches!(
                err,
                Error::SizeMismatch { .. } | Error::DigestMismatch { .. }
            ),
            "{err}"
        );
        assert!(!fresh.has_blob(&Digest::of(&layer)));
    }
}
