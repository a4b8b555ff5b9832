//! `homeline-cli`: the engine without a window. Every engine event is printed
//! as one JSON line on stdout; errors go to stderr as a sentence.

use std::process::ExitCode;

use homeline_phone::{Engine, EngineEvent};

const USAGE: &str = "usage: homeline-cli <command>

commands:
  version            print the engine version
  info               print what the engine knows at start (JSON)
  clean <text>       show how a typed or pasted number is cleaned for dialing
  dial <target>      place a call (needs an account; prints events as JSON lines)
  echo-test          run the echo test call";

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let engine = Engine::new();
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
        ["dial", target] => engine.dial(target).await.map_err(|e| e.to_string()),
        ["echo-test"] => engine.start_echo_test().await.map(|m| println!("{m}")).map_err(|e| e.to_string()),
        ["help"] | ["--help"] | ["-h"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(format!("unknown command\n\n{USAGE}")),
    };
    while let Ok(event) = events.try_recv() {
        if !matches!(event, EngineEvent::DialerChanged(_)) {
            let _ = print_json(&event);
        }
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("homeline-cli: {message}");
            ExitCode::FAILURE
        }
    }
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    serde_json::to_string(value).map(|line| println!("{line}")).map_err(|e| e.to_string())
}
