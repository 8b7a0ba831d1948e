//! `envc bake`: a runtime env's working dir, py_modules and env_vars on top of a stored
//! revision, checked with real tools (umoci, podman) and for the promises that matter: the code
//! layer holds exactly what Ray would upload, owned by the image user; unchanged code is
//! `unchanged`; a code change changes only the code layer, metadata layer, config and manifest.

mod common;

use common::*;
use serde_json::Value;
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// A store with `cluster:1` built from `spec` on the busybox base, or `None` (skipped).
fn cluster(tmp: &TempDir, spec: &str) -> Option<PathBuf> {
    let layout = match busybox_base(None) {
        Ok(dir) => dir,
        Err(reason) => {
            assert!(
                std::env::var_os("ENVC_ENGINE_REQUIRED").is_none(),
                "bake tests required but {reason}"
            );
            eprintln!("skipping: {reason}");
            return None;
        }
    };
    let store = tmp.join("store");
    let spec = write_spec(tmp.path(), "cluster.yaml", spec);
    let mut base = layout.as_os_str().to_owned();
    base.push(":1");
    build(&store, &spec, "cluster", &[os("--base"), &base]).ok();
    Some(store)
}

fn bake(store: &Path, dir: &Path, env_file: &str, name: &str) -> Run {
    run(envc()
        .current_dir(dir)
        .args([
            "bake",
            env_file,
            "--name",
            name,
            "--from",
            "cluster:1",
            "--store",
        ])
        .arg(store))
}

