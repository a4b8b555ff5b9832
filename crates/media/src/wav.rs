//! WAV files as audio devices: a file as the microphone, a recorder of what is received,
//! and stereo call recording (left = local, right = remote).
//!
//! Writing happens on a small writer thread fed through a bounded channel: the media path
//! never waits on the disk (a full channel drops the frame and counts it).

use crate::frame::{AudioSink, AudioSource, Frame, SourceState, FRAME_SAMPLES, SAMPLE_RATE};
use crate::resample::resample_all;
use crate::{MediaError, Result};
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::thread::JoinHandle;

/// What a file source does at its end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AtEnd {
    /// Start again from the beginning.
    Loop,
    /// Report [`SourceState::Ended`] and give silence from then on.
    Silence,
}

/// Reads a WAV file (any rate, channels, 8/16/24/32-bit integer or 32-bit float) into
/// 48 kHz mono samples.
pub fn read_wav_48k_mono(path: &Path) -> Result<Vec<i16>> {
    let shown = path.display().to_string();
    let reader = hound::WavReader::open(path).map_err(|e| MediaError::WavOpen {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let spec = reader.spec();
    let channels = spec.channels.max(1) as usize;
    let fmt_err = |e: hound::Error| MediaError::WavFormat {
        path: shown.clone(),
        reason: e.to_string(),
    };
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .into_samples::<f32>()
            .collect::<std::result::Result<_, _>>()
            .map_err(fmt_err)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect::<std::result::Result<_, _>>()
                .map_err(fmt_err)?
        }
    };
    let mono: Vec<i16> = interleaved
        .chunks(channels)
        .map(|c| {
            let m = c.iter().sum::<f32>() / c.len() as f32;
            (m * 32768.0).round().clamp(-32768.0, 32767.0) as i16
        })
        .collect();
    if spec.sample_rate == 0 {
        return Err(MediaError::WavFormat {
            path: shown,
            reason: "sample rate 0".into(),
        });
    }
    Ok(resample_all(&mono, spec.sample_rate, SAMPLE_RATE))
}

/// A WAV file as the microphone.
#[derive(Debug)]
pub struct WavFileSource {
    samples: Vec<i16>,
    pos: usize,
    at_end: AtEnd,
    ended: bool,
}

impl WavFileSource {
    pub fn open(path: impl AsRef<Path>, at_end: AtEnd) -> Result<Self> {
        Ok(Self::from_samples(
            read_wav_48k_mono(path.as_ref())?,
            at_end,
        ))
    }
    /// A source over 48 kHz mono samples already in memory.
    pub fn from_samples(samples: Vec<i16>, at_end: AtEnd) -> Self {
        Self {
            samples,
            pos: 0,
            at_end,
            ended: false,
        }
    }
    /// Length in 48 kHz samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

impl AudioSource for WavFileSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let mut filled = 0;
        while filled < FRAME_SAMPLES {
            if self.pos >= self.samples.len() {
                if self.at_end == AtEnd::Loop && !self.samples.is_empty() {
                    self.pos = 0;
                } else {
                    frame[filled..].fill(0);
                    let state = if self.ended || filled == 0 {
                        SourceState::Ended
                    } else {
                        SourceState::Audio
                    };
                    self.ended = true;
                    return state;
                }
            }
            let n = (FRAME_SAMPLES - filled).min(self.samples.len() - self.pos);
            frame[filled..filled + n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
            self.pos += n;
            filled += n;
        }
        SourceState::Audio
    }
}

enum WriterMsg {
    Samples(Box<[i16]>),
}

/// A WAV file written on its own thread.
struct WavWriterThread {
    tx: Option<SyncSender<WriterMsg>>,
    handle: Option<JoinHandle<Result<()>>>,
    dropped: Arc<AtomicU64>,
}

/// Frames that may wait for the disk (2 s of audio).
const WRITER_QUEUE: usize = 100;

