//! Settings → Audio's microphone meter outside a call, on real streams (PulseAudio
//! harness, null sinks): the user prefers a headset that is absent, then "Headset 2".
//! The meter opens Headset 2 (a null sink's monitor), a tone played into it reads near
//! its level 20 times a second, silence reads low, and once stopped the microphone is
//! closed: no more readings and no recording stream left on the sound server.
//! (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use homeline_media::device::DeviceSink;
use homeline_media::frame::ToneSource;
use homeline_media::{AudioSink, AudioSource, FRAME_SAMPLES};
use homeline_phone::audio_settings::DeviceRole;
use homeline_phone::{Engine, EngineEvent};
use homeline_tests::services::pulse::{self, PulseAudio};

const HEADSET: &str = "homeline_meter_headset";

/// The recording streams open on the server (`pactl list source-outputs short`).
fn source_outputs(pa: &PulseAudio) -> Vec<String> {
    pa.pactl(&["list", "source-outputs", "short"]).expect("pactl list source-outputs").lines().map(str::to_owned).collect()
}

/// The meter's readings (rms, peak) that arrive within `window`.
async fn readings(events: &mut tokio::sync::broadcast::Receiver<EngineEvent>, window: Duration) -> Vec<(f32, f32)> {
    let deadline = tokio::time::Instant::now() + window;
    let mut out = Vec::new();
    while let Ok(event) = tokio::time::timeout_at(deadline, events.recv()).await {
        if let Ok(EngineEvent::MicrophoneLevel { input, .. }) = event {
            out.push((input.rms_dbfs, input.peak_dbfs));
        }
    }
    out
}

fn median(mut v: Vec<f32>) -> f32 {
    v.sort_by(f32::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f32::NAN)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_settings_meter_opens_the_preferred_microphone_reads_its_level_and_closes_it() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    pa.pactl(&["load-module", "module-null-sink", &format!("sink_name={HEADSET}"), "rate=48000", "channels=1"]).expect("load the headset sink");
    let headset_mic = format!("pulseaudio:{HEADSET}.monitor");
    let engine = Engine::new();
    engine
        .set_audio_device(DeviceRole::Input, vec!["pulseaudio:homeline_no_such_headset.monitor".into(), headset_mic.clone()])
        .expect("the preference is saved");
    let mut events = engine.subscribe();
    assert!(source_outputs(&pa).is_empty(), "nothing records before the meter: {:?}", source_outputs(&pa));

    // What the "microphone" hears: a 1 kHz tone at half scale (−9 dBFS) while `loud`, else silence.
    let loud = Arc::new(AtomicBool::new(true));
    let running = Arc::new(AtomicBool::new(true));
    let (loud_t, running_t, feed_id) = (loud.clone(), running.clone(), format!("pulseaudio:{HEADSET}"));
    let feeder = std::thread::spawn(move || {
        let mut sink = DeviceSink::open(Some(&feed_id)).expect("a DeviceSink on the headset sink");
        let mut tone = ToneSource::new(&[1000.0], 0.5);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut next = Instant::now();
        while running_t.load(Ordering::Relaxed) {
            if loud_t.load(Ordering::Relaxed) {
                tone.read_frame(&mut frame);
            } else {
                frame.fill(0);
            }
            sink.write_frame(&frame);
            next += Duration::from_millis(20);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
    });

    let opened = Instant::now();
    let view = engine.start_mic_meter().await.expect("the meter opens the microphone");
    // (The process's first stream on the server takes about 2 s to open on this harness.)
    println!("meter open on {} in {:?}", view.device, opened.elapsed());
    assert_eq!(view.device, headset_mic, "the first present device of the preference");
    assert_eq!(engine.mic_meter().map(|m| m.device), Some(headset_mic.clone()), "the engine says the microphone is open");
    let told = tokio::time::timeout(Duration::from_secs(2), async {
        loop {
            if let Ok(EngineEvent::MicrophoneMeter { open, device, .. }) = events.recv().await {
                return (open, device);
            }
        }
    })
    .await
    .expect("the opening is told");
    assert_eq!(told, (true, Some(headset_mic.clone())));
    let outputs = source_outputs(&pa);
    assert_eq!(outputs.len(), 1, "one recording stream while the meter is open: {outputs:?}");

    // Tone: half a second to settle, then two seconds of readings.
    readings(&mut events, Duration::from_millis(500)).await;
    let tone = readings(&mut events, Duration::from_secs(2)).await;
    let rms = median(tone.iter().map(|r| r.0).collect());
    let peak = median(tone.iter().map(|r| r.1).collect());
    println!("tone: {} readings in 2 s, median rms {rms:.1} dBFS, peak {peak:.1} dBFS", tone.len());
    assert!((34..=46).contains(&tone.len()), "20 readings a second, got {} in 2 s", tone.len());
    assert!((-12.0..=-6.0).contains(&rms), "a half-scale sine reads about −9 dBFS, got {rms:.1}");
    assert!((-9.0..=-3.0).contains(&peak), "its peak about −6 dBFS, got {peak:.1}");

    // Quiet.
    loud.store(false, Ordering::Relaxed);
    readings(&mut events, Duration::from_millis(500)).await;
    let quiet = readings(&mut events, Duration::from_secs(1)).await;
    let rms = median(quiet.iter().map(|r| r.0).collect());
    println!("silence: {} readings in 1 s, median rms {rms:.1} dBFS", quiet.len());
    assert!(quiet.len() >= 15 && rms < -60.0, "silence reads low: {rms:.1} dBFS over {} readings", quiet.len());

    // Stop: the microphone is closed when the call returns.
    let stopping = Instant::now();
    assert!(engine.stop_mic_meter(), "the meter was open");
    println!("meter closed in {:?}", stopping.elapsed());
    assert_eq!(engine.mic_meter(), None);
    let after = Instant::now();
    let mut closed_told = false;
    let mut late = 0;
    while let Ok(event) = tokio::time::timeout(Duration::from_millis(600), events.recv()).await {
        match event {
            Ok(EngineEvent::MicrophoneMeter { open: false, device, reason }) => {
                assert_eq!((device, reason), (Some(headset_mic.clone()), None));
                closed_told = true;
            }
            Ok(EngineEvent::MicrophoneLevel { .. }) if closed_told => late += 1,
            _ => {}
        }
        if after.elapsed() > Duration::from_secs(2) {
            break;
        }
    }
    assert!(closed_told, "the closing is told");
    assert_eq!(late, 0, "readings after the meter closed");
    // The server drops the stream when the client closes it; look for a second at most.
    let deadline = Instant::now() + Duration::from_secs(1);
    let mut outputs = source_outputs(&pa);
    while !outputs.is_empty() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
        outputs = source_outputs(&pa);
    }
    assert!(outputs.is_empty(), "the microphone is still recorded after the meter closed: {outputs:?}");
    assert!(!engine.stop_mic_meter(), "a second stop finds nothing open");

    running.store(false, Ordering::Relaxed);
    feeder.join().expect("the feeder");
}
