//! The UI's pages. Each handler reads what it shows through the use case the API and the CLI
//! call for the same question (`ops::revisions`, `ops::diff`, the server's cache and jobs)
//! and turns the result into a template context; nothing here decides anything about specs,
//! plans or revisions.
//!
//! Decisions:
//! - Where a revision came from is read, never guessed: a build record naming it (an engine
//!   build, with its engine and start), a rollback's annotations, a build of this server, the
//!   plan annotation `envc import` writes, or a build id from another store (pulled); what has
//!   none of these was assembled without an engine by the CLI.
//! - A build page shows the server's in-memory build, or else the store's record and log of
//!   that id, so a failed engine build listed on an environment's page has its log one click
//!   away.
//! - A diff's rows come from the diff document the API serves (`DiffOutcome::document`), so
//!   the page and `GET /v1/diff` never disagree.

use super::{blocking, human_size, render, short_digest, PageResult, UiError};
use crate::ops::{self, revisions};
use crate::plan::Step;
use crate::server::api::{env_name, identifier};
use crate::server::error::ApiError;
use crate::server::jobs::BuildView;
use crate::server::AppState;
use crate::store::annotations::{BUILD_ID, ENGINE, PLAN};
use crate::store::builds::{BuildRecord, BuildStatus};
use crate::store::Revision;
use crate::types::name::Identifier;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use minijinja::Value;
use serde::Serialize;
use serde_json::Value as Json;
use std::sync::Arc;

/// How many of the server's builds the front page lists.
const RECENT_BUILDS: usize = 20;

fn ctx(value: impl Serialize) -> Value {
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
        blocking(move || Ok(revisions::environments(&state.store()?)?)).await?
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
            let history = match revisions::history(&store, Some(&name)) {
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
    let (detail, views, origin, dockerfile) = blocking(move || {
        let store = state.store()?;
        let detail = state.cache.show(&store, &id)?;
        let views = state.cache.list(&store, &id.name)?;
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
        Ok((detail, views, origin, dockerfile))
    })
    .await?;
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

#[derive(serde::Deserialize)]
pub(super) struct DiffQuery {
    a: Option<String>,
    b: Option<String>,
}

/// One row of a side-by-side section: what side a and side b hold for `key`.
#[derive(Serialize)]
struct DiffRow {
    key: String,
    a: Option<String>,
    b: Option<String>,
    change: String,
}

#[derive(Serialize)]
struct DiffSection {
    title: String,
    id: String,
    rows: Vec<DiffRow>,
}

fn change_rows(changes: Option<&Json>) -> Vec<DiffRow> {
    let s = |c: &Json, k: &str| c.get(k).and_then(Json::as_str).map(str::to_string);
    changes
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|c| {
            let change = s(c, "change").unwrap_or_default();
            let (a, b) = match change.as_str() {
                "added" => (None, s(c, "value")),
                "removed" => (s(c, "value"), None),
                _ => (s(c, "from"), s(c, "to")),
            };
            DiffRow {
                key: s(c, "key").unwrap_or_default(),
                a,
                b,
                change,
            }
        })
        .collect()
}

/// The diff document's sections, in the order a reviewer reads them.
fn diff_sections(doc: &Json) -> Vec<DiffSection> {
    let changes = &doc["changes"];
    let mut out = Vec::new();
    let mut push = |title: String, id: &str, rows: Vec<DiffRow>| {
        if !rows.is_empty() {
            out.push(DiffSection {
                title,
                id: id.to_string(),
                rows,
            });
        }
    };
    if let Some([from, to]) = changes["base"].as_array().map(Vec::as_slice) {
        push(
            "Base image".into(),
            "diff-base",
            vec![DiffRow {
                key: "base_image".into(),
                a: from.as_str().map(str::to_string),
                b: to.as_str().map(str::to_string),
                change: "changed".into(),
            }],
        );
    }
    push(
        "Environment variables".into(),
        "diff-env",
        change_rows(changes.get("env")),
    );
    if let Some(packages) = changes["packages"].as_object() {
        for (eco, list) in packages {
            push(
                format!("Packages: {eco}"),
                &format!("diff-packages-{eco}"),
                change_rows(Some(list)),
            );
        }
    }
    push(
        "Post-build commands".into(),
        "diff-post-build",
        change_rows(changes.get("post_build")),
    );
    if let Some(layers) = doc["layers"].as_object() {
        let side = |k: &str| -> Vec<String> {
            layers
                .get(k)
                .and_then(Json::as_array)
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str().map(str::to_string))
                .collect()
        };
        let (la, lb) = (side("a"), side("b"));
        let rows = (0..la.len().max(lb.len()))
            .map(|i| {
                let (a, b) = (la.get(i).cloned(), lb.get(i).cloned());
                let change = match (&a, &b) {
                    (Some(x), Some(y)) if x == y => "same",
                    (Some(_), Some(_)) => "changed",
                    (Some(_), None) => "removed",
                    _ => "added",
                };
                DiffRow {
                    key: format!("layer {}", i + 1),
                    a,
                    b,
                    change: change.into(),
                }
            })
            .collect();
        push("Layers".into(), "diff-layers", rows);
    }
    if let Some(locked) = doc.get("locked").and_then(Json::as_array) {
        let s = |c: &Json, k: &str| c.get(k).and_then(Json::as_str).map(str::to_string);
        let rows = locked
            .iter()
            .map(|c| DiffRow {
                key: format!(
                    "{} {}",
                    s(c, "ecosystem").unwrap_or_default(),
                    s(c, "name").unwrap_or_default()
                ),
                a: s(c, "from"),
                b: s(c, "to"),
                change: "changed".into(),
            })
            .collect();
        push("Locked versions".into(), "diff-locked", rows);
    }
    out
}

