//! `--heredoc` must not change what a post-build command means (issue 6): each multi-line
//! command is compiled twice, in the portable exec form and as a heredoc, and both files are
//! read by BuildKit's parser; every RUN is then executed here exactly as BuildKit would execute
//! it (tests/support/buildkit_run.py restates dockerfile2llb's `dispatchRun`), with the same
//! stdin, and the two forms must do the same thing.
//!
//! A real build is not possible on this machine: Debian 12's buildah 1.28 does not support
//! heredocs (from 1.35 on), and there is no BuildKit daemon. Running BuildKit's argv with
//! /bin/bash is what its runc executor would do, minus the container.

mod common;

use envc::emit::dockerfile::{self, Options};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// (command, stdin the build gives it, whether it succeeds, what it writes to `$ENVC_OUT`)
const CASES: &[(&str, &str, bool, &str)] = &[
    // A command reading stdin must see the build's stdin, not the rest of the script.
    (
        "read -r first\necho \"read:$first\" >> \"$ENVC_OUT\"\ncat > /dev/null\necho after-cat >> \"$ENVC_OUT\"\n",
        "from-build\n",
        true,
        "read:from-build\nafter-cat\n",
    ),
    (
        "cat\necho after-cat >> \"$ENVC_OUT\"\n",
        "",
        true,
        "after-cat\n",
    ),
    // -e: a failing line fails the step.
    (
        "echo one >> \"$ENVC_OUT\"\nfalse\necho not-reached >> \"$ENVC_OUT\"",
        "",
        false,
        "one\n",
    ),
    // pipefail: a failing command in a pipe fails the step.
    (
        "false | true\necho not-reached >> \"$ENVC_OUT\"",
        "",
        false,
        "",
    ),
    // A shebang is a comment to `bash -c`; as a heredoc's first line BuildKit would run the
    // body with that interpreter instead.
    (
        "#!/bin/false\necho ran >> \"$ENVC_OUT\"",
        "",
        true,
        "ran\n",
    ),
    // A body line equal to the usual delimiter does not end the heredoc.
    (
        "cat > /dev/null <<'ENVC_EOF'\nENVC_EOF\necho after >> \"$ENVC_OUT\"",
        "",
        true,
        "after\n",
    ),
];

/// A directory under `target/tmp`, removed when dropped (also when the test panics).
struct Scratch(PathBuf);

impl Scratch {
    fn new(label: &str) -> Scratch {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("heredoc-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn render(heredoc: bool) -> String {
    let mut spec = String::from("base_image: anyscale/ray:2.9.0-py310\npost_build_cmds:\n");
    for (cmd, ..) in CASES {
        spec.push_str(&format!("  - {}\n", serde_json::to_string(cmd).unwrap()));
    }
    let compiled = envc::compile(
        "heredoc.yaml",
        spec.as_bytes(),
        &Default::default(),
        &Default::default(),
    )
    .unwrap_or_else(|d| panic!("the spec does not compile: {d:#?}"));
    let options = Options {
        heredoc,
        ..Options::default()
    };
    dockerfile::render(&compiled.plan, &options).unwrap()
}

/// BuildKit's view of each RUN, or None when the parser is not installed.
fn runs(dir: &Path, text: &str) -> Option<Vec<serde_json::Value>> {
    let file = dir.join("Dockerfile");
    std::fs::write(&file, text).unwrap();
    let doc = common::support_json("buildkit_run.py", &file)?;
    Some(doc["runs"].as_array().unwrap().clone())
}

/// Runs one RUN as BuildKit would; returns (success, what it wrote to `$ENVC_OUT`).
fn execute(dir: &Path, run: &serde_json::Value, stdin: &str, n: usize) -> (bool, String) {
    let out = dir.join(format!("out-{n}"));
    std::fs::write(&out, "").unwrap();
    let mut cmd = if let Some(script) = run["script"].as_str() {
        let path = dir.join(format!("script-{n}"));
        std::fs::write(&path, script).unwrap();
        let _ = Command::new("chmod").arg("0755").arg(&path).status();
        Command::new(path)
    } else {
        let argv: Vec<&str> = run["argv"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        let mut c = Command::new(argv[0]);
        c.args(&argv[1..]);
        c
    };
    let mut child = cmd
        .env("ENVC_OUT", &out)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let ok = child.wait().unwrap().success();
    (ok, std::fs::read_to_string(&out).unwrap())
}

#[test]
fn issue_6_heredoc_scripts_keep_the_builds_stdin_and_mean_what_the_exec_form_means() {
    let dir = Scratch::new("run");
    let dir: &Path = &dir.0;
    let (Some(exec), Some(heredoc)) = (runs(dir, &render(false)), runs(dir, &render(true))) else {
        return;
    };
    assert_eq!(exec.len(), CASES.len());
    assert_eq!(heredoc.len(), CASES.len());
    let mut bad = Vec::new();
    for (i, ((cmd, stdin, ok, wrote), (e, h))) in
        CASES.iter().zip(exec.iter().zip(&heredoc)).enumerate()
    {
        assert_eq!(
            e["heredoc"], false,
            "{cmd:?} is an exec form without --heredoc"
        );
        assert_eq!(h["heredoc"], true, "{cmd:?} is a heredoc with --heredoc");
        let want = (*ok, wrote.to_string());
        let by_exec = execute(dir, e, stdin, 2 * i);
        let by_heredoc = execute(dir, h, stdin, 2 * i + 1);
        if by_exec != want || by_heredoc != want {
            bad.push(format!(
                "{cmd:?}: want {want:?}, exec form {by_exec:?}, heredoc {by_heredoc:?} ({h})"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
