//! Calls that survive a network change (issue 8): when the machine's
//! addresses change or it wakes from sleep, every account reconnects and
//! registers again, and then each call restarts ICE with a re-INVITE — new
//! credentials, candidates gathered on the new network — so audio comes back
//! without a new call. The other side's restarts are followed in
//! `on_reinvite` (new ICE credentials in its offer).
//!
//! Any other reconnect (the server restarted, a dead connection was left)
//! leaves the media alone but still sends each call a re-INVITE with its
//! unchanged SDP: a target refresh (RFC 3261 §12.2), so the proxy and the
//! other side reach us on the new connection — without it their BYE would go
//! to the old, dead one.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::{lock, Telephony};
use crate::network_watch;

/// Calls waiting for their media to be re-established.
#[derive(Debug, Default)]
pub(super) struct MediaRecovery {
    /// Their account is reconnecting: restart ICE once it is registered again.
    awaiting_registration: HashSet<String>,
    /// A re-offer with new ICE credentials is out: its answer applies it.
    awaiting_answer: HashSet<String>,
    /// Calls hung up because their connected media path died.
    lost: HashSet<String>,
}

/// The end reason of a call whose network path died (a long outage).
pub const CONNECTION_LOST: &str = "Connection lost: the network path to the other side stopped working for 30 seconds.";

impl Telephony {
    /// Start polling for network changes (once per engine; needs a runtime).
    pub(super) fn watch_network(self: &Arc<Self>) {
        if self.network_watch_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let me = Arc::downgrade(self);
        tokio::spawn(network_watch::run(move |change| {
            let Some(me) = me.upgrade() else { return false };
            tokio::spawn(async move { me.network_changed(change).await });
            true
        }));
    }

    /// The network changed (or the machine woke up): reconnect every account
    /// now; calls restart ICE as soon as their account is registered again.
    pub async fn network_changed(&self, change: network_watch::Change) {
        tracing::info!(?change, "reconnecting after a network change");
        let calls: Vec<String> =
            self.calls.lock().await.iter().filter(|(_, e)| e.local_sdp.is_some() && e.remote_sdp.is_some()).map(|(id, _)| id.clone()).collect();
        let since = Some(super::unix_millis());
        for call in &calls {
            self.emit(crate::events::EngineEvent::CallReconnecting { call: call.clone(), since });
        }
        lock(&self.recovery).awaiting_registration.extend(calls);
        for flow in self.flows.lock().await.values() {
            let _ = flow.network_changed();
        }
        // The spare session's candidates name the old network.
        self.refresh_spare(true).await;
    }

    /// `account` is registered (again): re-offer each call on it — with new
    /// ICE credentials after a network change, else as a target refresh.
    pub(super) async fn after_registered(&self, account: &str) {
        let mut calls = self.calls.lock().await;
        let established: Vec<String> = calls
            .iter()
            .filter(|(_, e)| e.view.account == account && e.local_sdp.is_some() && e.remote_sdp.is_some())
            .map(|(id, _)| id.clone())
            .collect();
        if established.is_empty() {
            return;
        }
        let Ok(flow) = self.flow(account).await else { return };
        for call in established {
            let network_changed = lock(&self.recovery).awaiting_registration.remove(&call);
            let Some(entry) = calls.get_mut(&call) else { continue };
            if !network_changed {
                if let Some(local) = entry.local_sdp.clone() {
                    match flow.update_media(&call, &local).await {
                        Ok(()) => tracing::info!(%call, "re-INVITE over the new connection (target refresh)"),
                        Err(e) => tracing::info!(%call, error = %e, "could not refresh the call's target"),
                    }
                }
                continue;
            }
            let offer = match entry.session.restart_ice().await {
                Ok(offer) => offer,
                Err(e) => {
                    tracing::info!(%call, error = %e, "could not restart ICE");
                    continue;
                }
            };
            // Keep the call's hold state in the re-offer.
            let offer = if entry.held_by_me { super::redirect(&offer, homeline_sdp::Direction::SendOnly).unwrap_or(offer) } else { offer };
            match flow.update_media(&call, &offer).await {
                Ok(()) => {
                    tracing::info!(%call, "ICE restart offered after a network change");
                    entry.local_sdp = Some(offer);
                    lock(&self.recovery).awaiting_answer.insert(call);
                }
                Err(e) => tracing::info!(%call, error = %e, "could not send the ICE restart re-INVITE"),
            }
        }
    }

