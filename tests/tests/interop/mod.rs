//! Shared by the interop tests (interop_jssip.rs, interop_baresip.rs): a
//! `homeline-cli phone` process driven over stdin/JSON lines, tone files, and
//! tone measurement in recordings.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::{Arc, Mutex};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use homeline_media::goertzel::{goertzel_power, mean_power};
use serde_json::Value;

pub fn cli_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline-cli")
}

/// Amplitude of every test tone.
pub const TONE_AMPLITUDE: f64 = 8_000.0;

/// Level of a test tone in dBFS on [`level_dbfs`]'s scale (about -15.2).
pub fn tone_dbfs() -> f64 {
    let rms = TONE_AMPLITUDE / 32_768.0 / std::f64::consts::SQRT_2;
    20.0 * rms.log10()
}

/// A mono 16-bit WAV of a steady tone at `rate`, `seconds` long, amplitude [`TONE_AMPLITUDE`].
pub fn tone_wav(path: &Path, rate: u32, hz: f32, seconds: u32) -> PathBuf {
    let samples: Vec<i16> = (0..rate * seconds)
        .map(|i| (TONE_AMPLITUDE as f32 * (2.0 * std::f32::consts::PI * hz * i as f32 / rate as f32).sin()) as i16)
        .collect();
    homeline_media::wav::write_wav_mono(path, rate, &samples).expect("write tone");
    path.to_path_buf()
}

/// A line-oriented child process: JSON lines from stdout into a channel,
/// everything seen kept for failure messages.
pub struct Lines {
    rx: Receiver<Value>,
    pub seen: Vec<String>,
}

impl Lines {
    pub fn spawn_reader(stdout: impl std::io::Read + Send + 'static) -> Lines {
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let value = serde_json::from_str::<Value>(&line).unwrap_or(Value::String(line));
                if tx.send(value).is_err() {
                    break;
                }
            }
        });
        Lines { rx, seen: Vec::new() }
    }

    /// The first line matching `want` within `timeout`, or None.
    pub fn wait(&mut self, timeout: Duration, want: impl Fn(&Value) -> bool) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.rx.recv_timeout(left) {
                Ok(v) => {
                    self.seen.push(abbreviate(&v.to_string()));
                    if want(&v) {
                        return Some(v);
                    }
                }
                Err(_) => return None,
            }
        }
        None
    }

    /// The last `n` lines seen, for failure messages.
    pub fn tail(&self, n: usize) -> String {
        self.seen[self.seen.len().saturating_sub(n)..].join("\n")
    }
}

fn abbreviate(line: &str) -> String {
    if line.len() > 4000 {
        format!("{}…", &line[..line.char_indices().nth(4000).map_or(line.len(), |(i, _)| i)])
    } else {
        line.to_owned()
    }
}

/// `homeline-cli phone` as a user scripts it. Killed on drop.
pub struct Cli {
    pub name: String,
    child: Child,
    stdin: ChildStdin,
    pub lines: Lines,
    pub stderr_log: PathBuf,
    pub record_dir: PathBuf,
}

