//! Calls in the real app, end to end: the Tauri app under Xvfb (tauri-driver +
//! WebKitWebDriver) registers alice to the harness Kamailio through the setup
//! form, calls an in-test engine (bob, who answers by himself) from the
//! dialer, holds, resumes and hangs up from the in-call screen; then bob calls
//! alice, the incoming screen shows his name, and Decline ends his call as
//! declined.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use homeline_phone::{Account, AccountInput, CallState, CallView, Engine, EngineConfig, EngineEvent, MediaOptions, RegistrationState, TlsTrust};
use homeline_tests::services::desktop::{self, WebDriverSession};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::services::secrets;
use serde_json::json;

const ALICE_PASSWORD: &str = "alice-call-secret-5520";
const BOB_PASSWORD: &str = "bob-call-secret-9043";
/// WebDriver's Backspace key.
const BACKSPACE: &str = "\u{E003}";
const WAIT: Duration = Duration::from_secs(20);

fn app_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline")
}

use homeline_tests::services::desktop::find_testid as find;

/// Wait until the element `testid` shows a text that `pred` accepts (it may appear later).
fn wait_for_text(session: &WebDriverSession, testid: &str, timeout: Duration, pred: impl Fn(&str) -> bool, what: &str) -> String {
    let deadline = Instant::now() + timeout;
    let mut last = String::new();
    while Instant::now() < deadline {
        if let Ok(element) = session.find(&format!("[data-testid={testid}]"), Duration::from_millis(500)) {
            if let Ok(text) = session.text(&element) {
                if pred(text.trim()) {
                    return text;
                }
                last = text;
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let status = session
        .execute("return document.querySelector('[data-testid=status-line]')?.textContent ?? ''", json!([]))
        .unwrap_or_default();
    panic!("{what}: [data-testid={testid}] still shows {last:?} after {timeout:?} (status line: {status})");
}

/// True while an element `testid` is in the page.
fn present(session: &WebDriverSession, testid: &str) -> bool {
    session
        .execute(&format!("return document.querySelector('[data-testid={testid}]') !== null"), json!([]))
        .is_ok_and(|v| v == json!(true))
}

/// Type on the keyboard with nothing focused, as a user does on the dialer
/// (the page listens on the window; WebDriver cannot send keys to the body).
/// What the tray shows (`tray_status`: badge, tooltip, menu lines), read through
/// the shell, since no tray host draws it under Xvfb.
fn tray(session: &WebDriverSession) -> serde_json::Value {
    let script = "return window.__TAURI_INTERNALS__.invoke('tray_status', {}).catch((e) => ({ error: JSON.stringify(e) }))";
    session.execute(script, json!([])).unwrap_or_else(|e| json!({ "error": e.to_string() }))
}

/// Wait until the tray shows what `want` accepts; its last state in the panic.
fn wait_for_tray(session: &WebDriverSession, what: &str, want: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let now = tray(session);
        if want(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: the tray shows {now}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn has_line(tray: &serde_json::Value, line: &str) -> bool {
    tray["lines"].as_array().is_some_and(|lines| lines.iter().any(|l| l == line))
}

fn type_keys(session: &WebDriverSession, text: &str) {
    let script = "for (const key of arguments[0]) {
          document.body.dispatchEvent(new KeyboardEvent('keydown', { key, bubbles: true, cancelable: true }));
        }
        return null";
    session.execute(script, json!([text])).expect("type on the keyboard");
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

/// Bob: an engine in this test, registered over WSS, answering every call
/// that rings in. His events come out on a channel the test thread reads.
struct Bob {
    engine: std::sync::Arc<Engine>,
    events: mpsc::Receiver<EngineEvent>,
}

impl Bob {
    fn start(rt: &tokio::runtime::Runtime, k: &Kamailio) -> Self {
        let engine = std::sync::Arc::new(Engine::open(EngineConfig {
            media: MediaOptions { loopback_candidates: true, ..MediaOptions::default() },
            ..EngineConfig::ephemeral()
        }));
        let mut rx = engine.subscribe();
        let account = Account {
            address: format!("bob@{}", k.domain()),
            auth_user: None,
            display_name: Some("BOB".into()),
            server: k.wss_url(),
            outbound_proxy: None,
            expires: 300,
            tls: TlsTrust { ca_file: Some(k.ca_pem().to_path_buf()), fingerprint_sha256: None },
        };
        let (tx, events) = mpsc::channel();
        let answering = engine.clone();
        rt.spawn(async move {
            loop {
                match rx.recv().await {
                    Ok(event) => {
                        if let EngineEvent::CallChanged(CallView { call, state: CallState::Incoming, .. }) = &event {
                            if let Err(e) = answering.answer(call).await {
                                eprintln!("bob could not answer {call}: {e}");
                            }
                        }
                        if tx.send(event).is_err() {
                            break;
                        }
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        rt.block_on(engine.save_account(AccountInput { account, password: Some(BOB_PASSWORD.into()), make_default: true }))
            .expect("save bob's account");
        let bob = Self { engine, events };
        let id = format!("bob@{}", k.domain());
        bob.wait(|e| matches!(e, EngineEvent::RegistrationChanged { account, state: RegistrationState::Registered { .. } } if *account == id), "bob registers");
        bob
    }

    fn wait(&self, want: impl Fn(&EngineEvent) -> bool, what: &str) -> EngineEvent {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.events.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(event) if want(&event) => return event,
                Ok(_) => {}
                Err(e) => panic!("{what}: the expected event did not come within {WAIT:?} ({e})"),
            }
        }
    }

    fn wait_call(&self, want: impl Fn(&CallView) -> bool, what: &str) -> CallView {
        match self.wait(|e| matches!(e, EngineEvent::CallChanged(v) if want(v)), what) {
            EngineEvent::CallChanged(view) => view,
            _ => unreachable!(),
        }
    }
}

#[test]
fn the_app_calls_holds_resumes_hangs_up_and_declines_a_call() {
    let app = app_binary();
    let k = kamailio::start(&KamailioOptions::new().user("alice", ALICE_PASSWORD).user("bob", BOB_PASSWORD))
        .unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"));
    let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("tokio runtime");
    let _in_runtime = rt.enter();
    let bob = Bob::start(&rt, &k);

    // A private home for the app, the harness Secret Service as its keychain,
    // and media that offers loopback candidates (bob runs on this machine).
    let home = desktop::PrivateHome::new().expect("private home");
    let mut env = home.env(secret_service.env());
    env.push(("HOMELINE_TEST_LOOPBACK_MEDIA".to_owned(), "1".to_owned()));
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");
    let session = driver.session(&app).expect("WebDriver session on the Homeline window");

    // ---- alice's account, through the setup form ------------------------------
    let setup = session.find("[data-testid=setup-button]", Duration::from_secs(30)).expect("the no-account banner offers set-up");
    session.click(&setup).expect("click Set up an account");
    session.send_keys(&find(&session, "account-address"), &format!("alice@{}", k.domain())).expect("type the address");
    session.send_keys(&find(&session, "account-password"), ALICE_PASSWORD).expect("type the password");
    let server = find(&session, "account-server");
    session.send_keys(&server, &BACKSPACE.repeat(60)).expect("clear the server URL");
    session.send_keys(&server, &k.ws_url()).expect("type the server URL");
    session.click(&find(&session, "account-save")).expect("click Save");
    wait_for_text(&session, "registration-progress", Duration::from_secs(15), |t| t == "Registered", "alice registers");
    session.click(&find(&session, "registration-done")).expect("click Done");
    let ready = wait_for_tray(&session, "the tray shows alice ready for calls", |t| t["badge"] == "Ready");
    assert_eq!(ready["tooltip"], "Homeline — ready for calls", "{ready}");
    assert!(has_line(&ready, "Dial number from clipboard") && has_line(&ready, "Do Not Disturb"), "{ready}");

    // ---- alice calls bob from the dialer -----------------------------------------
    find(&session, "dial-display");
    type_keys(&session, "bob");
    wait_for_text(&session, "dial-display", Duration::from_secs(5), |t| t == "bob", "the typed name shows in the dialer");
    session.click(&find(&session, "call-button")).expect("click Call");
    find(&session, "call-screen");
    let incoming = bob.wait_call(|v| v.state == CallState::Incoming, "bob's phone rings");
    assert_eq!(incoming.remote, "alice", "bob sees who calls");
    bob.wait_call(|v| v.call == incoming.call && v.state == CallState::Active, "bob's call connects");
    wait_for_text(&session, "call-state", WAIT, |t| t == "Connected", "the app shows the call connected");
    wait_for_text(&session, "call-timer", Duration::from_secs(5), |t| t.starts_with("0:0"), "the call timer runs");
    screenshot(&session, &app, "call-connected.png");

    // ---- the tray follows the call: badge, microphone, mute and hang up -----------------
    let in_call = wait_for_tray(&session, "the tray shows the call", |t| t["badge"] == "InCall" && has_line(t, "Hang up"));
    assert_eq!(in_call["lines"][0], "In a call with bob", "the call comes first in the menu: {in_call}");
    assert!(has_line(&in_call, "Mute"), "{in_call}");
    assert_eq!(in_call["tooltip"], "Homeline — In a call with bob · microphone on", "{in_call}");
    session.click(&find(&session, "mute-button")).expect("click Mute");
    let muted = wait_for_tray(&session, "the tray offers Unmute once muted", |t| has_line(t, "Unmute"));
    assert!(muted["tooltip"].as_str().is_some_and(|t| t.contains("muted")), "{muted}");
    session.click(&find(&session, "mute-button")).expect("click Unmute");
    wait_for_tray(&session, "the tray offers Mute again", |t| has_line(t, "Mute"));

    // ---- hold and resume ---------------------------------------------------------------
    session.click(&find(&session, "hold-button")).expect("click Hold");
    bob.wait_call(|v| v.call == incoming.call && v.state == (CallState::Held { by_me: false }), "bob is put on hold");
    wait_for_text(&session, "call-state", Duration::from_secs(5), |t| t == "On hold", "the app shows the call on hold");
    screenshot(&session, &app, "call-on-hold.png");
    session.click(&find(&session, "hold-button")).expect("click Resume");
    bob.wait_call(|v| v.call == incoming.call && v.state == CallState::Active, "bob's call resumes");
    wait_for_text(&session, "call-state", Duration::from_secs(5), |t| t == "Connected", "the app shows the call resumed");

    // ---- Escape does not hang up; the hang-up button does ---------------------------
    let script = "document.body.dispatchEvent(new KeyboardEvent('keydown', { key: 'Escape', bubbles: true, cancelable: true })); return null";
    session.execute(script, json!([])).expect("press Escape");
    std::thread::sleep(Duration::from_millis(300));
    assert!(present(&session, "call-screen") && !present(&session, "call-ended"), "Escape must not end the call");

    session.click(&find(&session, "hangup-button")).expect("click Hang up");
    let ended = bob.wait_call(|v| v.call == incoming.call && matches!(v.state, CallState::Ended { .. }), "bob's call ends");
    assert!(matches!(&ended.state, CallState::Ended { by, .. } if by == "remote"), "bob sees alice hang up: {ended:?}");
    let words = wait_for_text(&session, "call-ended", Duration::from_secs(5), |t| t.starts_with("Call ended"), "the app says the call ended");
    eprintln!("the app says: {words}");
    screenshot(&session, &app, "call-ended.png");
    // After a moment the dialer is back.
    session.find("[data-testid=dial-display]", Duration::from_secs(6)).expect("the dialer comes back after the call");
    assert!(!present(&session, "call-screen"), "the in-call screen is gone");
    let after = wait_for_tray(&session, "the tray is back to ready after the call", |t| t["badge"] == "Ready");
    assert!(!has_line(&after, "Hang up"), "no call actions without a call: {after}");

    // ---- bob calls alice; she declines -----------------------------------------------
    let call = rt.block_on(bob.engine.dial("alice", None)).expect("bob dials alice");
    find(&session, "incoming-screen");
    wait_for_text(&session, "incoming-name", WAIT, |t| t.contains("BOB"), "the incoming screen shows bob's name");
    let number = session.text(&find(&session, "incoming-number")).expect("the caller's number");
    assert!(number.contains("bob"), "the incoming screen shows bob's address, got {number:?}");
    screenshot(&session, &app, "call-incoming.png");
    session.click(&find(&session, "decline-button")).expect("click Decline");
    let ended = bob.wait_call(|v| v.call == call && matches!(v.state, CallState::Ended { .. }), "bob's call is declined");
    let CallState::Ended { reason, .. } = &ended.state else { unreachable!() };
    assert!(reason.to_lowercase().contains("declin"), "bob's call ends as declined, got {reason:?}");
    session.find("[data-testid=dial-display]", Duration::from_secs(6)).expect("the dialer comes back after declining");

    rt.block_on(bob.engine.shutdown());
}
