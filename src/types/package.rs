//! Package entries, one type per ecosystem. Each type can only be built by parsing an entry
//! against its ecosystem's grammar (Debian names, PEP 508 or pip's URL forms, conda MatchSpec),
//! after the checks every entry shares: not empty, no NUL/CR/LF, no leading `-` (option
//! injection). A value of these types is therefore safe to shell-quote onto one line.

use crate::diag::codes::{self, Code};
use regex_lite::Regex;
use std::str::FromStr;
use std::sync::OnceLock;

/// Why an entry was refused; `at` is a byte range inside the entry when the grammar says where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryError {
    pub code: Code,
    pub message: String,
    pub help: Option<String>,
    pub at: Option<(usize, usize)>,
}

fn entry_error(code: Code, message: impl Into<String>, help: Option<&str>) -> EntryError {
    EntryError {
        code,
        message: message.into(),
        help: help.map(str::to_string),
        at: None,
    }
}

/// The checks every single-line entry gets before its grammar.
pub fn check_common(s: &str, what: &str) -> Result<(), EntryError> {
    if s.trim().is_empty() {
        return Err(entry_error(
            codes::EMPTY,
            format!("empty {what}"),
            Some("remove the empty item"),
        ));
    }
    if let Some(i) = s.find(['\0', '\r', '\n']) {
        let mut e = entry_error(
            codes::CONTROL_CHAR,
            format!("{what} contains a {}", control_name(s.as_bytes()[i])),
            Some("an entry is one line; a line break would start a new Dockerfile instruction"),
        );
        e.at = Some((i, i + 1));
        return Err(e);
    }
    if s.starts_with('-') {
        return Err(entry_error(
            codes::LEADING_DASH,
            format!("{what} `{s}` starts with `-`"),
            Some("it would be read as an option; put options in `post_build_cmds`"),
        ));
    }
    Ok(())
}

pub fn control_name(b: u8) -> &'static str {
    match b {
        b'\0' => "NUL character",
        b'\r' => "carriage return",
        _ => "line feed",
    }
}

fn re(cell: &'static OnceLock<Regex>, pattern: &str) -> &'static Regex {
    cell.get_or_init(|| Regex::new(pattern).expect("static regex"))
}

/// A Debian package as `apt-get install` reads an argument: `name[:arch][=version|/release]`,
/// optionally followed by `+`.
///
/// apt-get (apt-private/private-install.cc, apt-pkg/cacheset.cc) strips one trailing `-`
/// (remove) or `+` (install) from the whole argument, then splits `=VERSION` or `/RELEASE` at
/// the last `=` or `/`, then `:ARCH` at the last `:` of what is left. So a trailing `-` after
/// any part (`sudo:amd64-`, `sudo=1.2-1-`) removes the package, while a trailing `+` installs
/// exactly what the entry without it would (and `g++` is a name). Checked with
/// `apt-get install -s` on Debian 12.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct DebianPackage(String);

/// Read back (a stored plan) through the same check as the spec's entries.
impl<'de> serde::Deserialize<'de> for DebianPackage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<DebianPackage, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: EntryError| serde::de::Error::custom(e.message))
    }
}

fn located(code: Code, message: String, help: &str, at: (usize, usize)) -> EntryError {
    EntryError {
        code,
        message,
        help: Some(help.to_string()),
        at: Some(at),
    }
}

/// Why `v` is not a version dpkg (and so the archive) can hold, following dpkg's
/// `parseversion`: `[EPOCH:]UPSTREAM[-REVISION]`.
fn debian_version_error(v: &str) -> Option<&'static str> {
    let (epoch, rest) = match v.split_once(':') {
        Some((e, r)) => (Some(e), r),
        None => (None, v),
    };
    if let Some(e) = epoch {
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return Some("the part before the first `:` is an epoch, which must be a number");
        }
        if rest.is_empty() {
            return Some("nothing follows the epoch");
        }
    }
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((u, r)) => (u, Some(r)),
        None => (rest, None),
    };
    // dpkg only warns here, but the archive refuses such versions, so none can be installed.
    if !upstream.starts_with(|c: char| c.is_ascii_digit()) {
        return Some("the upstream version must start with a digit");
    }
    if !upstream
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b".+~-:".contains(&b))
    {
        return Some("the upstream version may hold only letters, digits and `.+~-:`");
    }
    if let Some(r) = revision {
        if r.is_empty()
            || !r
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b".+~".contains(&b))
        {
            return Some(
                "the Debian revision (after the last `-`) may hold only letters, digits and `.+~`",
            );
        }
    }
    None
}

