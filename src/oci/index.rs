//! `index.json`: read keeping the top-level object (so fields another tool wrote survive a
//! rewrite) and each entry both raw and parsed; written canonically, entries in the order the
//! caller left them (the layout does not know what its entries mean, so the order is the
//! caller's: the store sorts bases, then revisions).
//!
//! Why entries stay raw next to their parsed [`Descriptor`]: an entry another tool wrote may
//! carry what `Descriptor` does not model (`urls`, `artifactType`, `platform.os.version`,
//! `platform.os.features`, an empty `annotations: {}`), and the store rewrites `index.json`
//! on every commit; re-serialising the parsed descriptor would drop those. Entries envc adds
//! are written from the descriptor ([`Descriptor::to_json`], which cannot fail). The typed
//! index an export writes is `super::spec::ImageIndex`.

use super::{canonical_value, Descriptor, MEDIA_TYPE_INDEX};
use serde_json::Value;

/// `index.json` as read: the top-level object (kept, so foreign fields survive a rewrite) and
/// its entries, each raw and parsed.
pub(crate) struct Index {
    pub(crate) top: serde_json::Map<String, Value>,
    pub(crate) entries: Vec<(Value, Descriptor)>,
}

pub(crate) fn parse_index(bytes: &[u8], what: &str) -> Result<Index, String> {
    let v: Value =
        serde_json::from_slice(bytes).map_err(|e| format!("{what} is not valid JSON: {e}"))?;
    let Value::Object(top) = v else {
        return Err(format!("{what} is not a JSON object"));
    };
    if top.get("schemaVersion").and_then(Value::as_u64) != Some(2) {
        return Err(format!("{what}: schemaVersion is not 2"));
    }
    let manifests = match top.get("manifests") {
        Some(Value::Array(a)) => a.clone(),
        None | Some(Value::Null) => Vec::new(),
        Some(_) => return Err(format!("{what}: `manifests` is not an array")),
    };
    let mut entries = Vec::with_capacity(manifests.len());
    for (i, m) in manifests.into_iter().enumerate() {
        let d: Descriptor = serde_json::from_value(m.clone())
            .map_err(|e| format!("{what}: entry {i} is not a valid descriptor: {e}"))?;
        entries.push((m, d));
    }
    Ok(Index { top, entries })
}

impl Index {
    pub(crate) fn empty() -> Index {
        let mut top = serde_json::Map::new();
        top.insert("schemaVersion".into(), Value::from(2));
        top.insert("mediaType".into(), Value::from(MEDIA_TYPE_INDEX));
        Index {
            top,
            entries: Vec::new(),
        }
    }

    pub(crate) fn push(&mut self, d: Descriptor) {
        let raw = d.to_json();
        self.entries.push((raw, d));
    }

    /// Canonical bytes, entries in their current order.
    pub(crate) fn to_bytes(&self) -> Vec<u8> {
        let mut top = self.top.clone();
        top.insert(
            "manifests".into(),
            Value::Array(self.entries.iter().map(|(v, _)| v.clone()).collect()),
        );
        if !top.contains_key("mediaType") {
            top.insert("mediaType".into(), Value::from(MEDIA_TYPE_INDEX));
        }
        canonical_value(&Value::Object(top))
    }
}
