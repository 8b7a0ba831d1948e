//! `envc lock`, `envc build --lock`, `envc fetch` and `envc sbom` end to end, offline, on
//! fixtures made here (`tests/support/lock_fixture.rs`): a Debian 12 base written by hand as an
//! OCI layout, a `file://` apt repository clear-signed with a key gpg makes in a temporary
//! GNUPGHOME (the base trusts it through `/etc/apt/trusted.gpg.d/test.asc`), and a
//! `--find-links` directory of wheels that uv (`pip install uv==0.13.9`) resolves.
//!
//! Without gpg the tests print why and pass; without uv the pip half is left out (printed).
//! Under `ENVC_LOCK_REQUIRED` either is a failure.

mod common;
#[path = "support/lock_fixture.rs"]
mod lock_fixture;

use common::*;
use lock_fixture::*;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const ARCHIVE: &str = "archive@repo.test";
const STRANGER: &str = "stranger@repo.test";
const BASE: &str = "anyscale/ray:2.9.0-py311";

fn required() -> bool {
    std::env::var_os("ENVC_LOCK_REQUIRED").is_some()
}

fn skip(reason: &str) {
    if required() {
        panic!("lock tests required (ENVC_LOCK_REQUIRED) but {reason}");
    }
    eprintln!("skipping: {reason}");
}

/// Whether uv 0.13.9 is on PATH (the pip half needs it).
fn have_uv() -> bool {
    match Command::new("uv").arg("--version").output() {
        Ok(o) if String::from_utf8_lossy(&o.stdout).starts_with("uv 0.13.9") => true,
        Ok(o) => {
            skip(&format!(
                "uv is {} (want 0.13.9: pip install uv==0.13.9); the pip half is left out",
                String::from_utf8_lossy(&o.stdout).trim()
            ));
            false
        }
        Err(e) => {
            skip(&format!(
                "uv is not installed ({e}: pip install uv==0.13.9); the pip half is left out"
            ));
            false
        }
    }
}

/// One test's fixtures: keys, repository, base, wheels, store and cache.
struct World {
    tmp: TempDir,
    gpg: Gpg,
    repo: Repo,
    layout: PathBuf,
    base_digest: String,
    wheels: PathBuf,
    store: PathBuf,
    cache: PathBuf,
    /// uv is here: the specs have pip requirements.
    pip: bool,
    /// dpkg status stanzas the base has beside [`BASE_STATUS`].
    extra_status: String,
}

impl World {
    /// The standard world (hello 1.0-1, signed by the key the base trusts), or None (after
    /// printing why) without gpg.
    fn new(label: &str) -> Option<World> {
        let gpg = match Gpg::new() {
            Ok(g) => g,
            Err(reason) => {
                skip(&reason);
                return None;
            }
        };
        gpg.key(ARCHIVE);
        gpg.key(STRANGER);
        let tmp = TempDir::new(&format!("lock-{label}"));
        let repo = Repo {
            root: tmp.join("repo"),
            origin: "Debian".into(),
            codename: "bookworm".into(),
            debs: standard_debs("1.0-1"),
            signing: Signing::By(ARCHIVE.into()),
            extra_release: String::new(),
        };
        repo.write(&gpg);
        let wheels = tmp.join("wheels");
        standard_wheels(&wheels);
        let mut w = World {
            layout: tmp.join("base"),
            base_digest: String::new(),
            wheels,
            store: tmp.join("store"),
            cache: tmp.join("cache"),
            pip: have_uv(),
            extra_status: String::new(),
            repo,
            gpg,
            tmp,
        };
        w.rebase(DEBIAN_12);
        Some(w)
    }

    /// Writes the base layout again with this os-release (the repo in `sources.list`, its key
    /// in `trusted.gpg.d/test.asc`).
    fn rebase(&mut self, os_release: &str) {
        let apt = vec![
            (
                "etc/apt/sources.list".to_string(),
                self.repo.sources_list().into_bytes(),
            ),
            (
                "etc/apt/trusted.gpg.d/test.asc".to_string(),
                self.gpg.public(ARCHIVE, true),
            ),
        ];
        self.rebase_with(os_release, apt);
    }

    /// Writes the base layout again with these apt files.
    fn rebase_with(&mut self, os_release: &str, apt: Vec<(String, Vec<u8>)>) {
        self.base_digest = write_base(
            &self.layout,
            &BaseSpec {
                os_release: os_release.into(),
                apt,
                extra_status: self.extra_status.clone(),
            },
        );
    }

    fn base_arg(&self) -> OsString {
        let mut s = OsString::from("oci:");
        s.push(self.layout.as_os_str());
        s.push(":1");
        s
    }

    /// Writes `NAME.yaml` installing these debs and (when uv is here) these pip requirements.
    fn spec(&self, name: &str, debian: &[&str], pip: &[&str]) -> PathBuf {
        let mut s = format!("base_image: {BASE}\nenv_vars:\n  GREETING: hi\n");
        if !debian.is_empty() {
            s.push_str("debian_packages:\n");
            for d in debian {
                s.push_str(&format!("  - {d}\n"));
            }
        }
        if self.pip && !pip.is_empty() {
            s.push_str("python:\n  pip_packages:\n");
            for p in pip {
                s.push_str(&format!("    - \"{p}\"\n"));
            }
        }
        write_spec(self.tmp.path(), &format!("{name}.yaml"), &s)
    }

    /// The usual spec: hello, six and hello-cli.
    fn standard_spec(&self) -> PathBuf {
        self.spec("env", &["hello"], &["six==1.16.0", "hello-cli"])
    }

    /// `envc SUB…` with this world's uv cache and no `TZ` of the host.
    fn envc(&self) -> Command {
        let mut c = envc();
        c.env("UV_CACHE_DIR", self.tmp.join("uv-cache"))
            .env("ENVC_CACHE_DIR", self.tmp.join("default-cache-unused"));
        c
    }

    /// `envc lock SPEC --base … -o LOCK --cache … --store … --find-links …`
    fn lock(&self, spec: &Path, lock: &Path, extra: &[&str]) -> Run {
        run(self.lock_command(spec, lock, &self.cache).args(extra))
    }

    /// The command of [`World::lock`], with its cache.
    fn lock_command(&self, spec: &Path, lock: &Path, cache: &Path) -> Command {
        let mut c = self.envc();
        c.arg("lock")
            .arg(spec)
            .arg("--base")
            .arg(self.base_arg())
            .arg("-o")
            .arg(lock)
            .arg("--cache")
            .arg(cache)
            .arg("--store")
            .arg(&self.store)
            .arg("--find-links")
            .arg(&self.wheels);
        c
    }

    /// `envc build SPEC --name NAME --lock LOCK --cache … --store STORE --base … [extra]`
    fn build_in(
        &self,
        store: &Path,
        cache: &Path,
        spec: &Path,
        lock: &Path,
        extra: &[&str],
    ) -> Run {
        run(self.build_command(store, cache, spec, lock).args(extra))
    }

    /// The command of [`World::build_in`].
    fn build_command(&self, store: &Path, cache: &Path, spec: &Path, lock: &Path) -> Command {
        let mut c = self.envc();
        c.arg("build")
            .arg(spec)
            .args(["--name", "locked-env"])
            .arg("--lock")
            .arg(lock)
            .arg("--cache")
            .arg(cache)
            .arg("--store")
            .arg(store)
            .arg("--base")
            .arg(self.base_arg());
        c
    }

