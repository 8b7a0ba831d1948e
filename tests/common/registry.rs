//! Container registries on loopback for the registry client's end-to-end tests: a real
//! `docker-registry` (distribution 2.x) per test, plain, behind htpasswd basic auth or TLS with
//! a throwaway CA, and `tests/support/registry_proxy.py` in front of one to inject faults or
//! demand bearer tokens. Each runs as its own process in its own directory under
//! `CARGO_TARGET_TMPDIR` and is stopped (by PID) and removed on drop.
//!
//! Skips follow `engine.rs`: a test calls [`registry_available`] (or [`available`] with a
//! narrower reason) and returns when it says false; under `ENVC_ENGINE_REQUIRED` (CI) a missing
//! tool fails the test instead.

use super::{have, root, TempDir};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::fs;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long a registry gets to answer `GET /v2/`.
const READY_TIMEOUT: Duration = Duration::from_secs(15);
/// How long a stopped registry gets between SIGTERM and SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// Fresh ports tried when the registry loses the race for the one picked.
const BIND_ATTEMPTS: usize = 5;

fn missing(tools: &[(&str, &str)]) -> Option<String> {
    tools
        .iter()
        .find(|(tool, _)| !have(tool))
        .map(|(tool, package)| format!("`{tool}` not found (apt-get install {package})"))
}

/// Why a plain registry cannot run here: `docker-registry` not on PATH.
pub fn registry_skip_reason() -> Option<String> {
    missing(&[("docker-registry", "docker-registry")])
}

/// Why [`Registry::start_htpasswd`] cannot run here: also `htpasswd`.
pub fn htpasswd_skip_reason() -> Option<String> {
    registry_skip_reason().or_else(|| missing(&[("htpasswd", "apache2-utils")]))
}

/// Why [`Registry::start_tls`] cannot run here: also `openssl` (and `curl`, its readiness probe).
pub fn tls_skip_reason() -> Option<String> {
    registry_skip_reason().or_else(|| missing(&[("openssl", "openssl"), ("curl", "curl")]))
}

/// Why a [`Proxy`] cannot run here: also `python3`.
pub fn proxy_skip_reason() -> Option<String> {
    registry_skip_reason().or_else(|| missing(&[("python3", "python3")]))
}

/// Why `skopeo` (pushing test images, a reference client) cannot run here.
pub fn skopeo_skip_reason() -> Option<String> {
    missing(&[("skopeo", "skopeo")])
}

/// `true` when nothing is missing; otherwise prints why the test is skipped, or panics under
/// `ENVC_ENGINE_REQUIRED`.
pub fn available(reason: Option<String>) -> bool {
    match reason {
        None => true,
        Some(reason) => {
            if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
                panic!("registry test required (ENVC_ENGINE_REQUIRED) but {reason}");
            }
            eprintln!("skipping registry test: {reason}");
            false
        }
    }
}

/// [`available`] for a plain registry.
pub fn registry_available() -> bool {
    available(registry_skip_reason())
}

