//! Updates on launch and once a day: check the signed manifest, offer the new
//! version to the user, download and verify it, install it once no call is in
//! progress, and relaunch.
//!
//! This runs in the tray process, which must not link Tauri (issue 6), so it
//! does itself what tauri-plugin-updater 2.14 did, in the same formats: the
//! manifest `scripts/release.sh` publishes (`version`, `notes`, `pub_date` and
//! a `platforms` map keyed `linux-x86_64-deb`, …, or the flat single-platform
//! form), the `{{current_version}}` / `{{target}}` / `{{arch}}` /
//! `{{bundle_type}}` URL templates, semver "newer only", 204 = no update, and
//! the minisign signature made by `tauri signer` (base64 of the signature
//! text, checked against the base64 public key of `tauri.conf.json`).
//!
//! The decisions (skip, remind later, wait for the call, how to install, which
//! manifest entry, whether a signature holds) are plain functions below the
//! I/O, unit-tested without a network.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use homeline_phone::CallState;
use reqwest::Url;
use semver::Version;
use serde::{Deserialize, Serialize};

use crate::shell::Shell;

/// Window event carrying every [`UpdateView`] change.
pub const UPDATE_EVENT: &str = "update";
/// Overrides the manifest URL of `tauri.conf.json` (an internal mirror, tests).
pub const ENDPOINT_ENV: &str = "HOMELINE_UPDATE_ENDPOINT";
/// How this copy was installed (`deb`, `rpm`, `appimage`; unset: not from a
/// package). The window binary, which the Tauri bundler marks, passes it on.
pub const BUNDLE_TYPE_ENV: &str = "HOMELINE_BUNDLE_TYPE";
const CHECK_TIMEOUT: Duration = Duration::from_secs(5);
const CHECK_EVERY: Duration = Duration::from_secs(24 * 60 * 60);
const REMIND_AFTER_SECS: u64 = 24 * 60 * 60;
const CALL_POLL: Duration = Duration::from_secs(1);
/// A download that receives nothing for this long has failed (the plugin
/// waited forever, leaving "Downloading" on screen).
const DOWNLOAD_STALL: Duration = Duration::from_secs(60);
/// Download progress goes to the window at most this often.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);
const USER_AGENT: &str = concat!("homeline/", env!("CARGO_PKG_VERSION"));

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

pub fn skip_version(prefs: &mut UpdatePrefs, version: &str) {
    prefs.skipped_version = Some(version.to_owned());
}

/// An install replaces the running binary and restarts: never with a call up.
pub fn may_install_now(call_states: &[CallState]) -> bool {
    call_states.iter().all(|s| matches!(s, CallState::Ended { .. }))
}

/// The kind of package this copy came from (what Tauri's bundler records).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleType {
    Deb,
    Rpm,
    AppImage,
}

impl BundleType {
    /// `deb`, `rpm`, `appimage` (any case); anything else is no package.
    pub fn parse(value: &str) -> Option<Self> {
        match value.trim().to_ascii_lowercase().as_str() {
            "deb" => Some(Self::Deb),
            "rpm" => Some(Self::Rpm),
            "appimage" => Some(Self::AppImage),
            _ => None,
        }
    }

    /// What the window process passed in [`BUNDLE_TYPE_ENV`].
    pub fn from_env() -> Option<Self> {
        std::env::var(BUNDLE_TYPE_ENV).ok().as_deref().and_then(Self::parse)
    }

    /// The installer's name in manifest keys and `{{bundle_type}}`.
    pub fn name(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::AppImage => "appimage",
        }
    }
}

