//! vCard (2.1, 3.0, 4.0) import and export, pure: text in, contacts out.
//!
//! Only what a softphone keeps is read: the name (`FN`, else `N`), the
//! organisation, the first e-mail address and every `TEL`. Folded lines,
//! quoted-printable values (2.1 and Outlook exports) and escapes are undone.
//! Hostile input fails with a sentence, never a panic: sizes are capped before
//! anything is kept, and a card with nothing usable is skipped and counted.

use crate::contacts::{ContactInput, PhoneNumber, MAX_NAME, MAX_NUMBERS, MAX_NUMBER_LEN};

/// Largest file read (a few thousand ordinary contacts fit in far less).
pub const MAX_VCARD_BYTES: usize = 8 * 1024 * 1024;
/// Most cards one import takes.
pub const MAX_CARDS: usize = 20_000;
/// Longest unfolded line kept (a photo is longer and is skipped whole).
const MAX_LINE: usize = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VcardError {
    #[error("the file is too large to be a contact list ({size} bytes; at most {max} are read)")]
    TooLarge { size: usize, max: usize },
    #[error("the file holds more than {max} contacts")]
    TooManyCards { max: usize },
    #[error("there is no contact in it (no BEGIN:VCARD line)")]
    NoCards,
    #[error("the contact that starts on line {line} never ends (END:VCARD is missing)")]
    Unterminated { line: usize },
    #[error("line {line} has END:VCARD without a BEGIN:VCARD before it")]
    UnexpectedEnd { line: usize },
    #[error("line {line} starts a contact inside another one")]
    Nested { line: usize },
}

/// What an import found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    pub contacts: Vec<ContactInput>,
    /// Cards without a name or a number (nothing to keep).
    pub skipped: usize,
}

/// Which vCard version to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub enum VcardVersion {
    #[default]
    #[serde(rename = "3.0")]
    V3,
    #[serde(rename = "4.0")]
    V4,
}

/// Read every card in `text`.
pub fn parse(text: &str) -> Result<Parsed, VcardError> {
    if text.len() > MAX_VCARD_BYTES {
        return Err(VcardError::TooLarge { size: text.len(), max: MAX_VCARD_BYTES });
    }
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parsed = Parsed::default();
    let mut card: Option<(usize, CardBuilder)> = None;
    let mut saw_begin = false;
    for (line_no, line) in unfold(text) {
        let Some(prop) = Property::parse(&line) else { continue };
        match (prop.name.as_str(), &mut card) {
            ("BEGIN", None) if prop.value.trim().eq_ignore_ascii_case("VCARD") => {
                if parsed.contacts.len() + parsed.skipped >= MAX_CARDS {
                    return Err(VcardError::TooManyCards { max: MAX_CARDS });
                }
                saw_begin = true;
                card = Some((line_no, CardBuilder::default()));
            }
            ("BEGIN", Some(_)) if prop.value.trim().eq_ignore_ascii_case("VCARD") => return Err(VcardError::Nested { line: line_no }),
            ("END", None) if prop.value.trim().eq_ignore_ascii_case("VCARD") => return Err(VcardError::UnexpectedEnd { line: line_no }),
            ("END", Some(_)) if prop.value.trim().eq_ignore_ascii_case("VCARD") => {
                if let Some((_, builder)) = card.take() {
                    match builder.finish() {
                        Some(contact) => parsed.contacts.push(contact),
                        None => parsed.skipped += 1,
                    }
                }
            }
            (_, Some((_, builder))) => builder.add(&prop),
            (_, None) => {}
        }
    }
    if let Some((line, _)) = card {
        return Err(VcardError::Unterminated { line });
    }
    if !saw_begin {
        return Err(VcardError::NoCards);
    }
    Ok(parsed)
}

