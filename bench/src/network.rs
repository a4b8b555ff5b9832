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
use crate::systems::BenchResult;
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
         the once-a-second network watch.",
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
    for metric in ["new address → registered again", "new address → call media connected"] {
        report.missing(
            SCENARIO,
            metric,
            "ms",
            JSSIP,
            "not run: the bench does not yet start Chromium inside a network namespace",
        );
    }
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
