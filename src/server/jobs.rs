//! The server's builds: a bounded queue in front of a bounded number of workers, each build
//! run by [`crate::ops::build_text::build_text`] on a blocking thread (the use cases are
//! synchronous and an engine build takes minutes). A build is `pending` from the moment it is
//! accepted, `in_progress` while it runs, then `succeeded` or `failed`; its log is kept line by
//! line, and followers are woken per line through a `watch` channel carrying the line count.
//!
//! Decisions: the queue is a bounded `mpsc` channel, so "full" is a `try_send` that fails, a
//! 503 for the client, never an unbounded backlog. Builds live in memory (the newest
//! [`KEEP`] of them); what outlives the process is what the store records: the revision, and
//! for engine builds the store's own build record and log. On shutdown the queue closes: a
//! pending build is marked failed without starting, a running one is given the grace period
//! and then stopped through the engine's stop flag, which records it as interrupted. A build
//! therefore ends as a revision or as nothing in the store, never half-recorded (the store's
//! commit is atomic).

use crate::diag::{render, Diagnostic};
use crate::oci::Compression;
use crate::ops::build_text::{build_text, TextBuild};
use crate::ops::Log;
use crate::types::name::EnvName;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, watch};

/// How many finished builds the server remembers.
pub const KEEP: usize = 1000;

/// The most log text one build keeps in memory; an engine build's whole log is also in the
/// store's build record (`envc logs`).
pub const MAX_LOG_BYTES: usize = 4 << 20;

/// Where a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Pending,
    InProgress,
    Succeeded,
    Failed,
}

impl Status {
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::InProgress => "in_progress",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
        }
    }
}

/// What a request may choose about its build.
#[derive(Debug, Clone, Copy, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestOptions {
    #[serde(default)]
    pub rebuild: bool,
    #[serde(default)]
    pub compression: Option<CompressionArg>,
}

#[derive(Debug, Clone, Copy, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CompressionArg {
    Gzip,
    Zstd,
}

/// A build as the API shows it. Field names are the JSON keys, sorted.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BuildView {
    pub created: String,
    /// The diagnostics document of a refused spec.
    pub diagnostics: Option<serde_json::Value>,
    pub error: Option<String>,
    pub finished: Option<String>,
    pub id: String,
    pub name: String,
    /// `NAME:REV` of the revision it committed (or found unchanged).
    pub revision: Option<String>,
    pub started: Option<String>,
    pub status: Status,
}

/// One build.
pub struct Job {
    pub id: String,
    name: EnvName,
    filename: String,
    spec: String,
    options: RequestOptions,
    state: Mutex<(BuildView, Vec<String>)>,
    log_bytes: std::sync::atomic::AtomicUsize,
    lines: watch::Sender<usize>,
}

impl Job {
    pub fn view(&self) -> BuildView {
        self.state.lock().expect("job lock").0.clone()
    }

    /// The log lines from `from` on, and whether the build has ended.
    pub fn lines_from(&self, from: usize) -> (Vec<String>, Option<Status>) {
        let state = self.state.lock().expect("job lock");
        let lines = state
            .1
            .get(from..)
            .map(<[String]>::to_vec)
            .unwrap_or_default();
        let status = state.0.status;
        (lines, status.is_final().then_some(status))
    }

    /// Woken whenever a line is added or the build ends.
    pub fn subscribe(&self) -> watch::Receiver<usize> {
        self.lines.subscribe()
    }

    fn push(&self, line: String) {
        let before = self.log_bytes.fetch_add(line.len() + 1, Ordering::Relaxed);
        if before > MAX_LOG_BYTES {
            return;
        }
        let n = {
            let mut state = self.state.lock().expect("job lock");
            if before + line.len() + 1 > MAX_LOG_BYTES {
                state.1.push(format!(
                    "[the log goes on beyond the {} MiB this server keeps per build; an engine \
                     build's whole log is in the store: `envc logs NAME:REV`]",
                    MAX_LOG_BYTES >> 20
                ));
            } else {
                state.1.push(line);
            }
            state.1.len()
        };
        self.lines.send_replace(n);
    }

