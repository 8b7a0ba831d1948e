//! Uploading an image from the layout, every digest kept: manifest and config bytes go up
//! exactly as stored, layers as stored. Per blob: `HEAD` first (the registry has it: skipped),
//! then a cross-repository mount when a repository of the same registry is known to have it
//! (the base's), else an upload — one `PUT` for a small blob, `PATCH` chunks for a large one,
//! resumed from the registry's `Range` after a failure. Several blobs move at once; the
//! manifest goes last, so a registry never serves a manifest whose blobs it lacks. An image
//! index goes up with all its manifests.

use super::client::{error_detail, header, read_small, Body, Client, Request};
use super::source::{short, status_error};
use super::{auth, Error, Reference};
use crate::oci::layout::Layout;
use crate::oci::manifest::{children, is_index_type, ParsedManifest};
use crate::oci::Descriptor;
use crate::types::digest::Digest;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use ureq::http::{Method, StatusCode};

/// Blobs up to this size go up in one request; larger ones in chunks of this size.
pub const CHUNK: u64 = 64 << 20;
/// Times an upload is started again after its session was lost.
const RESTARTS: u32 = 3;

/// What a push moved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// The digest of the manifest (or index) pushed.
    pub digest: Option<Digest>,
    pub uploaded: usize,
    pub mounted: usize,
    /// Blobs the registry had already.
    pub skipped: usize,
    pub bytes_uploaded: u64,
}

impl PushReport {
    fn add(&mut self, other: &PushReport) {
        self.uploaded += other.uploaded;
        self.mounted += other.mounted;
        self.skipped += other.skipped;
        self.bytes_uploaded += other.bytes_uploaded;
    }
}

enum Outcome {
    Skipped,
    Mounted,
    Uploaded(u64),
}

/// Pushes the image (or index) `entry` of `layout` to `dest` (its tag, or its digest when
/// `dest` has no tag). `mount_from`: repositories that may have the blobs already.
pub fn push_image(
    client: &Client,
    layout: &Layout,
    entry: &Descriptor,
    dest: &Reference,
    mount_from: &[Reference],
) -> Result<PushReport, Error> {
    let target = match &dest.tag {
        Some(t) => t.clone(),
        None => entry.digest.to_string(),
    };
    let mut report = push_tree(client, layout, entry, dest, mount_from, 0)?;
    put_manifest(client, layout, entry, dest, &target)?;
    report.digest = Some(entry.digest);
    client.progress.finish();
    Ok(report)
}

/// The blobs (and, for an index, the child manifests) of `entry`: everything but `entry`'s
/// own manifest.
fn push_tree(
    client: &Client,
    layout: &Layout,
    entry: &Descriptor,
    dest: &Reference,
    mount_from: &[Reference],
    depth: usize,
) -> Result<PushReport, Error> {
    let bytes = layout.read_json_blob(&entry.digest)?;
    let what = format!("manifest {}", entry.digest);
    if is_index_type(&entry.media_type) {
        if depth > 4 {
            return Err(Error::Protocol {
                url: dest.to_string(),
                reason: format!("{what}: image indexes nested too deeply"),
            });
        }
        let mut report = PushReport::default();
        for child in children(&bytes, &what)? {
            report.add(&push_tree(
                client,
                layout,
                &child,
                dest,
                mount_from,
                depth + 1,
            )?);
            put_manifest(client, layout, &child, dest, &child.digest.to_string())?;
        }
        return Ok(report);
    }
    let parsed = ParsedManifest::parse(&bytes, &what)?;
    let mut blobs: Vec<Descriptor> = vec![parsed.config.clone()];
    for l in &parsed.layers {
        if !blobs.iter().any(|b| b.digest == l.digest) {
            blobs.push(l.clone());
        }
    }
    push_blobs(client, layout, &blobs, dest, mount_from)
}

