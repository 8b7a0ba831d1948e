//! The runtime-environment parser's tests, by field: Ray's messages, its normalisation and the
//! rules that differ between Ray generations.

use super::exclusive::PIP_UV_CONDA;
use super::pip::requirements_lines;
use super::uri::uri_scheme;
use super::*;
use crate::diag::Diagnostic;
use crate::runtime_env::python::{py_float, py_path, py_str_repr, py_suffix};

fn run_in(
    cwd: &Path,
    text: &str,
    level: Level,
    ray: RayRules,
) -> (Option<RuntimeEnv>, Vec<Diagnostic>) {
    let file = Arc::new(SourceFile::new("env.yaml", text));
    let mut d = Diagnostics::new(file.clone());
    let env = parse(file, cwd, level, ray, &mut d);
    (env, d.into_vec())
}

fn run(text: &str) -> (Option<RuntimeEnv>, Vec<Diagnostic>) {
    run_in(
        Path::new("/nonexistent-envc-cwd"),
        text,
        Level::Job,
        RayRules::V2_40,
    )
}

/// The single error's code, message and 1-based line:column.
fn error(text: &str) -> (codes::Code, String, usize, usize) {
    error_with(text, Level::Job, RayRules::V2_40)
}

fn error_with(text: &str, level: Level, ray: RayRules) -> (codes::Code, String, usize, usize) {
    let (env, diags) = run_in(Path::new("/nonexistent-envc-cwd"), text, level, ray);
    assert!(env.is_none(), "{text}: accepted");
    let errors: Vec<_> = diags.iter().filter(|d| d.is_error()).collect();
    assert_eq!(errors.len(), 1, "{text}: {errors:?}");
    let d = errors[0];
    let lc = d.file.line_col(d.span.unwrap().start);
    (d.code, d.message.clone(), lc.line, lc.column)
}

fn ok(text: &str) -> RuntimeEnv {
    let (env, diags) = run(text);
    assert!(!diags.iter().any(Diagnostic::is_error), "{text}: {diags:?}");
    env.unwrap()
}

