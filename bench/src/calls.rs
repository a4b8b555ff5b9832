//! Call scenarios beside the anchors (issues 4, 5 and 9):
//!
//! - `callsetup`: dial → the callee rings, and answer → first audio at each
//!   end, Homeline ↔ Homeline beside JsSIP ↔ JsSIP (two Chromiums), baresip ↔
//!   baresip and linphonec ↔ linphonec;
//! - `calls` (its native anchors; the scenario is in main.rs): one call of a
//!   native phone to another of its kind, timed at the caller;
//! - `callcpu`: CPU and memory of one established call, Homeline's engine,
//!   the desktop app (window open, sound through PulseAudio), JsSIP in
//!   Chromium, baresip and linphonec each calling, measured over one window;
//! - `soak`: consecutive calls between two `homeline-cli phone` processes;
//! - `concurrent`: eight calls up at once in one engine.
//!
//! Processes stamp their own events with the system clock (`epochMs`), so
//! latencies between two processes need no polling by the bench.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use tempfile::TempDir;

use crate::report::{Report, BARESIP, HOMELINE, HOMELINE_APP, JSSIP, LINPHONE};
use crate::systems::{self, BenchResult, JssipCall, LogWatch, Running};
use crate::{first_line, procfs, Context, SETTLE};

const WAIT: Duration = Duration::from_secs(30);

/// A folder with the tone every caller and callee plays as its microphone.
struct Scratch {
    dir: TempDir,
    tone: PathBuf,
}

impl Scratch {
    fn new() -> BenchResult<Self> {
        let dir = tempfile::Builder::new().prefix("homeline-bench-calls-").tempdir().map_err(|e| format!("creating a temp dir: {e}"))?;
        let tone = dir.path().join("tone.wav");
        std::fs::write(&tone, systems::tone_wav()).map_err(|e| format!("writing {}: {e}", tone.display()))?;
        Ok(Self { dir, tone })
    }

    fn path(&self, name: &str) -> String {
        self.dir.path().join(name).display().to_string()
    }

    fn tone(&self) -> String {
        self.tone.display().to_string()
    }
}

fn epoch(lines: &[Value], kind: &str) -> Option<f64> {
    lines.iter().find(|v| v["type"] == kind).and_then(|v| v["epochMs"].as_f64())
}

fn add_or_missing(report: &mut Report, scenario: &str, metric: &str, system: &str, value: Option<f64>, why: &str) {
    match value {
        Some(v) => report.add(scenario, metric, "ms", system, v),
        None => report.missing(scenario, metric, "ms", system, why),
    }
}

// ----- callsetup ------------------------------------------------------------

const DIAL_RINGS: &str = "dial → the callee rings (INVITE there)";
const ANSWER_AUDIO_CALLER: &str = "answer → first audio at the caller";
const ANSWER_AUDIO_CALLEE: &str = "answer → first audio at the callee";
const DIAL_AUDIO: &str = "dial → first audio at the caller (callee answers at once)";

pub fn scenario_setup(ctx: &Context, report: &mut Report) {
    report.describe(
        "callsetup",
        "Call set-up: dial → ringing, answer → first audio at each end (issue 4 goals: ≤ 100 ms and ≤ 150 ms)",
        "Each system calls itself through the harness Kamailio on loopback (SIP over WS, media peer to peer on \
         127.0.0.1): two Homeline engines (this benchmark's `call` helper, as `homeline-cli phone --loopback` builds \
         one), and two JsSIP 3.13 phones, each in its own headless Chromium (tests/browser/call.mjs). Both ends play a \
         440 Hz tone as the microphone from the first packet; the callee answers as soon as the call comes in. Each \
         process stamps its own events with the system clock, so the figures need no polling by the bench: \
         *dial* is the caller's dial command (Homeline: `Engine::dial` called; JsSIP: `ua.call`), *rings* the \
         callee's incoming-call event (its 180 goes out with it), *answer* the callee's answer command \
         (`Engine::answer`; JsSIP `session.answer`). *First audio* is the first decoded frame that is not silence: \
         in Chromium, the receiving `inbound-rtp` stats' `totalAudioEnergy` turning non-zero (polled every 5 ms); in \
         Homeline, the first non-silent sample of the engine's recording of what it receives (`record_dir`), timed \
         from when that part of the file appears (polled every 1 ms) less the frames decoded after it (the \
         recorder writes 8 KiB blocks; frames come one per 20 ms packet) — the engine has no first-audio event yet. \
         Native anchors, each calling another of its kind (SIP over UDP through the same Kamailio, plain RTP on \
         127.0.0.1, PCMU, a 440 Hz tone as both microphones, the callee auto-answering) — its own kind rather than a \
         Homeline peer, so both ends are the client measured and no rtpengine bridge (WebRTC ↔ RTP) sits in the \
         media path: *dial* is the bench writing the dial command to the caller (baresip: `dial` on its ctrl_tcp \
         socket; linphonec: `call` on its stdin). baresip prints no times: its ctrl_tcp events are stamped by the \
         bench as they arrive on each phone's socket — *rings* is the callee's `CALL_REMOTE_SDP` (the INVITE's \
         offer parsed), *answer* its `CALL_LOCAL_SDP` (the 200 OK's answer made), *first audio* the first loud frame \
         in its decoded-audio dump (sndfile module: after its jitter buffer and decoder, before its player's buffer; \
         written one 20 ms frame at a time). linphonec's times are its \
         own log's millisecond stamps — *rings* the call moving to `IncomingReceived`, *answer* the 200 OK sent \
         (`-a`) — and *first audio* the first loud frame of its recording of what it plays out (`soundcard use \
         files` + `record`, written at playout pace in 4 KiB blocks; timed as Homeline's). Files are polled every 1 ms.",
    );
    for run in 0..ctx.o.runs {
        if ctx.has(HOMELINE) {
            eprintln!("homeline-bench: run {}/{}: call set-up Homeline → Homeline", run + 1, ctx.o.runs);
            if let Err(e) = homeline_setup(ctx, report) {
                eprintln!("homeline-bench: Homeline call set-up: {e}");
                report.missing("callsetup", DIAL_RINGS, "ms", HOMELINE, first_line(&e));
            }
        }
        if ctx.has(JSSIP) {
            eprintln!("homeline-bench: run {}/{}: call set-up JsSIP → JsSIP", run + 1, ctx.o.runs);
            if let Err(e) = jssip_setup(ctx, report) {
                eprintln!("homeline-bench: JsSIP call set-up: {e}");
                report.missing("callsetup", DIAL_RINGS, "ms", JSSIP, first_line(&e));
            }
        }
        for (system, setup) in [(BARESIP, baresip_setup as fn(&Context, &mut Report) -> BenchResult<()>), (LINPHONE, linphone_setup)] {
            if !ctx.has(system) {
                continue;
            }
            eprintln!("homeline-bench: run {}/{}: call set-up {system} → {system}", run + 1, ctx.o.runs);
            if let Err(e) = setup(ctx, report) {
                eprintln!("homeline-bench: {system} call set-up: {e}");
                report.missing("callsetup", DIAL_RINGS, "ms", system, first_line(&e));
            }
        }
    }
}