impl FromStr for DebianPackage {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Self, EntryError> {
        check_common(s, "debian package")?;
        let not_a_name = |help: &str, at: Option<(usize, usize)>| EntryError {
            code: codes::DEBIAN_PACKAGE,
            message: format!("`{s}` is not a Debian package name"),
            help: Some(help.to_string()),
            at,
        };
        if let Some(target) = s.strip_suffix('-') {
            let at = (target.len(), s.len());
            return Err(located(
                codes::DEBIAN_PACKAGE,
                format!("`{s}` ends with `-`, which tells apt-get to remove `{target}`"),
                "drop the trailing `-` to install it",
                at,
            ));
        }
        let name_len = s
            .bytes()
            .position(|b| !(b.is_ascii_lowercase() || b.is_ascii_digit() || b"+.-".contains(&b)))
            .unwrap_or(s.len());
        let name = &s[..name_len];
        let rest = &s[name_len..];
        if let Some(i) = s.find(|c: char| !(c.is_ascii_alphanumeric() || "+.-:=/~".contains(c))) {
            let help = if s.contains(char::is_whitespace) {
                "list one package per entry"
            } else {
                "a name is lower-case letters, digits, `+`, `-` and `.`, optionally with `:ARCH` and then `=VERSION` or `/RELEASE`"
            };
            let w = s[i..].chars().next().map_or(1, char::len_utf8);
            return Err(not_a_name(help, Some((i, i + w))));
        }
        if !rest.is_empty() && !rest.starts_with([':', '=', '/']) {
            // What stops the name is an upper-case letter or `~`.
            let help = if rest.starts_with(|c: char| c.is_ascii_uppercase()) {
                "Debian package names are lower case"
            } else {
                "a name is lower-case letters, digits, `+`, `-` and `.`"
            };
            return Err(not_a_name(help, Some((name_len, name_len + 1))));
        }
        if name.len() < 2 || !name.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(not_a_name(
                "a name has at least two characters and starts with a letter or digit",
                Some((0, name_len.max(1).min(s.len()))),
            ));
        }
        // apt-get takes one trailing `+` off an argument that names no package (`install`), so
        // the name it then looks up is the one without it: `sudo.+` is `sudo.`, `sudo-+` is
        // `sudo-`. (`g++` names a package, and `g+` ends in neither `-` nor `.`.)
        let looked_up = match rest.is_empty() {
            true => name.strip_suffix('+').unwrap_or(name),
            false => name,
        };
        let last = (looked_up.len() - 1, looked_up.len());
        if looked_up.ends_with('-') {
            return Err(not_a_name(
                "no Debian package name ends with `-`; remove it",
                Some(last),
            ));
        }
        // apt-get reads a name no package has as a regular expression when it holds `.` or `+`
        // (`sudo.` installed 525 packages in a test, `vim.+` 471); no Debian name ends with `.`.
        if looked_up.ends_with('.') {
            return Err(located(
                codes::DEBIAN_PACKAGE,
                format!(
                    "`{s}` ends its name with `.`, which apt-get reads as a regular expression"
                ),
                "no Debian package name ends with `.`; remove it",
                last,
            ));
        }
        // The parts after the name, in apt-get's order: `:ARCH`, then `=VERSION` or `/RELEASE`.
        let (arch, selector) = match rest.strip_prefix(':') {
            Some(r) => {
                let end = r.find(['=', '/']).unwrap_or(r.len());
                (Some((name_len + 1, &r[..end])), &r[end..])
            }
            None => (None, rest),
        };
        let selector_at = s.len() - selector.len();
        let empty_after = |sep: char, at: usize| {
            located(
                codes::DEBIAN_PACKAGE,
                format!("`{s}` has nothing after `{sep}`"),
                "write `NAME:ARCH`, `NAME=VERSION` or `NAME/RELEASE`, or just `NAME`",
                (at, at + 1),
            )
        };
        if arch.is_some_and(|(_, a)| a.is_empty()) {
            return Err(empty_after(':', name_len));
        }
        if selector.len() == 1 {
            return Err(empty_after(
                selector.chars().next().unwrap_or('='),
                selector_at,
            ));
        }
        if let Some((at, arch)) = arch {
            let arch = arch
                .strip_suffix('+')
                .filter(|_| selector.is_empty())
                .unwrap_or(arch);
            let ok = arch.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && arch
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            if !ok {
                return Err(located(
                    codes::DEBIAN_PACKAGE,
                    format!("`{arch}` in `{s}` is not a Debian architecture"),
                    "an architecture is lower-case letters, digits and `-`, such as `amd64` or `arm64`",
                    (at, at + arch.len()),
                ));
            }
        }
        let Some(kind) = selector.chars().next() else {
            return Ok(DebianPackage(s.to_string()));
        };
        let value = &selector[1..];
        let value_at = selector_at + 1;
        let misread = |what: &str, help: &str, j: usize| {
            located(
                codes::DEBIAN_PACKAGE,
                format!("`{s}` gives {what}, which apt-get does not read"),
                help,
                (value_at + j, s.len()),
            )
        };
        const ONE_OF: &str = "apt-get takes `=VERSION` or `/RELEASE`, not both; keep one";
        if kind == '=' {
            if let Some(j) = value.find(['/', '=']) {
                return Err(misread("both a version and a release", ONE_OF, j));
            }
            if let Some(why) = debian_version_error(value) {
                let help = if value.contains(':') {
                    "an epoch is a number (`vim=2:8.1.2269-1`); to pick an architecture write `NAME:ARCH=VERSION`"
                } else {
                    "write the version exactly as `apt-cache policy NAME` lists it"
                };
                return Err(located(
                    codes::DEBIAN_PACKAGE,
                    format!("`{value}` in `{s}` is not a Debian version: {why}"),
                    help,
                    (value_at, s.len()),
                ));
            }
        } else {
            if let Some(j) = value.find(':') {
                let help = "write the architecture first: `NAME:ARCH/RELEASE`";
                return Err(misread("an architecture after the release", help, j));
            }
            if let Some(j) = value.find(['/', '=']) {
                return Err(misread("both a release and a version", ONE_OF, j));
            }
            let release = value.strip_suffix('+').unwrap_or(value);
            let ok = release.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
                && release
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-".contains(&b));
            if !ok {
                return Err(located(
                    codes::DEBIAN_PACKAGE,
                    format!("`{value}` in `{s}` is not a release name"),
                    "a release is a suite or codename such as `bookworm-backports` or `stable`",
                    (value_at, s.len()),
                ));
            }
        }
        Ok(DebianPackage(s.to_string()))
    }
}

