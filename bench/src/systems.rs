//! Launching each client under test on the harness services, and knowing when
//! it is registered: Homeline's CLI and desktop app, the bench's own engine
//! helper, baresip, and JsSIP in headless Chromium.
//!
//! Every process runs under a harness [`Service`] (own process group, stopped
//! on drop). Readiness is read from the process's output, which the harness
//! writes to a log file: [`LogWatch`] follows that file every 2 ms.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_tests::services::desktop::Xvfb;
use homeline_tests::services::kamailio::Kamailio;
use homeline_tests::services::secrets::SecretService;
use homeline_tests::{require_program, HarnessError, Service};
use serde_json::Value;
use tempfile::TempDir;

use crate::procfs;

pub type BenchResult<T> = Result<T, String>;

fn harness(e: HarnessError) -> String {
    e.to_string()
}

/// Follows a growing log file line by line.
pub struct LogWatch {
    path: PathBuf,
    offset: u64,
    partial: String,
}

impl LogWatch {
    pub fn new(path: &Path) -> Self {
        Self { path: path.to_path_buf(), offset: 0, partial: String::new() }
    }

    /// Complete lines written since the last call.
    pub fn new_lines(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(mut file) = std::fs::File::open(&self.path) else { return out };
        if file.seek(SeekFrom::Start(self.offset)).is_err() {
            return out;
        }
        let mut buf = Vec::new();
        if let Ok(n) = file.read_to_end(&mut buf) {
            self.offset += n as u64;
        }
        self.partial.push_str(&String::from_utf8_lossy(&buf));
        while let Some(i) = self.partial.find('\n') {
            let line: String = self.partial.drain(..=i).collect();
            out.push(line.trim_end().to_owned());
        }
        out
    }
}

