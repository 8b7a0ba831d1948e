//! Renders diagnostics for people (rustc-style, with a source snippet and optional colour) and
//! for programs (one JSON document). Renderers never build messages; they only lay them out.
//!
//! The JSON schema (`"schema": "envc.diagnostics/v1"`) is shared by every command:
//! ```json
//! {"schema": "envc.diagnostics/v1",
//!  "diagnostics": [{"code": "E010", "severity": "error", "message": "…", "file": "env.yaml",
//!                   "line": 3, "column": 1, "end_line": 3, "end_column": 10,
//!                   "start": 17, "end": 26, "label": "…", "help": "…"}],
//!  "summary": {"files": 1, "errors": 1, "warnings": 0}}
//! ```
//! `line`/`column` (1-based, columns in characters) and `start`/`end` (byte offsets) are `null`
//! for diagnostics about a whole file; `label` and `help` are `null` when absent.

use super::{Diagnostic, Severity};
use std::fmt::Write;

/// Terminal styling, decided once by the caller (TTY and `NO_COLOR`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_string()
        }
    }
}

/// `FILE:LINE:COL: error[CODE]: message`, then the snippet with a caret line, then help.
pub fn human(d: &Diagnostic, style: Style) -> String {
    let mut out = String::new();
    let (sev, color) = match d.severity {
        Severity::Error => ("error", "1;31"),
        Severity::Warning => ("warning", "1;33"),
    };
    let head = style.paint(color, &format!("{sev}[{}]", d.code));
    match d.span {
        Some(span) => {
            let start = d.file.line_col(span.start);
            let _ = writeln!(
                out,
                "{}:{}:{}: {head}: {}",
                d.file.name, start.line, start.column, d.message
            );
            let line_text = d.file.line_text(start.line);
            let end = d.file.line_col(span.end);
            let width = if end.line == start.line {
                end.column.saturating_sub(start.column).max(1)
            } else {
                line_text
                    .chars()
                    .count()
                    .saturating_sub(start.column - 1)
                    .max(1)
            };
            let gutter = start.line.to_string().len();
            let bar = style.paint("1;34", "|");
            let (shown, pad, width) = window(line_text, d.file.is_ascii(), start.column - 1, width);
            let _ = writeln!(out, "{:gutter$} {bar}", "");
            let _ = writeln!(
                out,
                "{} {bar} {}",
                style.paint("1;34", &start.line.to_string()),
                shown
            );
            let carets = style.paint(color, &"^".repeat(width));
            let label = d
                .label
                .as_deref()
                .map(|l| format!(" {l}"))
                .unwrap_or_default();
            let _ = writeln!(
                out,
                "{:gutter$} {bar} {:pad$}{carets}{}",
                "",
                "",
                style.paint(color, &label),
            );
            if let Some(help) = &d.help {
                // Continuation lines of a multi-line help align under its first line.
                let help = help.replace('\n', &format!("\n{:width$}", "", width = gutter + 9));
                let _ = writeln!(out, "{:gutter$} = {}: {help}", "", style.paint("1", "help"));
            }
        }
        None => {
            let _ = writeln!(out, "{}: {head}: {}", d.file.name, d.message);
            if let Some(help) = &d.help {
                let _ = writeln!(out, "  = {}: {help}", style.paint("1", "help"));
            }
        }
    }
    out
}

/// The part of a source line to show: at most [`WINDOW`] characters around the span (a minified
/// 20,000-character line must not flood the terminal), tabs as spaces. Returns the text, the
/// caret's offset in it and the caret width. On an ASCII line (`ascii`: the whole file is) only
/// the window is touched, so 20,000 findings on one long line render in linear time.
fn window(line: &str, ascii: bool, col: usize, width: usize) -> (String, usize, usize) {
    const WINDOW: usize = 100;
    let untab = |c: char| if c == '\t' { ' ' } else { c };
    let len = if ascii {
        line.len()
    } else {
        line.chars().count()
    };
    if len <= WINDOW {
        return (line.chars().map(untab).collect(), col, width);
    }
    let start = col.saturating_sub(WINDOW / 3).min(len);
    let end = (start + WINDOW).min(len);
    let mut text = String::new();
    let mut pad = col - start;
    if start > 0 {
        text.push('…');
        pad += 1;
    }
    if ascii {
        text.extend(line[start..end].chars().map(untab));
    } else {
        text.extend(line.chars().skip(start).take(end - start).map(untab));
    }
    if end < len {
        text.push('…');
    }
    let width = width.min(end.saturating_sub(col)).max(1);
    (text, pad, width)
}

