//! Every call's audio passes through one router, so calls can be merged into a
//! local conference mixed in the engine.
//!
//! Outside a conference a call's session reads its own microphone source and
//! writes to its own sink (speaker, recording), as if the router were not
//! there. Inside one, the first member's 20 ms send tick is the conference's
//! clock: it reads the local microphone (that member's source), takes one
//! received frame from each member, mixes (`homeline_media::mixer`), plays the
//! sum of the remote parties on that member's sink and queues for each other
//! member what it must hear. When the clock member leaves, the next takes over.
//!
//! These are media tasks, not device callbacks: a short uncontended lock per
//! frame is fine here; nothing is allocated per frame (queues and mix buffers
//! are made when a call starts or the conference changes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use homeline_media::frame::{NullSink, SilenceSource, SILENCE};
use homeline_media::mixer::mix;
use homeline_media::{AudioSink, AudioSource, Frame, SourceState};
use homeline_rtc::MediaIo;

/// Frames queued per direction and member: enough to ride out two send loops
/// ticking at different moments; older frames are dropped first.
const QUEUE_FRAMES: usize = 4;

/// One call's audio ends as the router knows them.
pub type LegId = u64;

#[derive(Default)]
pub struct AudioRouter {
    state: Mutex<RouterState>,
}

impl std::fmt::Debug for AudioRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AudioRouter").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct RouterState {
    next_id: LegId,
    legs: HashMap<LegId, Leg>,
    /// Members in merge order; the first is the clock. Never one alone.
    members: Vec<LegId>,
    received: Vec<Frame>,
    to_members: Vec<Frame>,
    mic: Frame0,
    speaker: Frame0,
    /// Our microphone is muted for the whole conference.
    mic_muted: bool,
}

/// A frame that defaults to silence (arrays this long have no `Default`).
struct Frame0(Frame);

impl Default for Frame0 {
    fn default() -> Self {
        Self(SILENCE)
    }
}

struct Leg {
    source: Box<dyn AudioSource>,
    sink: Box<dyn AudioSink>,
    finished: bool,
    /// What this member sent us, waiting for the next mix.
    inbox: FrameQueue,
    /// What this member must hear, waiting for its send tick.
    outbox: FrameQueue,
}

/// A fixed ring of frames (allocated once).
struct FrameQueue {
    frames: Box<[Frame; QUEUE_FRAMES]>,
    head: usize,
    len: usize,
}

impl FrameQueue {
    fn new() -> Self {
        Self { frames: Box::new([SILENCE; QUEUE_FRAMES]), head: 0, len: 0 }
    }

    fn push(&mut self, frame: &Frame) {
        if self.len == QUEUE_FRAMES {
            self.head = (self.head + 1) % QUEUE_FRAMES;
            self.len -= 1;
        }
        self.frames[(self.head + self.len) % QUEUE_FRAMES] = *frame;
        self.len += 1;
    }

    /// The oldest frame, or silence when nothing is queued.
    fn pop_into(&mut self, out: &mut Frame) {
        if self.len == 0 {
            out.fill(0);
            return;
        }
        *out = self.frames[self.head];
        self.head = (self.head + 1) % QUEUE_FRAMES;
        self.len -= 1;
    }

    fn clear(&mut self) {
        self.len = 0;
    }
}

impl AudioRouter {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Routes a new call's audio: the returned `MediaIo` goes to its session.
    pub fn add_leg(self: &Arc<Self>, io: MediaIo) -> (LegId, MediaIo) {
        let mut state = self.lock();
        state.next_id += 1;
        let id = state.next_id;
        state.legs.insert(id, Leg { source: io.source, sink: io.sink, finished: false, inbox: FrameQueue::new(), outbox: FrameQueue::new() });
        let routed = MediaIo { source: Box::new(RoutedSource { router: self.clone(), leg: id }), sink: Box::new(RoutedSink { router: self.clone(), leg: id }) };
        (id, routed)
    }

    /// A call's audio before it has any: silence out, nothing heard. Sessions
    /// are made (and gather candidates) before a call needs its devices.
    pub fn add_silent_leg(self: &Arc<Self>) -> (LegId, MediaIo) {
        self.add_leg(MediaIo { source: Box::new(SilenceSource), sink: Box::new(NullSink::default()) })
    }

    /// Gives a call its real microphone and speaker (or files) once it starts.
    /// `false`: the call is gone.
    pub fn attach(&self, id: LegId, io: MediaIo) -> bool {
        let mut state = self.lock();
        match state.legs.get_mut(&id) {
            Some(leg) if !leg.finished => {
                leg.source = io.source;
                leg.sink = io.sink;
                true
            }
            _ => false,
        }
    }

    /// Forgets a call's audio (finishing its sink if its session did not).
    /// Returns the conference's members afterwards if it changed.
    pub fn remove_leg(&self, id: LegId) -> Option<Vec<LegId>> {
        let mut state = self.lock();
        if let Some(mut leg) = state.legs.remove(&id) {
            if !leg.finished {
                leg.sink.finish();
            }
        }
        state.leave(id)
    }

