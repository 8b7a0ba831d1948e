//! `envc serve`: the store over HTTP, as a JSON API under `/v1/` ([`api`]) and a web UI at
//! `/` ([`ui`]), on axum and tokio. Both call the library's use cases; neither has logic of
//! its own about specs or revisions.
//!
//! Decisions:
//! - Access ([`access`]): with a token (`--token-file`), every request but `/healthz` needs it,
//!   as a bearer token or the UI's cookie; without one, only a loopback address may be
//!   listened on, which is checked before binding. No CORS unless `--cors-origin` names the
//!   origins. Bodies are capped (`--max-body`) before they are read.
//! - Builds are asynchronous ([`jobs`]): a bounded queue, a bounded number at once.
//! - Shutdown on SIGTERM or Ctrl-C: stop accepting, end the log streams, refuse new builds,
//!   fail the pending ones, give the running ones the grace period, then stop them (the engine
//!   bridge records them as interrupted); the store is only ever changed by its atomic commit.
//! - The store is opened per request: a handle holds the store's gc lock from its first write
//!   on, and a server that held one for ever would block `envc gc` for ever.

pub(crate) mod access;
pub mod api;
pub(crate) mod cache;
pub(crate) mod error;
pub mod jobs;
mod ui;

use crate::config::Config;
use crate::ops::build_text::TextBuild;
use crate::store::Store;
use error::ApiError;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// How the server runs (the flags of `envc serve`).
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub store: PathBuf,
    /// `HOST:PORT`; port 0 takes a free one (the address is printed).
    pub listen: String,
    pub token_file: Option<PathBuf>,
    pub max_body: usize,
    pub max_queue: usize,
    pub max_builds: usize,
    /// How long running builds may go on after SIGTERM before they are stopped.
    pub grace: Duration,
    pub engine: Option<String>,
    pub engine_args: Vec<String>,
    pub cors_origins: Vec<String>,
    pub config: Arc<Config>,
}

/// The shortest token accepted: a guessable one is no access control.
pub const MIN_TOKEN_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("`{listen}` is not an address to listen on ({reason}); give HOST:PORT, such as `127.0.0.1:8080`")]
    Listen { listen: String, reason: String },
    #[error(
        "refusing to listen on {addr} without a token: anyone who can reach it could build and \
         roll back; give `--token-file FILE`, or listen on a loopback address (127.0.0.1, [::1])"
    )]
    NoToken { addr: SocketAddr },
    #[error("cannot read the token file `{path}`: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "the token in `{path}` is {len} characters; it needs at least {MIN_TOKEN_LEN} and no \
         whitespace inside: make one with `openssl rand -hex 32 > {path}`"
    )]
    WeakToken { path: String, len: usize },
    #[error("`--cors-origin {origin}` is not an origin: give `https://host[:port]`")]
    Cors { origin: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Ops(#[from] crate::ops::Error),
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
}

impl ServeError {
    /// 2 for trouble, 1 for a refused configuration, as the CLI's codes.
    pub fn exit_code(&self) -> u8 {
        match self {
            ServeError::Ops(e) => e.exit_code(),
            ServeError::Bind { .. } | ServeError::Io(_) | ServeError::TokenFile { .. } => {
                crate::ops::EXIT_ERROR
            }
            _ => crate::ops::EXIT_NO,
        }
    }
}

/// What every handler shares.
pub struct AppState {
    pub store_dir: PathBuf,
    pub config: Arc<Config>,
    pub jobs: Arc<jobs::Jobs>,
    pub(crate) token: Option<String>,
    pub(crate) cache: cache::Cache,
    /// The handle every read goes through (opening a store parses its index).
    reader: Store,
    /// `--cors-origin`: the other origins whose pages may call the API.
    pub(crate) cors_origins: Vec<String>,
    /// Turns `true` when the server shuts down: log streams end.
    pub(crate) shutdown: tokio::sync::watch::Receiver<bool>,
}

impl AppState {
    /// The store, for reading. A handle that never writes holds no lock.
    pub(crate) fn store(&self) -> Result<&Store, ApiError> {
        Ok(&self.reader)
    }

    /// A fresh handle for a write (its gc lock is released when it is dropped).
    pub(crate) fn writer(&self) -> Result<Store, ApiError> {
        Ok(Store::open(&self.store_dir)?)
    }
}

/// The address to listen on, and the token when one is needed (checked before binding).
pub fn access_settings(options: &ServeOptions) -> Result<(SocketAddr, Option<String>), ServeError> {
    let listen_error = |reason: String| ServeError::Listen {
        listen: options.listen.clone(),
        reason,
    };
    let addrs: Vec<SocketAddr> = options
        .listen
        .to_socket_addrs()
        .map_err(|e| listen_error(e.to_string()))?
        .collect();
    let Some(addr) = addrs.first().copied() else {
        return Err(listen_error("it resolves to no address".into()));
    };
    let token = match &options.token_file {
        Some(path) => {
            let shown = path.display().to_string();
            let text = std::fs::read_to_string(path).map_err(|source| ServeError::TokenFile {
                path: shown.clone(),
                source,
            })?;
            let token = text.trim().to_string();
            if token.len() < MIN_TOKEN_LEN || token.chars().any(char::is_whitespace) {
                return Err(ServeError::WeakToken {
                    path: shown,
                    len: token.chars().count(),
                });
            }
            Some(token)
        }
        None => None,
    };
    // A name such as `localhost` is loopback only if every address it resolves to is.
    if token.is_none() && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(ServeError::NoToken { addr });
    }
    Ok((addr, token))
}

