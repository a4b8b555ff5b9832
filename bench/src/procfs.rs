//! What a client costs, read from /proc: its process tree, PSS (memory shared
//! between processes counted once, split among them) and CPU time.

use std::collections::{BTreeMap, BTreeSet};

/// Every live process: pid → (parent pid, utime + stime in clock ticks).
fn snapshot() -> BTreeMap<u32, (u32, u64)> {
    let mut all = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return all };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Some(stat) = read_stat(pid) {
            all.insert(pid, stat);
        }
    }
    all
}

/// (ppid, utime + stime) from /proc/PID/stat. The command name may hold
/// spaces and parentheses: fields are counted after the last ')'.
fn read_stat(pid: u32) -> Option<(u32, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // rest[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, utime + stime))
}

/// `root` and all its descendants.
pub fn tree(root: u32) -> Vec<u32> {
    let all = snapshot();
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (pid, (ppid, _)) in &all {
        children.entry(*ppid).or_default().push(*pid);
    }
    let mut out = Vec::new();
    let mut stack = vec![root];
    while let Some(pid) = stack.pop() {
        if !all.contains_key(&pid) {
            continue;
        }
        out.push(pid);
        stack.extend(children.get(&pid).into_iter().flatten().copied());
    }
    out
}

/// Processes whose command line contains `needle` (for example a browser
/// profile folder: it finds helpers that were re-parented away from the tree).
pub fn with_cmdline(needle: &str) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        if let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) {
            if String::from_utf8_lossy(&raw).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// The executable name of `pid` (`comm`, at most 15 bytes).
pub fn name(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).map(|s| s.trim().to_owned()).unwrap_or_default()
}

/// "name ×count" for the executables among `pids` (what a figure counted).
pub fn describe(pids: &[u32]) -> String {
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for pid in pids {
        *names.entry(name(*pid)).or_default() += 1;
    }
    names.iter().map(|(n, c)| format!("{n} ×{c}")).collect::<Vec<_>>().join(", ")
}

/// PSS of one process in KiB (from smaps_rollup), 0 when it is gone.
pub fn pss_kib(pid: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { return 0 };
    text.lines()
        .find_map(|line| line.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Private memory of one process in KiB (Private_Clean + Private_Dirty: USS).
pub fn uss_kib(pid: u32) -> u64 {
    let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { return 0 };
    text.lines()
        .filter_map(|line| line.strip_prefix("Private_Clean:").or_else(|| line.strip_prefix("Private_Dirty:")))
        .filter_map(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .sum()
}

/// USS summed over `pids`, in MiB: memory only this client holds, whatever else runs.
pub fn uss_mib(pids: &[u32]) -> f64 {
    pids.iter().map(|p| uss_kib(*p)).sum::<u64>() as f64 / 1024.0
}

/// Resident set (VmRSS) summed over `pids`, in MiB.
pub fn rss_mib(pids: &[u32]) -> f64 {
    let kib = |pid: &u32| -> u64 {
        std::fs::read_to_string(format!("/proc/{pid}/status"))
            .ok()
            .and_then(|t| t.lines().find_map(|l| l.strip_prefix("VmRSS:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok()))
            .unwrap_or(0)
    };
    pids.iter().map(kib).sum::<u64>() as f64 / 1024.0
}

/// PSS summed over `pids`, in MiB.
pub fn pss_mib(pids: &[u32]) -> f64 {
    pids.iter().map(|p| pss_kib(*p)).sum::<u64>() as f64 / 1024.0
}

/// CPU ticks (utime + stime) of each of `pids`.
pub fn cpu_ticks(pids: &[u32]) -> BTreeMap<u32, u64> {
    pids.iter().filter_map(|p| read_stat(*p).map(|(_, t)| (*p, t))).collect()
}

/// CPU ticks spent between two readings: processes present in both count
/// their difference, processes new in `after` count all of theirs.
pub fn ticks_between(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>) -> u64 {
    after.iter().map(|(pid, t)| t.saturating_sub(before.get(pid).copied().unwrap_or(0))).sum()
}

/// CPU between two readings by process name, busiest first, as % of one core
/// over `secs` ("WebKitWebProcess 5.1 %, homeline 3.0 %"): where a figure goes.
pub fn cpu_by_name(before: &BTreeMap<u32, u64>, after: &BTreeMap<u32, u64>, hz: f64, secs: f64) -> String {
    let mut by_name: BTreeMap<String, u64> = BTreeMap::new();
    for (pid, t) in after {
        *by_name.entry(name(*pid)).or_default() += t.saturating_sub(before.get(pid).copied().unwrap_or(0));
    }
    let mut rows: Vec<(String, u64)> = by_name.into_iter().collect();
    rows.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    rows.iter().map(|(n, t)| format!("{n} {:.1} %", *t as f64 / hz / secs * 100.0)).collect::<Vec<_>>().join(", ")
}

/// Clock ticks per second (USER_HZ): 100 on every Linux this runs on; `getconf` confirms.
pub fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse::<f64>().ok())
        .filter(|v| *v > 0.0)
        .unwrap_or(100.0)
}

/// A deduplicated, sorted union of pid lists.
pub fn union(lists: &[Vec<u32>]) -> Vec<u32> {
    lists.iter().flatten().copied().collect::<BTreeSet<u32>>().into_iter().collect()
}

/// SIGKILL every process whose command line still contains `needle` (a
/// folder this run created, such as a browser profile): processes this run
/// started that left their process group.
pub fn kill_with_cmdline(needle: &str) {
    for pid in with_cmdline(needle) {
        if pid == std::process::id() {
            continue;
        }
        let _ = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}