/// A pip requirement: PEP 508, or one of the URL forms pip accepts (VCS URLs, archives).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct PipRequirement(String);

/// Read back (a stored plan) through the same check as the spec's entries.
impl<'de> serde::Deserialize<'de> for PipRequirement {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PipRequirement, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: EntryError| serde::de::Error::custom(e.message))
    }
}

impl FromStr for PipRequirement {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Self, EntryError> {
        check_common(s, "pip requirement")?;
        if is_pip_url(s) {
            return Ok(PipRequirement(s.to_string()));
        }
        if let Some(path) = pip_local_archive(s) {
            let mut err = entry_error(
                codes::PIP_REQUIREMENT,
                format!("pip reads `{s}` as the path of a local file, not as a requirement"),
                Some("name a remote archive by its URL (`https://…/pkg.whl`) or write a requirement such as `pkg==1.0`"),
            );
            err.at = Some((0, path.len()));
            return Err(err);
        }
        let parse = |t: &str| pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(t);
        let e = match parse(s) {
            Ok(_) => return Ok(PipRequirement(s.to_string())),
            Err(e) => e,
        };
        // pep508_rs reads the version after `===` as PEP 440, but PEP 440's arbitrary equality
        // compares any string (`foo===weird`), as pip's `packaging` does. Retry with each such
        // string replaced by a PEP 440 version of the same length, so positions still hold.
        if let Some(t) = with_arbitrary_versions_replaced(s) {
            if parse(&t).is_ok() {
                return Ok(PipRequirement(s.to_string()));
            }
        }
        let detail = e.message.to_string();
        let help = if s.starts_with("git+") || s.contains("://") {
            "a URL needs a scheme pip knows (`git+https://…`, `https://…/pkg.whl`); name it with `name @ URL` or `#egg=name`"
        } else {
            "write a PEP 508 requirement such as `requests>=2.8,<3` or `ray[default]==2.9.0`"
        };
        let mut err = entry_error(
            codes::PIP_REQUIREMENT,
            format!("`{s}` is not a pip requirement: {}", first_line(&detail)),
            Some(help),
        );
        let start = e.start.min(s.len());
        err.at = Some((start, (start + e.len.max(1)).min(s.len()).max(start)));
        Err(err)
    }
}

