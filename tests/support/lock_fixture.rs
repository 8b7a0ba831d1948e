//! Fixtures for `tests/lock.rs`, made by the test with no network and no engine: a Debian
//! bookworm base image written by hand as an OCI layout (merged /usr, dpkg database, apt sources
//! and keyring, a venv-style Python owned by 1000:100), a clear-signed apt repository of
//! hand-built debs (`ar` + tar + gzip) signed with keys made by `gpg` in a temporary GNUPGHOME,
//! wheels for a `--find-links` directory, and a reader of a store's image layers.
#![allow(dead_code)]

use sha2::{Digest as _, Sha256};
use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(bytes).expect("gzip");
    gz.finish().expect("gzip finish")
}

// ---------------------------------------------------------------------------------------------
// gpg

/// A GNUPGHOME of its own (under /tmp: gpg-agent's socket path must be short), whose agent is
/// stopped on drop.
pub struct Gpg {
    home: tempfile::TempDir,
}

impl Gpg {
    /// None (with the reason) when gpg cannot run here.
    pub fn new() -> Result<Gpg, String> {
        let home = tempfile::Builder::new()
            .prefix("envc-gpg-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("cannot make a GNUPGHOME: {e}"))?;
        let gpg = Gpg { home };
        match gpg.cmd().arg("--version").output() {
            Ok(o) if o.status.success() => Ok(gpg),
            Ok(o) => Err(format!(
                "`gpg --version` failed: {}",
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => Err(format!("gpg is not installed ({e}): apt-get install gnupg")),
        }
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("gpg");
        c.env("GNUPGHOME", self.home.path())
            .args([
                "--batch",
                "--quiet",
                "--no-tty",
                "--pinentry-mode",
                "loopback",
            ])
            .args(["--passphrase", ""]);
        c
    }

    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Vec<u8> {
        let mut c = self.cmd();
        c.args(args)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = c.spawn().expect("spawn gpg");
        if let (Some(input), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(input).expect("write to gpg");
        }
        let out = child.wait_with_output().expect("wait for gpg");
        assert!(
            out.status.success(),
            "gpg {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }

    /// Makes an ed25519 signing key for `email`; it is then named by `email`.
    pub fn key(&self, email: &str) {
        self.run(
            &[
                "--quick-gen-key",
                &format!("Test Archive <{email}>"),
                "ed25519",
                "sign",
                "never",
            ],
            None,
        );
    }

    /// The public key of `email`, ASCII-armoured (an `.asc` keyring) or binary (`.gpg`).
    pub fn public(&self, email: &str, armor: bool) -> Vec<u8> {
        let mut args = vec!["--export"];
        if armor {
            args.insert(0, "--armor");
        }
        args.push(email);
        let out = self.run(&args, None);
        assert!(!out.is_empty(), "gpg exported no key for {email}");
        out
    }

    /// `text` clear-signed by `email` (an InRelease).
    pub fn clearsign(&self, email: &str, text: &str) -> Vec<u8> {
        self.run(
            &[
                "--digest-algo",
                "SHA512",
                "--local-user",
                email,
                "--clearsign",
            ],
            Some(text.as_bytes()),
        )
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .env("GNUPGHOME", self.home.path())
            .args(["--kill", "gpg-agent"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

// ---------------------------------------------------------------------------------------------
// tar

/// One tar entry of a fixture (a base layer, a deb's data or control archive).
#[derive(Debug, Clone)]
pub enum T {
    Dir(String, u32, u32, u32),
    File(String, Vec<u8>, u32, u32, u32),
    Link(&'static str, &'static str),
}

pub fn dir(path: &str, mode: u32, uid: u32, gid: u32) -> T {
    T::Dir(path.to_string(), mode, uid, gid)
}

pub fn file(path: &str, data: impl Into<Vec<u8>>, mode: u32) -> T {
    T::File(path.to_string(), data.into(), mode, 0, 0)
}

pub fn tar(entries: &[T], mtime: u64) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for e in entries {
        let mut h = tar::Header::new_gnu();
        h.set_mtime(mtime);
        match e {
            T::Dir(p, mode, uid, gid) => {
                h.set_entry_type(tar::EntryType::Directory);
                h.set_mode(*mode);
                h.set_uid(u64::from(*uid));
                h.set_gid(u64::from(*gid));
                h.set_size(0);
                let p = if p.ends_with('/') {
                    p.to_string()
                } else {
                    format!("{p}/")
                };
                b.append_data(&mut h, p, std::io::empty()).expect("tar dir");
            }
            T::File(p, data, mode, uid, gid) => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_mode(*mode);
                h.set_uid(u64::from(*uid));
                h.set_gid(u64::from(*gid));
                h.set_size(data.len() as u64);
                b.append_data(&mut h, p, &data[..]).expect("tar file");
            }
            T::Link(p, target) => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_mode(0o777);
                h.set_uid(0);
                h.set_gid(0);
                h.set_size(0);
                b.append_link(&mut h, p, target).expect("tar symlink");
            }
        }
    }
    b.into_inner().expect("tar finish")
}

// ---------------------------------------------------------------------------------------------
// The base image

/// What varies between the bases the tests use.
pub struct BaseSpec {
    /// `/usr/lib/os-release`.
    pub os_release: String,
    /// apt's sources and keyrings: (path below `etc/apt/` or `usr/share/keyrings/`, bytes),
    /// e.g. `etc/apt/sources.list` and `etc/apt/trusted.gpg.d/test.asc`.
    pub apt: Vec<(String, Vec<u8>)>,
    /// Stanzas appended to [`BASE_STATUS`] (after a blank line), e.g. a removed package.
    pub extra_status: String,
}

pub const DEBIAN_12: &str = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\nVERSION_CODENAME=bookworm\nID=debian\n";
pub const UBUNTU_2204: &str = "PRETTY_NAME=\"Ubuntu 22.04.4 LTS\"\nNAME=\"Ubuntu\"\nVERSION_ID=\"22.04\"\nVERSION=\"22.04.4 LTS (Jammy Jellyfish)\"\nVERSION_CODENAME=jammy\nID=ubuntu\nID_LIKE=debian\nUBUNTU_CODENAME=jammy\n";

pub const BASE_STATUS: &str = "Package: base-files\nEssential: yes\nStatus: install ok installed\nPriority: required\nSection: admin\nInstalled-Size: 392\nMaintainer: Santiago Vila <sanvila@debian.org>\nArchitecture: amd64\nVersion: 12.4+deb12u5\nReplaces: base\nProvides: base\nDescription: Debian base system miscellaneous files\n\n\
Package: libc6\nStatus: install ok installed\nPriority: optional\nSection: libs\nInstalled-Size: 12986\nMaintainer: GNU Libc Maintainers <debian-glibc@lists.debian.org>\nArchitecture: amd64\nMulti-Arch: same\nSource: glibc\nVersion: 2.36-9+deb12u4\nDepends: libgcc-s1\nDescription: GNU C Library: Shared libraries\n";

pub const SITE: &str = "home/ray/anaconda3/lib/python3.11/site-packages";
pub const PYTHON: &str = "/home/ray/anaconda3/bin/python3";

/// The base's single layer (uncompressed tar).
pub fn base_layer(spec: &BaseSpec) -> Vec<u8> {
    let pip_meta = "Metadata-Version: 2.1\nName: pip\nVersion: 23.0.1\nSummary: The PyPA recommended tool for installing Python packages.\n\n";
    let pip_record = "pip/__init__.py,sha256=5yroedzc2dKKbcynDrHX8vBoLxqU27KmFvvHmdqQN9w,357\npip-23.0.1.dist-info/METADATA,,\npip-23.0.1.dist-info/RECORD,,\n";
    let ray = |p: &str| dir(p, 0o755, 1000, 100);
    let rayf = |p: &str, data: &str, mode: u32| {
        T::File(p.to_string(), data.as_bytes().to_vec(), mode, 1000, 100)
    };
    let entries = vec![
        T::Link("bin", "usr/bin"),
        dir("etc", 0o755, 0, 0),
        dir("etc/apt", 0o755, 0, 0),
        dir("etc/apt/sources.list.d", 0o755, 0, 0),
        dir("etc/apt/trusted.gpg.d", 0o755, 0, 0),
        T::Link("etc/os-release", "../usr/lib/os-release"),
        dir("home", 0o755, 0, 0),
        ray("home/ray"),
        ray("home/ray/anaconda3"),
        ray("home/ray/anaconda3/bin"),
        rayf(
            "home/ray/anaconda3/bin/python3",
            "#!/bin/sh\n# not a real interpreter\n",
            0o755,
        ),
        ray("home/ray/anaconda3/lib"),
        ray("home/ray/anaconda3/lib/python3.11"),
        ray(SITE_STATIC),
        ray(PIP_DIST_INFO),
        rayf(&format!("{PIP_DIST_INFO}/METADATA"), pip_meta, 0o644),
        rayf(&format!("{PIP_DIST_INFO}/RECORD"), pip_record, 0o644),
        rayf(
            "home/ray/anaconda3/pyvenv.cfg",
            "home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.11.2\n",
            0o644,
        ),
        T::Link("lib", "usr/lib"),
        dir("usr", 0o755, 0, 0),
        dir("usr/bin", 0o755, 0, 0),
        file("usr/bin/sh", "#!busybox\n", 0o755),
        dir("usr/lib", 0o755, 0, 0),
        file("usr/lib/os-release", spec.os_release.clone(), 0o644),
        dir("usr/lib/x86_64-linux-gnu", 0o755, 0, 0),
        file("usr/lib/x86_64-linux-gnu/libc.so.6", "ELF-ish", 0o755),
        dir("usr/share", 0o755, 0, 0),
        dir("usr/share/doc", 0o755, 0, 0),
        dir("usr/share/keyrings", 0o755, 0, 0),
        dir("var", 0o755, 0, 0),
        dir("var/lib", 0o755, 0, 0),
        dir("var/lib/dpkg", 0o755, 0, 0),
        dir("var/lib/dpkg/info", 0o755, 0, 0),
        file(
            "var/lib/dpkg/info/base-files.list",
            "/.\n/etc\n/usr\n/usr/lib\n/usr/lib/os-release\n",
            0o644,
        ),
        file(
            "var/lib/dpkg/info/libc6:amd64.list",
            "/.\n/usr\n/usr/lib\n/usr/lib/x86_64-linux-gnu\n/usr/lib/x86_64-linux-gnu/libc.so.6\n",
            0o644,
        ),
        file(
            "var/lib/dpkg/status",
            if spec.extra_status.is_empty() {
                BASE_STATUS.to_string()
            } else {
                format!("{BASE_STATUS}\n{}", spec.extra_status)
            },
            0o644,
        ),
    ];
    let mut entries = entries;
    for (path, bytes) in &spec.apt {
        entries.push(file(path, bytes.clone(), 0o644));
    }
    tar(&entries, 1_700_000_000)
}

const SITE_STATIC: &str = "home/ray/anaconda3/lib/python3.11/site-packages";
const PIP_DIST_INFO: &str = "home/ray/anaconda3/lib/python3.11/site-packages/pip-23.0.1.dist-info";

fn write_blob(layout: &Path, bytes: &[u8]) -> String {
    let hex = sha256_hex(bytes);
    let dir = layout.join("blobs/sha256");
    fs::create_dir_all(&dir).expect("blobs dir");
    fs::write(dir.join(&hex), bytes).expect("write blob");
    format!("sha256:{hex}")
}

/// Writes the base as an OCI layout at `layout` (one gzip layer, tagged `1`); returns its
/// manifest digest.
pub fn write_base(layout: &Path, spec: &BaseSpec) -> String {
    let _ = fs::remove_dir_all(layout);
    fs::create_dir_all(layout).expect("layout dir");
    let tar = base_layer(spec);
    let diff_id = format!("sha256:{}", sha256_hex(&tar));
    let gz = gzip(&tar);
    let layer = write_blob(layout, &gz);
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "config": {
            "Env": ["PATH=/home/ray/anaconda3/bin:/usr/bin:/bin", "LANG=C.UTF-8"],
            "Cmd": ["/bin/sh"],
        },
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": "envc test fixture: the base"}],
    });
    let config_bytes = serde_json::to_vec(&config).expect("config json");
    let config_digest = write_blob(layout, &config_bytes);
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            "digest": config_digest,
            "size": config_bytes.len(),
        },
        "layers": [{
            "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
            "digest": layer,
            "size": gz.len(),
        }],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest json");
    let manifest_digest = write_blob(layout, &manifest_bytes);
    let index = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": manifest_digest,
            "size": manifest_bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "1"},
        }],
    });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index json"),
    )
    .expect("write index.json");
    fs::write(
        layout.join("oci-layout"),
        br#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("write oci-layout");
    manifest_digest
}