/// Follow `service`'s output until `done` says so, the process exits, or
/// `timeout` passes. `done` sees each new line with the instant it was read,
/// and `None` once per poll (every 2 ms) for checks that are not about output.
pub fn watch(
    service: &mut Service,
    watch: &mut LogWatch,
    timeout: Duration,
    mut done: impl FnMut(Option<&str>, Instant) -> bool,
) -> BenchResult<()> {
    let deadline = Instant::now() + timeout;
    let mut checks = 0u32;
    loop {
        for line in watch.new_lines() {
            if done(Some(&line), Instant::now()) {
                return Ok(());
            }
        }
        if done(None, Instant::now()) {
            return Ok(());
        }
        checks += 1;
        if checks % 25 == 0 && !service.is_running() {
            // One last read: the line may have come with the exit.
            for line in watch.new_lines() {
                if done(Some(&line), Instant::now()) {
                    return Ok(());
                }
            }
            return Err(format!("{} exited early; last lines of its output:\n{}", service.name, service.log_tail(15)));
        }
        if Instant::now() >= deadline {
            return Err(format!("{} not ready after {timeout:?}; last lines of its output:\n{}", service.name, service.log_tail(15)));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Users and password of the benchmark's Kamailio.
#[derive(Debug, Clone)]
pub struct Server {
    pub ws_url: String,
    pub udp: std::net::SocketAddr,
    pub domain: String,
    pub password: String,
}

impl Server {
    pub fn of(k: &Kamailio, password: &str) -> Self {
        Self { ws_url: k.ws_url(), udp: k.udp_addr(), domain: k.domain().to_owned(), password: password.to_owned() }
    }
}

/// Users of one system: `prefix01`…`prefixNN` (every system has its own).
pub fn users(prefix: &str, count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("{prefix}{i:02}")).collect()
}

/// A client running and registered.
pub struct Running {
    pub system: &'static str,
    pub service: Service,
    /// Launch → every account registered, as the client is measured (see each launcher).
    pub startup_ms: f64,
    /// Launch → window shown (desktop app only).
    pub window_ms: Option<f64>,
    /// REGISTER → Registered, per account, measured inside the client where it tells.
    pub register_ms: Vec<f64>,
    /// Only these processes count (default: the service's whole tree).
    exclude_root: bool,
    /// Processes whose command line has this (a browser profile folder) also count.
    marker: Option<String>,
    /// When set, only processes whose name starts with this count (the browser's, not its driver's helpers).
    only_named: Option<&'static str>,
    _dirs: Vec<TempDir>,
    /// Its output, when something waits for a line in it later.
    log: Option<PathBuf>,
}

impl Running {
    /// A client whose processes are its service's tree.
    fn of(system: &'static str, service: Service, startup_ms: f64, dir: TempDir) -> Self {
        Running {
            system,
            service,
            startup_ms,
            window_ms: None,
            register_ms: Vec::new(),
            exclude_root: false,
            marker: None,
            only_named: None,
            _dirs: vec![dir],
            log: None,
        }
    }

    /// Whether the client's output so far holds `needle` (false when it is not kept).
    pub fn output_contains(&self, needle: &str) -> bool {
        self.log.as_deref().and_then(|p| std::fs::read_to_string(p).ok()).is_some_and(|t| t.contains(needle))
    }

    /// The client's processes now.
    pub fn pids(&self) -> Vec<u32> {
        let Some(root) = self.service.pid() else { return Vec::new() };
        let mut tree = procfs::tree(root);
        if self.exclude_root {
            tree.retain(|p| *p != root);
        }
        let marked = self.marker.as_deref().map(procfs::with_cmdline).unwrap_or_default();
        let mut pids = procfs::union(&[tree, marked]);
        if let Some(only) = self.only_named {
            pids.retain(|p| procfs::name(*p).starts_with(only));
        }
        pids
    }

    /// Stop the client (the harness stops its process group) and anything it
    /// left outside the group.
    pub fn stop(mut self) {
        self.service.stop();
        if let Some(marker) = &self.marker {
            // Give a browser a moment to exit by itself before the last resort.
            homeline_tests::wait_until(Duration::from_secs(3), || procfs::with_cmdline(marker).is_empty());
            procfs::kill_with_cmdline(marker);
        }
    }
}

fn temp_dir(prefix: &str) -> BenchResult<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir().map_err(|e| format!("creating a temp dir: {e}"))
}

fn ms(since: Instant, at: Instant) -> f64 {
    at.duration_since(since).as_secs_f64() * 1000.0
}

/// `homeline-cli register` over WS, one account; registered when it prints
/// `"state":"registered"`. Measured: process spawn → that line read.
pub fn start_cli(cli: &Path, server: &Server, user: &str) -> BenchResult<Running> {
    let dir = temp_dir("homeline-bench-cli-")?;
    let mut cmd = Command::new(cli);
    cmd.args(["register", "--address", &format!("{user}@{}", server.domain), "--server", &server.ws_url, "--for", "3600"])
        .env("HOMELINE_PASSWORD", &server.password)
        .env("HOME", dir.path());
    let log = dir.path().join("cli.log");
    let started = Instant::now();
    let mut service = Service::spawn("homeline-cli", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let mut at = None;
    watch(&mut service, &mut lines, Duration::from_secs(20), |line, now| {
        let Some(line) = line else { return false };
        if line.contains("\"state\":\"failed\"") {
            at = Some(Err(line.to_owned()));
            return true;
        }
        if line.contains("\"state\":\"registered\"") {
            at = Some(Ok(now));
            return true;
        }
        false
    })?;
    let at = at.ok_or("no registration")?.map_err(|l| format!("homeline-cli failed to register: {l}"))?;
    Ok(Running::of(crate::report::HOMELINE, service, ms(started, at), dir))
}

/// This binary's `engine` helper: one Homeline engine (as the CLI builds it)
/// with `users` accounts. It stamps each Registering → Registered itself.
pub fn start_engine_helper(server: &Server, users: &[String]) -> BenchResult<Running> {
    let dir = temp_dir("homeline-bench-engine-")?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["engine", "--server", &server.ws_url, "--domain", &server.domain, "--users", &users.join(",")])
        .env("BENCH_PASSWORD", &server.password)
        .env("HOME", dir.path());
    let log = dir.path().join("engine.log");
    let started = Instant::now();
    let mut service = Service::spawn("homeline engine helper", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let (mut register_ms, mut at, mut failure) = (Vec::new(), None, None);
    watch(&mut service, &mut lines, Duration::from_secs(30), |line, now| {
        let Some(Ok(v)) = line.map(serde_json::from_str::<Value>) else { return false };
        match v["type"].as_str() {
            Some("registered") => register_ms.extend(v["registerMs"].as_f64()),
            Some("failed") => {
                failure = line.map(str::to_owned);
                return true;
            }
            Some("allRegistered") => {
                at = Some(now);
                return true;
            }
            _ => {}
        }
        false
    })?;
    if let Some(line) = failure {
        return Err(format!("the engine helper failed to register: {line}"));
    }
    let at = at.ok_or("no registration")?;
    Ok(Running { register_ms, ..Running::of(crate::report::HOMELINE, service, ms(started, at), dir) })
}

/// baresip 1.0 (Debian) with a UDP account per user, no audio device, no UI
/// module. Registered when it has printed one "200 OK" registration line per
/// account. Measured: process spawn → the last of those lines read.
pub fn start_baresip(server: &Server, users: &[String]) -> BenchResult<Running> {
    let program = require_program("baresip", "baresip").map_err(harness)?;
    let dir = temp_dir("homeline-bench-baresip-")?;
    let port = homeline_tests::free_udp_port();
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{port}\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         audio_player\t\taufile,/dev/null\n\
         audio_source\t\taufile,/dev/null\n\
         audio_alert\t\taufile,/dev/null\n\
         net_interface\t\t127.0.0.1\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module_app\t\taccount.so\n"
    );
    let accounts: String = users.iter().map(|user| baresip_account(server, user, "")).collect();
    let cmd = baresip_command(&program, &dir, &config, &accounts)?;
    let log = dir.path().join("baresip.log");
    let started = Instant::now();
    let mut service = Service::spawn("baresip", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let mut registered = std::collections::BTreeSet::new();
    let mut at = None;
    watch(&mut service, &mut lines, Duration::from_secs(20), |line, now| {
        let Some(line) = line else { return false };
        // "b01@127.0.0.1: {0/UDP/v4} 200 OK (kamailio …) [1 binding]"
        if line.contains(" 200 ") && line.contains("binding") {
            if let Some(user) = users.iter().find(|u| line.contains(&format!("{u}@{}:", server.domain))) {
                registered.insert(user.clone());
            }
        }
        if registered.len() == users.len() {
            at = Some(now);
            return true;
        }
        false
    })?;
    let at = at.ok_or("no registration")?;
    Ok(Running::of(crate::report::BARESIP, service, ms(started, at), dir))
}

/// One line of baresip's accounts file: `user` over UDP via the harness Kamailio.
fn baresip_account(server: &Server, user: &str, params: &str) -> String {
    format!(
        "<sip:{user}@{domain}>;auth_pass={pw};outbound=\"sip:{udp};transport=udp\"{params};regint=600\n",
        domain = server.domain,
        pw = server.password,
        udp = server.udp
    )
}

/// baresip with `config` and `accounts` in `dir`. The password sits in a
/// private file (mode 600), never on a command line.
fn baresip_command(program: &Path, dir: &TempDir, config: &str, accounts: &str) -> BenchResult<Command> {
    write_private(&dir.path().join("config"), config)?;
    write_private(&dir.path().join("accounts"), accounts)?;
    write_private(&dir.path().join("contacts"), "")?;
    let mut cmd = Command::new(program);
    cmd.arg("-f").arg(dir.path()).env("HOME", dir.path());
    Ok(cmd)
}

/// linphonec 5.1 (Debian's `linphone-cli`) with one UDP account per user
/// (one `[proxy_N]`/`[auth_info_N]` pair each), no sound card, no video.
/// Registered when its log has said `RegistrationOk` for every account.
/// Measured: process spawn → the last of those lines read.
///
/// Two things it needs to run headless, both found the hard way:
/// - `$HOME/.local/share/linphone/` must exist: liblinphone opens its
///   SQLite database there, and when that fails the core stops starting
///   half-way without a word on the console — no SIP port, no REGISTER, no
///   error (only `-d 6` says "Unable to open linphone database").
/// - its stdin must stay open: at end of input it quits. It reads a FIFO
///   it holds open for writing itself (`<>`), through `sh -c 'exec …'`, so
///   the shell is gone before it registers; its process tree is linphonec alone.
pub fn start_linphone(server: &Server, users: &[String]) -> BenchResult<Running> {
    let (service, startup_ms, dir, log) = linphone(server, users, "", false)?;
    Ok(Running { log: Some(log), ..Running::of(crate::report::LINPHONE, service, startup_ms, dir) })
}

/// linphonec for a call, as baresip's: G.711 µ-law only over plain RTP, `mic`
/// (a WAV) as its microphone and what it receives dropped (`soundcard use
/// files`, no record file), auto-answering (`-a`) or, with `dial`, calling
/// that address once registered. Its console output is followed (`Call 1 with
/// … connected.`, `… ended (…)`).
pub fn start_linphone_phone(server: &Server, user: &str, mic: &Path, dial: Option<&str>) -> BenchResult<Running> {
    let users = [user.to_owned()];
    let (mut service, startup_ms, dir, _) = linphone(server, &users, &linphone_pcmu_only(), dial.is_none())?;
    let mut commands = format!("soundcard use files\nplay {}\n", mic.display());
    if let Some(target) = dial {
        commands.push_str(&format!("call {target}\n"));
    }
    if let Err(e) = linphone_send(dir.path(), &commands) {
        service.stop();
        return Err(e);
    }
    let out = dir.path().join("linphonec.out");
    Ok(Running { log: Some(out), ..Running::of(crate::report::LINPHONE, service, startup_ms, dir) })
}

/// A command (one line) to a linphonec started by [`start_linphone_phone`], e.g.
/// `record FILE.wav` (in file mode: what it plays out during the next call goes there).
pub fn linphone_command(r: &Running, command: &str) -> BenchResult<()> {
    let dir = r._dirs.first().ok_or("this linphonec has no folder")?;
    linphone_send(dir.path(), &format!("{command}\n"))
}

/// Commands to a running linphonec, through the FIFO it reads as stdin.
fn linphone_send(dir: &Path, commands: &str) -> BenchResult<()> {
    use std::io::Write;
    let fifo = dir.join("stdin");
    // It holds the FIFO open for reading (and writing): opening it for writing does not block.
    let mut f = std::fs::OpenOptions::new().write(true).open(&fifo).map_err(|e| format!("opening {}: {e}", fifo.display()))?;
    f.write_all(commands.as_bytes()).map_err(|e| format!("writing to linphonec: {e}"))
}

/// linphonec as [`start_linphone`] says, `extra_config` appended to its
/// config, `-a` (auto-answer) when `answer`.
fn linphone(server: &Server, users: &[String], extra_config: &str, answer: bool) -> BenchResult<(Service, f64, TempDir, PathBuf)> {
    let program = require_program("linphonec", "linphone-cli").map_err(harness)?;
    let sh = require_program("sh", "dash").map_err(harness)?;
    let dir = temp_dir("homeline-bench-linphonec-")?;
    let data = dir.path().join(".local/share/linphone");
    std::fs::create_dir_all(&data).map_err(|e| format!("creating {}: {e}", data.display()))?;
    let fifo = dir.path().join("stdin");
    let made = Command::new("mkfifo").arg(&fifo).status().map_err(|e| format!("mkfifo: {e}"))?;
    if !made.success() {
        return Err(format!("mkfifo {} failed", fifo.display()));
    }
    let rc = dir.path().join("linphonerc");
    write_private(&rc, &(linphone_config(server, users) + extra_config))?;
    let log = dir.path().join("linphonec.log");
    let mut cmd = Command::new(sh);
    cmd.arg("-c")
        .arg("exec \"$0\" \"$@\" <>\"$HOME/stdin\"")
        .arg(&program)
        .arg("-c")
        .arg(&rc)
        .args(["-d", "3", "-l"])
        .arg(&log);
    if answer {
        cmd.arg("-a");
    }
    cmd.env("HOME", dir.path());
    let out = dir.path().join("linphonec.out");
    let started = Instant::now();
    let mut service = Service::spawn("linphonec", cmd, &out).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let mut registered = 0;
    let mut at = None;
    let mut failed = None;
    watch(&mut service, &mut lines, Duration::from_secs(20), |line, now| {
        let Some(line) = line else { return false };
        if line.contains("to [LinphoneRegistrationOk]") {
            registered += 1;
        } else if line.contains("to [LinphoneRegistrationFailed]") {
            failed = Some(line.to_owned());
            return true;
        }
        if registered == users.len() {
            at = Some(now);
            return true;
        }
        false
    })?;
    if let Some(line) = failed {
        return Err(format!("linphonec failed to register: {line}"));
    }
    let at = at.ok_or("no registration")?;
    Ok((service, ms(started, at), dir, log))
}

/// linphonec's config: SIP on a free loopback UDP port only (no TCP, TLS or
/// IPv6), one account per user routed to the harness Kamailio over UDP.
/// The password sits in this file (mode 600), never on a command line.
fn linphone_config(server: &Server, users: &[String]) -> String {
    let mut rc = format!(
        "[sip]\n\
         sip_port={port}\n\
         sip_tcp_port=0\n\
         sip_tls_port=0\n\
         bind_address=127.0.0.1\n\
         use_ipv6=0\n\
         default_proxy=0\n\
         [net]\n\
         firewall_policy=0\n\
         [rtp]\n\
         audio_rtp_port={rtp}\n\
         video_rtp_port=0\n\
         [video]\n\
         capture=0\n\
         display=0\n\
         [sound]\n\
         echocancellation=0\n",
        port = homeline_tests::free_udp_port(),
        rtp = homeline_tests::free_udp_port(),
    );
    for (i, user) in users.iter().enumerate() {
        rc.push_str(&format!(
            "[proxy_{i}]\n\
             reg_proxy=<sip:{udp};transport=udp>\n\
             reg_identity=sip:{user}@{domain}\n\
             reg_expires=600\n\
             reg_sendregister=1\n\
             publish=0\n\
             [auth_info_{i}]\n\
             username={user}\n\
             passwd={pw}\n\
             realm={domain}\n\
             domain={domain}\n",
            udp = server.udp,
            domain = server.domain,
            pw = server.password,
        ));
    }
    rc
}

fn write_private(path: &Path, text: &str) -> BenchResult<()> {
    use std::os::unix::fs::OpenOptionsExt;
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| format!("writing {}: {e}", path.display()))?;
    f.write_all(text.as_bytes()).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// The browser softphone: tests/browser/register.mjs launches Chromium and a
/// page with one JsSIP UA per user. Measured by the driver itself: browser
/// launch → every UA registered (node's and playwright's start-up excluded).
/// Counted processes: every Chromium process of this instance (its profile
/// folder is on their command lines), not the node driver.
pub fn start_jssip(server: &Server, users: &[String]) -> BenchResult<Running> {
    let node = require_program("node", "nodejs").map_err(harness)?;
    require_program("chromium", "chromium").map_err(harness)?;
    let browser_dir = homeline_tests::workspace_root().join("tests/browser");
    let script = browser_dir.join("register.mjs");
    if !browser_dir.join("node_modules/jssip").is_dir() || !browser_dir.join("node_modules/playwright-core").is_dir() {
        return Err(format!("{}/node_modules is missing: run `make setup` (npm ci in tests/browser)", browser_dir.display()));
    }
    let dir = temp_dir("homeline-bench-jssip-")?;
    let profile = dir.path().join("chromium-profile");
    std::fs::create_dir(&profile).map_err(|e| format!("creating {}: {e}", profile.display()))?;
    let mut cmd = Command::new(node);
    cmd.arg(&script)
        .current_dir(&browser_dir)
        .env("BENCH_WS_URL", &server.ws_url)
        .env("BENCH_DOMAIN", &server.domain)
        .env("BENCH_USERS", users.join(","))
        .env("BENCH_PASSWORD", &server.password)
        .env("BENCH_USER_DATA_DIR", &profile)
        .env("BENCH_FOR_SECONDS", "3600")
        .env("HOME", dir.path());
    let log = dir.path().join("jssip.log");
    let mut service = Service::spawn("jssip-chromium", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let (mut register_ms, mut at, mut failure) = (Vec::new(), None, None);
    let result = watch(&mut service, &mut lines, Duration::from_secs(60), |line, _| {
        let Some(Ok(v)) = line.map(serde_json::from_str::<Value>) else { return false };
        match v["type"].as_str() {
            Some("registered") => register_ms.extend(v["registerMs"].as_f64()),
            Some("registrationFailed") => {
                failure = line.map(str::to_owned);
                return true;
            }
            Some("allRegistered") => {
                at = v["ms"].as_f64();
                return true;
            }
            _ => {}
        }
        false
    });
    let marker = profile.display().to_string();
    let running = Running {
        system: crate::report::JSSIP,
        service,
        startup_ms: at.unwrap_or(0.0),
        window_ms: None,
        register_ms,
        exclude_root: true,
        marker: Some(marker),
        only_named: Some("chrom"),
        _dirs: vec![dir],
        log: None,
    };
    let failed = match (result, failure) {
        (Err(e), _) => Some(e),
        (Ok(()), Some(line)) => Some(format!("JsSIP failed to register: {line}")),
        (Ok(()), None) if at.is_none() => Some("no allRegistered line".into()),
        _ => None,
    };
    if let Some(e) = failed {
        running.stop();
        return Err(e);
    }
    Ok(running)
}

/// What the desktop app needs around it: a display and a Secret Service
/// holding the account's password, plus its settings folder.
pub struct Desktop {
    pub xvfb: Xvfb,
    pub secrets: SecretService,
    home: TempDir,
}

impl Desktop {
    pub(crate) fn env(&self) -> Vec<(String, String)> {
        let root = self.home.path();
        let mut env = self.secrets.env();
        env.extend([
            ("DISPLAY".into(), self.xvfb.display().to_owned()),
            ("XDG_CONFIG_HOME".into(), root.join("config").display().to_string()),
            ("XDG_DATA_HOME".into(), root.join("data").display().to_string()),
            ("XDG_CACHE_HOME".into(), root.join("cache").display().to_string()),
            // No GPU here: software rendering, as the harness's WebDriver set-up does.
            ("WEBKIT_DISABLE_COMPOSITING_MODE".into(), "1".into()),
            ("LIBGL_ALWAYS_SOFTWARE".into(), "1".into()),
            ("NO_COLOR".into(), "1".into()),
        ]);
        env
    }
}

/// Start Xvfb and a Secret Service, and save the account the way the app
/// does (settings file + keychain) through this binary's `save-account`
/// helper, so the app registers as soon as it starts.
pub fn prepare_desktop(server: &Server, user: &str) -> BenchResult<Desktop> {
    let xvfb = homeline_tests::services::desktop::start_xvfb().map_err(harness)?;
    let secrets = homeline_tests::services::secrets::start().map_err(harness)?;
    let home = temp_dir("homeline-bench-app-")?;
    let desktop = Desktop { xvfb, secrets, home };
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let out = Command::new(exe)
        .args(["save-account", "--server", &server.ws_url, "--address", &format!("{user}@{}", server.domain)])
        .envs(desktop.env())
        .env("BENCH_PASSWORD", &server.password)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("running save-account: {e}"))?;
    if !out.status.success() {
        return Err(format!("save-account failed: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(desktop)
}

/// The desktop app, launched directly (no WebDriver) under Xvfb with the
/// SIP trace on, so its log shows the 200 OK to REGISTER. Measured: process
/// spawn → window viewable (xwininfo) and spawn → 200 OK to REGISTER read.
pub fn start_app(app: &Path, desktop: &Desktop) -> BenchResult<Running> {
    start_app_with(app, desktop, &[])
}

/// [`start_app`] with `extra` added to the app's environment (a sound server, loopback media).
pub fn start_app_with(app: &Path, desktop: &Desktop, extra: &[(String, String)]) -> BenchResult<Running> {
    let xwininfo = require_program("xwininfo", "x11-utils").map_err(harness)?;
    let dir = temp_dir("homeline-bench-applog-")?;
    let mut cmd = Command::new(app);
    cmd.envs(desktop.env())
        .envs(extra.iter().cloned())
        .env("HOMELINE_LOG", "warn,homeline_sip::trace=debug")
        .env_remove("WAYLAND_DISPLAY");
    let log = dir.path().join("app.log");
    let started = Instant::now();
    let mut service = Service::spawn("homeline app", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let (mut registered_at, mut window_at) = (None, None);
    let mut in_ok = false;
    let mut last_window_check = Instant::now() - Duration::from_secs(1);
    let display = desktop.xvfb.display().to_owned();
    watch(&mut service, &mut lines, Duration::from_secs(60), |line, now| {
        match line.map(str::trim) {
            // A received "SIP/2.0 200 …" whose CSeq names REGISTER.
            Some(l) if l.starts_with("SIP/2.0 ") => in_ok = l.starts_with("SIP/2.0 200"),
            Some(l) if in_ok && l.to_ascii_lowercase().starts_with("cseq:") => {
                if l.contains("REGISTER") && registered_at.is_none() {
                    registered_at = Some(now);
                }
                in_ok = false;
            }
            Some(_) => {}
            None => {
                if window_at.is_none() && now.duration_since(last_window_check) >= Duration::from_millis(25) {
                    last_window_check = now;
                    if window_viewable(&xwininfo, &display) {
                        window_at = Some(now);
                    }
                }
            }
        }
        registered_at.is_some() && window_at.is_some()
    })?;
    let (Some(reg), Some(win)) = (registered_at, window_at) else { return Err("the app did not register".into()) };
    Ok(Running { window_ms: Some(ms(started, win)), ..Running::of(crate::report::HOMELINE_APP, service, ms(started, reg), dir) })
}

/// Write the app's own preferences (`desktop.toml` in its settings folder,
/// camelCase keys; the rest keep their defaults) before it starts.
pub fn write_app_prefs(desktop: &Desktop, toml: &str) -> BenchResult<()> {
    let folder = desktop.home.path().join("config/homeline");
    std::fs::create_dir_all(&folder).map_err(|e| format!("creating {}: {e}", folder.display()))?;
    let path = folder.join("desktop.toml");
    std::fs::write(&path, toml).map_err(|e| format!("writing {}: {e}", path.display()))
}

/// Launch the app a second time with `link` as its argument, as a clicked
/// `tel:`/`sip:` link does: that process hands the link to the running app
/// and exits (within 10 s, or this fails).
pub fn hand_link_to_app(app: &Path, desktop: &Desktop, link: &str) -> BenchResult<()> {
    let mut second = Command::new(app)
        .arg(link)
        .envs(desktop.env())
        .env_remove("WAYLAND_DISPLAY")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("launching the app with {link}: {e}"))?;
    let handed_over = homeline_tests::wait_until(Duration::from_secs(10), || matches!(second.try_wait(), Ok(Some(_))));
    if !handed_over {
        let _ = second.kill();
        let _ = second.wait();
        return Err(format!("the launch with {link} kept running instead of handing the link to the running app"));
    }
    Ok(())
}

pub(crate) fn window_viewable(xwininfo: &Path, display: &str) -> bool {
    Command::new(xwininfo)
        .args(["-display", display, "-name", "Homeline"])
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("IsViewable"))
        .unwrap_or(false)
}

/// This binary's `call` helper: one engine, one account (`user`), loopback
/// media, silence as the microphone; `extra` says whether it answers
/// (`--auto-answer`) or dials (`--dial T --go-file F`). Returns once it is
/// registered, with the watch on its output (its JSON lines).
pub fn start_call_helper(server: &Server, user: &str, extra: &[&str]) -> BenchResult<(Running, LogWatch)> {
    let dir = temp_dir("homeline-bench-call-")?;
    let exe = std::env::current_exe().map_err(|e| format!("finding this program: {e}"))?;
    let mut cmd = Command::new(exe);
    cmd.args(["call", "--server", &server.ws_url, "--domain", &server.domain, "--user", user])
        .args(extra)
        .env("BENCH_PASSWORD", &server.password)
        .env("HOME", dir.path());
    let log = dir.path().join("call.log");
    let started = Instant::now();
    let mut service = Service::spawn("homeline call helper", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let (mut at, mut failure) = (None, None);
    watch(&mut service, &mut lines, Duration::from_secs(30), |line, now| {
        let Some(Ok(v)) = line.map(serde_json::from_str::<Value>) else { return false };
        match v["type"].as_str() {
            Some("failed") => {
                failure = line.map(str::to_owned);
                true
            }
            Some("registered") => {
                at = Some(now);
                true
            }
            _ => false,
        }
    })?;
    if let Some(line) = failure {
        return Err(format!("the call helper failed: {line}"));
    }
    let at = at.ok_or("no registration")?;
    let running = Running { log: Some(log), ..Running::of(crate::report::HOMELINE, service, ms(started, at), dir) };
    Ok((running, lines))
}

/// Follow a call helper's JSON lines until one of type `until` (or `failed`)
/// comes; returns every line read, parsed.
pub fn call_lines(r: &mut Running, lines: &mut LogWatch, until: &str, timeout: Duration) -> BenchResult<Vec<Value>> {
    let mut seen = Vec::new();
    let mut failure = None;
    watch(&mut r.service, lines, timeout, |line, _| {
        let Some(Ok(v)) = line.map(serde_json::from_str::<Value>) else { return false };
        let kind = v["type"].as_str().unwrap_or_default().to_owned();
        if kind == "failed" {
            failure = Some(v.to_string());
        }
        seen.push(v);
        kind == until || kind == "failed"
    })?;
    match failure {
        Some(f) => Err(format!("the call failed: {f}")),
        None => Ok(seen),
    }
}

/// A child driven through its stdin, one command per line, in its own
/// process group: `quit` then, after 5 s, SIGKILL to that group.
pub(crate) struct Piped {
    child: std::process::Child,
    stdin: Option<std::process::ChildStdin>,
}

impl Piped {
    pub(crate) fn new(mut child: std::process::Child) -> Self {
        let stdin = child.stdin.take();
        Self { child, stdin }
    }

    pub(crate) fn send(&mut self, command: &str) -> BenchResult<()> {
        use std::io::Write;
        let stdin = self.stdin.as_mut().ok_or("the driver has no stdin")?;
        writeln!(stdin, "{command}").and_then(|()| stdin.flush()).map_err(|e| format!("writing to the driver: {e}"))
    }

    fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub(crate) fn stop(&mut self) {
        if self.stdin.is_none() {
            return;
        }
        let _ = self.send("quit");
        drop(self.stdin.take());
        let pid = self.child.id();
        let exited = homeline_tests::wait_until(Duration::from_secs(5), || matches!(self.child.try_wait(), Ok(Some(_))));
        if !exited {
            // Our own child's process group, by its id.
            let _ = Command::new("kill").args(["-KILL", "--", &format!("-{pid}")]).status();
            let _ = self.child.wait();
        }
    }
}

impl Drop for Piped {
    fn drop(&mut self) {
        self.stop();
    }
}

/// JsSIP in headless Chromium as a call peer: tests/browser/call.mjs (the
/// interop driver), one UA, commands on its stdin, JSON lines (`ms`: whole
/// milliseconds since the driver started, stamped by node as the page
/// reports each JsSIP event). Not a harness `Service`: the driver stops when
/// its stdin closes, so it gets a pipe; it runs in its own process group,
/// stopped on drop.
pub struct JssipCall {
    driver: Piped,
    watch: LogWatch,
    log: PathBuf,
    marker: String,
    _dir: TempDir,
}

/// Where and how [`JssipCall::start_with`] runs the browser phone.
#[derive(Default)]
pub struct JssipLaunch<'a> {
    /// Run node (and so Chromium, its DevTools pipe and its page server)
    /// inside this network namespace.
    pub netns: Option<&'a homeline_tests::services::netns::Netns>,
    /// Accept the server's certificate (a wss:// URL signed by the harness's test CA).
    pub ignore_certificate_errors: bool,
    /// Report `rtpResumed` when inbound audio packets arrive again after a
    /// gap, polling this often (ms).
    pub rtp_watch_ms: Option<u32>,
}

impl JssipCall {
    pub fn start(server: &Server, user: &str) -> BenchResult<Self> {
        Self::start_with(server, user, &JssipLaunch::default())
    }

    pub fn start_with(server: &Server, user: &str, launch: &JssipLaunch) -> BenchResult<Self> {
        use std::os::unix::process::CommandExt;
        let node = require_program("node", "nodejs").map_err(harness)?;
        require_program("chromium", "chromium").map_err(harness)?;
        let browser_dir = homeline_tests::workspace_root().join("tests/browser");
        if !browser_dir.join("node_modules/jssip").is_dir() {
            return Err(format!("{}/node_modules is missing: run `make setup`", browser_dir.display()));
        }
        let dir = temp_dir("homeline-bench-jssipcall-")?;
        let profile = dir.path().join("chromium-profile");
        std::fs::create_dir(&profile).map_err(|e| format!("creating {}: {e}", profile.display()))?;
        let wav = dir.path().join("mic.wav");
        std::fs::write(&wav, tone_wav()).map_err(|e| format!("writing {}: {e}", wav.display()))?;
        let log = dir.path().join("call.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let mut cmd = match launch.netns {
            Some(ns) => ns.command(node),
            None => Command::new(node),
        };
        if launch.ignore_certificate_errors {
            cmd.env("CALL_IGNORE_CERT_ERRORS", "1");
        }
        if let Some(every) = launch.rtp_watch_ms {
            cmd.env("CALL_RTP_WATCH_MS", every.to_string());
        }
        let child = cmd
            .arg(browser_dir.join("call.mjs"))
            .current_dir(&browser_dir)
            .env("CALL_WS_URL", &server.ws_url)
            .env("CALL_DOMAIN", &server.domain)
            .env("CALL_USER", user)
            .env("CALL_PASSWORD", &server.password)
            .env("CALL_MIC_WAV", &wav)
            .env("CALL_USER_DATA_DIR", &profile)
            .env("CALL_FOR_SECONDS", "600")
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting call.mjs: {e}"))?;
        let mut me = Self { driver: Piped::new(child), watch: LogWatch::new(&log), log, marker: profile.display().to_string(), _dir: dir };
        me.until("registered", Duration::from_secs(60))?;
        Ok(me)
    }

    /// Whether the driver's output so far holds `needle`.
    pub fn output_contains(&self, needle: &str) -> bool {
        std::fs::read_to_string(&self.log).is_ok_and(|t| t.contains(needle))
    }

    /// The browser profile folder on every Chromium process of this instance.
    pub fn marker(&self) -> &str {
        &self.marker
    }

    pub fn send(&mut self, command: &str) -> BenchResult<()> {
        self.driver.send(command)
    }

    /// Lines until one of type `kind` (or a failure); every line read, parsed.
    pub fn until(&mut self, kind: &str, timeout: Duration) -> BenchResult<Vec<Value>> {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        loop {
            for line in self.watch.new_lines() {
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                let t = v["type"].as_str().unwrap_or_default().to_owned();
                seen.push(v);
                if t == kind {
                    return Ok(seen);
                }
                if matches!(t.as_str(), "failed" | "registrationFailed" | "stopped") {
                    return Err(format!("JsSIP: {line}"));
                }
            }
            if Instant::now() >= deadline {
                let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = tail.lines().rev().take(10).collect();
                return Err(format!("JsSIP: no {kind} within {timeout:?}; last lines: {}", tail.into_iter().rev().collect::<Vec<_>>().join(" | ")));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    /// The JSON lines written since the last read (none waited for), parsed.
    pub fn new_lines(&mut self) -> Vec<Value> {
        self.watch.new_lines().iter().filter_map(|l| serde_json::from_str(l).ok()).collect()
    }

    /// Whether the driver is still running.
    pub fn is_running(&mut self) -> bool {
        self.driver.is_running()
    }

    /// Every Chromium process of this instance (not the node driver).
    pub fn pids(&self) -> Vec<u32> {
        let mut pids = procfs::with_cmdline(&self.marker);
        pids.retain(|p| procfs::name(*p).starts_with("chrom"));
        pids
    }
}

impl Drop for JssipCall {
    fn drop(&mut self) {
        self.driver.stop();
        homeline_tests::wait_until(Duration::from_secs(3), || procfs::with_cmdline(&self.marker).is_empty());
        procfs::kill_with_cmdline(&self.marker);
    }
}

/// One second of a 440 Hz tone, 48 kHz mono 16-bit PCM: the fake microphone.
pub fn tone_wav() -> Vec<u8> {
    tone_wav_at(48_000, 1)
}

/// `secs` seconds of a 440 Hz tone at `rate`, mono 16-bit PCM.
pub fn tone_wav_at(rate: u32, secs: u32) -> Vec<u8> {
    let samples: Vec<i16> =
        (0..rate * secs).map(|i| ((i as f64 * 440.0 * std::f64::consts::TAU / f64::from(rate)).sin() * 8000.0) as i16).collect();
    let data_len = (samples.len() * 2) as u32;
    let mut w = Vec::with_capacity(44 + data_len as usize);
    w.extend_from_slice(b"RIFF");
    w.extend_from_slice(&(36 + data_len).to_le_bytes());
    w.extend_from_slice(b"WAVEfmt ");
    w.extend_from_slice(&16u32.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&1u16.to_le_bytes());
    w.extend_from_slice(&rate.to_le_bytes());
    w.extend_from_slice(&(rate * 2).to_le_bytes());
    w.extend_from_slice(&2u16.to_le_bytes());
    w.extend_from_slice(&16u16.to_le_bytes());
    w.extend_from_slice(b"data");
    w.extend_from_slice(&data_len.to_le_bytes());
    for s in samples {
        w.extend_from_slice(&s.to_le_bytes());
    }
    w
}

/// baresip as a phone in a call: one UDP account (G.711 µ-law, answers by
/// itself), `mic` (8 kHz mono WAV) as the microphone, what it receives
/// dropped; with `dial`, it calls that URI once started. Returns once it is
/// registered.
pub fn start_baresip_phone(server: &Server, user: &str, mic: &Path, dial: Option<&str>) -> BenchResult<Running> {
    baresip_phone(server, user, mic, dial, "")
}

/// baresip as [`start_baresip_phone`] answering calls, with its `sndfile` module: each
/// call's decoded audio (what leaves its jitter buffer and G.711 decoder, before the
/// player's buffer) is written to `dump_dir/dump-<time>-dec.wav` (and what it sends to
/// `…-enc.wav`).
pub fn start_baresip_recorder(server: &Server, user: &str, mic: &Path, dump_dir: &Path) -> BenchResult<Running> {
    baresip_phone(server, user, mic, None, &format!("module\t\t\tsndfile.so\nsnd_path\t\t{}\n", dump_dir.display()))
}

fn baresip_phone(server: &Server, user: &str, mic: &Path, dial: Option<&str>, extra_config: &str) -> BenchResult<Running> {
    let program = require_program("baresip", "baresip").map_err(harness)?;
    let dir = temp_dir("homeline-bench-baresip-call-")?;
    let config = format!(
        "poll_method\t\tepoll\n\
         sip_listen\t\t127.0.0.1:{port}\n\
         call_local_timeout\t60\n\
         audio_player\t\taubridge,nowhere\n\
         audio_alert\t\taubridge,nowhere\n\
         audio_source\t\taufile,{mic}\n\
         audio_level\t\tno\n\
         net_interface\t\t127.0.0.1\n\
         module_path\t\t/usr/lib/baresip/modules\n\
         module\t\t\tg711.so\n\
         module\t\t\taufile.so\n\
         module\t\t\taubridge.so\n\
         module_app\t\taccount.so\n\
         module_app\t\tmenu.so\n\
         {extra_config}",
        port = homeline_tests::free_udp_port(),
        mic = mic.display(),
    );
    let account = baresip_account(server, user, ";answermode=auto;audio_codecs=PCMU/8000/1");
    let mut cmd = baresip_command(&program, &dir, &config, &account)?;
    if let Some(target) = dial {
        cmd.arg("-e").arg(format!("/dial {target}"));
    }
    let log = dir.path().join("baresip.log");
    let started = Instant::now();
    let mut service = Service::spawn("baresip", cmd, &log).map_err(harness)?;
    let mut lines = LogWatch::new(&log);
    let mut at = None;
    watch(&mut service, &mut lines, Duration::from_secs(20), |line, now| {
        let registered = line.is_some_and(|l| l.contains(" 200 ") && l.contains("binding"));
        if registered {
            at = Some(now);
        }
        registered
    })?;
    let at = at.ok_or("no registration")?;
    Ok(Running { log: Some(log), ..Running::of(crate::report::BARESIP, service, ms(started, at), dir) })
}

/// Wait until `r`'s output (from its start) holds a line containing `needle`.
pub fn wait_for_line(r: &mut Running, needle: &str, timeout: Duration) -> BenchResult<()> {
    let log = r.log.clone().ok_or("this client's output is not followed")?;
    let mut lines = LogWatch::new(&log);
    watch(&mut r.service, &mut lines, timeout, |line, _| line.is_some_and(|l| l.contains(needle)))
}

/// The real `homeline-cli phone --loopback`, commands on its stdin, its JSON
/// lines followed in a log file. Runs in its own process group, stopped on
/// drop (see [`Piped`]).
pub struct CliPhone {
    driver: Piped,
    watch: LogWatch,
    log: PathBuf,
    _dir: TempDir,
}

impl CliPhone {
    /// Start and wait until registered.
    pub fn start(cli: &Path, server: &Server, user: &str, extra: &[&str]) -> BenchResult<Self> {
        use std::os::unix::process::CommandExt;
        let dir = temp_dir("homeline-bench-cliphone-")?;
        let log = dir.path().join("cli.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = Command::new(cli)
            .args(["phone", "--address", &format!("{user}@{}", server.domain), "--server", &server.ws_url, "--loopback"])
            .args(extra)
            .env("HOMELINE_PASSWORD", &server.password)
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", cli.display()))?;
        let mut me = Self { driver: Piped::new(child), watch: LogWatch::new(&log), log, _dir: dir };
        me.until(|v| v["state"] == "registered" || v["state"] == "failed", Duration::from_secs(30)).and_then(|v| {
            if v["state"] == "registered" {
                Ok(())
            } else {
                Err(format!("homeline-cli did not register: {v}"))
            }
        })?;
        Ok(me)
    }

    pub fn send(&mut self, command: &str) -> BenchResult<()> {
        self.driver.send(command)
    }

    /// The first new JSON line that `pred` accepts.
    pub fn until(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> BenchResult<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            for line in self.watch.new_lines() {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    if pred(&v) {
                        return Ok(v);
                    }
                }
            }
            if Instant::now() >= deadline {
                return Err(format!("homeline-cli: nothing expected within {timeout:?}; last lines:\n{}", homeline_tests::process::log_tail(&self.log, 8)));
            }
            if !self.is_running() {
                return Err(format!("homeline-cli exited; last lines:\n{}", homeline_tests::process::log_tail(&self.log, 8)));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
    }

    pub fn is_running(&mut self) -> bool {
        self.driver.is_running()
    }

    pub fn pids(&self) -> Vec<u32> {
        procfs::tree(self.driver.child.id())
    }
}

// ----- native phones driven for call set-up (issue 9) ----------------------

/// Epoch ms of linphonec log lines: `YYYY-MM-DD HH:MM:SS:mmm …` in local time.
/// One entry per stamped line, with the unstamped lines after it (a SIP
/// message it sent or received follows its `message sent to` / `received …
/// new bytes from` line).
pub struct LogEntry {
    pub epoch_ms: f64,
    pub text: String,
    pub more: Vec<String>,
}

impl LogEntry {
    /// The SIP message after this line, when it is one: its first line and whether its CSeq names `method`.
    pub fn sip(&self, method: &str) -> Option<(&str, bool)> {
        if !(self.text.contains("message sent to") || self.text.contains("new bytes from")) {
            return None;
        }
        let first = self.more.iter().map(|l| l.trim()).find(|l| !l.is_empty())?;
        let cseq = self.more.iter().any(|l| l.to_ascii_lowercase().starts_with("cseq:") && l.ends_with(method));
        Some((first, cseq))
    }

    pub fn sent(&self) -> bool {
        self.text.contains("message sent to")
    }
}

/// `2026-11-26 04:32:42:932` → ms since the Unix epoch, as if UTC.
fn log_stamp(line: &str) -> Option<f64> {
    let b = line.as_bytes();
    if b.len() < 23 || b[4] != b'-' || b[10] != b' ' || b[19] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| line.get(r).and_then(|s| s.parse::<i64>().ok());
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from the civil date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + hh) * 60 + mm) * 60 + ss) as f64 * 1000.0 + ms as f64)
}

/// The entries of a linphonec log. Its stamps are local time: the offset
/// from UTC is taken as the whole quarter-hours between its last stamp and now
/// (the log is read while the client runs).
pub fn linphone_log(path: &Path) -> Vec<LogEntry> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut entries: Vec<LogEntry> = Vec::new();
    for line in text.lines() {
        match log_stamp(line) {
            Some(at) => entries.push(LogEntry { epoch_ms: at, text: line[23..].to_owned(), more: Vec::new() }),
            None => {
                if let Some(last) = entries.last_mut() {
                    last.more.push(line.trim_end_matches('\r').to_owned());
                }
            }
        }
    }
    if let Some(last) = entries.last().map(|e| e.epoch_ms) {
        const QUARTER: f64 = 15.0 * 60_000.0;
        let offset = ((crate::helper::epoch_ms() - last) / QUARTER).round() * QUARTER;
        for e in &mut entries {
            e.epoch_ms += offset;
        }
    }
    entries
}

/// linphonec for the call set-up scenarios, as [`start_linphone_phone`]'s
/// (G.711 µ-law only, `mic` as its microphone, `-a` when `answer`), what it
/// plays out recorded to `record` (`soundcard use files` + `record`: written
/// at playout pace, in 4 KiB blocks), dialing only when told ([`LinphonePhone::send`]).
pub struct LinphonePhone {
    pub running: Running,
    fifo_dir: PathBuf,
    pub log: PathBuf,
}

pub fn start_linphone_controlled(server: &Server, user: &str, mic: &Path, record: &Path, answer: bool) -> BenchResult<LinphonePhone> {
    let users = [user.to_owned()];
    let (mut service, startup_ms, dir, log) = linphone(server, &users, &linphone_pcmu_only(), answer)?;
    let commands = format!("soundcard use files\nplay {}\nrecord {}\n", mic.display(), record.display());
    if let Err(e) = linphone_send(dir.path(), &commands) {
        service.stop();
        return Err(e);
    }
    let fifo_dir = dir.path().to_path_buf();
    let out = dir.path().join("linphonec.out");
    Ok(LinphonePhone { running: Running { log: Some(out), ..Running::of(crate::report::LINPHONE, service, startup_ms, dir) }, fifo_dir, log })
}

impl LinphonePhone {
    /// One console command; returns when it was written (epoch ms, just before).
    pub fn send(&self, command: &str) -> BenchResult<f64> {
        let at = crate::helper::epoch_ms();
        linphone_send(&self.fifo_dir, &format!("{command}\n"))?;
        Ok(at)
    }

    pub fn entries(&self) -> Vec<LogEntry> {
        linphone_log(&self.log)
    }
}

/// `[audio_codec_N]` sections: PCMU on, every other codec it would offer off.
fn linphone_pcmu_only() -> String {
    let mut codecs = String::from("[audio_codec_0]\nmime=PCMU\nrate=8000\nchannels=1\nenabled=1\n");
    let off = [("opus", 48000, 2), ("SILK", 16000, 1), ("speex", 16000, 1), ("speex", 8000, 1), ("PCMA", 8000, 1), ("G729", 8000, 1)];
    for (i, (mime, rate, channels)) in off.iter().enumerate() {
        codecs.push_str(&format!("[audio_codec_{}]\nmime={mime}\nrate={rate}\nchannels={channels}\nenabled=0\n", i + 1));
    }
    codecs
}

type Events = std::sync::Arc<std::sync::Mutex<Vec<(f64, Value)>>>;

/// baresip for the call set-up scenarios: one UDP account (G.711 µ-law,
/// answers by itself), `mic` as its microphone, driven and followed through
/// its `ctrl_tcp` socket — commands in, every call event out (JSON in
/// netstrings), each stamped by a reader thread as it arrives (baresip prints
/// no timestamps). Its `sndfile` module writes each call's decoded audio to
/// `…-dec.wav` in its dump folder, one 20 ms frame at a time.
pub struct BaresipPhone {
    pub running: Running,
    ctl: std::net::TcpStream,
    events: Events,
    dump_dir: PathBuf,
    commands: u32,
}

pub fn start_baresip_controlled(server: &Server, user: &str, mic: &Path) -> BenchResult<BaresipPhone> {
    let dump = temp_dir("homeline-bench-baresip-dump-")?;
    let ctl = homeline_tests::free_tcp_port();
    let extra = format!(
        "module\t\t\tsndfile.so\nsnd_path\t\t{}\nmodule_app\t\tctrl_tcp.so\nctrl_tcp_listen\t\t127.0.0.1:{ctl}\n",
        dump.path().display()
    );
    let mut running = baresip_phone(server, user, mic, None, &extra)?;
    let dump_dir = dump.path().to_path_buf();
    running._dirs.push(dump);
    let stream = std::net::TcpStream::connect(("127.0.0.1", ctl)).map_err(|e| format!("baresip's ctrl_tcp on port {ctl}: {e}"));
    let stream = match stream {
        Ok(s) => s,
        Err(e) => {
            running.stop();
            return Err(e);
        }
    };
    let events: Events = std::sync::Arc::default();
    let reader = stream.try_clone().map_err(|e| e.to_string())?;
    let sink = std::sync::Arc::clone(&events);
    std::thread::Builder::new()
        .name("baresip-events".into())
        .spawn(move || read_netstrings(reader, &sink))
        .map_err(|e| format!("starting the event reader: {e}"))?;
    Ok(BaresipPhone { running, ctl: stream, events, dump_dir, commands: 0 })
}

/// `len:{json},` netstrings until the socket closes, each stamped on arrival.
fn read_netstrings(mut from: std::net::TcpStream, into: &Events) {
    let mut buf: Vec<u8> = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while let Ok(n) = from.read(&mut chunk) {
        if n == 0 {
            return;
        }
        let at = crate::helper::epoch_ms();
        buf.extend_from_slice(&chunk[..n]);
        while let Some(colon) = buf.iter().position(|b| *b == b':') {
            let Some(len) = std::str::from_utf8(&buf[..colon]).ok().and_then(|s| s.parse::<usize>().ok()) else {
                buf.clear();
                break;
            };
            if buf.len() < colon + 1 + len + 1 {
                break;
            }
            if let Ok(v) = serde_json::from_slice::<Value>(&buf[colon + 1..colon + 1 + len]) {
                into.lock().unwrap_or_else(|p| p.into_inner()).push((at, v));
            }
            buf.drain(..colon + 1 + len + 1);
        }
    }
}

impl BaresipPhone {
    /// A ctrl_tcp command (a `menu` module command); returns when it was
    /// written (epoch ms, just before), once baresip has accepted it.
    pub fn command(&mut self, command: &str, params: &str) -> BenchResult<f64> {
        use std::io::Write;
        self.commands += 1;
        let token = format!("bench-{}", self.commands);
        let body = serde_json::json!({"command": command, "params": params, "token": token}).to_string();
        let at = crate::helper::epoch_ms();
        self.ctl.write_all(format!("{}:{body},", body.len()).as_bytes()).map_err(|e| format!("writing to baresip's ctrl_tcp: {e}"))?;
        let answered = |v: &Value| v["response"] == true && v["token"] == token.as_str();
        self.event(answered, Duration::from_secs(5)).ok_or_else(|| format!("baresip did not answer the command `{command} {params}`"))?;
        let events = self.events.lock().unwrap_or_else(|p| p.into_inner());
        match events.iter().find(|(_, v)| answered(v)) {
            Some((_, v)) if v["ok"] == true => Ok(at),
            Some((_, v)) => Err(format!("baresip refused `{command} {params}`: {v}")),
            None => Err(format!("baresip did not answer the command `{command} {params}`")),
        }
    }

    /// When the first event `pred` accepts came (epoch ms), waiting up to `timeout` for it.
    pub fn event(&mut self, pred: impl Fn(&Value) -> bool, timeout: Duration) -> Option<f64> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(at) = self.events.lock().unwrap_or_else(|p| p.into_inner()).iter().find(|(_, v)| pred(v)).map(|(at, _)| *at) {
                return Some(at);
            }
            if Instant::now() >= deadline || !self.running.service.is_running() {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The decoded audio of its call, once the call has started.
    pub fn decoded_wav(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.dump_dir).ok()?.flatten().map(|e| e.path()).find(|p| p.to_string_lossy().ends_with("-dec.wav"))
    }

    pub fn stop(self) {
        let _ = self.ctl.shutdown(std::net::Shutdown::Both);
        self.running.stop();
    }
}

#[cfg(test)]
mod native_tests {
    use super::*;

    #[test]
    fn linphone_stamps_read_as_utc_epoch_ms() {
        assert_eq!(log_stamp("1970-01-01 00:00:01:250 x"), Some(1250.0));
        assert_eq!(log_stamp("2026-11-26 04:32:42:932 liblinphone"), Some(1_795_667_562_932.0));
        assert_eq!(log_stamp("INVITE sip:x SIP/2.0"), None);
        assert_eq!(log_stamp("2026-11-26"), None);
    }
}
