//! The signalling half of the pre-call network check: can the account's
//! server be reached the way calls would reach it (TCP, TLS with the
//! account's trust settings, WebSocket upgrade), and how long that takes.

use std::time::{Duration, Instant};

use crate::account::{Account, ValidAccount};
use crate::error::SipError;
use crate::transport::tls::client_config;
use crate::transport::ws::connect;

/// Open and close one connection to `account`'s server; the time to a
/// working WebSocket.
pub async fn reach_server(account: &Account, timeout: Duration) -> Result<Duration, SipError> {
    let account = ValidAccount::new(account.clone())?;
    let url = account.connect_to.clone();
    let tls = if url.secure { Some(client_config(&account)?) } else { None };
    let started = Instant::now();
    let mut ws = tokio::time::timeout(timeout, connect(&url, tls, account.fingerprint.is_some()))
        .await
        .map_err(|_| SipError::Connect { host: url.host.clone(), why: format!("no answer within {} s", timeout.as_secs()) })??;
    let took = started.elapsed();
    let _ = tokio::time::timeout(Duration::from_secs(2), ws.close(None)).await;
    Ok(took)
}
