//! Helpers shared by the store and real-tool tests (`tests/store.rs`, `tests/oci_tools.rs`):
//! temporary directories, running envc, the busybox base image, reading a store's layout.
#![allow(dead_code)]

pub mod engine;
pub mod registry;
pub mod serve;

use serde_json::Value;
use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// The crate's root.
pub fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A fixture under `fixtures/oci/`.
pub fn fixture(name: &str) -> PathBuf {
    root().join("fixtures/oci").join(name)
}

/// A directory under `target/tmp`, removed on drop unless `ENVC_KEEP_TMP` is set.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(label: &str) -> TempDir {
        static COUNTER: AtomicUsize = AtomicUsize::new(0);
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join("envc-store-tests")
            .join(format!("{label}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn join(&self, p: impl AsRef<Path>) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("ENVC_KEEP_TMP").is_none() {
            let _ = fs::remove_dir_all(&self.0);
        }
    }
}

/// The envc binary with a clean environment: no `ENVC_STORE`, no `SOURCE_DATE_EPOCH`, no colour.
pub fn envc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_envc"));
    c.env_remove("ENVC_STORE")
        .env_remove("SOURCE_DATE_EPOCH")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// What a finished command printed.
pub struct Run {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Run {
    pub fn ok(self) -> Run {
        assert_eq!(self.code, Some(0), "{self}");
        self.no_panic()
    }

    pub fn no(self) -> Run {
        assert_eq!(self.code, Some(1), "expected exit 1: {self}");
        self.no_panic()
    }

    pub fn code(self, code: i32) -> Run {
        assert_eq!(self.code, Some(code), "expected exit {code}: {self}");
        self.no_panic()
    }

    pub fn no_panic(self) -> Run {
        assert!(
            !self.stderr.contains("panicked") && !self.stdout.contains("panicked"),
            "panic: {self}"
        );
        self
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {self}"))
    }
}

impl std::fmt::Display for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "`{}` exited {:?}\n--- stdout\n{}--- stderr\n{}",
            self.what, self.code, self.stdout, self.stderr
        )
    }
}

fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    if s.ends_with("/envc") {
        s = "envc".into();
    }
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

pub fn from_output(what: String, out: Output) -> Run {
    Run {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        what,
    }
}

/// Runs a command to completion.
pub fn run(cmd: &mut Command) -> Run {
    let what = describe(cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run `{what}`: {e}"));
    from_output(what, out)
}

/// `envc ARGS…`
pub fn envc_run<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run(envc().args(args))
}

/// `envc build SPEC --name NAME --store STORE [extra…]`.
pub fn build(store: &Path, spec: &Path, name: &str, extra: &[&OsStr]) -> Run {
    run(envc()
        .arg("build")
        .arg(spec)
        .args(["--name", name])
        .arg("--store")
        .arg(store)
        .args(extra))
}

/// A build's (or rollback's) output line: `NAME:REV sha256:HEX[ unchanged]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub name: String,
    pub rev: u32,
    pub digest: String,
    pub unchanged: bool,
}

impl Line {
    pub fn reference(&self) -> String {
        format!("{}:{}", self.name, self.rev)
    }

    pub fn hex(&self) -> &str {
        self.digest.strip_prefix("sha256:").unwrap_or(&self.digest)
    }
}

/// Parses the one line `build`/`rollback` print; None if it is not there (yet).
pub fn parse_line(stdout: &str) -> Option<Line> {
    let line = stdout.lines().find(|l| !l.trim().is_empty())?;
    let mut words = line.split_whitespace();
    let reference = words.next()?;
    let digest = words.next()?;
    let unchanged = match words.next() {
        None => false,
        Some("unchanged") => true,
        Some(_) => return None,
    };
    if words.next().is_some() {
        return None;
    }
    let (name, rev) = reference.rsplit_once(':')?;
    let hex = digest.strip_prefix("sha256:")?;
    if hex.len() != 64
        || !hex
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    {
        return None;
    }
    Some(Line {
        name: name.to_string(),
        rev: rev.parse().ok()?,
        digest: digest.to_string(),
        unchanged,
    })
}

