//! The dialer window as a process of its own (`homeline-window`, the Tauri
//! app in src-tauri), and the local socket it and second launches talk to.
//!
//! The window is started when the user opens it and ends when they close it,
//! so WebKit's 200 MB are held only while the window is up. Its UI's commands
//! come here (`dispatch`), and the engine's events go to it. A second launch
//! (the menu, a clicked link, the login item) connects, hands over its
//! arguments and exits: the single instance.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;

use crate::ipc::{self, Hello, ToHost, ToLaunch, ToWindow};
use crate::Shell;

/// Tells the window's process where the socket is.
pub const SOCKET_ENV: &str = "HOMELINE_HOST_SOCKET";
/// The argument that makes `homeline` the window's process.
/// The dialer window's binary, installed beside `homeline` (src-tauri).
pub const WINDOW_PROGRAM: &str = "homeline-window";
/// A window process that has not connected after this long is given up.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Events kept for a window that is starting (it shows them once connected).
const MAX_BUFFERED: usize = 64;

pub struct WindowLink {
    socket: PathBuf,
    program: PathBuf,
    state: Mutex<State>,
}

enum State {
    Closed,
    /// Started, not connected yet: events wait for it.
    Starting { since: Instant, buffered: Vec<ToWindow> },
    /// `levels`: the window shows a level meter and wants the calls' `AudioLevels`.
    Open { to_window: mpsc::UnboundedSender<ToWindow>, focused: bool, generation: u64, levels: bool },
}

impl WindowLink {
    /// `program`: the window's binary ([`window_program`]).
    pub fn new(socket: PathBuf, program: PathBuf) -> Self {
        Self { socket, program, state: Mutex::new(State::Closed) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn is_open(&self) -> bool {
        matches!(*self.lock(), State::Open { .. })
    }

    pub fn focused(&self) -> bool {
        matches!(*self.lock(), State::Open { focused: true, .. })
    }

    /// Bring the window up: start its process, or bring it to the front.
    pub fn show(&self, shell: &Shell) {
        let mut state = self.lock();
        match &*state {
            State::Open { to_window, .. } => {
                let _ = to_window.send(ToWindow::Show);
            }
            State::Starting { since, .. } if since.elapsed() < START_TIMEOUT => {}
            State::Starting { .. } | State::Closed => match self.start_process(shell) {
                Ok(()) => *state = State::Starting { since: Instant::now(), buffered: Vec::new() },
                Err(e) => {
                    tracing::error!("could not open the dialer window ({}): {e}", self.program.display());
                    *state = State::Closed;
                }
            },
        }
    }

    /// Whether the open window shows a level meter (Settings → Audio): the
    /// calls' `AudioLevels`, 20 a second, go to it only then.
    pub fn wants_levels(&self) -> bool {
        matches!(*self.lock(), State::Open { levels: true, .. })
    }

    /// The window started or stopped showing a level meter.
    pub fn follow_levels(&self, on: bool) {
        if let State::Open { levels, .. } = &mut *self.lock() {
            *levels = on;
        }
    }

    /// Send a UI event (nothing when no window is open or starting).
    pub fn emit(&self, name: &str, payload: &impl Serialize) {
        let mut state = self.lock();
        // In the tray (the usual case) nothing is even serialised.
        if matches!(*state, State::Closed) {
            return;
        }
        let Ok(payload) = serde_json::to_value(payload) else { return };
        let message = ToWindow::Event { name: name.to_owned(), payload };
        match &mut *state {
            State::Open { to_window, .. } => {
                let _ = to_window.send(message);
            }
            State::Starting { buffered, .. } if buffered.len() < MAX_BUFFERED => buffered.push(message),
            _ => {}
        }
    }

    /// Close the window (the app quits): its process ends when the
    /// connection does.
    pub fn close(&self) {
        *self.lock() = State::Closed;
    }

    fn start_process(&self, shell: &Shell) -> std::io::Result<()> {
        let mut child = std::process::Command::new(&self.program)
            .env(SOCKET_ENV, &self.socket)
            .stdin(std::process::Stdio::null())
            .spawn()?;
        tracing::info!("dialer window started (process {})", child.id());
        let shell = shell.clone();
        // Reap it; one that died before connecting can be started again.
        std::thread::Builder::new().name("window-reaper".into()).spawn(move || {
            let status = child.wait();
            let mut state = shell.window().lock();
            if matches!(*state, State::Starting { .. }) {
                tracing::warn!("the dialer window's process ended before it connected ({status:?})");
                *state = State::Closed;
            }
        })?;
        Ok(())
    }
}

/// This binary (`homeline`). Resolved once, at the first call (early in
/// `run`): after a package upgrade /proc/self/exe names the deleted old file,
/// and the restart needs the path.
pub fn app_program() -> PathBuf {
    static OWN: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    OWN.get_or_init(|| std::env::current_exe().unwrap_or_else(|_| PathBuf::from("homeline"))).clone()
}

/// The window's binary, beside this one.
pub fn window_program() -> PathBuf {
    app_program().with_file_name(WINDOW_PROGRAM)
}

/// Listen on `path`, removing a socket a crashed instance left behind.
/// Call after `ipc::hand_over` found nobody listening.
pub fn bind(path: &Path) -> std::io::Result<std::os::unix::net::UnixListener> {
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)?;
    }
    let _ = std::fs::remove_file(path);
    let listener = std::os::unix::net::UnixListener::bind(path)?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    listener.set_nonblocking(true)?;
    Ok(listener)
}

