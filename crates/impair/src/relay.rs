//! The socket side: one UDP relay between a client and a target, each direction with its
//! own [`Impairer`]. Client → `listen` socket → impair → `upstream` socket → target, and
//! target → `upstream` → impair → `listen` → the last client that spoke.

use crate::model::{Counters, Fate, Impairer, Impairment};
use crate::ImpairError;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::UdpSocket;
use tokio::sync::watch;
use tokio::time::Instant;

/// Most packets waiting for their departure time; beyond that new ones are dropped
/// (counted in `overflow`), so a flood cannot grow memory without bound.
const MAX_QUEUED: usize = 10_000;

#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Where the client sends (port 0: any free port; read it back with `local_addr`).
    pub listen: SocketAddr,
    /// Where packets go.
    pub target: SocketAddr,
    /// Client → target.
    pub to_target: Impairment,
    /// Target → client.
    pub to_client: Impairment,
    /// Seed of the client → target decisions; the other direction uses `seed + 1`.
    pub seed: u64,
}

/// Counters of both directions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RelayCounters {
    pub to_target: Counters,
    pub to_client: Counters,
    /// Packets dropped because too many were waiting.
    pub overflow: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Dir {
    ToTarget,
    ToClient,
}

struct Shared {
    counters: RelayCounters,
    /// New impairments to apply from the next packet on.
    update: Option<(Impairment, Impairment)>,
}

/// A running relay; stops when dropped or on [`Relay::stop`].
#[derive(Debug)]
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.counters.fmt(f)
    }
}

impl Relay {
    /// Binds the sockets and starts relaying on the current Tokio runtime.
    pub async fn start(config: RelayConfig) -> Result<Self, ImpairError> {
        let listen = UdpSocket::bind(config.listen)
            .await
            .map_err(|e| ImpairError::Bind(config.listen.to_string(), e.to_string()))?;
        let any: SocketAddr = if config.target.is_ipv4() {
            SocketAddr::from(([127, 0, 0, 1], 0))
        } else {
            SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, 0))
        };
        let upstream = UdpSocket::bind(any)
            .await
            .map_err(|e| ImpairError::Bind(any.to_string(), e.to_string()))?;
        let addr = listen
            .local_addr()
            .map_err(|e| ImpairError::Bind(config.listen.to_string(), e.to_string()))?;
        let shared = Arc::new(Mutex::new(Shared {
            counters: RelayCounters::default(),
            update: None,
        }));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(run(config, listen, upstream, shared.clone(), stop_rx));
        Ok(Self {
            addr,
            shared,
            stop,
            task: Some(task),
        })
    }

    /// The address clients send to.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn counters(&self) -> RelayCounters {
        self.shared.lock().map(|s| s.counters).unwrap_or_default()
    }

    /// Changes the impairments from the next packet on (e.g. a burst, then calm).
    /// The decision streams carry on from where they are.
    pub fn set_impairments(&self, to_target: Impairment, to_client: Impairment) {
        if let Ok(mut s) = self.shared.lock() {
            s.update = Some((to_target, to_client));
        }
    }

    /// Stops relaying (packets still waiting are dropped) and returns the counters.
    pub async fn stop(mut self) -> RelayCounters {
        let _ = self.stop.send(true);
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.counters()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

type Queued = Reverse<(Instant, u64, Dir, Vec<u8>)>;

async fn run(
    config: RelayConfig,
    listen: UdpSocket,
    upstream: UdpSocket,
    shared: Arc<Mutex<Shared>>,
    mut stop: watch::Receiver<bool>,
) {
    let start = Instant::now();
    let mut to_target = Impairer::new(config.to_target.clone(), config.seed);
    let mut to_client = Impairer::new(config.to_client.clone(), config.seed.wrapping_add(1));
    let mut client: Option<SocketAddr> = None;
    let mut queue: BinaryHeap<Queued> = BinaryHeap::new();
    let mut order = 0u64;
    let mut buf_in = vec![0u8; 65_536];
    let mut buf_up = vec![0u8; 65_536];
    loop {
        let next_due = queue.peek().map(|Reverse(q)| q.0);
        let arrived = tokio::select! {
            r = listen.recv_from(&mut buf_in) => match r {
                Ok((n, from)) => {
                    client = Some(from);
                    Some((Dir::ToTarget, buf_in[..n].to_vec()))
                }
                Err(_) => None,
            },
            r = upstream.recv_from(&mut buf_up) => match r {
                Ok((n, from)) if from == config.target => Some((Dir::ToClient, buf_up[..n].to_vec())),
                _ => None,
            },
            _ = sleep_until(next_due), if next_due.is_some() => None,
            _ = stop.changed() => break,
        };
        let now = Instant::now();
        if let Some((dir, packet)) = arrived {
            let mut s = match shared.lock() {
                Ok(s) => s,
                Err(_) => break,
            };
            if let Some((t, c)) = s.update.take() {
                to_target = with_config(&to_target, t);
                to_client = with_config(&to_client, c);
            }
            let m = match dir {
                Dir::ToTarget => &mut to_target,
                Dir::ToClient => &mut to_client,
            };
            let fate = m.on_packet(now - start);
            match dir {
                Dir::ToTarget => s.counters.to_target = m.counters(),
                Dir::ToClient => s.counters.to_client = m.counters(),
            }
            let dues: &[Duration] = match &fate {
                Fate::Drop => &[],
                Fate::Send(a) => std::slice::from_ref(a),
                Fate::SendTwice(a, b) => &[*a, *b],
            };
            for due in dues {
                if queue.len() >= MAX_QUEUED {
                    s.counters.overflow += 1;
                    continue;
                }
                order += 1;
                queue.push(Reverse((start + *due, order, dir, packet.clone())));
            }
        }
        while let Some(Reverse((due, ..))) = queue.peek() {
            if *due > now {
                break;
            }
            let Some(Reverse((_, _, dir, packet))) = queue.pop() else {
                break;
            };
            // A send error (peer gone, buffer full) is a lost packet, as on a real network.
            match dir {
                Dir::ToTarget => {
                    let _ = upstream.send_to(&packet, config.target).await;
                }
                Dir::ToClient => {
                    if let Some(c) = client {
                        let _ = listen.send_to(&packet, c).await;
                    }
                }
            }
        }
    }
}

/// The same decision stream (seed position, burst state, counters) with new settings.
fn with_config(old: &Impairer, config: Impairment) -> Impairer {
    old.with_config(config)
}

async fn sleep_until(due: Option<Instant>) {
    match due {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}
