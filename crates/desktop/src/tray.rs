//! The tray icon: where Homeline lives while its window is closed. Its badge
//! and tooltip say whether calls can reach the user, a call is up, the
//! microphone is open or calls were missed (`tray_status`); its menu (the call
//! in progress, favorites, recent numbers, clipboard dialing, Do Not Disturb,
//! Open, Quit; `tray_menu`) is rebuilt whenever any of that changes.
//!
//! Threads: the icon and its menu are GTK objects (not `Send`); they live in a
//! thread-local on the GTK main thread, where `install` runs and where menu
//! clicks arrive. Everything else (`refresh`, `seen`, `on_event`, `status`,
//! `menu_lines`) may be called from any thread: the facts are gathered on the
//! async runtime, then handed to the GTK thread to be shown.

use std::cell::RefCell;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use homeline_phone::{CallState, EngineEvent, HistoryFilter, RegistrationState};
use tray_icon::menu::{CheckMenuItem, Menu, MenuEvent, MenuItem, PredefinedMenuItem};
use tray_icon::{Icon, MouseButton, MouseButtonState, TrayIcon, TrayIconBuilder, TrayIconEvent};

use crate::tray_menu::{self, TrayItem};
use crate::tray_status::{draw_badge, Badge, CallLine, TrayFacts};
use crate::Shell;

const TRAY_ID: &str = "homeline";

/// The app's icon, which the badge is drawn on (the window's icon too).
const APP_ICON_PNG: &[u8] = include_bytes!("../../../icons/32x32.png");

/// The menu model now shown (its ids map clicks to numbers), and what the
/// icon shows. One per process.
struct Shown {
    items: Mutex<Vec<TrayItem>>,
    badge: Mutex<Option<Badge>>,
    /// The badge's name and the tooltip last shown (for `tray_status`).
    status: Mutex<Option<(String, String)>>,
    /// Missed calls after this moment (ms since the epoch) are counted: the
    /// window was last shown then.
    seen_at: Mutex<u64>,
    /// The microphone meter is open (from its events; calls are asked directly).
    meter_open: Mutex<bool>,
    /// One refresh at a time gathers facts...
    refreshing: tokio::sync::Mutex<()>,
    /// ...and numbers them in that order; the GTK thread shows a refresh only
    /// when it is newer than the one shown, so an older one never overwrites
    /// a newer one.
    numbered: AtomicU64,
    applied: Mutex<u64>,
}

fn shown() -> &'static Shown {
    static SHOWN: OnceLock<Shown> = OnceLock::new();
    SHOWN.get_or_init(|| Shown {
        items: Mutex::new(Vec::new()),
        badge: Mutex::new(None),
        status: Mutex::new(None),
        seen_at: Mutex::new(now_ms()),
        meter_open: Mutex::new(false),
        refreshing: tokio::sync::Mutex::new(()),
        numbered: AtomicU64::new(0),
        applied: Mutex::new(0),
    })
}

/// A tray icon was built (set once, on the GTK thread).
static INSTALLED: AtomicBool = AtomicBool::new(false);

