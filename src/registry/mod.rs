//! A client of the OCI distribution API (v1.1), and registries as one more place the store
//! moves images to and from:
//! - [`source::RegistrySource`] is an [`crate::oci::archive::ImageSource`]: a pull is the
//!   store's ordinary verified import, reading blobs over HTTP (several at once, a dropped
//!   connection resumed where it broke);
//! - [`push`] reads an image through the layout and uploads it with every digest kept;
//! - [`history`] keeps an environment's revisions in one repository, tag `REV` each.
//!
//! The transport, authentication and retries are [`client`]'s; references [`reference`]'s.

pub mod auth;
pub mod client;
pub mod history;
pub mod progress;
pub mod push;
pub mod reference;
pub mod source;

pub use client::{Client, Options};
pub use reference::Reference;

use crate::types::digest::Digest;

/// What talking to a registry can end in. Every variant names the registry or URL, and the
/// store is left as it was.
#[non_exhaustive]
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{url}: {reason}")]
    Transport { url: String, reason: String },
    /// The registry's host name does not resolve: not worth a retry.
    #[error("{url}: the host name does not resolve: check the registry's name (and DNS)")]
    UnknownHost { url: String },
    #[error(
        "{url}: the registry's TLS certificate is not trusted: {reason}. envc trusts what the \
         operating system trusts: add the registry's CA to the system bundle (or point \
         SSL_CERT_FILE at a bundle that has it)"
    )]
    Tls { url: String, reason: String },
    #[error("{url}: the registry answered {status}{detail}")]
    Status {
        url: String,
        status: u16,
        detail: String,
    },
    #[error("{registry}: authentication failed: {detail}; {}", if *.anonymous {
        "log in with `docker login`, or pass --username with --password-stdin"
    } else {
        "check the username and password (--username/--password-stdin, or ~/.docker/config.json)"
    })]
    Unauthorized {
        registry: String,
        detail: String,
        anonymous: bool,
    },
    #[error("{reference}: access denied ({action}){detail}: the credentials are valid but may not {action} this repository")]
    Denied {
        reference: String,
        action: &'static str,
        detail: String,
    },
    #[error("{reference}: {what} not found in the registry{detail}")]
    NotFound {
        reference: String,
        what: String,
        detail: String,
    },
    #[error("{url}: {what} is too large ({}; the limit is {limit} bytes)", match .size {
        Some(s) => format!("{s} bytes"),
        None => "more than the limit".to_string(),
    })]
    TooLarge {
        url: String,
        what: String,
        size: Option<u64>,
        limit: u64,
    },
    #[error("{url}: {reason}")]
    Protocol { url: String, reason: String },
    #[error("{what}: the registry's bytes have digest {found}, not {expected}: refusing them")]
    DigestMismatch {
        what: String,
        expected: Digest,
        found: Digest,
    },
    #[error("cannot read registry credentials: {reason}")]
    Credentials { reason: String },
    #[error("{what} is not in the store, and --offline forbids the network: pull it first (`envc pull`), or drop --offline")]
    Offline { what: String },
    #[error(
        "{repository}:{revision}: revision {revision} is already in the registry as a different image \
         (registry: {registry_digest}, this store: {local_digest}); revisions are immutable. \
         Run `envc pull {name} --from {repository}` first: it numbers this store's revisions \
         after the registry's"
    )]
    Conflict {
        name: String,
        repository: String,
        revision: u32,
        registry_digest: Digest,
        local_digest: Digest,
    },
    #[error(transparent)]
    Oci(#[from] crate::oci::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl Error {
    pub(crate) fn transport(url: &str, reason: impl Into<String>) -> Error {
        Error::Transport {
            url: url.to_string(),
            reason: reason.into(),
        }
    }

    /// A failure a second attempt may not have: a dropped, reset or refused connection, a
    /// timeout.
    pub(crate) fn is_transient(&self) -> bool {
        matches!(self, Error::Transport { .. })
    }

    /// An I/O-like failure (exit 2) rather than an answer of no (exit 1).
    pub fn is_io(&self) -> bool {
        match self {
            Error::Oci(e) => matches!(e, crate::oci::Error::Io { .. }),
            Error::Store(e) => e.is_io(),
            Error::Conflict { .. }
            | Error::DigestMismatch { .. }
            | Error::NotFound { .. }
            | Error::Unauthorized { .. }
            | Error::Denied { .. } => false,
            _ => true,
        }
    }

    pub(crate) fn from_ureq(url: &str, e: ureq::Error) -> Error {
        let reason = match e {
            ureq::Error::TooManyRedirects => {
                return Error::Protocol {
                    url: url.to_string(),
                    reason: "too many redirects (a redirect loop?)".into(),
                }
            }
            ureq::Error::Rustls(rustls::Error::InvalidCertificate(c)) => {
                return Error::Tls {
                    url: url.to_string(),
                    reason: format!("{c:?}"),
                }
            }
            ureq::Error::Rustls(other) => {
                format!("TLS failed: {other} (does the registry speak HTTPS?)")
            }
            ureq::Error::Tls(t) => format!("TLS failed: {t}"),
            ureq::Error::HostNotFound => {
                return Error::UnknownHost {
                    url: url.to_string(),
                }
            }
            ureq::Error::ConnectionFailed => "cannot connect".to_string(),
            ureq::Error::Timeout(t) => format!("timed out ({t})"),
            // The resolver's failure arrives as an I/O error.
            ureq::Error::Io(io) if io.to_string().contains("lookup address") => {
                return Error::UnknownHost {
                    url: url.to_string(),
                }
            }
            ureq::Error::Io(io) => io.to_string(),
            other => other.to_string(),
        };
        Error::Transport {
            url: url.to_string(),
            reason,
        }
    }
}
