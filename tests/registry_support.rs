//! Tests of the registry test infrastructure itself (`tests/common/registry.rs`,
//! `tests/support/registry_proxy.py`): real `docker-registry` processes, skopeo as the reference
//! client, curl for the faults. Each test skips with a printed reason when a tool is missing,
//! and fails instead under `ENVC_ENGINE_REQUIRED`.

mod common;

use common::registry::*;
use common::TempDir;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::path::Path;
use std::process::{Command, Stdio};

const REPO: &str = "envc/tiny";
const TAG: &str = "v1";
const OCI_ACCEPT: &str = "Accept: application/vnd.oci.image.manifest.v1+json";

fn ready(reasons: &[Option<String>]) -> bool {
    available(reasons.iter().flatten().next().cloned())
}

/// skopeo with its own (empty) auth file and no dependence on the machine's policy.json.
fn skopeo(tmp: &TempDir) -> Command {
    let mut c = Command::new("skopeo");
    c.env("REGISTRY_AUTH_FILE", tmp.join("auth.json"))
        .arg("--insecure-policy")
        .stdin(Stdio::null());
    c
}

/// A tiny image pushed to `dest` (`ADDR`), optionally with `--dest-creds`; returns its digest.
fn push_tiny(tmp: &TempDir, dest: &str, creds: Option<&str>) -> String {
    let layout = tmp.join("layout");
    let digest = tiny_oci_layout(&layout, TAG, "registry-support");
    let mut cmd = skopeo(tmp);
    cmd.args(["copy", "--preserve-digests", "--dest-tls-verify=false"]);
    if let Some(creds) = creds {
        cmd.args(["--dest-creds", creds]);
    }
    cmd.arg(format!("oci:{}:{TAG}", layout.display()))
        .arg(format!("docker://{dest}/{REPO}:{TAG}"));
    common::run(&mut cmd).ok();
    digest
}

/// `skopeo inspect` of `ADDR/REPO:TAG`: the Digest on success, the stderr on failure.
fn inspect(tmp: &TempDir, addr: &str, creds: Option<&str>) -> Result<String, String> {
    let mut cmd = skopeo(tmp);
    cmd.args(["inspect", "--tls-verify=false"]);
    if let Some(creds) = creds {
        cmd.args(["--creds", creds]);
    }
    cmd.arg(format!("docker://{addr}/{REPO}:{TAG}"));
    let r = common::run(&mut cmd);
    if r.code != Some(0) {
        return Err(r.to_string());
    }
    Ok(r.json()["Digest"]
        .as_str()
        .unwrap_or_else(|| panic!("no Digest: {r}"))
        .to_string())
}

/// What a curl run saw.
struct Curl {
    exit: i32,
    status: u16,
    size: u64,
    body: Vec<u8>,
    headers: String,
}

/// `curl -s URL ARGS…`, the body to a file, `%{http_code} %{size_download}` from `-w`.
fn curl(tmp: &TempDir, url: &str, args: &[&str]) -> Curl {
    let body = tmp.join("curl-body");
    let headers = tmp.join("curl-headers");
    let _ = std::fs::remove_file(&body);
    let _ = std::fs::remove_file(&headers);
    let out = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&body)
        .arg("-D")
        .arg(&headers)
        .args(["-w", "%{http_code} %{size_download}"])
        .args(args)
        .arg(url)
        .stdin(Stdio::null())
        .output()
        .expect("run curl");
    let w = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut words = w.split_whitespace();
    Curl {
        exit: out.status.code().unwrap_or(-1),
        status: words.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        size: words.next().and_then(|s| s.parse().ok()).unwrap_or(0),
        body: std::fs::read(&body).unwrap_or_default(),
        headers: std::fs::read_to_string(&headers).unwrap_or_default(),
    }
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// A plain registry with the tiny image pushed, and a proxy in front of it.
struct Pushed {
    tmp: TempDir,
    _registry: Registry,
    proxy: Proxy,
    digest: String,
}

impl Pushed {
    fn new() -> Option<Pushed> {
        if !ready(&[proxy_skip_reason(), skopeo_skip_reason()]) {
            return None;
        }
        let tmp = TempDir::new("registry-support");
        let registry = Registry::start();
        let digest = push_tiny(&tmp, &registry.addr, None);
        let proxy = Proxy::start(&registry);
        Some(Pushed {
            tmp,
            _registry: registry,
            proxy,
            digest,
        })
    }

    fn manifest_url(&self) -> String {
        format!("{}/v2/{REPO}/manifests/{TAG}", self.proxy.url())
    }

