//! Build records: every engine build envc runs leaves one, succeeded or not, beside the
//! revisions (`envc/builds/<id>.json`) with its log (`envc/logs/<id>.log`). A failed build is
//! a record, never a revision; a succeeded one names the revision it committed, whose index
//! entry names the build back (`dev.envc.build.id`). Records are envc's private files: OCI
//! tools ignore them, `gc` keeps them, and they are the only thing in the store that carries
//! the wall clock (when a build started and how long it ran), which is why they are not part
//! of any image.
//!
//! Each file is written atomically (temp file, rename), the log before the record, so a record
//! that exists always has its log; a kill in between leaves a log without a record, which
//! nothing lists.

use super::{Error, Store};
use crate::oci;
use sha2::{Digest as _, Sha256};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// How a build ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BuildStatus {
    Succeeded,
    Failed,
    Interrupted,
}

impl std::fmt::Display for BuildStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            BuildStatus::Succeeded => "succeeded",
            BuildStatus::Failed => "failed",
            BuildStatus::Interrupted => "interrupted",
        })
    }
}

/// One build, as `list --all` and `logs` show it. Field names are the JSON keys, sorted.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct BuildRecord {
    pub base_digest: Option<String>,
    pub dockerfile_digest: Option<String>,
    /// `podman 4.3.1`.
    pub engine: Option<String>,
    /// Why it failed, in envc's words.
    pub error: Option<String>,
    /// The Dockerfile step the engine was running when it failed.
    pub failing_step: Option<String>,
    pub id: String,
    pub name: String,
    /// `NAME:REV` of the revision it committed (or found unchanged).
    pub revision: Option<String>,
    /// Wall-clock seconds from start to end.
    pub seconds: f64,
    pub spec_digest: String,
    /// RFC 3339, UTC, to the second.
    pub started: String,
    pub status: BuildStatus,
}

/// A build id: `NAME-YYYYMMDDTHHMMSSZ-XXXXXX`, unique per store (the suffix hashes the time to
/// the nanosecond, the process and a counter).
pub fn new_build_id(name: &str, now: SystemTime) -> String {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let since = now.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let stamp =
        humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(since.as_secs()))
            .to_string()
            .replace(['-', ':'], "");
    let mut h = Sha256::new();
    h.update(since.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    h.update(
        COUNTER
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
            .to_le_bytes(),
    );
    let hex: String = h.finalize()[..3]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("{name}-{stamp}-{hex}")
}

/// A string that can be a build id (and so a file name): what [`new_build_id`] makes.
pub fn is_build_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 255
        && !id.starts_with(['.', '-'])
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-TZ".contains(&b))
}

impl Store {
    fn builds_dir(&self) -> PathBuf {
        self.root().join("envc/builds")
    }

    fn logs_dir(&self) -> PathBuf {
        self.root().join("envc/logs")
    }

    /// Whether any build was recorded.
    pub fn has_builds(&self) -> bool {
        fs::read_dir(self.builds_dir()).is_ok_and(|mut d| d.next().is_some())
    }

    /// Records a build and its log.
    pub fn save_build(&self, record: &BuildRecord, log: &[u8]) -> Result<(), Error> {
        for dir in [self.builds_dir(), self.logs_dir()] {
            fs::create_dir_all(&dir).map_err(|e| oci::Error::io(&dir, e))?;
        }
        let log_path = self.logs_dir().join(format!("{}.log", record.id));
        self.write_file_atomically(&log_path, log)?;
        let mut json = serde_json::to_vec_pretty(record).map_err(|source| oci::Error::Json {
            what: format!("build record {}", record.id),
            source,
        })?;
        json.push(b'\n');
        let path = self.builds_dir().join(format!("{}.json", record.id));
        Ok(self.write_file_atomically(&path, &json)?)
    }