/// `s` with every version after `===` in its specifiers (before any `;` marker, and not in a
/// `name @ URL` reference) replaced by `0.0…` of the same byte length; `None` if there is none.
/// The version is what `packaging` takes: everything up to whitespace, `,`, `;` or `)`.
fn with_arbitrary_versions_replaced(s: &str) -> Option<String> {
    let (specifiers, markers) = s.split_at(s.find(';').unwrap_or(s.len()));
    if specifiers.contains('@') || !specifiers.contains("===") {
        return None;
    }
    let mut out = String::with_capacity(s.len());
    let mut rest = specifiers;
    while let Some(i) = rest.find("===") {
        let (head, tail) = rest.split_at(i + 3);
        let spaces = tail.len() - tail.trim_start().len();
        out.push_str(head);
        out.push_str(&tail[..spaces]);
        let tail = &tail[spaces..];
        let n = tail
            .find(|c: char| c.is_whitespace() || ",;)".contains(c))
            .unwrap_or(tail.len());
        // "0", "00", "0.0", "00.0", …: a valid PEP 440 version of any length.
        let mut v = String::from(if n % 2 == 1 { "0" } else { "00" });
        while v.len() < n {
            v.push_str(".0");
        }
        v.truncate(n);
        out.push_str(&v);
        rest = &tail[n..];
    }
    out.push_str(rest);
    out.push_str(markers);
    Some(out)
}

/// pip's archive extensions (pip/_internal/utils/filetypes.py).
const PIP_ARCHIVES: &[&str] = &[
    ".whl",
    ".zip",
    ".tar.gz",
    ".tgz",
    ".tar",
    ".tar.bz2",
    ".tbz",
    ".tar.xz",
    ".txz",
    ".tlz",
    ".tar.lz",
    ".tar.lzma",
];

/// The path pip would install from when it reads a (non-URL) entry as a local archive, as
/// pip's `parse_req_from_line` does: markers cut at `;`, a trailing `[extras]` stripped, an
/// archive extension, and no `@` (which makes it a PEP 508 direct reference).
fn pip_local_archive(s: &str) -> Option<&str> {
    let path = s.split(';').next().unwrap_or(s).trim_end();
    let path = match path.strip_suffix(']').and_then(|p| p.rfind('[')) {
        Some(i) if i > 0 => &path[..i],
        _ => path,
    };
    let lower = path.to_ascii_lowercase();
    (!s.contains('@') && PIP_ARCHIVES.iter().any(|ext| lower.ends_with(ext))).then_some(path)
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The non-PEP 508 forms pip accepts and real specs use: a bare VCS URL with one of the
/// schemes pip's VCS backends register (pip/_internal/vcs: git, hg, svn, bzr), and an archive
/// URL (`http`, `https`, `file`, `ftp`: the schemes pip's `is_url` knows) ending in one of
/// pip's archive extensions (pip/_internal/utils/filetypes.py).
fn is_pip_url(s: &str) -> bool {
    // Every form below has `://` or `bzr+lp:`; a plain requirement (nearly every entry) must
    // not pay for compiling the regexes (a fifth of `envc dockerfile`'s instructions).
    if !s.contains("://")
        && !s
            .get(..7)
            .is_some_and(|p| p.eq_ignore_ascii_case("bzr+lp:"))
    {
        return false;
    }
    static VCS: OnceLock<Regex> = OnceLock::new();
    static ARCHIVE: OnceLock<Regex> = OnceLock::new();
    const URL_CHARS: &str = r"[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]+$";
    let vcs = re(
        &VCS,
        &format!(
            r"^(?i:git\+(https?|ssh|git|file)://|hg\+(https?|ssh|file|static-http)://|svn\+(https?|ssh|svn|file)://|bzr\+((https?|ssh|sftp|ftp|file)://|lp:)){URL_CHARS}"
        ),
    );
    if vcs.is_match(s) {
        return true;
    }
    let archive = re(&ARCHIVE, &format!(r"^(?i:https?|file|ftp)://{URL_CHARS}"));
    let path = s.split(['#', '?']).next().unwrap_or(s);
    archive.is_match(s)
        && PIP_ARCHIVES
            .iter()
            .any(|ext| path.to_ascii_lowercase().ends_with(ext))
}

/// A conda MatchSpec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CondaSpec(String);

/// Read back (a stored plan) through the same check as the spec's entries.
impl<'de> serde::Deserialize<'de> for CondaSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<CondaSpec, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(|e: EntryError| serde::de::Error::custom(e.message))
    }
}

