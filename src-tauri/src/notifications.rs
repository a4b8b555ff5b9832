//! Desktop notifications for incoming and missed calls.
//!
//! `Planner` decides from engine events alone (pure, unit-tested); `show`
//! hands a notice to the desktop's notification server over D-Bus
//! (notify-rust). Incoming calls carry Answer and Decline actions, which
//! servers that support actions (GNOME, KDE, dunst…) show as buttons.
//! tauri-plugin-notification is not used: on desktops it cannot do actions.

use std::collections::HashSet;
use std::sync::Arc;

use homeline_phone::{CallState, Engine, EngineEvent};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// Someone calls: Answer / Decline.
    Incoming { call: String, title: String, body: String },
    Missed { title: String, body: String },
}

/// Remembers which calls were announced, so each rings once and a missed
/// call is told once.
#[derive(Debug, Default)]
pub struct Planner {
    ringing: HashSet<String>,
}

impl Planner {
    pub fn plan(&mut self, event: &EngineEvent) -> Option<Notice> {
        match event {
            EngineEvent::CallChanged(view) => match &view.state {
                CallState::Incoming if self.ringing.insert(view.call.clone()) => Some(Notice::Incoming {
                    call: view.call.clone(),
                    title: format!("{} is calling", who(&view.remote, view.remote_name.as_deref())),
                    body: detail(&view.remote, view.remote_name.as_deref(), &view.account),
                }),
                // Rang and ended unanswered, and not because we declined it.
                CallState::Ended { by, .. } if self.ringing.remove(&view.call) && view.connected_at.is_none() && by != "local" => Some(Notice::Missed {
                    title: format!("Missed call from {}", who(&view.remote, view.remote_name.as_deref())),
                    body: detail(&view.remote, view.remote_name.as_deref(), &view.account),
                }),
                CallState::Ended { .. } => {
                    self.ringing.remove(&view.call);
                    None
                }
                _ => None,
            },
            EngineEvent::MissedCall { account, from, from_name, reason } => Some(Notice::Missed {
                title: format!("Missed call from {}", who(from, from_name.as_deref())),
                body: format!("{} ({reason})", detail(from, from_name.as_deref(), account)),
            }),
            _ => None,
        }
    }
}

fn who(remote: &str, name: Option<&str>) -> String {
    let name = name.map(str::trim).filter(|n| !n.is_empty());
    clip(name.unwrap_or(remote))
}

fn detail(remote: &str, name: Option<&str>, account: &str) -> String {
    let number = if name.map(str::trim).is_some_and(|n| !n.is_empty() && n != remote) { format!("{} · ", clip(remote)) } else { String::new() };
    format!("{number}to {}", clip(account))
}

/// Names and numbers come from the network: keep them short and printable.
fn clip(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(80).collect()
}

/// Show `notice`; Answer/Decline act on the engine. A desktop without a
/// notification server only logs (the window and tray still show the call).
pub fn show(notice: Notice, engine: Arc<Engine>, on_answer: impl FnOnce() + Send + 'static) {
    // notify-rust blocks on D-Bus (and, with actions, until the notice
    // closes): its own thread, never the UI or the engine's runtime.
    let spawned = std::thread::Builder::new().name("notification".into()).spawn(move || {
        let mut n = notify_rust::Notification::new();
        n.appname("Homeline").icon("call-start");
        match &notice {
            Notice::Incoming { title, body, .. } => {
                n.summary(title)
                    .body(body)
                    .action("answer", "Answer")
                    .action("decline", "Decline")
                    .hint(notify_rust::Hint::Category("call.incoming".into()))
                    .urgency(notify_rust::Urgency::Critical)
                    .timeout(notify_rust::Timeout::Milliseconds(45_000));
            }
            Notice::Missed { title, body } => {
                n.summary(title).body(body).hint(notify_rust::Hint::Category("call.unanswered".into()));
            }
        }
        let handle = match n.show() {
            Ok(handle) => handle,
            Err(e) => return tracing::info!("no desktop notification: {e}"),
        };
        if let Notice::Incoming { call, .. } = notice {
            handle.wait_for_action(move |action| {
                let engine = engine.clone();
                match action {
                    "answer" => {
                        on_answer();
                        tauri::async_runtime::spawn(async move { log_err(engine.answer(&call).await) });
                    }
                    "decline" => {
                        tauri::async_runtime::spawn(async move { log_err(engine.reject(&call, false).await) });
                    }
                    _ => {}
                }
            });
        }
    });
    if let Err(e) = spawned {
        tracing::warn!("no notification thread: {e}");
    }
}

fn log_err(r: Result<(), homeline_phone::EngineError>) {
    if let Err(e) = r {
        tracing::info!("notification action: {e}");
    }
}

#[cfg(test)]
mod tests {
    use homeline_phone::CallView;

    use super::*;

    fn call(id: &str, state: CallState, connected_at: Option<u64>) -> EngineEvent {
        EngineEvent::CallChanged(CallView {
            call: id.into(),
            account: "alice@pbx".into(),
            remote: "2002".into(),
            remote_name: Some("Bob Stone".into()),
            outgoing: false,
            muted: false,
            connected_at,
            state,
        })
    }

    fn ended(by: &str) -> CallState {
        CallState::Ended { reason: "x".into(), code: None, by: by.into() }
    }

    #[test]
    fn an_incoming_call_rings_once_and_is_missed_when_nobody_answers() {
        let mut p = Planner::default();
        assert_eq!(
            p.plan(&call("a", CallState::Incoming, None)),
            Some(Notice::Incoming { call: "a".into(), title: "Bob Stone is calling".into(), body: "2002 · to alice@pbx".into() })
        );
        assert_eq!(p.plan(&call("a", CallState::Incoming, None)), None, "once");
        assert_eq!(p.plan(&call("a", ended("remote"), None)), Some(Notice::Missed { title: "Missed call from Bob Stone".into(), body: "2002 · to alice@pbx".into() }));
        assert_eq!(p.plan(&call("a", ended("remote"), None)), None, "told once");
    }

    #[test]
    fn answered_declined_and_outgoing_calls_are_not_missed() {
        let mut p = Planner::default();
        p.plan(&call("a", CallState::Incoming, None));
        assert_eq!(p.plan(&call("a", CallState::Active, Some(5))), None);
        assert_eq!(p.plan(&call("a", ended("remote"), Some(5))), None, "answered");
        p.plan(&call("b", CallState::Incoming, None));
        assert_eq!(p.plan(&call("b", ended("local"), None)), None, "we declined");
        assert_eq!(p.plan(&call("c", ended("remote"), None)), None, "never rang here");
    }

    #[test]
    fn do_not_disturb_misses_are_told_with_their_reason_and_names_are_tamed() {
        let mut p = Planner::default();
        let event = EngineEvent::MissedCall { account: "alice@pbx".into(), from: "3003".into(), from_name: Some("\u{7}Eve".into()), reason: "Do Not Disturb".into() };
        assert_eq!(p.plan(&event), Some(Notice::Missed { title: "Missed call from Eve".into(), body: "3003 · to alice@pbx (Do Not Disturb)".into() }));
        let long = EngineEvent::MissedCall { account: "a".into(), from: "x".repeat(500), from_name: None, reason: "r".into() };
        let title = match p.plan(&long) {
            Some(Notice::Missed { title, .. }) => title,
            other => format!("{other:?}"),
        };
        assert!(title.starts_with("Missed call from xxx") && title.chars().count() < 120, "{title}");
    }
}
