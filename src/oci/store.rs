//! The store: one OCI image layout (image-spec 1.1) holding every revision of every environment
//! and every imported base image.
//!
//! Layout: `oci-layout`, `index.json`, `blobs/sha256/<hex>`, plus envc's private files under
//! `envc/` (a name OCI tools ignore): `envc/lock` (serialises `index.json` mutations),
//! `envc/gc.lock` (writers hold it shared, `gc` exclusive, so gc never deletes the blobs of a
//! build in progress), `envc/tmp/` (temp files), `envc/diffids/<diff_id hex>.<compression>`
//! (diff_id → stored blob descriptor, so a rebuild never recompresses a layer it has),
//! `envc/bases/<sha256 of a base name>` (which base manifest that name was last imported as) and
//! `envc/checked/<hex>` (a blob file's inode, size and times when envc last hashed it: a layer a
//! revision refers to without reading it is hashed again unless its file is unchanged).
//!
//! A revision is one `index.json` entry whose `org.opencontainers.image.ref.name` is
//! `NAME:REV`; a base is an entry named `envc.base/sha256-<manifest hex>` (names have no `/`,
//! so the two never collide). `index.json` is rewritten canonically, in a fixed order (bases by
//! ref, revisions by name and number, anything else after), atomically (temp file, fsync,
//! rename, fsync of the directory) and only under the lock after re-reading it. Blobs are
//! written before the lock is taken: they are content-addressed, so writing one twice is
//! harmless. A kill at any instant leaves a layout that verifies; `gc` removes what is left.

use super::blob::{self, BlobWriter, Compression, LayerScan, TempBlob};
use super::{
    canonical_json, Descriptor, Platform, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST,
};
use crate::types::digest::Digest;
use crate::types::name::{self, EnvName, Identifier};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// The revision number, as decimal text.
pub const ANNOTATION_REVISION: &str = "dev.envc.revision";
/// The spec digest (`sha256:…`) the revision was built from.
pub const ANNOTATION_SPEC_DIGEST: &str = "dev.envc.spec.digest";
/// The previous revision's number; absent on revision 1.
pub const ANNOTATION_PARENT: &str = "dev.envc.parent";
/// On a rollback revision: the revision that was latest when the rollback was made.
pub const ANNOTATION_ROLLED_BACK_FROM: &str = "dev.envc.rolled-back-from";
/// On a rollback revision: the revision whose content it carries.
pub const ANNOTATION_ROLLBACK_TO: &str = "dev.envc.rollback-to";
pub const ANNOTATION_BASE_NAME: &str = "org.opencontainers.image.base.name";
pub const ANNOTATION_BASE_DIGEST: &str = "org.opencontainers.image.base.digest";
/// On a base entry: the base's name as the spec wrote it.
pub const ANNOTATION_ENVC_BASE_NAME: &str = "dev.envc.base.name";
/// Base entries are named `envc.base/sha256-<manifest hex>`.
pub const BASE_REF_PREFIX: &str = "envc.base/sha256-";

/// Docker's manifest list (an image index), accepted on import.
pub const MEDIA_TYPE_DOCKER_MANIFEST_LIST: &str =
    "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker's uncompressed layer type, accepted on import.
pub const MEDIA_TYPE_DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar";

const LAYOUT_VERSION: &str = "1.0.0";
/// Manifests, configs and indexes larger than this are refused (they are kilobytes).
const MAX_JSON: u64 = 64 << 20;

// ---------------------------------------------------------------------------------------------
// Errors

/// Everything the store can refuse. Messages name the file, blob or reference involved.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{} is not an OCI image layout: {reason}", path.display())]
    NotALayout { path: PathBuf, reason: String },
    #[error("{} is not an oci-archive: {reason}", path.display())]
    NotAnArchive { path: PathBuf, reason: String },
    #[error("{what}: wrong digest: the descriptor says {expected}, the content is {found}")]
    DigestMismatch {
        what: String,
        expected: Digest,
        found: Digest,
    },
    #[error("{what}: wrong size: the descriptor says {expected} bytes, the blob has {found}")]
    SizeMismatch {
        what: String,
        expected: u64,
        found: u64,
    },
    #[error(
        "blob {digest} in the store is corrupt: its content has digest {found} ({}); \
         run `envc verify`",
        path.display()
    )]
    CorruptBlob {
        digest: Digest,
        found: Digest,
        path: PathBuf,
    },
    #[error("blob {digest} is missing ({})", path.display())]
    MissingBlob { digest: Digest, path: PathBuf },
    #[error("{what} has media type `{media_type}`, which envc does not accept")]
    UnknownMediaType { what: String, media_type: String },
    #[error("layer {layer} has an unsafe path `{path}` (absolute or with a `..` component)")]
    UnsafePath { layer: Digest, path: String },
    #[error("{}: refusing entry `{path}`: {reason}", archive.display())]
    UnsafeArchive {
        archive: PathBuf,
        path: String,
        reason: String,
    },
    #[error("layer {layer} is not valid gzip: {source}")]
    CorruptGzip {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error("layer {layer} is not a valid tar archive: {source}")]
    CorruptTar {
        layer: Digest,
        #[source]
        source: io::Error,
    },
    #[error(
        "layer {layer}: its uncompressed content has digest {found}, but the config's \
         rootfs.diff_ids says {expected}"
    )]
    DiffIdMismatch {
        layer: Digest,
        expected: Digest,
        found: Digest,
    },
    #[error("{}", name::name_not_found_message(.name.as_str()))]
    NameNotFound { name: EnvName },
    #[error("{}", name::revision_not_found_message(.name.as_str(), *.revision))]
    RevisionNotFound { name: EnvName, revision: u32 },
    #[error(
        "no image named `{reference}` in {}{}",
        layout.display(),
        available_refs(.available)
    )]
    RefNotFound {
        reference: String,
        layout: PathBuf,
        available: Vec<String>,
    },
    #[error("base image {}: {reason}", source_path.display())]
    Base {
        source_path: PathBuf,
        reason: String,
    },
    #[error("{what} is not valid JSON: {source}")]
    Json {
        what: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
}

fn available_refs(refs: &[String]) -> String {
    if refs.is_empty() {
        " (its index names no images)".to_string()
    } else {
        format!(" (it has: {})", refs.join(", "))
    }
}

impl Error {
    pub(crate) fn io(path: &Path, source: io::Error) -> Error {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

fn not_a_layout(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotALayout {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

fn not_an_archive(path: &Path, reason: impl Into<String>) -> Error {
    Error::NotAnArchive {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Public types

/// One revision: `NAME:REV` and its index entry (annotations included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revision {
    pub name: EnvName,
    pub revision: u32,
    pub manifest: Descriptor,
}

impl Revision {
    /// `NAME:REV`, the entry's `ref.name`.
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.revision)
    }

    /// An annotation of the index entry.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.manifest.annotations.get(key).map(String::as_str)
    }
}

/// What `commit` did: a new revision, or (`unchanged`) the latest one, whose manifest was the
/// same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commit {
    pub revision: Revision,
    pub unchanged: bool,
}

/// An imported base image's index entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BaseEntry {
    /// The name it was first imported under (`dev.envc.base.name`).
    pub name: String,
    pub manifest: Descriptor,
}

/// Where a base image comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BaseSource {
    /// An OCI layout directory; `reference` is a `ref.name` in its index (`None`: the only one).
    Layout {
        dir: PathBuf,
        reference: Option<String>,
    },
    /// An oci-archive: an uncompressed tar of a layout; `reference` as for `Layout`.
    Archive {
        path: PathBuf,
        reference: Option<String>,
    },
}

impl BaseSource {
    /// The archive at `path`, whose index names exactly one image.
    pub fn archive(path: PathBuf) -> BaseSource {
        BaseSource::Archive {
            path,
            reference: None,
        }
    }
}

/// A base in the store, ready for image assembly.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportedBase {
    /// The base's index entry in the store (annotations include the ref and base name).
    pub manifest: Descriptor,
    /// The base's image config.
    pub config: Value,
    /// The base's layers. Docker layer media types are given as their OCI equivalents (same
    /// bytes, same digests), so they can go into an OCI manifest as they are.
    pub layers: Vec<Descriptor>,
    /// `rootfs.diff_ids` of the config, one per layer.
    pub diff_ids: Vec<Digest>,
    /// From the config (`architecture`, `os`, `variant`), else from the source's descriptor.
    pub platform: Option<Platform>,
    /// The store already had this base: only its small JSON blobs were read.
    pub reused: bool,
}

/// The result of `verify`: `problems` empty means the store is sound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub problems: Vec<String>,
    pub blobs_checked: usize,
    pub bytes_checked: u64,
    pub revisions: usize,
    pub bases: usize,
}

impl VerifyReport {
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: usize,
    pub removed_temp: usize,
    pub bytes_freed: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// An OCI layout in a tar (`oci-archive:`).
    OciArchive,
    /// The same plus Docker's `manifest.json`, as `docker save` ≥ 25 writes (`docker load`).
    DockerArchive,
}

/// The exclusive store lock; released on drop. Every `index.json` mutation happens under it.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
    root: PathBuf,
}

/// An open store. Cheap to open; every query re-reads `index.json`.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    /// `envc/gc.lock`, held shared from the first write on, so `gc` waits for this writer.
    writing: Mutex<Option<File>>,
    /// Layers [`Store::check_layer`] has already found sound through this handle.
    layers_checked: Mutex<BTreeSet<Digest>>,
}

// ---------------------------------------------------------------------------------------------
// The index

/// `index.json` as read: the top-level object (kept, so foreign fields survive a rewrite) and
/// its entries, each raw and parsed.
struct Index {
    top: serde_json::Map<String, Value>,
    entries: Vec<(Value, Descriptor)>,
}

enum EntryKind {
    Base(String),
    Revision(EnvName, u32),
    Other(String),
}

fn entry_kind(d: &Descriptor) -> EntryKind {
    let Some(r) = d.annotations.get(ANNOTATION_REF_NAME) else {
        return EntryKind::Other(String::new());
    };
    if r.starts_with(BASE_REF_PREFIX) {
        return EntryKind::Base(r.clone());
    }
    match parse_revision_ref(r) {
        Some((name, rev)) => EntryKind::Revision(name, rev),
        None => EntryKind::Other(r.clone()),
    }
}

/// `NAME:REV` exactly as envc writes it (no leading zeros, REV ≥ 1).
fn parse_revision_ref(r: &str) -> Option<(EnvName, u32)> {
    let (name, rev) = r.rsplit_once(':')?;
    let n: u32 = rev.parse().ok()?;
    if n == 0 || n.to_string() != rev {
        return None;
    }
    Some((EnvName::parse(name).ok()?, n))
}

fn base_ref(manifest: &Digest) -> String {
    format!("{BASE_REF_PREFIX}{}", manifest.hex())
}

fn parse_index(bytes: &[u8], what: &str) -> Result<Index, String> {
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
    fn empty() -> Index {
        let mut top = serde_json::Map::new();
        top.insert("schemaVersion".into(), Value::from(2));
        top.insert("mediaType".into(), Value::from(MEDIA_TYPE_INDEX));
        Index {
            top,
            entries: Vec::new(),
        }
    }

    fn push(&mut self, d: Descriptor) {
        let raw = serde_json::to_value(&d).unwrap_or(Value::Null);
        self.entries.push((raw, d));
    }

    /// Canonical bytes, entries in the fixed order.
    fn to_bytes(&self) -> Vec<u8> {
        let mut entries: Vec<&(Value, Descriptor)> = self.entries.iter().collect();
        entries.sort_by_cached_key(|(_, d)| match entry_kind(d) {
            EntryKind::Base(r) => (0, r, 0, String::new()),
            EntryKind::Revision(n, rev) => (1, n.to_string(), rev, String::new()),
            EntryKind::Other(r) => (2, r, 0, d.digest.to_string()),
        });
        let mut top = self.top.clone();
        top.insert(
            "manifests".into(),
            Value::Array(entries.into_iter().map(|(v, _)| v.clone()).collect()),
        );
        if !top.contains_key("mediaType") {
            top.insert("mediaType".into(), Value::from(MEDIA_TYPE_INDEX));
        }
        canonical_json(&Value::Object(top))
    }
}

// ---------------------------------------------------------------------------------------------
// Store

impl Store {
    /// Opens an existing layout; never modifies anything.
    pub fn open(root: &Path) -> Result<Store, Error> {
        check_layout(root)?;
        Ok(Store {
            root: root.to_path_buf(),
            writing: Mutex::new(None),
            layers_checked: Mutex::new(BTreeSet::new()),
        })
    }

    /// Opens the layout at `root`, creating an empty one if `root` is absent or an empty
    /// directory. A non-empty directory that is not a layout is refused. Safe to race: the
    /// layout is built in a sibling temp directory and renamed into place.
    pub fn open_or_create(root: &Path) -> Result<Store, Error> {
        match fs::read_dir(root) {
            Ok(mut entries) => {
                if root.join("oci-layout").exists() {
                    return Store::open(root);
                }
                if entries.next().is_some() {
                    return Err(not_a_layout(
                        root,
                        "the directory is not empty and has no `oci-layout` file; refusing to \
                         turn it into a store (choose an empty or new directory)",
                    ));
                }
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(root, e)),
        }
        create_layout(root)?;
        Store::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("envc").join("tmp")
    }

