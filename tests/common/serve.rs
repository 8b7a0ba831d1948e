//! A running `envc serve` for the end-to-end tests: started on a free loopback port (the
//! address read from its start-up line), stopped with SIGTERM.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

pub struct Server {
    child: Child,
    pub addr: String,
    stderr: mpsc::Receiver<String>,
}

impl Server {
    /// Starts `cmd` (an `envc serve` without `--listen`) on `127.0.0.1:0`.
    pub fn spawn(mut cmd: Command) -> Server {
        let mut child = cmd
            .args(["--listen", "127.0.0.1:0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start envc serve");
        let (tx, rx) = mpsc::channel();
        let stderr = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let deadline = Instant::now() + Duration::from_secs(30);
        let addr = loop {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) => {
                    if let Some(rest) = line.split("http://").nth(1) {
                        break Some(rest.trim_end_matches('/').to_string());
                    }
                }
                Err(_) => break None,
            }
        };
        let Some(addr) = addr else {
            let _ = child.kill();
            let status = child.wait();
            panic!("envc serve printed no address ({status:?})");
        };
        Server {
            child,
            addr,
            stderr: rx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// SIGTERM, then the exit status and everything it printed after the address.
    pub fn stop(mut self) -> (Option<i32>, String) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = self.child.wait().unwrap();
        let mut log = String::new();
        while let Ok(line) = self.stderr.recv_timeout(Duration::from_secs(2)) {
            log.push_str(&line);
            log.push('\n');
        }
        (status.code(), log)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
