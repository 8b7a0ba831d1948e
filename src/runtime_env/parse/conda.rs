//! `conda`: an inline `environment.yml` mapping, a `.yaml`/`.yml` file (read through the one
//! input reader and parsed with envc's YAML tree, its content replacing the path), or the name
//! of an existing environment: Ray's three forms, told apart by Python's `Path.suffix`. From
//! Ray 2.60 an absolute path that is no YAML file is an environment directory that must exist.

use super::{Conda, Cx};
use crate::diag::codes;
use crate::input::read;
use crate::input::yaml::{self, Kind, Node, Resolved};
use crate::runtime_env::python::{py_path, py_suffix, py_type, res, to_value};
use serde_json::Value;

impl Cx<'_> {
    pub(super) fn conda(&mut self, node: &Node) -> Option<Conda> {
        match &node.kind {
            Kind::Map(_) => Some(Conda::Inline(to_value(node))),
            Kind::Scalar { value, .. } if res(node) == Resolved::Str => {
                if !matches!(py_suffix(value), ".yaml" | ".yml") {
                    // Ray 2.60: an absolute path names an environment directory, which must
                    // exist (Ray keeps `str(Path(conda))`).
                    if self.ray.conda_env_dir && value.starts_with('/') {
                        let dir = py_path(value);
                        if !std::path::Path::new(&dir).is_dir() {
                            self.error(
                                codes::RTE_CONDA,
                                node.span,
                                format!("Can't find conda env directory {dir}."),
                                "an absolute `conda` path is an existing environment directory \
                                 (with `bin/python`); a name is looked up in conda's envs"
                                    .into(),
                            );
                            return None;
                        }
                        return Some(Conda::Name(dir));
                    }
                    return Some(Conda::Name(value.clone()));
                }
                let path = self.cwd.join(value);
                if !path.is_file() {
                    self.error(
                        codes::RTE_CONDA,
                        node.span,
                        format!("Can't find conda YAML file {}.", py_path(value)),
                        "the path is read relative to the current directory; a string not \
                         ending in `.yaml`/`.yml` names an existing conda environment"
                            .into(),
                    );
                    return None;
                }
                let read = read::read_text(&path)
                    .map_err(|e| e.to_string())
                    .and_then(|t| yaml::parse(&t).map_err(|e| e.message));
                match read {
                    Ok(root) => Some(Conda::File {
                        path,
                        content: root.as_ref().map_or(Value::Null, to_value),
                    }),
                    Err(e) => {
                        self.error(
                            codes::RTE_CONDA,
                            node.span,
                            format!("Failed to read conda file {}: {e}.", py_path(value)),
                            "the file must be a readable, UTF-8 `environment.yml`".into(),
                        );
                        None
                    }
                }
            }
            _ => {
                self.error(
                    codes::RTE_CONDA,
                    node.span,
                    format!(
                        "runtime_env['conda'] must be of type str or dict, got {}.",
                        py_type(node)
                    ),
                    "give an inline environment.yml mapping, a `.yaml` file or an environment's \
                     name"
                        .into(),
                );
                None
            }
        }
    }
}
