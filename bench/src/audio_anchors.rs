//! G.711 beside the native phones (issue 9): narrowband PESQ and mouth-to-ear latency of
//! the RECEIVING client — its jitter buffer, loss handling and decoder — for Homeline
//! (`homeline-cli`), baresip and linphonec, all fed by one sender.
//!
//! The sender is this program: a SIP call over UDP (a digest-authenticated INVITE from
//! `sip_probe`, offering PCMU only) and RTP it paces itself, every 20 ms, 160 µ-law
//! samples of the 8 kHz speech (sox's resampling, the scorer's too). Every receiver is
//! reached the same way, through a Kamailio with rtpengine started here (the bench's own
//! Kamailio has none, and Homeline takes a plain-RTP caller only through a WebRTC
//! gateway): plain RTP from rtpengine to baresip and linphonec, DTLS-SRTP over the
//! WebSocket leg to Homeline. The impairment relay sits between the sender and rtpengine:
//! the sender offers its own address and sends to a relay whose target is rtpengine's
//! port from the answer; rtpengine (userspace, no buffering) forwards each packet as it
//! comes, so the receiver sees the loss and the jitter. The anchors' SDP cannot be
//! rewritten in a call through Kamailio without a hook, so the relay is not put between
//! rtpengine and them; the sender's side is the one the bench owns.
//!
//! Receiving to a WAV: Homeline `--record-dir` (what its jitter buffer plays out),
//! baresip's `sndfile` module (`…-dec.wav`: what its jitter buffer and decoder give,
//! before its player's buffer), linphonec in file mode (`soundcard use files`, `record
//! FILE`: what its sound-card output receives).
//!
//! Latency: the receiver's file is watched as it grows (every half millisecond); a sample
//! is heard when the write holding it reaches the file. baresip writes each frame as it
//! decodes it; linphonec and Homeline write through a buffer that the write filling it
//! flushes, so a flushed chunk's last sample was just played and the others are placed
//! by their distance from it.

use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_impair::{Impairment, Relay, RelayConfig};
use homeline_media::g711::linear_to_ulaw;
use homeline_tests::quality::{self, Mode};
use homeline_tests::services::kamailio::{self, KamailioOptions};
use homeline_tests::services::rtpengine;
use homeline_tests::sip_probe::{ack_for_failure, SipMessage, SipProbe};

use crate::report::{Report, BARESIP, HOMELINE, LINPHONE};
use crate::systems::{self, CliPhone, Running, Server};
use crate::{first_line, Context};

use super::{click_signal, onset, SCENARIO};

pub(super) const PESQ_NB_CLEAN: &str = "PESQ narrowband (P.862), G.711 µ-law received through Kamailio + rtpengine, clean — higher is better";
pub(super) const PESQ_NB_IMPAIRED: &str =
    "PESQ narrowband (P.862), G.711 µ-law, 5 % random loss + 40 ± 40 ms delay into rtpengine — higher is better";
pub(super) const LATENCY_NB: &str = "mouth-to-ear latency, G.711 through rtpengine, click sent → click in the receiver's recording";

/// The sender (it only authenticates its INVITE) and each receiver's user: ones no other scenario uses.
const SENDER: &str = "ls09";
const RATE: usize = 8000;
const FRAME: usize = 160;
/// Silence before the speech: the receiver's answer, and for Homeline ICE and DTLS with rtpengine, come first.
const LEAD_SECS: f64 = 1.5;
const TAIL_SECS: f64 = 1.5;
/// Writes bigger than this are not timed (a buffer that big says little about playout).
const MAX_CHUNK_MS: f64 = 1000.0;

type Res<T> = Result<T, String>;