impl Cli {
    /// Register `user@domain` at `server` (wss:// with `ca`), playing `mic`, recording into `dir/<user>-received`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(server: &str, domain: &str, ca: Option<&Path>, user: &str, password: &str, mic: &Path, dir: &Path, auto_answer: bool) -> Cli {
        let record_dir = dir.join(format!("{user}-received"));
        let stderr_log = dir.join(format!("{user}-cli.log"));
        let mut cmd = Command::new(cli_binary());
        cmd.args(["phone", "--address", &format!("{user}@{domain}"), "--server", server]);
        if let Some(ca) = ca {
            cmd.arg("--ca-file").arg(ca);
        }
        cmd.args(["--loopback", "--for", "90", "--mic"]).arg(mic).arg("--record-dir").arg(&record_dir);
        if auto_answer {
            cmd.arg("--auto-answer");
        }
        let log = std::fs::File::create(&stderr_log).expect("CLI log file");
        let mut child = cmd
            .env("HOMELINE_PASSWORD", password)
            .env("RUST_LOG", std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start homeline-cli");
        let stdin = child.stdin.take().expect("stdin");
        let lines = Lines::spawn_reader(child.stdout.take().expect("stdout"));
        Cli { name: user.into(), child, stdin, lines, stderr_log, record_dir }
    }

    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("write a command to homeline-cli");
    }

    /// The first JSON line matching `want` within `timeout`, or a panic with what was seen and `context`.
    pub fn expect(&mut self, what: &str, timeout: Duration, context: &dyn Fn() -> String, want: impl Fn(&Value) -> bool) -> Value {
        match self.lines.wait(timeout, want) {
            Some(v) => v,
            None => panic!(
                "homeline-cli ({}): no {what} within {timeout:?}; it printed:\n{}\n--- its stderr ---\n{}\n{}",
                self.name,
                self.lines.tail(30),
                homeline_tests::process::log_tail(&self.stderr_log, 30),
                context()
            ),
        }
    }

    pub fn quit(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The one recording in the record dir.
    pub fn recording(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(&self.record_dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        assert_eq!(files.len(), 1, "one recording expected in {}: {files:?}", self.record_dir.display());
        files[0].clone()
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn call_state_is(v: &Value, state: &str) -> bool {
    v["type"] == "callChanged" && v["state"] == state
}

pub fn registered(v: &Value) -> bool {
    v["type"] == "registrationChanged" && v["state"] == "registered"
}

/// 100 ms blocks of `samples` (rate `rate`), without the first and last
/// half second, that are not silent (above -50 dBFS).
fn sounding_blocks(samples: &[i16], rate: u32) -> Vec<&[i16]> {
    let edge = (rate / 2) as usize;
    let inner = if samples.len() > 4 * edge { &samples[edge..samples.len() - edge] } else { samples };
    inner.chunks_exact((rate / 10) as usize).filter(|b| mean_power(b) > 1e-5).collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    if values.is_empty() {
        return f64::NEG_INFINITY;
    }
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Share of the power at `hz` (median over the sounding 100 ms blocks, so
/// gaps and phase jumps from hold, touch tones or a looping file don't count).
pub fn tone_share(samples: &[i16], rate: u32, hz: f32) -> f64 {
    let shares = sounding_blocks(samples, rate).iter().map(|b| goertzel_power(b, rate, hz) / mean_power(b)).collect();
    median(shares).max(0.0)
}

/// Level in dBFS (full-scale sine ≈ -3), median over the sounding 100 ms blocks.
pub fn level_dbfs(samples: &[i16]) -> f64 {
    median(sounding_blocks(samples, 48_000).iter().map(|b| 10.0 * mean_power(b).log10()).collect())
}

/// Share of the recording (48 kHz) that is sounding, for failure messages.
pub fn sounding_share(samples: &[i16]) -> f64 {
    let blocks = samples.len() / 4_800;
    if blocks == 0 {
        return 0.0;
    }
    sounding_blocks(samples, 48_000).len() as f64 / blocks as f64
}

/// Our recording of a call, as 48 kHz mono.
pub fn read_recording(path: &Path) -> Vec<i16> {
    let samples = homeline_media::wav::read_wav_48k_mono(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    assert!(samples.len() > 48_000, "the recording {} holds only {} samples", path.display(), samples.len());
    samples
}

/// A tap on the ng control channel between Kamailio and rtpengine: every
/// command and reply (the SDP each side gets) goes to `ng.log`, for the
/// failure messages. Runs until the test process ends.
pub fn ng_tap(rtpengine: SocketAddr, log: PathBuf) -> SocketAddr {
    let front = UdpSocket::bind("127.0.0.1:0").expect("ng tap socket");
    let back = UdpSocket::bind("127.0.0.1:0").expect("ng tap upstream socket");
    back.connect(rtpengine).expect("ng tap connect");
    let addr = front.local_addr().expect("ng tap address");
    let clients: Arc<Mutex<HashMap<Vec<u8>, SocketAddr>>> = Arc::default();
    let (front2, back2, clients2) = (front.try_clone().expect("clone"), back.try_clone().expect("clone"), clients.clone());
    let log = Arc::new(Mutex::new(std::fs::File::create(log).expect("ng log")));
    let log2 = log.clone();
    let write = |log: &Mutex<std::fs::File>, dir: &str, data: &[u8]| {
        let mut f = log.lock().unwrap();
        let _ = writeln!(f, "{dir} {}\n", String::from_utf8_lossy(data));
    };
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        while let Ok((n, from)) = front.recv_from(&mut buf) {
            let cookie = buf[..n].split(|b| *b == b' ').next().unwrap_or_default().to_vec();
            clients.lock().unwrap().insert(cookie, from);
            write(&log, ">>", &buf[..n]);
            let _ = back.send(&buf[..n]);
        }
    });
    std::thread::spawn(move || {
        let mut buf = vec![0u8; 65_535];
        while let Ok(n) = back2.recv(&mut buf) {
            let cookie = buf[..n].split(|b| *b == b' ').next().unwrap_or_default().to_vec();
            write(&log2, "<<", &buf[..n]);
            if let Some(client) = clients2.lock().unwrap().remove(&cookie) {
                let _ = front2.send_to(&buf[..n], client);
            }
        }
    });
    addr
}

