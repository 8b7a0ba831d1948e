use super::testing::{build_wheel, Member};
use super::*;
use crate::lock::facts::Dist;

const SITE: &str = "home/ray/anaconda3/lib/python3.11/site-packages";

fn python() -> Python {
    Python {
        prefix: "/home/ray/anaconda3".into(),
        executable: "/home/ray/anaconda3/bin/python".into(),
        version: "3.11.2".into(),
        site_packages: format!("/{SITE}"),
        owner: Meta {
            mode: 0o775,
            uid: 1000,
            gid: 100,
        },
        dists: BTreeMap::new(),
    }
}

fn locked(name: &str, version: &str, filename: &Path, requested: bool) -> LockedWheel {
    LockedWheel {
        name: name.into(),
        version: version.into(),
        filename: filename
            .file_name()
            .and_then(|f| f.to_str())
            .unwrap_or_default()
            .into(),
        url: "file:///x".into(),
        sha256: "0".repeat(64),
        size: 0,
        installs: format!("/{SITE}"),
        requested,
        upgrades: None,
    }
}

fn content(e: &Entry) -> Vec<u8> {
    match &e.kind {
        EntryKind::File(FileSource::Bytes(b)) => b.clone(),
        EntryKind::File(FileSource::Range { file, offset, len }) => {
            let all = std::fs::read(file).expect("spool");
            all[*offset as usize..(*offset + *len) as usize].to_vec()
        }
        other => panic!("{} is {other:?}", e.path),
    }
}

fn find<'a>(entries: &'a [Entry], path: &str) -> &'a Entry {
    entries.iter().find(|e| e.path == path).unwrap_or_else(|| {
        panic!(
            "no {path} in {:?}",
            entries.iter().map(|e| &e.path).collect::<Vec<_>>()
        )
    })
}

fn dirs() -> BTreeMap<String, Meta> {
    let root = Meta {
        mode: 0o755,
        uid: 0,
        gid: 0,
    };
    let ray = Meta {
        mode: 0o750,
        uid: 1000,
        gid: 100,
    };
    BTreeMap::from([
        ("home".to_string(), root),
        ("home/ray".to_string(), ray),
        ("home/ray/anaconda3".to_string(), ray),
    ])
}

#[test]
fn purelib_console_scripts_and_ownership() {
    let tmp = tempfile::tempdir().expect("tmp");
    let whl = build_wheel(
        tmp.path(),
        "Demo_Pkg",
        "1.0",
        "py3-none-any",
        &[],
        &[
            Member("demo_pkg/__init__.py", b"x = 1\n", 0o644),
            Member("demo_pkg/tool.sh", b"#!/bin/sh\n", 0o755),
            Member(
                "Demo_Pkg-1.0.dist-info/entry_points.txt",
                b"[console_scripts]\ndemo = demo_pkg.cli:main\n",
                0o644,
            ),
        ],
        |r| r,
    );
    let py = python();
    let lw = locked("demo-pkg", "1.0", &whl, true);
    let entries = install(&py, &dirs(), &[(lw, whl)], tmp.path()).expect("installs");
    let init = find(&entries, &format!("{SITE}/demo_pkg/__init__.py"));
    assert_eq!(content(init), b"x = 1\n");
    assert_eq!((init.mode, init.uid, init.gid), (0o644, 1000, 100));
    assert_eq!(
        find(&entries, &format!("{SITE}/demo_pkg/tool.sh")).mode,
        0o755
    );
    let launcher = find(&entries, "home/ray/anaconda3/bin/demo");
    assert_eq!(launcher.mode, 0o755);
    let text = String::from_utf8(content(launcher)).expect("utf8");
    assert!(
        text.starts_with("#!/home/ray/anaconda3/bin/python\n"),
        "{text}"
    );
    assert!(text.contains("from demo_pkg.cli import main"));
    // Parents: the base's own where it has them, else the environment's owner.
    let home = find(&entries, "home");
    assert_eq!((home.mode, home.uid), (0o755, 0));
    assert_eq!(find(&entries, "home/ray").mode, 0o750);
    let bin = find(&entries, "home/ray/anaconda3/bin");
    assert_eq!(
        (bin.mode, bin.uid, bin.gid, &bin.kind),
        (0o755, 1000, 100, &EntryKind::Dir)
    );
    let di = format!("{SITE}/Demo_Pkg-1.0.dist-info");
    assert_eq!(
        content(find(&entries, &format!("{di}/INSTALLER"))),
        b"envc\n"
    );
    assert!(content(find(&entries, &format!("{di}/REQUESTED"))).is_empty());
    let record = String::from_utf8(content(find(&entries, &format!("{di}/RECORD")))).expect("utf8");
    assert!(record.contains("../../../bin/demo,sha256="), "{record}");
    assert!(
        record.contains("Demo_Pkg-1.0.dist-info/RECORD,,\n"),
        "{record}"
    );
    assert!(record.contains("demo_pkg/__init__.py,sha256=") && record.contains(",6\n"));
    assert!(!entries.iter().any(|e| e.path.ends_with(".pyc")));
    // Every entry is sorted and every parent present.
    for e in &entries {
        if let Some((parent, _)) = e.path.rsplit_once('/') {
            assert!(
                entries
                    .iter()
                    .any(|d| d.path == parent && d.kind == EntryKind::Dir),
                "{parent}"
            );
        }
    }
}

