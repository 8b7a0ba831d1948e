//! `build` (one spec or many), `import` and `logs`: arguments → [`crate::ops::build`],
//! [`crate::ops::import`] and the store's build records, and their outcomes printed. Building
//! many specs runs `--jobs` at once into one store, engine lines prefixed by the environment,
//! and ends with a summary table; one that fails does not stop the others.

use super::{compile_one, dockerfile_options, Error, Printer, EXIT_NO, EXIT_OK};
use crate::cli::{DockerfileArgs, InputArgs, StoreArgs};
use crate::diag::Diagnostic;
use crate::engine;
use crate::oci::normalise::{DropPolicy, DEFAULT_DROP};
use crate::oci::Compression;
use crate::ops::build::{BuildOptions, BuildOutcome, EngineOptions};
use crate::ops::compile::Usable;
use crate::ops::{self, Log};
use crate::types::name::{EnvName, Identifier};
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// `envc build`'s arguments.
pub(crate) struct BuildArgs<'a> {
    pub(crate) files: &'a [PathBuf],
    pub(crate) names: &'a [String],
    pub(crate) base: Option<&'a str>,
    pub(crate) compression: Compression,
    pub(crate) engine: Option<&'a str>,
    pub(crate) engine_args: &'a [String],
    pub(crate) rebuild: bool,
    pub(crate) jobs: u16,
    pub(crate) offline: bool,
    pub(crate) lock: Option<&'a Path>,
    pub(crate) cache: Option<&'a Path>,
    pub(crate) registry: &'a crate::cli::RegistryArgs,
    pub(crate) dockerfile: &'a DockerfileArgs,
    pub(crate) store: &'a StoreArgs,
    pub(crate) input: &'a InputArgs,
}

/// `NAME:REV sha256:<manifest>`, followed by `unchanged` when no revision was added.
pub(crate) fn commit_line(outcome: &BuildOutcome) -> String {
    let r = &outcome.revision;
    let note = if outcome.unchanged { " unchanged" } else { "" };
    format!(
        "{}:{} {}{note}\n",
        outcome.name, r.revision, r.manifest.digest
    )
}

/// Pairs each spec with its environment name: `--name NAME` for a single spec, else
/// `--name NAME=SPEC` or the file stem.
fn named_specs(files: &[PathBuf], names: &[String]) -> Result<Vec<(EnvName, PathBuf)>, Error> {
    if let [only] = names {
        if !only.contains('=') {
            if files.len() != 1 {
                return Err(Error::Usage(
                    "`--name NAME` names one spec; with several, write `--name NAME=SPEC` for \
                     each (or let each file stem name its spec)"
                        .into(),
                ));
            }
            return Ok(vec![(EnvName::parse(only)?, files[0].clone())]);
        }
    }
    let mut pairs = Vec::new();
    for n in names {
        match n.split_once('=') {
            Some((name, spec)) if !name.is_empty() && !spec.is_empty() => {
                pairs.push((name.to_string(), PathBuf::from(spec)));
            }
            _ => {
                return Err(Error::Usage(format!(
                    "`--name {n}`: with several specs or names, write `--name NAME=SPEC`"
                )))
            }
        }
    }
    ops::bakefile::name_specs(files, &pairs)
}

/// Ctrl-C and SIGTERM raise the flag (the engine is stopped, the build recorded, exit 130); a
/// second Ctrl-C ends envc at once.
fn stop_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
        let _ = signal_hook::flag::register_conditional_default(signal, flag.clone());
        let _ = signal_hook::flag::register(signal, flag.clone());
    }
    flag
}

/// The [`Log`] of one build: the printer's, with engine lines and phases marked (and, when
/// several specs build at once, prefixed with the environment's name).
struct BuildLog<'a> {
    printer: &'a Printer,
    prefix: String,
}

impl Log for BuildLog<'_> {
    fn verbose(&self, message: &str) {
        self.printer.verbose(&format!("{}{message}", self.prefix));
    }
    fn note(&self, message: &str) {
        self.printer.note(&format!("{}{message}", self.prefix));
    }
    fn diagnostics(&self, diags: &[Diagnostic]) {
        self.printer.diagnostics(diags);
    }
    fn engine(&self, line: &str) {
        if !self.printer.is_quiet() {
            let _ = writeln!(std::io::stderr(), "{}  │ {line}", self.prefix);
        }
    }
    fn phase(&self, phase: &str, elapsed: Duration) {
        if !self.printer.is_quiet() {
            let _ = writeln!(
                std::io::stderr(),
                "envc: {}{phase} {}",
                self.prefix,
                seconds(elapsed)
            );
        }
    }
}

