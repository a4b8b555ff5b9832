//! Every command the dialer window's UI sends (the names it `invoke`s), turned
//! into one engine or app call. Arguments arrive as the UI's JSON object and
//! are checked here (types, lengths) before anything acts on them; every
//! failure is an `EngineError` the UI shows in words. No Tauri: the window's
//! process forwards commands over the local socket (`window_link`).

use homeline_phone::{AccountInput, EngineError, ErrorCode, HistoryFilter, VcardVersion};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::audio;
use crate::prefs::{about_info, DesktopPrefs};
use crate::{autostart, shortcuts, tray, update, Shell};

/// The store refuses larger vCard files too; this stops them before parsing.
const MAX_VCARD_BYTES: usize = 8 * 1024 * 1024;

/// The contact list with the sentence to show when the file was unreadable.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct ContactList {
    contacts: Vec<homeline_phone::Contact>,
    warning: Option<String>,
}

/// The command's arguments: a JSON object keyed as the UI names them
/// (camelCase, as Tauri did).
struct Args(serde_json::Map<String, Value>);

impl Args {
    fn new(value: Value) -> Result<Self, EngineError> {
        match value {
            Value::Object(map) => Ok(Self(map)),
            Value::Null => Ok(Self(serde_json::Map::new())),
            _ => Err(bad("the arguments are not an object")),
        }
    }

    /// A required argument.
    fn get<T: DeserializeOwned>(&self, name: &str) -> Result<T, EngineError> {
        let value = self.0.get(name).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value).map_err(|e| bad(&format!("“{name}” is missing or wrong ({e})")))
    }

    /// An optional argument (absent or null: `None`).
    fn opt<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>, EngineError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => serde_json::from_value(v.clone()).map(Some).map_err(|e| bad(&format!("“{name}” is wrong ({e})"))),
        }
    }
}

fn bad(what: &str) -> EngineError {
    EngineError::new(ErrorCode::Internal, format!("Homeline's window sent a command it cannot take: {what}."))
}

fn too_long(what: &str, max: usize) -> EngineError {
    EngineError::new(ErrorCode::InvalidTarget, format!("The {what} is too long ({max} characters at most)."))
}

fn json<T: Serialize>(value: T) -> Result<Value, EngineError> {
    serde_json::to_value(value).map_err(|e| EngineError::new(ErrorCode::Internal, format!("The answer could not be sent to the window: {e}.")))
}

