//! Parallel, deterministic gzip (pigz-style) for layer blobs. The input stream is cut into
//! fixed-size blocks; each block is deflated independently (raw deflate, no dictionary from the
//! previous block) by flate2's pinned zlib-rs backend. Every block but the last ends with a sync
//! flush (an empty stored block, so it ends byte-aligned) and the last one finishes the stream;
//! the concatenation is one valid deflate stream, wrapped in one gzip member with a fixed header
//! and a trailer of the CRC32 (per-block CRCs combined) and ISIZE. The bytes are a pure function
//! of (input, level, block size, zlib-rs version): the number of worker threads never changes
//! them, and `threads == 1` runs the same block function inline. Memory is bounded by
//! O(threads × block size): at most `2 × threads` blocks are in flight and buffers are reused.
//! A block whose samples do not compress at level 1 (random data: compiled libraries, weights)
//! is written as deflate stored blocks instead of being searched for matches at level 6, which
//! would cost the most time and save nothing.

use flate2::{Compress, Compression, FlushCompress, Status};
use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::{mpsc, Arc, Mutex};

/// The fixed 10-byte gzip header (RFC 1952): magic `1f 8b`, CM 8 (deflate), FLG 0 (no name,
/// comment, extra or header CRC), MTIME 0, XFL 0, OS 255 ("unknown"). Nothing in it depends on
/// the machine, the time or the input.
pub const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 255];

/// The default block size: 1 MiB. Part of the determinism contract (a different block size
/// gives different, equally valid bytes).
pub const DEFAULT_BLOCK_SIZE: usize = 1 << 20;

/// How to compress. `level` 0–9 (zlib levels), `threads` ≥ 1, `block_size` ≥ 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Params {
    pub level: u32,
    pub threads: usize,
    pub block_size: usize,
}

/// What went in and out of one gzip member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    /// Bytes of input (the full count, not reduced mod 2^32).
    pub uncompressed_size: u64,
    /// Bytes written to the output, header and trailer included.
    pub compressed_size: u64,
    /// CRC32 of the input, as stored in the trailer.
    pub crc32: u32,
}

/// The deflate streams one worker uses: the requested level, a level-1 probe and level 0.
struct Deflaters {
    main: Compress,
    probe: Compress,
    stored: Compress,
    level: u32,
    scratch: Vec<u8>,
}

/// Probe samples: a block is stored when none of these slices compresses by 3% at level 1.
const PROBE_SAMPLE: usize = 16 << 10;
const PROBE_RATIO_PERCENT: usize = 97;

impl Deflaters {
    fn new(level: u32) -> Deflaters {
        Deflaters {
            main: Compress::new(Compression::new(level), false),
            probe: Compress::new(Compression::new(1), false),
            stored: Compress::new(Compression::new(0), false),
            level,
            scratch: Vec::new(),
        }
    }

    /// Whether `input` looks incompressible: three samples (start, middle, end) each stay
    /// above [`PROBE_RATIO_PERCENT`] of their size at level 1. Deflating random data (compiled
    /// libraries, weights, archives) at level 6 costs the most time and saves nothing; storing
    /// it gives the same size. The probe is a pure function of the block, so the output stays
    /// deterministic.
    fn incompressible(&mut self, input: &[u8]) -> io::Result<bool> {
        if self.level == 0 || input.len() < 4 * PROBE_SAMPLE {
            return Ok(false);
        }
        let mid = input.len() / 2 - PROBE_SAMPLE / 2;
        for start in [0, mid, input.len() - PROBE_SAMPLE] {
            let sample = &input[start..start + PROBE_SAMPLE];
            deflate_block(&mut self.probe, sample, true, &mut self.scratch)?;
            if self.scratch.len() * 100 < sample.len() * PROBE_RATIO_PERCENT {
                return Ok(false);
            }
        }
        Ok(true)
    }

    fn block(
        &mut self,
        input: &[u8],
        last: bool,
        out: &mut Vec<u8>,
    ) -> io::Result<crc32fast::Hasher> {
        if self.incompressible(input)? {
            deflate_block(&mut self.stored, input, last, out)
        } else {
            deflate_block(&mut self.main, input, last, out)
        }
    }
}

