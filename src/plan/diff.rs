//! What changed between two environments, in the terms a reviewer thinks in: the base image,
//! environment variables, packages per ecosystem (added, removed, or the same package with a
//! different spec), post-build commands and, for stored revisions, layers. Works on typed
//! plans, so a stored revision (whose plan is read back from its image) and a spec file
//! (compiled now) compare alike.

use super::{Plan, Step};
use std::collections::BTreeMap;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "change", rename_all = "lowercase")]
pub enum Change {
    Added {
        key: String,
        value: String,
    },
    Removed {
        key: String,
        value: String,
    },
    Changed {
        key: String,
        from: String,
        to: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PlanDiff {
    /// `(from, to)` when the base image differs.
    pub base: Option<(String, String)>,
    pub env: Vec<Change>,
    /// By ecosystem: `debian`, `conda`, `pip`.
    pub packages: BTreeMap<String, Vec<Change>>,
    pub post_build: Vec<Change>,
}

impl PlanDiff {
    pub fn is_empty(&self) -> bool {
        self.base.is_none()
            && self.env.is_empty()
            && self.packages.values().all(Vec::is_empty)
            && self.post_build.is_empty()
    }
}

/// The package name an entry installs, for pairing "changed" entries.
pub fn package_name(kind: &str, entry: &str) -> String {
    match kind {
        "debian" => entry
            .split(['=', ':', '/'])
            .next()
            .unwrap_or(entry)
            .to_string(),
        "pip" => match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(entry) {
            Ok(r) => r.name.to_string(),
            Err(_) => entry
                .split("#egg=")
                .nth(1)
                .map(|n| n.split('&').next().unwrap_or(n).to_lowercase())
                .unwrap_or_else(|| entry.to_string()),
        },
        "conda" => rattler_conda_types::MatchSpec::from_str(
            entry,
            rattler_conda_types::ParseStrictness::Lenient,
        )
        .ok()
        .map(|m| m.name.to_string())
        .unwrap_or_else(|| entry.to_string()),
        _ => entry.to_string(),
    }
}

fn env_vars(plan: &Plan) -> Vec<(String, String)> {
    plan.steps
        .iter()
        .flat_map(|s| match s {
            Step::Env { vars } => vars.as_slice(),
            _ => &[],
        })
        .map(|v| (v.name.as_str().to_string(), v.value.canonical()))
        .collect()
}

fn packages(plan: &Plan, kind: &str) -> Vec<String> {
    let mut out = Vec::new();
    for step in &plan.steps {
        match (kind, step) {
            ("debian", Step::Debian { packages, .. }) => {
                out.extend(packages.iter().map(|p| p.as_str().to_string()));
            }
            ("conda", Step::Conda { packages, .. }) => {
                out.extend(packages.iter().map(|p| p.as_str().to_string()));
            }
            ("pip", Step::Pip { packages, .. }) => {
                out.extend(packages.iter().map(|p| p.as_str().to_string()));
            }
            _ => {}
        }
    }
    out
}

fn keyed_changes(a: &[(String, String)], b: &[(String, String)]) -> Vec<Change> {
    let mut out = Vec::new();
    for (k, va) in a {
        match b.iter().find(|(kb, _)| kb == k) {
            None => out.push(Change::Removed {
                key: k.clone(),
                value: va.clone(),
            }),
            Some((_, vb)) if vb != va => out.push(Change::Changed {
                key: k.clone(),
                from: va.clone(),
                to: vb.clone(),
            }),
            Some(_) => {}
        }
    }
    for (k, vb) in b {
        if !a.iter().any(|(ka, _)| ka == k) {
            out.push(Change::Added {
                key: k.clone(),
                value: vb.clone(),
            });
        }
    }
    out
}

/// Differences from plan `a` to plan `b`.
pub fn diff(a: &Plan, b: &Plan) -> PlanDiff {
    let (ba, bb) = (a.base.reference.clone(), b.base.reference.clone());
    let mut d = PlanDiff {
        base: (ba != bb).then_some((ba, bb)),
        env: keyed_changes(&env_vars(a), &env_vars(b)),
        ..PlanDiff::default()
    };
    for kind in ["debian", "conda", "pip"] {
        let named = |p: &Plan| -> Vec<(String, String)> {
            packages(p, kind)
                .into_iter()
                .map(|e| (package_name(kind, &e), e))
                .collect()
        };
        let changes = keyed_changes(&named(a), &named(b));
        if !changes.is_empty() {
            d.packages.insert(kind.to_string(), changes);
        }
    }
    let commands = |p: &Plan| -> Vec<String> {
        p.steps
            .iter()
            .filter_map(|s| match s {
                Step::Run { command, .. } => Some(command.clone()),
                _ => None,
            })
            .collect()
    };
    let (ca, cb) = (commands(a), commands(b));
    if ca != cb {
        d.post_build.extend(
            ca.iter()
                .filter(|c| !cb.contains(c))
                .map(|c| Change::Removed {
                    key: String::new(),
                    value: c.clone(),
                }),
        );
        d.post_build.extend(
            cb.iter()
                .filter(|c| !ca.contains(c))
                .map(|c| Change::Added {
                    key: String::new(),
                    value: c.clone(),
                }),
        );
        if d.post_build.is_empty() {
            // Same commands, new order: order matters, so say so.
            d.post_build.push(Change::Changed {
                key: "order".into(),
                from: ca.join(" ; "),
                to: cb.join(" ; "),
            });
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A plan from the JSON a test writes (schema and form filled in).
    fn plan(v: serde_json::Value) -> Plan {
        let mut v = v;
        v["schema"] = json!(crate::plan::SCHEMA);
        v["form"] = json!("standard");
        v["image"] = serde_json::Value::Null;
        for k in [
            "family",
            "ray_version",
            "python",
            "accelerator",
            "registry_login_secret",
        ] {
            v["base"][k] = serde_json::Value::Null;
        }
        for s in v["steps"].as_array_mut().unwrap() {
            if s["kind"] != "env" {
                s["uid"] = json!(1000);
            }
        }
        Plan::from_json(v.to_string().as_bytes()).unwrap()
    }

    #[test]
    fn names_per_ecosystem() {
        assert_eq!(package_name("debian", "vim=2:8.1"), "vim");
        assert_eq!(package_name("debian", "libc6:amd64"), "libc6");
        assert_eq!(
            package_name("pip", "Torch[cuda]>=2; python_version>'3'"),
            "torch"
        );
        assert_eq!(
            package_name(
                "pip",
                "git+https://github.com/ray-project/xgboost_ray@master#egg=xgboost_ray"
            ),
            "xgboost_ray"
        );
        assert_eq!(package_name("conda", "conda-forge::numpy=1.26"), "numpy");
    }

    #[test]
    fn reports_what_a_reviewer_wants() {
        let a = plan(
            json!({"base": {"reference": "anyscale/ray:2.9.0-py310"}, "steps": [
            {"kind": "env", "vars": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}]},
            {"kind": "pip", "packages": ["torch==2.0", "six"]},
            {"kind": "run", "command": "ls"}]}),
        );
        let b = plan(
            json!({"base": {"reference": "anyscale/ray:2.10.0-py310"}, "steps": [
            {"kind": "env", "vars": [{"name": "A", "value": "1"}, {"name": "C", "value": "3"}]},
            {"kind": "pip", "packages": ["torch==2.1", "pandas"]},
            {"kind": "run", "command": "ls"}]}),
        );
        let d = diff(&a, &b);
        assert_eq!(d.base.as_ref().unwrap().1, "anyscale/ray:2.10.0-py310");
        assert_eq!(d.env.len(), 2);
        let pip = &d.packages["pip"];
        assert!(pip.contains(&Change::Changed {
            key: "torch".into(),
            from: "torch==2.0".into(),
            to: "torch==2.1".into()
        }));
        assert!(pip.contains(&Change::Removed {
            key: "six".into(),
            value: "six".into()
        }));
        assert!(pip.contains(&Change::Added {
            key: "pandas".into(),
            value: "pandas".into()
        }));
        assert!(d.post_build.is_empty());
        assert!(diff(&a, &a).is_empty());
    }
}
