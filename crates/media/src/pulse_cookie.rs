//! The PulseAudio cookie for cpal's PulseAudio host.
//!
//! cpal talks to PulseAudio (and PipeWire's pipewire-pulse) through the `pulseaudio`
//! crate, which looks for the authentication cookie only at `$PULSE_COOKIE`,
//! `~/.config/pulse/cookie` and `~/.pulse-cookie`. Without one its handshake is refused
//! even by servers that let anyone in (PipeWire, `auth-anonymous=1`), and the app quietly
//! falls back to ALSA: the device list becomes ALSA's plugins ("Rate Converter Plugin
//! Using Libav…") instead of the user's speakers and headsets, and each device watcher
//! re-reads ALSA's configuration at every look (measured: 1.4 % of a core in a call).
//!
//! libpulse keeps the cookie at `$XDG_CONFIG_HOME/pulse/cookie` and creates it when it is
//! missing; [`prepare`] points the crate there, creating it as libpulse would.

use std::io::Write;
use std::path::{Path, PathBuf};

/// The environment variable the `pulseaudio` crate reads first.
pub const COOKIE_ENV: &str = "PULSE_COOKIE";
/// A PulseAudio cookie's size (`PA_NATIVE_COOKIE_LENGTH`).
const COOKIE_LEN: usize = 256;

/// What to do about the cookie, from the environment's values and which files exist.
#[derive(Debug, PartialEq, Eq)]
pub enum CookiePlan {
    /// The `pulseaudio` crate finds one by itself (or there is no home to look in).
    Nothing,
    /// Point `PULSE_COOKIE` at this file, creating it first when `create`.
    Use { path: PathBuf, create: bool },
}

/// The plan for `PULSE_COOKIE`, `HOME` and `XDG_CONFIG_HOME` as given; `exists` says
/// whether a file is there.
pub fn plan(pulse_cookie: Option<&str>, home: Option<&Path>, xdg_config_home: Option<&Path>, exists: impl Fn(&Path) -> bool) -> CookiePlan {
    if pulse_cookie.is_some_and(|v| !v.is_empty()) {
        return CookiePlan::Nothing;
    }
    let Some(home) = home.filter(|h| h.is_absolute()) else { return CookiePlan::Nothing };
    if exists(&home.join(".config/pulse/cookie")) || exists(&home.join(".pulse-cookie")) {
        return CookiePlan::Nothing;
    }
    // libpulse's place: a relative XDG_CONFIG_HOME is ignored, as the XDG spec says.
    let config = xdg_config_home.filter(|p| p.is_absolute()).map_or_else(|| home.join(".config"), Path::to_path_buf);
    let path = config.join("pulse/cookie");
    let create = !exists(&path);
    CookiePlan::Use { path, create }
}

/// Make sure cpal's PulseAudio host can authenticate (see the module's comment). Call it
/// first thing in `main`: it sets an environment variable, so no other thread may run.
/// Failing to write the cookie is not an error: the app then uses ALSA as before.
pub fn prepare() {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    let pulse_cookie = var(COOKIE_ENV).map(|v| v.to_string_lossy().into_owned());
    let home = var("HOME").map(PathBuf::from);
    let config = var("XDG_CONFIG_HOME").map(PathBuf::from);
    match plan(pulse_cookie.as_deref(), home.as_deref(), config.as_deref(), Path::exists) {
        CookiePlan::Nothing => {}
        CookiePlan::Use { path, create } => {
            if create {
                if let Err(e) = create_cookie(&path) {
                    tracing::debug!("no PulseAudio cookie at {} ({e}): PulseAudio may be reached through ALSA", path.display());
                    return;
                }
            }
            std::env::set_var(COOKIE_ENV, &path);
        }
    }
}

/// A fresh random cookie, readable by the user only, as libpulse writes it.
fn create_cookie(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    if let Some(dir) = path.parent() {
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let mut cookie = [0u8; COOKIE_LEN];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom")?, &mut cookie)?;
    // create_new: a cookie another client wrote meanwhile is kept.
    match std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path) {
        Ok(mut file) => file.write_all(&cookie),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &Path) -> bool {
        false
    }

    #[test]
    fn a_cookie_the_crate_finds_or_an_explicit_one_is_left_alone() {
        let home = Path::new("/home/ann");
        assert_eq!(plan(Some("/run/cookie"), Some(home), None, none), CookiePlan::Nothing);
        assert_eq!(plan(None, Some(home), None, |p| p == Path::new("/home/ann/.config/pulse/cookie")), CookiePlan::Nothing);
        assert_eq!(plan(None, Some(home), None, |p| p == Path::new("/home/ann/.pulse-cookie")), CookiePlan::Nothing);
        assert_eq!(plan(None, None, None, none), CookiePlan::Nothing);
        assert_eq!(plan(None, Some(Path::new("relative")), None, none), CookiePlan::Nothing);
    }

    #[test]
    fn libpulses_cookie_under_xdg_config_home_is_used_and_made_when_missing() {
        let home = Path::new("/home/ann");
        let xdg = Path::new("/data/conf");
        let theirs = Path::new("/data/conf/pulse/cookie");
        assert_eq!(plan(None, Some(home), Some(xdg), |p| p == theirs), CookiePlan::Use { path: theirs.into(), create: false });
        assert_eq!(plan(None, Some(home), Some(xdg), none), CookiePlan::Use { path: theirs.into(), create: true });
        // An empty PULSE_COOKIE counts as unset; a relative XDG_CONFIG_HOME is ignored.
        assert_eq!(
            plan(Some(""), Some(home), Some(Path::new("conf")), none),
            CookiePlan::Use { path: "/home/ann/.config/pulse/cookie".into(), create: true }
        );
    }

    #[test]
    fn a_created_cookie_is_256_private_bytes_and_an_existing_one_is_kept() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("homeline-pulse-cookie-{}", std::process::id()));
        let path = dir.join("conf/pulse/cookie");
        create_cookie(&path).unwrap();
        let first = std::fs::read(&path).unwrap();
        assert_eq!(first.len(), COOKIE_LEN);
        assert_eq!(std::fs::metadata(&path).unwrap().permissions().mode() & 0o777, 0o600);
        create_cookie(&path).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), first, "a cookie already there is not replaced");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
