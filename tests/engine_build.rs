//! `envc build` through a real engine, end to end: podman and buildah build
//! `fixtures/e2e/engine.yaml` (env vars, Debian packages, a pip package, a multi-line post-build
//! command) on the ray-like base (`tests/common/engine.rs`), envc imports the result, and the
//! exported revision, loaded back into podman, holds every part of the spec. Then what a team
//! relies on: an unchanged rebuild starts no engine, a changed pin is the next revision and
//! `diff` shows it, rollback gives the first revision's layers, `envc import` records images
//! built elsewhere; and what fails: a package that does not exist, an engine killed or
//! interrupted mid-build, no engine, a base that is nowhere, an argument the engine rejects,
//! two builds of one name at once. Every failure leaves the store's revisions as they were
//! and a build record with the log.
//!
//! Needs root, podman, buildah, runc and debootstrap; skipped with the reason otherwise, unless
//! `ENVC_ENGINE_REQUIRED` is set (CI). The tests take one lock: two cores, one engine at a time.

mod common;

use common::engine::{self, BASE_IMAGE};
use common::{envc, run, Run, TempDir};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static ONE_ENGINE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_ENGINE_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn spec_text() -> String {
    fs::read_to_string(common::root().join("fixtures/e2e/engine.yaml")).expect("engine.yaml")
}

/// envc with the engine's environment.
fn envc_engine() -> Command {
    let mut c = envc();
    engine::engine_env(&mut c);
    c
}

/// `envc build SPEC --name NAME --store STORE` with this machine's build arguments.
fn build(store: &Path, spec: &Path, name: &str, extra: &[&str]) -> Run {
    run(build_command(store, spec, name).args(extra))
}

/// The command of [`build`].
fn build_command(store: &Path, spec: &Path, name: &str) -> Command {
    let mut c = envc_engine();
    c.arg("build")
        .arg(spec)
        .args(["--name", name, "--store"])
        .arg(store);
    for a in engine::build_args(&store.with_extension("work")) {
        c.arg(format!("--engine-arg={a}"));
    }
    c
}

fn list_json(store: &Path, all: bool) -> Value {
    let mut c = envc();
    c.arg("list")
        .args(["--format", "json", "--store"])
        .arg(store);
    if all {
        c.arg("--all");
    }
    run(&mut c).ok().json()
}

fn revisions(store: &Path) -> Vec<String> {
    let v = list_json(store, false);
    v.as_array()
        .expect("list is an array")
        .iter()
        .map(|r| r["reference"].as_str().unwrap().to_string())
        .collect()
}

fn layers(store: &Path, reference: &str) -> Vec<String> {
    let v = run(envc()
        .args(["show", reference, "--format", "json", "--store"])
        .arg(store))
    .ok()
    .json();
    v["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// Exports `reference`, loads it into podman and runs the probe; the mismatches.
fn probe(store: &Path, reference: &str, six: &str) -> Vec<String> {
    let archive = store.with_extension(format!("{}.tar", reference.replace(':', "-")));
    run(envc()
        .args(["export", reference, "--format", "oci-archive", "-o"])
        .arg(&archive)
        .arg("--store")
        .arg(store))
    .ok();
    let loaded = run(engine::podman().arg("load").arg("-i").arg(&archive));
    assert_eq!(loaded.code, Some(0), "{loaded}");
    // podman names an oci-archive's image by its ref name (`NAME:REV`) under localhost/.
    let image = format!("localhost/{reference}");
    let out = run(engine::podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        &image,
        "bash",
        "-c",
        engine::PROBE,
    ]));
    assert_eq!(out.code, Some(0), "{out}");
    let _ = fs::remove_file(&archive);
    engine::probe_failures(&out.stdout, six)
}

fn assert_store_sound(store: &Path) {
    run(envc().arg("verify").arg("--store").arg(store)).ok();
}

