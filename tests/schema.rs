//! `envc schema` checked with a real JSON Schema validator (Python's `jsonschema`).
//!
//! The schema is what editors (YAML language servers) use to flag mistakes while a spec is typed,
//! so it must accept every spec envc accepts and reject the plain mistakes envc rejects. The
//! YAML documents are converted to JSON with PyYAML first (timestamps are kept as strings, as a
//! YAML 1.2 reader would), then validated as draft-07.
//!
//! Without `python3`, its `jsonschema` or its `yaml` (PyYAML) module the validator tests print
//! why and pass (CI installs them: `pip install jsonschema pyyaml`). Without the corpus of real
//! specs (`../shared/corpus/real-specs`), the corpus tests print why and pass.

mod common;
use common::TempDir;

use serde_json::{json, Value};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const ENVC: &str = env!("CARGO_BIN_EXE_envc");
const MANIFEST_DIR: &str = env!("CARGO_MANIFEST_DIR");
const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// Corpus specs envc accepts that the schema rejects because it cannot express envc's rule.
/// None today. An entry here must really be rejected by the schema (checked), so the list cannot
/// go stale.
const ACCEPTED_BUT_NOT_BY_SCHEMA: &[(&str, &str)] = &[];

/// Corpus specs envc rejects that the schema accepts, because the reason is one of envc's rules
/// that a JSON Schema of the format does not (and should not) carry. Checked the same way.
const REJECTED_BUT_NOT_BY_SCHEMA: &[(&str, &str)] = &[(
    "ray-project__ray__release__long_running_distributed_tests__app_config.yaml",
    "base_image `anyscale/1.3.0-gpu` names no repository (E043): the schema's base_image only \
     excludes whitespace; the image-reference grammar and the base-image policy are envc's",
)];

/// Converts YAML documents to JSON and validates them. Reads
/// `{"schema": …, "docs": [{"name": …, "yaml": …}]}` on stdin, writes
/// `{"schema_error": null|str, "validator": str, "results": [{"name", "parse_error", "errors"}]}`.
const VALIDATE_PY: &str = r#"
import json, sys
import jsonschema, yaml

class Loader(yaml.SafeLoader):
    pass

# Keep timestamps as strings (YAML 1.2 has none, and JSON cannot carry them).
Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}

req = json.load(sys.stdin)
schema = req["schema"]
cls = jsonschema.validators.validator_for(schema, default=None)
out = {"schema_error": None, "validator": cls.__name__ if cls else None, "results": []}
try:
    jsonschema.Draft7Validator.check_schema(schema)
except jsonschema.exceptions.SchemaError as e:
    out["schema_error"] = str(e)
validator = jsonschema.Draft7Validator(schema)

def describe(err):
    where = "/" + "/".join(str(p) for p in err.absolute_path)
    text = where + ": " + err.message
    for sub in sorted(err.context, key=lambda e: (list(e.absolute_path), e.message)):
        text += "\n      - " + "/" + "/".join(str(p) for p in sub.absolute_path) + ": " + sub.message
    return text

for doc in req["docs"]:
    res = {"name": doc["name"], "parse_error": None, "errors": []}
    try:
        data = json.loads(json.dumps(yaml.load(doc["yaml"], Loader=Loader)))
    except Exception as e:
        res["parse_error"] = type(e).__name__ + ": " + str(e).replace("\n", " ")
    else:
        if out["schema_error"] is None:
            res["errors"] = [describe(e) for e in validator.iter_errors(data)]
    out["results"].append(res)
json.dump(out, sys.stdout)
"#;

/// The output of `envc schema`, parsed.
fn schema() -> Value {
    let out = Command::new(ENVC).arg("schema").output().expect("run envc");
    assert!(
        out.status.success(),
        "envc schema failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).expect("envc schema printed UTF-8");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("envc schema is not JSON: {e}\n{text}"))
}

/// Why the Python validator cannot run here, if it cannot.
fn validator_missing() -> Option<String> {
    for (check, what) in [
        ("import sys", "python3 not found"),
        ("import jsonschema", "python3 module jsonschema not found"),
        ("import yaml", "python3 module yaml (PyYAML) not found"),
    ] {
        let ok = Command::new("python3")
            .args(["-c", check])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            return Some(what.to_string());
        }
    }
    None
}

