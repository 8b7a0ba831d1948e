//! The store's tests (moved from `oci/store.rs`): layout creation and opening, blobs, the
//! diff_id cache, commits and their numbering under concurrency, base import, verify, gc and
//! export, all through a [`Store`].

use super::*;
use crate::oci::archive::{ExportFormat, SourceLocation as BaseSource};
use crate::oci::layout::layout_file_bytes;
use crate::oci::testutil::{gzip, tar_of};
use crate::oci::verify::GcReport;
use crate::oci::{
    canonical_value as canonical_json, Error as OciError, Platform, MEDIA_TYPE_CONFIG,
    MEDIA_TYPE_DOCKER_CONFIG, MEDIA_TYPE_DOCKER_LAYER_GZIP, MEDIA_TYPE_DOCKER_MANIFEST,
    MEDIA_TYPE_INDEX, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP, MEDIA_TYPE_MANIFEST,
};
use crate::types::digest::Digest;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::Path;
use std::sync::Arc;

fn name(s: &str) -> EnvName {
    EnvName::parse(s).unwrap()
}

fn id(s: &str) -> Identifier {
    Identifier::parse(s).unwrap()
}

fn desc(media_type: &str, bytes: &[u8]) -> Descriptor {
    Descriptor {
        media_type: media_type.into(),
        digest: Digest::of(bytes),
        size: bytes.len() as u64,
        annotations: BTreeMap::new(),
        platform: None,
    }
}

fn config_for(diff_ids: &[Digest]) -> Vec<u8> {
    canonical_json(&json!({
        "architecture": "amd64", "os": "linux",
        "config": {"Env": ["PATH=/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }))
}

/// A one-layer image written into `store`; `tag` makes it unique.
fn image_in(store: &Store, tag: &str) -> Descriptor {
    let tar = tar_of(&[("etc/tag", tag.as_bytes())]);
    let gz = gzip(&tar);
    store.write_blob(&gz).unwrap();
    let config = config_for(&[Digest::of(&tar)]);
    store.write_blob(&config).unwrap();
    let manifest = canonical_json(&json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
        "config": desc(MEDIA_TYPE_CONFIG, &config),
        "layers": [desc(MEDIA_TYPE_LAYER_GZIP, &gz)],
    }));
    store.write_blob(&manifest).unwrap();
    desc(MEDIA_TYPE_MANIFEST, &manifest)
}

fn new_store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open_or_create(&t.path().join("store")).unwrap();
    (t, s)
}

fn write_blob_file(dir: &Path, bytes: &[u8]) -> Digest {
    let d = Digest::of(bytes);
    let p = dir.join("blobs/sha256");
    fs::create_dir_all(&p).unwrap();
    fs::write(p.join(d.hex()), bytes).unwrap();
    d
}

/// A base layout on disk. `layers` are (media type, blob bytes, diff_id); `tweak` edits
/// the manifest JSON before it is written. Returns the manifest digest.
fn write_layout(
    dir: &Path,
    layers: &[(&str, Vec<u8>, Digest)],
    config_media_type: &str,
    tweak: impl Fn(&mut Value),
    reference: Option<&str>,
) -> Digest {
    fs::create_dir_all(dir).unwrap();
    fs::write(dir.join("oci-layout"), layout_file_bytes()).unwrap();
    let diff_ids: Vec<Digest> = layers.iter().map(|l| l.2).collect();
    let config = config_for(&diff_ids);
    write_blob_file(dir, &config);
    for (_, bytes, _) in layers {
        write_blob_file(dir, bytes);
    }
    let mut manifest = json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
        "config": desc(config_media_type, &config),
        "layers": layers.iter().map(|(m, b, _)| desc(m, b)).collect::<Vec<_>>(),
    });
    tweak(&mut manifest);
    let media_type = manifest["mediaType"].as_str().unwrap().to_string();
    let manifest = canonical_json(&manifest);
    let d = write_blob_file(dir, &manifest);
    let mut entry = desc(&media_type, &manifest);
    if let Some(r) = reference {
        entry
            .annotations
            .insert(ANNOTATION_REF_NAME.into(), r.into());
    }
    let index = json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [entry]});
    fs::write(dir.join("index.json"), canonical_json(&index)).unwrap();
    d
}

fn good_layer() -> (Vec<u8>, Digest) {
    let tar = tar_of(&[
        ("bin/", b""),
        ("bin/sh", b"#!busybox"),
        ("etc/os-release", b"ID=x"),
    ]);
    (gzip(&tar), Digest::of(&tar))
}

fn good_layout(dir: &Path) -> Digest {
    let (gz, diff) = good_layer();
    write_layout(
        dir,
        &[(MEDIA_TYPE_LAYER_GZIP, gz, diff)],
        MEDIA_TYPE_CONFIG,
        |_| {},
        Some("1"),
    )
}

fn layout_source(dir: &Path) -> BaseSource {
    BaseSource::Layout {
        dir: dir.to_path_buf(),
        reference: None,
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            out.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                stack.push(p);
            }
        }
    }
    out.sort();
    out
}

// ----- create / open -----

