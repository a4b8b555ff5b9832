//! Calls as desktop notifications, in the real app started in the tray
//! (`--minimised`, launched directly: no WebDriver). A notification server on
//! the harness bus stands for the desktop's (GNOME Shell, KDE, dunst): it
//! records what the app shows and clicks its buttons. Bob is `homeline-cli`.
//! - bob calls: "bob is calling" with Answer and Decline; Decline ends his
//!   call as declined;
//! - bob calls and gives up: the ringing notice is taken down (no stale
//!   "is calling" with an Answer button left on screen);
//! - bob calls: Answer in the notice connects the call;
//! - with Do Not Disturb on, bob's call is refused and "Missed call from bob
//!   (Do Not Disturb)" is shown.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod app_home;

use std::process::Command;
use std::time::Duration;

use app_home::{configure, AliceHome};
use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::services::desktop;
use homeline_tests::services::notifications::{self, Notice, Request};

const ALICE_PASSWORD: &str = "alice-notify-secret-3317";
const BOB_PASSWORD: &str = "bob-notify-secret-8825";
const WAIT: Duration = Duration::from_secs(20);

fn incoming_notice(r: &Request) -> Option<Notice> {
    match r {
        Request::Notify(n) if n.category.as_deref() == Some("call.incoming") => Some(n.clone()),
        _ => None,
    }
}

#[test]
fn incoming_calls_are_notified_and_answered_or_declined_from_the_notice() {
    let setup = AliceHome::start(ALICE_PASSWORD, BOB_PASSWORD);
    let k = &setup.kamailio;
    setup.save_alice(ALICE_PASSWORD, WAIT, |_| {});

    let notices = notifications::start(setup.secret_service.bus_address()).expect("notification server on the test bus");
    let xvfb = desktop::start_xvfb().expect("Xvfb");
    let logs = tempfile::tempdir().expect("temp dir");
    // Each part starts the app afresh in the tray: a ringing call opens the
    // window, and a notice is only shown while no window is in front.
    let mut launches = 0;
    let mut launch = || {
        launches += 1;
        let log = logs.path().join(format!("app-{launches}.log"));
        setup.launch_in_tray(xvfb.display(), &log, WAIT)
    };

    let mut bob_cmd = Command::new(homeline_tests::built_binary("homeline-cli"));
    bob_cmd.args(phone_args(k, "bob")).args(["--loopback", "--for", "120"]);
    let mut bob = CliPhone::spawn(bob_cmd, BOB_PASSWORD).expect("start homeline-cli");
    bob.expect("bob registered", |v| registration_is(v, "registered"));

    // ---- Decline ------------------------------------------------------------
    let mut app = launch();
    bob.send("dial alice");
    let ringing = incoming_notice(&notices.expect(WAIT, "incoming-call notice", |r| incoming_notice(r).is_some())).unwrap();
    assert_eq!(ringing.summary, "bob is calling", "{ringing:?}");
    assert_eq!(ringing.app_name, "Homeline");
    assert_eq!(ringing.actions, ["answer", "decline"], "the notice offers Answer and Decline: {ringing:?}");
    notices.click(ringing.id, "decline");
    let ended = bob.expect("bob's call ends", |v| call_state_is(v, "ended"));
    assert_eq!(ended["by"], "remote", "alice declined: {ended}");

    app.stop();

    // ---- The caller gives up: the ringing notice goes, a missed call comes ----
    let mut app = launch();
    bob.send("dial alice");
    let ringing = incoming_notice(&notices.expect(WAIT, "incoming-call notice", |r| incoming_notice(r).is_some())).unwrap();
    bob.expect("alice's phone rings", |v| call_state_is(v, "ringing"));
    bob.send("hangup");
    // (The missed call itself is told only when no window is in front; the
    // ringing call opened one here. Do Not Disturb below tells one for sure.)
    match notices.expect(WAIT, "the ringing notice taken down", |r| matches!(r, Request::Close { .. } | Request::Notify(_))) {
        Request::Close { id } => assert_eq!(id, ringing.id, "the ringing notice is the one taken down"),
        other => panic!("the ringing notice must be taken down first; got {other:?} (a declined call is not a missed call)\n{}", app.log_tail(60)),
    }

    app.stop();

    // ---- Answer ---------------------------------------------------------------
    let mut app = launch();
    bob.send("dial alice");
    let ringing = incoming_notice(&notices.expect(WAIT, "incoming-call notice", |r| incoming_notice(r).is_some())).unwrap();
    notices.click(ringing.id, "answer");
    bob.expect("the call connects when alice clicks Answer", |v| call_state_is(v, "active"));
    bob.send("hangup");
    bob.expect("bob's call ends", |v| call_state_is(v, "ended"));
    assert!(app.is_running(), "the app still runs:\n{}", app.log_tail(40));
    app.stop();

    // ---- Do Not Disturb: the call is refused and told as missed ---------------
    configure(|engine| async move { engine.set_do_not_disturb(true).await.expect("Do Not Disturb on") });
    let mut app = launch();
    bob.send("dial alice");
    let refused = bob.expect("bob's call is refused", |v| call_state_is(v, "ended"));
    assert!(refused["connectedAt"].is_null(), "refused, never connected: {refused}");
    let missed = match notices.expect(WAIT, "a missed-call notice", |r| matches!(r, Request::Notify(_))) {
        Request::Notify(n) => n,
        other => panic!("{other:?}"),
    };
    assert_eq!(missed.summary, "Missed call from bob", "{missed:?}");
    assert!(missed.body.to_lowercase().ends_with("(do not disturb)"), "the notice says why it did not ring: {missed:?}");
    assert_eq!(missed.category.as_deref(), Some("call.unanswered"), "{missed:?}");
    assert!(missed.actions.is_empty(), "nothing to answer on a missed call: {missed:?}");
    app.stop();
}