    fn checked_dir(&self) -> PathBuf {
        self.root.join("envc").join("checked")
    }

    fn diffids_dir(&self) -> PathBuf {
        self.root.join("envc").join("diffids")
    }

    fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Creates envc's private directories (a layout written by another tool lacks them).
    fn ensure_private_dirs(&self) -> Result<(), Error> {
        for d in [self.blobs_dir(), self.tmp_dir(), self.diffids_dir()] {
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(())
    }

    /// Marks this handle as a writer (shared lock on `envc/gc.lock`) before it writes blobs or
    /// temp files, so that a concurrent `gc` waits instead of deleting them.
    fn start_writing(&self) -> Result<(), Error> {
        let mut guard = self.writing.lock().unwrap_or_else(|p| p.into_inner());
        if guard.is_some() {
            return Ok(());
        }
        self.ensure_private_dirs()?;
        let path = self.root.join("envc").join("gc.lock");
        let f = open_lock_file(&path)?;
        f.lock_shared().map_err(|e| Error::io(&path, e))?;
        *guard = Some(f);
        Ok(())
    }

    /// Takes the exclusive store lock (blocking). Hold it across read-modify-write of the index.
    pub fn lock(&self) -> Result<StoreLock, Error> {
        let dir = self.root.join("envc");
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join("lock");
        let f = open_lock_file(&path)?;
        f.lock().map_err(|e| Error::io(&path, e))?;
        Ok(StoreLock {
            _file: f,
            root: canonical(&self.root),
        })
    }

    /// A writer for one new blob.
    pub fn blob_writer(&self) -> Result<BlobWriter, Error> {
        self.start_writing()?;
        BlobWriter::new(&self.tmp_dir(), &self.blobs_dir())
    }

    /// Writes a small blob (JSON, a metadata layer) atomically. A blob already stored under
    /// this digest is reused only if it holds these bytes; otherwise it is corrupt, and that is
    /// an error (run `envc verify`) rather than a revision that points at it.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<(Digest, u64), Error> {
        let digest = Digest::of(bytes);
        if self.has_blob(&digest) {
            let path = self.blob_path(&digest);
            let stored = fs::read(&path).map_err(|e| Error::io(&path, e))?;
            if stored != bytes {
                return Err(Error::CorruptBlob {
                    digest,
                    found: Digest::of(&stored),
                    path,
                });
            }
            return Ok((digest, bytes.len() as u64));
        }
        let mut w = self.blob_writer()?;
        w.write_all(bytes)
            .map_err(|e| Error::io(&self.tmp_dir(), e))?;
        w.finish()
    }

    pub fn has_blob(&self, d: &Digest) -> bool {
        self.blob_path(d).is_file()
    }

    pub fn blob_path(&self, d: &Digest) -> PathBuf {
        self.blobs_dir().join(d.hex())
    }

    /// Reads a small blob and checks its digest.
    pub fn read_json_blob(&self, d: &Digest) -> Result<Vec<u8>, Error> {
        let path = self.blob_path(d);
        let bytes = read_small(&path, d)?;
        let found = Digest::of(&bytes);
        if found != *d {
            return Err(Error::CorruptBlob {
                digest: *d,
                found,
                path,
            });
        }
        Ok(bytes)
    }

    /// A stored blob for this diff_id and compression (`gzip`, `none`, …), if the store has it.
    pub fn cached_layer(&self, diff_id: &Digest, compression: &str) -> Option<Descriptor> {
        if !valid_compression_name(compression) {
            return None;
        }
        let path = self
            .diffids_dir()
            .join(format!("{}.{compression}", diff_id.hex()));
        let bytes = fs::read(path).ok()?;
        let d: Descriptor = serde_json::from_slice(&bytes).ok()?;
        let meta = fs::metadata(self.blob_path(&d.digest)).ok()?;
        (meta.is_file() && meta.len() == d.size).then_some(d)
    }

    /// Records that `blob` (already in the store) is the layer with this diff_id, compressed
    /// as `compression`.
    pub fn cache_layer(
        &self,
        diff_id: &Digest,
        compression: &str,
        blob: &Descriptor,
    ) -> Result<(), Error> {
        if !valid_compression_name(compression) {
            return Err(Error::Invalid {
                what: format!("compression name `{compression}`"),
                reason: "expected lower-case letters, digits, `+`, `-` or `.`".into(),
            });
        }
        self.start_writing()?;
        let path = self
            .diffids_dir()
            .join(format!("{}.{compression}", diff_id.hex()));
        let mut d = blob.clone();
        d.annotations.clear();
        self.write_file_atomically(&path, &canonical_json(&d))
    }

