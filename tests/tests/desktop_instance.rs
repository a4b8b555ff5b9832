//! One Homeline at a time: a second launch — which is what clicking a
//! `tel:`/`sip:` link does — hands its link to the running app and exits.
//! (Closing the window to the tray is not driven here: WebKitWebDriver ends
//! the app when its last window closes, whatever the app would do.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_tests::services::{desktop, secrets};

fn app_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline")
}

/// Launch the app a second time, as the desktop does for a clicked link.
fn second_launch(app: &PathBuf, env: &[(String, String)], display: &str, args: &[&str]) -> std::process::ExitStatus {
    let mut child = Command::new(app)
        .args(args)
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DISPLAY", display)
        .spawn()
        .expect("second launch");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(status) = child.try_wait().expect("wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the second launch did not hand over to the running app and exit; it kept running as a second instance");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn clicked_link_goes_to_the_running_app_instead_of_a_second_one() {
    let app = app_binary();
    // Single-instance works over the D-Bus session bus: give the app one.
    let bus = secrets::start().expect("D-Bus session");
    let home = desktop::PrivateHome::new().expect("private home");
    let env = home.env(bus.env());
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let driver = desktop::start_tauri_driver(&xvfb, &env).expect("tauri-driver");
    let session = driver.session(&app).expect("WebDriver session");
    let display = session.find("[data-testid=dial-display]", Duration::from_secs(30)).expect("dialer");

    let status = second_launch(&app, &env, xvfb.display(), &["tel:%2B49%2030%20123456"]);
    assert!(status.success(), "the second launch failed: {status}");
    session
        .wait_text(&display, Duration::from_secs(10), |t| t.trim() == "+4930123456")
        .expect("the running app shows the clicked number");

}
