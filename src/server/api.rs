//! The JSON API under `/v1/`: each route calls the use case the CLI calls for the same
//! question and answers with the same document, byte for byte (`serde_json`'s pretty form of
//! a sorted `Value`, then a newline: what `--format json` prints). `/v1/openapi.json`
//! describes every route here; `ROUTES` lists them, and a test holds the two together.
//!
//! Decisions: every path segment goes through the CLI's parsers ([`EnvName`], a revision
//! number, a build id), so nothing a request sends can name a path; a spec arrives as text and
//! is compiled from memory, never opened as a file; a diff's sides are stored revisions or
//! the posted text, never paths (the CLI's "an argument with a `/` is a file" does not apply).
//! Store reads run on blocking threads: the use cases are synchronous file reads.

use super::error::ApiError;
use super::jobs::{Refusal, RequestOptions};
use super::AppState;
use crate::diag::render;
use crate::ops::{self, revisions};
use crate::types::name::{EnvName, Identifier};
use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use std::sync::Arc;

/// Every route of the API, as `/v1/openapi.json` names them.
pub const ROUTES: &[(&str, &str)] = &[
    ("get", "/healthz"),
    ("get", "/v1/openapi.json"),
    ("get", "/v1/environments"),
    ("get", "/v1/environments/{name}/revisions"),
    ("get", "/v1/environments/{name}/revisions/{rev}"),
    ("get", "/v1/environments/{name}/revisions/{rev}/dockerfile"),
    ("post", "/v1/environments/{name}/rollback"),
    ("get", "/v1/diff"),
    ("post", "/v1/diff"),
    ("post", "/v1/check"),
    ("get", "/v1/builds"),
    ("post", "/v1/builds"),
    ("get", "/v1/builds/{id}"),
    ("get", "/v1/builds/{id}/log"),
];

/// The OpenAPI document, as served.
pub const OPENAPI: &str = include_str!("openapi.json");

pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/v1/openapi.json", get(openapi))
        .route("/v1/environments", get(environments))
        .route("/v1/environments/{name}/revisions", get(list))
        .route("/v1/environments/{name}/revisions/{rev}", get(show))
        .route(
            "/v1/environments/{name}/revisions/{rev}/dockerfile",
            get(dockerfile),
        )
        .route("/v1/environments/{name}/rollback", post(rollback))
        .route("/v1/diff", get(diff_stored).post(diff_posted))
        .route("/v1/check", post(check))
        .route("/v1/builds", get(builds).post(create_build))
        .route("/v1/builds/{id}", get(build))
        .route("/v1/builds/{id}/log", get(build_log))
}

/// The path's segments; one that is not UTF-8 is the API's 400.
pub struct Path<T>(pub T);

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: serde::de::DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e| ApiError::bad_request(e.body_text()))
    }
}

/// The query; one this route does not take is the API's 400, naming the problem.
pub struct Query<T>(pub T);

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: serde::de::DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &S,
    ) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Query(q.0))
            .map_err(|e| {
                ApiError::bad_request(e.body_text())
                    .help("GET /v1/openapi.json describes every route's parameters")
            })
    }
}

/// The body, read up to the server's cap; over it is the API's 413.
pub struct Body(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for Body {
    type Rejection = ApiError;

    async fn from_request(request: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        Bytes::from_request(request, state)
            .await
            .map(Body)
            .map_err(|e| {
                if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    ApiError::new(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        "too_large",
                        "the request body is over this server's cap (`envc serve --max-body`)",
                    )
                } else {
                    ApiError::bad_request(e.body_text())
                }
            })
    }
}

/// Anything the API does not route: the API's 404, in its shape.
pub async fn no_route(uri: axum::http::Uri) -> ApiError {
    ApiError::not_found(format!("no route {}", uri.path()))
        .help("GET /v1/openapi.json lists every route")
}

