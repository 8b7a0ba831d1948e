//! The store through the CLI: revisions and rollback, `list`/`show`/`diff`/`resolve` and their
//! errors, determinism across machines-in-miniature, SIGKILL at varied points, concurrent
//! builds, and bad input (broken base layouts, hostile layers, a store that is not a layout).
//!
//! Every image is built on the busybox base of `tests/support/busybox-base.sh` (made with umoci,
//! no envc involved); the crash test uses its `--big` variant (a second ~50 MiB layer of random
//! bytes) so a build with a fresh import takes long enough to be killed mid-way. Without umoci
//! or busybox-static the tests print why and pass (they fail under `ENVC_ENGINE_REQUIRED`).

mod common;

use common::*;
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// The busybox base layout, or None (after printing why) when it cannot be made here.
fn base(big_mb: Option<u32>) -> Option<PathBuf> {
    match busybox_base(big_mb) {
        Ok(dir) => Some(dir),
        Err(reason) => {
            if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
                panic!("store tests required (ENVC_ENGINE_REQUIRED) but {reason}");
            }
            eprintln!("skipping: {reason}");
            None
        }
    }
}

/// `--base DIR:1`
fn base_arg(layout: &Path) -> OsString {
    let mut s = layout.as_os_str().to_owned();
    s.push(":1");
    s
}

fn os(s: &str) -> &OsStr {
    OsStr::new(s)
}

/// `envc build` with `--base DIR:1`.
fn build_on(store: &Path, spec: &Path, name: &str, layout: &Path) -> Run {
    let b = base_arg(layout);
    build(store, spec, name, &[os("--base"), &b])
}

/// `envc SUB… --store STORE`
fn envc_store(store: &Path, args: &[&str]) -> Run {
    run(envc().args(args).arg("--store").arg(store))
}

fn list_json(store: &Path, name: &str) -> Vec<Value> {
    envc_store(store, &["list", name, "--format", "json"])
        .ok()
        .json()
        .as_array()
        .cloned()
        .unwrap_or_else(|| panic!("list --format json is not an array"))
}

/// (revision -> manifest digest) of NAME, from `list --format json`; each revision once.
fn revisions(store: &Path, name: &str) -> BTreeMap<u32, String> {
    let mut map = BTreeMap::new();
    for item in list_json(store, name) {
        assert_eq!(item["name"], name, "{item}");
        let rev = item["revision"].as_u64().expect("revision") as u32;
        let manifest = item["manifest"].as_str().expect("manifest").to_string();
        assert!(
            map.insert(rev, manifest).is_none(),
            "revision {rev} listed twice"
        );
    }
    map
}

fn verify_ok(store: &Path) -> Run {
    envc_store(store, &["verify"]).ok()
}

fn contains_ci(haystack: &str, needle: &str) -> bool {
    haystack.to_lowercase().contains(&needle.to_lowercase())
}

// ---------------------------------------------------------------------------------------------
// Revisions, rollback, list, show, diff, resolve, and their errors

