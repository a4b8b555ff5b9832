//! Ringing: an incoming call plays the ringtone (the user's WAV file, or a generated ring)
//! on the ringer device; our outgoing call plays the ringback tone on the call's speaker
//! while the far end rings and the network sends no early media (a 183 with SDP brings the
//! network's own tones, heard through the call instead). Each stops when its call leaves
//! that state: answered, declined, cancelled, ended.
//!
//! Only with real devices (the desktop app): a CLI or test engine on files plays nothing.
//! Every call's state passes through [`Ringing::on_call`] (from `Telephony::emit`); tones
//! play on threads of their own (`homeline_media::tones::TonePlayer`), never in the caller.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use homeline_media::device::{DeviceError, DevicePreference};
use homeline_media::tones::{CadencedTone, TonePlayer, ToneSource};
use homeline_media::wav::read_wav_48k_mono;
use homeline_media::{AudioSource, Frame, SourceState, FRAME_SAMPLES, SAMPLE_RATE};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::events::EngineEvent;
use crate::media_options::MediaOptions;
use crate::telephony::{CallState, CallView};

/// Which tone rings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RingTone {
    /// Someone calls us: on the ringer device.
    Ringtone,
    /// Our call rings at the far end: on the call's speaker.
    Ringback,
}

/// The tone a call in this state asks for.
pub fn tone_for(view: &CallView) -> Option<RingTone> {
    match (&view.state, view.outgoing) {
        (CallState::Incoming, false) => Some(RingTone::Ringtone),
        // `EarlyMedia` (a 183 with SDP): the network's own tones come through the call.
        (CallState::Ringing, true) => Some(RingTone::Ringback),
        _ => None,
    }
}

/// A ringtone file longer than this is refused (it is held in memory while ringing).
const MAX_RINGTONE_SECONDS: usize = 60;

/// The ringing of every call of one engine.
pub struct Ringing {
    enabled: bool,
    events: broadcast::Sender<EngineEvent>,
    /// Where the ringtone plays (empty: the system default output).
    ringer: DevicePreference,
    /// Calls' speakers (ringback plays there).
    output: DevicePreference,
    /// The user's ringtone, decoded (48 kHz mono); `None`: the generated ring.
    ringtone: Mutex<Option<Arc<[i16]>>>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// The tone each live call asks for now.
    wanted: HashMap<String, RingTone>,
    /// What plays, by call (one ringtone at most: a second incoming call does not ring twice).
    playing: HashMap<String, Playing>,
}

struct Playing {
    tone: RingTone,
    player: TonePlayer,
    /// Shared with the player thread: `started` is told once, and never after `stopped`.
    shared: Arc<Mutex<Told>>,
}

#[derive(Default)]
struct Told {
    stopped: bool,
    device: Option<String>,
}

impl std::fmt::Debug for Ringing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ringing").field("enabled", &self.enabled).finish_non_exhaustive()
    }
}

impl Ringing {
    /// Rings when `media` uses devices; ringback follows the calls' speaker choice.
    pub fn new(events: broadcast::Sender<EngineEvent>, media: &MediaOptions) -> Self {
        let output = match &media.output_device {
            Some(id) => DevicePreference::fixed(Some(id)),
            None => media.output_preference.clone(),
        };
        Self {
            enabled: media.use_devices,
            events,
            ringer: DevicePreference::default(),
            output,
            ringtone: Mutex::new(None),
            state: Mutex::new(State::default()),
        }
    }

    /// The ringer's device preference (shared: a change reaches a ringtone playing now).
    pub fn ringer(&self) -> &DevicePreference {
        &self.ringer
    }

    /// Reads `path` (any WAV) as the ringtone; `None`: the generated ring. The next
    /// incoming call uses it. A file that cannot be read is an error and changes nothing.
    pub fn set_ringtone(&self, path: Option<&Path>) -> Result<(), String> {
        let samples = match path {
            Some(path) => Some(load_ringtone(path)?),
            None => None,
        };
        *lock(&self.ringtone) = samples;
        Ok(())
    }

    /// A call's state changed: start or stop its tone.
    pub fn on_call(&self, view: &CallView) {
        if !self.enabled {
            return;
        }
        let mut state = lock(&self.state);
        match tone_for(view) {
            Some(tone) => state.wanted.insert(view.call.clone(), tone),
            None => state.wanted.remove(&view.call),
        };
        self.reconcile(&mut state);
    }

    /// The user answered `call`: its ringtone stops now, not when the answer is confirmed.
    pub fn answering(&self, call: &str) {
        let mut state = lock(&self.state);
        if state.wanted.remove(call).is_some() {
            self.reconcile(&mut state);
        }
    }

