//! HTTP digest authentication for SIP (RFC 7616, RFC 2617, RFC 3261 §22):
//! parse `WWW-Authenticate` / `Proxy-Authenticate`, compute the answer.
//!
//! Parsing never panics: a header that cannot be read gives `None`.

use std::fmt::{self, Write as _};

use md5::Md5;
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Algorithm {
    Md5,
    Md5Sess,
    Sha256,
    Sha256Sess,
}

impl Algorithm {
    fn parse(token: &str) -> Option<Algorithm> {
        match token.to_ascii_uppercase().as_str() {
            "MD5" => Some(Algorithm::Md5),
            "MD5-SESS" => Some(Algorithm::Md5Sess),
            "SHA-256" => Some(Algorithm::Sha256),
            "SHA-256-SESS" => Some(Algorithm::Sha256Sess),
            _ => None,
        }
    }

    pub fn token(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    fn is_sess(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    fn hash(self, input: &str) -> String {
        match self {
            Algorithm::Md5 | Algorithm::Md5Sess => hex(&Md5::digest(input.as_bytes())),
            Algorithm::Sha256 | Algorithm::Sha256Sess => hex(&Sha256::digest(input.as_bytes())),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Which header the challenge came in, so the answer goes in the matching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChallengeKind {
    /// 401, answered with `Authorization`.
    Www,
    /// 407, answered with `Proxy-Authorization`.
    Proxy,
}

impl ChallengeKind {
    pub fn answer_header(self) -> &'static str {
        match self {
            ChallengeKind::Www => "Authorization",
            ChallengeKind::Proxy => "Proxy-Authorization",
        }
    }
}

/// One digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub opaque: Option<String>,
    pub algorithm: Algorithm,
    /// `qop=auth` offered (we never use auth-int: REGISTER has no body anyway).
    pub qop_auth: bool,
    pub stale: bool,
}

impl Challenge {
    /// Parses one header value (`Digest realm="…", nonce="…", …`). `None` when
    /// it is not a digest challenge we can answer.
    pub fn parse(value: &str) -> Option<Challenge> {
        let value = value.trim_start();
        let (scheme, rest) = match value.find(|c: char| c.is_ascii_whitespace()) {
            Some(i) => (&value[..i], &value[i..]),
            None => (value, ""),
        };
        if !scheme.eq_ignore_ascii_case("digest") {
            return None;
        }
        let params = parse_params(rest)?;
        let get = |name: &str| {
            params.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
        };
        let algorithm = match get("algorithm") {
            Some(a) => Algorithm::parse(a.trim())?,
            None => Algorithm::Md5,
        };
        let qop = get("qop");
        let qop_auth = qop.is_some_and(|q| q.split(',').any(|t| t.trim().eq_ignore_ascii_case("auth")));
        // A server offering only auth-int is one we do not speak.
        if qop.is_some() && !qop_auth {
            return None;
        }
        // realm, nonce and opaque are echoed in our Authorization header: a
        // control character (a lone CR or LF, NUL) would break its line.
        let clean = |v: &str| !v.contains(|c: char| c.is_control());
        if !["realm", "nonce", "opaque"].into_iter().filter_map(get).all(clean) {
            return None;
        }
        Some(Challenge {
            realm: get("realm")?.to_string(),
            nonce: get("nonce").filter(|n| !n.is_empty())?.to_string(),
            opaque: get("opaque").map(str::to_string),
            algorithm,
            qop_auth,
            stale: get("stale").is_some_and(|s| s.trim().eq_ignore_ascii_case("true")),
        })
    }

    /// Picks the challenge to answer from all the header values of a response:
    /// the server lists them in its order of preference (RFC 7616 §3.7), so the
    /// first one we can answer wins.
    pub fn pick<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
        values.into_iter().find_map(Challenge::parse)
    }
}

/// `name=value, name="quoted, value"` → pairs. `None` on a broken quote.
pub(crate) fn parse_params(input: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace() || *c == ',') {
            chars.next();
        }
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut name = String::new();
        while let Some(&c) = chars.peek() {
            if c == '=' || c == ',' {
                break;
            }
            name.push(c);
            chars.next();
        }
        let name = name.trim().to_string();
        if chars.peek() != Some(&'=') {
            // A bare token (no value): keep it with an empty value.
            out.push((name, String::new()));
            continue;
        }
        chars.next();
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.push(chars.next()?),
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => value.push(c),
                }
            }
            if !closed {
                return None;
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        out.push((name, value));
    }
}

