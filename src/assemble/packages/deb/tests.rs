use super::testdeb::{build, control, raw, tar_of, Comp, Spec, T};
use super::*;
use crate::lock::facts::{Dpkg, Meta};
use std::collections::BTreeMap;

fn facts(status: &str, lists: &[(&str, &str)], ext: Option<&str>) -> BaseFacts {
    BaseFacts {
        os: Default::default(),
        platform: "linux/amd64".into(),
        dpkg_arch: "amd64".into(),
        dpkg: Some(Dpkg {
            status: status.into(),
            lists: lists
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            extended_states: ext.map(str::to_string),
        }),
        apt_sources: vec![],
        keyrings: vec![],
        glibc: None,
        python: None,
        merged_usr: [("bin", "usr/bin"), ("lib", "usr/lib"), ("sbin", "usr/sbin")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        dirs: BTreeMap::from([(
            "usr".to_string(),
            Meta {
                mode: 0o755,
                uid: 0,
                gid: 0,
            },
        )]),
    }
}

fn locked(deb: &Deb, requested: bool, upgrades: Option<&str>) -> LockedDeb {
    LockedDeb {
        name: deb.name.clone(),
        version: deb.version.clone(),
        arch: deb.arch.clone(),
        url: "file:///x.deb".into(),
        sha256: "0".repeat(64),
        size: 1,
        suite: "x bookworm".into(),
        installs: "/".into(),
        requested,
        multi_arch_same: deb.multi_arch_same,
        upgrades: upgrades.map(str::to_string),
        scripts: scripts(deb),
    }
}

fn get<'a>(l: &'a DebLayer, path: &str) -> &'a Entry {
    l.entries
        .iter()
        .find(|e| e.path == path)
        .unwrap_or_else(|| panic!("no {path} in {:?}", paths(l)))
}

fn paths(l: &DebLayer) -> Vec<&str> {
    l.entries.iter().map(|e| e.path.as_str()).collect()
}

fn text(l: &DebLayer, path: &str) -> String {
    match &get(l, path).kind {
        EntryKind::File(FileSource::Bytes(b)) => String::from_utf8(b.clone()).unwrap(),
        EntryKind::File(FileSource::Range { file, offset, len }) => {
            let all = std::fs::read(file).unwrap();
            String::from_utf8(all[*offset as usize..(*offset + *len) as usize].to_vec()).unwrap()
        }
        k => panic!("{path} is {k:?}"),
    }
}

const JQ_POSTINST: &[u8] = b"#!/bin/sh\nset -e\ncase \"$1\" in\n  configure|abort-upgrade)\n    update-alternatives --install /usr/bin/jqx jqx /usr/bin/jq 20 \\\n      --slave /usr/share/man/man1/jqx.1.gz jqx.1.gz /usr/share/man/man1/jq.1.gz\n  ;;\nesac\nexit 0\n";

fn jq(dir: &Path, comp: Comp) -> PathBuf {
    build(
        dir,
        "jq.deb",
        &Spec {
            control: &control("jq", "1.7.1-3", "amd64", "Depends: libjq1 (= 1.7.1-3)\n"),
            extra: vec![
                ("conffiles", b"/etc/jq.conf\n"),
                ("postinst", JQ_POSTINST),
                ("triggers", b"activate-noawait ldconfig\n"),
            ],
            data: vec![
                T::Dir("./"),
                T::Dir("./bin/"),
                T::File("./bin/jq", b"jq-binary", 0o4755),
                T::Hard("./bin/jq2", "./bin/jq"),
                T::Dir("./etc/"),
                T::File("./etc/jq.conf", b"conf\n", 0o644),
                T::Dir("./usr/"),
                T::Dir("./usr/share/"),
                T::Link("./usr/share/jq", "/bin/jq"),
            ],
            comp,
        },
    )
}

