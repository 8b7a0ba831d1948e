//! The docker-archive image source: the tar `docker save` and `podman save --format
//! docker-archive` write (`manifest.json` = a list of `{Config, RepoTags, Layers}`, the config
//! as `<hex>.json`, layers as plain, gzip or zstd tars at `<hex>.tar`, `<dir>/layer.tar` or
//! `blobs/sha256/<hex>`), read in place as an [`ImageSource`]: one pass over the tar headers
//! locates every member (symlinks between members, which `docker save` < 25 writes for a
//! repeated layer, are followed inside the archive); nothing is extracted.
//!
//! The archive has no OCI index or manifests, so this module synthesises them: one OCI
//! manifest per `manifest.json` entry (canonical JSON; the config descriptor names the config
//! member's exact bytes, each layer descriptor its member's sha256, size and media type
//! `…tar`, `…tar+gzip` or `…tar+zstd` by magic bytes), and an index naming each manifest by its first
//! RepoTag (`org.opencontainers.image.ref.name`). Every config and layer member is hashed
//! **once, when the source is opened** (a member shared by several images once): the index
//! holds the manifests' digests, and they depend on every layer's digest, so there is nothing
//! to gain by waiting. An import then reads each layer a second time, to check and copy it.
//!
//! An archive from Docker ≥ 25 also holds `oci-layout`, `index.json` and `blobs/`: one with
//! both files is read as the oci-archive it is ([`open`]), and this module is not used.
//!
//! A reference selects by RepoTag: an exact match first; otherwise a RepoTag matches when it
//! is the reference after one of the prefixes engines add to a short name (`localhost/`,
//! podman's local images; `docker.io/library/` and `docker.io/`, Docker Hub's), with `:latest`
//! added to a reference that names no tag or digest. So `foo:bar` finds `localhost/foo:bar`,
//! and `ubuntu` finds `docker.io/library/ubuntu:latest`; two images found so is an error.

use super::archive::{ImageSource, LayoutSource};
use super::error::Error;
use super::manifest::MAX_JSON;
use super::scan::unsafe_path;
use super::spec::ImageIndex;
use super::{
    canonical_json, canonical_value, Descriptor, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_LAYER_ZSTD, MEDIA_TYPE_MANIFEST,
};
use crate::types::digest::Digest;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

/// Where a blob of the source is: a member of the archive, or a synthesised document.
#[derive(Debug, Clone)]
enum Blob {
    Member {
        name: String,
        offset: u64,
        size: u64,
    },
    Bytes(Vec<u8>),
}

/// A docker-archive read in place, with a synthesised OCI index and manifests.
#[derive(Debug)]
pub struct DockerArchiveSource {
    path: PathBuf,
    index: Vec<u8>,
    blobs: HashMap<Digest, Blob>,
    /// Per image (in `manifest.json` order): its RepoTags and its index name (the first tag).
    tags: Vec<(Vec<String>, Option<String>)>,
}

/// One entry of `manifest.json`, as `docker save` writes it (other keys are ignored).
#[derive(serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ManifestEntry {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Opens a docker-archive: read as an oci-archive when it has both `oci-layout` and
/// `index.json` (Docker ≥ 25), else as a classic `docker save` archive.
pub(crate) fn open(path: &Path) -> Result<LayoutSource, Error> {
    let files = index_members(path)?;
    if files.contains_key("oci-layout") && files.contains_key("index.json") {
        return LayoutSource::open_archive_members(path, files);
    }
    Ok(LayoutSource::Docker(Box::new(DockerArchiveSource::new(
        path, files,
    )?)))
}

/// The first image of a classic docker-archive with its members located but not hashed: for a
/// caller that reads only some of its layers and checks each against the config's diff_ids as
/// it streams (an engine's export, whose base layers the store already has). `None` for a
/// Docker ≥ 25 archive, which is an OCI layout and read as one.
pub(crate) struct UnhashedImage {
    pub(crate) config: Vec<u8>,
    /// Each layer member's offset and size in the archive, in `manifest.json`'s order.
    pub(crate) layers: Vec<(u64, u64)>,
}

