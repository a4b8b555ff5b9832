//! A speaker or microphone that follows its device: when the one in use disappears (headset
//! unplugged, sink removed) it carries on with the system default, and when the preferred one
//! comes back it returns to it.
//!
//! What "preferred" means is a [`DevicePreference`]: an ordered list ("the headset, then the
//! laptop"), the first present device wins, none present (or an empty list) means the system
//! default, which is followed when it moves. The list is shared with the settings: a change
//! reaches a stream in use at the watcher's next look.
//!
//! Checking for devices and opening streams waits on the sound server, so a watcher thread
//! does both and hands a ready stream over a channel; the media side only swaps it in (and
//! hands the old one back to the thread to be closed there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::prefs::DevicePreference;
use super::{
    device_present, DeviceCounters, DeviceError, DeviceSink, DeviceSource, Direction, Probe,
    StreamFault,
};
use crate::frame::{AudioSink, AudioSource, Frame, SourceState};
use crate::processing::PlayedTap;

/// How often the watcher looks: a lost device is replaced within the 1 s a user would
/// notice (a look, then opening the next device). Each look asks the sound server which
/// devices are there and which is the default. The two watchers of a call cost 0.2 % of a
/// core through cpal's PulseAudio client (`perf record` on the desktop app in a call,
/// release); through ALSA's pulse plugin, which re-reads ALSA's configuration at every
/// look, 1.4 % (see `pulse_cookie` for why the app once fell back to ALSA).
const CHECK_EVERY: Duration = Duration::from_millis(400);

/// What the watcher did, for the engine to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// `lost` is gone; the system default `now` is used instead.
    FellBack { lost: String, now: String },
    /// The preferred device `id` is back and in use again.
    Returned { id: String },
    /// `id` is used now because the preference changed, or (no preferred device present)
    /// the system default moved to it.
    Switched { id: String },
}

/// A device stream the watcher can follow.
pub trait FollowedDevice: Send + Sized + 'static {
    const DIRECTION: Direction;
    fn open_device(id: Option<&str>) -> Result<Self, DeviceError>;
    fn device_id(&self) -> &str;
    fn device_counters(&self) -> Arc<DeviceCounters>;
    /// A speaker hands what it plays to `tap` (see [`AudioSink::tap_played`]).
    fn tap_device(&mut self, _tap: &PlayedTap) -> bool {
        false
    }
}

impl FollowedDevice for DeviceSink {
    const DIRECTION: Direction = Direction::Output;
    fn open_device(id: Option<&str>) -> Result<Self, DeviceError> {
        Self::open(id)
    }
    fn device_id(&self) -> &str {
        self.id()
    }
    fn device_counters(&self) -> Arc<DeviceCounters> {
        self.counters()
    }
    fn tap_device(&mut self, tap: &PlayedTap) -> bool {
        self.tap_played(tap)
    }
}

impl FollowedDevice for DeviceSource {
    const DIRECTION: Direction = Direction::Input;
    fn open_device(id: Option<&str>) -> Result<Self, DeviceError> {
        Self::open(id)
    }
    fn device_id(&self) -> &str {
        self.id()
    }
    fn device_counters(&self) -> Arc<DeviceCounters> {
        self.counters()
    }
}

/// The preferred device (`None`: the system default), surviving its going away.
pub struct Following<D: FollowedDevice> {
    current: D,
    /// Where a speaker's played audio goes (the echo canceller), for every device swapped in.
    tap: Option<PlayedTap>,
    swaps: Receiver<D>,
    retired: Sender<D>,
    stop: Arc<AtomicBool>,
}

/// A speaker that follows its device (an [`AudioSink`]).
pub type FollowingSink = Following<DeviceSink>;
/// A microphone that follows its device (an [`AudioSource`]).
pub type FollowingSource = Following<DeviceSource>;

impl<D: FollowedDevice> std::fmt::Debug for Following<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Following")
            .field("current", &self.current.device_id())
            .finish_non_exhaustive()
    }
}

impl<D: FollowedDevice> Following<D> {
    /// Opens `preferred` (`None`: the system default) and starts watching; `on_change` is
    /// called from the watcher thread. A preferred device that is not there is an error.
    pub fn open(
        preferred: Option<&str>,
        on_change: impl Fn(DeviceChange) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let current = D::open_device(preferred)?;
        Ok(Self::watch(current, DevicePreference::fixed(preferred), on_change))
    }

