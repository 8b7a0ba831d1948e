//! A small signed repository, made and signed in the test, served from a map: every check of
//! `resolve` against data it must accept or refuse.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::OnceLock;

use pgp::composed::{
    ArmorOptions, CleartextSignedMessage, KeyType, SecretKeyParamsBuilder, SignedSecretKey,
};
use pgp::ser::Serialize;
use pgp::types::Password;
use rand::SeedableRng;

use super::*;
use crate::lock::facts::{AptSource, Dpkg, Keyring, OsRelease};

const URI: &str = "http://repo.test/debian";

fn key(seed: u64) -> SignedSecretKey {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    SecretKeyParamsBuilder::default()
        .key_type(KeyType::Ed25519Legacy)
        .can_certify(true)
        .can_sign(true)
        .primary_user_id(format!("Test Archive {seed} <archive@repo.test>"))
        .build()
        .unwrap()
        .generate(&mut rng)
        .unwrap()
}

/// The archive's key and a stranger's, made once (key generation dominates the tests).
fn keys() -> &'static (SignedSecretKey, SignedSecretKey) {
    static KEYS: OnceLock<(SignedSecretKey, SignedSecretKey)> = OnceLock::new();
    KEYS.get_or_init(|| (key(1), key(2)))
}

fn keyring(k: &SignedSecretKey) -> Vec<u8> {
    k.to_public_key().to_bytes().unwrap()
}

struct MapFetch(BTreeMap<String, Vec<u8>>);

impl Fetch for MapFetch {
    fn get(&self, url: &str, max: u64) -> Result<Vec<u8>, FetchError> {
        let b = self.0.get(url).ok_or_else(|| FetchError::NotFound {
            url: url.to_string(),
        })?;
        if b.len() as u64 > max {
            return Err(FetchError::TooLarge {
                url: url.to_string(),
                max,
            });
        }
        Ok(b.clone())
    }
}

/// A package stanza: `deb("curl", "7.88.1-10", "Depends: libcurl4 (>= 7.88.1-10)")`.
fn deb(name: &str, version: &str, extra: &str) -> String {
    let file = format!("pool/main/{name}_{version}_amd64.deb");
    let mut s = format!(
        "Package: {name}\nVersion: {version}\nArchitecture: amd64\nFilename: {file}\nSize: {}\nSHA256: {}\n",
        name.len() + 100,
        release::hex_sha256(file.as_bytes())
    );
    for line in extra.lines().filter(|l| !l.is_empty()) {
        s.push_str(line.trim());
        s.push('\n');
    }
    s
}

struct Repo {
    suite: String,
    codename: String,
    origin: String,
    stanzas: Vec<String>,
    /// The Release's `Suite:`, when it differs from the directory under `dists/`.
    suite_field: Option<String>,
    signer: Option<&'static SignedSecretKey>,
    extra_release: String,
}

impl Repo {
    fn new(stanzas: &[String]) -> Repo {
        Repo {
            suite: "bookworm".into(),
            codename: "bookworm".into(),
            origin: "Debian".into(),
            stanzas: stanzas.to_vec(),
            suite_field: None,
            signer: Some(&keys().0),
            extra_release: String::new(),
        }
    }

    /// The files of the repository, by URL.
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let packages = self.stanzas.join("\n");
        let mut xz =
            lzma_rust2::XzWriter::new(Vec::new(), lzma_rust2::XzOptions::with_preset(6)).unwrap();
        xz.write_all(packages.as_bytes()).unwrap();
        let xz = xz.finish().unwrap();
        let dir = format!("{URI}/dists/{}", self.suite);
        let mut release = format!(
            "Origin: {}\nLabel: {}\nSuite: {}\nCodename: {}\nDate: Sat, 10 Jun 2023 08:55:26 UTC\n\
             Architectures: amd64\nComponents: main\nAcquire-By-Hash: yes\n\
             No-Support-for-Architecture-all: Packages\n{}SHA256:\n",
            self.origin,
            self.origin,
            self.suite_field.as_ref().unwrap_or(&self.suite),
            self.codename,
            self.extra_release
        );
        let mut files = BTreeMap::new();
        for (path, bytes) in [
            ("main/binary-amd64/Packages", packages.into_bytes()),
            ("main/binary-amd64/Packages.xz", xz),
        ] {
            let hex = release::hex_sha256(&bytes);
            release.push_str(&format!(" {hex} {} {path}\n", bytes.len()));
            files.insert(
                format!("{dir}/main/binary-amd64/by-hash/SHA256/{hex}"),
                bytes.clone(),
            );
            files.insert(format!("{dir}/{path}"), bytes);
        }
        let inrelease = match self.signer {
            Some(k) => {
                let mut rng = rand::rngs::StdRng::seed_from_u64(7);
                CleartextSignedMessage::sign(&mut rng, &release, &**k, &Password::empty())
                    .unwrap()
                    .to_armored_string(ArmorOptions::default())
                    .unwrap()
            }
            None => release,
        };
        files.insert(format!("{dir}/InRelease"), inrelease.into_bytes());
        files
    }
}

