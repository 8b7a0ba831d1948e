//! Source text and positions. A [`SourceFile`] is what a diagnostic points into; a [`Span`] is a
//! byte range into it. Line and column are computed only when a diagnostic is rendered, so the
//! parser never has to guess them (ruff's `TextRange` + `LineIndex` split).

use std::sync::{Arc, OnceLock};

/// A half-open byte range `start..end` into a [`SourceFile`]'s text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Span {
        Span {
            start,
            end: end.max(start),
        }
    }
}

/// A named text that diagnostics refer to: a spec, a template or a configuration file.
#[derive(Debug, Clone)]
pub struct SourceFile {
    /// The name as the user gave it (a path as typed on the command line, or `<stdin>`).
    pub name: String,
    pub text: Arc<str>,
    /// Where each line starts, built on the first lookup: a file with 20,000 findings is
    /// rendered in linear time, not by rescanning the text for each one.
    lines: OnceLock<LineIndex>,
}

#[derive(Debug, Clone)]
struct LineIndex {
    starts: Vec<usize>,
    ascii: bool,
}

/// A 1-based line and column (columns count characters, as editors do).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct LineCol {
    pub line: usize,
    pub column: usize,
}

impl SourceFile {
    pub fn new(name: impl Into<String>, text: impl Into<Arc<str>>) -> SourceFile {
        SourceFile {
            name: name.into(),
            text: text.into(),
            lines: OnceLock::new(),
        }
    }

    fn index(&self) -> &LineIndex {
        self.lines.get_or_init(|| LineIndex {
            starts: std::iter::once(0)
                .chain(self.text.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            ascii: self.text.is_ascii(),
        })
    }

    /// Whether the text is ASCII (then byte and character offsets agree).
    pub fn is_ascii(&self) -> bool {
        self.index().ascii
    }

    /// Line and column of a byte offset; offsets past the end clamp to the end.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let index = self.index();
        // The last line start at or before `offset`.
        let line = index.starts.partition_point(|&s| s <= offset);
        let line_start = index.starts[line - 1];
        let column = if index.ascii {
            offset - line_start + 1
        } else {
            self.text[line_start..offset].chars().count() + 1
        };
        LineCol { line, column }
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let starts = &self.index().starts;
        let Some(&start) = starts.get(line.saturating_sub(1)) else {
            return "";
        };
        let end = starts.get(line).map_or(self.text.len(), |&next| next - 1);
        let l = &self.text[start..end];
        l.strip_suffix('\r').unwrap_or(l)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while i > 0 && !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Maps the parser's character offsets to byte offsets (identical for ASCII text, which is
/// nearly every spec, so the table is only built when needed).
pub(crate) struct CharToByte {
    table: Option<Vec<usize>>,
    len: usize,
}

impl CharToByte {
    pub(crate) fn new(text: &str) -> CharToByte {
        let table = (!text.is_ascii()).then(|| {
            let mut t: Vec<usize> = text.char_indices().map(|(i, _)| i).collect();
            t.push(text.len());
            t
        });
        CharToByte {
            table,
            len: text.len(),
        }
    }

    pub(crate) fn byte(&self, char_index: usize) -> usize {
        match &self.table {
            None => char_index.min(self.len),
            Some(t) => t.get(char_index).copied().unwrap_or(self.len),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let f = SourceFile::new("x", "ab\nçd: e\n");
        assert_eq!(f.line_col(0), LineCol { line: 1, column: 1 });
        assert_eq!(f.line_col(3), LineCol { line: 2, column: 1 });
        // `d` is after a two-byte character.
        assert_eq!(f.line_col(5), LineCol { line: 2, column: 2 });
        assert_eq!(f.line_text(2), "çd: e");
        assert_eq!(f.line_text(3), "");
        assert_eq!(f.line_text(4), "");
        assert_eq!(f.line_col(99), LineCol { line: 3, column: 1 });
        let g = SourceFile::new("y", "a\r\nbc");
        assert_eq!(g.line_text(1), "a");
        assert_eq!(g.line_col(4), LineCol { line: 2, column: 2 });
        let m = CharToByte::new(&f.text);
        assert_eq!(m.byte(4), 5);
    }
}
