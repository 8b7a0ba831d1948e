//! Package entries, one type per ecosystem. Each type can only be built by parsing an entry
//! against its ecosystem's grammar (Debian names, PEP 508 or pip's URL forms, conda MatchSpec),
//! after the checks every entry shares: not empty, no NUL/CR/LF, no leading `-` (option
//! injection). A value of these types is therefore safe to shell-quote onto one line.

use crate::codes::{self, Code};
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

/// A Debian package: `name[:arch][=version|/release]`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct DebianPackage(String);

impl FromStr for DebianPackage {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Self, EntryError> {
        check_common(s, "debian package")?;
        static NAME: OnceLock<Regex> = OnceLock::new();
        let pattern = r"^([a-z0-9][a-z0-9+.-]+)(:[a-z0-9][a-z0-9-]*)?(=[0-9A-Za-z.+~:-]+|/[a-z0-9][a-z0-9.-]*)?$";
        let Some(caps) = re(&NAME, pattern).captures(s) else {
            let help = if s.chars().any(|c| c.is_ascii_uppercase()) {
                "Debian package names are lower case"
            } else if s.contains(char::is_whitespace) {
                "list one package per entry"
            } else {
                "a name is lower-case letters, digits, `+`, `-` and `.`, optionally with `=VERSION`, `/RELEASE` or `:ARCH`"
            };
            return Err(entry_error(
                codes::DEBIAN_PACKAGE,
                format!("`{s}` is not a Debian package name"),
                Some(help),
            ));
        };
        let name = &caps[1];
        if name.ends_with('-') && caps.get(2).is_none() && caps.get(3).is_none() {
            return Err(entry_error(
                codes::DEBIAN_PACKAGE,
                format!(
                    "`{s}` ends with `-`, which tells apt-get to remove `{}`",
                    &name[..name.len() - 1]
                ),
                Some("drop the trailing `-`"),
            ));
        }
        Ok(DebianPackage(s.to_string()))
    }
}

/// A pip requirement: PEP 508, or one of the URL forms pip accepts (VCS URLs, archives).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct PipRequirement(String);

impl FromStr for PipRequirement {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Self, EntryError> {
        check_common(s, "pip requirement")?;
        if is_pip_url(s) {
            return Ok(PipRequirement(s.to_string()));
        }
        match pep508_rs::Requirement::<pep508_rs::VerbatimUrl>::from_str(s) {
            Ok(_) => Ok(PipRequirement(s.to_string())),
            Err(e) => {
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
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or(s)
}

/// The non-PEP 508 forms pip accepts and real specs use:
/// `git+https://host/org/repo[@ref][#egg=name]` (and hg/svn/bzr), and archive URLs.
fn is_pip_url(s: &str) -> bool {
    static URL: OnceLock<Regex> = OnceLock::new();
    let url = re(
        &URL,
        r"^((git|hg|svn|bzr)\+)?(https?|ssh|file)://[A-Za-z0-9._~:/?#\[\]@!&'()*+,;=%-]+$",
    );
    if !url.is_match(s) {
        return false;
    }
    let vcs = s.contains("+") && s.split("://").next().is_some_and(|p| p.contains('+'));
    let path = s.split(['#', '?']).next().unwrap_or(s);
    vcs || [".whl", ".tar.gz", ".zip", ".tar.bz2", ".tgz"]
        .iter()
        .any(|ext| path.ends_with(ext))
}

/// A conda MatchSpec.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CondaSpec(String);

impl FromStr for CondaSpec {
    type Err = EntryError;
    fn from_str(s: &str) -> Result<Self, EntryError> {
        check_common(s, "conda package")?;
        match rattler_conda_types::MatchSpec::from_str(
            s,
            rattler_conda_types::ParseStrictness::Strict,
        ) {
            Ok(_) => Ok(CondaSpec(s.to_string())),
            Err(e) => Err(entry_error(
                codes::CONDA_SPEC,
                format!("`{s}` is not a conda MatchSpec: {e}"),
                Some("write `name`, `name=1.2`, `name>=1.2,<2` or `channel::name=1.2`"),
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

/// POSIX single-quoting: the one shell-quoting rule used for every generated word. Entries are
/// free of control characters, so the result is always one line.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

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
        ] {
            assert!(bad.parse::<DebianPackage>().is_err(), "{bad}");
        }
        assert_eq!(
            "vim-".parse::<DebianPackage>().unwrap_err().code,
            codes::DEBIAN_PACKAGE
        );
        assert_eq!(
            "--force".parse::<DebianPackage>().unwrap_err().code,
            codes::LEADING_DASH
        );
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
        ] {
            assert!(ok.parse::<CondaSpec>().is_ok(), "{ok}");
        }
        for bad in ["-c conda-forge", "numpy ==", "a\tb c d e"] {
            assert!(bad.parse::<CondaSpec>().is_err(), "{bad}");
        }
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("a>=1"), "'a>=1'");
        assert_eq!(
            shell_quote("x; python_version<'3'"),
            r"'x; python_version<'\''3'\'''"
        );
    }
}
