//! The exit codes CI scripts branch on: `envc check` over many files when one cannot be read,
//! and `envc diff`, which follows diff(1) (0 equal, 1 different, 2 trouble).

mod common;

use common::{envc, envc_run, run, write_spec, TempDir};

const GOOD: &str = "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: \"1\"\n";
const OTHER: &str = "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: \"2\"\n";
const BAD: &str = "base_image: anyscale/ray:2.9.0-py310\nbase_imge: x\n";

#[test]
fn check_reports_an_unreadable_file_and_keeps_checking_the_rest() {
    let t = TempDir::new("check-io");
    let good = write_spec(t.path(), "good.yaml", GOOD);
    let missing = t.join("missing.yaml");
    let bad = write_spec(t.path(), "bad.yaml", BAD);
    let r = envc_run([
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        good.as_os_str(),
        missing.as_os_str(),
        bad.as_os_str(),
    ])
    .code(2);
    let doc = r.json();
    assert_eq!(doc["summary"]["files"], 3, "{r}");
    assert_eq!(doc["summary"]["errors"], 2, "{r}");
    let diags = doc["diagnostics"].as_array().unwrap();
    let io = diags.iter().find(|d| d["code"] == "E005").expect("E005");
    assert_eq!(io["file"], missing.display().to_string());
    assert!(io["line"].is_null() && io["start"].is_null(), "{io}");
    assert!(
        io["message"].as_str().unwrap().contains("cannot read"),
        "{io}"
    );
    // The spec after the unreadable one is still checked.
    let e010 = diags.iter().find(|d| d["code"] == "E010").expect("E010");
    assert_eq!(e010["file"], bad.display().to_string());
    assert_eq!(e010["line"], 2);

    // Human form: the same findings on stderr, in order.
    let r = envc_run([
        "check".as_ref(),
        good.as_os_str(),
        missing.as_os_str(),
        bad.as_os_str(),
    ])
    .code(2);
    let io_at = r
        .stderr
        .find(&format!(
            "{}: error[E005]: cannot read the file",
            missing.display()
        ))
        .unwrap_or_else(|| panic!("{r}"));
    let bad_at = r
        .stderr
        .find(&format!("{}:2:1: error[E010]", bad.display()))
        .unwrap_or_else(|| panic!("{r}"));
    assert!(io_at < bad_at, "{r}");

    // Without I/O trouble, an invalid spec is 1 and all-good is 0.
    envc_run(["check".as_ref(), good.as_os_str(), bad.as_os_str()]).no();
    envc_run(["check".as_ref(), good.as_os_str()]).ok();
}

#[test]
fn check_reports_an_unreadable_configuration_for_each_spec() {
    let t = TempDir::new("check-config-io");
    let one = write_spec(t.path(), "one.yaml", GOOD);
    let two = write_spec(t.path(), "two.yaml", BAD);
    let config = t.join("missing.toml");
    let r = envc_run([
        "check".as_ref(),
        "--format".as_ref(),
        "json".as_ref(),
        "--config".as_ref(),
        config.as_os_str(),
        one.as_os_str(),
        two.as_os_str(),
    ])
    .code(2);
    let doc = r.json();
    let io: Vec<_> = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["code"] == "E005")
        .collect();
    assert_eq!(
        io.len(),
        1,
        "reported once, for all the specs it governs: {r}"
    );
    assert_eq!(io[0]["file"], config.display().to_string(), "{r}");
    assert!(
        io[0]["help"].as_str().unwrap().contains("not checked"),
        "{r}"
    );
}

#[test]
fn standard_input_is_read_once() {
    let r = envc_run(["check", "-", "-"]).code(2);
    assert!(r.stderr.contains("can be read only once"), "{r}");
    let r = envc_run(["diff", "-", "-"]).code(2);
    assert!(r.stderr.contains("can be read only once"), "{r}");
}

