//! Echo cancellation and noise suppression measured on real speech (espeak-ng, installed by
//! scripts/debian-packages.txt) through synthetic echo paths and noises with fixed seeds.
//!
//! sonora's output lags its input (≈ 300–430 samples at 48 kHz: band-split filter bank and
//! look-ahead), so every measure first finds that lag and compares the output with the input it
//! came from. Its echo canceller and suppressor also high-pass the signal (a 6th-order filter at
//! ≈ 130 Hz on the low band): inaudible on speech, but it turns the phase of a male voice's
//! fundamental enough to take waveform correlation from 1 to ≈ 0.65. The near end is therefore
//! compared with itself through that same filter alone ([`high_passed`]), whose loudness is
//! checked to stay within 1 dB of the original.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use homeline_media::device::ring::{playout_pair, DeviceStats, PlayoutSide};
use homeline_media::frame::{AudioSink, Frame, FrameProcessor, FRAME_SAMPLES};
use homeline_media::processing::{processing, ProcessingSettings};
use homeline_media::wav::read_wav_48k_mono;
use std::path::PathBuf;
use std::process::Command;

const RATE: f64 = 48_000.0;

fn at(seconds: f64) -> usize {
    (seconds * RATE) as usize
}

struct Rng(u64);
impl Rng {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
    fn gauss(&mut self) -> f64 {
        let (a, b) = (self.unit().max(1e-12), self.unit());
        (-2.0 * a.ln()).sqrt() * (2.0 * std::f64::consts::PI * b).cos()
    }
}

const SENTENCES: [&str; 10] = [
    "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background.",
    "It is easy to tell the depth of a well. These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls. The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck. The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us. A large size in stockings is hard to sell.",
    "The boy was there when the sun rose. A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring. Kick the ball straight and follow through.",
    "Help the woman get back to her feet. A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat. The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea. The girl at the booth sold fifty bonds.",
];

