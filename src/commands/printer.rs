//! All terminal output. Data goes to stdout (a closed pipe is not an error: `envc … | head`);
//! messages and diagnostics go to stderr, filtered by `--quiet`/`--verbose`. The printer is
//! the use cases' [`Log`], so what they say while they run lands on stderr in order. It
//! depends on nothing of the commands: a failed write to stdout is its own [`StdoutError`].

use crate::diag::{render, Diagnostic};
use crate::ops::Log;
use std::io::Write;

/// Standard output could not be written (not a closed pipe, which is fine).
#[derive(Debug, thiserror::Error)]
#[error("cannot write `<stdout>`: {0}")]
pub(crate) struct StdoutError(pub std::io::Error);

impl From<StdoutError> for crate::ops::Error {
    fn from(e: StdoutError) -> crate::ops::Error {
        crate::ops::Error::Write {
            path: "<stdout>".into(),
            source: e.0,
        }
    }
}

pub(crate) struct Printer {
    quiet: bool,
    verbose: bool,
    style: render::Style,
}

impl Printer {
    pub(crate) fn new(quiet: bool, verbose: bool, style: render::Style) -> Printer {
        Printer {
            quiet,
            verbose,
            style,
        }
    }

    /// `--quiet`: only errors and requested data.
    pub(crate) fn is_quiet(&self) -> bool {
        self.quiet
    }

    /// Writes data to stdout.
    pub(crate) fn data(&self, text: &str) -> Result<(), StdoutError> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(StdoutError(e)),
            _ => Ok(()),
        }
    }

    /// Diagnostics in human form; warnings are dropped under `--quiet`.
    pub(crate) fn diagnostics(&self, diags: &[Diagnostic]) {
        let mut err = std::io::stderr().lock();
        for d in diags {
            if self.quiet && !d.is_error() {
                continue;
            }
            let _ = err.write_all(render::human(d, self.style).as_bytes());
        }
    }

    pub(crate) fn error(&self, message: &str) {
        let head = if self.style.color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(std::io::stderr(), "envc: {head}: {message}");
    }

    /// A note worth seeing even without `--verbose` (not under `--quiet`).
    pub(crate) fn note(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "envc: note: {message}");
        }
    }

    pub(crate) fn verbose(&self, message: &str) {
        if self.verbose {
            let _ = writeln!(std::io::stderr(), "envc: {message}");
        }
    }
}

impl Log for Printer {
    fn verbose(&self, message: &str) {
        Printer::verbose(self, message);
    }
    fn note(&self, message: &str) {
        Printer::note(self, message);
    }
    fn diagnostics(&self, diags: &[Diagnostic]) {
        Printer::diagnostics(self, diags);
    }
}
