//! The corpus of real cluster-environment specs (`../shared/corpus`, beside the repository).
//!
//! - every spec gets the verdict `EXPECTED.tsv` gives it, and every rejection is located;
//! - every accepted spec compiles to a Dockerfile that BuildKit's parser reads and hadolint
//!   finds no error in (`tests/support/dfcheck.py`; skipped with a reason if a tool is missing);
//! - every Jinja original renders (with the environment the corpus was rendered with) to a spec
//!   with the same verdict and digest as its rendered twin.
//!
//! Without the corpus the tests print why and pass.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

/// The environment the templated originals were rendered with.
const TEMPLATE_ENV: [(&str, &str); 4] = [
    ("RAY_IMAGE_NIGHTLY_CPU", "anyscale/ray:nightly-py37"),
    (
        "RAY_IMAGE_ML_NIGHTLY_GPU",
        "anyscale/ray-ml:nightly-py37-gpu",
    ),
    ("DATESTAMP", "20230101"),
    ("TIMESTAMP", "1672531200"),
];

fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `$ENVC_CORPUS`, else `../shared/corpus`, or `None` (after saying so) when it is not there.
/// The variable lets a checkout that is not beside `shared/` (a git worktree) run the corpus.
fn corpus_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("ENVC_CORPUS")
        .map_or_else(|| manifest_dir().join("../shared/corpus"), PathBuf::from);
    if dir.join("real-specs/EXPECTED.tsv").is_file() {
        Some(dir)
    } else {
        println!("skipping: corpus not found at {}", dir.display());
        None
    }
}

fn envc() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_envc"));
    cmd.env("NO_COLOR", "1");
    cmd
}

fn run(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"))
}

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

struct Row {
    file: String,
    expect_accept: bool,
    templated: bool,
}

fn expected_rows(corpus: &Path) -> Vec<Row> {
    let path = corpus.join("real-specs/EXPECTED.tsv");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("EXPECTED.tsv is empty")
        .split('\t')
        .collect();
    let column = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("EXPECTED.tsv has no column `{name}`: {header:?}"))
    };
    let (file, expect, templated) = (column("file"), column("expect"), column("templated"));
    let rows: Vec<Row> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let cells: Vec<&str> = line.split('\t').collect();
            let cell = |i: usize| cells.get(i).copied().unwrap_or("");
            let expect_accept = match cell(expect) {
                "accept" => true,
                "reject" => false,
                other => panic!("EXPECTED.tsv: bad expect `{other}` in {line:?}"),
            };
            Row {
                file: cell(file).to_owned(),
                expect_accept,
                templated: cell(templated) == "yes",
            }
        })
        .collect();
    assert!(!rows.is_empty(), "EXPECTED.tsv lists no files");
    rows
}

fn verdict(accept: bool) -> &'static str {
    if accept {
        "accept"
    } else {
        "reject"
    }
}

/// A fresh directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(test: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("envc-corpus-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

fn file_name(path: &str) -> String {
    Path::new(path)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.to_owned())
}

