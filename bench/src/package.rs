//! `package` (issue 7): the .deb a user installs, and how soon the app shows
//! an update.
//!
//! - **.deb size** (goal ≤ 15 MB) and **installed size**: dpkg's
//!   Installed-Size, and the blocks the package's files take on disk;
//! - **launch → "update available" shown**: the packaged app, launched with
//!   its update endpoint on a loopback server (the tests' `update_server`)
//!   whose manifest offers a newer version, until the banner is in the
//!   window (WebDriver), and until the app's log says it handed the offer to
//!   the window (no WebDriver in the way).
//!
//! The package is built as the update tests build theirs
//! (`update_server::build_release`: `scripts/release.sh`, release profile,
//! the test key, plain HTTP to loopback allowed) unless `--deb` names one.
//! It is unpacked with `dpkg-deb -x` and run from there, not installed:
//! installing is machine-wide, and the update tests install and remove the
//! same package. The anchor is baresip-core, the native phone the other
//! scenarios run, from dpkg's and apt's records of Debian's package.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_tests::services::update_server::{self, UpdateServer};
use homeline_tests::services::{desktop, secrets};
use homeline_tests::Service;
use serde_json::Value;
use tempfile::TempDir;

use crate::report::{Report, BARESIP, HOMELINE_APP, JSSIP};
use crate::systems::{self, BenchResult, LogWatch};
use crate::{first_line, procfs, Context};

const SCENARIO: &str = "package";
const DEB_SIZE: &str = ".deb size";
const INSTALLED: &str = "installed size (dpkg's Installed-Size)";
const ON_DISK: &str = "installed files on disk (du)";
const BANNER: &str = "launch → \"update available\" shown (banner in the window, WebDriver)";
const SESSION: &str = "launch → WebDriver session open (window loaded; part of the figure above)";
const FOUND: &str = "launch → update found and offered to the window (app log)";
const BANNER_CSS: &str = "[data-testid=update-banner][data-state=available]";
const ANCHOR_PACKAGE: &str = "baresip-core";

pub(crate) fn scenario_package(ctx: &Context, report: &mut Report) {
    report.describe(
        SCENARIO,
        "Package: .deb size, installed size, launch → \"update available\" (issue 7 goal: .deb ≤ 15 MB)",
        "The desktop app's .deb as `scripts/release.sh` builds it — here as the update tests build theirs \
         (`update_server::build_release` in tests/src/services: release profile, signed with the test key, plain HTTP \
         to a loopback update server allowed), unless `--deb` named a `make release` package. Sizes: the .deb file, \
         dpkg's Installed-Size (KiB, from the control file), and the blocks its files take once unpacked \
         (`dpkg-deb -x`; each file's allocated blocks, as du counts them). MB = 10⁶ bytes. Update check: the unpacked \
         app (not installed with apt: that is machine-wide, and the update tests install and remove the same package) \
         is launched under Xvfb with a fresh home and `HOMELINE_UPDATE_ENDPOINT` on a loopback server \
         (tests/src/services/update_server.rs) serving release.sh's latest.json with its version raised by one patch \
         release. Timed from the launch until the \"update available\" banner is in the window (tauri-driver: the \
         launch is the WebDriver session request, which returns once the window has loaded its page; then the banner is \
         looked for every 20 ms), and, in a second launch without WebDriver, from process spawn until the app logs the \
         update found and handed to the window (the banner shows once the window is up to take it). Nothing is \
         downloaded. Anchor: Debian 12's baresip-core (the native phone of the other scenarios): its .deb size from \
         apt's index, Installed-Size and files from dpkg's records. Neither side counts the shared libraries it \
         depends on (WebKitGTK for Homeline).",
    );
    let package = match Package::obtain(ctx) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("homeline-bench: package: {e}");
            for (metric, unit) in [(DEB_SIZE, "MB"), (INSTALLED, "MB"), (ON_DISK, "MB"), (BANNER, "ms"), (SESSION, "ms"), (FOUND, "ms")] {
                report.missing(SCENARIO, metric, unit, HOMELINE_APP, first_line(&e));
            }
            return;
        }
    };
    report.note(SCENARIO, &package.origin);
    match package.sizes() {
        Ok(s) => {
            report.add(SCENARIO, DEB_SIZE, "MB", HOMELINE_APP, s.deb_mb);
            report.add(SCENARIO, INSTALLED, "MB", HOMELINE_APP, s.installed_mb);
            report.add(SCENARIO, ON_DISK, "MB", HOMELINE_APP, s.on_disk_mb);
        }
        Err(e) => report.missing(SCENARIO, DEB_SIZE, "MB", HOMELINE_APP, first_line(&e)),
    }
    anchors(report);
    update_check(ctx, report, &package);
}

