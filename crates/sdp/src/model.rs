//! The tolerant SDP model (RFC 8866): lines kept verbatim and in order,
//! with just enough structure (session part, media sections, the m= line)
//! for the adaptations to work on. Re-serialising an untouched description
//! gives the input back byte for byte, with CRLF line ends and without
//! empty lines.

use std::fmt;

use crate::error::ParseError;

/// Largest SDP we read. Real PBX and browser offers are 1–12 KiB.
pub const MAX_SDP_BYTES: usize = 128 * 1024;
/// Most lines we read (a Chromium offer with many candidates is ~80).
pub const MAX_LINES: usize = 4096;
/// Most media sections we read.
pub const MAX_MEDIA: usize = 64;

/// One `x=value` line, kept exactly as received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    kind: char,
    value: String,
}

impl Line {
    /// A line of the given type (`'a'`, `'c'`, …) with its text after `=`.
    pub fn new(kind: char, value: impl Into<String>) -> Self {
        Line {
            kind,
            value: value.into(),
        }
    }

    /// An attribute line: `a=name` or `a=name:value`.
    pub fn attribute(name: &str, value: Option<&str>) -> Self {
        match value {
            Some(v) => Line::new('a', format!("{name}:{v}")),
            None => Line::new('a', name),
        }
    }

    pub fn kind(&self) -> char {
        self.kind
    }

    pub fn value(&self) -> &str {
        &self.value
    }

    /// The attribute name, when this is an `a=` line.
    pub fn attr_name(&self) -> Option<&str> {
        if self.kind != 'a' {
            return None;
        }
        Some(self.value.split_once(':').map_or(&*self.value, |(n, _)| n))
    }

    /// The attribute value: `Some("")` for a flag like `a=rtcp-mux`.
    pub fn attr_value(&self) -> Option<&str> {
        if self.kind != 'a' {
            return None;
        }
        Some(self.value.split_once(':').map_or("", |(_, v)| v))
    }

    /// Whether this is the attribute `name` (names compared without case:
    /// PBXs are not consistent).
    pub fn is_attr(&self, name: &str) -> bool {
        self.attr_name()
            .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }
}

impl fmt::Display for Line {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", self.kind, self.value)
    }
}

/// Attribute look-ups shared by the session part and media sections.
pub trait Attributes {
    fn lines(&self) -> &[Line];
    fn lines_mut(&mut self) -> &mut Vec<Line>;

    /// Value of the first attribute `name` (`""` for a flag).
    fn attribute(&self, name: &str) -> Option<&str> {
        self.lines()
            .iter()
            .find(|l| l.is_attr(name))
            .and_then(Line::attr_value)
    }

    /// Values of every attribute `name`, in order.
    fn attributes<'a>(&'a self, name: &'a str) -> Box<dyn Iterator<Item = &'a str> + 'a> {
        Box::new(
            self.lines()
                .iter()
                .filter(move |l| l.is_attr(name))
                .filter_map(Line::attr_value),
        )
    }

    fn has_attribute(&self, name: &str) -> bool {
        self.lines().iter().any(|l| l.is_attr(name))
    }

    /// Removes every attribute `name`; returns how many were removed.
    fn remove_attribute(&mut self, name: &str) -> usize {
        let lines = self.lines_mut();
        let before = lines.len();
        lines.retain(|l| !l.is_attr(name));
        before - lines.len()
    }

    /// Inserts an attribute before the first existing `a=` line, so it
    /// lands after the c=/b=/t= lines as RFC 8866's order wants.
    fn insert_attribute_first(&mut self, line: Line) {
        let lines = self.lines_mut();
        let at = lines
            .iter()
            .position(|l| l.kind() == 'a')
            .unwrap_or(lines.len());
        lines.insert(at, line);
    }

    /// The address of the `c=` line (`c=IN IP4 0.0.0.0` → `0.0.0.0`), TTL stripped.
    fn connection_address(&self) -> Option<&str> {
        let c = self.lines().iter().find(|l| l.kind() == 'c')?;
        let addr = c.value().split_ascii_whitespace().nth(2)?;
        Some(addr.split('/').next().unwrap_or(addr))
    }
}

/// The session-level part: `v=` up to the first `m=`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Session {
    pub lines: Vec<Line>,
}

impl Attributes for Session {
    fn lines(&self) -> &[Line] {
        &self.lines
    }
    fn lines_mut(&mut self) -> &mut Vec<Line> {
        &mut self.lines
    }
}

/// One media section: its `m=` line and the lines after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSection {
    media: String,
    port: u16,
    port_count: Option<u16>,
    proto: String,
    formats: Vec<String>,
    /// The m= line's text as received, until a setter changes a field;
    /// keeps odd spacing byte-identical on round trips.
    raw: Option<String>,
    pub lines: Vec<Line>,
}

impl Attributes for MediaSection {
    fn lines(&self) -> &[Line] {
        &self.lines
    }
    fn lines_mut(&mut self) -> &mut Vec<Line> {
        &mut self.lines
    }
}

