//! Ray's exclude matcher: its vendored `pathspec` 0.8.1 `gitwildmatch`
//! (`ray/_private/thirdparty/pathspec/patterns/gitwildmatch.py`, byte-identical in Ray 1.13,
//! 2.40 and 2.60), reproduced step by step rather than approximated with git's rules.
//!
//! A pattern becomes one regex by pathspec's own construction (segment rewriting for leading,
//! trailing and inner `**`, a trailing `/` turned into `/**`, `(?:/.*)?` after a plain last
//! segment of an include pattern), and a path matches when the regex matches the path as given,
//! with no trailing slash for directories. That construction is where git and pathspec part:
//! `**/` and `**/**` match nothing, `a/**/` matches everything under `a` (files too) but not `a`,
//! `**` alone matches every path, `.` included. The regex is built directly in the `regex-lite`
//! dialect; a bracket expression is parsed as Python's `re` parses the text pathspec hands it
//! (so `[[:x:]]` is literal, an inverted range is an error as in Ray), and Python's `$` (end, or
//! before a final newline) becomes `\n?\z`.

use regex_lite::Regex;

/// One compiled pattern of a list.
#[derive(Debug)]
pub(crate) struct Pattern {
    regex: Regex,
    /// `true` for an exclude, `false` for a `!` re-include.
    include: bool,
}

/// A pattern list, matched like `PathSpec.match_file`: the last matching pattern decides.
#[derive(Debug, Default)]
pub(crate) struct PathSpec {
    patterns: Vec<Pattern>,
}