    fn build(&self, spec: &Path, lock: &Path, extra: &[&str]) -> Run {
        self.build_in(&self.store, &self.cache, spec, lock, extra)
    }

    fn store_run(&self, args: &[&str]) -> Run {
        run(self.envc().args(args).arg("--store").arg(&self.store))
    }

    /// The manifest digest of `locked-env:REV`.
    fn manifest_of(&self, store: &Path, rev: u32) -> String {
        let r = run(self
            .envc()
            .args(["show", &format!("locked-env:{rev}"), "--format", "json"])
            .arg("--store")
            .arg(store))
        .ok();
        let doc = r.json();
        doc["manifest"]
            .as_str()
            .unwrap_or_else(|| panic!("no manifest in show --format json: {r}"))
            .to_string()
    }

    /// The cache entry of the artifact with this sha256.
    fn cache_entry(&self, sha256: &str) -> PathBuf {
        self.cache.join("sha256").join(sha256)
    }
}

/// The lockfile, parsed as TOML.
fn read_lock(path: &Path) -> toml::Value {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    toml::from_str(&text).unwrap_or_else(|e| panic!("{} is not TOML: {e}", path.display()))
}

/// (name, version, sha256) of the lock's `[[deb]]` or `[[wheel]]` tables.
fn locked(lock: &toml::Value, table: &str) -> Vec<(String, String, String)> {
    lock.get(table)
        .and_then(|t| t.as_array())
        .map(|a| {
            a.iter()
                .map(|d| {
                    let s = |k: &str| d[k].as_str().unwrap_or_default().to_string();
                    (s("name"), s("version"), s("sha256"))
                })
                .collect()
        })
        .unwrap_or_default()
}

fn sha_of(lock: &toml::Value, table: &str, name: &str) -> String {
    locked(lock, table)
        .into_iter()
        .find(|(n, _, _)| n == name)
        .unwrap_or_else(|| panic!("no {table} {name} in the lock"))
        .2
}

/// A failed `envc lock` wrote no lockfile.
fn assert_no_lock(r: &Run, lock: &Path) {
    assert!(
        !lock.exists(),
        "a failed lock wrote {}: {r}",
        lock.display()
    );
}

// ---------------------------------------------------------------------------------------------
// lock, --check, build --lock

#[test]
fn lock_resolves_debs_and_wheels_and_check_tells_a_stale_lock() {
    let Some(mut w) = World::new("check") else {
        return;
    };
    let spec = w.standard_spec();
    let lock_path = w.tmp.join("envc.lock");
    let r = w.lock(&spec, &lock_path, &[]).ok();
    assert!(r.stderr.contains("envc.lock"), "{r}");
    let lock = read_lock(&lock_path);
    let debs: Vec<(String, String)> = locked(&lock, "deb")
        .into_iter()
        .map(|(n, v, _)| (n, v))
        .collect();
    assert_eq!(
        debs,
        [
            ("hello".to_string(), "1.0-1".to_string()),
            ("libhello1".into(), "1.0-1".into())
        ],
        "the base's libc6 is not locked again"
    );
    assert_eq!(
        lock["base"]["digest"].as_str(),
        Some(w.base_digest.as_str())
    );
    assert_eq!(lock["base"]["os_codename"].as_str(), Some("bookworm"));
    let deb = &lock["deb"][0];
    assert_eq!(deb["requested"].as_bool(), Some(true));
    // The maintainer scripts and triggers envc does not run are recorded.
    assert_eq!(deb["scripts"].as_array().map(Vec::len), Some(1), "{deb}");
    assert_eq!(deb["scripts"][0].as_str(), Some("postinst"), "{deb}");
    assert_eq!(
        lock["deb"][1]["scripts"][0].as_str(),
        Some("trigger: activate-noawait ldconfig"),
        "{lock}"
    );
    assert_eq!(lock["deb"][1]["requested"].as_bool(), Some(false));
    assert_eq!(lock["deb"][1]["multi_arch_same"].as_bool(), Some(true));
    assert!(
        deb["url"]
            .as_str()
            .is_some_and(|u| u.starts_with("file://") && u.ends_with("hello_1.0-1_amd64.deb")),
        "{deb}"
    );
    let source = &lock["apt-source"][0];
    assert_eq!(source["suite"].as_str(), Some("bookworm"));
    assert_eq!(
        source["keyring"].as_str(),
        Some("/etc/apt/trusted.gpg.d/test.asc")
    );
    if w.pip {
        let wheels: Vec<(String, String)> = locked(&lock, "wheel")
            .into_iter()
            .map(|(n, v, _)| (n, v))
            .collect();
        assert_eq!(
            wheels,
            [
                ("hello-cli".to_string(), "0.1.0".to_string()),
                ("six".into(), "1.16.0".into())
            ]
        );
        let py = &lock["base"]["python"];
        assert_eq!(py["version"].as_str(), Some("3.11.2"));
        assert_eq!(py["executable"].as_str(), Some(PYTHON));
        assert_eq!(
            py["site_packages"].as_str(),
            Some(format!("/{SITE}").as_str())
        );
    }
    // Every artifact is in the cache, verified.
    for (table, name) in [("deb", "hello"), ("deb", "libhello1")] {
        assert!(w.cache_entry(&sha_of(&lock, table, name)).is_file());
    }

    // --check: current (0), nothing written.
    let before = fs::read(&lock_path).unwrap();
    let check = || w.lock(&spec, &lock_path, &["--check"]);
    let r = check().ok();
    assert!(r.stderr.contains("is current"), "{r}");
    assert_eq!(fs::read(&lock_path).unwrap(), before);

    // Another package in the spec: stale (1), naming it.
    w.spec("env", &["hello", "jq"], &["six==1.16.0", "hello-cli"]);
    let r = check().no();
    assert!(r.stderr.contains("+ debian: jq"), "{r}");
    assert!(r.stderr.contains("envc lock"), "says how to fix it: {r}");
    assert_eq!(
        fs::read(&lock_path).unwrap(),
        before,
        "--check wrote the lock"
    );
    // Another find-links setting: stale too.
    w.spec("env", &["hello"], &["six==1.16.0", "hello-cli"]);
    check().ok();
    let r = run(w
        .envc()
        .arg("lock")
        .arg(&spec)
        .arg("--base")
        .arg(w.base_arg())
        .arg("-o")
        .arg(&lock_path)
        .arg("--store")
        .arg(&w.store)
        .arg("--check"))
    .no();
    assert!(r.stderr.contains("- setting: pip find-links"), "{r}");

    // Another base (its layout rewritten: another digest): stale, naming the base.
    let mut os = DEBIAN_12.to_string();
    os.push_str("BUILD_ID=2\n");
    w.rebase(&os);
    let r = w.lock(&spec, &lock_path, &["--check"]).no();
    assert!(r.stderr.contains("~ base:"), "{r}");
    assert!(
        r.stderr.contains(&w.base_digest),
        "names the new digest: {r}"
    );

    // `envc fetch` of a warm cache fetches nothing and verifies everything.
    let r = run(w
        .envc()
        .arg("fetch")
        .arg(&lock_path)
        .arg("--cache")
        .arg(&w.cache))
    .ok();
    let n = if w.pip { 4 } else { 2 };
    assert!(r.stderr.contains(&format!("{n} artifact(s)")), "{r}");
    // Into an empty cache it fetches them all from the repo and the find-links dir.
    let fresh = w.tmp.join("fresh-cache");
    run(w
        .envc()
        .arg("fetch")
        .arg(&lock_path)
        .arg("--cache")
        .arg(&fresh))
    .ok();
    assert_eq!(
        fs::read_dir(fresh.join("sha256")).unwrap().count(),
        n,
        "every artifact fetched"
    );
}

