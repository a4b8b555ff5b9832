//! Homeline's SIP user agent over WebSocket (RFC 7118).
//!
//! This first slice registers accounts: [`Registration::start`] connects to
//! the account's `wss://` server, registers with digest auth, refreshes,
//! survives server restarts and unregisters on [`Registration::stop`].
//! The protocol itself lives in [`RegistrationMachine`], a sans-IO state
//! machine that the tests drive without sockets or clocks.
//!
//! See README.md for why this is our own WebSocket client rather than
//! rsipstack's registration.

pub mod account;
pub mod digest;
pub mod error;
pub mod message;
pub mod registration;
pub mod transport;

pub use account::{Account, InstanceId, Secret, TlsTrust, ValidAccount};
pub use error::SipError;
pub use registration::client::{Registration, RegistrationEvent, RegistrationEvents};
pub use registration::entropy::{Entropy, OsEntropy, SeededEntropy};
pub use registration::machine::{Input, Output, RegistrationMachine, RegistrationState, Timing};
