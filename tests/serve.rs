//! `envc serve` end to end: the real binary on a free loopback port over a store with
//! revisions. Every route is called; each JSON document is compared byte for byte with the
//! CLI's `--format json` output for the same question; a posted spec is followed to
//! `succeeded` (engine-free) and another to `failed`; the log is followed live as
//! Server-Sent Events; tokens, oversize bodies, path tricks and malformed JSON are refused;
//! SIGTERM stops the server cleanly and leaves a store `envc verify` accepts.

mod common;

use common::serve::Server;
use common::{busybox_base, envc, run, TempDir};
use serde_json::Value;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const SPEC: &str = "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  GREETING: hello\n";

/// `envc serve --store STORE --listen 127.0.0.1:0 EXTRA…`.
fn start(store: &Path, extra: &[&str]) -> Server {
    let mut cmd = envc();
    cmd.arg("serve").arg("--store").arg(store).args(extra);
    Server::spawn(cmd)
}

/// One HTTP exchange: status, content type and body.
struct Reply {
    status: u16,
    content_type: String,
    body: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

thread_local! {
    /// The exchanges of this test's thread, for the OpenAPI check.
    static EXCHANGES: std::cell::RefCell<Vec<Value>> = const { std::cell::RefCell::new(Vec::new()) };
}

fn record(method: &str, url: &str, r: &Reply) {
    let path = url
        .splitn(4, '/')
        .nth(3)
        .map_or("/".to_string(), |p| format!("/{p}"));
    EXCHANGES.with(|x| {
        x.borrow_mut().push(serde_json::json!({
            "method": method, "path": path, "status": r.status,
            "content_type": r.content_type, "body": r.body,
        }))
    });
}

/// Every exchange this thread recorded, checked against `/v1/openapi.json` by
/// `tests/support/openapi-check.py` (`partial`: not every operation need have been called).
fn check_against_openapi(dir: &TempDir, partial: bool) {
    let lines: String = EXCHANGES.with(|x| x.borrow().iter().map(|v| format!("{v}\n")).collect());
    let file = dir.join("exchanges.jsonl");
    std::fs::write(&file, lines).unwrap();
    let mut cmd = std::process::Command::new("python3");
    cmd.arg(common::root().join("tests/support/openapi-check.py"));
    if partial {
        cmd.arg("--partial");
    }
    let r = run(cmd
        .arg(common::root().join("src/server/openapi.json"))
        .arg(&file));
    if r.code != Some(0) && r.stderr.contains("No module named 'jsonschema'") {
        assert!(
            std::env::var_os("ENVC_ENGINE_REQUIRED").is_none(),
            "the OpenAPI check needs Python's jsonschema (scripts/test.sh installs it)"
        );
        eprintln!("skipping the OpenAPI check: Python's jsonschema is not installed");
        return;
    }
    assert_eq!(
        r.code,
        Some(0),
        "the API does not match its OpenAPI document:\n{r}"
    );
}

fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("an HTTP answer");
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    Reply {
        status: r.status().as_u16(),
        content_type,
        body: r.body_mut().read_to_string().unwrap_or_default(),
    }
}

fn get(url: &str, token: Option<&str>) -> Reply {
    let mut req = agent().get(url);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let r = reply(req.call());
    record("GET", url, &r);
    r
}

fn post(url: &str, content_type: &str, body: &str, token: Option<&str>) -> Reply {
    let mut req = agent().post(url).header("content-type", content_type);
    if let Some(t) = token {
        req = req.header("authorization", &format!("Bearer {t}"));
    }
    let r = reply(req.send(body));
    record("POST", url, &r);
    r
}

fn json(r: &Reply) -> Value {
    serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", r.body))
}

/// The CLI's stdout for `envc ARGS --store STORE`.
fn cli(store: &Path, args: &[&str]) -> String {
    let r = run(envc().args(args).arg("--store").arg(store));
    r.stdout
}

