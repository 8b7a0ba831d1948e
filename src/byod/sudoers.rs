//! Passwordless sudo for `ray`, read as sudo reads it: `/etc/sudoers`, and the files of
//! `/etc/sudoers.d` when it includes that directory (names without `.`, not ending in `~`); the
//! last rule that matches `ray` decides; aliases are not expanded.

use super::*;

/// sudo's verdict on `ray`: the last matching rule, and where it is.
pub(super) struct Rule {
    pub(super) passwordless: bool,
    pub(super) path: String,
    pub(super) span: Span,
}

pub(super) fn sudo(
    image: &Image<'_>,
    user: Option<&RayUser>,
    out: &mut Vec<Diagnostic>,
) -> Result<(), Error> {
    let help = "add `/etc/sudoers.d/ray` (mode 0440) with `ray ALL=(ALL) NOPASSWD:ALL`";
    let Some((main, main_entry)) = image.text("etc/sudoers", true)? else {
        let mut d = image.absent("etc/sudoers");
        d.file_error(
            codes::BYOD_SUDO,
            "the image has no `/etc/sudoers`, so `ray` cannot run `sudo` without a password",
        )
        .help(format!("install the `sudo` package and {help}"));
        out.extend(d.into_vec());
        return Ok(());
    };
    let empty = RayUser {
        home: String::new(),
        groups: BTreeSet::new(),
    };
    let user = user.unwrap_or(&empty);
    let mut last: Option<Rule> = None;
    let mut include_dir = false;
    scan_sudoers("etc/sudoers", &main, user, &mut last, &mut include_dir);
    let mut files = Vec::new();
    if include_dir {
        for (path, e) in image.view.under("etc/sudoers.d") {
            let name = &path["etc/sudoers.d/".len()..];
            if name.contains('.') || name.ends_with('~') {
                continue;
            }
            if let Kind::File { data, .. } = &e.kind {
                let text = String::from_utf8_lossy(data).into_owned();
                scan_sudoers(path, &text, user, &mut last, &mut include_dir);
                files.push((path.clone(), text, e.clone()));
            }
        }
    }
    match last {
        Some(r) if r.passwordless => {}
        Some(r) => {
            let (text, e) = files
                .iter()
                .find(|(p, _, _)| *p == r.path)
                .map_or((main.clone(), main_entry.clone()), |(_, t, e)| {
                    (t.clone(), e.clone())
                });
            let mut d = image.file(&r.path, &text, &e);
            d.error(
                codes::BYOD_SUDO,
                r.span,
                "`ray` needs a password for `sudo`: the last rule matching it lacks `NOPASSWD:`",
            )
            .label("sudo applies the last matching rule")
            .help(help);
            out.extend(d.into_vec());
        }
        None => {
            // Name a sudoers.d file a later layer deleted: the usual way this goes wrong.
            let deleted: Vec<&String> = image
                .view
                .deleted
                .keys()
                .filter(|k| k.starts_with("etc/sudoers.d/"))
                .collect();
            let deleted = deleted
                .iter()
                .find(|k| k.ends_with("/ray"))
                .or(deleted.first())
                .copied();
            let mut d = match deleted {
                Some(k) => image.absent(k),
                None => image.file("etc/sudoers", &main, main_entry),
            };
            let why = if deleted.is_some() {
                "the file that granted it was deleted by a later layer"
            } else {
                "no rule in `/etc/sudoers` or `/etc/sudoers.d/` grants it"
            };
            d.file_error(
                codes::BYOD_SUDO,
                format!("`ray` cannot run `sudo` without a password: {why}"),
            )
            .help(help);
            out.extend(d.into_vec());
        }
    }
    Ok(())
}

pub(super) fn scan_sudoers(
    path: &str,
    text: &str,
    user: &RayUser,
    last: &mut Option<Rule>,
    include_dir: &mut bool,
) {
    let mut at = 0;
    let mut logical = String::new();
    let mut start = 0;
    for line in text.split_inclusive('\n') {
        let body = line.trim_end_matches(['\n', '\r']);
        if logical.is_empty() {
            start = at;
        }
        at += line.len();
        if let Some(cont) = body.strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(body);
        let l = std::mem::take(&mut logical);
        let l = l.trim();
        let span = Span::new(start, start + body.len().max(1).min(at - start));
        for directive in ["@includedir", "#includedir"] {
            if let Some(dir) = l.strip_prefix(directive) {
                if dir.trim().trim_end_matches('/') == "/etc/sudoers.d" {
                    *include_dir = true;
                }
            }
        }
        if l.is_empty() || (l.starts_with('#') && !l.starts_with("#1")) || l.starts_with('@') {
            continue;
        }
        let Some((who, rest)) = l.split_once(char::is_whitespace) else {
            continue;
        };
        if who == "Defaults" || who.starts_with("Defaults") || who.ends_with("_Alias") {
            continue;
        }
        let matches = who.split(',').map(str::trim).any(|u| {
            u == "ray"
                || u == "ALL"
                || u == "#1000"
                || u.strip_prefix('%').is_some_and(|g| user.groups.contains(g))
        });
        if !matches {
            continue;
        }
        let passwordless = rest.split_once("NOPASSWD:").is_some_and(|(_, cmds)| {
            let mut cmds = cmds.trim();
            while let Some((tag, after)) = cmds.split_once(':') {
                if tag.chars().all(|c| c.is_ascii_uppercase()) && !tag.is_empty() {
                    cmds = after.trim();
                } else {
                    break;
                }
            }
            cmds.split(',').any(|c| c.trim() == "ALL")
        });
        *last = Some(Rule {
            passwordless,
            path: path.to_string(),
            span,
        });
    }
}
