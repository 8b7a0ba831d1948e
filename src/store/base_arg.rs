//! The `--base` grammar: the text a user writes to name a base image's content, parsed into an
//! [`oci::archive::SourceLocation`](SourceLocation). It follows skopeo's transports:
//! `oci:DIR[:REF]` (an OCI layout), `oci-archive:FILE[:REF]` and `docker-archive:FILE[:REF]`
//! (`docker save`'s tar; REF a RepoTag such as `localhost/app:2` or `app:2`), where the path
//! ends at the first `:` and REF is everything after it (so `oci:./store:app:2` names `app:2`,
//! envc's own ref names); and, without a transport, `DIR[:REF]`, split after whichever prefix is an
//! existing directory (exactly one must be, so the bare form looks at the file system).
//! `docker://REF` names a registry image ([`registry_ref`]), which the build pulls itself; the
//! engine transports are refused with the command that saves an archive of them. Every refusal is a usage error (exit 2); the grammar lives beside the store
//! rather than in `oci/`, which stays free of envc's command-line words.

use crate::oci::archive::SourceLocation;
use std::path::{Path, PathBuf};

const FORMS: &str = "a base is `oci:DIR[:REF]` or `DIR[:REF]` (an OCI layout), \
     `oci-archive:FILE[:REF]`, `docker-archive:FILE[:REF]` (`docker save`'s tar) or \
     `docker://REF` (a registry)";

/// Why a `--base` argument names no image source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BaseArgError {
    /// `oci:`, `oci-archive:` or `docker-archive:` with an empty path or an empty ref after `:`.
    #[error("`--base {arg}`: the {what} or the ref after `:` is empty; {FORMS}")]
    Empty { arg: String, what: &'static str },
    /// An engine transport (`containers-storage:…`, `docker-daemon:…`).
    #[error(
        "`--base {arg}`: envc reads bases from registries (`docker://REF`), OCI layouts, \
         oci-archives and docker-archives, not from an engine's storage; save the image first \
         (`docker save IMAGE -o FILE` or `podman save IMAGE -o FILE`) and pass \
         `--base docker-archive:FILE`"
    )]
    Transport { arg: String },
    /// No prefix of a bare `DIR[:REF]` exists; `path` is the part before the first `:`.
    #[error("cannot read `{path}`: no such OCI layout directory (from `--base {arg}`; {FORMS})")]
    NoSuchLayout { arg: String, path: String },
    /// More than one prefix of a bare `DIR[:REF]` is a directory.
    #[error(
        "`--base {arg}` is ambiguous: {} are all directories; write `oci:DIR:REF`",
        dirs.iter().map(|d| format!("`{d}`")).collect::<Vec<_>>().join(" and ")
    )]
    Ambiguous { arg: String, dirs: Vec<String> },
}

/// The registry reference of `--base docker://REF`.
pub fn registry_ref(arg: &str) -> Option<&str> {
    arg.strip_prefix("docker://")
}

/// Parses a `--base` argument that is not a registry's ([`registry_ref`]).
pub fn parse(arg: &str) -> Result<SourceLocation, BaseArgError> {
    let split = |rest: &str, what: &'static str| -> Result<(PathBuf, Option<String>), _> {
        let (path, reference) = match rest.split_once(':') {
            Some((p, r)) => (p, Some(r.to_string())),
            None => (rest, None),
        };
        if path.is_empty() || reference.as_deref() == Some("") {
            return Err(BaseArgError::Empty {
                arg: arg.to_string(),
                what,
            });
        }
        Ok((PathBuf::from(path), reference))
    };
    // skopeo's other transports name an engine's storage, which envc does not read.
    let transport = arg.split_once(':').map_or("", |(t, _)| t);
    if arg.contains("://")
        || ["docker", "docker-daemon", "containers-storage", "dir"].contains(&transport)
    {
        return Err(BaseArgError::Transport {
            arg: arg.to_string(),
        });
    }
    if let Some(rest) = arg.strip_prefix("docker-archive:") {
        let (path, reference) = split(rest, "archive")?;
        return Ok(SourceLocation::DockerArchive { path, reference });
    }
    if let Some(rest) = arg.strip_prefix("oci-archive:") {
        let (path, reference) = split(rest, "archive")?;
        return Ok(SourceLocation::Archive { path, reference });
    }
    if let Some(rest) = arg.strip_prefix("oci:") {
        let (dir, reference) = split(rest, "directory")?;
        return Ok(SourceLocation::Layout { dir, reference });
    }
    let mut found: Vec<(&str, Option<&str>)> = Vec::new();
    if Path::new(arg).is_dir() {
        found.push((arg, None));
    }
    for (i, _) in arg.match_indices(':') {
        let (dir, reference) = (&arg[..i], &arg[i + 1..]);
        if !dir.is_empty() && !reference.is_empty() && Path::new(dir).is_dir() {
            found.push((dir, Some(reference)));
        }
    }
    match found.as_slice() {
        [(dir, reference)] => Ok(SourceLocation::Layout {
            dir: PathBuf::from(dir),
            reference: reference.map(str::to_string),
        }),
        [] if Path::new(arg).exists() => Ok(SourceLocation::Layout {
            dir: PathBuf::from(arg),
            reference: None,
        }), // not a directory: the import says so (and suggests oci-archive:)
        [] => Err(BaseArgError::NoSuchLayout {
            arg: arg.to_string(),
            path: arg.split(':').next().unwrap_or(arg).to_string(),
        }),
        several => Err(BaseArgError::Ambiguous {
            arg: arg.to_string(),
            dirs: several.iter().map(|(d, _)| d.to_string()).collect(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transports_split_at_the_first_colon() {
        assert_eq!(
            parse("oci:./store:app:2"),
            Ok(SourceLocation::Layout {
                dir: PathBuf::from("./store"),
                reference: Some("app:2".into()),
            })
        );
        assert_eq!(
            parse("oci-archive:base.tar"),
            Ok(SourceLocation::Archive {
                path: PathBuf::from("base.tar"),
                reference: None,
            })
        );
        assert_eq!(
            parse("docker-archive:saved.tar:localhost/app:2"),
            Ok(SourceLocation::DockerArchive {
                path: PathBuf::from("saved.tar"),
                reference: Some("localhost/app:2".into()),
            })
        );
        assert_eq!(
            parse("docker-archive:saved.tar"),
            Ok(SourceLocation::DockerArchive {
                path: PathBuf::from("saved.tar"),
                reference: None,
            })
        );
        assert!(matches!(
            parse("docker-archive:"),
            Err(BaseArgError::Empty {
                what: "archive",
                ..
            })
        ));
        assert!(matches!(
            parse("docker-daemon:busybox:latest"),
            Err(BaseArgError::Transport { .. })
        ));
        assert!(parse("oci:")
            .unwrap_err()
            .to_string()
            .contains("docker-archive:FILE[:REF]"));
        assert!(matches!(
            parse("oci:"),
            Err(BaseArgError::Empty {
                what: "directory",
                ..
            })
        ));
        assert!(matches!(
            parse("docker://busybox"),
            Err(BaseArgError::Transport { .. })
        ));
        assert!(matches!(
            parse("/no/such/dir:tag"),
            Err(BaseArgError::NoSuchLayout { ref path, .. }) if path == "/no/such/dir"
        ));
    }
}
