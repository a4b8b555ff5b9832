//! The dialer window. Closing it destroys the webview (WebKitGTK alone holds
//! 200+ MB) while the engine keeps running in the tray; opening it again
//! rebuilds the window from the configuration, and the UI reloads its state
//! from the engine.

use tauri::{AppHandle, Manager, WebviewWindowBuilder};

pub const MAIN: &str = "main";

/// Show, un-minimise and focus the dialer, creating it if it was closed.
pub fn show_main(app: &AppHandle) {
    // The user looks at the app: missed calls count as seen.
    crate::tray::seen(app);
    if let Some(window) = app.get_webview_window(MAIN) {
        let _ = window.unminimize();
        let _ = window.show();
        let _ = window.set_focus();
        return;
    }
    let Some(config) = app.config().app.windows.iter().find(|w| w.label == MAIN).cloned() else {
        tracing::error!("tauri.conf.json has no window labelled {MAIN}");
        return;
    };
    match WebviewWindowBuilder::from_config(app, &config).and_then(|b| b.build()) {
        Ok(window) => {
            let _ = window.set_focus();
        }
        Err(e) => tracing::error!("could not open the dialer window: {e}"),
    }
}