#[test]
fn corpus_verdicts_match_expected() {
    let Some(corpus) = corpus_dir() else { return };
    let specs = corpus.join("real-specs");
    let rows = expected_rows(&corpus);

    let out = run(envc()
        .args(["check", "--format", "json"])
        .args(rows.iter().map(|r| specs.join(&r.file))));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "`envc check --format json` printed no JSON ({e}); exit {}\nstdout:\n{}\nstderr:\n{}",
            code(&out),
            stdout(&out),
            stderr(&out)
        )
    });
    assert_eq!(doc["schema"], "envc.diagnostics/v1", "{doc}");
    let diagnostics = doc["diagnostics"]
        .as_array()
        .unwrap_or_else(|| panic!("no `diagnostics` array: {doc}"));

    // Errors per file name (every name in the corpus is unique).
    let mut errors: BTreeMap<String, Vec<&Value>> = BTreeMap::new();
    for d in diagnostics {
        let file = d["file"]
            .as_str()
            .unwrap_or_else(|| panic!("diagnostic without `file`: {d}"));
        if d["severity"] == "error" {
            errors.entry(file_name(file)).or_default().push(d);
        }
    }
    let known: Vec<&str> = rows.iter().map(|r| r.file.as_str()).collect();
    for name in errors.keys() {
        assert!(
            known.contains(&name.as_str()),
            "an error names `{name}`, which is not one of the files checked"
        );
    }

    let mut mismatches = Vec::new();
    let mut unlocated = Vec::new();
    let mut rejected = 0;
    for row in &rows {
        let errs = errors.get(&row.file).map(Vec::as_slice).unwrap_or(&[]);
        let accepted = errs.is_empty();
        if !accepted {
            rejected += 1;
        }
        if accepted != row.expect_accept {
            let first = errs
                .first()
                .map(|d| format!("{} {}", d["code"], d["message"]))
                .unwrap_or_default();
            mismatches.push(format!(
                "{:<8} {:<8} {}  {}",
                verdict(row.expect_accept),
                verdict(accepted),
                row.file,
                first
            ));
        }
        let located = errs.iter().any(|d| {
            d["line"].as_u64().is_some_and(|l| l >= 1)
                && d["column"].as_u64().is_some_and(|c| c >= 1)
        });
        if !accepted && !located {
            unlocated.push(format!(
                "{}: {}",
                row.file,
                errs.iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ));
        }
    }

    if !mismatches.is_empty() {
        println!(
            "verdict mismatches ({} of {}):",
            mismatches.len(),
            rows.len()
        );
        println!("{:<8} {:<8} file  first error", "expected", "got");
        for m in &mismatches {
            println!("{m}");
        }
    }
    if !unlocated.is_empty() {
        println!("rejected without a located error (line >= 1, column >= 1):");
        for u in &unlocated {
            println!("  {u}");
        }
    }
    assert!(
        mismatches.is_empty() && unlocated.is_empty(),
        "{} verdict mismatch(es), {} unlocated rejection(s); see the table above",
        mismatches.len(),
        unlocated.len()
    );
    let expected_rejected = rows.iter().filter(|r| !r.expect_accept).count();
    assert_eq!(rejected, expected_rejected);
    let want_exit = if rejected > 0 { 1 } else { 0 };
    assert_eq!(
        code(&out),
        want_exit,
        "`envc check` over the corpus: {rejected} rejected file(s), so exit {want_exit}\nstderr:\n{}",
        stderr(&out)
    );
}

/// The version-skew warnings (W020–W029) on the corpus are exactly those `tests/corpus-skew.tsv`
/// lists, each with the reason it is right: a new one is a false positive until it is listed.
#[test]
fn corpus_skew_warnings_are_the_listed_ones() {
    let Some(corpus) = corpus_dir() else { return };
    let specs = corpus.join("real-specs");
    let rows = expected_rows(&corpus);
    let out = run(envc()
        .args(["check", "--format", "json"])
        .args(rows.iter().map(|r| specs.join(&r.file))));
    let doc: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", stderr(&out)));
    let mut got: Vec<String> = doc["diagnostics"]
        .as_array()
        .expect("a `diagnostics` array")
        .iter()
        .filter(|d| d["code"].as_str().is_some_and(|c| c.starts_with("W02")))
        .map(|d| {
            let file = file_name(d["file"].as_str().unwrap_or(""));
            format!(
                "{file}\t{}\t{}",
                d["line"],
                d["code"].as_str().unwrap_or("")
            )
        })
        .collect();
    got.sort();
    let listed = fs::read_to_string(manifest_dir().join("tests/corpus-skew.tsv"))
        .expect("tests/corpus-skew.tsv");
    let mut want: Vec<String> = listed
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty() && !l.starts_with("file\t"))
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            assert!(
                cells.len() == 4 && !cells[3].trim().is_empty(),
                "tests/corpus-skew.tsv: a row is file, line, code and a reason: {l:?}"
            );
            cells[..3].join("\t")
        })
        .collect();
    want.sort();
    assert_eq!(
        got, want,
        "the corpus's W02x warnings differ from tests/corpus-skew.tsv (file, line, code): \
         list a right one there with its reason, or fix a false positive"
    );
}

