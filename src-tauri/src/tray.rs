//! The tray icon: where Homeline lives while its window is closed. Its badge
//! and tooltip say whether calls can reach the user, a call is up, the
//! microphone is open or calls were missed (`tray_status`); its menu (the call
//! in progress, favorites, recent numbers, clipboard dialing, Do Not Disturb,
//! Open, Quit; `tray_menu`) is rebuilt whenever any of that changes.

use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use homeline_phone::{CallState, Engine, EngineEvent, HistoryFilter, RegistrationState};
use tauri::image::Image;
use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager};

use crate::tray_menu::{self, TrayItem};
use crate::tray_status::{draw_badge, Badge, CallLine, TrayFacts};
use crate::window::show_main;

const TRAY_ID: &str = "homeline";

/// The menu model now shown (its ids map clicks to numbers), and what the
/// icon shows.
#[derive(Default)]
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
    /// One refresh at a time, so an older one never overwrites a newer one.
    refreshing: tokio::sync::Mutex<()>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

pub fn install(app: &AppHandle) -> tauri::Result<()> {
    app.manage(Shown { seen_at: Mutex::new(now_ms()), ..Shown::default() });
    let facts = TrayFacts::default();
    let items = tray_menu::build(&[], &[], &facts);
    let menu = build_menu(app, &items)?;
    remember(app, items);
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip(facts.tooltip())
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| on_click(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                show_main(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(badged(icon, facts.badge()));
    }
    tray.build(app)?;
    refresh(app);
    Ok(())
}

/// The window was shown: the missed calls count as seen.
pub fn seen(app: &AppHandle) {
    if let Some(shown) = app.try_state::<Shown>() {
        *lock(&shown.seen_at) = now_ms();
    }
    refresh(app);
}

/// Follow the engine: refresh when something the tray shows changed.
pub fn on_event(app: &AppHandle, event: &EngineEvent) {
    match event {
        EngineEvent::MicrophoneMeter { open, .. } => {
            if let Some(shown) = app.try_state::<Shown>() {
                *lock(&shown.meter_open) = *open;
            }
            refresh(app);
        }
        EngineEvent::RegistrationChanged { .. }
        | EngineEvent::AccountsChanged
        | EngineEvent::CallChanged(_)
        | EngineEvent::MissedCall { .. }
        | EngineEvent::HistoryChanged
        | EngineEvent::ConferenceChanged { .. }
        | EngineEvent::EchoTest { .. } => refresh(app),
        _ => {}
    }
}

/// Rebuild the menu, badge and tooltip from the engine's state now. No tray:
/// nothing to do.
pub fn refresh(app: &AppHandle) {
    if app.tray_by_id(TRAY_ID).is_none() {
        return;
    }
    let app = app.clone();
    tauri::async_runtime::spawn(async move {
        let Some(shown) = app.try_state::<Shown>() else { return };
        let _one_at_a_time = shown.refreshing.lock().await;
        let facts = gather(&app).await;
        apply(&app, &facts);
    });
}

/// The facts the tray shows, from the engine.
async fn gather(app: &AppHandle) -> TrayFacts {
    let Some(engine) = app.try_state::<Arc<Engine>>().map(|e| e.inner().clone()) else { return TrayFacts::default() };
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
    let shown = app.try_state::<Shown>();
    let seen_at = shown.as_ref().map_or(0, |s| *lock(&s.seen_at));
    let missed = engine
        .history(HistoryFilter::Missed, None, 100)
        .map(|rows| rows.iter().filter(|r| r.record.started_at > seen_at).count())
        .unwrap_or(0);
    // The engine opens a call's microphone at the dial or the answer and
    // closes it when the call ends (held calls keep it): as the window's pill.
    let call_has_mic = calls.iter().any(|c| c.state != CallState::Incoming);
    let meter = shown.as_ref().is_some_and(|s| *lock(&s.meter_open));
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

fn apply(app: &AppHandle, facts: &TrayFacts) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return };
    let items = current_model(app, facts);
    match build_menu(app, &items) {
        Ok(menu) => {
            if let Err(e) = tray.set_menu(Some(menu)) {
                tracing::warn!("tray menu not updated: {e}");
            }
            remember(app, items);
        }
        Err(e) => tracing::warn!("tray menu not built: {e}"),
    }
    let tooltip = facts.tooltip();
    let _ = tray.set_tooltip(Some(&tooltip));
    let badge = facts.badge();
    let Some(shown) = app.try_state::<Shown>() else { return };
    *lock(&shown.status) = Some((format!("{badge:?}"), tooltip));
    let mut last = lock(&shown.badge);
    if *last != Some(badge) {
        if let Some(icon) = app.default_window_icon() {
            if let Err(e) = tray.set_icon(Some(badged(icon, badge))) {
                tracing::warn!("tray icon not updated: {e}");
            }
        }
        *last = Some(badge);
    }
}

