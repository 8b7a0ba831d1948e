//! `bakefile`: a BuildKit bake file (`docker buildx bake`) for many specs at once, one target
//! per environment (the backend is [`crate::emit::bakefile`]). Not [`super::bake`], which bakes
//! a runtime env onto a stored revision.
//!
//! Decisions: each spec is named by `--name NAME=SPEC` (which also adds SPEC when it is not
//! among the arguments; SPEC is matched as written) or else by its file stem, which must be
//! an environment name. Names are settled before anything is compiled, so a naming mistake
//! costs no compilation. Then every spec is compiled (its diagnostics to the log, in the order
//! given, as `envc check` prints them), so one run reports every invalid spec; any refusal
//! means no bake file. Each Dockerfile is rendered exactly as `envc dockerfile` renders it:
//! the same options, with the mirror of the spec's own configuration.

use super::compile::{compile_file, Refused, SpecInputs};
use super::{Error, Log};
use crate::config::Configs;
use crate::emit::{bakefile, dockerfile};
use crate::types::digest::Digest;
use crate::types::name::EnvName;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// What to put in the bake file.
#[derive(Debug, Clone, Default)]
pub struct Inputs {
    /// The spec files, in the order given.
    pub specs: Vec<PathBuf>,
    /// `--name NAME=SPEC`.
    pub names: Vec<(String, PathBuf)>,
    pub spec_inputs: SpecInputs,
    /// The Dockerfile options (`--heredoc`, `--cache-mounts`, `--templates`); the mirror is
    /// each spec's own.
    pub dockerfile: dockerfile::Options,
    /// The shared target's settings and the tag prefix.
    pub bake: bakefile::Options,
}

/// One environment of the bake file.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: EnvName,
    /// Its bake target's name.
    pub target: String,
    pub spec: PathBuf,
    pub digest: Digest,
}

/// A bake file and what is in it.
#[derive(Debug, Clone)]
pub struct Bakefile {
    /// The document, canonical JSON with a trailing newline.
    pub text: String,
    /// Its environments, sorted by name.
    pub entries: Vec<Entry>,
}

/// Names every spec: `--name` first, then the file stems; `Err` on a bad or repeated name.
fn names(inputs: &Inputs) -> Result<Vec<(EnvName, PathBuf)>, Error> {
    name_specs(&inputs.specs, &inputs.names)
}

/// The environment name of each spec, for every command that takes many: `--name NAME=SPEC`
/// (which also adds SPEC), else the file stem; a name or a spec given twice is refused.
pub(crate) fn name_specs(
    specs: &[PathBuf],
    names: &[(String, PathBuf)],
) -> Result<Vec<(EnvName, PathBuf)>, Error> {
    let mut given: Vec<(&Path, EnvName)> = Vec::new();
    for (name, spec) in names {
        if given.iter().any(|(p, _)| *p == spec.as_path()) {
            return Err(Error::SpecNamedTwice {
                spec: spec.display().to_string(),
            });
        }
        given.push((spec, EnvName::parse(name)?));
    }
    let mut specs: Vec<&Path> = specs.iter().map(PathBuf::as_path).collect();
    for (spec, _) in &given {
        if !specs.contains(spec) {
            specs.push(spec);
        }
    }
    let mut out = Vec::new();
    let mut seen: BTreeMap<EnvName, &Path> = BTreeMap::new();
    for spec in specs {
        let name = match given.iter().find(|(p, _)| *p == spec) {
            Some((_, name)) => name.clone(),
            None => {
                let stem = spec
                    .file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_default();
                EnvName::parse(&stem).map_err(|source| Error::StemName {
                    spec: spec.display().to_string(),
                    source,
                })?
            }
        };
        if let Some(other) = seen.insert(name.clone(), spec) {
            return Err(Error::NameTwice {
                name: name.to_string(),
                a: other.display().to_string(),
                b: spec.display().to_string(),
            });
        }
        out.push((name, spec.to_path_buf()));
    }
    Ok(out)
}

