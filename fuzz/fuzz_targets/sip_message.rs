#![no_main]
//! Any bytes as one SIP message from the server (one WebSocket frame).
//! No panic; a message that parses serialises and parses back to the same
//! message; the responses we would build to a request parse; the trace
//! redaction hides every Authorization / Proxy-Authorization value; every
//! helper that reads headers and small bodies survives any value.

use homeline_sip::call::content::{parse_dtmf, parse_refer_to, parse_session_expires, parse_sipfrag};
use homeline_sip::dialog::{Dialog, Replaces};
use homeline_sip::digest::{answer, AnswerInput, Challenge, ChallengeKind};
use homeline_sip::message::{
    display_name, header_param, redact, split_list, uri_of, uri_user, write_response, write_response_with, SipMessage, StartLine,
    MAX_MESSAGE_BYTES,
};
use libfuzzer_sys::fuzz_target;

/// The message as text again: start line, `name: value` headers, empty line, body.
fn serialise(m: &SipMessage) -> String {
    let mut s = match &m.start {
        StartLine::Request { method, uri } => format!("{method} {uri} SIP/2.0\r\n"),
        StartLine::Response { status, reason } => format!("SIP/2.0 {status} {reason}\r\n"),
    };
    for (name, value) in &m.headers {
        s.push_str(name);
        s.push_str(": ");
        s.push_str(value);
        s.push_str("\r\n");
    }
    s.push_str("\r\n");
    s.push_str(&m.body);
    s
}

fn is_credentials(name: &str) -> bool {
    name.eq_ignore_ascii_case("Authorization") || name.eq_ignore_ascii_case("Proxy-Authorization")
}

/// What the trace would show must not carry a credentials header's value.
fn assert_redacted(text: &str) {
    let shown = redact(text);
    if let Ok(m) = SipMessage::parse(&shown) {
        for (name, value) in &m.headers {
            // (a lone LF inside the value starts another line of the log, checked below)
            if is_credentials(name) {
                assert_eq!(value.split('\n').next(), Some("<redacted>"), "the trace shows {name}: {value:?}");
            }
        }
    }
    // Line by line too, whatever the parser makes of it (LF-only line ends).
    for line in shown.split('\n') {
        if let Some((name, value)) = line.split_once(':') {
            if is_credentials(name.trim()) {
                assert_eq!(value.trim(), "<redacted>", "the trace shows the line {line:?}");
            }
        }
    }
}

fn exercise_helpers(m: &SipMessage) {
    let _ = (m.cseq(), m.top_branch(), m.tag("From"), m.tag("To"), m.content_type(), m.sdp(), m.request_uri());
    let _ = (m.status(), m.reason(), m.method(), m.has_single("Call-ID"));
    for name in ["Expires", "Min-Expires", "Retry-After", "Min-SE"] {
        let _ = m.seconds(name);
    }
    for contact in m.contacts() {
        let _ = (header_param(contact, "expires"), header_param(contact, "+sip.instance"), uri_of(contact), uri_user(contact));
    }
    for (name, value) in &m.headers {
        for item in split_list(value) {
            let _ = (header_param(item, "tag"), header_param(item, "branch"), uri_of(item), display_name(item), uri_user(uri_of(item)));
        }
        if name.eq_ignore_ascii_case("Refer-To") {
            let _ = parse_refer_to(value);
        }
        if name.eq_ignore_ascii_case("Session-Expires") || name.eq_ignore_ascii_case("Min-SE") {
            let _ = parse_session_expires(value);
        }
        if name.eq_ignore_ascii_case("Replaces") {
            let _ = Replaces::parse(value).map(|r| r.to_header());
        }
    }
    let _ = parse_dtmf(&m.content_type().unwrap_or_default(), &m.body);
    let _ = parse_sipfrag(&m.body);

    // Challenges the server sends are answered: our answer must be one header line.
    for header in ["WWW-Authenticate", "Proxy-Authenticate"] {
        if let Some(ch) = Challenge::pick(m.header_values(header)) {
            let input = AnswerInput { username: "alice", password: "pw", method: "REGISTER", uri: "sip:example.com", cnonce: "c", nc: 1 };
            let credentials = answer(&ch, ChallengeKind::Www, &input);
            assert!(!credentials.value.contains(['\r', '\n']), "our answer to {ch:?} breaks the header line");
        }
    }

    if m.method().is_some() {
        // Every answer we build to a request must parse, and keep its CSeq and Call-ID.
        for status in [100, 180, 200, 400, 481, 487] {
            let plain = write_response(m, status, "Reason", "ourtag");
            let with = write_response_with(
                m,
                status,
                "Reason",
                "ourtag",
                &[("Allow", "INVITE, ACK".into())],
                Some(("application/sdp", "v=0\r\n")),
            );
            for text in [plain, with] {
                let response = SipMessage::parse(&text).unwrap_or_else(|e| panic!("our {status} does not parse ({e}):\n{text}"));
                assert_eq!(response.status(), Some(status));
                assert_eq!(response.header("Call-ID"), m.header("Call-ID"));
                assert_eq!(response.header("CSeq"), m.header("CSeq"));
            }
        }
        let _ = Dialog::as_callee(m, "ourtag");
    }
}

fuzz_target!(|data: &[u8]| {
    // WebSocket text frames are UTF-8; binary frames that are not are dropped before parsing.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    assert_redacted(text);
    let Ok(m) = SipMessage::parse(text) else {
        return;
    };
    exercise_helpers(&m);

    let once = serialise(&m);
    assert_redacted(&once);
    // Compact header names expand, so a message near the limit may grow past it.
    if once.len() <= MAX_MESSAGE_BYTES {
        let again = SipMessage::parse(&once).unwrap_or_else(|e| panic!("the serialised message does not parse ({e}):\n{once:?}"));
        assert_eq!(again, m, "the round trip changed the message:\n{once:?}");
        assert_eq!(serialise(&again), once);
    }
});