/// Accept the window and second launches until the app ends.
pub async fn serve(listener: std::os::unix::net::UnixListener, shell: Shell) {
    let listener = match UnixListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => return tracing::error!("the app's socket does not work ({e}): second launches and the window cannot reach it"),
    };
    let generation = Arc::new(std::sync::atomic::AtomicU64::new(0));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("app socket: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        // Only this user's processes.
        if !stream.peer_cred().is_ok_and(|c| c.uid() == ipc::uid()) {
            tracing::warn!("app socket: a connection from another user was refused");
            continue;
        }
        let shell = shell.clone();
        let n = generation.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        tokio::spawn(async move {
            if let Err(e) = connection(stream, shell, n).await {
                tracing::info!("app socket: {e}");
            }
        });
    }
}

async fn connection(stream: UnixStream, shell: Shell, generation: u64) -> Result<(), String> {
    let (read, mut write) = stream.into_split();
    let mut reader = tokio::io::BufReader::new(read);
    let first = ipc::read_line(&mut reader).await.map_err(|e| e.to_string())?.ok_or("closed before saying who it is")?;
    match ipc::decode::<ToHost>(&first)? {
        ToHost::Hello(Hello::Launch { args }) => {
            tracing::info!("a second launch handed over to this one");
            on_second_launch(&shell, &args);
            write.write_all(&ipc::encode(&ToLaunch::Done)).await.map_err(|e| e.to_string())
        }
        ToHost::Hello(Hello::Window) => window_session(reader, write, shell, generation).await,
        other => Err(format!("unexpected first message {other:?}")),
    }
}

/// A second launch: show the window; a clicked link is dialled (or filled in).
fn on_second_launch(shell: &Shell, args: &[String]) {
    shell.show_window();
    if let Some(link) = crate::links::call_target(args) {
        crate::link_call::handle(shell, &link);
    }
}