/// A port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// The last lines of a log file, for a panic message.
pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| format!("(no log: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// A YAML double-quoted scalar (a JSON string is one).
fn yaml_str(s: impl AsRef<str>) -> String {
    serde_json::to_string(s.as_ref()).expect("string to JSON")
}

fn yaml_path(p: &Path) -> String {
    yaml_str(p.to_str().expect("temp paths are UTF-8"))
}

/// Stops a child: SIGTERM by its PID, up to `grace` to exit, then SIGKILL.
fn stop(child: &mut Child, grace: Duration) {
    if let Ok(Some(_)) = child.try_wait() {
        return;
    }
    let pid = Pid::from_raw(child.id() as i32);
    let _ = kill(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Htpasswd,
    Tls,
}

/// A `docker-registry serve` process on a loopback port with filesystem storage in its own
/// temporary directory.
pub struct Registry {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The storage root (`storage.filesystem.rootdirectory`).
    pub data_dir: PathBuf,
    /// The registry's stderr (warnings and the access log).
    pub log_path: PathBuf,
    /// The generated `config.yml`.
    pub config_path: PathBuf,
    tls: bool,
    child: Child,
    // Dropped after `Drop::drop` stopped the process: the directory goes last.
    _dir: TempDir,
}

impl Registry {
    /// A registry without auth, over plain HTTP.
    pub fn start() -> Registry {
        Registry::launch(Mode::Plain, TempDir::new("registry"))
    }

    /// A registry that demands HTTP basic auth as `user`/`password` (bcrypt htpasswd file).
    pub fn start_htpasswd(user: &str, password: &str) -> Registry {
        let dir = TempDir::new("registry-htpasswd");
        let out = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .stdin(Stdio::null())
            .output()
            .expect("run htpasswd");
        assert!(
            out.status.success(),
            "htpasswd -Bbn failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        fs::write(dir.join("htpasswd"), &out.stdout).expect("write htpasswd");
        Registry::launch(Mode::Htpasswd, dir)
    }

    /// A registry over HTTPS with a server certificate for 127.0.0.1 and localhost signed by a
    /// throwaway CA; returns the CA's PEM (the bundle a client must trust).
    pub fn start_tls() -> (Registry, PathBuf) {
        let dir = TempDir::new("registry-tls");
        let ca = make_certs(dir.path());
        (Registry::launch(Mode::Tls, dir), ca)
    }

    fn launch(mode: Mode, dir: TempDir) -> Registry {
        let tls = mode == Mode::Tls;
        let data_dir = dir.join("data");
        fs::create_dir_all(&data_dir).expect("create registry data dir");
        let log_path = dir.join("registry.log");
        let config_path = dir.join("config.yml");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let addr = format!("127.0.0.1:{}", free_port());
            fs::write(&config_path, config(mode, &addr, dir.path())).expect("write config.yml");
            let log = fs::File::create(&log_path).expect("create registry log");
            let mut cmd = Command::new("docker-registry");
            cmd.arg("serve")
                .arg(&config_path)
                .current_dir(dir.path())
                .stdin(Stdio::null())
                .stdout(log.try_clone().expect("dup log"))
                .stderr(log);
            // REGISTRY_* variables override the config file; none from the caller may leak in.
            for (key, _) in std::env::vars_os() {
                if key.to_string_lossy().starts_with("REGISTRY_") {
                    cmd.env_remove(&key);
                }
            }
            let mut child = cmd.spawn().expect("spawn docker-registry");
            let outcome = wait_ready(&mut child, &addr, tls);
            if outcome == Ready::Yes {
                return Registry {
                    addr,
                    data_dir,
                    log_path,
                    config_path,
                    tls,
                    child,
                    _dir: dir,
                };
            }
            let tail = log_tail(&log_path, 20);
            // Another process took the port between our probe bind and the registry's.
            let lost_port = outcome == Ready::Exited && tail.contains("address already in use");
            if !lost_port || attempt >= BIND_ATTEMPTS {
                stop(&mut child, STOP_GRACE);
                panic!(
                    "docker-registry on {addr} never answered GET /v2/ ({}); {}:\n{tail}",
                    if outcome == Ready::Exited {
                        "it exited"
                    } else {
                        "timed out"
                    },
                    log_path.display()
                );
            }
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://…` for [`Registry::start_tls`].
    pub fn url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.addr)
    }

    /// The registry's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The last `lines` lines of the registry's log.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        stop(&mut self.child, STOP_GRACE);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Ready {
    Yes,
    Exited,
    TimedOut,
}

/// Polls `GET /v2/` until it answers 200 or 401, the process exits, or [`READY_TIMEOUT`].
fn wait_ready(child: &mut Child, addr: &str, tls: bool) -> Ready {
    let deadline = Instant::now() + READY_TIMEOUT;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return Ready::Exited;
        }
        let status = if tls {
            Command::new("curl")
                .args(["-s", "-k", "-o", "/dev/null", "-w", "%{http_code}"])
                .arg(format!("https://{addr}/v2/"))
                .stdin(Stdio::null())
                .output()
                .ok()
                .and_then(|out| String::from_utf8_lossy(&out.stdout).trim().parse().ok())
        } else {
            http_request(addr, "GET", "/v2/", &[], None)
                .ok()
                .map(|r| r.status)
        };
        if matches!(status, Some(200 | 401)) {
            return Ready::Yes;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Ready::TimedOut
}

/// The registry's `config.yml`.
fn config(mode: Mode, addr: &str, dir: &Path) -> String {
    let mut c = format!(
        "version: 0.1\n\
         log:\n  level: warn\n  formatter: text\n\
         storage:\n  filesystem:\n    rootdirectory: {data}\n  delete:\n    enabled: true\n\
         \x20 maintenance:\n    uploadpurging:\n      enabled: false\n\
         http:\n  addr: {addr}\n  secret: envc-test-secret\n",
        data = yaml_path(&dir.join("data")),
        addr = yaml_str(addr),
    );
    match mode {
        Mode::Plain => {}
        Mode::Tls => c.push_str(&format!(
            "  tls:\n    certificate: {}\n    key: {}\n",
            yaml_path(&dir.join("server.pem")),
            yaml_path(&dir.join("server.key"))
        )),
        Mode::Htpasswd => c.push_str(&format!(
            "auth:\n  htpasswd:\n    realm: envc-test\n    path: {}\n",
            yaml_path(&dir.join("htpasswd"))
        )),
    }
    c
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA (`ca.pem`) and a server certificate it signed (`server.pem`, `server.key`) for
/// IP:127.0.0.1 and DNS:localhost, in `dir`; returns the CA's path.
fn make_certs(dir: &Path) -> PathBuf {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=envc test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(dir, &csr);
    fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n\
         keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n",
    )
    .expect("write server.ext");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
    );
    dir.join("ca.pem")
}

/// A response read by [`http_request`].
#[derive(Debug)]
pub struct HttpResponse {
    pub status: u16,
    /// Header names lowercased, in order.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl HttpResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body is not JSON ({e}): {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// One plain-HTTP/1.1 request to `addr` with `Connection: close`, the response read to EOF
/// (Content-Length honoured, chunked bodies decoded). Enough for control endpoints and probes;
/// not a registry client.
pub fn http_request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> std::io::Result<HttpResponse> {
    let mut stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(Duration::from_secs(30)))?;
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if let Some(body) = body {
        req.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes())?;
    if let Some(body) = body {
        stream.write_all(body)?;
    }
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let bad = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what.to_string());
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| bad("no end of headers"))?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| bad("no status line"))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let find = |name: &str| headers.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    if find("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
        body = dechunk(&body).ok_or_else(|| bad("bad chunked body"))?;
    } else if let Some(n) = find("content-length").and_then(|v| v.parse::<usize>().ok()) {
        body.truncate(n);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut data: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = data.windows(2).position(|w| w == b"\r\n")?;
        let line = std::str::from_utf8(&data[..eol]).ok()?;
        let size = usize::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
        data = &data[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(data.get(..size)?);
        data = data.get(size + 2..)?;
    }
}

