//! `audio` (issues 5 and 9): how a Homeline call sounds and how late it is.
//!
//! - PESQ (wideband, P.862.2) of espeak-ng speech through a real WebRTC call (ICE,
//!   DTLS-SRTP, Opus, the adaptive jitter buffer) between two in-process
//!   `homeline_rtc::Session`s on loopback, clean and through the impairment relay
//!   (crates/impair) at 5 % random loss + 40 ± 40 ms delay, the way
//!   tests/tests/impaired_call.rs makes that call; scored by tests/src/quality.rs.
//! - Mouth-to-ear latency: clicks after a few seconds of near-silence, the time
//!   from each click in the sent stream to the same click in the received one,
//!   both stamped on one clock as the engine reads and plays them.
//!
//! - Beside Homeline's receiver, Chromium's (NetEq): the same Homeline caller, speech,
//!   encoder, relays and seeds, answered by a page in headless Chromium
//!   (tests/browser/neteq.mjs) that records what the browser plays out.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use homeline_impair::sdp::{candidate_addrs, route_candidate};
use homeline_impair::{Impairment, Relay, RelayConfig};
use homeline_media::frame::{AudioSink, AudioSource, Frame, NullSink, SilenceSource, SourceState, FRAME_SAMPLES, SAMPLE_RATE};
use homeline_media::jitter::JitterStats;
use homeline_media::wav::{AtEnd, WavFileSource, WavRecorder};
use homeline_rtc::{MediaIo, Session, SessionConfig, SessionEvent};
use homeline_tests::quality::{self, Mode};
use serde_json::Value;
use tokio::sync::mpsc;

use crate::report::{Report, BARESIP, HOMELINE, JSSIP, LINPHONE};
use crate::systems::{LogWatch, Piped};
use crate::{first_line, procfs, Context};

const SCENARIO: &str = "audio";
const PESQ_CLEAN: &str = "PESQ wideband (P.862.2), clean loopback call — higher is better";
const PESQ_IMPAIRED: &str = "PESQ wideband (P.862.2), 5 % random loss + 40 ± 40 ms delay — higher is better";
const LATENCY: &str = "mouth-to-ear latency, click in → click out, jitter buffer settled";
const JB_TARGET: &str = "jitter buffer target delay after the last click";
const JB_CURRENT: &str = "jitter buffer delay (audio waiting) after the last click";

/// The same Harvard sentences as tests/tests/impaired_call.rs (≈ 10 s).
/// espeak-ng voices of the two talkers (default male, and female `+f3`).
const TALKERS: [&str; 2] = ["en-us", "en-us+f3"];

const SPEECH: &str = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
                      It is easy to tell the depth of a well. These days a chicken leg is a rare dish.";

/// Latency signal: this long of near-silence first, so the jitter buffer has learned the
/// (steady) delay and dropped silent frames down to its floor.
const QUIET_SECS: f64 = 3.0;
const CLICKS: usize = 5;
const CLICK_EVERY_SECS: f64 = 1.0;

type Res<T> = Result<T, String>;

#[path = "audio_anchors.rs"]
mod anchors;

