//! `envc check-image` end to end: small OCI layouts written by hand here (no engine, no
//! network) that meet every Anyscale BYOD requirement, then ones that each miss one (a later
//! layer whiteouting `/etc/sudoers.d/ray` among them), the bad inputs (a symlinked
//! `/etc/passwd`, a path escape, a broken or missing config, a missing image: exit 2, nothing
//! written), the same image as an oci-archive, and a revision `envc build` stored on it.

mod common;

use common::*;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::fs;
use std::path::Path;

/// One tar entry of a test layer.
enum E<'a> {
    File(&'a str, String),
    Link(&'a str, &'a str),
    Dir(&'a str),
}

fn tar_of(entries: &[E<'_>], gz: bool) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        let (path, data, kind) = match e {
            E::File(p, d) => (*p, d.as_bytes(), tar::EntryType::Regular),
            E::Link(p, _) => (*p, &b""[..], tar::EntryType::Symlink),
            E::Dir(p) => (*p, &b""[..], tar::EntryType::Directory),
        };
        // Raw names: `set_path` refuses `..`, which a hostile layer has.
        h.as_mut_bytes()[..path.len()].copy_from_slice(path.as_bytes());
        h.set_entry_type(kind);
        if let E::Link(_, target) = e {
            h.set_link_name(target).unwrap();
        }
        h.set_size(data.len() as u64);
        h.set_mode(if kind.is_dir() { 0o755 } else { 0o644 });
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }
    let tar = b.into_inner().unwrap();
    if !gz {
        return tar;
    }
    use std::io::Write;
    let mut g = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    g.write_all(&tar).unwrap();
    g.finish().unwrap()
}

fn put(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    let hex = format!("{:x}", Sha256::digest(bytes));
    fs::write(blobs.join(&hex), bytes).unwrap();
    (format!("sha256:{hex}"), bytes.len())
}

/// Writes an OCI layout at `dir` whose one image, `ref.name` `img`, has `layers` (gzip) and
/// the config `config` (its `rootfs` filled in); `config_bytes` overrides the config blob.
fn layout(dir: &Path, layers: &[Vec<u8>], config: &Value, config_bytes: Option<&[u8]>) {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let (d, n) = put(dir, l);
        descs.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": n}));
        let mut tar = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&l[..]), &mut tar).unwrap();
        diff_ids.push(format!("sha256:{:x}", Sha256::digest(&tar)));
    }
    let mut config = config.clone();
    config["rootfs"] = json!({"type": "layers", "diff_ids": diff_ids});
    let bytes = config_bytes.map_or_else(|| serde_json::to_vec(&config).unwrap(), <[u8]>::to_vec);
    let (cd, cn) = put(dir, &bytes);
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": cd, "size": cn},
        "layers": descs,
    });
    let (md, mn) = put(dir, &serde_json::to_vec(&manifest).unwrap());
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": md, "size": mn,
        "annotations": {"org.opencontainers.image.ref.name": "img"}}]});
    fs::write(dir.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
}

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nray:x:1000:100::/home/ray:/bin/bash\n";
const GROUP: &str = "root:x:0:\nsudo:x:27:\nusers:x:100:\n";
const SUDOERS: &str = "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n%sudo ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n";
const SYSTEM: &[&str] = &[
    "sudo",
    "python3",
    "bash",
    "openssh-server",
    "openssh-client",
    "rsync",
    "zip",
    "unzip",
    "git",
    "gdb",
    "curl",
];
const SITE: &str = "home/ray/anaconda3/lib/python3.10/site-packages";

fn dpkg_status(packages: &[&str]) -> String {
    packages
        .iter()
        .map(|p| format!("Package: {p}\nStatus: install ok installed\nVersion: 1.0\n\n"))
        .collect()
}

fn metadata(name: &str, version: &str) -> (String, String) {
    (
        format!(
            "{SITE}/{}-{version}.dist-info/METADATA",
            name.replace('-', "_")
        ),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n\nA long description.\n"),
    )
}