    /// `account`'s own STUN/TURN servers (from its settings), used for its calls.
    pub(crate) fn set_account_ice_servers(&self, account: &str, servers: Vec<homeline_rtc::IceServer>) {
        lock(&self.account_ice).insert(account.to_owned(), servers);
    }

    /// The STUN/TURN servers every call uses (given to the whole engine).
    pub(crate) fn engine_ice_servers(&self) -> Vec<homeline_rtc::IceServer> {
        self.media.ice_servers.clone()
    }

    pub(super) fn has_own_ice_servers(&self, account: &str) -> bool {
        lock(&self.account_ice).get(account).is_some_and(|s| !s.is_empty())
    }

    /// The call's connected media path failed (ICE gave up, about 30 s
    /// without an answer to its checks): it is ended as "connection lost".
    pub(super) fn note_connection_lost(&self, call: &str) {
        lock(&self.recovery).lost.insert(call.to_owned());
    }

    /// The end reason for `call` if it ended because its connection was lost.
    pub(super) fn take_connection_lost(&self, call: &str) -> Option<String> {
        let mut recovery = lock(&self.recovery);
        recovery.awaiting_registration.remove(call);
        recovery.awaiting_answer.remove(call);
        recovery.lost.remove(call).then(|| CONNECTION_LOST.to_owned())
    }

    /// The answer to one of our re-INVITEs: apply it if it answers an ICE restart.
    pub(super) async fn on_reinvite_answered(&self, call: &str, sdp: &str) {
        if !lock(&self.recovery).awaiting_answer.remove(call) {
            return; // a hold or resume: nothing to apply
        }
        let mut calls = self.calls.lock().await;
        let Some(entry) = calls.get_mut(call) else { return };
        match entry.session.accept_restart_answer(sdp).await {
            Ok(()) => entry.remote_sdp = Some(sdp.to_owned()),
            Err(e) => tracing::info!(%call, error = %e, "the answer to our ICE restart could not be applied"),
        }
    }
}

/// True when `offer` carries other ICE credentials than `before` (RFC 8839:
/// a changed ufrag or password is an ICE restart).
pub(super) fn ice_credentials_changed(before: Option<&str>, offer: &str) -> bool {
    let credentials = |sdp: &str| {
        let parsed = homeline_sdp::SessionDescription::parse(sdp).ok()?;
        let audio = parsed.audio_index()?;
        Some((parsed.effective_attribute(audio, "ice-ufrag")?.to_owned(), parsed.effective_attribute(audio, "ice-pwd")?.to_owned()))
    };
    match (before.and_then(credentials), credentials(offer)) {
        (Some(old), Some(new)) => old != new,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::ice_credentials_changed;

    const BEFORE: &str = "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nt=0 0\r\na=ice-ufrag:abcd\r\na=ice-pwd:secretsecretsecretsecret\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 10.0.0.1\r\na=mid:0\r\na=rtpmap:111 opus/48000/2\r\n";

    #[test]
    fn a_new_ufrag_or_password_is_a_restart_and_a_hold_is_not() {
        let hold = BEFORE.replace("a=rtpmap", "a=sendonly\r\na=rtpmap");
        assert!(!ice_credentials_changed(Some(BEFORE), &hold));
        assert!(ice_credentials_changed(Some(BEFORE), &BEFORE.replace("abcd", "wxyz")));
        assert!(ice_credentials_changed(Some(BEFORE), &BEFORE.replace("secretsecret", "othersecret")));
        // Media-level credentials count too.
        let media_level = BEFORE.replace("a=ice-ufrag:abcd\r\n", "").replace("a=mid:0", "a=mid:0\r\na=ice-ufrag:efgh");
        assert!(ice_credentials_changed(Some(BEFORE), &media_level));
        assert!(!ice_credentials_changed(None, BEFORE), "no earlier SDP: nothing to compare");
        assert!(!ice_credentials_changed(Some(BEFORE), "garbage"));
    }
}
