//! Image sources and exports. A source is where an image comes from: an OCI layout directory,
//! an oci-archive (a tar of one, read in place: regular-file entries located by one pass
//! over its headers, nothing extracted) or a docker-archive (`super::docker_archive`: the same
//! reading, with a synthesised index; `ImageSource::resolve_reference` maps its RepoTags),
//! with the choice of one manifest by `ref.name` and of the linux/amd64 image of a
//! multi-platform index. [`ImageSource`] is the shape a registry
//! client and an engine bridge will also take: an index and blobs by digest, and errors that
//! name where they looked. An export writes one image as a deterministic oci-archive or
//! docker-archive.

use super::blob;
use super::docker_archive::{self, DockerArchiveSource};
use super::error::{available_refs, not_a_layout, not_an_archive, Error};
use super::index::{parse_index, Index};
use super::layout::{check_layout_file, layout_file_bytes, Layout};
use super::manifest::{blob_rel, is_index_type, is_manifest_type, ParsedManifest, MAX_JSON};
use super::scan;
use super::spec::{DockerArchiveEntry, ImageIndex};
use super::{canonical_json, Descriptor, Platform, ANNOTATION_REF_NAME};
use crate::types::digest::Digest;
use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where an image on this machine comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
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
    /// A docker-archive (`docker save`, `podman save --format docker-archive`); `reference`
    /// selects by RepoTag (see `super::docker_archive`). One from Docker ≥ 25, which holds an
    /// OCI layout too, is read as an oci-archive.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
}

impl SourceLocation {
    /// The `ref.name` asked for (`None`: the index's only image).
    pub fn reference(&self) -> Option<&str> {
        match self {
            SourceLocation::Layout { reference, .. }
            | SourceLocation::Archive { reference, .. }
            | SourceLocation::DockerArchive { reference, .. } => reference.as_deref(),
        }
    }

