//! The part of a PEP 751 `pylock.toml` the lock needs: per package its name, version and
//! wheels (`url`, `size`, `hashes.sha256`). Unknown keys (`upload-time`, markers) are ignored;
//! a package with only an sdist is reported, never built.

use super::Error;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
struct Doc {
    #[serde(rename = "lock-version")]
    lock_version: String,
    #[serde(default)]
    packages: Vec<RawPackage>,
}

#[derive(Debug, Deserialize)]
struct RawPackage {
    name: String,
    version: Option<String>,
    #[serde(default)]
    wheels: Vec<RawWheel>,
}

#[derive(Debug, Deserialize)]
struct RawWheel {
    name: Option<String>,
    url: Option<String>,
    size: Option<u64>,
    #[serde(default)]
    hashes: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub wheels: Vec<Wheel>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wheel {
    /// The file name (`name`, else the URL's last segment, percent-decoded).
    pub filename: String,
    pub url: String,
    pub size: Option<u64>,
    pub sha256: String,
}

pub fn parse(text: &str) -> Result<Vec<Package>, Error> {
    let doc: Doc = toml::from_str(text).map_err(|e| Error::Pylock {
        detail: e.to_string(),
    })?;
    if doc.lock_version.split('.').next() != Some("1") {
        return Err(Error::Pylock {
            detail: format!(
                "lock-version {} is not 1.x, which is all envc reads",
                doc.lock_version
            ),
        });
    }
    let mut out = Vec::with_capacity(doc.packages.len());
    for p in doc.packages {
        let version = p.version.ok_or_else(|| Error::Pylock {
            detail: format!("package {} has no version", p.name),
        })?;
        let mut wheels = Vec::with_capacity(p.wheels.len());
        for w in p.wheels {
            let url = w.url.ok_or_else(|| Error::Pylock {
                detail: format!("a wheel of {} {version} has no url", p.name),
            })?;
            let filename = match w.name {
                Some(n) => n,
                None => url_filename(&url),
            };
            let sha256 = w
                .hashes
                .get("sha256")
                .cloned()
                .ok_or_else(|| Error::NoSha256 {
                    package: p.name.clone(),
                    wheel: filename.clone(),
                })?;
            if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::Pylock {
                    detail: format!("{filename}: sha256 `{sha256}` is not 64 hex digits"),
                });
            }
            wheels.push(Wheel {
                filename,
                url,
                size: w.size,
                sha256: sha256.to_ascii_lowercase(),
            });
        }
        out.push(Package {
            name: p.name,
            version,
            wheels,
        });
    }
    Ok(out)
}

/// The last path segment of a URL (query and fragment dropped), percent-decoded: PyPI writes
/// local versions as `torch-2.1.0%2Bcu121-…`.
pub fn url_filename(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    percent_decode(path.rsplit('/').next().unwrap_or(path))
}

pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(b[i + 1]), hex(b[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "4db350baf833598706eb869c42e26d27e4abad6a586aa029725c3affa71da59e";

    #[test]
    fn reads_uv_output() {
        let text = format!(
            r#"lock-version = "1.0"
created-by = "uv"
requires-python = ">=3.11.2"

[[packages]]
name = "torch"
version = "2.1.0+cu121"
wheels = [
  {{ url = "https://h/torch-2.1.0%2Bcu121-cp311-cp311-linux_x86_64.whl", upload-time = 2023-10-04T00:00:00Z, size = 12, hashes = {{ sha256 = "{}" }} }},
  {{ name = "n-1-py3-none-any.whl", url = "file:///w/x.whl", hashes = {{ sha256 = "{SHA}" }} }},
]
"#,
            SHA.to_uppercase()
        );
        let p = parse(&text).expect("parses");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].version, "2.1.0+cu121");
        assert_eq!(
            p[0].wheels[0].filename,
            "torch-2.1.0+cu121-cp311-cp311-linux_x86_64.whl"
        );
        assert_eq!(p[0].wheels[0].sha256, SHA);
        assert_eq!(p[0].wheels[0].size, Some(12));
        assert_eq!(p[0].wheels[1].filename, "n-1-py3-none-any.whl");
        assert_eq!(p[0].wheels[1].size, None);
    }

    #[test]
    fn refuses_missing_hash_and_versions() {
        let no_hash = "lock-version = \"1.0\"\n[[packages]]\nname = \"a\"\nversion = \"1\"\nwheels = [{ url = \"https://h/a-1-py3-none-any.whl\", hashes = { md5 = \"00\" } }]\n";
        let e = parse(no_hash).expect_err("no sha256");
        assert!(
            matches!(e, Error::NoSha256 { ref package, .. } if package == "a"),
            "{e}"
        );
        assert!(e.to_string().contains("a-1-py3-none-any.whl"), "{e}");
        let e = parse("lock-version = \"2.0\"\n").expect_err("v2");
        assert!(e.to_string().contains("2.0"), "{e}");
        assert!(parse("lock-version = ").is_err());
        assert_eq!(percent_decode("a%2Bb%zz%4"), "a+b%zz%4");
    }
}