// ---------------------------------------------------------------------------------------------
// Debs and the apt repository

/// One deb of the repository.
#[derive(Debug, Clone)]
pub struct Deb {
    pub name: String,
    pub version: String,
    pub arch: String,
    /// Further control fields, in order (`Depends`, `Multi-Arch`, `Conflicts`).
    pub fields: Vec<(String, String)>,
    /// data.tar files: path as dpkg-deb writes it (`./usr/bin/hello`), bytes, mode.
    pub files: Vec<(String, Vec<u8>, u32)>,
    /// control.tar members beside `control` and `md5sums` (`conffiles`, `postinst`, `triggers`).
    pub control_files: Vec<(String, Vec<u8>, u32)>,
}

impl Deb {
    pub fn new(name: &str, version: &str) -> Deb {
        Deb {
            name: name.into(),
            version: version.into(),
            arch: "amd64".into(),
            fields: Vec::new(),
            files: vec![(
                format!("./usr/share/doc/{name}/copyright"),
                format!("{name} is in the public domain.\n").into_bytes(),
                0o644,
            )],
            control_files: Vec::new(),
        }
    }

    pub fn control_file(mut self, name: &str, data: &str, mode: u32) -> Deb {
        self.control_files
            .push((name.into(), data.as_bytes().to_vec(), mode));
        self
    }

