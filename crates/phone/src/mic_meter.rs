//! The microphone meter of Settings → Audio, outside a call: while the section is open
//! the chosen microphone (the first present device of the user's preference, as calls
//! use, followed when the preference changes) is opened and its level published as
//! `MicrophoneLevel` events, 20 a second. The microphone is open only while someone
//! asked for the meter: it closes when the meter is stopped, and when a call starts
//! (the call takes the microphone and sends its own `AudioLevels`). `MicrophoneMeter`
//! events say when it opens and closes, so the window and the tray can show it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use homeline_media::device::FollowingSource;
use homeline_media::levels::LevelMeter;
use homeline_media::{AudioSource, FRAME_SAMPLES};
use serde::Serialize;
use tokio::sync::broadcast;

use crate::engine::Engine;
use crate::error::{EngineError, ErrorCode};
use crate::events::EngineEvent;
use crate::telephony::CallState;

/// Why the meter closed the microphone on its own (in `MicrophoneMeter { open: false }`).
pub const CLOSED_FOR_CALL: &str = "A call has the microphone now.";

/// The meter that is running: what the UI shows while it is open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MicMeterView {
    /// The device id opened (from `homeline_media::device::list_devices`).
    pub device: String,
}

struct Running {
    generation: u64,
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
    device: String,
}

/// The meter's slot (one per engine; a second start replaces the first).
#[derive(Default)]
pub(crate) struct MicMeter {
    running: Arc<Mutex<Option<Running>>>,
    generation: AtomicU64,
}

impl std::fmt::Debug for MicMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MicMeter").field("open", &self.is_open()).finish_non_exhaustive()
    }
}

fn lock(m: &Mutex<Option<Running>>) -> std::sync::MutexGuard<'_, Option<Running>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Drop for MicMeter {
    fn drop(&mut self) {
        self.stop();
    }
}

impl MicMeter {
    fn is_open(&self) -> bool {
        lock(&self.running).as_ref().is_some_and(|r| !r.thread.is_finished())
    }

    fn device(&self) -> Option<String> {
        lock(&self.running).as_ref().filter(|r| !r.thread.is_finished()).map(|r| r.device.clone())
    }

    /// Stops the meter and waits for the microphone to be closed (one 20 ms tick).
    fn stop(&self) -> bool {
        let running = lock(&self.running).take();
        match running {
            Some(r) => {
                r.stop.store(true, Ordering::Relaxed);
                let was_open = !r.thread.is_finished();
                let _ = r.thread.join();
                was_open
            }
            None => false,
        }
    }

    /// Starts metering `mic` (already open) on its own thread.
    fn start(&self, mic: FollowingSource, events: broadcast::Sender<EngineEvent>) -> Result<MicMeterView, EngineError> {
        let generation = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let stop = Arc::new(AtomicBool::new(false));
        let device = mic.id().to_owned();
        let calls = events.subscribe();
        let (stop_t, slot, device_t) = (stop.clone(), self.running.clone(), device.clone());
        let thread = std::thread::Builder::new()
            .name("homeline-mic-meter".into())
            .spawn(move || {
                let reason = run(mic, &stop_t, calls, &events);
                let _ = events.send(EngineEvent::MicrophoneMeter { open: false, device: Some(device_t), reason });
                let mut slot = lock(&slot);
                if slot.as_ref().is_some_and(|r| r.generation == generation) {
                    *slot = None;
                }
            })
            .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The microphone meter could not start: {e}")))?;
        *lock(&self.running) = Some(Running { generation, stop, thread, device: device.clone() });
        Ok(MicMeterView { device })
    }
}

/// The meter's loop: a 20 ms clock, a reading every 50 ms. Returns why it ended by
/// itself (`None`: it was stopped). The microphone is closed when this returns.
fn run(
    mut mic: FollowingSource,
    stop: &AtomicBool,
    mut calls: broadcast::Receiver<EngineEvent>,
    events: &broadcast::Sender<EngineEvent>,
) -> Option<String> {
    let mut clock = homeline_media::frame::FrameClock::start();
    let mut meter = LevelMeter::default();
    let mut frame = [0i16; FRAME_SAMPLES];
    let reason = loop {
        if stop.load(Ordering::Relaxed) {
            break None;
        }
        if call_started(&mut calls) {
            break Some(CLOSED_FOR_CALL.to_owned());
        }
        mic.read_frame(&mut frame);
        if let Some(level) = meter.push(&frame) {
            let _ = events.send(EngineEvent::MicrophoneLevel { device: mic.id().to_owned(), input: level.into() });
        }
        clock.wait();
    };
    drop(mic);
    reason
}

