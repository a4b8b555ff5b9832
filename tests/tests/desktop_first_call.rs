//! The desktop app's first call, end to end (issue 6): the real Tauri app
//! under Xvfb (tauri-driver + WebKitWebDriver) is set up on first run (server
//! URL, user, password), registers to the harness Kamailio, dials a
//! `homeline-cli` phone that answers by itself, sends `12#` from the in-call
//! keypad (the CLI's JSON events show the digits arrive in order), hangs up,
//! and History shows the call with its talk time. The password is in
//! gnome-keyring (read back with `secret-tool`) and in no file under the
//! app's config and data folders. Then a `sip:` link handed to a second
//! launch: with "Ask before calling a clicked link" off the running app dials
//! it at once; with it on the link only fills the dialer.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_tests::cli::{call_state_is as state_is, phone_args, CliPhone};
use homeline_tests::services::desktop::{self, WebDriverSession};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::services::secrets;
use serde_json::{json, Value};

const ALICE_PASSWORD: &str = "alice-first-call-secret-6184";
const BOB_PASSWORD: &str = "bob-first-call-secret-2957";
/// WebDriver's Backspace key.
const BACKSPACE: &str = "\u{E003}";
const WAIT: Duration = Duration::from_secs(20);

use homeline_tests::services::desktop::find_testid as find;

fn click(session: &WebDriverSession, testid: &str) {
    session.click(&find(session, testid)).unwrap_or_else(|e| panic!("click {testid}: {e}"));
}

fn status_line(session: &WebDriverSession) -> String {
    content(session, "status-line").unwrap_or_default()
}

/// The text of the first element `testid` (its `textContent`: WebKitWebDriver
/// reads some visible texts, an `<output>`'s or a clipped one's, as empty).
fn content(session: &WebDriverSession, testid: &str) -> Option<String> {
    let script = format!("return document.querySelector('[data-testid={testid}]')?.textContent ?? null");
    session.execute(&script, json!([])).ok()?.as_str().map(|t| t.trim().to_owned())
}