/// Run UI command `cmd` with `args`; the JSON the UI's promise resolves to.
pub async fn dispatch(shell: &Shell, cmd: &str, args: Value) -> Result<Value, EngineError> {
    let a = Args::new(args)?;
    let engine = shell.engine();
    match cmd {
        "app_info" => json(engine.app_info()),
        "dialer_press" => json(engine.dialer_press(&a.get::<String>("key")?)),
        "dialer_backspace" => json(engine.dialer_backspace()),
        "dialer_paste" => json(engine.dialer_paste(&a.get::<String>("text")?)),
        "dialer_view" => json(engine.dialer_view()),
        "dialer_clear" => json(engine.dialer_clear()),
        "dial" => json(engine.dial(&a.get::<String>("target")?, a.opt::<String>("account")?.as_deref()).await?),
        "start_echo_test" => json(engine.start_echo_test().await?),
        "echo_test_running" => json(engine.echo_test_running()),
        "list_calls" => json(engine.calls_with_names().await),
        "answer" => json(engine.answer(&a.get::<String>("call")?).await?),
        "reject" => json(engine.reject(&a.get::<String>("call")?, a.opt("busy")?.unwrap_or(false)).await?),
        "hangup" => json(engine.hangup(&a.get::<String>("call")?).await?),
        "hold" => json(engine.hold(&a.get::<String>("call")?, a.get("on")?).await?),
        "mute" => json(engine.mute(&a.get::<String>("call")?, a.get("on")?).await?),
        "send_dtmf" => json(engine.send_dtmf(&a.get::<String>("call")?, &a.get::<String>("digits")?).await?),
        "transfer" => json(engine.transfer(&a.get::<String>("call")?, &a.get::<String>("target")?).await?),
        "merge_calls" => json(engine.merge(&a.get::<Vec<String>>("calls")?).await?),
        "split_call" => json(engine.split(&a.get::<String>("call")?).await?),
        "set_do_not_disturb" => {
            let result = engine.set_do_not_disturb(a.get("on")?).await;
            tray::refresh(shell);
            json(result?)
        }
        "list_accounts" => json(engine.accounts()),
        "save_account" => json(engine.save_account(a.get::<AccountInput>("input")?).await?),
        "remove_account" => json(engine.remove_account(&a.get::<String>("id")?).await?),
        "set_default_account" => json(engine.set_default_account(&a.get::<String>("id")?)?),
        "list_history" => {
            let search = a.opt::<String>("search")?;
            if search.as_deref().is_some_and(|s| s.len() > 200) {
                return Err(too_long("search text", 200));
            }
            let filter = a.opt::<HistoryFilter>("filter")?.unwrap_or_default();
            json(engine.history_with_names(filter, search.as_deref(), a.opt::<u32>("limit")?.unwrap_or(200))?)
        }
        "delete_history" => json(engine.delete_history(a.get("id")?)?),
        "clear_history" => json(engine.clear_history()?),
        "list_contacts" => {
            let search = a.opt::<String>("search")?;
            if search.as_deref().is_some_and(|s| s.len() > 200) {
                return Err(too_long("search text", 200));
            }
            let contacts = engine.contacts(search.as_deref(), a.opt("favorites")?.unwrap_or(false))?;
            json(ContactList { contacts, warning: engine.contacts_warning() })
        }
        "save_contact" => changed_contacts(shell, engine.save_contact(a.opt("id")?, a.get("contact")?)),
        "delete_contact" => changed_contacts(shell, engine.delete_contact(a.get("id")?)),
        "set_favorite" => changed_contacts(shell, engine.set_favorite(a.get("id")?, a.get("on")?)),
        "import_vcard" => {
            let text = a.get::<String>("text")?;
            if text.len() > MAX_VCARD_BYTES {
                return Err(EngineError::new(ErrorCode::InvalidTarget, "This file is too large to be a contact list (8 MB at most)."));
            }
            changed_contacts(shell, engine.import_vcard(&text))
        }
        "export_vcard" => {
            let ids = a.opt::<Vec<i64>>("ids")?;
            if ids.as_ref().is_some_and(|ids| ids.len() > 100_000) {
                return Err(EngineError::new(ErrorCode::InvalidTarget, "Too many contacts were chosen."));
            }
            json(engine.export_vcard(ids.as_deref(), a.opt::<VcardVersion>("version")?.unwrap_or_default())?)
        }
        "contact_for" => {
            let remote = a.get::<String>("remote")?;
            if remote.len() > 1024 {
                return Err(too_long("number", 1024));
            }
            json(engine.contact_for(&remote))
        }
        "get_desktop_prefs" => json(shell.prefs()),
        "set_desktop_prefs" => json(set_desktop_prefs(shell, a.get("value")?)?),
        "about_info" => json(about_info()),
        "list_audio_devices" => json(audio::list_audio_devices().await?),
        "get_audio_processing" => json(audio::get_audio_processing(engine)),
        "set_audio_processing" => json(audio::set_audio_processing(engine, a.get("value")?)?),
        "get_audio_choice" => json(audio::get_audio_choice(engine)),
        "set_audio_device" => json(audio::set_audio_device(engine, a.get("role")?, a.get("preference")?)?),
        "set_ringtone" => json(audio::set_ringtone(engine, a.opt("path")?)?),
        // Stopped by the window's process ending too (`window_link`).
        "start_mic_meter" => json(engine.start_mic_meter().await?),
        "stop_mic_meter" => {
            let engine = engine.clone();
            let stopped = tokio::task::spawn_blocking(move || engine.stop_mic_meter())
                .await
                .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The microphone meter could not be stopped: {e}.")))?;
            json(stopped)
        }
        "mic_meter_state" => json(engine.mic_meter()),
        "follow_audio_levels" => {
            shell.window().follow_levels(a.get::<bool>("on")?);
            json(())
        }
        "set_account_network" => {
            let id = a.get::<String>("id")?;
            let password = a.opt::<String>("turnPassword")?;
            json(engine.set_account_network(&id, a.get("network")?, password.as_deref()).await?)
        }
        "network_check" => json(engine.network_check(a.opt::<String>("id")?.as_deref()).await?),
        "tray_menu_lines" => json(tray::menu_lines()),
        "tray_status" => json(tray::status()),
        "update_status" => json(update::status()),
        "update_install" => {
            update::install(shell);
            json(())
        }
        "update_later" => {
            update::later(shell);
            json(())
        }
        "update_skip" => {
            update::skip(shell);
            json(())
        }
        _ => Err(EngineError::new(ErrorCode::Internal, format!("Homeline has no command “{}”.", cmd.chars().take(64).collect::<String>()))),
    }
}

