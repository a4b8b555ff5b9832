//! The microphone's voice processing switches (echo cancellation, noise suppression,
//! automatic gain): kept in the settings, applied to calls in progress at once.

use crate::engine::Engine;
use crate::error::EngineError;
use crate::settings::AudioSettings;

impl Engine {
    /// The voice processing switches as saved.
    pub fn audio_processing(&self) -> AudioSettings {
        self.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .audio
    }

    /// Saves the switches and applies them to the calls and echo test running now
    /// (from their next 20 ms frame) and to every later one. Returns what was saved.
    pub fn set_audio_processing(&self, audio: AudioSettings) -> Result<AudioSettings, EngineError> {
        self.settings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .audio = audio;
        self.telephony.media_options().processing.set(audio.into());
        self.save_settings()?;
        Ok(audio)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::EngineConfig;
    use crate::media_options::MediaOptions;
    use homeline_store::{AppDirs, Keychain};

    #[test]
    fn switches_are_saved_and_reach_the_media_at_the_next_start() {
        let dir =
            std::env::temp_dir().join(format!("homeline-audio-settings-{}", std::process::id()));
        let config = || EngineConfig {
            dirs: Some(AppDirs::under(&dir)),
            keychain: Keychain::in_memory(),
            media: MediaOptions::default(),
        };
        let engine = Engine::open(config());
        assert_eq!(engine.audio_processing(), AudioSettings::default());
        let off = AudioSettings {
            echo_cancellation: false,
            ..AudioSettings::default()
        };
        assert_eq!(engine.set_audio_processing(off).unwrap(), off);
        assert!(
            !engine
                .telephony
                .media_options()
                .processing
                .get()
                .echo_cancellation
        );
        drop(engine);
        let again = Engine::open(config());
        assert_eq!(again.audio_processing(), off);
        let media = again.telephony.media_options().processing.get();
        assert!(
            !media.echo_cancellation && media.noise_suppression && media.auto_gain,
            "{media:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