impl WavWriterThread {
    fn spawn(path: &Path, channels: u16, merge: bool) -> Result<Self> {
        let shown = path.display().to_string();
        let spec = hound::WavSpec {
            channels,
            sample_rate: SAMPLE_RATE,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let writer = hound::WavWriter::create(path, spec).map_err(|e| MediaError::WavWrite {
            path: shown.clone(),
            reason: e.to_string(),
        })?;
        let (tx, rx) = sync_channel::<WriterMsg>(WRITER_QUEUE);
        let handle = std::thread::Builder::new()
            .name("homeline-wav".into())
            .spawn(move || {
                if merge {
                    run_stereo(writer, rx, &shown)
                } else {
                    run_plain(writer, rx, &shown)
                }
            })
            .map_err(|e| MediaError::WavWrite {
                path: path.display().to_string(),
                reason: e.to_string(),
            })?;
        Ok(Self {
            tx: Some(tx),
            handle: Some(handle),
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    fn send(&self, msg: WriterMsg) {
        if let Some(tx) = &self.tx {
            match tx.try_send(msg) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    self.dropped.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }

    fn finish(&mut self) -> Result<()> {
        self.tx = None;
        match self.handle.take() {
            Some(h) => h.join().unwrap_or_else(|_| {
                Err(MediaError::WavWrite {
                    path: String::new(),
                    reason: "writer thread panicked".into(),
                })
            }),
            None => Ok(()),
        }
    }
}

impl Drop for WavWriterThread {
    fn drop(&mut self) {
        if let Err(e) = self.finish() {
            tracing::warn!("{e}");
        }
    }
}

type Writer = hound::WavWriter<std::io::BufWriter<std::fs::File>>;

fn write_err(path: &str) -> impl Fn(hound::Error) -> MediaError + '_ {
    move |e| MediaError::WavWrite {
        path: path.to_string(),
        reason: e.to_string(),
    }
}

fn run_plain(mut w: Writer, rx: Receiver<WriterMsg>, path: &str) -> Result<()> {
    while let Ok(WriterMsg::Samples(s)) = rx.recv() {
        for v in s.iter() {
            w.write_sample(*v).map_err(write_err(path))?;
        }
    }
    w.finalize().map_err(write_err(path))
}

/// Stereo merge: messages are tagged by their first sample (0 = local, 1 = remote) followed
/// by one frame. Both sides are written in step; a side that falls silent (hold, ended
/// source) is padded with zeros once the other is 100 ms ahead.
fn run_stereo(mut w: Writer, rx: Receiver<WriterMsg>, path: &str) -> Result<()> {
    let mut left: VecDeque<i16> = VecDeque::new();
    let mut right: VecDeque<i16> = VecDeque::new();
    let ahead = FRAME_SAMPLES * 5;
    let write_pairs = |left: &mut VecDeque<i16>,
                       right: &mut VecDeque<i16>,
                       flush: bool,
                       w: &mut Writer|
     -> Result<()> {
        loop {
            let both = !left.is_empty() && !right.is_empty();
            let pad = flush || left.len() > ahead || right.len() > ahead;
            if !(both || (pad && (!left.is_empty() || !right.is_empty()))) {
                return Ok(());
            }
            let l = left.pop_front().unwrap_or(0);
            let r = right.pop_front().unwrap_or(0);
            w.write_sample(l).map_err(write_err(path))?;
            w.write_sample(r).map_err(write_err(path))?;
        }
    };
    while let Ok(WriterMsg::Samples(s)) = rx.recv() {
        let Some((&side, frame)) = s.split_first() else {
            continue;
        };
        if side == 0 {
            left.extend(frame.iter())
        } else {
            right.extend(frame.iter())
        }
        write_pairs(&mut left, &mut right, false, &mut w)?;
    }
    write_pairs(&mut left, &mut right, true, &mut w)?;
    w.finalize().map_err(write_err(path))
}

/// Records what is received to a 48 kHz mono WAV file.
pub struct WavRecorder {
    writer: WavWriterThread,
    path: PathBuf,
}

impl std::fmt::Debug for WavRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WavRecorder")
            .field("path", &self.path)
            .finish()
    }
}

impl WavRecorder {
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref().to_path_buf();
        Ok(Self {
            writer: WavWriterThread::spawn(&path, 1, false)?,
            path,
        })
    }
    /// Frames dropped because the disk did not keep up.
    pub fn dropped_frames(&self) -> u64 {
        self.writer.dropped.load(Ordering::Relaxed)
    }
    /// Closes the file (also done on drop).
    pub fn close(mut self) -> Result<()> {
        self.writer.finish()
    }
}

impl AudioSink for WavRecorder {
    fn write_frame(&mut self, frame: &Frame) {
        self.writer
            .send(WriterMsg::Samples(frame.to_vec().into_boxed_slice()));
    }
    fn finish(&mut self) {
        if let Err(e) = self.writer.finish() {
            tracing::warn!("{e}");
        }
    }
}

/// Stereo call recording: left = what we send (local), right = what we hear (remote).
/// Clone it into the send and receive paths with [`CallRecorder::tap_source`] and
/// [`CallRecorder::tap_sink`]. The file is complete when the last clone is gone;
/// [`CallRecorder::close`] waits for that only if it is the last one (it never blocks on
/// taps still in use).
#[derive(Clone)]
pub struct CallRecorder {
    // Field order matters: the sender must drop before the writer is joined.
    tx: SyncSender<WriterMsg>,
    dropped: Arc<AtomicU64>,
    inner: Arc<std::sync::Mutex<Option<WavWriterThread>>>,
}

impl std::fmt::Debug for CallRecorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CallRecorder").finish_non_exhaustive()
    }
}

