//! Interop with a legacy SIP phone nobody here wrote: baresip (Debian)
//! registered at the harness Kamailio over UDP, plain RTP (G.711 µ-law), and
//! `homeline-cli phone` over WSS; Kamailio's rtpengine bridges WebRTC (ICE,
//! DTLS-SRTP, rtcp-mux) ↔ plain RTP. rtpengine's offers towards us carry
//! `a=mid` but no `a=group:BUNDLE`, which our SDP adaptation adds.
//!
//! baresip's microphone is a WAV file (aufile) and what it receives is dumped
//! to WAV files (sndfile); audio is checked in both recordings, each way,
//! and so are our touch tones (RFC 4733) and hold/resume through rtpengine.
//!
//! This found that webrtc-rs's `c=IN IP4 0.0.0.0` / `m=audio 9` made
//! rtpengine offer baresip a held call (`a=sendonly`): baresip never sent a
//! sound. Our SDP now carries the default candidate (homeline-rtc sdp_map).
//! Set HOMELINE_KEEP_TEST_DIR=1 to keep the logs, configs, recordings and
//! the ng exchange (`ng.log`) of a run.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

mod interop;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::services::rtpengine::{self, RtpEngine};
use homeline_tests::{free_udp_port, require_program, wait_until, Service};
use interop::{call_state_is, level_dbfs, read_recording, registered, tone_dbfs, tone_share, Cli};

const OUR_HZ: f32 = 440.0;
const BARESIP_HZ: f32 = 1000.0;
const WAIT: Duration = Duration::from_secs(20);
/// How long each call carries audio before it is hung up.
const TALK: Duration = Duration::from_secs(4);

/// A baresip with its own config dir, stopped (by process group) on drop.
struct Baresip {
    service: Service,
    dir: PathBuf,
}

const BARESIP_MODULES: &str = "/usr/lib/baresip/modules";

impl Baresip {
    /// Register `user` at Kamailio over UDP, answer calls by itself, play
    /// `mic` (8 kHz mono), dump what it receives into `dir/baresip-dumps`,
    /// and run `commands` (`-e`) once started.
    fn start(k: &Kamailio, user: &str, password: &str, mic: &Path, dir: &Path, commands: &[String]) -> Baresip {
        let program = require_program("baresip", "baresip-core").unwrap_or_else(|e| panic!("{e}"));
        for module in ["g711", "aufile", "sndfile", "aubridge", "account", "menu"] {
            let so = Path::new(BARESIP_MODULES).join(format!("{module}.so"));
            assert!(so.is_file(), "baresip's {module} module ({}) is missing: install the Debian package `baresip-core`", so.display());
        }
        let conf = dir.join("baresip");
        let dumps = dir.join("baresip-dumps");
        std::fs::create_dir_all(&conf).expect("baresip config dir");
        std::fs::create_dir_all(&dumps).expect("baresip dump dir");
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t127.0.0.1:{sip}\n\
             call_local_timeout\t60\n\
             call_max_calls\t\t2\n\
             audio_player\t\taubridge,nowhere\n\
             audio_alert\t\taubridge,nowhere\n\
             audio_source\t\taufile,{mic}\n\
             audio_level\t\tno\n\
             rtcp_mux\t\tno\n\
             jitter_buffer_delay\t5-10\n\
             net_interface\t\t127.0.0.1\n\
             module_path\t\t{BARESIP_MODULES}\n\
             module\t\t\tg711.so\n\
             module\t\t\tsndfile.so\n\
             module\t\t\taufile.so\n\
             module\t\t\taubridge.so\n\
             snd_path\t\t{dumps}\n\
             module_tmp\t\tuuid.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n",
            sip = free_udp_port(),
            mic = mic.display(),
            dumps = dumps.display(),
        );
        std::fs::write(conf.join("config"), config).expect("write baresip config");
        // A legacy desk phone: UDP, G.711 µ-law only, no ICE, no SRTP.
        let accounts = format!(
            "<sip:{user}@{domain}:{port};transport=udp>;auth_pass={password};answermode=auto;audio_codecs=PCMU/8000/1;regint=300\n",
            domain = k.domain(),
            port = k.udp_addr().port(),
        );
        std::fs::write(conf.join("accounts"), accounts).expect("write baresip accounts");
        std::fs::write(conf.join("contacts"), "").expect("write baresip contacts");

