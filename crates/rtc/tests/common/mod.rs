//! Shared by the session tests.

use homeline_rtc::SessionEvent;
use std::time::Duration;
use tokio::sync::mpsc;

/// Events until `want` matches (returned with everything seen), or a panic after `secs`.
pub async fn wait_for(
    events: &mut mpsc::Receiver<SessionEvent>,
    want: impl Fn(&SessionEvent) -> bool,
    secs: u64,
) -> Vec<SessionEvent> {

    let mut seen = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, events.recv()).await {
        let done = want(&ev);
        seen.push(ev);
        if done {
            return seen;
        }
    }
    panic!("timed out; events so far: {seen:?}");
}

