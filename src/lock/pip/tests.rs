use super::*;
use crate::assemble::packages::wheel::testing::{build_wheel, Member};
use crate::lock::facts::{Dist, Meta};

#[test]
fn platforms() {
    assert_eq!(
        platform("2.36", "linux/amd64").ok().as_deref(),
        Some("x86_64-manylinux_2_36")
    );
    assert_eq!(
        platform("2.35", "linux/arm64").ok().as_deref(),
        Some("aarch64-manylinux_2_35")
    );
    assert_eq!(
        platform("2.35", "linux/arm64/v8").ok().as_deref(),
        Some("aarch64-manylinux_2_35")
    );
    // uv knows no 2_30 nor anything past 2_40: the newest tag at or below glibc.
    assert_eq!(
        platform("2.30", "linux/amd64").ok().as_deref(),
        Some("x86_64-manylinux_2_28")
    );
    assert_eq!(
        platform("2.41", "linux/amd64").ok().as_deref(),
        Some("x86_64-manylinux_2_40")
    );
    assert!(matches!(
        platform("2.12", "linux/amd64"),
        Err(Error::Glibc(_))
    ));
    assert!(matches!(platform("x", "linux/amd64"), Err(Error::Glibc(_))));
    assert!(matches!(
        platform("2.36", "linux/s390x"),
        Err(Error::Platform(_))
    ));
}

#[test]
fn names() {
    assert_eq!(normalize("Foo.Bar__baz-"), "foo-bar-baz");
    assert_eq!(normalize("PyYAML"), "pyyaml");
    assert_eq!(
        requirement_name("Ray[default]==2.9.0").ok().as_deref(),
        Some("ray")
    );
    assert_eq!(
        requirement_name("zope.interface>=5; python_version>'3'")
            .ok()
            .as_deref(),
        Some("zope-interface")
    );
    assert_eq!(
        requirement_name("https://h/x/Foo_Bar-1.0-py3-none-any.whl")
            .ok()
            .as_deref(),
        Some("foo-bar")
    );
    assert_eq!(
        requirement_name("git+https://h/r.git#egg=My.Pkg")
            .ok()
            .as_deref(),
        Some("my-pkg")
    );
    assert!(matches!(
        requirement_name("https://h/x.tar.gz"),
        Err(Error::RequirementName(_))
    ));
}

#[test]
fn classifies_uv_errors() {
    let no_wheel = "error: No solution found when resolving dependencies\n  cause: Because gamma==1.0 has no wheels with a matching Python implementation tag (e.g., `cp311`) and only gamma==1.0 is available, we can conclude that all versions of gamma cannot be used.\n";
    let e = classify(
        "exit status: 1",
        no_wheel,
        "3.11.2",
        "x86_64-manylinux_2_36",
    );
    assert!(
        matches!(&e, Error::NoWheel { package, .. } if package == "gamma"),
        "{e}"
    );
    let msg = e.to_string();
    assert!(
        msg.contains("3.11.2") && msg.contains("x86_64-manylinux_2_36"),
        "{msg}"
    );
    let sdist =
        "  cause: Because Delta_X==1.0 has no usable wheels and only delta-x==1.0 is available";
    let e = classify("1", sdist, "3.11.2", "p");
    assert!(
        matches!(&e, Error::NoWheel { package, .. } if package == "delta-x"),
        "{e}"
    );
    let branch = "  cause: Because scipy>=1.8.0rc1,<=1.8.1 depends on numpy>=1.17.3,<1.25.0 and scipy>=1.7.2,<=1.7.3 depends on numpy>=1.16.5,<1.23.0, we can conclude that scipy>=1.7.2,<=1.8.1 depends on numpy>=1.16.5,<1.25.0.\n         And because scipy<=1.7.1 has no usable wheels, we can conclude that scipy<=1.7.1 depends on numpy>=1.16.5,<1.25.0.\n         And because you require numpy==1.26.4 and scipy<1.9, we can conclude that your requirements are unsatisfiable.";
    assert!(matches!(
        classify("1", branch, "3.10.12", "p"),
        Error::Unsatisfiable { .. }
    ));
    let conflict = "error: No solution found when resolving dependencies\n  cause: Because you require beta>=2 and beta==1.0, we can conclude that your requirements are unsatisfiable.";
    assert!(matches!(
        classify("1", conflict, "3.11.2", "p"),
        Error::Unsatisfiable { .. }
    ));
    assert!(matches!(
        classify("1", "error: network down", "3.11.2", "p"),
        Error::UvFailed { .. }
    ));
}

fn settings(dir: &Path) -> Option<PipSettings> {
    let uv = std::env::var_os("ENVC_TEST_UV")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("uv"));
    let s = PipSettings {
        uv,
        index_url: None,
        extra_index_urls: Vec::new(),
        find_links: vec![dir.display().to_string()],
    };
    match Command::new(&s.uv).arg("--version").output() {
        Ok(_) => Some(s),
        Err(e) => {
            eprintln!("skipped: uv is not installed ({e}); `pip install uv=={UV_VERSION}`");
            None
        }
    }
}