/// Deflates one block. `last` finishes the deflate stream; otherwise the block ends with a sync
/// flush. Returns the compressed bytes in `out` (cleared first) and the block's CRC.
fn deflate_block(
    z: &mut Compress,
    input: &[u8],
    last: bool,
    out: &mut Vec<u8>,
) -> io::Result<crc32fast::Hasher> {
    let mut crc = crc32fast::Hasher::new();
    crc.update(input);
    z.reset();
    out.clear();
    // Deflate's worst case is ~5 bytes per 16 KiB stored block, plus the flush marker.
    out.reserve(input.len() + input.len() / 1024 + 64);
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    let start_in = z.total_in();
    loop {
        let consumed = (z.total_in() - start_in) as usize;
        let status = z
            .compress_vec(&input[consumed..], out, flush)
            .map_err(|e| io::Error::other(format!("deflate failed: {e}")))?;
        let consumed = (z.total_in() - start_in) as usize;
        let spare = out.capacity() - out.len();
        if status == Status::StreamEnd {
            break;
        }
        // zlib's rule: a flush is complete once all input is consumed and the call returned
        // with output space left over.
        if !last && consumed == input.len() && spare > 0 {
            break;
        }
        if spare == 0 {
            out.reserve(out.capacity().max(4096));
        }
    }
    Ok(crc)
}

/// Compresses `data` in memory (tests and small blobs).
pub fn compress_bytes(data: &[u8], params: Params) -> io::Result<Vec<u8>> {
    let mut out = Vec::new();
    compress(params, &mut out, |w| w.write_all(data))?;
    Ok(out)
}

struct Job {
    input: Vec<u8>,
    output: Vec<u8>,
    last: bool,
    done: mpsc::SyncSender<io::Result<Done>>,
}

struct Done {
    input: Vec<u8>,
    output: Vec<u8>,
    crc: crc32fast::Hasher,
}

/// The writer handed to the producer: it cuts what it is given into blocks and dispatches them.
pub struct BlockWriter<'a, W: Write> {
    out: &'a mut W,
    params: Params,
    buf: Vec<u8>,
    crc: crc32fast::Hasher,
    uncompressed: u64,
    compressed: u64,
    /// Threaded mode: the job queue and the blocks in flight, oldest first.
    jobs: Option<mpsc::SyncSender<Job>>,
    pending: VecDeque<mpsc::Receiver<io::Result<Done>>>,
    free: Vec<(Vec<u8>, Vec<u8>)>,
    /// Inline mode (threads == 1).
    z: Option<Deflaters>,
    scratch: Vec<u8>,
}

impl<W: Write> BlockWriter<'_, W> {
    fn emit(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.compressed += bytes.len() as u64;
        Ok(())
    }

    fn finish_one(&mut self, done: Done) -> io::Result<()> {
        self.emit(&done.output)?;
        self.crc.combine(&done.crc);
        self.free.push((done.input, done.output));
        Ok(())
    }

    fn wait_front(&mut self) -> io::Result<()> {
        let rx = self.pending.pop_front().expect("a block in flight");
        let done = rx
            .recv()
            .map_err(|_| io::Error::other("a gzip worker stopped"))??;
        self.finish_one(done)
    }

    /// Sends the current buffer off as one block.
    fn dispatch(&mut self, last: bool) -> io::Result<()> {
        let (fresh_in, fresh_out) = self.free.pop().unwrap_or_default();
        let mut input = std::mem::replace(&mut self.buf, fresh_in);
        self.buf.clear();
        self.buf.reserve(self.params.block_size);
        if let Some(z) = self.z.as_mut() {
            let mut scratch = std::mem::take(&mut self.scratch);
            let crc = z.block(&input, last, &mut scratch)?;
            self.emit(&scratch)?;
            self.crc.combine(&crc);
            self.scratch = scratch;
            input.clear();
            self.free.push((input, fresh_out));
            return Ok(());
        }
        let (tx, rx) = mpsc::sync_channel(1);
        let job = Job {
            input,
            output: fresh_out,
            last,
            done: tx,
        };
        self.jobs
            .as_ref()
            .expect("threaded mode")
            .send(job)
            .map_err(|_| io::Error::other("the gzip workers stopped"))?;
        self.pending.push_back(rx);
        // Write whatever is already finished, in order; block when too much is in flight.
        while let Some(front) = self.pending.front() {
            match front.try_recv() {
                Ok(done) => {
                    self.pending.pop_front();
                    self.finish_one(done?)?;
                }
                Err(mpsc::TryRecvError::Empty) => break,
                Err(mpsc::TryRecvError::Disconnected) => {
                    return Err(io::Error::other("a gzip worker stopped"))
                }
            }
        }
        while self.pending.len() >= 2 * self.params.threads {
            self.wait_front()?;
        }
        Ok(())
    }
}

