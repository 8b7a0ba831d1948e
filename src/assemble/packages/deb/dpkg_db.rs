//! dpkg's and apt's view of the installed packages (hermetic.md §1.4): `var/lib/dpkg/status`
//! (the base's stanzas with the new ones, in dpkg's order), `var/lib/dpkg/info/<stem>.*`,
//! `var/lib/apt/extended_states`, and the whiteouts an upgrade of a base package needs.
//! `.list` files hold the paths as the deb names them (`/bin/cat` even on a merged-/usr base),
//! as dpkg itself records them; only the layer paths go through the merged-/usr rewrite.

use super::{field, replaces, rewrite, stem, Builder, DataKind, Deb, Error};
use crate::lock::facts::BaseFacts;
use crate::lock::file::LockedDeb;
use crate::oci::layer::{Entry, EntryKind};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

const INFO: &str = "var/lib/dpkg/info";
/// control.tar members dpkg keeps in `info/`, with the mode it gives them.
const KEPT: [(&str, u32); 11] = [
    ("preinst", 0o755),
    ("postinst", 0o755),
    ("prerm", 0o755),
    ("postrm", 0o755),
    ("config", 0o755),
    ("triggers", 0o644),
    ("shlibs", 0o644),
    ("symbols", 0o644),
    ("templates", 0o644),
    ("conffiles", 0o644),
    ("md5sums", 0o644),
];

/// A field's whole value, continuation lines joined by a space (`Replaces:` may wrap).
pub(super) fn field_full(stanza: &str, name: &str) -> Option<String> {
    let mut lines = stanza.lines();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if line.starts_with([' ', '\t']) || !key.eq_ignore_ascii_case(name) {
            continue;
        }
        let mut out = value.trim().to_string();
        for cont in lines.by_ref().take_while(|l| l.starts_with([' ', '\t'])) {
            out.push(' ');
            out.push_str(cont.trim());
        }
        return Some(out);
    }
    None
}

/// One stanza of a status file, kept verbatim.
struct Stanza {
    name: String,
    arch: String,
    text: String,
}

