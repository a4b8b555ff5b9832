//! What the tray, notifications, global keys, links and the updater may ask
//! of the app: its engine and preferences, the window, and quitting. One
//! cheap handle (`Clone`), usable from any thread.

use std::sync::Arc;

use homeline_phone::{Engine, EngineEvent};
use serde::Serialize;

use crate::prefs::{DesktopPrefs, Prefs};
use crate::window_link::WindowLink;

#[derive(Clone)]
pub struct Shell(Arc<Inner>);

struct Inner {
    engine: Arc<Engine>,
    prefs: Prefs,
    window: WindowLink,
    runtime: tokio::runtime::Handle,
    /// Fired once by `quit` / `restart`; `run` waits for it.
    quit: tokio::sync::watch::Sender<Option<Exit>>,
}

/// How the app ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Quit,
    /// After an installed update: start the (new) binary again.
    Restart,
}

impl Shell {
    pub fn new(engine: Arc<Engine>, prefs: Prefs, window: WindowLink, runtime: tokio::runtime::Handle) -> Self {
        let (quit, _) = tokio::sync::watch::channel(None);
        Self(Arc::new(Inner { engine, prefs, window, runtime, quit }))
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.0.engine
    }

    /// The desktop preferences now.
    pub fn prefs(&self) -> DesktopPrefs {
        self.0.prefs.get()
    }

    pub fn prefs_store(&self) -> &Prefs {
        &self.0.prefs
    }

    pub fn window(&self) -> &WindowLink {
        &self.0.window
    }

    /// Show, un-minimise and focus the dialer window, starting its process
    /// when it is closed. The user looks at the app: missed calls count as seen.
    pub fn show_window(&self) {
        crate::tray::seen(self);
        self.0.window.show(self);
    }

    /// Whether the dialer window is open and has the keyboard focus.
    pub fn window_focused(&self) -> bool {
        self.0.window.focused()
    }

    /// Send an event to the window's UI (nothing when it is closed: the UI
    /// reads the state again when it opens).
    pub fn emit(&self, name: &str, payload: &impl Serialize) {
        self.0.window.emit(name, payload);
    }

    /// A sentence for the window's status line.
    pub fn notice(&self, message: String) {
        tracing::info!("{message}");
        self.emit(crate::ENGINE_EVENT, &EngineEvent::Notice { message });
    }

    /// Run `task` on the app's async runtime (callable from the GTK thread).
    pub fn spawn<F>(&self, task: F)
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        self.0.runtime.spawn(task);
    }

    pub fn runtime(&self) -> &tokio::runtime::Handle {
        &self.0.runtime
    }

    /// End the app (the tray's Quit): unregisters, closes the window.
    pub fn quit(&self) {
        self.0.quit.send_replace(Some(Exit::Quit));
    }

    /// End the app and start it again (after an update was installed).
    pub fn restart(&self) {
        self.0.quit.send_replace(Some(Exit::Restart));
    }

    /// Resolves when `quit` or `restart` was asked.
    pub async fn exit_requested(&self) -> Exit {
        let mut rx = self.0.quit.subscribe();
        loop {
            if let Some(exit) = *rx.borrow_and_update() {
                return exit;
            }
            if rx.changed().await.is_err() {
                return Exit::Quit;
            }
        }
    }
}