fn record_setup(report: &mut Report, system: &str, caller: &[Value], callee: &[Value]) {
    let dial = epoch(caller, "dialCommand");
    let rings = epoch(callee, "incoming");
    let answer = epoch(callee, if system == JSSIP { "answering" } else { "answered" });
    let heard_caller = epoch(caller, "audioStarted");
    let heard_callee = epoch(callee, "audioStarted");
    record_stamps(report, system, SetupStamps { dial, rings, answer, heard_caller, heard_callee });
}

/// Epoch ms of one call's set-up, each side's stamps on one time line.
struct SetupStamps {
    dial: Option<f64>,
    rings: Option<f64>,
    answer: Option<f64>,
    heard_caller: Option<f64>,
    heard_callee: Option<f64>,
}

fn record_stamps(report: &mut Report, system: &str, SetupStamps { dial, rings, answer, heard_caller, heard_callee }: SetupStamps) {
    let diff = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    add_or_missing(report, "callsetup", DIAL_RINGS, system, diff(dial, rings), "no dial or incoming stamp");
    add_or_missing(report, "callsetup", ANSWER_AUDIO_CALLER, system, diff(answer, heard_caller), "no answer or first-audio stamp at the caller");
    add_or_missing(report, "callsetup", ANSWER_AUDIO_CALLEE, system, diff(answer, heard_callee), "no answer or first-audio stamp at the callee");
    add_or_missing(report, "callsetup", DIAL_AUDIO, system, diff(dial, heard_caller), "no dial or first-audio stamp at the caller");
}

fn homeline_setup(ctx: &Context, report: &mut Report) -> BenchResult<()> {
    let s = Scratch::new()?;
    let (mut callee, mut callee_lines) =
        systems::start_call_helper(ctx.server, "hs01", &["--auto-answer", "--mic", &s.tone(), "--record-dir", &s.path("callee-rec")])?;
    let go = s.path("go");
    let (mut caller, mut caller_lines) = systems::start_call_helper(
        ctx.server,
        "hs02",
        &["--dial", "hs01", "--go-file", &go, "--mic", &s.tone(), "--record-dir", &s.path("caller-rec")],
    )?;
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&go, b"go").map_err(|e| format!("writing {go}: {e}"))?;
    let caller_seen = systems::call_lines(&mut caller, &mut caller_lines, "audioStarted", WAIT)?;
    let callee_seen = systems::call_lines(&mut callee, &mut callee_lines, "audioStarted", WAIT)?;
    record_setup(report, HOMELINE, &caller_seen, &callee_seen);
    caller.stop();
    callee.stop();
    Ok(())
}

fn jssip_setup(ctx: &Context, report: &mut Report) -> BenchResult<()> {
    let mut callee = JssipCall::start(ctx.server, "js01")?;
    let mut caller = JssipCall::start(ctx.server, "js02")?;
    std::thread::sleep(Duration::from_millis(500));
    caller.send("dial js01")?;
    let caller_seen = caller.until("audioStarted", WAIT)?;
    let callee_seen = callee.until("audioStarted", WAIT)?;
    record_setup(report, JSSIP, &caller_seen, &callee_seen);
    Ok(())
}

/// A G.711 tone as a native phone's microphone, longer than any call here
/// (baresip hangs up when its WAV ends).
fn native_mic(ctx: &Context, s: &Scratch) -> BenchResult<PathBuf> {
    let mic = s.dir.path().join("tone-8k.wav");
    let secs = u32::try_from(ctx.o.call_secs).unwrap_or(u32::MAX).saturating_add(60);
    std::fs::write(&mic, systems::tone_wav_at(8_000, secs)).map_err(|e| format!("writing {}: {e}", mic.display()))?;
    Ok(mic)
}

