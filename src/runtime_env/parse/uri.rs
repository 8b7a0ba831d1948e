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
        let supported: &[&str] = match self.ray {
            RayGeneration::V1 => &["gcs", "https", "s3", "gs"],
            RayGeneration::V2 => &["gcs", "https", "s3", "gs", "file"],
        };
        if !supported.contains(&scheme.as_str()) {
            // Ray lists its whole `Protocol` enum (checked against Ray 2.40: it includes the
            // internal conda/pip/uv package protocols).
            let listed: &[&str] = match self.ray {
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
            let path =
                crate::runtime_env::working_dir::remote_package_name(raw).unwrap_or_default();
            let wheels = py_modules && self.ray == RayGeneration::V2;
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

/// The scheme of a string Python's `urlparse` sees as a URI (lower case), if any.
pub(crate) fn uri_scheme(raw: &str) -> Option<String> {
    let i = raw.find(':')?;
    let scheme = &raw[..i];
    let mut chars = scheme.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    (first_ok && rest_ok).then(|| scheme.to_ascii_lowercase())
}
