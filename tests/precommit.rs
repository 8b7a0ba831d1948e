//! The pre-commit hooks shipped in `.pre-commit-hooks.yaml`, run by the real `pre-commit` tool.
//!
//! The hook definition is read from the repository's manifest; the test repository uses it as a
//! `repo: local` hook with `language: system` and the already built binary as its entry, so the
//! test needs no hook environment (no second cargo build of envc) and stays fast. Everything
//! pre-commit and git write goes to a throwaway directory under cargo's target tmp dir:
//! `PRE_COMMIT_HOME` points there, the user's and the system's git configuration are not read,
//! and `SKIP`, `PRE_COMMIT_*` and `GIT_*` from the caller's environment are dropped.
//!
//! Without `pre-commit` (PyPI) or `git` on PATH the tests print why and pass.

mod common;
use common::TempDir;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const ENVC: &str = env!("CARGO_BIN_EXE_envc");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");

const VALID_SPEC: &str = "\
base_image: anyscale/ray:2.9.0-py310
env_vars:
  MY_VAR: '123'
python:
  pip_packages:
    - numpy==1.26.4
post_build_cmds:
  - echo hello
";

const VALID_BYOD_SPEC: &str = "\
docker_image: registry.example.com/team/ray:2.9.0
ray_version: 2.9.0
";

/// `base_imge` is a misspelt `base_image`: E010 (unknown key), and E013 (base_image missing).
const INVALID_SPEC: &str = "\
base_imge: anyscale/ray:2.9.0-py310
debian_packages:
  - vim
";

/// True when `program --version` runs.
fn tool_available(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// A command run in `dir` with an environment that cannot leak into or out of the test: no
/// `SKIP`, `PRE_COMMIT_*` or `GIT_*` from the caller, pre-commit's cache in `home`, and git reading
/// neither the user's nor the system's configuration.
fn command(program: &str, dir: &Path, home: &Path) -> Command {
    let mut cmd = Command::new(program);
    cmd.current_dir(dir);
    for (key, _) in std::env::vars_os() {
        let k = key.to_string_lossy();
        if k == "SKIP" || k.starts_with("PRE_COMMIT") || k.starts_with("GIT_") {
            cmd.env_remove(&key);
        }
    }
    let gitconfig = home.join("gitconfig");
    if !gitconfig.exists() {
        fs::write(&gitconfig, "").expect("write empty global git config");
    }
    cmd.env("PRE_COMMIT_HOME", home.join("pre-commit"))
        .env("GIT_CONFIG_GLOBAL", &gitconfig)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_TERMINAL_PROMPT", "0");
    cmd
}

fn run<I, S>(program: &str, args: I, dir: &Path, home: &Path) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = command(program, dir, home);
    cmd.args(args);
    cmd.output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"))
}

fn combined(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn run_ok<I, S>(program: &str, args: I, dir: &Path, home: &Path) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let out = run(program, args, dir, home);
    let text = combined(&out);
    assert!(
        out.status.success(),
        "{program} failed ({}):\n{text}",
        out.status
    );
    text
}

/// The hooks of `.pre-commit-hooks.yaml`, each as its `key: value` pairs (scalars only, which is
/// all the manifest uses; quoted values unquoted).
fn manifest_hooks(text: &str) -> Vec<BTreeMap<String, String>> {
    let mut hooks: Vec<BTreeMap<String, String>> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let entry = if let Some(rest) = line.strip_prefix("- ") {
            hooks.push(BTreeMap::new());
            rest
        } else if line.starts_with("  ") {
            trimmed
        } else {
            panic!("unexpected top-level line in .pre-commit-hooks.yaml: {line:?}");
        };
        let (key, value) = entry
            .split_once(':')
            .unwrap_or_else(|| panic!("not `key: value`: {line:?}"));
        let hook = hooks
            .last_mut()
            .unwrap_or_else(|| panic!("a key before the first hook: {line:?}"));
        hook.insert(key.trim().to_string(), unquote(value.trim()));
    }
    hooks
}

fn unquote(value: &str) -> String {
    if let Some(inner) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
        inner.replace("''", "'")
    } else {
        assert!(
            !value.starts_with('"'),
            "use single quotes in .pre-commit-hooks.yaml (the test's reader knows only those): {value}"
        );
        value.to_string()
    }
}

fn yaml_single_quoted(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// `s` as one word for pre-commit's `shlex.split` of `entry`.
fn shell_word(s: &str) -> String {
    if s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

fn shipped_hooks() -> BTreeMap<String, BTreeMap<String, String>> {
    let path = Path::new(MANIFEST_DIR).join(".pre-commit-hooks.yaml");
    let text = fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    manifest_hooks(&text)
        .into_iter()
        .map(|h| (h.get("id").cloned().expect("a hook without id"), h))
        .collect()
}

#[test]
fn manifest_defines_both_hooks_alike() {
    let hooks = shipped_hooks();
    let ids: Vec<&str> = hooks.keys().map(String::as_str).collect();
    assert_eq!(ids, ["envc-check", "envc-check-system"]);
    let rust = &hooks["envc-check"];
    let system = &hooks["envc-check-system"];
    assert_eq!(rust["language"], "rust");
    assert_eq!(system["language"], "system");
    for hook in [rust, system] {
        assert_eq!(hook["entry"], "envc check", "{hook:?}");
        assert_ne!(
            hook.get("pass_filenames").map(String::as_str),
            Some("false"),
            "{hook:?}"
        );
        assert!(hook.contains_key("name") && hook.contains_key("files"));
    }
    assert_eq!(
        rust["files"], system["files"],
        "both hooks must select the same files"
    );

    if !tool_available("pre-commit") {
        println!("skipping: pre-commit not found (pre-commit validate-manifest not run)");
        return;
    }
    let home = TempDir::new("precommit-manifest");
    run_ok(
        "pre-commit",
        ["validate-manifest", ".pre-commit-hooks.yaml"],
        Path::new(MANIFEST_DIR),
        home.path(),
    );
}

fn write(repo: &Path, rel: &str, text: &str) {
    let path = repo.join(rel);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).expect("create dirs");
    }
    fs::write(&path, text).expect("write file");
}

