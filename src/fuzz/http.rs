//! `envc serve`'s HTTP API: fuzzed requests against the whole application (token checks,
//! body cap, routing, path-segment parsers, body readers), over a store in a temp directory.

use crate::server::{app, start, ServeOptions};
use axum::body::Body;
use axum::http::{Request, StatusCode};
use std::time::Duration;
use tower::ServiceExt as _;

const TOKEN: &str = "fuzz-token-0123456789abcdef";
const MAX_BODY: usize = 64 << 10;

struct App {
    runtime: tokio::runtime::Runtime,
    router: axum::Router,
    _store: tempfile::TempDir,
}

fn the_app() -> &'static App {
    static APP: std::sync::OnceLock<App> = std::sync::OnceLock::new();
    APP.get_or_init(|| {
        let store = tempfile::tempdir().expect("a temp dir");
        crate::store::Store::open_or_create(store.path()).expect("a store");
        let options = ServeOptions {
            store: store.path().to_path_buf(),
            listen: "127.0.0.1:0".into(),
            token_file: None,
            max_body: MAX_BODY,
            max_queue: 1,
            max_builds: 1,
            grace: Duration::from_secs(1),
            engine: None,
            engine_args: Vec::new(),
            cors_origins: Vec::new(),
            config: Default::default(),
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let router = runtime.block_on(async {
            let running = start(&options, Some(TOKEN.into())).expect("the server starts");
            app(running.state, &options).expect("the app")
        });
        App {
            runtime,
            router,
            _store: store,
        }
    })
}

/// Byte 0 picks the method and route family, byte 1 the token and content type; the first
/// line after them is the path (and query) for fuzzed paths, the rest the body. Whatever
/// arrives, the answer is never a server error; without the token nothing but `/healthz`
/// answers other than 401; an error answer from the API is a JSON document with a message.
pub fn http(data: &[u8]) {
    let [route, flags, rest @ ..] = data else {
        return;
    };
    let (line, body) = match rest.iter().position(|b| *b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let line = String::from_utf8_lossy(line);
    let (method, uri) = match route % 6 {
        0 => ("GET", format!("/v1/{line}")),
        1 => ("POST", "/v1/check".to_string()),
        2 => ("POST", "/v1/diff".to_string()),
        3 => ("POST", format!("/v1/environments/{line}/rollback")),
        4 => ("GET", format!("/v1/environments/{line}/revisions")),
        _ => ("GET", format!("/{line}")),
    };
    let content_type =
        ["application/json", "application/yaml", "text/plain", ""][usize::from(flags % 4)];
    let authorized = flags & 4 == 0;
    let mut req = Request::builder()
        .method(method)
        .uri(uri.as_str())
        .header("host", "127.0.0.1");
    if authorized {
        req = req.header("authorization", format!("Bearer {TOKEN}"));
    } else if flags & 8 == 0 {
        req = req.header("authorization", "Bearer fuzz-token-0123456789abcdeX");
    }
    if !content_type.is_empty() {
        req = req.header("content-type", content_type);
    }
    let Ok(req) = req.body(Body::from(body.to_vec())) else {
        return; // not a URI at all: no request could carry it
    };
    let path = req.uri().path().to_string();
    let app = the_app();
    let (status, bytes) = app.runtime.block_on(async {
        let response = app.router.clone().oneshot(req).await.expect("infallible");
        let status = response.status();
        let bytes = axum::body::to_bytes(response.into_body(), 16 << 20)
            .await
            .expect("the body reads");
        (status, bytes)
    });
    assert!(!status.is_server_error(), "{status} for {method} {uri}");
    if !authorized && path.starts_with("/v1/") {
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {uri} without the token"
        );
    }
    if path.starts_with("/v1/") && status.is_client_error() {
        let doc: serde_json::Value = serde_json::from_slice(&bytes).expect("an API error is JSON");
        assert!(doc["error"]["message"].is_string(), "{doc}");
    }
}
