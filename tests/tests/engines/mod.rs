//! Shared by the tests that run in-process engines against the harness
//! Kamailio: a registered engine, tone microphones, and waiting for events.

#![allow(dead_code, clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use homeline_media::wav::write_wav_mono;
use homeline_phone::{Account, AccountInput, CallView, Engine, EngineConfig, EngineEvent, MediaOptions, RegistrationState, TlsTrust};
use homeline_tests::services::kamailio::Kamailio;
use tokio::sync::broadcast::Receiver;

pub const WAIT: Duration = Duration::from_secs(15);

/// A 48 kHz WAV of a steady tone, used as a phone's microphone.
pub fn tone_wav(dir: &Path, hz: f32) -> PathBuf {
    let samples: Vec<i16> = (0..48_000 * 2).map(|i| (8_000.0 * (2.0 * std::f32::consts::PI * hz * i as f32 / 48_000.0).sin()) as i16).collect();
    let path = dir.join(format!("tone-{hz}.wav"));
    write_wav_mono(&path, 48_000, &samples).expect("write tone");
    path
}

/// An engine with `user`'s account saved (over WSS, trusting the harness CA),
/// returned once it is registered, with its event stream.
pub async fn registered_engine(k: &Kamailio, user: &str, password: &str, config: EngineConfig) -> (Engine, Receiver<EngineEvent>) {
    let engine = Engine::open(config);
    let mut events = engine.subscribe();
    let account = Account {
        address: format!("{user}@{}", k.domain()),
        auth_user: None,
        display_name: Some(user.to_uppercase()),
        server: k.wss_url(),
        outbound_proxy: None,
        expires: 300,
        tls: TlsTrust { ca_file: Some(k.ca_pem().to_path_buf()), fingerprint_sha256: None },
    };
    engine.save_account(AccountInput { account, password: Some(password.into()), make_default: true }).await.expect("save account");
    let id = format!("{user}@{}", k.domain());
    wait_event(&mut events, |e| matches!(e, EngineEvent::RegistrationChanged { account, state: RegistrationState::Registered { .. } } if *account == id)).await;
    (engine, events)
}

/// A registered engine whose microphone is a steady tone and whose calls'
/// received audio is recorded in `record_dir` (one WAV per call).
pub struct Phone {
    pub engine: Engine,
    pub events: Receiver<EngineEvent>,
    pub record_dir: PathBuf,
}

pub async fn phone(k: &Kamailio, user: &str, password: &str, tone_hz: f32, dir: &Path) -> Phone {
    let record_dir = dir.join(format!("{user}-received"));
    let media = MediaOptions { mic_wav: Some(tone_wav(dir, tone_hz)), record_dir: Some(record_dir.clone()), loopback_candidates: true, ..MediaOptions::default() };
    let (engine, events) = registered_engine(k, user, password, EngineConfig { media, ..EngineConfig::ephemeral() }).await;
    Phone { engine, events, record_dir }
}

pub async fn wait_event(rx: &mut Receiver<EngineEvent>, want: impl Fn(&EngineEvent) -> bool) -> EngineEvent {
    let deadline = Instant::now() + WAIT;
    loop {
        match tokio::time::timeout(deadline.saturating_duration_since(Instant::now()), rx.recv()).await {
            Ok(Ok(e)) if want(&e) => return e,
            Ok(Ok(_)) | Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
            other => panic!("the expected event did not come within {WAIT:?}: {other:?}"),
        }
    }
}

pub async fn wait_call(rx: &mut Receiver<EngineEvent>, want: impl Fn(&CallView) -> bool) -> CallView {
    match wait_event(rx, |e| matches!(e, EngineEvent::CallChanged(v) if want(v))).await {
        EngineEvent::CallChanged(v) => v,
        _ => unreachable!(),
    }
}
