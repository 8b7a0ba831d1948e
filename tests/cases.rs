//! Case directories: every directory under `tests/cases/` is one scenario, run through the real
//! binary. Adding a case is adding a directory; nothing here names a case.
//!
//! A case directory holds:
//!
//! * `env.yaml`: the input (a symlink into `fixtures/` for the golden specs). An input that is
//!   huge or awkward to review is not committed: `checks.toml` names a generator instead
//!   (`generate = "…"`, one of the functions in [`generate`]).
//! * `args.txt` (optional): the arguments of the case's run, one per line; without it the run
//!   is `dockerfile env.yaml`. The runner puts `--color never` in front and sets `COLUMNS=80`
//!   and `NO_COLOR=1`, so rendered diagnostics are plain text at width 80.
//! * Snapshots, compared byte for byte:
//!   - `expected.Dockerfile` (stdout of a `dockerfile` run), `expected.json` (stdout of a run
//!     that prints JSON: `plan`, `--format json`) or `expected.stdout` (anything else);
//!   - `expected.stderr`: the run's stderr, i.e. the rendered diagnostics;
//!   - `expected.exit`: the run's exit code;
//!   - `expected.plan.json`: `envc plan env.yaml` (absent when the spec is rejected);
//!   - `expected.diagnostics.json`: `envc check --format json env.yaml`.
//!
//!   An absent stdout/stderr/plan snapshot means "this output is empty"; `expected.exit` and
//!   `expected.diagnostics.json` are always required. A snapshot whose output is not empty but
//!   whose file is missing is a failure, as is any file the runner does not know.
//! * `checks.toml` (optional): properties that hold whatever the snapshots say, written by hand
//!   and never rewritten (the adversarial corpus). `expect = "reject"` with `codes`: every
//!   command (`check`, `check --format json`, `dockerfile -o`, `dockerfile --heredoc -o`) exits 1,
//!   reports at least one error with one of `codes` at `env.yaml:LINE:COL` (human) and with
//!   `line`/`column` (JSON), and writes nothing at the `-o` path. `expect = "render"` with
//!   `instructions`: every command exits 0 and both Dockerfiles (exec form and `--heredoc`),
//!   read by BuildKit's own parser through `tests/support/dfcheck.py`, hold exactly these
//!   instructions (ENV values un-escaped with BuildKit's rules, package `RUN`s split into shell
//!   words with their quoting checked) and hadolint can parse them. `expect =
//!   "reject-or-render"` accepts either. `heredoc_contains` lists text the `--heredoc`
//!   Dockerfile must contain. When the checker's tools are missing those BuildKit assertions
//!   are skipped with a printed reason; everything else still runs.
//!
//! Every invocation must exit 0 or 1 (never a panic's 101) with no `panicked` on stderr.
//!
//! Snapshots change on purpose only: `UPDATE_SNAPSHOTS=1 cargo test --test cases` (or the old
//! name, `UPDATE_GOLDEN=1`) rewrites them, and the diff is reviewed in git. Each case runs in a
//! fresh copy of its input under the temp dir (below an empty `envc.toml`, so no configuration
//! found further up applies), so file names in the output are the relative `env.yaml` and
//! nothing is written next to the cases.
//!
//! All failures are collected and reported together, one block per case, with a line diff.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde::Deserialize;
use serde_json::Value;

const BASH_C: [&str; 5] = ["/bin/bash", "-e", "-o", "pipefail", "-c"];

/// The files a case directory may hold.
const KNOWN: &[&str] = &[
    "env.yaml",
    "args.txt",
    "checks.toml",
    "expected.Dockerfile",
    "expected.json",
    "expected.stdout",
    "expected.stderr",
    "expected.exit",
    "expected.plan.json",
    "expected.diagnostics.json",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/cases")
}

fn updating() -> bool {
    ["UPDATE_SNAPSHOTS", "UPDATE_GOLDEN"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| v == "1"))
}

// ---- What a case expects -------------------------------------------------------------------

/// One expected Dockerfile instruction.
#[derive(Clone, Debug)]
enum Ins {
    From(String),
    /// `SHELL [...]` in JSON form, exactly these words.
    Shell(Vec<String>),
    /// `ENV NAME="…"`; the value is what BuildKit makes of the quoted word, with every variable
    /// reference written `⟨NAME⟩` and every other character literal.
    Env(String, String),
    User(String),
    /// A shell-form `RUN` whose text splits into exactly these shell words.
    Words(Vec<String>),
    /// A `RUN` that hands exactly this command to bash: shell form or exec form for a single
    /// line; exec form (default) or a heredoc (`--heredoc`) for several lines.
    Cmd(String),
}

/// One entry of `instructions` in `checks.toml`: exactly one of the keys (`env` with `means`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InsEntry {
    from: Option<String>,
    shell: Option<Vec<String>>,
    env: Option<String>,
    means: Option<String>,
    user: Option<String>,
    run_words: Option<Vec<String>>,
    run: Option<String>,
}