#[test]
fn reads_every_supported_compression() {
    let dir = tempfile::tempdir().unwrap();
    for comp in [Comp::None, Comp::Gz, Comp::Xz, Comp::Zst] {
        let deb = read(&jq(dir.path(), comp), dir.path()).unwrap();
        assert_eq!(
            (deb.name.as_str(), deb.version.as_str(), deb.arch.as_str()),
            ("jq", "1.7.1-3", "amd64")
        );
        assert!(!deb.multi_arch_same);
        let p: Vec<&str> = deb.data.iter().map(|e| e.path.as_str()).collect();
        assert_eq!(
            p,
            [
                "",
                "bin",
                "bin/jq",
                "bin/jq2",
                "etc",
                "etc/jq.conf",
                "usr",
                "usr/share",
                "usr/share/jq"
            ]
        );
        assert_eq!(deb.data[2].mode, 0o4755);
        assert_eq!(deb.data[3].kind, DataKind::HardLink("bin/jq".into()));
        let DataKind::File { offset, len, md5 } = deb.data[5].kind else {
            panic!()
        };
        let spool = std::fs::read(&deb.spool).unwrap();
        assert_eq!(&spool[offset as usize..(offset + len) as usize], b"conf\n");
        assert_eq!(hex::md5_hex(&md5), "b9a771b420047cfaa3543e66c78f44f6");
        assert_eq!(
            scripts(&deb),
            ["postinst", "trigger: activate-noawait ldconfig"]
        );
    }
}

mod hex {
    pub(super) fn md5_hex(m: &[u8; 16]) -> String {
        m.iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[test]
fn bad_archives_are_refused_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("text.deb"), b"hello, not an archive").unwrap();
    let e = read(&d.join("text.deb"), d).unwrap_err();
    assert!(matches!(e, Error::NotAr { .. }), "{e}");

    let bz = build(
        d,
        "bz.deb",
        &Spec {
            control: &control("a", "1", "all", ""),
            extra: vec![],
            data: vec![],
            comp: Comp::Bz2,
        },
    );
    let e = read(&bz, d).unwrap_err().to_string();
    assert!(e.contains("control.tar.bz2") && e.contains("bzip2"), "{e}");

    let ctl = tar_of(&[T::File(
        "./control",
        b"Package: a\nVersion: 1\nArchitecture: all\n",
        0o644,
    )]);
    let nodata = raw(
        d,
        "nodata.deb",
        &[("debian-binary", b"2.0\n"), ("control.tar", &ctl)],
    );
    assert!(read(&nodata, d)
        .unwrap_err()
        .to_string()
        .contains("no data.tar member"));
    let noctl = raw(d, "noctl.deb", &[("debian-binary", b"2.0\n")]);
    assert!(read(&noctl, d)
        .unwrap_err()
        .to_string()
        .contains("no control.tar member"));
    let first = raw(d, "first.deb", &[("control.tar", &ctl)]);
    assert!(read(&first, d)
        .unwrap_err()
        .to_string()
        .contains("not `debian-binary`"));
    let lzma = raw(
        d,
        "lzma.deb",
        &[
            ("debian-binary", b"2.0\n"),
            ("control.tar", &ctl),
            ("data.tar.lzma", b""),
        ],
    );
    assert!(read(&lzma, d)
        .unwrap_err()
        .to_string()
        .contains("lzma-compressed"));

    let nover = build(
        d,
        "nover.deb",
        &Spec {
            control: "Package: a\nArchitecture: all\n",
            extra: vec![],
            data: vec![],
            comp: Comp::Gz,
        },
    );
    assert!(read(&nover, d)
        .unwrap_err()
        .to_string()
        .contains("no `Version` field"));

