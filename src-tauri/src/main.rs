//! `homeline-window`: the dialer window, started by `homeline` (lib.rs).

// No console window on Windows release builds.
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() {
    std::process::exit(homeline_app::run());
}
