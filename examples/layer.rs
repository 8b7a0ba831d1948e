//! A small benchmark driver for the layer writer: builds one layer from a directory tree
//! (`entries_from_dir`, uid 0, gid 0, mtime 0) and prints `diff_id digest size seconds`.
//! Without `--out` or `--store` the layer goes to a sink (still hashed); with `--out FILE` it
//! is written to FILE and fsynced before the clock stops; with `--store DIR` it is written into
//! an envc store as a blob (hashed, written back early, fsynced and renamed into place).
//! Used by `benches/layer.sh`.
//!
//! ```sh
//! cargo run --release --example layer -- DIR [--compression none|gzip|zstd] [--level 6]
//!     [--threads N] [--block-size BYTES] [--out FILE [--no-sync] | --store DIR]
//! ```

use envc::oci::layer::{self, Compression, Options};
use envc::store::Store;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

struct Args {
    dir: PathBuf,
    compression: Compression,
    /// The gzip level (zstd's is fixed, `envc::oci::zstd::LEVEL`).
    level: u32,
    threads: usize,
    block_size: usize,
    out: Option<PathBuf>,
    /// Profiling only: skip the final fsync.
    no_sync: bool,
    /// Write the layer into this store as a blob.
    store: Option<PathBuf>,
}

const USAGE: &str = "usage: layer DIR [--compression none|gzip|zstd] [--level N] [--threads N] \
                     [--block-size BYTES] [--out FILE [--no-sync] | --store DIR]";

fn parse() -> Result<Args, String> {
    let mut args = std::env::args_os().skip(1);
    let mut dir = None;
    let mut parsed = Args {
        dir: PathBuf::new(),
        compression: Compression::Gzip,
        level: 6,
        threads: 0,
        block_size: envc::oci::gzip::DEFAULT_BLOCK_SIZE,
        out: None,
        no_sync: false,
        store: None,
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
                parsed.compression = match value("--compression")?.as_str() {
                    "gzip" => Compression::Gzip,
                    "zstd" => Compression::Zstd,
                    "none" => Compression::None,
                    other => return Err(format!("unknown compression `{other}`")),
                }
            }
            "--level" => parsed.level = number(value("--level")?)? as u32,
            "--threads" => parsed.threads = number(value("--threads")?)?,
            "--block-size" => parsed.block_size = number(value("--block-size")?)?,
            "--out" => parsed.out = Some(value("--out")?.into()),
            "--no-sync" => parsed.no_sync = true,
            "--store" => parsed.store = Some(value("--store")?.into()),
            "-h" | "--help" => return Err(USAGE.into()),
            _ if dir.is_none() && !arg.starts_with("--") => dir = Some(PathBuf::from(arg)),
            _ => return Err(format!("unexpected argument `{arg}`\n{USAGE}")),
        }
    }
    parsed.dir = dir.ok_or(USAGE)?;
    Ok(parsed)
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
        compression: args.compression,
        gzip_level: args.level,
        threads: args.threads,
        block_size: args.block_size,
    };
    let written = match (&args.out, &args.store) {
        (_, Some(dir)) => {
            let store = Store::open_or_create(dir)?;
            let mut blob = store.blob_writer()?;
            if let Compression::None = options.compression {
                // Uncompressed into the store: the blob's digest is the diff_id, so the
                // layer is hashed once (by the blob writer), as `envc bake` does.
                let (size, entries) = layer::write_uncompressed_unhashed(entries, 0, &mut blob)?;
                let (digest, _) = blob.finish()?;
                layer::Written {
                    diff_id: digest,
                    digest,
                    size,
                    media_type: envc::oci::MEDIA_TYPE_LAYER,
                    uncompressed_size: size,
                    entries,
                }
            } else {
                let written = layer::write(entries, &options, &mut blob)?;
                blob.finish()?;
                written
            }
        }
        (Some(path), None) => {
            let mut file = std::fs::File::create(path)?;
            let written = layer::write(entries, &options, &mut file)?;
            if !args.no_sync {
                file.sync_all()?;
            }
            written
        }
        (None, None) => layer::write(entries, &options, std::io::sink())?,
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
