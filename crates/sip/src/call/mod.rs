//! Calls: the sans-IO user agent ([`agent::UserAgent`]) with its dialogs,
//! invite state, session timers and transfers; the events it reports; the
//! small bodies calls carry.

pub mod agent;
pub mod content;
pub mod events;
pub mod session;

#[cfg(test)]
mod tests;

pub use agent::{CallTiming, Command, Identity, Output, UserAgent};
pub use events::{failure_words, CallEvent, Party, Progress};