pub(super) const METHOD: &str = "**G.711 beside the native phones** (issue 9): narrowband PESQ (ITU-T P.862, 8 kHz) of \
    the *receiving* client — its jitter buffer, loss handling and G.711 decoder — for Homeline (`homeline-cli phone \
    --auto-answer --codecs pcmu --record-dir`), baresip 1.0 (its default jitter buffer, 5–10 frames, and no `plc` \
    module, as its default config has it; the `sndfile` module writes what it decodes, before its player's buffer) \
    and linphonec 5.1 (`soundcard use files`, `record FILE`: what its sound-card output receives). One sender for \
    all: the bench calls each receiver over UDP (an authenticated INVITE offering PCMU only) and paces the RTP \
    itself, 160 µ-law samples every 20 ms of the same speech resampled to 8 kHz by sox. Every call takes the same \
    path: a Kamailio with rtpengine started for these calls, plain RTP on to baresip and linphonec, DTLS-SRTP over \
    the WebSocket leg to Homeline. The impairment relay sits between the sender and rtpengine (the sender's SDP is \
    the one the bench owns; the anchors' cannot be rewritten in a call through Kamailio without a hook) and \
    rtpengine forwards each packet as it comes, so the receiver gets the loss and the jitter: 5 % random loss and \
    40 ± 40 ms delay, the seeds of the Opus rows, so every receiver loses the same packets. Scored as the Opus rows \
    are, against the sent speech, mean of the talkers (one talker, `en-us+f3`, in `--quick`). **Latency**: 3 s of \
    near-silence then 5 clicks 1 s apart, no relay; a click is spoken 20 ms before its packet leaves (as a \
    microphone frame would be) and heard when the write holding it reaches the receiver's WAV (the file is \
    watched every half millisecond as it grows) — so no sound-card buffers, and for baresip not its player's \
    buffer either. baresip writes each 20 ms frame as it decodes it; linphonec (in 256 ms chunks) and Homeline's \
    recorder (85 ms) write through a buffer that the write filling it flushes, so the last sample of a flushed \
    chunk is taken as just played (its 10 ms tick or 20 ms frame playing from the flush on) and the click placed \
    by its distance from it: good to about one frame.";

/// One receiver, started once for every call it takes.
enum Rx {
    Homeline(CliPhone),
    Baresip(Running),
    Linphone(Running),
}

struct Receiver {
    system: &'static str,
    user: &'static str,
    rx: Rx,
    /// Where its recordings appear.
    dir: PathBuf,
    calls: usize,
}

impl Receiver {
    fn start(ctx: &Context, server: &Server, system: &'static str, dir: &Path, mic: &Path) -> Res<Self> {
        let folder = dir.join(format!("rx-{system}"));
        std::fs::create_dir_all(&folder).map_err(|e| format!("creating {}: {e}", folder.display()))?;
        let (user, rx) = match system {
            HOMELINE => {
                let record = folder.display().to_string();
                let phone = CliPhone::start(&ctx.o.cli, server, "hs10", &["--auto-answer", "--codecs", "pcmu", "--record-dir", &record])?;
                ("hs10", Rx::Homeline(phone))
            }
            BARESIP => ("bs10", Rx::Baresip(systems::start_baresip_recorder(server, "bs10", mic, &folder)?)),
            _ => ("ls10", Rx::Linphone(systems::start_linphone_phone(server, "ls10", mic, None)?)),
        };
        Ok(Self { system, user, rx, dir: folder, calls: 0 })
    }

    /// Before a call: linphonec is told where to record it.
    fn prepare(&mut self) -> Res<()> {
        self.calls += 1;
        if let Rx::Linphone(r) = &self.rx {
            systems::linphone_command(r, &format!("record {}", self.dir.join(format!("call-{}.wav", self.calls)).display()))?;
            // It reads its FIFO on its own loop: give the command a moment to land.
            std::thread::sleep(Duration::from_millis(300));
        }
        Ok(())
    }

    /// This client's recordings so far.
    fn recordings(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return Vec::new() };
        let mut files: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "wav"))
            .filter(|p| self.system != BARESIP || p.to_string_lossy().ends_with("-dec.wav"))
            .collect();
        files.sort();
        files
    }

    /// How much it plays out at a time: Homeline and baresip a 20 ms frame, linphonec a 10 ms tick.
    fn frame_ms(&self) -> usize {
        match self.rx {
            Rx::Linphone(_) => 10,
            _ => 20,
        }
    }

    fn running(&mut self) -> bool {
        match &mut self.rx {
            Rx::Homeline(p) => p.is_running(),
            Rx::Baresip(r) | Rx::Linphone(r) => r.service.is_running(),
        }
    }

    fn stop(self) {
        match self.rx {
            Rx::Homeline(p) => drop(p),
            Rx::Baresip(r) | Rx::Linphone(r) => r.stop(),
        }
    }
}