#[test]
fn precommit_runs_shipped_hook_and_blocks_invalid_specs() {
    if !tool_available("pre-commit") {
        println!("skipping: pre-commit not found");
        return;
    }
    if !tool_available("git") {
        println!("skipping: git not found");
        return;
    }
    let hooks = shipped_hooks();
    let shipped = &hooks["envc-check-system"];
    let files = &shipped["files"];
    // The shipped entry is `envc check`; the test runs the binary cargo already built.
    let entry = shipped["entry"].replacen("envc", &shell_word(ENVC), 1);
    assert_eq!(entry, format!("{} check", shell_word(ENVC)));

    let tmp = TempDir::new("precommit");
    let home = tmp.path().join("home");
    let repo = tmp.path().join("repo");
    fs::create_dir_all(&home).unwrap();
    fs::create_dir_all(&repo).unwrap();

    run_ok("git", ["init", "-q"], &repo, &home);
    run_ok("git", ["config", "user.name", "envc test"], &repo, &home);
    run_ok(
        "git",
        ["config", "user.email", "envc-test@example.invalid"],
        &repo,
        &home,
    );
    run_ok("git", ["config", "commit.gpgsign", "false"], &repo, &home);

    let config = format!(
        "repos:\n  - repo: local\n    hooks:\n      - id: {id}\n        name: {name}\n        \
         entry: {entry}\n        language: system\n        files: {files}\n        \
         pass_filenames: true\n",
        id = shipped["id"],
        name = yaml_single_quoted(&shipped["name"]),
        entry = yaml_single_quoted(&entry),
        files = yaml_single_quoted(files),
    );
    write(&repo, ".pre-commit-config.yaml", &config);
    run_ok(
        "pre-commit",
        ["validate-config", ".pre-commit-config.yaml"],
        &repo,
        &home,
    );

    // Valid specs under names the pattern selects, and an invalid YAML file it must not select
    // (were it passed to envc, the run would fail).
    write(&repo, "cluster_env.yaml", VALID_SPEC);
    write(&repo, "deploy/byod/cluster-env.yml", VALID_BYOD_SPEC);
    write(&repo, "release/xgboost_app_config.yaml", VALID_SPEC);
    write(&repo, "environment.yml", INVALID_SPEC);
    write(&repo, "notes.yaml", INVALID_SPEC);
    run_ok("git", ["add", "-A"], &repo, &home);

    let run_all = ["run", "--all-files", "--color", "never"];
    let out = run("pre-commit", run_all, &repo, &home);
    let text = combined(&out);
    assert!(
        out.status.success(),
        "valid specs must pass ({}):\n{text}",
        out.status
    );
    assert!(text.contains("Passed"), "the hook did not run:\n{text}");

    // An invalid spec fails the run, with envc's diagnostic naming the file.
    write(&repo, "broken/cluster_env.yaml", INVALID_SPEC);
    run_ok("git", ["add", "-A"], &repo, &home);
    let out = run("pre-commit", run_all, &repo, &home);
    let text = combined(&out);
    assert!(
        !out.status.success(),
        "an invalid spec must fail the run:\n{text}"
    );
    assert!(text.contains("Failed"), "{text}");
    assert!(text.contains("error[E010]"), "no E010 diagnostic:\n{text}");
    assert!(
        text.contains("broken/cluster_env.yaml:1:1: error[E010]"),
        "the diagnostic does not name the file:\n{text}"
    );
    assert!(
        !text.contains("notes.yaml") && !text.contains("environment.yml"),
        "files outside the pattern were checked:\n{text}"
    );

    // Installed as a git hook, it refuses a commit that stages the invalid spec ...
    let installed = run_ok("pre-commit", ["install"], &repo, &home);
    assert!(
        repo.join(".git/hooks/pre-commit").is_file(),
        "pre-commit install wrote no hook:\n{installed}"
    );
    let out = run("git", ["commit", "-q", "-m", "add specs"], &repo, &home);
    let text = combined(&out);
    assert!(
        !out.status.success(),
        "the commit of an invalid spec must be refused:\n{text}"
    );
    assert!(text.contains("error[E010]"), "{text}");
    assert!(text.contains("broken/cluster_env.yaml"), "{text}");
    let head = run("git", ["rev-parse", "--verify", "-q", "HEAD"], &repo, &home);
    assert!(!head.status.success(), "a commit was made anyway");

    // ... and lets it through once the spec is fixed.
    write(&repo, "broken/cluster_env.yaml", VALID_SPEC);
    run_ok("git", ["add", "-A"], &repo, &home);
    let text = run_ok("git", ["commit", "-q", "-m", "add specs"], &repo, &home);
    assert!(text.contains("Passed"), "the hook did not run:\n{text}");
}
