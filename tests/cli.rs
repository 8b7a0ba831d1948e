//! End-to-end tests of the `envc` binary: exit codes, stdout as data, stderr as messages,
//! atomic output, templates, configuration discovery and the smaller commands.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn envc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_envc"));
    c.env_remove("NO_COLOR").env_remove("ENVC_STORE");
    c
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let p = std::env::temp_dir().join(format!("envc-cli-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.0.join(name);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, text).unwrap();
        p
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn run(c: &mut Command) -> Output {
    let out = c.output().unwrap();
    assert!(
        !text(&out.stderr).contains("panicked"),
        "{}",
        text(&out.stderr)
    );
    out
}

#[test]
fn exit_codes_follow_the_contract() {
    let t = TempDir::new("exit");
    let good = fixtures().join("minimal.yaml");
    let bad = t.write(
        "bad.yaml",
        "base_image: anyscale/ray:2.9.0-py310\nbase_imge: x\n",
    );
    assert_eq!(run(envc().arg("check").arg(&good)).status.code(), Some(0));
    let out = run(envc().arg("check").arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.starts_with(&format!(
            "{}:2:1: error[E010]: unknown key `base_imge`",
            bad.display()
        )),
        "{err}"
    );
    assert!(err.contains("help: did you mean `base_image`?"), "{err}");
    assert!(out.stdout.is_empty(), "diagnostics never go to stdout");
    // Usage and I/O errors are 2.
    assert_eq!(run(envc().arg("check")).status.code(), Some(2));
    assert_eq!(run(envc().arg("frobnicate")).status.code(), Some(2));
    let missing = run(envc().args(["check", "/nonexistent/env.yaml"]));
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("/nonexistent/env.yaml"));
    assert_eq!(run(envc().arg("--help")).status.code(), Some(0));
    assert!(text(&run(envc().arg("--help")).stdout).contains("Examples:"));
    assert_eq!(run(envc().arg("--version")).status.code(), Some(0));
    // Many files: one invalid makes the run invalid, and both are reported.
    let out = run(envc().arg("check").arg(&good).arg(&bad));
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn warnings_only_fail_with_deny_warnings() {
    let seed = fixtures().join("seed.yaml"); // its tag is no longer listed: W002
    let out = run(envc().arg("check").arg(&seed));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stderr).contains("warning[W002]"));
    let quiet = run(envc().args(["check", "-q"]).arg(&seed));
    assert!(quiet.stderr.is_empty(), "{}", text(&quiet.stderr));
    assert_eq!(
        run(envc().args(["check", "--deny-warnings"]).arg(&seed))
            .status
            .code(),
        Some(1)
    );
    let out = run(envc().args(["dockerfile", "--deny-warnings"]).arg(&seed));
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
}

#[test]
fn json_diagnostics_follow_the_schema() {
    let t = TempDir::new("json");
    let bad = t.write(
        "bad.yaml",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: yes\n  B: 1\n",
    );
    let out = run(envc().args(["check", "--format", "json"]).arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["schema"], "envc.diagnostics/v1");
    let d = &doc["diagnostics"];
    assert_eq!(d[0]["code"], "E021");
    assert_eq!(d[0]["severity"], "error");
    assert_eq!(
        (d[0]["line"].as_u64(), d[0]["column"].as_u64()),
        (Some(3), Some(6))
    );
    assert_eq!(d[1]["code"], "W001");
    assert_eq!(d[1]["severity"], "warning");
    assert!(d[0]["help"].as_str().unwrap().contains("quote"));
    assert_eq!(doc["summary"]["errors"], 1);
    assert_eq!(doc["summary"]["warnings"], 1);
}

