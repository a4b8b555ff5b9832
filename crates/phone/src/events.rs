//! The one stream of events the engine publishes. Plain serde types: the shell
//! forwards them to the UI unchanged, the CLI prints them as JSON lines.

use serde::Serialize;

use homeline_sip::RegistrationState;

use crate::dialer::DialerView;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EngineEvent {
    /// The engine is up and ready for commands.
    Ready { version: String },
    /// An account's registration moved to a new state.
    RegistrationChanged {
        account: String,
        #[serde(flatten)]
        state: RegistrationState,
    },
    /// The account list changed (added, edited, removed, new default).
    AccountsChanged,
    /// Something the user should read (for example: settings were unreadable).
    Notice { message: String },
    /// The shared dial string changed (keypad, tray quick-dial or a clicked link).
    DialerChanged(DialerView),
}
