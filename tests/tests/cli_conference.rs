//! Three `homeline-cli` phones: alice calls bob and carol (each answers by
//! itself), types `merge`, and each of bob and carol hears the two others.
//! Alice asked for `--stats`: her calls' callStats lines come every second
//! with a good MOS; bob did not ask and prints none.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use homeline_media::goertzel::{goertzel_power, mean_power};
use homeline_media::wav::read_wav_48k_mono;
use homeline_tests::cli::{call_state_is as state_is, phone_args, CliPhone};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use serde_json::Value;

mod engines;
use engines::tone_wav;

fn start_phone(k: &Kamailio, user: &str, password: &str, dir: &Path, hz: f32, extra: &[&str]) -> CliPhone {
    let mut cmd = std::process::Command::new(homeline_tests::built_binary("homeline-cli"));
    cmd.args(phone_args(k, user)).args(["--loopback", "--for", "60", "--mic"]).arg(tone_wav(dir, hz));
    cmd.arg("--record-dir").arg(dir.join(format!("{user}-received"))).args(extra);
    CliPhone::spawn(cmd, password).expect("start homeline-cli")
}

/// Shares of two tones in the last 1.5 s of the only recording in `dir` (the
/// 0.3 s before its end left out).
fn tail_shares(dir: &Path, tones: [f32; 2]) -> [f64; 2] {
    let files: Vec<_> = std::fs::read_dir(dir).expect("record dir").filter_map(|e| e.ok().map(|e| e.path())).collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let samples = read_wav_48k_mono(&files[0]).expect("recording");
    assert!(samples.len() > 48_000 * 2, "{} samples", samples.len());
    let window = &samples[samples.len() - 48_000 * 18 / 10..samples.len() - 48_000 * 3 / 10];
    let total = mean_power(window).max(1e-6);
    tones.map(|hz| goertzel_power(window, 48_000, hz) / total)
}

#[test]
fn merge_typed_in_the_cli_makes_a_conference_and_stats_come_when_asked() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass").user("carol", "c-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let bob = start_phone(&k, "bob", "b-pass", dir.path(), 1000.0, &["--auto-answer"]);
    let carol = start_phone(&k, "carol", "c-pass", dir.path(), 1700.0, &["--auto-answer"]);
    let mut alice = start_phone(&k, "alice", "a-pass", dir.path(), 440.0, &["--stats"]);
    for cli in [&bob, &carol, &alice] {
        cli.expect("registered", |v| v["type"] == "registrationChanged" && v["state"] == "registered");
    }

    alice.send("dial bob");
    let to_bob = alice.expect("bob answered", |v| state_is(v, "active"))["call"].clone();
    alice.send("dial carol");
    alice.expect("bob waits on hold", |v| state_is(v, "held") && v["call"] == to_bob);
    let to_carol = alice.expect("carol answered", |v| state_is(v, "active") && v["call"] != to_bob)["call"].clone();

    alice.send("merge");
    let conference = alice.expect("the conference", |v| v["type"] == "conferenceChanged" && v["calls"].as_array().is_some_and(|c| c.len() == 2));
    assert_eq!(conference["calls"], Value::Array(vec![to_bob.clone(), to_carol.clone()]), "both calls, the first connected first");

    // Stats for both calls, the conference's audio flowing; on loopback the
    // MOS settles above 4 once the jitter buffer has drained its start-up fill.
    for call in [&to_bob, &to_carol] {
        alice.expect_within(Duration::from_secs(30), "callStats with audio and a MOS above 4", |v| {
            v["type"] == "callStats"
                && v["call"] == *call
                && v["packetsReceived"].as_u64().unwrap_or(0) > 50
                && v["mos"].as_f64().is_some_and(|m| m > 4.0)
        });
    }
    // A few more seconds of conference before alice quits (hanging up both).
    for _ in 0..3 {
        alice.expect("another second of stats", |v| v["type"] == "callStats" && v["call"] == to_bob);
    }
    alice.send("quit");
    let no_stats = |v: &Value| {
        assert_ne!(v["type"], "callStats", "bob did not ask for stats: {v}");
        state_is(v, "ended")
    };
    bob.expect("bob's call ended", no_stats);
    carol.expect("carol's call ended", |v| state_is(v, "ended"));
    drop(alice);
    drop(bob);
    drop(carol);

    let bob_heard = tail_shares(&dir.path().join("bob-received"), [440.0, 1700.0]);
    let carol_heard = tail_shares(&dir.path().join("carol-received"), [440.0, 1000.0]);
    assert!(bob_heard.iter().all(|s| *s > 0.15), "bob hears alice and carol: {bob_heard:.3?}");
    assert!(carol_heard.iter().all(|s| *s > 0.15), "carol hears alice and bob: {carol_heard:.3?}");
}
