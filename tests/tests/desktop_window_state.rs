//! Issue 6: "window size and place remembered". The real app under Xvfb, in a
//! private home: the user moves and resizes the dialer window, then closes it
//! the way a window manager's close button does (WM_DELETE_WINDOW, not a
//! kill); the app stays in the tray, and the window it opens next has the
//! size and place the user gave it. The window is a process of its own that
//! ends when it closes (tests/tests/desktop_tray_process.rs), so what is
//! remembered must survive that process.

// Sending the close request needs Xlib (x11-dl, which the app's global keys
// already build); only this test's `close_like_a_window_manager` is unsafe.
#![allow(unsafe_code)]
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;
use std::time::Duration;

use homeline_tests::process::Service;
use homeline_tests::services::desktop::log_has;
use homeline_tests::services::{desktop, secrets};
use homeline_tests::{require_program, wait_until};

const WAIT: Duration = Duration::from_secs(30);

fn xdotool(display: &str, args: &[&str]) -> String {
    let out = Command::new("xdotool").args(args).env("DISPLAY", display).output().expect("run xdotool");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The dialer window's X id, once it is shown.
fn shown_window(display: &str) -> Option<u64> {
    xdotool(display, &["search", "--onlyvisible", "--name", "^Homeline$"]).lines().next()?.trim().parse().ok()
}

/// (x, y, width, height) as X sees the window.
fn geometry(display: &str, window: u64) -> Option<(i32, i32, u32, u32)> {
    let text = xdotool(display, &["getwindowgeometry", &window.to_string()]);
    let after = |label: &str| text.lines().find_map(|l| l.trim().strip_prefix(label).map(|r| r.trim().to_owned()));
    let position = after("Position:")?;
    let (x, y) = position.split_whitespace().next()?.split_once(',')?;
    let size = after("Geometry:")?;
    let (w, h) = size.split_once('x')?;
    Some((x.parse().ok()?, y.parse().ok()?, w.parse().ok()?, h.parse().ok()?))
}

/// What a window manager's close button sends: WM_PROTOCOLS / WM_DELETE_WINDOW.
fn close_like_a_window_manager(display: &str, window: u64) {
    use x11_dl::xlib;
    let xl = xlib::Xlib::open().expect("libX11 (libx11-6)");
    let name = std::ffi::CString::new(display).expect("display name");
    // SAFETY: a display opened and closed here; the event is a plain C struct
    // zeroed and then filled as Xlib documents for a ClientMessage.
    unsafe {
        let d = (xl.XOpenDisplay)(name.as_ptr());
        assert!(!d.is_null(), "cannot open X display {display}");
        let protocols = (xl.XInternAtom)(d, c"WM_PROTOCOLS".as_ptr(), 0);
        let delete = (xl.XInternAtom)(d, c"WM_DELETE_WINDOW".as_ptr(), 0);
        let mut event: xlib::XEvent = std::mem::zeroed();
        event.client_message.type_ = xlib::ClientMessage;
        event.client_message.send_event = 1;
        event.client_message.display = d;
        event.client_message.window = window;
        event.client_message.message_type = protocols;
        event.client_message.format = 32;
        event.client_message.data.set_long(0, delete as std::os::raw::c_long);
        event.client_message.data.set_long(1, xlib::CurrentTime as std::os::raw::c_long);
        (xl.XSendEvent)(d, window, 0, xlib::NoEventMask, &mut event);
        (xl.XFlush)(d);
        (xl.XCloseDisplay)(d);
    }
}

#[test]
fn the_window_reopens_with_the_size_and_place_the_user_gave_it() {
    require_program("xdotool", "xdotool").unwrap_or_else(|e| panic!("{e}"));
    let secret_service = secrets::start().expect("D-Bus session with gnome-keyring");
    let home = desktop::PrivateHome::new().expect("private home");
    let env = home.env(secret_service.env());
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let display = xvfb.display().to_owned();
    let logs = tempfile::tempdir().expect("temp dir");
    let app_binary = homeline_tests::built_binary("homeline");
    let command = || {
        let mut cmd = Command::new(&app_binary);
        cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("DISPLAY", &display)
            .env("HOMELINE_LOG", "info")
            .env_remove("WAYLAND_DISPLAY");
        cmd
    };

    let log = logs.path().join("app.log");
    let mut app = Service::spawn("homeline app", command(), &log).expect("launch the app");
    let mut window = None;
    assert!(wait_until(WAIT, || { window = shown_window(&display); window.is_some() }), "the window did not open\n{}", app.log_tail(30));
    let window = window.unwrap_or_default();
    let first = geometry(&display, window).expect("the window's geometry");

    // The user makes it their own: somewhere else, another size.
    let wanted = (137, 91, first.2 + 120, first.3 + 40);
    xdotool(&display, &["windowsize", &window.to_string(), &wanted.2.to_string(), &wanted.3.to_string()]);
    xdotool(&display, &["windowmove", &window.to_string(), &wanted.0.to_string(), &wanted.1.to_string()]);
    assert!(
        wait_until(WAIT, || geometry(&display, window) == Some(wanted)),
        "X did not apply the new geometry: {:?}",
        geometry(&display, window)
    );

    // Closed with the close button: the window goes, the app stays in the tray.
    close_like_a_window_manager(&display, window);
    assert!(wait_until(WAIT, || shown_window(&display).is_none()), "the close button did not close the window");
    assert!(wait_until(WAIT, || log_has(&log, "dialer window closed")), "the app did not notice the window closing\n{}", app.log_tail(30));
    assert!(app.is_running(), "closing the window ended the app instead of keeping it in the tray\n{}", app.log_tail(30));

    // Opened again (a second launch, as the menu and the tray's "Open Homeline" do).
    let status = command().stdout(std::process::Stdio::null()).stderr(std::process::Stdio::null()).status().expect("second launch");
    assert!(status.success(), "the second launch failed");
    let mut reopened = None;
    assert!(wait_until(WAIT, || { reopened = shown_window(&display); reopened.is_some() }), "the window did not open again\n{}", app.log_tail(30));
    let reopened = reopened.unwrap_or_default();
    let mut seen = None;
    let restored = wait_until(Duration::from_secs(10), || {
        seen = geometry(&display, reopened);
        seen == Some(wanted)
    });
    assert!(restored, "the window came back at {seen:?} instead of where the user left it, {wanted:?} (first shown at {first:?})");
    app.stop();
}
