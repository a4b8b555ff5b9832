//! Call history end to end: two engines call each other through the harness
//! Kamailio (one call answered, one declined); each side's history holds the
//! calls with the right direction, reasons and missed flag, and still does
//! after the engine is reopened from the same folders.

#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::path::Path;
use std::time::Duration;

use homeline_phone::{CallDirection, CallState, CallView, Engine, EngineConfig, EngineEvent, HistoryFilter, MediaOptions};
use homeline_store::AppDirs;
use homeline_tests::services::kamailio::{self, Kamailio, KamailioOptions};
use tokio::sync::broadcast::Receiver;

mod engines;
use engines::{registered_engine, tone_wav, wait_call};

struct Phone {
    engine: Engine,
    events: Receiver<EngineEvent>,
}

fn config(root: &Path, media: MediaOptions) -> EngineConfig {
    EngineConfig { dirs: Some(AppDirs::under(root)), media, ..EngineConfig::ephemeral() }
}

async fn phone(k: &Kamailio, user: &str, password: &str, tone_hz: f32, root: &Path) -> Phone {
    let media = MediaOptions { mic_wav: Some(tone_wav(root, tone_hz)), loopback_candidates: true, ..MediaOptions::default() };
    let (engine, events) = registered_engine(k, user, password, config(root, media)).await;
    Phone { engine, events }
}

/// Kamailio with alice and bob, and a folder each (`alice/`, `bob/`) under one temp dir.
fn kamailio_and_folders() -> (Kamailio, tempfile::TempDir) {
    let k = kamailio::start(&KamailioOptions::new().user("alice", "a-pass").user("bob", "b-pass")).unwrap_or_else(|e| panic!("Kamailio: {e}"));
    let tmp = tempfile::tempdir().unwrap();
    for who in ["alice", "bob"] {
        std::fs::create_dir_all(tmp.path().join(who)).unwrap();
    }
    (k, tmp)
}

fn ended(v: &CallView) -> bool {
    matches!(v.state, CallState::Ended { .. })
}

