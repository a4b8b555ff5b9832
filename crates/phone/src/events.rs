//! The one stream of events the engine publishes. Plain serde types: the shell
//! forwards them to the UI unchanged, the CLI prints them as JSON lines.

use serde::Serialize;

use homeline_sip::RegistrationState;

use crate::audio_levels::AudioLevel;
use crate::call_stats::CallStats;
use crate::dialer::DialerView;
use crate::telephony::CallView;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum EngineEvent {
    /// The engine is up and ready for commands.
    Ready { version: String },
    /// An account's registration moved to a new state.
    RegistrationChanged {
        account: String,
        #[serde(flatten)]
        state: RegistrationState,
    },
    /// The account list changed (added, edited, removed, new default).
    AccountsChanged,
    /// Something the user should read (for example: settings were unreadable).
    Notice { message: String },
    /// A call started, changed state or ended (the last event of a call has state `ended`).
    CallChanged(CallView),
    /// A call turned away while Do Not Disturb was on.
    MissedCall { account: String, from: String, from_name: Option<String>, reason: String },
    /// A touch tone from the other side of `call`.
    DtmfReceived { call: String, digit: char },
    /// How a transfer we asked for is going.
    TransferProgress { call: String, code: u16, reason: String, done: bool },
    /// The call history changed (a call was written, one or all deleted).
    HistoryChanged,
    /// A connected call's statistics, once a second.
    CallStats(CallStats),
    /// What is wrong with `call`'s network, in words (empty: all well again).
    /// Sent when the list changes, after a problem lasted 3 s.
    CallWarnings { call: String, warnings: Vec<crate::coaching::Warning> },
    /// `call`'s media path was lost at `since` (ms since the Unix epoch), or
    /// the network changed and ICE restarts: the UI shows "Reconnecting…"
    /// with a counter. `since: None`: connected again. (Gone for 30 s: the
    /// call ends as "Connection lost".)
    CallReconnecting { call: String, since: Option<u64> },
    /// Microphone (as sent, before mute) and speaker levels of `call`, 20 a second
    /// (when [`crate::MediaOptions::audio_levels`] is on).
    AudioLevels { call: String, input: AudioLevel, output: AudioLevel },
    /// The level of the microphone Settings → Audio meters outside a call (`device`),
    /// 20 a second while [`crate::Engine::start_mic_meter`] has it open.
    MicrophoneLevel { device: String, input: AudioLevel },
    /// Settings → Audio's meter opened (`open`) or closed the microphone `device`;
    /// `reason` when it closed by itself (a call took the microphone).
    MicrophoneMeter { open: bool, device: Option<String>, reason: Option<String> },
    /// The echo test started (`running`, the microphone is open) or ended; sent in order
    /// with the test's slot, so the last one tells whether a test runs now.
    EchoTest { running: bool },
    /// Someone is talking into the muted microphone of `call` (once per muted stretch).
    MutedSpeech { call: String },
    /// The local conference formed, changed or ended: the calls mixed together
    /// now (empty: no conference).
    ConferenceChanged { calls: Vec<String> },
    /// A ringing tone started (`playing`, on `device`) or stopped for `call`: the ringtone
    /// of an incoming call on the ringer device, or the ringback tone of ours while the far
    /// end rings (see `crate::ringing`). Only with real devices.
    Ringing { call: String, tone: crate::ringing::RingTone, playing: bool, device: Option<String> },
    /// The shared dial string changed (keypad, tray quick-dial or a clicked link).
    DialerChanged(DialerView),
}
