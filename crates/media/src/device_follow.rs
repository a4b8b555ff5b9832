//! A speaker or microphone that follows its device: when the one in use disappears (headset
//! unplugged, sink removed) it carries on with the system default, and when the preferred one
//! comes back it returns to it.
//!
//! Checking for devices and opening streams waits on the sound server, so a watcher thread
//! does both and hands a ready stream over a channel; the media side only swaps it in (and
//! hands the old one back to the thread to be closed there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::{
    device_present, DeviceCounters, DeviceError, DeviceSink, DeviceSource, Direction, StreamFault,
};
use crate::frame::{AudioSink, AudioSource, Frame, SourceState};

/// How often the watcher looks (well under the 1 s a user would notice).
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// What the watcher did, for the engine to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// `lost` is gone; the system default `now` is used instead.
    FellBack { lost: String, now: String },
    /// The preferred device `id` is back and in use again.
    Returned { id: String },
}

/// A device stream the watcher can follow.
pub trait FollowedDevice: Send + Sized + 'static {
    const DIRECTION: Direction;
    fn open_device(id: Option<&str>) -> Result<Self, DeviceError>;
    fn device_id(&self) -> &str;
    fn device_counters(&self) -> Arc<DeviceCounters>;
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
    /// Opens `preferred` and starts watching; `on_change` is called from the watcher thread.
    pub fn open(
        preferred: Option<&str>,
        on_change: impl Fn(DeviceChange) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let current = D::open_device(preferred)?;
        let (swap_tx, swaps) = channel();
        let (retired, retired_rx) = channel::<D>();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = Watcher {
            preferred: preferred.map(str::to_owned),
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
        Ok(Self {
            current,
            swaps,
            retired,
            stop,
        })
    }

    /// The device in use now.
    pub fn id(&self) -> &str {
        self.current.device_id()
    }

    /// Takes the stream the watcher opened, if any.
    fn swap_in(&mut self) {
        while let Ok(next) = self.swaps.try_recv() {
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
}

impl AudioSink for FollowingSink {
    fn write_frame(&mut self, frame: &Frame) {
        self.swap_in();
        self.current.write_frame(frame);
    }

    fn finish(&mut self) {
        self.current.finish();
    }
}

impl<D: FollowedDevice> Drop for Following<D> {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Watcher<D> {
    preferred: Option<String>,
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
            let on_preferred = self.preferred.as_deref().is_none_or(|p| p == self.using);
            let lost = self.counters.fault() == Some(StreamFault::DeviceLost)
                || !device_present(&self.using, D::DIRECTION);
            if lost {
                // The default now (it may have moved with the lost device).
                if let Ok(device) = D::open_device(None) {
                    let change = DeviceChange::FellBack {
                        lost: std::mem::take(&mut self.using),
                        now: device.device_id().to_owned(),
                    };
                    self.hand_over(device);
                    on_change(change);
                }
            } else if !on_preferred {
                if let Some(preferred) = self
                    .preferred
                    .clone()
                    .filter(|p| device_present(p, D::DIRECTION))
                {
                    if let Ok(device) = D::open_device(Some(&preferred)) {
                        self.hand_over(device);
                        on_change(DeviceChange::Returned { id: preferred });
                    }
                }
            }
        }
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
