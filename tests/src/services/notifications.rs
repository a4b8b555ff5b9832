//! A desktop notification server (org.freedesktop.Notifications, the D-Bus
//! interface GNOME Shell, KDE and dunst serve) on a harness bus. It records
//! every notice it is asked to show or close, and "clicks" a notice's buttons
//! by sending the ActionInvoked signal, as a real server does when the user
//! clicks. The app under test talks real D-Bus to it; no display needed.

use std::collections::HashMap;
use std::sync::mpsc::{channel, Receiver, Sender};
use std::time::{Duration, Instant};

use crate::process::HarnessError;

const PATH: &str = "/org/freedesktop/Notifications";
const INTERFACE: &str = "org.freedesktop.Notifications";

/// What the server was asked to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request {
    Notify(Notice),
    Close { id: u32 },
}

/// One `Notify` call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    pub id: u32,
    pub app_name: String,
    pub summary: String,
    pub body: String,
    /// Action keys, without their labels (`["answer", "decline"]`).
    pub actions: Vec<String>,
    /// The `category` hint (`call.incoming`), if any.
    pub category: Option<String>,
}

struct Server {
    next_id: u32,
    requests: Sender<Request>,
}

#[zbus::interface(name = "org.freedesktop.Notifications")]
impl Server {
    #[allow(clippy::too_many_arguments)] // the D-Bus method's signature
    fn notify(
        &mut self,
        app_name: String,
        replaces_id: u32,
        _app_icon: String,
        summary: String,
        body: String,
        actions: Vec<String>,
        hints: HashMap<String, zbus::zvariant::OwnedValue>,
        _expire_timeout: i32,
    ) -> u32 {
        let id = if replaces_id != 0 {
            replaces_id
        } else {
            self.next_id += 1;
            self.next_id
        };
        let category = hints.get("category").and_then(|v| String::try_from(v.clone()).ok());
        // Actions come as key, label, key, label…
        let actions = actions.chunks(2).map(|pair| pair[0].clone()).collect();
        let _ = self.requests.send(Request::Notify(Notice { id, app_name, summary, body, actions, category }));
        id
    }

    fn close_notification(&mut self, id: u32) {
        let _ = self.requests.send(Request::Close { id });
    }

    fn get_capabilities(&self) -> Vec<String> {
        ["actions", "body", "body-markup"].map(String::from).to_vec()
    }

    fn get_server_information(&self) -> (String, String, String, String) {
        ("homeline-test-notifications".into(), "homeline".into(), "1".into(), "1.2".into())
    }
}

/// The server, owning the bus name until dropped.
pub struct NotificationServer {
    connection: zbus::Connection,
    requests: Receiver<Request>,
}

/// Serve notifications on the bus at `bus_address` (e.g. the harness
/// Secret Service's session bus).
pub fn start(bus_address: &str) -> Result<NotificationServer, HarnessError> {
    let (tx, requests) = channel();
    let server = Server { next_id: 0, requests: tx };
    let connection = zbus::block_on(async {
        zbus::connection::Builder::address(bus_address)?.name(INTERFACE)?.serve_at(PATH, server)?.build().await
    })
    .map_err(|e| HarnessError::StartFailed {
        service: "notification server".into(),
        reason: format!("serving {INTERFACE} on the test bus: {e}"),
        log: "-".into(),
        tail: String::new(),
    })?;
    Ok(NotificationServer { connection, requests })
}

impl NotificationServer {
    /// The next request that `want` accepts within `timeout`; panics with
    /// everything seen instead.
    pub fn expect(&self, timeout: Duration, what: &str, want: impl Fn(&Request) -> bool) -> Request {
        let deadline = Instant::now() + timeout;
        let mut seen = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            match self.requests.recv_timeout(left) {
                Ok(r) if want(&r) => return r,
                Ok(r) => seen.push(r),
                Err(_) => break,
            }
        }
        panic!("the notification server got no {what} within {timeout:?}; it got: {seen:#?}");
    }

    /// The user clicks the button `action` of notice `id`.
    pub fn click(&self, id: u32, action: &str) {
        zbus::block_on(self.connection.emit_signal(None::<zbus::names::BusName<'_>>, PATH, INTERFACE, "ActionInvoked", &(id, action)))
            .unwrap_or_else(|e| panic!("sending ActionInvoked({id}, {action}): {e}"));
    }
}