/// How this copy of the app gets replaced.
#[derive(Debug, PartialEq, Eq)]
pub enum InstallRoute {
    /// Run the package tool ourselves, through pkexec unless we are root.
    Package { program: &'static str, args: &'static [&'static str], pkexec: bool },
    /// Only the system's package manager (or whoever installed it) can.
    PackageManager,
}

/// AppImage is not built by this project (tauri.conf.json targets deb and
/// rpm; scripts/release.sh cannot make one offline), and rewriting an
/// AppImage in place was the plugin's job: such a copy gets the "update it
/// the way you installed it" message, as one not from a package does.
pub fn install_route(bundle: Option<BundleType>, is_root: bool, has_pkexec: bool) -> InstallRoute {
    let (program, args): (&'static str, &'static [&'static str]) = match bundle {
        Some(BundleType::Deb) => ("dpkg", &["-i"]),
        Some(BundleType::Rpm) => ("rpm", &["-U"]),
        Some(BundleType::AppImage) | None => return InstallRoute::PackageManager,
    };
    if is_root || has_pkexec {
        InstallRoute::Package { program, args, pkexec: !is_root }
    } else {
        InstallRoute::PackageManager
    }
}

/// Why a check or an update failed. The `Display` text goes to the log; the
/// banner shows [`describe`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpdateError {
    /// The server could not be reached or did not answer well.
    Network(String),
    /// The answer is not an update manifest.
    Manifest(String),
    /// No endpoint answered with a manifest.
    ReleaseNotFound,
    /// The manifest has no package for this kind of installation (the keys tried).
    NoPackage(Vec<String>),
    /// The endpoint is plain HTTP and the build does not allow it.
    InsecureEndpoint(String),
    /// The package's signature does not hold (or could not be read).
    Signature(String),
    /// The package was signed for another version than the manifest announced.
    SignedVersionMismatch { signed: String, announced: String },
    /// `requireSignedVersion` is on and the signature names no version.
    MissingSignedVersion,
    /// Anything else (our version unreadable, no temp folder, …).
    Other(String),
}

impl std::fmt::Display for UpdateError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Network(e) => write!(f, "{e}"),
            Self::Manifest(e) => write!(f, "the update server's answer is not an update manifest: {e}"),
            Self::ReleaseNotFound => write!(f, "Could not fetch a valid release JSON from the remote"),
            Self::NoPackage(keys) => write!(f, "none of the platforms {keys:?} were found in the manifest's `platforms` object"),
            Self::InsecureEndpoint(url) => {
                write!(f, "the updater endpoint {url} must use a secure protocol like `https`")
            }
            Self::Signature(e) => write!(f, "the update's signature does not hold: {e}"),
            Self::SignedVersionMismatch { signed, announced } => write!(
                f,
                "the update was signed for version {signed} but the update endpoint announced version {announced} (the manifest may have been tampered with)"
            ),
            Self::MissingSignedVersion => {
                write!(f, "the update's signature does not name the version it was signed for, which requireSignedVersion requires")
            }
            Self::Other(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for UpdateError {}

/// The sentence the banner shows for a failed step.
pub fn describe(error: &UpdateError) -> String {
    use UpdateError as E;
    match error {
        E::Signature(_) | E::SignedVersionMismatch { .. } | E::MissingSignedVersion => {
            "The downloaded update is not signed by Homeline's publisher (damaged or tampered with), so it was not installed. You keep the current version.".into()
        }
        E::Network(_) => "The update could not be downloaded: the update server did not answer. Homeline will try again later.".into(),
        E::NoPackage(_) => "The update server has no package for this kind of installation.".into(),
        other => format!("The update could not be installed ({other}). You keep the current version."),
    }
}

pub const PACKAGE_MANAGER_MESSAGE: &str =
    "This copy of Homeline is managed by your system's package manager: update it with your package manager (for example, apt upgrade).";

// ---- the manifest (tauri-plugin-updater's format) ----

/// One downloadable package of a release.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub url: Url,
    /// Base64 of the minisign signature text (the `.sig` file).
    pub signature: String,
}

/// A release as the update server describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Release {
    pub version: Version,
    pub notes: Option<String>,
    pub pub_date: Option<String>,
    packages: Packages,
}

#[derive(Debug, Clone, PartialEq)]
enum Packages {
    /// The server picked the platform itself: one `url` and `signature`.
    Single(Package),
    /// Every platform, keyed `{os}-{arch}[-{installer}]`.
    Platforms(HashMap<String, Package>),
}

#[derive(Deserialize)]
struct RawPackage {
    url: String,
    signature: String,
}

#[derive(Deserialize)]
struct RawRelease {
    #[serde(alias = "name")]
    version: String,
    notes: Option<String>,
    pub_date: Option<String>,
    platforms: Option<HashMap<String, RawPackage>>,
    url: Option<String>,
    signature: Option<String>,
}

fn package(raw: RawPackage, key: &str) -> Result<Package, UpdateError> {
    let url = Url::parse(&raw.url).map_err(|e| UpdateError::Manifest(format!("the `url` of {key} is not a URL ({e}): {}", raw.url)))?;
    Ok(Package { url, signature: raw.signature })
}

/// Read the server's answer. Errors say in words what is wrong with it.
pub fn parse_release(body: &[u8]) -> Result<Release, UpdateError> {
    let raw: RawRelease = serde_json::from_slice(body).map_err(|e| UpdateError::Manifest(e.to_string()))?;
    let version = Version::parse(raw.version.trim_start_matches('v'))
        .map_err(|e| UpdateError::Manifest(format!("its `version` {:?} is not a version number ({e})", raw.version)))?;
    if let Some(date) = &raw.pub_date {
        if !looks_like_rfc3339(date) {
            return Err(UpdateError::Manifest(format!("invalid value for `pub_date`: {date:?} is not an RFC 3339 date")));
        }
    }
    let packages = match raw.platforms {
        Some(platforms) => Packages::Platforms(
            platforms.into_iter().map(|(key, p)| package(p, &key).map(|p| (key, p))).collect::<Result<_, _>>()?,
        ),
        None => {
            let url = raw.url.ok_or_else(|| UpdateError::Manifest("the `url` field was not set on the updater response".into()))?;
            let signature = raw
                .signature
                .ok_or_else(|| UpdateError::Manifest("the `signature` field was not set on the updater response".into()))?;
            Packages::Single(package(RawPackage { url, signature }, "the release")?)
        }
    };
    Ok(Release { version, notes: raw.notes, pub_date: raw.pub_date, packages })
}

/// `2025-11-25T17:26:00Z`, `…T17:26:00.123+01:00`: the shape the plugin
/// accepted (it parsed `pub_date` as RFC 3339 and refused the manifest otherwise).
fn looks_like_rfc3339(s: &str) -> bool {
    let b = s.as_bytes();
    let digits = |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let shape = b.len() >= 20
        && digits(0..4)
        && b[4] == b'-'
        && digits(5..7)
        && b[7] == b'-'
        && digits(8..10)
        && matches!(b[10], b'T' | b't' | b' ')
        && digits(11..13)
        && b[13] == b':'
        && digits(14..16)
        && b[16] == b':'
        && digits(17..19);
    if !shape {
        return false;
    }
    let mut rest = &s[19..];
    if let Some(fraction) = rest.strip_prefix('.') {
        let n = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return false;
        }
        rest = &fraction[n..];
    }
    match rest.as_bytes() {
        [b'Z' | b'z'] => true,
        [b'+' | b'-', h1, h2, b':', m1, m2] => [h1, h2, m1, m2].iter().all(|d| d.is_ascii_digit()),
        _ => false,
    }
}

/// The updater's name for this OS (`{{target}}`).
fn updater_os() -> &'static str {
    std::env::consts::OS
}

/// The updater's name for this CPU (`{{arch}}`), as the plugin spells it.
fn updater_arch() -> Option<&'static str> {
    match std::env::consts::ARCH {
        "x86" => Some("i686"),
        "x86_64" => Some("x86_64"),
        "arm" => Some("armv7"),
        "aarch64" => Some("aarch64"),
        "riscv64" => Some("riscv64"),
        _ => None,
    }
}

/// The manifest keys to try, best first: `linux-x86_64-deb` then
/// `linux-x86_64` for a .deb install (the plugin's order).
pub fn platform_keys(os: &str, arch: &str, bundle: Option<BundleType>) -> Vec<String> {
    let mut keys = Vec::with_capacity(2);
    if let Some(bundle) = bundle {
        keys.push(format!("{os}-{arch}-{}", bundle.name()));
    }
    keys.push(format!("{os}-{arch}"));
    keys
}

impl Release {
    /// The package for the first of `keys` the manifest has.
    pub fn package_for(&self, keys: &[String]) -> Result<&Package, UpdateError> {
        match &self.packages {
            Packages::Single(p) => Ok(p),
            Packages::Platforms(platforms) => {
                keys.iter().find_map(|k| platforms.get(k)).ok_or_else(|| UpdateError::NoPackage(keys.to_vec()))
            }
        }
    }
}

/// A newer release, with the package for this installation.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    pub version: String,
    pub current: String,
    pub notes: Option<String>,
    pub package: Package,
}

/// Whether `release` is an update for `current` (newer only, unless the build
/// allows downgrades) and which package to fetch. A release that is not an
/// update is no error, even without a package for us.
pub fn found_update(release: &Release, current: &Version, keys: &[String], allow_downgrades: bool) -> Result<Option<Found>, UpdateError> {
    let newer = if allow_downgrades { release.version != *current } else { release.version > *current };
    if !newer {
        return Ok(None);
    }
    let package = release.package_for(keys)?.clone();
    Ok(Some(Found { version: release.version.to_string(), current: current.to_string(), notes: release.notes.clone(), package }))
}