impl MediaSection {
    /// A new section `m=<media> <port> <proto> <formats…>` with no other lines.
    pub fn new(media: &str, port: u16, proto: &str, formats: Vec<String>) -> Self {
        MediaSection {
            media: media.to_owned(),
            port,
            port_count: None,
            proto: proto.to_owned(),
            formats,
            raw: None,
            lines: Vec::new(),
        }
    }

    fn parse_mline(value: &str, line: usize) -> Result<Self, ParseError> {
        let mut parts = value.split_ascii_whitespace();
        let media = parts.next().ok_or(ParseError::MalformedMedia {
            line,
            reason: "no media type",
        })?;
        let port_text = parts.next().ok_or(ParseError::MalformedMedia {
            line,
            reason: "no port",
        })?;
        let proto = parts.next().ok_or(ParseError::MalformedMedia {
            line,
            reason: "no transport protocol",
        })?;
        let (port, port_count) = match port_text.split_once('/') {
            Some((p, n)) => (p, Some(n)),
            None => (port_text, None),
        };
        let port = port
            .parse::<u16>()
            .map_err(|_| ParseError::MalformedMedia {
                line,
                reason: "the port is not a number from 0 to 65535",
            })?;
        let port_count = match port_count {
            Some(n) => Some(n.parse::<u16>().map_err(|_| ParseError::MalformedMedia {
                line,
                reason: "the port count is not a number",
            })?),
            None => None,
        };
        Ok(MediaSection {
            media: media.to_owned(),
            port,
            port_count,
            proto: proto.to_owned(),
            formats: parts.map(str::to_owned).collect(),
            raw: Some(value.to_owned()),
            lines: Vec::new(),
        })
    }

    /// `audio`, `video`, `application`, …
    pub fn media(&self) -> &str {
        &self.media
    }

    pub fn is_audio(&self) -> bool {
        self.media.eq_ignore_ascii_case("audio")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// Port 0 means the stream is rejected or disabled.
    pub fn set_port(&mut self, port: u16) {
        self.port = port;
        self.raw = None;
    }

    /// `UDP/TLS/RTP/SAVPF`, `RTP/AVP`, …
    pub fn proto(&self) -> &str {
        &self.proto
    }

    /// The m= line's format list (payload types for RTP), in order.
    pub fn formats(&self) -> &[String] {
        &self.formats
    }

    pub fn set_formats(&mut self, formats: Vec<String>) {
        if formats != self.formats {
            self.formats = formats;
            self.raw = None;
        }
    }

    /// The m= line's value as it is serialised.
    pub fn mline_value(&self) -> String {
        if let Some(raw) = &self.raw {
            return raw.clone();
        }
        let mut s = format!("{} {}", self.media, self.port);
        if let Some(n) = self.port_count {
            s.push_str(&format!("/{n}"));
        }
        s.push(' ');
        s.push_str(&self.proto);
        for f in &self.formats {
            s.push(' ');
            s.push_str(f);
        }
        s
    }

    /// The first valid `a=mid` value, if any. A mid is a token (RFC 5888):
    /// an empty one, or one with spaces, names nothing.
    pub fn mid(&self) -> Option<&str> {
        self.attributes("mid").find(|m| is_valid_mid(m))
    }
}

/// Whether an `a=mid` value is a usable identification tag.
pub fn is_valid_mid(mid: &str) -> bool {
    !mid.is_empty() && !mid.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// A whole session description.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionDescription {
    pub session: Session,
    pub media: Vec<MediaSection>,
}

impl SessionDescription {
    /// Reads SDP text. Accepts LF or CRLF line ends and skips empty lines;
    /// keeps every other line verbatim. Never panics.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        if text.len() > MAX_SDP_BYTES {
            return Err(ParseError::TooLarge {
                len: text.len(),
                max: MAX_SDP_BYTES,
            });
        }
        let mut sdp = SessionDescription::default();
        let mut count = 0usize;
        for (index, raw) in text.split('\n').enumerate() {
            let line_no = index + 1;
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                continue;
            }
            count += 1;
            if count > MAX_LINES {
                return Err(ParseError::TooManyLines { max: MAX_LINES });
            }
            let bytes = line.as_bytes();
            let well_formed =
                bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b'=';
            if !well_formed {
                return Err(if count == 1 {
                    ParseError::MissingVersion
                } else {
                    ParseError::MalformedLine { line: line_no }
                });
            }
            let kind = char::from(bytes[0]);
            // Both leading bytes are ASCII, so byte 2 is a char boundary.
            let value = line.get(2..).unwrap_or("");
            if count == 1 && kind != 'v' {
                return Err(ParseError::MissingVersion);
            }
            if kind == 'm' {
                if sdp.media.len() >= MAX_MEDIA {
                    return Err(ParseError::TooManyMedia { max: MAX_MEDIA });
                }
                sdp.media.push(MediaSection::parse_mline(value, line_no)?);
            } else if let Some(section) = sdp.media.last_mut() {
                section.lines.push(Line::new(kind, value));
            } else {
                sdp.session.lines.push(Line::new(kind, value));
            }
        }
        if count == 0 {
            return Err(ParseError::Empty);
        }
        Ok(sdp)
    }

    /// The SDP text with CRLF line ends.
    pub fn to_sdp_string(&self) -> String {
        self.to_string()
    }

    /// Index of the first audio section that is not disabled (port ≠ 0).
    pub fn audio_index(&self) -> Option<usize> {
        self.media
            .iter()
            .position(|m| m.is_audio() && m.port() != 0)
    }

    /// An attribute on the media section, or else at session level
    /// (ICE credentials, fingerprint and setup may sit at either).
    pub fn effective_attribute(&self, media: usize, name: &str) -> Option<&str> {
        self.media
            .get(media)
            .and_then(|m| m.attribute(name))
            .or_else(|| self.session.attribute(name))
    }

    /// The c= address for a media section, falling back to the session's.
    pub fn effective_connection(&self, media: usize) -> Option<&str> {
        self.media
            .get(media)
            .and_then(|m| m.connection_address())
            .or_else(|| self.session.connection_address())
    }
}