fn count(engine: &Engine, filter: HistoryFilter) -> usize {
    engine.history(filter, None, 100).expect("history").len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn answered_and_declined_calls_are_in_both_histories_and_survive_reopen() {
    let (k, tmp) = kamailio_and_folders();
    let (alice_root, bob_root) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let mut alice = phone(&k, "alice", "a-pass", 440.0, &alice_root).await;
    let mut bob = phone(&k, "bob", "b-pass", 1000.0, &bob_root).await;

    // 1. Answered, talked a moment, bob hangs up.
    let call = alice.engine.dial("bob", None).await.expect("dial bob");
    let incoming = wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
    bob.engine.answer(&incoming.call).await.expect("answer");
    wait_call(&mut alice.events, |v| v.call == call && v.state == CallState::Active).await;
    wait_call(&mut bob.events, |v| v.state == CallState::Active).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    bob.engine.hangup(&incoming.call).await.expect("hang up");
    wait_call(&mut alice.events, |v| v.call == call && ended(v)).await;
    wait_call(&mut bob.events, |v| v.call == incoming.call && ended(v)).await;

    // 2. Declined.
    let call2 = alice.engine.dial("bob", None).await.expect("dial bob again");
    let incoming2 = wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
    bob.engine.reject(&incoming2.call, false).await.expect("decline");
    wait_call(&mut alice.events, |v| v.call == call2 && ended(v)).await;
    wait_call(&mut bob.events, |v| v.call == incoming2.call && ended(v)).await;

    // The caller: two outgoing rows, newest first, with their reasons.
    let rows = alice.engine.history(HistoryFilter::Outgoing, None, 100).expect("alice's history");
    assert_eq!(rows.len(), 2, "{rows:#?}");
    assert_eq!(count(&alice.engine, HistoryFilter::All), 2);
    let (declined, answered) = (&rows[0].record, &rows[1].record);
    assert_eq!((answered.call_id.as_str(), declined.call_id.as_str()), (call.as_str(), call2.as_str()));
    assert!(answered.direction == CallDirection::Out && declined.direction == CallDirection::Out);
    assert!(answered.connected_at.is_some() && !answered.missed, "{answered:?}");
    assert!(answered.ended_at >= answered.connected_at.unwrap_or(u64::MAX), "{answered:?}");
    assert!(declined.connected_at.is_none() && !declined.missed, "{declined:?}");
    assert_eq!(declined.end_code, Some(603), "{declined:?}");
    assert!(declined.end_reason.to_lowercase().contains("declin"), "{declined:?}");
    assert!(answered.remote.starts_with("bob"), "{answered:?}");

    // The callee: one answered incoming, one missed.
    assert_eq!(count(&bob.engine, HistoryFilter::All), 2);
    let incoming_rows = bob.engine.history(HistoryFilter::Incoming, None, 100).expect("bob's history");
    let missed_rows = bob.engine.history(HistoryFilter::Missed, None, 100).expect("bob's history");
    assert_eq!((incoming_rows.len(), missed_rows.len()), (1, 1), "{incoming_rows:#?} {missed_rows:#?}");
    assert_eq!(incoming_rows[0].record.call_id, incoming.call);
    assert!(incoming_rows[0].record.connected_at.is_some());
    assert_eq!(missed_rows[0].record.call_id, incoming2.call);
    assert_eq!(missed_rows[0].record.direction, CallDirection::In);
    assert_eq!(missed_rows[0].record.remote_name.as_deref(), Some("ALICE"));
    assert_eq!(count(&bob.engine, HistoryFilter::Outgoing), 0);
    // Search by name and by number.
    assert_eq!(bob.engine.history(HistoryFilter::All, Some("alic"), 100).expect("search").len(), 2);
    assert!(bob.engine.history(HistoryFilter::All, Some("nobody"), 100).expect("search").is_empty());

    alice.engine.shutdown().await;
    bob.engine.shutdown().await;
    drop(alice);
    drop(bob);

    // Reopened from the same folders: still there.
    let alice = Engine::open(config(&alice_root, MediaOptions::default()));
    let bob = Engine::open(config(&bob_root, MediaOptions::default()));
    assert_eq!(count(&alice, HistoryFilter::Outgoing), 2);
    assert_eq!(count(&bob, HistoryFilter::Incoming), 1);
    assert_eq!(count(&bob, HistoryFilter::Missed), 1);

    // Delete one, clear the rest.
    let first = bob.history(HistoryFilter::All, None, 1).expect("history")[0].id;
    bob.delete_history(first).expect("delete");
    assert_eq!(count(&bob, HistoryFilter::All), 1);
    bob.clear_history().expect("clear");
    assert_eq!(count(&bob, HistoryFilter::All), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_call_is_in_the_history_from_its_start_so_an_engine_gone_mid_call_loses_nothing() {
    let (k, tmp) = kamailio_and_folders();
    let (alice_root, bob_root) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let mut alice = phone(&k, "alice", "a-pass", 440.0, &alice_root).await;
    let mut bob = phone(&k, "bob", "b-pass", 1000.0, &bob_root).await;

    let call = alice.engine.dial("bob", None).await.expect("dial bob");
    let incoming = wait_call(&mut bob.events, |v| v.state == CallState::Incoming).await;
    // Ringing: both sides have the row already.
    let ringing = bob.engine.history(HistoryFilter::All, None, 10).expect("history");
    assert_eq!(ringing.len(), 1, "{ringing:#?}");
    assert_eq!((ringing[0].record.call_id.as_str(), ringing[0].record.end_reason.as_str()), (incoming.call.as_str(), "In progress"));
    assert_eq!(count(&alice.engine, HistoryFilter::Outgoing), 1);

    bob.engine.answer(&incoming.call).await.expect("answer");
    let active = wait_call(&mut alice.events, |v| v.call == call && v.state == CallState::Active).await;
    let rows = alice.engine.history(HistoryFilter::All, None, 10).expect("history");
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0].record.connected_at, active.connected_at, "the answer is written at once: {rows:#?}");

    // Alice's engine goes away mid-call without a shutdown (as in a crash).
    drop(alice);
    let reopened = Engine::open(config(&alice_root, MediaOptions::default()));
    let rows = reopened.history(HistoryFilter::Outgoing, None, 10).expect("history after reopen");
    assert_eq!(rows.len(), 1, "the call survived: {rows:#?}");
    let row = &rows[0].record;
    assert_eq!(row.call_id, call);
    assert!(row.remote.starts_with("bob") && row.connected_at.is_some(), "{row:?}");
    assert_eq!(row.end_reason, homeline_store::INTERRUPTED_REASON, "{row:?}");
    assert!(row.ended_at >= row.connected_at.unwrap_or(u64::MAX), "{row:?}");

    bob.engine.hangup(&incoming.call).await.expect("bob hangs up");
    wait_call(&mut bob.events, |v| v.call == incoming.call && ended(v)).await;
    let bob_rows = bob.engine.history(HistoryFilter::Incoming, None, 10).expect("history");
    assert_eq!(bob_rows.len(), 1, "completed, not duplicated: {bob_rows:#?}");
    assert!(bob_rows[0].record.end_reason != "In progress" && bob_rows[0].record.connected_at.is_some(), "{bob_rows:#?}");
    bob.engine.shutdown().await;
}

/// Do Not Disturb is a saved setting: after a restart it still turns calls
/// away (it used to come back on in the settings but not in the SIP layer,
/// so the tray said "Do Not Disturb" while calls rang).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn do_not_disturb_stays_on_after_a_restart() {
    let (k, tmp) = kamailio_and_folders();
    let (alice_root, bob_root) = (tmp.path().join("alice"), tmp.path().join("bob"));
    let bob = phone(&k, "bob", "b-pass", 1000.0, &bob_root).await;
    bob.engine.set_do_not_disturb(true).await.expect("Do Not Disturb on");
    bob.engine.shutdown().await;
    drop(bob);

    let reopened = Engine::open(config(&bob_root, MediaOptions { loopback_candidates: true, ..MediaOptions::default() }));
    assert!(reopened.do_not_disturb(), "the setting is saved");
    drop(reopened);
    let mut bob = phone(&k, "bob", "b-pass", 1000.0, &bob_root).await;
    let mut alice = phone(&k, "alice", "a-pass", 440.0, &alice_root).await;
    let call = alice.engine.dial("bob", None).await.expect("dial bob");
    let refused = wait_call(&mut alice.events, |v| v.call == call && ended(v)).await;
    assert!(matches!(refused.state, CallState::Ended { code: Some(486), .. }), "bob's phone turns the call away busy: {refused:?}");
    let missed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match bob.events.recv().await {
                Ok(EngineEvent::MissedCall { from, reason, .. }) => return (from, reason),
                Ok(EngineEvent::CallChanged(v)) if v.state == CallState::Incoming => panic!("bob's phone rang under Do Not Disturb: {v:?}"),
                Ok(_) => {}
                Err(e) => panic!("bob's events: {e}"),
            }
        }
    })
    .await
    .expect("bob is told of the missed call");
    assert_eq!((missed.0.as_str(), missed.1.to_lowercase().as_str()), ("alice", "do not disturb"));
}