/// The `vars[].name` of every `env` step of `envc plan FILE`, in order.
fn planned_env_names(spec: &Path) -> Result<Vec<String>, String> {
    let out = run(envc().arg("plan").arg(spec));
    if code(&out) != 0 {
        return Err(format!(
            "`envc plan` exited {}: {}",
            code(&out),
            stderr(&out)
        ));
    }
    let plan: Value =
        serde_json::from_slice(&out.stdout).map_err(|e| format!("`envc plan` JSON: {e}"))?;
    let steps = plan["steps"]
        .as_array()
        .ok_or_else(|| format!("plan has no `steps`: {plan}"))?;
    let mut names = Vec::new();
    for step in steps.iter().filter(|s| s["kind"] == "env") {
        let vars = step["vars"]
            .as_array()
            .ok_or_else(|| format!("env step without `vars`: {step}"))?;
        for var in vars {
            let name = var["name"]
                .as_str()
                .ok_or_else(|| format!("env var without `name`: {var}"))?;
            names.push(name.to_owned());
        }
    }
    Ok(names)
}

/// Runs `tests/support/dfcheck.py` once over `files`; `Err` is the reason to skip.
fn dfcheck(files: &[PathBuf]) -> Result<Value, String> {
    let script = manifest_dir().join("tests/support/dfcheck.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(files)
        .output()
        .map_err(|e| format!("cannot run python3: {e}"))?;
    match code(&out) {
        0 => Ok(serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("dfcheck.py printed bad JSON ({e}):\n{}", stdout(&out)))),
        2 => Err(stderr(&out).trim().to_owned()),
        c => panic!("dfcheck.py exited {c}:\n{}", stderr(&out)),
    }
}

#[test]
fn accepted_specs_compile_to_dockerfiles_that_buildkit_parses_and_hadolint_passes() {
    let Some(corpus) = corpus_dir() else { return };
    let specs = corpus.join("real-specs");
    let tmp = TempDir::new("dockerfiles");

    let mut failures = Vec::new();
    // (spec file name, Dockerfile path, env names from the plan)
    let mut compiled: Vec<(String, PathBuf, Vec<String>)> = Vec::new();
    for row in expected_rows(&corpus).iter().filter(|r| r.expect_accept) {
        let spec = specs.join(&row.file);
        let dockerfile = tmp.0.join(format!("{}.Dockerfile", row.file));
        let out = run(envc()
            .arg("dockerfile")
            .arg(&spec)
            .arg("-o")
            .arg(&dockerfile));
        if code(&out) != 0 || !dockerfile.is_file() {
            failures.push(format!(
                "{}: `envc dockerfile` exited {}:\n{}",
                row.file,
                code(&out),
                stderr(&out)
            ));
            continue;
        }
        match planned_env_names(&spec) {
            Ok(names) => compiled.push((row.file.clone(), dockerfile, names)),
            Err(e) => failures.push(format!("{}: {e}", row.file)),
        }
    }

    let paths: Vec<PathBuf> = compiled.iter().map(|(_, p, _)| p.clone()).collect();
    match dfcheck(&paths) {
        Err(reason) => {
            println!("skipping BuildKit/hadolint assertions: {reason}");
        }
        Ok(report) => {
            let entries = report["files"]
                .as_array()
                .unwrap_or_else(|| panic!("dfcheck.py: no `files`: {report}"));
            assert_eq!(
                entries.len(),
                compiled.len(),
                "dfcheck.py: one entry per file"
            );
            for ((name, path, env_names), entry) in compiled.iter().zip(entries) {
                assert_eq!(
                    entry["file"].as_str(),
                    path.to_str(),
                    "dfcheck.py answered out of order"
                );
                failures.extend(
                    check_dockerfile(path, env_names, entry)
                        .into_iter()
                        .map(|f| format!("{name}: {f}")),
                );
            }
        }
    }

    print_failures(&failures);
    assert!(
        failures.is_empty(),
        "{} failure(s) over {} accepted specs; see above",
        failures.len(),
        compiled.len()
    );
}

