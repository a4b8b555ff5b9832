//! RFC 4733 telephone-events (DTMF) as plain state machines: no sockets, no clocks.
//!
//! [`DtmfSender`] is ticked once per 20 ms frame with that frame's RTP timestamp and tells
//! the sender which telephone-event packets to send instead of audio. [`DtmfReceiver`]
//! turns received telephone-event payloads into digits, once per event.

use crate::{MediaError, Result};
use std::collections::VecDeque;

/// Maps a key to its RFC 4733 event code.
pub fn event_code(key: char) -> Result<u8> {
    Ok(match key.to_ascii_uppercase() {
        c @ '0'..='9' => c as u8 - b'0',
        '*' => 10,
        '#' => 11,
        c @ 'A'..='D' => 12 + (c as u8 - b'A'),
        other => return Err(MediaError::DtmfKey(other)),
    })
}

/// Maps an RFC 4733 event code back to its key (16 = flash and others are not keys).
pub fn event_key(code: u8) -> Option<char> {
    Some(match code {
        0..=9 => (b'0' + code) as char,
        10 => '*',
        11 => '#',
        12..=15 => (b'A' + code - 12) as char,
        _ => return None,
    })
}

/// One telephone-event payload (RFC 4733 §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TelephoneEvent {
    pub event: u8,
    pub end: bool,
    /// Power level in -dBm0 (0..=63).
    pub volume: u8,
    /// In RTP timestamp units since the event's timestamp.
    pub duration: u16,
}

impl TelephoneEvent {
    pub fn to_bytes(self) -> [u8; 4] {
        let d = self.duration.to_be_bytes();
        [
            self.event,
            (if self.end { 0x80 } else { 0 }) | (self.volume & 0x3F),
            d[0],
            d[1],
        ]
    }
    pub fn parse(payload: &[u8]) -> Option<Self> {
        if payload.len() < 4 {
            return None;
        }
        Some(Self {
            event: payload[0],
            end: payload[1] & 0x80 != 0,
            volume: payload[1] & 0x3F,
            duration: u16::from_be_bytes([payload[2], payload[3]]),
        })
    }
}

/// A telephone-event packet to send: payload, RTP timestamp, marker bit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DtmfPacket {
    pub payload: [u8; 4],
    pub timestamp: u32,
    pub marker: bool,
}

#[derive(Debug, Clone, Copy)]
enum SendState {
    Idle,
    Tone {
        event: u8,
        start_ts: u32,
        duration: u32,
    },
    Gap {
        ticks_left: u32,
    },
}

/// Sends queued digits as RFC 4733 events: one packet per 20 ms tick carrying the growing
/// duration, all with the event's start timestamp; the first with the marker bit; the end
/// packet three times; then a silent gap before the next digit.
#[derive(Debug)]
pub struct DtmfSender {
    queue: VecDeque<u8>,
    state: SendState,
    /// Tone length in milliseconds.
    pub tone_ms: u32,
    /// Pause between digits in milliseconds.
    pub gap_ms: u32,
    pub volume: u8,
}

impl Default for DtmfSender {
    fn default() -> Self {
        Self {
            queue: VecDeque::new(),
            state: SendState::Idle,
            tone_ms: 100,
            gap_ms: 60,
            volume: 10,
        }
    }
}

/// At most this many digits wait to be sent.
pub const MAX_QUEUED_DIGITS: usize = 64;

impl DtmfSender {
    /// Queues digits; rejects the whole string if one key is not a DTMF key.
    pub fn push(&mut self, digits: &str) -> Result<()> {
        let codes = digits
            .chars()
            .filter(|c| !c.is_whitespace())
            .map(event_code)
            .collect::<Result<Vec<_>>>()?;
        for c in codes {
            if self.queue.len() < MAX_QUEUED_DIGITS {
                self.queue.push_back(c);
            }
        }
        Ok(())
    }

    /// True while an event is playing or queued (the sender replaces audio while playing).
    pub fn is_busy(&self) -> bool {
        !matches!(self.state, SendState::Idle) || !self.queue.is_empty()
    }

