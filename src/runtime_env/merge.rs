//! Merging runtime environments, and what a runtime environment hides of the cluster's.
//!
//! Two merge rules, both Ray's (`shared/reference/runtime-env.md`, "Merging"): a task or actor
//! environment over its parent ([`merge_child`]: the child's fields replace the parent's,
//! `env_vars` merge per name with the child winning, lists are replaced, and the child may not
//! name local paths), and a job's environment given at submission against the one given to
//! `ray.init` ([`merge_job`]: a union where any shared field or environment variable is a
//! conflict). Both take and return the typed [`RuntimeEnv`]; a field is one the environment
//! sets when [`RuntimeEnv::field_names`] names it (what [`RuntimeEnv::to_value`] writes: an
//! empty list or mapping is no field), and fields envc does not know (`unknown`, a plugin's)
//! merge like any other. A merged environment was written in no one file: its `spans` are
//! empty. Inputs are never mutated. [`isolated_packages`] applies the isolation rule of the
//! chosen Ray generation to a compiled cluster environment.

use super::generation::{RayGeneration, RayRules};
use super::parse::exclusive::exclusive_fields;
use super::parse::RuntimeEnv;
use crate::diag::codes::{self, Code};
use crate::plan::{Plan, Step};
use std::collections::{BTreeMap, BTreeSet};

/// Why two runtime environments cannot be merged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MergeError {
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

/// `over`'s value of every field it sets, `base`'s of the others; `env_vars` per name, `over`'s
/// winning (in `base`'s order, then `over`'s new names).
fn overlay(base: &RuntimeEnv, over: &RuntimeEnv) -> RuntimeEnv {
    fn either<T: Clone>(over: &Option<T>, base: &Option<T>) -> Option<T> {
        over.as_ref().or(base.as_ref()).cloned()
    }
    let mut env_vars = base.env_vars.clone();
    for (name, value) in &over.env_vars {
        match env_vars.iter_mut().find(|(n, _)| n == name) {
            Some(slot) => slot.1.clone_from(value),
            None => env_vars.push((name.clone(), value.clone())),
        }
    }
    let mut unknown = base.unknown.clone();
    unknown.extend(over.unknown.iter().map(|(k, v)| (k.clone(), v.clone())));
    RuntimeEnv {
        working_dir: either(&over.working_dir, &base.working_dir),
        py_modules: either(&over.py_modules, &base.py_modules),
        excludes: if over.excludes.is_empty() {
            base.excludes.clone()
        } else {
            over.excludes.clone()
        },
        pip: if over.has_pip() {
            over.pip.clone()
        } else {
            base.pip.clone()
        },
        conda: either(&over.conda, &base.conda),
        env_vars,
        container: either(&over.container, &base.container),
        image_uri: either(&over.image_uri, &base.image_uri),
        config: if over.config.is_empty() {
            base.config.clone()
        } else {
            over.config.clone()
        },
        unknown,
        spans: BTreeMap::new(),
    }
}

/// The merged environment, unless it breaks a fields-that-exclude-others rule.
fn checked(env: RuntimeEnv) -> Result<RuntimeEnv, MergeError> {
    match exclusive_fields(&env) {
        Some(message) => Err(MergeError::Exclusive { message }),
        None => Ok(env),
    }
}

/// A task or actor environment over its parent's (the job's or a parent task's).
pub fn merge_child(parent: &RuntimeEnv, child: &RuntimeEnv) -> Result<RuntimeEnv, MergeError> {
    if let Some(w) = child.working_dir.as_ref().filter(|w| !w.is_uri()) {
        return Err(MergeError::LocalPath {
            field: "working_dir",
            path: w.raw.clone(),
        });
    }
    if let Some(m) = child.py_modules.iter().flatten().find(|m| !m.is_uri()) {
        return Err(MergeError::LocalPath {
            field: "py_modules",
            path: m.raw.clone(),
        });
    }
    checked(overlay(parent, child))
}

/// Ray 2's job-submit environment against the `ray.init` one: a union, refused when the two
/// share a top-level field or an environment variable.
pub fn merge_job(submit: &RuntimeEnv, init: &RuntimeEnv) -> Result<RuntimeEnv, MergeError> {
    let init_fields = init.field_names();
    let fields: Vec<String> = submit
        .field_names()
        .into_iter()
        .filter(|f| *f != "env_vars" && init_fields.contains(f))
        .map(String::from)
        .collect();
    let names = |env: &RuntimeEnv| -> BTreeSet<String> {
        env.env_vars.iter().map(|(n, _)| n.clone()).collect()
    };
    let init_vars = names(init);
    let env_vars: Vec<String> = names(submit)
        .into_iter()
        .filter(|n| init_vars.contains(n))
        .collect();
    if !fields.is_empty() || !env_vars.is_empty() {
        return Err(MergeError::Conflict { fields, env_vars });
    }
    checked(overlay(submit, init))
}

