//! `build` of a spec that needs execution: render the Dockerfile (the bytes `envc dockerfile`
//! writes with the same options), hand it to an engine, import the result. In order:
//!
//! 1. **Nothing changed?** The latest revision of NAME records the spec digest, the Dockerfile
//!    digest and the base digest it was built from; when all three are today's, the build is
//!    `unchanged`, no engine starts and nothing is written. The base digest is the one envc
//!    knows without asking an engine: `--base`'s (read, not imported), else the store's base
//!    of that name (the engine's copy is compared on the next real build; `--rebuild` forces
//!    one). The engine is found before anything is imported.
//! 2. **The base**, recorded by digest either way: `--base` (imported into the store, handed to
//!    the engine as `oci:STORE:REF`); else the engine's own copy (imported into the store once,
//!    again when the engine's copy changes); else the store's (handed over as `oci:STORE:REF`);
//!    else the engine pulls it and it is imported as the engine's copy.
//! 3. **The build**, output streamed to the [`Log`] and kept; a failure, a kill or an interrupt
//!    leaves a build record with the log and the failing step, and the store's revisions as
//!    they were.
//! 4. **Export and import** ([`crate::engine::import`]), then the commit under the store's
//!    lock, and a record of the build naming the revision.

use super::build::{BuildOptions, BuildOutcome};
use super::{Error, Log};
use crate::emit::dockerfile;
use crate::engine::{self, import, Engine, EngineKind};
use crate::oci::archive::{choose_image, ExportFormat, LayoutSource, SourceLocation};
use crate::oci::normalise::DropPolicy;
use crate::store::annotations::{BUILD_ID, DOCKERFILE_DIGEST, ENGINE, SPEC_DIGEST};
use crate::store::base::ImportedBase;
use crate::store::builds::{new_build_id, BuildRecord, BuildStatus};
use crate::store::{base_arg, Revision, Store};
use crate::types::digest::Digest;
use crate::types::name::EnvName;
use crate::Compiled;
use std::ffi::OsString;
use std::path::Path;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

/// How an engine build runs (beside [`BuildOptions`]).
#[derive(Debug, Clone)]
pub struct EngineOptions {
    /// `--engine`, `ENVC_ENGINE` or `[engine] name`, in that order; `None`: the first found.
    pub choice: Option<engine::Choice>,
    /// `--engine-arg`s, then `[engine] args`.
    pub args: Vec<String>,
    /// Build even when nothing changed.
    pub rebuild: bool,
    /// The Dockerfile's options, as for `envc dockerfile`.
    pub dockerfile: dockerfile::Options,
    /// What import drops from the new layers.
    pub drop: Arc<DropPolicy>,
    /// Where engines are looked for (`$PATH`).
    pub path: Option<OsString>,
    /// Raised by Ctrl-C or SIGTERM: the engine is stopped, the build recorded as interrupted.
    pub stop: Arc<AtomicBool>,
}

/// The three digests that decide whether a build would change anything.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Inputs {
    spec: Digest,
    dockerfile: Digest,
    base: Option<Digest>,
}

fn unchanged(latest: &Revision, inputs: &Inputs) -> bool {
    let has = |key: &str, d: &Digest| latest.annotation(key) == Some(d.to_string().as_str());
    let Some(base) = &inputs.base else {
        return false;
    };
    has(SPEC_DIGEST, &inputs.spec)
        && has(DOCKERFILE_DIGEST, &inputs.dockerfile)
        && has(crate::oci::ANNOTATION_BASE_DIGEST, base)
}

/// What the build log holds: envc's lines and the engine's, in order.
struct BuildLog<'a> {
    lines: Mutex<Vec<String>>,
    log: &'a dyn Log,
    started: Instant,
}

