//! The microphone in the real app (issue 6, consent and privacy): the Tauri app under
//! Xvfb (tauri-driver + WebKitWebDriver) with a private PulseAudio (null sinks, no
//! hardware). Idle, nothing records and the header shows no microphone; the first
//! echo test explains why the microphone is needed and opens nothing until
//! "Continue"; then the sound server has a recording stream and the header shows
//! "Mic on" on every screen until the test ends, when both go away. The
//! explanation is remembered in desktop.toml.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use homeline_tests::services::desktop::{self, WebDriverSession};
use homeline_tests::services::pulse::{self, PulseAudio};
use homeline_tests::wait_until;
use serde_json::json;

use homeline_tests::services::desktop::find_testid as find;

/// Whether an element with `testid` is in the page now.
fn present(session: &WebDriverSession, testid: &str) -> bool {
    let script = format!("return document.querySelector('[data-testid={testid}]') !== null");
    session.execute(&script, json!([])).expect("run script") == serde_json::Value::Bool(true)
}

/// What the header's microphone status says, hidden words included (a screen reader's text).
fn mic_words(session: &WebDriverSession) -> String {
    let script = "return document.querySelector('[data-testid=mic-indicator-status]')?.textContent ?? ''";
    session.execute(script, json!([])).expect("run script").as_str().unwrap_or_default().to_owned()
}

/// Recording streams open on the sound server (microphones in use).
fn microphones_open(pa: &PulseAudio) -> usize {
    pa.pactl(&["list", "short", "source-outputs"]).expect("pactl").lines().filter(|l| !l.trim().is_empty()).count()
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

#[test]
fn the_first_echo_test_explains_the_microphone_and_the_header_shows_it_while_open() {
    let app = homeline_tests::built_binary("homeline");
    let pa = pulse::start().expect("PulseAudio harness");
    let home = desktop::PrivateHome::new().expect("private home");
    let config_home = home.config();
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let env = home.env(pa.env());
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver + WebKitWebDriver");
    let session = driver.session(&app).expect("WebDriver session on the Homeline window");

    // Idle: nothing records, the header shows no microphone.
    let echo = find(&session, "echo-test-button");
    assert!(!present(&session, "mic-indicator"), "idle, the header shows the microphone as on");
    assert_eq!(microphones_open(&pa), 0, "idle, a recording stream is open");

    // The first echo test: the explanation first, the microphone still closed.
    session.click(&echo).expect("click Echo test");
    let notice = find(&session, "mic-notice");
    let text = session.text(&notice).expect("the explanation's text");
    for words in ["Why Homeline uses your microphone", "only during calls, the echo test and the level meter, never while idle", "Your system may ask you to allow it."] {
        assert!(text.contains(words), "the explanation does not say {words:?}: {text}");
    }
    assert_eq!(microphones_open(&pa), 0, "the microphone opened before the explanation was answered");
    assert!(!present(&session, "mic-indicator"));

    // "Continue": the echo test opens the microphone and the header says so.
    session.click(&find(&session, "mic-notice-accept")).expect("click Continue");
    let shown = wait_until(Duration::from_secs(10), || mic_words(&session).contains("Microphone on for the echo test"));
    assert!(shown, "the header does not show the microphone while the echo test runs: {:?}", mic_words(&session));
    assert_eq!(session.text(&find(&session, "mic-indicator")).expect("the pill's text").trim(), "Mic on");
    assert!(wait_until(Duration::from_secs(10), || microphones_open(&pa) == 1), "the echo test holds {} recording streams, not 1", microphones_open(&pa));

    // On another screen too.
    session.click(&find(&session, "history-button")).expect("open History");
    find(&session, "history-screen");
    assert!(present(&session, "mic-indicator"), "History hides the microphone indicator");

    // The test ends (10 s listening + 1 s delay): the stream closes and the header says nothing.
    assert!(wait_until(Duration::from_secs(20), || !present(&session, "mic-indicator")), "the indicator stays after the echo test ended");
    assert!(wait_until(Duration::from_secs(5), || microphones_open(&pa) == 0), "a recording stream is left: {}", microphones_open(&pa));

    // Remembered for the next runs, in the desktop preferences.
    let mut files = Vec::new();
    files_named(&config_home, "desktop.toml", &mut files);
    let prefs = files.first().unwrap_or_else(|| panic!("no desktop.toml under {}", config_home.display()));
    let contents = std::fs::read_to_string(prefs).expect("read desktop.toml");
    assert!(contents.contains("micExplained = true"), "{}:\n{contents}", prefs.display());

    // A second echo test does not explain again.
    session.click(&find(&session, "history-button")).expect("back to the dialer");
    session.click(&find(&session, "echo-test-button")).expect("click Echo test again");
    let again = wait_until(Duration::from_secs(10), || mic_words(&session).contains("Microphone on for the echo test"));
    assert!(again, "the second echo test does not show the microphone: {:?}", mic_words(&session));
    assert!(!present(&session, "mic-notice"), "the explanation was shown twice");
}
