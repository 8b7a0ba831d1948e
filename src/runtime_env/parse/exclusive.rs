//! The fields Ray refuses together: more than one installer (`pip`, `uv`, `conda`; Ray 2 tests
//! presence, Ray 1 the truthiness of `pip` and `conda`), and, in Ray 2, a `container` or
//! `image_uri` with any field but `config` and `env_vars`. The messages are Ray 2.40's; the one
//! difference is that envc sorts the set of fields Ray prints in its own (varying) order.
//! `exclusive_fields` applies the same rules to a merged environment.

use super::{Conda, Cx, RuntimeEnv};
use crate::diag::codes;
use crate::input::source::Span;
use crate::runtime_env::generation::RayGeneration;
use crate::runtime_env::python::{py_str_repr, truthy};
use serde_json::Value;

/// Ray 2.40's message when more than one of `pip`, `uv` and `conda` is given (its first line).
pub const PIP_UV_CONDA: &str = "The 'pip' field, 'uv' field, and 'conda' field of runtime_env \
     cannot be specified at the same time.";

/// Ray 2.40's message for `container` or `image_uri` given with `others` (Python reprs).
fn image_conflict(field: &str, mut others: Vec<String>) -> String {
    // Ray prints a Python set (its order varies between runs); envc sorts it.
    others.sort();
    format!(
        "The '{field}' field currently cannot be used together with other fields of \
         runtime_env. Specified fields: {{{}}}",
        others.join(", ")
    )
}

/// Whether a `container` or `image_uri` value is truthy: then it takes the worker.
fn runs_in_image(value: Option<&Value>) -> bool {
    value.is_some_and(truthy)
}

/// The fields Ray 2.40's `RuntimeEnv.__init__` refuses together, on a merged environment (its
/// [`RuntimeEnv::field_names`]): Ray's message for the first rule broken.
pub(crate) fn exclusive_fields(env: &RuntimeEnv) -> Option<String> {
    let fields = env.field_names();
    let installers = ["pip", "uv", "conda"];
    if installers.iter().filter(|k| fields.contains(**k)).count() > 1 {
        return Some(PIP_UV_CONDA.to_string());
    }
    let image_uri = env.image_uri.clone().map(Value::String);
    let refused = [
        ("container", env.container.as_ref()),
        ("image_uri", image_uri.as_ref()),
    ]
    .into_iter()
    .find_map(|(field, value)| {
        if !runs_in_image(value) {
            return None;
        }
        let others: Vec<String> = fields
            .iter()
            .filter(|k| !matches!(**k, "config" | "env_vars") && **k != field)
            .map(|k| py_str_repr(k))
            .collect();
        (!others.is_empty()).then(|| image_conflict(field, others))
    });
    refused
}

/// What Ray says to do when `pip` meets `conda`.
const CONDA_PIP_HELP: &str = "To use pip with conda, please only set the 'conda' field, and \
     specify your pip dependencies within the conda YAML config dict (a `pip:` list under \
     `dependencies:`)";

impl Cx<'_> {
    /// Ray 2.40's `RuntimeEnv.__init__`: a truthy `container`, else a truthy `image_uri`, runs
    /// the worker in that image, so no other field but `config` and `env_vars` may be given.
    pub(super) fn exclusive_images(&mut self, env: &RuntimeEnv, given: &[(String, Span)]) {
        let container = env.container.clone();
        let image_uri = env.image_uri.clone().map(Value::String);
        let Some(field) = [("container", container), ("image_uri", image_uri)]
            .into_iter()
            .find(|(_, v)| runs_in_image(v.as_ref()))
            .map(|(f, _)| f)
        else {
            return;
        };
        let others: Vec<&(String, Span)> = given
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "config" | "env_vars") && k != field)
            .collect();
        let Some((_, at)) = others.first() else {
            return;
        };
        let names = others.iter().map(|(k, _)| py_str_repr(k)).collect();
        self.failed = true;
        self.diags
            .error(codes::RTE_CONFIG, *at, image_conflict(field, names))
            .label(format!("not allowed with `{field}`"))
            .help(format!(
                "the worker runs in the `{field}` image: install packages and code into that \
                 image (for example with `envc build` and `envc bake`), and keep only \
                 `{field}`, `config` and `env_vars` here"
            ));
    }

    pub(super) fn pip_and_conda(&mut self, env: &RuntimeEnv, keys: &[(&str, Span)]) {
        if self.ray.generation == RayGeneration::V2 {
            // Ray 2.40 tests presence of `pip`, `uv` and `conda`: at most one of them.
            if keys.len() < 2 {
                return;
            }
            let (second, at) = keys[1];
            let help = if keys.iter().any(|(k, _)| *k == "conda") {
                CONDA_PIP_HELP.to_string()
            } else {
                "keep one installer: `uv` (its packages are installed with uv pip) or `pip`, \
                 with every package in that one list"
                    .to_string()
            };
            self.failed = true;
            self.diags
                .error(codes::RTE_PIP_AND_CONDA, at, PIP_UV_CONDA)
                .label(format!("`{second}` after `{}`", keys[0].0))
                .help(help);
            return;
        }
        // Ray 1 tests the truthiness of `pip` and `conda` (it has no `uv`).
        let both = env.pip.as_ref().is_some_and(|p| !p.packages.is_empty())
            && env.conda.as_ref().is_some_and(|c| match c {
                Conda::Inline(v) | Conda::File { content: v, .. } => truthy(v),
                Conda::Name(n) => !n.is_empty(),
            });
        if both {
            let (_, at) = keys[keys.len() - 1];
            self.failed = true;
            self.diags
                .error(
                    codes::RTE_PIP_AND_CONDA,
                    at,
                    "The 'pip' field and 'conda' field of runtime_env cannot both be specified.",
                )
                .label("the second of the two")
                .help(CONDA_PIP_HELP);
        }
    }
}