/// A document as `--format json` prints it.
pub fn json_document(status: StatusCode, doc: &impl serde::Serialize) -> Response {
    match super::cache::document(doc) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// A cached document, gzip-compressed when the client accepts it (the JSON it decodes to is
/// the same bytes).
fn send(headers: &HeaderMap, doc: &super::cache::Doc) -> Response {
    let accepts_gzip = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            parts.next() == Some("gzip") && parts.all(|p| p.replace(' ', "") != "q=0")
        });
    let vary = (header::VARY, "accept-encoding");
    match doc.gzip().filter(|_| accepts_gzip) {
        Some(gz) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/json"),
                (header::CONTENT_ENCODING, "gzip"),
                vary,
            ],
            gz.clone(),
        )
            .into_response(),
        None => (
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json"), vary],
            doc.json.clone(),
        )
            .into_response(),
    }
}

fn ok(doc: &impl serde::Serialize) -> Response {
    json_document(StatusCode::OK, doc)
}

/// Runs a store read on a blocking thread.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    on_blocking_thread(f).await
}

/// Runs `f` on a blocking thread; a panic there is the API's 500 (the UI's error page).
pub(super) async fn on_blocking_thread<T, E>(
    f: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> Result<T, E>
where
    T: Send + 'static,
    E: From<ApiError> + Send + 'static,
{
    tokio::task::spawn_blocking(f).await.map_err(|e| {
        E::from(ApiError::internal(format!(
            "the request stopped unexpectedly: {e}"
        )))
    })?
}

pub(super) fn env_name(name: &str) -> Result<EnvName, ApiError> {
    EnvName::parse(name).map_err(|e| ApiError::bad_request(e.to_string()))
}

/// `{name}` and `{rev}` (a number or `latest`) as the CLI's `NAME:REV`.
pub(super) fn identifier(name: &str, rev: &str) -> Result<Identifier, ApiError> {
    let name = env_name(name)?;
    let revision = match rev {
        "latest" => None,
        n => Some(n.parse::<u32>().ok().filter(|n| *n > 0).ok_or_else(|| {
            ApiError::bad_request(format!(
                "`{rev}` is not a revision: give a number (1, 2, …) or `latest`"
            ))
        })?),
    };
    Ok(Identifier { name, revision })
}

async fn healthz() -> Response {
    ok(&serde_json::json!({"status": "ok"}))
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn environments(State(state): State<Arc<AppState>>) -> Result<Response, ApiError> {
    let envs = blocking(move || Ok(revisions::environments(state.store()?)?)).await?;
    Ok(ok(&envs))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    #[serde(default)]
    all: bool,
}

async fn list(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let name = env_name(&name)?;
    blocking(move || {
        let store = state.store()?;
        Ok(if q.all {
            ok(&revisions::history(store, Some(&name))?)
        } else {
            send(&headers, &*state.cache.list_doc(store, &name)?)
        })
    })
    .await
}

async fn show(
    State(state): State<Arc<AppState>>,
    Path((name, rev)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let id = identifier(&name, &rev)?;
    blocking(move || Ok(send(&headers, &state.cache.show(state.store()?, &id)?.doc))).await
}

async fn dockerfile(
    State(state): State<Arc<AppState>>,
    Path((name, rev)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = identifier(&name, &rev)?;
    let text = blocking(move || {
        let detail = state.cache.show(state.store()?, &id)?;
        let options = crate::emit::dockerfile::Options {
            mirror: state.config.mirror.clone(),
            ..Default::default()
        };
        crate::emit::dockerfile::render(&detail.detail.plan, &options)
            .map_err(|e| ApiError::internal(e.to_string()))
    })
    .await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response())
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RollbackBody {
    to: u32,
}

async fn rollback(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let name = env_name(&name)?;
    let RollbackBody { to } = json_only(&headers, &body)?;
    blocking(move || {
        let store = state.writer()?;
        let outcome = revisions::rollback(&store, &name, to)?;
        let view = crate::store::view::RevisionView::new(&outcome.revision);
        Ok(json_document(StatusCode::CREATED, &view))
    })
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffQuery {
    a: String,
    b: String,
}

/// A stored revision named in a request: `NAME` or `NAME:REV`, never a path.
fn stored(arg: &str) -> Result<Identifier, ApiError> {
    Identifier::parse(arg).map_err(|e| {
        ApiError::bad_request(e.to_string())
            .help("a side of a diff is a stored revision, `NAME` (the latest) or `NAME:REV`")
    })
}

async fn diff_stored(
    State(state): State<Arc<AppState>>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, ApiError> {
    let (a, b) = (stored(&q.a)?, stored(&q.b)?);
    blocking(move || {
        let store = state.store()?;
        let a = ops::diff::stored_side(store, &a)?;
        let b = ops::diff::stored_side(store, &b)?;
        Ok(ok(&ops::diff::compare(a, b).document()))
    })
    .await
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct DiffBody {
    a: String,
    spec: String,
    #[serde(default)]
    filename: Option<String>,
}

async fn diff_posted(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let DiffBody { a, spec, filename } = json_only(&headers, &body)?;
    let a = stored(&a)?;
    let filename = filename_label(filename.as_deref())?;
    blocking(move || {
        let compiled = match ops::build_text::compile_text(&filename, &spec, &state.config) {
            Ok(c) => c,
            Err(diags) => return Ok(refused(&diags)),
        };
        let store = state.store()?;
        let a = ops::diff::stored_side(store, &a)?;
        let b = ops::diff::spec_side(&filename, compiled.plan);
        Ok(ok(&ops::diff::compare(a, b).document()))
    })
    .await
}

/// A refused spec: its diagnostics document, 422.
fn refused(diags: &[crate::diag::Diagnostic]) -> Response {
    (
        StatusCode::UNPROCESSABLE_ENTITY,
        [(header::CONTENT_TYPE, "application/json")],
        render::json(diags, 1),
    )
        .into_response()
}

/// A spec in a request: JSON `{"spec": TEXT, ...}`, or the YAML itself (`application/yaml`,
/// `text/yaml`, `text/plain`) with the other fields in the query.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecBody {
    spec: String,
    #[serde(default)]
    filename: Option<String>,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    options: RequestOptions,
}

#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SpecQuery {
    filename: Option<String>,
    name: Option<String>,
    #[serde(default)]
    rebuild: bool,
    compression: Option<super::jobs::CompressionArg>,
}

/// The media type a request says its body is, lower-cased, without parameters.
fn media_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// A body that must be JSON and say so. A browser sends `text/plain` and form bodies to
/// another origin without asking first (no CORS preflight); `application/json` it never
/// does, so another site's page cannot post here.
fn json_only<T: serde::de::DeserializeOwned>(
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<T, ApiError> {
    match media_type(headers).as_str() {
        "application/json" => json_body(body),
        other => Err(unsupported(other, "`application/json`")),
    }
}

fn unsupported(got: &str, want: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!("this route takes {want}, not `{got}` (set `Content-Type`)"),
    )
}

fn spec_body(headers: &HeaderMap, query: SpecQuery, body: &Bytes) -> Result<SpecBody, ApiError> {
    // No `text/plain`: see [`json_only`]. YAML media types, like JSON, need a preflight.
    match media_type(headers).as_str() {
        "application/json" => json_body(body),
        "application/yaml" | "application/x-yaml" | "text/yaml" => {
            let spec = String::from_utf8(body.to_vec()).map_err(|_| {
                ApiError::bad_request("the spec is not UTF-8").help("send the spec as UTF-8 text")
            })?;
            Ok(SpecBody {
                spec,
                filename: query.filename,
                name: query.name,
                options: RequestOptions {
                    rebuild: query.rebuild,
                    compression: query.compression,
                },
            })
        }
        other => Err(unsupported(
            other,
            "`application/json` or `application/yaml`",
        )),
    }
}

/// A JSON body, its problems in the API's error shape.
fn json_body<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(format!(
            "the request body is not the JSON this route takes: {e}"
        ))
        .help("GET /v1/openapi.json describes every route's body")
    })
}

/// The name a posted spec's diagnostics show: a file name only, never opened.
fn filename_label(filename: Option<&str>) -> Result<String, ApiError> {
    let name = filename.unwrap_or("spec.yaml");
    if name.is_empty()
        || name.len() > 255
        || name
            .chars()
            .any(|c| c.is_control() || c == '/' || c == '\\')
        || name == "."
        || name == ".."
    {
        return Err(ApiError::bad_request(format!(
            "`{}` is not a file name: give a name such as `spec.yaml` (no `/`, at most 255 bytes)",
            name.escape_default()
        )));
    }
    Ok(name.to_string())
}

async fn check(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SpecQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let spec = spec_body(&headers, query, &body)?;
    let filename = filename_label(spec.filename.as_deref())?;
    blocking(move || {
        let diags = match crate::compile(
            &filename,
            spec.spec.as_bytes(),
            &state.config,
            &Default::default(),
        ) {
            Ok(c) => c.warnings,
            Err(diags) => diags,
        };
        Ok((
            StatusCode::OK,
            [(header::CONTENT_TYPE, "application/json")],
            render::json(&diags, 1),
        )
            .into_response())
    })
    .await
}

async fn builds(State(state): State<Arc<AppState>>) -> Response {
    ok(&state.jobs.list())
}

async fn create_build(
    State(state): State<Arc<AppState>>,
    Query(query): Query<SpecQuery>,
    headers: HeaderMap,
    Body(body): Body,
) -> Result<Response, ApiError> {
    let spec = spec_body(&headers, query, &body)?;
    let Some(name) = spec.name.as_deref() else {
        return Err(ApiError::bad_request(
            "a build needs the environment's `name`: in the JSON body, or `?name=` beside a YAML body",
        ));
    };
    let name = env_name(name)?;
    let filename = filename_label(spec.filename.as_deref())?;
    // Refused at once, as `envc build` refuses before it starts: nothing is queued.
    let diags = {
        let (config, text, filename) = (state.config.clone(), spec.spec.clone(), filename.clone());
        blocking(move || Ok(ops::build_text::compile_text(&filename, &text, &config).err())).await?
    };
    if let Some(diags) = diags {
        return Ok(refused(&diags));
    }
    match state.jobs.submit(name, filename, spec.spec, spec.options) {
        Ok(job) => {
            let id = job.id.clone();
            let mut response = json_document(StatusCode::ACCEPTED, &job.view());
            if let Ok(location) = format!("/v1/builds/{id}").parse() {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Err(Refusal::Full { capacity }) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue_full",
            format!("{capacity} builds are already waiting"),
        )
        .help("try again when a build has finished (GET /v1/builds)")),
        Err(Refusal::ShuttingDown) => Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the server is shutting down and takes no more builds",
        )),
    }
}

