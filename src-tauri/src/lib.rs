//! The dialer window's process. Homeline runs as two processes (issue 6):
//! `homeline` (crates/desktop) holds the engine, the tray icon,
//! notifications, links and updates and never maps WebKit; this Tauri app,
//! `homeline-window`, is only the window, started by `homeline` when the user
//! opens it and ended when they close it. Every UI command is forwarded to
//! `homeline` (`host_link`), and its events come back as Tauri events.

mod audio;
mod display;
mod host_link;
mod window;

use homeline_desktop::window_link::SOCKET_ENV;

/// Run the window; returns the process exit code.
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
    let Some(socket) = std::env::var_os(SOCKET_ENV) else {
        eprintln!("homeline-window is started by Homeline itself; run `homeline` instead.");
        return 2;
    };
    let host = match host_link::HostLink::connect(std::path::Path::new(&socket)) {
        Ok(host) => host,
        Err(e) => {
            eprintln!("The Homeline window could not reach the running app: {e}");
            return 1;
        }
    };
    let forward = host.clone();
    let ringtone: Box<dyn Fn(tauri::ipc::Invoke<tauri::Wry>) -> bool + Send + Sync> = Box::new(tauri::generate_handler![audio::choose_ringtone]);
    let result = tauri::Builder::default()
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .invoke_handler(move |invoke| {
            // The file dialog opens over this window; everything else is the host's.
            if invoke.message.command() == "choose_ringtone" {
                ringtone(invoke)
            } else {
                forward.forward(invoke);
                true
            }
        })
        .setup(move |app| {
            window::open(app.handle(), &host);
            host.listen(app.handle().clone());
            Ok(())
        })
        .build(tauri::generate_context!("../tauri.conf.json"));
    match result {
        Ok(app) => {
            // The window closed: this process ends, the host keeps running.
            app.run(|_, _| {});
            0
        }
        Err(e) => {
            eprintln!("The Homeline window could not open: {e}");
            1
        }
    }
}
