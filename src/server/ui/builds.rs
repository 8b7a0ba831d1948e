//! The build pages: one build followed (the server's in-memory build, or else the store's
//! record and log of that id, so a failed engine build listed on an environment's page has its
//! log one click away), and the form for a new revision, whose checking and submitting the
//! script does against `/v1/check` and `/v1/builds`.

use super::pages::ctx;
use super::{blocking, render, PageResult};
use crate::server::error::ApiError;
use crate::server::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde_json::Value as Json;
use std::sync::Arc;

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
