//! Echo cancellation on a real sound server (PulseAudio harness, no SIP): the speaker is the
//! null sink `homeline_out`, the microphone its monitor — every sample played comes back, as
//! from a loudspeaker next to the microphone. Far-end speech (espeak-ng) is handed to the
//! speaker unevenly (a stalled receive task, then a burst) while two threads keep the cores
//! busy, as a loaded laptop would. The echo canceller hears what the playout callback played,
//! and must take 25 dB off the echo after its 2 s to converge; the same run with the frames
//! handed to the speaker as the reference (how it was before) is measured beside it.
//! (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use homeline_media::device::{DeviceSource, FollowingSink};
use homeline_media::frame::{AudioSink, AudioSource, Frame, FrameProcessor, FRAME_SAMPLES};
use homeline_media::processing::{processing, ProcessingSettings};
use homeline_media::wav::read_wav_48k_mono;
use homeline_tests::quality;
use homeline_tests::services::pulse::{self, OUTPUT_SINK};

/// 20 ms ticks of one run, and the far end's stalls: (tick, frames held back then handed over at once).
const TICKS: usize = 600;
const STALLS: [(usize, usize); 5] = [(150, 5), (230, 9), (320, 3), (410, 8), (500, 6)];

/// The speaker as something that is no sound card to the echo canceller (the old reference).
struct HandedOff(FollowingSink);
impl AudioSink for HandedOff {
    fn write_frame(&mut self, frame: &Frame) {
        self.0.write_frame(frame);
    }
}

fn power(x: &[i16]) -> f64 {
    x.iter().map(|&s| f64::from(s) * f64::from(s)).sum::<f64>() / x.len().max(1) as f64
}

/// Plays `far` for [`TICKS`] and returns the microphone as captured and as processed.
fn run(far: &[Frame], tap: bool) -> (Vec<i16>, Vec<i16>, String) {
    let speaker = FollowingSink::open(Some(&format!("pulseaudio:{OUTPUT_SINK}")), |_| {}).expect("the speaker on the null sink");
    let mut mic = DeviceSource::open(Some(&format!("pulseaudio:{OUTPUT_SINK}.monitor"))).expect("the microphone on its monitor");
    let settings = ProcessingSettings { echo_cancellation: true, noise_suppression: false, auto_gain: false };
    let (mut processor, feed) = processing(settings);
    let mut speaker = if tap { feed.tap(Box::new(speaker)) } else { feed.tap(Box::new(HandedOff(speaker))) };
    assert_eq!(speaker.is_sound_card(), tap);

    let busy = Arc::new(AtomicBool::new(true));
    let hogs: Vec<_> = (0..2)
        .map(|_| {
            let busy = busy.clone();
            std::thread::spawn(move || {
                let mut x = 1u64;
                while busy.load(Ordering::Relaxed) {
                    x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
                    std::hint::black_box(x);
                }
            })
        })
        .collect();

    let (mut raw, mut out) = (Vec::with_capacity(TICKS * FRAME_SAMPLES), Vec::with_capacity(TICKS * FRAME_SAMPLES));
    let mut frame = [0i16; FRAME_SAMPLES];
    let (mut handed, mut held) = (0, 0);
    let tick = Duration::from_millis(20);
    let mut next = Instant::now();
    for i in 0..TICKS {
        if let Some(&(_, n)) = STALLS.iter().find(|(at, _)| *at == i) {
            held = n;
        }
        if held > 0 {
            held -= 1;
        } else {
            // Everything due up to now: one frame, or the burst after a stall.
            while handed <= i && handed < far.len() {
                speaker.write_frame(&far[handed]);
                handed += 1;
            }
        }
        mic.read_frame(&mut frame);
        raw.extend_from_slice(&frame);
        // As ProcessedSource does: the microphone's slips move the reference too.
        processor.shift_reference(mic.take_slip());
        processor.process(&mut frame);
        out.extend_from_slice(&frame);
        next += tick;
        if let Some(wait) = next.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
    }
    busy.store(false, Ordering::Relaxed);
    for h in hogs {
        h.join().unwrap();
    }
    assert!(processor.hears_the_sound_card() == tap);
    let stats = format!("microphone {:?}", mic.stats());
    (raw, out, stats)
}

#[test]
fn echo_through_a_loaded_sound_server_is_cancelled_by_25_db_most_of_the_time() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    let dir = tempfile::tempdir().unwrap();
    let speech = dir.path().join("far.wav");
    quality::speech_wav(
        "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
         It is easy to tell the depth of a well. These days a chicken leg is a rare dish. \
         Rice is often served in round bowls. The juice of lemons makes fine punch.",
        "en-us",
        &speech,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let samples = read_wav_48k_mono(&speech).expect("read the speech");
    let far: Vec<Frame> = samples
        .chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0i16; FRAME_SAMPLES];
            f.copy_from_slice(c);
            f
        })
        .collect();
    assert!(far.len() >= TICKS * 3 / 4, "the speech lasts {} frames", far.len());

    let converged = 100 * FRAME_SAMPLES; // 2 s
    let mut kept = Vec::new();
    for tap in [true, false] {
        let (raw, out, stats) = run(&far, tap);
        let echo = power(&raw[converged..]);
        assert!(10.0 * (echo / 32768.0 / 32768.0).log10() > -45.0, "the monitor carries the echo: {stats}");
        let overall = 10.0 * (echo / power(&out[converged..]).max(1e-3)).log10();
        let seconds: Vec<f64> = raw[converged..]
            .chunks_exact(50 * FRAME_SAMPLES)
            .zip(out[converged..].chunks_exact(50 * FRAME_SAMPLES))
            .map(|(r, o)| 10.0 * (power(r) / power(o).max(1e-3)).log10())
            .collect();
        let good = seconds.iter().filter(|e| **e >= 25.0).count() as f64 / seconds.len() as f64;
        println!(
            "reference {}: ERLE {overall:.1} dB after 2 s, per second {}: {:.0} % of the seconds at 25 dB or more; {stats}",
            if tap { "played by the callback" } else { "frames handed to the speaker" },
            seconds.iter().map(|e| format!("{e:.0}")).collect::<Vec<_>>().join(" "),
            good * 100.0
        );
        kept.push(good);
    }
    // Most seconds are cancelled by 60–75 dB (a null sink's echo is a pure delay). What the
    // client cannot see still happens under load: PulseAudio (no real-time priority) now and
    // then plays our stream late, and the canceller takes a second or three to find the echo
    // again. Measured over 27 runs while other builds shared the machine: 50–100 % of the
    // seconds at 25 dB or more with the played reference (100 % in 17 of 27), 40–90 % with
    // the frames handed to the speaker (never 100 %); the simulated card of
    // crates/media/tests/processing.rs shows the difference without a shared machine's noise.
    // Held at 50 %; the goal is every second.
    assert!(kept[0] >= 0.5, "the echo was cancelled by 25 dB in only {:.0} % of the seconds", kept[0] * 100.0);
}
