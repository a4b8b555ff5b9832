//! How a call sounds between two `homeline-cli` phones through the harness
//! Kamailio over WSS: espeak-ng speech goes each way in one call, and what
//! each side records is aligned with what the other sent and scored with
//! PESQ (tests/tools/pesq_score.py): Opus wideband ≥ 4.0 and PCMU narrowband
//! ≥ 3.8, the level within 3 dB. In the Opus call, touch tones `123#*` arrive
//! in order both ways, hold silences the call and resume brings speech back.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::time::Duration;

use homeline_media::wav::{read_wav_48k_mono, write_wav_mono};
use homeline_tests::cli::{call_state_is, phone_args, registration_is, CliPhone};
use homeline_tests::quality::{self, Mode};
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::wait_until;
use serde_json::Value;

/// 48 kHz mono 16-bit: bytes per second of a recording, and its header.
const BYTES_PER_SECOND: u64 = 96_000;
const WAV_HEADER: u64 = 44;
const RATE: usize = 48_000;

/// One call at a time: four phones in parallel on two cores add scheduling
/// jitter that the receivers' jitter buffers then (rightly) stretch speech for.
static ONE_CALL_AT_A_TIME: Mutex<()> = Mutex::new(());

const ALICE_SAYS: &str = "The birch canoe slid on the smooth planks. Glue the sheet to the dark blue background. \
                          It is easy to tell the depth of a well. These days a chicken leg is a rare dish.";
const BOB_SAYS: &str = "Rice is often served in round bowls. The juice of lemons makes fine punch. \
                        The box was thrown beside the parked truck. The hogs were fed chopped corn and garbage.";

struct Side {
    phone: CliPhone,
    /// What this side says (its microphone file).
    speech: PathBuf,
    /// Where this side's calls are recorded (what it hears).
    record_dir: PathBuf,
}

impl Side {
    fn start(k: &Kamailio, dir: &Path, user: &str, password: &str, says: &str, voice: &str, extra: &[&str]) -> Side {
        let speech = dir.join(format!("{user}-says.wav"));
        quality::speech_wav(says, voice, &speech).unwrap_or_else(|e| panic!("speech for {user}: {e}"));
        let record_dir = dir.join(format!("{user}-hears"));
        // Raised priority, as sound servers give audio threads (rtkit): other work
        // on a busy machine must not stall the 20 ms clocks, or the receivers'
        // jitter buffers stretch speech. Without the right to it, nice runs it as is.
        let mut cmd = Command::new(homeline_tests::require_program("nice", "coreutils").unwrap_or_else(|e| panic!("{e}")));
        cmd.args(["-n", "-10"]).arg(homeline_tests::built_binary("homeline-cli"));
        cmd.args(phone_args(k, user))
            .arg("--mic")
            .arg(&speech)
            .arg("--record-dir")
            .arg(&record_dir)
            .args(["--loopback", "--for", "120"])
            .args(extra);
        let phone = CliPhone::spawn(cmd, password).expect("start homeline-cli");
        phone.expect("registered", |v| registration_is(v, "registered"));
        Side { phone, speech, record_dir }
    }

    /// The recording of the one call this side has had.
    fn recording(&self) -> Option<PathBuf> {
        std::fs::read_dir(&self.record_dir).ok()?.filter_map(Result::ok).map(|e| e.path()).find(|p| p.extension().is_some_and(|x| x == "wav"))
    }

    /// Seconds of audio received so far (the recording grows as packets arrive).
    fn seconds_heard(&self) -> f64 {
        let bytes = self.recording().and_then(|p| std::fs::metadata(p).ok()).map_or(0, |m| m.len());
        bytes.saturating_sub(WAV_HEADER) as f64 / BYTES_PER_SECOND as f64
    }

    fn speech_seconds(&self) -> f64 {
        read_wav_48k_mono(&self.speech).expect("read the speech file").len() as f64 / RATE as f64
    }

    /// Waits until the recording holds at least `seconds` (packets keep coming).
    fn wait_to_hear(&self, seconds: f64, what: &str) {
        let heard = wait_until(Duration::from_secs((seconds * 4.0) as u64 + 30), || self.seconds_heard() >= seconds);
        assert!(heard, "{what}: only {:.2} s of the {seconds:.2} s expected arrived", self.seconds_heard());
    }

