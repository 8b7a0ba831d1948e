//! Hermetic package layers, end to end on the ray-like Debian bookworm base
//! (`tests/common/engine.rs`): `envc lock` resolves `fixtures/e2e/hermetic.yaml` (jq, curl, a
//! native wheel and a pure one) against the base's own signed apt sources and PyPI, `envc build
//! --lock` installs them with no engine, and the exported image, run by podman, has them at the
//! locked versions, known to dpkg, apt and pip. The same lock built into a second store in
//! another directory, umask and TZ, with the network cut (`--offline`, cache only), gives the
//! same manifest. The same spec through the Dockerfile and podman installs the same versions.
//! Post-build commands run through the engine on top of the hermetic layers.
//!
//! Needs root, podman, runc, debootstrap, uv and the network (Debian's archive, PyPI); skipped
//! with the reason otherwise, unless `ENVC_ENGINE_REQUIRED` is set (CI).

mod common;

use common::engine::{self, BASE_IMAGE};
use common::{envc, run, Run, TempDir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

static ONE_ENGINE_AT_A_TIME: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    ONE_ENGINE_AT_A_TIME
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

fn available() -> bool {
    if !engine::available() {
        return false;
    }
    if common::have("uv") {
        return true;
    }
    let reason = "uv not found (pip install uv==0.13.9)";
    if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
        panic!("hermetic test required (ENVC_ENGINE_REQUIRED) but {reason}");
    }
    eprintln!("skipping hermetic test: {reason}");
    false
}

fn envc_engine() -> Command {
    let mut c = envc();
    engine::engine_env(&mut c);
    c
}

/// The ray-like base as an oci-archive, saved from podman once per test process.
fn base_archive() -> &'static Path {
    static ARCHIVE: OnceLock<PathBuf> = OnceLock::new();
    ARCHIVE.get_or_init(|| {
        let path = engine::cache().join("ray-base.oci.tar");
        let _ = fs::remove_file(&path);
        run(engine::podman()
            .args(["save", "--format", "oci-archive", "-o"])
            .arg(&path)
            .arg(BASE_IMAGE))
        .ok();
        path
    })
}

fn base_arg() -> String {
    format!("oci-archive:{}", base_archive().display())
}

fn spec(name: &str) -> PathBuf {
    common::root().join("fixtures/e2e").join(name)
}

/// `envc lock SPEC` into `out`, with `cache`.
fn envc_lock(spec: &Path, out: &Path, cache: &Path, store: &Path) -> Run {
    run(envc_engine()
        .arg("lock")
        .arg(spec)
        .args(["--base", &base_arg(), "-o"])
        .arg(out)
        .arg("--cache")
        .arg(cache)
        .arg("--store")
        .arg(store))
}

fn show(store: &Path, reference: &str) -> Value {
    run(envc()
        .args(["show", reference, "--format", "json", "--store"])
        .arg(store))
    .ok()
    .json()
}

/// Exports `reference`, loads it into podman and runs `script` in it (no network).
fn run_in(store: &Path, reference: &str, script: &str) -> Run {
    let archive = store.with_extension(format!("{}.tar", reference.replace(':', "-")));
    run(envc()
        .args(["export", reference, "--format", "oci-archive", "-o"])
        .arg(&archive)
        .arg("--store")
        .arg(store))
    .ok();
    run(engine::podman().arg("load").arg("-i").arg(&archive)).ok();
    let _ = fs::remove_file(&archive);
    run(engine::podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        &format!("localhost/{reference}"),
        "bash",
        "-c",
        script,
    ]))
}

