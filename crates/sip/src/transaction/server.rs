//! The server transaction: one request we received, and our answer to it.

use std::collections::VecDeque;
use std::time::Instant;

use crate::transaction::{TxKind, TxTiming};

#[derive(Debug)]
pub enum ServerInput {
    /// The same request again (same branch): repeat the last response.
    Retransmission,
    /// The transaction user answers with this response (`status`, wire text).
    Respond { status: u16, text: String },
    /// An ACK for this INVITE (to a failure: same branch; to a 2xx: the dialog's).
    Ack,
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerOutput {
    Send(String),
    /// The ACK for our 2xx arrived: the call is set up.
    Acknowledged,
    /// The ACK for our final response never came (Timer H or the 2xx wait).
    AckTimedOut { status: u16 },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Proceeding,
    /// INVITE: a failure sent, waiting for its ACK.
    Completed,
    /// INVITE: a 2xx sent, waiting for the end-to-end ACK.
    Accepted,
    Terminated,
}

#[derive(Debug)]
pub struct ServerTransaction {
    kind: TxKind,
    state: State,
    last_response: Option<(u16, String)>,
    deadline: Option<Instant>,
    timing: TxTiming,
    outputs: VecDeque<ServerOutput>,
}

impl ServerTransaction {
    pub fn new(kind: TxKind, timing: TxTiming) -> ServerTransaction {
        ServerTransaction { kind, state: State::Proceeding, last_response: None, deadline: None, timing, outputs: VecDeque::new() }
    }

    pub fn is_terminated(&self) -> bool {
        self.state == State::Terminated
    }

    /// True until a final response was sent.
    pub fn is_pending(&self) -> bool {
        self.state == State::Proceeding
    }

    pub fn poll_output(&mut self) -> Option<ServerOutput> {
        self.outputs.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadline
    }

    pub fn handle_input(&mut self, now: Instant, input: ServerInput) {
        match input {
            ServerInput::Retransmission => {
                if let Some((_, text)) = &self.last_response {
                    self.outputs.push_back(ServerOutput::Send(text.clone()));
                }
            }
            ServerInput::Respond { status, text } => self.respond(now, status, text),
            ServerInput::Ack => match self.state {
                State::Accepted => {
                    self.terminate();
                    self.outputs.push_back(ServerOutput::Acknowledged);
                }
                // Timer I is zero on a reliable transport.
                State::Completed => self.terminate(),
                State::Proceeding | State::Terminated => {}
            },
            ServerInput::Timeout => {
                if self.deadline.is_some_and(|d| now >= d) {
                    let status = self.last_response.as_ref().map(|(s, _)| *s).unwrap_or(500);
                    let waiting_ack = matches!(self.state, State::Completed | State::Accepted);
                    self.terminate();
                    if waiting_ack {
                        self.outputs.push_back(ServerOutput::AckTimedOut { status });
                    }
                }
            }
        }
    }

    fn respond(&mut self, now: Instant, status: u16, text: String) {
        if self.state != State::Proceeding {
            return; // one final response per transaction
        }
        self.outputs.push_back(ServerOutput::Send(text.clone()));
        self.last_response = Some((status, text));
        match (self.kind, status) {
            (_, 100..=199) => {}
            (TxKind::Invite, 200..=299) => {
                self.state = State::Accepted;
                self.deadline = Some(now + self.timing.ack_wait);
            }
            (TxKind::Invite, _) => {
                self.state = State::Completed;
                self.deadline = Some(now + self.timing.ack_wait);
            }
            // Timer J is zero on a reliable transport.
            (TxKind::NonInvite, _) => self.terminate(),
        }
    }

    fn terminate(&mut self) {
        self.state = State::Terminated;
        self.deadline = None;
    }
}
