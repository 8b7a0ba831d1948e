//! A small benchmark driver for the layer writer: builds one layer from a directory tree
//! (`entries_from_dir`, uid 0, gid 0, mtime 0) and prints `diff_id digest size seconds`.
//! Without `--out` the layer goes to a sink (still hashed); with `--out FILE` it is written to
//! FILE and fsynced before the clock stops, as a store would. Used by `benches/layer.sh`.
//!
//! ```sh
//! cargo run --release --example layer -- DIR [--compression none|gzip] [--level 6]
//!     [--threads N] [--block-size BYTES] [--out FILE [--writeback] [--no-sync]]
//! ```

use envc::oci::layer::{self, Compression, Options};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    dir: PathBuf,
    gzip: bool,
    level: u32,
    threads: usize,
    block_size: usize,
    out: Option<PathBuf>,
    /// Profiling only: skip the final fsync.
    no_sync: bool,
    /// Start writeback early: a helper thread calls fdatasync every 64 MiB written, so the
    /// final fsync has little left to do (what a store writing big blobs can do).
    writeback: bool,
}

const USAGE: &str = "usage: layer DIR [--compression none|gzip] [--level N] [--threads N] \
                     [--block-size BYTES] [--out FILE [--writeback] [--no-sync]]";

fn parse() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut dir = None;
    let mut parsed = Args {
        dir: PathBuf::new(),
        gzip: true,
        level: 6,
        threads: 0,
        block_size: envc::oci::gzip::DEFAULT_BLOCK_SIZE,
        out: None,
        no_sync: false,
        writeback: false,
    };
    while let Some(arg) = args.next() {
        let arg = arg.to_string_lossy().into_owned();
        let mut value = |name: &str| {
            args.next()
                .map(|v| v.to_string_lossy().into_owned())
                .ok_or(format!("{name} needs a value"))
        };
        let number = |v: String| v.parse::<usize>().map_err(|e| format!("`{v}`: {e}"));
        match arg.as_str() {
            "--compression" => {
                parsed.gzip = match value("--compression")?.as_str() {
                    "gzip" => true,
                    "none" => false,
                    other => return Err(format!("unknown compression `{other}`")),
                }
            }
            "--level" => parsed.level = number(value("--level")?)? as u32,
            "--threads" => parsed.threads = number(value("--threads")?)?,
            "--block-size" => parsed.block_size = number(value("--block-size")?)?,
            "--out" => parsed.out = Some(value("--out")?.into()),
            "--no-sync" => parsed.no_sync = true,
            "--writeback" => parsed.writeback = true,
            "-h" | "--help" => return Err(USAGE.into()),
            _ if dir.is_none() && !arg.starts_with("--") => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}")),
        }
    }
    parsed.dir = dir.ok_or(USAGE)?;
    Ok(parsed)
}

/// A file writer that asks a helper thread to fdatasync every 64 MiB (skipped while one runs).
struct EarlySync<'a> {
    file: &'a mut std::fs::File,
    unsynced: u64,
    tx: std::sync::mpsc::SyncSender<()>,
}

impl Write for EarlySync<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = self.file.write(data)?;
        self.unsynced += n as u64;
        if self.unsynced >= 64 << 20 {
            self.unsynced = 0;
            let _ = self.tx.try_send(());
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.file.flush()
    }
}

fn run(args: &Args) -> Result<(), Box<dyn std::error::Error>> {
    let start = Instant::now();
    let (entries, skipped) = layer::entries_from_dir(&args.dir, "", 0, 0)?;
    for path in skipped {
        eprintln!(
            "skipped (not a file, directory or symlink): {}",
            path.display()
        );
    }
    let options = Options {
        mtime: 0,
        compression: if args.gzip {
            Compression::Gzip { level: args.level }
        } else {
            Compression::None
        },
        threads: args.threads,
        block_size: args.block_size,
    };
    let written = match &args.out {
        Some(path) => {
            let mut file = std::fs::File::create(path)?;
            let written = if args.writeback {
                let syncer = file.try_clone()?;
                let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
                std::thread::scope(|s| {
                    s.spawn(move || {
                        for () in rx {
                            let _ = syncer.sync_data();
                        }
                    });
                    let mut w = EarlySync {
                        file: &mut file,
                        unsynced: 0,
                        tx,
                    };
                    layer::write(entries, &options, &mut w)
                })?
            } else {
                layer::write(entries, &options, &mut file)?
            };
            if !args.no_sync {
                file.sync_all()?;
            }
            written
        }
        None => layer::write(entries, &options, std::io::sink())?,
    };
    let seconds = start.elapsed().as_secs_f64();
    let mut stdout = std::io::stdout().lock();
    writeln!(
        stdout,
        "{} {} {} {seconds:.3}",
        written.diff_id, written.digest, written.size
    )?;
    Ok(())
}

fn main() -> ExitCode {
    let args = match parse() {
        Ok(args) => args,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
