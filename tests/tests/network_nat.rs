//! Calls across a real (namespaced) network, issue 8: a phone behind a NAT
//! router calls a phone on the server's network through Kamailio, with STUN,
//! and with every UDP flow blocked but the one to the TURN server; mid-call
//! the home phone gets a new address, or its link goes down for a while.
//!
//! Topology (all namespaces made by the test, deleted at the end):
//!
//! ```text
//!  [home] 10.77.2.2 ── 10.77.2.1 [router: masquerade] 10.77.1.254 ── 10.77.1.1 [server]
//!  alice (homeline-cli)                                   Kamailio, coturn, bob (homeline-cli)
//! ```

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod engines;

use std::path::{Path, PathBuf};

use homeline_media::goertzel::{goertzel_power, mean_power};
use homeline_media::wav::read_wav_48k_mono;
use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::services::coturn;
use homeline_tests::services::kamailio::Kamailio;
use homeline_tests::services::netns::{NatLab, Netns, LAB_SERVER_IP};

const SERVER_IP: std::net::Ipv4Addr = LAB_SERVER_IP;

type Network = NatLab;

fn network() -> Network {
    NatLab::start(&[("alice", "a-pass"), ("bob", "b-pass")]).unwrap_or_else(|e| panic!("the namespace network: {e}"))
}

fn cli_binary() -> PathBuf {
    homeline_tests::built_binary("homeline-cli")
}

/// A phone inside `ns` with a tone as its microphone and its recordings in `record_dir`.
fn phone(ns: &Netns, k: &Kamailio, user: &str, password: &str, mic: &Path, record_dir: &Path, extra: &[&str]) -> CliPhone {
    std::fs::create_dir_all(record_dir).unwrap();
    let mut cmd = ns.command(cli_binary());
    cmd.args(phone_args(k, user)).arg("--mic").arg(mic).arg("--record-dir").arg(record_dir).args(["--for", "60"]).args(extra);
    if extra.contains(&"--turn") {
        cmd.env("HOMELINE_TURN_PASSWORD", coturn::PASSWORD);
    }
    let phone = CliPhone::spawn(cmd, password).expect("start homeline-cli");
    phone.expect("registered", |v| registration_is(v, "registered"));
    phone
}

/// Alice (home, behind the NAT) calls Bob (server network) and they talk for
/// a few seconds; returns the share of frames each heard the other's tone in.
fn call_and_listen(net: &Network, alice_extra: &[&str], dir: &Path) -> (f64, f64) {
    let (alice_mic, bob_mic) = (engines::tone_wav(dir, 600.0), engines::tone_wav(dir, 1_500.0));
    let (alice_rec, bob_rec) = (dir.join("alice"), dir.join("bob"));
    let bob = phone(&net.server, &net.kamailio, "bob", "b-pass", &bob_mic, &bob_rec, &["--auto-answer"]);
    let mut alice = phone(&net.home, &net.kamailio, "alice", "a-pass", &alice_mic, &alice_rec, alice_extra);
    alice.send("dial bob");
    alice.expect("the call connected", |v| call_state_is(v, "active"));
    bob.expect("bob's side connected", |v| call_state_is(v, "active"));
    // Three seconds of conversation, measured by the recordings' length
    // rather than by sleeping: the recorder writes what arrives.
    std::thread::sleep(std::time::Duration::from_secs(3));
    alice.send("hangup");
    alice.expect("alice's side ended", |v| call_state_is(v, "ended"));
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
    (heard_share_at_end(&alice_rec, 1_500.0, 2), heard_share_at_end(&bob_rec, 600.0, 2))
}

#[test]
fn behind_a_nat_with_stun_the_call_carries_audio_both_ways() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let stun = net.coturn.stun_url();
    let (alice_heard, bob_heard) = call_and_listen(&net, &["--stun", &stun], dir.path());
    assert!(alice_heard > 0.8, "alice (behind the NAT) heard bob in {:.0} % of frames", alice_heard * 100.0);
    assert!(bob_heard > 0.8, "bob heard alice (behind the NAT) in {:.0} % of frames", bob_heard * 100.0);
}

