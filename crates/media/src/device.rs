//! Real audio devices (cpal) as [`AudioSource`]/[`AudioSink`].
//!
//! Hosts: PulseAudio (also what PipeWire desktops serve through pipewire-pulse) when its
//! socket is there, else ALSA. We never call `cpal::default_host()` (it panics when no host
//! works). Device ids are cpal's `DeviceId` in its `Display` form (`pulseaudio:alsa_output…`,
//! `alsa:hw:0,0`): stable across restarts, saved in settings as they are.
//!
//! The cpal callbacks only move samples between the device buffer and a lock-free SPSC ring
//! (see [`ring`]); resampling to and from 48 kHz happens on the media side.
//! Opening blocks (a sound server round trip, bounded by [`OPEN_TIMEOUT`]): call it from a
//! blocking context, not from the middle of an async task.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{HostId, SampleFormat, StreamConfig, SupportedBufferSize};

#[path = "device_echo.rs"]
pub mod echo;
#[path = "device_follow.rs"]
pub mod follow;
#[path = "device_prefs.rs"]
pub mod prefs;
#[path = "device_ring.rs"]
pub mod ring;

pub use echo::{EchoLine, EchoTest, EchoTestConfig, EchoTestReport};
pub use follow::{DeviceChange, FollowedDevice, Following, FollowingSink, FollowingSource};
pub use prefs::{DevicePreference, DEFAULT_DEVICE};
use ring::{capture_pair, playout_pair, CaptureFeed, CaptureSide, PlayoutFeed, PlayoutSide};
pub use ring::{DeviceCounters, DeviceStats, StreamFault};
use crate::frame::{AudioSink, AudioSource, Frame, SourceState, SAMPLE_RATE};

/// How long opening a stream may take before we give up on the sound system.
pub const OPEN_TIMEOUT: Duration = Duration::from_secs(3);

/// What went wrong with an audio device, in words a person understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviceError {
    #[error("No microphone found: connect one, or check the system's sound settings.")]
    NoInput,
    #[error("No speaker or headset found: connect one, or check the system's sound settings.")]
    NoOutput,
    #[error("The audio device {0} is not connected.")]
    NotFound(String),
    #[error("The microphone could not be opened: {0}")]
    OpenInput(String),
    #[error("The speaker could not be opened: {0}")]
    OpenOutput(String),
    #[error("The sound system could not be reached: {0}")]
    NoSoundSystem(String),
    #[error("The audio codec could not start: {0}")]
    Codec(String),
    #[error("The audio thread could not start: {0}")]
    Thread(String),
}

/// Which way a device carries sound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Input,
    Output,
}

/// One device as the settings screen lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Stable id (cpal `DeviceId` in its text form); pass it back to `open`.
    pub id: String,
    /// Human name ("Built-in Audio Analog Stereo", "Jabra Evolve2 65").
    pub name: String,
    /// The system's current default for this direction.
    pub is_default: bool,
}

/// Inputs and outputs of the sound system in use.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeviceList {
    /// `pulseaudio` or `alsa` (cpal's host id).
    pub host: String,
    pub inputs: Vec<DeviceInfo>,
    pub outputs: Vec<DeviceInfo>,
}

/// The hosts we try, in order.
fn hosts() -> Vec<HostId> {
    let available = cpal::available_hosts();
    let mut ids = Vec::new();
    if available.contains(&HostId::PulseAudio) {
        ids.push(HostId::PulseAudio);
    }
    ids.push(HostId::Alsa);
    ids
}

fn first_host() -> Result<cpal::Host, DeviceError> {
    let mut last = String::from("no sound system is installed");
    for id in hosts() {
        match cpal::host_from_id(id) {
            Ok(host) => return Ok(host),
            Err(e) => last = e.to_string(),
        }
    }
    Err(DeviceError::NoSoundSystem(last))
}

