//! The UI's pages about what the store holds: the environments, one environment's history,
//! one revision (the diff and build pages are [`super::diff`] and [`super::builds`]). Each
//! handler reads what it shows through the use case the API and the CLI call for the same
//! question (`ops::revisions`, the server's cache and jobs) and turns the result into a
//! template context; nothing here decides anything about specs, plans or revisions.
//!
//! Decisions:
//! - Where a revision came from is read, never guessed: a build record naming it (an engine
//!   build, with its engine and start), a rollback's annotations, a build of this server, the
//!   plan annotation `envc import` writes, or a build id from another store (pulled); what has
//!   none of these was assembled without an engine by the CLI.

use super::{blocking, human_size, render, short_digest, PageResult};
use crate::ops::{self, revisions};
use crate::plan::Step;
use crate::server::api::{env_name, identifier};
use crate::server::jobs::BuildView;
use crate::server::AppState;
use crate::store::annotations::{BUILD_ID, ENGINE, PLAN};
use crate::store::builds::{BuildRecord, BuildStatus};
use crate::store::Revision;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use minijinja::Value;
use serde::Serialize;
use serde_json::Value as Json;
use std::sync::Arc;

/// How many of the server's builds the front page lists.
const RECENT_BUILDS: usize = 20;

/// A template value from anything serialisable.
pub(super) fn ctx(value: impl Serialize) -> Value {
    Value::from(minijinja::value::Serde(value))
}

#[derive(Serialize)]
struct JobRow {
    id: String,
    name: String,
    status: &'static str,
    created: String,
    revision: Option<String>,
    error: Option<String>,
}

impl From<&BuildView> for JobRow {
    fn from(b: &BuildView) -> JobRow {
        JobRow {
            id: b.id.clone(),
            name: b.name.clone(),
            status: b.status.as_str(),
            created: b.created.clone(),
            revision: b.revision.clone(),
            error: b.error.clone(),
        }
    }
}

pub(super) async fn index(State(state): State<Arc<AppState>>) -> PageResult {
    let envs = {
        let state = state.clone();
        blocking(move || Ok(revisions::environments(state.store()?)?)).await?
    };
    #[derive(Serialize)]
    struct Row {
        name: String,
        revisions: usize,
        latest: String,
        latest_rev: String,
        manifest: String,
        manifest_short: String,
    }
    let rows: Vec<Row> = envs
        .into_iter()
        .map(|e| Row {
            latest_rev: e.latest.rsplit(':').next().unwrap_or("").to_string(),
            manifest_short: short_digest(&e.manifest),
            name: e.name,
            revisions: e.revisions,
            latest: e.latest,
            manifest: e.manifest,
        })
        .collect();
    let builds: Vec<JobRow> = state
        .jobs
        .list()
        .iter()
        .take(RECENT_BUILDS)
        .map(JobRow::from)
        .collect();
    Ok(render(
        StatusCode::OK,
        "index.html",
        minijinja::context! { environments => ctx(rows), builds => ctx(builds) },
    ))
}

/// Where a revision came from (module docs).
#[derive(Serialize)]
struct Origin {
    /// `built`, `assembled`, `rollback`, `imported`, `pulled`.
    kind: &'static str,
    text: String,
    time: Option<String>,
    /// A build page with the log.
    build: Option<String>,
}

fn origin(r: &Revision, records: &[BuildRecord], jobs: &[BuildView]) -> Origin {
    let reference = r.reference();
    if let Some(b) = records
        .iter()
        .find(|b| b.status == BuildStatus::Succeeded && b.revision.as_deref() == Some(&reference))
    {
        return Origin {
            kind: "built",
            text: format!(
                "built by {} in {:.1} s",
                b.engine.as_deref().unwrap_or("an engine"),
                b.seconds
            ),
            time: Some(b.started.clone()),
            build: Some(b.id.clone()),
        };
    }
    if let Some(to) = r.annotation(crate::store::annotations::ROLLBACK_TO) {
        let from = r
            .annotation(crate::store::annotations::ROLLED_BACK_FROM)
            .map(|f| format!(" (from {}:{f})", r.name))
            .unwrap_or_default();
        return Origin {
            kind: "rollback",
            text: format!("rollback to {}:{to}{from}", r.name),
            time: None,
            build: None,
        };
    }
    // The oldest of this server's builds that committed it (a later one found it unchanged).
    if let Some(j) = jobs
        .iter()
        .rev()
        .find(|j| j.revision.as_deref() == Some(&reference))
    {
        return Origin {
            kind: "assembled",
            text: "built by this server".into(),
            time: Some(j.created.clone()),
            build: Some(j.id.clone()),
        };
    }
    if r.annotation(PLAN).is_some() {
        return Origin {
            kind: "imported",
            text: "imported (envc import)".into(),
            time: None,
            build: None,
        };
    }
    if let Some(id) = r.annotation(BUILD_ID) {
        return Origin {
            kind: "pulled",
            text: format!(
                "built by {} in another store (build {id}), pulled",
                r.annotation(ENGINE).unwrap_or("an engine")
            ),
            time: None,
            build: None,
        };
    }
    Origin {
        kind: "assembled",
        text: "assembled without an engine".into(),
        time: None,
        build: None,
    }
}

