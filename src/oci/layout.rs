//! An OCI image layout (image-spec 1.1) on disk: create, open and check it, read and rewrite
//! `index.json`, lock it, write and read blobs. It knows nothing of what its index entries
//! mean (the store gives them names and numbers); `verify.rs` and `import.rs` add the full
//! check, gc and copying an image in.
//!
//! Layout: `oci-layout`, `index.json`, `blobs/sha256/<hex>`, plus envc's private files under
//! `envc/` (a name OCI tools ignore): `envc/lock` (serialises `index.json` mutations),
//! `envc/gc.lock` (writers hold it shared, `gc` exclusive, so gc never deletes the blobs of a
//! build in progress), `envc/tmp/` (temp files), `envc/diffids/<diff_id hex>.<compression>`
//! (diff_id → stored blob descriptor, so a rebuild never recompresses a layer it has) and
//! `envc/checked/<hex>` (a blob file's inode, size and times when envc last hashed it: a layer
//! an image refers to without reading it is hashed again unless its file is unchanged).
//!
//! `index.json` is rewritten canonically, atomically (temp file, fsync, rename, fsync of the
//! directory) and only under the lock after re-reading it. Blobs are written before the lock
//! is taken: they are content-addressed, so writing one twice is harmless. A kill at any
//! instant leaves a layout that verifies; `gc` removes what is left.

use super::blob::{self, BlobWriter};
use super::error::{not_a_layout, Error};
use super::index::{parse_index, Index};
use super::manifest::{layer_compression, ParsedManifest, MAX_JSON};
use super::scan;
use super::{canonical_value, Descriptor};
use crate::types::digest::Digest;
use serde_json::Value;
use std::collections::BTreeSet;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

const LAYOUT_VERSION: &str = "1.0.0";

/// The exclusive layout lock; released on drop. Every `index.json` mutation happens under it.
#[derive(Debug)]
pub struct LayoutLock {
    _file: File,
    root: PathBuf,
}

/// An open layout. Cheap to open; every query re-reads `index.json`.
#[derive(Debug)]
pub struct Layout {
    root: PathBuf,
    /// `envc/gc.lock`, held shared from the first write on, so `gc` waits for this writer.
    pub(crate) writing: Mutex<Option<File>>,
    /// Layers [`Layout::check_layer`] has already found sound through this handle.
    layers_checked: Mutex<BTreeSet<Digest>>,
}

impl Layout {
    /// Opens an existing layout; never modifies anything.
    pub fn open(root: &Path) -> Result<Layout, Error> {
        check_layout(root)?;
        Ok(Layout {
            root: root.to_path_buf(),
            writing: Mutex::new(None),
            layers_checked: Mutex::new(BTreeSet::new()),
        })
    }