thread_local! {
    /// The icon, on the GTK thread only.
    static TRAY: RefCell<Option<TrayIcon>> = const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Run `f` on the GTK main thread, later (never inline, even when called
/// there: callers may hold locks `f` takes).
fn on_gtk(f: impl FnOnce() + Send + 'static) {
    gtk::glib::MainContext::default().spawn(async move { f() });
}

/// Put the icon in the tray. Call on the GTK main thread after `gtk::init`;
/// an error means the app runs without a tray (say it in the log).
pub fn install(shell: &Shell) -> Result<(), String> {
    if !gtk::is_initialized_main_thread() {
        return Err("the tray must be installed on the GTK main thread, after gtk::init".into());
    }
    if installed() {
        return Ok(());
    }
    let shown = shown();
    let facts = TrayFacts::default();
    let items = tray_menu::build(&[], &[], &facts);
    let menu = build_menu(&items).map_err(|e| format!("the tray menu could not be built: {e}"))?;
    let mut builder = TrayIconBuilder::new()
        .with_id(TRAY_ID)
        .with_tooltip(facts.tooltip())
        .with_menu(Box::new(menu))
        .with_menu_on_left_click(false);
    match badged(facts.badge()) {
        Some(icon) => builder = builder.with_icon(icon),
        None => tracing::warn!("the tray shows no icon: the app icon could not be read"),
    }
    let tray = builder.build().map_err(|e| format!("the tray icon could not be created: {e}"))?;
    TRAY.with(|t| *t.borrow_mut() = Some(tray));
    *lock(&shown.items) = items;
    *lock(&shown.badge) = Some(facts.badge());
    INSTALLED.store(true, Ordering::SeqCst);
    // Both fire on the GTK thread (menu items' and the indicator's signals).
    let clicks = shell.clone();
    MenuEvent::set_event_handler(Some(move |event: MenuEvent| on_click(&clicks, event.id().as_ref())));
    let left = shell.clone();
    TrayIconEvent::set_event_handler(Some(move |event: TrayIconEvent| {
        if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
            left.show_window();
        }
    }));
    refresh(shell);
    Ok(())
}

/// Whether a tray icon exists.
pub fn installed() -> bool {
    INSTALLED.load(Ordering::SeqCst)
}

/// Take the icon out of the tray (on the GTK thread, before the app ends: it
/// also removes the icon's image file from the runtime folder).
pub fn remove() {
    TRAY.with(|t| t.borrow_mut().take());
}

/// The window was shown: the missed calls count as seen. Any thread.
pub fn seen(shell: &Shell) {
    *lock(&shown().seen_at) = now_ms();
    refresh(shell);
}

/// Follow the engine: refresh when something the tray shows changed. Any thread.
pub fn on_event(shell: &Shell, event: &EngineEvent) {
    match event {
        EngineEvent::MicrophoneMeter { open, .. } => {
            *lock(&shown().meter_open) = *open;
            refresh(shell);
        }
        EngineEvent::RegistrationChanged { .. }
        | EngineEvent::AccountsChanged
        | EngineEvent::CallChanged(_)
        | EngineEvent::MissedCall { .. }
        | EngineEvent::HistoryChanged
        | EngineEvent::ConferenceChanged { .. }
        | EngineEvent::EchoTest { .. } => refresh(shell),
        _ => {}
    }
}

/// Rebuild the menu, badge and tooltip from the engine's state now. No tray:
/// nothing to do. Any thread.
pub fn refresh(shell: &Shell) {
    if !installed() {
        return;
    }
    let shell = shell.clone();
    shell.clone().spawn(async move {
        let shown = shown();
        let _one_at_a_time = shown.refreshing.lock().await;
        let facts = gather(&shell).await;
        let items = current_model(&shell, &facts);
        let number = shown.numbered.fetch_add(1, Ordering::SeqCst) + 1;
        on_gtk(move || apply(number, &facts, items));
    });
}

/// The facts the tray shows, from the engine.
async fn gather(shell: &Shell) -> TrayFacts {
    let engine = shell.engine();
    let accounts: Vec<_> = engine.accounts().into_iter().filter(|a| a.enabled).collect();
    let registered = accounts.iter().filter(|a| matches!(a.registration, Some(RegistrationState::Registered { .. }))).count();
    let failure = accounts.iter().find_map(|a| match &a.registration {
        Some(RegistrationState::Failed { reason }) => Some(reason.clone()),
        Some(RegistrationState::Retrying { in_seconds }) => Some(format!("trying again in {in_seconds} s")),
        _ => None,
    });
    let calls: Vec<_> = engine.calls_with_names().await.into_iter().filter(|c| !matches!(c.state, CallState::Ended { .. })).collect();
    // Mute and hang up act on the call being talked in, else the newest.
    let call = calls.iter().find(|c| c.state == CallState::Active).or(calls.last()).map(|c| CallLine {
        call: c.call.clone(),
        label: c.remote_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| c.remote.clone()),
        muted: c.muted,
    });
    let shown = shown();
    let seen_at = *lock(&shown.seen_at);
    let missed = engine
        .history(HistoryFilter::Missed, None, 100)
        .map(|rows| rows.iter().filter(|r| r.record.started_at > seen_at).count())
        .unwrap_or(0);
    // The engine opens a call's microphone at the dial or the answer and
    // closes it when the call ends (held calls keep it): as the window's pill.
    let call_has_mic = calls.iter().any(|c| c.state != CallState::Incoming);
    let meter = *lock(&shown.meter_open);
    TrayFacts {
        accounts: accounts.len(),
        registered,
        failure,
        calls: calls.len(),
        call,
        missed,
        do_not_disturb: engine.do_not_disturb(),
        microphone: call_has_mic || meter || engine.echo_test_running(),
    }
}

