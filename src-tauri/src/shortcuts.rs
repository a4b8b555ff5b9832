//! Optional global shortcuts (off until the user sets them): answer the
//! ringing call, hang up, mute or unmute — from any application.
//! Which call an action applies to is decided by `target` (pure, tested).

use std::sync::Arc;

use homeline_phone::{CallState, CallView, Engine};
use serde::{Deserialize, Serialize};
use tauri::{AppHandle, Manager};
use tauri_plugin_global_shortcut::{GlobalShortcutExt, Shortcut, ShortcutState};

/// Key combinations as the user typed them ("Ctrl+Alt+A"); empty: off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Shortcuts {
    pub answer: String,
    pub hang_up: String,
    pub mute: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Answer,
    HangUp,
    /// Mute, or unmute a muted call.
    Mute,
}

/// What an action does now: answer/hang up this call, or set its mute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    Answer(String),
    HangUp(String),
    Mute(String, bool),
}

/// The call an action applies to: the ringing one for Answer; the connected
/// one (else the one being dialled) for Hang up; the connected one for Mute.
pub fn target(action: Action, calls: &[CallView]) -> Option<Step> {
    let connected = calls.iter().find(|c| c.state == CallState::Active);
    match action {
        Action::Answer => calls.iter().find(|c| c.state == CallState::Incoming).map(|c| Step::Answer(c.call.clone())),
        Action::HangUp => connected
            .or_else(|| calls.iter().find(|c| matches!(c.state, CallState::Dialing | CallState::Ringing | CallState::EarlyMedia)))
            .or_else(|| calls.iter().find(|c| matches!(c.state, CallState::Held { .. })))
            .map(|c| Step::HangUp(c.call.clone())),
        Action::Mute => connected.map(|c| Step::Mute(c.call.clone(), !c.muted)),
    }
}

/// A key combination the user may set: parsed, and with a modifier (a bare
/// key would be taken from every other application).
pub fn parse(text: &str) -> Result<Shortcut, String> {
    let bad = || format!("\u{201c}{text}\u{201d} is not a key combination Homeline can use (for example Ctrl+Alt+A).");
    let shortcut: Shortcut = text.trim().parse().map_err(|_| bad())?;
    if shortcut.mods.is_empty() {
        return Err(format!("\u{201c}{text}\u{201d} needs Ctrl, Alt, Shift or Super with it, or every application would lose that key."));
    }
    Ok(shortcut)
}

/// Check every combination: the first sentence for the first one refused.
pub fn check(shortcuts: &Shortcuts) -> Result<(), String> {
    for text in [&shortcuts.answer, &shortcuts.hang_up, &shortcuts.mute] {
        if !text.trim().is_empty() {
            parse(text)?;
        }
    }
    Ok(())
}

/// Replace the registered shortcuts with `shortcuts`.
pub fn apply(app: &AppHandle, shortcuts: &Shortcuts) -> Result<(), String> {
    check(shortcuts)?;
    let manager = app.global_shortcut();
    manager.unregister_all().map_err(|e| format!("The old shortcuts could not be released: {e}."))?;
    for (text, action) in [(&shortcuts.answer, Action::Answer), (&shortcuts.hang_up, Action::HangUp), (&shortcuts.mute, Action::Mute)] {
        if text.trim().is_empty() {
            continue;
        }
        let shortcut = parse(text)?;
        manager
            .on_shortcut(shortcut, move |app, _, event| {
                if event.state == ShortcutState::Pressed {
                    run(app, action);
                }
            })
            .map_err(|e| format!("\u{201c}{text}\u{201d} could not be set (another application may use it): {e}."))?;
    }
    Ok(())
}

fn run(app: &AppHandle, action: Action) {
    let Some(engine) = app.try_state::<Arc<Engine>>().map(|e| e.inner().clone()) else { return };
    tauri::async_runtime::spawn(async move {
        let result = match target(action, &engine.calls().await) {
            Some(Step::Answer(call)) => engine.answer(&call).await,
            Some(Step::HangUp(call)) => engine.hangup(&call).await,
            Some(Step::Mute(call, on)) => engine.mute(&call, on).await,
            None => Ok(()),
        };
        if let Err(e) = result {
            tracing::info!("shortcut {action:?}: {e}");
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(id: &str, state: CallState, muted: bool) -> CallView {
        CallView { call: id.into(), account: "a".into(), remote: "b".into(), remote_name: None, outgoing: false, muted, connected_at: None, state }
    }

    #[test]
    fn each_action_finds_its_call() {
        let calls = [call("held", CallState::Held { by_me: true }, false), call("ringing", CallState::Incoming, false), call("talking", CallState::Active, true)];
        assert_eq!(target(Action::Answer, &calls), Some(Step::Answer("ringing".into())));
        assert_eq!(target(Action::HangUp, &calls), Some(Step::HangUp("talking".into())), "the connected call first");
        assert_eq!(target(Action::Mute, &calls), Some(Step::Mute("talking".into(), false)), "a muted call is unmuted");
        let dialing = [call("held", CallState::Held { by_me: true }, false), call("out", CallState::Ringing, false)];
        assert_eq!(target(Action::HangUp, &dialing), Some(Step::HangUp("out".into())));
        assert_eq!(target(Action::Mute, &dialing), None);
        assert_eq!(target(Action::Answer, &dialing), None, "nothing rings: nothing happens");
        assert_eq!(target(Action::HangUp, &[]), None);
    }

    #[test]
    fn combinations_need_a_modifier_and_a_known_key() {
        assert!(parse("Ctrl+Alt+A").is_ok());
        assert!(parse(" super+shift+F9 ").is_ok());
        assert!(parse("A").err().unwrap_or_default().contains("needs Ctrl"));
        assert!(parse("Ctrl+Nope").err().unwrap_or_default().contains("not a key combination"));
        assert!(parse("").is_err());
        assert!(check(&Shortcuts::default()).is_ok(), "all off is fine");
        assert!(check(&Shortcuts { mute: "Ctrl+".into(), ..Shortcuts::default() }).is_err());
    }
}
