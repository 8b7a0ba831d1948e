//! `--template`: renders a Jinja-templated spec (as Ray's release tooling writes them) into
//! YAML before parsing. `env` is the process environment plus `--var` values; `--var` values are
//! also top-level variables. Undefined values are errors unless the template gives a default.
//! What the template read is returned as [`Provenance`] — recorded beside the plan, never in
//! the spec digest (a templated spec and its rendered twin are the same environment). It holds
//! names, never values: a template that tests `env["HF_TOKEN"]` must not copy the token into a
//! store, an export or a CI log. Only the environment variables actually read are named, each
//! as `set` or `unset`; `--var` values are recorded only for keys given with `--public-var`.

use crate::diag::codes;
use crate::diag::{Diagnostic, Diagnostics};
use crate::input::source::{SourceFile, Span};
use minijinja::value::{Object, Value};
use minijinja::{Environment, UndefinedBehavior};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

/// The template inputs a rendering used: names, and values only where the user made them
/// public.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Provenance {
    /// The template file.
    pub template: String,
    /// Each `env[...]` key the template read, and whether it had a value.
    pub env: BTreeMap<String, EnvRead>,
    /// The names of the `--var`s given (public or not).
    pub vars: BTreeSet<String>,
    /// The values of the `--public-var`s given.
    pub public_vars: BTreeMap<String, String>,
}

/// What reading one `env[...]` key found (never the value itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvRead {
    Set,
    Unset,
}

#[derive(Debug)]
struct EnvObject {
    values: BTreeMap<String, String>,
    read: Mutex<BTreeMap<String, EnvRead>>,
}

impl Object for EnvObject {
    fn get_value(self: &Arc<Self>, key: &Value) -> Option<Value> {
        let key = key.as_str()?;
        let v = self.values.get(key).cloned();
        if let Ok(mut read) = self.read.lock() {
            let found = if v.is_some() {
                EnvRead::Set
            } else {
                EnvRead::Unset
            };
            read.insert(key.to_string(), found);
        }
        v.map(Value::from)
    }
}