pub(crate) fn scenario_audio(ctx: &Context, report: &mut Report) {
    report.describe(
        SCENARIO,
        "Audio: speech quality (PESQ) and mouth-to-ear latency (issue 5 goals: PESQ ≥ 4.2 clean, ≥ 3.5 at 5 % loss + 40 ms jitter; latency ≤ 60 ms)",
        &format!(
            "A real WebRTC call (ICE, DTLS-SRTP, Opus at 48 kHz, 20 ms frames, Homeline's adaptive jitter buffer) between \
             two in-process `homeline_rtc::Session`s on loopback, set up as tests/tests/impaired_call.rs does: each side's \
             candidate is rewritten to an impairment relay (crates/impair), so every packet crosses one. **PESQ**: the \
             caller plays espeak-ng speech (four Harvard sentences, ≈ 10 s, from a WAV file; two talkers, the default \
             male voice and `+f3`, each run's figure is their mean), the callee records what its \
             jitter buffer plays out; wideband PESQ (ITU-T P.862.2, PyPI `pesq`, after alignment: tests/src/quality.rs) \
             of the recording against the sent file. The encoder is set as the phone's loss policy sets it \
             (`homeline_phone::loss_policy::target_for_loss`: clean 48 kbit/s, FEC for 1 %; at 5 % loss 64 kbit/s, FEC \
             for 5 %). Clean: relays that pass everything. Impaired: caller → callee loses 5 % of packets at random and \
             delays each by 40 ± 40 ms (uniform, so packets reorder), a new seed each run. **The browser beside it**: \
             in a JsSIP call JsSIP does the signalling only; what the listener hears is Chromium's WebRTC receiver \
             (NetEq and libopus). So the same Homeline caller, with the same speech, encoder settings, relays and seeds, \
             calls Debian's headless Chromium instead (tests/browser/neteq.mjs: a page on loopback whose \
             `RTCPeerConnection` answers the offer, no SIP); the page plays the remote track as a softphone page does \
             (an `<audio>` element, muted) and records the audio Chromium's renderer pulls out of NetEq (a \
             `MediaStreamTrackProcessor` on the track: the renderer's own 10 ms chunks at 48 kHz, no second audio \
             clock), written as a WAV and scored the same way. Only the receiver differs, so the two rows compare \
             jitter buffers, concealment and decoders. Unlike every other figure \
             here, **higher PESQ is better** (1 bad … 4.64 no audible difference), so \"Homeline ÷\" above 1 means \
             Homeline is better. **Latency**: no relays; the caller sends {QUIET_SECS:.0} s of near-silence (noise at about \
             −60 dBFS, below the buffer's silence level) and then {CLICKS} clicks {CLICK_EVERY_SECS:.0} s apart (2 ms \
             bursts); the engine's reads of the source and writes to the sink are stamped on one clock. A read frame is \
             taken as captured over the 20 ms before its read (as a microphone delivers it) and a written frame as heard \
             from its write on; the latency is from each click's onset in the sent stream to its onset in the received \
             one (first sample above a quarter of the click's peak) — Opus framing, encoding, the network path, the \
             jitter buffer and decoding, but no sound-card buffers. The jitter buffer's target delay and the audio it holds are \
             read from the callee's call stats after the last click.\n\n{}",
            anchors::METHOD
        ),
    );
    let systems: Vec<(&str, Receiver)> =
        [(HOMELINE, Receiver::Homeline), (JSSIP, Receiver::Chromium)].into_iter().filter(|(s, _)| ctx.has(s)).collect();
    let g711 = [HOMELINE, BARESIP, LINPHONE].iter().any(|s| ctx.has(s));
    if systems.is_empty() && !g711 {
        return;
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            for (system, _) in &systems {
                report.missing(SCENARIO, PESQ_CLEAN, "MOS", system, &format!("tokio runtime: {e}"));
            }
            return;
        }
    };
    // HOMELINE_BENCH_KEEP_AUDIO=1 keeps the sent and received WAVs (the folder is printed).
    let keep = std::env::var_os("HOMELINE_BENCH_KEEP_AUDIO").is_some_and(|v| v == "1");
    let dir = match tempfile::Builder::new().prefix("homeline-bench-audio-").disable_cleanup(keep).tempdir() {
        Ok(d) => {
            if keep {
                eprintln!("homeline-bench: the audio files stay in {}", d.path().display());
            }
            d
        }
        Err(e) => {
            for (system, _) in &systems {
                report.missing(SCENARIO, PESQ_CLEAN, "MOS", system, &format!("temp dir: {e}"));
            }
            return;
        }
    };
    // Two talkers, as P.862 asks for more than one: espeak-ng's default (male) voice and its
    // `+f3` (female) one, which cli_quality also uses. Each run's figure is their mean; the
    // synthetic male voice scores lower through any codec (3.7 vs 4.2 clean, measured here).
    let talkers: Vec<PathBuf> = TALKERS.iter().map(|v| dir.path().join(format!("said-{v}.wav"))).collect();
    let ready = TALKERS
        .iter()
        .zip(&talkers)
        .try_for_each(|(voice, path)| quality::speech_wav(SPEECH, voice, path))
        .and_then(|()| quality::venv_python().map(drop))
        .map_err(|e| e.to_string());
    // A system that failed every call of a condition in one run is not tried again
    // in later runs of it (a missing browser would otherwise cost a minute each time).
    let mut broken: Vec<(&str, bool, String)> = Vec::new();
    // One browser for every call it receives (started before the first), so its
    // start-up does not load the machine during a call.
    let mut chromium: Option<NeteqPeer> = None;
    for run in 0..ctx.o.runs {
        for (metric, impaired) in [(PESQ_CLEAN, false), (PESQ_IMPAIRED, true)] {
            let condition = if impaired { "impaired" } else { "clean" };
            let seed = 11 + 2 * run as u64;
            let mut each_system = Vec::new();
            for &(system, receiver) in &systems {
                if let Err(e) = &ready {
                    report.missing(SCENARIO, metric, "MOS", system, first_line(e));
                    continue;
                }
                if let Some((_, _, why)) = broken.iter().find(|(s, i, _)| *s == system && *i == impaired) {
                    report.missing(SCENARIO, metric, "MOS", system, &why.clone());
                    continue;
                }
                eprintln!(
                    "homeline-bench: run {}/{}: PESQ, {}, received by {receiver:?}",
                    run + 1,
                    ctx.o.runs,
                    if impaired { "5 % loss + 40 ± 40 ms" } else { "clean" }
                );
                // The same speech, encoder, relays and seeds for every receiver.
                let scored: Res<Vec<(f64, Option<String>)>> = talkers
                    .iter()
                    .enumerate()
                    .map(|(i, said)| {
                        let heard = dir.path().join(format!("heard-{system}-{run}-{impaired}-{i}.wav"));
                        match receiver {
                            Receiver::Homeline => runtime.block_on(pesq_call(said, &heard, impaired, seed, None)),
                            Receiver::Chromium => runtime.block_on(async {
                                if chromium.is_none() {
                                    chromium = Some(NeteqPeer::start().await?);
                                }
                                let scored = pesq_call(said, &heard, impaired, seed, chromium.as_mut()).await;
                                if scored.is_err() {
                                    chromium = None; // a fresh browser for the next call
                                }
                                scored
                            }),
                        }
                    })
                    .collect();
                match scored {
                    Ok(scores) => {
                        let mean = scores.iter().map(|(s, _)| s).sum::<f64>() / scores.len().max(1) as f64;
                        report.add(SCENARIO, metric, "MOS", system, mean);
                        let each: Vec<String> = TALKERS
                            .iter()
                            .zip(&scores)
                            .map(|(v, (s, n))| format!("{v} {s:.2}{}", n.as_ref().map(|n| format!(" ({n})")).unwrap_or_default()))
                            .collect();
                        let who = if receiver == Receiver::Homeline { "Homeline" } else { "Chromium" };
                        each_system.push(format!("{who} {}", each.join(", ")));
                    }
                    Err(e) => {
                        eprintln!("homeline-bench: the PESQ call to {receiver:?} failed: {e}");
                        report.missing(SCENARIO, metric, "MOS", system, first_line(&e));
                        broken.push((system, impaired, format!("{} (failed in run {})", first_line(&e), run + 1)));
                    }
                }
            }
            if !each_system.is_empty() {
                report.note(SCENARIO, &format!("Run {}, {condition}: {}", run + 1, each_system.join("; ")));
            }
        }
        if ctx.has(JSSIP) && !broken.iter().any(|(s, _, _)| *s == JSSIP) {
            eprintln!("homeline-bench: run {}/{}: mouth-to-ear latency at Chromium ({CLICKS} clicks)", run + 1, ctx.o.runs);
            let heard = dir.path().join(format!("heard-clicks-chromium-{run}.wav"));
            let measured = runtime.block_on(async {
                if chromium.is_none() {
                    chromium = Some(NeteqPeer::start().await?);
                }
                let Some(peer) = chromium.as_mut() else { return Err("no browser".to_owned()) };
                let measured = latency_call_chromium(peer, &heard).await;
                if measured.is_err() {
                    chromium = None; // a fresh browser for the next call
                }
                measured
            });
            match measured {
                Ok(latencies) => latencies.into_iter().for_each(|l| report.add(SCENARIO, LATENCY, "ms", JSSIP, l)),
                Err(e) => {
                    eprintln!("homeline-bench: the latency call to Chromium failed: {e}");
                    report.missing(SCENARIO, LATENCY, "ms", JSSIP, first_line(&e));
                }
            }
        }
        if !ctx.has(HOMELINE) {
            continue;
        }
        eprintln!("homeline-bench: run {}/{}: mouth-to-ear latency ({CLICKS} clicks)", run + 1, ctx.o.runs);
        match runtime.block_on(latency_call()) {
            Ok((latencies, jb)) => {
                for l in latencies {
                    report.add(SCENARIO, LATENCY, "ms", HOMELINE, l);
                }
                report.add(SCENARIO, JB_TARGET, "ms", HOMELINE, jb.target_delay_ms);
                report.add(SCENARIO, JB_CURRENT, "ms", HOMELINE, jb.current_delay_ms);
            }
            Err(e) => {
                eprintln!("homeline-bench: the latency call failed: {e}");
                report.missing(SCENARIO, LATENCY, "ms", HOMELINE, first_line(&e));
            }
        }
    }
    report.note(
        SCENARIO,
        &format!(
            "Latency: every click of every run is one value ({CLICKS} per run). Chromium's: the same Homeline caller and \
             clicks, straight on loopback, to the NetEq page, which stamps each chunk its renderer hands over on the wall \
             clock (`performance.timeOrigin + performance.now()`); a click is heard when its chunk arrived plus its place \
             in the chunk, as Homeline's is when its frame is written. Neither includes a sound card's buffer."
        ),
    );
    // The browser is not needed any more: it would only load the machine during the G.711 calls.
    drop(chromium.take());
    if g711 && ready.is_ok() {
        // The native phones take G.711 only: one talker in --quick (CI), both otherwise.
        let voices: Vec<(&str, PathBuf)> = TALKERS
            .iter()
            .zip(&talkers)
            .skip(if ctx.o.quick { 1 } else { 0 })
            .map(|(v, p)| (*v, p.clone()))
            .collect();
        anchors::scenario(ctx, report, &runtime, dir.path(), &voices);
    } else if let (true, Err(e)) = (g711, &ready) {
        for system in [HOMELINE, BARESIP, LINPHONE].into_iter().filter(|s| ctx.has(s)) {
            report.missing(SCENARIO, anchors::PESQ_NB_CLEAN, "MOS", system, first_line(e));
        }
    }
}

