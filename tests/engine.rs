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
//! built once and reused by later runs (`tests/common/engine.rs`).

mod common;

use common::engine::{self, BASE_IMAGE};
use std::fs;
use std::path::Path;
use std::process::{Command, Output};
use std::time::Instant;

const TEST_IMAGE: &str = "localhost/envc-e2e:test";

#[test]
fn podman_builds_and_runs_generated_dockerfile() {
    if !engine::available() {
        return;
    }

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // 1. The ray-like base (a no-op when the cache already holds it).
    let cache = engine::cache();

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
    let mut build = engine::podman();
    // Docker format: with podman's default OCI format buildah 1.28 ignores SHELL (a warning),
    // so shell-form RUN steps would run under /bin/sh without pipefail, unlike `docker build`.
    build
        .args(["build", "--format", "docker"])
        .args(engine::build_args(&work));
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
    let out = run(engine::podman().args([
        "run",
        "--rm",
        "--network",
        "none",
        TEST_IMAGE,
        "bash",
        "-c",
        engine::PROBE,
    ]));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "podman run failed ({})\n{}\n--- Dockerfile ---\n{text}\n--- build log ---\n{build_log}",
        out.status,
        output_text(&out)
    );
    eprintln!("engine: probe ran in {:.1?}", started.elapsed());

    let failures = engine::probe_failures(&stdout, "1.16.0");
    assert!(
        failures.is_empty(),
        "the built image differs from the spec:\n{}\n--- probe output ---\n{}\n--- Dockerfile ---\n{text}\n--- build log ---\n{build_log}",
        failures.join("\n"),
        output_text(&out)
    );

    let _ = fs::remove_dir_all(&work);
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
