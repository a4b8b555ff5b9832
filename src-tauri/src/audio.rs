//! "Choose a file…" for the ringtone: the one command the window answers
//! itself, since GTK's file dialog belongs over the window. Everything else
//! goes to the tray process (`host_link`).

use homeline_phone::{EngineError, ErrorCode};

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