/// The endpoint with its `{{…}}` variables filled in (in the path, where the
/// URL parser escaped the braces, and in the query, where it did not).
pub fn endpoint_url(endpoint: &Url, current: &Version, target: &str, arch: &str, bundle: Option<BundleType>) -> Result<Url, UpdateError> {
    let version = current.to_string().replace('+', "%2B");
    let installer = bundle.map_or("unknown", BundleType::name);
    let text = endpoint
        .to_string()
        .replace("%7B%7Bcurrent_version%7D%7D", &version)
        .replace("%7B%7Btarget%7D%7D", target)
        .replace("%7B%7Barch%7D%7D", arch)
        .replace("%7B%7Bbundle_type%7D%7D", installer)
        .replace("{{current_version}}", &version)
        .replace("{{target}}", target)
        .replace("{{arch}}", arch)
        .replace("{{bundle_type}}", installer);
    Url::parse(&text).map_err(|e| UpdateError::Other(format!("the update endpoint {text} is not a URL ({e})")))
}

// ---- the signature (minisign, as `tauri signer sign` writes it) ----

fn base64_text(value: &str, what: &str) -> Result<String, UpdateError> {
    use base64::Engine as _;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| UpdateError::Signature(format!("the {what} is not base64 ({e})")))?;
    String::from_utf8(bytes).map_err(|_| UpdateError::Signature(format!("the {what} is not the base64 of a minisign text")))
}

/// Whether `data` is what the holder of `pubkey` signed (`signature` and
/// `pubkey` both base64 of the minisign texts), for `announced_version`.
pub fn verify_signature(
    data: &[u8],
    signature: &str,
    pubkey: &str,
    announced_version: &str,
    require_signed_version: bool,
) -> Result<(), UpdateError> {
    let public_key = minisign_verify::PublicKey::decode(&base64_text(pubkey, "public key")?)
        .map_err(|e| UpdateError::Signature(format!("the public key is not a minisign key ({e})")))?;
    let signature = minisign_verify::Signature::decode(&base64_text(signature, "signature")?)
        .map_err(|e| UpdateError::Signature(format!("the signature is not a minisign signature ({e})")))?;
    public_key.verify(data, &signature, true).map_err(|e| UpdateError::Signature(e.to_string()))?;
    // Only now is the trusted comment trustworthy: the global signature covers it.
    verify_signed_version(signature.trusted_comment(), announced_version, require_signed_version)
}

/// The manifest is not signed: the `version:` the package was signed for
/// (tab-separated `key:value` pairs in the trusted comment) must be the one
/// announced, or an old signed package could pose as a new version.
fn verify_signed_version(trusted_comment: &str, announced: &str, require_signed_version: bool) -> Result<(), UpdateError> {
    let Some(signed) = trusted_comment.split('\t').find_map(|field| field.strip_prefix("version:")) else {
        return if require_signed_version { Err(UpdateError::MissingSignedVersion) } else { Ok(()) };
    };
    let matches = match (Version::parse(signed.trim_start_matches('v')), Version::parse(announced.trim_start_matches('v'))) {
        (Ok(signed), Ok(announced)) => signed == announced,
        _ => signed == announced,
    };
    if matches {
        Ok(())
    } else {
        Err(UpdateError::SignedVersionMismatch { signed: signed.to_owned(), announced: announced.to_owned() })
    }
}

// ---- configuration: tauri.conf.json, as the bundler saw it ----

/// The `plugins.updater` section of tauri.conf.json (the plugin's names and
/// their kebab-case aliases).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UpdaterConfig {
    #[serde(default)]
    pub pubkey: String,
    #[serde(default)]
    pub endpoints: Vec<String>,
    #[serde(default, alias = "dangerous-insecure-transport-protocol")]
    pub dangerous_insecure_transport_protocol: bool,
    #[serde(default, alias = "dangerous-accept-invalid-certs")]
    pub dangerous_accept_invalid_certs: bool,
    #[serde(default, alias = "dangerous-accept-invalid-hostnames")]
    pub dangerous_accept_invalid_hostnames: bool,
    #[serde(default, alias = "require-signed-version")]
    pub require_signed_version: bool,
    #[serde(default, alias = "allow-downgrades")]
    pub allow_downgrades: bool,
}

/// What this module needs of the app's configuration.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AppConfig {
    /// The version this build announces (tauri.conf.json `version`, else the crates').
    pub version: String,
    /// Names the config folder, as Tauri's `app_config_dir` did.
    pub identifier: String,
    pub updater: UpdaterConfig,
}

/// The repository's tauri.conf.json, with what `tauri build --config` merged
/// in for this build (the CLI hands it to every crate it compiles in
/// `TAURI_CONFIG`; scripts/release.sh puts the public key, the endpoint and,
/// in the tests, the version there — never in the repository).
pub fn app_config() -> AppConfig {
    config_from(include_str!("../../../tauri.conf.json"), option_env!("TAURI_CONFIG"))
}

fn config_from(file: &str, overlay: Option<&str>) -> AppConfig {
    let mut config: serde_json::Value = serde_json::from_str(file).unwrap_or_else(|e| {
        tracing::warn!("tauri.conf.json is not JSON ({e}): not checking for updates");
        serde_json::Value::Null
    });
    if let Some(overlay) = overlay.filter(|o| !o.trim().is_empty()) {
        match serde_json::from_str::<serde_json::Value>(overlay) {
            Ok(patch) => merge_patch(&mut config, &patch),
            Err(e) => tracing::warn!("TAURI_CONFIG of this build is not JSON ({e}): using tauri.conf.json alone"),
        }
    }
    let updater = config
        .pointer("/plugins/updater")
        .cloned()
        .and_then(|u| {
            serde_json::from_value(u).map_err(|e| tracing::warn!("plugins.updater in tauri.conf.json is not understood ({e})")).ok()
        })
        .unwrap_or_default();
    let text = |key: &str| config.get(key).and_then(|v| v.as_str()).map(str::to_owned);
    AppConfig {
        version: text("version").unwrap_or_else(|| homeline_phone::VERSION.to_owned()),
        identifier: text("identifier").unwrap_or_else(|| "app.homeline.softphone".to_owned()),
        updater,
    }
}

/// RFC 7396 merge patch, as Tauri merges `--config` into the file.
fn merge_patch(target: &mut serde_json::Value, patch: &serde_json::Value) {
    let serde_json::Value::Object(patch) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = serde_json::Value::Object(serde_json::Map::new());
    }
    if let serde_json::Value::Object(map) = target {
        for (key, value) in patch {
            if value.is_null() {
                map.remove(key);
            } else {
                merge_patch(map.entry(key.clone()).or_insert(serde_json::Value::Null), value);
            }
        }
    }
}

/// Where the manifest is asked for: `None` = do not check at all.
fn endpoints(config: &UpdaterConfig) -> Option<Vec<Url>> {
    // Without the publisher's key nothing could be verified: do not even ask.
    if config.pubkey.trim().is_empty() {
        return None;
    }
    if let Ok(url) = std::env::var(ENDPOINT_ENV) {
        return match Url::parse(&url) {
            Ok(url) => Some(vec![url]),
            Err(e) => {
                tracing::warn!("{ENDPOINT_ENV} is not a URL ({e}): not checking for updates");
                None
            }
        };
    }
    // No endpoint in tauri.conf.json (developer builds): never check.
    let urls: Vec<Url> = config
        .endpoints
        .iter()
        .filter_map(|e| Url::parse(e).map_err(|err| tracing::warn!("update endpoint {e:?} is not a URL ({err})")).ok())
        .collect();
    (!urls.is_empty()).then_some(urls)
}