#[test]
fn with_all_udp_blocked_but_turn_the_call_goes_through_the_relay() {
    let net = network();
    // The router forwards UDP only to the TURN server's port: no direct media
    // path exists, only the relay.
    let turn_port = net.coturn.addr().port();
    net.router
        .filter_forwarded(&format!("iifname \"{lan}\" udp dport != {turn_port} drop", lan = net.lan.b.interface))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let turn = net.coturn.turn_url();
    let (alice_heard, bob_heard) =
        call_and_listen(&net, &["--turn", &turn, "--turn-user", net.coturn.username()], dir.path());
    assert!(alice_heard > 0.8, "alice heard bob through TURN in {:.0} % of frames", alice_heard * 100.0);
    assert!(bob_heard > 0.8, "bob heard alice through TURN in {:.0} % of frames", bob_heard * 100.0);
}

/// Share of 20 ms frames where `hz` dominates in the last `seconds` of the
/// only recording in `record_dir`.
fn heard_share_at_end(record_dir: &Path, hz: f32, seconds: usize) -> f64 {
    let files: Vec<PathBuf> = std::fs::read_dir(record_dir).unwrap().filter_map(|e| e.ok().map(|e| e.path())).collect();
    assert_eq!(files.len(), 1, "one recording expected in {}: {files:?}", record_dir.display());
    let samples = read_wav_48k_mono(&files[0]).expect("read recording");
    let tail = &samples[samples.len().saturating_sub(seconds * 48_000)..];
    let frames: Vec<&[i16]> = tail.chunks_exact(960).collect();
    assert!(frames.len() >= 25, "the recording holds only {} samples", samples.len());
    let heard = frames.iter().filter(|f| mean_power(f) > 1e-4 && goertzel_power(f, 48_000, hz) > 0.5 * mean_power(f)).count();
    heard as f64 / frames.len().max(1) as f64
}

/// After `what` (a change, an outage, a restart), each side heard the other's
/// tone in most of the last 2 s of its recording.
fn assert_both_heard_at_end(dir: &Path, what: &str) {
    let (alice_heard, bob_heard) = (heard_share_at_end(&dir.join("alice"), 1_500.0, 2), heard_share_at_end(&dir.join("bob"), 600.0, 2));
    assert!(alice_heard > 0.8, "after the {what} alice heard bob in {:.0} % of the last 2 s", alice_heard * 100.0);
    assert!(bob_heard > 0.8, "after the {what} bob heard alice in {:.0} % of the last 2 s", bob_heard * 100.0);
}

/// Alice at home calls Bob; both hear each other.
fn connected_call(net: &Network, dir: &Path) -> (CliPhone, CliPhone) {
    let (alice_mic, bob_mic) = (engines::tone_wav(dir, 600.0), engines::tone_wav(dir, 1_500.0));
    let bob = phone(&net.server, &net.kamailio, "bob", "b-pass", &bob_mic, &dir.join("bob"), &["--auto-answer"]);
    let stun = net.coturn.stun_url();
    let mut alice = phone(&net.home, &net.kamailio, "alice", "a-pass", &alice_mic, &dir.join("alice"), &["--stun", &stun]);
    alice.send("dial bob");
    alice.expect("the call connected", |v| call_state_is(v, "active"));
    bob.expect("bob's side connected", |v| call_state_is(v, "active"));
    (alice, bob)
}

#[test]
fn a_new_address_mid_call_brings_the_audio_back_without_a_new_call() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, bob) = connected_call(&net, dir.path());
    std::thread::sleep(std::time::Duration::from_secs(1));
    // A new DHCP lease: the old address is gone, with the connection and the
    // media path that used it.
    net.readdress_home("10.77.2.3/24").unwrap_or_else(|e| panic!("{e}"));
    alice.expect("the app says the call is reconnecting", |v| v["type"] == "callReconnecting" && v["since"].is_u64());
    alice.expect("registered again", |v| registration_is(v, "registered"));
    alice.expect("the call's media connected again", |v| v["type"] == "callReconnecting" && v["since"].is_null());
    // Three seconds on the new path, then both ends must be hearing each other.
    std::thread::sleep(std::time::Duration::from_secs(3));
    alice.send("calls");
    alice.send("hangup");
    alice.expect("alice's side ended (the same call, never dropped)", |v| call_state_is(v, "ended"));
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
    assert_both_heard_at_end(dir.path(), "change");
}