impl BuildLog<'_> {
    fn envc(&self, line: &str) {
        self.lines
            .lock()
            .expect("log lock")
            .push(format!("envc: {line}"));
    }

    fn engine(&self, line: &str) {
        self.log.engine(line);
        self.lines.lock().expect("log lock").push(line.to_string());
    }

    fn phase(&self, phase: &str, since: Instant) {
        let elapsed = since.elapsed();
        self.log.phase(phase, elapsed);
        self.envc(&format!("{phase} done in {:.1?}", elapsed));
    }

    fn bytes(&self) -> Vec<u8> {
        let lines = self.lines.lock().expect("log lock");
        let mut out = lines.join("\n").into_bytes();
        out.push(b'\n');
        out
    }
}

/// The engine's part of a locked build: the Dockerfile is rendered from `dockerfile_plan` (the
/// plan without its package steps, on the hermetic image the store assembled); the revision
/// records the whole plan, with `annotations` beside it.
pub(crate) struct OnHermetic<'a> {
    pub dockerfile_plan: &'a crate::plan::Plan,
    pub annotations: std::collections::BTreeMap<String, String>,
}

pub(crate) fn build_with_engine(
    store: &Store,
    name: &EnvName,
    compiled: &Compiled,
    options: &BuildOptions,
    engine_options: &EngineOptions,
    hermetic: Option<&OnHermetic<'_>>,
    log: &dyn Log,
) -> Result<BuildOutcome, Error> {
    let plan = &compiled.plan;
    let dockerfile_plan = hermetic.map_or(plan, |h| h.dockerfile_plan);
    let render_started = Instant::now();
    let text = dockerfile::render(dockerfile_plan, &engine_options.dockerfile)?;
    let rendered_in = render_started.elapsed();
    let base_name = dockerfile_plan.base.reference.clone();
    let from_name = from_line_image(&text).unwrap_or_else(|| base_name.clone());

    // 1. Unchanged? Only what the store knows; no engine yet, and nothing written.
    let from_registry = options.base.as_deref().and_then(base_arg::registry_ref);
    let location = match from_registry {
        Some(_) => None,
        None => options.base.as_deref().map(base_arg::parse).transpose()?,
    };
    let given_digest = match (&location, from_registry) {
        (Some(loc), _) => {
            let src = LayoutSource::open(loc)?;
            Some(choose_image(&src, loc.reference())?.digest)
        }
        // The registry's manifest only: nothing is written before the engine is found.
        (None, Some(r)) => {
            let r = super::registry::reference(r)?;
            let src = crate::registry::source::RegistrySource::open(&options.registry, &r)?;
            Some(choose_image(&src, None)?.digest)
        }
        (None, None) => None,
    };
    let stored = match (&location, from_registry) {
        (Some(_), _) | (_, Some(_)) => None,
        (None, None) => match store.stored_base(&base_name)? {
            Some(b) => Some(b),
            // Not in the store: its registry, else (below) the engine's copy or its pull.
            None if !options.registry.options().offline => {
                match super::registry::pull_base(store, &options.registry, &from_name, &base_name) {
                    Ok(b) => {
                        log.verbose(&format!("pulled `{from_name}` ({})", b.manifest.digest));
                        Some(b)
                    }
                    Err(e) => {
                        log.verbose(&format!("cannot pull `{from_name}` from its registry: {e}"));
                        None
                    }
                }
            }
            None => None,
        },
    };
    let inputs = Inputs {
        spec: plan.digest(),
        dockerfile: Digest::of(text.as_bytes()),
        base: given_digest.or(stored.as_ref().map(|b| b.manifest.digest)),
    };
    if !engine_options.rebuild {
        let latest = store.revisions(Some(name))?.into_iter().next_back();
        if let Some(latest) = latest.filter(|l| unchanged(l, &inputs)) {
            return Ok(BuildOutcome {
                name: name.clone(),
                revision: latest,
                unchanged: true,
            });
        }
    }

    log.phase("render", rendered_in);
    // The engine before any import: without one, the store is left exactly as it was.
    let engine = engine::find(engine_options.choice.as_ref(), engine_options.path.clone())?;
    log.verbose(&format!(
        "engine: {} ({})",
        engine.describe(),
        engine.program.display()
    ));
    let given = match (&location, from_registry) {
        (Some(loc), _) => Some(store.import_base(loc, &base_name)?),
        (None, Some(r)) => Some(super::registry::pull_base(
            store,
            &options.registry,
            r,
            &base_name,
        )?),
        (None, None) => None,
    };
    let started_at = SystemTime::now();
    let id = new_build_id(name.as_str(), started_at);
    let build_log = BuildLog {
        lines: Mutex::new(Vec::new()),
        log,
        started: Instant::now(),
    };
    build_log.envc(&format!(
        "build {id} of {name} with {} (spec {}, Dockerfile {})",
        engine.describe(),
        inputs.spec,
        inputs.dockerfile
    ));
    let mut record = BuildRecord {
        base_digest: None,
        dockerfile_digest: Some(inputs.dockerfile.to_string()),
        engine: Some(engine.describe()),
        error: None,
        failing_step: None,
        id: id.clone(),
        name: name.to_string(),
        revision: None,
        seconds: 0.0,
        spec_digest: inputs.spec.to_string(),
        started: humantime::format_rfc3339_seconds(started_at).to_string(),
        status: BuildStatus::Succeeded,
    };
    let result = run_build(
        store,
        name,
        compiled,
        options,
        engine_options,
        &engine,
        &BuildPlan {
            id: &id,
            text: &text,
            base_name: &base_name,
            from_name: &from_name,
            given,
            stored,
            dockerfile_digest: inputs.dockerfile,
            offline: options.registry.options().offline,
        },
        hermetic,
        &build_log,
        &mut record,
    );
    // Whatever failed once Ctrl-C or SIGTERM arrived (an export the signal cut short, say)
    // failed because of it.
    let result = match result {
        Err(e)
            if engine_options
                .stop
                .load(std::sync::atomic::Ordering::Relaxed) =>
        {
            build_log.envc(&format!("after the interrupt: {e}"));
            Err(Error::Interrupted { id: id.clone() })
        }
        other => other,
    };
    record.seconds = (build_log.started.elapsed().as_secs_f64() * 10.0).round() / 10.0;
    match &result {
        Ok(outcome) => record.revision = Some(outcome.revision.reference()),
        Err(e) => {
            record.status = if matches!(e, Error::Interrupted { .. }) {
                BuildStatus::Interrupted
            } else {
                BuildStatus::Failed
            };
            record.error = Some(e.to_string());
            build_log.envc(&format!("{}: {e}", record.status));
        }
    }
    // The record is kept whatever happened; a failure to write it is reported after the
    // build's own outcome (which is what the user asked about).
    if let Err(e) = store.save_build(&record, &build_log.bytes()) {
        log.note(&format!("cannot record build {id}: {e}"));
    }
    result
}

