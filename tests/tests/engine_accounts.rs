//! The engine's accounts against the harness Kamailio: an account saved from
//! the UI registers at once, its password never reaches the settings file,
//! a wrong password is reported in words, and removing the account
//! unregisters it. The CLI shows the same states as JSON lines.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use homeline_phone::{Account, AccountInput, Engine, EngineConfig, EngineEvent, RegistrationState, TlsTrust};
use homeline_store::AppDirs;
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use tokio::sync::broadcast;

const PASSWORD: &str = "alice-engine-secret";

fn kamailio() -> Kamailio {
    let opts = KamailioOptions::new().user("alice", PASSWORD).user("bob", "bob-secret");
    kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"))
}

fn input(k: &Kamailio, user: &str, password: &str) -> AccountInput {
    AccountInput {
        account: Account {
            address: format!("{user}@{}", k.domain()),
            auth_user: None,
            display_name: None,
            server: k.wss_url(),
            outbound_proxy: None,
            expires: 300,
            tls: TlsTrust { ca_file: Some(k.ca_pem().to_path_buf()), fingerprint_sha256: None },
        },
        password: Some(password.to_owned()),
        make_default: false,
    }
}

/// The next registration state of `account`, within `timeout`.
async fn next_state(rx: &mut broadcast::Receiver<EngineEvent>, account: &str, timeout: Duration) -> RegistrationState {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, rx.recv()).await {
            Ok(Ok(EngineEvent::RegistrationChanged { account: a, state })) if a == account => return state,
            Ok(Ok(_)) => continue,
            other => panic!("no registration event for {account} within {timeout:?}: {other:?}"),
        }
    }
}

async fn wait_for(rx: &mut broadcast::Receiver<EngineEvent>, account: &str, want: impl Fn(&RegistrationState) -> bool) -> RegistrationState {
    loop {
        let state = next_state(rx, account, Duration::from_secs(10)).await;
        if want(&state) {
            return state;
        }
    }
}

#[tokio::test]
async fn saved_account_registers_keeps_password_out_of_the_file_and_unregisters_when_removed() {
    let k = kamailio();
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig { dirs: Some(AppDirs::under(home.path())), ..EngineConfig::ephemeral() });
    let mut rx = engine.subscribe();
    assert!(!engine.app_info().accounts_configured);

    let id = format!("alice@{}", k.domain());
    let view = engine.save_account(input(&k, "alice", PASSWORD)).await.expect("save the account");
    assert_eq!(view.id, id);
    assert!(view.is_default, "the first account becomes the default");
    assert!(!view.unencrypted, "wss:// is not flagged");
    let state = wait_for(&mut rx, &id, |s| matches!(s, RegistrationState::Registered { .. } | RegistrationState::Failed { .. })).await;
    assert!(matches!(state, RegistrationState::Registered { expires } if expires > 0), "{state:?}");
    assert!(engine.app_info().accounts_configured);
    assert!(matches!(engine.accounts()[0].registration, Some(RegistrationState::Registered { .. })));

    let file = std::fs::read_to_string(home.path().join("config/settings.toml")).expect("settings were saved");
    assert!(file.contains(&id), "the account is in the settings file:\n{file}");
    assert!(!file.contains(PASSWORD), "the password must never be written to the settings file");

    // A new start from the same folder finds the account again.
    let reopened = Engine::open(EngineConfig { dirs: Some(AppDirs::under(home.path())), ..EngineConfig::ephemeral() });
    assert_eq!(reopened.accounts().len(), 1);
    drop(reopened);

    engine.remove_account(&id).await.expect("remove the account");
    let state = wait_for(&mut rx, &id, |s| matches!(s, RegistrationState::Unregistered)).await;
    assert_eq!(state, RegistrationState::Unregistered);
    assert!(engine.accounts().is_empty());
    assert!(!std::fs::read_to_string(home.path().join("config/settings.toml")).unwrap().contains(&id));
}

