//! The desktop app under test: a virtual X display (Xvfb), tauri-driver in
//! front of Debian's WebKitWebDriver, and a small W3C WebDriver client.
//!
//! WebKitWebDriver allows one session at a time: [`WebDriverSession`] always
//! DELETEs its session when dropped, so a failed test does not wedge the next.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::process::{free_tcp_port, require_program, wait_until, HarnessError, Service};

/// A private home for the app under test: HOME and the XDG config, data and
/// cache folders under one temp dir, so a test never reads or writes the
/// developer's settings, history or keychain files.
#[derive(Debug)]
pub struct PrivateHome {
    dir: tempfile::TempDir,
}

impl PrivateHome {
    pub fn new() -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new().prefix("homeline-home-").tempdir().map_err(HarnessError::io("creating a private home"))?;
        Ok(Self { dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// `XDG_CONFIG_HOME` (the settings live in `homeline/` below it).
    pub fn config(&self) -> PathBuf {
        self.dir.path().join("config")
    }

    /// `XDG_DATA_HOME` (history and contacts).
    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `base` (e.g. the Secret Service's environment) with HOME and the XDG
    /// folders pointing here.
    pub fn env(&self, base: Vec<(String, String)>) -> Vec<(String, String)> {
        let mine = [
            ("HOME", self.path().to_path_buf()),
            ("XDG_CONFIG_HOME", self.config()),
            ("XDG_DATA_HOME", self.data()),
            ("XDG_CACHE_HOME", self.dir.path().join("cache")),
        ];
        let mut env: Vec<(String, String)> = base.into_iter().filter(|(k, _)| !mine.iter().any(|(m, _)| k == m)).collect();
        env.extend(mine.iter().map(|(k, v)| ((*k).to_owned(), v.display().to_string())));
        env
    }
}

#[derive(Debug)]
pub struct Xvfb {
    _service: Service,
    display: String,
    _dir: tempfile::TempDir,
}

/// Start Xvfb on the first free display number from 90 upwards.
pub fn start_xvfb() -> Result<Xvfb, HarnessError> {
    let program = require_program("Xvfb", "xvfb")?;
    let dir = tempfile::Builder::new().prefix("homeline-xvfb-").tempdir().map_err(HarnessError::io("creating a temp dir"))?;
    let mut last_error = None;
    for n in 90..140 {
        let socket = PathBuf::from(format!("/tmp/.X11-unix/X{n}"));
        if socket.exists() || Path::new(&format!("/tmp/.X{n}-lock")).exists() {
            continue;
        }
        let mut cmd = Command::new(&program);
        cmd.arg(format!(":{n}")).args(["-screen", "0", "1280x800x24", "-nolisten", "tcp", "-noreset"]);
        let mut service = Service::spawn("Xvfb", cmd, &dir.path().join(format!("xvfb-{n}.log")))?;
        // Another test may have taken the same number a moment ago: then Xvfb exits and we try the next.
        match service.wait_ready(Duration::from_secs(10), || socket.exists()) {
            Ok(()) => return Ok(Xvfb { _service: service, display: format!(":{n}"), _dir: dir }),
            Err(e) => last_error = Some(e),
        }
    }
    Err(last_error.unwrap_or_else(|| HarnessError::StartFailed {
        service: "Xvfb".into(),
        reason: "no free X display number between :90 and :139".into(),
        log: String::new(),
        tail: String::new(),
    }))
}

impl Xvfb {
    pub fn display(&self) -> &str {
        &self.display
    }
}

#[derive(Debug)]
pub struct TauriDriver {
    service: Service,
    port: u16,
    _dir: tempfile::TempDir,
}

/// Start tauri-driver (which starts WebKitWebDriver) on free ports, with
/// `env` added to the environment the app will inherit.
pub fn start_tauri_driver(xvfb: &Xvfb, env: &[(String, String)]) -> Result<TauriDriver, HarnessError> {
    let driver = require_program("tauri-driver", "tauri-driver (cargo install --locked tauri-driver --version 2.1.0; make test does it)")?;
    let native = require_program("WebKitWebDriver", "webkit2gtk-driver")?;
    let dir = tempfile::Builder::new().prefix("homeline-webdriver-").tempdir().map_err(HarnessError::io("creating a temp dir"))?;
    let port = free_tcp_port();
    let native_port = free_tcp_port();
    let mut cmd = Command::new(driver);
    cmd.args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
        .arg("--native-driver")
        .arg(native)
        .env("DISPLAY", xvfb.display())
        .env_remove("WAYLAND_DISPLAY")
        // No GPU here: software rendering keeps WebKitGTK from probing for one.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let mut service = Service::spawn("tauri-driver", cmd, &dir.path().join("tauri-driver.log"))?;
    // tauri-driver listens at once but forwards to WebKitWebDriver, which
    // takes a moment longer: a session request before then is dropped.
    let up = |p: u16| std::net::TcpStream::connect(("127.0.0.1", p)).is_ok();
    service.wait_ready(Duration::from_secs(15), || up(port) && up(native_port))?;
    Ok(TauriDriver { service, port, _dir: dir })
}

impl TauriDriver {
    /// Launch `application` and open a WebDriver session on its window.
    pub fn session(&self, application: &Path) -> Result<WebDriverSession, WebDriverError> {
        let base = format!("http://127.0.0.1:{}", self.port);
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "wry",
            "tauri:options": {"application": application.display().to_string()}
        }}});
        let value = call(&agent, "POST", &format!("{base}/session"), Some(caps))
            .map_err(|e| WebDriverError::Protocol(format!("{e}\n--- tauri-driver log ---\n{}", self.service.log_tail(30))))?;
        let id = value["sessionId"]
            .as_str()
            .ok_or_else(|| WebDriverError::Protocol(format!("no sessionId in {value}")))?
            .to_owned();
        Ok(WebDriverSession { agent, url: format!("{base}/session/{id}") })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebDriverError {
    #[error("WebDriver request failed: {0}")]
    Http(String),
    #[error("WebDriver error: {0}")]
    Protocol(String),
    #[error("timed out: {0}")]
    Timeout(String),
}

pub struct WebDriverSession {
    agent: ureq::Agent,
    url: String,
}

impl std::fmt::Debug for WebDriverSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebDriverSession").field("url", &self.url).finish()
    }
}

