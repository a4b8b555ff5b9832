//! `homeline`: the app (crates/desktop) — the engine, tray icon,
//! notifications, links and updates, in a process that never links WebKit.
//! It starts `homeline-window` (src/main.rs) when the dialer is opened.

fn main() {
    // The bundler records the package type (deb, rpm) in the main binary by
    // patching tauri-utils' marker; the updater reads it from the environment.
    let bundle = match tauri_utils::platform::bundle_type() {
        Some(tauri_utils::config::BundleType::Deb) => Some("deb"),
        Some(tauri_utils::config::BundleType::Rpm) => Some("rpm"),
        Some(tauri_utils::config::BundleType::AppImage) => Some("appimage"),
        _ => None,
    };
    if let Some(bundle) = bundle {
        // Single-threaded still: nothing else reads the environment yet.
        std::env::set_var(homeline_desktop::update::BUNDLE_TYPE_ENV, bundle);
    }
    std::process::exit(homeline_desktop::run());
}