/// Renders `file` with `process_env` and `vars`; the values of the keys in `public` are
/// recorded in the provenance. Errors are located in the template.
pub fn render(
    file: &Arc<SourceFile>,
    process_env: BTreeMap<String, String>,
    vars: &BTreeMap<String, String>,
    public: &BTreeSet<String>,
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
                    vars: vars.keys().cloned().collect(),
                    public_vars: vars
                        .iter()
                        .filter(|(k, _)| public.contains(*k))
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                },
            ))
        }
        Err(e) => {
            let mut diags = Diagnostics::new(file.clone());
            let span = match (e.range(), e.line()) {
                // minijinja's range of an error at the end of the input can reach one past
                // it: clamp to the text, on character boundaries.
                (Some(r), _) => {
                    let at = |i: usize| {
                        let mut i = i.min(file.text.len());
                        while !file.text.is_char_boundary(i) {
                            i -= 1;
                        }
                        i
                    };
                    Span::new(at(r.start), at(r.end))
                }
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

/// A recorded provenance annotation (`dev.envc.provenance`) as envc shows and exports it: the
/// form above, whatever wrote it. Revisions recorded before provenance held names only carry
/// `env` and `--var` values (`{"env": {"K": "value"|null}, "vars": {"K": "value"}}`); the store
/// is immutable, so those bytes stay in its `index.json`, but no value leaves it again.
pub fn redact_recorded(text: &str) -> serde_json::Value {
    use serde_json::{json, Map, Value as Json};
    let v: Json = serde_json::from_str(text).unwrap_or(Json::Null);
    let env: Map<String, Json> = v
        .get("env")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, x)| {
                    let set = !(x.is_null() || x.as_str() == Some("unset"));
                    (k.clone(), json!(if set { "set" } else { "unset" }))
                })
                .collect()
        })
        .unwrap_or_default();
    let vars: BTreeSet<String> = match v.get("vars") {
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect(),
        Some(Json::Object(m)) => m.keys().cloned().collect(),
        _ => BTreeSet::new(),
    };
    let public: Map<String, Json> = v
        .get("public_vars")
        .and_then(Json::as_object)
        .map(|m| {
            m.iter()
                .filter(|(_, x)| x.is_string())
                .map(|(k, x)| (k.clone(), x.clone()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "template": v.get("template").and_then(Json::as_str).unwrap_or_default(),
        "env": env,
        "vars": vars,
        "public_vars": public,
    })
}

/// The values a rendering must not show again: each process-environment value the template
/// read and each `--var` not marked public. Values under four bytes are left alone: masking `1`
/// or `on` everywhere would garble every message and hides no secret.
pub fn secrets(
    prov: &Provenance,
    process_env: &BTreeMap<String, String>,
    vars: &BTreeMap<String, String>,
) -> Vec<String> {
    let mut out: Vec<String> = prov
        .env
        .iter()
        .filter(|(_, read)| **read == EnvRead::Set)
        .filter_map(|(k, _)| process_env.get(k).cloned())
        .chain(
            vars.iter()
                .filter(|(k, _)| !prov.public_vars.contains_key(*k))
                .map(|(_, v)| v.clone()),
        )
        .filter(|v| v.trim().len() >= 4)
        .collect();
    // Longest first, so a secret that contains another is masked whole.
    out.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
    out.dedup();
    out
}

/// Diagnostics about a rendered spec with every secret masked, in their messages and in the
/// text their snippets show (`*` per byte, so every span still points where it did): an error
/// on a line that held `{{ env["HF_TOKEN"] }}` must not print the token into a CI log.
pub fn mask(diags: Vec<Diagnostic>, secrets: &[String]) -> Vec<Diagnostic> {
    if secrets.is_empty() {
        return diags;
    }
    let hide = |text: &str| {
        let mut t = text.to_string();
        for s in secrets {
            if t.contains(s.as_str()) {
                t = t.replace(s.as_str(), &"*".repeat(s.len()));
            }
        }
        t
    };
    let mut files: Vec<(Arc<SourceFile>, Arc<SourceFile>)> = Vec::new();
    diags
        .into_iter()
        .map(|mut d| {
            let masked = match files.iter().find(|(orig, _)| Arc::ptr_eq(orig, &d.file)) {
                Some((_, m)) => m.clone(),
                None => {
                    let m = Arc::new(SourceFile::new(d.file.name.clone(), hide(&d.file.text)));
                    files.push((d.file.clone(), m.clone()));
                    m
                }
            };
            d.file = masked;
            d.message = hide(&d.message);
            d.label = d.label.as_deref().map(hide);
            d.help = d.help.as_deref().map(hide);
            d
        })
        .collect()
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
        render(&f, env, &BTreeMap::new(), &BTreeSet::new())
    }

    #[test]
    fn renders_like_ray_release_tooling() {
        let t = "base_image: {{ env[\"RAY_IMAGE\"] | default(\"anyscale/ray:nightly-py37\") }}\n";
        let (out, prov) = run(t, &[]).unwrap();
        assert_eq!(out, "base_image: anyscale/ray:nightly-py37\n");
        assert_eq!(prov.env.get("RAY_IMAGE"), Some(&EnvRead::Unset));
        let (out, prov) = run(
            t,
            &[("RAY_IMAGE", "anyscale/ray:2.9.0-py310"), ("SECRET", "x")],
        )
        .unwrap();
        assert_eq!(out, "base_image: anyscale/ray:2.9.0-py310\n");
        assert_eq!(prov.env.get("RAY_IMAGE"), Some(&EnvRead::Set));
        assert!(!prov.env.contains_key("SECRET"));
    }

    #[test]
    fn provenance_names_inputs_and_holds_only_public_values() {
        let f = Arc::new(SourceFile::new(
            "t.yaml",
            "a: {% if env[\"HF_TOKEN\"] %}1{% endif %}\nb: {{ IMAGE }}{{ KEY }}\n",
        ));
        let env = BTreeMap::from([("HF_TOKEN".to_string(), "hf_s3cr3t".to_string())]);
        let vars = BTreeMap::from([
            ("IMAGE".to_string(), "ray:2".to_string()),
            ("KEY".to_string(), "k3y-value".to_string()),
        ]);
        let public = BTreeSet::from(["IMAGE".to_string()]);
        let (out, prov) = render(&f, env, &vars, &public).unwrap();
        assert_eq!(out, "a: 1\nb: ray:2k3y-value\n");
        let text = serde_json::to_string(&prov).unwrap();
        assert!(
            !text.contains("hf_s3cr3t") && !text.contains("k3y-value"),
            "{text}"
        );
        assert_eq!(
            serde_json::from_str::<serde_json::Value>(&text).unwrap(),
            serde_json::json!({"template": "t.yaml", "env": {"HF_TOKEN": "set"},
                "vars": ["IMAGE", "KEY"], "public_vars": {"IMAGE": "ray:2"}})
        );
        // What envc shows of it is the same document.
        assert_eq!(
            redact_recorded(&text),
            serde_json::from_str::<serde_json::Value>(&text).unwrap()
        );
    }

    #[test]
    fn values_recorded_by_older_envc_are_not_shown() {
        let old = r#"{"template":"t.yaml","env":{"HF_TOKEN":"hf_s3cr3t","NOPE":null},"vars":{"KEY":"k3y"}}"#;
        let shown = redact_recorded(old);
        assert_eq!(
            shown,
            serde_json::json!({"template": "t.yaml", "env": {"HF_TOKEN": "set", "NOPE": "unset"},
                "vars": ["KEY"], "public_vars": {}})
        );
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