/// Parses a successful build/rollback's output, failing the test with the output otherwise.
pub fn line_of(r: &Run) -> Line {
    parse_line(&r.stdout)
        .unwrap_or_else(|| panic!("stdout is not `NAME:REV sha256:HEX[ unchanged]`: {r}"))
}

/// Writes a spec file.
pub fn write_spec(dir: &Path, file: &str, text: &str) -> PathBuf {
    let p = dir.join(file);
    fs::write(&p, text).expect("write spec");
    p
}

/// A BYOD spec on `localhost/busybox:1` with these env vars (YAML values written as given).
pub fn byod_spec(env: &[(&str, &str)]) -> String {
    let mut s =
        String::from("docker_image: localhost/busybox:1\nray_version: \"2.9.0\"\nenv_vars:\n");
    for (k, v) in env {
        s.push_str(&format!("  {k}: {v}\n"));
    }
    s
}

/// `tests/support/busybox-base.sh [--big MB] DIR` into a shared cache under `target/tmp`
/// (built once, then reused; the script is idempotent and serialises concurrent callers).
/// Returns the layout directory; `DIR.tar` is its oci-archive. None (with the reason) when
/// umoci or busybox-static is missing.
pub fn busybox_base(big_mb: Option<u32>) -> Result<PathBuf, String> {
    for tool in ["umoci", "tar"] {
        if !have(tool) {
            return Err(format!(
                "`{tool}` not found (apt-get install umoci busybox-static)"
            ));
        }
    }
    if !Path::new("/bin/busybox").is_file() {
        return Err("/bin/busybox not found (apt-get install busybox-static)".into());
    }
    let cache = Path::new(env!("CARGO_TARGET_TMPDIR")).join("envc-bases");
    fs::create_dir_all(&cache).expect("create base cache");
    let dir = match big_mb {
        Some(mb) => cache.join(format!("busybox-big{mb}")),
        None => cache.join("busybox"),
    };
    let mut cmd = Command::new("bash");
    cmd.arg(root().join("tests/support/busybox-base.sh"));
    if let Some(mb) = big_mb {
        cmd.args(["--big", &mb.to_string()]);
    }
    cmd.arg(&dir);
    let r = run(&mut cmd);
    assert_eq!(r.code, Some(0), "busybox-base.sh failed: {r}");
    Ok(dir)
}