struct BuildPlan<'a> {
    id: &'a str,
    text: &'a str,
    base_name: &'a str,
    from_name: &'a str,
    given: Option<ImportedBase>,
    stored: Option<ImportedBase>,
    /// `--offline`: the engine may not pull the base either.
    offline: bool,
    dockerfile_digest: Digest,
}

#[allow(clippy::too_many_arguments)]
fn run_build(
    store: &Store,
    name: &EnvName,
    compiled: &Compiled,
    options: &BuildOptions,
    engine_options: &EngineOptions,
    engine: &Engine,
    bp: &BuildPlan<'_>,
    hermetic: Option<&OnHermetic<'_>>,
    build_log: &BuildLog<'_>,
    record: &mut BuildRecord,
) -> Result<BuildOutcome, Error> {
    let stop = &*engine_options.stop;
    let interrupted = || Error::Interrupted { id: bp.id.into() };
    // Held from here on: `gc` waits rather than remove the build's work directory.
    store.start_writing()?;
    let work = tempfile::Builder::new()
        .prefix("build-")
        .tempdir_in(store.tmp_dir())
        .map_err(|e| crate::oci::Error::io(&store.tmp_dir(), e))?;
    let dockerfile_path = work.path().join("Dockerfile");
    let context = work.path().join("context");
    std::fs::create_dir_all(&context)
        .and_then(|()| std::fs::write(&dockerfile_path, bp.text))
        .map_err(|e| crate::oci::Error::io(work.path(), e))?;

    // 2. The base.
    let phase = Instant::now();
    let (base, from) = engine_base(store, engine, bp, work.path(), build_log, stop)?;
    record.base_digest = Some(base.manifest.digest.to_string());
    build_log.envc(&format!("base {} {}", bp.base_name, base.manifest.digest));
    build_log.phase("base", phase);
    if stop.load(std::sync::atomic::Ordering::Relaxed) {
        return Err(interrupted());
    }

    // 3. The build.
    let phase = Instant::now();
    let iidfile = work.path().join("iid");
    let tag = format!("localhost/envc/{name}:latest");
    let request = engine::BuildRequest {
        dockerfile: &dockerfile_path,
        context: &context,
        from: from.as_deref(),
        iidfile: &iidfile,
        tag: &tag,
        epoch: options.epoch,
        no_cache: engine_options.rebuild,
        args: &engine_options.args,
    };
    build_log.envc(&format!(
        "running {}",
        command_text(&engine.build_command(&request))
    ));
    let image = match engine.build(&request, &|l| build_log.engine(l), stop)? {
        Ok(image) => image,
        Err(failure) => {
            record.failing_step = failure.step.clone();
            if failure.exit == engine::run::Exit::Interrupted {
                return Err(interrupted());
            }
            return Err(Error::BuildFailed {
                name: name.to_string(),
                id: bp.id.into(),
                engine: engine.kind.name(),
                failure,
            });
        }
    };
    build_log.phase("build", phase);

    // 4. Export, import, commit.
    let phase = Instant::now();
    let archive = work.path().join("image.tar");
    engine.export(&image, &archive, stop)?;
    build_log.phase("export", phase);
    let phase = Instant::now();
    let mut annotations = std::collections::BTreeMap::from([
        (
            DOCKERFILE_DIGEST.to_string(),
            bp.dockerfile_digest.to_string(),
        ),
        (ENGINE.to_string(), engine.describe()),
        (BUILD_ID.to_string(), bp.id.to_string()),
    ]);
    if let Some(p) = &compiled.provenance {
        annotations.insert(
            crate::store::annotations::PROVENANCE.into(),
            serde_json::to_string(p)?,
        );
    }
    if let Some(h) = hermetic {
        annotations.extend(h.annotations.clone());
    }
    let imported = import::import_build(
        store,
        &import::Request {
            archive: &archive,
            base: &base,
            base_name: bp.base_name,
            plan: &compiled.plan,
            policy: &engine_options.drop,
            epoch: options.epoch,
            compression: options.compression,
            annotations,
            stop,
        },
    )
    .map_err(|e| match e {
        import::Error::Interrupted => interrupted(),
        e => Error::EngineImport(e),
    })?;
    build_log.envc(&format!(
        "imported {} new layer(s), {} bytes; dropped {} build-time path(s){}",
        imported.new_layers,
        imported.bytes,
        imported.dropped.len(),
        if imported.dropped.is_empty() {
            String::new()
        } else {
            format!(": {}", imported.dropped.join(", "))
        }
    ));
    let lock = store.lock()?;
    let commit = store.commit(&lock, name, imported.manifest)?;
    drop(lock);
    build_log.phase("import", phase);
    Ok(BuildOutcome::new(name, commit))
}

