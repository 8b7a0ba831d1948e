//! End-to-end tests of envc's registry client (`envc pull`, `envc push`, histories with
//! `push NAME REPO` / `pull NAME --from REPO`, builds that take their base from a registry)
//! against real `docker-registry` processes, with skopeo and podman as reference clients and
//! `tests/support/registry_proxy.py` for faults and bearer tokens. Each test skips with a
//! printed reason when a tool is missing (fails instead under `ENVC_ENGINE_REQUIRED`).

mod common;

use common::registry::*;
use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn ready(reasons: &[Option<String>]) -> bool {
    available(reasons.iter().flatten().next().cloned())
}

/// The busybox base layout (`DIR`, image tagged `1`), or None after printing why not.
fn busybox() -> Option<PathBuf> {
    match busybox_base(None) {
        Ok(dir) => Some(dir),
        Err(reason) => {
            if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
                panic!("registry tests required (ENVC_ENGINE_REQUIRED) but {reason}");
            }
            eprintln!("skipping: {reason}");
            None
        }
    }
}

/// The manifest digest a layout's `index.json` lists first.
fn layout_digest(layout: &Path) -> String {
    let index: Value =
        serde_json::from_slice(&fs::read(layout.join("index.json")).unwrap()).unwrap();
    index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string()
}

fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(bytes))
}

/// envc with no credentials or proxies from the machine: HOME and DOCKER_CONFIG under `tmp`.
fn cli(tmp: &TempDir) -> Command {
    let mut c = envc();
    let home = tmp.join("home");
    fs::create_dir_all(&home).unwrap();
    c.env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"));
    for var in [
        "HTTP_PROXY",
        "HTTPS_PROXY",
        "ALL_PROXY",
        "NO_PROXY",
        "http_proxy",
        "https_proxy",
        "all_proxy",
        "no_proxy",
        "SSL_CERT_FILE",
        "SSL_CERT_DIR",
        "REGISTRY_AUTH_FILE",
    ] {
        c.env_remove(var);
    }
    c
}

/// `envc ARGS… --store STORE` through [`cli`].
fn es(tmp: &TempDir, store: &Path, args: &[&str]) -> Run {
    run(cli(tmp).args(args).arg("--store").arg(store))
}

/// Runs `cmd` with `input` on its stdin.
fn run_input(cmd: &mut Command, input: &str) -> Run {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().expect("wait");
    from_output(what, out)
}

/// skopeo with its own (empty) auth file and no dependence on the machine's policy.json.
fn skopeo(tmp: &TempDir) -> Command {
    let mut c = Command::new("skopeo");
    c.env("REGISTRY_AUTH_FILE", tmp.join("skopeo-auth.json"))
        .arg("--insecure-policy")
        .stdin(Stdio::null());
    c
}

/// `skopeo copy --preserve-digests [--all] SRC DEST` (no TLS verification either side).
fn skopeo_copy(tmp: &TempDir, src: &str, dest: &str, extra: &[&str]) {
    let mut cmd = skopeo(tmp);
    cmd.args([
        "copy",
        "--preserve-digests",
        "--src-tls-verify=false",
        "--dest-tls-verify=false",
    ])
    .args(extra)
    .args([src, dest]);
    run(&mut cmd).ok();
}

/// A tiny one-layer image (`marker` makes it unique) pushed by skopeo to `ADDR/t/NAME:v1`
/// (`creds` for a registry behind htpasswd); its reference and manifest digest.
fn tiny_pushed(
    tmp: &TempDir,
    addr: &str,
    name: &str,
    marker: &str,
    creds: Option<&str>,
) -> (String, String) {
    let layout = tmp.join(format!("tiny-{name}"));
    let digest = tiny_oci_layout(&layout, "v1", marker);
    let reference = format!("{addr}/t/{name}:v1");
    let extra: Vec<&str> = creds.map_or(Vec::new(), |c| vec!["--dest-creds", c]);
    skopeo_copy(
        tmp,
        &format!("oci:{}:v1", layout.display()),
        &format!("docker://{reference}"),
        &extra,
    );
    (reference, digest)
}

