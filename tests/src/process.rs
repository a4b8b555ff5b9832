//! Starting, watching and stopping the processes behind each service.

use std::fs::File;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("`{program}` is not installed: install the Debian package `{package}` (or run `make test`, which installs everything)")]
    MissingProgram { program: String, package: String },
    #[error("{service} failed to start: {reason}\n--- last lines of its log ({log}) ---\n{tail}")]
    StartFailed { service: String, reason: String, log: String, tail: String },
    #[error("I/O error while {doing}: {source}")]
    Io { doing: String, #[source] source: std::io::Error },
}

impl HarnessError {
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |source| HarnessError::Io { doing, source }
    }
}

/// Find `program` on PATH (or as an absolute path) or explain which package provides it.
pub fn require_program(program: &str, package: &str) -> Result<PathBuf, HarnessError> {
    let candidate = Path::new(program);
    if candidate.is_absolute() && candidate.exists() {
        return Ok(candidate.to_path_buf());
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    // Debian keeps daemons in sbin, which a non-root PATH may lack.
    let extra = [PathBuf::from("/usr/sbin"), PathBuf::from("/sbin")];
    std::env::split_paths(&path)
        .chain(extra)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
        .ok_or_else(|| HarnessError::MissingProgram { program: program.into(), package: package.into() })
}

/// A loopback TCP port that was free a moment ago.
pub fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(0)
}

/// A loopback port free for both UDP and TCP (SIP listens on both).
pub fn free_udp_port() -> u16 {
    for _ in 0..50 {
        let Ok(sock) = UdpSocket::bind("127.0.0.1:0") else { continue };
        let Ok(addr) = sock.local_addr() else { continue };
        if TcpListener::bind(("127.0.0.1", addr.port())).is_ok() {
            return addr.port();
        }
    }
    0
}

/// Poll `check` every 20 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut check: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if check() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A running service process. Dropping it stops the process (SIGTERM, then
/// SIGKILL after a grace period) and its whole process group.
#[derive(Debug)]
pub struct Service {
    pub name: String,
    pub log_path: PathBuf,
    child: Option<Child>,
}

impl Service {
    /// Spawn `cmd` with stdout and stderr going to `log_path`, in its own process group.
    pub fn spawn(name: &str, mut cmd: Command, log_path: &Path) -> Result<Service, HarnessError> {
        use std::os::unix::process::CommandExt;
        let log = File::create(log_path).map_err(HarnessError::io(format!("creating {}", log_path.display())))?;
        let log_err = log.try_clone().map_err(HarnessError::io("cloning a log handle"))?;
        cmd.stdin(Stdio::null()).stdout(log).stderr(log_err).process_group(0);
        let child = cmd.spawn().map_err(|e| HarnessError::StartFailed {
            service: name.into(),
            reason: format!("could not execute {:?}: {e}", cmd.get_program()),
            log: log_path.display().to_string(),
            tail: String::new(),
        })?;
        Ok(Service { name: name.into(), log_path: log_path.to_path_buf(), child: Some(child) })
    }

    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// True while the process has not exited.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.as_mut().map(|c| c.try_wait()), Some(Ok(None)))
    }

    /// The last lines of the service's log, for error messages.
    pub fn log_tail(&self, lines: usize) -> String {
        log_tail(&self.log_path, lines)
    }

    /// Build a StartFailed error carrying this service's log.
    pub fn failed(&self, reason: impl Into<String>) -> HarnessError {
        HarnessError::StartFailed {
            service: self.name.clone(),
            reason: reason.into(),
            log: self.log_path.display().to_string(),
            tail: self.log_tail(40),
        }
    }

    /// Wait until `ready` holds; fail with the log if the process dies or time runs out.
    pub fn wait_ready(&mut self, timeout: Duration, mut ready: impl FnMut() -> bool) -> Result<(), HarnessError> {
        let mut died = false;
        let ok = wait_until(timeout, || {
            if !self.is_running() {
                died = true;
                return true;
            }
            ready()
        });
        if died {
            return Err(self.failed("the process exited during start-up"));
        }
        if !ok {
            return Err(self.failed(format!("not ready after {timeout:?}")));
        }
        Ok(())
    }

    /// Freeze the whole process group (SIGSTOP) or thaw it (SIGCONT): a
    /// server that hangs with its sockets still open, as behind a dead NAT.
    pub fn freeze(&self, frozen: bool) {
        if let Some(pid) = self.pid() {
            signal_group(pid as i32, if frozen { "STOP" } else { "CONT" });
        }
    }

    /// Stop the process group: SIGTERM, wait up to 3 s, then SIGKILL.
    pub fn stop(&mut self) {
        let Some(mut child) = self.child.take() else { return };
        let pgid = child.id() as i32;
        signal_group(pgid, "TERM");
        let deadline = Instant::now() + Duration::from_secs(3);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                // Children that ignored TERM are still in the group.
                signal_group(pgid, "KILL");
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        signal_group(pgid, "KILL");
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

fn signal_group(pgid: i32, signal: &str) {
    // `kill -SIG -- -PGID` reaches daemons that forked inside the group.
    let _ = Command::new("kill")
        .args([&format!("-{signal}"), "--", &format!("-{pgid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

pub fn log_tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Run `start` up to `attempts` times while it fails because a port that was
/// free a moment ago got taken meanwhile (tests run in parallel and race for
/// ports); any other failure is returned at once.
pub fn retry_on_port_clash<T>(
    attempts: usize,
    mut start: impl FnMut() -> Result<T, HarnessError>,
) -> Result<T, HarnessError> {
    let mut attempt = 1;
    loop {
        match start() {
            Err(HarnessError::StartFailed { reason, tail, .. })
                if attempt < attempts && (reason.contains("in use") || tail.contains("in use")) =>
            {
                attempt += 1;
            }
            other => return other,
        }
    }
}