#[test]
fn create_and_open() {
    let t = tempfile::tempdir().unwrap();
    let root = t.path().join("a/b/store");
    let err = Store::open(&root).unwrap_err();
    assert!(
        matches!(err, Error::Oci(OciError::NotALayout { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("does not exist"), "{err}");

    let s = Store::open_or_create(&root).unwrap();
    assert_eq!(s.root(), root);
    assert_eq!(
        fs::read_to_string(root.join("oci-layout")).unwrap(),
        r#"{"imageLayoutVersion":"1.0.0"}"#
    );
    assert_eq!(
        fs::read_to_string(root.join("index.json")).unwrap(),
        r#"{"manifests":[],"mediaType":"application/vnd.oci.image.index.v1+json","schemaVersion":2}"#
    );
    assert!(root.join("blobs/sha256").is_dir());
    // No temp directory left next to it.
    assert_eq!(fs::read_dir(root.parent().unwrap()).unwrap().count(), 1);
    Store::open(&root).unwrap();
    Store::open_or_create(&root).unwrap();

    // An empty directory becomes a store.
    let empty = t.path().join("empty");
    fs::create_dir(&empty).unwrap();
    assert!(matches!(
        Store::open(&empty),
        Err(Error::Oci(OciError::NotALayout { .. }))
    ));
    Store::open_or_create(&empty).unwrap();
    Store::open(&empty).unwrap();

    // A non-empty directory that is not a layout is refused and left alone.
    let full = t.path().join("full");
    fs::create_dir(&full).unwrap();
    fs::write(full.join("notes.txt"), "x").unwrap();
    let err = Store::open_or_create(&full).unwrap_err();
    assert!(err.to_string().contains("not empty"), "{err}");
    assert_eq!(listing(&full), ["notes.txt"]);

    // A file is not a layout.
    let err = Store::open(&full.join("notes.txt")).unwrap_err();
    assert!(err.to_string().contains("not a directory"), "{err}");
}

#[test]
fn open_refuses_broken_layouts_and_changes_nothing() {
    let (t, s) = new_store();
    let root = s.root().to_path_buf();
    let before = listing(&root);
    Store::open(&root).unwrap().revisions(None).unwrap();
    assert_eq!(listing(&root), before, "open and a query modify nothing");

    fs::write(root.join("oci-layout"), r#"{"imageLayoutVersion":"2.0.0"}"#).unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(
        err.to_string().contains("imageLayoutVersion 2.0.0"),
        "{err}"
    );
    fs::write(root.join("oci-layout"), layout_file_bytes()).unwrap();
    fs::write(root.join("index.json"), "{not json").unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(
        matches!(err, Error::Oci(OciError::NotALayout { .. })),
        "{err}"
    );
    assert!(matches!(
        Store::open_or_create(&root),
        Err(Error::Oci(OciError::NotALayout { .. }))
    ));
    fs::remove_file(root.join("index.json")).unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(err.to_string().contains("no `index.json`"), "{err}");
    fs::remove_file(root.join("oci-layout")).unwrap();
    let err = Store::open(&root).unwrap_err();
    assert!(err.to_string().contains("no `oci-layout`"), "{err}");
    drop(t);
}

#[test]
fn concurrent_creation_of_one_store() {
    let t = tempfile::tempdir().unwrap();
    let root = Arc::new(t.path().join("store"));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let root = Arc::clone(&root);
            std::thread::spawn(move || Store::open_or_create(&root).map(|_| ()))
        })
        .collect();
    for h in handles {
        h.join().unwrap().unwrap();
    }
    assert_eq!(
        fs::read_dir(t.path()).unwrap().count(),
        1,
        "no temp dirs left"
    );
    Store::open(&root).unwrap();
}

// ----- blobs -----

#[test]
fn blobs_and_json_reads() {
    let (_t, s) = new_store();
    let (d, n) = s.write_blob(b"{}").unwrap();
    assert_eq!((d, n), (Digest::of(b"{}"), 2));
    assert!(s.has_blob(&d));
    assert_eq!(s.read_json_blob(&d).unwrap(), b"{}");
    assert_eq!(s.blob_path(&d), s.root().join("blobs/sha256").join(d.hex()));
    let mut w = s.blob_writer().unwrap();
    w.write_all(b"partial").unwrap();
    assert!(!s.has_blob(&Digest::of(b"partial")));
    drop(w);
    assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);

    fs::write(s.blob_path(&d), b"[]").unwrap();
    let err = s.read_json_blob(&d).unwrap_err();
    assert!(matches!(err, OciError::CorruptBlob { .. }), "{err}");
    assert!(err.to_string().contains("envc verify"), "{err}");
    // Writing the same content again does not paper over the corrupt blob.
    let err = s.write_blob(b"{}").unwrap_err();
    assert!(matches!(err, OciError::CorruptBlob { .. }), "{err}");
    let missing = Digest::of(b"nothing");
    assert!(matches!(
        s.read_json_blob(&missing),
        Err(OciError::MissingBlob { .. })
    ));
}

