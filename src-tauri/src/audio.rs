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

#[tauri::command]
pub async fn list_audio_devices() -> Result<AudioDevices, EngineError> {
    // The sound system may take a moment to answer: not on the IPC thread.
    let listed = tauri::async_runtime::spawn_blocking(homeline_media::device::list_devices)
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

#[tauri::command]
pub fn get_audio_processing(engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>) -> AudioProcessing {
    engine.audio_processing().into()
}

/// Saves the switches and applies them at once, calls in progress included; resolves to what was saved.
#[tauri::command]
pub fn set_audio_processing(
    engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>,
    value: AudioProcessing,
) -> Result<AudioProcessing, EngineError> {
    let audio = homeline_phone::settings::AudioSettings {
        echo_cancellation: value.echo_cancellation,
        noise_suppression: value.noise_suppression,
        auto_gain: value.auto_gain,
    };
    engine.set_audio_processing(audio).map(AudioProcessing::from)
}
