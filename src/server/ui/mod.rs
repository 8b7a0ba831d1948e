//! The web UI of `envc serve`: server-rendered HTML pages over the same [`AppState`] and the
//! same library use cases as the JSON API ([`super::api`]), plus a little plain JavaScript
//! for what needs a browser (following a build's log, checking a pasted spec, the rollback
//! confirmation). The pages are in [`pages`], [`diff`] and [`builds`]; this file holds what
//! they share.
//!
//! Decisions:
//! - Templates are minijinja files under `templates/ui/`, embedded at compile time and parsed
//!   once; auto-escaping is HTML for every template, whatever its name, so every value a spec
//!   author wrote (names, env values, packages, commands) is escaped. Nothing is marked safe.
//! - Every UI response carries `Content-Security-Policy: default-src 'self'`: no inline script
//!   or style exists, and data the JavaScript needs travels in `data-` attributes.
//! - `/static/` files are embedded too and served with a year's `Cache-Control`; pages link
//!   them with `?v=` and a digest of their bytes, so a new envc is a new URL.
//! - A UI error is a page (404 for what the store does not hold, 400 for a bad name), made
//!   from the API's [`ApiError`] so the status means the same; routes that match nothing get a
//!   page too, or the API's JSON error under `/v1/`.
//! - The login form only sets the `envc_token` cookie the access layer already reads; it is
//!   `HttpOnly; SameSite=Strict`, so neither a script nor another site can use it.

mod builds;
mod diff;
mod pages;
#[cfg(test)]
mod tests;

use super::error::ApiError;
use super::AppState;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use minijinja::{AutoEscape, Environment};
use sha2::Digest as _;
use std::sync::{Arc, OnceLock};

/// Every UI route.
pub(crate) fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/", get(pages::index))
        .route("/environments/{name}", get(pages::environment))
        .route("/environments/{name}/{rev}", get(pages::revision))
        .route("/diff", get(diff::diff))
        .route("/builds/{id}", get(builds::build))
        .route("/new", get(builds::new_revision))
        .route("/login", get(login_form).post(login))
        .route("/static/{file}", get(static_file))
        .fallback(not_found)
        .layer(axum::middleware::map_response(security_headers))
}

const CSP: &str = "default-src 'self'";

async fn security_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    response
}

/// The embedded static files: name, content type, bytes.
const STATIC: &[(&str, &str, &str)] = &[
    (
        "app.css",
        "text/css; charset=utf-8",
        include_str!("static/app.css"),
    ),
    (
        "app.js",
        "text/javascript; charset=utf-8",
        include_str!("static/app.js"),
    ),
];

/// A digest of the static files, the `?v=` of their URLs.
fn asset_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let mut h = sha2::Sha256::new();
        for (name, _, text) in STATIC {
            h.update(name.as_bytes());
            h.update(text.as_bytes());
        }
        h.finalize()[..6]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    })
}

async fn static_file(Path(file): Path<String>) -> Response {
    match STATIC.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, text)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=31536000, immutable"),
            ],
            *text,
        )
            .into_response(),
        None => UiError(ApiError::not_found(format!(
            "no static file `{}`",
            file.escape_default()
        )))
        .into_response(),
    }
}

/// The templates, parsed once.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        // As the Dockerfile's: nothing registered that the templates do not use.
        let mut env = Environment::empty();
        env.add_filter("length", minijinja::filters::length);
        env.add_test("none", minijinja::tests::is_none);
        env.set_auto_escape_callback(|_| AutoEscape::Html);
        env.set_undefined_behavior(minijinja::UndefinedBehavior::Strict);
        for (name, source) in [
            ("base.html", include_str!("../../../templates/ui/base.html")),
            (
                "macros.html",
                include_str!("../../../templates/ui/macros.html"),
            ),
            (
                "index.html",
                include_str!("../../../templates/ui/index.html"),
            ),
            (
                "environment.html",
                include_str!("../../../templates/ui/environment.html"),
            ),
            (
                "revision.html",
                include_str!("../../../templates/ui/revision.html"),
            ),
            ("diff.html", include_str!("../../../templates/ui/diff.html")),
            (
                "build.html",
                include_str!("../../../templates/ui/build.html"),
            ),
            ("new.html", include_str!("../../../templates/ui/new.html")),
            (
                "login.html",
                include_str!("../../../templates/ui/login.html"),
            ),
            (
                "error.html",
                include_str!("../../../templates/ui/error.html"),
            ),
        ] {
            // The templates are part of the binary: one that does not parse is a bug the
            // unit tests catch, so it is kept and reported when rendered.
            if let Err(e) = env.add_template(name, source) {
                super::access::log_line(&format!("ui: the template {name} does not parse: {e}"));
            }
        }
        env
    })
}