fn layers(store: &Path, reference: &str) -> Vec<String> {
    let show = run(envc()
        .args(["show", reference, "--format", "json", "--store"])
        .arg(store))
    .ok()
    .json();
    show["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

fn write(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn project(tmp: &TempDir) -> PathBuf {
    let p = tmp.join("project");
    write(&p.join("app/main.py"), "print('hi')\n");
    write(&p.join("app/debug.log"), "noise\n");
    write(&p.join("app/.gitignore"), "cache/\n");
    write(&p.join("app/cache/big.bin"), "cached\n");
    write(&p.join("mods/mymod/__init__.py"), "X = 1\n");
    write(
        &p.join("runtime_env.yaml"),
        "working_dir: ./app\nexcludes: [\"*.log\"]\npy_modules: [./mods/mymod]\nenv_vars:\n  MODE: prod\npip: [requests]\n",
    );
    p
}

#[test]
fn bake_lays_out_what_ray_would_upload_and_rebakes_unchanged() {
    let tmp = TempDir::new("bake");
    let Some(store) = cluster(
        &tmp,
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\nenv_vars:\n  PYTHONPATH: /base\n",
    ) else {
        return;
    };
    let p = project(&tmp);
    let first = bake(&store, &p, "runtime_env.yaml", "job").ok();
    assert!(first.stderr.contains("not installed by baking"), "{first}");
    let a = line_of(&first);
    assert_eq!(a.rev, 1);
    let again = line_of(&bake(&store, &p, "runtime_env.yaml", "job").ok());
    assert!(again.unchanged && again.digest == a.digest, "{again:?}");

    // The file list is exactly Ray's package: no *.log, nothing under the ignored cache/.
    let bundle = tmp.join("bundle");
    if have("umoci") {
        let mut image = store.as_os_str().to_owned();
        image.push(":job:1");
        run(Command::new("umoci")
            .args([os("unpack"), os("--rootless"), os("--image"), &image])
            .arg(&bundle))
        .ok();
        let root = bundle.join("rootfs/opt/envc");
        assert!(root.join("working_dir/main.py").is_file());
        assert!(root.join("working_dir/.gitignore").is_file());
        assert!(!root.join("working_dir/debug.log").exists());
        assert!(!root.join("working_dir/cache").exists());
        assert!(root.join("py_modules/mymod/__init__.py").is_file());
        let runtime: Value = serde_json::from_str(
            &std::fs::read_to_string(bundle.join("rootfs/.envc/runtime_env.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(runtime["env_vars"]["MODE"], "prod");
        assert!(bundle.join("rootfs/.envc/plan.json").is_file());
    } else {
        eprintln!("skipping the umoci checks: umoci not found");
    }

    // A code change: only the code layer and the metadata layer differ (the base's stay).
    write(&p.join("app/main.py"), "print('changed')\n");
    let b = line_of(&bake(&store, &p, "runtime_env.yaml", "job").ok());
    assert_eq!(b.rev, 2);
    let (la, lb) = (layers(&store, "job:1"), layers(&store, "job:2"));
    assert_eq!(la.len(), lb.len());
    let changed: Vec<usize> = (0..la.len()).filter(|&i| la[i] != lb[i]).collect();
    assert_eq!(
        changed,
        vec![la.len() - 2],
        "only the code layer's blob differs"
    );
    run(envc().arg("verify").arg("--store").arg(&store)).ok();

    // podman sees the working dir, PYTHONPATH as Ray's plugins build it (working_dir's plugin
    // runs first, then py_modules', and each appends the node's PYTHONPATH) and env.
    if have("podman") && have("runc") {
        let mut image = std::ffi::OsString::from("oci:");
        image.push(store.as_os_str());
        image.push(":job:2");
        let out = run(podman(&tmp.join("podman"))
            .args([os("run"), os("--rm"), os("--network"), os("none"), &image])
            .args([
                "sh",
                "-c",
                "pwd; echo PYTHONPATH=$PYTHONPATH; echo MODE=$MODE; cat main.py",
            ]))
        .ok();
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(
            lines,
            [
                "/opt/envc/working_dir",
                "PYTHONPATH=/opt/envc/py_modules:/opt/envc/working_dir:/base:/base",
                "MODE=prod",
                "print('changed')"
            ],
            "{out}"
        );
    } else {
        eprintln!("skipping the podman check: podman or runc not found");
    }
}

#[test]
fn files_belong_to_the_image_user_of_a_ray_family_plan() {
    let tmp = TempDir::new("bake-owner");
    let Some(store) = cluster(
        &tmp,
        "base_image: anyscale/ray:2.9.0-py310\nenv_vars:\n  A: \"1\"\n",
    ) else {
        return;
    };
    let p = project(&tmp);
    bake(&store, &p, "runtime_env.yaml", "job").ok();
    let code_layer = layers(&store, "job:1");
    let digest = &code_layer[code_layer.len() - 2];
    let blob = store
        .join("blobs/sha256")
        .join(digest.trim_start_matches("sha256:"));
    // Read the tar headers with Python's tarfile: an independent reader.
    let out = run(Command::new("python3").arg("-c").arg(
        "import sys, tarfile\nfor m in tarfile.open(sys.argv[1]):\n    print(m.name, m.uid, m.gid, m.mtime)",
    ).arg(&blob))
    .ok();
    for line in out.stdout.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        let expect = if f[0] == "opt" || f[0] == "opt/envc" {
            ("0", "0")
        } else {
            ("1000", "100")
        };
        assert_eq!((f[1], f[2]), expect, "{line}");
        assert_eq!(f[3], "0", "{line}");
    }
    assert!(
        out.stdout.contains("opt/envc/working_dir/main.py 1000 100"),
        "{out}"
    );
}

#[test]
fn bad_runtime_envs_are_refused_and_nothing_is_recorded() {
    let tmp = TempDir::new("bake-bad");
    let Some(store) = cluster(
        &tmp,
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\n",
    ) else {
        return;
    };
    let p = project(&tmp);
    write(
        &p.join("remote.yaml"),
        "working_dir: s3://bucket/code.zip\n",
    );
    write(&p.join("notamap.yaml"), "- a\n");
    write(&p.join("empty.yaml"), "pip: [requests]\n");
    write(
        &p.join("image.yaml"),
        "image_uri: anyscale/ray:2.40.0-py310\nenv_vars: {A: '1'}\n",
    );
    let index = std::fs::read(store.join("index.json")).unwrap();
    let r = bake(&store, &p, "remote.yaml", "job").no();
    assert!(r.stderr.contains("s3://bucket/code.zip"), "{r}");
    let r = bake(&store, &p, "notamap.yaml", "job").no();
    assert!(r.stderr.contains("notamap.yaml:1:1"), "{r}");
    let r = bake(&store, &p, "empty.yaml", "job").no();
    assert!(r.stderr.contains("nothing to bake"), "{r}");
    // Issue 7, item 4: a worker with its own image never sees the baked one.
    let r = bake(&store, &p, "image.yaml", "job").no();
    assert!(
        r.stderr
            .contains("`image_uri` runs Ray workers in `anyscale/ray:2.40.0-py310`"),
        "{r}"
    );
    let r = run(envc()
        .current_dir(&p)
        .args([
            "bake",
            "runtime_env.yaml",
            "--name",
            "job",
            "--from",
            "cluster:9",
            "--store",
        ])
        .arg(&store))
    .no();
    assert!(
        r.stderr
            .contains("Revision 9 of cluster environment 'cluster' not found."),
        "{r}"
    );
    assert_eq!(std::fs::read(store.join("index.json")).unwrap(), index);
}

/// The image config's `Env` of a stored revision, read from the store's blobs.
fn config_env(store: &Path, reference: &str) -> Vec<String> {
    let show = run(envc()
        .args(["show", reference, "--format", "json", "--store"])
        .arg(store))
    .ok()
    .json();
    let blob = |digest: &str| -> Value {
        let path = store
            .join("blobs/sha256")
            .join(digest.trim_start_matches("sha256:"));
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    };
    let manifest = blob(show["manifest"].as_str().unwrap());
    let config = blob(manifest["config"]["digest"].as_str().unwrap());
    config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_string())
        .collect()
}

/// Issue 7, item 4: Ray expands `$X` and `${X}` in env_vars against the worker's environment
/// (Ray 2.7+; only a path variable's own `${NAME}` in 2.5 and 2.6; nothing before), so the
/// baked `Env` holds the expanded values, under the rule of the base's Ray version.
#[test]
fn regression_issue7_bake_expands_env_vars_as_the_bases_ray_does() {
    let tmp = TempDir::new("bake-expand");
    let Some(store) = cluster(
        &tmp,
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\nenv_vars:\n  WHO: ray\n",
    ) else {
        return;
    };
    let p = tmp.join("project");
    write(
        &p.join("runtime_env.yaml"),
        "env_vars:\n  PATH: \"${PATH}:/opt/extra/bin\"\n  GREETING: \"hi $WHO\"\n  \
         GONE: \"${NOT_SET}x\"\n  KEPT: \"${not_set}$NOT_SET\"\n  B: \"$A/b\"\n  A: /a\n",
    );
    bake(&store, &p, "runtime_env.yaml", "job").ok();
    let env = config_env(&store, "job:1");
    let base_path = config_env(&store, "cluster:1")
        .into_iter()
        .find_map(|kv| kv.strip_prefix("PATH=").map(str::to_string))
        .expect("the base sets PATH");
    for want in [
        format!("PATH={base_path}:/opt/extra/bin"),
        "GREETING=hi ray".into(),
        "GONE=x".into(),
        "KEPT=${not_set}$NOT_SET".into(),
        // Sorted order: A is set before B reads it.
        "A=/a".into(),
        "B=/a/b".into(),
    ] {
        assert!(env.contains(&want), "{want} not in {env:?}");
    }
    if have("podman") && have("runc") {
        // With the literal `${PATH}:…` podman could not even find `sh`.
        let mut image = std::ffi::OsString::from("oci:");
        image.push(store.as_os_str());
        image.push(":job:1");
        let out = run(podman(&tmp.join("podman"))
            .args([os("run"), os("--rm"), os("--network"), os("none"), &image])
            .args(["sh", "-c", "echo $PATH; echo $GREETING"]))
        .ok();
        assert_eq!(
            out.stdout,
            format!("{base_path}:/opt/extra/bin\nhi ray\n"),
            "{out}"
        );
    }

    // A base of Ray 2.4 sets env_vars literally, and bake says so.
    let old = TempDir::new("bake-expand-old");
    let Some(store) = cluster(
        &old,
        "docker_image: localhost/busybox:1\nray_version: \"2.4.0\"\n",
    ) else {
        return;
    };
    let r = bake(&store, &p, "runtime_env.yaml", "job").ok();
    assert!(
        r.stderr.contains("Ray 2.4.0 sets env_vars literally"),
        "{r}"
    );
    let env = config_env(&store, "job:1");
    assert!(
        env.contains(&"PATH=${PATH}:/opt/extra/bin".to_string()),
        "{env:?}"
    );
}

/// Issue 11, item 2: a baked working dir needs no upload. `envc bake --format json` returns the
/// runtime env a job on the image passes: under Ray 2.60 `local://` URIs of the baked paths
/// (what was baked removed: excludes, env_vars; pip kept for Ray), under 2.40 no code fields
/// and a note that says why; the human form prints it too.
#[test]
fn regression_issue11_bake_prints_the_jobs_runtime_env() {
    let tmp = TempDir::new("bake-rte");
    let Some(store) = cluster(
        &tmp,
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\n",
    ) else {
        return;
    };
    let p = project(&tmp);
    let json = |ray: &str| {
        run(envc()
            .current_dir(&p)
            .args([
                "bake",
                "runtime_env.yaml",
                "--name",
                "job",
                "--from",
                "cluster:1",
            ])
            .args(["--ray", ray, "--format", "json", "--store"])
            .arg(&store))
        .ok()
        .json()
    };
    let new = json("2.60");
    assert_eq!(
        new["runtime_env"],
        serde_json::json!({
            "working_dir": "local:///opt/envc/working_dir",
            "py_modules": ["local:///opt/envc/py_modules/mymod"],
            "pip": ["requests"],
        }),
        "{new}"
    );
    assert_eq!(new["ray"], "Ray 2.60");
    assert_eq!(new["name"], "job");
    let old = json("2.40");
    assert_eq!(
        old["runtime_env"],
        serde_json::json!({"pip": ["requests"]}),
        "{old}"
    );
    assert!(
        old["note"]
            .as_str()
            .unwrap()
            .contains("has no `local://` URIs"),
        "{old}"
    );
    let human = bake(&store, &p, "runtime_env.yaml", "job").ok();
    assert!(
        human
            .stdout
            .contains(r#"runtime_env: {"pip":["requests"],"py_modules":["local:///opt/envc/py_modules/mymod"],"working_dir":"local:///opt/envc/working_dir"}"#),
        "{human}"
    );
    let bad = run(envc()
        .current_dir(&p)
        .args([
            "bake",
            "runtime_env.yaml",
            "--name",
            "job",
            "--from",
            "cluster:1",
            "--ray",
            "2.7",
        ])
        .arg("--store")
        .arg(&store));
    assert_eq!(bad.code, Some(2), "{bad}");
    assert!(
        bad.stderr.contains("supported: 1, 2 (= 2.60), 2.40, 2.60"),
        "{bad}"
    );
}
