//! The engine bridge: the container engines envc hands execution to (podman, buildah, docker),
//! never becoming one. What each engine's command line is for the four things envc asks of it:
//! its version, whether it has an image (and that image's id), a build of a Dockerfile with
//! fixed timestamps, and an export as a docker-archive (the one format all three write with the
//! image config's bytes kept, so its digest is the engine's image id). [`run`] runs them;
//! [`import`] turns the export into a store image.
//!
//! Decisions: podman and buildah build with `--format docker`, because with the OCI format
//! buildah ignores `SHELL` and the generated `RUN` steps would lose `pipefail`; the timestamp is
//! `--timestamp` for both, and for docker the `SOURCE_DATE_EPOCH` build argument BuildKit reads.
//! A user's `--engine-arg`s go to the build command as they are, after envc's own.

pub mod import;
pub mod run;

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::AtomicBool;

/// An engine envc knows how to drive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EngineKind {
    Podman,
    Buildah,
    Docker,
}

impl EngineKind {
    /// In the order envc looks for them when none is named.
    pub const ALL: [EngineKind; 3] = [EngineKind::Podman, EngineKind::Buildah, EngineKind::Docker];

    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Podman => "podman",
            EngineKind::Buildah => "buildah",
            EngineKind::Docker => "docker",
        }
    }

    pub fn parse(text: &str) -> Option<EngineKind> {
        EngineKind::ALL.into_iter().find(|k| k.name() == text)
    }
}

impl std::fmt::Display for EngineKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Why an engine could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No engine on `PATH` (or not the one asked for).
    #[error(
        "no container engine found: looked for {} on PATH; install one (Debian: `apt-get install \
         podman`, or buildah; docker needs a running daemon), or assemble only specs that need no \
         execution",
        tried.iter().map(|k| format!("`{k}`")).collect::<Vec<_>>().join(", ")
    )]
    NotFound { tried: Vec<EngineKind> },
    /// An engine name envc does not know (from `--engine`, `ENVC_ENGINE` or `envc.toml`).
    #[error("`{name}` (from {from}) is not an engine envc drives: use podman, buildah or docker")]
    Unknown { name: String, from: String },
    /// The engine is on PATH but does not answer (docker without its daemon, say).
    #[error("`{program}` does not work here: {reason}")]
    Unusable { program: String, reason: String },
    /// A command could not be started.
    #[error("cannot run `{program}`: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    /// An engine command failed (not the build itself: see [`Failure`]).
    #[error("`{command}` failed: {reason}")]
    Command { command: String, reason: String },
}

/// An engine found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub kind: EngineKind,
    pub program: PathBuf,
    /// What `--version` says, as a version number (`4.3.1`).
    pub version: String,
}

/// Where the engine choice came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub name: String,
    pub from: String,
}

/// Finds the engine: `choice` when given (`--engine`, `ENVC_ENGINE`, `envc.toml`), else the first
/// of [`EngineKind::ALL`] on `path` (normally `$PATH`).
pub fn find(choice: Option<&Choice>, path: Option<OsString>) -> Result<Engine, Error> {
    let kinds = match choice {
        Some(c) => vec![EngineKind::parse(&c.name).ok_or_else(|| Error::Unknown {
            name: c.name.clone(),
            from: c.from.clone(),
        })?],
        None => EngineKind::ALL.to_vec(),
    };
    let dirs: Vec<PathBuf> = path
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    for kind in &kinds {
        let Some(program) = dirs
            .iter()
            .map(|d| d.join(kind.name()))
            .find(|p| is_executable(p))
        else {
            continue;
        };
        let version = version_of(*kind, &program)?;
        return Ok(Engine {
            kind: *kind,
            program,
            version,
        });
    }
    Err(Error::NotFound { tried: kinds })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The engine's version: podman and buildah print `NAME version X.Y.Z …`; docker's client says
/// its version, but a build needs the daemon, so docker is asked for the server's.
fn version_of(kind: EngineKind, program: &Path) -> Result<String, Error> {
    let mut cmd = Command::new(program);
    match kind {
        EngineKind::Docker => cmd.args(["version", "--format", "{{.Server.Version}}"]),
        _ => cmd.arg("--version"),
    };
    let text = run::query(cmd)
        .map_err(|source| Error::Spawn {
            program: program.display().to_string(),
            source,
        })?
        .map_err(|reason| Error::Unusable {
            program: program.display().to_string(),
            reason,
        })?;
    Ok(parse_version(&text))
}

/// `podman version 4.3.1` → `4.3.1`; `buildah version 1.28.2 (image-spec …)` → `1.28.2`;
/// docker's bare `28.2.2` as it is.
fn parse_version(text: &str) -> String {
    let line = text.lines().next().unwrap_or("").trim();
    match line.split_once(" version ") {
        Some((_, rest)) => rest.split([' ', ',']).next().unwrap_or(rest).to_string(),
        None => line.to_string(),
    }
}

/// A build to run.
#[derive(Debug, Clone)]
pub struct BuildRequest<'a> {
    pub dockerfile: &'a Path,
    /// An empty directory: the generated Dockerfile copies nothing in.
    pub context: &'a Path,
    /// Replaces the image of the first `FROM` (podman/buildah `--from`), e.g. `oci:DIR:REF`.
    pub from: Option<&'a str>,
    pub iidfile: &'a Path,
    pub tag: &'a str,
    pub epoch: u64,
    /// Run every step again (`--no-cache`): a rebuild asks for today's packages, not the
    /// engine's cached layers.
    pub no_cache: bool,
    /// The user's `--engine-arg`s, passed unchanged.
    pub args: &'a [String],
}

