//! The real-engine fixtures shared by `tests/engine.rs` (a generated Dockerfile built by hand)
//! and `tests/engine_build.rs` (`envc build` driving the engine): the ray-like base image, built
//! once per run into `$ENVC_ENGINE_CACHE` (default `target/tmp/envc-engine`) by
//! `tests/support/ray-base.sh`, podman's config there, the build arguments a build needs on
//! this machine, and the probe that checks a container holds what `fixtures/e2e/engine.yaml`
//! asks for.

use std::collections::BTreeMap;
use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const BASE_IMAGE: &str = "localhost/anyscale/ray:2.9.0-py311";
/// The host's CA bundle; pip inside the build trusts it through a generated pip.conf.
pub const HOST_CA_BUNDLE: &str = "/etc/ssl/certs/ca-certificates.crt";
/// Where the CA bundle is mounted in the build (not over the image's own bundle).
pub const BUILD_CA_PATH: &str = "/etc/pip-host-ca.crt";
/// PATH of the ray-like base image (tests/support/ray-base.sh).
pub const BASE_PATH: &str =
    "/home/ray/anaconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Printed inside the container, one `key=value` per line.
pub const PROBE: &str = r#"
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

/// What [`PROBE`] prints in an image of `fixtures/e2e/engine.yaml` with pip package `six` at
/// `six_version`.
pub fn expected_probe(six_version: &str) -> Vec<(&'static str, String)> {
    vec![
        // The user: the image ends as the ray user, uid 1000, primary group 100.
        ("uid", "1000".into()),
        ("gid", "100".into()),
        ("user", "ray".into()),
        ("home", "/home/ray".into()),
        // env_vars, including a reference to an earlier var, the base image's PATH,
        // a double quote and a backslash, and `$$` as a literal dollar.
        ("GREETING", "hello world".into()),
        ("SHOUT", "hello world!".into()),
        ("QUOTED", r#"say "hi" to C:\temp"#.into()),
        ("PRICE", "5$ (not $HOME)".into()),
        ("BACKSLASHES", r#"q\"x C:\"#.into()),
        ("PATH", format!("/opt/envc-test/bin:{BASE_PATH}")),
        // debian_packages
        ("jq", "install ok installed".into()),
        ("tree", "install ok installed".into()),
        ("jq_runs", "2".into()),
        // python.pip_packages, in the base image's Python environment
        ("six", six_version.into()),
        ("six_import", six_version.into()),
        // post_build_cmds: sudo made the directory, the multi-line block wrote a script
        // there (found through ENV PATH) and a marker using $HOME at build time.
        ("hello_path", "/opt/envc-test/bin/envc-hello".into()),
        ("hello", "hello from /home/ray as ray".into()),
        (
            "marker",
            "built in /home/ray by ray, price 5$ (not $HOME)".into(),
        ),
        ("probe", "done".into()),
    ]
}

/// The probe's mismatches (empty when the container is as the spec says).
pub fn probe_failures(stdout: &str, six_version: &str) -> Vec<String> {
    let got: BTreeMap<&str, &str> = stdout
        .lines()
        .filter_map(|line| line.split_once('='))
        .collect();
    expected_probe(six_version)
        .iter()
        .filter(|(key, want)| got.get(key) != Some(&want.as_str()))
        .map(|(key, want)| format!("  {key}: want {want:?}, got {:?}", got.get(key)))
        .collect()
}

/// Why this machine cannot run the engine tests, if it cannot.
pub fn skip_reason() -> Option<String> {
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

/// `true` when the test should run; otherwise prints why (or fails, under
/// `ENVC_ENGINE_REQUIRED`, which CI sets).
pub fn available() -> bool {
    match skip_reason() {
        None => true,
        Some(reason) => {
            if env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
                panic!("engine test required (ENVC_ENGINE_REQUIRED) but {reason}");
            }
            eprintln!("skipping engine test: {reason}");
            false
        }
    }
}

/// PATH, plus the sbin directories where Debian puts runc and debootstrap.
pub fn path_with_sbin() -> String {
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

pub fn find_tool(name: &str) -> Option<PathBuf> {
    env::split_paths(&path_with_sbin())
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The engine cache with the ray-like base in podman's storage, made once per test process.
pub fn cache() -> &'static Path {
    static CACHE: OnceLock<PathBuf> = OnceLock::new();
    CACHE.get_or_init(|| {
        let cache = match env::var_os("ENVC_ENGINE_CACHE") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir),
            _ => Path::new(env!("CARGO_TARGET_TMPDIR")).join("envc-engine"),
        };
        std::fs::create_dir_all(&cache).expect("create engine cache dir");
        let started = std::time::Instant::now();
        let out = Command::new("bash")
            .arg(super::root().join("tests/support/ray-base.sh"))
            .arg(&cache)
            .env("PATH", path_with_sbin())
            .output()
            .expect("run ray-base.sh");
        assert!(
            out.status.success(),
            "tests/support/ray-base.sh failed ({}); logs are in {}\n{}{}",
            out.status,
            cache.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        eprint!("{}", String::from_utf8_lossy(&out.stderr));
        eprintln!("engine: base image ready in {:.1?}", started.elapsed());
        cache
    })
}

/// Sets the environment podman and buildah need (their config and storage in the cache, the
/// sbin PATH) and removes the host's `PIP_*` settings, which name host paths.
pub fn engine_env(cmd: &mut Command) -> &mut Command {
    let cache = cache();
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

/// A podman command on the cache's storage.
pub fn podman() -> Command {
    let mut cmd = Command::new("podman");
    engine_env(&mut cmd);
    cmd
}

/// What a build on this machine needs: the host network (the default bridge leads nowhere
/// here) and, for pip, the host's CA bundle through a pip.conf written into `work`.
pub fn build_args(work: &Path) -> Vec<String> {
    let mut args = vec!["--network".to_string(), "host".to_string()];
    if Path::new(HOST_CA_BUNDLE).is_file() {
        let pip_conf = work.join("pip.conf");
        std::fs::create_dir_all(work).expect("work dir");
        std::fs::write(&pip_conf, format!("[global]\ncert = {BUILD_CA_PATH}\n"))
            .expect("write pip.conf");
        args.extend([
            "-v".to_string(),
            format!("{HOST_CA_BUNDLE}:{BUILD_CA_PATH}:ro"),
            "-v".to_string(),
            format!("{}:/etc/pip.conf:ro", pip_conf.display()),
        ]);
    }
    args
}