    pub fn field(mut self, k: &str, v: &str) -> Deb {
        self.fields.push((k.into(), v.into()));
        self
    }

    pub fn file(mut self, path: &str, data: &str, mode: u32) -> Deb {
        self.files
            .push((path.into(), data.as_bytes().to_vec(), mode));
        self
    }

    pub fn control(&self) -> String {
        let mut s = format!(
            "Package: {}\nVersion: {}\nArchitecture: {}\nMaintainer: Test <test@example.org>\nInstalled-Size: 1\n",
            self.name, self.version, self.arch
        );
        for (k, v) in &self.fields {
            s.push_str(&format!("{k}: {v}\n"));
        }
        s.push_str("Section: misc\nPriority: optional\n");
        s.push_str(&format!(
            "Description: the {} test package\n made by tests/support/lock_fixture.rs.\n",
            self.name
        ));
        s
    }

    /// The .deb: `debian-binary`, `control.tar.gz` (control, md5sums), `data.tar.gz`.
    pub fn build(&self) -> Vec<u8> {
        use md5::Digest as _;
        let mut dirs: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
        for (p, _, _) in &self.files {
            let mut cur = String::new();
            let parts: Vec<&str> = p.trim_start_matches("./").split('/').collect();
            for part in &parts[..parts.len() - 1] {
                cur.push_str(part);
                cur.push('/');
                dirs.insert(cur.clone());
            }
        }
        // dpkg-deb's order: every directory before what is in it.
        let mut data_entries: Vec<T> = vec![dir("./", 0o755, 0, 0)];
        data_entries.extend(
            dirs.iter()
                .map(|d| T::Dir(format!("./{d}"), 0o755, 0, 0))
                .chain(
                    self.files
                        .iter()
                        .map(|(p, data, mode)| T::File(p.clone(), data.clone(), *mode, 0, 0)),
                ),
        );
        let path_of = |t: &T| match t {
            T::Dir(p, ..) | T::File(p, ..) => p.clone(),
            T::Link(p, _) => p.to_string(),
        };
        data_entries.sort_by_key(path_of);
        let md5sums: String = self
            .files
            .iter()
            .map(|(p, data, _)| {
                let d = md5::Md5::digest(data);
                let hex: String = d.iter().map(|b| format!("{b:02x}")).collect();
                format!("{hex}  {}\n", p.trim_start_matches("./"))
            })
            .collect();
        let mut control = vec![
            dir("./", 0o755, 0, 0),
            file("./control", self.control(), 0o644),
            file("./md5sums", md5sums, 0o644),
        ];
        for (name, data, mode) in &self.control_files {
            control.push(file(&format!("./{name}"), data.clone(), *mode));
        }
        let control = tar(&control, 1_700_000_000);
        let data = tar(&data_entries, 1_700_000_000);
        let mut ar = ar::Builder::new(Vec::new());
        for (name, bytes) in [
            ("debian-binary", b"2.0\n".to_vec()),
            ("control.tar.gz", gzip(&control)),
            ("data.tar.gz", gzip(&data)),
        ] {
            let mut h = ar::Header::new(name.as_bytes().to_vec(), bytes.len() as u64);
            h.set_mode(0o100644);
            h.set_mtime(1_700_000_000);
            ar.append(&h, &bytes[..]).expect("ar member");
        }
        ar.into_inner().expect("ar finish")
    }