    for bad in ["./../etc/passwd", "./usr/.wh.x"] {
        let data = tar_of(&[T::File("./x", b"", 0o644)]);
        // tar::Builder refuses `..` in a path, so patch the name field of the header.
        let mut data = data;
        data[..bad.len()].copy_from_slice(bad.as_bytes());
        data[bad.len()..100].fill(0);
        let sum: u32 = data[..512]
            .iter()
            .enumerate()
            .map(|(i, b)| {
                if (148..156).contains(&i) {
                    32
                } else {
                    *b as u32
                }
            })
            .sum();
        data[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let p = raw(
            d,
            "unsafe.deb",
            &[
                ("debian-binary", b"2.0\n"),
                ("control.tar", &ctl),
                ("data.tar", &data),
            ],
        );
        let e = read(&p, d).unwrap_err();
        assert!(matches!(e, Error::UnsafePath { .. }), "{bad}: {e}");
    }
}

#[test]
fn oversize_control_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let big = vec![0u8; (archive::MAX_CONTROL + 1024) as usize];
    let mut h = tar::Header::new_gnu();
    h.set_size(big.len() as u64);
    h.set_mode(0o644);
    let mut t = tar::Builder::new(Vec::new());
    t.append_data(&mut h, "./control", &big[..]).unwrap();
    let ctl = zstd::encode_all(&t.into_inner().unwrap()[..], 1).unwrap();
    let p = raw(
        dir.path(),
        "big.deb",
        &[("debian-binary", b"2.0\n"), ("control.tar.zst", &ctl)],
    );
    let e = read(&p, dir.path()).unwrap_err();
    assert!(matches!(e, Error::TooLarge { .. }), "{e}");
}

const BASE_STATUS: &str = "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12\nDescription: base\n\nPackage: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1:1.2.13\nDescription: z\n";

#[test]
fn layer_holds_payload_and_dpkg_database() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jq = read(&jq(d, Comp::Xz), d).unwrap();
    let lib = read(
        &build(
            d,
            "libjq1.deb",
            &Spec {
                control: &control("libjq1", "1.7.1-3", "amd64", "Multi-Arch: same\n"),
                extra: vec![
                    ("md5sums", b"0123  usr/lib/x86_64-linux-gnu/libjq.so.1\n"),
                    ("shlibs", b"libjq 1 libjq1\n"),
                ],
                data: vec![
                    T::Dir("./"),
                    T::Dir("./usr/"),
                    T::Dir("./usr/lib/"),
                    T::Dir("./usr/lib/x86_64-linux-gnu/"),
                    T::File("./usr/lib/x86_64-linux-gnu/libjq.so.1", b"elf", 0o644),
                ],
                comp: Comp::Zst,
            },
        ),
        d,
    )
    .unwrap();
    assert!(lib.multi_arch_same);
    let f = facts(
        BASE_STATUS,
        &[("base-files", "/.\n/etc\n/etc/issue\n")],
        Some("Package: zlib1g\nArchitecture: amd64\nAuto-Installed: 1\n\n"),
    );
    let debs = vec![
        (locked(&jq, true, None), jq),
        (locked(&lib, false, None), lib),
    ];
    let l = layer(&f, &debs).unwrap();

    // Payload: merged-/usr rewrite, the deb's `./bin` dropped, setuid kept, hard link rewritten.
    assert!(!paths(&l).contains(&"bin"));
    assert_eq!(get(&l, "usr/bin/jq").mode, 0o4755);
    assert_eq!(
        get(&l, "usr/bin/jq2").kind,
        EntryKind::HardLink("usr/bin/jq".into())
    );
    assert_eq!(
        get(&l, "usr/share/jq").kind,
        EntryKind::Symlink("/bin/jq".into())
    );
    assert_eq!(text(&l, "usr/bin/jq"), "jq-binary");

    let status = text(&l, "var/lib/dpkg/status");
    let want = "Package: base-files\nStatus: install ok installed\nArchitecture: amd64\nVersion: 12\nDescription: base\n\n\
Package: jq\nStatus: install ok installed\nVersion: 1.7.1-3\nArchitecture: amd64\nMaintainer: T <t@example.org>\nDepends: libjq1 (= 1.7.1-3)\n\
Conffiles:\n /etc/jq.conf b9a771b420047cfaa3543e66c78f44f6\nDescription: test package\n a test\n\n\
Package: libjq1\nStatus: install ok installed\nVersion: 1.7.1-3\nArchitecture: amd64\nMaintainer: T <t@example.org>\nMulti-Arch: same\nDescription: test package\n a test\n\n\
Package: zlib1g\nStatus: install ok installed\nArchitecture: amd64\nMulti-Arch: same\nVersion: 1:1.2.13\nDescription: z\n\n";
    assert_eq!(status, want);

    // dpkg records the deb's own names (`/bin/jq`), not the merged-/usr ones.
    assert_eq!(
        text(&l, "var/lib/dpkg/info/jq.list"),
        "/.\n/bin\n/bin/jq\n/bin/jq2\n/etc\n/etc/jq.conf\n/usr\n/usr/share\n/usr/share/jq\n"
    );
    assert_eq!(
        text(&l, "var/lib/dpkg/info/jq.md5sums"),
        "a1d8ab2e8f2c8c5eb8d1e4bbb41a46b2  bin/jq\na1d8ab2e8f2c8c5eb8d1e4bbb41a46b2  bin/jq2\n"
            .replace("a1d8ab2e8f2c8c5eb8d1e4bbb41a46b2", &md5_of(b"jq-binary"))
    );
    assert_eq!(text(&l, "var/lib/dpkg/info/jq.conffiles"), "/etc/jq.conf\n");
    assert_eq!(get(&l, "var/lib/dpkg/info/jq.postinst").mode, 0o755);
    assert_eq!(
        text(&l, "var/lib/dpkg/info/jq.triggers"),
        "activate-noawait ldconfig\n"
    );
    assert_eq!(
        text(&l, "var/lib/dpkg/info/libjq1:amd64.md5sums"),
        "0123  usr/lib/x86_64-linux-gnu/libjq.so.1\n"
    );
    assert_eq!(
        text(&l, "var/lib/dpkg/info/libjq1:amd64.shlibs"),
        "libjq 1 libjq1\n"
    );
    assert!(paths(&l).contains(&"var/lib/dpkg/info/libjq1:amd64.list"));
    assert!(!paths(&l).contains(&"var/lib/dpkg/info/libjq1.list"));

    assert_eq!(
        text(&l, "var/lib/apt/extended_states"),
        "Package: zlib1g\nArchitecture: amd64\nAuto-Installed: 1\n\nPackage: libjq1\nArchitecture: amd64\nAuto-Installed: 1\n\n"
    );
    // The base's `usr` owner is given explicitly; no whiteouts without upgrades.
    assert_eq!(get(&l, "usr").kind, EntryKind::Dir);
    assert!(!l.entries.iter().any(|e| e.kind == EntryKind::Whiteout));
    // Sorted and unique, as the writer wants.
    let p = paths(&l);
    assert!(p.windows(2).all(|w| w[0] < w[1]));
}