fn python(dists: &[(&str, &str)]) -> Python {
    Python {
        prefix: "/opt/py".into(),
        executable: "/opt/py/bin/python".into(),
        version: "3.11.2".into(),
        site_packages: "/opt/py/lib/python3.11/site-packages".into(),
        owner: Meta {
            mode: 0o755,
            uid: 0,
            gid: 0,
        },
        dists: dists
            .iter()
            .map(|(n, v)| {
                let d = Dist {
                    name: n.to_string(),
                    version: v.to_string(),
                    dist_info: format!("{n}-{v}.dist-info"),
                    record: None,
                };
                (normalize(n), d)
            })
            .collect(),
    }
}

fn reqs(r: &[&str]) -> Vec<PipRequirement> {
    r.iter().map(|s| s.parse().expect("requirement")).collect()
}

#[test]
fn resolves_offline_with_find_links() {
    let tmp = tempfile::tempdir().expect("tmp");
    let dir = tmp.path();
    let Some(s) = settings(dir) else { return };
    assert_eq!(resolver_version(&s).ok().as_deref(), Some("uv 0.13.9"));
    let m = [Member("x/__init__.py", b"", 0o644)];
    build_wheel(
        dir,
        "alpha",
        "1.0",
        "py3-none-any",
        &["beta>=1", "Gamma_Lib"],
        &m,
        |r| r,
    );
    build_wheel(dir, "beta", "1.0", "py3-none-any", &[], &m, |r| r);
    build_wheel(dir, "beta", "2.0", "py3-none-any", &[], &m, |r| r);
    // gamma: the native wheel outranks the pure one; the cp312 one does not fit.
    build_wheel(dir, "gamma_lib", "3.0", "py3-none-any", &[], &m, |r| r);
    build_wheel(
        dir,
        "gamma_lib",
        "3.0",
        "cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64",
        &[],
        &m,
        |r| r,
    );
    build_wheel(
        dir,
        "gamma_lib",
        "3.0",
        "cp312-cp312-manylinux_2_17_x86_64",
        &[],
        &m,
        |r| r,
    );
    build_wheel(
        dir,
        "native_only",
        "1.0",
        "cp312-cp312-manylinux_2_17_x86_64",
        &[],
        &m,
        |r| r,
    );
    let platform = "x86_64-manylinux_2_36";

    // The base holds beta 1.0: it constrains beta, and is not locked again.
    let py = python(&[("beta", "1.0"), ("Gamma.Lib", "2.0")]);
    let got = resolve(&py, platform, &reqs(&["alpha", "gamma-lib>=3"]), &s).expect("resolves");
    let names: Vec<(&str, &str, bool)> = got
        .iter()
        .map(|w| (w.name.as_str(), w.version.as_str(), w.requested))
        .collect();
    assert_eq!(names, [("alpha", "1.0", true), ("gamma-lib", "3.0", true)]);
    let gamma = &got[1];
    assert_eq!(
        gamma.filename,
        "gamma_lib-3.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl"
    );
    assert_eq!(gamma.upgrades.as_deref(), Some("2.0"));
    assert_eq!(gamma.installs, "/opt/py/lib/python3.11/site-packages");
    let on_disk = std::fs::read(dir.join(&gamma.filename)).expect("wheel");
    assert_eq!(gamma.size, on_disk.len() as u64);
    assert_eq!(gamma.sha256.len(), 64);
    assert!(got[0].upgrades.is_none());

    // Without the base's beta, the newest is taken (and is a dependency, not requested).
    let got = resolve(&python(&[]), platform, &reqs(&["alpha"]), &s).expect("resolves");
    let beta = got.iter().find(|w| w.name == "beta").expect("beta");
    assert_eq!((beta.version.as_str(), beta.requested), ("2.0", false));
    // Python 3.12 takes the cp312 wheel.
    let mut py12 = python(&[]);
    py12.version = "3.12.1".into();
    let got = resolve(&py12, platform, &reqs(&["gamma-lib"]), &s).expect("resolves");
    assert_eq!(
        got[0].filename,
        "gamma_lib-3.0-cp312-cp312-manylinux_2_17_x86_64.whl"
    );

    // Base beta 1.0 and a requirement for beta>=2 that the spec does not name directly.
    build_wheel(dir, "delta", "1.0", "py3-none-any", &["beta>=2"], &m, |r| r);
    let e = resolve(&py, platform, &reqs(&["delta"]), &s).expect_err("unsatisfiable");
    assert!(matches!(e, Error::Unsatisfiable { .. }), "{e}");
    let e = resolve(&py, platform, &reqs(&["native-only"]), &s).expect_err("no wheel");
    assert!(
        matches!(&e, Error::NoWheel { package, .. } if package == "native-only"),
        "{e}"
    );
    assert!(e.to_string().contains("3.11.2"), "{e}");

    let missing = PipSettings {
        uv: dir.join("no-uv"),
        ..s
    };
    let e = resolve(&py, platform, &reqs(&["alpha"]), &missing).expect_err("no uv");
    assert!(e.to_string().contains("pip install uv==0.13.9"), "{e}");
}