/// What a test image is made of; each test changes one thing of the good one.
struct Img {
    os_release: String,
    passwd: String,
    group: String,
    sudoers_d: String,
    packages: Vec<&'static str>,
    python: Vec<(&'static str, &'static str)>,
    config: Value,
    extra_layer: Option<Vec<(String, String)>>,
}

fn good() -> Img {
    Img {
        os_release: "NAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nID=ubuntu\n".into(),
        passwd: PASSWD.into(),
        group: GROUP.into(),
        sudoers_d: "ray ALL=(ALL) NOPASSWD:ALL\n".into(),
        packages: SYSTEM.to_vec(),
        python: vec![
            ("ray", "2.9.0"),
            ("anyscale", "0.26.83"),
            ("packaging", "24.1"),
            ("boto3", "1.35.0"),
            ("google", "3.0.0"),
            ("google-cloud-storage", "2.18.0"),
            ("jupyterlab", "4.2.5"),
        ],
        config: json!({
            "architecture": "amd64",
            "os": "linux",
            "config": {
                "User": "ray",
                "WorkingDir": "/home/ray",
                "Env": ["PATH=/home/ray/anaconda3/bin:/usr/bin:/bin", "HOME=/home/ray"],
                "ExposedPorts": {"8888/tcp": {}},
            },
        }),
        extra_layer: None,
    }
}

impl Img {
    fn write(&self, dir: &Path) {
        let status = dpkg_status(&self.packages);
        let l1 = tar_of(
            &[
                E::Dir("etc/"),
                E::Link("etc/os-release", "../usr/lib/os-release"),
                E::File("usr/lib/os-release", self.os_release.clone()),
                E::File("etc/passwd", self.passwd.clone()),
                E::File("etc/group", self.group.clone()),
                E::File("etc/sudoers", SUDOERS.into()),
                E::File(
                    "etc/sudoers.d/README",
                    "# sudo reads this file: only comments\n".into(),
                ),
                E::File("var/lib/dpkg/status", status),
                E::Dir("mnt/"),
            ],
            true,
        );
        let meta: Vec<(String, String)> = self.python.iter().map(|(n, v)| metadata(n, v)).collect();
        let mut l2: Vec<E<'_>> = vec![E::File("etc/sudoers.d/ray", self.sudoers_d.clone())];
        l2.extend(meta.iter().map(|(p, t)| E::File(p, t.clone())));
        let mut layers = vec![l1, tar_of(&l2, true)];
        if let Some(extra) = &self.extra_layer {
            let l3: Vec<E<'_>> = extra.iter().map(|(p, t)| E::File(p, t.clone())).collect();
            layers.push(tar_of(&l3, true));
        }
        layout(dir, &layers, &self.config, None);
    }
}

fn check(dir: &Path, extra: &[&str]) -> Run {
    let arg = format!("oci:{}:img", dir.display());
    let mut args = vec!["check-image", arg.as_str()];
    args.extend_from_slice(extra);
    envc_run(args)
}