/// ALSA's `null` PCM opens on any machine but is not paced (it spins a core): never a device.
fn usable(id: &str) -> bool {
    !(id == "alsa:null" || id.starts_with("alsa:null:"))
}

fn device_id(d: &cpal::Device) -> Option<String> {
    d.id().ok().map(|id| id.to_string())
}

fn device_name(d: &cpal::Device) -> String {
    d.description().map(|desc| desc.name().to_owned()).unwrap_or_else(|_| d.to_string())
}

/// Every input and output of the sound system in use, with the defaults marked.
pub fn list_devices() -> Result<DeviceList, DeviceError> {
    let host = first_host()?;
    let default_in = host.default_input_device().as_ref().and_then(device_id);
    let default_out = host.default_output_device().as_ref().and_then(device_id);
    let info = |d: cpal::Device, default: &Option<String>| {
        let id = device_id(&d)?;
        usable(&id).then(|| DeviceInfo { is_default: default.as_deref() == Some(id.as_str()), name: device_name(&d), id })
    };
    let inputs = host
        .input_devices()
        .map_err(|e| DeviceError::NoSoundSystem(e.to_string()))?
        .filter_map(|d| info(d, &default_in))
        .collect();
    let outputs = host
        .output_devices()
        .map_err(|e| DeviceError::NoSoundSystem(e.to_string()))?
        .filter_map(|d| info(d, &default_out))
        .collect();
    Ok(DeviceList { host: host.id().to_string(), inputs, outputs })
}

/// The device `id` (any host), or the default of the first working host.
fn find_device(id: Option<&str>, direction: Direction) -> Result<cpal::Device, DeviceError> {
    let missing = match direction {
        Direction::Input => DeviceError::NoInput,
        Direction::Output => DeviceError::NoOutput,
    };
    match id {
        Some(id) => {
            let parsed = cpal::DeviceId::from_str(id).map_err(|_| DeviceError::NotFound(id.to_owned()))?;
            let host = cpal::host_from_id(parsed.host()).map_err(|e| DeviceError::NoSoundSystem(e.to_string()))?;
            host.device_by_id(&parsed).ok_or_else(|| DeviceError::NotFound(id.to_owned()))
        }
        None => {
            let host = first_host()?;
            let device = match direction {
                Direction::Input => host.default_input_device(),
                Direction::Output => host.default_output_device(),
            };
            device.filter(|d| device_id(d).is_some_and(|id| usable(&id))).ok_or(missing)
        }
    }
}

/// Whether the device `id` is there now.
pub(crate) fn device_present(id: &str, direction: Direction) -> bool {
    find_device(Some(id), direction).is_ok()
}

/// Answers a watcher's questions (is this device there, which is the default) over one
/// connection per sound system: each host made here is a round trip to the sound server,
/// and many watchers asking five times a second must not crowd its socket.
pub(crate) struct Probe {
    direction: Direction,
    hosts: Vec<(HostId, Option<cpal::Host>)>,
}

impl Probe {
    pub(crate) fn new(direction: Direction) -> Self {
        Self { direction, hosts: Vec::new() }
    }

    fn host(&mut self, id: HostId) -> Option<&cpal::Host> {
        let at = match self.hosts.iter().position(|(h, _)| *h == id) {
            Some(at) => at,
            None => {
                self.hosts.push((id, cpal::host_from_id(id).ok()));
                self.hosts.len() - 1
            }
        };
        self.hosts[at].1.as_ref()
    }

    /// Whether the device `id` is there now.
    pub(crate) fn present(&mut self, id: &str) -> bool {
        let Ok(parsed) = cpal::DeviceId::from_str(id) else { return false };
        self.host(parsed.host()).is_some_and(|host| host.device_by_id(&parsed).is_some())
    }

    /// The id of the system's default device now, from the first working host.
    pub(crate) fn default_id(&mut self) -> Option<String> {
        let direction = self.direction;
        let host = hosts().into_iter().find_map(|id| self.host(id).map(|_| id))?;
        let host = self.host(host)?;
        let device = match direction {
            Direction::Input => host.default_input_device(),
            Direction::Output => host.default_output_device(),
        };
        device.as_ref().and_then(device_id).filter(|id| usable(id))
    }
}

