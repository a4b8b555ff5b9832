//! One flow per account (RFC 5626): a single WebSocket carries the
//! registration and every call. [`AccountFlow`] is the engine's handle:
//! async commands down, one stream of [`FlowEvent`]s up.

pub(crate) mod task;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::account::{Account, InstanceId, Secret, ValidAccount};
use crate::call::{CallEvent, CallTiming, Command, Identity, UserAgent};
use crate::error::SipError;
use crate::registration::client::RegistrationEvent;
use crate::registration::entropy::{token, Entropy, OsEntropy};
use crate::registration::machine::{RegistrationMachine, Timing};
use task::{EventSink, FlowCommand};

/// Everything an account reports, in order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FlowEvent {
    Registration(RegistrationEvent),
    Call(CallEvent),
}

/// The account's events. Ends after the flow stopped.
#[derive(Debug)]
pub struct FlowEvents(mpsc::UnboundedReceiver<FlowEvent>);

impl FlowEvents {
    pub async fn next(&mut self) -> Option<FlowEvent> {
        self.0.recv().await
    }
}

/// Tunables and randomness (tests inject both).
pub struct FlowOptions {
    pub registration: Timing,
    pub calls: CallTiming,
    /// Randomness of the registration (Call-ID, tags, cnonce, backoff jitter).
    pub entropy: Box<dyn Entropy>,
    /// Randomness of the calls (tags, branches, glare backoff).
    pub call_entropy: Box<dyn Entropy>,
}

impl Default for FlowOptions {
    fn default() -> Self {
        FlowOptions {
            registration: Timing::default(),
            calls: CallTiming::default(),
            entropy: Box::new(OsEntropy),
            call_entropy: Box::new(OsEntropy),
        }
    }
}

impl std::fmt::Debug for FlowOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlowOptions").field("registration", &self.registration).finish_non_exhaustive()
    }
}

/// A running account: registered, ready to place and take calls. Dropping
/// it hangs up and unregisters in the background; `stop().await` waits.
#[derive(Debug)]
pub struct AccountFlow {
    commands: mpsc::UnboundedSender<FlowCommand>,
    task: Option<JoinHandle<()>>,
    registers_sent: Arc<AtomicU64>,
    domain: String,
}

impl AccountFlow {
    /// Connects, registers and accepts calls for `account`. Call inside a Tokio runtime.
    pub fn start(account: Account, secret: Secret, instance_id: InstanceId) -> Result<(AccountFlow, FlowEvents), SipError> {
        Self::start_with(account, secret, instance_id, FlowOptions::default())
    }