impl InsEntry {
    fn into_ins(self) -> Result<Ins, String> {
        let mut out = Vec::new();
        if let Some(x) = self.from {
            out.push(Ins::From(x));
        }
        if let Some(x) = self.shell {
            out.push(Ins::Shell(x));
        }
        match (self.env, self.means) {
            (Some(n), Some(v)) => out.push(Ins::Env(n, v)),
            (None, None) => {}
            _ => return Err("`env` and `means` go together".into()),
        }
        if let Some(x) = self.user {
            out.push(Ins::User(x));
        }
        if let Some(x) = self.run_words {
            out.push(Ins::Words(x));
        }
        if let Some(x) = self.run {
            out.push(Ins::Cmd(x));
        }
        match <[Ins; 1]>::try_from(out) {
            Ok([one]) => Ok(one),
            Err(v) => Err(format!(
                "an instruction needs exactly one kind, found {}",
                v.len()
            )),
        }
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Debug)]
#[serde(rename_all = "kebab-case")]
enum ExpectKind {
    Reject,
    Render,
    RejectOrRender,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ChecksFile {
    expect: Option<ExpectKind>,
    #[serde(default)]
    codes: Vec<String>,
    instructions: Option<Vec<InsEntry>>,
    generate: Option<String>,
    #[serde(default)]
    heredoc_contains: Vec<String>,
}

/// `checks.toml`, validated.
#[derive(Default)]
struct Checks {
    expect: Option<ExpectKind>,
    codes: Vec<String>,
    instructions: Vec<Ins>,
    generate: Option<String>,
    heredoc_contains: Vec<String>,
}

fn read_checks(dir: &Path) -> Result<Checks, String> {
    let path = dir.join("checks.toml");
    let Ok(text) = fs::read_to_string(&path) else {
        return Ok(Checks::default());
    };
    let raw: ChecksFile = toml::from_str(&text).map_err(|e| format!("checks.toml: {e}"))?;
    let instructions = raw
        .instructions
        .map(|v| v.into_iter().map(InsEntry::into_ins).collect())
        .transpose()
        .map_err(|e| format!("checks.toml: {e}"))?;
    let needs_codes = matches!(
        raw.expect,
        Some(ExpectKind::Reject | ExpectKind::RejectOrRender)
    );
    let needs_instructions = matches!(
        raw.expect,
        Some(ExpectKind::Render | ExpectKind::RejectOrRender)
    );
    if needs_codes == raw.codes.is_empty() {
        return Err(format!(
            "checks.toml: `codes` belongs with expect = \"reject\" or \"reject-or-render\" (expect = {:?})",
            raw.expect
        ));
    }
    if needs_instructions != instructions.is_some() {
        return Err(format!(
            "checks.toml: `instructions` belongs with expect = \"render\" or \"reject-or-render\" (expect = {:?})",
            raw.expect
        ));
    }
    if !raw.heredoc_contains.is_empty() && !needs_instructions {
        return Err("checks.toml: `heredoc_contains` needs a rendering expectation".into());
    }
    if let Some(g) = &raw.generate {
        if generate(g).is_none() {
            return Err(format!("checks.toml: unknown generator {g:?}"));
        }
    }
    Ok(Checks {
        expect: raw.expect,
        codes: raw.codes,
        instructions: instructions.unwrap_or_default(),
        generate: raw.generate,
        heredoc_contains: raw.heredoc_contains,
    })
}

// ---- Generated inputs ----------------------------------------------------------------------

const HEAD: &str = "base_image: anyscale/ray:2.9.0-py310\n";

/// Inputs too big to commit, by the name a case's `generate` gives.
fn generate(name: &str) -> Option<Vec<u8>> {
    match name {
        // A syntactically valid spec padded with comments to 50 MiB.
        "comments-to-50-mib" => {
            const SIZE: usize = 50 * 1024 * 1024;
            let mut out = Vec::with_capacity(SIZE + 1024);
            out.extend_from_slice(HEAD.as_bytes());
            let line = format!("# {}\n", "x".repeat(1021));
            while out.len() < SIZE {
                out.extend_from_slice(line.as_bytes());
            }
            Some(out)
        }
        // A list nested 10,000 levels deep in flow style.
        "flow-nesting-10000" => Some(
            format!(
                "{HEAD}debian_packages: {}jq{}\n",
                "[".repeat(10_000),
                "]".repeat(10_000)
            )
            .into_bytes(),
        ),
        _ => None,
    }
}

// ---- Running envc --------------------------------------------------------------------------

fn envc(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_envc"))
        .arg("--color")
        .arg("never")
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .env("COLUMNS", "80")
        .env_remove("CLICOLOR_FORCE")
        .env_remove("SOURCE_DATE_EPOCH")
        .output()
        .expect("run envc")
}

/// Exit 0 or 1 and no panic message; returns the exit code.
fn sane(out: &Output, what: &str, fails: &mut Vec<String>) -> Option<i32> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    if stderr.contains("panicked") {
        fails.push(format!("{what}: panicked: {}", first_lines(&stderr)));
    }
    match out.status.code() {
        Some(c @ (0 | 1)) => Some(c),
        other => {
            fails.push(format!(
                "{what}: exit {other:?} (want 0 or 1); stderr: {}",
                first_lines(&stderr)
            ));
            None
        }
    }
}

