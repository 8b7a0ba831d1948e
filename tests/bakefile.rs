//! `envc bakefile`, end to end through the binary: the golden bake file
//! (`tests/golden/bakefile/docker-bake.json`, rewritten by `UPDATE_SNAPSHOTS=1 cargo test --test
//! bakefile` and reviewed in git), its bytes under reordering, another cwd and another TZ, its
//! structure against the bake file reference (`docker buildx` cannot be installed here, so the
//! reference's keys and JSON types are written down below), every target's Dockerfile against
//! `envc dockerfile` byte for byte and through BuildKit's parser (`tests/support/dfcheck.py`),
//! and the refusals: an invalid spec, two specs of one name, a bad file stem, an unwritable
//! `-o`, each with a clear message and no file.

mod common;

use common::{envc, run, support_json, Run, TempDir};
use serde_json::Value;
use std::fs;
use std::path::{Path, PathBuf};

/// The golden run's specs (fixtures) and arguments; the file is `tests/golden/bakefile/`.
const GOLDEN_SPECS: [&str; 4] = [
    "minimal.yaml",
    "env-references.yaml",
    "multiline-setup.yaml",
    "seed.yaml",
];
const GOLDEN_ARGS: [&str; 12] = [
    "minimal.yaml",
    "env-references.yaml",
    "multiline-setup.yaml",
    "--name",
    "ray2.9=seed.yaml",
    "--cache-from",
    "type=registry,ref=registry.example.com/ml/cache",
    "--cache-to",
    "type=registry,ref=registry.example.com/ml/cache,mode=max",
    "--platform",
    "linux/amd64",
    "--tag-prefix=registry.example.com/ml/",
];

fn root() -> &'static Path {
    common::root()
}

/// A temp dir with copies of `specs` (from `fixtures/`) under an empty `envc.toml`, so no
/// configuration further up applies.
fn workdir(label: &str, specs: &[&str]) -> TempDir {
    let dir = TempDir::new(label);
    fs::write(dir.join("envc.toml"), "").unwrap();
    for s in specs {
        fs::copy(root().join("fixtures").join(s), dir.join(s)).unwrap();
    }
    dir
}

fn envc_in(dir: &Path, args: &[&str]) -> Run {
    run(envc()
        .current_dir(dir)
        .arg("--color")
        .arg("never")
        .args(args))
}

fn bakefile_in(dir: &Path, args: &[&str]) -> Run {
    let mut all = vec!["bakefile"];
    all.extend_from_slice(args);
    envc_in(dir, &all)
}

fn updating() -> bool {
    ["UPDATE_SNAPSHOTS", "UPDATE_GOLDEN"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|v| v == "1"))
}

/// A bake string read back as bake reads it: HCL's template escapes `$${` and `%%{` undone
/// (left to right, as HCL's scanner reads them); `None` if an unescaped `${` or `%{` is left,
/// which bake would evaluate.
fn hcl_unescape(s: &str) -> Option<String> {
    let mut out = String::new();
    let mut rest = s;
    while let Some(i) = rest.find(['$', '%']) {
        out.push_str(&rest[..i]);
        let c = &rest[i..i + 1];
        let tail = &rest[i + 1..];
        if let Some(t) = tail.strip_prefix(c).and_then(|t| t.strip_prefix('{')) {
            out.push_str(c);
            out.push('{');
            rest = t;
        } else if tail.starts_with('{') {
            return None;
        } else {
            out.push_str(c);
            rest = tail;
        }
    }
    out.push_str(rest);
    Some(out)
}

#[test]
fn hcl_unescape_reads_buildx_escapes() {
    assert_eq!(
        hcl_unescape("a $${B} %%{c} $$ $x %d").unwrap(),
        "a ${B} %{c} $$ $x %d"
    );
    assert_eq!(hcl_unescape("\\$$${HOME}").unwrap(), "\\$${HOME}");
    assert_eq!(hcl_unescape("${B}"), None);
    assert_eq!(hcl_unescape("x %{ if }"), None);
}