/// `seconds` of espeak-ng speech (48 kHz), sentences from `first` on, repeated as needed,
/// scaled to an RMS of −26 dBFS over the whole signal (pauses included).
fn speech(seconds: f64, voice: &str, first: usize) -> Vec<f64> {
    let dir = std::env::temp_dir().join(format!("homeline-processing-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut out = Vec::new();
    let mut k = first;
    while out.len() < at(seconds) {
        // A file of its own: the tests run in parallel and ask for the same sentences (one
        // reading a file another espeak-ng is still writing failed 1 run in 5).
        static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path: PathBuf = dir.join(format!("{}-{k}-{n}.wav", voice.replace(['+', '-'], "_")));
        let status = Command::new("espeak-ng")
            .args(["-v", voice, "-s", "160", "-w"])
            .arg(&path)
            .arg(SENTENCES[k % SENTENCES.len()])
            .status()
            .unwrap_or_else(|e| {
                panic!(
                    "espeak-ng could not run ({e}): install it with `sudo apt install espeak-ng`"
                )
            });
        assert!(status.success(), "espeak-ng -v {voice} failed: {status}");
        out.extend(read_wav_48k_mono(&path).unwrap().into_iter().map(f64::from));
        k += 1;
    }
    out.truncate(at(seconds));
    scale_to(&mut out, -26.0);
    out
}

fn scale_to(x: &mut [f64], dbfs: f64) {
    let g = (32768.0 * 10f64.powf(dbfs / 20.0)) / power(x).sqrt();
    x.iter_mut().for_each(|v| *v *= g);
}

/// Echo path: `delay_ms`, attenuation `gain`, and a room impulse response (exponentially
/// decaying noise, 60 ms, seeded).
fn echo_path(x: &[f64], delay_ms: f64, gain: f64, seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    let len = at(0.06);
    let mut rir: Vec<f64> = (0..len)
        .map(|k| rng.gauss() * (-(k as f64) / (0.012 * RATE)).exp())
        .collect();
    rir[0] = 3.0;
    let norm = rir.iter().map(|h| h * h).sum::<f64>().sqrt();
    rir.iter_mut().for_each(|h| *h *= gain / norm);
    let d = at(delay_ms / 1000.0);
    let mut y = vec![0.0; x.len()];
    // Direct convolution is slow in debug: every tap of the first millisecond, then every 8th
    // (scaled to keep the tail's energy).
    for (k, h) in rir
        .iter()
        .enumerate()
        .filter(|(k, _)| *k < 48 || k % 8 == 0)
    {
        let h = if k < 48 { *h } else { h * 8.0_f64.sqrt() };
        for n in d + k..x.len() {
            y[n] += h * x[n - d - k];
        }
    }
    y
}

fn to_frames(x: &[f64]) -> Vec<Frame> {
    x.chunks_exact(FRAME_SAMPLES)
        .map(|c| {
            let mut f = [0i16; FRAME_SAMPLES];
            for (o, v) in f.iter_mut().zip(c) {
                *o = v.round().clamp(-32768.0, 32767.0) as i16;
            }
            f
        })
        .collect()
}

fn power(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum::<f64>() / x.len().max(1) as f64
}

fn db(x: f64) -> f64 {
    10.0 * x.max(1e-12).log10()
}

fn correlation(a: &[f64], b: &[f64]) -> f64 {
    let ab: f64 = a.iter().zip(b).map(|(x, y)| x * y).sum();
    ab / (power(a) * power(b)).sqrt() / a.len().min(b.len()).max(1) as f64
}

/// The processing delay: the lag (samples) at which `out[range + lag]` best matches `input[range]`.
fn delay_of(out: &[f64], input: &[f64], from: usize, to: usize) -> usize {
    let best = |lags: &mut dyn Iterator<Item = usize>| {
        lags.max_by(|&x, &y| {
            correlation(&out[from + x..to + x], &input[from..to])
                .total_cmp(&correlation(&out[from + y..to + y], &input[from..to]))
        })
        .unwrap_or(0)
    };
    let coarse = best(&mut (0..1200).step_by(8));
    best(&mut (coarse.saturating_sub(8)..coarse + 8))
}

/// Runs the capture processor over `mic` with `far` as what the speaker plays; the output is
/// shifted back by the processing delay `lag` (so `out[i]` came from `mic[i]`).
fn process(settings: ProcessingSettings, far: &[f64], mic: &[f64]) -> Vec<f64> {
    let (mut capture, mut feed) = processing(settings);
    let far = to_frames(far);
    let mut out = Vec::new();
    for (i, mut m) in to_frames(mic).into_iter().enumerate() {
        feed.push(&far[i]);
        capture.process(&mut m);
        out.extend(m.iter().map(|&s| f64::from(s)));
    }
    out
}

/// `x` through sonora's high-pass filter alone (the one its echo canceller and suppressor apply).
fn high_passed(x: &[f64]) -> Vec<f64> {
    use sonora::{AudioProcessing, Config, StreamConfig};
    let config = Config {
        high_pass_filter: Some(sonora::config::HighPassFilter::default()),
        ..Default::default()
    };
    let mut apm = AudioProcessing::builder()
        .config(config)
        .capture_config(StreamConfig::new(48_000, 1))
        .render_config(StreamConfig::new(48_000, 1))
        .build();
    let mut y = Vec::with_capacity(x.len());
    let mut out = [0i16; FRAME_SAMPLES / 2];
    for frame in to_frames(x) {
        for chunk in frame.chunks_exact(FRAME_SAMPLES / 2) {
            apm.process_capture_i16(chunk, &mut out).unwrap();
            y.extend(out.iter().map(|&s| f64::from(s)));
        }
    }
    let level = db(power(&y) / power(x));
    assert!(
        level > -1.0,
        "the high-pass filter alone takes {level:.1} dB off the speech"
    );
    y
}

fn echo_only() -> ProcessingSettings {
    ProcessingSettings {
        echo_cancellation: true,
        noise_suppression: false,
        auto_gain: false,
    }
}

/// 0–8 s far end only, 8–12 s both talk, 12–16 s near end only.
#[test]
fn echo_is_cancelled_by_25_db_and_near_end_speech_is_kept() {
    let far: Vec<f64> = speech(12.0, "en-us", 0)
        .into_iter()
        .chain(std::iter::repeat_n(0.0, at(4.0)))
        .collect();
    let near_speech = speech(8.0, "en-us+f3", 5);
    let near: Vec<f64> = std::iter::repeat_n(0.0, at(8.0))
        .chain(near_speech)
        .collect();
    let n = far.len();
    let reference = high_passed(&near);
    let mut failures = Vec::new();
    for (delay, gain, seed) in [(30.0, 0.5, 3), (120.0, 0.3, 4), (200.0, 0.7, 5)] {
        let echo = echo_path(&far, delay, gain, seed);
        let mic: Vec<f64> = echo.iter().zip(&near).map(|(e, s)| e + s).collect();
        let raw = process(echo_only(), &far, &mic);
        // The lag from the single-talk near end (clean there), then every measure aligned.
        let lag = delay_of(&raw, &reference, at(12.5), n - 1200);
        let out = &raw[lag..];
        // ERLE over 2–8 s (after the 2 s convergence allowance), far end only.
        let erle = db(power(&echo[at(2.0)..at(8.0)]) / power(&out[at(2.0)..at(8.0)]));
        let double_talk = correlation(&out[at(8.5)..at(12.0)], &reference[at(8.5)..at(12.0)]);
        let single_talk = correlation(&out[at(12.5)..n - lag], &reference[at(12.5)..n - lag]);
        println!(
            "delay {delay} ms, echo gain {gain}: processing delay {lag} samples, ERLE {erle:.1} dB, \
             near-end correlation {double_talk:.3} in double talk, {single_talk:.3} alone"
        );
        if erle < 25.0 {
            failures.push(format!("delay {delay} ms: ERLE {erle:.1} dB < 25"));
        }
        if single_talk < 0.8 {
            failures.push(format!(
                "delay {delay} ms: near end alone kept at correlation {single_talk:.3} < 0.8"
            ));
        }
        // sonora's AEC3 suppressor with WebRTC's default tuning ducks the near end while the far
        // end talks: 0.798, 0.797 and 0.672 for the three paths. Tuned for double talk
        // (processing::echo_canceller_config): 0.899, 0.902 and 0.853; the unprocessed mic, by
        // its echo-to-speech ratio, would score ≈ 0.89/0.96/0.82.
        if double_talk < 0.8 {
            failures.push(format!("delay {delay} ms: near end in double talk kept at correlation {double_talk:.3} < 0.8"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// When the receive side hands each far-end frame to the speaker, in 10 ms steps of the sound
/// card's clock: due every 2 steps, but late by an offset that jumps every 1–2.5 s between 0
/// and 250 ms (a stalled task, a jitter buffer catching up). A jump up stops the hand-off
/// for a while (the playout queue drains, then underruns: the card plays silence in between);
/// a jump down hands a burst over at once (the queue grows, past 200 ms frames are dropped).
fn jittered_hand_off(frames: usize, seed: u64) -> Vec<usize> {
    let mut rng = Rng(seed);
    let mut offset = 0;
    let mut next_jump = 100 + (rng.unit() * 150.0) as usize;
    let mut steps = Vec::with_capacity(frames);
    for k in 0..frames {
        if 2 * k >= next_jump {
            offset = (rng.unit() * 26.0) as usize;
            next_jump = 2 * k + 100 + (rng.unit() * 150.0) as usize;
        }
        let step = 2 * k + offset;
        steps.push(step.max(steps.last().copied().unwrap_or(0)));
    }
    steps
}

/// A speaker that is no sound card as far as the echo canceller knows: the frames written to
/// it are all the canceller hears (how the reference was taken before the played tap).
struct HandedOff(PlayoutSide);
impl AudioSink for HandedOff {
    fn write_frame(&mut self, frame: &Frame) {
        self.0.write_frame(frame);
    }
}

/// Plays `far` through a simulated sound card (the playout rings and the very callback code a
/// cpal stream runs) with the hand-off of [`jittered_hand_off`]; `mic`, when given, is read
/// 20 ms after it was captured (the capture ring's slack) and goes through the processor,
/// whose reference is the card's played ring (`tap`) or the frames handed off. Returns what
/// the card played and the processor's output.
fn through_a_jittery_card(far: &[f64], mic: Option<&[f64]>, tap: bool, seed: u64) -> (Vec<f64>, Vec<f64>, DeviceStats) {
    let far = to_frames(far);
    let hand_off = jittered_hand_off(far.len(), seed);
    let (side, mut card) = playout_pair(48_000, 1);
    let counters = side.counters().clone();
    let (mut capture, feed) = processing(echo_only());
    let mut speaker = if tap { feed.tap(Box::new(side)) } else { feed.tap(Box::new(HandedOff(side))) };
    assert_eq!(speaker.is_sound_card(), tap);
    let mic = mic.map(to_frames);
    let (mut played, mut out) = (Vec::new(), Vec::new());
    let mut buffer = [0i16; 480];
    let mut next = 0;
    for step in 0..2 * far.len() {
        while next < far.len() && hand_off[next] <= step {
            speaker.write_frame(&far[next]);
            next += 1;
        }
        card.fill_interleaved(&mut buffer);
        played.extend(buffer.iter().map(|&s| f64::from(s)));
        if let Some(mic) = &mic {
            // After step 2j + 3 the frame captured over steps 2j, 2j + 1 is read.
            if step % 2 == 1 && step >= 3 {
                let mut m = mic[(step - 3) / 2];
                capture.process(&mut m);
                out.extend(m.iter().map(|&s| f64::from(s)));
            }
        }
    }
    if mic.is_some() {
        assert_eq!(capture.hears_the_sound_card(), tap);
    }
    (played, out, counters.snapshot())
}

/// The reference is what the sound card played, not what was handed to it: with the playout
/// queue jumping between 40 and 200 ms (underruns and dropped frames included) the echo is
/// still cancelled by 25 dB in every stretch of the call.
#[test]
fn echo_is_cancelled_when_the_speaker_plays_late_and_unevenly() {
    let secs = 16.0;
    let far = speech(secs, "en-us", 1);
    let mut failures = Vec::new();
    for (delay, gain, seed) in [(40.0, 0.5, 11), (150.0, 0.7, 12)] {
        let (played, _, card) = through_a_jittery_card(&far, None, true, seed);
        assert!(card.underruns >= 1 && card.overruns >= 1 && card.underruns + card.overruns >= 5, "the hand-off is meant to be uneven: {card:?}");
        let echo = echo_path(&played, delay, gain, seed);
        let mut erles = Vec::new();
        for tap in [true, false] {
            let (again, out, _) = through_a_jittery_card(&far, Some(&echo), tap, seed);
            assert_eq!(again, played, "the simulation is repeatable");
            // ERLE of every 1 s after the 2 s allowed to converge; the output is read 20 ms
            // late (the capture slack) and lags by sonora's delay, both far below 1 s.
            let windows: Vec<f64> = (2..secs as usize - 1)
                .map(|s| {
                    let (a, b) = (at(s as f64), at(s as f64 + 1.0));
                    db(power(&echo[a..b]) / power(&out[a..b]))
                })
                .collect();
            let overall = db(power(&echo[at(2.0)..out.len()]) / power(&out[at(2.0)..]));
            let worst = windows.iter().copied().fold(f64::MAX, f64::min);
            println!(
                "echo delay {delay} ms, gain {gain}, playout {} underruns {} dropped frames: reference {}: \
                 ERLE {overall:.1} dB overall, worst second {worst:.1} dB ({})",
                card.underruns,
                card.overruns,
                if tap { "played (tap)" } else { "handed off" },
                windows.iter().map(|e| format!("{e:.0}")).collect::<Vec<_>>().join(" ")
            );
            erles.push((overall, worst));
        }
        let (overall, worst) = erles[0];
        if overall < 25.0 || worst < 25.0 {
            failures.push(format!("delay {delay} ms: ERLE {overall:.1} dB overall, {worst:.1} in the worst second"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// Fan noise: low-passed white noise (one pole at ≈ 800 Hz) with a 120 Hz hum.
fn fan(len: usize, seed: u64) -> Vec<f64> {
    let mut rng = Rng(seed);
    let mut lp = 0.0;
    (0..len)
        .map(|i| {
            lp = 0.9 * lp + 0.1 * rng.gauss();
            lp + 0.05 * (2.0 * std::f64::consts::PI * 120.0 * i as f64 / RATE).sin()
        })
        .collect()
}

/// Babble: six voices talking at once, each from a different sentence.
fn babble(seconds: f64) -> Vec<f64> {
    let voices = [
        "en-us+m1", "en+f2", "en-us+m3", "en+f4", "en-us+m7", "en+f1",
    ];
    let mut sum = vec![0.0; at(seconds)];
    for (i, voice) in voices.iter().enumerate() {
        for (s, v) in sum.iter_mut().zip(speech(seconds, voice, i + 3)) {
            *s += v;
        }
    }
    sum
}

/// 10 ms frames of `clean` where speech is on (within 20 dB of its loudest stretch) and where
/// it is silent (60 dB below): the G.160 way of telling speech from pauses.
fn speech_and_pauses(clean: &[f64]) -> (Vec<usize>, Vec<usize>) {
    let frame = at(0.01);
    let levels: Vec<f64> = clean.chunks_exact(frame).map(|c| db(power(c))).collect();
    let loudest = levels.iter().copied().fold(f64::MIN, f64::max);
    let speech = (0..levels.len())
        .filter(|&k| levels[k] > loudest - 20.0)
        .collect();
    let pauses = (0..levels.len())
        .filter(|&k| levels[k] < loudest - 60.0)
        .collect();
    (speech, pauses)
}

/// SNR as ITU-T G.160 estimates it for a suppressor: the noise is what is heard in the pauses,
/// the speech is what is heard while it talks minus that noise.
fn snr(y: &[f64], speech: &[usize], pauses: &[usize]) -> f64 {
    let frame = at(0.01);
    let mean = |frames: &[usize]| {
        frames
            .iter()
            .map(|&k| power(&y[k * frame..(k + 1) * frame]))
            .sum::<f64>()
            / frames.len() as f64
    };
    let noise = mean(pauses);
    db((mean(speech) - noise) / noise)
}

#[test]
fn noise_suppression_improves_a_5_db_snr_by_8_db() {
    let secs = 10.0;
    let clean = speech(secs, "en-us", 2);
    // Measured after 2 s (the suppressor learns the noise first).
    let (a, b) = (at(2.0), clean.len() - 1200);
    let (speech_frames, pauses) = speech_and_pauses(&clean[a..b]);
    assert!(
        pauses.len() >= 50,
        "only {} frames of pause to measure the noise in",
        pauses.len()
    );
    let frame = at(0.01);
    let active = speech_frames
        .iter()
        .map(|&k| power(&clean[a + k * frame..a + (k + 1) * frame]))
        .sum::<f64>()
        / speech_frames.len() as f64;
    let mut failures = Vec::new();
    for (name, mut noise) in [("fan", fan(clean.len(), 8)), ("babble", babble(secs))] {
        // 5 dB SNR: the speech's active level against the noise.
        let g = (active / power(&noise[a..b]) / 10f64.powf(0.5)).sqrt();
        noise.iter_mut().for_each(|v| *v *= g);
        let mic: Vec<f64> = clean.iter().zip(&noise).map(|(s, n)| s + n).collect();
        let settings = ProcessingSettings {
            echo_cancellation: false,
            noise_suppression: true,
            auto_gain: false,
        };
        let raw = process(settings, &vec![0.0; clean.len()], &mic);
        let lag = delay_of(&raw, &clean, a, b);
        let before = snr(&mic[a..b], &speech_frames, &pauses);
        let after = snr(&raw[a + lag..b + lag], &speech_frames, &pauses);
        println!("{name}: processing delay {lag} samples, SNR {before:.1} dB before, {after:.1} dB after");
        assert!(
            (before - 5.0).abs() < 0.5,
            "{name}: input SNR {before:.1} dB, meant to be 5"
        );
        // Measured +21.3 dB on fan noise and +8.8 on babble (being speech itself, the harder
        // one) with the suppressor at its VeryHigh level and a Low one after it; WebRTC's High
        // alone gives +14.7 and +7.0 (nnnoiseless 0.5.2, tried, +0.5 on babble).
        let goal = 8.0;
        if after - before < goal {
            failures.push(format!(
                "{name}: improved by {:.1} dB < {goal}",
                after - before
            ));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