#[test]
fn platlib_data_scripts_and_headers() {
    let tmp = tempfile::tempdir().expect("tmp");
    let whl = build_wheel(
        tmp.path(),
        "native",
        "2.0",
        "cp311-cp311-manylinux_2_17_x86_64",
        &[],
        &[
            Member("native-2.0.data/platlib/native/_ext.so", b"\x7fELF", 0o755),
            Member(
                "native-2.0.data/scripts/run",
                b"#!python\nprint(1)\n",
                0o644,
            ),
            Member("native-2.0.data/scripts/plain", b"#!/bin/sh\necho\n", 0o644),
            Member("native-2.0.data/headers/native.h", b"int x;\n", 0o644),
            Member("native-2.0.data/data/share/native/x.txt", b"d", 0o644),
        ],
        |r| r,
    );
    let mut py = python();
    py.executable = format!("/{}/python", "p".repeat(130));
    let lw = locked("native", "2.0", &whl, false);
    let entries = install(&py, &BTreeMap::new(), &[(lw, whl)], tmp.path()).expect("installs");
    assert_eq!(
        find(&entries, &format!("{SITE}/native/_ext.so")).mode,
        0o755
    );
    let run = find(&entries, "home/ray/anaconda3/bin/run");
    assert_eq!(run.mode, 0o755);
    let text = String::from_utf8(content(run)).expect("utf8");
    assert!(text.starts_with("#!/bin/sh\n'''exec' '/ppp"), "{text}");
    assert!(text.ends_with("' '''\nprint(1)\n"), "{text}");
    assert_eq!(
        content(find(&entries, "home/ray/anaconda3/bin/plain")),
        b"#!/bin/sh\necho\n"
    );
    find(
        &entries,
        "home/ray/anaconda3/include/python3.11/native/native.h",
    );
    find(&entries, "home/ray/anaconda3/share/native/x.txt");
    let di = format!("{SITE}/native-2.0.dist-info");
    assert!(!entries.iter().any(|e| e.path == format!("{di}/REQUESTED")));
    assert!(!entries.iter().any(|e| e.path.contains(".data")));
    let record = String::from_utf8(content(find(&entries, &format!("{di}/RECORD")))).expect("utf8");
    assert!(
        record.contains("../../../include/python3.11/native/native.h,"),
        "{record}"
    );
    // The rewritten script's RECORD row is the installed bytes'.
    let row = record
        .lines()
        .find(|l| l.starts_with("../../../bin/run,"))
        .expect("row");
    assert!(row.ends_with(&format!(",{}", text.len())), "{row}");
    // No owner in `dirs`: every parent takes the environment's owner.
    let home = find(&entries, "home");
    assert_eq!((home.mode, home.uid, home.gid), (0o755, 1000, 100));
}