/// Renders `template` with `context` (and what every page needs).
fn render(status: StatusCode, template: &str, context: minijinja::Value) -> Response {
    let env = templates();
    let ctx = minijinja::context! { asset_version => asset_version(), ..context };
    match env
        .get_template(template)
        .and_then(|t| t.render(ctx))
        .map_err(|e| {
            // The detail (the template's lines and variables) is for the server's log only.
            super::access::log_line(&format!("ui: {template}: {e:#}"));
            e.to_string()
        }) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(e) if template != "error.html" => UiError(ApiError::internal(format!(
            "the page {template} cannot be rendered: {e}"
        )))
        .into_response(),
        // The error page itself failed: plain text, never a loop.
        Err(e) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the error page cannot be rendered: {e}\n"),
        )
            .into_response(),
    }
}

/// A page, or the error page.
type PageResult = Result<Response, UiError>;

/// An [`ApiError`] shown as a page, with the same status.
#[derive(Debug)]
pub(crate) struct UiError(ApiError);

impl<E: Into<ApiError>> From<E> for UiError {
    fn from(e: E) -> UiError {
        UiError(e.into())
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let e = self.0;
        let title = match e.status {
            StatusCode::NOT_FOUND => "Not found",
            StatusCode::BAD_REQUEST => "Bad request",
            StatusCode::CONFLICT => "Refused",
            s if s.is_server_error() => "Server error",
            _ => "Error",
        };
        render(
            e.status,
            "error.html",
            minijinja::context! {
                status => e.status.as_u16(),
                title,
                message => e.message,
                help => e.help,
            },
        )
    }
}

async fn not_found(uri: Uri) -> Response {
    let path = uri.path();
    if path.starts_with("/v1/") {
        return super::api::no_route(uri.clone()).await.into_response();
    }
    let message = format!("nothing here: `{path}`");
    UiError(ApiError::not_found(message).help("the environments are listed at /")).into_response()
}

/// Runs a store read on a blocking thread (the use cases are synchronous file reads).
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, UiError> + Send + 'static,
) -> Result<T, UiError> {
    super::api::on_blocking_thread(f).await
}

async fn login_form(State(state): State<Arc<AppState>>) -> Response {
    login_page(&state, StatusCode::OK, None)
}

fn login_page(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    render(
        status,
        "login.html",
        minijinja::context! { needs_token => state.token.is_some(), error },
    )
}

/// `POST /login` with the form field `token`: the cookie and `/`, or the form again.
async fn login(State(state): State<Arc<AppState>>, body: Bytes) -> Response {
    let Some(token) = form_field(&body, "token") else {
        return login_page(
            &state,
            StatusCode::BAD_REQUEST,
            Some("the form sent no token"),
        );
    };
    let token = token.trim();
    if state.token.is_none() {
        return see_other("/");
    }
    if !super::access::accepts(&state, token) {
        return login_page(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("that is not this server's token (the one in its --token-file)"),
        );
    }
    // A cookie value cannot hold `;`, `,`, `"`, `\` or spaces; such a token works only as a
    // bearer token.
    let cookie = format!(
        "{}={token}; HttpOnly; SameSite=Strict; Path=/",
        super::access::COOKIE
    );
    let cookie_safe = token
        .bytes()
        .all(|b| b.is_ascii_graphic() && !b",;\"\\".contains(&b));
    match HeaderValue::from_str(&cookie) {
        Ok(value) if cookie_safe => {
            let mut response = see_other("/");
            response.headers_mut().insert(header::SET_COOKIE, value);
            response
        }
        _ => login_page(
            &state,
            StatusCode::BAD_REQUEST,
            Some(
                "this token holds a character a cookie cannot carry; use the API with \
                 `Authorization: Bearer`, or give the server a hex token",
            ),
        ),
    }
}

fn see_other(location: &'static str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
}

/// One field of an `application/x-www-form-urlencoded` body, decoded.
fn form_field(body: &[u8], name: &str) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    text.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (percent_decode(k)? == name)
            .then(|| percent_decode(v))
            .flatten()
    })
}

fn percent_decode(s: &str) -> Option<String> {
    let mut out = Vec::with_capacity(s.len());
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        match b {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = [bytes.next()?, bytes.next()?];
                let hex = std::str::from_utf8(&hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
            }
            b => out.push(b),
        }
    }
    String::from_utf8(out).ok()
}

/// `sha256:0123456789ab…` as `0123456789ab`.
fn short_digest(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    hex.chars().take(12).collect()
}

/// Bytes in binary units: `512 B`, `1.5 KiB`, `12.3 MiB`.
fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}