    /// Every build record (of `name`, or all), oldest first. A record that cannot be read is
    /// an error naming its file: a store is envc's, and a damaged one is not silently skipped.
    pub fn builds(&self, name: Option<&str>) -> Result<Vec<BuildRecord>, Error> {
        let dir = self.builds_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(oci::Error::io(&dir, e).into()),
        };
        let mut out = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| oci::Error::io(&dir, e))?;
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let bytes = fs::read(&path).map_err(|e| oci::Error::io(&path, e))?;
            let record: BuildRecord =
                serde_json::from_slice(&bytes).map_err(|source| oci::Error::Json {
                    what: path.display().to_string(),
                    source,
                })?;
            if name.is_none_or(|n| n == record.name) {
                out.push(record);
            }
        }
        out.sort_by(|a, b| (&a.started, &a.id).cmp(&(&b.started, &b.id)));
        Ok(out)
    }

    /// The record with this id, if any.
    pub fn build(&self, id: &str) -> Result<Option<BuildRecord>, Error> {
        if !is_build_id(id) {
            return Ok(None);
        }
        Ok(self.builds(None)?.into_iter().find(|r| r.id == id))
    }

    /// The log of build `id`.
    pub fn build_log(&self, id: &str) -> Result<Vec<u8>, Error> {
        if !is_build_id(id) {
            return Err(oci::Error::Invalid {
                what: format!("build `{id}`"),
                reason: "not a build id".into(),
            }
            .into());
        }
        let path = self.logs_dir().join(format!("{id}.log"));
        Ok(fs::read(&path).map_err(|e| oci::Error::io(&path, e))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(id: &str, name: &str, started: &str) -> BuildRecord {
        BuildRecord {
            base_digest: None,
            dockerfile_digest: None,
            engine: Some("podman 4.3.1".into()),
            error: Some("apt-get failed".into()),
            failing_step: Some("RUN apt-get install nope".into()),
            id: id.into(),
            name: name.into(),
            revision: None,
            seconds: 1.5,
            spec_digest: "sha256:00".into(),
            started: started.into(),
            status: BuildStatus::Failed,
        }
    }

    #[test]
    fn records_and_logs_round_trip_and_list_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_or_create(&dir.path().join("s")).unwrap();
        assert!(store.builds(None).unwrap().is_empty());
        let a = record("app-20261201T100000Z-aaaaaa", "app", "2026-12-01T10:00:00Z");
        let b = record("app-20261201T090000Z-bbbbbb", "app", "2026-12-01T09:00:00Z");
        let c = record(
            "other-20261201T080000Z-cccccc",
            "other",
            "2026-12-01T08:00:00Z",
        );
        for r in [&a, &b, &c] {
            store
                .save_build(r, format!("log of {}\n", r.id).as_bytes())
                .unwrap();
        }
        let ids = |v: Vec<BuildRecord>| v.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(store.builds(Some("app")).unwrap()),
            [b.id.clone(), a.id.clone()]
        );
        assert_eq!(store.builds(None).unwrap().len(), 3);
        assert_eq!(store.build(&c.id).unwrap(), Some(c.clone()));
        assert_eq!(
            store.build_log(&a.id).unwrap(),
            format!("log of {}\n", a.id).into_bytes()
        );
        // Not ids, so never paths: nothing outside envc/logs is read.
        assert!(store.build_log("../../index.json").is_err());
        assert_eq!(store.build("../x").unwrap(), None);
        // A record does not make the layout unsound.
        assert!(store.verify().unwrap().is_ok());
    }

    #[test]
    fn ids_are_unique_and_safe() {
        let now = UNIX_EPOCH + Duration::from_secs(1_764_583_262);
        let a = new_build_id("my-env", now);
        let b = new_build_id("my-env", now);
        assert_ne!(a, b);
        assert!(a.starts_with("my-env-20251201T"), "{a}");
        assert!(is_build_id(&a), "{a}");
        assert!(!is_build_id("a/b") && !is_build_id("..") && !is_build_id(""));
    }
}