#[tokio::test]
async fn wrong_password_is_reported_in_words() {
    let k = kamailio();
    let engine = Engine::open(EngineConfig::ephemeral());
    let mut rx = engine.subscribe();
    let id = format!("bob@{}", k.domain());
    engine.save_account(input(&k, "bob", "not-bobs-password")).await.expect("save");
    let state = wait_for(&mut rx, &id, |s| matches!(s, RegistrationState::Failed { .. } | RegistrationState::Registered { .. })).await;
    match state {
        RegistrationState::Failed { reason } => assert!(reason.contains("password"), "the reason names the password: {reason}"),
        other => panic!("a wrong password must fail, got {other:?}"),
    }
    // Correcting it registers at once.
    engine.save_account(input(&k, "bob", "bob-secret")).await.expect("save corrected");
    let state = wait_for(&mut rx, &id, |s| matches!(s, RegistrationState::Registered { .. })).await;
    assert!(matches!(state, RegistrationState::Registered { .. }));
    engine.shutdown().await;
}

fn cli_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline-cli")
}

#[test]
fn cli_registers_and_prints_states_as_json_lines() {
    let k = kamailio();
    let mut child = Command::new(cli_binary())
        .args(["register", "--address", &format!("alice@{}", k.domain()), "--server", &k.wss_url(), "--ca-file"])
        .arg(k.ca_pem())
        .args(["--for", "1"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start homeline-cli");
    // The password comes on stdin, never on the command line (visible in ps).
    child.stdin.take().unwrap().write_all(format!("{PASSWORD}\n").as_bytes()).unwrap();
    let out = child.wait_with_output().expect("homeline-cli ends by itself after --for");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "homeline-cli failed: {}\n{stdout}", String::from_utf8_lossy(&out.stderr));
    let states: Vec<String> = BufReader::new(stdout.as_bytes())
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l).ok())
        .filter(|v| v["type"] == "registrationChanged")
        .map(|v| v["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert!(states.contains(&"registered".to_owned()), "no registered state in: {stdout}");
    assert_eq!(states.last().map(String::as_str), Some("unregistered"), "the CLI unregisters when it ends: {stdout}");
    assert!(!stdout.contains(PASSWORD) && !String::from_utf8_lossy(&out.stderr).contains(PASSWORD), "the password leaked to output");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accounts_stun_and_turn_are_kept_with_the_turn_password_in_the_keychain_and_checked() {
    let k = kamailio();
    let turn = homeline_tests::services::coturn::start().unwrap_or_else(|e| panic!("coturn: {e}"));
    let home = tempfile::tempdir().unwrap();
    let engine = Engine::open(EngineConfig { dirs: Some(AppDirs::under(home.path())), ..EngineConfig::ephemeral() });
    let id = format!("alice@{}", k.domain());
    engine.save_account(input(&k, "alice", PASSWORD)).await.expect("save the account");

    let bad = homeline_phone::settings::AccountNetwork { turn: Some(turn.turn_url()), ..Default::default() };
    let refused = engine.set_account_network(&id, bad, None).await.expect_err("TURN without a user name");
    assert!(refused.message.contains("needs a user name"), "{refused:?}");

    let network = homeline_phone::settings::AccountNetwork {
        stun: Some(turn.stun_url()),
        turn: Some(turn.turn_url()),
        turn_user: Some(turn.username().into()),
    };
    let view = engine.set_account_network(&id, network.clone(), Some(turn.password())).await.expect("set STUN/TURN");
    assert_eq!(view.network, network);
    assert!(view.has_turn_password);
    let file = std::fs::read_to_string(home.path().join("config/settings.toml")).expect("settings were saved");
    assert!(file.contains(&turn.turn_url()), "the TURN server is in the settings:\n{file}");
    assert!(!file.contains(turn.password()), "the TURN password must never be written to the settings file");
    // Saving the account again (a new SIP password) keeps its STUN/TURN.
    let view = engine.save_account(input(&k, "alice", PASSWORD)).await.expect("save again");
    assert_eq!(view.network, network);

    let report = engine.network_check(Some(&id)).await.expect("network check");
    assert!(report.server_connect_ms.is_some(), "{report:?}");
    assert_eq!(report.turn_works, Some(true), "the TURN password came from the keychain: {report:?}");
    assert!(report.stun_rtt_ms.is_some(), "{report:?}");
}