impl CallRecorder {
    pub fn create(path: impl AsRef<Path>) -> Result<Self> {
        let mut writer = WavWriterThread::spawn(path.as_ref(), 2, true)?;
        // Only the clones hold senders: the writer finishes when the last clone is dropped.
        let tx = writer.tx.take().ok_or_else(|| MediaError::WavWrite {
            path: path.as_ref().display().to_string(),
            reason: "writer closed".into(),
        })?;
        let dropped = writer.dropped.clone();
        Ok(Self {
            tx,
            dropped,
            inner: Arc::new(std::sync::Mutex::new(Some(writer))),
        })
    }
    fn push(&self, side: i16, frame: &Frame) {
        let mut v = Vec::with_capacity(FRAME_SAMPLES + 1);
        v.push(side);
        v.extend_from_slice(frame);
        if self
            .tx
            .try_send(WriterMsg::Samples(v.into_boxed_slice()))
            .is_err()
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
    pub fn push_local(&self, frame: &Frame) {
        self.push(0, frame)
    }
    pub fn push_remote(&self, frame: &Frame) {
        self.push(1, frame)
    }
    /// Wraps a source so every frame it gives is also recorded on the left channel.
    pub fn tap_source(&self, source: Box<dyn AudioSource>) -> Box<dyn AudioSource> {
        Box::new(TapSource {
            source,
            rec: self.clone(),
        })
    }
    /// Wraps a sink so every frame it gets is also recorded on the right channel.
    pub fn tap_sink(&self, sink: Box<dyn AudioSink>) -> Box<dyn AudioSink> {
        Box::new(TapSink {
            sink,
            rec: self.clone(),
        })
    }
    pub fn dropped_frames(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
    /// Lets go of this handle. If it was the last one, finishes the file and reports any
    /// write error; otherwise the file is finished when the last tap is dropped.
    pub fn close(self) -> Result<()> {
        let CallRecorder { tx, inner, .. } = self;
        drop(tx);
        match Arc::try_unwrap(inner) {
            Ok(m) => {
                let writer = match m.into_inner() {
                    Ok(w) => w,
                    Err(p) => p.into_inner(),
                };
                match writer {
                    Some(mut w) => w.finish(),
                    None => Ok(()),
                }
            }
            Err(_) => Ok(()),
        }
    }
}

struct TapSource {
    source: Box<dyn AudioSource>,
    rec: CallRecorder,
}

impl AudioSource for TapSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let s = self.source.read_frame(frame);
        self.rec.push_local(frame);
        s
    }
}

struct TapSink {
    sink: Box<dyn AudioSink>,
    rec: CallRecorder,
}

impl AudioSink for TapSink {
    fn write_frame(&mut self, frame: &Frame) {
        self.rec.push_remote(frame);
        self.sink.write_frame(frame);
    }
    fn finish(&mut self) {
        self.sink.finish();
    }
}

