//! Hanging up releases what a call held. Its own test binary: file
//! descriptors and memory are process-wide, so no other test may run beside
//! it. `HOMELINE_SOAK_CALLS=200` turns it into the soak.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use homeline_media::frame::{NullSink, SilenceSource};
use homeline_rtc::{MediaIo, Session, SessionConfig, SessionEvent};
use std::time::Duration;

mod common;
use common::wait_for;

/// Resident memory of this process in KiB.
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hanging_up_releases_sockets_and_tasks() {
    let mut baseline = 0;
    let mut rss_base = 0;
    // HOMELINE_SOAK_CALLS=200 turns this into the soak test of issue 4.
    let calls: usize = std::env::var("HOMELINE_SOAK_CALLS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(12);
    for i in 0..calls {
        let (a, _ae) = Session::new(
            SessionConfig::loopback(),
            MediaIo {
                source: Box::new(SilenceSource),
                sink: Box::new(NullSink::default()),
            },
        )
        .await
        .unwrap();
        let (b, mut be) = Session::new(
            SessionConfig::loopback(),
            MediaIo {
                source: Box::new(SilenceSource),
                sink: Box::new(NullSink::default()),
            },
        )
        .await
        .unwrap();
        let offer = a.create_offer().await.unwrap();
        let answer = b.accept_offer(&offer).await.unwrap();
        a.accept_answer(&answer).await.unwrap();
        wait_for(&mut be, |e| *e == SessionEvent::Connected, 10).await;
        a.close().await;
        b.close().await;
        drop((a, b));
        tokio::time::sleep(Duration::from_millis(50)).await;
        if i == 1 {
            baseline = open_fds();
        }
        if i == 9.min(calls - 1) {
            rss_base = rss_kib();
        }
    }
    // Teardown is asynchronous: give closed sockets a moment to go.
    let mut now = open_fds();
    for _ in 0..40 {
        if now <= baseline + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        now = open_fds();
    }
    println!("open fds after call 2: {baseline}, after call {calls}: {now}");
    println!(
        "resident memory after call 10: {rss_base} KiB, after call {calls}: {} KiB",
        rss_kib()
    );
    assert!(
        now <= baseline + 2,
        "file descriptors grew from {baseline} to {now}"
    );
}

