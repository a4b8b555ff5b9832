//! Optional global shortcuts (off until the user sets them): answer the
//! ringing call, hang up, mute or unmute — from any application.
//! Which call an action applies to is decided by `target` (pure, tested).

use std::collections::HashMap;
use std::sync::Mutex;

use global_hotkey::hotkey::HotKey;
use global_hotkey::{GlobalHotKeyEvent, GlobalHotKeyManager, HotKeyState};
use homeline_phone::{CallState, CallView};
use serde::{Deserialize, Serialize};

use crate::Shell;

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
pub fn parse(text: &str) -> Result<HotKey, String> {
    let bad = || format!("\u{201c}{text}\u{201d} is not a key combination Homeline can use (for example Ctrl+Alt+A).");
    let shortcut: HotKey = text.trim().parse().map_err(|_| bad())?;
    if shortcut.mods.is_empty() {
        return Err(format!("\u{201c}{text}\u{201d} needs Ctrl, Alt, Shift or Super with it, or every application would lose that key."));
    }
    Ok(shortcut)
}

/// Check every combination: the first sentence for the first one refused.
pub fn check(shortcuts: &Shortcuts) -> Result<(), String> {
    wanted(shortcuts).map(|_| ())
}

/// The combinations set, parsed, with their actions; one combination for two
/// actions is refused (only one of them could have it).
fn wanted(shortcuts: &Shortcuts) -> Result<Vec<(&str, HotKey, Action)>, String> {
    let mut keys: Vec<(&str, HotKey, Action)> = Vec::new();
    for (text, action) in [(&shortcuts.answer, Action::Answer), (&shortcuts.hang_up, Action::HangUp), (&shortcuts.mute, Action::Mute)] {
        if text.trim().is_empty() {
            continue;
        }
        let key = parse(text)?;
        if keys.iter().any(|(_, k, _)| k.id() == key.id()) {
            return Err(format!("\u{201c}{}\u{201d} is set for two actions: give each its own keys.", text.trim()));
        }
        keys.push((text.trim(), key, action));
    }
    Ok(keys)
}

/// The keys registered now. One manager (one X connection and its thread)
/// for the app's life, made at the first shortcut set. Its calls wait for that
/// thread, which also delivers the presses: never hold this while a press
/// handler could wait for it (the handler reads `ACTIONS` only).
struct Keys {
    manager: GlobalHotKeyManager,
    registered: Vec<HotKey>,
}

static KEYS: Mutex<Option<Keys>> = Mutex::new(None);
/// Which action each registered key (by id) runs: read by the press handler.
static ACTIONS: Mutex<Option<HashMap<u32, Action>>> = Mutex::new(None);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Replace the registered shortcuts with `shortcuts`. Any thread (it waits a
/// moment for the X server's answer). On an error the keys registered before
/// the refused one stay registered: apply the previous set to put it back.
pub fn apply(shell: &Shell, shortcuts: &Shortcuts) -> Result<(), String> {
    let wanted = wanted(shortcuts)?;
    let mut keys = lock(&KEYS);
    if keys.is_none() {
        if wanted.is_empty() {
            // Nothing registered, nothing wanted: no X connection needed.
            return Ok(());
        }
        let manager = GlobalHotKeyManager::new().map_err(|e| format!("Global shortcuts are not available here: {e}."))?;
        let presses = shell.clone();
        // Called on the manager's thread, for presses and releases.
        GlobalHotKeyEvent::set_event_handler(Some(move |event: GlobalHotKeyEvent| {
            if event.state == HotKeyState::Pressed {
                let action = lock(&ACTIONS).as_ref().and_then(|a| a.get(&event.id).copied());
                if let Some(action) = action {
                    tracing::debug!("shortcut {action:?} pressed");
                    run(&presses, action);
                }
            }
        }));
        *keys = Some(Keys { manager, registered: Vec::new() });
    }
    let Some(keys) = keys.as_mut() else { return Ok(()) };
    keys.manager.unregister_all(&keys.registered).map_err(|e| format!("The old shortcuts could not be released: {e}."))?;
    keys.registered.clear();
    *lock(&ACTIONS) = Some(HashMap::new());
    for (text, key, action) in wanted {
        match keys.manager.register(key) {
            Ok(()) => {}
            Err(global_hotkey::Error::AlreadyRegistered(_)) => {
                return Err(format!("\u{201c}{text}\u{201d} is taken by another application: choose other keys."));
            }
            Err(e) => return Err(format!("\u{201c}{text}\u{201d} could not be set (another application may use it): {e}.")),
        }
        keys.registered.push(key);
        lock(&ACTIONS).get_or_insert_with(HashMap::new).insert(key.id(), action);
    }
    Ok(())
}

/// A shortcut was pressed: act on the call it applies to now.
fn run(shell: &Shell, action: Action) {
    let engine = shell.engine().clone();
    shell.spawn(async move {
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
        let both = Shortcuts { answer: "Ctrl+Alt+A".into(), hang_up: "alt+ctrl+a".into(), mute: String::new() };
        assert!(check(&both).err().unwrap_or_default().contains("two actions"), "one key for two actions is refused");
        let same = "control+alt+KeyA".parse::<HotKey>().map(|k| k.id()).map_err(|e| e.to_string());
        assert_eq!(parse("Ctrl+Alt+A").map(|k| k.id()), same, "the same keys, however written");
    }
}