    /// Mixes `legs` together with whoever is in the conference already.
    /// Returns the members now.
    pub fn merge(&self, legs: &[LegId]) -> Vec<LegId> {
        let mut state = self.lock();
        for id in legs {
            if state.legs.contains_key(id) && !state.members.contains(id) {
                state.members.push(*id);
                if let Some(leg) = state.legs.get_mut(id) {
                    leg.inbox.clear();
                    leg.outbox.clear();
                }
            }
        }
        if state.members.len() < 2 {
            state.members.clear();
        }
        state.resize();
        state.members.clone()
    }

    /// Takes `id` out of the conference (a conference of one ends).
    pub fn split(&self, id: LegId) -> Option<Vec<LegId>> {
        self.lock().leave(id)
    }

    /// Mutes our microphone in the conference mix (each member's session
    /// must keep sending: it carries the other parties too).
    pub fn set_mic_muted(&self, muted: bool) {
        self.lock().mic_muted = muted;
    }

    pub fn members(&self) -> Vec<LegId> {
        self.lock().members.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, RouterState> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl RouterState {
    fn leave(&mut self, id: LegId) -> Option<Vec<LegId>> {
        let before = self.members.len();
        self.members.retain(|m| *m != id);
        if self.members.len() < 2 {
            self.members.clear();
        }
        if self.members.len() == before {
            return None;
        }
        self.resize();
        Some(self.members.clone())
    }

    /// Mix buffers sized for the members (allocates only here, not per frame).
    fn resize(&mut self) {
        self.received.resize(self.members.len(), SILENCE);
        self.to_members.resize(self.members.len(), SILENCE);
    }

    fn read(&mut self, id: LegId, frame: &mut Frame) -> SourceState {
        let Some(position) = self.members.iter().position(|m| *m == id) else {
            return match self.legs.get_mut(&id) {
                Some(leg) => leg.source.read_frame(frame),
                None => {
                    frame.fill(0);
                    SourceState::Ended
                }
            };
        };
        if position > 0 {
            if let Some(leg) = self.legs.get_mut(&id) {
                leg.outbox.pop_into(frame);
            }
            return SourceState::Audio;
        }
        // The clock member: one round of the conference.
        let Self { legs, members, received, to_members, mic, speaker, mic_muted, .. } = self;
        if let Some(leg) = legs.get_mut(&id) {
            // Read even when muted: a device ring must keep draining.
            if leg.source.read_frame(&mut mic.0) == SourceState::Ended || *mic_muted {
                mic.0.fill(0);
            }
        }
        for (member, slot) in members.iter().zip(received.iter_mut()) {
            match legs.get_mut(member) {
                Some(leg) => leg.inbox.pop_into(slot),
                None => slot.fill(0),
            }
        }
        mix(&mic.0, received, to_members, &mut speaker.0);
        for (member, out) in members.iter().zip(to_members.iter()).skip(1) {
            if let Some(leg) = legs.get_mut(member) {
                leg.outbox.push(out);
            }
        }
        if let Some(leg) = legs.get_mut(&id) {
            if !leg.finished {
                leg.sink.write_frame(&speaker.0);
            }
        }
        *frame = to_members[0];
        SourceState::Audio
    }

    fn write(&mut self, id: LegId, frame: &Frame) {
        let in_conference = self.members.contains(&id);
        if let Some(leg) = self.legs.get_mut(&id) {
            if in_conference {
                leg.inbox.push(frame);
            } else if !leg.finished {
                leg.sink.write_frame(frame);
            }
        }
    }

    fn finish(&mut self, id: LegId) {
        if let Some(leg) = self.legs.get_mut(&id) {
            if !leg.finished {
                leg.finished = true;
                leg.sink.finish();
            }
        }
    }
}

/// What a session reads as its microphone.
struct RoutedSource {
    router: Arc<AudioRouter>,
    leg: LegId,
}

impl AudioSource for RoutedSource {
    fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
        self.router.lock().read(self.leg, frame)
    }
    // The call's own microphone learns of its mute (the "you are muted" detector).
    fn set_muted(&mut self, muted: bool) {
        if let Some(leg) = self.router.lock().legs.get_mut(&self.leg) {
            leg.source.set_muted(muted);
        }
    }
}

/// Where a session puts what it receives.
struct RoutedSink {
    router: Arc<AudioRouter>,
    leg: LegId,
}

impl AudioSink for RoutedSink {
    fn write_frame(&mut self, frame: &Frame) {
        self.router.lock().write(self.leg, frame);
    }

