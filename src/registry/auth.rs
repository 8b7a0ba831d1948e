//! Who the client is to a registry: credentials (`--username` with `--password-stdin`, else
//! Docker's `config.json`: `auths`, `credHelpers`, `credsStore` through the
//! `docker-credential-*` helper protocol), the registry's `WWW-Authenticate` challenge (Basic or
//! Bearer), and bearer tokens fetched from the challenge's realm and cached per scope until they
//! expire.

use super::Error;
use docker_credential::{CredentialRetrievalError, DockerCredential};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A credential for one registry.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    Basic {
        username: String,
        password: String,
    },
    /// An OAuth2 refresh token (`identitytoken` in `config.json`, or a helper's `<token>` user).
    IdentityToken(String),
}

impl std::fmt::Debug for Credential {
    // Never print a secret, not even in a debug dump.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credential::Basic { username, .. } => write!(f, "Basic({username}, <redacted>)"),
            Credential::IdentityToken(_) => f.write_str("IdentityToken(<redacted>)"),
        }
    }
}

/// Where Docker keeps its client configuration: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn docker_config_path() -> Option<PathBuf> {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".docker")))?;
    Some(dir.join("config.json"))
}

/// The credential `config.json` holds for `key` (a registry host, or Docker Hub's URL), asking
/// its helper when one is configured. `None`: no file, or nothing for this registry (a helper
/// that says "credentials not found" included). A file that is not JSON is an error located in
/// it, never silently anonymous.
pub fn from_docker_config(key: &str) -> Result<Option<Credential>, Error> {
    let Some(path) = docker_config_path() else {
        return Ok(None);
    };
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(Error::Credentials {
                reason: format!("cannot read {}: {e}", path.display()),
            })
        }
    };
    if let Err(e) = serde_json::from_slice::<serde_json::Value>(&bytes) {
        return Err(Error::Credentials {
            reason: format!(
                "{}:{}:{}: not valid JSON: {e}; fix the file or move it away",
                path.display(),
                e.line(),
                e.column()
            ),
        });
    }
    match docker_credential::get_credential_from_reader(&bytes[..], key) {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            Ok(Some(Credential::Basic { username, password }))
        }
        Ok(DockerCredential::IdentityToken(t)) => Ok(Some(Credential::IdentityToken(t))),
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(None),
        // The helper protocol's "no such server" answer is a non-zero exit with this text.
        Err(CredentialRetrievalError::HelperFailure { stdout, stderr, .. })
            if (stdout.clone() + &stderr).contains("credentials not found") =>
        {
            Ok(None)
        }
        Err(CredentialRetrievalError::HelperFailure {
            helper,
            stdout,
            stderr,
        }) => Err(Error::Credentials {
            reason: format!(
                "{helper} failed for {key} (configured in {}): {}",
                path.display(),
                first_line(if stderr.trim().is_empty() {
                    &stdout
                } else {
                    &stderr
                })
            ),
        }),
        Err(CredentialRetrievalError::HelperCommunicationError) => Err(Error::Credentials {
            reason: format!(
                "{} names a credential helper for {key} that cannot be run: install its \
                 `docker-credential-*` program on PATH, or remove it from the file",
                path.display()
            ),
        }),
        Err(e) => Err(Error::Credentials {
            reason: format!("{}: the entry for {key}: {e}", path.display()),
        }),
    }
}

fn first_line(s: &str) -> &str {
    s.trim().lines().next().unwrap_or("")
}

/// How a registry asks to be authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// The challenge of a `WWW-Authenticate` header (Bearer preferred over Basic); `None` when it
/// names neither or does not parse.
pub fn parse_challenge(header: &str) -> Option<Challenge> {
    let challenges = http_auth::parse_challenges(header).ok()?;
    let param = |c: &http_auth::ChallengeRef<'_>, name: &str| {
        c.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.to_unescaped())
    };
    if let Some(c) = challenges
        .iter()
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
    {
        return Some(Challenge::Bearer {
            realm: param(c, "realm")?,
            service: param(c, "service"),
        });
    }
    challenges
        .iter()
        .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
        .then_some(Challenge::Basic)
}

/// `Authorization: Basic …`.
pub fn basic_header(username: &str, password: &str) -> String {
    // `encode_credentials` gives the whole value, scheme included.
    http_auth::basic::encode_credentials(username, password)
}

/// The access a request needs: `repository:NAME:pull` or `…:pull,push`, one or several (a
/// cross-repository mount needs push on one and pull on the other).
pub type Scope = Vec<String>;

/// `repository:REPO:pull`.
pub fn pull_scope(repository: &str) -> String {
    format!("repository:{repository}:pull")
}

