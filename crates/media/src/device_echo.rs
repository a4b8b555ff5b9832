//! The echo test: the microphone played back after a delay, through the codec a call
//! would use, so the user hears what the other side would hear. No server involved.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use crate::codec::CodecKind;
use crate::frame::{AudioSink, AudioSource, Frame, FRAME_MS, FRAME_SAMPLES, SILENCE};
use crate::pipeline::{FrameDecoder, FrameEncoder};
use super::DeviceError;

/// How an echo test runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoTestConfig {
    /// From speaking to hearing yourself.
    pub delay: Duration,
    /// How long the microphone is listened to (playback carries on for `delay` after).
    pub duration: Duration,
    pub codec: CodecKind,
}

impl Default for EchoTestConfig {
    fn default() -> Self {
        Self { delay: Duration::from_secs(1), duration: Duration::from_secs(10), codec: CodecKind::Opus }
    }
}

fn frames_in(d: Duration) -> usize {
    (d.as_millis() / FRAME_MS as u128).max(1) as usize
}

/// A delay line through a codec: each frame is encoded at once, its payload waits
/// `delay` and is then decoded (as a receiver would after the network).
pub struct EchoLine {
    encoder: FrameEncoder,
    decoder: FrameDecoder,
    /// Circular: `slots[pos % n]` holds the payload encoded `n` frames ago.
    slots: Vec<Vec<u8>>,
    pos: usize,
    filled: usize,
}

impl std::fmt::Debug for EchoLine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoLine").field("delay_frames", &self.slots.len()).finish_non_exhaustive()
    }
}

impl EchoLine {
    pub fn new(delay: Duration, codec: CodecKind) -> crate::Result<Self> {
        let n = frames_in(delay);
        Ok(Self {
            encoder: FrameEncoder::new(codec)?,
            decoder: FrameDecoder::new(codec)?,
            slots: (0..n).map(|_| Vec::with_capacity(1500)).collect(),
            pos: 0,
            filled: 0,
        })
    }

    /// One frame in, the frame from `delay` ago out (silence until then).
    pub fn process(&mut self, input: &Frame, out: &mut Frame) {
        let n = self.slots.len();
        let slot = &mut self.slots[self.pos % n];
        out.copy_from_slice(&SILENCE);
        if self.filled >= n {
            self.decoder.decode(slot);
            if !self.decoder.pop_frame(out) {
                out.fill(0);
            }
        }
        slot.clear();
        if self.encoder.encode(input, slot).is_err() {
            slot.clear();
        }
        self.filled = (self.filled + 1).min(n);
        self.pos = self.pos.wrapping_add(1);
    }
}

/// What an echo test did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EchoTestReport {
    /// 20 ms frames played.
    pub frames: u64,
    /// Stopped before its time (by [`EchoTest::stop`]).
    pub stopped: bool,
}

/// A running echo test on its own thread (paced at 20 ms by the clock).
pub struct EchoTest {
    stop: Arc<AtomicBool>,
    running: Arc<AtomicBool>,
    thread: Option<JoinHandle<EchoTestReport>>,
}

impl std::fmt::Debug for EchoTest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EchoTest").field("running", &self.is_running()).finish_non_exhaustive()
    }
}

impl EchoTest {
    /// Starts playing `source` back into `sink` after `config.delay`, for `config.duration`
    /// (plus the delay, so the last words are heard). `on_end` runs on the test's thread
    /// when it ends, however it ends.
    pub fn start(
        mut source: Box<dyn AudioSource>,
        mut sink: Box<dyn AudioSink>,
        config: EchoTestConfig,
        on_end: impl FnOnce(EchoTestReport) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let mut line = EchoLine::new(config.delay, config.codec).map_err(|e| DeviceError::Codec(e.to_string()))?;
        let stop = Arc::new(AtomicBool::new(false));
        let running = Arc::new(AtomicBool::new(true));
        let listen = frames_in(config.duration);
        let total = listen + frames_in(config.delay);
        let (stop_t, running_t) = (stop.clone(), running.clone());
        let body = move || {
            let mut clock = crate::frame::FrameClock::start();
            let (mut input, mut output) = ([0i16; FRAME_SAMPLES], [0i16; FRAME_SAMPLES]);
            let mut report = EchoTestReport { frames: 0, stopped: false };
            for i in 0..total {
                if stop_t.load(Ordering::Relaxed) {
                    report.stopped = true;
                    break;
                }
                if i < listen {
                    source.read_frame(&mut input);
                } else {
                    input.fill(0);
                }
                line.process(&input, &mut output);
                sink.write_frame(&output);
                report.frames += 1;
                clock.wait();
            }
            sink.finish();
            drop(source);
            drop(sink);
            running_t.store(false, Ordering::Relaxed);
            on_end(report);
            report
        };
        let thread = std::thread::Builder::new()
            .name("homeline-echo-test".into())
            .spawn(body)
            .map_err(|e| DeviceError::Thread(e.to_string()))?;
        Ok(Self { stop, running, thread: Some(thread) })
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    /// Asks the test to end (within 20 ms); `on_end` still runs.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
    }