/// Uploads `blobs` with `jobs` workers; the first error stops the rest.
fn push_blobs(
    client: &Client,
    layout: &Layout,
    blobs: &[Descriptor],
    dest: &Reference,
    mount_from: &[Reference],
) -> Result<PushReport, Error> {
    let report = Mutex::new(PushReport::default());
    let failed: Mutex<Option<Error>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let workers = client.options().jobs.clamp(1, blobs.len().max(1));
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                if failed.lock().expect("not poisoned").is_some() {
                    return;
                }
                let i = next.fetch_add(1, Ordering::SeqCst);
                let Some(blob) = blobs.get(i) else { return };
                match push_blob(client, layout, blob, dest, mount_from) {
                    Ok(o) => {
                        let mut r = report.lock().expect("not poisoned");
                        match o {
                            Outcome::Skipped => r.skipped += 1,
                            Outcome::Mounted => r.mounted += 1,
                            Outcome::Uploaded(n) => {
                                r.uploaded += 1;
                                r.bytes_uploaded += n;
                            }
                        }
                    }
                    Err(e) => {
                        failed.lock().expect("not poisoned").get_or_insert(e);
                        return;
                    }
                }
            });
        }
    });
    if let Some(e) = failed.into_inner().expect("not poisoned") {
        return Err(e);
    }
    Ok(report.into_inner().expect("not poisoned"))
}

fn push_blob(
    client: &Client,
    layout: &Layout,
    blob: &Descriptor,
    dest: &Reference,
    mount_from: &[Reference],
) -> Result<Outcome, Error> {
    let bar = client.progress.blob(&short(&blob.digest), blob.size);
    let scope = vec![auth::push_scope(&dest.repository)];
    let url = client.url(dest, &format!("blobs/{}", blob.digest))?;
    let resp = client.send(
        dest,
        &Request::new(Method::HEAD, url.clone(), scope.clone()),
    )?;
    match resp.status() {
        s if s.is_success() => {
            bar.skip(blob.size, "exists");
            return Ok(Outcome::Skipped);
        }
        StatusCode::NOT_FOUND => {}
        s => return Err(status_error(client, dest, &url, s, "push", String::new())),
    }
    let path = layout.blob_path(&blob.digest);
    let meta = std::fs::metadata(&path).map_err(|_| crate::oci::Error::MissingBlob {
        digest: blob.digest,
        path: path.clone(),
    })?;
    if meta.len() != blob.size {
        return Err(Error::Oci(crate::oci::Error::CorruptBlobSize {
            digest: blob.digest,
            expected: blob.size,
            found: meta.len(),
            path,
        }));
    }
    let mut restarts = 0;
    'restart: loop {
        let mut location = None;
        for from in mount_from
            .iter()
            .filter(|f| f.registry == dest.registry && f.repository != dest.repository)
        {
            let query = super::client::encode_query(&[
                ("mount", &blob.digest.to_string()),
                ("from", &from.repository),
            ]);
            let url = client.url(dest, &format!("blobs/uploads/?{query}"))?;
            let scope = vec![
                auth::push_scope(&dest.repository),
                auth::pull_scope(&from.repository),
            ];
            let resp = client.send(dest, &Request::new(Method::POST, url.clone(), scope))?;
            match resp.status() {
                StatusCode::CREATED => {
                    bar.skip(blob.size, "mounted");
                    return Ok(Outcome::Mounted);
                }
                // Not mountable: the registry opened an ordinary upload instead.
                StatusCode::ACCEPTED => {
                    location = Some(upload_location(client, dest, &url, &resp)?);
                    break;
                }
                _ => {}
            }
        }
        let mut location = match location {
            Some(l) => l,
            None => start_upload(client, dest)?,
        };
        let mut offset = 0u64;
        let mut stalls = 0;
        if blob.size <= CHUNK {
            let put = with_query(&location, &[("digest", &blob.digest.to_string())]);
            let req = Request::new(Method::PUT, put.clone(), scope.clone())
                .header("content-type", "application/octet-stream")
                .body(Body::File {
                    path: &path,
                    offset: 0,
                    len: blob.size,
                });
            let resp = client.send(dest, &req)?;
            if resp.status() == StatusCode::NOT_FOUND && restarts < RESTARTS {
                restarts += 1;
                continue 'restart;
            }
            finish(client, dest, &put, resp, blob)?;
            bar.inc(blob.size);
            return Ok(Outcome::Uploaded(blob.size));
        }
        while offset < blob.size {
            let len = CHUNK.min(blob.size - offset);
            let req = Request::new(Method::PATCH, location.clone(), scope.clone())
                .header("content-type", "application/octet-stream")
                .header("content-range", format!("{}-{}", offset, offset + len - 1))
                .body(Body::File {
                    path: &path,
                    offset,
                    len,
                });
            let result = client.send(dest, &req);
            let resumed = match result {
                Ok(resp) if resp.status() == StatusCode::ACCEPTED => {
                    location = upload_location(client, dest, &location, &resp)?;
                    offset += len;
                    bar.inc(len);
                    continue;
                }
                // The session is gone: start the blob again.
                Ok(resp) if resp.status() == StatusCode::NOT_FOUND && restarts < RESTARTS => {
                    restarts += 1;
                    bar.rewind(offset);
                    continue 'restart;
                }
                // A replayed chunk the registry partly has, or a failed connection: ask it
                // where the upload stands and go on from there.
                Ok(resp) if resp.status() == StatusCode::RANGE_NOT_SATISFIABLE => true,
                Err(e) if e.is_transient() => true,
                Ok(resp) => {
                    let status = resp.status();
                    let detail = error_detail(&read_small(resp, &location).unwrap_or_default());
                    return Err(status_error(
                        client, dest, &location, status, "push", detail,
                    ));
                }
                Err(e) => return Err(e),
            };
            if resumed {
                stalls += 1;
                if stalls > RESTARTS {
                    return Err(Error::transport(
                        &location,
                        format!("the upload of {} does not progress", blob.digest),
                    ));
                }
                match upload_status(client, dest, &location)? {
                    Some((loc, next)) => {
                        bar.rewind(offset.saturating_sub(next));
                        location = loc;
                        offset = next;
                    }
                    None if restarts < RESTARTS => {
                        restarts += 1;
                        bar.rewind(offset);
                        continue 'restart;
                    }
                    None => {
                        return Err(Error::transport(
                            &location,
                            "the registry lost the upload session".to_string(),
                        ))
                    }
                }
            }
        }
        let put = with_query(&location, &[("digest", &blob.digest.to_string())]);
        let resp = client.send(dest, &Request::new(Method::PUT, put.clone(), scope.clone()))?;
        finish(client, dest, &put, resp, blob)?;
        return Ok(Outcome::Uploaded(blob.size));
    }
}