/// Wait until the element `testid` shows a text that `pred` accepts (it may appear later).
fn wait_for_text(session: &WebDriverSession, testid: &str, timeout: Duration, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        last = content(session, testid);
        if let Some(text) = last.as_deref().filter(|t| pred(t)) {
            return text.to_owned();
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("{what}: [data-testid={testid}] still shows {last:?} after {timeout:?} (status line: {:?})", status_line(session));
}

/// True while an element `testid` is in the page.
fn present(session: &WebDriverSession, testid: &str) -> bool {
    session
        .execute(&format!("return document.querySelector('[data-testid={testid}]') !== null"), json!([]))
        .is_ok_and(|v| v == json!(true))
}

/// Wait until an element `testid` is gone from the page.
fn wait_gone(session: &WebDriverSession, testid: &str, what: &str) {
    let deadline = Instant::now() + WAIT;
    while present(session, testid) {
        assert!(Instant::now() < deadline, "{what}: [data-testid={testid}] is still shown after {WAIT:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A checkbox's `checked`, once it can be used (the preferences are loaded).
fn checkbox(session: &WebDriverSession, testid: &str) -> bool {
    let script = format!("const e = document.querySelector('[data-testid={testid}]'); return e && !e.disabled ? e.checked : null");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Ok(Value::Bool(checked)) = session.execute(&script, json!([])) {
            return checked;
        }
        assert!(Instant::now() < deadline, "[data-testid={testid}] is not there or stays disabled");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Settings → General: turn "Ask before calling a clicked link" on or off
/// (and back to the dialer). The shell's own reading is checked too.
fn set_ask_before_link_call(session: &WebDriverSession, on: bool) {
    click(session, "settings-button");
    find(session, "settings-screen");
    if checkbox(session, "pref-askBeforeLinkCall") != on {
        click(session, "pref-askBeforeLinkCall");
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    let saved = "return window.__TAURI_INTERNALS__.invoke('get_desktop_prefs', {}).then((p) => p.askBeforeLinkCall, (e) => 'error ' + JSON.stringify(e))";
    loop {
        let shown = checkbox(session, "pref-askBeforeLinkCall");
        let in_shell = session.execute(saved, json!([])).unwrap_or_default();
        if shown == on && in_shell == json!(on) {
            break;
        }
        assert!(Instant::now() < deadline, "the switch shows {shown}, the shell has {in_shell} (want {on}); status: {:?}", status_line(session));
        std::thread::sleep(Duration::from_millis(100));
    }
    click(session, "settings-button");
    find(session, "dial-display");
}

/// Every file under `dir` whose bytes contain `needle`, and how many files were read.
fn files_containing(dir: &Path, needle: &[u8], found: &mut Vec<PathBuf>) -> usize {
    let mut read = 0;
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            read += files_containing(&path, needle, found);
        } else if let Ok(bytes) = std::fs::read(&path) {
            read += 1;
            if bytes.windows(needle.len()).any(|w| w == needle) {
                found.push(path);
            }
        }
    }
    read
}

/// The password in no file under the config and data folders (every file's
/// bytes, the SQLite history and its WAL included).
fn assert_password_in_no_file(dirs: &[&Path]) {
    let mut leaks = Vec::new();
    let mut read = 0;
    for dir in dirs {
        read += files_containing(dir, ALICE_PASSWORD.as_bytes(), &mut leaks);
    }
    assert!(read >= 2, "expected the settings file and the history in {dirs:?}, read {read} files");
    assert!(leaks.is_empty(), "the password is written in {leaks:?}");
}

/// Launch the app a second time with `link`, as the desktop does for a
/// clicked link; it must hand the link to the running app and exit.
fn second_launch(app: &Path, env: &[(String, String)], display: &str, link: &str) {
    let mut child = Command::new(app)
        .arg(link)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DISPLAY", display)
        .spawn()
        .expect("second launch");
    let deadline = Instant::now() + WAIT;
    loop {
        if let Some(status) = child.try_wait().expect("wait for the second launch") {
            assert!(status.success(), "the second launch failed: {status}");
            return;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second launch did not hand the link over and exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `homeline-cli phone` for bob over WSS, answering every call by itself.
fn start_bob(k: &Kamailio) -> CliPhone {
    let mut cmd = Command::new(homeline_tests::built_binary("homeline-cli"));
    cmd.args(phone_args(k, "bob")).args(["--loopback", "--for", "300", "--auto-answer"]);
    let bob = CliPhone::spawn(cmd, BOB_PASSWORD).expect("start homeline-cli");
    bob.expect("bob registered", |v| v["type"] == "registrationChanged" && v["state"] == "registered");
    bob
}

/// The app's call connects (bob answered by himself); returns bob's call id.
fn bob_answers(bob: &CliPhone, session: &WebDriverSession) -> String {
    let incoming = bob.expect("bob's phone rings", |v| state_is(v, "incoming"));
    assert_eq!(incoming["remote"], "alice", "bob sees who calls: {incoming}");
    let call = incoming["call"].as_str().expect("a call id").to_owned();
    bob.expect("bob's side connects", |v| state_is(v, "active") && v["call"] == call.as_str());
    find(session, "call-screen");
    wait_for_text(session, "call-state", WAIT, |t| t == "Connected", "the app shows the call connected");
    call
}

/// Hang up from the in-call screen; bob sees the call end, the dialer comes back.
fn hang_up(bob: &CliPhone, session: &WebDriverSession, call: &str) {
    click(session, "hangup-button");
    let ended = bob.expect("bob's call ends", |v| state_is(v, "ended") && v["call"] == call);
    assert_eq!(ended["by"], "remote", "alice hung up: {ended}");
    wait_gone(session, "call-screen", "the in-call screen goes after hanging up");
    find(session, "dial-display");
}

#[test]
fn first_run_call_dtmf_history_keychain_and_clicked_links() {
    let app = homeline_tests::built_binary("homeline");
    let k = kamailio::start(&KamailioOptions::new().user("alice", ALICE_PASSWORD).user("bob", BOB_PASSWORD))
        .unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
    let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");
    let bob = start_bob(&k);

    // A private home for the app (never the developer's settings), the
    // harness Secret Service as its keychain, loopback media (bob is here).
    let home = desktop::PrivateHome::new().expect("private home");
    let (config_home, data_home) = (home.config(), home.data());
    let mut env = home.env(secret_service.env());
    env.push(("HOMELINE_TEST_LOOPBACK_MEDIA".to_owned(), "1".to_owned()));
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");
    let session = driver.session(&app).expect("WebDriver session on the Homeline window");

    // ---- first run: server URL, user, password ----------------------------------
    let address = format!("alice@{}", k.domain());
    let setup = session.find("[data-testid=setup-button]", Duration::from_secs(30)).expect("the no-account banner offers set-up");
    session.click(&setup).expect("click Set up an account");
    session.send_keys(&find(&session, "account-address"), &address).expect("type the address");
    session.send_keys(&find(&session, "account-password"), ALICE_PASSWORD).expect("type the password");
    let server = find(&session, "account-server");
    session.send_keys(&server, &BACKSPACE.repeat(60)).expect("clear the suggested server URL");
    session.send_keys(&server, &k.ws_url()).expect("type the server URL");
    click(&session, "account-save");
    wait_for_text(&session, "registration-progress", WAIT, |t| t == "Registered", "alice registers to the harness Kamailio");
    click(&session, "registration-done");
    wait_for_text(&session, "header-account-state", Duration::from_secs(5), |t| t.contains("Registered"), "the header shows alice registered");

    // ---- dial bob (a homeline-cli that answers by itself) -----------------------------
    let display = find(&session, "dial-display");
    for key in ["b", "o", "b"] {
        let script = "document.body.dispatchEvent(new KeyboardEvent('keydown', { key: arguments[0], bubbles: true, cancelable: true })); return null";
        session.execute(script, json!([key])).expect("type on the keyboard");
    }
    session.wait_text(&display, Duration::from_secs(5), |t| t.trim() == "bob").expect("the dialer shows bob");
    click(&session, "call-button");
    let call = bob_answers(&bob, &session);
    wait_for_text(&session, "call-timer", Duration::from_secs(5), |t| t.starts_with("0:0"), "the call timer runs");

    // ---- DTMF 1 2 # from the in-call keypad, received in order ------------------------
    click(&session, "keypad-button");
    for key in ["dtmf-key-1", "dtmf-key-2", "dtmf-key-hash"] {
        click(&session, key);
    }
    wait_for_text(&session, "dtmf-sent", Duration::from_secs(5), |t| t == "12#", "the keypad shows the tones sent");
    let digits: Vec<String> = (0..3)
        .map(|_| {
            let d = bob.expect("a touch tone at bob", |v| v["type"] == "dtmfReceived" && v["call"] == call.as_str());
            d["digit"].as_str().unwrap_or_default().to_owned()
        })
        .collect();
    assert_eq!(digits, ["1", "2", "#"], "bob hears the tones in the order pressed");

    // A call of a couple of seconds, as the app's own timer counts them.
    wait_for_text(&session, "call-timer", WAIT, |t| t >= "0:02" && t.len() == 4, "the call lasts two seconds");
    hang_up(&bob, &session, &call);

    // ---- History: the call, with its talk time ------------------------------------------
    click(&session, "history-button");
    find(&session, "history-screen");
    let name = wait_for_text(&session, "history-name", Duration::from_secs(5), |t| t.contains("bob"), "History lists the call to bob");
    let detail = content(&session, "history-detail").expect("the row's talk time");
    let detail = detail.as_str();
    let row = content(&session, "history-row").unwrap_or_default();
    assert!(
        detail.len() == 4 && detail.starts_with("0:0") && detail != "0:00" && detail[3..].chars().all(|c| c.is_ascii_digit()),
        "History shows the talk time (0:0x, not zero), got {detail:?} in row {row:?}"
    );
    eprintln!("History shows: {name} {row:?}");
    click(&session, "history-button");
    find(&session, "dial-display");

    // ---- the password: in the keychain, in no file -----------------------------------------
    let stored = secret_service.lookup(&[("service", "homeline"), ("username", &address)]).expect("run secret-tool");
    assert_eq!(stored.as_deref(), Some(ALICE_PASSWORD), "secret-tool does not find the password in gnome-keyring");
    assert_password_in_no_file(&[&config_home, &data_home]);

    // ---- a clicked link, "Ask before calling" off: the running app dials at once -----------
    let link = format!("sip:bob@{}", k.domain());
    set_ask_before_link_call(&session, false);
    second_launch(&app, &env, xvfb.display(), &link);
    let call = bob_answers(&bob, &session);
    hang_up(&bob, &session, &call);

    // ---- "Ask before calling" on: the link only fills the dialer ---------------------------
    set_ask_before_link_call(&session, true);
    second_launch(&app, &env, xvfb.display(), &link);
    let display = find(&session, "dial-display");
    session
        .wait_text(&display, Duration::from_secs(10), |t| t.trim() == link)
        .unwrap_or_else(|e| panic!("the dialer shows the clicked link: {e} (status line: {:?})", status_line(&session)));
    let said = wait_for_text(&session, "status-line", Duration::from_secs(5), |t| t.contains("clicked link"), "the status line says where the number came from");
    assert!(said.contains("Press Call"), "{said}");
    // Nothing rang: bob's phone stays quiet while the number waits for Call.
    let quiet = bob.lines_within(Duration::from_secs(2));
    assert!(!quiet.iter().any(|v| v["type"] == "callChanged"), "the link was dialed without asking: {quiet:?}");
    assert!(!present(&session, "call-screen"), "no call screen before Call is pressed");
    // The Call button is ready: pressing it dials the link.
    click(&session, "call-button");
    let call = bob_answers(&bob, &session);
    hang_up(&bob, &session, &call);

    // Everything the app wrote since (preferences, three more calls): still no password.
    assert_password_in_no_file(&[&config_home, &data_home]);
}
