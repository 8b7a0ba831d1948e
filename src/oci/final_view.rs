//! The final file-system view of a few paths of an image, computed from its layers without
//! running or extracting it: each layer is read once, in order, and only the entries a caller
//! selects are kept (the content of small files, the presence of others), with the whiteouts of
//! later layers applied as the OCI image spec says (`.wh.NAME` deletes `NAME` and everything
//! under it, `.wh..wh..opq` hides what earlier layers put in its directory; both act on earlier
//! layers only). Memory is bounded by the caller's caps: a kept file holds at most `max` bytes
//! (`truncated` says it was longer) and at most [`MAX_KEPT`] paths are kept.
//!
//! Decisions: paths are relative, without `./` or a trailing `/`; an absolute path or a `..`
//! component (also in a hard link's target) is refused as [`Error::UnsafePath`]; a symlink is
//! kept as its target text and never followed here (the caller decides); a hard link to a kept
//! file gets its content. Each layer blob's digest is checked as it is read.

use super::archive::ImageSource;
use super::blob::HashingReader;
use super::error::Error;
use super::scan::unsafe_path;
use super::tar_read::Reader;
use super::Descriptor;
use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

/// At most this many paths are kept over the whole image (presence entries included).
pub const MAX_KEPT: usize = 10_000;
/// At most this many content bytes are read into memory over the whole image (kept files,
/// including ones a later layer replaces); beyond it the image is refused.
pub const MAX_CONTENT: u64 = 256 << 20;

/// What a caller wants of a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Select {
    /// Not kept.
    Skip,
    /// Kept with at most `max` bytes of its content.
    Content { max: u64 },
    /// Kept without content (its existence and kind matter).
    Presence,
}

/// A kept entry's kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File {
        data: Vec<u8>,
        truncated: bool,
    },
    Symlink {
        target: String,
    },
    Dir,
    /// A device, FIFO, or a hard link to something not kept.
    Other,
}

/// A kept entry and the layer (0-based index into the manifest's layers) that last wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: Kind,
    pub layer: usize,
    /// Permission bits (`0o7777` at most), owner and group as the layer's header gives them.
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
}

/// The final view of the selected paths.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct FinalView {
    /// Present paths, relative (`etc/passwd`).
    pub entries: BTreeMap<String, Entry>,
    /// Selected paths an earlier layer wrote and a later one deleted: the deleting layer.
    pub deleted: BTreeMap<String, usize>,
    /// More than [`MAX_KEPT`] paths were selected; the rest were dropped.
    pub capped: bool,
    /// Content bytes read so far (at most [`MAX_CONTENT`]).
    read: u64,
}

impl FinalView {
    pub fn get(&self, path: &str) -> Option<&Entry> {
        self.entries.get(path)
    }

    /// Present entries directly or indirectly under `dir` (not `dir` itself).
    pub fn under<'a>(&'a self, dir: &str) -> impl Iterator<Item = (&'a String, &'a Entry)> + 'a {
        let prefix = format!("{dir}/");
        self.entries
            .range(prefix.clone()..)
            .take_while(move |(k, _)| k.starts_with(&prefix))
    }

    /// Removes `path` and everything under it (`keep_self`: only what is under it), recording
    /// the removed paths as deleted by `layer`.
    fn remove(&mut self, path: &str, keep_self: bool, layer: usize) {
        let prefix = format!("{path}/");
        let mut gone: Vec<String> = self
            .entries
            .range(prefix.clone()..)
            .take_while(|(k, _)| k.starts_with(&prefix))
            .map(|(k, _)| k.clone())
            .collect();
        if !keep_self && self.entries.contains_key(path) {
            gone.push(path.to_string());
        }
        for k in gone {
            self.entries.remove(&k);
            self.deleted.insert(k, layer);
        }
    }
}