#[test]
fn golden_bake_file() {
    let dir = workdir("golden", &GOLDEN_SPECS);
    let out = bakefile_in(dir.path(), &GOLDEN_ARGS).ok();
    // Two of the fixtures name bases Anyscale no longer lists: warnings, as `envc check` has.
    assert!(!out.stderr.contains("error"), "{out}");
    let golden = root().join("tests/golden/bakefile/docker-bake.json");
    if updating() {
        fs::create_dir_all(golden.parent().unwrap()).unwrap();
        fs::write(&golden, &out.stdout).unwrap();
        return;
    }
    let want = fs::read_to_string(&golden)
        .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_SNAPSHOTS=1 writes it)", golden.display()));
    assert!(
        out.stdout == want,
        "the bake file differs from {} (UPDATE_SNAPSHOTS=1 rewrites it):\n{}",
        golden.display(),
        out.stdout
    );
}

#[test]
fn same_bytes_in_any_order_cwd_and_time_zone() {
    let dir = workdir("determinism", &GOLDEN_SPECS);
    let first = bakefile_in(dir.path(), &GOLDEN_ARGS).ok().stdout;
    assert_eq!(first, bakefile_in(dir.path(), &GOLDEN_ARGS).ok().stdout);
    // The specs in another order, `--name` first.
    let mut swapped: Vec<&str> = GOLDEN_ARGS[3..].to_vec();
    swapped.extend([
        "multiline-setup.yaml",
        "env-references.yaml",
        "minimal.yaml",
    ]);
    assert_eq!(first, bakefile_in(dir.path(), &swapped).ok().stdout);
    // From the parent directory, with a time zone, written with `-o`.
    let sub = dir
        .path()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    let args: Vec<String> = GOLDEN_ARGS
        .iter()
        .map(|a| match a.strip_prefix("ray2.9=") {
            Some(f) => format!("ray2.9={sub}/{f}"),
            None if a.ends_with(".yaml") => format!("{sub}/{a}"),
            None => a.to_string(),
        })
        .collect();
    let out = dir.join("docker-bake.json");
    let r = run(envc()
        .current_dir(dir.path().parent().unwrap())
        .env("TZ", "Pacific/Kiritimati")
        .arg("bakefile")
        .args(&args)
        .arg("-o")
        .arg(&out))
    .ok();
    assert_eq!(r.stdout, "", "{r}");
    assert_eq!(fs::read_to_string(&out).unwrap(), first);
}

/// The bake file reference's keys (https://docs.docker.com/build/bake/reference/) with the JSON
/// types bake accepts for them: `s` string, `b` bool, `[s]` list of strings, `[s|o]` list of
/// strings or objects (the CSV form or its object form), `{s}` object of strings (or null).
const TARGET_KEYS: &[(&str, &str)] = &[
    ("annotations", "[s]"),
    ("args", "{s}"),
    ("attest", "[s|o]"),
    ("cache-from", "[s|o]"),
    ("cache-to", "[s|o]"),
    ("call", "s"),
    ("context", "s"),
    ("contexts", "{s}"),
    ("description", "s"),
    ("dockerfile", "s"),
    ("dockerfile-inline", "s"),
    ("entitlements", "[s]"),
    ("extra-hosts", "{s}"),
    ("inherits", "[s]"),
    ("labels", "{s}"),
    ("matrix", "o"),
    ("name", "s"),
    ("network", "s"),
    ("no-cache", "b"),
    ("no-cache-filter", "[s]"),
    ("output", "[s|o]"),
    ("platforms", "[s]"),
    ("pull", "b"),
    ("secret", "[s|o]"),
    ("shm-size", "s"),
    ("ssh", "[s|o]"),
    ("tags", "[s]"),
    ("target", "s"),
    ("ulimits", "[s]"),
];
const GROUP_KEYS: &[(&str, &str)] = &[("description", "s"), ("targets", "[s]")];
const TOP_KEYS: &[&str] = &["function", "group", "target", "variable"];

