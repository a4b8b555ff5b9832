//! Tauri commands: one line each, from the UI to the engine.

use std::sync::Arc;

use homeline_phone::{AccountInput, AccountView, AppInfo, DialerView, Engine, EngineError, ErrorCode};
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

#[tauri::command]
pub fn dialer_clear(engine: EngineState<'_>) -> DialerView {
    engine.dialer_clear()
}

#[tauri::command]
pub async fn dial(engine: EngineState<'_>, target: String) -> Result<(), EngineError> {
    engine.dial(&target).await
}

#[tauri::command]
pub async fn start_echo_test(engine: EngineState<'_>) -> Result<String, EngineError> {
    engine.start_echo_test().await
}

#[tauri::command]
pub fn open_account_setup() -> Result<(), EngineError> {
    Err(EngineError::new(ErrorCode::NotAvailable, "Account setup arrives with SIP support in the next release."))
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
