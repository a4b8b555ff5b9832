//! An ordered device preference per role ("the headset, then the laptop's speakers"): the
//! first device of the list that is present is used; none present (or an empty list):
//! the system default. The list is shared (clones see the same list), so a change made in
//! the settings reaches the streams already following it (their watcher reads it at its
//! next look, every 200 ms). Only watcher threads and the engine read it: never a callback.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// How a list names "the system default" (the entries after it never count).
pub const DEFAULT_DEVICE: &str = "default";

/// Most preferred device ids first; shared between clones.
#[derive(Debug, Clone, Default)]
pub struct DevicePreference {
    inner: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    list: Mutex<Vec<String>>,
    generation: AtomicU64,
}

impl DevicePreference {
    /// A preference of its own (not shared with any other).
    pub fn new(list: Vec<String>) -> Self {
        let pref = Self::default();
        pref.set(list);
        pref
    }

    /// One device (`None`: the system default).
    pub fn fixed(id: Option<&str>) -> Self {
        Self::new(id.map(str::to_owned).into_iter().collect())
    }

    /// Replaces the list (normalised: see [`normalise`]); every clone sees it.
    pub fn set(&self, list: Vec<String>) {
        *self.inner.list.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = normalise(list);
        self.inner.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The list now.
    pub fn list(&self) -> Vec<String> {
        self.inner.list.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// Grows at every [`set`](Self::set): a watcher tells a user's change from a hot-plug.
    pub fn generation(&self) -> u64 {
        self.inner.generation.load(Ordering::Relaxed)
    }

    /// The device to use now: the first of the list for which `present` holds;
    /// `None`: the system default.
    pub fn pick(&self, present: impl FnMut(&str) -> bool) -> Option<String> {
        pick(&self.list(), present)
    }
}

/// The first id of `list` for which `present` holds (`None`: the system default). The
/// [`DEFAULT_DEVICE`] entry stops the search: what follows it is never reached.
pub fn pick(list: &[String], mut present: impl FnMut(&str) -> bool) -> Option<String> {
    list.iter()
        .take_while(|id| id.as_str() != DEFAULT_DEVICE)
        .find(|id| present(id))
        .cloned()
}

/// Trims ids, drops empty ones and repeats, and ends the list at [`DEFAULT_DEVICE`] (what
/// follows it never counts; a list that is only "default" is the empty list).
pub fn normalise(list: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(list.len());
    for id in list {
        let id = id.trim();
        if id == DEFAULT_DEVICE {
            break;
        }
        if !id.is_empty() && !out.iter().any(|o| o == id) {
            out.push(id.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn the_first_present_device_wins_and_none_present_means_the_default() {
        let list = ids(&["headset", "laptop"]);
        assert_eq!(pick(&list, |_| true).as_deref(), Some("headset"));
        assert_eq!(pick(&list, |id| id == "laptop").as_deref(), Some("laptop"), "the second when the first is absent");
        assert_eq!(pick(&list, |_| false), None, "nothing present: the system default");
        assert_eq!(pick(&[], |_| true), None, "no preference: the system default");
    }

    #[test]
    fn default_in_the_list_stops_the_search() {
        let list = ids(&["headset", "default", "laptop"]);
        assert_eq!(pick(&list, |id| id == "laptop"), None);
        assert_eq!(normalise(list), ids(&["headset"]));
        assert!(normalise(ids(&["default"])).is_empty());
        assert_eq!(normalise(ids(&[" a ", "", "b", "a"])), ids(&["a", "b"]));
    }

    #[test]
    fn clones_share_the_list_and_see_changes() {
        let pref = DevicePreference::fixed(Some("headset"));
        let seen = pref.clone();
        let before = seen.generation();
        pref.set(ids(&["laptop", "headset"]));
        assert_eq!(seen.list(), ids(&["laptop", "headset"]));
        assert!(seen.generation() > before);
        assert_eq!(seen.pick(|id| id == "headset").as_deref(), Some("headset"));
        assert!(DevicePreference::fixed(None).list().is_empty());
        assert!(DevicePreference::new(Vec::new()).list().is_empty(), "independent of other preferences");
    }
}
