//! The engine facade: the commands the shell and the CLI call.

use std::sync::Mutex;

use serde::Serialize;
use tokio::sync::broadcast;

use crate::dialer::{self, DialString, DialerView};
use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;

/// What the UI needs to know at start.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AppInfo {
    pub version: String,
    pub accounts_configured: bool,
}

pub struct Engine {
    dial: Mutex<DialString>,
    events: broadcast::Sender<EngineEvent>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").finish_non_exhaustive()
    }
}

impl Default for Engine {
    fn default() -> Self {
        Self::new()
    }
}

impl Engine {
    pub fn new() -> Self {
        let (events, _) = broadcast::channel(256);
        Self { dial: Mutex::new(DialString::new()), events }
    }

    /// Every event from now on. A slow reader that falls behind by more than
    /// the channel's capacity gets `Lagged` and carries on.
    pub fn subscribe(&self) -> broadcast::Receiver<EngineEvent> {
        let rx = self.events.subscribe();
        let _ = self.events.send(EngineEvent::Ready { version: crate::VERSION.into() });
        rx
    }

    pub fn app_info(&self) -> AppInfo {
        AppInfo { version: crate::VERSION.into(), accounts_configured: false }
    }

    pub fn dialer_press(&self, key: &str) -> DialerView {
        self.edit_dial(|d| d.press(key))
    }

    pub fn dialer_backspace(&self) -> DialerView {
        self.edit_dial(DialString::backspace)
    }

    pub fn dialer_paste(&self, text: &str) -> DialerView {
        self.edit_dial(|d| d.paste(text))
    }

    pub fn dialer_clear(&self) -> DialerView {
        self.edit_dial(DialString::clear)
    }

    pub fn dialer_view(&self) -> DialerView {
        self.lock_dial().view()
    }

    /// Place a call. Calls need an account (SIP arrives with its own issue).
    pub async fn dial(&self, target: &str) -> Result<(), EngineError> {
        let target = dialer::clean(target);
        if target.is_empty() {
            return Err(EngineError::new(ErrorCode::InvalidTarget, "Type a number or a SIP address to call."));
        }
        Err(EngineError::new(
            ErrorCode::NoAccount,
            format!("No SIP account is set up yet, so {target} cannot be called. Add your company's SIP account in Settings."),
        ))
    }

    /// The echo test call: your own voice back after a short delay.
    pub async fn start_echo_test(&self) -> Result<String, EngineError> {
        Err(EngineError::new(
            ErrorCode::NotAvailable,
            "The echo test needs the audio engine, which this build does not include yet.",
        ))
    }

    fn lock_dial(&self) -> std::sync::MutexGuard<'_, DialString> {
        // A panic while holding this lock cannot leave the dial string invalid.
        self.dial.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn edit_dial(&self, edit: impl FnOnce(&mut DialString)) -> DialerView {
        let view = {
            let mut dial = self.lock_dial();
            edit(&mut dial);
            dial.view()
        };
        let _ = self.events.send(EngineEvent::DialerChanged(view.clone()));
        view
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dialer_edits_are_published_as_events() {
        let engine = Engine::new();
        let mut rx = engine.subscribe();
        assert!(matches!(rx.recv().await, Ok(EngineEvent::Ready { .. })));
        let view = engine.dialer_press("5");
        assert_eq!(view.text, "5");
        assert_eq!(rx.recv().await.ok(), Some(EngineEvent::DialerChanged(view)));
    }

    #[tokio::test]
    async fn dialing_without_an_account_says_so() {
        let engine = Engine::new();
        let err = engine.dial("+49 30 1234").await.err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::NoAccount));
        let err = engine.dial("  ").await.err();
        assert_eq!(err.map(|e| e.code), Some(ErrorCode::InvalidTarget));
    }
}
