//! The UI's routes through the whole application (`server::app`, access layer included), over
//! an empty store: error pages with their statuses, escaping of what a request sends, the
//! security headers, the login flow and the static files. The pages over real revisions are
//! covered by the browser tests (tests/ui/test_ui.py).

use super::*;
use crate::config::Config;
use crate::server::ServeOptions;
use axum::body::Body;
use axum::http::Request;
use std::path::Path;
use tower::ServiceExt as _;

const TOKEN: &str = "0123456789abcdef0123456789abcdef";

fn options(dir: &Path, token: Option<&str>) -> ServeOptions {
    ServeOptions {
        store: dir.to_path_buf(),
        listen: "127.0.0.1:0".into(),
        token_file: token.map(|_| dir.join("token")),
        max_body: 1 << 20,
        max_queue: 1,
        max_builds: 1,
        grace: std::time::Duration::from_secs(1),
        engine: None,
        engine_args: Vec::new(),
        cors_origins: Vec::new(),
        config: Arc::new(Config::default()),
    }
}

/// The application over a new store in `dir` (on the current runtime: the build workers).
fn app(dir: &Path, token: Option<&str>) -> axum::Router {
    crate::store::Store::open_or_create(dir).unwrap();
    let options = options(dir, token);
    let running = crate::server::start(&options, token.map(str::to_string)).unwrap();
    crate::server::app(running.state, &options).unwrap()
}

async fn send(app: &axum::Router, request: Request<Body>) -> (StatusCode, Response) {
    let response = app.clone().oneshot(request).await.unwrap();
    (response.status(), response)
}

async fn body(response: Response) -> String {
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .unwrap();
    String::from_utf8(bytes.to_vec()).unwrap()
}

fn get(path: &str) -> Request<Body> {
    Request::get(path)
        .header(header::ACCEPT, "text/html")
        .body(Body::empty())
        .unwrap()
}

#[tokio::test]
async fn unknown_and_bad_names_are_pages_with_the_api_status() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None);
    for (path, status, says) in [
        ("/environments/nope", 404, "not found"),
        ("/environments/nope/1", 404, "not found"),
        ("/environments/Bad", 400, "upper-case"),
        ("/environments/demo/zero", 400, "is not a revision"),
        ("/environments/demo/0", 400, "is not a revision"),
        ("/builds/NOT%20AN%20ID", 400, "is not a build id"),
        ("/builds/nope-20260101T000000Z-abcdef", 404, "no build"),
        ("/diff?a=nope:1&b=nope:2", 404, "not found"),
        ("/diff?a=x:y&b=nope", 400, "revision"),
        ("/static/missing.js", 404, "no static file"),
        ("/no/such/page", 404, "nothing here"),
    ] {
        let (got, response) = send(&app, get(path)).await;
        assert_eq!(got.as_u16(), status, "{path}");
        let csp = response.headers().get(header::CONTENT_SECURITY_POLICY);
        assert_eq!(csp.and_then(|v| v.to_str().ok()), Some(CSP), "{path}");
        let html = body(response).await;
        assert!(html.starts_with("<!doctype html>"), "{path}: {html}");
        assert!(html.contains("id=\"error-message\""), "{path}");
        assert!(html.to_lowercase().contains(says), "{path}: {html}");
    }
    // Under /v1/ an unknown route is the API's JSON error, not a page.
    let (got, response) = send(&app, get("/v1/nothing")).await;
    assert_eq!(got, StatusCode::NOT_FOUND);
    assert!(body(response).await.contains("\"not_found\""));
}

#[tokio::test]
async fn what_a_request_sends_is_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None);
    for path in [
        "/environments/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/diff?a=%3Cscript%3E&b=x",
        "/new?name=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    ] {
        let (_, response) = send(&app, get(path)).await;
        let html = body(response).await;
        assert!(!html.contains("<script>"), "{path}: {html}");
        assert!(html.contains("&lt;script&gt;"), "{path}: {html}");
    }
}

#[tokio::test]
async fn pages_render_over_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None);
    for (path, says) in [
        ("/", "holds no environment yet"),
        ("/diff", "id=\"diff-form\""),
        ("/new?name=demo", "value=\"demo\""),
        ("/login", "takes no token"),
    ] {
        let (got, response) = send(&app, get(path)).await;
        assert_eq!(got, StatusCode::OK, "{path}");
        assert!(body(response).await.contains(says), "{path}");
    }
}

