//! A loopback update server: serves the files of one folder (latest.json and
//! the signed packages `scripts/release.sh` wrote) over plain HTTP, and counts
//! what was asked for, so a test can tell the app checked and downloaded.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::process::HarnessError;

#[derive(Debug)]
pub struct UpdateServer {
    port: u16,
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Serve `dir` on a free loopback port until the handle is dropped.
pub fn start(dir: &Path) -> Result<UpdateServer, HarnessError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(HarnessError::io("binding the update server"))?;
    let port = listener.local_addr().map_err(HarnessError::io("reading the update server's port"))?.port();
    listener.set_nonblocking(true).map_err(HarnessError::io("configuring the update server"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let hits = Arc::new(Mutex::new(HashMap::new()));
    let (dir, stop2, hits2) = (dir.to_path_buf(), stop.clone(), hits.clone());
    let thread = std::thread::spawn(move || {
        while !stop2.load(Ordering::Relaxed) {
            match listener.accept() {
                Ok((stream, _)) => {
                    let (dir, hits) = (dir.clone(), hits2.clone());
                    std::thread::spawn(move || serve(stream, &dir, &hits));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        }
    });
    Ok(UpdateServer { port, stop, hits, thread: Some(thread) })
}

impl UpdateServer {
    /// The URL of a file in the served folder.
    pub fn url(&self, file: &str) -> String {
        format!("http://127.0.0.1:{}/{file}", self.port)
    }

    /// How many times `file` was requested.
    pub fn hits(&self, file: &str) -> usize {
        self.hits.lock().map(|h| h.get(file).copied().unwrap_or(0)).unwrap_or(0)
    }
}

impl Drop for UpdateServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve(stream: TcpStream, dir: &Path, hits: &Mutex<HashMap<String, usize>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(30)));
    let Ok(read_half) = stream.try_clone() else { return };
    let mut reader = BufReader::new(read_half);
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    // Skip the headers.
    let mut line = String::new();
    while reader.read_line(&mut line).is_ok_and(|n| n > 0) && line.trim_end() != "" {
        line.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/");
    let name = percent_decode(path.trim_start_matches('/').split('?').next().unwrap_or(""));
    if let Ok(mut h) = hits.lock() {
        *h.entry(name.clone()).or_default() += 1;
    }
    let file: Option<PathBuf> = (!name.contains('/') && !name.is_empty()).then(|| dir.join(&name));
    let mut out = stream;
    match file.and_then(|f| std::fs::read(f).ok()) {
        Some(body) => {
            let kind = if name.ends_with(".json") { "application/json" } else { "application/octet-stream" };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: {kind}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = out.write_all(head.as_bytes()).and_then(|()| out.write_all(&body));
        }
        None => {
            let _ = out.write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(b) = std::str::from_utf8(&bytes[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The update key pair the tests sign with: made by `tauri signer generate`
/// the first time, kept in the target folder (never in the repository) so
/// later runs rebuild nothing.
#[derive(Debug, Clone)]
pub struct TestKey {
    pub private_key: PathBuf,
    pub public_key: PathBuf,
    pub password: String,
}

fn tauri_cli() -> Result<PathBuf, HarnessError> {
    let cli = crate::workspace_root().join("ui/node_modules/.bin/tauri");
    if cli.is_file() {
        Ok(cli)
    } else {
        Err(HarnessError::MissingProgram { program: cli.display().to_string(), package: "@tauri-apps/cli (cd ui && npm ci; make setup does it)".into() })
    }
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/var/cache/homeline/target"))
}

pub fn test_key() -> Result<TestKey, HarnessError> {
    let dir = target_dir().join("homeline-test-update-key");
    let key = TestKey { private_key: dir.join("test.key"), public_key: dir.join("test.key.pub"), password: "homeline-tests".into() };
    if key.private_key.is_file() && key.public_key.is_file() {
        return Ok(key);
    }
    std::fs::create_dir_all(&dir).map_err(HarnessError::io("creating the test key folder"))?;
    let out = std::process::Command::new(tauri_cli()?)
        .args(["signer", "generate", "--ci", "--force", "-p", &key.password, "-w"])
        .arg(&key.private_key)
        .output()
        .map_err(HarnessError::io("running tauri signer generate"))?;
    if !out.status.success() || !key.public_key.is_file() {
        return Err(HarnessError::StartFailed {
            service: "tauri signer generate".into(),
            reason: format!("exit {}", out.status),
            log: String::new(),
            tail: String::from_utf8_lossy(&out.stderr).into_owned(),
        });
    }
    Ok(key)
}

/// A signed .deb of `version` built by `scripts/release.sh` into `out`, whose
/// manifest points at `base_url`. The app trusts `key` and, for the loopback
/// server, plain HTTP (a setting only these test builds carry).
pub fn build_release(out: &Path, key: &TestKey, version: &str, base_url: &str, notes: &str) -> Result<PathBuf, HarnessError> {
    let root = crate::workspace_root();
    let extra = serde_json::json!({
        "version": version,
        "plugins": { "updater": { "dangerousInsecureTransportProtocol": true } }
    });
    let log = out.join(format!("release-{version}.log"));
    std::fs::create_dir_all(out).map_err(HarnessError::io("creating the release folder"))?;
    let log_file = std::fs::File::create(&log).map_err(HarnessError::io("creating the release log"))?;
    let log_err = log_file.try_clone().map_err(HarnessError::io("cloning a log handle"))?;
    let mut command = std::process::Command::new(root.join("scripts/release.sh"));
    // Build as `make release` from a shell would: what `cargo test` sets for
    // this test process (CARGO_PKG_*, LD_LIBRARY_PATH, …) must not reach the
    // build and make it look different from the last one.
    for (var, _) in std::env::vars_os() {
        let name = var.to_string_lossy();
        if (name.starts_with("CARGO_") && name != "CARGO_TARGET_DIR" && name != "CARGO_HOME") || name == "LD_LIBRARY_PATH" {
            command.env_remove(&var);
        }
    }
    let status = command
        .current_dir(&root)
        .env("TAURI_SIGNING_PRIVATE_KEY", &key.private_key)
        .env("TAURI_SIGNING_PRIVATE_KEY_PASSWORD", &key.password)
        .env("HOMELINE_UPDATE_PUBKEY", &key.public_key)
        .env("HOMELINE_UPDATE_URL", base_url)
        .env("HOMELINE_RELEASE_NOTES", notes)
        .env("HOMELINE_RELEASE_OUT", out)
        .env("HOMELINE_RELEASE_CONFIG", extra.to_string())
        .env("HOMELINE_RELEASE_BUNDLES", "deb")
        .env("HOMELINE_RELEASE_SKIP_UI", "1")
        .stdout(log_file)
        .stderr(log_err)
        .status()
        .map_err(HarnessError::io("running scripts/release.sh"))?;
    let deb = std::fs::read_dir(out)
        .map_err(HarnessError::io("reading the release folder"))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb") && p.to_string_lossy().contains(version));
    match deb {
        Some(deb) if status.success() => Ok(deb),
        _ => Err(HarnessError::StartFailed {
            service: "scripts/release.sh".into(),
            reason: format!("no signed .deb for {version} (exit {status})"),
            log: log.display().to_string(),
            tail: crate::process::log_tail(&log, 40),
        }),
    }
}

// ---- installing packages (the tests that do are run as root in CI) ----

/// `sudo -n` when we are not root; panics with what to do when neither works.
#[allow(clippy::panic)]
pub fn root_prefix() -> Vec<&'static str> {
    let uid = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(str::to_owned)));
    if uid.as_deref() == Some("0") {
        return vec![];
    }
    let sudo_ok = std::process::Command::new("sudo").args(["-n", "true"]).status().is_ok_and(|s| s.success());
    if !sudo_ok {
        panic!("installing the .deb needs root: run the tests as root or give this user passwordless sudo");
    }
    vec!["sudo", "-n"]
}

/// Run a package command (with `root_prefix`), non-interactively; Err carries its output.
pub fn as_root(args: &[&str]) -> Result<(), String> {
    let mut all = root_prefix();
    all.extend_from_slice(args);
    let out = std::process::Command::new(all[0])
        .args(&all[1..])
        .env("DEBIAN_FRONTEND", "noninteractive")
        .output()
        .map_err(|e| format!("could not run {all:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{all:?} failed ({}):\n{}{}", out.status, String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// The installed version of the `homeline` package, if any.
pub fn installed_version() -> Option<String> {
    let out = std::process::Command::new("dpkg-query").args(["-W", "-f", "${Status} ${Version}", "homeline"]).output().ok()?;
    String::from_utf8_lossy(&out.stdout).strip_prefix("install ok installed ").map(str::to_owned)
}

/// Removes the `homeline` package when dropped (also when a test fails).
#[derive(Debug)]
pub struct InstalledPackage;

impl InstalledPackage {
    /// `apt-get install ./homeline_….deb`, after removing what a failed run left.
    pub fn install(deb: &Path) -> Result<InstalledPackage, String> {
        if installed_version().is_some() {
            as_root(&["apt-get", "purge", "-y", "homeline"])?;
        }
        as_root(&["apt-get", "install", "-y", "--no-install-recommends", &deb.display().to_string()])?;
        Ok(InstalledPackage)
    }
}

impl Drop for InstalledPackage {
    fn drop(&mut self) {
        if installed_version().is_some() {
            let _ = as_root(&["apt-get", "purge", "-y", "homeline"]);
        }
    }
}

/// The environment for an installed app: the test's D-Bus session and a
/// private home, so it never touches the machine's own settings.
pub fn app_env(bus: &crate::services::secrets::SecretService, home: &Path) -> Vec<(String, String)> {
    let mut env = bus.env();
    env.retain(|(k, _)| k != "HOME");
    env.push(("HOME".into(), home.display().to_string()));
    for (var, dir) in [("XDG_CONFIG_HOME", "config"), ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")] {
        env.push((var.into(), home.join(dir).display().to_string()));
    }
    env
}
