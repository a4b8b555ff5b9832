//! Homeline's SIP user agent over WebSocket (RFC 7118).
//!
//! [`AccountFlow`] is the engine's handle: one WebSocket per account carries
//! the registration and every call (place, answer, hang up, hold, DTMF,
//! transfer), with one stream of [`FlowEvent`]s. Protocol logic lives in
//! sans-IO machines: [`RegistrationMachine`], the transactions in
//! [`transaction`], dialogs in [`dialog`] and the calls' [`call::UserAgent`].
//!
//! The registration alone: [`Registration::start`] connects to
//! the account's `wss://` server, registers with digest auth, refreshes,
//! survives server restarts and unregisters on [`Registration::stop`].
//! The protocol itself lives in [`RegistrationMachine`], a sans-IO state
//! machine that the tests drive without sockets or clocks.
//!
//! See README.md for why this is our own WebSocket client rather than
//! rsipstack's registration.

pub mod account;
pub mod call;
pub mod dialog;
pub mod digest;
pub mod error;
pub mod flow;
pub mod message;
pub mod probe;
pub mod registration;
pub mod transaction;
pub mod transport;

pub use account::{Account, InstanceId, Secret, TlsTrust, ValidAccount};
pub use call::{CallEvent, Party, Progress};
pub use error::SipError;
pub use flow::{AccountFlow, FlowEvent, FlowEvents, FlowOptions};
pub use registration::client::{Registration, RegistrationEvent, RegistrationEvents};
pub use registration::entropy::{Entropy, OsEntropy, SeededEntropy};
pub use registration::machine::{Input, Output, RegistrationMachine, RegistrationState, Timing};
