//! The registration engine (`homeline-sip`) against the harness Kamailio:
//! WS and WSS, SHA-256 digest, a wrong password without a retry storm,
//! certificate trust (CA file, pin, untrusted), a server restart, and
//! unregister on stop — checked from outside with a REGISTER fetch.

// A failed expectation is the test failing, with its message.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use homeline_sip::{Account, InstanceId, Registration, RegistrationEvents, RegistrationState, Secret, TlsTrust};
use homeline_tests::process::Service;
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use homeline_tests::sip_probe::{DigestAlgorithm, SipProbe};

const PASSWORD: &str = "alice-secret";
const INSTANCE: &str = "0f8fad5b-d9cb-469f-a165-70867728950e";

fn kamailio_with(algorithm: DigestAlgorithm) -> Kamailio {
    let opts = KamailioOptions::new().user("alice", PASSWORD).digest_algorithm(algorithm);
    kamailio::start(&opts).unwrap_or_else(|e| panic!("Kamailio must start for this test: {e}"))
}

fn account(k: &Kamailio, server: String) -> Account {
    Account {
        address: format!("alice@{}", k.domain()),
        auth_user: None,
        display_name: Some("Alice".into()),
        server,
        outbound_proxy: None,
        expires: 300,
        tls: TlsTrust { ca_file: Some(k.ca_pem().to_path_buf()), fingerprint_sha256: None },
    }
}

fn start(account: Account, password: &str) -> (Registration, RegistrationEvents) {
    Registration::start(account, Secret::new(password), InstanceId(INSTANCE.into())).expect("the account is valid")
}

/// The next state, or a failure naming what we waited for.
async fn next_state(events: &mut RegistrationEvents, within: Duration, k: &Kamailio) -> RegistrationState {
    match tokio::time::timeout(within, events.next()).await {
        Ok(Some(e)) => e.state,
        Ok(None) => panic!("the event stream ended"),
        Err(_) => panic!("no registration event within {within:?}\n{}", k.log_tail(30)),
    }
}

/// Waits for a state matching `want`, skipping others; returns it.
async fn wait_for(
    events: &mut RegistrationEvents,
    within: Duration,
    k: &Kamailio,
    want: impl Fn(&RegistrationState) -> bool,
) -> RegistrationState {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let state = next_state(events, left, k).await;
        if want(&state) {
            return state;
        }
    }
}

/// The Contacts Kamailio holds for alice: a REGISTER without Contact (RFC 3261 §10.2.3).
fn bindings(k: &Kamailio) -> Vec<String> {
    let mut probe = SipProbe::connect_ws(&k.ws_url(), Duration::from_secs(3)).expect("probe connects");
    let fetch = |probe: &mut SipProbe| {
        let mut request = probe.register_request("alice", k.domain(), 0);
        request.headers.retain(|(name, _)| name != "Contact" && name != "Expires");
        request
    };
    let first = fetch(&mut probe);
    let challenge = probe.transact(&first).expect("Kamailio answers the fetch");
    let mut second = fetch(&mut probe);
    probe.add_credentials(&mut second, &challenge, "alice", PASSWORD).expect("challenge");
    let ok = probe.transact(&second).expect("Kamailio answers the authenticated fetch");
    assert_eq!(ok.status(), Some(200), "{ok:?}");
    ok.headers_named("Contact").flat_map(|v| v.split(',')).map(|c| c.trim().to_string()).collect()
}