/// `tests/support/registry_proxy.py` in front of a [`Registry`]: forwards everything, injects
/// the faults it is given, and in token mode demands bearer tokens from its own `/token`.
pub struct Proxy {
    /// `127.0.0.1:PORT`
    pub addr: String,
    /// The proxy's stderr.
    pub log_path: PathBuf,
    child: Child,
    _dir: TempDir,
}

impl Proxy {
    /// A transparent proxy (until faults are set) in front of `upstream`.
    pub fn start(upstream: &Registry) -> Proxy {
        Proxy::launch(upstream, &[])
    }

    /// A proxy that demands `Authorization: Bearer` tokens for `/v2/`, issued by its
    /// `GET /token` to Basic `user:password`. Put it in front of a plain [`Registry`].
    pub fn start_token(upstream: &Registry, user: &str, password: &str) -> Proxy {
        Proxy::launch(
            upstream,
            &["--token-user", user, "--token-password", password],
        )
    }

    fn launch(upstream: &Registry, extra: &[&str]) -> Proxy {
        let dir = TempDir::new("registry-proxy");
        let log_path = dir.join("proxy.log");
        let log = fs::File::create(&log_path).expect("create proxy log");
        let mut child = Command::new("python3")
            .arg(root().join("tests/support/registry_proxy.py"))
            .args(["--upstream", &upstream.url()])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("spawn python3 registry_proxy.py");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("proxy stdout");
        let _ = BufReader::new(stdout).read_line(&mut line);
        let port: u16 = match line.trim().parse() {
            Ok(port) => port,
            Err(_) => {
                stop(&mut child, Duration::ZERO);
                panic!(
                    "registry_proxy.py printed {line:?}, not its port; {}:\n{}",
                    log_path.display(),
                    log_tail(&log_path, 20)
                );
            }
        };
        Proxy {
            addr: format!("127.0.0.1:{port}"),
            log_path,
            child,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT`
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The proxy's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    fn control(&self, method: &str, path: &str, body: Option<&[u8]>) -> HttpResponse {
        let resp = http_request(&self.addr, method, path, &[], body)
            .unwrap_or_else(|e| panic!("proxy control {method} {path}: {e}"));
        assert_eq!(
            resp.status,
            200,
            "proxy control {method} {path}: {}\n{}",
            String::from_utf8_lossy(&resp.body),
            log_tail(&self.log_path, 20)
        );
        resp
    }

    /// Replaces the fault list (a JSON array; see `tests/support/registry_proxy.py`).
    pub fn set_faults(&self, faults: Value) {
        let body = serde_json::to_vec(&faults).expect("faults to JSON");
        self.control("POST", "/__envc/faults", Some(&body));
    }

    /// No faults: the proxy forwards everything again.
    pub fn clear_faults(&self) {
        self.set_faults(Value::Array(Vec::new()));
    }

    /// The current fault list, with the `times` each has left.
    pub fn faults(&self) -> Vec<Value> {
        as_array(self.control("GET", "/__envc/faults", None).json())
    }

    /// The requests seen so far: `{method, path, query, status, auth, fault}` each.
    pub fn log(&self) -> Vec<Value> {
        as_array(self.control("GET", "/__envc/log", None).json())
    }

    /// Forgets the requests seen so far.
    pub fn clear_log(&self) {
        self.control("DELETE", "/__envc/log", None);
    }

    /// How many requests the token endpoint has had (granted or not).
    pub fn token_requests(&self) -> usize {
        let v = self.control("GET", "/__envc/tokens", None).json();
        v["requests"].as_u64().expect("requests count") as usize
    }
}

fn as_array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        other => panic!("expected a JSON array, got {other}"),
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A tiny single-layer OCI image layout at `dir` (created), its manifest tagged `reference`
/// in `index.json` (`oci:DIR:REFERENCE` for skopeo); `marker` goes into the layer's one file,
/// so different markers give different digests. Returns the manifest digest `sha256:HEX`.
pub fn tiny_oci_layout(dir: &Path, reference: &str, marker: &str) -> String {
    tiny_oci_layout_arch(dir, reference, marker, "amd64")
}

/// [`tiny_oci_layout`] for a linux image of another architecture (`arm64`, …): the config's
/// `architecture` is `arch`.
pub fn tiny_oci_layout_arch(dir: &Path, reference: &str, marker: &str, arch: &str) -> String {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).expect("create blobs dir");
    let put = |bytes: &[u8]| -> (String, usize) {
        let hex = format!("{:x}", Sha256::digest(bytes));
        fs::write(blobs.join(&hex), bytes).expect("write blob");
        (format!("sha256:{hex}"), bytes.len())
    };
    let mut layer = tar::Builder::new(Vec::new());
    let content = format!("{marker}\n");
    let mut header = tar::Header::new_ustar();
    header.set_size(content.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_cksum();
    layer
        .append_data(&mut header, "marker.txt", content.as_bytes())
        .expect("tar entry");
    let layer = layer.into_inner().expect("finish tar");
    let (layer_digest, layer_size) = put(&layer);
    let config = serde_json::json!({
        "architecture": arch,
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [layer_digest]},
    });
    let (config_digest, config_size) = put(&serde_json::to_vec(&config).unwrap());
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_size,
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar",
            "digest": layer_digest,
            "size": layer_size,
        }],
    });
    let (manifest_digest, manifest_size) = put(&serde_json::to_vec(&manifest).unwrap());
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).expect("oci-layout");
    let index = serde_json::json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }],
    });
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).expect("index.json");
    manifest_digest
}