/// Plain HTTP only where the build allows it (the tests' loopback server);
/// debug builds just warn, as the plugin did.
fn check_transport(urls: &[Url], config: &UpdaterConfig) -> Result<(), UpdateError> {
    if config.dangerous_insecure_transport_protocol {
        return Ok(());
    }
    for url in urls.iter().filter(|u| u.scheme() != "https") {
        if cfg!(debug_assertions) {
            tracing::warn!("the update endpoint {url} does not use https: allowed in this debug build only");
        } else {
            return Err(UpdateError::InsecureEndpoint(url.to_string()));
        }
    }
    Ok(())
}

/// The config folder Tauri's `app_config_dir` named: `$XDG_CONFIG_HOME` (or
/// `~/.config`) / the identifier, so choices made before the split survive.
fn config_dir(identifier: &str) -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join(identifier))
}

// ---- HTTP ----

fn error_words(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = s.source();
    }
    text
}

fn network(e: reqwest::Error) -> UpdateError {
    UpdateError::Network(error_words(&e))
}

fn client(config: &UpdaterConfig, timeout: Option<Duration>) -> Result<reqwest::Client, UpdateError> {
    // The ring provider, unless the process chose one already (the plugin's way).
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    let mut builder = reqwest::Client::builder().user_agent(USER_AGENT);
    if config.dangerous_accept_invalid_certs {
        builder = builder.danger_accept_invalid_certs(true);
    }
    if config.dangerous_accept_invalid_hostnames {
        builder = builder.danger_accept_invalid_hostnames(true);
    }
    builder = match timeout {
        Some(t) => builder.timeout(t),
        None => builder.read_timeout(DOWNLOAD_STALL),
    };
    builder.build().map_err(network)
}

/// Ask each endpoint in turn; the first manifest wins; 204 = up to date.
async fn fetch_update(config: &AppConfig, endpoints: &[Url], bundle: Option<BundleType>) -> Result<Option<Found>, UpdateError> {
    let current = Version::parse(config.version.trim_start_matches('v'))
        .map_err(|e| UpdateError::Other(format!("this build's version {:?} is not a version number ({e})", config.version)))?;
    let arch = updater_arch().ok_or_else(|| UpdateError::Other(format!("updates are not published for {}", std::env::consts::ARCH)))?;
    let os = updater_os();
    let client = client(&config.updater, Some(CHECK_TIMEOUT))?;
    let mut last_error = None;
    let mut release = None;
    for endpoint in endpoints {
        let url = endpoint_url(endpoint, &current, os, arch, bundle)?;
        tracing::debug!("checking for updates at {url}");
        let response = match client.get(url.clone()).header(reqwest::header::ACCEPT, "application/json").send().await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!("update endpoint {url} did not answer: {e}");
                last_error = Some(network(e));
                continue;
            }
        };
        let status = response.status();
        if !status.is_success() {
            tracing::debug!("update endpoint {url} answered {status}");
            continue;
        }
        if status == reqwest::StatusCode::NO_CONTENT {
            return Ok(None);
        }
        match response.bytes().await.map_err(network).and_then(|body| parse_release(&body)) {
            Ok(r) => {
                last_error = None;
                release = Some(r);
                break;
            }
            Err(e) => {
                tracing::debug!("update endpoint {url}: {e}");
                last_error = Some(e);
            }
        }
    }
    if let Some(e) = last_error {
        return Err(e);
    }
    let release = release.ok_or(UpdateError::ReleaseNotFound)?;
    found_update(&release, &current, &platform_keys(os, arch, bundle), config.updater.allow_downgrades)
}

