//! A system tray host on a harness bus: what GNOME's AppIndicator extension,
//! KDE Plasma and waybar run. It serves `org.kde.StatusNotifierWatcher`, so
//! an app's tray icon (libayatana-appindicator) registers with it instead of
//! falling back to an X11 icon, then reads the icon's menu over the
//! `com.canonical.dbusmenu` interface and clicks its items the way a tray
//! does when the user picks one. The app under test talks real D-Bus to it.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

use crate::process::HarnessError;

const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";

/// Registered items: (bus name, object path).
type Items = Arc<Mutex<Vec<(String, String)>>>;

struct Watcher {
    items: Items,
}

#[zbus::interface(name = "org.kde.StatusNotifierWatcher")]
impl Watcher {
    /// `service` is a bus name (the item at /StatusNotifierItem) or, as
    /// libayatana-appindicator sends it, the item's object path on the
    /// caller's connection.
    fn register_status_notifier_item(&mut self, service: String, #[zbus(header)] header: zbus::message::Header<'_>) {
        let sender = header.sender().map(|s| s.to_string()).unwrap_or_default();
        let item = if service.starts_with('/') { (sender, service) } else { (service, "/StatusNotifierItem".to_owned()) };
        self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(item);
    }

    fn register_status_notifier_host(&mut self, _service: String) {}

    #[zbus(property)]
    fn registered_status_notifier_items(&self) -> Vec<String> {
        self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter().map(|(name, path)| format!("{name}{path}")).collect()
    }

    #[zbus(property)]
    fn is_status_notifier_host_registered(&self) -> bool {
        true
    }

    #[zbus(property)]
    fn protocol_version(&self) -> i32 {
        0
    }
}

/// One line of a tray menu as the tray shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct MenuLine {
    /// The dbusmenu id a click is sent to.
    pub id: i32,
    /// The label ("" for a separator).
    pub label: String,
    pub enabled: bool,
    pub separator: bool,
    /// `Some(on)` for a check item.
    pub checked: Option<bool>,
}

/// The tray host, owning the watcher's bus name until dropped.
pub struct TrayHost {
    connection: zbus::blocking::Connection,
    items: Items,
}

/// Serve a tray on the bus at `bus_address` (the harness session bus). Start
/// it before the app, which looks for a tray when it starts.
pub fn start(bus_address: &str) -> Result<TrayHost, HarnessError> {
    let items = Items::default();
    let watcher = Watcher { items: items.clone() };
    let connection = zbus::blocking::connection::Builder::address(bus_address)
        .and_then(|b| b.name(WATCHER))
        .and_then(|b| b.serve_at(WATCHER_PATH, watcher))
        .and_then(|b| b.build())
        .map_err(|e| HarnessError::StartFailed {
            service: "tray host".into(),
            reason: format!("serving {WATCHER} on the test bus: {e}"),
            log: "-".into(),
            tail: String::new(),
        })?;
    Ok(TrayHost { connection, items })
}

impl TrayHost {
    /// The first tray icon that registered, waiting up to `timeout`.
    pub fn item(&self, timeout: Duration) -> Option<(String, String)> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(item) = self.items.lock().unwrap_or_else(std::sync::PoisonError::into_inner).first().cloned() {
                return Some(item);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn menu_proxy(&self, item: &(String, String)) -> zbus::Result<zbus::blocking::Proxy<'static>> {
        let icon = zbus::blocking::Proxy::new(&self.connection, item.0.clone(), item.1.clone(), "org.kde.StatusNotifierItem")?;
        let menu: OwnedObjectPath = icon.get_property("Menu")?;
        zbus::blocking::Proxy::new(&self.connection, item.0.clone(), menu, "com.canonical.dbusmenu")
    }

    /// The icon's menu, top level, as the tray would show it now.
    pub fn menu(&self, item: &(String, String)) -> zbus::Result<Vec<MenuLine>> {
        let menu = self.menu_proxy(item)?;
        let (_revision, (_root, _props, children)): (u32, (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>)) =
            menu.call("GetLayout", &(0i32, 1i32, Vec::<String>::new()))?;
        children
            .into_iter()
            .map(|child| {
                let (id, props, _): (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>) = child.try_into()?;
                let text = |key: &str| props.get(key).and_then(|v| String::try_from(v.clone()).ok());
                let flag = |key: &str| props.get(key).and_then(|v| bool::try_from(v.clone()).ok());
                let checked = (text("toggle-type").as_deref() == Some("checkmark"))
                    .then(|| props.get("toggle-state").and_then(|v| i32::try_from(v.clone()).ok()) == Some(1));
                Ok(MenuLine {
                    id,
                    // A mnemonic's underscore is not shown ("__" is one "_").
                    label: text("label").unwrap_or_default().replace("__", "\u{0}").replace('_', "").replace('\u{0}', "_"),
                    enabled: flag("enabled").unwrap_or(true),
                    separator: text("type").as_deref() == Some("separator"),
                    checked,
                })
            })
            .collect()
    }

    /// The user picks the line `id` in the menu.
    pub fn click(&self, item: &(String, String), id: i32) -> zbus::Result<()> {
        let menu = self.menu_proxy(item)?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as u32);
        menu.call_method("Event", &(id, "clicked", Value::from(0i32), now))?;
        Ok(())
    }
}
