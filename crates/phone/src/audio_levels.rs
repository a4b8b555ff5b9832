//! A call's level meters and its "you are muted" detector, fed by the call's own media
//! loops (the microphone as the send loop reads it, the speaker as the receive loop
//! writes it): never in an audio callback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use homeline_media::levels::{Level, LevelMeter, MutedSpeechDetector, FLOOR_DBFS};
use homeline_media::{AudioSink, AudioSource, Frame, SourceState};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::events::EngineEvent;

/// One meter reading, in dBFS (silence reads −100).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioLevel {
    pub rms_dbfs: f32,
    pub peak_dbfs: f32,
}

impl From<Level> for AudioLevel {
    fn from(l: Level) -> Self {
        Self { rms_dbfs: l.rms_dbfs, peak_dbfs: l.peak_dbfs }
    }
}

/// The speaker's latest reading, handed from the receive loop to the send loop (which
/// publishes both): two f32s in one atomic.
#[derive(Debug)]
struct SharedLevel(AtomicU64);

impl SharedLevel {
    fn new() -> Self {
        Self(AtomicU64::new(Self::pack(Level { rms_dbfs: FLOOR_DBFS, peak_dbfs: FLOOR_DBFS })))
    }
    fn pack(l: Level) -> u64 {
        u64::from(l.rms_dbfs.to_bits()) << 32 | u64::from(l.peak_dbfs.to_bits())
    }
    fn store(&self, l: Level) {
        self.0.store(Self::pack(l), Ordering::Relaxed);
    }
    fn load(&self) -> Level {
        let v = self.0.load(Ordering::Relaxed);
        Level { rms_dbfs: f32::from_bits((v >> 32) as u32), peak_dbfs: f32::from_bits(v as u32) }
    }
}

/// Wraps a call's microphone and speaker with meters. `publish_levels`: send
/// `AudioLevels` 20 times a second; `MutedSpeech` is sent either way.
pub(crate) fn metered(
    call: &str,
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    events: broadcast::Sender<EngineEvent>,
    publish_levels: bool,
) -> (Box<dyn AudioSource>, Box<dyn AudioSink>) {
    let output = Arc::new(SharedLevel::new());
    let mic = MeteredMic {
        source,
        call: call.to_owned(),
        meter: LevelMeter::default(),
        detector: MutedSpeechDetector::default(),
        muted: false,
        output: output.clone(),
        events,
        publish_levels,
    };
    let speaker = MeteredSpeaker { sink, meter: LevelMeter::default(), output };
    (Box::new(mic), Box::new(speaker))
}

struct MeteredMic {
    source: Box<dyn AudioSource>,
    call: String,
    meter: LevelMeter,
    detector: MutedSpeechDetector,
    muted: bool,
    output: Arc<SharedLevel>,
    events: broadcast::Sender<EngineEvent>,
    publish_levels: bool,
}

impl AudioSource for MeteredMic {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let state = self.source.read_frame(frame);
        if self.publish_levels {
            if let Some(input) = self.meter.push(frame) {
                let output = self.output.load();
                let _ = self.events.send(EngineEvent::AudioLevels { call: self.call.clone(), input: input.into(), output: output.into() });
            }
        }
        if self.detector.push(frame, self.muted) {
            let _ = self.events.send(EngineEvent::MutedSpeech { call: self.call.clone() });
        }
        state
    }

    fn set_muted(&mut self, muted: bool) {
        self.muted = muted;
        self.source.set_muted(muted);
    }
}

struct MeteredSpeaker {
    sink: Box<dyn AudioSink>,
    meter: LevelMeter,
    output: Arc<SharedLevel>,
}

impl AudioSink for MeteredSpeaker {
    fn write_frame(&mut self, frame: &Frame) {
        self.sink.write_frame(frame);
        if let Some(level) = self.meter.push(frame) {
            self.output.store(level);
        }
    }

    fn finish(&mut self) {
        self.sink.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeline_media::frame::{NullSink, ToneSource};
    use homeline_media::FRAME_SAMPLES;

    #[test]
    fn levels_come_20_a_second_and_muted_speech_once() {
        let (tx, mut rx) = broadcast::channel(256);
        let tone = Box::new(ToneSource::new(&[440.0], 0.5));
        let (mut mic, mut speaker) = metered("c1", tone, Box::new(NullSink::default()), tx, true);
        let mut frame = [0i16; FRAME_SAMPLES];
        for _ in 0..50 {
            speaker.write_frame(&[1000; FRAME_SAMPLES]);
            mic.read_frame(&mut frame);
        }
        let mut levels = Vec::new();
        while let Ok(event) = rx.try_recv() {
            match event {
                EngineEvent::AudioLevels { call, input, output } if call == "c1" => levels.push((input, output)),
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(levels.len(), 20, "one second gives 20 readings");
        let (input, output) = levels[19];
        assert!((input.rms_dbfs - (-9.0)).abs() < 0.5, "a sine at half scale reads −9 dBFS: {input:?}");
        assert!((output.rms_dbfs - (-30.3)).abs() < 0.5, "{output:?}");
        // Talking while muted: said once.
        mic.set_muted(true);
        for _ in 0..100 {
            mic.read_frame(&mut frame);
        }
        let muted: Vec<_> = std::iter::from_fn(|| rx.try_recv().ok()).filter(|e| matches!(e, EngineEvent::MutedSpeech { .. })).collect();
        assert_eq!(muted, vec![EngineEvent::MutedSpeech { call: "c1".into() }]);
    }
}