/// Writes 48 kHz mono samples to a WAV file at once (tests, tools).
pub fn write_wav_mono(path: impl AsRef<Path>, rate: u32, samples: &[i16]) -> Result<()> {
    let shown = path.as_ref().display().to_string();
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path.as_ref(), spec).map_err(write_err(&shown))?;
    for &s in samples {
        w.write_sample(s).map_err(write_err(&shown))?;
    }
    w.finalize().map_err(write_err(&shown))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::goertzel::goertzel_power;

    fn tmp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("homeline-media-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        dir.join(name)
    }

    #[test]
    fn a_stereo_44k_file_plays_as_48k_mono_and_ends_with_silence() {
        let path = tmp("in.wav");
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 44100,
            bits_per_sample: 16,
            sample_format: hound::SampleFormat::Int,
        };
        let mut w = hound::WavWriter::create(&path, spec).unwrap();
        for n in 0..44100 / 2 {
            let v =
                ((2.0 * std::f64::consts::PI * 440.0 * n as f64 / 44100.0).sin() * 10000.0) as i16;
            w.write_sample(v).unwrap();
            w.write_sample(v).unwrap();
        }
        w.finalize().unwrap();
        let mut src = WavFileSource::open(&path, AtEnd::Silence).unwrap();
        assert_eq!(src.len(), 24000);
        let mut frame = [0i16; FRAME_SAMPLES];
        let mut all = Vec::new();
        let mut states = Vec::new();
        for _ in 0..30 {
            states.push(src.read_frame(&mut frame));
            all.extend_from_slice(&frame);
        }
        assert_eq!(
            states.iter().filter(|s| **s == SourceState::Audio).count(),
            25
        );
        assert_eq!(*states.last().unwrap(), SourceState::Ended);
        assert!(goertzel_power(&all[..20000], 48000, 440.0) > 0.03);
        assert!(all[25 * FRAME_SAMPLES..].iter().all(|&s| s == 0));

        let mut looped = WavFileSource::open(&path, AtEnd::Loop).unwrap();
        for _ in 0..60 {
            assert_eq!(looped.read_frame(&mut frame), SourceState::Audio);
        }
    }

    #[test]
    fn missing_file_is_an_error_in_words() {
        let e = WavFileSource::open("/nonexistent/x.wav", AtEnd::Loop).unwrap_err();
        assert!(e.to_string().contains("could not be opened"), "{e}");
    }

    #[test]
    fn recorder_and_call_recorder_write_what_they_get() {
        let path = tmp("rec.wav");
        let mut rec = WavRecorder::create(&path).unwrap();
        let frame = [1234i16; FRAME_SAMPLES];
        for _ in 0..10 {
            rec.write_frame(&frame);
        }
        rec.close().unwrap();
        let r = hound::WavReader::open(&path).unwrap();
        assert_eq!(r.spec().sample_rate, 48000);
        assert_eq!(r.len(), 10 * FRAME_SAMPLES as u32);

        let spath = tmp("call.wav");
        let call = CallRecorder::create(&spath).unwrap();
        let mut src = call.tap_source(Box::new(crate::frame::ToneSource::new(&[440.0], 0.3)));
        let mut sink = call.tap_sink(Box::new(crate::frame::NullSink::default()));
        let mut f = [0i16; FRAME_SAMPLES];
        for i in 0..20 {
            src.read_frame(&mut f);
            if i < 10 {
                sink.write_frame(&[777; FRAME_SAMPLES]);
            }
        }
        drop(src);
        drop(sink);
        call.close().unwrap();
        let mut r = hound::WavReader::open(&spath).unwrap();
        assert_eq!(r.spec().channels, 2);
        let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
        assert_eq!(s.len(), 20 * FRAME_SAMPLES * 2);
        let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
        let left: Vec<i16> = s.iter().step_by(2).copied().collect();
        assert_eq!(right[0], 777);
        assert_eq!(right[15 * FRAME_SAMPLES], 0);
        assert!(goertzel_power(&left, 48000, 440.0) > 0.01);
    }
}