    /// The finished recording (its WAV header is written when the call ends).
    fn finished_recording(&self) -> Vec<i16> {
        let mut samples = Vec::new();
        let complete = wait_until(Duration::from_secs(15), || {
            samples = self.recording().and_then(|p| read_wav_48k_mono(&p).ok()).unwrap_or_default();
            !samples.is_empty()
        });
        assert!(complete, "the recording in {} was not finished after the call", self.record_dir.display());
        samples
    }
}

fn connect(alice: &mut Side, bob: &Side) {
    alice.phone.send("dial bob");
    bob.phone.expect("bob's incoming call", |v| call_state_is(v, "incoming"));
    alice.phone.expect("alice's call connected", |v| call_state_is(v, "active"));
    bob.phone.expect("bob's call connected", |v| call_state_is(v, "active"));
}

fn hang_up(alice: &mut Side, bob: &Side) {
    alice.phone.send("hangup");
    alice.phone.expect("alice's call ended", |v| call_state_is(v, "ended"));
    bob.phone.expect("bob's call ended", |v| call_state_is(v, "ended"));
}

/// Scores the first `seconds` of what `listener` heard against what `talker` said.
fn score_heard(talker: &Side, listener_name: &str, heard: &[i16], seconds: f64, mode: Mode, dir: &Path) -> quality::Score {
    let part = &heard[..((seconds * RATE as f64) as usize).min(heard.len())];
    let degraded = dir.join(format!("{listener_name}-scored.wav"));
    write_wav_mono(&degraded, RATE as u32, part).expect("write the part to score");
    let score = quality::score(&talker.speech, &degraded, mode).unwrap_or_else(|e| panic!("scoring what {listener_name} heard: {e}"));
    eprintln!("{listener_name} heard ({mode:?}): {score:?}");
    score
}

/// The goals: Opus wideband ≥ 4.0 and PCMU narrowband ≥ 3.8.
/// Measured with two busy loops beside the test on this 2-core machine: Opus
/// 4.10–4.22, PCMU 4.29–4.35 (before the jitter buffer started with 60 ms
/// and kept words whole, the same load gave Opus 3.93 and a CI run 3.87).
const OPUS_WIDEBAND_GOAL: f64 = 4.0;
const PCMU_NARROWBAND_GOAL: f64 = 3.8;

fn assert_clear(score: &quality::Score, listener: &str, at_least: f64) {
    assert!(score.pesq >= at_least, "{listener} heard speech scoring PESQ {:.2} (goal {at_least}): {score:?}", score.pesq);
    assert!(score.level_diff_db.abs() <= 3.0, "{listener} heard speech {:+.1} dB from the level sent (goal within 3 dB): {score:?}", score.level_diff_db);
}

fn digits(phone: &CliPhone, who: &str, count: usize) -> String {
    (0..count)
        .map(|i| {
            let v: Value = phone.expect(&format!("digit {} at {who}", i + 1), |v| v["type"] == "dtmfReceived");
            v["digit"].as_str().unwrap_or("?").to_owned()
        })
        .collect()
}

fn samples_between(all: &[i16], from_s: f64, to_s: f64) -> &[i16] {
    let at = |s: f64| ((s * RATE as f64) as usize).min(all.len());
    &all[at(from_s)..at(to_s)]
}

