//! `container` (Ray's older image field, a mapping kept as given, its keys checked for
//! duplicates) and `image_uri` (an image reference string). That either one excludes most other
//! fields is `exclusive`'s rule.

use super::Cx;
use crate::diag::codes;
use crate::input::yaml::{Kind, Node};
use crate::runtime_env::python::{py_type, str_value, to_value};
use serde_json::Value;

impl Cx<'_> {
    pub(super) fn container(&mut self, node: &Node) -> Option<Value> {
        if let Kind::Map(_) = node.kind {
            self.entries(node);
            return Some(to_value(node));
        }
        self.error(
            codes::RTE_CONFIG,
            node.span,
            format!(
                "runtime_env['container'] must be of type dict, got {}",
                py_type(node)
            ),
            "write a mapping such as `{\"image\": \"repo/image:tag\"}`".into(),
        );
        None
    }

    pub(super) fn image_uri(&mut self, node: &Node) -> Option<String> {
        if let Some(s) = str_value(node) {
            return Some(s.to_string());
        }
        self.error(
            codes::RTE_CONFIG,
            node.span,
            format!(
                "runtime_env['image_uri'] must be of type str, got {}",
                py_type(node)
            ),
            "give an image reference as a string".into(),
        );
        None
    }
}