fn our_bindings(k: &Kamailio) -> Vec<String> {
    bindings(k).into_iter().filter(|c| c.contains(INSTANCE)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_over_ws_and_wss_and_unregisters_on_stop() {
    let k = kamailio_with(DigestAlgorithm::Md5);
    for server in [k.ws_url(), k.wss_url()] {
        let started = Instant::now();
        let (registration, mut events) = start(account(&k, server.clone()), PASSWORD);
        assert_eq!(next_state(&mut events, Duration::from_secs(5), &k).await, RegistrationState::Registering);
        let state = next_state(&mut events, Duration::from_secs(5), &k).await;
        assert_eq!(state, RegistrationState::Registered { expires: 300 }, "over {server}\n{}", k.log_tail(30));
        eprintln!("{server}: start → Registered in {:?}", started.elapsed());
        assert_eq!(registration.registers_sent(), 2, "one challenge, one answer");

        let held = tokio::task::block_in_place(|| our_bindings(&k));
        assert_eq!(held.len(), 1, "one binding for our instance: {held:?}");
        let contact = &held[0];
        assert!(contact.contains(".invalid;transport=ws;ob>"), "{contact}");
        assert!(contact.contains("reg-id=1"), "{contact}");

        registration.stop().await;
        assert_eq!(next_state(&mut events, Duration::from_secs(5), &k).await, RegistrationState::Unregistered);
        let left = tokio::task::block_in_place(|| our_bindings(&k));
        assert!(left.is_empty(), "stop removes the binding, still there: {left:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registers_with_sha256_digest() {
    let k = kamailio_with(DigestAlgorithm::Sha256);
    let (registration, mut events) = start(account(&k, k.ws_url()), PASSWORD);
    let state = wait_for(&mut events, Duration::from_secs(5), &k, |s| !matches!(s, RegistrationState::Registering)).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 }, "{}", k.log_tail(30));
    registration.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_fails_in_words_without_a_retry_storm() {
    let k = kamailio_with(DigestAlgorithm::Md5);
    let (registration, mut events) = start(account(&k, k.ws_url()), "not-the-password");
    let state = wait_for(&mut events, Duration::from_secs(5), &k, |s| !matches!(s, RegistrationState::Registering)).await;
    assert_eq!(
        state,
        RegistrationState::Failed { reason: format!("The server rejected the password for alice@{}.", k.domain()) }
    );
    // Watch a while: no further attempt (the next is a minute away).
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(registration.registers_sent(), 2, "one challenge and one wrong answer, then quiet");
    let log = std::fs::read_to_string(k.log_path()).unwrap_or_default();
    eprintln!("Kamailio log lines mentioning REGISTER: {}", log.matches("REGISTER").count());

    // The user fixes the password: registered at once.
    let fixed = Instant::now();
    registration.account_edited(account(&k, k.ws_url()), Secret::new(PASSWORD)).expect("valid account");
    let state = wait_for(&mut events, Duration::from_secs(3), &k, |s| !matches!(s, RegistrationState::Registering)).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 });
    assert!(fixed.elapsed() < Duration::from_secs(2), "edit retries at once: {:?}", fixed.elapsed());
    registration.stop().await;
}

fn server_fingerprint(k: &Kamailio) -> String {
    use rustls::pki_types::pem::PemObject;
    use sha2::Digest as _;
    let cert = rustls::pki_types::CertificateDer::from_pem_file(k.dir().join("server.pem")).expect("server.pem");
    sha2::Sha256::digest(cert.as_ref()).iter().map(|b| format!("{b:02X}")).collect::<Vec<_>>().join(":")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn certificate_trust_untrusted_pinned_and_wrong_pin() {
    let k = kamailio_with(DigestAlgorithm::Md5);
    let outcome = |tls: TlsTrust| {
        let mut a = account(&k, k.wss_url());
        a.tls = tls;
        let (registration, mut events) = start(a, PASSWORD);
        let k = &k;
        async move {
            let state = wait_for(&mut events, Duration::from_secs(5), k, |s| !matches!(s, RegistrationState::Registering)).await;
            registration.stop().await;
            state
        }
    };

    // Only the system roots: the test CA is unknown.
    let state = outcome(TlsTrust::default()).await;
    let RegistrationState::Failed { reason } = state else { panic!("untrusted certificate must fail: {state:?}") };
    assert!(reason.contains("127.0.0.1") && reason.contains("does not trust"), "{reason}");

    // Pinned to the server's certificate: accepted without the CA.
    let pin = server_fingerprint(&k);
    let state = outcome(TlsTrust { ca_file: None, fingerprint_sha256: Some(pin) }).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 });

    // Pinned to something else: refused, in words.
    let state = outcome(TlsTrust { ca_file: None, fingerprint_sha256: Some("00".repeat(32)) }).await;
    let RegistrationState::Failed { reason } = state else { panic!("wrong pin must fail: {state:?}") };
    assert!(reason.contains("does not match the fingerprint"), "{reason}");
}

/// Stops the harness's Kamailio (its process group) and starts it again from
/// the same configuration, so it listens on the same ports.
fn kill_kamailio(k: &mut Kamailio) {
    let pid = std::fs::read_to_string(k.dir().join("kamailio.pid")).expect("Kamailio's pid file");
    let pid = pid.trim();
    let _ = Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
    let deadline = Instant::now() + Duration::from_secs(5);
    while k.is_running() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!k.is_running(), "Kamailio stopped");
}

