//! 200 calls in a row between two `homeline-cli` phones through the harness
//! Kamailio over WSS: every call connects and carries audio, and neither
//! process grows — resident memory stays within 5 MB of where it was after
//! the 10th call (webrtc-rs issue #906 reported a per-call leak in 0.21.0).
//! Each call is short: connect, a few packets of audio, hang up.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_media::wav::write_wav_mono;
use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use homeline_tests::wait_until;

const CALLS: usize = 200;
const BASELINE_AFTER: usize = 10;
const ALLOWED_GROWTH_KB: u64 = 5 * 1024;
/// Some audio arrived: the recording holds more than its 44-byte header and 100 ms.
const HEARD_BYTES: u64 = 44 + 9_600;

/// Resident memory of a process in kB (VmRSS in /proc/PID/status).
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_else(|e| panic!("process {pid} is gone: {e}"));
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// Bytes recorded so far (the folder holds the current call's recording only).
fn heard_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir).into_iter().flatten().filter_map(Result::ok).map(|e| e.metadata().map_or(0, |m| m.len())).max().unwrap_or(0)
}

#[test]
fn two_hundred_calls_in_a_row_all_connect_and_memory_stays_flat() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let tone: Vec<i16> = (0..48_000).map(|i| (6_000.0 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 48_000.0).sin()) as i16).collect();
    let mic = dir.path().join("tone.wav");
    write_wav_mono(&mic, 48_000, &tone).unwrap();
    let heard = dir.path().join("bob-hears");
    let start = |user: &str, password: &str, extra: &[&str]| {
        let mut cmd = Command::new(homeline_tests::built_binary("homeline-cli"));
        cmd.args(phone_args(&k, user)).arg("--mic").arg(&mic).args(["--loopback", "--for", "3600"]).args(extra);
        let phone = CliPhone::spawn(cmd, password).expect("start homeline-cli");
        phone.expect("registered", |v| registration_is(v, "registered"));
        phone
    };
    let bob = start("bob", "b-pass", &["--auto-answer", "--record-dir", heard.to_str().unwrap()]);
    let mut alice = start("alice", "a-pass", &[]);

    let began = Instant::now();
    let mut baseline = None;
    for n in 1..=CALLS {
        alice.send("dial bob");
        alice.expect(&format!("call {n} connected at alice"), |v| call_state_is(v, "active"));
        bob.expect(&format!("call {n} connected at bob"), |v| call_state_is(v, "active"));
        // Bob records what he hears: audio went through ICE, DTLS-SRTP and Opus.
        let arrived = wait_until(Duration::from_secs(15), || heard_bytes(&heard) >= HEARD_BYTES);
        assert!(arrived, "call {n}: bob heard no audio ({} bytes recorded)", heard_bytes(&heard));
        alice.send("hangup");
        alice.expect(&format!("call {n} ended at alice"), |v| call_state_is(v, "ended"));
        bob.expect(&format!("call {n} ended at bob"), |v| call_state_is(v, "ended"));
        // Keep the folder to this call's recording (the file closes as the call ends).
        let _ = wait_until(Duration::from_secs(5), || {
            for entry in std::fs::read_dir(&heard).into_iter().flatten().filter_map(Result::ok) {
                let _ = std::fs::remove_file(entry.path());
            }
            std::fs::read_dir(&heard).map_or(true, |mut d| d.next().is_none())
        });
        if n == BASELINE_AFTER || n % 50 == 0 {
            let (a, b) = (rss_kb(alice.pid()), rss_kb(bob.pid()));
            eprintln!("after call {n} ({:.1} s): VmRSS alice {a} kB, bob {b} kB", began.elapsed().as_secs_f64());
            if n == BASELINE_AFTER {
                baseline = Some((a, b));
            }
        }
    }
    let (a0, b0) = baseline.unwrap();
    let (a, b) = (rss_kb(alice.pid()), rss_kb(bob.pid()));
    eprintln!("{CALLS} calls in {:.1} s; VmRSS growth since call {BASELINE_AFTER}: alice {} kB, bob {} kB", began.elapsed().as_secs_f64(), a as i64 - a0 as i64, b as i64 - b0 as i64);
    assert!(a <= a0 + ALLOWED_GROWTH_KB, "alice grew from {a0} kB after call {BASELINE_AFTER} to {a} kB after call {CALLS}");
    assert!(b <= b0 + ALLOWED_GROWTH_KB, "bob grew from {b0} kB after call {BASELINE_AFTER} to {b} kB after call {CALLS}");
}