    pub fn pool_path(&self) -> String {
        let initial = &self.name[..1];
        format!(
            "pool/main/{initial}/{}/{}_{}_{}.deb",
            self.name,
            self.name,
            self.version.replace(':', "%3a"),
            self.arch
        )
    }
}

/// How the repository's InRelease is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signing {
    /// Clear-signed by the key of this email.
    By(String),
    /// The Release text itself, unsigned, as InRelease.
    Unsigned,
    /// The signed message with its signature block cut off.
    Stripped(String),
    /// No InRelease at all, only Release (and no Release.gpg).
    ReleaseOnly,
}

/// An apt repository at `root` (`deb file://ROOT bookworm main`).
pub struct Repo {
    pub root: PathBuf,
    pub origin: String,
    pub codename: String,
    pub debs: Vec<Deb>,
    pub signing: Signing,
    /// More Release fields (`Valid-Until: …\n`).
    pub extra_release: String,
}

impl Repo {
    pub fn uri(&self) -> String {
        format!("file://{}", self.root.display())
    }

    pub fn sources_list(&self) -> String {
        format!(
            "# the test's archive\ndeb {} {} main\n",
            self.uri(),
            self.codename
        )
    }

    /// (Re)writes the repository: pool, Packages (+ .gz), Release, InRelease.
    pub fn write(&self, gpg: &Gpg) {
        let _ = fs::remove_dir_all(&self.root);
        let mut packages = String::new();
        for deb in &self.debs {
            let bytes = deb.build();
            let path = self.root.join(deb.pool_path());
            fs::create_dir_all(path.parent().expect("pool dir")).expect("pool dir");
            fs::write(&path, &bytes).expect("write deb");
            if !packages.is_empty() {
                packages.push('\n');
            }
            packages.push_str(&deb.control());
            packages.push_str(&format!(
                "Filename: {}\nSize: {}\nSHA256: {}\n",
                deb.pool_path(),
                bytes.len(),
                sha256_hex(&bytes)
            ));
        }
        let dists = self.root.join("dists").join(&self.codename);
        let bin = dists.join("main/binary-amd64");
        fs::create_dir_all(&bin).expect("binary-amd64 dir");
        let gz = gzip(packages.as_bytes());
        fs::write(bin.join("Packages"), &packages).expect("Packages");
        fs::write(bin.join("Packages.gz"), &gz).expect("Packages.gz");
        let mut release = format!(
            "Origin: {o}\nLabel: {o}\nSuite: stable\nVersion: 12.5\nCodename: {c}\n\
             Date: Sat, 10 Feb 2024 10:00:00 UTC\nArchitectures: amd64\nComponents: main\n\
             Description: the envc tests' archive\n{x}SHA256:\n",
            o = self.origin,
            c = self.codename,
            x = self.extra_release
        );
        for (p, b) in [
            ("main/binary-amd64/Packages", packages.as_bytes()),
            ("main/binary-amd64/Packages.gz", &gz[..]),
        ] {
            release.push_str(&format!(" {} {:>8} {p}\n", sha256_hex(b), b.len()));
        }
        fs::write(dists.join("Release"), &release).expect("Release");
        let inrelease = match &self.signing {
            Signing::By(email) => Some(gpg.clearsign(email, &release)),
            Signing::Unsigned => Some(release.clone().into_bytes()),
            Signing::Stripped(email) => {
                let signed = String::from_utf8(gpg.clearsign(email, &release)).expect("utf-8");
                let cut = signed
                    .find("-----BEGIN PGP SIGNATURE-----")
                    .expect("a signature block");
                Some(signed.as_bytes()[..cut].to_vec())
            }
            Signing::ReleaseOnly => None,
        };
        if let Some(b) = inrelease {
            fs::write(dists.join("InRelease"), b).expect("InRelease");
        }
    }