struct Outcome {
    name: String,
    parse_error: Option<String>,
    errors: Vec<String>,
}

impl Outcome {
    fn valid(&self) -> bool {
        self.parse_error.is_none() && self.errors.is_empty()
    }
}

/// Validates each `(name, yaml)` against the schema; asserts the schema itself is a valid
/// draft-07 schema. `None` (after printing why) when the validator is missing.
fn validate(docs: &[(String, String)]) -> Option<Vec<Outcome>> {
    if let Some(why) = validator_missing() {
        println!("skipping: {why}");
        return None;
    }
    let docs: Vec<Value> = docs
        .iter()
        .map(|(name, yaml)| json!({"name": name, "yaml": yaml}))
        .collect();
    let request = json!({"schema": schema(), "docs": docs}).to_string();
    let mut child = Command::new("python3")
        .args(["-c", VALIDATE_PY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run python3");
    let mut stdin = child.stdin.take().expect("stdin");
    let writer = std::thread::spawn(move || {
        use std::io::Write;
        stdin.write_all(request.as_bytes())
    });
    let out = child.wait_with_output().expect("wait for python3");
    writer.join().unwrap().expect("write to python3");
    assert!(
        out.status.success(),
        "validator failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reply: Value = serde_json::from_slice(&out.stdout).expect("validator printed JSON");
    assert_eq!(
        reply["schema_error"],
        Value::Null,
        "envc schema is not a valid draft-07 JSON Schema"
    );
    assert_eq!(
        reply["validator"], "Draft7Validator",
        "jsonschema does not read envc's schema as draft-07"
    );
    let outcomes = reply["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| Outcome {
            name: r["name"].as_str().unwrap().to_string(),
            parse_error: r["parse_error"].as_str().map(str::to_string),
            errors: r["errors"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e.as_str().unwrap().to_string())
                .collect(),
        })
        .collect::<Vec<_>>();
    assert_eq!(outcomes.len(), docs.len());
    Some(outcomes)
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// `envc check` on `yaml` (as `name.yaml` in `dir`): exit code and stderr.
fn envc_check(dir: &Path, name: &str, yaml: &str) -> (i32, String) {
    let path = dir.join(format!("{name}.yaml"));
    fs::write(&path, yaml).expect("write spec");
    let out = Command::new(ENVC)
        .arg("check")
        .arg(&path)
        .output()
        .expect("run envc");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn schema_is_json_and_declares_draft07_with_closed_objects() {
    let schema = schema();
    assert_eq!(schema["$schema"], DRAFT_07);
    let definitions = schema["definitions"]
        .as_object()
        .expect("the schema has definitions");
    for form in ["Standard", "Byod", "Python"] {
        assert!(definitions.contains_key(form), "no definition {form}");
    }
    // Every object with named keys is closed: envc rejects unknown keys (E010), and an editor
    // should flag `base_imge` the same way.
    for (name, def) in definitions {
        if def.get("properties").is_some() {
            assert_eq!(
                def.get("additionalProperties"),
                Some(&Value::Bool(false)),
                "definition {name} does not set additionalProperties: false"
            );
        }
    }
}

#[test]
fn schema_is_a_valid_draft07_schema() {
    // `validate` asserts the meta-schema check and that the validator picks draft-07.
    let _ = validate(&[]);
}

#[test]
fn fixtures_validate_against_schema() {
    let dir = Path::new(MANIFEST_DIR).join("fixtures");
    let mut docs = Vec::new();
    for entry in fs::read_dir(&dir).expect("read fixtures/") {
        let path = entry.expect("fixtures entry").path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if path.is_file() && name.ends_with(".yaml") && !name.starts_with("bad-") {
            docs.push((name, read(&path)));
        }
    }
    docs.sort();
    assert!(
        docs.iter().any(|(n, _)| n == "seed.yaml"),
        "fixtures/seed.yaml not found"
    );
    let Some(outcomes) = validate(&docs) else {
        return;
    };
    let failures: Vec<String> = outcomes
        .iter()
        .filter(|o| !o.valid())
        .map(|o| format!("fixtures/{}: {:?} {:#?}", o.name, o.parse_error, o.errors))
        .collect();
    assert!(
        failures.is_empty(),
        "fixtures the schema rejects:\n{}",
        failures.join("\n")
    );
    println!("{} fixtures validate", outcomes.len());
}

/// The corpus rows as `(file, expect)`, or `None` (after printing why) when it is absent.
fn corpus() -> Option<(PathBuf, Vec<(String, String)>)> {
    let dir = std::env::var_os("ENVC_CORPUS")
        .map_or_else(
            || Path::new(MANIFEST_DIR).join("../shared/corpus"),
            PathBuf::from,
        )
        .join("real-specs");
    let tsv = dir.join("EXPECTED.tsv");
    if !tsv.is_file() {
        println!("skipping: corpus not found at {}", tsv.display());
        return None;
    }
    let text = read(&tsv);
    let mut lines = text.lines();
    let header: Vec<&str> = lines
        .next()
        .expect("EXPECTED.tsv header")
        .split('\t')
        .collect();
    let col = |name: &str| {
        header
            .iter()
            .position(|h| *h == name)
            .unwrap_or_else(|| panic!("EXPECTED.tsv has no column {name}"))
    };
    let (file, expect) = (col("file"), col("expect"));
    let rows: Vec<(String, String)> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let cells: Vec<&str> = l.split('\t').collect();
            (cells[file].to_string(), cells[expect].to_string())
        })
        .collect();
    for (name, expect) in &rows {
        assert!(
            expect == "accept" || expect == "reject",
            "{name}: expect {expect:?}"
        );
    }
    Some((dir, rows))
}

/// Validates the corpus files expected to be `expect`; checks the exception list against them.
fn corpus_outcomes(
    expect: &str,
    exceptions: &[(&str, &str)],
) -> Option<(Vec<Outcome>, Vec<String>)> {
    let (dir, rows) = corpus()?;
    let docs: Vec<(String, String)> = rows
        .iter()
        .filter(|(_, e)| e == expect)
        .map(|(name, _)| (name.clone(), read(&dir.join(name))))
        .collect();
    assert!(!docs.is_empty(), "no corpus file is expected to {expect}");
    for (name, _) in exceptions {
        assert!(
            docs.iter().any(|(n, _)| n == name),
            "exception {name} is not a corpus file expected to {expect}"
        );
    }
    let outcomes = validate(&docs)?;
    let excepted = exceptions.iter().map(|(n, _)| n.to_string()).collect();
    Some((outcomes, excepted))
}

#[test]
fn corpus_accepted_specs_validate_against_schema() {
    let Some((outcomes, excepted)) = corpus_outcomes("accept", ACCEPTED_BUT_NOT_BY_SCHEMA) else {
        return;
    };
    let mut failures = Vec::new();
    for o in &outcomes {
        if excepted.contains(&o.name) {
            if o.valid() {
                failures.push(format!(
                    "{}: listed in ACCEPTED_BUT_NOT_BY_SCHEMA but the schema accepts it",
                    o.name
                ));
            }
        } else if let Some(e) = &o.parse_error {
            failures.push(format!("{}: not convertible to JSON: {e}", o.name));
        } else if !o.errors.is_empty() {
            failures.push(format!("{}:\n    {}", o.name, o.errors.join("\n    ")));
        }
    }
    assert!(
        failures.is_empty(),
        "accepted corpus specs the schema rejects ({} of {}):\n{}",
        failures.len(),
        outcomes.len(),
        failures.join("\n")
    );
    println!(
        "{} accepted corpus specs validate ({} listed exceptions)",
        outcomes.len() - excepted.len(),
        excepted.len()
    );
}

#[test]
fn corpus_rejected_specs_are_rejected_by_schema_where_it_can_tell() {
    let Some((outcomes, excepted)) = corpus_outcomes("reject", REJECTED_BUT_NOT_BY_SCHEMA) else {
        return;
    };
    let mut failures = Vec::new();
    for o in &outcomes {
        let listed = excepted.contains(&o.name);
        if listed && !o.valid() {
            failures.push(format!(
                "{}: listed in REJECTED_BUT_NOT_BY_SCHEMA but the schema rejects it",
                o.name
            ));
        } else if !listed && o.valid() {
            failures.push(format!("{}: the schema accepts it", o.name));
        }
    }
    assert!(
        failures.is_empty(),
        "rejected corpus specs:\n{}",
        failures.join("\n")
    );
}

/// Plain mistakes: each is rejected by the schema, and by envc with the given code.
const INVALID: &[(&str, &str, &str)] = &[
    (
        "unknown-top-level-key",
        "base_image: anyscale/ray:2.9.0-py310\nbase_imge: anyscale/ray:2.9.0-py310\n",
        "E010",
    ),
    (
        "unknown-key-only",
        "base_imge: anyscale/ray:2.9.0-py310\n",
        "E010",
    ),
    (
        "unknown-python-key",
        "base_image: anyscale/ray:2.9.0-py310\npython:\n  pip_package: [numpy]\n",
        "E010",
    ),
    (
        "runtime-env-key",
        "base_image: anyscale/ray:2.9.0-py310\nworking_dir: .\n",
        "E010",
    ),
    (
        "pip-packages-not-a-list",
        "base_image: anyscale/ray:2.9.0-py310\npython:\n  pip_packages: numpy\n",
        "E012",
    ),
    (
        "pip-packages-a-mapping",
        "base_image: anyscale/ray:2.9.0-py310\npython:\n  pip_packages:\n    numpy: 1.26\n",
        "E012",
    ),
    (
        "debian-packages-not-a-list",
        "base_image: anyscale/ray:2.9.0-py310\ndebian_packages: vim\n",
        "E012",
    ),
    (
        "env-vars-a-list",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  - A=1\n",
        "E012",
    ),
    (
        "env-value-boolean",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  DEBUG: true\n",
        "E021",
    ),
    (
        "env-value-float",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  RATIO: 0.5\n",
        "E021",
    ),
    (
        "standard-key-with-docker-image",
        "docker_image: my-registry/ray:2.9.0\nray_version: 2.9.0\ndebian_packages:\n  - vim\n",
        "E014",
    ),
    (
        "base-image-with-docker-image",
        "docker_image: my-registry/ray:2.9.0\nray_version: 2.9.0\nbase_image: anyscale/ray:2.9.0-py310\n",
        "E014",
    ),
    (
        "missing-base-image",
        "debian_packages:\n  - vim\npost_build_cmds:\n  - ls\n",
        "E013",
    ),
    ("empty-mapping", "{}\n", "E013"),
    ("null-base-image", "base_image:\n", "E013"),
    (
        "byod-missing-ray-version",
        "docker_image: my-registry/ray:2.9.0\n",
        "E013",
    ),
    (
        "byod-ray-version-float",
        "docker_image: my-registry/ray:2.9.0\nray_version: 2.9\n",
        "E044",
    ),
    ("not-a-mapping", "- base_image: anyscale/ray:2.9.0-py310\n", "E012"),
    ("env-name-invalid", "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A-B: x\n", "E020"),
    ("empty-pip-entry", "base_image: anyscale/ray:2.9.0-py310\npython:\n  pip_packages: ['']\n", "E024"),
    ("empty-docker-image", "docker_image: ''\nray_version: 2.9.0\n", "E024"),
    ("newline-in-env-value", "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: \"x\\ny\"\n", "E022"),
    (
        "leading-dash-debian",
        "base_image: anyscale/ray:2.9.0-py310\ndebian_packages: ['-y']\n",
        "E033",
    ),
    (
        "debian-removal-after-arch",
        "base_image: anyscale/ray:2.9.0-py310\ndebian_packages: ['sudo:amd64-']\n",
        "E030",
    ),
    (
        "unknown-key-not-an-extension",
        "base_image: anyscale/ray:2.9.0-py310\nX-common: {A: a}\n",
        "E010",
    ),
];

#[test]
fn schema_rejects_invalid_documents() {
    let tmp = TempDir::new("schema-invalid");
    let mut failures = Vec::new();
    for (name, yaml, code) in INVALID {
        let (status, stderr) = envc_check(tmp.path(), name, yaml);
        if status != 1 || !stderr.contains(&format!("error[{code}]")) {
            failures.push(format!(
                "{name}: envc check exited {status}, expected 1 with error[{code}]:\n{stderr}"
            ));
        }
    }
    let docs: Vec<(String, String)> = INVALID
        .iter()
        .map(|(n, y, _)| (n.to_string(), y.to_string()))
        .collect();
    if let Some(outcomes) = validate(&docs) {
        for o in outcomes {
            if let Some(e) = o.parse_error {
                failures.push(format!("{}: test document is not YAML: {e}", o.name));
            } else if o.errors.is_empty() {
                failures.push(format!("{}: the schema accepts it", o.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// Specs envc accepts in less common shapes; the schema must not flag them in an editor.
const VALID: &[(&str, &str)] = &[
    (
        "merge-keys-and-extension-anchor",
        "x-common: &common\n  A: \"1\"\n  B: one\nbase_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  <<: *common\n  B: two\n",
    ),
    (
        "byod-extension-anchor",
        "x-env: &env {A: a}\ndocker_image: my-registry/ray:2.9.0\nray_version: 2.9.0\nenv_vars: {<<: *env}\n",
    ),
    (
        "package-forms-the-tools-accept",
        "base_image: anyscale/ray:2.9.0-py310\ndebian_packages: ['sudo:amd64=1.9.13p3-1+deb12u4', g++, less+]\n\
         python:\n  pip_packages: [foo===weird, 'git+git://github.com/org/repo.git#egg=repo']\n  \
         conda_packages: [numpy=1.26=py310_0, python=3.10.*]\n",
    ),
    (
        "optional-keys-null",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\ndebian_packages:\npython:\npost_build_cmds:\n",
    ),
    (
        "python-lists-null",
        "base_image: anyscale/ray:2.9.0-py310\npython:\n  pip_packages:\n  conda_packages:\n",
    ),
    (
        "empty-collections",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars: {}\ndebian_packages: []\npython: {}\n",
    ),
    (
        "flow-style",
        "base_image: anyscale/ray-ml:2.9.0-py310-gpu\nenv_vars: {\"A\": \"1\", B: x}\npython: {pip_packages: [numpy, \"torch>=2\"]}\n",
    ),
    (
        "integer-env-value",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  HF_HUB_ENABLE_HF_TRANSFER: 1\n",
    ),
    (
        "lower-case-env-name",
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  RAY_task_oom_retries: '-1'\n",
    ),
    (
        "byod-full",
        "docker_image: my-registry.example.com/team/ray:2.9.0\nray_version: 2.9.0\nenv_vars:\n  A: b\nregistry_login_secret: my-secret\n",
    ),
    (
        "byod-nightly",
        "docker_image: my-registry/ray:latest\nray_version: nightly\n",
    ),
    (
        "byod-rc",
        "docker_image: my-registry/ray@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef\nray_version: 2.10.0rc1\n",
    ),
];

#[test]
fn schema_accepts_valid_documents_in_less_common_shapes() {
    let tmp = TempDir::new("schema-valid");
    let mut failures = Vec::new();
    for (name, yaml) in VALID {
        let (status, stderr) = envc_check(tmp.path(), name, yaml);
        if status != 0 {
            failures.push(format!(
                "{name}: envc check exited {status}, expected 0:\n{stderr}"
            ));
        }
    }
    let docs: Vec<(String, String)> = VALID
        .iter()
        .map(|(n, y)| (n.to_string(), y.to_string()))
        .collect();
    if let Some(outcomes) = validate(&docs) {
        for o in outcomes.iter().filter(|o| !o.valid()) {
            failures.push(format!(
                "{}: the schema rejects it: {:?} {:#?}",
                o.name, o.parse_error, o.errors
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
