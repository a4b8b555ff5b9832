//! Where a call's audio comes from and goes to, and how its media connects;
//! and the echo test (the microphone played back through the codec, no server).

use std::path::PathBuf;
use std::sync::Mutex;

use homeline_media::device::{DeviceChange, DeviceError, DevicePreference, DeviceSink, DeviceSource, EchoTest, EchoTestConfig, FollowingSink, FollowingSource};
use homeline_media::frame::{NullSink, SilenceSource};
use homeline_media::processing::{controlled_processing, ProcessingControl, ProcessingSettings};
use homeline_media::wav::{AtEnd, WavFileSource, WavRecorder};
use homeline_media::{AudioSink, AudioSource, CodecKind, Frame};
use homeline_rtc::{IceServer, MediaIo, SessionConfig};
use tokio::sync::broadcast;

use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;

/// The environment switch that makes the desktop app offer loopback candidates
/// (tests drive the app and its peer on one machine).
pub const TEST_LOOPBACK_ENV: &str = "HOMELINE_TEST_LOOPBACK_MEDIA";

#[derive(Debug, Clone, Default)]
pub struct MediaOptions {
    /// A WAV file played as the microphone (headless use, tests). Takes the
    /// place of the microphone device when set.
    pub mic_wav: Option<PathBuf>,
    /// A folder where what each call receives is written as `<call>.wav`
    /// (besides the speaker, when devices are on).
    pub record_dir: Option<PathBuf>,
    /// STUN/TURN servers (none are added behind the user's back).
    pub ice_servers: Vec<IceServer>,
    /// Offer loopback candidates: only for calls between programs on one machine (tests).
    pub loopback_candidates: bool,
    /// Use the sound system's microphone and speaker (the desktop app). Off:
    /// silence and nothing heard, unless files are configured (CLI, tests).
    pub use_devices: bool,
    /// The microphone's device id (from `homeline_media::device::list_devices`);
    /// `None`: the system default.
    pub input_device: Option<String>,
    /// The speaker's or headset's device id; `None`: the system default.
    pub output_device: Option<String>,
    /// Without `input_device`: the microphones to use, most preferred first (the settings'
    /// list; shared, so a change reaches calls in progress). Empty: the system default.
    pub input_preference: DevicePreference,
    /// Without `output_device`: the speakers to use, most preferred first.
    pub output_preference: DevicePreference,
    /// The codecs to offer and accept, most preferred first; empty: every
    /// codec this build has, in its default order (Opus, PCMU, PCMA).
    pub codecs: Vec<CodecKind>,
    /// Echo cancellation, noise suppression and gain control on a device microphone
    /// (not on a WAV file: tests hear exactly what they sent). Shared: a change reaches
    /// calls in progress.
    pub processing: ProcessingControl,
    /// Publish each call's microphone and speaker levels (`AudioLevels`, 20 a second):
    /// the desktop shows meters; off by default (a CLI reads every event).
    pub audio_levels: bool,
    /// Where the calls' level and muted-speech events go (the engine sets its own).
    pub events: Option<broadcast::Sender<EngineEvent>>,
}

impl MediaOptions {
    /// The desktop app's options: real devices (system defaults), and loopback
    /// candidates when `HOMELINE_TEST_LOOPBACK_MEDIA=1` (tests).
    pub fn desktop() -> Self {
        let loopback = std::env::var(TEST_LOOPBACK_ENV).is_ok_and(|v| matches!(v.trim(), "1" | "true" | "yes"));
        Self { use_devices: true, loopback_candidates: loopback, audio_levels: true, ..Self::default() }
    }

    pub fn session_config(&self) -> SessionConfig {
        let mut config = if self.loopback_candidates { SessionConfig::loopback() } else { SessionConfig::default() };
        config.ice_servers = self.ice_servers.clone();
        if !self.codecs.is_empty() {
            config.codecs = self.codecs.clone();
        }
        config
    }