/// Whether a call appeared among the events since the last look (its microphone opens
/// at answer or connect: the meter gives it up at once).
fn call_started(calls: &mut broadcast::Receiver<EngineEvent>) -> bool {
    loop {
        match calls.try_recv() {
            Ok(EngineEvent::CallChanged(view)) if !matches!(view.state, CallState::Ended { .. }) => return true,
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return false,
        }
    }
}

impl Engine {
    /// Opens the microphone calls would use now (the first present device of the saved
    /// preference, else the system default; a preference changed meanwhile is followed)
    /// and publishes its level as `MicrophoneLevel` events, 20 a second, until
    /// [`Engine::stop_mic_meter`] or a call starts. A meter already running is replaced.
    /// Refused while a call is in progress: the call has the microphone (its levels come
    /// as `AudioLevels`). `MicrophoneMeter` events tell the opening and the closing.
    pub async fn start_mic_meter(&self) -> Result<MicMeterView, EngineError> {
        self.mic_meter.stop();
        let in_call = self.calls().await.iter().any(|c| !matches!(c.state, CallState::Ended { .. }));
        if in_call {
            return Err(EngineError::new(ErrorCode::NotAvailable, "A call has the microphone: the meters show the call's levels."));
        }
        let options = self.telephony.media_options();
        let (fixed, preference) = (options.input_device.clone(), options.input_preference.clone());
        let tell = crate::media_options::device_notice(Some(self.events.clone()), "microphone");
        let opened = tokio::task::spawn_blocking(move || match fixed {
            Some(id) => FollowingSource::open(Some(&id), tell),
            None => FollowingSource::follow(&preference, tell),
        })
        .await
        .map_err(|e| EngineError::new(ErrorCode::Internal, format!("The microphone meter could not start: {e}")))?;
        let mic = opened.map_err(|e| EngineError::new(ErrorCode::NotAvailable, format!("The microphone cannot be opened. {e}")))?;
        let view = self.mic_meter.start(mic, self.events.clone())?;
        tracing::info!(mic = %view.device, "microphone meter open");
        let _ = self.events.send(EngineEvent::MicrophoneMeter { open: true, device: Some(view.device.clone()), reason: None });
        Ok(view)
    }

    /// Closes the meter's microphone (returns once it is closed). `false`: none was open.
    pub fn stop_mic_meter(&self) -> bool {
        let stopped = self.mic_meter.stop();
        if stopped {
            tracing::info!("microphone meter closed");
        }
        stopped
    }

    /// The meter's microphone while it is open (`None`: closed).
    pub fn mic_meter(&self) -> Option<MicMeterView> {
        self.mic_meter.device().map(|device| MicMeterView { device })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::telephony::CallView;

    fn call(state: CallState) -> EngineEvent {
        EngineEvent::CallChanged(CallView {
            call: "c".into(),
            account: "a@b".into(),
            remote: "bob".into(),
            remote_name: None,
            outgoing: true,
            muted: false,
            connected_at: None,
            state,
        })
    }

    #[test]
    fn a_call_that_starts_takes_the_microphone_and_one_that_ends_does_not() {
        let (tx, mut rx) = broadcast::channel(16);
        assert!(!call_started(&mut rx));
        let _ = tx.send(EngineEvent::HistoryChanged);
        let _ = tx.send(call(CallState::Ended { reason: "x".into(), code: None, by: "local".into() }));
        assert!(!call_started(&mut rx));
        let _ = tx.send(call(CallState::Dialing));
        assert!(call_started(&mut rx));
        let _ = tx.send(call(CallState::Incoming));
        assert!(call_started(&mut rx));
    }

    #[test]
    fn stopping_a_meter_that_never_ran_is_harmless() {
        let engine = Engine::new();
        assert!(!engine.stop_mic_meter());
        assert_eq!(engine.mic_meter(), None);
    }
}