async fn connected(events: &mut mpsc::Receiver<SessionEvent>) -> Res<()> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        match tokio::time::timeout_at(deadline, events.recv()).await {
            Ok(Some(SessionEvent::Connected)) => return Ok(()),
            Ok(Some(SessionEvent::Failed { reason })) => return Err(format!("the call failed: {reason}")),
            Ok(Some(_)) => {}
            Ok(None) => return Err("the session ended before it connected".into()),
            Err(_) => return Err("no connection within 30 s".into()),
        }
    }
}

fn err(what: &'static str) -> impl Fn(homeline_rtc::RtcError) -> String {
    move |e| format!("{what}: {e}")
}

fn loopback_candidate(sdp: &str) -> Res<SocketAddr> {
    candidate_addrs(sdp).into_iter().find(|a| a.ip().is_loopback() && a.is_ipv4()).ok_or_else(|| {
        let lines: Vec<&str> = sdp.lines().filter(|l| l.starts_with("a=candidate:")).collect();
        format!("no IPv4 loopback candidate in the SDP (its candidates: {})", if lines.is_empty() { "none".to_owned() } else { lines.join(" | ") })
    })
}

/// Who answers the call and plays out what it receives.
enum Far<'a> {
    /// A Homeline session (its jitter buffer and decoder) writing to this sink.
    Homeline(Box<dyn AudioSink>),
    /// Chromium's WebRTC receiver (NetEq), recording.
    Chromium(&'a mut NeteqPeer),
}

