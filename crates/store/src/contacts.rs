//! Contacts and favorites in SQLite (`contacts.sqlite` in the data folder).
//!
//! Its own file with its own `user_version` migrations, so the call history's
//! schema and this one evolve apart. WAL like the history; an unreadable file
//! is moved aside (never deleted) and a fresh one made, with a sentence to show.
//! Numbers are kept as typed; matching a caller compares digits (see
//! [`numbers_match`]).

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{params, Connection, OptionalExtension};
use serde::{Deserialize, Serialize};

use crate::settings_file::Loaded;

pub const MAX_NAME: usize = 200;
pub const MAX_NUMBERS: usize = 20;
pub const MAX_NUMBER_LEN: usize = 200;
const MAX_EMAIL: usize = 320;
/// Most contacts kept (an import beyond it stops with a sentence).
pub const MAX_CONTACTS: i64 = 50_000;
/// Most rows one `list` returns.
pub const MAX_LIST: u32 = 5_000;

#[derive(Debug, thiserror::Error)]
pub enum ContactsError {
    #[error("the contacts could not be opened at {path}: {reason}")]
    Open { path: PathBuf, reason: String },
    #[error("the contacts could not be read or written: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("{0}")]
    Invalid(String),
    #[error("there is no such contact (it may have been deleted)")]
    NotFound,
    #[error("Homeline keeps at most {MAX_CONTACTS} contacts")]
    Full,
}

/// One number of a contact; `label` is `mobile`, `work`, `home`, `fax` or `other`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhoneNumber {
    pub label: String,
    /// A phone number or a SIP address, as the user typed it.
    pub number: String,
}

/// A contact as the user edits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactInput {
    pub name: String,
    #[serde(default)]
    pub organization: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub numbers: Vec<PhoneNumber>,
    #[serde(default)]
    pub favorite: bool,
}

/// A stored contact with its row id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: i64,
    #[serde(flatten)]
    pub details: ContactInput,
}

const LABELS: &[&str] = &["mobile", "work", "home", "fax", "other"];

impl ContactInput {
    /// Trimmed and checked: a name (or, failing that, the first number), no
    /// control characters, bounded lengths. Empty numbers are dropped.
    pub fn validated(self) -> Result<ContactInput, ContactsError> {
        let bad = |m: &str| ContactsError::Invalid(m.to_owned());
        let clean = |s: &str, max: usize, what: &str| -> Result<String, ContactsError> {
            let s = s.trim();
            if s.chars().any(char::is_control) {
                return Err(bad(&format!("The {what} has characters that cannot be shown.")));
            }
            if s.chars().count() > max {
                return Err(bad(&format!("The {what} is too long ({max} characters at most).")));
            }
            Ok(s.to_owned())
        };
        let mut numbers = Vec::new();
        for n in self.numbers {
            let number = clean(&n.number, MAX_NUMBER_LEN, "number")?;
            if number.is_empty() {
                continue;
            }
            if !number.chars().any(|c| c.is_ascii_alphanumeric()) {
                return Err(bad(&format!("\u{201c}{number}\u{201d} is not a number or address that can be called.")));
            }
            let label = if LABELS.contains(&n.label.as_str()) { n.label } else { "other".to_owned() };
            numbers.push(PhoneNumber { label, number });
        }
        if numbers.len() > MAX_NUMBERS {
            return Err(bad(&format!("A contact has at most {MAX_NUMBERS} numbers.")));
        }
        let mut name = clean(&self.name, MAX_NAME, "name")?;
        if name.is_empty() {
            name = numbers.first().map(|n| n.number.clone()).ok_or_else(|| bad("A contact needs a name or a number."))?;
        }
        let optional = |s: Option<String>, max, what| -> Result<Option<String>, ContactsError> {
            Ok(Some(clean(s.as_deref().unwrap_or_default(), max, what)?).filter(|s| !s.is_empty()))
        };
        Ok(ContactInput {
            name,
            organization: optional(self.organization, MAX_NAME, "organisation")?,
            email: optional(self.email, MAX_EMAIL, "e-mail address")?,
            numbers,
            favorite: self.favorite,
        })
    }
}

