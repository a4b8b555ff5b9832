//! What the tray menu shows, as plain data: favorites (one click dials),
//! recent numbers (redial), then Open and Quit. Pure, so it is tested
//! without a tray; `tray.rs` turns it into a real menu.

use homeline_phone::{Contact, HistoryEntry};

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
    Open,
    Quit,
}

/// The menu for these favorites and this history (newest first).
pub fn build(favorites: &[Contact], history: &[HistoryEntry]) -> Vec<TrayItem> {
    let mut items = Vec::new();
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
    items.extend([TrayItem::Open, TrayItem::Separator, TrayItem::Quit]);
    items
}

/// The number an item id dials, if it is a dial item of this menu.
pub fn target_of<'a>(items: &'a [TrayItem], id: &str) -> Option<&'a str> {
    items.iter().find_map(|item| match item {
        TrayItem::Dial { id: item_id, target, .. } if item_id == id => Some(target.as_str()),
        _ => None,
    })
}

fn cut(label: &str) -> String {
    if label.chars().count() <= MAX_LABEL {
        return label.to_owned();
    }
    let mut out: String = label.chars().take(MAX_LABEL - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use homeline_phone::{CallDirection, CallRecord, ContactInput, PhoneNumber};

    use super::*;

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
    fn nothing_yet_gives_open_and_quit() {
        assert_eq!(build(&[], &[]), [TrayItem::Open, TrayItem::Separator, TrayItem::Quit]);
    }

    #[test]
    fn favorites_then_recent_numbers_each_once() {
        let favorites = [contact(1, "Bob Stone", &["2002", "0171"]), contact(2, "No number", &[]), contact(3, "Carol", &["carol@pbx"])];
        let history = [call(1, "3003", Some("Dave")), call(2, "2002", Some("2002")), call(3, "3003", Some("Dave")), call(4, "", None)];
        let items = build(&favorites, &history);
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
        let items = build(&favorites, &history);
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
