//! The window's end of the local socket to `homeline-host`: UI commands go
//! there with an id, answers come back and settle the UI's promise; events
//! from the host become Tauri events for the UI. The host closing the
//! connection (the app quit) closes the window.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use homeline_desktop::ipc::{self, Hello, ToHost, ToWindow};
use tauri::ipc::{Invoke, InvokeBody, InvokeResolver};
use tauri::{AppHandle, Emitter, Wry};

#[derive(Clone)]
pub struct HostLink(Arc<Inner>);

struct Inner {
    stream: UnixStream,
    /// Written from the IPC and window-event threads.
    writer: Mutex<UnixStream>,
    pending: Mutex<HashMap<u64, InvokeResolver<Wry>>>,
    next_id: AtomicU64,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl HostLink {
    pub fn connect(socket: &Path) -> std::io::Result<Self> {
        let stream = UnixStream::connect(socket)?;
        let mut writer = stream.try_clone()?;
        writer.write_all(&ipc::encode(&ToHost::Hello(Hello::Window)))?;
        Ok(Self(Arc::new(Inner { stream, writer: Mutex::new(writer), pending: Mutex::new(HashMap::new()), next_id: AtomicU64::new(1) })))
    }

    fn send(&self, message: &ToHost) -> std::io::Result<()> {
        lock(&self.0.writer).write_all(&ipc::encode(message))
    }

    /// Send a UI command to the host; its answer settles `invoke` later.
    pub fn forward(&self, invoke: Invoke<Wry>) {
        let args = match invoke.message.payload() {
            InvokeBody::Json(value) => value.clone(),
            InvokeBody::Raw(_) => {
                return invoke.resolver.reject(serde_json::json!({"code": "internal", "message": "Homeline's commands take JSON arguments."}));
            }
        };
        let id = self.0.next_id.fetch_add(1, Ordering::Relaxed);
        let cmd = invoke.message.command().to_owned();
        lock(&self.0.pending).insert(id, invoke.resolver);
        if let Err(e) = self.send(&ToHost::Call { id, cmd, args }) {
            if let Some(resolver) = lock(&self.0.pending).remove(&id) {
                resolver.reject(serde_json::json!({"code": "internal", "message": format!("Homeline's engine cannot be reached ({e}).")}));
            }
        }
    }

    pub fn focus(&self, focused: bool) {
        let _ = self.send(&ToHost::Focus(focused));
    }

    /// Read the host's messages on a thread of their own until it closes.
    pub fn listen(&self, app: AppHandle) {
        let link = self.clone();
        let started = std::thread::Builder::new().name("host-link".into()).spawn(move || {
            let reader = match link.0.stream.try_clone() {
                Ok(s) => s,
                Err(e) => return tracing::error!("the window cannot read from the app: {e}"),
            };
            let mut reader = std::io::BufReader::new(reader);
            loop {
                match ipc::read_line_blocking(&mut reader) {
                    Ok(Some(line)) => match ipc::decode::<ToWindow>(&line) {
                        Ok(message) => link.on_message(&app, message),
                        Err(e) => tracing::warn!("from the app: {e}"),
                    },
                    Ok(None) => break,
                    Err(e) => {
                        tracing::warn!("from the app: {e}");
                        break;
                    }
                }
            }
            // The app quit (or crashed): nothing works without it.
            tracing::info!("the app closed the window");
            app.exit(0);
        });
        if let Err(e) = started {
            tracing::error!("the window cannot listen to the app: {e}");
        }
    }

    fn on_message(&self, app: &AppHandle, message: ToWindow) {
        match message {
            ToWindow::Reply { id, result } => {
                if let Some(resolver) = lock(&self.0.pending).remove(&id) {
                    match result {
                        Ok(value) => resolver.resolve(value),
                        Err(error) => resolver.reject(error),
                    }
                }
            }
            ToWindow::Event { name, payload } => {
                let _ = app.emit(&name, payload);
            }
            ToWindow::Show => {
                let app = app.clone();
                let _ = app.clone().run_on_main_thread(move || crate::window::bring_to_front(&app));
            }
        }
    }
}
