//! The .deb a user installs: `apt install ./homeline_*.deb` pulls its runtime
//! libraries, puts the app, its desktop entry (with the tel:/sip:/sips:/callto:
//! handlers) and its icons in place; the installed app starts; `apt remove`
//! leaves nothing of it under /usr.
//!
//! Needs root (or sudo without a password) to install packages: the test
//! fails saying so otherwise. The package is built by `scripts/release.sh`
//! (release profile, incremental in the shared target folder).

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_tests::services::update_server::{installed_version, InstalledPackage};
use homeline_tests::services::{desktop, secrets, update_server};

#[test]
fn deb_installs_with_apt_launches_and_removes_cleanly() {
    let started = Instant::now();
    update_server::root_prefix();
    let key = update_server::test_key().expect("test update key");
    let out_dir = tempfile::Builder::new().prefix("homeline-deb-").tempdir().unwrap();
    let deb = update_server::build_release(out_dir.path(), &key, "0.1.0", "http://127.0.0.1:9/", "").expect("built .deb");
    let built = started.elapsed();

    // What dpkg will be told: runtime libraries, and the desktop integration files.
    let control = Command::new("dpkg-deb").args(["-f"]).arg(&deb).arg("Depends").output().unwrap();
    let depends = String::from_utf8_lossy(&control.stdout).into_owned();
    for lib in ["libwebkit2gtk-4.1-0", "libgtk-3-0", "libayatana-appindicator3-1", "libasound2"] {
        assert!(depends.contains(lib), "the .deb does not depend on {lib}: Depends: {depends}");
    }
    let listing = String::from_utf8_lossy(&Command::new("dpkg-deb").arg("-c").arg(&deb).output().unwrap().stdout).into_owned();
    for file in [" usr/bin/homeline\n", " usr/bin/homeline-window\n", " usr/share/applications/Homeline.desktop\n", " usr/share/icons/hicolor/128x128/apps/homeline.png\n"] {
        assert!(listing.contains(file), "{} is not in the package:\n{listing}", file.trim());
    }

    let installed = InstalledPackage::install(&deb).unwrap_or_else(|e| panic!("apt-get install ./homeline.deb: {e}"));
    assert_eq!(installed_version().as_deref(), Some("0.1.0"));
    let files: Vec<String> = String::from_utf8_lossy(&Command::new("dpkg").args(["-L", "homeline"]).output().unwrap().stdout)
        .lines()
        .map(str::to_owned)
        .collect();

    let desktop_entry = std::fs::read_to_string("/usr/share/applications/Homeline.desktop").expect("desktop entry installed");
    let mime = desktop_entry.lines().find(|l| l.starts_with("MimeType=")).unwrap_or_default().to_owned();
    for scheme in ["tel", "sip", "sips", "callto"] {
        let handler = format!("x-scheme-handler/{scheme}");
        assert!(mime.trim_start_matches("MimeType=").split(';').any(|m| m == handler), "the desktop entry does not open {scheme}: links: {mime:?}");
    }
    assert!(desktop_entry.contains("Exec=homeline"), "desktop entry runs something else:\n{desktop_entry}");

    // The installed app starts and shows its dialer.
    {
        let bus = secrets::start().expect("D-Bus session");
        let home = tempfile::tempdir().unwrap();
        let env = update_server::app_env(&bus, home.path());
        let xvfb = desktop::start_xvfb().expect("Xvfb");
        let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver");
        let session = driver.session(Path::new("/usr/bin/homeline")).expect("the installed app starts");
        session.find("[data-testid=dial-display]", Duration::from_secs(60)).expect("the installed app shows its dialer");
        assert_eq!(session.title().unwrap(), "Homeline");
    }

    update_server::as_root(&["apt-get", "remove", "-y", "homeline"]).unwrap_or_else(|e| panic!("apt-get remove: {e}"));
    drop(installed);
    assert_eq!(installed_version(), None, "homeline is still installed after apt remove");
    let left: Vec<&String> = files.iter().filter(|f| f.starts_with("/usr/") && Path::new(f).is_file()).collect();
    assert!(left.is_empty(), "apt remove left files under /usr: {left:?}");
    eprintln!("package_deb: build {:.0?}, whole test {:.0?}; .deb {} KiB", built, started.elapsed(), std::fs::metadata(&deb).unwrap().len() / 1024);
}