        let mut cmd = Command::new(program);
        cmd.args(["-4", "-s", "-v"]).arg("-f").arg(&conf).args(["-t", "120"]).current_dir(&conf);
        for command in commands {
            cmd.arg("-e").arg(command);
        }
        let service = Service::spawn("baresip", cmd, &dir.join("baresip.log")).unwrap_or_else(|e| panic!("{e}"));
        Baresip { service, dir: dumps }
    }

    fn context(&self) -> String {
        format!("--- baresip's log ---\n{}", self.service.log_tail(40))
    }

    /// Wait until its log shows `needle` (bounded), or fail with the log.
    fn expect_log(&mut self, what: &str, timeout: Duration, needle: &str, extra: &dyn Fn() -> String) {
        let log_path = self.service.log_path.clone();
        let service = &mut self.service;
        let seen = wait_until(timeout, || {
            std::fs::read_to_string(&log_path).unwrap_or_default().contains(needle) || !service.is_running()
        }) && std::fs::read_to_string(&log_path).unwrap_or_default().contains(needle);
        if !seen {
            let running = if self.service.is_running() { "running" } else { "exited" };
            panic!("baresip ({running}): no {what} ({needle:?}) within {timeout:?}\n{}\n{}", self.context(), extra());
        }
    }

    /// The WAV file sndfile wrote with what baresip decoded (received).
    fn received_wav(&self) -> PathBuf {
        let files: Vec<PathBuf> = std::fs::read_dir(&self.dir)
            .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
            .unwrap_or_default();
        let decoded: Vec<&PathBuf> = files.iter().filter(|p| p.to_string_lossy().ends_with("-dec.wav")).collect();
        assert_eq!(decoded.len(), 1, "one received (-dec.wav) dump expected in {}: {files:?}\n{}", self.dir.display(), self.context());
        decoded[0].clone()
    }
}

struct Setup {
    // Field order is drop order: phones first, then the servers.
    cli: Cli,
    rtpengine: RtpEngine,
    k: Kamailio,
    dir: tempfile::TempDir,
    baresip_mic: PathBuf,
}

/// rtpengine + Kamailio bridging it; alice = homeline-cli over WSS (440 Hz),
/// registered and auto-answering; bob will be baresip over UDP (1 kHz).
fn setup() -> Setup {
    // Say what is missing before starting anything.
    require_program("baresip", "baresip-core").unwrap_or_else(|e| panic!("{e}"));
    let rtpengine = rtpengine::start().unwrap_or_else(|e| panic!("rtpengine: {e}"));
    let mut dir = tempfile::tempdir().unwrap();
    let mut opts = KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass").with_rtpengine(Some(&rtpengine));
    opts.rtpengine_ng = Some(interop::ng_tap(rtpengine.ng_addr(), dir.path().join("ng.log")));
    let k = kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio with rtpengine: {e}"));
    // Logs, recordings and configs stay for a look when this is set.
    if std::env::var_os("HOMELINE_KEEP_TEST_DIR").is_some() {
        eprintln!("keeping {}", dir.path().display());
        dir.disable_cleanup(true);
    }
    let our_mic = interop::tone_wav(&dir.path().join("tone440.wav"), 48_000, OUR_HZ, 4);
    // aufile plays a file once, at the codec's rate: long enough for the test.
    let baresip_mic = interop::tone_wav(&dir.path().join("tone1000-8k.wav"), 8_000, BARESIP_HZ, 60);
    let mut cli = Cli::start(&k.wss_url(), k.domain(), Some(k.ca_pem()), "alice", "a-pass", &our_mic, dir.path(), true);
    cli.expect("registration", WAIT, &|| k.log_tail(20), registered);
    Setup { cli, rtpengine, k, dir, baresip_mic }
}

fn servers_context(k: &Kamailio, rtpengine: &RtpEngine, dir: &Path) -> String {
    // The SDP rtpengine got and gave is the usual culprit: show the last exchanges.
    let ng = homeline_tests::process::log_tail(&dir.join("ng.log"), 60);
    format!("--- Kamailio ---\n{}\n--- rtpengine ---\n{}\n--- ng (Kamailio ⇄ rtpengine) ---\n{ng}", k.log_tail(20), rtpengine.log_tail(20))
}

/// Both recordings hold the other side's tone.
fn check_recordings(cli: &Cli, baresip: &Baresip, context: &dyn Fn() -> String) {
    let sent = tone_dbfs();
    let ours = read_recording(&cli.recording());
    let (share, level) = (tone_share(&ours, 48_000, BARESIP_HZ), level_dbfs(&ours));
    eprintln!("homeline-cli hears {BARESIP_HZ} Hz: share {share:.3}, level {level:.1} dBFS");
    assert!(
        share > 0.8 && (level - tone_dbfs()).abs() < 3.0,
        "homeline-cli does not hear baresip's {BARESIP_HZ} Hz tone as sent ({sent:.1} dBFS): share {share:.3}, level {level:.1} dBFS ({})\n{}\n{}",
        cli.recording().display(),
        baresip.context(),
        context()
    );
    let theirs_path = baresip.received_wav();
    let theirs = homeline_media::wav::read_wav_48k_mono(&theirs_path).unwrap_or_else(|e| panic!("read {}: {e}", theirs_path.display()));
    assert!(theirs.len() > 48_000 * 2, "baresip's recording {} holds only {} samples (48 kHz)\n{}", theirs_path.display(), theirs.len(), baresip.context());
    let (share, level) = (tone_share(&theirs, 48_000, OUR_HZ), level_dbfs(&theirs));
    eprintln!("baresip hears {OUR_HZ} Hz: share {share:.3}, level {level:.1} dBFS");
    assert!(
        share > 0.8 && (level - tone_dbfs()).abs() < 3.0,
        "baresip does not hear our {OUR_HZ} Hz tone as sent ({sent:.1} dBFS): share {share:.3}, level {level:.1} dBFS ({})\n{}\n{}",
        theirs_path.display(),
        baresip.context(),
        context()
    );
}

