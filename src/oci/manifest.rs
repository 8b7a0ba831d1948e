//! Reading manifests and image configs as far as the layout needs them: which media types are
//! indexes, manifests, configs and layers (Docker's schema-2 types accepted as their OCI
//! equivalents), a manifest's config and layers, the descriptors any document refers to, and
//! a config's `rootfs.diff_ids` and platform. Nothing here writes.

use super::error::Error;
use super::Compression;
use super::{
    Descriptor, Platform, MEDIA_TYPE_CONFIG, MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER,
    MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST, MEDIA_TYPE_DOCKER_MANIFEST_LIST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD,
    MEDIA_TYPE_MANIFEST,
};
use crate::types::digest::Digest;
use serde_json::Value;

/// Manifests, configs and indexes larger than this are refused (they are kilobytes).
pub(crate) const MAX_JSON: u64 = 64 << 20;

pub(crate) fn is_index_type(m: &str) -> bool {
    m == MEDIA_TYPE_INDEX || m == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

pub(crate) fn is_manifest_type(m: &str) -> bool {
    m == MEDIA_TYPE_MANIFEST || m == MEDIA_TYPE_DOCKER_MANIFEST
}

pub(crate) fn is_config_type(m: &str) -> bool {
    m == MEDIA_TYPE_CONFIG || m == MEDIA_TYPE_DOCKER_CONFIG
}

pub(crate) fn layer_compression(m: &str) -> Option<Compression> {
    match m {
        MEDIA_TYPE_LAYER | MEDIA_TYPE_DOCKER_LAYER => Some(Compression::None),
        MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => Some(Compression::Gzip),
        MEDIA_TYPE_LAYER_ZSTD => Some(Compression::Zstd),
        _ => None,
    }
}

/// A layer descriptor with Docker media types mapped to their OCI equivalents.
pub(crate) fn oci_layer(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    d.media_type = match d.media_type.as_str() {
        MEDIA_TYPE_DOCKER_LAYER_GZIP => MEDIA_TYPE_LAYER_GZIP.to_string(),
        MEDIA_TYPE_DOCKER_LAYER => MEDIA_TYPE_LAYER.to_string(),
        _ => d.media_type,
    };
    d
}

pub(crate) fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

/// Layers in one manifest: engines stop far below (overlayfs stacks at most 500 lower
/// layers, Docker 125), so more is not an image anything could run.
pub(crate) const MAX_LAYERS: usize = 1000;

#[derive(serde::Deserialize)]
pub(crate) struct ParsedManifest {
    pub(crate) config: Descriptor,
    #[serde(default)]
    pub(crate) layers: Vec<Descriptor>,
}

impl ParsedManifest {
    pub(crate) fn parse(bytes: &[u8], what: &str) -> Result<ParsedManifest, Error> {
        let m: ParsedManifest = json(bytes, what)?;
        if m.layers.len() > MAX_LAYERS {
            return Err(Error::Invalid {
                what: what.to_string(),
                reason: format!(
                    "it lists {} layers, more than the {MAX_LAYERS} envc accepts",
                    m.layers.len()
                ),
            });
        }
        Ok(m)
    }
}

/// The descriptors a manifest or index refers to.
pub(crate) fn children(bytes: &[u8], what: &str) -> Result<Vec<Descriptor>, Error> {
    #[derive(serde::Deserialize)]
    struct Any {
        config: Option<Descriptor>,
        #[serde(default)]
        layers: Vec<Descriptor>,
        #[serde(default)]
        manifests: Vec<Descriptor>,
    }
    let a: Any = json(bytes, what)?;
    Ok(a.config
        .into_iter()
        .chain(a.layers)
        .chain(a.manifests)
        .collect())
}

pub(crate) fn diff_ids_of(config: &Value, layers: usize) -> Result<Vec<Digest>, String> {
    let ids = config
        .get("rootfs")
        .and_then(|r| r.get("diff_ids"))
        .and_then(Value::as_array)
        .ok_or("it has no rootfs.diff_ids")?;
    let ids = ids
        .iter()
        .map(|v| {
            v.as_str()
                .ok_or_else(|| "a rootfs.diff_ids entry is not a string".to_string())
                .and_then(|s| s.parse::<Digest>())
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ids.len() != layers {
        return Err(format!(
            "rootfs.diff_ids lists {} layers, the manifest {layers}",
            ids.len()
        ));
    }
    Ok(ids)
}

pub(crate) fn platform_of(config: &Value) -> Option<Platform> {
    let s = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Platform {
        architecture: s("architecture")?,
        os: s("os")?,
        variant: s("variant"),
    })
}

pub(crate) fn blob_rel(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_with_more_layers_than_any_engine_mounts_is_refused() {
        let layer = r#"{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":1}"#;
        let doc = |n: usize| {
            format!(
                r#"{{"config":{layer},"layers":[{}]}}"#,
                vec![layer; n].join(",")
            )
        };
        assert!(ParsedManifest::parse(doc(MAX_LAYERS).as_bytes(), "m").is_ok());
        let err = ParsedManifest::parse(doc(MAX_LAYERS + 1).as_bytes(), "m")
            .err()
            .unwrap();
        assert!(
            err.to_string().contains("1001 layers, more than the 1000"),
            "{err}"
        );
    }
}