/// G.711 at 8 kHz, 20 ms per packet (both native phones).
const NATIVE_FRAME: u64 = 160;

/// baresip calls baresip (UDP, plain RTP, PCMU); the bench sends the dial
/// command on the caller's ctrl_tcp socket and stamps every event as it
/// arrives on each one's socket. Rings: the callee's `CALL_REMOTE_SDP`
/// (offer) event, the INVITE parsed; answer: its `CALL_LOCAL_SDP` (answer),
/// the 200 OK's SDP made as it auto-answers; first audio: the first loud
/// frame in each one's decoded-audio dump (sndfile module).
fn baresip_setup(ctx: &Context, report: &mut Report) -> BenchResult<()> {
    let s = Scratch::new()?;
    let mic = native_mic(ctx, &s)?;
    let mut callee = systems::start_baresip_controlled(ctx.server, "bs03", &mic)?;
    let mut caller = systems::start_baresip_controlled(ctx.server, "bs04", &mic)?;
    std::thread::sleep(Duration::from_millis(500));
    let dial = caller.command("dial", &format!("sip:bs03@{}", ctx.server.domain))?;
    let rings = callee.event(|v| v["type"] == "CALL_REMOTE_SDP" && v["param"] == "offer", WAIT);
    let answer = callee.event(|v| v["type"] == "CALL_LOCAL_SDP" && v["param"] == "answer", WAIT);
    let heard = first_sounds(&[&|| caller.decoded_wav(), &|| callee.decoded_wav()], NATIVE_FRAME, WAIT);
    record_stamps(report, BARESIP, SetupStamps { dial: Some(dial), rings, answer, heard_caller: heard[0], heard_callee: heard[1] });
    caller.stop();
    callee.stop();
    Ok(())
}

/// linphonec calls linphonec (UDP, plain RTP, PCMU); the bench writes the
/// `call` command to the caller's stdin. Rings: the callee's log line moving
/// the call to `LinphoneCallIncomingReceived`; answer: its log line sending
/// the 200 OK (it auto-answers, `-a`); first audio: the first loud frame in
/// each one's recording of what it plays out (`record`). Log lines carry
/// linphonec's own millisecond stamps.
fn linphone_setup(ctx: &Context, report: &mut Report) -> BenchResult<()> {
    let s = Scratch::new()?;
    let mic = native_mic(ctx, &s)?;
    let (rec_callee, rec_caller) = (s.dir.path().join("callee.wav"), s.dir.path().join("caller.wav"));
    let callee = systems::start_linphone_controlled(ctx.server, "ls03", &mic, &rec_callee, true)?;
    let caller = systems::start_linphone_controlled(ctx.server, "ls04", &mic, &rec_caller, false)?;
    std::thread::sleep(Duration::from_millis(500));
    let dial = caller.send(&format!("call sip:ls03@{}", ctx.server.domain))?;
    let file = |p: &PathBuf| -> Option<PathBuf> { Some(p.clone()).filter(|p| p.is_file()) };
    let heard = first_sounds(&[&|| file(&rec_caller), &|| file(&rec_callee)], NATIVE_FRAME, WAIT);
    // The log is written as it goes; give its last lines a moment.
    let (mut rings, mut answer) = (None, None);
    homeline_tests::wait_until(Duration::from_secs(3), || {
        let log = callee.entries();
        let after = |e: &&systems::LogEntry| e.epoch_ms >= dial - 1.0;
        rings = log.iter().filter(after).find(|e| e.text.contains("to LinphoneCallIncomingReceived")).map(|e| e.epoch_ms);
        answer = log
            .iter()
            .filter(after)
            .find(|e| e.sent() && e.sip("INVITE").is_some_and(|(first, invite)| first.starts_with("SIP/2.0 200") && invite))
            .map(|e| e.epoch_ms);
        rings.is_some() && answer.is_some()
    });
    record_stamps(report, LINPHONE, SetupStamps { dial: Some(dial), rings, answer, heard_caller: heard[0], heard_callee: heard[1] });
    caller.running.stop();
    callee.running.stop();
    Ok(())
}

