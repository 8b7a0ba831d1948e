//! The OCI documents envc writes, typed: the image manifest ([`ImageManifest`]), the image
//! config ([`ImageConfig`], read from a base and written derived from it), an image index as an
//! export writes it ([`ImageIndex`]) and the docker-archive `manifest.json` entry
//! ([`DockerArchiveEntry`]). Each is written through [`super::canonical_json`], so its bytes
//! are the canonical JSON of the value: keys sorted, no whitespace.
//!
//! These are envc's own small structs, not the `oci-spec` crate's, for reasons found in its
//! 0.10 source: `oci_spec::image::ImageConfiguration` and its `Config` have no catch-all
//! field, so a Docker base's `container_config`, `docker_version`, `config.Healthcheck` or
//! `config.OnBuild` would be dropped from the derived config (today's bytes keep them), and
//! they model `ExposedPorts`/`Volumes` as lists, so a value other than `{}` would be lost too.
//! `oci_spec::image::ImageIndex` has no catch-all either, so fields another tool wrote into a
//! layout's `index.json` would not survive the store's rewrite (the layout keeps them:
//! `super::index`). For the manifest and the export's one-entry index `oci-spec` would give
//! the same canonical bytes (its optional fields are `skip_serializing_if = "Option::is_none"`
//! and its `HashMap`s are sorted on the way through `serde_json::Value`), but its `Descriptor`
//! carries its own digest and media-type types while every descriptor in the layout and store
//! is `super::Descriptor` over envc's `Digest` newtype; converting at each boundary buys
//! nothing, so those two use the same descriptor type as the rest and the crate is not a
//! dependency.
//!
//! What a base config carries that envc does not interpret is kept in `extra` maps
//! (`#[serde(flatten)]`), and every typed field is `Option<Option<T>>`: absent, `null` and a
//! value round-trip as they came (a test checks a Docker config byte for byte). Only
//! documents envc writes go through these types: an imported manifest or config is stored as
//! the bytes it came as and never re-serialised.

use super::{Descriptor, MEDIA_TYPE_INDEX, MEDIA_TYPE_MANIFEST};
use crate::types::digest::Digest;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Fields of a document envc keeps but does not interpret.
pub type Extra = BTreeMap<String, Value>;

/// `Some(None)` for an explicit `null`, so that it is written back as `null`.
fn nullable<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// An image manifest as envc writes it (`application/vnd.oci.image.manifest.v1+json`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageManifest {
    pub schema_version: u32,
    pub media_type: String,
    pub config: Descriptor,
    pub layers: Vec<Descriptor>,
    /// Always written, even when empty (envc's manifests always carry the base annotations).
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl ImageManifest {
    pub fn new(
        config: Descriptor,
        layers: Vec<Descriptor>,
        annotations: BTreeMap<String, String>,
    ) -> ImageManifest {
        ImageManifest {
            schema_version: 2,
            media_type: MEDIA_TYPE_MANIFEST.to_string(),
            config,
            layers,
            annotations,
        }
    }
}

/// An image index with nothing but its entries, as an export writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ImageIndex {
    pub schema_version: u32,
    pub media_type: String,
    pub manifests: Vec<Descriptor>,
}

impl ImageIndex {
    pub fn new(manifests: Vec<Descriptor>) -> ImageIndex {
        ImageIndex {
            schema_version: 2,
            media_type: MEDIA_TYPE_INDEX.to_string(),
            manifests,
        }
    }
}

/// One image in a docker-archive `manifest.json` (a JSON array of these), as `docker load`
/// reads it: paths inside the archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DockerArchiveEntry {
    pub config: String,
    pub repo_tags: Vec<String>,
    pub layers: Vec<String>,
}

/// An image config (`application/vnd.oci.image.config.v1+json`, or Docker's), typed where envc
/// reads or writes it; everything else is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ImageConfig {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub created: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub architecture: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub os: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub variant: Option<Option<String>>,
    /// The container's run settings.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub config: Option<Option<RunConfig>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub rootfs: Option<Option<RootFs>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub history: Option<Option<Vec<History>>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `config.config`: the run settings envc reads or writes; the rest (`Entrypoint`, `Cmd`,
