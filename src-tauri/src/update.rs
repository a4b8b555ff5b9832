//! Updates on launch and once a day: check the signed manifest, offer the new
//! version to the user, download and verify it, install it once no call is in
//! progress, and relaunch.
//!
//! The decisions (skip, remind later, wait for the call, how to install) are
//! plain functions below the I/O, unit-tested without a network.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use homeline_phone::{CallState, Engine};
use serde::{Deserialize, Serialize};
use tauri::utils::config::BundleType;
use tauri::{AppHandle, Emitter, Manager};
use tauri_plugin_updater::UpdaterExt;

/// Tauri event carrying every [`UpdateView`] change.
pub const UPDATE_EVENT: &str = "update";
/// Overrides the manifest URL of `tauri.conf.json` (an internal mirror, tests).
pub const ENDPOINT_ENV: &str = "HOMELINE_UPDATE_ENDPOINT";
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
const REMIND_AFTER_SECS: u64 = 24 * 60 * 60;
const CALL_POLL: Duration = Duration::from_secs(1);

/// What the update banner shows.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
#[serde(tag = "state", rename_all = "camelCase")]
pub enum UpdateView {
    /// Nothing to show.
    #[default]
    Idle,
    #[serde(rename_all = "camelCase")]
    Available { version: String, current: String, notes: String },
    #[serde(rename_all = "camelCase")]
    Downloading { version: String, downloaded: u64, total: Option<u64> },
    /// Downloaded and verified; installs when the call ends.
    #[serde(rename_all = "camelCase")]
    WaitingForCall { version: String },
    #[serde(rename_all = "camelCase")]
    Installing { version: String },
    /// The update cannot be applied from here; `message` says what to do.
    #[serde(rename_all = "camelCase")]
    Failed { version: String, message: String },
}

/// The user's answers, kept across launches (`update.json` in the config folder).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdatePrefs {
    pub skipped_version: Option<String>,
    /// Unix seconds before which "remind me later" keeps the banner away.
    pub remind_after: Option<u64>,
}

/// Whether a version found on the server is shown to the user.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer {
    Show,
    Skipped,
    RemindLater,
}

pub fn offer(version: &str, prefs: &UpdatePrefs, now_secs: u64) -> Offer {
    if prefs.skipped_version.as_deref() == Some(version) {
        Offer::Skipped
    } else if prefs.remind_after.is_some_and(|t| now_secs < t) {
        Offer::RemindLater
    } else {
        Offer::Show
    }
}

pub fn remind_later(prefs: &mut UpdatePrefs, now_secs: u64) {
    prefs.remind_after = Some(now_secs + REMIND_AFTER_SECS);
}

pub fn skip(prefs: &mut UpdatePrefs, version: &str) {
    prefs.skipped_version = Some(version.to_owned());
}

/// An install replaces the running binary and restarts: never with a call up.
pub fn may_install_now(call_states: &[CallState]) -> bool {
    call_states.iter().all(|s| matches!(s, CallState::Ended { .. }))
}

