//! Desktop notifications for incoming and missed calls.
//!
//! `Planner` decides from engine events alone (pure, unit-tested); `show`
//! hands a notice to the desktop's notification server over D-Bus
//! (the freedesktop interface, through zbus). Incoming calls carry Answer and Decline actions, which
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

/// Show `notice`; Answer/Decline act on the engine. A ringing notice is
/// taken down as soon as the call stops ringing (answered in the window,
/// declined, or the caller gave up), so no stale "is calling" stays on
/// screen. A desktop without a notification server only logs (the window
/// and tray still show the call).
pub fn show(notice: Notice, engine: Arc<Engine>, on_answer: impl FnOnce() + Send + 'static) {
    // Subscribed before the notice goes up: a call that stops ringing
    // meanwhile is still seen.
    let events = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        if let Err(e) = notify(notice, engine, events, on_answer).await {
            tracing::info!("no desktop notification: {e}");
        }
    });
}

const SERVER: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// One session-bus connection for every notice, opened at the first.
async fn bus() -> zbus::Result<&'static zbus::Connection> {
    static BUS: tokio::sync::OnceCell<zbus::Connection> = tokio::sync::OnceCell::const_new();
    BUS.get_or_try_init(zbus::Connection::session).await
}

/// The desktop's notification server over D-Bus (the freedesktop interface
/// GNOME, KDE and dunst serve). Spoken directly rather than through
/// notify-rust, whose action listener starts only after the notice is up:
/// a click in that gap was lost.
async fn notify(
    notice: Notice,
    engine: Arc<Engine>,
    mut events: tokio::sync::broadcast::Receiver<EngineEvent>,
    on_answer: impl FnOnce(),
) -> zbus::Result<()> {
    use futures_util::StreamExt;
    use std::collections::HashMap;
    use zbus::zvariant::Value;

    let bus = bus().await?;
    let (summary, body, actions, category, urgency, timeout_ms): (&str, &str, &[&str], &str, u8, i32) = match &notice {
        Notice::Incoming { title, body, .. } => (title, body, &["answer", "Answer", "decline", "Decline"], "call.incoming", 2, 45_000),
        Notice::Missed { title, body } => (title, body, &[], "call.unanswered", 1, -1),
    };
    // Listening before the notice goes up: a click can come at once.
    let rule = zbus::MatchRule::builder().msg_type(zbus::message::Type::Signal).interface(SERVER)?.path(PATH)?.build();
    let mut signals = zbus::MessageStream::for_match_rule(rule, bus, None).await?;
    let hints: HashMap<&str, Value<'_>> = HashMap::from([("category", Value::from(category)), ("urgency", Value::from(urgency))]);
    let reply = bus
        .call_method(Some(SERVER), PATH, Some(SERVER), "Notify", &("Homeline", 0u32, "call-start", summary, body, actions, hints, timeout_ms))
        .await?;
    let id: u32 = reply.body().deserialize()?;
    let Notice::Incoming { call, .. } = notice else { return Ok(()) };

    let still_ringing = matches!(engine.calls().await.iter().find(|c| c.call == call), Some(c) if c.state == CallState::Incoming);
    let stopped_ringing = async {
        while still_ringing {
            match events.recv().await {
                Ok(EngineEvent::CallChanged(view)) if view.call == call && view.state != CallState::Incoming => break,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                _ => {}
            }
        }
    };
    let clicked = async {
        while let Some(Ok(message)) = signals.next().await {
            let header = message.header();
            match header.member().map(|m| m.as_str()) {
                Some("ActionInvoked") => match message.body().deserialize::<(u32, String)>() {
                    Ok((n, action)) if n == id => return Some(action),
                    _ => {}
                },
                Some("NotificationClosed") => match message.body().deserialize::<(u32, u32)>() {
                    Ok((n, _reason)) if n == id => return None,
                    _ => {}
                },
                _ => {}
            }
        }
        None
    };
    let action = tokio::select! {
        action = clicked => action,
        () = stopped_ringing => {
            bus.call_method(Some(SERVER), PATH, Some(SERVER), "CloseNotification", &id).await?;
            return Ok(());
        }
    };
    match action.as_deref() {
        Some("answer") => {
            on_answer();
            log_err(engine.answer(&call).await);
        }
        Some("decline") => log_err(engine.reject(&call, false).await),
        _ => {}
    }
    Ok(())
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
