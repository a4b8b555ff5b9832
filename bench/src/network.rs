//! `network` (issue 8): a call on a phone behind a NAT (network namespaces,
//! `homeline_tests::services::netns::NatLab`) while its network changes:
//!
//! - **new address → registered again**: the home phone gets a new address
//!   mid-call (a new DHCP lease, Wi-Fi → cable); time until its account is
//!   registered again;
//! - **new address → media connected**: until the call's ICE restart has
//!   connected (`callReconnecting` with `since: null`) — audio back, same call;
//! - **new network → registered** (no call): what a laptop waking up from
//!   sleep goes through (the engine treats a wake-up as a network change).
//!
//! Each phone stamps nothing itself: the bench reads the JSON lines as they
//! come and times them from the moment it changed the address. The network
//! watch polls once a second, so up to 1 s of each figure is detection.

use std::time::{Duration, Instant};

use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::services::netns::NatLab;

use crate::report::{Report, HOMELINE, JSSIP};
use crate::systems::{BenchResult, JssipCall, JssipLaunch, Server};
use crate::Context;

const SCENARIO: &str = "network";

pub(crate) fn scenario_network(ctx: &Context, report: &mut Report) {
    report.describe(
        SCENARIO,
        "Network change during a call",
        "A `homeline-cli` phone behind a NAT router (network namespaces made by the bench) calls another on the \
         server's network through Kamailio; mid-call the home phone gets a new address. Timed from the change: \
         registered again, and the call's media connected again after its ICE restart (same call). \"New network → \
         registered\" is the same change with no call, what a wake-up from sleep triggers. Up to 1 s of each figure is \
         the once-a-second network watch. JsSIP + Chromium is the same home phone in a browser: tests/browser/call.mjs \
         runs inside the home namespace (Chromium, its DevTools pipe and the page's loopback server with it), registers \
         over WSS to the same Kamailio (`--ignore-certificate-errors` for the test CA) and calls the same peer; its \
         page offers host candidates only (through this NAT the call connects on peer-reflexive ones). Its media \
         figure is the browser's inbound audio packets arriving again (polled every 20 ms) with the peer's also \
         growing again; it gets 30 s after each change, else the figure is missing and says in how many runs.",
    );
    let runs = if ctx.o.quick { 1 } else { ctx.o.runs };
    for run in 0..runs {
        // The harness's phones panic when an expected line does not come: one
        // failed run is a missing figure, not the end of the whole benchmark.
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| one_run(ctx, run))).unwrap_or_else(|panic| {
            let what = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("run {} failed: {}", run + 1, what.unwrap_or_else(|| "a panic".into())))
        });
        match outcome {
            Ok(figures) => {
                report.add(SCENARIO, "new address → registered again", "ms", HOMELINE, figures.registered_ms);
                report.add(SCENARIO, "new address → call media connected", "ms", HOMELINE, figures.media_ms);
                report.add(SCENARIO, "new network, idle → registered", "ms", HOMELINE, figures.idle_registered_ms);
            }
            Err(why) => {
                for metric in ["new address → registered again", "new address → call media connected", "new network, idle → registered"] {
                    report.missing(SCENARIO, metric, "ms", HOMELINE, &why);
                }
            }
        }
    }
    if ctx.has(JSSIP) {
        jssip_runs(ctx, report, runs);
    }
}

const REGISTERED: &str = "new address → registered again";
const MEDIA: &str = "new address → call media connected";
const IDLE: &str = "new network, idle → registered";
/// How long the browser phone gets to come back after each change.
const JSSIP_WAIT: Duration = Duration::from_secs(30);

