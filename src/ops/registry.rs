//! `pull` and `push`: a registry image into the store as a base (verified as every import
//! is), and a stored revision or base out to a registry with every digest kept; plus the base
//! a build takes from a registry when the store does not have it.

use super::Error;
use crate::oci::archive::{choose_image_for, ImageSource};
use crate::oci::manifest::{children, is_index_type, is_manifest_type};
use crate::oci::{Descriptor, Platform, ANNOTATION_BASE_DIGEST, ANNOTATION_BASE_NAME};
use crate::registry::push::{push_image, PushReport};
use crate::registry::source::RegistrySource;
use crate::registry::{Client, Reference};
use crate::store::annotations::BASE_SOURCE;
use crate::store::base::ImportedBase;
use crate::store::{Revision, Store};
use crate::types::digest::Digest;
use crate::types::name::{EnvName, Identifier};
use std::path::Path;

/// A reference as the user wrote it, parsed.
pub fn reference(text: &str) -> Result<Reference, Error> {
    Reference::parse(text).map_err(|source| Error::Reference {
        text: text.to_string(),
        source,
    })
}

/// `linux/amd64`, `linux/arm64/v8`: what `--platform` takes.
pub fn parse_platform(text: &str) -> Result<Platform, Error> {
    let parts: Vec<&str> = text.split('/').collect();
    let bad = || {
        Error::Usage(format!(
            "`{text}` is not a platform: write OS/ARCH or OS/ARCH/VARIANT, as `linux/arm64`"
        ))
    };
    let ok = |s: &&str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !(2..=3).contains(&parts.len()) || !parts.iter().all(ok) {
        return Err(bad());
    }
    Ok(Platform {
        os: parts[0].to_string(),
        architecture: parts[1].to_string(),
        variant: parts.get(2).map(|v| v.to_string()),
    })
}

/// How to pull.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// The platform an image index resolves to (`None`: linux/amd64).
    pub platform: Option<Platform>,
    /// Keep the whole index: every platform's image, and the index itself.
    pub all_platforms: bool,
}

/// What a pull stored.
#[derive(Debug, Clone)]
pub struct Pulled {
    /// The digest of what was stored: the index with `all_platforms`, else the manifest.
    pub digest: Digest,
    /// The base entry builds use (the chosen platform's image).
    pub base: Descriptor,
    /// Every blob was in the store already.
    pub reused: bool,
    /// Platforms stored (1 without `all_platforms`).
    pub platforms: usize,
}

/// `envc pull REF`: the image `text` names into the store at `store_dir` (created when
/// missing; removed again when this pull created it and fails), named as a base `text`.
pub fn pull(
    store_dir: &Path,
    client: &Client,
    text: &str,
    options: &PullOptions,
) -> Result<Pulled, Error> {
    let r = reference(text)?;
    let base_name = text.strip_prefix("docker://").unwrap_or(text);
    super::with_store(store_dir, |store| {
        pull_into(store, client, &r, base_name, options)
    })
}

fn pull_into(
    store: &Store,
    client: &Client,
    r: &Reference,
    base_name: &str,
    options: &PullOptions,
) -> Result<Pulled, Error> {
    let src = RegistrySource::open(client, r)?;
    let top = src.top().clone();
    let chosen = choose_image_for(&src, None, options.platform.as_ref())?;
    let origin = r.repository_name();
    let base = store.import_base_from(&src, &chosen, base_name, Some(&origin))?;
    if !(options.all_platforms && is_index_type(&top.media_type)) {
        client.progress.finish();
        return Ok(Pulled {
            digest: chosen.digest,
            reused: base.reused,
            base: base.manifest,
            platforms: 1,
        });
    }
    let (bytes, _) = read_all(&src, &top)?;
    let what = format!("image index {}", top.digest);
    let mut reused = base.reused;
    let mut platforms = 1;
    for child in children(&bytes, &what)? {
        if child.digest == chosen.digest || !is_manifest_type(&child.media_type) {
            continue;
        }
        if store.stored_image(&child)?.is_none() {
            store.import_image(&src, &child)?;
            reused = false;
        }
        platforms += 1;
    }
    store.record_index(&bytes, &top.media_type, base_name)?;
    client.progress.finish();
    Ok(Pulled {
        digest: top.digest,
        base: base.manifest,
        reused,
        platforms,
    })
}

fn read_all(src: &dyn ImageSource, d: &Descriptor) -> Result<(Vec<u8>, u64), Error> {
    Ok((src.read_json(d, "image index")?, d.size))
}

/// What `push` sends.
#[derive(Debug, Clone)]
pub enum Pushable {
    Revision(Revision),
    /// A stored base (or a multi-platform index) by its entry.
    Base(Descriptor),
}

