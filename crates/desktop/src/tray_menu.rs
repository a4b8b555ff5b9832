//! What the tray menu shows, as plain data: the call in progress (mute, hang
//! up), favorites (one click dials), recent numbers (redial), "Dial number
//! from clipboard", Do Not Disturb, then Open and Quit. Pure, so it is tested
//! without a tray; `tray.rs` turns it into a real menu.

use homeline_phone::{Contact, HistoryEntry};

use crate::tray_status::TrayFacts;

/// Favorites and recent numbers shown at most.
pub const MAX_FAVORITES: usize = 8;
pub const MAX_RECENT: usize = 5;
/// Longer labels are cut (a menu is not the place for a whole name).
const MAX_LABEL: usize = 40;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrayItem {
    /// A heading line, not clickable.
    Heading(String),
    /// Clicking dials `target`.
    Dial { id: String, label: String, target: String },
    Separator,
    /// Mute or unmute the call in progress (`muted`: it is muted now).
    Mute { call: String, muted: bool },
    HangUp { call: String },
    DialClipboard,
    /// A check item: Do Not Disturb is `on`.
    DoNotDisturb { on: bool },
    Open,
    Quit,
}

/// Longest clipboard text taken as a number or address.
const MAX_CLIPBOARD: usize = 256;

/// The menu for these favorites, this history (newest first) and these facts.
pub fn build(favorites: &[Contact], history: &[HistoryEntry], facts: &TrayFacts) -> Vec<TrayItem> {
    let mut items = Vec::new();
    if let Some(call) = &facts.call {
        items.push(TrayItem::Heading(cut(&format!("In a call with {}", call.label))));
        items.push(TrayItem::Mute { call: call.call.clone(), muted: call.muted });
        items.push(TrayItem::HangUp { call: call.call.clone() });
        items.push(TrayItem::Separator);
    } else if facts.microphone {
        items.push(TrayItem::Heading("● Microphone on".into()));
        items.push(TrayItem::Separator);
    }
    let favs: Vec<TrayItem> = favorites
        .iter()
        .filter_map(|c| {
            let number = c.details.numbers.first()?;
            Some((c, number))
        })
        .take(MAX_FAVORITES)
        .enumerate()
        .map(|(i, (c, n))| TrayItem::Dial { id: format!("fav:{i}"), label: cut(&format!("★ {}", c.details.name)), target: n.number.clone() })
        .collect();
    if !favs.is_empty() {
        items.push(TrayItem::Heading("Favorites".into()));
        items.extend(favs);
        items.push(TrayItem::Separator);
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut recent = Vec::new();
    for entry in history {
        let remote = entry.record.remote.as_str();
        if remote.is_empty() || seen.contains(&remote) {
            continue;
        }
        seen.push(remote);
        let label = match entry.record.remote_name.as_deref().filter(|n| !n.is_empty() && *n != remote) {
            Some(name) => format!("{name} ({remote})"),
            None => remote.to_owned(),
        };
        recent.push(TrayItem::Dial { id: format!("recent:{}", recent.len()), label: cut(&label), target: remote.to_owned() });
        if recent.len() == MAX_RECENT {
            break;
        }
    }
    if !recent.is_empty() {
        items.push(TrayItem::Heading("Recent".into()));
        items.extend(recent);
        items.push(TrayItem::Separator);
    }
    items.extend([
        TrayItem::DialClipboard,
        TrayItem::DoNotDisturb { on: facts.do_not_disturb },
        TrayItem::Separator,
        TrayItem::Open,
        TrayItem::Separator,
        TrayItem::Quit,
    ]);
    items
}

/// What "Dial number from clipboard" dials: a call link (`tel:`, `sip:`,
/// `sips:`, `callto:`), a SIP address (`user@host`), or a phone number written
/// with the usual punctuation (`+49 (30) 1234-567`). Anything else (prose, a
/// web address, a password someone copied) is `None`, and nothing is dialed.
pub fn clipboard_target(text: &str) -> Option<String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_CLIPBOARD || text.lines().count() > 1 {
        return None;
    }
    if let Some(link) = crate::links::call_target(&[text]) {
        return Some(link);
    }
    if let Some((user, host)) = text.split_once('@') {
        let part_ok = |p: &str| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || "._-+:[]".contains(c));
        return (part_ok(user) && part_ok(host) && host.contains(|c: char| c.is_ascii_alphanumeric())).then(|| text.to_owned());
    }
    let allowed = |c: char| c.is_ascii_digit() || " +*#()-./".contains(c);
    let digits = text.chars().filter(char::is_ascii_digit).count();
    (text.chars().all(allowed) && digits >= 2).then(|| text.to_owned())
}

fn cut(label: &str) -> String {
    cut_to(label, MAX_LABEL)
}