/// Whether `conda install` reads the entry as a package file rather than a MatchSpec: its
/// `is_package_file` tests only the ending (`.conda`, `.tar.bz2`), for paths and URLs alike.
pub fn is_conda_package_file(s: &str) -> bool {
    s.ends_with(".conda") || s.ends_with(".tar.bz2")
}

impl FromStr for CondaSpec {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Self, EntryError> {
        check_common(s, "conda package")?;
        // rattler reads `numpy-1.26.0-py310_0.tar.bz2` as a package name; conda reads it as a
        // local file, which the image does not have.
        if is_conda_package_file(s) && !s.contains("://") {
            return Err(entry_error(
                codes::CONDA_SPEC,
                format!("conda reads `{s}` as the path of a local package file, not a MatchSpec"),
                Some("name the package (`numpy=1.26=py310_0`) or give the file's URL"),
            ));
        }
        // Lenient is rattler's model of how conda itself reads a spec, including the forms
        // conda's docs and users write (`numpy=1.26=py310_0`, `python=3.10.*`) that rattler's
        // Strict grammar refuses; conda is what runs these entries, so its reading decides.
        match rattler_conda_types::MatchSpec::from_str(
            s,
            rattler_conda_types::ParseStrictness::Lenient,
        ) {
            Ok(_) => Ok(CondaSpec(s.to_string())),
            Err(e) => Err(entry_error(
                codes::CONDA_SPEC,
                format!("`{s}` is not a conda MatchSpec: {e}"),
                Some("write `name`, `name=1.2`, `name=1.2=BUILD`, `name>=1.2,<2` or `channel::name=1.2`"),
            )),
        }
    }
}

