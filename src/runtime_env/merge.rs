//! Merging runtime environments, and what a runtime environment hides of the cluster's.
//!
//! Two merge rules, both Ray's (`shared/reference/runtime-env.md`, "Merging"): a task or actor
//! environment over its parent ([`merge_child`]: the child's fields replace the parent's,
//! `env_vars` merge per name with the child winning, lists are replaced, and the child may not
//! name local paths), and a job's environment given at submission against the one given to
//! `ray.init` ([`merge_job`]: a union where any shared field or environment variable is a
//! conflict). Inputs are never mutated; both work on JSON values, normally the output of
//! [`RuntimeEnv::to_value`]. [`isolated_packages`] applies the isolation rule of the chosen Ray
//! generation to a compiled cluster environment.

use super::generation::RayGeneration;
use super::parse::exclusive::exclusive_fields;
use super::parse::uri::uri_scheme;
use super::parse::RuntimeEnv;
use crate::diag::codes::{self, Code};
use crate::plan::{Plan, Step};
use serde_json::{Map, Value};

/// Why two runtime environments cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
    #[error("the {which} runtime_env must be a JSON object, got {found}")]
    NotAMap {
        which: &'static str,
        found: &'static str,
    },
    #[error("the {which} runtime_env's `env_vars` must be a JSON object, got {found}")]
    EnvVarsNotAMap {
        which: &'static str,
        found: &'static str,
    },
    #[error(
        "{path} is not a valid URI. Passing directories or modules to be dynamically uploaded is \
         only supported at the job level (i.e., passed to `ray.init`). (`{field}` of the task or \
         actor runtime_env)"
    )]
    LocalPath { field: &'static str, path: String },
    #[error(
        "the job's runtime_env and ray.init's runtime_env conflict: {}. Specifying the same \
         runtime_env fields or the same environment variable keys is not allowed.",
        conflict_text(.fields, .env_vars)
    )]
    Conflict {
        /// Top-level fields both set (sorted).
        fields: Vec<String>,
        /// Environment variables both set (sorted).
        env_vars: Vec<String>,
    },
    /// The merged environment breaks one of Ray's fields-that-exclude-others rules.
    #[error("the merged runtime_env is one Ray refuses: {message}")]
    Exclusive { message: String },
}

impl MergeError {
    /// The diagnostic code for every merge error.
    pub fn code(&self) -> Code {
        codes::RTE_MERGE
    }

    /// What to do about it.
    pub fn help(&self) -> &'static str {
        match self {
            MergeError::NotAMap { .. } | MergeError::EnvVarsNotAMap { .. } => {
                "a runtime environment is a JSON object; `env_vars` maps names to strings"
            }
            MergeError::LocalPath { .. } => {
                "set local code in the job's runtime environment, or upload it and give its URI"
            }
            MergeError::Conflict { .. } => {
                "set each field and environment variable in only one of the two"
            }
            MergeError::Exclusive { .. } => {
                "give the merged environment at most one of `pip`, `uv` and `conda` (pip \
                 packages can go in the conda environment's `pip:` list), and nothing but \
                 `config` and `env_vars` beside a `container` or `image_uri`"
            }
        }
    }
}