fn first_lines(s: &str) -> String {
    let mut t: String = s.lines().take(8).collect::<Vec<_>>().join(" | ");
    if t.len() > 600 {
        let mut cut = 600;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        t.truncate(cut);
        t.push('…');
    }
    t
}

// ---- Snapshots -----------------------------------------------------------------------------

/// Compares `actual` with the snapshot `name` in `dir` (absent = empty), or rewrites it.
fn snapshot(dir: &Path, name: &str, actual: &[u8], always: bool, fails: &mut Vec<String>) {
    compare_or_update(dir, name, actual, always, updating(), fails);
}

fn compare_or_update(
    dir: &Path,
    name: &str,
    actual: &[u8],
    always: bool,
    update: bool,
    fails: &mut Vec<String>,
) {
    let path = dir.join(name);
    let current = fs::read(&path).ok();
    let wanted = !actual.is_empty() || always;
    if update {
        match (&current, wanted) {
            (Some(c), true) if c == actual => {}
            (_, true) => fs::write(&path, actual).expect("write snapshot"),
            (Some(_), false) => fs::remove_file(&path).expect("remove snapshot"),
            (None, false) => {}
        }
        return;
    }
    match (current, wanted) {
        (None, false) => {}
        (None, true) => fails.push(format!(
            "{name} is missing; the output is:\n{}",
            indent(&String::from_utf8_lossy(actual))
        )),
        (Some(c), false) => fails.push(format!(
            "{name} exists but the output is empty; its content:\n{}",
            indent(&String::from_utf8_lossy(&c))
        )),
        (Some(c), true) if c == actual => {}
        (Some(c), true) => fails.push(format!(
            "{name} differs (- snapshot, + actual):\n{}",
            diff(&c, actual)
        )),
    }
}

fn indent(s: &str) -> String {
    let mut out = String::new();
    for l in s.lines().take(40) {
        let _ = writeln!(out, "    | {}", shown(l));
    }
    out
}

/// A line as it is shown in a report: control characters escaped, long lines cut.
fn shown(line: &str) -> String {
    let mut out = String::new();
    for c in line.chars() {
        if out.len() > 200 {
            out.push('…');
            break;
        }
        if c.is_control() && c != '\t' {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// A line diff (longest common subsequence), with two lines of context around each change.
fn diff(old: &[u8], new: &[u8]) -> String {
    let old = String::from_utf8_lossy(old);
    let new = String::from_utf8_lossy(new);
    // `split_inclusive` keeps a missing final newline visible as a difference.
    let a: Vec<&str> = old.split_inclusive('\n').collect();
    let b: Vec<&str> = new.split_inclusive('\n').collect();
    if a.len() * b.len() > 4_000_000 {
        let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(0);
        return format!(
            "    too long to diff; first difference at line {}:\n    - {}\n    + {}\n",
            first + 1,
            shown(a.get(first).unwrap_or(&"")),
            shown(b.get(first).unwrap_or(&""))
        );
    }
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = Vec::new(); // (' ' | '-' | '+', line)
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', a[i]));
            i += 1;
        } else {
            ops.push(('+', b[j]));
            j += 1;
        }
    }
    let near = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|(op, _)| *op != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near(k) {
            if skipped {
                out.push_str("    …\n");
                skipped = false;
            }
            let end = if line.ends_with('\n') {
                ""
            } else {
                "  (no newline at end)"
            };
            let _ = writeln!(out, "    {op} {}{end}", shown(line.trim_end_matches('\n')));
        } else {
            skipped = true;
        }
    }
    out
}

// ---- One case ------------------------------------------------------------------------------

struct Case {
    name: String,
    dir: PathBuf,
    args: Vec<String>,
    checks: Checks,
}

fn load(dir: &Path) -> Result<Case, String> {
    let name = dir.file_name().unwrap().to_string_lossy().into_owned();
    let mut unknown = Vec::new();
    for e in fs::read_dir(dir).map_err(|e| e.to_string())? {
        let file = e.map_err(|e| e.to_string())?.file_name();
        let file = file.to_string_lossy();
        if !KNOWN.contains(&file.as_ref()) {
            unknown.push(file.into_owned());
        }
    }
    if !unknown.is_empty() {
        unknown.sort();
        return Err(format!("unexpected files {unknown:?} (known: {KNOWN:?})"));
    }
    let checks = read_checks(dir)?;
    let has_input = dir.join("env.yaml").exists();
    if has_input == checks.generate.is_some() {
        return Err("needs exactly one of `env.yaml` and `generate` in checks.toml".into());
    }
    let args = match fs::read_to_string(dir.join("args.txt")) {
        Ok(text) => {
            if !text.ends_with('\n') || text.lines().any(str::is_empty) {
                return Err(
                    "args.txt: one argument per line, each line ending in a newline".into(),
                );
            }
            text.lines().map(str::to_string).collect()
        }
        Err(_) => vec!["dockerfile".to_string(), "env.yaml".to_string()],
    };
    Ok(Case {
        name,
        dir: dir.to_path_buf(),
        args,
        checks,
    })
}