    /// The file of `name`'s deb in the pool.
    pub fn deb_file(&self, name: &str) -> PathBuf {
        let deb = self
            .debs
            .iter()
            .find(|d| d.name == name)
            .unwrap_or_else(|| panic!("no deb {name} in the repo"));
        self.root.join(deb.pool_path())
    }
}

/// The repository's usual debs: `hello` (its binary in `./bin`, moved to `usr/bin` on a
/// merged-/usr base; a conffile; a postinst that installs an alternative and adds a user)
/// depends on `libhello1 (>= 1.0)`, which is `Multi-Arch: same` (a library in `./lib`, and an
/// ldconfig trigger); `broken`
/// depends on a package nobody has; `clash` conflicts with the base's `base-files`; `libc6`
/// at the base's version (already installed).
pub const HELLO_POSTINST: &str = "#!/bin/sh\nset -e\nif [ \"$1\" = configure ]; then\n    update-alternatives --install /usr/bin/greet greet /usr/bin/hello 50\n    adduser --system --no-create-home hello\nfi\n";

pub fn standard_debs(hello_version: &str) -> Vec<Deb> {
    vec![
        Deb::new("hello", hello_version)
            .field("Depends", "libhello1 (>= 1.0), libc6 (>= 2.34)")
            .file(
                "./bin/hello",
                &format!("#!/bin/sh\necho hello {hello_version}\n"),
                0o755,
            )
            .file("./etc/hello.conf", "greeting = hello\n", 0o644)
            .control_file("conffiles", "/etc/hello.conf\n", 0o644)
            .control_file("postinst", HELLO_POSTINST, 0o755),
        Deb::new("libhello1", "1.0-1")
            .field("Multi-Arch", "same")
            .field("Depends", "libc6 (>= 2.34)")
            .file(
                "./usr/lib/x86_64-linux-gnu/libhello.so.1",
                "not really ELF\n",
                0o644,
            )
            .file(
                "./lib/x86_64-linux-gnu/libhello-extra.so.1",
                "not really ELF either\n",
                0o644,
            )
            .control_file("triggers", "# ldconfig\nactivate-noawait ldconfig\n", 0o644),
        Deb::new("broken", "1.0-1")
            .field("Depends", "libmissing (>= 2)")
            .file("./usr/bin/broken", "#!/bin/sh\n", 0o755),
        Deb::new("clash", "1.0-1")
            .field("Conflicts", "base-files")
            .file("./usr/bin/clash", "#!/bin/sh\n", 0o755),
        Deb::new("libc6", "2.36-9+deb12u4")
            .field("Multi-Arch", "same")
            .file("./usr/lib/x86_64-linux-gnu/libc.so.6", "ELF-ish", 0o755),
    ]
}

