//! The capture pipeline of WebRTC's audio processing module, put together from sonora's parts
//! so that the echo canceller gets our own [`EchoCanceller3Config`] (sonora 0.2.0's
//! `AudioProcessing` always builds AEC3 with the default one, which ducks a talker who speaks
//! over the far end).
//!
//! Same order and arithmetic as sonora's `AudioProcessing` at 48 kHz mono: the 10 ms frame is
//! split into three 16 kHz bands, band 0 is high-passed, the noise suppressor analyses band 0,
//! AEC3 works on 64-sample blocks of all three bands, the suppressor then filters band 0 and
//! scales the upper bands, the bands are merged, and AGC2 (through a sonora `AudioProcessing`
//! that runs it alone, on the full band) comes last. Everything is allocated when a stage is
//! switched on; a frame allocates nothing.

use sonora::config::{GainController2, Pipeline};
use sonora::high_pass_filter::HighPassFilter;
use sonora::three_band_filter_bank::{ThreeBandFilterBank, FULL_BAND_SIZE, NUM_BANDS, SPLIT_BAND_SIZE};
use sonora::{AudioProcessing, Config, StreamConfig};
use sonora_aec3::block::Block;
use sonora_aec3::block_processor::BlockProcessor;
use sonora_aec3::common::BLOCK_SIZE;
pub use sonora_aec3::config::EchoCanceller3Config;
use sonora_ns::config::{NsConfig, SuppressionLevel};
use sonora_ns::noise_suppressor::NoiseSuppressor;

/// 48 kHz, in 10 ms frames.
pub(crate) const FRAME: usize = FULL_BAND_SIZE;
const RATE: usize = 48_000;

/// Samples of the three bands waiting to fill a 64-sample block (or to be taken out as a
/// 160-sample band frame): never more than a frame plus a block.
struct BandFifo {
    data: [[f32; SPLIT_BAND_SIZE + BLOCK_SIZE]; NUM_BANDS],
    len: usize,
}

impl BandFifo {
    fn new(prefilled: usize) -> Self {
        Self { data: [[0.0; SPLIT_BAND_SIZE + BLOCK_SIZE]; NUM_BANDS], len: prefilled }
    }
    fn push(&mut self, bands: &[[f32; SPLIT_BAND_SIZE]; NUM_BANDS]) {
        for (fifo, band) in self.data.iter_mut().zip(bands) {
            fifo[self.len..self.len + SPLIT_BAND_SIZE].copy_from_slice(band);
        }
        self.len += SPLIT_BAND_SIZE;
    }
    fn push_block(&mut self, block: &Block) {
        for (b, fifo) in self.data.iter_mut().enumerate() {
            fifo[self.len..self.len + BLOCK_SIZE].copy_from_slice(block.view(b, 0));
        }
        self.len += BLOCK_SIZE;
    }
    /// Moves the oldest block into `block`; `false` when there is none yet.
    fn pop_block(&mut self, block: &mut Block) -> bool {
        if self.len < BLOCK_SIZE {
            return false;
        }
        for (b, fifo) in self.data.iter_mut().enumerate() {
            block.view_mut(b, 0).copy_from_slice(&fifo[..BLOCK_SIZE]);
            fifo.copy_within(BLOCK_SIZE..self.len, 0);
        }
        self.len -= BLOCK_SIZE;
        true
    }
    fn pop_frame(&mut self, bands: &mut [[f32; SPLIT_BAND_SIZE]; NUM_BANDS]) {
        debug_assert!(self.len >= SPLIT_BAND_SIZE);
        for (fifo, band) in self.data.iter_mut().zip(bands.iter_mut()) {
            band.copy_from_slice(&fifo[..SPLIT_BAND_SIZE]);
            fifo.copy_within(SPLIT_BAND_SIZE..self.len, 0);
        }
        self.len -= SPLIT_BAND_SIZE;
    }
}