/// `ExposedPorts`, `Healthcheck`, `OnBuild`, …) is kept in `extra`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub user: Option<Option<String>>,
    /// `K=V` strings.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub env: Option<Option<Vec<String>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub labels: Option<Option<BTreeMap<String, String>>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub working_dir: Option<Option<String>>,
    #[serde(flatten)]
    pub extra: Extra,
}

/// `rootfs`: envc always writes it whole, `type` `layers`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootFs {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diff_ids: Option<Vec<Digest>>,
}

impl RootFs {
    pub fn layers(diff_ids: Vec<Digest>) -> RootFs {
        RootFs {
            kind: "layers".to_string(),
            diff_ids: Some(diff_ids),
        }
    }
}

/// One `history` entry. A base's entries are kept as they came (fields absent, `null` or set).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct History {
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub created: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub created_by: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub author: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub comment: Option<Option<String>>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "nullable"
    )]
    pub empty_layer: Option<Option<bool>>,
    #[serde(flatten)]
    pub extra: Extra,
}

impl History {
    /// An entry envc writes: `created`, `created_by`, `comment`, and `empty_layer: true` for
    /// an instruction without a layer.
    pub fn envc(created: &str, created_by: String, comment: &str, empty_layer: bool) -> History {
        History {
            created: Some(Some(created.to_string())),
            created_by: Some(Some(created_by)),
            comment: Some(Some(comment.to_string())),
            empty_layer: empty_layer.then_some(Some(true)),
            ..History::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::canonical_json;

    /// A Docker base config: every field oci-spec does not model survives a round trip,
    /// byte for byte (absent, `null` and set alike).
    #[test]
    fn a_docker_config_round_trips_byte_for_byte() {
        let raw = br##"{"architecture":"amd64","config":{"Cmd":["sh"],"Env":["PATH=/bin"],"ExposedPorts":{"80/tcp":{"x":1}},"Healthcheck":{"Test":["CMD","true"]},"Labels":null,"OnBuild":null,"User":null,"WorkingDir":""},"container":"abc","container_config":{"Cmd":["/bin/sh","-c","#(nop) CMD [\"sh\"]"]},"created":"2023-05-19T20:19:24.343244592Z","docker_version":"20.10.23","history":[{"created":"2023-05-19T20:19:24Z","created_by":"/bin/sh -c #(nop) ADD file:abc in / "},{"comment":null,"created":"2023-05-19T20:19:24Z","created_by":"CMD [\"sh\"]","empty_layer":true,"x-foreign":[1,2.5,"s"]}],"os":"linux","rootfs":{"diff_ids":["sha256:0000000000000000000000000000000000000000000000000000000000000000"],"type":"layers"},"variant":null}"##;
        let typed: ImageConfig = serde_json::from_slice(raw).unwrap();
        let back = String::from_utf8(canonical_json(&typed).unwrap()).unwrap();
        assert_eq!(back, std::str::from_utf8(raw).unwrap());
        assert!(typed.extra.contains_key("container_config"));
        let run = typed.config.clone().flatten().unwrap();
        assert_eq!(run.user, Some(None));
        assert!(run.extra.contains_key("Healthcheck"));
        assert_eq!(typed.variant, Some(None));
    }

    #[test]
    fn an_envc_manifest_is_written_as_before() {
        let d: Descriptor = serde_json::from_str(
            r#"{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:0000000000000000000000000000000000000000000000000000000000000000","size":2}"#,
        )
        .unwrap();
        let m = ImageManifest::new(d.clone(), vec![d.clone()], BTreeMap::new());
        let before = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_MANIFEST,
            "config": d,
            "layers": [d],
            "annotations": BTreeMap::<String, String>::new(),
        });
        assert_eq!(
            canonical_json(&m).unwrap(),
            crate::oci::canonical_value(&before)
        );
    }
}