/// The menu model from the engine's favorites and history and these facts.
fn current_model(shell: &Shell, facts: &TrayFacts) -> Vec<TrayItem> {
    let engine = shell.engine();
    let favorites = engine.contacts(None, true).unwrap_or_default();
    let history = engine.history_with_names(HistoryFilter::All, None, 50).unwrap_or_default();
    tray_menu::build(&favorites, &history, facts)
}

/// Show refresh number `number` (GTK thread), unless a newer one is shown.
fn apply(number: u64, facts: &TrayFacts, items: Vec<TrayItem>) {
    TRAY.with(|t| {
        let t = t.borrow();
        let Some(tray) = t.as_ref() else { return };
        let shown = shown();
        {
            let mut applied = lock(&shown.applied);
            if number <= *applied {
                return;
            }
            *applied = number;
        }
        // An unchanged menu is not rebuilt: a rebuild gives every line a new
        // id, which closes a menu the user has open and loses a click on it.
        if *lock(&shown.items) != items {
            match build_menu(&items) {
                Ok(menu) => {
                    tray.set_menu(Some(Box::new(menu)));
                    *lock(&shown.items) = items;
                }
                Err(e) => tracing::warn!("tray menu not built: {e}"),
            }
        }
        let tooltip = facts.tooltip();
        if let Err(e) = tray.set_tooltip(Some(&tooltip)) {
            tracing::debug!("tray tooltip not updated: {e}");
        }
        let badge = facts.badge();
        *lock(&shown.status) = Some((format!("{badge:?}"), tooltip));
        let mut last = lock(&shown.badge);
        if *last != Some(badge) {
            if let Some(icon) = badged(badge) {
                if let Err(e) = tray.set_icon(Some(icon)) {
                    tracing::warn!("tray icon not updated: {e}");
                }
            }
            *last = Some(badge);
        }
    });
}

/// The app icon, decoded to RGBA once.
struct AppIcon {
    rgba: Vec<u8>,
    width: u32,
    height: u32,
}

fn app_icon() -> Option<&'static AppIcon> {
    static ICON: OnceLock<Option<AppIcon>> = OnceLock::new();
    ICON.get_or_init(|| {
        decode_png(APP_ICON_PNG)
            .map_err(|e| tracing::warn!("the app icon could not be decoded: {e}"))
            .ok()
    })
    .as_ref()
}

/// A PNG as 8-bit RGBA (any colour type and depth).
fn decode_png(bytes: &[u8]) -> Result<AppIcon, String> {
    let mut decoder = png::Decoder::new(std::io::Cursor::new(bytes));
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(|e| e.to_string())?;
    let size = reader.output_buffer_size().ok_or("the image is too large")?;
    let mut buf = vec![0; size];
    let frame = reader.next_frame(&mut buf).map_err(|e| e.to_string())?;
    buf.truncate(frame.buffer_size());
    let rgba: Vec<u8> = match frame.color_type {
        png::ColorType::Rgba => buf,
        png::ColorType::Rgb => buf.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], 255]).collect(),
        png::ColorType::GrayscaleAlpha => buf.chunks_exact(2).flat_map(|p| [p[0], p[0], p[0], p[1]]).collect(),
        png::ColorType::Grayscale => buf.iter().flat_map(|&g| [g, g, g, 255]).collect(),
        png::ColorType::Indexed => return Err("a palette image was not expanded".into()),
    };
    if rgba.len() != frame.width as usize * frame.height as usize * 4 {
        return Err("the image's size does not match its pixels".into());
    }
    Ok(AppIcon { rgba, width: frame.width, height: frame.height })
}