/// How this copy of the app gets replaced.
#[derive(Debug, PartialEq, Eq)]
pub enum InstallRoute {
    /// Run the package tool ourselves, through pkexec unless we are root.
    Package { program: &'static str, args: &'static [&'static str], pkexec: bool },
    /// The updater plugin rewrites the AppImage in place.
    AppImage,
    /// Only the system's package manager (or whoever installed it) can.
    PackageManager,
}

pub fn install_route(bundle: Option<BundleType>, is_root: bool, has_pkexec: bool) -> InstallRoute {
    let (program, args): (&'static str, &'static [&'static str]) = match bundle {
        Some(BundleType::Deb) => ("dpkg", &["-i"]),
        Some(BundleType::Rpm) => ("rpm", &["-U"]),
        Some(BundleType::AppImage) => return InstallRoute::AppImage,
        _ => return InstallRoute::PackageManager,
    };
    if is_root || has_pkexec {
        InstallRoute::Package { program, args, pkexec: !is_root }
    } else {
        InstallRoute::PackageManager
    }
}

/// The sentence the banner shows for a failed step.
pub fn describe(error: &tauri_plugin_updater::Error) -> String {
    use tauri_plugin_updater::Error as E;
    match error {
        E::Minisign(_) | E::Base64(_) | E::SignatureUtf8(_) => {
            "The downloaded update is not signed by Homeline's publisher (damaged or tampered with), so it was not installed. You keep the current version.".into()
        }
        E::InvalidUpdaterFormat => "The downloaded update is not a package this computer can install. You keep the current version.".into(),
        E::Reqwest(_) | E::Network(_) => "The update could not be downloaded: the update server did not answer. Homeline will try again later.".into(),
        E::TargetNotFound(_) | E::TargetsNotFound(_) => "The update server has no package for this kind of installation.".into(),
        other => format!("The update could not be installed ({other}). You keep the current version."),
    }
}

pub const PACKAGE_MANAGER_MESSAGE: &str =
    "This copy of Homeline is managed by your system's package manager: update it with your package manager (for example, apt upgrade).";

// ---- I/O from here on ----

struct Pending {
    update: tauri_plugin_updater::Update,
    view_version: String,
}

/// Managed state: what the banner shows, the offered update, the user's answers.
pub struct Updates {
    view: Mutex<UpdateView>,
    pending: tokio::sync::Mutex<Option<Pending>>,
    prefs: Mutex<UpdatePrefs>,
    prefs_path: Option<PathBuf>,
    engine: Arc<Engine>,
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Updates {
    fn set(&self, app: &AppHandle, view: UpdateView) {
        *lock(&self.view) = view.clone();
        let _ = app.emit(UPDATE_EVENT, &view);
    }

    fn save_prefs(&self) {
        let Some(path) = &self.prefs_path else { return };
        let prefs = lock(&self.prefs).clone();
        if let Err(e) = write_atomically(path, &prefs) {
            tracing::warn!("could not save the update choices to {}: {e}", path.display());
        }
    }
}

fn write_atomically(path: &Path, prefs: &UpdatePrefs) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(prefs).map_err(std::io::Error::other)?)?;
    std::fs::rename(tmp, path)
}

fn read_prefs(path: &Path) -> UpdatePrefs {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

/// Register the state and start checking in the background (startup never waits).
pub fn start(app: &AppHandle, engine: Arc<Engine>) {
    // Resolve our own path now: after a package upgrade /proc/self/exe
    // points at the deleted old file, and the relaunch needs the new one.
    let _ = tauri::utils::platform::current_exe();
    tracing::info!("Homeline {} running (installed as {:?})", app.package_info().version, tauri::utils::platform::bundle_type());
    let prefs_path = app.path().app_config_dir().ok().map(|d| d.join("update.json"));
    let prefs = prefs_path.as_deref().map(read_prefs).unwrap_or_default();
    app.manage(Updates {
        view: Mutex::new(UpdateView::Idle),
        pending: tokio::sync::Mutex::new(None),
        prefs: Mutex::new(prefs),
        prefs_path,
        engine,
    });
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        loop {
            check(&app).await;
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

fn endpoints(app: &AppHandle) -> Option<Vec<tauri::Url>> {
    let updater = app.config().plugins.0.get("updater");
    // Without the publisher's key nothing could be verified: do not even ask.
    if updater.and_then(|u| u.get("pubkey")).and_then(|k| k.as_str()).is_none_or(str::is_empty) {
        return None;
    }
    if let Ok(url) = std::env::var(ENDPOINT_ENV) {
        return match tauri::Url::parse(&url) {
            Ok(url) => Some(vec![url]),
            Err(e) => {
                tracing::warn!("{ENDPOINT_ENV} is not a URL ({e}): not checking for updates");
                None
            }
        };
    }
    // No endpoint in tauri.conf.json (developer builds): never check.
    let configured = updater
        .and_then(|u| u.get("endpoints"))
        .and_then(|e| e.as_array())
        .is_some_and(|e| !e.is_empty());
    configured.then(Vec::new)
}

async fn check(app: &AppHandle) {
    let Some(endpoints) = endpoints(app) else {
        tracing::info!("no update server or key in this build: not checking for updates");
        return;
    };
    let updates = app.state::<Updates>();
    if !matches!(*lock(&updates.view), UpdateView::Idle) {
        return; // an offer is already on screen or in progress
    }
    let mut builder = app.updater_builder().timeout(CHECK_TIMEOUT);
    if !endpoints.is_empty() {
        builder = match builder.endpoints(endpoints) {
            Ok(b) => b,
            Err(e) => return tracing::warn!("update check not started: {e}"),
        };
    }
    let found = match builder.build() {
        Ok(updater) => tokio::time::timeout(CHECK_TIMEOUT * 2, updater.check()).await,
        Err(e) => return tracing::warn!("update check not started: {e}"),
    };
    let update = match found {
        Ok(Ok(Some(update))) => update,
        Ok(Ok(None)) => return tracing::info!("Homeline is up to date"),
        Ok(Err(e)) => return tracing::info!("update check failed (Homeline keeps running as it is): {e}"),
        Err(_) => return tracing::info!("update check timed out (Homeline keeps running as it is)"),
    };
    let decision = offer(&update.version, &lock(&updates.prefs), now_secs());
    tracing::info!("update {} found: {decision:?}", update.version);
    if decision != Offer::Show {
        return;
    }
    let view = UpdateView::Available {
        version: update.version.clone(),
        current: update.current_version.clone(),
        notes: update.body.clone().unwrap_or_default(),
    };
    *updates.pending.lock().await = Some(Pending { view_version: update.version.clone(), update });
    updates.set(app, view);
}

#[tauri::command]
pub fn update_status(updates: tauri::State<'_, Updates>) -> UpdateView {
    lock(&updates.view).clone()
}

#[tauri::command]
pub fn update_later(app: AppHandle, updates: tauri::State<'_, Updates>) {
    remind_later(&mut lock(&updates.prefs), now_secs());
    updates.save_prefs();
    updates.set(&app, UpdateView::Idle);
}

#[tauri::command]
pub fn update_skip(app: AppHandle, updates: tauri::State<'_, Updates>) {
    if let UpdateView::Available { version, .. } = lock(&updates.view).clone() {
        skip(&mut lock(&updates.prefs), &version);
    }
    updates.save_prefs();
    updates.set(&app, UpdateView::Idle);
}

/// "Install and restart": runs in the background, progress by events.
#[tauri::command]
pub fn update_install(app: AppHandle) {
    tauri::async_runtime::spawn(async move { install(app).await });
}

async fn install(app: AppHandle) {
    let updates = app.state::<Updates>();
    let Some(pending) = updates.pending.lock().await.take() else { return };
    let version = pending.view_version.clone();
    let route = install_route(tauri::utils::platform::bundle_type(), running_as_root(), on_path("pkexec"));
    if route == InstallRoute::PackageManager {
        return updates.set(&app, UpdateView::Failed { version, message: PACKAGE_MANAGER_MESSAGE.into() });
    }
    updates.set(&app, UpdateView::Downloading { version: version.clone(), downloaded: 0, total: None });
    let mut downloaded = 0u64;
    let progress_app = app.clone();
    let progress_version = version.clone();
    let bytes = pending
        .update
        .download(
            move |chunk, total| {
                downloaded += chunk as u64;
                let view = UpdateView::Downloading { version: progress_version.clone(), downloaded, total };
                progress_app.state::<Updates>().set(&progress_app, view);
            },
            || {},
        )
        .await;
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("update {version} refused: {e}");
            return updates.set(&app, UpdateView::Failed { version, message: describe(&e) });
        }
    };
    // Verified. Never replace the app under a call: wait for it to end.
    let mut waiting_since = None;
    while !may_install_now(&updates.engine.calls().await.into_iter().map(|c| c.state).collect::<Vec<_>>()) {
        if waiting_since.is_none() {
            tracing::info!("update {version} verified: a call is in progress, installing when it ends");
            waiting_since = Some(std::time::Instant::now());
        }
        if !matches!(*lock(&updates.view), UpdateView::WaitingForCall { .. }) {
            updates.set(&app, UpdateView::WaitingForCall { version: version.clone() });
        }
        tokio::time::sleep(CALL_POLL).await;
    }
    if let Some(since) = waiting_since {
        tracing::info!("the call ended: installing update {version} (it waited {:.0?})", since.elapsed());
    }
    updates.set(&app, UpdateView::Installing { version: version.clone() });
    let installed = match route {
        InstallRoute::Package { program, args, pkexec } => {
            tokio::task::spawn_blocking(move || install_package(&bytes, program, args, pkexec))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        }
        InstallRoute::AppImage => pending.update.install(&bytes).map_err(|e| describe(&e)),
        InstallRoute::PackageManager => Err(PACKAGE_MANAGER_MESSAGE.into()),
    };
    match installed {
        Ok(()) => {
            tracing::info!("update {version} installed: restarting");
            app.restart();
        }
        Err(message) => {
            tracing::warn!("update {version} not installed: {message}");
            updates.set(&app, UpdateView::Failed { version, message });
        }
    }
}

/// Write the verified package to a private temp dir and hand it to dpkg/rpm.
fn install_package(bytes: &[u8], program: &str, args: &[&str], pkexec: bool) -> Result<(), String> {
    let failed = |what: String| format!("The update could not be installed: {what}. You keep the current version.");
    let dir = tempfile_dir().map_err(|e| failed(format!("no temporary folder ({e})")))?;
    let extension = if program == "rpm" { "rpm" } else { "deb" };
    let file = dir.join(format!("homeline-update.{extension}"));
    let result = std::fs::write(&file, bytes).map_err(|e| failed(format!("could not write it ({e})"))).and_then(|()| {
        let mut command = if pkexec { std::process::Command::new("pkexec") } else { std::process::Command::new(program) };
        if pkexec {
            command.arg(program);
        }
        let output = command.args(args).arg(&file).output().map_err(|e| failed(format!("{program} did not start ({e})")))?;
        if output.status.success() {
            Ok(())
        } else {
            let stderr = String::from_utf8_lossy(&output.stderr);
            Err(failed(format!("{program} said: {}", stderr.trim())))
        }
    });
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn tempfile_dir() -> std::io::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("homeline-update-{}-{}", std::process::id(), now_secs()));
    std::fs::create_dir(&dir)?;
    Ok(dir)
}

fn running_as_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    // /proc/self belongs to the process's effective user.
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_new_version_is_shown() {
        assert_eq!(offer("0.2.0", &UpdatePrefs::default(), 100), Offer::Show);
    }

    #[test]
    fn a_skipped_version_stays_hidden_but_the_next_one_shows() {
        let mut prefs = UpdatePrefs::default();
        skip(&mut prefs, "0.2.0");
        assert_eq!(offer("0.2.0", &prefs, 100), Offer::Skipped);
        assert_eq!(offer("0.3.0", &prefs, 100), Offer::Show);
    }

    #[test]
    fn remind_me_later_waits_a_day() {
        let mut prefs = UpdatePrefs::default();
        remind_later(&mut prefs, 1_000);
        assert_eq!(offer("0.2.0", &prefs, 1_000 + 3_600), Offer::RemindLater);
        assert_eq!(offer("0.2.0", &prefs, 1_000 + REMIND_AFTER_SECS), Offer::Show);
    }

    #[test]
    fn no_install_while_a_call_is_up() {
        let ended = CallState::Ended { reason: "Hung up".into(), code: None, by: "me".into() };
        assert!(may_install_now(&[]));
        assert!(may_install_now(std::slice::from_ref(&ended)));
        for state in [CallState::Dialing, CallState::Ringing, CallState::Incoming, CallState::Active, CallState::Held { by_me: true }] {
            assert!(!may_install_now(&[ended.clone(), state.clone()]), "{state:?}");
        }
    }

    #[test]
    fn deb_installs_directly_as_root_through_pkexec_otherwise() {
        let deb = || Some(BundleType::Deb);
        assert_eq!(install_route(deb(), true, false), InstallRoute::Package { program: "dpkg", args: &["-i"], pkexec: false });
        assert_eq!(install_route(deb(), false, true), InstallRoute::Package { program: "dpkg", args: &["-i"], pkexec: true });
        assert_eq!(
            install_route(Some(BundleType::Rpm), false, true),
            InstallRoute::Package { program: "rpm", args: &["-U"], pkexec: true }
        );
    }

    #[test]
    fn without_root_or_pkexec_the_package_manager_updates() {
        assert_eq!(install_route(Some(BundleType::Deb), false, false), InstallRoute::PackageManager);
        // A build that did not come from a package (cargo run, make app).
        assert_eq!(install_route(None, true, true), InstallRoute::PackageManager);
        assert_eq!(install_route(Some(BundleType::AppImage), false, false), InstallRoute::AppImage);
    }

    #[test]
    fn a_bad_signature_is_explained() {
        let e = tauri_plugin_updater::Error::SignatureUtf8("x".into());
        assert!(describe(&e).contains("not signed"));
    }

    #[test]
    fn choices_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("homeline-update-prefs-{}", std::process::id()));
        let path = dir.join("update.json");
        let mut prefs = UpdatePrefs::default();
        skip(&mut prefs, "0.2.0");
        write_atomically(&path, &prefs).unwrap();
        assert_eq!(read_prefs(&path), prefs);
        std::fs::write(&path, b"not json").unwrap();
        assert_eq!(read_prefs(&path), UpdatePrefs::default());
        let _ = std::fs::remove_dir_all(dir);
    }
}
