//! `homeline-cli phone` as a user scripts it: two processes register at the
//! harness Kamailio over WSS; one dials, the other answers by itself; the
//! caller sends digits and hangs up. Everything is read from the JSON lines.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use serde_json::Value;

fn cli_binary() -> std::path::PathBuf {
    homeline_tests::built_binary("homeline-cli")
}

struct Cli {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<Value>,
}

impl Cli {
    fn start(k: &Kamailio, user: &str, password: &str, extra: &[&str]) -> Cli {
        let mut child = Command::new(cli_binary())
            .args(["phone", "--address", &format!("{user}@{}", k.domain()), "--server", &k.wss_url(), "--ca-file"])
            .arg(k.ca_pem())
            .args(["--loopback", "--for", "60"])
            .args(extra)
            .env("HOMELINE_PASSWORD", password)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start homeline-cli");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<Value>(&line) {
                    let _ = tx.send(v);
                }
            }
        });
        Cli { child, stdin, lines }
    }

    fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("write command");
    }

    /// The first JSON line matching `want` within 15 s.
    fn expect(&self, what: &str, want: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(v) if want(&v) => return v,
                Ok(v) => seen.push(v.to_string()),
                Err(_) => break,
            }
        }
        panic!("no {what} within 15 s; saw:\n{}", seen.join("\n"));
    }
}

impl Drop for Cli {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn state_is(v: &Value, state: &str) -> bool {
    v["type"] == "callChanged" && v["state"] == state
}

#[test]
fn two_cli_phones_call_answer_send_digits_and_hang_up() {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let mut bob = Cli::start(&k, "bob", "b-pass", &["--auto-answer"]);
    let mut alice = Cli::start(&k, "alice", "a-pass", &[]);
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