fn facts(status: &str, suite: &str) -> BaseFacts {
    BaseFacts {
        os: OsRelease {
            id: "debian".into(),
            version_id: "12".into(),
            codename: "bookworm".into(),
        },
        platform: "linux/amd64".into(),
        dpkg_arch: "amd64".into(),
        dpkg: Some(Dpkg {
            status: status.into(),
            lists: BTreeMap::new(),
            extended_states: None,
        }),
        apt_sources: vec![AptSource {
            uri: URI.into(),
            suite: suite.into(),
            components: vec!["main".into()],
            signed_by: None,
            file: "etc/apt/sources.list.d/debian.sources".into(),
        }],
        keyrings: vec![Keyring {
            path: "/usr/share/keyrings/debian-archive-keyring.gpg".into(),
            bytes: keyring(&keys().0),
        }],
        glibc: None,
        python: None,
        merged_usr: BTreeMap::new(),
        dirs: BTreeMap::new(),
    }
}

/// A dpkg status entry of an installed package.
fn installed(name: &str, version: &str, extra: &str) -> String {
    let mut s = format!(
        "Package: {name}\nStatus: install ok installed\nVersion: {version}\nArchitecture: amd64\n"
    );
    for line in extra.lines().filter(|l| !l.is_empty()) {
        s.push_str(line.trim());
        s.push('\n');
    }
    s
}

fn req(names: &[&str]) -> Vec<DebianPackage> {
    names.iter().map(|n| n.parse().unwrap()).collect()
}

fn run(repo: &Repo, status: &[String], names: &[&str]) -> Result<Resolution, Error> {
    resolve(
        &facts(&status.join("\n"), &repo.suite),
        &req(names),
        &MapFetch(repo.files()),
        1_700_000_000,
    )
}

/// `name version` of each deb, with `^old` for an upgrade and `*` for a requested one.
fn summary(r: &Resolution) -> Vec<String> {
    r.debs
        .iter()
        .map(|d| {
            let up = d
                .upgrades
                .as_ref()
                .map(|o| format!(" ^{o}"))
                .unwrap_or_default();
            format!(
                "{} {}{}{}",
                d.name,
                d.version,
                up,
                if d.requested { " *" } else { "" }
            )
        })
        .collect()
}

fn base_repo() -> Vec<String> {
    vec![
        deb(
            "curl",
            "7.88.1-10",
            "Depends: libcurl4 (>= 7.88.1-10), libc6 (>= 2.34)",
        ),
        deb(
            "libcurl4",
            "7.88.1-10",
            "Depends: libc6 (>= 2.34), libssl3 | libssl-compat",
        ),
        deb("libssl3", "3.0.9-1", "Pre-Depends: libc6 (>= 2.36-9)"),
        deb("libssl-compat", "1.0", ""),
        deb("libc6", "2.36-9", "Breaks: oldtool (<< 2)"),
        deb("libc6", "2.36-8", ""),
    ]
}

