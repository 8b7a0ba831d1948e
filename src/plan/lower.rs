//! `lower`: validated spec → [`Plan`]. The single place where defaults and step order are
//! decided: `ENV` first (present for the whole build and at run time), then Debian packages as
//! root, then conda, then pip as the image user (pip last so it can override conda's
//! packages), then each post-build command as the image user. Each kind is its own step so a
//! change to pip packages leaves the apt step's cache valid.

use crate::plan::{Base, EnvVar, Form, Plan, Schema, Step};
use crate::spec::validate::{ValidByod, ValidStandard, Validated};
use crate::types::image_ref::RayVersion;

pub fn lower(v: &Validated) -> Plan {
    match v {
        Validated::Standard(s) => standard(s),
        Validated::Byod(b) => byod(b),
    }
}

fn env_step(env: &[(crate::types::env::VarName, crate::types::env::EnvValue)]) -> Option<Step> {
    (!env.is_empty()).then(|| Step::Env {
        vars: env
            .iter()
            .map(|(name, value)| EnvVar {
                name: name.clone(),
                value: value.clone(),
            })
            .collect(),
    })
}

fn standard(s: &ValidStandard) -> Plan {
    // Without facts there is no step that runs as the image user (validation refuses them).
    let uid = s.facts.as_ref().map_or(0, |f| f.uid);
    let mut steps: Vec<Step> = env_step(&s.env).into_iter().collect();
    if !s.debian.is_empty() {
        steps.push(Step::Debian {
            uid: 0,
            packages: s.debian.clone(),
        });
    }
    if !s.conda.is_empty() {
        steps.push(Step::Conda {
            uid,
            packages: s.conda.clone(),
        });
    }
    if !s.pip.is_empty() {
        steps.push(Step::Pip {
            uid,
            packages: s.pip.clone(),
        });
    }
    steps.extend(s.post_build.iter().map(|c| Step::Run {
        uid,
        command: c.as_str().to_string(),
    }));
    let tag = s.base.anyscale.as_ref();
    Plan {
        schema: Schema,
        form: Form::Standard,
        base: Base {
            reference: s.base.reference.to_string(),
            family: tag.map(|t| {
                t.family
                    .repository()
                    .trim_start_matches("anyscale/")
                    .to_string()
            }),
            ray_version: tag.map(|t| match &t.ray {
                RayVersion::Release { version } | RayVersion::Rc { version } => version.clone(),
                RayVersion::Nightly => "nightly".into(),
                RayVersion::PinnedNightly => "pinned-nightly".into(),
                RayVersion::Latest => "latest".into(),
            }),
            python: tag.and_then(|t| t.python.clone()),
            accelerator: tag.and_then(|t| t.accelerator.clone()),
            registry_login_secret: None,
        },
        image: s.facts.clone(),
        steps,
    }
}

fn byod(b: &ValidByod) -> Plan {
    Plan {
        schema: Schema,
        form: Form::Byod,
        base: Base {
            reference: b.image.to_string(),
            family: None,
            ray_version: Some(b.ray_version.clone()),
            python: None,
            accelerator: None,
            registry_login_secret: b.registry_login_secret.clone(),
        },
        image: None,
        steps: env_step(&b.env).into_iter().collect(),
    }
}
