//! A spare media session, made and gathering candidates before the user
//! dials, so `dial` sends its INVITE without waiting for sockets, a DTLS
//! certificate or gathering. It holds no audio device: a call's microphone
//! and speaker are attached when the call starts (`Telephony::attach_media`).

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use homeline_rtc::Session;

use super::{LegId, SessionEvents, Telephony};

/// A spare older than this is replaced: NAT bindings and addresses go stale.
const SPARE_MAX_AGE: Duration = Duration::from_secs(60);
/// How often the idle refresher looks at the spare.
const REFRESH_EVERY: Duration = Duration::from_secs(20);

pub(super) struct Spare {
    pub session: Arc<Session>,
    pub events: SessionEvents,
    pub leg: LegId,
    made: Instant,
}

impl Spare {
    fn fresh(&self) -> bool {
        self.made.elapsed() <= SPARE_MAX_AGE
    }
}

impl Telephony {
    /// Starts (once) the task that keeps a fresh spare until `stop_spare`.
    pub(super) fn keep_spare_session(self: &Arc<Self>) {
        if self.spare_kept.swap(true, Ordering::Relaxed) {
            return;
        }
        let me = Arc::downgrade(self);
        tokio::spawn(async move {
            loop {
                {
                    let Some(me) = me.upgrade() else { break };
                    if !me.spare_kept.load(Ordering::Relaxed) {
                        break;
                    }
                    me.refresh_spare(false).await;
                }
                tokio::time::sleep(REFRESH_EVERY).await;
            }
        });
    }

    /// Makes a new spare when there is none or it is old; `force`: in any
    /// case (after a network change its candidates are wrong).
    pub(crate) async fn refresh_spare(&self, force: bool) {
        let needed = force || self.spare.lock().await.as_ref().is_none_or(|s| !s.fresh());
        if !needed || !self.spare_kept.load(Ordering::Relaxed) {
            return;
        }
        let fresh = match self.new_session(None).await {
            Ok((session, events, leg)) => Some(Spare { session, events, leg, made: Instant::now() }),
            Err(e) => {
                tracing::debug!("no spare session: {}", e.message);
                None
            }
        };
        let old = std::mem::replace(&mut *self.spare.lock().await, fresh);
        if let Some(old) = old {
            self.discard_session(&old.session, old.leg).await;
        }
    }

    /// The spare for a call about to be dialed, if it is fresh; another one
    /// is made in the background.
    pub(super) async fn take_spare(self: &Arc<Self>) -> Option<Spare> {
        let spare = self.spare.lock().await.take()?;
        if self.spare_kept.load(Ordering::Relaxed) {
            let me = self.clone();
            tokio::spawn(async move { me.refresh_spare(false).await });
        }
        if spare.fresh() {
            return Some(spare);
        }
        self.discard_session(&spare.session, spare.leg).await;
        None
    }

    /// No more spares (the engine stops).
    pub(super) async fn stop_spare(&self) {
        self.spare_kept.store(false, Ordering::Relaxed);
        let spare = self.spare.lock().await.take();
        if let Some(spare) = spare {
            self.discard_session(&spare.session, spare.leg).await;
        }
    }
}
