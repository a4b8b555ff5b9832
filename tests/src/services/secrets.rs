//! A private D-Bus session bus with gnome-keyring's Secret Service, unlocked,
//! so `keyring` stores and reads secrets for real and `secret-tool` can check
//! them from outside. Nothing touches the user's own keyring.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{require_program, HarnessError, Service};

#[derive(Debug)]
pub struct SecretService {
    // Field order: the keyring daemon stops before its bus.
    _keyring: Service,
    _bus: Service,
    bus_address: String,
    home: PathBuf,
    runtime_dir: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn start() -> Result<SecretService, HarnessError> {
    let dbus = require_program("dbus-daemon", "dbus")?;
    let keyring = require_program("gnome-keyring-daemon", "gnome-keyring")?;
    require_program("secret-tool", "libsecret-tools")?;
    let dir = tempfile::Builder::new().prefix("homeline-secrets-").tempdir().map_err(HarnessError::io("creating a temp dir"))?;
    let home = dir.path().join("home");
    let runtime_dir = dir.path().join("run");
    for d in [&home, &runtime_dir] {
        std::fs::create_dir_all(d).map_err(HarnessError::io("creating keyring folders"))?;
    }
    let socket = dir.path().join("bus");
    let bus_address = format!("unix:path={}", socket.display());

    let mut cmd = Command::new(dbus);
    cmd.args(["--session", "--nofork", "--nopidfile", "--nosyslog"]).arg(format!("--address={bus_address}"));
    let mut bus = Service::spawn("dbus-daemon", cmd, &dir.path().join("dbus.log"))?;
    let probe = socket.clone();
    bus.wait_ready(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&probe).is_ok())?;

    // --unlock reads the login keyring's password from stdin.
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "printf 'homeline-test' | exec {} --foreground --unlock --components=secrets",
            keyring.display()
        ))
        .env("DBUS_SESSION_BUS_ADDRESS", &bus_address)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("GNOME_KEYRING_CONTROL");
    let mut daemon = Service::spawn("gnome-keyring-daemon", cmd, &dir.path().join("gnome-keyring.log"))?;
    let address = bus_address.clone();
    daemon.wait_ready(Duration::from_secs(10), || secrets_service_owned(&address))?;
    Ok(SecretService { _keyring: daemon, _bus: bus, bus_address, home, runtime_dir, _dir: dir })
}

fn secrets_service_owned(bus_address: &str) -> bool {
    Command::new("dbus-send")
        .args(["--session", "--print-reply", "--dest=org.freedesktop.DBus", "/org/freedesktop/DBus"])
        .args(["org.freedesktop.DBus.NameHasOwner", "string:org.freedesktop.secrets"])
        .env("DBUS_SESSION_BUS_ADDRESS", bus_address)
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("boolean true"))
        .unwrap_or(false)
}

impl SecretService {
    pub fn bus_address(&self) -> &str {
        &self.bus_address
    }

    /// Environment a client process needs to reach this Secret Service.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("DBUS_SESSION_BUS_ADDRESS".into(), self.bus_address.clone()),
            ("HOME".into(), self.home.display().to_string()),
            ("XDG_RUNTIME_DIR".into(), self.runtime_dir.display().to_string()),
        ]
    }

    /// `secret-tool lookup attr value ...`: the secret, if one matches.
    pub fn lookup(&self, attributes: &[(&str, &str)]) -> Result<Option<String>, HarnessError> {
        let mut cmd = Command::new("secret-tool");
        cmd.arg("lookup");
        for (k, v) in attributes {
            cmd.args([k, v]);
        }
        let out = cmd.envs(self.env()).output().map_err(HarnessError::io("running secret-tool"))?;
        // secret-tool exits 1 with no output when nothing matches.
        if out.status.success() {
            Ok(Some(String::from_utf8_lossy(&out.stdout).into_owned()))
        } else {
            Ok(None)
        }
    }
}
