//! The client transaction: one request we sent, waiting for its answer.

use std::collections::VecDeque;
use std::time::Instant;

use crate::message::{write_message, SipMessage};
use crate::transaction::{TxKind, TxTiming};

#[derive(Debug)]
pub enum ClientInput<'a> {
    /// A response whose branch and CSeq method match this transaction.
    Response(&'a SipMessage),
    /// The deadline from `poll_timeout` has passed.
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutput {
    /// Hand this response to the transaction user (1xx).
    Provisional(u16),
    /// Hand this response to the transaction user (≥ 200; a repeated 2xx to
    /// an INVITE comes again so the dialog can acknowledge it).
    Final(u16),
    /// Send this (the ACK for a non-2xx final response to an INVITE).
    Send(String),
    /// No final response in time. `ringing` tells Timer C (it rang) from B/F.
    TimedOut { ringing: bool },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Calling (INVITE) or Trying (non-INVITE).
    Waiting,
    Proceeding,
    /// INVITE answered with 2xx: later 2xx (forks) still go up.
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct ClientTransaction {
    kind: TxKind,
    request: SipMessage,
    state: State,
    deadline: Option<Instant>,
    timing: TxTiming,
    outputs: VecDeque<ClientOutput>,
}

impl ClientTransaction {
    /// Starts the transaction for `request`, which the caller sends now.
    pub fn new(now: Instant, request: SipMessage, timing: TxTiming) -> ClientTransaction {
        let kind = if request.method() == Some("INVITE") { TxKind::Invite } else { TxKind::NonInvite };
        let deadline = Some(now + timing.no_response);
        ClientTransaction { kind, request, state: State::Waiting, deadline, timing, outputs: VecDeque::new() }
    }

    pub fn request(&self) -> &SipMessage {
        &self.request
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// True once a provisional or final response arrived (CANCEL may go).
    pub fn has_response(&self) -> bool {
        self.state != State::Waiting
    }

    pub fn poll_output(&mut self) -> Option<ClientOutput> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn handle_input(&mut self, now: Instant, input: ClientInput<'_>) {
        match input {
            ClientInput::Response(msg) => self.on_response(now, msg),
            ClientInput::Timeout => self.on_timeout(now),
        }
    }

    fn on_response(&mut self, now: Instant, msg: &SipMessage) {
        let Some(status) = msg.status() else { return };
        match (self.kind, self.state, status) {
            (_, State::Terminated, _) => {}
            (TxKind::Invite, State::Accepted, 200..=299) => self.outputs.push_back(ClientOutput::Final(status)),
            (_, State::Accepted, _) => {}
            (kind, _, 100..=199) => {
                self.state = State::Proceeding;
                if kind == TxKind::Invite {
                    // Timer C restarts with every provisional response.
                    self.deadline = Some(now + self.timing.ringing);
                }
                self.outputs.push_back(ClientOutput::Provisional(status));
            }
            (TxKind::Invite, _, 200..=299) => {
                self.state = State::Accepted;
                self.deadline = Some(now + self.timing.accepted);
                self.outputs.push_back(ClientOutput::Final(status));
            }
            (TxKind::Invite, _, _) => {
                // The ACK for a failure belongs to the transaction (§17.1.1.3);
                // Timer D is zero on a reliable transport.
                self.outputs.push_back(ClientOutput::Send(ack_for_failure(&self.request, msg)));
                self.terminate();
                self.outputs.push_back(ClientOutput::Final(status));
            }
            (TxKind::NonInvite, _, _) => {
                self.terminate();
                self.outputs.push_back(ClientOutput::Final(status));
            }
        }
    }

    fn on_timeout(&mut self, now: Instant) {
        if self.deadline.is_none_or(|d| now < d) {
            return;
        }
        match self.state {
            State::Waiting | State::Proceeding => {
                let ringing = self.state == State::Proceeding && self.kind == TxKind::Invite;
                self.terminate();
                self.outputs.push_back(ClientOutput::TimedOut { ringing });
            }
            State::Accepted | State::Terminated => self.terminate(),
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.deadline = None;
    }
}

/// The hop-by-hop ACK for a non-2xx final response (RFC 3261 §17.1.1.3):
/// the INVITE's R-URI, top Via, Route, From, Call-ID; the response's To.
pub fn ack_for_failure(invite: &SipMessage, response: &SipMessage) -> String {
    let mut headers: Vec<(&str, String)> = Vec::new();
    if let Some(via) = invite.header("Via") {
        headers.push(("Via", via.to_string()));
    }
    headers.push(("Max-Forwards", "70".into()));
    for route in invite.header_values("Route") {
        headers.push(("Route", route.to_string()));
    }
    for name in ["From", "Call-ID"] {
        if let Some(v) = invite.header(name) {
            headers.push((name, v.to_string()));
        }
    }
    if let Some(to) = response.header("To") {
        headers.push(("To", to.to_string()));
    }
    let number = invite.cseq().map(|(n, _)| n).unwrap_or(1);
    headers.push(("CSeq", format!("{number} ACK")));
    let uri = invite.request_uri().unwrap_or("sip:invalid");
    write_message(&format!("ACK {uri} SIP/2.0"), &headers, None)
}