fn has_type(v: &Value, ty: &str) -> bool {
    let each = |pred: &dyn Fn(&Value) -> bool| v.as_array().is_some_and(|a| a.iter().all(pred));
    match ty {
        "s" => v.is_string(),
        "b" => v.is_boolean(),
        "o" => v.is_object(),
        "[s]" => each(&|e| e.is_string()),
        "[s|o]" => each(&|e| e.is_string() || e.is_object()),
        "{s}" => v
            .as_object()
            .is_some_and(|o| o.values().all(|e| e.is_string() || e.is_null())),
        _ => unreachable!("type {ty}"),
    }
}

/// Every problem of `doc` as a bake file.
fn bake_problems(doc: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(top) = doc.as_object() else {
        return vec!["not an object".into()];
    };
    for k in top.keys() {
        if !TOP_KEYS.contains(&k.as_str()) {
            p.push(format!("unknown top-level key `{k}`"));
        }
    }
    let name_ok = |n: &str| {
        !n.is_empty()
            && n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    };
    let targets = doc["target"].as_object().cloned().unwrap_or_default();
    let mut check =
        |kind: &str, keys: &[(&str, &str)], entries: &serde_json::Map<String, Value>| {
            for (name, body) in entries {
                if !name_ok(name) {
                    p.push(format!("{kind} name `{name}` is not [a-zA-Z0-9_-]+"));
                }
                let Some(body) = body.as_object() else {
                    p.push(format!("{kind} `{name}` is not an object"));
                    continue;
                };
                for (k, v) in body {
                    match keys.iter().find(|(key, _)| key == k) {
                        None => p.push(format!("{kind} `{name}`: unknown key `{k}`")),
                        Some((_, ty)) if !has_type(v, ty) => {
                            p.push(format!("{kind} `{name}`: `{k}` is not of type {ty}: {v}"))
                        }
                        Some(_) => {}
                    }
                }
                let refs = body.get(if kind == "group" {
                    "targets"
                } else {
                    "inherits"
                });
                for r in refs.and_then(Value::as_array).into_iter().flatten() {
                    let r = r.as_str().unwrap_or_default();
                    if !targets.contains_key(r) {
                        p.push(format!("{kind} `{name}` names `{r}`, which is no target"));
                    }
                }
            }
        };
    check("target", TARGET_KEYS, &targets);
    check(
        "group",
        GROUP_KEYS,
        &doc["group"].as_object().cloned().unwrap_or_default(),
    );
    p
}

#[test]
fn the_bake_file_has_the_reference_structure() {
    let dir = workdir("schema", &GOLDEN_SPECS);
    let doc = bakefile_in(dir.path(), &GOLDEN_ARGS).ok().json();
    assert_eq!(bake_problems(&doc), Vec::<String>::new());
    let targets = doc["target"].as_object().unwrap();
    let envs: Vec<&String> = targets.keys().filter(|k| !k.starts_with('_')).collect();
    assert_eq!(
        envs,
        ["env-references", "minimal", "multiline-setup", "ray2_9"]
    );
    assert_eq!(doc["group"]["default"]["targets"], serde_json::json!(envs));
    for name in envs {
        let t = &targets[name];
        assert_eq!(t["inherits"], serde_json::json!(["_envc-common"]), "{name}");
        let digest = t["labels"]["dev.envc.spec.digest"].as_str().unwrap();
        let hex = digest.strip_prefix("sha256:").unwrap();
        assert_eq!(hex.len(), 64);
        let env = if name == "ray2_9" { "ray2.9" } else { name };
        assert_eq!(
            t["tags"],
            serde_json::json!([format!("registry.example.com/ml/{env}:{}", &hex[..12])])
        );
        assert_eq!(t["labels"]["dev.envc.version"], env!("CARGO_PKG_VERSION"));
    }
    // The checker itself catches what it should.
    let bad = serde_json::json!({"target": {"a.b": {"tags": "x", "inherit": ["z"]}},
                                 "group": {"default": {"targets": ["nope"]}}});
    assert_eq!(bake_problems(&bad).len(), 4, "{:?}", bake_problems(&bad));
}