#[test]
fn diffid_cache() {
    let (_t, s) = new_store();
    let diff = Digest::of(b"tar");
    assert_eq!(s.cached_layer(&diff, "gzip"), None);
    let (d, n) = s.write_blob(b"compressed").unwrap();
    let mut blob = desc(MEDIA_TYPE_LAYER_GZIP, b"compressed");
    blob.annotations.insert("x".into(), "y".into());
    s.cache_layer(&diff, "gzip", &blob).unwrap();
    let got = s.cached_layer(&diff, "gzip").unwrap();
    assert_eq!((got.digest, got.size), (d, n));
    assert!(got.annotations.is_empty());
    assert_eq!(s.cached_layer(&diff, "none"), None);
    assert_eq!(s.cached_layer(&diff, "../x"), None);
    assert!(s.cache_layer(&diff, "../x", &blob).is_err());
    // A cache entry whose blob is gone is no answer.
    fs::remove_file(s.blob_path(&d)).unwrap();
    assert_eq!(s.cached_layer(&diff, "gzip"), None);
}

#[test]
fn a_cached_layer_is_checked_before_reuse() {
    let (_t, s) = new_store();
    let tar = tar_of(&[("a", b"1")]);
    let other = tar_of(&[("b", b"2")]);
    let (layer, diff_id) = (desc(MEDIA_TYPE_LAYER, &tar), Digest::of(&tar));
    s.write_blob(&tar).unwrap();
    s.write_blob(&other).unwrap();
    s.check_cached_layer(&layer, &diff_id).unwrap();
    // A cache entry naming another (sound) blob: its content is not this diff_id.
    let wrong = desc(MEDIA_TYPE_LAYER, &other);
    let err = s.check_cached_layer(&wrong, &diff_id).unwrap_err();
    assert!(matches!(err, OciError::DiffIdMismatch { .. }), "{err}");
    // One flipped byte: the blob is named as corrupt.
    let mut bad = tar.clone();
    bad[0] ^= 1;
    fs::write(s.blob_path(&layer.digest), &bad).unwrap();
    let err = s.check_cached_layer(&layer, &diff_id).unwrap_err();
    assert!(matches!(err, OciError::CorruptBlob { .. }), "{err}");
    let err = s.check_layer(&layer).unwrap_err();
    assert!(matches!(err, OciError::CorruptBlob { .. }), "{err}");
}

// ----- revisions -----

#[test]
fn commit_numbering_unchanged_and_resolve() {
    let (_t, s) = new_store();
    let env = name("my-env");
    let a = image_in(&s, "a");
    let b = image_in(&s, "b");
    let lock = s.lock().unwrap();
    let mut with_spec = a.clone();
    with_spec.annotations.insert(
        annotations::SPEC_DIGEST.into(),
        Digest::of(b"spec").to_string(),
    );
    with_spec
        .annotations
        .insert(annotations::PARENT.into(), "99".into());
    let c1 = s.commit(&lock, &env, with_spec).unwrap();
    assert!(!c1.unchanged);
    assert_eq!(c1.revision.revision, 1);
    assert_eq!(c1.revision.reference(), "my-env:1");
    assert_eq!(
        c1.revision.annotation(ANNOTATION_REF_NAME),
        Some("my-env:1")
    );
    assert_eq!(c1.revision.annotation(annotations::REVISION), Some("1"));
    assert_eq!(c1.revision.annotation(annotations::PARENT), None);
    assert!(c1.revision.annotation(annotations::SPEC_DIGEST).is_some());

    let same = s.commit(&lock, &env, a.clone()).unwrap();
    assert!(same.unchanged);
    assert_eq!(same.revision, c1.revision);
    let c2 = s.commit(&lock, &env, b.clone()).unwrap();
    assert_eq!(c2.revision.revision, 2);
    assert_eq!(c2.revision.annotation(annotations::PARENT), Some("1"));
    // Back to a's content: a new revision (only the latest counts for `unchanged`).
    let c3 = s.commit(&lock, &env, a.clone()).unwrap();
    assert_eq!((c3.revision.revision, c3.unchanged), (3, false));
    let other = s.commit(&lock, &name("other"), b.clone()).unwrap();
    assert_eq!(other.revision.revision, 1);
    drop(lock);

    let all = s.revisions(None).unwrap();
    let refs: Vec<String> = all.iter().map(Revision::reference).collect();
    assert_eq!(refs, ["my-env:1", "my-env:2", "my-env:3", "other:1"]);
    assert_eq!(s.revisions(Some(&name("other"))).unwrap().len(), 1);

    assert_eq!(s.resolve(&id("my-env")).unwrap().revision, 3);
    assert_eq!(
        s.resolve(&id("my-env:2")).unwrap().manifest.digest,
        b.digest
    );
    let err = s.resolve(&id("my-env:7")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Revision 7 of cluster environment 'my-env' not found."
    );
    let err = s.resolve(&id("nope")).unwrap_err();
    assert_eq!(err.to_string(), "Cluster environment 'nope' not found.");
    let err = s.resolve(&id("nope:1")).unwrap_err();
    assert!(matches!(err, Error::NameNotFound { .. }));

    // index.json: canonical, revisions in order, each once.
    let text = fs::read_to_string(s.index_path()).unwrap();
    let positions: Vec<usize> = ["my-env:1", "my-env:2", "my-env:3", "other:1"]
        .iter()
        .map(|r| text.find(&format!("\"{r}\"")).unwrap())
        .collect();
    assert!(positions.windows(2).all(|w| w[0] < w[1]), "{text}");
    assert!(Store::open(s.root()).unwrap().verify().unwrap().is_ok());
}

