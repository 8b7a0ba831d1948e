//! An environment's revisions in one registry repository. Each revision is a **record**: an
//! OCI image index with one entry, the revision's own store entry (media type, digest, size,
//! platform, and every annotation: revision, parent, spec digest, plan, provenance, rollback
//! links, base, engine, build id), in canonical JSON so the same revision always makes the same
//! record. The image manifest it names is the revision's, byte for byte, so pulling tag `N`
//! with any client gives the image `envc show NAME:N` describes.
//!
//! Tags: `N` is revision N; `N.<first 12 hex of the record digest>` is the same record under a
//! name no other record can have, written first, so a record outlives a lost race for `N`;
//! `latest` is the newest. See `ops::history` for how numbers are assigned.

use super::client::{header, read_small, Client, Request};
use super::source::status_error;
use super::{auth, Error, Reference};
use crate::oci::{self, Descriptor, MEDIA_TYPE_INDEX};
use crate::store::annotations::REVISION;
use crate::types::digest::Digest;
use std::collections::BTreeMap;
use ureq::http::{Method, StatusCode};

/// On a record: the environment's name.
pub const HISTORY: &str = "dev.envc.history";

/// A revision as the registry keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub number: u32,
    /// The revision's store entry (its annotations included).
    pub entry: Descriptor,
    /// The canonical bytes and their digest.
    pub bytes: Vec<u8>,
    pub digest: Digest,
}

impl Record {
    /// The record of revision `number` of `name` whose store entry is `entry`.
    pub fn new(name: &str, number: u32, entry: &Descriptor) -> Result<Record, Error> {
        let doc = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [entry.to_json()],
            "annotations": {
                HISTORY: name,
                REVISION: number.to_string(),
            },
        });
        let bytes = oci::canonical_json(&doc)?;
        Ok(Record {
            number,
            entry: entry.clone(),
            digest: Digest::of(&bytes),
            bytes,
        })
    }

    /// A record read back: an index naming one manifest, for `name`, numbered as its tag says.
    pub fn parse(name: &str, tag_number: u32, bytes: &[u8]) -> Result<Record, String> {
        #[derive(serde::Deserialize)]
        struct Doc {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Vec<Descriptor>,
            #[serde(default)]
            annotations: BTreeMap<String, String>,
        }
        let doc: Doc = serde_json::from_slice(bytes)
            .map_err(|e| format!("not an envc revision record: {e}"))?;
        if doc.media_type.as_deref() != Some(MEDIA_TYPE_INDEX) {
            return Err("not an envc revision record (not an OCI image index)".into());
        }
        match doc.annotations.get(HISTORY) {
            Some(n) if n == name => {}
            Some(other) => return Err(format!("a revision record of `{other}`, not of `{name}`")),
            None => return Err(format!("not an envc revision record (no `{HISTORY}`)")),
        }
        if doc.annotations.get(REVISION) != Some(&tag_number.to_string()) {
            return Err(format!(
                "its `{REVISION}` is not {tag_number}, the number of its tag"
            ));
        }
        let [entry] = <[Descriptor; 1]>::try_from(doc.manifests)
            .map_err(|m| format!("a record names one manifest, this one {}", m.len()))?;
        Ok(Record {
            number: tag_number,
            entry,
            bytes: bytes.to_vec(),
            digest: Digest::of(bytes),
        })
    }

    /// `N.<12 hex>`: this record's own tag.
    pub fn unique_tag(&self) -> String {
        format!("{}.{}", self.number, &self.digest.hex()[..12])
    }
}

/// What a history tag is: `N`, `N.<12 hex>`, or something else (`latest`, a user's tag).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Number(u32),
    Unique(u32),
    Other,
}

pub fn classify(tag: &str) -> Tag {
    let number = |s: &str| -> Option<u32> {
        let n: u32 = s.parse().ok()?;
        (n > 0 && n.to_string() == s).then_some(n)
    };
    if let Some(n) = number(tag) {
        return Tag::Number(n);
    }
    match tag.split_once('.') {
        Some((n, hex))
            if hex.len() == 12 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) =>
        {
            number(n).map_or(Tag::Other, Tag::Unique)
        }
        _ => Tag::Other,
    }
}

/// Pages of a tag list read at most.
const MAX_TAG_PAGES: usize = 100;