// ---------------------------------------------------------------------------------------------
// Wheels

fn record_hash(bytes: &[u8]) -> String {
    use base64::Engine as _;
    format!(
        "sha256={}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(bytes))
    )
}

/// Writes `DIR/{dist}-{version}-{tag}.whl` with `members` and a correct WHEEL, METADATA
/// and RECORD (plus `entry_points.txt` when given).
pub fn wheel(
    dir: &Path,
    dist: &str,
    version: &str,
    tag: &str,
    members: &[(&str, &str)],
    entry_points: Option<&str>,
) -> PathBuf {
    fs::create_dir_all(dir).expect("wheel dir");
    let path = dir.join(format!("{dist}-{version}-{tag}.whl"));
    let di = format!("{dist}-{version}.dist-info");
    let name = dist.replace('_', "-");
    let mut all: Vec<(String, Vec<u8>)> = members
        .iter()
        .map(|(p, b)| (p.to_string(), b.as_bytes().to_vec()))
        .collect();
    all.push((
        format!("{di}/METADATA"),
        format!(
            "Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: a test wheel\n\n"
        )
        .into_bytes(),
    ));
    all.push((
        format!("{di}/WHEEL"),
        format!("Wheel-Version: 1.0\nGenerator: envc-test\nRoot-Is-Purelib: true\nTag: {tag}\n")
            .into_bytes(),
    ));
    if let Some(ep) = entry_points {
        all.push((format!("{di}/entry_points.txt"), ep.as_bytes().to_vec()));
    }
    let mut record = String::new();
    for (p, b) in &all {
        record.push_str(&format!("{p},{},{}\n", record_hash(b), b.len()));
    }
    record.push_str(&format!("{di}/RECORD,,\n"));
    all.push((format!("{di}/RECORD"), record.into_bytes()));
    let f = fs::File::create(&path).expect("create wheel");
    let mut zip = zip::ZipWriter::new(f);
    for (p, b) in all {
        let opts = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .last_modified_time(zip::DateTime::default())
            .unix_permissions(0o644);
        zip.start_file(p, opts).expect("zip member");
        zip.write_all(&b).expect("zip write");
    }
    zip.finish().expect("zip finish");
    path
}

