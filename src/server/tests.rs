//! The router against its OpenAPI document, and the access rules, without a socket
//! (`tower::ServiceExt::oneshot` on the whole application).

use super::*;
use axum::body::Body;
use axum::http::{Request, StatusCode};
use tower::ServiceExt as _;

fn options(store: &std::path::Path) -> ServeOptions {
    ServeOptions {
        store: store.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        token_file: None,
        max_body: 1 << 10,
        max_queue: 2,
        max_builds: 1,
        grace: Duration::from_secs(1),
        engine: None,
        engine_args: Vec::new(),
        cors_origins: Vec::new(),
        config: Default::default(),
    }
}

fn app_over(store: &std::path::Path, token: Option<&str>) -> axum::Router {
    crate::store::Store::open_or_create(store).unwrap();
    let o = options(store);
    let running = start(&o, token.map(str::to_string)).unwrap();
    app(running.state, &o).unwrap()
}

async fn call(app: &axum::Router, req: Request<Body>) -> (StatusCode, String) {
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

fn get(uri: &str) -> Request<Body> {
    Request::get(uri).body(Body::empty()).unwrap()
}

#[test]
fn the_openapi_document_names_exactly_the_routes() {
    let doc: serde_json::Value = serde_json::from_str(api::OPENAPI).unwrap();
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .map(move |m| (m.clone(), path.clone()))
        })
        .collect();
    documented.sort();
    let mut routed: Vec<(String, String)> = api::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    routed.sort();
    assert_eq!(documented, routed);
}

#[tokio::test]
async fn every_listed_route_is_routed() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_over(&dir.path().join("store"), None);
    for (method, path) in api::ROUTES {
        let uri = path
            .replace("{name}", "nothing")
            .replace("{rev}", "1")
            .replace("{id}", "nothing-20260101T000000Z-000000");
        let req = Request::builder()
            .method(method.to_uppercase().as_str())
            .uri(&uri)
            .header("content-type", "application/json")
            .body(Body::from("{}"))
            .unwrap();
        let (status, body) = call(&app, req).await;
        assert!(
            status != StatusCode::METHOD_NOT_ALLOWED && !body.contains("no route"),
            "{method} {uri}: {status} {body:?}"
        );
    }
}

#[tokio::test]
async fn a_token_is_needed_everywhere_but_healthz() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_over(&dir.path().join("store"), Some("0123456789abcdef0123"));
    assert_eq!(call(&app, get("/healthz")).await.0, StatusCode::OK);
    let (status, body) = call(&app, get("/v1/environments")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(body.contains("\"unauthorized\""), "{body}");
    let wrong = Request::get("/v1/environments")
        .header("authorization", "Bearer 0123456789abcdef0124")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, wrong).await.0, StatusCode::UNAUTHORIZED);
    let right = Request::get("/v1/environments")
        .header("authorization", "Bearer 0123456789abcdef0123")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, right).await, (StatusCode::OK, "[]\n".into()));
}

#[tokio::test]
async fn bodies_over_the_cap_and_malformed_json_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_over(&dir.path().join("store"), None);
    let big = format!("{{\"spec\": \"{}\"}}", "x".repeat(4096));
    let req = Request::post("/v1/check")
        .header("content-type", "application/json")
        .body(Body::from(big))
        .unwrap();
    assert_eq!(call(&app, req).await.0, StatusCode::PAYLOAD_TOO_LARGE);
    let req = Request::post("/v1/check")
        .header("content-type", "application/json")
        .body(Body::from("{\"spec\": "))
        .unwrap();
    let (status, body) = call(&app, req).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("not the JSON this route takes"), "{body}");
}

#[tokio::test]
async fn path_segments_cannot_name_paths() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_over(&dir.path().join("store"), None);
    for uri in [
        "/v1/environments/..%2F..%2Fetc/revisions",
        "/v1/environments/%2Fetc/revisions/1",
        "/v1/environments/a/revisions/..",
        "/v1/builds/..%2Fbuilds",
        "/v1/diff?a=/etc/passwd&b=x:1",
    ] {
        let (status, body) = call(&app, get(uri)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{uri}: {body}");
    }
}

