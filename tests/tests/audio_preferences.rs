//! An ordered device preference on real streams (PulseAudio harness, null sinks): "the
//! headset, then the laptop". The headset is absent: the laptop plays. The headset is
//! plugged in (a sink loaded): the sound moves to it. It goes again: back to the laptop.
//! The user then chooses "default": the system default plays, at once, without reopening.
//! (One test per binary: PULSE_SERVER is process-wide.)

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use homeline_media::device::{DeviceChange, DevicePreference, DeviceSource, FollowingSink};
use homeline_media::frame::ToneSource;
use homeline_media::goertzel::goertzel_power;
use homeline_media::{AudioSink, AudioSource, FRAME_SAMPLES, SAMPLE_RATE};
use homeline_tests::services::pulse::{self, PulseAudio, OUTPUT_SINK};

const HEADSET: &str = "homeline_pref_headset";
const LAPTOP: &str = "homeline_pref_laptop";
/// Generous for a loaded machine; the measured time is printed (the watcher looks every 200 ms).
const SWITCH_WITHIN: Duration = Duration::from_secs(5);

fn load(pa: &PulseAudio, name: &str) -> String {
    pa.pactl(&["load-module", "module-null-sink", &format!("sink_name={name}"), "rate=48000", "channels=2"]).expect("load a null sink").trim().to_owned()
}

fn id(sink: &str) -> String {
    format!("pulseaudio:{sink}")
}

/// Plays a 1 kHz tone through `speaker` on a 20 ms clock and listens to the laptop's and the
/// default sink's monitors, until `done(laptop, default)` holds for 10 frames in a row.
struct Rig {
    speaker: FollowingSink,
    laptop: DeviceSource,
    default: DeviceSource,
    tone: ToneSource,
}

impl Rig {
    fn run_until(&mut self, done: impl Fn(f64, f64) -> bool) -> Option<Duration> {
        let (start, mut next, mut streak) = (Instant::now(), Instant::now(), 0);
        let (mut frame, mut a, mut b) = ([0i16; FRAME_SAMPLES], [0i16; FRAME_SAMPLES], [0i16; FRAME_SAMPLES]);
        while start.elapsed() < SWITCH_WITHIN {
            self.tone.read_frame(&mut frame);
            self.speaker.write_frame(&frame);
            self.laptop.read_frame(&mut a);
            self.default.read_frame(&mut b);
            let (pa, pb) = (goertzel_power(&a, SAMPLE_RATE, 1000.0), goertzel_power(&b, SAMPLE_RATE, 1000.0));
            streak = if done(pa, pb) { streak + 1 } else { 0 };
            if streak >= 10 {
                return Some(start.elapsed());
            }
            next += Duration::from_millis(20);
            if let Some(wait) = next.checked_duration_since(Instant::now()) {
                std::thread::sleep(wait);
            }
        }
        None
    }
}

fn loud(p: f64) -> bool {
    p > 0.01
}

fn quiet(p: f64) -> bool {
    p < 0.001
}

#[test]
fn the_first_present_device_of_the_list_plays_and_a_preferred_one_that_comes_back_is_used_again() {
    let pa = pulse::start().expect("PulseAudio harness");
    for (k, v) in pa.env() {
        std::env::set_var(k, v);
    }
    load(&pa, LAPTOP);
    let preference = DevicePreference::new(vec![id(HEADSET), id(LAPTOP)]);
    let (changes_tx, changes) = mpsc::channel();
    let speaker = FollowingSink::follow(&preference, move |c| {
        let _ = changes_tx.send(c);
    })
    .expect("a speaker opens");
    assert_eq!(speaker.id(), id(LAPTOP), "the headset is absent: the second choice");
    let mut rig = Rig {
        speaker,
        laptop: DeviceSource::open(Some(&format!("{}.monitor", id(LAPTOP)))).expect("the laptop's monitor"),
        default: DeviceSource::open(Some(&format!("{}.monitor", id(OUTPUT_SINK)))).expect("the default sink's monitor"),
        tone: ToneSource::new(&[1000.0], 0.5),
    };
    assert!(rig.run_until(|laptop, default| loud(laptop) && quiet(default)).is_some(), "the tone is not on the laptop");

    // The headset is plugged in: it is preferred, so the sound moves there.
    let module = load(&pa, HEADSET);
    let moved = rig.run_until(|laptop, default| quiet(laptop) && quiet(default));
    println!("headset plugged in: the laptop fell quiet {moved:?} later");
    assert!(moved.is_some(), "the sound did not move to the headset within {SWITCH_WITHIN:?}");
    assert_eq!(changes.recv_timeout(Duration::from_secs(1)).expect("the move is told"), DeviceChange::Returned { id: id(HEADSET) });
    assert_eq!(rig.speaker.id(), id(HEADSET));

    // The headset goes: the laptop (second choice), not the system default.
    pa.pactl(&["unload-module", &module]).expect("unplug the headset");
    let back = rig.run_until(|laptop, default| loud(laptop) && quiet(default));
    println!("headset unplugged: the laptop played {back:?} later");
    assert!(back.is_some(), "the laptop did not take over within {SWITCH_WITHIN:?}");
    assert_eq!(
        changes.recv_timeout(Duration::from_secs(1)).expect("the fall-back is told"),
        DeviceChange::FellBack { lost: id(HEADSET), now: id(LAPTOP) }
    );

    // The user chooses "default" in the settings: the stream in use follows the shared list.
    preference.set(vec!["default".into()]);
    let switched = rig.run_until(|laptop, default| quiet(laptop) && loud(default));
    println!("preference changed to the default: it played {switched:?} later");
    assert!(switched.is_some(), "the new choice was not applied within {SWITCH_WITHIN:?}");
    assert_eq!(changes.recv_timeout(Duration::from_secs(1)).expect("the switch is told"), DeviceChange::Switched { id: id(OUTPUT_SINK) });
}
