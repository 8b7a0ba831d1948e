//! The HTTP side of the distribution API: one [`Client`] per command, on `ureq` (blocking, no
//! async runtime, rustls with the operating system's trust store, the standard proxy
//! variables). Every request goes through [`Client::send`], which
//! - authenticates: answers a `401` by its `WWW-Authenticate` challenge (Basic with the
//!   credential, or a Bearer token fetched from the realm and cached per scope), once;
//! - retries what may succeed on a second try: `429` and `5xx` (after `Retry-After` when the
//!   registry gives one, else with exponential backoff) and dropped or refused connections;
//! - never sends a body it cannot send again: bodies are bytes or a byte range of a file.
//!
//! Registries are spoken to over HTTPS; plain HTTP (after HTTPS fails) only with `--insecure`
//! or on loopback, as Docker allows.

use super::auth::{self, AuthCache, Challenge, Credential, Scope};
use super::progress::Progress;
use super::reference::Reference;
use super::Error;
use std::collections::HashMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use ureq::http::{self, Method, Response, StatusCode};

/// How the client connects and whom it claims to be.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// `--insecure`: a registry that does not speak HTTPS may be spoken to over plain HTTP.
    pub insecure: bool,
    /// `--username` and `--password-stdin`: used for every registry, before `config.json`.
    pub credential: Option<Credential>,
    /// `--offline`: every request is refused, naming what it was for.
    pub offline: bool,
    /// How many blobs move at once.
    pub jobs: usize,
    /// Progress bars on a terminal.
    pub progress: bool,
}

/// Attempts per request before a retriable failure is reported.
const ATTEMPTS: u32 = 5;
/// The first backoff; doubled per attempt.
const BACKOFF: Duration = Duration::from_millis(250);
/// A registry's `Retry-After` is honoured up to this long.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(30);
/// Redirects followed per request (a loop ends here, as an error).
const MAX_REDIRECTS: u32 = 8;
/// Small replies (errors, tokens, tag lists) are read up to this size.
pub(crate) const MAX_SMALL_BODY: u64 = 4 << 20;

/// A request body that can be sent again on a retry.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    Empty,
    Bytes(&'a [u8]),
    /// `len` bytes of the file at `path` from `offset`.
    File {
        path: &'a Path,
        offset: u64,
        len: u64,
    },
}

/// One request: what, where, with which access, and extra headers.
#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub method: Method,
    pub url: String,
    pub scope: Scope,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body<'a>,
}

impl<'a> Request<'a> {
    pub fn new(method: Method, url: String, scope: Scope) -> Request<'a> {
        Request {
            method,
            url,
            scope,
            headers: Vec::new(),
            body: Body::Empty,
        }
    }

    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Request<'a> {
        self.headers.push((name, value.into()));
        self
    }

    pub fn body(mut self, body: Body<'a>) -> Request<'a> {
        self.body = body;
        self
    }
}