/// Write `contacts` as one vCard file (CRLF line ends, lines folded at 75 octets).
pub fn serialize(contacts: &[ContactInput], version: VcardVersion) -> String {
    let mut out = String::new();
    for c in contacts {
        let mut lines = vec!["BEGIN:VCARD".to_owned()];
        lines.push(match version {
            VcardVersion::V3 => "VERSION:3.0".to_owned(),
            VcardVersion::V4 => "VERSION:4.0".to_owned(),
        });
        lines.push(format!("FN:{}", escape(&c.name)));
        // N is required in 3.0; the whole name goes in the family part.
        lines.push(format!("N:{};;;;", escape(&c.name)));
        if let Some(org) = c.organization.as_deref().filter(|o| !o.is_empty()) {
            lines.push(format!("ORG:{}", escape(org)));
        }
        if let Some(email) = c.email.as_deref().filter(|e| !e.is_empty()) {
            lines.push(format!("EMAIL:{}", escape(email)));
        }
        for n in &c.numbers {
            let kind = vcard_type(&n.label);
            lines.push(match version {
                VcardVersion::V3 => format!("TEL;TYPE={}:{}", kind.to_ascii_uppercase(), escape(&n.number)),
                VcardVersion::V4 if looks_like_phone(&n.number) => {
                    format!("TEL;VALUE=uri;TYPE={kind}:tel:{}", n.number.chars().filter(|c| !c.is_whitespace()).collect::<String>())
                }
                VcardVersion::V4 => format!("TEL;TYPE={kind}:{}", escape(&n.number)),
            });
        }
        if c.favorite {
            lines.push("CATEGORIES:Favorites".to_owned());
        }
        lines.push("END:VCARD".to_owned());
        for line in lines {
            fold_into(&mut out, &line);
        }
    }
    out
}

/// Logical lines with their first physical line number. A line that starts
/// with a space or tab continues the one before (RFC 6350 §3.2); a
/// quoted-printable value ending in `=` continues on the next line (2.1).
fn unfold(text: &str) -> Vec<(usize, String)> {
    let mut lines: Vec<(usize, String)> = Vec::new();
    let mut qp_open = false;
    for (i, raw) in text.split('\n').enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let continues = raw.starts_with([' ', '\t']) || qp_open;
        match lines.last_mut() {
            Some((_, last)) if continues => {
                let piece = if qp_open { raw } else { &raw[1..] };
                if last.len() + piece.len() <= MAX_LINE {
                    if qp_open {
                        last.pop(); // the soft line break's '='
                    }
                    last.push_str(piece);
                }
            }
            _ => lines.push((i + 1, raw.to_owned())),
        }
        qp_open = lines.last().is_some_and(|(_, l)| is_quoted_printable(l) && l.ends_with('='));
    }
    lines
}

fn is_quoted_printable(line: &str) -> bool {
    let head = line.split(':').next().unwrap_or_default().to_ascii_uppercase();
    head.contains("QUOTED-PRINTABLE")
}

/// One content line: `[group.]NAME[;PARAM[=VALUE]]*:value`.
#[derive(Debug)]
struct Property {
    name: String,
    params: Vec<(String, String)>,
    value: String,
}

impl Property {
    fn parse(line: &str) -> Option<Property> {
        // The value starts at the first ':' outside a quoted parameter value.
        let mut quoted = false;
        let colon = line.char_indices().find(|&(_, c)| {
            if c == '"' {
                quoted = !quoted;
            }
            c == ':' && !quoted
        })?;
        let (head, value) = (&line[..colon.0], &line[colon.0 + 1..]);
        let mut parts = head.split(';');
        let name = parts.next()?.rsplit('.').next()?.trim().to_ascii_uppercase();
        if name.is_empty() {
            return None;
        }
        let params = parts
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (k.trim().to_ascii_uppercase(), v.trim().trim_matches('"').to_owned()),
                // 2.1 bare types: `TEL;CELL;VOICE:`.
                None => ("TYPE".to_owned(), p.trim().to_owned()),
            })
            .collect();
        Some(Property { name, params, value: value.to_owned() })
    }

    fn param<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.params.iter().filter(move |(k, _)| k == key).flat_map(|(_, v)| v.split(','))
    }

    /// The value as text: quoted-printable decoded, escapes undone.
    fn text(&self) -> String {
        let qp = self.param("ENCODING").any(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"));
        let raw = if qp { decode_quoted_printable(&self.value) } else { self.value.clone() };
        unescape(&raw)
    }

    /// Structured value (`N`, `ORG`): components split at unescaped ';'.
    fn components(&self) -> Vec<String> {
        let qp = self.param("ENCODING").any(|e| e.eq_ignore_ascii_case("QUOTED-PRINTABLE"));
        let raw = if qp { decode_quoted_printable(&self.value) } else { self.value.clone() };
        let mut parts = vec![String::new()];
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(next) = chars.next() {
                        if let Some(last) = parts.last_mut() {
                            last.push('\\');
                            last.push(next);
                        }
                    }
                }
                ';' => parts.push(String::new()),
                c => {
                    if let Some(last) = parts.last_mut() {
                        last.push(c);
                    }
                }
            }
        }
        parts.iter().map(|p| unescape(p).trim().to_owned()).collect()
    }
}

