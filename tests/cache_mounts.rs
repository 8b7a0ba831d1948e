//! `--cache-mounts` must cache what it says and change nothing else (issue 17). The seed spec
//! (apt, conda and pip packages) is compiled with and without the option and both files are
//! read by BuildKit's parser (tests/support/dfcheck.py); then, for the Anyscale bases (Ubuntu,
//! with debuerreotype's `/etc/apt/apt.conf.d/docker-clean`):
//! - no cache is mounted over a directory the base image has (it would hide the base's files
//!   during the step: a mount at `anaconda3/pkgs` hid the base's conda packages);
//! - apt's archive directory and its package lists are inside a cache mount, and the archive
//!   directory is not one `docker-clean` empties after every dpkg run and `update`;
//! - conda's first package directory is in a cache mount, with the image's own after it;
//! - each RUN is the same command with and without the option once the cache-only settings
//!   are taken out, so the image gets the same content (the old conda step dropped
//!   `conda clean` with the option, keeping the base's tarballs in the image).
//!
//! That apt then really reuses the cache behind `docker-clean` was seen with podman 4.3 on a
//! Debian base carrying that file (second build: lists not fetched again, "Need to get 0 B");
//! conda channels are not reachable from here.

mod common;

use envc::emit::dockerfile::{self, Options};
use std::path::Path;

/// Directories every Anyscale base has that a cache must not be mounted over (or above).
const BASE_DIRS: &[&str] = &[
    "/var/cache/apt",
    "/var/cache/apt/archives",
    "/var/lib/apt/lists",
    "/home/ray/anaconda3/pkgs",
];

/// What `docker-clean` deletes after each dpkg run and each `apt-get update` (debuerreotype).
const DOCKER_CLEAN_DIRS: &[&str] = &[
    "/var/cache/apt/archives/",
    "/var/cache/apt/archives/partial/",
];

/// (mount flags, shell command) of each RUN, as BuildKit reads them; None without the tools.
fn runs(cache_mounts: bool) -> Option<Vec<(Vec<String>, String)>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let spec = std::fs::read(root.join("fixtures/seed.yaml")).unwrap();
    let plan = envc::compile("seed.yaml", &spec, &Default::default(), &Default::default())
        .unwrap_or_else(|d| panic!("{d:#?}"))
        .plan;
    let options = Options {
        cache_mounts,
        ..Options::default()
    };
    let text = dockerfile::render(&plan, &options).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!(
        "cache-mounts-{}-{cache_mounts}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("Dockerfile");
    std::fs::write(&file, &text).unwrap();
    let doc = common::support_json("dfcheck.py", &file);
    let _ = std::fs::remove_dir_all(&dir);
    let doc = doc?;
    let file = &doc["files"][0];
    assert!(file["parse_error"].is_null(), "{}", file["parse_error"]);
    let strs = |v: &serde_json::Value| -> Vec<String> {
        v.as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap().to_string())
            .collect()
    };
    Some(
        file["instructions"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|i| i["cmd"] == "RUN" && i["json"] == false)
            .map(|i| (strs(&i["flags"]), strs(&i["value"]).join(" ")))
            .collect(),
    )
}

/// The targets of a RUN's cache mounts.
fn cache_targets(flags: &[String]) -> Vec<String> {
    flags
        .iter()
        .filter_map(|f| f.strip_prefix("--mount="))
        .filter(|m| m.split(',').any(|kv| kv == "type=cache"))
        .filter_map(|m| m.split(',').find_map(|kv| kv.strip_prefix("target=")))
        .map(|t| format!("{}/", t.trim_end_matches('/')))
        .collect()
}

/// Whether `path` is a cache target or under one.
fn inside(path: &str, targets: &[String]) -> bool {
    let path = format!("{}/", path.trim_end_matches('/'));
    targets.iter().any(|t| path.starts_with(t.as_str()))
}

