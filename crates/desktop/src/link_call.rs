//! What a clicked `tel:`/`sip:`/`sips:`/`callto:` link does: the link is
//! parsed strictly (only a phone number or a `user@host` SIP address is
//! dialable; anything else is refused with a sentence and nothing happens),
//! then, as the "Ask before calling a clicked link" preference says, it is
//! put in the dialer for the user to press Call (the default) or dialed at once.

/// Longest phone number part of a `tel:` link (E.164 is 15 digits; room for
/// separators and an extension, not for a document).
const MAX_NUMBER: usize = 64;

/// What to do with a clicked link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    /// Put `text` in the dialer; the user presses Call. `notice` says where it came from.
    Fill { text: String, notice: String },
    /// Dial `target` at once.
    Dial { target: String, notice: String },
    /// Not dialable: say so; nothing is dialed or filled in.
    Refuse { notice: String },
}

/// The decision for a (percent-decoded) link, as `links::call_target` returns it.
pub fn decide(link: &str, ask_first: bool) -> LinkAction {
    match dial_target(link) {
        None => LinkAction::Refuse {
            notice: format!("Homeline did not dial the clicked link “{}”: it is not a phone number or SIP address.", shown(link)),
        },
        Some(text) if ask_first => LinkAction::Fill { notice: format!("From a clicked link: {text}. Press Call to dial it."), text },
        Some(target) => LinkAction::Dial { notice: format!("Calling {target} from a clicked link."), target },
    }
}

/// The dial text of a dialable link (as the dialer shows it), or `None`.
pub fn dial_target(link: &str) -> Option<String> {
    let link = link.trim();
    if link.chars().any(|c| c.is_control() || c.is_whitespace() && c != ' ') {
        return None;
    }
    let (scheme, rest) = link.split_once(':')?;
    match scheme.to_ascii_lowercase().as_str() {
        "tel" => phone_number(rest),
        "callto" => {
            let rest = rest.strip_prefix("//").unwrap_or(rest);
            if rest.contains('@') { sip_address(rest).map(|a| format!("sip:{a}")) } else { phone_number(rest) }
        }
        scheme @ ("sip" | "sips") => sip_address(rest).map(|a| format!("{scheme}:{a}")),
        _ => None,
    }
}

/// `+49 (30) 123-456;ext=7` → `+4930123456`: digits, `*`, `#`, a leading
/// `+` and visual separators only; parameters after `;` (well formed) are not dialed.
fn phone_number(text: &str) -> Option<String> {
    let (number, params) = text.split_once(';').unwrap_or((text, ""));
    if !params_ok(params) {
        return None;
    }
    let number = number.trim();
    let allowed = |(i, c): (usize, char)| c.is_ascii_digit() || "*#-.() ".contains(c) || (c == '+' && i == 0);
    let digits = number.chars().filter(char::is_ascii_digit).count();
    (number.len() <= MAX_NUMBER && digits >= 2 && number.char_indices().all(allowed)).then(|| homeline_phone::dialer::clean(number))
}

/// `alice@pbx.example.com[:5061]` (well-formed URI parameters after `;` are
/// left out; headers after `?`, spaces, a missing user or host are refused).
fn sip_address(text: &str) -> Option<String> {
    let (address, params) = text.split_once(';').unwrap_or((text, ""));
    if address.contains(['?', ' ']) || !params_ok(params) {
        return None;
    }
    let (user, host_port) = address.split_once('@')?;
    let user_ok = !user.is_empty() && user.len() <= 64 && user.chars().all(|c| c.is_ascii_alphanumeric() || "-_.!~*+#".contains(c));
    (user_ok && host_ok(host_port)).then(|| address.to_owned())
}

/// `ext=12;transport=tls;lr`: `name[=value]` pairs of URI characters, nothing else.
fn params_ok(params: &str) -> bool {
    params.is_empty()
        || params.len() <= 256
            && params.split(';').all(|p| {
                let (name, value) = p.split_once('=').unwrap_or((p, ""));
                let name_ok = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
                name_ok && value.chars().all(|c| c.is_ascii_alphanumeric() || "-_.!~*+%:/[]".contains(c))
            })
}

