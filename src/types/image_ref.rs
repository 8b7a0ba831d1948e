//! Base image references: this module owns parsing an OCI/Docker image reference
//! (`[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`, following distribution/reference) and
//! classifying references to Anyscale's `anyscale/ray`, `anyscale/ray-ml` and
//! `anyscale/ray-llm` images against the tag grammar in `cluster-env.md` ("Base image
//! tags"): well-formed tags are `Supported` (in Anyscale's current list, embedded from
//! `data/anyscale-supported-base-images.txt`), `Unlisted` or `Mutable` (`latest`); malformed
//! tags, `unknown`, 2.7.x tags without `optimized`/`oss`, and references that name no
//! repository are errors. Policy beyond that (other repositories, warnings) is the caller's.

use regex_lite::Regex;
use std::fmt;
use std::sync::OnceLock;

/// A parsed OCI/Docker image reference: `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ImageRef {
    /// Registry host (with optional port), e.g. `docker.io`, `localhost`,
    /// `mirror.example.com:5000`; `None` when absent.
    pub registry: Option<String>,
    /// Repository path exactly as written, minus the registry: `ubuntu`, `anyscale/ray`.
    pub repository: String,
    pub tag: Option<String>,
    /// Full `sha256:<64 lower-case hex>`.
    pub digest: Option<String>,
}

/// Why a string is not an image reference.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RefError {
    #[error("image reference is empty")]
    Empty,
    #[error("image reference `{}` contains whitespace or a control character (`{}`) at byte {index}", .reference.escape_debug(), .found.escape_debug())]
    Whitespace {
        reference: String,
        found: char,
        index: usize,
    },
    #[error("repository `{repository}` must be lower case: write `{lowered}`")]
    Uppercase { repository: String, lowered: String },
    #[error("`{reference}` has an empty repository path component")]
    EmptyComponent { reference: String },
    #[error("repository path component `{component}` is not valid: components are lower-case letters and digits, separated by `.`, `_`, `__` or `-`")]
    BadComponent { component: String },
    #[error("registry `{registry}` is not a valid host name (with optional `:port`)")]
    BadRegistry { registry: String },
    #[error("`{reference}` has an empty tag after `:`")]
    EmptyTag { reference: String },
    #[error("tag `{tag}` is not valid: a tag is a letter, digit or `_` followed by at most 127 letters, digits, `_`, `.` or `-`")]
    BadTag { tag: String },
    #[error("digest algorithm `{algorithm}` is not supported: pin with `sha256:` followed by 64 lower-case hex digits")]
    DigestAlgorithm { algorithm: String },
    #[error(
        "digest `{digest}` is not valid: expected `sha256:` followed by 64 lower-case hex digits"
    )]
    BadDigest { digest: String },
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex compiles"))
}

fn component_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")
}

fn tag_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(&R, r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
}

fn registry_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?:(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?$",
    )
}

