//! Homeline's tray process: everything of the desktop app except the window.
//!
//! The engine, the tray icon, call notifications, global keys, clicked links,
//! login item and updates run here, in a process that never links WebKit
//! (issue 6: ≤ 40 MB in the tray). The dialer window is a separate process
//! (`homeline-window`, src-tauri) started on demand; it forwards every UI
//! command here over a local socket (`ipc`) and receives the engine's events
//! back (`window_link`). Closing the window ends that process and gives its
//! memory back; the calls and registrations stay here.

pub mod display;
pub mod dispatch;
pub mod ipc;
pub mod link_call;
pub mod links;
pub mod notifications;
pub mod prefs;
mod run;
pub mod shell;
pub mod shortcuts;
pub mod audio;
pub mod autostart;
pub mod tray;
pub mod tray_menu;
pub mod tray_status;
pub mod update;
pub mod window_link;

pub use run::run;
pub use shell::Shell;

/// Name of the window event that carries every [`homeline_phone::EngineEvent`].
pub const ENGINE_EVENT: &str = "engine";
