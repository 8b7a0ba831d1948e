//! A registry repository as an [`ImageSource`]: the store imports from it as from a layout,
//! with the same checks (every blob's digest and size, every layer's diff_id). Its index is
//! the one manifest the reference names (a tag or a digest), fetched first and checked against
//! the digest the registry claims and the one the reference pins; manifests an image index
//! names are fetched by digest when asked for; blobs stream over their own connections, several
//! at once, and a connection that drops mid-blob is resumed with a `Range` request.

use super::client::{self, content_length, error_detail, header, read_capped, Client, Request};
use super::progress::BlobBar;
use super::{auth, Error, Reference};
use crate::oci::archive::ImageSource;
use crate::oci::{self, Descriptor, ANNOTATION_REF_NAME};
use crate::types::digest::Digest;
use std::collections::{BTreeMap, HashMap};
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use ureq::http::{Method, StatusCode};

/// The manifest media types asked for, most wanted first.
pub const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
    application/vnd.oci.image.manifest.v1+json, \
    application/vnd.docker.distribution.manifest.list.v2+json, \
    application/vnd.docker.distribution.manifest.v2+json";

/// Manifests above this size are refused (the distribution registry's own limit is 4 MiB).
pub const MAX_MANIFEST: u64 = 4 << 20;

/// Blobs downloaded at once by default.
pub const DEFAULT_JOBS: usize = 4;

/// One fetched manifest: its descriptor (media type, digest, size) and bytes.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub descriptor: Descriptor,
    pub bytes: Vec<u8>,
}

/// Fetches the manifest `what` (a tag or `sha256:…`) of `r`'s repository, verified: its
/// digest is the one `what` pins and the one the registry says (`Docker-Content-Digest`); at
/// most [`MAX_MANIFEST`] bytes. `Ok(None)`: the registry has no such manifest.
pub fn fetch_manifest(
    client: &Client,
    r: &Reference,
    what: &str,
) -> Result<Option<Fetched>, Error> {
    let url = client.url(r, &format!("manifests/{what}"))?;
    let req = Request::new(
        Method::GET,
        url.clone(),
        vec![auth::pull_scope(&r.repository)],
    )
    .header("accept", ACCEPT);
    let resp = client.send(r, &req)?;
    let status = resp.status();
    if status == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if !status.is_success() {
        let detail = error_detail(&client::read_small(resp, &url).unwrap_or_default());
        return Err(status_error(client, r, &url, status, "pull", detail));
    }
    let media_type = header(&resp, "content-type")
        .map(|c| c.split(';').next().unwrap_or("").trim().to_string())
        .unwrap_or_default();
    let claimed = header(&resp, "docker-content-digest");
    let bytes = read_capped(resp, &url, MAX_MANIFEST, "the manifest")?;
    let found = Digest::of(&bytes);
    let what_label = format!("{}@{what}", r.repository_name());
    if let Ok(pinned) = what.parse::<Digest>() {
        if pinned != found {
            return Err(Error::DigestMismatch {
                what: format!("manifest {what_label}"),
                expected: pinned,
                found,
            });
        }
    }
    if let Some(claimed) = claimed.and_then(|c| c.parse::<Digest>().ok()) {
        if claimed != found {
            return Err(Error::DigestMismatch {
                what: format!("manifest {what_label} (Docker-Content-Digest)"),
                expected: claimed,
                found,
            });
        }
    }
    // The document's own mediaType wins over a generic Content-Type.
    let doc_type = serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()
        .and_then(|v| v.get("mediaType")?.as_str().map(str::to_string));
    let media_type = doc_type.unwrap_or(media_type);
    Ok(Some(Fetched {
        descriptor: Descriptor {
            media_type,
            digest: found,
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
        },
        bytes,
    }))
}

/// The typed error for an unwanted status (`detail`: the registry's words, if read).
pub(crate) fn status_error(
    client: &Client,
    r: &Reference,
    url: &str,
    status: StatusCode,
    action: &'static str,
    detail: String,
) -> Error {
    match status {
        StatusCode::UNAUTHORIZED => Error::Unauthorized {
            registry: r.registry.clone(),
            detail: format!("{url} answered 401{detail}"),
            anonymous: !client.has_credential(r),
        },
        StatusCode::FORBIDDEN => Error::Denied {
            reference: r.repository_name(),
            action,
            detail,
        },
        StatusCode::NOT_FOUND => Error::NotFound {
            reference: r.to_string(),
            what: "the repository or image".into(),
            detail,
        },
        s => Error::Status {
            url: url.to_string(),
            status: s.as_u16(),
            detail,
        },
    }
}