    /// temp file in envc/tmp → write → fsync → rename over `path` → fsync the directory.
    fn write_file_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
        let tmp_dir = self.tmp_dir();
        fs::create_dir_all(&tmp_dir).map_err(|e| Error::io(&tmp_dir, e))?;
        let mut tmp =
            blob::temp_file_for(&tmp_dir, "file-", path).map_err(|e| Error::io(&tmp_dir, e))?;
        tmp.write_all(bytes)
            .and_then(|()| tmp.as_file().sync_all())
            .map_err(|e| Error::io(tmp.path(), e))?;
        tmp.persist(path).map_err(|e| Error::io(path, e.error))?;
        blob::sync_dir(path.parent().unwrap_or(Path::new(".")))
    }

    fn read_index(&self) -> Result<Index, Error> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        parse_index(&bytes, "index.json").map_err(|r| not_a_layout(&self.root, r))
    }

    fn write_index(&self, _lock: &StoreLock, index: &Index) -> Result<(), Error> {
        self.write_file_atomically(&self.index_path(), &index.to_bytes())
    }

    fn check_lock(&self, lock: &StoreLock) -> Result<(), Error> {
        if lock.root != canonical(&self.root) {
            return Err(Error::Invalid {
                what: format!("the store lock of {}", lock.root.display()),
                reason: format!("it does not belong to the store at {}", self.root.display()),
            });
        }
        Ok(())
    }

    /// Whether `index.json` names nothing: no revision, no base.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.read_index()?.entries.is_empty())
    }

    /// Every revision (of `name`, or of all names), sorted by name and number.
    pub fn revisions(&self, name: Option<&EnvName>) -> Result<Vec<Revision>, Error> {
        Ok(revisions_of(&self.read_index()?, name))
    }

    /// `NAME:REV`, or the latest revision of `NAME`; Anyscale's messages when absent.
    pub fn resolve(&self, id: &Identifier) -> Result<Revision, Error> {
        let revs = self.revisions(Some(&id.name))?;
        if revs.is_empty() {
            return Err(Error::NameNotFound {
                name: id.name.clone(),
            });
        }
        match id.revision {
            None => Ok(revs.into_iter().next_back().expect("non-empty")),
            Some(n) => {
                revs.into_iter()
                    .find(|r| r.revision == n)
                    .ok_or_else(|| Error::RevisionNotFound {
                        name: id.name.clone(),
                        revision: n,
                    })
            }
        }
    }

    /// Records `manifest` (whose blobs must all be in the store) as the next revision of
    /// `name`, unless the latest revision has the same manifest digest (`unchanged`). Sets
    /// `ref.name`, `dev.envc.revision` and `dev.envc.parent`; keeps the caller's other
    /// annotations.
    pub fn commit(
        &self,
        lock: &StoreLock,
        name: &EnvName,
        manifest: Descriptor,
    ) -> Result<Commit, Error> {
        self.check_lock(lock)?;
        self.check_image_blobs(&manifest)?;
        let mut index = self.read_index()?;
        let latest = revisions_of(&index, Some(name)).into_iter().next_back();
        if let Some(latest) = &latest {
            if latest.manifest.digest == manifest.digest {
                return Ok(Commit {
                    revision: latest.clone(),
                    unchanged: true,
                });
            }
        }
        let number = latest.as_ref().map_or(1, |l| l.revision + 1);
        let mut d = manifest;
        d.annotations
            .insert(ANNOTATION_REF_NAME.into(), format!("{name}:{number}"));
        d.annotations
            .insert(ANNOTATION_REVISION.into(), number.to_string());
        match &latest {
            Some(l) => d
                .annotations
                .insert(ANNOTATION_PARENT.into(), l.revision.to_string()),
            None => d.annotations.remove(ANNOTATION_PARENT),
        };
        index.push(d.clone());
        self.write_index(lock, &index)?;
        Ok(Commit {
            revision: Revision {
                name: name.clone(),
                revision: number,
                manifest: d,
            },
            unchanged: false,
        })
    }

    /// Before committing: the manifest and its config are read and hashed (they are small and
    /// a revision is built on them), the layers checked by [`Store::check_layer`].
    fn check_image_blobs(&self, manifest: &Descriptor) -> Result<(), Error> {
        let bytes = self.read_json_blob(&manifest.digest)?;
        if bytes.len() as u64 != manifest.size {
            return Err(Error::SizeMismatch {
                what: format!("manifest {}", manifest.digest),
                expected: manifest.size,
                found: bytes.len() as u64,
            });
        }
        let parsed = ParsedManifest::parse(&bytes, &format!("manifest {}", manifest.digest))?;
        let config = self.read_json_blob(&parsed.config.digest)?;
        if config.len() as u64 != parsed.config.size {
            return Err(Error::SizeMismatch {
                what: format!("config {}", parsed.config.digest),
                expected: parsed.config.size,
                found: config.len() as u64,
            });
        }
        for layer in &parsed.layers {
            self.check_layer(layer)?;
        }
        Ok(())
    }

    /// A stored layer a new revision refers to without reading it: present, of its size, and
    /// either unchanged since envc last hashed it (`envc/checked/`) or hashed now.
    pub fn check_layer(&self, layer: &Descriptor) -> Result<(), Error> {
        let path = self.blob_path(&layer.digest);
        match fs::metadata(&path) {
            Ok(m) if m.is_file() && m.len() == layer.size => {
                let mut done = self
                    .layers_checked
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if done.contains(&layer.digest) {
                    return Ok(()); // checked before this build wrote anything; once is enough
                }
                let checked = self.checked_dir();
                if !blob::still_checked(&checked, &layer.digest, &path) {
                    blob::hash_stored(&path, &layer.digest, layer.size)?;
                    blob::record_checked(&checked, &layer.digest, &path);
                }
                done.insert(layer.digest);
                Ok(())
            }
            Ok(m) => Err(Error::SizeMismatch {
                what: format!(
                    "blob {} ({}); run `envc verify`",
                    layer.digest,
                    path.display()
                ),
                expected: layer.size,
                found: m.len(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::MissingBlob {
                digest: layer.digest,
                path,
            }),
            Err(e) => Err(Error::io(&path, e)),
        }
    }

    /// Reads a stored layer once, checking its digest, size and that it decompresses to
    /// `diff_id` (for small layers found through the diff_id cache, which is only a cache).
    pub(crate) fn check_cached_layer(
        &self,
        layer: &Descriptor,
        diff_id: &Digest,
    ) -> Result<(), Error> {
        let path = self.blob_path(&layer.digest);
        let compression =
            layer_compression(&layer.media_type).ok_or_else(|| Error::UnknownMediaType {
                what: format!("layer {}", layer.digest),
                media_type: layer.media_type.clone(),
            })?;
        let file = File::open(&path).map_err(|e| Error::io(&path, e))?;
        let scan = match blob::scan_layer(file, compression, &layer.digest, &path, None) {
            Ok((scan, _)) => scan,
            Err(e @ Error::Io { .. }) => return Err(e),
            // Not a sound layer: if its bytes are not its digest, name it as a corrupt blob.
            Err(e) => {
                return Err(blob::hash_stored(&path, &layer.digest, layer.size)
                    .err()
                    .unwrap_or(e))
            }
        };
        if scan.digest != layer.digest || scan.size != layer.size {
            return Err(Error::CorruptBlob {
                digest: layer.digest,
                found: scan.digest,
                path,
            });
        }
        if scan.diff_id != *diff_id {
            return Err(Error::DiffIdMismatch {
                layer: layer.digest,
                expected: *diff_id,
                found: scan.diff_id,
            });
        }
        Ok(())
    }

    /// Every imported base, by ref.
    pub fn bases(&self) -> Result<Vec<BaseEntry>, Error> {
        let index = self.read_index()?;
        let mut out: Vec<BaseEntry> = index
            .entries
            .iter()
            .filter(|(_, d)| matches!(entry_kind(d), EntryKind::Base(_)))
            .map(|(_, d)| BaseEntry {
                name: d
                    .annotations
                    .get(ANNOTATION_ENVC_BASE_NAME)
                    .cloned()
                    .unwrap_or_default(),
                manifest: d.clone(),
            })
            .collect();
        out.sort_by_key(|b| b.manifest.digest);
        Ok(out)
    }

    // -----------------------------------------------------------------------------------------
    // Import

    /// Imports a base image: verified once (every blob's digest and size, every layer's gzip,
    /// tar paths and diff_id), then trusted by digest. When the store already has this base
    /// and all its blobs, only small JSON blobs are read (`reused`). On any error nothing is
    /// added to `index.json`.
    pub fn import_base(&self, source: &BaseSource, base_name: &str) -> Result<ImportedBase, Error> {
        let src = Source::new(source)?;
        let index_bytes = src.read_whole("index.json", MAX_JSON)?;
        let index = parse_index(&index_bytes, "index.json").map_err(|r| src.invalid(r))?;
        let reference = match source {
            BaseSource::Layout { reference, .. } | BaseSource::Archive { reference, .. } => {
                reference.as_deref()
            }
        };
        let mut chosen = pick_manifest(&src, &index, reference)?;
        if is_index_type(&chosen.media_type) {
            let bytes = src.read_json(&chosen, "image index")?;
            let nested = parse_index(&bytes, &format!("image index {}", chosen.digest))
                .map_err(|r| src.base_error(r))?;
            chosen = pick_platform(&src, &nested, &chosen)?;
        }
        if !is_manifest_type(&chosen.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("manifest {}", chosen.digest),
                media_type: chosen.media_type.clone(),
            });
        }
        if let Some(mut reused) = self.try_reuse(&chosen)? {
            if self.base_map(base_name) != Some(chosen.digest) {
                reused.manifest = self.record_base(reused.manifest.clone(), base_name)?;
            }
            return Ok(reused);
        }

        // Full import: small JSON first, every check before any big read.
        let manifest_bytes = src.read_json(&chosen, "manifest")?;
        let parsed =
            ParsedManifest::parse(&manifest_bytes, &format!("manifest {}", chosen.digest))?;
        if !is_config_type(&parsed.config.media_type) {
            return Err(Error::UnknownMediaType {
                what: format!("config {}", parsed.config.digest),
                media_type: parsed.config.media_type.clone(),
            });
        }
        let compressions = parsed
            .layers
            .iter()
            .map(|l| {
                layer_compression(&l.media_type).ok_or_else(|| Error::UnknownMediaType {
                    what: format!("layer {}", l.digest),
                    media_type: l.media_type.clone(),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let config_bytes = src.read_json(&parsed.config, "config")?;
        let config: Value = json(&config_bytes, &format!("config {}", parsed.config.digest))?;
        let diff_ids = diff_ids_of(&config, parsed.layers.len())
            .map_err(|r| src.base_error(format!("config {}: {r}", parsed.config.digest)))?;

        self.start_writing()?;
        let n = parsed.layers.len();
        for (i, (layer, compression)) in parsed.layers.iter().zip(&compressions).enumerate() {
            let rel = blob_rel(&layer.digest);
            let (reader, len) = src.open(&rel, &layer.digest)?;
            let what = format!("layer {} of {n} ({})", i + 1, src.describe(&rel).display());
            if len != layer.size {
                return Err(Error::SizeMismatch {
                    what,
                    expected: layer.size,
                    found: len,
                });
            }
            let tee = if self.has_blob(&layer.digest) {
                None
            } else {
                Some(TempBlob::new(&self.tmp_dir(), &self.blobs_dir())?)
            };
            let (scan, tee) = blob::scan_layer(
                reader,
                *compression,
                &layer.digest,
                &src.describe(&rel),
                tee,
            )?;
            if scan.digest != layer.digest {
                return Err(Error::DigestMismatch {
                    what,
                    expected: layer.digest,
                    found: scan.digest,
                });
            }
            if scan.diff_id != diff_ids[i] {
                return Err(Error::DiffIdMismatch {
                    layer: layer.digest,
                    expected: diff_ids[i],
                    found: scan.diff_id,
                });
            }
            if let Some(tee) = tee {
                tee.persist(&layer.digest)?;
            }
        }
        self.write_blob(&config_bytes)?;
        self.write_blob(&manifest_bytes)?;

        let platform = platform_of(&config).or_else(|| chosen.platform.clone());
        let entry = Descriptor {
            media_type: chosen.media_type.clone(),
            digest: chosen.digest,
            size: chosen.size,
            annotations: BTreeMap::from([
                (ANNOTATION_REF_NAME.to_string(), base_ref(&chosen.digest)),
                (ANNOTATION_ENVC_BASE_NAME.to_string(), base_name.to_string()),
            ]),
            platform: platform.clone(),
        };
        let manifest = self.record_base(entry, base_name)?;
        Ok(ImportedBase {
            manifest,
            config,
            layers: parsed.layers.iter().map(oci_layer).collect(),
            diff_ids,
            platform,
            reused: false,
        })
    }

    /// The base most recently imported under `base_name` (as the spec writes it), answered
    /// from the store's small JSON blobs (`reused` = true); `None` if there is none or its blobs
    /// are not all present (import it again).
    pub fn stored_base(&self, base_name: &str) -> Result<Option<ImportedBase>, Error> {
        let Some(digest) = self.base_map(base_name) else {
            return Ok(None);
        };
        let d = Descriptor {
            media_type: MEDIA_TYPE_MANIFEST.into(),
            digest,
            size: 0,
            annotations: BTreeMap::new(),
            platform: None,
        };
        self.try_reuse(&d)
    }

    /// `envc/bases/<sha256 of the name>`: which manifest a base name was last imported as.
    fn base_map_path(&self, base_name: &str) -> PathBuf {
        self.root
            .join("envc")
            .join("bases")
            .join(Digest::of(base_name.as_bytes()).hex())
    }

    fn base_map(&self, base_name: &str) -> Option<Digest> {
        let bytes = fs::read(self.base_map_path(base_name)).ok()?;
        let v: Value = serde_json::from_slice(&bytes).ok()?;
        if v.get("name")?.as_str()? != base_name {
            return None;
        }
        v.get("manifest")?.as_str()?.parse().ok()
    }

    /// Under the lock: adds the base entry (unless the manifest already has one), then points
    /// `base_name` at it (`envc/bases/…`). Returns the entry as stored.
    fn record_base(&self, entry: Descriptor, base_name: &str) -> Result<Descriptor, Error> {
        self.start_writing()?;
        let lock = self.lock()?;
        let mut index = self.read_index()?;
        let want = base_ref(&entry.digest);
        let existing = index
            .entries
            .iter()
            .find(|(_, d)| d.annotations.get(ANNOTATION_REF_NAME) == Some(&want))
            .map(|(_, d)| d.clone());
        let stored = match existing {
            Some(d) => d,
            None => {
                index.push(entry.clone());
                self.write_index(&lock, &index)?;
                entry
            }
        };
        let map_dir = self.root.join("envc").join("bases");
        fs::create_dir_all(&map_dir).map_err(|e| Error::io(&map_dir, e))?;
        let map = serde_json::json!({ "name": base_name, "manifest": stored.digest });
        self.write_file_atomically(&self.base_map_path(base_name), &canonical_json(&map))?;
        drop(lock);
        Ok(stored)
    }

    /// The base is in the store with all its blobs: answer from the store's small JSON blobs.
    fn try_reuse(&self, chosen: &Descriptor) -> Result<Option<ImportedBase>, Error> {
        let index = self.read_index()?;
        let want = base_ref(&chosen.digest);
        let Some((_, entry)) = index
            .entries
            .iter()
            .find(|(_, d)| d.annotations.get(ANNOTATION_REF_NAME) == Some(&want))
        else {
            return Ok(None);
        };
        // A missing blob means "import it again"; a corrupt one is an error, never a silent
        // fallback that would leave it in place.
        let bytes = match self.read_json_blob(&entry.digest) {
            Err(Error::MissingBlob { .. }) => return Ok(None),
            r => r?,
        };
        let Ok(parsed) = ParsedManifest::parse(&bytes, "manifest") else {
            return Ok(None);
        };
        let config_bytes = match self.read_json_blob(&parsed.config.digest) {
            Err(Error::MissingBlob { .. }) => return Ok(None),
            r => r?,
        };
        if !parsed.layers.iter().all(|l| {
            fs::metadata(self.blob_path(&l.digest)).is_ok_and(|m| m.is_file() && m.len() == l.size)
        }) {
            return Ok(None);
        }
        let config: Value = json(&config_bytes, "config")?;
        let Ok(diff_ids) = diff_ids_of(&config, parsed.layers.len()) else {
            return Ok(None);
        };
        Ok(Some(ImportedBase {
            manifest: entry.clone(),
            platform: platform_of(&config).or_else(|| entry.platform.clone()),
            config,
            layers: parsed.layers.iter().map(oci_layer).collect(),
            diff_ids,
            reused: true,
        }))
    }

    // -----------------------------------------------------------------------------------------
    // Verify, gc, export

    /// The full check: every entry resolvable, every reachable blob's digest and size, every
    /// layer's diff_id. Reports every problem found instead of stopping at the first.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        let index = self.read_index()?;
        let mut report = VerifyReport::default();
        let mut checked = Seen::default();
        let mut refs: BTreeMap<String, usize> = BTreeMap::new();
        for (_, d) in &index.entries {
            let label = d
                .annotations
                .get(ANNOTATION_REF_NAME)
                .cloned()
                .unwrap_or_else(|| format!("entry {}", d.digest));
            *refs.entry(label.clone()).or_default() += 1;
            match entry_kind(d) {
                EntryKind::Base(r) => {
                    report.bases += 1;
                    if r != base_ref(&d.digest) {
                        report.problems.push(format!(
                            "{label}: the ref does not match digest {}",
                            d.digest
                        ));
                    }
                }
                EntryKind::Revision(_, n) => {
                    report.revisions += 1;
                    if d.annotations.get(ANNOTATION_REVISION) != Some(&n.to_string()) {
                        report.problems.push(format!(
                            "{label}: annotation {ANNOTATION_REVISION} is not {n}"
                        ));
                    }
                }
                EntryKind::Other(_) => {}
            }
            self.verify_image(d, &label, &mut checked, &mut report, 0);
        }
        for (r, count) in refs {
            if count > 1 {
                report
                    .problems
                    .push(format!("{r}: {count} index entries have this ref"));
            }
        }
        Ok(report)
    }

    /// Checks one blob's size and digest (once per digest); `Some(bytes)` for small JSON.
    fn verify_blob(
        &self,
        d: &Descriptor,
        what: &str,
        checked: &mut Seen,
        report: &mut VerifyReport,
    ) -> Option<Vec<u8>> {
        let path = self.blob_path(&d.digest);
        let fresh = match checked.json.get(&d.digest) {
            None => true,
            Some(false) => return None, // already reported
            Some(true) => false,
        };
        checked.json.insert(d.digest, false);
        let bytes = match read_small(&path, &d.digest) {
            Ok(b) => b,
            Err(e) => {
                if fresh {
                    report.problems.push(format!("{what}: {e}"));
                }
                return None;
            }
        };
        let mut ok = true;
        if bytes.len() as u64 != d.size {
            ok = false;
            report.problems.push(format!(
                "{what}: wrong size: the descriptor says {} bytes, the blob has {}",
                d.size,
                bytes.len()
            ));
        }
        if fresh {
            report.blobs_checked += 1;
            report.bytes_checked += bytes.len() as u64;
            let found = Digest::of(&bytes);
            if found != d.digest {
                report
                    .problems
                    .push(format!("{what}: blob {} has digest {found}", d.digest));
                return None;
            }
        }
        checked.json.insert(d.digest, true);
        ok.then_some(bytes)
    }

    fn verify_image(
        &self,
        d: &Descriptor,
        label: &str,
        checked: &mut Seen,
        report: &mut VerifyReport,
        depth: usize,
    ) {
        if is_index_type(&d.media_type) {
            let Some(bytes) = self.verify_blob(d, &format!("{label}: index"), checked, report)
            else {
                return;
            };
            match parse_index(&bytes, &format!("{label}: index {}", d.digest)) {
                Ok(nested) if depth < 4 => {
                    for (_, child) in &nested.entries {
                        self.verify_image(child, label, checked, report, depth + 1);
                    }
                }
                Ok(_) => report
                    .problems
                    .push(format!("{label}: image indexes nested too deeply")),
                Err(r) => report.problems.push(r),
            }
            return;
        }
        if !is_manifest_type(&d.media_type) {
            report.problems.push(format!(
                "{label}: unknown manifest media type `{}`",
                d.media_type
            ));
            return;
        }
        let what = format!("{label}: manifest {}", d.digest);
        let Some(bytes) = self.verify_blob(d, &what, checked, report) else {
            return;
        };
        let parsed = match ParsedManifest::parse(&bytes, &what) {
            Ok(p) => p,
            Err(e) => return report.problems.push(e.to_string()),
        };
        let cwhat = format!("{label}: config {}", parsed.config.digest);
        let diff_ids = self
            .verify_blob(&parsed.config, &cwhat, checked, report)
            .and_then(|b| match json::<Value>(&b, &cwhat) {
                Ok(c) => match diff_ids_of(&c, parsed.layers.len()) {
                    Ok(ids) => Some(ids),
                    Err(r) => {
                        report.problems.push(format!("{cwhat}: {r}"));
                        None
                    }
                },
                Err(e) => {
                    report.problems.push(e.to_string());
                    None
                }
            });
        for (i, layer) in parsed.layers.iter().enumerate() {
            let lwhat = format!("{label}: layer {} ({})", i + 1, layer.digest);
            let Some(compression) = layer_compression(&layer.media_type) else {
                report.problems.push(format!(
                    "{lwhat}: unknown layer media type `{}`",
                    layer.media_type
                ));
                continue;
            };
            let scan = match checked.layers.get(&layer.digest) {
                Some(s) => *s,
                None => {
                    let s = self.scan_stored_layer(layer, compression, &lwhat, report);
                    checked.layers.insert(layer.digest, s);
                    s
                }
            };
            if let (Some(scan), Some(ids)) = (scan, &diff_ids) {
                if scan.size != layer.size {
                    report.problems.push(format!(
                        "{lwhat}: wrong size: the descriptor says {} bytes, the blob has {}",
                        layer.size, scan.size
                    ));
                }
                if scan.diff_id != ids[i] {
                    report.problems.push(format!(
                        "{lwhat}: uncompressed digest {} differs from the config's diff_id {}",
                        scan.diff_id, ids[i]
                    ));
                }
            }
        }
    }

    fn scan_stored_layer(
        &self,
        layer: &Descriptor,
        compression: Compression,
        what: &str,
        report: &mut VerifyReport,
    ) -> Option<LayerScan> {
        let path = self.blob_path(&layer.digest);
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                report.problems.push(format!("{what}: blob is missing"));
                return None;
            }
            Err(e) => {
                report
                    .problems
                    .push(format!("{what}: {}", Error::io(&path, e)));
                return None;
            }
        };
        match blob::scan_layer(file, compression, &layer.digest, &path, None) {
            Ok((scan, _)) => {
                report.blobs_checked += 1;
                report.bytes_checked += scan.size;
                if scan.digest != layer.digest {
                    report
                        .problems
                        .push(format!("{what}: blob has digest {}", scan.digest));
                    return None;
                }
                blob::record_checked(&self.checked_dir(), &layer.digest, &path);
                Some(scan)
            }
            Err(e) => {
                report.problems.push(format!("{what}: {e}"));
                None
            }
        }
    }

    /// Removes temp files and every blob no index entry reaches (through manifests, indexes,
    /// configs and layers). Never touches an index entry. Waits for writers (other handles
    /// that have written blobs hold `envc/gc.lock` shared) and holds the store lock. Refuses to
    /// run when a reachable manifest cannot be read (it would not know what that manifest
    /// needs): run `verify`.
    pub fn gc(&self) -> Result<GcReport, Error> {
        // Drop this handle's own writer lock, then wait for every other writer.
        *self.writing.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.ensure_private_dirs()?;
        let gc_path = self.root.join("envc").join("gc.lock");
        let gc_lock = open_lock_file(&gc_path)?;
        gc_lock.lock().map_err(|e| Error::io(&gc_path, e))?;
        let lock = self.lock()?;
        let index = self.read_index()?;

        let mut reachable = BTreeSet::new();
        let mut stack: Vec<Descriptor> = index.entries.iter().map(|(_, d)| d.clone()).collect();
        while let Some(d) = stack.pop() {
            if !reachable.insert(d.digest) {
                continue;
            }
            if (is_index_type(&d.media_type) || is_manifest_type(&d.media_type))
                && self.has_blob(&d.digest)
            {
                let bytes = self.read_json_blob(&d.digest)?;
                stack.extend(children(&bytes, &format!("blob {}", d.digest))?);
            }
        }

        let mut report = GcReport::default();
        let tmp = self.tmp_dir();
        for entry in fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))? {
            let path = entry.map_err(|e| Error::io(&tmp, e))?.path();
            let size = fs::symlink_metadata(&path).map(|m| m.len()).unwrap_or(0);
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(|e| Error::io(&path, e))?;
            report.removed_temp += 1;
            report.bytes_freed += size;
        }
        let blobs = self.blobs_dir();
        for entry in fs::read_dir(&blobs).map_err(|e| Error::io(&blobs, e))? {
            let entry = entry.map_err(|e| Error::io(&blobs, e))?;
            let name = entry.file_name();
            let Some(digest) = name
                .to_str()
                .and_then(|n| format!("sha256:{n}").parse::<Digest>().ok())
            else {
                continue; // not a blob name: not ours to judge
            };
            if reachable.contains(&digest) {
                continue;
            }
            let path = entry.path();
            let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            report.removed_blobs += 1;
            report.bytes_freed += size;
        }
        blob::sync_dir(&blobs)?;
        // Cache entries whose blob is gone.
        let diffids = self.diffids_dir();
        for entry in fs::read_dir(&diffids).map_err(|e| Error::io(&diffids, e))? {
            let path = entry.map_err(|e| Error::io(&diffids, e))?.path();
            let keep = fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Descriptor>(&b).ok())
                .is_some_and(|d| self.has_blob(&d.digest));
            if !keep {
                fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
            }
        }
        // Checked-blob records whose blob is gone.
        let checked = self.checked_dir();
        if let Ok(entries) = fs::read_dir(&checked) {
            for entry in entries {
                let entry = entry.map_err(|e| Error::io(&checked, e))?;
                if !self.blobs_dir().join(entry.file_name()).is_file() {
                    let path = entry.path();
                    fs::remove_file(&path).map_err(|e| Error::io(&path, e))?;
                }
            }
        }
        drop(lock);
        drop(gc_lock);
        Ok(report)
    }

    /// Writes one revision as a deterministic tar (sorted entries, mtime 0, uid/gid 0, modes
    /// 0644/0755, no PAX): an OCI layout with only that image's blobs and one index entry
    /// (`ref.name` = `NAME:REV`), plus `manifest.json` for `DockerArchive`. Layers are copied
    /// as stored, never recompressed. Written to a temp file next to `out`, then renamed.
    pub fn export(&self, rev: &Revision, format: ExportFormat, out: &Path) -> Result<(), Error> {
        let manifest_bytes = self.read_json_blob(&rev.manifest.digest)?;
        let parsed = ParsedManifest::parse(
            &manifest_bytes,
            &format!("manifest {}", rev.manifest.digest),
        )?;
        let mut blobs: BTreeMap<String, Descriptor> = BTreeMap::new();
        blobs.insert(rev.manifest.digest.hex(), rev.manifest.clone());
        blobs.insert(parsed.config.digest.hex(), parsed.config.clone());
        for l in &parsed.layers {
            blobs.insert(l.digest.hex(), l.clone());
        }
        for d in blobs.values() {
            let meta = fs::metadata(self.blob_path(&d.digest)).map_err(|_| Error::MissingBlob {
                digest: d.digest,
                path: self.blob_path(&d.digest),
            })?;
            if meta.len() != d.size {
                return Err(Error::SizeMismatch {
                    what: format!("blob {}", d.digest),
                    expected: d.size,
                    found: meta.len(),
                });
            }
        }
        let mut entry = rev.manifest.clone();
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.into(), rev.reference());
        let index = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MEDIA_TYPE_INDEX,
            "manifests": [entry],
        });
        let docker = serde_json::json!([{
            "Config": format!("blobs/sha256/{}", parsed.config.digest.hex()),
            "RepoTags": [rev.reference()],
            "Layers": parsed.layers.iter()
                .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
                .collect::<Vec<_>>(),
        }]);

        let tmp = blob::AtomicFile::create(out).map_err(|e| Error::io(out, e))?;
        let tmp_path = tmp.path().to_path_buf();
        let io_err = |e: io::Error| Error::io(&tmp_path, e);
        let mut builder = tar::Builder::new(BufWriter::with_capacity(1 << 20, tmp));
        append_dir(&mut builder, "blobs/").map_err(io_err)?;
        append_dir(&mut builder, "blobs/sha256/").map_err(io_err)?;
        for (hex, d) in &blobs {
            // Hashed on the way out: a corrupt blob fails the export (the temp file is dropped)
            // instead of being copied.
            let path = self.blob_path(&d.digest);
            let f = File::open(&path).map_err(|e| Error::io(&path, e))?;
            let mut r = blob::HashingReader::new(f, true);
            append_file(&mut builder, &format!("blobs/sha256/{hex}"), d.size, &mut r)
                .map_err(io_err)?;
            r.check(&d.digest, d.size, &path)?;
        }
        let index_bytes = canonical_json(&index);
        append_file(
            &mut builder,
            "index.json",
            index_bytes.len() as u64,
            &index_bytes[..],
        )
        .map_err(io_err)?;
        if format == ExportFormat::DockerArchive {
            let b = canonical_json(&docker);
            append_file(&mut builder, "manifest.json", b.len() as u64, &b[..]).map_err(io_err)?;
        }
        let layout = layout_file_bytes();
        append_file(&mut builder, "oci-layout", layout.len() as u64, &layout[..])
            .map_err(io_err)?;
        let w = builder.into_inner().map_err(io_err)?;
        let tmp = w.into_inner().map_err(|e| io_err(e.into_error()))?;
        tmp.commit().map_err(|e| Error::io(out, e))
    }
}

