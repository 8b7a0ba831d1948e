//! The content-addressed artifact cache: every deb and wheel a lock names, stored as
//! `sha256/<hex>` under the cache directory (`--cache`, `$ENVC_CACHE_DIR`, else
//! `$XDG_CACHE_HOME/envc/artifacts`, else `~/.cache/envc/artifacts`). A lock must stay
//! buildable from the cache alone (archives drop superseded versions), so nothing here is ever
//! evicted.
//!
//! Safe under concurrent use and kills: a download goes to a unique temporary file in
//! `tmp/`, is hashed as it is written, checked against the lock's sha256 and size, synced,
//! and only then renamed to its digest name (two writers of one artifact write the same bytes,
//! so the last rename wins harmlessly). An entry is hashed again whenever it is used: one
//! truncated or altered on disk is removed and fetched again, or refused under `--offline`.

use super::fetch::{Fetch, FetchError};
use sha2::{Digest as _, Sha256};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("{what}: {url} has sha256 {found} and {found_size} bytes, but the lock says {expected} and {expected_size} bytes: the artifact was altered or the lock was edited; do not build from it (run `envc lock` again if the archive really changed)")]
    Mismatch {
        what: String,
        url: String,
        expected: String,
        expected_size: u64,
        found: String,
        found_size: u64,
    },
    #[error("{what} is not in the cache {cache} and --offline forbids fetching {url}: run `envc fetch` with the lock while online")]
    Missing {
        what: String,
        url: String,
        cache: String,
    },
    #[error("{what}: {source}")]
    Fetch { what: String, source: FetchError },
    #[error("the artifact cache {path}: {source}")]
    Io { path: String, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.display().to_string(),
        source,
    }
}

/// One artifact a lock names.
#[derive(Debug, Clone, Copy)]
pub struct Artifact<'a> {
    /// For messages: `deb jq 1.6-2.1`.
    pub what: &'a str,
    pub url: &'a str,
    pub sha256: &'a str,
    pub size: u64,
}

#[derive(Debug, Clone)]
pub struct Cache {
    root: PathBuf,
}