#[test]
fn commit_refuses_missing_blobs_and_foreign_locks() {
    let (_t, s) = new_store();
    let (_t2, s2) = new_store();
    let a = image_in(&s, "a");
    let lock2 = s2.lock().unwrap();
    assert!(s.commit(&lock2, &name("x"), a.clone()).is_err());
    drop(lock2);
    let lock = s.lock().unwrap();
    let m: Value = serde_json::from_slice(&s.read_json_blob(&a.digest).unwrap()).unwrap();
    let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    fs::remove_file(s.blob_path(&layer)).unwrap();
    let err = s.commit(&lock, &name("x"), a).unwrap_err();
    assert!(
        matches!(err, Error::Oci(OciError::MissingBlob { .. })),
        "{err}"
    );
    assert!(s.revisions(None).unwrap().is_empty());
}

#[test]
fn eight_concurrent_commits_get_eight_revisions() {
    let (_t, s) = new_store();
    let root = Arc::new(s.root().to_path_buf());
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let root = Arc::clone(&root);
            std::thread::spawn(move || {
                let s = Store::open(&root).unwrap();
                let m = image_in(&s, &format!("image {i}"));
                let lock = s.lock().unwrap();
                s.commit(&lock, &name("shared"), m.clone()).unwrap();
                m.digest
            })
        })
        .collect();
    let mut digests: Vec<Digest> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let revs = s.revisions(Some(&name("shared"))).unwrap();
    assert_eq!(
        revs.iter().map(|r| r.revision).collect::<Vec<_>>(),
        (1..=8).collect::<Vec<_>>()
    );
    let mut stored: Vec<Digest> = revs.iter().map(|r| r.manifest.digest).collect();
    digests.sort();
    stored.sort();
    assert_eq!(digests, stored, "each build recorded exactly once");
    for r in &revs[1..] {
        assert_eq!(
            r.annotation(annotations::PARENT),
            Some((r.revision - 1).to_string().as_str())
        );
    }
    assert!(s.verify().unwrap().is_ok());
}

// ----- import -----

