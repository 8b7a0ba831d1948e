//! Runtime environments end to end, through the `envc` binary: `runtime-env check|normalize|
//! merge|uri` and `envc package`, against Ray's rules, messages and vectors in
//! `../shared/reference/runtime-env.md`, plus the bad inputs packaging must refuse cleanly
//! (nothing written at `-o`, no temp files left beside it).

mod common;

use common::{envc, run, Run, TempDir};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

/// `envc ARGS…` run in `dir` (relative paths in a runtime env resolve against it).
fn envc_in<I, S>(dir: &Path, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(envc().current_dir(dir).args(args))
}

fn write(dir: &Path, rel: &str, text: &str) {
    let p = dir.join(rel);
    if let Some(parent) = p.parent() {
        fs::create_dir_all(parent).unwrap();
    }
    fs::write(p, text).unwrap();
}

/// Asserts the run printed exactly this located diagnostic line on stderr.
fn assert_diag(r: &Run, file: &str, line: usize, col: usize, sev: &str, code: &str, msg: &str) {
    let want = format!("{file}:{line}:{col}: {sev}[{code}]: {msg}");
    assert!(
        r.stderr.lines().any(|l| l == want),
        "missing diagnostic\n  {want}\n{r}"
    );
}

/// `runtime-env check FILE` of one runtime env written as `text`: exit 1 with this error.
fn check_error(
    text: &str,
    ext: &str,
    extra: &[&str],
    line: usize,
    col: usize,
    code: &str,
    msg: &str,
) {
    let t = TempDir::new("rte-check-err");
    let file = format!("env.{ext}");
    write(t.path(), &file, text);
    let mut args = vec!["runtime-env", "check", &file];
    args.extend_from_slice(extra);
    // These cases are Ray 2.40's verdicts unless a case names its Ray.
    if !extra.contains(&"--ray") {
        args.extend_from_slice(&["--ray", "2.40"]);
    }
    let r = envc_in(t.path(), &args).no();
    assert_diag(&r, &file, line, col, "error", code, msg);
}

fn package_json(dir: &Path, extra: &[&str]) -> Value {
    let mut args: Vec<&OsStr> = vec![OsStr::new("package"), dir.as_os_str()];
    args.extend(extra.iter().map(OsStr::new));
    args.extend([OsStr::new("--format"), OsStr::new("json")]);
    run(envc().args(args)).ok().json()
}

fn uri_of(dir: &Path, extra: &[&str]) -> String {
    package_json(dir, extra)["uri"]
        .as_str()
        .unwrap()
        .to_string()
}