/// The whole application: API, UI and access control, over `state`.
pub fn app(state: Arc<AppState>, options: &ServeOptions) -> Result<axum::Router, ServeError> {
    // The UI's fallback answers unrouted paths: the API's JSON 404 under /v1/, a page elsewhere.
    let router = api::routes().merge(ui::routes()).with_state(state.clone());
    access::layers(router, state, options)
}

/// Runs the server until SIGTERM or Ctrl-C; `ready` is told the bound address.
pub fn serve(options: ServeOptions, ready: impl FnOnce(SocketAddr)) -> Result<(), ServeError> {
    let (addr, token) = access_settings(&options)?;
    // The store exists before the first request: an empty one lists nothing.
    Store::open_or_create(&options.store).map_err(crate::ops::Error::from)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(run(options, addr, token, ready))
}

/// What a running server holds: its state, its build workers and the shutdown switch. Must
/// be called on a tokio runtime (the workers are spawned on it).
pub(crate) struct Running {
    pub(crate) state: Arc<AppState>,
    workers: Vec<tokio::task::JoinHandle<()>>,
    shutdown: tokio::sync::watch::Sender<bool>,
}

pub(crate) fn start(options: &ServeOptions, token: Option<String>) -> Result<Running, ServeError> {
    let registry = crate::registry::Client::new(crate::registry::Options {
        insecure: false,
        credential: None,
        offline: false,
        jobs: 4,
        progress: false,
    })
    .map_err(crate::ops::Error::from)?;
    let settings = jobs::Settings {
        store_dir: options.store.clone(),
        build: TextBuild {
            compression: crate::oci::Compression::Gzip,
            rebuild: false,
            engine: options.engine.clone(),
            engine_args: options.engine_args.clone(),
            epoch: crate::epoch::from_env().map_err(crate::ops::Error::from)?,
            stop: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            registry: Arc::new(registry),
            config: options.config.clone(),
        },
        max_queue: options.max_queue,
        max_builds: options.max_builds,
    };
    let (jobs, workers) = jobs::Jobs::start(settings);
    let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
    let state = Arc::new(AppState {
        store_dir: options.store.clone(),
        config: options.config.clone(),
        jobs,
        token,
        cache: cache::Cache::default(),
        reader: Store::open(&options.store).map_err(crate::ops::Error::from)?,
        cors_origins: options.cors_origins.clone(),
        shutdown: shutdown_rx,
    });
    Ok(Running {
        state,
        workers,
        shutdown,
    })
}

async fn run(
    options: ServeOptions,
    addr: SocketAddr,
    token: Option<String>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), ServeError> {
    let Running {
        state,
        workers,
        shutdown: shutdown_tx,
    } = start(&options, token)?;
    let jobs = state.jobs.clone();
    let app = app(state, &options)?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Bind { addr, source })?;
    ready(listener.local_addr()?);
    let closing = jobs.clone();
    let signalled = async move {
        wait_for_signal().await;
        access::log_line("shutting down: no new builds; running builds may finish");
        // From here a posted build is 503, while the open connections are answered.
        closing.close();
        let _ = shutdown_tx.send(true);
    };
    axum::serve(listener, app)
        .with_graceful_shutdown(signalled)
        .await?;
    let all = futures_util::future::join_all(workers);
    tokio::pin!(all);
    if tokio::time::timeout(options.grace, &mut all).await.is_err() {
        access::log_line("the grace period is over: stopping the running builds");
        jobs.stop_running();
        all.await;
    }
    access::log_line("stopped");
    Ok(())
}

async fn wait_for_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = term => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}

#[cfg(test)]
mod tests;