    fn finish(&mut self) {
        self.router.lock().finish(self.leg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use homeline_media::frame::FRAME_SAMPLES;

    fn flat(v: i16) -> Frame {
        [v; FRAME_SAMPLES]
    }

    /// A microphone that always says `v`.
    struct Level(i16);
    impl AudioSource for Level {
        fn read_frame(&mut self, frame: &mut Frame) -> SourceState {
            frame.fill(self.0);
            SourceState::Audio
        }
    }

    /// A sink that remembers the last frame.
    #[derive(Clone, Default)]
    struct Last(Arc<Mutex<Option<i16>>>);
    impl AudioSink for Last {
        fn write_frame(&mut self, frame: &Frame) {
            *self.0.lock().unwrap() = Some(frame[0]);
        }
    }
    impl Last {
        fn get(&self) -> Option<i16> {
            *self.0.lock().unwrap()
        }
    }

    fn leg(router: &Arc<AudioRouter>, mic: i16) -> (LegId, MediaIo, Last) {
        let heard = Last::default();
        let (id, io) = router.add_leg(MediaIo { source: Box::new(Level(mic)), sink: Box::new(heard.clone()) });
        (id, io, heard)
    }

    #[test]
    fn outside_a_conference_a_call_uses_its_own_ends() {
        let router = AudioRouter::new();
        let (_, mut io, heard) = leg(&router, 7);
        let mut frame = SILENCE;
        io.source.read_frame(&mut frame);
        assert_eq!(frame, flat(7));
        io.sink.write_frame(&flat(3));
        assert_eq!(heard.get(), Some(3));
    }

    #[test]
    fn merged_calls_hear_each_other_and_the_local_mic_and_the_speaker_hears_both() {
        let router = AudioRouter::new();
        let (b, mut b_io, b_speaker) = leg(&router, 1);
        let (c, mut c_io, _c_speaker) = leg(&router, 50);
        assert_eq!(router.merge(&[b, c]), vec![b, c]);
        // B's party said 10, C's said 100.
        b_io.sink.write_frame(&flat(10));
        c_io.sink.write_frame(&flat(100));
        let mut to_b = SILENCE;
        b_io.source.read_frame(&mut to_b); // the clock: mixes
        assert_eq!(to_b, flat(1 + 100), "B hears our mic and C");
        assert_eq!(b_speaker.get(), Some(110), "we hear B and C on the first call's speaker");
        let mut to_c = SILENCE;
        c_io.source.read_frame(&mut to_c);
        assert_eq!(to_c, flat(1 + 10), "C hears our mic (the first call's) and B");
        c_io.source.read_frame(&mut to_c);
        assert_eq!(to_c, SILENCE, "nothing mixed since: silence, not a repeat");
        // Muted: the parties still hear each other, not us.
        router.set_mic_muted(true);
        b_io.sink.write_frame(&flat(10));
        c_io.sink.write_frame(&flat(100));
        b_io.source.read_frame(&mut to_b);
        c_io.source.read_frame(&mut to_c);
        assert_eq!((to_b, to_c), (flat(100), flat(10)));
    }

    #[test]
    fn when_the_clock_call_leaves_the_next_one_takes_over_and_one_alone_is_no_conference() {
        let router = AudioRouter::new();
        let (a, _a_io, _) = leg(&router, 1);
        let (b, mut b_io, b_speaker) = leg(&router, 2);
        let (c, mut c_io, _) = leg(&router, 3);
        router.merge(&[a, b]);
        assert_eq!(router.merge(&[c]), vec![a, b, c], "a third joins");
        assert_eq!(router.remove_leg(a), Some(vec![b, c]));
        c_io.sink.write_frame(&flat(100));
        let mut to_b = SILENCE;
        b_io.source.read_frame(&mut to_b);
        assert_eq!(to_b, flat(2 + 100), "B is the clock now: its own mic is the local one");
        assert_eq!(b_speaker.get(), Some(100));
        assert_eq!(router.split(c), Some(vec![]), "two minus one: the conference ends");
        assert_eq!(router.split(c), None, "nothing changed");
        b_io.source.read_frame(&mut to_b);
        assert_eq!(to_b, flat(2), "B is an ordinary call again");
        assert!(router.merge(&[b]).is_empty(), "one call alone is no conference");
    }

    #[test]
    fn a_call_made_silent_gets_its_devices_when_it_starts() {
        let router = AudioRouter::new();
        let (id, mut io) = router.add_silent_leg();
        let mut frame = flat(9);
        io.source.read_frame(&mut frame);
        assert_eq!(frame, SILENCE, "no microphone yet");
        let heard = Last::default();
        assert!(router.attach(id, MediaIo { source: Box::new(Level(4)), sink: Box::new(heard.clone()) }));
        io.source.read_frame(&mut frame);
        assert_eq!(frame, flat(4));
        io.sink.write_frame(&flat(6));
        assert_eq!(heard.get(), Some(6));
        router.remove_leg(id);
        assert!(!router.attach(id, MediaIo { source: Box::new(Level(1)), sink: Box::new(Last::default()) }), "gone");
    }

    #[test]
    fn a_member_that_stops_reading_never_grows_a_queue() {
        let router = AudioRouter::new();
        let (a, mut a_io, _) = leg(&router, 1);
        let (b, mut b_io, _) = leg(&router, 2);
        router.merge(&[a, b]);
        let mut frame = SILENCE;
        for _ in 0..1000 {
            b_io.sink.write_frame(&flat(5));
            a_io.source.read_frame(&mut frame);
        }
        let state = router.lock();
        assert!(state.legs.values().all(|l| l.inbox.len <= QUEUE_FRAMES && l.outbox.len <= QUEUE_FRAMES));
    }
}
