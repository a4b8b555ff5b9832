//! PulseAudio in user mode with null sinks, so cpal opens real input and
//! output streams on a machine with no sound card.
//!
//! Layout: sink `homeline_out` (what the app plays; its monitor is what a
//! test listens to) and sink `homeline_mic` whose monitor is the default
//! source (what the app records; a test plays into `homeline_mic`).
//! Clients find the server through `PULSE_SERVER`; see [`PulseAudio::env`].

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use crate::process::{require_program, HarnessError, Service};

pub const OUTPUT_SINK: &str = "homeline_out";
pub const MIC_SINK: &str = "homeline_mic";

#[derive(Debug)]
pub struct PulseAudio {
    service: Service,
    socket: PathBuf,
    runtime_dir: PathBuf,
    _dir: tempfile::TempDir,
}

pub fn start() -> Result<PulseAudio, HarnessError> {
    let program = require_program("pulseaudio", "pulseaudio")?;
    let dir = tempfile::Builder::new().prefix("homeline-pulse-").tempdir().map_err(HarnessError::io("creating a temp dir"))?;
    let runtime_dir = dir.path().join("run");
    let home = dir.path().join("home");
    for d in [&runtime_dir, &home] {
        std::fs::create_dir_all(d).map_err(HarnessError::io("creating PulseAudio folders"))?;
    }
    let socket = runtime_dir.join("native");
    let script = dir.path().join("default.pa");
    let config = format!(
        "load-module module-native-protocol-unix socket={sock} auth-anonymous=1\n\
         load-module module-null-sink sink_name={OUTPUT_SINK} rate=48000 channels=2 sink_properties=device.description=Homeline-Speaker\n\
         load-module module-null-sink sink_name={MIC_SINK} rate=48000 channels=1 sink_properties=device.description=Homeline-Mic-Feed\n\
         set-default-sink {OUTPUT_SINK}\n\
         set-default-source {MIC_SINK}.monitor\n",
        sock = socket.display()
    );
    std::fs::write(&script, config).map_err(HarnessError::io("writing default.pa"))?;

    let mut cmd = Command::new(program);
    cmd.args(["--daemonize=no", "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no", "--system=false"])
        .args(["--disable-shm=yes", "--realtime=no", "--high-priority=no", "-n", "-F"])
        .arg(&script)
        .env("HOME", &home)
        .env("XDG_RUNTIME_DIR", &runtime_dir)
        .env("XDG_CONFIG_HOME", home.join(".config"))
        .env_remove("PULSE_SERVER")
        .env_remove("DBUS_SESSION_BUS_ADDRESS");
    let mut service = Service::spawn("pulseaudio", cmd, &dir.path().join("pulseaudio.log"))?;
    let probe = socket.clone();
    service.wait_ready(Duration::from_secs(10), || std::os::unix::net::UnixStream::connect(&probe).is_ok())?;
    Ok(PulseAudio { service, socket, runtime_dir, _dir: dir })
}

impl PulseAudio {
    /// `PULSE_SERVER` value for clients.
    pub fn server(&self) -> String {
        format!("unix:{}", self.socket.display())
    }

    /// Environment a client process needs to reach this server.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            ("PULSE_SERVER".into(), self.server()),
            ("XDG_RUNTIME_DIR".into(), self.runtime_dir.display().to_string()),
        ]
    }

    /// Run `pactl` against this server (for example to check sinks).
    pub fn pactl(&self, args: &[&str]) -> Result<String, HarnessError> {
        let program = require_program("pactl", "pulseaudio-utils")?;
        let out = Command::new(program)
            .args(args)
            .env("PULSE_SERVER", self.server())
            .output()
            .map_err(HarnessError::io("running pactl"))?;
        if !out.status.success() {
            return Err(self.service.failed(format!("pactl {args:?}: {}", String::from_utf8_lossy(&out.stderr))));
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}