fn md5_of(b: &[u8]) -> String {
    use md5::Digest as _;
    md5::Md5::digest(b)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[test]
fn alternatives_are_emulated_and_other_effects_warned() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let jq = read(&jq(d, Comp::Gz), d).unwrap();
    let other = read(
        &build(d, "jaq.deb", &Spec {
            control: &control("jaq", "2", "all", ""),
            extra: vec![(
                "postinst",
                b"#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n  adduser --system jaq\n  update-alternatives --install /usr/bin/jqx jqx /usr/bin/jaq 50\n  deb-systemd-helper enable jaq.service\nfi\n#DEBHELPER#\n",
            )],
            data: vec![T::Dir("./"), T::Dir("./usr/"), T::Dir("./usr/bin/"), T::File("./usr/bin/jaq", b"jaq", 0o755)],
            comp: Comp::Gz,
        }),
        d,
    )
    .unwrap();
    let f = facts("", &[], None);
    let debs = vec![
        (locked(&jq, true, None), jq),
        (locked(&other, true, None), other),
    ];
    let l = layer(&f, &debs).unwrap();
    assert_eq!(
        text(&l, "var/lib/dpkg/alternatives/jqx"),
        "auto\n/usr/bin/jqx\njqx.1.gz\n/usr/share/man/man1/jqx.1.gz\n\n/usr/bin/jaq\n50\n\n/usr/bin/jq\n20\n/usr/share/man/man1/jq.1.gz\n\n"
    );
    assert_eq!(
        get(&l, "etc/alternatives/jqx").kind,
        EntryKind::Symlink("/usr/bin/jaq".into())
    );
    assert_eq!(
        get(&l, "usr/bin/jqx").kind,
        EntryKind::Symlink("/etc/alternatives/jqx".into())
    );
    // The winner has no man-page slave, so no slave link is written.
    assert!(!paths(&l).contains(&"etc/alternatives/jqx.1.gz"));
    assert_eq!(l.warnings.len(), 1, "{:?}", l.warnings);
    let w = &l.warnings[0];
    assert!(
        w.starts_with("jaq 2:")
            && w.contains("adduser, deb-systemd-helper")
            && w.contains("users and groups"),
        "{w}"
    );
    // No dpkg database in the base: only the new stanzas, and no extended_states (all requested).
    assert!(
        text(&l, "var/lib/dpkg/status").starts_with("Package: jaq\nStatus: install ok installed\n")
    );
    assert!(!paths(&l).contains(&"var/lib/apt/extended_states"));
}

