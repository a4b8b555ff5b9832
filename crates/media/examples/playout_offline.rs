//! The receiver alone, without sockets: a 48 kHz mono WAV through our Opus encoder, a
//! simulated relay (random loss, uniform delay ± jitter, seeded) and the jitter buffer's
//! [`Playout`] on a 20 ms tick; what it plays is written as a WAV.
//! `playout_offline IN.wav OUT.wav [bitrate] [loss%] [delay_ms] [jitter_ms] [seed] [fec_perc]`
use homeline_media::codec::{Codec, OpusCodec};
use homeline_media::jitter::{JitterConfig, Playout};
use homeline_media::CodecKind;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        return Err(format!("usage: {} IN.wav OUT.wav [options, see the source]", a[0]).into());
    }
    let arg = |i: usize, d: f64| a.get(i).and_then(|s| s.parse().ok()).unwrap_or(d);
    let (bitrate, loss, delay, jitter, seed, fec) = (
        arg(3, 32000.0),
        arg(4, 0.0),
        arg(5, 0.0),
        arg(6, 0.0),
        arg(7, 11.0),
        arg(8, 1.0),
    );
    let x = homeline_media::wav::read_wav_48k_mono(std::path::Path::new(&a[1]))?;
    let mut enc = OpusCodec::new()?;
    enc.set_bitrate(bitrate as u32)?;
    enc.set_packet_loss_perc(fec as u8)?;
    let mut state: u64 = seed as u64 * 0x9E37_79B9_7F4A_7C15 + 1;
    let mut unit = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    // (arrival ms, seq, ts, payload); 1 s of silence after the speech to drain.
    let mut arrivals = Vec::new();
    let frames = x.len() / 960 + 50;
    for i in 0..frames {
        let mut f = [0i16; 960];
        if i * 960 < x.len() {
            let e = (i * 960 + 960).min(x.len());
            f[..e - i * 960].copy_from_slice(&x[i * 960..e]);
        }
        let mut p = Vec::new();
        enc.encode(&f, &mut p)?;
        let lost = unit() < loss / 100.0;
        let d = delay + (unit() * 2.0 - 1.0) * jitter;
        if !lost {
            arrivals.push((i as f64 * 20.0 + d.max(0.0), i as u16, (i * 960) as u32, p));
        }
    }
    arrivals.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut playout = Playout::new(JitterConfig::default());
    let mut y = Vec::new();
    let mut next = 0;
    // Playout ticks at a phase of 7 ms against the sender's.
    for t in 0..frames + 20 {
        let now = t as f64 * 20.0 + 7.0;
        while next < arrivals.len() && arrivals[next].0 <= now {
            let (at, seq, ts, p) = &arrivals[next];
            playout.insert(
                *seq,
                *ts,
                CodecKind::Opus,
                p,
                Duration::from_secs_f64(at / 1000.0),
            );
            next += 1;
        }
        let mut frame = [0i16; 960];
        playout.next_frame(Duration::from_secs_f64(now / 1000.0), &mut frame);
        y.extend_from_slice(&frame);
        if t == x.len() / 960 + 8 {
            eprintln!("at the end of the speech: {:?}", playout.stats());
        }
    }
    eprintln!("{:?}", playout.stats());
    homeline_media::wav::write_wav_mono(&a[2], 48_000, &y)?;
    Ok(())
}