/// Fetch the package, reporting progress, and verify its signature.
async fn download(
    config: &UpdaterConfig,
    found: &Found,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<Vec<u8>, UpdateError> {
    let url = &found.package.url;
    if url.scheme() != "https" && !config.dangerous_insecure_transport_protocol {
        tracing::warn!("the update download URL {url} does not use https: only its signature protects it");
    }
    let client = client(config, None)?;
    let mut response = client
        .get(url.clone())
        .header(reqwest::header::ACCEPT, "application/octet-stream")
        .send()
        .await
        .map_err(network)?;
    if !response.status().is_success() {
        return Err(UpdateError::Network(format!("Download request failed with status: {}", response.status())));
    }
    let total = response.content_length();
    let mut bytes = Vec::with_capacity(total.and_then(|t| usize::try_from(t).ok()).unwrap_or(0).min(512 << 20));
    while let Some(chunk) = response.chunk().await.map_err(network)? {
        bytes.extend_from_slice(&chunk);
        progress(bytes.len() as u64, total);
    }
    verify_signature(&bytes, &found.package.signature, &config.pubkey, &found.version, config.require_signed_version)?;
    Ok(bytes)
}

// ---- state and the host's entry points ----

/// What the banner shows, the offered update, the user's answers.
pub struct Updates {
    view: Mutex<UpdateView>,
    pending: tokio::sync::Mutex<Option<Found>>,
    prefs: Mutex<UpdatePrefs>,
    prefs_path: Option<PathBuf>,
    config: AppConfig,
}

static UPDATES: OnceLock<Updates> = OnceLock::new();

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Updates {
    fn set(&self, shell: &Shell, view: UpdateView) {
        *lock(&self.view) = view.clone();
        shell.emit(UPDATE_EVENT, &view);
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

/// Start checking in the background: now (startup never waits) and daily.
pub fn start(shell: &Shell) {
    let config = app_config();
    tracing::info!("Homeline {} running (installed as {:?})", config.version, BundleType::from_env());
    let prefs_path = config_dir(&config.identifier).map(|d| d.join("update.json"));
    let prefs = prefs_path.as_deref().map(read_prefs).unwrap_or_default();
    let updates = Updates {
        view: Mutex::new(UpdateView::Idle),
        pending: tokio::sync::Mutex::new(None),
        prefs: Mutex::new(prefs),
        prefs_path,
        config,
    };
    if UPDATES.set(updates).is_err() {
        return tracing::warn!("update checks already started");
    }
    let shell = shell.clone();
    shell.clone().spawn(async move {
        loop {
            check(&shell).await;
            tokio::time::sleep(CHECK_EVERY).await;
        }
    });
}

async fn check(shell: &Shell) {
    let Some(updates) = UPDATES.get() else { return };
    let Some(endpoints) = endpoints(&updates.config.updater) else {
        tracing::info!("no update server or key in this build: not checking for updates");
        return;
    };
    if !matches!(*lock(&updates.view), UpdateView::Idle) {
        return; // an offer is already on screen or in progress
    }
    if let Err(e) = check_transport(&endpoints, &updates.config.updater) {
        return tracing::warn!("update check not started: {e}");
    }
    let found = tokio::time::timeout(CHECK_TIMEOUT * 2, fetch_update(&updates.config, &endpoints, BundleType::from_env())).await;
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
        current: update.current.clone(),
        notes: update.notes.clone().unwrap_or_default(),
    };
    *updates.pending.lock().await = Some(update);
    updates.set(shell, view);
}

/// What the banner shows now (the window asks when it opens).
pub fn status() -> UpdateView {
    UPDATES.get().map(|u| lock(&u.view).clone()).unwrap_or_default()
}

/// "Remind me later": no banner for a day.
pub fn later(shell: &Shell) {
    let Some(updates) = UPDATES.get() else { return };
    remind_later(&mut lock(&updates.prefs), now_secs());
    updates.save_prefs();
    updates.set(shell, UpdateView::Idle);
}

/// "Skip this version": that version is never offered again.
pub fn skip(shell: &Shell) {
    let Some(updates) = UPDATES.get() else { return };
    if let UpdateView::Available { version, .. } = lock(&updates.view).clone() {
        skip_version(&mut lock(&updates.prefs), &version);
    }
    updates.save_prefs();
    updates.set(shell, UpdateView::Idle);
}

/// "Install and restart": runs in the background, progress by events.
pub fn install(shell: &Shell) {
    let task_shell = shell.clone();
    shell.spawn(async move { install_now(&task_shell).await });
}

async fn install_now(shell: &Shell) {
    let Some(updates) = UPDATES.get() else { return };
    let Some(found) = updates.pending.lock().await.take() else { return };
    let version = found.version.clone();
    let route = install_route(BundleType::from_env(), running_as_root(), on_path("pkexec"));
    if route == InstallRoute::PackageManager {
        return updates.set(shell, UpdateView::Failed { version, message: PACKAGE_MANAGER_MESSAGE.into() });
    }
    updates.set(shell, UpdateView::Downloading { version: version.clone(), downloaded: 0, total: None });
    let mut last_shown = Instant::now();
    let bytes = download(&updates.config.updater, &found, |downloaded, total| {
        if last_shown.elapsed() >= PROGRESS_EVERY || total == Some(downloaded) {
            last_shown = Instant::now();
            updates.set(shell, UpdateView::Downloading { version: version.clone(), downloaded, total });
        }
    })
    .await;
    let bytes = match bytes {
        Ok(bytes) => bytes,
        Err(e) => {
            tracing::warn!("update {version} refused: {e}");
            return updates.set(shell, UpdateView::Failed { version, message: describe(&e) });
        }
    };
    // Verified. Never replace the app under a call: wait for it to end.
    let mut waiting_since = None;
    while !may_install_now(&shell.engine().calls().await.into_iter().map(|c| c.state).collect::<Vec<_>>()) {
        if waiting_since.is_none() {
            tracing::info!("update {version} verified: a call is in progress, installing when it ends");
            waiting_since = Some(Instant::now());
        }
        if !matches!(*lock(&updates.view), UpdateView::WaitingForCall { .. }) {
            updates.set(shell, UpdateView::WaitingForCall { version: version.clone() });
        }
        tokio::time::sleep(CALL_POLL).await;
    }
    if let Some(since) = waiting_since {
        tracing::info!("the call ended: installing update {version} (it waited {:.0?})", since.elapsed());
    }
    updates.set(shell, UpdateView::Installing { version: version.clone() });
    let installed = match route {
        InstallRoute::Package { program, args, pkexec } => {
            tokio::task::spawn_blocking(move || install_package(&bytes, program, args, pkexec))
                .await
                .unwrap_or_else(|e| Err(e.to_string()))
        }
        InstallRoute::PackageManager => Err(PACKAGE_MANAGER_MESSAGE.into()),
    };
    match installed {
        Ok(()) => {
            tracing::info!("update {version} installed: restarting");
            shell.restart();
        }
        Err(message) => {
            tracing::warn!("update {version} not installed: {message}");
            updates.set(shell, UpdateView::Failed { version, message });
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
        skip_version(&mut prefs, "0.2.0");
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
        // Not built by this project: updated the way it was installed.
        assert_eq!(install_route(Some(BundleType::AppImage), true, true), InstallRoute::PackageManager);
    }

    #[test]
    fn the_bundle_type_comes_from_the_window_process() {
        assert_eq!(BundleType::parse("deb"), Some(BundleType::Deb));
        assert_eq!(BundleType::parse("RPM"), Some(BundleType::Rpm));
        assert_eq!(BundleType::parse("appimage"), Some(BundleType::AppImage));
        assert_eq!(BundleType::parse(""), None);
        assert_eq!(BundleType::parse("msi"), None);
    }

    #[test]
    fn a_bad_signature_is_explained() {
        let e = UpdateError::Signature("Invalid signature".into());
        assert!(describe(&e).contains("not signed"));
        let e = UpdateError::SignedVersionMismatch { signed: "0.1.0".into(), announced: "0.2.0".into() };
        assert!(describe(&e).contains("not signed"));
        assert!(describe(&UpdateError::Network("connection refused".into())).contains("could not be downloaded"));
    }

    #[test]
    fn choices_survive_a_restart() {
        let dir = std::env::temp_dir().join(format!("homeline-update-prefs-{}", std::process::id()));
        let path = dir.join("update.json");
        let mut prefs = UpdatePrefs::default();
        skip_version(&mut prefs, "0.2.0");
        write_atomically(&path, &prefs).unwrap();
        assert_eq!(read_prefs(&path), prefs);
        assert!(!dir.join("update.json.tmp").exists(), "the temporary file stayed");
        std::fs::write(&path, b"not json").unwrap();
        assert_eq!(read_prefs(&path), UpdatePrefs::default());
        let _ = std::fs::remove_dir_all(dir);
    }

    // ---- the manifest ----

    /// What scripts/release.sh writes for a deb+rpm release.
    const STATIC_MANIFEST: &str = r#"{
      "version": "0.2.0",
      "notes": "Calls survive a network change.",
      "pub_date": "2025-11-25T17:26:00Z",
      "platforms": {
        "linux-x86_64-deb": { "signature": "c2lnLWRlYg==", "url": "https://dl.example.com/homeline/Homeline_0.2.0_amd64.deb" },
        "linux-x86_64-rpm": { "signature": "c2lnLXJwbQ==", "url": "https://dl.example.com/homeline/Homeline-0.2.0-1.x86_64.rpm" },
        "linux-x86_64": { "signature": "c2lnLWFp", "url": "https://dl.example.com/homeline/Homeline_0.2.0_amd64.AppImage" }
      }
    }"#;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn keys(bundle: Option<BundleType>) -> Vec<String> {
        platform_keys("linux", "x86_64", bundle)
    }

    #[test]
    fn the_manifest_of_every_platform_gives_each_installation_its_package() {
        let release = parse_release(STATIC_MANIFEST.as_bytes()).unwrap();
        assert_eq!(release.version, v("0.2.0"));
        assert_eq!(release.notes.as_deref(), Some("Calls survive a network change."));
        assert_eq!(keys(Some(BundleType::Deb)), ["linux-x86_64-deb", "linux-x86_64"]);
        let deb = found_update(&release, &v("0.1.0"), &keys(Some(BundleType::Deb)), false).unwrap().unwrap();
        assert_eq!(deb.version, "0.2.0");
        assert_eq!(deb.current, "0.1.0");
        assert!(deb.package.url.as_str().ends_with(".deb"), "{}", deb.package.url);
        assert_eq!(deb.package.signature, "c2lnLWRlYg==");
        let rpm = found_update(&release, &v("0.1.0"), &keys(Some(BundleType::Rpm)), false).unwrap().unwrap();
        assert!(rpm.package.url.as_str().ends_with(".rpm"));
        // Unknown installation: the plain os-arch entry.
        let plain = found_update(&release, &v("0.1.0"), &keys(None), false).unwrap().unwrap();
        assert!(plain.package.url.as_str().ends_with(".AppImage"));
    }

    #[test]
    fn a_deb_install_never_gets_another_kind_of_package() {
        // Only the rpm published: the deb install finds nothing (and says so).
        let manifest = r#"{"version": "0.2.0", "platforms": {
            "linux-x86_64-rpm": { "signature": "x", "url": "https://dl.example.com/h.rpm" } }}"#;
        let release = parse_release(manifest.as_bytes()).unwrap();
        let e = found_update(&release, &v("0.1.0"), &keys(Some(BundleType::Deb)), false).unwrap_err();
        assert_eq!(e, UpdateError::NoPackage(vec!["linux-x86_64-deb".into(), "linux-x86_64".into()]));
        assert!(describe(&e).contains("no package for this kind of installation"));
    }

    #[test]
    fn the_single_platform_manifest_is_read_too() {
        let manifest = r#"{"version": "v0.3.0", "notes": "n", "url": "https://dl.example.com/h.deb", "signature": "c2ln"}"#;
        let release = parse_release(manifest.as_bytes()).unwrap();
        let found = found_update(&release, &v("0.1.0"), &keys(Some(BundleType::Deb)), false).unwrap().unwrap();
        assert_eq!(found.version, "0.3.0");
        assert_eq!(found.package.url.as_str(), "https://dl.example.com/h.deb");
        assert_eq!(found.package.signature, "c2ln");
        // `name` is the plugin's other spelling of `version`; no notes is fine.
        let release = parse_release(br#"{"name": "0.3.0", "url": "https://x/h.deb", "signature": "s"}"#).unwrap();
        assert_eq!((release.version, release.notes), (v("0.3.0"), None));
    }

    #[test]
    fn the_same_or_an_older_version_is_no_update() {
        let release = parse_release(STATIC_MANIFEST.as_bytes()).unwrap();
        assert_eq!(found_update(&release, &v("0.2.0"), &keys(Some(BundleType::Deb)), false).unwrap(), None);
        assert_eq!(found_update(&release, &v("0.3.0"), &keys(Some(BundleType::Deb)), false).unwrap(), None);
        // Semver, not text: 0.10.0 is newer than 0.9.0.
        let release = parse_release(br#"{"version": "0.10.0", "url": "https://x/h.deb", "signature": "s"}"#).unwrap();
        assert!(found_update(&release, &v("0.9.0"), &keys(None), false).unwrap().is_some());
        // Not an update: no error even without a package for us.
        let rpm_only = r#"{"version": "0.1.0", "platforms": {"linux-x86_64-rpm": {"signature": "x", "url": "https://x/h.rpm"}}}"#;
        let release = parse_release(rpm_only.as_bytes()).unwrap();
        assert_eq!(found_update(&release, &v("0.1.0"), &keys(Some(BundleType::Deb)), false).unwrap(), None);
        // allowDowngrades: any other version.
        let release = parse_release(STATIC_MANIFEST.as_bytes()).unwrap();
        assert!(found_update(&release, &v("0.3.0"), &keys(Some(BundleType::Deb)), true).unwrap().is_some());
    }

    #[test]
    fn a_bad_manifest_is_an_error_in_words() {
        let words = |body: &str| parse_release(body.as_bytes()).unwrap_err().to_string();
        let e = words("<html>Not Found</html>");
        assert!(e.contains("not an update manifest"), "{e}");
        let e = words(r#"{"notes": "no version"}"#);
        assert!(e.contains("version"), "{e}");
        let e = words(r#"{"version": "soon", "url": "https://x/h.deb", "signature": "s"}"#);
        assert!(e.contains("not a version number"), "{e}");
        let e = words(r#"{"version": "0.2.0", "signature": "s"}"#);
        assert!(e.contains("`url` field was not set"), "{e}");
        let e = words(r#"{"version": "0.2.0", "url": "https://x/h.deb"}"#);
        assert!(e.contains("`signature` field was not set"), "{e}");
        let e = words(r#"{"version": "0.2.0", "url": "not a url", "signature": "s"}"#);
        assert!(e.contains("not a URL"), "{e}");
        let e = words(r#"{"version": "0.2.0", "pub_date": "yesterday", "url": "https://x/h.deb", "signature": "s"}"#);
        assert!(e.contains("pub_date"), "{e}");
    }

    #[test]
    fn pub_date_is_rfc3339() {
        for ok in ["2025-11-25T17:26:00Z", "2025-11-25T17:26:00.123Z", "2025-11-25T17:26:00+01:00", "2025-11-25 17:26:00-05:30"] {
            assert!(looks_like_rfc3339(ok), "{ok}");
        }
        for bad in ["2025-11-25", "2025-11-25T17:26Z", "2025-11-25T17:26:00", "2025-11-25T17:26:00.Z", "25-11-2025T17:26:00Z"] {
            assert!(!looks_like_rfc3339(bad), "{bad}");
        }
    }

    #[test]
    fn endpoint_variables_are_filled_in() {
        let endpoint = Url::parse("https://dl.example.com/{{target}}/{{arch}}/{{current_version}}?kind={{bundle_type}}").unwrap();
        let url = endpoint_url(&endpoint, &v("0.1.0+build.7"), "linux", "x86_64", Some(BundleType::Deb)).unwrap();
        assert_eq!(url.as_str(), "https://dl.example.com/linux/x86_64/0.1.0%2Bbuild.7?kind=deb");
        let url = endpoint_url(&endpoint, &v("0.1.0"), "linux", "x86_64", None).unwrap();
        assert_eq!(url.as_str(), "https://dl.example.com/linux/x86_64/0.1.0?kind=unknown");
        let plain = Url::parse("http://127.0.0.1:8080/latest.json").unwrap();
        assert_eq!(endpoint_url(&plain, &v("0.1.0"), "linux", "x86_64", None).unwrap(), plain);
    }

    // ---- the signature ----
    //
    // A throwaway key pair made once with `tauri signer generate` (its secret
    // key was deleted); the package signed with `tauri signer sign
    // --app-version 0.2.0` and, for the second signature, without a version.

    const PUBKEY: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IG1pbmlzaWduIHB1YmxpYyBrZXk6IERDMjc4OUQ0OUM1M0Y4M0EKUldRNitGT2MxSWtuM055UnE5dEROR0JKb0xRenkrU2N0aEE4RG5pYmdpemNramQ3eEhPZGk1aHcK";
    const PACKAGE: &[u8] = b"Homeline 0.2.0 package bytes\n";
    /// Trusted comment `timestamp:…\tfile:pkg.deb\tversion:0.2.0`.
    const SIGNATURE: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZSBmcm9tIHRhdXJpIHNlY3JldCBrZXkKUlVRNitGT2MxSWtuM0hQUWRXQ0dZU1R1dFFEV0p1UmE3dnloTTVwMXNVanorRUU3dUtCRWJXZlZDZDZObzhlckY0QlVUOU1Jd01TbzNrOUZvd1JpaFVHM1YyTUI2Zjl4M0F3PQp0cnVzdGVkIGNvbW1lbnQ6IHRpbWVzdGFtcDoxNzk1NjgwNDY2CWZpbGU6cGtnLmRlYgl2ZXJzaW9uOjAuMi4wCjhqN3V2TG14Z2dlTTZTbUpuckVaVS9qM1hhcHBiVm8zTkhjejgvQUxHdHhmWDk5VUgrNmlhcHU4YlRUbXQzc25MZ2k1L0QrTG5oYW9nMlYzZUprVkNRPT0K";
    /// Trusted comment `timestamp:…\tfile:pkg2.deb` (no version).
    const SIGNATURE_WITHOUT_VERSION: &str = "dW50cnVzdGVkIGNvbW1lbnQ6IHNpZ25hdHVyZSBmcm9tIHRhdXJpIHNlY3JldCBrZXkKUlVRNitGT2MxSWtuM0VZTG5ZZHZkS1RGS044KzJOVUQxd3FaaFZwSnI4MXppeVN3ZThvWmsrMVkvSm8xRHFyZ3R5elVmWjJJa21GeGkvR0VZRit0VUJwbmZNVXAycDNzY2d3PQp0cnVzdGVkIGNvbW1lbnQ6IHRpbWVzdGFtcDoxNzk1NjgwNDY2CWZpbGU6cGtnMi5kZWIKc3FDTXdHYm5HdzRUQUlIWWpvdVB2S0dlS2plNVJmUjZnRUY4ZVk4MVg1QmljazdsMkVUZzNSZjRkV3F5aERQaGZqY3VZYWNFVkdmRmw0cXVxaGJFQXc9PQo=";

    #[test]
    fn a_package_signed_by_the_publisher_is_accepted() {
        verify_signature(PACKAGE, SIGNATURE, PUBKEY, "0.2.0", false).unwrap();
        verify_signature(PACKAGE, SIGNATURE, PUBKEY, "v0.2.0", true).unwrap();
        // The .pub file's text with its newline, as a file path would give it.
        verify_signature(PACKAGE, SIGNATURE, &format!("{PUBKEY}\n"), "0.2.0", false).unwrap();
        verify_signature(PACKAGE, SIGNATURE_WITHOUT_VERSION, PUBKEY, "0.2.0", false).unwrap();
    }

    #[test]
    fn a_tampered_package_is_refused() {
        for i in [0, PACKAGE.len() / 2, PACKAGE.len() - 1] {
            let mut tampered = PACKAGE.to_vec();
            tampered[i] ^= 0x01;
            let e = verify_signature(&tampered, SIGNATURE, PUBKEY, "0.2.0", false).unwrap_err();
            assert!(matches!(e, UpdateError::Signature(_)), "byte {i}: {e:?}");
            assert!(describe(&e).contains("not signed"), "{}", describe(&e));
        }
        let mut longer = PACKAGE.to_vec();
        longer.push(0);
        assert!(verify_signature(&longer, SIGNATURE, PUBKEY, "0.2.0", false).is_err());
    }

    #[test]
    fn another_key_or_a_broken_signature_is_refused() {
        // minisign-verify's own test key: a different key id.
        let other_key = "dW50cnVzdGVkIGNvbW1lbnQ6IG1pbmlzaWduIHB1YmxpYyBrZXkKUldRZjZMUkNHQTlpNTNtbFllY080SXpUNTFUR1Bwdld1Y05TQ2gxQ0JNMFFUYUxuNzNZN0dGTzMK";
        let e = verify_signature(PACKAGE, SIGNATURE, other_key, "0.2.0", false).unwrap_err();
        assert!(matches!(e, UpdateError::Signature(_)), "{e:?}");
        for broken in ["", "not base64!", "aGVsbG8=", "/w=="] {
            let e = verify_signature(PACKAGE, broken, PUBKEY, "0.2.0", false).unwrap_err();
            assert!(matches!(e, UpdateError::Signature(_)), "{broken:?}: {e:?}");
        }
    }

    #[test]
    fn a_signature_for_another_version_is_refused() {
        let e = verify_signature(PACKAGE, SIGNATURE, PUBKEY, "0.3.0", false).unwrap_err();
        assert_eq!(e, UpdateError::SignedVersionMismatch { signed: "0.2.0".into(), announced: "0.3.0".into() });
        assert_eq!(
            verify_signature(PACKAGE, SIGNATURE_WITHOUT_VERSION, PUBKEY, "0.2.0", true).unwrap_err(),
            UpdateError::MissingSignedVersion
        );
    }

    // ---- over HTTP (a loopback server) ----

    /// Serves `routes` (path → status, body) on a free loopback port, one
    /// request per connection, until the test ends.
    fn serve(routes: Vec<(&'static str, u16, Vec<u8>)>) -> String {
        use std::io::{BufRead, BufReader, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut request = String::new();
                let _ = reader.read_line(&mut request);
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                    line.clear();
                }
                let path = request.split_whitespace().nth(1).unwrap_or("/").to_owned();
                let (status, body) =
                    routes.iter().find(|(p, _, _)| *p == path).map_or((404, Vec::new()), |(_, s, b)| (*s, b.clone()));
                let head = format!("HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
                let _ = stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(&body));
            }
        });
        base
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    fn test_config(version: &str) -> AppConfig {
        AppConfig {
            version: version.into(),
            identifier: "app.homeline.softphone".into(),
            updater: UpdaterConfig { pubkey: PUBKEY.into(), dangerous_insecure_transport_protocol: true, ..UpdaterConfig::default() },
        }
    }

    fn manifest(base: &str) -> Vec<u8> {
        serde_json::json!({
            "version": "0.2.0",
            "notes": "Calls survive a network change.",
            "pub_date": "2025-11-25T17:26:00Z",
            "platforms": { "linux-x86_64-deb": { "signature": SIGNATURE, "url": format!("{base}/pkg.deb") } }
        })
        .to_string()
        .into_bytes()
    }

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn a_signed_update_is_found_downloaded_and_verified() {
        if updater_arch() != Some("x86_64") {
            return; // the manifest above is for x86_64
        }
        let rt = runtime();
        let good = serve(vec![]);
        let base = serve(vec![("/latest.json", 200, manifest(&good)), ("/pkg.deb", 200, PACKAGE.to_vec())]);
        let config = test_config("0.1.0");
        let found = rt
            .block_on(fetch_update(&config, &[url(&format!("{base}/latest.json"))], Some(BundleType::Deb)))
            .unwrap()
            .unwrap();
        assert_eq!((found.version.as_str(), found.current.as_str()), ("0.2.0", "0.1.0"));
        assert_eq!(found.notes.as_deref(), Some("Calls survive a network change."));
        // The package is on the manifest's server: point the entry at it.
        let found = Found { package: Package { url: url(&format!("{base}/pkg.deb")), ..found.package }, ..found };
        let mut seen = Vec::new();
        let bytes = rt.block_on(download(&config.updater, &found, |done, total| seen.push((done, total)))).unwrap();
        assert_eq!(bytes, PACKAGE);
        assert_eq!(seen.last(), Some(&(PACKAGE.len() as u64, Some(PACKAGE.len() as u64))));
        // Already on 0.2.0: up to date.
        let none = rt.block_on(fetch_update(&test_config("0.2.0"), &[url(&format!("{base}/latest.json"))], Some(BundleType::Deb)));
        assert_eq!(none, Ok(None));
    }

    #[test]
    fn a_tampered_download_is_refused() {
        let rt = runtime();
        let mut tampered = PACKAGE.to_vec();
        tampered[PACKAGE.len() / 2] ^= 0xff;
        let base = serve(vec![("/pkg.deb", 200, tampered)]);
        let found = Found {
            version: "0.2.0".into(),
            current: "0.1.0".into(),
            notes: None,
            package: Package { url: url(&format!("{base}/pkg.deb")), signature: SIGNATURE.into() },
        };
        let e = rt.block_on(download(&test_config("0.1.0").updater, &found, |_, _| {})).unwrap_err();
        assert!(describe(&e).contains("not signed"), "{e}");
        // A package the server lost: a download failure, not a signature one.
        let gone = Found { package: Package { url: url(&format!("{base}/gone.deb")), ..found.package.clone() }, ..found };
        let e = rt.block_on(download(&test_config("0.1.0").updater, &gone, |_, _| {})).unwrap_err();
        assert!(matches!(e, UpdateError::Network(_)), "{e:?}");
        assert!(e.to_string().contains("404"), "{e}");
    }

    #[test]
    fn what_the_server_says_when_there_is_nothing() {
        let rt = runtime();
        let base = serve(vec![("/none.json", 204, Vec::new()), ("/html", 200, b"<html>".to_vec())]);
        let config = test_config("0.1.0");
        let check = |path: &str| rt.block_on(fetch_update(&config, &[url(&format!("{base}{path}"))], Some(BundleType::Deb)));
        assert_eq!(check("/none.json"), Ok(None), "204 = up to date");
        assert_eq!(check("/missing.json"), Err(UpdateError::ReleaseNotFound));
        let e = check("/html").unwrap_err();
        assert!(e.to_string().contains("not an update manifest"), "{e}");
        // The first endpoint that answers with a manifest wins.
        let both = [url(&format!("{base}/missing.json")), url(&format!("{base}/none.json"))];
        assert_eq!(rt.block_on(fetch_update(&config, &both, Some(BundleType::Deb))), Ok(None));
        // Nobody listening: a network error, in words.
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let e = rt.block_on(fetch_update(&config, &[url(&format!("http://127.0.0.1:{port}/latest.json"))], None)).unwrap_err();
        assert!(matches!(e, UpdateError::Network(_)), "{e:?}");
    }

    // ---- configuration ----

    #[test]
    fn the_build_config_overlays_the_file() {
        let file = r#"{"identifier": "app.homeline.softphone", "plugins": {"updater": {"pubkey": "", "endpoints": []}, "deep-link": {}}}"#;
        let plain = config_from(file, None);
        assert_eq!(plain.version, homeline_phone::VERSION);
        assert_eq!(plain.identifier, "app.homeline.softphone");
        assert_eq!(endpoints(&plain.updater), None, "a build without a key checks nothing");
        // What scripts/release.sh passes with --config (tests add a version and plain HTTP).
        let overlay = r#"{"version": "0.1.1", "plugins": {"updater": {"pubkey": "a2V5", "endpoints": ["https://dl.example.com/homeline/latest.json"], "dangerousInsecureTransportProtocol": true}}}"#;
        let built = config_from(file, Some(overlay));
        assert_eq!(built.version, "0.1.1");
        assert_eq!(built.updater.pubkey, "a2V5");
        assert!(built.updater.dangerous_insecure_transport_protocol);
        assert_eq!(built.updater.endpoints, ["https://dl.example.com/homeline/latest.json"]);
        // A merge patch: null removes, the rest stays.
        let mut value = serde_json::json!({"a": {"b": 1, "c": 2}, "d": [1]});
        merge_patch(&mut value, &serde_json::json!({"a": {"b": null, "e": 3}, "d": [2]}));
        assert_eq!(value, serde_json::json!({"a": {"c": 2, "e": 3}, "d": [2]}));
    }

    #[test]
    fn the_repository_config_parses() {
        let config = app_config();
        assert!(!config.identifier.is_empty());
        assert!(Version::parse(config.version.trim_start_matches('v')).is_ok(), "{}", config.version);
    }

    #[test]
    fn plain_http_needs_the_builds_permission() {
        let urls = [Url::parse("http://127.0.0.1:9/latest.json").unwrap()];
        let allowed = UpdaterConfig { dangerous_insecure_transport_protocol: true, ..UpdaterConfig::default() };
        assert_eq!(check_transport(&urls, &allowed), Ok(()));
        let strict = UpdaterConfig::default();
        assert_eq!(check_transport(&urls, &strict).is_err(), !cfg!(debug_assertions));
        assert_eq!(check_transport(&[Url::parse("https://x/latest.json").unwrap()], &strict), Ok(()));
    }

    #[test]
    fn choices_stay_where_tauri_kept_them() {
        // config_dir reads the environment: compare with what it is now.
        let expected = std::env::var_os("XDG_CONFIG_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
            .map(|d| d.join("app.homeline.softphone"));
        assert_eq!(config_dir("app.homeline.softphone"), expected);
    }
}
