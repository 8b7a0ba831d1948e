//! Typed views of a revision, what `list`, `show` and `--format json` print from (and what an
//! HTTP API will serve): its index entry's annotations by meaning, the provenance redacted as
//! envc always shows it, its layers and its image config. Field names are the JSON keys; the
//! CLI prints them through `serde_json::Value`, whose objects are sorted, and the fields are
//! declared in that order too, so either way the bytes are the same.

use super::annotations::{
    HERMETIC_LAYERS, LOCKED_PACKAGES, PARENT, PROVENANCE, ROLLBACK_TO, ROLLED_BACK_FROM,
    SPEC_DIGEST,
};
use super::{Error, Revision, Store};
use crate::oci::manifest::ParsedManifest;
use crate::oci::{self, Descriptor, ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME};
use serde_json::Value;
use std::collections::BTreeMap;

/// One revision as `list` shows it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RevisionView {
    /// `org.opencontainers.image.base.name`: the base the spec named.
    pub base: Option<String>,
    pub base_digest: Option<String>,
    /// The manifest digest.
    pub manifest: String,
    pub name: String,
    pub parent: Option<String>,
    /// `dev.envc.provenance`, redacted (`crate::input::template::redact_recorded`): a value an
    /// older envc recorded never leaves the store.
    pub provenance: Option<Value>,
    /// `NAME:REV`.
    pub reference: String,
    pub revision: u32,
    pub rollback_to: Option<String>,
    pub rolled_back_from: Option<String>,
    pub spec_digest: Option<String>,
}

impl RevisionView {
    pub fn new(r: &Revision) -> RevisionView {
        let get = |key: &str| r.annotation(key).map(str::to_string);
        RevisionView {
            base: get(ANNOTATION_BASE_NAME),
            base_digest: get(ANNOTATION_BASE_DIGEST),
            manifest: r.manifest.digest.to_string(),
            name: r.name.to_string(),
            parent: get(PARENT),
            provenance: r
                .annotation(PROVENANCE)
                .map(crate::input::template::redact_recorded),
            reference: r.reference(),
            revision: r.revision,
            rollback_to: get(ROLLBACK_TO),
            rolled_back_from: get(ROLLED_BACK_FROM),
            spec_digest: get(SPEC_DIGEST),
        }
    }
}

/// The versions a `--lock` build installed, per ecosystem (`debian`, `pip`), by package name.
pub type LockedVersions = BTreeMap<String, BTreeMap<String, String>>;

/// The locked versions a revision records (`None`: it was not built with `--lock`).
pub fn locked_versions(r: &Revision) -> Option<LockedVersions> {
    serde_json::from_str(r.annotation(LOCKED_PACKAGES)?).ok()
}

/// One revision as `show` shows it: the list view, its layers and its plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RevisionDetail {
    /// Of a revision built with `--lock`: the digests of its hermetic layers.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hermetic_layers: Option<Vec<String>>,
    #[serde(flatten)]
    pub revision: RevisionView,
    pub layers: Vec<Descriptor>,
    /// Of a revision built with `--lock`: the versions it installed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub locked: Option<LockedVersions>,
    /// The canonical plan from the image's metadata layer (`crate::assemble::read_plan`).
    pub plan: crate::plan::Plan,
}

/// The hermetic layers a revision records.
pub fn hermetic_layers(r: &Revision) -> Option<Vec<String>> {
    serde_json::from_str(r.annotation(HERMETIC_LAYERS)?).ok()
}

impl Store {
    /// The layers a revision's manifest lists (a manifest that does not parse is an error, not
    /// an empty list).
    pub fn layers(&self, r: &Revision) -> Result<Vec<Descriptor>, Error> {
        Ok(self.revision_manifest(r)?.layers)
    }

    /// The manifest of a revision, typed as far as the store reads it (config and layers).
    fn revision_manifest(&self, r: &Revision) -> Result<ParsedManifest, Error> {
        let bytes = self.read_json_blob(&r.manifest.digest)?;
        Ok(ParsedManifest::parse(
            &bytes,
            &format!("manifest {}", r.manifest.digest),
        )?)
    }

    /// The config digest of the image whose manifest is `manifest` (an engine's image id).
    pub fn config_digest(
        &self,
        manifest: &crate::types::digest::Digest,
    ) -> Result<crate::types::digest::Digest, Error> {
        let bytes = self.read_json_blob(manifest)?;
        Ok(
            ParsedManifest::parse(&bytes, &format!("manifest {manifest}"))?
                .config
                .digest,
        )
    }

    /// A revision's image config (for building on the revision as a base).
    pub fn image_config(&self, r: &Revision) -> Result<Value, Error> {
        let json_error = |what: &str| {
            let what = format!("{}: the {what}", r.reference());
            move |source| oci::Error::Json { what, source }
        };
        let manifest: Value = serde_json::from_slice(&self.read_json_blob(&r.manifest.digest)?)
            .map_err(json_error("manifest"))?;
        let config: crate::types::digest::Digest = manifest
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .and_then(|d| d.parse().ok())
            .ok_or_else(|| oci::Error::Invalid {
                what: r.reference(),
                reason: "the manifest names no config".into(),
            })?;
        Ok(serde_json::from_slice(&self.read_json_blob(&config)?).map_err(json_error("config"))?)
    }
}