/// The codes of a `--format json` run that missed requirements (exit 1).
fn codes_of(img: &Img) -> (Vec<String>, Value) {
    let t = TempDir::new("check-image");
    img.write(t.path());
    let r = check(t.path(), &["--format", "json"]).no();
    let doc = r.json();
    let codes = doc["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["code"].as_str().unwrap().to_string())
        .collect();
    (codes, doc)
}

#[test]
fn an_image_meeting_every_requirement_passes() {
    let t = TempDir::new("check-image-good");
    good().write(t.path());
    let r = check(t.path(), &[]).ok();
    assert!(
        r.stderr
            .contains("meets Anyscale's BYOD image requirements"),
        "{r}"
    );
    let r = check(t.path(), &["--format", "json"]).ok();
    assert_eq!(r.json()["diagnostics"], json!([]));
    // HOME may come from the passwd entry of the image's `User` (an engine sets it so).
    let mut img = good();
    img.config["config"]["Env"] = json!(["PATH=/bin"]);
    img.config["config"]["User"] = json!("1000:100");
    let home = TempDir::new("check-image-home");
    img.write(home.path());
    check(home.path(), &[]).ok();
    // The same layout as an oci-archive.
    let archive = t.join("img.tar");
    let mut b = tar::Builder::new(fs::File::create(&archive).unwrap());
    for f in ["oci-layout", "index.json", "blobs"] {
        let p = t.join(f);
        if p.is_dir() {
            b.append_dir_all(f, &p).unwrap();
        } else {
            b.append_path_with_name(&p, f).unwrap();
        }
    }
    b.finish().unwrap();
    drop(b);
    envc_run(["check-image", &format!("oci-archive:{}", archive.display())]).ok();
    // And as `docker save` writes it: manifest.json, the config, the (gzip) layers.
    let manifest = read_json_blob(
        t.path(),
        index_json(t.path())["manifests"][0]["digest"]
            .as_str()
            .unwrap(),
    );
    let blob = |d: &Value| {
        t.join("blobs/sha256")
            .join(d.as_str().unwrap().trim_start_matches("sha256:"))
    };
    let saved = t.join("saved.tar");
    let mut b = tar::Builder::new(fs::File::create(&saved).unwrap());
    let config = manifest["config"]["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:")
        .to_string();
    b.append_path_with_name(
        blob(&manifest["config"]["digest"]),
        format!("{config}.json"),
    )
    .unwrap();
    let mut layers = Vec::new();
    for (i, l) in manifest["layers"].as_array().unwrap().iter().enumerate() {
        let name = format!("l{i}/layer.tar");
        b.append_path_with_name(blob(&l["digest"]), &name).unwrap();
        layers.push(name);
    }
    let docker =
        json!([{"Config": format!("{config}.json"), "RepoTags": ["byod:1"], "Layers": layers}]);
    let bytes = serde_json::to_vec(&docker).unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(bytes.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "manifest.json", &bytes[..]).unwrap();
    b.finish().unwrap();
    drop(b);
    envc_run([
        "check-image",
        &format!("docker-archive:{}:byod:1", saved.display()),
    ])
    .ok();
}

/// A code, the change to the good image that should give it, and what its file and message name.
type Case = (
    &'static str,
    Box<dyn Fn(&mut Img)>,
    &'static str,
    &'static str,
);

#[test]
fn each_missed_requirement_is_its_own_located_diagnostic() {
    let cases: Vec<Case> = vec![
        (
            "E070",
            Box::new(|i| i.os_release = "ID=ubuntu\nVERSION_ID=\"20.04\"\n".into()),
            "/usr/lib/os-release [layer 1 of 2",
            "20.04",
        ),
        (
            "E071",
            Box::new(|i| i.passwd = PASSWD.replace("1000:100", "1001:100")),
            "/etc/passwd [layer 1 of 2",
            "uid 1001",
        ),
        (
            "E072",
            Box::new(|i| i.group = "root:x:0:\n".into()),
            "/etc/group [layer 1",
            "gid 100",
        ),
        (
            "E073",
            Box::new(|i| i.sudoers_d = "ray ALL=(ALL) ALL\n".into()),
            "/etc/sudoers.d/ray [layer 2 of 2",
            "NOPASSWD",
        ),
        (
            "E074",
            Box::new(|i| i.config["config"]["WorkingDir"] = json!("/root")),
            "image config sha256:",
            "/root",
        ),
        (
            "E075",
            Box::new(|i| {
                i.config["config"]["Env"] = json!(["PATH=/bin"]);
                i.config["config"]["User"] = json!("root");
            }),
            "image config sha256:",
            "HOME",
        ),
        (
            "E076",
            Box::new(|i| i.config["architecture"] = json!("arm64")),
            "image config",
            "linux/arm64",
        ),
        (
            "E077",
            Box::new(|i| i.packages.retain(|p| *p != "gdb")),
            "/var/lib/dpkg/status [layer 1",
            "`gdb`",
        ),
        (
            "E078",
            Box::new(|i| i.python.retain(|(n, _)| *n != "jupyterlab")),
            "METADATA",
            "`jupyterlab`",
        ),
        (
            "E079",
            Box::new(|i| i.python[0] = ("ray", "2.6.3")),
            "ray-2.6.3.dist-info/METADATA [layer 2",
            "2.6.3",
        ),
        (
            "E080",
            Box::new(|i| i.extra_layer = Some(vec![("tmp/ray/session".into(), "x".into())])),
            "/tmp/ray/session [layer 3 of 3",
            "/tmp/ray",
        ),
        (
            "E081",
            Box::new(|i| i.config["config"]["ExposedPorts"] = json!({"8265/tcp": {}})),
            "image config",
            "8265/tcp",
        ),
    ];
    for (code, change, file, text) in cases {
        let mut img = good();
        change(&mut img);
        let (codes, doc) = codes_of(&img);
        assert_eq!(codes, [code], "{doc:#}");
        let d = &doc["diagnostics"][0];
        assert!(d["file"].as_str().unwrap().contains(file), "{code}: {d:#}");
        assert!(
            d["message"].as_str().unwrap().contains(text),
            "{code}: {d:#}"
        );
        assert!(d["help"].is_string(), "{code}: {d:#}");
    }
}

#[test]
fn a_multi_platform_image_without_linux_amd64_is_a_finding() {
    let t = TempDir::new("check-image-index");
    let mut img = good();
    img.config["architecture"] = json!("arm64");
    img.write(t.path());
    // Wrap the one manifest into an image index that names it linux/arm64.
    let mut entry = index_json(t.path())["manifests"][0].clone();
    entry.as_object_mut().unwrap().remove("annotations");
    entry["platform"] = json!({"os": "linux", "architecture": "arm64"});
    let nested = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [entry]});
    let (d, n) = put(t.path(), &serde_json::to_vec(&nested).unwrap());
    let index = json!({"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.index.v1+json", "digest": d, "size": n,
        "annotations": {"org.opencontainers.image.ref.name": "img"}}]});
    fs::write(t.join("index.json"), serde_json::to_vec(&index).unwrap()).unwrap();
    let r = check(t.path(), &["--format", "json"]).no();
    let doc = r.json();
    assert_eq!(doc["diagnostics"].as_array().unwrap().len(), 1, "{doc:#}");
    assert_eq!(doc["diagnostics"][0]["code"], "E076");
}