/// AEC3 on the band-split signal: what sonora's `EchoCanceller3` wrapper does for one render
/// and one capture channel, minus its per-frame allocations.
struct EchoCanceller {
    processor: BlockProcessor,
    render_bank: ThreeBandFilterBank,
    render_bands: [[f32; SPLIT_BAND_SIZE]; NUM_BANDS],
    render_in: BandFifo,
    capture_in: BandFifo,
    /// Starts a block ahead, so that a whole band frame is always ready (AEC3's framing delay).
    capture_out: BandFifo,
    block: Block,
}

impl EchoCanceller {
    fn new(config: &EchoCanceller3Config) -> Self {
        Self {
            processor: BlockProcessor::new(config, RATE, 1, 1),
            render_bank: ThreeBandFilterBank::new(),
            render_bands: [[0.0; SPLIT_BAND_SIZE]; NUM_BANDS],
            render_in: BandFifo::new(0),
            capture_in: BandFifo::new(0),
            capture_out: BandFifo::new(BLOCK_SIZE),
            block: Block::new(NUM_BANDS, 1),
        }
    }

    fn render(&mut self, frame: &[f32; FRAME]) {
        self.render_bank.analysis(frame, &mut self.render_bands);
        self.render_in.push(&self.render_bands);
        while self.render_in.pop_block(&mut self.block) {
            self.processor.buffer_render(&self.block);
        }
    }

    fn capture(&mut self, bands: &mut [[f32; SPLIT_BAND_SIZE]; NUM_BANDS], saturated: bool) {
        self.capture_in.push(bands);
        while self.capture_in.pop_block(&mut self.block) {
            self.processor.process_capture(false, saturated, None, &mut self.block);
            self.capture_out.push_block(&self.block);
        }
        self.capture_out.pop_frame(bands);
    }
}

/// Which stages run and how.
#[derive(Debug, Clone)]
pub(crate) struct Stages {
    pub echo: Option<EchoCanceller3Config>,
    pub noise: Option<SuppressionLevel>,
    /// A second suppressor after the first (and after the canceller).
    pub noise_post_filter: Option<SuppressionLevel>,
    pub gain: Option<GainController2>,
}

/// Echo cancellation, noise suppression and gain control on 10 ms frames at 48 kHz mono.
pub(crate) struct Apm {
    /// Band splitting and the high-pass filter, whenever the canceller or the suppressor runs.
    bank: ThreeBandFilterBank,
    high_pass: HighPassFilter,
    /// Band 0 as the high-pass filter takes it.
    low: Vec<Vec<f32>>,
    full: [f32; FRAME],
    bands: [[f32; SPLIT_BAND_SIZE]; NUM_BANDS],
    echo: Option<EchoCanceller>,
    noise: Option<NoiseSuppressor>,
    noise_post_filter: Option<NoiseSuppressor>,
    gain: Option<AudioProcessing>,
}

impl std::fmt::Debug for Apm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Apm")
            .field("echo", &self.echo.is_some())
            .field("noise", &self.noise.is_some())
            .field("gain", &self.gain.is_some())
            .finish_non_exhaustive()
    }
}

impl Apm {
    pub(crate) fn new(stages: &Stages) -> Self {
        let mut apm = Self {
            bank: ThreeBandFilterBank::new(),
            high_pass: HighPassFilter::new(16_000, 1),
            low: vec![vec![0.0; SPLIT_BAND_SIZE]],
            full: [0.0; FRAME],
            bands: [[0.0; SPLIT_BAND_SIZE]; NUM_BANDS],
            echo: None,
            noise: None,
            noise_post_filter: None,
            gain: None,
        };
        apm.configure(stages);
        apm
    }

