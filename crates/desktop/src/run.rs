//! The tray process's start and end: one instance per user, the engine, the
//! tray icon on GTK's main loop, and the window started on demand.

use std::sync::Arc;

use homeline_phone::{CallState, Engine, EngineConfig, EngineEvent};
use homeline_store::AppDirs;

use crate::prefs::{self, Prefs};
use crate::shell::Exit;
use crate::window_link::{self, WindowLink};
use crate::{display, ipc, link_call, links, notifications, shortcuts, tray, update, Shell};

/// Run the app; returns the process exit code.
pub fn run() -> i32 {
    if let Err(message) = display::check() {
        eprintln!("{message}");
        return 2;
    }
    display::disable_gtk_gl();
    // Still one thread: the cookie is passed in the environment.
    homeline_media::pulse_cookie::prepare();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HOMELINE_LOG").unwrap_or_else(|_| "info".into()))
        .try_init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dirs = AppDirs::for_user();
    let config_dir = dirs.as_ref().map_or_else(std::env::temp_dir, |d| d.config().to_path_buf());
    let socket = ipc::socket_path(&config_dir);

    // One instance: a second launch (the menu, a clicked link) hands its
    // arguments to the running one, which shows its window.
    match ipc::hand_over(&socket, &args) {
        Ok(true) => return 0,
        Ok(false) => {}
        Err(e) => tracing::warn!("the running Homeline did not answer ({e}): starting anew"),
    }
    let listener = match window_link::bind(&socket) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("Homeline could not start: its socket {} could not be made ({e}).", socket.display());
            return 1;
        }
    };
    if gtk::init().is_err() {
        eprintln!("Homeline could not start: GTK could not open the display.");
        return 2;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_name("homeline").enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("Homeline could not start: {e}");
            return 1;
        }
    };
    let engine = Arc::new(runtime.block_on(async { Engine::open(EngineConfig::for_user()) }));
    let desktop_prefs = Prefs::load(dirs.as_ref());
    let window = WindowLink::new(socket.clone(), window_link::window_program());
    let shell = Shell::new(engine.clone(), desktop_prefs, window, runtime.handle().clone());
    let _entered = runtime.enter();

    runtime.spawn(window_link::serve(listener, shell.clone()));
    if let Err(e) = tray::install(&shell) {
        // Without a tray, closing the window quits (window_link).
        tracing::warn!("no tray icon: {e}");
    }
    let launch_link = links::call_target(&args);
    // Start in the tray (a login item, or the preference): no window, so
    // WebKit is never started. Without a tray the window opens, or the app
    // is unreachable.
    if !(prefs::start_hidden(&shell.prefs(), &args) && launch_link.is_none() && tray::installed()) {
        shell.show_window();
    }
    if let Some(link) = &launch_link {
        link_call::handle(&shell, link);
    }
    forward_engine_events(&shell);
    if let Err(e) = shortcuts::apply(&shell, &shell.prefs().shortcuts) {
        tracing::warn!("global shortcuts: {e}");
    }
    update::start(&shell);
    runtime.spawn(async move { engine.start().await });

    let waiting = shell.clone();
    let exit = Arc::new(std::sync::Mutex::new(Exit::Quit));
    let exit_seen = exit.clone();
    runtime.spawn(async move {
        let how = waiting.exit_requested().await;
        *exit_seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = how;
        // Runs on the main thread, in its loop (never on this one).
        gtk::glib::MainContext::default().spawn(async { gtk::main_quit() });
    });
    gtk::main();
    // The icon's file in $XDG_RUNTIME_DIR goes with it.
    tray::remove();

    // Unregister, so the PBX stops ringing a phone that is gone.
    shell.window().close();
    runtime.block_on(shell.engine().shutdown());
    let _ = std::fs::remove_file(&socket);
    let how = *exit.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if how == Exit::Restart {
        // The updated binary, at the same path.
        match std::process::Command::new(window_link::app_program()).args(&args).spawn() {
            Ok(_) => tracing::info!("Homeline restarted"),
            Err(e) => tracing::error!("Homeline could not restart after the update: {e}"),
        }
    }
    0
}

/// Engine events go to the tray, the notifications and the window's UI.
fn forward_engine_events(shell: &Shell) {
    let mut events = shell.engine().subscribe();
    let shell = shell.clone();
    let mut notices = notifications::Planner::default();
    let for_answer = shell.clone();
    shell.clone().spawn(async move {
        let notifier = notifications::Notifier::start(shell.engine().clone(), move || for_answer.show_window());
        loop {
            match events.recv().await {
                // A call's levels come 20 times a second and only a meter draws
                // them: a window showing none is not woken for them.
                Ok(EngineEvent::AudioLevels { .. }) if !shell.window().wants_levels() => {}
                Ok(event) => {
                    // Callers are shown by the name the user gave them.
                    let event = shell.engine().with_contact_names(event);
                    tray::on_event(&shell, &event);
                    if let EngineEvent::CallChanged(view) = &event {
                        if view.state != CallState::Incoming {
                            notifier.stopped_ringing(&view.call);
                        }
                    }
                    if let Some(notice) = notices.plan(&event) {
                        // A window in front already shows the call.
                        if shell.prefs().notifications && !shell.window_focused() {
                            notifier.show(notice);
                        }
                    }
                    // A ringing call brings the dialer back even from the
                    // tray; the reopened UI restores the call from list_calls.
                    if let EngineEvent::CallChanged(view) = &event {
                        if view.state == CallState::Incoming {
                            shell.show_window();
                        }
                    }
                    shell.emit(crate::ENGINE_EVENT, &event);
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!("the window fell behind by {n} engine events");
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
            }
        }
    });
}