#[test]
fn revisions_rollback_list_show_diff_and_not_found_messages() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("revisions");
    let store = tmp.join("store");
    let name = "my-env";
    let spec1 = write_spec(
        tmp.path(),
        "v1.yaml",
        &byod_spec(&[("GREETING", "hello"), ("PATH", "/opt/x/bin:$PATH")]),
    );
    let spec2 = write_spec(
        tmp.path(),
        "v2.yaml",
        &byod_spec(&[("GREETING", "goodbye"), ("PATH", "/opt/x/bin:$PATH")]),
    );

    // build -> :1; the same spec again -> :1 unchanged (with or without --base).
    let r1 = line_of(&build_on(&store, &spec1, name, &layout).ok());
    assert_eq!((r1.name.as_str(), r1.rev, r1.unchanged), (name, 1, false));
    let again = line_of(&build_on(&store, &spec1, name, &layout).ok());
    assert_eq!(
        again,
        Line {
            unchanged: true,
            ..r1.clone()
        },
        "rebuild of the same spec"
    );
    let again = line_of(&build(&store, &spec1, name, &[]).ok());
    assert_eq!(
        again,
        Line {
            unchanged: true,
            ..r1.clone()
        },
        "rebuild without --base"
    );

    // One env var changed -> :2, a different image.
    let r2 = line_of(&build(&store, &spec2, name, &[]).ok());
    assert_eq!((r2.rev, r2.unchanged), (2, false));
    assert_ne!(r2.digest, r1.digest);

    // rollback --to 1 -> :3 with :1's manifest.
    let before = fs::read(store.join("index.json")).unwrap();
    let r3 = line_of(&envc_store(&store, &["rollback", name, "--to", "1"]).ok());
    assert_eq!((r3.rev, r3.unchanged), (3, false));
    assert_eq!(r3.digest, r1.digest, "a rollback's image is the target's");
    assert_ne!(fs::read(store.join("index.json")).unwrap(), before);
    // A spec equal to :3 (= :1) is unchanged against the latest revision.
    let again = line_of(&build(&store, &spec1, name, &[]).ok());
    assert_eq!(
        again,
        Line {
            unchanged: true,
            ..r3.clone()
        }
    );

    // list: json and table.
    let revs = revisions(&store, name);
    assert_eq!(
        revs,
        BTreeMap::from([
            (1, r1.digest.clone()),
            (2, r2.digest.clone()),
            (3, r1.digest.clone())
        ])
    );
    let all = envc_store(&store, &["list", "--format", "json"])
        .ok()
        .json();
    assert_eq!(all.as_array().map(Vec::len), Some(3), "list (all) {all}");
    let table = envc_store(&store, &["list", name]).ok();
    let rows: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), 4, "a header and 3 rows: {table}");
    for (i, rev) in [(1, 1), (2, 2), (3, 3)] {
        assert!(
            rows[i].starts_with(&format!("{name}:{rev} ")),
            "row {i}: {table}"
        );
    }
    assert!(
        rows[3].contains(&format!("{name}:1")),
        "row 3 notes the rollback to :1: {table}"
    );
    assert!(table.stdout.contains(&r1.hex()[..12]), "{table}");
    let table_all = envc_store(&store, &["list"]).ok();
    assert_eq!(
        table_all.stdout, table.stdout,
        "one environment: same table"
    );

    // Every revision is in index.json exactly once, tagged NAME:REV.
    for rev in 1..=3 {
        let entries = index_entries(&store, &format!("{name}:{rev}"));
        assert_eq!(entries.len(), 1, "{name}:{rev} in index.json");
        assert_eq!(entries[0]["digest"], revs[&rev].as_str());
    }

    // show: latest, a revision, json.
    let latest = envc_store(&store, &["show", name, "--format", "json"])
        .ok()
        .json();
    assert_eq!(latest["revision"], 3);
    assert_eq!(latest["manifest"], r1.digest.as_str());
    let show2 = envc_store(&store, &["show", &format!("{name}:2"), "--format", "json"])
        .ok()
        .json();
    assert_eq!(show2["manifest"], r2.digest.as_str());
    assert_eq!(show2["reference"], format!("{name}:2"));
    let plan2 = envc_run([os("plan"), spec2.as_os_str()]).ok().json();
    assert_eq!(show2["plan"], plan2, "show's plan is the spec's plan");
    let digest2 = envc_run([os("plan"), os("--digest"), spec2.as_os_str()]).ok();
    assert_eq!(show2["spec_digest"], digest2.stdout.trim());
    let layers = show2["layers"].as_array().expect("show: layers");
    let manifest2 = read_json_blob(&store, &r2.digest);
    assert_eq!(layers, manifest2["layers"].as_array().unwrap());
    assert_eq!(show2["base"], "localhost/busybox:1");
    let human = envc_store(&store, &["show", &format!("{name}:2")]).ok();
    assert!(human.stdout.contains(&r2.digest), "{human}");
    assert!(
        human.stdout.contains("goodbye"),
        "the plan is shown: {human}"
    );

    // diff of two revisions: the env change and the layers.
    let d = envc_store(
        &store,
        &["diff", &format!("{name}:1"), &format!("{name}:2")],
    )
    .no();
    assert!(
        d.stdout.contains("GREETING") && d.stdout.contains("hello") && d.stdout.contains("goodbye"),
        "diff :1 :2 reports the env change: {d}"
    );
    let dj = envc_store(
        &store,
        &[
            "diff",
            &format!("{name}:1"),
            &format!("{name}:2"),
            "--format",
            "json",
        ],
    )
    .no()
    .json();
    assert_eq!(dj["differ"], true, "{dj:#}");
    let text = dj.to_string();
    assert!(
        text.contains("GREETING") && text.contains("goodbye"),
        "{dj:#}"
    );
    assert!(
        dj["layers"]["a"].is_array() && dj["layers"]["b"].is_array(),
        "{dj:#}"
    );
    // A revision against the spec it was built from: no env change; against the other spec: one.
    let same = envc_store(
        &store,
        &[
            "diff",
            &format!("{name}:2"),
            spec2.to_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(same["differ"], false, "{same:#}");
    assert!(
        !same.to_string().contains("GREETING"),
        "diff :2 v2.yaml: {same:#}"
    );
    let other = envc_store(
        &store,
        &["diff", &format!("{name}:2"), spec1.to_str().unwrap()],
    )
    .no();
    assert!(
        other.stdout.contains("GREETING") && other.stdout.contains("hello"),
        "diff :2 v1.yaml: {other}"
    );

    // resolve an address naming a revision, then show what it names.
    let address = format!("anyscale://proj/cluster?cluster_env={name}:2");
    let a = envc_run(["resolve", &address, "--format", "json"])
        .ok()
        .json();
    assert_eq!(a["project"], "proj", "{a:#}");
    assert_eq!(a["cluster"], "cluster", "{a:#}");
    assert_eq!(a["cluster_env"], format!("{name}:2"), "{a:#}");
    let resolved = envc_store(
        &store,
        &[
            "show",
            a["cluster_env"].as_str().unwrap(),
            "--format",
            "json",
        ],
    )
    .ok()
    .json();
    assert_eq!(resolved["manifest"], r2.digest.as_str());
    let human = envc_run(["resolve", &address]).ok();
    assert!(human.stdout.contains(&format!("{name}:2")), "{human}");
    envc_run(["resolve", "https://example.com/?cluster_env=x:1"]).no();
    envc_run(["resolve", "anyscale://c?cluster_env=x:notanumber"]).no();

    // Errors: Anyscale's messages, exit 1, the store unchanged.
    let index_before = fs::read(store.join("index.json")).unwrap();
    let r = envc_store(&store, &["show", &format!("{name}:9")]).no();
    assert!(
        r.stderr.contains(&format!(
            "Revision 9 of cluster environment '{name}' not found."
        )),
        "{r}"
    );
    let r = envc_store(&store, &["show", "nope"]).no();
    assert!(
        r.stderr.contains("Cluster environment 'nope' not found."),
        "{r}"
    );
    let r = envc_store(&store, &["list", "nope"]).no();
    assert!(
        r.stderr.contains("Cluster environment 'nope' not found."),
        "{r}"
    );
    let r = envc_store(&store, &["rollback", name, "--to", "9"]).no();
    assert!(
        r.stderr.contains(&format!(
            "Revision 9 of cluster environment '{name}' not found."
        )),
        "{r}"
    );
    let r = envc_store(&store, &["rollback", "nope", "--to", "1"]).no();
    assert!(
        r.stderr.contains("Cluster environment 'nope' not found."),
        "{r}"
    );
    let out = tmp.join("x.tar");
    let r = run(envc()
        .args([
            "export",
            &format!("{name}:9"),
            "--format",
            "oci-archive",
            "-o",
        ])
        .arg(&out)
        .arg("--store")
        .arg(&store))
    .no();
    assert!(r.stderr.contains("Revision 9"), "{r}");
    assert!(!out.exists(), "a failed export writes no file");

    // A bad name: exit 1 and a suggestion that is itself a valid name.
    let r = build(&store, &spec1, "My__Env", &[]).no();
    assert!(r.stderr.contains("My__Env"), "{r}");
    let suggestion = r
        .stderr
        .split("use `")
        .nth(1)
        .and_then(|s| s.split('`').next())
        .unwrap_or_else(|| panic!("no suggested name: {r}"))
        .to_string();
    assert_eq!(suggestion, suggestion.to_lowercase(), "{r}");
    assert!(!suggestion.contains("__"), "{r}");

    // A spec whose steps need execution goes to an engine; with none on PATH: exit 2, the
    // engines looked for named, nothing recorded (tests/engine_build.rs builds with them).
    let r = run(envc()
        .arg("build")
        .arg(fixture("needs-steps.yaml"))
        .args(["--name", "needs-steps", "--store"])
        .arg(&store)
        .arg("--base")
        .arg(base_arg(&layout))
        .env("PATH", "/nonexistent"))
    .code(2);
    for word in ["no container engine found", "`podman`, `buildah`, `docker`"] {
        assert!(
            contains_ci(&r.stderr, word),
            "`{word}` not in the refusal: {r}"
        );
    }

    assert_eq!(
        fs::read(store.join("index.json")).unwrap(),
        index_before,
        "failed commands changed index.json"
    );

    // The suggested name is accepted (and makes a new environment).
    let s = line_of(&build(&store, &spec1, &suggestion, &[]).ok());
    assert_eq!((s.rev, s.digest.as_str()), (1, r1.digest.as_str()));
    verify_ok(&store);
}

#[test]
fn env_only_standard_spec_and_oci_archive_base() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("standard");
    let store = tmp.join("store");
    // The standard form's Anyscale base name, busybox content, imported from the oci-archive.
    let mut archive = OsString::from("oci-archive:");
    archive.push(format!("{}.tar", layout.display()));
    let spec = fixture("env-only.yaml");
    let a = line_of(&build(&store, &spec, "std", &[os("--base"), &archive]).ok());
    assert_eq!(a.rev, 1);
    // The same content from the layout: the same image.
    let b = line_of(&build_on(&store, &spec, "std", &layout).ok());
    assert_eq!(
        b,
        Line {
            unchanged: true,
            ..a.clone()
        }
    );
    let manifest = read_json_blob(&store, &a.digest);
    let config = read_json_blob(&store, manifest["config"]["digest"].as_str().unwrap());
    let env: Vec<&str> = config["config"]["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for want in [
        "PATH=/opt/x/bin:/usr/bin:/bin",
        "GREETING=hello world",
        "PRICE=5$",
        "SHOUT=hello world!",
    ] {
        assert!(env.contains(&want), "config Env {env:?} lacks {want}");
    }
    let show = envc_store(&store, &["show", "std:1", "--format", "json"])
        .ok()
        .json();
    assert_eq!(show["base"], "anyscale/ray:2.9.0-py310");
    // A standard spec whose base has not been imported: a clear error naming it.
    let other = write_spec(
        tmp.path(),
        "other.yaml",
        "base_image: anyscale/ray:2.9.0-py311\nenv_vars:\n  A: b\n",
    );
    let r = build(&store, &other, "std", &[]).no_panic();
    assert!(matches!(r.code, Some(1 | 2)), "{r}");
    assert!(r.stderr.contains("anyscale/ray:2.9.0-py311"), "{r}");
    verify_ok(&store);
}

// ---------------------------------------------------------------------------------------------
// Determinism

/// Builds `spec` (copied into `dir` with the given mtime) into `dir/…/store` in its own process
/// with the given umask and TZ; returns (manifest digest, store).
fn build_elsewhere(
    dir: &Path,
    layout: &Path,
    spec_text: &str,
    umask: &str,
    tz: &str,
    mtime: &str,
    extra_env: &[(&str, &str)],
) -> (Line, PathBuf) {
    fs::create_dir_all(dir).unwrap();
    let spec = write_spec(dir, "env.yaml", spec_text);
    run(Command::new("touch").args(["-d", mtime]).arg(&spec)).ok();
    // The base, copied too: different paths and mtimes for the same content.
    let base_copy = dir.join("base");
    if !base_copy.exists() {
        copy_tree(layout, &base_copy);
    }
    let store = dir.join("nested/store");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_envc"))
        .arg("build")
        .arg(&spec)
        .args(["--name", "det", "--base"])
        .arg(base_arg(&base_copy))
        .arg("--store")
        .arg(&store)
        .current_dir(dir)
        .env_remove("ENVC_STORE")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("TZ", tz)
        .stdin(Stdio::null());
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let r = run(&mut cmd).ok();
    (line_of(&r), store)
}