    /// Opens the first present device of `preference` (none present: the system default)
    /// and follows the list from then on, including changes made to it later.
    pub fn follow(
        preference: &DevicePreference,
        on_change: impl Fn(DeviceChange) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let wanted = preference.pick(|id| device_present(id, D::DIRECTION));
        let current = match wanted.as_deref().map(|id| D::open_device(Some(id))) {
            Some(Ok(device)) => device,
            // Present a moment ago but would not open: the default rather than no sound.
            Some(Err(e)) => {
                tracing::info!("the preferred device could not be opened ({e}); using the default");
                D::open_device(None)?
            }
            None => D::open_device(None)?,
        };
        Ok(Self::watch(current, preference.clone(), on_change))
    }

    fn watch(
        current: D,
        preference: DevicePreference,
        on_change: impl Fn(DeviceChange) + Send + 'static,
    ) -> Self {
        let (swap_tx, swaps) = channel();
        let (retired, retired_rx) = channel::<D>();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = Watcher {
            generation: preference.generation(),
            preference,
            probe: None,
            using: current.device_id().to_owned(),
            counters: current.device_counters(),
            swap_tx,
            retired: retired_rx,
            stop: stop.clone(),
        };
        let spawned = std::thread::Builder::new()
            .name("homeline-device-watch".into())
            .spawn(move || watcher.run(on_change));
        if let Err(e) = spawned {
            // Not followed, but working: better than no sound.
            tracing::warn!("the device watcher could not start: {e}");
        }
        Self {
            current,
            tap: None,
            swaps,
            retired,
            stop,
        }
    }

    /// The device in use now.
    pub fn id(&self) -> &str {
        self.current.device_id()
    }

    /// Takes the stream the watcher opened, if any.
    fn swap_in(&mut self) {
        while let Ok(mut next) = self.swaps.try_recv() {
            if let Some(tap) = &self.tap {
                next.tap_device(tap);
            }
            let old = std::mem::replace(&mut self.current, next);
            // Closing a stream waits on the sound server: the watcher does it.
            let _ = self.retired.send(old);
        }
    }
}

impl AudioSource for FollowingSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        self.swap_in();
        self.current.read_frame(frame)
    }
    fn take_slip(&mut self) -> i64 {
        self.current.take_slip()
    }
}

impl AudioSink for FollowingSink {
    fn write_frame(&mut self, frame: &Frame) {
        self.swap_in();
        self.current.write_frame(frame);
    }

    fn finish(&mut self) {
        self.current.finish();
    }

    fn tap_played(&mut self, tap: &PlayedTap) -> bool {
        self.tap = Some(tap.clone());
        self.current.tap_device(tap)
    }
}

impl<D: FollowedDevice> Drop for Following<D> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Watcher<D> {
    preference: DevicePreference,
    /// The preference's generation last acted on (a newer one is the user's change).
    generation: u64,
    probe: Option<Probe>,
    using: String,
    counters: Arc<DeviceCounters>,
    swap_tx: Sender<D>,
    retired: Receiver<D>,
    stop: Arc<AtomicBool>,
}

impl<D: FollowedDevice> Watcher<D> {
    fn run(mut self, on_change: impl Fn(DeviceChange)) {
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(CHECK_EVERY);
            while let Ok(old) = self.retired.try_recv() {
                drop(old);
            }
            if let Some(change) = self.look() {
                on_change(change);
            }
        }
    }

    /// One look: the device that should be in use now, opened and handed over when it is
    /// not the one in use.
    fn look(&mut self) -> Option<DeviceChange> {
        let generation = self.preference.generation();
        // One connection to the sound server for all the looks (its questions are answered
        // live); made again after a loss, in case the server itself went away.
        let probe = self.probe.get_or_insert_with(|| Probe::new(D::DIRECTION));
        let lost = self.counters.fault() == Some(StreamFault::DeviceLost)
            || !probe.present(&self.using);
        let using = self.using.clone();
        let wanted = self.preference.pick(|id| {
            if id == using {
                !lost
            } else {
                probe.present(id)
            }
        });
        // Nothing preferred is there: the system default (it may have moved).
        let target = wanted.clone().or_else(|| probe.default_id());
        if lost {
            self.probe = None;
        }
        let target = target?;
        if target == self.using && !lost {
            self.generation = generation;
            return None;
        }
        let device = D::open_device(Some(&target)).ok()?;
        let change = if lost {
            DeviceChange::FellBack {
                lost: std::mem::take(&mut self.using),
                now: target,
            }
        } else if generation == self.generation && wanted.is_some() {
            DeviceChange::Returned { id: target }
        } else {
            DeviceChange::Switched { id: target }
        };
        self.generation = generation;
        self.hand_over(device);
        Some(change)
    }

    fn hand_over(&mut self, device: D) {
        self.using = device.device_id().to_owned();
        self.counters = device.device_counters();
        if self.swap_tx.send(device).is_err() {
            // The media side is gone: nothing to follow any more.
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}