    fn update(&self, f: impl FnOnce(&mut BuildView)) {
        let n = {
            let mut state = self.state.lock().expect("job lock");
            f(&mut state.0);
            state.1.len()
        };
        self.lines.send_replace(n);
    }

    fn finish(&self, status: Status, f: impl FnOnce(&mut BuildView)) {
        self.update(|v| {
            v.status = status;
            v.finished = Some(now());
            f(v);
        });
    }
}

fn now() -> String {
    humantime::format_rfc3339_seconds(SystemTime::now()).to_string()
}

/// A build's log: the use case's lines, in order.
struct JobLog<'a>(&'a Job);

impl Log for JobLog<'_> {
    fn verbose(&self, message: &str) {
        self.0.push(message.to_string());
    }
    fn note(&self, message: &str) {
        self.0.push(format!("note: {message}"));
    }
    fn diagnostics(&self, diags: &[Diagnostic]) {
        for d in diags {
            let text = render::human(d, render::Style { color: false });
            for line in text.lines() {
                self.0.push(line.to_string());
            }
        }
    }
    fn engine(&self, line: &str) {
        self.0.push(line.to_string());
    }
    fn phase(&self, phase: &str, elapsed: Duration) {
        self.0
            .push(format!("{phase}: done in {:.1} s", elapsed.as_secs_f64()));
    }
}

/// Why a build was not accepted.
#[derive(Debug)]
pub enum Refusal {
    /// The queue holds its maximum.
    Full { capacity: usize },
    /// The server is shutting down.
    ShuttingDown,
}

/// What every build shares.
pub struct Settings {
    pub store_dir: PathBuf,
    pub build: TextBuild,
    pub max_queue: usize,
    pub max_builds: usize,
}

/// The table of builds and the queue in front of the workers.
pub struct Jobs {
    table: Mutex<VecDeque<Arc<Job>>>,
    queue: Mutex<Option<mpsc::Sender<Arc<Job>>>>,
    settings: Arc<Settings>,
    draining: AtomicBool,
}

impl Jobs {
    /// The table and its workers (spawned on the current runtime); the handles end when the
    /// queue is closed and drained.
    pub fn start(settings: Settings) -> (Arc<Jobs>, Vec<tokio::task::JoinHandle<()>>) {
        let (tx, rx) = mpsc::channel(settings.max_queue.max(1));
        let rx = Arc::new(tokio::sync::Mutex::new(rx));
        let workers = settings.max_builds.max(1);
        let jobs = Arc::new(Jobs {
            table: Mutex::new(VecDeque::new()),
            queue: Mutex::new(Some(tx)),
            settings: Arc::new(settings),
            draining: AtomicBool::new(false),
        });
        let handles = (0..workers)
            .map(|_| {
                let rx = rx.clone();
                let jobs = jobs.clone();
                tokio::spawn(async move {
                    loop {
                        let next = rx.lock().await.recv().await;
                        let Some(job) = next else { return };
                        jobs.run(job).await;
                    }
                })
            })
            .collect();
        (jobs, handles)
    }