    /// The layer's (or any blob's) URL on the proxy.
    fn blob_url(&self, digest: &str) -> String {
        format!("{}/v2/{REPO}/blobs/{digest}", self.proxy.url())
    }

    fn manifest(&self) -> Value {
        let layout = self.tmp.join("layout");
        common::read_json_blob(&layout, &self.digest)
    }

    fn layer_digest(&self) -> String {
        self.manifest()["layers"][0]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    }
}

#[test]
fn plain_registry_takes_a_push_and_the_proxy_serves_it() {
    let Some(p) = Pushed::new() else { return };
    let registry_addr = &p._registry.addr;
    assert!(p
        ._registry
        .data_dir
        .join("docker/registry/v2/repositories")
        .is_dir());
    assert_eq!(inspect(&p.tmp, registry_addr, None).unwrap(), p.digest);
    assert_eq!(inspect(&p.tmp, &p.proxy.addr, None).unwrap(), p.digest);
    // The proxy forwarded the manifest GET and logged it, with no auth.
    let log = p.proxy.log();
    assert!(
        log.iter().any(|e| e["method"] == "GET"
            && e["path"] == format!("/v2/{REPO}/manifests/{TAG}")
            && e["status"] == 200
            && e["auth"] == "none"),
        "{log:#?}"
    );
    // Bytes through the proxy are the pushed bytes; the manifest's digest header too.
    let c = curl(&p.tmp, &p.manifest_url(), &["-H", OCI_ACCEPT]);
    assert_eq!((c.exit, c.status), (0, 200));
    assert_eq!(sha256(&c.body), p.digest);
    assert!(c
        .headers
        .to_ascii_lowercase()
        .contains(&format!("docker-content-digest: {}", p.digest)));
    // A push through the proxy (POST/PATCH/PUT, Location rewritten to the proxy) works too.
    let tmp2 = TempDir::new("registry-support-push");
    let again = push_tiny(&tmp2, &p.proxy.addr, None);
    assert_eq!(again, p.digest);
    let log = p.proxy.log();
    assert!(
        log.iter()
            .any(|e| e["method"] == "PUT" && e["path"] == format!("/v2/{REPO}/manifests/{TAG}")),
        "{log:#?}"
    );
    p.proxy.clear_log();
    assert!(p.proxy.log().is_empty());
    // Keep-alive: two requests on one connection through the proxy.
    let out = Command::new("curl")
        .args(["-s", "-H", OCI_ACCEPT, "-o", "/dev/null", "-o", "/dev/null"])
        .args(["-w", "%{num_connects} "])
        .args([p.manifest_url(), p.manifest_url()])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1 0 ");
}

#[test]
fn htpasswd_registry_rejects_without_creds_and_accepts_with_them() {
    if !ready(&[htpasswd_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("registry-htpasswd-test");
    let registry = Registry::start_htpasswd("alice", "s3cret");
    let r = http_request(&registry.addr, "GET", "/v2/", &[], None).unwrap();
    assert_eq!(r.status, 401);
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.starts_with("Basic")),
        "{r:?}"
    );
    let digest = push_tiny(&tmp, &registry.addr, Some("alice:s3cret"));
    let err = inspect(&tmp, &registry.addr, None).unwrap_err();
    assert!(err.contains("unauthorized") || err.contains("401"), "{err}");
    inspect(&tmp, &registry.addr, Some("alice:wrong")).unwrap_err();
    assert_eq!(
        inspect(&tmp, &registry.addr, Some("alice:s3cret")).unwrap(),
        digest
    );
}