    /// Switches stages on (fresh) and off; a stage left on keeps its state.
    pub(crate) fn configure(&mut self, stages: &Stages) {
        let split_before = self.splits();
        match (&stages.echo, self.echo.is_some()) {
            (Some(config), false) => self.echo = Some(EchoCanceller::new(config)),
            (None, true) => self.echo = None,
            _ => {}
        }
        match (stages.noise, self.noise.is_some()) {
            (Some(level), false) => {
                self.noise = Some(NoiseSuppressor::new_with_bands(NsConfig { target_level: level }, NUM_BANDS));
            }
            (None, true) => self.noise = None,
            _ => {}
        }
        match (stages.noise_post_filter, self.noise_post_filter.is_some()) {
            (Some(level), false) => {
                self.noise_post_filter = Some(NoiseSuppressor::new_with_bands(NsConfig { target_level: level }, NUM_BANDS));
            }
            (None, true) => self.noise_post_filter = None,
            _ => {}
        }
        if !split_before && self.splits() {
            self.bank = ThreeBandFilterBank::new();
            self.high_pass = HighPassFilter::new(16_000, 1);
        }
        self.gain = stages.gain.clone().map(|gain| {
            AudioProcessing::builder()
                .config(Config {
                    gain_controller2: Some(gain),
                    pipeline: Pipeline { maximum_internal_processing_rate: sonora::config::MaxProcessingRate::Rate48kHz, ..Default::default() },
                    ..Default::default()
                })
                .capture_config(StreamConfig::new(RATE as u32, 1))
                .render_config(StreamConfig::new(RATE as u32, 1))
                .build()
        });
    }

    fn splits(&self) -> bool {
        self.echo.is_some() || self.noise.is_some() || self.noise_post_filter.is_some()
    }

    /// What the speaker played, 10 ms of it.
    pub(crate) fn render(&mut self, frame: &[i16]) {
        let Some(echo) = &mut self.echo else { return };
        let Ok(frame) = <&[i16; FRAME]>::try_from(frame) else { return };
        for (f, &s) in self.full.iter_mut().zip(frame) {
            *f = f32::from(s);
        }
        echo.render(&self.full);
    }

    /// Cleans 10 ms of microphone in place.
    pub(crate) fn capture(&mut self, frame: &mut [i16]) {
        let Ok(frame) = <&mut [i16; FRAME]>::try_from(frame) else { return };
        if self.splits() {
            let mut saturated = false;
            for (f, &s) in self.full.iter_mut().zip(frame.iter()) {
                *f = f32::from(s);
                saturated |= s >= 32700 || s <= -32700;
            }
            self.bank.analysis(&self.full, &mut self.bands);
            self.low[0].copy_from_slice(&self.bands[0]);
            self.high_pass.process_channels(&mut self.low);
            self.bands[0].copy_from_slice(&self.low[0]);
            if let Some(noise) = &mut self.noise {
                noise.analyze(&self.bands[0]);
            }
            if let Some(echo) = &mut self.echo {
                echo.capture(&mut self.bands, saturated);
            }
            if let Some(noise) = &mut self.noise {
                suppress(noise, &mut self.bands);
            }
            if let Some(noise) = &mut self.noise_post_filter {
                // It learns the noise that the first one left.
                noise.analyze(&self.bands[0]);
                suppress(noise, &mut self.bands);
            }
            self.bank.synthesis(&self.bands, &mut self.full);
            for (s, &f) in frame.iter_mut().zip(self.full.iter()) {
                *s = f.round().clamp(-32768.0, 32767.0) as i16;
            }
        }
        if let Some(gain) = &mut self.gain {
            let mut out = [0i16; FRAME];
            if gain.process_capture_i16(frame, &mut out).is_ok() {
                frame.copy_from_slice(&out);
            }
        }
    }
}

/// Band 0 through the suppressor's filter, the upper bands delayed as much and scaled.
fn suppress(noise: &mut NoiseSuppressor, bands: &mut [[f32; SPLIT_BAND_SIZE]; NUM_BANDS]) {
    noise.process(&mut bands[0]);
    let gain = noise.upper_band_gain();
    for (b, band) in bands.iter_mut().enumerate().skip(1) {
        noise.process_upper_band(band, b - 1, gain);
        NoiseSuppressor::clamp_frame(band);
    }
}