/// What is wrong with one generated Dockerfile, given its dfcheck.py entry.
fn check_dockerfile(path: &Path, env_names: &[String], entry: &Value) -> Vec<String> {
    let mut failures = Vec::new();
    if let Some(e) = entry["parse_error"].as_str() {
        failures.push(format!("BuildKit parse error: {e}"));
        return failures;
    }
    let instructions = entry["instructions"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    match instructions.first() {
        Some(i) if i["cmd"] == "FROM" => {}
        other => failures.push(format!(
            "first instruction is not FROM: {}",
            other.map_or("none".to_owned(), |i| i["original"].to_string())
        )),
    }

    // ENV pairs come as [k1, v1, k2, v2, …].
    let parsed_env: Vec<String> = instructions
        .iter()
        .filter(|i| i["cmd"] == "ENV")
        .flat_map(|i| {
            let value = i["value"].as_array().cloned().unwrap_or_default();
            value
                .iter()
                .step_by(2)
                .map(|k| k.as_str().unwrap_or_default().to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    if parsed_env != env_names {
        failures.push(format!(
            "ENV names as parsed {parsed_env:?} differ from the spec's env_vars {env_names:?}"
        ));
    }

    let text = fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    for finding in entry["hadolint"].as_array().into_iter().flatten() {
        if finding["level"] != "error" {
            continue;
        }
        let line = finding["line"].as_u64().unwrap_or(0) as usize;
        let source = line
            .checked_sub(1)
            .and_then(|i| lines.get(i))
            .copied()
            .unwrap_or("?");
        failures.push(format!(
            "hadolint {} (error) at line {line}: {}\n    {line}| {source}",
            finding["code"].as_str().unwrap_or("?"),
            finding["message"].as_str().unwrap_or("?"),
        ));
    }
    failures
}

fn plan_digest(spec: &Path, template: bool) -> Output {
    let mut cmd = envc();
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("NO_COLOR", "1")
        .args(["plan", "--digest"]);
    if template {
        cmd.arg("--template").envs(TEMPLATE_ENV);
    }
    run(cmd.arg(spec))
}

#[test]
fn templated_originals_get_the_same_verdict_and_digest() {
    let Some(corpus) = corpus_dir() else { return };
    let templated_dir = corpus.join("real-specs-templated");
    let specs = corpus.join("real-specs");
    let rows = expected_rows(&corpus);

    let mut names: Vec<String> = fs::read_dir(&templated_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", templated_dir.display()))
        .map(|e| {
            e.expect("read_dir entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    let listed: Vec<&str> = rows
        .iter()
        .filter(|r| r.templated)
        .map(|r| r.file.as_str())
        .collect();
    assert_eq!(
        names.len(),
        listed.len(),
        "real-specs-templated/ and EXPECTED.tsv (templated=yes) disagree on the count"
    );

    let mut failures = Vec::new();
    for name in &names {
        let original = templated_dir.join(name);
        let twin = specs.join(name);
        assert!(twin.is_file(), "{name} has no twin in real-specs/");
        let from_template = plan_digest(&original, true);
        let from_twin = plan_digest(&twin, false);
        let (a, b) = (code(&from_template), code(&from_twin));
        if a != b {
            failures.push(format!(
                "{name}: exit {a} from the template, {b} from the rendered twin\n  template stderr: {}\n  twin stderr: {}",
                stderr(&from_template).trim(),
                stderr(&from_twin).trim()
            ));
            continue;
        }
        if a == 0 {
            let (da, db) = (stdout(&from_template), stdout(&from_twin));
            let (da, db) = (da.trim(), db.trim());
            let well_formed = da
                .strip_prefix("sha256:")
                .is_some_and(|h| h.len() == 64 && h.bytes().all(|c| c.is_ascii_hexdigit()));
            if !well_formed {
                failures.push(format!("{name}: not a digest: {da:?}"));
            } else if da != db {
                failures.push(format!(
                    "{name}: digest {da} from the template, {db} from the twin"
                ));
            }
        }
        let expect_accept = rows
            .iter()
            .find(|r| r.file == *name)
            .map(|r| r.expect_accept);
        match expect_accept {
            None => failures.push(format!("{name}: not listed in EXPECTED.tsv")),
            Some(false) if a != 1 => failures.push(format!(
                "{name}: expected reject (exit 1), the template got exit {a}"
            )),
            Some(true) if a != 0 => failures.push(format!(
                "{name}: expected accept (exit 0), the template got exit {a}: {}",
                stderr(&from_template).trim()
            )),
            _ => {}
        }
    }
    let rejected = rows
        .iter()
        .filter(|r| r.templated && !r.expect_accept)
        .count();
    println!(
        "{} templated originals compared ({rejected} expected to reject)",
        names.len()
    );

    print_failures(&failures);
    assert!(
        failures.is_empty(),
        "{} failure(s); see above",
        failures.len()
    );
}

/// Lists every failure before the assertion that reports their count.
fn print_failures(failures: &[String]) {
    if !failures.is_empty() {
        println!("{} failure(s):", failures.len());
        for f in failures {
            println!("- {f}");
        }
    }
}