/// What `envc push WHAT DEST` names in the store: `NAME:REV` (a revision), else a base by the
/// name it was pulled or imported under, or by its manifest digest.
pub fn find_pushable(store: &Store, what: &str) -> Result<Pushable, Error> {
    if let Ok(id) = Identifier::parse(what) {
        if id.revision.is_some() {
            return Ok(Pushable::Revision(store.resolve(&id)?));
        }
    }
    let wanted_digest = what.parse::<Digest>().ok();
    let bases = store.bases()?;
    // A multi-platform index and its chosen image share a name: the index is what was pulled.
    let named: Vec<&crate::store::base::BaseEntry> = bases
        .iter()
        .filter(|b| b.name == what || Some(b.manifest.digest) == wanted_digest)
        .collect();
    if let Some(b) = named
        .iter()
        .find(|b| is_index_type(&b.manifest.media_type))
        .or(named.first())
    {
        return Ok(Pushable::Base(b.manifest.clone()));
    }
    if let Ok(name) = EnvName::parse(what) {
        if !store.revisions(Some(&name))?.is_empty() {
            return Err(Error::Usage(format!(
                "`{what}` is an environment: push one revision as `{what}:REV`, or its whole \
                 history with `envc push {what} REPOSITORY`"
            )));
        }
    }
    Err(Error::Usage(format!(
        "nothing in the store is named `{what}`: give NAME:REV (see `envc list`), or a base's \
         name (as pulled or imported) or manifest digest"
    )))
}

/// What a push did.
#[derive(Debug, Clone)]
pub struct Pushed {
    pub digest: Digest,
    pub report: PushReport,
}

/// `envc push WHAT DEST`: the image (or index) as stored, to `dest` (tag `latest` when it
/// names none).
pub fn push(store: &Store, client: &Client, what: &Pushable, dest: &str) -> Result<Pushed, Error> {
    let mut dest = reference(dest)?;
    if dest.tag.is_none() && dest.digest.is_none() {
        dest.tag = Some("latest".into());
    }
    let entry = match what {
        Pushable::Revision(r) => &r.manifest,
        Pushable::Base(d) => d,
    };
    if let Some(d) = dest.digest {
        if d != entry.digest {
            return Err(Error::Usage(format!(
                "`{dest}` pins digest {d}, but the image pushed is {}",
                entry.digest
            )));
        }
    }
    let mount_from = mount_candidates(store, entry);
    let report = push_image(client, store, entry, &dest, &mount_from)?;
    Ok(Pushed {
        digest: entry.digest,
        report,
    })
}

/// Repositories that may already hold an image's blobs: the one its base was pulled from
/// (`dev.envc.base.source` on the base's entry), and the one its base's name names.
pub(crate) fn mount_candidates(store: &Store, entry: &Descriptor) -> Vec<Reference> {
    let mut out: Vec<Reference> = Vec::new();
    let mut add = |name: &str| {
        if let Ok(r) = Reference::parse(name) {
            if !out
                .iter()
                .any(|o| o.registry == r.registry && o.repository == r.repository)
            {
                out.push(r);
            }
        }
    };
    // The image itself may be a base (`envc push BASE DEST`).
    let base_digest = entry
        .annotations
        .get(ANNOTATION_BASE_DIGEST)
        .and_then(|d| d.parse::<Digest>().ok())
        .unwrap_or(entry.digest);
    if let Ok(bases) = store.bases() {
        for b in bases.iter().filter(|b| b.manifest.digest == base_digest) {
            if let Some(source) = b.manifest.annotations.get(BASE_SOURCE) {
                add(source);
            }
        }
    }
    for name in [
        entry.annotations.get(ANNOTATION_BASE_NAME),
        entry.annotations.get(crate::store::annotations::BASE_NAME),
    ]
    .into_iter()
    .flatten()
    {
        add(name);
    }
    out
}

/// The base a build takes from a registry: `name` (the `FROM` image, the mirror applied) is
/// pulled into the store, recorded under `base_name` (the spec's); refused under `--offline`.
pub(crate) fn pull_base(
    store: &Store,
    client: &Client,
    from: &str,
    base_name: &str,
) -> Result<ImportedBase, Error> {
    let r = reference(from)?;
    client
        .refuse_offline(&format!("the base image `{base_name}`"))
        .map_err(Error::from)?;
    let pulled = (|| -> Result<ImportedBase, Error> {
        let src = RegistrySource::open(client, &r)?;
        let chosen = choose_image_for(&src, None, None)?;
        Ok(store.import_base_from(&src, &chosen, base_name, Some(&r.repository_name()))?)
    })();
    client.progress.finish();
    // The registry's failure, said as the build's: which base, from where.
    pulled.map_err(|e| match e {
        Error::Registry(source) => Error::BasePull {
            name: base_name.to_string(),
            from: from.to_string(),
            source,
        },
        e => e,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse() {
        let p = parse_platform("linux/arm64/v8").unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant.as_deref()),
            ("linux", "arm64", Some("v8"))
        );
        assert!(parse_platform("linux").is_err());
        assert!(parse_platform("linux//x").is_err());
        assert!(parse_platform("a/b/c/d").is_err());
    }
}