impl ImageRef {
    /// Parse `[REGISTRY/]REPOSITORY[:TAG][@sha256:HEX]`. The first path component is a
    /// registry iff it contains `.` or `:` or is `localhost` (and more components follow).
    pub fn parse(s: &str) -> Result<ImageRef, RefError> {
        if s.is_empty() {
            return Err(RefError::Empty);
        }
        let reference = s.to_string();
        let invisible = |c: char| c.is_whitespace() || c.is_control();
        if let Some((index, found)) = s.char_indices().find(|&(_, c)| invisible(c)) {
            return Err(RefError::Whitespace {
                reference,
                found,
                index,
            });
        }
        let (name_tag, digest) = match s.split_once('@') {
            Some((n, d)) => (n, Some(parse_digest(d)?)),
            None => (s, None),
        };
        let last_slash = name_tag.rfind('/');
        let (name, tag) = match name_tag.rfind(':') {
            Some(i) if last_slash.is_none_or(|j| i > j) => {
                (&name_tag[..i], Some(&name_tag[i + 1..]))
            }
            _ => (name_tag, None),
        };
        if let Some(t) = tag {
            if t.is_empty() {
                return Err(RefError::EmptyTag { reference });
            }
            if !tag_re().is_match(t) {
                return Err(RefError::BadTag { tag: t.to_string() });
            }
        }
        let (registry, repository) = match name.split_once('/') {
            Some((first, rest))
                if first.contains('.') || first.contains(':') || first == "localhost" =>
            {
                let registry = first.to_string();
                if !registry_re().is_match(first) {
                    return Err(RefError::BadRegistry { registry });
                }
                (Some(registry), rest)
            }
            _ => (None, name),
        };
        if repository.chars().any(|c| c.is_ascii_uppercase()) {
            let lowered = repository.to_ascii_lowercase();
            if lowered.split('/').all(|c| component_re().is_match(c)) {
                return Err(RefError::Uppercase {
                    repository: repository.to_string(),
                    lowered,
                });
            }
        }
        for component in repository.split('/') {
            if component.is_empty() {
                return Err(RefError::EmptyComponent { reference });
            }
            if !component_re().is_match(component) {
                let component = component.to_string();
                return Err(RefError::BadComponent { component });
            }
        }
        Ok(ImageRef {
            registry,
            repository: repository.to_string(),
            tag: tag.map(str::to_string),
            digest,
        })
    }
}

fn parse_digest(d: &str) -> Result<String, RefError> {
    let bad = || RefError::BadDigest {
        digest: d.to_string(),
    };
    let (algorithm, hex) = d.split_once(':').ok_or_else(bad)?;
    if algorithm != "sha256" {
        if algorithm.is_empty() {
            return Err(bad());
        }
        return Err(RefError::DigestAlgorithm {
            algorithm: algorithm.to_string(),
        });
    }
    if hex.len() != 64 || !hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
        return Err(bad());
    }
    Ok(d.to_string())
}

impl fmt::Display for ImageRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.registry {
            write!(f, "{r}/")?;
        }
        f.write_str(&self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// Which Anyscale image family: `anyscale/ray`, `anyscale/ray-ml`, `anyscale/ray-llm`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Family {
    Ray,
    RayMl,
    RayLlm,
}

impl Family {
    /// The repository path, e.g. `anyscale/ray-ml`.
    pub fn repository(self) -> &'static str {
        match self {
            Family::Ray => "anyscale/ray",
            Family::RayMl => "anyscale/ray-ml",
            Family::RayLlm => "anyscale/ray-llm",
        }
    }

    /// The family of an anyscale repository path, if it is one.
    pub fn from_repository(repo: &str) -> Option<Family> {
        match repo {
            "anyscale/ray" => Some(Family::Ray),
            "anyscale/ray-ml" => Some(Family::RayMl),
            "anyscale/ray-llm" => Some(Family::RayLlm),
            _ => None,
        }
    }
}

/// The Ray version a tag names. `Release` is `2.9.0`; `Rc` is `2.9.0rc1`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RayVersion {
    Release { version: String },
    Rc { version: String },
    Nightly,
    PinnedNightly,
    Latest,
}

/// The fields parsed out of an Anyscale tag.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct AnyscaleTag {
    pub family: Family,
    pub ray: RayVersion,
    /// `3.8`, `3.10` from `py38`, `py310`; `None` if absent.
    pub python: Option<String>,
    /// `cpu`, `gpu`, `cu118`…; `None` if absent.
    pub accelerator: Option<String>,
    /// `optimized` or `oss` when present.
    pub flavor: Option<String>,
    pub slim: bool,
    pub aarch64: bool,
}

/// How a well-formed Anyscale tag stands against Anyscale's current list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagStatus {
    /// In `anyscale-supported-base-images.txt` (repository and tag; registry and digest ignored).
    Supported,
    /// Well-formed but not in the current list; the caller warns.
    Unlisted,
    /// `latest`, or no tag at all; the caller warns that it moves.
    Mutable,
}