    /// Reads a codec order such as `pcmu,opus` (names as in SDP, any case).
    pub fn parse_codecs(list: &str) -> Result<Vec<CodecKind>, String> {
        let mut codecs = Vec::new();
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            let codec = CodecKind::from_name(name)
                .ok_or_else(|| format!("unknown codec {name:?}: choose from opus, pcmu, pcma"))?;
            if !codecs.contains(&codec) {
                codecs.push(codec);
            }
        }
        if codecs.is_empty() {
            return Err("no codec given: list one or more of opus, pcmu, pcma".to_owned());
        }
        Ok(codecs)
    }

    /// The audio ends for one call. A file or a device that cannot be opened
    /// falls back to silence (or nothing heard) and says why.
    ///
    /// Opening a device waits for the sound server (bounded); on a
    /// multi-threaded Tokio runtime that wait is announced with
    /// `block_in_place`, so other tasks carry on.
    pub fn media_io(&self, call_id: &str) -> (MediaIo, Vec<String>) {
        let mut problems = Vec::new();
        // The echo canceller's reference: what the speaker plays (the recording is not heard).
        let mut reference = None;
        let source: Box<dyn AudioSource> = match &self.mic_wav {
            Some(path) => match WavFileSource::open(path, AtEnd::Loop) {
                Ok(source) => Box::new(source),
                Err(e) => {
                    problems.push(format!("The microphone file {} could not be read ({e}); sending silence.", path.display()));
                    Box::new(SilenceSource)
                }
            },
            None if self.use_devices => match blocking(|| {
                let tell = device_notice(self.events.clone(), "microphone");
                match &self.input_device {
                    Some(id) => FollowingSource::open(Some(id), tell),
                    None => FollowingSource::follow(&self.input_preference, tell),
                }
            }) {
                Ok(mic) => {
                    let (processor, feed) = controlled_processing(self.processing.clone());
                    reference = Some(feed);
                    Box::new(processor.wrap(Box::new(mic)))
                }
                Err(e) => {
                    problems.push(format!("{e} The other side hears silence."));
                    Box::new(SilenceSource)
                }
            },
            None => Box::new(SilenceSource),
        };
        let recorder: Option<Box<dyn AudioSink>> = self.record_dir.as_ref().and_then(|dir| {
            let name: String = call_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(80).collect();
            let path = dir.join(format!("{name}.wav"));
            match std::fs::create_dir_all(dir).map_err(|e| e.to_string()).and_then(|()| WavRecorder::create(&path).map_err(|e| e.to_string())) {
                Ok(recorder) => Some(Box::new(recorder) as Box<dyn AudioSink>),
                Err(e) => {
                    problems.push(format!("The recording {} could not be created ({e}).", path.display()));
                    None
                }
            }
        });
        let speaker: Option<Box<dyn AudioSink>> = if self.use_devices {
            let tell = device_notice(self.events.clone(), "speaker");
            match blocking(|| match &self.output_device {
                Some(id) => FollowingSink::open(Some(id), tell),
                None => FollowingSink::follow(&self.output_preference, tell),
            }) {
                Ok(speaker) => Some(match reference {
                    Some(feed) => Box::new(feed.tap(Box::new(speaker))),
                    None => Box::new(speaker),
                }),
                Err(e) => {
                    problems.push(format!("{e} The call goes on without sound."));
                    None
                }
            }
        } else {
            None
        };
        let sink: Box<dyn AudioSink> = match (speaker, recorder) {
            (Some(a), Some(b)) => Box::new(Tee(vec![a, b])),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => Box::new(NullSink::default()),
        };
        let (source, sink) = match &self.events {
            Some(events) => crate::audio_levels::metered(call_id, source, sink, events.clone(), self.audio_levels),
            None => (source, sink),
        };
        (MediaIo { source, sink }, problems)
    }
}

