//! Subcommands this binary runs in a child process of its own:
//!
//! - `engine`: one Homeline engine (`EngineConfig::ephemeral()`, a
//!   current-thread runtime as in `homeline-cli`) with one account per user,
//!   printing each registration as a JSON line with the time from the
//!   engine's `Registering` to its `Registered` event.
//! - `save-account`: save an account the way the desktop app does (settings
//!   file under XDG_CONFIG_HOME, password in the Secret Service), so the app
//!   registers at start.
//!
//! The password comes from BENCH_PASSWORD, never from the command line.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use homeline_phone::{Account, AccountInput, Engine, EngineConfig, EngineEvent, RegistrationState, TlsTrust};
use serde_json::json;

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

fn account(address: String, server: String) -> Account {
    Account { address, auth_user: None, display_name: None, server, outbound_proxy: None, expires: 600, tls: TlsTrust::default() }
}

fn password() -> Result<String, String> {
    std::env::var("BENCH_PASSWORD").map_err(|_| "BENCH_PASSWORD is not set".to_owned())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| format!("tokio runtime: {e}"))
}

fn emit(value: serde_json::Value) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{value}");
    let _ = out.flush();
}

pub fn engine(args: &[String]) -> ExitCode {
    match engine_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("homeline-bench engine: {e}");
            ExitCode::FAILURE
        }
    }
}

fn engine_inner(args: &[String]) -> Result<(), String> {
    let server = flag(args, "--server").ok_or("--server is needed")?;
    let domain = flag(args, "--domain").ok_or("--domain is needed")?;
    let users: Vec<String> = flag(args, "--users").ok_or("--users is needed")?.split(',').map(str::to_owned).collect();
    let run_for = flag(args, "--for").and_then(|s| s.parse().ok()).unwrap_or(3600u64);
    let password = password()?;
    runtime()?.block_on(async move {
        let started = Instant::now();
        let engine = Engine::open(EngineConfig::ephemeral());
        let mut events = engine.subscribe();
        let wanted = users.len();
        // Stamp events as they arrive, beside the commands.
        let watcher = tokio::spawn(async move {
            let mut registering: HashMap<String, Instant> = HashMap::new();
            let mut done: HashMap<String, f64> = HashMap::new();
            loop {
                let event = match events.recv().await {
                    Ok(event) => event,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                };
                let now = Instant::now();
                let EngineEvent::RegistrationChanged { account, state } = event else { continue };
                match state {
                    RegistrationState::Registering => {
                        registering.entry(account).or_insert(now);
                    }
                    RegistrationState::Registered { .. } if !done.contains_key(&account) => {
                        let register_ms = registering.get(&account).map(|t| now.duration_since(*t).as_secs_f64() * 1000.0);
                        done.insert(account.clone(), register_ms.unwrap_or(0.0));
                        emit(json!({"type": "registered", "account": account, "registerMs": register_ms,
                                    "ms": now.duration_since(started).as_secs_f64() * 1000.0}));
                        if done.len() == wanted {
                            emit(json!({"type": "allRegistered", "ms": now.duration_since(started).as_secs_f64() * 1000.0}));
                        }
                    }
                    RegistrationState::Failed { reason } => emit(json!({"type": "failed", "account": account, "reason": reason})),
                    _ => {}
                }
            }
        });
        for user in &users {
            let input = AccountInput {
                account: account(format!("{user}@{domain}"), server.clone()),
                password: Some(password.clone()),
                make_default: false,
            };
            engine.save_account(input).await.map_err(|e| e.to_string())?;
        }
        tokio::time::sleep(Duration::from_secs(run_for)).await;
        engine.shutdown().await;
        watcher.abort();
        Ok(())
    })
}

pub fn save_account(args: &[String]) -> ExitCode {
    match save_account_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("homeline-bench save-account: {e}");
            ExitCode::FAILURE
        }
    }
}