enum Callee<'a> {
    Homeline(Box<Session>),
    Chromium(&'a mut NeteqPeer),
}

/// A Homeline caller connected on loopback to a callee: through two relays
/// (`route`: caller → callee impaired as given, the way back clean), or directly.
struct Call<'a> {
    caller: Session,
    callee: Callee<'a>,
    relays: Option<(Relay, Relay)>,
}

impl Callee<'_> {
    async fn answer(&mut self, offer: &str) -> Res<String> {
        match self {
            Callee::Homeline(s) => s.accept_offer(offer).await.map_err(err("answer")),
            Callee::Chromium(peer) => peer.answer(offer).await,
        }
    }
}

impl<'a> Call<'a> {
    async fn start(source: Box<dyn AudioSource>, far: Far<'a>, route: Option<(Impairment, u64)>) -> Res<Self> {
        let (caller, mut caller_events) =
            Session::new(SessionConfig::loopback(), MediaIo { source, sink: Box::new(NullSink::default()) }).await.map_err(err("caller"))?;
        let (mut callee, callee_events) = match far {
            Far::Homeline(sink) => {
                let (s, events) =
                    Session::new(SessionConfig::loopback(), MediaIo { source: Box::new(SilenceSource), sink }).await.map_err(err("callee"))?;
                (Callee::Homeline(Box::new(s)), Some(events))
            }
            Far::Chromium(peer) => (Callee::Chromium(peer), None),
        };
        caller.prepare().await.map_err(err("prepare"))?;
        let offer = caller.create_offer().await.map_err(err("offer"))?;
        let relays = match route {
            None => {
                let answer = callee.answer(&offer).await?;
                caller.accept_answer(&answer).await.map_err(err("accepting the answer"))?;
                None
            }
            Some((impaired, seed)) => {
                let any: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
                let caller_addr = loopback_candidate(&offer)?;
                // Callee → relay A → caller: clean.
                let relay_a = Relay::start(RelayConfig {
                    listen: any,
                    target: caller_addr,
                    to_target: Impairment::none(),
                    to_client: Impairment::none(),
                    seed,
                })
                .await
                .map_err(|e| format!("relay: {e}"))?;
                let answer = callee.answer(&route_candidate(&offer, caller_addr, relay_a.local_addr())).await?;
                let callee_addr = loopback_candidate(&answer)?;
                // Caller → relay B → callee: impaired.
                let relay_b = Relay::start(RelayConfig {
                    listen: any,
                    target: callee_addr,
                    to_target: impaired,
                    to_client: Impairment::none(),
                    seed: seed + 100,
                })
                .await
                .map_err(|e| format!("relay: {e}"))?;
                caller
                    .accept_answer(&route_candidate(&answer, callee_addr, relay_b.local_addr()))
                    .await
                    .map_err(err("accepting the answer"))?;
                Some((relay_a, relay_b))
            }
        };
        connected(&mut caller_events).await?;
        match (&mut callee, callee_events) {
            (Callee::Homeline(_), Some(mut events)) => connected(&mut events).await?,
            (Callee::Chromium(peer), _) => drop(peer.until("connectionState", Duration::from_secs(30)).await?),
            (Callee::Homeline(_), None) => {}
        }
        Ok(Self { caller, callee, relays })
    }

