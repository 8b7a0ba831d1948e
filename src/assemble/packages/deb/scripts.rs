//! What maintainer scripts would have done, since envc does not run them (policy in the
//! parent module's documentation): the scripts and trigger lines a deb carries, the
//! `update-alternatives --install` calls of its `postinst` emulated, and one warning per
//! package for every other effect.
//!
//! The classifier reads `preinst` and `postinst` (what runs on installation; `prerm`/`postrm`
//! run on removal) as shell one simple command at a time. Shell structure (`if`, `case`,
//! tests, `set -e`, `exit`) and debhelper's no-ops on a fresh install
//! (`dpkg-maintscript-helper`, `update-alternatives --remove`) are skipped; everything else is
//! an effect the image will lack.

use super::{rewrite, Builder, Deb};
use crate::lock::file::LockedDeb;
use crate::oci::layer::EntryKind;
use std::collections::BTreeMap;

const ORDER: [&str; 5] = ["preinst", "postinst", "prerm", "postrm", "config"];

pub(super) fn list(deb: &Deb) -> Vec<String> {
    let mut out: Vec<String> = ORDER
        .iter()
        .filter(|s| deb.control_files.contains_key(**s))
        .map(|s| s.to_string())
        .collect();
    out.extend(
        trigger_lines(deb)
            .into_iter()
            .map(|l| format!("trigger: {l}")),
    );
    out
}

fn text(deb: &Deb, name: &str) -> String {
    deb.control_files
        .get(name)
        .map(|m| String::from_utf8_lossy(&m.bytes).into_owned())
        .unwrap_or_default()
}