/// What `verify` has checked so far: JSON blobs (sound or not) and layer scans (`None`: the
/// layer was unreadable or had the wrong digest, already reported).
#[derive(Default)]
struct Seen {
    json: HashMap<Digest, bool>,
    layers: HashMap<Digest, Option<LayerScan>>,
}

fn revisions_of(index: &Index, name: Option<&EnvName>) -> Vec<Revision> {
    let mut out: Vec<Revision> = index
        .entries
        .iter()
        .filter_map(|(_, d)| match entry_kind(d) {
            EntryKind::Revision(n, rev) if name.is_none_or(|want| *want == n) => Some(Revision {
                name: n,
                revision: rev,
                manifest: d.clone(),
            }),
            _ => None,
        })
        .collect();
    out.sort_by(|a, b| (&a.name, a.revision).cmp(&(&b.name, b.revision)));
    out
}

fn append_dir<W: Write>(b: &mut tar::Builder<W>, path: &str) -> io::Result<()> {
    let mut h = fixed_header(tar::EntryType::Directory, 0o755, 0);
    h.set_path(path)?;
    h.set_cksum();
    b.append(&h, io::empty())
}

fn append_file<W: Write, R: Read>(
    b: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: R,
) -> io::Result<()> {
    let mut h = fixed_header(tar::EntryType::Regular, 0o644, size);
    h.set_path(path)?;
    h.set_cksum();
    b.append(&h, data.take(size))
}

fn fixed_header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    h
}

fn layout_file_bytes() -> Vec<u8> {
    canonical_json(&serde_json::json!({ "imageLayoutVersion": LAYOUT_VERSION }))
}

fn open_lock_file(path: &Path) -> Result<File, Error> {
    fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| Error::io(path, e))
}

fn canonical(p: &Path) -> PathBuf {
    fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
}

fn valid_compression_name(s: &str) -> bool {
    !s.is_empty()
        && !s.starts_with('.')
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

/// Reads a blob that should be small; a clear error when it is missing or huge.
fn read_small(path: &Path, digest: &Digest) -> Result<Vec<u8>, Error> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(Error::MissingBlob {
                digest: *digest,
                path: path.to_path_buf(),
            })
        }
        Err(e) => return Err(Error::io(path, e)),
    };
    if meta.len() > MAX_JSON {
        return Err(Error::Invalid {
            what: format!("blob {digest}"),
            reason: format!("{} bytes is too large for a JSON document", meta.len()),
        });
    }
    fs::read(path).map_err(|e| Error::io(path, e))
}

/// Checks the layout files at `root` without changing anything.
fn check_layout(root: &Path) -> Result<(), Error> {
    match fs::metadata(root) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(not_a_layout(root, "it is not a directory")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(not_a_layout(root, "it does not exist"))
        }
        Err(e) => return Err(Error::io(root, e)),
    }
    let layout = root.join("oci-layout");
    let bytes = match fs::read(&layout) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(not_a_layout(root, "it has no `oci-layout` file"))
        }
        Err(e) => return Err(Error::io(&layout, e)),
    };
    check_layout_file(&bytes).map_err(|r| not_a_layout(root, r))?;
    let index = root.join("index.json");
    let bytes = match fs::read(&index) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Err(not_a_layout(root, "it has no `index.json`"))
        }
        Err(e) => return Err(not_a_layout(root, format!("cannot read `index.json`: {e}"))),
    };
    parse_index(&bytes, "`index.json`").map_err(|r| not_a_layout(root, r))?;
    Ok(())
}

fn check_layout_file(bytes: &[u8]) -> Result<(), String> {
    let v: Value = serde_json::from_slice(bytes)
        .map_err(|e| format!("`oci-layout` is not valid JSON: {e}"))?;
    match v.get("imageLayoutVersion").and_then(Value::as_str) {
        Some(LAYOUT_VERSION) => Ok(()),
        Some(other) => Err(format!(
            "`oci-layout` says imageLayoutVersion {other}; envc reads {LAYOUT_VERSION}"
        )),
        None => Err("`oci-layout` has no imageLayoutVersion".into()),
    }
}

/// Builds an empty layout in a sibling temp directory and renames it to `root` (which must be
/// absent or an empty directory). Losing a race to another creator is fine.
fn create_layout(root: &Path) -> Result<(), Error> {
    let parent = match root.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    fs::create_dir_all(&parent).map_err(|e| Error::io(&parent, e))?;
    // 0777 & ~umask, like every directory envc creates (tempfile's default is 0700).
    let tmp = tempfile::Builder::new()
        .prefix(".envc-store-")
        .permissions(blob::new_dir_permissions())
        .tempdir_in(&parent)
        .map_err(|e| Error::io(&parent, e))?;
    populate_layout(tmp.path())?;
    match fs::rename(tmp.path(), root) {
        Ok(()) => {
            let _ = tmp.keep();
            blob::sync_dir(&parent)
        }
        Err(_) if root.join("oci-layout").exists() => Ok(()), // another process won the race
        Err(e) => {
            // `root` may be an empty mount point (rename cannot replace it): fill it in place,
            // `oci-layout` last.
            let empty = fs::read_dir(root).is_ok_and(|mut d| d.next().is_none());
            if empty {
                populate_layout(root)
            } else {
                Err(Error::io(root, e))
            }
        }
    }
}

