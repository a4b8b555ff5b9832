//! The desktop app in the tray (issue 6): started minimised, only the app's
//! main process runs (engine, tray; it never maps WebKit, which alone costs
//! 200+ MB), so its memory there is the figure a user's machine pays all day;
//! a second launch (what the tray's "Open Homeline" and a clicked link do)
//! starts the window's process again, timed from the launch to the window
//! shown.
//!
//! The browser softphone cannot go to a tray: its idle memory, measured in the
//! same run, is the anchor for the memory figure.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_tests::process::Service;

use crate::report::{Report, HOMELINE_APP, JSSIP};
use crate::systems::{self, BenchResult, Desktop, LogWatch};
use crate::{procfs, Context, SETTLE};

const PSS_TRAY: &str = "memory (PSS) in the tray, registered";
const PSS_REOPENED: &str = "memory (PSS) after reopening the window";
const REOPEN: &str = "second launch → window shown again";

pub fn scenario_tray(ctx: &Context, report: &mut Report) {
    report.describe(
        "tray",
        "The desktop app in the tray: memory, and reopening its window",
        "The app is launched with `--minimised` (the \"start minimised\" setting) under Xvfb with its account configured, \
         and waits until its SIP trace shows the 200 OK to REGISTER. `homeline` (engine, tray, notifications) never links WebKit, and no \
         window process exists: the dialer window is `homeline-window`, a process the app starts on demand and that ends \
         when the window is closed. After \
         the settle time its PSS is summed over its process tree (issue 6 goal: ≤ 40 MB). Then the app is launched a \
         second time, as the tray's \"Open Homeline\" and a clicked `tel:` link do: the second process hands over to the \
         running app over its local socket and exits, and the app starts the window's process (Tauri, WebKitGTK and its \
         web and network processes), which asks the app for the UI's state. Timed: that launch → the window is \
         viewable (xwininfo, polled every 5 ms; goal ≤ 300 ms), and the PSS with the window open. Anchor: JsSIP in \
         headless Chromium idle-registered in the same run (a browser tab has no tray).",
    );
    let (Some(app), Some(desktop)) = (ctx.app, ctx.desktop) else {
        for metric in [PSS_TRAY, REOPEN, PSS_REOPENED] {
            let unit = if metric == REOPEN { "ms" } else { "MiB" };
            report.missing("tray", metric, unit, HOMELINE_APP, "the desktop app is not part of this run (`--app`, `make app`)");
        }
        return;
    };
    for run in 0..ctx.o.runs {
        match tray_run(app, desktop) {
            Ok(figures) => {
                if run == 0 {
                    report.note(
                        "tray",
                        &format!(
                            "PSS by process in the tray: {}; after reopening: {}.{}",
                            figures.tray_processes,
                            figures.reopened_processes,
                            figures.reopened_footprint_mib.map_or(String::new(), |m| format!(
                                " After reopening, each physical page counted once, whether or not other programs map it too \
                                 (PSS hands a share of a library page to every process mapping it, so a WebKit test running \
                                 beside the bench lowers the app's PSS): {m:.1} MiB."
                            ))
                        ),
                    );
                }
                report.add("tray", PSS_TRAY, "MiB", HOMELINE_APP, figures.tray_pss_mib);
                report.add("tray", REOPEN, "ms", HOMELINE_APP, figures.reopen_ms);
                report.add("tray", PSS_REOPENED, "MiB", HOMELINE_APP, figures.reopened_pss_mib);
            }
            Err(e) => {
                eprintln!("homeline-bench: tray run {}: {e}", run + 1);
                report.note("tray", &format!("Run {} failed: {}", run + 1, crate::first_line(&e)));
            }
        }
    }
    if ctx.has(JSSIP) {
        for run in 0..ctx.o.runs {
            match systems::start_jssip(ctx.server, &systems::users("j", 1)) {
                Ok(browser) => {
                    std::thread::sleep(SETTLE);
                    report.add("tray", PSS_TRAY, "MiB", JSSIP, procfs::pss_mib(&browser.pids()));
                    browser.stop();
                }
                Err(e) => report.note("tray", &format!("JsSIP run {} failed: {}", run + 1, crate::first_line(&e))),
            }
        }
    }
}

struct TrayFigures {
    /// What ran in the tray, and after reopening ("name ×count").
    tray_processes: String,
    reopened_processes: String,
    tray_pss_mib: f64,
    reopen_ms: f64,
    reopened_pss_mib: f64,
    /// The reopened tree's physical pages, each counted once (None without
    /// the privilege to read page frame numbers).
    reopened_footprint_mib: Option<f64>,
}

fn tray_run(app: &Path, desktop: &Desktop) -> BenchResult<TrayFigures> {
    let xwininfo = homeline_tests::require_program("xwininfo", "x11-utils").map_err(|e| e.to_string())?;
    let display = desktop.xvfb.display().to_owned();
    let dir = tempfile::Builder::new().prefix("homeline-bench-tray-").tempdir().map_err(|e| e.to_string())?;
    let log = dir.path().join("app.log");
    let mut cmd = Command::new(app);
    cmd.arg("--minimised")
        .envs(desktop.env())
        .env("HOMELINE_LOG", "warn,homeline_sip::trace=debug")
        .env_remove("WAYLAND_DISPLAY");
    let mut service = Service::spawn("homeline app (minimised)", cmd, &log).map_err(|e| e.to_string())?;
    let result = measure(&mut service, &log, app, desktop, &xwininfo, &display);
    service.stop();
    result
}