    /// The archive at `path`, whose index names exactly one image.
    pub fn archive(path: PathBuf) -> SourceLocation {
        SourceLocation::Archive {
            path,
            reference: None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    /// An OCI layout in a tar (`oci-archive:`).
    OciArchive,
    /// The same plus Docker's `manifest.json`, as `docker save` ≥ 25 writes (`docker load`).
    /// Layers are written as stored: `docker load` < 23 cannot decompress zstd layers (Debian
    /// 12's dockerd 20.10 fails with "ApplyLayer … unexpected EOF"); podman loads them.
    DockerArchive,
}

/// An image source: its index and its blobs by digest. Errors name [`ImageSource::path`].
pub trait ImageSource: Sync {
    /// How many blobs an import reads from it at once: 1 for files, more for a remote source
    /// whose blobs each arrive over their own connection.
    fn parallelism(&self) -> usize {
        1
    }
    /// Where the source reads from (named in errors).
    fn path(&self) -> &Path;
    /// "not an OCI image layout", "not an oci-archive", …, as the source is.
    fn invalid(&self, reason: String) -> Error;
    /// The `ref.name` in the index that `reference` (as the user wrote it) stands for; a source
    /// with its own naming rules (a docker-archive's RepoTags) maps it, others keep it.
    fn resolve_reference(&self, reference: &str) -> Result<String, Error> {
        Ok(reference.to_string())
    }
    /// The top-level index (`index.json`), at most `max` bytes.
    fn read_index(&self, max: u64) -> Result<Vec<u8>, Error>;
    /// A blob's bytes and length; `MissingBlob` (naming `digest`) when absent.
    fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), Error>;
    /// A path naming a blob in errors (`DIR/blobs/sha256/<hex>`, or the archive member).
    fn describe_blob(&self, digest: &Digest) -> PathBuf;

    fn base_error(&self, reason: String) -> Error {
        Error::Base {
            source_path: self.path().to_path_buf(),
            reason,
        }
    }

    /// Reads a JSON blob named by `d`, checking its size and digest.
    fn read_json(&self, d: &Descriptor, kind: &str) -> Result<Vec<u8>, Error> {
        let (mut r, len) = self.open_blob(&d.digest)?;
        let what = format!("{kind} {}", self.describe_blob(&d.digest).display());
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
            .map_err(|e| Error::io(&self.describe_blob(&d.digest), e))?;
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

/// An image layout to read from: a directory, or an archive read in place (regular-file entries
/// located by one pass over its headers; nothing is extracted), or a docker-archive with a
/// synthesised index (`super::docker_archive`).
#[derive(Debug)]
pub enum LayoutSource {
    Dir(PathBuf),
    Archive {
        path: PathBuf,
        files: HashMap<String, (u64, u64)>,
    },
    Docker(Box<DockerArchiveSource>),
}

impl LayoutSource {
    /// Opens the directory or archive and checks its `oci-layout` file.
    pub fn open(source: &SourceLocation) -> Result<LayoutSource, Error> {
        let src = match source {
            SourceLocation::Layout { dir, .. } => {
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
                LayoutSource::Dir(dir.clone())
            }
            SourceLocation::Archive { path, .. } => {
                return LayoutSource::open_archive_members(path, index_archive(path)?)
            }
            SourceLocation::DockerArchive { path, .. } => return docker_archive::open(path),
        };
        src.check_oci_layout()?;
        Ok(src)
    }

    /// An oci-archive whose members are located already.
    pub(crate) fn open_archive_members(
        path: &Path,
        files: HashMap<String, (u64, u64)>,
    ) -> Result<LayoutSource, Error> {
        let src = LayoutSource::Archive {
            path: path.to_path_buf(),
            files,
        };
        src.check_oci_layout()?;
        Ok(src)
    }

    fn check_oci_layout(&self) -> Result<(), Error> {
        let src = self;
        let layout = match src.read_whole("oci-layout", 4096) {
            Ok(b) => b,
            Err(Error::MissingBlob { .. }) => {
                return Err(src.invalid("it has no `oci-layout` file".into()))
            }
            Err(e) => return Err(e),
        };
        check_layout_file(&layout).map_err(|r| src.invalid(r))
    }

    /// A path naming `rel` in errors (`DIR/rel`, or `ARCHIVE/rel` for an archive member).
    fn describe(&self, rel: &str) -> PathBuf {
        self.path().join(rel)
    }

    /// Opens a member; `MissingBlob` (naming `digest`) when absent.
    fn open_member(&self, rel: &str, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), Error> {
        let missing = || Error::MissingBlob {
            digest: *digest,
            path: self.describe(rel),
        };
        match self {
            LayoutSource::Dir(dir) => {
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
            LayoutSource::Archive { path, files } => {
                let &(offset, size) = files.get(rel).ok_or_else(missing)?;
                let mut f = File::open(path).map_err(|e| Error::io(path, e))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::io(path, e))?;
                Ok((Box::new(f.take(size)), size))
            }
            LayoutSource::Docker(d) => d.open_blob(digest),
        }
    }

    fn read_whole(&self, rel: &str, max: u64) -> Result<Vec<u8>, Error> {
        let missing_digest = Digest::of(b"");
        let (mut r, len) = match self.open_member(rel, &missing_digest) {
            Ok(x) => x,
            Err(Error::MissingBlob { .. }) if rel == "index.json" => {
                return Err(self.invalid("it has no `index.json`".into()))
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
}

impl ImageSource for LayoutSource {
    fn path(&self) -> &Path {
        match self {
            LayoutSource::Dir(p) | LayoutSource::Archive { path: p, .. } => p,
            LayoutSource::Docker(d) => d.path(),
        }
    }

    fn invalid(&self, reason: String) -> Error {
        match self {
            LayoutSource::Dir(p) => not_a_layout(p, reason),
            LayoutSource::Archive { path, .. } => not_an_archive(path, reason),
            LayoutSource::Docker(d) => d.invalid(reason),
        }
    }

    fn resolve_reference(&self, reference: &str) -> Result<String, Error> {
        match self {
            LayoutSource::Docker(d) => d.resolve_reference(reference),
            _ => Ok(reference.to_string()),
        }
    }

    fn read_index(&self, max: u64) -> Result<Vec<u8>, Error> {
        match self {
            LayoutSource::Docker(d) => d.read_index(max),
            _ => self.read_whole("index.json", max),
        }
    }

    fn open_blob(&self, digest: &Digest) -> Result<(Box<dyn Read + '_>, u64), Error> {
        self.open_member(&blob_rel(digest), digest)
    }

    fn describe_blob(&self, digest: &Digest) -> PathBuf {
        match self {
            LayoutSource::Docker(d) => d.describe_blob(digest),
            _ => self.describe(&blob_rel(digest)),
        }
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
        if scan::unsafe_path(&raw).is_some() {
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

/// The image `reference` names in `src` (or its only one); a multi-platform index resolved to
/// its linux/amd64 manifest.
pub fn choose_image(src: &dyn ImageSource, reference: Option<&str>) -> Result<Descriptor, Error> {
    choose_image_for(src, reference, None)
}

/// [`choose_image`], with an image index resolved to `platform` (`None`: linux/amd64).
pub fn choose_image_for(
    src: &dyn ImageSource,
    reference: Option<&str>,
    platform: Option<&Platform>,
) -> Result<Descriptor, Error> {
    let index_bytes = src.read_index(MAX_JSON)?;
    let index = parse_index(&index_bytes, "index.json").map_err(|r| src.invalid(r))?;
    let resolved = reference.map(|r| src.resolve_reference(r)).transpose()?;
    let mut chosen = pick_manifest(src, &index, resolved.as_deref())?;
    if is_index_type(&chosen.media_type) {
        let bytes = src.read_json(&chosen, "image index")?;
        let nested = parse_index(&bytes, &format!("image index {}", chosen.digest))
            .map_err(|r| src.base_error(r))?;
        chosen = pick_platform(src, &nested, &chosen, platform)?;
    }
    if !is_manifest_type(&chosen.media_type) {
        return Err(Error::UnknownMediaType {
            what: format!("manifest {}", chosen.digest),
            media_type: chosen.media_type.clone(),
        });
    }
    Ok(chosen)
}

/// The platforms of the multi-platform index `reference` names in `src` (empty when it names
/// a single manifest), in the index's order: for a caller that reports a missing
/// linux/amd64 image as a finding rather than an error ([`choose_image_for`] then picks one).
pub fn index_platforms(
    src: &dyn ImageSource,
    reference: Option<&str>,
) -> Result<Vec<Platform>, Error> {
    let index_bytes = src.read_index(MAX_JSON)?;
    let index = parse_index(&index_bytes, "index.json").map_err(|r| src.invalid(r))?;
    let resolved = reference.map(|r| src.resolve_reference(r)).transpose()?;
    let chosen = pick_manifest(src, &index, resolved.as_deref())?;
    if !is_index_type(&chosen.media_type) {
        return Ok(Vec::new());
    }
    let bytes = src.read_json(&chosen, "image index")?;
    let nested = parse_index(&bytes, &format!("image index {}", chosen.digest))
        .map_err(|r| src.base_error(r))?;
    Ok(nested
        .entries
        .into_iter()
        .filter(|(_, d)| is_manifest_type(&d.media_type))
        .filter_map(|(_, d)| d.platform)
        .collect())
}

/// The manifest named `reference` (or the only one) in a source's index.
fn pick_manifest(
    src: &dyn ImageSource,
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
            [] => Err(src.base_error("its index.json lists no images".into())),
            [(_, one)] => Ok(one.clone()),
            several => Err(src.base_error(format!(
                "its index.json lists {} images; name one as oci:DIR:REF, oci-archive:FILE:REF or docker-archive:FILE:REF{}",
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
fn pick_platform(
    src: &dyn ImageSource,
    nested: &Index,
    parent: &Descriptor,
    wanted: Option<&Platform>,
) -> Result<Descriptor, Error> {
    let matches = |p: Option<&Platform>| match (wanted, p) {
        (None, p) => is_linux_amd64(p),
        (Some(w), Some(p)) => {
            w.os == p.os
                && w.architecture == p.architecture
                && (w.variant.is_none() || w.variant == p.variant)
        }
        (Some(_), None) => false,
    };
    if let Some((_, d)) = nested
        .entries
        .iter()
        .find(|(_, d)| matches(d.platform.as_ref()) && is_manifest_type(&d.media_type))
    {
        return Ok(d.clone());
    }
    let want = match wanted {
        Some(w) => match &w.variant {
            Some(v) => format!("{}/{}/{v}", w.os, w.architecture),
            None => format!("{}/{}", w.os, w.architecture),
        },
        None => "linux/amd64".to_string(),
    };
    let platforms: Vec<String> = nested
        .entries
        .iter()
        .map(|(_, d)| match &d.platform {
            Some(p) => format!("{}/{}", p.os, p.architecture),
            None => "unknown platform".to_string(),
        })
        .collect();
    Err(src.base_error(format!(
        "image index {} has no {want} image (it has: {})",
        parent.digest,
        if platforms.is_empty() {
            "nothing".to_string()
        } else {
            platforms.join(", ")
        }
    )))
}

impl Layout {
    /// Writes one image as a deterministic tar (sorted entries, mtime 0, uid/gid 0, modes
    /// 0644/0755, no PAX): an OCI layout with only that image's blobs and one index entry
    /// (`ref.name` = `ref_name`), plus `manifest.json` for `DockerArchive`. Layers are copied
    /// as stored, never recompressed. Written to a temp file next to `out`, then renamed.
    pub fn export(
        &self,
        manifest: &Descriptor,
        ref_name: &str,
        format: ExportFormat,
        out: &Path,
    ) -> Result<(), Error> {
        let manifest_bytes = self.read_json_blob(&manifest.digest)?;
        let parsed =
            ParsedManifest::parse(&manifest_bytes, &format!("manifest {}", manifest.digest))?;
        let mut blobs: BTreeMap<String, Descriptor> = BTreeMap::new();
        blobs.insert(manifest.digest.hex(), manifest.clone());
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
                return Err(Error::CorruptBlobSize {
                    digest: d.digest,
                    expected: d.size,
                    found: meta.len(),
                    path: self.blob_path(&d.digest),
                });
            }
        }
        let mut entry = manifest.clone();
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.into(), ref_name.to_string());
        let index = ImageIndex::new(vec![entry]);
        let docker = [DockerArchiveEntry {
            config: format!("blobs/sha256/{}", parsed.config.digest.hex()),
            repo_tags: vec![ref_name.to_string()],
            layers: parsed
                .layers
                .iter()
                .map(|l| format!("blobs/sha256/{}", l.digest.hex()))
                .collect(),
        }];
        // Both serialised before the temp file exists: a failure leaves nothing behind.
        let index_bytes = canonical_json(&index)?;
        let docker_bytes = canonical_json(&docker)?;

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
        append_file(
            &mut builder,
            "index.json",
            index_bytes.len() as u64,
            &index_bytes[..],
        )
        .map_err(io_err)?;
        if format == ExportFormat::DockerArchive {
            let b = &docker_bytes;
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