#[test]
fn build_lock_installs_debs_and_wheels_hermetically() {
    let Some(w) = World::new("build") else { return };
    let spec = w.standard_spec();
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let r = w.build(&spec, &lock_path, &["--offline"]).ok();
    let line = line_of(&r);
    assert_eq!((line.name.as_str(), line.rev), ("locked-env", 1), "{r}");
    let manifest = w.manifest_of(&w.store, 1);
    assert_eq!(manifest, line.digest);
    let layers = layers(&w.store, &manifest);
    assert!(
        layers.len() >= 3,
        "base, debs, (wheels,) metadata: {layers:?}"
    );
    let merged: BTreeMap<String, Got> = layers
        .iter()
        .skip(1)
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();

    // The debs: ./bin/hello lands in usr/bin (merged /usr), not over the base's bin symlink.
    let hello = merged
        .get("usr/bin/hello")
        .unwrap_or_else(|| panic!("no usr/bin/hello in {:?}", merged.keys()));
    assert_eq!(hello.kind, 'f');
    assert_eq!(hello.mode, 0o755);
    assert!(String::from_utf8_lossy(&hello.data).contains("echo hello 1.0-1"));
    assert!(
        !merged.contains_key("bin/hello"),
        "bin is the base's symlink"
    );
    assert!(
        merged.get("bin").is_none_or(|b| b.kind == 'l'),
        "the layer replaced the bin symlink: {:?}",
        merged.get("bin")
    );
    assert!(merged.contains_key("usr/lib/x86_64-linux-gnu/libhello.so.1"));
    assert!(
        merged.contains_key("usr/lib/x86_64-linux-gnu/libhello-extra.so.1"),
        "./lib goes to usr/lib on a merged-/usr base"
    );
    assert!(
        !merged.contains_key("lib/x86_64-linux-gnu"),
        "over the lib symlink"
    );
    // The postinst's alternative, emulated; what else it does is a warning naming it.
    let greet = merged
        .get("usr/bin/greet")
        .unwrap_or_else(|| panic!("no usr/bin/greet alternative in {:?}", merged.keys()));
    assert_eq!(
        (greet.kind, greet.link.as_deref()),
        ('l', Some("/etc/alternatives/greet"))
    );
    let alt = &merged["etc/alternatives/greet"];
    assert_eq!(
        (alt.kind, alt.link.as_deref()),
        ('l', Some("/usr/bin/hello"))
    );
    assert!(
        r.stderr.contains("hello") && r.stderr.contains("adduser"),
        "warns of the postinst's adduser: {r}"
    );
    let conf = &merged["etc/hello.conf"];
    assert_eq!(conf.data, b"greeting = hello\n");
    let status = String::from_utf8_lossy(
        &merged
            .get("var/lib/dpkg/status")
            .expect("var/lib/dpkg/status in the deb layer")
            .data,
    )
    .into_owned();
    let conf_md5 = "Conffiles:\n /etc/hello.conf ";
    assert!(
        status.contains(conf_md5),
        "hello's conffile in its stanza:\n{status}"
    );
    for want in [
        "Package: hello\nStatus: install ok installed\n",
        "Package: libhello1\nStatus: install ok installed\n",
        "Package: libc6\nStatus: install ok installed\n",
        "Package: base-files\n",
    ] {
        assert!(status.contains(want), "status lacks {want:?}:\n{status}");
    }
    let list = merged
        .get("var/lib/dpkg/info/libhello1:amd64.list")
        .unwrap_or_else(|| panic!("no libhello1:amd64.list in {:?}", merged.keys()));
    assert!(String::from_utf8_lossy(&list.data).contains("/usr/lib/x86_64-linux-gnu/libhello.so.1"));
    let hello_list = merged
        .get("var/lib/dpkg/info/hello.list")
        .expect("hello.list (hello is not Multi-Arch: same)");
    assert!(String::from_utf8_lossy(&hello_list.data).contains("/bin/hello"));
    assert!(merged.contains_key("var/lib/dpkg/info/hello.md5sums"));

    if w.pip {
        let six = merged
            .get(&format!("{SITE}/six.py"))
            .unwrap_or_else(|| panic!("no six.py in {:?}", merged.keys()));
        assert_eq!((six.uid, six.gid), (1000, 100), "six.py owner");
        let di = format!("{SITE}/six-1.16.0.dist-info");
        for f in ["METADATA", "RECORD", "INSTALLER"] {
            let e = merged
                .get(&format!("{di}/{f}"))
                .unwrap_or_else(|| panic!("no {di}/{f}"));
            assert_eq!((e.uid, e.gid), (1000, 100), "{f} owner");
        }
        for (path, e) in &merged {
            if path.starts_with("home/ray") {
                assert_eq!(
                    (e.uid, e.gid),
                    (1000, 100),
                    "{path} in a wheel layer is not owned by ray"
                );
            }
        }
        let script = merged
            .get("home/ray/anaconda3/bin/hello-cli")
            .unwrap_or_else(|| panic!("no console script in {:?}", merged.keys()));
        let text = String::from_utf8_lossy(&script.data);
        assert!(
            text.starts_with(&format!("#!{PYTHON}\n")),
            "shebang: {text}"
        );
        assert!(text.contains("hello_cli"), "{text}");
        assert_eq!(script.mode & 0o111, 0o111, "the script is executable");
        assert_eq!((script.uid, script.gid), (1000, 100));
    }
    // The image records the lock.
    assert!(merged.contains_key(".envc/envc.lock"));
    let show = w
        .store_run(&["show", "locked-env:1", "--format", "json"])
        .ok()
        .json();
    assert_eq!(
        show["locked"]["debian"]["hello"].as_str(),
        Some("1.0-1"),
        "{show}"
    );
    assert_eq!(
        show["locked"]["debian"]["libhello1"].as_str(),
        Some("1.0-1")
    );
    if w.pip {
        assert_eq!(show["locked"]["pip"]["six"].as_str(), Some("1.16.0"));
    }
    let text = w.store_run(&["show", "locked-env:1"]).ok();
    assert!(text.stdout.contains("locked"), "{text}");
    assert!(text.stdout.contains("hello"), "{text}");
    // The same lock again: unchanged.
    let again = line_of(&w.build(&spec, &lock_path, &["--offline"]).ok());
    assert!(again.unchanged && again.digest == line.digest, "{again:?}");
    w.store_run(&["verify"]).ok();
}