    /// Opens the layout at `root`, creating an empty one if `root` is absent or an empty
    /// directory. A non-empty directory that is not a layout is refused. Safe to race: the
    /// layout is built in a sibling temp directory and renamed into place.
    pub fn open_or_create(root: &Path) -> Result<Layout, Error> {
        match fs::read_dir(root) {
            Ok(mut entries) => {
                if root.join("oci-layout").exists() {
                    return Layout::open(root);
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
        Layout::open(root)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub(crate) fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }

    pub(crate) fn tmp_dir(&self) -> PathBuf {
        self.root.join("envc").join("tmp")
    }

    pub(crate) fn checked_dir(&self) -> PathBuf {
        self.root.join("envc").join("checked")
    }

    pub(crate) fn diffids_dir(&self) -> PathBuf {
        self.root.join("envc").join("diffids")
    }

    pub(crate) fn index_path(&self) -> PathBuf {
        self.root.join("index.json")
    }

    /// Creates envc's private directories (a layout written by another tool lacks them).
    pub(crate) fn ensure_private_dirs(&self) -> Result<(), Error> {
        for d in [self.blobs_dir(), self.tmp_dir(), self.diffids_dir()] {
            fs::create_dir_all(&d).map_err(|e| Error::io(&d, e))?;
        }
        Ok(())
    }

    /// Marks this handle as a writer (shared lock on `envc/gc.lock`) before it writes blobs or
    /// temp files, so that a concurrent `gc` waits instead of deleting them.
    pub(crate) fn start_writing(&self) -> Result<(), Error> {
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

    /// Takes the exclusive layout lock (blocking). Hold it across read-modify-write of the index.
    pub fn lock(&self) -> Result<LayoutLock, Error> {
        let dir = self.root.join("envc");
        fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        let path = dir.join("lock");
        let f = open_lock_file(&path)?;
        f.lock().map_err(|e| Error::io(&path, e))?;
        Ok(LayoutLock {
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
    /// an error (run `envc verify`) rather than an image that points at it.
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

    /// A stored blob for this diff_id and compression (`gzip`, `none`, …), if the layout has it.
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

    /// Records that `blob` (already in the layout) is the layer with this diff_id, compressed
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
        self.write_file_atomically(&path, &canonical_value(&d.to_json()))
    }

    /// temp file in envc/tmp → write → fsync → rename over `path` → fsync the directory.
    pub(crate) fn write_file_atomically(&self, path: &Path, bytes: &[u8]) -> Result<(), Error> {
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

    pub(crate) fn read_index(&self) -> Result<Index, Error> {
        let path = self.index_path();
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        parse_index(&bytes, "index.json").map_err(|r| not_a_layout(&self.root, r))
    }

    pub(crate) fn write_index(&self, _lock: &LayoutLock, index: &Index) -> Result<(), Error> {
        self.write_file_atomically(&self.index_path(), &index.to_bytes())
    }

    pub(crate) fn check_lock(&self, lock: &LayoutLock) -> Result<(), Error> {
        if lock.root != canonical(&self.root) {
            return Err(Error::Invalid {
                what: format!("the store lock of {}", lock.root.display()),
                reason: format!("it does not belong to the store at {}", self.root.display()),
            });
        }
        Ok(())
    }

    /// Whether `index.json` names nothing.
    pub fn is_empty(&self) -> Result<bool, Error> {
        Ok(self.read_index()?.entries.is_empty())
    }

    pub(crate) fn check_image_blobs(&self, manifest: &Descriptor) -> Result<(), Error> {
        let bytes = self.read_json_blob(&manifest.digest)?;
        if bytes.len() as u64 != manifest.size {
            return Err(Error::CorruptBlobSize {
                digest: manifest.digest,
                expected: manifest.size,
                found: bytes.len() as u64,
                path: self.blob_path(&manifest.digest),
            });
        }
        let parsed = ParsedManifest::parse(&bytes, &format!("manifest {}", manifest.digest))?;
        let config = self.read_json_blob(&parsed.config.digest)?;
        if config.len() as u64 != parsed.config.size {
            return Err(Error::CorruptBlobSize {
                digest: parsed.config.digest,
                expected: parsed.config.size,
                found: config.len() as u64,
                path: self.blob_path(&parsed.config.digest),
            });
        }
        for layer in &parsed.layers {
            self.check_layer(layer)?;
        }
        Ok(())
    }

    /// A layer this handle has just written through a [`BlobWriter`] (which hashed exactly the
    /// bytes it wrote): [`Layout::check_layer`] need not hash it again for the image that
    /// refers to it. The record on disk (`envc/checked/`) is too fresh to trust by itself (a
    /// file changed within the same second would look the same), so without this a new
    /// multi-GB layer would be read twice.
    pub(crate) fn trust_written(&self, digest: &Digest) {
        self.layers_checked
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(*digest);
    }

    /// A stored layer a new image refers to without reading it: present, of its size, and
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
            Ok(m) => Err(Error::CorruptBlobSize {
                digest: layer.digest,
                expected: layer.size,
                found: m.len(),
                path,
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
        let scan = match scan::scan_layer(file, compression, &layer.digest, &path, None) {
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
}

pub(crate) fn layout_file_bytes() -> Vec<u8> {
    let mut m = serde_json::Map::new();
    m.insert("imageLayoutVersion".into(), LAYOUT_VERSION.into());
    canonical_value(&serde_json::Value::Object(m))
}

pub(crate) fn open_lock_file(path: &Path) -> Result<File, Error> {
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
pub(crate) fn read_small(path: &Path, digest: &Digest) -> Result<Vec<u8>, Error> {
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

pub(crate) fn check_layout_file(bytes: &[u8]) -> Result<(), String> {
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
