//! Diagnostics as data: a stable code, a severity, a terse message, the span it is about, a
//! label for that span and a help line saying what to do. Stages push them into a
//! [`Diagnostics`] collector and keep going, so one run reports every problem; rendering (human
//! or JSON) happens at the edge, in [`render`].

pub mod codes;
pub mod render;

use crate::diag::codes::Code;
use crate::input::source::{SourceFile, Span};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Warning,
    Error,
}

/// One finding about one place in one file.
#[derive(Debug, Clone)]
pub struct Diagnostic {
    pub code: Code,
    pub severity: Severity,
    /// What is wrong, lower case, literals in backticks.
    pub message: String,
    pub file: Arc<SourceFile>,
    /// `None` for findings about the file as a whole (unreadable, not UTF-8).
    pub span: Option<Span>,
    /// Printed under the caret line: what the span is.
    pub label: Option<String>,
    /// What to do about it.
    pub help: Option<String>,
}

impl Diagnostic {
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

/// Collects diagnostics for one file.
#[derive(Debug)]
pub struct Diagnostics {
    file: Arc<SourceFile>,
    items: Vec<Diagnostic>,
}

/// A diagnostic under construction: `diags.error(code, span, msg).label(..).help(..)`.
pub struct Builder<'a> {
    diags: &'a mut Diagnostics,
    diag: Option<Diagnostic>,
}

impl Builder<'_> {
    pub fn label(mut self, label: impl Into<String>) -> Self {
        if let Some(d) = &mut self.diag {
            d.label = Some(label.into());
        }
        self
    }

    pub fn help(mut self, help: impl Into<String>) -> Self {
        if let Some(d) = &mut self.diag {
            d.help = Some(help.into());
        }
        self
    }

    pub fn help_opt(self, help: Option<String>) -> Self {
        match help {
            Some(h) => self.help(h),
            None => self,
        }
    }
}

impl Drop for Builder<'_> {
    fn drop(&mut self) {
        if let Some(d) = self.diag.take() {
            self.diags.items.push(d);
        }
    }
}

impl Diagnostics {
    pub fn new(file: Arc<SourceFile>) -> Diagnostics {
        Diagnostics {
            file,
            items: Vec::new(),
        }
    }

    pub fn file(&self) -> &Arc<SourceFile> {
        &self.file
    }

    fn push(
        &mut self,
        severity: Severity,
        code: Code,
        span: Option<Span>,
        message: String,
    ) -> Builder<'_> {
        let diag = Diagnostic {
            code,
            severity,
            message,
            file: self.file.clone(),
            span,
            label: None,
            help: None,
        };
        Builder {
            diags: self,
            diag: Some(diag),
        }
    }

    pub fn error(&mut self, code: Code, span: Span, message: impl Into<String>) -> Builder<'_> {
        self.push(Severity::Error, code, Some(span), message.into())
    }

    pub fn warning(&mut self, code: Code, span: Span, message: impl Into<String>) -> Builder<'_> {
        self.push(Severity::Warning, code, Some(span), message.into())
    }

    /// An error about the whole file (no position inside it).
    pub fn file_error(&mut self, code: Code, message: impl Into<String>) -> Builder<'_> {
        self.push(Severity::Error, code, None, message.into())
    }

    pub fn has_errors(&self) -> bool {
        self.items.iter().any(Diagnostic::is_error)
    }

    pub fn into_vec(mut self) -> Vec<Diagnostic> {
        // Report in file order, errors before warnings at the same place.
        self.items
            .sort_by_key(|d| (d.span.map_or(0, |s| s.start), std::cmp::Reverse(d.severity)));
        self.items
    }

    pub fn extend(&mut self, other: Vec<Diagnostic>) {
        self.items.extend(other);
    }
}
