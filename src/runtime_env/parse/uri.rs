//! A remote `working_dir` or `py_modules` URI: the protocols Ray supports (Ray 2 adds
//! `file://`, and lists its whole `Protocol` enum in the message), and the package it must name
//! (a `.zip`, or for Ray 2's `py_modules` a `.whl`), judged on the name Ray's `parse_uri` gives,
//! not on the URI's text. [`uri_scheme`] is `urlparse`'s idea of a scheme.

use super::{Cx, Location, LocationKind};
use crate::diag::codes;
use crate::input::yaml::Node;
use crate::runtime_env::generation::RayGeneration;

impl Cx<'_> {
    pub(super) fn uri(
        &mut self,
        node: &Node,
        raw: &str,
        scheme: String,
        py_modules: bool,
    ) -> Option<Location> {
        if self.ray.local_uri {
            return self.uri_2_60(node, raw, scheme, py_modules);
        }
        let supported: &[&str] = match self.ray.generation {
            RayGeneration::V1 => &["gcs", "https", "s3", "gs"],
            RayGeneration::V2 => &["gcs", "https", "s3", "gs", "file"],
        };
        if !supported.contains(&scheme.as_str()) {
            // Ray lists its whole `Protocol` enum (checked against Ray 2.40: it includes the
            // internal conda/pip/uv package protocols).
            let listed: &[&str] = match self.ray.generation {
                RayGeneration::V1 => supported,
                RayGeneration::V2 => &["gcs", "conda", "pip", "uv", "https", "s3", "gs", "file"],
            };
            let names: Vec<String> = listed
                .iter()
                .map(|s| format!("'{}'", s.to_ascii_uppercase()))
                .collect();
            let help = if scheme == "http" {
                "use `https://`".to_string()
            } else if scheme == "file" {
                "`file://` URIs need Ray 2 (`--ray 2`)".to_string()
            } else {
                format!(
                    "use one of {}:// (or give a local path at job level)",
                    supported.join("://, ")
                )
            };
            self.error(
                codes::RTE_URI,
                node.span,
                format!(
                    "Invalid protocol for runtime_env URI \"{raw}\". Supported protocols: [{}].",
                    names.join(", ")
                ),
                help,
            );
            return None;
        }
        if scheme != "gcs" {
            // Ray tests the name its `parse_uri` gives (`;params` of an https path cut, a
            // wheel's own file name), not the URI's text.
            let path = crate::runtime_env::working_dir::remote_package_name(raw, self.ray)
                .unwrap_or_default();
            let wheels = py_modules && self.ray.generation == RayGeneration::V2;
            let ok = path.ends_with(".zip") || (wheels && path.ends_with(".whl"));
            if !ok {
                let msg = if wheels {
                    "Only .zip or .whl files supported for remote URIs."
                } else {
                    "Only .zip files supported for remote URIs."
                };
                self.error(
                    codes::RTE_URI,
                    node.span,
                    msg.into(),
                    "point at a `.zip` archive holding one top-level directory (its contents \
                     become the directory); `envc package DIR -o code.zip` makes one"
                        .into(),
                );
                return None;
            }
        }
        Some(Location {
            raw: raw.to_string(),
            kind: LocationKind::Uri { scheme },
        })
    }
}

/// Ray 2.60's protocols (`ray._common.runtime_env_uri.Protocol`): a scheme not among them makes
/// the string a local path to Ray.
pub(crate) const PROTOCOLS_2_60: &[&str] = &[
    "gcs", "conda", "pip", "uv", "http", "https", "s3", "gs", "azure", "abfss", "file", "local",
];
const REMOTE_2_60: &[&str] = &["http", "https", "s3", "gs", "azure", "abfss", "file"];
/// Ray 2.60's `RUNTIME_ENV_PACKAGE_EXTENSIONS`.
pub(crate) const WORKING_DIR_FORMATS: &[&str] = &[".zip", ".tar.gz", ".tgz", ".tar.xz"];
pub(crate) const PY_MODULES_FORMATS: &[&str] = &[".zip", ".whl", ".tar.gz", ".tgz", ".tar.xz"];