fn populate_layout(dir: &Path) -> Result<(), Error> {
    for d in ["blobs/sha256", "envc/tmp", "envc/diffids"] {
        let p = dir.join(d);
        fs::create_dir_all(&p).map_err(|e| Error::io(&p, e))?;
    }
    let write = |name: &str, bytes: &[u8]| -> Result<(), Error> {
        let p = dir.join(name);
        let mut f = File::create(&p).map_err(|e| Error::io(&p, e))?;
        f.write_all(bytes)
            .and_then(|()| f.sync_all())
            .map_err(|e| Error::io(&p, e))
    };
    write("index.json", &Index::empty().to_bytes())?;
    write("oci-layout", &layout_file_bytes())?;
    blob::sync_dir(dir)
}

// ---------------------------------------------------------------------------------------------
// Manifests and configs

fn is_index_type(m: &str) -> bool {
    m == MEDIA_TYPE_INDEX || m == MEDIA_TYPE_DOCKER_MANIFEST_LIST
}

fn is_manifest_type(m: &str) -> bool {
    m == MEDIA_TYPE_MANIFEST || m == MEDIA_TYPE_DOCKER_MANIFEST
}

fn is_config_type(m: &str) -> bool {
    m == MEDIA_TYPE_CONFIG || m == MEDIA_TYPE_DOCKER_CONFIG
}

fn layer_compression(m: &str) -> Option<Compression> {
    match m {
        MEDIA_TYPE_LAYER | MEDIA_TYPE_DOCKER_LAYER => Some(Compression::None),
        MEDIA_TYPE_LAYER_GZIP | MEDIA_TYPE_DOCKER_LAYER_GZIP => Some(Compression::Gzip),
        _ => None,
    }
}

/// A layer descriptor with Docker media types mapped to their OCI equivalents.
fn oci_layer(d: &Descriptor) -> Descriptor {
    let mut d = d.clone();
    d.media_type = match d.media_type.as_str() {
        MEDIA_TYPE_DOCKER_LAYER_GZIP => MEDIA_TYPE_LAYER_GZIP.to_string(),
        MEDIA_TYPE_DOCKER_LAYER => MEDIA_TYPE_LAYER.to_string(),
        _ => d.media_type,
    };
    d
}

fn json<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, Error> {
    serde_json::from_slice(bytes).map_err(|source| Error::Json {
        what: what.to_string(),
        source,
    })
}

#[derive(serde::Deserialize)]
struct ParsedManifest {
    config: Descriptor,
    #[serde(default)]
    layers: Vec<Descriptor>,
}

impl ParsedManifest {
    fn parse(bytes: &[u8], what: &str) -> Result<ParsedManifest, Error> {
        json(bytes, what)
    }
}

/// The descriptors a manifest or index refers to.
fn children(bytes: &[u8], what: &str) -> Result<Vec<Descriptor>, Error> {
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

fn diff_ids_of(config: &Value, layers: usize) -> Result<Vec<Digest>, String> {
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

fn platform_of(config: &Value) -> Option<Platform> {
    let s = |k: &str| config.get(k).and_then(Value::as_str).map(str::to_string);
    Some(Platform {
        architecture: s("architecture")?,
        os: s("os")?,
        variant: s("variant"),
    })
}

fn blob_rel(d: &Digest) -> String {
    format!("blobs/sha256/{}", d.hex())
}

// ---------------------------------------------------------------------------------------------
// Import sources

/// A base layout to read from: a directory, or an archive read in place (regular-file entries
/// located by one pass over its headers; nothing is extracted).
enum Source {
    Dir(PathBuf),
    Archive {
        path: PathBuf,
        files: HashMap<String, (u64, u64)>,
    },
}

impl Source {
    fn new(source: &BaseSource) -> Result<Source, Error> {
        let src = match source {
            BaseSource::Layout { dir, .. } => {
                match fs::metadata(dir) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => {
                        return Err(not_a_layout(
                            dir,
                            "it is not a directory (for an archive use oci-archive:FILE)",
                        ))
                    }
                    // An I/O error (exit 2), naming what was looked for.
                    Err(e) => {
                        return Err(Error::io(
                            dir,
                            io::Error::new(
                                e.kind(),
                                format!("cannot read this OCI layout directory: {e}"),
                            ),
                        ))
                    }
                }
                Source::Dir(dir.clone())
            }
            BaseSource::Archive { path, .. } => Source::Archive {
                path: path.clone(),
                files: index_archive(path)?,
            },
        };
        let layout = match src.read_whole("oci-layout", 4096) {
            Ok(b) => b,
            Err(Error::MissingBlob { .. }) => {
                return Err(src.invalid("it has no `oci-layout` file"))
            }
            Err(e) => return Err(e),
        };
        check_layout_file(&layout).map_err(|r| src.invalid(r))?;
        Ok(src)
    }

    /// "not an OCI image layout" or "not an oci-archive", as the source is.
    fn invalid(&self, reason: impl Into<String>) -> Error {
        match self {
            Source::Dir(p) => not_a_layout(p, reason),
            Source::Archive { path, .. } => not_an_archive(path, reason),
        }
    }

    fn path(&self) -> &Path {
        match self {
            Source::Dir(p) | Source::Archive { path: p, .. } => p,
        }
    }

    fn base_error(&self, reason: impl Into<String>) -> Error {
        Error::Base {
            source_path: self.path().to_path_buf(),
            reason: reason.into(),
        }
    }

    /// A path naming `rel` in errors (`DIR/rel`, or `ARCHIVE/rel` for an archive member).
    fn describe(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Opens a member; `MissingBlob` (naming `digest`) when absent.
    fn open(&self, rel: &str, digest: &Digest) -> Result<(Box<dyn Read>, u64), Error> {
        let missing = || Error::MissingBlob {
            digest: *digest,
            path: self.describe(rel),
        };
        match self {
            Source::Dir(dir) => {
                let p = dir.join(rel);
                let f = match File::open(&p) {
                    Ok(f) => f,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing()),
                    Err(e) => return Err(Error::io(&p, e)),
                };
                let meta = f.metadata().map_err(|e| Error::io(&p, e))?;
                if !meta.is_file() {
                    return Err(missing());
                }
                Ok((Box::new(f), meta.len()))
            }
            Source::Archive { path, files } => {
                let &(offset, size) = files.get(rel).ok_or_else(missing)?;
                let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io(path, e))?;
                Ok((Box::new(f.take(size)), size))
            }
        }
    }

    fn read_whole(&self, rel: &str, max: u64) -> Result<Vec<u8>, Error> {
        let missing_digest = Digest::of(b"");
        let (mut r, len) = match self.open(rel, &missing_digest) {
            Ok(x) => x,
            Err(Error::MissingBlob { .. }) if rel == "index.json" => {
                return Err(self.invalid("it has no `index.json`"))
            }
            Err(e) => return Err(e),
        };
        if len > max {
            return Err(self.base_error(format!("`{rel}` is too large ({len} bytes)")));
        }
        let mut buf = Vec::with_capacity(len as usize);
        r.read_to_end(&mut buf)
            .map_err(|e| Error::io(&self.describe(rel), e))?;
        Ok(buf)
    }

    /// Reads a JSON blob named by `d`, checking its size and digest.
    fn read_json(&self, d: &Descriptor, kind: &str) -> Result<Vec<u8>, Error> {
        let rel = blob_rel(&d.digest);
        let (mut r, len) = self.open(&rel, &d.digest)?;
        let what = format!("{kind} {}", self.describe(&rel).display());
        if len != d.size {
            return Err(Error::SizeMismatch {
                what,
                expected: d.size,
                found: len,
            });
        }
        if len > MAX_JSON {
            return Err(self.base_error(format!("{what} is too large ({len} bytes)")));
        }
        let mut buf = Vec::with_capacity(len as usize);
        r.read_to_end(&mut buf)
            .map_err(|e| Error::io(&self.describe(&rel), e))?;
        let found = Digest::of(&buf);
        if found != d.digest {
            return Err(Error::DigestMismatch {
                what,
                expected: d.digest,
                found,
            });
        }
        Ok(buf)
    }
}

/// One pass over an archive's headers (seeking over the data): where each regular file is.
/// Refuses absolute paths, `..` components and anything but regular files and directories.
fn index_archive(path: &Path) -> Result<HashMap<String, (u64, u64)>, Error> {
    let mut f = match File::open(path) {
        Ok(f) => f,
        // An I/O error (exit 2), naming what was looked for.
        Err(e) => {
            return Err(Error::io(
                path,
                io::Error::new(e.kind(), format!("cannot read this oci-archive: {e}")),
            ))
        }
    };
    if f.metadata().is_ok_and(|m| m.is_dir()) {
        return Err(not_an_archive(
            path,
            "it is a directory, not an archive (give the directory itself as the base)",
        ));
    }
    let mut magic = [0u8; 2];
    if f.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b] {
        return Err(not_an_archive(
            path,
            "it is gzip-compressed; an oci-archive is a plain tar (gunzip it first)",
        ));
    }
    f.seek(SeekFrom::Start(0)).map_err(|e| Error::io(path, e))?;
    let not_tar = |e: io::Error| not_an_archive(path, format!("it is not a tar archive: {e}"));
    let mut archive = tar::Archive::new(&f);
    let mut files = HashMap::new();
    for entry in archive.entries_with_seek().map_err(not_tar)? {
        let entry = entry.map_err(not_tar)?;
        let raw = entry.path_bytes().into_owned();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let refuse = |reason: &str| Error::UnsafeArchive {
            archive: path.to_path_buf(),
            path: text.clone(),
            reason: reason.to_string(),
        };
        if blob::unsafe_path(&raw).is_some() {
            return Err(refuse("an absolute path or a `..` component"));
        }
        let mut name = text.as_str();
        while let Some(rest) = name.strip_prefix("./") {
            name = rest;
        }
        let name = name.trim_end_matches('/');
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                files.insert(name.to_string(), (entry.raw_file_position(), entry.size()));
            }
            tar::EntryType::Directory | tar::EntryType::XGlobalHeader => {}
            other => {
                return Err(refuse(&format!(
                    "not a regular file or directory (tar type {:?})",
                    other.as_byte() as char
                )))
            }
        }
    }
    if files.is_empty() {
        return Err(not_an_archive(path, "the archive holds no files"));
    }
    Ok(files)
}

/// The manifest named `reference` (or the only one) in a source's index.
fn pick_manifest(
    src: &Source,
    index: &Index,
    reference: Option<&str>,
) -> Result<Descriptor, Error> {
    let refs = || -> Vec<String> {
        index
            .entries
            .iter()
            .filter_map(|(_, d)| d.annotations.get(ANNOTATION_REF_NAME).cloned())
            .collect()
    };
    match reference {
        Some(r) => {
            let matching: Vec<&Descriptor> = index
                .entries
                .iter()
                .map(|(_, d)| d)
                .filter(|d| d.annotations.get(ANNOTATION_REF_NAME).map(String::as_str) == Some(r))
                .collect();
            match matching.as_slice() {
                [] => Err(Error::RefNotFound {
                    reference: r.to_string(),
                    layout: src.path().to_path_buf(),
                    available: refs(),
                }),
                [one] => Ok((*one).clone()),
                several => several
                    .iter()
                    .find(|d| is_linux_amd64(d.platform.as_ref()))
                    .map(|d| (*d).clone())
                    .ok_or_else(|| {
                        src.base_error(format!(
                            "{} images are named `{r}` and none is linux/amd64",
                            several.len()
                        ))
                    }),
            }
        }
        None => match index.entries.as_slice() {
            [] => Err(src.base_error("its index.json lists no images")),
            [(_, one)] => Ok(one.clone()),
            several => Err(src.base_error(format!(
                "its index.json lists {} images; name one as oci:DIR:REF or oci-archive:FILE:REF{}",
                several.len(),
                available_refs(&refs())
            ))),
        },
    }
}

fn is_linux_amd64(p: Option<&Platform>) -> bool {
    p.is_some_and(|p| p.os == "linux" && p.architecture == "amd64")
}