#[test]
fn opus_speech_each_way_scores_wideband_and_digits_hold_and_resume_work() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    let mut bob = Side::start(&k, dir.path(), "bob", "b-pass", BOB_SAYS, "en+f3", &["--auto-answer"]);
    let mut alice = Side::start(&k, dir.path(), "alice", "a-pass", ALICE_SAYS, "en-us+f3", &[]);
    connect(&mut alice, &bob);

    // Speech each way: a little more than the whole text, so the alignment
    // has all of it whatever the first packet's moment.
    let speech_window = alice.speech_seconds().max(bob.speech_seconds()) + 1.5;
    bob.wait_to_hear(speech_window, "speech from alice");
    alice.wait_to_hear(speech_window, "speech from bob");

    // Touch tones both ways, in order.
    alice.phone.send("dtmf 123#*");
    assert_eq!(digits(&bob.phone, "bob", 5), "123#*");
    bob.phone.send("dtmf 123#*");
    assert_eq!(digits(&alice.phone, "alice", 5), "123#*");

    // Hold: from a moment after both sides show it, neither hears speech.
    alice.phone.send("hold");
    alice.phone.expect("alice's call held", |v| v["type"] == "callChanged" && v["state"] == "held");
    bob.phone.expect("bob's call held by alice", |v| v["type"] == "callChanged" && v["state"] == "held");
    std::thread::sleep(Duration::from_millis(500)); // what was in flight lands before the mark
    let held_from = (alice.seconds_heard(), bob.seconds_heard());
    std::thread::sleep(Duration::from_secs(2));
    let held_to = (alice.seconds_heard(), bob.seconds_heard());

    // Resume: speech comes back to both.
    alice.phone.send("resume");
    alice.phone.expect("alice's call resumed", |v| call_state_is(v, "active"));
    bob.phone.expect("bob's call resumed", |v| call_state_is(v, "active"));
    let resumed_at = (alice.seconds_heard(), bob.seconds_heard());
    alice.wait_to_hear(resumed_at.0 + 3.0, "speech from bob after resume");
    bob.wait_to_hear(resumed_at.1 + 3.0, "speech from alice after resume");
    hang_up(&mut alice, &bob);

    let alice_heard = alice.finished_recording();
    let bob_heard = bob.finished_recording();
    for (who, heard, from, to, resumed) in
        [("alice", &alice_heard, held_from.0, held_to.0, resumed_at.0), ("bob", &bob_heard, held_from.1, held_to.1, resumed_at.1)]
    {
        let during_hold = quality::rms_dbfs(samples_between(heard, from, to));
        assert!(during_hold < -50.0, "{who} heard {during_hold:.1} dBFS while the call was on hold (expected silence)");
        // A second after resume, well clear of the re-INVITE's moment.
        let after = quality::rms_dbfs(samples_between(heard, resumed + 1.0, resumed + 3.0));
        assert!(after > -40.0, "{who} heard only {after:.1} dBFS after resume (expected speech)");
    }

    let alice_score = score_heard(&bob, "alice", &alice_heard, speech_window, Mode::Wideband, dir.path());
    let bob_score = score_heard(&alice, "bob", &bob_heard, speech_window, Mode::Wideband, dir.path());
    assert_clear(&alice_score, "alice", OPUS_WIDEBAND_GOAL);
    assert_clear(&bob_score, "bob", OPUS_WIDEBAND_GOAL);
}

#[test]
fn pcmu_speech_each_way_scores_narrowband() {
    let _one = ONE_CALL_AT_A_TIME.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let dir = tempfile::tempdir().unwrap();
    // Bob would take Opus first; alice offers only PCMU.
    let bob = Side::start(&k, dir.path(), "bob", "b-pass", BOB_SAYS, "en+f3", &["--auto-answer"]);
    let mut alice = Side::start(&k, dir.path(), "alice", "a-pass", ALICE_SAYS, "en-us+f3", &["--codecs", "pcmu"]);
    connect(&mut alice, &bob);
    let speech_window = alice.speech_seconds().max(bob.speech_seconds()) + 1.5;
    bob.wait_to_hear(speech_window, "speech from alice");
    alice.wait_to_hear(speech_window, "speech from bob");
    hang_up(&mut alice, &bob);

    let alice_heard = alice.finished_recording();
    let bob_heard = bob.finished_recording();
    // G.711 carries nothing above 4 kHz: proof the call ran on PCMU, not Opus.
    for (who, side) in [("alice", &alice), ("bob", &bob)] {
        let high = quality::level_above_dbfs(&side.recording().unwrap(), 4_500).unwrap_or_else(|e| panic!("{e}"));
        assert!(high < -70.0, "{who} heard {high:.1} dBFS above 4.5 kHz: the call did not use PCMU");
    }
    let alice_score = score_heard(&bob, "alice", &alice_heard, speech_window, Mode::Narrowband, dir.path());
    let bob_score = score_heard(&alice, "bob", &bob_heard, speech_window, Mode::Narrowband, dir.path());
    assert_clear(&alice_score, "alice", PCMU_NARROWBAND_GOAL);
    assert_clear(&bob_score, "bob", PCMU_NARROWBAND_GOAL);
}