#[test]
fn locked_builds_are_reproducible_across_umask_tz_directories_and_mtimes() {
    let Some(w) = World::new("repro") else { return };
    let spec = w.standard_spec();
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let store_a = w.tmp.join("a/deeper/store");
    let store_b = w.tmp.join("b-store");
    let cache_b = w.tmp.join("b-cache");
    copy_tree(&w.cache, &cache_b);
    // Other mtimes on every fixture file the second build reads.
    for dir in [&cache_b, &w.layout] {
        for (rel, _) in snapshot(dir) {
            let p = dir.join(rel.trim_end_matches('/'));
            let _ = Command::new("touch")
                .args(["-h", "-d", "2031-05-06 07:08:09"])
                .arg(&p)
                .status();
        }
    }
    let build = |store: &Path, cache: &Path, umask: &str, tz: &str| {
        let mut c = Command::new("sh");
        c.arg("-c")
            .arg(format!("umask {umask}; exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_envc"))
            .arg("build")
            .arg(&spec)
            .args(["--name", "locked-env", "--offline"])
            .arg("--lock")
            .arg(&lock_path)
            .arg("--cache")
            .arg(cache)
            .arg("--store")
            .arg(store)
            .arg("--base")
            .arg(w.base_arg())
            .env("TZ", tz)
            .env("UV_CACHE_DIR", w.tmp.join("uv-cache"))
            .env_remove("SOURCE_DATE_EPOCH")
            .env_remove("ENVC_STORE");
        line_of(&run(&mut c).ok())
    };
    let a = build(&store_a, &w.cache, "022", "UTC");
    let b = build(&store_b, &cache_b, "077", "Pacific/Kiritimati");
    assert_eq!(a.digest, b.digest, "the same lock built twice");
    assert_eq!(w.manifest_of(&store_a, 1), w.manifest_of(&store_b, 1));
}

#[test]
fn show_and_diff_name_the_locked_versions_that_changed() {
    let Some(mut w) = World::new("diff") else {
        return;
    };
    let spec = w.standard_spec();
    let lock1 = w.tmp.join("one.lock");
    let lock2 = w.tmp.join("two.lock");
    w.lock(&spec, &lock1, &[]).ok();
    w.build(&spec, &lock1, &["--offline"]).ok();
    // The archive moves on: hello 1.1-1 (the base, its sources and keyring unchanged).
    w.repo.debs = standard_debs("1.1-1");
    w.repo.write(&w.gpg);
    w.lock(&spec, &lock2, &[]).ok();
    let l2 = read_lock(&lock2);
    assert_eq!(
        locked(&l2, "deb")[0].1,
        "1.1-1",
        "the new lock has the new hello"
    );
    // The first lock stays buildable from the cache though the archive dropped 1.0-1.
    let r = line_of(&w.build(&spec, &lock2, &["--offline"]).ok());
    assert_eq!(r.rev, 2);
    let show = w
        .store_run(&["show", "locked-env:2", "--format", "json"])
        .ok()
        .json();
    assert_eq!(show["locked"]["debian"]["hello"].as_str(), Some("1.1-1"));
    // Exit 1: the revisions differ (as diff(1)).
    let d = w.store_run(&["diff", "locked-env:1", "locked-env:2"]).no();
    assert!(
        d.stdout.contains("~ debian hello 1.0-1 → 1.1-1"),
        "diff: {d}"
    );
    assert!(
        !d.stdout.contains("libhello1 1.0-1 →"),
        "libhello1 did not change: {d}"
    );
    let again = line_of(&w.build(&spec, &lock1, &["--offline"]).ok());
    assert_eq!(again.rev, 3, "lock one again, from the cache alone");
}

