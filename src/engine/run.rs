//! Running an engine command: its stdout and stderr streamed line by line as they come (to a
//! sink the caller gives, and into the build log), a stop flag that interrupts it, and what it
//! ended with. The child runs in its own process group, so a terminal's Ctrl-C reaches envc
//! alone and envc decides: SIGINT to the engine's group, then SIGKILL if it has not exited
//! within [`GRACE`]. Nothing here reads the clock but to poll.

use std::io::{self, BufRead, BufReader, Read};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How long an interrupted engine has to stop before its process group is killed.
pub const GRACE: Duration = Duration::from_secs(10);
/// How often the child and the stop flag are looked at.
const POLL: Duration = Duration::from_millis(25);
/// Lines longer than this are cut (an engine printing a binary blob is not a reason to use
/// memory without bound); the log keeps the cut line.
const MAX_LINE: usize = 64 * 1024;

/// How an engine command ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this code.
    Code(i32),
    /// Killed by this signal (not by envc).
    Signal(i32),
    /// Stopped by envc because the stop flag was raised.
    Interrupted,
}

impl Exit {
    pub fn success(&self) -> bool {
        *self == Exit::Code(0)
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Code(c) => write!(f, "exit status {c}"),
            Exit::Signal(s) => write!(f, "killed by signal {s}"),
            Exit::Interrupted => write!(f, "interrupted"),
        }
    }
}

/// What one command printed and how it ended.
#[derive(Debug, Clone)]
pub struct Finished {
    pub exit: Exit,
    /// Every line it printed (stdout and stderr, in the order they arrived).
    pub lines: Vec<String>,
}

/// Runs `cmd` with stdin closed, each output line passed to `sink` as it arrives. `stop` raised
/// (by a signal handler) interrupts it. An error only when it cannot be started.
pub fn run(mut cmd: Command, sink: &dyn Fn(&str), stop: &AtomicBool) -> io::Result<Finished> {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd.spawn()?;
    let (tx, rx) = mpsc::channel::<String>();
    let readers = [
        child
            .stdout
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
        child
            .stderr
            .take()
            .map(|r| Box::new(r) as Box<dyn Read + Send>),
    ]
    .into_iter()
    .flatten()
    .map(|r| {
        let tx = tx.clone();
        std::thread::spawn(move || forward_lines(r, &tx))
    })
    .collect::<Vec<_>>();
    drop(tx);

    let mut lines = Vec::new();
    let mut interrupted_at: Option<Instant> = None;
    let status = loop {
        // Lines first, so output keeps flowing while the child runs.
        loop {
            match rx.recv_timeout(POLL) {
                Ok(line) => {
                    sink(&line);
                    lines.push(line);
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                // Both pipes closed while the child runs on: wait without spinning.
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    std::thread::sleep(POLL);
                    break;
                }
            }
        }
        if let Some(status) = child.try_wait()? {
            break status;
        }
        if stop.load(Ordering::Relaxed) {
            match interrupted_at {
                None => {
                    signal_group(&child, nix::sys::signal::Signal::SIGINT);
                    interrupted_at = Some(Instant::now());
                }
                Some(t) if t.elapsed() > GRACE => {
                    signal_group(&child, nix::sys::signal::Signal::SIGKILL);
                }
                Some(_) => {}
            }
        }
    };
    // The pipes close when the last process holding them exits; a grandchild that keeps one
    // open must not hang envc, so the readers get a bounded wait.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline {
        match rx.recv_timeout(POLL) {
            Ok(line) => {
                sink(&line);
                lines.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
    }
    for r in readers {
        if r.is_finished() {
            let _ = r.join();
        }
    }
    let exit = if interrupted_at.is_some() {
        Exit::Interrupted
    } else if let Some(code) = status.code() {
        Exit::Code(code)
    } else {
        Exit::Signal(status.signal().unwrap_or(0))
    };
    Ok(Finished { exit, lines })
}

/// Runs `cmd` to completion without streaming; its stdout, or why it failed (stderr's last
/// line). For the engine's quick queries (`--version`, `image inspect`).
pub fn query(mut cmd: Command) -> io::Result<Result<String, String>> {
    let out = cmd.stdin(Stdio::null()).output()?;
    if out.status.success() {
        Ok(Ok(String::from_utf8_lossy(&out.stdout).trim().to_string()))
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let last = err
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        Ok(Err(format!(
            "{} ({})",
            last.trim(),
            out.status
                .code()
                .map_or("killed".to_string(), |c| format!("exit status {c}"))
        )))
    }
}

fn signal_group(child: &Child, signal: nix::sys::signal::Signal) {
    let Ok(pid) = i32::try_from(child.id()) else {
        return;
    };
    // The group may be gone already; nothing to do then.
    let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pid), signal);
}