fn save_account_inner(args: &[String]) -> Result<(), String> {
    let server = flag(args, "--server").ok_or("--server is needed")?;
    let address = flag(args, "--address").ok_or("--address is needed")?;
    let password = password()?;
    let config = EngineConfig::for_user();
    if config.keychain.backend() != homeline_store::SecretBackend::Os {
        return Err("no Secret Service is reachable (DBUS_SESSION_BUS_ADDRESS)".into());
    }
    if config.dirs.is_none() {
        return Err("no config folder (HOME / XDG_CONFIG_HOME)".into());
    }
    runtime()?.block_on(async move {
        let engine = Engine::open(config);
        let mut events = engine.subscribe();
        let input = AccountInput { account: account(address, server), password: Some(password), make_default: true };
        let id = engine.save_account(input).await.map_err(|e| e.to_string())?.id;
        // The account registers on save: see it through, then unregister.
        let outcome = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match events.recv().await {
                    Ok(EngineEvent::RegistrationChanged { account, state: RegistrationState::Registered { .. } }) if account == id => {
                        return Ok(())
                    }
                    Ok(EngineEvent::RegistrationChanged { account, state: RegistrationState::Failed { reason } }) if account == id => {
                        return Err(reason)
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Err("the engine stopped".into()),
                }
            }
        })
        .await;
        engine.shutdown().await;
        match outcome {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(format!("the saved account does not register: {reason}")),
            Err(_) => Err("the saved account did not register within 10 s".into()),
        }
    })
}

/// `call`: one Homeline engine (as `homeline-cli phone --loopback` builds it:
/// `EngineConfig::ephemeral()` with loopback candidates, current-thread
/// runtime) with one account. `--mic FILE.wav` plays a file as the
/// microphone (default: silence); `--record-dir DIR` records what each call
/// receives and reports when its first audio came (`audioStarted`, see
/// [`first_audio`]). With `--auto-answer` it answers every incoming call;
/// with `--dial TARGET` it dials once the file `--go-file` exists (`--calls
/// N`: N calls, each once the previous one is active), and stamps, inside
/// the engine: dial command → Dialing (INVITE out), → Ringing (180), →
/// Active (200). Prints JSON lines; `epochMs` (ms since the Unix epoch)
/// lets the bench put events of different processes on one time line.
pub fn call(args: &[String]) -> ExitCode {
    match call_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("homeline-bench call: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Milliseconds since the Unix epoch, for comparing stamps across processes.
pub fn epoch_ms() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64() * 1000.0).unwrap_or(0.0)
}

