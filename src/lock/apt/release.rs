//! One apt source's signed `InRelease`: fetched, its clear-signature checked against the base's
//! own keyrings (the trust apt in the image has), its distribution checked against the base's,
//! and the Packages indexes it lists fetched and checked against its `SHA256:` lines. Only the
//! signed text is ever parsed, so nothing outside the signature decides anything.

use std::collections::BTreeMap;

use pgp::composed::{CleartextSignedMessage, Deserializable, SignedPublicKey};
use sha2::{Digest, Sha256};

use super::index::{decompress, stanzas};
use super::Error;
use crate::lock::facts::{AptSource, BaseFacts, Keyring};
use crate::lock::fetch::{Fetch, FetchError};

/// Debian's bookworm InRelease is 150 KiB; 16 MiB leaves room for any archive.
const MAX_INRELEASE: u64 = 16 << 20;
/// Compressed Packages (bookworm main amd64 xz: 9 MiB) and what it may expand to (47 MiB).
const MAX_INDEX: u64 = 256 << 20;
const MAX_INDEX_PLAIN: u64 = 1 << 30;

/// The fields of a verified Release that resolution reads.
#[derive(Debug)]
pub(crate) struct Release {
    pub(crate) origin: String,
    pub(crate) suite: String,
    pub(crate) codename: String,
    pub(crate) date: String,
    acquire_by_hash: bool,
    /// apt reads `binary-all` only when `Architectures:` lists `all` and
    /// `No-Support-for-Architecture-all: Packages` does not say arch `all` is in binary-ARCH
    /// (Debian's security archive has a stale binary-all its Release does not list).
    all_separate: bool,
    /// `SHA256:` lines: path → (hex, size).
    sha256: BTreeMap<String, (String, u64)>,
}

/// A source whose InRelease was verified, and what verified it.
#[derive(Debug)]
pub(crate) struct Verified {
    pub(crate) release: Release,
    pub(crate) inrelease_sha256: String,
    pub(crate) keyring: String,
    pub(crate) keyring_sha256: String,
}

pub(crate) fn hex_sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

fn source_name(src: &AptSource) -> String {
    format!("{} {}", src.uri, src.suite)
}