macro_rules! as_str {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    )*};
}
as_str!(DebianPackage, PipRequirement, CondaSpec);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debian() {
        for ok in [
            "vim",
            "libglib2.0-0",
            "g++",
            "vim=2:8.1.2269-1ubuntu5",
            "python3/bookworm-backports",
            "libc6:amd64",
            // Forms apt-get installs (checked with `apt-get install -s`): `:ARCH` before
            // `=VERSION` or `/RELEASE`, and a trailing `+`, which means "install".
            "sudo:amd64=1.9.13p3-1+deb12u4",
            "sudo:amd64/bookworm",
            "sudo/12",
            "sudo+",
            "sudo:amd64+",
            "sudo=1.9.13p3-1+deb12u4+",
            "sudo/bookworm+",
            "sudo=1:2:3",
        ] {
            assert!(ok.parse::<DebianPackage>().is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-y",
            "vim-",
            "Vim",
            "vim && rm",
            "a",
            "#x",
            "vim\nUSER root",
            "v",
            "sudo:",
            "sudo=",
            "sudo/",
            "vim-:amd64",
            "sudo:AMD64",
            "sudo=a1.0",
            "sudo=1.0-a_b",
            "sudo.",
            "sudo.:amd64",
        ] {
            assert!(bad.parse::<DebianPackage>().is_err(), "{bad}");
        }
        assert_eq!(
            "--force".parse::<DebianPackage>().unwrap_err().code,
            codes::LEADING_DASH
        );
    }

    /// apt-get reads a trailing `-` after any part of an entry as "remove"; the error points
    /// at the `-`. Other forms apt-get does not read are located at the part it trips on.
    #[test]
    fn debian_meaning_changes_are_located() {
        for (entry, at, says) in [
            ("vim-", (3, 4), "remove `vim`"),
            ("sudo:amd64-", (10, 11), "remove `sudo:amd64`"),
            (
                "sudo=1.9.13p3-1+deb12u4-",
                (23, 24),
                "remove `sudo=1.9.13p3-1+deb12u4`",
            ),
            ("sudo/bookworm-", (13, 14), "remove `sudo/bookworm`"),
            ("sudo+-", (5, 6), "remove `sudo+`"),
            (
                "sudo=1.9.13p3-1+deb12u4/bookworm",
                (23, 32),
                "both a version and a release",
            ),
            (
                "sudo/bookworm=1.9",
                (13, 17),
                "both a release and a version",
            ),
            (
                "sudo/bookworm:amd64",
                (13, 19),
                "an architecture after the release",
            ),
            ("sudo=1.9.13p3-1+deb12u4:amd64", (5, 29), "epoch"),
            ("vim;id", (3, 4), "not a Debian package name"),
            // apt-get takes the `+` off first, then reads `vim.` as a regular expression.
            ("vim.+", (3, 4), "regular expression"),
            ("sudo-+", (4, 5), "not a Debian package name"),
        ] {
            let e = entry.parse::<DebianPackage>().unwrap_err();
            assert_eq!(e.code, codes::DEBIAN_PACKAGE, "{entry}");
            assert_eq!(e.at, Some(at), "{entry}: {e:?}");
            assert!(e.message.contains(says), "{entry}: {}", e.message);
            assert!(e.help.is_some(), "{entry}");
        }
    }

    #[test]
    fn pip() {
        for ok in [
            "ray[default]==2.9.0",
            "requests[security]>=2.8.1,==2.8.*; python_version<\"3.7\"",
            "torch>=1.10,<2",
            "diffusers @ git+https://github.com/huggingface/diffusers.git@v0.19.0",
            "git+https://github.com/ray-project/xgboost_ray@master#egg=xgboost_ray",
            "https://example.org/wheels/ray-3.0.0.dev0-cp38-cp38-manylinux2014_x86_64.whl",
            "torch==2.0.1+cu118",
            // PEP 440 arbitrary equality: any string, as pip's `packaging` reads it.
            "foo===weird",
            "foo ===weird",
            "foo===wéird",
            "foo[x]===weird ; python_version > '3'",
            "foo===a, >=1",
            "foo (===weird)",
            "foo>=1,===x",
            "foo.whl-tools",
            "pkg.zip @ https://example.org/pkg.zip",
            // Every VCS scheme pip registers, and pip's archive extensions.
            "git+git://github.com/org/repo.git@v1#egg=repo",
            "git+ssh://git@github.com/org/repo.git",
            "git+file:///srv/repo",
            "git+http://example.org/repo",
            "hg+https://hg.example.org/repo#egg=repo",
            "hg+static-http://hg.example.org/repo",
            "svn+svn://svn.example.org/repo/trunk",
            "bzr+sftp://example.org/repo",
            "bzr+lp:project",
            "ftp://example.org/pkg-1.0.tar.gz",
            "https://example.org/pkg-1.0.tar.xz",
            "https://example.org/pkg-1.0.tar",
        ] {
            assert!(ok.parse::<PipRequirement>().is_ok(), "{ok}");
        }
        for bad in [
            "-r requirements.txt",
            "foo bar",
            "x==",
            "#egg",
            "a\nb",
            "https://example.org/page",
            "foo===",
            "foo===a b",
            "foo===weird)",
            "git+gopher://example.org/repo",
            "ssh://example.org/pkg.whl",
            "cvs+https://example.org/repo",
            // pip reads these as local files.
            "foo.whl",
            "pkg-1.0.tar.gz",
            "foo.zip[extra]; python_version > '3'",
        ] {
            assert!(bad.parse::<PipRequirement>().is_err(), "{bad}");
        }
    }

    #[test]
    fn conda() {
        for ok in [
            "pkutils",
            "numpy=1.11",
            "numpy>=1.2,<2",
            "conda-forge::numpy==1.11.0",
            // conda reads these (rattler's lenient mode); the strict grammar refuses them.
            "numpy=1.26=py310_0",
            "pytorch=2.1.0=py3.10_cuda11.8_cudnn8.7.0_0",
            "numpy=1.26=*_0",
            "python=3.10.*",
            "numpy 1.26 py310_0",
            "https://conda.anaconda.org/conda-forge/linux-64/numpy-1.26.0-py310_0.conda",
        ] {
            assert!(ok.parse::<CondaSpec>().is_ok(), "{ok}");
        }
        for bad in [
            "-c conda-forge",
            "numpy ==",
            "numpy;id",
            "#x",
            "numpy 1.*.2",
            "numpy-1.26.0-py310_0.tar.bz2",
            "numpy-1.26.0-py310_0.conda",
        ] {
            assert!(bad.parse::<CondaSpec>().is_err(), "{bad}");
        }
    }
}