#[test]
fn same_spec_same_digests_and_blobs_across_dirs_umask_tz_and_mtimes() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("determinism");
    let text = fs::read_to_string(fixture("byod-busybox.yaml")).unwrap();
    let (a, store_a) = build_elsewhere(
        &tmp.join("a"),
        &layout,
        &text,
        "022",
        "UTC",
        "2001-02-03 04:05:06",
        &[],
    );
    let (b, store_b) = build_elsewhere(
        &tmp.join("b/deeper/dir"),
        &layout,
        &text,
        "077",
        "Asia/Kolkata",
        "2033-12-31 23:59:59",
        &[("LC_ALL", "C")],
    );
    assert_eq!(
        a.digest, b.digest,
        "manifest digests differ between two stores"
    );
    assert_eq!(
        blob_names(&store_a),
        blob_names(&store_b),
        "blob sets differ between two stores"
    );
    assert_eq!(
        String::from_utf8_lossy(&fs::read(store_a.join("index.json")).unwrap()),
        String::from_utf8_lossy(&fs::read(store_b.join("index.json")).unwrap()),
        "index.json differs between two stores of the same build"
    );

    // SOURCE_DATE_EPOCH is an input: the same for both, a different image from the default.
    let epoch = [("SOURCE_DATE_EPOCH", "1700000000")];
    let (c, store_c) = build_elsewhere(
        &tmp.join("c"),
        &layout,
        &text,
        "002",
        "UTC",
        "2010-01-01",
        &epoch,
    );
    let (d, store_d) = build_elsewhere(
        &tmp.join("d"),
        &layout,
        &text,
        "027",
        "America/Los_Angeles",
        "1999-09-09",
        &epoch,
    );
    assert_eq!(c.digest, d.digest);
    assert_eq!(blob_names(&store_c), blob_names(&store_d));
    assert_ne!(
        c.digest, a.digest,
        "SOURCE_DATE_EPOCH does not reach the image"
    );
    let manifest = read_json_blob(&store_c, &c.digest);
    let config = read_json_blob(&store_c, manifest["config"]["digest"].as_str().unwrap());
    assert_eq!(config["created"], "2023-11-14T22:13:20Z");

    // Uncompressed layers: deterministic too.
    let mut digests = BTreeSet::new();
    let mut blob_sets = BTreeSet::new();
    for (i, umask) in ["022", "077"].into_iter().enumerate() {
        let dir = tmp.join(format!("plain{i}"));
        fs::create_dir_all(&dir).unwrap();
        let spec = write_spec(&dir, "env.yaml", &text);
        let store = dir.join("store");
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_envc"))
            .arg("build")
            .arg(&spec)
            .args(["--name", "det", "--compression", "none", "--base"])
            .arg(base_arg(&layout))
            .arg("--store")
            .arg(&store)
            .env_remove("ENVC_STORE")
            .env_remove("SOURCE_DATE_EPOCH");
        let line = line_of(&run(&mut cmd).ok());
        digests.insert(line.digest);
        blob_sets.insert(blob_names(&store).into_iter().collect::<Vec<_>>());
    }
    assert_eq!(digests.len(), 1, "--compression none: {digests:?}");
    assert_eq!(blob_sets.len(), 1, "--compression none: blob sets differ");
    assert!(
        !digests.contains(&a.digest),
        "compression is part of the image"
    );
}

#[test]
fn one_env_var_changes_only_config_metadata_layer_and_manifest() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("one-var");
    let store = tmp.join("store");
    let text = fs::read_to_string(fixture("byod-busybox.yaml")).unwrap();
    let spec1 = write_spec(tmp.path(), "v1.yaml", &text);
    let spec2 = write_spec(
        tmp.path(),
        "v2.yaml",
        &text.replace("GREETING: hello world", "GREETING: hello there"),
    );
    assert_ne!(fs::read(&spec1).unwrap(), fs::read(&spec2).unwrap());

    let l1 = line_of(&build_on(&store, &spec1, "one", &layout).ok());
    let blobs1 = blob_names(&store);
    let l2 = line_of(&build(&store, &spec2, "one", &[]).ok());
    let blobs2 = blob_names(&store);
    assert_eq!(l2.rev, 2);
    assert!(blobs1.is_subset(&blobs2), "a blob disappeared");
    let new: BTreeSet<&String> = blobs2.difference(&blobs1).collect();

    let m1 = read_json_blob(&store, &l1.digest);
    let m2 = read_json_blob(&store, &l2.digest);
    let layers = |m: &Value| -> Vec<String> {
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect()
    };
    let (layers1, layers2) = (layers(&m1), layers(&m2));
    assert_eq!(layers1.len(), layers2.len());
    let n = layers1.len();
    assert!(n >= 2, "base layer(s) plus the metadata layer: {layers1:?}");
    assert_eq!(
        layers1[..n - 1],
        layers2[..n - 1],
        "base layers must be reused by digest"
    );
    assert_ne!(
        layers1[n - 1],
        layers2[n - 1],
        "the metadata layer holds the plan"
    );
    let config1 = m1["config"]["digest"].as_str().unwrap().to_string();
    let config2 = m2["config"]["digest"].as_str().unwrap().to_string();
    assert_ne!(config1, config2);
    let expected: BTreeSet<String> = [&l2.digest, &config2, &layers2[n - 1]]
        .iter()
        .map(|d| d.strip_prefix("sha256:").unwrap().to_string())
        .collect();
    assert_eq!(
        new,
        expected.iter().collect::<BTreeSet<_>>(),
        "exactly 3 new blobs: the config, the metadata layer and the manifest"
    );
    // The base diff_ids are untouched too.
    let c1 = read_json_blob(&store, &config1);
    let c2 = read_json_blob(&store, &config2);
    let d1 = c1["rootfs"]["diff_ids"].as_array().unwrap();
    let d2 = c2["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(d1[..n - 1], d2[..n - 1]);
    assert_eq!(c1["architecture"], c2["architecture"]);

    // The metadata layer (gzip by default) and its media type.
    let meta = &m2["layers"][n - 1];
    assert_eq!(
        meta["mediaType"], "application/vnd.oci.image.layer.v1.tar+gzip",
        "{meta}"
    );
    verify_ok(&store);
}

// ---------------------------------------------------------------------------------------------
// Crash safety

/// Spawns envc, waits `delay`, sends SIGKILL; returns what it printed before it died.
fn spawn_and_kill(mut cmd: Command, delay: Duration) -> String {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn envc");
    let mut child = child;
    thread::sleep(delay);
    // SIGKILL on Unix; harmless if the process has already exited (it is not reaped yet).
    let _ = child.kill();
    let out = child.wait_with_output().expect("wait for envc");
    let r = from_output("killed envc".into(), out);
    assert!(!r.stderr.contains("panicked"), "{r}");
    r.stdout
}

/// A deterministic sequence of delays in 0..=30 ms.
fn delay(i: u32) -> Duration {
    Duration::from_millis(u64::from((i * 17 + i * i * 3) % 31))
}

