//! Homeline's engine: accounts, registrations, calls, and one stream of events.
//!
//! The desktop shell (`src-tauri`) and the headless CLI (`homeline-cli`) both
//! drive the engine through the same async commands and read the same
//! [`EngineEvent`] stream. Nothing in here knows about Tauri.

pub mod dialer;
pub mod engine;
pub mod error;
pub mod events;

pub use dialer::{DialString, DialerView};
pub use engine::{AppInfo, Engine};
pub use error::{EngineError, ErrorCode};
pub use events::EngineEvent;

/// The engine's version (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
