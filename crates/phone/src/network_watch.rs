//! Noticing that the network under the phone changed: an address appeared or
//! went away (a new Wi-Fi, a VPN coming up, a new DHCP lease), or the machine
//! slept. Either way the signalling connection may be dead without knowing it
//! and the calls' media paths are stale: the engine reconnects, registers
//! again and restarts ICE (issue 8).
//!
//! The kernel announces address and link changes on an rtnetlink socket: on
//! each announcement the addresses are read again at once (a change is seen
//! in about 0.1 s, not at the next poll). A poll once a second stays as the
//! safety net and for sleep, which shows as the boot-time clock running ahead
//! of the monotonic one (it stops in suspend). No D-Bus or logind needed.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::time::Duration;

/// How often the addresses and clocks are read.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A gap between the two clocks longer than this means the machine slept.
const SLEEP_GAP: Duration = Duration::from_secs(2);

/// Why the network is considered changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Addresses appeared or went away.
    Addresses { added: Vec<IpAddr>, removed: Vec<IpAddr> },
    /// The machine was asleep for about this long.
    Resumed { slept: Duration },
}

/// The state between polls: the last addresses and clock readings. Pure: fed
/// readings, says what changed.
#[derive(Debug, Default)]
pub struct NetworkWatch {
    addresses: Option<BTreeSet<IpAddr>>,
    clocks: Option<(Duration, Duration)>,
}

impl NetworkWatch {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the current usable addresses; the first reading only sets the baseline.
    pub fn addresses(&mut self, now: BTreeSet<IpAddr>) -> Option<Change> {
        let before = self.addresses.replace(now.clone())?;
        let added: Vec<IpAddr> = now.difference(&before).copied().collect();
        let removed: Vec<IpAddr> = before.difference(&now).copied().collect();
        (!added.is_empty() || !removed.is_empty()).then_some(Change::Addresses { added, removed })
    }

    /// Feed the monotonic and boot-time clocks (boot time keeps counting in suspend).
    pub fn clocks(&mut self, monotonic: Duration, boottime: Duration) -> Option<Change> {
        let (mono_before, boot_before) = self.clocks.replace((monotonic, boottime))?;
        let slept = boottime.saturating_sub(boot_before).saturating_sub(monotonic.saturating_sub(mono_before));
        (slept > SLEEP_GAP).then_some(Change::Resumed { slept })
    }
}

/// Addresses a call or a registration could use: up, not loopback, not IPv6
/// link-local (those change with every interface and are never routed).
pub fn usable_addresses() -> BTreeSet<IpAddr> {
    let Ok(list) = nix::ifaddrs::getifaddrs() else { return BTreeSet::new() };
    list.filter(|a| a.flags.contains(nix::net::if_::InterfaceFlags::IFF_UP))
        .filter_map(|a| {
            let addr = a.address?;
            let ip = match (addr.as_sockaddr_in(), addr.as_sockaddr_in6()) {
                (Some(v4), _) => IpAddr::V4(v4.ip()),
                (_, Some(v6)) => IpAddr::V6(v6.ip()),
                _ => return None,
            };
            let link_local_v6 = matches!(ip, IpAddr::V6(v6) if (v6.segments()[0] & 0xffc0) == 0xfe80);
            (!ip.is_loopback() && !link_local_v6).then_some(ip)
        })
        .collect()
}

/// (monotonic, boot time) now; `None` where the clocks cannot be read.
pub fn clock_readings() -> Option<(Duration, Duration)> {
    use nix::time::{clock_gettime, ClockId};
    let read = |id| clock_gettime(id).ok().map(|t| Duration::new(t.tv_sec().max(0) as u64, t.tv_nsec().clamp(0, 999_999_999) as u32));
    Some((read(ClockId::CLOCK_MONOTONIC)?, read(ClockId::CLOCK_BOOTTIME)?))
}

/// How long after the kernel's first announcement the addresses are read: a new lease
/// is a removal and an addition, one change rather than two.
const SETTLE: Duration = Duration::from_millis(100);

/// Watch forever, calling `on_change` for each change; ends when `on_change`
/// returns false (the engine is gone).
pub async fn run(mut on_change: impl FnMut(Change) -> bool) {
    let mut watch = NetworkWatch::new();
    let mut ticker = tokio::time::interval(POLL_INTERVAL);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut news = KernelNews::open();
    if news.is_none() {
        tracing::debug!("no rtnetlink socket: network changes are seen by polling only");
    }
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            heard = async {
                match &news {
                    Some(n) => n.next().await,
                    None => std::future::pending().await,
                }
            } => {
                if heard {
                    tokio::time::sleep(SETTLE).await;
                    if let Some(n) = &news {
                        n.drain();
                    }
                } else {
                    news = None;
                }
            }
        }
        let resumed = clock_readings().and_then(|(mono, boot)| watch.clocks(mono, boot));
        let addresses = watch.addresses(usable_addresses());
        for change in [resumed, addresses].into_iter().flatten() {
            tracing::info!(?change, "network changed");
            if !on_change(change) {
                return;
            }
        }
    }
}

