//! The engine's settings, as stored in `settings.toml` (never a secret here:
//! passwords live in the keychain, filed under the account id).

use homeline_sip::Account;
use serde::{Deserialize, Serialize};

/// Bump when the layout changes, and migrate in [`Settings::migrate`].
pub const SETTINGS_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Settings {
    #[serde(default = "current_version")]
    pub version: u32,
    /// RFC 5626 `+sip.instance`: one UUID per install, kept across restarts so
    /// the registrar replaces our old binding instead of adding another.
    #[serde(default)]
    pub instance_id: String,
    #[serde(default)]
    pub default_account: Option<String>,
    #[serde(default)]
    pub do_not_disturb: bool,
    // Plain values before tables: TOML cannot write a value after a table.
    /// The codecs calls offer and accept, most preferred first (`opus`,
    /// `pcmu`, `pcma`); empty: all three in that order. Read at start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub codecs: Vec<String>,
    #[serde(default)]
    pub accounts: Vec<AccountEntry>,
    /// Voice processing on the microphone.
    #[serde(default)]
    pub audio: AudioSettings,
    /// The microphone, speaker and ringer chosen, and the ringtone (`[devices]`).
    #[serde(default, skip_serializing_if = "AudioDevices::is_empty")]
    pub devices: AudioDevices,
}

/// Which devices calls and the ringer use, each role an ordered preference: device ids
/// (from the device list) most preferred first; the first one present is used, and a
/// preferred one that comes back is used again. Empty (or `"default"`): the system default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioDevices {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub output: Vec<String>,
    /// Where incoming calls ring (a separate output: loudspeakers while the headset is on).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ringer: Vec<String>,
    /// A WAV file played for incoming calls; `None`: the generated ring.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ringtone: Option<std::path::PathBuf>,
}

impl AudioDevices {
    pub fn is_empty(&self) -> bool {
        self == &AudioDevices::default()
    }
}

/// The microphone's voice processing; each switch on unless the user turned it off.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AudioSettings {
    pub echo_cancellation: bool,
    pub noise_suppression: bool,
    pub auto_gain: bool,
}

impl Default for AudioSettings {
    fn default() -> Self {
        Self { echo_cancellation: true, noise_suppression: true, auto_gain: true }
    }
}

impl From<AudioSettings> for homeline_media::processing::ProcessingSettings {
    fn from(a: AudioSettings) -> Self {
        Self { echo_cancellation: a.echo_cancellation, noise_suppression: a.noise_suppression, auto_gain: a.auto_gain }
    }
}

fn current_version() -> u32 {
    SETTINGS_VERSION
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            version: SETTINGS_VERSION,
            instance_id: String::new(),
            default_account: None,
            do_not_disturb: false,
            accounts: Vec::new(),
            audio: AudioSettings::default(),
            codecs: Vec::new(),
            devices: AudioDevices::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AccountEntry {
    /// `user@domain`, also the keychain entry's name.
    pub id: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(flatten)]
    pub account: Account,
    /// The account's STUN/TURN servers (its TURN password is in the keychain).
    #[serde(default, skip_serializing_if = "AccountNetwork::is_empty")]
    pub network: AccountNetwork,
}

/// STUN and TURN for one account, as its administrator gave them. None is
/// added behind the user's back.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountNetwork {
    /// `stun:host[:port]`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stun: Option<String>,
    /// `turn:host[:port][?transport=udp|tcp]`
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub turn_user: Option<String>,
}

impl AccountNetwork {
    pub fn is_empty(&self) -> bool {
        self == &AccountNetwork::default()
    }

    /// Checks what a person typed; the error says what is wrong.
    pub fn validate(&self) -> Result<(), String> {
        let ok = |url: &Option<String>, schemes: &[&str]| {
            url.as_deref().is_none_or(|u| schemes.iter().any(|s| u.starts_with(s)) && u.len() > 6 && u.len() < 300 && !u.contains(char::is_whitespace))
        };
        if !ok(&self.stun, &["stun:"]) {
            return Err("A STUN server looks like stun:stun.example.com:3478.".into());
        }
        if !ok(&self.turn, &["turn:", "turns:"]) {
            return Err("A TURN server looks like turn:turn.example.com:3478 (add ?transport=tcp for TURN over TCP).".into());
        }
        if self.turn.is_some() && self.turn_user.as_deref().is_none_or(str::is_empty) {
            return Err("The TURN server needs a user name.".into());
        }
        Ok(())
    }
}

