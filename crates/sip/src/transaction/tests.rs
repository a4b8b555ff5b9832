//! The transaction machines driven by hand, time injected.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, Instant};

use crate::message::SipMessage;
use crate::transaction::{ClientInput, ClientOutput, ClientTransaction, ServerInput, ServerOutput, ServerTransaction, TxKind, TxTiming};

fn invite() -> SipMessage {
    SipMessage::parse(
        "INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bKabc\r\nRoute: <sip:p;lr>\r\n\
         From: <sip:alice@x>;tag=1\r\nTo: <sip:bob@x>\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n",
    )
    .unwrap()
}

fn response(status: u16) -> SipMessage {
    SipMessage::parse(&format!(
        "SIP/2.0 {status} X\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bKabc\r\nFrom: <sip:alice@x>;tag=1\r\n\
         To: <sip:bob@x>;tag=b\r\nCall-ID: c1\r\nCSeq: 7 INVITE\r\nContent-Length: 0\r\n\r\n"
    ))
    .unwrap()
}

fn drain_client(tx: &mut ClientTransaction) -> Vec<ClientOutput> {
    std::iter::from_fn(|| tx.poll_output()).collect()
}

fn drain_server(tx: &mut ServerTransaction) -> Vec<ServerOutput> {
    std::iter::from_fn(|| tx.poll_output()).collect()
}

#[test]
fn invite_client_acks_a_failure_itself() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(t0, invite(), TxTiming::default());
    tx.handle_input(t0, ClientInput::Response(&response(180)));
    assert_eq!(drain_client(&mut tx), vec![ClientOutput::Provisional(180)]);
    assert_eq!(tx.poll_timeout(), Some(t0 + Duration::from_secs(180)), "Timer C runs while ringing");
    tx.handle_input(t0, ClientInput::Response(&response(486)));
    let out = drain_client(&mut tx);
    let ClientOutput::Send(ack) = &out[0] else { panic!("{out:?}") };
    let ack = SipMessage::parse(ack).unwrap();
    assert_eq!(ack.method(), Some("ACK"));
    assert_eq!(ack.top_branch(), Some("z9hG4bKabc"), "same branch as the INVITE");
    assert_eq!(ack.cseq(), Some((7, "ACK")));
    assert_eq!(ack.tag("To"), Some("b"));
    assert_eq!(ack.header("Route"), Some("<sip:p;lr>"));
    assert_eq!(out[1], ClientOutput::Final(486));
    assert!(tx.is_terminated());
}

#[test]
fn invite_client_passes_every_2xx_while_accepted() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(t0, invite(), TxTiming::default());
    tx.handle_input(t0, ClientInput::Response(&response(200)));
    tx.handle_input(t0, ClientInput::Response(&response(200)));
    tx.handle_input(t0, ClientInput::Response(&response(180)));
    assert_eq!(drain_client(&mut tx), vec![ClientOutput::Final(200), ClientOutput::Final(200)]);
    tx.handle_input(t0 + Duration::from_secs(33), ClientInput::Timeout);
    assert!(tx.is_terminated());
    assert!(drain_client(&mut tx).is_empty(), "the end of Timer M is no failure");
}

#[test]
fn timers_b_and_c() {
    let t0 = Instant::now();
    let mut tx = ClientTransaction::new(t0, invite(), TxTiming::default());
    tx.handle_input(t0 + Duration::from_secs(31), ClientInput::Timeout);
    assert!(drain_client(&mut tx).is_empty(), "not yet");
    tx.handle_input(t0 + Duration::from_secs(32), ClientInput::Timeout);
    assert_eq!(drain_client(&mut tx), vec![ClientOutput::TimedOut { ringing: false }]);

    let mut tx = ClientTransaction::new(t0, invite(), TxTiming::default());
    tx.handle_input(t0 + Duration::from_secs(10), ClientInput::Response(&response(183)));
    tx.handle_input(t0 + Duration::from_secs(60), ClientInput::Timeout);
    assert_eq!(drain_client(&mut tx), vec![ClientOutput::Provisional(183)], "ringing is not timer B");
    tx.handle_input(t0 + Duration::from_secs(190), ClientInput::Timeout);
    assert_eq!(drain_client(&mut tx), vec![ClientOutput::TimedOut { ringing: true }]);
}

#[test]
fn non_invite_client_ends_on_final() {
    let t0 = Instant::now();
    let bye = SipMessage::parse("BYE sip:b@x SIP/2.0\r\nVia: SIP/2.0/WS a;branch=z9hG4bKq\r\nCSeq: 2 BYE\r\n\r\n").unwrap();
    let mut tx = ClientTransaction::new(t0, bye, TxTiming::default());
    tx.handle_input(t0, ClientInput::Response(&response(100)));
    tx.handle_input(t0 + Duration::from_secs(40), ClientInput::Timeout);
    assert_eq!(drain_client(&mut tx), vec![ClientOutput::Provisional(100), ClientOutput::TimedOut { ringing: false }]);
}

#[test]
fn invite_server_waits_for_the_ack() {
    let t0 = Instant::now();
    let mut tx = ServerTransaction::new(TxKind::Invite, TxTiming::default());
    tx.handle_input(t0, ServerInput::Respond { status: 180, text: "r".into() });
    tx.handle_input(t0, ServerInput::Retransmission);
    tx.handle_input(t0, ServerInput::Respond { status: 200, text: "ok".into() });
    tx.handle_input(t0, ServerInput::Respond { status: 486, text: "no".into() });
    assert_eq!(
        drain_server(&mut tx),
        vec![ServerOutput::Send("r".into()), ServerOutput::Send("r".into()), ServerOutput::Send("ok".into())]
    );
    tx.handle_input(t0 + Duration::from_secs(1), ServerInput::Ack);
    assert_eq!(drain_server(&mut tx), vec![ServerOutput::Acknowledged]);
    assert!(tx.is_terminated());

    let mut tx = ServerTransaction::new(TxKind::Invite, TxTiming::default());
    tx.handle_input(t0, ServerInput::Respond { status: 200, text: "ok".into() });
    tx.handle_input(t0 + Duration::from_secs(32), ServerInput::Timeout);
    assert_eq!(drain_server(&mut tx), vec![ServerOutput::Send("ok".into()), ServerOutput::AckTimedOut { status: 200 }]);
}

#[test]
fn non_invite_server_ends_at_once_on_ws() {
    let mut tx = ServerTransaction::new(TxKind::NonInvite, TxTiming::default());
    tx.handle_input(Instant::now(), ServerInput::Respond { status: 200, text: "ok".into() });
    assert!(tx.is_terminated());
    assert_eq!(tx.poll_timeout(), None);
}