#[test]
fn bearer_proxy_issues_tokens_for_the_right_creds_only() {
    if !ready(&[proxy_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("registry-bearer-test");
    let registry = Registry::start();
    let proxy = Proxy::start_token(&registry, "bob", "hunter2");
    // Pushing needs pull,push tokens; it goes through the proxy.
    let digest = push_tiny(&tmp, &proxy.addr, Some("bob:hunter2"));
    assert!(proxy.token_requests() >= 1);
    let before = proxy.token_requests();
    assert_eq!(
        inspect(&tmp, &proxy.addr, Some("bob:hunter2")).unwrap(),
        digest
    );
    assert!(proxy.token_requests() > before);
    inspect(&tmp, &proxy.addr, Some("bob:nope")).unwrap_err();
    inspect(&tmp, &proxy.addr, None).unwrap_err();
    let log = proxy.log();
    assert!(
        log.iter()
            .any(|e| e["auth"] == "bearer" && e["status"] == 200),
        "{log:#?}"
    );

    // The challenges: /v2/ without a scope, a repository with its scope, a mount with both.
    let r = http_request(&proxy.addr, "GET", "/v2/", &[], None).unwrap();
    assert_eq!(r.status, 401);
    let realm = format!(
        "Bearer realm=\"{}/token\",service=\"envc-test\"",
        proxy.url()
    );
    assert_eq!(r.header("www-authenticate"), Some(realm.as_str()));
    let r = http_request(
        &proxy.addr,
        "GET",
        &format!("/v2/{REPO}/manifests/{TAG}"),
        &[],
        None,
    )
    .unwrap();
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("{realm},scope=\"repository:{REPO}:pull\"").as_str())
    );
    // A token for other/repo only does not cover a mount from envc/tiny.
    let token = curl(
        &tmp,
        &format!(
            "{}/token?service=envc-test&scope=repository:other/repo:pull,push",
            proxy.url()
        ),
        &["-u", "bob:hunter2"],
    );
    assert_eq!(token.status, 200);
    let token: Value = serde_json::from_slice(&token.body).unwrap();
    assert_eq!(token["expires_in"], 300);
    assert_eq!(token["token"], token["access_token"]);
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let layer = tiny_layer_digest(&tmp);
    let mount = format!("/v2/other/repo/blobs/uploads/?mount={layer}&from={REPO}");
    let r = http_request(
        &proxy.addr,
        "POST",
        &mount,
        &[("Authorization", bearer.as_str())],
        Some(&b""[..]),
    )
    .unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    assert!(
        r.header("www-authenticate")
            .is_some_and(|v| v.contains(&format!(
                "scope=\"repository:other/repo:pull,push repository:{REPO}:pull\""
            ))),
        "{r:?}"
    );
    // With both scopes (scope= repeated) the mount goes through: 201 Created.
    let token = curl(
        &tmp,
        &format!(
            "{}/token?service=envc-test&scope=repository:other/repo:pull,push&scope=repository:{REPO}:pull",
            proxy.url()
        ),
        &["-u", "bob:hunter2"],
    );
    let token: Value = serde_json::from_slice(&token.body).unwrap();
    let bearer = format!("Bearer {}", token["token"].as_str().unwrap());
    let r = http_request(
        &proxy.addr,
        "POST",
        &mount,
        &[("Authorization", bearer.as_str())],
        Some(&b""[..]),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    // Faults reach the token endpoint too.
    proxy.set_faults(json!([{"path": "^/token$", "status": 500, "times": 1}]));
    let token_url = format!("{}/token?service=envc-test", proxy.url());
    let c = curl(&tmp, &token_url, &["-u", "bob:hunter2"]);
    assert_eq!(c.status, 500);
    let c = curl(&tmp, &token_url, &["-u", "bob:hunter2"]);
    assert_eq!(c.status, 200);
    proxy.clear_faults();
    // The token endpoint itself wants Basic auth with the right password.
    let r = http_request(&proxy.addr, "GET", "/token?service=envc-test", &[], None).unwrap();
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Basic realm=\"envc-test\"")
    );
}

fn tiny_layer_digest(tmp: &TempDir) -> String {
    let layout = tmp.join("layout");
    let index = common::read_json_blob(
        &layout,
        common::index_json(&layout)["manifests"][0]["digest"]
            .as_str()
            .unwrap(),
    );
    index["layers"][0]["digest"].as_str().unwrap().to_string()
}

#[test]
fn fault_status_503_fires_once_then_forwards() {
    let Some(p) = Pushed::new() else { return };
    p.proxy.set_faults(json!([
        // Method-filtered: never fires on a GET.
        {"method": "HEAD", "path": "/manifests/", "status": 404},
        {"path": "/manifests/", "status": 503, "times": 1, "headers": {"Retry-After": "1"}},
    ]));
    let c = curl(&p.tmp, &p.manifest_url(), &["-H", OCI_ACCEPT]);
    assert_eq!((c.exit, c.status), (0, 503));
    assert!(c.headers.contains("Retry-After: 1"), "{}", c.headers);
    let body: Value = serde_json::from_slice(&c.body).unwrap();
    assert_eq!(body["errors"][0]["message"], "injected");
    let c = curl(&p.tmp, &p.manifest_url(), &["-H", OCI_ACCEPT]);
    assert_eq!((c.exit, c.status), (0, 200));
    assert_eq!(sha256(&c.body), p.digest);
    assert_eq!(p.proxy.faults()[1]["times"], 0);
    let c = curl(&p.tmp, &p.manifest_url(), &["-I", "-H", OCI_ACCEPT]);
    assert_eq!(c.status, 404);
    let log = p.proxy.log();
    let statuses: Vec<&Value> = log.iter().map(|e| &e["status"]).collect();
    assert_eq!(
        statuses,
        [&json!(503), &json!(200), &json!(404)],
        "{log:#?}"
    );
    p.proxy.clear_faults();
    assert!(p.proxy.faults().is_empty());
}

