//! `config`, Ray's `RuntimeEnvConfig`: `setup_timeout_seconds` (positive, or -1 for none),
//! `eager_install` and `log_files`, with Ray's messages. Unknown entries are a warning, as Ray
//! logs and ignores them.

use super::{Cx, RuntimeConfig};
use crate::diag::codes;
use crate::input::yaml::{Kind, Node};
use crate::runtime_env::python::{bool_value, int_value, py_repr, py_str, py_type, str_value};

impl Cx<'_> {
    pub(super) fn config(&mut self, node: &Node) -> RuntimeConfig {
        let mut config = RuntimeConfig::default();
        if !matches!(node.kind, Kind::Map(_)) {
            self.error(
                codes::RTE_CONFIG,
                node.span,
                format!(
                    "runtime_env['config'] must be of type dict or RuntimeEnvConfig, got: {}",
                    py_type(node)
                ),
                "write a mapping: `{\"setup_timeout_seconds\": 600, \"eager_install\": true}`"
                    .into(),
            );
            return config;
        }
        for (key, knode, v) in self.entries(node) {
            match key.as_str() {
                "setup_timeout_seconds" => match int_value(v) {
                    Some(t) if t > 0 || t == -1 => config.setup_timeout_seconds = Some(t),
                    Some(t) => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!(
                            "setup_timeout_seconds must be greater than zero or equals to -1, \
                             got: {t}"
                        ),
                        "give a number of seconds, or -1 for no timeout".into(),
                    ),
                    None => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!(
                            "setup_timeout_seconds must be of type int, got: {}",
                            py_type(v)
                        ),
                        "give a whole number of seconds (unquoted), or -1 for no timeout".into(),
                    ),
                },
                "eager_install" => match bool_value(v) {
                    Some(b) => config.eager_install = Some(b),
                    None => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!("eager_install must be a boolean. got {}", py_type(v)),
                        "write `true` or `false` (unquoted)".into(),
                    ),
                },
                "log_files" => match &v.kind {
                    _ if v.is_null() => {}
                    Kind::Seq(items) if items.iter().all(|i| str_value(i).is_some()) => {
                        config.log_files = Some(
                            items
                                .iter()
                                .filter_map(|i| str_value(i).map(String::from))
                                .collect(),
                        );
                    }
                    _ => self.error(
                        codes::RTE_CONFIG,
                        v.span,
                        format!(
                            "log_files must be a list of strings or None, got {} with type {}.",
                            py_str(v),
                            py_type(v)
                        ),
                        "write a list of file names".into(),
                    ),
                },
                _ => {
                    self.diags
                        .warning(
                            codes::RTE_UNKNOWN_CONFIG,
                            knode.span,
                            format!(
                                "The following unknown entries in the runtime_env_config \
                                 dictionary will be ignored: {{{}}}.",
                                py_repr(knode)
                            ),
                        )
                        .help("known entries are setup_timeout_seconds, eager_install, log_files");
                }
            }
        }
        config
    }
}
