//! The login item ("Start at login"): on Linux an XDG autostart entry,
//! `~/.config/autostart/Homeline.desktop`, that starts the main `homeline`
//! binary with `--minimised` (in the tray, no window).
//!
//! Written by `auto-launch` exactly as tauri-plugin-autostart 2.5.1 wrote it
//! before the app was split in two processes (same app name, path and
//! argument), so the entries of existing installs stay the app's own: turning
//! the preference off removes them, turning it on rewrites the same file.

use auto_launch::{AutoLaunch, AutoLaunchBuilder};

use crate::prefs::MINIMISED_ARG;

/// The entry's name (and file name): the product name the Tauri plugin used
/// (`package_info().name`, "productName" in tauri.conf.json).
pub const APP_NAME: &str = "Homeline";

/// The main binary, which the host sits beside.
const MAIN_BINARY: &str = "homeline";

/// Add (`true`) or remove (`false`) the login item. The error is the reason
/// only ("Permission denied (os error 13)"): the caller says what failed.
pub fn set(enabled: bool) -> Result<(), String> {
    let launcher = launcher()?;
    guarded(|| if enabled { launcher.enable() } else { launcher.disable() })
}

/// Whether the login item is there.
pub fn enabled() -> Result<bool, String> {
    let launcher = launcher()?;
    guarded(|| launcher.is_enabled())
}

fn launcher() -> Result<AutoLaunch, String> {
    let path = app_path()?;
    AutoLaunchBuilder::new()
        .set_app_name(APP_NAME)
        .set_app_path(&path)
        .set_args(&[MINIMISED_ARG])
        .build()
        .map_err(|e| e.to_string())
}

/// `auto-launch` panics when there is no home folder: say it instead.
fn guarded<T>(f: impl FnOnce() -> auto_launch::Result<T> + std::panic::UnwindSafe) -> Result<T, String> {
    match std::panic::catch_unwind(f) {
        Ok(result) => result.map_err(|e| e.to_string()),
        Err(_) => Err("there is no home folder".into()),
    }
}

/// What the entry starts: the AppImage when the app runs from one (as the
/// plugin did), else the `homeline` binary beside this process's own.
fn app_path() -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| format!("its own program file is unknown: {e}"))?;
    if let Some(appimage) = std::env::var_os("APPIMAGE").and_then(|p| p.into_string().ok()) {
        // Only when this process really runs from the mounted AppImage.
        let mount = format!("{}/.mount_", std::env::temp_dir().display());
        if exe.display().to_string().starts_with(&mount) {
            return Ok(appimage);
        }
    }
    // `with_file_name` also drops the " (deleted)" Linux appends after an
    // update replaced the running file.
    Ok(exe.with_file_name(MAIN_BINARY).display().to_string())
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// Set in the child run of `the_login_item_is_written_and_removed`: its HOME.
    const CHILD_HOME: &str = "HOMELINE_AUTOSTART_TEST_HOME";

    /// `auto-launch` writes under `$HOME/.config/autostart` (it does not read
    /// XDG_CONFIG_HOME, nor did the plugin). The environment is the whole
    /// process's, so the test runs again in a child process of its own with
    /// HOME set to a fresh folder, rather than changing the HOME of the other
    /// tests running beside it.
    #[test]
    fn the_login_item_is_written_and_removed() {
        if let Some(home) = std::env::var_os(CHILD_HOME) {
            let file = std::path::Path::new(&home).join(".config/autostart/Homeline.desktop");
            assert_eq!(enabled(), Ok(false));
            set(true).expect("enable");
            let text = std::fs::read_to_string(&file).expect("the entry is written");
            assert!(text.contains("Name=Homeline\n"), "{text}");
            let exec = text.lines().find_map(|l| l.strip_prefix("Exec=")).expect("an Exec line");
            assert!(exec.ends_with("/homeline --minimised"), "starts the main binary, in the tray: {exec}");
            assert_eq!(enabled(), Ok(true));
            set(true).expect("enabling again is fine");
            set(false).expect("disable");
            assert!(!file.exists(), "the entry is removed");
            assert_eq!(enabled(), Ok(false));
            set(false).expect("disabling again is fine");
            return;
        }
        let home = std::env::temp_dir().join(format!("homeline-autostart-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&home);
        std::fs::create_dir_all(home.join(".config")).expect("temp home");
        let child = std::process::Command::new(std::env::current_exe().expect("the test binary"))
            .args(["--exact", "autostart::tests::the_login_item_is_written_and_removed", "--test-threads=1"])
            .env("HOME", &home)
            .env(CHILD_HOME, &home)
            .env_remove("APPIMAGE")
            .output()
            .expect("run the child");
        let left = std::fs::read_dir(home.join(".config/autostart")).map(|d| d.count()).unwrap_or(0);
        let _ = std::fs::remove_dir_all(&home);
        let out = String::from_utf8_lossy(&child.stdout);
        assert!(child.status.success(), "the child run failed: {out}{}", String::from_utf8_lossy(&child.stderr));
        assert!(out.contains("1 passed"), "the child ran the test: {out}");
        assert_eq!(left, 0, "nothing left in the temp home's autostart folder");
    }

    #[test]
    fn the_entry_starts_the_main_binary_beside_this_one() {
        let path = app_path().expect("a path");
        assert!(path.ends_with("/homeline"), "{path}");
        let exe = std::env::current_exe().expect("exe");
        assert_eq!(std::path::Path::new(&path).parent(), exe.parent());
    }
}