/// Isolation: which of the cluster environment's pip and conda packages the runtime
/// environment will NOT see, as `("pip" | "conda", entry)` in the plan's order.
///
/// Ray 1 installs a runtime env's `pip` or `conda` in a fresh environment: every cluster
/// package is hidden. Ray 2 layers a runtime env's `pip` on top of the cluster's Python
/// (nothing hidden); only a runtime env `conda` switches to another environment, which hides
/// the cluster's conda and pip packages alike.
pub fn isolated_packages(plan: &Plan, env: &RuntimeEnv, ray: RayRules) -> Vec<(String, String)> {
    let isolates = match ray.generation {
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
    use super::super::parse::{parse, Level, Location, LocationKind};
    use super::*;
    use crate::diag::Diagnostics;
    use crate::input::source::SourceFile;
    use serde_json::{json, Value};
    use std::path::Path;
    use std::sync::Arc;

    /// `value` as the CLI reads it: validated at job level (local paths resolve against `/`).
    fn typed(value: &Value) -> RuntimeEnv {
        env(&value.to_string())
    }

    /// A job-level environment whose `working_dir` and `py_modules` are these local paths.
    fn local(working_dir: Option<&str>, py_modules: &[&str]) -> RuntimeEnv {
        let at = |raw: &str| Location {
            raw: raw.into(),
            kind: LocationKind::LocalDir(Path::new("/job").join(raw)),
        };
        RuntimeEnv {
            working_dir: working_dir.map(at),
            py_modules: (!py_modules.is_empty())
                .then(|| py_modules.iter().map(|m| at(m)).collect()),
            ..RuntimeEnv::default()
        }
    }

    fn child(parent: &Value, child: &Value) -> Result<Value, MergeError> {
        merge_child(&typed(parent), &typed(child)).map(|e| e.to_value())
    }

    fn job(submit: &Value, init: &Value) -> Result<Value, MergeError> {
        merge_job(&typed(submit), &typed(init)).map(|e| e.to_value())
    }

    #[test]
    fn reference_example() {
        let parent =
            typed(&json!({"pip": ["requests", "chess"], "env_vars": {"A": "a", "B": "b"}}));
        let child =
            typed(&json!({"pip": ["torch", "ray[serve]"], "env_vars": {"B": "new", "C": "c"}}));
        let before = (parent.clone(), child.clone());
        let merged = merge_child(&parent, &child).unwrap();
        assert_eq!(
            merged.to_value(),
            json!({"pip": ["torch", "ray[serve]"], "env_vars": {"A": "a", "B": "new", "C": "c"}})
        );
        assert_eq!((parent, child), before, "inputs are not mutated");
    }

    #[test]
    fn child_rules() {
        let parent =
            json!({"working_dir": "s3://b/p.zip", "excludes": ["a"], "env_vars": {"A": "1"}});
        // Lists replaced, never concatenated; untouched fields kept; child-only fields added.
        let merged = child(&parent, &json!({"excludes": ["b"], "conda": "x"})).unwrap();
        assert_eq!(
            merged,
            json!({"working_dir": "s3://b/p.zip", "excludes": ["b"], "conda": "x", "env_vars": {"A": "1"}})
        );
        // A null child field is absent.
        assert_eq!(
            child(&parent, &json!({"working_dir": null})).unwrap(),
            parent
        );
        let e = merge_child(&typed(&parent), &local(Some("./code"), &[])).unwrap_err();
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
        let mut modules = typed(&json!({"py_modules": ["gs://b/m.zip"]}));
        modules
            .py_modules
            .as_mut()
            .unwrap()
            .extend(local(None, &["mod"]).py_modules.unwrap());
        let e = merge_child(&typed(&parent), &modules).unwrap_err();
        assert_eq!(
            e,
            MergeError::LocalPath {
                field: "py_modules",
                path: "mod".into()
            }
        );
        // The parent's own local paths are fine (they belong to the job).
        assert!(child(&json!({"working_dir": "."}), &json!({})).is_ok());
        assert!(merge_child(&local(Some("."), &["m"]), &RuntimeEnv::default()).is_ok());
        let exclusive = |message: &str| {
            Err(MergeError::Exclusive {
                message: message.into(),
            })
        };
        assert_eq!(
            child(&json!({"conda": "x"}), &json!({"pip": ["a"]})),
            exclusive(PIP_UV_CONDA)
        );
        // Issue 7, item 9: the other fields Ray refuses together, after merging too.
        assert_eq!(
            child(&json!({"pip": ["a"]}), &json!({"uv": ["b"]})),
            exclusive(PIP_UV_CONDA)
        );
        assert_eq!(
            job(&json!({"image_uri": "r/i:1"}), &json!({"pip": ["a"]})),
            exclusive(
                "The 'image_uri' field currently cannot be used together with other fields of \
                 runtime_env. Specified fields: {'pip'}"
            )
        );
        assert!(child(
            &json!({"image_uri": "r/i:1"}),
            &json!({"env_vars": {"A": "1"}, "config": {"eager_install": true}})
        )
        .is_ok());
    }

    /// What the JSON merge refused as `NotAMap` and `EnvVarsNotAMap` never reaches the typed
    /// merge: the parser refuses it, with Ray's message.
    #[test]
    fn what_is_not_a_runtime_env_is_refused_before_merging() {
        let refused = |text: &str| {
            let file = Arc::new(SourceFile::new("env.json", text));
            let mut d = Diagnostics::new(file.clone());
            let env = parse(file, Path::new("/"), Level::Job, RayRules::V2_40, &mut d);
            assert!(env.is_none(), "{text}: accepted");
            d.into_vec().into_iter().find(|d| d.is_error()).unwrap()
        };
        let e = refused("[]");
        assert_eq!(e.code, codes::RTE_NOT_A_MAP);
        assert_eq!(
            e.message,
            "runtime_env must be of type dict, got <class 'list'>"
        );
        let e = refused(r#"{"env_vars": ["A=1"]}"#);
        assert_eq!(
            e.message,
            "runtime_env['env_vars'] must be of type Dict[str, str], got <class 'list'>"
        );
    }

    /// Plugin fields (`unknown`) merge like any other: the child's replaces the parent's, and
    /// in a job merge a shared one is a conflict.
    #[test]
    fn unknown_fields_merge_like_known_ones() {
        let parent = json!({"nsight": "default", "my_plugin": {"a": 1}, "env_vars": {"A": "1"}});
        assert_eq!(
            child(&parent, &json!({"my_plugin": {"b": [2]}})).unwrap(),
            json!({"nsight": "default", "my_plugin": {"b": [2]}, "env_vars": {"A": "1"}})
        );
        assert_eq!(
            job(&parent, &json!({"my_plugin": 1})),
            Err(MergeError::Conflict {
                fields: vec!["my_plugin".into()],
                env_vars: vec![]
            })
        );
        // An empty list or mapping is no field: it replaces nothing and conflicts with nothing.
        let full = json!({"pip": ["a"], "excludes": ["x"], "config": {"eager_install": false}});
        let empty = json!({"pip": [], "excludes": [], "env_vars": {}, "config": {}});
        assert_eq!(child(&full, &empty).unwrap(), full);
        assert_eq!(job(&full, &empty).unwrap(), full);
    }

    #[test]
    fn field_names_are_what_to_value_writes() {
        for v in [
            json!({}),
            json!({"working_dir": "s3://b/p.zip", "py_modules": [], "excludes": ["a"]}),
            json!({"pip": {"packages": ["a"], "pip_check": true}, "env_vars": {"A": "1"}}),
            json!({"pip": [], "excludes": [], "env_vars": {}, "config": {}}),
            json!({"conda": {"dependencies": ["x"]}, "config": {"setup_timeout_seconds": 5}}),
            json!({"container": {"image": "i"}}),
            json!({"image_uri": "r/i:1", "env_vars": {"A": "1"}}),
            json!({"uv": ["a"], "plugin": null, "other": 1}),
        ] {
            let env = typed(&v);
            let written = env.to_value();
            let keys: BTreeSet<&str> = written
                .as_object()
                .unwrap()
                .keys()
                .map(String::as_str)
                .collect();
            assert_eq!(env.field_names(), keys, "{v}");
        }
    }

    #[test]
    fn job_rules() {
        let submit = json!({"working_dir": ".", "env_vars": {"A": "1"}});
        let init = json!({"pip": ["x"], "env_vars": {"B": "2"}});
        assert_eq!(
            job(&submit, &init).unwrap(),
            json!({"working_dir": ".", "pip": ["x"], "env_vars": {"A": "1", "B": "2"}})
        );
        let init =
            json!({"working_dir": "s3://b/c.zip", "pip": ["x"], "env_vars": {"A": "1", "C": "3"}});
        let e = job(&submit, &init).unwrap_err();
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
        assert!(job(&json!({"pip": ["a"]}), &json!({"pip": ["a"]})).is_err());
        assert_eq!(
            job(
                &json!({"env_vars": {"A": "1"}}),
                &json!({"env_vars": {"B": "1"}})
            )
            .unwrap(),
            json!({"env_vars": {"A": "1", "B": "1"}})
        );
        assert_eq!(job(&json!({}), &json!({})).unwrap(), json!({}));
    }

    fn env(text: &str) -> RuntimeEnv {
        let file = Arc::new(SourceFile::new("env.json", text));
        let mut d = Diagnostics::new(file.clone());
        parse(file, Path::new("/"), Level::Job, RayRules::V2_40, &mut d).unwrap()
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
        assert_eq!(all(isolated_packages(plan, &pip, RayRules::V1)), everything);
        assert!(isolated_packages(plan, &pip, RayRules::V2_40).is_empty());
        assert_eq!(
            all(isolated_packages(plan, &conda, RayRules::V1)),
            everything
        );
        assert_eq!(
            all(isolated_packages(plan, &conda, RayRules::V2_40)),
            everything
        );
        assert!(isolated_packages(plan, &neither, RayRules::V1).is_empty());
        assert!(isolated_packages(plan, &neither, RayRules::V2_40).is_empty());
        // An empty pip list is dropped, so under Ray 1 it isolates nothing (truthiness).
        let empty = env(r#"{"pip": []}"#);
        assert!(isolated_packages(plan, &empty, RayRules::V1).is_empty());
    }
}