#[test]
fn pip_messages_are_rays() {
    assert_eq!(
        error(r#"{"pip": {"packages": ["a"], "foo": 1}}"#),
        (
            codes::RTE_PIP,
            "runtime_env['pip'] can only have these fields: packages, pip_check and pip_version, but got: ['packages', 'foo']".into(),
            1,
            29
        )
    );
    assert_eq!(
        error(r#"{"pip": {"pip_check": false}}"#).1,
        "runtime_env['pip'] must include field 'packages', but got {'pip_check': False}"
    );
    assert_eq!(
        error(r#"{"pip": 1}"#),
        (
            codes::RTE_PIP,
            "runtime_env['pip'] must be of type str or List[str], got <class 'int'>".into(),
            1,
            9
        )
    );
    assert_eq!(
        error(r#"{"pip": ["a", 2]}"#),
        (
            codes::RTE_PIP,
            "runtime_env['pip'] must be of type str or List[str], got <class 'list'>".into(),
            1,
            15
        )
    );
    assert_eq!(
        error(r#"{"pip": "requirements.txt"}"#).1,
        "requirements.txt is not a valid file"
    );
    assert_eq!(
        error(r#"{"pip": "./reqs//r.txt"}"#).1,
        "reqs/r.txt is not a valid file"
    );
    assert_eq!(
        error(r#"{"pip": {"packages": ["a"], "pip_check": "yes"}}"#).1,
        "runtime_env['pip']['pip_check'] must be of type bool, got <class 'str'>"
    );
    assert_eq!(
        error(r#"{"pip": {"packages": ["a"], "pip_version": 23}}"#).1,
        "runtime_env['pip']['pip_version'] must be of type str, got <class 'int'>"
    );
    assert_eq!(
        error(r#"{"pip": {"packages": 3}}"#).1,
        "runtime_env['pip']['packages'] must be of type str of list, got: <class 'int'>"
    );
}

#[test]
fn pip_is_deduplicated_and_empty_dropped() {
    let env = ok(r#"{"pip": ["b", "a", "b"]}"#);
    assert_eq!(env.pip.unwrap().packages, ["b", "a"]);
    assert!(ok(r#"{"pip": []}"#).pip.is_none());
    assert!(ok(r#"{"pip": {"packages": [], "pip_version": "==23.1"}}"#)
        .pip
        .is_none());
    let env = ok("pip:\n  packages: [x]\n  pip_check: false\n  pip_version: '==23.1'\n");
    let pip = env.pip.unwrap();
    assert_eq!(pip.pip_check, Some(false));
    assert_eq!(pip.pip_version.as_deref(), Some("==23.1"));
}

#[test]
fn requirements_file_is_read_like_ray() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("req.txt"),
        "\n\nrequests\r\n# comment\n\nrequests\nchess  \n\n",
    )
    .unwrap();
    let (env, diags) = run_in(
        dir.path(),
        r#"{"pip": "req.txt"}"#,
        Level::Job,
        RayRules::V2_40,
    );
    assert!(diags.is_empty(), "{diags:?}");
    let pip = env.unwrap().pip.unwrap();
    assert_eq!(pip.packages, ["requests", "# comment", "", "chess"]);
    assert_eq!(pip.requirements_file, Some(dir.path().join("req.txt")));
    assert_eq!(requirements_lines(""), [""]);
    let (env, _) = run_in(
        dir.path(),
        r#"{"pip": {"packages": "req.txt", "pip_check": true}}"#,
        Level::Job,
        RayRules::V2_40,
    );
    assert_eq!(
        env.unwrap().canonical_json(),
        r##"{"pip":{"packages":["requests","# comment","","chess"],"pip_check":true}}"##
    );
}

#[test]
fn conda_messages_and_forms() {
    assert_eq!(
        error(r#"{"conda": ["x"]}"#),
        (
            codes::RTE_CONDA,
            "runtime_env['conda'] must be of type str or dict, got <class 'list'>.".into(),
            1,
            11
        )
    );
    assert_eq!(
        error(r#"{"conda": "./envs/environment.yml"}"#).1,
        "Can't find conda YAML file envs/environment.yml."
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("env.yaml"), "dependencies: [numpy]\n").unwrap();
    std::fs::write(dir.path().join("bad.yaml"), "a: [1\n").unwrap();
    let (env, _) = run_in(
        dir.path(),
        r#"{"conda": "env.yaml"}"#,
        Level::Job,
        RayRules::V2_40,
    );
    assert_eq!(
        env.unwrap().canonical_json(),
        r#"{"conda":{"dependencies":["numpy"]}}"#
    );
    let (env, diags) = run_in(
        dir.path(),
        r#"{"conda": "bad.yaml"}"#,
        Level::Job,
        RayRules::V2_40,
    );
    assert!(env.is_none());
    assert!(
        diags[0]
            .message
            .starts_with("Failed to read conda file bad.yaml: "),
        "{}",
        diags[0].message
    );
    assert_eq!(
        ok(r#"{"conda": "my-env"}"#).conda,
        Some(Conda::Name("my-env".into()))
    );
    assert!(matches!(
        ok(r#"{"conda": {"dependencies": ["numpy"]}}"#).conda,
        Some(Conda::Inline(_))
    ));
}

#[test]
fn pip_and_conda_v1_truthiness_v2_presence() {
    let text = r#"{"pip": [], "conda": "x"}"#;
    let (code, msg, line, col) = error_with(text, Level::Job, RayRules::V2_40);
    assert_eq!(code, codes::RTE_PIP_AND_CONDA);
    assert_eq!(msg, PIP_UV_CONDA);
    assert_eq!((line, col), (1, 13));
    let (env, diags) = run_in(Path::new("/"), text, Level::Job, RayRules::V1);
    assert!(diags.is_empty(), "{diags:?}");
    assert_eq!(env.unwrap().canonical_json(), r#"{"conda":"x"}"#);
    let both = r#"{"pip": ["a"], "conda": "x"}"#;
    assert_eq!(
        error_with(both, Level::Job, RayRules::V1),
        (
            codes::RTE_PIP_AND_CONDA,
            "The 'pip' field and 'conda' field of runtime_env cannot both be specified.".into(),
            1,
            16
        )
    );
    // A null field is absent (Ray skips `None`).
    assert!(ok(r#"{"pip": null, "conda": "x"}"#).pip.is_none());
}

/// Issue 7, item 9: Ray 2.40 refuses these (messages from `RuntimeEnv.__init__`).
#[test]
fn fields_ray_refuses_together() {
    // `uv` counts like `pip` and `conda`, by presence; a null is absent.
    for text in [
        r#"{"pip": ["a"], "uv": ["b"]}"#,
        r#"{"uv": [], "pip": ["a"]}"#,
        r#"{"uv": "req.txt", "conda": "x"}"#,
    ] {
        let (code, msg, _, _) = error(text);
        assert_eq!(
            (code, msg.as_str()),
            (codes::RTE_PIP_AND_CONDA, PIP_UV_CONDA),
            "{text}"
        );
    }
    assert_eq!(
        error(r#"{"pip": ["a"], "uv": ["b"]}"#),
        (codes::RTE_PIP_AND_CONDA, PIP_UV_CONDA.into(), 1, 16)
    );
    let (env, diags) = run(r#"{"uv": null, "pip": ["a"]}"#);
    assert!(env.is_some() && diags.is_empty(), "{diags:?}");
    // Ray 1 has no `uv`: a plugin field, warned about and kept.
    let (env, diags) = run_in(
        Path::new("/"),
        r#"{"pip": ["a"], "uv": ["b"]}"#,
        Level::Job,
        RayRules::V1,
    );
    assert!(env.is_some(), "{diags:?}");
    assert_eq!(
        diags.iter().map(|d| d.code).collect::<Vec<_>>(),
        [codes::RTE_UNKNOWN_FIELD]
    );

    // A truthy `image_uri` or `container` allows only `config` and `env_vars` besides.
    let image = "The 'image_uri' field currently cannot be used together with other fields \
                 of runtime_env. Specified fields: ";
    for (text, fields, col) in [
        (r#"{"image_uri": "r/i:1", "pip": ["a"]}"#, "{'pip'}", 24),
        (r#"{"image_uri": "r/i:1", "pip": []}"#, "{'pip'}", 24),
        (
            r#"{"image_uri": "r/i:1", "py_modules": []}"#,
            "{'py_modules'}",
            24,
        ),
        (
            r#"{"working_dir": "s3://b/w.zip", "image_uri": "r/i:1", "excludes": ["x"]}"#,
            "{'excludes', 'working_dir'}",
            2,
        ),
        // A null plugin field stays in Ray's kwargs.
        (r#"{"image_uri": "r/i:1", "foo": null}"#, "{'foo'}", 24),
    ] {
        assert_eq!(
            error(text),
            (codes::RTE_CONFIG, format!("{image}{fields}"), 1, col),
            "{text}"
        );
    }
    assert_eq!(
        error(r#"{"container": {"image": "x"}, "image_uri": "r/i:1"}"#).1,
        "The 'container' field currently cannot be used together with other fields of \
         runtime_env. Specified fields: {'image_uri'}"
    );
    for text in [
        r#"{"image_uri": "r/i:1", "env_vars": {"A": "1"}, "config": {"eager_install": true}}"#,
        r#"{"image_uri": "r/i:1", "working_dir": null}"#,
        r#"{"image_uri": "", "pip": ["a"]}"#,
        r#"{"container": {}, "pip": ["a"]}"#,
    ] {
        let (env, diags) = run(text);
        assert!(env.is_some(), "{text}: {diags:?}");
    }
    // Ray 1 has neither rule.
    let (env, _) = run_in(
        Path::new("/"),
        r#"{"image_uri": "r/i:1", "pip": ["a"]}"#,
        Level::Job,
        RayRules::V1,
    );
    assert!(env.is_some());
}

#[test]
fn env_vars_messages() {
    assert_eq!(
        error("env_vars:\n  A: a\n  B: 1\n"),
        (
            codes::RTE_ENV_VARS,
            "runtime_env['env_vars'] must be of type Dict[str, str], but the value 1 is of type <class 'int'>".into(),
            3,
            6
        )
    );
    assert_eq!(
        error(r#"{"env_vars": {"A": true}}"#).1,
        "runtime_env['env_vars'] must be of type Dict[str, str], but the value True is of type <class 'bool'>"
    );
    assert_eq!(
        error("env_vars:\n  1: a\n"),
        (
            codes::RTE_ENV_VARS,
            "runtime_env['env_vars'] must be of type Dict[str, str], but the key 1 is of type <class 'int'>".into(),
            2,
            3
        )
    );
    assert_eq!(
        error(r#"{"env_vars": ["A=1"]}"#).1,
        "runtime_env['env_vars'] must be of type Dict[str, str], got <class 'list'>"
    );
    assert_eq!(
        error(r#"{"env_vars": {"A": "1", "A": "2"}}"#).0,
        codes::DUPLICATE_KEY
    );
    let env = ok(r#"{"env_vars": {"B": "1", "A": "x"}}"#);
    assert_eq!(
        env.env_vars,
        [("B".into(), "1".into()), ("A".into(), "x".into())]
    );
    assert!(ok(r#"{"env_vars": {}}"#).env_vars.is_empty());
    assert_eq!(ok(r#"{"env_vars": {}}"#).canonical_json(), "{}");
}

#[test]
fn excludes_must_be_a_list() {
    assert_eq!(
        error(r#"{"excludes": "*.csv"}"#),
        (
            codes::RTE_EXCLUDES,
            "runtime_env['excludes'] must be of type List[str], got <class 'str'>".into(),
            1,
            14
        )
    );
    assert_eq!(
        error(r#"{"excludes": ["a", 1]}"#).1,
        "runtime_env['excludes'] must be of type List[str], got <class 'list'>"
    );
    assert_eq!(
        ok(r#"{"excludes": ["*.csv", "/x"]}"#).excludes,
        ["*.csv", "/x"]
    );
}

#[test]
fn working_dir_rules() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("code")).unwrap();
    std::fs::write(dir.path().join("code.zip"), b"PK").unwrap();
    std::fs::write(dir.path().join("m.whl"), b"PK").unwrap();
    std::fs::write(dir.path().join("m.py"), b"").unwrap();
    let job = |t: &str, ray| run_in(dir.path(), t, Level::Job, ray);
    let env = job(r#"{"working_dir": "code"}"#, RayRules::V2_40)
        .0
        .unwrap();
    assert_eq!(
        env.working_dir.unwrap().kind,
        LocationKind::LocalDir(dir.path().join("code"))
    );
    let env = job(r#"{"working_dir": "./code.zip"}"#, RayRules::V2_40)
        .0
        .unwrap();
    assert!(matches!(
        env.working_dir.unwrap().kind,
        LocationKind::LocalZip(_)
    ));
    let (env, d) = job(r#"{"working_dir": "missing"}"#, RayRules::V2_40);
    assert!(env.is_none());
    assert_eq!(
        d[0].message,
        "directory missing must be an existing directory"
    );
    assert_eq!(d[0].code, codes::RTE_LOCATION);

    // Remote URIs.
    for uri in [
        "s3://bucket/code.zip",
        "gs://b/c.zip",
        "https://example.com/c.zip?x=1",
        "gcs://_ray_pkg_0a62fe483960e4e9.zip",
    ] {
        let env = ok(&format!(r#"{{"working_dir": "{uri}"}}"#));
        assert!(env.working_dir.unwrap().is_uri());
    }
    assert_eq!(
        error(r#"{"working_dir": "s3://bucket/code.tar.gz"}"#),
        (
            codes::RTE_URI,
            "Only .zip files supported for remote URIs.".into(),
            1,
            17
        )
    );
    let (code, msg, ..) = error(r#"{"working_dir": "ftp://h/c.zip"}"#);
    assert_eq!(code, codes::RTE_URI);
    assert_eq!(
        msg,
        "Invalid protocol for runtime_env URI \"ftp://h/c.zip\". Supported protocols: ['GCS', 'CONDA', 'PIP', 'UV', 'HTTPS', 'S3', 'GS', 'FILE']."
    );
    // file:// is Ray 2 only.
    assert!(ok(r#"{"working_dir": "file:///tmp/c.zip"}"#)
        .working_dir
        .is_some());
    let (code, msg, ..) = error_with(
        r#"{"working_dir": "file:///tmp/c.zip"}"#,
        Level::Job,
        RayRules::V1,
    );
    assert_eq!(code, codes::RTE_URI);
    assert!(
        msg.ends_with("Supported protocols: ['GCS', 'HTTPS', 'S3', 'GS']."),
        "{msg}"
    );

    // Task/actor level: URIs only.
    assert_eq!(
        error_with(r#"{"working_dir": "."}"#, Level::TaskOrActor, RayRules::V2_40),
        (
            codes::RTE_LOCATION,
            ". is not a valid URI. Passing directories or modules to be dynamically uploaded is only supported at the job level (i.e., passed to `ray.init`).".into(),
            1,
            17
        )
    );
    assert!(run_in(
        dir.path(),
        r#"{"working_dir": "s3://b/c.zip"}"#,
        Level::TaskOrActor,
        RayRules::V2_40
    )
    .0
    .is_some());
    assert_eq!(
        error(r#"{"working_dir": 3}"#).1,
        "`working_dir` must be a string, got <class 'int'>."
    );

    // py_modules: V2 adds .whl and .py, locally and (whl) remotely.
    let text = r#"{"py_modules": ["code", "m.whl", "m.py", "s3://b/m.whl"]}"#;
    let (env, d) = job(text, RayRules::V2_40);
    assert!(d.is_empty(), "{d:?}");
    let kinds: Vec<_> = env
        .unwrap()
        .py_modules
        .unwrap()
        .into_iter()
        .map(|l| l.kind)
        .collect();
    assert!(matches!(kinds[1], LocationKind::LocalWheel(_)));
    assert!(matches!(kinds[2], LocationKind::LocalPy(_)));
    let (env, d) = job(text, RayRules::V1);
    assert!(env.is_none());
    let msgs: Vec<_> = d.iter().map(|d| d.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "m.whl is not a directory or a supported package file",
            "m.py is not a directory or a supported package file",
            "Only .zip files supported for remote URIs.",
        ]
    );
    assert_eq!(
        error(r#"{"py_modules": ["s3://b/m.tar"]}"#).1,
        "Only .zip or .whl files supported for remote URIs."
    );
    assert_eq!(
        error(r#"{"py_modules": "s3://b/m.zip"}"#).1,
        "`py_modules` must be a list of strings, got <class 'str'>."
    );
    assert!(ok(r#"{"py_modules": []}"#)
        .py_modules
        .is_some_and(|p| p.is_empty()));
}

#[test]
fn config_rules() {
    let env = ok(r#"{"config": {"setup_timeout_seconds": -1, "eager_install": false}}"#);
    assert_eq!(env.config.setup_timeout_seconds, Some(-1));
    assert_eq!(env.config.eager_install, Some(false));
    assert_eq!(
        error(r#"{"config": {"setup_timeout_seconds": 0}}"#),
        (
            codes::RTE_CONFIG,
            "setup_timeout_seconds must be greater than zero or equals to -1, got: 0".into(),
            1,
            38
        )
    );
    assert_eq!(
        error(r#"{"config": {"setup_timeout_seconds": "600"}}"#).1,
        "setup_timeout_seconds must be of type int, got: <class 'str'>"
    );
    assert_eq!(
        error(r#"{"config": {"eager_install": "yes"}}"#).1,
        "eager_install must be a boolean. got <class 'str'>"
    );
    assert_eq!(
        error(r#"{"config": []}"#).1,
        "runtime_env['config'] must be of type dict or RuntimeEnvConfig, got: <class 'list'>"
    );
    let (env, d) = run(r#"{"config": {"foo": 1}}"#);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].code, codes::RTE_UNKNOWN_CONFIG);
    assert_eq!(
        d[0].message,
        "The following unknown entries in the runtime_env_config dictionary will be ignored: {'foo'}."
    );
    assert_eq!(env.unwrap().canonical_json(), "{}");
}

#[test]
fn not_a_map_unknown_fields_and_other_types() {
    assert_eq!(
        error("- a\n- b\n"),
        (
            codes::RTE_NOT_A_MAP,
            "runtime_env must be of type dict, got <class 'list'>".into(),
            1,
            1
        )
    );
    assert_eq!(error("").0, codes::RTE_NOT_A_MAP);
    assert_eq!(error("\"x\"").0, codes::RTE_NOT_A_MAP);
    assert_eq!(error("{").0, codes::YAML_SYNTAX);
    let (env, d) = run("working_directory: x\nmy_plugin: {a: 1}\n");
    let env = env.unwrap();
    assert_eq!(d.len(), 2);
    assert!(d.iter().all(|d| d.code == codes::RTE_UNKNOWN_FIELD));
    assert_eq!(d[0].help.as_deref(), Some("did you mean `working_dir`?"));
    assert_eq!(
        env.canonical_json(),
        r#"{"my_plugin":{"a":1},"working_directory":"x"}"#
    );
    assert_eq!(
        error(r#"{"image_uri": 1}"#).1,
        "runtime_env['image_uri'] must be of type str, got <class 'int'>"
    );
    assert_eq!(
        error(r#"{"container": "img"}"#).1,
        "runtime_env['container'] must be of type dict, got <class 'str'>"
    );
}

#[test]
fn canonical_form() {
    let a = ok(
        r#"{"pip": ["b", "a", "b"], "env_vars": {"Y": "1", "X": "2"}, "excludes": [], "conda": null}"#,
    );
    let b = ok("env_vars:\n  X: '2'\n  Y: '1'\npip: [b, a]\n");
    assert_eq!(a.canonical_json(), b.canonical_json());
    assert_eq!(
        a.canonical_json(),
        r#"{"env_vars":{"X":"2","Y":"1"},"pip":["b","a"]}"#
    );
    let c = ok(
        r#"{"pip": {"packages": ["b", "a"], "pip_check": false}, "env_vars": {"X": "2", "Y": "1"}}"#,
    );
    assert_eq!(a.canonical_json(), c.canonical_json());
    assert_eq!(ok("{}").canonical_json(), "{}");
    let d = ok(
        r#"{"pip": {"packages": ["a"], "pip_version": "==23.1"}, "config": {"eager_install": true}}"#,
    );
    assert_eq!(
        d.canonical_json(),
        r#"{"config":{"eager_install":true},"pip":{"packages":["a"],"pip_version":"==23.1"}}"#
    );
    assert_eq!(
        ok(r#"{"image_uri": "r/i:1", "env_vars": {"A": "1"}}"#).canonical_json(),
        r#"{"env_vars":{"A":"1"},"image_uri":"r/i:1"}"#
    );
}

#[test]
fn python_reprs() {
    assert_eq!(py_str_repr("it's"), "\"it's\"");
    assert_eq!(py_str_repr("a'\"b"), "'a\\'\"b'");
    assert_eq!(py_float(1.0), "1.0");
    assert_eq!(py_float(1e20), "1e+20");
    assert_eq!(py_float(1.5e-7), "1.5e-07");
    assert_eq!(py_path("./a//b/"), "a/b");
    assert_eq!(py_path(""), ".");
    assert_eq!(py_suffix("x/env.YML"), ".YML");
    assert_eq!(py_suffix(".yaml"), "");
    assert_eq!(uri_scheme("S3://b/x.zip").as_deref(), Some("s3"));
    assert_eq!(uri_scheme("./a:b"), None);
}

/// Issue 8, item 7: a runtime env goes through the one input reader. Not UTF-8 is E003 (it was
/// read lossily, so `caf\xe9` became `caf\u{fffd}` and passed); over the size limit is E002,
/// found from the file's size; a YAML limit says where the limits are explained.
#[test]
fn load_reads_like_every_input() {
    let d = tempfile::tempdir().unwrap();
    let bad = d.path().join("bad.json");
    std::fs::write(&bad, b"{\"pip\": [\"caf\xe9\"]}").unwrap();
    let (env, diags) = load(&bad, d.path(), Level::Job, RayRules::V2_40).unwrap();
    assert!(env.is_none());
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].code, codes::ENCODING);
    assert_eq!(diags[0].span, Some(Span::new(13, 14)));

    let big = d.path().join("big.json");
    std::fs::File::create(&big)
        .unwrap()
        .set_len(yaml::MAX_BYTES as u64 + 1)
        .unwrap();
    let (env, diags) = load(&big, d.path(), Level::Job, RayRules::V2_40).unwrap();
    assert!(env.is_none());
    assert_eq!(diags[0].code, codes::YAML_LIMIT);
    assert_eq!(
        diags[0].help.as_deref(),
        Some("see `envc explain E002` for envc's limits")
    );

    let deep = format!("{}{}", "[".repeat(100), "]".repeat(100));
    let (_, diags) = run(&deep);
    assert_eq!(diags[0].code, codes::YAML_LIMIT);
    assert_eq!(diags[0].help.as_deref(), Some(yaml::LIMIT_HELP));

    let missing = load(
        &d.path().join("none.json"),
        d.path(),
        Level::Job,
        RayRules::V2_40,
    );
    assert!(missing.is_err());
}

/// A requirements file a runtime env names is read with the same cap: a huge one is refused
/// from its size, not read into memory.
#[test]
fn requirements_file_over_the_limit() {
    let d = tempfile::tempdir().unwrap();
    std::fs::File::create(d.path().join("req.txt"))
        .unwrap()
        .set_len(yaml::MAX_BYTES as u64 + 1)
        .unwrap();
    let (env, diags) = run_in(d.path(), "pip: req.txt", Level::Job, RayRules::V2_40);
    assert!(env.is_none());
    assert_eq!(diags[0].code, codes::RTE_PIP);
    assert!(
        diags[0]
            .message
            .starts_with("req.txt could not be read: the file is 8388609 bytes"),
        "{}",
        diags[0].message
    );
}
