//! The desktop shell's own preferences (`desktop.toml` beside the engine's
//! settings; no secret ever): start minimised, start at login, notifications,
//! global shortcuts, whether the microphone's use was explained.
//! The engine knows nothing of windows, so these live here.

use std::sync::Mutex;

use homeline_phone::{EngineError, ErrorCode};
use homeline_store::{AppDirs, SettingsFile};
use serde::{Deserialize, Serialize};

use crate::shortcuts::Shortcuts;

/// Passed by the login item: start in the tray.
pub const MINIMISED_ARG: &str = "--minimised";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct DesktopPrefs {
    /// Open in the tray, without the window.
    pub start_minimised: bool,
    /// Start with the session (the OS's login items).
    pub start_at_login: bool,
    /// Desktop notifications for incoming and missed calls.
    pub notifications: bool,
    /// Global shortcuts (empty: off, the default).
    pub shortcuts: Shortcuts,
    /// A clicked `tel:`/`sip:` link only fills the dialer (true, the default)
    /// or is dialed at once (false). See `link_call`.
    pub ask_before_link_call: bool,
    /// The window has explained why Homeline uses the microphone (shown once,
    /// before or at its first use). Files written before it existed read false.
    pub mic_explained: bool,
}

impl Default for DesktopPrefs {
    fn default() -> Self {
        Self { start_minimised: false, start_at_login: false, notifications: true, shortcuts: Shortcuts::default(), ask_before_link_call: true, mic_explained: false }
    }
}

/// The preferences and where they are saved (`None`: no home folder, memory only).
pub struct Prefs {
    file: Option<SettingsFile>,
    current: Mutex<DesktopPrefs>,
}

impl Prefs {
    pub fn load(dirs: Option<&AppDirs>) -> Self {
        let file = dirs.map(|d| SettingsFile::new(d.config().join("desktop.toml")));
        let current = file.as_ref().map(|f| f.load::<DesktopPrefs>()).map(|l| {
            if let Some(w) = l.warning {
                tracing::warn!("{w}");
            }
            l.value
        });
        Self { file, current: Mutex::new(current.unwrap_or_default()) }
    }

    pub fn get(&self) -> DesktopPrefs {
        self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    pub fn set(&self, prefs: DesktopPrefs) -> Result<(), EngineError> {
        if let Some(file) = &self.file {
            file.save(&prefs).map_err(|e| EngineError::new(ErrorCode::Settings, format!("Your preferences were not saved: {e}.")))?;
        }
        *self.current.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = prefs;
        Ok(())
    }
}

/// Start hidden: asked for in the preferences or by the login item.
pub fn start_hidden(prefs: &DesktopPrefs, args: &[String]) -> bool {
    prefs.start_minimised || args.iter().any(|a| a == MINIMISED_ARG)
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AboutInfo {
    pub version: String,
    pub log_folder: Option<String>,
    pub data_folder: Option<String>,
}

pub fn about_info() -> AboutInfo {
    let dirs = AppDirs::for_user();
    AboutInfo {
        version: homeline_phone::VERSION.into(),
        log_folder: dirs.as_ref().map(|d| d.logs().display().to_string()),
        data_folder: dirs.as_ref().map(|d| d.data().display().to_string()),
    }
}

/// The preferences as the shell reads them at start.
#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    /// A file in a fresh folder of its own under the system's temp folder.
    fn temp_file(name: &str) -> (std::path::PathBuf, SettingsFile) {
        let dir = std::env::temp_dir().join(format!("homeline-prefs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp folder");
        let file = SettingsFile::new(dir.join("desktop.toml"));
        (dir, file)
    }

    #[test]
    fn a_file_from_before_the_microphone_explanation_still_loads() {
        let (dir, file) = temp_file("old");
        let old = "startMinimised = true\nstartAtLogin = false\nnotifications = false\n\n[shortcuts]\nanswer = \"Ctrl+Alt+A\"\nhangUp = \"\"\nmute = \"\"\n";
        std::fs::write(dir.join("desktop.toml"), old).expect("write the old file");
        let loaded = file.load::<DesktopPrefs>();
        assert!(loaded.warning.is_none(), "{:?}", loaded.warning);
        let prefs = loaded.value;
        assert!(prefs.start_minimised && !prefs.notifications, "the old values are kept: {prefs:?}");
        assert_eq!(prefs.shortcuts.answer, "Ctrl+Alt+A");
        assert!(!prefs.mic_explained, "not explained yet");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_microphone_explanation_is_remembered() {
        let (dir, file) = temp_file("new");
        let prefs = DesktopPrefs { mic_explained: true, ..DesktopPrefs::default() };
        file.save(&prefs).expect("save");
        let text = std::fs::read_to_string(dir.join("desktop.toml")).expect("read");
        assert!(text.contains("micExplained = true"), "{text}");
        assert_eq!(file.load::<DesktopPrefs>().value, prefs);
        let _ = std::fs::remove_dir_all(dir);
    }
}