#[test]
fn podman_builds_every_part_of_a_spec_into_the_store() {
    if !engine::available() {
        return;
    }
    let _one = lock();
    engine::cache();
    let tmp = TempDir::new("engine-podman");
    let store = tmp.join("store");
    let spec = common::write_spec(tmp.path(), "env.yaml", &spec_text());

    // 1. Build: the engine's output streams to stderr, marked, with a line per phase.
    let started = Instant::now();
    let first = build(&store, &spec, "e2e", &["--engine", "podman"]).ok();
    eprintln!("engine: first build in {:.1?}", started.elapsed());
    let line = common::line_of(&first);
    assert_eq!(line.reference(), "e2e:1", "{first}");
    assert!(
        first.stderr.contains("  │ STEP 1/"),
        "engine lines are marked: {first}"
    );
    for phase in ["render", "base", "build", "export", "import"] {
        assert!(
            first.stderr.contains(&format!("envc: {phase} ")),
            "no `{phase}` phase line: {first}"
        );
    }
    let failures = probe(&store, "e2e:1", "1.16.0");
    assert!(
        failures.is_empty(),
        "e2e:1 differs from the spec:\n{}",
        failures.join("\n")
    );

    // The revision records what built it.
    let shown = run(envc()
        .args(["show", "e2e:1", "--format", "json", "--store"])
        .arg(&store))
    .ok()
    .json();
    let dockerfile = run(envc().arg("dockerfile").arg(&spec)).ok().stdout;
    let dockerfile_digest = format!("sha256:{}", sha256_hex(dockerfile.as_bytes()));
    let index = common::index_entries(&store, "e2e:1");
    let annotations = &index[0]["annotations"];
    assert_eq!(
        annotations["dev.envc.dockerfile.digest"],
        dockerfile_digest.as_str()
    );
    assert!(annotations["dev.envc.engine"]
        .as_str()
        .unwrap()
        .starts_with("podman "));
    assert!(annotations["org.opencontainers.image.base.digest"]
        .as_str()
        .unwrap()
        .starts_with("sha256:"));
    assert_eq!(shown["plan"]["base"]["reference"], BASE_IMAGE);
    // The log is kept.
    let log = run(envc().args(["logs", "e2e:1", "--store"]).arg(&store)).ok();
    assert!(log.stdout.contains("STEP 1/"), "{log}");

    // 2. Unchanged: printed as such, and no engine starts (none is on PATH).
    let mut c = envc();
    c.args(["build"])
        .arg(&spec)
        .args(["--name", "e2e", "--store"])
        .arg(&store)
        .env("PATH", "/nonexistent");
    let again = run(&mut c).ok();
    assert_eq!(
        again.stdout,
        format!("e2e:1 {} unchanged\n", line.digest),
        "{again}"
    );

    // Reproducible: a second build with every step run again (`--rebuild`: the engine's
    // `--no-cache`), same day, same package versions, gives the same image to the bit.
    let rebuilt = build(&store, &spec, "e2e", &["--rebuild"]).ok();
    assert_eq!(
        rebuilt.stdout,
        format!("e2e:1 {} unchanged\n", line.digest),
        "a --no-cache rebuild differs from the first build: {rebuilt}"
    );

    // 3. A changed pin is the next revision; diff names the pin and the changed layers.
    let pinned = common::write_spec(
        tmp.path(),
        "env.yaml",
        &spec_text().replace("six==1.16.0", "six==1.15.0"),
    );
    let second = build(&store, &pinned, "e2e", &[]).ok();
    assert_eq!(common::line_of(&second).reference(), "e2e:2", "{second}");
    let failures = probe(&store, "e2e:2", "1.15.0");
    assert!(
        failures.is_empty(),
        "e2e:2 differs from the spec:\n{}",
        failures.join("\n")
    );
    let diff = run(envc()
        .args(["diff", "e2e:1", "e2e:2", "--store"])
        .arg(&store))
    .no();
    assert!(diff.stdout.contains("six"), "diff names the pin: {diff}");
    assert!(diff.stdout.contains("1.15.0"), "{diff}");
    let (l1, l2) = (layers(&store, "e2e:1"), layers(&store, "e2e:2"));
    assert_eq!(l1.len(), l2.len());
    assert_eq!(l1[..3], l2[..3], "the base's layers are shared");
    assert_ne!(l1, l2);

    // 4. Rollback to the first revision gives its layers.
    let back = run(envc()
        .args(["rollback", "e2e", "--to", "1", "--store"])
        .arg(&store))
    .ok();
    assert!(back.stdout.starts_with("e2e:3 "), "{back}");
    assert_eq!(layers(&store, "e2e:3"), l1);
    assert_eq!(revisions(&store), ["e2e:1", "e2e:2", "e2e:3"]);
    assert_store_sound(&store);

    // 5. envc import: the engine's own export of the image, as podman wrote it.
    for format in ["oci-archive", "docker-archive"] {
        let archive = tmp.join(format!("{format}.tar"));
        let saved = run(engine::podman()
            .args(["save", "--format", format, "-o"])
            .arg(&archive)
            .arg("localhost/envc/e2e:latest"));
        assert_eq!(saved.code, Some(0), "{saved}");
        let name = format!("imported-{format}");
        let imported = run(envc()
            .args(["import", &name, "--spec"])
            .arg(&pinned)
            .arg("--image")
            .arg(format!("{format}:{}", archive.display()))
            .arg("--store")
            .arg(&store))
        .ok();
        assert!(
            imported.stdout.starts_with(&format!("{name}:1 sha256:")),
            "{imported}"
        );
        let shown = run(envc()
            .args(["show", &format!("{name}:1"), "--format", "json", "--store"])
            .arg(&store))
        .ok()
        .json();
        assert_eq!(shown["spec_digest"], shown["spec_digest"]);
        assert_eq!(shown["plan"]["base"]["reference"], BASE_IMAGE);
        let diff = run(envc()
            .args(["diff", "e2e:2", &format!("{name}:1"), "--store"])
            .arg(&store));
        assert!(diff.code == Some(0) || diff.code == Some(1), "{diff}");

        // A corrupted copy is refused and the store stays as it was.
        let before = fs::read(store.join("index.json")).unwrap();
        let corrupt = tmp.join(format!("corrupt-{format}.tar"));
        let mut bytes = fs::read(&archive).unwrap();
        let at = bytes.len() / 2;
        bytes[at] ^= 0xff;
        fs::write(&corrupt, &bytes).unwrap();
        let refused = run(envc()
            .args(["import", "corrupt", "--spec"])
            .arg(&pinned)
            .arg("--image")
            .arg(format!("{format}:{}", corrupt.display()))
            .arg("--store")
            .arg(&store))
        .no_panic();
        assert!(
            refused.code == Some(1) || refused.code == Some(2),
            "{refused}"
        );
        assert_eq!(fs::read(store.join("index.json")).unwrap(), before);
        let _ = fs::remove_file(&archive);
        let _ = fs::remove_file(&corrupt);
    }
    // An image on another base is refused unless --force.
    let other = tmp.join("debian.tar");
    run(engine::podman()
        .args(["save", "--format", "oci-archive", "-o"])
        .arg(&other)
        .arg("localhost/debian-base:bookworm"));
    let refused = run(envc()
        .args(["import", "other", "--spec"])
        .arg(&pinned)
        .arg("--image")
        .arg(format!("oci-archive:{}", other.display()))
        .arg("--store")
        .arg(&store))
    .no();
    assert!(
        refused.stderr.contains("not built on the spec's base"),
        "{refused}"
    );
    assert_store_sound(&store);
}