    /// The encoder as the phone's loss policy sets it at `loss_percent`.
    fn follow_policy(&self, loss_percent: f64) {
        let policy = homeline_phone::loss_policy::target_for_loss(loss_percent);
        self.caller.set_bitrate(policy.bitrate_bps);
        self.caller.set_expected_loss(policy.expected_loss_percent);
    }

    /// Closes both ends (the callee's sink is finished; Chromium quits) and the relays: how many
    /// caller → callee packets the relay dropped, of how many.
    async fn close(self) -> Option<(u64, u64)> {
        self.caller.close().await;
        match self.callee {
            Callee::Homeline(s) => s.close().await,
            // It hangs up when it saves the recording (or at the next offer).
            Callee::Chromium(_) => {}
        }
        match self.relays {
            Some((a, b)) => {
                let _ = a.stop().await;
                let b = b.stop().await;
                Some((b.to_target.dropped, b.to_target.received))
            }
            None => None,
        }
    }
}

/// Who receives the speech in a PESQ call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Receiver {
    Homeline,
    Chromium,
}

/// One call from a Homeline session playing `said` to `receiver`; its recording
/// (at `heard`) scored against `said`, with a note on what the relay and the
/// receiver saw.
async fn pesq_call(said: &Path, heard: &Path, impaired: bool, seed: u64, receiver: Option<&mut NeteqPeer>) -> Res<(f64, Option<String>)> {
    let source = WavFileSource::open(said, AtEnd::Silence).map_err(|e| format!("{}: {e}", said.display()))?;
    let length = source.len() as f64 / f64::from(SAMPLE_RATE);
    let (far, who) = match receiver {
        None => (Far::Homeline(Box::new(WavRecorder::create(heard).map_err(|e| format!("{}: {e}", heard.display()))?)), "Homeline"),
        Some(peer) => (Far::Chromium(peer), "Chromium"),
    };
    let impairment = if impaired {
        Impairment { loss: 0.05, delay: Duration::from_millis(40), jitter: Duration::from_millis(40), ..Impairment::none() }
    } else {
        Impairment::none()
    };
    let mut call = Call::start(Box::new(source), far, Some((impairment, seed))).await?;
    call.follow_policy(if impaired { 5.0 } else { 0.0 });
    // Play the speech out and let the last of it through.
    tokio::time::sleep(Duration::from_secs_f64(length + 1.5)).await;
    // What the receiver made up: Chromium's NetEq or Homeline's jitter buffer.
    let (chromium, concealed) = match &mut call.callee {
        Callee::Chromium(peer) => {
            let stats = peer.finish(heard).await?;
            let concealed = concealed_percent(&stats);
            (Some(stats), concealed)
        }
        Callee::Homeline(s) => {
            (None, Some(s.stats().await.jitter_buffer.concealed_percent()))
        }
    };
    let dropped = call.close().await;
    let score = quality::score(said, heard, Mode::Wideband).map_err(|e| e.to_string())?;
    eprintln!("homeline-bench: PESQ {:.2} at {who} ({score:?}; relay dropped/relayed {dropped:?})", score.pesq);
    if let Some(stats) = &chromium {
        eprintln!("homeline-bench: Chromium's inbound-rtp: {stats}");
    }
    if score.overlap_s < length * 0.8 {
        return Err(format!("only {:.1} s of {length:.1} s of speech could be compared", score.overlap_s));
    }
    let mut notes = Vec::new();
    if let (true, Some((d, r))) = (impaired, dropped) {
        notes.push(format!("{:.1} % lost at the relay", 100.0 * d as f64 / r.max(1) as f64));
    }
    if let Some(concealed) = concealed {
        notes.push(format!("{:.1} % concealed", concealed));
    }
    Ok((score.pesq, (!notes.is_empty()).then(|| notes.join(", "))))
}

/// The share of Chromium's played-out samples that its concealment made up
/// (`concealedSamples` of `totalSamplesReceived`, inbound-rtp stats).
fn concealed_percent(stats: &Value) -> Option<f64> {
    let total = stats["totalSamplesReceived"].as_f64().filter(|t| *t > 0.0)?;
    Some(100.0 * stats["concealedSamples"].as_f64()? / total)
}