#[test]
fn import_then_reuse_without_reading_layers() {
    let t = tempfile::tempdir().unwrap();
    let (_ts, s) = new_store();
    let src = t.path().join("base");
    let manifest = good_layout(&src);
    let imported = s
        .import_base(&layout_source(&src), "localhost/busybox:1")
        .unwrap();
    assert!(!imported.reused);
    assert_eq!(imported.manifest.digest, manifest);
    assert_eq!(imported.layers.len(), 1);
    assert_eq!(imported.diff_ids, vec![good_layer().1]);
    assert_eq!(
        imported.platform,
        Some(Platform {
            architecture: "amd64".into(),
            os: "linux".into(),
            variant: None
        })
    );
    assert_eq!(imported.config["config"]["Env"][0], "PATH=/usr/bin:/bin");
    for l in &imported.layers {
        assert!(s.has_blob(&l.digest));
    }
    let bases = s.bases().unwrap();
    assert_eq!(bases.len(), 1);
    assert_eq!(bases[0].name, "localhost/busybox:1");
    assert_eq!(
        bases[0].manifest.annotations[ANNOTATION_REF_NAME],
        format!("envc.base/sha256-{}", manifest.hex())
    );
    assert_eq!(
        fs::read_dir(s.tmp_dir()).unwrap().count(),
        0,
        "no temp files left"
    );

    // Second import: the layer is gone from the source, and it is not needed.
    let index_before = fs::read(s.index_path()).unwrap();
    fs::remove_file(
        src.join("blobs/sha256")
            .join(imported.layers[0].digest.hex()),
    )
    .unwrap();
    let again = s
        .import_base(&layout_source(&src), "localhost/busybox:1")
        .unwrap();
    assert!(again.reused);
    assert_eq!(again.layers, imported.layers);
    assert_eq!(again.config, imported.config);
    assert_eq!(fs::read(s.index_path()).unwrap(), index_before);

    // By ref, and the ref that does not exist.
    let by_ref = BaseSource::Layout {
        dir: src.clone(),
        reference: Some("1".into()),
    };
    assert!(s.import_base(&by_ref, "b").unwrap().reused);
    let bad_ref = BaseSource::Layout {
        dir: src.clone(),
        reference: Some("2".into()),
    };
    let err = s.import_base(&bad_ref, "b").unwrap_err();
    assert!(
        matches!(err, Error::Oci(OciError::RefNotFound { .. })),
        "{err}"
    );
    assert!(err.to_string().contains("no image named `2`"), "{err}");
    assert!(err.to_string().contains("it has: 1"), "{err}");
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn stored_base_follows_the_latest_import_of_a_name() {
    let t = tempfile::tempdir().unwrap();
    let (_ts, s) = new_store();
    assert_eq!(s.stored_base("busybox").unwrap(), None);
    let one = t.path().join("one");
    let m1 = good_layout(&one);
    let two = t.path().join("two");
    let tar = tar_of(&[("v2", b"")]);
    let m2 = write_layout(
        &two,
        &[(MEDIA_TYPE_LAYER_GZIP, gzip(&tar), Digest::of(&tar))],
        MEDIA_TYPE_CONFIG,
        |_| {},
        None,
    );
    s.import_base(&layout_source(&one), "busybox").unwrap();
    let got = s.stored_base("busybox").unwrap().unwrap();
    assert_eq!((got.manifest.digest, got.reused), (m1, true));
    s.import_base(&layout_source(&two), "busybox").unwrap();
    assert_eq!(
        s.stored_base("busybox").unwrap().unwrap().manifest.digest,
        m2
    );
    // Re-importing the first content (reused) makes it current again.
    assert!(
        s.import_base(&layout_source(&one), "busybox")
            .unwrap()
            .reused
    );
    assert_eq!(
        s.stored_base("busybox").unwrap().unwrap().manifest.digest,
        m1
    );
    // …and doing it once more writes nothing.
    let before = fs::read(s.index_path()).unwrap();
    s.import_base(&layout_source(&one), "busybox").unwrap();
    assert_eq!(fs::read(s.index_path()).unwrap(), before);
    // Another name for the same content.
    s.import_base(&layout_source(&two), "other").unwrap();
    assert_eq!(s.stored_base("other").unwrap().unwrap().manifest.digest, m2);
    assert_eq!(
        s.stored_base("busybox").unwrap().unwrap().manifest.digest,
        m1
    );
    assert_eq!(s.bases().unwrap().len(), 2);
    // Blobs gone: not usable, import again.
    let layer = s.stored_base("busybox").unwrap().unwrap().layers[0].digest;
    fs::remove_file(s.blob_path(&layer)).unwrap();
    assert_eq!(s.stored_base("busybox").unwrap(), None);
    assert!(
        !s.import_base(&layout_source(&one), "busybox")
            .unwrap()
            .reused
    );
    assert!(s.verify().unwrap().is_ok());
}

/// Each bad base is a clear error and leaves index.json as it was.
#[test]
fn import_refuses_bad_bases() {
    let t = tempfile::tempdir().unwrap();
    let (_ts, s) = new_store();
    let index_before = fs::read(s.index_path()).unwrap();
    let (gz, diff) = good_layer();
    let mut n = 0;
    let mut case = |layers: Vec<(&str, Vec<u8>, Digest)>,
                    tweak: &dyn Fn(&mut Value),
                    damage: &dyn Fn(&Path),
                    check: &dyn Fn(&Error) -> bool| {
        n += 1;
        let dir = t.path().join(format!("case{n}"));
        write_layout(&dir, &layers, MEDIA_TYPE_CONFIG, tweak, None);
        damage(&dir);
        let err = s.import_base(&layout_source(&dir), "base").unwrap_err();
        assert!(check(&err), "case {n}: unexpected error {err:?}");
        assert!(!err.to_string().is_empty());
        assert_eq!(fs::read(s.index_path()).unwrap(), index_before, "case {n}");
    };
    let good = || vec![(MEDIA_TYPE_LAYER_GZIP, good_layer().0, good_layer().1)];
    let nothing = |_: &Path| {};
    let layer_file = |dir: &Path| dir.join("blobs/sha256").join(Digest::of(&gz).hex());

    // Wrong digest: the layer's bytes changed, size kept.
    case(
        good(),
        &|_| {},
        &|d| {
            let mut b = fs::read(layer_file(d)).unwrap();
            let len = b.len();
            b[len / 2] ^= 0x55;
            fs::write(layer_file(d), b).unwrap();
        },
        &|e| matches!(e, Error::Oci(OciError::DigestMismatch { .. })),
    );
    // Wrong size in the manifest.
    case(
        good(),
        &|m| {
            let size = m["layers"][0]["size"].as_u64().unwrap();
            m["layers"][0]["size"] = json!(size + 1);
        },
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::SizeMismatch { expected, found, .. }) if expected == &(found + 1)),
    );
    // Missing blob.
    case(
        good(),
        &|_| {},
        &|d| fs::remove_file(layer_file(d)).unwrap(),
        &|e| matches!(e, Error::Oci(OciError::MissingBlob { .. })),
    );
    // `../x` and an absolute path in a layer.
    for bad in ["../x", "/etc/shadow"] {
        let tar = tar_of(&[("ok", b"1"), (bad, b"2")]);
        case(
            vec![(MEDIA_TYPE_LAYER_GZIP, gzip(&tar), Digest::of(&tar))],
            &|_| {},
            &nothing,
            &|e| matches!(e, Error::Oci(OciError::UnsafePath { path, .. }) if path == bad),
        );
    }
    // Corrupt gzip (its digest is right: the bytes were always bad).
    let bad_gz = b"\x1f\x8b\x08\x00garbage garbage garbage".to_vec();
    case(
        vec![(MEDIA_TYPE_LAYER_GZIP, bad_gz, diff)],
        &|_| {},
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::CorruptGzip { .. })),
    );
    // Wrong diff_id.
    case(
        vec![(MEDIA_TYPE_LAYER_GZIP, gz.clone(), Digest::of(b"other"))],
        &|_| {},
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::DiffIdMismatch { .. })),
    );
    // A gzip blob labelled zstd: read as zstd, and refused as such.
    case(
        vec![(
            "application/vnd.oci.image.layer.v1.tar+zstd",
            gz.clone(),
            diff,
        )],
        &|_| {},
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::CorruptZstd { .. })),
    );
    // Unknown media types: layer, config, manifest.
    case(
        vec![(
            "application/vnd.oci.image.layer.v1.tar+bzip2",
            gz.clone(),
            diff,
        )],
        &|_| {},
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::UnknownMediaType { media_type, .. }) if media_type.ends_with("bzip2")),
    );
    case(
        good(),
        &|m| m["config"]["mediaType"] = json!("text/plain"),
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::UnknownMediaType { .. })),
    );
    case(
        good(),
        &|m| m["mediaType"] = json!("application/x-weird"),
        &nothing,
        &|e| matches!(e, Error::Oci(OciError::UnknownMediaType { .. })),
    );
    // Not a layout: no oci-layout; a wrong version; a missing index.json.
    case(
        good(),
        &|_| {},
        &|d| fs::remove_file(d.join("oci-layout")).unwrap(),
        &|e| matches!(e, Error::Oci(OciError::NotALayout { .. })),
    );
    case(
        good(),
        &|_| {},
        &|d| fs::write(d.join("oci-layout"), "{}").unwrap(),
        &|e| matches!(e, Error::Oci(OciError::NotALayout { .. })),
    );
    case(
        good(),
        &|_| {},
        &|d| fs::remove_file(d.join("index.json")).unwrap(),
        &|e| matches!(e, Error::Oci(OciError::NotALayout { .. })),
    );
    let err = s
        .import_base(&layout_source(&t.path().join("absent")), "b")
        .unwrap_err();
    // A missing base is an I/O error (exit 2), not a refused layout.
    assert!(
        matches!(&err, Error::Oci(OciError::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound),
        "{err}"
    );
    let err = s
        .import_base(&BaseSource::archive(t.path().join("absent.tar")), "b")
        .unwrap_err();
    assert!(matches!(err, Error::Oci(OciError::Io { .. })), "{err}");
    assert!(err.to_string().contains("oci-archive"), "{err}");
    let err = s
        .import_base(&BaseSource::archive(t.path().join("case1/index.json")), "b")
        .unwrap_err();
    assert!(
        matches!(err, Error::Oci(OciError::NotAnArchive { .. })),
        "{err}"
    );
    assert_eq!(fs::read(s.index_path()).unwrap(), index_before);
    // What a failed import left behind is unreachable: gc takes it, verify passes.
    s.gc().unwrap();
    assert_eq!(fs::read_dir(s.blobs_dir()).unwrap().count(), 0);
    assert!(s.verify().unwrap().is_ok());
}