#[test]
fn fault_drop_after_gives_a_short_read() {
    let Some(p) = Pushed::new() else { return };
    let layer = p.layer_digest();
    p.proxy
        .set_faults(json!([{"path": "/blobs/sha256:", "drop_after": 100}]));
    let c = curl(&p.tmp, &p.blob_url(&layer), &[]);
    assert_eq!(c.exit, 18, "curl: partial file");
    assert_eq!((c.status, c.size), (200, 100));
    // The full length was promised.
    let full = p.manifest()["layers"][0]["size"].as_u64().unwrap();
    assert!(
        c.headers.contains(&format!("Content-Length: {full}")),
        "{}",
        c.headers
    );
}

#[test]
fn fault_truncate_gives_a_consistent_short_body() {
    let Some(p) = Pushed::new() else { return };
    let layer = p.layer_digest();
    p.proxy
        .set_faults(json!([{"path": "/blobs/", "truncate": 123}]));
    let c = curl(&p.tmp, &p.blob_url(&layer), &[]);
    assert_eq!((c.exit, c.status, c.size), (0, 200, 123));
    assert_eq!(c.body.len(), 123);
    assert!(c.headers.contains("Content-Length: 123"), "{}", c.headers);
}

#[test]
fn fault_corrupt_flips_a_byte() {
    let Some(p) = Pushed::new() else { return };
    p.proxy
        .set_faults(json!([{"path": "/manifests/", "corrupt": true}]));
    let c = curl(&p.tmp, &p.manifest_url(), &["-H", OCI_ACCEPT]);
    assert_eq!((c.exit, c.status), (0, 200));
    let good = std::fs::read(
        p.tmp
            .join("layout/blobs/sha256")
            .join(p.digest.strip_prefix("sha256:").unwrap()),
    )
    .unwrap();
    assert_eq!(c.body.len(), good.len());
    assert_ne!(sha256(&c.body), p.digest);
    let differing = c.body.iter().zip(&good).filter(|(a, b)| a != b).count();
    assert_eq!(differing, 1);
}

#[test]
fn fault_redirect_loop_exhausts_redirects() {
    let Some(p) = Pushed::new() else { return };
    p.proxy
        .set_faults(json!([{"path": "/manifests/", "redirect_loop": true}]));
    let c = curl(&p.tmp, &p.manifest_url(), &["-L", "--max-redirs", "3"]);
    assert_eq!(c.exit, 47, "curl: too many redirects");
    assert_eq!(c.status, 307);
    let hits = p.proxy.log().iter().filter(|e| e["status"] == 307).count();
    assert_eq!(hits, 4, "the first request and three redirects");
}