#[test]
fn simple_resolve_follows_depends_and_skips_what_the_base_has() {
    let repo = Repo::new(&base_repo());
    let status = [installed("libc6", "2.36-9", "")];
    let r = run(&repo, &status, &["curl"]).unwrap();
    assert_eq!(
        summary(&r),
        ["curl 7.88.1-10 *", "libcurl4 7.88.1-10", "libssl3 3.0.9-1"]
    );
    let curl = &r.debs[0];
    assert_eq!(
        curl.url,
        format!("{URI}/pool/main/curl_7.88.1-10_amd64.deb")
    );
    assert_eq!(curl.suite, format!("{URI} bookworm"));
    assert_eq!(curl.installs, "/");
    assert_eq!(curl.size, 104);
    assert_eq!(r.sources.len(), 1);
    let s = &r.sources[0];
    assert_eq!(s.keyring, "/usr/share/keyrings/debian-archive-keyring.gpg");
    assert_eq!(s.keyring_sha256, release::hex_sha256(&keyring(&keys().0)));
    assert_eq!(s.date, "Sat, 10 Jun 2023 08:55:26 UTC");
    let inrelease = &repo.files()[&format!("{URI}/dists/bookworm/InRelease")];
    assert_eq!(s.inrelease_sha256, release::hex_sha256(inrelease));
    // Deterministic: a second resolve gives the same answer.
    assert_eq!(run(&repo, &status, &["curl"]).unwrap().debs, r.debs);
}

#[test]
fn a_base_at_a_lower_version_is_upgraded() {
    let repo = Repo::new(&base_repo());
    let r = run(&repo, &[installed("libc6", "2.36-8", "")], &["libssl3"]).unwrap();
    assert_eq!(summary(&r), ["libc6 2.36-9 ^2.36-8", "libssl3 3.0.9-1 *"]);
    // Asking for what the base has at the newest version installs nothing.
    let r = run(&repo, &[installed("libc6", "2.36-9", "")], &["libc6"]).unwrap();
    assert!(r.debs.is_empty());
}

#[test]
fn alternatives_prefer_the_selected_then_the_first_that_resolves() {
    let mut stanzas = base_repo();
    stanzas.push(deb("aa", "1", "Depends: missing | libssl-compat"));
    stanzas.push(deb(
        "bb",
        "1",
        "Depends: libssl-compat, libssl3 | libssl-compat",
    ));
    let repo = Repo::new(&stanzas);
    let status = [installed("libc6", "2.36-9", "")];
    assert_eq!(
        summary(&run(&repo, &status, &["aa"]).unwrap()),
        ["aa 1 *", "libssl-compat 1.0"]
    );
    // libssl-compat is already selected, so the second group does not pull libssl3.
    assert_eq!(
        summary(&run(&repo, &status, &["bb"]).unwrap()),
        ["bb 1 *", "libssl-compat 1.0"]
    );
}

#[test]
fn virtual_packages_resolve_through_provides() {
    let stanzas = vec![
        deb(
            "mailer",
            "1",
            "Depends: mail-transport-agent, libfoo-abi (>= 2)",
        ),
        deb(
            "postfix",
            "3.7",
            "Provides: mail-transport-agent\nConflicts: mail-transport-agent",
        ),
        deb("libfoo2", "2.1", "Provides: libfoo-abi (= 2.1)"),
        deb(
            "libfoo1",
            "1.0",
            "Provides: libfoo-abi (= 1.0), libfoo-abi-old",
        ),
        deb("tool", "1", ""),
    ];
    let repo = Repo::new(&stanzas);
    let r = run(&repo, &[], &["mailer"]).unwrap();
    assert_eq!(summary(&r), ["libfoo2 2.1", "mailer 1 *", "postfix 3.7"]);
    // A requested virtual package with one provider installs it.
    assert_eq!(
        summary(&run(&repo, &[], &["libfoo-abi-old"]).unwrap()),
        ["libfoo1 1.0 *"]
    );
    let e = run(&repo, &[], &["libfoo-abi"]).unwrap_err().to_string();
    assert!(
        e.contains("virtual package") && e.contains("libfoo1, libfoo2"),
        "{e}"
    );
}

#[test]
fn versioned_dependencies_and_pins() {
    let mut stanzas = base_repo();
    stanzas.push(deb("old", "1", "Depends: libc6 (<< 2.36-9)"));
    let repo = Repo::new(&stanzas);
    // `=version` pins the exact version, below the candidate.
    let r = run(&repo, &[], &["libc6=2.36-8"]).unwrap();
    assert_eq!(summary(&r), ["libc6 2.36-8 *"]);
    let e = run(&repo, &[], &["libc6=2.99"]).unwrap_err().to_string();
    assert!(e.contains("2.36-9, 2.36-8"), "{e}");
    // The candidate (2.36-9) does not satisfy `<< 2.36-9`: apt does not fall back either.
    let e = run(&repo, &[], &["old"]).unwrap_err().to_string();
    assert!(e.contains("`old → libc6 (<< 2.36-9)`: no source has a version that satisfies it (libc6 2.36-9 is the newest)"), "{e}");
    assert_eq!(
        summary(&run(&repo, &[], &["libc6/bookworm"]).unwrap()),
        ["libc6 2.36-9 *"]
    );
    assert!(run(&repo, &[], &["libc6/trixie"]).is_err());
}