#[test]
fn import_docker_types_nested_index_and_archives() {
    let t = tempfile::tempdir().unwrap();
    let (_ts, s) = new_store();
    // Docker schema 2, uncompressed + gzip layers.
    let (gz, diff) = good_layer();
    let plain = tar_of(&[("usr/", b"")]);
    let dir = t.path().join("docker");
    write_layout(
        &dir,
        &[
            (MEDIA_TYPE_DOCKER_LAYER_GZIP, gz.clone(), diff),
            (MEDIA_TYPE_LAYER, plain.clone(), Digest::of(&plain)),
        ],
        MEDIA_TYPE_DOCKER_CONFIG,
        |m| m["mediaType"] = json!(MEDIA_TYPE_DOCKER_MANIFEST),
        None,
    );
    let b = s.import_base(&layout_source(&dir), "docker-base").unwrap();
    assert_eq!(b.manifest.media_type, MEDIA_TYPE_DOCKER_MANIFEST);
    assert_eq!(
        b.layers[0].media_type, MEDIA_TYPE_LAYER_GZIP,
        "normalised to OCI"
    );
    assert_eq!(b.layers[1].media_type, MEDIA_TYPE_LAYER);

    // A multi-platform index: the linux/amd64 manifest is chosen.
    let multi = t.path().join("multi");
    let amd64 = good_layout(&multi);
    let m_bytes = fs::read(multi.join("blobs/sha256").join(amd64.hex())).unwrap();
    let mut arm = desc(MEDIA_TYPE_MANIFEST, b"{}");
    arm.platform = Some(Platform {
        architecture: "arm64".into(),
        os: "linux".into(),
        variant: None,
    });
    let mut amd = desc(MEDIA_TYPE_MANIFEST, &m_bytes);
    amd.platform = Some(Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    });
    let nested = canonical_json(
        &json!({"schemaVersion": 2, "mediaType": MEDIA_TYPE_INDEX, "manifests": [arm, amd]}),
    );
    write_blob_file(&multi, &nested);
    let mut top = desc(MEDIA_TYPE_INDEX, &nested);
    top.annotations
        .insert(ANNOTATION_REF_NAME.into(), "latest".into());
    fs::write(
        multi.join("index.json"),
        canonical_json(&json!({"schemaVersion": 2, "manifests": [top]})),
    )
    .unwrap();
    let src = BaseSource::Layout {
        dir: multi.clone(),
        reference: Some("latest".into()),
    };
    let b = s.import_base(&src, "multi").unwrap();
    assert_eq!(b.manifest.digest, amd64);
    // …and without an amd64 entry, a clear error.
    let only_arm = canonical_json(&json!({"schemaVersion": 2, "manifests": [arm]}));
    write_blob_file(&multi, &only_arm);
    let top = desc(MEDIA_TYPE_INDEX, &only_arm);
    fs::write(
        multi.join("index.json"),
        canonical_json(&json!({"schemaVersion": 2, "manifests": [top]})),
    )
    .unwrap();
    let err = s.import_base(&layout_source(&multi), "multi").unwrap_err();
    assert!(
        err.to_string()
            .contains("no linux/amd64 image (it has: linux/arm64)"),
        "{err}"
    );

    // An oci-archive of a layout, read in place; then one with a `../` entry and one with a
    // symlink, both refused.
    let src = t.path().join("plain");
    let manifest = good_layout(&src);
    let archive = t.path().join("base.tar");
    let mut builder = tar::Builder::new(File::create(&archive).unwrap());
    builder.append_dir_all(".", &src).unwrap();
    builder.finish().unwrap();
    drop(builder);
    let (_ts2, s2) = new_store();
    let b = s2
        .import_base(&BaseSource::archive(archive.clone()), "archived")
        .unwrap();
    assert_eq!((b.manifest.digest, b.reused), (manifest, false));
    assert!(
        s2.import_base(&BaseSource::archive(archive.clone()), "archived")
            .unwrap()
            .reused
    );
    assert!(s2.verify().unwrap().is_ok());

    let index_before = fs::read(s2.index_path()).unwrap();
    for (bad, kind) in [
        ("../evil", tar::EntryType::Regular),
        ("/abs", tar::EntryType::Regular),
        ("link", tar::EntryType::Symlink),
    ] {
        let path = t.path().join("bad.tar");
        let mut builder = tar::Builder::new(File::create(&path).unwrap());
        builder.append_dir_all(".", &src).unwrap();
        let mut h = tar::Header::new_gnu();
        h.as_mut_bytes()[..bad.len()].copy_from_slice(bad.as_bytes());
        h.set_entry_type(kind);
        h.set_size(0);
        h.set_cksum();
        builder.append(&h, io::empty()).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let err = s2
            .import_base(&BaseSource::archive(path), "bad")
            .unwrap_err();
        assert!(
            matches!(&err, Error::Oci(OciError::UnsafeArchive { path, .. }) if path == bad),
            "{err}"
        );
    }
    let gz_path = t.path().join("base.tar.gz");
    fs::write(&gz_path, gzip(&fs::read(&archive).unwrap())).unwrap();
    let err = s2
        .import_base(&BaseSource::archive(gz_path), "gz")
        .unwrap_err();
    assert!(err.to_string().contains("gzip-compressed"), "{err}");
    assert_eq!(fs::read(s2.index_path()).unwrap(), index_before);
}

