//! The relay on real loopback sockets: what gets through, when, and that a seed repeats.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use homeline_impair::{Impairment, Relay, RelayConfig};
use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::net::UdpSocket;

const PACKETS: u16 = 400;

/// Sends numbered packets through a relay to a target; returns the numbers that arrived
/// (in arrival order), the numbers echoed back to the client, and the counters.
async fn through(
    imp: Impairment,
    seed: u64,
) -> (Vec<u16>, BTreeSet<u16>, homeline_impair::RelayCounters) {
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let sender = client.clone();
    let relay = Relay::start(RelayConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        target: target.local_addr().unwrap(),
        to_target: imp,
        to_client: Impairment::none(),
        seed,
    })
    .await
    .unwrap();
    // The target reads (and echoes) while the client sends: a socket left unread
    // overflows its receive buffer after a few hundred packets.
    let target_task = tokio::spawn(async move {
        let mut arrived = Vec::new();
        let mut buf = [0u8; 64];
        // Until nothing has come for a second (the relay's delays are far shorter).
        while let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(1), target.recv_from(&mut buf)).await
        {
            assert_eq!(n, 2);
            arrived.push(u16::from_be_bytes([buf[0], buf[1]]));
            target.send_to(&buf[..n], from).await.unwrap();
        }
        arrived
    });
    let relay_addr = relay.local_addr();
    let client_task = tokio::spawn(async move {
        let mut echoed = BTreeSet::new();
        let mut buf = [0u8; 64];
        while let Ok(Ok(n)) =
            tokio::time::timeout(Duration::from_secs(2), client.recv(&mut buf)).await
        {
            assert_eq!(n, 2);
            echoed.insert(u16::from_be_bytes([buf[0], buf[1]]));
        }
        echoed
    });
    for i in 0..PACKETS {
        sender.send_to(&i.to_be_bytes(), relay_addr).await.unwrap();
        // Paced like audio packets (a little faster), so jitter has something to reorder.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let arrived = target_task.await.unwrap();
    let echoed = client_task.await.unwrap();
    let counters = relay.stop().await;
    (arrived, echoed, counters)
}

#[tokio::test]
async fn loss_duplication_and_reordering_happen_and_a_seed_repeats_the_same_losses() {
    let imp = Impairment {
        loss: 0.10,
        duplicate: 0.05,
        jitter: Duration::from_millis(10),
        delay: Duration::from_millis(10),
        ..Impairment::default()
    };
    let (a, echoed, c) = through(imp.clone(), 42).await;
    let (b, _, _) = through(imp, 42).await;
    let set_a: BTreeSet<u16> = a.iter().copied().collect();
    let set_b: BTreeSet<u16> = b.iter().copied().collect();
    let lost = PACKETS as usize - set_a.len();
    assert!((20..=60).contains(&lost), "lost {lost} of {PACKETS}");
    assert_eq!(set_a, set_b, "same seed, same losses");
    assert_eq!(c.to_target.dropped as usize, lost);
    assert!(a.len() > set_a.len(), "duplicates arrive: {c:?}");
    assert!(a.windows(2).any(|w| w[1] < w[0]), "jitter reorders: {a:?}");
    // The way back is clean: everything that reached the target comes back.
    assert_eq!(echoed, set_a);
}

#[tokio::test]
async fn every_packet_is_held_at_least_the_configured_delay() {
    let target = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let relay = Relay::start(RelayConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        target: target.local_addr().unwrap(),
        to_target: Impairment {
            delay: Duration::from_millis(80),
            ..Impairment::default()
        },
        to_client: Impairment::none(),
        seed: 1,
    })
    .await
    .unwrap();
    let mut buf = [0u8; 8];
    for _ in 0..5 {
        let sent = Instant::now();
        client.send_to(b"x", relay.local_addr()).await.unwrap();
        tokio::time::timeout(Duration::from_secs(10), target.recv_from(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert!(
            sent.elapsed() >= Duration::from_millis(80),
            "{:?}",
            sent.elapsed()
        );
    }
}
