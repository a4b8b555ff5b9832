//! Ringing heard on real devices (PulseAudio harness, null sinks, two engines through the
//! harness Kamailio): bob calls alice. Alice's ringtone plays on her ringer device (its own
//! sink, recorded from its monitor), not on her speaker; bob hears ringback on his speaker
//! while alice's phone rings. Alice answers: both stop. Then a call alice declines, and one
//! bob cancels: the ringtone stops too. (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use homeline_media::device::DeviceSource;
use homeline_media::goertzel::goertzel_power;
use homeline_media::tones::{RINGBACK_HZ, RINGTONE_HZ};
use homeline_media::{AudioSource, FRAME_SAMPLES, SAMPLE_RATE};
use homeline_phone::audio_settings::DeviceRole;
use homeline_phone::ringing::RingTone;
use homeline_phone::{CallState, EngineConfig, EngineEvent, MediaOptions};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use homeline_tests::services::pulse::{self, PulseAudio, OUTPUT_SINK};

mod engines;
use engines::{registered_engine, wait_call, wait_event};

const RINGER_SINK: &str = "homeline_ringer";
const BOB_SINK: &str = "homeline_bob_speaker";
/// Power at the tone's frequency (a full-scale sine is 0.5; the tones play at 0.03).
const HEARD: f64 = 0.005;
const SILENT: f64 = 0.0005;

fn load_sink(pa: &PulseAudio, name: &str) {
    pa.pactl(&["load-module", "module-null-sink", &format!("sink_name={name}"), "rate=48000", "channels=2"]).expect("load a null sink");
}

/// Records a sink's monitor on a thread of its own: each 20 ms frame's power at `freq`, with
/// the time it was read.
struct Listener {
    heard: Arc<Mutex<Vec<(Instant, f64)>>>,
    stop: Arc<AtomicBool>,
}