fn badged(badge: Badge) -> Option<Icon> {
    let icon = app_icon()?;
    let rgba = draw_badge(&icon.rgba, icon.width, icon.height, badge);
    Icon::from_rgba(rgba, icon.width, icon.height).map_err(|e| tracing::warn!("tray icon: {e}")).ok()
}

/// What the tray shows now (badge, tooltip, menu lines): no tray host draws
/// it under Xvfb, so the desktop tests and the README's picture read it here.
/// `None` before the first refresh was shown (or without a tray). Any thread.
pub fn status() -> Option<TrayStatusView> {
    let (badge, tooltip) = lock(&shown().status).clone()?;
    Some(TrayStatusView { badge, tooltip, lines: menu_lines() })
}

#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrayStatusView {
    pub badge: String,
    pub tooltip: String,
    pub lines: Vec<String>,
}

/// The tray menu's lines as shown (separators as "—"): for tests and the
/// README's picture, since no tray host draws it under Xvfb. Any thread.
pub fn menu_lines() -> Vec<String> {
    let items = lock(&shown().items).clone();
    items.iter().map(|item| if *item == TrayItem::Separator { "—" } else { label(item) }.to_owned()).collect()
}

/// The text of a menu line.
fn label(item: &TrayItem) -> &str {
    match item {
        TrayItem::Heading(text) | TrayItem::Dial { label: text, .. } => text,
        TrayItem::Separator => "",
        TrayItem::Mute { muted: false, .. } => "Mute",
        TrayItem::Mute { muted: true, .. } => "Unmute",
        TrayItem::HangUp { .. } => "Hang up",
        TrayItem::DialClipboard => "Dial number from clipboard",
        TrayItem::DoNotDisturb { on: false } => "Do Not Disturb",
        TrayItem::DoNotDisturb { on: true } => "✓ Do Not Disturb",
        TrayItem::Open => "Open Homeline",
        TrayItem::Quit => "Quit Homeline",
    }
}

/// The GTK menu for a model (GTK thread).
fn build_menu(items: &[TrayItem]) -> Result<Menu, tray_icon::menu::Error> {
    let menu = Menu::new();
    for (i, item) in items.iter().enumerate() {
        match item {
            TrayItem::Heading(_) => menu.append(&MenuItem::with_id(format!("heading:{i}"), label(item), false, None))?,
            TrayItem::Separator => menu.append(&PredefinedMenuItem::separator())?,
            TrayItem::DoNotDisturb { on } => menu.append(&CheckMenuItem::with_id("dnd", "Do Not Disturb", true, *on, None))?,
            _ => {
                if let Some(id) = item_id(item) {
                    menu.append(&MenuItem::with_id(id, label(item), true, None))?;
                }
            }
        }
    }
    Ok(menu)
}

/// A menu click (GTK thread): the item as it was when the menu was built —
/// its call, its state.
fn on_click(shell: &Shell, id: &str) {
    let item = lock(&shown().items).iter().find(|item| item_id(item).as_deref() == Some(id)).cloned();
    let engine = shell.engine().clone();
    match item {
        Some(TrayItem::Open) => shell.show_window(),
        Some(TrayItem::Quit) => shell.quit(),
        Some(TrayItem::DialClipboard) => dial_clipboard(shell),
        Some(TrayItem::Mute { call, muted }) => spawn_reported(shell, async move { engine.mute(&call, !muted).await }),
        Some(TrayItem::HangUp { call }) => spawn_reported(shell, async move { engine.hangup(&call).await }),
        Some(TrayItem::DoNotDisturb { on }) => {
            let for_refresh = shell.clone();
            spawn_reported(shell, async move {
                let result = engine.set_do_not_disturb(!on).await;
                refresh(&for_refresh);
                result
            });
        }
        Some(TrayItem::Dial { target, .. }) => dial(shell, target),
        Some(TrayItem::Heading(_) | TrayItem::Separator) | None => {}
    }
}

