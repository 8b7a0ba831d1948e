//! `--template`: renders a Jinja-templated spec (as Ray's release tooling writes them) into
//! YAML before parsing. `env` is the process environment plus `--var` values; `--var` values are
//! also top-level variables. Undefined values are errors unless the template gives a default.
//! What the template read is returned as [`Provenance`] — recorded beside the plan, never in
//! the spec digest (a templated spec and its rendered twin are the same environment) — and only
//! the variables actually read are recorded, so unrelated secrets in the environment never leak.

use crate::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::source::{SourceFile, Span};
use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The template inputs a rendering used.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// The template file.
    pub template: String,
    /// Each `env[...]` key the template read, with its value (`null` when unset).
    pub env: BTreeMap<String, Option<String>>,
    /// The `--var` values given.
    pub vars: BTreeMap<String, String>,
}

#[derive(Debug)]
struct EnvObject {
    values: BTreeMap<String, String>,
    read: Mutex<BTreeMap<String, Option<String>>>,
}

impl Object for EnvObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let v = self.values.get(key).cloned();
        if let Ok(mut read) = self.read.lock() {
            read.insert(key.to_string(), v.clone());
        }
        v.map(Value::from)
    }
}

/// Renders `file` with `process_env` and `vars`. Errors are located in the template.
pub fn render(
    file: &Arc<SourceFile>,
    process_env: BTreeMap<String, String>,
    vars: &BTreeMap<String, String>,
) -> Result<(String, Provenance), Vec<Diagnostic>> {
    let mut env = Environment::new(); // Jinja2's builtin filters and tests (`default`, …)
    env.set_undefined_behavior(UndefinedBehavior::Strict);
    // Jinja2 as Ray's tooling ran it: `keep_trailing_newline`, default delimiters.
    if let Ok(syntax) = minijinja::syntax::SyntaxConfig::builder()
        .keep_trailing_newline(true)
        .build()
    {
        env.set_syntax(syntax);
    }
    let mut values = process_env;
    values.extend(vars.iter().map(|(k, v)| (k.clone(), v.clone())));
    let env_obj = Arc::new(EnvObject {
        values,
        read: Mutex::new(BTreeMap::new()),
    });
    let mut ctx: BTreeMap<String, Value> = vars
        .iter()
        .map(|(k, v)| (k.clone(), Value::from(v.clone())))
        .collect();
    ctx.insert("env".into(), Value::from_dyn_object(env_obj.clone()));
    // Bound runaway templates (loops over huge ranges) instead of hanging.
    env.set_fuel(Some(1_000_000));
    let result = env
        .template_from_named_str(file.name.as_str(), &file.text)
        .and_then(|t| t.render(&ctx));
    match result {
        Ok(text) => {
            let read = env_obj.read.lock().map(|r| r.clone()).unwrap_or_default();
            Ok((
                text,
                Provenance {
                    template: file.name.clone(),
                    env: read,
                    vars: vars.clone(),
                },
            ))
        }
        Err(e) => {
            let mut diags = Diagnostics::new(file.clone());
            let span = match (e.range(), e.line()) {
                (Some(r), _) => Span::new(r.start, r.end),
                (None, Some(line)) => {
                    let start: usize = file
                        .text
                        .split_inclusive('\n')
                        .take(line - 1)
                        .map(str::len)
                        .sum();
                    Span::new(start, start)
                }
                (None, None) => Span::new(0, 0),
            };
            let detail = e.detail().map(|d| format!(": {d}")).unwrap_or_default();
            let help = if matches!(e.kind(), minijinja::ErrorKind::UndefinedError) {
                "give a default: `{{ env[\"NAME\"] | default(\"value\") }}`, or set it with `--var NAME=VALUE`"
            } else {
                "the file is rendered with Jinja because of `--template`; drop the flag if it is plain YAML"
            };
            diags
                .error(codes::TEMPLATE, span, format!("{}{detail}", e.kind()))
                .help(help);
            Err(diags.into_vec())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str, env: &[(&str, &str)]) -> Result<(String, Provenance), Vec<Diagnostic>> {
        let f = Arc::new(SourceFile::new("t.yaml", text));
        let env = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        render(&f, env, &BTreeMap::new())
    }

    #[test]
    fn renders_like_ray_release_tooling() {
        let t = "base_image: {{ env[\"RAY_IMAGE\"] | default(\"anyscale/ray:nightly-py37\") }}\n";
        let (out, prov) = run(t, &[]).unwrap();
        assert_eq!(out, "base_image: anyscale/ray:nightly-py37\n");
        assert_eq!(prov.env.get("RAY_IMAGE"), Some(&None));
        let (out, prov) = run(
            t,
            &[("RAY_IMAGE", "anyscale/ray:2.9.0-py310"), ("SECRET", "x")],
        )
        .unwrap();
        assert_eq!(out, "base_image: anyscale/ray:2.9.0-py310\n");
        assert!(!prov.env.contains_key("SECRET"));
    }

    #[test]
    fn undefined_without_default_is_located() {
        let e = run("a: 1\nb: {{ env[\"NOPE\"] }}\n", &[]).unwrap_err();
        assert_eq!(e[0].code, codes::TEMPLATE);
        assert_eq!(e[0].file.line_col(e[0].span.unwrap().start).line, 2);
        let e = run("a: {{ oops(\n", &[]).unwrap_err();
        assert_eq!(e[0].code, codes::TEMPLATE);
    }
}
