//! One module per real service. Each exposes a `start(...)` returning a handle
//! that owns the process(es) and stops them on drop.

pub mod coturn;
pub mod desktop;
pub mod kamailio;
pub mod netns;
pub mod notifications;
pub mod pulse;
pub mod rtpengine;
pub mod secrets;
pub mod tray_host;
pub mod update_server;