/// Chromium's WebRTC receiver as the far end of a PESQ call: tests/browser/neteq.mjs
/// (node + playwright-core driving Debian's headless Chromium) answers the offer with
/// a plain `RTCPeerConnection` and records what it plays out. Commands go to its
/// stdin, JSON lines come back through a log file; it runs in its own process group,
/// stopped (and every Chromium process of its profile killed) on drop.
struct NeteqPeer {
    driver: Piped,
    watch: LogWatch,
    log: PathBuf,
    /// The profile folder, on every Chromium process of this instance.
    marker: String,
    _dir: tempfile::TempDir,
}

impl NeteqPeer {
    /// Starts the browser and waits for its page.
    async fn start() -> Res<Self> {
        use std::os::unix::process::CommandExt;
        let node = homeline_tests::require_program("node", "nodejs").map_err(|e| e.to_string())?;
        homeline_tests::require_program("chromium", "chromium").map_err(|e| e.to_string())?;
        let browser_dir = homeline_tests::workspace_root().join("tests/browser");
        if !browser_dir.join("node_modules/playwright-core").is_dir() {
            return Err(format!("{}/node_modules is missing: run `make setup` (npm ci in tests/browser)", browser_dir.display()));
        }
        let dir = tempfile::Builder::new().prefix("homeline-bench-neteq-").tempdir().map_err(|e| format!("temp dir: {e}"))?;
        let profile = dir.path().join("chromium-profile");
        std::fs::create_dir(&profile).map_err(|e| format!("creating {}: {e}", profile.display()))?;
        let log = dir.path().join("neteq.log");
        let out = std::fs::File::create(&log).map_err(|e| format!("creating {}: {e}", log.display()))?;
        let err = out.try_clone().map_err(|e| e.to_string())?;
        let child = std::process::Command::new(node)
            .arg(browser_dir.join("neteq.mjs"))
            .current_dir(&browser_dir)
            .env("NETEQ_USER_DATA_DIR", &profile)
            .env("NETEQ_FOR_SECONDS", "7200")
            .env("HOME", dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(out)
            .stderr(err)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("starting neteq.mjs: {e}"))?;
        let mut me = Self { driver: Piped::new(child), watch: LogWatch::new(&log), log, marker: profile.display().to_string(), _dir: dir };
        me.until("ready", Duration::from_secs(60)).await?;
        Ok(me)
    }

    /// The next line of type `kind` (`connectionState`: the one saying `connected`).
    async fn until(&mut self, kind: &str, timeout: Duration) -> Res<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            for line in self.watch.new_lines() {
                let Ok(v) = serde_json::from_str::<Value>(&line) else { continue };
                let t = v["type"].as_str().unwrap_or_default();
                if matches!(t, "warning" | "console" | "pageError") {
                    eprintln!("homeline-bench: Chromium: {}", line.get(..300).unwrap_or(&line));
                }
                if t == "failed" || t == "stopped" || (t == "connectionState" && v["state"] == "failed") {
                    return Err(format!("Chromium: {line}"));
                }
                if t == kind && (kind != "connectionState" || v["state"] == "connected") {
                    return Ok(v);
                }
            }
            if Instant::now() >= deadline {
                let text = std::fs::read_to_string(&self.log).unwrap_or_default();
                let tail: Vec<&str> = text.lines().rev().take(6).collect();
                let tail: Vec<&str> = tail.into_iter().rev().map(|l| l.get(..300).unwrap_or(l)).collect();
                return Err(format!("Chromium: no {kind} within {timeout:?}; last lines: {}", tail.join(" | ")));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }

    /// Chromium's answer to `offer`, with its candidates.
    async fn answer(&mut self, offer: &str) -> Res<String> {
        self.driver.send(&serde_json::json!({ "offer": offer }).to_string())?;
        let v = self.until("answer", Duration::from_secs(30)).await?;
        v["sdp"].as_str().map(str::to_owned).ok_or_else(|| "Chromium's answer has no SDP".to_owned())
    }

    /// Hangs up and writes the recording to `heard`: the receiver's stats at the end.
    async fn finish(&mut self, heard: &Path) -> Res<Value> {
        Ok(self.finish_saved(heard).await?["stats"].clone())
    }

    /// [`Self::finish`], answering the whole `saved` line (with `rate` and `arrivals`).
    async fn finish_saved(&mut self, heard: &Path) -> Res<Value> {
        self.driver.send(&serde_json::json!({ "stop": heard }).to_string())?;
        let v = self.until("saved", Duration::from_secs(30)).await?;
        eprintln!(
            "homeline-bench: Chromium recorded {} samples at {} Hz ({}; gaps {} ms), NetEq played {}",
            v["samples"], v["rate"], v["mode"], v["gapMs"], v["stats"]["totalSamplesReceived"]
        );
        Ok(v)
    }
}

impl Drop for NeteqPeer {
    fn drop(&mut self) {
        self.driver.stop();
        homeline_tests::wait_until(Duration::from_secs(3), || procfs::with_cmdline(&self.marker).is_empty());
        procfs::kill_with_cmdline(&self.marker);
    }
}