/// The find-links directory: six (pure), hello-cli (a console script), and wheels that fit
/// no Python 3.11 Linux base: fastlib (cp312 only) and maconly (macOS only).
pub fn standard_wheels(dir: &Path) {
    wheel(
        dir,
        "six",
        "1.16.0",
        "py2.py3-none-any",
        &[(
            "six.py",
            "\"\"\"Python 2 and 3 compatibility utilities\"\"\"\n__version__ = \"1.16.0\"\n",
        )],
        None,
    );
    wheel(
        dir,
        "hello_cli",
        "0.1.0",
        "py3-none-any",
        &[("hello_cli/__init__.py", "def main():\n    print('hello')\n")],
        Some("[console_scripts]\nhello-cli = hello_cli:main\n"),
    );
    wheel(
        dir,
        "fastlib",
        "1.0",
        "cp312-cp312-manylinux_2_17_x86_64",
        &[("fastlib/__init__.py", "")],
        None,
    );
    wheel(
        dir,
        "maconly",
        "1.0",
        "py3-none-macosx_11_0_arm64",
        &[("maconly/__init__.py", "")],
        None,
    );
}

// ---------------------------------------------------------------------------------------------
// Reading a built image

/// One path of an image's layers (the last layer that has it wins).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Got {
    pub kind: char,
    pub mode: u32,
    pub uid: u64,
    pub gid: u64,
    pub data: Vec<u8>,
    pub link: Option<String>,
}