#[test]
fn buildah_builds_the_same_spec() {
    if !engine::available() {
        return;
    }
    if engine::find_tool("buildah").is_none() {
        if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
            panic!("buildah is required (ENVC_ENGINE_REQUIRED) but not installed");
        }
        eprintln!("skipping: buildah not found");
        return;
    }
    let _one = lock();
    engine::cache();
    let tmp = TempDir::new("engine-buildah");
    let store = tmp.join("store");
    let spec = common::write_spec(tmp.path(), "env.yaml", &spec_text());
    let built = build(&store, &spec, "viabuildah", &["--engine", "buildah"]).ok();
    assert_eq!(
        common::line_of(&built).reference(),
        "viabuildah:1",
        "{built}"
    );
    let index = common::index_entries(&store, "viabuildah:1");
    assert!(index[0]["annotations"]["dev.envc.engine"]
        .as_str()
        .unwrap()
        .starts_with("buildah "));
    let failures = probe(&store, "viabuildah:1", "1.16.0");
    assert!(
        failures.is_empty(),
        "differs from the spec:\n{}",
        failures.join("\n")
    );
}

/// A spec on the ray-like base whose post-build command is `cmd`.
fn spec_running(dir: &Path, file: &str, cmd: &str) -> PathBuf {
    common::write_spec(
        dir,
        file,
        &format!("base_image: {BASE_IMAGE}\npost_build_cmds:\n  - {cmd}\n"),
    )
}

