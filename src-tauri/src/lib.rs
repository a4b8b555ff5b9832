//! The desktop shell: windows, and the bridge between the UI and the engine.
//! Thin on purpose: every decision lives in `homeline-phone`.

mod audio;
mod commands;
mod conference;
mod contacts;
mod display;
mod link_call;
mod links;
mod network;
mod notifications;
mod prefs;
mod shortcuts;
mod tray;
mod update;
mod tray_menu;
mod tray_status;
mod window;

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
    display::disable_gtk_gl();
    display::lighten_webkit();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HOMELINE_LOG").unwrap_or_else(|_| "info".into()))
        .try_init();

    let engine = Arc::new(Engine::open(EngineConfig::for_user()));
    let for_exit = engine.clone();
    let args: Vec<String> = std::env::args().collect();
    let launch_link = links::call_target(&args);
    let desktop_prefs = prefs::Prefs::load(homeline_store::AppDirs::for_user().as_ref());
    let start_hidden = prefs::start_hidden(&desktop_prefs.get(), &args);
    let for_second_launch = engine.clone();
    let result = tauri::Builder::default()
        // First: a second launch (or a clicked tel:/sip: link) is handed to
        // the running instance, which shows its window.
        .plugin(tauri_plugin_single_instance::init(move |app, args, _cwd| {
            window::show_main(app);
            if let Some(link) = links::call_target(&args) {
                link_call::handle(app, &for_second_launch, &link);
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_autostart::Builder::new().arg(prefs::MINIMISED_ARG).build())
        .plugin(tauri_plugin_global_shortcut::Builder::new().build())
        .manage(desktop_prefs)
        .plugin(tauri_plugin_updater::Builder::new().build())
        .manage(engine.clone())
        .invoke_handler(tauri::generate_handler![
            commands::app_info,
            commands::dialer_press,
            commands::dialer_backspace,
            commands::dialer_paste,
            commands::dialer_clear,
            commands::dialer_view,
            commands::dial,
            commands::start_echo_test,
            commands::echo_test_running,
            commands::list_calls,
            commands::answer,
            commands::reject,
            commands::hangup,
            commands::hold,
            commands::mute,
            commands::send_dtmf,
            commands::transfer,
            conference::merge_calls,
            conference::split_call,
            commands::set_do_not_disturb,
            commands::list_accounts,
            commands::save_account,
            commands::remove_account,
            commands::set_default_account,
            commands::list_history,
            commands::delete_history,
            commands::clear_history,
            contacts::list_contacts,
            contacts::save_contact,
            contacts::delete_contact,
            contacts::set_favorite,
            contacts::import_vcard,
            contacts::export_vcard,
            contacts::contact_for,
            prefs::get_desktop_prefs,
            prefs::set_desktop_prefs,
            prefs::about_info,
            audio::list_audio_devices,
            audio::get_audio_processing,
            audio::set_audio_processing,
            audio::get_audio_choice,
            audio::set_audio_device,
            audio::set_ringtone,
            audio::choose_ringtone,
            audio::start_mic_meter,
            audio::stop_mic_meter,
            audio::mic_meter_state,
            network::set_account_network,
            network::network_check,
            tray::tray_menu_lines,
            tray::tray_status,
            update::update_status,
            update::update_install,
            update::update_later,
            update::update_skip,
        ])
        .setup(move |app| {
            if let Err(e) = tray::install(app.handle()) {
                // Without a tray, closing the window quits (see below).
                tracing::warn!("no tray icon: {e}");
            }
            if let Some(link) = &launch_link {
                link_call::handle(app.handle(), &engine, link);
            }
            // Start in the tray (a login item, or the preference): no window,
            // so WebKit is never started (tauri.conf.json says `create: false`).
            // Without a tray the window opens, or the app is unreachable.
            if !(start_hidden && launch_link.is_none() && app.tray_by_id("homeline").is_some()) {
                window::show_main(app.handle());
            }
            forward_engine_events(app.handle().clone(), &engine);
            if let Err(e) = shortcuts::apply(app.handle(), &prefs::current(app.handle()).shortcuts) {
                tracing::warn!("global shortcuts: {e}");
            }
            update::start(app.handle(), engine.clone());
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
    app.run(move |app, event| match event {
        // The last window closed: stay in the tray, the engine keeps running.
        tauri::RunEvent::ExitRequested { code: None, api, .. } if app.tray_by_id("homeline").is_some() => {
            api.prevent_exit();
        }
        // Unregister on quit, so the PBX stops ringing a phone that is gone.
        tauri::RunEvent::Exit => tauri::async_runtime::block_on(for_exit.shutdown()),
        _ => {}
    });
    0
}

/// Engine events go to the UI unchanged.
fn forward_engine_events(app: tauri::AppHandle, engine: &Arc<Engine>) {
    let mut events = engine.subscribe();
    let engine = engine.clone();
    let mut notices = notifications::Planner::default();
    tauri::async_runtime::spawn(async move {
        loop {
            match events.recv().await {
                Ok(event) => {
                    // Callers are shown by the name the user gave them.
                    let event = engine.with_contact_names(event);
                    tray::on_event(&app, &event);
                    // A ringing call brings the dialer back even from the
                    // tray; the reopened UI restores the call from list_calls.
                    let focused = app.get_webview_window(window::MAIN).and_then(|w| w.is_focused().ok()).unwrap_or(false);
                    if let Some(notice) = notices.plan(&event) {
                        // A window in front already shows the call.
                        if prefs::current(&app).notifications && !focused {
                            let for_answer = app.clone();
                            notifications::show(notice, engine.clone(), move || window::show_main(&for_answer));
                        }
                    }
                    if let homeline_phone::EngineEvent::CallChanged(view) = &event {
                        if view.state == homeline_phone::CallState::Incoming {
                            window::show_main(&app);
                        }
                    }
                    if app.get_webview_window(window::MAIN).is_some() {
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