/// The paths of every layer of the manifest `digest` in the layout `store`: per layer, then
/// merged (whiteouts are not applied; the tests read the layers envc added).
pub fn layers(store: &Path, digest: &str) -> Vec<BTreeMap<String, Got>> {
    let blob = |d: &str| {
        let hex = d.strip_prefix("sha256:").unwrap_or(d);
        fs::read(store.join("blobs/sha256").join(hex))
            .unwrap_or_else(|e| panic!("blob {d} in {}: {e}", store.display()))
    };
    let manifest: serde_json::Value = serde_json::from_slice(&blob(digest)).expect("manifest json");
    let mut out = Vec::new();
    for l in manifest["layers"].as_array().expect("layers") {
        let bytes = blob(l["digest"].as_str().expect("layer digest"));
        let media = l["mediaType"].as_str().unwrap_or("");
        let raw: Vec<u8> = if media.ends_with("+gzip") {
            let mut v = Vec::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_end(&mut v)
                .expect("gunzip layer");
            v
        } else if media.ends_with("+zstd") {
            zstd::decode_all(&bytes[..]).expect("unzstd layer")
        } else {
            bytes
        };
        let mut map = BTreeMap::new();
        let mut ar = tar::Archive::new(&raw[..]);
        for e in ar.entries().expect("tar entries") {
            let mut e = e.expect("tar entry");
            let path = e.path().expect("path").to_string_lossy().into_owned();
            let path = path
                .trim_start_matches("./")
                .trim_end_matches('/')
                .to_string();
            let h = e.header().clone();
            let kind = match h.entry_type() {
                tar::EntryType::Directory => 'd',
                tar::EntryType::Symlink => 'l',
                tar::EntryType::Link => 'h',
                _ => 'f',
            };
            let link = e
                .link_name()
                .ok()
                .flatten()
                .map(|l| l.to_string_lossy().into_owned());
            let mut data = Vec::new();
            e.read_to_end(&mut data).expect("read entry");
            map.insert(
                path,
                Got {
                    kind,
                    mode: h.mode().unwrap_or(0) & 0o7777,
                    uid: h.uid().unwrap_or(u64::MAX),
                    gid: h.gid().unwrap_or(u64::MAX),
                    data,
                    link,
                },
            );
        }
        out.push(map);
    }
    out
}

/// Every file under `dir` (relative path → sha256 of its bytes, or `->target`), for "nothing
/// was written".
pub fn snapshot(dir: &Path) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let Ok(rd) = fs::read_dir(dir) else { return };
        for e in rd {
            let e = e.expect("dir entry");
            let p = e.path();
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .display()
                .to_string();
            let ty = e.file_type().expect("file type");
            if ty.is_dir() {
                out.insert(format!("{rel}/"), String::new());
                walk(root, &p, out);
            } else if ty.is_symlink() {
                let t = fs::read_link(&p).expect("read link");
                out.insert(rel, format!("->{}", t.display()));
            } else {
                out.insert(rel, sha256_hex(&fs::read(&p).expect("read file")));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}