    pub fn start_with(
        account: Account,
        secret: Secret,
        instance_id: InstanceId,
        options: FlowOptions,
    ) -> Result<(AccountFlow, FlowEvents), SipError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink: EventSink = Box::new(move |event| {
            let _ = tx.send(event);
        });
        let flow = Self::spawn(account, secret, instance_id, options, true, sink)?;
        Ok((flow, FlowEvents(rx)))
    }

    pub(crate) fn spawn(
        account: Account,
        secret: Secret,
        instance_id: InstanceId,
        options: FlowOptions,
        accept_calls: bool,
        sink: EventSink,
    ) -> Result<AccountFlow, SipError> {
        let account = ValidAccount::new(account)?;
        let domain = account.address.domain.clone();
        let machine = RegistrationMachine::new(account.clone(), secret.clone(), instance_id, options.entropy)
            .with_timing(options.registration);
        let identity = Identity::new(&account, secret, machine.contact_host().to_string());
        let ua = UserAgent::new(identity, options.call_entropy, options.calls, accept_calls);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let registers_sent = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(task::run(machine, ua, command_rx, sink, registers_sent.clone()));
        Ok(AccountFlow { commands, task: Some(task), registers_sent, domain })
    }

    async fn call(&self, command: Command) -> Result<(), SipError> {
        let (reply, answer) = oneshot::channel();
        self.commands.send(FlowCommand::Call(command, reply)).map_err(|_| SipError::Stopped)?;
        answer.await.map_err(|_| SipError::Stopped)?
    }

    /// Calls `target` (a number, `user@host` or a SIP URI) with `sdp_offer`;
    /// returns the call's id, which every later event and command uses.
    pub async fn dial(&self, target: &str, sdp_offer: &str) -> Result<String, SipError> {
        self.dial_replacing(target, sdp_offer, None).await
    }

    /// `dial` for a transfer we were asked to make: `replaces` comes from
    /// `TransferRequested` (attended transfer).
    pub async fn dial_replacing(&self, target: &str, sdp_offer: &str, replaces: Option<String>) -> Result<String, SipError> {
        let call_id = format!("{}@{}", token(&mut OsEntropy, 24), self.domain);
        let command = Command::Dial { call_id: call_id.clone(), target: target.to_string(), sdp: sdp_offer.to_string(), replaces };
        self.call(command).await?;
        Ok(call_id)
    }

    pub async fn answer(&self, call_id: &str, sdp_answer: &str) -> Result<(), SipError> {
        self.call(Command::Answer { call_id: call_id.into(), sdp: sdp_answer.into() }).await
    }

    /// Turns a ringing call away: 486 Busy Here (`busy`) or 603 Decline.
    pub async fn reject(&self, call_id: &str, busy: bool) -> Result<(), SipError> {
        self.call(Command::Reject { call_id: call_id.into(), busy }).await
    }

    /// Ends the call whatever its state (CANCEL, decline or BYE).
    pub async fn hangup(&self, call_id: &str) -> Result<(), SipError> {
        self.call(Command::Hangup { call_id: call_id.into() }).await
    }

    /// Sends a new offer (hold: `a=sendonly`; resume: `a=sendrecv`); the
    /// answer arrives as `ReInviteAnswered` (or `ReInviteFailed`).
    pub async fn update_media(&self, call_id: &str, sdp_offer: &str) -> Result<(), SipError> {
        self.call(Command::Reinvite { call_id: call_id.into(), sdp: sdp_offer.into() }).await
    }

    /// Answers the peer's `ReInvite`; None refuses it (488) and keeps the old session.
    pub async fn answer_reinvite(&self, call_id: &str, sdp_answer: Option<&str>) -> Result<(), SipError> {
        self.call(Command::AnswerReinvite { call_id: call_id.into(), sdp: sdp_answer.map(str::to_string) }).await
    }

    /// One key over SIP INFO (`application/dtmf-relay`), queued in order.
    pub async fn send_dtmf(&self, call_id: &str, digit: char, duration_ms: u32) -> Result<(), SipError> {
        self.call(Command::SendDtmf { call_id: call_id.into(), digit, duration_ms }).await
    }

    pub async fn blind_transfer(&self, call_id: &str, target: &str) -> Result<(), SipError> {
        self.call(Command::BlindTransfer { call_id: call_id.into(), target: target.into() }).await
    }

    /// Connects the peer of `call_id` with the peer of `other_call_id` (REFER with Replaces).
    pub async fn attended_transfer(&self, call_id: &str, other_call_id: &str) -> Result<(), SipError> {
        self.call(Command::AttendedTransfer { call_id: call_id.into(), replacing: other_call_id.into() }).await
    }

    /// Reports how the call a `TransferRequested` asked for went (e.g. 180, 200, 486).
    pub async fn transfer_result(&self, call_id: &str, code: u16, reason: &str) -> Result<(), SipError> {
        self.call(Command::TransferResult { call_id: call_id.into(), code, reason: reason.into() }).await
    }

    /// While on, incoming calls get 486 Busy Here and a `MissedCall` event.
    pub async fn set_do_not_disturb(&self, on: bool) -> Result<(), SipError> {
        self.call(Command::SetDoNotDisturb(on)).await
    }

    /// The user edited the account (or re-entered the password): register again at once.
    pub fn account_edited(&self, account: Account, secret: Secret) -> Result<(), SipError> {
        let account = ValidAccount::new(account)?;
        self.commands.send(FlowCommand::Edited(Box::new(account), secret)).map_err(|_| SipError::Stopped)
    }

    /// The machine's network changed or it woke from sleep: drop the
    /// connection (it may be dead without knowing it), reconnect and register
    /// again now. Calls stay up; refreshing their media is the caller's part.
    pub fn network_changed(&self) -> Result<(), SipError> {
        self.commands.send(FlowCommand::NetworkChanged).map_err(|_| SipError::Stopped)
    }

    /// How many REGISTER requests this account has sent.
    pub fn registers_sent(&self) -> u64 {
        self.registers_sent.load(Ordering::Relaxed)
    }

    /// Hangs up every call, unregisters (Expires: 0) and waits until that is
    /// answered or timed out.
    pub async fn stop(mut self) {
        let _ = self.commands.send(FlowCommand::Stop);
        if let Some(task) = self.task.take() {
            // The machine gives up on its own after the unregister timeout;
            // this outer bound only guards against a stuck socket write.
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for AccountFlow {
    fn drop(&mut self) {
        let _ = self.commands.send(FlowCommand::Stop);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::call::{Party, Progress};
    use crate::registration::machine::RegistrationState;

    /// The shell forwards these as JSON unchanged: they must read back the same.
    #[test]
    fn events_are_plain_json() {
        let events = vec![
            FlowEvent::Registration(RegistrationEvent { account: "a@b".into(), state: RegistrationState::Registered { expires: 300 } }),
            FlowEvent::Call(CallEvent::CallProgress { call_id: "c".into(), progress: Progress::EarlyMedia { sdp: "v=0".into() } }),
            FlowEvent::Call(CallEvent::CallEnded { call_id: "c".into(), reason: "busy".into(), code: Some(486), by: Party::Remote }),
        ];
        for e in events {
            let json = serde_json::to_string(&e).unwrap();
            assert_eq!(serde_json::from_str::<FlowEvent>(&json).unwrap(), e, "{json}");
        }
        let json = serde_json::to_value(FlowEvent::Call(CallEvent::CallEnded {
            call_id: "c".into(),
            reason: "busy".into(),
            code: Some(486),
            by: Party::Remote,
        }))
        .unwrap();
        assert_eq!(json["kind"], "call");
        assert_eq!(json["event"], "call_ended");
        assert_eq!(json["reason"], "busy");
    }
}
