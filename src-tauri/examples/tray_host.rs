//! Spike for issue 6's "≤ 40 MB in the tray": the engine and a tray icon in a
//! process that never links WebKit. Not shipped. It starts the accounts of the
//! user's settings (as the app does), and 3 s after the first one registers it
//! prints its own PSS. See src-tauri/README.md for the plan it informs.

#![allow(clippy::expect_used)] // a spike: a failure to start is a crash with its reason

use std::sync::Arc;

use homeline_phone::{Engine, EngineConfig};
use tray_icon::menu::{Menu, MenuItem};
use tray_icon::{Icon, TrayIconBuilder};

fn main() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("HOMELINE_LOG").unwrap_or_else(|_| "info".into()))
        .try_init();
    if gtk::init().is_err() {
        eprintln!("no display");
        std::process::exit(2);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let engine = Arc::new(runtime.block_on(async { Engine::open(EngineConfig::for_user()) }));
    let started = engine.clone();
    let mut events = engine.subscribe();
    runtime.spawn(async move { started.start().await });
    runtime.spawn(async move {
        while let Ok(event) = events.recv().await {
            if let homeline_phone::EngineEvent::RegistrationChanged { state: homeline_phone::RegistrationState::Registered { .. }, .. } = event {
                tokio::time::sleep(std::time::Duration::from_secs(3)).await;
                let pss_kib: u64 = std::fs::read_to_string("/proc/self/smaps_rollup")
                    .unwrap_or_default()
                    .lines()
                    .filter_map(|l| l.strip_prefix("Pss:"))
                    .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .sum();
                println!("tray_host: registered; PSS {:.1} MiB", pss_kib as f64 / 1024.0);
                break;
            }
        }
    });

    let menu = Menu::new();
    let _ = menu.append(&MenuItem::new("Open Homeline", true, None));
    let _ = menu.append(&MenuItem::new("Quit Homeline", true, None));
    let rgba: Vec<u8> = std::iter::repeat_n([40u8, 90, 200, 255], 32 * 32).flatten().collect();
    let _tray = TrayIconBuilder::new()
        .with_tooltip("Homeline")
        .with_menu(Box::new(menu))
        .with_icon(Icon::from_rgba(rgba, 32, 32).expect("icon"))
        .build()
        .expect("tray icon");
    gtk::main();
}