/// Follow WAV files of received audio (16-bit mono, 8 kHz, 44-byte header)
/// as they grow (every 1 ms), each found by its `source` once it exists, until
/// each has a loud frame or `timeout` passes: when each loud frame was
/// decoded (epoch ms, see [`first_sound`]).
fn first_sounds(sources: &[&dyn Fn() -> Option<PathBuf>], frame: u64, timeout: Duration) -> Vec<Option<f64>> {
    let deadline = Instant::now() + timeout;
    let mut growth: Vec<Vec<(u64, f64)>> = vec![Vec::new(); sources.len()];
    let mut found: Vec<Option<f64>> = vec![None; sources.len()];
    while found.iter().any(Option::is_none) && Instant::now() < deadline {
        let now = crate::helper::epoch_ms();
        for (i, source) in sources.iter().enumerate() {
            if found[i].is_some() {
                continue;
            }
            let Some(path) = source() else { continue };
            let Ok(size) = std::fs::metadata(&path).map(|m| m.len()) else { continue };
            if growth[i].last().is_some_and(|(s, _)| *s == size) {
                continue;
            }
            growth[i].push((size, now));
            found[i] = std::fs::read(&path).ok().and_then(|bytes| first_sound(&bytes, &growth[i], frame));
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    found
}

/// When the first loud frame in `bytes` (a WAV being written) was decoded,
/// given when the file reached each size: the moment the file first held
/// that sample, less the whole frames written after its frame by then (a
/// writer that buffers writes several frames at once).
fn first_sound(bytes: &[u8], growth: &[(u64, f64)], frame: u64) -> Option<f64> {
    const HEADER: u64 = 44;
    const THRESHOLD: u16 = 300;
    const FRAME_MS: f64 = 20.0;
    let data = bytes.get(HEADER as usize..)?;
    let first = data.chunks_exact(2).position(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > THRESHOLD)? as u64;
    let (size, at) = growth.iter().find(|(size, _)| *size >= HEADER + 2 * (first + 1))?;
    let samples = (size - HEADER) / 2;
    let frames_after = (samples - 1) / frame - first / frame;
    Some(at - frames_after as f64 * FRAME_MS)
}

// ----- callcpu --------------------------------------------------------------

const CPU_CALL: &str = "CPU, one established call (caller)";
const PSS_CALL: &str = "memory (PSS), in one established call (caller)";

/// One caller in a call, whatever the system: its processes, and what keeps the call up.
struct InCall {
    system: &'static str,
    pids: Box<dyn Fn() -> Vec<u32>>,
    /// The call ended on its own (then the window measured no call).
    ended: Box<dyn Fn() -> bool>,
    _keep: Vec<Box<dyn std::any::Any>>,
}

/// Stops a running client when dropped (its `stop` takes it by value); what
/// it printed stays readable while it runs.
struct StopOnDrop(Option<Running>);

impl StopOnDrop {
    fn output_contains(&self, needle: &str) -> bool {
        self.0.as_ref().is_some_and(|r| r.output_contains(needle))
    }
}

pub fn scenario_cpu(ctx: &Context, report: &mut Report) {
    let secs = ctx.o.call_secs;
    report.describe(
        "callcpu",
        "CPU and memory per established call (issue 4 goal: ≤ 2 % of one core and ≤ half of Chromium's)",
        &format!(
            "Each system places one call through the harness Kamailio on loopback and the call is held up while the \
             caller's CPU time is counted (utime + stime from /proc over all of its processes — for JsSIP every \
             Chromium process of that instance) over a window of {secs} s, {settle} s after the call connected, as % \
             of one core. The calls are up at the same time and measured over the same window. Homeline: the \
             `call` helper's engine (Opus, DTLS-SRTP, a 440 Hz tone as the microphone, what it receives decoded to a \
             null sink) calls another. JsSIP in headless Chromium (Opus, DTLS-SRTP, fake microphone playing the same \
             tone) calls a Homeline engine. baresip (plain RTP, G.711 µ-law, a WAV as microphone, what it receives \
             dropped) calls another baresip over UDP. linphonec calls another the same way (PCMU only, `soundcard use \
             files` with the WAV as microphone and no record file: what it receives goes to a void sink; `-a` at the \
             callee). Desktop app (release build when there is one; the header says which): launched as in the \
             startup scenario (Xvfb, its account saved in settings.toml and a harness Secret Service, window open) \
             with a PulseAudio of its own whose null sinks are its speaker and microphone (the user's sound path: \
             device streams, echo cancellation and noise suppression; the sound server's own CPU is not counted, \
             as a user's desktop runs it anyway) and loopback ICE candidates; once registered it is launched a \
             second time with a `sip:` link, as a clicked link does (\"ask before calling a clicked link\" off), \
             which hands the link to the running app, and it dials a Homeline engine that answers by itself \
             (Opus, DTLS-SRTP, the tone as that engine's microphone). Its processes: the app and its WebKit \
             processes (its tree). PSS summed over the same processes at the end of the window.",
            settle = SETTLE.as_secs()
        ),
    );
    let hz = procfs::ticks_per_second();
    for run in 0..ctx.o.runs {
        eprintln!("homeline-bench: run {}/{}: one call per system, {secs} s CPU window", run + 1, ctx.o.runs);
        let Ok(s) = Scratch::new() else { continue };
        let mut calls: Vec<InCall> = Vec::new();
        for system in [HOMELINE, HOMELINE_APP, JSSIP, BARESIP, LINPHONE] {
            if !ctx.has(system) {
                continue;
            }
            let up = match system {
                HOMELINE => homeline_in_call(ctx, &s, "hs03", "hs04"),
                HOMELINE_APP => app_in_call(ctx, &s),
                JSSIP => jssip_in_call(ctx, &s),
                LINPHONE => linphone_in_call(ctx, &s),
                _ => baresip_in_call(ctx, &s),
            };
            match up {
                Ok(c) => calls.push(c),
                Err(e) => {
                    eprintln!("homeline-bench: {system}'s call: {e}");
                    report.missing("callcpu", CPU_CALL, "% of one core", system, first_line(&e));
                }
            }
        }
        std::thread::sleep(SETTLE);
        let before: Vec<_> = calls.iter().map(|c| procfs::cpu_ticks(&(c.pids)())).collect();
        let t0 = Instant::now();
        std::thread::sleep(Duration::from_secs(secs));
        let window = t0.elapsed().as_secs_f64();
        for (c, before) in calls.iter().zip(&before) {
            if (c.ended)() {
                report.missing("callcpu", CPU_CALL, "% of one core", c.system, "the call ended before the end of the window");
                continue;
            }
            let pids = (c.pids)();
            let after = procfs::cpu_ticks(&pids);
            let cpu = procfs::ticks_between(before, &after) as f64 / hz / window * 100.0;
            report.add("callcpu", CPU_CALL, "% of one core", c.system, cpu);
            report.add("callcpu", PSS_CALL, "MiB", c.system, procfs::pss_mib(&pids));
            if run == 0 {
                report.note("callcpu", &format!("{}: counted {}.", c.system, procfs::describe(&pids)));
            }
            if pids.len() > 1 {
                let split = procfs::cpu_by_name(before, &after, hz, window);
                report.note("callcpu", &format!("{} run {}: {split}.", c.system, run + 1));
            }
        }
        drop(calls);
    }
}

/// Two `call` helpers, `caller` dialing `callee`; returns once the caller's call is active.
fn homeline_pair(ctx: &Context, s: &Scratch, callee_user: &str, caller_user: &str, extra: &[&str]) -> BenchResult<(Running, LogWatch, Running, LogWatch)> {
    let (callee, callee_lines) = systems::start_call_helper(ctx.server, callee_user, &["--auto-answer", "--mic", &s.tone()])?;
    let go = s.path(&format!("go-{caller_user}"));
    let tone = s.tone();
    let mut args = vec!["--dial", callee_user, "--go-file", &go, "--mic", &tone];
    args.extend_from_slice(extra);
    let (mut caller, mut caller_lines) = systems::start_call_helper(ctx.server, caller_user, &args)?;
    std::fs::write(&go, b"go").map_err(|e| format!("writing {go}: {e}"))?;
    systems::call_lines(&mut caller, &mut caller_lines, "active", WAIT)?;
    Ok((callee, callee_lines, caller, caller_lines))
}

fn homeline_in_call(ctx: &Context, s: &Scratch, callee_user: &str, caller_user: &str) -> BenchResult<InCall> {
    let (callee, _, caller, _) = homeline_pair(ctx, s, callee_user, caller_user, &[])?;
    let root = caller.service.pid();
    let caller = std::rc::Rc::new(StopOnDrop(Some(caller)));
    let watched = std::rc::Rc::clone(&caller);
    Ok(InCall {
        system: HOMELINE,
        pids: Box::new(move || root.map(procfs::tree).unwrap_or_default()),
        ended: Box::new(move || watched.output_contains("\"type\":\"ended\"")),
        _keep: vec![Box::new(caller), Box::new(StopOnDrop(Some(callee)))],
    })
}

/// The desktop app, window open, in a call it dialed from a clicked `sip:`
/// link (a second launch hands the link over): a Homeline engine answers.
/// Its own Xvfb, Secret Service and settings (account `ha02`; the link is
/// dialed at once), and a PulseAudio with null sinks as its sound devices.
fn app_in_call(ctx: &Context, s: &Scratch) -> BenchResult<InCall> {
    const CALLEE: &str = "hs10";
    let app = ctx.app.ok_or("the desktop app is not part of this run (`--app`, `make app`)")?;
    let pulse = homeline_tests::services::pulse::start().map_err(|e| format!("PulseAudio for the app: {e}"))?;
    let desktop = systems::prepare_desktop(ctx.server, "ha02")?;
    systems::write_app_prefs(&desktop, "askBeforeLinkCall = false\nmicExplained = true\n")?;
    let (mut callee, mut callee_lines) = systems::start_call_helper(ctx.server, CALLEE, &["--auto-answer", "--mic", &s.tone()])?;
    let env = [("PULSE_SERVER".to_owned(), pulse.server()), (homeline_phone::media_options::TEST_LOOPBACK_ENV.to_owned(), "1".to_owned())];
    let running = StopOnDrop(Some(systems::start_app_with(app, &desktop, &env)?));
    systems::hand_link_to_app(app, &desktop, &format!("sip:{CALLEE}@{}", ctx.server.domain))?;
    systems::call_lines(&mut callee, &mut callee_lines, "active", WAIT).map_err(|e| format!("the app's call to {CALLEE}: {e}"))?;
    // A user's call plays and records through the sound server: without both streams this is not that call.
    let streams = |kind: &str| pulse.pactl(&["list", "short", kind]).map(|out| out.lines().filter(|l| !l.trim().is_empty()).count()).unwrap_or(0);
    if !homeline_tests::wait_until(Duration::from_secs(10), || streams("sink-inputs") > 0 && streams("source-outputs") > 0) {
        return Err(format!(
            "in the call, the app has {} playing and {} recording streams on its PulseAudio (want one of each)",
            streams("sink-inputs"),
            streams("source-outputs")
        ));
    }
    let app_running = std::rc::Rc::new(running);
    let (for_pids, callee) = (std::rc::Rc::clone(&app_running), std::rc::Rc::new(StopOnDrop(Some(callee))));
    let watched = std::rc::Rc::clone(&callee);
    Ok(InCall {
        system: HOMELINE_APP,
        pids: Box::new(move || for_pids.0.as_ref().map(Running::pids).unwrap_or_default()),
        ended: Box::new(move || watched.output_contains("\"type\":\"ended\"")),
        // Dropped in this order: the app, its callee, then its display, keychain and sound server.
        _keep: vec![Box::new(app_running), Box::new(callee), Box::new(desktop), Box::new(pulse)],
    })
}

fn jssip_in_call(ctx: &Context, s: &Scratch) -> BenchResult<InCall> {
    let (callee, _) = systems::start_call_helper(ctx.server, "hs05", &["--auto-answer", "--mic", &s.tone()])?;
    let mut js = JssipCall::start(ctx.server, "js03")?;
    js.send("dial hs05")?;
    js.until("confirmed", WAIT)?;
    let marker = js.marker().to_owned();
    let js = std::rc::Rc::new(js);
    let watched = std::rc::Rc::clone(&js);
    Ok(InCall {
        system: JSSIP,
        pids: Box::new(move || {
            let mut pids = procfs::with_cmdline(&marker);
            pids.retain(|p| procfs::name(*p).starts_with("chrom"));
            pids
        }),
        ended: Box::new(move || watched.output_contains("\"type\":\"ended\"") || watched.output_contains("\"type\":\"failed\"")),
        _keep: vec![Box::new(js), Box::new(StopOnDrop(Some(callee)))],
    })
}

fn baresip_in_call(ctx: &Context, s: &Scratch) -> BenchResult<InCall> {
    // baresip hangs up when its WAV microphone ends (it does not loop it): longer than the call.
    native_in_call(ctx, s, BARESIP, systems::start_baresip_phone, ("bs01", "bs02"), "Call established", &["terminated"])
}

fn linphone_in_call(ctx: &Context, s: &Scratch) -> BenchResult<InCall> {
    native_in_call(ctx, s, LINPHONE, systems::start_linphone_phone, ("ls01", "ls02"), " connected.", &[" ended (", " error."])
}

type StartPhone = fn(&systems::Server, &str, &std::path::Path, Option<&str>) -> BenchResult<Running>;

/// A native phone (`start`: auto-answering, or dialing) calling another of
/// its kind, a G.711 WAV longer than the call as both microphones; up once the
/// caller's output has `connected`, ended once it has any of `ended`.
fn native_in_call(
    ctx: &Context,
    s: &Scratch,
    system: &'static str,
    start: StartPhone,
    (callee_user, caller_user): (&str, &str),
    connected: &str,
    ended: &'static [&'static str],
) -> BenchResult<InCall> {
    let mic = s.dir.path().join(format!("tone-8k-{system}.wav"));
    let secs = u32::try_from(ctx.o.call_secs).unwrap_or(u32::MAX).saturating_add(60);
    std::fs::write(&mic, systems::tone_wav_at(8_000, secs)).map_err(|e| format!("writing {}: {e}", mic.display()))?;
    let callee = start(ctx.server, callee_user, &mic, None)?;
    let target = format!("sip:{callee_user}@{}", ctx.server.domain);
    let mut caller = start(ctx.server, caller_user, &mic, Some(&target))?;
    systems::wait_for_line(&mut caller, connected, WAIT)?;
    let root = caller.service.pid();
    let caller = std::rc::Rc::new(StopOnDrop(Some(caller)));
    let watched = std::rc::Rc::clone(&caller);
    Ok(InCall {
        system,
        pids: Box::new(move || root.map(procfs::tree).unwrap_or_default()),
        ended: Box::new(move || ended.iter().any(|e| watched.output_contains(e))),
        _keep: vec![Box::new(caller), Box::new(StopOnDrop(Some(callee)))],
    })
}

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Some(r) = self.0.take() {
            r.stop();
        }
    }
}