/// The element with `data-testid={testid}`, waited for up to 10 s; a test that
/// cannot find it fails naming it.
#[allow(clippy::panic)]
pub fn find_testid(session: &WebDriverSession, testid: &str) -> Element {
    session
        .find(&format!("[data-testid={testid}]"), Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{testid}: {e}"))
}

/// A located element (its W3C reference).
#[derive(Debug, Clone)]
pub struct Element(String);

const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

impl WebDriverSession {
    fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
        call(&self.agent, method, &format!("{}{path}", self.url), body)
    }

    /// Find by CSS selector, waiting up to `timeout` for it to appear.
    pub fn find(&self, css: &str, timeout: Duration) -> Result<Element, WebDriverError> {
        let mut last = String::new();
        let found = wait_until(timeout, || match self.cmd("POST", "/element", Some(json!({"using": "css selector", "value": css}))) {
            Ok(v) => {
                last = v[ELEMENT_KEY].as_str().unwrap_or_default().to_owned();
                !last.is_empty()
            }
            Err(e) => {
                last.clear();
                let _ = e;
                false
            }
        });
        if found {
            Ok(Element(last))
        } else {
            Err(WebDriverError::Timeout(format!("no element matches `{css}` after {timeout:?}")))
        }
    }

    pub fn click(&self, element: &Element) -> Result<(), WebDriverError> {
        self.cmd("POST", &format!("/element/{}/click", element.0), Some(json!({}))).map(drop)
    }

    /// Type `text` into the element (W3C Element Send Keys: real key events,
    /// so the page sees `input` events). WebDriver key codes work too, e.g.
    /// `"\u{E003}"` for Backspace.
    pub fn send_keys(&self, element: &Element, text: &str) -> Result<(), WebDriverError> {
        self.cmd("POST", &format!("/element/{}/value", element.0), Some(json!({"text": text}))).map(drop)
    }

    pub fn text(&self, element: &Element) -> Result<String, WebDriverError> {
        let v = self.cmd("GET", &format!("/element/{}/text", element.0), None)?;
        Ok(v.as_str().unwrap_or_default().to_owned())
    }

    /// Wait until the element's text satisfies `pred`; returns the last text seen.
    pub fn wait_text(&self, element: &Element, timeout: Duration, pred: impl Fn(&str) -> bool) -> Result<String, WebDriverError> {
        let mut last = String::new();
        if wait_until(timeout, || {
            last = self.text(element).unwrap_or_default();
            pred(&last)
        }) {
            Ok(last)
        } else {
            Err(WebDriverError::Timeout(format!("element text is still {last:?} after {timeout:?}")))
        }
    }

    /// Run JavaScript in the page and return its result.
    pub fn execute(&self, script: &str, args: Value) -> Result<Value, WebDriverError> {
        self.cmd("POST", "/execute/sync", Some(json!({"script": script, "args": args})))
    }

    pub fn title(&self) -> Result<String, WebDriverError> {
        Ok(self.cmd("GET", "/title", None)?.as_str().unwrap_or_default().to_owned())
    }

    /// A PNG of the window. WebKitWebDriver sometimes waits a minute for a
    /// frame that never comes under Xvfb, so this gives up after 10 s.
    pub fn screenshot(&self) -> Result<Vec<u8>, WebDriverError> {
        let quick: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(10)))
            .build()
            .into();
        let v = call(&quick, "GET", &format!("{}/screenshot", self.url), None)?;
        let b64 = v.as_str().ok_or_else(|| WebDriverError::Protocol("screenshot is not a string".into()))?;
        base64_decode(b64).ok_or_else(|| WebDriverError::Protocol("screenshot is not base64".into()))
    }
}