#[test]
fn sbom_is_deterministic_and_names_every_artifact_with_a_purl() {
    let Some(w) = World::new("sbom") else { return };
    let spec = w.standard_spec();
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    for format in ["cyclonedx", "spdx"] {
        let sbom = || {
            run(w
                .envc()
                .arg("sbom")
                .arg(&lock_path)
                .args(["--format", format]))
            .ok()
        };
        let (a, b) = (sbom(), sbom());
        assert_eq!(a.stdout, b.stdout, "{format} twice");
        let doc = a.json();
        let text = doc.to_string();
        for purl in [
            "pkg:deb/debian/hello@1.0-1",
            "pkg:deb/debian/libhello1@1.0-1",
        ] {
            assert!(text.contains(purl), "{format} lacks {purl}: {text}");
        }
        if w.pip {
            for purl in ["pkg:pypi/six@1.16.0", "pkg:pypi/hello-cli@0.1.0"] {
                assert!(text.contains(purl), "{format} lacks {purl}: {text}");
            }
        }
        assert!(
            !text.contains("libc6"),
            "the base's packages are not the lock's: {text}"
        );
        match format {
            "cyclonedx" => {
                let names: Vec<&str> = doc["components"]
                    .as_array()
                    .expect("components")
                    .iter()
                    .filter_map(|c| c["name"].as_str())
                    .collect();
                assert!(
                    names.contains(&"hello") && names.contains(&"libhello1"),
                    "{names:?}"
                );
                for c in doc["components"].as_array().unwrap() {
                    assert!(
                        c["purl"].as_str().is_some_and(|p| p.starts_with("pkg:")),
                        "{c}"
                    );
                }
            }
            _ => {
                let pkgs = doc["packages"].as_array().expect("spdx packages");
                assert!(pkgs.iter().any(|p| p["name"] == "hello"), "{doc}");
            }
        }
        // -o writes the same bytes.
        let out = w.tmp.join(format!("sbom.{format}.json"));
        run(w
            .envc()
            .arg("sbom")
            .arg(&lock_path)
            .args(["--format", format])
            .arg("-o")
            .arg(&out))
        .ok();
        assert_eq!(
            fs::read_to_string(&out).unwrap().trim_end(),
            a.stdout.trim_end()
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Refusals: each names what is wrong and writes nothing

/// `envc lock` of `debian` (no pip) fails with exit `code`, naming every `want`, writing no
/// lockfile.
fn lock_refused(w: &World, name: &str, debian: &[&str], code: i32, want: &[&str]) -> Run {
    let spec = w.spec(name, debian, &[]);
    let lock_path = w.tmp.join(format!("{name}.lock"));
    let r = w.lock(&spec, &lock_path, &[]).code(code);
    eprintln!("{r}");
    for s in want {
        assert!(r.stderr.contains(s), "stderr lacks {s:?}: {r}");
    }
    assert_no_lock(&r, &lock_path);
    r
}

#[test]
fn unsigned_or_foreign_signed_archives_are_refused() {
    let Some(mut w) = World::new("unsigned") else {
        return;
    };
    w.repo.signing = Signing::Unsigned;
    w.repo.write(&w.gpg);
    lock_refused(
        &w,
        "plain",
        &["hello"],
        1,
        &["InRelease", "not verified", "bookworm"],
    );
    w.repo.signing = Signing::Stripped(ARCHIVE.into());
    w.repo.write(&w.gpg);
    lock_refused(
        &w,
        "stripped",
        &["hello"],
        1,
        &["InRelease", "not verified"],
    );
    w.repo.signing = Signing::ReleaseOnly;
    w.repo.write(&w.gpg);
    lock_refused(
        &w,
        "release-only",
        &["hello"],
        1,
        &["dists/bookworm/InRelease"],
    );
    w.repo.signing = Signing::By(STRANGER.into());
    w.repo.write(&w.gpg);
    lock_refused(
        &w,
        "stranger",
        &["hello"],
        1,
        &["not verified", "/etc/apt/trusted.gpg.d/test.asc"],
    );
    // Nothing reached the cache.
    assert!(snapshot(&w.cache)
        .keys()
        .all(|k| !k.starts_with("sha256/") || k == "sha256/"));
}

#[test]
fn unsatisfiable_and_conflicting_debs_are_refused_by_name() {
    let Some(w) = World::new("unsat") else { return };
    lock_refused(&w, "broken", &["broken"], 1, &["libmissing"]);
    lock_refused(&w, "clash", &["clash"], 1, &["clash", "base-files"]);
    lock_refused(&w, "nosuch", &["no-such-deb"], 1, &["no-such-deb"]);
}

#[test]
fn a_base_of_another_distribution_is_refused() {
    let Some(mut w) = World::new("ubuntu") else {
        return;
    };
    w.rebase(UBUNTU_2204);
    lock_refused(&w, "ubuntu", &["hello"], 1, &["jammy", "bookworm"]);
}

#[test]
fn conda_packages_are_refused_by_name() {
    let Some(w) = World::new("conda") else { return };
    let spec = write_spec(
        w.tmp.path(),
        "conda.yaml",
        &format!("base_image: {BASE}\ndebian_packages:\n  - hello\npython:\n  conda_packages:\n    - numpy\n"),
    );
    let lock_path = w.tmp.join("conda.lock");
    let r = w.lock(&spec, &lock_path, &[]).no();
    assert!(
        r.stderr.contains("numpy") && r.stderr.contains("conda"),
        "{r}"
    );
    assert_no_lock(&r, &lock_path);
}

#[test]
fn wheels_that_fit_no_build_of_the_base_are_refused_by_name() {
    let Some(w) = World::new("nowheel") else {
        return;
    };
    if !w.pip {
        return;
    }
    for (name, req) in [("cp312", "fastlib"), ("macos", "maconly")] {
        let spec = w.spec(name, &[], &[req]);
        let lock_path = w.tmp.join(format!("{name}.lock"));
        let r = w.lock(&spec, &lock_path, &[]).no();
        eprintln!("{r}");
        assert!(r.stderr.contains(req), "names {req}: {r}");
        assert!(r.stderr.contains("3.11"), "names the base's Python: {r}");
        assert_no_lock(&r, &lock_path);
    }
}

#[test]
fn an_archive_that_serves_other_bytes_than_it_signed_is_refused() {
    let Some(w) = World::new("tamper-repo") else {
        return;
    };
    // The deb in the pool altered after the index was signed: lock refuses it.
    let deb = w.repo.deb_file("libhello1");
    let mut bytes = fs::read(&deb).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    fs::write(&deb, &bytes).unwrap();
    let r = lock_refused(&w, "tampered", &["hello"], 1, &["libhello1", "altered"]);
    assert!(r.stderr.contains("sha256"), "{r}");
    assert!(
        !w.cache.join("sha256").exists()
            || fs::read_dir(w.cache.join("sha256")).unwrap().all(|e| {
                let p = e.unwrap().path();
                !p.ends_with(sha256_hex(&bytes))
            }),
        "the altered deb was cached"
    );
}

#[test]
fn build_refuses_tampered_truncated_or_missing_artifacts_and_stale_locks() {
    let Some(w) = World::new("tamper-build") else {
        return;
    };
    let spec = w.standard_spec();
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    let hello = w.cache_entry(&sha_of(&lock, "deb", "hello"));
    let original = fs::read(&hello).unwrap();
    // A first build imports the base; every refusal below leaves the store as it is then.
    w.build(&spec, &lock_path, &["--offline"]).ok();
    // `envc/checked/` records when envc last hashed a stored layer (a cache of checks, rewritten
    // when a record is too fresh to trust), not content.
    let content = || {
        let mut s = snapshot(&w.store);
        s.retain(|k, _| !k.starts_with("envc/checked/"));
        s
    };
    let store_before = content();
    let unchanged = |r: &Run| {
        assert_eq!(
            content(),
            store_before,
            "a refused build changed the store: {r}"
        );
    };
    let other_spec = w.spec(
        "other",
        &["hello", "libhello1"],
        &["six==1.16.0", "hello-cli"],
    );

    // Altered in the cache (same size): dropped, and --offline cannot fetch it again.
    let mut altered = original.clone();
    altered[10] ^= 1;
    fs::write(&hello, &altered).unwrap();
    let r = w.build(&other_spec, &lock_path, &[]).no();
    assert!(r.stderr.contains("stale"), "{r}");
    assert!(r.stderr.contains("+ debian: libhello1"), "{r}");
    unchanged(&r);
    let r = w.build(&spec, &lock_path, &["--offline"]).no();
    assert!(
        r.stderr.contains("deb hello 1.0-1"),
        "names the artifact: {r}"
    );
    assert!(r.stderr.contains("--offline"), "{r}");
    unchanged(&r);

    // Truncated (as by a kill during a copy by hand): refused offline, fetched again online.
    fs::write(&hello, &original[..original.len() / 2]).unwrap();
    let r = w.build(&spec, &lock_path, &["--offline"]).no();
    assert!(r.stderr.contains("deb hello 1.0-1"), "{r}");
    unchanged(&r);
    fs::write(&hello, &original[..original.len() / 2]).unwrap();
    let ok = line_of(&w.build(&spec, &lock_path, &[]).ok());
    assert!(ok.unchanged, "the same image again: {ok:?}");
    assert_eq!(
        fs::read(&hello).unwrap(),
        original,
        "fetched again into the cache"
    );

    // The archive serves other bytes than the lock says: refused, not cached.
    let pool = w.repo.deb_file("hello");
    let mut served = fs::read(&pool).unwrap();
    served[20] ^= 1;
    fs::write(&pool, &served).unwrap();
    fs::remove_file(&hello).unwrap();
    let r = w.build(&spec, &lock_path, &[]).no();
    assert!(
        r.stderr.contains("deb hello 1.0-1") && r.stderr.contains("altered"),
        "{r}"
    );
    assert!(!hello.exists(), "the altered deb was cached");
    unchanged(&r);

    // A lock of another base (the base rewritten: another digest) is stale.
    let mut edited = fs::read_to_string(&lock_path).unwrap();
    edited = edited.replace(&w.base_digest, &format!("sha256:{}", "0".repeat(64)));
    let stale_base = w.tmp.join("stale-base.lock");
    fs::write(&stale_base, edited).unwrap();
    let r = w.build(&spec, &stale_base, &["--offline"]).no();
    assert!(
        r.stderr.contains("~ base:") || r.stderr.contains("digest"),
        "{r}"
    );
    unchanged(&r);
}

#[test]
fn malformed_lockfiles_are_refused_with_file_line_and_column() {
    let Some(w) = World::new("malformed") else {
        return;
    };
    let spec = w.standard_spec();
    let bad = w.tmp.join("bad.lock");
    fs::write(&bad, "version = 1\n\n[inputs\ndigest = \"x\"\n").unwrap();
    let shown = bad.display().to_string();
    for r in [
        w.build(&spec, &bad, &["--offline"]),
        run(w.envc().arg("sbom").arg(&bad)),
        run(w.envc().arg("fetch").arg(&bad).arg("--cache").arg(&w.cache)),
        run(w
            .envc()
            .arg("lock")
            .arg(&spec)
            .arg("-o")
            .arg(&bad)
            .arg("--check")
            .arg("--store")
            .arg(&w.store)),
    ] {
        let r = r.no();
        assert!(
            r.stderr
                .contains(&format!("{shown}:3:8: invalid table header")),
            "file:line:col: {r}"
        );
    }
    // Well-formed TOML of the wrong shape: the field is named, at its place.
    fs::write(&bad, "version = 1\nextra = true\n").unwrap();
    let r = run(w.envc().arg("sbom").arg(&bad)).no();
    assert!(
        r.stderr
            .contains(&format!("{shown}:2:1: unknown field `extra`")),
        "{r}"
    );
    fs::write(&bad, "version = 1\n").unwrap();
    let r = run(w.envc().arg("sbom").arg(&bad)).no();
    assert!(r.stderr.contains("missing field `inputs`"), "{r}");
    // No lockfile at all: an I/O error (2) naming it.
    let missing = w.tmp.join("missing.lock");
    let r = w.build(&spec, &missing, &["--offline"]).code(2);
    assert!(r.stderr.contains("missing.lock"), "{r}");
    assert!(!w.store.exists(), "nothing was written: {r}");
    assert!(!w.cache.exists(), "nothing was written: {r}");
}

// ---------------------------------------------------------------------------------------------
// Determinism of the lock, upgrades of the base's own packages, concurrent fetches

#[test]
fn the_same_inputs_lock_to_the_same_bytes_and_the_base_is_not_locked_again() {
    let Some(w) = World::new("relock") else {
        return;
    };
    let spec = w.standard_spec();
    let one = w.tmp.join("one.lock");
    let two = w.tmp.join("two.lock");
    w.lock(&spec, &one, &[]).ok();
    // Another cache, another TZ, from a cold start: the same lockfile, byte for byte.
    run(w
        .envc()
        .arg("lock")
        .arg(&spec)
        .arg("--base")
        .arg(w.base_arg())
        .arg("-o")
        .arg(&two)
        .arg("--cache")
        .arg(w.tmp.join("other-cache"))
        .arg("--store")
        .arg(w.tmp.join("other-store"))
        .arg("--find-links")
        .arg(&w.wheels)
        .env("TZ", "America/St_Johns"))
    .ok();
    assert_eq!(
        fs::read_to_string(&one).unwrap(),
        fs::read_to_string(&two).unwrap(),
        "two locks of the same inputs"
    );
    // libc6 is in the base at the archive's version: nothing to lock (apt: already newest).
    let spec = w.spec("libc", &["libc6"], &[]);
    let lock_path = w.tmp.join("libc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    assert!(locked(&lock, "deb").is_empty(), "{lock}");
}

/// `pip install pip==23.0.1` in the base says "Requirement already satisfied"; the lock should
/// have nothing to install either, even where the package locations do not have that version.
#[test]
fn a_pip_requirement_the_base_already_meets_is_not_locked_again() {
    let Some(w) = World::new("pip-satisfied") else {
        return;
    };
    if !w.pip {
        return;
    }
    let spec = w.spec("satisfied", &[], &["pip==23.0.1"]);
    let lock_path = w.tmp.join("satisfied.lock");
    let r = w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    assert!(locked(&lock, "wheel").is_empty(), "{lock}: {r}");
}

#[test]
fn requested_upgrades_of_base_packages_replace_their_records() {
    let Some(mut w) = World::new("upgrade") else {
        return;
    };
    w.repo.debs.push(
        Deb::new("base-files", "12.4+deb12u6")
            .field("Essential", "yes")
            .file("./usr/lib/os-release", DEBIAN_12, 0o644),
    );
    w.repo.write(&w.gpg);
    wheel(
        &w.wheels,
        "pip",
        "24.0",
        "py3-none-any",
        &[("pip/__init__.py", "__version__ = \"24.0\"\n")],
        None,
    );
    let spec = w.spec("upgrade", &["base-files", "hello"], &["pip==24.0"]);
    let lock_path = w.tmp.join("upgrade.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    let base_files = lock["deb"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"].as_str() == Some("base-files"))
        .unwrap_or_else(|| panic!("base-files not locked: {lock}"));
    assert_eq!(base_files["version"].as_str(), Some("12.4+deb12u6"));
    assert_eq!(base_files["upgrades"].as_str(), Some("12.4+deb12u5"));
    if w.pip {
        let pip = lock["wheel"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"].as_str() == Some("pip"))
            .unwrap_or_else(|| panic!("pip not locked: {lock}"));
        assert_eq!(pip["version"].as_str(), Some("24.0"));
        assert_eq!(pip["upgrades"].as_str(), Some("23.0.1"));
    }
    let line = line_of(&w.build(&spec, &lock_path, &["--offline"]).ok());
    let layers = layers(&w.store, &line.digest);
    let merged: BTreeMap<String, Got> = layers
        .iter()
        .skip(1)
        .flatten()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let status = String::from_utf8_lossy(&merged["var/lib/dpkg/status"].data).into_owned();
    assert_eq!(
        status.matches("Package: base-files\n").count(),
        1,
        "one base-files stanza:\n{status}"
    );
    assert!(status.contains("Version: 12.4+deb12u6\n"), "{status}");
    assert!(!status.contains("Version: 12.4+deb12u5\n"), "{status}");
    let list =
        String::from_utf8_lossy(&merged["var/lib/dpkg/info/base-files.list"].data).into_owned();
    assert!(
        list.contains("/usr/share/doc/base-files/copyright"),
        "{list}"
    );
    if w.pip {
        assert!(
            merged.contains_key(&format!("{SITE}/.wh.pip-23.0.1.dist-info")),
            "the old dist-info is whited out: {:?}",
            merged
                .keys()
                .filter(|k| k.contains("pip"))
                .collect::<Vec<_>>()
        );
        assert!(merged.contains_key(&format!("{SITE}/pip-24.0.dist-info/METADATA")));
        let init = &merged[&format!("{SITE}/pip/__init__.py")];
        assert_eq!(
            String::from_utf8_lossy(&init.data),
            "__version__ = \"24.0\"\n"
        );
    }
}

#[test]
fn concurrent_fetches_into_one_cache_agree() {
    let Some(w) = World::new("concurrent") else {
        return;
    };
    let spec = w.standard_spec();
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let shared = w.tmp.join("shared-cache");
    let children: Vec<_> = (0..4)
        .map(|_| {
            w.envc()
                .arg("fetch")
                .arg(&lock_path)
                .arg("--cache")
                .arg(&shared)
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn envc fetch")
        })
        .collect();
    for c in children {
        let out = c.wait_with_output().expect("wait for envc fetch");
        from_output("envc fetch".into(), out).ok();
    }
    let lock = read_lock(&lock_path);
    for (table, name) in [("deb", "hello"), ("deb", "libhello1")] {
        let sha = sha_of(&lock, table, name);
        let bytes = fs::read(shared.join("sha256").join(&sha)).unwrap();
        assert_eq!(sha256_hex(&bytes), sha, "{name} in the shared cache");
    }
    let leftovers = fs::read_dir(shared.join("tmp")).map_or(0, |d| d.count());
    assert_eq!(leftovers, 0, "no temporary file is left in the cache");
}

/// With `--find-links` and no index URL, uv runs with `--no-index` (src/lock/pip): the lock's
/// recorded settings must not claim PyPI was consulted.
#[test]
fn a_find_links_only_lock_does_not_record_an_index_it_did_not_use() {
    let Some(w) = World::new("no-index") else {
        return;
    };
    if !w.pip {
        return;
    }
    let spec = w.spec("six", &[], &["six==1.16.0"]);
    let lock_path = w.tmp.join("six.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    let settings: Vec<&str> = lock["inputs"]["settings"]
        .as_array()
        .expect("settings")
        .iter()
        .filter_map(|s| s.as_str())
        .collect();
    assert!(
        settings.iter().any(|s| s.starts_with("pip find-links: ")),
        "{settings:?}"
    );
    assert!(
        !settings.iter().any(|s| s.contains("pypi.org")),
        "uv ran with --no-index, yet the lock records PyPI: {settings:?}"
    );
}

/// A lock edited by hand so an entry's artifact is another package version than the entry
/// says: the deb's own control fields must agree with the lock, or the image's dpkg database
/// and the revision's recorded versions would disagree.
#[test]
fn a_lock_entry_whose_artifact_is_another_version_is_refused() {
    let Some(mut w) = World::new("swapped") else {
        return;
    };
    let spec = w.spec("env", &["hello"], &[]);
    let one = w.tmp.join("one.lock");
    let two = w.tmp.join("two.lock");
    w.lock(&spec, &one, &[]).ok();
    w.repo.debs = standard_debs("1.1-1");
    w.repo.write(&w.gpg);
    w.lock(&spec, &two, &[]).ok();
    let (l1, l2) = (read_lock(&one), read_lock(&two));
    let field = |l: &toml::Value, k: &str| l["deb"][0][k].to_string();
    let mut text = fs::read_to_string(&one).unwrap();
    for k in ["url", "sha256", "size"] {
        text = text.replace(
            &format!("{k} = {}", field(&l1, k)),
            &format!("{k} = {}", field(&l2, k)),
        );
    }
    assert!(text.contains("version = \"1.0-1\"") && text.contains("hello_1.1-1_amd64.deb"));
    let swapped = w.tmp.join("swapped.lock");
    fs::write(&swapped, text).unwrap();
    let r = w.build(&spec, &swapped, &["--offline"]).no();
    eprintln!("{r}");
    assert!(
        r.stderr.contains("hello") && r.stderr.contains("1.0-1") && r.stderr.contains("1.1-1"),
        "names the package and both versions: {r}"
    );
    assert!(
        !w.store.join("index.json").exists() || {
            let list = w.store_run(&["list", "--format", "json"]).ok();
            !list.stdout.contains("locked-env")
        }
    );
}

/// The same for a wheel: an entry for six whose artifact is hello-cli's wheel.
#[test]
fn a_lock_entry_whose_wheel_is_another_distribution_is_refused() {
    let Some(w) = World::new("swapped-wheel") else {
        return;
    };
    if !w.pip {
        return;
    }
    let spec = w.spec("env", &[], &["six==1.16.0", "hello-cli"]);
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    let wheel_of = |name: &str| {
        lock["wheel"]
            .as_array()
            .unwrap()
            .iter()
            .find(|x| x["name"].as_str() == Some(name))
            .cloned()
            .unwrap_or_else(|| panic!("no wheel {name}: {lock}"))
    };
    let (six, cli) = (wheel_of("six"), wheel_of("hello-cli"));
    let mut text = fs::read_to_string(&lock_path).unwrap();
    for k in ["filename", "url", "sha256", "size"] {
        text = text.replacen(
            &format!("{k} = {}", six[k]),
            &format!("{k} = {}", cli[k]),
            1,
        );
    }
    let swapped = w.tmp.join("swapped.lock");
    fs::write(&swapped, &text).unwrap();
    let r = w.build(&spec, &swapped, &["--offline"]);
    eprintln!("{r}");
    let r = r.no();
    assert!(
        r.stderr.contains("six") && r.stderr.contains("hello"),
        "names the entry and what its file holds: {r}"
    );
}

/// A deb822 `.sources` file whose `Signed-By` names a binary keyring: that keyring verifies it,
/// and only that one (apt's rule): another key the base trusts globally does not.
#[test]
fn signed_by_restricts_a_source_to_its_keyring() {
    let Some(mut w) = World::new("signed-by") else {
        return;
    };
    let sources = format!(
        "# deb822\nTypes: deb\nURIs: {}\nSuites: bookworm\nComponents: main\nSigned-By: /usr/share/keyrings/test-archive.gpg\n",
        w.repo.uri()
    );
    let apt = vec![
        (
            "etc/apt/sources.list.d/test.sources".to_string(),
            sources.into_bytes(),
        ),
        (
            "usr/share/keyrings/test-archive.gpg".to_string(),
            w.gpg.public(ARCHIVE, false),
        ),
        (
            "etc/apt/trusted.gpg.d/stranger.gpg".to_string(),
            w.gpg.public(STRANGER, false),
        ),
    ];
    w.rebase_with(DEBIAN_12, apt);
    let spec = w.spec("env", &["hello"], &[]);
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    assert_eq!(
        lock["apt-source"][0]["keyring"].as_str(),
        Some("/usr/share/keyrings/test-archive.gpg"),
        "{lock}"
    );
    assert_eq!(locked(&lock, "deb").len(), 2, "{lock}");
    // Signed by the stranger, whom the base trusts for other sources: refused for this one.
    w.repo.signing = Signing::By(STRANGER.into());
    w.repo.write(&w.gpg);
    lock_refused(
        &w,
        "stranger",
        &["hello"],
        1,
        &["not verified", "/usr/share/keyrings/test-archive.gpg"],
    );
}

/// An expired Release (`Valid-Until` in the past) and a Packages index changed after it was
/// signed are refused, naming what is wrong.
#[test]
fn expired_releases_and_altered_indexes_are_refused() {
    let Some(mut w) = World::new("expired") else {
        return;
    };
    w.repo.extra_release = "Valid-Until: Sat, 17 Feb 2024 10:00:00 UTC\n".into();
    w.repo.write(&w.gpg);
    lock_refused(&w, "expired", &["hello"], 1, &["expired", "Valid-Until"]);
    w.repo.extra_release = String::new();
    w.repo.write(&w.gpg);
    let gz = w
        .repo
        .root
        .join("dists/bookworm/main/binary-amd64/Packages.gz");
    let mut bytes = fs::read(&gz).unwrap();
    bytes.extend_from_slice(b"\0");
    fs::write(&gz, bytes).unwrap();
    lock_refused(
        &w,
        "altered",
        &["hello"],
        1,
        &["Packages.gz", "signed Release"],
    );
}

/// A lock whose `inputs.digest` was edited by hand is stale for `--check`, saying so.
#[test]
fn a_hand_edited_inputs_digest_is_stale() {
    let Some(w) = World::new("edited") else {
        return;
    };
    let spec = w.spec("env", &["hello"], &[]);
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    let digest = lock["inputs"]["digest"].as_str().unwrap().to_string();
    let text = fs::read_to_string(&lock_path)
        .unwrap()
        .replace(&digest, &format!("sha256:{}", "1".repeat(64)));
    fs::write(&lock_path, text).unwrap();
    let r = w.lock(&spec, &lock_path, &["--check"]).no();
    assert!(r.stderr.contains("edited by hand"), "{r}");
}

/// `lock --check` without `--base` reads the base's digest from the store the lock imported it
/// into; SPDX's creation time is `SOURCE_DATE_EPOCH`; zstd layers are as reproducible.
#[test]
fn check_from_the_store_spdx_epoch_and_zstd_layers() {
    let Some(w) = World::new("misc") else {
        return;
    };
    let spec = w.spec("env", &["hello"], &["six==1.16.0"]);
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let r = run(w
        .envc()
        .arg("lock")
        .arg(&spec)
        .arg("-o")
        .arg(&lock_path)
        .arg("--store")
        .arg(&w.store)
        .arg("--find-links")
        .arg(&w.wheels)
        .arg("--check"))
    .ok();
    assert!(r.stderr.contains("is current"), "{r}");
    let spdx = run(w
        .envc()
        .arg("sbom")
        .arg(&lock_path)
        .args(["--format", "spdx"])
        .env("SOURCE_DATE_EPOCH", "86400"))
    .ok()
    .json();
    assert_eq!(
        spdx["creationInfo"]["created"].as_str(),
        Some("1970-01-02T00:00:00Z"),
        "{spdx}"
    );
    let zstd = |store: &Path| {
        line_of(
            &w.build_in(
                store,
                &w.cache,
                &spec,
                &lock_path,
                &["--offline", "--compression", "zstd"],
            )
            .ok(),
        )
    };
    let (a, b) = (zstd(&w.tmp.join("z1")), zstd(&w.tmp.join("z2")));
    assert_eq!(a.digest, b.digest);
    let layers = layers(&w.tmp.join("z1"), &a.digest);
    assert!(
        layers.iter().any(|l| l.contains_key("usr/bin/hello")),
        "the zstd deb layer has hello"
    );
}

/// A package the base removed but kept the conffiles of (`deinstall ok config-files`) is not
/// installed: it is locked, and its new stanza replaces the old one.
#[test]
fn a_removed_base_package_is_installed_again() {
    let Some(mut w) = World::new("config-files") else {
        return;
    };
    w.extra_status = "Package: hello\nStatus: deinstall ok config-files\nPriority: optional\nSection: misc\nInstalled-Size: 1\nMaintainer: Test <test@example.org>\nArchitecture: amd64\nVersion: 0.9-1\nConffiles:\n /etc/hello.conf 0123456789abcdef0123456789abcdef\nDescription: the hello test package\n".into();
    w.rebase(DEBIAN_12);
    let spec = w.spec("env", &["hello"], &[]);
    let lock_path = w.tmp.join("envc.lock");
    w.lock(&spec, &lock_path, &[]).ok();
    let lock = read_lock(&lock_path);
    let debs: Vec<String> = locked(&lock, "deb").into_iter().map(|d| d.0).collect();
    assert_eq!(debs, ["hello", "libhello1"], "{lock}");
    let line = line_of(&w.build(&spec, &lock_path, &["--offline"]).ok());
    let layers = layers(&w.store, &line.digest);
    let status = layers
        .iter()
        .skip(1)
        .find_map(|l| l.get("var/lib/dpkg/status"))
        .expect("a dpkg status in the deb layer");
    let status = String::from_utf8_lossy(&status.data).into_owned();
    assert_eq!(
        status.matches("Package: hello\n").count(),
        1,
        "one hello stanza:\n{status}"
    );
    assert!(
        status.contains("Package: hello\nStatus: install ok installed\n"),
        "{status}"
    );
    assert!(!status.contains("0.9-1"), "{status}");
}

/// SIGKILL at points spread over `envc lock`, `envc fetch` and `envc build --lock` (the store's
/// other writers are in tests/kill.rs): after each kill the lockfile is absent or whole (the one
/// a run to the end writes), every file in the cache holds its digest's bytes, the store
/// verifies, and running the command again to its end succeeds. `ENVC_KILLS / 10` kills (at
/// least 6).
#[test]
fn sigkill_during_lock_fetch_and_locked_build_leaves_nothing_partial() {
    let Some(w) = World::new("kill") else {
        return;
    };
    let spec = w.standard_spec();
    let good = w.tmp.join("good.lock");
    let started = Instant::now();
    w.lock(&spec, &good, &[]).ok();
    // How long each whole run takes: the kills are spread uniformly over it.
    let full = [started.elapsed(), Duration::ZERO, Duration::ZERO];
    let good_text = fs::read_to_string(&good).unwrap();
    let kills: u32 = std::env::var("ENVC_KILLS")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .map_or(6, |k| (k / 10).max(6));
    let mut full = full;
    let t = Instant::now();
    run(w
        .envc()
        .arg("fetch")
        .arg(&good)
        .arg("--cache")
        .arg(w.tmp.join("c0")))
    .ok();
    full[1] = t.elapsed();
    let t = Instant::now();
    w.build(&spec, &good, &[]).ok();
    full[2] = t.elapsed();
    let mut cut = 0;
    for i in 0..kills {
        let kind = (i % 3) as usize;
        let delay = full[kind].mul_f64(f64::from((i * 37 + 11) % 100) / 100.0);
        let lock_path = w.tmp.join(format!("k{i}.lock"));
        let cache = w.tmp.join(format!("cache-{}", i % 2));
        let mut cmd = match kind {
            0 => w.lock_command(&spec, &lock_path, &cache),
            1 => {
                let mut c = w.envc();
                c.arg("fetch").arg(&good).arg("--cache").arg(&cache);
                c
            }
            _ => w.build_command(&w.store, &cache, &spec, &good),
        };
        let mut child = cmd
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn envc");
        std::thread::sleep(delay);
        if child.try_wait().unwrap().is_none() {
            cut += 1;
        }
        let _ = child.kill();
        let out = child.wait_with_output().unwrap();
        let what = format!("kill #{i} of {cmd:?} after {delay:?}");
        assert!(
            !String::from_utf8_lossy(&out.stderr).contains("panicked"),
            "{what}"
        );
        if let Ok(text) = fs::read_to_string(&lock_path) {
            assert_eq!(text, good_text, "{what}: a partial lockfile");
        }
        for entry in fs::read_dir(cache.join("sha256")).into_iter().flatten() {
            let entry = entry.unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            let bytes = fs::read(entry.path()).unwrap();
            assert_eq!(sha256_hex(&bytes), name, "{what}: a partial artifact");
        }
        if w.store.join("index.json").exists() {
            w.store_run(&["verify"]).ok();
        }
    }
    // Each command, run again to its end, succeeds over what the kills left.
    w.lock(&spec, &w.tmp.join("again.lock"), &[]).ok();
    run(w
        .envc()
        .arg("fetch")
        .arg(&good)
        .arg("--cache")
        .arg(w.tmp.join("cache-0")))
    .ok();
    w.build(&spec, &good, &[]).ok();
    w.store_run(&["verify"]).ok();
    w.store_run(&["gc"]).ok();
    assert_eq!(
        fs::read_dir(w.store.join("envc/tmp")).map_or(0, |d| d.count()),
        0,
        "gc leaves no temp file"
    );
    eprintln!("lock kills: {kills} runs, {cut} cut short, 0 failed verifies");
}