#[test]
fn a_later_layer_whiteouting_the_sudoers_file_counts() {
    let mut img = good();
    img.extra_layer = Some(vec![("etc/sudoers.d/.wh.ray".into(), String::new())]);
    let (codes, doc) = codes_of(&img);
    assert_eq!(codes, ["E073"], "{doc:#}");
    let d = &doc["diagnostics"][0];
    assert!(
        d["file"]
            .as_str()
            .unwrap()
            .starts_with("/etc/sudoers.d/ray [deleted by layer 3 of 3"),
        "{d:#}"
    );
    // An opaque directory hides it the same way; a wheel deleted with its dist-info too.
    let mut img = good();
    img.extra_layer = Some(vec![
        ("etc/sudoers.d/.wh..wh..opq".into(), String::new()),
        (format!("{SITE}/.wh.boto3-1.35.0.dist-info"), String::new()),
    ]);
    let (codes, _) = codes_of(&img);
    assert_eq!(codes, ["E073", "E078"]);
    // Human output names the file, the layer and the code.
    let t = TempDir::new("check-image-human");
    img.write(t.path());
    let r = check(t.path(), &[]).no();
    assert!(r.stderr.contains("error[E073]"), "{r}");
    assert!(r.stderr.contains("`boto3` is not installed"), "{r}");
    assert!(
        r.stderr
            .contains("/etc/sudoers.d/ray [deleted by layer 3 of 3"),
        "{r}"
    );
    assert!(
        r.stderr
            .contains("boto3-1.35.0.dist-info/METADATA [deleted by layer 3 of 3"),
        "{r}"
    );
}