/// Each step takes the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &["CREATE TABLE contacts (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        name TEXT NOT NULL,
        organization TEXT,
        email TEXT,
        favorite INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE contact_numbers (
        contact_id INTEGER NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
        position INTEGER NOT NULL,
        label TEXT NOT NULL,
        number TEXT NOT NULL,
        PRIMARY KEY (contact_id, position)
    );
    CREATE INDEX contacts_name ON contacts (name COLLATE NOCASE);"];

pub struct Contacts {
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for Contacts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Contacts").finish_non_exhaustive()
    }
}

impl Contacts {
    /// Open (or create, folders included) the contacts at `path`. An unusable
    /// database is moved aside and a fresh one made, with a warning.
    pub fn open(path: &Path) -> Result<Loaded<Contacts>, ContactsError> {
        let fail = |reason: String| ContactsError::Open { path: path.to_path_buf(), reason };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| fail(e.to_string()))?;
        }
        let try_open = || Connection::open(path).and_then(|c| init(&c, true).map(|()| c));
        match try_open() {
            Ok(conn) => Ok(Loaded { value: Self::wrap(conn), warning: None }),
            Err(first) => {
                let aside = PathBuf::from(format!("{}.unreadable-{}", path.display(), unix_seconds()));
                let moved = std::fs::rename(path, &aside).is_ok();
                for suffix in ["-wal", "-shm"] {
                    let _ = std::fs::rename(format!("{}{suffix}", path.display()), format!("{}{suffix}", aside.display()));
                }
                let warning = if moved {
                    format!("Your contacts could not be read ({first}); Homeline started a new list and kept the old file as {}.", aside.display())
                } else {
                    format!("Your contacts {} could not be read ({first}); Homeline started a new list.", path.display())
                };
                tracing::warn!("{warning}");
                let conn = try_open().map_err(|e| fail(e.to_string()))?;
                Ok(Loaded { value: Self::wrap(conn), warning: Some(warning) })
            }
        }
    }

    /// Contacts that live in memory only (tests, ephemeral engines).
    pub fn in_memory() -> Result<Contacts, ContactsError> {
        let conn = Connection::open_in_memory()?;
        init(&conn, false)?;
        Ok(Self::wrap(conn))
    }

    fn wrap(conn: Connection) -> Self {
        Self { conn: Mutex::new(conn) }
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Add a contact; returns it as stored.
    pub fn add(&self, input: ContactInput) -> Result<Contact, ContactsError> {
        self.add_many(vec![input])?.into_iter().next().ok_or(ContactsError::NotFound)
    }

    /// Add several contacts in one transaction (an import): all or none.
    pub fn add_many(&self, inputs: Vec<ContactInput>) -> Result<Vec<Contact>, ContactsError> {
        let inputs = inputs.into_iter().map(ContactInput::validated).collect::<Result<Vec<_>, _>>()?;
        let mut conn = self.conn();
        let count: i64 = conn.query_row("SELECT count(*) FROM contacts", [], |r| r.get(0))?;
        if count.saturating_add(i64::try_from(inputs.len()).unwrap_or(i64::MAX)) > MAX_CONTACTS {
            return Err(ContactsError::Full);
        }
        let tx = conn.transaction()?;
        let mut added = Vec::with_capacity(inputs.len());
        for details in inputs {
            tx.execute(
                "INSERT INTO contacts (name, organization, email, favorite) VALUES (?1, ?2, ?3, ?4)",
                params![details.name, details.organization, details.email, details.favorite],
            )?;
            let id = tx.last_insert_rowid();
            write_numbers(&tx, id, &details.numbers)?;
            added.push(Contact { id, details });
        }
        tx.commit()?;
        Ok(added)
    }

    /// Replace a contact's details.
    pub fn update(&self, id: i64, input: ContactInput) -> Result<Contact, ContactsError> {
        let details = input.validated()?;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let changed = tx.execute(
            "UPDATE contacts SET name = ?1, organization = ?2, email = ?3, favorite = ?4 WHERE id = ?5",
            params![details.name, details.organization, details.email, details.favorite, id],
        )?;
        if changed == 0 {
            return Err(ContactsError::NotFound);
        }
        tx.execute("DELETE FROM contact_numbers WHERE contact_id = ?1", params![id])?;
        write_numbers(&tx, id, &details.numbers)?;
        tx.commit()?;
        Ok(Contact { id, details })
    }

    pub fn set_favorite(&self, id: i64, on: bool) -> Result<(), ContactsError> {
        match self.conn().execute("UPDATE contacts SET favorite = ?1 WHERE id = ?2", params![on, id])? {
            0 => Err(ContactsError::NotFound),
            _ => Ok(()),
        }
    }

    pub fn delete(&self, id: i64) -> Result<(), ContactsError> {
        match self.conn().execute("DELETE FROM contacts WHERE id = ?1", params![id])? {
            0 => Err(ContactsError::NotFound),
            _ => Ok(()),
        }
    }

    pub fn get(&self, id: i64) -> Result<Contact, ContactsError> {
        self.query("WHERE c.id = ?1", params![id])?.into_iter().next().ok_or(ContactsError::NotFound)
    }

    /// By name (case-insensitive); `search` matches name, organisation or any
    /// number anywhere in it; `favorites_only` lists the starred ones.
    pub fn list(&self, search: Option<&str>, favorites_only: bool, limit: u32) -> Result<Vec<Contact>, ContactsError> {
        let pattern = search.map(str::trim).filter(|s| !s.is_empty()).map(|s| format!("%{}%", escape_like(s)));
        self.query(
            "WHERE (?1 IS NULL OR c.name LIKE ?1 ESCAPE '\\' OR c.organization LIKE ?1 ESCAPE '\\'
                    OR EXISTS (SELECT 1 FROM contact_numbers m WHERE m.contact_id = c.id AND m.number LIKE ?1 ESCAPE '\\'))
             AND (?2 = 0 OR c.favorite = 1)
             ORDER BY c.name COLLATE NOCASE, c.id LIMIT ?3",
            params![pattern, favorites_only, limit.min(MAX_LIST)],
        )
    }

    /// The contact one of whose numbers is `remote` (a number, a SIP URI or
    /// address); the first by name when several match.
    pub fn find_by_number(&self, remote: &str) -> Result<Option<Contact>, ContactsError> {
        let id: Option<i64> = {
            let conn = self.conn();
            let mut stmt = conn.prepare("SELECT m.contact_id, m.number FROM contact_numbers m JOIN contacts c ON c.id = m.contact_id ORDER BY c.name COLLATE NOCASE, c.id")?;
            let mut rows = stmt.query([])?;
            let mut found = None;
            while let Some(row) = rows.next()? {
                let number: String = row.get(1)?;
                if numbers_match(&number, remote) {
                    found = Some(row.get(0)?);
                    break;
                }
            }
            found
        };
        id.map(|id| self.get(id)).transpose()
    }

    fn query(&self, tail: &str, args: impl rusqlite::Params) -> Result<Vec<Contact>, ContactsError> {
        let conn = self.conn();
        let mut stmt = conn.prepare(&format!("SELECT c.id, c.name, c.organization, c.email, c.favorite FROM contacts c {tail}"))?;
        let mut contacts = stmt
            .query_map(args, |row| {
                Ok(Contact {
                    id: row.get(0)?,
                    details: ContactInput { name: row.get(1)?, organization: row.get(2)?, email: row.get(3)?, numbers: Vec::new(), favorite: row.get(4)? },
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        let mut numbers = conn.prepare("SELECT label, number FROM contact_numbers WHERE contact_id = ?1 ORDER BY position")?;
        for c in &mut contacts {
            c.details.numbers = numbers
                .query_map(params![c.id], |r| Ok(PhoneNumber { label: r.get(0)?, number: r.get(1)? }))?
                .collect::<Result<Vec<_>, _>>()?;
        }
        Ok(contacts)
    }
}

fn write_numbers(tx: &rusqlite::Transaction<'_>, id: i64, numbers: &[PhoneNumber]) -> rusqlite::Result<()> {
    for (position, n) in numbers.iter().enumerate() {
        tx.execute(
            "INSERT INTO contact_numbers (contact_id, position, label, number) VALUES (?1, ?2, ?3, ?4)",
            params![id, i64::try_from(position).unwrap_or(i64::MAX), n.label, n.number],
        )?;
    }
    Ok(())
}

/// Does a contact's `number` reach the caller `remote`? SIP addresses compare
/// whole (scheme and parameters aside, any case). Phone numbers compare their
/// digits: equal, or — from 7 digits — one ends with the other without its
/// leading zeros, so `030 1234567` matches `+49 30 1234567`.
pub fn numbers_match(number: &str, remote: &str) -> bool {
    let (a, b) = (address(number), address(remote));
    if a.is_empty() || b.is_empty() {
        return false;
    }
    if a.eq_ignore_ascii_case(&b) {
        return true;
    }
    let user = |s: &str| s.split('@').next().unwrap_or_default().to_owned();
    let (ua, ub) = (user(&a), user(&b));
    // Two SIP addresses on different hosts are different people.
    if a.contains('@') && b.contains('@') {
        return false;
    }
    let is_phone = |s: &str| s.chars().all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.' | '/'));
    if !is_phone(&ua) || !is_phone(&ub) {
        return ua.eq_ignore_ascii_case(&ub) && (a.contains('@') || b.contains('@'));
    }
    let digits = |s: &str| s.chars().filter(char::is_ascii_digit).collect::<String>();
    let (da, db) = (digits(&ua), digits(&ub));
    if da.is_empty() || db.is_empty() {
        return false;
    }
    if da == db {
        return true;
    }
    let (short, long) = if da.len() <= db.len() { (da, db) } else { (db, da) };
    let short = short.trim_start_matches('0');
    short.len() >= 7 && long.ends_with(short)
}

/// `sip:alice@host;transport=ws` → `alice@host`; `tel:+49 30` → `+49 30`.
fn address(s: &str) -> String {
    let s = s.trim().trim_start_matches('<').trim_end_matches('>');
    let lower = s.get(..5).unwrap_or_default().to_ascii_lowercase();
    let s = if lower.starts_with("sips:") {
        &s[5..]
    } else if lower.starts_with("sip:") || lower.starts_with("tel:") {
        &s[4..]
    } else {
        s
    };
    s.split([';', '?']).next().unwrap_or_default().trim().to_owned()
}

/// WAL, foreign keys, then every migration step not applied yet.
fn init(conn: &Connection, on_disk: bool) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    if on_disk {
        let _mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
    }
    conn.execute_batch("PRAGMA foreign_keys = ON;")?;
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let version = usize::try_from(version).unwrap_or(usize::MAX);
    for (step, sql) in MIGRATIONS.iter().enumerate().skip(version) {
        conn.execute_batch(&format!("BEGIN; {sql}; PRAGMA user_version = {}; COMMIT;", step + 1))?;
    }
    // A file that is not a database fails here at the latest.
    conn.query_row("SELECT count(*) FROM contacts", [], |r| r.get::<_, i64>(0)).optional()?;
    Ok(())
}

fn escape_like(s: &str) -> String {
    s.chars().take(200).fold(String::new(), |mut out, c| {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or_default()
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use super::*;

    fn input(name: &str, numbers: &[&str], favorite: bool) -> ContactInput {
        ContactInput {
            name: name.into(),
            organization: None,
            email: None,
            numbers: numbers.iter().map(|n| PhoneNumber { label: "mobile".into(), number: (*n).into() }).collect(),
            favorite,
        }
    }

    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> T {
        r.unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn add_edit_favorite_search_delete_and_reopen() {
        let dir = ok(tempfile::tempdir());
        let path = dir.path().join("data/contacts.sqlite");
        let (bob, carol);
        {
            let loaded = ok(Contacts::open(&path));
            assert!(loaded.warning.is_none());
            let c = loaded.value;
            bob = ok(c.add(input("  Bob Stone ", &["+49 30 1234567", " ", "2002"], false)));
            carol = ok(c.add(input("carol", &["carol@pbx.example.com"], true)));
            ok(c.add(input("Alice", &["50%off"], false)));
            assert_eq!(bob.details.name, "Bob Stone", "trimmed");
            assert_eq!(bob.details.numbers.len(), 2, "blank number dropped");
        }
        let c = ok(Contacts::open(&path)).value;
        let names = |search: Option<&str>, fav| ok(c.list(search, fav, 100)).into_iter().map(|c| c.details.name).collect::<Vec<_>>();
        assert_eq!(names(None, false), ["Alice", "Bob Stone", "carol"], "by name, any case");
        assert_eq!(names(None, true), ["carol"]);
        assert_eq!(names(Some("STONE"), false), ["Bob Stone"]);
        assert_eq!(names(Some("2002"), false), ["Bob Stone"], "a number matches");
        assert_eq!(names(Some("%"), false), ["Alice"], "wildcards are literal");
        ok(c.set_favorite(bob.id, true));
        assert_eq!(names(None, true), ["Bob Stone", "carol"]);
        let mut edited = bob.details.clone();
        edited.name = "Robert Stone".into();
        edited.numbers.truncate(1);
        assert_eq!(ok(c.update(bob.id, edited.clone())).details, edited);
        assert_eq!(ok(c.get(bob.id)).details, edited);
        ok(c.delete(carol.id));
        assert!(matches!(c.delete(carol.id), Err(ContactsError::NotFound)));
        assert!(matches!(c.update(carol.id, edited), Err(ContactsError::NotFound)));
        assert_eq!(names(None, false), ["Alice", "Robert Stone"]);
        let numbers: i64 = ok(c.conn().query_row("SELECT count(*) FROM contact_numbers WHERE contact_id = ?1", [carol.id], |r| r.get(0)));
        assert_eq!(numbers, 0, "numbers go with their contact");
    }

    #[test]
    fn invalid_input_is_refused_with_a_sentence() {
        let c = ok(Contacts::in_memory());
        let err = |i: ContactInput| c.add(i).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(err(input(" ", &[], false)).contains("needs a name or a number"));
        assert!(err(input(&"x".repeat(MAX_NAME + 1), &[], false)).contains("too long"));
        assert!(err(input("A\u{7}", &[], false)).contains("cannot be shown"));
        assert!(err(input("A", &["---"], false)).contains("not a number or address that can be called"));
        assert!(err(input("A", &["1"; MAX_NUMBERS + 1], false)).contains("at most"));
        assert_eq!(ok(c.add(input("", &["2002"], false))).details.name, "2002", "a number stands in for the name");
        let odd = ContactInput { numbers: vec![PhoneNumber { label: "pager".into(), number: "5".into() }], ..input("A", &[], false) };
        assert_eq!(ok(c.add(odd)).details.numbers[0].label, "other");
        // An import is all or nothing.
        assert!(c.add_many(vec![input("Ok", &[], false), input("", &[], false)]).is_err());
        assert_eq!(ok(c.list(Some("Ok"), false, 10)).len(), 0);
    }

    #[test]
    fn callers_are_matched_by_number_or_address() {
        let c = ok(Contacts::in_memory());
        let bob = ok(c.add(input("Bob", &["030 1234567"], false)));
        let desk = ok(c.add(input("Desk", &["2002"], false)));
        let carol = ok(c.add(input("Carol", &["sip:Carol@pbx.example.com"], false)));
        let found = |remote: &str| ok(c.find_by_number(remote)).map(|c| c.id);
        assert_eq!(found("+49 30 1234567"), Some(bob.id));
        assert_eq!(found("sip:+49301234567@pbx.example.com;user=phone"), Some(bob.id));
        assert_eq!(found("2002"), Some(desk.id));
        assert_eq!(found("sip:2002@pbx.example.com"), Some(desk.id));
        assert_eq!(found("12002"), None, "short numbers match exactly only");
        assert_eq!(found("carol@PBX.example.com"), Some(carol.id));
        assert_eq!(found("carol@elsewhere.example"), None);
        assert_eq!(found("9991234567"), None, "the last digits must cover the whole shorter number");
        assert_eq!(found(""), None);
        assert!(!numbers_match("", ""));
    }

    #[test]
    fn a_corrupt_file_is_moved_aside() {
        let dir = ok(tempfile::tempdir());
        let path = dir.path().join("contacts.sqlite");
        ok(std::fs::write(&path, vec![0x17u8; 4096]));
        let loaded = ok(Contacts::open(&path));
        assert!(loaded.warning.unwrap_or_default().contains("kept the old file"));
        ok(loaded.value.add(input("A", &[], false)));
        let kept = ok(std::fs::read_dir(dir.path())).filter_map(Result::ok).filter(|e| e.file_name().to_string_lossy().contains("unreadable")).count();
        assert_eq!(kept, 1);
    }
}