/// `POST …/blobs/uploads/`: a new upload session's URL.
fn start_upload(client: &Client, dest: &Reference) -> Result<String, Error> {
    let url = client.url(dest, "blobs/uploads/")?;
    let scope = vec![auth::push_scope(&dest.repository)];
    let resp = client.send(dest, &Request::new(Method::POST, url.clone(), scope))?;
    if resp.status() != StatusCode::ACCEPTED {
        let status = resp.status();
        let detail = error_detail(&read_small(resp, &url).unwrap_or_default());
        return Err(status_error(client, dest, &url, status, "push", detail));
    }
    upload_location(client, dest, &url, &resp)
}

/// Where an upload stands (`GET` on its session): the session URL and the next byte; `None`
/// when the registry no longer has the session.
fn upload_status(
    client: &Client,
    dest: &Reference,
    location: &str,
) -> Result<Option<(String, u64)>, Error> {
    let scope = vec![auth::push_scope(&dest.repository)];
    let resp = client.send(
        dest,
        &Request::new(Method::GET, location.to_string(), scope),
    )?;
    if resp.status() == StatusCode::NOT_FOUND {
        return Ok(None);
    }
    if resp.status() != StatusCode::NO_CONTENT && !resp.status().is_success() {
        let status = resp.status();
        return Err(status_error(
            client,
            dest,
            location,
            status,
            "push",
            String::new(),
        ));
    }
    // `Range: 0-N` is the bytes received; none received is `0-0` on some registries and
    // absent on others.
    let next = header(&resp, "range")
        .and_then(|r| {
            let end: u64 = r.rsplit('-').next()?.trim().parse().ok()?;
            Some(end + 1)
        })
        .unwrap_or(0);
    let loc = upload_location(client, dest, location, &resp).unwrap_or(location.to_string());
    Ok(Some((loc, next)))
}