#[tokio::test]
async fn static_files_are_cached_for_long() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None);
    for (file, content_type) in [("app.js", "text/javascript"), ("app.css", "text/css")] {
        let (got, response) = send(&app, get(&format!("/static/{file}"))).await;
        assert_eq!(got, StatusCode::OK);
        let h = response.headers();
        assert!(h[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with(content_type));
        assert!(h[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .contains("max-age=31536000"));
    }
    let (_, response) = send(&app, get("/")).await;
    let html = body(response).await;
    assert!(html.contains(&format!("/static/app.js?v={}", asset_version())));
}

#[tokio::test]
async fn login_sets_the_cookie_only_for_the_token() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), Some(TOKEN));
    // A page without the token leads to the form.
    let (got, response) = send(&app, get("/")).await;
    assert_eq!(got, StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/login");
    let (got, response) = send(&app, get("/login")).await;
    assert_eq!(got, StatusCode::OK);
    assert!(body(response).await.contains("name=\"token\""));
    let post = |form: String| {
        Request::post("/login")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "text/html")
            .body(Body::from(form))
            .unwrap()
    };
    let (got, response) = send(&app, post("token=wrong-but-long-enough".into())).await;
    assert_eq!(got, StatusCode::UNAUTHORIZED);
    assert!(response.headers().get(header::SET_COOKIE).is_none());
    assert!(body(response).await.contains("id=\"login-error\""));
    let (got, response) = send(&app, post(format!("other=1&token={TOKEN}"))).await;
    assert_eq!(got, StatusCode::SEE_OTHER);
    assert_eq!(response.headers()[header::LOCATION], "/");
    let cookie = response.headers()[header::SET_COOKIE].to_str().unwrap();
    assert_eq!(
        cookie,
        format!("envc_token={TOKEN}; HttpOnly; SameSite=Strict; Path=/")
    );
    // The cookie opens the pages.
    let mut request = get("/");
    request.headers_mut().insert(
        header::COOKIE,
        HeaderValue::from_str(&format!("envc_token={TOKEN}")).unwrap(),
    );
    let (got, _) = send(&app, request).await;
    assert_eq!(got, StatusCode::OK);
}

#[test]
fn every_template_parses() {
    let env = templates();
    for name in [
        "base.html",
        "index.html",
        "environment.html",
        "revision.html",
        "diff.html",
        "build.html",
        "new.html",
        "login.html",
        "error.html",
    ] {
        assert!(env.get_template(name).is_ok(), "{name}");
    }
}

#[test]
fn form_fields_sizes_and_digests() {
    assert_eq!(
        form_field(b"a=1&token=ab%2Bc+d", "token").as_deref(),
        Some("ab+c d")
    );
    assert_eq!(form_field(b"token=%zz", "token"), None);
    assert_eq!(form_field(b"tok=1", "token"), None);
    assert_eq!(human_size(0), "0 B");
    assert_eq!(human_size(1023), "1023 B");
    assert_eq!(human_size(1536), "1.5 KiB");
    assert_eq!(human_size(1084659), "1.0 MiB");
    assert_eq!(human_size(5 << 30), "5.0 GiB");
    assert_eq!(short_digest("sha256:0123456789abcdef"), "0123456789ab");
}

#[tokio::test]
async fn a_recorded_engine_build_has_its_page_and_log() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(dir.path(), None);
    let store = crate::store::Store::open(dir.path()).unwrap();
    let id = "gpu-20260101T000000Z-abcdef";
    let record = crate::store::builds::BuildRecord {
        base_digest: None,
        dockerfile_digest: None,
        engine: Some("podman 4.3.1".into()),
        error: Some("apt-get failed: <no such package>".into()),
        failing_step: Some("RUN apt-get install nope".into()),
        id: id.into(),
        name: "gpu".into(),
        revision: None,
        seconds: 12.5,
        spec_digest: "sha256:00".into(),
        started: "2026-01-01T00:00:00Z".into(),
        status: crate::store::builds::BuildStatus::Failed,
    };
    store
        .save_build(
            &record,
            b"STEP 1/2: FROM base\nE: Unable to locate package nope\n",
        )
        .unwrap();
    let (got, response) = send(&app, get(&format!("/builds/{id}"))).await;
    assert_eq!(got, StatusCode::OK);
    let html = body(response).await;
    assert!(html.contains("E: Unable to locate package nope"), "{html}");
    assert!(
        html.contains("apt-get failed: &lt;no such package&gt;"),
        "{html}"
    );
    assert!(html.contains("podman 4.3.1"));
    assert!(html.contains("build failed"));
    // The environment has no revision, only the failed build: its page lists it.
    let (got, response) = send(&app, get("/environments/gpu")).await;
    assert_eq!(got, StatusCode::OK);
    let html = body(response).await;
    assert!(html.contains("No revision is stored yet"));
    assert!(html.contains(&format!("href=\"/builds/{id}\"")), "{html}");
    assert!(html.contains("RUN apt-get install nope"));
}