/// The stream format we ask for: mono 48 kHz `i16` when the device takes it, else the
/// closest it offers (we convert); a 20 ms period.
///
/// Capture's period is 20 ms, not 10: PulseAudio (through cpal) makes the period the record
/// stream's whole server-side buffer, and drops what does not fit when the client is late.
/// With 10 ms a loaded machine lost captured audio every few seconds (measured on the
/// harness: the echo's delay behind the played reference wandered 72–109 ms, and the echo
/// canceller kept losing it); with 20 ms it held still.
fn pick_config(device: &cpal::Device, direction: Direction) -> Result<(StreamConfig, SampleFormat), cpal::Error> {
    let (default, ranges): (_, Vec<_>) = match direction {
        Direction::Input => (device.default_input_config()?, device.supported_input_configs()?.collect()),
        Direction::Output => (device.default_output_config()?, device.supported_output_configs()?.collect()),
    };
    let def_ch = default.channels();
    let def_fmt = default.sample_format();
    let wanted = [
        (1, SampleFormat::I16),
        (1, SampleFormat::F32),
        (1, def_fmt),
        (def_ch, SampleFormat::I16),
        (def_ch, SampleFormat::F32),
        (def_ch, def_fmt),
    ];
    let period_ms = 20;
    for (channels, format) in wanted {
        if let Some(range) = ranges
            .iter()
            .find(|r| r.channels() == channels && r.sample_format() == format && r.contains_rate(SAMPLE_RATE))
        {
            let frames = SAMPLE_RATE / 1000 * period_ms;
            let buffer_size = match range.buffer_size() {
                SupportedBufferSize::Range { min, max } if *min <= frames && frames <= *max => cpal::BufferSize::Fixed(frames),
                _ => cpal::BufferSize::Default,
            };
            return Ok((StreamConfig { channels, sample_rate: SAMPLE_RATE, buffer_size }, format));
        }
    }
    let rate = default.sample_rate();
    let frames = rate / 1000 * period_ms;
    let buffer_size = match default.buffer_size() {
        SupportedBufferSize::Range { min, max } if *min <= frames && frames <= *max => cpal::BufferSize::Fixed(frames),
        _ => cpal::BufferSize::Default,
    };
    Ok((StreamConfig { channels: def_ch, sample_rate: rate, buffer_size }, def_fmt))
}

/// Builds a capture stream whose callback feeds `feed`, for the device's sample format.
fn build_input(device: &cpal::Device, config: StreamConfig, format: SampleFormat, feed: CaptureFeed) -> Result<cpal::Stream, cpal::Error> {
    fn build<T>(device: &cpal::Device, config: StreamConfig, mut feed: CaptureFeed) -> Result<cpal::Stream, cpal::Error>
    where
        T: cpal::SizedSample + Send + 'static,
        f32: cpal::FromSample<T>,
    {
        let counters = feed.counters().clone();
        device.build_input_stream(
            config,
            move |data: &[T], _: &cpal::InputCallbackInfo| feed.push_interleaved(data),
            move |e: cpal::Error| counters.note_error(e.kind()),
            Some(OPEN_TIMEOUT),
        )
    }
    match format {
        SampleFormat::I16 => build::<i16>(device, config, feed),
        SampleFormat::F32 => build::<f32>(device, config, feed),
        SampleFormat::I32 => build::<i32>(device, config, feed),
        SampleFormat::I24 => build::<cpal::I24>(device, config, feed),
        SampleFormat::I8 => build::<i8>(device, config, feed),
        SampleFormat::U8 => build::<u8>(device, config, feed),
        SampleFormat::U16 => build::<u16>(device, config, feed),
        SampleFormat::F64 => build::<f64>(device, config, feed),
        other => Err(cpal::Error::with_message(cpal::ErrorKind::UnsupportedConfig, format!("sample format {other} is not supported"))),
    }
}