impl Drop for WebDriverSession {
    fn drop(&mut self) {
        // One session at a time in WebKitWebDriver: always end ours.
        let _ = call(&self.agent, "DELETE", &self.url, None);
    }
}

fn call(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
    let started = std::time::Instant::now();
    let result = send(agent, method, url, body);
    // Shown with the test's output when it fails: where the time went.
    if started.elapsed() > Duration::from_secs(5) {
        eprintln!("slow WebDriver request: {method} {url} took {:?}", started.elapsed());
    }
    result
}

fn send(agent: &ureq::Agent, method: &str, url: &str, body: Option<Value>) -> Result<Value, WebDriverError> {
    let result = match (method, body) {
        ("GET", _) => agent.get(url).call(),
        ("DELETE", _) => agent.delete(url).call(),
        (_, Some(body)) => agent.post(url).send_json(body),
        (_, None) => agent.post(url).send_empty(),
    };
    let mut response = result.map_err(|e| WebDriverError::Http(format!("{method} {url}: {e}")))?;
    let status = response.status();
    let value: Value = response
        .body_mut()
        .read_json()
        .map_err(|e| WebDriverError::Http(format!("{method} {url}: unreadable reply: {e}")))?;
    if !status.is_success() {
        return Err(WebDriverError::Protocol(format!("{method} {url}: {status}: {}", value["value"])));
    }
    Ok(value["value"].clone())
}

fn base64_decode(input: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(input.len() * 3 / 4);
    let mut buf = 0u32;
    let mut bits = 0;
    for c in input.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\n' | b'\r' => continue,
            _ => return None,
        } as u32;
        buf = (buf << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buf >> bits) as u8);
        }
    }
    Some(out)
}

/// Whether the log file says `text` yet (a missing file says nothing).
pub fn log_has(log: &Path, text: &str) -> bool {
    std::fs::read_to_string(log).unwrap_or_default().contains(text)
}

/// True once an app's log shows, in its SIP trace, a 200 OK to its REGISTER
/// (`HOMELINE_LOG` with `homeline_sip::trace=debug`).
pub fn registered_in_log(log: &Path) -> bool {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut in_ok = false;
    text.lines().map(str::trim).any(|line| {
        if line.starts_with("SIP/2.0 ") {
            in_ok = line.starts_with("SIP/2.0 200");
        } else if in_ok && line.to_ascii_lowercase().starts_with("cseq:") {
            in_ok = false;
            return line.contains("REGISTER");
        }
        false
    })
}

/// Whether the dialer window is shown (mapped) on `display` (xdotool).
pub fn window_shown(display: &str) -> bool {
    Command::new("xdotool")
        .args(["search", "--onlyvisible", "--name", "^Homeline$"])
        .env("DISPLAY", display)
        .output()
        .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
}
