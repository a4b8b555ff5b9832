//! Proof that the desktop harness is real: the Tauri app, launched under Xvfb
//! and driven through tauri-driver + WebKitWebDriver, shows the dialer, and a
//! keypad press round-trips through the engine (a Rust command) to the UI.

use std::time::Duration;

use homeline_tests::services::desktop;

fn app_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline")
}

#[test]
fn dialer_shows_and_keypad_round_trips_through_the_engine() {
    let app = app_binary();
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    // The app gets a private home: it must not read or write the developer's settings.
    let home = desktop::PrivateHome::new().expect("private home");
    let env = home.env(Vec::new());
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");
    let session = driver.session(&app).expect("WebDriver session on the Homeline window");

    assert_eq!(session.title().expect("window title"), "Homeline");
    let in_tauri = session.execute("return Boolean(window.__TAURI_INTERNALS__)", serde_json::json!([])).expect("run script");
    assert_eq!(in_tauri, serde_json::Value::Bool(true), "the page is not running inside the Tauri shell");

    let display = session.find("[data-testid=dial-display]", Duration::from_secs(30)).expect("the dialer is shown");
    assert_eq!(session.text(&display).expect("dial text").trim(), "", "the dialer starts empty");
    session.find("[data-testid=no-account-banner]", Duration::from_secs(5)).expect("no-account banner offers set-up and the echo test");
    session.find("[data-testid=echo-test-button]", Duration::from_secs(5)).expect("echo test button");

    for (key, expected) in [("key-5", "5"), ("key-0", "50"), ("key-hash", "50#")] {
        let button = session.find(&format!("[data-testid={key}]"), Duration::from_secs(5)).expect("keypad button");
        session.click(&button).expect("click keypad button");
        session
            .wait_text(&display, Duration::from_secs(5), |t| t.trim() == expected)
            .unwrap_or_else(|e| panic!("after pressing {key}: {e}"));
    }
    let backspace = session.find("[data-testid=backspace-button]", Duration::from_secs(5)).expect("backspace");
    session.click(&backspace).expect("click backspace");
    session.wait_text(&display, Duration::from_secs(5), |t| t.trim() == "50").expect("backspace round-trips");

    // The engine is the source of truth: a command issued from outside the
    // keypad (as the tray quick-dial will) reaches the UI through an event.
    session
        .execute("window.__TAURI_INTERNALS__.invoke('dialer_paste', {text: '1-800-FLOWERS'}); return null", serde_json::json!([]))
        .expect("invoke dialer_paste");
    session
        .wait_text(&display, Duration::from_secs(5), |t| t.trim() == "18003569377")
        .expect("the engine's cleaned number (letters → digits) is shown");

    if let Ok(png) = session.screenshot() {
        let out = app.parent().map(|d| d.join("homeline-screenshots")).expect("target dir");
        let _ = std::fs::create_dir_all(&out);
        let _ = std::fs::write(out.join("dialer.png"), png);
    }
}