/// Whether a program is on PATH (or is an absolute path that exists).
pub fn have(program: &str) -> bool {
    if program.contains('/') {
        return Path::new(program).is_file();
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")])
        .any(|d| d.join(program).is_file())
}

/// The store's `index.json`, parsed.
pub fn index_json(store: &Path) -> Value {
    let bytes = fs::read(store.join("index.json")).expect("read index.json");
    serde_json::from_slice(&bytes).expect("index.json is JSON")
}

/// Every manifest blob that index.json reaches, with its config and layers (sha256 hex).
pub fn reachable_blobs(store: &Path) -> BTreeSet<String> {
    fn walk(store: &Path, desc: &Value, out: &mut BTreeSet<String>) {
        let Some(digest) = desc["digest"].as_str() else {
            return;
        };
        let hex = digest.strip_prefix("sha256:").unwrap().to_string();
        if !out.insert(hex) {
            return;
        }
        let media = desc["mediaType"].as_str().unwrap_or("");
        if media.contains("manifest") || media.contains("index") {
            let doc = read_json_blob(store, digest);
            if let Some(c) = doc.get("config") {
                walk(store, c, out);
            }
            for key in ["layers", "manifests"] {
                for d in doc[key].as_array().into_iter().flatten() {
                    walk(store, d, out);
                }
            }
        }
    }
    let mut out = BTreeSet::new();
    for d in index_json(store)["manifests"]
        .as_array()
        .into_iter()
        .flatten()
    {
        walk(store, d, &mut out);
    }
    out
}

/// The manifest descriptors of `index.json` tagged `reference`.
pub fn index_entries(store: &Path, reference: &str) -> Vec<Value> {
    index_json(store)["manifests"]
        .as_array()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .filter(|m| m["annotations"]["org.opencontainers.image.ref.name"] == reference)
        .collect()
}

/// The names of the files in `blobs/sha256/`.
pub fn blob_names(store: &Path) -> BTreeSet<String> {
    let dir = store.join("blobs/sha256");
    match fs::read_dir(&dir) {
        Ok(entries) => entries
            .map(|e| {
                e.expect("read blobs dir")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect(),
        Err(_) => BTreeSet::new(),
    }
}

/// A JSON blob of a layout, by digest (`sha256:HEX` or HEX).
pub fn read_json_blob(layout: &Path, digest: &str) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let bytes = fs::read(layout.join("blobs/sha256").join(hex))
        .unwrap_or_else(|e| panic!("read blob {digest} in {}: {e}", layout.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("blob {digest} is not JSON: {e}"))
}

/// Copies a directory tree (files and directories only; symlinks copied as links).
pub fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("create copy target");
    for entry in fs::read_dir(from).expect("read dir to copy") {
        let entry = entry.expect("dir entry");
        let ty = entry.file_type().expect("file type");
        let dest = to.join(entry.file_name());
        if ty.is_dir() {
            copy_tree(&entry.path(), &dest);
        } else if ty.is_symlink() {
            let target = fs::read_link(entry.path()).expect("read link");
            std::os::unix::fs::symlink(target, dest).expect("copy symlink");
        } else {
            fs::copy(entry.path(), &dest).expect("copy file");
        }
    }
}

/// podman with its own config and storage under `dir` (runc, cgroupfs, ulimits this machine
/// allows: real-engines.md).
pub fn podman(dir: &Path) -> Command {
    std::fs::create_dir_all(dir).expect("podman dir");
    let conf = dir.join("containers.conf");
    let storage = dir.join("storage.conf");
    std::fs::write(
        &conf,
        "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=4096:4096\"]\n\n\
         [engine]\nruntime = \"runc\"\ncgroup_manager = \"cgroupfs\"\nevents_logger = \"file\"\n",
    )
    .expect("write containers.conf");
    std::fs::write(
        &storage,
        format!(
            "[storage]\ndriver = \"overlay\"\ngraphroot = \"{}\"\nrunroot = \"{}\"\n",
            dir.join("root").display(),
            dir.join("run").display()
        ),
    )
    .expect("write storage.conf");
    let mut c = Command::new("podman");
    c.env("CONTAINERS_CONF", conf)
        .env("CONTAINERS_STORAGE_CONF", storage);
    c
}

/// The tree of Ray's own exclusion tests (runtime-env.md, "Exclusion cases worth testing").
pub const RAY_EXCLUSION_TREE: &[&str] = &[
    "test1",
    "test2",
    "test3",
    "tmp_dir/test_1",
    "tmp_dir/test_2",
    "tmp_dir/test_3",
    "tmp_dir/sub_dir/test_1",
    "tmp_dir/sub_dir/test_2",
    "cache/test_1",
    "tmp_dir/cache/test_1",
    "another_dir/cache/test_1",
];

/// Runs `tests/support/SCRIPT FILE` and reads its JSON report; `None` (after printing why) when
/// the script says a tool it needs is not installed (exit 2) or python3 cannot run.
pub fn support_json(script: &str, file: &Path) -> Option<Value> {
    let out = match Command::new("python3")
        .arg(root().join("tests/support").join(script))
        .arg(file)
        .output()
    {
        Ok(o) if o.status.code() == Some(2) => {
            eprintln!("skipping: {}", String::from_utf8_lossy(&o.stderr).trim());
            return None;
        }
        Ok(o) => o,
        Err(e) => {
            eprintln!("skipping: python3 not runnable: {e}");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).unwrap())
}
