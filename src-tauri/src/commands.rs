//! Tauri commands: one line each, from the UI to the engine.

use std::sync::Arc;

use homeline_phone::{AccountInput, AccountView, AppInfo, CallView, DialerView, Engine, EngineError, ErrorCode, HistoryEntry, HistoryFilter};
use tauri::State;

type EngineState<'a> = State<'a, Arc<Engine>>;

#[tauri::command]
pub fn app_info(engine: EngineState<'_>) -> AppInfo {
    engine.app_info()
}

#[tauri::command]
pub fn dialer_press(engine: EngineState<'_>, key: String) -> DialerView {
    engine.dialer_press(&key)
}

#[tauri::command]
pub fn dialer_backspace(engine: EngineState<'_>) -> DialerView {
    engine.dialer_backspace()
}

#[tauri::command]
pub fn dialer_paste(engine: EngineState<'_>, text: String) -> DialerView {
    engine.dialer_paste(&text)
}

/// The dial string as the engine holds it: a reopened window shows what a
/// clicked link or the tray put there while it was closed.
#[tauri::command]
pub fn dialer_view(engine: EngineState<'_>) -> DialerView {
    engine.dialer_view()
}

#[tauri::command]
pub fn dialer_clear(engine: EngineState<'_>) -> DialerView {
    engine.dialer_clear()
}

#[tauri::command]
pub async fn dial(engine: EngineState<'_>, target: String, account: Option<String>) -> Result<String, EngineError> {
    engine.dial(&target, account.as_deref()).await
}

#[tauri::command]
pub async fn list_calls(engine: EngineState<'_>) -> Result<Vec<CallView>, EngineError> {
    Ok(engine.calls_with_names().await)
}

#[tauri::command]
pub async fn answer(engine: EngineState<'_>, call: String) -> Result<(), EngineError> {
    engine.answer(&call).await
}

#[tauri::command]
pub async fn reject(engine: EngineState<'_>, call: String, busy: Option<bool>) -> Result<(), EngineError> {
    engine.reject(&call, busy.unwrap_or(false)).await
}

#[tauri::command]
pub async fn hangup(engine: EngineState<'_>, call: String) -> Result<(), EngineError> {
    engine.hangup(&call).await
}

#[tauri::command]
pub async fn hold(engine: EngineState<'_>, call: String, on: bool) -> Result<(), EngineError> {
    engine.hold(&call, on).await
}

#[tauri::command]
pub async fn mute(engine: EngineState<'_>, call: String, on: bool) -> Result<(), EngineError> {
    engine.mute(&call, on).await
}

#[tauri::command]
pub async fn send_dtmf(engine: EngineState<'_>, call: String, digits: String) -> Result<(), EngineError> {
    engine.send_dtmf(&call, &digits).await
}

#[tauri::command]
pub async fn transfer(engine: EngineState<'_>, call: String, target: String) -> Result<(), EngineError> {
    engine.transfer(&call, &target).await
}

#[tauri::command]
pub async fn set_do_not_disturb(engine: EngineState<'_>, on: bool) -> Result<(), EngineError> {
    engine.set_do_not_disturb(on).await
}

#[tauri::command]
pub async fn start_echo_test(engine: EngineState<'_>) -> Result<String, EngineError> {
    engine.start_echo_test().await
}

/// Whether the echo test runs now (a reopened window shows the microphone as on).
#[tauri::command]
pub fn echo_test_running(engine: EngineState<'_>) -> bool {
    engine.echo_test_running()
}


#[tauri::command]
pub fn list_accounts(engine: EngineState<'_>) -> Vec<AccountView> {
    engine.accounts()
}

#[tauri::command]
pub async fn save_account(engine: EngineState<'_>, input: AccountInput) -> Result<AccountView, EngineError> {
    engine.save_account(input).await
}

#[tauri::command]
pub async fn remove_account(engine: EngineState<'_>, id: String) -> Result<(), EngineError> {
    engine.remove_account(&id).await
}

#[tauri::command]
pub fn set_default_account(engine: EngineState<'_>, id: String) -> Result<(), EngineError> {
    engine.set_default_account(&id)
}

#[tauri::command]
pub fn list_history(engine: EngineState<'_>, filter: Option<HistoryFilter>, search: Option<String>, limit: Option<u32>) -> Result<Vec<HistoryEntry>, EngineError> {
    if search.as_deref().is_some_and(|s| s.len() > 200) {
        return Err(EngineError::new(ErrorCode::InvalidTarget, "The search text is too long (200 characters at most)."));
    }
    engine.history_with_names(filter.unwrap_or_default(), search.as_deref(), limit.unwrap_or(200))
}

#[tauri::command]
pub fn delete_history(engine: EngineState<'_>, id: i64) -> Result<(), EngineError> {
    engine.delete_history(id)
}

#[tauri::command]
pub fn clear_history(engine: EngineState<'_>) -> Result<(), EngineError> {
    engine.clear_history()
}