/// Where the stdout of a run with these arguments is kept.
fn stdout_name(args: &[String]) -> &'static str {
    let json = args.first().is_some_and(|a| a == "plan")
        || args
            .windows(2)
            .any(|w| w[0] == "--format" && w[1] == "json");
    if args.first().is_some_and(|a| a == "dockerfile") {
        "expected.Dockerfile"
    } else if json {
        "expected.json"
    } else {
        "expected.stdout"
    }
}

struct Rendered {
    case: usize,
    heredoc: bool,
    path: PathBuf,
}

/// Copies the case's input into a fresh working directory (following the fixtures' symlinks)
/// or generates it there.
fn prepare(case: &Case, work: &Path) -> PathBuf {
    let dir = work.join(&case.name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("create case work dir");
    let input = match &case.checks.generate {
        Some(g) => generate(g).expect("known generator"),
        None => fs::read(case.dir.join("env.yaml")).expect("read env.yaml"),
    };
    fs::write(dir.join("env.yaml"), input).expect("write env.yaml");
    dir
}

fn run_case(
    idx: usize,
    case: &Case,
    work: &Path,
    fails: &mut Vec<String>,
    rendered: &mut Vec<Rendered>,
) {
    let dir = prepare(case, work);

    // The case's own run.
    let args: Vec<&str> = case.args.iter().map(String::as_str).collect();
    let out = envc(&dir, &args);
    let what = args.join(" ");
    sane(&out, &what, fails);
    snapshot(
        &case.dir,
        stdout_name(&case.args),
        &out.stdout,
        false,
        fails,
    );
    snapshot(&case.dir, "expected.stderr", &out.stderr, false, fails);
    let code = match out.status.code() {
        Some(c) => format!("{c}\n"),
        None => "killed by a signal\n".to_string(),
    };
    snapshot(&case.dir, "expected.exit", code.as_bytes(), true, fails);

    // The plan JSON and the diagnostics JSON of every spec.
    let plan = envc(&dir, &["plan", "env.yaml"]);
    if let Some(c) = sane(&plan, "plan", fails) {
        if (c == 0) == plan.stdout.is_empty() {
            fails.push(format!(
                "plan: exit {c} with {} bytes on stdout",
                plan.stdout.len()
            ));
        }
    }
    snapshot(&case.dir, "expected.plan.json", &plan.stdout, false, fails);
    let diags = envc(&dir, &["check", "--format", "json", "env.yaml"]);
    let diags_code = sane(&diags, "check --format json", fails);
    snapshot(
        &case.dir,
        "expected.diagnostics.json",
        &diags.stdout,
        true,
        fails,
    );

    if let Some(expect) = case.checks.expect {
        properties(idx, case, expect, &dir, &diags, diags_code, fails, rendered);
    }
    // Do not keep a generated input around (it may be 50 MiB), even when the case fails.
    if case.checks.generate.is_some() {
        let _ = fs::remove_file(dir.join("env.yaml"));
    }
}

/// The hand-written properties of `checks.toml`, over every command.
#[allow(clippy::too_many_arguments)]
fn properties(
    idx: usize,
    case: &Case,
    expect: ExpectKind,
    dir: &Path,
    json: &Output,
    json_code: Option<i32>,
    fails: &mut Vec<String>,
    rendered: &mut Vec<Rendered>,
) {
    let human = envc(dir, &["check", "env.yaml"]);
    let Some(code) = sane(&human, "check", fails) else {
        return;
    };
    let stderr = String::from_utf8_lossy(&human.stderr);
    let codes: Option<Vec<&str>> = match expect {
        ExpectKind::Reject => Some(case.checks.codes.iter().map(String::as_str).collect()),
        ExpectKind::Render => None,
        ExpectKind::RejectOrRender => {
            (code == 1).then(|| case.checks.codes.iter().map(String::as_str).collect())
        }
    };

    for heredoc in [false, true] {
        let out_name = if heredoc {
            "out.heredoc.Dockerfile"
        } else {
            "out.Dockerfile"
        };
        let out = dir.join(out_name);
        let _ = fs::remove_file(&out);
        let mut args = vec!["dockerfile"];
        if heredoc {
            args.push("--heredoc");
        }
        let what = args.join(" ");
        args.extend(["env.yaml", "-o", out_name]);
        let res = envc(dir, &args);
        let Some(dcode) = sane(&res, &what, fails) else {
            continue;
        };
        if codes.is_some() {
            if dcode != 1 {
                fails.push(format!("{what}: exit {dcode}, want 1 (rejected)"));
            }
            if out.exists() {
                fails.push(format!(
                    "{what}: wrote {out_name} although the spec is rejected"
                ));
            }
        } else if dcode != 0 {
            fails.push(format!(
                "{what}: exit {dcode}, want 0; stderr: {}",
                first_lines(&String::from_utf8_lossy(&res.stderr))
            ));
        } else if !out.exists() {
            fails.push(format!("{what}: exit 0 but nothing at -o"));
        } else {
            if heredoc {
                let text = fs::read_to_string(&out).unwrap_or_default();
                for want in &case.checks.heredoc_contains {
                    if !text.contains(want.as_str()) {
                        fails.push(format!("{what}: the Dockerfile lacks {want:?}"));
                    }
                }
            }
            rendered.push(Rendered {
                case: idx,
                heredoc,
                path: out,
            });
        }
    }

    if let Some(codes) = codes {
        if code != 1 {
            fails.push(format!("check: exit {code}, want 1 (expected {codes:?})"));
            return;
        }
        if !located_human(&stderr, "env.yaml", &codes) {
            fails.push(format!(
                "check: no `FILE:LINE:COL: error[{}]` line; stderr: {}",
                codes.join("|"),
                first_lines(&stderr)
            ));
        }
        if json_code != Some(1) {
            fails.push(format!("check --format json: exit {json_code:?}, want 1"));
        }
        if let Err(e) = located_json(&json.stdout, &codes) {
            fails.push(format!("check --format json: {e}"));
        }
    } else if code != 0 {
        fails.push(format!(
            "check: exit {code}, want 0 (valid); stderr: {}",
            first_lines(&stderr)
        ));
    }
}

/// The human diagnostics contain `FILE:LINE:COL: error[CODE]` for one of `codes`.
fn located_human(stderr: &str, file: &str, codes: &[&str]) -> bool {
    stderr.lines().any(|line| {
        codes.iter().any(|code| {
            let marker = format!(": error[{code}]:");
            let Some(at) = line.find(&marker) else {
                return false;
            };
            let Some(rest) = line[..at].strip_prefix(file) else {
                return false;
            };
            let mut parts = rest.split(':');
            matches!(
                (parts.next(), parts.next(), parts.next(), parts.next()),
                (Some(""), Some(l), Some(c), None)
                    if l.parse::<u64>().is_ok_and(|n| n >= 1)
                        && c.parse::<u64>().is_ok_and(|n| n >= 1)
            )
        })
    })
}

/// The JSON diagnostics hold an error with one of `codes` and a line and column.
fn located_json(stdout: &[u8], codes: &[&str]) -> Result<(), String> {
    let doc: Value =
        serde_json::from_slice(stdout).map_err(|e| format!("stdout is not JSON: {e}"))?;
    let diags = doc["diagnostics"]
        .as_array()
        .ok_or("no `diagnostics` array")?;
    let found = diags.iter().any(|d| {
        d["severity"] == "error"
            && d["code"].as_str().is_some_and(|c| codes.contains(&c))
            && d["line"].as_u64().is_some_and(|n| n >= 1)
            && d["column"].as_u64().is_some_and(|n| n >= 1)
    });
    if found {
        Ok(())
    } else {
        let seen: Vec<String> = diags
            .iter()
            .map(|d| format!("{}@{}:{}", d["code"], d["line"], d["column"]))
            .collect();
        Err(format!(
            "no located error with code {codes:?}; diagnostics: {}",
            seen.join(", ")
        ))
    }
}

// ---- The test ------------------------------------------------------------------------------

fn case_dirs() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = fs::read_dir(root())
        .expect("read tests/cases")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    dirs
}

