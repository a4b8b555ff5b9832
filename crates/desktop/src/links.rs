//! `tel:`, `sip:`, `sips:` and `callto:` links: the OS starts Homeline with
//! the link as an argument (or hands it to the running instance).

const SCHEMES: [&str; 4] = ["tel:", "sip:", "sips:", "callto:"];

/// The first argument that is a call link, percent-decoded.
pub fn call_target<S: AsRef<str>>(args: &[S]) -> Option<String> {
    args.iter().map(AsRef::as_ref).find(|a| is_call_link(a)).map(percent_decode)
}

fn is_call_link(arg: &str) -> bool {
    let lower = arg.trim().to_ascii_lowercase();
    SCHEMES.iter().any(|s| lower.starts_with(s)) && arg.len() <= 2048
}

/// `%2B49%2030` → `+49 30`. Invalid escapes are kept as typed.
fn percent_decode(text: &str) -> String {
    let bytes = text.trim().as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_decodes_call_links() {
        assert_eq!(call_target(&["homeline", "tel:%2B49%2030%20123"]), Some("tel:+49 30 123".into()));
        assert_eq!(call_target(&["homeline", "--flag", "sip:alice@pbx.example"]), Some("sip:alice@pbx.example".into()));
        assert_eq!(call_target(&["homeline", "CALLTO:12"]), Some("CALLTO:12".into()));
        assert_eq!(call_target(&["homeline", "https://example.com"]), None);
        assert_eq!(call_target::<&str>(&[]), None);
    }

    #[test]
    fn broken_escapes_are_kept() {
        assert_eq!(call_target(&["tel:12%", "x"]), Some("tel:12%".into()));
        assert_eq!(call_target(&["tel:12%zz"]), Some("tel:12%zz".into()));
        assert_eq!(call_target(&["tel:%4"]), Some("tel:%4".into()));
    }
}
