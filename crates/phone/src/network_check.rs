//! The pre-call network check (issue 8, "quality coaching"): before a
//! remote worker's first call, or when calls go wrong — can the phone
//! system be reached, through which kind of NAT, does TURN work, how far
//! away is it — each answered in words with what to do.

use std::net::IpAddr;
use std::time::Duration;

use homeline_rtc::network_check::{binding, classify, server_address, turn_gives_relay, Binding, Nat};
use homeline_rtc::{IceServer, RtcError};
use homeline_sip::Account;
use serde::Serialize;

/// How long each part may take.
const STEP_TIMEOUT: Duration = Duration::from_secs(4);

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkReport {
    /// The account's server (`wss://…`).
    pub server: String,
    /// Time to a working connection (TCP + TLS + WebSocket), when it worked.
    pub server_connect_ms: Option<f64>,
    /// Why the server could not be reached, in words.
    pub server_problem: Option<String>,
    pub nat: Nat,
    /// Round trip to the first STUN server that answered.
    pub stun_rtt_ms: Option<f64>,
    /// `None`: no TURN server configured.
    pub turn_works: Option<bool>,
    /// Why a TURN server over TCP/TLS could not be used at all, in words
    /// (its certificate is not trusted, the handshake failed, unreachable).
    pub turn_problem: Option<String>,
    /// One sentence per finding, for the settings screen.
    pub findings: Vec<String>,
}

/// Run every check for `account` with the STUN/TURN servers calls would use.
pub async fn check(account: &Account, ice_servers: &[IceServer]) -> NetworkReport {
    let (server_connect_ms, server_problem) = match homeline_sip::probe::reach_server(account, STEP_TIMEOUT).await {
        Ok(took) => (Some(took.as_secs_f64() * 1000.0), None),
        Err(e) => (None, Some(e.to_string())),
    };
    let bindings = stun_bindings(ice_servers).await;
    let nat = classify(&crate::network_watch::usable_addresses().into_iter().collect::<Vec<IpAddr>>(), &bindings);
    let stun_rtt_ms = bindings.first().map(|b| b.rtt.as_secs_f64() * 1000.0);
    let turn = ice_servers.iter().find(|s| s.urls.iter().any(|u| u.starts_with("turn:") || u.starts_with("turns:")));
    let (turn_works, turn_problem) = match turn {
        Some(server) => {
            // A `turns:` server is trusted as the account's server is: system roots + its CA file.
            let mut server = server.clone();
            if server.ca_file.is_none() {
                server.ca_file.clone_from(&account.tls.ca_file);
            }
            match turn_gives_relay(&server, STEP_TIMEOUT).await {
                Ok(works) => (Some(works), None),
                Err(RtcError::Setup(why)) => (Some(false), Some(why)),
                Err(other) => (Some(false), Some(other.to_string())),
            }
        }
        None => (None, None),
    };
    let mut report = NetworkReport {
        server: account.server.clone(),
        server_connect_ms,
        server_problem,
        nat,
        stun_rtt_ms,
        turn_works,
        turn_problem,
        findings: Vec::new(),
    };
    report.findings = findings(&report, ice_servers.iter().any(|s| s.urls.iter().any(|u| u.starts_with("stun:"))));
    report
}

/// STUN bindings from one socket to each STUN server (the NAT kind needs one socket).
async fn stun_bindings(ice_servers: &[IceServer]) -> Vec<Binding> {
    let Ok(socket) = tokio::net::UdpSocket::bind("0.0.0.0:0").await else { return Vec::new() };
    let mut out = Vec::new();
    for url in ice_servers.iter().flat_map(|s| s.urls.iter()).filter(|u| u.starts_with("stun:") || u.starts_with("turn:")) {
        let Some(server) = server_address(url).await else { continue };
        if out.iter().any(|b: &Binding| b.server == server) {
            continue;
        }
        // TURN servers answer STUN bindings too: a second opinion on the NAT.
        if let Ok(b) = binding(&socket, server, STEP_TIMEOUT).await {
            out.push(b);
        }
    }
    out
}

/// The report in sentences, most important first.
pub fn findings(report: &NetworkReport, stun_configured: bool) -> Vec<String> {
    let mut out = Vec::new();
    match (&report.server_problem, report.server_connect_ms) {
        (Some(problem), _) => out.push(format!("The phone system at {} cannot be reached: {problem}", report.server)),
        (None, Some(ms)) if ms > 1000.0 => out.push(format!("The phone system answers, but slowly ({ms:.0} ms to connect).")),
        (None, Some(ms)) => out.push(format!("The phone system answers ({ms:.0} ms to connect).")),
        (None, None) => {}
    }
    match &report.nat {
        Nat::None { .. } => out.push("No NAT between you and the Internet: calls connect directly.".to_owned()),
        Nat::EndpointIndependent { public } => out.push(format!("You are behind a NAT (seen as {public}) that keeps direct calls working.")),
        Nat::Symmetric { public } => out.push(format!(
            "You are behind a strict NAT (seen as {public}): calls need a TURN server to carry audio."
        )),
        Nat::Unknown if stun_configured => out.push("No STUN server answered: your network may block UDP, which calls need.".to_owned()),
        Nat::Unknown => out.push("No STUN server is set up, so the NAT could not be checked.".to_owned()),
    }
    match (report.turn_works, &report.turn_problem) {
        (Some(true), _) => out.push("The TURN server works: calls can be relayed when a direct path fails.".to_owned()),
        (Some(false), Some(problem)) => out.push(problem.clone()),
        (Some(false), None) => out.push("The TURN server did not give a relay: check its address, user name and password.".to_owned()),
        (None, _) if matches!(report.nat, Nat::Symmetric { .. }) => {
            out.push("No TURN server is set up; ask your administrator for one.".to_owned())
        }
        (None, _) => {}
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(nat: Nat, turn_works: Option<bool>, problem: Option<&str>) -> NetworkReport {
        NetworkReport {
            server: "wss://pbx.example.com".into(),
            server_connect_ms: problem.is_none().then_some(84.0),
            server_problem: problem.map(str::to_owned),
            nat,
            stun_rtt_ms: Some(20.0),
            turn_works,
            turn_problem: None,
            findings: Vec::new(),
        }
    }

    #[test]
    fn findings_say_what_works_and_what_to_do() {
        let public = IpAddr::from([203, 0, 113, 7]);
        let strict = findings(&report(Nat::Symmetric { public }, None, None), true);
        assert_eq!(strict[0], "The phone system answers (84 ms to connect).");
        assert!(strict[1].contains("strict NAT (seen as 203.0.113.7)"), "{strict:?}");
        assert_eq!(strict[2], "No TURN server is set up; ask your administrator for one.");

        let down = findings(&report(Nat::Unknown, Some(false), Some("could not connect to pbx.example.com: refused")), true);
        assert!(down[0].starts_with("The phone system at wss://pbx.example.com cannot be reached"), "{down:?}");
        assert!(down[1].contains("may block UDP"));
        assert!(down[2].contains("did not give a relay"));
        assert!(findings(&report(Nat::Unknown, None, None), false)[1].contains("No STUN server is set up"));

        let untrusted = "The TURN server turns:10.0.0.1:5349 could not be used: its certificate is not trusted: it is signed by an authority this computer does not trust (add that CA to the account's CA file).";
        let tls = NetworkReport { turn_problem: Some(untrusted.into()), ..report(Nat::Unknown, Some(false), None) };
        assert_eq!(findings(&tls, true)[2], untrusted, "the TURN server's own problem, said as it is");
    }
}
