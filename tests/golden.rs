//! Golden Dockerfiles: every `fixtures/NAME.yaml` compiles to exactly `fixtures/NAME.Dockerfile`
//! (plus option variants such as `NAME.heredoc.Dockerfile`). Updating them is deliberate:
//! `UPDATE_GOLDEN=1 cargo test --test golden` rewrites them, and the diff is reviewed in git.
//! Every golden is also read back by BuildKit's parser, whose instruction list must be exactly
//! the one the plan implies, and linted by hadolint with zero errors.

use envc::emit::dockerfile::{self, Options};
use envc::plan::{Plan, Step};
use std::path::{Path, PathBuf};
use std::process::Command;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// (fixture stem, variant suffix, options)
fn cases() -> Vec<(String, &'static str, Options)> {
    let mut out = Vec::new();
    let mut stems: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .filter_map(|e| {
            let p = e.unwrap().path();
            (p.extension()? == "yaml").then(|| p.file_stem()?.to_str().map(str::to_string))?
        })
        .collect();
    stems.sort();
    for stem in stems {
        out.push((stem.clone(), "", Options::default()));
        if stem == "multiline-setup" {
            let heredoc = Options {
                heredoc: true,
                ..Options::default()
            };
            out.push((stem.clone(), ".heredoc", heredoc));
        }
        if stem == "seed" || stem == "training-gpu" {
            let cache = Options {
                cache_mounts: true,
                ..Options::default()
            };
            out.push((stem.clone(), ".cache-mounts", cache));
        }
    }
    out
}

fn compile(stem: &str) -> Plan {
    let path = fixtures().join(format!("{stem}.yaml"));
    let bytes = std::fs::read(&path).unwrap();
    let name = format!("fixtures/{stem}.yaml");
    match envc::compile(&name, &bytes, &Default::default(), &Default::default()) {
        Ok(c) => c.plan,
        Err(d) => panic!("{name} does not compile: {d:#?}"),
    }
}

#[test]
fn dockerfiles_match_goldens() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some_and(|v| v == "1");
    let mut stale = Vec::new();
    for (stem, suffix, options) in cases() {
        let text = dockerfile::render(&compile(&stem), &options).unwrap();
        let golden = fixtures().join(format!("{stem}{suffix}.Dockerfile"));
        let current = std::fs::read_to_string(&golden).unwrap_or_default();
        if current != text {
            if update {
                std::fs::write(&golden, &text).unwrap();
            } else {
                stale.push(format!(
                    "{}\n--- expected (golden)\n{current}\n--- actual\n{text}",
                    golden.display()
                ));
            }
        }
    }
    assert!(
        stale.is_empty(),
        "goldens differ (run `UPDATE_GOLDEN=1 cargo test --test golden` if the change is intended):\n{}",
        stale.join("\n")
    );
}

/// The instruction names the plan implies, in order.
fn expected_instructions(plan: &Plan, options: &Options) -> Vec<String> {
    let mut out = vec!["FROM".to_string()];
    if plan.steps.iter().any(|s| !matches!(s, Step::Env { .. })) {
        out.push("SHELL".into());
    }
    let mut uid = None;
    for step in &plan.steps {
        let step_uid = match step {
            Step::Env { vars } => {
                out.extend(vars.iter().map(|_| "ENV".to_string()));
                continue;
            }
            Step::Debian { uid, .. }
            | Step::Conda { uid, .. }
            | Step::Pip { uid, .. }
            | Step::Run { uid, .. } => *uid,
        };
        if uid != Some(step_uid) {
            out.push("USER".into());
            uid = Some(step_uid);
        }
        out.push("RUN".into());
    }
    if uid == Some(0) {
        out.push("USER".into()); // back to the image user at the end
    }
    let _ = options;
    out
}

#[test]
fn goldens_parse_with_buildkit_and_pass_hadolint() {
    let all = cases();
    let files: Vec<String> = all
        .iter()
        .map(|(stem, suffix, _)| {
            fixtures()
                .join(format!("{stem}{suffix}.Dockerfile"))
                .display()
                .to_string()
        })
        .collect();
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
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut failures = Vec::new();
    for ((stem, suffix, options), entry) in all.iter().zip(doc["files"].as_array().unwrap()) {
        let name = format!("{stem}{suffix}.Dockerfile");
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
        let want = expected_instructions(&compile(stem), options);
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
