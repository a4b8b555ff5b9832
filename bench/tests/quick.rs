//! The benchmark harness must not rot: `homeline-bench --quick --only startup`
//! starts its own services, launches every client once, and writes both
//! report files with a number for each system. Figures are not judged here
//! (no goal values in CI), only that they exist.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

fn target_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_homeline-bench")).parent().expect("target dir").to_path_buf()
}

#[test]
fn quick_startup_run_reports_a_number_for_every_system() {
    let cli = target_dir().join("homeline-cli");
    assert!(cli.is_file(), "{} is missing: build it with `cargo build -p homeline-cli` (make test does)", cli.display());
    let app = target_dir().join("homeline");
    let out = tempfile::tempdir().expect("temp dir");
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_homeline-bench"));
    cmd.args(["--quick", "--only", "startup", "--cli"]).arg(&cli).arg("--out").arg(out.path());
    if !app.is_file() {
        cmd.args(["--app", "none"]);
    } else {
        cmd.arg("--app").arg(&app);
    }
    let result = cmd.output().expect("run homeline-bench");
    let stderr = String::from_utf8_lossy(&result.stderr);
    assert!(result.status.success(), "homeline-bench failed:\n{stderr}");

    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.path().join("benchmarks.json")).expect("benchmarks.json")).expect("valid JSON");
    let startup = json["metrics"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["scenario"] == "startup" && m["metric"] == "launch → registered"))
        .unwrap_or_else(|| panic!("no startup figure in {json}\n{stderr}"));
    let mut expected = vec!["homeline", "baresip", "linphonec", "jssip-chromium"];
    if app.is_file() {
        expected.push("homeline-app");
    }
    for system in expected {
        let s = &startup["systems"][system];
        let median = s["median"].as_f64().unwrap_or_else(|| panic!("no figure for {system}: {startup}\n{stderr}"));
        assert!(median > 0.0, "{system}: {s}");
        assert_eq!(s["runs"].as_array().map(Vec::len), Some(1), "--quick runs once: {s}");
    }
    let md = std::fs::read_to_string(out.path().join("benchmarks.md")).expect("benchmarks.md");
    assert!(md.contains("launch → registered") && md.contains("Machine"), "{md}");
}

/// `homeline-bench --quick --only SCENARIOS --systems SYSTEMS` without the
/// app: its JSON report and its stderr (for failure messages).
fn quick_run(scenarios: &str, systems: &str) -> (serde_json::Value, String) {
    let out = tempfile::tempdir().expect("temp dir");
    quick_run_in(out.path(), scenarios, systems, &[])
}

/// The same, writing into `out`, with `extra` arguments.
fn quick_run_in(out: &std::path::Path, scenarios: &str, systems: &str, extra: &[&str]) -> (serde_json::Value, String) {
    let cli = target_dir().join("homeline-cli");
    assert!(cli.is_file(), "{} is missing: build it with `cargo build -p homeline-cli` (make test does)", cli.display());
    let result = Command::new(env!("CARGO_BIN_EXE_homeline-bench"))
        .args(["--quick", "--only", scenarios, "--systems", systems, "--app", "none", "--cli"])
        .arg(&cli)
        .arg("--out")
        .arg(out)
        .args(extra)
        .output()
        .expect("run homeline-bench");
    let stderr = String::from_utf8_lossy(&result.stderr).into_owned();
    assert!(result.status.success(), "homeline-bench failed:\n{stderr}");
    let json = serde_json::from_str(&std::fs::read_to_string(out.join("benchmarks.json")).expect("benchmarks.json")).expect("valid JSON");
    (json, stderr)
}

/// One figure of the report (every system's), or a failure that shows the report and the run's stderr.
fn figure(json: &serde_json::Value, scenario: &str, name: &str, stderr: &str) -> serde_json::Value {
    json["metrics"]
        .as_array()
        .and_then(|a| a.iter().find(|m| m["scenario"] == scenario && m["metric"] == name))
        .cloned()
        .unwrap_or_else(|| panic!("no {scenario} / {name} figure in {json}\n{stderr}"))
}

/// `--merge` measures one scenario again and keeps the others, each with the
/// run (date, command) that measured it, in both files.
#[test]
fn merge_keeps_the_other_scenarios_with_their_run() {
    let out = tempfile::tempdir().expect("temp dir");
    quick_run_in(out.path(), "startup,register", "homeline", &["--command", "first run"]);
    let (json, stderr) = quick_run_in(out.path(), "register", "homeline", &["--merge", "--command", "second run"]);
    let runs = json["runs"].as_array().unwrap_or_else(|| panic!("no runs in {json}\n{stderr}"));
    let commands: Vec<&str> = runs.iter().filter_map(|r| r["command"].as_str()).collect();
    assert_eq!(commands, ["first run", "second run"], "{json}");
    let run_of = |scenario: &str| {
        json["scenarios"].as_array().and_then(|a| a.iter().find(|s| s["scenario"] == scenario)).map(|s| s["run"].clone())
    };
    assert_eq!(run_of("startup"), Some(serde_json::json!(1)), "startup is kept from the first run: {json}");
    assert_eq!(run_of("register"), Some(serde_json::json!(2)), "register is from the second run: {json}");
    let md = std::fs::read_to_string(out.path().join("benchmarks.md")).expect("benchmarks.md");
    assert!(md.contains("This report joins 2 runs") && md.contains("*Measured in run 1:") && md.contains("`second run`"), "{md}");
}

