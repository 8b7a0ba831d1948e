//! Fetching an artifact or an index by URL: `http`, `https` (through the registry client's
//! agent, so proxies and the system trust store apply) or `file` (a local mirror, and tests).

/// Gets the bytes at a URL.
pub trait Fetch: Sync {
    /// The whole body at `url`, refused beyond `max` bytes.
    fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError>;
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