/// The base for the engine, as a store base, and what replaces the `FROM` image (`None`: the
/// engine's own copy).
fn engine_base(
    store: &Store,
    engine: &Engine,
    bp: &BuildPlan<'_>,
    work: &Path,
    build_log: &BuildLog<'_>,
    stop: &AtomicBool,
) -> Result<(ImportedBase, Option<String>), Error> {
    if let Some(given) = &bp.given {
        let from = hand_over(store, engine, given, bp, work, stop)?;
        return Ok((given.clone(), from));
    }
    let mut engine_id = engine.image_id(bp.from_name)?;
    if engine_id.is_none() {
        if let Some(stored) = &bp.stored {
            build_log.envc(&format!(
                "{} has no `{}`; handing it the store's copy",
                engine.kind, bp.from_name
            ));
            let from = hand_over(store, engine, stored, bp, work, stop)?;
            return Ok((stored.clone(), from));
        }
        if bp.offline {
            return Err(crate::registry::Error::Offline {
                what: format!("the base image `{}`", bp.base_name),
            }
            .into());
        }
        build_log.envc(&format!("{} pulls `{}`", engine.kind, bp.from_name));
        engine
            .pull(bp.from_name, &|l| build_log.engine(l), stop)
            .map_err(|e| Error::BaseNotFound {
                name: bp.from_name.to_string(),
                reason: e.to_string(),
            })?;
        engine_id = engine.image_id(bp.from_name)?;
    }
    let Some(engine_id) = engine_id else {
        return Err(Error::BaseNotFound {
            name: bp.from_name.to_string(),
            reason: format!("{} pulled it but cannot inspect it", engine.kind),
        });
    };
    // The engine's copy: the store's already when its config digest is the engine's image id.
    if let Some(stored) = &bp.stored {
        if store.config_digest(&stored.manifest.digest)?.hex() == engine_id {
            return Ok((stored.clone(), None));
        }
    }
    let archive = work.join("base.tar");
    engine.export(bp.from_name, &archive, stop)?;
    let base = store.import_base(
        &SourceLocation::DockerArchive {
            path: archive.clone(),
            reference: None,
        },
        bp.base_name,
    )?;
    let _ = std::fs::remove_file(&archive);
    build_log.envc(&format!(
        "imported {}'s `{}` into the store as {}",
        engine.kind, bp.from_name, base.manifest.digest
    ));
    Ok((base, None))
}