/// Touch tones reach baresip as RFC 4733 events through rtpengine, in order;
/// we put it on hold and take it back (re-INVITEs through rtpengine), and
/// the call talks on.
fn digits_hold_and_resume(cli: &mut Cli, baresip: &mut Baresip, servers: &dyn Fn() -> String) {
    cli.send("dtmf 123#");
    let log_path = baresip.service.log_path.clone();
    let got_all = wait_until(WAIT, || std::fs::read_to_string(&log_path).unwrap_or_default().contains("received event: '#' (end=1)"));
    if !got_all {
        cli.lines.wait(Duration::from_millis(300), |_| false);
        panic!("baresip did not get our touch tones within {WAIT:?}\n--- homeline-cli ---\n{}\n{}\n{}", cli.lines.tail(8), baresip.context(), servers());
    }
    let log = std::fs::read_to_string(&baresip.service.log_path).unwrap_or_default();
    // baresip 1.0 logs each RFC 4733 event as "received event: 'K' (end=0|1)".
    let received: String = log
        .match_indices("received event: '")
        .filter_map(|(i, m)| {
            let rest = &log[i + m.len()..];
            let key = rest.chars().next()?;
            rest[key.len_utf8()..].starts_with("' (end=0)").then_some(key)
        })
        .collect();
    assert_eq!(received, "123#", "baresip gets our digits once each, in order\n{}", baresip.context());

    cli.send("hold");
    let held = cli.expect("our hold", WAIT, servers, |v| call_state_is(v, "held") || call_state_is(v, "ended"));
    assert_eq!(held["by_me"], true, "{held}\n{}", baresip.context());
    std::thread::sleep(Duration::from_millis(500));
    cli.send("resume");
    cli.expect("the call resumed", WAIT, servers, |v| call_state_is(v, "active") || call_state_is(v, "ended"))
        .get("state")
        .filter(|s| *s == "active")
        .unwrap_or_else(|| panic!("the call ended instead of resuming\n{}\n{}", baresip.context(), servers()));
    std::thread::sleep(Duration::from_secs(2));
}

#[test]
fn homeline_cli_calls_baresip_over_udp_through_rtpengine_and_both_hear_each_other() {
    let Setup { mut cli, rtpengine, k, dir, baresip_mic } = setup();
    let servers = || servers_context(&k, &rtpengine, dir.path());
    let mut baresip = Baresip::start(&k, "bob", "b-pass", &baresip_mic, dir.path(), &[]);
    baresip.expect_log("registration", WAIT, "200 OK", &servers);

    cli.send("dial bob");
    let connected = cli.expect("the call connected", WAIT, &|| format!("{}\n{}", baresip.context(), servers()), |v| {
        call_state_is(v, "active") || call_state_is(v, "ended")
    });
    assert_eq!(connected["state"], "active", "the call to baresip did not connect: {connected}\n{}\n{}", baresip.context(), servers());
    baresip.expect_log("established call", WAIT, "Call established", &servers);
    std::thread::sleep(TALK);
    digits_hold_and_resume(&mut cli, &mut baresip, &servers);

    cli.send("hangup");
    cli.expect("our side ended", WAIT, &servers, |v| call_state_is(v, "ended"));
    baresip.expect_log("the call closed", WAIT, "session closed", &servers);
    std::thread::sleep(Duration::from_millis(500));
    check_recordings(&cli, &baresip, &servers);
    cli.quit();
    drop(baresip);
    drop(dir);
}

#[test]
fn baresip_calls_homeline_cli_over_udp_through_rtpengine_and_both_hear_each_other() {
    let Setup { mut cli, rtpengine, k, dir, baresip_mic } = setup();
    let servers = || servers_context(&k, &rtpengine, dir.path());
    let target = format!("/dial sip:alice@{}:{}", k.domain(), k.udp_addr().port());
    let mut baresip = Baresip::start(&k, "bob", "b-pass", &baresip_mic, dir.path(), &[target]);

    let incoming = cli.expect("the incoming call", WAIT, &|| format!("{}\n{}", baresip.context(), servers()), |v| call_state_is(v, "incoming"));
    assert_eq!(incoming["remote"], "bob", "{incoming}");
    let connected = cli.expect("the call connected", WAIT, &|| format!("{}\n{}", baresip.context(), servers()), |v| {
        call_state_is(v, "active") || call_state_is(v, "ended")
    });
    assert_eq!(connected["state"], "active", "baresip's call did not connect: {connected}\n{}\n{}", baresip.context(), servers());
    baresip.expect_log("established call", WAIT, "Call established", &servers);
    std::thread::sleep(TALK);
    digits_hold_and_resume(&mut cli, &mut baresip, &servers);

    cli.send("hangup");
    cli.expect("our side ended", WAIT, &servers, |v| call_state_is(v, "ended"));
    baresip.expect_log("the call closed", WAIT, "session closed", &servers);
    std::thread::sleep(Duration::from_millis(500));
    check_recordings(&cli, &baresip, &servers);
    cli.quit();
    drop(baresip);
    drop(dir);
}