/// A registry image to import.
pub struct RegistrySource<'c> {
    client: &'c Client,
    reference: Reference,
    label: PathBuf,
    top: Fetched,
    /// Manifests fetched so far, by digest (the top one, and an index's children).
    manifests: Mutex<HashMap<Digest, Vec<u8>>>,
    /// Digests an image index names as manifests: fetched from `/manifests/`, not `/blobs/`.
    children: Mutex<HashMap<Digest, u64>>,
    /// Every blob size a fetched manifest gives, so a download knows where it must end.
    sizes: Mutex<HashMap<Digest, u64>>,
}

impl<'c> RegistrySource<'c> {
    /// Fetches the manifest `r` names. A registry without it is `NotFound`, naming `r`.
    pub fn open(client: &'c Client, r: &Reference) -> Result<RegistrySource<'c>, Error> {
        let top = fetch_manifest(client, r, &r.manifest_ref())?.ok_or_else(|| Error::NotFound {
            reference: r.to_string(),
            what: format!("manifest `{}`", r.manifest_ref()),
            detail: String::new(),
        })?;
        let src = RegistrySource {
            client,
            reference: r.clone(),
            label: PathBuf::from(format!("docker://{r}")),
            manifests: Mutex::new(HashMap::new()),
            children: Mutex::new(HashMap::new()),
            sizes: Mutex::new(HashMap::new()),
            top: top.clone(),
        };
        src.learn(&top.descriptor.digest, &top.bytes);
        Ok(src)
    }

    /// The manifest (or index) the reference names.
    pub fn top(&self) -> &Descriptor {
        &self.top.descriptor
    }

    /// Remembers a verified manifest: its bytes, the manifests it names (an index) and the
    /// sizes of the blobs it names.
    fn learn(&self, digest: &Digest, bytes: &[u8]) {
        self.manifests
            .lock()
            .expect("not poisoned")
            .insert(*digest, bytes.to_vec());
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            return;
        };
        let mut sizes = self.sizes.lock().expect("not poisoned");
        let mut note = |d: &serde_json::Value| -> Option<(Digest, u64)> {
            let digest: Digest = d.get("digest")?.as_str()?.parse().ok()?;
            let size = d.get("size")?.as_u64()?;
            sizes.insert(digest, size);
            Some((digest, size))
        };
        if let Some(ms) = v.get("manifests").and_then(|m| m.as_array()) {
            let mut children = self.children.lock().expect("not poisoned");
            for m in ms {
                if let Some((d, s)) = note(m) {
                    children.insert(d, s);
                }
            }
        }
        if let Some(c) = v.get("config") {
            note(c);
        }
        for l in v
            .get("layers")
            .and_then(|l| l.as_array())
            .into_iter()
            .flatten()
        {
            note(l);
        }
    }

    fn source_error(&self, e: Error) -> oci::Error {
        oci::Error::Source(Box::new(e))
    }
}

impl ImageSource for RegistrySource<'_> {
    fn parallelism(&self) -> usize {
        self.client.options().jobs.max(1)
    }

    fn path(&self) -> &Path {
        &self.label
    }

    fn invalid(&self, reason: String) -> oci::Error {
        oci::Error::Base {
            source_path: self.label.clone(),
            reason,
        }
    }

    /// One entry: the manifest the reference names, under the reference's tag (or digest).
    fn read_index(&self, _max: u64) -> Result<Vec<u8>, oci::Error> {
        let mut entry = self.top.descriptor.clone();
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.into(), self.reference.manifest_ref());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": oci::MEDIA_TYPE_INDEX,
            "manifests": [entry.to_json()],
        });
        oci::canonical_json(&index)
    }

    fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), oci::Error> {
        if let Some(bytes) = self.manifests.lock().expect("not poisoned").get(digest) {
            let len = bytes.len() as u64;
            return Ok((Box::new(io::Cursor::new(bytes.clone())), len));
        }
        let child = self
            .children
            .lock()
            .expect("not poisoned")
            .get(digest)
            .copied();
        if child.is_some() {
            let fetched = fetch_manifest(self.client, &self.reference, &digest.to_string())
                .map_err(|e| self.source_error(e))?
                .ok_or_else(|| oci::Error::MissingBlob {
                    digest: *digest,
                    path: self.describe_blob(digest),
                })?;
            self.learn(digest, &fetched.bytes);
            let len = fetched.bytes.len() as u64;
            return Ok((Box::new(io::Cursor::new(fetched.bytes)), len));
        }
        let known = self
            .sizes
            .lock()
            .expect("not poisoned")
            .get(digest)
            .copied();
        let mut reader = BlobReader {
            client: self.client,
            reference: &self.reference,
            digest: *digest,
            url: String::new(),
            size: known.unwrap_or(0),
            pos: 0,
            body: None,
            failures: 0,
            bar: None,
        };
        let len = reader.start(known).map_err(|e| match e {
            Error::NotFound { .. } => oci::Error::MissingBlob {
                digest: *digest,
                path: self.describe_blob(digest),
            },
            e => self.source_error(e),
        })?;
        reader.bar = Some(self.client.progress.blob(&short(digest), len));
        Ok((Box::new(reader), len))
    }

    fn describe_blob(&self, digest: &Digest) -> PathBuf {
        PathBuf::from(format!(
            "docker://{}@{digest}",
            self.reference.repository_name()
        ))
    }
}

