//! RFC 3261 §17 transactions over a reliable transport (WebSocket): no
//! retransmissions, so timers A/E/G and the absorb timers D/I/J/K are zero;
//! what remains are the give-up timers (B/F/H, 32 s), Timer C for an INVITE
//! that rings forever, and RFC 6026's Accepted states.
//!
//! Both machines are sans-IO: `handle_input(now, …)`, `poll_output()`,
//! `poll_timeout()`.

pub mod client;
pub mod server;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use client::{ClientInput, ClientOutput, ClientTransaction};
pub use server::{ServerInput, ServerOutput, ServerTransaction};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TxKind {
    Invite,
    NonInvite,
}

/// Transaction timers; the defaults are RFC 3261's for T1 = 500 ms.
#[derive(Debug, Clone)]
pub struct TxTiming {
    /// Timer B / F: no final response (64·T1).
    pub no_response: Duration,
    /// Timer C: an INVITE that keeps ringing without a final answer.
    pub ringing: Duration,
    /// Timer H (and the 2xx ACK wait): an answered INVITE never acknowledged.
    pub ack_wait: Duration,
    /// Timer M (RFC 6026): how long further 2xx to our INVITE are accepted.
    pub accepted: Duration,
}

impl Default for TxTiming {
    fn default() -> Self {
        TxTiming {
            no_response: Duration::from_secs(32),
            ringing: Duration::from_secs(180),
            ack_wait: Duration::from_secs(32),
            accepted: Duration::from_secs(32),
        }
    }
}
