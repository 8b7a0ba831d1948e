//! All terminal output. Data goes to stdout (a closed pipe is not an error: `envc … | head`);
//! messages and diagnostics go to stderr, filtered by `--quiet`/`--verbose`.

use crate::diag::{render, Diagnostic};
use std::io::Write;

pub struct Printer {
    quiet: bool,
    verbose: bool,
    style: render::Style,
}

impl Printer {
    pub fn new(quiet: bool, verbose: bool, style: render::Style) -> Printer {
        Printer {
            quiet,
            verbose,
            style,
        }
    }

    /// Writes data to stdout.
    pub fn data(&self, text: &str) -> Result<(), super::Error> {
        let mut out = std::io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(super::Error::Write {
                path: "<stdout>".into(),
                source: e,
            }),
            _ => Ok(()),
        }
    }

    /// Diagnostics in human form; warnings are dropped under `--quiet`.
    pub fn diagnostics(&self, diags: &[Diagnostic]) {
        let mut err = std::io::stderr().lock();
        for d in diags {
            if self.quiet && !d.is_error() {
                continue;
            }
            let _ = err.write_all(render::human(d, self.style).as_bytes());
        }
    }

    pub fn error(&self, message: &str) {
        let head = if self.style.color {
            "\x1b[1;31merror\x1b[0m"
        } else {
            "error"
        };
        let _ = writeln!(std::io::stderr(), "envc: {head}: {message}");
    }

    /// A note worth seeing even without `--verbose` (not under `--quiet`).
    pub fn note(&self, message: &str) {
        if !self.quiet {
            let _ = writeln!(std::io::stderr(), "envc: note: {message}");
        }
    }

    pub fn verbose(&self, message: &str) {
        if self.verbose {
            let _ = writeln!(std::io::stderr(), "envc: {message}");
        }
    }
}