#[test]
fn bad_input_is_a_clear_error_and_writes_nothing() {
    // A symlinked /etc/passwd is said, not followed.
    let t = TempDir::new("check-image-bad");
    let dir = t.join("symlink");
    fs::create_dir_all(&dir).unwrap();
    let l = tar_of(&[E::Link("etc/passwd", "/run/passwd")], true);
    layout(&dir, &[l], &good().config, None);
    let r = check(&dir, &[]).code(2);
    assert!(
        r.stderr
            .contains("`/etc/passwd` is a symlink to `/run/passwd`"),
        "{r}"
    );
    assert!(r.stderr.contains("does not follow it"), "{r}");
    // A path escape.
    let dir = t.join("escape");
    fs::create_dir_all(&dir).unwrap();
    let l = tar_of(&[E::File("../../etc/passwd", PASSWD.into())], true);
    layout(&dir, &[l], &good().config, None);
    let r = check(&dir, &[]).code(2);
    assert!(r.stderr.contains("unsafe path `../../etc/passwd`"), "{r}");
    // A config that is not JSON, and one that is missing.
    let dir = t.join("broken-config");
    fs::create_dir_all(&dir).unwrap();
    layout(&dir, &[tar_of(&[], true)], &json!({}), Some(b"{not json"));
    let r = check(&dir, &[]).code(2);
    assert!(
        r.stderr.contains("cannot check") && r.stderr.contains("config"),
        "{r}"
    );
    let dir = t.join("missing-config");
    fs::create_dir_all(&dir).unwrap();
    layout(&dir, &[tar_of(&[], true)], &json!({}), Some(b"{}"));
    fs::remove_file(
        dir.join("blobs/sha256")
            .join(format!("{:x}", Sha256::digest(b"{}"))),
    )
    .unwrap();
    let r = check(&dir, &[]).code(2);
    assert!(r.stderr.contains("missing"), "{r}");
    // A missing image: a layout, a reference, a store, a revision.
    let r = envc_run([
        "check-image",
        &format!("oci:{}", t.join("nowhere").display()),
    ])
    .code(2);
    assert!(r.stderr.contains("nowhere"), "{r}");
    let r = check(&t.join("symlink"), &[]);
    assert_eq!(r.code, Some(2));
    let arg = format!("oci:{}:other", t.join("symlink").display());
    let r = envc_run(["check-image", &arg]).code(2);
    assert!(r.stderr.contains("other"), "{r}");
    let store = t.join("no-store");
    let r = envc_run(["check-image", "app", "--store", store.to_str().unwrap()]).code(2);
    assert!(!store.exists(), "check-image created a store: {r}");
    let before = fs::read_dir(t.path()).unwrap().count();
    envc_run([
        "check-image",
        "app:1",
        "--store",
        t.join("symlink").to_str().unwrap(),
    ])
    .code(2);
    assert_eq!(fs::read_dir(t.path()).unwrap().count(), before);
}

#[test]
fn a_stored_revision_built_on_a_good_base_passes() {
    let t = TempDir::new("check-image-store");
    let base = t.join("base");
    fs::create_dir_all(&base).unwrap();
    good().write(&base);
    let store = t.join("store");
    let spec = fixture("env-only.yaml");
    build(
        &store,
        &spec,
        "app",
        &[
            std::ffi::OsStr::new("--base"),
            std::ffi::OsStr::new(&format!("oci:{}:img", base.display())),
        ],
    )
    .ok();
    let r = envc_run(["check-image", "app", "--store", store.to_str().unwrap()]).ok();
    assert!(r.stderr.contains("`app`"), "{r}");
    envc_run(["check-image", "app:1", "--store", store.to_str().unwrap()]).ok();
    envc_run(["check-image", "app:7", "--store", store.to_str().unwrap()]).code(2);
}
