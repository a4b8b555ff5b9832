//! The dialer window's process. Homeline runs as two processes (issue 6):
//! `homeline-host` (crates/desktop) holds the engine, the tray icon,
//! notifications, links and updates and never maps WebKit; this Tauri app is
//! only the window, started by the host as `homeline --window` when the user
//! opens it and ended when they close it. Every UI command is forwarded to
//! the host (`host_link`), and the host's events come back as Tauri events.
//!
//! Started any other way (the menu, the login item, a clicked link),
//! `homeline` hands over to `homeline-host` at once (`exec`), so what stays
//! in memory is the WebKit-free process.

mod audio;
mod display;
mod host_link;
mod window;

use homeline_desktop::window_link::{SOCKET_ENV, WINDOW_ARG};

/// Run the app; returns the process exit code.
pub fn run() -> i32 {
    let args: Vec<String> = std::env::args().collect();
    if args.iter().skip(1).any(|a| a == WINDOW_ARG) {
        return run_window();
    }
    hand_over_to_host(&args)
}

/// Become `homeline-host` (same arguments and environment), telling it how
/// this binary was installed (the bundler records it in this binary only).
fn hand_over_to_host(args: &[String]) -> i32 {
    use std::os::unix::process::CommandExt;
    let host = std::env::current_exe().unwrap_or_else(|_| "homeline".into()).with_file_name("homeline-host");
    let mut command = std::process::Command::new(&host);
    command.args(args.iter().skip(1));
    let bundle = match tauri::utils::platform::bundle_type() {
        Some(tauri::utils::config::BundleType::Deb) => Some("deb"),
        Some(tauri::utils::config::BundleType::Rpm) => Some("rpm"),
        Some(tauri::utils::config::BundleType::AppImage) => Some("appimage"),
        _ => None,
    };
    if let Some(bundle) = bundle {
        command.env(homeline_desktop::update::BUNDLE_TYPE_ENV, bundle);
    }
    let error = command.exec();
    eprintln!("Homeline could not start: {} did not run ({error}); reinstall Homeline.", host.display());
    1
}

fn run_window() -> i32 {
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
        eprintln!("homeline {WINDOW_ARG} is started by Homeline itself; run `homeline` instead.");
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
