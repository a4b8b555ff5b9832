//! Contacts and favorites: the engine's commands, and caller names looked up
//! in the contacts for incoming calls, missed calls and the history.

use std::collections::HashMap;
use std::sync::Arc;

use homeline_store::{vcard, AppDirs, Contact, ContactInput, Contacts, ContactsError, HistoryEntry, HistoryFilter, VcardVersion};
use serde::Serialize;

use crate::engine::Engine;
use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;
use crate::telephony::CallView;

/// The contacts database (`contacts.sqlite` in the data folder; in memory for
/// an ephemeral engine; `None` when it could not be opened at all).
#[derive(Debug)]
pub struct ContactBook {
    db: Option<Arc<Contacts>>,
    /// Why the old file was set aside, or why there are no contacts this run.
    warning: Option<String>,
}

impl ContactBook {
    pub(crate) fn open(dirs: Option<&AppDirs>) -> Self {
        let opened = match dirs {
            Some(dirs) => Contacts::open(&dirs.data().join("contacts.sqlite")).map(|l| (l.value, l.warning)),
            None => Contacts::in_memory().map(|c| (c, None)),
        };
        match opened {
            Ok((db, warning)) => Self { db: Some(Arc::new(db)), warning },
            Err(e) => {
                tracing::warn!("{e}");
                Self { db: None, warning: Some(format!("Contacts are not available this time: {e}.")) }
            }
        }
    }
}

/// What an import did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ImportReport {
    pub added: usize,
    /// Cards with neither a name nor a number.
    pub skipped: usize,
}

/// Most rows the contact list returns at once.
const LIST_LIMIT: u32 = 5_000;

impl Engine {
    fn contacts_db(&self) -> Result<&Contacts, EngineError> {
        self.contacts.db.as_deref().ok_or_else(|| EngineError::new(ErrorCode::NotAvailable, "Contacts are not available in this run."))
    }

    /// A sentence to show on the contacts screen (an unreadable file set aside).
    pub fn contacts_warning(&self) -> Option<String> {
        self.contacts.warning.clone()
    }

    /// By name; `search` matches name, organisation or number.
    pub fn contacts(&self, search: Option<&str>, favorites_only: bool) -> Result<Vec<Contact>, EngineError> {
        self.contacts_db()?.list(search, favorites_only, LIST_LIMIT).map_err(contacts_error)
    }

    /// Add (`id` = `None`) or replace a contact.
    pub fn save_contact(&self, id: Option<i64>, input: ContactInput) -> Result<Contact, EngineError> {
        let db = self.contacts_db()?;
        match id {
            Some(id) => db.update(id, input),
            None => db.add(input),
        }
        .map_err(contacts_error)
    }

    pub fn delete_contact(&self, id: i64) -> Result<(), EngineError> {
        self.contacts_db()?.delete(id).map_err(contacts_error)
    }

    pub fn set_favorite(&self, id: i64, on: bool) -> Result<(), EngineError> {
        self.contacts_db()?.set_favorite(id, on).map_err(contacts_error)
    }

    /// Add every card of a vCard file (all or none).
    pub fn import_vcard(&self, text: &str) -> Result<ImportReport, EngineError> {
        let parsed = vcard::parse(text).map_err(|e| EngineError::new(ErrorCode::InvalidTarget, sentence(&format!("This vCard file cannot be imported: {e}"))))?;
        let added = self.contacts_db()?.add_many(parsed.contacts).map_err(contacts_error)?.len();
        Ok(ImportReport { added, skipped: parsed.skipped })
    }

    /// Every contact (or those in `ids`) as one vCard file.
    pub fn export_vcard(&self, ids: Option<&[i64]>, version: VcardVersion) -> Result<String, EngineError> {
        let all = self.contacts(None, false)?;
        let chosen: Vec<ContactInput> = all.into_iter().filter(|c| ids.is_none_or(|ids| ids.contains(&c.id))).map(|c| c.details).collect();
        Ok(vcard::serialize(&chosen, version))
    }

    /// The contact that `remote` (a number or SIP address) belongs to.
    pub fn contact_for(&self, remote: &str) -> Option<Contact> {
        let db = self.contacts.db.as_deref()?;
        db.find_by_number(remote).unwrap_or_else(|e| {
            tracing::warn!("{e}");
            None
        })
    }