#[test]
fn diff_exits_like_diff() {
    let t = TempDir::new("diff-exit");
    let a = write_spec(t.path(), "a.yaml", GOOD);
    let same = write_spec(t.path(), "same.yaml", &format!("# a comment\n{GOOD}"));
    let b = write_spec(t.path(), "b.yaml", OTHER);
    let bad = write_spec(t.path(), "bad.yaml", BAD);
    let store = t.join("store");
    let diff = |x: &std::path::Path, y: &std::path::Path, json: bool| {
        let mut c = envc();
        c.arg("diff").arg(x).arg(y).arg("--store").arg(&store);
        if json {
            c.args(["--format", "json"]);
        }
        run(&mut c)
    };
    let r = diff(&a, &same, false).ok();
    assert!(r.stdout.contains("no differences"), "{r}");
    assert_eq!(diff(&a, &same, true).ok().json()["differ"], false);
    let r = diff(&a, &b, false).no();
    assert!(r.stdout.contains("A"), "{r}");
    assert_eq!(diff(&a, &b, true).no().json()["differ"], true);
    // Trouble is 2, never 1 (which now means "different"): an invalid spec, a missing revision.
    let r = diff(&a, &bad, false).code(2);
    assert!(r.stderr.contains("E010"), "{r}");
    let r = run(envc()
        .arg("diff")
        .arg(&a)
        .arg("nope:3")
        .arg("--store")
        .arg(&store))
    .code(2);
    assert!(r.stdout.is_empty(), "{r}");
}

/// An error on a rendered line shows the line with the values the template read masked, in
/// the snippet and the message alike, for the human and JSON forms: a CI log never gets them.
#[test]
fn diagnostics_of_a_rendered_spec_never_show_a_secret() {
    let t = TempDir::new("masked");
    let spec = write_spec(
        t.path(),
        "env.yaml",
        "base_image: \"{{ env['HF_TOKEN'] }}\"\nenv_vars:\n  A: {{ KEY }}\n  B: \"{{ SHOWN }}\"\n",
    );
    for format in ["human", "json"] {
        let r = run(envc()
            .env("HF_TOKEN", "SEKRIT_HF_123")
            .args([
                "check",
                "--template",
                "--var",
                "KEY=yes-private",
                "--public-var",
            ])
            .arg("SHOWN=public-value")
            .args(["--format", format])
            .arg(&spec))
        .no();
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(!all.contains("SEKRIT_HF_123"), "{all}");
        assert!(all.contains("*************"), "masked in place: {all}");
        // `A: yes-private` is a YAML string here; the --var value is still never shown.
        assert!(!all.contains("yes-private"), "{all}");
        assert!(all.contains("E040"), "{all}");
    }
}

/// An engine transport as `--base` is named as what it is, not as a missing directory; a
/// registry's is pulled.
#[test]
fn registry_bases_are_named_as_unsupported_transports() {
    let t = TempDir::new("transport");
    let spec = write_spec(
        t.path(),
        "env.yaml",
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\n",
    );
    let store = t.join("store");
    for base in ["docker-daemon:busybox:latest", "containers-storage:x"] {
        let r = run(envc()
            .arg("build")
            .arg(&spec)
            .args(["--name", "x", "--base", base, "--store"])
            .arg(&store))
        .code(2);
        assert!(r.stderr.contains("not from an engine"), "{r}");
        assert!(!r.stderr.contains("layout directory"), "{r}");
        assert!(!store.exists(), "{r}");
    }
    // `docker://` is a registry: one that cannot be reached is exit 2, naming it, and leaves
    // no store behind.
    let r = run(envc()
        .arg("build")
        .arg(&spec)
        .args([
            "--name",
            "x",
            "--base",
            "docker://127.0.0.1:9/busybox:1",
            "--store",
        ])
        .arg(&store))
    .code(2);
    assert!(r.stderr.contains("127.0.0.1:9"), "{r}");
    assert!(!store.exists(), "{r}");
}

#[test]
fn a_template_variable_is_given_once() {
    let t = TempDir::new("var-twice");
    let spec = write_spec(
        t.path(),
        "env.yaml",
        "base_image: anyscale/ray:2.9.0-py310\n",
    );
    for args in [
        ["--var", "K=a", "--public-var", "K=b"],
        ["--var", "K=a", "--var", "K=b"],
    ] {
        let r = run(envc().args(["check", "--template"]).args(args).arg(&spec)).code(2);
        assert!(r.stderr.contains("`K` is given twice"), "{r}");
    }
}
