//! Packages indexes and dpkg's status file: deb822 stanzas read into [`Pkg`], the few fields
//! resolution needs. Relation fields are kept as text and parsed (by `debian-control`) only
//! for the packages resolution visits, since an index holds tens of thousands of stanzas.

use std::borrow::Cow;
use std::io::Read;

use debian_control::lossy::{Relation, Relations};
use debversion::Version;

/// One deb822 paragraph: field names as written, continuation lines joined by `\n`.
pub(crate) struct Stanza<'a> {
    fields: Vec<(&'a str, Cow<'a, str>)>,
    /// 1-based line of its first field, for messages.
    pub(crate) line: usize,
}

impl<'a> Stanza<'a> {
    /// A field's value; deb822 field names are case-insensitive.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_ref())
    }
}

/// Splits deb822 text into stanzas; a line that is neither `Name: value`, a continuation nor
/// blank is an error naming its line.
pub(crate) fn stanzas(text: &str) -> Result<Vec<Stanza<'_>>, String> {
    let mut out = Vec::new();
    let mut cur: Option<Stanza<'_>> = None;
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            out.extend(cur.take());
            continue;
        }
        if line.starts_with('#') {
            continue;
        }
        if line.starts_with([' ', '\t']) {
            let Some((_, value)) = cur.as_mut().and_then(|s| s.fields.last_mut()) else {
                return Err(format!(
                    "line {}: a continuation line with no field before it",
                    i + 1
                ));
            };
            let value = value.to_mut();
            value.push('\n');
            value.push_str(line.trim());
            continue;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "line {}: `{}` is not `Field: value`",
                i + 1,
                line.trim()
            ));
        };
        let stanza = cur.get_or_insert_with(|| Stanza {
            fields: Vec::new(),
            line: i + 1,
        });
        stanza
            .fields
            .push((name.trim(), Cow::Borrowed(value.trim())));
    }
    out.extend(cur);
    Ok(out)
}

/// A binary package: from a Packages index (`source` is the index of its apt source) or from
/// the base's dpkg status (`source` unused).
#[derive(Debug, Clone)]
pub(crate) struct Pkg {
    pub(crate) name: String,
    pub(crate) version: Version,
    /// As the stanza spells it (what the lock records).
    pub(crate) version_text: String,
    pub(crate) arch: String,
    pub(crate) multi_arch_same: bool,
    /// `required` 0 … `extra` 4, unknown 5: how apt ranks providers of a virtual package.
    pub(crate) priority: u8,
    pub(crate) pre_depends: String,
    pub(crate) depends: String,
    pub(crate) provides: String,
    pub(crate) breaks: String,
    pub(crate) conflicts: String,
    pub(crate) filename: Option<String>,
    pub(crate) size: Option<u64>,
    pub(crate) sha256: Option<String>,
    pub(crate) source: usize,
}

impl Pkg {
    pub(crate) fn from_stanza(st: &Stanza<'_>, source: usize) -> Result<Pkg, String> {
        let field = |n: &str| st.get(n).unwrap_or("").to_string();
        let name = st
            .get("Package")
            .filter(|n| !n.is_empty())
            .ok_or_else(|| format!("the stanza at line {} has no `Package`", st.line))?
            .to_string();
        let version_text = st
            .get("Version")
            .ok_or_else(|| format!("`{name}` (line {}) has no `Version`", st.line))?
            .to_string();
        let version: Version = version_text
            .parse()
            .map_err(|e| format!("`{name}` (line {}): version `{version_text}`: {e}", st.line))?;
        let size = match st.get("Size") {
            None => None,
            Some(s) => Some(s.parse::<u64>().map_err(|_| {
                format!("`{name}` (line {}): `Size: {s}` is not a number", st.line)
            })?),
        };
        let priority = match st.get("Priority").unwrap_or("") {
            "required" => 0,
            "important" => 1,
            "standard" => 2,
            "optional" => 3,
            "extra" => 4,
            _ => 5,
        };
        Ok(Pkg {
            version,
            version_text,
            arch: field("Architecture"),
            multi_arch_same: st.get("Multi-Arch") == Some("same"),
            priority,
            pre_depends: field("Pre-Depends"),
            depends: field("Depends"),
            provides: field("Provides"),
            breaks: field("Breaks"),
            conflicts: field("Conflicts"),
            filename: st.get("Filename").map(str::to_string),
            size,
            sha256: st.get("SHA256").map(str::to_ascii_lowercase),
            source,
            name,
        })
    }

