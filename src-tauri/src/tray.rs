//! The tray icon: where Homeline lives while its window is closed. Its menu
//! (favorites, recent numbers, Open, Quit) is rebuilt from `tray_menu::build`
//! whenever favorites or the history change.

use std::sync::{Arc, Mutex};

use homeline_phone::{Engine, EngineEvent, HistoryFilter};
use tauri::menu::{Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::{MouseButton, MouseButtonState, TrayIconBuilder, TrayIconEvent};
use tauri::{AppHandle, Emitter, Manager};

use crate::tray_menu::{self, TrayItem};
use crate::window::show_main;

const TRAY_ID: &str = "homeline";

/// The menu model now shown (its ids map clicks to numbers).
#[derive(Default)]
struct Shown(Mutex<Vec<TrayItem>>);

pub fn install(app: &AppHandle) -> tauri::Result<()> {
    app.manage(Shown::default());
    let items = current_model(app);
    let menu = build_menu(app, &items)?;
    remember(app, items);
    let mut tray = TrayIconBuilder::with_id(TRAY_ID)
        .tooltip("Homeline")
        .menu(&menu)
        .show_menu_on_left_click(false)
        .on_menu_event(|app, event| on_click(app, event.id().as_ref()))
        .on_tray_icon_event(|tray, event| {
            if let TrayIconEvent::Click { button: MouseButton::Left, button_state: MouseButtonState::Up, .. } = event {
                show_main(tray.app_handle());
            }
        });
    if let Some(icon) = app.default_window_icon() {
        tray = tray.icon(icon.clone());
    }
    tray.build(app)?;
    Ok(())
}

/// Rebuild the menu (favorites or history changed). No tray: nothing to do.
pub fn refresh(app: &AppHandle) {
    let Some(tray) = app.tray_by_id(TRAY_ID) else { return };
    let items = current_model(app);
    match build_menu(app, &items) {
        Ok(menu) => {
            if let Err(e) = tray.set_menu(Some(menu)) {
                tracing::warn!("tray menu not updated: {e}");
            }
            remember(app, items);
        }
        Err(e) => tracing::warn!("tray menu not built: {e}"),
    }
}

/// The menu model from the engine's favorites and history right now.
pub fn current_model(app: &AppHandle) -> Vec<TrayItem> {
    let Some(engine) = app.try_state::<Arc<Engine>>() else { return tray_menu::build(&[], &[]) };
    let favorites = engine.contacts(None, true).unwrap_or_default();
    let history = engine.history_with_names(HistoryFilter::All, None, 50).unwrap_or_default();
    tray_menu::build(&favorites, &history)
}

/// The tray menu's lines as shown (separators as "—"): for tests and the
/// README's picture, since no tray host draws it under Xvfb.
#[tauri::command]
pub fn tray_menu_lines(app: AppHandle) -> Vec<String> {
    let Some(shown) = app.try_state::<Shown>() else { return Vec::new() };
    let items = shown.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone();
    items.iter().map(|item| if *item == TrayItem::Separator { "—" } else { label(item) }.to_owned()).collect()
}

/// The text of a menu line.
fn label(item: &TrayItem) -> &str {
    match item {
        TrayItem::Heading(text) | TrayItem::Dial { label: text, .. } => text,
        TrayItem::Separator => "",
        TrayItem::Open => "Open Homeline",
        TrayItem::Quit => "Quit Homeline",
    }
}

fn remember(app: &AppHandle, items: Vec<TrayItem>) {
    if let Some(shown) = app.try_state::<Shown>() {
        *shown.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = items;
    }
}

fn build_menu(app: &AppHandle, items: &[TrayItem]) -> tauri::Result<Menu<tauri::Wry>> {
    let menu = Menu::new(app)?;
    for (i, item) in items.iter().enumerate() {
        match item {
            TrayItem::Heading(_) => menu.append(&MenuItem::with_id(app, format!("heading:{i}"), label(item), false, None::<&str>)?)?,
            TrayItem::Dial { id, .. } => menu.append(&MenuItem::with_id(app, id, label(item), true, None::<&str>)?)?,
            TrayItem::Separator => menu.append(&PredefinedMenuItem::separator(app)?)?,
            TrayItem::Open => menu.append(&MenuItem::with_id(app, "open", label(item), true, None::<&str>)?)?,
            TrayItem::Quit => menu.append(&MenuItem::with_id(app, "quit", label(item), true, None::<&str>)?)?,
        }
    }
    Ok(menu)
}

fn on_click(app: &AppHandle, id: &str) {
    match id {
        "open" => show_main(app),
        "quit" => app.exit(0),
        id => {
            let target = app
                .try_state::<Shown>()
                .and_then(|shown| tray_menu::target_of(&shown.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner), id).map(str::to_owned));
            let (Some(target), Some(engine)) = (target, app.try_state::<Arc<Engine>>()) else { return };
            let (engine, app) = (engine.inner().clone(), app.clone());
            // The call screen shows the call; a failure leaves the number in
            // the dialer with the reason in the status line.
            show_main(&app);
            tauri::async_runtime::spawn(async move {
                if let Err(e) = engine.dial(&target, None).await {
                    engine.dialer_paste(&target);
                    let _ = app.emit(crate::ENGINE_EVENT, EngineEvent::Notice { message: e.message });
                }
            });
        }
    }
}
