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
/// `EngineConfig::ephemeral()` with loopback candidates, silence as the
/// microphone, current-thread runtime) with one account. With
/// `--auto-answer` it answers every incoming call; with `--dial TARGET` it
/// dials once the file `--go-file` exists, and stamps, inside the engine:
/// dial command → Dialing (INVITE out), → Ringing (180), → Active (200).
/// Prints JSON lines.
pub fn call(args: &[String]) -> ExitCode {
    match call_inner(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("homeline-bench call: {e}");
            ExitCode::FAILURE
        }
    }
}

fn call_inner(args: &[String]) -> Result<(), String> {
    use homeline_phone::{CallState, MediaOptions};
    use std::sync::{Arc, Mutex};
    let server = flag(args, "--server").ok_or("--server is needed")?;
    let domain = flag(args, "--domain").ok_or("--domain is needed")?;
    let user = flag(args, "--user").ok_or("--user is needed")?;
    let target = flag(args, "--dial");
    let go_file = flag(args, "--go-file");
    let auto_answer = args.iter().any(|a| a == "--auto-answer");
    let run_for = flag(args, "--for").and_then(|s| s.parse().ok()).unwrap_or(600u64);
    let password = password()?;
    runtime()?.block_on(async move {
        let media = MediaOptions { loopback_candidates: true, ..MediaOptions::default() };
        let engine = Arc::new(Engine::open(EngineConfig { media, ..EngineConfig::ephemeral() }));
        let mut events = engine.subscribe();
        let dialed_at: Arc<Mutex<Option<Instant>>> = Arc::default();
        let (registered_tx, mut registered_rx) = tokio::sync::watch::channel(false);
        let watcher = {
            let engine = Arc::clone(&engine);
            let dialed_at = Arc::clone(&dialed_at);
            tokio::spawn(async move {
                let mut dialing_at: Option<Instant> = None;
                let mut incoming_at: Option<Instant> = None;
                let mut seen_ringing = false;
                loop {
                    let event = match events.recv().await {
                        Ok(event) => event,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                    };
                    let now = Instant::now();
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
                                    emit(json!({"type": "dialing", "dialMs": since(dial)}));
                                }
                                CallState::Ringing if !seen_ringing => {
                                    seen_ringing = true;
                                    emit(json!({"type": "ringing", "dialMs": since(dial), "inviteMs": since(dialing_at)}));
                                }
                                CallState::Incoming if auto_answer && incoming_at.is_none() => {
                                    incoming_at = Some(now);
                                    emit(json!({"type": "incoming"}));
                                    if let Err(e) = engine.answer(&view.call).await {
                                        emit(json!({"type": "failed", "reason": e.message}));
                                    }
                                    let done = Instant::now();
                                    emit(json!({"type": "answered", "answerMs": done.duration_since(now).as_secs_f64() * 1000.0}));
                                }
                                CallState::Active => {
                                    emit(json!({"type": "active", "dialMs": since(dial), "inviteMs": since(dialing_at),
                                                "incomingMs": since(incoming_at)}));
                                }
                                CallState::Ended { reason, .. } => emit(json!({"type": "ended", "reason": reason})),
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
            *dialed_at.lock().unwrap_or_else(|p| p.into_inner()) = Some(Instant::now());
            if let Err(e) = engine.dial(&target, None).await {
                emit(json!({"type": "failed", "reason": e.message}));
            }
        }
        tokio::time::sleep_until(deadline).await;
        engine.shutdown().await;
        watcher.abort();
        Ok(())
    })
}
