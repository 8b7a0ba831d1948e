//! Source text and positions. A [`SourceFile`] is what a diagnostic points into; a [`Span`] is a
//! byte range into it. Line and column are computed only when a diagnostic is rendered, so the
//! parser never has to guess them (ruff's `TextRange` + `LineIndex` split).

use std::sync::Arc;

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
        }
    }

    /// Line and column of a byte offset; offsets past the end clamp to the end.
    pub fn line_col(&self, offset: usize) -> LineCol {
        let offset = floor_char_boundary(&self.text, offset.min(self.text.len()));
        let before = &self.text[..offset];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let line_start = before.rfind('\n').map_or(0, |i| i + 1);
        let column = self.text[line_start..offset].chars().count() + 1;
        LineCol { line, column }
    }

    /// The text of 1-based line `line`, without its line break.
    pub fn line_text(&self, line: usize) -> &str {
        let l = self
            .text
            .split('\n')
            .nth(line.saturating_sub(1))
            .unwrap_or("");
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
        let m = CharToByte::new(&f.text);
        assert_eq!(m.byte(4), 5);
    }
}
