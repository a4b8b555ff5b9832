#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use crate::dialog::{Dialog, Replaces};
use crate::message::SipMessage;

const INVITE: &str = "INVITE sip:bob@x SIP/2.0\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\n\
    From: \"Alice\" <sip:alice@x>;tag=la\r\nTo: <sip:bob@x>\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
    Contact: <sip:alice@a.invalid;transport=ws>\r\nRecord-Route: <sip:p2;lr>, <sip:p1;lr>\r\nContent-Length: 0\r\n\r\n";

#[test]
fn caller_and_callee_see_the_same_dialog_mirrored() {
    let invite = SipMessage::parse(INVITE).unwrap();
    let ok = SipMessage::parse(
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/WS a.invalid;branch=z9hG4bK1\r\nRecord-Route: <sip:p2;lr>\r\nRecord-Route: <sip:p1;lr>\r\n\
         From: \"Alice\" <sip:alice@x>;tag=la\r\nTo: <sip:bob@x>;tag=rb\r\nCall-ID: c1\r\nCSeq: 1 INVITE\r\n\
         Contact: <sip:bob@b.invalid;transport=ws>\r\n\r\n",
    )
    .unwrap();
    let mut caller = Dialog::as_caller(&invite, &ok).unwrap();
    assert_eq!(caller.route_set, vec!["<sip:p1;lr>", "<sip:p2;lr>"], "reversed for the caller");
    assert_eq!(caller.remote_target, "sip:bob@b.invalid;transport=ws");
    let cseq = caller.next_cseq();
    assert_eq!(cseq, 2);
    let (uri, headers) = caller.request_headers("BYE", cseq);
    assert_eq!(uri, "sip:bob@b.invalid;transport=ws");
    assert!(headers.contains(&("To", "<sip:bob@x>;tag=rb".into())));
    assert!(headers.contains(&("From", "\"Alice\" <sip:alice@x>;tag=la".into())));

    let callee = Dialog::as_callee(&invite, "rb").unwrap();
    assert_eq!(callee.route_set, vec!["<sip:p2;lr>", "<sip:p1;lr>"]);
    assert_eq!(callee.remote_target, "sip:alice@a.invalid;transport=ws");
    assert!(callee.matches_replaces(&caller.replaces_for_peer()));
}

#[test]
fn remote_cseq_must_grow() {
    let mut d = Dialog::as_callee(&SipMessage::parse(INVITE).unwrap(), "t").unwrap();
    assert!(!d.accept_remote_cseq(1));
    assert!(d.accept_remote_cseq(5));
    assert!(!d.accept_remote_cseq(4));
}

#[test]
fn replaces_header() {
    let r = Replaces::parse("abc@h;to-tag=1;from-tag=2;early-only").unwrap();
    assert_eq!((r.call_id.as_str(), r.to_tag.as_str(), r.from_tag.as_str()), ("abc@h", "1", "2"));
    assert_eq!(Replaces::parse(&r.to_header()), Some(r));
    for bad in ["", "x", "x;to-tag=1", ";to-tag=1;from-tag=2", "x;to-tag=;from-tag=2"] {
        assert_eq!(Replaces::parse(bad), None, "{bad}");
    }
}

#[test]
fn too_many_routes_is_no_dialog() {
    let routes = "<sip:p;lr>,".repeat(40);
    let text = INVITE.replace("Record-Route: <sip:p2;lr>, <sip:p1;lr>", &format!("Record-Route: {routes}"));
    assert!(Dialog::as_callee(&SipMessage::parse(&text).unwrap(), "t").is_none());
}
