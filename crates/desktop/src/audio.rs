//! The Audio settings section's device list (read from the sound system
//! each time the section opens: devices come and go).

use homeline_phone::{EngineError, ErrorCode};
use serde::Serialize;

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioDevice {
    pub id: String,
    pub name: String,
    pub is_default: bool,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioDevices {
    /// `pulseaudio` or `alsa`.
    pub host: String,
    pub inputs: Vec<AudioDevice>,
    pub outputs: Vec<AudioDevice>,
}

pub async fn list_audio_devices() -> Result<AudioDevices, EngineError> {
    // The sound system may take a moment to answer: not on the IPC thread.
    let listed = tokio::task::spawn_blocking(homeline_media::device::list_devices)
        .await
        .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The device list could not be read: {e}.")))?;
    let list = listed.map_err(|e| EngineError::new(ErrorCode::NotAvailable, format!("No sound devices: {e}.")))?;
    let convert = |d: Vec<homeline_media::device::DeviceInfo>| d.into_iter().map(|d| AudioDevice { id: d.id, name: d.name, is_default: d.is_default }).collect();
    Ok(AudioDevices { host: list.host, inputs: convert(list.inputs), outputs: convert(list.outputs) })
}

/// The Audio section's voice processing switches.
#[derive(Debug, Clone, Copy, Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioProcessing {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
}

impl From<homeline_phone::settings::AudioSettings> for AudioProcessing {
    fn from(a: homeline_phone::settings::AudioSettings) -> Self {
        Self { echo_cancellation: a.echo_cancellation, noise_suppression: a.noise_suppression, auto_gain: a.auto_gain }
    }
}

pub fn get_audio_processing(engine: &homeline_phone::Engine) -> AudioProcessing {
    engine.audio_processing().into()
}

/// Saves the switches and applies them at once, calls in progress included; resolves to what was saved.
pub fn set_audio_processing(
    engine: &homeline_phone::Engine,
    value: AudioProcessing,
) -> Result<AudioProcessing, EngineError> {
    let audio = homeline_phone::settings::AudioSettings {
        echo_cancellation: value.echo_cancellation,
        noise_suppression: value.noise_suppression,
        auto_gain: value.auto_gain,
    };
    engine.set_audio_processing(audio).map(AudioProcessing::from)
}

/// Which devices each role uses, most preferred first (empty: the system default), and
/// the ringtone (`null`: the generated ring).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AudioChoice {
    pub input: Vec<String>,
    pub output: Vec<String>,
    pub ringer: Vec<String>,
    pub ringtone: Option<String>,
}

impl From<homeline_phone::settings::AudioDevices> for AudioChoice {
    fn from(d: homeline_phone::settings::AudioDevices) -> Self {
        Self { input: d.input, output: d.output, ringer: d.ringer, ringtone: d.ringtone.map(|p| p.to_string_lossy().into_owned()) }
    }
}

pub fn get_audio_choice(engine: &homeline_phone::Engine) -> AudioChoice {
    engine.audio_devices().into()
}

/// One role's ordered preference (device ids from `list_audio_devices`; `[]`: the system
/// default). Saved and applied at once (calls in progress move); resolves to every role.
pub fn set_audio_device(
    engine: &homeline_phone::Engine,
    role: homeline_phone::audio_settings::DeviceRole,
    preference: Vec<String>,
) -> Result<AudioChoice, EngineError> {
    // The engine checks each id and the count (8); this only keeps a hostile list small.
    if preference.len() > 64 {
        return Err(EngineError::new(ErrorCode::Settings, "At most 8 devices can be listed for one role."));
    }
    engine.set_audio_device(role, preference).map(AudioChoice::from)
}

/// The ringtone: a WAV file's path, or `null` for the generated ring. A file the engine
/// cannot play is refused with the reason, and nothing changes.
pub fn set_ringtone(engine: &homeline_phone::Engine, path: Option<String>) -> Result<AudioChoice, EngineError> {
    engine.set_ringtone(ringtone_path(path.as_deref())?).map(AudioChoice::from)
}

/// A ringtone path as the UI sent it: blank is the generated ring; anything else must be
/// a full path of sane length (the engine then says whether the file plays).
pub fn ringtone_path(path: Option<&str>) -> Result<Option<std::path::PathBuf>, EngineError> {
    match path.map(str::trim) {
        None | Some("") => Ok(None),
        Some(p) if p.len() > 4096 || p.chars().any(char::is_control) => {
            Err(EngineError::new(ErrorCode::Settings, "That is not a file path: type the full path of a WAV file."))
        }
        Some(p) if !std::path::Path::new(p).is_absolute() => {
            Err(EngineError::new(ErrorCode::Settings, "Type the full path of the WAV file (starting with /)."))
        }
        Some(p) => Ok(Some(std::path::PathBuf::from(p))),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ringtone_paths_are_checked_before_the_engine_reads_them() {
        assert_eq!(ringtone_path(None).unwrap(), None);
        assert_eq!(ringtone_path(Some("  ")).unwrap(), None);
        assert_eq!(ringtone_path(Some(" /home/a/ring.wav ")).unwrap(), Some("/home/a/ring.wav".into()));
        assert!(ringtone_path(Some("ring.wav")).unwrap_err().message.contains("full path"));
        assert!(ringtone_path(Some("/a\nb.wav")).is_err());
        assert!(ringtone_path(Some(&format!("/{}", "a".repeat(5000)))).is_err());
    }

    #[test]
    fn the_choice_goes_to_the_ui_in_camel_case_with_empty_lists() {
        let saved = homeline_phone::settings::AudioDevices { input: vec!["usb:1".into()], ringtone: Some("/r.wav".into()), ..Default::default() };
        let json = serde_json::to_value(AudioChoice::from(saved)).unwrap();
        assert_eq!(json, serde_json::json!({ "input": ["usb:1"], "output": [], "ringer": [], "ringtone": "/r.wav" }));
    }
}
