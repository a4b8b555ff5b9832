//! Shared by the desktop tests that launch the real app directly: preparing
//! its home the way the app itself would (settings file and keychain), with
//! this test's own engine, before the app starts.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use homeline_phone::{Account, AccountInput, Engine, EngineConfig, EngineEvent, RegistrationState, TlsTrust};

/// Open an engine on the app's home (`EngineConfig::for_user()`: the
/// environment must already point at it) while the app is not running, and
/// let `change` act on it.
pub fn configure<F, Fut>(change: F)
where
    F: FnOnce(Arc<Engine>) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("tokio runtime");
    rt.block_on(async {
        let engine = Arc::new(Engine::open(EngineConfig::for_user()));
        change(engine.clone()).await;
        engine.shutdown().await;
    });
}

/// Save `address` on `server` (plain WS) as the default account, and wait
/// until it registers.
pub async fn save_registered_account(engine: &Engine, address: String, server: String, password: &str, wait: Duration) {
    let mut events = engine.subscribe();
    let account = Account { address, auth_user: None, display_name: None, server, outbound_proxy: None, expires: 300, tls: TlsTrust::default() };
    engine
        .save_account(AccountInput { account, password: Some(password.into()), make_default: true })
        .await
        .expect("save the account");
    tokio::time::timeout(wait, async {
        while let Ok(event) = events.recv().await {
            if let EngineEvent::RegistrationChanged { state: RegistrationState::Registered { .. }, .. } = event {
                return;
            }
        }
    })
    .await
    .expect("the saved account registers");
}