/// `key=value` lines.
fn pairs(stdout: &str) -> BTreeMap<String, String> {
    stdout
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

const PROBE: &str = r#"
set -e
echo "jq=$(jq --version)"
echo "jq_runs=$(echo '{"a":[1,2]}' | jq -c '.a | length')"
echo "curl=$(curl --version | head -n1 | cut -d' ' -f2)"
echo "numpy=$(python -c 'import numpy; print(numpy.__version__)')"
echo "numpy_sum=$(python -c 'import numpy; print(int(numpy.arange(10).sum()))')"
echo "six=$(python -c 'import six; print(six.__version__)')"
echo "dpkg_jq=$(dpkg -s jq | sed -n 's/^Status: //p')"
echo "dpkg_jq_version=$(dpkg-query -W -f '${Version}' jq)"
echo "dpkg_curl_version=$(dpkg-query -W -f '${Version}' curl)"
sudo -n apt-get check >/dev/null 2>/tmp/apt-check && echo "apt_check=clean" || echo "apt_check=$(cat /tmp/apt-check)"
python -m pip check >/tmp/pip-check 2>&1 && echo "pip_check=clean" || echo "pip_check=$(cat /tmp/pip-check)"
echo "pip_list=$(python -m pip list --format=freeze 2>/dev/null | tr '\n' ' ')"
echo "numpy_owner=$(stat -c %u:%g "$(python -c 'import numpy, os; print(os.path.dirname(numpy.__file__))')")"
echo "home_owner=$(stat -c %u:%g /home/ray)"
echo "probe=done"
"#;

/// The versions a lock pins, per ecosystem.
fn locked(lock: &Path) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let text = fs::read_to_string(lock).expect("lock");
    let doc: toml::Value = toml::from_str(&text).expect("lock is TOML");
    let table = |key: &str| -> BTreeMap<String, String> {
        doc.get(key)
            .and_then(|v| v.as_array())
            .map(|a| {
                a.iter()
                    .map(|p| {
                        (
                            p["name"].as_str().unwrap().to_string(),
                            p["version"].as_str().unwrap().to_string(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    (table("deb"), table("wheel"))
}

#[test]
fn a_locked_build_installs_debs_and_wheels_without_an_engine_reproducibly() {
    if !available() {
        return;
    }
    let _one = lock();
    let tmp = TempDir::new("hermetic");
    let (store, cache, lockfile) = (tmp.join("store"), tmp.join("cache"), tmp.join("envc.lock"));
    let spec = spec("hermetic.yaml");

    // 1. Lock: the only step on the network.
    envc_lock(&spec, &lockfile, &cache, &store).ok();
    let (debs, wheels) = locked(&lockfile);
    for name in ["jq", "libjq1", "libonig5", "curl", "libcurl4"] {
        assert!(debs.contains_key(name), "{name} is not locked: {debs:?}");
    }
    // The base has these already: not locked again.
    for name in ["libc6", "ca-certificates", "python3"] {
        assert!(
            !debs.contains_key(name),
            "{name} is in the base, yet locked"
        );
    }
    for name in ["numpy", "six"] {
        assert!(
            wheels.contains_key(name),
            "{name} is not locked: {wheels:?}"
        );
    }
    let check = run(envc()
        .arg("lock")
        .arg(&spec)
        .args(["--check", "-o"])
        .arg(&lockfile)
        .arg("--store")
        .arg(&store));
    check.ok();

    // 2. Build from the warm cache, offline: no engine, no network.
    let built = run(envc_engine()
        .arg("build")
        .arg(&spec)
        .args(["--name", "hermetic", "--lock"])
        .arg(&lockfile)
        .arg("--cache")
        .arg(&cache)
        .arg("--offline")
        .arg("--store")
        .arg(&store)
        .env("SOURCE_DATE_EPOCH", "1700000000"))
    .ok();
    assert!(
        !built.stderr.contains("podman"),
        "a build without post-build commands ran an engine: {built}"
    );
    let detail = show(&store, "hermetic:1");
    let manifest = detail["manifest"].as_str().unwrap().to_string();
    assert_eq!(
        detail["locked"]["debian"]["jq"].as_str(),
        debs.get("jq").map(String::as_str)
    );
    assert_eq!(
        detail["locked"]["pip"]["six"].as_str(),
        wheels.get("six").map(String::as_str)
    );
    assert!(
        detail["hermetic_layers"]
            .as_array()
            .is_some_and(|a| a.len() >= 2),
        "{detail}"
    );

    // 3. Run it: the packages work and dpkg, apt and pip know them.
    let out = run_in(&store, "hermetic:1", PROBE).ok();
    let got = pairs(&out.stdout);
    let want_jq = debs["jq"].split('-').next().unwrap().to_string();
    let expect = [
        ("jq", format!("jq-{want_jq}")),
        ("jq_runs", "2".into()),
        ("numpy", wheels["numpy"].clone()),
        ("numpy_sum", "45".into()),
        ("six", wheels["six"].clone()),
        ("dpkg_jq", "install ok installed".into()),
        ("dpkg_jq_version", debs["jq"].clone()),
        ("dpkg_curl_version", debs["curl"].clone()),
        ("apt_check", "clean".into()),
        ("pip_check", "clean".into()),
        ("numpy_owner", "1000:100".into()),
        ("home_owner", "1000:100".into()),
        ("probe", "done".into()),
    ];
    let failures: Vec<String> = expect
        .iter()
        .filter(|(k, v)| got.get(*k) != Some(v))
        .map(|(k, v)| format!("  {k}: want {v:?}, got {:?}", got.get(*k)))
        .collect();
    assert!(
        failures.is_empty(),
        "the hermetic image is not as locked:\n{}\n{out}",
        failures.join("\n")
    );
    let pip_list = &got["pip_list"];
    for (name, version) in &wheels {
        assert!(
            pip_list
                .to_lowercase()
                .contains(&format!("{name}=={version}")),
            "pip list lacks {name}=={version}: {pip_list}"
        );
    }
    assert!(got["curl"].len() > 3, "{out}");

    // 4. The same lock in another store, directory, umask and TZ, cache only: same bytes.
    let other = TempDir::new("hermetic-again");
    let status = Command::new("sh")
        .arg("-c")
        .arg(r#"umask 077; exec "$@""#)
        .arg("sh")
        .arg(env!("CARGO_BIN_EXE_envc"))
        .arg("build")
        .arg(&spec)
        .args(["--name", "hermetic", "--lock"])
        .arg(&lockfile)
        .arg("--cache")
        .arg(&cache)
        .args(["--offline", "--base", &base_arg(), "--store"])
        .arg(other.join("store"))
        .env("SOURCE_DATE_EPOCH", "1700000000")
        .env("TZ", "Pacific/Kiritimati")
        .env_remove("ENVC_STORE")
        .output()
        .expect("run envc");
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    let again = show(&other.join("store"), "hermetic:1");
    assert_eq!(
        again["manifest"].as_str(),
        Some(manifest.as_str()),
        "not reproducible"
    );

    // 5. The same spec through the Dockerfile and podman: the same versions.
    let mut c = envc_engine();
    c.arg("build")
        .arg(&spec)
        .args(["--name", "viadockerfile", "--store"])
        .arg(&store);
    for a in engine::build_args(&tmp.join("work")) {
        c.arg(format!("--engine-arg={a}"));
    }
    run(&mut c).ok();
    let versions = r#"dpkg-query -W -f '${Package} ${Version}\n' | sort; python -m pip list --format=freeze | tr 'A-Z' 'a-z' | sort"#;
    let hermetic = run_in(&store, "hermetic:1", versions).ok().stdout;
    let dockerfile = run_in(&store, "viadockerfile:1", versions).ok().stdout;
    let differ: Vec<String> = diff_lines(&dockerfile, &hermetic);
    assert!(
        differ.is_empty(),
        "the Dockerfile image and the hermetic image differ (- Dockerfile, + hermetic):\n{}",
        differ.join("\n")
    );
    run(envc().arg("verify").arg("--store").arg(&store)).ok();
}

fn diff_lines(a: &str, b: &str) -> Vec<String> {
    let (la, lb): (Vec<&str>, Vec<&str>) = (a.lines().collect(), b.lines().collect());
    la.iter()
        .filter(|l| !lb.contains(l))
        .map(|l| format!("- {l}"))
        .chain(
            lb.iter()
                .filter(|l| !la.contains(l))
                .map(|l| format!("+ {l}")),
        )
        .collect()
}

#[test]
fn post_build_commands_run_through_the_engine_on_the_hermetic_layers() {
    if !available() {
        return;
    }
    let _one = lock();
    let tmp = TempDir::new("hermetic-post");
    let (store, cache, lockfile) = (tmp.join("store"), tmp.join("cache"), tmp.join("envc.lock"));
    let spec = spec("hermetic-post.yaml");
    envc_lock(&spec, &lockfile, &cache, &store).ok();
    let mut c = envc_engine();
    c.arg("build")
        .arg(&spec)
        .args(["--name", "post", "--lock"])
        .arg(&lockfile)
        .arg("--cache")
        .arg(&cache)
        .arg("--offline")
        .arg("--store")
        .arg(&store);
    for a in engine::build_args(&tmp.join("work")) {
        if a != "host" && a != "--network" {
            c.arg(format!("--engine-arg={a}"));
        }
    }
    // No network for the engine either: the packages are already in the image.
    c.arg("--engine-arg=--network=none");
    run(&mut c).ok();
    let detail = show(&store, "post:1");
    let hermetic: Vec<&str> = detail["hermetic_layers"]
        .as_array()
        .expect("hermetic layers recorded")
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    let layers: Vec<&str> = detail["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap())
        .collect();
    for h in &hermetic {
        assert!(
            layers.contains(h),
            "hermetic layer {h} is not in the image: {detail}"
        );
    }
    assert!(
        layers.len() > hermetic.len() + 1,
        "no engine layer on top: {detail}"
    );
    let out = run_in(
        &store,
        "post:1",
        r#"echo "count=$(cat $HOME/jq-count)"; echo "six=$(cat $HOME/six-version)"; echo "greeting=$GREETING"; echo "user=$(id -un)""#,
    )
    .ok();
    let got = pairs(&out.stdout);
    let (_, wheels) = locked(&lockfile);
    assert_eq!(got.get("count").map(String::as_str), Some("3"), "{out}");
    assert_eq!(got.get("six"), wheels.get("six"), "{out}");
    assert_eq!(
        got.get("greeting").map(String::as_str),
        Some("hello"),
        "{out}"
    );
    assert_eq!(got.get("user").map(String::as_str), Some("ray"), "{out}");
    // An unchanged rebuild adds no revision.
    let mut again = envc_engine();
    again
        .arg("build")
        .arg(&spec)
        .args(["--name", "post", "--lock"])
        .arg(&lockfile)
        .arg("--cache")
        .arg(&cache)
        .args(["--offline", "--engine-arg=--network=none", "--store"])
        .arg(&store);
    let second = run(&mut again).ok();
    assert!(second.stdout.contains("unchanged"), "{second}");
}