/// The same change with JsSIP in headless Chromium as the home phone: the
/// node driver (tests/browser/call.mjs) runs inside the home namespace, so
/// the browser's sockets, its DevTools pipe and the page's loopback server
/// are there; it registers over WSS to the lab's Kamailio and calls bob (the
/// same `homeline-cli` peer). A figure is missing, with the count of runs,
/// when the browser did not get it back within [`JSSIP_WAIT`].
fn jssip_runs(ctx: &Context, report: &mut Report, runs: usize) {
    let mut lost: std::collections::BTreeMap<&str, Vec<String>> = Default::default();
    let mut completed = 0;
    let (mut pc_disconnected, mut pc_failed) = (Vec::new(), Vec::new());
    for run in 0..runs {
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| jssip_run(ctx, run))).unwrap_or_else(|panic| {
            let what = panic.downcast_ref::<String>().cloned().or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()));
            Err(format!("{}", what.unwrap_or_else(|| "a panic".into())))
        });
        match outcome {
            Ok(f) => {
                completed += 1;
                pc_disconnected.extend(f.pc_disconnected_ms);
                pc_failed.extend(f.pc_failed_ms);
                for (metric, value) in [(REGISTERED, f.registered_ms), (MEDIA, f.media_ms), (IDLE, f.idle_registered_ms)] {
                    match value {
                        Ok(v) => report.add(SCENARIO, metric, "ms", JSSIP, v),
                        Err(why) => lost.entry(metric).or_default().push(why),
                    }
                }
                for line in f.notes {
                    eprintln!("network (JsSIP, run {}): {line}", run + 1);
                }
            }
            Err(why) => {
                eprintln!("network (JsSIP, run {}): failed: {why}", run + 1);
                for metric in [REGISTERED, MEDIA, IDLE] {
                    lost.entry(metric).or_default().push(format!("the run failed: {}", crate::first_line(&why)));
                }
            }
        }
    }
    if completed > 0 {
        let median = |v: &[f64]| crate::report::stats(v).map(|s| format!("{:.1} s", s.median / 1000.0));
        let pc = match (median(&pc_disconnected), median(&pc_failed)) {
            (Some(d), Some(f)) => format!(
                "its peer connection went \"disconnected\" (median {d} after the change, {} of {completed} runs) and \
                 \"failed\" (median {f}, {} of {completed} runs)",
                pc_disconnected.len(),
                pc_failed.len()
            ),
            (Some(d), None) => format!("its peer connection went \"disconnected\" (median {d} after the change)"),
            _ => "its peer connection state did not change".into(),
        };
        let never_registered = lost.get(REGISTERED).is_some_and(|w| w.len() == runs);
        let reg = if never_registered {
            " It never registered again: its WebSocket was not closed by the change and JsSIP sends no keep-alive on \
             it, so it stays \"registered\" on a dead connection."
        } else {
            ""
        };
        report.note(
            SCENARIO,
            &format!(
                "JsSIP + Chromium ({completed} of {runs} runs completed): each run, a fresh page started on the new address \
                 (after the idle change) registered and connected its call, so the network worked after the change. \
                 JsSIP's own events after a change: {pc}; JsSIP makes no ICE restart.{reg}"
            ),
        );
    }
    for (metric, whys) in lost {
        // One line per distinct reason, with how many of the runs it was.
        let mut counted: Vec<(String, usize)> = Vec::new();
        for why in whys {
            match counted.iter_mut().find(|(w, _)| *w == why) {
                Some((_, n)) => *n += 1,
                None => counted.push((why, 1)),
            }
        }
        for (why, n) in counted {
            report.missing(SCENARIO, metric, "ms", JSSIP, &format!("{why} ({n} of {runs} runs)"));
        }
    }
}

struct JssipFigures {
    registered_ms: Result<f64, String>,
    media_ms: Result<f64, String>,
    idle_registered_ms: Result<f64, String>,
    /// When the browser's peer connection went "disconnected" and "failed".
    pc_disconnected_ms: Option<f64>,
    pc_failed_ms: Option<f64>,
    /// What else was seen (on the bench's stderr).
    notes: Vec<String>,
}