#[test]
fn conflicts_and_breaks_against_the_base_fail_naming_both() {
    let mut stanzas = base_repo();
    stanzas.push(deb("newtool", "1", "Conflicts: oldtool"));
    let repo = Repo::new(&stanzas);
    let status = [
        installed("libc6", "2.36-8", ""),
        installed("oldtool", "1.5", ""),
    ];
    let e = run(&repo, &status, &["newtool"]).unwrap_err().to_string();
    assert!(
        e.contains(
            "`newtool 1` (to install) has `Conflicts: oldtool`, which `oldtool 1.5` (in the base)"
        ),
        "{e}"
    );
    // Upgrading libc6 to 2.36-9 meets its `Breaks: oldtool (<< 2)`.
    let e = run(&repo, &status, &["libc6"]).unwrap_err().to_string();
    assert!(
        e.contains("`libc6 2.36-9`")
            && e.contains("Breaks: oldtool (<< 2)")
            && e.contains("`oldtool 1.5`"),
        "{e}"
    );
    // The reverse: a base package's Breaks against the new version.
    let status = [installed("guard", "1", "Breaks: libssl3 (>= 3)")];
    let e = run(&repo, &status, &["libssl-compat", "libssl3"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("`guard 1` (in the base) has `Breaks: libssl3 (>= 3)`, which `libssl3 3.0.9-1` (to install)"), "{e}");
    // A base package pinned to the old version by Depends.
    let status = [
        installed("libc6", "2.36-8", ""),
        installed("libc-bin", "2.36-8", "Depends: libc6 (= 2.36-8)"),
    ];
    let e = run(&repo, &status, &["libc6"]).unwrap_err().to_string();
    assert!(
        e.contains("`libc-bin 2.36-8` in the base has `Depends: libc6 (= 2.36-8)`"),
        "{e}"
    );
}

#[test]
fn unknown_and_unsatisfiable_fail_naming_the_chain() {
    let mut stanzas = base_repo();
    stanzas.push(deb("broken", "1", "Depends: curl, nowhere (>= 1)"));
    let repo = Repo::new(&stanzas);
    let e = run(&repo, &[], &["broken"]).unwrap_err().to_string();
    assert!(
        e.contains("`broken → nowhere (>= 1)`: no source has it"),
        "{e}"
    );
    let e = run(&repo, &[], &["curll"]).unwrap_err().to_string();
    assert!(
        e.contains(
            "debian package `curll`: no apt source of the base has it; did you mean `curl`?"
        ),
        "{e}"
    );
    let e = run(&repo, &[], &["curl:arm64"]).unwrap_err().to_string();
    assert!(e.contains("only the base's own architecture"), "{e}");
}

#[test]
fn an_unsigned_or_foreign_signed_inrelease_is_refused() {
    let mut repo = Repo::new(&base_repo());
    repo.signer = None;
    let e = run(&repo, &[], &["curl"]).unwrap_err().to_string();
    assert!(
        e.contains("apt source `http://repo.test/debian bookworm`: its InRelease is not verified"),
        "{e}"
    );
    assert!(
        e.contains("/usr/share/keyrings/debian-archive-keyring.gpg"),
        "{e}"
    );
    repo.signer = Some(&keys().1);
    let e = run(&repo, &[], &["curl"]).unwrap_err().to_string();
    assert!(
        e.contains("no key of the base's keyrings made any of its 1 signature(s)"),
        "{e}"
    );
    // The stranger's key in an armoured keyring named by signed-by verifies it.
    let mut f = facts("", "bookworm");
    let armoured = keys()
        .1
        .to_public_key()
        .to_armored_string(ArmorOptions::default())
        .unwrap();
    f.keyrings.push(Keyring {
        path: "/etc/apt/keyrings/other.asc".into(),
        bytes: armoured.into_bytes(),
    });
    f.apt_sources[0].signed_by = Some("/etc/apt/keyrings/other.asc".into());
    let r = resolve(
        &f,
        &req(&["libssl-compat"]),
        &MapFetch(repo.files()),
        1_700_000_000,
    )
    .unwrap();
    assert_eq!(r.sources[0].keyring, "/etc/apt/keyrings/other.asc");
    f.apt_sources[0].signed_by = Some("/nope.gpg".into());
    let e = resolve(&f, &req(&["libssl-compat"]), &MapFetch(repo.files()), 0)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("`/nope.gpg`, which the base image does not have"),
        "{e}"
    );
}

