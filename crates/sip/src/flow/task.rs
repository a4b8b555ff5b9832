//! The one task per account that owns the WebSocket: it drives the
//! registration machine and the call user agent with real time and real
//! messages, and sends what they produce. REGISTER responses go to the
//! registration; every other message goes to the user agent.

use std::future::{pending, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::{SinkExt as _, StreamExt as _};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;

use crate::account::{Secret, ValidAccount};
use crate::call::{self, Identity, UserAgent};
use crate::error::SipError;
use crate::flow::FlowEvent;
use crate::message::{redact, SipMessage};
use crate::registration::client::RegistrationEvent;
use crate::registration::machine::{Input, Output, RegistrationMachine};
use crate::transport::tls::client_config;
use crate::transport::ws::{connect, WsStream};

pub(crate) enum FlowCommand {
    Edited(Box<ValidAccount>, Secret),
    /// The network changed or the machine woke up: reconnect now.
    NetworkChanged,
    Stop,
    Call(call::Command, oneshot::Sender<Result<(), SipError>>),
}

pub(crate) type EventSink = Box<dyn FnMut(FlowEvent) + Send>;

type Connecting = Pin<Box<dyn Future<Output = Result<WsStream, SipError>> + Send>>;

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

pub(crate) async fn run(
    mut machine: RegistrationMachine,
    mut ua: UserAgent,
    mut commands: mpsc::UnboundedReceiver<FlowCommand>,
    mut events: EventSink,
    registers_sent: Arc<AtomicU64>,
) {
    let address = machine.account().address.to_string();
    let mut tls: Option<Arc<rustls::ClientConfig>> = None;
    let mut ws: Option<WsStream> = None;
    let mut connecting: Option<Connecting> = None;
    let mut commands_open = true;
    machine.handle_input(now(), Input::Start);
    loop {
        let mut lost = false;
        // Calls first: on stop their BYEs go out before the unregister closes the flow.
        while let Some(output) = ua.poll_output() {
            match output {
                call::Output::Send(text) => {
                    if ws.is_none() {
                        tracing::debug!(account = %address, "not connected: a SIP message could not be sent");
                    }
                    tracing::debug!(target: "homeline_sip::trace", account = %address, "sending:\n{}", redact(&text));
                    lost |= ws.is_some() && !send(&mut ws, text).await;
                }
                call::Output::Event(event) => events(FlowEvent::Call(event)),
            }
        }
        while let Some(output) = machine.poll_output() {
            match output {
                Output::Connect => {
                    ws = None;
                    match start_connect(machine.account(), &mut tls) {
                        Ok(fut) => connecting = Some(fut),
                        Err(e) => {
                            connecting = None;
                            machine.handle_input(now(), Input::ConnectFailed(e));
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
                Output::KeepAlive => {
                    // CRLF keeps NAT bindings open (RFC 5626); the ping's pong
                    // proves the server is still there (any frame counts).
                    lost |= !send(&mut ws, "\r\n\r\n".to_string()).await;
                    lost |= !send_message(&mut ws, Message::Ping(Default::default())).await;
                }
                Output::State(state) => events(FlowEvent::Registration(RegistrationEvent { account: address.clone(), state })),
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
            machine.handle_input(now(), Input::ConnectionLost);
            continue;
        }
        let deadline = match (machine.poll_timeout(), ua.poll_timeout()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        tokio::select! {
            command = commands.recv(), if commands_open => match command {
                Some(FlowCommand::Edited(account, secret)) => {
                    tls = None;
                    ua.set_identity(Identity::new(&account, secret.clone(), machine.contact_host().to_string()));
                    machine.handle_input(now(), Input::AccountEdited(account, secret));
                }
                Some(FlowCommand::Call(command, reply)) => {
                    // A call placed while offline would only time out: say so now.
                    let offline = ws.is_none() && matches!(command, call::Command::Dial { .. });
                    let result = if offline { Err(SipError::NotConnected) } else { ua.handle_command(now(), command) };
                    let _ = reply.send(result);
                }
                Some(FlowCommand::NetworkChanged) => machine.handle_input(now(), Input::NetworkChanged),
                Some(FlowCommand::Stop) => {
                    ua.hang_up_all(now());
                    machine.handle_input(now(), Input::Stop);
                }
                None => {
                    commands_open = false;
                    ua.hang_up_all(now());
                    machine.handle_input(now(), Input::Stop);
                }
            },
            result = poll_connecting(&mut connecting) => {
                connecting = None;
                match result {
                    Ok(socket) => {
                        ws = Some(socket);
                        machine.handle_input(now(), Input::Connected);
                    }
                    Err(e) => machine.handle_input(now(), Input::ConnectFailed(e)),
                }
            },
            frame = next_frame(&mut ws) => {
                if matches!(frame, Some(Ok(_))) {
                    machine.handle_input(now(), Input::Alive);
                }
                match frame {
                    Some(Ok(Message::Text(text))) => on_text(&mut machine, &mut ua, text.as_str()),
                    Some(Ok(Message::Binary(bytes))) => match std::str::from_utf8(&bytes) {
                        Ok(text) => on_text(&mut machine, &mut ua, text),
                        Err(_) => tracing::debug!("dropping a binary WebSocket frame that is not UTF-8"),
                    },
                    Some(Ok(_)) => {} // ping/pong: tungstenite answers pings itself
                    Some(Err(e)) => {
                        tracing::info!(account = %address, error = %e, "WebSocket failed");
                        ws = None;
                        machine.handle_input(now(), Input::ConnectionLost);
                    }
                    None => {
                        tracing::info!(account = %address, "WebSocket closed by the server");
                        ws = None;
                        machine.handle_input(now(), Input::ConnectionLost);
                    }
                }
            },
            () = sleep_until(deadline) => {
                let now = now();
                machine.handle_input(now, Input::Timeout);
                ua.handle_timeout(now);
            },
        }
    }
}

/// One received frame: REGISTER answers to the registration, the rest to the calls.
fn on_text(machine: &mut RegistrationMachine, ua: &mut UserAgent, text: &str) {
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
    let for_registration = msg.status().is_some() && msg.cseq().is_some_and(|(_, m)| m == "REGISTER");
    if for_registration {
        machine.handle_input(now(), Input::Received(&msg));
    } else {
        ua.handle_message(now(), &msg);
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
    send_message(ws, Message::text(text)).await
}

async fn send_message(ws: &mut Option<WsStream>, message: Message) -> bool {
    match ws.as_mut() {
        Some(socket) => match tokio::time::timeout(Duration::from_secs(10), socket.send(message)).await {
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