/// A store with `demo:1` and `demo:2` (env-only specs on the busybox base), or `None` when
/// the base cannot be made here (printed).
fn store_with_revisions(dir: &TempDir) -> Option<PathBuf> {
    let base = match busybox_base(None) {
        Ok(b) => b,
        Err(reason) => {
            if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
                panic!("serve tests required (ENVC_ENGINE_REQUIRED) but {reason}");
            }
            eprintln!("skipping: {reason}");
            return None;
        }
    };
    let store = dir.join("store");
    let mut base_arg = base.into_os_string();
    base_arg.push(":1");
    let a = common::write_spec(dir.path(), "a.yaml", SPEC);
    let b = common::write_spec(dir.path(), "b.yaml", &SPEC.replace("hello", "bonjour"));
    common::build(
        &store,
        &a,
        "demo",
        &["--base".as_ref(), base_arg.as_os_str()],
    )
    .ok();
    common::build(&store, &b, "demo", &[]).ok();
    Some(store)
}

/// Polls a build until it has ended.
fn wait_for(server: &Server, id: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let b = json(&get(&server.url(&format!("/v1/builds/{id}")), None));
        if b["status"] == "succeeded" || b["status"] == "failed" {
            return b;
        }
        assert!(Instant::now() < deadline, "build {id} did not end: {b}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The log followed as Server-Sent Events over a raw socket: the data lines, and the
/// `end` event's status.
fn follow(server: &Server, id: &str) -> (Vec<String>, String) {
    let mut s = TcpStream::connect(&server.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    write!(
        s,
        "GET /v1/builds/{id}/log HTTP/1.1\r\nHost: {}\r\nAccept: text/event-stream\r\nConnection: close\r\n\r\n",
        server.addr
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains("text/event-stream"), "{text}");
    let reply = Reply {
        status: 200,
        content_type: "text/event-stream".into(),
        body: String::new(),
    };
    record("GET", &server.url(&format!("/v1/builds/{id}/log")), &reply);
    let (mut lines, mut end, mut event) = (Vec::new(), String::new(), String::new());
    for line in text.lines() {
        if let Some(e) = line.strip_prefix("event: ") {
            event = e.to_string();
        } else if let Some(d) = line.strip_prefix("data: ") {
            if event == "end" {
                end = d.to_string();
            } else {
                lines.push(d.to_string());
            }
        }
    }
    (lines, end)
}

#[test]
fn every_route_answers_as_the_cli_does() {
    let dir = TempDir::new("serve-routes");
    let Some(store) = store_with_revisions(&dir) else {
        return;
    };
    let server = start(&store, &["--engine", "no-such-engine"]);
    let same = |path: &str, args: &[&str]| {
        let r = get(&server.url(path), None);
        assert_eq!(r.status, 200, "{path}: {}", r.body);
        assert_eq!(r.content_type, "application/json", "{path}");
        assert_eq!(
            r.body,
            cli(&store, args),
            "{path} differs from envc {args:?}"
        );
    };
    same(
        "/v1/environments",
        &["list", "--environments", "--format", "json"],
    );
    same(
        "/v1/environments/demo/revisions",
        &["list", "demo", "--format", "json"],
    );
    same(
        "/v1/environments/demo/revisions?all=true",
        &["list", "demo", "--all", "--format", "json"],
    );
    same(
        "/v1/environments/demo/revisions/1",
        &["show", "demo:1", "--format", "json"],
    );
    same(
        "/v1/environments/demo/revisions/latest",
        &["show", "demo", "--format", "json"],
    );
    same(
        "/v1/diff?a=demo:1&b=demo:2",
        &["diff", "demo:1", "demo:2", "--format", "json"],
    );

    // Compressed for a client that takes gzip: the same document once decoded.
    let mut r = agent()
        .get(server.url("/v1/environments/demo/revisions"))
        .header("accept-encoding", "gzip, br")
        .call()
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert_eq!(r.headers()["vary"], "accept-encoding");
    let gz = r.body_mut().read_to_vec().unwrap();
    let mut json_text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut json_text)
        .unwrap();
    assert_eq!(
        json_text,
        cli(&store, &["list", "demo", "--format", "json"])
    );
    let r = agent()
        .get(server.url("/v1/environments/demo/revisions"))
        .header("accept-encoding", "gzip;q=0")
        .call()
        .unwrap();
    assert!(r.headers().get("content-encoding").is_none());

    let health = get(&server.url("/healthz"), None);
    assert_eq!(
        (health.status, json(&health)["status"].clone()),
        (200, "ok".into())
    );
    let doc = json(&get(&server.url("/v1/openapi.json"), None));
    assert_eq!(doc["openapi"], "3.1.0");

    // The Dockerfile of a revision is the one `envc dockerfile` renders from its spec.
    let df = get(
        &server.url("/v1/environments/demo/revisions/1/dockerfile"),
        None,
    );
    assert_eq!(df.status, 200);
    assert!(
        df.content_type.starts_with("text/plain"),
        "{}",
        df.content_type
    );
    let spec = common::write_spec(dir.path(), "again.yaml", SPEC);
    let r = run(envc().arg("dockerfile").arg(&spec));
    assert_eq!(df.body, r.stdout);

    // A posted spec against a revision: the CLI's diff of that revision and the file.
    let posted = post(
        &server.url("/v1/diff"),
        "application/json",
        &serde_json::json!({"a": "demo:2", "spec": SPEC, "filename": "again.yaml"}).to_string(),
        None,
    );
    assert_eq!(posted.status, 200, "{}", posted.body);
    let mut want: Value = serde_json::from_str(
        &run(envc()
            .current_dir(dir.path())
            .args([
                "diff",
                "demo:2",
                "./again.yaml",
                "--format",
                "json",
                "--store",
            ])
            .arg(&store))
        .stdout,
    )
    .unwrap();
    want["b"] = "again.yaml".into();
    assert_eq!(json(&posted), want);

    // check: the CLI's diagnostics document for the same text under the same name.
    let bad = "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: 1\nunknown_key: 2\n";
    let checked = post(
        &server.url("/v1/check?filename=bad.yaml"),
        "application/yaml",
        bad,
        None,
    );
    assert_eq!(checked.status, 200);
    let bad_file = common::write_spec(dir.path(), "bad.yaml", bad);
    let r = run(envc()
        .current_dir(dir.path())
        .args(["check", "bad.yaml", "--format", "json"]));
    assert_eq!(checked.body, r.stdout);
    assert!(bad_file.exists());
    let d = json(&checked);
    let e010 = d["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["code"] == "E010")
        .expect("E010");
    assert_eq!(
        (e010["line"].as_u64(), e010["column"].as_u64()),
        (Some(4), Some(1)),
        "{d}"
    );

    // A build of a valid engine-free spec: 202, pending, then succeeded, as demo:3.
    let accepted = post(
        &server.url("/v1/builds"),
        "application/json",
        &serde_json::json!({"name": "demo", "spec": SPEC.replace("hello", "hola")}).to_string(),
        None,
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let b = json(&accepted);
    assert!(["pending", "in_progress", "succeeded"].contains(&b["status"].as_str().unwrap()));
    let id = b["id"].as_str().unwrap().to_string();
    let (lines, end) = follow(&server, &id);
    assert_eq!(end, "succeeded", "{lines:?}");
    assert!(
        lines.iter().any(|l| l.starts_with("demo:3 sha256:")),
        "{lines:?}"
    );
    let done = wait_for(&server, &id);
    assert_eq!(done["revision"], "demo:3");
    assert!(done["started"].is_string() && done["finished"].is_string());
    assert!(cli(&store, &["list", "demo"]).contains("demo:3"));
    let log = get(&server.url(&format!("/v1/builds/{id}/log")), None);
    assert_eq!(log.body, format!("{}\n", lines.join("\n")));
    let listed = json(&get(&server.url("/v1/builds"), None));
    assert_eq!(listed[0]["id"], id.as_str());

    // A valid spec whose build fails (it needs an engine, and the server's is missing).
    let needs_engine = format!("{SPEC}post_build_cmds:\n  - echo hi\n");
    let accepted = post(
        &server.url("/v1/builds?name=demo"),
        "application/yaml",
        &needs_engine,
        None,
    );
    assert_eq!(accepted.status, 202, "{}", accepted.body);
    let id = json(&accepted)["id"].as_str().unwrap().to_string();
    let (lines, end) = follow(&server, &id);
    assert_eq!(end, "failed");
    let failed = wait_for(&server, &id);
    assert!(
        failed["error"].as_str().unwrap().contains("no-such-engine"),
        "{failed} {lines:?}"
    );
    assert!(failed["revision"].is_null());

    // A spec with errors is refused before it is queued: its diagnostics, 422.
    let refused = post(
        &server.url("/v1/builds"),
        "application/json",
        &serde_json::json!({"name": "demo", "spec": bad}).to_string(),
        None,
    );
    assert_eq!(refused.status, 422);
    assert_eq!(json(&refused)["schema"], "envc.diagnostics/v1");

    // Rollback: a new revision equal to the one named, as the CLI's rollback makes.
    let rolled = post(
        &server.url("/v1/environments/demo/rollback"),
        "application/json",
        "{\"to\": 1}",
        None,
    );
    assert_eq!(rolled.status, 201, "{}", rolled.body);
    let view = json(&rolled);
    assert_eq!(view["reference"], "demo:4");
    assert_eq!(view["rollback_to"], "1");
    let listed: Value =
        serde_json::from_str(&cli(&store, &["list", "demo", "--format", "json"])).unwrap();
    assert_eq!(listed[3], view);

    // Not found, in the API's shape.
    let missing = get(&server.url("/v1/environments/nothing/revisions"), None);
    assert_eq!(missing.status, 404);
    assert_eq!(json(&missing)["error"]["code"], "not_found");
    let missing = get(&server.url("/v1/environments/demo/revisions/99"), None);
    assert_eq!(missing.status, 404);

    check_against_openapi(&dir, false);
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("stopped"), "{log}");
    let verify = run(envc().arg("verify").arg("--store").arg(&store));
    assert_eq!(verify.code, Some(0), "{verify}");
}

#[test]
fn bad_requests_are_refused_and_change_nothing() {
    let dir = TempDir::new("serve-bad");
    let Some(store) = store_with_revisions(&dir) else {
        return;
    };
    let token_file = dir.join("token");
    let token = "5f0c1b2a9d8e7f60a1b2c3d4e5f60718";
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    let server = start(
        &store,
        &[
            "--token-file",
            token_file.to_str().unwrap(),
            "--max-body",
            "4096",
        ],
    );
    let before = std::fs::read(store.join("index.json")).unwrap();

    let t = Some(token);
    assert_eq!(get(&server.url("/healthz"), None).status, 200);
    let r = get(&server.url("/v1/environments"), None);
    assert_eq!(r.status, 401);
    assert_eq!(json(&r)["error"]["code"], "unauthorized");
    assert_eq!(
        get(
            &server.url("/v1/environments"),
            Some("wrong-token-wrong-token")
        )
        .status,
        401
    );
    assert_eq!(get(&server.url("/v1/environments"), t).status, 200);
    assert_eq!(
        post(
            &server.url("/v1/environments/demo/rollback"),
            "application/json",
            "{\"to\":1}",
            None
        )
        .status,
        401
    );

    // Over the cap: 413, in the API's shape.
    let big = serde_json::json!({"name": "demo", "spec": "#".repeat(8192)}).to_string();
    let r = post(&server.url("/v1/builds"), "application/json", &big, t);
    assert_eq!(r.status, 413, "{}", r.body);
    assert_eq!(json(&r)["error"]["code"], "too_large");

    // Malformed JSON, unknown fields, wrong types, a body that is not a spec's media type.
    for body in [
        "{",
        "[]",
        "{\"to\": \"one\"}",
        "{\"to\": 1, \"path\": \"/etc\"}",
    ] {
        let r = post(
            &server.url("/v1/environments/demo/rollback"),
            "application/json",
            body,
            t,
        );
        assert_eq!(r.status, 400, "{body}: {}", r.body);
        assert_eq!(json(&r)["error"]["code"], "bad_request");
    }
    let r = post(&server.url("/v1/check"), "application/xml", "<spec/>", t);
    assert_eq!(r.status, 415);

    // Path tricks: every segment goes through the CLI's parsers.
    for path in [
        "/v1/environments/..%2F..%2Fetc/revisions",
        "/v1/environments/demo/revisions/..%2F..",
        "/v1/environments/demo/revisions/-1",
        "/v1/builds/..%2F..%2Findex.json",
        "/v1/diff?a=/etc/passwd&b=demo:1",
        "/v1/diff?a=demo:1&b=../../x",
    ] {
        let r = get(&server.url(path), t);
        assert_eq!(r.status, 400, "{path}: {}", r.body);
    }
    // A posted file name is a label, never a path; a name that is not an environment name.
    let r = post(
        &server.url("/v1/check"),
        "application/json",
        "{\"spec\": \"base_image: x\", \"filename\": \"../../etc/passwd\"}",
        t,
    );
    assert_eq!(r.status, 400, "{}", r.body);
    let r = post(
        &server.url("/v1/builds"),
        "application/json",
        &serde_json::json!({"name": "../escape", "spec": SPEC}).to_string(),
        t,
    );
    assert_eq!(r.status, 400, "{}", r.body);

    assert_eq!(std::fs::read(store.join("index.json")).unwrap(), before);
    assert!(!dir.path().join("escape").exists());
    check_against_openapi(&dir, true);
    let (code, _) = server.stop();
    assert_eq!(code, Some(0));
}

#[test]
fn start_up_refuses_an_open_address_without_a_token() {
    let dir = TempDir::new("serve-refuse");
    let r = run(envc()
        .args(["serve", "--listen", "0.0.0.0:0", "--store"])
        .arg(dir.join("store")));
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("without a token"), "{}", r.stderr);
    assert!(
        !dir.join("store").exists(),
        "nothing is written when start-up is refused"
    );
    let weak = dir.join("token");
    std::fs::write(&weak, "abc\n").unwrap();
    let r = run(envc()
        .args(["serve", "--listen", "0.0.0.0:0", "--token-file"])
        .arg(&weak)
        .arg("--store")
        .arg(dir.join("store")));
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("openssl rand -hex 32"), "{}", r.stderr);
    let r = run(envc().args(["serve", "--listen", "not an address"]));
    assert_eq!(r.code, Some(1), "{r}");
    assert!(r.stderr.contains("HOST:PORT"), "{}", r.stderr);
}

/// A full queue is 503 in the API's shape; SIGTERM with builds queued exits 0 and leaves a
/// store `envc verify` accepts, with no revision beyond those the builds committed.
#[test]
fn a_full_queue_is_503_and_shutdown_leaves_a_sound_store() {
    let dir = TempDir::new("serve-queue");
    let Some(store) = store_with_revisions(&dir) else {
        return;
    };
    let server = start(
        &store,
        &[
            "--max-queue",
            "1",
            "--max-builds",
            "1",
            "--engine",
            "no-such-engine",
        ],
    );
    let body = serde_json::json!({"name": "demo", "spec": SPEC}).to_string();
    let url = server.url("/v1/builds");
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let posts: Vec<_> = (0..24)
            .map(|_| s.spawn(|| post(&url, "application/json", &body, None)))
            .collect();
        posts
            .into_iter()
            .map(|p| {
                let r = p.join().unwrap();
                if r.status == 503 {
                    assert_eq!(json(&r)["error"]["code"], "queue_full", "{}", r.body);
                }
                r.status
            })
            .collect()
    });
    assert!(statuses.contains(&202), "{statuses:?}");
    assert!(
        statuses.contains(&503),
        "a queue of 1 took all 24: {statuses:?}"
    );
    let accepted = statuses.iter().filter(|s| **s == 202).count();
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    let verify = run(envc().arg("verify").arg("--store").arg(&store));
    assert_eq!(verify.code, Some(0), "{verify}");
    let revisions: Value =
        serde_json::from_str(&cli(&store, &["list", "demo", "--format", "json"])).unwrap();
    assert!(revisions.as_array().unwrap().len() <= 2 + accepted);
    let revisions: Value =
        serde_json::from_str(&cli(&store, &["list", "demo", "--format", "json"])).unwrap();
    assert!(revisions.as_array().unwrap().len() <= 2 + accepted);
}
