//! The number being dialed: what keypad presses, typing and pasting produce.
//!
//! Pure logic so the UI, the tray quick-dial and the CLI clean input the same
//! way: letters become keypad digits (1-800-FLOWERS), spaces and punctuation
//! disappear, a leading `+` (or `00`) is kept as the international prefix, and
//! SIP addresses (`sip:alice@example.com`, `alice@example.com`) are kept as
//! typed, because they are not phone numbers.

use serde::Serialize;

/// Longest dial string we keep: E.164 is 15 digits, SIP URIs can be long but
/// not unbounded (a paste of a whole document must not become a SIP request).
pub const MAX_LEN: usize = 256;

/// What the UI shows for the dialer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DialerView {
    pub text: String,
    pub can_call: bool,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DialString {
    text: String,
}

impl DialString {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn view(&self) -> DialerView {
        DialerView { text: self.text.clone(), can_call: is_callable(&self.text) }
    }

    /// One key from the keypad or the keyboard. Unknown keys are ignored.
    /// Letters are kept as typed: on a PBX `alice` or `sales` is a valid
    /// target; vanity numbers are converted when pasted or dialed.
    pub fn press(&mut self, key: &str) {
        let mut chars = key.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else { return };
        match c {
            '0'..='9' | '*' | '#' => self.push(c),
            '+' if self.text.is_empty() => self.push('+'),
            c if c.is_ascii_alphabetic() => self.push(c),
            '@' | '.' | '-' | '_' | ':' if !self.text.is_empty() => self.push(c),
            _ => {}
        }
    }

    pub fn backspace(&mut self) {
        self.text.pop();
    }

    pub fn clear(&mut self) {
        self.text.clear();
    }

    /// Replace the content with pasted text, cleaned.
    pub fn paste(&mut self, pasted: &str) {
        self.text = clean(pasted);
    }

    fn push(&mut self, c: char) {
        if self.text.len() + c.len_utf8() <= MAX_LEN {
            self.text.push(c);
        }
    }
}

/// Standard phone keypad letters (ITU E.161).
pub fn letter_to_digit(c: char) -> Option<char> {
    Some(match c.to_ascii_lowercase() {
        'a'..='c' => '2',
        'd'..='f' => '3',
        'g'..='i' => '4',
        'j'..='l' => '5',
        'm'..='o' => '6',
        'p'..='s' => '7',
        't'..='v' => '8',
        'w'..='z' => '9',
        _ => return None,
    })
}

/// Clean a pasted target. A SIP address (`sip:`, or anything with `@`) or a
/// plain user name is trimmed and kept; a phone number (three digits or more)
/// loses its spaces and punctuation and its letters become keypad digits.
pub fn clean(input: &str) -> String {
    let trimmed = input.trim().trim_matches(|c| c == '<' || c == '>');
    let lower = trimmed.to_ascii_lowercase();
    let is_address = lower.starts_with("sip:") || lower.starts_with("sips:") || trimmed.contains('@');
    if is_address && !trimmed.contains(char::is_whitespace) {
        return trimmed.chars().take(MAX_LEN).collect();
    }
    let body = ["tel:", "callto:"]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map_or(trimmed, |p| &trimmed[p.len()..]);
    // `;ext=` and other tel: parameters are not dialed.
    let body = body.split(';').next().unwrap_or_default();
    let digits = body.chars().filter(char::is_ascii_digit).count();
    let mut out = String::new();
    for c in body.chars() {
        if out.len() >= MAX_LEN {
            break;
        }
        match c {
            '0'..='9' | '*' | '#' => out.push(c),
            '+' if out.is_empty() => out.push('+'),
            c if c.is_ascii_alphabetic() && digits >= 3 => out.extend(letter_to_digit(c)),
            c if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') && digits < 3 => out.push(c),
            _ => {}
        }
    }
    out
}

fn is_callable(text: &str) -> bool {
    let t = text.trim_start_matches('+');
    !t.is_empty() && t.chars().any(|c| c.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(keys: &str) -> String {
        let mut d = DialString::new();
        for c in keys.chars() {
            d.press(&c.to_string());
        }
        d.as_str().to_owned()
    }

    #[test]
    fn keypad_digits_and_symbols_are_kept() {
        assert_eq!(typed("12*0#"), "12*0#");
    }

    #[test]
    fn pasted_vanity_numbers_become_keypad_digits() {
        assert_eq!(clean("1-800-FLOWERS"), "18003569377");
    }

    #[test]
    fn typed_names_and_addresses_are_kept() {
        assert_eq!(typed("alice@pbx.example"), "alice@pbx.example");
        assert_eq!(typed("sales"), "sales");
        assert_eq!(clean(" sales "), "sales");
    }

    #[test]
    fn plus_only_at_the_start() {
        assert_eq!(typed("+49+30"), "+4930");
    }

    #[test]
    fn paste_strips_spaces_and_punctuation() {
        assert_eq!(clean(" +49 (30) 123-456.78 "), "+493012345678");
        assert_eq!(clean("tel:+1-202-555-0100;ext=12"), "+12025550100");
    }

    #[test]
    fn sip_addresses_are_kept_as_typed() {
        assert_eq!(clean("  sip:Alice@example.com "), "sip:Alice@example.com");
        assert_eq!(clean("<bob@pbx.example.org>"), "bob@pbx.example.org");
    }

    #[test]
    fn backspace_and_clear() {
        let mut d = DialString::new();
        d.paste("123");
        d.backspace();
        assert_eq!(d.as_str(), "12");
        d.clear();
        assert_eq!(d.as_str(), "");
        d.backspace();
        assert_eq!(d.as_str(), "");
    }

    #[test]
    fn callable_only_with_something_to_call() {
        let mut d = DialString::new();
        assert!(!d.view().can_call);
        d.press("+");
        assert!(!d.view().can_call);
        d.press("4");
        assert!(d.view().can_call);
    }

    #[test]
    fn input_is_bounded_and_multichar_keys_ignored() {
        let mut d = DialString::new();
        d.paste(&"9".repeat(10_000));
        assert_eq!(d.as_str().len(), MAX_LEN);
        let mut d = DialString::new();
        d.press("Enter");
        d.press("");
        assert_eq!(d.as_str(), "");
    }
}
