//! Homeline's real-service test harness.
//!
//! Every component a test needs (Kamailio, rtpengine, coturn, PulseAudio, a
//! D-Bus session with gnome-keyring, Xvfb + WebDriver) is started here, on
//! loopback, on free ports, in a temporary directory, and stopped by pid when
//! its handle is dropped — also when the test fails or panics.
//!
//! A missing program is an error that says which Debian package to install
//! (`make test` installs them all); no test silently skips.
//!
//! Services are per test: each test owns its instances, so tests can run in
//! parallel and never see each other's state.

pub mod cli;
pub mod process;
pub mod quality;
pub mod services;
pub mod sip_probe;

pub use process::{free_tcp_port, free_udp_port, require_program, wait_until, HarnessError, Service};

/// A binary of this workspace (`homeline`, `homeline-cli`) built next to the
/// running test binary: target/debug/deps/TEST-HASH → target/debug/NAME.
/// `make test` builds them first; a missing one is an error that says so.
pub fn built_binary(name: &str) -> std::path::PathBuf {
    let dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().and_then(|d| d.parent()).map(std::path::Path::to_path_buf))
        .unwrap_or_default();
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: build it with `cargo build -p {}` (make test does)",
        path.display(),
        if name == "homeline-cli" { "homeline-cli" } else { "homeline" }
    );
    path
}

/// The workspace root (where `Cargo.toml`, `tauri.conf.json` and `ui/` live).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| std::path::PathBuf::from("."))
}