pub(super) async fn environment(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
) -> PageResult {
    let name = env_name(&name)?;
    let jobs: Vec<BuildView> = state
        .jobs
        .list()
        .into_iter()
        .filter(|j| j.name == name.as_str())
        .collect();
    let (history, stored) = {
        let (state, name, has_jobs) = (state.clone(), name.clone(), !jobs.is_empty());
        blocking(move || {
            let store = state.store()?;
            let history = match revisions::history(store, Some(&name)) {
                Ok(h) => h,
                // The server's own builds of a name with nothing stored yet (a first build
                // running or failed) still have a page.
                Err(ops::Error::NameNotFound { .. }) if has_jobs => revisions::History {
                    builds: Vec::new(),
                    revisions: Vec::new(),
                },
                Err(e) => return Err(e.into()),
            };
            let stored = store.revisions(Some(&name))?;
            Ok((history, stored))
        })
        .await?
    };
    #[derive(Serialize)]
    struct Row {
        reference: String,
        revision: u32,
        manifest: String,
        manifest_short: String,
        spec_digest: Option<String>,
        spec_short: Option<String>,
        base: Option<String>,
        origin: Origin,
        previous: Option<String>,
        latest: bool,
    }
    let last = history.revisions.len().saturating_sub(1);
    let mut rows: Vec<Row> = history
        .revisions
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let origin = match stored.iter().find(|r| r.revision == v.revision) {
                Some(r) => origin(r, &history.builds, &jobs),
                None => Origin {
                    kind: "assembled",
                    text: "-".into(),
                    time: None,
                    build: None,
                },
            };
            Row {
                reference: v.reference.clone(),
                revision: v.revision,
                manifest_short: short_digest(&v.manifest),
                manifest: v.manifest.clone(),
                spec_short: v.spec_digest.as_deref().map(short_digest),
                spec_digest: v.spec_digest.clone(),
                base: v.base.clone(),
                origin,
                previous: i
                    .checked_sub(1)
                    .map(|p| history.revisions[p].reference.clone()),
                latest: i == last,
            }
        })
        .collect();
    rows.reverse();
    #[derive(Serialize)]
    struct Failed {
        id: String,
        status: String,
        started: String,
        engine: Option<String>,
        error: Option<String>,
        failing_step: Option<String>,
    }
    let failed: Vec<Failed> = history
        .builds
        .iter()
        .rev()
        .filter(|b| b.status != BuildStatus::Succeeded)
        .map(|b| Failed {
            id: b.id.clone(),
            status: b.status.to_string(),
            started: b.started.clone(),
            engine: b.engine.clone(),
            error: b.error.clone(),
            failing_step: b.failing_step.clone(),
        })
        .collect();
    let server_builds: Vec<JobRow> = jobs.iter().map(JobRow::from).collect();
    Ok(render(
        StatusCode::OK,
        "environment.html",
        minijinja::context! {
            name => name.as_str(),
            revisions => ctx(rows),
            failed => ctx(failed),
            server_builds => ctx(server_builds),
        },
    ))
}

#[derive(Serialize)]
struct Packages {
    ecosystem: &'static str,
    uid: u32,
    packages: Vec<String>,
}

#[derive(Serialize)]
struct Layer {
    digest: String,
    short: String,
    size: u64,
    size_human: String,
    media_type: String,
    hermetic: bool,
}