#[derive(serde::Serialize)]
struct JsonDiagnostic<'a> {
    code: &'a str,
    severity: Severity,
    message: &'a str,
    file: &'a str,
    line: Option<usize>,
    column: Option<usize>,
    end_line: Option<usize>,
    end_column: Option<usize>,
    start: Option<usize>,
    end: Option<usize>,
    label: Option<&'a str>,
    help: Option<&'a str>,
}

/// The whole JSON document for a run over `files` files.
pub fn json(diags: &[Diagnostic], files: usize) -> String {
    let items: Vec<JsonDiagnostic<'_>> = diags
        .iter()
        .map(|d| {
            let (s, e) = match d.span {
                Some(sp) => (
                    Some(d.file.line_col(sp.start)),
                    Some(d.file.line_col(sp.end)),
                ),
                None => (None, None),
            };
            JsonDiagnostic {
                code: d.code.0,
                severity: d.severity,
                message: &d.message,
                file: &d.file.name,
                line: s.map(|p| p.line),
                column: s.map(|p| p.column),
                end_line: e.map(|p| p.line),
                end_column: e.map(|p| p.column),
                start: d.span.map(|s| s.start),
                end: d.span.map(|s| s.end),
                label: d.label.as_deref(),
                help: d.help.as_deref(),
            }
        })
        .collect();
    let errors = diags.iter().filter(|d| d.is_error()).count();
    let doc = serde_json::json!({
        "schema": "envc.diagnostics/v1",
        "diagnostics": items,
        "summary": {"files": files, "errors": errors, "warnings": diags.len() - errors},
    });
    // A `Value` with string keys: serialising it cannot fail.
    let mut s = serde_json::to_string_pretty(&doc).expect("a JSON value serialises");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::codes;
    use crate::diag::Diagnostics;
    use crate::input::source::{SourceFile, Span};
    use std::sync::Arc;

    #[test]
    fn human_rendering_points_at_the_span() {
        let f = Arc::new(SourceFile::new(
            "env.yaml",
            "base_image: anyscale/ray:2.9.0-py310\nbase_imge: x\n",
        ));
        let mut d = Diagnostics::new(f);
        d.error(
            codes::UNKNOWN_KEY,
            Span::new(37, 46),
            "unknown key `base_imge`",
        )
        .label("not a spec key")
        .help("did you mean `base_image`?");
        let v = d.into_vec();
        let text = human(&v[0], Style { color: false });
        assert_eq!(
            text,
            "env.yaml:2:1: error[E010]: unknown key `base_imge`\n  |\n2 | base_imge: x\n  | ^^^^^^^^^ not a spec key\n  = help: did you mean `base_image`?\n"
        );
        let j: serde_json::Value = serde_json::from_str(&json(&v, 1)).unwrap();
        assert_eq!(j["diagnostics"][0]["line"], 2);
        assert_eq!(j["diagnostics"][0]["end_column"], 10);
        assert_eq!(j["summary"]["errors"], 1);
    }

    #[test]
    fn long_lines_are_windowed_around_the_span() {
        let line = format!("x: {}", "[".repeat(20_000));
        let (text, pad, width) = window(&line, true, 5_000, 1);
        assert!(text.chars().count() <= 102, "{}", text.len());
        assert_eq!(text.chars().nth(pad), Some('['));
        assert_eq!(width, 1);
        assert_eq!(window("short", true, 1, 2), ("short".to_string(), 1, 2));
        // The same window on a line with multi-byte characters before it.
        let wide = format!("é: {}", "[".repeat(20_000));
        let (t2, p2, _) = window(&wide, false, 5_000, 1);
        assert_eq!((t2.chars().count(), p2), (text.chars().count(), pad));
        assert_eq!(window("é\tx", false, 2, 1), ("é x".to_string(), 2, 1));
    }
}