/// Sizes of one package, in MB.
struct Sizes {
    deb_mb: f64,
    installed_mb: f64,
    on_disk_mb: f64,
}

/// The .deb, unpacked.
struct Package {
    deb: PathBuf,
    /// Where the .deb came from and how long it took (a note in the report).
    origin: String,
    /// The unpacked package (`usr/bin/homeline`, …).
    root: PathBuf,
    _dirs: Vec<TempDir>,
}

fn temp_dir(prefix: &str) -> BenchResult<TempDir> {
    tempfile::Builder::new().prefix(prefix).tempdir().map_err(|e| format!("creating a temp dir: {e}"))
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// A program's standard output, trimmed; Err with its standard error.
fn output(program: &str, args: &[&str]) -> BenchResult<String> {
    let out = Command::new(program).args(args).output().map_err(|e| format!("running {program}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{program} {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

impl Package {
    fn obtain(ctx: &Context) -> BenchResult<Package> {
        let mut dirs = Vec::new();
        let (deb, origin) = match &ctx.o.deb {
            Some(deb) => (deb.clone(), format!("The package measured: `{}` (given with --deb).", deb.display())),
            None => {
                let key = update_server::test_key().map_err(|e| e.to_string())?;
                let out = temp_dir("homeline-bench-deb-")?;
                eprintln!("homeline-bench: package: building the .deb with scripts/release.sh (a few minutes)");
                let started = Instant::now();
                let deb = update_server::build_release(out.path(), &key, homeline_phone::VERSION, "http://127.0.0.1:9/", "")
                    .map_err(|e| format!("building the .deb: {e}"))?;
                let took = started.elapsed().as_secs_f64();
                dirs.push(out);
                (
                    deb,
                    format!(
                        "The package measured was built by this run (`scripts/release.sh` through the tests' \
                         `build_release`, {took:.0} s here, incremental in the shared target folder); the build leaves \
                         target/release/homeline as that test build."
                    ),
                )
            }
        };
        let unpacked = temp_dir("homeline-bench-unpacked-")?;
        output("dpkg-deb", &["-x", &deb.display().to_string(), &unpacked.path().display().to_string()])?;
        let root = unpacked.path().to_path_buf();
        dirs.push(unpacked);
        Ok(Package { deb, origin, root, _dirs: dirs })
    }

    fn app(&self) -> PathBuf {
        self.root.join("usr/bin/homeline")
    }

    fn field(&self, name: &str) -> BenchResult<String> {
        output("dpkg-deb", &["-f", &self.deb.display().to_string(), name])
    }

    fn sizes(&self) -> BenchResult<Sizes> {
        let deb_bytes = std::fs::metadata(&self.deb).map_err(|e| format!("{}: {e}", self.deb.display()))?.len();
        let installed_kib =
            self.field("Installed-Size")?.parse::<f64>().map_err(|_| "the .deb has no numeric Installed-Size".to_owned())?;
        let mut files = Vec::new();
        walk(&self.root, &mut files);
        Ok(Sizes { deb_mb: deb_bytes as f64 / 1e6, installed_mb: installed_kib * 1024.0 / 1e6, on_disk_mb: on_disk(&files) as f64 / 1e6 })
    }
}

/// Every regular file under `dir`.
fn walk(dir: &Path, files: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(&path, files),
            Ok(t) if t.is_file() => files.push(path),
            _ => {}
        }
    }
}

/// Bytes of the blocks these regular files take (du's count; symlinks and
/// folders are not counted).
fn on_disk(files: &[PathBuf]) -> u64 {
    use std::os::unix::fs::MetadataExt;
    files.iter().filter_map(|f| std::fs::symlink_metadata(f).ok()).filter(|m| m.is_file()).map(|m| m.blocks() * 512).sum()
}

/// baresip-core's figures from dpkg and apt; "no anchor" for the browser,
/// and for the update check.
fn anchors(report: &mut Report) {
    match baresip_sizes() {
        Ok((version, s)) => {
            report.add(SCENARIO, DEB_SIZE, "MB", BARESIP, s.deb_mb);
            report.add(SCENARIO, INSTALLED, "MB", BARESIP, s.installed_mb);
            report.add(SCENARIO, ON_DISK, "MB", BARESIP, s.on_disk_mb);
            report.note(
                SCENARIO,
                &format!(
                    "baresip: Debian's {ANCHOR_PACKAGE} {version}, the phone the other scenarios run (its libraries' and \
                     the optional modules' packages not counted)."
                ),
            );
        }
        Err(e) => {
            for metric in [DEB_SIZE, INSTALLED, ON_DISK] {
                report.missing(SCENARIO, metric, "MB", BARESIP, first_line(&e));
            }
        }
    }
    let browser = "no anchor: the browser softphone is a web page in a browser the user already has; Chromium's own package does not compare";
    for metric in [DEB_SIZE, INSTALLED, ON_DISK] {
        report.missing(SCENARIO, metric, "MB", JSSIP, browser);
    }
    report.missing(SCENARIO, BANNER, "ms", BARESIP, "no anchor: baresip has no update check of its own (apt updates it)");
    report.missing(SCENARIO, BANNER, "ms", JSSIP, "no anchor: a web page is new each time it is loaded; there is no update check to time");
}

fn baresip_sizes() -> BenchResult<(String, Sizes)> {
    let version = output("dpkg-query", &["-W", "-f", "${Version}", ANCHOR_PACKAGE])
        .map_err(|_| format!("{ANCHOR_PACKAGE} is not installed (apt install baresip)"))?;
    let installed_kib = output("dpkg-query", &["-W", "-f", "${Installed-Size}", ANCHOR_PACKAGE])?
        .parse::<f64>()
        .map_err(|_| format!("dpkg gives no Installed-Size for {ANCHOR_PACKAGE}"))?;
    let record = output("apt-cache", &["show", &format!("{ANCHOR_PACKAGE}={version}")])
        .map_err(|e| format!("apt's index has no {ANCHOR_PACKAGE} {version} (apt-get update?): {e}"))?;
    let deb_bytes = record
        .lines()
        .find_map(|l| l.strip_prefix("Size:"))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .ok_or_else(|| format!("apt's record of {ANCHOR_PACKAGE} {version} has no Size"))?;
    let files: Vec<PathBuf> = output("dpkg", &["-L", ANCHOR_PACKAGE])?.lines().map(PathBuf::from).collect();
    Ok((version, Sizes { deb_mb: deb_bytes / 1e6, installed_mb: installed_kib * 1024.0 / 1e6, on_disk_mb: on_disk(&files) as f64 / 1e6 }))
}

/// "0.1.0" → "0.1.1": the version the loopback server offers.
fn next_version(version: &str) -> String {
    let core = version.split(['-', '+', '~']).next().unwrap_or(version);
    let mut parts: Vec<u64> = core.split('.').filter_map(|p| p.parse().ok()).collect();
    parts.resize(3, 0);
    parts[2] += 1;
    format!("{}.{}.{}", parts[0], parts[1], parts[2])
}

/// The loopback update server: release.sh's latest.json (found beside the
/// .deb) offering the next version, its URLs on this server.
struct Offer {
    server: UpdateServer,
    version: String,
    _dir: TempDir,
}

impl Offer {
    fn start(package: &Package) -> BenchResult<Offer> {
        let folder = package.deb.parent().unwrap_or(Path::new("."));
        let manifest_path = folder.join("latest.json");
        let text = std::fs::read_to_string(&manifest_path)
            .map_err(|e| format!("no update manifest beside the .deb ({}: {e}); scripts/release.sh writes one", manifest_path.display()))?;
        let mut manifest: Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", manifest_path.display()))?;
        if manifest["platforms"].get("linux-x86_64-deb").is_none() {
            return Err(format!("{} has no linux-x86_64-deb entry", manifest_path.display()));
        }
        let version = next_version(&package.field("Version")?);
        let dir = temp_dir("homeline-bench-update-")?;
        let server = update_server::start(dir.path()).map_err(|e| e.to_string())?;
        manifest["version"] = Value::from(version.clone());
        manifest["notes"] = Value::from(format!("Homeline {version}, offered by the benchmark's loopback server"));
        if let Some(platforms) = manifest["platforms"].as_object_mut() {
            for entry in platforms.values_mut() {
                let file = entry["url"].as_str().and_then(|u| u.rsplit('/').next()).unwrap_or_default().to_owned();
                entry["url"] = Value::from(server.url(&file));
            }
        }
        // Served as published, though the check never downloads it.
        let name = package.deb.file_name().map(|n| n.to_owned()).unwrap_or_default();
        std::os::unix::fs::symlink(&package.deb, dir.path().join(&name)).map_err(|e| format!("linking the .deb: {e}"))?;
        let json = serde_json::to_string_pretty(&manifest).map_err(|e| e.to_string())?;
        std::fs::write(dir.path().join("latest.json"), json).map_err(|e| format!("writing the manifest: {e}"))?;
        Ok(Offer { server, version, _dir: dir })
    }

    fn endpoint(&self) -> String {
        self.server.url("latest.json")
    }
}

/// Each run: one launch through WebDriver (banner shown) and one direct
/// launch (the app's log), taking turns at going first; each with a fresh home.
fn update_check(ctx: &Context, report: &mut Report, package: &Package) {
    let setup = || -> BenchResult<_> {
        let offer = Offer::start(package)?;
        let xvfb = desktop::start_xvfb().map_err(|e| e.to_string())?;
        let bus = secrets::start().map_err(|e| e.to_string())?;
        Ok((offer, xvfb, bus))
    };
    let (offer, xvfb, bus) = match setup() {
        Ok(s) => s,
        Err(e) => {
            for metric in [BANNER, SESSION, FOUND] {
                report.missing(SCENARIO, metric, "ms", HOMELINE_APP, first_line(&e));
            }
            return;
        }
    };
    let app = package.app();
    let marker = package.root.display().to_string();
    let mut installed_as = None;
    for run in 0..ctx.o.runs {
        eprintln!("homeline-bench: run {}/{}: launch → update available", run + 1, ctx.o.runs);
        for step in 0..2 {
            let through_webdriver = (step + run) % 2 == 0;
            let result = temp_dir("homeline-bench-pkghome-").and_then(|home| {
                let mut env = update_server::app_env(&bus, home.path());
                env.push(("HOMELINE_UPDATE_ENDPOINT".into(), offer.endpoint()));
                let r = if through_webdriver {
                    banner_shown(&xvfb, &env, &app, &offer.version).map(|(session, banner)| {
                        report.add(SCENARIO, SESSION, "ms", HOMELINE_APP, session);
                        banner
                    })
                } else {
                    update_logged(&xvfb, &env, &app).map(|(ms, kind)| {
                        installed_as = installed_as.take().or(kind);
                        ms
                    })
                };
                // The next launch must not find this one still running.
                homeline_tests::wait_until(Duration::from_secs(5), || procfs::with_cmdline(&marker).is_empty());
                procfs::kill_with_cmdline(&marker);
                r
            });
            let metric = if through_webdriver { BANNER } else { FOUND };
            match result {
                Ok(v) => report.add(SCENARIO, metric, "ms", HOMELINE_APP, v),
                Err(e) => {
                    eprintln!("homeline-bench: package: {metric}: {e}");
                    report.missing(SCENARIO, metric, "ms", HOMELINE_APP, first_line(&e));
                }
            }
        }
    }
    if let Some(kind) = installed_as {
        let kind = kind.strip_prefix("Some(").and_then(|k| k.strip_suffix(')')).unwrap_or(&kind).to_owned();
        report.note(SCENARIO, &format!("The unpacked app's log says it runs from a {kind} install, so it took the manifest's linux-x86_64-deb entry."));
    }
}

/// tauri-driver launches the app: the time until the session is open, and
/// until the banner is found.
fn banner_shown(xvfb: &desktop::Xvfb, env: &[(String, String)], app: &Path, version: &str) -> BenchResult<(f64, f64)> {
    let driver = desktop::start_tauri_driver(xvfb, env).map_err(|e| e.to_string())?;
    let launched = Instant::now();
    let session = driver.session(app).map_err(|e| format!("launching through WebDriver: {e}"))?;
    let open = ms(launched.elapsed());
    let banner = session.find(BANNER_CSS, Duration::from_secs(60)).map_err(|e| format!("no update banner: {e}"))?;
    let took = ms(launched.elapsed());
    let text = session.text(&banner).unwrap_or_default();
    if !text.contains(version) {
        return Err(format!("the banner does not name {version}: {text:?}"));
    }
    Ok((open, took))
}

/// The app launched directly: spawn → its log says the update was found and
/// offered ("update X found: Show"); also what it says it was installed as.
fn update_logged(xvfb: &desktop::Xvfb, env: &[(String, String)], app: &Path) -> BenchResult<(f64, Option<String>)> {
    let dir = temp_dir("homeline-bench-pkglog-")?;
    let log = dir.path().join("app.log");
    let mut cmd = Command::new(app);
    cmd.envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .env("DISPLAY", xvfb.display())
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .env("NO_COLOR", "1")
        .env("HOMELINE_LOG", "warn,homeline_desktop::update=info")
        .env_remove("WAYLAND_DISPLAY");
    let started = Instant::now();
    let mut service = Service::spawn("homeline app (package)", cmd, &log).map_err(|e| e.to_string())?;
    let mut lines = LogWatch::new(&log);
    let (mut found, mut failed, mut kind) = (None, None, None);
    let watched = systems::watch(&mut service, &mut lines, Duration::from_secs(60), |line, now| {
        let Some(l) = line else { return false };
        if let Some(at) = l.find("installed as ") {
            let rest = l[at + "installed as ".len()..].trim_end();
            kind = Some(rest.strip_suffix(')').unwrap_or(rest).to_owned());
        }
        if l.contains("update ") && l.contains(" found") {
            found = Some(now);
        } else if (l.contains("update check") && (l.contains("failed") || l.contains("timed out") || l.contains("not started")))
            || l.contains("not checking for updates")
        {
            failed = Some(l.to_owned());
        }
        found.is_some() || failed.is_some()
    });
    service.stop();
    if let Some(line) = failed {
        return Err(format!("the app's update check failed: {line}"));
    }
    watched?;
    let at = found.ok_or("the app never logged an update found")?;
    Ok((ms(at.duration_since(started)), kind))
}

#[cfg(test)]
mod tests {
    use super::next_version;

    #[test]
    fn the_offer_is_the_next_patch_release() {
        assert_eq!(next_version("0.1.0"), "0.1.1");
        assert_eq!(next_version("1.2"), "1.2.1");
        assert_eq!(next_version("0.1.0-1"), "0.1.1");
    }
}
