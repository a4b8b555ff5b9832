//! Homeline's own device path on real streams (PulseAudio null sinks): the harness
//! devices are listed with their names, and a 1 kHz tone written as 20 ms frames to
//! `DeviceSink` on `homeline_out` is read back by `DeviceSource` from its monitor.
//! (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::time::{Duration, Instant};

use homeline_media::device::{list_devices, DeviceSink, DeviceSource};
use homeline_media::frame::ToneSource;
use homeline_media::goertzel::{goertzel_power, mean_power};
use homeline_media::{AudioSink, AudioSource, FRAME_SAMPLES, SAMPLE_RATE};
use homeline_tests::services::pulse::{self, MIC_SINK, OUTPUT_SINK};

#[test]
fn devices_are_listed_and_a_tone_played_out_is_captured_back() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }

    // The list: the null sinks as outputs, their monitors as inputs, human names, defaults.
    let list = list_devices().expect("the devices of the harness PulseAudio");
    eprintln!("{list:#?}");
    assert_eq!(list.host, "pulseaudio");
    let out = list.outputs.iter().find(|d| d.id.ends_with(OUTPUT_SINK)).unwrap_or_else(|| panic!("{OUTPUT_SINK} is not listed: {list:?}"));
    assert_eq!(out.name, "Homeline-Speaker");
    assert!(out.is_default, "{out:?}");
    assert!(list.outputs.iter().any(|d| d.id.ends_with(MIC_SINK) && d.name == "Homeline-Mic-Feed"), "{list:?}");
    let monitor = list
        .inputs
        .iter()
        .find(|d| d.id.contains(&format!("{OUTPUT_SINK}.monitor")))
        .unwrap_or_else(|| panic!("no monitor of {OUTPUT_SINK}: {list:?}"));
    assert!(monitor.name.contains("Homeline-Speaker"), "{monitor:?}");
    let mic = list.inputs.iter().find(|d| d.is_default).unwrap_or_else(|| panic!("no default input: {list:?}"));
    assert!(mic.id.contains(&format!("{MIC_SINK}.monitor")), "{mic:?}");
    assert!(list.inputs.iter().all(|d| !d.id.ends_with(OUTPUT_SINK)), "a sink listed as an input: {list:?}");

    // The tone: out through DeviceSink, back through DeviceSource, paced like the media task.
    let mut sink = DeviceSink::open(Some(&out.id)).expect("open the speaker (null sink)");
    let mut source = DeviceSource::open(Some(&monitor.id)).expect("open the monitor as a microphone");
    eprintln!("sink {:?}, source {:?}", sink.stream_config(), source.stream_config());
    let mut tone = ToneSource::new(&[1000.0], 0.5);
    let mut frame = [0i16; FRAME_SAMPLES];
    let mut heard: Vec<i16> = Vec::with_capacity(SAMPLE_RATE as usize * 4);
    let tick = Duration::from_millis(20);
    let start = Instant::now();
    let mut next = start;
    for _ in 0..150 {
        tone.read_frame(&mut frame);
        sink.write_frame(&frame);
        source.read_frame(&mut frame);
        heard.extend_from_slice(&frame);
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    let (out_stats, in_stats) = (sink.stats(), source.stats());
    eprintln!("after {:?}: speaker {out_stats:?}, microphone {in_stats:?}", start.elapsed());
    drop(sink);
    drop(source);

    assert!(out_stats.callbacks > 0 && in_stats.callbacks > 0, "the streams did not run");
    assert_eq!(out_stats.fault, None);
    assert_eq!(in_stats.fault, None);
    let timeline: Vec<String> = heard.chunks(FRAME_SAMPLES).map(|f| format!("{:.2}", goertzel_power(f, SAMPLE_RATE, 1000.0))).collect();
    eprintln!("1 kHz power per 20 ms captured: {}", timeline.join(" "));
    // The last two seconds, well after start-up: a clean tone at the level played in
    // most 20 ms frames. A loaded 2-core CI machine (load 4) starves PulseAudio's
    // 40 ms playout buffer now and then; those gaps are the jitter work of issue 5,
    // not a broken path, so up to 30 % of the frames may be hit.
    let last = &heard[heard.len() - 2 * SAMPLE_RATE as usize..];
    let expected = 0.5 * 0.5 * 0.5;
    let good = last
        .chunks(FRAME_SAMPLES)
        .filter(|f| {
            let p = goertzel_power(f, SAMPLE_RATE, 1000.0);
            p > expected * 0.5 && p < expected * 1.5 && p > 0.9 * mean_power(f) && p > 100.0 * goertzel_power(f, SAMPLE_RATE, 1370.0)
        })
        .count();
    assert!(good >= 70, "the tone is missing, at the wrong level or broken: clean in {good} of 100 frames: {}", timeline.join(" "));
}