#[test]
fn dockerfile_output_is_atomic_and_nothing_is_written_on_error() {
    let t = TempDir::new("atomic");
    let out_path = t.0.join("Dockerfile");
    let ok = run(envc()
        .arg("dockerfile")
        .arg(fixtures().join("seed.yaml"))
        .arg("-o")
        .arg(&out_path));
    assert_eq!(ok.status.code(), Some(0));
    let golden = std::fs::read_to_string(fixtures().join("seed.Dockerfile")).unwrap();
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), golden);
    assert!(ok.stdout.is_empty());
    // A failing compile leaves the previous file untouched and no temp files behind.
    let bad = t.write("bad.yaml", "base_image: [1]\n");
    let out = run(envc().arg("dockerfile").arg(&bad).arg("-o").arg(&out_path));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read_to_string(&out_path).unwrap(), golden);
    let fresh = t.0.join("never.Dockerfile");
    run(envc().arg("dockerfile").arg(&bad).arg("-o").arg(&fresh));
    assert!(!fresh.exists());
    let names: Vec<String> = std::fs::read_dir(&t.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(names.iter().all(|n| !n.starts_with(".envc-")), "{names:?}");
    // An unwritable destination is an I/O error.
    let out = run(envc()
        .arg("dockerfile")
        .arg(fixtures().join("seed.yaml"))
        .args(["-o", "/nonexistent/dir/Dockerfile"]));
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn stdin_is_read_with_dash() {
    let mut child = envc()
        .args(["plan", "--digest", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let spec = std::fs::read(fixtures().join("minimal.yaml")).unwrap();
    child.stdin.take().unwrap().write_all(&spec).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let from_file = run(envc()
        .args(["plan", "--digest"])
        .arg(fixtures().join("minimal.yaml")));
    assert_eq!(out.stdout, from_file.stdout);
}

#[test]
fn plan_digest_is_the_sha256_of_the_canonical_plan() {
    let plan = run(envc().arg("plan").arg(fixtures().join("seed.yaml")));
    let digest = run(envc()
        .args(["plan", "--digest"])
        .arg(fixtures().join("seed.yaml")));
    let d = text(&digest.stdout);
    assert!(d.starts_with("sha256:") && d.trim().len() == 71, "{d}");
    // The canonical JSON is one line; its sha256 (without the newline) is the digest.
    let body = text(&plan.stdout);
    let body = body.strip_suffix('\n').unwrap();
    let sum = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn();
    if let Ok(mut child) = sum {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(body.as_bytes())
            .unwrap();
        let out = child.wait_with_output().unwrap();
        let hex = text(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_string();
        assert_eq!(format!("sha256:{hex}"), d.trim());
    }
    let golden = std::fs::read_to_string(fixtures().join("seed.Dockerfile")).unwrap();
    assert!(golden.contains(&format!("# spec digest: {}", d.trim())));
}

#[test]
fn comments_style_and_key_order_do_not_change_the_digest() {
    let t = TempDir::new("digest");
    let a = t.write(
        "a.yaml",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: '1'\n  B: $A\npython:\n  pip_packages: [x]\n  conda_packages: [y]\n",
    );
    let b = t.write(
        "b.yaml",
        "# a comment\npython: {conda_packages: [\"y\"], pip_packages: ['x']}\nenv_vars: {A: \"1\", B: \"${A}\"}   # same values\nbase_image: \"anyscale/ray:2.9.0-py310\"\n",
    );
    let c = t.write("c.yaml", "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  B: $A\n  A: '1'\npython:\n  pip_packages: [x]\n  conda_packages: [y]\n");
    let digest = |p: &Path| text(&run(envc().args(["plan", "--digest"]).arg(p)).stdout);
    assert_eq!(digest(&a), digest(&b));
    assert_ne!(digest(&a), digest(&c), "env_vars order is meaningful");
}

#[test]
fn templates_render_with_env_and_vars_and_keep_provenance_out_of_the_digest() {
    let t = TempDir::new("template");
    let tpl = t.write(
        "app_config.yaml",
        "base_image: {{ env[\"RAY_IMAGE\"] | default(\"anyscale/ray:2.9.0-py310\") }}\nenv_vars:\n  STAMP: \"{{ env[\"STAMP\"] }}\"\n",
    );
    let rendered = t.write(
        "rendered.yaml",
        "base_image: anyscale/ray:2.9.0-py311\nenv_vars:\n  STAMP: \"20230101\"\n",
    );
    let with_env = run(envc()
        .args(["plan", "--digest", "--template"])
        .arg(&tpl)
        .env("RAY_IMAGE", "anyscale/ray:2.9.0-py311")
        .env("STAMP", "20230101"));
    assert_eq!(
        with_env.status.code(),
        Some(0),
        "{}",
        text(&with_env.stderr)
    );
    let twin = run(envc().args(["plan", "--digest"]).arg(&rendered));
    assert_eq!(with_env.stdout, twin.stdout);
    let with_var = run(envc()
        .args([
            "plan",
            "--digest",
            "--template",
            "--var",
            "RAY_IMAGE=anyscale/ray:2.9.0-py311",
            "--var",
            "STAMP=20230101",
        ])
        .arg(&tpl)
        .env_remove("RAY_IMAGE"));
    assert_eq!(with_var.stdout, twin.stdout);
    // Provenance names what the template read, and only that.
    let prov = run(envc()
        .args([
            "plan",
            "--provenance",
            "--template",
            "--var",
            "STAMP=20230101",
        ])
        .arg(&tpl)
        .env("UNRELATED_SECRET", "hunter2")
        .env_remove("RAY_IMAGE"));
    let doc: serde_json::Value = serde_json::from_slice(&prov.stdout).unwrap();
    assert_eq!(doc["provenance"]["env"]["RAY_IMAGE"], "unset");
    // A `--var` is named, its value is not recorded (`--public-var` would record it).
    assert_eq!(doc["provenance"]["env"]["STAMP"], "set");
    assert_eq!(doc["provenance"]["vars"], serde_json::json!(["STAMP"]));
    assert!(!doc["provenance"].to_string().contains("20230101"));
    assert!(!text(&prov.stdout).contains("hunter2"));
    // An undefined value without a default is a located error.
    let out = run(envc()
        .args(["check", "--template"])
        .arg(&tpl)
        .env_remove("STAMP"));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("app_config.yaml:3:") && err.contains("error[E004]"),
        "{err}"
    );
    // Without --template, nothing is rendered: the braces are YAML (here: a syntax error
    // that suggests the flag).
    let out = run(envc().arg("check").arg(&tpl));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("--template"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn post_build_braces_are_the_users_own_text_without_template() {
    let t = TempDir::new("braces");
    let spec = t.write(
        "env.yaml",
        "base_image: anyscale/ray:2.9.0-py310\npost_build_cmds:\n  - echo '{{ not a template }}'\n",
    );
    let out = run(envc().arg("dockerfile").arg(&spec));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("RUN echo '{{ not a template }}'"));
}

#[test]
fn configuration_is_discovered_and_its_errors_are_located() {
    let t = TempDir::new("config");
    let spec = t.write(
        "team/envs/env.yaml",
        "base_image: rayproject/ray:2.9.0-py310\n",
    );
    let out = run(envc().arg("check").arg(&spec));
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("error[E041]"));
    t.write(
        "team/envc.toml",
        "[base-image]\nallow = [\"rayproject/*\"]\nmirror = \"mirror.example.com\"\n",
    );
    let out = run(envc().arg("check").arg(&spec));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let df = run(envc().arg("dockerfile").arg(&spec));
    assert!(text(&df.stdout).contains("FROM mirror.example.com/rayproject/ray:2.9.0-py310"));
    // The mirror is how the image is fetched, not what it is: the digest is unchanged.
    let cfg = t.write(
        "team/envc.toml",
        "[base-image]\nallow = [\"rayproject/*\"]\n",
    );
    let _ = cfg;
    // A bad configuration is reported in the TOML file.
    let bad = t.write(
        "other.toml",
        "[base-image]\nallow = [\"rayproject/*\"]\nmirorr = \"x\"\n",
    );
    let out = run(envc().arg("check").arg("--config").arg(&bad).arg(&spec));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("other.toml:3:1: error[E050]"), "{err}");
    // Ignored warnings are not printed.
    let seed_dir = t.write(
        "w/env.yaml",
        &std::fs::read_to_string(fixtures().join("seed.yaml")).unwrap(),
    );
    t.write("w/envc.toml", "[warnings]\nignore = [\"W002\"]\n");
    let out = run(envc().arg("check").arg(&seed_dir));
    assert!(!text(&out.stderr).contains("W002"), "{}", text(&out.stderr));
    t.write("w/envc.toml", "[warnings]\ndeny = true\n");
    assert_eq!(
        run(envc().arg("check").arg(&seed_dir)).status.code(),
        Some(1)
    );
}

#[test]
fn templates_dir_overrides_the_embedded_template() {
    let t = TempDir::new("templates");
    t.write(
        "tpl/Dockerfile.j2",
        "FROM {{ from }}\n# {{ steps | length }} steps\n",
    );
    let out = run(envc()
        .arg("dockerfile")
        .arg(fixtures().join("seed.yaml"))
        .arg("--templates")
        .arg(t.0.join("tpl")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "FROM anyscale/ray-ml:1.9.0-py38-gpu\n# 5 steps\n"
    );
    // Strict undefined: a typo in a template is an error, not an empty string.
    t.write("tpl/Dockerfile.j2", "FROM {{ form }}\n");
    let out = run(envc()
        .arg("dockerfile")
        .arg(fixtures().join("seed.yaml"))
        .arg("--templates")
        .arg(t.0.join("tpl")));
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("undefined"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn colour_only_when_asked_and_never_with_no_color() {
    let bad = TempDir::new("color");
    let p = bad.write("bad.yaml", "base_imge: x\n");
    let plain = run(envc().arg("check").arg(&p));
    assert!(
        !text(&plain.stderr).contains('\x1b'),
        "not a TTY: no colour"
    );
    let forced = run(envc().args(["--color", "always", "check"]).arg(&p));
    assert!(text(&forced.stderr).contains('\x1b'));
    let no_color = run(envc()
        .args(["--color", "always", "check"])
        .arg(&p)
        .env("NO_COLOR", "1"));
    assert!(!text(&no_color.stderr).contains('\x1b'));
}

#[test]
fn explain_schema_and_completions() {
    let out = run(envc().args(["explain", "e023"]));
    assert_eq!(out.status.code(), Some(0));
    assert!(text(&out.stdout).contains("$$"));
    let all = run(envc().arg("explain"));
    assert!(text(&all.stdout).lines().count() >= 20);
    assert_eq!(run(envc().args(["explain", "E999"])).status.code(), Some(2));
    let schema = run(envc().arg("schema"));
    let doc: serde_json::Value = serde_json::from_slice(&schema.stdout).unwrap();
    assert!(doc["$schema"].is_string());
    for shell in ["bash", "zsh", "fish"] {
        let out = run(envc().args(["completions", shell]));
        assert_eq!(out.status.code(), Some(0));
        assert!(text(&out.stdout).contains("dockerfile"));
    }
}

#[test]
fn a_closed_stdout_is_not_an_error() {
    let mut child = envc()
        .arg("schema")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.code() == Some(0),
        "{:?} {}",
        out.status,
        text(&out.stderr)
    );
}

/// `-o` into a directory that does not exist names that directory (not a random temp file) and
/// exits 2, for every command that writes a file.
#[test]
fn output_into_a_missing_directory_names_the_directory() {
    let t = TempDir::new("missing-dir");
    let spec = t.write("env.yaml", "base_image: anyscale/ray:2.9.0-py310\n");
    let pkg = t.0.join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(pkg.join("a.py"), "").unwrap();
    let missing = t.0.join("nope");
    let out = missing.join("out");
    for args in [
        vec!["dockerfile".to_string(), spec.display().to_string()],
        vec!["package".to_string(), pkg.display().to_string()],
    ] {
        let r = run(envc().args(&args).arg("-o").arg(&out));
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(
            err.contains(&format!(
                "the directory `{}` does not exist",
                missing.display()
            )),
            "{args:?}: {err}"
        );
        assert!(!err.contains(".envc-"), "{args:?} names a temp file: {err}");
        // An existing directory as the output: refused as such, nothing written beside it.
        let r = run(envc().args(&args).arg("-o").arg(&pkg));
        let err = text(&r.stderr);
        assert_eq!(r.status.code(), Some(2), "{args:?}: {err}");
        assert!(err.contains("is a directory"), "{args:?}: {err}");
        assert!(std::fs::read_dir(&t.0).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".envc-")));
    }
}

/// The size error names the file's real size (the reader once passed the YAML layer a stand-in
/// one byte over the limit), and a 20,000-entry spec with no alias in sight is not refused.
#[test]
fn size_limits_report_the_real_size_and_admit_large_specs() {
    let t = TempDir::new("limits");
    let mut big = String::from("base_image: anyscale/ray:2.9.0-py310\n");
    let line = format!("# {}\n", "x".repeat(97));
    while big.len() < 9_000_000 {
        big.push_str(&line);
    }
    big.push_str("# 39 more bytes to make the size odd...\n");
    let path = t.write("big.yaml", &big);
    let out = run(envc().args(["check", "--color", "never"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error[E002]"), "{err}");
    assert!(
        err.contains(&format!("the file is {} bytes", big.len())),
        "{err}"
    );
    // Neither an endless device nor a stream is read past the limit.
    let out = run(envc().args(["check", "/dev/zero"]));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("/dev/zero:1:1: error[E002]: the file is more than 8388608 bytes"),
        "{err}"
    );
    let mut child = envc()
        .args(["check", "-"])
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || {
        // Far more than the limit; envc stops reading, so the write fails with EPIPE.
        for _ in 0..200 {
            if stdin.write_all(big.as_bytes()).is_err() {
                return;
            }
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("<stdin>:1:1: error[E002]: the file is more than"),
        "{}",
        text(&out.stderr)
    );

    let mut spec = String::from("base_image: anyscale/ray:2.9.0-py310\npost_build_cmds:\n");
    for i in 0..20_000 {
        spec.push_str(&format!("  - echo step-{i} >> /tmp/steps.log\n"));
    }
    let path = t.write("large.yaml", &spec);
    let out = run(envc().arg("check").arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
}

/// Merge keys and `x-` anchors: the spec compiles to what PyYAML's `safe_load` reads; an error
/// in a merged value points at the anchor's text.
#[test]
fn merge_keys_and_extension_anchors() {
    let t = TempDir::new("merge");
    let path = t.write(
        "merge.yaml",
        "base_image: anyscale/ray:2.9.0-py310\n\
         x-common: &common\n  A: \"1\"\n  B: one\n\
         env_vars:\n  <<: *common\n  B: \"2\"\n  C: three\n",
    );
    let out = run(envc().args(["dockerfile"]).arg(&path));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let df = text(&out.stdout);
    let envs: Vec<&str> = df.lines().filter(|l| l.starts_with("ENV ")).collect();
    assert_eq!(
        envs,
        ["ENV A=\"1\"", "ENV B=\"2\"", "ENV C=\"three\""],
        "{df}"
    );

    let path = t.write(
        "bad.yaml",
        "base_image: anyscale/ray:2.9.0-py310\nx-common: &common\n  DEBUG: yes\nenv_vars: {<<: *common}\n",
    );
    let out = run(envc().args(["check", "--color", "never"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains(":3:10: error[E021]"), "{err}");

    let path = t.write(
        "scalar.yaml",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars: {<<: oops}\n",
    );
    let out = run(envc().args(["check", "--color", "never"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("merge key"),
        "{}",
        text(&out.stderr)
    );
}

/// A Debian entry's error points at the part apt-get would misread.
#[test]
fn debian_removal_suffix_is_located() {
    let t = TempDir::new("debian");
    let path = t.write(
        "apt.yaml",
        "base_image: anyscale/ray:2.9.0-py310\ndebian_packages:\n  - sudo:amd64-\n",
    );
    let out = run(envc().args(["check", "--color", "never"]).arg(&path));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("apt.yaml:3:15: error[E030]"), "{err}");
    assert!(err.contains("remove `sudo:amd64`"), "{err}");
}

/// Issue 8, item 7: runtime environments and `envc.toml` go through the same reader as specs.
/// Non-UTF-8 is E003 (a runtime env was read lossily before; an `envc.toml` was an unreadable
/// file, exit 2), and a file over the size limit is E002 without being read.
#[test]
fn runtime_envs_and_config_are_read_as_specs_are() {
    let t = TempDir::new("reader");
    let bad = t.0.join("bad.json");
    std::fs::write(&bad, b"{\"pip\": [\"caf\xe9\"]}").unwrap();
    let out = run(envc()
        .args(["runtime-env", "check", "--color", "never"])
        .arg(&bad));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "bad.json:1:14: error[E003]: the file is not UTF-8 (invalid byte at offset 13)"
        ),
        "{err}"
    );
    assert!(
        err.contains("save the runtime environment as UTF-8 text"),
        "{err}"
    );

    let big = t.0.join("big.json");
    let mut f = std::fs::File::create(&big).unwrap();
    f.write_all(b"{\"pip\": []}").unwrap();
    f.set_len(9_000_001).unwrap();
    let out = run(envc()
        .args(["runtime-env", "normalize", "--color", "never"])
        .arg(&big));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("big.json:1:1: error[E002]: the file is 9000001 bytes"),
        "{err}"
    );
    assert!(
        err.contains("see `envc explain E002` for envc's limits"),
        "{err}"
    );
    let out = run(envc().args(["runtime-env", "check", "/dev/zero"]));
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("error[E002]: the file is more than 8388608 bytes"),
        "{}",
        text(&out.stderr)
    );

    let spec = t.write("spec.yaml", "base_image: anyscale/ray:2.9.0-py310\n");
    let config = t.0.join("envc.toml");
    std::fs::write(&config, b"[warnings]\nignore = [\"\xff\"]\n").unwrap();
    let out = run(envc().args(["check", "--color", "never"]).arg(&spec));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains(
            "envc.toml:2:12: error[E003]: the file is not UTF-8 (invalid byte at offset 22)"
        ),
        "{err}"
    );
    assert!(
        err.contains("save the configuration as UTF-8 text"),
        "{err}"
    );

    let mut f = std::fs::File::create(&config).unwrap();
    f.write_all(b"[warnings]\n").unwrap();
    f.set_len(9_000_001).unwrap();
    let out = run(envc().args(["check", "--color", "never"]).arg(&spec));
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("envc.toml:1:1: error[E002]: the file is 9000001 bytes"),
        "{err}"
    );
}

/// A runtime environment, like a spec, is read from stdin for `-`.
#[test]
fn runtime_env_from_stdin() {
    let mut child = envc()
        .args(["runtime-env", "normalize", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{\"env_vars\": {\"A\": \"1\"}}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "{\"env_vars\":{\"A\":\"1\"}}\n");
}