fn trigger_lines(deb: &Deb) -> Vec<String> {
    text(deb, "triggers")
        .lines()
        .map(|l| {
            l.split('#')
                .next()
                .unwrap_or_default()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect()
}

/// One `update-alternatives --install` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Install {
    pub link: String,
    pub name: String,
    pub path: String,
    pub priority: i64,
    /// (link, name, path) of each `--slave`.
    pub slaves: Vec<(String, String, String)>,
}

/// The simple commands of a shell script: continuations joined, comments dropped, split on
/// `;`, `&&`, `||` and newlines (quotes are not parsed: an odd command is then merely
/// reported, never run).
fn commands(script: &str) -> Vec<Vec<String>> {
    let joined = script.replace("\\\n", " ");
    let mut out = Vec::new();
    for line in joined.lines() {
        let line = match line.find(" #") {
            _ if line.trim_start().starts_with('#') => "",
            Some(n) => &line[..n],
            None => line,
        };
        // A single `|` is left alone: case patterns (`abort-upgrade|abort-remove)`) use it.
        for seg in line
            .split("&&")
            .flat_map(|s| s.split("||"))
            .flat_map(|s| s.split(';'))
        {
            let words: Vec<String> = seg
                .split_whitespace()
                .map(|w| w.trim_matches(['"', '\'']).to_string())
                .collect();
            if !words.is_empty() {
                out.push(words);
            }
        }
    }
    out
}

const KEYWORDS: [&str; 10] = [
    "if", "then", "else", "elif", "do", "while", "until", "!", "{", "(",
];
const NOOPS: [&str; 22] = [
    "fi",
    "done",
    "esac",
    "}",
    ")",
    "case",
    "set",
    "exit",
    "true",
    ":",
    "return",
    "[",
    "test",
    "echo",
    "printf",
    "shift",
    "local",
    "export",
    "which",
    "command",
    "dpkg-maintscript-helper",
    "ldconfig",
];

/// What one script does: emulable alternatives and the other commands (first words, in order).
fn classify(script: &str) -> (Vec<Install>, Vec<String>) {
    let mut installs = Vec::new();
    let mut other: Vec<String> = Vec::new();
    for mut words in commands(script) {
        while words
            .first()
            .is_some_and(|w| KEYWORDS.contains(&w.as_str()))
        {
            words.remove(0);
        }
        let Some(first) = words.first().map(String::as_str) else {
            continue;
        };
        let is_pattern = first.ends_with(')') && !first.contains('(') || first.ends_with("()");
        let is_assign = first.contains('=') && !first.starts_with('=');
        let version_test =
            first == "dpkg" && words.get(1).is_some_and(|w| w == "--compare-versions");
        if NOOPS.contains(&first)
            || is_pattern
            || is_assign
            || version_test
            || first.starts_with('#')
        {
            continue;
        }
        if first.ends_with("update-alternatives") {
            // Options that change only its output (gcc's postinst passes `--quiet`).
            let skip = 1 + words[1..]
                .iter()
                .take_while(|w| matches!(w.as_str(), "--quiet" | "--verbose" | "--debug"))
                .count();
            match words.get(skip).map(String::as_str) {
                Some("--remove" | "--remove-all") => continue,
                Some("--install") => {
                    if let Some(i) = parse_install(&words[skip + 1..]) {
                        installs.push(i);
                        continue;
                    }
                }
                _ => {}
            }
        }
        let name = first.rsplit('/').next().unwrap_or(first).to_string();
        let name = if name.starts_with("db_") || name == "." {
            "debconf".to_string()
        } else {
            name
        };
        if !other.contains(&name) {
            other.push(name);
        }
    }
    (installs, other)
}

/// `LINK NAME PATH PRIORITY [--slave LINK NAME PATH]…`, only with literal words.
fn parse_install(args: &[String]) -> Option<Install> {
    if args.iter().any(|a| a.contains(['$', '`', '*'])) || args.len() < 4 {
        return None;
    }
    let mut install = Install {
        link: args[0].clone(),
        name: args[1].clone(),
        path: args[2].clone(),
        priority: args[3].parse().ok()?,
        slaves: Vec::new(),
    };
    let mut rest = &args[4..];
    while let [flag, link, name, path, tail @ ..] = rest {
        if flag != "--slave" {
            return None;
        }
        install
            .slaves
            .push((link.clone(), name.clone(), path.clone()));
        rest = tail;
    }
    (rest.is_empty() && install.link.starts_with('/') && install.path.starts_with('/'))
        .then_some(install)
}

/// What the image will lack when `cmd` does not run.
fn lack(cmd: &str) -> String {
    match cmd {
        "adduser" | "addgroup" | "useradd" | "groupadd" | "usermod" => {
            "the users and groups it creates".into()
        }
        "systemctl" | "deb-systemd-helper" | "deb-systemd-invoke" | "invoke-rc.d"
        | "update-rc.d" => "its services enabled or started".into(),
        "update-ca-certificates" => "a rebuilt CA bundle (/etc/ssl/certs)".into(),
        "debconf" => "its debconf answers".into(),
        "dpkg-trigger" => "the triggers it activates".into(),
        "mkdir" | "chown" | "chmod" | "chgrp" | "dpkg-statoverride" => {
            "the state directories, owners and modes it sets up".into()
        }
        "update-alternatives" => "the alternatives it registers with computed arguments".into(),
        other => format!("whatever `{other}` does"),
    }
}

pub(super) fn apply(b: &mut Builder<'_>, debs: &[(LockedDeb, Deb)]) {
    let mut alts: BTreeMap<String, Vec<Install>> = BTreeMap::new();
    for (_, deb) in debs {
        let mut other = Vec::new();
        for script in ["preinst", "postinst"] {
            let (installs, cmds) = classify(&text(deb, script));
            if script == "postinst" {
                for i in installs {
                    alts.entry(i.name.clone()).or_default().push(i);
                }
            }
            for c in cmds {
                if !other.contains(&c) {
                    other.push(c);
                }
            }
        }
        let triggers: Vec<String> = trigger_lines(deb)
            .into_iter()
            .filter(|l| {
                !matches!(
                    l.as_str(),
                    "activate-noawait ldconfig" | "activate ldconfig"
                )
            })
            .collect();
        if !other.is_empty() || !triggers.is_empty() {
            let mut msg = format!(
                "{} {}: maintainer scripts are not run",
                deb.name, deb.version
            );
            if !other.is_empty() {
                let lacks: Vec<String> = other.iter().map(|c| lack(c)).collect();
                msg += &format!(
                    "; they would have run {} — the image lacks {}",
                    other.join(", "),
                    lacks.join(", ")
                );
            }
            if !triggers.is_empty() {
                msg += &format!("; its triggers ({}) do not fire", triggers.join("; "));
            }
            b.warnings.push(msg);
        }
    }
    for (name, choices) in alts {
        alternative(b, &name, choices);
    }
}

/// Writes one alternative as update-alternatives would after all `--install` calls: choices
/// sorted by path, slaves in order of first appearance, the first highest priority wins.
fn alternative(b: &mut Builder<'_>, name: &str, mut choices: Vec<Install>) {
    choices.sort_by(|a, c| a.path.cmp(&c.path));
    choices.dedup_by(|a, c| a.path == c.path);
    let Some(best) = choices.iter().fold(None::<&Install>, |best, c| match best {
        Some(x) if x.priority >= c.priority => Some(x),
        _ => Some(c),
    }) else {
        return;
    };
    let master = choices[0].link.clone();
    let mut slaves: Vec<(String, String)> = Vec::new();
    for c in &choices {
        for (link, sname, _) in &c.slaves {
            if !slaves.iter().any(|(n, _)| n == sname) {
                slaves.push((sname.clone(), link.clone()));
            }
        }
    }
    let mut file = format!("auto\n{master}\n");
    for (sname, link) in &slaves {
        file += &format!("{sname}\n{link}\n");
    }
    file.push('\n');
    for c in &choices {
        file += &format!("{}\n{}\n", c.path, c.priority);
        for (sname, _) in &slaves {
            let p = c
                .slaves
                .iter()
                .find(|(_, n, _)| n == sname)
                .map_or("", |(_, _, p)| p.as_str());
            file += &format!("{p}\n");
        }
    }
    file.push('\n');
    b.put_file(
        &format!("var/lib/dpkg/alternatives/{name}"),
        file.into_bytes(),
        0o644,
    );
    let mut links = vec![(name.to_string(), master, best.path.clone())];
    for (sname, link) in &slaves {
        if let Some((_, _, p)) = best.slaves.iter().find(|(_, n, _)| n == sname) {
            links.push((sname.clone(), link.clone(), p.clone()));
        }
    }
    for (aname, link, target) in links {
        let alt = format!("etc/alternatives/{aname}");
        b.put(super::entry(&alt, EntryKind::Symlink(target), 0o777, 0, 0));
        let Some(layer) = rewrite(&b.facts.merged_usr, link.trim_start_matches('/')) else {
            continue;
        };
        if b.claims.contains_key(&layer) {
            b.warnings.push(format!(
                "alternative {aname}: `{link}` is a file of a package, not replaced by a link to /etc/alternatives/{aname}"
            ));
            continue;
        }
        b.put(super::entry(
            &layer,
            EntryKind::Symlink(format!("/etc/alternatives/{aname}")),
            0o777,
            0,
            0,
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// bookworm's gcc 4:12.2.0-3 postinst, verbatim in its structure.
    const GCC: &str = "#! /bin/sh\n\nset -e\n\nupdate-alternatives --quiet \\\n    --install /usr/bin/cc cc /usr/bin/gcc 20 \\\n    #--slave /usr/share/man/man1/cc.1.gz cc.1.gz /usr/share/man/man1/gcc.1.gz\n\nupdate-alternatives --quiet \\\n    --install /usr/bin/c89 c89 /usr/bin/c89-gcc 20 \\\n    --slave /usr/share/man/man1/c89.1.gz c89.1.gz /usr/share/man/man1/c89-gcc.1.gz\n\n# remove f77 alternative left over from an old egcs version ...\nif [ -h /etc/alternatives/f77 -a ! -e /etc/alternatives/f77 ]; then\n    rm -f /etc/alternatives/f77\nfi\n\nexit 0\n";

    #[test]
    fn gcc_postinst_alternatives_are_read_and_the_rest_reported() {
        let (installs, other) = classify(GCC);
        assert_eq!(installs.len(), 2);
        assert_eq!(
            (
                installs[0].link.as_str(),
                installs[0].name.as_str(),
                installs[0].path.as_str(),
                installs[0].priority
            ),
            ("/usr/bin/cc", "cc", "/usr/bin/gcc", 20)
        );
        assert!(installs[0].slaves.is_empty());
        assert_eq!(
            installs[1].slaves,
            [(
                "/usr/share/man/man1/c89.1.gz".into(),
                "c89.1.gz".into(),
                "/usr/share/man/man1/c89-gcc.1.gz".into()
            )]
        );
        assert_eq!(other, ["rm"]);
    }

    #[test]
    fn computed_arguments_are_not_emulated() {
        let (installs, other) =
            classify("update-alternatives --install /usr/bin/x x /usr/lib/$ARCH/x 10\n");
        assert!(installs.is_empty());
        assert_eq!(other, ["update-alternatives"]);
        let (_, other) = classify("case \"$1\" in\n  configure|abort-upgrade)\n  . /usr/share/debconf/confmodule\n  db_get foo/bar || true\n  ldconfig\n  ;;\nesac\n");
        assert_eq!(other, ["debconf"]);
    }
}