#[derive(Debug, Default)]
struct CardBuilder {
    formatted: Option<String>,
    structured: Option<String>,
    organization: Option<String>,
    email: Option<String>,
    numbers: Vec<PhoneNumber>,
    favorite: bool,
}

impl CardBuilder {
    fn add(&mut self, prop: &Property) {
        match prop.name.as_str() {
            "FN" if self.formatted.is_none() => self.formatted = Some(prop.text()),
            "N" if self.structured.is_none() => {
                // Family;Given;Additional;Prefix;Suffix → "Prefix Given Additional Family Suffix".
                let c = prop.components();
                let at = |i: usize| c.get(i).map(String::as_str).unwrap_or_default();
                let order = [at(3), at(1), at(2), at(0), at(4)];
                self.structured = Some(order.iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>().join(" "));
            }
            "ORG" if self.organization.is_none() => {
                self.organization = Some(prop.components().into_iter().filter(|s| !s.is_empty()).collect::<Vec<_>>().join(", "));
            }
            "EMAIL" if self.email.is_none() => self.email = Some(prop.text()),
            "TEL" if self.numbers.len() < MAX_NUMBERS => {
                let text = prop.text();
                let number = text.trim();
                let number = number.strip_prefix("tel:").or_else(|| number.strip_prefix("TEL:")).unwrap_or(number);
                // A tel: URI may carry parameters (";ext=12"): keep the number.
                let number = if text.trim().get(..4).is_some_and(|s| s.eq_ignore_ascii_case("tel:")) {
                    number.split(';').next().unwrap_or_default()
                } else {
                    number
                };
                let number: String = number.chars().filter(|c| !c.is_control()).collect();
                let number = number.trim();
                // As the store requires: something to dial, not only punctuation.
                if number.chars().any(|c| c.is_ascii_alphanumeric()) && number.chars().count() <= MAX_NUMBER_LEN {
                    self.numbers.push(PhoneNumber { label: label_from_types(prop.param("TYPE")), number: number.to_owned() });
                }
            }
            "CATEGORIES" if prop.text().split(',').any(|c| matches!(c.trim().to_ascii_lowercase().as_str(), "favorites" | "starred")) => {
                self.favorite = true;
            }
            "X-HOMELINE-FAVORITE" => self.favorite = prop.value.trim() == "1",
            _ => {}
        }
    }

    fn finish(self) -> Option<ContactInput> {
        // Control characters go first: what is left may be only spaces.
        let clean = |s: Option<String>| s.map(|s| clip(&s, MAX_NAME).trim().to_owned()).filter(|s| !s.is_empty());
        let name = clean(self.formatted)
            .or_else(|| clean(self.structured))
            .or_else(|| clean(self.organization.clone()))
            .or_else(|| self.numbers.first().map(|n| n.number.clone()))?;
        Some(ContactInput {
            name,
            organization: clean(self.organization),
            email: clean(self.email),
            numbers: self.numbers,
            favorite: self.favorite,
        })
    }
}

fn clip(s: &str, max_chars: usize) -> String {
    s.chars().filter(|c| !c.is_control()).take(max_chars).collect()
}