/// Every tag of `repo` (`[]` when the repository does not exist yet), following `Link` pages.
pub fn list_tags(client: &Client, repo: &Reference) -> Result<Vec<String>, Error> {
    let mut url = client.url(repo, "tags/list?n=1000")?;
    let mut tags = Vec::new();
    for _ in 0..MAX_TAG_PAGES {
        let req = Request::new(
            Method::GET,
            url.clone(),
            vec![auth::pull_scope(&repo.repository)],
        );
        let resp = client.send(repo, &req)?;
        let status = resp.status();
        if status == StatusCode::NOT_FOUND {
            return Ok(tags);
        }
        let next = header(&resp, "link").and_then(|l| next_link(&l));
        let body = read_small(resp, &url)?;
        if !status.is_success() {
            let detail = super::client::error_detail(&body);
            return Err(status_error(client, repo, &url, status, "pull", detail));
        }
        #[derive(serde::Deserialize)]
        struct List {
            tags: Option<Vec<String>>,
        }
        let list: List = serde_json::from_slice(&body).map_err(|e| Error::Protocol {
            url: url.clone(),
            reason: format!("the tag list is not valid JSON: {e}"),
        })?;
        tags.extend(list.tags.unwrap_or_default());
        match next {
            Some(n) if n.starts_with('/') => {
                let base = client.url(repo, "")?;
                let origin = &base[..base.find("/v2/").expect("API URLs have /v2/")];
                url = format!("{origin}{n}");
            }
            Some(n) => url = n,
            None => return Ok(tags),
        }
    }
    Err(Error::Protocol {
        url,
        reason: format!("more than {MAX_TAG_PAGES} pages of tags"),
    })
}

/// The target of `Link: <…>; rel="next"`.
fn next_link(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

/// The digest tag `tag` points at (`HEAD`), `None` when there is no such tag.
pub fn tag_digest(client: &Client, repo: &Reference, tag: &str) -> Result<Option<Digest>, Error> {
    let url = client.url(repo, &format!("manifests/{tag}"))?;
    let req = Request::new(
        Method::HEAD,
        url.clone(),
        vec![auth::pull_scope(&repo.repository)],
    )
    .header("accept", super::source::ACCEPT);
    let resp = client.send(repo, &req)?;
    match resp.status() {
        StatusCode::NOT_FOUND => Ok(None),
        s if s.is_success() => {
            Ok(header(&resp, "docker-content-digest").and_then(|d| d.parse().ok()))
        }
        s => Err(status_error(client, repo, &url, s, "pull", String::new())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> Descriptor {
        Descriptor {
            media_type: oci::MEDIA_TYPE_MANIFEST.into(),
            digest: Digest::of(b"m"),
            size: 1,
            annotations: BTreeMap::from([(REVISION.to_string(), "2".to_string())]),
            platform: None,
        }
    }

    #[test]
    fn records_round_trip_and_are_deterministic() {
        let r = Record::new("my-env", 2, &entry()).unwrap();
        assert_eq!(r, Record::new("my-env", 2, &entry()).unwrap());
        let back = Record::parse("my-env", 2, &r.bytes).unwrap();
        assert_eq!(back, r);
        assert!(Record::parse("other", 2, &r.bytes)
            .unwrap_err()
            .contains("of `my-env`"));
        assert!(Record::parse("my-env", 3, &r.bytes)
            .unwrap_err()
            .contains("not 3"));
        assert!(Record::parse("my-env", 2, b"{}").is_err());
        assert_eq!(classify(&r.unique_tag()), Tag::Unique(2));
    }

    #[test]
    fn tags_are_classified() {
        assert_eq!(classify("12"), Tag::Number(12));
        assert_eq!(classify("012"), Tag::Other);
        assert_eq!(classify("0"), Tag::Other);
        assert_eq!(classify("latest"), Tag::Other);
        assert_eq!(classify("3.0123456789ab"), Tag::Unique(3));
        assert_eq!(classify("3.0123456789AB"), Tag::Other);
        assert_eq!(classify("3.01234"), Tag::Other);
    }

    #[test]
    fn link_headers_give_the_next_page() {
        assert_eq!(
            next_link(r#"</v2/r/tags/list?n=2&last=b>; rel="next""#).as_deref(),
            Some("/v2/r/tags/list?n=2&last=b")
        );
        assert_eq!(next_link(r#"<x>; rel="prev""#), None);
    }
}