#[tokio::test]
async fn an_unrouted_path_is_the_apis_404() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_over(&dir.path().join("store"), None);
    let (status, body) = call(&app, get("/v1/nothing")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("no route /v1/nothing"), "{body}");
    let (status, body) = call(&app, get("/v1/environments/x/revisions?all=maybe")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body.contains("\"bad_request\""), "{body}");
}

#[test]
fn a_non_loopback_address_needs_a_token_and_a_token_must_be_strong() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = options(dir.path());
    o.listen = "0.0.0.0:8080".into();
    assert!(matches!(
        access_settings(&o),
        Err(ServeError::NoToken { .. })
    ));
    let token = dir.path().join("token");
    std::fs::write(&token, "short\n").unwrap();
    o.token_file = Some(token.clone());
    assert!(matches!(
        access_settings(&o),
        Err(ServeError::WeakToken { len: 5, .. })
    ));
    std::fs::write(&token, "0123456789abcdef0123\n").unwrap();
    let (_, t) = access_settings(&o).unwrap();
    assert_eq!(t.as_deref(), Some("0123456789abcdef0123"));
    o.token_file = None;
    o.listen = "localhost:0".into();
    assert!(access_settings(&o).is_ok());
    o.listen = "nonsense".into();
    assert!(matches!(
        access_settings(&o),
        Err(ServeError::Listen { .. })
    ));
}

#[tokio::test]
async fn cors_only_for_the_origins_configured() {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    let plain = app_over(&store, None);
    let with_origin = |origin: &str| {
        Request::get("/v1/environments")
            .header("origin", origin)
            .body(Body::empty())
            .unwrap()
    };
    let response = plain
        .clone()
        .oneshot(with_origin("https://ui.example"))
        .await
        .unwrap();
    assert!(response
        .headers()
        .get("access-control-allow-origin")
        .is_none());

    let mut o = options(&store);
    o.cors_origins = vec!["https://ui.example".into()];
    let running = start(&o, None).unwrap();
    let cors = app(running.state, &o).unwrap();
    let allowed = cors
        .clone()
        .oneshot(with_origin("https://ui.example"))
        .await
        .unwrap();
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://ui.example"
    );
    let other = cors
        .oneshot(with_origin("https://evil.example"))
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());

    o.cors_origins = vec!["*".into()];
    let running = start(&o, None).unwrap();
    assert!(matches!(
        app(running.state, &o),
        Err(ServeError::Cors { .. })
    ));
}

#[tokio::test]
async fn another_sites_page_cannot_change_anything() {
    let dir = tempfile::tempdir().unwrap();
    let app = app_over(&dir.path().join("store"), None);
    let post = |origin: Option<&str>, host: &str, ctype: &str| {
        let mut r = Request::post("/v1/environments/demo/rollback")
            .header("host", host)
            .header("content-type", ctype);
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.body(Body::from("{\"to\": 1}")).unwrap()
    };
    // Another origin: refused before anything runs, whatever the body.
    let (status, body) = call(
        &app,
        post(
            Some("https://evil.example"),
            "127.0.0.1:8080",
            "application/json",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
    assert!(
        body.contains("--cors-origin https://evil.example"),
        "{body}"
    );
    // A body a browser sends across origins unasked is not taken.
    let (status, _) = call(&app, post(None, "127.0.0.1:8080", "text/plain")).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // The server's own page, and a client that sends no Origin, get through (404: no such env).
    let (status, _) = call(
        &app,
        post(
            Some("http://127.0.0.1:8080"),
            "127.0.0.1:8080",
            "application/json",
        ),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = call(&app, post(None, "localhost:8080", "application/json")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    // A name rebound to loopback: refused without a token.
    let rebound = Request::get("/v1/environments")
        .header("host", "attacker.example:8080")
        .body(Body::empty())
        .unwrap();
    assert_eq!(call(&app, rebound).await.0, StatusCode::FORBIDDEN);
    for host in ["[::1]:8080", "127.0.0.2", "LOCALHOST:1"] {
        let ok = Request::get("/v1/environments")
            .header("host", host)
            .body(Body::empty())
            .unwrap();
        assert_eq!(call(&app, ok).await.0, StatusCode::OK, "{host}");
    }
}
