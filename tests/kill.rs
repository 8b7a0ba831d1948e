//! The kill harness: SIGKILL at seeded random points of every command that writes a store —
//! engine-less builds (with and without a base import), `import`, `bake`, `rollback`, `push`,
//! `pull` and `gc` — with `envc verify` and the store's invariants checked after every kill;
//! then the same commands in parallel against one store, killed at random too.
//!
//! Invariants, after each kill: `verify` passes; every revision a command printed is still
//! there with its digest, numbered without gaps; every file under `blobs/sha256` is named for
//! its bytes (no partial blob under a digest name). At the end, `gc` leaves no temp file and
//! no unreachable blob, and removes nothing reachable.
//!
//! `ENVC_KILLS` sets the number of kills of the serial part (default 40, what `.ci/run`
//! runs; `ENVC_KILLS=300` for the record in SECURITY.md), `ENVC_KILL_SEED` the seed. The
//! base needs busybox (`busybox-static`); the push and pull kills need `docker-registry`.

mod common;

use common::registry::{registry_available, Registry};
use common::*;
use sha2::{Digest as _, Sha256};
use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::thread;
use std::time::{Duration, Instant};

/// A small deterministic generator (splitmix64): the schedule is a function of the seed, so a
/// failure is replayed with the `ENVC_KILL_SEED` it printed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// envc with no credentials or proxies from the machine.
fn cli(home: &Path) -> Command {
    let mut c = envc();
    c.env("HOME", home)
        .env("DOCKER_CONFIG", home.join(".docker"));
    for var in ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"] {
        c.env_remove(var).env_remove(var.to_ascii_lowercase());
    }
    c
}

/// Runs `cmd`, sends SIGKILL after `delay` if it is still running; returns its stdout and,
/// when it ended by itself before the kill, how long it took.
fn kill_after(mut cmd: Command, delay: Duration) -> (String, Option<Duration>) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn envc");
    let start = Instant::now();
    let mut ended = None;
    while start.elapsed() < delay {
        if child.try_wait().expect("try_wait").is_some() {
            ended = Some(start.elapsed());
            break;
        }
        thread::sleep(Duration::from_millis(1).min(delay - start.elapsed().min(delay)));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for envc");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "envc panicked: {stderr}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), ended)
}

/// What the store must still hold: every revision a command reported, by `NAME:REV`.
#[derive(Default)]
struct Expected {
    revisions: BTreeMap<(String, u32), String>,
}

impl Expected {
    /// Records the `NAME:REV sha256:…` lines a command printed before it died.
    fn note(&mut self, stdout: &str) {
        for line in stdout.lines() {
            // `push` prints `HOST/REPO:TAG sha256:…`: a registry's, not the store's.
            if let Some(l) = parse_line(line).filter(|l| !l.name.contains('/')) {
                let key = (l.name.clone(), l.rev);
                if let Some(prev) = self.revisions.insert(key, l.digest.clone()) {
                    assert_eq!(prev, l.digest, "revision {}:{} changed", l.name, l.rev);
                }
            }
        }
    }
}

fn revisions(home: &Path, store: &Path, name: &str) -> BTreeMap<u32, String> {
    let r = run(cli(home)
        .args(["list", name, "--format", "json", "--store"])
        .arg(store));
    if r.code != Some(0) {
        return BTreeMap::new();
    }
    let mut map = BTreeMap::new();
    for item in r.json().as_array().expect("list JSON is an array") {
        let rev = item["revision"].as_u64().expect("revision") as u32;
        let manifest = item["manifest"].as_str().expect("manifest").to_string();
        assert!(
            map.insert(rev, manifest).is_none(),
            "{name}:{rev} listed twice"
        );
    }
    map
}

/// Every blob is named for its bytes: a blob under its digest name is whole.
fn blobs_are_whole(store: &Path) -> Result<(), String> {
    let Ok(dir) = fs::read_dir(store.join("blobs/sha256")) else {
        return Ok(());
    };
    for e in dir {
        let e = e.map_err(|e| e.to_string())?;
        let bytes = fs::read(e.path()).map_err(|err| format!("{}: {err}", e.path().display()))?;
        let name = e.file_name().to_string_lossy().into_owned();
        if format!("{:x}", Sha256::digest(&bytes)) != name {
            return Err(format!("blob {name} does not hold its digest's bytes"));
        }
    }
    Ok(())
}