/// Fetches and verifies `src`'s InRelease, then checks it belongs to the base's distribution.
pub(crate) fn fetch_verified(
    facts: &BaseFacts,
    src: &AptSource,
    fetch: &dyn Fetch,
    now_unix: u64,
) -> Result<Verified, Error> {
    let name = source_name(src);
    let bad = |reason: String| Error::Release {
        apt_source: name.clone(),
        file: src.file.clone(),
        reason,
    };
    let url = format!("{}/dists/{}/InRelease", src.uri, src.suite);
    let bytes = match fetch.get(&url, MAX_INRELEASE) {
        Err(crate::lock::fetch::FetchError::NotFound { .. }) => {
            return Err(bad(format!(
                "{url} does not exist: envc verifies only a clear-signed InRelease (it does \
                 not read Release with Release.gpg); publish InRelease, or install from this \
                 archive in `post_build_cmds`"
            )))
        }
        other => other?,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        bad(format!(
            "{url} is not UTF-8 text, so it is no clear-signed InRelease"
        ))
    })?;
    let keyrings: Vec<&Keyring> = match &src.signed_by {
        Some(path) => {
            let Some(k) = facts.keyrings.iter().find(|k| &k.path == path) else {
                return Err(bad(format!(
                    "its `signed-by` names `{path}`, which the base image does not have"
                )));
            };
            vec![k]
        }
        None => facts.keyrings.iter().collect(),
    };
    let tried = || {
        if keyrings.is_empty() {
            "none: the base has no apt keyring".to_string()
        } else {
            keyrings
                .iter()
                .map(|k| k.path.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let (msg, _) = CleartextSignedMessage::from_string(text).map_err(|e| Error::Unverified {
        apt_source: name.clone(),
        reason: format!("{url} is not a clear-signed message ({e})"),
        keyrings: tried(),
    })?;
    let Some(keyring) = keyrings.iter().find(|k| verifies(&msg, k)) else {
        return Err(Error::Unverified {
            apt_source: name.clone(),
            reason: format!(
                "no key of the base's keyrings made any of its {} signature(s)",
                msg.signatures().len()
            ),
            keyrings: tried(),
        });
    };
    let release = parse(&msg.signed_text()).map_err(|e| bad(format!("its Release: {e}")))?;
    if let Some(until) = valid_until(&msg.signed_text()).map_err(&bad)? {
        if now_unix > until {
            return Err(bad(format!(
                "its Release expired (`Valid-Until` is {} s before now); the mirror is stale or the clock is wrong",
                now_unix - until
            )));
        }
    }
    check_distribution(facts, src, &release)?;
    Ok(Verified {
        release,
        inrelease_sha256: hex_sha256(&bytes),
        keyring: keyring.path.clone(),
        keyring_sha256: hex_sha256(&keyring.bytes),
    })
}

/// Whether any primary key or subkey of `keyring` (binary or armoured) made a signature of `msg`.
fn verifies(msg: &CleartextSignedMessage, keyring: &Keyring) -> bool {
    let Ok((keys, _)) = SignedPublicKey::from_reader_many(&keyring.bytes[..]) else {
        return false;
    };
    keys.flatten().any(|key| {
        msg.verify(&key.primary_key).is_ok()
            || key
                .public_subkeys
                .iter()
                .any(|sub| msg.verify(&sub.key).is_ok())
    })
}

pub(crate) fn parse(text: &str) -> Result<Release, String> {
    let st = stanzas(text)?;
    let Some(st) = st.first() else {
        return Err("it is empty".into());
    };
    let mut sha256 = BTreeMap::new();
    for line in st
        .get("SHA256")
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty())
    {
        let parts: Vec<&str> = line.split_whitespace().collect();
        let [hex, size, path] = parts.as_slice() else {
            return Err(format!(
                "the `SHA256:` line `{line}` is not `HEX SIZE PATH`"
            ));
        };
        let size = size
            .parse()
            .map_err(|_| format!("the `SHA256:` line `{line}` has no size"))?;
        sha256.insert(path.to_string(), (hex.to_ascii_lowercase(), size));
    }
    let get = |n: &str| st.get(n).unwrap_or("").to_string();
    Ok(Release {
        origin: get("Origin"),
        suite: get("Suite"),
        codename: get("Codename"),
        date: get("Date"),
        acquire_by_hash: st.get("Acquire-By-Hash") == Some("yes"),
        all_separate: st
            .get("Architectures")
            .unwrap_or("")
            .split_whitespace()
            .any(|a| a == "all")
            && st.get("No-Support-for-Architecture-all") != Some("Packages"),
        sha256,
    })
}

pub(crate) fn valid_until(text: &str) -> Result<Option<u64>, String> {
    let st = stanzas(text)?;
    match st.first().and_then(|s| s.get("Valid-Until")) {
        None => Ok(None),
        Some(v) => rfc2822(v).map(Some).ok_or_else(|| {
            format!("its `Valid-Until: {v}` is not a date like `Sat, 06 Dec 2026 08:13:51 UTC`")
        }),
    }
}

/// `[Day, ]DD Mon YYYY HH:MM:SS UTC` (apt's Release dates) as Unix seconds.
fn rfc2822(s: &str) -> Option<u64> {
    let s = s.split_once(", ").map_or(s, |(_, r)| r);
    let p: Vec<&str> = s.split_whitespace().collect();
    let [d, mon, y, hms, tz] = p.as_slice() else {
        return None;
    };
    if !matches!(*tz, "UTC" | "GMT" | "+0000" | "Z") {
        return None;
    }
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let m = MONTHS.iter().position(|x| x == mon)? as i64 + 1;
    let (d, y): (i64, i64) = (d.parse().ok()?, y.parse().ok()?);
    let t: Vec<i64> = hms
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let [hh, mm, ss] = t.as_slice() else {
        return None;
    };
    // Days from civil (Howard Hinnant's algorithm).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + hh * 3600 + mm * 60 + ss).ok()
}

/// The Release must be the suite the source names, of the base's distribution and release.
fn check_distribution(facts: &BaseFacts, src: &AptSource, rel: &Release) -> Result<(), Error> {
    let bad = |reason: String| Error::Release {
        apt_source: source_name(src),
        file: src.file.clone(),
        reason,
    };
    if rel.codename != src.suite && rel.suite != src.suite {
        return Err(bad(format!(
            "its Release is of `Codename: {}`, `Suite: {}`, not of the `{}` the source names",
            rel.codename, rel.suite, src.suite
        )));
    }
    let want_origin = match facts.os.id.as_str() {
        "debian" => "Debian",
        "ubuntu" => "Ubuntu",
        other => other,
    };
    // A third party's archive (NVIDIA's, a PPA) that the image itself trusts is used as the
    // image's apt would use it; only a distribution's own archive must be the base's.
    let distribution = ["Debian", "Ubuntu"]
        .iter()
        .any(|d| rel.origin.eq_ignore_ascii_case(d));
    if !distribution {
        return Ok(());
    }
    if !rel.origin.eq_ignore_ascii_case(want_origin) {
        return Err(Error::WrongDistribution {
            release: format!("{} ({})", rel.origin, rel.codename),
            base: format!("{} ({})", facts.os.id, facts.os.codename),
            apt_source: source_name(src),
        });
    }
    let family = rel.codename.split('-').next().unwrap_or("");
    if facts.os.codename.is_empty() || family != facts.os.codename {
        return Err(Error::WrongDistribution {
            release: rel.codename.clone(),
            base: if facts.os.codename.is_empty() {
                format!("{} with no `VERSION_CODENAME`", facts.os.id)
            } else {
                facts.os.codename.clone()
            },
            apt_source: source_name(src),
        });
    }
    Ok(())
}

/// The decompressed Packages indexes of `src` for `arch` (and `binary-all` where the archive
/// keeps arch `all` apart): per component, the best compression the Release lists.
pub(crate) fn fetch_indexes(
    src: &AptSource,
    v: &Verified,
    arch: &str,
    fetch: &dyn Fetch,
) -> Result<Vec<(String, Vec<u8>)>, Error> {
    let mut out = Vec::new();
    for component in &src.components {
        let mut archs = vec![arch];
        if v.release.all_separate {
            archs.push("all");
        }
        for a in archs {
            let dir = format!("{component}/binary-{a}");
            let Some((path, (hex, size))) = ["Packages.xz", "Packages.gz", "Packages"]
                .iter()
                .find_map(|f| v.release.sha256.get_key_value(&format!("{dir}/{f}")))
            else {
                return Err(Error::Release {
                    apt_source: source_name(src),
                    file: src.file.clone(),
                    reason: format!("its Release lists no `{dir}/Packages` index: does the archive have component `{component}` for `{a}`?"),
                });
            };
            let base = format!("{}/dists/{}", src.uri, src.suite);
            let plain = format!("{base}/{path}");
            let bytes = if v.release.acquire_by_hash {
                match fetch.get(&format!("{base}/{dir}/by-hash/SHA256/{hex}"), MAX_INDEX) {
                    Err(FetchError::NotFound { .. }) => fetch.get(&plain, MAX_INDEX)?,
                    other => other?,
                }
            } else {
                fetch.get(&plain, MAX_INDEX)?
            };
            let found = hex_sha256(&bytes);
            if bytes.len() as u64 != *size || &found != hex {
                return Err(Error::HashMismatch {
                    url: plain,
                    expected: format!("{hex} ({size} bytes)"),
                    found: format!("{found} ({} bytes)", bytes.len()),
                });
            }
            let text = decompress(path, bytes, MAX_INDEX_PLAIN).map_err(|reason| Error::Index {
                index: plain.clone(),
                reason,
            })?;
            out.push((plain, text));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_dates_are_unix_seconds() {
        assert_eq!(rfc2822("Thu, 01 Jan 1970 00:00:00 UTC"), Some(0));
        assert_eq!(
            rfc2822("Sat, 10 Jun 2023 08:55:26 UTC"),
            Some(1_686_387_326)
        );
        assert_eq!(rfc2822("29 Feb 2024 12:00:00 GMT"), Some(1_709_208_000));
        assert_eq!(rfc2822("Sat, 10 Jun 2023 08:55:26 CEST"), None);
        assert_eq!(rfc2822("yesterday"), None);
    }

    #[test]
    fn release_sha256_lines_are_read() {
        let r = parse(
            "Origin: Debian\nCodename: bookworm\nSHA256:\n 00ff 12 main/binary-amd64/Packages\n",
        )
        .unwrap();
        assert_eq!(
            r.sha256["main/binary-amd64/Packages"],
            ("00ff".to_string(), 12)
        );
        assert!(parse("SHA256:\n 00ff main/x\n").is_err());
        // Debian security lists a binary-all its `Architectures:` does not name: apt skips it.
        assert!(!r.all_separate);
        assert!(parse("Architectures: all amd64\n").unwrap().all_separate);
        let main = "Architectures: all amd64\nNo-Support-for-Architecture-all: Packages\n";
        assert!(!parse(main).unwrap().all_separate);
    }
}
