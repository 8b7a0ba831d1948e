//! Progress of blob transfers on a terminal: one bar per blob (bytes, rate) under an overall
//! bar. Off unless standard error is a terminal (and `--quiet` is not given): piped output and
//! logs get none of it.

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::Read;

/// The bars of one command. Cheap to clone; every clone draws into the same set.
#[derive(Clone)]
pub struct Progress {
    multi: Option<MultiProgress>,
    overall: Option<ProgressBar>,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Progress(enabled: {})", self.multi.is_some())
    }
}

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .expect("static template")
        .progress_chars("=> ")
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        if !enabled {
            return Progress {
                multi: None,
                overall: None,
            };
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let overall = multi.add(ProgressBar::new(0));
        overall.set_style(style(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {msg}",
        ));
        overall.set_prefix("total");
        Progress {
            multi: Some(multi),
            overall: Some(overall),
        }
    }

    /// A bar for one blob of `size` bytes, counted into the total.
    pub fn blob(&self, label: &str, size: u64) -> BlobBar {
        let (Some(multi), Some(overall)) = (&self.multi, &self.overall) else {
            return BlobBar {
                bar: None,
                overall: None,
            };
        };
        overall.inc_length(size);
        let bar = multi.insert_before(overall, ProgressBar::new(size));
        bar.set_style(style(
            "{prefix:>12} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}",
        ));
        bar.set_prefix(label.to_string());
        BlobBar {
            bar: Some(bar),
            overall: Some(overall.clone()),
        }
    }

    /// Ends the display (the bars are cleared).
    pub fn finish(&self) {
        if let Some(o) = &self.overall {
            o.finish_and_clear();
        }
    }
}

/// One blob's bar.
pub struct BlobBar {
    bar: Option<ProgressBar>,
    overall: Option<ProgressBar>,
}

impl BlobBar {
    pub fn inc(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.inc(n);
        }
        if let Some(o) = &self.overall {
            o.inc(n);
        }
    }

    /// A blob skipped (the other side has it): counted as done.
    pub fn skip(&self, size: u64, why: &str) {
        if let Some(b) = &self.bar {
            b.set_message(why.to_string());
        }
        self.inc(size);
    }

    /// Bytes counted again after a retry are taken back.
    pub fn rewind(&self, n: u64) {
        if let Some(b) = &self.bar {
            b.set_position(b.position().saturating_sub(n));
        }
        if let Some(o) = &self.overall {
            o.set_position(o.position().saturating_sub(n));
        }
    }
}

impl Drop for BlobBar {
    fn drop(&mut self) {
        if let Some(b) = &self.bar {
            b.finish_and_clear();
        }
    }
}

/// A reader that moves a bar.
pub struct Counting<R> {
    inner: R,
    bar: BlobBar,
}

impl<R> Counting<R> {
    pub fn new(inner: R, bar: BlobBar) -> Counting<R> {
        Counting { inner, bar }
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bar.inc(n as u64);
        Ok(n)
    }
}