impl PathSpec {
    /// Compiles `lines` (comments, blank lines and `/` are no-ops); `Err` names the pattern
    /// Python's `re` would refuse.
    pub(crate) fn from_lines(lines: &[String]) -> Result<PathSpec, String> {
        let mut patterns = Vec::new();
        for line in lines {
            if let Some((regex, include)) = pattern_to_regex(line)? {
                let regex = Regex::new(&regex)
                    .map_err(|e| format!("`{}`: {e}", line.trim_matches(py_space)))?;
                patterns.push(Pattern { regex, include });
            }
        }
        Ok(PathSpec { patterns })
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// Whether the list matches `path` (relative, `/`-separated, `.` for the base itself).
    pub(crate) fn match_file(&self, path: &str) -> bool {
        // `normalize_file` drops one leading `./`.
        let path = path.strip_prefix("./").unwrap_or(path);
        let mut matched = false;
        for p in &self.patterns {
            if p.regex.is_match(path) {
                matched = p.include;
            }
        }
        matched
    }
}

/// Python's `str.isspace`, which `str.strip()` uses: Rust's whitespace plus U+001C..U+001F.
fn py_space(c: char) -> bool {
    c.is_whitespace() || ('\u{1c}'..='\u{1f}').contains(&c)
}

/// `GitWildMatchPattern.pattern_to_regex`: `None` for a no-op line.
fn pattern_to_regex(line: &str) -> Result<Option<(String, bool)>, String> {
    let mut pattern = line.trim_matches(py_space);
    if pattern.is_empty() || pattern.starts_with('#') || pattern == "/" {
        return Ok(None);
    }
    let include = match pattern.strip_prefix('!') {
        Some(rest) => {
            pattern = rest;
            false
        }
        None => true,
    };
    if let Some(rest) = pattern.strip_prefix('\\') {
        pattern = rest;
    }
    let mut segs: Vec<&str> = pattern.split('/').collect();
    if segs[0].is_empty() {
        segs.remove(0);
        if segs.is_empty() {
            // `!` or `\` alone: pathspec indexes an empty list (Ray raises `IndexError`).
            return Err(format!(
                "`{}`: list index out of range",
                line.trim_matches(py_space)
            ));
        }
    } else if (segs.len() == 1 || (segs.len() == 2 && segs[1].is_empty())) && segs[0] != "**" {
        segs.insert(0, "**");
    }
    if segs.len() > 1 && segs.last().is_some_and(|s| s.is_empty()) {
        *segs.last_mut().expect("non-empty") = "**";
    }
    let mut out = String::from("^");
    let mut need_slash = false;
    let end = segs.len().saturating_sub(1);
    for (i, seg) in segs.iter().enumerate() {
        if *seg == "**" {
            if i == 0 && i == end {
                out.push_str(".+");
            } else if i == 0 {
                out.push_str("(?:.+/)?");
                need_slash = false;
            } else if i == end {
                out.push_str("/.*");
            } else {
                out.push_str("(?:/.+)?");
                need_slash = true;
            }
        } else if *seg == "*" {
            if need_slash {
                out.push('/');
            }
            out.push_str("[^/]+");
            need_slash = true;
        } else {
            if need_slash {
                out.push('/');
            }
            out.push_str(&segment_glob(seg)?);
            if i == end && include {
                out.push_str("(?:/.*)?");
            }
            need_slash = true;
        }
    }
    out.push_str("\n?\\z");
    Ok(Some((out, include)))
}

/// `_translate_segment_glob`: `*`, `?`, `[...]`, backslash escapes, everything else literal.
fn segment_glob(pattern: &str) -> Result<String, String> {
    let p: Vec<char> = pattern.chars().collect();
    let end = p.len();
    let mut out = String::new();
    let mut escape = false;
    let mut i = 0;
    while i < end {
        let c = p[i];
        i += 1;
        if escape {
            escape = false;
            out.push_str(&regex_lite::escape(&c.to_string()));
        } else if c == '\\' {
            escape = true;
        } else if c == '*' {
            out.push_str("[^/]*");
        } else if c == '?' {
            out.push_str("[^/]");
        } else if c == '[' {
            let mut j = i;
            if j < end && p[j] == '!' {
                j += 1;
            }
            if j < end && p[j] == ']' {
                j += 1;
            }
            while j < end && p[j] != ']' {
                j += 1;
            }
            if j < end {
                j += 1;
                // The text pathspec gives Python's `re` after its `[`.
                let mut expr = String::new();
                if p[i] == '!' {
                    expr.push('^');
                    i += 1;
                } else if p[i] == '^' {
                    expr.push_str("\\^");
                    i += 1;
                }
                for &ch in &p[i..j] {
                    if ch == '\\' {
                        expr.push_str("\\\\");
                    } else {
                        expr.push(ch);
                    }
                }
                out.push_str(&python_class(&expr, pattern)?);
                i = j;
            } else {
                out.push_str("\\[");
            }
        } else {
            out.push_str(&regex_lite::escape(&c.to_string()));
        }
    }
    Ok(out)
}

/// Parses a bracket expression's text (after `[`, through the closing `]`) as Python's
/// `sre_parse` does and writes the same set as a `regex-lite` class, every member escaped.
fn python_class(text: &str, pattern: &str) -> Result<String, String> {
    let bad = || format!("`{pattern}`: bad character range in a bracket expression");
    let mut src = text.chars().peekable();
    let mut out = String::from("[");
    if src.peek() == Some(&'^') {
        src.next();
        out.push('^');
    }
    // Python's escapes here are only `\\` and `\^` (pathspec doubles every backslash).
    fn item(c: char, src: &mut std::iter::Peekable<std::str::Chars<'_>>) -> char {
        if c == '\\' {
            src.next().unwrap_or('\\')
        } else {
            c
        }
    }
    let mut members = 0;
    loop {
        let Some(c) = src.next() else {
            return Err(format!("`{pattern}`: unterminated character set"));
        };
        if c == ']' && members > 0 {
            break;
        }
        let lo = item(c, &mut src);
        if src.peek() == Some(&'-') {
            src.next();
            match src.next() {
                None => return Err(format!("`{pattern}`: unterminated character set")),
                Some(']') => {
                    out.push_str(&class_char(lo));
                    out.push_str(&class_char('-'));
                    break;
                }
                Some(h) => {
                    let hi = item(h, &mut src);
                    if hi < lo {
                        return Err(bad());
                    }
                    out.push_str(&class_char(lo));
                    out.push('-');
                    out.push_str(&class_char(hi));
                }
            }
        } else {
            out.push_str(&class_char(lo));
        }
        members += 1;
    }
    out.push(']');
    Ok(out)
}

/// One class member, as `\x{..}` unless alphanumeric (so `[`, `&`, `~`, `-`, `:` stay literal).
fn class_char(c: char) -> String {
    if c.is_alphanumeric() {
        c.to_string()
    } else {
        format!("\\x{{{:x}}}", c as u32)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(patterns: &[&str], path: &str) -> bool {
        let lines: Vec<String> = patterns.iter().map(|s| s.to_string()).collect();
        PathSpec::from_lines(&lines).unwrap().match_file(path)
    }

    /// Expected values are pathspec 0.8.1's, as Ray 2.40 answers them.
    #[test]
    fn double_star_forms_follow_pathspec_not_git() {
        // `**/` and `**/**` become `^(?:.+/)?/.*$`: no relative path matches.
        for p in ["**/", "**/**", "**/**/"] {
            for path in [".", "a", "a/b", "a/b/c"] {
                assert!(!m(&[p], path), "{p} {path}");
            }
        }
        // `a/**/` matches below `a`, files included, but not `a`.
        assert!(!m(&["a/**/"], "a"));
        assert!(m(&["a/**/"], "a/f"));
        assert!(m(&["a/**/"], "a/b/f"));
        assert!(!m(&["a/**/"], "x/a/b"));
        // `**` matches everything, the root `.` too.
        assert!(m(&["**"], "."));
        assert!(m(&["**"], "a/b"));
        assert!(m(&["**/x"], "x"));
        assert!(m(&["**/x"], "a/b/x/y"));
        assert!(!m(&["x/**"], "x"));
        assert!(m(&["x/**"], "x/y"));
        assert!(m(&["a/**/b"], "a/b"));
        assert!(m(&["a/**/b"], "a/x/y/b/z"));
        assert!(!m(&["a/**/b"], "a/xb"));
        // `*` alone is one non-empty segment: it matches `.` (so `["*"]` excludes the root).
        assert!(m(&["*"], "."));
        // A negation has no `(?:/.*)?` tail.
        assert!(!m(&["a", "!a"], "a"));
        assert!(m(&["a", "!a"], "a/b"));
    }

    #[test]
    fn brackets_escapes_and_spaces_are_pythons() {
        assert!(m(&["[!a]"], "b"));
        assert!(!m(&["[!a]"], "a"));
        assert!(m(&["[]-]"], "-"));
        assert!(m(&["[]-]"], "]"));
        assert!(m(&["[^a]"], "^"));
        assert!(m(&["[^a]"], "a"));
        assert!(m(&["[[:a:]]"], ":]"));
        assert!(m(&["[a&&b]"], "&"));
        assert!(m(&["[→]"], "→"));
        assert!(m(&["[%-(]"], "&"));
        assert!(!m(&["[%-(]"], ")"));
        assert!(m(&["x["], "x["));
        assert!(m(&["\\#x"], "#x"));
        assert!(m(&["\\!x"], "!x"));
        assert!(m(&["a\\*"], "a*"));
        assert!(!m(&["a\\*"], "ab"));
        assert!(m(&[" \u{1f}a \t"], "a"));
        // Python's `$` also matches before a final newline.
        assert!(m(&["a"], "a\n"));
        assert!(PathSpec::from_lines(&["[z-a]".to_string()]).is_err());
        assert!(PathSpec::from_lines(&["!".to_string()]).is_err());
        assert!(!m(&["!/"], "."));
    }
}