/// Why a reference is not an acceptable Anyscale base image.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum TagError {
    #[error("`{repository}` is not an anyscale repository: expected `anyscale/ray`, `anyscale/ray-ml` or `anyscale/ray-llm`")]
    NotAnyscale { repository: String },
    #[error("`{reference}` names no repository: did you mean `{suggestion}`?")]
    NoRepository {
        reference: String,
        suggestion: String,
    },
    #[error("`unknown` is a placeholder, not a base image: name a ray version, e.g. `anyscale/ray:2.9.0-py310`")]
    Unknown,
    #[error("tag `{tag}` does not match anyscale's grammar `VERSION[optimized|oss][-slim][-pyXY][-(cpu|gpu|cuNNN)][-aarch64]` (VERSION is `X.Y.Z`, `X.Y.ZrcN`, `nightly` or `pinned-nightly`), nor `latest`")]
    Malformed { tag: String },
    #[error("ray 2.7.x tags need `optimized` or `oss`: Anyscale's SDK refuses `{tag}`; write `{suggestion}`")]
    Unflavored27 { tag: String, suggestion: String },
}

fn anyscale_tag_re() -> &'static Regex {
    static R: OnceLock<Regex> = OnceLock::new();
    re(
        &R,
        r"^(?:(?P<ver>[0-9]+\.[0-9]+\.[0-9]+)(?P<rc>rc[0-9]+)?(?P<flavor>optimized|oss)?|(?P<pinned>pinned-nightly)|(?P<nightly>nightly))(?P<slim>-slim)?(?:-py(?P<py>3[0-9]{1,2}))?(?:-(?P<acc>cpu|gpu|cu[0-9]{3}))?(?P<arm>-aarch64)?$",
    )
}

/// Anyscale's current list, kept sorted (byte order) in `data/` so that a lookup is a binary
/// search over the embedded text itself: nothing is built at start-up (a test checks the order).
const SUPPORTED: &str = include_str!("../../data/anyscale-supported-base-images.txt");

fn is_supported(key: &str) -> bool {
    sorted_lines_contain(SUPPORTED, key)
}

/// Binary search for a whole line in `text`, whose lines are sorted by bytes.
fn sorted_lines_contain(text: &str, key: &str) -> bool {
    let bytes = text.as_bytes();
    let (mut lo, mut hi) = (0usize, bytes.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        // The line containing `mid`.
        let start = bytes[..mid]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |i| i + 1)
            .max(lo);
        let end = bytes[mid..]
            .iter()
            .position(|&b| b == b'\n')
            .map_or(bytes.len(), |i| mid + i);
        let line = text[start..end].trim_end_matches('\r');
        match line.cmp(key) {
            std::cmp::Ordering::Equal => return true,
            std::cmp::Ordering::Less => lo = end + 1,
            std::cmp::Ordering::Greater => hi = start,
        }
    }
    false
}

/// True if `repo` (e.g. `anyscale/ray`) is one of the three anyscale repositories.
pub fn is_anyscale_repository(repo: &str) -> bool {
    Family::from_repository(repo).is_some()
}

/// Parse an Anyscale tag (the part after `:`) without the list lookup or the 2.7.x rule.
fn parse_tag(family: Family, tag: &str) -> Option<AnyscaleTag> {
    let c = anyscale_tag_re().captures(tag)?;
    let ray = if c.name("nightly").is_some() {
        RayVersion::Nightly
    } else if c.name("pinned").is_some() {
        RayVersion::PinnedNightly
    } else {
        let rc = c.name("rc").map_or("", |m| m.as_str());
        let version = format!("{}{rc}", &c["ver"]);
        match rc {
            "" => RayVersion::Release { version },
            _ => RayVersion::Rc { version },
        }
    };
    Some(AnyscaleTag {
        family,
        ray,
        python: c.name("py").map(|p| format!("3.{}", &p.as_str()[1..])),
        accelerator: c.name("acc").map(|m| m.as_str().to_string()),
        flavor: c.name("flavor").map(|m| m.as_str().to_string()),
        slim: c.name("slim").is_some(),
        aarch64: c.name("arm").is_some(),
    })
}

