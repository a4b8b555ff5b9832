//! What the call layer tells the engine, as plain serde types the shell can
//! forward to the UI unchanged.

use serde::{Deserialize, Serialize};

/// Who ended a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Party {
    Local,
    Remote,
    /// The phone system or the network (timeouts, server errors).
    Network,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "progress", rename_all = "snake_case")]
pub enum Progress {
    /// 100: the phone system is working on it.
    Trying,
    /// 180 without SDP: play a local ringback tone.
    Ringing,
    /// 183 (or 180) with SDP: the far end plays its own tones or announcements.
    EarlyMedia { sdp: String },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum CallEvent {
    /// Someone calls: answer with `answer(call_id, sdp_answer)` or `reject`.
    IncomingCall {
        call_id: String,
        from_display: Option<String>,
        /// The user part of the caller's URI (a number or a name).
        from_number: String,
        from_uri: String,
        /// None when the caller wants our offer: then `answer` takes our
        /// offer and the caller's answer comes as `CallAnswered` with the ACK.
        sdp_offer: Option<String>,
        /// This call replaces (attended transfer) the call with this id:
        /// answer it and hang that one up.
        replaces: Option<String>,
    },
    /// Do Not Disturb turned a call away (for the history).
    MissedCall { call_id: String, from_display: Option<String>, from_number: String, reason: String },
    CallProgress {
        call_id: String,
        #[serde(flatten)]
        progress: Progress,
    },
    /// The callee answered; `sdp` is the answer to our offer (also for an
    /// incoming offerless INVITE, when the caller's ACK brings the answer).
    CallAnswered { call_id: String, sdp: String },
    /// The call is set up on both sides (our 200 was acknowledged, or we acknowledged theirs).
    CallConfirmed { call_id: String },
    /// The other side changed the session (hold, resume, codec): answer it
    /// with `answer_reinvite(call_id, sdp_answer)`.
    ReInvite { call_id: String, sdp: String },
    /// Our re-INVITE (hold/resume) was accepted with this answer.
    ReInviteAnswered { call_id: String, sdp: String },
    /// Our re-INVITE was refused; the previous session stays.
    ReInviteFailed { call_id: String, code: u16, reason: String },
    DtmfReceived { call_id: String, digit: char, duration_ms: u32 },
    /// The other side asks us to call `target` (REFER). `replaces` goes into
    /// the new INVITE's Replaces header (attended transfer). Report the
    /// result with `transfer_result`.
    TransferRequested { call_id: String, target: String, replaces: Option<String> },
    /// Progress of a transfer we asked for (NOTIFY sipfrag, or the REFER's own answer).
    TransferProgress { call_id: String, code: u16, reason: String, done: bool },
    CallEnded { call_id: String, reason: String, code: Option<u16>, by: Party },
}

impl CallEvent {
    pub fn call_id(&self) -> &str {
        match self {
            CallEvent::IncomingCall { call_id, .. }
            | CallEvent::MissedCall { call_id, .. }
            | CallEvent::CallProgress { call_id, .. }
            | CallEvent::CallAnswered { call_id, .. }
            | CallEvent::CallConfirmed { call_id }
            | CallEvent::ReInvite { call_id, .. }
            | CallEvent::ReInviteAnswered { call_id, .. }
            | CallEvent::ReInviteFailed { call_id, .. }
            | CallEvent::DtmfReceived { call_id, .. }
            | CallEvent::TransferRequested { call_id, .. }
            | CallEvent::TransferProgress { call_id, .. }
            | CallEvent::CallEnded { call_id, .. } => call_id,
        }
    }
}

/// A failed call's final status in the words the UI shows.
pub fn failure_words(code: u16, reason_phrase: &str) -> String {
    match code {
        486 | 600 => "busy".into(),
        404 | 604 => "not found".into(),
        480 => "unavailable".into(),
        603 => "declined".into(),
        487 => "cancelled".into(),
        408 => "no answer".into(),
        500..=599 => "server trouble".into(),
        _ => {
            let phrase: String = reason_phrase.chars().filter(|c| !c.is_control()).take(64).collect();
            format!("failed ({code} {})", phrase.trim())
        }
    }
}