/// The linux/amd64 manifest of a multi-platform index.
fn pick_platform(src: &Source, nested: &Index, parent: &Descriptor) -> Result<Descriptor, Error> {
    if let Some((_, d)) = nested
        .entries
        .iter()
        .find(|(_, d)| is_linux_amd64(d.platform.as_ref()) && is_manifest_type(&d.media_type))
    {
        return Ok(d.clone());
    }
    let platforms: Vec<String> = nested
        .entries
        .iter()
        .map(|(_, d)| match &d.platform {
            Some(p) => format!("{}/{}", p.os, p.architecture),
            None => "unknown platform".to_string(),
        })
        .collect();
    Err(src.base_error(format!(
        "image index {} has no linux/amd64 image (it has: {})",
        parent.digest,
        if platforms.is_empty() {
            "nothing".to_string()
        } else {
            platforms.join(", ")
        }
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::testutil::{gzip, tar_of};
    use serde_json::json;
    use std::sync::Arc;

    fn name(s: &str) -> EnvName {
        EnvName::parse(s).unwrap()
    }

    fn id(s: &str) -> Identifier {
        Identifier::parse(s).unwrap()
    }

    fn desc(media_type: &str, bytes: &[u8]) -> Descriptor {
        Descriptor {
            media_type: media_type.into(),
            digest: Digest::of(bytes),
            size: bytes.len() as u64,
            annotations: BTreeMap::new(),
            platform: None,
        }
    }

    fn config_for(diff_ids: &[Digest]) -> Vec<u8> {
        canonical_json(&json!({
            "architecture": "amd64", "os": "linux",
            "config": {"Env": ["PATH=/usr/bin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
    }

    /// A one-layer image written into `store`; `tag` makes it unique.
    fn image_in(store: &Store, tag: &str) -> Descriptor {
        let tar = tar_of(&[("etc/tag", tag.as_bytes())]);
        let gz = gzip(&tar);
        store.write_blob(&gz).unwrap();
        let config = config_for(&[Digest::of(&tar)]);
        store.write_blob(&config).unwrap();
        let manifest = canonical_json(&json!({
            "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "config": desc(MEDIA_TYPE_CONFIG, &config),
            "layers": [desc(MEDIA_TYPE_LAYER_GZIP, &gz)],
        }));
        store.write_blob(&manifest).unwrap();
        desc(MEDIA_TYPE_MANIFEST, &manifest)
    }

    fn new_store() -> (tempfile::TempDir, Store) {
        let t = tempfile::tempdir().unwrap();
        let s = Store::open_or_create(&t.path().join("store")).unwrap();
        (t, s)
    }

    fn write_blob_file(dir: &Path, bytes: &[u8]) -> Digest {
        let d = Digest::of(bytes);
        let p = dir.join("blobs/sha256");
        fs::create_dir_all(&p).unwrap();
        fs::write(p.join(d.hex()), bytes).unwrap();
        d
    }

    /// A base layout on disk. `layers` are (media type, blob bytes, diff_id); `tweak` edits
    /// the manifest JSON before it is written. Returns the manifest digest.
    fn write_layout(
        dir: &Path,
        layers: &[(&str, Vec<u8>, Digest)],
        config_media_type: &str,
        tweak: impl Fn(&mut Value),
        reference: Option<&str>,
    ) -> Digest {
        fs::create_dir_all(dir).unwrap();
        fs::write(dir.join("oci-layout"), layout_file_bytes()).unwrap();
        let diff_ids: Vec<Digest> = layers.iter().map(|l| l.2).collect();
        let config = config_for(&diff_ids);
        write_blob_file(dir, &config);
        for (_, bytes, _) in layers {
            write_blob_file(dir, bytes);
        }
        let mut manifest = json!({
            "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "config": desc(config_media_type, &config),
            "layers": layers.iter().map(|(m, b, _)| desc(m, b)).collect::<Vec<_>>(),
        });
        tweak(&mut manifest);
        let media_type = manifest["mediaType"].as_str().unwrap().to_string();
        let manifest = canonical_json(&manifest);
        let d = write_blob_file(dir, &manifest);
        let mut entry = desc(&media_type, &manifest);
        if let Some(r) = reference {
            entry
                .annotations
                .insert(ANNOTATION_REF_NAME.into(), r.into());
        }
        let index =
            json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [entry]});
        fs::write(dir.join("index.json"), canonical_json(&index)).unwrap();
        d
    }

    fn good_layer() -> (Vec<u8>, Digest) {
        let tar = tar_of(&[
            ("bin/", b""),
            ("bin/sh", b"#!busybox"),
            ("etc/os-release", b"ID=x"),
        ]);
        (gzip(&tar), Digest::of(&tar))
    }

    fn good_layout(dir: &Path) -> Digest {
        let (gz, diff) = good_layer();
        write_layout(
            dir,
            &[(MEDIA_TYPE_LAYER_GZIP, gz, diff)],
            MEDIA_TYPE_CONFIG,
            |_| {},
            Some("1"),
        )
    }

    fn layout_source(dir: &Path) -> BaseSource {
        BaseSource::Layout {
            dir: dir.to_path_buf(),
            reference: None,
        }
    }

    fn listing(dir: &Path) -> Vec<String> {
        let mut out = Vec::new();
        let mut stack = vec![dir.to_path_buf()];
        while let Some(d) = stack.pop() {
            for e in fs::read_dir(&d).unwrap() {
                let p = e.unwrap().path();
                out.push(p.strip_prefix(dir).unwrap().display().to_string());
                if p.is_dir() {
                    stack.push(p);
                }
            }
        }
        out.sort();
        out
    }

    // ----- create / open -----

    #[test]
    fn create_and_open() {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("a/b/store");
        let err = Store::open(&root).unwrap_err();
        assert!(matches!(err, Error::NotALayout { .. }), "{err}");
        assert!(err.to_string().contains("does not exist"), "{err}");

        let s = Store::open_or_create(&root).unwrap();
        assert_eq!(s.root(), root);
        assert_eq!(
            fs::read_to_string(root.join("oci-layout")).unwrap(),
            r#"{"imageLayoutVersion":"1.0.0"}"#
        );
        assert_eq!(
            fs::read_to_string(root.join("index.json")).unwrap(),
            r#"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
        );
        assert!(root.join("blobs/sha256").is_dir());
        // No temp directory left next to it.
        assert_eq!(fs::read_dir(root.parent().unwrap()).unwrap().count(), 1);
        Store::open(&root).unwrap();
        Store::open_or_create(&root).unwrap();

        // An empty directory becomes a store.
        let empty = t.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(matches!(Store::open(&empty), Err(Error::NotALayout { .. })));
        Store::open_or_create(&empty).unwrap();
        Store::open(&empty).unwrap();

        // A non-empty directory that is not a layout is refused and left alone.
        let full = t.path().join("full");
        fs::create_dir(&full).unwrap();
        fs::write(full.join("notes.txt"), "x").unwrap();
        let err = Store::open_or_create(&full).unwrap_err();
        assert!(err.to_string().contains("not empty"), "{err}");
        assert_eq!(listing(&full), ["notes.txt"]);

        // A file is not a layout.
        let err = Store::open(&full.join("notes.txt")).unwrap_err();
        assert!(err.to_string().contains("not a directory"), "{err}");
    }

    #[test]
    fn open_refuses_broken_layouts_and_changes_nothing() {
        let (t, s) = new_store();
        let root = s.root().to_path_buf();
        let before = listing(&root);
        Store::open(&root).unwrap().revisions(None).unwrap();
        assert_eq!(listing(&root), before, "open and a query modify nothing");

        fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
        let err = Store::open(&root).unwrap_err();
        assert!(
            err.to_string().contains("imageLayoutVersion 2.0.0"),
            "{err}"
        );
        fs::write(root.join("oci-layout"), layout_file_bytes()).unwrap();
        fs::write(root.join("index.json"), "{not json").unwrap();
        let err = Store::open(&root).unwrap_err();
        assert!(matches!(err, Error::NotALayout { .. }), "{err}");
        assert!(matches!(
            Store::open_or_create(&root),
            Err(Error::NotALayout { .. })
        ));
        fs::remove_file(root.join("index.json")).unwrap();
        let err = Store::open(&root).unwrap_err();
        assert!(err.to_string().contains("no `index.json`"), "{err}");
        fs::remove_file(root.join("oci-layout")).unwrap();
        let err = Store::open(&root).unwrap_err();
        assert!(err.to_string().contains("no `oci-layout`"), "{err}");
        drop(t);
    }

    #[test]
    fn concurrent_creation_of_one_store() {
        let t = tempfile::tempdir().unwrap();
        let root = Arc::new(t.path().join("store"));
        let handles: Vec<_> = (0..8)
            .map(|_| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || Store::open_or_create(&root).map(|_| ()))
            })
            .collect();
        for h in handles {
            h.join().unwrap().unwrap();
        }
        assert_eq!(
            fs::read_dir(t.path()).unwrap().count(),
            1,
            "no temp dirs left"
        );
        Store::open(&root).unwrap();
    }

    // ----- blobs -----

    #[test]
    fn blobs_and_json_reads() {
        let (_t, s) = new_store();
        let (d, n) = s.write_blob(b"{}").unwrap();
        assert_eq!((d, n), (Digest::of(b"{}"), 2));
        assert!(s.has_blob(&d));
        assert_eq!(s.read_json_blob(&d).unwrap(), b"{}");
        assert_eq!(s.blob_path(&d), s.root().join("blobs/sha256").join(d.hex()));
        let mut w = s.blob_writer().unwrap();
        w.write_all(b"partial").unwrap();
        assert!(!s.has_blob(&Digest::of(b"partial")));
        drop(w);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);

        fs::write(s.blob_path(&d), b"[]").unwrap();
        let err = s.read_json_blob(&d).unwrap_err();
        assert!(matches!(err, Error::CorruptBlob { .. }), "{err}");
        assert!(err.to_string().contains("envc verify"), "{err}");
        // Writing the same content again does not paper over the corrupt blob.
        let err = s.write_blob(b"{}").unwrap_err();
        assert!(matches!(err, Error::CorruptBlob { .. }), "{err}");
        let missing = Digest::of(b"nothing");
        assert!(matches!(
            s.read_json_blob(&missing),
            Err(Error::MissingBlob { .. })
        ));
    }

    #[test]
    fn diffid_cache() {
        let (_t, s) = new_store();
        let diff = Digest::of(b"tar");
        assert_eq!(s.cached_layer(&diff, "gzip"), None);
        let (d, n) = s.write_blob(b"compressed").unwrap();
        let mut blob = desc(MEDIA_TYPE_LAYER_GZIP, b"compressed");
        blob.annotations.insert("x".into(), "y".into());
        s.cache_layer(&diff, "gzip", &blob).unwrap();
        let got = s.cached_layer(&diff, "gzip").unwrap();
        assert_eq!((got.digest, got.size), (d, n));
        assert!(got.annotations.is_empty());
        assert_eq!(s.cached_layer(&diff, "none"), None);
        assert_eq!(s.cached_layer(&diff, "../x"), None);
        assert!(s.cache_layer(&diff, "../x", &blob).is_err());
        // A cache entry whose blob is gone is no answer.
        fs::remove_file(s.blob_path(&d)).unwrap();
        assert_eq!(s.cached_layer(&diff, "gzip"), None);
    }

    #[test]
    fn a_cached_layer_is_checked_before_reuse() {
        let (_t, s) = new_store();
        let tar = tar_of(&[("a", b"1")]);
        let other = tar_of(&[("b", b"2")]);
        let (layer, diff_id) = (desc(MEDIA_TYPE_LAYER, &tar), Digest::of(&tar));
        s.write_blob(&tar).unwrap();
        s.write_blob(&other).unwrap();
        s.check_cached_layer(&layer, &diff_id).unwrap();
        // A cache entry naming another (sound) blob: its content is not this diff_id.
        let wrong = desc(MEDIA_TYPE_LAYER, &other);
        let err = s.check_cached_layer(&wrong, &diff_id).unwrap_err();
        assert!(matches!(err, Error::DiffIdMismatch { .. }), "{err}");
        // One flipped byte: the blob is named as corrupt.
        let mut bad = tar.clone();
        bad[0] ^= 1;
        fs::write(s.blob_path(&layer.digest), &bad).unwrap();
        let err = s.check_cached_layer(&layer, &diff_id).unwrap_err();
        assert!(matches!(err, Error::CorruptBlob { .. }), "{err}");
        let err = s.check_layer(&layer).unwrap_err();
        assert!(matches!(err, Error::CorruptBlob { .. }), "{err}");
    }

    // ----- revisions -----

    #[test]
    fn commit_numbering_unchanged_and_resolve() {
        let (_t, s) = new_store();
        let env = name("my-env");
        let a = image_in(&s, "a");
        let b = image_in(&s, "b");
        let lock = s.lock().unwrap();
        let mut with_spec = a.clone();
        with_spec.annotations.insert(
            ANNOTATION_SPEC_DIGEST.into(),
            Digest::of(b"spec").to_string(),
        );
        with_spec
            .annotations
            .insert(ANNOTATION_PARENT.into(), "99".into());
        let c1 = s.commit(&lock, &env, with_spec).unwrap();
        assert!(!c1.unchanged);
        assert_eq!(c1.revision.revision, 1);
        assert_eq!(c1.revision.reference(), "my-env:1");
        assert_eq!(
            c1.revision.annotation(ANNOTATION_REF_NAME),
            Some("my-env:1")
        );
        assert_eq!(c1.revision.annotation(ANNOTATION_REVISION), Some("1"));
        assert_eq!(c1.revision.annotation(ANNOTATION_PARENT), None);
        assert!(c1.revision.annotation(ANNOTATION_SPEC_DIGEST).is_some());

        let same = s.commit(&lock, &env, a.clone()).unwrap();
        assert!(same.unchanged);
        assert_eq!(same.revision, c1.revision);
        let c2 = s.commit(&lock, &env, b.clone()).unwrap();
        assert_eq!(c2.revision.revision, 2);
        assert_eq!(c2.revision.annotation(ANNOTATION_PARENT), Some("1"));
        // Back to a's content: a new revision (only the latest counts for `unchanged`).
        let c3 = s.commit(&lock, &env, a.clone()).unwrap();
        assert_eq!((c3.revision.revision, c3.unchanged), (3, false));
        let other = s.commit(&lock, &name("other"), b.clone()).unwrap();
        assert_eq!(other.revision.revision, 1);
        drop(lock);

        let all = s.revisions(None).unwrap();
        let refs: Vec<String> = all.iter().map(Revision::reference).collect();
        assert_eq!(refs, ["my-env:1", "my-env:2", "my-env:3", "other:1"]);
        assert_eq!(s.revisions(Some(&name("other"))).unwrap().len(), 1);

        assert_eq!(s.resolve(&id("my-env")).unwrap().revision, 3);
        assert_eq!(
            s.resolve(&id("my-env:2")).unwrap().manifest.digest,
            b.digest
        );
        let err = s.resolve(&id("my-env:7")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "Revision 7 of cluster environment 'my-env' not found."
        );
        let err = s.resolve(&id("nope")).unwrap_err();
        assert_eq!(err.to_string(), "Cluster environment 'nope' not found.");
        let err = s.resolve(&id("nope:1")).unwrap_err();
        assert!(matches!(err, Error::NameNotFound { .. }));

        // index.json: canonical, revisions in order, each once.
        let text = fs::read_to_string(s.index_path()).unwrap();
        let positions: Vec<usize> = ["my-env:1", "my-env:2", "my-env:3", "other:1"]
            .iter()
            .map(|r| text.find(&format!("\"{r}\"")).unwrap())
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(Store::open(s.root()).unwrap().verify().unwrap().is_ok());
    }

    #[test]
    fn commit_refuses_missing_blobs_and_foreign_locks() {
        let (_t, s) = new_store();
        let (_t2, s2) = new_store();
        let a = image_in(&s, "a");
        let lock2 = s2.lock().unwrap();
        assert!(s.commit(&lock2, &name("x"), a.clone()).is_err());
        drop(lock2);
        let lock = s.lock().unwrap();
        let m: Value = serde_json::from_slice(&s.read_json_blob(&a.digest).unwrap()).unwrap();
        let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
        fs::remove_file(s.blob_path(&layer)).unwrap();
        let err = s.commit(&lock, &name("x"), a).unwrap_err();
        assert!(matches!(err, Error::MissingBlob { .. }), "{err}");
        assert!(s.revisions(None).unwrap().is_empty());
    }

    #[test]
    fn eight_concurrent_commits_get_eight_revisions() {
        let (_t, s) = new_store();
        let root = Arc::new(s.root().to_path_buf());
        let handles: Vec<_> = (0..8)
            .map(|i| {
                let root = Arc::clone(&root);
                std::thread::spawn(move || {
                    let s = Store::open(&root).unwrap();
                    let m = image_in(&s, &format!("image {i}"));
                    let lock = s.lock().unwrap();
                    s.commit(&lock, &name("shared"), m.clone()).unwrap();
                    m.digest
                })
            })
            .collect();
        let mut digests: Vec<Digest> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        let revs = s.revisions(Some(&name("shared"))).unwrap();
        assert_eq!(
            revs.iter().map(|r| r.revision).collect::<Vec<_>>(),
            (1..=8).collect::<Vec<_>>()
        );
        let mut stored: Vec<Digest> = revs.iter().map(|r| r.manifest.digest).collect();
        digests.sort();
        stored.sort();
        assert_eq!(digests, stored, "each build recorded exactly once");
        for r in &revs[1..] {
            assert_eq!(
                r.annotation(ANNOTATION_PARENT),
                Some((r.revision - 1).to_string().as_str())
            );
        }
        assert!(s.verify().unwrap().is_ok());
    }

    // ----- import -----

    #[test]
    fn import_then_reuse_without_reading_layers() {
        let t = tempfile::tempdir().unwrap();
        let (_ts, s) = new_store();
        let src = t.path().join("base");
        let manifest = good_layout(&src);
        let imported = s
            .import_base(&layout_source(&src), "localhost/busybox:1")
            .unwrap();
        assert!(!imported.reused);
        assert_eq!(imported.manifest.digest, manifest);
        assert_eq!(imported.layers.len(), 1);
        assert_eq!(imported.diff_ids, vec![good_layer().1]);
        assert_eq!(
            imported.platform,
            Some(Platform {
                architecture: "amd64".into(),
                os: "linux".into(),
                variant: None
            })
        );
        assert_eq!(imported.config["config"]["Env"][0], "PATH=/usr/bin:/bin");
        for l in &imported.layers {
            assert!(s.has_blob(&l.digest));
        }
        let bases = s.bases().unwrap();
        assert_eq!(bases.len(), 1);
        assert_eq!(bases[0].name, "localhost/busybox:1");
        assert_eq!(
            bases[0].manifest.annotations[ANNOTATION_REF_NAME],
            format!("envc.base/sha256-{}", manifest.hex())
        );
        assert_eq!(
            fs::read_dir(s.tmp_dir()).unwrap().count(),
            0,
            "no temp files left"
        );

        // Second import: the layer is gone from the source, and it is not needed.
        let index_before = fs::read(s.index_path()).unwrap();
        fs::remove_file(
            src.join("blobs/sha256")
                .join(imported.layers[0].digest.hex()),
        )
        .unwrap();
        let again = s
            .import_base(&layout_source(&src), "localhost/busybox:1")
            .unwrap();
        assert!(again.reused);
        assert_eq!(again.layers, imported.layers);
        assert_eq!(again.config, imported.config);
        assert_eq!(fs::read(s.index_path()).unwrap(), index_before);

        // By ref, and the ref that does not exist.
        let by_ref = BaseSource::Layout {
            dir: src.clone(),
            reference: Some("1".into()),
        };
        assert!(s.import_base(&by_ref, "b").unwrap().reused);
        let bad_ref = BaseSource::Layout {
            dir: src.clone(),
            reference: Some("2".into()),
        };
        let err = s.import_base(&bad_ref, "b").unwrap_err();
        assert!(matches!(err, Error::RefNotFound { .. }), "{err}");
        assert!(err.to_string().contains("no image named `2`"), "{err}");
        assert!(err.to_string().contains("it has: 1"), "{err}");
        assert!(s.verify().unwrap().is_ok());
    }

    #[test]
    fn stored_base_follows_the_latest_import_of_a_name() {
        let t = tempfile::tempdir().unwrap();
        let (_ts, s) = new_store();
        assert_eq!(s.stored_base("busybox").unwrap(), None);
        let one = t.path().join("one");
        let m1 = good_layout(&one);
        let two = t.path().join("two");
        let tar = tar_of(&[("v2", b"")]);
        let m2 = write_layout(
            &two,
            &[(MEDIA_TYPE_LAYER_GZIP, gzip(&tar), Digest::of(&tar))],
            MEDIA_TYPE_CONFIG,
            |_| {},
            None,
        );
        s.import_base(&layout_source(&one), "busybox").unwrap();
        let got = s.stored_base("busybox").unwrap().unwrap();
        assert_eq!((got.manifest.digest, got.reused), (m1, true));
        s.import_base(&layout_source(&two), "busybox").unwrap();
        assert_eq!(
            s.stored_base("busybox").unwrap().unwrap().manifest.digest,
            m2
        );
        // Re-importing the first content (reused) makes it current again.
        assert!(
            s.import_base(&layout_source(&one), "busybox")
                .unwrap()
                .reused
        );
        assert_eq!(
            s.stored_base("busybox").unwrap().unwrap().manifest.digest,
            m1
        );
        // …and doing it once more writes nothing.
        let before = fs::read(s.index_path()).unwrap();
        s.import_base(&layout_source(&one), "busybox").unwrap();
        assert_eq!(fs::read(s.index_path()).unwrap(), before);
        // Another name for the same content.
        s.import_base(&layout_source(&two), "other").unwrap();
        assert_eq!(s.stored_base("other").unwrap().unwrap().manifest.digest, m2);
        assert_eq!(
            s.stored_base("busybox").unwrap().unwrap().manifest.digest,
            m1
        );
        assert_eq!(s.bases().unwrap().len(), 2);
        // Blobs gone: not usable, import again.
        let layer = s.stored_base("busybox").unwrap().unwrap().layers[0].digest;
        fs::remove_file(s.blob_path(&layer)).unwrap();
        assert_eq!(s.stored_base("busybox").unwrap(), None);
        assert!(
            !s.import_base(&layout_source(&one), "busybox")
                .unwrap()
                .reused
        );
        assert!(s.verify().unwrap().is_ok());
    }

    /// Each bad base is a clear error and leaves index.json as it was.
    #[test]
    fn import_refuses_bad_bases() {
        let t = tempfile::tempdir().unwrap();
        let (_ts, s) = new_store();
        let index_before = fs::read(s.index_path()).unwrap();
        let (gz, diff) = good_layer();
        let mut n = 0;
        let mut case = |layers: Vec<(&str, Vec<u8>, Digest)>,
                        tweak: &dyn Fn(&mut Value),
                        damage: &dyn Fn(&Path),
                        check: &dyn Fn(&Error) -> bool| {
            n += 1;
            let dir = t.path().join(format!("case{n}"));
            write_layout(&dir, &layers, MEDIA_TYPE_CONFIG, tweak, None);
            damage(&dir);
            let err = s.import_base(&layout_source(&dir), "base").unwrap_err();
            assert!(check(&err), "case {n}: unexpected error {err:?}");
            assert!(!err.to_string().is_empty());
            assert_eq!(fs::read(s.index_path()).unwrap(), index_before, "case {n}");
        };
        let good = || vec![(MEDIA_TYPE_LAYER_GZIP, good_layer().0, good_layer().1)];
        let nothing = |_: &Path| {};
        let layer_file = |dir: &Path| dir.join("blobs/sha256").join(Digest::of(&gz).hex());

        // Wrong digest: the layer's bytes changed, size kept.
        case(
            good(),
            &|_| {},
            &|d| {
                let mut b = fs::read(layer_file(d)).unwrap();
                let len = b.len();
                b[len / 2] ^= 0x55;
                fs::write(layer_file(d), b).unwrap();
            },
            &|e| matches!(e, Error::DigestMismatch { .. }),
        );
        // Wrong size in the manifest.
        case(
            good(),
            &|m| {
                let size = m["layers"][0]["size"].as_u64().unwrap();
                m["layers"][0]["size"] = json!(size + 1);
            },
            &nothing,
            &|e| matches!(e, Error::SizeMismatch { expected, found, .. } if expected == &(found + 1)),
        );
        // Missing blob.
        case(
            good(),
            &|_| {},
            &|d| fs::remove_file(layer_file(d)).unwrap(),
            &|e| matches!(e, Error::MissingBlob { .. }),
        );
        // `../x` and an absolute path in a layer.
        for bad in ["../x", "/etc/shadow"] {
            let tar = tar_of(&[("ok", b"1"), (bad, b"2")]);
            case(
                vec![(MEDIA_TYPE_LAYER_GZIP, gzip(&tar), Digest::of(&tar))],
                &|_| {},
                &nothing,
                &|e| matches!(e, Error::UnsafePath { path, .. } if path == bad),
            );
        }
        // Corrupt gzip (its digest is right: the bytes were always bad).
        let bad_gz = b"\x1f\x8b\x08\x00garbage garbage garbage".to_vec();
        case(
            vec![(MEDIA_TYPE_LAYER_GZIP, bad_gz, diff)],
            &|_| {},
            &nothing,
            &|e| matches!(e, Error::CorruptGzip { .. }),
        );
        // Wrong diff_id.
        case(
            vec![(MEDIA_TYPE_LAYER_GZIP, gz.clone(), Digest::of(b"other"))],
            &|_| {},
            &nothing,
            &|e| matches!(e, Error::DiffIdMismatch { .. }),
        );
        // Unknown media types: layer, config, manifest.
        case(
            vec![(
                "application/vnd.oci.image.layer.v1.tar+zstd",
                gz.clone(),
                diff,
            )],
            &|_| {},
            &nothing,
            &|e| matches!(e, Error::UnknownMediaType { media_type, .. } if media_type.ends_with("zstd")),
        );
        case(
            good(),
            &|m| m["config"]["mediaType"] = json!("text/plain"),
            &nothing,
            &|e| matches!(e, Error::UnknownMediaType { .. }),
        );
        case(
            good(),
            &|m| m["mediaType"] = json!("application/x-weird"),
            &nothing,
            &|e| matches!(e, Error::UnknownMediaType { .. }),
        );
        // Not a layout: no oci-layout; a wrong version; a missing index.json.
        case(
            good(),
            &|_| {},
            &|d| fs::remove_file(d.join("oci-layout")).unwrap(),
            &|e| matches!(e, Error::NotALayout { .. }),
        );
        case(
            good(),
            &|_| {},
            &|d| fs::write(d.join("oci-layout"), "{}").unwrap(),
            &|e| matches!(e, Error::NotALayout { .. }),
        );
        case(
            good(),
            &|_| {},
            &|d| fs::remove_file(d.join("index.json")).unwrap(),
            &|e| matches!(e, Error::NotALayout { .. }),
        );
        let err = s
            .import_base(&layout_source(&t.path().join("absent")), "b")
            .unwrap_err();
        // A missing base is an I/O error (exit 2), not a refused layout.
        assert!(
            matches!(&err, Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{err}"
        );
        let err = s
            .import_base(&BaseSource::archive(t.path().join("absent.tar")), "b")
            .unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(err.to_string().contains("oci-archive"), "{err}");
        let err = s
            .import_base(&BaseSource::archive(t.path().join("case1/index.json")), "b")
            .unwrap_err();
        assert!(matches!(err, Error::NotAnArchive { .. }), "{err}");
        assert_eq!(fs::read(s.index_path()).unwrap(), index_before);
        // What a failed import left behind is unreachable: gc takes it, verify passes.
        s.gc().unwrap();
        assert_eq!(fs::read_dir(s.blobs_dir()).unwrap().count(), 0);
        assert!(s.verify().unwrap().is_ok());
    }

    #[test]
    fn import_docker_types_nested_index_and_archives() {
        let t = tempfile::tempdir().unwrap();
        let (_ts, s) = new_store();
        // Docker schema 2, uncompressed + gzip layers.
        let (gz, diff) = good_layer();
        let plain = tar_of(&[("usr/", b"")]);
        let dir = t.path().join("docker");
        write_layout(
            &dir,
            &[
                (MEDIA_TYPE_DOCKER_LAYER_GZIP, gz.clone(), diff),
                (MEDIA_TYPE_LAYER, plain.clone(), Digest::of(&plain)),
            ],
            MEDIA_TYPE_DOCKER_CONFIG,
            |m| m["mediaType"] = json!(MEDIA_TYPE_DOCKER_MANIFEST),
            None,
        );
        let b = s.import_base(&layout_source(&dir), "docker-base").unwrap();
        assert_eq!(b.manifest.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
        assert_eq!(
            b.layers[0].media_type, MEDIA_TYPE_LAYER_GZIP,
            "normalised to OCI"
        );
        assert_eq!(b.layers[1].media_type, MEDIA_TYPE_LAYER);

        // A multi-platform index: the linux/amd64 manifest is chosen.
        let multi = t.path().join("multi");
        let amd64 = good_layout(&multi);
        let m_bytes = fs::read(multi.join("blobs/sha256").join(amd64.hex())).unwrap();
        let mut arm = desc(MEDIA_TYPE_MANIFEST, b"{}");
        arm.platform = Some(Platform {
            architecture: "arm64".into(),
            os: "linux".into(),
            variant: None,
        });
        let mut amd = desc(MEDIA_TYPE_MANIFEST, &m_bytes);
        amd.platform = Some(Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None,
        });
        let nested = canonical_json(
            &json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [arm, amd]}),
        );
        write_blob_file(&multi, &nested);
        let mut top = desc(MEDIA_TYPE_INDEX, &nested);
        top.annotations
            .insert(ANNOTATION_REF_NAME.into(), "latest".into());
        fs::write(
            multi.join("index.json"),
            canonical_json(&json!({"schemaVersion": 2, "manifests": [top]})),
        )
        .unwrap();
        let src = BaseSource::Layout {
            dir: multi.clone(),
            reference: Some("latest".into()),
        };
        let b = s.import_base(&src, "multi").unwrap();
        assert_eq!(b.manifest.digest, amd64);
        // …and without an amd64 entry, a clear error.
        let only_arm = canonical_json(&json!({"schemaVersion": 2, "manifests": [arm]}));
        write_blob_file(&multi, &only_arm);
        let top = desc(MEDIA_TYPE_INDEX, &only_arm);
        fs::write(
            multi.join("index.json"),
            canonical_json(&json!({"schemaVersion": 2, "manifests": [top]})),
        )
        .unwrap();
        let err = s.import_base(&layout_source(&multi), "multi").unwrap_err();
        assert!(
            err.to_string()
                .contains("no linux/amd64 image (it has: linux/arm64)"),
            "{err}"
        );

        // An oci-archive of a layout, read in place; then one with a `../` entry and one with a
        // symlink, both refused.
        let src = t.path().join("plain");
        let manifest = good_layout(&src);
        let archive = t.path().join("base.tar");
        let mut builder = tar::Builder::new(File::create(&archive).unwrap());
        builder.append_dir_all(".", &src).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let (_ts2, s2) = new_store();
        let b = s2
            .import_base(&BaseSource::archive(archive.clone()), "archived")
            .unwrap();
        assert_eq!((b.manifest.digest, b.reused), (manifest, false));
        assert!(
            s2.import_base(&BaseSource::archive(archive.clone()), "archived")
                .unwrap()
                .reused
        );
        assert!(s2.verify().unwrap().is_ok());

        let index_before = fs::read(s2.index_path()).unwrap();
        for (bad, kind) in [
            ("../evil", tar::EntryType::Regular),
            ("/abs", tar::EntryType::Regular),
            ("link", tar::EntryType::Symlink),
        ] {
            let path = t.path().join("bad.tar");
            let mut builder = tar::Builder::new(File::create(&path).unwrap());
            builder.append_dir_all(".", &src).unwrap();
            let mut h = tar::Header::new_gnu();
            h.as_mut_bytes()[..bad.len()].copy_from_slice(bad.as_bytes());
            h.set_entry_type(kind);
            h.set_size(0);
            h.set_cksum();
            builder.append(&h, io::empty()).unwrap();
            builder.finish().unwrap();
            drop(builder);
            let err = s2
                .import_base(&BaseSource::archive(path), "bad")
                .unwrap_err();
            assert!(
                matches!(&err, Error::UnsafeArchive { path, .. } if path == bad),
                "{err}"
            );
        }
        let gz_path = t.path().join("base.tar.gz");
        fs::write(&gz_path, gzip(&fs::read(&archive).unwrap())).unwrap();
        let err = s2
            .import_base(&BaseSource::archive(gz_path), "gz")
            .unwrap_err();
        assert!(err.to_string().contains("gzip-compressed"), "{err}");
        assert_eq!(fs::read(s2.index_path()).unwrap(), index_before);
    }

    // ----- verify, gc, export -----

    #[test]
    fn verify_catches_corrupt_blobs_and_wrong_diff_ids() {
        let (_t, s) = new_store();
        let good = image_in(&s, "good");
        // An image whose config names the wrong diff_id.
        let tar = tar_of(&[("f", b"x")]);
        let gz = gzip(&tar);
        s.write_blob(&gz).unwrap();
        let config = config_for(&[Digest::of(b"wrong")]);
        s.write_blob(&config).unwrap();
        let manifest = canonical_json(&json!({
            "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
            "config": desc(MEDIA_TYPE_CONFIG, &config),
            "layers": [desc(MEDIA_TYPE_LAYER_GZIP, &gz)],
        }));
        s.write_blob(&manifest).unwrap();
        let lock = s.lock().unwrap();
        s.commit(&lock, &name("good"), good.clone()).unwrap();
        s.commit(&lock, &name("bad"), desc(MEDIA_TYPE_MANIFEST, &manifest))
            .unwrap();
        drop(lock);
        let report = s.verify().unwrap();
        assert_eq!(report.revisions, 2);
        assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
        assert!(report.problems[0].contains("bad:1") && report.problems[0].contains("diff_id"));
        assert_eq!(report.blobs_checked, 6);

        // Corrupt the good image's layer (same size, different bytes).
        let m: Value = serde_json::from_slice(&s.read_json_blob(&good.digest).unwrap()).unwrap();
        let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
        let mut bytes = fs::read(s.blob_path(&layer)).unwrap();
        bytes[12] ^= 1;
        fs::write(s.blob_path(&layer), bytes).unwrap();
        let report = s.verify().unwrap();
        assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
        assert!(report
            .problems
            .iter()
            .any(|p| p.starts_with("good:1") && p.contains(&layer.to_string())));
        // A missing config is reported too, without stopping.
        let config: Digest = m["config"]["digest"].as_str().unwrap().parse().unwrap();
        fs::remove_file(s.blob_path(&config)).unwrap();
        assert_eq!(s.verify().unwrap().problems.len(), 3);
    }

    #[test]
    fn gc_removes_only_unreachable() {
        let (t, s) = new_store();
        let (gz, diff) = good_layer();
        let src = t.path().join("base");
        write_layout(
            &src,
            &[(MEDIA_TYPE_LAYER_GZIP, gz, diff)],
            MEDIA_TYPE_CONFIG,
            |_| {},
            None,
        );
        s.import_base(&layout_source(&src), "base").unwrap();
        let kept = image_in(&s, "kept");
        let lock = s.lock().unwrap();
        s.commit(&lock, &name("env"), kept).unwrap();
        drop(lock);
        let reachable: Vec<String> = listing(&s.blobs_dir());
        let _orphan_image = image_in(&s, "orphan"); // 3 blobs never committed
        s.write_blob(b"loose").unwrap();
        fs::write(s.tmp_dir().join("blob-killed"), b"half a layer").unwrap();
        fs::create_dir(s.tmp_dir().join("dir")).unwrap();
        let report = s.gc().unwrap();
        assert_eq!(report.removed_blobs, 4);
        assert_eq!(report.removed_temp, 2);
        assert!(report.bytes_freed > 0);
        assert_eq!(listing(&s.blobs_dir()), reachable);
        assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
        assert!(s.verify().unwrap().is_ok());
        assert_eq!(s.gc().unwrap(), GcReport::default());
        // The handle still writes after gc.
        s.write_blob(b"after").unwrap();
    }

    #[test]
    fn gc_waits_for_writers() {
        let (_t, s) = new_store();
        let writer = Store::open(s.root()).unwrap();
        let mut w = writer.blob_writer().unwrap();
        w.write_all(b"in progress").unwrap();
        let root = s.root().to_path_buf();
        let gc = std::thread::spawn(move || Store::open(&root).unwrap().gc().unwrap());
        std::thread::sleep(std::time::Duration::from_millis(200));
        assert!(!gc.is_finished(), "gc waits while a writer holds the store");
        let (d, _) = w.finish().unwrap();
        assert!(writer.has_blob(&d));
        drop(writer);
        let report = gc.join().unwrap();
        assert_eq!(
            report.removed_blobs, 1,
            "the uncommitted blob goes once its writer is done"
        );
    }

    fn tar_names(bytes: &[u8]) -> Vec<String> {
        let mut a = tar::Archive::new(bytes);
        a.entries()
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                let h = e.header();
                assert_eq!(h.mtime().unwrap(), 0);
                assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
                let mode = h.mode().unwrap();
                assert!(mode == 0o644 || mode == 0o755, "{mode:o}");
                assert!(!matches!(
                    h.entry_type(),
                    tar::EntryType::XHeader | tar::EntryType::XGlobalHeader
                ));
                e.path().unwrap().display().to_string()
            })
            .collect()
    }

    #[test]
    fn export_is_deterministic_and_loads_back() {
        let (t, s) = new_store();
        let m = image_in(&s, "exported");
        let lock = s.lock().unwrap();
        s.commit(&lock, &name("env"), image_in(&s, "first"))
            .unwrap();
        let rev = s.commit(&lock, &name("env"), m.clone()).unwrap().revision;
        drop(lock);
        for format in [ExportFormat::OciArchive, ExportFormat::DockerArchive] {
            let a = t.path().join("a.tar");
            let b = t.path().join("b.tar");
            s.export(&rev, format, &a).unwrap();
            s.export(&rev, format, &b).unwrap();
            let bytes = fs::read(&a).unwrap();
            assert_eq!(
                bytes,
                fs::read(&b).unwrap(),
                "{format:?}: identical exports"
            );
            let names = tar_names(&bytes);
            let mut sorted = names.clone();
            sorted.sort();
            assert_eq!(names, sorted);
            assert_eq!(
                names
                    .iter()
                    .filter(|n| n.starts_with("blobs/sha256/"))
                    .count(),
                3 + 1
            );
            assert!(names.contains(&"oci-layout".to_string()));
            assert_eq!(
                names.contains(&"manifest.json".to_string()),
                format == ExportFormat::DockerArchive
            );

            let mut ar = tar::Archive::new(&bytes[..]);
            for e in ar.entries().unwrap() {
                let mut e = e.unwrap();
                let path = e.path().unwrap().display().to_string();
                let mut content = Vec::new();
                e.read_to_end(&mut content).unwrap();
                if path == "index.json" {
                    let v: Value = serde_json::from_slice(&content).unwrap();
                    assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
                    assert_eq!(
                        v["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
                        "env:2"
                    );
                    assert_eq!(v["manifests"][0]["digest"], m.digest.to_string());
                }
                if path == "manifest.json" {
                    let v: Value = serde_json::from_slice(&content).unwrap();
                    assert_eq!(v[0]["RepoTags"], json!(["env:2"]));
                    assert_eq!(v[0]["Layers"].as_array().unwrap().len(), 1);
                    assert!(v[0]["Config"]
                        .as_str()
                        .unwrap()
                        .starts_with("blobs/sha256/"));
                }
                if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                    assert_eq!(Digest::of(&content).hex(), hex);
                }
            }
            // The archive is a layout envc (and so other tools) can read back.
            let (_t2, s2) = new_store();
            let b = s2
                .import_base(&BaseSource::archive(a.clone()), "env:2")
                .unwrap();
            assert_eq!(b.manifest.digest, m.digest);
        }
        assert_eq!(
            fs::read_dir(t.path())
                .unwrap()
                .filter(|e| e
                    .as_ref()
                    .unwrap()
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".envc-export"))
                .count(),
            0
        );
    }
}