fn conflict_text(fields: &[String], env_vars: &[String]) -> String {
    let quote = |v: &[String]| {
        v.iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut parts = Vec::new();
    if !fields.is_empty() {
        parts.push(format!("both set {}", quote(fields)));
    }
    if !env_vars.is_empty() {
        parts.push(format!(
            "both set the environment variables {}",
            quote(env_vars)
        ));
    }
    parts.join("; ")
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn as_map<'v>(v: &'v Value, which: &'static str) -> Result<&'v Map<String, Value>, MergeError> {
    v.as_object().ok_or(MergeError::NotAMap {
        which,
        found: json_type(v),
    })
}

/// A JSON object's members.
type Fields = Map<String, Value>;

/// The fields, without `None` values (Ray skips them), and the `env_vars` apart.
fn split(v: &Value, which: &'static str) -> Result<(Fields, Fields), MergeError> {
    let mut fields = Map::new();
    let mut vars = Map::new();
    for (k, x) in as_map(v, which)? {
        if x.is_null() {
            continue;
        }
        if k == "env_vars" {
            match x {
                Value::Object(o) => vars = o.clone(),
                other => {
                    return Err(MergeError::EnvVarsNotAMap {
                        which,
                        found: json_type(other),
                    })
                }
            }
        } else {
            fields.insert(k.clone(), x.clone());
        }
    }
    Ok((fields, vars))
}

fn join(mut fields: Map<String, Value>, vars: Map<String, Value>) -> Value {
    if !vars.is_empty() {
        fields.insert("env_vars".into(), Value::Object(vars));
    }
    Value::Object(fields)
}

/// A task or actor environment over its parent's (the job's or a parent task's).
pub fn merge_child(parent: &Value, child: &Value) -> Result<Value, MergeError> {
    let (mut fields, mut vars) = split(parent, "parent")?;
    let (child_fields, child_vars) = split(child, "child")?;
    if let Some(Value::String(w)) = child_fields.get("working_dir") {
        if uri_scheme(w).is_none() {
            return Err(MergeError::LocalPath {
                field: "working_dir",
                path: w.clone(),
            });
        }
    }
    if let Some(Value::Array(mods)) = child_fields.get("py_modules") {
        for m in mods {
            if let Value::String(p) = m {
                if uri_scheme(p).is_none() {
                    return Err(MergeError::LocalPath {
                        field: "py_modules",
                        path: p.clone(),
                    });
                }
            }
        }
    }
    fields.extend(child_fields);
    vars.extend(child_vars);
    if let Some(message) = exclusive_fields(&fields) {
        return Err(MergeError::Exclusive { message });
    }
    Ok(join(fields, vars))
}

/// Ray 2's job-submit environment against the `ray.init` one: a union, refused when the two
/// share a top-level field or an environment variable.
pub fn merge_job(submit: &Value, init: &Value) -> Result<Value, MergeError> {
    let (mut fields, mut vars) = split(submit, "job-submit")?;
    let (init_fields, init_vars) = split(init, "ray.init")?;
    let shared = |a: &Map<String, Value>, b: &Map<String, Value>| -> Vec<String> {
        a.keys().filter(|k| b.contains_key(*k)).cloned().collect()
    };
    let conflict_fields = shared(&fields, &init_fields);
    let conflict_vars = shared(&vars, &init_vars);
    if !conflict_fields.is_empty() || !conflict_vars.is_empty() {
        return Err(MergeError::Conflict {
            fields: conflict_fields,
            env_vars: conflict_vars,
        });
    }
    fields.extend(init_fields);
    vars.extend(init_vars);
    if let Some(message) = exclusive_fields(&fields) {
        return Err(MergeError::Exclusive { message });
    }
    Ok(join(fields, vars))
}

/// Isolation: which of the cluster environment's pip and conda packages the runtime
/// environment will NOT see, as `("pip" | "conda", entry)` in the plan's order.
///
/// Ray 1 installs a runtime env's `pip` or `conda` in a fresh environment: every cluster
/// package is hidden. Ray 2 layers a runtime env's `pip` on top of the cluster's Python
/// (nothing hidden); only a runtime env `conda` switches to another environment, which hides
/// the cluster's conda and pip packages alike.
pub fn isolated_packages(
    plan: &Plan,
    env: &RuntimeEnv,
    ray: RayGeneration,
) -> Vec<(String, String)> {
    let isolates = match ray {
        RayGeneration::V1 => env.pip.is_some() || env.conda.is_some(),
        RayGeneration::V2 => env.conda.is_some(),
    };
    if !isolates {
        return Vec::new();
    }
    let mut out = Vec::new();
    for step in &plan.steps {
        match step {
            Step::Conda { packages, .. } => out.extend(
                packages
                    .iter()
                    .map(|p| ("conda".to_string(), p.as_str().to_string())),
            ),
            Step::Pip { packages, .. } => out.extend(
                packages
                    .iter()
                    .map(|p| ("pip".to_string(), p.as_str().to_string())),
            ),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse::exclusive::PIP_UV_CONDA;
    use super::super::parse::{parse, Level};
    use super::*;
    use crate::diag::Diagnostics;
    use crate::input::source::SourceFile;
    use serde_json::json;
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn reference_example() {
        let parent = json!({"pip": ["requests", "chess"], "env_vars": {"A": "a", "B": "b"}});
        let child = json!({"pip": ["torch", "ray[serve]"], "env_vars": {"B": "new", "C": "c"}});
        let before = (parent.clone(), child.clone());
        let merged = merge_child(&parent, &child).unwrap();
        assert_eq!(
            merged,
            json!({"pip": ["torch", "ray[serve]"], "env_vars": {"A": "a", "B": "new", "C": "c"}})
        );
        assert_eq!((parent, child), before, "inputs are not mutated");
    }

    #[test]
    fn child_rules() {
        let parent =
            json!({"working_dir": "s3://b/p.zip", "excludes": ["a"], "env_vars": {"A": "1"}});
        // Lists replaced, never concatenated; untouched fields kept; child-only fields added.
        let merged = merge_child(&parent, &json!({"excludes": ["b"], "conda": "x"})).unwrap();
        assert_eq!(
            merged,
            json!({"working_dir": "s3://b/p.zip", "excludes": ["b"], "conda": "x", "env_vars": {"A": "1"}})
        );
        // A null child field is absent.
        assert_eq!(
            merge_child(&parent, &json!({"working_dir": null})).unwrap(),
            parent
        );
        let e = merge_child(&parent, &json!({"working_dir": "./code"})).unwrap_err();
        assert_eq!(
            e,
            MergeError::LocalPath {
                field: "working_dir",
                path: "./code".into()
            }
        );
        assert!(
            e.to_string().starts_with("./code is not a valid URI."),
            "{e}"
        );
        assert_eq!(e.code(), codes::RTE_MERGE);
        let e = merge_child(&parent, &json!({"py_modules": ["gs://b/m.zip", "mod"]})).unwrap_err();
        assert_eq!(
            e,
            MergeError::LocalPath {
                field: "py_modules",
                path: "mod".into()
            }
        );
        // The parent's own local paths are fine (they belong to the job).
        assert!(merge_child(&json!({"working_dir": "."}), &json!({})).is_ok());
        let exclusive = |message: &str| {
            Err(MergeError::Exclusive {
                message: message.into(),
            })
        };
        assert_eq!(
            merge_child(&json!({"conda": "x"}), &json!({"pip": ["a"]})),
            exclusive(PIP_UV_CONDA)
        );
        // Issue 7, item 9: the other fields Ray refuses together, after merging too.
        assert_eq!(
            merge_child(&json!({"pip": ["a"]}), &json!({"uv": ["b"]})),
            exclusive(PIP_UV_CONDA)
        );
        assert_eq!(
            merge_job(&json!({"image_uri": "r/i:1"}), &json!({"pip": ["a"]})),
            exclusive(
                "The 'image_uri' field currently cannot be used together with other fields of \
                 runtime_env. Specified fields: {'pip'}"
            )
        );
        assert!(merge_child(
            &json!({"image_uri": "r/i:1"}),
            &json!({"env_vars": {"A": "1"}, "config": {"eager_install": true}})
        )
        .is_ok());
        assert_eq!(
            merge_child(&json!([]), &json!({})),
            Err(MergeError::NotAMap {
                which: "parent",
                found: "an array"
            })
        );
        assert!(matches!(
            merge_child(&json!({}), &json!({"env_vars": ["A=1"]})),
            Err(MergeError::EnvVarsNotAMap { which: "child", .. })
        ));
    }

    #[test]
    fn job_rules() {
        let submit = json!({"working_dir": ".", "env_vars": {"A": "1"}});
        let init = json!({"pip": ["x"], "env_vars": {"B": "2"}});
        assert_eq!(
            merge_job(&submit, &init).unwrap(),
            json!({"working_dir": ".", "pip": ["x"], "env_vars": {"A": "1", "B": "2"}})
        );
        let init =
            json!({"working_dir": "s3://b/c.zip", "pip": ["x"], "env_vars": {"A": "1", "C": "3"}});
        let e = merge_job(&submit, &init).unwrap_err();
        assert_eq!(
            e,
            MergeError::Conflict {
                fields: vec!["working_dir".into()],
                env_vars: vec!["A".into()]
            }
        );
        assert_eq!(
            e.to_string(),
            "the job's runtime_env and ray.init's runtime_env conflict: both set `working_dir`; \
             both set the environment variables `A`. Specifying the same runtime_env fields or \
             the same environment variable keys is not allowed."
        );
        // Same field, even with equal values, is a conflict; env_vars on both sides is not.
        assert!(merge_job(&json!({"pip": ["a"]}), &json!({"pip": ["a"]})).is_err());
        assert_eq!(
            merge_job(
                &json!({"env_vars": {"A": "1"}}),
                &json!({"env_vars": {"B": "1"}})
            )
            .unwrap(),
            json!({"env_vars": {"A": "1", "B": "1"}})
        );
        assert_eq!(merge_job(&json!({}), &json!({})).unwrap(), json!({}));
    }

    fn env(text: &str) -> RuntimeEnv {
        let file = Arc::new(SourceFile::new("env.json", text));
        let mut d = Diagnostics::new(file.clone());
        parse(file, Path::new("/"), Level::Job, RayGeneration::V2, &mut d).unwrap()
    }

    #[test]
    fn isolation() {
        let spec = "base_image: anyscale/ray:2.9.0-py310\n\
                    python:\n  pip_packages: [requests, torch]\n  conda_packages: [pkutils]\n";
        let compiled = crate::compile(
            "spec.yaml",
            spec.as_bytes(),
            &crate::config::Config::default(),
            &crate::CompileOptions::default(),
        )
        .unwrap();
        let plan = &compiled.plan;
        let all = |v: Vec<(String, String)>| {
            let mut v: Vec<String> = v.into_iter().map(|(k, p)| format!("{k}:{p}")).collect();
            v.sort();
            v
        };
        let everything = ["conda:pkutils", "pip:requests", "pip:torch"];
        let pip = env(r#"{"pip": ["x"]}"#);
        let conda = env(r#"{"conda": {"dependencies": ["numpy"]}}"#);
        let neither = env(r#"{"env_vars": {"A": "1"}}"#);
        assert_eq!(
            all(isolated_packages(plan, &pip, RayGeneration::V1)),
            everything
        );
        assert!(isolated_packages(plan, &pip, RayGeneration::V2).is_empty());
        assert_eq!(
            all(isolated_packages(plan, &conda, RayGeneration::V1)),
            everything
        );
        assert_eq!(
            all(isolated_packages(plan, &conda, RayGeneration::V2)),
            everything
        );
        assert!(isolated_packages(plan, &neither, RayGeneration::V1).is_empty());
        assert!(isolated_packages(plan, &neither, RayGeneration::V2).is_empty());
        // An empty pip list is dropped, so under Ray 1 it isolates nothing (truthiness).
        let empty = env(r#"{"pip": []}"#);
        assert!(isolated_packages(plan, &empty, RayGeneration::V1).is_empty());
    }
}