    /// Whether `call`'s tone plays (or is starting).
    pub fn is_ringing(&self, call: &str) -> Option<RingTone> {
        lock(&self.state).playing.get(call).map(|p| p.tone)
    }

    fn reconcile(&self, state: &mut State) {
        // Stop what is no longer wanted.
        let done: Vec<String> = state
            .playing
            .iter()
            .filter(|(call, p)| state.wanted.get(*call) != Some(&p.tone))
            .map(|(call, _)| call.clone())
            .collect();
        for call in done {
            if let Some(playing) = state.playing.remove(&call) {
                self.stop(&call, playing);
            }
        }
        // Start what is wanted: every ringback, and one ringtone.
        let mut ringtone_on = state.playing.values().any(|p| p.tone == RingTone::Ringtone);
        let mut start: Vec<(String, RingTone)> = state
            .wanted
            .iter()
            .filter(|(call, _)| !state.playing.contains_key(*call))
            .map(|(call, tone)| (call.clone(), *tone))
            .collect();
        start.sort();
        for (call, tone) in start {
            if tone == RingTone::Ringtone {
                if ringtone_on {
                    continue;
                }
                ringtone_on = true;
            }
            if let Some(playing) = self.start(&call, tone) {
                state.playing.insert(call, playing);
            }
        }
    }

    fn start(&self, call: &str, tone: RingTone) -> Option<Playing> {
        let (source, device, what): (ToneSource, _, _) = match tone {
            RingTone::Ringtone => {
                let source: ToneSource = match lock(&self.ringtone).clone() {
                    Some(samples) => Box::new(LoopSource { samples, pos: 0 }),
                    None => Box::new(CadencedTone::ringtone()),
                };
                (source, self.ringer.clone(), "ringer")
            }
            RingTone::Ringback => (Box::new(CadencedTone::ringback()), self.output.clone(), "speaker"),
        };
        let shared = Arc::new(Mutex::new(Told::default()));
        let (told, events, call_id) = (shared.clone(), self.events.clone(), call.to_owned());
        let on_open = move |opened: Result<String, DeviceError>| {
            let mut told = lock(&told);
            if told.stopped {
                return;
            }
            match opened {
                Ok(device) => {
                    told.device = Some(device.clone());
                    let _ = events.send(EngineEvent::Ringing { call: call_id, tone, playing: true, device: Some(device) });
                }
                Err(e) => {
                    let message = match tone {
                        RingTone::Ringtone => format!("The call cannot ring: {e}"),
                        RingTone::Ringback => format!("The ringing tone cannot play: {e}"),
                    };
                    let _ = events.send(EngineEvent::Notice { message });
                }
            }
        };
        let on_change = crate::media_options::device_notice(Some(self.events.clone()), what);
        match TonePlayer::start(source, device, on_open, on_change) {
            Ok(player) => Some(Playing { tone, player, shared }),
            Err(e) => {
                tracing::warn!(call, ?tone, "no ringing: {e}");
                None
            }
        }
    }

    fn stop(&self, call: &str, playing: Playing) {
        playing.player.stop();
        let mut told = lock(&playing.shared);
        told.stopped = true;
        if told.device.is_some() {
            let _ = self.events.send(EngineEvent::Ringing { call: call.to_owned(), tone: playing.tone, playing: false, device: told.device.take() });
        }
    }
}

impl Drop for Ringing {
    fn drop(&mut self) {
        let mut state = lock(&self.state);
        state.wanted.clear();
        for (_, playing) in state.playing.drain() {
            playing.player.stop();
        }
    }
}

/// Reads a ringtone file: 48 kHz mono, at most a minute, not silent.
fn load_ringtone(path: &Path) -> Result<Arc<[i16]>, String> {
    let samples = read_wav_48k_mono(path).map_err(|e| e.to_string())?;
    if samples.len() < FRAME_SAMPLES || samples.iter().all(|s| *s == 0) {
        return Err(format!("The ringtone {} is silent or empty.", path.display()));
    }
    if samples.len() > MAX_RINGTONE_SECONDS * SAMPLE_RATE as usize {
        return Err(format!("The ringtone {} is longer than {MAX_RINGTONE_SECONDS} seconds.", path.display()));
    }
    Ok(samples.into())
}

/// The ringtone file, over and over.
struct LoopSource {
    samples: Arc<[i16]>,
    pos: usize,
}

