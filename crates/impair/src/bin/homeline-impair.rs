//! `homeline-impair --listen 127.0.0.1:0 --target 127.0.0.1:5004 --loss 5 --jitter-ms 40 --seed 7`
//!
//! Prints `listening on ADDR`, relays until stdin closes (or a `quit` line), then prints
//! the counters. Every option applies to both directions.

use homeline_impair::{GilbertElliott, ImpairError, Impairment, Relay, RelayConfig};
use std::io::BufRead;
use std::net::SocketAddr;
use std::time::Duration;

const USAGE: &str = "usage: homeline-impair --target ADDR [--listen ADDR] [--loss PERCENT] \
[--burst PERCENT --burst-len PACKETS] [--delay-ms MS] [--jitter-ms MS] [--reorder PERCENT] \
[--reorder-gap-ms MS] [--duplicate PERCENT] [--seed N]";

fn parse(args: &[String]) -> Result<RelayConfig, ImpairError> {
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut target: Option<SocketAddr> = None;
    let mut imp = Impairment::default();
    let (mut burst, mut burst_len) = (0.0, 3.0);
    let mut seed = 1u64;
    let bad =
        |what: &str, v: &str| ImpairError::Usage(format!("{what}: cannot read {v:?}\n{USAGE}"));
    let mut it = args.iter();
    while let Some(flag) = it.next() {
        let v = it
            .next()
            .ok_or_else(|| ImpairError::Usage(format!("{flag} needs a value\n{USAGE}")))?;
        let num = || v.parse::<f64>().map_err(|_| bad(flag, v));
        let ms = || num().map(|n| Duration::from_secs_f64(n.max(0.0) / 1000.0));
        match flag.as_str() {
            "--listen" => listen = v.parse().map_err(|_| bad(flag, v))?,
            "--target" => target = Some(v.parse().map_err(|_| bad(flag, v))?),
            "--loss" => imp.loss = num()? / 100.0,
            "--burst" => burst = num()? / 100.0,
            "--burst-len" => burst_len = num()?,
            "--delay-ms" => imp.delay = ms()?,
            "--jitter-ms" => imp.jitter = ms()?,
            "--reorder" => imp.reorder = num()? / 100.0,
            "--reorder-gap-ms" => imp.reorder_gap = ms()?,
            "--duplicate" => imp.duplicate = num()? / 100.0,
            "--seed" => seed = v.parse().map_err(|_| bad(flag, v))?,
            _ => {
                return Err(ImpairError::Usage(format!(
                    "unknown option {flag}\n{USAGE}"
                )))
            }
        }
    }
    if burst > 0.0 {
        imp.burst = Some(GilbertElliott::with_mean(burst, burst_len));
    }
    let target = target.ok_or_else(|| ImpairError::Usage(USAGE.to_owned()))?;
    Ok(RelayConfig {
        listen,
        target,
        to_target: imp.clone(),
        to_client: imp,
        seed,
    })
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let config = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return std::process::ExitCode::from(2);
        }
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let relay = match Relay::start(config).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("{e}");
                return std::process::ExitCode::FAILURE;
            }
        };
        println!("listening on {}", relay.local_addr());
        // Wait for stdin to close or say quit, on a plain thread (stdin blocks).
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        std::thread::spawn(move || {
            for line in std::io::stdin().lock().lines() {
                match line {
                    Ok(l) if l.trim() == "quit" => break,
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
            let _ = tx.send(());
        });
        let _ = rx.await;
        let c = relay.stop().await;
        println!("{c:?}");
        std::process::ExitCode::SUCCESS
    })
}