#[test]
fn sigkill_at_varied_points_leaves_a_store_that_verifies() {
    // A base with a second layer of ~50 MiB of random bytes, so a first build (which imports
    // and verifies it) takes a few hundred ms. ENVC_CRASH_BASE_MB overrides the size.
    let big_mb = std::env::var("ENVC_CRASH_BASE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let Some(big) = base(Some(big_mb)) else {
        return;
    };
    let Some(small) = base(None) else { return };
    let tmp = TempDir::new("crash");
    let started = Instant::now();
    let mut kills = 0;
    // Runs that finished (printed their line) before the SIGKILL arrived.
    let mut finished = 0;

    // 1. Kills during a first build into a fresh store (store creation, a ~50 MiB base import).
    for i in 0..12u32 {
        let store = tmp.join(format!("fresh{i}"));
        let spec = write_spec(
            tmp.path(),
            &format!("fresh{i}.yaml"),
            &byod_spec(&[("RUN_ID", &format!("\"fresh-{i}\""))]),
        );
        let mut cmd = envc();
        cmd.arg("build")
            .arg(&spec)
            .args(["--name", "crash", "--compression", "gzip", "--base"])
            .arg(base_arg(&big))
            .arg("--store")
            .arg(&store);
        // Spread these over a longer window: an import takes a few hundred ms.
        let stdout = spawn_and_kill(cmd, delay(i) * (1 + i % 8));
        kills += 1;
        eprintln!(
            "crash: fresh #{i} killed after {:?}: printed {stdout:?}",
            delay(i) * (1 + i % 8)
        );
        if store.exists() {
            let v = envc_store(&store, &["verify"]);
            assert_eq!(
                v.code,
                Some(0),
                "verify after SIGKILL of a fresh build at {:?} (printed {stdout:?}): {v}",
                delay(i) * (1 + i % 8)
            );
        }
        let completed = parse_line(&stdout);
        finished += usize::from(completed.is_some());
        // The killed build can be redone, and a completed one is still there.
        if i % 4 == 0 || completed.is_some() {
            let l = line_of(&build_on(&store, &spec, "crash", &big).ok());
            if let Some(c) = completed {
                assert_eq!(
                    Line {
                        unchanged: true,
                        ..c
                    },
                    l
                );
            }
            verify_ok(&store);
        }
    }

    // 2. Kills of builds and rollbacks into one store that keeps growing (on the small base:
    // these builds write a config, a metadata layer, a manifest and index.json; `verify` after
    // each kill re-hashes every blob).
    let store = tmp.join("store");
    let first = write_spec(tmp.path(), "s0.yaml", &byod_spec(&[("RUN_ID", "\"0\"")]));
    let l = line_of(&build_on(&store, &first, "crash", &small).ok());
    let mut completed: BTreeMap<u32, String> = BTreeMap::from([(l.rev, l.digest)]);
    for i in 1..=44u32 {
        let mut cmd = envc();
        if i % 4 == 0 {
            let to = completed
                .keys()
                .copied()
                .nth(i as usize % completed.len())
                .unwrap();
            cmd.args(["rollback", "crash", "--to", &to.to_string()]);
        } else {
            let spec = write_spec(
                tmp.path(),
                &format!("s{i}.yaml"),
                &byod_spec(&[
                    ("RUN_ID", &format!("\"{i}\"")),
                    ("PATH", "/opt/r{i}/bin:$PATH"),
                ]),
            );
            cmd.arg("build")
                .arg(&spec)
                .args(["--name", "crash", "--compression", "gzip"]);
            if i % 3 == 0 {
                cmd.arg("--base").arg(base_arg(&small));
            }
        }
        cmd.arg("--store").arg(&store);
        let d = delay(i);
        let stdout = spawn_and_kill(cmd, d);
        kills += 1;
        eprintln!("crash: #{i} killed after {d:?}: printed {stdout:?}");
        if let Some(line) = parse_line(&stdout) {
            finished += 1;
            assert_eq!(line.name, "crash");
            if let Some(prev) = completed.insert(line.rev, line.digest.clone()) {
                assert_eq!(prev, line.digest, "revision {} changed", line.rev);
                assert!(line.unchanged, "{stdout}");
            }
        }
        let v = envc_store(&store, &["verify"]);
        assert_eq!(
            v.code,
            Some(0),
            "verify after SIGKILL #{i} at {d:?} (printed {stdout:?}): {v}"
        );
        let revs = revisions(&store, "crash");
        let max = *revs.keys().max().unwrap();
        assert_eq!(
            revs.keys().copied().collect::<Vec<_>>(),
            (1..=max).collect::<Vec<_>>(),
            "revisions are numbered without gaps"
        );
        for (rev, digest) in &completed {
            assert_eq!(
                revs.get(rev),
                Some(digest),
                "completed revision crash:{rev} lost after SIGKILL #{i} at {d:?}"
            );
        }
    }
    assert!(kills >= 50);

    // 3. gc removes what killed builds left, nothing reachable; everything still resolves.
    let index_before = fs::read(store.join("index.json")).unwrap();
    envc_store(&store, &["gc"]).ok();
    assert_eq!(
        fs::read(store.join("index.json")).unwrap(),
        index_before,
        "gc changed index.json"
    );
    verify_ok(&store);
    let reachable = reachable_blobs(&store);
    let present = blob_names(&store);
    assert!(
        reachable.is_subset(&present),
        "gc removed reachable blobs: {:?}",
        reachable.difference(&present).collect::<Vec<_>>()
    );
    assert!(
        present.is_subset(&reachable),
        "gc left unreachable blobs: {:?}",
        present.difference(&reachable).collect::<Vec<_>>()
    );
    for (rev, digest) in &completed {
        let show = envc_store(
            &store,
            &["show", &format!("crash:{rev}"), "--format", "json"],
        )
        .ok()
        .json();
        assert_eq!(show["manifest"], digest.as_str());
    }
    // A later build still works (the lock is free, the base is still there).
    let last = write_spec(
        tmp.path(),
        "last.yaml",
        &byod_spec(&[("RUN_ID", "\"last\"")]),
    );
    let l = line_of(&build(&store, &last, "crash", &[]).ok());
    assert!(!l.unchanged);
    assert_eq!(Some(&l.rev), revisions(&store, "crash").keys().max());
    verify_ok(&store);
    eprintln!(
        "crash: {kills} kills ({finished} finished first), {} completed revisions, {:.1?}",
        completed.len(),
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------
// Concurrency

fn concurrent_builds(store: &Path, layout: &Path, tmp: &TempDir, name: &str) {
    let specs: Vec<PathBuf> = (0..8)
        .map(|k| {
            write_spec(
                tmp.path(),
                &format!("{name}-{k}.yaml"),
                &byod_spec(&[
                    ("WORKER", &format!("\"{k}\"")),
                    ("PATH", "/opt/x/bin:$PATH"),
                ]),
            )
        })
        .collect();
    let children: Vec<_> = specs
        .iter()
        .map(|spec| {
            envc()
                .arg("build")
                .arg(spec)
                .args(["--name", name, "--base"])
                .arg(base_arg(layout))
                .arg("--store")
                .arg(store)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("spawn envc build")
        })
        .collect();
    let lines: Vec<Line> = children
        .into_iter()
        .map(|c| {
            let r = from_output(
                "concurrent envc build".into(),
                c.wait_with_output().unwrap(),
            );
            line_of(&r.ok())
        })
        .collect();
    let printed: BTreeSet<u32> = lines.iter().map(|l| l.rev).collect();
    assert_eq!(
        printed,
        (1..=8).collect(),
        "each build its own revision: {lines:?}"
    );
    assert!(lines.iter().all(|l| !l.unchanged), "{lines:?}");
    let revs = revisions(store, name);
    assert_eq!(
        revs.keys().copied().collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    let manifests: BTreeSet<&String> = revs.values().collect();
    assert_eq!(manifests.len(), 8, "each manifest recorded once: {revs:?}");
    for l in &lines {
        assert_eq!(revs[&l.rev], l.digest, "{name}:{} printed != listed", l.rev);
        assert_eq!(index_entries(store, &l.reference()).len(), 1);
    }
    verify_ok(store);
}

#[test]
fn eight_concurrent_builds_into_an_existing_store() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("concurrent");
    let store = tmp.join("store");
    let warm = write_spec(tmp.path(), "warm.yaml", &byod_spec(&[("A", "b")]));
    line_of(&build_on(&store, &warm, "warm", &layout).ok());
    concurrent_builds(&store, &layout, &tmp, "many");
}

#[test]
fn eight_concurrent_builds_into_a_fresh_store() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("concurrent-fresh");
    let store = tmp.join("store");
    concurrent_builds(&store, &layout, &tmp, "fresh");
}

// ---------------------------------------------------------------------------------------------
// Bad input

/// Adds one layer to a copy of the busybox base (a unique marker file, so its blob is never
/// already in a store), fixes up config and manifest digests, then breaks exactly one thing.
/// Prints the added layer's digest.
const BREAK_LAYOUT: &str = r#"
import gzip, hashlib, io, json, os, sys, tarfile
layout, mode = sys.argv[1], sys.argv[2]
B = os.path.join(layout, "blobs", "sha256")
def put(data):
    h = hashlib.sha256(data).hexdigest()
    with open(os.path.join(B, h), "wb") as f:
        f.write(data)
    return "sha256:" + h
def get(d):
    with open(os.path.join(B, d.split(":", 1)[1]), "rb") as f:
        return f.read()
def canon(o):
    return json.dumps(o, sort_keys=True, separators=(",", ":")).encode()
def tar_bytes(entries):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in entries:
            ti = tarfile.TarInfo(name)
            ti.size, ti.mode, ti.mtime = len(data), 0o644, 0
            t.addfile(ti, io.BytesIO(data))
    return buf.getvalue()
entries = [("marker", os.urandom(16).hex().encode())]
if mode == "dotdot":
    entries.append(("../evil", b"evil\n"))
if mode == "dotdot-nested":
    entries.append(("etc/../../evil", b"evil\n"))
if mode == "absolute":
    entries.append(("/abs", b"abs\n"))
raw = tar_bytes(entries)
gz = gzip.compress(raw, mtime=0)
media = "application/vnd.oci.image.layer.v1.tar+gzip"
if mode == "corrupt-gzip":
    gz = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff" + b"this is not a deflate stream" * 8
if mode == "media-type":
    media = "application/vnd.example.unknown.layer.v1"
layer = {"mediaType": media, "digest": put(gz), "size": len(gz)}
with open(os.path.join(layout, "index.json")) as f:
    idx = json.load(f)
ent = idx["manifests"][0]
man = json.loads(get(ent["digest"]))
cfg = json.loads(get(man["config"]["digest"]))
cfg["rootfs"]["diff_ids"].append("sha256:" + hashlib.sha256(raw).hexdigest())
cfg.setdefault("history", []).append({"created": "1970-01-01T00:00:00Z", "created_by": "test " + mode})
cb = canon(cfg)
man["config"]["digest"], man["config"]["size"] = put(cb), len(cb)
man["layers"].append(layer)
mb = canon(man)
ent["digest"], ent["size"] = put(mb), len(mb)
with open(os.path.join(layout, "index.json"), "w") as f:
    json.dump(idx, f)
path = os.path.join(B, layer["digest"].split(":", 1)[1])
if mode == "wrong-digest":
    data = bytearray(get(layer["digest"]))
    data[len(data) // 2] ^= 0xFF
    with open(path, "wb") as f:
        f.write(bytes(data))
if mode == "missing-blob":
    os.remove(path)
print(layer["digest"])
"#;

/// A copy of the base with one fault; returns (layout, the added layer's digest).
fn broken_layout(tmp: &TempDir, layout: &Path, mode: &str) -> (PathBuf, String) {
    let dir = tmp.join(format!("base-{mode}"));
    copy_tree(layout, &dir);
    let r = run(Command::new("python3")
        .args(["-c", BREAK_LAYOUT])
        .arg(&dir)
        .arg(mode))
    .ok();
    (dir, r.stdout.trim().to_string())
}

/// Files under `dir`, recursively, with their sizes (to see that nothing was written).
fn tree(dir: &Path) -> BTreeMap<PathBuf, u64> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let p = e.path();
            let meta = fs::symlink_metadata(&p).unwrap();
            if meta.is_dir() {
                stack.push(p.clone());
            }
            out.insert(p.strip_prefix(dir).unwrap().to_path_buf(), meta.len());
        }
    }
    out
}