/// The computed answer. Its `Debug` hides the response hash.
#[derive(Clone, PartialEq, Eq)]
pub struct Credentials {
    pub kind: ChallengeKind,
    /// The full header value. Never log it.
    pub value: String,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <redacted>", self.kind.answer_header())
    }
}

/// Everything the answer depends on besides the challenge.
#[derive(Debug, Clone, Copy)]
pub struct AnswerInput<'a> {
    pub username: &'a str,
    pub password: &'a str,
    pub method: &'a str,
    pub uri: &'a str,
    /// Client nonce; only used with qop or -sess.
    pub cnonce: &'a str,
    /// Nonce count, starting at 1 for each nonce.
    pub nc: u32,
}

/// The `response=` hash (RFC 7616 §3.4.1).
pub fn response_hash(ch: &Challenge, input: &AnswerInput<'_>) -> String {
    let alg = ch.algorithm;
    let mut ha1 = alg.hash(&format!("{}:{}:{}", input.username, ch.realm, input.password));
    if alg.is_sess() {
        ha1 = alg.hash(&format!("{ha1}:{}:{}", ch.nonce, input.cnonce));
    }
    let ha2 = alg.hash(&format!("{}:{}", input.method, input.uri));
    if ch.qop_auth {
        alg.hash(&format!("{ha1}:{}:{:08x}:{}:auth:{ha2}", ch.nonce, input.nc, input.cnonce))
    } else {
        alg.hash(&format!("{ha1}:{}:{ha2}", ch.nonce))
    }
}

/// The full `Authorization` / `Proxy-Authorization` value.
pub fn answer(ch: &Challenge, kind: ChallengeKind, input: &AnswerInput<'_>) -> Credentials {
    let response = response_hash(ch, input);
    let mut v = format!(
        "Digest username=\"{}\", realm=\"{}\", nonce=\"{}\", uri=\"{}\", response=\"{response}\", algorithm={}",
        quote(input.username),
        quote(&ch.realm),
        quote(&ch.nonce),
        quote(input.uri),
        ch.algorithm.token()
    );
    if ch.qop_auth {
        let _ = write!(v, ", qop=auth, nc={:08x}, cnonce=\"{}\"", input.nc, quote(input.cnonce));
    } else if ch.algorithm.is_sess() {
        let _ = write!(v, ", cnonce=\"{}\"", quote(input.cnonce));
    }
    if let Some(opaque) = &ch.opaque {
        let _ = write!(v, ", opaque=\"{}\"", quote(opaque));
    }
    Credentials { kind, value: v }
}

fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn rfc7616(alg: &str) -> Challenge {
        Challenge::parse(&format!(
            "Digest\r\n realm=\"http-auth@example.org\",\r\n qop=\"auth, auth-int\",\r\n algorithm={alg},\r\n \
             nonce=\"7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v\",\r\n opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .unwrap()
    }

    const RFC7616_INPUT: AnswerInput<'static> = AnswerInput {
        username: "Mufasa",
        password: "Circle of Life",
        method: "GET",
        uri: "/dir/index.html",
        cnonce: "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
        nc: 1,
    };

    #[test]
    fn rfc7616_md5_vector() {
        let ch = rfc7616("MD5");
        assert!(ch.qop_auth);
        assert_eq!(response_hash(&ch, &RFC7616_INPUT), "8ca523f5e9506fed4657c9700eebdbec");
    }

    #[test]
    fn rfc7616_sha256_vector() {
        let ch = rfc7616("SHA-256");
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert_eq!(
            response_hash(&ch, &RFC7616_INPUT),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
        let creds = answer(&ch, ChallengeKind::Www, &RFC7616_INPUT);
        assert!(creds.value.contains("nc=00000001, cnonce=\"f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ\""));
        assert!(creds.value.contains("opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""));
        assert!(!format!("{creds:?}").contains("753927"));
    }

    #[test]
    fn rfc2617_vector() {
        let ch = Challenge::parse(
            "Digest realm=\"testrealm@host.com\", qop=\"auth,auth-int\", \
             nonce=\"dcd98b7102dd2f0e8b11d0f600bfb0c093\", opaque=\"5ccc069c403ebaf9f0171e9517f40e41\"",
        )
        .unwrap();
        let input = AnswerInput { username: "Mufasa", password: "Circle Of Life", cnonce: "0a4f113b", ..RFC7616_INPUT };
        assert_eq!(response_hash(&ch, &input), "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn legacy_no_qop() {
        // RFC 2069 style: H(HA1:nonce:HA2).
        let ch = Challenge::parse("digest REALM=r, NONCE=n").unwrap();
        assert!(!ch.qop_auth);
        let input = AnswerInput { username: "u", password: "p", method: "REGISTER", uri: "sip:r", cnonce: "c", nc: 1 };
        let ha1 = Algorithm::Md5.hash("u:r:p");
        let ha2 = Algorithm::Md5.hash("REGISTER:sip:r");
        assert_eq!(response_hash(&ch, &input), Algorithm::Md5.hash(&format!("{ha1}:n:{ha2}")));
        assert!(!answer(&ch, ChallengeKind::Proxy, &input).value.contains("qop"));
    }

    #[test]
    fn robust_parsing() {
        let ch = Challenge::parse(
            r#"Digest realm="a, \"b\"", nonce="x,y", stale=TRUE, algorithm=sha-256, qop="auth""#,
        )
        .unwrap();
        assert_eq!(ch.realm, "a, \"b\"");
        assert_eq!(ch.nonce, "x,y");
        assert!(ch.stale && ch.qop_auth);
        assert_eq!(ch.algorithm, Algorithm::Sha256);
        assert!(Challenge::parse("Basic realm=\"x\"").is_none());
        assert!(Challenge::parse("Digest realm=\"x, nonce=y").is_none());
        assert!(Challenge::parse("Digest realm=x, nonce=y, algorithm=SHA-512-256").is_none());
        assert!(Challenge::parse("Digest realm=x, nonce=y, qop=auth-int").is_none());
        assert!(Challenge::parse("Digest nonce=y").is_none());
        // First supported one wins.
        let picked = Challenge::pick(["Digest realm=x, nonce=1, algorithm=SHA-512-256", "Digest realm=x, nonce=2"]).unwrap();
        assert_eq!(picked.nonce, "2");
    }

    /// Found by the fuzzer (fuzz/corpus/sip_message/crash-challenge-control-char):
    /// a realm with a lone CR was echoed into our Authorization header.
    #[test]
    fn refuses_control_characters_it_would_echo() {
        for value in [
            "Digest realm=\"exa\rmple\", nonce=\"n\"",
            "Digest realm=\"a\0b\", nonce=\"n\"",
            "Digest realm=\"r\", nonce=\"n\nX: y\"",
            "Digest realm=\"r\", nonce=\"n\", opaque=\"o\r\"",
        ] {
            assert!(Challenge::parse(value).is_none(), "{value:?}");
        }
        assert!(Challenge::parse("Digest realm=\"r\", nonce=\"n\", opaque=\"o\"").is_some());
    }

    /// Random garbage (built from the characters that matter to the parser)
    /// must never panic.
    #[test]
    fn garbage_never_panics() {
        use rand::{Rng, SeedableRng};
        let alphabet: Vec<char> = "Digest realm=nonce\",\\ \t\r\nqop=auth stale=é\u{0}algorithm=SHA-256".chars().collect();
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..20_000 {
            let len = rng.random_range(0..80);
            let s: String = (0..len).map(|_| alphabet[rng.random_range(0..alphabet.len())]).collect();
            if let Some(ch) = Challenge::parse(&s) {
                let input = AnswerInput { username: "u", password: "p", method: "REGISTER", uri: "sip:x", cnonce: "c", nc: 1 };
                let _ = answer(&ch, ChallengeKind::Www, &input);
            }
        }
    }
}