pub(super) async fn revision(
    State(state): State<Arc<AppState>>,
    Path((name, rev)): Path<(String, String)>,
) -> PageResult {
    let id = identifier(&name, &rev)?;
    let jobs: Vec<BuildView> = state.jobs.list();
    let (cached, views, origin, dockerfile) = blocking(move || {
        let store = state.store()?;
        let cached = state.cache.show(store, &id)?;
        let detail = &cached.detail;
        let views = state.cache.list(store, &id.name)?;
        let stored = store.revisions(Some(&id.name))?;
        let records = store.builds(Some(id.name.as_str()))?;
        let origin = stored
            .iter()
            .find(|r| r.revision == detail.revision.revision)
            .map(|r| origin(r, &records, &jobs));
        let options = crate::emit::dockerfile::Options {
            mirror: state.config.mirror.clone(),
            ..Default::default()
        };
        let dockerfile = crate::emit::dockerfile::render(&detail.plan, &options)
            .map_err(|e| format!("the Dockerfile cannot be rendered: {e}"));
        Ok((cached.clone(), views, origin, dockerfile))
    })
    .await?;
    let detail = &cached.detail;
    let v = &detail.revision;
    let position = views.iter().position(|x| x.revision == v.revision);
    let previous = position
        .and_then(|p| p.checked_sub(1))
        .map(|p| views[p].reference.clone());
    let latest = views.last().map(|x| x.reference.clone());
    let is_latest = latest.as_deref() == Some(v.reference.as_str());

    let mut env = Vec::new();
    let mut packages = Vec::new();
    let mut post_build = Vec::new();
    for step in &detail.plan.steps {
        match step {
            Step::Env { vars } => env.extend(
                vars.iter()
                    .map(|e| (e.name.as_str().to_string(), e.value.canonical())),
            ),
            Step::Debian { uid, packages: p } => packages.push(Packages {
                ecosystem: "debian",
                uid: *uid,
                packages: p.iter().map(|p| p.as_str().to_string()).collect(),
            }),
            Step::Conda { uid, packages: p } => packages.push(Packages {
                ecosystem: "conda",
                uid: *uid,
                packages: p.iter().map(|p| p.as_str().to_string()).collect(),
            }),
            Step::Pip { uid, packages: p } => packages.push(Packages {
                ecosystem: "pip",
                uid: *uid,
                packages: p.iter().map(|p| p.as_str().to_string()).collect(),
            }),
            Step::Run { uid, command } => post_build.push((*uid, command.clone())),
        }
    }
    let hermetic = detail.hermetic_layers.clone().unwrap_or_default();
    let layers: Vec<Layer> = detail
        .layers
        .iter()
        .map(|l| {
            let digest = l.digest.to_string();
            Layer {
                short: short_digest(&digest),
                hermetic: hermetic.contains(&digest),
                digest,
                size: l.size,
                size_human: human_size(l.size),
                media_type: l.media_type.clone(),
            }
        })
        .collect();
    let total = human_size(detail.layers.iter().map(|l| l.size).sum());
    let locked: Vec<(String, String, String)> = detail
        .locked
        .iter()
        .flatten()
        .flat_map(|(eco, pkgs)| {
            pkgs.iter()
                .map(move |(n, ver)| (eco.clone(), n.clone(), ver.clone()))
        })
        .collect();
    let pretty = |j: &Json| serde_json::to_string_pretty(j).unwrap_or_else(|e| e.to_string());
    let plan_json = serde_json::to_value(&detail.plan)
        .map(|j| pretty(&j))
        .unwrap_or_else(|e| e.to_string());
    let (dockerfile, dockerfile_error) = match dockerfile {
        Ok(text) => (Some(text), None),
        Err(e) => (None, Some(e)),
    };
    Ok(render(
        StatusCode::OK,
        "revision.html",
        minijinja::context! {
            v => ctx(v),
            origin => ctx(origin),
            provenance => v.provenance.as_ref().map(pretty),
            previous,
            latest,
            is_latest,
            base => ctx(&detail.plan.base),
            env => ctx(env),
            packages => ctx(packages),
            post_build => ctx(post_build),
            layers => ctx(layers),
            total,
            locked => ctx(locked),
            plan_json,
            dockerfile,
            dockerfile_error,
        },
    ))
}
