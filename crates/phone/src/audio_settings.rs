//! The microphone's voice processing switches (echo cancellation, noise suppression,
//! automatic gain), and which devices calls and the ringer use (with the ringtone): kept in
//! the settings, applied to calls in progress at once.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::engine::Engine;
use crate::error::{EngineError, ErrorCode};
use crate::settings::{AudioDevices, AudioSettings};

/// The part a device plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeviceRole {
    /// The calls' microphone.
    Input,
    /// The calls' speaker or headset (ringback plays there too).
    Output,
    /// Where incoming calls ring.
    Ringer,
}

/// How many devices one role's preference may list.
pub const MAX_PREFERRED_DEVICES: usize = 8;

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

impl Engine {
    /// The devices chosen for each role (ordered preferences; empty: the system default)
    /// and the ringtone, as saved.
    pub fn audio_devices(&self) -> AudioDevices {
        self.settings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).devices.clone()
    }

    /// Chooses the devices of one role, most preferred first: device ids from
    /// `homeline_media::device::list_devices`; `[]` or `["default"]`: the system default,
    /// followed when it changes. The first present device is used, and a preferred one that
    /// comes back is used again. Saved, and applied at once: calls in progress move within
    /// 200 ms (their device watcher reads the list), a ringtone playing now too. Returns
    /// everything saved.
    pub fn set_audio_device(&self, role: DeviceRole, preference: Vec<String>) -> Result<AudioDevices, EngineError> {
        let preference = check_preference(preference)?;
        let mut devices = self.audio_devices();
        match role {
            DeviceRole::Input => devices.input = preference,
            DeviceRole::Output => devices.output = preference,
            DeviceRole::Ringer => devices.ringer = preference,
        }
        self.store_audio_devices(devices)
    }

    /// The ringtone: a WAV file (any rate and channels, up to a minute), or `None` for the
    /// generated ring. A file that cannot be read is refused with the reason, and nothing
    /// changes. The next incoming call rings with it.
    pub fn set_ringtone(&self, path: Option<PathBuf>) -> Result<AudioDevices, EngineError> {
        self.telephony
            .ringing()
            .set_ringtone(path.as_deref())
            .map_err(|e| EngineError::new(ErrorCode::Settings, e))?;
        let mut devices = self.audio_devices();
        devices.ringtone = path;
        self.store_audio_devices(devices)
    }

    /// Everything at once (the settings screen's Save): each role checked as in
    /// [`set_audio_device`](Self::set_audio_device), the ringtone as in
    /// [`set_ringtone`](Self::set_ringtone).
    pub fn set_audio_devices(&self, devices: AudioDevices) -> Result<AudioDevices, EngineError> {
        let checked = AudioDevices {
            input: check_preference(devices.input)?,
            output: check_preference(devices.output)?,
            ringer: check_preference(devices.ringer)?,
            ringtone: self.audio_devices().ringtone,
        };
        self.store_audio_devices(checked)?;
        self.set_ringtone(devices.ringtone)
    }

    /// At start: the saved choices reach the media (a ringtone file gone since is said).
    pub(crate) fn apply_audio_devices(&self) -> Option<String> {
        let devices = self.audio_devices();
        self.apply(&devices);
        let ringing = self.telephony.ringing();
        match ringing.set_ringtone(devices.ringtone.as_deref()) {
            Ok(()) => None,
            Err(e) => Some(format!("{e} The generated ring is used instead.")),
        }
    }

    fn apply(&self, devices: &AudioDevices) {
        let media = self.telephony.media_options();
        media.input_preference.set(devices.input.clone());
        media.output_preference.set(devices.output.clone());
        self.telephony.ringing().ringer().set(devices.ringer.clone());
    }

    fn store_audio_devices(&self, devices: AudioDevices) -> Result<AudioDevices, EngineError> {
        self.apply(&devices);
        self.settings.lock().unwrap_or_else(std::sync::PoisonError::into_inner).devices = devices.clone();
        self.save_settings()?;
        Ok(devices)
    }
}

/// A role's list as typed by a program: ids trimmed, repeats dropped, cut at "default".
fn check_preference(list: Vec<String>) -> Result<Vec<String>, EngineError> {
    let bad = |m: &str| Err(EngineError::new(ErrorCode::Settings, m.to_owned()));
    let list = homeline_media::device::prefs::normalise(list);
    if list.len() > MAX_PREFERRED_DEVICES {
        return bad("At most 8 devices can be listed for one role.");
    }
    if list.iter().any(|id| id.len() > 512 || id.chars().any(char::is_control)) {
        return bad("That is not a device id: choose the device from the list.");
    }
    Ok(list)
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

    #[test]
    fn device_choices_are_checked_saved_and_shared_with_the_media() {
        let dir = std::env::temp_dir().join(format!("homeline-audio-devices-{}", std::process::id()));
        let config = || EngineConfig { dirs: Some(AppDirs::under(&dir)), keychain: Keychain::in_memory(), media: MediaOptions::default() };
        let engine = Engine::open(config());
        assert!(engine.audio_devices().is_empty(), "the system defaults until chosen");
        let list = vec![" pulseaudio:headset ".to_owned(), "pulseaudio:laptop".to_owned(), "default".to_owned(), "x".to_owned()];
        let saved = engine.set_audio_device(DeviceRole::Output, list).unwrap();
        assert_eq!(saved.output, vec!["pulseaudio:headset", "pulseaudio:laptop"]);
        assert_eq!(engine.telephony.media_options().output_preference.list(), saved.output, "calls see it");
        engine.set_audio_device(DeviceRole::Ringer, vec!["pulseaudio:speakers".into()]).unwrap();
        assert_eq!(engine.telephony.ringing().ringer().list(), vec!["pulseaudio:speakers"]);
        assert!(engine.set_audio_device(DeviceRole::Input, vec!["a\nb".into()]).is_err());
        assert!(engine.set_audio_device(DeviceRole::Input, (0..9).map(|i| i.to_string()).collect()).is_err());
        let missing = engine.set_ringtone(Some(dir.join("missing.wav"))).unwrap_err();
        assert!(missing.message.contains("missing.wav"), "{}", missing.message);
        drop(engine);
        let again = Engine::open(config());
        assert_eq!(again.audio_devices().output, vec!["pulseaudio:headset", "pulseaudio:laptop"]);
        assert_eq!(again.telephony.media_options().output_preference.list(), vec!["pulseaudio:headset", "pulseaudio:laptop"]);
        assert_eq!(again.telephony.ringing().ringer().list(), vec!["pulseaudio:speakers"]);
        assert!(again.audio_devices().ringtone.is_none());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
