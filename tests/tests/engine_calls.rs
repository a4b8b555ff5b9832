//! Two engines call each other through the harness Kamailio, media over real
//! WebRTC sessions on loopback: each hears the other's tone, touch tones
//! arrive in order, hold and resume reach the other side, hanging up ends the
//! call on both; declining and busy are reported in words.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use homeline_media::goertzel::{goertzel_power, mean_power};
use homeline_media::wav::read_wav_48k_mono;
use homeline_phone::{CallState, EngineEvent};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};

mod engines;
use engines::{phone, wait_call, wait_event};

fn kamailio() -> Kamailio {
    kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"))
}

/// Power of `hz` relative to the whole signal in the middle of a recording.
fn tone_share(recording: &Path, hz: f32) -> f64 {
    let samples = read_wav_48k_mono(recording).expect("read recording");
    assert!(samples.len() > 48_000, "the recording {} holds only {} samples", recording.display(), samples.len());
    let middle = &samples[samples.len() / 4..samples.len() * 3 / 4];
    let total = mean_power(middle);
    if total < 1e-6 {
        return 0.0;
    }
    goertzel_power(middle, 48_000, hz) / total
}

fn only_wav(dir: &Path) -> PathBuf {
    let files: Vec<PathBuf> = std::fs::read_dir(dir).expect("record dir").filter_map(|e| e.ok().map(|e| e.path())).collect();
    assert_eq!(files.len(), 1, "one recording expected in {}: {files:?}", dir.display());
    files[0].clone()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_carries_audio_both_ways_digits_hold_and_hangs_up_on_both_sides() {
    let k = kamailio();
    let dir = tempfile::tempdir().unwrap();
    let mut alice = phone(&k, "alice", "a-pass", 440.0, dir.path()).await;
    let mut bob = phone(&k, "bob", "b-pass", 1000.0, dir.path()).await;

    let call = alice.engine.dial("bob", None).await.expect("dial bob");
    let incoming = wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
    assert_eq!(incoming.remote, "alice", "bob sees who calls");
    assert_eq!(incoming.remote_name.as_deref(), Some("ALICE"));
    wait_call(&mut alice.events, |v| v.call == call && v.state == CallState::Ringing).await;
    bob.engine.answer(&incoming.call).await.expect("answer");
    wait_call(&mut alice.events, |v| v.call == call && v.state == CallState::Active).await;
    wait_call(&mut bob.events, |v| v.state == CallState::Active).await;

    // Talk for a while, then touch tones.
    tokio::time::sleep(Duration::from_secs(2)).await;
    alice.engine.send_dtmf(&call, "123#").await.expect("send digits");
    let mut digits = String::new();
    while digits.len() < 4 {
        if let EngineEvent::DtmfReceived { digit, .. } = wait_event(&mut bob.events, |e| matches!(e, EngineEvent::DtmfReceived { .. })).await {
            digits.push(digit);
        }
    }
    assert_eq!(digits, "123#", "digits arrive in order");

    alice.engine.hold(&call, true).await.expect("hold");
    wait_call(&mut bob.events, |v| v.state == CallState::Held { by_me: false }).await;
    alice.engine.hold(&call, false).await.expect("resume");
    wait_call(&mut bob.events, |v| v.state == CallState::Active).await;

    bob.engine.hangup(&incoming.call).await.expect("bob hangs up");
    let ended = wait_call(&mut alice.events, |v| v.call == call && matches!(v.state, CallState::Ended { .. })).await;
    assert!(matches!(&ended.state, CallState::Ended { by, .. } if by == "remote"), "alice sees the other side hung up: {ended:?}");
    wait_call(&mut bob.events, |v| matches!(v.state, CallState::Ended { .. })).await;
    assert!(alice.engine.calls().await.is_empty() && bob.engine.calls().await.is_empty(), "ended calls are gone");

    // Recordings are complete once the sessions are closed.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let heard_by_bob = tone_share(&only_wav(&bob.record_dir), 440.0);
    let heard_by_alice = tone_share(&only_wav(&alice.record_dir), 1000.0);
    assert!(heard_by_bob > 0.2, "bob does not hear alice's 440 Hz tone (share {heard_by_bob:.3})");
    assert!(heard_by_alice > 0.2, "alice does not hear bob's 1 kHz tone (share {heard_by_alice:.3})");
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declined_busy_and_cancelled_calls_end_with_reasons_in_words() {
    let k = kamailio();
    let dir = tempfile::tempdir().unwrap();
    let mut alice = phone(&k, "alice", "a-pass", 440.0, dir.path()).await;
    let mut bob = phone(&k, "bob", "b-pass", 1000.0, dir.path()).await;

    for (busy, word) in [(false, "declin"), (true, "busy")] {
        let call = alice.engine.dial("bob", None).await.expect("dial");
        let incoming = wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
        bob.engine.reject(&incoming.call, busy).await.expect("reject");
        let ended = wait_call(&mut alice.events, |v| v.call == call && matches!(v.state, CallState::Ended { .. })).await;
        let CallState::Ended { reason, .. } = &ended.state else { unreachable!() };
        assert!(reason.to_lowercase().contains(word), "reason for busy={busy}: {reason}");
    }

    // Alice gives up before bob answers.
    let call = alice.engine.dial("bob", None).await.expect("dial");
    wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
    alice.engine.hangup(&call).await.expect("cancel");
    let ended = wait_call(&mut bob.events, |v| matches!(v.state, CallState::Ended { .. })).await;
    assert!(matches!(&ended.state, CallState::Ended { by, .. } if by == "remote"), "bob's phone stops ringing: {ended:?}");
    wait_call(&mut alice.events, |v| v.call == call && matches!(v.state, CallState::Ended { .. })).await;
    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
}
