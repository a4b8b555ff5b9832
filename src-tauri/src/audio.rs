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