/// `verify`, the revisions, and the blobs: what must hold after any kill.
fn check(home: &Path, store: &Path, expected: &Expected, what: &str) {
    if !store.join("index.json").exists() {
        assert!(
            expected.revisions.is_empty(),
            "{what}: the store lost its index"
        );
        return;
    }
    let v = run(cli(home).arg("verify").arg("--store").arg(store));
    assert_eq!(v.code, Some(0), "verify after {what}: {v}");
    blobs_are_whole(store).unwrap_or_else(|e| panic!("after {what}: {e}"));
    let names: BTreeSet<&str> = expected.revisions.keys().map(|(n, _)| n.as_str()).collect();
    for name in names {
        let revs = revisions(home, store, name);
        let max = revs.keys().max().copied().unwrap_or(0);
        assert_eq!(
            revs.keys().copied().collect::<Vec<_>>(),
            (1..=max).collect::<Vec<_>>(),
            "after {what}: {name}'s revisions have a gap"
        );
        for ((n, rev), digest) in &expected.revisions {
            if n == name {
                assert_eq!(
                    revs.get(rev),
                    Some(digest),
                    "after {what}: {n}:{rev} was lost"
                );
            }
        }
    }
}

/// After `gc`: no temp file, every blob reachable, every reachable blob present.
fn check_after_gc(home: &Path, store: &Path, expected: &Expected) {
    run(cli(home).arg("gc").arg("--store").arg(store)).ok();
    check(home, store, expected, "gc");
    let tmp = store.join("envc/tmp");
    let left: Vec<_> = fs::read_dir(&tmp)
        .map(|d| d.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "gc left temp files: {left:?}");
    let present = blob_names(store);
    let reachable = reachable_blobs(store);
    assert_eq!(
        present.difference(&reachable).collect::<Vec<_>>(),
        Vec::<&String>::new(),
        "gc left unreachable blobs"
    );
    assert!(reachable.is_subset(&present), "gc removed reachable blobs");
}

/// Everything the commands need, made once.
struct World {
    tmp: TempDir,
    home: PathBuf,
    small: PathBuf,
    big: PathBuf,
    registry: Option<Registry>,
    /// The repository (under the registry) pushes go to and pulls come from.
    repo: &'static str,
}