/// Suggest `anyscale/ray:<tag>` for `anyscale/<tag>` or `anyscale:<tag>`.
fn no_repository(r: &ImageRef) -> Option<TagError> {
    let (head, version_like) = match (r.repository.rsplit_once('/'), &r.tag) {
        (Some((head, last)), None) => (head, last),
        (None, Some(tag)) => (r.repository.as_str(), tag.as_str()),
        _ => return None,
    };
    if head != "anyscale" || !anyscale_tag_re().is_match(version_like) {
        return None;
    }
    let fixed = ImageRef {
        registry: r.registry.clone(),
        repository: Family::Ray.repository().to_string(),
        tag: Some(version_like.to_string()),
        digest: r.digest.clone(),
    };
    Some(TagError::NoRepository {
        reference: r.to_string(),
        suggestion: fixed.to_string(),
    })
}

/// Classify an image reference against Anyscale's grammar (repository must be
/// `anyscale/ray|ray-ml|ray-llm`, under any registry prefix).
pub fn classify_anyscale(r: &ImageRef) -> Result<(AnyscaleTag, TagStatus), TagError> {
    let Some(family) = Family::from_repository(&r.repository) else {
        if r.repository == "unknown" && r.registry.is_none() && r.tag.is_none() {
            return Err(TagError::Unknown);
        }
        return Err(no_repository(r).unwrap_or_else(|| TagError::NotAnyscale {
            repository: r.repository.clone(),
        }));
    };
    let tag = match r.tag.as_deref() {
        None | Some("latest") => {
            let latest = AnyscaleTag {
                family,
                ray: RayVersion::Latest,
                python: None,
                accelerator: None,
                flavor: None,
                slim: false,
                aarch64: false,
            };
            return Ok((latest, TagStatus::Mutable));
        }
        Some("unknown") => return Err(TagError::Unknown),
        Some(t) => t,
    };
    let parsed = parse_tag(family, tag).ok_or_else(|| TagError::Malformed {
        tag: tag.to_string(),
    })?;
    if let RayVersion::Release { version } = &parsed.ray {
        if version.starts_with("2.7.") && parsed.flavor.is_none() {
            let suggestion = format!("{version}optimized{}", &tag[version.len()..]);
            return Err(TagError::Unflavored27 {
                tag: tag.to_string(),
                suggestion,
            });
        }
    }
    let key = format!("{}:{tag}", r.repository);
    let status = if is_supported(&key) {
        TagStatus::Supported
    } else {
        TagStatus::Unlisted
    };
    Ok((parsed, status))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUPPORTED: &str = include_str!("../../data/anyscale-supported-base-images.txt");
    const ALL: &str = include_str!("../../data/anyscale-all-base-images.txt");
    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    fn classify(s: &str) -> Result<(AnyscaleTag, TagStatus), TagError> {
        classify_anyscale(&ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}")))
    }

    #[test]
    fn every_supported_tag_is_supported() {
        let mut n = 0;
        for line in SUPPORTED.lines().filter(|l| !l.is_empty()) {
            let r = ImageRef::parse(line).unwrap();
            assert_eq!(r.to_string(), line);
            let (_, status) = classify_anyscale(&r).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(status, TagStatus::Supported, "{line}");
            n += 1;
        }
        let lines: Vec<&str> = SUPPORTED.lines().collect();
        assert_eq!((n, lines.len()), (2142, 2142));
        assert!(
            lines.windows(2).all(|w| w[0] < w[1]),
            "data file must stay sorted"
        );
        assert!(!is_supported("anyscale/ray:0.0.0"));
        assert!(!is_supported(""));
        assert!(is_supported(lines[0]) && is_supported(lines[lines.len() - 1]));
    }

    #[test]
    fn every_ever_accepted_tag_is_ok_except_unknown() {
        let mut n = 0;
        for line in ALL.lines().filter(|l| !l.is_empty()) {
            n += 1;
            let r = ImageRef::parse(line).unwrap_or_else(|e| panic!("{line}: {e}"));
            assert_eq!(r.to_string(), line);
            match classify_anyscale(&r) {
                Err(TagError::Unknown) => assert_eq!(line, "unknown"),
                Err(e) => panic!("{line}: {e}"),
                Ok((t, status)) => {
                    let mutable = t.ray == RayVersion::Latest;
                    assert_eq!(status == TagStatus::Mutable, mutable, "{line}");
                }
            }
        }
        assert_eq!(n, 2721);
    }

    /// `family ray python accelerator flavor slim aarch64 status`, `-` for absent.
    fn summary(s: &str) -> String {
        let (t, status) = classify(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        let ray = match t.ray {
            RayVersion::Release { version } | RayVersion::Rc { version } => version,
            other => format!("{other:?}"),
        };
        let opt = |o: Option<String>| o.unwrap_or_else(|| "-".into());
        let (py, acc, flavor) = (opt(t.python), opt(t.accelerator), opt(t.flavor));
        let (fam, slim, arm) = (t.family, t.slim as u8, t.aarch64 as u8);
        format!("{fam:?} {ray} {py} {acc} {flavor} {slim} {arm} {status:?}")
    }

    #[test]
    fn reference_examples_and_fields() {
        // 1.9.0-py38-gpu and 2.12.0-slim-py311 are only in the ever-accepted list.
        for row in [
            "anyscale/ray-ml:1.9.0-py38-gpu => RayMl 1.9.0 3.8 gpu - 0 0 Unlisted",
            "anyscale/ray:2.9.0-py310-cu118 => Ray 2.9.0 3.10 cu118 - 0 0 Supported",
            "anyscale/ray:2.12.0-slim-py311 => Ray 2.12.0 3.11 - - 1 0 Unlisted",
            "anyscale/ray-ml:2.7.0optimized-py310-gpu => RayMl 2.7.0 3.10 gpu optimized 0 0 Supported",
            "anyscale/ray-llm:2.48.0-py311-cu128 => RayLlm 2.48.0 3.11 cu128 - 0 0 Supported",
            "anyscale/ray:2.9.0rc1oss-slim-py313-cu130-aarch64 => Ray 2.9.0rc1 3.13 cu130 oss 1 1 Unlisted",
            "anyscale/ray-ml:pinned-nightly-py37-gpu => RayMl PinnedNightly 3.7 gpu - 0 0 Unlisted",
            "anyscale/ray:nightly => Ray Nightly - - - 0 0 Unlisted",
            "anyscale/ray:2.7.0rc0-py310 => Ray 2.7.0rc0 3.10 - - 0 0 Unlisted",
            "anyscale/ray:2.7.1oss-py39 => Ray 2.7.1 3.9 - oss 0 0 Unlisted",
            "anyscale/ray:latest => Ray Latest - - - 0 0 Mutable",
            "anyscale/ray-ml => RayMl Latest - - - 0 0 Mutable",
            "docker.io/anyscale/ray => Ray Latest - - - 0 0 Mutable",
        ] {
            let (s, want) = row.split_once(" => ").unwrap();
            assert_eq!(summary(s), want, "{s}");
        }
    }

    #[test]
    fn corpus_base_images() {
        let corpus = "anyscale/ray-ml:1.3.0-gpu anyscale/ray-ml:nightly-py37-gpu \
            anyscale/ray-ml:pinned-nightly-py37 anyscale/ray-ml:pinned-nightly-py37-gpu \
            anyscale/ray-ml:pinned-nightly-py38-gpu anyscale/ray:1.3.0 anyscale/ray:1.5.0-py37 \
            anyscale/ray:1.5.0-py37-gpu anyscale/ray:1.7.0-py37 anyscale/ray:nightly-cpu \
            anyscale/ray:nightly-py37 anyscale/ray:nightly-py37-cu102 anyscale/ray:nightly-py37-gpu \
            anyscale/ray:nightly-py38 anyscale/ray-ml:2.0.1-py37-cpu anyscale/ray-ml:2.3.1-py37-cpu \
            anyscale/ray-ml:2.4.0-py310-gpu anyscale/ray-ml:2.5.1-py310-gpu \
            anyscale/ray-ml:nightly-py310-gpu anyscale/ray:2.3.1-py39 anyscale/ray:2.33.0-py310-cu123 \
            anyscale/ray:2.6.0-py310-cu118 anyscale/ray:2.7.0optimized-py310-cu118 \
            anyscale/ray:nightly-py310-cu118 registry.hub.docker.com/anyscale/ray-llm:latest";
        for s in corpus.split_whitespace() {
            assert!(classify(s).is_ok(), "{s}");
        }
    }

    #[test]
    fn names_no_repository() {
        let err = classify("anyscale/1.3.0-gpu").unwrap_err();
        let suggestion = "anyscale/ray:1.3.0-gpu".to_string();
        let reference = "anyscale/1.3.0-gpu".to_string();
        assert_eq!(
            err,
            TagError::NoRepository {
                reference,
                suggestion
            }
        );
        assert_eq!(
            err.to_string(),
            "`anyscale/1.3.0-gpu` names no repository: did you mean `anyscale/ray:1.3.0-gpu`?"
        );
        let err = classify("docker.io/anyscale:2.9.0-py310").unwrap_err();
        assert!(matches!(err, TagError::NoRepository { ref suggestion, .. }
            if suggestion == "docker.io/anyscale/ray:2.9.0-py310"));
        for s in [
            "anyscale/aviary:latest-tgi",
            "ubuntu",
            "anyscale/ray/x:2.9.0",
        ] {
            assert!(
                matches!(classify(s), Err(TagError::NotAnyscale { .. })),
                "{s}"
            );
        }
    }

    /// `registry|repository|tag|digest`, `-` for absent.
    fn fields(s: &str) -> String {
        let r = ImageRef::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.to_string(), s);
        let parts = [r.registry, Some(r.repository), r.tag, r.digest];
        let parts = parts.map(|p| p.unwrap_or_else(|| "-".into()));
        parts.join("|").replace(HEX, "HEX")
    }

    #[test]
    fn registry_prefixes_and_digests() {
        let pinned = format!("anyscale/ray:2.9.0-py310-cu118@sha256:{HEX}");
        let prefixes = [
            "",
            "docker.io/",
            "mirror.example.com:5000/",
            "localhost/",
            "[::1]:5000/",
        ];
        for prefix in prefixes {
            for base in ["anyscale/ray:2.9.0-py310-cu118", pinned.as_str()] {
                let s = format!("{prefix}{base}");
                let r = ImageRef::parse(&s).unwrap();
                assert_eq!(r.to_string(), s);
                assert_eq!(r.registry.as_deref(), prefix.strip_suffix('/'));
                assert_eq!(r.repository, "anyscale/ray");
                assert_eq!(r.tag.as_deref(), Some("2.9.0-py310-cu118"));
                let status = classify_anyscale(&r).unwrap().1;
                assert_eq!(status, TagStatus::Supported, "{s}");
            }
        }
        for row in [
            "ubuntu => -|ubuntu|-|-",
            "library/ubuntu:22.04 => -|library/ubuntu|22.04|-",
            "localhost:5000/foo => localhost:5000|foo|-|-",
            "a.b/c__d/e-f:V_1.x@sha256:HEX => a.b|c__d/e-f|V_1.x|sha256:HEX",
            "ubuntu@sha256:HEX => -|ubuntu|-|sha256:HEX",
        ] {
            let (s, want) = row.split_once(" => ").unwrap();
            assert_eq!(fields(&s.replace("HEX", HEX)), want, "{s}");
        }
    }

    #[test]
    fn bad_references() {
        let long_tag = format!("anyscale/ray:{}", "x".repeat(129));
        let short = format!("anyscale/ray@sha256:{}", &HEX[1..]);
        let upper = format!("anyscale/ray@sha256:{}", HEX.to_uppercase());
        let sha512 = format!("anyscale/ray@sha512:{HEX}");
        let cases = [
            ("", "Empty"),
            (
                "Anyscale/Ray:2",
                r#"Uppercase { repository: "Anyscale/Ray", lowered: "#,
            ),
            ("anyscale/ray:", "EmptyTag"),
            ("anyscale/ray: 2.9.0", "Whitespace"),
            ("anyscale/ray:2.9.0\n", "Whitespace"),
            ("anyscale/ray\t", "Whitespace"),
            ("anyscale/ray\u{7f}", "Whitespace"),
            ("anyscale//ray", "EmptyComponent"),
            ("anyscale/ray_:1", "BadComponent"),
            ("anyscale/-ray", "BadComponent"),
            ("anyscale/ray:-x", "BadTag"),
            (&long_tag, "BadTag"),
            ("bad_host.com/anyscale/ray", "BadRegistry"),
            (&short, "BadDigest"),
            (&upper, "BadDigest"),
            ("anyscale/ray@", "BadDigest"),
            (&sha512, r#"DigestAlgorithm { algorithm: "sha512" }"#),
        ];
        for (s, want) in cases {
            let got = format!("{:?}", ImageRef::parse(s).unwrap_err());
            assert!(got.starts_with(want), "{s:?}: {got}");
        }
        let err = |s: &str| ImageRef::parse(s).unwrap_err().to_string();
        assert_eq!(
            err("anyscale/ray: 2.9.0"),
            "image reference `anyscale/ray: 2.9.0` contains whitespace or a control character \
             (` `) at byte 13"
        );
        assert_eq!(
            err("Anyscale/ray"),
            "repository `Anyscale/ray` must be lower case: write `anyscale/ray`"
        );
        assert!(err("anyscale/ray:2.9.0\n").contains("`anyscale/ray:2.9.0\\n`"));
        let msg = format!(
            "digest `sha256:{}` is not valid: expected `sha256:`",
            &HEX[1..]
        );
        assert!(err(&short).starts_with(&msg));
    }

    #[test]
    fn bad_tags() {
        let malformed = "foo 2.9 2.9.0-py2 2.9.0-gpu-py310 latest-py38 nightlyoptimized 2.9.0-cu11";
        for tag in malformed.split(' ') {
            let r = classify(&format!("anyscale/ray:{tag}"));
            assert_eq!(r.unwrap_err(), TagError::Malformed { tag: tag.into() });
        }
        let unknown = |s| classify(s).unwrap_err() == TagError::Unknown;
        assert!(unknown("anyscale/ray:unknown") && unknown("unknown"));
        let err = classify("anyscale/ray:2.7.0-py310").unwrap_err();
        let (tag, suggestion) = ("2.7.0-py310".into(), "2.7.0optimized-py310".into());
        assert_eq!(err, TagError::Unflavored27 { tag, suggestion });
        assert_eq!(
            err.to_string(),
            "ray 2.7.x tags need `optimized` or `oss`: Anyscale's SDK refuses `2.7.0-py310`; \
             write `2.7.0optimized-py310`"
        );
        let err = classify("anyscale/ray:2.7.2").unwrap_err();
        assert!(matches!(err, TagError::Unflavored27 { .. }));
        assert!(classify("anyscale/ray:2.70.0-py311").is_ok());
    }

    #[test]
    fn serializes() {
        let (t, _) = classify("anyscale/ray-ml:2.9.0rc1-py310").unwrap();
        let v = serde_json::to_value(&t).unwrap();
        let rc = serde_json::json!({"kind": "rc", "version": "2.9.0rc1"});
        assert_eq!((&v["family"], &v["ray"]), (&"ray-ml".into(), &rc));
        let v = serde_json::to_value(RayVersion::PinnedNightly).unwrap();
        assert_eq!(v, serde_json::json!({"kind": "pinned-nightly"}));
        let r = ImageRef::parse("docker.io/anyscale/ray:2.9.0").unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap()["registry"], "docker.io");
    }
}