    /// Accepts a build; it is `pending` until a worker takes it.
    pub fn submit(
        &self,
        name: EnvName,
        filename: String,
        spec: String,
        options: RequestOptions,
    ) -> Result<Arc<Job>, Refusal> {
        let guard = self.queue.lock().expect("queue lock");
        let Some(tx) = guard.as_ref() else {
            return Err(Refusal::ShuttingDown);
        };
        let id = crate::store::builds::new_build_id(name.as_str(), SystemTime::now());
        let view = BuildView {
            created: now(),
            diagnostics: None,
            error: None,
            finished: None,
            id: id.clone(),
            name: name.to_string(),
            revision: None,
            started: None,
            status: Status::Pending,
        };
        let job = Arc::new(Job {
            id,
            name,
            filename,
            spec,
            options,
            state: Mutex::new((view, Vec::new())),
            log_bytes: std::sync::atomic::AtomicUsize::new(0),
            lines: watch::channel(0).0,
        });
        tx.try_send(job.clone()).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => Refusal::Full {
                capacity: self.settings.max_queue,
            },
            mpsc::error::TrySendError::Closed(_) => Refusal::ShuttingDown,
        })?;
        drop(guard);
        let mut table = self.table.lock().expect("table lock");
        table.push_front(job.clone());
        // Forget the oldest finished builds beyond KEEP; a pending or running one stays.
        while table.len() > KEEP {
            match table.iter().rposition(|j| j.view().status.is_final()) {
                Some(i) => {
                    table.remove(i);
                }
                None => break,
            }
        }
        Ok(job)
    }

    /// Every build the server remembers, newest first.
    pub fn list(&self) -> Vec<BuildView> {
        let table = self.table.lock().expect("table lock");
        table.iter().map(|j| j.view()).collect()
    }

    pub fn get(&self, id: &str) -> Option<Arc<Job>> {
        let table = self.table.lock().expect("table lock");
        table.iter().find(|j| j.id == id).cloned()
    }

    /// Closes the queue: no build is accepted any more, and the pending ones fail unstarted.
    pub fn close(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.queue.lock().expect("queue lock").take();
    }

    /// Stops the running engine builds (recorded by the store as interrupted).
    pub fn stop_running(&self) {
        self.settings.build.stop.store(true, Ordering::SeqCst);
    }

    async fn run(self: &Arc<Jobs>, job: Arc<Job>) {
        if self.draining.load(Ordering::SeqCst) {
            job.push("the server shut down before this build started".into());
            job.finish(Status::Failed, |v| {
                v.error =
                    Some("the server shut down before this build started; submit it again".into());
            });
            return;
        }
        job.update(|v| {
            v.status = Status::InProgress;
            v.started = Some(now());
        });
        let settings = self.settings.clone();
        let running = job.clone();
        let result = tokio::task::spawn_blocking(move || {
            let job = &running;
            let mut options = settings.build.clone();
            options.rebuild = job.options.rebuild;
            if let Some(c) = job.options.compression {
                options.compression = match c {
                    CompressionArg::Gzip => Compression::Gzip,
                    CompressionArg::Zstd => Compression::Zstd,
                };
            }
            build_text(
                &settings.store_dir,
                &job.name,
                &job.filename,
                &job.spec,
                &options,
                &JobLog(job),
            )
        })
        .await;
        match result {
            Ok(Ok(Ok(outcome))) => {
                let reference = outcome.revision.reference();
                job.push(format!(
                    "{reference} {}{}",
                    outcome.revision.manifest.digest,
                    if outcome.unchanged { " unchanged" } else { "" }
                ));
                job.finish(Status::Succeeded, |v| v.revision = Some(reference));
            }
            Ok(Ok(Err(diags))) => {
                JobLog(&job).diagnostics(&diags);
                let doc = render::json(&diags, 1);
                job.finish(Status::Failed, |v| {
                    v.error = Some("the spec has errors; see the diagnostics".into());
                    v.diagnostics = serde_json::from_str(&doc).ok();
                });
            }
            Ok(Err(e)) => {
                let message = e.to_string();
                for line in message.lines() {
                    job.push(format!("error: {line}"));
                }
                job.finish(Status::Failed, |v| v.error = Some(message));
            }
            Err(panicked) => {
                job.push(format!("error: the build stopped unexpectedly: {panicked}"));
                job.finish(Status::Failed, |v| {
                    v.error = Some(format!("the build stopped unexpectedly: {panicked}"));
                });
            }
        }
    }
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").finish_non_exhaustive()
    }
}