fn side_arg(arg: &str) -> Result<Identifier, UiError> {
    Identifier::parse(arg.trim()).map_err(|e| {
        UiError(
            ApiError::bad_request(e.to_string())
                .help("a side of a diff is a stored revision: `NAME` (the latest) or `NAME:REV`"),
        )
    })
}

pub(super) async fn diff(
    State(state): State<Arc<AppState>>,
    query: Result<Query<DiffQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let Query(q) = query.map_err(|e| ApiError::bad_request(e.body_text()))?;
    let sides = match (q.a.as_deref(), q.b.as_deref()) {
        (Some(a), Some(b)) if !a.trim().is_empty() && !b.trim().is_empty() => {
            Some((side_arg(a)?, side_arg(b)?))
        }
        _ => None,
    };
    let (a_text, b_text) = (q.a.clone(), q.b.clone());
    let (choices, doc) = blocking(move || {
        let store = state.store()?;
        let choices: Vec<String> = store
            .revisions(None)?
            .iter()
            .map(Revision::reference)
            .collect();
        let doc = match sides {
            Some((a, b)) => {
                let a = ops::diff::stored_side(&store, &a)?;
                let b = ops::diff::stored_side(&store, &b)?;
                Some(ops::diff::compare(a, b).document())
            }
            None => None,
        };
        Ok((choices, doc))
    })
    .await?;
    let sections = doc.as_ref().map(diff_sections);
    let label = |k: &str| doc.as_ref().and_then(|d| d[k].as_str().map(str::to_string));
    Ok(render(
        StatusCode::OK,
        "diff.html",
        minijinja::context! {
            a => a_text,
            b => b_text,
            a_label => label("a"),
            b_label => label("b"),
            differ => doc.as_ref().map(|d| d["differ"].as_bool().unwrap_or(true)),
            sections => ctx(sections),
            choices => ctx(choices),
        },
    ))
}

pub(super) async fn build(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> PageResult {
    if !crate::store::builds::is_build_id(&id) {
        return Err(
            ApiError::bad_request(format!("`{}` is not a build id", id.escape_default())).into(),
        );
    }
    if let Some(job) = state.jobs.get(&id) {
        let view = job.view();
        let final_status = view.status.is_final();
        // A running build's log comes over the event stream, whole, from its first line.
        let log = if final_status {
            job.lines_from(0).0
        } else {
            Vec::new()
        };
        let diagnostics = view
            .diagnostics
            .as_ref()
            .and_then(|d| d["diagnostics"].as_array().cloned());
        return Ok(render(
            StatusCode::OK,
            "build.html",
            minijinja::context! {
                id => view.id,
                name => view.name,
                status => view.status.as_str(),
                live => !final_status,
                created => view.created,
                started => view.started,
                finished => view.finished,
                revision => view.revision.clone(),
                revision_rev => view.revision.as_deref().and_then(|r| r.rsplit(':').next().map(str::to_string)),
                error => view.error,
                diagnostics => ctx(diagnostics),
                engine => None::<String>,
                seconds => None::<String>,
                failing_step => None::<String>,
                log,
                recorded => false,
            },
        ));
    }
    // Not this server's: the store's record of an engine build, with its log.
    let (record, log) = blocking(move || {
        let store = state.store()?;
        let Some(record) = store.build(&id)? else {
            return Err(ApiError::not_found(format!(
                "no build `{id}` on this server or in the store"
            ))
            .help("an environment's page links the builds it knows")
            .into());
        };
        let log = store
            .build_log(&id)
            .map(|b| {
                String::from_utf8_lossy(&b)
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_else(|e| vec![format!("(the log cannot be read: {e})")]);
        Ok((record, log))
    })
    .await?;
    let revision_rev = record
        .revision
        .as_deref()
        .and_then(|r| r.rsplit(':').next().map(str::to_string));
    Ok(render(
        StatusCode::OK,
        "build.html",
        minijinja::context! {
            id => record.id,
            name => record.name,
            status => record.status.to_string(),
            live => false,
            created => None::<String>,
            started => record.started,
            finished => None::<String>,
            engine => record.engine,
            seconds => format!("{:.1}", record.seconds),
            failing_step => record.failing_step,
            revision => record.revision,
            revision_rev,
            error => record.error,
            diagnostics => ctx(None::<Vec<Json>>),
            log,
            recorded => true,
        },
    ))
}

#[derive(serde::Deserialize)]
pub(super) struct NewQuery {
    name: Option<String>,
}

pub(super) async fn new_revision(
    query: Result<Query<NewQuery>, axum::extract::rejection::QueryRejection>,
) -> PageResult {
    let name = query.ok().and_then(|Query(q)| q.name);
    Ok(render(
        StatusCode::OK,
        "new.html",
        minijinja::context! { name },
    ))
}
