//! A speaker that follows its device: when the one in use disappears (headset unplugged,
//! sink removed) it carries on with the system default, and when the preferred one comes
//! back it returns to it.
//!
//! Checking for devices and opening streams waits on the sound server, so a watcher thread
//! does both and hands a ready [`DeviceSink`] over a channel; the media side only swaps it in
//! (and hands the old one back to the thread to be closed there).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{channel, Receiver, Sender};
use std::sync::Arc;
use std::time::Duration;

use super::{device_present, DeviceCounters, DeviceError, DeviceSink, Direction, StreamFault};
use crate::frame::{AudioSink, Frame};

/// How often the watcher looks (well under the 1 s a user would notice).
const CHECK_EVERY: Duration = Duration::from_millis(200);

/// What the watcher did, for the engine to tell the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceChange {
    /// `lost` is gone; sound goes to the system default `now`.
    FellBack { lost: String, now: String },
    /// The preferred device `id` is back and in use again.
    Returned { id: String },
}

/// An [`AudioSink`] on the preferred output (`None`: the system default) that survives the
/// device going away.
pub struct FollowingSink {
    current: DeviceSink,
    swaps: Receiver<DeviceSink>,
    retired: Sender<DeviceSink>,
    stop: Arc<AtomicBool>,
}

impl std::fmt::Debug for FollowingSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FollowingSink")
            .field("current", &self.current)
            .finish_non_exhaustive()
    }
}

impl FollowingSink {
    /// Opens `preferred` and starts watching; `on_change` is called from the watcher thread.
    pub fn open(
        preferred: Option<&str>,
        on_change: impl Fn(DeviceChange) + Send + 'static,
    ) -> Result<Self, DeviceError> {
        let current = DeviceSink::open(preferred)?;
        let (swap_tx, swaps) = channel();
        let (retired, retired_rx) = channel::<DeviceSink>();
        let stop = Arc::new(AtomicBool::new(false));
        let watcher = Watcher {
            preferred: preferred.map(str::to_owned),
            using: current.id().to_owned(),
            counters: current.counters(),
            swap_tx,
            retired: retired_rx,
            stop: stop.clone(),
        };
        std::thread::Builder::new()
            .name("homeline-speaker-watch".into())
            .spawn(move || watcher.run(on_change))
            .map_err(|e| {
                DeviceError::OpenOutput(format!("the device watcher could not start: {e}"))
            })?;
        Ok(Self {
            current,
            swaps,
            retired,
            stop,
        })
    }

    /// The device in use now.
    pub fn id(&self) -> &str {
        self.current.id()
    }
}

impl AudioSink for FollowingSink {
    fn write_frame(&mut self, frame: &Frame) {
        while let Ok(next) = self.swaps.try_recv() {
            let old = std::mem::replace(&mut self.current, next);
            // Closing a stream waits on the sound server: the watcher does it.
            let _ = self.retired.send(old);
        }
        self.current.write_frame(frame);
    }

    fn finish(&mut self) {
        self.current.finish();
    }
}

impl Drop for FollowingSink {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct Watcher {
    preferred: Option<String>,
    using: String,
    counters: Arc<DeviceCounters>,
    swap_tx: Sender<DeviceSink>,
    retired: Receiver<DeviceSink>,
    stop: Arc<AtomicBool>,
}

impl Watcher {
    fn run(mut self, on_change: impl Fn(DeviceChange)) {
        while !self.stop.load(Ordering::Relaxed) {
            std::thread::sleep(CHECK_EVERY);
            while let Ok(old) = self.retired.try_recv() {
                drop(old);
            }
            let on_preferred = self.preferred.as_deref().is_none_or(|p| p == self.using);
            let lost = self.counters.fault() == Some(StreamFault::DeviceLost)
                || !device_present(&self.using, Direction::Output);
            if lost {
                // The default now (it may have moved with the lost device).
                if let Ok(sink) = DeviceSink::open(None) {
                    let change = DeviceChange::FellBack {
                        lost: std::mem::take(&mut self.using),
                        now: sink.id().to_owned(),
                    };
                    self.hand_over(sink);
                    on_change(change);
                }
            } else if !on_preferred {
                if let Some(preferred) = self
                    .preferred
                    .clone()
                    .filter(|p| device_present(p, Direction::Output))
                {
                    if let Ok(sink) = DeviceSink::open(Some(&preferred)) {
                        self.hand_over(sink);
                        on_change(DeviceChange::Returned { id: preferred });
                    }
                }
            }
        }
    }

    fn hand_over(&mut self, sink: DeviceSink) {
        self.using = sink.id().to_owned();
        self.counters = sink.counters();
        if self.swap_tx.send(sink).is_err() {
            // The media side is gone: nothing to follow any more.
            self.stop.store(true, Ordering::Relaxed);
        }
    }
}