#[test]
fn upgrade_whites_out_what_the_new_version_drops() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let new = read(
        &build(
            d,
            "tool.deb",
            &Spec {
                control: &control("tool", "2", "amd64", ""),
                extra: vec![],
                data: vec![
                    T::Dir("./"),
                    T::Dir("./usr/"),
                    T::Dir("./usr/bin/"),
                    T::File("./usr/bin/tool", b"v2", 0o755),
                ],
                comp: Comp::Gz,
            },
        ),
        d,
    )
    .unwrap();
    let status = "Package: tool\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: t\n\nPackage: other\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nDescription: o\n";
    let lists = [
        ("tool", "/.\n/bin\n/bin/tool\n/bin/tool-old\n/usr\n/usr/share\n/usr/share/tool\n/usr/share/tool/data\n/usr/share/shared\n"),
        ("other", "/.\n/usr\n/usr/share\n/usr/share/shared\n"),
    ];
    let f = facts(status, &lists, None);
    let l = layer(&f, &[(locked(&new, true, Some("1")), new.clone())]).unwrap();
    let wh: Vec<&str> = l
        .entries
        .iter()
        .filter(|e| e.kind == EntryKind::Whiteout)
        .map(|e| e.path.as_str())
        .collect();
    assert_eq!(
        wh,
        [
            "usr/bin/tool-old",
            "usr/share/tool/data",
            "var/lib/dpkg/info/tool.conffiles",
            "var/lib/dpkg/info/tool.config",
            "var/lib/dpkg/info/tool.postinst",
            "var/lib/dpkg/info/tool.postrm",
            "var/lib/dpkg/info/tool.preinst",
            "var/lib/dpkg/info/tool.prerm",
            "var/lib/dpkg/info/tool.shlibs",
            "var/lib/dpkg/info/tool.symbols",
            "var/lib/dpkg/info/tool.templates",
            "var/lib/dpkg/info/tool.triggers",
        ]
    );
    let s = text(&l, "var/lib/dpkg/status");
    // Reinstalling the base's own version whites out nothing.
    let same = facts(
        &status.replace("Version: 1\nDescription: t", "Version: 2\nDescription: t"),
        &lists,
        None,
    );
    let again = layer(&same, &[(locked(&new, true, None), new.clone())]).unwrap();
    assert!(!again.entries.iter().any(|e| e.kind == EntryKind::Whiteout));
    assert_eq!(s.matches("Package: tool\n").count(), 1);
    assert!(
        s.starts_with("Package: other\n")
            && s.contains("Package: tool\nStatus: install ok installed\nVersion: 2\n")
    );
}

