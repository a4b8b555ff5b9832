//! Issue 6's tray: while Homeline sits in the tray, WebKit is not in memory
//! at all (the app's 200 MB window is a process of its own, started when the
//! user opens it and gone when they close it), and the running app stays the
//! one instance. The real app, launched directly (no WebDriver), in a private
//! home under Xvfb:
//! - started in the tray (`--minimised`): no process of the app maps WebKit;
//! - a second launch (the menu, a clicked link) exits at once and the window
//!   appears;
//! - the window's process ends (closed): WebKit leaves memory, the app keeps
//!   running, and the next launch opens the window again.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use homeline_tests::process::Service;
use homeline_tests::services::desktop::{log_has, window_shown};
use homeline_tests::services::{desktop, secrets};
use homeline_tests::{require_program, wait_until};

const WAIT: Duration = Duration::from_secs(30);

/// The process and all its descendants.
fn tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter_map(|pid| {
                    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                    // "pid (comm) state ppid …": comm may hold spaces.
                    let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
                    Some((pid, ppid))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut all = vec![root];
    let mut i = 0;
    while i < all.len() {
        let parent = all[i];
        all.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    all
}

/// The processes of `root`'s tree that have WebKit's library mapped.
fn with_webkit(root: u32) -> Vec<String> {
    tree(root)
        .into_iter()
        .filter(|pid| std::fs::read_to_string(format!("/proc/{pid}/maps")).is_ok_and(|m| m.contains("libwebkit2gtk")))
        .map(|pid| {
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            format!("{pid} {}", String::from_utf8_lossy(&cmdline).replace('\0', " ").trim())
        })
        .collect()
}

/// The window's process (`homeline-window`) in `root`'s tree.
fn window_process(root: u32) -> Option<u32> {
    tree(root)
        .into_iter()
        .find(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|exe| exe.file_name().is_some_and(|n| n == "homeline-window")))
}

#[test]
fn in_the_tray_webkit_is_not_in_memory_and_the_window_comes_and_goes_as_a_process_of_its_own() {
    require_program("xdotool", "xdotool").unwrap_or_else(|e| panic!("{e}"));
    let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");
    let home = desktop::PrivateHome::new().expect("private home");
    let env = home.env(secret_service.env());
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let logs = tempfile::tempdir().expect("temp dir");
    let app_binary = homeline_tests::built_binary("homeline");
    let command = |args: &[&str]| {
        let mut cmd = Command::new(&app_binary);
        cmd.args(args)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DISPLAY", xvfb.display())
            .env("HOMELINE_LOG", "info")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    };

    // ---- In the tray: no WebKit anywhere --------------------------------------
    let log = logs.path().join("app.log");
    let mut app = Service::spawn("homeline app (in the tray)", command(&["--minimised"]), &log).expect("launch the app");
    let root = app.pid().expect("the app runs");
    app.wait_ready(WAIT, || log_has(&log, " running (installed as ")).expect("the app starts in the tray");
    assert!(!window_shown(xvfb.display()), "started with --minimised, the window showed anyway");
    assert_eq!(with_webkit(root), Vec::<String>::new(), "in the tray no process of the app may hold WebKit");
    assert!(window_process(root).is_none(), "no window process while in the tray");

    // ---- A second launch hands over and the window opens ----------------------
    for round in 1..=2 {
        let mut second = command(&[]).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).spawn().expect("second launch");
        assert!(
            wait_until(Duration::from_secs(10), || matches!(second.try_wait(), Ok(Some(_)))),
            "round {round}: the second launch kept running instead of handing over"
        );
        assert!(second.wait().expect("second launch status").success(), "round {round}: the second launch failed");
        assert!(wait_until(WAIT, || window_shown(xvfb.display())), "round {round}: the window did not open\n{}", app.log_tail(30));
        let window = window_process(root).unwrap_or_else(|| panic!("round {round}: the window is not a process of the app"));
        assert!(!with_webkit(root).is_empty(), "round {round}: the open window runs WebKit");
        assert!(
            !std::fs::read_to_string(format!("/proc/{root}/maps")).unwrap_or_default().contains("libwebkit2gtk"),
            "round {round}: the engine's process must never map WebKit"
        );

        // ---- The window's process ends: WebKit leaves, the app stays -----------
        let _ = Command::new("kill").arg(window.to_string()).status();
        assert!(
            wait_until(WAIT, || with_webkit(root).is_empty() && !window_shown(xvfb.display())),
            "round {round}: after the window closed WebKit is still in memory: {:?}",
            with_webkit(root)
        );
        assert!(app.is_running(), "round {round}: closing the window ended the app\n{}", app.log_tail(30));
        assert!(wait_until(WAIT, || log_has(&log, "dialer window closed")), "round {round}: the app did not notice the window closing");
    }
    app.stop();
}
