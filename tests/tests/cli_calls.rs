//! `homeline-cli phone` as a user scripts it: two processes register at the
//! harness Kamailio over WSS; one dials, the other answers by itself; the
//! caller sends digits and hangs up. Everything is read from the JSON lines.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use homeline_tests::cli::{call_state_is as state_is, phone_args, CliPhone};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};

/// `homeline-cli phone` for `user` over WSS, offering loopback candidates.
fn start_phone(k: &Kamailio, user: &str, password: &str, extra: &[&str]) -> CliPhone {
    let mut cmd = std::process::Command::new(homeline_tests::built_binary("homeline-cli"));
    cmd.args(phone_args(k, user)).args(["--loopback", "--for", "60"]).args(extra);
    CliPhone::spawn(cmd, password).expect("start homeline-cli")
}

#[test]
fn two_cli_phones_call_answer_send_digits_and_hang_up() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let mut bob = start_phone(&k, "bob", "b-pass", &["--auto-answer"]);
    let mut alice = start_phone(&k, "alice", "a-pass", &[]);
    for cli in [&bob, &alice] {
        cli.expect("registered", |v| v["type"] == "registrationChanged" && v["state"] == "registered");
    }

    alice.send("dial bob");
    let incoming = bob.expect("incoming call", |v| state_is(v, "incoming"));
    assert_eq!(incoming["remote"], "alice");
    alice.expect("the call connected", |v| state_is(v, "active"));
    bob.expect("bob's side connected", |v| state_is(v, "active"));

    alice.send("dtmf 42");
    let d1 = bob.expect("first digit", |v| v["type"] == "dtmfReceived");
    let d2 = bob.expect("second digit", |v| v["type"] == "dtmfReceived");
    assert_eq!((d1["digit"].as_str(), d2["digit"].as_str()), (Some("4"), Some("2")));

    alice.send("mute");
    let muted = alice.expect("the call shows muted", |v| v["type"] == "callChanged" && v["muted"] == true);
    assert_eq!(muted["state"], "active");
    alice.send("unmute");
    alice.expect("the call shows unmuted", |v| v["type"] == "callChanged" && v["muted"] == false);

    alice.send("hangup");
    let ended = bob.expect("the call ended", |v| state_is(v, "ended"));
    assert_eq!(ended["by"], "remote");
    alice.expect("alice's side ended", |v| state_is(v, "ended"));

    // An unknown command is answered in words, in order with the events.
    bob.send("frobnicate");
    bob.expect("a commandFailed line", |v| v["type"] == "commandFailed" && v["command"] == "frobnicate");
    for cli in [&mut alice, &mut bob] {
        cli.send("quit");
    }
    alice.expect("unregistered on quit", |v| v["type"] == "registrationChanged" && v["state"] == "unregistered");
}

#[test]
fn a_reader_that_went_away_is_not_a_crash() {
    // `homeline-cli --help | head -0`: the pipe's reader is gone before the first line.
    let (reader, writer) = std::io::pipe().expect("a pipe");
    drop(reader);
    let status = std::process::Command::new(homeline_tests::built_binary("homeline-cli"))
        .arg("--help")
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .output()
        .expect("run homeline-cli");
    let stderr = String::from_utf8_lossy(&status.stderr);
    assert!(status.status.success(), "exit {:?}, stderr: {stderr}", status.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}
