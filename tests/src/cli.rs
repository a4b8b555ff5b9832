//! `homeline-cli phone` driven as a user scripts it: commands on stdin, every
//! event read back from its JSON lines.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::services::kamailio::Kamailio;

/// How long [`CliPhone::expect`] waits by default.
pub const WAIT: Duration = Duration::from_secs(15);

/// A running `homeline-cli phone`. Killed on drop.
pub struct CliPhone {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
    /// Its stderr (logs when `HOMELINE_LOG` is set), shown when an expectation fails.
    stderr: tempfile::NamedTempFile,
}

/// `phone --address USER@DOMAIN --server wss://… --ca-file CA` for `k`.
pub fn phone_args(k: &Kamailio, user: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> =
        ["phone", "--address", &format!("{user}@{}", k.domain()), "--server", &k.wss_url(), "--ca-file"].map(OsString::from).into();
    args.push(k.ca_pem().into());
    args
}

impl CliPhone {
    /// Start `cmd` (a `homeline-cli phone …` command line, possibly wrapped,
    /// e.g. by `ip netns exec`) with `password` in its environment.
    pub fn spawn(mut cmd: Command, password: &str) -> std::io::Result<CliPhone> {
        let stderr = tempfile::Builder::new().prefix("homeline-cli-").suffix(".log").tempfile()?;
        let mut child = cmd
            .env("HOMELINE_PASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(stderr.reopen()?)
            .spawn()?;
        let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
            let _ = child.kill();
            return Err(std::io::Error::other("homeline-cli started without pipes"));
        };
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Ok(CliPhone { child, stdin, lines, stderr })
    }

    /// The process id (for its memory and CPU in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Write one stdin command.
    pub fn send(&mut self, command: &str) {
        // A phone that died shows in the next `expect`, with what it printed.
        let _ = writeln!(self.stdin, "{command}");
    }

    /// The first JSON line matching `want` within [`WAIT`]; panics with what
    /// was seen instead.
    pub fn expect(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        self.expect_within(WAIT, what, want)
    }

    /// [`Self::expect`] with its own deadline.
    pub fn expect_within(&self, wait: Duration, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(v) => seen.push(v.to_string()),
                Err(_) => break,
            }
        }
        panic!("no {what} within {wait:?}; saw:\n{}\nits stderr ends:\n{}", seen.join("\n"), self.stderr_tail(120));
    }

    /// Every JSON line printed during the next `wait` (for "nothing bad happened" checks).
    pub fn lines_within(&self, wait: Duration) -> Vec<Value> {
        let deadline = Instant::now() + wait;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) => seen.push(v),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => break,
                // The process is gone: nothing more will come.
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        seen
    }

    /// The last `lines` lines it wrote to stderr.
    pub fn stderr_tail(&self, lines: usize) -> String {
        crate::process::log_tail(self.stderr.path(), lines)
    }
}

impl Drop for CliPhone {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A `callChanged` line in `state`.
pub fn call_state_is(v: &Value, state: &str) -> bool {
    v["type"] == "callChanged" && v["state"] == state
}

/// A `registrationChanged` line in `state`.
pub fn registration_is(v: &Value, state: &str) -> bool {
    v["type"] == "registrationChanged" && v["state"] == state
}