/// A build that did not give an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub exit: run::Exit,
    /// The step the engine was running (`RUN apt-get update …`), when its output says.
    pub step: Option<String>,
    /// The engine's last lines.
    pub tail: Vec<String>,
}

impl Engine {
    /// `podman 4.3.1`.
    pub fn describe(&self) -> String {
        format!("{} {}", self.kind, self.version)
    }

    fn command(&self) -> Command {
        Command::new(&self.program)
    }

    /// The build command line.
    pub fn build_command(&self, req: &BuildRequest<'_>) -> Command {
        let mut cmd = self.command();
        match self.kind {
            EngineKind::Podman | EngineKind::Buildah => {
                cmd.args(["build", "--format", "docker", "--timestamp"])
                    .arg(req.epoch.to_string());
                if let Some(from) = req.from {
                    cmd.arg("--from").arg(from);
                }
            }
            EngineKind::Docker => {
                cmd.args(["build", "--build-arg"])
                    .arg(format!("SOURCE_DATE_EPOCH={}", req.epoch));
            }
        }
        if req.no_cache {
            cmd.arg("--no-cache");
        }
        cmd.arg("--iidfile")
            .arg(req.iidfile)
            .arg("-t")
            .arg(req.tag)
            .arg("-f")
            .arg(req.dockerfile)
            .args(req.args)
            .arg(req.context);
        cmd
    }

    /// Runs the build, each line of output to `sink`; the image id on success.
    pub fn build(
        &self,
        req: &BuildRequest<'_>,
        sink: &dyn Fn(&str),
        stop: &AtomicBool,
    ) -> Result<Result<String, Failure>, Error> {
        let finished =
            run::run(self.build_command(req), sink, stop).map_err(|source| Error::Spawn {
                program: self.program.display().to_string(),
                source,
            })?;
        if !finished.exit.success() {
            return Ok(Err(Failure {
                step: failing_step(&finished.lines),
                tail: tail(&finished.lines, 15),
                exit: finished.exit,
            }));
        }
        let id = std::fs::read_to_string(req.iidfile).map_err(|e| Error::Command {
            command: format!("{} build", self.kind),
            reason: format!("it succeeded but wrote no image id to its --iidfile: {e}"),
        })?;
        Ok(Ok(strip_sha(id.trim()).to_string()))
    }

    /// The id (config digest hex) of the engine's image `name`, if it has one.
    pub fn image_id(&self, name: &str) -> Result<Option<String>, Error> {
        let mut cmd = self.command();
        match self.kind {
            EngineKind::Buildah => cmd.args([
                "inspect",
                "--type",
                "image",
                "--format",
                "{{.FromImageID}}",
                name,
            ]),
            _ => cmd.args(["image", "inspect", "--format", "{{.Id}}", name]),
        };
        match run::query(cmd).map_err(|source| Error::Spawn {
            program: self.program.display().to_string(),
            source,
        })? {
            Ok(id) if !id.is_empty() => Ok(Some(strip_sha(&id).to_string())),
            // Every engine says "no such image" its own way; any failure here means envc
            // cannot use the engine's copy, and the next source is tried.
            _ => Ok(None),
        }
    }

