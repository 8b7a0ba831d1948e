//! Deterministic zstd for layer blobs (`application/vnd.oci.image.layer.v1.tar+zstd`): the
//! encoder the layer writer streams a tar into, and the decoder the scanner, the normaliser and
//! the store read such layers with.
//!
//! The bytes are a pure function of the input and of these, all fixed here:
//! - libzstd 1.5.7, compiled from the sources the pinned `zstd-sys` crate bundles (Cargo.toml
//!   pins `zstd` and `zstd-sys` with `=`; a test checks the linked version, since
//!   `ZSTD_SYS_USE_PKG_CONFIG` at build time would link the system's library instead);
//! - [`LEVEL`] 2, with [`WINDOW_LOG`] 21 (a 2 MiB window, level 3's; level 2's own is 512 KiB;
//!   every decoder's default limit accepts it), long-distance matching off. Level 2 rather than
//!   zstd's default 3: on the 1 GiB tree of `benches/layer.sh` it took 6.4 s of CPU against
//!   level 3's 8.3 s and envc's gzip -6's 23 s, for 643 MiB against 632 MiB (gzip -6: 672 MiB),
//!   so it stays smaller than gzip while being well over 3× faster (`benches/zstd.sh`);
//! - one frame with the XXH64 content checksum (4 bytes at the end, checked by every decoder)
//!   and no content size in the header (the size is not known when streaming starts; the
//!   flag is set off explicitly), no dictionary;
//! - libzstd's multithreaded mode, always (`nbWorkers` ≥ 1, even for one thread): the input is
//!   cut into jobs of [`JOB_SIZE`] and each job is compressed by a worker with the tail of the
//!   previous job as history (overlap: the library's default for the level). Job boundaries and
//!   overlaps depend on the parameters, never on the number of workers, so streaming output is
//!   the same for any thread count (zstd maintainers in facebook/zstd#2238 and #2327; the one
//!   exception there, a stream whose *first* call is `ZSTD_e_end` with the whole input, cannot
//!   happen here: the tar is written through `ZSTD_e_continue` before the frame is ended).
//!   Single-threaded mode (`nbWorkers` = 0) writes different bytes and is never used. A test
//!   compares 1, 2 and 5 threads on an input of several jobs.
//!
//! Reading accepts any conforming stream (several frames, other windows up to 128 MiB, the
//! decoder's default limit), not only what this module writes.

use std::io::{self, BufReader, Read, Write};

/// zstd's compression level (see the module documentation for why 2).
pub const LEVEL: i32 = 2;
/// log2 of the match window: 21 (2 MiB), the window level 3 uses on large inputs.
pub const WINDOW_LOG: u32 = 21;
/// The size of one multithreaded job: 8 MiB (4 × the window, libzstd's default for it), fixed
/// here so that a change of library default cannot move the job boundaries.
pub const JOB_SIZE: u32 = 8 << 20;

/// A streaming encoder writing one deterministic zstd frame to `out` with `threads` workers
/// (at least 1; 0 is taken as 1). Call `finish` on it to end the frame.
pub fn encoder<W: Write>(
    out: W,
    threads: usize,
) -> io::Result<::zstd::stream::Encoder<'static, W>> {
    encoder_with_jobs(out, threads, JOB_SIZE)
}

/// [`encoder`] with another job size (tests: several jobs in little memory).
fn encoder_with_jobs<W: Write>(
    out: W,
    threads: usize,
    job_size: u32,
) -> io::Result<::zstd::stream::Encoder<'static, W>> {
    use ::zstd::stream::raw::CParameter;
    let mut e = ::zstd::stream::Encoder::new(out, LEVEL)?;
    let workers = u32::try_from(threads.max(1)).unwrap_or(u32::MAX).min(200);
    e.multithread(workers)?;
    e.set_parameter(CParameter::JobSize(job_size))?;
    e.window_log(WINDOW_LOG)?;
    e.long_distance_matching(false)?;
    e.include_checksum(true)?;
    e.include_contentsize(false)?;
    e.include_dictid(false)?;
    Ok(e)
}

/// A decoder for a zstd layer blob: every frame of the stream, in order.
pub fn decoder<R: Read>(input: R) -> io::Result<Decoder<R>> {
    ::zstd::stream::read::Decoder::with_buffer(BufReader::with_capacity(1 << 17, input))
}

/// The decoder [`decoder`] returns; `into_inner` gives back the buffered source.
pub type Decoder<R> = ::zstd::stream::read::Decoder<'static, BufReader<R>>;

/// Compresses `data` in memory (tests and small blobs such as the metadata layer).
pub fn compress_bytes(data: &[u8], threads: usize) -> io::Result<Vec<u8>> {
    let mut e = encoder(Vec::new(), threads)?;
    e.write_all(data)?;
    e.finish()
}

/// The libzstd version linked, e.g. 10507 for 1.5.7.
pub fn library_version() -> u32 {
    ::zstd::zstd_safe::version_number()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The compressed bytes belong to this exact libzstd (see the module documentation).
    #[test]
    fn links_the_pinned_libzstd() {
        assert_eq!(library_version(), 10507);
    }

    fn compress_jobs(data: &[u8], threads: usize, chunk: usize) -> Vec<u8> {
        let mut e = encoder_with_jobs(Vec::new(), threads, JOB).unwrap();
        for c in data.chunks(chunk) {
            e.write_all(c).unwrap();
        }
        e.finish().unwrap()
    }

    /// 1 MiB jobs (libzstd's minimum is 512 KiB) keep the test's memory small: the
    /// memory-bound test of the layer writer shares this process.
    const JOB: u32 = 1 << 20;

    /// Several jobs of mixed (text and random) input: the same bytes for 1, 2 and 5 workers,
    /// whatever sizes the input is written in; and they decode back.
    #[test]
    fn bytes_do_not_depend_on_threads_or_write_sizes() {
        let mut data = Vec::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        while data.len() < 4 * JOB as usize + 12345 {
            if (data.len() / 300_000) % 3 == 0 {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                data.extend_from_slice(&x.to_le_bytes());
            } else {
                data.extend_from_slice(
                    format!("line {} of some text\n", data.len() % 977).as_bytes(),
                );
            }
        }
        let one = compress_jobs(&data, 1, data.len());
        for (threads, chunk) in [(2, data.len()), (5, data.len()), (2, 77_777), (1, 512)] {
            let other = compress_jobs(&data, threads, chunk);
            assert!(
                other == one,
                "{threads} threads, written {chunk} bytes at a time"
            );
        }
        // A small input (one job, less than the minimum job size) too.
        let small = compress_bytes(&data[..3000], 1).unwrap();
        assert!(compress_bytes(&data[..3000], 2).unwrap() == small);
        assert!(one.len() < data.len());
        let mut back = Vec::new();
        decoder(&one[..]).unwrap().read_to_end(&mut back).unwrap();
        assert!(back == data);
        // The frame header: magic, then a descriptor with the checksum flag and no size.
        assert_eq!(one[..4], [0x28, 0xb5, 0x2f, 0xfd]);
        assert_eq!(one[4] & 0b0000_0100, 0b100, "checksum flag");
        assert_eq!(one[4] >> 6, 0, "no content size");
    }

    /// Frames written by someone else, concatenated, are read in order.
    #[test]
    fn reads_concatenated_frames() {
        let mut two = ::zstd::bulk::compress(b"hello ", 19).unwrap();
        two.extend(::zstd::bulk::compress(b"world", 1).unwrap());
        let mut back = String::new();
        decoder(&two[..])
            .unwrap()
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "hello world");
    }
}