fn call_inner(args: &[String]) -> Result<(), String> {
    use homeline_phone::{CallState, MediaOptions};
    use std::collections::HashSet;
    use std::sync::{Arc, Mutex};
    let server = flag(args, "--server").ok_or("--server is needed")?;
    let domain = flag(args, "--domain").ok_or("--domain is needed")?;
    let user = flag(args, "--user").ok_or("--user is needed")?;
    let target = flag(args, "--dial");
    let go_file = flag(args, "--go-file");
    let calls: usize = flag(args, "--calls").and_then(|s| s.parse().ok()).unwrap_or(1).max(1);
    let auto_answer = args.iter().any(|a| a == "--auto-answer");
    let run_for = flag(args, "--for").and_then(|s| s.parse().ok()).unwrap_or(600u64);
    let record_dir = flag(args, "--record-dir").map(std::path::PathBuf::from);
    let mic_wav = flag(args, "--mic").map(std::path::PathBuf::from);
    let password = password()?;
    if let Some(dir) = &record_dir {
        std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let dir = dir.clone();
        std::thread::Builder::new()
            .name("first-audio".into())
            .spawn(move || first_audio::watch(&dir, |file, epoch| emit(json!({"type": "audioStarted", "file": file, "epochMs": epoch}))))
            .map_err(|e| format!("starting the first-audio watch: {e}"))?;
    }
    runtime()?.block_on(async move {
        let media = MediaOptions { loopback_candidates: true, mic_wav, record_dir, ..MediaOptions::default() };
        let engine = Arc::new(Engine::open(EngineConfig { media, ..EngineConfig::ephemeral() }));
        let mut events = engine.subscribe();
        let dialed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (registered_tx, mut registered_rx) = tokio::sync::watch::channel(false);
        let (active_tx, mut active_rx) = tokio::sync::watch::channel(0usize);
        let watcher = {
            let engine = Arc::clone(&engine);
            let dialed_at = Arc::clone(&dialed_at);
            tokio::spawn(async move {
                let mut dialing_at: Option<Instant> = None;
                let mut incoming_at: Option<Instant> = None;
                let mut seen_ringing = false;
                let mut answered: HashSet<String> = HashSet::new();
                let mut active: HashSet<String> = HashSet::new();
                loop {
                    let event = match events.recv().await {
                        Ok(event) => event,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    };
                    let now = Instant::now();
                    let epoch = epoch_ms();
                    let since = |t: Option<Instant>| t.map(|t| now.duration_since(t).as_secs_f64() * 1000.0);
                    match event {
                        EngineEvent::RegistrationChanged { state: RegistrationState::Registered { .. }, .. } if !*registered_tx.borrow() => {
                            emit(json!({"type": "registered"}));
                            let _ = registered_tx.send(true);
                        }
                        EngineEvent::RegistrationChanged { state: RegistrationState::Failed { reason }, .. } => {
                            emit(json!({"type": "failed", "reason": reason}));
                        }
                        EngineEvent::CallChanged(view) => {
                            let dial = *dialed_at.lock().unwrap_or_else(|p| p.into_inner());
                            match &view.state {
                                CallState::Dialing if dialing_at.is_none() => {
                                    dialing_at = Some(now);
                                    emit(json!({"type": "dialing", "dialMs": since(dial), "epochMs": epoch}));
                                }
                                CallState::Ringing if !seen_ringing => {
                                    seen_ringing = true;
                                    emit(json!({"type": "ringing", "dialMs": since(dial), "inviteMs": since(dialing_at), "epochMs": epoch}));
                                }
                                CallState::Incoming if auto_answer && answered.insert(view.call.clone()) => {
                                    incoming_at = Some(now);
                                    emit(json!({"type": "incoming", "epochMs": epoch}));
                                    let answering = epoch_ms();
                                    if let Err(e) = engine.answer(&view.call).await {
                                        emit(json!({"type": "failed", "reason": e.message}));
                                    }
                                    let done = Instant::now();
                                    emit(json!({"type": "answered", "answerMs": done.duration_since(now).as_secs_f64() * 1000.0,
                                                "epochMs": answering}));
                                }
                                CallState::Active if active.insert(view.call.clone()) => {
                                    emit(json!({"type": "active", "dialMs": since(dial), "inviteMs": since(dialing_at),
                                                "incomingMs": since(incoming_at), "epochMs": epoch, "calls": active.len()}));
                                    let _ = active_tx.send(active.len());
                                }
                                CallState::Ended { reason, .. } => {
                                    active.remove(&view.call);
                                    emit(json!({"type": "ended", "reason": reason, "epochMs": epoch}));
                                }
                                _ => {}
                            }
                        }
                        _ => {}
                    }
                }
            })
        };
        let input = AccountInput { account: account(format!("{user}@{domain}"), server), password: Some(password), make_default: true };
        engine.save_account(input).await.map_err(|e| e.to_string())?;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(run_for);
        if let (Some(target), Some(go)) = (target, go_file) {
            let _ = tokio::time::timeout(Duration::from_secs(60), registered_rx.wait_for(|r| *r)).await;
            while !std::path::Path::new(&go).exists() {
                if tokio::time::Instant::now() >= deadline {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            for n in 1..=calls {
                *dialed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
                emit(json!({"type": "dialCommand", "epochMs": epoch_ms()}));
                if let Err(e) = engine.dial(&target, None).await {
                    emit(json!({"type": "failed", "reason": e.message}));
                    break;
                }
                if n < calls && tokio::time::timeout(Duration::from_secs(30), active_rx.wait_for(|a| *a >= n)).await.is_err() {
                    emit(json!({"type": "failed", "reason": format!("call {n} was not active within 30 s")}));
                    break;
                }
            }
        }
        tokio::time::sleep_until(deadline).await;
        engine.shutdown().await;
        watcher.abort();
        Ok(())
    })
}

/// When a call's first audio came, read from the engine's recording of what
/// it receives (`record_dir`): the engine has no event for it, and the
/// recording is written as frames are decoded.
///
/// The recorder writes through an 8 KiB buffer (hound's `BufWriter`), so a
/// block of the file appears when the frame holding the sample right after
/// it is decoded. The first non-silent sample's frame was decoded
/// (that frame − the flushing frame) × 20 ms before its block appeared;
/// frames arrive at the real-time rate, one per 20 ms packet. The folder is
/// polled every millisecond.
pub mod first_audio {
    use std::collections::HashMap;
    use std::path::Path;
    use std::time::Duration;

    const HEADER: u64 = 44;
    const BLOCK: u64 = 8192;
    const FRAME_SAMPLES: u64 = 960;
    const FRAME_MS: f64 = 20.0;
    /// Louder than any codec's idle noise, far below the test tone.
    const THRESHOLD: i16 = 300;

    /// Per recording: (size, epoch ms when the file first reached it).
    #[derive(Default)]
    struct Seen {
        growth: Vec<(u64, f64)>,
        done: bool,
    }

    /// Watch `dir` until the process ends; `report(file name, epoch ms)` once per recording.
    pub fn watch(dir: &Path, mut report: impl FnMut(&str, f64)) {
        let mut files: HashMap<String, Seen> = HashMap::new();
        loop {
            let now = super::epoch_ms();
            if let Ok(entries) = std::fs::read_dir(dir) {
                for entry in entries.flatten() {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    let Ok(meta) = entry.metadata() else { continue };
                    let seen = files.entry(name.clone()).or_default();
                    if seen.done || seen.growth.last().is_some_and(|(size, _)| *size == meta.len()) {
                        continue;
                    }
                    seen.growth.push((meta.len(), now));
                    if let Some(at) = std::fs::read(entry.path()).ok().and_then(|bytes| estimate(&bytes, &seen.growth)) {
                        seen.done = true;
                        report(&name, at);
                    }
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// The estimated epoch ms at which the first non-silent frame in
    /// `bytes` was decoded, given when the file reached each size.
    pub fn estimate(bytes: &[u8], growth: &[(u64, f64)]) -> Option<f64> {
        let data = bytes.get(HEADER as usize..)?;
        let first = data.chunks_exact(2).position(|s| i16::from_le_bytes([s[0], s[1]]).unsigned_abs() > THRESHOLD.unsigned_abs())? as u64;
        let block = (HEADER + 2 * first) / BLOCK;
        let block_end = (block + 1) * BLOCK;
        let appeared = growth.iter().find(|(size, _)| *size >= block_end).map(|(_, at)| *at)?;
        // The sample whose write flushed the block, and its frame.
        let flushing_sample = (block_end - HEADER) / 2;
        let frames_between = flushing_sample / FRAME_SAMPLES - first / FRAME_SAMPLES;
        Some(appeared - frames_between as f64 * FRAME_MS)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn recording(silent_samples: usize, loud_samples: usize) -> Vec<u8> {
            let mut b = vec![0u8; HEADER as usize];
            b.extend(std::iter::repeat([0u8, 0u8]).take(silent_samples).flatten());
            b.extend(std::iter::repeat(8000i16.to_le_bytes()).take(loud_samples).flatten());
            b
        }

        #[test]
        fn first_block_counts_back_from_the_flushing_frame() {
            // Loud from sample 0; the first block (4,074 samples) is flushed by frame 4.
            let bytes = recording(0, 4074);
            assert_eq!(estimate(&bytes, &[(8192, 1000.0)]), Some(1000.0 - 80.0));
            // Loud from frame 2 on: two frames before the flush.
            let bytes = recording(1920, 2154);
            assert_eq!(estimate(&bytes, &[(8192, 1000.0)]), Some(1000.0 - 40.0));
        }

        #[test]
        fn silence_only_or_a_block_not_yet_seen_gives_nothing() {
            assert_eq!(estimate(&recording(4074, 0), &[(8192, 1000.0)]), None);
            assert_eq!(estimate(&recording(5000, 3000), &[(8192, 1000.0)]), None);
            // Frame 5 (sample 4800) is in the second block, flushed by sample 8170 (frame 8).
            assert_eq!(estimate(&recording(4800, 4000), &[(8192, 1000.0), (16384, 1100.0)]), Some(1100.0 - 60.0));
        }
    }
}