/// A registry client for one command: its connections, credentials and tokens.
pub struct Client {
    agents: Agents,
    options: Options,
    auth: AuthCache,
    /// The scheme each registry host answered on.
    schemes: Mutex<HashMap<String, &'static str>>,
    /// Credentials per registry, looked up once.
    credentials: Mutex<HashMap<String, Option<Credential>>>,
    pub(crate) progress: Progress,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

/// The connections of one client: direct, and through the proxy the environment names for
/// each scheme, with `NO_PROXY`'s hosts going direct.
struct Agents {
    direct: ureq::Agent,
    http: Option<ureq::Agent>,
    https: Option<ureq::Agent>,
    no_proxy: NoProxy,
}

impl Agents {
    fn from_env() -> Result<Agents, Error> {
        let http = proxy_from_env(&["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])?;
        let https = proxy_from_env(&["HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"])?;
        let no_proxy = ["NO_PROXY", "no_proxy"]
            .iter()
            .find_map(|v| std::env::var(v).ok())
            .map_or_else(NoProxy::default, |v| NoProxy::parse(&v));
        Ok(Agents {
            direct: agent(None),
            http: http.map(|p| agent(Some(p))),
            https: https.map(|p| agent(Some(p))),
            no_proxy,
        })
    }

    fn for_url(&self, url: &str) -> &ureq::Agent {
        let (scheme, rest) = url.split_once("://").unwrap_or(("https", url));
        let host_port = rest.split(['/', '?']).next().unwrap_or("");
        let proxied = match scheme {
            "http" => self.http.as_ref(),
            _ => self.https.as_ref(),
        };
        match proxied {
            Some(a) if !self.no_proxy.matches(host_port) => a,
            _ => &self.direct,
        }
    }
}

/// The first of `vars` that is set and not empty, as a proxy.
fn proxy_from_env(vars: &[&str]) -> Result<Option<ureq::Proxy>, Error> {
    let Some((var, value)) = vars.iter().find_map(|v| {
        std::env::var(v)
            .ok()
            .filter(|x| !x.is_empty())
            .map(|x| (*v, x))
    }) else {
        return Ok(None);
    };
    ureq::Proxy::new(&value)
        .map(Some)
        .map_err(|e| Error::Protocol {
            url: format!("{var}={value}"),
            reason: format!("not a proxy URL ({e}); write http://HOST:PORT"),
        })
}

fn agent(proxy: Option<ureq::Proxy>) -> ureq::Agent {
    let tls = ureq::tls::TlsConfig::builder()
        .root_certs(ureq::tls::RootCerts::PlatformVerifier)
        .build();
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(MAX_REDIRECTS)
        .tls_config(tls)
        .proxy(proxy)
        .user_agent(format!("envc/{}", env!("CARGO_PKG_VERSION")))
        .timeout_connect(Some(Duration::from_secs(30)))
        .timeout_recv_response(Some(Duration::from_secs(120)))
        .timeout_per_read(Some(Duration::from_secs(120)))
        .timeout_per_write(Some(Duration::from_secs(120)))
        .max_idle_connections_per_host(16)
        .build()
        .into()
}

/// `NO_PROXY`, as curl reads it: `*`, or host names (a name also covers its subdomains; a
/// leading `.` or `*.` is the same), IP addresses, each optionally with `:PORT`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct NoProxy {
    all: bool,
    entries: Vec<(String, Option<String>)>,
}

impl NoProxy {
    pub(crate) fn parse(text: &str) -> NoProxy {
        let mut out = NoProxy::default();
        for e in text.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            if e == "*" {
                out.all = true;
                continue;
            }
            let e = e.trim_start_matches("*.").trim_start_matches('.');
            let (host, port) = match e.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') || h.ends_with(']') => (h, Some(p.to_string())),
                _ => (e, None),
            };
            out.entries.push((host.to_ascii_lowercase(), port));
        }
        out
    }

    /// Whether `host[:port]` goes direct.
    pub(crate) fn matches(&self, host_port: &str) -> bool {
        if self.all {
            return true;
        }
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => (h, Some(p)),
            _ => (host_port, None),
        };
        let host = host.to_ascii_lowercase();
        self.entries.iter().any(|(h, p)| {
            (host == *h || host.ends_with(&format!(".{h}")))
                && p.as_deref().is_none_or(|p| Some(p) == port)
        })
    }
}

impl Client {
    /// A client for one command; a proxy variable that is not a URL is an error.
    pub fn new(options: Options) -> Result<Client, Error> {
        Ok(Client {
            agents: Agents::from_env()?,
            progress: Progress::new(options.progress),
            options,
            auth: AuthCache::default(),
            schemes: Mutex::new(HashMap::new()),
            credentials: Mutex::new(HashMap::new()),
        })
    }

    pub fn options(&self) -> &Options {
        &self.options
    }

    /// `SCHEME://HOST/v2/REPO/PATH`: the API URL of a repository's resource, on the scheme the
    /// registry answers on (found out on first use).
    pub fn url(&self, r: &Reference, path: &str) -> Result<String, Error> {
        let scheme = self.scheme(r)?;
        Ok(format!(
            "{scheme}://{}/v2/{}/{path}",
            r.api_host(),
            r.repository
        ))
    }