fn badged(icon: &Image<'_>, badge: Badge) -> Image<'static> {
    Image::new_owned(draw_badge(icon.rgba(), icon.width(), icon.height(), badge), icon.width(), icon.height())
}

/// What the tray shows now (badge, tooltip, menu lines): no tray host draws
/// it under Xvfb, so the desktop tests and the README's picture read it here.
#[tauri::command]
pub fn tray_status(app: AppHandle) -> Option<TrayStatusView> {
    let shown = app.try_state::<Shown>()?;
    let (badge, tooltip) = lock(&shown.status).clone()?;
    Some(TrayStatusView { badge, tooltip, lines: tray_menu_lines(app.clone()) })
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TrayStatusView {
    badge: String,
    tooltip: String,
    lines: Vec<String>,
}

/// The menu model from the engine's favorites and history and these facts.
fn current_model(app: &AppHandle, facts: &TrayFacts) -> Vec<TrayItem> {
    let Some(engine) = app.try_state::<Arc<Engine>>() else { return tray_menu::build(&[], &[], facts) };
    let favorites = engine.contacts(None, true).unwrap_or_default();
    let history = engine.history_with_names(HistoryFilter::All, None, 50).unwrap_or_default();
    tray_menu::build(&favorites, &history, facts)
}

/// The tray menu's lines as shown (separators as "—"): for tests and the
/// README's picture, since no tray host draws it under Xvfb.
#[tauri::command]
pub fn tray_menu_lines(app: AppHandle) -> Vec<String> {
    let Some(shown) = app.try_state::<Shown>() else { return Vec::new() };
    let items = lock(&shown.items).clone();
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

fn remember(app: &AppHandle, items: Vec<TrayItem>) {
    if let Some(shown) = app.try_state::<Shown>() {
        *lock(&shown.items) = items;
    }
}

fn build_menu(app: &AppHandle, items: &[TrayItem]) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    for (i, item) in items.iter().enumerate() {
        match item {
            TrayItem::Heading(_) => menu.append(&MenuItem::with_id(app, format!("heading:{i}"), label(item), false, None::<&str>)?)?,
            TrayItem::Dial { id, .. } => menu.append(&MenuItem::with_id(app, id, label(item), true, None::<&str>)?)?,
            TrayItem::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
            TrayItem::Mute { .. } => menu.append(&MenuItem::with_id(app, "mute", label(item), true, None::<&str>)?)?,
            TrayItem::HangUp { .. } => menu.append(&MenuItem::with_id(app, "hangup", label(item), true, None::<&str>)?)?,
            TrayItem::DialClipboard => menu.append(&MenuItem::with_id(app, "clipboard", label(item), true, None::<&str>)?)?,
            TrayItem::DoNotDisturb { on } => {
                menu.append(&CheckMenuItem::with_id(app, "dnd", "Do Not Disturb", true, *on, None::<&str>)?)?
            }
            TrayItem::Open => menu.append(&MenuItem::with_id(app, "open", label(item), true, None::<&str>)?)?,
            TrayItem::Quit => menu.append(&MenuItem::with_id(app, "quit", label(item), true, None::<&str>)?)?,
        }
    }
    Ok(menu)
}

fn on_click(app: &AppHandle, id: &str) {
    let Some(engine) = app.try_state::<Arc<Engine>>().map(|e| e.inner().clone()) else { return };
    // The item as it was when the menu was built: its call, its state.
    let item = app.try_state::<Shown>().and_then(|shown| {
        lock(&shown.items).iter().find(|item| item_id(item).as_deref() == Some(id)).cloned()
    });
    let app = app.clone();
    match item {
        Some(TrayItem::Open) => show_main(&app),
        Some(TrayItem::Quit) => app.exit(0),
        Some(TrayItem::DialClipboard) => dial_clipboard(app, engine),
        Some(TrayItem::Mute { call, muted }) => spawn_reported(app, async move { engine.mute(&call, !muted).await }),
        Some(TrayItem::HangUp { call }) => spawn_reported(app, async move { engine.hangup(&call).await }),
        Some(TrayItem::DoNotDisturb { on }) => {
            let for_refresh = app.clone();
            spawn_reported(app, async move {
                let result = engine.set_do_not_disturb(!on).await;
                refresh(&for_refresh);
                result
            });
        }
        Some(TrayItem::Dial { target, .. }) => dial(app, engine, target),
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
fn dial(app: AppHandle, engine: Arc<Engine>, target: String) {
    show_main(&app);
    tauri::async_runtime::spawn(async move {
        if let Err(e) = engine.dial(&target, None).await {
            engine.dialer_paste(&target);
            let _ = app.emit(crate::ENGINE_EVENT, EngineEvent::Notice { message: e.message });
        }
    });
}

/// "Dial number from clipboard": only a number or a SIP address is dialed
/// (`tray_menu::clipboard_target`); anything else is said, not dialed.
fn dial_clipboard(app: AppHandle, engine: Arc<Engine>) {
    let text = clipboard_text();
    match text.as_deref().and_then(tray_menu::clipboard_target) {
        Some(target) => {
            let view = engine.dialer_paste(&target);
            if view.can_call {
                dial(app, engine, view.text);
            } else {
                show_main(&app);
            }
        }
        None => {
            show_main(&app);
            let message = match text {
                Some(t) if !t.trim().is_empty() => "The clipboard holds no phone number or SIP address to dial.",
                _ => "The clipboard is empty: copy a phone number or SIP address first.",
            };
            let _ = app.emit(crate::ENGINE_EVENT, EngineEvent::Notice { message: message.into() });
        }
    }
}

/// The clipboard's text (the desktop clipboard, not the primary selection).
/// Runs on the main thread, where tray menu events arrive.
#[cfg(target_os = "linux")]
fn clipboard_text() -> Option<String> {
    gtk::Clipboard::get(&gtk::gdk::SELECTION_CLIPBOARD).wait_for_text().map(|t| t.to_string())
}

#[cfg(not(target_os = "linux"))]
fn clipboard_text() -> Option<String> {
    None
}

/// Run an engine action; its failure goes to the window's status line.
fn spawn_reported<F>(app: AppHandle, action: F)
where
    F: std::future::Future<Output = Result<(), homeline_phone::EngineError>> + Send + 'static,
{
    tauri::async_runtime::spawn(async move {
        if let Err(e) = action.await {
            let _ = app.emit(crate::ENGINE_EVENT, EngineEvent::Notice { message: e.message });
        }
    });
}