async fn window_session(
    mut reader: tokio::io::BufReader<tokio::net::unix::OwnedReadHalf>,
    mut write: tokio::net::unix::OwnedWriteHalf,
    shell: Shell,
    generation: u64,
) -> Result<(), String> {
    let (to_window, mut outbox) = mpsc::unbounded_channel::<ToWindow>();
    {
        let mut state = shell.window().lock();
        let buffered = match std::mem::replace(&mut *state, State::Closed) {
            State::Starting { buffered, .. } => buffered,
            _ => Vec::new(),
        };
        for message in buffered {
            let _ = to_window.send(message);
        }
        *state = State::Open { to_window: to_window.clone(), focused: false, generation, levels: false };
    }
    tracing::info!("dialer window connected");
    let writer = tokio::spawn(async move {
        while let Some(message) = outbox.recv().await {
            if write.write_all(&ipc::encode(&message)).await.is_err() {
                break;
            }
        }
    });
    let result = loop {
        let line = match ipc::read_line(&mut reader).await {
            Ok(Some(line)) => line,
            Ok(None) => break Ok(()),
            Err(e) => break Err(e.to_string()),
        };
        match ipc::decode::<ToHost>(&line) {
            Ok(ToHost::Call { id, cmd, args }) => {
                let (shell, to_window) = (shell.clone(), to_window.clone());
                tokio::spawn(async move {
                    let result = crate::dispatch::dispatch(&shell, &cmd, args)
                        .await
                        .map_err(|e| serde_json::to_value(e).unwrap_or_default());
                    let _ = to_window.send(ToWindow::Reply { id, result });
                });
            }
            Ok(ToHost::Focus(focused)) => {
                tracing::debug!("dialer window focused: {focused}");
                if let State::Open { focused: f, generation: g, .. } = &mut *shell.window().lock() {
                    if *g == generation {
                        *f = focused;
                    }
                }
                if focused {
                    crate::tray::seen(&shell);
                }
            }
            Ok(ToHost::Hello(_)) => {}
            Err(e) => tracing::warn!("dialer window: {e}"),
        }
    };
    writer.abort();
    window_closed(&shell, generation);
    result
}