fn jssip_run(ctx: &Context, run: usize) -> BenchResult<JssipFigures> {
    let lab = NatLab::start(&[("alice", "a-pass"), ("bob", "b-pass")]).map_err(|e| format!("the namespace network: {e}"))?;
    let mut cmd = lab.server.command(&ctx.o.cli);
    cmd.args(phone_args(&lab.kamailio, "bob")).args(["--stun", &lab.coturn.stun_url(), "--for", "180", "--auto-answer", "--stats"]);
    let bob = CliPhone::spawn(cmd, "b-pass").map_err(|e| format!("starting homeline-cli: {e}"))?;
    bob.expect("registered", |v| registration_is(v, "registered"));
    let server = Server {
        ws_url: lab.kamailio.wss_url(),
        udp: lab.kamailio.udp_addr(),
        domain: lab.kamailio.domain().to_owned(),
        password: "a-pass".into(),
    };
    let launch = JssipLaunch { netns: Some(&lab.home), ignore_certificate_errors: true, rtp_watch_ms: Some(20) };
    let within = format!("{} s", JSSIP_WAIT.as_secs());

    // Idle first, as for Homeline: a new network with no call. This browser
    // is then closed; a fresh one (registered on the new address) makes the call.
    let idle_registered_ms = {
        let mut idle = JssipCall::start_with(&server, "alice", &launch)?;
        let changed = Instant::now();
        lab.readdress_home("10.77.2.10/24").map_err(|e| e.to_string())?;
        let mut at = None;
        while at.is_none() && changed.elapsed() < JSSIP_WAIT && idle.is_running() {
            if idle.new_lines().iter().any(|v| v["type"] == "registered") {
                at = Some(ms(changed.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        at.ok_or_else(|| format!("JsSIP did not register again within {within} of the change"))
    };

    let mut alice = JssipCall::start_with(&server, "alice", &launch)?;
    alice.send("dial bob")?;
    alice.until("audioStarted", Duration::from_secs(30))?;
    bob.expect("bob's side connected", |v| call_state_is(v, "active"));
    bob.expect("audio arriving at bob", |v| v["type"] == "callStats" && v["packetsReceived"].as_u64().is_some_and(|p| p > 10));

    // The change, mid-call; then what comes back within JSSIP_WAIT.
    let mut notes = Vec::new();
    let changed = Instant::now();
    lab.readdress_home(&format!("10.77.2.{}/24", 20 + run % 200)).map_err(|e| e.to_string())?;
    let (mut registered, mut rtp_back, mut bob_back) = (None, None, None);
    let (mut bob_last, mut bob_stalled) = (None::<u64>, false);
    let mut call_ended = None;
    let (mut pc_disconnected_ms, mut pc_failed_ms) = (None, None);
    while changed.elapsed() < JSSIP_WAIT && !(registered.is_some() && rtp_back.is_some() && bob_back.is_some()) {
        for v in alice.new_lines() {
            let at = ms(changed.elapsed());
            match v["type"].as_str().unwrap_or_default() {
                "registered" if registered.is_none() => registered = Some(at),
                "rtpResumed" if rtp_back.is_none() => rtp_back = Some(at),
                "disconnected" | "registrationFailed" | "ice" | "connection" | "ended" | "failed" => {
                    notes.push(format!("{at:.0} ms: JsSIP {v}"));
                    if v["type"] == "connection" {
                        match v["state"].as_str() {
                            Some("disconnected") => pc_disconnected_ms = pc_disconnected_ms.or(Some(at)),
                            Some("failed") => pc_failed_ms = pc_failed_ms.or(Some(at)),
                            _ => {}
                        }
                    }
                    if matches!(v["type"].as_str(), Some("ended" | "failed")) {
                        call_ended = Some(format!("the browser ended the call ({})", v["cause"].as_str().unwrap_or("?")));
                    }
                }
                _ => {}
            }
        }
        for v in bob.lines_within(Duration::from_millis(10)) {
            let at = ms(changed.elapsed());
            if v["type"] == "callStats" {
                let p = v["packetsReceived"].as_u64().unwrap_or(0);
                if bob_last.is_some_and(|last| p <= last) {
                    bob_stalled = true;
                } else if bob_stalled && bob_back.is_none() {
                    bob_back = Some(at);
                }
                bob_last = Some(p);
            } else if call_state_is(&v, "ended") {
                notes.push(format!("{at:.0} ms: bob {v}"));
                // Homeline ends a call whose media path is gone for 30 s.
                call_ended.get_or_insert_with(|| "the peer (Homeline) ended the call as connection lost after 30 s without media".into());
            }
        }
        if call_ended.is_some() || !alice.is_running() {
            break;
        }
    }
    let registered_ms = registered.ok_or_else(|| format!("JsSIP did not register again within {within} of the change"));
    let media_ms = match (rtp_back, bob_back) {
        // Both ways: the browser's inbound audio resumed (polled every 20 ms)
        // and the peer's packet count grows again (its once-a-second stats).
        (Some(at), Some(_)) => Ok(at),
        (Some(_), None) => Err(format!("call audio came back one way only (to the browser) within {within}")),
        (None, Some(_)) => Err(format!("call audio came back one way only (to the peer) within {within}")),
        (None, None) => Err(match call_ended {
            Some(ended) => format!("call audio did not come back; {ended}"),
            None => format!("call audio did not come back within {within}"),
        }),
    };
    notes.push(format!("registered again: {registered:?} ms, browser audio back: {rtp_back:?} ms, peer audio back: {bob_back:?} ms"));
    alice.send("hangup")?;
    Ok(JssipFigures { registered_ms, media_ms, idle_registered_ms, pc_disconnected_ms, pc_failed_ms, notes })
}

struct Figures {
    registered_ms: f64,
    media_ms: f64,
    idle_registered_ms: f64,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn one_run(ctx: &Context, run: usize) -> BenchResult<Figures> {
    let lab = NatLab::start(&[("alice", "a-pass"), ("bob", "b-pass")]).map_err(|e| format!("the namespace network: {e}"))?;
    let stun = lab.coturn.stun_url();
    let phone = |ns: &homeline_tests::services::netns::Netns, user: &str, password: &str, extra: &[&str]| -> BenchResult<CliPhone> {
        let mut cmd = ns.command(&ctx.o.cli);
        cmd.args(phone_args(&lab.kamailio, user)).args(["--stun", &stun, "--for", "120"]).args(extra);
        let phone = CliPhone::spawn(cmd, password).map_err(|e| format!("starting homeline-cli: {e}"))?;
        phone.expect("registered", |v| registration_is(v, "registered"));
        Ok(phone)
    };
    let bob = phone(&lab.server, "bob", "b-pass", &["--auto-answer"])?;
    let mut alice = phone(&lab.home, "alice", "a-pass", &["--stats"])?;

    // Idle first: a new network with no call (as after a wake-up).
    let changed = Instant::now();
    lab.readdress_home("10.77.2.10/24").map_err(|e| e.to_string())?;
    alice.expect_within(Duration::from_secs(5), "the change seen", |v| registration_is(v, "registering"));
    alice.expect_within(Duration::from_secs(15), "registered again (idle)", |v| registration_is(v, "registered"));
    let idle_registered_ms = ms(changed.elapsed());

    alice.send("dial bob");
    alice.expect("the call connected", |v| call_state_is(v, "active"));
    bob.expect("bob's side connected", |v| call_state_is(v, "active"));
    alice.expect("audio arriving", |v| v["type"] == "callStats" && v["packetsReceived"].as_u64().is_some_and(|p| p > 10));

    let changed = Instant::now();
    lab.readdress_home(&format!("10.77.2.{}/24", 20 + run % 200)).map_err(|e| e.to_string())?;
    alice.expect_within(Duration::from_secs(15), "registered again", |v| registration_is(v, "registered"));
    let registered_ms = ms(changed.elapsed());
    alice.expect_within(Duration::from_secs(15), "the call's media connected again", |v| {
        v["type"] == "callReconnecting" && v["since"].is_null()
    });
    let media_ms = ms(changed.elapsed());
    alice.send("hangup");
    alice.expect("the same call ended by alice", |v| call_state_is(v, "ended") && v["by"] == "local");
    Ok(Figures { registered_ms, media_ms, idle_registered_ms })
}
