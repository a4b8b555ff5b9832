//! First-run account setup in the real app, end to end: the Tauri app under
//! Xvfb (tauri-driver + WebKitWebDriver) fills the setup form, registers to
//! the harness Kamailio over ws://, keeps the password in a real Secret
//! Service (gnome-keyring, read back with `secret-tool`) and never in the
//! settings file; a wrong password typed in Settings → Accounts is reported
//! in words.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use homeline_tests::services::desktop::{self, WebDriverSession};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use homeline_tests::services::secrets;
use serde_json::json;

const PASSWORD: &str = "alice-desktop-secret-7391";
const WRONG_PASSWORD: &str = "not-alice's-password";
const ADDRESS: &str = "alice@127.0.0.1";
/// WebDriver's Backspace key.
const BACKSPACE: &str = "\u{E003}";

fn app_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline")
}

use homeline_tests::services::desktop::find_testid as find;

fn value_of(session: &WebDriverSession, testid: &str) -> String {
    let script = format!("return document.querySelector('[data-testid={testid}]').value");
    session.execute(&script, json!([])).expect("read an input's value").as_str().unwrap_or_default().to_owned()
}

fn files_named(dir: &Path, name: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_named(&path, name, out);
        } else if path.file_name().is_some_and(|n| n == name) {
            out.push(path);
        }
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &Path, needle: &str, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files_containing(&path, needle, out);
        } else if std::fs::read(&path).is_ok_and(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes())) {
            out.push(path);
        }
    }
}

/// Save a PNG of the window next to the app (best effort). WebKitWebDriver
/// waits for the next painted frame, which an idle page under Xvfb never
/// makes: a nearly invisible pixel changes for a moment so one comes.
fn screenshot(session: &WebDriverSession, app: &Path, name: &str) {
    let nudge = "const d = document.createElement('div');
        d.style.cssText = 'position:fixed;left:0;bottom:0;width:1px;height:1px;pointer-events:none';
        document.body.appendChild(d);
        let n = 0;
        const t = setInterval(() => {
          d.style.background = n++ % 2 ? 'rgba(0,0,0,0.01)' : 'rgba(0,0,0,0.02)';
          if (n > 60) { clearInterval(t); d.remove(); }
        }, 50);
        return null";
    let _ = session.execute(nudge, json!([]));
    if let Ok(png) = session.screenshot() {
        let out = app.parent().map(|d| d.join("homeline-screenshots")).expect("target dir");
        let _ = std::fs::create_dir_all(&out);
        let _ = std::fs::write(out.join(name), png);
    }
}