/// The raw manifest bytes at `docker://REF` as skopeo reads them.
fn skopeo_raw(tmp: &TempDir, reference: &str) -> Vec<u8> {
    let out = skopeo(tmp)
        .args(["inspect", "--raw", "--tls-verify=false"])
        .arg(format!("docker://{reference}"))
        .output()
        .expect("run skopeo");
    assert!(
        out.status.success(),
        "skopeo inspect --raw {reference}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// The second word of stdout's line starting with `first` (`REF sha256:…`).
fn digest_for(r: &Run, first: &str) -> String {
    r.stdout
        .lines()
        .find_map(|l| {
            let mut w = l.split_whitespace();
            (w.next() == Some(first))
                .then(|| w.next().map(str::to_string))
                .flatten()
        })
        .unwrap_or_else(|| panic!("no `{first} sha256:…` line: {r}"))
}

/// The env-only fixture with GREETING set to `greeting`, written as `DIR/FILE`.
fn spec(dir: &Path, file: &str, greeting: &str) -> PathBuf {
    let text = fs::read_to_string(fixture("env-only.yaml")).unwrap();
    assert!(text.contains("hello world"));
    let p = dir.join(file);
    fs::write(&p, text.replace("hello world", greeting)).unwrap();
    p
}

/// `envc build SPEC --name NAME --base oci:BUSYBOX:1 [extra…]`; the new revision's line.
fn build_rev(
    tmp: &TempDir,
    store: &Path,
    spec: &Path,
    name: &str,
    base: &Path,
    extra: &[&str],
) -> Line {
    let r = run(cli(tmp)
        .arg("build")
        .arg(spec)
        .args(["--name", name, "--base"])
        .arg(format!("oci:{}:1", base.display()))
        .arg("--store")
        .arg(store)
        .args(extra))
    .ok();
    line_of(&r)
}

fn show(tmp: &TempDir, store: &Path, rev: &str) -> Value {
    es(tmp, store, &["show", rev, "--format", "json"])
        .ok()
        .json()
}

fn verify_ok(tmp: &TempDir, store: &Path) {
    let r = es(tmp, store, &["verify"]).ok();
    assert!(r.stdout.contains("ok"), "{r}");
}

/// What a failed command must not have changed: `envc list` and the store's blob files.
#[derive(Debug, PartialEq)]
struct Snapshot {
    list: String,
    blobs: BTreeSet<String>,
    index: Option<Vec<u8>>,
}

fn snapshot(tmp: &TempDir, store: &Path) -> Snapshot {
    Snapshot {
        list: es(tmp, store, &["list"]).ok().stdout,
        blobs: blob_names(store),
        index: fs::read(store.join("index.json")).ok(),
    }
}

fn lower(r: &Run) -> String {
    r.stderr.to_lowercase()
}

/// A registry with the busybox-based `app:1` (3 blobs: config, busybox layer, env layer) pushed
/// to `REG/t/app:1` by envc.
struct Pushed {
    tmp: TempDir,
    reg: Registry,
    base: PathBuf,
    store: PathBuf,
    digest: String,
}

impl Pushed {
    fn new(label: &str) -> Option<Pushed> {
        if !registry_available() {
            return None;
        }
        let base = busybox()?;
        let tmp = TempDir::new(label);
        let reg = Registry::start();
        let store = tmp.join("store");
        let s = spec(tmp.path(), "app.yaml", "hello world");
        let line = build_rev(&tmp, &store, &s, "app", &base, &[]);
        let r = es(
            &tmp,
            &store,
            &["push", "app:1", &format!("{}/t/app:1", reg.addr)],
        )
        .ok();
        let digest = digest_for(&r, &format!("{}/t/app:1", reg.addr));
        assert_eq!(digest, line.digest, "push prints the revision's digest");
        Some(Pushed {
            tmp,
            reg,
            base,
            store,
            digest,
        })
    }

    /// The image's layer digests, largest first.
    fn layers(&self) -> Vec<String> {
        let m = read_json_blob(&self.store, &self.digest);
        let mut layers: Vec<(u64, String)> = m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| {
                (
                    l["size"].as_u64().unwrap(),
                    l["digest"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        layers.sort();
        layers.reverse();
        layers.into_iter().map(|(_, d)| d).collect()
    }
}

// 1. Round trips keep every digest.
#[test]
fn push_and_pull_round_trip_with_byte_identical_digests() {
    if !ready(&[skopeo_skip_reason()]) {
        return;
    }
    let Some(p) = Pushed::new("reg-roundtrip") else {
        return;
    };
    let tmp = &p.tmp;
    let reference = format!("{}/t/app:1", p.reg.addr);
    assert_eq!(show(tmp, &p.store, "app:1")["manifest"], p.digest);

    // skopeo reads the very bytes envc stored.
    let raw = skopeo_raw(tmp, &reference);
    assert_eq!(sha256(&raw), p.digest, "registry manifest digest");
    let stored = fs::read(p.store.join("blobs/sha256").join(&p.digest[7..])).unwrap();
    assert_eq!(
        raw, stored,
        "manifest bytes in the registry = bytes in the store"
    );
    let out = tmp.join("skopeo-out");
    skopeo_copy(
        tmp,
        &format!("docker://{reference}"),
        &format!("oci:{}:x", out.display()),
        &[],
    );
    assert_eq!(
        layout_digest(&out),
        p.digest,
        "skopeo's copy keeps the digest"
    );
    let copied = fs::read(out.join("blobs/sha256").join(&p.digest[7..])).unwrap();
    assert_eq!(copied, stored);

    // envc pulls it back into a fresh store with the same digest.
    let fresh = tmp.join("fresh");
    let r = es(tmp, &fresh, &["pull", &reference]).ok();
    assert_eq!(digest_for(&r, &reference), p.digest);
    verify_ok(tmp, &fresh);

    // An image skopeo pushed comes in with its digest too.
    let (tiny_ref, tiny) = tiny_pushed(tmp, &p.reg.addr, "tiny", "round-trip", None);
    let r = es(tmp, &fresh, &["pull", &tiny_ref]).ok();
    assert_eq!(digest_for(&r, &tiny_ref), tiny);
    verify_ok(tmp, &fresh);
}

fn verbose_counts(r: &Run) -> (usize, usize) {
    let line = r
        .stderr
        .lines()
        .find(|l| l.contains("blob(s) uploaded"))
        .unwrap_or_else(|| panic!("no `blob(s) uploaded` line: {r}"));
    let words: Vec<&str> = line.split_whitespace().collect();
    let uploaded_at = words.iter().position(|w| *w == "blob(s)").unwrap();
    let uploaded = words[uploaded_at - 1].parse().unwrap();
    let mounted_at = words.iter().position(|w| w.starts_with("mounted")).unwrap();
    let mounted = words[mounted_at - 1].parse().unwrap();
    (uploaded, mounted)
}

// 2. Nothing goes up twice; a base from another repository of the registry is mounted.
#[test]
fn second_push_uploads_nothing_and_base_blobs_are_mounted() {
    if !ready(&[proxy_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let Some(p) = Pushed::new("reg-mount") else {
        return;
    };
    let tmp = &p.tmp;
    let reference = format!("{}/t/app:1", p.reg.addr);
    let r = es(tmp, &p.store, &["push", "-v", "app:1", &reference]).ok();
    assert_eq!(verbose_counts(&r).0, 0, "second push uploads nothing: {r}");
    assert_eq!(digest_for(&r, &reference), p.digest);

    // The base in repository anyscale/ray of the same registry (the spec names it there):
    // pulled by the build through the proxy, then the revision pushed to b/app mounts it.
    let proxy = Proxy::start(&p.reg);
    let (store, line) = build_on_registry_base(tmp, &p.reg, &proxy, &p.base, None);
    mounts_the_base(tmp, &p.reg, &proxy, &store, &line);
}

/// Pushes busybox to `REG/REPO` (default `anyscale/ray:2.9.0-py310`), builds `m:1` on it taken
/// from the registry through `proxy` (the spec naming `PROXY/anyscale/ray:2.9.0-py310` with no
/// --base, or `--base docker://PROXY/REPO` when a repository is given).
fn build_on_registry_base(
    tmp: &TempDir,
    reg: &Registry,
    proxy: &Proxy,
    base: &Path,
    repo: Option<&str>,
) -> (PathBuf, Line) {
    let at = repo.unwrap_or("anyscale/ray:2.9.0-py310");
    skopeo_copy(
        tmp,
        &format!("oci:{}:1", base.display()),
        &format!("docker://{}/{at}", reg.addr),
        &[],
    );
    let store = tmp.join(format!("mount-store-{}", at.replace(['/', ':'], "-")));
    let text = fs::read_to_string(fixture("env-only.yaml")).unwrap();
    let text = match repo {
        None => text.replace(
            "base_image: anyscale/ray",
            &format!("base_image: {}/anyscale/ray", proxy.addr),
        ),
        Some(_) => text,
    };
    let s = tmp.join("mount.yaml");
    fs::write(&s, text.replace("hello world", "mount me")).unwrap();
    let mut cmd = cli(tmp);
    cmd.arg("build")
        .arg(&s)
        .args(["--name", "m", "--store"])
        .arg(&store);
    if let Some(repo) = repo {
        cmd.arg("--base")
            .arg(format!("docker://{}/{repo}", proxy.addr));
    }
    let line = line_of(&run(&mut cmd).ok());
    assert_eq!(show(tmp, &store, "m:1")["base_digest"], layout_digest(base));
    (store, line)
}

fn mounts_the_base(tmp: &TempDir, reg: &Registry, proxy: &Proxy, store: &Path, line: &Line) {
    proxy.clear_log();
    let dest = format!("{}/b/app:1", proxy.addr);
    let r = es(tmp, store, &["push", "-v", "m:1", &dest]).ok();
    assert_eq!(digest_for(&r, &dest), line.digest);
    let (uploaded, mounted) = verbose_counts(&r);
    let log = proxy.log();
    let mount_posts = log
        .iter()
        .filter(|e| e["method"] == "POST" && e["query"].as_str().unwrap_or("").contains("mount="))
        .count();
    assert!(mounted > 0, "the base layer is mounted, not uploaded: {r}");
    assert!(mount_posts > 0, "POST …?mount= in the proxy log: {log:?}");
    assert!(uploaded >= 1, "the env layer and config go up: {r}");
    assert_eq!(
        sha256(&skopeo_raw(tmp, &format!("{}/b/app:1", reg.addr))),
        line.digest
    );
}

#[test]
fn a_base_from_base_docker_ref_is_mounted_from_that_repository() {
    if !ready(&[proxy_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let Some(p) = Pushed::new("reg-mount-docker") else {
        return;
    };
    let proxy = Proxy::start(&p.reg);
    let (store, line) = build_on_registry_base(&p.tmp, &p.reg, &proxy, &p.base, Some("a/base:1"));
    mounts_the_base(&p.tmp, &p.reg, &proxy, &store, &line);
}

/// A layout at `dir` whose `index.json` tags `reference` as an image index of a linux/amd64
/// and a linux/arm64 tiny image; returns (index, amd64, arm64) digests.
fn two_platform_layout(dir: &Path, reference: &str) -> (String, String, String) {
    let amd = tiny_oci_layout_arch(&dir.join("amd"), "amd", "amd64 image", "amd64");
    let arm = tiny_oci_layout_arch(&dir.join("arm"), "arm", "arm64 image", "arm64");
    let layout = dir.join("multi");
    fs::create_dir_all(layout.join("blobs/sha256")).unwrap();
    for part in ["amd", "arm"] {
        for e in fs::read_dir(dir.join(part).join("blobs/sha256")).unwrap() {
            let e = e.unwrap();
            fs::copy(e.path(), layout.join("blobs/sha256").join(e.file_name())).unwrap();
        }
    }
    let size = |d: &str| {
        fs::metadata(layout.join("blobs/sha256").join(&d[7..]))
            .unwrap()
            .len()
    };
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": amd, "size": size(&amd),
             "platform": {"os": "linux", "architecture": "amd64"}},
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": arm, "size": size(&arm),
             "platform": {"os": "linux", "architecture": "arm64"}},
        ],
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let index_digest = sha256(&bytes);
    fs::write(layout.join("blobs/sha256").join(&index_digest[7..]), &bytes).unwrap();
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .unwrap();
    let top = json!({
        "schemaVersion": 2,
        "manifests": [{
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": index_digest,
            "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": reference},
        }],
    });
    fs::write(layout.join("index.json"), serde_json::to_vec(&top).unwrap()).unwrap();
    (index_digest, amd, arm)
}

// 3. An image index: one platform by default or on request, or whole; pushed back intact.
#[test]
fn two_platform_index_pulls_each_platform_or_whole_and_pushes_intact() {
    if !ready(&[registry_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("reg-index");
    let reg = Registry::start();
    let (index, amd, arm) = two_platform_layout(tmp.path(), "multi");
    let reference = format!("{}/t/multi:1", reg.addr);
    skopeo_copy(
        &tmp,
        &format!("oci:{}:multi", tmp.join("multi").display()),
        &format!("docker://{reference}"),
        &["--all"],
    );
    assert_eq!(sha256(&skopeo_raw(&tmp, &reference)), index);

    let s1 = tmp.join("s-amd");
    let r = es(&tmp, &s1, &["pull", &reference]).ok();
    assert_eq!(
        digest_for(&r, &reference),
        amd,
        "default platform linux/amd64"
    );
    let s2 = tmp.join("s-arm");
    let r = es(
        &tmp,
        &s2,
        &["pull", &reference, "--platform", "linux/arm64"],
    )
    .ok();
    assert_eq!(digest_for(&r, &reference), arm, "--platform linux/arm64");
    let s3 = tmp.join("s-all");
    let r = es(&tmp, &s3, &["pull", &reference, "--all-platforms"]).ok();
    assert_eq!(
        digest_for(&r, &reference),
        index,
        "--all-platforms prints the index"
    );
    for s in [&s1, &s2, &s3] {
        verify_ok(&tmp, s);
    }

    let dest = format!("{}/t/multi2:1", reg.addr);
    let r = es(&tmp, &s3, &["push", &reference, &dest]).ok();
    assert_eq!(digest_for(&r, &dest), index);
    assert_eq!(
        sha256(&skopeo_raw(&tmp, &dest)),
        index,
        "the index goes up intact"
    );
    // Both platforms' images are there behind it.
    for (platform, want) in [("amd64", &amd), ("arm64", &arm)] {
        let out = skopeo(&tmp)
            .args([
                "inspect",
                "--raw",
                "--tls-verify=false",
                "--override-arch",
                platform,
            ])
            .arg(format!("docker://{}/t/multi2@{want}", reg.addr))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{platform}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(&sha256(&out.stdout), want);
    }
}

// 4. zstd layers go up as zstd and reference clients read them.
#[test]
fn zstd_revision_pushes_and_skopeo_and_podman_read_it() {
    if !ready(&[registry_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let Some(base) = busybox() else { return };
    let tmp = TempDir::new("reg-zstd");
    let reg = Registry::start();
    let store = tmp.join("store");
    let s = spec(tmp.path(), "z.yaml", "zstd");
    let line = build_rev(&tmp, &store, &s, "z", &base, &["--compression", "zstd"]);
    let reference = format!("{}/t/z:1", reg.addr);
    let r = es(&tmp, &store, &["push", "z:1", &reference]).ok();
    assert_eq!(digest_for(&r, &reference), line.digest);
    let raw = skopeo_raw(&tmp, &reference);
    assert_eq!(sha256(&raw), line.digest);
    let m: Value = serde_json::from_slice(&raw).unwrap();
    // The base's layer keeps its own compression; envc's layer is zstd.
    let layers = m["layers"].as_array().unwrap();
    assert!(
        layers.last().unwrap()["mediaType"]
            .as_str()
            .unwrap()
            .ends_with("+zstd"),
        "envc's layer is zstd: {m}"
    );
    let out = tmp.join("copy");
    skopeo_copy(
        &tmp,
        &format!("docker://{reference}"),
        &format!("oci:{}:z", out.display()),
        &[],
    );
    assert_eq!(layout_digest(&out), line.digest);

    if !have("podman") {
        eprintln!("podman not found: skipping the podman pull");
        return;
    }
    let pod = tmp.join("podman");
    let r = run(podman(&pod).args(["pull", "--tls-verify=false", &reference]));
    assert_eq!(r.code, Some(0), "podman pull of the zstd image: {r}");
    let r =
        run(podman(&pod).args(["image", "inspect", "--format", "{{.Digest}}", &reference])).ok();
    assert_eq!(r.stdout.trim(), line.digest);
}

// 5. A history goes up and comes down whole; revisions are immutable.
#[test]
fn history_push_pull_equal_listings_and_immutable_revisions() {
    if !registry_available() {
        return;
    }
    let Some(base) = busybox() else { return };
    let tmp = TempDir::new("reg-history");
    let reg = Registry::start();
    let a = tmp.join("a");
    let r1 = build_rev(
        &tmp,
        &a,
        &spec(tmp.path(), "1.yaml", "one"),
        "app",
        &base,
        &[],
    );
    let r2 = build_rev(
        &tmp,
        &a,
        &spec(tmp.path(), "2.yaml", "two"),
        "app",
        &base,
        &[],
    );
    let r3 = line_of(&es(&tmp, &a, &["rollback", "app", "--to", "1"]).ok());
    assert_eq!((r1.rev, r2.rev, r3.rev), (1, 2, 3));
    let repo = format!("{}/t/app", reg.addr);
    let r = es(&tmp, &a, &["push", "app", &repo]).ok();
    for l in [&r1, &r2, &r3] {
        assert_eq!(
            digest_for(&r, &format!("{repo}:{}", l.rev)),
            l.digest,
            "{r}"
        );
    }
    assert_eq!(r.stdout.lines().count(), 3, "{r}");

    let b = tmp.join("b");
    let r = es(&tmp, &b, &["pull", "app", "--from", &repo]).ok();
    assert_eq!(r.stdout.lines().count(), 3, "{r}");
    assert_eq!(digest_for(&r, "app:2"), r2.digest);
    assert_eq!(
        es(&tmp, &a, &["list"]).ok().stdout,
        es(&tmp, &b, &["list"]).ok().stdout,
        "listings equal"
    );
    assert_eq!(show(&tmp, &a, "app:3"), show(&tmp, &b, "app:3"));
    verify_ok(&tmp, &b);
    // A machine that never built them diffs and rolls back as the one that did.
    let diff = |s: &Path| {
        let r = es(&tmp, s, &["diff", "app:1", "app:2"]);
        assert_eq!(r.code, Some(1), "the revisions differ: {r}");
        r.stdout
    };
    assert_eq!(diff(&a), diff(&b));
    let rb = line_of(&es(&tmp, &b, &["rollback", "app", "--to", "2"]).ok());
    assert_eq!((rb.rev, rb.digest.as_str()), (4, r2.digest.as_str()));
    verify_ok(&tmp, &b);
    let bb = tmp.join("bb");
    es(&tmp, &bb, &["pull", "app", "--from", &repo]).ok();
    es(&tmp, &b, &["push", "app", &repo]).ok();
    let r = es(&tmp, &bb, &["pull", "app", "--from", &repo]).ok();
    assert_eq!(
        digest_for(&r, "app:4"),
        r2.digest,
        "the rollback travels: {r}"
    );
    let shown = show(&tmp, &bb, "app:4");
    assert!(shown.to_string().contains("rollback"), "{shown}");

    let r = es(&tmp, &a, &["push", "app", &repo]).ok();
    assert_eq!(r.stdout.trim(), "", "nothing pushed the second time: {r}");
    let r = es(&tmp, &b, &["pull", "app", "--from", &repo]).ok();
    assert_eq!(r.stdout.trim(), "", "nothing pulled the second time: {r}");

    // Another revision 1 is refused.
    let c = tmp.join("c");
    let other = build_rev(
        &tmp,
        &c,
        &spec(tmp.path(), "c.yaml", "other one"),
        "app",
        &base,
        &[],
    );
    assert_eq!(other.rev, 1);
    let r = es(&tmp, &c, &["push", "app", &repo]).no();
    assert!(
        r.stderr.contains(&other.digest[7..19]) || r.stderr.contains(&other.digest),
        "names C's digest: {r}"
    );
    assert!(
        r.stderr.contains(&r1.digest[7..19]) || r.stderr.contains(&r1.digest),
        "names the registry's digest: {r}"
    );
    // Tag 1 still records A's revision 1 (an index wrapping its manifest).
    if let Some(raw) = skopeo_raw_opt(&tmp, &format!("{repo}:1")) {
        let index: Value = serde_json::from_slice(&raw).unwrap();
        assert_eq!(index["manifests"][0]["digest"], r1.digest, "{index}");
    }
}

/// [`skopeo_raw`] when skopeo is there (None otherwise).
fn skopeo_raw_opt(tmp: &TempDir, reference: &str) -> Option<Vec<u8>> {
    have("skopeo").then(|| skopeo_raw(tmp, reference))
}

fn revisions(tmp: &TempDir, store: &Path, name: &str) -> Vec<(u64, String)> {
    es(tmp, store, &["list", name, "--format", "json"])
        .ok()
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v["revision"].as_u64().unwrap(),
                v["manifest"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

// 6. Two pushes of revision N at once: one wins, the other pulls, renumbers, pushes; none lost.
#[test]
fn one_race_of_concurrent_pushes_loses_no_revision() {
    race_rounds(1, false);
}

#[test]
fn three_races_of_concurrent_pushes_lose_nothing_and_duplicate_nothing() {
    race_rounds(3, true);
}

/// `rounds` races; `strict`: also no image twice (numbers exactly 1..=N+1 each round).
fn race_rounds(rounds: usize, strict: bool) {
    if !registry_available() {
        return;
    }
    let Some(base) = busybox() else { return };
    let tmp = TempDir::new("reg-race");
    let reg = Registry::start();
    let repo = format!("{}/t/race", reg.addr);
    let origin = tmp.join("origin");
    build_rev(
        &tmp,
        &origin,
        &spec(tmp.path(), "o.yaml", "origin"),
        "app",
        &base,
        &[],
    );
    es(&tmp, &origin, &["push", "app", &repo]).ok();
    let x = tmp.join("x");
    let y = tmp.join("y");
    es(&tmp, &x, &["pull", "app", "--from", &repo]).ok();
    es(&tmp, &y, &["pull", "app", "--from", &repo]).ok();
    let mut expected: Vec<String> = revisions(&tmp, &origin, "app")
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    for round in 0..rounds {
        let n = expected.len() as u32 + 1;
        let lx = build_rev(
            &tmp,
            &x,
            &spec(tmp.path(), &format!("x{round}.yaml"), &format!("x {round}")),
            "app",
            &base,
            &[],
        );
        let ly = build_rev(
            &tmp,
            &y,
            &spec(tmp.path(), &format!("y{round}.yaml"), &format!("y {round}")),
            "app",
            &base,
            &[],
        );
        assert_eq!((lx.rev, ly.rev), (n, n), "both build revision {n}");
        let spawn = |store: &Path| {
            cli(&tmp)
                .args(["push", "app", &repo, "--store"])
                .arg(store)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        };
        let (cx, cy) = (spawn(&x), spawn(&y));
        let ox = from_output("push x".into(), cx.wait_with_output().unwrap()).no_panic();
        let oy = from_output("push y".into(), cy.wait_with_output().unwrap()).no_panic();
        let mut pending: Vec<&Path> = Vec::new();
        for (o, s) in [(&ox, &x), (&oy, &y)] {
            // Both may succeed (each revision has its unique tag `N.<hex>`; the loser's is
            // renumbered on the next pull), one may be refused (exit 1), or the registry may
            // fail a request that raced (exit 2): every loser pulls and pushes again.
            match o.code {
                Some(0) => {}
                Some(1 | 2) => {
                    eprintln!("round {round}: racing push lost: {o}");
                    pending.push(s)
                }
                _ => panic!("a racing push crashed: {o}"),
            }
        }
        assert!(
            pending.len() <= 1,
            "round {round}: at least one push wins: {ox}\n{oy}"
        );
        for s in pending {
            let mut attempts = 0;
            loop {
                attempts += 1;
                assert!(
                    attempts <= 5,
                    "round {round}: the loser never got its revision in"
                );
                let p = es(&tmp, s, &["pull", "app", "--from", &repo]).ok();
                let r = es(&tmp, s, &["push", "app", &repo]);
                if r.code == Some(0) {
                    assert!(
                        !r.stdout.trim().is_empty(),
                        "the renumbered revision goes up: {p}\n{r}"
                    );
                    break;
                }
                r.no();
            }
        }
        // Both now have the whole history; bring the winner up to date for the next round.
        es(&tmp, &x, &["pull", "app", "--from", &repo]).ok();
        es(&tmp, &y, &["pull", "app", "--from", &repo]).ok();
        let fresh = tmp.join(format!("fresh{round}"));
        es(&tmp, &fresh, &["pull", "app", "--from", &repo]).ok();
        let revs = revisions(&tmp, &fresh, "app");
        let numbers: Vec<u64> = revs.iter().map(|(n, _)| *n).collect();
        if strict {
            assert_eq!(
                numbers,
                (1..=n as u64 + 1).collect::<Vec<_>>(),
                "round {round}: no gaps or duplicates: {revs:?}\n{ox}\n{oy}"
            );
        } else {
            assert_eq!(
                numbers,
                (1..=revs.len() as u64).collect::<Vec<_>>(),
                "round {round}: no gaps: {revs:?}\n{ox}\n{oy}"
            );
        }
        let digests: BTreeSet<&String> = revs.iter().map(|(_, d)| d).collect();
        for d in [&lx.digest, &ly.digest] {
            assert!(digests.contains(d), "round {round}: {d} lost: {revs:?}");
        }
        for old in &expected {
            assert!(digests.contains(old), "round {round}: earlier {old} lost");
        }
        if strict {
            assert_eq!(
                revisions(&tmp, &x, "app"),
                revs,
                "x agrees with the registry"
            );
            assert_eq!(
                revisions(&tmp, &y, "app"),
                revs,
                "y agrees with the registry"
            );
        }
        verify_ok(&tmp, &fresh);
        expected = revs.into_iter().map(|(_, d)| d).collect();
    }
}

fn b64(s: &str) -> String {
    use std::fmt::Write as _;
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let b = s.as_bytes();
    let mut out = String::new();
    for c in b.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.write_char(T[(n >> (18 - 6 * i) & 63) as usize] as char)
                    .unwrap();
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// An htpasswd registry (`u`/`p4ss`) with a tiny image at `REG/t/tiny:v1`: (tmp, registry,
/// reference, digest).
fn htpasswd_with_tiny(label: &str) -> Option<(TempDir, Registry, String, String)> {
    if !ready(&[htpasswd_skip_reason(), skopeo_skip_reason()]) {
        return None;
    }
    let tmp = TempDir::new(label);
    let reg = Registry::start_htpasswd("u", "p4ss");
    let (reference, digest) = tiny_pushed(&tmp, &reg.addr, "tiny", "auth", Some("u:p4ss"));
    Some((tmp, reg, reference, digest))
}

// 7. Credentials: what fails says why and never shows the password.
#[test]
fn auth_failures_are_clear_and_never_echo_the_password() {
    let Some((tmp, _reg, reference, _digest)) = htpasswd_with_tiny("reg-authfail") else {
        return;
    };
    let pull = |store: &str| {
        let mut c = cli(&tmp);
        c.args(["pull", &reference, "--store"]).arg(tmp.join(store));
        c
    };
    let r = run(&mut pull("none")).no();
    let e = lower(&r);
    assert!(
        e.contains("authentication") && e.contains("docker login"),
        "{r}"
    );
    assert!(blob_names(&tmp.join("none")).is_empty(), "nothing stored");

    let secret = "WrongSecret-93418";
    let r = run_input(
        pull("wrong").args(["--username", "u", "--password-stdin"]),
        secret,
    )
    .no();
    assert!(
        !r.stderr.contains(secret) && !r.stdout.contains(secret),
        "password leaked: {r}"
    );
    assert!(lower(&r).contains("authentication failed"), "{r}");

    let bad = tmp.join("badcfg");
    fs::create_dir_all(&bad).unwrap();
    fs::write(
        bad.join("config.json"),
        "{\n  \"auths\": {\n    \"x\": ,\n  }\n}\n",
    )
    .unwrap();
    let r = run(pull("bad").env("DOCKER_CONFIG", &bad)).no_panic();
    assert_ne!(r.code, Some(0), "{r}");
    assert!(
        r.stderr
            .contains(&bad.join("config.json").display().to_string()),
        "names the file: {r}"
    );
    assert!(
        r.stderr.contains(":3:") || r.stderr.contains("line 3"),
        "line:col: {r}"
    );
}

// 7. Credentials: flags, config.json auths, credential helpers.
#[test]
fn basic_auth_flags_docker_config_and_credential_helpers() {
    if !ready(&[htpasswd_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("reg-auth");
    let reg = Registry::start_htpasswd("u", "p4ss");
    let (reference, digest) = tiny_pushed(&tmp, &reg.addr, "tiny", "auth", Some("u:p4ss"));
    let pull = |store: &str| {
        let mut c = cli(&tmp);
        c.args(["pull", &reference, "--store"]).arg(tmp.join(store));
        c
    };

    let r = run(&mut pull("none")).no();
    let e = lower(&r);
    assert!(
        e.contains("authentication") || e.contains("docker login"),
        "{r}"
    );
    assert!(!tmp.join("none/index.json").exists() || blob_names(&tmp.join("none")).is_empty());

    let r = run_input(
        pull("flags").args(["--username", "u", "--password-stdin"]),
        "p4ss\n",
    )
    .ok();
    assert_eq!(digest_for(&r, &reference), digest);

    let secret = "WrongSecret-93418";
    let r = run_input(
        pull("wrong").args(["--username", "u", "--password-stdin"]),
        secret,
    )
    .no();
    assert!(
        !r.stderr.contains(secret) && !r.stdout.contains(secret),
        "password leaked: {r}"
    );
    assert!(
        lower(&r).contains("auth")
            || lower(&r).contains("denied")
            || lower(&r).contains("credential"),
        "{r}"
    );

    // DOCKER_CONFIG with auths.
    let dc = tmp.join("dockercfg");
    fs::create_dir_all(&dc).unwrap();
    fs::write(
        dc.join("config.json"),
        json!({"auths": {reg.addr.clone(): {"auth": b64("u:p4ss")}}}).to_string(),
    )
    .unwrap();
    let r = run(pull("cfg").env("DOCKER_CONFIG", &dc)).ok();
    assert_eq!(digest_for(&r, &reference), digest);

    // A credential helper on PATH.
    let bin = tmp.join("bin");
    fs::create_dir_all(&bin).unwrap();
    let helper = bin.join("docker-credential-envctest");
    fs::write(
        &helper,
        "#!/bin/sh\nread server\ncase \"$1\" in get) printf '{\"ServerURL\":\"%s\",\"Username\":\"u\",\"Secret\":\"p4ss\"}\\n' \"$server\" ;; *) exit 1 ;; esac\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(&helper, fs::Permissions::from_mode(0o755)).unwrap();
    let hc = tmp.join("helpercfg");
    fs::create_dir_all(&hc).unwrap();
    fs::write(
        hc.join("config.json"),
        json!({"credHelpers": {reg.addr.clone(): "envctest"}}).to_string(),
    )
    .unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let r = run(pull("helper").env("DOCKER_CONFIG", &hc).env("PATH", &path)).ok();
    assert_eq!(digest_for(&r, &reference), digest);

    // A malformed config.json is named, with line and column.
    let bad = tmp.join("badcfg");
    fs::create_dir_all(&bad).unwrap();
    fs::write(
        bad.join("config.json"),
        "{\n  \"auths\": {\n    \"x\": ,\n  }\n}\n",
    )
    .unwrap();
    let r = run(pull("bad").env("DOCKER_CONFIG", &bad)).no_panic();
    assert_ne!(r.code, Some(0), "{r}");
    assert!(r.stderr.contains("config.json"), "names the file: {r}");
    assert!(
        r.stderr.contains(":3:") || r.stderr.contains("line 3"),
        "line:col: {r}"
    );
}

#[test]
fn bearer_tokens_are_fetched_once_per_scope() {
    if !ready(&[proxy_skip_reason()]) {
        return;
    }
    let Some(base) = busybox() else { return };
    let tmp = TempDir::new("reg-bearer");
    let reg = Registry::start();
    let proxy = Proxy::start_token(&reg, "tok", "tokpw");
    let store = tmp.join("store");
    let line = build_rev(
        &tmp,
        &store,
        &spec(tmp.path(), "b.yaml", "bearer"),
        "app",
        &base,
        &[],
    );
    let reference = format!("{}/t/app:1", proxy.addr);
    let r = run_input(
        cli(&tmp)
            .args([
                "push",
                "app:1",
                &reference,
                "--username",
                "tok",
                "--password-stdin",
                "--store",
            ])
            .arg(&store),
        "tokpw",
    )
    .ok();
    assert_eq!(digest_for(&r, &reference), line.digest);
    let before = proxy.token_requests();
    let fresh = tmp.join("fresh");
    let r = run_input(
        cli(&tmp)
            .args([
                "pull",
                &reference,
                "--username",
                "tok",
                "--password-stdin",
                "--store",
            ])
            .arg(&fresh),
        "tokpw",
    )
    .ok();
    assert_eq!(digest_for(&r, &reference), line.digest);
    let used = proxy.token_requests() - before;
    assert!(
        (1..=3).contains(&used),
        "token requests for a 3-blob pull: {used}"
    );
    verify_ok(&tmp, &fresh);
    // Without credentials the token endpoint refuses: a clear authentication error.
    let r = run(cli(&tmp)
        .args(["pull", &reference, "--store"])
        .arg(tmp.join("anon")))
    .no();
    assert!(
        lower(&r).contains("auth") || lower(&r).contains("docker login"),
        "{r}"
    );
}

// 8. Faults: every failure is clear and leaves the store as it was.
#[test]
fn pull_faults_fail_clearly_and_leave_the_store_unchanged() {
    if !ready(&[proxy_skip_reason()]) {
        return;
    }
    let Some(p) = Pushed::new("reg-faults") else {
        return;
    };
    let tmp = &p.tmp;
    let proxy = Proxy::start(&p.reg);
    let layer = p.layers()[0].clone();
    let by_tag = format!("{}/t/app:1", proxy.addr);
    let by_digest = format!("{}/t/app@{}", proxy.addr, p.digest);
    // A store with something in it already.
    let store = tmp.join("victim");
    build_rev(
        tmp,
        &store,
        &spec(tmp.path(), "v.yaml", "victim"),
        "victim",
        &p.base,
        &[],
    );
    let before = snapshot(tmp, &store);
    let manifest = json!({"path": "/manifests/"});
    let with = |base: &Value, extra: Value| {
        let mut f = base.clone();
        for (k, v) in extra.as_object().unwrap() {
            f[k] = v.clone();
        }
        json!([f])
    };
    // Blobs a failed pull leaves behind (see `a_failed_pull_leaves_no_blobs_behind`) are
    // checked there; here: no new revision, base or index entry, and nothing but whole blobs
    // of the image being pulled.
    let image_blobs: BTreeSet<String> = blob_names(&p.store);
    let fail = |faults: Value, reference: &str, code: Option<i32>, what: &str| -> Run {
        proxy.set_faults(faults);
        let start = Instant::now();
        let r = es(tmp, &store, &["pull", reference]).no_panic();
        proxy.clear_faults();
        match code {
            Some(c) => assert_eq!(r.code, Some(c), "{what}: {r}"),
            None => assert!(matches!(r.code, Some(1 | 2)), "{what}: {r}"),
        }
        let after = snapshot(tmp, &store);
        assert_eq!(after.list, before.list, "{what}: the listing changed: {r}");
        assert_eq!(after.index, before.index, "{what}: index.json changed: {r}");
        for b in after.blobs.difference(&before.blobs) {
            assert!(image_blobs.contains(b), "{what}: a stray blob {b}: {r}");
        }
        eprintln!(
            "{what}: exit {:?} in {:?}: {}",
            r.code,
            start.elapsed(),
            r.stderr.trim()
        );
        r
    };
    let r = fail(
        with(&manifest, json!({"status": 401})),
        &by_tag,
        Some(1),
        "401",
    );
    assert!(
        lower(&r).contains("auth") || lower(&r).contains("401"),
        "{r}"
    );
    let r = fail(
        with(&manifest, json!({"status": 403})),
        &by_tag,
        Some(1),
        "403",
    );
    assert!(
        lower(&r).contains("denied")
            || lower(&r).contains("forbidden")
            || lower(&r).contains("403"),
        "{r}"
    );
    let r = fail(
        with(
            &manifest,
            json!({"status": 404, "code": "MANIFEST_UNKNOWN"}),
        ),
        &by_tag,
        Some(1),
        "404",
    );
    assert!(lower(&r).contains("not found"), "{r}");
    let r = fail(
        with(&manifest, json!({"status": 500})),
        &by_tag,
        Some(2),
        "500",
    );
    assert!(r.stderr.contains("500"), "{r}");
    let r = fail(
        with(&manifest, json!({"corrupt": true})),
        &by_digest,
        None,
        "corrupt by digest",
    );
    assert!(lower(&r).contains("digest"), "{r}");
    fail(
        with(&manifest, json!({"corrupt": true})),
        &by_tag,
        None,
        "corrupt by tag",
    );
    let r = fail(
        with(
            &json!({"path": format!("/blobs/{layer}")}),
            json!({"truncate": 1000, "times": 100}),
        ),
        &by_tag,
        None,
        "truncate",
    );
    assert!(!r.stderr.is_empty());
    let r = fail(
        with(&manifest, json!({"redirect_loop": true})),
        &by_tag,
        None,
        "redirect loop",
    );
    assert!(lower(&r).contains("redirect"), "{r}");
    let start = Instant::now();
    let r = fail(
        with(&manifest, json!({"huge": 100u64 << 20})),
        &by_tag,
        None,
        "huge manifest",
    );
    assert!(
        start.elapsed() < Duration::from_secs(20),
        "huge took {:?}",
        start.elapsed()
    );
    assert!(lower(&r).contains("too large"), "{r}");
    // The same without a Content-Length: the client's own cap ends it.
    let r = fail(
        with(&manifest, json!({"huge_chunked": 100u64 << 20})),
        &by_tag,
        None,
        "huge chunked manifest",
    );
    assert!(lower(&r).contains("too large"), "{r}");

    // Faults the client gets past.
    let ok = |faults: Value, store: &str, what: &str| {
        proxy.set_faults(faults);
        let s = tmp.join(store);
        let r = es(tmp, &s, &["pull", &by_tag]);
        let left = proxy.faults();
        proxy.clear_faults();
        let r = r.ok();
        assert_eq!(digest_for(&r, &by_tag), p.digest, "{what}");
        verify_ok(tmp, &s);
        left
    };
    let left = ok(
        with(
            &manifest,
            json!({"status": 503, "headers": {"Retry-After": "1"}, "times": 2}),
        ),
        "after-503",
        "503 twice",
    );
    assert_eq!(left[0]["times"], 0, "both 503s were seen: {left:?}");
    proxy.clear_log();
    let left = ok(
        with(
            &json!({"path": format!("/blobs/{layer}")}),
            json!({"drop_after": 100000, "times": 1}),
        ),
        "after-drop",
        "dropped blob",
    );
    assert_eq!(left[0]["times"], 0, "the drop happened: {left:?}");
    let gets = proxy
        .log()
        .iter()
        .filter(|e| e["method"] == "GET" && e["path"].as_str().unwrap_or("").ends_with(&layer))
        .count();
    assert!(
        gets >= 2,
        "the dropped blob was asked for again: {gets} GET(s)"
    );
}

#[test]
fn wrong_password_against_htpasswd_is_exit_1_and_store_unchanged() {
    if !ready(&[htpasswd_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("reg-wrongpw");
    let reg = Registry::start_htpasswd("u", "right");
    let (reference, _) = tiny_pushed(&tmp, &reg.addr, "tiny", "wrongpw", Some("u:right"));
    let store = tmp.join("store");
    let other = tmp.join("other");
    let other_d = tiny_oci_layout(&other, "v1", "already here");
    // Put something in the store first, from an unauthenticated registry.
    let plain = Registry::start();
    let plain_ref = format!("{}/t/other:v1", plain.addr);
    skopeo_copy(
        &tmp,
        &format!("oci:{}:v1", other.display()),
        &format!("docker://{plain_ref}"),
        &[],
    );
    assert_eq!(
        digest_for(&es(&tmp, &store, &["pull", &plain_ref]).ok(), &plain_ref),
        other_d
    );
    let before = snapshot(&tmp, &store);
    let r = run_input(
        cli(&tmp)
            .args([
                "pull",
                &reference,
                "--username",
                "u",
                "--password-stdin",
                "--store",
            ])
            .arg(&store),
        "wrong",
    )
    .no();
    assert!(
        !r.stderr.contains("wrong\n") && !r.stderr.contains("\"wrong\""),
        "{r}"
    );
    assert_eq!(snapshot(&tmp, &store), before);
}

#[test]
fn push_retries_failed_uploads() {
    if !ready(&[proxy_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let Some(base) = busybox() else { return };
    let tmp = TempDir::new("reg-pushfault");
    let reg = Registry::start();
    let proxy = Proxy::start(&reg);
    let store = tmp.join("store");
    let line = build_rev(
        &tmp,
        &store,
        &spec(tmp.path(), "p.yaml", "push faults"),
        "app",
        &base,
        &[],
    );
    for (i, method) in ["PUT", "PATCH"].iter().enumerate() {
        let reference = format!("{}/t/app{i}:1", proxy.addr);
        // Fresh repositories on a registry that has the blobs elsewhere may mount or find them:
        // use a registry of their own per method for the PATCH case.
        proxy.set_faults(
            json!([{"method": method, "path": "/blobs/uploads/", "status": 500, "times": 2}]),
        );
        let r = es(&tmp, &store, &["push", "-v", "app:1", &reference]);
        let left = proxy.faults();
        proxy.clear_faults();
        let r = r.ok();
        assert_eq!(digest_for(&r, &reference), line.digest);
        assert_eq!(
            sha256(&skopeo_raw(&tmp, &format!("{}/t/app{i}:1", reg.addr))),
            line.digest
        );
        if *method == "PUT" {
            assert_eq!(left[0]["times"], 0, "both PUT 500s were seen: {left:?}");
        } else {
            eprintln!("PATCH faults left: {left:?} ({r})");
        }
    }
}

// 9. TLS through the system trust store (SSL_CERT_FILE honoured).
#[test]
fn tls_registry_needs_trust_and_honours_ssl_cert_file() {
    if !ready(&[tls_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("reg-tls");
    let (reg, ca) = Registry::start_tls();
    let (reference, digest) = tiny_pushed(&tmp, &reg.addr, "tiny", "tls", None);
    let r = run(cli(&tmp)
        .env("SSL_CERT_FILE", &ca)
        .args(["pull", &reference, "--store"])
        .arg(tmp.join("trusted")))
    .ok();
    assert_eq!(digest_for(&r, &reference), digest);
    verify_ok(&tmp, &tmp.join("trusted"));
}

#[test]
fn tls_registry_without_trust_is_a_certificate_error() {
    if !ready(&[tls_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let tmp = TempDir::new("reg-tls-untrusted");
    let (reg, _ca) = Registry::start_tls();
    let (reference, _) = tiny_pushed(&tmp, &reg.addr, "tiny", "tls", None);
    let r = es(&tmp, &tmp.join("untrusted"), &["pull", &reference]).code(2);
    let e = lower(&r);
    assert!(e.contains("certificate") || e.contains("trust"), "{r}");
    assert!(
        !r.stderr.contains("http://"),
        "never plain HTTP to a server that speaks TLS: {r}"
    );
}

// 10. A build takes its missing base from the registry (through the mirror), or refuses offline.
#[test]
fn build_pulls_a_missing_base_through_the_mirror_or_refuses_offline() {
    if !ready(&[registry_skip_reason(), skopeo_skip_reason()]) {
        return;
    }
    let Some(base) = busybox() else { return };
    let tmp = TempDir::new("reg-build");
    let reg = Registry::start();
    skopeo_copy(
        &tmp,
        &format!("oci:{}:1", base.display()),
        &format!("docker://{}/anyscale/ray:2.9.0-py310", reg.addr),
        &[],
    );
    let base_digest = layout_digest(&base);
    let proj = tmp.join("proj");
    fs::create_dir_all(&proj).unwrap();
    let s = spec(&proj, "env.yaml", "from the mirror");
    fs::write(
        proj.join("envc.toml"),
        format!("[base-image]\nmirror = \"{}\"\n", reg.addr),
    )
    .unwrap();
    let store = tmp.join("store");
    let r = run(cli(&tmp)
        .arg("build")
        .arg(&s)
        .args(["--name", "app", "--store"])
        .arg(&store))
    .ok();
    let line = line_of(&r);
    let shown = show(&tmp, &store, "app:1");
    assert_eq!(shown["manifest"], line.digest);
    assert_eq!(
        shown["base_digest"], base_digest,
        "the base is the pushed image"
    );
    verify_ok(&tmp, &store);

    let offline = tmp.join("offline");
    let r = run(cli(&tmp)
        .arg("build")
        .arg(&s)
        .args(["--name", "app", "--offline", "--store"])
        .arg(&offline))
    .code(2);
    assert!(
        r.stderr.contains("anyscale/ray:2.9.0-py310"),
        "names the base: {r}"
    );
    assert!(r.stderr.contains("--offline"), "says --offline: {r}");
    assert!(revisions_or_empty(&tmp, &offline).is_empty());
}

fn revisions_or_empty(tmp: &TempDir, store: &Path) -> Vec<String> {
    if !store.join("index.json").exists() {
        return Vec::new();
    }
    es(tmp, store, &["list"])
        .stdout
        .lines()
        .skip(1)
        .map(str::to_string)
        .collect()
}

// 11. Piped stderr has no progress bars.
#[test]
fn piped_pull_prints_no_progress_bars() {
    let Some(p) = Pushed::new("reg-bars") else {
        return;
    };
    let reference = format!("{}/t/app:1", p.reg.addr);
    let r = es(&p.tmp, &p.tmp.join("fresh"), &["pull", &reference]).ok();
    for bad in ['\r', '\u{1b}', '█', '▏', '━', '─', '#', '='] {
        assert!(
            !r.stderr.contains(bad),
            "{bad:?} in piped stderr: {:?}",
            r.stderr
        );
    }
}

// 8. A failed pull keeps nothing: not even the blobs that did arrive whole.
#[test]
fn a_failed_pull_leaves_no_blobs_behind() {
    if !ready(&[proxy_skip_reason()]) {
        return;
    }
    let Some(p) = Pushed::new("reg-orphan-blobs") else {
        return;
    };
    let tmp = &p.tmp;
    let proxy = Proxy::start(&p.reg);
    let layer = p.layers()[0].clone();
    let store = tmp.join("victim");
    build_rev(
        tmp,
        &store,
        &spec(tmp.path(), "v.yaml", "victim"),
        "victim",
        &p.base,
        &[],
    );
    let before = snapshot(tmp, &store);
    proxy.set_faults(json!([{"path": format!("/blobs/{layer}"), "truncate": 1000, "times": 100}]));
    let r = es(tmp, &store, &["pull", &format!("{}/t/app:1", proxy.addr)]).no_panic();
    assert_ne!(r.code, Some(0), "{r}");
    let after = snapshot(tmp, &store);
    let extra: Vec<&String> = after.blobs.difference(&before.blobs).collect();
    assert!(
        extra.is_empty(),
        "blobs left behind by the failed pull: {extra:?}\n{r}"
    );
    assert_eq!(after, before);
}

// 12. The standard proxy variables: HTTP_PROXY carries a plain-HTTP registry's requests, and
// NO_PROXY sends a host around it.
#[test]
fn http_proxy_is_used_and_no_proxy_bypasses_it() {
    let Some(p) = Pushed::new("reg-proxy-vars") else {
        return;
    };
    if !ready(&[proxy_skip_reason()]) {
        return;
    }
    let tmp = &p.tmp;
    let proxy = Proxy::start(&p.reg);
    let reference = format!("{}/t/app:1", p.reg.addr);
    let through = |store: &str, no_proxy: Option<&str>| {
        proxy.clear_log();
        let mut c = cli(tmp);
        c.env("HTTP_PROXY", format!("http://{}", proxy.addr));
        if let Some(n) = no_proxy {
            c.env("NO_PROXY", n);
        }
        let r = run(c.args(["pull", &reference, "--store"]).arg(tmp.join(store))).ok();
        assert_eq!(digest_for(&r, &reference), p.digest);
        proxy
            .log()
            .iter()
            .filter(|e| e["method"] == "CONNECT" && e["path"] == p.reg.addr.as_str())
            .count()
    };
    // ureq tunnels through the proxy with CONNECT, for plain HTTP too.
    let proxied = through("via-proxy", None);
    assert!(
        proxied >= 1,
        "the pull went through HTTP_PROXY: {proxied} tunnel(s)"
    );
    let host = p.reg.addr.split(':').next().unwrap().to_string();
    assert_eq!(
        through("direct", Some(&host)),
        0,
        "NO_PROXY={host} goes direct"
    );
    assert_eq!(
        through("direct-port", Some(&p.reg.addr)),
        0,
        "NO_PROXY=HOST:PORT goes direct"
    );
    // A proxy variable that is not a URL is an error, not a silent direct connection.
    let r = run(cli(tmp)
        .env("HTTP_PROXY", "::not a url::")
        .args(["pull", &reference, "--store"])
        .arg(tmp.join("bad")))
    .code(2);
    assert!(r.stderr.contains("HTTP_PROXY"), "{r}");
}

// 13. Bounded memory: a manifest without a length that never ends, and big blobs, are read in
// bounded memory (GNU time's maximum resident set size).
#[test]
fn pulls_run_in_bounded_memory() {
    let Some(p) = Pushed::new("reg-memory") else {
        return;
    };
    if !ready(&[proxy_skip_reason()]) || !Path::new("/usr/bin/time").exists() {
        if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
            panic!("/usr/bin/time is needed");
        }
        return;
    }
    let tmp = &p.tmp;
    let proxy = Proxy::start(&p.reg);
    proxy.set_faults(json!([{"path": "/manifests/", "huge_chunked": 512u64 << 20}]));
    let home = tmp.join("home");
    fs::create_dir_all(&home).unwrap();
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss_kib=%M"])
        .arg(env!("CARGO_BIN_EXE_envc"))
        .args(["pull", &format!("{}/t/app:1", proxy.addr), "--store"])
        .arg(tmp.join("mem"))
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.to_lowercase().contains("too large"), "{stderr}");
    let kib: u64 = stderr
        .lines()
        .find_map(|l| l.strip_prefix("maxrss_kib="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no maxrss in {stderr}"));
    assert!(kib < 64 * 1024, "a 512 MiB endless manifest took {kib} KiB");
}

// 14. On a terminal, progress: a bar per blob and the total (`script` gives envc a pty).
#[test]
fn a_terminal_gets_progress_bars() {
    let Some(p) = Pushed::new("reg-tty") else {
        return;
    };
    if !ready(&[proxy_skip_reason()]) || !Path::new("/usr/bin/script").exists() {
        if std::env::var_os("ENVC_ENGINE_REQUIRED").is_some() {
            panic!("/usr/bin/script (util-linux) is needed");
        }
        return;
    }
    let tmp = &p.tmp;
    let proxy = Proxy::start(&p.reg);
    // A slow blob, so the bars are drawn before the pull ends.
    let layer = p.layers()[0].clone();
    proxy.set_faults(json!([{"path": format!("/blobs/{layer}"), "delay": 1.5, "drop_after": 1000000000u64, "times": 1}]));
    let home = tmp.join("home");
    fs::create_dir_all(&home).unwrap();
    let command = format!(
        "{} pull {}/t/app:1 --store {}",
        env!("CARGO_BIN_EXE_envc"),
        proxy.addr,
        tmp.join("tty").display()
    );
    let out = Command::new("/usr/bin/script")
        .args(["-qec", &command, "/dev/null"])
        .env("HOME", &home)
        .env("DOCKER_CONFIG", home.join(".docker"))
        .env("TERM", "xterm")
        .env_remove("HTTP_PROXY")
        .env_remove("http_proxy")
        .env_remove("ALL_PROXY")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("total"), "the overall bar: {text:?}");
    assert!(
        text.contains(&layer[7..19]),
        "a bar naming the blob: {text:?}"
    );
}
