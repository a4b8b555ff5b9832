//! The desktop shell: windows, and the bridge between the UI and the engine.
//! Thin on purpose: every decision lives in `homeline-phone`.

mod commands;
mod display;

use std::sync::Arc;

use homeline_phone::{Engine, EngineConfig};
use tauri::{Emitter, Manager};

/// Name of the Tauri event that carries every [`homeline_phone::EngineEvent`].
pub const ENGINE_EVENT: &str = "engine";

/// Run the app; returns the process exit code.
pub fn run() -> i32 {
    if let Err(message) = display::check() {
        eprintln!("{message}");
        return 2;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HOMELINE_LOG").unwrap_or_else(|_| "info".into()))
        .try_init();

    let engine = Arc::new(Engine::open(EngineConfig::for_user()));
    let for_exit = engine.clone();
    let result = tauri::Builder::default()
        .manage(engine.clone())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::dialer_press,
            commands::dialer_backspace,
            commands::dialer_paste,
            commands::dialer_clear,
            commands::dial,
            commands::start_echo_test,
            commands::open_account_setup,
            commands::list_accounts,
            commands::save_account,
            commands::remove_account,
            commands::set_default_account,
        ])
        .setup(move |app| {
            forward_engine_events(app.handle().clone(), &engine);
            let engine = engine.clone();
            tauri::async_runtime::spawn(async move { engine.start().await });
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"));
    let app = match result {
        Ok(app) => app,
        Err(e) => {
            eprintln!("Homeline could not start: {e}");
            return 1;
        }
    };
    app.run(move |_, event| {
        // Unregister on quit, so the PBX stops ringing a phone that is gone.
        if let tauri::RunEvent::Exit = event {
            tauri::async_runtime::block_on(for_exit.shutdown());
        }
    });
    0
}

/// Engine events go to the UI unchanged.
fn forward_engine_events(app: tauri::AppHandle, engine: &Engine) {
    let mut events = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    if app.get_webview_window("main").is_some() {
                        let _ = app.emit(ENGINE_EVENT, &event);
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("UI fell behind by {n} engine events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
