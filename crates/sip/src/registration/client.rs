//! The async handle: one task per account owns the WebSocket and drives the
//! [`RegistrationMachine`] with real time and real messages.

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::account::{Account, InstanceId, Secret, ValidAccount};
use crate::error::SipError;
use crate::message::{redact, write_response, SipMessage};
use crate::registration::entropy::{token, Entropy, OsEntropy};
use crate::registration::machine::{Input, Output, RegistrationMachine, RegistrationState, Timing};
use crate::transport::tls::client_config;
use crate::transport::ws::{connect, WsStream};

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

enum Command {
    Edited(Box<ValidAccount>, Secret),
    Stop,
}

/// A running registration for one account. Dropping it unregisters in the
/// background; `stop().await` unregisters and waits for it.
#[derive(Debug)]
pub struct Registration {
    commands: mpsc::UnboundedSender<Command>,
    task: Option<JoinHandle<()>>,
    registers_sent: Arc<AtomicU64>,
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
        let account = ValidAccount::new(account)?;
        let machine = RegistrationMachine::new(account, secret, instance_id, entropy).with_timing(timing);
        let (commands, command_rx) = mpsc::unbounded_channel();
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        let registers_sent = Arc::new(AtomicU64::new(0));
        let task = tokio::spawn(run(machine, command_rx, events_tx, registers_sent.clone()));
        Ok((Registration { commands, task: Some(task), registers_sent }, RegistrationEvents(events_rx)))
    }

    /// The user edited the account (or re-entered the password): register again at once.
    pub fn account_edited(&self, account: Account, secret: Secret) -> Result<(), SipError> {
        let account = ValidAccount::new(account)?;
        self.commands.send(Command::Edited(Box::new(account), secret)).map_err(|_| SipError::Stopped)
    }

    /// How many REGISTER requests this registration has sent.
    pub fn registers_sent(&self) -> u64 {
        self.registers_sent.load(Ordering::Relaxed)
    }

    /// Unregisters (Expires: 0) and waits until that is answered or timed out.
    pub async fn stop(mut self) {
        let _ = self.commands.send(Command::Stop);
        if let Some(task) = self.task.take() {
            // The machine gives up on its own after the unregister timeout;
            // this outer bound only guards against a stuck socket write.
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Stop);
    }
}

type Connecting = Pin<Box<dyn Future<Output = Result<WsStream, SipError>> + Send>>;

async fn run(
    mut machine: RegistrationMachine,
    mut commands: mpsc::UnboundedReceiver<Command>,
    events: mpsc::UnboundedSender<RegistrationEvent>,
    registers_sent: Arc<AtomicU64>,
) {
    let address = machine.account().address.to_string();
    let mut tls: Option<Arc<rustls::ClientConfig>> = None;
    let mut ws: Option<WsStream> = None;
    let mut connecting: Option<Connecting> = None;
    let mut commands_open = true;
    let mut tag_entropy = OsEntropy;
    machine.handle_input(Instant::now().into_std(), Input::Start);
    loop {
        let mut lost = false;
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Connect => {
                    ws = None;
                    match start_connect(machine.account(), &mut tls) {
                        Ok(fut) => connecting = Some(fut),
                        Err(e) => {
                            connecting = None;
                            machine.handle_input(Instant::now().into_std(), Input::ConnectFailed(e));
                        }
                    }
                }
                Output::Disconnect => {
                    connecting = None;
                    if let Some(mut socket) = ws.take() {
                        let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                    }
                }
                Output::Send(text) => {
                    tracing::debug!(target: "homeline_sip::trace", account = %address, "sending:\n{}", redact(&text));
                    lost |= !send(&mut ws, text).await;
                }
                Output::KeepAlive => lost |= !send(&mut ws, "\r\n\r\n".to_string()).await,
                Output::State(state) => {
                    let _ = events.send(RegistrationEvent { account: address.clone(), state });
                }
                Output::Stopped => {
                    registers_sent.store(machine.registers_sent(), Ordering::Relaxed);
                    if let Some(mut socket) = ws.take() {
                        let _ = tokio::time::timeout(Duration::from_secs(2), socket.close(None)).await;
                    }
                    return;
                }
            }
        }
        registers_sent.store(machine.registers_sent(), Ordering::Relaxed);
        if lost {
            ws = None;
            machine.handle_input(Instant::now().into_std(), Input::ConnectionLost);
            continue;
        }
        let deadline = machine.poll_timeout();
        tokio::select! {
            command = commands.recv(), if commands_open => match command {
                Some(Command::Edited(account, secret)) => {
                    tls = None;
                    machine.handle_input(Instant::now().into_std(), Input::AccountEdited(account, secret));
                }
                Some(Command::Stop) => machine.handle_input(Instant::now().into_std(), Input::Stop),
                None => {
                    commands_open = false;
                    machine.handle_input(Instant::now().into_std(), Input::Stop);
                }
            },
            result = poll_connecting(&mut connecting) => {
                connecting = None;
                let now = Instant::now().into_std();
                match result {
                    Ok(socket) => {
                        ws = Some(socket);
                        machine.handle_input(now, Input::Connected);
                    }
                    Err(e) => machine.handle_input(now, Input::ConnectFailed(e)),
                }
            },
            frame = next_frame(&mut ws) => {
                let now = Instant::now().into_std();
                match frame {
                    Some(Ok(Message::Text(text))) => on_text(&mut machine, &mut ws, &mut tag_entropy, now, text.as_str()).await,
                    Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                        Ok(text) => on_text(&mut machine, &mut ws, &mut tag_entropy, now, text).await,
                        Err(_) => tracing::debug!("dropping a binary WebSocket frame that is not UTF-8"),
                    },
                    Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                    Some(Err(e)) => {
                        tracing::info!(account = %address, error = %e, "WebSocket failed");
                        ws = None;
                        machine.handle_input(now, Input::ConnectionLost);
                    }
                    None => {
                        tracing::info!(account = %address, "WebSocket closed by the server");
                        ws = None;
                        machine.handle_input(now, Input::ConnectionLost);
                    }
                }
            },
            () = sleep_until(deadline) => machine.handle_input(Instant::now().into_std(), Input::Timeout),
        }
    }
}

