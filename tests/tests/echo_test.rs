//! The echo test on real streams (PulseAudio null sinks), no SIP server: a tone fed
//! into `homeline_mic` (whose monitor is the default microphone) comes back on the
//! default speaker `homeline_out` about a second later, through Opus.
//! (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use homeline_media::device::{DeviceSink, DeviceSource};
use homeline_media::frame::ToneSource;
use homeline_media::goertzel::goertzel_power;
use homeline_media::{AudioSink, AudioSource, FRAME_SAMPLES, SAMPLE_RATE};
use homeline_phone::{Engine, EngineEvent};
use homeline_tests::services::pulse::{self, MIC_SINK, OUTPUT_SINK};

/// Frames of the run (20 ms each), when the tone starts and how long it lasts.
const FRAMES: usize = 150;
const TONE_START: usize = 25;
const TONE_FRAMES: usize = 40;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_echo_test_plays_the_microphone_back_a_second_later() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    let engine = Engine::new();
    let mut events = engine.subscribe();

    // The listener first (its start-up does not count), then the echo test.
    let feed_id = format!("pulseaudio:{MIC_SINK}");
    let listen_id = format!("pulseaudio:{OUTPUT_SINK}.monitor");
    let (feeder, listener) = tokio::task::spawn_blocking(move || (DeviceSink::open(Some(&feed_id)), DeviceSource::open(Some(&listen_id))))
        .await
        .expect("open the test's own devices");
    let mut feeder = feeder.expect("a DeviceSink on the mic feed sink");
    let mut listener = listener.expect("a DeviceSource on the speaker's monitor");

    let message = engine.start_echo_test().await.expect("the echo test starts on the harness devices");
    assert_eq!(message, "Speak now: you will hear yourself back in a second. (10 s)");

    // 20 ms ticks: the tone goes into the microphone for 0.8 s, starting 0.5 s in; what
    // the speaker plays is recorded frame by frame.
    let heard = tokio::task::spawn_blocking(move || {
        let mut tone = ToneSource::new(&[1000.0], 0.5);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut powers = Vec::with_capacity(FRAMES);
        let tick = Duration::from_millis(20);
        let mut next = Instant::now();
        for i in 0..FRAMES {
            if (TONE_START..TONE_START + TONE_FRAMES).contains(&i) {
                tone.read_frame(&mut frame);
            } else {
                frame.fill(0);
            }
            feeder.write_frame(&frame);
            listener.read_frame(&mut frame);
            powers.push(goertzel_power(&frame, SAMPLE_RATE, 1000.0));
            next += tick;
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        eprintln!("feeder {:?}, listener {:?}", feeder.stats(), listener.stats());
        powers
    })
    .await
    .expect("the feed and listen loop");

    assert!(engine.stop_echo_test(), "the echo test should still run after 3 s of 10");
    let mut notices = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3);
    while !notices.iter().any(|m: &String| m.contains("stopped")) {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Ok(EngineEvent::Notice { message })) => notices.push(message),
            Ok(Ok(_)) => {}
            _ => break,
        }
    }
    assert_eq!(notices, [message.clone(), "The echo test was stopped.".to_owned()]);

    let rounded: Vec<String> = powers_text(&heard);
    eprintln!("1 kHz power per 20 ms on the speaker: {}", rounded.join(" "));
    // A 0.5 sine has power 0.125; "tone" means well above the noise of an empty line.
    let onset = heard.iter().position(|p| *p > 0.02).unwrap_or_else(|| panic!("the tone never came back: {}", rounded.join(" ")));
    let delay_ms = (onset as i64 - TONE_START as i64) * 20;
    eprintln!("echo delay: {delay_ms} ms");
    assert!((900..=1600).contains(&delay_ms), "the echo came back after {delay_ms} ms, not about a second");
    // It lasts about as long as it was spoken, at about the level it was spoken.
    let loud = heard[onset..].iter().filter(|p| **p > 0.02).count();
    assert!(loud + 10 >= TONE_FRAMES && loud <= TONE_FRAMES + 4, "the echo lasted {loud} frames, the tone {TONE_FRAMES}");
    // Gaps on a loaded machine (four low-latency streams in the chain, PulseAudio not
    // real-time) are tolerated up to a quarter of the frames: the path, level and delay
    // are what this test checks; smoothness under load is issue 5's jitter work.
    let middle = &heard[onset + 5..onset + TONE_FRAMES - 5];
    let weak = middle.iter().filter(|p| **p < 0.06).count();
    assert!(weak * 4 <= middle.len(), "the echo is too quiet or broken ({weak} weak frames): {}", rounded.join(" "));
}

fn powers_text(p: &[f64]) -> Vec<String> {
    p.iter().map(|x| format!("{x:.3}")).collect()
}