/// The kernel's announcements of address and link changes (an rtnetlink socket
/// subscribed to the link and address groups). What they say is not parsed: any
/// announcement means "read the addresses again".
///
/// The netlink socket is driven through tokio's `UnixDatagram`, which only
/// registers the descriptor and calls `recv(2)` on it: that is all a netlink
/// socket needs, and it keeps this free of `unsafe`. No other method is used.
struct KernelNews(tokio::net::UnixDatagram);

impl KernelNews {
    /// `None` where netlink is not available (the poll alone then notices changes).
    fn open() -> Option<Self> {
        use nix::sys::socket::{bind, socket, AddressFamily, NetlinkAddr, SockFlag, SockProtocol, SockType};
        use std::os::fd::AsRawFd;
        const RTMGRP_LINK: u32 = 0x1;
        const RTMGRP_IPV4_IFADDR: u32 = 0x10;
        const RTMGRP_IPV6_IFADDR: u32 = 0x100;
        let fd = socket(
            AddressFamily::Netlink,
            SockType::Raw,
            SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
            SockProtocol::NetlinkRoute,
        )
        .ok()?;
        bind(fd.as_raw_fd(), &NetlinkAddr::new(0, RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR)).ok()?;
        tokio::net::UnixDatagram::from_std(std::os::unix::net::UnixDatagram::from(fd)).ok().map(Self)
    }

    /// Waits for the next announcement; false when the socket broke (stop using it).
    async fn next(&self) -> bool {
        let mut buf = [0u8; 8192];
        match self.0.recv(&mut buf).await {
            Ok(_) => true,
            // Overflow: announcements were lost, which is news too.
            Err(e) => e.raw_os_error() == Some(nix::libc::ENOBUFS),
        }
    }

    /// Empties what is queued (announcements that came while settling).
    fn drain(&self) {
        let mut buf = [0u8; 8192];
        while self.0.try_recv(&mut buf).is_ok() {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(addrs: &[&str]) -> BTreeSet<IpAddr> {
        addrs.iter().map(|a| a.parse().unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))).collect()
    }

    #[test]
    fn the_first_reading_is_the_baseline_and_changes_name_what_moved() {
        let mut w = NetworkWatch::new();
        assert_eq!(w.addresses(set(&["192.168.1.20"])), None);
        assert_eq!(w.addresses(set(&["192.168.1.20"])), None);
        assert_eq!(
            w.addresses(set(&["10.8.0.2", "192.168.1.20"])),
            Some(Change::Addresses { added: set(&["10.8.0.2"]).into_iter().collect(), removed: vec![] })
        );
        assert_eq!(
            w.addresses(set(&["192.168.1.21"])),
            Some(Change::Addresses {
                added: set(&["192.168.1.21"]).into_iter().collect(),
                removed: set(&["10.8.0.2", "192.168.1.20"]).into_iter().collect()
            })
        );
    }

    #[test]
    fn sleep_shows_as_boot_time_running_ahead_of_monotonic_time() {
        let s = Duration::from_secs;
        let mut w = NetworkWatch::new();
        assert_eq!(w.clocks(s(100), s(100)), None);
        // A second passes on both: awake.
        assert_eq!(w.clocks(s(101), s(101)), None);
        // A busy machine: a late tick moves both clocks alike.
        assert_eq!(w.clocks(s(106), s(106)), None);
        // Suspended for an hour: monotonic moved 1 s, boot time 3601 s.
        assert_eq!(w.clocks(s(107), s(3707)), Some(Change::Resumed { slept: s(3600) }));
        assert_eq!(w.clocks(s(108), s(3708)), None);
    }

    #[tokio::test]
    async fn the_kernel_announces_changes_on_this_machine() {
        // Linux always has rtnetlink; without it changes would wait for the next poll.
        let news = KernelNews::open();
        assert!(news.is_some(), "no rtnetlink socket");
        // Nothing queued is not an error, and draining an empty socket returns at once.
        if let Some(n) = news {
            n.drain();
        }
    }

    #[test]
    fn this_machine_has_readable_clocks() {
        let (mono, boot) = clock_readings().unwrap_or_default();
        assert!(boot >= mono && boot > Duration::ZERO, "monotonic {mono:?}, boot time {boot:?}");
    }
}