#[test]
fn bad_bases_are_refused_clearly_and_leave_the_store_unchanged() {
    let Some(layout) = base(None) else { return };
    if !have("python3") {
        eprintln!("skipping: python3 not found");
        return;
    }
    let tmp = TempDir::new("bad-input");
    let store = tmp.join("store");
    let good = write_spec(tmp.path(), "good.yaml", &byod_spec(&[("A", "b")]));
    line_of(&build_on(&store, &good, "good", &layout).ok());
    let index_before = fs::read(store.join("index.json")).unwrap();

    // (mode, allowed exit codes, what stderr must mention — any one of them)
    type Case<'a> = (&'a str, &'a [i32], &'a [&'a str]);
    let cases: [Case; 8] = [
        ("wrong-digest", &[1], &["{hex12}"]),
        ("missing-blob", &[1, 2], &["{hex12}"]),
        ("dotdot", &[1], &["../evil", "`..`", "'..'", "parent"]),
        (
            "dotdot-nested",
            &[1],
            &["../../evil", "`..`", "'..'", "parent"],
        ),
        ("absolute", &[1], &["/abs", "absolute"]),
        ("corrupt-gzip", &[1], &["gzip", "deflate", "{hex12}"]),
        (
            "media-type",
            &[1],
            &["application/vnd.example.unknown.layer.v1"],
        ),
        ("ok", &[0], &[]),
    ];
    for (mode, codes, mentions) in cases {
        let (bad, digest) = broken_layout(&tmp, &layout, mode);
        let hex12 = &digest.strip_prefix("sha256:").unwrap()[..12];
        let image = format!("localhost/bad-{mode}:1");
        let spec = write_spec(
            tmp.path(),
            &format!("{mode}.yaml"),
            &format!("docker_image: {image}\nray_version: \"2.9.0\"\nenv_vars:\n  A: b\n"),
        );
        for via_archive in [false, true] {
            let source = if via_archive {
                let archive = tmp.join(format!("base-{mode}.tar"));
                if !archive.exists() {
                    run(Command::new("tar")
                        .arg("-C")
                        .arg(&bad)
                        .args(["-cf"])
                        .arg(&archive)
                        .arg("."))
                    .ok();
                }
                let mut s = OsString::from("oci-archive:");
                s.push(&archive);
                s
            } else {
                base_arg(&bad)
            };
            let what = format!(
                "{mode} ({})",
                if via_archive { "oci-archive" } else { "layout" }
            );
            let r = build(
                &store,
                &spec,
                &format!("bad-{mode}"),
                &[os("--base"), &source],
            )
            .no_panic();
            assert!(
                r.code.is_some_and(|c| codes.contains(&c)),
                "{what}: expected exit {codes:?}: {r}"
            );
            if mode == "ok" {
                // The control: the layouts this test makes are valid but for the one fault.
                line_of(&r);
                continue;
            }
            assert!(!r.stderr.trim().is_empty(), "{what}: no error message: {r}");
            eprintln!("{what}: exit {:?}: {}", r.code, r.stderr.trim());
            assert!(
                mentions
                    .iter()
                    .any(|m| contains_ci(&r.stderr, &m.replace("{hex12}", hex12))),
                "{what}: the error names none of {mentions:?} (layer {digest}): {r}"
            );
            assert!(
                !tmp.join("evil").exists() && !tmp.path().parent().unwrap().join("evil").exists(),
                "{what}: a file escaped"
            );
            assert_eq!(
                fs::read(store.join("index.json")).unwrap(),
                index_before,
                "{what}: index.json changed"
            );
            assert!(
                envc_store(&store, &["show", &format!("bad-{mode}")]).code == Some(1),
                "{what}: a revision was recorded"
            );
        }
    }
    verify_ok(&store);
    let index_before = fs::read(store.join("index.json")).unwrap();

    // A ref the layout does not have.
    let mut nosuch = layout.as_os_str().to_owned();
    nosuch.push(":nosuchref");
    let r = build(&store, &good, "good2", &[os("--base"), &nosuch]).no();
    assert!(r.stderr.contains("nosuchref"), "{r}");
    assert_eq!(fs::read(store.join("index.json")).unwrap(), index_before);
    // A base directory that does not exist.
    let missing = tmp.join("no-such-base");
    let r = build(&store, &good, "good2", &[os("--base"), missing.as_os_str()]).no_panic();
    assert!(matches!(r.code, Some(1 | 2)), "{r}");
    assert!(r.stderr.contains("no-such-base"), "{r}");
    // An oci-archive that is not a tar.
    let junk = tmp.join("junk.tar");
    fs::write(&junk, b"not a tar archive at all\n").unwrap();
    let mut junk_arg = OsString::from("oci-archive:");
    junk_arg.push(&junk);
    let r = build(&store, &good, "good2", &[os("--base"), &junk_arg]).no_panic();
    assert!(matches!(r.code, Some(1 | 2)), "{r}");
    assert!(!r.stderr.trim().is_empty(), "{r}");
    assert_eq!(fs::read(store.join("index.json")).unwrap(), index_before);
    verify_ok(&store);
}

#[test]
fn an_oci_archive_with_a_parent_path_member_writes_nothing_outside() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("archive-escape");
    let store = tmp.join("work/store");
    fs::create_dir_all(tmp.join("work")).unwrap();
    // The layout's files plus a member `../../escaped` in the archive itself.
    let archive = tmp.join("work/escape.tar");
    let script = r#"
import io, os, sys, tarfile
layout, out = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.USTAR_FORMAT) as t:
    t.add(layout, arcname=".")
    ti = tarfile.TarInfo("../../escaped")
    ti.size = 4
    t.addfile(ti, io.BytesIO(b"bad\n"))
"#;
    run(Command::new("python3")
        .args(["-c", script])
        .arg(&layout)
        .arg(&archive))
    .ok();
    let spec = write_spec(tmp.path(), "env.yaml", &byod_spec(&[("A", "b")]));
    let mut src = OsString::from("oci-archive:");
    src.push(&archive);
    let r = run(envc()
        .arg("build")
        .arg(&spec)
        .args(["--name", "esc", "--base"])
        .arg(&src)
        .arg("--store")
        .arg(&store)
        .current_dir(tmp.join("work")))
    .no_panic();
    assert_eq!(r.code, Some(1), "a hostile archive is refused: {r}");
    assert!(
        r.stderr.contains("../../escaped"),
        "the error names the entry: {r}"
    );
    for dir in [tmp.path(), &tmp.join("work"), &store] {
        assert!(
            !dir.join("escaped").exists(),
            "`../../escaped` was written to {}: {r}",
            dir.display()
        );
    }
    assert!(
        !tmp.path().parent().unwrap().join("escaped").exists(),
        "`../../escaped` was written outside: {r}"
    );
    if store.join("index.json").exists() {
        verify_ok(&store);
    }
}

#[test]
fn a_store_that_is_not_a_layout_is_refused_and_untouched() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("not-a-layout");
    let dir = tmp.join("notes");
    fs::create_dir_all(dir.join("sub")).unwrap();
    fs::write(dir.join("README.txt"), "my notes\n").unwrap();
    fs::write(dir.join("sub/data.json"), "{}\n").unwrap();
    let before = tree(&dir);
    let spec = write_spec(tmp.path(), "env.yaml", &byod_spec(&[("A", "b")]));
    let r = build_on(&dir, &spec, "x", &layout).no_panic();
    assert!(matches!(r.code, Some(1 | 2)), "{r}");
    assert!(
        contains_ci(&r.stderr, "layout"),
        "the error says it is not a layout: {r}"
    );
    assert_eq!(tree(&dir), before, "the directory was changed");
    for args in [
        &["list"][..],
        &["show", "x"],
        &["verify"],
        &["gc"],
        &["rollback", "x", "--to", "1"],
    ] {
        let r = envc_store(&dir, args).no_panic();
        assert!(matches!(r.code, Some(1 | 2)), "{r}");
        assert!(!r.stderr.trim().is_empty(), "{r}");
        assert_eq!(
            tree(&dir),
            before,
            "`{}` changed the directory",
            args.join(" ")
        );
    }
    // A store with a wrong oci-layout version is not a layout either.
    let store = tmp.join("store");
    line_of(&build_on(&store, &spec, "x", &layout).ok());
    fs::write(
        store.join("oci-layout"),
        r#"{"imageLayoutVersion":"9.9.9"}"#,
    )
    .unwrap();
    let index_before = fs::read(store.join("index.json")).unwrap();
    let spec2 = write_spec(tmp.path(), "env2.yaml", &byod_spec(&[("A", "c")]));
    let r = build(&store, &spec2, "x", &[]).no_panic();
    assert!(matches!(r.code, Some(1 | 2)), "{r}");
    assert_eq!(fs::read(store.join("index.json")).unwrap(), index_before);
}