fn job(state: &AppState, id: &str) -> Result<Arc<super::jobs::Job>, ApiError> {
    if !crate::store::builds::is_build_id(id) {
        return Err(ApiError::bad_request(format!(
            "`{}` is not a build id",
            id.escape_default()
        )));
    }
    state.jobs.get(id).ok_or_else(|| {
        ApiError::not_found(format!("no build `{id}` on this server"))
            .help("GET /v1/builds lists the builds this server ran")
    })
}

async fn build(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    Ok(ok(&job(&state, &id)?.view()))
}

/// The log so far as text, or followed live as Server-Sent Events: one `data:` event per
/// line, then `event: end` whose data is the final status.
async fn build_log(
    State(state): State<Arc<AppState>>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let job = job(&state, &id)?;
    let wants_events = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/event-stream"));
    if !wants_events {
        let (lines, _) = job.lines_from(0);
        let mut text = lines.join("\n");
        if !text.is_empty() {
            text.push('\n');
        }
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    let shutdown = state.shutdown.clone();
    let stream = futures_util::stream::unfold(
        (job.subscribe(), 0usize, false, shutdown),
        move |(mut rx, sent, ended, mut shutdown)| {
            let job = job.clone();
            async move {
                if ended {
                    return None;
                }
                loop {
                    let (lines, status) = job.lines_from(sent);
                    if !lines.is_empty() {
                        let n = lines.len();
                        // One event per line, so a client reads lines as they come.
                        let events: Vec<Result<Event, std::convert::Infallible>> = lines
                            .into_iter()
                            .map(|l| Ok(Event::default().data(l)))
                            .collect();
                        return Some((
                            futures_util::stream::iter(events),
                            (rx, sent + n, false, shutdown),
                        ));
                    }
                    if let Some(status) = status {
                        let end = Event::default().event("end").data(status.as_str());
                        return Some((
                            futures_util::stream::iter(vec![Ok(end)]),
                            (rx, sent, true, shutdown),
                        ));
                    }
                    tokio::select! {
                        changed = rx.changed() => if changed.is_err() { return None },
                        _ = shutdown.changed() => return None,
                    }
                }
            }
        },
    );
    use futures_util::StreamExt as _;
    let stream = stream.flatten();
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::default())
        .into_response())
}