    /// A call or missed-call event with the caller's name from the contacts
    /// (the user's own name for them beats the one the caller sends).
    pub fn with_contact_names(&self, event: EngineEvent) -> EngineEvent {
        match event {
            EngineEvent::CallChanged(view) => EngineEvent::CallChanged(self.named_call(view)),
            EngineEvent::MissedCall { account, from, from_name, reason } => {
                let from_name = self.contact_for(&from).map(|c| c.details.name).or(from_name);
                EngineEvent::MissedCall { account, from, from_name, reason }
            }
            other => other,
        }
    }

    /// [`Engine::calls`] with names from the contacts.
    pub async fn calls_with_names(&self) -> Vec<CallView> {
        self.calls().await.into_iter().map(|v| self.named_call(v)).collect()
    }

    /// [`Engine::history`] with names from the contacts.
    pub fn history_with_names(&self, filter: HistoryFilter, search: Option<&str>, limit: u32) -> Result<Vec<HistoryEntry>, EngineError> {
        let mut rows = self.history(filter, search, limit)?;
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        for row in &mut rows {
            let remote = row.record.remote.clone();
            let name = names.entry(remote).or_insert_with_key(|remote| self.contact_for(remote).map(|c| c.details.name));
            if let Some(name) = name {
                row.record.remote_name = Some(name.clone());
            }
        }
        Ok(rows)
    }

    fn named_call(&self, mut view: CallView) -> CallView {
        if let Some(contact) = self.contact_for(&view.remote) {
            view.remote_name = Some(contact.details.name);
        }
        view
    }
}

fn contacts_error(e: ContactsError) -> EngineError {
    match e {
        ContactsError::Invalid(message) => EngineError::new(ErrorCode::InvalidTarget, message),
        other => EngineError::new(ErrorCode::NotAvailable, sentence(&other.to_string())),
    }
}

/// Capitalised, with a full stop: store errors are lower-case clauses.
fn sentence(s: &str) -> String {
    let mut chars = s.chars();
    let mut out: String = chars.next().map(|c| c.to_uppercase().chain(chars).collect()).unwrap_or_default();
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
#[allow(clippy::panic)]
mod tests {
    use homeline_store::PhoneNumber;

    use super::*;

    fn bob() -> ContactInput {
        ContactInput {
            name: "Bob Stone".into(),
            organization: None,
            email: None,
            numbers: vec![PhoneNumber { label: "work".into(), number: "2002".into() }],
            favorite: false,
        }
    }

    #[test]
    fn contacts_round_trip_through_vcard_and_name_callers() {
        let engine = Engine::new();
        let saved = engine.save_contact(None, bob()).unwrap_or_else(|e| panic!("{e}"));
        assert!(engine.set_favorite(saved.id, true).is_ok());
        assert_eq!(engine.contacts(None, true).map(|c| c.len()).ok(), Some(1));
        let text = engine.export_vcard(None, VcardVersion::V4).unwrap_or_default();
        assert!(text.contains("FN:Bob Stone"), "{text}");
        let report = engine.import_vcard(&text).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(report, ImportReport { added: 1, skipped: 0 });
        assert_eq!(engine.contacts(Some("bob"), false).map(|c| c.len()).ok(), Some(2));

        let missed = engine.with_contact_names(EngineEvent::MissedCall { account: "a".into(), from: "sip:2002@pbx".into(), from_name: Some("2002".into()), reason: "busy".into() });
        assert!(matches!(missed, EngineEvent::MissedCall { from_name: Some(ref n), .. } if n == "Bob Stone"), "{missed:?}");
        let stranger = engine.with_contact_names(EngineEvent::MissedCall { account: "a".into(), from: "3003".into(), from_name: Some("Eve".into()), reason: "busy".into() });
        assert!(matches!(stranger, EngineEvent::MissedCall { from_name: Some(ref n), .. } if n == "Eve"));
    }

    #[test]
    fn bad_input_is_told_in_words() {
        let engine = Engine::new();
        let err = engine.import_vcard("not a vcard").err().map(|e| e.message).unwrap_or_default();
        assert_eq!(err, "This vCard file cannot be imported: there is no contact in it (no BEGIN:VCARD line).");
        let err = engine.delete_contact(42).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(err, "There is no such contact (it may have been deleted).");
        let err = engine.save_contact(None, ContactInput { name: String::new(), numbers: vec![], ..bob() }).err().map(|e| e.message).unwrap_or_default();
        assert_eq!(err, "A contact needs a name or a number.");
    }
}