impl fmt::Display for SessionDescription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for line in &self.session.lines {
            write!(f, "{line}\r\n")?;
        }
        for m in &self.media {
            write!(f, "m={}\r\n", m.mline_value())?;
            for line in &m.lines {
                write!(f, "{line}\r\n")?;
            }
        }
        Ok(())
    }
}

impl std::str::FromStr for SessionDescription {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SessionDescription::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio  9 UDP/TLS/RTP/SAVPF 111 0\r\nc=IN IP4 0.0.0.0\r\na=rtcp-mux\r\na=x-unknown:what ever\r\n";

    #[test]
    fn round_trip_is_byte_identical() {
        let sdp = SessionDescription::parse(SMALL).unwrap();
        assert_eq!(sdp.to_sdp_string(), SMALL);
        assert_eq!(sdp.media.len(), 1);
        assert_eq!(sdp.media[0].formats(), ["111", "0"]);
        assert_eq!(sdp.media[0].port(), 9);
    }

    #[test]
    fn lf_input_becomes_crlf_and_empty_lines_go() {
        let lf = SMALL.replace("\r\n", "\n").replace("s=-\n", "s=-\n\n");
        let sdp = SessionDescription::parse(&lf).unwrap();
        assert_eq!(sdp.to_sdp_string(), SMALL);
    }

    #[test]
    fn changed_mline_is_rebuilt_with_single_spaces() {
        let mut sdp = SessionDescription::parse(SMALL).unwrap();
        sdp.media[0].set_formats(vec!["0".into()]);
        assert!(sdp
            .to_sdp_string()
            .contains("m=audio 9 UDP/TLS/RTP/SAVPF 0\r\n"));
    }

    #[test]
    fn attribute_helpers() {
        let sdp = SessionDescription::parse(SMALL).unwrap();
        assert_eq!(sdp.media[0].attribute("rtcp-mux"), Some(""));
        assert_eq!(sdp.media[0].attribute("x-unknown"), Some("what ever"));
        assert_eq!(sdp.effective_connection(0), Some("0.0.0.0"));
        assert_eq!(sdp.audio_index(), Some(0));
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(SessionDescription::parse(""), Err(ParseError::Empty));
        assert_eq!(
            SessionDescription::parse("\r\n\r\n"),
            Err(ParseError::Empty)
        );
        assert_eq!(
            SessionDescription::parse("o=x\r\n"),
            Err(ParseError::MissingVersion)
        );
        assert_eq!(
            SessionDescription::parse("v=0\r\ngarbage\r\n"),
            Err(ParseError::MalformedLine { line: 2 })
        );
        assert!(matches!(
            SessionDescription::parse("v=0\r\nm=audio x RTP/AVP 0\r\n"),
            Err(ParseError::MalformedMedia { line: 2, .. })
        ));
        assert!(matches!(
            SessionDescription::parse("v=0\r\nm=audio 70000 RTP/AVP 0\r\n"),
            Err(ParseError::MalformedMedia { .. })
        ));
        let big = "a=x\r\n".repeat(MAX_SDP_BYTES);
        assert!(matches!(
            SessionDescription::parse(&big),
            Err(ParseError::TooLarge { .. })
        ));
        let many = format!("v=0\r\n{}", "a=x\r\n".repeat(MAX_LINES + 1));
        assert!(matches!(
            SessionDescription::parse(&many),
            Err(ParseError::TooManyLines { .. })
        ));
        let media = format!("v=0\r\n{}", "m=audio 0 RTP/AVP 0\r\n".repeat(MAX_MEDIA + 1));
        assert!(matches!(
            SessionDescription::parse(&media),
            Err(ParseError::TooManyMedia { .. })
        ));
        // Messages are sentences.
        assert!(ParseError::MissingVersion.to_string().ends_with('.'));
    }

    #[test]
    fn non_ascii_is_kept_and_never_split_mid_char() {
        let text = "v=0\r\ns=Grüße ☎\r\nt=0 0\r\n";
        let sdp = SessionDescription::parse(text).unwrap();
        assert_eq!(sdp.to_sdp_string(), text);
        assert_eq!(
            SessionDescription::parse("v=0\r\n☎=x\r\n"),
            Err(ParseError::MalformedLine { line: 2 })
        );
    }
}