/// The upload's completion: `201`, and the digest the registry computed is ours.
fn finish(
    client: &Client,
    dest: &Reference,
    url: &str,
    resp: ureq::http::Response<ureq::Body>,
    blob: &Descriptor,
) -> Result<(), Error> {
    let status = resp.status();
    if !status.is_success() {
        let detail = error_detail(&read_small(resp, url).unwrap_or_default());
        return Err(status_error(client, dest, url, status, "push", detail));
    }
    if let Some(d) = header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok()) {
        if d != blob.digest {
            return Err(Error::DigestMismatch {
                what: format!("blob {} as the registry stored it", blob.digest),
                expected: blob.digest,
                found: d,
            });
        }
    }
    Ok(())
}

/// `PUT …/manifests/TARGET` with the stored bytes, exactly; the registry's digest must be ours.
pub(crate) fn put_manifest(
    client: &Client,
    layout: &Layout,
    entry: &Descriptor,
    dest: &Reference,
    target: &str,
) -> Result<(), Error> {
    let bytes = layout.read_json_blob(&entry.digest)?;
    put_manifest_bytes(client, dest, target, &entry.media_type, &bytes)
}

/// `PUT …/manifests/TARGET` of `bytes` as `media_type`.
pub(crate) fn put_manifest_bytes(
    client: &Client,
    dest: &Reference,
    target: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<(), Error> {
    let url = client.url(dest, &format!("manifests/{target}"))?;
    let req = Request::new(
        Method::PUT,
        url.clone(),
        vec![auth::push_scope(&dest.repository)],
    )
    .header("content-type", media_type)
    .body(Body::Bytes(bytes));
    let resp = client.send(dest, &req)?;
    let status = resp.status();
    if !status.is_success() {
        let detail = error_detail(&read_small(resp, &url).unwrap_or_default());
        return Err(status_error(client, dest, &url, status, "push", detail));
    }
    let ours = Digest::of(bytes);
    if let Some(d) = header(&resp, "docker-content-digest").and_then(|d| d.parse::<Digest>().ok()) {
        if d != ours {
            return Err(Error::DigestMismatch {
                what: format!("manifest {target} as the registry stored it"),
                expected: ours,
                found: d,
            });
        }
    }
    Ok(())
}

/// The `Location` of an upload reply, made absolute against the request's URL.
fn upload_location(
    client: &Client,
    dest: &Reference,
    request_url: &str,
    resp: &ureq::http::Response<ureq::Body>,
) -> Result<String, Error> {
    let loc = header(resp, "location").ok_or_else(|| Error::Protocol {
        url: request_url.to_string(),
        reason: "the upload reply has no Location".into(),
    })?;
    if loc.starts_with("http://") || loc.starts_with("https://") {
        return Ok(loc);
    }
    // `/v2/…`: on the same scheme and host as the API.
    let base = client.url(dest, "")?;
    let origin_end = base.find("/v2/").expect("API URLs have a /v2/ path");
    Ok(format!("{}{}", &base[..origin_end], loc))
}

/// `url` with `params` added to its query.
fn with_query(url: &str, params: &[(&str, &str)]) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}{}", super::client::encode_query(params))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_are_appended() {
        let d = format!("sha256:{}", "a".repeat(64));
        assert_eq!(
            with_query("http://h/v2/r/blobs/uploads/u?_state=x", &[("digest", &d)]),
            format!(
                "http://h/v2/r/blobs/uploads/u?_state=x&digest=sha256%3A{}",
                "a".repeat(64)
            )
        );
        assert!(with_query("http://h/u", &[("a", "b")]).ends_with("/u?a=b"));
    }
}