/// Builds a playout stream whose callback drains `feed`, for the device's sample format.
fn build_output(device: &cpal::Device, config: StreamConfig, format: SampleFormat, feed: PlayoutFeed) -> Result<cpal::Stream, cpal::Error> {
    fn build<T>(device: &cpal::Device, config: StreamConfig, mut feed: PlayoutFeed) -> Result<cpal::Stream, cpal::Error>
    where
        T: cpal::SizedSample + cpal::FromSample<i16> + Send + 'static,
    {
        let counters = feed.counters().clone();
        device.build_output_stream(
            config,
            move |data: &mut [T], _: &cpal::OutputCallbackInfo| feed.fill_interleaved(data),
            move |e: cpal::Error| counters.note_error(e.kind()),
            Some(OPEN_TIMEOUT),
        )
    }
    match format {
        SampleFormat::I16 => build::<i16>(device, config, feed),
        SampleFormat::F32 => build::<f32>(device, config, feed),
        SampleFormat::I32 => build::<i32>(device, config, feed),
        SampleFormat::I24 => build::<cpal::I24>(device, config, feed),
        SampleFormat::I8 => build::<i8>(device, config, feed),
        SampleFormat::U8 => build::<u8>(device, config, feed),
        SampleFormat::U16 => build::<u16>(device, config, feed),
        SampleFormat::F64 => build::<f64>(device, config, feed),
        other => Err(cpal::Error::with_message(cpal::ErrorKind::UnsupportedConfig, format!("sample format {other} is not supported"))),
    }
}

/// Opens a running capture stream: the stream and the media side of its ring.
fn open_capture(device: &cpal::Device) -> Result<(cpal::Stream, CaptureSide, StreamConfig), cpal::Error> {
    let (config, format) = pick_config(device, Direction::Input)?;
    let attempt = |config: StreamConfig| {
        let (feed, side) = capture_pair(config.sample_rate, config.channels);
        build_input(device, config, format, feed).map(|s| (s, side, config))
    };
    // A period the server refuses is not worth failing the call for: take its default.
    let (stream, side, config) = match attempt(config) {
        Ok(ok) => ok,
        Err(_) if config.buffer_size != cpal::BufferSize::Default => attempt(StreamConfig { buffer_size: cpal::BufferSize::Default, ..config })?,
        Err(e) => return Err(e),
    };
    stream.play()?;
    Ok((stream, side, config))
}

fn open_playout(device: &cpal::Device) -> Result<(cpal::Stream, PlayoutSide, StreamConfig), cpal::Error> {
    let (config, format) = pick_config(device, Direction::Output)?;
    let attempt = |config: StreamConfig| {
        let (side, feed) = playout_pair(config.sample_rate, config.channels);
        build_output(device, config, format, feed).map(|s| (s, side, config))
    };
    let (stream, side, config) = match attempt(config) {
        Ok(ok) => ok,
        Err(_) if config.buffer_size != cpal::BufferSize::Default => attempt(StreamConfig { buffer_size: cpal::BufferSize::Default, ..config })?,
        Err(e) => return Err(e),
    };
    stream.play()?;
    Ok((stream, side, config))
}

/// A microphone as an [`AudioSource`]: 20 ms frames at 48 kHz mono, whatever the device.
pub struct DeviceSource {
    side: CaptureSide,
    id: String,
    name: String,
    config: StreamConfig,
    // Dropped last: stops the callbacks before the ring goes away.
    _stream: cpal::Stream,
}

impl std::fmt::Debug for DeviceSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSource").field("id", &self.id).field("config", &self.config).finish_non_exhaustive()
    }
}