/// The options that change the Dockerfile, each run as `bakefile` and as `dockerfile`.
const VARIANTS: [&[&str]; 3] = [&[], &["--heredoc"], &["--cache-mounts"]];

#[test]
fn each_dockerfile_inline_is_envc_dockerfile_and_parses_with_buildkit() {
    let mut specs = GOLDEN_SPECS.to_vec();
    specs.push("byod.yaml");
    let dir = workdir("inline", &specs);
    // `$${` in an env value: the escape must be undone exactly once.
    let dollar = root().join("tests/cases/env-value-dollar-mix/env.yaml");
    fs::copy(dollar, dir.join("dollar-mix.yaml")).unwrap();
    specs.push("dollar-mix.yaml");
    let mut checked = 0;
    for variant in VARIANTS {
        let mut args: Vec<&str> = specs.clone();
        args.extend_from_slice(variant);
        let doc = bakefile_in(dir.path(), &args).ok().json();
        for spec in &specs {
            let name = spec.trim_end_matches(".yaml");
            let inline = doc["target"][name]["dockerfile-inline"].as_str().unwrap();
            let text = hcl_unescape(inline)
                .unwrap_or_else(|| panic!("{name}: an unescaped `${{` or `%{{`: {inline}"));
            let mut dargs = vec!["dockerfile", spec];
            dargs.extend_from_slice(variant);
            let want = envc_in(dir.path(), &dargs).ok().stdout;
            assert!(
                text == want,
                "{name} {variant:?}:\n{text}\n---- envc dockerfile:\n{want}"
            );
            let file = dir.join(format!("{name}{}.Dockerfile", variant.join("")));
            fs::write(&file, &text).unwrap();
            let Some(parsed) = support_json("dfcheck.py", &file) else {
                continue;
            };
            let f = &parsed["files"][0];
            assert!(f["parse_error"].is_null(), "{name}: {}", f["parse_error"]);
            assert_eq!(f["instructions"][0]["cmd"], "FROM", "{name}");
            checked += 1;
        }
    }
    if checked == 0 {
        eprintln!("skipping the BuildKit parse: dfcheck.py's tools are missing");
    }
}

/// A directory with `existing` at `docker-bake.json`, to see it untouched by a refused run.
fn with_existing(dir: &TempDir) -> PathBuf {
    let out = dir.join("docker-bake.json");
    fs::write(&out, "before\n").unwrap();
    out
}

#[test]
fn an_invalid_spec_prints_checks_diagnostics_and_writes_nothing() {
    let dir = workdir("invalid", &["minimal.yaml"]);
    let bad = root().join("tests/cases/duplicate-env-key/env.yaml");
    fs::copy(bad, dir.join("broken.yaml")).unwrap();
    let out = with_existing(&dir);
    let r = bakefile_in(
        dir.path(),
        &["minimal.yaml", "broken.yaml", "-o", "docker-bake.json"],
    )
    .no();
    let check = envc_in(dir.path(), &["check", "broken.yaml"]).no();
    assert_eq!(r.stderr, check.stderr);
    assert!(r.stderr.contains("broken.yaml:"), "{r}");
    assert_eq!(r.stdout, "");
    assert_eq!(fs::read_to_string(&out).unwrap(), "before\n");
    // The same exit code as `envc dockerfile` on it.
    envc_in(dir.path(), &["dockerfile", "broken.yaml"]).no();
    // Without -o nothing reaches stdout either.
    assert_eq!(bakefile_in(dir.path(), &["broken.yaml"]).no().stdout, "");
}

