//! A userspace UDP impairment relay: this kernel has no netem, and tests and benchmarks
//! need loss (random and bursty), delay, jitter, reordering and duplication they can repeat.
//!
//! - [`model`]: the decisions, a pure seeded state machine ([`Impairer`]).
//! - [`relay`]: the sockets ([`Relay`]), one client ↔ one target, per-direction impairments.
//! - [`sdp`]: putting a relay into a WebRTC call by rewriting ICE candidates (see README).

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod model;
pub mod relay;
mod rng;
pub mod sdp;

pub use model::{Counters, Fate, GilbertElliott, Impairer, Impairment};
pub use relay::{Relay, RelayConfig, RelayCounters};

#[derive(Debug, thiserror::Error)]
pub enum ImpairError {
    #[error("The relay could not listen on {0}: {1}")]
    Bind(String, String),
    #[error("{0}")]
    Usage(String),
}
