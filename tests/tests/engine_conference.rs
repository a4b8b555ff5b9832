//! Three engines registered at the harness Kamailio, each with its own tone as
//! the microphone: alice calls bob and carol (the first call goes on hold when
//! she dials the second) and merges them. Everyone hears the two others;
//! alice's speaker (her recording) holds both. Alice's mute silences her for
//! both while they still hear each other. When carol hangs up, alice and bob
//! go on talking as an ordinary call.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use homeline_media::goertzel::{goertzel_power, mean_power};
use homeline_media::wav::read_wav_48k_mono;
use homeline_phone::{CallState, EngineEvent};
use homeline_tests::services::kamailio::{self, KamailioOptions};

mod engines;
use engines::{phone, wait_call, wait_event};

const ALICE_HZ: f32 = 440.0;
const BOB_HZ: f32 = 1000.0;
const CAROL_HZ: f32 = 1700.0;

fn recordings(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).expect("record dir").filter_map(|e| e.ok().map(|e| e.path())).collect();
    files.sort();
    files
}

/// The share of each tone's power in a window of a recording, the window
/// given in seconds before the recording's end.
fn tone_shares(recording: &Path, from_end: f64, to_end: f64, tones: &[f32]) -> Vec<f64> {
    let samples = read_wav_48k_mono(recording).expect("read recording");
    let at = |s: f64| samples.len().saturating_sub((s * 48_000.0) as usize);
    let window = &samples[at(from_end)..at(to_end)];
    if window.len() < 24_000 {
        // Too short to hold the window (alice's second call had its audio mixed from the start).
        return vec![0.0; tones.len()];
    }
    let total = mean_power(window).max(1e-6);
    tones.iter().map(|hz| goertzel_power(window, 48_000, *hz) / total).collect()
}

