//! The registration-only handle: an [`AccountFlow`] that turns calls away
//! (480) and reports only registration states. The engine uses
//! `AccountFlow` itself; this keeps the registration's API and tests.

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::account::{Account, InstanceId, Secret};
use crate::error::SipError;
use crate::flow::{AccountFlow, FlowEvent, FlowOptions};
use crate::registration::entropy::{Entropy, OsEntropy};
use crate::registration::machine::{RegistrationState, Timing};

/// One registration state change, as the engine forwards it to the UI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistrationEvent {
    /// The account's address, `alice@example.com`.
    pub account: String,
    #[serde(flatten)]
    pub state: RegistrationState,
}

/// The registration's events, in order. Ends after `Unregistered` at stop.
#[derive(Debug)]
pub struct RegistrationEvents(mpsc::UnboundedReceiver<RegistrationEvent>);

impl RegistrationEvents {
    pub async fn next(&mut self) -> Option<RegistrationEvent> {
        self.0.recv().await
    }
}

/// A running registration for one account. Dropping it unregisters in the
/// background; `stop().await` unregisters and waits for it.
#[derive(Debug)]
pub struct Registration {
    flow: AccountFlow,
}

impl Registration {
    /// Starts registering `account`. Call inside a Tokio runtime.
    pub fn start(account: Account, secret: Secret, instance_id: InstanceId) -> Result<(Registration, RegistrationEvents), SipError> {
        Self::start_with(account, secret, instance_id, Timing::default(), Box::new(OsEntropy))
    }

    /// `start` with other timings or randomness (tests).
    pub fn start_with(
        account: Account,
        secret: Secret,
        instance_id: InstanceId,
        timing: Timing,
        entropy: Box<dyn Entropy>,
    ) -> Result<(Registration, RegistrationEvents), SipError> {
        let (tx, rx) = mpsc::unbounded_channel();
        let sink = Box::new(move |event| {
            if let FlowEvent::Registration(e) = event {
                let _ = tx.send(e);
            }
        });
        let options = FlowOptions { registration: timing, entropy, ..FlowOptions::default() };
        let flow = AccountFlow::spawn(account, secret, instance_id, options, false, sink)?;
        Ok((Registration { flow }, RegistrationEvents(rx)))
    }

    /// The user edited the account (or re-entered the password): register again at once.
    pub fn account_edited(&self, account: Account, secret: Secret) -> Result<(), SipError> {
        self.flow.account_edited(account, secret)
    }

    /// How many REGISTER requests this registration has sent.
    pub fn registers_sent(&self) -> u64 {
        self.flow.registers_sent()
    }

    /// Unregisters (Expires: 0) and waits until that is answered or timed out.
    pub async fn stop(self) {
        self.flow.stop().await;
    }
}