#[test]
fn verify_names_a_blob_corrupted_after_the_build() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("verify");
    let store = tmp.join("store");
    let spec = write_spec(tmp.path(), "env.yaml", &byod_spec(&[("A", "b")]));
    let l = line_of(&build_on(&store, &spec, "v", &layout).ok());
    verify_ok(&store);
    let manifest = read_json_blob(&store, &l.digest);
    let layers = manifest["layers"].as_array().unwrap();
    let targets = [
        (
            "metadata layer",
            layers[layers.len() - 1]["digest"].as_str().unwrap(),
        ),
        ("base layer", layers[0]["digest"].as_str().unwrap()),
        ("config", manifest["config"]["digest"].as_str().unwrap()),
    ];
    for (what, digest) in targets {
        let hex = digest.strip_prefix("sha256:").unwrap();
        let path = store.join("blobs/sha256").join(hex);
        let original = fs::read(&path).unwrap();
        let mut perms = fs::metadata(&path).unwrap().permissions();
        let readonly = perms.readonly();
        #[allow(clippy::permissions_set_readonly_false)]
        perms.set_readonly(false);
        fs::set_permissions(&path, perms.clone()).unwrap();
        let mut bad = original.clone();
        let mid = bad.len() / 2;
        bad[mid] ^= 0x01;
        fs::write(&path, &bad).unwrap();
        let index_before = fs::read(store.join("index.json")).unwrap();
        let r = envc_store(&store, &["verify"]).no();
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains(&hex[..12]),
            "verify does not name the corrupted {what} {digest}: {r}"
        );
        assert_eq!(fs::read(store.join("index.json")).unwrap(), index_before);
        // Missing altogether: also named.
        fs::remove_file(&path).unwrap();
        let r = envc_store(&store, &["verify"]).no();
        let all = format!("{}{}", r.stdout, r.stderr);
        assert!(
            all.contains(&hex[..12]),
            "verify does not name the missing {what} {digest}: {r}"
        );
        fs::write(&path, &original).unwrap();
        perms.set_readonly(readonly);
        fs::set_permissions(&path, perms).unwrap();
        verify_ok(&store);
    }
}

/// `--template` inputs are recorded beside the revision (shown by `show`), and a rendering that
/// gives the same spec is the same image: `unchanged`, whatever the inputs were.
#[test]
fn template_provenance_is_recorded_outside_the_digest() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("provenance");
    let store = tmp.join("store");
    let spec = write_spec(
        tmp.path(),
        "app_config.yaml",
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\nenv_vars:\n  STAMP: \"{{ env[\"STAMP\"] | default(\"0\") }}\"\n",
    );
    let b = base_arg(&layout);
    let first = run(envc()
        .args([os("build"), os("--template")])
        .arg(&spec)
        .args([os("--name"), os("tpl"), os("--store")])
        .arg(&store)
        .args([os("--base"), &b])
        .env("STAMP", "7"))
    .ok();
    let first = line_of(&first);
    let show = envc_store(&store, &["show", "tpl", "--format", "json"])
        .ok()
        .json();
    // The name and that it was set, never the value.
    assert_eq!(show["provenance"]["env"]["STAMP"], "set", "{show}");
    // Rendered twin (no template): the same image, so no new revision.
    let twin = write_spec(
        tmp.path(),
        "rendered.yaml",
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\nenv_vars:\n  STAMP: \"7\"\n",
    );
    let again = line_of(&build(&store, &twin, "tpl", &[]).ok());
    assert!(again.unchanged && again.digest == first.digest, "{again:?}");
}

/// A template that only tests a secret (`{% if env["HF_TOKEN"] %}`) must not copy its value
/// anywhere: not into the store's files, `show`, `list --format json`, `plan --provenance` or an
/// export. Nor a `--var` value, unless given with `--public-var`.
#[test]
fn template_secrets_never_reach_the_store_or_its_outputs() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("secret");
    let store = tmp.join("store");
    let token = "hf_TOKENVALUE_9f8e7d6c5b4a";
    let private = "PRIVATEVAR_1a2b3c4d";
    let spec = write_spec(
        tmp.path(),
        "app_config.yaml",
        "docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\nenv_vars:\n  \
         HAS_TOKEN: \"{% if env[\"HF_TOKEN\"] %}yes{% else %}no{% endif %}\"\n  \
         LEN: \"{{ KEY | length }}\"\n  TAG: \"{{ TAG }}\"\n",
    );
    let b = base_arg(&layout);
    let key = format!("KEY={private}");
    let inputs = ["--template", "--var", &key, "--public-var", "TAG=v1.2"];
    let built = run(envc()
        .arg("build")
        .args(inputs)
        .arg(&spec)
        .args([os("--name"), os("sec"), os("--store")])
        .arg(&store)
        .args([os("--base"), &b])
        .env("HF_TOKEN", token))
    .ok();
    let l = line_of(&built);
    let plan = run(envc()
        .args(["plan", "--provenance"])
        .args(inputs)
        .arg(&spec)
        .env("HF_TOKEN", token))
    .ok();
    let show = envc_store(&store, &["show", "sec"]).ok();
    let show_json = envc_store(&store, &["show", "sec", "--format", "json"]).ok();
    let list = envc_store(&store, &["list", "--format", "json"]).ok();
    let mut outputs = vec![
        ("build", format!("{}{}", built.stdout, built.stderr)),
        ("plan --provenance", plan.stdout.clone()),
        ("show", show.stdout),
        ("show --format json", show_json.stdout.clone()),
        ("list --format json", list.stdout),
    ];
    for format in ["oci-archive", "docker-archive"] {
        let out = tmp.join(format!("{format}.tar"));
        envc_store(
            &store,
            &[
                "export",
                "sec",
                "--format",
                format,
                "-o",
                out.to_str().unwrap(),
            ],
        )
        .ok();
        outputs.push((
            format,
            String::from_utf8_lossy(&fs::read(&out).unwrap()).into(),
        ));
    }
    for entry in walk(&store) {
        if entry.is_file() {
            let bytes = fs::read(&entry).unwrap();
            let what: &str = entry.display().to_string().leak();
            outputs.push((what, String::from_utf8_lossy(&bytes).into()));
        }
    }
    for (what, text) in &outputs {
        assert!(!text.contains(token), "{what} holds the token's value");
        assert!(!text.contains(private), "{what} holds a --var value");
    }
    // What is recorded: names, set or not, and the public value.
    let doc: Value = serde_json::from_str(&plan.stdout).unwrap();
    let expected = serde_json::json!({
        "template": spec.display().to_string(),
        "env": {"HF_TOKEN": "set"},
        "vars": ["KEY", "TAG"],
        "public_vars": {"TAG": "v1.2"},
    });
    assert_eq!(doc["provenance"], expected);
    assert_eq!(show_json.json()["provenance"], expected);
    assert_eq!(l.rev, 1);

    // A revision recorded by an older envc holds the values in index.json (immutable, so they
    // stay there); show, list and export print and write only the names.
    let mut index = index_json(&store);
    let old = serde_json::json!({"template": "t.yaml", "env": {"HF_TOKEN": token},
        "vars": {"KEY": private}});
    index["manifests"][1]["annotations"]["dev.envc.provenance"] = old.to_string().into();
    fs::write(
        store.join("index.json"),
        serde_json::to_vec(&index).unwrap(),
    )
    .unwrap();
    let mut shown = vec![
        envc_store(&store, &["show", "sec"]).ok().stdout,
        envc_store(&store, &["show", "sec", "--format", "json"])
            .ok()
            .stdout,
        envc_store(&store, &["list", "--format", "json"])
            .ok()
            .stdout,
    ];
    let out = tmp.join("old.tar");
    envc_store(
        &store,
        &[
            "export",
            "sec",
            "--format",
            "oci-archive",
            "-o",
            out.to_str().unwrap(),
        ],
    )
    .ok();
    shown.push(String::from_utf8_lossy(&fs::read(&out).unwrap()).into());
    for text in &shown {
        assert!(!text.contains(token) && !text.contains(private), "{text}");
    }
    let show = envc_store(&store, &["show", "sec", "--format", "json"])
        .ok()
        .json();
    assert_eq!(show["provenance"]["env"]["HF_TOKEN"], "set", "{show}");
    assert_eq!(
        show["provenance"]["vars"],
        serde_json::json!(["KEY"]),
        "{show}"
    );
    // A rollback writes a new index entry: it never copies the old values into it.
    let before = fs::read_to_string(store.join("index.json")).unwrap();
    envc_store(&store, &["rollback", "sec", "--to", "1"]).ok();
    let after = fs::read_to_string(store.join("index.json")).unwrap();
    assert_eq!(
        after.matches(token).count(),
        before.matches(token).count(),
        "the rollback's entry copied the old value: {after}"
    );
    assert_eq!(
        after.matches(private).count(),
        before.matches(private).count()
    );
}