fn seconds(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// What happened to one spec of a many-spec build.
enum SpecResult {
    Done(BuildOutcome),
    Refused,
    Failed(ops::Error),
}

pub(crate) fn build(printer: &Printer, args: &BuildArgs<'_>) -> Result<u8, Error> {
    let specs = named_specs(args.files, args.names)?;
    let epoch = crate::epoch::from_env()?;
    let stop = stop_flag();
    let registry = Arc::new(super::registry::client(
        printer,
        args.registry,
        args.offline,
    )?);
    let run = Run {
        epoch,
        stop: &stop,
        registry: &registry,
    };
    if let [(name, file)] = &specs[..] {
        let log = BuildLog {
            printer,
            prefix: String::new(),
        };
        return match build_one(printer, &log, args, name, file, &run)? {
            Some(outcome) => {
                printer.data(&commit_line(&outcome))?;
                Ok(EXIT_OK)
            }
            None => Ok(EXIT_NO),
        };
    }

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(SpecResult, Duration)>>> =
        Mutex::new((0..specs.len()).map(|_| None).collect());
    let width = specs
        .iter()
        .map(|(n, _)| n.as_str().len())
        .max()
        .unwrap_or(0);
    std::thread::scope(|s| {
        for _ in 0..usize::from(args.jobs).min(specs.len()) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some((name, file)) = specs.get(i) else {
                    return;
                };
                let log = BuildLog {
                    printer,
                    prefix: format!("[{name:width$}] "),
                };
                log.phase("started", Duration::ZERO);
                let started = Instant::now();
                let result = if stop.load(Ordering::Relaxed) {
                    SpecResult::Failed(ops::Error::Interrupted {
                        id: "(not started)".into(),
                    })
                } else {
                    match build_one(printer, &log, args, name, file, &run) {
                        Ok(Some(outcome)) => {
                            let _ = printer.data(&commit_line(&outcome));
                            SpecResult::Done(outcome)
                        }
                        Ok(None) => SpecResult::Refused,
                        Err(e) => {
                            printer.error(&format!("{name}: {e}"));
                            SpecResult::Failed(e)
                        }
                    }
                };
                results.lock().expect("results lock")[i] = Some((result, started.elapsed()));
            });
        }
    });
    let results = results.into_inner().expect("results lock");
    let mut rows = vec![[
        "NAME".to_string(),
        "RESULT".into(),
        "REVISION".into(),
        "TIME".into(),
    ]];
    let (mut failed, mut interrupted) = (false, false);
    for ((name, _), result) in specs.iter().zip(results) {
        let (result, time) = result.expect("every spec was built");
        let (what, revision) = match &result {
            SpecResult::Done(o) if o.unchanged => ("unchanged".to_string(), o.revision.reference()),
            SpecResult::Done(o) => ("built".to_string(), o.revision.reference()),
            SpecResult::Refused => {
                failed = true;
                ("invalid spec".to_string(), "-".into())
            }
            SpecResult::Failed(e) => {
                failed = true;
                interrupted |= matches!(e, ops::Error::Interrupted { .. });
                let what = match e {
                    ops::Error::BuildFailed { failure, .. } => match &failure.step {
                        Some(step) => format!("failed at {}", clip(step, 40)),
                        None => format!("failed ({})", failure.exit),
                    },
                    ops::Error::Interrupted { .. } => "interrupted".into(),
                    _ => "failed".into(),
                };
                (what, "-".into())
            }
        };
        rows.push([name.to_string(), what, revision, seconds(time)]);
    }
    if !printer.is_quiet() {
        let mut table = String::new();
        super::store::format_table(&mut table, &rows);
        let _ = std::io::stderr().write_all(table.as_bytes());
    }
    Ok(if interrupted {
        ops::EXIT_INTERRUPTED
    } else if failed {
        EXIT_NO
    } else {
        EXIT_OK
    })
}

fn clip(text: &str, max: usize) -> String {
    let first = text.lines().next().unwrap_or("");
    if first.chars().count() <= max {
        first.to_string()
    } else {
        format!("{}…", first.chars().take(max).collect::<String>())
    }
}

/// What every spec of one `envc build` shares.
#[derive(Clone, Copy)]
struct Run<'a> {
    epoch: u64,
    stop: &'a Arc<AtomicBool>,
    registry: &'a Arc<crate::registry::Client>,
}