#[test]
fn overwriting_another_packages_file_needs_replaces() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let mk = |name: &str, more: &str| {
        let c = control(name, "1", "amd64", more);
        let p = build(
            d,
            &format!("{name}.deb"),
            &Spec {
                control: &c,
                extra: vec![],
                data: vec![
                    T::Dir("./"),
                    T::Dir("./usr/"),
                    T::Dir("./usr/bin/"),
                    T::File("./usr/bin/x", b"x", 0o755),
                ],
                comp: Comp::Gz,
            },
        );
        read(&p, d).unwrap()
    };
    let (a, b) = (mk("a", ""), mk("b", ""));
    let f = facts("", &[], None);
    let e = layer(
        &f,
        &[
            (locked(&a, true, None), a.clone()),
            (locked(&b, true, None), b.clone()),
        ],
    )
    .unwrap_err();
    assert_eq!(
        e.to_string().split(';').next().unwrap(),
        "b: trying to overwrite `/usr/bin/x`, which is also in package a"
    );

    // With Replaces the replacing package wins and the other's .list loses the path.
    let b2 = mk("b", "Replaces: a (<< 2)\n");
    let l = layer(
        &f,
        &[
            (locked(&a, true, None), a.clone()),
            (locked(&b2, true, None), b2.clone()),
        ],
    )
    .unwrap();
    assert_eq!(text(&l, "var/lib/dpkg/info/a.list"), "/.\n/usr\n/usr/bin\n");
    assert!(text(&l, "var/lib/dpkg/info/b.list").ends_with("/usr/bin/x\n"));

    // A base package's file (named through /bin on the base) conflicts too.
    let base = facts(
        "Package: old\nStatus: install ok installed\nArchitecture: amd64\nVersion: 3\n",
        &[("old", "/.\n/bin\n/bin/x\n")],
        None,
    );
    let e = layer(&base, &[(locked(&a, true, None), a.clone())]).unwrap_err();
    assert!(
        e.to_string()
            .starts_with("a: trying to overwrite `/usr/bin/x`, which is also in package old"),
        "{e}"
    );
    let a2 = mk("a", "Replaces: old\n");
    let l = layer(&base, &[(locked(&a2, true, None), a2)]).unwrap();
    assert_eq!(text(&l, "var/lib/dpkg/info/old.list"), "/.\n/bin\n");
    // A version-limited Replaces that does not cover the base's version is not enough.
    let a3 = mk("a", "Replaces: old (<< 3)\n");
    assert!(layer(&base, &[(locked(&a3, true, None), a3)]).is_err());
}

#[test]
fn lock_record_must_match_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let jq = read(&jq(dir.path(), Comp::Gz), dir.path()).unwrap();
    let mut lock = locked(&jq, true, None);
    lock.version = "1.6-2.1".into();
    let e = layer(&facts("", &[], None), &[(lock, jq)])
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("the file for jq 1.6-2.1 (amd64) holds jq 1.7.1-3 (amd64)"),
        "{e}"
    );
}

#[test]
fn multi_arch_same_siblings_share_files() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let z = read(
        &build(
            d,
            "libz.deb",
            &Spec {
                control: &control("libz", "1", "amd64", "Multi-Arch: same\n"),
                extra: vec![],
                data: vec![
                    T::Dir("./"),
                    T::Dir("./usr/"),
                    T::Dir("./usr/share/"),
                    T::File("./usr/share/libz-copyright", b"c", 0o644),
                ],
                comp: Comp::Gz,
            },
        ),
        d,
    )
    .unwrap();
    let status = "Package: libz\nStatus: install ok installed\nArchitecture: i386\nMulti-Arch: same\nVersion: 1\n";
    let f = facts(
        status,
        &[(
            "libz:i386",
            "/.\n/usr\n/usr/share\n/usr/share/libz-copyright\n",
        )],
        None,
    );
    let l = layer(&f, &[(locked(&z, false, None), z)]).unwrap();
    let s = text(&l, "var/lib/dpkg/status");
    // Both architectures stay installed, sorted by name then architecture.
    assert!(
        s.find("Architecture: amd64").unwrap() < s.find("Architecture: i386").unwrap(),
        "{s}"
    );
    assert!(paths(&l).contains(&"var/lib/dpkg/info/libz:amd64.list"));
    assert!(!l.entries.iter().any(|e| e.kind == EntryKind::Whiteout));
}
