//! Tauri commands for contacts and favorites. Each checks its arguments'
//! sizes, calls the engine, and refreshes the tray menu after a change.

use std::sync::Arc;

use homeline_phone::{Contact, ContactInput, Engine, EngineError, ErrorCode, ImportReport, VcardVersion};
use serde::Serialize;
use tauri::{AppHandle, State};

use crate::tray;

type EngineState<'a> = State<'a, Arc<Engine>>;

/// The store refuses larger vCard files too; this stops them before parsing.
const MAX_VCARD_BYTES: usize = 8 * 1024 * 1024;

/// The contact list with the sentence to show when the file was unreadable.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContactList {
    pub contacts: Vec<Contact>,
    pub warning: Option<String>,
}

fn too_long(what: &str, max: usize) -> EngineError {
    EngineError::new(ErrorCode::InvalidTarget, format!("The {what} is too long ({max} characters at most)."))
}

#[tauri::command]
pub fn list_contacts(engine: EngineState<'_>, search: Option<String>, favorites: Option<bool>) -> Result<ContactList, EngineError> {
    if search.as_deref().is_some_and(|s| s.len() > 200) {
        return Err(too_long("search text", 200));
    }
    Ok(ContactList { contacts: engine.contacts(search.as_deref(), favorites.unwrap_or(false))?, warning: engine.contacts_warning() })
}

#[tauri::command]
pub fn save_contact(app: AppHandle, engine: EngineState<'_>, id: Option<i64>, contact: ContactInput) -> Result<Contact, EngineError> {
    let saved = engine.save_contact(id, contact)?;
    tray::refresh(&app);
    Ok(saved)
}

#[tauri::command]
pub fn delete_contact(app: AppHandle, engine: EngineState<'_>, id: i64) -> Result<(), EngineError> {
    engine.delete_contact(id)?;
    tray::refresh(&app);
    Ok(())
}

#[tauri::command]
pub fn set_favorite(app: AppHandle, engine: EngineState<'_>, id: i64, on: bool) -> Result<(), EngineError> {
    engine.set_favorite(id, on)?;
    tray::refresh(&app);
    Ok(())
}

#[tauri::command]
pub fn import_vcard(app: AppHandle, engine: EngineState<'_>, text: String) -> Result<ImportReport, EngineError> {
    if text.len() > MAX_VCARD_BYTES {
        return Err(EngineError::new(ErrorCode::InvalidTarget, "This file is too large to be a contact list (8 MB at most)."));
    }
    let report = engine.import_vcard(&text)?;
    tray::refresh(&app);
    Ok(report)
}

#[tauri::command]
pub fn export_vcard(engine: EngineState<'_>, ids: Option<Vec<i64>>, version: Option<VcardVersion>) -> Result<String, EngineError> {
    if ids.as_ref().is_some_and(|ids| ids.len() > 100_000) {
        return Err(EngineError::new(ErrorCode::InvalidTarget, "Too many contacts were chosen."));
    }
    engine.export_vcard(ids.as_deref(), version.unwrap_or_default())
}

/// The contact a number or SIP address belongs to (`null`: nobody known).
#[tauri::command]
pub fn contact_for(engine: EngineState<'_>, remote: String) -> Result<Option<Contact>, EngineError> {
    if remote.len() > 1024 {
        return Err(too_long("number", 1024));
    }
    Ok(engine.contact_for(&remote))
}
