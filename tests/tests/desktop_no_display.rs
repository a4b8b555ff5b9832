//! Started where there is no display (an SSH session, a CI box), the app says
//! so in one sentence and shows the xvfb-run line instead of a GTK abort.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::process::Command;

#[test]
fn without_a_display_the_app_explains_and_shows_the_xvfb_run_line() {
    let app = homeline_tests::built_binary("homeline");
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(app)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", home.path())
        .output()
        .expect("run the app");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit status; stderr: {stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "one sentence, got: {stderr}");
    assert!(stderr.contains("display"), "{stderr}");
    assert!(stderr.contains("xvfb-run -a"), "the xvfb-run line is shown: {stderr}");
}