#[test]
fn quick_calls_run_reports_call_setup_and_memory() {
    let (json, stderr) = quick_run("calls", "homeline,jssip-chromium,baresip,linphonec");
    let metric = |name: &str| figure(&json, "calls", name, &stderr);
    for name in ["INVITE sent → 180 Ringing (caller)", "memory (PSS), in one established call"] {
        let m = metric(name);
        for system in ["homeline", "jssip-chromium", "baresip", "linphonec"] {
            let median = m["systems"][system]["median"].as_f64().unwrap_or_else(|| panic!("no {name} for {system}: {m}\n{stderr}"));
            assert!(median > 0.0, "{name}, {system}: {m}");
        }
    }
}

#[test]
fn quick_call_scenarios_report_setup_cpu_soak_and_concurrent_figures() {
    let (json, stderr) = quick_run("callsetup,callcpu,concurrent,soak", "homeline,jssip-chromium,baresip,linphonec");
    let value = |scenario: &str, name: &str, system: &str| {
        json["metrics"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["scenario"] == scenario && m["metric"] == name))
            .and_then(|m| m["systems"][system]["median"].as_f64())
            .unwrap_or_else(|| panic!("no {scenario} / {name} figure for {system} in {json}\n{stderr}"))
    };
    for system in ["homeline", "jssip-chromium", "baresip", "linphonec"] {
        for name in ["dial → the callee rings (INVITE there)", "answer → first audio at the caller", "answer → first audio at the callee"] {
            assert!(value("callsetup", name, system) > 0.0, "{name}, {system}");
        }
    }
    for system in ["homeline", "jssip-chromium", "baresip", "linphonec"] {
        // CPU may round to 0 ticks over the short window; memory may not.
        assert!(value("callcpu", "CPU, one established call (caller)", system) >= 0.0);
        assert!(value("callcpu", "memory (PSS), in one established call (caller)", system) > 0.0, "{system}");
    }
    assert!(value("concurrent", "memory (PSS), 8 calls in one engine (callee)", "homeline") > 0.0);
    assert_eq!(value("soak", "failed calls", "homeline"), 0.0, "a soak call failed: {stderr}");
    assert!(value("soak", "memory (PSS) after the last call (caller)", "homeline") > 0.0);
}

#[test]
fn quick_audio_run_reports_pesq_and_mouth_to_ear_latency() {
    // jssip-chromium: Chromium's WebRTC receiver (tests/browser/neteq.mjs) beside Homeline's.
    let (json, stderr) = quick_run("audio", "homeline,jssip-chromium");
    let metric = |prefix: &str| {
        json["metrics"]
            .as_array()
            .and_then(|a| a.iter().find(|m| m["scenario"] == "audio" && m["metric"].as_str().is_some_and(|n| n.starts_with(prefix))))
            .cloned()
            .unwrap_or_else(|| panic!("no audio figure {prefix}… in {json}\n{stderr}"))
    };
    for prefix in ["PESQ wideband (P.862.2), clean", "PESQ wideband (P.862.2), 5 % random loss"] {
        let m = metric(prefix);
        for system in ["homeline", "jssip-chromium"] {
            let pesq = m["systems"][system]["median"].as_f64().unwrap_or_else(|| panic!("no PESQ for {system}: {m}\n{stderr}"));
            // A score, not a goal: PESQ runs from 1 to 4.64.
            assert!((1.0..=4.7).contains(&pesq), "{m}");
            assert_eq!(m["systems"][system]["runs"].as_array().map(Vec::len), Some(1), "--quick runs once: {m}");
        }
    }
    let latency = metric("mouth-to-ear latency");
    for system in ["homeline", "jssip-chromium"] {
        let median = latency["systems"][system]["median"].as_f64().unwrap_or_else(|| panic!("no latency at {system}: {latency}\n{stderr}"));
        assert!(median > 0.0 && median < 1000.0, "{latency}");
    }
}

/// The desktop app in `callcpu`: launched with its window, handed a `sip:`
/// link by a second launch, it dials and holds the call through its own
/// PulseAudio; CPU and PSS over its process tree, as for the other systems.
#[test]
fn quick_callcpu_run_reports_the_desktop_app_in_a_call() {
    let app = target_dir().join("homeline");
    assert!(app.is_file(), "{} is missing: build it with `make app` (make test does)", app.display());
    let out = tempfile::tempdir().expect("temp dir");
    // The later --app wins over quick_run_in's `--app none`.
    let app_arg = app.display().to_string();
    let (json, stderr) = quick_run_in(out.path(), "callcpu", "homeline-app", &["--app", &app_arg]);
    let cpu = figure(&json, "callcpu", "CPU, one established call (caller)", &stderr);
    let pss = figure(&json, "callcpu", "memory (PSS), in one established call (caller)", &stderr);
    // A call with media flowing costs some CPU even over the short window; memory is the app and its WebKit processes.
    assert!(cpu["systems"]["homeline-app"]["median"].as_f64().is_some_and(|v| v > 0.0), "{cpu}\n{stderr}");
    assert!(pss["systems"]["homeline-app"]["median"].as_f64().is_some_and(|v| v > 50.0), "{pss}\n{stderr}");
    let md = std::fs::read_to_string(out.path().join("benchmarks.md")).expect("benchmarks.md");
    assert!(md.contains("homeline-app: counted") && md.contains("WebKitWebProces"), "the note names the app's processes: {md}");
}
