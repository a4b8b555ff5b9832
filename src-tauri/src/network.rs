//! Settings → Network: an account's STUN/TURN servers (the TURN password goes
//! to the keychain, never to the settings file) and the pre-call network check.

use std::sync::Arc;

use homeline_phone::accounts::AccountView;
use homeline_phone::network_check::NetworkReport;
use homeline_phone::settings::AccountNetwork;
use homeline_phone::{Engine, EngineError};
use tauri::State;

#[tauri::command]
pub async fn set_account_network(
    engine: State<'_, Arc<Engine>>,
    id: String,
    network: AccountNetwork,
    turn_password: Option<String>,
) -> Result<AccountView, EngineError> {
    engine.set_account_network(&id, network, turn_password.as_deref()).await
}

/// Takes a few seconds (each step is bounded): the UI shows progress.
#[tauri::command]
pub async fn network_check(engine: State<'_, Arc<Engine>>, id: Option<String>) -> Result<NetworkReport, EngineError> {
    engine.network_check(id.as_deref()).await
}
