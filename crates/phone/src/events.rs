//! The one stream of events the engine publishes. Plain serde types: the shell
//! forwards them to the UI unchanged, the CLI prints them as JSON lines.

use serde::Serialize;

use crate::dialer::DialerView;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EngineEvent {
    /// The engine is up and ready for commands.
    Ready { version: String },
    /// The shared dial string changed (keypad, tray quick-dial or a clicked link).
    DialerChanged(DialerView),
}