#[test]
fn a_link_down_for_8_seconds_recovers_by_itself() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, bob) = connected_call(&net, dir.path());
    std::thread::sleep(std::time::Duration::from_secs(1));
    net.lan.b.set_up(false).unwrap_or_else(|e| panic!("{e}"));
    let lost = alice.expect("alice's app says it is reconnecting", |v| v["type"] == "callReconnecting" && v["since"].is_u64());
    std::thread::sleep(std::time::Duration::from_secs(8));
    net.lan.b.set_up(true).unwrap_or_else(|e| panic!("{e}"));
    alice.expect("the audio is back", |v| v["type"] == "callReconnecting" && v["since"].is_null() && v["call"] == lost["call"]);
    std::thread::sleep(std::time::Duration::from_secs(3));
    alice.send("hangup");
    alice.expect("alice's side ended (the call survived the outage)", |v| call_state_is(v, "ended") && v["by"] == "local");
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
    assert_both_heard_at_end(dir.path(), "outage");
}

#[test]
fn a_link_down_for_40_seconds_ends_the_call_as_connection_lost() {
    let net = network();
    let dir = tempfile::tempdir().unwrap();
    let (alice, _bob) = connected_call(&net, dir.path());
    std::thread::sleep(std::time::Duration::from_millis(1500)); // media flowing
    net.lan.b.set_up(false).unwrap_or_else(|e| panic!("{e}"));
    let cut = std::time::Instant::now();
    let ended = alice.expect_within(std::time::Duration::from_secs(45), "the call ended by the outage", |v| call_state_is(v, "ended"));
    let after = cut.elapsed();
    net.lan.b.set_up(true).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(ended["by"], "network", "{ended}");
    assert!(ended["reason"].as_str().is_some_and(|r| r.starts_with("Connection lost")), "{ended}");
    // Not given up on too early: a short outage must have had its chance.
    assert!(after >= std::time::Duration::from_secs(20), "ended only {after:?} into the outage");
}

#[test]
fn kamailio_restarted_mid_call_keeps_the_audio_and_the_registration_comes_back() {
    let mut net = network();
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, bob) = connected_call(&net, dir.path());
    std::thread::sleep(std::time::Duration::from_secs(1));
    let Network { kamailio, server, .. } = &mut net;
    server.run_inside(|| kamailio.restart()).and_then(|r| r).unwrap_or_else(|e| panic!("restarting Kamailio: {e}"));
    alice.expect("alice notices the server went away", |v| registration_is(v, "retrying") || registration_is(v, "registering"));
    alice.expect_within(std::time::Duration::from_secs(20), "alice registered again", |v| registration_is(v, "registered"));
    bob.expect_within(std::time::Duration::from_secs(20), "bob registered again", |v| registration_is(v, "registered"));
    std::thread::sleep(std::time::Duration::from_secs(2));
    alice.send("hangup");
    alice.expect("the same call ended by alice", |v| call_state_is(v, "ended") && v["by"] == "local");
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
    assert_both_heard_at_end(dir.path(), "restart");
}

/// `homeline-cli network-check` run inside `ns`; its JSON report.
fn network_check(ns: &Netns, k: &Kamailio, extra: &[&str]) -> serde_json::Value {
    let mut cmd = ns.command(cli_binary());
    cmd.arg("network-check").args(phone_args(k, "alice").into_iter().skip(1)).args(extra);
    if extra.contains(&"--turn") {
        cmd.env("HOMELINE_TURN_PASSWORD", coturn::PASSWORD);
    }
    let out = cmd.output().expect("run homeline-cli network-check");
    assert!(out.status.success(), "network-check failed: {}", String::from_utf8_lossy(&out.stderr));
    first_json_line(&out.stdout)
}