#[test]
fn fault_huge_streams_the_byte_count() {
    let Some(p) = Pushed::new() else { return };
    let bytes: u64 = 64 * 1024 * 1024 + 7;
    p.proxy.set_faults(json!([
        {"path": "/manifests/huge", "huge": bytes},
        {"path": "/manifests/chunked", "huge_chunked": 1_000_001},
    ]));
    let url = format!("{}/v2/{REPO}/manifests/huge", p.proxy.url());
    let out = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{size_download} %{content_type}",
        ])
        .arg(&url)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{bytes} application/vnd.oci.image.manifest.v1+json")
    );
    let c = curl(
        &p.tmp,
        &format!("{}/v2/{REPO}/manifests/chunked", p.proxy.url()),
        &[],
    );
    assert_eq!((c.exit, c.status, c.size), (0, 200, 1_000_001));
    assert!(
        c.headers.contains("Transfer-Encoding: chunked") && !c.headers.contains("Content-Length"),
        "{}",
        c.headers
    );
    assert!(c.body.starts_with(br#"{"a":"aaaa"#));
}

#[test]
fn tls_registry_is_trusted_only_with_its_ca() {
    if !ready(&[tls_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("registry-tls-test");
    let (registry, ca) = Registry::start_tls();
    assert!(registry.url().starts_with("https://127.0.0.1:"));
    let url = format!("{}/v2/", registry.url());
    let c = curl(&tmp, &url, &["--cacert", ca.to_str().unwrap()]);
    assert_eq!((c.exit, c.status), (0, 200));
    // localhost is in the certificate too.
    let port = registry.addr.rsplit(':').next().unwrap();
    let c = curl(
        &tmp,
        &format!("https://localhost:{port}/v2/"),
        &["--cacert", ca.to_str().unwrap()],
    );
    assert_eq!((c.exit, c.status), (0, 200));
    // Without the CA the system trust store does not know it: curl exit 60.
    let c = curl(&tmp, &url, &[]);
    assert_eq!(c.exit, 60);
    // The proxy can sit in front of a TLS registry and serve it as plain HTTP.
    if proxy_skip_reason().is_none() {
        let proxy = Proxy::start(&registry);
        let c = curl(&tmp, &format!("{}/v2/", proxy.url()), &[]);
        assert_eq!((c.exit, c.status), (0, 200));
    }
    assert!(Path::new(&ca).is_file());
}

#[test]
fn registry_stops_and_cleans_up_on_drop() {
    if !registry_available() {
        return;
    }
    let registry = Registry::start();
    let pid = registry.pid();
    let data = registry.data_dir.clone();
    let addr = registry.addr.clone();
    assert!(data.is_dir());
    drop(registry);
    assert!(!data.exists() || std::env::var_os("ENVC_KEEP_TMP").is_some());
    assert!(!Path::new(&format!("/proc/{pid}")).exists() || is_zombie_free(pid));
    assert!(http_request(&addr, "GET", "/v2/", &[], None).is_err());
}

/// The PID may be reused by then; only a live docker-registry under it would be a failure.
fn is_zombie_free(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .map(|comm| !comm.trim().starts_with("docker-registr"))
        .unwrap_or(true)
}

/// The peak resident memory of a process, in KiB (`VmHWM` in /proc/PID/status).
fn peak_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmHWM")
}

#[test]
fn proxy_streams_a_big_blob_both_ways_without_buffering_it() {
    if !ready(&[proxy_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("registry-big-blob");
    let registry = Registry::start();
    let proxy = Proxy::start(&registry);
    // 200 MiB that do not compress to nothing, hashed as written.
    let blob = tmp.join("big.bin");
    let mut hasher = Sha256::new();
    {
        use std::io::Write;
        let mut f = std::io::BufWriter::new(std::fs::File::create(&blob).unwrap());
        let mut block = vec![0u8; 1 << 20];
        for i in 0..200u32 {
            for (j, b) in block.iter_mut().enumerate() {
                *b = (j as u32).wrapping_mul(2_654_435_761).wrapping_add(i) as u8;
            }
            hasher.update(&block);
            f.write_all(&block).unwrap();
        }
    }
    let digest = format!("sha256:{:x}", hasher.finalize());

    // POST, then one chunked PATCH (the proxy decodes and re-chunks it), then the closing PUT.
    let r = http_request(
        &proxy.addr,
        "POST",
        &format!("/v2/{REPO}/blobs/uploads/"),
        &[],
        Some(&b""[..]),
    )
    .unwrap();
    assert_eq!(r.status, 202, "{r:?}");
    let location = r.header("location").unwrap().to_string();
    assert!(
        location.starts_with(&proxy.url()),
        "Location points at the proxy: {location}"
    );
    let c = curl(
        &tmp,
        &location,
        &[
            "-X",
            "PATCH",
            "-T",
            blob.to_str().unwrap(),
            "-H",
            "Transfer-Encoding: chunked",
            "-H",
            "Content-Type: application/octet-stream",
        ],
    );
    assert_eq!((c.exit, c.status), (0, 202), "{}", c.headers);
    let location = c
        .headers
        .lines()
        .find_map(|l| l.strip_prefix("Location: "))
        .expect("PATCH Location")
        .trim()
        .to_string();
    assert!(location.starts_with(&proxy.url()), "{location}");
    let sep = if location.contains('?') { '&' } else { '?' };
    let c = curl(
        &tmp,
        &format!("{location}{sep}digest={digest}"),
        &["-X", "PUT", "-H", "Content-Length: 0"],
    );
    assert_eq!((c.exit, c.status), (0, 201), "{}", c.headers);

    // Back down through the proxy, hashed by curl's caller.
    let down = tmp.join("down.bin");
    let out = Command::new("curl")
        .args(["-s", "-o"])
        .arg(&down)
        .args(["-w", "%{http_code} %{size_download}"])
        .arg(format!("{}/v2/{REPO}/blobs/{digest}", proxy.url()))
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("200 {}", 200u64 << 20)
    );
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(&down).unwrap(), &mut hasher).unwrap();
    assert_eq!(format!("sha256:{:x}", hasher.finalize()), digest);

    let peak = peak_rss_kib(proxy.pid());
    eprintln!("registry_proxy.py peak RSS: {peak} KiB");
    assert!(
        peak < 64 * 1024,
        "the proxy peaked at {peak} KiB for a 200 MiB blob"
    );
}