    /// `/v2/` answers on HTTPS; with `--insecure`, on plain HTTP when HTTPS cannot connect.
    fn scheme(&self, r: &Reference) -> Result<&'static str, Error> {
        let host = r.api_host().to_string();
        if let Some(s) = self.schemes.lock().expect("not poisoned").get(&host) {
            return Ok(s);
        }
        self.refuse_offline(&r.to_string())?;
        let ping = |scheme: &str| {
            let url = format!("{scheme}://{host}/v2/");
            self.agents
                .for_url(&url)
                .run(
                    http::Request::get(&url)
                        .body(())
                        .map_err(|e| Error::transport(&host, e.to_string()))?,
                )
                .map_err(|e| Error::from_ureq(&url, e))
        };
        // Loopback registries may speak plain HTTP, as Docker allows them to.
        let insecure = self.options.insecure || r.is_loopback();
        // A registry API answers `/v2/` with 200 or 401; anything else on plain HTTP (a TLS
        // server's 400, say) is not one.
        let is_api = |s: StatusCode| s == StatusCode::OK || s == StatusCode::UNAUTHORIZED;
        let scheme = match ping("https") {
            Ok(_) => "https",
            // A certificate that is not trusted is never a reason to drop TLS.
            Err(e @ Error::Tls { .. }) => return Err(e),
            Err(e) if insecure => match ping("http") {
                Ok(resp) if is_api(resp.status()) => "http",
                _ => return Err(e),
            },
            Err(e) => {
                return Err(match e {
                    Error::Transport { url, reason } => Error::Transport {
                        url,
                        reason: format!(
                            "{reason} (if it serves plain HTTP, pass --insecure to allow that)"
                        ),
                    },
                    e => e,
                })
            }
        };
        self.schemes
            .lock()
            .expect("not poisoned")
            .insert(host, scheme);
        Ok(scheme)
    }

    pub(crate) fn refuse_offline(&self, what: &str) -> Result<(), Error> {
        if self.options.offline {
            return Err(Error::Offline {
                what: what.to_string(),
            });
        }
        Ok(())
    }

    /// A plain GET of any URL (an apt archive, a package index) through this client's
    /// connections (proxies, the system trust store), retried on a dropped connection or a
    /// 5xx as registry requests are; the response is returned whatever its status.
    pub fn get_url(&self, url: &str) -> Result<Response<ureq::Body>, Error> {
        self.refuse_offline(url)?;
        let agent = self.agents.for_url(url);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let retry_in = match agent.get(url).call() {
                Ok(resp) if retriable_status(resp.status()) && attempt < ATTEMPTS => {
                    retry_after(&resp).unwrap_or(backoff(attempt))
                }
                Ok(resp) => return Ok(resp),
                Err(e @ (ureq::Error::Io(_) | ureq::Error::ConnectionFailed))
                    if attempt < ATTEMPTS =>
                {
                    let _ = e;
                    backoff(attempt)
                }
                Err(e) => return Err(Error::transport(url, e.to_string())),
            };
            std::thread::sleep(retry_in);
        }
    }

    fn credential(&self, r: &Reference) -> Result<Option<Credential>, Error> {
        if let Some(c) = &self.options.credential {
            return Ok(Some(c.clone()));
        }
        let key = r.credential_key().to_string();
        if let Some(c) = self.credentials.lock().expect("not poisoned").get(&key) {
            return Ok(c.clone());
        }
        let c = auth::from_docker_config(&key)?;
        self.credentials
            .lock()
            .expect("not poisoned")
            .insert(key, c.clone());
        Ok(c)
    }

    /// Sends `req` to the registry of `r`: authenticated, retried (see the module's docs).
    /// Any status comes back; the caller decides which it accepts.
    pub fn send(&self, r: &Reference, req: &Request<'_>) -> Result<Response<ureq::Body>, Error> {
        self.refuse_offline(&r.to_string())?;
        let host = r.api_host();
        let mut authenticated_again = false;
        let mut attempt = 0;
        loop {
            attempt += 1;
            let authorization = self.authorization(r, &req.scope)?;
            let result = self.send_once(req, authorization.as_deref());
            let retry_in = match result {
                Ok(resp) if resp.status() == StatusCode::UNAUTHORIZED && !authenticated_again => {
                    authenticated_again = true;
                    let header = resp
                        .headers()
                        .get("www-authenticate")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("");
                    match auth::parse_challenge(header) {
                        Some(c) => {
                            // A stale token is dropped; the challenge says how to get a new one.
                            self.auth.forget_token(host, &req.scope);
                            self.auth.set_challenge(host, c);
                            attempt -= 1;
                            continue;
                        }
                        None => return Ok(resp),
                    }
                }
                Ok(resp) if retriable_status(resp.status()) && attempt < ATTEMPTS => {
                    retry_after(&resp).unwrap_or(backoff(attempt))
                }
                Ok(resp) => return Ok(resp),
                Err(e) if e.is_transient() && attempt < ATTEMPTS => backoff(attempt),
                Err(e) => return Err(e),
            };
            std::thread::sleep(retry_in);
        }
    }

    fn send_once(
        &self,
        req: &Request<'_>,
        authorization: Option<&str>,
    ) -> Result<Response<ureq::Body>, Error> {
        let mut builder = http::Request::builder()
            .method(req.method.clone())
            .uri(&req.url);
        for (k, v) in &req.headers {
            builder = builder.header(*k, v);
        }
        if let Some(a) = authorization {
            builder = builder.header("authorization", a);
        }
        let err = |e: http::Error| Error::transport(&req.url, e.to_string());
        let result = match req.body {
            Body::Empty => {
                let has_body = matches!(req.method, Method::PUT | Method::POST | Method::PATCH);
                if has_body {
                    builder = builder.header("content-length", "0");
                }
                self.agents
                    .for_url(&req.url)
                    .run(builder.body(()).map_err(err)?)
            }
            Body::Bytes(b) => self.agents.for_url(&req.url).run(
                builder
                    .header("content-length", b.len().to_string())
                    .body(b)
                    .map_err(err)?,
            ),
            Body::File { path, offset, len } => {
                let mut f =
                    File::open(path).map_err(|e| Error::Oci(crate::oci::Error::io(path, e)))?;
                f.seek(SeekFrom::Start(offset))
                    .map_err(|e| Error::Oci(crate::oci::Error::io(path, e)))?;
                let mut reader = f.take(len);
                let body = ureq::SendBody::from_reader(&mut reader);
                self.agents.for_url(&req.url).run(
                    builder
                        .header("content-length", len.to_string())
                        .body(body)
                        .map_err(err)?,
                )
            }
        };
        result.map_err(|e| Error::from_ureq(&req.url, e))
    }

    /// The `Authorization` header for `scope` at `r`'s registry, as its challenge asks; `None`
    /// before the registry has asked for anything.
    fn authorization(&self, r: &Reference, scope: &Scope) -> Result<Option<String>, Error> {
        let host = r.api_host();
        let Some(challenge) = self.auth.challenge(host) else {
            return Ok(None);
        };
        match challenge {
            Challenge::Basic => match self.credential(r)? {
                Some(Credential::Basic { username, password }) => {
                    Ok(Some(auth::basic_header(&username, &password)))
                }
                _ => Ok(None),
            },
            Challenge::Bearer { realm, service } => {
                if let Some(t) = self.auth.token(host, scope) {
                    return Ok(Some(format!("Bearer {t}")));
                }
                let (token, lifetime) = self.fetch_token(r, &realm, service.as_deref(), scope)?;
                self.auth.set_token(host, scope, token.clone(), lifetime);
                Ok(Some(format!("Bearer {token}")))
            }
        }
    }

    /// A token from the realm: GET with Basic credentials (or anonymously), or, for an identity
    /// token, the OAuth2 refresh-token POST.
    fn fetch_token(
        &self,
        r: &Reference,
        realm: &str,
        service: Option<&str>,
        scope: &Scope,
    ) -> Result<(String, Duration), Error> {
        let mut params: Vec<(&str, &str)> = Vec::new();
        if let Some(s) = service {
            params.push(("service", s));
        }
        for s in scope {
            params.push(("scope", s));
        }
        let credential = self.credential(r)?;
        let query = encode_query(&params);
        let (method, url, body, mut headers) = match &credential {
            Some(Credential::IdentityToken(t)) => {
                let mut form = params.clone();
                form.extend([
                    ("grant_type", "refresh_token"),
                    ("client_id", "envc"),
                    ("refresh_token", t.as_str()),
                ]);
                (
                    Method::POST,
                    realm.to_string(),
                    encode_query(&form).into_bytes(),
                    vec![(
                        "content-type",
                        "application/x-www-form-urlencoded".to_string(),
                    )],
                )
            }
            _ => {
                let sep = if realm.contains('?') { '&' } else { '?' };
                (
                    Method::GET,
                    format!("{realm}{sep}{query}"),
                    Vec::new(),
                    Vec::new(),
                )
            }
        };
        if let Some(Credential::Basic { username, password }) = &credential {
            headers.push(("authorization", auth::basic_header(username, password)));
        }
        let mut attempt = 0;
        let resp = loop {
            attempt += 1;
            let mut b = http::Request::builder().method(method.clone()).uri(&url);
            for (k, v) in &headers {
                b = b.header(*k, v);
            }
            let req = b
                .body(&body[..])
                .map_err(|e| Error::transport(realm, e.to_string()))?;
            match self.agents.for_url(&url).run(req) {
                Ok(resp) if retriable_status(resp.status()) && attempt < ATTEMPTS => {
                    std::thread::sleep(retry_after(&resp).unwrap_or(backoff(attempt)))
                }
                Ok(resp) => break resp,
                Err(e) => {
                    let e = Error::from_ureq(realm, e);
                    if e.is_transient() && attempt < ATTEMPTS {
                        std::thread::sleep(backoff(attempt));
                    } else {
                        return Err(e);
                    }
                }
            }
        };
        let status = resp.status();
        let bytes = read_small(resp, realm)?;
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(Error::Unauthorized {
                registry: r.registry.clone(),
                detail: format!(
                    "the token service {realm} refused {} ({}){}",
                    if credential.is_some() {
                        "the credentials"
                    } else {
                        "an anonymous request"
                    },
                    status.as_u16(),
                    error_detail(&bytes)
                ),
                anonymous: credential.is_none(),
            });
        }
        if !status.is_success() {
            return Err(Error::Status {
                url: realm.to_string(),
                status: status.as_u16(),
                detail: error_detail(&bytes),
            });
        }
        auth::parse_token_reply(&bytes).map_err(|reason| Error::Protocol {
            url: realm.to_string(),
            reason,
        })
    }

    /// Whether a 401 came with credentials (a wrong password) or without (none configured).
    pub(crate) fn has_credential(&self, r: &Reference) -> bool {
        matches!(self.credential(r), Ok(Some(_)))
    }
}

