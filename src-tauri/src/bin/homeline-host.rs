//! The tray process (`homeline-desktop`): the engine, tray icon,
//! notifications, links and updates, without WebKit. `homeline` (the Tauri
//! window binary) hands over to it at launch; it starts `homeline --window`
//! when the dialer is opened.

fn main() {
    std::process::exit(homeline_desktop::run());
}
