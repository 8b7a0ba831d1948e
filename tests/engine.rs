//! End-to-end on a real container engine.
//!
//! Builds a small ray-like base image (`tests/support/ray-base.sh`: Debian bookworm minbase,
//! user `ray` uid 1000 gid 100 with passwordless sudo, a Python venv at `/home/ray/anaconda3`),
//! compiles `fixtures/e2e/engine.yaml` with `envc dockerfile`, builds the result with
//! `podman build` and runs the image to check what the spec asked for.
//!
//! Needs root and `podman`, `runc` and `debootstrap`; without them the test prints why and
//! passes, unless `ENVC_ENGINE_REQUIRED` is set (then it fails). The base image and podman's
//! storage live in `$ENVC_ENGINE_CACHE`, by default `target/tmp/envc-engine`, so the base is
//! built once and reused by later runs.

use std::collections::BTreeMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const BASE_IMAGE: &str = "localhost/anyscale/ray:2.9.0-py311";
const TEST_IMAGE: &str = "localhost/envc-e2e:test";
/// The host's CA bundle; pip inside the build trusts it through a generated pip.conf.
const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where the CA bundle is mounted in the build (not over the image's own bundle).
const BUILD_CA_PATH: &str = "/etc/pip-host-ca.crt";
/// PATH of the ray-like base image (tests/support/ray-base.sh).
const BASE_PATH: &str =
    "/home/ray/anaconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Printed inside the container, one `key=value` per line.
const PROBE: &str = r#"
echo "uid=$(id -u)"
echo "gid=$(id -g)"
echo "user=$(id -un)"
printf 'home=%s\n' "$HOME"
printf 'GREETING=%s\n' "$GREETING"
printf 'SHOUT=%s\n' "$SHOUT"
printf 'QUOTED=%s\n' "$QUOTED"
printf 'PRICE=%s\n' "$PRICE"
printf 'BACKSLASHES=%s\n' "$BACKSLASHES"
printf 'PATH=%s\n' "$PATH"
echo "jq=$(dpkg -s jq | sed -n 's/^Status: //p')"
echo "tree=$(dpkg -s tree | sed -n 's/^Status: //p')"
echo "jq_runs=$(echo '{"a":[1,2]}' | jq -c '.a | length')"
echo "six=$(/home/ray/anaconda3/bin/pip show six | sed -n 's/^Version: //p')"
echo "six_import=$(/home/ray/anaconda3/bin/python -c 'import six; print(six.__version__)')"
echo "hello_path=$(command -v envc-hello)"
echo "hello=$(envc-hello)"
echo "marker=$(cat "$HOME/envc-marker")"
echo "probe=done"
"#;

#[test]
fn podman_builds_and_runs_generated_dockerfile() {
    if let Some(reason) = skip_reason() {
        if env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
            panic!("engine test required (ENVC_ENGINE_REQUIRED) but {reason}");
        }
        eprintln!("skipping engine test: {reason}");
        return;
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let cache = match env::var_os("ENVC_ENGINE_CACHE") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir),
        _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("envc-engine"),
    };
    fs::create_dir_all(&cache).expect("create engine cache dir");

    // 1. The ray-like base (a no-op when the cache already holds it).
    let started = Instant::now();
    let mut base = Command::new("bash");
    base.arg(root.join("tests/support/ray-base.sh"))
        .arg(&cache)
        .env("PATH", path_with_sbin());
    let out = run(&mut base);
    assert!(
        out.status.success(),
        "tests/support/ray-base.sh failed ({}); logs are in {}\n{}",
        out.status,
        cache.display(),
        output_text(&out)
    );
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("engine: base image ready in {:.1?}", started.elapsed());

    // 2. Compile the spec into a fresh build context.
    let work = cache.join(format!("e2e-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    let context = work.join("context");
    fs::create_dir_all(&context).expect("create build context");
    let dockerfile = context.join("Dockerfile");
    let out = run(Command::new(env!("CARGO_BIN_EXE_envc"))
        .arg("dockerfile")
        .arg(root.join("fixtures/e2e/engine.yaml"))
        .arg("-o")
        .arg(&dockerfile));
    assert!(
        out.status.success(),
        "envc dockerfile failed ({})\n{}",
        out.status,
        output_text(&out)
    );
    let text = fs::read_to_string(&dockerfile).expect("read generated Dockerfile");
    assert!(
        text.lines()
            .any(|l| l.trim() == format!("FROM {BASE_IMAGE}")),
        "generated Dockerfile does not start FROM {BASE_IMAGE}:\n{text}"
    );

    // 3. podman build. pip in the build trusts the host's CA bundle through a pip.conf made
    // here; none of the host's PIP_* settings go in (they name host paths).
    let pip_conf = work.join("pip.conf");
    fs::write(&pip_conf, format!("[global]\ncert = {BUILD_CA_PATH}\n")).expect("write pip.conf");
    let mut build = podman(&cache);
    // Docker format: with podman's default OCI format buildah 1.28 ignores SHELL (a warning),
    // so shell-form RUN steps would run under /bin/sh without pipefail, unlike `docker build`.
    build.args(["build", "--network", "host", "--format", "docker"]);
    if Path::new(HOST_CA_BUNDLE).is_file() {
        build
            .arg("-v")
            .arg(format!("{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro"))
            .arg("-v")
            .arg(format!("{}:/etc/pip.conf:ro", pip_conf.display()));
    }
    build
        .args(["-t", TEST_IMAGE, "-f"])
        .arg(&dockerfile)
        .arg(&context);
    let started = Instant::now();
    let out = run(&mut build);
    let build_log = output_text(&out);
    fs::write(work.join("build.log"), &build_log).expect("write build log");
    assert!(
        out.status.success(),
        "podman build failed ({})\n--- Dockerfile ---\n{text}\n--- build log ---\n{build_log}",
        out.status
    );
    eprintln!("engine: spec image built in {:.1?}", started.elapsed());

    // 4. podman run: no network needed, everything was installed at build time.
    let started = Instant::now();
    let out = run(podman(&cache).args([
        "run",
        "--rm",
        "--network",
        "none",
        TEST_IMAGE,
        "bash",
        "-c",
        PROBE,
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "podman run failed ({})\n{}\n--- Dockerfile ---\n{text}\n--- build log ---\n{build_log}",
        out.status,
        output_text(&out)
    );
    eprintln!("engine: probe ran in {:.1?}", started.elapsed());

    let got: BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    let expected_path = format!("/opt/envc-test/bin:{BASE_PATH}");
    let expected: &[(&str, &str)] = &[
        // The user: the image ends as the ray user, uid 1000, primary group 100.
        ("uid", "1000"),
        ("gid", "100"),
        ("user", "ray"),
        ("home", "/home/ray"),
        // env_vars, including a reference to an earlier var, the base image's PATH,
        // a double quote and a backslash, and `$$` as a literal dollar.
        ("GREETING", "hello world"),
        ("SHOUT", "hello world!"),
        ("QUOTED", r#"say "hi" to C:\temp"#),
        ("PRICE", "5$ (not $HOME)"),
        ("BACKSLASHES", r#"q\"x C:\"#),
        ("PATH", &expected_path),
        // debian_packages
        ("jq", "install ok installed"),
        ("tree", "install ok installed"),
        ("jq_runs", "2"),
        // python.pip_packages, in the base image's Python environment
        ("six", "1.16.0"),
        ("six_import", "1.16.0"),
        // post_build_cmds: sudo made the directory, the multi-line block wrote a script
        // there (found through ENV PATH) and a marker using $HOME at build time.
        ("hello_path", "/opt/envc-test/bin/envc-hello"),
        ("hello", "hello from /home/ray as ray"),
        ("marker", "built in /home/ray by ray, price 5$ (not $HOME)"),
        ("probe", "done"),
    ];
    let failures: Vec<String> = expected
        .iter()
        .filter(|(key, want)| got.get(key) != Some(want))
        .map(|(key, want)| format!("  {key}: want {want:?}, got {:?}", got.get(key)))
        .collect();
    assert!(
        failures.is_empty(),
        "the built image differs from the spec:\n{}\n--- probe output ---\n{}\n--- Dockerfile ---\n{text}\n--- build log ---\n{build_log}",
        failures.join("\n"),
        output_text(&out)
    );

    let _ = fs::remove_dir_all(&work);
}

/// Why this machine cannot run the test, if it cannot.
fn skip_reason() -> Option<String> {
    for tool in ["podman", "runc", "debootstrap"] {
        if find_tool(tool).is_none() {
            return Some(format!("{tool} not found"));
        }
    }
    match Command::new("id").arg("-u").output() {
        Ok(out) if String::from_utf8_lossy(&out.stdout).trim() == "0" => None,
        Ok(_) => Some("not running as root (podman here needs root; debootstrap too)".into()),
        Err(e) => Some(format!("cannot tell the user id (id -u: {e})")),
    }
}

/// PATH, plus the sbin directories where Debian puts runc and debootstrap.
fn path_with_sbin() -> String {
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    for extra in ["/usr/local/sbin", "/usr/sbin", "/sbin"] {
        if !dirs.iter().any(|d| d == Path::new(extra)) {
            dirs.push(PathBuf::from(extra));
        }
    }
    env::join_paths(dirs)
        .expect("PATH entries")
        .to_string_lossy()
        .into_owned()
}

fn find_tool(name: &str) -> Option<PathBuf> {
    env::split_paths(&path_with_sbin())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// A podman command using the config and storage that ray-base.sh wrote into `cache`.
fn podman(cache: &Path) -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", cache.join("containers.conf"))
        .env("CONTAINERS_STORAGE_CONF", cache.join("storage.conf"))
        .env("PATH", path_with_sbin());
    for (key, _) in env::vars_os() {
        if key.to_string_lossy().starts_with("PIP_") {
            cmd.env_remove(key);
        }
    }
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {:?}: {e}", cmd.get_program()))
}

fn output_text(out: &Output) -> String {
    format!(
        "--- stdout ---\n{}--- stderr ---\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