    /// Waits for the end (blocks up to the test's length).
    pub fn wait(mut self) -> Option<EchoTestReport> {
        self.thread.take().and_then(|t| t.join().ok())
    }
}

impl Drop for EchoTest {
    fn drop(&mut self) {
        // Dropping the handle ends the test; the thread finishes on its own.
        if self.thread.is_some() {
            self.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::ToneSource;
    use crate::goertzel::goertzel_power;
    use std::sync::Mutex;
    use std::time::Instant;

    #[test]
    fn the_echo_comes_back_after_the_delay_through_opus() {
        let mut line = EchoLine::new(Duration::from_millis(200), CodecKind::Opus).unwrap();
        let mut tone = ToneSource::new(&[1000.0], 0.5);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut out = [0i16; FRAME_SAMPLES];
        let mut powers = Vec::new();
        for i in 0..30 {
            if i < 5 {
                tone.read_frame(&mut frame);
            } else {
                frame.fill(0);
            }
            line.process(&frame, &mut out);
            powers.push(goertzel_power(&out, 48_000, 1000.0));
        }
        // 200 ms = 10 frames: input frames 0..5 come out as 10..15.
        assert!(powers[..10].iter().all(|p| *p < 1e-6), "{powers:?}");
        assert!(powers[11..15].iter().all(|p| *p > 0.05), "{powers:?}");
        assert!(powers[17..].iter().all(|p| *p < 0.01), "{powers:?}");
    }

    #[derive(Clone, Default)]
    struct Collect(Arc<Mutex<Vec<i16>>>);
    impl AudioSink for Collect {
        fn write_frame(&mut self, frame: &Frame) {
            if let Ok(mut v) = self.0.lock() {
                v.extend_from_slice(frame);
            }
        }
    }

    #[test]
    fn the_test_runs_for_its_time_then_reports() {
        let sink = Collect::default();
        let heard = sink.0.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        let config = EchoTestConfig { delay: Duration::from_millis(100), duration: Duration::from_millis(300), codec: CodecKind::Pcmu };
        let started = Instant::now();
        let test = EchoTest::start(Box::new(ToneSource::new(&[1000.0], 0.5)), Box::new(sink), config, move |r| {
            let _ = tx.send(r);
        })
        .unwrap();
        let report = test.wait().unwrap();
        assert_eq!(report, EchoTestReport { frames: 20, stopped: false });
        assert!(started.elapsed() >= Duration::from_millis(380), "paced by the clock: {:?}", started.elapsed());
        assert_eq!(rx.recv().unwrap(), report);
        let heard = heard.lock().unwrap();
        assert!(goertzel_power(&heard[FRAME_SAMPLES * 6..FRAME_SAMPLES * 19], 48_000, 1000.0) > 0.05);
    }

    #[test]
    fn stop_ends_it_early() {
        let config = EchoTestConfig { duration: Duration::from_secs(5), ..EchoTestConfig::default() };
        let test = EchoTest::start(Box::new(crate::frame::SilenceSource), Box::new(crate::frame::NullSink::default()), config, |_| {}).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        assert!(test.is_running());
        test.stop();
        let report = test.wait().unwrap();
        assert!(report.stopped && report.frames < 50, "{report:?}");
    }
}
