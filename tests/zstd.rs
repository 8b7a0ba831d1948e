//! zstd layers (`--compression zstd`) through the CLI: golden digests, and the same bytes for
//! any number of threads.
//!
//! The base is written here byte for byte (one uncompressed layer from envc's own layer writer,
//! whose bytes `oci::layer::tests::golden_digests` pins, and a hand-written config), so that the
//! pinned digests depend on nothing of the machine (the busybox base of the other tests depends
//! on Debian's busybox). A build's only new layer is its small metadata layer; a bake adds a
//! code layer of a 24 MiB working dir (several 8 MiB zstd jobs, text and random bytes) written
//! with every core, which `taskset -c 0` brings down to one thread: both must give the same
//! manifest digest. When a digest changes on purpose (libzstd, the plan format, the config),
//! update it and say why in the commit: every stored zstd image's digest changes with it.

mod common;

use common::*;
use envc::oci::layer::{self, Compression, Entry, EntryKind, FileSource};
use envc::oci::{canonical_value, Descriptor, ANNOTATION_REF_NAME, MEDIA_TYPE_CONFIG};
use serde_json::json;
use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `bytes` as a blob of `dir` and returns its descriptor.
fn blob(dir: &Path, media_type: &str, bytes: &[u8]) -> Descriptor {
    let digest = envc::types::digest::Digest::of(bytes);
    let blobs = dir.join("blobs/sha256");
    fs::create_dir_all(&blobs).unwrap();
    fs::write(blobs.join(digest.hex()), bytes).unwrap();
    Descriptor {
        media_type: media_type.into(),
        digest,
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

/// A one-layer base layout (`DIR:1`) with fixed bytes.
fn fixed_base(dir: &Path) -> PathBuf {
    fs::create_dir_all(dir).unwrap();
    let file = |path: &str, bytes: &[u8]| Entry {
        path: path.into(),
        kind: EntryKind::File(FileSource::Bytes(bytes.to_vec())),
        mode: 0o755,
        uid: 0,
        gid: 0,
        xattrs: Default::default(),
    };
    let mut tar = Vec::new();
    let options = layer::Options {
        compression: Compression::None,
        ..layer::Options::default()
    };
    let w = layer::write(
        vec![
            file("bin/sh", b"#!/bin/true\n"),
            file("etc/os-release", b"ID=fixed\n"),
        ],
        &options,
        &mut tar,
    )
    .unwrap();
    let layer = blob(dir, w.media_type, &tar);
    let config = json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [w.diff_id.to_string()]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/zstd.rs"}],
    });
    let config = blob(dir, MEDIA_TYPE_CONFIG, &canonical_value(&config));
    let manifest = json!({
        "schemaVersion": 2, "mediaType": envc::oci::MEDIA_TYPE_MANIFEST,
        "config": config.to_json(), "layers": [layer.to_json()],
    });
    let mut entry = blob(
        dir,
        envc::oci::MEDIA_TYPE_MANIFEST,
        &canonical_value(&manifest),
    );
    entry
        .annotations
        .insert(ANNOTATION_REF_NAME.into(), "1".into());
    let index = json!({"schemaVersion": 2, "manifests": [entry.to_json()]});
    fs::write(dir.join("index.json"), canonical_value(&index)).unwrap();
    fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    dir.to_path_buf()
}

/// A 24 MiB working dir: source-like text and incompressible bytes, deterministic.
fn project(dir: &Path) -> PathBuf {
    let app = dir.join("app");
    fs::create_dir_all(app.join("pkg")).unwrap();
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    for i in 0..12 {
        let mut bytes = Vec::with_capacity(2 << 20);
        while bytes.len() < 2 << 20 {
            if i % 2 == 0 {
                bytes.extend_from_slice(
                    format!("def f{}(x):\n    return x * {i}\n", bytes.len() % 4099).as_bytes(),
                );
            } else {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                bytes.extend_from_slice(&x.to_le_bytes());
            }
        }
        fs::write(app.join(format!("pkg/m{i:02}.bin")), bytes).unwrap();
    }
    fs::write(app.join("main.py"), "print('hi')\n").unwrap();
    fs::write(dir.join("runtime_env.yaml"), "working_dir: ./app\n").unwrap();
    dir.to_path_buf()
}

/// Builds `cluster:1` (zstd) on the fixed base and bakes the project onto it, in a fresh
/// store under `dir`, with `envc` run through `wrap` (e.g. `taskset -c 0`). Returns the
/// build's and the bake's manifest digests.
fn build_and_bake(dir: &Path, base: &Path, proj: &Path, wrap: &[&str]) -> (String, String) {
    let store = dir.join("store");
    fs::create_dir_all(dir).unwrap();
    let spec = write_spec(
        dir,
        "cluster.yaml",
        "docker_image: localhost/fixed:1\nray_version: \"2.9.0\"\nenv_vars:\n  A: b\n",
    );
    let cmd = || {
        let mut c = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(env!("CARGO_BIN_EXE_envc"));
                c
            }
            None => Command::new(env!("CARGO_BIN_EXE_envc")),
        };
        c.env_remove("ENVC_STORE")
            .env_remove("SOURCE_DATE_EPOCH")
            .env("NO_COLOR", "1")
            .stdin(std::process::Stdio::null());
        c
    };
    let mut base_arg = base.as_os_str().to_owned();
    base_arg.push(":1");
    let built = run(cmd()
        .arg("build")
        .arg(&spec)
        .args(["--name", "cluster", "--compression", "zstd", "--base"])
        .arg(&base_arg)
        .arg("--store")
        .arg(&store))
    .ok();
    let baked = run(cmd()
        .current_dir(proj)
        .args([
            "bake",
            "runtime_env.yaml",
            "--name",
            "job",
            "--from",
            "cluster:1",
        ])
        .args(["--compression", "zstd", "--store"])
        .arg(&store))
    .ok();
    run(cmd().args(["verify", "--store"]).arg(&store)).ok();
    (line_of(&built).digest, line_of(&baked).digest)
}

#[test]
fn zstd_golden_digests_do_not_depend_on_threads() {
    let tmp = TempDir::new("zstd");
    let base = fixed_base(&tmp.join("base"));
    let proj = project(&tmp.join("project"));
    let all = build_and_bake(&tmp.join("all"), &base, &proj, &[]);
    if !have("taskset") {
        panic!("taskset (util-linux) is needed to run envc on one core");
    }
    let one = build_and_bake(&tmp.join("one"), &base, &proj, &["taskset", "-c", "0"]);
    assert_eq!(all, one, "one thread and every core wrote different images");

    // The layers are zstd (the base's stays as imported), and the bake's code layer is big.
    let store = tmp.join("all/store");
    let manifest = read_json_blob(&store, &all.1);
    let layers = manifest["layers"].as_array().unwrap();
    let types: Vec<&str> = layers
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap())
        .collect();
    assert_eq!(types[0], "application/vnd.oci.image.layer.v1.tar");
    assert!(
        types[1..]
            .iter()
            .all(|t| *t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    assert!(layers.iter().any(|l| l["size"].as_u64().unwrap() > 8 << 20));

    assert_eq!(
        all,
        (
            "sha256:8a5515fd52394fda8456a6967c9765bb13f6c4e4554d9bdc2f2ec900b64c4964".to_string(),
            "sha256:adcea62d5fa0b5ad32680d2e612110e9e3940b87e4e073b1163fd80a3e74910d".to_string()
        ),
        "golden digests of the zstd build and bake"
    );
}