/// sha256 and length of a file.
fn hash_file(path: &Path) -> io::Result<(String, u64)> {
    let mut file = fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut len = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        len += n as u64;
    }
    Ok((hex(&hasher.finalize()), len))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes what is written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl Cache {
    /// `$ENVC_CACHE_DIR`, else `$XDG_CACHE_HOME/envc/artifacts`, else `~/.cache/envc/artifacts`.
    pub fn default_dir() -> PathBuf {
        if let Some(d) = std::env::var_os("ENVC_CACHE_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(d);
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .filter(|d| !d.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
            .unwrap_or_else(|| PathBuf::from(".cache"));
        base.join("envc").join("artifacts")
    }

    pub fn new(root: PathBuf) -> Cache {
        Cache { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn entry(&self, sha256: &str) -> PathBuf {
        self.root.join("sha256").join(sha256)
    }

    /// The verified cache entry of `a`, if the cache has an intact one. A damaged entry (a
    /// kill mid-copy cannot leave one, but a disk or a hand can) is removed.
    pub fn get(&self, a: &Artifact<'_>) -> Result<Option<PathBuf>, Error> {
        if a.sha256.len() != 64 || !a.sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(Error::Mismatch {
                what: a.what.into(),
                url: a.url.into(),
                expected: a.sha256.into(),
                expected_size: a.size,
                found: "(not a sha256)".into(),
                found_size: 0,
            });
        }
        let path = self.entry(a.sha256);
        match hash_file(&path) {
            Ok((sha, len)) if sha == a.sha256 && len == a.size => Ok(Some(path)),
            Ok(_) => {
                fs::remove_file(&path).map_err(io_err(&path))?;
                Ok(None)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&path)(e)),
        }
    }

    /// The artifact from the cache, fetched into it first when missing (never under `offline`).
    pub fn ensure(
        &self,
        fetch: &dyn Fetch,
        a: &Artifact<'_>,
        offline: bool,
    ) -> Result<PathBuf, Error> {
        if let Some(p) = self.get(a)? {
            return Ok(p);
        }
        if offline {
            return Err(Error::Missing {
                what: a.what.into(),
                url: a.url.into(),
                cache: self.root.display().to_string(),
            });
        }
        let tmp_dir = self.root.join("tmp");
        let sha_dir = self.root.join("sha256");
        fs::create_dir_all(&tmp_dir)
            .and_then(|()| fs::create_dir_all(&sha_dir))
            .map_err(io_err(&self.root))?;
        let tmp = tempfile::NamedTempFile::new_in(&tmp_dir).map_err(io_err(&tmp_dir))?;
        let file = tmp.reopen().map_err(io_err(tmp.path()))?;
        let mut writer = HashingWriter {
            inner: io::BufWriter::new(file),
            hasher: Sha256::new(),
        };
        // One byte over the locked size is already a mismatch: nothing larger is read.
        let len = fetch
            .copy_to(a.url, &mut writer, a.size + 1)
            .map_err(|source| match source {
                FetchError::TooLarge { .. } => Error::Mismatch {
                    what: a.what.into(),
                    url: a.url.into(),
                    expected: a.sha256.into(),
                    expected_size: a.size,
                    found: "(not read)".into(),
                    found_size: a.size + 1,
                },
                source => Error::Fetch {
                    what: a.what.into(),
                    source,
                },
            })?;
        writer.flush().map_err(io_err(tmp.path()))?;
        let HashingWriter { inner, hasher } = writer;
        let file = inner
            .into_inner()
            .map_err(|e| io_err(tmp.path())(e.into_error()))?;
        let found = hex(&hasher.finalize());
        if found != a.sha256 || len != a.size {
            return Err(Error::Mismatch {
                what: a.what.into(),
                url: a.url.into(),
                expected: a.sha256.into(),
                expected_size: a.size,
                found,
                found_size: len,
            });
        }
        file.sync_all().map_err(io_err(tmp.path()))?;
        let path = self.entry(a.sha256);
        tmp.persist(&path).map_err(|e| io_err(&path)(e.error))?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    struct Map(BTreeMap<String, Vec<u8>>);
    impl Fetch for Map {
        fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
            let b = self
                .0
                .get(url)
                .cloned()
                .ok_or(FetchError::NotFound { url: url.into() })?;
            if b.len() as u64 > max {
                return Err(FetchError::TooLarge {
                    url: url.into(),
                    max,
                });
            }
            Ok(b)
        }
    }

    fn sha(b: &[u8]) -> String {
        hex(&Sha256::digest(b))
    }

    #[test]
    fn fetches_once_verifies_and_refuses_tampering() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().to_path_buf());
        let body = b"a deb".to_vec();
        let sum = sha(&body);
        let fetch = Map(BTreeMap::from([("u".to_string(), body.clone())]));
        let a = Artifact {
            what: "deb x 1",
            url: "u",
            sha256: &sum,
            size: 5,
        };
        assert!(matches!(
            cache.ensure(&fetch, &a, true),
            Err(Error::Missing { .. })
        ));
        let p = cache.ensure(&fetch, &a, false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), body);
        // Warm: no fetcher needed, even offline.
        let empty = Map(BTreeMap::new());
        assert_eq!(cache.ensure(&empty, &a, true).unwrap(), p);
        // Truncated on disk (as by a kill of a hand-copy): dropped and refused offline.
        fs::write(&p, b"a d").unwrap();
        assert!(matches!(
            cache.ensure(&empty, &a, true),
            Err(Error::Missing { .. })
        ));
        assert!(!p.exists());
        // A server that serves other bytes: refused, nothing under the digest name.
        let bad = Map(BTreeMap::from([("u".to_string(), b"b deb".to_vec())]));
        let e = cache.ensure(&bad, &a, false).unwrap_err();
        assert!(e.to_string().contains("altered"), "{e}");
        assert!(!p.exists());
        let bigger = Map(BTreeMap::from([("u".to_string(), b"a deb!".to_vec())]));
        assert!(matches!(
            cache.ensure(&bigger, &a, false),
            Err(Error::Mismatch { .. })
        ));
        assert_eq!(fs::read_dir(dir.path().join("tmp")).unwrap().count(), 0);
    }
}
