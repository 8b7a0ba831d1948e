//! Same input, same bytes: every fixture and every case input that compiles (the case
//! directories under `tests/cases/` whose `expected.exit` is 0) is compiled in two separate
//! processes that differ in working directory, input path and mtime, `TZ`, umask and locale, and
//! the outputs (Dockerfile in each mode, canonical plan, digest) must be byte-identical.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

/// `fixtures/*.yaml`, then the compiling case inputs (a case's `env.yaml` may be a symlink to
/// a fixture; each file is compiled once).
fn specs() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut v: Vec<PathBuf> = std::fs::read_dir(root.join("fixtures"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    v.sort();
    let mut seen: BTreeSet<PathBuf> = v.iter().map(|p| p.canonicalize().unwrap()).collect();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(root.join("tests/cases"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|d| {
            d.join("env.yaml").exists()
                && std::fs::read_to_string(d.join("expected.exit")).is_ok_and(|c| c == "0\n")
        })
        .map(|d| d.join("env.yaml"))
        .collect();
    cases.sort();
    for spec in cases {
        if seen.insert(spec.canonicalize().unwrap()) {
            v.push(spec);
        }
    }
    v
}

struct World {
    dir: PathBuf,
    tz: &'static str,
    umask: &'static str,
    lang: &'static str,
    mtime: &'static str,
}

/// Runs `envc ARGS SPEC` inside a shell that sets the umask, from `world.dir`, on a copy of the
/// spec whose mtime is set to `world.mtime`; returns stdout.
fn run_in(world: &World, args: &[&str], spec: &Path) -> Vec<u8> {
    // Case inputs are all called `env.yaml`; one at a time, so the copy is always fresh.
    let copy = world.dir.join(spec.file_name().unwrap());
    std::fs::copy(spec, &copy).unwrap();
    let status = Command::new("touch")
        .args(["-d", world.mtime])
        .arg(&copy)
        .status();
    assert!(status.is_ok_and(|s| s.success()), "touch failed");
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("umask {}; exec \"$0\" \"$@\"", world.umask))
        .arg(env!("CARGO_BIN_EXE_envc"))
        .args(args)
        .arg(copy.file_name().unwrap())
        .current_dir(&world.dir)
        .env("TZ", world.tz)
        .env("LANG", world.lang)
        .env("LC_ALL", world.lang)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[test]
fn outputs_are_identical_across_processes_and_environments() {
    let base = std::env::temp_dir().join(format!("envc-determinism-{}", std::process::id()));
    let a = World {
        dir: base.join("a"),
        tz: "UTC",
        umask: "022",
        lang: "C",
        mtime: "2001-01-01 00:00:00",
    };
    let b = World {
        dir: base.join("deeper/b with space"),
        tz: "Pacific/Kiritimati",
        umask: "077",
        lang: "C.UTF-8",
        mtime: "2030-06-15 12:34:56",
    };
    for w in [&a, &b] {
        std::fs::create_dir_all(&w.dir).unwrap();
    }
    let modes: [&[&str]; 5] = [
        &["dockerfile"],
        &["dockerfile", "--heredoc"],
        &["dockerfile", "--cache-mounts"],
        &["plan"],
        &["plan", "--digest"],
    ];
    let mut compared = 0;
    for spec in specs() {
        for args in modes {
            let x = run_in(&a, args, &spec);
            let y = run_in(&b, args, &spec);
            assert!(!x.is_empty());
            assert_eq!(
                String::from_utf8_lossy(&x),
                String::from_utf8_lossy(&y),
                "{} {:?} differs between environments",
                spec.display(),
                args
            );
            compared += 1;
        }
    }
    // 12 fixtures and 30 rendering hostile cases, five modes each.
    assert!(compared >= 210, "compared only {compared} outputs");
    let _ = std::fs::remove_dir_all(&base);
}