/// Hands a store base to the engine: podman and buildah read the store as an OCI layout
/// (`--from oci:STORE:REF`, nothing copied); docker loads a docker-archive of it under the
/// `FROM` name.
fn hand_over(
    store: &Store,
    engine: &Engine,
    base: &ImportedBase,
    bp: &BuildPlan<'_>,
    work: &Path,
    stop: &AtomicBool,
) -> Result<Option<String>, Error> {
    let reference = crate::store::annotations::base_ref(&base.manifest.digest);
    match engine.kind {
        EngineKind::Podman | EngineKind::Buildah => {
            let root = std::fs::canonicalize(store.root())
                .map_err(|e| crate::oci::Error::io(store.root(), e))?;
            Ok(Some(format!("oci:{}:{reference}", root.display())))
        }
        EngineKind::Docker => {
            let archive = work.join("base.tar");
            crate::oci::layout::Layout::export(
                store,
                &base.manifest,
                bp.from_name,
                ExportFormat::DockerArchive,
                &archive,
            )?;
            engine.load(&archive, stop)?;
            Ok(None)
        }
    }
}

/// The image of the Dockerfile's `FROM` line (the base name with the registry mirror applied).
fn from_line_image(text: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix("FROM "))
        .map(|rest| rest.split_whitespace().next().unwrap_or(rest).to_string())
}

fn command_text(cmd: &std::process::Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_from_image_is_read_from_the_dockerfile() {
        let text = "# x\nFROM mirror.example.com/anyscale/ray:2.9.0 AS base\nRUN ls\n";
        assert_eq!(
            from_line_image(text).as_deref(),
            Some("mirror.example.com/anyscale/ray:2.9.0")
        );
    }
}
