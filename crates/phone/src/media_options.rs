//! Where a call's audio comes from and goes to, and how its media connects.

use std::path::PathBuf;

use homeline_media::frame::{NullSink, SilenceSource};
use homeline_media::wav::{AtEnd, WavFileSource, WavRecorder};
use homeline_media::{AudioSink, AudioSource};
use homeline_rtc::{IceServer, MediaIo, SessionConfig};

#[derive(Debug, Clone, Default)]
pub struct MediaOptions {
    /// A WAV file played as the microphone (headless use, tests). `None`:
    /// silence until audio devices are wired in.
    pub mic_wav: Option<PathBuf>,
    /// A folder where what each call receives is written as `<call>.wav`.
    pub record_dir: Option<PathBuf>,
    /// STUN/TURN servers (none are added behind the user's back).
    pub ice_servers: Vec<IceServer>,
    /// Offer loopback candidates: only for calls between programs on one machine (tests).
    pub loopback_candidates: bool,
}

impl MediaOptions {
    pub fn session_config(&self) -> SessionConfig {
        let mut config = if self.loopback_candidates { SessionConfig::loopback() } else { SessionConfig::default() };
        config.ice_servers = self.ice_servers.clone();
        config
    }

    /// The audio ends for one call. A file that cannot be opened falls back
    /// to silence and says why.
    pub fn media_io(&self, call_id: &str) -> (MediaIo, Vec<String>) {
        let mut problems = Vec::new();
        let source: Box<dyn AudioSource> = match &self.mic_wav {
            Some(path) => match WavFileSource::open(path, AtEnd::Loop) {
                Ok(source) => Box::new(source),
                Err(e) => {
                    problems.push(format!("The microphone file {} could not be read ({e}); sending silence.", path.display()));
                    Box::new(SilenceSource)
                }
            },
            None => Box::new(SilenceSource),
        };
        let sink: Box<dyn AudioSink> = match &self.record_dir {
            Some(dir) => {
                let name: String = call_id.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).take(80).collect();
                let path = dir.join(format!("{name}.wav"));
                match std::fs::create_dir_all(dir).map_err(|e| e.to_string()).and_then(|()| WavRecorder::create(&path).map_err(|e| e.to_string())) {
                    Ok(recorder) => Box::new(recorder),
                    Err(e) => {
                        problems.push(format!("The recording {} could not be created ({e}).", path.display()));
                        Box::new(NullSink::default())
                    }
                }
            }
            None => Box::new(NullSink::default()),
        };
        (MediaIo { source, sink }, problems)
    }
}
