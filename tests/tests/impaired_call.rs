//! A real WebRTC call (ICE, DTLS-SRTP, Opus, the adaptive jitter buffer) through the
//! impairment relay: 5 % random loss and 40 ± 40 ms delay from caller to callee. The
//! callee's recording of espeak-ng speech is scored with wideband PESQ, and the call's own
//! stats must report the loss and the jitter.
//!
//! Each side's candidate is rewritten to a relay (crates/impair/README.md): every path
//! crosses one, so no packet goes around the impairment.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::net::SocketAddr;
use std::time::Duration;

use homeline_impair::sdp::{candidate_addrs, route_candidate};
use homeline_impair::{Impairment, Relay, RelayConfig};
use homeline_media::frame::{NullSink, SilenceSource};
use homeline_media::wav::{AtEnd, WavFileSource, WavRecorder};
use homeline_rtc::{MediaIo, Session, SessionConfig, SessionEvent};
use homeline_tests::quality::{self, Mode};
use tokio::sync::mpsc;

const SPEECH: &str = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
                      It is easy to tell the depth of a well. These days a chicken leg is a rare dish.";

/// Wideband PESQ of this speech through the impaired call, measured on this 2-core
/// machine: 4.09–4.16 (3 runs) with the encoder as the phone's loss policy sets it at 5 %
/// (64 kbit/s with FEC) and the jitter buffer starting at 80 ms; at 40 kbit/s it was
/// 3.24–3.51, at 32 kbit/s 2.7–3.3. The test holds the goal, 3.5.
const PESQ_FLOOR: f64 = 3.5;

async fn connected(events: &mut mpsc::Receiver<SessionEvent>) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Connected)) => return,
            Ok(Some(SessionEvent::Failed { reason })) => panic!("the call failed: {reason}"),
            Ok(Some(_)) => {}
            other => panic!("no connection through the relays within 30 s: {other:?}"),
        }
    }
}

fn loopback_candidate(sdp: &str) -> SocketAddr {
    candidate_addrs(sdp)
        .into_iter()
        .find(|a| a.ip().is_loopback() && a.is_ipv4())
        .unwrap_or_else(|| panic!("no IPv4 loopback candidate in:\n{sdp}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn speech_stays_intelligible_through_5_percent_loss_and_40_ms_jitter() {
    let dir = tempfile::tempdir().unwrap();
    let said = dir.path().join("said.wav");
    let heard = dir.path().join("heard.wav");
    quality::speech_wav(SPEECH, "en-us", &said).unwrap_or_else(|e| panic!("{e}"));
    // The scorer must be there before the call is worth making.
    quality::venv_python().unwrap_or_else(|e| panic!("{e}"));

    let (caller, mut caller_events) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(WavFileSource::open(&said, AtEnd::Silence).unwrap()),
            sink: Box::new(NullSink::default()),
        },
    )
    .await
    .unwrap();
    let (callee, mut callee_events) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(SilenceSource),
            sink: Box::new(WavRecorder::create(&heard).unwrap()),
        },
    )
    .await
    .unwrap();

    let impaired = Impairment {
        loss: 0.05,
        delay: Duration::from_millis(40),
        jitter: Duration::from_millis(40),
        ..Impairment::none()
    };
    let any: SocketAddr = "127.0.0.1:0".parse().unwrap();
    caller.prepare().await.unwrap();
    let offer = caller.create_offer().await.unwrap();
    let caller_addr = loopback_candidate(&offer);
    // Callee → relay A → caller; what the caller sends back through it is impaired too.
    let relay_a = Relay::start(RelayConfig {
        listen: any,
        target: caller_addr,
        to_target: Impairment::none(),
        to_client: impaired.clone(),
        seed: 5,
    })
    .await
    .unwrap();
    let answer = callee
        .accept_offer(&route_candidate(&offer, caller_addr, relay_a.local_addr()))
        .await
        .unwrap();
    let callee_addr = loopback_candidate(&answer);
    // Caller → relay B → callee.
    let relay_b = Relay::start(RelayConfig {
        listen: any,
        target: callee_addr,
        to_target: impaired,
        to_client: Impairment::none(),
        seed: 7,
    })
    .await
    .unwrap();
    caller
        .accept_answer(&route_candidate(&answer, callee_addr, relay_b.local_addr()))
        .await
        .unwrap();
    connected(&mut caller_events).await;
    connected(&mut callee_events).await;
    // What the phone's loss policy sets once the reports show 5 % (crates/phone/src/loss_policy.rs).
    let policy = homeline_phone::loss_policy::target_for_loss(5.0);
    caller.set_bitrate(policy.bitrate_bps);
    caller.set_expected_loss(policy.expected_loss_percent);

    // Play the speech out (≈ 10 s) and let the last of it through.
    let length = homeline_media::wav::read_wav_48k_mono(&said).unwrap().len() as f64 / 48_000.0;
    tokio::time::sleep(Duration::from_secs_f64(length + 1.5)).await;
    let stats = callee.stats().await;
    caller.close().await;
    callee.close().await;
    let (a, b) = (relay_a.stop().await, relay_b.stop().await);
    let dropped = a.to_client.dropped + b.to_target.dropped;
    let relayed = a.to_client.received + b.to_target.received;
    println!(
        "relays: {dropped} of {relayed} caller → callee packets dropped; callee stats {stats:?}"
    );

    let score = quality::score(&said, &heard, Mode::Wideband).unwrap_or_else(|e| panic!("{e}"));
    println!("wideband PESQ through 5 % loss and 40 ± 40 ms: {score:?}");

    // The call's stats see what the network did.
    let received = stats.packets_received + stats.packets_lost;
    let loss = stats.packets_lost as f64 / received.max(1) as f64;
    assert!(
        (0.02..0.10).contains(&loss),
        "the callee counts {:.1} % lost (5 % dropped)",
        loss * 100.0
    );
    let jitter = stats.jitter.unwrap_or_default();
    assert!(
        jitter > Duration::from_millis(5),
        "the callee's jitter {jitter:?} (40 ± 40 ms delay)"
    );
    assert!(
        stats.jitter_buffer.frames_concealed > 0,
        "losses are concealed: {:?}",
        stats.jitter_buffer
    );

    assert!(
        score.overlap_s > length * 0.8,
        "most of the speech was compared: {score:?}"
    );
    assert!(
        score.pesq >= PESQ_FLOOR,
        "wideband PESQ {:.2} < {PESQ_FLOOR}",
        score.pesq
    );
}