    /// Advances one frame. `ts` is the RTP timestamp the audio frame would have had, `step`
    /// the timestamp increase per frame, `clock_rate` the RTP clock. Returns true if this
    /// frame is an event (append to `out`, send no audio), false if audio should be sent.
    pub fn tick(&mut self, ts: u32, step: u32, clock_rate: u32, out: &mut Vec<DtmfPacket>) -> bool {
        let tone_len = (self.tone_ms as u64 * clock_rate as u64 / 1000) as u32;
        loop {
            match self.state {
                SendState::Idle => {
                    let Some(event) = self.queue.pop_front() else {
                        return false;
                    };
                    self.state = SendState::Tone {
                        event,
                        start_ts: ts,
                        duration: 0,
                    };
                }
                SendState::Tone {
                    event,
                    start_ts,
                    duration,
                } => {
                    let duration = (duration + step).min(u16::MAX as u32);
                    let ev = |end| TelephoneEvent {
                        event,
                        end,
                        volume: self.volume,
                        duration: duration as u16,
                    };
                    if duration >= tone_len {
                        for _ in 0..3 {
                            out.push(DtmfPacket {
                                payload: ev(true).to_bytes(),
                                timestamp: start_ts,
                                marker: false,
                            });
                        }
                        let ticks = self.gap_ms.div_ceil(20).max(1);
                        self.state = SendState::Gap { ticks_left: ticks };
                    } else {
                        out.push(DtmfPacket {
                            payload: ev(false).to_bytes(),
                            timestamp: start_ts,
                            marker: duration == step,
                        });
                        self.state = SendState::Tone {
                            event,
                            start_ts,
                            duration,
                        };
                    }
                    return true;
                }
                SendState::Gap { ticks_left } => {
                    self.state = if ticks_left <= 1 {
                        SendState::Idle
                    } else {
                        SendState::Gap {
                            ticks_left: ticks_left - 1,
                        }
                    };
                    return false;
                }
            }
        }
    }
}

/// Turns received telephone-event payloads into keys, once per event.
#[derive(Debug, Default)]
pub struct DtmfReceiver {
    last: Option<(u32, u8)>,
}

impl DtmfReceiver {
    /// Returns the key when a packet starts a new event (new timestamp or new code).
    pub fn on_packet(&mut self, timestamp: u32, payload: &[u8]) -> Option<char> {
        let ev = TelephoneEvent::parse(payload)?;
        let key = event_key(ev.event)?;
        if self.last == Some((timestamp, ev.event)) {
            return None;
        }
        self.last = Some((timestamp, ev.event));
        Some(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_round_trips_and_matches_rfc_layout() {
        let e = TelephoneEvent {
            event: 11,
            end: true,
            volume: 10,
            duration: 800,
        };
        assert_eq!(e.to_bytes(), [11, 0x8A, 0x03, 0x20]);
        assert_eq!(TelephoneEvent::parse(&e.to_bytes()), Some(e));
        assert_eq!(TelephoneEvent::parse(&[1, 2]), None);
    }

    #[test]
    fn keys_map_both_ways() {
        for k in "0123456789*#ABCD".chars() {
            assert_eq!(event_key(event_code(k).unwrap()), Some(k));
        }
        assert!(event_code('x').is_err());
    }

    #[test]
    fn sender_uses_one_timestamp_growing_duration_and_three_end_packets() {
        let mut s = DtmfSender::default();
        s.push("1#").unwrap();
        let (step, clock) = (160u32, 8000u32);
        let mut ts = 1000u32;
        let mut all = Vec::new();
        let mut audio_ticks = 0;
        for _ in 0..40 {
            let mut out = Vec::new();
            if !s.tick(ts, step, clock, &mut out) {
                audio_ticks += 1;
            }
            all.push((ts, out));
            ts = ts.wrapping_add(step);
        }
        assert!(!s.is_busy());
        let packets: Vec<DtmfPacket> = all.iter().flat_map(|(_, o)| o.clone()).collect();
        let first: Vec<_> = packets.iter().filter(|p| p.payload[0] == 1).collect();
        // 100 ms at 8 kHz = 800 units, 160 per packet: 4 progress packets + 3 end packets.
        assert_eq!(first.len(), 7);
        assert!(first.iter().all(|p| p.timestamp == 1000));
        assert!(first[0].marker && first[1..].iter().all(|p| !p.marker));
        let durations: Vec<u16> = first
            .iter()
            .map(|p| TelephoneEvent::parse(&p.payload).unwrap().duration)
            .collect();
        assert_eq!(durations, vec![160, 320, 480, 640, 800, 800, 800]);
        let ends = first
            .iter()
            .filter(|p| TelephoneEvent::parse(&p.payload).unwrap().end)
            .count();
        assert_eq!(ends, 3);
        let hash: Vec<_> = packets.iter().filter(|p| p.payload[0] == 11).collect();
        assert_eq!(hash.len(), 7);
        assert!(hash[0].timestamp > 1000 + 800);
        assert!(audio_ticks > 20);
    }

    #[test]
    fn receiver_reports_each_event_once() {
        let mut r = DtmfReceiver::default();
        let p = |e, end, d| {
            TelephoneEvent {
                event: e,
                end,
                volume: 10,
                duration: d,
            }
            .to_bytes()
        };
        assert_eq!(r.on_packet(100, &p(1, false, 160)), Some('1'));
        assert_eq!(r.on_packet(100, &p(1, false, 320)), None);
        assert_eq!(r.on_packet(100, &p(1, true, 800)), None);
        assert_eq!(r.on_packet(100, &p(1, true, 800)), None);
        assert_eq!(r.on_packet(2000, &p(1, true, 800)), Some('1'));
        assert_eq!(r.on_packet(4000, &p(11, false, 160)), Some('#'));
        assert_eq!(r.on_packet(5000, &[1]), None);
    }
}
