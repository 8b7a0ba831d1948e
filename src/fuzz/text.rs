//! Text inputs read by envc's own parsers: runtime environments, `envc.toml`, exclude and
//! ignore patterns, lockfiles.

use crate::diag::Diagnostics;
use crate::input::source::SourceFile;
use crate::lock::file::Lockfile;
use crate::runtime_env::merge::{merge_child, merge_job};
use crate::runtime_env::parse::{parse, Level, RuntimeEnv};
use crate::runtime_env::pathspec::PathSpec;
use crate::runtime_env::RayRules;
use std::path::PathBuf;
use std::sync::Arc;

const RULES: [RayRules; 3] = [RayRules::V1, RayRules::V2_40, RayRules::V2_60];

/// An empty directory as the working directory local paths resolve against.
fn cwd() -> PathBuf {
    static DIR: std::sync::OnceLock<tempfile::TempDir> = std::sync::OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temp dir"))
        .path()
        .to_path_buf()
}

fn read(text: &str, level: Level, ray: RayRules) -> Option<RuntimeEnv> {
    let file = Arc::new(SourceFile::new("runtime_env.json", text.to_string()));
    let mut diags = Diagnostics::new(file.clone());
    let env = parse(file, &cwd(), level, ray, &mut diags);
    let diags = diags.into_vec();
    if env.is_none() {
        assert!(diags.iter().any(|d| d.is_error()), "a refusal says why");
    }
    for d in &diags {
        if let Some(s) = d.span {
            assert!(s.start <= s.end && s.end <= text.len() && text.is_char_boundary(s.end));
        }
    }
    env
}

/// The first byte picks Ray's rules and the level; the rest is one runtime env, or a parent
/// and a child split at the first NUL. Normalising is idempotent (the normal form, read
/// again, is itself), and so is every merge that succeeds.
pub fn runtime_env(data: &[u8]) {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let ray = RULES[usize::from(mode % 3)];
    let level = if mode & 4 == 0 {
        Level::Job
    } else {
        Level::TaskOrActor
    };
    let normal = |env: &RuntimeEnv| {
        let once = env.canonical_json();
        let again =
            read(&once, level, ray).unwrap_or_else(|| panic!("the normal form {once} is accepted"));
        assert_eq!(
            again.canonical_json(),
            once,
            "normalise(normalise(x)) == normalise(x)"
        );
    };
    match text.split_once('\0') {
        None => {
            if let Some(env) = read(text, level, ray) {
                normal(&env);
            }
        }
        Some((parent, child)) => {
            let (Some(p), Some(c)) = (read(parent, level, ray), read(child, level, ray)) else {
                return;
            };
            for merged in [merge_child(&p, &c), merge_job(&p, &c)]
                .into_iter()
                .flatten()
            {
                normal(&merged);
            }
        }
    }
}

/// `envc.toml`: refused with located errors, or read.
pub fn config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let file = Arc::new(SourceFile::new("envc.toml", text.to_string()));
    if let Err(diags) = crate::config::parse(file, None) {
        assert!(diags.iter().any(|d| d.is_error()));
        for d in &diags {
            if let Some(s) = d.span {
                assert!(s.start <= s.end && s.end <= text.len());
            }
        }
    }
}

/// Excludes and `.gitignore`/`.rayignore` lines, then paths after a NUL: compiling and
/// matching never panic, and matching is a function of the path.
pub fn pathspec(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (patterns, paths) = text.split_once('\0').unwrap_or((&text, "a/b/c.py"));
    let lines: Vec<String> = patterns.lines().map(str::to_string).collect();
    let Ok(spec) = PathSpec::from_lines(&lines) else {
        return;
    };
    for path in paths.split('\0') {
        let m = spec.match_file(path);
        assert_eq!(m, spec.match_file(path));
        if lines.is_empty() {
            assert!(!m, "no pattern matches nothing");
        }
    }
}

/// `envc.lock`: a lockfile that reads is written back to text that reads as the same lock
/// and is written the same again.
pub fn lockfile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(lock) = Lockfile::parse(text, "envc.lock") {
        let written = lock.to_text();
        let back = Lockfile::parse(&written, "envc.lock")
            .unwrap_or_else(|e| panic!("a written lock reads back: {e}\n{written}"));
        assert_eq!(back, lock, "the lock round-trips");
        assert_eq!(back.to_text(), written, "and is written the same");
    }
}