/// Both tones clearly present (two equal tones: about half the power each).
fn hears_both(shares: &[f64]) -> bool {
    shares.iter().all(|s| *s > 0.15)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_merged_call_lets_everyone_hear_the_two_others_and_one_leaving_keeps_the_rest_talking() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass").user("carol", "c-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let mut alice = phone(&k, "alice", "a-pass", ALICE_HZ, dir.path()).await;
    let mut bob = phone(&k, "bob", "b-pass", BOB_HZ, dir.path()).await;
    let mut carol = phone(&k, "carol", "c-pass", CAROL_HZ, dir.path()).await;

    // Alice calls bob.
    let to_bob = alice.engine.dial("bob", None).await.expect("dial bob");
    let at_bob = wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
    bob.engine.answer(&at_bob.call).await.expect("bob answers");
    wait_call(&mut alice.events, |v| v.call == to_bob && v.state == CallState::Active).await;

    // Then carol: bob waits on hold meanwhile.
    let to_carol = alice.engine.dial("carol", None).await.expect("dial carol");
    wait_call(&mut alice.events, |v| v.call == to_bob && v.state == CallState::Held { by_me: true }).await;
    wait_call(&mut bob.events, |v| v.state == CallState::Held { by_me: false }).await;
    let at_carol = wait_call(&mut carol.events, |v| v.state == CallState::Incoming).await;
    carol.engine.answer(&at_carol.call).await.expect("carol answers");
    wait_call(&mut alice.events, |v| v.call == to_carol && v.state == CallState::Active).await;

    // Merge: bob is taken off hold, one conference of both calls.
    let members = alice.engine.merge(&[to_bob.clone(), to_carol.clone()]).await.expect("merge");
    assert_eq!(members, vec![to_bob.clone(), to_carol.clone()]);
    wait_event(&mut alice.events, |e| matches!(e, EngineEvent::ConferenceChanged { calls } if calls.len() == 2)).await;
    wait_call(&mut bob.events, |v| v.state == CallState::Active).await;
    let calls = alice.engine.calls().await;
    assert!(calls.iter().all(|c| c.state == CallState::Active), "both calls talk: {calls:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;

    // Alice mutes (on one call: the conference's mute is one).
    let muted_at = Instant::now();
    alice.engine.mute(&to_carol, true).await.expect("mute");
    assert!(alice.engine.calls().await.iter().all(|c| c.muted), "muted in both calls");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let unmuted_at = Instant::now();
    alice.engine.mute(&to_bob, false).await.expect("unmute");

    // Carol leaves; alice and bob go on.
    let carol_left = Instant::now();
    carol.engine.hangup(&at_carol.call).await.expect("carol hangs up");
    wait_call(&mut carol.events, |v| matches!(v.state, CallState::Ended { .. })).await;
    wait_event(&mut alice.events, |e| matches!(e, EngineEvent::ConferenceChanged { calls } if calls.is_empty())).await;
    let left: Vec<_> = alice.engine.calls().await;
    assert!(left.len() == 1 && left[0].call == to_bob && left[0].state == CallState::Active, "{left:?}");
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    alice.engine.hangup(&to_bob).await.expect("alice hangs up");
    let ended = Instant::now();
    wait_call(&mut bob.events, |v| matches!(v.state, CallState::Ended { .. })).await;
    wait_call(&mut alice.events, |v| v.call == to_bob && matches!(v.state, CallState::Ended { .. })).await;
    // Recordings are complete once the sessions are closed.
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Windows of each recording, counted back from its end: the last 1.5 s
    // before a moment, the 0.3 s just before it left out.
    let window = |end: Instant, moment: Instant| {
        let back = end.saturating_duration_since(moment).as_secs_f64();
        (back + 1.8, back + 0.3)
    };

    let carol_file = recordings(&carol.record_dir);
    assert_eq!(carol_file.len(), 1, "{carol_file:?}");
    let (from, to) = window(carol_left, muted_at);
    let carol_heard = tone_shares(&carol_file[0], from, to, &[ALICE_HZ, BOB_HZ]);
    assert!(hears_both(&carol_heard), "carol hears alice and bob (shares of 440 Hz, 1 kHz: {carol_heard:.3?})");
    let (from, to) = window(carol_left, unmuted_at);
    let carol_muted = tone_shares(&carol_file[0], from, to, &[ALICE_HZ, BOB_HZ]);
    assert!(carol_muted[0] < 0.05 && carol_muted[1] > 0.5, "alice muted: carol hears bob alone ({carol_muted:.3?})");

    let bob_file = recordings(&bob.record_dir);
    assert_eq!(bob_file.len(), 1, "{bob_file:?}");
    let conference = window(ended, muted_at);
    let bob_heard = tone_shares(&bob_file[0], conference.0, conference.1, &[ALICE_HZ, CAROL_HZ]);
    assert!(hears_both(&bob_heard), "bob hears alice and carol (shares of 440 Hz, 1.7 kHz: {bob_heard:.3?})");
    let (from, to) = window(ended, unmuted_at);
    let bob_muted = tone_shares(&bob_file[0], from, to, &[ALICE_HZ, CAROL_HZ]);
    assert!(bob_muted[0] < 0.05 && bob_muted[1] > 0.5, "alice muted: bob hears carol alone ({bob_muted:.3?})");
    let bob_after = tone_shares(&bob_file[0], 2.0, 0.5, &[ALICE_HZ, CAROL_HZ]);
    assert!(bob_after[0] > 0.5 && bob_after[1] < 0.05, "after carol left bob hears alice alone: {bob_after:.3?}");

    // Alice's speaker: the conference plays on the first merged call's sink.
    let alice_files = recordings(&alice.record_dir);
    assert_eq!(alice_files.len(), 2, "{alice_files:?}");
    let alice_heard: Vec<Vec<f64>> = alice_files.iter().map(|f| tone_shares(f, conference.0, conference.1, &[BOB_HZ, CAROL_HZ])).collect();
    assert!(alice_heard.iter().any(|s| hears_both(s)), "alice hears bob and carol (shares of 1 kHz, 1.7 kHz per recording: {alice_heard:.3?})");

    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
    carol.engine.shutdown().await;
}