impl AudioSource for LoopSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        for s in frame.iter_mut() {
            *s = self.samples.get(self.pos).copied().unwrap_or(0);
            self.pos = (self.pos + 1) % self.samples.len().max(1);
        }
        SourceState::Audio
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(call: &str, outgoing: bool, state: CallState) -> CallView {
        CallView { call: call.into(), account: "a@b".into(), remote: "x".into(), remote_name: None, outgoing, muted: false, connected_at: None, state }
    }

    #[test]
    fn incoming_rings_outgoing_hears_ringback_until_early_media_or_answer() {
        assert_eq!(tone_for(&view("c", false, CallState::Incoming)), Some(RingTone::Ringtone));
        assert_eq!(tone_for(&view("c", true, CallState::Dialing)), None, "no ringback before the far end rings");
        assert_eq!(tone_for(&view("c", true, CallState::Ringing)), Some(RingTone::Ringback));
        assert_eq!(tone_for(&view("c", true, CallState::EarlyMedia)), None, "the network's early media plays instead");
        assert_eq!(tone_for(&view("c", true, CallState::Active)), None);
        let ended = CallState::Ended { reason: "Cancelled".into(), code: Some(487), by: "remote".into() };
        assert_eq!(tone_for(&view("c", false, ended)), None);
    }

    #[test]
    fn without_devices_nothing_rings() {
        let (events, mut rx) = broadcast::channel(8);
        let ringing = Ringing::new(events, &MediaOptions::default());
        ringing.on_call(&view("c", false, CallState::Incoming));
        assert_eq!(ringing.is_ringing("c"), None);
        assert!(rx.try_recv().is_err());
    }

    #[test]
    fn one_ringtone_for_two_incoming_calls_and_it_moves_to_the_one_left() {
        let (events, _rx) = broadcast::channel(64);
        // A ringer that is not there: the players start (and say they cannot play); the
        // bookkeeping is what is tested here.
        let media = MediaOptions { use_devices: true, output_device: Some("alsa:homeline-no-such-speaker".into()), ..MediaOptions::default() };
        let ringing = Ringing::new(events, &media);
        ringing.ringer().set(vec!["alsa:homeline-no-such-ringer".into()]);
        ringing.on_call(&view("a", false, CallState::Incoming));
        ringing.on_call(&view("b", false, CallState::Incoming));
        assert_eq!(ringing.is_ringing("a"), Some(RingTone::Ringtone));
        assert_eq!(ringing.is_ringing("b"), None, "one ringtone at a time");
        ringing.answering("a");
        assert_eq!(ringing.is_ringing("a"), None, "answering stops it at once");
        assert_eq!(ringing.is_ringing("b"), Some(RingTone::Ringtone), "the other call still rings");
        ringing.on_call(&view("b", false, CallState::Ended { reason: "Cancelled".into(), code: None, by: "remote".into() }));
        assert_eq!(ringing.is_ringing("b"), None);
        ringing.on_call(&view("o", true, CallState::Ringing));
        assert_eq!(ringing.is_ringing("o"), Some(RingTone::Ringback));
        ringing.on_call(&view("o", true, CallState::EarlyMedia));
        assert_eq!(ringing.is_ringing("o"), None);
    }

    #[test]
    fn a_ringtone_file_is_read_checked_and_looped() {
        let dir = std::env::temp_dir().join(format!("homeline-ringtone-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("ring.wav");
        let samples: Vec<i16> = (0..1000).map(|i| if i % 2 == 0 { 1000 } else { -1000 }).collect();
        homeline_media::wav::write_wav_mono(&path, 48_000, &samples).unwrap();
        let (events, _rx) = broadcast::channel(8);
        let ringing = Ringing::new(events, &MediaOptions::default());
        ringing.set_ringtone(Some(&path)).unwrap();
        let loaded = lock(&ringing.ringtone).clone().unwrap();
        let mut source = LoopSource { samples: loaded, pos: 0 };
        let mut frame = [0; FRAME_SAMPLES];
        source.read_frame(&mut frame);
        source.read_frame(&mut frame);
        assert_eq!(frame[0], samples[FRAME_SAMPLES % 1000], "it loops");
        let silent = dir.join("silent.wav");
        homeline_media::wav::write_wav_mono(&silent, 48_000, &[0; 4800]).unwrap();
        assert!(ringing.set_ringtone(Some(&silent)).unwrap_err().contains("silent"));
        assert!(ringing.set_ringtone(Some(&dir.join("missing.wav"))).is_err());
        assert!(lock(&ringing.ringtone).is_some(), "a refused file changes nothing");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