/// Hot-plug: a device in use went and the default took over, or it came back. Said as a notice.
pub(crate) fn device_notice(events: Option<broadcast::Sender<EngineEvent>>, what: &'static str) -> impl Fn(DeviceChange) + Send + 'static {
    move |change| {
        let message = match change {
            DeviceChange::FellBack { lost, now } => format!("The {what} {lost} is gone: {now} is used instead."),
            DeviceChange::Returned { id } => format!("The {what} {id} is back and in use again."),
            DeviceChange::Switched { id } => format!("The {what} is now {id}."),
        };
        if let Some(events) = &events {
            let _ = events.send(EngineEvent::Notice { message });
        }
    }
}

/// Runs `f` (which waits on the sound server) without starving a Tokio
/// worker: `block_in_place` on a multi-threaded runtime, else directly.
fn blocking<T>(f: impl FnOnce() -> T) -> T {
    match tokio::runtime::Handle::try_current() {
        Ok(h) if h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread => tokio::task::block_in_place(f),
        _ => f(),
    }
}

/// Every frame to several sinks (speaker and recording).
struct Tee(Vec<Box<dyn AudioSink>>);

impl AudioSink for Tee {
    fn write_frame(&mut self, frame: &Frame) {
        for sink in &mut self.0 {
            sink.write_frame(frame);
        }
    }
    fn finish(&mut self) {
        for sink in &mut self.0 {
            sink.finish();
        }
    }
}

// ----- the echo test ----------------------------------------------------------

/// How long the echo test listens, and the delay before you hear yourself.
pub const ECHO_TEST_SECONDS: u64 = 10;

/// The running echo test (one per process: there is one set of audio devices)
/// and its generation, so a finished test never clears a newer one.
static ECHO_TEST: Mutex<Option<(u64, EchoTest)>> = Mutex::new(None);
static ECHO_GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

fn echo_slot() -> std::sync::MutexGuard<'static, Option<(u64, EchoTest)>> {
    ECHO_TEST.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Starts the echo test on `input`/`output` (device ids, `None`: system
/// defaults): the microphone comes back through Opus after about a second, for
/// ten seconds. A test already running is replaced. Start and end are
/// announced as `Notice` events (in words) and `EchoTest` events (the microphone
/// is open while `running`); the sentence to show is returned.
pub async fn start_echo_test(
    input: Option<String>,
    output: Option<String>,
    processing: ProcessingSettings,
    events: broadcast::Sender<EngineEvent>,
) -> Result<String, EngineError> {
    stop_echo_test();
    let opened = tokio::task::spawn_blocking(move || -> Result<(DeviceSource, DeviceSink), DeviceError> {
        let mic = DeviceSource::open(input.as_deref())?;
        let speaker = DeviceSink::open(output.as_deref())?;
        Ok((mic, speaker))
    })
    .await
    .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The echo test could not start: {e}")))?;
    let (mic, speaker) = opened.map_err(|e| EngineError::new(ErrorCode::NotAvailable, format!("The echo test cannot start. {e}")))?;
    tracing::info!(mic = mic.id(), speaker = speaker.id(), "echo test");
    let config = EchoTestConfig { duration: std::time::Duration::from_secs(ECHO_TEST_SECONDS), ..EchoTestConfig::default() };
    let generation = ECHO_GENERATION.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let end_events = events.clone();
    let (mic_stats, speaker_stats) = (mic.counters(), speaker.counters());
    // The echo canceller (when on) keeps the played-back voice from going round again; noise
    // suppression and gain control stay off so the test lets you hear your microphone as it is.
    let echo_only = ProcessingSettings { noise_suppression: false, auto_gain: false, ..processing };
    let (processor, feed) = controlled_processing(ProcessingControl::new(echo_only));
    let test = EchoTest::start(Box::new(processor.wrap(Box::new(mic))), Box::new(feed.tap(Box::new(speaker))), config, move |report| {
        tracing::info!(?report, mic = ?mic_stats.snapshot(), speaker = ?speaker_stats.snapshot(), "echo test ended");
        let message = if report.stopped { "The echo test was stopped." } else { "The echo test has ended." };
        let _ = end_events.send(EngineEvent::Notice { message: message.to_owned() });
        let mut slot = echo_slot();
        if slot.as_ref().is_some_and(|(g, _)| *g == generation) {
            *slot = None;
        }
        // Under the slot's lock: a test replacing this one has either not announced itself
        // yet (this says false, then it says true) or has (this says true again).
        let running = slot.as_ref().is_some_and(|(_, t)| t.is_running());
        let _ = end_events.send(EngineEvent::EchoTest { running });
    })
    .map_err(|e| EngineError::new(ErrorCode::NotAvailable, format!("The echo test cannot start. {e}")))?;
    {
        let mut slot = echo_slot();
        *slot = Some((generation, test));
        // It may have ended already (its end said false before it was in the slot).
        let running = slot.as_ref().is_some_and(|(_, t)| t.is_running());
        let _ = events.send(EngineEvent::EchoTest { running });
    }
    let message = format!("Speak now: you will hear yourself back in a second. ({ECHO_TEST_SECONDS} s)");
    let _ = events.send(EngineEvent::Notice { message: message.clone() });
    Ok(message)
}

/// Ends a running echo test (its end is announced as usual). `false`: none was running.
pub fn stop_echo_test() -> bool {
    let test = echo_slot().take();
    match test {
        Some((_, test)) => {
            test.stop();
            true
        }
        None => false,
    }
}

/// Whether an echo test is running now.
pub fn echo_test_running() -> bool {
    echo_slot().as_ref().is_some_and(|(_, t)| t.is_running())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_devices_off_and_the_desktop_turns_them_on() {
        assert!(!MediaOptions::default().use_devices);
        assert!(MediaOptions::desktop().use_devices);
    }

    #[test]
    fn without_devices_and_files_calls_get_silence_and_no_problems() {
        let (_io, problems) = MediaOptions::default().media_io("call-1");
        assert!(problems.is_empty());
    }

    #[test]
    fn a_device_that_is_not_there_falls_back_and_says_so() {
        let options = MediaOptions {
            use_devices: true,
            input_device: Some("alsa:homeline-no-such-mic".into()),
            output_device: Some("alsa:homeline-no-such-speaker".into()),
            ..MediaOptions::default()
        };
        let (_io, problems) = options.media_io("call-2");
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].contains("homeline-no-such-mic") || problems[0].contains("sound system"), "{problems:?}");
    }

    #[test]
    fn a_codec_order_sets_what_the_session_offers() {
        let codecs = MediaOptions::parse_codecs("PCMU, opus,pcmu").unwrap_or_default();
        assert_eq!(codecs, vec![CodecKind::Pcmu, CodecKind::Opus]);
        let options = MediaOptions { codecs, ..MediaOptions::default() };
        assert_eq!(options.session_config().codecs, vec![CodecKind::Pcmu, CodecKind::Opus]);
        assert_eq!(MediaOptions::default().session_config().codecs, CodecKind::ALL.to_vec());
        assert!(MediaOptions::parse_codecs("g729").is_err_and(|e| e.contains("g729")));
        assert!(MediaOptions::parse_codecs(" , ").is_err());
    }

    #[test]
    fn stopping_when_nothing_runs_is_harmless() {
        assert!(!stop_echo_test());
        assert!(!echo_test_running());
    }
}