/// Splits a stream into lines (`\n`; a `\r` progress redraw ends a line too), lossily decoded.
fn forward_lines(r: Box<dyn Read + Send>, tx: &mpsc::Sender<String>) {
    let mut reader = BufReader::new(r);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match read_line(&mut reader, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&buf);
                let line = text.trim_end_matches(['\n', '\r']);
                if tx.send(line.to_string()).is_err() {
                    return;
                }
            }
        }
    }
}

/// Reads up to and including the next `\n` or `\r`, at most [`MAX_LINE`] bytes kept (the rest
/// of an overlong line is read and dropped).
fn read_line(r: &mut impl BufRead, buf: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let available = r.fill_buf()?;
        if available.is_empty() {
            return Ok(total);
        }
        let end = available.iter().position(|b| *b == b'\n' || *b == b'\r');
        let take = end.map_or(available.len(), |i| i + 1);
        let room = MAX_LINE.saturating_sub(buf.len());
        buf.extend_from_slice(&available[..take.min(room)]);
        r.consume(take);
        total += take;
        if end.is_some() {
            return Ok(total);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str) -> Command {
        let mut c = Command::new("sh");
        c.arg("-c").arg(script);
        c
    }

    #[test]
    fn streams_both_outputs_and_the_exit_code() {
        let seen = std::sync::Mutex::new(Vec::new());
        let stop = AtomicBool::new(false);
        let done = run(
            sh("echo one; echo two >&2; printf 'three\\rfour'; exit 3"),
            &|l| seen.lock().unwrap().push(l.to_string()),
            &stop,
        )
        .unwrap();
        assert_eq!(done.exit, Exit::Code(3));
        let mut lines = done.lines.clone();
        lines.sort();
        assert_eq!(lines, ["four", "one", "three", "two"]);
        assert_eq!(seen.into_inner().unwrap().len(), 4);
    }

    #[test]
    fn a_raised_stop_flag_interrupts_the_group() {
        let stop = AtomicBool::new(false);
        let started = Instant::now();
        std::thread::scope(|s| {
            s.spawn(|| {
                std::thread::sleep(Duration::from_millis(200));
                stop.store(true, Ordering::Relaxed);
            });
            // SIGINT back to its default first: a test run started in the background of a
            // shell (`nohup … &`) has it ignored, and a child inherits that.
            let mut cmd = Command::new("env");
            cmd.args(["--default-signal=INT", "sh", "-c", "sleep 30 & wait"]);
            let done = run(cmd, &|_| {}, &stop).unwrap();
            assert_eq!(done.exit, Exit::Interrupted);
        });
        assert!(
            started.elapsed() < GRACE,
            "stopped by SIGINT, not the grace kill"
        );
    }

    #[test]
    fn a_signal_from_elsewhere_is_reported_as_such() {
        let stop = AtomicBool::new(false);
        let done = run(sh("kill -9 $$"), &|_| {}, &stop).unwrap();
        assert_eq!(done.exit, Exit::Signal(9));
        assert_eq!(done.exit.to_string(), "killed by signal 9");
    }

    #[test]
    fn overlong_lines_are_cut() {
        let mut r = io::Cursor::new(vec![b'x'; MAX_LINE * 2]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut r, &mut buf).unwrap(), MAX_LINE * 2);
        assert_eq!(buf.len(), MAX_LINE);
    }

    #[test]
    fn a_missing_program_is_an_error() {
        let stop = AtomicBool::new(false);
        assert!(run(Command::new("/nonexistent/envc-engine"), &|_| {}, &stop).is_err());
    }
}
