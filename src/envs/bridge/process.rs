//! One adapter subprocess: spawn, send frames, receive frames with a timeout, and turn crashes
//! and hangs into clear errors (a reader thread feeds a channel so no read can block forever).

use std::io::{BufReader, BufWriter, Read};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError, channel};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use super::protocol::{self, ERROR, Frame};

/// How much of the subprocess's stderr is kept for error messages.
const STDERR_TAIL: usize = 4096;

/// A running adapter process.
pub struct Worker {
    child: Child,
    stdin: BufWriter<ChildStdin>,
    rx: Receiver<std::io::Result<Frame>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    label: String,
    dead: bool,
}

/// Split a command line shell-style (quotes respected), without running a shell.
pub fn split_command(cmd: &str) -> Result<Vec<String>, String> {
    match shlex::split(cmd) {
        Some(words) if !words.is_empty() => Ok(words),
        _ => Err(format!("cannot parse the bridge command `{cmd}`")),
    }
}

impl Worker {
    /// Start `argv` with piped stdin/stdout; `label` names it in errors.
    pub fn spawn(argv: &[String], label: String) -> Result<Worker, String> {
        let mut child = Command::new(&argv[0])
            .args(&argv[1..])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("{label}: cannot start `{}`: {e}", argv[0]))?;
        let stdin = BufWriter::new(child.stdin.take().expect("piped stdin"));
        let mut stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let mut err_pipe = child.stderr.take().expect("piped stderr");
        let (tx, rx) = channel();
        thread::spawn(move || {
            loop {
                let r = protocol::read_frame(&mut stdout);
                let stop = r.is_err();
                if tx.send(r).is_err() || stop {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = stderr.clone();
        thread::spawn(move || {
            let mut buf = [0u8; 1024];
            while let Ok(n) = err_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut s = sink.lock().expect("stderr buffer");
                s.extend_from_slice(&buf[..n]);
                if s.len() > STDERR_TAIL {
                    let cut = s.len() - STDERR_TAIL;
                    s.drain(..cut);
                }
            }
        });
        Ok(Worker {
            child,
            stdin,
            rx,
            stderr,
            label,
            dead: false,
        })
    }

    /// Send one request.
    pub fn send(&mut self, tag: u8, body: &[u8]) -> Result<(), String> {
        if self.dead {
            return Err(format!("{}: the subprocess is gone", self.label));
        }
        if protocol::write_frame(&mut self.stdin, tag, body).is_err() {
            return Err(self.died("could not write to it"));
        }
        Ok(())
    }

    /// Receive one reply of kind `want` within `timeout`.
    pub fn recv(&mut self, want: u8, timeout: Duration) -> Result<Vec<u8>, String> {
        if self.dead {
            return Err(format!("{}: the subprocess is gone", self.label));
        }
        match self.rx.recv_timeout(timeout) {
            Ok(Ok(f)) if f.tag == want => Ok(f.body),
            Ok(Ok(f)) if f.tag == ERROR => {
                self.dead = true;
                let msg = String::from_utf8_lossy(&f.body).into_owned();
                Err(format!("{}: the environment failed: {msg}", self.label))
            }
            Ok(Ok(f)) => {
                self.kill();
                Err(format!(
                    "{}: protocol error: expected message 0x{want:02x}, got 0x{:02x}",
                    self.label, f.tag
                ))
            }
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::InvalidData => {
                self.kill();
                Err(format!("{}: protocol error: {e}", self.label))
            }
            Ok(Err(_)) | Err(RecvTimeoutError::Disconnected) => {
                Err(self.died("it closed its output"))
            }
            Err(RecvTimeoutError::Timeout) => {
                self.kill();
                Err(format!(
                    "{}: no answer within {:.1} s; the subprocess was killed (hung environment? \
                     raise MEMORAXC_BRIDGE_TIMEOUT if it is just slow){}",
                    self.label,
                    timeout.as_secs_f64(),
                    self.stderr_tail()
                ))
            }
        }
    }

    /// The error for a subprocess that went away: exit status and the end of its stderr.
    fn died(&mut self, what: &str) -> String {
        self.dead = true;
        let mut status = None;
        for _ in 0..50 {
            if let Ok(Some(s)) = self.child.try_wait() {
                status = Some(s);
                break;
            }
            thread::sleep(Duration::from_millis(20));
        }
        let status = match status {
            Some(s) => format!("it exited with {s}"),
            None => {
                self.kill();
                "it stopped answering and was killed".to_string()
            }
        };
        // give the stderr thread a moment to drain
        thread::sleep(Duration::from_millis(50));
        format!(
            "{}: the subprocess crashed ({what}; {status}){}",
            self.label,
            self.stderr_tail()
        )
    }

    fn stderr_tail(&self) -> String {
        let s = self.stderr.lock().expect("stderr buffer");
        let text = String::from_utf8_lossy(&s);
        let text = text.trim();
        if text.is_empty() {
            String::new()
        } else {
            format!("\n--- subprocess stderr (last lines) ---\n{text}")
        }
    }

    fn kill(&mut self) {
        self.dead = true;
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        if !self.dead {
            let _ = protocol::write_frame(&mut self.stdin, protocol::CLOSE, &[]);
            for _ in 0..25 {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        self.kill();
    }
}