#[test]
fn failures_leave_the_store_as_it_was_and_a_record_with_the_log() {
    if !engine::available() {
        return;
    }
    let _one = lock();
    engine::cache();
    let tmp = TempDir::new("engine-faults");
    let store = tmp.join("store");
    let ok = spec_running(tmp.path(), "ok.yaml", "echo fine > /tmp/fine");
    build(&store, &ok, "app", &[]).ok();
    let index_before = fs::read(store.join("index.json")).unwrap();
    let unchanged = || {
        assert_eq!(
            fs::read(store.join("index.json")).unwrap(),
            index_before,
            "the store's index changed"
        );
        assert_store_sound(&store);
        let leftovers: Vec<_> = fs::read_dir(store.join("envc/tmp"))
            .map(|d| d.flatten().map(|e| e.file_name()).collect())
            .unwrap_or_default();
        assert!(leftovers.is_empty(), "temp files left: {leftovers:?}");
    };

    // A Debian package that does not exist: apt's own error, exit 1, a failed record.
    let missing = common::write_spec(
        tmp.path(),
        "missing.yaml",
        &format!("base_image: {BASE_IMAGE}\ndebian_packages:\n  - envc-no-such-package\n"),
    );
    let failed = build(&store, &missing, "app", &[]).no();
    assert!(
        failed
            .stderr
            .contains("Unable to locate package envc-no-such-package"),
        "apt's error is shown: {failed}"
    );
    assert!(
        failed.stderr.contains("failed at `RUN apt-get update"),
        "{failed}"
    );
    assert!(failed.stderr.contains("envc logs app-"), "{failed}");
    unchanged();
    let all = list_json(&store, true);
    let builds = all["builds"].as_array().unwrap();
    let record = builds
        .iter()
        .find(|b| b["status"] == "failed")
        .expect("a failed build is recorded");
    assert!(record["failing_step"]
        .as_str()
        .unwrap()
        .starts_with("RUN apt-get update"));
    let id = record["id"].as_str().unwrap();
    let log = run(envc().args(["logs", id, "--store"]).arg(&store)).ok();
    assert!(log.stdout.contains("Unable to locate package"), "{log}");
    let table = run(envc().args(["list", "--all", "--store"]).arg(&store)).ok();
    assert!(
        table.stdout.contains(id) && table.stdout.contains("failed"),
        "{table}"
    );

    // An argument the engine rejects: its message, exit 1.
    let rejected = build(
        &store,
        &ok,
        "app",
        &["--rebuild", "--engine-arg=--no-such-flag"],
    )
    .no();
    assert!(rejected.stderr.contains("no-such-flag"), "{rejected}");
    unchanged();

    // The engine killed mid-build: exit 1, says so.
    // A step of its own each run: no engine cache can have it.
    let nonce = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let slow = spec_running(
        tmp.path(),
        "slow.yaml",
        &format!("'sleep 4321; true {nonce}'"),
    );
    let (killed, _) = run_then(&store, &slow, "app", |envc_pid| {
        // envc's child is the engine (nothing else on the machine is touched).
        let _ = Command::new("pkill")
            .args(["-KILL", "-P", &envc_pid.to_string()])
            .status();
    });
    assert_eq!(killed.code, Some(1), "{killed}");
    assert!(killed.stderr.contains("killed by signal 9"), "{killed}");
    // A killed engine cannot clean up after itself: its step may outlive it.
    let _ = Command::new("pkill")
        .args(["-KILL", "-f", "^sleep 4321$"])
        .status();
    unchanged();

    // Interrupted (SIGINT to envc, as Ctrl-C): the engine stops, exit 130, recorded.
    let (interrupted, took) = run_then(&store, &slow, "app", |pid| {
        let _ = Command::new("kill")
            .args(["-INT", &pid.to_string()])
            .status();
    });
    assert_eq!(interrupted.code, Some(130), "{interrupted}");
    assert!(
        took < Duration::from_secs(100),
        "stopped, not waited out: {took:?}"
    );
    unchanged();
    let all = list_json(&store, true);
    assert!(all["builds"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["status"] == "interrupted"));
    assert_engine_stopped(&store);

    // No engine on PATH: exit 2, the engines looked for and how to get one.
    let mut c = envc();
    c.arg("build")
        .arg(&slow)
        .args(["--name", "app", "--store"])
        .arg(&store)
        .env("PATH", "/nonexistent");
    let none = run(&mut c).code(2);
    assert!(
        none.stderr.contains("`podman`, `buildah`, `docker`")
            && none.stderr.contains("apt-get install podman"),
        "{none}"
    );
    unchanged();

    // A base that is nowhere: not in the store, not in the engine, not pullable.
    let nowhere = common::write_spec(
        tmp.path(),
        "nowhere.yaml",
        "base_image: localhost/anyscale/ray:9.9.9-py311\npost_build_cmds:\n  - ls\n",
    );
    let lost = build(&store, &nowhere, "app", &[]).no();
    assert!(lost.stderr.contains("cannot be found"), "{lost}");
    unchanged();
}