// ----- concurrent -----------------------------------------------------------

const CALLS_AT_ONCE: usize = 8;

pub fn scenario_concurrent(ctx: &Context, report: &mut Report) {
    if !ctx.has(HOMELINE) {
        return;
    }
    let secs = ctx.o.call_secs;
    report.describe(
        "concurrent",
        "Eight calls at once in one engine",
        &format!(
            "One Homeline engine (the `call` helper) dials {CALLS_AT_ONCE} calls, one after the other as each connects, to \
             another engine that answers them all: both engines then hold {CALLS_AT_ONCE} calls (whatever the engine's \
             policy does with the ones not in front — hold or mix — is what a user gets). CPU over {secs} s and PSS, \
             {settle} s after the last call connected, for each engine; beside it the same figures with one call \
             (the `callcpu` caller). No anchor: a browser tab holds one call. One run (not repeated).",
            settle = SETTLE.as_secs()
        ),
    );
    let hz = procfs::ticks_per_second();
    {
        eprintln!("homeline-bench: {CALLS_AT_ONCE} calls in one engine");
        let result = (|| -> BenchResult<()> {
            let s = Scratch::new()?;
            let count = CALLS_AT_ONCE.to_string();
            let (callee, _, mut caller, mut caller_lines) = homeline_pair(ctx, &s, "hs09", "hs08", &["--calls", &count])?;
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let seen = systems::call_lines(&mut caller, &mut caller_lines, "active", WAIT)?;
                if seen.iter().any(|v| v["calls"].as_u64().unwrap_or(0) >= CALLS_AT_ONCE as u64) {
                    break;
                }
                if Instant::now() > deadline {
                    return Err(format!("fewer than {CALLS_AT_ONCE} calls connected within 120 s"));
                }
            }
            std::thread::sleep(SETTLE);
            let sides = [("caller", &caller), ("callee", &callee)];
            let before: Vec<_> = sides.iter().map(|(_, r)| procfs::cpu_ticks(&r.pids())).collect();
            let t0 = Instant::now();
            std::thread::sleep(Duration::from_secs(secs));
            let window = t0.elapsed().as_secs_f64();
            for ((side, r), before) in sides.iter().zip(&before) {
                let pids = r.pids();
                let cpu = procfs::ticks_between(before, &procfs::cpu_ticks(&pids)) as f64 / hz / window * 100.0;
                report.add("concurrent", &format!("CPU, {CALLS_AT_ONCE} calls in one engine ({side})"), "% of one core", HOMELINE, cpu);
                report.add("concurrent", &format!("memory (PSS), {CALLS_AT_ONCE} calls in one engine ({side})"), "MiB", HOMELINE, procfs::pss_mib(&pids));
            }
            caller.stop();
            callee.stop();
            Ok(())
        })();
        if let Err(e) = result {
            eprintln!("homeline-bench: {CALLS_AT_ONCE} calls: {e}");
            report.missing("concurrent", &format!("CPU, {CALLS_AT_ONCE} calls in one engine (caller)"), "% of one core", HOMELINE, first_line(&e));
        }
    }
}