#[test]
fn refuses_bad_wheels() {
    let tmp = tempfile::tempdir().expect("tmp");
    let py = python();
    let run = |whl: PathBuf, name: &str| {
        let lw = locked(name, "1.0", &whl, false);
        install(&py, &BTreeMap::new(), &[(lw, whl)], tmp.path()).expect_err("refused")
    };
    let files = [Member("m/a.py", b"a", 0o644)];
    let tampered = build_wheel(tmp.path(), "t", "1.0", "py3-none-any", &[], &files, |r| {
        r.replace("m/a.py,sha256=", "m/a.py,sha256=AAAA")
    });
    let e = run(tampered, "t");
    assert!(
        matches!(e, Error::HashMismatch { .. }) && e.to_string().contains("m/a.py"),
        "{e}"
    );
    let unlisted = build_wheel(tmp.path(), "u", "1.0", "py3-none-any", &[], &files, |r| {
        r.lines()
            .filter(|l| !l.starts_with("m/a.py"))
            .map(|l| format!("{l}\n"))
            .collect()
    });
    assert!(matches!(run(unlisted, "u"), Error::NotInRecord { .. }));
    let escape = build_wheel(
        tmp.path(),
        "e",
        "1.0",
        "py3-none-any",
        &[],
        &[Member("../../etc/passwd", b"x", 0o644)],
        |r| r,
    );
    let e = run(escape, "e");
    assert!(
        matches!(e, Error::UnsafePath { .. }) && e.to_string().contains("../../etc/passwd"),
        "{e}"
    );
    let abs = build_wheel(
        tmp.path(),
        "a",
        "1.0",
        "py3-none-any",
        &[],
        &[Member("/etc/x", b"x", 0o644)],
        |r| r,
    );
    assert!(matches!(run(abs, "a"), Error::UnsafePath { .. }));
    let wrong = build_wheel(tmp.path(), "w", "1.0", "py3-none-any", &[], &files, |r| r);
    assert!(matches!(run(wrong, "other"), Error::Invalid { .. }));
    let data = build_wheel(
        tmp.path(),
        "d",
        "1.0",
        "py3-none-any",
        &[],
        &[Member("d-1.0.data/weird/x", b"x", 0o644)],
        |r| r,
    );
    assert!(run(data, "d").to_string().contains("weird"));
    // A refused install leaves no spool file behind.
    let spools = std::fs::read_dir(tmp.path())
        .expect("dir")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "spool"))
        })
        .count();
    assert_eq!(spools, 0);
}

#[test]
fn newer_wheel_version_is_refused() {
    let tmp = tempfile::tempdir().expect("tmp");
    let path = tmp.path().join("n-1.0-py3-none-any.whl");
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).expect("f"));
    let o = zip::write::SimpleFileOptions::default();
    zip.start_file("n-1.0.dist-info/WHEEL", o).expect("m");
    zip.write_all(b"Wheel-Version: 2.0\n").expect("w");
    zip.start_file("n-1.0.dist-info/RECORD", o).expect("m");
    zip.finish().expect("finish");
    let lw = locked("n", "1.0", &path, false);
    let e = install(&python(), &BTreeMap::new(), &[(lw, path)], tmp.path()).expect_err("refused");
    assert!(e.to_string().contains("Wheel-Version 2.0"), "{e}");
}

#[test]
fn two_wheels_one_path() {
    let tmp = tempfile::tempdir().expect("tmp");
    let a = build_wheel(
        tmp.path(),
        "a",
        "1.0",
        "py3-none-any",
        &[],
        &[Member("shared/x.py", b"a", 0o644)],
        |r| r,
    );
    let b = build_wheel(
        tmp.path(),
        "b",
        "1.0",
        "py3-none-any",
        &[],
        &[Member("shared/x.py", b"b", 0o644)],
        |r| r,
    );
    let wheels = [
        (locked("a", "1.0", &a, true), a),
        (locked("b", "1.0", &b, true), b),
    ];
    let e = install(&python(), &BTreeMap::new(), &wheels, tmp.path()).expect_err("conflict");
    let msg = e.to_string();
    assert!(
        msg.contains("a-1.0-py3-none-any.whl") && msg.contains("b-1.0-py3-none-any.whl"),
        "{msg}"
    );
    assert!(msg.contains("shared/x.py"), "{msg}");
}

