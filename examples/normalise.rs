//! A benchmark driver for layer normalisation: reads one layer (plain or gzip tar), rewrites
//! it with `oci::normalise::normalise_layer` under the default drop policy (mtime 0) and
//! prints `diff_id input_bytes output_bytes entries dropped seconds MB/s`, MB/s being the
//! uncompressed tar bytes written per second (MB = 10^6 bytes). Without `--out` the result goes
//! to a sink (still hashed); with `--out FILE` to FILE (not fsynced). Scratch space is `--scratch
//! DIR` (default: the system temp dir). `--in-place` reads a plain-tar LAYER with
//! `normalise_in_place` instead (no scratch spool), as an engine import does.
//!
//! ```sh
//! cargo run --release --example normalise -- LAYER [--compression none|gzip] [--out FILE]
//!     [--scratch DIR] [--in-place]
//! ```

use envc::oci::layer::{Compression, Options};
use envc::oci::normalise::{normalise_in_place, normalise_layer, DropPolicy};
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut input = None;
    let mut gzip = false;
    let mut out: Option<PathBuf> = None;
    let mut scratch = std::env::temp_dir();
    let mut in_place = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--compression" => gzip = args.next().as_deref() == Some("gzip"),
            "--out" => out = args.next().map(PathBuf::from),
            "--scratch" => scratch = args.next().map(PathBuf::from).unwrap_or(scratch),
            "--in-place" => in_place = true,
            _ => input = Some(PathBuf::from(a)),
        }
    }
    let Some(input) = input else {
        eprintln!("usage: normalise LAYER [--compression none|gzip] [--out FILE] [--scratch DIR]");
        return ExitCode::from(2);
    };
    let options = Options {
        mtime: 0,
        compression: if gzip {
            Compression::Gzip
        } else {
            Compression::None
        },
        ..Options::default()
    };
    let run = || -> Result<String, Box<dyn std::error::Error>> {
        let policy = DropPolicy::default_policy()?;
        let in_bytes = std::fs::metadata(&input)?.len();
        let mut reader = BufReader::with_capacity(1 << 20, std::fs::File::open(&input)?);
        let mut sink: Box<dyn Write> = match &out {
            Some(p) => Box::new(BufWriter::with_capacity(1 << 20, std::fs::File::create(p)?)),
            None => Box::new(std::io::sink()),
        };
        let start = Instant::now();
        let n = if in_place {
            normalise_in_place(&input, 0, in_bytes, &policy, &options, &mut sink)?.0
        } else {
            normalise_layer(&mut reader, &policy, &options, &scratch, &mut sink)?
        };
        sink.flush()?;
        let secs = start.elapsed().as_secs_f64();
        Ok(format!(
            "{} {} {} {} {} {:.2} {:.0}",
            n.written.diff_id,
            in_bytes,
            n.written.size,
            n.written.entries,
            n.dropped.len(),
            secs,
            n.written.uncompressed_size as f64 / secs / 1e6
        ))
    };
    match run() {
        Ok(line) => {
            let _ = writeln!(std::io::stdout(), "{line}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(2)
        }
    }
}