fn restart_kamailio(k: &Kamailio) -> Service {
    let dir: &Path = k.dir();
    let mut cmd = Command::new("kamailio");
    cmd.args(["-DD", "-E", "-f"])
        .arg(dir.join("kamailio.cfg"))
        .arg("-Y")
        .arg(dir)
        .arg("-P")
        .arg(dir.join("kamailio.pid"))
        .args(["-m", "64", "-M", "8"]);
    let mut service = Service::spawn("kamailio-restarted", cmd, &dir.join("kamailio-restarted.log")).expect("restart");
    let port: u16 = k.ws_url().rsplit(':').next().and_then(|p| p.parse().ok()).expect("ws port");
    service
        .wait_ready(Duration::from_secs(5), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok())
        .expect("Kamailio listens again");
    service
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_restart_retries_then_registers_again() {
    let mut k = kamailio_with(DigestAlgorithm::Md5);
    let (registration, mut events) = start(account(&k, k.ws_url()), PASSWORD);
    let state = wait_for(&mut events, Duration::from_secs(5), &k, |s| !matches!(s, RegistrationState::Registering)).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 });

    tokio::task::block_in_place(|| kill_kamailio(&mut k));
    let state = next_state(&mut events, Duration::from_secs(5), &k).await;
    assert!(matches!(state, RegistrationState::Retrying { in_seconds: 1 }), "{state:?}");
    // Stay down a little, so at least one reconnect fails.
    tokio::time::sleep(Duration::from_secs(2)).await;

    let _restarted = tokio::task::block_in_place(|| restart_kamailio(&k));
    let back = Instant::now();
    let state = wait_for(&mut events, Duration::from_secs(8), &k, |s| matches!(s, RegistrationState::Registered { .. })).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 });
    eprintln!("registered again {:?} after Kamailio came back", back.elapsed());
    assert!(back.elapsed() <= Duration::from_secs(5), "registered again within 5 s of the server's return");
    let held = tokio::task::block_in_place(|| our_bindings(&k));
    assert_eq!(held.len(), 1, "{held:?}");
    registration.stop().await;
}

/// A registration over WS with `timing`, once it is registered.
async fn registered_over_ws(k: &Kamailio, timing: homeline_sip::Timing) -> (Registration, RegistrationEvents) {
    let (registration, mut events) = Registration::start_with(
        account(k, k.ws_url()),
        Secret::new(PASSWORD),
        InstanceId(INSTANCE.into()),
        timing,
        Box::new(homeline_sip::OsEntropy),
    )
    .expect("valid account");
    let state = wait_for(&mut events, Duration::from_secs(5), k, |s| !matches!(s, RegistrationState::Registering)).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 });
    (registration, events)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crlf_keepalives_keep_the_flow_up() {
    let k = kamailio_with(DigestAlgorithm::Md5);
    let timing = homeline_sip::Timing { keepalive_interval: Duration::from_millis(300), ..Default::default() };
    let (registration, mut events) = registered_over_ws(&k, timing).await;
    // A dozen keep-alives: Kamailio must neither close the WebSocket nor complain.
    if let Ok(Some(e)) = tokio::time::timeout(Duration::from_secs(4), events.next()).await {
        panic!("the flow changed state during keep-alives: {e:?}\n{}", k.log_tail(30));
    }
    let log = std::fs::read_to_string(k.log_path()).unwrap_or_default();
    assert!(!log.contains("ERROR"), "Kamailio logged errors:\n{}", k.log_tail(30));
    assert_eq!(tokio::task::block_in_place(|| our_bindings(&k)).len(), 1);
    registration.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_stops_answering_keepalives_is_left_and_registered_to_again() {
    let k = kamailio_with(DigestAlgorithm::Md5);
    let timing = homeline_sip::Timing {
        keepalive_interval: Duration::from_millis(300),
        liveness_timeout: Duration::from_secs(1),
        ..Default::default()
    };
    let (registration, mut events) = registered_over_ws(&k, timing).await;
    // The connection stays open but nothing answers: without the liveness
    // check this would look registered until the next refresh, minutes away.
    k.freeze(true);
    let state = wait_for(&mut events, Duration::from_secs(5), &k, |s| matches!(s, RegistrationState::Retrying { .. })).await;
    k.freeze(false);
    assert!(matches!(state, RegistrationState::Retrying { .. }), "{state:?}");
    let state = wait_for(&mut events, Duration::from_secs(10), &k, |s| matches!(s, RegistrationState::Registered { .. })).await;
    assert_eq!(state, RegistrationState::Registered { expires: 300 });
    registration.stop().await;
}
