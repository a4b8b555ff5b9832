//! The dialer window: built from tauri.conf.json (`create: false` there, so
//! nothing opens before this process knows the host is there).

use tauri::{AppHandle, Manager, WebviewWindowBuilder};

use crate::host_link::HostLink;

pub const MAIN: &str = "main";

/// Open the window; its focus changes go to the host (a window in front
/// shows an incoming call, so no notification is needed).
pub fn open(app: &AppHandle, host: &HostLink) {
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN).cloned() else {
        tracing::error!("tauri.conf.json has no window labelled {MAIN}");
        return app.exit(1);
    };
    match WebviewWindowBuilder::from_config(app, &config).and_then(|b| b.build()) {
        Ok(window) => {
            let host = host.clone();
            window.on_window_event(move |event| {
                if let tauri::WindowEvent::Focused(focused) = event {
                    host.focus(*focused);
                }
            });
            let _ = window.set_focus();
        }
        Err(e) => {
            tracing::error!("could not open the dialer window: {e}");
            app.exit(1);
        }
    }
}

/// Show, un-minimise and focus the window (the host asked: the tray, a
/// second launch, a ringing call).
pub fn bring_to_front(app: &AppHandle) {
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
    }
}
