//! Homeline's engine: accounts, registrations, calls, and one stream of events.
//!
//! The desktop shell (`src-tauri`) and the headless CLI (`homeline-cli`) both
//! drive the engine through the same async commands and read the same
//! [`EngineEvent`] stream. Nothing in here knows about Tauri.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod accounts;
pub mod audio_levels;
pub mod audio_settings;
pub mod contacts;
pub mod call_stats;
pub mod coaching;
pub mod conference;
pub mod dialer;
pub mod engine;
pub mod error;
pub mod events;
pub mod loss_policy;
pub mod media_options;
pub mod mic_meter;
pub mod network_check;
pub mod network_watch;
pub mod ringing;
pub mod settings;
pub mod telephony;

pub use dialer::{DialString, DialerView};
pub use accounts::{AccountInput, AccountView};
pub use contacts::ImportReport;
pub use homeline_store::{Contact, ContactInput, PhoneNumber, VcardVersion};
pub use engine::{AppInfo, Engine, EngineConfig};
pub use media_options::MediaOptions;
pub use homeline_rtc::IceServer;
pub use telephony::{CallOutcome, CallState, CallView};
pub use homeline_store::{CallRecord, Direction as CallDirection, HistoryEntry, HistoryFilter};
pub use homeline_sip::{Account, RegistrationState, TlsTrust};
pub use error::{EngineError, ErrorCode};
pub use events::EngineEvent;
pub use call_stats::CallStats;

/// The engine's version (the workspace version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