// ----- verify, gc, export -----

#[test]
fn verify_catches_corrupt_blobs_and_wrong_diff_ids() {
    let (_t, s) = new_store();
    let good = image_in(&s, "good");
    // An image whose config names the wrong diff_id.
    let tar = tar_of(&[("f", b"x")]);
    let gz = gzip(&tar);
    s.write_blob(&gz).unwrap();
    let config = config_for(&[Digest::of(b"wrong")]);
    s.write_blob(&config).unwrap();
    let manifest = canonical_json(&json!({
        "schemaVersion": 2, "mediaType": MEDIA_TYPE_MANIFEST,
        "config": desc(MEDIA_TYPE_CONFIG, &config),
        "layers": [desc(MEDIA_TYPE_LAYER_GZIP, &gz)],
    }));
    s.write_blob(&manifest).unwrap();
    let lock = s.lock().unwrap();
    s.commit(&lock, &name("good"), good.clone()).unwrap();
    s.commit(&lock, &name("bad"), desc(MEDIA_TYPE_MANIFEST, &manifest))
        .unwrap();
    drop(lock);
    let report = s.verify().unwrap();
    assert_eq!(report.revisions, 2);
    assert_eq!(report.problems.len(), 1, "{:?}", report.problems);
    assert!(report.problems[0].contains("bad:1") && report.problems[0].contains("diff_id"));
    assert_eq!(report.blobs_checked, 6);

    // Corrupt the good image's layer (same size, different bytes).
    let m: Value = serde_json::from_slice(&s.read_json_blob(&good.digest).unwrap()).unwrap();
    let layer: Digest = m["layers"][0]["digest"].as_str().unwrap().parse().unwrap();
    let mut bytes = fs::read(s.blob_path(&layer)).unwrap();
    bytes[12] ^= 1;
    fs::write(s.blob_path(&layer), bytes).unwrap();
    let report = s.verify().unwrap();
    assert_eq!(report.problems.len(), 2, "{:?}", report.problems);
    assert!(report
        .problems
        .iter()
        .any(|p| p.starts_with("good:1") && p.contains(&layer.to_string())));
    // A missing config is reported too, without stopping.
    let config: Digest = m["config"]["digest"].as_str().unwrap().parse().unwrap();
    fs::remove_file(s.blob_path(&config)).unwrap();
    assert_eq!(s.verify().unwrap().problems.len(), 3);
}

