//! Tauri commands for the local conference: merge calls, split one out.

use std::sync::Arc;

use homeline_phone::{Engine, EngineError};
use tauri::State;

/// Mix `calls` together (with the conference running, if any); resolves to the members now.
#[tauri::command]
pub async fn merge_calls(engine: State<'_, Arc<Engine>>, calls: Vec<String>) -> Result<Vec<String>, EngineError> {
    engine.merge(&calls).await
}

/// Take `call` out of the conference (the engine puts it on hold).
#[tauri::command]
pub async fn split_call(engine: State<'_, Arc<Engine>>, call: String) -> Result<(), EngineError> {
    engine.split(&call).await
}