fn paths_of(pkg: &Value) -> Vec<String> {
    pkg["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

/// The entry names of a zip, read by Python's `zipfile`.
fn zip_names(zip: &Path) -> Vec<String> {
    let out = Command::new("python3")
        .args([
            "-c",
            "import json, sys, zipfile; print(json.dumps(zipfile.ZipFile(sys.argv[1]).namelist()))",
        ])
        .arg(zip)
        .output()
        .expect("python3 must be installed");
    assert!(
        out.status.success(),
        "zipfile failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

// ---------------------------------------------------------------------------------------------
// check

#[test]
fn check_accepts_a_valid_job_env_in_yaml_and_json() {
    let t = TempDir::new("rte-valid");
    fs::create_dir(t.join("code")).unwrap();
    write(
        t.path(),
        "env.yaml",
        "working_dir: code\npip:\n  - requests\n  - chess\nenv_vars:\n  A: a\n  B: \"1\"\n",
    );
    write(
        t.path(),
        "env.json",
        r#"{"working_dir": "code", "pip": ["requests", "chess"], "env_vars": {"A": "a", "B": "1"}}"#,
    );
    for file in ["env.yaml", "env.json"] {
        let r = envc_in(t.path(), ["runtime-env", "check", file]).ok();
        assert!(!r.stderr.contains("error["), "{r}");
        let r = envc_in(t.path(), ["runtime-env", "check", file, "--format", "json"]).ok();
        let doc = r.json();
        assert_eq!(doc["diagnostics"], json!([]), "{r}");
        assert_eq!(doc["isolated"], json!([]), "{r}");
    }
    let y = envc_in(t.path(), ["runtime-env", "normalize", "env.yaml"]).ok();
    let j = envc_in(t.path(), ["runtime-env", "normalize", "env.json"]).ok();
    assert_eq!(y.stdout, j.stdout);
}

#[test]
fn check_pip_errors_are_rays() {
    check_error(
        r#"{"pip": {"packages": ["a"], "foo": 1}}"#,
        "json",
        &[],
        1,
        29,
        "E061",
        "runtime_env['pip'] can only have these fields: packages, pip_check and pip_version, but got: ['packages', 'foo']",
    );
    check_error(
        r#"{"pip": {"pip_check": false}}"#,
        "json",
        &[],
        1,
        9,
        "E061",
        "runtime_env['pip'] must include field 'packages', but got {'pip_check': False}",
    );
    check_error(
        "pip: 1\n",
        "yaml",
        &[],
        1,
        6,
        "E061",
        "runtime_env['pip'] must be of type str or List[str], got <class 'int'>",
    );
    check_error(
        "env_vars: {A: a}\npip: requirements.txt\n",
        "yaml",
        &[],
        2,
        6,
        "E061",
        "requirements.txt is not a valid file",
    );
}

#[test]
fn check_conda_errors_are_rays() {
    check_error(
        r#"{"conda": ["x"]}"#,
        "json",
        &[],
        1,
        11,
        "E062",
        "runtime_env['conda'] must be of type str or dict, got <class 'list'>.",
    );
    check_error(
        "conda: ./envs/environment.yml\n",
        "yaml",
        &[],
        1,
        8,
        "E062",
        "Can't find conda YAML file envs/environment.yml.",
    );
    check_error(
        r#"{"pip": [], "conda": "x"}"#,
        "json",
        &[],
        1,
        13,
        "E063",
        "The 'pip' field, 'uv' field, and 'conda' field of runtime_env cannot be specified at the same time.",
    );
    check_error(
        r#"{"pip": ["a"], "conda": "x"}"#,
        "json",
        &["--ray", "1"],
        1,
        16,
        "E063",
        "The 'pip' field and 'conda' field of runtime_env cannot both be specified.",
    );
}

/// Issue 7, item 9: what Ray 2.40's `RuntimeEnv.__init__` refuses, refused with its words.
#[test]
fn regression_issue7_fields_ray_refuses_together() {
    check_error(
        "pip: [requests]\nuv: [torch]\n",
        "yaml",
        &[],
        2,
        1,
        "E063",
        "The 'pip' field, 'uv' field, and 'conda' field of runtime_env cannot be specified at the same time.",
    );
    check_error(
        "image_uri: anyscale/ray:2.40.0-py310\npip: [requests]\nenv_vars: {A: '1'}\n",
        "yaml",
        &[],
        2,
        1,
        "E068",
        "The 'image_uri' field currently cannot be used together with other fields of runtime_env. Specified fields: {'pip'}",
    );
    check_error(
        r#"{"container": {"image": "x"}, "working_dir": "s3://b/w.zip"}"#,
        "json",
        &[],
        1,
        31,
        "E068",
        "The 'container' field currently cannot be used together with other fields of runtime_env. Specified fields: {'working_dir'}",
    );
}

#[test]
fn check_env_vars_and_excludes_errors_are_rays() {
    check_error(
        "env_vars:\n  A: a\n  B: 1\n",
        "yaml",
        &[],
        3,
        6,
        "E064",
        "runtime_env['env_vars'] must be of type Dict[str, str], but the value 1 is of type <class 'int'>",
    );
    check_error(
        "env_vars:\n  1: a\n",
        "yaml",
        &[],
        2,
        3,
        "E064",
        "runtime_env['env_vars'] must be of type Dict[str, str], but the key 1 is of type <class 'int'>",
    );
    check_error(
        r#"{"excludes": "*.csv"}"#,
        "json",
        &[],
        1,
        14,
        "E065",
        "runtime_env['excludes'] must be of type List[str], got <class 'str'>",
    );
}

#[test]
fn check_working_dir_errors_are_rays() {
    check_error(
        "working_dir: missing\n",
        "yaml",
        &[],
        1,
        14,
        "E066",
        "directory missing must be an existing directory",
    );
    check_error(
        r#"{"working_dir": "s3://bucket/code.tar.gz"}"#,
        "json",
        &[],
        1,
        17,
        "E067",
        "Only .zip files supported for remote URIs.",
    );
    check_error(
        r#"{"working_dir": "ftp://h/c.zip"}"#,
        "json",
        &[],
        1,
        17,
        "E067",
        "Invalid protocol for runtime_env URI \"ftp://h/c.zip\". Supported protocols: ['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE'].",
    );
    // Task level: a local directory (even an existing one) is refused.
    check_error(
        r#"{"working_dir": "."}"#,
        "json",
        &["--level", "task"],
        1,
        17,
        "E066",
        ". is not a valid URI. Passing directories or modules to be dynamically uploaded is only supported at the job level (i.e., passed to `ray.init`).",
    );
    // ...and a URI is fine there.
    let t = TempDir::new("rte-task-uri");
    write(t.path(), "env.json", r#"{"working_dir": "s3://b/c.zip"}"#);
    envc_in(
        t.path(),
        ["runtime-env", "check", "env.json", "--level", "task"],
    )
    .ok();
}

#[test]
fn check_refuses_a_runtime_env_that_is_not_a_map() {
    check_error(
        "- a\n",
        "yaml",
        &[],
        1,
        1,
        "E060",
        "runtime_env must be of type dict, got <class 'list'>",
    );
    check_error(
        "[\"a\"]",
        "json",
        &[],
        1,
        1,
        "E060",
        "runtime_env must be of type dict, got <class 'list'>",
    );
}

#[test]
fn check_warns_on_unknown_fields_and_keeps_them() {
    let t = TempDir::new("rte-unknown");
    write(
        t.path(),
        "env.yaml",
        "env_vars: {A: a}\nworking_directory: x\n",
    );
    let r = envc_in(t.path(), ["runtime-env", "check", "env.yaml"]).ok();
    assert!(
        r.stderr
            .lines()
            .any(|l| l.starts_with("env.yaml:2:1: warning[W010]: ")),
        "{r}"
    );
    assert!(r.stderr.contains("working_dir"), "no suggestion: {r}");
    let r = envc_in(t.path(), ["runtime-env", "normalize", "env.yaml"]).ok();
    assert_eq!(
        r.stdout.trim(),
        r#"{"env_vars":{"A":"a"},"working_directory":"x"}"#
    );
}

#[test]
fn check_reports_isolated_cluster_env_packages() {
    let t = TempDir::new("rte-isolation");
    fs::copy(
        common::root().join("fixtures/seed.yaml"),
        t.join("seed.yaml"),
    )
    .unwrap();
    write(t.path(), "conda.json", r#"{"conda": "my-env"}"#);
    write(t.path(), "pip.json", r#"{"pip": ["torch"]}"#);
    write(t.path(), "plain.json", r#"{"env_vars": {"A": "a"}}"#);
    let isolated = |file: &str, ray: &str| -> Value {
        let r = envc_in(
            t.path(),
            [
                "runtime-env",
                "check",
                file,
                "--cluster-env",
                "seed.yaml",
                "--ray",
                ray,
                "--format",
                "json",
            ],
        )
        .ok();
        r.json()["isolated"].clone()
    };
    let both = json!([
        {"kind": "conda", "package": "pkutils"},
        {"kind": "pip", "package": "pkutils"}
    ]);
    // Ray 2: only conda isolates (a fresh conda env sees none of the base's packages).
    assert_eq!(isolated("conda.json", "2"), both);
    assert_eq!(isolated("pip.json", "2"), json!([]));
    assert_eq!(isolated("plain.json", "2"), json!([]));
    // Ray 1 (the seed's era): pip isolates too.
    assert_eq!(isolated("conda.json", "1"), both);
    assert_eq!(isolated("pip.json", "1"), both);
    assert_eq!(isolated("plain.json", "1"), json!([]));
    // Human form.
    let r = envc_in(
        t.path(),
        [
            "runtime-env",
            "check",
            "pip.json",
            "--cluster-env",
            "seed.yaml",
            "--ray",
            "1",
        ],
    )
    .ok();
    assert!(r.stdout.contains("pip: pkutils"), "{r}");
    assert!(r.stdout.contains("conda: pkutils"), "{r}");
}

/// Issue 11: a runtime env's `ray` pin that its cluster env's base does not have is W023, at the
/// entry, in `pip`, `uv` and `conda` (its `pip:` list too); pins the base satisfies are not.
#[test]
fn check_with_cluster_env_warns_of_ray_pins_the_base_lacks() {
    let t = TempDir::new("rte-ray-pin");
    write(
        t.path(),
        "spec.yaml",
        "base_image: anyscale/ray:2.10.0-py310\n",
    );
    write(
        t.path(),
        "pip.yaml",
        "pip:\n  - requests\n  - ray[serve]==2.9.0\n  - \"ray>=2.10\"\n",
    );
    write(t.path(), "uv.yaml", "uv:\n  - ray==2.9.0\n");
    write(
        t.path(),
        "conda.yaml",
        "conda:\n  dependencies:\n    - python=3.10\n    - ray-core=2.9\n    - ray-default=2.10\n    - pip:\n        - ray==2.8.0\n",
    );
    let check = |file: &str| {
        envc_in(
            t.path(),
            ["runtime-env", "check", file, "--cluster-env", "spec.yaml"],
        )
        .ok()
    };
    let base = "the Ray of the cluster env's base image `anyscale/ray:2.10.0-py310`";
    let r = check("pip.yaml");
    let msg = format!("`ray[serve]==2.9.0` in `pip` does not match ray 2.10.0, {base}");
    assert_diag(&r, "pip.yaml", 3, 5, "warning", "W023", &msg);
    assert_eq!(r.stderr.matches("W023").count(), 1, "{r}");
    let r = check("uv.yaml");
    let msg = format!("`ray==2.9.0` in `uv` does not match ray 2.10.0, {base}");
    assert_diag(&r, "uv.yaml", 2, 5, "warning", "W023", &msg);
    let r = check("conda.yaml");
    let msg = format!("`ray-core=2.9` in `conda` does not match ray 2.10.0, {base}");
    assert_diag(&r, "conda.yaml", 4, 7, "warning", "W023", &msg);
    let msg = format!("`ray==2.8.0` in `conda` does not match ray 2.10.0, {base}");
    assert_diag(&r, "conda.yaml", 7, 11, "warning", "W023", &msg);
    assert_eq!(r.stderr.matches("W023").count(), 2, "{r}");
    // Without a cluster env there is nothing to compare with; a nightly base is not compared.
    let r = envc_in(t.path(), ["runtime-env", "check", "pip.yaml"]).ok();
    assert!(!r.stderr.contains("W023"), "{r}");
    write(
        t.path(),
        "spec.yaml",
        "base_image: anyscale/ray:nightly-py310\n",
    );
    assert!(!check("pip.yaml").stderr.contains("W023"));
}

// ---------------------------------------------------------------------------------------------
// normalize

#[test]
fn normalize_ignores_key_order_and_duplicates_and_drops_empty_values() {
    let t = TempDir::new("rte-normalize");
    write(
        t.path(),
        "a.json",
        r#"{"pip": ["b", "a", "b"], "env_vars": {"Y": "1", "X": "2"}, "excludes": [], "conda": null}"#,
    );
    write(
        t.path(),
        "b.yaml",
        "env_vars:\n  X: '2'\n  Y: '1'\npip: [b, a]\n",
    );
    write(
        t.path(),
        "c.json",
        r#"{"env_vars": {"X": "2", "Y": "1"}, "pip": ["b", "a", "a", "b"]}"#,
    );
    write(
        t.path(),
        "empty.json",
        r#"{"env_vars": {}, "pip": [], "excludes": [], "conda": null}"#,
    );
    let norm = |f: &str| {
        envc_in(t.path(), ["runtime-env", "normalize", f])
            .ok()
            .stdout
    };
    let a = norm("a.json");
    assert_eq!(
        a,
        "{\"env_vars\":{\"X\":\"2\",\"Y\":\"1\"},\"pip\":[\"b\",\"a\"]}\n"
    );
    assert_eq!(norm("b.yaml"), a);
    assert_eq!(norm("c.json"), a);
    assert_eq!(norm("empty.json"), "{}\n");
}

// ---------------------------------------------------------------------------------------------
// merge

#[test]
fn merge_follows_the_reference_example() {
    let t = TempDir::new("rte-merge");
    write(
        t.path(),
        "parent.yaml",
        "pip: [requests, chess]\nenv_vars: {A: a, B: b}\n",
    );
    write(
        t.path(),
        "child.json",
        r#"{"pip": ["torch", "ray[serve]"], "env_vars": {"B": "new", "C": "c"}}"#,
    );
    let r = envc_in(
        t.path(),
        ["runtime-env", "merge", "parent.yaml", "child.json"],
    )
    .ok();
    assert_eq!(
        r.json(),
        json!({"pip": ["torch", "ray[serve]"], "env_vars": {"A": "a", "B": "new", "C": "c"}})
    );
    assert_eq!(
        r.stdout,
        "{\"env_vars\":{\"A\":\"a\",\"B\":\"new\",\"C\":\"c\"},\"pip\":[\"torch\",\"ray[serve]\"]}\n"
    );
    // Inputs are untouched and the mode is task by default.
    let r2 = envc_in(
        t.path(),
        [
            "runtime-env",
            "merge",
            "parent.yaml",
            "child.json",
            "--mode",
            "task",
        ],
    )
    .ok();
    assert_eq!(r.stdout, r2.stdout);

    // A child (task/actor) with a local working_dir is refused.
    write(t.path(), "local.json", r#"{"working_dir": "."}"#);
    let r = envc_in(
        t.path(),
        ["runtime-env", "merge", "parent.yaml", "local.json"],
    )
    .no();
    assert!(r.stderr.contains("is not a valid URI"), "{r}");
}

#[test]
fn merge_job_mode_conflict_names_the_keys() {
    let t = TempDir::new("rte-merge-job");
    write(
        t.path(),
        "submit.json",
        r#"{"pip": ["a"], "env_vars": {"A": "1", "SHARED_VAR": "2"}}"#,
    );
    write(
        t.path(),
        "init.json",
        r#"{"pip": ["b"], "env_vars": {"SHARED_VAR": "3"}, "excludes": ["x"]}"#,
    );
    let r = envc_in(
        t.path(),
        [
            "runtime-env",
            "merge",
            "submit.json",
            "init.json",
            "--mode",
            "job",
        ],
    )
    .no();
    assert!(r.stderr.contains("conflict"), "{r}");
    assert!(r.stderr.contains("`pip`"), "{r}");
    assert!(r.stderr.contains("`SHARED_VAR`"), "{r}");
    assert!(!r.stderr.contains("`excludes`"), "{r}");
    assert!(r.stdout.is_empty(), "{r}");
    // Disjoint keys merge.
    write(
        t.path(),
        "other.json",
        r#"{"env_vars": {"B": "3"}, "excludes": ["x"]}"#,
    );
    let r = envc_in(
        t.path(),
        [
            "runtime-env",
            "merge",
            "submit.json",
            "other.json",
            "--mode",
            "job",
        ],
    )
    .ok();
    assert_eq!(
        r.json(),
        json!({"pip": ["a"], "env_vars": {"A": "1", "SHARED_VAR": "2", "B": "3"}, "excludes": ["x"]})
    );
}

// ---------------------------------------------------------------------------------------------
// uri

#[test]
fn uri_maps_remote_zips_to_rays_cache_names() {
    let r = common::envc_run([
        "runtime-env",
        "uri",
        "--ray",
        "2.40",
        "s3://bucket/dir/file.zip",
    ])
    .ok();
    assert_eq!(r.stdout, "s3_bucket_dir_file.zip\n");
    let r = common::envc_run([
        "runtime-env",
        "uri",
        "--ray",
        "2.40",
        "s3://bucket/file.tar",
    ])
    .no();
    assert!(
        r.stderr
            .contains("Only .zip or .whl files supported for remote URIs."),
        "{r}"
    );
    assert!(r.stdout.is_empty(), "{r}");
    let r = common::envc_run(["runtime-env", "uri", "--ray", "2.40", "ftp://host/file.zip"]).no();
    assert!(r.stderr.contains("Invalid protocol"), "{r}");
    for proto in ["'HTTPS'", "'S3'", "'GS'"] {
        assert!(r.stderr.contains(proto), "{proto} not listed: {r}");
    }
}

/// Issue 7, item 15: Ray and pip take a wheel in `py_modules`; its cache name is its file name.
#[test]
fn regression_issue7_uri_accepts_wheels() {
    let r = common::envc_run([
        "runtime-env",
        "uri",
        "https://files.example.org/simple/pkg-1.0-py3-none-any.whl",
    ])
    .ok();
    assert_eq!(r.stdout, "pkg-1.0-py3-none-any.whl\n");
    assert!(r.stderr.contains("py_modules"), "{r}");
    let r = common::envc_run(["runtime-env", "uri", "--ray", "2.40", "s3://b/w/m.whl?v=2"]).ok();
    assert_eq!(r.stdout, "s3_b_w_m.whl\n");
    let t = TempDir::new("rte-whl");
    write(
        t.path(),
        "env.json",
        r#"{"py_modules": ["https://h/p/pkg-1.0-py3-none-any.whl", "https://h/p/m.zip;v=1"]}"#,
    );
    envc_in(t.path(), ["runtime-env", "check", "env.json"]).ok();
}

// ---------------------------------------------------------------------------------------------
// package

#[test]
fn package_uris_match_the_reference_vectors() {
    let t = TempDir::new("pkg-vectors");
    let empty = t.join("empty");
    fs::create_dir(&empty).unwrap();
    let a = t.join("a");
    write(&a, "a.txt", "hello");
    let b = t.join("b");
    write(&b, "b.txt", "hello");
    let src = t.join("src");
    write(&src, "src/main.py", "print('hi')\n");
    write(&src, "README.md", "# x\n");
    let cases: [(&Path, &[&str], &str, &str); 6] = [
        (&empty, &[], "0a62fe483960e4e9", "6068c19fb3b8530f"),
        (&a, &[], "931181291bc7ac88", "def3d8d43385acd9"),
        (&b, &[], "32c638d95026df69", "f97f26747f438067"),
        (&src, &[], "497a788ffb69bb3f", "5821434e97583998"),
        (
            &src,
            &["--exclude", "*"],
            "3030303030303030",
            "3030303030303030",
        ),
        (
            &a,
            &["--exclude", "*"],
            "3030303030303030",
            "3030303030303030",
        ),
    ];
    for (dir, extra, v2, v1) in cases {
        let mut args2 = extra.to_vec();
        args2.extend(["--ray", "2"]);
        assert_eq!(
            uri_of(dir, &args2),
            format!("gcs://_ray_pkg_{v2}.zip"),
            "{} {extra:?}",
            dir.display()
        );
        assert_eq!(uri_of(dir, extra), format!("gcs://_ray_pkg_{v2}.zip"));
        let mut args1 = extra.to_vec();
        args1.extend(["--ray", "1"]);
        assert_eq!(
            uri_of(dir, &args1),
            format!("gcs://_ray_pkg_{v1}.zip"),
            "{} {extra:?} --ray 1",
            dir.display()
        );
    }
}

#[test]
fn package_zip_lists_the_files_and_keeps_empty_dirs() {
    let t = TempDir::new("pkg-zip");
    let w = t.join("w");
    write(&w, "src/main.py", "print('hi')\n");
    write(&w, "README.md", "# x\n");
    fs::create_dir_all(w.join("data/empty")).unwrap();
    let out = t.join("out.zip");
    let pkg = package_json(&w, &["-o", out.to_str().unwrap()]);
    assert_eq!(paths_of(&pkg), zip_names(&out));
    assert_eq!(
        paths_of(&pkg),
        ["README.md", "data/empty/", "src/main.py"],
        "{pkg}"
    );
    assert_eq!(pkg["file_count"], json!(3));
    assert_eq!(pkg["size"], json!(fs::metadata(&out).unwrap().len()));
    assert!(pkg["sha256"].as_str().unwrap().starts_with("sha256:"));
    // Same URI with or without -o.
    assert_eq!(package_json(&w, &[])["uri"], pkg["uri"]);
    // An empty working dir is one `./` entry.
    let e = t.join("e");
    fs::create_dir(&e).unwrap();
    let out = t.join("e.zip");
    let pkg = package_json(&e, &["-o", out.to_str().unwrap()]);
    assert_eq!(zip_names(&out), ["./"]);
    assert_eq!(paths_of(&pkg), zip_names(&out));
}

/// Builds the same tree twice, in different places with different mtimes and modes.
fn build_tree(dir: &Path, mtime: SystemTime, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    write(dir, "src/main.py", "print('hi')\n");
    write(dir, "src/pkg/__init__.py", "");
    write(dir, "README.md", "# x\n");
    write(dir, "data/z.bin", &"z".repeat(70_000));
    fs::create_dir_all(dir.join("empty")).unwrap();
    for rel in [
        "src/main.py",
        "src/pkg/__init__.py",
        "README.md",
        "data/z.bin",
    ] {
        let f = fs::File::options().write(true).open(dir.join(rel)).unwrap();
        f.set_modified(mtime).unwrap();
        f.set_permissions(fs::Permissions::from_mode(mode)).unwrap();
    }
}

#[test]
fn package_zip_is_deterministic_across_places_mtimes_and_umask() {
    let t = TempDir::new("pkg-determinism");
    let d1 = t.join("one/app");
    let d2 = t.join("two/elsewhere/app");
    build_tree(
        &d1,
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000),
        0o644,
    );
    build_tree(&d2, SystemTime::now(), 0o600);
    let o1 = t.join("one/out.zip");
    let o2 = t.join("two/out.zip");
    let r1 = run(Command::new("sh")
        .current_dir(t.join("one"))
        .env("NO_COLOR", "1")
        .args([
            "-c",
            "umask 022; exec \"$0\" package app -o out.zip --format json",
        ])
        .arg(env!("CARGO_BIN_EXE_envc")))
    .ok();
    let r2 = run(Command::new("sh")
        .current_dir(t.join("two/elsewhere"))
        .env("NO_COLOR", "1")
        .env("TZ", "Pacific/Kiritimati")
        .args([
            "-c",
            "umask 077; exec \"$0\" package app -o ../out.zip --format json",
        ])
        .arg(env!("CARGO_BIN_EXE_envc")))
    .ok();
    let (b1, b2) = (fs::read(&o1).unwrap(), fs::read(&o2).unwrap());
    assert!(b1 == b2, "zip bytes differ between the two runs");
    assert_eq!(r1.json(), r2.json());
    assert_eq!(paths_of(&r1.json()), zip_names(&o1));
    // A content change changes both identities.
    fs::write(d2.join("README.md"), "# y\n").unwrap();
    let changed = package_json(&d2, &[]);
    assert_ne!(changed["uri"], r1.json()["uri"]);
    assert_ne!(changed["sha256"], r1.json()["sha256"]);
}

/// Ray's own exclusion cases (reference, "Exclusion cases worth testing").
fn ray_exclusion_tree(dir: &Path) {
    for &rel in common::RAY_EXCLUSION_TREE {
        write(dir, rel, rel);
    }
}

fn file_set(pkg: &Value) -> BTreeSet<String> {
    pkg["files"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["is_dir"] == json!(false))
        .map(|f| f["path"].as_str().unwrap().to_string())
        .collect()
}

fn set(items: &[&str]) -> BTreeSet<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[test]
fn package_excludes_follow_ray() {
    let t = TempDir::new("pkg-excludes");
    let w = t.join("w");
    ray_exclusion_tree(&w);
    let pkg = package_json(
        &w,
        &[
            "--exclude",
            "test2",
            "--exclude",
            "tmp_dir/sub_dir",
            "--exclude",
            "tmp_dir/test_1",
            "--exclude",
            "tmp_dir/test_2",
        ],
    );
    assert_eq!(
        file_set(&pkg),
        set(&[
            "test1",
            "test3",
            "tmp_dir/test_3",
            "cache/test_1",
            "tmp_dir/cache/test_1",
            "another_dir/cache/test_1",
        ])
    );
    let out = t.join("x.zip");
    let pkg = package_json(&w, &["--exclude", "tmp_dir", "-o", out.to_str().unwrap()]);
    assert_eq!(paths_of(&pkg), zip_names(&out));
    assert!(paths_of(&pkg).iter().all(|p| !p.starts_with("tmp_dir")));

    // A root .gitignore.
    let g = t.join("g");
    ray_exclusion_tree(&g);
    write(
        &g,
        ".gitignore",
        "# Comment\ntest_[12]\n/test1\n!/tmp_dir/sub_dir/test_1\ncache/\n",
    );
    assert_eq!(
        file_set(&package_json(&g, &[])),
        set(&[
            ".gitignore",
            "test2",
            "test3",
            "tmp_dir/test_3",
            "tmp_dir/sub_dir/test_1",
        ])
    );

    // Ray's deviations and anchoring rules.
    let d = t.join("d");
    for rel in [
        "build/keep",
        "build/drop",
        "a.csv",
        "deep/b.csv",
        "tests/a.dat",
        "tests/x/b.dat",
        "subdir/x",
        "a/subdir/y",
        "sub/x",
        "x",
    ] {
        write(&d, rel, rel);
    }
    write(&d, "sub/.gitignore", "/x\n");
    let pkg = package_json(
        &d,
        &[
            "--exclude",
            "build/",
            "--exclude",
            "!build/keep",
            "--exclude",
            "*.csv",
            "--exclude",
            "tests/*.dat",
            "--exclude",
            "/subdir/",
            "--exclude",
            "./x",
        ],
    );
    assert_eq!(
        file_set(&pkg),
        set(&[
            "build/keep",
            "tests/x/b.dat",
            "a/subdir/y",
            "sub/.gitignore",
            "x"
        ])
    );
}

/// Runs `envc package DIR -o OUT/pkg.zip` expecting a failure; OUT must stay empty.
fn package_fails(dir: &Path, out_dir: &Path, extra: &[&str]) -> Run {
    fs::create_dir_all(out_dir).unwrap();
    assert!(dir_listing(out_dir).is_empty());
    let out = out_dir.join("pkg.zip");
    let r = run(envc()
        .arg("package")
        .arg(dir)
        .arg("-o")
        .arg(&out)
        .args(extra))
    .no_panic();
    assert!(
        matches!(r.code, Some(c) if c != 0),
        "expected a clean non-zero exit: {r}"
    );
    assert!(
        dir_listing(out_dir).is_empty(),
        "something was left in the output dir: {:?}\n{r}",
        dir_listing(out_dir)
    );
    assert!(r.stdout.is_empty(), "{r}");
    assert!(r.stderr.contains("error"), "{r}");
    r
}

#[test]
fn package_refuses_a_10_gib_sparse_file_fast() {
    let t = TempDir::new("pkg-sparse");
    let w = t.join("w");
    write(&w, "small.py", "x = 1\n");
    let f = fs::File::create(w.join("huge.bin")).unwrap();
    f.set_len(10 << 30).unwrap();
    drop(f);
    let r = package_fails(&w, &t.join("out"), &[]);
    assert!(
        r.stderr.contains("Package size (")
            && r.stderr.contains(
                "MiB) exceeds the maximum size of 100.00MiB. To exclude large files, add them to '.gitignore' or '.rayignore' files, or use the 'excludes' option in the runtime_env"
            ),
        "{r}"
    );
    // Without -o too (the size check does not depend on writing).
    let r = run(envc().arg("package").arg(&w)).no_panic();
    assert_ne!(r.code, Some(0), "{r}");
    assert!(
        r.stderr.contains("exceeds the maximum size of 100.00MiB"),
        "{r}"
    );
    // Excluding it makes the rest packageable.
    package_json(&w, &["--exclude", "huge.bin"]);
}

#[test]
fn package_refuses_symlink_loops() {
    let t = TempDir::new("pkg-loop");
    let w = t.join("w");
    write(&w, "a/f.py", "");
    symlink("..", w.join("a/up")).unwrap();
    let r = package_fails(&w, &t.join("out1"), &[]);
    assert!(r.stderr.contains("symlink loop"), "{r}");
    assert!(r.stderr.contains("up"), "{r}");

    let w2 = t.join("w2");
    write(&w2, "f.py", "");
    symlink("self", w2.join("self")).unwrap();
    let r = package_fails(&w2, &t.join("out2"), &[]);
    assert!(r.stderr.contains("self"), "{r}");
    assert!(r.stderr.contains("loop"), "{r}");
}

#[test]
fn package_refuses_a_link_outside_unless_asked() {
    let t = TempDir::new("pkg-external");
    let w = t.join("w");
    write(&w, "main.py", "");
    symlink("/etc/passwd", w.join("secrets")).unwrap();
    let r = package_fails(&w, &t.join("out"), &[]);
    assert!(
        r.stderr.contains("secrets"),
        "error does not name the link: {r}"
    );
    assert!(r.stderr.contains("/etc/passwd"), "{r}");
    assert!(r.stderr.contains("--follow-external-links"), "{r}");

    let out = t.join("ok.zip");
    let pkg = package_json(
        &w,
        &["--follow-external-links", "-o", out.to_str().unwrap()],
    );
    assert_eq!(paths_of(&pkg), ["main.py", "secrets"]);
    assert_eq!(zip_names(&out), ["main.py", "secrets"]);
    let passwd = fs::metadata("/etc/passwd").unwrap().len();
    assert_eq!(pkg["files"][1]["size"], json!(passwd), "{pkg}");
    // A link inside the root is followed without the flag.
    let i = t.join("inside");
    write(&i, "real/m.py", "x");
    symlink("real/m.py", i.join("alias.py")).unwrap();
    assert_eq!(paths_of(&package_json(&i, &[])), ["alias.py", "real/m.py"]);
}

#[test]
fn package_refuses_invalid_utf8_names() {
    let t = TempDir::new("pkg-utf8");
    let w = t.join("w");
    write(&w, "ok.py", "");
    fs::write(w.join(OsStr::from_bytes(b"bad\xff.py")), "x").unwrap();
    let r = package_fails(&w, &t.join("out"), &[]);
    assert!(r.stderr.contains("not valid UTF-8"), "{r}");
    assert!(r.stderr.contains("bad"), "{r}");
}

#[test]
fn package_skips_a_fifo_with_a_note() {
    let t = TempDir::new("pkg-fifo");
    let w = t.join("w");
    write(&w, "main.py", "x");
    let st = Command::new("mkfifo").arg(w.join("pipe")).status().unwrap();
    assert!(st.success());
    let out = t.join("fifo.zip");
    let r = run(envc()
        .arg("package")
        .arg(&w)
        .args(["--format", "json", "-o"])
        .arg(&out))
    .ok();
    assert!(
        r.stderr.contains("pipe") && r.stderr.contains("fifo"),
        "no note about the fifo: {r}"
    );
    let pkg = r.json();
    assert_eq!(paths_of(&pkg), ["main.py"]);
    assert_eq!(zip_names(&out), ["main.py"]);
    assert!(
        pkg["notes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n.as_str().unwrap().contains("pipe")),
        "{pkg}"
    );
}

/// Issue 7, item 13: `--max-size` at the boundary. A package of exactly the limit is refused
/// (Ray's `>=`) with a message that does not say it exceeds itself; one byte more of limit
/// takes it.
#[test]
fn regression_issue7_max_size_boundary() {
    let t = TempDir::new("pkg-max-size");
    write(t.path(), "app/f.txt", &"x".repeat(5000));
    let dir = t.path().join("app");
    let size = package_json(&dir, &[])["size"].as_u64().unwrap();
    let limit = |n: u64| format!("--max-size={n}");
    assert_eq!(
        package_json(&dir, &[&limit(size + 1)])["size"].as_u64(),
        Some(size)
    );
    let r = run(envc().arg("package").arg(&dir).arg(limit(size))).no();
    assert!(
        r.stderr.contains(&format!(
            "Package size (0.00MiB = {size} bytes) reaches the maximum size of 0.00MiB = {size} bytes (a package must be smaller than the maximum)."
        )),
        "{r}"
    );
    let r = run(envc().arg("package").arg(&dir).arg(limit(size - 1))).no();
    assert!(
        r.stderr.contains(&format!(
            "{size} bytes) exceeds the maximum size of 0.00MiB = {} bytes.",
            size - 1
        )),
        "{r}"
    );
}

/// Issue 11: `--ray VERSION` on every runtime-env and packaging command; an unknown version is
/// a usage error listing the supported ones; a release between 2.40 and 2.60 gets the rules of
/// its own release (default excludes from 2.54, `.rayignore` from 2.53).
#[test]
fn regression_issue11_ray_versions() {
    let t = TempDir::new("rte-ray-versions");
    write(t.path(), "w/.git/HEAD", "ref\n");
    write(t.path(), "w/main.py", "x\n");
    write(t.path(), "w/.rayignore", "*.log\n");
    write(t.path(), "w/a.log", "l\n");
    write(
        t.path(),
        "env.json",
        r#"{"py_executable": "python -X dev"}"#,
    );
    for args in [
        &["package", "w", "--ray", "3"][..],
        &["package", "w", "--ray", "2.39"],
        &["runtime-env", "check", "env.json", "--ray", "2.61.0"],
        &["runtime-env", "normalize", "env.json", "--ray", "x"],
        &["runtime-env", "uri", "s3://b/x.zip", "--ray", "1.13"],
        &[
            "runtime-env",
            "merge",
            "env.json",
            "env.json",
            "--ray",
            "2.6",
        ],
    ] {
        let r = envc_in(t.path(), args);
        assert_eq!(r.code, Some(2), "{args:?}: {r}");
        assert!(
            r.stderr.contains("supported: 1, 2 (= 2.60), 2.40, 2.60"),
            "{r}"
        );
    }
    let files = |ray: &str| -> Vec<String> {
        let j = package_json(&t.path().join("w"), &["--ray", ray]);
        j["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        files("2.40.0"),
        [".git/HEAD", ".rayignore", "a.log", "main.py"]
    );
    assert_eq!(files("2.53"), [".git/HEAD", ".rayignore", "main.py"]);
    assert_eq!(files("2.54"), [".rayignore", "main.py"]);
    assert_eq!(files("2"), files("2.60"));
    // `py_executable` is a field from 2.43: no unknown-field warning there.
    let r = envc_in(
        t.path(),
        ["runtime-env", "check", "env.json", "--ray", "2.42"],
    )
    .ok();
    assert!(
        r.stderr
            .contains("unknown runtime_env field `py_executable`"),
        "{r}"
    );
    let r = envc_in(
        t.path(),
        ["runtime-env", "check", "env.json", "--ray", "2.43"],
    )
    .ok();
    assert!(!r.stderr.contains("py_executable"), "{r}");
}