    /// `name version`, for messages.
    pub(crate) fn label(&self) -> String {
        format!("{} {}", self.name, self.version_text)
    }
}

/// Parses a relation field of `pkg` (`Depends`, …), naming the package when it is malformed.
pub(crate) fn relations(pkg: &Pkg, field: &str, text: &str) -> Result<Vec<Vec<Relation>>, String> {
    let rels: Relations = text
        .parse()
        .map_err(|e| format!("`{}`'s `{field}: {text}` does not parse: {e}", pkg.label()))?;
    Ok(rels.0)
}

/// Installed packages of dpkg's status: `install ok installed` (and `hold ok installed`,
/// which is installed too).
pub(crate) fn installed(status: &str) -> Result<Vec<Pkg>, String> {
    let mut out = Vec::new();
    for st in stanzas(status)? {
        let state: Vec<&str> = st.get("Status").unwrap_or("").split_whitespace().collect();
        if !matches!(state.as_slice(), ["install" | "hold", "ok", "installed"]) {
            continue;
        }
        out.push(Pkg::from_stanza(&st, usize::MAX)?);
    }
    Ok(out)
}

/// The decompressed bytes of an index named `path` (`main/binary-amd64/Packages.xz`), refused
/// beyond `max` bytes so a small index cannot expand without bound.
pub(crate) fn decompress(path: &str, bytes: Vec<u8>, max: u64) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let read = if path.ends_with(".xz") {
        lzma_rust2::XzReader::new(&bytes[..], true)
            .take(max + 1)
            .read_to_end(&mut out)
    } else if path.ends_with(".gz") {
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(max + 1)
            .read_to_end(&mut out)
    } else {
        out = bytes;
        Ok(out.len())
    };
    read.map_err(|e| format!("cannot decompress: {e}"))?;
    if out.len() as u64 > max {
        return Err(format!(
            "decompresses to more than {max} bytes, which envc refuses"
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_join_continuations_and_split_on_blank_lines() {
        let text = "Package: a\nDescription: x\n more\n\nPackage: b\nVersion: 1\n";
        let st = stanzas(text).unwrap();
        assert_eq!(st.len(), 2);
        assert_eq!(st[0].get("description"), Some("x\nmore"));
        assert_eq!(st[1].get("Version"), Some("1"));
        assert_eq!(st[1].line, 5);
        assert!(stanzas(" orphan\n").is_err());
        assert!(stanzas("Package a\n").is_err());
    }

    #[test]
    fn installed_keeps_only_installed_packages() {
        let status =
            "Package: a\nStatus: install ok installed\nVersion: 1\nArchitecture: amd64\n\n\
                      Package: b\nStatus: deinstall ok config-files\nVersion: 2\n\n\
                      Package: c\nStatus: hold ok installed\nVersion: 3\nArchitecture: all\n";
        let names: Vec<String> = installed(status)
            .unwrap()
            .into_iter()
            .map(|p| p.name)
            .collect();
        assert_eq!(names, ["a", "c"]);
        let bad = "Package: a\nStatus: install ok installed\n";
        assert!(installed(bad).unwrap_err().contains("`a`"));
    }

    #[test]
    fn decompress_refuses_beyond_the_cap() {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        std::io::Write::write_all(&mut gz, &[b'a'; 1000]).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(decompress("P.gz", gz.clone(), 1000).unwrap().len(), 1000);
        assert!(decompress("P.gz", gz, 999).is_err());
        assert!(decompress("P.xz", b"not xz".to_vec(), 10).is_err());
    }
}