/// Contacts changed: the tray's favorites follow.
fn changed_contacts<T: Serialize>(shell: &Shell, result: Result<T, EngineError>) -> Result<Value, EngineError> {
    let value = result?;
    tray::refresh(shell);
    json(value)
}

fn set_desktop_prefs(shell: &Shell, value: DesktopPrefs) -> Result<DesktopPrefs, EngineError> {
    let before = shell.prefs();
    if value.shortcuts != before.shortcuts {
        let refused = |m: String| EngineError::new(ErrorCode::Settings, m);
        shortcuts::check(&value.shortcuts).map_err(refused)?;
        if let Err(message) = shortcuts::apply(shell, &value.shortcuts) {
            let _ = shortcuts::apply(shell, &before.shortcuts);
            return Err(refused(message));
        }
    }
    if value.start_at_login != before.start_at_login {
        autostart::set(value.start_at_login)
            .map_err(|e| EngineError::new(ErrorCode::Settings, format!("Homeline could not change the login items: {e}.")))?;
    }
    shell.prefs_store().set(value.clone())?;
    Ok(value)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::sync::Arc;

    use homeline_phone::{Engine, EngineConfig};
    use serde_json::json;

    use super::*;
    use crate::prefs::Prefs;
    use crate::window_link::WindowLink;

    fn shell() -> Shell {
        let engine = Arc::new(Engine::open(EngineConfig::ephemeral()));
        let window = WindowLink::new("/nonexistent/homeline.sock".into(), "/nonexistent/homeline".into());
        Shell::new(engine, Prefs::load(None), window, tokio::runtime::Handle::current())
    }

    #[tokio::test]
    async fn the_dialer_round_trips_through_the_commands() {
        let shell = shell();
        dispatch(&shell, "dialer_press", json!({"key": "2"})).await.unwrap();
        dispatch(&shell, "dialer_press", json!({"key": "0"})).await.unwrap();
        assert_eq!(dispatch(&shell, "dialer_view", Value::Null).await.unwrap()["text"], "20");
        // A paste replaces the number, cleaned.
        let view = dispatch(&shell, "dialer_paste", json!({"text": "00-1"})).await.unwrap();
        assert_eq!(view["text"], "001", "{view}");
        let view = dispatch(&shell, "dialer_backspace", json!({})).await.unwrap();
        assert_eq!(view["text"], "00", "{view}");
    }

    #[tokio::test]
    async fn bad_commands_and_arguments_are_refused_in_words() {
        let shell = shell();
        let unknown = dispatch(&shell, "format_disk", json!({})).await.unwrap_err();
        assert!(unknown.message.contains("no command “format_disk”"), "{}", unknown.message);
        let missing = dispatch(&shell, "dialer_press", json!({})).await.unwrap_err();
        assert!(missing.message.contains("“key”"), "{}", missing.message);
        let wrong = dispatch(&shell, "hold", json!({"call": "c1", "on": "yes"})).await.unwrap_err();
        assert!(wrong.message.contains("“on”"), "{}", wrong.message);
        let not_object = dispatch(&shell, "dialer_view", json!([1, 2])).await.unwrap_err();
        assert!(not_object.message.contains("not an object"), "{}", not_object.message);
        let long = dispatch(&shell, "list_history", json!({"search": "x".repeat(201)})).await.unwrap_err();
        assert!(long.message.contains("too long"), "{}", long.message);
        let huge = dispatch(&shell, "import_vcard", json!({"text": "x".repeat(MAX_VCARD_BYTES + 1)})).await.unwrap_err();
        assert!(huge.message.contains("too large"), "{}", huge.message);
        // Nothing was dialled: no call exists.
        assert_eq!(dispatch(&shell, "list_calls", json!({})).await.unwrap(), json!([]));
    }

    #[tokio::test]
    async fn the_window_side_reads_what_the_host_keeps() {
        let shell = shell();
        let prefs = dispatch(&shell, "get_desktop_prefs", json!({})).await.unwrap();
        assert_eq!(prefs["notifications"], true, "{prefs}");
        assert_eq!(dispatch(&shell, "tray_status", json!({})).await.unwrap(), Value::Null, "no tray in a unit test");
        assert_eq!(dispatch(&shell, "update_status", json!({})).await.unwrap()["state"], "idle");
        assert_eq!(dispatch(&shell, "echo_test_running", json!({})).await.unwrap(), false);
    }
}