/// `sha256:0123456789ab`, for progress labels.
pub(crate) fn short(d: &Digest) -> String {
    d.hex()[..12].to_string()
}

/// A blob download that resumes where a dropped connection left it (`Range: bytes=POS-`), and
/// never reads past the size the manifest gives.
struct BlobReader<'a> {
    client: &'a Client,
    reference: &'a Reference,
    digest: Digest,
    url: String,
    size: u64,
    pos: u64,
    body: Option<Box<dyn Read + Send>>,
    failures: u32,
    bar: Option<BlobBar>,
}

/// Reconnections per blob before a dropped download is reported.
const RESUMES: u32 = 5;

impl BlobReader<'_> {
    /// The first request; returns the blob's length (the manifest's, else the reply's).
    fn start(&mut self, known: Option<u64>) -> Result<u64, Error> {
        self.url = self
            .client
            .url(self.reference, &format!("blobs/{}", self.digest))?;
        self.connect()?;
        Ok(self.size.max(known.unwrap_or(0)))
    }

    fn connect(&mut self) -> Result<(), Error> {
        let mut req = Request::new(
            Method::GET,
            self.url.clone(),
            vec![auth::pull_scope(&self.reference.repository)],
        );
        if self.pos > 0 {
            req = req.header("range", format!("bytes={}-", self.pos));
        }
        let resp = self.client.send(self.reference, &req)?;
        let status = resp.status();
        if !status.is_success() {
            let url = self.url.clone();
            let detail = error_detail(&client::read_small(resp, &url).unwrap_or_default());
            return Err(match status {
                StatusCode::NOT_FOUND => Error::NotFound {
                    reference: self.reference.to_string(),
                    what: format!("blob {}", self.digest),
                    detail,
                },
                s => status_error(self.client, self.reference, &url, s, "pull", detail),
            });
        }
        let length = content_length(&resp);
        let partial = status == StatusCode::PARTIAL_CONTENT;
        if self.size == 0 {
            self.size = length.unwrap_or(0);
        }
        let mut body: Box<dyn Read + Send> = Box::new(resp.into_body().into_reader());
        if self.pos > 0 && !partial {
            // The registry ignored the range: skip what was read already.
            io::copy(&mut (&mut body).take(self.pos), &mut io::sink())
                .map_err(|e| Error::transport(&self.url, e.to_string()))?;
        }
        self.body = Some(body);
        Ok(())
    }

    fn fail(&mut self, e: io::Error) -> io::Result<()> {
        self.body = None;
        self.failures += 1;
        if self.failures > RESUMES {
            return Err(io::Error::new(
                e.kind(),
                format!(
                    "{}: the download failed {} times at byte {} of {}: {e}",
                    self.url, self.failures, self.pos, self.size
                ),
            ));
        }
        std::thread::sleep(std::time::Duration::from_millis(
            200 * u64::from(self.failures),
        ));
        Ok(())
    }
}

impl Read for BlobReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos >= self.size || buf.is_empty() {
                return Ok(0);
            }
            if self.body.is_none() {
                if let Err(e) = self.connect() {
                    if e.is_transient() {
                        self.fail(io::Error::other(e.to_string()))?;
                        continue;
                    }
                    return Err(io::Error::other(e));
                }
            }
            let want = buf.len().min((self.size - self.pos) as usize);
            let body = self.body.as_mut().expect("connected");
            match body.read(&mut buf[..want]) {
                Ok(0) => self.fail(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the registry ended the blob early",
                ))?,
                Ok(n) => {
                    self.pos += n as u64;
                    if let Some(b) = &self.bar {
                        b.inc(n as u64);
                    }
                    return Ok(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => self.fail(e)?,
            }
        }
    }
}