    /// Writes the engine's image `image` to `dest` as a docker-archive (the config's bytes kept,
    /// layers as plain tars).
    pub fn export(&self, image: &str, dest: &Path, stop: &AtomicBool) -> Result<(), Error> {
        let mut cmd = self.command();
        match self.kind {
            EngineKind::Podman => {
                cmd.args(["save", "--quiet", "--format", "docker-archive", "-o"])
                    .arg(dest)
                    .arg(image);
            }
            EngineKind::Buildah => {
                cmd.args(["push", "--quiet", image])
                    .arg(format!("docker-archive:{}", dest.display()));
            }
            EngineKind::Docker => {
                cmd.args(["save", "-o"]).arg(dest).arg(image);
            }
        }
        self.checked(cmd, "export", stop)
    }

    /// Loads a docker-archive into the engine (docker, which cannot read an OCI layout in
    /// `FROM`).
    pub fn load(&self, archive: &Path, stop: &AtomicBool) -> Result<(), Error> {
        let mut cmd = self.command();
        cmd.args(["load", "-i"]).arg(archive);
        self.checked(cmd, "load", stop)
    }

    /// Pulls `name` into the engine's storage, output to `sink`.
    pub fn pull(&self, name: &str, sink: &dyn Fn(&str), stop: &AtomicBool) -> Result<(), Error> {
        let mut cmd = self.command();
        cmd.args(["pull", name]);
        self.run_checked(cmd, &format!("pull {name}"), sink, stop)
    }

    fn checked(&self, cmd: Command, what: &str, stop: &AtomicBool) -> Result<(), Error> {
        self.run_checked(cmd, what, &|_| {}, stop)
    }

    /// Runs `cmd`; an error naming `what` and the engine's last lines unless it succeeds.
    fn run_checked(
        &self,
        cmd: Command,
        what: &str,
        sink: &dyn Fn(&str),
        stop: &AtomicBool,
    ) -> Result<(), Error> {
        let finished = run::run(cmd, sink, stop).map_err(|source| Error::Spawn {
            program: self.program.display().to_string(),
            source,
        })?;
        if finished.exit.success() {
            return Ok(());
        }
        Err(Error::Command {
            command: format!("{} {what}", self.kind),
            reason: format!(
                "{}: {}",
                finished.exit,
                tail(&finished.lines, 3).join(" / ")
            ),
        })
    }
}

fn strip_sha(id: &str) -> &str {
    id.strip_prefix("sha256:").unwrap_or(id)
}

fn tail(lines: &[String], n: usize) -> Vec<String> {
    let nonempty: Vec<&String> = lines.iter().filter(|l| !l.trim().is_empty()).collect();
    nonempty[nonempty.len().saturating_sub(n)..]
        .iter()
        .map(|l| l.to_string())
        .collect()
}

