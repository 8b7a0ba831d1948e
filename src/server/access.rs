//! Who may ask, how much, and the record of who asked: the bearer token (or the UI's cookie
//! that carries the same token), the body cap, CORS when configured, and one request line on
//! stderr per request (`METHOD PATH STATUS MILLISECONDS`; never a header, a body or a
//! query, which may hold a token or a spec).
//!
//! Decisions: tokens are compared in constant time over their bytes; `/healthz` is open so a
//! load balancer can probe without a secret; the cookie is `HttpOnly` and `SameSite=Strict`,
//! so another site's page cannot ride on it. Against another site's page in the same browser:
//! a request that changes something and carries an `Origin` must come from this server's own
//! origin or one `--cors-origin` names (and its body must be JSON or YAML, which a browser
//! never sends across origins unasked: `api.rs`); without a token, the `Host` must be a
//! loopback name, so a DNS name rebound to 127.0.0.1 reaches nothing.

use super::error::ApiError;
use super::{AppState, ServeError, ServeOptions};
use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::io::Write as _;
use std::sync::Arc;
use std::time::Instant;

/// The UI's cookie.
pub const COOKIE: &str = "envc_token";

/// A line on stderr, whole.
pub fn log_line(line: &str) {
    let stamp = humantime::format_rfc3339_seconds(std::time::SystemTime::now());
    let _ = writeln!(std::io::stderr().lock(), "{stamp} {line}");
}

/// The body cap, the token check, CORS and the request log around `router`.
pub fn layers(
    router: Router,
    state: Arc<AppState>,
    options: &ServeOptions,
) -> Result<Router, ServeError> {
    let mut router = router
        .layer(middleware::from_fn_with_state(state, authorize))
        .layer(DefaultBodyLimit::max(options.max_body));
    if !options.cors_origins.is_empty() {
        let origins = options
            .cors_origins
            .iter()
            .map(|o| {
                let valid = (o.starts_with("https://") || o.starts_with("http://"))
                    && !o.trim_end_matches('/').contains(['?', '#', ' '])
                    && o.split("://")
                        .nth(1)
                        .is_some_and(|h| !h.is_empty() && !h.contains('/'));
                valid
                    .then(|| HeaderValue::from_str(o).ok())
                    .flatten()
                    .ok_or_else(|| ServeError::Cors { origin: o.clone() })
            })
            .collect::<Result<Vec<_>, _>>()?;
        router = router.layer(
            tower_http::cors::CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([header::AUTHORIZATION, header::CONTENT_TYPE, header::ACCEPT]),
        );
    }
    Ok(router.layer(middleware::from_fn(request_log)))
}

async fn request_log(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    log_line(&format!(
        "{method} {path} {} {:.1}ms",
        response.status().as_u16(),
        started.elapsed().as_secs_f64() * 1000.0
    ));
    response
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The token a request carries: `Authorization: Bearer T`, or the UI's cookie.
fn presented(request: &Request) -> Option<String> {
    let headers = request.headers();
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        return v.strip_prefix("Bearer ").map(|t| t.trim().to_string());
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|c| {
            c.trim()
                .strip_prefix(&format!("{COOKIE}="))
                .map(str::to_string)
        })
}

/// Whether `host` (a `Host` header: name or address, and maybe a port) is a loopback name.
fn loopback_host(host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(rest) => rest.split(']').next().unwrap_or(""),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h),
    };
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn forbidden(message: String) -> Response {
    ApiError::new(StatusCode::FORBIDDEN, "forbidden", message).into_response()
}

/// The origin and host rules (see the module's opening); `None` lets the request through.
fn refused_origin(state: &AppState, request: &Request) -> Option<Response> {
    let headers = request.headers();
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    if state.token.is_none() {
        if let Some(host) = host.filter(|h| !loopback_host(h)) {
            return Some(forbidden(format!(
                "`{host}` is not a loopback name, and this server has no token: ask it as \
                 127.0.0.1 or localhost, or run it with --token-file"
            )));
        }
    }
    let safe = matches!(
        *request.method(),
        Method::GET | Method::HEAD | Method::OPTIONS
    );
    let origin = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok());
    match (safe, origin, host) {
        (false, Some(origin), host) => {
            let own = host.is_some_and(|h| {
                origin == format!("http://{h}") || origin == format!("https://{h}")
            });
            let allowed = state.cors_origins.iter().any(|o| o == origin);
            (!own && !allowed).then(|| {
                forbidden(format!(
                    "a request from the page of `{origin}` may not change anything here; \
                     allow that origin with `--cors-origin {origin}`"
                ))
            })
        }
        _ => None,
    }
}

async fn authorize(State(state): State<Arc<AppState>>, request: Request, next: Next) -> Response {
    if let Some(refused) = refused_origin(&state, &request) {
        return refused;
    }
    let Some(token) = &state.token else {
        return next.run(request).await;
    };
    let path = request.uri().path();
    // Open: the probe, and the UI's login form with what it needs to render.
    if path == "/healthz" || path == "/login" || path.starts_with("/static/") {
        return next.run(request).await;
    }
    if presented(&request).is_some_and(|t| same(t.as_bytes(), token.as_bytes())) {
        return next.run(request).await;
    }
    let wants_html = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"));
    if wants_html && !path.starts_with("/v1/") {
        return (
            StatusCode::SEE_OTHER,
            [(header::LOCATION, "/login")],
            "this server needs its token: /login",
        )
            .into_response();
    }
    let mut response = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthorized",
        "this server needs a token: send `Authorization: Bearer TOKEN`",
    )
    .help("the token is the one in the server's --token-file")
    .into_response();
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"envc\""),
    );
    response
}

/// Whether `token` is the server's (the UI's login form).
pub fn accepts(state: &AppState, token: &str) -> bool {
    state
        .token
        .as_ref()
        .is_none_or(|t| same(t.as_bytes(), token.trim().as_bytes()))
}