fn retriable_status(s: StatusCode) -> bool {
    s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error() && s != StatusCode::NOT_IMPLEMENTED
}

fn backoff(attempt: u32) -> Duration {
    BACKOFF * 2u32.pow(attempt.saturating_sub(1).min(6))
}

/// `Retry-After` in seconds (the HTTP-date form is rare for registries and taken as 1 s).
fn retry_after(resp: &Response<ureq::Body>) -> Option<Duration> {
    let v = resp.headers().get("retry-after")?.to_str().ok()?.trim();
    let d = match v.parse::<u64>() {
        Ok(secs) => Duration::from_secs(secs),
        Err(_) => Duration::from_secs(1),
    };
    Some(d.min(MAX_RETRY_AFTER))
}

/// `application/x-www-form-urlencoded` (RFC 3986 unreserved characters kept).
pub(crate) fn encode_query(params: &[(&str, &str)]) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::with_capacity(s.len());
        for b in s.bytes() {
            match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                    out.push(b as char)
                }
                _ => out.push_str(&format!("%{b:02X}")),
            }
        }
        out
    }
    params
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// A small body (an error document, a token, a tag list), at most [`MAX_SMALL_BODY`] bytes.
pub(crate) fn read_small(resp: Response<ureq::Body>, url: &str) -> Result<Vec<u8>, Error> {
    read_capped(resp, url, MAX_SMALL_BODY, "the reply")
}