#[test]
fn naming_mistakes_are_explained_and_write_nothing() {
    let dir = workdir("names", &["minimal.yaml"]);
    fs::create_dir_all(dir.join("other")).unwrap();
    fs::copy(
        root().join("fixtures/minimal.yaml"),
        dir.join("other/minimal.yaml"),
    )
    .unwrap();
    fs::copy(
        root().join("fixtures/minimal.yaml"),
        dir.join("My Env.yaml"),
    )
    .unwrap();
    fs::copy(root().join("fixtures/minimal.yaml"), dir.join("a.b.yaml")).unwrap();
    fs::copy(
        root().join("fixtures/minimal.yaml"),
        dir.join("default.yaml"),
    )
    .unwrap();
    let out = with_existing(&dir);
    let o = ["-o", "docker-bake.json"];
    // (arguments, exit code, message); every message but clap's and the name grammar's
    // suggests `--name`.
    let cases: [(&[&str], i32, &str); 6] = [
        (
            &["minimal.yaml", "other/minimal.yaml"],
            2,
            "`minimal.yaml` and `other/minimal.yaml` are both named `minimal`",
        ),
        (&["My Env.yaml"], 1, "`My Env.yaml` needs a name"),
        (
            &["--name", "Bad=minimal.yaml"],
            1,
            "cluster-environment name `Bad`",
        ),
        (
            &["a.b.yaml", "--name", "a_b=minimal.yaml"],
            2,
            "would both be the bake target `a_b`",
        ),
        (&["default.yaml"], 2, "cannot be named `default`"),
        (
            &[
                "minimal.yaml",
                "--name",
                "x=minimal.yaml",
                "--name",
                "y=minimal.yaml",
            ],
            2,
            "is named twice with `--name`",
        ),
    ];
    for (args, code, message) in cases {
        let mut all = args.to_vec();
        all.extend(o);
        let r = bakefile_in(dir.path(), &all).code(code);
        assert!(r.stderr.contains(message), "{message:?} not in: {r}");
        assert!(
            r.stderr.contains("--name") || r.stderr.contains("use `bad` instead"),
            "no hint: {r}"
        );
        assert_eq!(fs::read_to_string(&out).unwrap(), "before\n", "{r}");
    }
    // `--name` fixes both.
    bakefile_in(
        dir.path(),
        &[
            "--name",
            "my-env=My Env.yaml",
            "other/minimal.yaml",
            "--name",
            "two=minimal.yaml",
        ],
    )
    .ok();
}

#[test]
fn denied_warnings_refuse_the_bake_file() {
    let dir = workdir("deny", &["minimal.yaml", "seed.yaml"]);
    let out = with_existing(&dir);
    let r = bakefile_in(
        dir.path(),
        &[
            "minimal.yaml",
            "seed.yaml",
            "--deny-warnings",
            "-o",
            "docker-bake.json",
        ],
    )
    .no();
    assert!(r.stderr.contains("warning[W002]"), "{r}");
    assert!(r.stderr.contains("warnings are denied"), "{r}");
    assert_eq!(fs::read_to_string(&out).unwrap(), "before\n");
}

#[test]
fn an_unwritable_output_is_an_io_error_and_leaves_nothing() {
    let dir = workdir("unwritable", &["minimal.yaml"]);
    let r = bakefile_in(
        dir.path(),
        &["minimal.yaml", "-o", "missing/docker-bake.json"],
    )
    .code(2);
    assert!(
        r.stderr.contains("cannot write `missing/docker-bake.json`"),
        "{r}"
    );
    assert!(!dir.join("missing").exists());
    fs::create_dir(dir.join("adir")).unwrap();
    let r = bakefile_in(dir.path(), &["minimal.yaml", "-o", "adir"]).code(2);
    assert!(r.stderr.contains("cannot write `adir`"), "{r}");
    let left: Vec<_> = fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".envc-"))
        .collect();
    assert!(left.is_empty(), "temp files left: {left:?}");
    // A bad --tag-prefix is a usage error from clap.
    let r = bakefile_in(dir.path(), &["minimal.yaml", "--tag-prefix", "registry/ml"]).code(2);
    assert!(r.stderr.contains("does not end with `/`"), "{r}");
}