/// Every path under `dir` (files and directories).
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p.clone());
            }
            out.push(p);
        }
    }
    out.sort();
    out
}

/// `envc ARGS…` under `umask MASK` (set by a shell: std has no safe pre-exec umask).
fn envc_umask(mask: u32, args: &[&OsStr]) -> Run {
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("umask {mask:03o} && exec \"$0\" \"$@\""))
        .arg(env!("CARGO_BIN_EXE_envc"))
        .args(args)
        .env_remove("ENVC_STORE")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null()))
}

fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Every file envc writes is 0666 & ~umask and every directory 0777 & ~umask (another uid —
/// a builder, rootless podman, a teammate sharing the store — must be able to read them);
/// replacing a file keeps its mode; `-o` through a symlink writes the link's target.
#[test]
fn written_files_follow_the_umask_keep_modes_and_follow_symlinks() {
    use std::os::unix::fs::PermissionsExt;
    let Some(layout) = base(None) else { return };
    let b = base_arg(&layout);
    for mask in [0o022, 0o077] {
        let tmp = TempDir::new("umask");
        let store = tmp.join("store");
        let spec = write_spec(tmp.path(), "env.yaml", &byod_spec(&[("A", "b")]));
        let work = tmp.join("work");
        fs::create_dir(&work).unwrap();
        fs::write(work.join("main.py"), "print(1)\n").unwrap();
        let st = store.as_os_str();
        envc_umask(
            mask,
            &[
                os("build"),
                spec.as_os_str(),
                os("--name"),
                os("m"),
                os("--store"),
                st,
                os("--base"),
                &b,
            ],
        )
        .ok();
        let outputs = [
            (
                "oci.tar",
                vec!["export", "m:1", "--format", "oci-archive", "-o"],
            ),
            (
                "docker.tar",
                vec!["export", "m:1", "--format", "docker-archive", "-o"],
            ),
            (
                "Dockerfile",
                vec!["dockerfile", spec.to_str().unwrap(), "-o"],
            ),
            ("app.zip", vec!["package", work.to_str().unwrap(), "-o"]),
        ];
        let write = |args: &[&str], out: &Path| {
            let mut all: Vec<&OsStr> = args.iter().map(OsStr::new).collect();
            all.push(out.as_os_str());
            all.extend([os("--store"), st]);
            if args[0] != "export" {
                all.truncate(all.len() - 2);
            }
            envc_umask(mask, &all).ok();
        };
        for (file, args) in &outputs {
            write(args, &tmp.join(file));
        }
        let want_file = 0o666 & !mask;
        let want_dir = 0o777 & !mask;
        let mut checked = 0;
        for p in walk(&store)
            .into_iter()
            .chain(outputs.iter().map(|(f, _)| tmp.join(f)))
        {
            let want = if p.is_dir() { want_dir } else { want_file };
            assert_eq!(mode(&p), want, "{} under umask {mask:03o}", p.display());
            checked += 1;
        }
        assert_eq!(mode(&store), want_dir);
        assert!(checked > 10, "{checked}");

        // Replacing keeps the mode: every -o output and the store's index.json.
        for (file, args) in &outputs {
            let p = tmp.join(file);
            fs::set_permissions(&p, fs::Permissions::from_mode(0o640)).unwrap();
            write(args, &p);
            assert_eq!(mode(&p), 0o640, "{file} rewritten under umask {mask:03o}");
        }
        let index = store.join("index.json");
        fs::set_permissions(&index, fs::Permissions::from_mode(0o640)).unwrap();
        let spec2 = write_spec(tmp.path(), "env2.yaml", &byod_spec(&[("A", "c")]));
        envc_umask(
            mask,
            &[
                os("build"),
                spec2.as_os_str(),
                os("--name"),
                os("m"),
                os("--store"),
                st,
            ],
        )
        .ok();
        assert_eq!(list_json(&store, "m").len(), 2);
        assert_eq!(mode(&index), 0o640);

        // -o through a symlink (relative, into another directory) writes the target.
        let real = tmp.join("real");
        fs::create_dir(&real).unwrap();
        for (file, args) in &outputs {
            let link = tmp.join(format!("link-{file}"));
            std::os::unix::fs::symlink(format!("real/{file}"), &link).unwrap();
            write(args, &link);
            assert!(
                fs::symlink_metadata(&link)
                    .unwrap()
                    .file_type()
                    .is_symlink(),
                "{file}: the link was replaced"
            );
            assert!(fs::metadata(real.join(file)).unwrap().len() > 0, "{file}");
            assert_eq!(mode(&real.join(file)), want_file, "{file}");
        }
        assert!(fs::read_dir(tmp.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".envc-")));
    }
}

/// Flips one byte in the middle of a stored blob (keeping its size and mode); returns the
/// original bytes.
fn flip(store: &Path, digest: &str) -> Vec<u8> {
    let path = store
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    let original = fs::read(&path).unwrap();
    let mut bad = original.clone();
    let mid = bad.len() / 2;
    bad[mid] ^= 0x01;
    fs::write(&path, &bad).unwrap();
    original
}

fn unflip(store: &Path, digest: &str, original: &[u8]) {
    let path = store
        .join("blobs/sha256")
        .join(digest.strip_prefix("sha256:").unwrap());
    fs::write(path, original).unwrap();
}

/// A failure that names the corrupt blob and `envc verify`, exits 1 and changes nothing: the
/// same index, no new blob.
fn refused_corrupt(r: Run, digest: &str, what: &str, store: &Path, before: &Before) {
    let r = r.no();
    assert_eq!(
        blob_names(store),
        before.blobs,
        "{what}: blobs were written"
    );
    let hex = digest.strip_prefix("sha256:").unwrap();
    assert!(
        r.stderr.contains(hex) && r.stderr.contains("envc verify"),
        "{what}: does not name blob {digest} and `envc verify`: {r}"
    );
    assert_eq!(
        fs::read(store.join("index.json")).unwrap(),
        before.index,
        "{what}"
    );
}

/// A store's index and blob names, to compare after a refused command.
struct Before {
    index: Vec<u8>,
    blobs: BTreeSet<String>,
}

impl Before {
    fn of(store: &Path) -> Before {
        Before {
            index: fs::read(store.join("index.json")).unwrap(),
            blobs: blob_names(store),
        }
    }
}

/// Every blob envc copies out (export), reuses (rebuild, rollback, a stored base) or builds on
/// (bake) is checked against its digest: one flipped byte in a layer, a config or a manifest
/// is an error naming the blob and `envc verify`, and nothing is written.
#[test]
fn a_corrupt_blob_is_never_exported_reused_or_built_on() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("corrupt");
    let store = tmp.join("store");
    let spec1 = write_spec(tmp.path(), "one.yaml", &byod_spec(&[("A", "b")]));
    let spec2 = write_spec(tmp.path(), "two.yaml", &byod_spec(&[("A", "c")]));
    let spec3 = write_spec(tmp.path(), "three.yaml", &byod_spec(&[("A", "d")]));
    let env = tmp.join("runtime_env.yaml");
    fs::write(&env, "env_vars:\n  X: \"1\"\n").unwrap();
    let first = line_of(&build_on(&store, &spec1, "m", &layout).ok());
    line_of(&build(&store, &spec2, "m", &[]).ok());
    let manifest = read_json_blob(&store, &first.digest);
    let layers = manifest["layers"].as_array().unwrap();
    let layer = |i: usize| layers[i]["digest"].as_str().unwrap().to_string();
    let base_config = {
        let entries = index_json(&store)["manifests"].as_array().unwrap().clone();
        let base = entries
            .iter()
            .find(|e| {
                e["annotations"]["org.opencontainers.image.ref.name"]
                    .as_str()
                    .is_some_and(|r| r.starts_with("envc.base/"))
            })
            .unwrap()["digest"]
            .as_str()
            .unwrap()
            .to_string();
        read_json_blob(&store, &base)["config"]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let targets = [
        ("manifest", first.digest.clone()),
        (
            "config",
            manifest["config"]["digest"].as_str().unwrap().into(),
        ),
        ("metadata layer", layer(layers.len() - 1)),
        ("base layer", layer(0)),
        ("base config", base_config),
    ];
    let st = store.to_str().unwrap();
    for (what, digest) in &targets {
        let before = Before::of(&store);
        let original = flip(&store, digest);
        let in_export = *what != "base config";
        for format in ["oci-archive", "docker-archive"] {
            let out = tmp.join(format!("{format}.tar"));
            let r = envc_store(
                &store,
                &[
                    "export",
                    "m:1",
                    "--format",
                    format,
                    "-o",
                    out.to_str().unwrap(),
                ],
            );
            if in_export {
                refused_corrupt(
                    r,
                    digest,
                    &format!("{what}: export {format}"),
                    &store,
                    &before,
                );
                assert!(!out.exists(), "{what}: {format} export left behind");
            } else {
                r.ok();
                fs::remove_file(&out).unwrap();
            }
        }
        assert!(fs::read_dir(tmp.path()).unwrap().all(|e| !e
            .unwrap()
            .file_name()
            .to_string_lossy()
            .starts_with(".envc-")));
        if in_export {
            // A rebuild of revision 1's spec (latest is 2): it would record revision 3 on it.
            let r = build(&store, &spec1, "m", &[]);
            refused_corrupt(r, digest, &format!("{what}: rebuild"), &store, &before);
            let r = envc_store(&store, &["rollback", "m", "--to", "1"]);
            refused_corrupt(r, digest, &format!("{what}: rollback"), &store, &before);
            let r = run(envc()
                .arg("bake")
                .arg(&env)
                .args(["--name", "job", "--from", "m:1", "--store", st]));
            refused_corrupt(r, digest, &format!("{what}: bake"), &store, &before);
        }
        if what.starts_with("base") {
            // A new spec on the stored base.
            let r = build(&store, &spec3, "n", &[]);
            refused_corrupt(
                r,
                digest,
                &format!("{what}: build on the base"),
                &store,
                &before,
            );
        }
        unflip(&store, digest, &original);
        verify_ok(&store);
    }
    // With every blob sound again, all of it works.
    line_of(&build(&store, &spec3, "n", &[]).ok());
    line_of(&envc_store(&store, &["rollback", "m", "--to", "1"]).ok());
}

