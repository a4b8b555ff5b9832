//! Offline Opus round trip of a WAV (no network, no jitter buffer), for measuring the
//! encoder alone (score the output with tests/tools/pesq_score.py --mode wb IN OUT):
//! `opus_offline IN.wav OUT.wav [bitrate] [complexity] [voip|audio] [loss%] [fec 0|1] [drop%]`.
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let a: Vec<String> = std::env::args().collect();
    if a.len() < 3 {
        return Err(format!("usage: {} IN.wav OUT.wav [options, see the source]", a[0]).into());
    }
    let bitrate: i32 = a.get(3).and_then(|s| s.parse().ok()).unwrap_or(32_000);
    let complexity: i32 = a.get(4).and_then(|s| s.parse().ok()).unwrap_or(-1);
    let app = match a.get(5).map(String::as_str) {
        Some("audio") => opus::Application::Audio,
        _ => opus::Application::Voip,
    };
    let loss: i32 = a.get(6).and_then(|s| s.parse().ok()).unwrap_or(5);
    let fec = a.get(7).map(String::as_str) != Some("0");
    let drop: f64 = a.get(8).and_then(|s| s.parse().ok()).unwrap_or(0.0);
    let x = homeline_media::wav::read_wav_48k_mono(std::path::Path::new(&a[1]))?;
    let mut enc = opus::Encoder::new(48_000, opus::Channels::Mono, app)?;
    enc.set_inband_fec(fec)?;
    enc.set_packet_loss_perc(loss)?;
    enc.set_bitrate(opus::Bitrate::Bits(bitrate))?;
    let bw = match a.get(9).map(String::as_str) {
        Some("wb") => Some(opus::Bandwidth::Wideband),
        Some("swb") => Some(opus::Bandwidth::Superwideband),
        Some("fb") => Some(opus::Bandwidth::Fullband),
        _ => None,
    };
    if let Some(bw) = bw {
        enc.set_max_bandwidth(bw)?;
    }
    if a.get(10).map(String::as_str) == Some("voice") {
        enc.set_signal(opus::Signal::Voice)?;
    }
    if complexity >= 0 {
        enc.set_complexity(complexity)?;
    }
    eprintln!(
        "complexity {:?} lookahead {:?}",
        enc.get_complexity(),
        enc.get_lookahead()
    );
    let mut dec = opus::Decoder::new(48_000, opus::Channels::Mono)?;
    let mut packets = Vec::new();
    let mut bytes = 0;
    for f in x.chunks(960) {
        let mut frame = [0i16; 960];
        frame[..f.len()].copy_from_slice(f);
        let mut buf = [0u8; 1500];
        let n = enc.encode(&frame, &mut buf)?;
        bytes += n;
        packets.push(buf[..n].to_vec());
    }
    let mut state: u32 = 12345;
    let lost: Vec<bool> = (0..packets.len())
        .map(|_| {
            state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            f64::from(state >> 8) / f64::from(1u32 << 24) < drop / 100.0
        })
        .collect();
    let mut y = Vec::new();
    let mut pcm = [0i16; 5760];
    for i in 0..packets.len() {
        let n = if lost[i] {
            match packets
                .get(i + 1)
                .filter(|_| !lost.get(i + 1).copied().unwrap_or(true))
            {
                Some(p) => dec.decode(p, &mut pcm[..960], true)?,
                None => dec.decode(&[], &mut pcm[..960], false)?,
            }
        } else {
            dec.decode(&packets[i], &mut pcm, false)?
        };
        y.extend_from_slice(&pcm[..n]);
    }
    let mut bws = std::collections::BTreeMap::new();
    for p in &packets {
        *bws.entry(format!("{:?}", opus::packet::get_bandwidth(p)))
            .or_insert(0) += 1;
    }
    eprintln!("bandwidths {bws:?}");
    eprintln!(
        "{} packets, {:.1} kbit/s actual, lost {}",
        packets.len(),
        bytes as f64 * 8.0 / (packets.len() as f64 * 0.02) / 1000.0,
        lost.iter().filter(|l| **l).count()
    );
    homeline_media::wav::write_wav_mono(&a[2], 48_000, &y)?;
    Ok(())
}