#[test]
fn upgrade_whiteouts_old_files() {
    let tmp = tempfile::tempdir().expect("tmp");
    let whl = build_wheel(
        tmp.path(),
        "lib",
        "2.0",
        "py3-none-any",
        &[],
        &[
            Member("lib/__init__.py", b"v2", 0o644),
            Member("lib/new.py", b"n", 0o644),
        ],
        |r| r,
    );
    let mut py = python();
    py.dists.insert(
        "lib".into(),
        Dist {
            name: "lib".into(),
            version: "1.0".into(),
            dist_info: "lib-1.0.dist-info".into(),
            record: Some(
                "lib/__init__.py,sha256=x,1\nlib/old.py,sha256=y,1\nlib/__pycache__/old.cpython-311.pyc,,\n\
                 ../../../bin/lib-tool,sha256=z,1\n../../../../../../etc/shadow,,\nlib-1.0.dist-info/METADATA,,\nlib-1.0.dist-info/RECORD,,\n"
                    .into(),
            ),
        },
    );
    let mut lw = locked("lib", "2.0", &whl, true);
    lw.upgrades = Some("1.0".into());
    let entries = install(&py, &dirs(), &[(lw, whl)], tmp.path()).expect("installs");
    let wh: Vec<&str> = entries
        .iter()
        .filter(|e| e.kind == EntryKind::Whiteout)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        wh,
        [
            "home/ray/anaconda3/bin/lib-tool".to_string(),
            format!("{SITE}/lib-1.0.dist-info"),
            format!("{SITE}/lib/__pycache__/old.cpython-311.pyc"),
            format!("{SITE}/lib/old.py"),
        ]
    );
    assert!(entries
        .iter()
        .all(|e| (e.uid, e.gid) == (1000, 100) || e.path == "home"));
    // The upgrade names a dist the base does not have.
    let whl = build_wheel(tmp.path(), "gone", "2.0", "py3-none-any", &[], &[], |r| r);
    let mut lw = locked("gone", "2.0", &whl, true);
    lw.upgrades = Some("1.0".into());
    let e = install(&python(), &dirs(), &[(lw, whl)], tmp.path()).expect_err("no base dist");
    assert!(matches!(e, Error::NoBaseDist { .. }), "{e}");
}

#[test]
fn caps_refuse_zip_bombs() {
    let tmp = tempfile::tempdir().expect("tmp");
    let big = vec![0u8; 1 << 20];
    let whl = build_wheel(
        tmp.path(),
        "bomb",
        "1.0",
        "py3-none-any",
        &[],
        &[
            Member("bomb/zeros", &big, 0o644),
            Member("bomb/more", &big, 0o644),
        ],
        |r| r,
    );
    let wheels = [(locked("bomb", "1.0", &whl, false), whl)];
    let run =
        |limits: Limits| install_limited(&python(), &BTreeMap::new(), &wheels, tmp.path(), limits);
    let file = run(Limits {
        entries: 10,
        file: 1 << 19,
        total: 1 << 30,
    })
    .expect_err("file cap");
    assert!(
        matches!(file, Error::TooLarge { .. }) && file.to_string().contains("bomb/zeros"),
        "{file}"
    );
    let total = run(Limits {
        entries: 10,
        file: 1 << 30,
        total: 3 << 19,
    })
    .expect_err("total cap");
    assert!(total.to_string().contains("per wheel"), "{total}");
    let entries = run(Limits {
        entries: 3,
        file: 1 << 30,
        total: 1 << 30,
    })
    .expect_err("entry cap");
    assert!(
        entries.to_string().contains("5 members, more than 3"),
        "{entries}"
    );
    run(LIMITS).expect("within the caps");
}