/// Whether an engine build of this test's store runs.
fn engine_running(store: &Path) -> bool {
    Command::new("pgrep")
        .args([
            "-f",
            &format!("build --format docker .*{}", store.display()),
        ])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The interrupted engine is gone: envc waited for it. Whether podman then stops the step's
/// own container is podman's cleanup, which a loaded machine can leave running, so a survivor
/// is reported and removed, not asserted on.
fn assert_engine_stopped(store: &Path) {
    assert!(!engine_running(store), "the interrupted engine still runs");
    if !wait_for(Duration::from_secs(15), || !sleeping()) {
        eprintln!("note: podman left the interrupted step running; removing it");
        let _ = Command::new("pkill")
            .args(["-KILL", "-f", "^sleep 4321$"])
            .status();
    }
}

/// Whether a build step's `sleep 4321` runs.
fn sleeping() -> bool {
    Command::new("pgrep")
        .args(["-f", "^sleep 4321$"])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn wait_for(limit: Duration, what: impl Fn() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if what() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}

/// Starts a build (`--rebuild`), waits until the engine runs its step, calls `act(envc's pid)`, and waits.
fn run_then(store: &Path, spec: &Path, name: &str, act: impl FnOnce(u32)) -> (Run, Duration) {
    let mut c = envc_engine();
    c.arg("build")
        .arg(spec)
        .args(["--name", name, "--rebuild", "--store"])
        .arg(store)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let started = Instant::now();
    let child = c.spawn().expect("spawn envc");
    let pid = child.id();
    // The step is running once its `sleep` is.
    assert!(
        wait_for(Duration::from_secs(120), sleeping),
        "the build's step never started"
    );
    act(pid);
    let out = child.wait_with_output().expect("wait for envc");
    (
        common::from_output(format!("envc build {}", spec.display()), out),
        started.elapsed(),
    )
}

#[test]
fn two_builds_of_one_name_at_once_are_both_recorded() {
    if !engine::available() {
        return;
    }
    let _one = lock();
    engine::cache();
    let tmp = TempDir::new("engine-concurrent");
    let store = tmp.join("store");
    let a = spec_running(tmp.path(), "a.yaml", "echo a > /tmp/a");
    let b = spec_running(tmp.path(), "b.yaml", "echo b > /tmp/b");
    // The store (and its base) exists first, so the two race only for the revision number.
    build(&store, &a, "warmup", &[]).ok();
    let (ra, rb) = std::thread::scope(|s| {
        let ta = s.spawn(|| build(&store, &a, "shared", &[]));
        let tb = s.spawn(|| build(&store, &b, "shared", &[]));
        (ta.join().unwrap(), tb.join().unwrap())
    });
    let (la, lb) = (common::line_of(&ra.ok()), common::line_of(&rb.ok()));
    let mut refs = vec![la.reference(), lb.reference()];
    refs.sort();
    assert_eq!(refs, ["shared:1", "shared:2"]);
    assert_ne!(la.digest, lb.digest);
    assert_store_sound(&store);

    // Many specs at once: named by stem, two jobs, one summary, exit 1 if any failed.
    let bad = common::write_spec(
        tmp.path(),
        "bad.yaml",
        &format!("base_image: {BASE_IMAGE}\npost_build_cmds:\n  - exit 3\n"),
    );
    let mut c = envc_engine();
    c.arg("build")
        .args([&a, &b, &bad])
        .args(["--jobs", "2", "--store"])
        .arg(&store);
    for arg in engine::build_args(&tmp.join("work")) {
        c.arg(format!("--engine-arg={arg}"));
    }
    let many = run(&mut c).no();
    assert!(many.stdout.contains("a:1 sha256:"), "{many}");
    assert!(many.stdout.contains("b:1 sha256:"), "{many}");
    for row in ["NAME", "built", "failed at RUN exit 3"] {
        assert!(many.stderr.contains(row), "summary lacks {row}: {many}");
    }
    assert!(
        many.stderr.contains("[a  ]   │ STEP") || many.stderr.contains("[a]"),
        "{many}"
    );
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A docker daemon of the test's own (vfs storage, no bridge, no iptables: what this sandbox
/// allows), stopped on drop.
struct Dockerd {
    child: std::process::Child,
    socket: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Result<Dockerd, String> {
        let dockerd = engine::find_tool("dockerd").ok_or("dockerd not found")?;
        let socket = dir.join("docker.sock");
        let log = fs::File::create(dir.join("dockerd.log")).map_err(|e| e.to_string())?;
        let child = Command::new(dockerd)
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("--host")
            .arg(format!("unix://{}", socket.display()))
            .args([
                "--storage-driver",
                "vfs",
                "--iptables=false",
                "--bridge=none",
            ])
            .env("PATH", engine::path_with_sbin())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .spawn()
            .map_err(|e| format!("cannot start dockerd: {e}"))?;
        let d = Dockerd { child, socket };
        if !wait_for(Duration::from_secs(30), || {
            d.docker()
                .arg("info")
                .output()
                .is_ok_and(|o| o.status.success())
        }) {
            let log = fs::read_to_string(dir.join("dockerd.log")).unwrap_or_default();
            return Err(format!("dockerd did not answer within 30 s:\n{log}"));
        }
        Ok(d)
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn docker(&self) -> Command {
        let mut c = Command::new("docker");
        c.env("DOCKER_HOST", self.host());
        c
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        // dockerd leaves its network namespace mounted under its exec root; unmounted, the
        // daemon's directory (1 GB of vfs layers) can go.
        let dir = self.socket.parent().unwrap_or(Path::new("/nonexistent"));
        let mounts = fs::read_to_string("/proc/mounts").unwrap_or_default();
        for point in mounts.lines().filter_map(|l| l.split(' ').nth(1)) {
            if Path::new(point).starts_with(dir) {
                let _ = Command::new("umount").args(["-l", point]).status();
            }
        }
        let _ = fs::remove_dir_all(dir);
    }
}

#[test]
fn docker_builds_a_spec_when_its_daemon_runs() {
    if !engine::available() {
        return;
    }
    let required = std::env::var_os("ENVC_ENGINE_REQUIRED").is_some();
    if engine::find_tool("dockerd").is_none() || engine::find_tool("docker").is_none() {
        assert!(
            !required,
            "docker is required (ENVC_ENGINE_REQUIRED) but not installed"
        );
        eprintln!("skipping: docker or dockerd not found");
        return;
    }
    let _one = lock();
    engine::cache();
    let tmp = TempDir::new("engine-docker");
    // The daemon's socket path must stay short (108 bytes on Linux).
    let daemon_dir = PathBuf::from(format!("/tmp/envc-dockerd-{}", std::process::id()));
    let _ = fs::remove_dir_all(&daemon_dir);
    fs::create_dir_all(&daemon_dir).unwrap();
    let dockerd = match Dockerd::start(&daemon_dir) {
        Ok(d) => d,
        Err(reason) => {
            assert!(
                !required,
                "docker is required (ENVC_ENGINE_REQUIRED) but {reason}"
            );
            eprintln!("skipping: {reason}");
            return;
        }
    };
    let store = tmp.join("store");
    // The base comes from the store (docker has never seen it): envc loads it into docker.
    let base = tmp.join("base.tar");
    let saved = run(engine::podman()
        .args(["save", "--format", "docker-archive", "-o"])
        .arg(&base)
        .arg(BASE_IMAGE));
    assert_eq!(saved.code, Some(0), "{saved}");
    let spec = common::write_spec(
        tmp.path(),
        "env.yaml",
        &format!(
            "base_image: {BASE_IMAGE}\nenv_vars:\n  GREETING: hello from docker\npost_build_cmds:\n  \
             - echo \"$GREETING\" > $HOME/envc-marker\n"
        ),
    );
    let mut c = envc();
    c.arg("build")
        .arg(&spec)
        .args(["--name", "viadocker", "--engine", "docker", "--store"])
        .arg(&store)
        .arg(format!("--base=docker-archive:{}", base.display()))
        .arg("--engine-arg=--network=host")
        .env("DOCKER_HOST", dockerd.host())
        .env("PATH", engine::path_with_sbin());
    let built = run(&mut c).ok();
    assert_eq!(
        common::line_of(&built).reference(),
        "viadocker:1",
        "{built}"
    );
    let index = common::index_entries(&store, "viadocker:1");
    assert!(index[0]["annotations"]["dev.envc.engine"]
        .as_str()
        .unwrap()
        .starts_with("docker "));
    // The revision runs (in podman) with what the spec asked for.
    let archive = tmp.join("viadocker.tar");
    run(envc()
        .args(["export", "viadocker:1", "--format", "oci-archive", "-o"])
        .arg(&archive)
        .arg("--store")
        .arg(&store))
    .ok();
    let loaded = run(engine::podman().arg("load").arg("-i").arg(&archive));
    assert_eq!(loaded.code, Some(0), "{loaded}");
    let out = run(engine::podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        "localhost/viadocker:1",
        "bash",
        "-c",
        "cat $HOME/envc-marker; id -u",
    ]));
    assert_eq!(out.stdout, "hello from docker\n1000\n", "{out}");
    assert_store_sound(&store);
    drop(dockerd);
    assert!(
        !daemon_dir.exists(),
        "the test's dockerd left {}",
        daemon_dir.display()
    );
}

/// A POST to `envc serve`: status and JSON body.
fn post_spec(server: &common::serve::Server, name: &str, spec: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut r = agent
        .post(server.url(&format!("/v1/builds?name={name}")))
        .header("content-type", "application/yaml")
        .send(spec)
        .expect("POST /v1/builds");
    let body = r.body_mut().read_to_string().unwrap();
    (r.status().as_u16(), serde_json::from_str(&body).unwrap())
}

fn build_state(server: &common::serve::Server, id: &str) -> Value {
    let mut r = ureq::get(server.url(&format!("/v1/builds/{id}")))
        .call()
        .expect("GET /v1/builds/ID");
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

/// `envc serve` runs a posted spec through the engine bridge to a revision; SIGTERM while a
/// build runs gives it the grace period, then stops it: the build fails, the store records it
/// as interrupted, no revision is added, and the server exits 0.
#[test]
fn serve_builds_through_the_engine_and_sigterm_stops_a_running_build() {
    if !engine::available() {
        return;
    }
    let _one = lock();
    let dir = TempDir::new("engine-serve");
    let store = dir.join("store");
    let mut cmd = envc_engine();
    cmd.args(["serve", "--engine", "podman", "--grace", "2", "--store"])
        .arg(&store);
    for a in engine::build_args(&store.with_extension("work")) {
        cmd.arg(format!("--engine-arg={a}"));
    }
    let server = common::serve::Server::spawn(cmd);

    let spec =
        format!("base_image: {BASE_IMAGE}\npost_build_cmds:\n  - echo served > /tmp/served\n");
    let (status, accepted) = post_spec(&server, "served", &spec);
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    let mut seen = vec![accepted["status"].as_str().unwrap().to_string()];
    let deadline = Instant::now() + Duration::from_secs(600);
    let done = loop {
        let b = build_state(&server, &id);
        let s = b["status"].as_str().unwrap().to_string();
        if seen.last() != Some(&s) {
            seen.push(s.clone());
        }
        if s == "succeeded" || s == "failed" {
            break b;
        }
        assert!(Instant::now() < deadline, "the build did not end: {b}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!(done["revision"], "served:1");
    assert!(seen.contains(&"in_progress".to_string()), "{seen:?}");
    assert_eq!(revisions(&store), vec!["served:1".to_string()]);

    let (status, accepted) = post_spec(
        &server,
        "served",
        &format!("base_image: {BASE_IMAGE}\npost_build_cmds:\n  - sleep 4321\n"),
    );
    assert_eq!(status, 202, "{accepted}");
    let id = accepted["id"].as_str().unwrap().to_string();
    assert!(
        wait_for(Duration::from_secs(300), sleeping),
        "the step never started"
    );
    let started = Instant::now();
    let (code, log) = server.stop();
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("grace period is over"), "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(120),
        "shutdown took {:?}",
        started.elapsed()
    );
    assert_engine_stopped(&store);
    assert_eq!(revisions(&store), vec!["served:1".to_string()]);
    let builds = list_json(&store, true)["builds"].clone();
    assert!(
        builds
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["status"] == "interrupted"),
        "{builds} (server build {id})"
    );
    assert_store_sound(&store);
}

/// SIGKILL of `envc build` at points spread over an engine build (tests/kill.rs has the
/// engine-less writers): the store verifies after each, keeps every revision it had, and takes
/// the same build to its end afterwards; `gc` then leaves no temp file. The engine the killed
/// envc started is stopped before the next run (nothing can clean up after a SIGKILL of its
/// parent; envc's SIGINT/SIGTERM handling is tested above). `ENVC_KILLS / 20` kills (at
/// least 4).
#[test]
fn sigkill_during_engine_builds_leaves_the_store_sound() {
    if !engine::available() {
        return;
    }
    let _one = lock();
    engine::cache();
    let tmp = TempDir::new("engine-kill");
    let store = tmp.join("store");
    let first = spec_running(tmp.path(), "first.yaml", "echo first > /tmp/first");
    build(&store, &first, "killed", &[]).ok();
    let kills: u32 = std::env::var("ENVC_KILLS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(4, |k| (k / 20).max(4));
    let stop_engine = || {
        let _ = Command::new("pkill")
            .args([
                "-KILL",
                "-f",
                &format!("build --format docker .*{}", store.display()),
            ])
            .status();
        assert!(wait_for(Duration::from_secs(30), || !engine_running(
            &store
        )));
    };
    // How long a build of a new spec takes here: the kills are spread over it.
    let started = Instant::now();
    build(
        &store,
        &spec_running(tmp.path(), "calibrate.yaml", "echo c > /tmp/c"),
        "killed",
        &[],
    )
    .ok();
    let full = started.elapsed();
    let mut cut = 0;
    for i in 0..kills {
        let spec = spec_running(
            tmp.path(),
            &format!("k{i}.yaml"),
            &format!("echo {i} > /tmp/k"),
        );
        let before = revisions(&store);
        let mut child = build_command(&store, &spec, "killed")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn envc");
        let delay = full.mul_f64(f64::from((i * 37 + 13) % 100) / 100.0);
        if !wait_for_exit(&mut child, delay) {
            cut += 1;
            let _ = child.kill();
        }
        let _ = child.wait();
        stop_engine();
        assert_store_sound(&store);
        let after = revisions(&store);
        assert_eq!(
            after[..before.len()],
            before[..],
            "kill #{i} after {delay:?} lost a revision"
        );
    }
    build(&store, &first, "killed", &[]).ok();
    run(envc().arg("gc").arg("--store").arg(&store)).ok();
    assert_store_sound(&store);
    let left = fs::read_dir(store.join("envc/tmp")).map_or(0, |d| d.count());
    assert_eq!(left, 0, "gc leaves no temp file");
    eprintln!("engine kills: {kills} runs, {cut} cut short, 0 failed verifies");
}

/// Waits up to `limit` for `child` to exit by itself; whether it did.
fn wait_for_exit(child: &mut std::process::Child, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if child.try_wait().expect("try_wait").is_some() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    false
}
