//! The diff page: two stored revisions side by side. Its rows come from the diff document the
//! API serves (`DiffOutcome::document`, what `envc diff --format json` prints), so the page
//! and `GET /v1/diff` never disagree; a side is a stored revision only (`NAME` or
//! `NAME:REV`), never a path.

use super::pages::ctx;
use super::{blocking, render, PageResult, UiError};
use crate::ops;
use crate::server::error::ApiError;
use crate::server::AppState;
use crate::store::Revision;
use crate::types::name::Identifier;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use serde::Serialize;
use serde_json::Value as Json;
use std::sync::Arc;

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
                let a = ops::diff::stored_side(store, &a)?;
                let b = ops::diff::stored_side(store, &b)?;
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