/// `repository:REPO:pull,push`.
pub fn push_scope(repository: &str) -> String {
    format!("repository:{repository}:pull,push")
}

/// What a registry has asked for, and the tokens it has granted, per registry host.
#[derive(Debug, Default)]
pub struct AuthCache {
    challenges: Mutex<HashMap<String, Challenge>>,
    tokens: Mutex<HashMap<(String, Scope), (String, Instant)>>,
}

/// Tokens without `expires_in` last 60 s (the distribution token spec).
const DEFAULT_TOKEN_LIFETIME: u64 = 60;
/// A token is renewed this long before it expires, so it never runs out mid-request.
const TOKEN_MARGIN: Duration = Duration::from_secs(10);

impl AuthCache {
    pub fn challenge(&self, host: &str) -> Option<Challenge> {
        self.challenges
            .lock()
            .expect("not poisoned")
            .get(host)
            .cloned()
    }

    pub fn set_challenge(&self, host: &str, c: Challenge) {
        self.challenges
            .lock()
            .expect("not poisoned")
            .insert(host.to_string(), c);
    }

    /// A cached token for `scope` that is still good.
    pub fn token(&self, host: &str, scope: &Scope) -> Option<String> {
        let tokens = self.tokens.lock().expect("not poisoned");
        let (t, until) = tokens.get(&(host.to_string(), scope.clone()))?;
        (Instant::now() + TOKEN_MARGIN < *until).then(|| t.clone())
    }

    pub fn forget_token(&self, host: &str, scope: &Scope) {
        self.tokens
            .lock()
            .expect("not poisoned")
            .remove(&(host.to_string(), scope.clone()));
    }

    pub fn set_token(&self, host: &str, scope: &Scope, token: String, lifetime: Duration) {
        self.tokens.lock().expect("not poisoned").insert(
            (host.to_string(), scope.clone()),
            (token, Instant::now() + lifetime),
        );
    }
}

/// A token endpoint's answer: `token` or `access_token`, and how long it lasts.
pub fn parse_token_reply(body: &[u8]) -> Result<(String, Duration), String> {
    #[derive(serde::Deserialize)]
    struct Reply {
        token: Option<String>,
        access_token: Option<String>,
        expires_in: Option<u64>,
    }
    let r: Reply = serde_json::from_slice(body).map_err(|e| format!("not a token reply: {e}"))?;
    let token = r
        .token
        .or(r.access_token)
        .filter(|t| !t.is_empty())
        .ok_or("the reply has no `token`")?;
    let secs = r.expires_in.unwrap_or(DEFAULT_TOKEN_LIFETIME).max(1);
    Ok((token, Duration::from_secs(secs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="repository:a/b:pull""#,
        );
        assert_eq!(
            c,
            Some(Challenge::Bearer {
                realm: "https://auth.example/token".into(),
                service: Some("registry.example".into())
            })
        );
        assert_eq!(
            parse_challenge(r#"Basic realm="Registry Realm""#),
            Some(Challenge::Basic)
        );
        assert_eq!(parse_challenge("Negotiate"), None);
        assert_eq!(parse_challenge("Bearer service=\"x\""), None);
        assert_eq!(parse_challenge("\"unterminated"), None);
    }

    #[test]
    fn token_replies_parse() {
        let (t, d) = parse_token_reply(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!((t.as_str(), d.as_secs()), ("abc", 300));
        let (t, d) = parse_token_reply(br#"{"access_token":"xyz"}"#).unwrap();
        assert_eq!((t.as_str(), d.as_secs()), ("xyz", 60));
        assert!(parse_token_reply(br#"{"token":""}"#).is_err());
        assert!(parse_token_reply(b"<html>").is_err());
    }

    #[test]
    fn tokens_are_cached_per_scope() {
        let cache = AuthCache::default();
        let a = vec![pull_scope("a")];
        let b = vec![push_scope("a")];
        cache.set_token("h", &a, "t1".into(), Duration::from_secs(300));
        assert_eq!(cache.token("h", &a).as_deref(), Some("t1"));
        assert_eq!(cache.token("h", &b), None);
        assert_eq!(cache.token("other", &a), None);
        // A token about to expire is not handed out.
        cache.set_token("h", &b, "t2".into(), Duration::from_secs(5));
        assert_eq!(cache.token("h", &b), None);
        cache.forget_token("h", &a);
        assert_eq!(cache.token("h", &a), None);
    }

    #[test]
    fn basic_headers_name_the_scheme_once() {
        assert_eq!(basic_header("u", "p"), "Basic dTpw");
    }

    #[test]
    fn secrets_are_not_in_debug_output() {
        let c = Credential::Basic {
            username: "u".into(),
            password: "hunter2".into(),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