/// The window's process ended (closed by the user, or crashed).
fn window_closed(shell: &Shell, generation: u64) {
    {
        let mut state = shell.window().lock();
        match &*state {
            State::Open { generation: g, .. } if *g == generation => *state = State::Closed,
            _ => return,
        }
    }
    tracing::info!("dialer window closed");
    // Nobody looks at the level meter any more.
    let engine = shell.engine().clone();
    tokio::task::spawn_blocking(move || {
        if engine.stop_mic_meter() {
            tracing::info!("the window closed: the microphone meter is closed");
        }
    });
    // Without a tray icon the app would be unreachable: closing the window quits.
    if !crate::tray::installed() {
        shell.quit();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use std::io::Write;
    use std::sync::Arc;

    use homeline_phone::{Engine, EngineConfig, EngineEvent};

    use super::*;
    use crate::prefs::Prefs;

    /// A host on a real socket in a temp folder; `program` stands for `homeline`.
    fn host(dir: &Path, program: &Path) -> (Shell, PathBuf) {
        let socket = dir.join("host.sock");
        let engine = Arc::new(Engine::open(EngineConfig::ephemeral()));
        let shell = Shell::new(engine, Prefs::load(None), WindowLink::new(socket.clone(), program.to_path_buf()), tokio::runtime::Handle::current());
        let listener = bind(&socket).expect("bind");
        tokio::spawn(serve(listener, shell.clone()));
        (shell, socket)
    }

    fn send(stream: &mut std::os::unix::net::UnixStream, message: &ToHost) {
        stream.write_all(&ipc::encode(message)).unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_window_sends_commands_and_receives_answers_and_events() {
        let dir = tempfile::tempdir().unwrap();
        let (shell, socket) = host(dir.path(), Path::new("/nonexistent/homeline"));
        let answers = tokio::task::spawn_blocking(move || {
            let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            send(&mut stream, &ToHost::Hello(Hello::Window));
            send(&mut stream, &ToHost::Call { id: 1, cmd: "dialer_press".into(), args: serde_json::json!({"key": "7"}) });
            send(&mut stream, &ToHost::Call { id: 2, cmd: "no_such_command".into(), args: serde_json::json!({}) });
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            let mut got = Vec::new();
            while got.len() < 3 {
                let line = ipc::read_line_blocking(&mut reader).unwrap().expect("the host keeps the connection");
                got.push(ipc::decode::<ToWindow>(&line).unwrap());
            }
            got
        });
        // The event is sent once the window is connected.
        assert!(tokio::time::timeout(Duration::from_secs(10), async {
            while !shell.window().is_open() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok());
        shell.notice("hello window".into());
        let got = answers.await.unwrap();
        let reply = |id: u64| got.iter().find_map(|m| match m {
            ToWindow::Reply { id: i, result } if *i == id => Some(result.clone()),
            _ => None,
        });
        assert_eq!(reply(1).unwrap().unwrap()["text"], "7");
        assert!(reply(2).unwrap().unwrap_err()["message"].as_str().unwrap().contains("no command"));
        let event = got.iter().find_map(|m| match m {
            ToWindow::Event { name, payload } => Some((name.clone(), payload.clone())),
            _ => None,
        });
        let expected = serde_json::to_value(EngineEvent::Notice { message: "hello window".into() }).unwrap();
        assert_eq!(event, Some((crate::ENGINE_EVENT.to_owned(), expected)));
        // The window went away: the host notices.
        assert!(tokio::time::timeout(Duration::from_secs(10), async {
            while shell.window().is_open() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn call_levels_go_to_a_window_only_while_it_follows_them() {
        let dir = tempfile::tempdir().unwrap();
        let (shell, socket) = host(dir.path(), Path::new("/nonexistent/homeline"));
        assert!(!shell.window().wants_levels(), "no window, no levels");
        let (ask, asked) = std::sync::mpsc::channel::<bool>();
        let (done, answered) = std::sync::mpsc::channel::<()>();
        let window = tokio::task::spawn_blocking(move || {
            let mut stream = std::os::unix::net::UnixStream::connect(&socket).unwrap();
            stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            send(&mut stream, &ToHost::Hello(Hello::Window));
            let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
            for (id, on) in asked.iter().enumerate() {
                send(&mut stream, &ToHost::Call { id: id as u64, cmd: "follow_audio_levels".into(), args: serde_json::json!({ "on": on }) });
                loop {
                    let line = ipc::read_line_blocking(&mut reader).unwrap().expect("the host keeps the connection");
                    if let ToWindow::Reply { result, .. } = ipc::decode::<ToWindow>(&line).unwrap() {
                        assert!(result.is_ok(), "{result:?}");
                        break;
                    }
                }
                done.send(()).unwrap();
            }
        });
        let follow = |on: bool| {
            ask.send(on).unwrap();
            answered.recv_timeout(Duration::from_secs(10)).expect("the host answers");
        };
        let follow_and_check = |on: bool| {
            follow(on);
            assert_eq!(shell.window().wants_levels(), on);
        };
        tokio::task::block_in_place(|| {
            follow_and_check(true);
            follow_and_check(false);
            follow_and_check(true);
        });
        // The window goes away while following: the next one starts without.
        drop(ask);
        window.await.unwrap();
        assert!(tokio::time::timeout(Duration::from_secs(10), async {
            while shell.window().is_open() {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok());
        assert!(!shell.window().wants_levels());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_second_launch_hands_over_and_nobody_listening_means_start_anew() {
        let dir = tempfile::tempdir().unwrap();
        let nobody = dir.path().join("nobody.sock");
        assert!(!ipc::hand_over(&nobody, &[]).unwrap(), "no socket: no instance");
        // A socket file a crashed instance left behind: nobody listens.
        drop(std::os::unix::net::UnixListener::bind(&nobody).unwrap());
        assert!(!ipc::hand_over(&nobody, &[]).unwrap(), "a stale socket is no instance");

        let (shell, socket) = host(dir.path(), Path::new("/nonexistent/homeline"));
        let args = vec!["tel:+4930123".to_owned()];
        let handed = tokio::task::spawn_blocking(move || ipc::hand_over(&socket, &args)).await.unwrap();
        assert!(handed.unwrap(), "the running instance took the arguments");
        // The link went into the dialer (ask before calling is the default).
        assert!(tokio::time::timeout(Duration::from_secs(10), async {
            while shell.engine().dialer_view().text != "+4930123" {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
        .is_ok());
    }
}