impl World {
    fn new(repo: &'static str) -> Option<World> {
        let bases = busybox_base(None).and_then(|s| Ok((s, busybox_base(Some(16))?)));
        let (small, big) = match bases {
            Ok(b) => b,
            Err(reason) => {
                if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
                    panic!("the kill harness is required (ENVC_ENGINE_REQUIRED) but {reason}");
                }
                eprintln!("skipping the kill harness: {reason}");
                return None;
            }
        };
        let tmp = TempDir::new("kill");
        let home = tmp.join("home");
        fs::create_dir_all(&home).unwrap();
        let working_dir = tmp.join("app");
        fs::create_dir_all(working_dir.join("pkg")).unwrap();
        for i in 0..200 {
            fs::write(
                working_dir.join(format!("pkg/m{i}.py")),
                format!("X = {i}\n").repeat(200),
            )
            .unwrap();
        }
        fs::write(
            tmp.join("runtime_env.yaml"),
            format!(
                "working_dir: {}\nenv_vars:\n  K: v\n",
                working_dir.display()
            ),
        )
        .unwrap();
        let registry = if registry_available() {
            Some(Registry::start())
        } else if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
            panic!("the kill harness needs docker-registry in CI");
        } else {
            eprintln!("kill harness: no docker-registry, so no push or pull kills");
            None
        };
        Some(World {
            tmp,
            home,
            small,
            big,
            registry,
            repo,
        })
    }

    fn spec(&self, tag: &str) -> PathBuf {
        write_spec(
            self.tmp.path(),
            &format!("{tag}.yaml"),
            &byod_spec(&[("RUN_ID", &format!("\"{tag}\""))]),
        )
    }

    /// Builds `k` on the small base into `store` to its end (revision 1 of a new store), so
    /// every command has something to work on; returns what it printed.
    fn first_build(&self, store: &Path, tag: &str) -> String {
        run(cli(&self.home)
            .arg("build")
            .arg(self.spec(tag))
            .args(["--name", "k", "--base", &self.base_arg(false), "--store"])
            .arg(store))
        .ok()
        .stdout
    }

    fn base_arg(&self, big: bool) -> String {
        format!("{}:1", if big { &self.big } else { &self.small }.display())
    }

    /// One writing command against `store`, chosen by `kind`.
    fn command(&self, kind: u64, store: &Path, tag: &str, expected: &Expected) -> Command {
        let mut c = cli(&self.home);
        let revs: Vec<u32> = expected
            .revisions
            .keys()
            .filter(|(n, _)| n == "k")
            .map(|(_, r)| *r)
            .collect();
        let repo = self
            .registry
            .as_ref()
            .map(|r| format!("{}/{}", r.addr, self.repo));
        match kind {
            // A build into the store (its base already there, or imported now).
            0 | 1 => {
                c.arg("build")
                    .arg(self.spec(tag))
                    .args(["--name", "k", "--compression", "gzip"]);
                if kind == 1 {
                    c.args(["--base", &self.base_arg(tag.len().is_multiple_of(2))]);
                }
            }
            2 if !revs.is_empty() => {
                let to = revs[tag.len() % revs.len()];
                c.args(["rollback", "k", "--to", &to.to_string()]);
            }
            3 if !revs.is_empty() => {
                c.args(["bake"])
                    .arg(self.tmp.join("runtime_env.yaml"))
                    .args(["--name", "baked", "--from", &format!("k:{}", revs[0])]);
            }
            4 if !revs.is_empty() => {
                // An image built elsewhere: an exported revision, recorded again.
                let archive = self.tmp.join("exported.tar");
                if !archive.exists() {
                    run(cli(&self.home)
                        .args([
                            "export",
                            &format!("k:{}", revs[0]),
                            "--format",
                            "oci-archive",
                        ])
                        .arg("-o")
                        .arg(&archive)
                        .arg("--store")
                        .arg(store))
                    .ok();
                }
                c.args(["import", "imported", "--spec"])
                    .arg(self.spec("0"))
                    .arg("--image")
                    .arg(format!("oci-archive:{}", archive.display()));
            }
            5 if repo.is_some() && !revs.is_empty() => {
                c.args(["push", "k", repo.as_deref().unwrap()]);
            }
            6 if repo.is_some() => {
                c.args(["pull", "k", "--from", repo.as_deref().unwrap()]);
            }
            7 => {
                c.arg("gc");
            }
            _ => return self.command(0, store, tag, expected),
        }
        c.arg("--store").arg(store);
        c
    }
}