// ----- soak -----------------------------------------------------------------

pub fn scenario_soak(ctx: &Context, report: &mut Report) {
    if !ctx.has(HOMELINE) {
        return;
    }
    let n = ctx.o.soak_calls;
    report.describe(
        "soak",
        &format!("Soak: {n} consecutive calls between two homeline-cli processes"),
        &format!(
            "Two `homeline-cli phone --loopback` processes (the real CLI, commands on stdin) registered over WS at the \
             harness Kamailio; the callee answers by itself (`--auto-answer`), both play a tone. {n} times: the caller \
             dials, waits until the call is active, hangs up, and both wait until the call has ended on both sides. \
             A call that fails or does not connect within {w} s counts as a failure. Memory (PSS and resident set) of \
             each process before the first call, after the 10th and after the last; one run (not repeated).",
            w = WAIT.as_secs()
        ),
    );
    eprintln!("homeline-bench: soak of {n} calls");
    if let Err(e) = soak(ctx, report, n) {
        eprintln!("homeline-bench: soak: {e}");
        report.missing("soak", "failed calls", "calls", HOMELINE, first_line(&e));
    }
}

fn soak(ctx: &Context, report: &mut Report, n: usize) -> BenchResult<()> {
    let s = Scratch::new()?;
    let mut callee = systems::CliPhone::start(&ctx.o.cli, ctx.server, "hs06", &["--auto-answer", "--mic", &s.tone()])?;
    let mut caller = systems::CliPhone::start(&ctx.o.cli, ctx.server, "hs07", &["--mic", &s.tone()])?;
    let memory = |label: &str, report: &mut Report, caller: &systems::CliPhone, callee: &systems::CliPhone| {
        for (side, p) in [("caller", caller), ("callee", callee)] {
            let pids = p.pids();
            report.add("soak", &format!("memory (PSS) {label} ({side})"), "MiB", HOMELINE, procfs::pss_mib(&pids));
            report.add("soak", &format!("memory (RSS) {label} ({side})"), "MiB", HOMELINE, procfs::rss_mib(&pids));
        }
    };
    memory("before the first call", report, &caller, &callee);
    let started = Instant::now();
    let mut failures = 0usize;
    let mut reasons: Vec<String> = Vec::new();
    let is_state = |state: &'static str| move |v: &Value| v["type"] == "callChanged" && v["state"] == state;
    for i in 1..=n {
        let outcome = (|| -> BenchResult<()> {
            caller.send("dial hs06")?;
            let up = caller.until(|v| is_state("active")(v) || is_state("ended")(v) || v["type"] == "commandFailed", WAIT)?;
            if up["state"] != "active" {
                return Err(format!("the call did not connect: {up}"));
            }
            caller.send("hangup")?;
            caller.until(is_state("ended"), WAIT)?;
            callee.until(is_state("ended"), WAIT)?;
            Ok(())
        })();
        if let Err(e) = outcome {
            failures += 1;
            if reasons.len() < 3 {
                reasons.push(format!("call {i}: {}", first_line(&e)));
            }
            // Leave nothing half-up for the next call.
            let _ = caller.send("hangup");
            std::thread::sleep(Duration::from_secs(1));
            if !caller.is_running() || !callee.is_running() {
                return Err(format!("a phone stopped after {i} calls ({failures} failed): {}", reasons.join("; ")));
            }
        }
        if i == 10.min(n) {
            memory("after the 10th call", report, &caller, &callee);
        }
        if i % 100 == 0 {
            eprintln!("homeline-bench: soak: {i} calls, {failures} failed");
        }
    }
    let secs = started.elapsed().as_secs_f64();
    memory("after the last call", report, &caller, &callee);
    report.add("soak", "failed calls", "calls", HOMELINE, failures as f64);
    report.add("soak", "time per call (dial → active → hang-up → ended both sides)", "ms", HOMELINE, secs * 1000.0 / n as f64);
    report.note("soak", &format!("{n} calls in {secs:.0} s, {failures} failed{}.", if reasons.is_empty() { String::new() } else { format!(": {}", reasons.join("; ")) }));
    Ok(())
}