impl<W: Write> Write for BlockWriter<'_, W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let room = self.params.block_size - self.buf.len();
            let take = room.min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            self.uncompressed += take as u64;
            if self.buf.len() == self.params.block_size {
                self.dispatch(false)?;
            }
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn worker(jobs: &Mutex<mpsc::Receiver<Job>>, level: u32) {
    let mut z = Deflaters::new(level);
    loop {
        let job = {
            let Ok(rx) = jobs.lock() else { return };
            match rx.recv() {
                Ok(job) => job,
                Err(_) => return,
            }
        };
        let Job {
            mut input,
            mut output,
            last,
            done,
        } = job;
        let result = z.block(&input, last, &mut output).map(|crc| {
            input.clear();
            Done { input, output, crc }
        });
        // The receiver is gone only when the writer gave up on an error: nothing to do.
        let _ = done.send(result);
    }
}

/// Writes one gzip member to `out`: the fixed header, the deflated bytes `produce` writes to
/// the writer it is given, and the trailer. Returns what `produce` returned and the sizes.
/// `produce`'s error type only needs `From<io::Error>`, so a caller can keep its own errors.
pub fn compress<W, R, E, F>(params: Params, out: &mut W, produce: F) -> Result<(R, Summary), E>
where
    W: Write,
    E: From<io::Error>,
    F: FnOnce(&mut BlockWriter<'_, W>) -> Result<R, E>,
{
    if params.level > 9 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("gzip level {} is not in 0..=9", params.level),
        )
        .into());
    }
    if params.block_size == 0 || params.threads == 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "gzip block size and thread count must be at least 1",
        )
        .into());
    }
    out.write_all(&HEADER)?;
    let mut w = BlockWriter {
        out,
        params,
        buf: Vec::with_capacity(params.block_size),
        crc: crc32fast::Hasher::new(),
        uncompressed: 0,
        compressed: HEADER.len() as u64,
        jobs: None,
        pending: VecDeque::new(),
        free: Vec::new(),
        z: None,
        scratch: Vec::new(),
    };
    let result = if params.threads == 1 {
        w.z = Some(Deflaters::new(params.level));
        let r = produce(&mut w)?;
        w.dispatch(true)?;
        r
    } else {
        let (tx, rx) = mpsc::sync_channel::<Job>(params.threads);
        let rx = Arc::new(Mutex::new(rx));
        std::thread::scope(|s| -> Result<R, E> {
            for _ in 0..params.threads {
                let rx = Arc::clone(&rx);
                s.spawn(move || worker(&rx, params.level));
            }
            w.jobs = Some(tx);
            // On any error the job sender is dropped with `w`'s fields below, the workers
            // drain and exit, and the scope joins them.
            let r = produce(&mut w);
            let r = r.and_then(|r| {
                w.dispatch(true)?;
                while !w.pending.is_empty() {
                    w.wait_front()?;
                }
                Ok(r)
            });
            w.jobs = None;
            w.pending.clear();
            r
        })?
    };
    let crc = w.crc.clone().finalize();
    let mut trailer = [0u8; 8];
    trailer[..4].copy_from_slice(&crc.to_le_bytes());
    trailer[4..].copy_from_slice(&(w.uncompressed as u32).to_le_bytes());
    w.emit(&trailer)?;
    let summary = Summary {
        uncompressed_size: w.uncompressed,
        compressed_size: w.compressed,
        crc32: crc,
    };
    Ok((result, summary))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample(len: usize) -> Vec<u8> {
        // Half text-like, half pseudo-random: both deflate paths (matches and literals).
        let mut out = Vec::with_capacity(len);
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let words = [
            "fn ", "let ", "mut ", "self", ".push(", ");\n", "    ", "return ", "match ",
        ];
        while out.len() < len {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            if (out.len() / 4096) % 2 == 0 {
                out.extend_from_slice(words[(x % words.len() as u64) as usize].as_bytes());
            } else {
                out.extend_from_slice(&x.to_le_bytes());
            }
        }
        out.truncate(len);
        out
    }

    fn gunzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        flate2::read::GzDecoder::new(data)
            .read_to_end(&mut out)
            .unwrap();
        out
    }

    fn params(level: u32, threads: usize, block_size: usize) -> Params {
        Params {
            level,
            threads,
            block_size,
        }
    }

    #[test]
    fn round_trips_and_has_the_fixed_header() {
        for len in [0, 1, 1000, 65536, 65537, 300_000] {
            let data = sample(len);
            let gz = compress_bytes(&data, params(6, 3, 65536)).unwrap();
            assert_eq!(gz[..10], HEADER);
            assert_eq!(gunzip(&gz), data, "len {len}");
            // One member: a multi-member decoder sees the same bytes.
            let mut multi = Vec::new();
            flate2::read::MultiGzDecoder::new(&gz[..])
                .read_to_end(&mut multi)
                .unwrap();
            assert_eq!(multi, data);
            let crc = crc32fast::hash(&data);
            assert_eq!(gz[gz.len() - 8..gz.len() - 4], crc.to_le_bytes());
        }
    }

    #[test]
    fn thread_count_does_not_change_the_bytes() {
        let data = sample(300_000);
        for level in [0, 1, 6, 9] {
            let one = compress_bytes(&data, params(level, 1, 50_000)).unwrap();
            for threads in [2, 4, 7] {
                let many = compress_bytes(&data, params(level, threads, 50_000)).unwrap();
                assert!(one == many, "level {level}, threads {threads}");
            }
            assert_eq!(gunzip(&one), data);
        }
        // The block size is part of the contract: a different one gives different bytes.
        let a = compress_bytes(&data, params(6, 2, 50_000)).unwrap();
        let b = compress_bytes(&data, params(6, 2, 100_000)).unwrap();
        assert_ne!(a, b);
    }

    #[test]
    fn incompressible_blocks_are_stored_and_text_is_not() {
        // A deterministic pseudo-random block (xorshift) and a text block.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let random: Vec<u8> = (0..(1 << 20))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        let words = [
            "fn ", "let ", "mut ", "self", ".push(", ");\n", "    ", "return ",
        ];
        let text: Vec<u8> = (0..(1usize << 20))
            .scan(7u64, |x, _| {
                *x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                Some(words[(*x >> 60) as usize % words.len()].as_bytes().to_vec())
            })
            .flatten()
            .take(1 << 20)
            .collect();
        let mut both = random.clone();
        both.extend_from_slice(&text);
        for threads in [1, 2] {
            let gz = compress_bytes(&both, params(6, threads, 1 << 20)).unwrap();
            assert_eq!(gunzip(&gz), both);
            // Stored random data costs ~5 bytes per 64 KiB; the text still compresses.
            assert!(
                gz.len() < random.len() + 200 + text.len() / 2,
                "{}",
                gz.len()
            );
        }
        let mut d = Deflaters::new(6);
        assert!(d.incompressible(&random).unwrap());
        assert!(!d.incompressible(&text).unwrap());
        assert!(!Deflaters::new(0).incompressible(&random).unwrap());
    }

    #[test]
    fn exact_multiple_of_the_block_size() {
        let data = sample(4 * 4096);
        let one = compress_bytes(&data, params(6, 1, 4096)).unwrap();
        let four = compress_bytes(&data, params(6, 4, 4096)).unwrap();
        assert_eq!(one, four);
        assert_eq!(gunzip(&one), data);
    }

    #[test]
    fn gzip_tool_accepts_the_output() {
        let Ok(status) = std::process::Command::new("gzip")
            .arg("--version")
            .stdout(std::process::Stdio::null())
            .status()
        else {
            eprintln!("skipped: gzip is not on PATH");
            return;
        };
        assert!(status.success());
        let data = sample(500_000);
        let gz = compress_bytes(&data, params(6, 2, 65536)).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.gz");
        std::fs::write(&path, &gz).unwrap();
        let test = std::process::Command::new("gzip")
            .arg("-t")
            .arg(&path)
            .status()
            .unwrap();
        assert!(test.success());
        let out = std::process::Command::new("gzip")
            .arg("-dc")
            .arg(&path)
            .output()
            .unwrap();
        assert!(out.status.success());
        assert_eq!(out.stdout, data);
    }

    #[test]
    fn bad_parameters_are_errors() {
        assert!(compress_bytes(b"x", params(10, 1, 10)).is_err());
        assert!(compress_bytes(b"x", params(6, 1, 0)).is_err());
        assert!(compress_bytes(b"x", params(6, 0, 10)).is_err());
    }

    #[test]
    fn a_producer_error_stops_the_workers() {
        let mut out = Vec::new();
        let r: Result<((), Summary), io::Error> = compress(params(6, 4, 1024), &mut out, |w| {
            w.write_all(&sample(100_000))?;
            Err(io::Error::other("stop"))
        });
        assert_eq!(r.unwrap_err().to_string(), "stop");
    }
}
