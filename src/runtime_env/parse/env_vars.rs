//! `env_vars`: a mapping of string names to string values, as Ray's `Dict[str, str]` check
//! reads it (an empty list or string is dropped, as Ray tests `len()` first). A value YAML
//! would type (`1`, `true`) is refused with a hint to quote it, not converted.

use super::Cx;
use crate::diag::codes;
use crate::input::yaml::{Kind, Node};
use crate::runtime_env::python::{py_str, py_type, str_value};

impl Cx<'_> {
    pub(super) fn env_vars(&mut self, node: &Node) -> Vec<(String, String)> {
        match &node.kind {
            Kind::Map(_) => {}
            // Ray tests `len(env_vars) == 0` first: an empty list or string is dropped.
            Kind::Seq(items) if items.is_empty() => return Vec::new(),
            Kind::Scalar { value, .. } if value.is_empty() => return Vec::new(),
            _ => {
                self.error(
                    codes::RTE_ENV_VARS,
                    node.span,
                    format!(
                        "runtime_env['env_vars'] must be of type Dict[str, str], got {}",
                        py_type(node)
                    ),
                    "write a mapping of names to string values: `{\"MY_VAR\": \"1\"}`".into(),
                );
                return Vec::new();
            }
        }
        let mut out = Vec::new();
        for (key, knode, v) in self.entries(node) {
            if str_value(knode).is_none() {
                self.error(
                    codes::RTE_ENV_VARS,
                    knode.span,
                    format!(
                        "runtime_env['env_vars'] must be of type Dict[str, str], but the key {} \
                         is of type {}",
                        py_str(knode),
                        py_type(knode)
                    ),
                    format!("quote the name: `\"{key}\"`"),
                );
                continue;
            }
            let Some(value) = str_value(v) else {
                let help = match &v.kind {
                    Kind::Scalar { value, .. } => {
                        format!("quote the value of `{key}`: `\"{key}\": \"{value}\"`")
                    }
                    _ => format!("the value of `{key}` must be a string"),
                };
                self.error(
                    codes::RTE_ENV_VARS,
                    v.span,
                    format!(
                        "runtime_env['env_vars'] must be of type Dict[str, str], but the value \
                         {} is of type {}",
                        py_str(v),
                        py_type(v)
                    ),
                    help,
                );
                continue;
            };
            out.push((key, value.to_string()));
        }
        out
    }
}
