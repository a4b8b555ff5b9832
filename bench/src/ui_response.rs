//! Click → visible response in the desktop app's UI (issue 6 goal: ≤ 50 ms).
//!
//! The real app (the `--app` build, as the startup and tray scenarios use) under Xvfb,
//! driven by tauri-driver + WebKitWebDriver. WebDriver's Element Click sends real input
//! (WebKit turns it into mouse events in the UI process), so the page sees the same
//! pointerdown / mousedown / click a user's click makes. Inside the page a probe stamps
//! the first input event's `event.timeStamp` and, once the DOM shows the change (a
//! MutationObserver checking for it), the first `requestAnimationFrame` after it: the
//! frame that paints the change. Two controls:
//! - a keypad digit: the press goes to the engine (`dialer_press` over IPC) and the
//!   display shows the digit when the engine's reply comes back;
//! - the History button: the History screen replaces the dialer.
//!
//! The JsSIP phone page (tests/browser) has no controls (it is driven by script): there
//! is no browser anchor for this figure.

use std::path::Path;
use std::time::{Duration, Instant};

use homeline_tests::services::desktop::{self, Element, WebDriverSession};
use serde_json::{json, Value};

use crate::report::{Report, HOMELINE_APP, JSSIP};
use crate::systems::BenchResult;
use crate::Context;

const SCENARIO: &str = "uiresponse";
const KEY: &str = "keypad digit → digit shown";
const HISTORY: &str = "History button → History shown";

/// Installs the probe (once per page) and arms it for one click: `arguments[0]` is what
/// the click should change (`key`: the dial display grows; `history`: the History screen
/// is there; `dialer`: the dialer is back).
const ARM: &str = r#"
const w = window;
if (!w.__hlProbe) {
  const probe = { armed: null };
  w.__hlProbe = probe;
  const onInput = (e) => {
    const a = probe.armed;
    if (a && a.input === null) { a.input = e.timeStamp; a.inputType = e.type; }
  };
  for (const type of ['pointerdown', 'mousedown', 'click']) document.addEventListener(type, onInput, true);
  const check = () => {
    const a = probe.armed;
    if (!a || a.input === null || a.changed !== null || !a.done()) return;
    a.changed = performance.now();
    requestAnimationFrame(() => { a.frame = performance.now(); });
  };
  new MutationObserver(check).observe(document.documentElement, { subtree: true, childList: true, characterData: true, attributes: true });
}
const kind = arguments[0];
const display = () => document.querySelector('[data-testid=dial-display]');
const before = display() ? display().textContent.length : -1;
const done = {
  key: () => display() !== null && display().textContent.length > before,
  history: () => document.querySelector('[data-testid=history-screen]') !== null,
  dialer: () => display() !== null,
}[kind];
w.__hlProbe.armed = { input: null, inputType: null, changed: null, frame: null, done };
return before;
"#;

/// The armed click's stamps once its frame came (else null).
const READ: &str = r#"
const a = window.__hlProbe && window.__hlProbe.armed;
return a && a.frame !== null ? { input: a.input, type: a.inputType, changed: a.changed, frame: a.frame } : null;
"#;