/// The report: the first JSON line (engine events may follow).
fn first_json_line(stdout: &[u8]) -> serde_json::Value {
    let text = String::from_utf8_lossy(stdout);
    serde_json::from_str(text.lines().next().unwrap_or_default()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[test]
fn the_network_check_finds_the_server_the_nat_and_a_working_turn_server_and_says_what_fails() {
    let net = network();
    let (stun, turn) = (net.coturn.stun_url(), net.coturn.turn_url());
    let report = network_check(&net.home, &net.kamailio, &["--stun", &stun, "--turn", &turn, "--turn-user", coturn::USERNAME]);
    assert!(report["serverConnectMs"].as_f64().is_some(), "{report}");
    assert_eq!(report["nat"]["kind"], "endpointIndependent", "{report}");
    assert_eq!(report["nat"]["public"], "10.77.1.254", "the router's address, as the server saw it: {report}");
    assert_eq!(report["turnWorks"], true, "{report}");
    assert!(report["findings"][1].as_str().is_some_and(|f| f.contains("behind a NAT (seen as 10.77.1.254)")), "{report}");

    // From the server's own network: no NAT. With a wrong TURN password: the relay fails, in words.
    let mut cmd = net.server.command(cli_binary());
    cmd.arg("network-check").args(phone_args(&net.kamailio, "alice").into_iter().skip(1)).args(["--stun", &stun, "--turn", &turn, "--turn-user", "nobody"]);
    let out = cmd.env("HOMELINE_TURN_PASSWORD", "wrong").output().expect("run network-check");
    let report = first_json_line(&out.stdout);
    assert_eq!(report["nat"]["kind"], "none", "{report}");
    assert_eq!(report["turnWorks"], false, "{report}");
    assert!(report["findings"].as_array().is_some_and(|f| f.iter().any(|l| l.as_str().is_some_and(|l| l.contains("did not give a relay")))), "{report}");

    // The server's port blocked at the router: unreachable, said so.
    net.router
        .filter_forwarded("tcp flags syn drop")
        .unwrap_or_else(|e| panic!("{e}"));
    let report = network_check(&net.home, &net.kamailio, &["--stun", &stun]);
    assert!(report["serverProblem"].as_str().is_some(), "{report}");
    assert!(report["findings"][0].as_str().is_some_and(|f| f.contains("cannot be reached")), "{report}");
}

#[test]
fn with_no_udp_at_all_the_call_goes_through_turn_over_tcp() {
    let net = network();
    // Hotel Wi-Fi that lets only TCP out: webrtc-rs speaks TURN over UDP
    // only, so this works only through our TCP bridge to the TURN server.
    net.router
        .filter_forwarded(&format!("iifname \"{lan}\" meta l4proto udp drop", lan = net.lan.b.interface))
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let turn = format!("turn:{}?transport=tcp", net.coturn.addr());
    let (alice_heard, bob_heard) = call_and_listen(&net, &["--turn", &turn, "--turn-user", net.coturn.username()], dir.path());
    assert!(alice_heard > 0.8, "alice heard bob through TURN/TCP in {:.0} % of frames", alice_heard * 100.0);
    assert!(bob_heard > 0.8, "bob heard alice through TURN/TCP in {:.0} % of frames", bob_heard * 100.0);
}

/// A coturn with a TLS listener (`turns:`) in the server network, its
/// certificate signed by a test CA of its own.
fn tls_turn_server(net: &Network) -> coturn::Coturn {
    net.server
        .run_inside(|| coturn::start_with_tls_on(SERVER_IP.into()))
        .and_then(|started| started)
        .unwrap_or_else(|e| panic!("coturn with TLS: {e}"))
}

/// A CA file trusting both Kamailio's test CA and coturn's (one account's
/// CA file vouches for its phone system and its TURN server).
fn ca_bundle(net: &Network, turn: &coturn::Coturn, dir: &Path) -> PathBuf {
    let path = dir.join("company-ca.pem");
    let kamailio_ca = std::fs::read_to_string(net.kamailio.ca_pem()).unwrap();
    let coturn_ca = std::fs::read_to_string(turn.ca_pem().expect("coturn started with TLS")).unwrap();
    std::fs::write(&path, kamailio_ca + &coturn_ca).unwrap();
    path
}

/// The router drops every UDP packet from the home network.
fn block_all_udp_from_home(net: &Network) {
    net.router
        .filter_forwarded(&format!("iifname \"{lan}\" meta l4proto udp drop", lan = net.lan.b.interface))
        .unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn with_no_udp_at_all_the_call_goes_through_turn_over_tls() {
    let net = network();
    let turn = tls_turn_server(&net);
    // A network that lets only TCP out: with only a `turns:` server set
    // up, the only way for media is TURN over TLS to turns:10.77.1.1:PORT.
    block_all_udp_from_home(&net);
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_bundle(&net, &turn, dir.path());
    let turns = turn.turns_url().unwrap();
    let ca = ca.to_str().unwrap();
    let (alice_heard, bob_heard) = call_and_listen(&net, &["--turn", &turns, "--turn-user", coturn::USERNAME, "--ca-file", ca], dir.path());
    assert!(alice_heard > 0.8, "alice heard bob through TURN/TLS in {:.0} % of frames", alice_heard * 100.0);
    assert!(bob_heard > 0.8, "bob heard alice through TURN/TLS in {:.0} % of frames", bob_heard * 100.0);
}

#[test]
fn a_turn_server_over_tls_is_checked_and_one_with_an_untrusted_certificate_is_refused_in_words() {
    let net = network();
    let turn = tls_turn_server(&net);
    let dir = tempfile::tempdir().unwrap();
    let ca = ca_bundle(&net, &turn, dir.path());
    let turns = turn.turns_url().unwrap();
    let ca = ca.to_str().unwrap();

    // Trusted through the account's CA file: the network check says the TURN server works.
    let report = network_check(&net.home, &net.kamailio, &["--ca-file", ca, "--turn", &turns, "--turn-user", coturn::USERNAME]);
    assert_eq!(report["turnWorks"], true, "{report}");
    assert!(report["findings"].as_array().is_some_and(|f| f.iter().any(|l| l == "The TURN server works: calls can be relayed when a direct path fails.")), "{report}");

    // Only Kamailio's CA trusted: coturn's certificate is refused, and the check says so.
    let report = network_check(&net.home, &net.kamailio, &["--turn", &turns, "--turn-user", coturn::USERNAME]);
    assert_eq!(report["turnWorks"], false, "{report}");
    let untrusted = format!(
        "The TURN server {turns} could not be used: its certificate is not trusted: it is signed by an authority \
         this computer does not trust (add that CA to the account's CA file)."
    );
    assert_eq!(report["turnProblem"], untrusted.as_str(), "{report}");
    assert!(report["findings"].as_array().is_some_and(|f| f.iter().any(|l| l == untrusted.as_str())), "{report}");

    // A call that needs that relay (no UDP out) fails, and says why. Bob
    // calls: the answering side gives up first (its wait for the media
    // starts first), so alice's reason is not cut short by bob's hang-up.
    block_all_udp_from_home(&net);
    let (alice_mic, bob_mic) = (engines::tone_wav(dir.path(), 600.0), engines::tone_wav(dir.path(), 1_500.0));
    let alice_extra = ["--auto-answer", "--turn", &turns, "--turn-user", coturn::USERNAME];
    let alice = phone(&net.home, &net.kamailio, "alice", "a-pass", &alice_mic, &dir.path().join("alice"), &alice_extra);
    let mut bob = phone(&net.server, &net.kamailio, "bob", "b-pass", &bob_mic, &dir.path().join("bob"), &[]);
    bob.send("dial alice");
    let notice = alice.expect_within(std::time::Duration::from_secs(30), "the call's audio failed, in words", |v| {
        v["type"] == "notice" && v["message"].as_str().is_some_and(|m| m.starts_with("The call's audio failed"))
    });
    assert!(notice["message"].as_str().is_some_and(|m| m.contains(&untrusted)), "the reason names the untrusted TURN certificate: {notice}");
    alice.expect("alice's side ended", |v| call_state_is(v, "ended"));
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
}

#[test]
fn a_lossy_network_is_named_in_words_during_the_call_and_the_call_stays_up() {
    let net = network();
    // 12 % of the media packets in each direction are lost at the router
    // (nft's random numbers: this kernel has no netem).
    net.router
        .filter_forwarded("meta l4proto udp numgen random mod 100 < 12 drop")
        .unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().unwrap();
    let (mut alice, bob) = connected_call(&net, dir.path());
    let warned = alice.expect_within(std::time::Duration::from_secs(20), "a warning about the loss", |v| {
        v["type"] == "callWarnings" && v["warnings"].as_array().is_some_and(|w| w.iter().any(|w| w["problem"] == "loss"))
    });
    let message = warned["warnings"][0]["message"].as_str().unwrap_or_default().to_owned();
    assert!(message.starts_with("Your network is dropping "), "{message}");
    let percent: f64 = message.trim_start_matches("Your network is dropping ").split(' ').next().unwrap_or("0").parse().unwrap_or(0.0);
    assert!((4.0..=30.0).contains(&percent), "the loss said ({percent} %) is near the 12 % dropped: {message}");
    alice.send("hangup");
    alice.expect("the call was still up and ends when alice hangs up", |v| call_state_is(v, "ended") && v["by"] == "local");
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
}

#[test]
fn through_bursty_loss_jitter_and_reordering_the_call_stays_up_and_its_stats_say_so() {
    use homeline_impair::{GilbertElliott, Impairment, Relay, RelayConfig};
    let net = network();
    // Every media packet of the home phone crosses an impairment relay (in the
    // server network, in front of the TURN server): the router lets the home
    // phone's UDP go to the relay only. The relay's runtime lives on threads
    // inside the server namespace.
    let (runtime, relay) = net
        .server
        .run_inside(|| {
            let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
            let listen = std::net::SocketAddr::from((SERVER_IP, homeline_tests::free_udp_port()));
            let config = RelayConfig { listen, target: net.coturn.addr(), to_target: Impairment::none(), to_client: Impairment::none(), seed: 8 };
            let relay = rt.block_on(Relay::start(config)).expect("start the relay");
            (rt, relay)
        })
        .unwrap_or_else(|e| panic!("{e}"));
    let relay_addr = relay.local_addr();
    net.router
        .filter_forwarded(&format!("iifname \"{lan}\" udp dport != {port} drop", lan = net.lan.b.interface,
            port = relay_addr.port()))
        .unwrap_or_else(|e| panic!("{e}"));

    let dir = tempfile::tempdir().unwrap();
    let (alice_mic, bob_mic) = (engines::tone_wav(dir.path(), 600.0), engines::tone_wav(dir.path(), 1_500.0));
    let bob = phone(&net.server, &net.kamailio, "bob", "b-pass", &bob_mic, &dir.path().join("bob"), &["--auto-answer"]);
    let turn = format!("turn:{relay_addr}?transport=udp");
    let mut alice = phone(&net.home, &net.kamailio, "alice", "a-pass", &alice_mic, &dir.path().join("alice"), &["--turn", &turn, "--turn-user", coturn::USERNAME, "--stats"]);
    alice.send("dial bob");
    alice.expect("the call connected through the relay", |v| call_state_is(v, "active"));
    bob.expect("bob's side connected", |v| call_state_is(v, "active"));
    alice.expect("audio flowing through the relay", |v| v["type"] == "callStats" && v["packetsReceived"].as_u64().is_some_and(|p| p > 20));

    // Mid-call the network turns bad: 10 % loss in bursts, ±100 ms jitter, reordering.
    let bad = Impairment {
        burst: Some(GilbertElliott::with_mean(0.10, 3.0)),
        delay: std::time::Duration::from_millis(20),
        jitter: std::time::Duration::from_millis(100),
        reorder: 0.05,
        ..Impairment::none()
    };
    relay.set_impairments(bad.clone(), bad);
    let lossy = alice.expect_within(std::time::Duration::from_secs(20), "stats reporting the loss and the jitter", |v| {
        v["type"] == "callStats" && v["lossPercent"].as_f64().is_some_and(|l| l > 2.0) && v["jitterMs"].as_f64().is_some_and(|j| j > 10.0)
    });
    eprintln!("stats through the relay: {lossy}");
    // Ten seconds of bad network: the call stays up.
    let ended = alice.lines_within(std::time::Duration::from_secs(10)).into_iter().find(|v| call_state_is(v, "ended"));
    assert!(ended.is_none(), "the call dropped under impairment: {ended:?}");
    alice.send("hangup");
    alice.expect("the call was still up and ends when alice hangs up", |v| call_state_is(v, "ended") && v["by"] == "local");
    bob.expect("bob's side ended", |v| call_state_is(v, "ended"));
    let counters = runtime.block_on(relay.stop());
    assert!(counters.to_target.dropped > 0 && counters.to_client.dropped > 0, "{counters:?}");
}