/// Compiles and builds one spec; `None` when the spec is refused (diagnostics printed).
fn build_one(
    printer: &Printer,
    log: &BuildLog<'_>,
    args: &BuildArgs<'_>,
    name: &EnvName,
    file: &Path,
    run: &Run<'_>,
) -> Result<Option<BuildOutcome>, Error> {
    let Run {
        epoch,
        stop,
        registry,
    } = *run;
    let Some(Usable {
        compiled,
        mirror,
        config,
    }) = compile_one(printer, file, args.input)?
    else {
        return Ok(None);
    };
    let mut dockerfile = dockerfile_options(args.dockerfile)?;
    dockerfile.mirror = mirror;
    let choice = match (
        args.engine,
        std::env::var("ENVC_ENGINE").ok(),
        &config.engine,
    ) {
        (Some(e), _, _) => Some(engine::Choice {
            name: e.to_string(),
            from: "--engine".into(),
        }),
        (None, Some(e), _) if !e.is_empty() => Some(engine::Choice {
            name: e,
            from: "ENVC_ENGINE".into(),
        }),
        (None, _, Some(e)) => Some(engine::Choice {
            name: e.clone(),
            from: config.path.as_ref().map_or("envc.toml".into(), |p| {
                format!("`[engine] name` in {}", p.display())
            }),
        }),
        _ => None,
    };
    let patterns: Vec<String> = match &config.drop {
        Some(p) => p.clone(),
        None => DEFAULT_DROP.iter().map(|s| s.to_string()).collect(),
    };
    let engine_options = EngineOptions {
        choice,
        args: args
            .engine_args
            .iter()
            .chain(&config.engine_args)
            .cloned()
            .collect(),
        rebuild: args.rebuild,
        dockerfile,
        drop: Arc::new(DropPolicy::new(&patterns).map_err(ops::Error::DropPolicy)?),
        path: std::env::var_os("PATH"),
        stop: stop.clone(),
    };
    let options = BuildOptions {
        base: args.base.map(str::to_string),
        compression: args.compression,
        epoch,
        registry: registry.clone(),
        mirror: engine_options.dockerfile.mirror.clone(),
    };
    let root = ops::store_dir(args.store.store.as_deref());
    if let Some(path) = args.lock {
        let lock = ops::lock::read_lock(path)?;
        let cache = super::lock::cache(args.cache);
        let locked = ops::locked_build::Locked {
            path,
            lock: &lock,
            cache: &cache,
        };
        return Ok(Some(ops::locked_build::build_locked(
            &root,
            name,
            &compiled,
            &locked,
            &options,
            &engine_options,
            log,
        )?));
    }
    Ok(Some(ops::build::build(
        &root,
        name,
        &compiled,
        &options,
        &engine_options,
        log,
    )?))
}

/// `envc import`'s arguments.
pub(crate) struct ImportArgs<'a> {
    pub(crate) name: &'a str,
    pub(crate) spec: &'a Path,
    pub(crate) image: &'a str,
    pub(crate) base: Option<&'a str>,
    pub(crate) force: bool,
    pub(crate) store: &'a StoreArgs,
    pub(crate) input: &'a InputArgs,
}

pub(crate) fn import(printer: &Printer, args: &ImportArgs<'_>) -> Result<u8, Error> {
    let name = EnvName::parse(args.name)?;
    let Some(Usable { compiled, .. }) = compile_one(printer, args.spec, args.input)? else {
        return Ok(EXIT_NO);
    };
    let root = ops::store_dir(args.store.store.as_deref());
    let outcome = ops::import::import(
        &root,
        &name,
        &compiled,
        &ops::import::ImportOptions {
            image: args.image.to_string(),
            base: args.base.map(str::to_string),
            force: args.force,
        },
        printer,
    )?;
    printer.data(&commit_line(&outcome))?;
    Ok(EXIT_OK)
}

pub(crate) fn logs(printer: &Printer, build: &str, store_args: &StoreArgs) -> Result<u8, Error> {
    let store = ops::open(store_args.store.as_deref())?;
    let id = match store.build(build)? {
        Some(record) => record.id,
        None => {
            let id = Identifier::parse(build).map_err(|_| {
                Error::Usage(format!(
                    "`{build}` is neither a build id nor NAME[:REV]; `envc list --all` lists builds"
                ))
            })?;
            let r = store.resolve(&id)?;
            match r.annotation(crate::store::annotations::BUILD_ID) {
                Some(id) => id.to_string(),
                None => {
                    printer.error(&format!(
                        "{} was not built by an engine (it was assembled or imported), so it has no build log",
                        r.reference()
                    ));
                    return Ok(EXIT_NO);
                }
            }
        }
    };
    let log = store.build_log(&id)?;
    printer.data(&String::from_utf8_lossy(&log))?;
    Ok(EXIT_OK)
}