/// Ray 2.60's checks of a `local://` URI (`parse_uri`): the path after `local://`, absolute,
/// not an archive; `Err` is Ray's message.
pub(crate) fn local_uri_path(raw: &str) -> Result<String, String> {
    const PREFIX: &str = "local://";
    let ok_prefix = raw.len() >= PREFIX.len()
        && raw.is_char_boundary(PREFIX.len())
        && raw[..PREFIX.len()].eq_ignore_ascii_case(PREFIX);
    if !ok_prefix {
        return Err(format!(
            "Invalid \"local://\" runtime_env URI \"{raw}\": a local URI must start with \
             local://. Write local:///path/in/image, or local://C:/path/in/image on Windows."
        ));
    }
    let mut path = &raw[PREFIX.len()..];
    let drive = |p: &str| {
        let b = p.as_bytes();
        b.len() >= 3 && b[0].is_ascii_alphabetic() && b[1] == b':' && matches!(b[2], b'/' | b'\\')
    };
    if path.starts_with('/') && drive(&path[1..]) {
        path = &path[1..];
    }
    if !(path.starts_with('/') || drive(path)) {
        return Err(format!(
            "Invalid \"local://\" runtime_env URI \"{raw}\": the path must be absolute. Write \
             local:///path/in/image, or local://C:/path/in/image on Windows."
        ));
    }
    let mut archives: Vec<&str> = PY_MODULES_FORMATS.to_vec();
    archives.sort_by_key(|e| std::cmp::Reverse(e.len()));
    if let Some(ext) = archives.iter().find(|e| path.ends_with(**e)) {
        return Err(format!(
            "Invalid \"local://\" runtime_env URI \"{raw}\": the path must be a directory, not \
             a {ext} archive. A local:// directory is used in place and is never unpacked."
        ));
    }
    Ok(path.to_string())
}

impl Cx<'_> {
    /// Ray 2.60's `validate_uri`: `local://` checked as above; a `gcs://` or remote URI must
    /// name a package of the field's formats (judged on `parse_uri`'s name); the internal
    /// `conda`/`pip`/`uv` protocols pass unchecked, as Ray lets them.
    fn uri_2_60(
        &mut self,
        node: &Node,
        raw: &str,
        scheme: String,
        py_modules: bool,
    ) -> Option<Location> {
        if scheme == "local" {
            if let Err(msg) = local_uri_path(raw) {
                self.error(
                    codes::RTE_URI,
                    node.span,
                    msg,
                    "a `local://` URI names a directory already on every node, by its absolute \
                     path: `local:///home/ray/app`"
                        .into(),
                );
                return None;
            }
        } else if scheme == "gcs" || REMOTE_2_60.contains(&scheme.as_str()) {
            let name = crate::runtime_env::working_dir::remote_package_name(raw, self.ray)
                .unwrap_or_default();
            let (formats, field) = if py_modules {
                (PY_MODULES_FORMATS, "py_modules")
            } else {
                (WORKING_DIR_FORMATS, "working_dir")
            };
            if !formats.iter().any(|e| name.ends_with(e)) {
                let shown = raw.split('?').next().unwrap_or(raw);
                self.error(
                    codes::RTE_URI,
                    node.span,
                    format!(
                        "Only {} files are supported for {field} URIs; got {shown}.",
                        formats.join(", ")
                    ),
                    "point at an archive holding one top-level directory (its contents become \
                     the directory); `envc package DIR -o code.zip` makes a .zip"
                        .into(),
                );
                return None;
            }
        }
        Some(Location {
            raw: raw.to_string(),
            kind: LocationKind::Uri { scheme },
        })
    }
}

/// The scheme of a string Python's `urlparse` sees as a URI (lower case), if any.
pub(crate) fn uri_scheme(raw: &str) -> Option<String> {
    let i = raw.find(':')?;
    let scheme = &raw[..i];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| scheme.to_ascii_lowercase())
}