/// Compiles every spec and writes the bake file's text; `Ok(Err(_))` says why there is none
/// (the diagnostics are in the log). `Err` when a name is wrong or a spec cannot be read.
pub fn bakefile(inputs: &Inputs, log: &dyn Log) -> Result<Result<Bakefile, Refused>, Error> {
    let named = names(inputs)?;
    if named.iter().filter(|(_, p)| p.as_os_str() == "-").count() > 1 {
        return Err(Error::StdinTwice);
    }
    let mut configs = Configs::default();
    let mut refused = None;
    let mut envs = Vec::new();
    let mut entries = Vec::new();
    for (name, spec) in named {
        let c = compile_file(&spec, &inputs.spec_inputs, log, &mut configs)?;
        let compiled = match c.outcome {
            Ok(compiled) => compiled,
            Err(diags) => {
                log.diagnostics(&diags);
                refused = Some(Refused::Invalid);
                continue;
            }
        };
        log.diagnostics(&compiled.warnings);
        if c.deny && !compiled.warnings.is_empty() {
            refused.get_or_insert(Refused::WarningsDenied);
            continue;
        }
        let options = dockerfile::Options {
            mirror: c.mirror,
            ..inputs.dockerfile.clone()
        };
        let text = dockerfile::render(&compiled.plan, &options)?;
        log.verbose(&format!(
            "{}: environment `{name}`, spec digest {}",
            spec.display(),
            compiled.digest
        ));
        entries.push(Entry {
            target: bakefile::target_name(&name),
            name: name.clone(),
            spec,
            digest: compiled.digest,
        });
        envs.push(bakefile::Environment {
            name,
            digest: compiled.digest,
            dockerfile: text,
        });
    }
    if let Some(r) = refused {
        return Ok(Err(r));
    }
    let text = bakefile::render(&envs, &inputs.bake)?;
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(Ok(Bakefile { text, entries }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inputs(specs: &[&str], names: &[(&str, &str)]) -> Inputs {
        Inputs {
            specs: specs.iter().map(PathBuf::from).collect(),
            names: names
                .iter()
                .map(|(n, p)| (n.to_string(), PathBuf::from(p)))
                .collect(),
            ..Inputs::default()
        }
    }

    fn named(i: &Inputs) -> Result<Vec<(String, String)>, String> {
        names(i)
            .map(|v| {
                v.into_iter()
                    .map(|(n, p)| (n.to_string(), p.display().to_string()))
                    .collect()
            })
            .map_err(|e| e.to_string())
    }

    #[test]
    fn stems_name_specs_unless_named() {
        let i = inputs(&["envs/train.yaml", "serve.yml"], &[("web", "serve.yml")]);
        assert_eq!(
            named(&i).unwrap(),
            [
                ("train".into(), "envs/train.yaml".into()),
                ("web".into(), "serve.yml".into())
            ]
        );
        // `--name` alone adds its spec.
        let i = inputs(&[], &[("app", "x/Env File.yaml")]);
        assert_eq!(
            named(&i).unwrap(),
            [("app".into(), "x/Env File.yaml".into())]
        );
    }

    #[test]
    fn bad_stems_and_repeated_names_are_refused() {
        let e = names(&inputs(&["My_Env.yaml"], &[])).unwrap_err();
        assert_eq!(e.exit_code(), crate::ops::EXIT_NO);
        assert!(e.to_string().contains("--name NAME=My_Env.yaml"), "{e}");
        let e = names(&inputs(&["a/app.yaml", "b/app.yaml"], &[])).unwrap_err();
        assert_eq!(e.exit_code(), crate::ops::EXIT_ERROR);
        assert!(
            e.to_string()
                .contains("`a/app.yaml` and `b/app.yaml` are both named `app`"),
            "{e}"
        );
        let e = names(&inputs(&["a.yaml"], &[("x", "a.yaml"), ("y", "a.yaml")])).unwrap_err();
        assert!(matches!(e, Error::SpecNamedTwice { .. }), "{e}");
        let e = names(&inputs(&["a.yaml"], &[("Bad", "a.yaml")])).unwrap_err();
        assert!(matches!(e, Error::Name(_)), "{e}");
    }
}