fn yes() -> bool {
    true
}

impl Settings {
    /// Bring settings written by an older version up to date; fill what is missing.
    pub fn migrate(&mut self) {
        self.version = SETTINGS_VERSION;
        if self.instance_id.trim().is_empty() {
            self.instance_id = uuid::Uuid::new_v4().to_string();
        }
        // A default that no longer exists falls back to the first account.
        let has_default = self.default_account.as_ref().is_some_and(|d| self.accounts.iter().any(|a| &a.id == d));
        if !has_default {
            self.default_account = self.accounts.first().map(|a| a.id.clone());
        }
    }

    pub fn account(&self, id: &str) -> Option<&AccountEntry> {
        self.accounts.iter().find(|a| a.id == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrate_fills_instance_id_and_default_account() {
        let mut s: Settings = toml::from_str(
            "[[accounts]]\nid = \"alice@pbx.test\"\naddress = \"alice@pbx.test\"\nserver = \"wss://pbx.test\"\n",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        s.migrate();
        assert_eq!(s.version, SETTINGS_VERSION);
        assert_eq!(s.instance_id.len(), 36);
        assert_eq!(s.default_account.as_deref(), Some("alice@pbx.test"));
        assert!(s.accounts[0].enabled);
        let id = s.instance_id.clone();
        s.migrate();
        assert_eq!(s.instance_id, id, "the instance id is stable");
        assert_eq!(s.audio, AudioSettings::default(), "voice processing is on unless turned off");
    }

    #[test]
    fn the_codec_order_is_a_setting_written_before_the_tables() {
        let mut s = Settings { codecs: vec!["pcmu".into(), "opus".into()], ..Settings::default() };
        s.audio.auto_gain = false;
        let written = toml::to_string(&s).unwrap_or_else(|e| panic!("{e}"));
        let back: Settings = toml::from_str(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(back.codecs, vec!["pcmu", "opus"]);
        assert!(!toml::to_string(&Settings::default()).unwrap_or_default().contains("codecs"), "empty: not written");
    }

    #[test]
    fn device_preferences_and_the_ringtone_round_trip_after_the_other_tables() {
        let mut s = Settings { codecs: vec!["opus".into()], ..Settings::default() };
        s.devices.output = vec!["pulseaudio:headset".into(), "pulseaudio:laptop".into()];
        s.devices.ringtone = Some("/usr/share/sounds/ring.wav".into());
        s.accounts.push(AccountEntry {
            id: "a@b".into(),
            enabled: true,
            account: toml::from_str("address = \"a@b\"\nserver = \"wss://b\"\n").unwrap_or_else(|e| panic!("{e}")),
            network: AccountNetwork::default(),
        });
        let written = toml::to_string(&s).unwrap_or_else(|e| panic!("{e}"));
        assert!(written.contains("[devices]"), "{written}");
        assert!(!written.contains("ringer"), "an empty role is not written: {written}");
        let back: Settings = toml::from_str(&written).unwrap_or_else(|e| panic!("{e}\n{written}"));
        assert_eq!(back.devices, s.devices);
        assert!(!toml::to_string(&Settings::default()).unwrap_or_default().contains("devices"));
    }

    #[test]
    fn one_audio_switch_turned_off_keeps_the_others_on() {
        let s: Settings = toml::from_str("[audio]\nnoise_suppression = false\n").unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.audio, AudioSettings { noise_suppression: false, ..AudioSettings::default() });
        let written = toml::to_string(&s).unwrap_or_else(|e| panic!("{e}"));
        assert!(written.contains("noise_suppression = false"), "{written}");
    }
}