#[test]
fn cases() {
    let work = std::env::temp_dir().join(format!("envc-cases-{}", std::process::id()));
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).expect("create temp dir");
    // envc looks for an `envc.toml` upwards from the spec's directory; an empty one above the
    // cases stops that search here, so a stray file higher up cannot change their output.
    fs::write(work.join("envc.toml"), "").expect("write envc.toml");

    let dirs = case_dirs();
    let mut cases = Vec::new();
    let mut fails: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in &dirs {
        match load(dir) {
            Ok(c) => cases.push(c),
            Err(e) => fails
                .entry(dir.file_name().unwrap().to_string_lossy().into_owned())
                .or_default()
                .push(e),
        }
    }
    let mut case_fails: Vec<Vec<String>> = vec![Vec::new(); cases.len()];
    let mut rendered = Vec::new();
    for (idx, c) in cases.iter().enumerate() {
        run_case(idx, c, &work, &mut case_fails[idx], &mut rendered);
    }
    buildkit_checks(&cases, &rendered, &mut case_fails);
    for (c, f) in cases.iter().zip(case_fails) {
        if !f.is_empty() {
            fails.entry(c.name.clone()).or_default().extend(f);
        }
    }

    let with_checks = cases.iter().filter(|c| c.checks.expect.is_some()).count();
    eprintln!(
        "cases: {} directories ({} with checks.toml properties), {} failed",
        dirs.len(),
        with_checks,
        fails.len()
    );
    let mut report = String::new();
    for (name, f) in &fails {
        let _ = writeln!(report, "case `{name}`:");
        for line in f {
            let _ = writeln!(report, "  {line}");
        }
    }
    if fails.is_empty() {
        let _ = fs::remove_dir_all(&work);
    }
    assert!(
        fails.is_empty(),
        "{} of {} cases failed (work dirs kept in {}; if a snapshot change is intended, run \
         `UPDATE_SNAPSHOTS=1 cargo test --test cases` and review the diff):\n{report}",
        fails.len(),
        dirs.len(),
        work.display()
    );
    // The corpus cannot shrink unnoticed: 12 golden specs, 3 option variants, 156 hostile cases.
    assert!(
        dirs.len() >= 171 && with_checks >= 156,
        "only {} cases ({} with checks)",
        dirs.len(),
        with_checks
    );
}