/// What the receivers were given and what they made of it, per run.
pub(super) fn scenario(ctx: &Context, report: &mut Report, runtime: &tokio::runtime::Runtime, dir: &Path, talkers: &[(&str, PathBuf)]) {
    let systems: Vec<&'static str> = [HOMELINE, BARESIP, LINPHONE].into_iter().filter(|s| ctx.has(s)).collect();
    if systems.is_empty() {
        return;
    }
    // Its own Kamailio, with rtpengine: the bench's has none (its calls are Homeline to
    // Homeline or anchor to anchor), and Homeline takes a plain-RTP caller only through it.
    let bridge = rtpengine::start().map_err(|e| format!("rtpengine: {e}")).and_then(|engine| {
        let password = homeline_tests::sip_probe::random_token(20);
        let mut opts = KamailioOptions::new().with_rtpengine(Some(&engine));
        for user in [SENDER, "hs10", "bs10", "ls10"] {
            opts = opts.user(user, &password);
        }
        let k = kamailio::start(&opts).map_err(|e| format!("Kamailio with rtpengine: {e}"))?;
        let server = Server::of(&k, &password);
        Ok((engine, k, server))
    });
    let (_engine, _kamailio, server) = match bridge {
        Ok(b) => b,
        Err(e) => {
            for s in &systems {
                report.missing(SCENARIO, PESQ_NB_CLEAN, "MOS", s, first_line(&e));
            }
            return;
        }
    };
    let server = &server;
    let prepared = prepare(dir, talkers);
    let (speech, clicks, silence) = match prepared {
        Ok(p) => p,
        Err(e) => {
            for s in &systems {
                report.missing(SCENARIO, PESQ_NB_CLEAN, "MOS", s, first_line(&e));
            }
            return;
        }
    };
    for system in systems {
        let mut rx = match Receiver::start(ctx, server, system, dir, &silence) {
            Ok(rx) => rx,
            Err(e) => {
                eprintln!("homeline-bench: the G.711 receiver {system} did not start: {e}");
                for metric in [PESQ_NB_CLEAN, PESQ_NB_IMPAIRED] {
                    report.missing(SCENARIO, metric, "MOS", system, first_line(&e));
                }
                report.missing(SCENARIO, LATENCY_NB, "ms", system, first_line(&e));
                continue;
            }
        };
        let mut broken: Vec<(bool, String)> = Vec::new();
        let mut latency_broken: Option<String> = None;
        for run in 0..ctx.o.runs {
            let mut each = Vec::new();
            for (metric, impaired) in [(PESQ_NB_CLEAN, false), (PESQ_NB_IMPAIRED, true)] {
                if let Some((_, why)) = broken.iter().find(|(i, _)| *i == impaired) {
                    report.missing(SCENARIO, metric, "MOS", system, why);
                    continue;
                }
                let seed = 11 + 2 * run as u64;
                let mut scores = Vec::new();
                let mut failed = None;
                for (voice, said, samples) in &speech {
                    eprintln!(
                        "homeline-bench: run {}/{}: G.711 PESQ, {}, {voice}, received by {system}",
                        run + 1,
                        ctx.o.runs,
                        if impaired { "5 % loss + 40 ± 40 ms" } else { "clean" }
                    );
                    match pesq_call(server, runtime, &mut rx, said, samples, impaired.then_some(seed)) {
                        Ok(s) => scores.push((voice, s)),
                        Err(e) => {
                            eprintln!("homeline-bench: the G.711 call to {system} failed: {e}");
                            failed = Some(e);
                            break;
                        }
                    }
                }
                match failed {
                    None if !scores.is_empty() => {
                        let mean = scores.iter().map(|(_, s)| s).sum::<f64>() / scores.len() as f64;
                        report.add(SCENARIO, metric, "MOS", system, mean);
                        let list: Vec<String> = scores.iter().map(|(v, s)| format!("{v} {s:.2}")).collect();
                        each.push(format!("{} {}", if impaired { "impaired" } else { "clean" }, list.join(", ")));
                    }
                    None => {}
                    Some(e) => {
                        report.missing(SCENARIO, metric, "MOS", system, first_line(&e));
                        broken.push((impaired, format!("{} (failed in run {})", first_line(&e), run + 1)));
                    }
                }
            }
            if !each.is_empty() {
                report.note(SCENARIO, &format!("G.711 run {}, received by {system}: {}", run + 1, each.join("; ")));
            }
            if let Some(why) = &latency_broken {
                report.missing(SCENARIO, LATENCY_NB, "ms", system, why);
                continue;
            }
            eprintln!("homeline-bench: run {}/{}: G.711 mouth-to-ear latency, received by {system}", run + 1, ctx.o.runs);
            match latency_call(server, runtime, &mut rx, &clicks) {
                Ok(Ok(ms)) => {
                    eprintln!("homeline-bench: G.711 mouth-to-ear at {system}: {ms:.1?} ms");
                    for l in ms {
                        report.add(SCENARIO, LATENCY_NB, "ms", system, l);
                    }
                }
                // The recording gives no timing: it will not in a later run either.
                Ok(Err(why)) => {
                    eprintln!("homeline-bench: no G.711 latency for {system}: {why}");
                    report.missing(SCENARIO, LATENCY_NB, "ms", system, &why);
                    latency_broken = Some(why);
                }
                Err(e) => {
                    eprintln!("homeline-bench: the G.711 latency call to {system} failed: {e}");
                    report.missing(SCENARIO, LATENCY_NB, "ms", system, first_line(&e));
                }
            }
            if !rx.running() {
                eprintln!("homeline-bench: the G.711 receiver {system} exited");
                break;
            }
        }
        rx.stop();
    }
}