#[test]
fn a_tampered_packages_index_is_refused() {
    let repo = Repo::new(&base_repo());
    let mut files = repo.files();
    for (url, bytes) in files.iter_mut() {
        if url.contains("by-hash") || url.ends_with("Packages.xz") {
            bytes.push(0);
        }
    }
    let e = resolve(&facts("", "bookworm"), &req(&["curl"]), &MapFetch(files), 0).unwrap_err();
    assert!(matches!(e, Error::HashMismatch { .. }), "{e}");
    assert!(
        e.to_string()
            .contains("Packages.xz: sha256 and size do not match"),
        "{e}"
    );
}

#[test]
fn the_plain_path_serves_when_by_hash_is_missing() {
    let repo = Repo::new(&base_repo());
    let files: BTreeMap<String, Vec<u8>> = repo
        .files()
        .into_iter()
        .filter(|(u, _)| !u.contains("by-hash"))
        .collect();
    let r = resolve(
        &facts("", "bookworm"),
        &req(&["libssl-compat"]),
        &MapFetch(files),
        0,
    )
    .unwrap();
    assert_eq!(summary(&r), ["libssl-compat 1.0 *"]);
}

#[test]
fn another_distribution_or_an_expired_release_is_refused() {
    let mut repo = Repo::new(&base_repo());
    repo.suite = "trixie".into();
    repo.codename = "trixie".into();
    let e = run(&repo, &[], &["curl"]).unwrap_err().to_string();
    assert!(
        e.starts_with("debs of trixie for a base of bookworm"),
        "{e}"
    );
    let mut repo = Repo::new(&base_repo());
    repo.origin = "Ubuntu".into();
    let e = run(&repo, &[], &["curl"]).unwrap_err().to_string();
    assert!(
        e.starts_with("debs of Ubuntu (bookworm) for a base of debian (bookworm)"),
        "{e}"
    );
    // A third party's archive the image trusts (NVIDIA's, a PPA) is used as apt would.
    let mut repo = Repo::new(&base_repo());
    repo.origin = "NVIDIA".into();
    repo.suite = "stable".into();
    repo.codename = "stable".into();
    assert!(run(&repo, &[], &["curl"]).is_ok());
    // bookworm-updates fits a bookworm base; its Release must say so.
    let mut repo = Repo::new(&base_repo());
    repo.suite = "bookworm-updates".into();
    repo.codename = "bookworm-updates".into();
    assert!(run(&repo, &[], &["libssl-compat"]).is_ok());
    repo.codename = "bookworm-backports".into();
    repo.suite_field = Some("stable-backports".into());
    let e = run(&repo, &[], &["curl"]).unwrap_err().to_string();
    assert!(
        e.contains("not of the `bookworm-updates` the source names"),
        "{e}"
    );
    let mut repo = Repo::new(&base_repo());
    repo.extra_release = "Valid-Until: Sat, 17 Jun 2023 08:55:26 UTC\n".into();
    let e = run(&repo, &[], &["curl"]).unwrap_err().to_string();
    assert!(e.contains("its Release expired"), "{e}");
}

#[test]
fn a_base_without_dpkg_is_refused_and_nothing_asked_needs_nothing() {
    let mut f = facts("", "bookworm");
    f.dpkg = None;
    let fetch = MapFetch(BTreeMap::new());
    assert!(matches!(
        resolve(&f, &req(&["curl"]), &fetch, 0),
        Err(Error::NoDpkg)
    ));
    assert_eq!(
        resolve(&f, &[], &fetch, 0).unwrap(),
        Resolution {
            sources: vec![],
            debs: vec![]
        }
    );
}