/// The step a failed build was running, from its output: buildah's and podman's
/// `STEP 3/7: RUN …`, docker's legacy `Step 3/7 : RUN …`, BuildKit's `#7 [3/7] RUN …`. The last
/// one printed is the one that failed.
pub fn failing_step(lines: &[String]) -> Option<String> {
    lines.iter().rev().find_map(|l| {
        let l = l.trim();
        let after_counter = |rest: &str| -> Option<String> {
            let (counter, step) = rest.split_once(':')?;
            let (a, b) = counter.trim().split_once('/')?;
            (a.trim().parse::<u32>().is_ok() && b.trim().parse::<u32>().is_ok())
                .then(|| step.trim().to_string())
        };
        if let Some(rest) = l.strip_prefix("STEP ").or_else(|| l.strip_prefix("Step ")) {
            return after_counter(rest);
        }
        // BuildKit: `#7 [stage 3/7] RUN …`
        let rest = l.strip_prefix('#')?;
        let (_, rest) = rest.split_once(" [")?;
        let (counter, step) = rest.split_once("] ")?;
        let counter = counter.rsplit(' ').next()?;
        let (a, b) = counter.split_once('/')?;
        (a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok()).then(|| step.trim().to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_each_engines_words() {
        assert_eq!(parse_version("podman version 4.3.1"), "4.3.1");
        assert_eq!(
            parse_version("buildah version 1.28.2 (image-spec 1.1.0-rc2, runtime-spec 1.0.2-dev)"),
            "1.28.2"
        );
        assert_eq!(parse_version("28.2.2\n"), "28.2.2");
    }

    #[test]
    fn the_failing_step_is_the_last_one_announced() {
        let lines = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            failing_step(&lines(&[
                "STEP 1/3: FROM x",
                "STEP 2/3: RUN apt-get install -y nope",
                "E: Unable to locate package nope",
                "Error: building at STEP \"RUN apt-get install -y nope\": exit status 100",
            ])),
            Some("RUN apt-get install -y nope".into())
        );
        assert_eq!(
            failing_step(&lines(&["Step 2/5 : RUN false", " ---> Running in 1"])),
            Some("RUN false".into())
        );
        assert_eq!(
            failing_step(&lines(&["#5 [2/3] RUN make", "#5 ERROR: exit code: 2"])),
            Some("RUN make".into())
        );
        assert_eq!(
            failing_step(&lines(&["#6 [stage-1 3/4] RUN pip install x"])),
            Some("RUN pip install x".into())
        );
        assert_eq!(failing_step(&lines(&["no steps here"])), None);
    }

    #[test]
    fn engines_are_found_on_the_given_path_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let fake = |name: &str, says: &str| {
            use std::os::unix::fs::PermissionsExt;
            let p = dir.path().join(name);
            std::fs::write(&p, format!("#!/bin/sh\necho '{says}'\n")).unwrap();
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
        };
        let path = || Some(dir.path().as_os_str().to_owned());
        assert!(matches!(find(None, path()), Err(Error::NotFound { tried }) if tried.len() == 3));
        fake("buildah", "buildah version 1.28.2 (image-spec 1.1.0)");
        let e = find(None, path()).unwrap();
        assert_eq!(
            (e.kind, e.version.as_str()),
            (EngineKind::Buildah, "1.28.2")
        );
        fake("podman", "podman version 4.3.1");
        assert_eq!(find(None, path()).unwrap().describe(), "podman 4.3.1");
        let choice = |name: &str| Choice {
            name: name.into(),
            from: "--engine".into(),
        };
        assert_eq!(
            find(Some(&choice("buildah")), path()).unwrap().kind,
            EngineKind::Buildah
        );
        let e = find(Some(&choice("docker")), path()).unwrap_err();
        assert!(e.to_string().contains("looked for `docker`"), "{e}");
        let e = find(Some(&choice("kaniko")), path()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "`kaniko` (from --engine) is not an engine envc drives: use podman, buildah or docker"
        );
    }

    #[test]
    fn build_commands_fix_the_timestamp_and_keep_user_args_last() {
        let engine = |kind| Engine {
            kind,
            program: PathBuf::from(kind.name()),
            version: "1".into(),
        };
        let args = vec!["--network".to_string(), "host".to_string()];
        let req = BuildRequest {
            dockerfile: Path::new("/t/Dockerfile"),
            context: Path::new("/t/ctx"),
            from: Some("oci:/s:envc.base/sha256-ab"),
            iidfile: Path::new("/t/iid"),
            tag: "localhost/envc/app:latest",
            epoch: 7,
            no_cache: false,
            args: &args,
        };
        let words = |c: Command| {
            c.get_args()
                .map(|a| a.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        };
        assert_eq!(
            words(engine(EngineKind::Podman).build_command(&req)),
            "build --format docker --timestamp 7 --from oci:/s:envc.base/sha256-ab --iidfile \
             /t/iid -t localhost/envc/app:latest -f /t/Dockerfile --network host /t/ctx"
        );
        assert_eq!(
            words(engine(EngineKind::Docker).build_command(&req)),
            "build --build-arg SOURCE_DATE_EPOCH=7 --iidfile /t/iid -t localhost/envc/app:latest \
             -f /t/Dockerfile --network host /t/ctx"
        );
    }
}
