//! `homeline-cli`: the engine without a window. Every engine event is printed
//! as one JSON line on stdout; errors go to stderr as a sentence.

use std::process::ExitCode;
use std::time::Duration;

use homeline_phone::{Account, AccountInput, Engine, EngineConfig, EngineEvent, TlsTrust};
use tokio::sync::broadcast;

const USAGE: &str = "usage: homeline-cli <command>

commands:
  version            print the engine version
  info               print what the engine knows at start (JSON)
  clean <text>       show how a typed or pasted number is cleaned for dialing
  register --address USER@DOMAIN --server wss://HOST[:PORT][/PATH]
           [--auth-user NAME] [--ca-file PEM] [--fingerprint SHA256] [--expires S] [--for SECONDS]
                     register and print state changes until Ctrl-C (or SECONDS
                     pass), then unregister. The password is read from the
                     HOMELINE_PASSWORD variable or the first line of stdin —
                     never from the command line, where other users could see it.
  dial <target>      place a call (needs an account)
  echo-test          run the echo test call";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = Engine::open(EngineConfig::ephemeral());
    let mut events = engine.subscribe();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["version"] | ["--version"] => {
            println!("homeline-cli {}", homeline_phone::VERSION);
            Ok(())
        }
        ["info"] => print_json(&engine.app_info()),
        ["clean", text @ ..] => {
            println!("{}", engine.dialer_paste(&text.join(" ")).text);
            Ok(())
        }
        ["register", rest @ ..] => register(&engine, &mut events, rest).await,
        ["dial", target] => engine.dial(target).await.map_err(|e| e.to_string()),
        ["echo-test"] => engine.start_echo_test().await.map(|m| println!("{m}")).map_err(|e| e.to_string()),
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
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

async fn register(engine: &Engine, events: &mut broadcast::Receiver<EngineEvent>, args: &[&str]) -> Result<(), String> {
    let mut account = Account {
        address: String::new(),
        auth_user: None,
        display_name: None,
        server: String::new(),
        outbound_proxy: None,
        expires: 600,
        tls: TlsTrust::default(),
    };
    let mut run_for = None;
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let mut value = || it.next().map(|v| v.to_string()).ok_or_else(|| format!("{flag} needs a value"));
        match *flag {
            "--address" => account.address = value()?,
            "--server" => account.server = value()?,
            "--auth-user" => account.auth_user = Some(value()?),
            "--outbound-proxy" => account.outbound_proxy = Some(value()?),
            "--ca-file" => account.tls.ca_file = Some(value()?.into()),
            "--fingerprint" => account.tls.fingerprint_sha256 = Some(value()?),
            "--expires" => account.expires = value()?.parse().map_err(|_| "--expires takes seconds".to_owned())?,
            "--for" => run_for = Some(Duration::from_secs(value()?.parse().map_err(|_| "--for takes seconds".to_owned())?)),
            other => return Err(format!("unknown option {other}\n\n{USAGE}")),
        }
    }
    if account.address.is_empty() || account.server.is_empty() {
        return Err(format!("register needs --address and --server\n\n{USAGE}"));
    }
    let password = read_password()?;
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
    loop {
        tokio::select! {
            () = &mut stop => break,
            event = events.recv() => match event {
                Ok(event) => print_event(&event),
                Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => break,
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

fn read_password() -> Result<String, String> {
    if let Ok(p) = std::env::var("HOMELINE_PASSWORD") {
        return Ok(p);
    }
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).map_err(|e| format!("could not read the password from stdin: {e}"))?;
    let password = line.trim_end_matches(['\r', '\n']).to_owned();
    if password.is_empty() {
        return Err("no password: set HOMELINE_PASSWORD or pass it on stdin".into());
    }
    Ok(password)
}

fn print_pending(events: &mut broadcast::Receiver<EngineEvent>) {
    while let Ok(event) = events.try_recv() {
        print_event(&event);
    }
}

fn print_event(event: &EngineEvent) {
    if !matches!(event, EngineEvent::DialerChanged(_)) {
        let _ = print_json(event);
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    serde_json::to_string(value).map(|line| println!("{line}")).map_err(|e| e.to_string())
}
