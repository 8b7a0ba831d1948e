//! A generic OCI library: deterministic layers (`layer`, `gzip`, `zstd`) and the rewriting of layers
//! other tools built into such layers (`normalise`, reading tars with `tar_read`),
//! content-addressed blobs (`blob`, `scan`), the image layout (`layout`, `index`, `manifest`,
//! `verify`, `import`) and image sources and exports (`archive`, `docker_archive`), with one
//! error type (`error`). It knows nothing of
//! environments, plans or revisions (the store, `crate::store`, builds those on a layout) and
//! imports nothing from the crate but the digest type, which a test checks. Shared here:
//! descriptors, media types and canonical JSON, so that every digest envc writes is a digest
//! of bytes it can reproduce.

pub mod archive;
pub mod blob;
pub mod docker_archive;
pub mod error;
pub mod final_view;
pub mod gzip;
pub mod import;
pub(crate) mod index;
pub mod layer;
pub mod layout;
pub(crate) mod manifest;
pub mod normalise;
pub(crate) mod scan;
pub mod spec;
pub(crate) mod tar_read;
pub mod verify;
pub mod zstd;

pub use error::Error;

use crate::types::digest::Digest;
use std::collections::BTreeMap;

pub const MEDIA_TYPE_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub const MEDIA_TYPE_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub const MEDIA_TYPE_CONFIG: &str = "application/vnd.oci.image.config.v1+json";
pub const MEDIA_TYPE_LAYER: &str = "application/vnd.oci.image.layer.v1.tar";
pub const MEDIA_TYPE_LAYER_GZIP: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
pub const MEDIA_TYPE_LAYER_ZSTD: &str = "application/vnd.oci.image.layer.v1.tar+zstd";
/// Docker's schema-2 types, accepted on import (skopeo and `docker save` write them).
pub const MEDIA_TYPE_DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const MEDIA_TYPE_DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const MEDIA_TYPE_DOCKER_LAYER_GZIP: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
/// Docker's manifest list (an image index), accepted on import.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's uncompressed layer type, accepted on import.
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// `org.opencontainers.image.ref.name`: the name of an index entry inside a layout.
pub const ANNOTATION_REF_NAME: &str = "org.opencontainers.image.ref.name";
/// The image-spec's base-image annotations on a manifest.
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// The image-spec's creation time annotation.
pub const ANNOTATION_CREATED: &str = "org.opencontainers.image.created";

/// An OCI content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    pub media_type: String,
    pub digest: Digest,
    pub size: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

impl Descriptor {
    /// The descriptor as JSON, built field by field so that it cannot fail (the bytes of its
    /// `Serialize`, which a test checks).
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value;
        let mut m = serde_json::Map::new();
        m.insert("mediaType".into(), Value::from(self.media_type.as_str()));
        m.insert("digest".into(), Value::from(self.digest.to_string()));
        m.insert("size".into(), Value::from(self.size));
        if !self.annotations.is_empty() {
            let a = self
                .annotations
                .iter()
                .map(|(k, v)| (k.clone(), Value::from(v.as_str())))
                .collect();
            m.insert("annotations".into(), Value::Object(a));
        }
        if let Some(p) = &self.platform {
            let mut pm = serde_json::Map::new();
            pm.insert("architecture".into(), Value::from(p.architecture.as_str()));
            pm.insert("os".into(), Value::from(p.os.as_str()));
            if let Some(v) = &p.variant {
                pm.insert("variant".into(), Value::from(v.as_str()));
            }
            m.insert("platform".into(), Value::Object(pm));
        }
        Value::Object(m)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Platform {
    pub architecture: String,
    pub os: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// How a layer's bytes are stored: the one compression choice, from the CLI's `--compression`
/// through image assembly to the layer writer, the scanner and the media type. (The gzip level
/// and block size are the writer's options, not a kind of compression; zstd's parameters are
/// fixed in `zstd`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    None,
    #[default]
    Gzip,
    Zstd,
}

impl Compression {
    /// The name used in the store's diff_id cache and in annotations.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }

    /// The OCI media type of a layer stored so.
    pub fn layer_media_type(self) -> &'static str {
        match self {
            Compression::None => MEDIA_TYPE_LAYER,
            Compression::Gzip => MEDIA_TYPE_LAYER_GZIP,
            Compression::Zstd => MEDIA_TYPE_LAYER_ZSTD,
        }
    }
}

