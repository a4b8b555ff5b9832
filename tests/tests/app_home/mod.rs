//! Shared by the desktop tests that launch the real app directly: preparing
//! its home the way the app itself would (settings file and keychain), with
//! this test's own engine, before the app starts, and launching it in the tray.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use homeline_phone::{Account, AccountInput, Engine, EngineConfig, EngineEvent, RegistrationState, TlsTrust};
use homeline_tests::process::Service;
use homeline_tests::services::desktop::{registered_in_log, PrivateHome};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::services::secrets::{self, SecretService};

/// Kamailio with alice and bob, a Secret Service, and a private home this
/// process's environment points at (so [`configure`] opens the app's home).
pub struct AliceHome {
    pub kamailio: Kamailio,
    pub secret_service: SecretService,
    pub home: PrivateHome,
    /// What the app is started with.
    pub env: Vec<(String, String)>,
}

impl AliceHome {
    /// Call before the test starts any thread: it sets the environment.
    pub fn start(alice_password: &str, bob_password: &str) -> Self {
        let kamailio = kamailio::start(&KamailioOptions::new().user("alice", alice_password).user("bob", bob_password))
            .unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
        let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");
        let home = PrivateHome::new().expect("private home");
        let env = home.env(secret_service.env());
        // Sound: each test using this is the only test in its file, and no
        // thread of ours runs yet.
        for (key, value) in &env {
            std::env::set_var(key, value);
        }
        Self { kamailio, secret_service, home, env }
    }

    /// alice's account saved as the app saves it (settings file and keychain),
    /// registered once; `more` may save more on the same engine.
    pub fn save_alice(&self, password: &str, wait: Duration, more: impl FnOnce(&Engine)) {
        let address = format!("alice@{}", self.kamailio.domain());
        let server = self.kamailio.ws_url();
        let password = password.to_owned();
        configure(|engine| async move {
            save_registered_account(&engine, address, server, &password, wait).await;
            more(&engine);
        });
    }

    /// The app started in the tray (`--minimised`) on `display`, logging to
    /// `log`, once it has registered alice.
    pub fn launch_in_tray(&self, display: &str, log: &Path, wait: Duration) -> Service {
        let mut cmd = Command::new(homeline_tests::built_binary("homeline"));
        cmd.arg("--minimised")
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DISPLAY", display)
            .env("HOMELINE_TEST_LOOPBACK_MEDIA", "1")
            .env("HOMELINE_LOG", "info,homeline_desktop=debug,homeline_sip::trace=debug")
            .env_remove("WAYLAND_DISPLAY");
        let mut app = Service::spawn("homeline app (in the tray)", cmd, log).expect("launch the app");
        app.wait_ready(wait, || registered_in_log(log)).expect("the app registers alice from her saved account");
        app
    }
}

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