/// `--base` and `diff` arguments have one reading each: `oci:DIR:REF` and `DIR:REF` name refs
/// containing `:` (envc's own `app:2`), a missing archive is an I/O error (exit 2) that calls
/// it an archive, a missing spec file is named as a file, and `NAME:REV` is a revision even
/// when a file of that name exists (which a note points out).
#[test]
fn base_and_revision_arguments_have_one_meaning() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("grammar");
    let store = tmp.join("store");
    let one = write_spec(tmp.path(), "one.yaml", &byod_spec(&[("A", "one")]));
    let two = write_spec(tmp.path(), "two.yaml", &byod_spec(&[("A", "two")]));
    line_of(&build_on(&store, &one, "app", &layout).ok());
    let app2 = line_of(&build(&store, &two, "app", &[]).ok());

    // The store is a layout whose refs are `app:1`, `app:2`: name one as a base, both ways.
    let other = tmp.join("other");
    let spec = write_spec(tmp.path(), "three.yaml", &byod_spec(&[("B", "x")]));
    for arg in [
        format!("oci:{}:app:2", store.display()),
        format!("{}:app:2", store.display()),
    ] {
        let r = build(&other, &spec, "on-app", &[os("--base"), os(&arg)]).ok();
        line_of(&r);
        let show = envc_store(&other, &["show", "on-app", "--format", "json"])
            .ok()
            .json();
        assert_eq!(show["base_digest"], app2.digest.as_str(), "{arg}: {show}");
    }

    // Missing sources: I/O errors (exit 2), named for what they are.
    let r = build(
        &other,
        &spec,
        "x",
        &[os("--base"), os("oci-archive:missing.tar")],
    )
    .code(2);
    assert!(
        r.stderr.contains("missing.tar") && r.stderr.contains("oci-archive"),
        "{r}"
    );
    assert!(
        !r.stderr.contains("layout"),
        "an archive called a layout: {r}"
    );
    let nope = tmp.join("nope");
    let nope_ref = format!("{}:1", nope.display());
    let r = build(&other, &spec, "x", &[os("--base"), os(&nope_ref)]).code(2);
    assert!(r.stderr.contains(&format!("`{}`", nope.display())), "{r}");
    let r = build(&other, &spec, "x", &[os("--base"), os("oci:")]).code(2);
    assert!(r.stderr.contains("oci-archive:FILE[:REF]"), "{r}");

    let diff = |args: &[&str]| {
        run(envc()
            .arg("diff")
            .args(args)
            .arg("--store")
            .arg(&store)
            .current_dir(tmp.path()))
    };
    // A missing spec file is reported as a missing file, with the accepted forms.
    let r = diff(&["app:1", "nope.yaml"]).code(2);
    assert!(r.stderr.contains("no file `nope.yaml` exists"), "{r}");
    assert!(
        r.stderr.contains("./env.yaml") && r.stderr.contains("NAME:REV"),
        "{r}"
    );
    assert!(!r.stderr.contains("not found"), "{r}");

    // A file named `app:2` does not take the place of revision app:2, and says so.
    // (They differ, so `diff` exits 1.)
    let stored = diff(&["app:1", "app:2"]).no();
    assert!(stored.stderr.is_empty(), "{stored}");
    fs::write(tmp.join("app:2"), byod_spec(&[("A", "file")])).unwrap();
    let r = diff(&["app:1", "app:2"]).no();
    assert_eq!(r.stdout, stored.stdout);
    assert!(r.stderr.contains("./app:2"), "no note about the file: {r}");
    let r = diff(&["app:1", "./app:2"]).no();
    assert!(r.stdout.contains("file"), "{r}");
    // A bare word that is a file is the file; with a stored environment of that name, a note.
    let r = diff(&["app:1", "one.yaml"]).ok();
    assert!(r.stderr.is_empty(), "{r}");
}

/// Once a layer's record is trusted (taken well after its last change), a rebuild does not
/// read it; a later write to the blob is still caught, by its ctime.
#[test]
fn a_layer_changed_after_it_was_trusted_is_hashed_and_refused() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("trusted");
    let store = tmp.join("store");
    let spec1 = write_spec(tmp.path(), "one.yaml", &byod_spec(&[("A", "b")]));
    let spec2 = write_spec(tmp.path(), "two.yaml", &byod_spec(&[("A", "c")]));
    let first = line_of(&build_on(&store, &spec1, "t", &layout).ok());
    thread::sleep(Duration::from_millis(2100));
    // This rebuild hashes the layers once more and records them for good.
    assert!(line_of(&build(&store, &spec1, "t", &[]).ok()).unchanged);
    let manifest = read_json_blob(&store, &first.digest);
    let base_layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = base_layer.strip_prefix("sha256:").unwrap();
    assert!(store.join("envc/checked").join(hex).is_file());
    let before = Before::of(&store);
    flip(&store, &base_layer);
    let r = build(&store, &spec2, "t", &[]);
    refused_corrupt(r, &base_layer, "build after the record", &store, &before);
}

/// A build that fails before it stores anything leaves no store behind where there was none.
#[test]
fn a_failed_build_into_a_new_store_leaves_no_store() {
    let tmp = TempDir::new("no-store");
    let spec = write_spec(tmp.path(), "env.yaml", &byod_spec(&[("A", "b")]));
    let store = tmp.join("new-store");
    let missing = tmp.join("missing.tar");
    let r = build(
        &store,
        &spec,
        "x",
        &[
            os("--base"),
            os(&format!("oci-archive:{}", missing.display())),
        ],
    )
    .code(2);
    assert!(!store.exists(), "a store was left behind: {r}");
    // Without --base and with nothing stored: refused, and again nothing is left.
    build(&store, &spec, "x", &[]).code(2);
    assert!(!store.exists());
}

/// A stored blob that grew or shrank is named as corrupt, with the repair, on every path
/// (export, rebuild, bake), like one whose bytes changed.
#[test]
fn a_blob_of_the_wrong_size_is_named_with_its_repair() {
    let Some(layout) = base(None) else { return };
    let tmp = TempDir::new("wrong-size");
    let store = tmp.join("store");
    let spec = write_spec(tmp.path(), "one.yaml", &byod_spec(&[("A", "b")]));
    let spec2 = write_spec(tmp.path(), "two.yaml", &byod_spec(&[("A", "c")]));
    let first = line_of(&build_on(&store, &spec, "w", &layout).ok());
    let manifest = read_json_blob(&store, &first.digest);
    let layer = manifest["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = store
        .join("blobs/sha256")
        .join(layer.strip_prefix("sha256:").unwrap());
    let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
    std::io::Write::write_all(&mut f, b"extra").unwrap();
    drop(f);
    let out = tmp.join("w.tar");
    for r in [
        envc_store(
            &store,
            &[
                "export",
                "w:1",
                "--format",
                "oci-archive",
                "-o",
                out.to_str().unwrap(),
            ],
        ),
        build(&store, &spec2, "w", &[]),
    ] {
        let r = r.no();
        assert!(
            r.stderr.contains(layer.strip_prefix("sha256:").unwrap()),
            "{r}"
        );
        assert!(
            r.stderr.contains("run `envc verify`, then delete the blob"),
            "{r}"
        );
    }
    assert!(!out.exists());
}
