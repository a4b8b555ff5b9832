//! The microphone is opened only while a call is on: an engine registered and
//! idle, and ringing with an incoming call, holds no recording stream on the
//! sound server (PulseAudio harness); answering opens one, hanging up closes
//! it. (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use homeline_phone::{CallState, EngineConfig, MediaOptions};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use homeline_tests::services::pulse::{self, PulseAudio};
use homeline_tests::wait_until;

mod engines;
use engines::{registered_engine, tone_wav, wait_call};

/// Recording streams open on the sound server (microphones in use).
fn microphones_open(pa: &PulseAudio) -> usize {
    pa.pactl(&["list", "short", "source-outputs"]).expect("pactl").lines().filter(|l| !l.trim().is_empty()).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_microphone_opens_when_the_call_is_answered_not_while_idle_or_ringing() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let devices = MediaOptions { use_devices: true, loopback_candidates: true, ..MediaOptions::default() };
    let (alice, mut alice_events) = registered_engine(&k, "alice", "a-pass", EngineConfig { media: devices, ..EngineConfig::ephemeral() }).await;
    let wav = MediaOptions { mic_wav: Some(tone_wav(dir.path(), 1000.0)), loopback_candidates: true, ..MediaOptions::default() };
    let (bob, mut bob_events) = registered_engine(&k, "bob", "b-pass", EngineConfig { media: wav, ..EngineConfig::ephemeral() }).await;

    let call = bob.dial("alice", None).await.expect("bob dials alice");
    let ringing = wait_call(&mut alice_events, |v| v.state == CallState::Incoming).await;
    assert_eq!(microphones_open(&pa), 0, "registered and ringing, alice's microphone is closed");

    alice.answer(&ringing.call).await.expect("alice answers");
    wait_call(&mut bob_events, |v| v.call == call && v.state == CallState::Active).await;
    assert!(wait_until(Duration::from_secs(15), || microphones_open(&pa) == 1), "answering opens the microphone once: {}", microphones_open(&pa));

    bob.hangup(&call).await.expect("hang up");
    wait_call(&mut alice_events, |v| v.call == ringing.call && matches!(v.state, CallState::Ended { .. })).await;
    assert!(wait_until(Duration::from_secs(15), || microphones_open(&pa) == 0), "hanging up closes it: {}", microphones_open(&pa));
    alice.shutdown().await;
    bob.shutdown().await;
}
