//! JSON documents: canonical JSON, OCI indexes, manifests and configs, and what a registry
//! answers (manifests, revision records, token replies, `WWW-Authenticate` challenges).

use crate::oci::index::parse_index;
use crate::oci::manifest::{children, diff_ids_of, platform_of, ParsedManifest};
use crate::oci::{canonical_json, canonical_value, Descriptor};
use crate::registry::auth::{parse_challenge, parse_token_reply, Challenge};
use crate::registry::history::Record;
use serde_json::Value;

/// Canonical JSON round-trips byte for byte: the canonical bytes of any JSON value read back
/// to bytes that are the same. OCI documents: an index envc accepts is rewritten to bytes
/// that read back and rewrite the same; a descriptor survives its own serialisation; a
/// manifest's and a config's fields are read without panicking.
pub fn oci_json(data: &[u8]) {
    if let Ok(v) = serde_json::from_slice::<Value>(data) {
        let canonical = canonical_value(&v);
        let back: Value = serde_json::from_slice(&canonical).expect("canonical JSON reads back");
        assert_eq!(
            canonical_value(&back),
            canonical,
            "canonical JSON round-trips"
        );
        let _ = diff_ids_of(&v, data.len() % 4);
        let _ = platform_of(&v);
    }
    if let Ok(index) = parse_index(data, "index.json") {
        let bytes = index.to_bytes();
        let again = parse_index(&bytes, "index.json").expect("a written index reads back");
        assert_eq!(again.to_bytes(), bytes, "an index is rewritten the same");
    }
    if let Ok(d) = serde_json::from_slice::<Descriptor>(data) {
        let bytes = canonical_json(&d).expect("a descriptor serialises");
        let back: Descriptor = serde_json::from_slice(&bytes).expect("and reads back");
        assert_eq!(back, d);
    }
    let _ = ParsedManifest::parse(data, "manifest");
    let _ = children(data, "manifest");
}

/// A registry's answers: the first byte picks which; a revision record is read as tag `N`.
pub fn registry(data: &[u8]) {
    let Some((&which, body)) = data.split_first() else {
        return;
    };
    match which % 4 {
        0 => {
            if let Ok(header) = std::str::from_utf8(body) {
                if let Some(Challenge::Bearer { realm, service }) = parse_challenge(header) {
                    // Both come from the header's own text.
                    assert!(realm.len() <= header.len());
                    assert!(service.is_none_or(|s| s.len() <= header.len()));
                }
            }
        }
        1 => {
            if let Ok((token, _lifetime)) = parse_token_reply(body) {
                assert!(!token.is_empty(), "an empty token is refused");
            }
        }
        2 => {
            let _ = Record::parse("fuzz", u32::from(which), body);
        }
        _ => oci_json(body),
    }
}
