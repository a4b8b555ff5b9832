//! Network namespaces the tests create themselves: hosts joined by veth
//! links, a NAT router (nft masquerade), links cut and hosts readdressed —
//! for what crosses a real network (issue 8). Nothing leaves the machine:
//! every address is on a link this module made, inside namespaces it deletes
//! on drop.
//!
//! Two ways to put something inside a namespace:
//! - [`Netns::command`] runs a program there (`ip netns exec`);
//! - [`Netns::run_inside`] runs a closure on a thread that joined the
//!   namespace, so harness services started there (Kamailio, coturn) and
//!   their readiness probes live in it.
//!
//! Needs root (CAP_NET_ADMIN and CAP_SYS_ADMIN) and `ip` (iproute2) and `nft`
//! (nftables); without them the test fails and says what is missing.

use std::ffi::OsStr;
use std::fs::File;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::process::{require_program, HarnessError};

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A unique short tag: namespace and interface names must not clash between
/// test binaries running at once, and interface names stay ≤ 15 bytes.
fn unique_tag() -> String {
    format!("{:x}{}", std::process::id() % 0x1_0000, NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A network namespace with its loopback up. Deleted on drop (with the links
/// that end in it).
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Create `hl-<role>-<tag>` with `lo` up.
    pub fn new(role: &str) -> Result<Netns, HarnessError> {
        require_program("ip", "iproute2")?;
        if !is_root() {
            return Err(HarnessError::StartFailed {
                service: "network namespace".into(),
                reason: "network namespace tests need root (CAP_NET_ADMIN): run `make test` as root or with sudo".into(),
                log: String::new(),
                tail: String::new(),
            });
        }
        let name = format!("hl-{role}-{}", unique_tag());
        run("ip", &["netns", "add", &name])?;
        let ns = Netns { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n <ns> <args>`.
    pub fn ip(&self, args: &[&str]) -> Result<(), HarnessError> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Load an nft ruleset (`nft -f -`) inside the namespace.
    pub fn nft(&self, ruleset: &str) -> Result<(), HarnessError> {
        require_program("nft", "nftables")?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &self.name, "nft", "-f", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(HarnessError::io("starting nft"))?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write as _;
            stdin.write_all(ruleset.as_bytes()).map_err(HarnessError::io("writing the nft ruleset"))?;
        }
        let out = child.wait_with_output().map_err(HarnessError::io("waiting for nft"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(failed("nft", format!("{}\nruleset:\n{ruleset}", String::from_utf8_lossy(&out.stderr))))
        }
    }

    /// Add one nft rule to the packets this router forwards (for example
    /// `udp dport != 3478 drop`), in a table of its own.
    pub fn filter_forwarded(&self, rule: &str) -> Result<(), HarnessError> {
        self.nft(&format!(
            "table ip homeline_forward_{} {{\n  chain forward {{\n    type filter hook forward priority filter; policy accept;\n    {rule}\n  }}\n}}\n",
            unique_tag()
        ))
    }

    /// Turn IPv4 forwarding on (a router).
    pub fn forward(&self) -> Result<(), HarnessError> {
        run("ip", &["netns", "exec", &self.name, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"])
    }

    /// A command for `program` that runs inside the namespace.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// Run `f` on a thread that joined this namespace: sockets it opens and
    /// processes it starts are inside. The calling thread stays where it was.
    pub fn run_inside<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, HarnessError> {
        let path = format!("/run/netns/{}", self.name);
        let handle = File::open(&path).map_err(HarnessError::io(format!("opening {path}")))?;
        std::thread::scope(|scope| {
            scope
                .spawn(move || {
                    nix::sched::setns(&handle, nix::sched::CloneFlags::CLONE_NEWNET)
                        .map_err(|e| failed("setns", format!("joining the namespace failed: {e}")))?;
                    Ok(f())
                })
                .join()
                .unwrap_or_else(|_| Err(failed("netns", "the closure run inside the namespace panicked".into())))
        })
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Processes still inside keep it alive invisibly; deleting the name
        // is what matters for the next run.
        let _ = run("ip", &["netns", "del", &self.name]);
    }
}

/// One end of a veth link: its namespace and interface name.
#[derive(Debug, Clone)]
pub struct LinkEnd {
    pub netns: String,
    pub interface: String,
}

impl LinkEnd {
    fn ip(&self, args: &[&str]) -> Result<(), HarnessError> {
        let mut all = vec!["-n", self.netns.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// Bring the interface down (a cable pulled, Wi-Fi gone) or up again.
    pub fn set_up(&self, up: bool) -> Result<(), HarnessError> {
        self.ip(&["link", "set", &self.interface, if up { "up" } else { "down" }])
    }

    /// Replace the interface's addresses with `cidr` (a new DHCP lease).
    pub fn readdress(&self, cidr: &str) -> Result<(), HarnessError> {
        self.ip(&["addr", "flush", "dev", &self.interface])?;
        self.ip(&["addr", "add", cidr, "dev", &self.interface])
    }
}

/// A veth pair between two namespaces, each end addressed (`10.0.0.1/24`).
#[derive(Debug, Clone)]
pub struct Veth {
    pub a: LinkEnd,
    pub b: LinkEnd,
}

/// Join `a` and `b` with a veth pair; `a_cidr` and `b_cidr` address the ends.
pub fn veth(a: &Netns, a_cidr: &str, b: &Netns, b_cidr: &str) -> Result<Veth, HarnessError> {
    let tag = unique_tag();
    let (a_if, b_if) = (format!("hla{tag}"), format!("hlb{tag}"));
    run("ip", &["link", "add", &a_if, "netns", a.name(), "type", "veth", "peer", "name", &b_if, "netns", b.name()])?;
    let link = Veth {
        a: LinkEnd { netns: a.name().into(), interface: a_if },
        b: LinkEnd { netns: b.name().into(), interface: b_if },
    };
    for (end, cidr) in [(&link.a, a_cidr), (&link.b, b_cidr)] {
        end.ip(&["addr", "add", cidr, "dev", &end.interface])?;
        end.set_up(true)?;
    }
    Ok(link)
}

/// Make `router` masquerade everything it forwards out of `outside` (a home
/// router's NAT: the hosts behind it share the router's address).
pub fn masquerade(router: &Netns, outside: &LinkEnd) -> Result<(), HarnessError> {
    router.forward()?;
    router.nft(&format!(
        "table ip homeline_nat {{\n  chain postrouting {{\n    type nat hook postrouting priority srcnat; policy accept;\n    \
         oifname \"{}\" masquerade\n  }}\n}}\n",
        outside.interface
    ))
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status.lines().find(|l| l.starts_with("Uid:")).and_then(|l| l.split_whitespace().nth(2).map(|e| e == "0"))
        })
        .unwrap_or(false)
}

fn run(program: &str, args: &[&str]) -> Result<(), HarnessError> {
    let out = Command::new(program).args(args).output().map_err(HarnessError::io(format!("running {program}")))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(failed(program, format!("`{program} {}` failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr).trim())))
    }
}

fn failed(service: &str, reason: String) -> HarnessError {
    HarnessError::StartFailed { service: service.into(), reason, log: String::new(), tail: String::new() }
}

/// The server network's address (Kamailio, coturn and the callee live there).
pub const LAB_SERVER_IP: std::net::Ipv4Addr = std::net::Ipv4Addr::new(10, 77, 1, 1);
/// The home phone's first address, and its router's LAN side.
pub const LAB_HOME_CIDR: &str = "10.77.2.2/24";
pub const LAB_HOME_GATEWAY: &str = "10.77.2.1";

/// A home network behind a NAT router, and a server network with Kamailio
/// and coturn — for calls across a real network:
///
/// ```text
///  [home] 10.77.2.2 ── 10.77.2.1 [router: masquerade] 10.77.1.254 ── 10.77.1.1 [server]
///  the home phone                                       Kamailio, coturn, the other phone
/// ```
#[derive(Debug)]
pub struct NatLab {
    // Fields drop in order: the services inside the namespaces stop first.
    pub kamailio: crate::services::kamailio::Kamailio,
    pub coturn: crate::services::coturn::Coturn,
    pub home: Netns,
    pub router: Netns,
    pub server: Netns,
    /// home (`a`) ↔ router (`b`)
    pub lan: Veth,
}

impl NatLab {
    /// Build it, with these digest `users` (name, password) in Kamailio.
    pub fn start(users: &[(&str, &str)]) -> Result<NatLab, HarnessError> {
        let home = Netns::new("home")?;
        let router = Netns::new("router")?;
        let server = Netns::new("server")?;
        let lan = veth(&home, LAB_HOME_CIDR, &router, &format!("{LAB_HOME_GATEWAY}/24"))?;
        let uplink = veth(&router, "10.77.1.254/24", &server, &format!("{LAB_SERVER_IP}/24"))?;
        home.ip(&["route", "add", "default", "via", LAB_HOME_GATEWAY])?;
        // The server network has no route back to the home network: only the
        // NAT makes the home phone reachable, as on the real Internet.
        masquerade(&router, &uplink.a)?;
        let ip = std::net::IpAddr::V4(LAB_SERVER_IP);
        let mut options = crate::services::kamailio::KamailioOptions::new().listen_ip(ip).domain(&ip.to_string());
        for (user, password) in users {
            options = options.user(user, password);
        }
        let kamailio = server.run_inside(|| crate::services::kamailio::start(&options))??;
        let coturn = server.run_inside(|| crate::services::coturn::start_on(ip))??;
        Ok(NatLab { kamailio, coturn, home, router, server, lan })
    }

    /// The home phone moves to `cidr` (a new DHCP lease), its default route restored.
    pub fn readdress_home(&self, cidr: &str) -> Result<(), HarnessError> {
        self.lan.a.readdress(cidr)?;
        self.home.ip(&["route", "add", "default", "via", LAB_HOME_GATEWAY])
    }
}