/// Our labels are the common vCard types; anything else is "other".
fn label_from_types<'a>(types: impl Iterator<Item = &'a str>) -> String {
    let mut label = "other";
    for t in types {
        label = match t.trim().to_ascii_lowercase().as_str() {
            "cell" | "mobile" | "iphone" => "mobile",
            "work" if label == "other" => "work",
            "home" if label == "other" => "home",
            "fax" => "fax",
            _ => continue,
        };
    }
    label.to_owned()
}

fn vcard_type(label: &str) -> &'static str {
    match label {
        "mobile" => "cell",
        "work" => "work",
        "home" => "home",
        "fax" => "fax",
        _ => "voice",
    }
}

fn looks_like_phone(n: &str) -> bool {
    !n.is_empty() && n.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '*' | '#'))
}

fn decode_quoted_printable(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'=', Some(hi), Some(lo)) => {
                out.push(u8::try_from(hi * 16 + lo).unwrap_or(b'?'));
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n' | 'N') => out.push('\n'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Append `line` folded at 75 octets (never inside a UTF-8 character), CRLF.
fn fold_into(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        if width + c.len_utf8() > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += c.len_utf8();
    }
    out.push_str("\r\n");
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn one(text: &str) -> ContactInput {
        let parsed = parse(text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.contacts.len(), 1, "{parsed:?}");
        parsed.contacts.into_iter().next().unwrap_or_else(|| panic!("no contact"))
    }

    fn number(label: &str, number: &str) -> PhoneNumber {
        PhoneNumber { label: label.into(), number: number.into() }
    }

    #[test]
    fn reads_a_vcard_3_with_folded_lines_escapes_and_types() {
        let c = one(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Bob Stone\\, Jr.\r\nN:Stone;Bob;;;\r\nORG:Acme;Sales\r\n\
             EMAIL;TYPE=INTERNET:bob@example.com\r\nTEL;TYPE=CELL,VOICE:+49 30 \r\n 1234567\r\n\
             item1.TEL;TYPE=WORK:2002\r\nTEL:\r\nEND:VCARD\r\n",
        );
        assert_eq!(c.name, "Bob Stone, Jr.");
        assert_eq!(c.organization.as_deref(), Some("Acme, Sales"));
        assert_eq!(c.email.as_deref(), Some("bob@example.com"));
        assert_eq!(c.numbers, [number("mobile", "+49 30 1234567"), number("work", "2002")], "empty TEL dropped");
        assert!(!c.favorite);
    }

    #[test]
    fn reads_vcard_4_tel_uris_and_builds_a_name_from_n() {
        let c = one("BEGIN:VCARD\nVERSION:4.0\nN:Lovelace;Ada;King;Lady;\nTEL;VALUE=uri;TYPE=\"home,voice\":tel:+44-20-7946-0958;ext=12\nCATEGORIES:Work,Favorites\nEND:VCARD");
        assert_eq!(c.name, "Lady Ada King Lovelace");
        assert_eq!(c.numbers, [number("home", "+44-20-7946-0958")]);
        assert!(c.favorite);
    }

    #[test]
    fn reads_vcard_2_1_quoted_printable_with_soft_breaks_and_bare_types() {
        let c = one(
            "BEGIN:VCARD\r\nVERSION:2.1\r\nN;CHARSET=UTF-8;ENCODING=QUOTED-PRINTABLE:M=C3=BCller;J=C3=\r\n=BCrgen\r\n\
             TEL;CELL;VOICE:0171 555\r\nEND:VCARD\r\n",
        );
        assert_eq!(c.name, "Jürgen Müller");
        assert_eq!(c.numbers, [number("mobile", "0171 555")]);
    }

    #[test]
    fn missing_fields_fall_back_or_skip_the_card() {
        let parsed = parse(
            "BEGIN:VCARD\nTEL:555\nEND:VCARD\nBEGIN:VCARD\nNOTE:nothing here\nEND:VCARD\nBEGIN:VCARD\nORG:Front desk\nEND:VCARD\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.contacts.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["555", "Front desk"]);
        assert_eq!(parsed.skipped, 1);
    }

    #[test]
    fn broken_files_get_a_sentence() {
        assert_eq!(parse("hello"), Err(VcardError::NoCards));
        assert_eq!(parse(""), Err(VcardError::NoCards));
        assert_eq!(parse("BEGIN:VCARD\nFN:A\n"), Err(VcardError::Unterminated { line: 1 }));
        assert_eq!(parse("FN:A\nEND:VCARD"), Err(VcardError::UnexpectedEnd { line: 2 }));
        assert_eq!(parse("BEGIN:VCARD\nBEGIN:VCARD\n"), Err(VcardError::Nested { line: 2 }));
        let huge = "X".repeat(MAX_VCARD_BYTES + 1);
        let err = parse(&huge).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err.contains("too large"), "{err}");
        let many = "BEGIN:VCARD\nFN:A\nEND:VCARD\n".repeat(MAX_CARDS + 1);
        assert_eq!(parse(&many), Err(VcardError::TooManyCards { max: MAX_CARDS }));
    }

    #[test]
    fn what_is_read_is_what_the_store_accepts() {
        // Found by the fuzzer: a name of control characters and a space.
        let parsed = parse("BEGIN:VCARD\r\nN\u{ff}o::b;;;\r\nORG:\u{0} \u{5}\r\nTEL:---\r\nTEL:\u{663}\r\nEND:VCARD\r\nBEGIN:VCARD\nFN:A\nTEL:(0)\nEND:VCARD\n")
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(parsed.skipped, 1, "{parsed:?}");
        assert_eq!(parsed.contacts.len(), 1);
        for c in parsed.contacts {
            assert!(c.clone().validated().is_ok(), "{c:?}");
        }
    }

    #[test]
    fn hostile_bytes_never_panic() {
        let inputs = [
            "BEGIN:VCARD\n:\n;;;:\nTEL;=:=\nN:\\\nFN:\"\nEND:VCARD",
            "BEGIN:VCARD\nFN;ENCODING=QUOTED-PRINTABLE:=\n=\n=ZZ=E2=82\nEND:VCARD",
            "BEGIN:VCARD\n \n\t\n FN:x\nEND:VCARD",
            "\u{feff}BEGIN:VCARD\r\nFN:\u{0}\u{7}Zoë 🙂\r\nEND:VCARD",
            "BEGIN:VCARD\nTEL;TYPE=\"unterminated:5\nEND:VCARD",
        ];
        for input in inputs {
            let _ = parse(input);
        }
        // A long folded line (a photo) is cut, not kept whole.
        let photo = format!("BEGIN:VCARD\nFN:P\nPHOTO:{}\nEND:VCARD", "\n A".repeat(200_000));
        assert_eq!(one(&photo).name, "P");
    }

    #[test]
    fn export_then_import_gives_the_same_contacts_in_both_versions() {
        let contacts = vec![
            ContactInput {
                name: "Ünïcode; with, specials \\ and a very long name that must be folded across lines ☎☎☎☎".into(),
                organization: Some("Acme".into()),
                email: Some("x@example.com".into()),
                numbers: vec![number("mobile", "+49 171 555"), number("work", "alice@pbx.example.com"), number("other", "2002")],
                favorite: true,
            },
            ContactInput { name: "Plain".into(), organization: None, email: None, numbers: vec![number("home", "030 1234")], favorite: false },
        ];
        for version in [VcardVersion::V3, VcardVersion::V4] {
            let text = serialize(&contacts, version);
            assert!(text.lines().all(|l| l.len() <= 76), "folded at 75 octets:\n{text}");
            let back = parse(&text).unwrap_or_else(|e| panic!("{e}"));
            let mut expected = contacts.clone();
            if version == VcardVersion::V4 {
                expected[0].numbers[0].number = "+49171555".into(); // a tel: URI has no spaces
                expected[1].numbers[0].number = "0301234".into();
            }
            assert_eq!(back.contacts, expected, "{version:?}:\n{text}");
        }
    }
}