/// Normalises a tar path: no leading `./`, no `.` components, no trailing `/`.
fn clean(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Reads every layer of `layers` (in order) from `src` and returns the final view of the paths
/// `select` keeps.
pub fn final_view(
    src: &dyn ImageSource,
    layers: &[Descriptor],
    select: &dyn Fn(&str) -> Select,
) -> Result<FinalView, Error> {
    let mut view = FinalView::default();
    for (i, layer) in layers.iter().enumerate() {
        let (blob, _) = src.open_blob(&layer.digest)?;
        let path = src.describe_blob(&layer.digest);
        let mut hashing = HashingReader::new(blob, true);
        read_layer(&mut hashing, i, layer, select, &mut view).map_err(|e| match e {
            LayerError::Io(e) => match hashing.error.take() {
                Some(src_err) => Error::io(&path, src_err),
                None => Error::BadLayer {
                    layer: path.clone(),
                    reason: format!("cannot read it as a (compressed) tar: {e}"),
                },
            },
            LayerError::Oci(e) => e,
        })?;
        io::copy(&mut hashing, &mut io::sink()).map_err(|e| Error::io(&path, e))?;
        let size = hashing.size;
        let found = hashing.digest().unwrap_or(layer.digest);
        if found != layer.digest {
            return Err(Error::DigestMismatch {
                what: format!("layer {}", path.display()),
                expected: layer.digest,
                found,
            });
        }
        if size != layer.size {
            return Err(Error::SizeMismatch {
                what: format!("layer {}", path.display()),
                expected: layer.size,
                found: size,
            });
        }
    }
    Ok(view)
}

enum LayerError {
    Io(io::Error),
    Oci(Error),
}

impl From<io::Error> for LayerError {
    fn from(e: io::Error) -> Self {
        LayerError::Io(e)
    }
}

fn read_layer(
    input: &mut dyn Read,
    index: usize,
    layer: &Descriptor,
    select: &dyn Fn(&str) -> Select,
    view: &mut FinalView,
) -> Result<(), LayerError> {
    let mut buffered = BufReader::with_capacity(1 << 16, input);
    let head = buffered.fill_buf()?;
    let decoded: Box<dyn Read + '_> = if head.starts_with(&[0x1f, 0x8b]) {
        Box::new(flate2::read::MultiGzDecoder::new(buffered))
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Box::new(super::zstd::decoder(buffered)?)
    } else {
        Box::new(buffered)
    };
    let mut tar = Reader::new(decoded);
    let unsafe_entry = |p: String| {
        LayerError::Oci(Error::UnsafePath {
            layer: layer.digest,
            path: p,
        })
    };
    // This layer's whiteouts act on earlier layers only: collected, applied at its end.
    let mut deletes: Vec<String> = Vec::new();
    let mut opaque: Vec<String> = Vec::new();
    let mut added: BTreeMap<String, Entry> = BTreeMap::new();
    while let Some(entry) = tar.next_entry()? {
        if let Some(bad) = unsafe_path(&entry.path) {
            return Err(unsafe_entry(bad));
        }
        let raw = String::from_utf8_lossy(&entry.path).into_owned();
        let path = clean(&raw);
        if path.is_empty() {
            continue;
        }
        let (dir, base) = match path.rsplit_once('/') {
            Some((d, b)) => (d.to_string(), b),
            None => (String::new(), path.as_str()),
        };
        if base == ".wh..wh..opq" {
            opaque.push(dir);
            continue;
        }
        if let Some(name) = base.strip_prefix(".wh.") {
            deletes.push(if dir.is_empty() {
                name.to_string()
            } else {
                format!("{dir}/{name}")
            });
            continue;
        }
        let kind = entry.kind;
        if kind == tar::EntryType::Link {
            if let Some(bad) = unsafe_path(&entry.link) {
                return Err(unsafe_entry(format!("{raw} (hard link to {bad})")));
            }
        }
        let wanted = select(&path);
        if wanted == Select::Skip {
            continue;
        }
        if added.len() + view.entries.len() >= MAX_KEPT && !added.contains_key(&path) {
            view.capped = true;
            continue;
        }
        let kind = match (kind, wanted) {
            (k, Select::Content { max }) if k.is_file() => {
                let mut data = Vec::new();
                (&mut tar).take(max).read_to_end(&mut data)?;
                view.read += data.len() as u64;
                if view.read > MAX_CONTENT {
                    return Err(LayerError::Oci(Error::BadLayer {
                        layer: std::path::PathBuf::from(layer.digest.to_string()),
                        reason: format!(
                            "the files read from the image pass {} MiB at `{raw}`; refusing it",
                            MAX_CONTENT >> 20
                        ),
                    }));
                }
                Kind::File {
                    truncated: entry.size > max,
                    data,
                }
            }
            (k, _) if k.is_file() => Kind::File {
                data: Vec::new(),
                truncated: entry.size > 0,
            },
            (k, _) if k.is_symlink() => Kind::Symlink {
                target: String::from_utf8_lossy(&entry.link).into_owned(),
            },
            (k, _) if k.is_dir() => Kind::Dir,
            (tar::EntryType::Link, _) => {
                let target = clean(&String::from_utf8_lossy(&entry.link));
                added
                    .get(&target)
                    .or_else(|| view.entries.get(&target))
                    .map_or(Kind::Other, |e| e.kind.clone())
            }
            _ => Kind::Other,
        };
        added.insert(
            path,
            Entry {
                kind,
                layer: index,
                mode: entry.mode & 0o7777,
                uid: entry.uid,
                gid: entry.gid,
            },
        );
    }
    // Whatever follows the end-of-archive blocks (the blob's digest covers it).
    io::copy(&mut tar.into_inner(), &mut io::sink())?;
    for d in &opaque {
        if d.is_empty() {
            let all: Vec<String> = view.entries.keys().cloned().collect();
            for k in all {
                view.entries.remove(&k);
                view.deleted.insert(k, index);
            }
        } else {
            view.remove(d, true, index);
        }
    }
    for d in &deletes {
        view.remove(d, false, index);
    }
    for (path, entry) in added {
        if entry.kind != Kind::Dir {
            // A non-directory replaces a directory of earlier layers, and what was under it.
            view.remove(&path, true, index);
        }
        view.deleted.remove(&path);
        view.entries.insert(path, entry);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::archive::LayoutSource;
    use crate::oci::testutil::gzip;
    use crate::types::digest::Digest;

    fn layout(layers: &[Vec<u8>]) -> (tempfile::TempDir, Vec<Descriptor>) {
        let dir = tempfile::tempdir().unwrap();
        let blobs = dir.path().join("blobs/sha256");
        std::fs::create_dir_all(&blobs).unwrap();
        let mut descs = Vec::new();
        for l in layers {
            let d = Digest::of(l);
            std::fs::write(blobs.join(d.hex()), l).unwrap();
            descs.push(Descriptor {
                media_type: crate::oci::MEDIA_TYPE_LAYER.into(),
                digest: d,
                size: l.len() as u64,
                annotations: Default::default(),
                platform: None,
            });
        }
        (dir, descs)
    }

    use crate::oci::testutil::tar_of;

    fn select(p: &str) -> Select {
        if p.starts_with("etc/") {
            Select::Content { max: 8 }
        } else {
            Select::Skip
        }
    }

    fn view_of(layers: &[Vec<u8>]) -> Result<FinalView, Error> {
        let (dir, descs) = layout(layers);
        let src = LayoutSource::Dir(dir.path().to_path_buf());
        final_view(&src, &descs, &select)
    }

    #[test]
    fn later_whiteouts_delete_and_opaque_dirs_hide_earlier_layers() {
        let l1 = tar_of(&[
            ("./etc/sudoers.d/ray", b"ray ALL"),
            ("etc/sudoers.d/other", b"x"),
            ("etc/passwd", b"0123456789"),
            ("usr/bin/x", b"skip"),
        ]);
        let l2 = gzip(&tar_of(&[("etc/sudoers.d/.wh.ray", b"")]));
        let v = view_of(&[l1.clone(), l2]).unwrap();
        assert!(v.get("etc/sudoers.d/ray").is_none());
        assert_eq!(v.deleted.get("etc/sudoers.d/ray"), Some(&1));
        assert!(v.get("usr/bin/x").is_none());
        let passwd = v.get("etc/passwd").unwrap();
        assert_eq!(
            passwd.kind,
            Kind::File {
                data: b"01234567".to_vec(),
                truncated: true
            }
        );
        assert_eq!(passwd.layer, 0);
        // An opaque directory keeps what its own layer writes there.
        let l3 = tar_of(&[
            ("etc/sudoers.d/.wh..wh..opq", b""),
            ("etc/sudoers.d/new", b"y"),
        ]);
        let v = view_of(&[l1, l3]).unwrap();
        let kept: Vec<&String> = v.under("etc/sudoers.d").map(|(k, _)| k).collect();
        assert_eq!(kept, ["etc/sudoers.d/new"]);
        assert_eq!(v.get("etc/sudoers.d/new").unwrap().layer, 1);
    }

    #[test]
    fn hard_links_get_their_content_and_a_file_replaces_a_directory() {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_data(&mut h, "etc/a", &b"abc"[..]).unwrap();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        b.append_link(&mut h, "etc/b", "etc/a").unwrap();
        let l1 = b.into_inner().unwrap();
        let v = view_of(std::slice::from_ref(&l1)).unwrap();
        assert_eq!(v.get("etc/b").unwrap().kind, v.get("etc/a").unwrap().kind);
        let l2 = tar_of(&[("etc/sub/x", b"1")]);
        let l3 = tar_of(&[("etc/sub", b"now a file")]);
        let v = view_of(&[l1, l2, l3]).unwrap();
        assert!(v.get("etc/sub/x").is_none());
        assert_eq!(v.deleted.get("etc/sub/x"), Some(&2));
    }

    #[test]
    fn a_path_escape_is_refused() {
        let e = view_of(&[tar_of(&[("../etc/passwd", b"x")])]).unwrap_err();
        assert!(matches!(e, Error::UnsafePath { ref path, .. } if path == "../etc/passwd"));
    }

    #[test]
    fn a_corrupt_layer_is_an_error() {
        let (dir, mut descs) = layout(&[tar_of(&[("etc/a", b"1")])]);
        descs[0].size += 1;
        let src = LayoutSource::Dir(dir.path().to_path_buf());
        assert!(matches!(
            final_view(&src, &descs, &select),
            Err(Error::SizeMismatch { .. })
        ));
    }
}