/// `text` cut to `max` characters, an ellipsis marking the cut.
pub(crate) fn cut_to(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use homeline_phone::{CallDirection, CallRecord, ContactInput, PhoneNumber};

    use super::*;
    use crate::tray_status::CallLine;

/// The number an item id dials, if it is a dial item of this menu.
fn target_of<'a>(items: &'a [TrayItem], id: &str) -> Option<&'a str> {
    items.iter().find_map(|item| match item {
        TrayItem::Dial { id: item_id, target, .. } if item_id == id => Some(target.as_str()),
        _ => None,
    })
}


    fn contact(id: i64, name: &str, numbers: &[&str]) -> Contact {
        Contact {
            id,
            details: ContactInput {
                name: name.into(),
                organization: None,
                email: None,
                numbers: numbers.iter().map(|n| PhoneNumber { label: "work".into(), number: (*n).into() }).collect(),
                favorite: true,
            },
        }
    }

    fn call(id: i64, remote: &str, name: Option<&str>) -> HistoryEntry {
        HistoryEntry {
            id,
            record: CallRecord {
                call_id: format!("c{id}"),
                account: "a@b".into(),
                remote: remote.into(),
                remote_name: name.map(Into::into),
                direction: CallDirection::Out,
                started_at: 1,
                connected_at: None,
                ended_at: 2,
                end_reason: String::new(),
                end_code: None,
                missed: false,
            },
        }
    }

    fn dial(id: &str, label: &str, target: &str) -> TrayItem {
        TrayItem::Dial { id: id.into(), label: label.into(), target: target.into() }
    }

    #[test]
    fn nothing_yet_gives_clipboard_dnd_open_and_quit() {
        assert_eq!(
            build(&[], &[], &TrayFacts::default()),
            [
                TrayItem::DialClipboard,
                TrayItem::DoNotDisturb { on: false },
                TrayItem::Separator,
                TrayItem::Open,
                TrayItem::Separator,
                TrayItem::Quit
            ]
        );
    }

    #[test]
    fn a_call_in_progress_comes_first_with_mute_and_hang_up() {
        let call = CallLine { call: "c7".into(), label: "Bob Stone".into(), muted: true };
        let facts = TrayFacts { calls: 1, call: Some(call), do_not_disturb: true, microphone: true, ..TrayFacts::default() };
        let items = build(&[contact(1, "Carol", &["2002"])], &[], &facts);
        assert_eq!(
            items[..5],
            [
                TrayItem::Heading("In a call with Bob Stone".into()),
                TrayItem::Mute { call: "c7".into(), muted: true },
                TrayItem::HangUp { call: "c7".into() },
                TrayItem::Separator,
                TrayItem::Heading("Favorites".into()),
            ]
        );
        assert!(items.contains(&TrayItem::DoNotDisturb { on: true }));
        // The meter's microphone, with no call: said at the top.
        let meter = build(&[], &[], &TrayFacts { microphone: true, ..TrayFacts::default() });
        assert_eq!(meter[0], TrayItem::Heading("● Microphone on".into()));
    }

    #[test]
    fn only_numbers_and_addresses_are_dialed_from_the_clipboard() {
        for good in ["+49 (30) 1234-567", " 2002\n", "sip:alice@pbx.example", "tel:%2B4930", "bob@pbx.example", "*97", "1234#"] {
            assert!(clipboard_target(good).is_some(), "{good:?} should dial");
        }
        for bad in [
            "",
            "   ",
            "call me at 2002",
            "https://example.com/2002",
            "hunter2",
            "1",
            "rm -rf /; 2002",
            "2002\n3003",
            "a@",
            "@b",
            "a b@c",
            "$(reboot)@x",
            &"1".repeat(300),
        ] {
            assert_eq!(clipboard_target(bad), None, "{bad:?} must not dial");
        }
    }

    #[test]
    fn favorites_then_recent_numbers_each_once() {
        let favorites = [contact(1, "Bob Stone", &["2002", "0171"]), contact(2, "No number", &[]), contact(3, "Carol", &["carol@pbx"])];
        let history = [call(1, "3003", Some("Dave")), call(2, "2002", Some("2002")), call(3, "3003", Some("Dave")), call(4, "", None)];
        let items = build(&favorites, &history, &TrayFacts::default());
        assert_eq!(
            items,
            [
                TrayItem::Heading("Favorites".into()),
                dial("fav:0", "★ Bob Stone", "2002"),
                dial("fav:1", "★ Carol", "carol@pbx"),
                TrayItem::Separator,
                TrayItem::Heading("Recent".into()),
                dial("recent:0", "Dave (3003)", "3003"),
                dial("recent:1", "2002", "2002"),
                TrayItem::Separator,
                TrayItem::DialClipboard,
                TrayItem::DoNotDisturb { on: false },
                TrayItem::Separator,
                TrayItem::Open,
                TrayItem::Separator,
                TrayItem::Quit,
            ]
        );
        assert_eq!(target_of(&items, "recent:1"), Some("2002"));
        assert_eq!(target_of(&items, "fav:1"), Some("carol@pbx"));
        assert_eq!(target_of(&items, "fav:9"), None);
        assert_eq!(target_of(&items, "quit"), None);
    }

    #[test]
    fn lists_are_capped_and_long_names_cut() {
        let favorites: Vec<Contact> = (0..20).map(|i| contact(i, &"N".repeat(100), &["1"])).collect();
        let history: Vec<HistoryEntry> = (0..20).map(|i| call(i, &format!("{i}"), None)).collect();
        let items = build(&favorites, &history, &TrayFacts::default());
        let dials = |prefix: &str| items.iter().filter(|i| matches!(i, TrayItem::Dial { id, .. } if id.starts_with(prefix))).count();
        assert_eq!(dials("fav:"), MAX_FAVORITES);
        assert_eq!(dials("recent:"), MAX_RECENT);
        let label = match &items[1] {
            TrayItem::Dial { label, .. } => label.clone(),
            other => format!("{other:?}"),
        };
        assert_eq!(label.chars().count(), MAX_LABEL, "{label}");
        assert!(label.ends_with('…'));
    }
}