pub(crate) fn first_image_unhashed(path: &Path) -> Result<Option<UnhashedImage>, Error> {
    let files = index_members(path)?;
    if files.contains_key("oci-layout") && files.contains_key("index.json") {
        return Ok(None);
    }
    let bad = |reason: String| not_a_docker_archive(path, reason);
    let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
    let entries = read_manifest_json(&files, &mut f, path)?;
    let e = &entries[0];
    let config = read_config(&files, &mut f, path, e).map_err(|r| r.into_error(path, None))?;
    let layers = e
        .layers
        .iter()
        .map(|l| {
            let name = member_name(l).map_err(&bad)?;
            files
                .get(&name)
                .copied()
                .ok_or_else(|| bad(format!("its layer `{l}` is missing")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(UnhashedImage { config, layers }))
}

/// The entries of `manifest.json` (at least one).
fn read_manifest_json(
    files: &HashMap<String, (u64, u64)>,
    f: &mut File,
    path: &Path,
) -> Result<Vec<ManifestEntry>, Error> {
    let bad = |reason: String| not_a_docker_archive(path, reason);
    let &(offset, size) = files
        .get("manifest.json")
        .ok_or_else(|| bad("it has no `manifest.json`".into()))?;
    if size > MAX_JSON {
        return Err(bad(format!(
            "its `manifest.json` is {size} bytes, more than the {MAX_JSON} envc reads"
        )));
    }
    let manifest_bytes = read_range(f, path, offset, size, "manifest.json")?;
    let entries: Vec<ManifestEntry> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| bad(format!("its `manifest.json` is not a list of images: {e}")))?;
    if entries.is_empty() {
        return Err(bad("its `manifest.json` lists no images".into()));
    }
    Ok(entries)
}

/// Why an entry's config cannot be read: a reason (named with its image by the caller) or an
/// I/O error.
enum ConfigError {
    Reason(String),
    Io(Error),
}

impl ConfigError {
    /// The error, the reason prefixed with `what` (which image) when given.
    fn into_error(self, path: &Path, what: Option<&dyn Fn(&str) -> String>) -> Error {
        match self {
            ConfigError::Reason(r) => not_a_docker_archive(
                path,
                match what {
                    Some(w) => w(&r),
                    None => r,
                },
            ),
            ConfigError::Io(e) => e,
        }
    }
}

/// The bytes of entry `e`'s config member (at most `MAX_JSON`).
fn read_config(
    files: &HashMap<String, (u64, u64)>,
    f: &mut File,
    path: &Path,
    e: &ManifestEntry,
) -> Result<Vec<u8>, ConfigError> {
    let config_name = member_name(&e.config).map_err(ConfigError::Reason)?;
    let &(offset, size) = files
        .get(&config_name)
        .ok_or_else(|| ConfigError::Reason(format!("its config `{}` is missing", e.config)))?;
    if size > MAX_JSON {
        return Err(ConfigError::Reason(format!(
            "its config `{}` is too large",
            e.config
        )));
    }
    read_range(f, path, offset, size, &config_name).map_err(ConfigError::Io)
}

impl DockerArchiveSource {
    fn new(path: &Path, files: HashMap<String, (u64, u64)>) -> Result<DockerArchiveSource, Error> {
        let bad = |reason: String| not_a_docker_archive(path, reason);
        let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
        let entries = read_manifest_json(&files, &mut f, path)?;
        let mut blobs = HashMap::new();
        // Member name → (digest, size, media type): each member hashed once.
        let mut hashed: HashMap<String, (Digest, u64, &str)> = HashMap::new();
        let mut manifests = Vec::new();
        let mut tags = Vec::new();
        for (i, e) in entries.iter().enumerate() {
            let what = |m: &str| format!("image {} of `manifest.json`: {m}", i + 1);
            let config = read_config(&files, &mut f, path, e)
                .map_err(|r| r.into_error(path, Some(&what)))?;
            let config_digest = Digest::of(&config);
            blobs.insert(config_digest, Blob::Bytes(config.clone()));
            let mut layers = Vec::new();
            for l in &e.layers {
                let name = member_name(l).map_err(|r| bad(what(&r)))?;
                let &(offset, size) = files
                    .get(&name)
                    .ok_or_else(|| bad(what(&format!("its layer `{l}` is missing"))))?;
                let (digest, size, media_type) = match hashed.get(&name) {
                    Some(h) => *h,
                    None => {
                        let h = hash_member(&mut f, path, offset, size, &name)?;
                        hashed.insert(name.clone(), h);
                        h
                    }
                };
                blobs.insert(digest, Blob::Member { name, offset, size });
                layers.push(descriptor(media_type, digest, size).to_json());
            }
            let manifest = canonical_value(&serde_json::json!({
                "schemaVersion": 2,
                "mediaType": MEDIA_TYPE_MANIFEST,
                "config": descriptor(MEDIA_TYPE_CONFIG, config_digest, config.len() as u64).to_json(),
                "layers": layers,
            }));
            let mut d = descriptor(
                MEDIA_TYPE_MANIFEST,
                Digest::of(&manifest),
                manifest.len() as u64,
            );
            let repo_tags = e.repo_tags.clone().unwrap_or_default();
            let name = repo_tags.first().cloned();
            if let Some(n) = &name {
                d.annotations.insert(ANNOTATION_REF_NAME.into(), n.clone());
            }
            blobs.insert(d.digest, Blob::Bytes(manifest));
            manifests.push(d);
            tags.push((repo_tags, name));
        }
        let index = canonical_json(&ImageIndex::new(manifests))?;
        Ok(DockerArchiveSource {
            path: path.to_path_buf(),
            index,
            blobs,
            tags,
        })
    }

    /// The index name of the image `reference` selects (see the module documentation), or
    /// `reference` itself when none matches (the index lookup then reports what there is).
    pub fn resolve(&self, reference: &str) -> Result<String, Error> {
        let named = |pred: &dyn Fn(&str) -> bool| -> Vec<&(Vec<String>, Option<String>)> {
            self.tags
                .iter()
                .filter(|(tags, _)| tags.iter().any(|t| pred(t)))
                .collect()
        };
        let mut found = named(&|t| t == reference);
        if found.is_empty() {
            let want = with_default_tag(reference);
            found = named(&|t| {
                ["localhost/", "docker.io/library/", "docker.io/"]
                    .iter()
                    .any(|p| t.strip_prefix(p) == Some(want.as_str()))
                    || t == want
            });
        }
        match found.as_slice() {
            [] => Ok(reference.to_string()),
            [(_, Some(name))] => Ok(name.clone()),
            [(_, None)] => Ok(reference.to_string()),
            several => Err(self.invalid(format!(
                "`{reference}` matches {} images (by their RepoTags {}); name one exactly",
                several.len(),
                several
                    .iter()
                    .filter_map(|(_, n)| n.as_deref())
                    .map(|n| format!("`{n}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }
}

/// `name` with `:latest` when it names neither a tag nor a digest.
fn with_default_tag(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || name.contains('@') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

impl ImageSource for DockerArchiveSource {
    fn path(&self) -> &Path {
        &self.path
    }

    fn invalid(&self, reason: String) -> Error {
        not_a_docker_archive(&self.path, reason)
    }

    fn read_index(&self, _max: u64) -> Result<Vec<u8>, Error> {
        Ok(self.index.clone())
    }

    fn resolve_reference(&self, reference: &str) -> Result<String, Error> {
        self.resolve(reference)
    }

    fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), Error> {
        match self.blobs.get(digest) {
            None => Err(Error::MissingBlob {
                digest: *digest,
                path: self.describe_blob(digest),
            }),
            Some(Blob::Bytes(b)) => Ok((Box::new(&b[..]), b.len() as u64)),
            Some(Blob::Member { offset, size, .. }) => {
                let mut f = File::open(&self.path).map_err(|e| Error::io(&self.path, e))?;
                f.seek(SeekFrom::Start(*offset))
                    .map_err(|e| Error::io(&self.path, e))?;
                Ok((Box::new(f.take(*size)), *size))
            }
        }
    }

    fn describe_blob(&self, digest: &Digest) -> PathBuf {
        match self.blobs.get(digest) {
            Some(Blob::Member { name, .. }) => self.path.join(name),
            _ => self.path.join(format!("(synthesised) {digest}")),
        }
    }
}

fn descriptor(media_type: &str, digest: Digest, size: u64) -> Descriptor {
    Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

pub(crate) fn not_a_docker_archive(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotADockerArchive {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A `Config`/`Layers` path of `manifest.json` as a member name: relative, no `..`.
fn member_name(p: &str) -> Result<String, String> {
    if p.is_empty() {
        return Err("an empty member path".into());
    }
    if unsafe_path(p.as_bytes()).is_some() {
        return Err(format!(
            "the member path `{p}` is absolute or has a `..` component"
        ));
    }
    Ok(normal_name(p))
}

/// A member name without leading `./` and trailing `/`.
fn normal_name(p: &str) -> String {
    let mut name = p;
    while let Some(rest) = name.strip_prefix("./") {
        name = rest;
    }
    name.trim_end_matches('/').to_string()
}

fn read_range(
    f: &mut File,
    path: &Path,
    offset: u64,
    size: u64,
    member: &str,
) -> Result<Vec<u8>, Error> {
    let at = path.join(member);
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(&at, e))?;
    let mut buf = Vec::with_capacity(size as usize);
    f.take(size)
        .read_to_end(&mut buf)
        .map_err(|e| Error::io(&at, e))?;
    if buf.len() as u64 != size {
        return Err(not_a_docker_archive(
            path,
            format!("member `{member}` is truncated"),
        ));
    }
    Ok(buf)
}

/// sha256, size and layer media type (plain, gzip or zstd, by its magic bytes) of one member.
fn hash_member(
    f: &mut File,
    path: &Path,
    offset: u64,
    size: u64,
    member: &str,
) -> Result<(Digest, u64, &'static str), Error> {
    let at = path.join(member);
    f.seek(SeekFrom::Start(offset))
        .map_err(|e| Error::io(&at, e))?;
    let mut r = f.take(size);
    let mut sha = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut first = Vec::new();
    let mut n_total = 0u64;
    loop {
        let n = match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(&at, e)),
        };
        if first.len() < 4 {
            first.extend_from_slice(&buf[..n.min(4 - first.len())]);
        }
        sha.update(&buf[..n]);
        n_total += n as u64;
    }
    if n_total != size {
        return Err(not_a_docker_archive(
            path,
            format!("member `{member}` is truncated"),
        ));
    }
    let media_type = if first.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        MEDIA_TYPE_LAYER_ZSTD
    } else if first.starts_with(&[0x1f, 0x8b]) {
        MEDIA_TYPE_LAYER_GZIP
    } else {
        MEDIA_TYPE_LAYER
    };
    Ok((Digest::from_bytes(sha.finalize().into()), size, media_type))
}

/// One pass over the archive's headers: where each regular file is, symlinks between members
/// resolved. Refuses unsafe and duplicate member names.
fn index_members(path: &Path) -> Result<HashMap<String, (u64, u64)>, Error> {
    let f = match File::open(path) {
        Ok(f) => f,
        Err(e) => {
            return Err(Error::io(
                path,
                io::Error::new(e.kind(), format!("cannot read this docker-archive: {e}")),
            ))
        }
    };
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(not_a_docker_archive(path, "it is a directory"));
    }
    let mut magic = [0u8; 2];
    if (&f).read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b] {
        return Err(not_a_docker_archive(
            path,
            "it is gzip-compressed; a docker-archive is a plain tar (gunzip it first)",
        ));
    }
    (&f).seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(path, e))?;
    let not_tar =
        |e: io::Error| not_a_docker_archive(path, format!("it is not a tar archive: {e}"));
    let mut archive = tar::Archive::new(&f);
    let mut files: HashMap<String, (u64, u64)> = HashMap::new();
    let mut links: HashMap<String, String> = HashMap::new();
    for entry in archive.entries_with_seek().map_err(not_tar)? {
        let entry = entry.map_err(not_tar)?;
        let raw = entry.path_bytes().into_owned();
        let text = String::from_utf8_lossy(&raw).into_owned();
        if unsafe_path(&raw).is_some() {
            return Err(Error::UnsafeArchive {
                archive: path.to_path_buf(),
                path: text,
                reason: "an absolute path or a `..` component".into(),
            });
        }
        let name = normal_name(&text);
        let kind = entry.header().entry_type();
        let new = match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let at = (entry.raw_file_position(), entry.size());
                !links.contains_key(&name) && files.insert(name.clone(), at).is_none()
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .map(|t| String::from_utf8_lossy(&t).into_owned())
                    .unwrap_or_default();
                !files.contains_key(&name) && links.insert(name.clone(), target).is_none()
            }
            _ => true, // directories, `repositories`' neighbours: nothing to locate
        };
        if !new {
            return Err(not_a_docker_archive(
                path,
                format!("member `{name}` appears more than once"),
            ));
        }
    }
    for (name, target) in &links {
        if let Some(at) = follow(name, target, &files, &links) {
            files.insert(name.clone(), at);
        }
    }
    Ok(files)
}

/// The file a symlink member leads to (relative to its directory, inside the archive, at most
/// 16 hops); `None` if it leads nowhere (a layer naming it is then "missing").
fn follow(
    name: &str,
    target: &str,
    files: &HashMap<String, (u64, u64)>,
    links: &HashMap<String, String>,
) -> Option<(u64, u64)> {
    let (mut name, mut target) = (name.to_string(), target.to_string());
    for _ in 0..16 {
        let mut parts: Vec<&str> = if target.starts_with('/') {
            Vec::new()
        } else {
            name.split('/').collect()
        };
        parts.pop();
        for c in target.split('/') {
            match c {
                "" | "." => {}
                ".." => {
                    parts.pop()?;
                }
                c => parts.push(c),
            }
        }
        let resolved = parts.join("/");
        if let Some(at) = files.get(&resolved) {
            return Some(*at);
        }
        target = links.get(&resolved)?.clone();
        name = resolved;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::{choose_image, SourceLocation};
    use crate::oci::layout::Layout;
    use crate::oci::testutil::{gzip, tar_of};

    enum Member<'a> {
        File(&'a str, &'a [u8]),
        Link(&'a str, &'a str),
    }

    fn archive(dir: &Path, members: &[Member]) -> PathBuf {
        let mut b = tar::Builder::new(Vec::new());
        for m in members {
            let mut h = tar::Header::new_gnu();
            match m {
                Member::File(p, data) => {
                    h.as_mut_bytes()[..p.len()].copy_from_slice(p.as_bytes());
                    h.set_size(data.len() as u64);
                    h.set_mode(0o644);
                    h.set_cksum();
                    b.append(&h, *data).unwrap();
                }
                Member::Link(p, target) => {
                    h.set_entry_type(tar::EntryType::Symlink);
                    h.set_path(p).unwrap();
                    h.set_link_name(target).unwrap();
                    h.set_size(0);
                    h.set_cksum();
                    b.append(&h, io::empty()).unwrap();
                }
            }
        }
        let path = dir.join("saved.tar");
        std::fs::write(&path, b.into_inner().unwrap()).unwrap();
        path
    }

    fn location(path: &Path, reference: Option<&str>) -> SourceLocation {
        SourceLocation::DockerArchive {
            path: path.to_path_buf(),
            reference: reference.map(str::to_string),
        }
    }

    /// Two layers (a plain `<dir>/layer.tar` and a gzip `<hex>.tar`) and a config with
    /// insignificant whitespace: imported unchanged into a layout.
    #[test]
    fn a_docker_save_archive_imports_into_a_layout() {
        let t = tempfile::tempdir().unwrap();
        let l1 = tar_of(&[("etc/hostname", b"docker")]);
        let l2_tar = tar_of(&[("etc/motd", b"hello")]);
        let l2 = gzip(&l2_tar);
        let config = format!(
            "{{ \"architecture\": \"amd64\", \"os\": \"linux\",\n  \"rootfs\": {{\"type\": \"layers\", \"diff_ids\": [\"{}\", \"{}\"]}} }}\n",
            Digest::of(&l1),
            Digest::of(&l2_tar)
        );
        let manifest = r#"[{"Config":"cfg.json","RepoTags":["localhost/foo:bar","foo:other"],"Layers":["abc/layer.tar","./def.tar"]}]"#;
        let path = archive(
            t.path(),
            &[
                Member::File("manifest.json", manifest.as_bytes()),
                Member::File("cfg.json", config.as_bytes()),
                Member::File("abc/layer.tar", &l1),
                Member::File("def.tar", &l2),
                Member::File("repositories", b"{}"),
            ],
        );
        for reference in [
            None,
            Some("localhost/foo:bar"),
            Some("foo:bar"),
            Some("foo:other"),
        ] {
            let src = LayoutSource::open(&location(&path, reference)).unwrap();
            let chosen = choose_image(&src, reference).unwrap();
            assert_eq!(
                chosen.annotations.get(ANNOTATION_REF_NAME).unwrap(),
                "localhost/foo:bar"
            );
            let layout = Layout::open_or_create(&t.path().join("layout")).unwrap();
            let image = layout.import_image(&src, &chosen).unwrap();
            assert_eq!(image.diff_ids, vec![Digest::of(&l1), Digest::of(&l2_tar)]);
            assert_eq!(image.layers[0].digest, Digest::of(&l1));
            assert_eq!(image.layers[0].media_type, MEDIA_TYPE_LAYER);
            assert_eq!(image.layers[1].digest, Digest::of(&l2));
            assert_eq!(image.layers[1].media_type, MEDIA_TYPE_LAYER_GZIP);
            let cfg = Digest::of(config.as_bytes());
            assert_eq!(layout.read_json_blob(&cfg).unwrap(), config.as_bytes());
            // The synthesised manifest is canonical JSON and names the config exactly.
            let m = layout.read_json_blob(&chosen.digest).unwrap();
            let v: serde_json::Value = serde_json::from_slice(&m).unwrap();
            assert_eq!(canonical_value(&v), m);
            assert_eq!(v["config"]["digest"], cfg.to_string());
            assert_eq!(v["config"]["size"], config.len());
        }
        let src = LayoutSource::open(&location(&path, None)).unwrap();
        let err = choose_image(&src, Some("nope:1")).unwrap_err();
        assert!(matches!(err, Error::RefNotFound { .. }), "{err}");
        assert!(err.to_string().contains("localhost/foo:bar"), "{err}");
    }

    /// `docker save` < 25 writes a repeated layer as a symlink to the first one's `layer.tar`;
    /// images without RepoTags have no name, and `ubuntu` finds `docker.io/library/ubuntu:latest`.
    #[test]
    fn symlinked_layers_and_short_names() {
        let t = tempfile::tempdir().unwrap();
        let l1 = tar_of(&[("a", b"1")]);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{0}","{0}"]}}}}"#,
            Digest::of(&l1)
        );
        let manifest = r#"[{"Config":"c.json","RepoTags":["docker.io/library/ubuntu:latest"],"Layers":["one/layer.tar","two/layer.tar"]},{"Config":"c.json","RepoTags":null,"Layers":["one/layer.tar","two/layer.tar"]}]"#;
        let path = archive(
            t.path(),
            &[
                Member::File("manifest.json", manifest.as_bytes()),
                Member::File("c.json", config.as_bytes()),
                Member::File("one/layer.tar", &l1),
                Member::Link("two/layer.tar", "../one/layer.tar"),
            ],
        );
        let src = LayoutSource::open(&location(&path, Some("ubuntu"))).unwrap();
        let err = choose_image(&src, None).unwrap_err();
        assert!(err.to_string().contains("lists 2 images"), "{err}");
        let chosen = choose_image(&src, Some("ubuntu")).unwrap();
        let layout = Layout::open_or_create(&t.path().join("layout")).unwrap();
        let image = layout.import_image(&src, &chosen).unwrap();
        assert_eq!(image.layers[0].digest, image.layers[1].digest);
    }

    #[test]
    fn broken_archives_are_refused_naming_the_reason() {
        let t = tempfile::tempdir().unwrap();
        let l1 = tar_of(&[("a", b"1")]);
        let ok_manifest = r#"[{"Config":"c.json","RepoTags":[],"Layers":["l.tar"]}]"#;
        let cases: Vec<(Vec<Member>, &str)> = vec![
            (
                vec![Member::File("c.json", b"{}")],
                "has no `manifest.json`",
            ),
            (
                vec![
                    Member::File(
                        "manifest.json",
                        br#"[{"Config":"c.json","Layers":["../l.tar"]}]"#,
                    ),
                    Member::File("c.json", b"{}"),
                ],
                "`../l.tar` is absolute or has a `..` component",
            ),
            (
                vec![
                    Member::File("manifest.json", ok_manifest.as_bytes()),
                    Member::File("c.json", b"{}"),
                ],
                "its layer `l.tar` is missing",
            ),
            (
                vec![
                    Member::File("manifest.json", ok_manifest.as_bytes()),
                    Member::File("l.tar", &l1),
                ],
                "its config `c.json` is missing",
            ),
            (
                vec![
                    Member::File("manifest.json", ok_manifest.as_bytes()),
                    Member::File("c.json", b"{}"),
                    Member::File("l.tar", &l1),
                    Member::File("./l.tar", &l1),
                ],
                "member `l.tar` appears more than once",
            ),
            (
                vec![Member::File("manifest.json", b"{\"Config\":1}")],
                "`manifest.json` is not a list of images",
            ),
            (
                vec![
                    Member::File("manifest.json", ok_manifest.as_bytes()),
                    Member::File("c.json", b"{}"),
                    Member::Link("l.tar", "../../etc/passwd"),
                ],
                "its layer `l.tar` is missing",
            ),
        ];
        for (members, reason) in cases {
            let path = archive(t.path(), &members);
            let err = LayoutSource::open(&location(&path, None)).unwrap_err();
            let text = err.to_string();
            assert!(matches!(err, Error::NotADockerArchive { .. }), "{text}");
            assert!(text.contains("saved.tar is not a docker-archive"), "{text}");
            assert!(text.contains(reason), "{reason}: {text}");
        }
        let path = t.path().join("x.tar");
        std::fs::write(&path, gzip(b"x")).unwrap();
        let err = LayoutSource::open(&location(&path, None)).unwrap_err();
        assert!(err.to_string().contains("gzip-compressed"), "{err}");
    }

    /// Docker ≥ 25 archives hold an OCI layout as well: read as the oci-archive they are (this
    /// one is envc's own docker-archive export, which has the same shape).
    #[test]
    fn an_archive_with_an_oci_layout_is_read_as_one() {
        let t = tempfile::tempdir().unwrap();
        let l1 = tar_of(&[("a", b"1")]);
        let config = format!(
            r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
            Digest::of(&l1)
        );
        let manifest = r#"[{"Config":"c.json","RepoTags":["x:1"],"Layers":["l.tar"]}]"#;
        let path = archive(
            t.path(),
            &[
                Member::File("manifest.json", manifest.as_bytes()),
                Member::File("c.json", config.as_bytes()),
                Member::File("l.tar", &l1),
            ],
        );
        let src = LayoutSource::open(&location(&path, None)).unwrap();
        let chosen = choose_image(&src, None).unwrap();
        let layout = Layout::open_or_create(&t.path().join("layout")).unwrap();
        layout.import_image(&src, &chosen).unwrap();
        let out = t.path().join("export.tar");
        layout
            .export(
                &chosen,
                "x:1",
                crate::oci::archive::ExportFormat::DockerArchive,
                &out,
            )
            .unwrap();
        let src = LayoutSource::open(&location(&out, Some("x:1"))).unwrap();
        assert!(matches!(src, LayoutSource::Archive { .. }));
        assert_eq!(
            choose_image(&src, Some("x:1")).unwrap().digest,
            chosen.digest
        );
    }
}