#[test]
fn gc_removes_only_unreachable() {
    let (t, s) = new_store();
    let (gz, diff) = good_layer();
    let src = t.path().join("base");
    write_layout(
        &src,
        &[(MEDIA_TYPE_LAYER_GZIP, gz, diff)],
        MEDIA_TYPE_CONFIG,
        |_| {},
        None,
    );
    s.import_base(&layout_source(&src), "base").unwrap();
    let kept = image_in(&s, "kept");
    let lock = s.lock().unwrap();
    s.commit(&lock, &name("env"), kept).unwrap();
    drop(lock);
    let reachable: Vec<String> = listing(&s.blobs_dir());
    let _orphan_image = image_in(&s, "orphan"); // 3 blobs never committed
    s.write_blob(b"loose").unwrap();
    fs::write(s.tmp_dir().join("blob-killed"), b"half a layer").unwrap();
    fs::create_dir(s.tmp_dir().join("dir")).unwrap();
    let report = s.gc().unwrap();
    assert_eq!(report.removed_blobs, 4);
    assert_eq!(report.removed_temp, 2);
    assert!(report.bytes_freed > 0);
    assert_eq!(listing(&s.blobs_dir()), reachable);
    assert_eq!(fs::read_dir(s.tmp_dir()).unwrap().count(), 0);
    assert!(s.verify().unwrap().is_ok());
    assert_eq!(s.gc().unwrap(), GcReport::default());
    // The handle still writes after gc.
    s.write_blob(b"after").unwrap();
}

#[test]
fn gc_waits_for_writers() {
    let (_t, s) = new_store();
    let writer = Store::open(s.root()).unwrap();
    let mut w = writer.blob_writer().unwrap();
    w.write_all(b"in progress").unwrap();
    let root = s.root().to_path_buf();
    let gc = std::thread::spawn(move || Store::open(&root).unwrap().gc().unwrap());
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(!gc.is_finished(), "gc waits while a writer holds the store");
    let (d, _) = w.finish().unwrap();
    assert!(writer.has_blob(&d));
    drop(writer);
    let report = gc.join().unwrap();
    assert_eq!(
        report.removed_blobs, 1,
        "the uncommitted blob goes once its writer is done"
    );
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let h = e.header();
            assert_eq!(h.mtime().unwrap(), 0);
            assert_eq!((h.uid().unwrap(), h.gid().unwrap()), (0, 0));
            let mode = h.mode().unwrap();
            assert!(mode == 0o644 || mode == 0o755, "{mode:o}");
            assert!(!matches!(
                h.entry_type(),
                tar::EntryType::XHeader | tar::EntryType::XGlobalHeader
            ));
            e.path().unwrap().display().to_string()
        })
        .collect()
}

#[test]
fn export_is_deterministic_and_loads_back() {
    let (t, s) = new_store();
    let m = image_in(&s, "exported");
    let lock = s.lock().unwrap();
    s.commit(&lock, &name("env"), image_in(&s, "first"))
        .unwrap();
    let rev = s.commit(&lock, &name("env"), m.clone()).unwrap().revision;
    drop(lock);
    for format in [ExportFormat::OciArchive, ExportFormat::DockerArchive] {
        let a = t.path().join("a.tar");
        let b = t.path().join("b.tar");
        s.export(&rev, format, &a).unwrap();
        s.export(&rev, format, &b).unwrap();
        let bytes = fs::read(&a).unwrap();
        assert_eq!(
            bytes,
            fs::read(&b).unwrap(),
            "{format:?}: identical exports"
        );
        let names = tar_names(&bytes);
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        assert_eq!(
            names
                .iter()
                .filter(|n| n.starts_with("blobs/sha256/"))
                .count(),
            3 + 1
        );
        assert!(names.contains(&"oci-layout".to_string()));
        assert_eq!(
            names.contains(&"manifest.json".to_string()),
            format == ExportFormat::DockerArchive
        );

        let mut ar = tar::Archive::new(&bytes[..]);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().display().to_string();
            let mut content = Vec::new();
            e.read_to_end(&mut content).unwrap();
            if path == "index.json" {
                let v: Value = serde_json::from_slice(&content).unwrap();
                assert_eq!(v["manifests"].as_array().unwrap().len(), 1);
                assert_eq!(
                    v["manifests"][0]["annotations"][ANNOTATION_REF_NAME],
                    "env:2"
                );
                assert_eq!(v["manifests"][0]["digest"], m.digest.to_string());
            }
            if path == "manifest.json" {
                let v: Value = serde_json::from_slice(&content).unwrap();
                assert_eq!(v[0]["RepoTags"], json!(["env:2"]));
                assert_eq!(v[0]["Layers"].as_array().unwrap().len(), 1);
                assert!(v[0]["Config"]
                    .as_str()
                    .unwrap()
                    .starts_with("blobs/sha256/"));
            }
            if let Some(hex) = path.strip_prefix("blobs/sha256/").filter(|h| !h.is_empty()) {
                assert_eq!(Digest::of(&content).hex(), hex);
            }
        }
        // The archive is a layout envc (and so other tools) can read back.
        let (_t2, s2) = new_store();
        let b = s2
            .import_base(&BaseSource::archive(a.clone()), "env:2")
            .unwrap();
        assert_eq!(b.manifest.digest, m.digest);
    }
    assert_eq!(
        fs::read_dir(t.path())
            .unwrap()
            .filter(|e| e
                .as_ref()
                .unwrap()
                .file_name()
                .to_string_lossy()
                .starts_with(".envc-export"))
            .count(),
        0
    );
}