impl Listener {
    fn start(sink: &str, freq: f32) -> Self {
        let mut source = DeviceSource::open(Some(&format!("pulseaudio:{sink}.monitor"))).expect("the sink's monitor opens");
        let (heard, stop) = (Arc::new(Mutex::new(Vec::new())), Arc::new(AtomicBool::new(false)));
        let (h, s) = (heard.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut frame = [0i16; FRAME_SAMPLES];
            let mut next = Instant::now();
            while !s.load(Ordering::Relaxed) {
                source.read_frame(&mut frame);
                h.lock().unwrap().push((Instant::now(), goertzel_power(&frame, SAMPLE_RATE, freq)));
                next += Duration::from_millis(20);
                if let Some(wait) = next.checked_duration_since(Instant::now()) {
                    std::thread::sleep(wait);
                }
            }
        });
        Self { heard, stop }
    }

    /// The loudest frame after `since`.
    fn loudest_since(&self, since: Instant) -> f64 {
        self.heard.lock().unwrap().iter().filter(|(t, _)| *t >= since).map(|(_, p)| *p).fold(0.0, f64::max)
    }

    /// Waits (up to `within`) for a frame above [`HEARD`] after `since`; how long it took.
    async fn heard_within(&self, since: Instant, within: Duration) -> Option<Duration> {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            let first = self.heard.lock().unwrap().iter().find(|(t, p)| *t >= since && *p > HEARD).map(|(t, _)| *t);
            if let Some(t) = first {
                return Some(t.duration_since(since));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

async fn ringing_event(rx: &mut tokio::sync::broadcast::Receiver<EngineEvent>, want_tone: RingTone, want_playing: bool) -> Option<String> {
    match wait_event(rx, |e| matches!(e, EngineEvent::Ringing { tone, playing, .. } if *tone == want_tone && *playing == want_playing)).await {
        EngineEvent::Ringing { device, .. } => device,
        _ => unreachable!(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_ringtone_rings_on_the_ringer_and_ringback_on_the_callers_speaker_until_answered() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    load_sink(&pa, RINGER_SINK);
    load_sink(&pa, BOB_SINK);
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let devices = || MediaOptions { use_devices: true, loopback_candidates: true, ..MediaOptions::default() };
    let (alice, mut alice_events) = registered_engine(&k, "alice", "a-pass", EngineConfig { media: devices(), ..EngineConfig::ephemeral() }).await;
    let (bob, mut bob_events) = registered_engine(&k, "bob", "b-pass", EngineConfig { media: devices(), ..EngineConfig::ephemeral() }).await;
    alice.set_audio_device(DeviceRole::Ringer, vec![format!("pulseaudio:{RINGER_SINK}")]).expect("alice's ringer");
    bob.set_audio_device(DeviceRole::Output, vec![format!("pulseaudio:{BOB_SINK}")]).expect("bob's speaker");
    let ringer = Listener::start(RINGER_SINK, RINGTONE_HZ[0]);
    let alice_speaker = Listener::start(OUTPUT_SINK, RINGTONE_HZ[0]);
    let bob_speaker = Listener::start(BOB_SINK, RINGBACK_HZ);

    // Bob calls: alice's phone rings on her ringer, bob hears ringback on his speaker.
    let dialed = Instant::now();
    let call = bob.dial("alice", None).await.expect("bob dials alice");
    let incoming = wait_call(&mut alice_events, |v| v.state == CallState::Incoming).await;
    let device = ringing_event(&mut alice_events, RingTone::Ringtone, true).await;
    assert_eq!(device.as_deref(), Some(format!("pulseaudio:{RINGER_SINK}").as_str()));
    wait_call(&mut bob_events, |v| v.call == call && v.state == CallState::Ringing).await;
    let device = ringing_event(&mut bob_events, RingTone::Ringback, true).await;
    assert_eq!(device.as_deref(), Some(format!("pulseaudio:{BOB_SINK}").as_str()));
    let rang = ringer.heard_within(dialed, Duration::from_secs(10)).await;
    println!("ringtone heard on the ringer {rang:?} after dialling");
    assert!(rang.is_some(), "the ringtone was not heard on the ringer sink (loudest {})", ringer.loudest_since(dialed));
    let back = bob_speaker.heard_within(dialed, Duration::from_secs(10)).await;
    println!("ringback heard on the caller's speaker {back:?} after dialling");
    assert!(back.is_some(), "no ringback on bob's speaker (loudest {})", bob_speaker.loudest_since(dialed));
    // A whole ring cadence (3 s) on the ringer, and alice's speaker stayed quiet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(alice_speaker.loudest_since(dialed) < SILENT, "the ringtone leaked to alice's speaker: {}", alice_speaker.loudest_since(dialed));

    // Alice answers: the ringtone and the ringback stop.
    alice.answer(&incoming.call).await.expect("alice answers");
    let answered = Instant::now();
    ringing_event(&mut alice_events, RingTone::Ringtone, false).await;
    wait_call(&mut bob_events, |v| v.call == call && v.state == CallState::Active).await;
    ringing_event(&mut bob_events, RingTone::Ringback, false).await;
    // Longer than both cadences' pauses (2 s and 4 s): a tone still playing would be heard.
    let quiet_from = answered.max(Instant::now()) + Duration::from_millis(300);
    tokio::time::sleep(Duration::from_millis(5_800)).await;
    let (left_ring, left_back) = (ringer.loudest_since(quiet_from), bob_speaker.loudest_since(quiet_from));
    println!("after the answer: ringer {left_ring:.6}, bob's speaker at 425 Hz {left_back:.6}");
    assert!(left_ring < SILENT, "the ringtone went on after the answer: {left_ring}");
    assert!(left_back < SILENT, "ringback went on after the answer: {left_back}");
    bob.hangup(&call).await.expect("hang up");
    wait_call(&mut alice_events, |v| v.call == incoming.call && matches!(v.state, CallState::Ended { .. })).await;

    // Alice declines the next call, bob cancels the one after: the ringtone stops each time.
    for decline in [true, false] {
        let call = bob.dial("alice", None).await.expect("bob dials again");
        let incoming = wait_call(&mut alice_events, |v| v.state == CallState::Incoming).await;
        ringing_event(&mut alice_events, RingTone::Ringtone, true).await;
        if decline {
            alice.reject(&incoming.call, false).await.expect("alice declines");
        } else {
            bob.hangup(&call).await.expect("bob cancels");
        }
        wait_call(&mut alice_events, |v| v.call == incoming.call && matches!(v.state, CallState::Ended { .. })).await;
        ringing_event(&mut alice_events, RingTone::Ringtone, false).await;
        let stopped = Instant::now() + Duration::from_millis(300);
        tokio::time::sleep(Duration::from_millis(2_900)).await;
        let left = ringer.loudest_since(stopped);
        assert!(left < SILENT, "the ringtone went on after the call was {}: {left}", if decline { "declined" } else { "cancelled" });
    }
    alice.shutdown().await;
    bob.shutdown().await;
}