// ----- calls: the native phones ----------------------------------------------

/// The `calls` scenario's figures, in the order [`native_call`] reports them.
pub(crate) struct CallMetrics<'a> {
    pub invite_ringing: &'a str,
    pub invite_active: &'a str,
    pub dial_ringing: &'a str,
    pub dial_active: &'a str,
    pub pss_idle: &'a str,
    pub pss_call: &'a str,
    pub uss_call: &'a str,
}

/// One call of a native phone to another of its kind (the callee answers by
/// itself), as the `calls` scenario measures Homeline: at the caller, INVITE
/// sent → 180 and → 200, the dial command → 180 and → 200, and its memory
/// idle and in the call. baresip: its ctrl_tcp events, stamped as they arrive
/// (`CALL_LOCAL_SDP` offer — the INVITE goes out with it — → `CALL_RINGING` →
/// `CALL_ESTABLISHED`); linphonec: its log's own stamps of the INVITE sent and
/// the 180 and 200 received.
pub(crate) fn native_call(ctx: &Context, report: &mut Report, system: &str, m: &CallMetrics) -> BenchResult<()> {
    let s = Scratch::new()?;
    let mic = native_mic(ctx, &s)?;
    let d = |a: Option<f64>, b: Option<f64>| a.zip(b).map(|(a, b)| b - a);
    if system == BARESIP {
        // As for linphonec below: a call whose 180 never reached the caller is placed again.
        let mut attempt = 1;
        loop {
            let callee = systems::start_baresip_controlled(ctx.server, "bs05", &mic)?;
            let mut caller = systems::start_baresip_controlled(ctx.server, "bs06", &mic)?;
            std::thread::sleep(SETTLE);
            let idle_pss = procfs::pss_mib(&caller.running.pids());
            let dial = Some(caller.command("dial", &format!("sip:bs05@{}", ctx.server.domain))?);
            let active = caller.event(|v| v["type"] == "CALL_ESTABLISHED", WAIT);
            let offer = caller.event(|v| v["type"] == "CALL_LOCAL_SDP" && v["param"] == "offer", Duration::ZERO);
            let ringing = caller.event(|v| v["type"] == "CALL_RINGING", Duration::ZERO);
            if active.is_some() && ringing.is_none() && attempt < 3 {
                report.note("calls", &format!("baresip: call {attempt} connected but its caller saw no 180 Ringing; placed again"));
                caller.stop();
                callee.stop();
                attempt += 1;
                continue;
            }
            let values = [d(offer, ringing), d(offer, active), d(dial, ringing), d(dial, active)];
            let result = finish_native_call(report, system, m, values, idle_pss, &caller.running);
            caller.stop();
            callee.stop();
            return result;
        }
    }
    // Over UDP a 180 is sent once and never retransmitted (RFC 3261 §17.2.1),
    // and Kamailio's UDP workers may forward the callee's back-to-back 180
    // and 200 in either order (the caller then drops a 180 after the 200):
    // such a call is placed again (a fresh pair of phones), at most three times.
    let mut attempt = 1;
    loop {
        let callee = systems::start_linphone_controlled(ctx.server, "ls05", &mic, &s.dir.path().join("callee.wav"), true)?;
        let caller = systems::start_linphone_controlled(ctx.server, "ls06", &mic, &s.dir.path().join("caller.wav"), false)?;
        std::thread::sleep(SETTLE);
        let idle_pss = procfs::pss_mib(&caller.running.pids());
        let dial = caller.send(&format!("call sip:ls05@{}", ctx.server.domain))?;
        let mut found = [None; 3];
        let seen = |found: &mut [Option<f64>; 3]| {
            let log = caller.entries();
            let at = |sent: bool, start: &str| {
                log.iter()
                    .filter(|e| e.epoch_ms >= dial - 1.0 && e.sent() == sent)
                    .find(|e| e.sip("INVITE").is_some_and(|(first, invite)| invite && first.starts_with(start)))
                    .map(|e| e.epoch_ms)
            };
            *found = [at(true, "INVITE "), at(false, "SIP/2.0 180"), at(false, "SIP/2.0 200")];
        };
        homeline_tests::wait_until(WAIT, || {
            seen(&mut found);
            found[2].is_some()
        });
        if found[2].is_some() && found[1].is_none() {
            // The log is read while linphonec writes it: give a late line a moment.
            homeline_tests::wait_until(Duration::from_secs(1), || {
                seen(&mut found);
                found[1].is_some()
            });
        }
        if found[2].is_some() && found[1].is_none() && attempt < 3 {
            report.note("calls", &format!("linphonec: call {attempt} connected but its caller saw no 180 Ringing; placed again"));
            caller.running.stop();
            callee.running.stop();
            attempt += 1;
            continue;
        }
        let [invite, ringing, active] = found;
        let values = [d(invite, ringing), d(invite, active), d(Some(dial), ringing), d(Some(dial), active)];
        let result = finish_native_call(report, system, m, values, idle_pss, &caller.running);
        caller.running.stop();
        callee.running.stop();
        return result;
    }
}

fn finish_native_call(report: &mut Report, system: &str, m: &CallMetrics, values: [Option<f64>; 4], idle_pss: f64, caller: &Running) -> BenchResult<()> {
    let metrics = [m.invite_ringing, m.invite_active, m.dial_ringing, m.dial_active];
    for (metric, value) in metrics.iter().zip(values) {
        add_or_missing(report, "calls", metric, system, value, "no such event from the caller");
    }
    if values[3].is_none() {
        return Err(format!("the {system} call did not connect within {} s", WAIT.as_secs()));
    }
    std::thread::sleep(SETTLE);
    let pids = caller.pids();
    report.add("calls", m.pss_idle, "MiB", system, idle_pss);
    report.add("calls", m.pss_call, "MiB", system, procfs::pss_mib(&pids));
    report.add("calls", m.uss_call, "MiB", system, procfs::uss_mib(&pids));
    Ok(())
}