impl DeviceSource {
    /// Opens and starts the microphone `id` (`None`: the system default).
    pub fn open(id: Option<&str>) -> Result<Self, DeviceError> {
        let device = find_device(id, Direction::Input)?;
        let found_id = device_id(&device).unwrap_or_default();
        let name = device_name(&device);
        let (stream, side, config) = open_capture(&device).map_err(|e| match e.kind() {
            cpal::ErrorKind::DeviceNotAvailable if id.is_none() => DeviceError::NoInput,
            _ => DeviceError::OpenInput(format!("{name}: {e}")),
        })?;
        tracing::debug!(id = %found_id, ?config, "microphone open");
        Ok(Self { side, id: found_id, name, config, _stream: stream })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The device's own rate and channels (we convert to 48 kHz mono).
    pub fn stream_config(&self) -> StreamConfig {
        self.config
    }
    pub fn stats(&self) -> DeviceStats {
        self.side.counters().snapshot()
    }
    /// The shared counters (for a stats task that outlives this borrow).
    pub fn counters(&self) -> Arc<DeviceCounters> {
        self.side.counters().clone()
    }
}

impl AudioSource for DeviceSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        self.side.read_frame(frame);
        SourceState::Audio
    }
    fn take_slip(&mut self) -> i64 {
        self.side.take_slip()
    }
}

/// A speaker or headset as an [`AudioSink`]: 20 ms frames at 48 kHz mono in.
pub struct DeviceSink {
    side: PlayoutSide,
    id: String,
    name: String,
    config: StreamConfig,
    _stream: cpal::Stream,
}

impl std::fmt::Debug for DeviceSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceSink").field("id", &self.id).field("config", &self.config).finish_non_exhaustive()
    }
}

impl DeviceSink {
    /// Opens and starts the output `id` (`None`: the system default).
    pub fn open(id: Option<&str>) -> Result<Self, DeviceError> {
        let device = find_device(id, Direction::Output)?;
        let found_id = device_id(&device).unwrap_or_default();
        let name = device_name(&device);
        let (stream, side, config) = open_playout(&device).map_err(|e| match e.kind() {
            cpal::ErrorKind::DeviceNotAvailable if id.is_none() => DeviceError::NoOutput,
            _ => DeviceError::OpenOutput(format!("{name}: {e}")),
        })?;
        tracing::debug!(id = %found_id, ?config, "speaker open");
        Ok(Self { side, id: found_id, name, config, _stream: stream })
    }

    pub fn id(&self) -> &str {
        &self.id
    }
    pub fn name(&self) -> &str {
        &self.name
    }
    pub fn stream_config(&self) -> StreamConfig {
        self.config
    }
    pub fn stats(&self) -> DeviceStats {
        self.side.counters().snapshot()
    }
    pub fn counters(&self) -> Arc<DeviceCounters> {
        self.side.counters().clone()
    }
    /// Device-rate samples queued and not played yet.
    pub fn queued_samples(&self) -> usize {
        self.side.queued_samples()
    }
}

impl AudioSink for DeviceSink {
    fn write_frame(&mut self, frame: &Frame) {
        self.side.write_frame(frame);
    }
    fn tap_played(&mut self, tap: &crate::processing::PlayedTap) -> bool {
        AudioSink::tap_played(&mut self.side, tap)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn alsa_null_is_never_offered() {
        assert!(!usable("alsa:null"));
        assert!(usable("alsa:default"));
        assert!(usable("pulseaudio:homeline_out.monitor"));
    }

    #[test]
    fn a_malformed_or_unknown_id_is_not_found_not_a_panic() {
        assert!(matches!(DeviceSource::open(Some("no-such-host-id")), Err(DeviceError::NotFound(_))));
        assert!(matches!(DeviceSink::open(Some("alsa:homeline_does_not_exist")), Err(DeviceError::NotFound(_) | DeviceError::NoSoundSystem(_))));
    }

    #[test]
    fn errors_read_as_sentences() {
        assert_eq!(DeviceError::NoInput.to_string(), "No microphone found: connect one, or check the system's sound settings.");
    }
}
