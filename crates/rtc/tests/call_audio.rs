//! Two real sessions in one process on loopback: real ICE, DTLS-SRTP, codecs, RTP.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use homeline_media::frame::{NullSink, SilenceSource};
use homeline_media::goertzel::{goertzel_power, mean_power};
use homeline_media::wav::{write_wav_mono, AtEnd, WavFileSource, WavRecorder};
use homeline_media::CodecKind;
use homeline_rtc::{IceServer, MediaIo, Session, SessionConfig, SessionEvent};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod common;
use common::wait_for;

const TONE_SECS: f64 = 2.0;

fn tmp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("homeline-rtc-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// A 16 kHz mono WAV of two summed tones (the session resamples it to 48 kHz).
fn tone_wav(path: &Path, f1: f64, f2: f64) {
    let rate = 16_000u32;
    let n = (TONE_SECS * rate as f64) as usize;
    let s: Vec<i16> = (0..n)
        .map(|i| {
            let t = i as f64 / rate as f64;
            (((2.0 * std::f64::consts::PI * f1 * t).sin()
                + (2.0 * std::f64::consts::PI * f2 * t).sin())
                * 8000.0) as i16
        })
        .collect();
    write_wav_mono(path, rate, &s).unwrap();
}

/// Seconds of 20 ms blocks in which `f1`+`f2` carry most of a clearly audible signal.
fn tone_seconds(path: &Path, f1: f32, f2: f32) -> f64 {
    let mut r = hound::WavReader::open(path).unwrap();
    let rate = r.spec().sample_rate;
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let block = (rate / 50) as usize;
    let hits = s
        .chunks_exact(block)
        .filter(|b| {
            let total = mean_power(b);
            let tone = goertzel_power(b, rate, f1) + goertzel_power(b, rate, f2);
            total > 1e-3 && tone > 0.6 * total
        })
        .count();
    hits as f64 * 0.02
}

/// Caller sends 440+1000 Hz, callee sends 700+1300 Hz; each records what it hears; then the
/// caller dials "123#".
async fn call_both_ways(label: &str, caller_codecs: Vec<CodecKind>, expect: CodecKind) {
    let caller_wav = tmp(&format!("{label}-caller-says.wav"));
    let callee_wav = tmp(&format!("{label}-callee-says.wav"));
    let caller_heard = tmp(&format!("{label}-caller-heard.wav"));
    let callee_heard = tmp(&format!("{label}-callee-heard.wav"));
    tone_wav(&caller_wav, 440.0, 1000.0);
    tone_wav(&callee_wav, 700.0, 1300.0);

    let caller_cfg = SessionConfig {
        codecs: caller_codecs,
        ..SessionConfig::loopback()
    };
    let (caller, mut caller_ev) = Session::new(
        caller_cfg,
        MediaIo {
            source: Box::new(WavFileSource::open(&caller_wav, AtEnd::Silence).unwrap()),
            sink: Box::new(WavRecorder::create(&caller_heard).unwrap()),
        },
    )
    .await
    .unwrap();
    let (callee, mut callee_ev) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(WavFileSource::open(&callee_wav, AtEnd::Silence).unwrap()),
            sink: Box::new(WavRecorder::create(&callee_heard).unwrap()),
        },
    )
    .await
    .unwrap();

    caller.prepare().await.unwrap();
    let t0 = Instant::now();
    let offer = caller.create_offer().await.unwrap();
    let t_offer = t0.elapsed();
    for codec in [
        "opus/48000",
        "PCMU/8000",
        "PCMA/8000",
        "telephone-event/8000",
        "telephone-event/48000",
    ] {
        assert!(offer.contains(codec), "offer lacks {codec}:\n{offer}");
    }
    let answer = callee.accept_offer(&offer).await.unwrap();
    if std::env::var_os("HOMELINE_PRINT_SDP").is_some() {
        println!("[{label}] offer:\n{offer}\n[{label}] answer:\n{answer}");
    }
    caller.accept_answer(&answer).await.unwrap();
    wait_for(&mut caller_ev, |e| *e == SessionEvent::Connected, 10).await;
    let t_connected = t0.elapsed();
    wait_for(&mut callee_ev, |e| *e == SessionEvent::Connected, 10).await;
    println!(
        "[{label}] create_offer returned in {:?}; create_offer → caller connected {:?} (session says {:?})",
        t_offer,
        t_connected,
        caller.connect_time()
    );

    // Let the tones play out, then dial.
    tokio::time::sleep(Duration::from_secs_f64(TONE_SECS + 0.4)).await;
    caller.send_dtmf("123#").unwrap();
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 4 && Instant::now() < deadline {
        if let Ok(Some(SessionEvent::DtmfReceived { digit })) =
            tokio::time::timeout(Duration::from_millis(200), callee_ev.recv()).await
        {
            got.push(digit);
        }
    }
    assert_eq!(got, "123#", "digits the callee heard");

    let cs = caller.stats().await;
    let ks = callee.stats().await;
    println!("[{label}] caller stats {cs:?}");
    println!("[{label}] callee stats {ks:?}");
    assert_eq!(cs.send_codec, Some(expect));
    assert_eq!(ks.send_codec, Some(expect));
    assert_eq!(ks.recv_codec, Some(expect));
    assert_eq!(cs.dtmf_sent, 4);
    assert!(cs.packets_received > 100 && ks.packets_received > 100);

    caller.close().await;
    callee.close().await;

    let callee_got = tone_seconds(&callee_heard, 440.0, 1000.0);
    let caller_got = tone_seconds(&caller_heard, 700.0, 1300.0);
    println!("[{label}] callee heard the caller's tone for {callee_got:.2} s, caller heard the callee's for {caller_got:.2} s (sent {TONE_SECS} s)");
    for got in [callee_got, caller_got] {
        assert!(
            got > TONE_SECS * 0.8 && got < TONE_SECS * 1.15,
            "tone heard for {got} s, sent {TONE_SECS} s"
        );
    }
    // Each side hears the other's tone, not its own.
    assert!(tone_seconds(&callee_heard, 700.0, 1300.0) < 0.2);
    assert!(tone_seconds(&caller_heard, 440.0, 1000.0) < 0.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opus_call_carries_voice_both_ways_and_dialed_digits_arrive_in_order() {
    call_both_ways("opus", CodecKind::ALL.to_vec(), CodecKind::Opus).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_g711_only_preference_still_connects_with_pcmu_both_ways_and_digits() {
    call_both_ways(
        "pcmu",
        vec![CodecKind::Pcmu, CodecKind::Pcma, CodecKind::Opus],
        CodecKind::Pcmu,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_never_waits_for_a_stun_server_that_does_not_answer() {
    // A STUN server on a loopback port nobody listens on: gathering cannot complete.
    let cfg = SessionConfig {
        ice_servers: vec![IceServer {
            urls: vec!["stun:127.0.0.1:9".into()],
            ..Default::default()
        }],
        ..SessionConfig::loopback()
    };
    let (s, _ev) = Session::new(
        cfg,
        MediaIo {
            source: Box::new(SilenceSource),
            sink: Box::new(NullSink::default()),
        },
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let offer = s.create_offer().await.unwrap();
    let took = t0.elapsed();
    println!("create_offer with an unanswering STUN server took {took:?}");
    // The cap is 500 ms (benchmarked separately); a client that waits for the
    // dead server hangs for 5 s or more, so 2 s tells the two apart under load.
    assert!(took < Duration::from_secs(2), "the offer waited for the STUN server: {took:?}");
    assert!(offer.contains("typ host"), "no host candidate:\n{offer}");
    assert!(!offer.contains(".local"), "mDNS candidate in offer");
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_phone_ready_to_dial_can_still_answer_an_incoming_call_and_mute_silences_it() {
    let wav = tmp("ready-caller-says.wav");
    let heard = tmp("ready-callee-heard.wav");
    tone_wav(&wav, 440.0, 1000.0);
    let (caller, _ce) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(WavFileSource::open(&wav, AtEnd::Loop).unwrap()),
            sink: Box::new(NullSink::default()),
        },
    )
    .await
    .unwrap();
    let (callee, mut ke) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(SilenceSource),
            sink: Box::new(WavRecorder::create(&heard).unwrap()),
        },
    )
    .await
    .unwrap();
    // The callee had started gathering for an outgoing call when the INVITE came in.
    callee.prepare().await.unwrap();
    let offer = caller.create_offer().await.unwrap();
    let answer = callee.accept_offer(&offer).await.unwrap();
    caller.accept_answer(&answer).await.unwrap();
    wait_for(&mut ke, |e| *e == SessionEvent::Connected, 10).await;
    tokio::time::sleep(Duration::from_millis(1000)).await;
    caller.set_muted(true);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let before_close = callee.stats().await;
    caller.close().await;
    callee.close().await;
    assert!(before_close.packets_received > 80, "{before_close:?}");
    let secs = tone_seconds(&heard, 440.0, 1000.0);
    println!("tone heard for {secs:.2} s of ~1 s unmuted");
    assert!(secs > 0.7 && secs < 1.3, "tone heard for {secs} s");
}

/// Renumbers our offer the way a PBX numbers its own: opus 109, telephone-event/8000 101,
/// telephone-event/48000 96, 8 kHz event listed first.
fn renumber_like_a_pbx(offer: &str) -> String {
    let mut out = String::new();
    for l in offer.lines() {
        let l = if let Some(rest) = l.strip_prefix("m=audio ") {
            let fixed: Vec<&str> = rest.split(' ').take(2).collect();
            format!("m=audio {} 109 0 8 101 96", fixed.join(" "))
        } else if l.starts_with("a=rtpmap:111") {
            "a=rtpmap:109 opus/48000/2".into()
        } else if l.starts_with("a=fmtp:111") {
            "a=fmtp:109 minptime=10;useinbandfec=1".into()
        } else if l.starts_with("a=rtpmap:110") {
            "a=rtpmap:101 telephone-event/8000".into()
        } else if l.starts_with("a=fmtp:110") {
            "a=fmtp:101 0-16".into()
        } else if l.starts_with("a=rtpmap:126") {
            "a=rtpmap:96 telephone-event/48000".into()
        } else if l.starts_with("a=fmtp:126") {
            "a=fmtp:96 0-16".into()
        } else {
            l.to_string()
        };
        out.push_str(&l);
        out.push_str("\r\n");
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answering_an_offer_with_its_own_payload_numbers_still_gives_audio_and_digits() {
    let wav = tmp("pbx-caller-says.wav");
    let heard = tmp("pbx-callee-heard.wav");
    tone_wav(&wav, 440.0, 1000.0);
    let (caller, mut ce) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(WavFileSource::open(&wav, AtEnd::Silence).unwrap()),
            sink: Box::new(NullSink::default()),
        },
    )
    .await
    .unwrap();
    let (callee, mut ke) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(SilenceSource),
            sink: Box::new(WavRecorder::create(&heard).unwrap()),
        },
    )
    .await
    .unwrap();
    let offer = renumber_like_a_pbx(&caller.create_offer().await.unwrap());
    let answer = callee.accept_offer(&offer).await.unwrap();
    println!("answer to a PBX-numbered offer:\n{answer}");
    assert!(
        answer.contains("a=rtpmap:109 opus/48000"),
        "answer must keep the offer's numbers"
    );
    assert!(
        !answer.contains(" 101 101"),
        "duplicate payload type in the answer"
    );
    caller.accept_answer(&answer).await.unwrap();
    wait_for(&mut ce, |e| *e == SessionEvent::Connected, 10).await;
    println!("caller sends {:?}", caller.negotiated_send_codecs().await);
    println!("callee sends {:?}", callee.negotiated_send_codecs().await);
    tokio::time::sleep(Duration::from_secs_f64(TONE_SECS + 0.3)).await;
    caller.send_dtmf("*9").unwrap();
    let mut got = String::new();
    let deadline = Instant::now() + Duration::from_secs(4);
    while got.len() < 2 && Instant::now() < deadline {
        if let Ok(Some(SessionEvent::DtmfReceived { digit })) =
            tokio::time::timeout(Duration::from_millis(200), ke.recv()).await
        {
            got.push(digit);
        }
    }
    let ks = callee.stats().await;
    caller.close().await;
    callee.close().await;
    println!("callee stats {ks:?}");
    assert_eq!(got, "*9");
    assert_eq!(ks.recv_codec, Some(CodecKind::Opus));
    let secs = tone_seconds(&heard, 440.0, 1000.0);
    assert!(secs > TONE_SECS * 0.8, "tone heard for {secs} s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recording_a_call_puts_me_on_the_left_and_the_other_side_on_the_right() {
    use homeline_media::wav::CallRecorder;
    let me = tmp("rec-me.wav");
    let them = tmp("rec-them.wav");
    let rec_path = tmp("rec-call.wav");
    tone_wav(&me, 440.0, 1000.0);
    tone_wav(&them, 700.0, 1300.0);
    let rec = CallRecorder::create(&rec_path).unwrap();
    let (a, mut ae) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: rec.tap_source(Box::new(WavFileSource::open(&me, AtEnd::Silence).unwrap())),
            sink: rec.tap_sink(Box::new(NullSink::default())),
        },
    )
    .await
    .unwrap();
    let (b, _be) = Session::new(
        SessionConfig::loopback(),
        MediaIo {
            source: Box::new(WavFileSource::open(&them, AtEnd::Silence).unwrap()),
            sink: Box::new(NullSink::default()),
        },
    )
    .await
    .unwrap();
    let offer = a.create_offer().await.unwrap();
    let answer = b.accept_offer(&offer).await.unwrap();
    a.accept_answer(&answer).await.unwrap();
    wait_for(&mut ae, |e| *e == SessionEvent::Connected, 10).await;
    tokio::time::sleep(Duration::from_secs_f64(TONE_SECS + 0.3)).await;
    a.close().await;
    b.close().await;
    drop(a); // the taps live in the session's media tasks
    rec.close().unwrap();

    let mut r = hound::WavReader::open(&rec_path).unwrap();
    assert_eq!(r.spec().channels, 2);
    let s: Vec<i16> = r.samples::<i16>().map(|x| x.unwrap()).collect();
    let left: Vec<i16> = s.iter().step_by(2).copied().collect();
    let right: Vec<i16> = s.iter().skip(1).step_by(2).copied().collect();
    let (lp, rp) = (tmp("rec-left.wav"), tmp("rec-right.wav"));
    write_wav_mono(&lp, 48_000, &left).unwrap();
    write_wav_mono(&rp, 48_000, &right).unwrap();
    let (l_me, r_them) = (
        tone_seconds(&lp, 440.0, 1000.0),
        tone_seconds(&rp, 700.0, 1300.0),
    );
    println!("recording: my tone on the left {l_me:.2} s, theirs on the right {r_them:.2} s");
    assert!(l_me > TONE_SECS * 0.8 && r_them > TONE_SECS * 0.8);
    assert!(tone_seconds(&lp, 700.0, 1300.0) < 0.2 && tone_seconds(&rp, 440.0, 1000.0) < 0.2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_dtls_fingerprint_ends_the_call_with_a_reason() {
    let io = || MediaIo {
        source: Box::new(SilenceSource),
        sink: Box::new(NullSink::default()),
    };
    let cfg = SessionConfig {
        connect_timeout: Duration::from_secs(3),
        ..SessionConfig::loopback()
    };
    let (a, mut ae) = Session::new(cfg, io()).await.unwrap();
    let (b, _be) = Session::new(SessionConfig::loopback(), io()).await.unwrap();
    let offer = a.create_offer().await.unwrap();
    let answer = b.accept_offer(&offer).await.unwrap();
    // Flip one hex digit of the answer's certificate fingerprint (a man in the middle).
    let tampered: String = answer
        .lines()
        .map(|l| {
            if let Some(fp) = l.strip_prefix("a=fingerprint:sha-256 ") {
                let first = if fp.starts_with('0') { '1' } else { '0' };
                format!("a=fingerprint:sha-256 {first}{}\r\n", &fp[1..])
            } else {
                format!("{l}\r\n")
            }
        })
        .collect();
    assert_ne!(tampered, answer);
    a.accept_answer(&tampered).await.unwrap();
    let t0 = Instant::now();
    let seen = wait_for(&mut ae, |e| matches!(e, SessionEvent::Failed { .. }), 10).await;
    println!("failed after {:?}: {:?}", t0.elapsed(), seen.last());
    assert!(
        !seen.contains(&SessionEvent::Connected),
        "connected despite a wrong fingerprint"
    );
    a.close().await;
    b.close().await;
}

/// A minimal STUN server on loopback that answers Binding requests after `delay`, claiming
/// the client is seen from 127.0.0.2 (so the server-reflexive candidate differs from host).
async fn slow_stun_server(delay: Duration) -> (String, tokio::task::JoinHandle<()>) {
    let sock = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = sock.local_addr().unwrap();
    let h = tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = sock.recv_from(&mut buf).await {
            if n < 20 || buf[0..2] != [0x00, 0x01] {
                continue;
            }
            let mut resp = Vec::with_capacity(32);
            resp.extend_from_slice(&[0x01, 0x01, 0x00, 12]);
            resp.extend_from_slice(&buf[4..20]); // magic cookie + transaction id
            let port = from.port() ^ 0x2112;
            let ip = u32::from_be_bytes([127, 0, 0, 2]) ^ 0x2112_A442;
            resp.extend_from_slice(&[0x00, 0x20, 0x00, 0x08, 0x00, 0x01]);
            resp.extend_from_slice(&port.to_be_bytes());
            resp.extend_from_slice(&ip.to_be_bytes());
            tokio::time::sleep(delay).await;
            let _ = sock.send_to(&resp, from).await;
        }
    });
    (format!("stun:{addr}"), h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dialing_sends_the_offer_as_soon_as_the_first_public_address_is_known() {
    let (url, server) = slow_stun_server(Duration::from_millis(120)).await;
    let cfg = SessionConfig {
        ice_servers: vec![IceServer {
            urls: vec![url],
            ..Default::default()
        }],
        ..SessionConfig::loopback()
    };
    let (s, _ev) = Session::new(
        cfg,
        MediaIo {
            source: Box::new(SilenceSource),
            sink: Box::new(NullSink::default()),
        },
    )
    .await
    .unwrap();
    let t0 = Instant::now();
    let offer = s.create_offer().await.unwrap();
    let took = t0.elapsed();
    println!("create_offer with a STUN server answering after 120 ms took {took:?}");
    assert!(offer.contains("typ host"), "{offer}");
    assert!(
        offer.contains("typ srflx"),
        "no server-reflexive candidate:\n{offer}"
    );
    assert!(took < Duration::from_millis(450), "waited {took:?}");
    s.close().await;
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_garbled_offer_or_answer_is_refused_in_words_not_a_crash() {
    let io = || MediaIo {
        source: Box::new(SilenceSource),
        sink: Box::new(NullSink::default()),
    };
    let (a, _ae) = Session::new(SessionConfig::loopback(), io()).await.unwrap();
    let e = a
        .accept_offer("v=0\r\nthis is not sdp\r\n")
        .await
        .unwrap_err();
    println!("{e}");
    assert!(e.to_string().contains("session description"), "{e}");
    let (b, _be) = Session::new(SessionConfig::loopback(), io()).await.unwrap();
    let e = b.accept_answer("v=0\r\n").await.unwrap_err();
    println!("{e}");
    b.create_offer().await.unwrap();
    let e = b
        .accept_answer("m=audio 9 RTP/AVP 0\r\n")
        .await
        .unwrap_err();
    println!("{e}");
    assert!(b.send_dtmf("12x").is_err());
    a.close().await;
    b.close().await;
}