/// Frames with the moment the engine handled each, on one clock.
#[derive(Default)]
struct Stamped {
    at: Vec<Instant>,
    samples: Vec<i16>,
}

type Shared = Arc<Mutex<Stamped>>;

/// The sent signal, stamped as the send loop reads it.
struct StampedSource {
    inner: WavFileSource,
    log: Shared,
}

impl AudioSource for StampedSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        let state = self.inner.read_frame(frame);
        if let Ok(mut log) = self.log.lock() {
            log.at.push(Instant::now());
            log.samples.extend_from_slice(frame);
        }
        state
    }
}

/// What the jitter buffer plays out, stamped as it is written.
struct StampedSink {
    log: Shared,
}

impl AudioSink for StampedSink {
    fn write_frame(&mut self, frame: &Frame) {
        if let Ok(mut log) = self.log.lock() {
            log.at.push(Instant::now());
            log.samples.extend_from_slice(frame);
        }
    }
}

/// Near-silence, then clicks, at `rate`: (signal, where each click starts).
fn click_signal(rate: usize) -> (Vec<i16>, Vec<usize>) {
    let total = ((QUIET_SECS + CLICKS as f64 * CLICK_EVERY_SECS + 0.5) * rate as f64) as usize;
    let mut state: u32 = 0x1234_5678;
    let mut signal: Vec<i16> = (0..total)
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            // ±40 of 32768: about −62 dBFS RMS.
            ((state >> 16) % 81) as i16 - 40
        })
        .collect();
    let click_len = rate / 500; // 2 ms
    let starts: Vec<usize> = (0..CLICKS).map(|i| ((QUIET_SECS + i as f64 * CLICK_EVERY_SECS) * rate as f64) as usize).collect();
    for &start in &starts {
        for k in 0..click_len {
            let window = (std::f64::consts::PI * k as f64 / click_len as f64).sin();
            let tone = (2.0 * std::f64::consts::PI * 2000.0 * k as f64 / rate as f64).sin();
            signal[start + k] = (20_000.0 * window * tone) as i16;
        }
    }
    (signal, starts)
}

/// The first sample in `samples[from..to]` above a quarter of that span's peak.
fn onset(samples: &[i16], from: usize, to: usize) -> Option<usize> {
    let span = samples.get(from..to.min(samples.len()))?;
    let peak = span.iter().map(|s| i32::from(*s).abs()).max()?;
    if peak < 2000 {
        return None; // no click there (the background is ±40)
    }
    span.iter().position(|s| i32::from(*s).abs() * 4 >= peak).map(|i| from + i)
}

/// When sample `i` of a stamped stream was spoken (`captured`: the frame holds the 20 ms
/// before its read) or heard (the frame plays from its write on).
fn moment(log: &Stamped, i: usize, captured: bool) -> Option<Instant> {
    let at = *log.at.get(i / FRAME_SAMPLES)?;
    let into = Duration::from_secs_f64((i % FRAME_SAMPLES) as f64 / f64::from(SAMPLE_RATE));
    if captured {
        at.checked_sub(Duration::from_millis(20)).map(|t| t + into)
    } else {
        Some(at + into)
    }
}

/// One direct loopback call playing the clicks: each click's latency (ms) and the
/// jitter buffer's stats after the last click.
async fn latency_call() -> Res<(Vec<f64>, JitterStats)> {
    let (signal, starts) = click_signal(SAMPLE_RATE as usize);
    let length = signal.len() as f64 / f64::from(SAMPLE_RATE);
    let sent: Shared = Arc::default();
    let heard: Shared = Arc::default();
    let source = StampedSource { inner: WavFileSource::from_samples(signal, AtEnd::Silence), log: sent.clone() };
    let sink = StampedSink { log: heard.clone() };
    let call = Call::start(Box::new(source), Far::Homeline(Box::new(sink)), None).await?;
    call.follow_policy(0.0);
    tokio::time::sleep(Duration::from_secs_f64(length + 1.0)).await;
    let Callee::Homeline(callee) = &call.callee else { return Err("the latency call has a Homeline callee".into()) };
    let jb = callee.stats().await.jitter_buffer;
    call.close().await;
    let sent = sent.lock().map_err(|_| "the sent log was poisoned")?;
    let heard = heard.lock().map_err(|_| "the received log was poisoned")?;
    let rate = SAMPLE_RATE as usize;
    let mut latencies = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let s = onset(&sent.samples, start, start + rate / 100).ok_or_else(|| format!("click {} is not in the sent stream", n + 1))?;
        let spoken = moment(&sent, s, true).ok_or("the sent click has no time stamp")?;
        // Look for it in the received stream from when it was spoken to 0.5 s after.
        let from = heard.at.iter().position(|t| *t + Duration::from_millis(20) >= spoken).unwrap_or(heard.at.len()) * FRAME_SAMPLES;
        let r = onset(&heard.samples, from, from + rate / 2).ok_or_else(|| format!("click {} never arrived (within 0.5 s)", n + 1))?;
        let played = moment(&heard, r, false).ok_or("the received click has no time stamp")?;
        latencies.push(played.saturating_duration_since(spoken).as_secs_f64() * 1000.0);
    }
    eprintln!("homeline-bench: mouth-to-ear {latencies:.1?} ms; jitter buffer {jb:?}");
    Ok((latencies, jb))
}