fn stanzas(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for line in text.lines() {
        if line.trim().is_empty() {
            if !cur.is_empty() {
                out.push(std::mem::take(&mut cur));
            }
        } else {
            cur.push_str(line);
            cur.push('\n');
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// A new deb takes over a base stanza of its name for the same architecture (or when either
/// side is `all`: an arch change is still the same package for dpkg).
fn takes_over(deb: &Deb, name: &str, arch: &str) -> bool {
    deb.name == name && (deb.arch == arch || deb.arch == "all" || arch == "all")
}

/// What the base's dpkg database says, reduced to what the layer needs.
pub(super) struct Base {
    /// Base stanzas no new deb takes over.
    kept: Vec<Stanza>,
    /// Version of every base package, by name.
    versions: BTreeMap<String, String>,
    /// Layer path → stems of base packages (not taken over) whose `.list` has it.
    owners: BTreeMap<String, Vec<String>>,
    /// Per deb, the stem of the base `.list` it replaces.
    old_stems: Vec<Option<String>>,
}

impl Base {
    pub(super) fn new(facts: &BaseFacts, debs: &[(LockedDeb, Deb)]) -> Result<Base, Error> {
        let (status, lists) = match &facts.dpkg {
            Some(d) => (d.status.as_str(), Some(&d.lists)),
            None => ("", None),
        };
        let mut kept = Vec::new();
        let mut versions = BTreeMap::new();
        for text in stanzas(status) {
            let Some(name) = field(&text, "Package") else {
                return Err(Error::Base {
                    reason: format!(
                        "a status stanza has no `Package` field: `{}`",
                        text.lines().next().unwrap_or_default()
                    ),
                });
            };
            let arch = field(&text, "Architecture").unwrap_or_default();
            if let Some(v) = field(&text, "Version") {
                versions.insert(name.clone(), v);
            }
            if !debs.iter().any(|(_, d)| takes_over(d, &name, &arch)) {
                kept.push(Stanza { name, arch, text });
            }
        }
        let mut old_stems = Vec::new();
        let mut replaced = BTreeSet::new();
        for (_, deb) in debs {
            let old = lists.and_then(|l| {
                [format!("{}:{}", deb.name, deb.arch), deb.name.clone()]
                    .into_iter()
                    .find(|s| l.contains_key(s))
            });
            if let Some(s) = &old {
                replaced.insert(s.clone());
            }
            old_stems.push(old);
        }
        let mut owners: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (s, list) in lists.into_iter().flatten() {
            if replaced.contains(s) {
                continue;
            }
            for line in list.lines() {
                let p = line.trim_start_matches('/');
                if p.is_empty() || p == "." {
                    continue;
                }
                if let Some(layer) = rewrite(&facts.merged_usr, p) {
                    owners.entry(layer).or_default().push(s.clone());
                }
            }
        }
        Ok(Base {
            kept,
            versions,
            owners,
            old_stems,
        })
    }

    /// The base packages `deb` takes the non-directory `path` from (it `Replaces` them), or
    /// dpkg's "trying to overwrite" when it does not.
    pub(super) fn check_overwrite(&self, deb: &Deb, path: &str) -> Result<Vec<String>, Error> {
        let mut taken = Vec::new();
        for s in self.owners.get(path).into_iter().flatten() {
            let name = s.split(':').next().unwrap_or_default();
            // `Multi-Arch: same` siblings (`libc6:i386`) share their common files, as dpkg allows.
            if name == deb.name {
                continue;
            }
            let version = self.versions.get(name).map_or("", String::as_str);
            if !replaces(deb, name, version) {
                return Err(Error::Overwrite {
                    package: deb.name.clone(),
                    other: name.to_string(),
                    path: path.to_string(),
                });
            }
            taken.push(s.clone());
        }
        Ok(taken)
    }
}

/// md5 of each regular file (hard links through their target), by deb path.
fn md5s(deb: &Deb) -> BTreeMap<&str, [u8; 16]> {
    let mut out = BTreeMap::new();
    for e in &deb.data {
        match &e.kind {
            DataKind::File { md5, .. } => {
                out.insert(e.path.as_str(), *md5);
            }
            DataKind::HardLink(t) => {
                if let Some(m) = out.get(t.as_str()).copied() {
                    out.insert(e.path.as_str(), m);
                }
            }
            _ => {}
        }
    }
    out
}

fn hex(md5: &[u8; 16]) -> String {
    md5.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The conffiles dpkg tracks (`remove-on-upgrade` ones are not installed), as absolute paths.
fn conffiles(deb: &Deb) -> Vec<String> {
    let Some(m) = deb.control_files.get("conffiles") else {
        return Vec::new();
    };
    String::from_utf8_lossy(&m.bytes)
        .lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let (path, flags) = words.split_last()?;
            (!flags.contains(&"remove-on-upgrade")).then(|| path.to_string())
        })
        .collect()
}

/// The status stanza: control with `Status:` second and `Conffiles:` before `Description:`.
fn new_stanza(deb: &Deb) -> Result<String, Error> {
    let sums = md5s(deb);
    let mut conf = String::new();
    for path in conffiles(deb) {
        let Some(md5) = sums.get(path.trim_start_matches('/')) else {
            return Err(Error::Control {
                path: deb.file.clone(),
                reason: format!("conffile `{path}` is not a regular file of data.tar"),
            });
        };
        let _ = writeln!(conf, " {path} {}", hex(md5));
    }
    if !conf.is_empty() {
        conf.insert_str(0, "Conffiles:\n");
    }
    let mut out = String::new();
    let mut placed = conf.is_empty();
    for (i, line) in deb.control.lines().enumerate() {
        if !placed && line.len() > 12 && line[..12].eq_ignore_ascii_case("Description:") {
            out.push_str(&conf);
            placed = true;
        }
        out.push_str(line);
        out.push('\n');
        if i == 0 {
            out.push_str("Status: install ok installed\n");
        }
    }
    if !placed {
        out.push_str(&conf);
    }
    Ok(out)
}

fn whiteout(path: String) -> Entry {
    Entry {
        path,
        kind: EntryKind::Whiteout,
        mode: 0o644,
        uid: 0,
        gid: 0,
        xattrs: BTreeMap::new(),
    }
}

pub(super) fn write(
    b: &mut Builder<'_>,
    base: &Base,
    debs: &[(LockedDeb, Deb)],
) -> Result<(), Error> {
    // status: dpkg writes it sorted by package name, then architecture (lib/dpkg/dump.c
    // writedb over pkg_array_sort(pkg_sorter_by_nonambig_name_arch)).
    let mut all: Vec<(String, String, String)> = base
        .kept
        .iter()
        .map(|s| (s.name.clone(), s.arch.clone(), s.text.clone()))
        .collect();
    for (_, deb) in debs {
        all.push((deb.name.clone(), deb.arch.clone(), new_stanza(deb)?));
    }
    all.sort();
    let status: String = all.iter().map(|(_, _, t)| format!("{t}\n")).collect();
    b.put_file("var/lib/dpkg/status", status.into_bytes(), 0o644);

    for (i, (_, deb)) in debs.iter().enumerate() {
        let s = stem(deb);
        let lost = b.lost.get(&i).cloned().unwrap_or_default();
        let mut list = String::from("/.\n");
        for e in deb.data.iter().filter(|e| !e.path.is_empty()) {
            let layer = rewrite(&b.facts.merged_usr, &e.path);
            if !layer.is_some_and(|l| lost.contains(&l)) {
                let _ = writeln!(list, "/{}", e.path);
            }
        }
        b.put_file(&format!("{INFO}/{s}.list"), list.into_bytes(), 0o644);
        for (name, mode) in KEPT {
            if let Some(m) = deb.control_files.get(name) {
                b.put_file(&format!("{INFO}/{s}.{name}"), m.bytes.clone(), mode);
            }
        }
        if !deb.control_files.contains_key("md5sums") {
            let conf: BTreeSet<String> = conffiles(deb).into_iter().collect();
            let sums = md5s(deb);
            let mut text = String::new();
            for e in &deb.data {
                if let Some(m) = sums.get(e.path.as_str()) {
                    if !conf.contains(&format!("/{}", e.path)) {
                        let _ = writeln!(text, "{}  {}", hex(m), e.path);
                    }
                }
            }
            b.put_file(&format!("{INFO}/{s}.md5sums"), text.into_bytes(), 0o644);
        }
    }
    base_lists(b);
    extended_states(b, debs);
    upgrade_whiteouts(b, base, debs);
    Ok(())
}

/// A base package a new deb `Replaces` files of loses them from its `.list`, as dpkg does.
fn base_lists(b: &mut Builder<'_>) {
    let Some(dpkg) = &b.facts.dpkg else { return };
    let mut out = Vec::new();
    for (s, lost) in &b.base_lost {
        let Some(list) = dpkg.lists.get(s) else {
            continue;
        };
        let text: String = list
            .lines()
            .filter(|l| {
                let p = l.trim_start_matches('/');
                !rewrite(&b.facts.merged_usr, p).is_some_and(|p| lost.contains(&p))
            })
            .map(|l| format!("{l}\n"))
            .collect();
        out.push((format!("{INFO}/{s}.list"), text));
    }
    for (path, text) in out {
        b.put_file(&path, text.into_bytes(), 0o644);
    }
}

/// apt's `extended_states`: the base's stanzas in their order (apt writes them in its cache
/// order, which cannot be recomputed), an existing stanza's `Auto-Installed` set as apt sets
/// it, new dependencies appended sorted by name (arch `all` is apt's native arch).
fn extended_states(b: &mut Builder<'_>, debs: &[(LockedDeb, Deb)]) {
    let native = b.facts.dpkg_arch.clone();
    let arch_of = |d: &Deb| {
        if d.arch == "all" {
            native.clone()
        } else {
            d.arch.clone()
        }
    };
    let base = b
        .facts
        .dpkg
        .as_ref()
        .and_then(|d| d.extended_states.clone());
    let mut seen = BTreeSet::new();
    let mut out = String::new();
    for text in stanzas(base.as_deref().unwrap_or_default()) {
        let key = (
            field(&text, "Package").unwrap_or_default(),
            field(&text, "Architecture").unwrap_or_default(),
        );
        let new = debs
            .iter()
            .find(|(_, d)| d.name == key.0 && arch_of(d) == key.1);
        if let Some((lock, _)) = new {
            let auto = if lock.requested { "0" } else { "1" };
            for line in text.lines() {
                match line.split_once(':') {
                    Some((k, _)) if k.eq_ignore_ascii_case("Auto-Installed") => {
                        let _ = writeln!(out, "Auto-Installed: {auto}");
                    }
                    _ => {
                        let _ = writeln!(out, "{line}");
                    }
                }
            }
        } else {
            out.push_str(&text);
        }
        out.push('\n');
        seen.insert(key);
    }
    let mut added: Vec<(String, String)> = debs
        .iter()
        .filter(|(lock, _)| !lock.requested)
        .map(|(_, d)| (d.name.clone(), arch_of(d)))
        .filter(|k| !seen.contains(k))
        .collect();
    added.sort();
    added.dedup();
    for (name, arch) in &added {
        let _ = write!(
            out,
            "Package: {name}\nArchitecture: {arch}\nAuto-Installed: 1\n\n"
        );
    }
    if base.is_some() || !added.is_empty() {
        b.put_file("var/lib/apt/extended_states", out.into_bytes(), 0o644);
    }
}

/// An upgraded base package's files the new version no longer ships (and nobody else owns),
/// and its old info files the new version lacks, are whited out (the facts hold only the
/// base's `.list` files, so every info type the new version lacks gets a whiteout; one for a
/// file the base never had hides nothing). Directories (a path that is
/// a parent in any list, or that the base facts know as a directory) are kept.
fn upgrade_whiteouts(b: &mut Builder<'_>, base: &Base, debs: &[(LockedDeb, Deb)]) {
    let Some(dpkg) = &b.facts.dpkg else { return };
    let mut outs = Vec::new();
    for (i, (_, deb)) in debs.iter().enumerate() {
        let Some(old) = &base.old_stems[i] else {
            continue;
        };
        let Some(list) = dpkg.lists.get(old) else {
            continue;
        };
        // Reinstalling the base's own version drops nothing.
        if base.versions.get(&deb.name) == Some(&deb.version) && *old == stem(deb) {
            continue;
        }
        let paths: Vec<String> = list
            .lines()
            .map(|l| l.trim_start_matches('/'))
            .filter(|p| !p.is_empty() && *p != ".")
            .filter_map(|p| rewrite(&b.facts.merged_usr, p))
            .collect();
        let parents: BTreeSet<&str> = paths
            .iter()
            .flat_map(|p| p.match_indices('/').map(move |(n, _)| &p[..n]))
            .collect();
        for p in &paths {
            let claimed_below = b
                .claims
                .range(format!("{p}/")..)
                .next()
                .is_some_and(|(k, _)| k.starts_with(&format!("{p}/")));
            if !(b.entries.contains_key(p)
                || b.claims.contains_key(p)
                || claimed_below
                || parents.contains(p.as_str())
                || b.facts.dirs.contains_key(p)
                || base.owners.contains_key(p))
            {
                outs.push(p.clone());
            }
        }
        let new = stem(deb);
        for (name, _) in KEPT {
            let moved = *old != new;
            let lacks = !deb.control_files.contains_key(name) && name != "md5sums";
            if moved || lacks {
                outs.push(format!("{INFO}/{old}.{name}"));
            }
        }
        if *old != new {
            outs.push(format!("{INFO}/{old}.list"));
        }
    }
    for p in outs {
        if !b.entries.contains_key(&p) {
            b.put(whiteout(p));
        }
    }
}
