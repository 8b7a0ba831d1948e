//! Where an image lives in a registry: `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]` as
//! [`ImageRef`] parses it, with Docker's defaults applied (no registry means Docker Hub, whose
//! one-component repositories live under `library/`), and the names the registry API and the
//! credential stores use for it.

use crate::types::digest::Digest;
use crate::types::image_ref::{ImageRef, RefError};
use std::fmt;

/// Docker Hub as references and `~/.docker/config.json` name it.
pub const DOCKER_HUB: &str = "docker.io";
/// Docker Hub's API host.
const DOCKER_HUB_API: &str = "registry-1.docker.io";
/// Docker Hub's key in `~/.docker/config.json` and for credential helpers.
const DOCKER_HUB_CREDENTIALS: &str = "https://index.docker.io/v1/";

/// A repository in a registry, and optionally one image in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Reference {
    /// `host[:port]`; `docker.io` for Docker Hub.
    pub registry: String,
    /// The repository path, `library/` added for Docker Hub's official images.
    pub repository: String,
    pub tag: Option<String>,
    pub digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference as Docker does; a leading `docker://` (skopeo's transport) is allowed.
    pub fn parse(text: &str) -> Result<Reference, RefError> {
        let text = text.strip_prefix("docker://").unwrap_or(text);
        let r = ImageRef::parse(text)?;
        let registry = match r.registry.as_deref() {
            None | Some("index.docker.io") | Some(DOCKER_HUB_API) => DOCKER_HUB.to_string(),
            Some(host) => host.to_string(),
        };
        let repository = if registry == DOCKER_HUB && !r.repository.contains('/') {
            format!("library/{}", r.repository)
        } else {
            r.repository
        };
        Ok(Reference {
            registry,
            repository,
            tag: r.tag,
            digest: r
                .digest
                .map(|d| d.parse().expect("ImageRef checked the digest")),
        })
    }

    /// The host the API is served from.
    pub fn api_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_API
        } else {
            &self.registry
        }
    }

    /// The key credentials are stored under (`auths` and helpers).
    pub fn credential_key(&self) -> &str {
        if self.registry == DOCKER_HUB {
            DOCKER_HUB_CREDENTIALS
        } else {
            &self.registry
        }
    }

    /// What follows `/manifests/`: the digest when pinned, else the tag, else `latest`.
    pub fn manifest_ref(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".to_string(),
        }
    }

    /// The same repository, another tag (and no digest).
    pub fn with_tag(&self, tag: &str) -> Reference {
        Reference {
            tag: Some(tag.to_string()),
            digest: None,
            ..self.clone()
        }
    }

    /// The repository alone: `registry/repository`.
    pub fn repository_name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// Loopback registries (`localhost`, `127.0.0.0/8`, `[::1]`), which Docker also lets speak
    /// plain HTTP without being told.
    pub fn is_loopback(&self) -> bool {
        let host = match self.registry.rsplit_once(':') {
            Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
            _ => &self.registry,
        };
        host == "localhost" || host == "[::1]" || host.starts_with("127.")
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_defaults_apply() {
        let r = Reference::parse("ubuntu").unwrap();
        assert_eq!(r.to_string(), "docker.io/library/ubuntu");
        assert_eq!(r.api_host(), "registry-1.docker.io");
        assert_eq!(r.credential_key(), "https://index.docker.io/v1/");
        assert_eq!(r.manifest_ref(), "latest");
        let r = Reference::parse("anyscale/ray:2.9.0-py311").unwrap();
        assert_eq!(r.repository, "anyscale/ray");
        assert_eq!(r.manifest_ref(), "2.9.0-py311");
    }

    #[test]
    fn a_registry_with_a_port_and_a_digest() {
        let hex = "a".repeat(64);
        let r =
            Reference::parse(&format!("docker://127.0.0.1:5000/team/env:3@sha256:{hex}")).unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "team/env");
        assert_eq!(r.manifest_ref(), format!("sha256:{hex}"));
        assert!(r.is_loopback());
        assert_eq!(r.credential_key(), "127.0.0.1:5000");
        assert_eq!(
            r.with_tag("latest").to_string(),
            "127.0.0.1:5000/team/env:latest"
        );
        assert!(!Reference::parse("ghcr.io/a/b").unwrap().is_loopback());
    }

    #[test]
    fn bad_references_are_refused() {
        assert!(Reference::parse("Team/Env").is_err());
        assert!(Reference::parse("a b").is_err());
        assert!(Reference::parse("").is_err());
    }
}