/// The menu id of an item (clickable ones only).
fn item_id(item: &TrayItem) -> Option<String> {
    Some(match item {
        TrayItem::Dial { id, .. } => id.clone(),
        TrayItem::Mute { .. } => "mute".into(),
        TrayItem::HangUp { .. } => "hangup".into(),
        TrayItem::DialClipboard => "clipboard".into(),
        TrayItem::DoNotDisturb { .. } => "dnd".into(),
        TrayItem::Open => "open".into(),
        TrayItem::Quit => "quit".into(),
        TrayItem::Heading(_) | TrayItem::Separator => return None,
    })
}

/// Dial from the tray: the window shows the call; a failure leaves the number
/// in the dialer with the reason in the status line.
fn dial(shell: &Shell, target: String) {
    shell.show_window();
    let shell = shell.clone();
    shell.clone().spawn(async move {
        let engine = shell.engine();
        if let Err(e) = engine.dial(&target, None).await {
            engine.dialer_paste(&target);
            shell.notice(e.message);
        }
    });
}

/// "Dial number from clipboard": only a number or a SIP address is dialed
/// (`tray_menu::clipboard_target`); anything else is said, not dialed.
fn dial_clipboard(shell: &Shell) {
    let text = clipboard_text();
    match text.as_deref().and_then(tray_menu::clipboard_target) {
        Some(target) => {
            let view = shell.engine().dialer_paste(&target);
            if view.can_call {
                dial(shell, view.text);
            } else {
                shell.show_window();
            }
        }
        None => {
            shell.show_window();
            let message = match text {
                Some(t) if !t.trim().is_empty() => "The clipboard holds no phone number or SIP address to dial.",
                _ => "The clipboard is empty: copy a phone number or SIP address first.",
            };
            shell.notice(message.into());
        }
    }
}

/// The clipboard's text (the desktop clipboard, not the primary selection).
/// GTK thread, where tray menu events arrive.
fn clipboard_text() -> Option<String> {
    gtk::Clipboard::get(&gtk::gdk::SELECTION_CLIPBOARD).wait_for_text().map(|t| t.to_string())
}

/// Run an engine action; its failure goes to the window's status line.
fn spawn_reported<F>(shell: &Shell, action: F)
where
    F: std::future::Future<Output = Result<(), homeline_phone::EngineError>> + Send + 'static,
{
    let reporter = shell.clone();
    shell.spawn(async move {
        if let Err(e) = action.await {
            reporter.notice(e.message);
        }
    });
}

#[cfg(test)]
#[allow(clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn the_app_icon_decodes_to_rgba() {
        let icon = decode_png(APP_ICON_PNG).expect("the bundled icon decodes");
        assert_eq!((icon.width, icon.height), (32, 32));
        assert_eq!(icon.rgba.len(), 32 * 32 * 4);
        assert!(icon.rgba.chunks_exact(4).any(|p| p[3] > 0), "not blank");
        assert!(decode_png(b"not a png").is_err(), "bad bytes are an error, not a panic");
    }

    #[test]
    fn every_clickable_line_has_its_own_id() {
        let facts = TrayFacts {
            accounts: 1,
            registered: 1,
            calls: 1,
            call: Some(CallLine { call: "c1".into(), label: "Bob".into(), muted: false }),
            ..TrayFacts::default()
        };
        let items = tray_menu::build(&[], &[], &facts);
        let ids: Vec<String> = items.iter().filter_map(item_id).collect();
        for id in ["mute", "hangup", "clipboard", "dnd", "open", "quit"] {
            assert!(ids.iter().any(|i| i == id), "{id} in {ids:?}");
        }
        let mut unique = ids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), ids.len(), "{ids:?}");
    }
}