/// One checker run for every rendered Dockerfile of a `checks.toml` case.
fn buildkit_checks(cases: &[Case], rendered: &[Rendered], fails: &mut [Vec<String>]) {
    if rendered.is_empty() {
        return;
    }
    let paths: Vec<&Path> = rendered.iter().map(|r| r.path.as_path()).collect();
    let checker = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/support/dfcheck.py");
    let out = match Command::new("python3").arg(&checker).args(&paths).output() {
        Err(e) => {
            eprintln!("skipping BuildKit/hadolint assertions: python3 could not run: {e}");
            return;
        }
        Ok(out) if out.status.code() == Some(2) => {
            eprintln!(
                "skipping BuildKit/hadolint assertions: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            );
            return;
        }
        Ok(out) => out,
    };
    assert!(
        out.status.success(),
        "dfcheck.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).expect("dfcheck JSON");
    let files = doc["files"].as_array().expect("files array");
    assert_eq!(files.len(), rendered.len(), "one result per file");
    for (r, file) in rendered.iter().zip(files) {
        let mode = if r.heredoc { "--heredoc" } else { "exec" };
        for e in check_parsed(file, &cases[r.case].checks.instructions, r.heredoc) {
            fails[r.case].push(format!("{mode} Dockerfile: {e}"));
        }
    }
}

fn s(v: &str) -> String {
    v.to_string()
}

// ---- Interpreting BuildKit's parse ------------------------------------------------------

/// What BuildKit makes of an ENV word as envc writes it: double-quoted runs (escapes resolved by
/// BuildKit's double-quote rules) joined by bare `\\` escapes (envc writes a backslash that
/// precedes a quote or ends the value outside the quotes, for hadolint's sake); references are
/// written `⟨NAME⟩`. Any other bare text is an error.
fn env_word(raw: &str) -> Result<String, String> {
    if !raw.starts_with('"') || !raw.ends_with('"') || raw.len() < 2 {
        return Err(format!(
            "ENV value {raw:?} does not start and end with a double quote"
        ));
    }
    let chars: Vec<char> = raw.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    let mut quoted = false;
    while i < chars.len() {
        if !quoted {
            match (chars[i], chars.get(i + 1)) {
                ('"', _) => {
                    quoted = true;
                    i += 1;
                }
                ('\\', Some('\\')) => {
                    out.push('\\');
                    i += 2;
                }
                (c, _) => return Err(format!("{raw:?}: unquoted {c:?} outside the quotes")),
            }
            continue;
        }
        match chars[i] {
            '\\' => {
                let next = chars
                    .get(i + 1)
                    .ok_or_else(|| format!("{raw:?}: escapes the closing quote"))?;
                if matches!(next, '"' | '$' | '\\') {
                    out.push(*next);
                    i += 2;
                } else {
                    out.push('\\');
                    i += 1;
                }
            }
            '"' => {
                quoted = false;
                i += 1;
            }
            '$' => {
                let name_ok = |c: &char| c.is_ascii_alphanumeric() || *c == '_';
                if chars.get(i + 1) == Some(&'{') {
                    let start = i + 2;
                    let mut j = start;
                    while j < chars.len() && name_ok(&chars[j]) {
                        j += 1;
                    }
                    if j == start || chars.get(j) != Some(&'}') {
                        return Err(format!("{raw:?}: `${{…}}` form other than a reference"));
                    }
                    let name: String = chars[start..j].iter().collect();
                    let _ = write!(out, "⟨{name}⟩");
                    i = j + 1;
                } else if chars
                    .get(i + 1)
                    .is_some_and(|c| c.is_ascii_alphabetic() || *c == '_')
                {
                    let start = i + 1;
                    let mut j = start;
                    while j < chars.len() && name_ok(&chars[j]) {
                        j += 1;
                    }
                    let name: String = chars[start..j].iter().collect();
                    let _ = write!(out, "⟨{name}⟩");
                    i = j;
                } else {
                    return Err(format!("{raw:?}: bare `$` BuildKit may interpret"));
                }
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    if quoted {
        return Err(format!("{raw:?}: unterminated quote"));
    }
    Ok(out)
}

/// Splits shell text into words, failing on anything the shell would interpret besides a
/// standalone `&&` (expansions, redirections, separators, comments, unquoted globs other than
/// the one `rm` argument envc writes).
fn shell_words(text: &str) -> Result<Vec<String>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut words = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        if chars[i].is_whitespace() {
            i += 1;
            continue;
        }
        if chars[i] == '&'
            && chars.get(i + 1) == Some(&'&')
            && chars.get(i + 2).is_none_or(|c| c.is_whitespace())
        {
            words.push(s("&&"));
            i += 2;
            continue;
        }
        if chars[i] == '#' {
            return Err(format!("a comment starts at {:?}", tail(&chars, i)));
        }
        let mut word = String::new();
        let mut globbed = false;
        while i < chars.len() && !chars[i].is_whitespace() {
            match chars[i] {
                '\'' => {
                    i += 1;
                    while i < chars.len() && chars[i] != '\'' {
                        word.push(chars[i]);
                        i += 1;
                    }
                    if i == chars.len() {
                        return Err(s("unterminated single quote"));
                    }
                    i += 1;
                }
                '"' => {
                    i += 1;
                    loop {
                        match chars.get(i) {
                            None => return Err(s("unterminated double quote")),
                            Some('"') => break,
                            Some('\\')
                                if chars
                                    .get(i + 1)
                                    .is_some_and(|c| matches!(c, '"' | '$' | '\\' | '`')) =>
                            {
                                word.push(chars[i + 1]);
                                i += 2;
                            }
                            Some('$' | '`') => {
                                return Err(format!(
                                    "expansion inside double quotes at {:?}",
                                    tail(&chars, i)
                                ))
                            }
                            Some(c) => {
                                word.push(*c);
                                i += 1;
                            }
                        }
                    }
                    i += 1;
                }
                '\\' => {
                    let c = *chars.get(i + 1).ok_or("trailing backslash")?;
                    word.push(c);
                    i += 2;
                }
                ';' | '&' | '|' | '<' | '>' | '(' | ')' | '$' | '`' => {
                    return Err(format!(
                        "unquoted shell operator or expansion at {:?}",
                        tail(&chars, i)
                    ))
                }
                c => {
                    if matches!(c, '*' | '?' | '[' | '{' | '~') {
                        globbed = true;
                    }
                    word.push(c);
                    i += 1;
                }
            }
        }
        if globbed && word != "/var/lib/apt/lists/*" {
            return Err(format!("unquoted glob or brace in word {word:?}"));
        }
        words.push(word);
    }
    Ok(words)
}

fn tail(chars: &[char], i: usize) -> String {
    chars[i..].iter().take(30).collect()
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

/// Checks one parsed instruction against its expectation.
fn check_ins(got: &Value, want: &Ins, heredoc_mode: bool) -> Result<(), String> {
    let cmd = got["cmd"].as_str().unwrap_or_default();
    let json = got["json"].as_bool().unwrap_or(false);
    let value = strs(&got["value"]);
    let flags = strs(&got["flags"]);
    let heredocs = got["heredocs"].as_array().cloned().unwrap_or_default();
    let want_cmd = match want {
        Ins::From(_) => "FROM",
        Ins::Shell(_) => "SHELL",
        Ins::Env(..) => "ENV",
        Ins::User(_) => "USER",
        Ins::Words(_) | Ins::Cmd(_) => "RUN",
    };
    if cmd != want_cmd {
        return Err(format!("{cmd} where {want_cmd} was expected ({want:?})"));
    }
    if !flags.is_empty() {
        return Err(format!("{cmd} carries flags {flags:?}"));
    }
    if !matches!(want, Ins::Cmd(_)) && !heredocs.is_empty() {
        return Err(format!("{cmd} has heredocs {heredocs:?}"));
    }
    match want {
        Ins::From(image) => {
            if value != [image.clone()] {
                return Err(format!("FROM value {value:?}, want [{image:?}]"));
            }
        }
        Ins::Shell(want) => {
            if !json || &value != want {
                return Err(format!("SHELL json={json} {value:?}, want {want:?}"));
            }
        }
        Ins::User(u) => {
            if value != [u.clone()] {
                return Err(format!("USER {value:?}, want {u:?}"));
            }
        }
        Ins::Env(name, semantic) => {
            if value.len() != 2 || &value[0] != name {
                return Err(format!(
                    "ENV value {value:?}, want name {name:?} and one word"
                ));
            }
            let meant = env_word(&value[1])?;
            if &meant != semantic {
                return Err(format!(
                    "ENV {name} means {meant:?}, want {semantic:?} (raw {:?})",
                    value[1]
                ));
            }
        }
        Ins::Words(words) => {
            if json || value.len() != 1 {
                return Err(format!("RUN json={json} {value:?}, want shell form"));
            }
            let got = shell_words(&value[0]).map_err(|e| format!("RUN {:?}: {e}", value[0]))?;
            if &got != words {
                return Err(format!("RUN words {got:?}, want {words:?}"));
            }
        }
        Ins::Cmd(c) => {
            let exec: Vec<String> = BASH_C
                .iter()
                .map(|x| s(x))
                .chain(std::iter::once(c.clone()))
                .collect();
            let multi = c.contains('\n');
            if multi && heredoc_mode {
                let [h] = heredocs.as_slice() else {
                    return Err(format!("RUN has {} heredocs, want 1", heredocs.len()));
                };
                let name = h["name"].as_str().unwrap_or_default();
                let content = h["content"].as_str().unwrap_or_default();
                // The exec form's `-e -o pipefail`, then the command (issue 6).
                let want_content = if c.ends_with('\n') {
                    format!("set -e -o pipefail\n{c}")
                } else {
                    format!("set -e -o pipefail\n{c}\n")
                };
                if content != want_content {
                    return Err(format!(
                        "heredoc content {content:?}, want {want_content:?}"
                    ));
                }
                if c.lines().any(|l| l == name) {
                    return Err(format!("heredoc delimiter {name:?} is a line of the body"));
                }
                // Nothing but the heredoc, so BuildKit passes the script to the SHELL as an
                // argument rather than on a shell's stdin (issue 6).
                let quoted = format!("<<'{name}'");
                if json || value != [quoted.clone()] {
                    return Err(format!(
                        "heredoc RUN {value:?}, want `RUN {quoted}` (quoted delimiter)"
                    ));
                }
            } else if !heredocs.is_empty() {
                return Err(format!("RUN has unexpected heredocs {heredocs:?}"));
            } else if multi {
                if !json || value != exec {
                    return Err(format!(
                        "RUN json={json} {value:?}, want exec form {exec:?}"
                    ));
                }
            } else if !((json && value == exec) || (!json && value == [c.clone()])) {
                return Err(format!(
                    "RUN json={json} {value:?}, want shell form [{c:?}] or exec form {exec:?}"
                ));
            }
        }
    }
    Ok(())
}

fn check_parsed(file: &Value, want: &[Ins], heredoc_mode: bool) -> Vec<String> {
    let mut errs = Vec::new();
    if let Some(e) = file["parse_error"].as_str() {
        errs.push(format!("BuildKit parse error: {e}"));
        return errs;
    }
    let got = file["instructions"].as_array().cloned().unwrap_or_default();
    let got_cmds: Vec<&str> = got
        .iter()
        .map(|i| i["cmd"].as_str().unwrap_or_default())
        .collect();
    if got.len() != want.len() {
        errs.push(format!(
            "{} instructions {got_cmds:?}, want {} ({want:?})",
            got.len(),
            want.len()
        ));
    }
    for (n, (g, w)) in got.iter().zip(want).enumerate() {
        if let Err(e) = check_ins(g, w, heredoc_mode) {
            errs.push(format!("instruction {}: {e}", n + 1));
        }
    }
    for f in file["hadolint"].as_array().into_iter().flatten() {
        if f["code"] == "DL1000" {
            errs.push(format!("hadolint cannot parse the file: {}", f["message"]));
        }
    }
    errs
}

/// The runner's own rules: a missing snapshot fails and is not created, an empty output wants
/// no file, an unknown file fails the case, and a mismatch is shown as a line diff.
#[test]
fn runner_refuses_missing_unknown_and_different_files() {
    let dir = std::env::temp_dir().join(format!("envc-cases-self-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();

    let mut fails = Vec::new();
    compare_or_update(&dir, "expected.stderr", b"oops\n", false, false, &mut fails);
    assert!(
        fails[0].starts_with("expected.stderr is missing"),
        "{fails:?}"
    );
    assert!(
        !dir.join("expected.stderr").exists(),
        "created without updating"
    );

    let mut fails = Vec::new();
    compare_or_update(&dir, "expected.exit", b"0\n", true, false, &mut fails);
    assert_eq!(fails.len(), 1, "a required file may not be absent");

    let mut fails = Vec::new();
    compare_or_update(&dir, "expected.stderr", b"", false, false, &mut fails);
    assert!(
        fails.is_empty(),
        "an absent file is an empty output: {fails:?}"
    );

    fs::write(dir.join("expected.Dockerfile"), "FROM a\nRUN x\nUSER 1\n").unwrap();
    let mut fails = Vec::new();
    let actual = b"FROM a\nRUN y\nUSER 1\n";
    compare_or_update(
        &dir,
        "expected.Dockerfile",
        actual,
        false,
        false,
        &mut fails,
    );
    assert_eq!(
        fails,
        ["expected.Dockerfile differs (- snapshot, + actual):\n      FROM a\n    - RUN x\n    + RUN y\n      USER 1\n"]
    );
    let mut fails = Vec::new();
    compare_or_update(&dir, "expected.Dockerfile", b"", false, false, &mut fails);
    assert!(
        fails[0].contains("exists but the output is empty"),
        "{fails:?}"
    );
    compare_or_update(
        &dir,
        "expected.Dockerfile",
        b"",
        false,
        true,
        &mut Vec::new(),
    );
    assert!(
        !dir.join("expected.Dockerfile").exists(),
        "updating removes it"
    );

    fs::write(dir.join("env.yaml"), HEAD).unwrap();
    fs::write(dir.join("expected.txt"), "").unwrap();
    let err = load(&dir).err().unwrap_or_default();
    assert!(err.contains("unexpected files [\"expected.txt\"]"), "{err}");
    fs::remove_file(dir.join("expected.txt")).unwrap();
    fs::write(dir.join("args.txt"), "dockerfile\n\nenv.yaml\n").unwrap();
    assert!(load(&dir).is_err(), "an empty argument line is refused");

    let _ = fs::remove_dir_all(&dir);
}
