//! The small bodies and headers calls carry: DTMF over INFO, sipfrag in
//! NOTIFY, Refer-To with an embedded Replaces. Bounded, never panics.

use crate::message::{header_param, uri_of};

/// `application/dtmf-relay` (`Signal=5\r\nDuration=160`) or `application/dtmf` (`5`).
pub fn parse_dtmf(content_type: &str, body: &str) -> Option<(char, u32)> {
    if body.len() > 1024 {
        return None;
    }
    let digit_of = |s: &str| {
        let s = s.trim();
        let mut chars = s.chars();
        let c = chars.next()?.to_ascii_uppercase();
        if chars.next().is_some() {
            // RFC 4733 event numbers 10/11 are * and #.
            return match s {
                "10" => Some('*'),
                "11" => Some('#'),
                _ => None,
            };
        }
        matches!(c, '0'..='9' | '*' | '#' | 'A'..='D').then_some(c)
    };
    match content_type {
        "application/dtmf" => Some((digit_of(body)?, 160)),
        "application/dtmf-relay" => {
            let mut digit = None;
            let mut duration = 160;
            for line in body.lines() {
                let Some((name, value)) = line.split_once('=') else { continue };
                match name.trim().to_ascii_lowercase().as_str() {
                    "signal" => digit = digit_of(value),
                    "duration" => duration = value.trim().parse::<u32>().unwrap_or(160).clamp(40, 10_000),
                    _ => {}
                }
            }
            Some((digit?, duration))
        }
        _ => None,
    }
}

pub fn valid_dtmf(digit: char) -> bool {
    matches!(digit.to_ascii_uppercase(), '0'..='9' | '*' | '#' | 'A'..='D')
}

/// `message/sipfrag` → (status, reason): `SIP/2.0 180 Ringing`.
pub fn parse_sipfrag(body: &str) -> Option<(u16, String)> {
    let line = body.lines().next()?.trim();
    let rest = line.strip_prefix("SIP/2.0 ")?;
    let (code, reason) = rest.split_once(' ').unwrap_or((rest, ""));
    let code: u16 = code.parse().ok()?;
    (100..=699).contains(&code).then(|| (code, reason.chars().take(64).collect()))
}

/// `Refer-To: <sip:carol@x?Replaces=id%3Bto-tag%3D1%3Bfrom-tag%3D2>` →
/// (`sip:carol@x`, Some(`id;to-tag=1;from-tag=2`)).
pub fn parse_refer_to(value: &str) -> Option<(String, Option<String>)> {
    let uri = uri_of(value);
    let (target, headers) = match uri.split_once('?') {
        Some((t, h)) => (t, h),
        None => (uri, ""),
    };
    let valid = target.len() <= 1024
        && (target.starts_with("sip:") || target.starts_with("sips:") || target.starts_with("tel:"))
        && !target.contains(char::is_whitespace);
    if !valid {
        return None;
    }
    let replaces = headers.split('&').find_map(|h| {
        let (name, v) = h.split_once('=')?;
        name.eq_ignore_ascii_case("Replaces").then(|| percent_decode(v))
    });
    Some((target.to_string(), replaces.flatten()))
}

/// Escapes a header value for a URI's `?name=value` part.
pub fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len() * 2);
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.!~*'()".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn percent_decode(value: &str) -> Option<String> {
    let bytes = value.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' {
            let hex = value.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// `Session-Expires: 1800;refresher=uac` → (1800, Some("uac")).
pub fn parse_session_expires(value: &str) -> Option<(u32, Option<String>)> {
    let secs: u32 = value.split(';').next()?.trim().parse().ok()?;
    let refresher = header_param(value, "refresher").map(str::to_ascii_lowercase);
    Some((secs, refresher))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn dtmf_bodies() {
        assert_eq!(parse_dtmf("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n"), Some(('5', 160)));
        assert_eq!(parse_dtmf("application/dtmf-relay", "signal= #\nduration=99999"), Some(('#', 10_000)));
        assert_eq!(parse_dtmf("application/dtmf-relay", "Signal=11"), Some(('#', 160)));
        assert_eq!(parse_dtmf("application/dtmf", "a"), Some(('A', 160)));
        assert_eq!(parse_dtmf("application/dtmf-relay", "Signal=X"), None);
        assert_eq!(parse_dtmf("text/plain", "5"), None);
    }

    #[test]
    fn sipfrag_and_refer_to() {
        assert_eq!(parse_sipfrag("SIP/2.0 180 Ringing\r\n"), Some((180, "Ringing".into())));
        assert_eq!(parse_sipfrag("SIP/2.0 99 x"), None);
        let (t, r) = parse_refer_to("<sip:carol@x?Replaces=id%40h%3Bto-tag%3D1%3Bfrom-tag%3D2>").unwrap();
        assert_eq!((t.as_str(), r.as_deref()), ("sip:carol@x", Some("id@h;to-tag=1;from-tag=2")));
        assert_eq!(percent_encode("id@h;to-tag=1"), "id%40h%3Bto-tag%3D1");
        assert_eq!(parse_refer_to("<http://x>"), None);
        assert_eq!(parse_refer_to("sip:bob@x").unwrap(), ("sip:bob@x".into(), None));
    }

    #[test]
    fn garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let pieces = ["Signal=", "Duration=", "SIP/2.0 ", "1", "%", "%3", "?", "Replaces=", "<", ">", "sip:", ";", "=", "\r\n", "é", "refresher=", "&"];
        let mut rng = rand::rngs::StdRng::seed_from_u64(5);
        for _ in 0..20_000 {
            let n = rng.random_range(0..20);
            let s: String = (0..n).map(|_| pieces[rng.random_range(0..pieces.len())]).collect();
            let _ = (parse_dtmf("application/dtmf-relay", &s), parse_sipfrag(&s), parse_refer_to(&s), parse_session_expires(&s));
        }
    }
}