/// The canonical bytes of a JSON document: object keys sorted, no insignificant whitespace.
/// (`serde_json::Value` keeps objects in a `BTreeMap`; no dependency may enable
/// `preserve_order`, which a unit test checks.) A value that cannot be serialised is an
/// error, never `null` or empty bytes.
pub fn canonical_json<T: serde::Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    let v = serde_json::to_value(value).map_err(|source| Error::Serialize {
        what: std::any::type_name::<T>(),
        source,
    })?;
    Ok(canonical_value(&v))
}

/// [`canonical_json`] of a value that is JSON already: cannot fail (`Value`'s `Display` is its
/// compact serialisation, the same bytes as `serde_json::to_vec`).
pub fn canonical_value(value: &serde_json::Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// Helpers shared by the oci modules' tests.
#[cfg(test)]
pub(crate) mod testutil {
    use std::io::Write;

    /// A tar whose paths are written raw (the `tar` crate's `set_path` refuses bad ones).
    pub(crate) fn tar_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            let mut h = tar::Header::new_gnu();
            h.as_mut_bytes()[..path.len()].copy_from_slice(path.as_bytes());
            h.set_size(data.len() as u64);
            h.set_mode(0o644);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(0);
            h.set_cksum();
            b.append(&h, *data).unwrap();
        }
        b.into_inner().unwrap()
    }

    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_sorts_keys() {
        let mut m = std::collections::HashMap::new();
        for k in ["z", "a", "m", "b", "y"] {
            m.insert(k, 1);
        }
        assert_eq!(
            canonical_json(&m).unwrap(),
            br#"{"a":1,"b":1,"m":1,"y":1,"z":1}"#
        );
    }

    /// `canonical_value` (through `Display`) writes the bytes `serde_json::to_vec` writes,
    /// escapes and numbers included.
    #[test]
    fn canonical_value_is_to_vec() {
        let v = serde_json::json!({"b": "\u{1}\"\\\n é", "a": [1, -2, 2.5, 1e300, null, true], "c": {}});
        assert_eq!(canonical_value(&v), serde_json::to_vec(&v).unwrap());
    }

    #[test]
    fn descriptor_to_json_is_its_serialisation() {
        let mut d: Descriptor = serde_json::from_str(
            r#"{"mediaType":"m","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":7}"#,
        )
        .unwrap();
        assert_eq!(d.to_json(), serde_json::to_value(&d).unwrap());
        d.annotations.insert("k".into(), "v\"".into());
        d.platform = Some(Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: Some("v8".into()),
        });
        assert_eq!(d.to_json(), serde_json::to_value(&d).unwrap());
        d.platform.as_mut().unwrap().variant = None;
        assert_eq!(d.to_json(), serde_json::to_value(&d).unwrap());
    }

    /// A serialisation failure is an error, not `null`.
    #[test]
    fn canonical_json_returns_serialisation_errors() {
        let m = std::collections::BTreeMap::from([((1, 2), 3)]);
        assert!(matches!(canonical_json(&m), Err(Error::Serialize { .. })));
    }

    /// The library stays generic: outside comments, every `crate::` path under `src/oci/`
    /// is `crate::oci…` or `crate::types::digest…` (a grouped `crate::{…}` import is refused
    /// too, since it could hide anything).
    #[test]
    fn imports_nothing_of_the_domain() {
        fn rs_files(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    rs_files(&p, out);
                } else if p.extension().is_some_and(|x| x == "rs") {
                    out.push(p);
                }
            }
        }
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/oci");
        let mut files = Vec::new();
        rs_files(&root, &mut files);
        files.sort();
        assert!(files.len() > 5, "found only {files:?}");
        let mut bad = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).unwrap();
            for (i, line) in text.lines().enumerate() {
                let code = line.trim_start();
                if code.starts_with("//") {
                    continue;
                }
                // Spelt in two halves so that this line does not match itself.
                for (at, _) in code.match_indices(concat!("crate", "::")) {
                    let before = at.checked_sub(1).map(|b| code.as_bytes()[b]);
                    if before.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_') {
                        continue; // a longer name ending in `crate`, not a crate path
                    }
                    let path = &code[at..];
                    if !(path.starts_with("crate::oci") || path.starts_with("crate::types::digest"))
                    {
                        bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                    }
                }
            }
        }
        assert!(
            bad.is_empty(),
            "domain imports in the OCI library:\n{}",
            bad.join("\n")
        );
    }
}
