//! The I/O edge: one WebSocket (RFC 7118, subprotocol `sip`) per account,
//! over TLS we configure ourselves.

pub mod tls;
pub mod ws;
