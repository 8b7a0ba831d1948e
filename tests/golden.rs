//! Golden Dockerfiles, read back by the real consumers. The goldens themselves are the
//! `expected.Dockerfile` snapshots of the case directories under `tests/cases/` (compared byte
//! for byte with the binary's output by `tests/cases.rs`; `UPDATE_SNAPSHOTS=1 cargo test --test
//! cases` rewrites them). Here every one of them (the golden specs, their option variants and
//! the hostile cases that render) is parsed by BuildKit's parser, whose instruction list must be
//! exactly the one the case's plan implies, and linted by hadolint with zero errors. The plan is
//! the case's `expected.plan.json`, which `tests/cases.rs` proves equal to what `envc plan`
//! prints.

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

/// (case name, its golden Dockerfile, its plan JSON)
fn goldens() -> Vec<(String, PathBuf, Value)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let golden = dir.join("expected.Dockerfile");
        if !golden.exists() {
            continue;
        }
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let plan = std::fs::read(dir.join("expected.plan.json"))
            .unwrap_or_else(|e| panic!("{name}: expected.plan.json: {e}"));
        let plan = serde_json::from_slice(&plan)
            .unwrap_or_else(|e| panic!("{name}: expected.plan.json: {e}"));
        out.push((name, golden, plan));
    }
    // 12 golden specs, 3 option variants (heredoc, cache mounts), the rendering hostile cases.
    assert!(out.len() >= 45, "only {} goldens", out.len());
    out
}

/// The instruction names the plan implies, in order.
fn expected_instructions(plan: &Value) -> Vec<String> {
    let steps = plan["steps"].as_array().expect("plan steps");
    let mut out = vec!["FROM".to_string()];
    if steps.iter().any(|s| s["kind"] != "env") {
        out.push("SHELL".into());
    }
    let mut uid = None;
    for step in steps {
        if step["kind"] == "env" {
            let vars = step["vars"].as_array().expect("env vars");
            out.extend(vars.iter().map(|_| "ENV".to_string()));
            continue;
        }
        let step_uid = step["uid"].as_u64().expect("step uid");
        if uid != Some(step_uid) {
            out.push("USER".into());
            uid = Some(step_uid);
        }
        out.push("RUN".into());
    }
    if uid == Some(0) {
        out.push("USER".into()); // back to the image user at the end
    }
    out
}

#[test]
fn goldens_parse_with_buildkit_and_pass_hadolint() {
    let all = goldens();
    let files: Vec<&Path> = all.iter().map(|(_, p, _)| p.as_path()).collect();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dfcheck.py");
    let out = Command::new("python3").arg(&script).args(&files).output();
    let out = match out {
        Ok(o) if o.status.code() == Some(2) => {
            eprintln!(
                "skipping BuildKit/hadolint checks: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            );
            return;
        }
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipping BuildKit/hadolint checks: python3 not runnable: {e}");
            return;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut failures = Vec::new();
    for ((name, _, plan), entry) in all.iter().zip(doc["files"].as_array().unwrap()) {
        let name = format!("tests/cases/{name}/expected.Dockerfile");
        if !entry["parse_error"].is_null() {
            failures.push(format!(
                "{name}: BuildKit parse error {}",
                entry["parse_error"]
            ));
            continue;
        }
        let got: Vec<String> = entry["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["cmd"].as_str().unwrap().to_string())
            .collect();
        let want = expected_instructions(plan);
        if got != want {
            failures.push(format!("{name}: instructions {got:?}, expected {want:?}"));
        }
        // A heredoc RUN must be nothing but its heredoc, so BuildKit passes the script to the
        // SHELL as an argument (never on a shell's stdin, issue 6), and must not start with
        // `#!` (BuildKit would run it with that interpreter instead).
        for i in entry["instructions"].as_array().unwrap() {
            let Some(doc) = i["heredocs"].as_array().and_then(|h| h.first()) else {
                continue;
            };
            let marker = format!("<<'{}'", doc["name"].as_str().unwrap());
            let content = doc["content"].as_str().unwrap();
            if i["value"] != serde_json::json!([marker]) || content.starts_with("#!") {
                failures.push(format!("{name}: heredoc RUN {}", i["original"]));
            }
        }
        for finding in entry["hadolint"].as_array().unwrap() {
            if finding["level"] == "error" {
                failures.push(format!("{name}: hadolint {finding}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