/// A body of at most `max` bytes: refused from its `Content-Length` before reading, or once
/// more arrived (a reply without a length).
pub(crate) fn read_capped(
    resp: Response<ureq::Body>,
    url: &str,
    max: u64,
    what: &str,
) -> Result<Vec<u8>, Error> {
    let too_large = |size: Option<u64>| Error::TooLarge {
        url: url.to_string(),
        what: what.to_string(),
        size,
        limit: max,
    };
    if let Some(len) = content_length(&resp) {
        if len > max {
            return Err(too_large(Some(len)));
        }
    }
    let mut buf = Vec::new();
    resp.into_body()
        .into_reader()
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| Error::transport(url, format!("reading {what}: {e}")))?;
    if buf.len() as u64 > max {
        return Err(too_large(None));
    }
    Ok(buf)
}

pub(crate) fn content_length(resp: &Response<ureq::Body>) -> Option<u64> {
    resp.headers()
        .get("content-length")?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

pub(crate) fn header(resp: &Response<ureq::Body>, name: &str) -> Option<String> {
    Some(resp.headers().get(name)?.to_str().ok()?.to_string())
}

/// The registry's own words from an error body (`{"errors":[{"code","message"}]}`), as
/// `: CODE: message`; empty when there are none.
pub(crate) fn error_detail(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Errors {
        errors: Vec<One>,
    }
    #[derive(serde::Deserialize)]
    struct One {
        code: Option<String>,
        message: Option<String>,
    }
    let Ok(e) = serde_json::from_slice::<Errors>(body) else {
        return String::new();
    };
    let parts: Vec<String> = e
        .errors
        .iter()
        .map(|o| match (&o.code, &o.message) {
            (Some(c), Some(m)) => format!("{c}: {m}"),
            (Some(c), None) => c.clone(),
            (None, Some(m)) => m.clone(),
            (None, None) => String::new(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_proxy_is_read_as_curl_reads_it() {
        let n = NoProxy::parse(" .example.com, 10.0.0.1, registry.local:5000,*.corp ");
        assert!(n.matches("example.com"));
        assert!(n.matches("a.b.example.com:443"));
        assert!(!n.matches("notexample.com"));
        assert!(n.matches("10.0.0.1:5000"));
        assert!(n.matches("registry.local:5000"));
        assert!(!n.matches("registry.local:5001"));
        assert!(n.matches("x.corp"));
        assert!(!n.matches("ghcr.io"));
        assert!(NoProxy::parse("*").matches("anything:1"));
        assert!(!NoProxy::parse("").matches("anything"));
    }

    #[test]
    fn queries_are_encoded() {
        assert_eq!(
            encode_query(&[("scope", "repository:a/b:pull,push"), ("service", "x y")]),
            "scope=repository%3Aa%2Fb%3Apull%2Cpush&service=x%20y"
        );
    }

    #[test]
    fn registry_error_bodies_are_quoted() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        assert_eq!(error_detail(body), ": MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(error_detail(b"<html>"), "");
    }

    #[test]
    fn backoff_doubles_and_is_bounded() {
        assert_eq!(backoff(1), Duration::from_millis(250));
        assert_eq!(backoff(2), Duration::from_millis(500));
        assert_eq!(backoff(30), Duration::from_millis(250 * 64));
        assert!(retriable_status(StatusCode::SERVICE_UNAVAILABLE));
        assert!(retriable_status(StatusCode::TOO_MANY_REQUESTS));
        assert!(!retriable_status(StatusCode::NOT_FOUND));
        assert!(!retriable_status(StatusCode::NOT_IMPLEMENTED));
    }
}