type Speech<'a> = Vec<(&'a str, PathBuf, Vec<i16>)>;

/// Each talker's speech at 8 kHz (sox), the click signal, and a silent WAV for the receivers' microphones.
fn prepare<'a>(dir: &Path, talkers: &[(&'a str, PathBuf)]) -> Res<(Speech<'a>, Vec<i16>, PathBuf)> {
    let sox = homeline_tests::require_program("sox", "sox").map_err(|e| e.to_string())?;
    let mut speech = Vec::new();
    for (voice, said) in talkers {
        let narrow = dir.join(format!("said-8k-{voice}.wav"));
        let out = Command::new(&sox).arg(said).args(["-r", "8000", "-c", "1", "-b", "16"]).arg(&narrow).output().map_err(|e| format!("sox: {e}"))?;
        if !out.status.success() {
            return Err(format!("sox: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        let wav = read_wav(&narrow)?;
        speech.push((*voice, said.clone(), wav.samples));
    }
    let silence = dir.join("silence-8k.wav");
    let out = Command::new(&sox).args(["-n", "-r", "8000", "-c", "1", "-b", "16"]).arg(&silence).args(["trim", "0", "60"]).output().map_err(|e| format!("sox: {e}"))?;
    if !out.status.success() {
        return Err(format!("sox: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok((speech, click_signal(RATE).0, silence))
}

/// A call in progress from the bench's sender.
struct Dialog {
    probe: SipProbe,
    invite: SipMessage,
    answer: SipMessage,
    cseq: u32,
    /// Where rtpengine takes the sender's RTP.
    media: SocketAddr,
}

impl Dialog {
    /// Calls `user` through Kamailio offering PCMU at `rtp`; returns once answered and ACKed.
    fn dial(server: &Server, user: &str, rtp: SocketAddr) -> Res<Self> {
        let mut probe = SipProbe::connect_udp(server.udp, Duration::from_secs(30)).map_err(|e| format!("SIP over UDP: {e}"))?;
        let offer = format!(
            "v=0\r\no=- {t} 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio {port} RTP/AVP 0\r\n\
             a=rtpmap:0 PCMU/8000\r\na=ptime:20\r\na=sendrecv\r\n",
            t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(1),
            port = rtp.port()
        );
        let target = format!("sip:{user}@{}", server.domain);
        let first = probe.invite(SENDER, &server.domain, &target, &offer);
        let challenge = probe.transact(&first).map_err(|e| format!("INVITE: {e}"))?;
        let invite = if matches!(challenge.status(), Some(401 | 407)) {
            probe.send(&ack_for_failure(&first, &challenge)).map_err(|e| format!("ACK: {e}"))?;
            let mut invite = probe.invite(SENDER, &server.domain, &target, &offer);
            probe.add_credentials(&mut invite, &challenge, SENDER, &server.password).map_err(|e| format!("credentials: {e}"))?;
            invite
        } else {
            first
        };
        let answer = probe.transact(&invite).map_err(|e| format!("INVITE to {user}: {e}"))?;
        if answer.status() != Some(200) {
            if answer.status().is_some_and(|s| s >= 300) {
                let _ = probe.send(&ack_for_failure(&invite, &answer));
            }
            return Err(format!("{user} answered {:?}", answer.status()));
        }
        let cseq = invite.header("CSeq").and_then(|c| c.split_whitespace().next()).and_then(|n| n.parse().ok()).unwrap_or(1);
        probe.send(&probe.caller_in_dialog("ACK", &invite, &answer, cseq)).map_err(|e| format!("ACK: {e}"))?;
        let media = sdp_media(&answer.body).ok_or_else(|| format!("no audio address in the answer: {}", answer.body))?;
        Ok(Self { probe, invite, answer, cseq, media })
    }

    fn hang_up(mut self) {
        let bye = self.probe.caller_in_dialog("BYE", &self.invite, &self.answer, self.cseq + 1);
        self.probe.timeout = Duration::from_secs(5);
        if let Err(e) = self.probe.transact(&bye) {
            eprintln!("homeline-bench: BYE: {e}");
        }
    }
}

/// `c=` and the audio `m=` port of an SDP.
fn sdp_media(sdp: &str) -> Option<SocketAddr> {
    let ip = sdp.lines().find_map(|l| l.trim().strip_prefix("c=IN IP4 "))?.trim().parse::<std::net::Ipv4Addr>().ok()?;
    let port = sdp.lines().find_map(|l| l.trim().strip_prefix("m=audio "))?.split_whitespace().next()?.parse().ok()?;
    Some(SocketAddr::from((ip, port)))
}

/// A call's recording, when each packet left, and the recording's length at each change (when watched).
type Recorded = (PathBuf, Vec<Instant>, Vec<(Instant, u64)>);

/// One call playing `samples` (8 kHz) to `rx`; seeded impairment when `impaired`. Its recording when done.
fn call(server: &Server, runtime: &tokio::runtime::Runtime, rx: &mut Receiver, samples: &[i16], impaired: Option<u64>, watch: bool) -> Res<Recorded> {
    rx.prepare()?;
    let before = rx.recordings();
    let socket = UdpSocket::bind("127.0.0.1:0").map_err(|e| format!("RTP socket: {e}"))?;
    let local = socket.local_addr().map_err(|e| e.to_string())?;
    let dialog = match Dialog::dial(server, rx.user, local) {
        Ok(d) => d,
        Err(e) => {
            // What the client said about it (Homeline: its JSON lines and HOMELINE_LOG output).
            let tail = match &mut rx.rx {
                Rx::Homeline(p) => p.until(|_| false, Duration::from_millis(100)).err().unwrap_or_default(),
                _ => String::new(),
            };
            return Err(format!("{e}{}{tail}", if tail.is_empty() { "" } else { "; " }));
        }
    };
    let relay = match impaired {
        Some(seed) => {
            let impairment = Impairment { loss: 0.05, delay: Duration::from_millis(40), jitter: Duration::from_millis(40), ..Impairment::none() };
            let config = RelayConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                target: dialog.media,
                to_target: impairment,
                to_client: Impairment::none(),
                seed: seed + 100,
            };
            match runtime.block_on(Relay::start(config)) {
                Ok(r) => Some(r),
                Err(e) => {
                    dialog.hang_up();
                    return Err(format!("relay: {e}"));
                }
            }
        }
        None => None,
    };
    let to = relay.as_ref().map(Relay::local_addr).unwrap_or(dialog.media);
    // The file being written, watched as it grows (latency calls only).
    let growth = watch.then(|| {
        let dir = rx.dir.clone();
        let system = rx.system;
        let known = before.clone();
        let (stop_tx, stop_rx) = std::sync::mpsc::channel::<()>();
        let handle = std::thread::spawn(move || watch_growth(&dir, system, &known, &stop_rx));
        (stop_tx, handle)
    });
    let sent = send_rtp(&socket, to, samples);
    dialog.hang_up();
    let growth = growth.map(|(stop, handle)| {
        let _ = stop.send(());
        handle.join().unwrap_or_default()
    });
    if let Some(relay) = relay {
        let counters = runtime.block_on(relay.stop());
        eprintln!("homeline-bench: relay dropped {} of {} packets", counters.to_target.dropped, counters.to_target.received);
    }
    let sent = sent?;
    // The recording, once its writer has closed it.
    let mut found = None;
    let mut last: Option<(PathBuf, u64)> = None;
    homeline_tests::wait_until(Duration::from_secs(15), || {
        let Some(p) = rx.recordings().into_iter().find(|p| !before.contains(p) && wav_complete(p)) else { return false };
        // …and no longer growing.
        let len = std::fs::metadata(&p).map(|m| m.len()).unwrap_or(0);
        let settled = last.as_ref().is_some_and(|(q, l)| *q == p && *l == len);
        last = Some((p.clone(), len));
        if settled {
            found = Some(p);
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
        settled
    });
    let path = found.ok_or_else(|| format!("{} left no complete recording of the call in {}", rx.system, rx.dir.display()))?;
    Ok((path, sent, growth.unwrap_or_default()))
}

fn pesq_call(server: &Server, runtime: &tokio::runtime::Runtime, rx: &mut Receiver, said: &Path, speech: &[i16], impaired: Option<u64>) -> Res<f64> {
    let mut samples = vec![0i16; (LEAD_SECS * RATE as f64) as usize];
    samples.extend_from_slice(speech);
    samples.extend(std::iter::repeat_n(0, (TAIL_SECS * RATE as f64) as usize));
    let (heard, _, _) = call(server, runtime, rx, &samples, impaired, false)?;
    let score = quality::score(said, &heard, Mode::Narrowband).map_err(|e| e.to_string())?;
    eprintln!("homeline-bench: PESQ-NB {:.2} at {} ({score:?})", score.pesq, rx.system);
    let length = speech.len() as f64 / RATE as f64;
    if score.overlap_s < length * 0.8 {
        return Err(format!("only {:.1} s of {length:.1} s of speech could be compared", score.overlap_s));
    }
    Ok(score.pesq)
}

/// The latency of each click (ms), `Ok(Err(why))` when the recording gives no timing.
fn latency_call(server: &Server, runtime: &tokio::runtime::Runtime, rx: &mut Receiver, clicks: &[i16]) -> Res<Result<Vec<f64>, String>> {
    let (heard, sent, growth) = call(server, runtime, rx, clicks, None, true)?;
    let wav = read_wav(&heard)?;
    let chunks: Vec<f64> = growth
        .windows(2)
        .map(|w| (w[1].1.saturating_sub(w[0].1)) as f64 / (2.0 * wav.rate as f64) * 1000.0)
        .filter(|ms| *ms > 0.0)
        .collect();
    let Some(chunk) = crate::report::stats(&chunks).map(|s| s.median) else {
        return Ok(Err(format!("its recording {} did not grow while the call ran", heard.display())));
    };
    if chunk > MAX_CHUNK_MS {
        return Ok(Err(format!(
            "its recording is written in chunks of {chunk:.0} ms (through a buffer), not as it plays: the file gives no usable timing"
        )));
    }
    eprintln!("homeline-bench: {} writes its recording in chunks of {chunk:.0} ms (median)", rx.system);
    let frame = (wav.rate as usize * rx.frame_ms() / 1000).max(1);
    let starts = click_signal(RATE).1;
    let rate = wav.rate as usize;
    // Samples in the file at each moment of the growth log.
    let samples_at = |len: u64| (len.saturating_sub(wav.data_offset)) / 2;
    let mut out = Vec::new();
    for (n, &start) in starts.iter().enumerate() {
        let s = onset(clicks, start, start + RATE / 100).ok_or_else(|| format!("click {} is not in the sent signal", n + 1))?;
        let packet = s / FRAME;
        let at = *sent.get(packet).ok_or("the click was not sent")?;
        let spoken = at.checked_sub(Duration::from_millis(20)).ok_or("clock")? + Duration::from_secs_f64((s % FRAME) as f64 / RATE as f64);
        // What the file held when the click was spoken: look from there to 0.6 s on.
        let from = growth.iter().take_while(|(t, _)| *t <= spoken).last().map(|(_, l)| samples_at(*l) as usize).unwrap_or(0);
        let Some(r) = onset(&wav.samples, from, from + rate * 6 / 10) else {
            return Err(format!("click {} never arrived in {} (within 0.6 s)", n + 1, heard.display()));
        };
        // The write that brought sample r: it plays from then on.
        let Some(i) = growth.iter().position(|(_, l)| samples_at(*l) as usize > r) else {
            return Err(format!("click {} is not in the growth log", n + 1));
        };
        // The write went out as the chunk's last sample was written (a write of one frame,
        // or a buffer flushed as the write that filled it came): that sample's frame plays
        // from then on, and every sample is placed by its distance from that frame's start.
        let chunk_start = if i == 0 { 0 } else { samples_at(growth[i - 1].1) as usize };
        let last = (samples_at(growth[i].1) as usize).saturating_sub(1);
        let frame_start = chunk_start.max(last / frame * frame);
        let offset = (r as f64 - frame_start as f64) / rate as f64;
        let heard_at = if offset >= 0.0 {
            growth[i].0 + Duration::from_secs_f64(offset)
        } else {
            growth[i].0.checked_sub(Duration::from_secs_f64(-offset)).ok_or("clock")?
        };
        out.push(heard_at.saturating_duration_since(spoken).as_secs_f64() * 1000.0);
    }
    Ok(Ok(out))
}

/// The new recording of `system` in `dir` (not in `known`), its length at every change, every millisecond, until told to stop.
fn watch_growth(dir: &Path, system: &str, known: &[PathBuf], stop: &std::sync::mpsc::Receiver<()>) -> Vec<(Instant, u64)> {
    let mut log: Vec<(Instant, u64)> = Vec::new();
    let mut file: Option<PathBuf> = None;
    let mut last_scan = Instant::now() - Duration::from_secs(1);
    loop {
        if stop.try_recv().is_ok() {
            return log;
        }
        if file.is_none() && last_scan.elapsed() >= Duration::from_millis(1) {
            last_scan = Instant::now();
            file = std::fs::read_dir(dir).ok().and_then(|entries| {
                entries.flatten().map(|e| e.path()).find(|p| {
                    let name = p.to_string_lossy();
                    name.ends_with(".wav") && (system != BARESIP || name.ends_with("-dec.wav")) && !known.contains(p)
                })
            });
        }
        if let Some(len) = file.as_ref().and_then(|f| std::fs::metadata(f).ok()).map(|m| m.len()) {
            if log.last().is_none_or(|(_, l)| *l != len) {
                log.push((Instant::now(), len));
            }
        }
        std::thread::sleep(Duration::from_micros(500));
    }
}

/// Paces `samples` (8 kHz) out as PCMU RTP to `to`, one 20 ms packet at a time; when each left.
fn send_rtp(socket: &UdpSocket, to: SocketAddr, samples: &[i16]) -> Res<Vec<Instant>> {
    let ssrc: u32 = 0x4a0e_1a1d;
    let (mut seq, mut ts): (u16, u32) = (4711, 160_000);
    let start = Instant::now() + Duration::from_millis(20);
    let mut sent = Vec::with_capacity(samples.len() / FRAME + 1);
    let mut packet = Vec::with_capacity(12 + FRAME);
    for (n, frame) in samples.chunks(FRAME).enumerate() {
        let due = start + Duration::from_millis(20 * n as u64);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        packet.clear();
        packet.extend_from_slice(&[0x80, if n == 0 { 0x80 } else { 0 }]);
        packet.extend_from_slice(&seq.to_be_bytes());
        packet.extend_from_slice(&ts.to_be_bytes());
        packet.extend_from_slice(&ssrc.to_be_bytes());
        packet.extend(frame.iter().map(|s| linear_to_ulaw(*s)));
        packet.extend(std::iter::repeat_n(0xff, FRAME - frame.len()));
        socket.send_to(&packet, to).map_err(|e| format!("sending RTP to {to}: {e}"))?;
        sent.push(Instant::now());
        seq = seq.wrapping_add(1);
        ts = ts.wrapping_add(FRAME as u32);
    }
    Ok(sent)
}

struct Wav {
    rate: u32,
    /// Where the samples start in the file.
    data_offset: u64,
    samples: Vec<i16>,
}

/// A mono 16-bit PCM WAV (the first channel of more), with where its data starts.
fn read_wav(path: &Path) -> Res<Wav> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let bad = |what: &str| format!("{}: {what}", path.display());
    if bytes.len() < 12 || &bytes[..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Err(bad("not a WAV file"));
    }
    let (mut at, mut fmt) = (12usize, None);
    while at + 8 <= bytes.len() {
        let id = &bytes[at..at + 4];
        let size = u32::from_le_bytes([bytes[at + 4], bytes[at + 5], bytes[at + 6], bytes[at + 7]]) as usize;
        let body = at + 8;
        if id == b"fmt " && body + 16 <= bytes.len() {
            let u16_at = |i: usize| u16::from_le_bytes([bytes[body + i], bytes[body + i + 1]]);
            let rate = u32::from_le_bytes([bytes[body + 4], bytes[body + 5], bytes[body + 6], bytes[body + 7]]);
            fmt = Some((u16_at(2).max(1) as usize, rate, u16_at(14)));
        } else if id == b"data" {
            let (channels, rate, bits) = fmt.ok_or_else(|| bad("no fmt chunk before the data"))?;
            if bits != 16 {
                return Err(bad(&format!("{bits}-bit samples, not 16")));
            }
            let end = body.saturating_add(size).min(bytes.len());
            let samples = bytes[body..end].chunks_exact(2 * channels).map(|c| i16::from_le_bytes([c[0], c[1]])).collect();
            return Ok(Wav { rate, data_offset: body as u64, samples });
        }
        at = body + size + (size & 1);
    }
    Err(bad("no data chunk"))
}

/// Whether a WAV's writer has filled its header in (writers do that when they close
/// it): the RIFF and data sizes are set. linphonec's data size is 44 bytes too big, so
/// they are not checked against the file's length.
fn wav_complete(path: &Path) -> bool {
    let Ok(bytes) = std::fs::read(path) else { return false };
    let riff = bytes.get(4..8).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let data_size = read_wav(path).ok().map(|w| w.samples.len());
    bytes.len() > 44 && bytes.starts_with(b"RIFF") && riff.is_some_and(|r| r > 36 && r != u32::MAX) && data_size.is_some_and(|n| n > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn wav_round_trip_and_completeness() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.wav");
        let whole = crate::systems::tone_wav_at(8000, 1);
        std::fs::write(&path, &whole).unwrap();
        let w = read_wav(&path).unwrap();
        assert_eq!((w.rate, w.data_offset, w.samples.len()), (8000, 44, 8000));
        assert!(wav_complete(&path));
        let mut open = whole.clone();
        open[4..8].copy_from_slice(&0u32.to_le_bytes());
        open[40..44].copy_from_slice(&0u32.to_le_bytes());
        std::fs::write(&path, open).unwrap();
        assert!(!wav_complete(&path), "a header not yet filled in is still being written");
    }

    #[test]
    fn answer_sdp_gives_the_media_address() {
        let sdp = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 30012 RTP/AVP 0\r\n";
        assert_eq!(sdp_media(sdp), Some(SocketAddr::from(([127, 0, 0, 1], 30012))));
        assert_eq!(sdp_media("v=0\r\n"), None);
    }

    #[test]
    fn clicks_are_found_at_their_start() {
        let (signal, starts) = click_signal(RATE);
        for &s in &starts {
            let found = onset(&signal, s.saturating_sub(80), s + 80).unwrap();
            assert!(found >= s && found < s + 8, "click at {s} found at {found}");
            assert_eq!(onset(&signal, s.saturating_sub(4000), s.saturating_sub(100)), None, "nothing but noise before it");
        }
    }
}
