//! Proof that the PulseAudio harness is real: cpal opens an output stream on
//! the null sink and an input stream on its monitor, and a 1 kHz tone played
//! out is heard back. (One test per binary: PULSE_SERVER is process-wide.)

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use homeline_tests::services::pulse::{self, OUTPUT_SINK};
use homeline_tests::wait_until;

const RATE: u32 = 48_000;
const TONE_HZ: f32 = 1_000.0;
const AMPLITUDE: f32 = 0.5;

/// Power of `freq` in `samples` (Goertzel), normalised so a full-scale sine gives ~0.25.
fn tone_power(samples: &[f32], freq: f32) -> f32 {
    let w = 2.0 * std::f32::consts::PI * freq / RATE as f32;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f32, 0.0f32);
    for &x in samples {
        let s = x + coeff * s1 - s2;
        s2 = s1;
        s1 = s;
    }
    let n = samples.len() as f32;
    (s1 * s1 + s2 * s2 - coeff * s1 * s2) / (n * n)
}

#[test]
fn tone_played_to_the_null_sink_is_heard_on_its_monitor() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    let host = cpal::host_from_id(cpal::HostId::PulseAudio).expect("cpal's PulseAudio host connects to the harness server");

    let output = host.default_output_device().expect("a default output device (the null sink)");
    let monitor_id = format!("{OUTPUT_SINK}.monitor");
    let input = host
        .input_devices()
        .expect("list input devices")
        .find(|d| d.id().map(|id| id.to_string().contains(&monitor_id)).unwrap_or(false))
        .unwrap_or_else(|| panic!("no input device named {monitor_id}: {:?}", pa.pactl(&["list", "short", "sources"])));

    let config = cpal::StreamConfig { channels: 1, sample_rate: RATE, buffer_size: cpal::BufferSize::Default };

    // Playout: a continuous 1 kHz sine. The callback only does arithmetic.
    let mut phase = 0.0f32;
    let step = 2.0 * std::f32::consts::PI * TONE_HZ / RATE as f32;
    let out_stream = output
        .build_output_stream(
            config,
            move |data: &mut [f32], _| {
                for s in data.iter_mut() {
                    *s = AMPLITUDE * phase.sin();
                    phase = (phase + step) % (2.0 * std::f32::consts::PI);
                }
            },
            |e| eprintln!("output stream error: {e}"),
            None,
        )
        .expect("open an output stream on the null sink");

    // Capture: keep the last second heard. Test-only buffer; try_lock so the
    // callback never waits.
    let heard = Arc::new(Mutex::new(Vec::<f32>::with_capacity(RATE as usize * 4)));
    let errored = Arc::new(AtomicBool::new(false));
    let (sink, err_flag) = (heard.clone(), errored.clone());
    let in_stream = input
        .build_input_stream(
            config,
            move |data: &[f32], _| {
                if let Ok(mut buf) = sink.try_lock() {
                    if buf.len() + data.len() <= buf.capacity() {
                        buf.extend_from_slice(data);
                    }
                }
            },
            move |e| {
                eprintln!("input stream error: {e}");
                err_flag.store(true, Ordering::Relaxed);
            },
            None,
        )
        .expect("open an input stream on the sink's monitor");
    in_stream.play().expect("start capture");
    out_stream.play().expect("start playout");

    let got_enough = wait_until(Duration::from_secs(10), || heard.lock().map(|b| b.len() >= RATE as usize * 2).unwrap_or(false));
    drop(out_stream);
    drop(in_stream);
    assert!(!errored.load(Ordering::Relaxed), "the input stream reported an error");
    assert!(got_enough, "captured fewer than 2 s of audio in 10 s: the streams are not running");

    let buf = heard.lock().expect("buffer").clone();
    // The last second: playout has certainly started by then.
    let last = &buf[buf.len() - RATE as usize..];
    let at_tone = tone_power(last, TONE_HZ);
    let off_tone = tone_power(last, 1_370.0);
    let expected = AMPLITUDE * AMPLITUDE / 4.0;
    assert!(
        at_tone > expected * 0.25,
        "the 1 kHz tone is missing or too quiet on the monitor: power {at_tone:.5}, expected about {expected:.5}"
    );
    assert!(at_tone > 100.0 * off_tone, "the monitor does not carry a clean tone: {at_tone:.5} at 1 kHz vs {off_tone:.5} at 1.37 kHz");
}
