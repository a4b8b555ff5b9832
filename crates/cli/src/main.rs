//! `homeline-cli`: the engine without a window. Every engine event is printed
//! as one JSON line on stdout; errors go to stderr as a sentence.

use std::process::ExitCode;
use std::time::Duration;

use homeline_phone::{Account, AccountInput, CallState, Engine, EngineConfig, EngineEvent, IceServer, MediaOptions, TlsTrust};
use tokio::io::AsyncBufReadExt;
use tokio::sync::broadcast;

const USAGE: &str = "usage: homeline-cli <command>

commands:
  version            print the engine version
  info               print what the engine knows at start (JSON)
  clean <text>       show how a typed or pasted number is cleaned for dialing
  phone --address USER@DOMAIN --server wss://HOST[:PORT][/PATH] [options]
                     register, then take commands from stdin (one per line)
                     and print every event as a JSON line, until `quit`,
                     Ctrl-C or --for SECONDS; then hang up and unregister.
                     The password comes from HOMELINE_PASSWORD or the first
                     line of stdin — never from the command line, where other
                     users could see it.
      options: --auth-user NAME  --ca-file PEM  --fingerprint SHA256  --expires S
               --mic FILE.wav (played as the microphone)  --record-dir DIR
               (what each call receives, as DIR/<call>.wav)  --devices (use the
               system's microphone and speakers)  --auto-answer
               --loopback (offer 127.0.0.1 candidates: calls on one machine)
               --codecs opus,pcmu,pcma (the codecs offered and accepted, most
               preferred first; default: all three in that order)
               --stun stun:HOST:PORT  --turn turn:HOST:PORT --turn-user NAME
               (the TURN password from HOMELINE_TURN_PASSWORD)
               --for SECONDS   (logs: HOMELINE_LOG=debug, on stderr)
      stdin commands: dial TARGET | answer | reject | busy | hangup | hold |
               resume | mute | unmute | dtmf DIGITS | transfer TARGET (blind) | transfer-to
               OTHER_CALL (attended) | merge [CALL…] (a local conference of
               the calls given, or of every call) | split CALL | dnd on|off |
               calls | quit — each acts on the latest call unless a call id
               follows. --stats also prints each call's callStats line every second
  register ...       the same as `phone` (kept for scripts)
  network-check --server wss://… [--address USER@DOMAIN] [--ca-file PEM] [--stun …] [--turn … --turn-user …]
                     can the server be reached, which NAT, does TURN work (JSON)
  echo-test          hear yourself back a second later for 10 s (no server needed)";

// Two workers: a task that blocks for a moment (history, keychain, files) must not
// stall the calls' 20 ms media clocks — on one thread it did, and the jitter
// buffers stretched speech to make up for it (tests/tests/cli_quality.rs).
#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    // Logs go to stderr, only when asked (`HOMELINE_LOG=debug`): stdout is the JSON event stream.
    if let Ok(filter) = tracing_subscriber::EnvFilter::try_from_env("HOMELINE_LOG") {
        let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(false).try_init();
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let media = match media_options(&args) {
        Ok(media) => media,
        Err(message) => {
            eprintln!("homeline-cli: {message}");
            return ExitCode::FAILURE;
        }
    };
    let ice_servers = media.ice_servers.clone();
    let engine = Engine::open(EngineConfig { media, ..EngineConfig::ephemeral() });
    let mut events = engine.subscribe();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["version"] | ["--version"] => {
            print_line(&format!("homeline-cli {}", homeline_phone::VERSION));
            Ok(())
        }
        ["info"] => print_json(&engine.app_info()),
        ["clean", text @ ..] => {
            print_line(&engine.dialer_paste(&text.join(" ")).text);
            Ok(())
        }
        ["register" | "phone", rest @ ..] => phone(&engine, &mut events, rest).await,
        ["echo-test"] => echo_test(&engine, &mut events).await,
        ["network-check", rest @ ..] => network_check(&ice_servers, rest).await,
        ["help"] | ["--help"] | ["-h"] => {
            print_line(USAGE);
            Ok(())
        }
        _ => Err(format!("unknown command\n\n{USAGE}")),
    };
    print_pending(&mut events);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("homeline-cli: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Run the echo test to its end (about 11 s), printing its notices.
async fn echo_test(engine: &Engine, events: &mut broadcast::Receiver<EngineEvent>) -> Result<(), String> {
    engine.start_echo_test().await.map_err(|e| e.to_string())?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Ok(event)) = tokio::time::timeout_at(deadline, events.recv()).await {
        print_event(&event);
        if matches!(&event, EngineEvent::Notice { message } if message.contains("has ended") || message.contains("was stopped")) {
            return Ok(());
        }
    }
    engine.stop_echo_test();
    Ok(())
}

/// Media flags are read before the engine starts (they shape every call).
fn media_options(args: &[String]) -> Result<MediaOptions, String> {
    let mut media = MediaOptions::default();
    let mut turn_user = None;
    let mut ca_file = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--mic" => media.mic_wav = Some(it.next().ok_or("--mic needs a WAV file")?.into()),
            "--record-dir" => media.record_dir = Some(it.next().ok_or("--record-dir needs a folder")?.into()),
            "--loopback" => media.loopback_candidates = true,
            "--devices" => media.use_devices = true,
            "--codecs" => media.codecs = MediaOptions::parse_codecs(it.next().ok_or("--codecs needs a list such as opus,pcmu")?)?,
            "--stun" => media.ice_servers.push(IceServer {
                urls: vec![it.next().ok_or("--stun needs stun:HOST:PORT")?.clone()],
                ..IceServer::default()
            }),
            "--turn" => media.ice_servers.push(IceServer {
                urls: vec![it.next().ok_or("--turn needs turn:HOST:PORT")?.clone()],
                // A secret never goes on the command line, where other users could see it.
                credential: std::env::var("HOMELINE_TURN_PASSWORD").unwrap_or_default(),
                ..IceServer::default()
            }),
            "--turn-user" => turn_user = Some(it.next().ok_or("--turn-user needs a name")?.clone()),
            // The account's CA file also vouches for a `turns:` server.
            "--ca-file" => ca_file = it.next().map(std::path::PathBuf::from),
            _ => {}
        }
    }
    for server in media.ice_servers.iter_mut().filter(|s| s.urls.iter().any(|u| u.starts_with("turn"))) {
        if let Some(user) = &turn_user {
            server.username.clone_from(user);
        }
        server.ca_file.clone_from(&ca_file);
    }
    Ok(media)
}