pub fn scenario_ui_response(ctx: &Context, report: &mut Report) {
    report.describe(
        SCENARIO,
        "Click → visible response in the desktop app",
        "The app (its account registered with the harness Kamailio) is launched under Xvfb by tauri-driver + \
         WebKitWebDriver; WebDriver's Element Click sends real input. A probe in the page stamps the first input event of \
         the click (`event.timeStamp` of pointerdown/mousedown) and the first `requestAnimationFrame` after the DOM shows \
         the change (a MutationObserver checks for it): the frame that paints it. Keypad digit: the press goes to the \
         engine over IPC (`dialer_press`) and the display shows the digit from its reply. History button: the History \
         screen replaces the dialer (its list loads afterwards). Each click is one sample (20 per launch; 5 with \
         `--quick`); goal ≤ 50 ms. Software rendering (no GPU under Xvfb). No anchor: the JsSIP phone page \
         (tests/browser) has no controls to click.",
    );
    let (Some(app), Some(desktop)) = (ctx.app, ctx.desktop) else {
        for metric in [KEY, HISTORY] {
            report.missing(SCENARIO, metric, "ms", HOMELINE_APP, "the desktop app is not part of this run (`--app`, `make app`)");
        }
        return;
    };
    let clicks = if ctx.o.quick { 5 } else { 20 };
    let mut types = Vec::new();
    for run in 0..ctx.o.runs {
        match measure(app, desktop, clicks) {
            Ok(figures) => {
                for v in &figures.key {
                    report.add(SCENARIO, KEY, "ms", HOMELINE_APP, *v);
                }
                for v in &figures.history {
                    report.add(SCENARIO, HISTORY, "ms", HOMELINE_APP, *v);
                }
                for t in figures.input_types {
                    if !types.contains(&t) {
                        types.push(t);
                    }
                }
            }
            Err(e) => {
                eprintln!("homeline-bench: uiresponse run {}: {e}", run + 1);
                report.note(SCENARIO, &format!("Run {} failed: {}", run + 1, crate::first_line(&e)));
            }
        }
    }
    if !types.is_empty() {
        report.note(SCENARIO, &format!("The first input event the page saw of each click: {}.", types.join(", ")));
    }
    if ctx.o.systems.iter().any(|s| s == JSSIP) {
        report.note(SCENARIO, "JsSIP + Chromium: no figure, its phone page (tests/browser/src/page.js) is driven by script and has no keypad or history to click.");
    }
}

struct Figures {
    key: Vec<f64>,
    history: Vec<f64>,
    input_types: Vec<String>,
}

fn measure(app: &Path, desktop: &crate::systems::Desktop, clicks: usize) -> BenchResult<Figures> {
    let driver = desktop::start_tauri_driver(&desktop.xvfb, &desktop.env()).map_err(|e| e.to_string())?;
    let session = driver.session(app).map_err(|e| format!("launching the app through WebDriver: {e}"))?;
    let wait = Duration::from_secs(60);
    let history_button = session.find("[data-testid=history-button]", wait).map_err(|e| e.to_string())?;
    let mut figures = Figures { key: Vec::new(), history: Vec::new(), input_types: Vec::new() };
    // One unmeasured round of each first: the first click pays for code paths run once.
    for i in 0..=clicks {
        let digit = 1 + i % 9;
        let key = session.find(&format!("[data-testid=key-{digit}]"), wait).map_err(|e| e.to_string())?;
        let (ms, kind) = click(&session, &key, "key")?;
        if i > 0 {
            figures.key.push(ms);
            note_type(&mut figures.input_types, kind);
        }
        let (ms, kind) = click(&session, &history_button, "history")?;
        if i > 0 {
            figures.history.push(ms);
            note_type(&mut figures.input_types, kind);
        }
        // Back to the dialer (not measured).
        click(&session, &history_button, "dialer")?;
    }
    Ok(figures)
}

fn note_type(types: &mut Vec<String>, kind: String) {
    if !types.contains(&kind) {
        types.push(kind);
    }
}

/// Arms the probe, clicks, and waits for the frame: input → frame in ms, and the input event's type.
fn click(session: &WebDriverSession, element: &Element, kind: &str) -> BenchResult<(f64, String)> {
    session.execute(ARM, json!([kind])).map_err(|e| format!("arming the probe: {e}"))?;
    session.click(element).map_err(|e| format!("clicking ({kind}): {e}"))?;
    let started = Instant::now();
    loop {
        let v = session.execute(READ, json!([])).map_err(|e| format!("reading the probe: {e}"))?;
        if let (Some(input), Some(frame)) = (v["input"].as_f64(), v["frame"].as_f64()) {
            let kind = v["type"].as_str().unwrap_or("?").to_owned();
            return Ok((frame - input, kind));
        }
        if v != Value::Null {
            return Err(format!("unexpected probe reading {v}"));
        }
        if started.elapsed() > Duration::from_secs(10) {
            return Err(format!("no visible response to the {kind} click within 10 s"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}
