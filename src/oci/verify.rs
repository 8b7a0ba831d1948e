//! The full check of a layout (`verify`: every entry resolvable, every reachable blob's digest
//! and size, every layer's diff_id, every problem reported rather than the first) and garbage
//! collection (`gc`: temp files and blobs no index entry reaches). What an entry means is the
//! caller's: `verify` asks it for the entry's own problems before checking its blobs.

use super::blob;
use super::error::Error;
use super::index::parse_index;
use super::layout::{open_lock_file, read_small, Layout};
use super::manifest::{
    children, diff_ids_of, is_index_type, is_manifest_type, json, layer_compression, ParsedManifest,
};
use super::scan::{self, LayerScan};
use super::Compression;
use super::{Descriptor, ANNOTATION_REF_NAME};
use crate::types::digest::Digest;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io;

/// The result of [`Layout::verify`]: `problems` empty means the layout is sound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayoutReport {
    pub problems: Vec<String>,
    pub blobs_checked: usize,
    pub bytes_checked: u64,
}

/// What `gc` removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GcReport {
    pub removed_blobs: usize,
    pub removed_temp: usize,
    pub bytes_freed: u64,
}

/// What `verify` has checked so far: JSON blobs (sound or not) and layer scans (`None`: the
/// layer was unreadable or had the wrong digest, already reported).
#[derive(Default)]
struct Seen {
    json: HashMap<Digest, bool>,
    layers: HashMap<Digest, Option<LayerScan>>,
}

impl Layout {
    /// The full check: every entry resolvable, every reachable blob's digest and size, every
    /// layer's diff_id. Reports every problem found instead of stopping at the first.
    /// `check_entry(entry, label, problems)` adds an entry's own problems (what its ref and
    /// annotations should be) before its blobs are checked.
    pub fn verify(
        &self,
        mut check_entry: impl FnMut(&Descriptor, &str, &mut Vec<String>),
    ) -> Result<LayoutReport, Error> {
        let index = self.read_index()?;
        let mut report = LayoutReport::default();
        let mut checked = Seen::default();
        let mut refs: BTreeMap<String, usize> = BTreeMap::new();
        for (_, d) in &index.entries {
            let label = d
                .annotations
                .get(ANNOTATION_REF_NAME)
                .cloned()
                .unwrap_or_else(|| format!("entry {}", d.digest));
            *refs.entry(label.clone()).or_default() += 1;
            check_entry(d, &label, &mut report.problems);
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
        report: &mut LayoutReport,
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
        report: &mut LayoutReport,
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
        report: &mut LayoutReport,
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
        match scan::scan_layer(file, compression, &layer.digest, &path, None) {
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
    /// that have written blobs hold `envc/gc.lock` shared) and holds the layout lock. Refuses to
    /// run when a reachable manifest cannot be read (it would not know what that manifest
    /// needs): run `verify`.
    pub fn gc(&self) -> Result<GcReport, Error> {
        // Drop this handle's own writer lock, then wait for every other writer.
        *self.writing.lock().unwrap_or_else(|p| p.into_inner()) = None;
        self.ensure_private_dirs()?;
        let gc_path = self.root().join("envc").join("gc.lock");
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
}