fn blank_account() -> Account {
    Account {
        address: String::new(),
        auth_user: None,
        display_name: None,
        server: String::new(),
        outbound_proxy: None,
        expires: 600,
        tls: TlsTrust::default(),
    }
}

/// One of the account flags `phone` and `network-check` share.
fn account_option(account: &mut Account, flag: &str, value: String) -> Result<(), String> {
    match flag {
        "--address" => account.address = value,
        "--server" => account.server = value,
        "--auth-user" => account.auth_user = Some(value),
        "--outbound-proxy" => account.outbound_proxy = Some(value),
        "--ca-file" => account.tls.ca_file = Some(value.into()),
        "--fingerprint" => account.tls.fingerprint_sha256 = Some(value),
        "--expires" => account.expires = value.parse().map_err(|_| "--expires takes seconds".to_owned())?,
        other => return Err(format!("unknown option {other}")),
    }
    Ok(())
}

/// `network-check`: can the server be reached, which NAT, does TURN work (one JSON line).
async fn network_check(ice_servers: &[IceServer], args: &[&str]) -> Result<(), String> {
    let mut account = blank_account();
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().map(|v| v.to_string()).ok_or_else(|| format!("{flag} needs a value"));
        match *flag {
            "--address" | "--server" | "--auth-user" | "--outbound-proxy" | "--ca-file" | "--fingerprint" | "--expires" => {
                account_option(&mut account, flag, value()?)?
            }
            "--loopback" => {}
            "--stun" | "--turn" | "--turn-user" => {
                value()?;
            }
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    if account.server.is_empty() {
        return Err(format!("network-check needs --server (and --address)\n\n{USAGE}"));
    }
    if account.address.is_empty() {
        account.address = "check@invalid.example".into();
    }
    print_json(&homeline_phone::network_check::check(&account, ice_servers).await)
}

async fn phone(engine: &Engine, events: &mut broadcast::Receiver<EngineEvent>, args: &[&str]) -> Result<(), String> {
    let mut account = blank_account();
    let mut run_for = None;
    let mut auto_answer = false;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().map(|v| v.to_string()).ok_or_else(|| format!("{flag} needs a value"));
        match *flag {
            "--stats" => SHOW_STATS.store(true, std::sync::atomic::Ordering::Relaxed),
            "--address" | "--server" | "--auth-user" | "--outbound-proxy" | "--ca-file" | "--fingerprint" | "--expires" => {
                account_option(&mut account, flag, value()?)?
            }
            "--for" => run_for = Some(Duration::from_secs(value()?.parse().map_err(|_| "--for takes seconds".to_owned())?)),
            "--auto-answer" => auto_answer = true,
            "--loopback" | "--devices" => {}
            "--codecs" => {
                value()?;
            }
            "--mic" | "--record-dir" | "--stun" | "--turn" | "--turn-user" => {
                value()?;
            }
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    if account.address.is_empty() || account.server.is_empty() {
        return Err(format!("register needs --address and --server\n\n{USAGE}"));
    }
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    let password = match std::env::var("HOMELINE_PASSWORD") {
        Ok(p) => p,
        Err(_) => stdin
            .next_line()
            .await
            .map_err(|e| format!("could not read the password from stdin: {e}"))?
            .map(|l| l.trim_end_matches('\r').to_owned())
            .filter(|p| !p.is_empty())
            .ok_or("no password: set HOMELINE_PASSWORD or pass it on stdin")?,
    };
    engine
        .save_account(AccountInput { account, password: Some(password), make_default: true })
        .await
        .map_err(|e| e.to_string())?;

    let stop = async {
        match run_for {
            Some(d) => tokio::time::sleep(d).await,
            None => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    };
    tokio::pin!(stop);
    let mut latest_call: Option<String> = None;
    let mut stdin_open = true;
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = events.recv() => match event {
                Ok(event) => {
                    print_event(&event);
                    if let EngineEvent::CallChanged(view) = &event {
                        if !matches!(view.state, CallState::Ended { .. }) {
                            latest_call = Some(view.call.clone());
                        }
                        if auto_answer && view.state == CallState::Incoming {
                            if let Err(e) = engine.answer(&view.call).await {
                                report("answer", &e.code, &e.message);
                            }
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
            line = stdin.next_line(), if stdin_open => match line {
                Ok(Some(line)) => {
                    if line.trim() == "quit" {
                        break;
                    }
                    run_command(engine, line.trim(), &mut latest_call).await;
                }
                // End of input: keep running until --for or Ctrl-C.
                _ => stdin_open = false,
            },
        }
    }
    engine.shutdown().await;
    // The last state (unregistered) arrives just after the stop.
    while let Ok(Ok(event)) = tokio::time::timeout(Duration::from_millis(200), events.recv()).await {
        print_event(&event);
    }
    Ok(())
}

/// One stdin command. Failures are printed as `commandFailed` JSON lines, in
/// order with the events.
async fn run_command(engine: &Engine, line: &str, latest: &mut Option<String>) {
    let words: Vec<&str> = line.split_whitespace().collect();
    let Some((&command, rest)) = words.split_first() else { return };
    // The call a command acts on: the id given last on the line, or the latest call.
    let call_or_latest = |explicit: Option<&&str>| explicit.map(|s| (*s).to_owned()).or_else(|| latest.clone());
    let result = match (command, rest) {
        ("dial", [target, ..]) => engine.dial(target, None).await.map(|call| {
            *latest = Some(call);
        }),
        ("calls", _) => {
            let _ = print_json(&engine.calls().await);
            Ok(())
        }
        ("dnd", [on_off]) => engine.set_do_not_disturb(*on_off == "on").await,
        ("merge", calls) => {
            let calls: Vec<String> = match calls {
                // Every call, the first connected first (its sink becomes the conference's speaker).
                [] => {
                    let mut calls = engine.calls().await;
                    calls.sort_by(|a, b| (a.connected_at, &a.call).cmp(&(b.connected_at, &b.call)));
                    calls.into_iter().map(|c| c.call).collect()
                }
                given => given.iter().map(|c| (*c).to_owned()).collect(),
            };
            engine.merge(&calls).await.map(drop)
        }
        ("split", [call]) => engine.split(call).await,
        ("dtmf", [digits, call @ ..]) => match call_or_latest(call.first()) {
            Some(call) => engine.send_dtmf(&call, digits).await,
            None => Err(no_call()),
        },
        // Attended transfer: connect the other sides of two of our calls.
        ("transfer-to", [other, call @ ..]) => match call_or_latest(call.first()) {
            Some(call) => engine.transfer_to_call(&call, other).await,
            None => Err(no_call()),
        },
        ("transfer", [target, call @ ..]) => match call_or_latest(call.first()) {
            Some(call) => engine.transfer(&call, target).await,
            None => Err(no_call()),
        },
        ("answer" | "reject" | "busy" | "hangup" | "hold" | "resume" | "mute" | "unmute", call) => match call_or_latest(call.first()) {
            Some(call) => match command {
                "answer" => engine.answer(&call).await,
                "mute" => engine.mute(&call, true).await,
                "unmute" => engine.mute(&call, false).await,
                "reject" => engine.reject(&call, false).await,
                "busy" => engine.reject(&call, true).await,
                "hangup" => engine.hangup(&call).await,
                "hold" => engine.hold(&call, true).await,
                _ => engine.hold(&call, false).await,
            },
            None => Err(no_call()),
        },
        _ => {
            report(command, "unknown_command", "Unknown command; see `homeline-cli help`.");
            return;
        }
    };
    if let Err(e) = result {
        report(command, &e.code, &e.message);
    }
}

fn no_call() -> homeline_phone::EngineError {
    homeline_phone::EngineError::new(homeline_phone::ErrorCode::UnknownCall, "There is no call to act on.")
}

fn report(command: &str, code: &(impl serde::Serialize + ?Sized), message: &str) {
    eprintln!("homeline-cli: {command}: {message}");
    let _ = print_json(&serde_json::json!({"type": "commandFailed", "command": command, "code": code, "message": message}));
}

fn print_pending(events: &mut broadcast::Receiver<EngineEvent>) {
    while let Ok(event) = events.try_recv() {
        print_event(&event);
    }
}

/// `--stats`: print the once-a-second `callStats` lines too (off: they would flood scripts).
static SHOW_STATS: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

fn print_event(event: &EngineEvent) {
    if matches!(event, EngineEvent::CallStats(_)) && !SHOW_STATS.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    if !matches!(event, EngineEvent::DialerChanged(_)) {
        let _ = print_json(event);
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    serde_json::to_string(value).map(|line| print_line(&line)).map_err(|e| e.to_string())
}

/// One line on stdout. A reader that went away (`| head -1`, a closed pipe) is not a crash:
/// `println!` would panic on the broken pipe; the line is dropped instead.
fn print_line(line: &str) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{line}").and_then(|()| out.flush());
}
