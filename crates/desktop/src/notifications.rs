//! Desktop notifications for incoming and missed calls.
//!
//! `Planner` decides from engine events alone (pure, unit-tested); `show`
//! hands a notice to the desktop's notification server over D-Bus
//! (the freedesktop interface, through zbus). Incoming calls carry Answer and Decline actions, which
//! servers that support actions (GNOME, KDE, dunst…) show as buttons.

use std::collections::HashSet;
use std::sync::Arc;

use homeline_phone::{CallState, Engine, EngineEvent};
use tokio::sync::mpsc;

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

/// Shows the notices, one after the other in the order they were asked for,
/// so a ringing notice is always taken down before the "missed call" that
/// follows it goes up. Answer/Decline act on the engine. A desktop without a
/// notification server only logs (the window and tray still show the call).
#[derive(Clone)]
pub struct Notifier {
    requests: mpsc::UnboundedSender<Request>,
}

enum Request {
    Show(Notice),
    /// The call was answered, declined or given up: its ringing notice goes.
    StoppedRinging(String),
}

/// What the notification server tells about our notices.
enum Signal {
    Clicked { id: u32, action: String },
    Closed { id: u32 },
}

impl Notifier {
    /// `on_answer` runs when Answer is clicked (the window comes up).
    pub fn start(engine: Arc<Engine>, on_answer: impl Fn() + Send + Sync + 'static) -> Self {
        let (requests, inbox) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            if let Err(e) = serve(inbox, engine, on_answer).await {
                tracing::info!("no desktop notifications: {e}");
            }
        });
        Self { requests }
    }

    pub fn show(&self, notice: Notice) {
        let _ = self.requests.send(Request::Show(notice));
    }

    /// Call `call` no longer rings (any state but incoming).
    pub fn stopped_ringing(&self, call: &str) {
        let _ = self.requests.send(Request::StoppedRinging(call.to_owned()));
    }
}

const SERVER: &str = "org.freedesktop.Notifications";
const PATH: &str = "/org/freedesktop/Notifications";

/// The desktop's notification server over D-Bus (the freedesktop interface
/// GNOME, KDE and dunst serve). Spoken directly rather than through
/// notify-rust, whose action listener starts only after the notice is up:
/// a click in that gap was lost. Here the listener runs before any notice.
async fn serve(mut inbox: mpsc::UnboundedReceiver<Request>, engine: Arc<Engine>, on_answer: impl Fn()) -> zbus::Result<()> {
    use futures_util::StreamExt;
    use std::collections::HashMap;

    let bus = zbus::Connection::session().await?;
    let rule = zbus::MatchRule::builder().msg_type(zbus::message::Type::Signal).interface(SERVER)?.path(PATH)?.build();
    let signals = zbus::MessageStream::for_match_rule(rule, &bus, None).await?.filter_map(|message| async move {
        let message = message.ok()?;
        let header = message.header();
        match header.member().map(|m| m.as_str()) {
            Some("ActionInvoked") => message.body().deserialize::<(u32, String)>().ok().map(|(id, action)| Signal::Clicked { id, action }),
            Some("NotificationClosed") => message.body().deserialize::<(u32, u32)>().ok().map(|(id, _reason)| Signal::Closed { id }),
            _ => None,
        }
    });
    let mut signals = std::pin::pin!(signals);
    // Ringing notices on screen: their id and call.
    let mut ringing: HashMap<u32, String> = HashMap::new();
    loop {
        tokio::select! {
            request = inbox.recv() => match request {
                None => return Ok(()),
                Some(Request::Show(notice)) => match notify(&bus, &notice).await {
                    Ok(id) => {
                        if let Notice::Incoming { call, .. } = notice {
                            ringing.insert(id, call);
                        }
                    }
                    Err(e) => tracing::info!("no desktop notification: {e}"),
                },
                Some(Request::StoppedRinging(call)) => {
                    let shown: Vec<u32> = ringing.iter().filter(|(_, c)| **c == call).map(|(id, _)| *id).collect();
                    for id in shown {
                        ringing.remove(&id);
                        if let Err(e) = bus.call_method(Some(SERVER), PATH, Some(SERVER), "CloseNotification", &id).await {
                            tracing::info!("the ringing notice could not be taken down: {e}");
                        }
                    }
                }
            },
            Some(signal) = signals.next() => match signal {
                Signal::Clicked { id, action } => {
                    let Some(call) = ringing.remove(&id) else { continue };
                    let engine = engine.clone();
                    match action.as_str() {
                        "answer" => {
                            on_answer();
                            tokio::spawn(async move { log_err(engine.answer(&call).await) });
                        }
                        "decline" => {
                            tokio::spawn(async move { log_err(engine.reject(&call, false).await) });
                        }
                        _ => {}
                    }
                }
                Signal::Closed { id } => {
                    ringing.remove(&id);
                }
            },
        }
    }
}

/// Put `notice` on screen; its id.
async fn notify(bus: &zbus::Connection, notice: &Notice) -> zbus::Result<u32> {
    use std::collections::HashMap;
    use zbus::zvariant::Value;

    let (summary, body, actions, category, urgency, timeout_ms): (&str, &str, &[&str], &str, u8, i32) = match notice {
        Notice::Incoming { title, body, .. } => (title, body, &["answer", "Answer", "decline", "Decline"], "call.incoming", 2, 45_000),
        Notice::Missed { title, body } => (title, body, &[], "call.unanswered", 1, -1),
    };
    let hints: HashMap<&str, Value<'_>> = HashMap::from([("category", Value::from(category)), ("urgency", Value::from(urgency))]);
    let reply = bus
        .call_method(Some(SERVER), PATH, Some(SERVER), "Notify", &("Homeline", 0u32, "call-start", summary, body, actions, hints, timeout_ms))
        .await?;
    reply.body().deserialize::<u32>()
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
