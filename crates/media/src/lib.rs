//! Homeline's audio path, with no WebRTC inside.
//!
//! Everything here works on **20 ms frames of 48 kHz mono `i16`** ([`Frame`]):
//!
//! ```text
//!  AudioSource ─▶ [FrameProcessor…] ─▶ FrameEncoder (resample → Codec::encode) ─▶ payload
//!  payload ─▶ FrameDecoder (Codec::decode / conceal → resample → 20 ms frames) ─▶ AudioSink
//! ```
//!
//! The slots are traits so the audio-quality work (issue 5) can put echo cancellation,
//! noise suppression and gain control in as [`FrameProcessor`]s, replace the receive side's
//! simple loss concealment with a jitter buffer, swap the [`resample`] implementation for
//! rubato and add cpal devices as further [`AudioSource`]/[`AudioSink`] implementations.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod codec;
pub mod device;
pub mod dtmf;
pub mod frame;
pub mod g711;
pub mod goertzel;
pub mod jitter;
pub mod levels;
pub mod mixer;
pub mod pipeline;
pub mod processing;
pub mod pulse_cookie;
pub mod resample;
pub mod tones;
pub mod wav;

pub use codec::{Codec, CodecKind, OpusCodec, PcmaCodec, PcmuCodec};
pub use frame::{
    AudioSink, AudioSource, Frame, FrameProcessor, SourceState, FRAME_MS, FRAME_SAMPLES,
    SAMPLE_RATE,
};
pub use pipeline::{FrameDecoder, FrameEncoder};

/// Errors of the audio path, each with a sentence a person understands.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    #[error("The audio file {path} could not be opened: {reason}")]
    WavOpen { path: String, reason: String },
    #[error("The audio file {path} could not be written: {reason}")]
    WavWrite { path: String, reason: String },
    #[error("The audio file {path} has a format we cannot read: {reason}")]
    WavFormat { path: String, reason: String },
    #[error("The Opus codec failed: {0}")]
    Opus(String),
    #[error("The codec was given {got} samples but needs {expected} for one 20 ms frame")]
    FrameSize { expected: usize, got: usize },
    #[error("Unknown DTMF key {0:?} (use 0-9, *, #, A-D)")]
    DtmfKey(char),
}

pub type Result<T, E = MediaError> = std::result::Result<T, E>;