/// Each `apt-get` of a command with its `-o KEY=VALUE` options: (archive dir, lists dir).
fn apt_dirs(cmd: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for simple in cmd.split("&&") {
        let words: Vec<&str> = simple.split_whitespace().collect();
        let Some(at) = words.iter().position(|w| *w == "apt-get") else {
            continue;
        };
        let mut opts = std::collections::HashMap::new();
        let mut i = at + 1;
        while words.get(i) == Some(&"-o") {
            if let Some((k, v)) = words.get(i + 1).and_then(|kv| kv.split_once('=')) {
                opts.insert(k.to_string(), v.to_string());
            }
            i += 2;
        }
        let dir = |v: &str| format!("{}/", v.trim_end_matches('/'));
        let cache = opts
            .get("Dir::Cache")
            .map_or("/var/cache/apt/".to_string(), |v| dir(v));
        let archives = match opts.get("Dir::Cache::Archives") {
            Some(a) if a.starts_with('/') => dir(a),
            Some(a) => format!("{cache}{}", dir(a)),
            None => format!("{cache}archives/"),
        };
        let lists = opts
            .get("Dir::State::Lists")
            .map_or("/var/lib/apt/lists/".to_string(), |v| dir(v));
        out.push((archives, lists));
    }
    out
}

/// A command with its cache-only settings taken out (only those that point into `targets`).
fn without_cache_settings(cmd: &str, targets: &[String]) -> String {
    let mut kept: Vec<String> = Vec::new();
    for simple in cmd.split("&&") {
        let words: Vec<&str> = simple.split_whitespace().collect();
        if words.first() == Some(&"mkdir") && words[2..].iter().all(|p| inside(p, targets)) {
            continue;
        }
        let mut out: Vec<&str> = Vec::new();
        let mut i = 0;
        while i < words.len() {
            let w = words[i];
            if w == "-o" {
                let kv = words.get(i + 1).copied().unwrap_or_default();
                let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
                let cache_only = match k {
                    "Dir::Cache" | "Dir::State::Lists" => inside(v, targets),
                    "APT::Keep-Downloaded-Packages" => true,
                    _ => false,
                };
                if cache_only {
                    i += 2;
                    continue;
                }
            }
            if let Some(dirs) = w.strip_prefix("CONDA_PKGS_DIRS=") {
                if dirs.split(',').next().is_some_and(|d| inside(d, targets)) {
                    i += 1;
                    continue;
                }
            }
            out.push(w);
            i += 1;
        }
        kept.push(out.join(" "));
    }
    kept.join(" && ")
}

#[test]
fn issue_17_cache_mounts_cache_apt_and_conda_without_hiding_or_changing_the_base() {
    let (Some(plain), Some(cached)) = (runs(false), runs(true)) else {
        return;
    };
    assert_eq!(plain.len(), cached.len());
    let mut bad = Vec::new();
    for ((_, plain_cmd), (flags, cmd)) in plain.iter().zip(&cached) {
        let targets = cache_targets(flags);
        for t in &targets {
            if BASE_DIRS
                .iter()
                .any(|d| format!("{d}/").starts_with(t.as_str()))
            {
                bad.push(format!(
                    "a cache mounted at {t} hides the base's files: {cmd}"
                ));
            }
        }
        for (archives, lists) in apt_dirs(cmd) {
            if !inside(&archives, &targets) || DOCKER_CLEAN_DIRS.contains(&archives.as_str()) {
                bad.push(format!(
                    "apt keeps debs in {archives}, not kept by a cache (mounts {targets:?}) or emptied by docker-clean: {cmd}"
                ));
            }
            if !inside(&lists, &targets) {
                bad.push(format!("apt's lists in {lists} are not cached: {cmd}"));
            }
        }
        if cmd.contains("/bin/conda install") {
            let dirs = cmd
                .split_whitespace()
                .find_map(|w| w.strip_prefix("CONDA_PKGS_DIRS="))
                .unwrap_or("/home/ray/anaconda3/pkgs");
            let dirs: Vec<&str> = dirs.split(',').collect();
            if !inside(dirs[0], &targets) || !dirs.contains(&"/home/ray/anaconda3/pkgs") {
                bad.push(format!(
                    "conda's package dirs {dirs:?}: the first must be cached, the image's kept: {cmd}"
                ));
            }
        }
        // pip's cache replaces `--no-cache-dir`; everything else must be the same.
        let plain_cmd = plain_cmd.replace(" --no-cache-dir", "");
        let a = plain_cmd.split_whitespace().collect::<Vec<_>>().join(" ");
        let b = without_cache_settings(cmd, &targets);
        if a != b {
            bad.push(format!(
                "with --cache-mounts the step does more than cache:\n  without: {a}\n  with:    {b}"
            ));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}
