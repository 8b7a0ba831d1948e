//! Fetching an artifact or an index by URL: `http`, `https` (through the registry client's
//! connections, so proxies, the system trust store and `--offline` apply) or `file` (a local
//! mirror, and tests). Bodies are capped: an index or an archive larger than its cap is refused
//! before it fills memory or the disk.

use std::io::{Read, Write};
use std::sync::Arc;

/// Gets the bytes at a URL.
pub trait Fetch: Sync {
    /// The whole body at `url`, refused beyond `max` bytes.
    fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError>;

    /// Streams the body at `url` into `out` (at most `max` bytes); returns its length.
    fn copy_to(&self, url: &str, out: &mut dyn Write, max: u64) -> Result<u64, FetchError> {
        let bytes = self.get(url, max)?;
        out.write_all(&bytes).map_err(|e| FetchError::Failed {
            url: url.to_string(),
            reason: format!("writing it: {e}"),
        })?;
        Ok(bytes.len() as u64)
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    #[error("{url} does not exist (HTTP 404 or no such file)")]
    NotFound { url: String },
    #[error("{url} is larger than {max} bytes, which envc refuses")]
    TooLarge { url: String, max: u64 },
    #[error("--offline: envc may not fetch {url}")]
    Offline { url: String },
    #[error("cannot fetch {url}: {reason}")]
    Failed { url: String, reason: String },
}

/// The fetcher `envc lock` and `envc fetch` use: the network through `client`, and `file://`.
pub struct Web {
    pub client: Arc<crate::registry::Client>,
}

impl Web {
    fn open(&self, url: &str, max: u64) -> Result<(Box<dyn Read + Send>, Option<u64>), FetchError> {
        let failed = |reason: String| FetchError::Failed {
            url: url.to_string(),
            reason,
        };
        if let Some(path) = url.strip_prefix("file://") {
            let file = std::fs::File::open(path).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound => FetchError::NotFound { url: url.into() },
                _ => failed(e.to_string()),
            })?;
            let len = file.metadata().ok().map(|m| m.len());
            return Ok((Box::new(file), len));
        }
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(failed(
                "envc fetches only http://, https:// and file:// URLs".into(),
            ));
        }
        let resp = self.client.get_url(url).map_err(|e| match e {
            crate::registry::Error::Offline { .. } => FetchError::Offline { url: url.into() },
            e => failed(e.to_string()),
        })?;
        match resp.status().as_u16() {
            200 => {}
            404 | 410 => return Err(FetchError::NotFound { url: url.into() }),
            s => return Err(failed(format!("HTTP {s}"))),
        }
        let len = crate::registry::client::content_length(&resp);
        if len.is_some_and(|l| l > max) {
            return Err(FetchError::TooLarge {
                url: url.into(),
                max,
            });
        }
        Ok((Box::new(resp.into_body().into_reader()), len))
    }
}

impl Fetch for Web {
    fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
        let mut out = Vec::new();
        self.copy_to(url, &mut out, max)?;
        Ok(out)
    }

    fn copy_to(&self, url: &str, out: &mut dyn Write, max: u64) -> Result<u64, FetchError> {
        let (reader, _) = self.open(url, max)?;
        let mut limited = reader.take(max + 1);
        let n = std::io::copy(&mut limited, out).map_err(|e| FetchError::Failed {
            url: url.to_string(),
            reason: e.to_string(),
        })?;
        if n > max {
            return Err(FetchError::TooLarge {
                url: url.into(),
                max,
            });
        }
        Ok(n)
    }
}