/// The same clicks from a Homeline caller to Chromium's receiver (NetEq), straight on
/// loopback: each click's latency (ms). The page stamps each chunk its renderer hands
/// over on the wall clock (`performance.timeOrigin + now()`); the sent clicks' moments
/// are put on the same clock from one reading of both clocks at the start.
async fn latency_call_chromium(peer: &mut NeteqPeer, heard: &Path) -> Res<Vec<f64>> {
    let (signal, starts) = click_signal(SAMPLE_RATE as usize);
    let length = signal.len() as f64 / f64::from(SAMPLE_RATE);
    let sent: Shared = Arc::default();
    let source = StampedSource { inner: WavFileSource::from_samples(signal, AtEnd::Silence), log: sent.clone() };
    let (clock, wall) = (Instant::now(), std::time::SystemTime::now());
    let wall_ms = |t: Instant| -> Res<f64> {
        let since = wall.duration_since(std::time::UNIX_EPOCH).map_err(|e| e.to_string())?;
        Ok((since + t.saturating_duration_since(clock)).as_secs_f64() * 1000.0)
    };
    let mut call = Call::start(Box::new(source), Far::Chromium(peer), None).await?;
    call.follow_policy(0.0);
    tokio::time::sleep(Duration::from_secs_f64(length + 1.0)).await;
    let Callee::Chromium(peer) = &mut call.callee else { return Err("the latency call has a Chromium callee".into()) };
    let saved = peer.finish_saved(heard).await?;
    call.close().await;
    let rate = saved["rate"].as_f64().filter(|r| *r > 0.0).ok_or("Chromium's recording has no rate")?;
    // Chunk starts at 48 kHz (the recording is read back at 48 kHz) and when they arrived.
    let arrivals: Vec<(usize, f64)> = saved["arrivals"]
        .as_array()
        .ok_or("Chromium's recording has no arrival times")?
        .iter()
        .filter_map(|a| Some(((a[0].as_f64()? * f64::from(SAMPLE_RATE) / rate) as usize, a[1].as_f64()?)))
        .collect();
    if arrivals.is_empty() {
        return Err("Chromium's recording has no arrival times".into());
    }
    let samples = homeline_media::wav::read_wav_48k_mono(heard).map_err(|e| format!("{}: {e}", heard.display()))?;
    let sent = sent.lock().map_err(|_| "the sent log was poisoned")?;
    let out_rate = SAMPLE_RATE as usize;
    let mut latencies = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let s = onset(&sent.samples, start, start + out_rate / 100).ok_or_else(|| format!("click {} is not in the sent stream", n + 1))?;
        let spoken = wall_ms(moment(&sent, s, true).ok_or("the sent click has no time stamp")?)?;
        // Look for it from the chunk that arrived 20 ms before it was spoken, for 0.5 s.
        let from = arrivals.iter().find(|(_, at)| *at + 20.0 >= spoken).map_or(samples.len(), |(i, _)| *i);
        let r = onset(&samples, from, from + out_rate / 2).ok_or_else(|| format!("click {} never reached Chromium's recording (within 0.5 s)", n + 1))?;
        let (chunk, arrived) = arrivals.iter().rev().find(|(i, _)| *i <= r).copied().ok_or("the received click has no arrival time")?;
        let played = arrived + (r - chunk) as f64 * 1000.0 / f64::from(SAMPLE_RATE);
        latencies.push(played - spoken);
    }
    eprintln!("homeline-bench: mouth-to-ear at Chromium {latencies:.1?} ms");
    Ok(latencies)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn clicks_stand_out_of_the_near_silence_and_are_found_at_their_start() {
        let (signal, starts) = click_signal(SAMPLE_RATE as usize);
        assert_eq!(starts.len(), CLICKS);
        let quiet = quality::rms_dbfs(&signal[..starts[0]]);
        assert!(quiet < -55.0, "below the jitter buffer's silence level: {quiet}");
        for &s in &starts {
            let found = onset(&signal, s.saturating_sub(480), s + 480).unwrap();
            assert!(found >= s && found < s + 48, "click at {s} found at {found}");
        }
        assert_eq!(onset(&signal, 0, starts[0]), None, "nothing but noise before the first click");
    }
}