/// A host name, IPv4 or `[IPv6]`, with an optional port.
fn host_ok(text: &str) -> bool {
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let Some((inner, after)) = v6.split_once(']') else { return false };
        if inner.is_empty() || !inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return false;
        }
        match after {
            "" => return true,
            _ => (inner, after.strip_prefix(':').map(Some).unwrap_or(Some(""))),
        }
    } else {
        match text.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (text, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    let label_ok = |l: &str| !l.is_empty() && l.len() <= 63 && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') && !l.starts_with('-') && !l.ends_with('-');
    let name_ok = text.starts_with('[') || (host.len() <= 253 && host.split('.').all(label_ok));
    port_ok && name_ok
}

/// A refused link as the notice shows it: no control characters, cut short.
fn shown(link: &str) -> String {
    let clean: String = link.trim().chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    crate::tray_menu::cut_to(&clean, 60)
}

/// Carry out the decision for a link handed over by the desktop (the first
/// launch's argument, or a second launch's).
pub fn handle(shell: &crate::Shell, link: &str) {
    let ask_first = shell.prefs().ask_before_link_call;
    match decide(link, ask_first) {
        LinkAction::Fill { text, notice } => {
            shell.engine().dialer_paste(&text);
            shell.notice(notice);
        }
        LinkAction::Refuse { notice } => shell.notice(notice),
        LinkAction::Dial { target, notice } => {
            let for_task = shell.clone();
            shell.spawn(async move {
                let engine = for_task.engine();
                match engine.dial(&target, None).await {
                    Ok(_) => for_task.notice(notice),
                    Err(e) => {
                        engine.dialer_paste(&target);
                        for_task.notice(e.message);
                    }
                }
            });
        }
    }
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_addresses_are_dialable() {
        assert_eq!(dial_target("tel:+49 30 123456").as_deref(), Some("+4930123456"));
        assert_eq!(dial_target("TEL:+1-202-555-0100;ext=12").as_deref(), Some("+12025550100"));
        assert_eq!(dial_target("tel:(030) 12.34").as_deref(), Some("0301234"));
        assert_eq!(dial_target("tel:*21#12").as_deref(), Some("*21#12"));
        assert_eq!(dial_target("callto://+4930123").as_deref(), Some("+4930123"));
        assert_eq!(dial_target("callto:bob@pbx.example").as_deref(), Some("sip:bob@pbx.example"));
        assert_eq!(dial_target("sip:alice@pbx.example.com").as_deref(), Some("sip:alice@pbx.example.com"));
        assert_eq!(dial_target("SIP:alice@pbx.example.com").as_deref(), Some("sip:alice@pbx.example.com"));
        assert_eq!(dial_target("sips:+4930123@10.0.0.1:5061;transport=tls").as_deref(), Some("sips:+4930123@10.0.0.1:5061"));
        assert_eq!(dial_target("tel:12;phone-context=pbx.example;isub=3").as_deref(), Some("12"));
        assert_eq!(dial_target("sip:100@pbx.example;user=phone;lr").as_deref(), Some("sip:100@pbx.example"));
        assert_eq!(dial_target("sip:100@[::1]:5060").as_deref(), Some("sip:100@[::1]:5060"));
        assert_eq!(dial_target("sip:100@[2001:db8::1]").as_deref(), Some("sip:100@[2001:db8::1]"));
    }

    #[test]
    fn hostile_links_are_refused() {
        for link in [
            "tel:",
            "tel:7",
            "tel:$(rm -rf ~)",
            "tel:12;rm -rf ~",
            "tel:`id`",
            "tel:12;ext=1 2",
            "tel:12;=x",
            "sip:alice@pbx.example;transport=tls x",
            "sip:alice@pbx.example;a=<b>",
            "tel:+49+30",
            "tel:12\n34",
            "tel:12\u{0}34",
            "tel:12\u{202e}34",
            "tel:1800FLOWERS",
            "callto:alice",
            "sip:",
            "sip:pbx.example.com",
            "sip:@pbx.example.com",
            "sip:alice@",
            "sip:alice@evil@pbx.example",
            "sip:alice@pbx.example?Subject=x&Call-Info=<http://evil>",
            "sip:alice bob@pbx.example",
            "sip:al<ice@pbx.example",
            "sip:alice@pbx.example:0",
            "sip:alice@pbx.example:99999",
            "sip:alice@-pbx.example",
            "sip:alice@pbx..example",
            "sip:alice@[::1",
            "sip:alice@[::1]x",
            "sip:alice@[zz::1]",
            "https://example.com",
            "javascript:alert(1)",
            "file:///etc/passwd",
            "",
        ] {
            assert_eq!(dial_target(link), None, "{link:?} must be refused");
            assert!(matches!(decide(link, false), LinkAction::Refuse { .. }), "{link:?} must not dial");
            assert!(matches!(decide(link, true), LinkAction::Refuse { .. }), "{link:?} must not fill the dialer");
        }
        let long = format!("tel:{}", "1".repeat(100));
        assert_eq!(dial_target(&long), None);
        let long_user = format!("sip:{}@pbx.example", "a".repeat(65));
        assert_eq!(dial_target(&long_user), None);
    }

    #[test]
    fn asking_first_fills_the_dialer_and_says_where_it_came_from() {
        let LinkAction::Fill { text, notice } = decide("tel:+49 30 123456", true) else { panic!("not filled") };
        assert_eq!(text, "+4930123456");
        assert!(notice.contains("clicked link") && notice.contains("+4930123456"), "{notice}");
    }

    #[test]
    fn not_asking_dials_at_once() {
        assert_eq!(
            decide("sip:bob@127.0.0.1:5060", false),
            LinkAction::Dial { target: "sip:bob@127.0.0.1:5060".into(), notice: "Calling sip:bob@127.0.0.1:5060 from a clicked link.".into() }
        );
    }

    #[test]
    fn a_refusal_shows_the_link_tamed() {
        let LinkAction::Refuse { notice } = decide(&format!("tel:\u{7}{}", "x".repeat(500)), false) else { panic!("not refused") };
        assert!(!notice.chars().any(char::is_control), "{notice:?}");
        assert!(notice.chars().count() < 160, "{notice}");
    }
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod prefs_tests {
    use crate::prefs::DesktopPrefs;

    #[test]
    fn asking_first_is_the_default_also_for_files_from_before_the_preference() {
        assert!(DesktopPrefs::default().ask_before_link_call);
        let old: DesktopPrefs = from_file("startMinimised = false\nnotifications = true\n");
        assert!(old.ask_before_link_call);
        let off: DesktopPrefs = from_file("askBeforeLinkCall = false\n");
        assert!(!off.ask_before_link_call);
    }

    fn from_file(text: &str) -> DesktopPrefs {
        let dir = std::env::temp_dir().join(format!("homeline-link-prefs-{}-{}", std::process::id(), text.len()));
        std::fs::create_dir_all(&dir).expect("temp folder");
        let path = dir.join("desktop.toml");
        std::fs::write(&path, text).expect("write");
        let loaded = homeline_store::SettingsFile::new(path).load::<DesktopPrefs>();
        let _ = std::fs::remove_dir_all(&dir);
        assert!(loaded.warning.is_none(), "{:?}", loaded.warning);
        loaded.value
    }
}
