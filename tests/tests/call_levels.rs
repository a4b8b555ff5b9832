//! A call's level meters and the "you are muted" warning, between two engines through
//! the harness Kamailio: alice (meters on) reads her own tone on the microphone and
//! bob's on the speaker, 20 readings a second; talking into her muted microphone is
//! said once. Bob (meters off, the CLI's default) publishes no levels.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;

use homeline_phone::{CallState, EngineConfig, EngineEvent, MediaOptions};
use homeline_tests::services::kamailio::{self, KamailioOptions};

mod engines;
use engines::{registered_engine, tone_wav, wait_call, wait_event};

fn media(dir: &Path, hz: f32, audio_levels: bool) -> MediaOptions {
    MediaOptions { mic_wav: Some(tone_wav(dir, hz)), loopback_candidates: true, audio_levels, ..MediaOptions::default() }
}

/// The tone WAV's level: amplitude 8000 → RMS 20·log10(8000/√2/32768) ≈ −15.3 dBFS.
const TONE_RMS_DBFS: f32 = -15.3;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_publishes_mic_and_speaker_levels_and_warns_of_talking_while_muted() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut alice_events) = registered_engine(&k, "alice", "a-pass", EngineConfig { media: media(dir.path(), 440.0, true), ..EngineConfig::ephemeral() }).await;
    let (bob, mut bob_events) = registered_engine(&k, "bob", "b-pass", EngineConfig { media: media(dir.path(), 1000.0, false), ..EngineConfig::ephemeral() }).await;

    let call = alice.dial("bob", None).await.expect("dial bob");
    let incoming = wait_call(&mut bob_events, |v| v.state == CallState::Incoming).await;
    bob.answer(&incoming.call).await.expect("answer");
    wait_call(&mut alice_events, |v| v.call == call && v.state == CallState::Active).await;

    // Bob's tone reaches alice's speaker through Opus: wait for a reading that shows it,
    // then take 20 more (one second's worth).
    let loud = |e: &EngineEvent| matches!(e, EngineEvent::AudioLevels { call: c, output, .. } if *c == call && output.rms_dbfs > -30.0);
    wait_event(&mut alice_events, loud).await;
    let mut readings = Vec::new();
    while readings.len() < 20 {
        if let EngineEvent::AudioLevels { input, output, .. } = wait_event(&mut alice_events, |e| matches!(e, EngineEvent::AudioLevels { call: c, .. } if *c == call)).await {
            readings.push((input, output));
        }
    }
    for (input, output) in &readings {
        assert!((input.rms_dbfs - TONE_RMS_DBFS).abs() < 1.0, "alice's microphone reads her tone: {input:?}");
        assert!(input.peak_dbfs > input.rms_dbfs + 2.0 && input.peak_dbfs < 0.0, "a sine's peak is 3 dB over its RMS: {input:?}");
        assert!((output.rms_dbfs - TONE_RMS_DBFS).abs() < 4.0, "alice's speaker reads bob's tone: {output:?}");
    }

    // Muted, her tone keeps "talking": one warning (the other side hears silence).
    alice.mute(&call, true).await.expect("mute");
    wait_event(&mut alice_events, |e| matches!(e, EngineEvent::MutedSpeech { call: c } if *c == call)).await;

    alice.hangup(&call).await.expect("hang up");
    wait_call(&mut alice_events, |v| v.call == call && matches!(v.state, CallState::Ended { .. })).await;
    let mut bob_levels = 0;
    while let Ok(event) = bob_events.try_recv() {
        bob_levels += usize::from(matches!(event, EngineEvent::AudioLevels { .. }));
    }
    assert_eq!(bob_levels, 0, "bob's meters are off");
}