fn measure(service: &mut Service, log: &Path, app: &Path, desktop: &Desktop, xwininfo: &Path, display: &str) -> BenchResult<TrayFigures> {
    let mut lines = LogWatch::new(log);
    let mut in_ok = false;
    let mut registered = false;
    systems::watch(service, &mut lines, Duration::from_secs(60), |line, _| {
        match line.map(str::trim) {
            Some(l) if l.starts_with("SIP/2.0 ") => in_ok = l.starts_with("SIP/2.0 200"),
            Some(l) if in_ok && l.to_ascii_lowercase().starts_with("cseq:") => {
                registered |= l.contains("REGISTER");
                in_ok = false;
            }
            _ => {}
        }
        registered
    })?;
    std::thread::sleep(SETTLE);
    if systems::window_viewable(xwininfo, display) {
        return Err("started with --minimised, the app showed its window anyway".into());
    }
    let root = service.pid().ok_or("the app has no process")?;
    let tray_tree = procfs::tree(root);
    let (tray_processes, tray_pss_mib) = (each_pss(&tray_tree), procfs::pss_mib(&tray_tree));

    // The second launch: hands over and exits; the running app opens its window.
    let started = Instant::now();
    let mut second = Command::new(app)
        .envs(desktop.env())
        .env_remove("WAYLAND_DISPLAY")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("second launch: {e}"))?;
    let mut shown = None;
    while started.elapsed() < Duration::from_secs(20) {
        if systems::window_viewable(xwininfo, display) {
            shown = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let handed_over = homeline_tests::wait_until(Duration::from_secs(10), || matches!(second.try_wait(), Ok(Some(_))));
    if !handed_over {
        let _ = second.kill();
        return Err("the second launch kept running instead of handing over".into());
    }
    let reopen = shown.ok_or("the window did not appear within 20 s of the second launch")?;
    std::thread::sleep(SETTLE);
    let reopened_tree = procfs::tree(root);
    Ok(TrayFigures {
        tray_processes,
        reopened_processes: each_pss(&reopened_tree),
        tray_pss_mib,
        reopen_ms: reopen.as_secs_f64() * 1000.0,
        reopened_pss_mib: procfs::pss_mib(&reopened_tree),
        reopened_footprint_mib: footprint_mib(&reopened_tree),
    })
}

/// "name 12.3 MiB (heap and stacks 4.0, mapped files 8.3)" for each process: where the memory is.
fn each_pss(pids: &[u32]) -> String {
    pids.iter()
        .map(|p| {
            let rollup = std::fs::read_to_string(format!("/proc/{p}/smaps_rollup")).unwrap_or_default();
            let field = |name: &str| -> f64 {
                rollup
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|rest| rest.split_whitespace().next())
                    .and_then(|kib| kib.parse::<f64>().ok())
                    .unwrap_or(0.0)
                    / 1024.0
            };
            format!(
                "{} {:.1} MiB (heap and stacks {:.1}, mapped files {:.1})",
                procfs::name(*p),
                procfs::pss_kib(*p) as f64 / 1024.0,
                field("Pss_Anon:"),
                field("Pss_File:")
            )
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// The physical pages mapped by `pids`, each counted once (/proc/PID/pagemap:
/// page frame numbers, readable by root only; None otherwise). Unlike PSS it
/// does not move with other programs that map the same libraries.
fn footprint_mib(pids: &[u32]) -> Option<f64> {
    use std::io::{Read, Seek, SeekFrom};
    const PAGE: u64 = 4096;
    const CHUNK: u64 = 65536;
    let mut frames = std::collections::HashSet::new();
    let mut hidden = false;
    for pid in pids {
        let (Ok(smaps), Ok(mut pagemap)) =
            (std::fs::read_to_string(format!("/proc/{pid}/smaps")), std::fs::File::open(format!("/proc/{pid}/pagemap")))
        else {
            continue;
        };
        let mut range: Option<(u64, u64)> = None;
        for line in smaps.lines() {
            let Some(first) = line.split_whitespace().next() else { continue };
            if first == "Rss:" {
                let resident = line.split_whitespace().nth(1).is_some_and(|kib| kib != "0");
                let Some((start, end)) = range.take().filter(|_| resident) else { continue };
                let mut page = start / PAGE;
                while page < end / PAGE {
                    let n = CHUNK.min(end / PAGE - page);
                    let mut buf = vec![0u8; (n * 8) as usize];
                    if pagemap.seek(SeekFrom::Start(page * 8)).is_err() || pagemap.read_exact(&mut buf).is_err() {
                        break;
                    }
                    for entry in buf.chunks_exact(8) {
                        let v = u64::from_le_bytes(entry.try_into().unwrap_or_default());
                        if v >> 63 == 1 {
                            match v & ((1 << 55) - 1) {
                                0 => hidden = true,
                                frame => {
                                    frames.insert(frame);
                                }
                            }
                        }
                    }
                    page += n;
                }
            } else if !first.ends_with(':') {
                range = first.split_once('-').and_then(|(a, b)| Some((u64::from_str_radix(a, 16).ok()?, u64::from_str_radix(b, 16).ok()?)));
            }
        }
    }
    (!frames.is_empty() && !hidden).then(|| frames.len() as f64 * PAGE as f64 / (1024.0 * 1024.0))
}
