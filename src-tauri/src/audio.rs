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

#[tauri::command]
pub fn get_audio_choice(engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>) -> AudioChoice {
    engine.audio_devices().into()
}

/// One role's ordered preference (device ids from `list_audio_devices`; `[]`: the system
/// default). Saved and applied at once (calls in progress move); resolves to every role.
#[tauri::command]
pub fn set_audio_device(
    engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>,
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
#[tauri::command]
pub fn set_ringtone(engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>, path: Option<String>) -> Result<AudioChoice, EngineError> {
    engine.set_ringtone(ringtone_path(path.as_deref())?).map(AudioChoice::from)
}

/// "Choose a file…" for the ringtone: GTK's file dialog (the one the desktop's
/// other GTK apps show), WAV files shown. Resolves to the chosen path, or `null` when the user cancelled; the UI
/// then saves it with `set_ringtone`, which checks the file.
#[tauri::command]
pub async fn choose_ringtone(window: tauri::WebviewWindow) -> Result<Option<String>, EngineError> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let parent = window.clone();
    window
        .run_on_main_thread(move || {
            let _ = tx.send(ringtone_dialog(&parent));
        })
        .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The file dialog could not open: {e}.")))?;
    rx.await.map_err(|_| EngineError::new(ErrorCode::Internal, "The file dialog closed without an answer."))?
}

#[cfg(target_os = "linux")]
fn ringtone_dialog(window: &tauri::WebviewWindow) -> Result<Option<String>, EngineError> {
    use gtk::prelude::*;
    let parent = window.gtk_window().map_err(|e| EngineError::new(ErrorCode::Internal, format!("The file dialog could not open: {e}.")))?;
    let dialog = gtk::FileChooserDialog::with_buttons(
        Some("Choose a ringtone"),
        Some(&parent),
        gtk::FileChooserAction::Open,
        &[("Cancel", gtk::ResponseType::Cancel), ("Use", gtk::ResponseType::Accept)],
    );
    // Enter on a typed path or a selected file uses it.
    dialog.set_default_response(gtk::ResponseType::Accept);
    let wav = gtk::FileFilter::new();
    wav.set_name(Some("WAV audio"));
    for mime in ["audio/x-wav", "audio/wav", "audio/vnd.wave"] {
        wav.add_mime_type(mime);
    }
    wav.add_pattern("*.wav");
    wav.add_pattern("*.WAV");
    dialog.add_filter(wav);
    let chosen = (dialog.run() == gtk::ResponseType::Accept).then(|| dialog.filename()).flatten();
    dialog.close();
    Ok(chosen.map(|p| p.to_string_lossy().into_owned()))
}

#[cfg(not(target_os = "linux"))]
fn ringtone_dialog(_window: &tauri::WebviewWindow) -> Result<Option<String>, EngineError> {
    Err(EngineError::new(ErrorCode::NotAvailable, "Type the ringtone's path: this system's file dialog is not wired yet."))
}

/// Whether this window's "destroyed" hook is in place (one per window; a reopened
/// window is a new one and gets its own).
static METER_HOOKED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Settings → Audio opened: the microphone calls would use is opened for the level meter
/// (`microphoneLevel` events, 20 a second) until `stop_mic_meter`, a call, or the window
/// closing (its webview destroyed: nobody is looking). Refused during a call.
#[tauri::command]
pub async fn start_mic_meter(
    engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>,
    window: tauri::WebviewWindow,
) -> Result<homeline_phone::mic_meter::MicMeterView, EngineError> {
    use std::sync::atomic::Ordering;
    if !METER_HOOKED.swap(true, Ordering::SeqCst) {
        let engine = engine.inner().clone();
        window.on_window_event(move |event| {
            if let tauri::WindowEvent::Destroyed = event {
                METER_HOOKED.store(false, Ordering::SeqCst);
                if engine.stop_mic_meter() {
                    tracing::info!("the window closed: the microphone meter is closed");
                }
            }
        });
    }
    engine.start_mic_meter().await
}

/// Settings → Audio closed: the meter's microphone is closed (resolves once it is).
/// `false`: it was not open.
#[tauri::command]
pub async fn stop_mic_meter(engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>) -> Result<bool, EngineError> {
    let engine = engine.inner().clone();
    tauri::async_runtime::spawn_blocking(move || engine.stop_mic_meter())
        .await
        .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The microphone meter could not be stopped: {e}.")))
}

/// The meter's microphone while it is open (`null`: closed): a reopened window asks.
#[tauri::command]
pub fn mic_meter_state(engine: tauri::State<'_, std::sync::Arc<homeline_phone::Engine>>) -> Option<homeline_phone::mic_meter::MicMeterView> {
    engine.mic_meter()
}

/// A ringtone path as the UI sent it: blank is the generated ring; anything else must be
/// a full path of sane length (the engine then says whether the file plays).
fn ringtone_path(path: Option<&str>) -> Result<Option<std::path::PathBuf>, EngineError> {
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
