//! A real call between two engines through the harness Kamailio reports its
//! statistics about every second on both sides: packets keep increasing, the
//! codec is named, and on loopback the E-model puts the quality above 4.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::time::{Duration, Instant};

use homeline_phone::{CallState, CallStats, EngineConfig, EngineEvent, MediaOptions};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use tokio::sync::broadcast::Receiver;

mod engines;
use engines::{registered_engine, tone_wav, wait_call, wait_event};

fn media(dir: &Path, hz: f32) -> MediaOptions {
    MediaOptions { mic_wav: Some(tone_wav(dir, hz)), loopback_candidates: true, ..MediaOptions::default() }
}

/// The next stats event of `call`, with when it arrived.
async fn next_stats(rx: &mut Receiver<EngineEvent>, call: &str) -> (Instant, CallStats) {
    match wait_event(rx, |e| matches!(e, EngineEvent::CallStats(s) if s.call == call)).await {
        EngineEvent::CallStats(s) => (Instant::now(), s),
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_reports_its_stats_every_second_with_growing_counts_and_a_good_mos() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let (alice, mut alice_events) = registered_engine(&k, "alice", "a-pass", EngineConfig { media: media(dir.path(), 440.0), ..EngineConfig::ephemeral() }).await;
    let (bob, mut bob_events) = registered_engine(&k, "bob", "b-pass", EngineConfig { media: media(dir.path(), 1000.0), ..EngineConfig::ephemeral() }).await;

    let call = alice.dial("bob", None).await.expect("dial bob");
    let incoming = wait_call(&mut bob_events, |v| v.state == CallState::Incoming).await;
    bob.answer(&incoming.call).await.expect("answer");
    wait_call(&mut alice_events, |v| v.call == call && v.state == CallState::Active).await;

    // Five reports in a row on the caller's side.
    let mut reports = Vec::new();
    for _ in 0..5 {
        reports.push(next_stats(&mut alice_events, &call).await);
    }
    for pair in reports.windows(2) {
        let ((t0, a), (t1, b)) = (&pair[0], &pair[1]);
        let gap = t1.saturating_duration_since(*t0);
        // About a second apart: never a flood, never a long silence (generous for a loaded machine).
        assert!(gap > Duration::from_millis(500) && gap < Duration::from_millis(3_000), "reports {gap:?} apart");
        assert!(b.packets_sent > a.packets_sent, "sent packets grow: {a:?} → {b:?}");
        assert!(b.packets_received > a.packets_received, "received packets grow: {a:?} → {b:?}");
    }
    let (_, last) = reports.last().unwrap();
    assert_eq!(last.codec.as_deref(), Some("opus"), "{last:?}");
    assert!(last.bitrate_kbps > 5.0 && last.bitrate_kbps < 100.0, "{last:?}");
    assert!(last.mos.is_some_and(|m| m > 4.0), "loopback is a perfect line: {last:?}");
    assert!(last.loss_percent < 5.0, "{last:?}");
    assert!(last.jitter_ms.is_some(), "{last:?}");

    // The callee reports too, and the JSON is what the UI reads.
    let (_, theirs) = next_stats(&mut bob_events, &incoming.call).await;
    assert!(theirs.packets_received > 0 && theirs.mos.is_some_and(|m| m > 4.0), "{theirs:?}");
    let json = serde_json::to_value(EngineEvent::CallStats(theirs)).unwrap();
    assert_eq!(json["type"], "callStats");
    for key in ["call", "codec", "bitrateKbps", "packetsSent", "packetsReceived", "packetsLost", "lossPercent", "jitterMs", "rttMs", "mos"] {
        assert!(json.get(key).is_some(), "{key} missing in {json}");
    }

    // No reports once the call has ended.
    alice.hangup(&call).await.expect("hang up");
    wait_call(&mut alice_events, |v| v.call == call && matches!(v.state, CallState::Ended { .. })).await;
    let quiet = tokio::time::timeout(Duration::from_secs(3), async {
        loop {
            match alice_events.recv().await {
                Ok(EngineEvent::CallStats(s)) if s.call == call => return s,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("{e}"),
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "stats after the end: {quiet:?}");
    alice.shutdown().await;
    bob.shutdown().await;
}