fn start_connect(account: &ValidAccount, tls: &mut Option<Arc<rustls::ClientConfig>>) -> Result<Connecting, SipError> {
    let url = account.connect_to.clone();
    let config = if url.secure {
        match tls {
            Some(c) => Some(c.clone()),
            None => {
                let c = client_config(account)?;
                *tls = Some(c.clone());
                Some(c)
            }
        }
    } else {
        None
    };
    let pinned = account.fingerprint.is_some();
    Ok(Box::pin(async move { connect(&url, config, pinned).await }))
}

/// Sends one text frame; false when the socket is gone or broke.
async fn send(ws: &mut Option<WsStream>, text: String) -> bool {
    match ws.as_mut() {
        Some(socket) => match tokio::time::timeout(Duration::from_secs(10), socket.send(Message::text(text))).await {
            Ok(Ok(())) => true,
            Ok(Err(e)) => {
                tracing::info!(error = %e, "could not send on the WebSocket");
                false
            }
            Err(_) => false,
        },
        None => false,
    }
}

async fn on_text(
    machine: &mut RegistrationMachine,
    ws: &mut Option<WsStream>,
    entropy: &mut dyn Entropy,
    now: std::time::Instant,
    text: &str,
) {
    if text.trim().is_empty() {
        return; // keep-alive pong (CRLF)
    }
    tracing::debug!(target: "homeline_sip::trace", "received:\n{}", redact(text));
    let msg = match SipMessage::parse(text) {
        Ok(m) => m,
        Err(e) => {
            tracing::info!(error = %e, "dropping a SIP message that could not be read");
            return;
        }
    };
    match msg.method() {
        None => machine.handle_input(now, Input::Received(&msg)),
        Some("ACK") => {}
        Some(method) => {
            // Calls come in a later slice: answer so the server does not wait.
            let (code, reason) = if method == "OPTIONS" { (200, "OK") } else { (501, "Not Implemented") };
            let answer = write_response(&msg, code, reason, &token(entropy, 10));
            let _ = send(ws, answer).await;
        }
    }
}

async fn poll_connecting(connecting: &mut Option<Connecting>) -> Result<WsStream, SipError> {
    match connecting.as_mut() {
        Some(fut) => fut.await,
        None => pending().await,
    }
}

async fn next_frame(ws: &mut Option<WsStream>) -> Option<Result<Message, tokio_tungstenite::tungstenite::Error>> {
    match ws.as_mut() {
        Some(socket) => socket.next().await,
        None => pending().await,
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(Instant::from_std(d)).await,
        None => pending().await,
    }
}