#[test]
fn first_run_setup_registers_and_keeps_the_password_in_the_keychain() {
    let app = app_binary();
    let kamailio = kamailio::start(&KamailioOptions::new().user("alice", PASSWORD))
        .unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
    let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");

    // A private home for the app (never the developer's settings), and the
    // harness Secret Service as its keychain.
    let home = desktop::PrivateHome::new().expect("private home");
    let (config_home, data_home) = (home.config(), home.data());
    let env = home.env(secret_service.env());
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");
    let session = driver.session(&app).expect("WebDriver session on the Homeline window");

    // ---- first run: the setup form --------------------------------------------
    let setup = session.find("[data-testid=setup-button]", Duration::from_secs(30)).expect("the no-account banner offers set-up");
    session.click(&setup).expect("click Set up an account");

    let address = find(&session, "account-address");
    session.send_keys(&address, ADDRESS).expect("type the address");
    let password = find(&session, "account-password");
    session.send_keys(&password, PASSWORD).expect("type the password");
    assert_eq!(
        session
            .execute("return document.querySelector('[data-testid=account-password]').type", json!([]))
            .expect("read the password field's type"),
        json!("password"),
        "the password field must not show the password"
    );

    // The server is suggested from the address; the test server speaks plain ws://.
    let server = find(&session, "account-server");
    assert_eq!(value_of(&session, "account-server"), "wss://127.0.0.1", "server URL suggested from the address's domain");
    session.send_keys(&server, &BACKSPACE.repeat(40)).expect("clear the server URL");
    session.send_keys(&server, &kamailio.ws_url()).expect("type the server URL");
    assert_eq!(value_of(&session, "account-server"), kamailio.ws_url());
    let warning = find(&session, "unencrypted-warning");
    let text = session.text(&warning).expect("warning text");
    assert!(text.contains("Unencrypted"), "ws:// shows the unencrypted warning, got {text:?}");

    screenshot(&session, &app, "accounts-setup-form.png");
    let save = find(&session, "account-save");
    let saved_at = Instant::now();
    session.click(&save).expect("click Save");

    // ---- live registration progress -------------------------------------------
    let progress = find(&session, "registration-progress");
    session
        .wait_text(&progress, Duration::from_secs(10), |t| t.trim() == "Registered")
        .unwrap_or_else(|e| {
            let detail = session.find("[data-testid=registration-detail]", Duration::from_secs(1)).and_then(|d| session.text(&d));
            panic!("not registered within 10 s of saving: {e}; detail: {detail:?}\n--- kamailio ---\n{}", kamailio.log_tail(30))
        });
    eprintln!("registered {:?} after Save", saved_at.elapsed());
    let header = find(&session, "header-account-state");
    session
        .wait_text(&header, Duration::from_secs(5), |t| t.contains("Registered"))
        .expect("the header shows the default account as registered");
    screenshot(&session, &app, "accounts-registered.png");

    // ---- the password is in the keychain, and nowhere on disk ------------------
    let stored = secret_service
        .lookup(&[("service", "homeline"), ("username", ADDRESS)])
        .expect("run secret-tool");
    assert_eq!(stored.as_deref(), Some(PASSWORD), "secret-tool does not see the password in the keychain");

    let mut settings = Vec::new();
    files_named(&config_home, "settings.toml", &mut settings);
    let settings_file = settings.first().unwrap_or_else(|| panic!("no settings.toml under {}", config_home.display()));
    let contents = std::fs::read_to_string(settings_file).expect("read settings.toml");
    assert!(contents.contains(ADDRESS), "the account is not in {}:\n{contents}", settings_file.display());
    assert!(!contents.contains(PASSWORD), "the password leaked into {}", settings_file.display());
    let mut leaks = Vec::new();
    for dir in [&config_home, &data_home] {
        files_containing(dir, PASSWORD, &mut leaks);
    }
    assert!(leaks.is_empty(), "the password is written in {leaks:?}");

    // ---- Settings → Accounts: a wrong password is reported in words -------------
    session.click(&find(&session, "registration-done")).expect("click Done");
    session.click(&find(&session, "settings-button")).expect("open Settings");
    let item = find(&session, "account-item");
    session
        .wait_text(&item, Duration::from_secs(5), |t| t.contains(ADDRESS) && t.contains("Registered"))
        .expect("the account is listed as registered");
    session.click(&find(&session, "account-edit")).expect("click Edit");
    let password = find(&session, "account-password");
    assert_eq!(value_of(&session, "account-password"), "", "the saved password is never shown");
    session.send_keys(&password, WRONG_PASSWORD).expect("type a wrong password");
    session.click(&find(&session, "account-save")).expect("save the edit");

    let progress = find(&session, "registration-progress");
    session
        .wait_text(&progress, Duration::from_secs(10), |t| t.trim() == "Registration failed")
        .unwrap_or_else(|e| panic!("the wrong password is not reported: {e}\n--- kamailio ---\n{}", kamailio.log_tail(30)));
    let detail = session.text(&find(&session, "registration-detail")).expect("failure reason");
    assert_eq!(detail.trim(), format!("The server rejected the password for {ADDRESS}."));
    screenshot(&session, &app, "accounts-wrong-password.png");

    // The list shows the reason too.
    session.click(&find(&session, "registration-edit")).expect("back to the form");
    session.click(&find(&session, "account-cancel")).expect("cancel the edit");
    let reason = find(&session, "account-reason");
    let text = session.text(&reason).expect("reason in the list");
    assert!(text.contains("rejected the password"), "the account list shows the reason, got {text:?}");
    let stored = secret_service
        .lookup(&[("service", "homeline"), ("username", ADDRESS)])
        .expect("run secret-tool");
    assert_eq!(stored.as_deref(), Some(WRONG_PASSWORD), "the edited password replaces the old one in the keychain");
}