#[test]
fn sigkill_every_writer_at_random_points() {
    let Some(w) = World::new("envc/kill") else {
        return;
    };
    let kills = env_number("ENVC_KILLS", 40);
    let seed = env_number("ENVC_KILL_SEED", 0x5eed);
    eprintln!("kill harness: {kills} kills, ENVC_KILL_SEED={seed}");
    let mut rng = Rng(seed);
    let started = Instant::now();
    let store = w.tmp.join("store");
    let pulled = w.tmp.join("pulled");
    let mut expected = Expected::default();
    let mut pulled_expected = Expected::default();
    expected.note(&w.first_build(&store, "first"));
    // Kills that cut a command short, by kind; and commands that ended before their kill.
    let mut by_kind = BTreeMap::<u64, u32>::new();
    let mut finished = 0;
    // Runs given a kill point inside their kind's last measured run time.
    let mut aimed = 0u32;
    // How long each kind took when it ran to its end, the last time it did.
    let mut took = BTreeMap::<u64, Duration>::new();
    for i in 0..kills {
        let kind = rng.below(8);
        // A point inside the command's run: uniform up to how long this kind last took when
        // it was not killed (a small build takes tens of ms, a big base import hundreds).
        // One run in four goes to its end: that measures the kind and lets history grow.
        let delay = match took.get(&kind) {
            Some(span) if rng.below(4) != 0 => {
                aimed += 1;
                Duration::from_micros(rng.below(span.as_micros() as u64 + 1))
            }
            _ => Duration::from_secs(120),
        };
        let pull = kind == 6;
        let target = if pull { &pulled } else { &store };
        let cmd = w.command(kind, target, &format!("r{i}"), &expected);
        let what = format!("kill #{i} ({cmd:?}) after {delay:?}, ENVC_KILL_SEED={seed}");
        let (stdout, ended) = kill_after(cmd, delay);
        match ended {
            None => *by_kind.entry(kind).or_default() += 1,
            Some(t) => {
                finished += 1;
                took.insert(kind, t);
            }
        }
        if pull {
            pulled_expected.note(&stdout);
            check(&w.home, &pulled, &pulled_expected, &what);
        } else {
            expected.note(&stdout);
            check(&w.home, &store, &expected, &what);
        }
    }
    check_after_gc(&w.home, &store, &expected);
    if pulled.join("index.json").exists() {
        check_after_gc(&w.home, &pulled, &pulled_expected);
    }
    // The store still takes a build after all that.
    let after = run(cli(&w.home)
        .arg("build")
        .arg(w.spec("after"))
        .args(["--name", "k", "--store"])
        .arg(&store))
    .ok();
    expected.note(&after.stdout);
    check(&w.home, &store, &expected, "the build after the kills");
    let cut: u32 = by_kind.values().sum();
    eprintln!(
        "kill harness: {kills} runs in {:.1?}: {cut} killed mid-run (by kind {by_kind:?}: \
         0/1 build, 2 rollback, 3 bake, 4 import, 5 push, 6 pull, 7 gc) of {aimed} aimed \
         inside a measured run, {finished} ended first; {} revisions kept, 0 failed verifies",
        started.elapsed(),
        expected.revisions.len()
    );
    // The runs left to their end (the first of each kind, and one in four) measure and grow
    // history; of the others, a command may end early when it runs faster than last time, but
    // most must be cut, or the harness is not testing interruption at all.
    assert!(
        cut * 2 >= aimed,
        "most runs aimed inside a measured run must be cut short by their kill: {cut} of {aimed}"
    );
}

/// Builds, rollbacks, pulls and gc at once against one store, some of them killed.
#[test]
fn parallel_writers_and_kills_against_one_store() {
    let Some(w) = World::new("envc/par") else {
        return;
    };
    let seed = env_number("ENVC_KILL_SEED", 0x5eed);
    let store = w.tmp.join("shared");
    let expected = Mutex::new(Expected::default());
    expected
        .lock()
        .unwrap()
        .note(&w.first_build(&store, "p-first"));
    if let Some(repo) = w
        .registry
        .as_ref()
        .map(|r| format!("{}/{}", r.addr, w.repo))
    {
        run(cli(&w.home)
            .args(["push", "k", &repo, "--store"])
            .arg(&store))
        .ok();
    }
    let rounds = env_number("ENVC_KILL_ROUNDS", 3);
    for round in 0..rounds {
        thread::scope(|s| {
            for worker in 0..4u64 {
                let (w, store, expected) = (&w, &store, &expected);
                s.spawn(move || {
                    let mut rng = Rng(seed ^ (round << 8) ^ worker);
                    for j in 0..3 {
                        // Workers 0 and 1 build, 2 rolls back and pulls, 3 runs gc.
                        let kind = match worker {
                            0 | 1 => rng.below(2),
                            2 => [2, 6][j % 2],
                            _ => 7,
                        };
                        let cmd = {
                            let e = expected.lock().unwrap();
                            w.command(kind, store, &format!("p{round}-{worker}-{j}"), &e)
                        };
                        // Half are killed, half run to the end.
                        let delay = if rng.below(2) == 0 {
                            Duration::from_micros(rng.below(300_000))
                        } else {
                            Duration::from_secs(60)
                        };
                        let (stdout, _) = kill_after(cmd, delay);
                        expected.lock().unwrap().note(&stdout);
                    }
                });
            }
        });
        let e = expected.lock().unwrap();
        check(&w.home, &store, &e, &format!("parallel round {round}"));
    }
    let e = expected.into_inner().unwrap();
    check_after_gc(&w.home, &store, &e);
}
