//! Kamailio 5.6 as registrar + proxy on loopback: SIP over UDP, TCP, WS and
//! WSS on free ports, digest users in a db_text table, in-memory location,
//! and optionally rtpengine bridging WebRTC and plain RTP.
//!
//! Everything lives in a temp dir owned by the handle. Kamailio chdirs to /,
//! so every path in its configuration is absolute.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use tempfile::TempDir;

use crate::process::{free_tcp_port, free_udp_port, require_program, retry_on_port_clash, HarnessError, Service};
use crate::services::rtpengine::RtpEngine;
use crate::sip_probe::DigestAlgorithm;

/// rtpengine flags for the leg towards a WebRTC (WS/WSS) client. SDES-off:
/// otherwise offers carry a dozen `a=crypto` lines beside the fingerprint.
/// DTLS=passive shows in answers only; offers still say `a=setup:actpass`.
pub const RTPENGINE_FLAGS_WEBRTC: &str = "ICE=force DTLS=passive SDES-off UDP/TLS/RTP/SAVPF generate-mid \
     rtcp-mux-offer replace-origin replace-session-connection";
/// rtpengine flags for the leg towards a plain SIP/RTP client (UDP/TCP).
pub const RTPENGINE_FLAGS_PLAIN: &str =
    "RTP/AVP ICE=remove DTLS=off rtcp-mux-demux replace-origin replace-session-connection";

/// What to start.
#[derive(Debug, Clone)]
pub struct KamailioOptions {
    /// Digest users: (username, password). Neither may be empty (db_text rejects empty columns).
    pub users: Vec<(String, String)>,
    /// SIP domain and digest realm ("127.0.0.1" by default). Requests for
    /// this domain are served locally.
    pub domain: String,
    /// Digest algorithm of the challenges.
    pub digest_algorithm: DigestAlgorithm,
    /// rtpengine ng control address; when set, calls are bridged through it.
    pub rtpengine_ng: Option<SocketAddr>,
    /// The address it listens on (127.0.0.1 by default; a veth address for
    /// tests in network namespaces — start it inside that namespace).
    pub listen_ip: IpAddr,
}

impl Default for KamailioOptions {
    fn default() -> Self {
        KamailioOptions {
            users: Vec::new(),
            domain: "127.0.0.1".into(),
            digest_algorithm: DigestAlgorithm::Md5,
            rtpengine_ng: None,
            listen_ip: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }
}

impl KamailioOptions {
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a digest user.
    pub fn user(mut self, username: &str, password: &str) -> Self {
        self.users.push((username.into(), password.into()));
        self
    }

    pub fn domain(mut self, domain: &str) -> Self {
        self.domain = domain.into();
        self
    }

    pub fn digest_algorithm(mut self, algorithm: DigestAlgorithm) -> Self {
        self.digest_algorithm = algorithm;
        self
    }

    /// Listen on `ip` instead of 127.0.0.1 (the certificate names it too).
    pub fn listen_ip(mut self, ip: IpAddr) -> Self {
        self.listen_ip = ip;
        self
    }

    /// Bridge media through this rtpengine (it must outlive the Kamailio).
    pub fn with_rtpengine(mut self, rtpengine: Option<&RtpEngine>) -> Self {
        self.rtpengine_ng = rtpengine.map(RtpEngine::ng_addr);
        self
    }
}

/// A running Kamailio. Stops on drop.
#[derive(Debug)]
pub struct Kamailio {
    // Declared before `dir`: the process stops before its directory goes.
    service: Service,
    dir: TempDir,
    ports: Ports,
    ip: IpAddr,
    domain: String,
    ca_pem: PathBuf,
    program: PathBuf,
    restarts: u32,
}

#[derive(Debug, Clone, Copy)]
struct Ports {
    /// SIP over UDP and over TCP share this number.
    sip: u16,
    ws: u16,
    wss: u16,
}

/// Start Kamailio and wait until it answers SIP and accepts WS and WSS connections.
pub fn start(opts: &KamailioOptions) -> Result<Kamailio, HarnessError> {
    let program = require_program("kamailio", "kamailio")?;
    require_program("openssl", "openssl")?;
    // The modules come from separate packages; say which one is missing.
    for (module, package) in [("websocket.so", "kamailio-websocket-modules"), ("tls.so", "kamailio-tls-modules")] {
        if !module_dir().join(module).is_file() {
            return Err(HarnessError::MissingProgram { program: format!("kamailio module {module}"), package: package.into() });
        }
    }
    let empty_user = opts.users.iter().find(|(user, password)| user.is_empty() || password.is_empty());
    if opts.domain.is_empty() || empty_user.is_some() {
        return Err(HarnessError::StartFailed {
            service: "kamailio".into(),
            reason: format!("db_text rejects empty values: domain {:?}, user {empty_user:?}", opts.domain),
            log: String::new(),
            tail: String::new(),
        });
    }
    retry_on_port_clash(3, || start_once(&program, opts))
}

fn start_once(program: &Path, opts: &KamailioOptions) -> Result<Kamailio, HarnessError> {
    let dir = tempfile::Builder::new()
        .prefix("homeline-kamailio-")
        .tempdir()
        .map_err(HarnessError::io("creating Kamailio's temp dir"))?;
    let root = dir.path().to_path_buf();
    let ports = pick_ports();
    let ca_pem = make_certificates(&root, opts.listen_ip, "Homeline Test CA")?;
    write_users(&root, opts)?;
    write_file(&root.join("tls.cfg"), &tls_config(&root))?;
    let cfg_path = root.join("kamailio.cfg");
    write_file(&cfg_path, &kamailio_config(&root, ports, opts))?;

    let service = spawn_ready(program, &root, opts.listen_ip, ports, "kamailio.log")?;
    Ok(Kamailio { service, dir, ports, ip: opts.listen_ip, domain: opts.domain.clone(), ca_pem, program: program.to_path_buf(), restarts: 0 })
}

/// Run Kamailio on the config in `root` and wait until it serves every port.
fn spawn_ready(program: &Path, root: &Path, ip: IpAddr, ports: Ports, log_name: &str) -> Result<Service, HarnessError> {
    let mut cmd = Command::new(program);
    cmd.arg("-DD") // stay in the foreground, children in our process group
        .arg("-E") // log to stderr, i.e. our log file
        .arg("-f")
        .arg(root.join("kamailio.cfg"))
        .arg("-Y") // runtime dir: by default /run/kamailio, shared by all instances
        .arg(root)
        .arg("-P")
        .arg(root.join("kamailio.pid"))
        .args(["-m", "64", "-M", "8"]);
    let mut service = Service::spawn("kamailio", cmd, &root.join(log_name))?;
    let sip = SocketAddr::new(ip, ports.sip);
    service.wait_ready(Duration::from_secs(5), || {
        tcp_accepts(SocketAddr::new(ip, ports.ws))
            && tcp_accepts(SocketAddr::new(ip, ports.wss))
            && options_ping(sip, Duration::from_millis(100))
    })?;
    Ok(service)
}

impl Kamailio {
    /// Stop the server (as a crash or an admin would); [`Self::restart`] brings it back.
    pub fn stop(&mut self) {
        self.service.stop();
    }

    /// Freeze it (every process stops answering, connections stay open) or thaw it.
    pub fn freeze(&self, frozen: bool) {
        self.service.freeze(frozen);
    }

    /// Start it again on the same ports with the same users (its in-memory
    /// registrations are gone, as after a real restart).
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.service.stop();
        self.restarts += 1;
        let log = format!("kamailio-restart-{}.log", self.restarts);
        // The ports were just released: retry briefly if the kernel still holds one.
        let mut last = None;
        for _ in 0..3 {
            match spawn_ready(&self.program, self.dir.path(), self.ip, self.ports, &log) {
                Ok(service) => {
                    self.service = service;
                    return Ok(());
                }
                Err(e) => {
                    last = Some(e);
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
        }
        Err(last.unwrap_or_else(|| self.service.failed("restart failed")))
    }

    /// `ws://127.0.0.1:PORT` (or the listen address chosen).
    pub fn ws_url(&self) -> String {
        format!("ws://{}", SocketAddr::new(self.ip, self.ports.ws))
    }

    /// `wss://127.0.0.1:PORT` (certificate for that IP, signed by [`Self::ca_pem`]).
    pub fn wss_url(&self) -> String {
        format!("wss://{}", SocketAddr::new(self.ip, self.ports.wss))
    }

    /// SIP over UDP.
    pub fn udp_addr(&self) -> SocketAddr {
        SocketAddr::new(self.ip, self.ports.sip)
    }

    /// SIP over TCP (same port number as UDP).
    pub fn tcp_addr(&self) -> SocketAddr {
        self.udp_addr()
    }

    /// SIP domain and digest realm.
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The test CA that signed the WSS certificate: trust this in clients.
    pub fn ca_pem(&self) -> &Path {
        &self.ca_pem
    }

    pub fn log_path(&self) -> &Path {
        &self.service.log_path
    }

    pub fn log_tail(&self, lines: usize) -> String {
        self.service.log_tail(lines)
    }

    /// The instance's directory (config, db_text tables, certificates, log).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// True while Kamailio is running.
    pub fn is_running(&mut self) -> bool {
        self.service.is_running()
    }
}

/// Three distinct free ports (two quick probes may return the same number;
/// a clash left over fails the start, which is then retried).
fn pick_ports() -> Ports {
    let sip = free_udp_port();
    let ws = (0..10).map(|_| free_tcp_port()).find(|p| *p != sip).unwrap_or(0);
    let wss = (0..10).map(|_| free_tcp_port()).find(|p| *p != sip && *p != ws).unwrap_or(0);
    Ports { sip, ws, wss }
}

/// Debian's multiarch module directory (`/usr/lib/<triplet>/kamailio/modules`).
fn module_dir() -> PathBuf {
    std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path().join("kamailio/modules"))
        .find(|dir| dir.join("tm.so").is_file())
        .unwrap_or_else(|| PathBuf::from("/usr/lib/x86_64-linux-gnu/kamailio/modules"))
}

fn write_file(path: &Path, text: &str) -> Result<(), HarnessError> {
    std::fs::write(path, text).map_err(HarnessError::io(format!("writing {}", path.display())))
}

fn tcp_accepts(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok()
}

/// An OPTIONS to Kamailio itself over UDP gets any reply: the SIP workers are up.
fn options_ping(server: SocketAddr, timeout: Duration) -> bool {
    let Ok(socket) = UdpSocket::bind(SocketAddr::new(server.ip(), 0)) else { return false };
    let Ok(local) = socket.local_addr() else { return false };
    let request = format!(
        "OPTIONS sip:{server} SIP/2.0\r\nVia: SIP/2.0/UDP {local};branch=z9hG4bK{branch};rport\r\n\
         Max-Forwards: 70\r\nFrom: <sip:probe@{server}>;tag=probe\r\nTo: <sip:{server}>\r\n\
         Call-ID: {branch}\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n",
        branch = crate::sip_probe::random_token(12),
    );
    let mut buf = [0u8; 2048];
    socket.set_read_timeout(Some(timeout)).is_ok()
        && socket.send_to(request.as_bytes(), server).is_ok()
        && socket.recv_from(&mut buf).is_ok_and(|(n, _)| buf[..n].starts_with(b"SIP/2.0 "))
}

/// Make a test CA and a server certificate for IP `ip` signed by it
/// (a self-signed leaf fails in rustls with UnknownIssuer). Returns the CA path.
/// (coturn's TLS listener uses it too, with a CA of another name.)
pub(crate) fn make_certificates(dir: &Path, ip: IpAddr, ca_name: &str) -> Result<PathBuf, HarnessError> {
    let path = |name: &str| dir.join(name).display().to_string();
    let (ca_key, ca_pem, key, csr, cert, ext) =
        (path("ca.key"), path("ca.pem"), path("server.key"), path("server.csr"), path("server.pem"), path("server.ext"));
    write_file(
        Path::new(&ext),
        &format!(
            "subjectAltName=IP:{ip}\nbasicConstraints=critical,CA:FALSE\n\
             keyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
        ),
    )?;
    // EC keys: generating RSA ones would cost more than Kamailio's whole start-up.
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
    let ca_cn = format!("/CN={ca_name}");
    let ca_subject = ["-subj", &ca_cn, "-days", "7"];
    let ca_extensions = ["-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"];
    openssl(dir, &[&["req", "-x509"][..], &ec, &["-keyout", &ca_key, "-out", &ca_pem], &ca_subject, &ca_extensions].concat())?;
    openssl(dir, &[&["req"][..], &ec, &["-keyout", &key, "-out", &csr, "-subj", &format!("/CN={ip}")]].concat())?;
    openssl(
        dir,
        &["x509", "-req", "-in", &csr, "-CA", &ca_pem, "-CAkey", &ca_key, "-CAcreateserial", "-out", &cert, "-days", "7", "-extfile", &ext],
    )?;
    Ok(PathBuf::from(ca_pem))
}

fn openssl(dir: &Path, args: &[&str]) -> Result<(), HarnessError> {
    let output = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .map_err(HarnessError::io("running openssl"))?;
    if output.status.success() {
        return Ok(());
    }
    Err(HarnessError::StartFailed {
        service: "kamailio".into(),
        reason: format!("openssl {} failed ({})", args.join(" "), output.status),
        log: "openssl's stderr".into(),
        tail: String::from_utf8_lossy(&output.stderr).into_owned(),
    })
}

fn tls_config(dir: &Path) -> String {
    format!(
        "[server:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n\
         private_key = {key}\ncertificate = {cert}\n\n\
         [client:default]\nmethod = TLSv1.2+\nverify_certificate = no\nrequire_certificate = no\n",
        key = dir.join("server.key").display(),
        cert = dir.join("server.pem").display(),
    )
}

/// db_text tables for auth_db: `version` (auth_db checks subscriber's schema
/// version) and `subscriber` with plaintext passwords (calculate_ha1 = yes).
/// Only the columns auth_db reads are declared: db_text refuses empty values.
fn write_users(dir: &Path, opts: &KamailioOptions) -> Result<(), HarnessError> {
    let db = dir.join("db");
    std::fs::create_dir(&db).map_err(HarnessError::io(format!("creating {}", db.display())))?;
    write_file(&db.join("version"), "id(int,auto) table_name(string) table_version(int) \n1:subscriber:7\n")?;
    let mut table = String::from("id(int,auto) username(string) domain(string) password(string) \n");
    for (i, (user, password)) in opts.users.iter().enumerate() {
        let _ = writeln!(table, "{}:{}:{}:{}", i + 1, db_text_escape(user), db_text_escape(&opts.domain), db_text_escape(password));
    }
    write_file(&db.join("subscriber"), &table)
}

/// db_text separates columns with ':' and escapes with '\'.
fn db_text_escape(value: &str) -> String {
    value.replace('\\', "\\\\").replace(':', "\\:").replace('\n', "\\n")
}

fn kamailio_config(dir: &Path, ports: Ports, opts: &KamailioOptions) -> String {
    let mut defines = String::new();
    if let Some(ng) = opts.rtpengine_ng {
        let _ = writeln!(defines, "#!define WITH_RTPENGINE");
        let _ = writeln!(defines, "#!define RTPENGINE_SOCK \"udp:{ng}\"");
    }
    CONFIG_TEMPLATE
        .replace("@DEFINES@", &defines)
        .replace("@DIR@", &dir.display().to_string())
        .replace("@MODULES@", &module_dir().display().to_string())
        .replace("@IP@", &opts.listen_ip.to_string())
        .replace("@SIP_PORT@", &ports.sip.to_string())
        .replace("@WS_PORT@", &ports.ws.to_string())
        .replace("@WSS_PORT@", &ports.wss.to_string())
        .replace("@REALM@", &opts.domain)
        .replace("@ALGORITHM@", opts.digest_algorithm.token())
        .replace("@RTPE_WEBRTC@", RTPENGINE_FLAGS_WEBRTC)
        .replace("@RTPE_PLAIN@", RTPENGINE_FLAGS_PLAIN)
}

/// The routing script, modelled on Kamailio's default WebSocket example.
/// `@NAME@` placeholders are filled by [`kamailio_config`].
const CONFIG_TEMPLATE: &str = r#"#!KAMAILIO
# Generated by Homeline's test harness: registrar + proxy on loopback.
@DEFINES@
#!define FLT_SRC_WS 1
#!define FLT_NATS 5
#!define FLB_NATB 6

debug=2
log_stderror=yes
memdbg=5
memlog=5
log_prefix="{$mt $hdr(CSeq) $ci} "
children=2
tcp_children=2
# Nothing may depend on DNS or reverse DNS here.
auto_aliases=no
dns=no
rev_dns=no
dns_try_ipv6=no
use_dns_cache=off
enable_sctp=no
enable_tls=yes
tcp_accept_no_cl=yes
tcp_rd_buf_size=16384
tcp_connection_lifetime=3605
# No alias=127.0.0.1: every loopback Contact would then be "myself" and
# in-dialog ACK/BYE would loop back into Kamailio. See route[AUTH].
listen=udp:@IP@:@SIP_PORT@
listen=tcp:@IP@:@SIP_PORT@
listen=tcp:@IP@:@WS_PORT@
listen=tls:@IP@:@WSS_PORT@

mpath="@MODULES@"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "tcpops.so"
loadmodule "sanity.so"
loadmodule "db_text.so"
loadmodule "auth.so"
loadmodule "auth_db.so"
loadmodule "nathelper.so"
loadmodule "tls.so"
loadmodule "xhttp.so"
loadmodule "websocket.so"
#!ifdef WITH_RTPENGINE
loadmodule "rtpengine.so"
#!endif

modparam("tm", "failure_reply_mode", 3)
modparam("tm", "fr_timer", 10000)
modparam("tm", "fr_inv_timer", 60000)
modparam("rr", "enable_full_lr", 1)
modparam("rr", "append_fromtag", 0)
modparam("registrar", "method_filtering", 1)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "gruu_enabled", 0)
modparam("usrloc", "db_mode", 0)
modparam("usrloc", "nat_bflag", FLB_NATB)
modparam("auth_db", "db_url", "text://@DIR@/db")
modparam("auth_db", "calculate_ha1", yes)
modparam("auth_db", "password_column", "password")
modparam("auth_db", "load_credentials", "")
modparam("auth_db", "use_domain", 0)
modparam("auth", "algorithm", "@ALGORITHM@")
modparam("nathelper|registrar", "received_avp", "$avp(RECEIVED)")
modparam("nathelper", "natping_interval", 0)
modparam("tls", "config", "@DIR@/tls.cfg")
modparam("websocket", "keepalive_mechanism", 0)
#!ifdef WITH_RTPENGINE
modparam("rtpengine", "rtpengine_sock", RTPENGINE_SOCK)
#!endif

request_route {
	route(REQINIT);
	route(NATDETECT);
	if (is_method("CANCEL")) {
		if (t_check_trans()) {
			route(RTPE);
			route(RELAY);
		}
		exit;
	}
	if (!is_method("ACK")) {
		if (t_precheck_trans()) {
			t_check_trans();
			exit;
		}
		t_check_trans();
	}
	route(WITHINDLG);
	route(AUTH);
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE")) {
		record_route();
	}
	route(REGISTRAR);
	if ($rU == $null) {
		sl_send_reply("484", "Address Incomplete");
		exit;
	}
	route(LOCATION);
}

route[REQINIT] {
	if (!mf_process_maxfwd_header("10")) {
		sl_send_reply("483", "Too Many Hops");
		exit;
	}
	if (is_method("OPTIONS") && uri == myself && $rU == $null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	if (!sanity_check("17895", "7")) {
		xlog("L_WARN", "Malformed SIP message from $si:$sp\n");
		exit;
	}
	# Remember the sender's transport: replies go back on it (rtpengine flags).
	if ($proto == "ws" || $proto == "wss") {
		setflag(FLT_SRC_WS);
	}
}

# WebSocket clients have unreachable .invalid contacts: register their source
# address instead, and alias the Contact of the requests they send.
route[NATDETECT] {
	force_rport();
	if (nat_uac_test("64")) {
		if (is_method("REGISTER")) {
			fix_nated_register();
		} else if (is_first_hop()) {
			set_contact_alias();
		}
		setflag(FLT_NATS);
	}
}

route[WITHINDLG] {
	if (!has_totag()) return;
	if (loose_route()) {
		if (!isdsturiset()) {
			handle_ruri_alias();
		}
		if (check_route_param("nat=yes")) {
			setbflag(FLB_NATB);
		}
		if (is_method("ACK")) {
			route(RTPE);
		}
		# The target's WebSocket is gone (this proxy restarted, or the client
		# moved to a new network and registered again over a new connection):
		# reach the same user over its current registration instead.
		if ($du =~ "transport=ws" && $rU != $null) {
			$var(hostport) = $(du{uri.host}) + ":" + $(du{uri.port});
			if (!tcp_get_conid("$var(hostport)", "$var(conid)")) {
				xlog("L_INFO", "in-dialog $rm: $var(hostport) is gone, looking up $rU\n");
				$ru = "sip:" + $rU + "@@REALM@";
				$du = $null;
				if (lookup("location")) {
					handle_ruri_alias();
				}
			}
		}
		route(RELAY);
		exit;
	}
	if (is_method("ACK")) {
		if (t_check_trans()) {
			route(RELAY);
		}
		exit;
	}
	sl_send_reply("404", "Not here");
	exit;
}

# Requests for or from the configured domain are local. Kamailio's `myself`
# alone would not do: a URI without a port (sip:127.0.0.1) means port 5060 to
# it, and aliasing the bare IP makes every loopback contact "myself".
route[AUTH] {
	if (is_method("REGISTER") || from_uri == myself || $fd == "@REALM@") {
		if (!auth_check("@REALM@", "subscriber", "1")) {
			auth_challenge("@REALM@", "1");
			exit;
		}
		if (!is_method("REGISTER|PUBLISH")) {
			consume_credentials();
		}
	}
	if (uri != myself && $rd != "@REALM@") {
		sl_send_reply("403", "Not relaying");
		exit;
	}
}

route[REGISTRAR] {
	if (!is_method("REGISTER")) return;
	if (isflagset(FLT_NATS)) {
		setbflag(FLB_NATB);
	}
	if (!save("location")) {
		sl_reply_error();
	}
	exit;
}

route[LOCATION] {
	if (!lookup("location")) {
		$var(rc) = $rc;
		t_newtran();
		switch ($var(rc)) {
			case -1:
			case -3:
				send_reply("404", "Not Found");
				exit;
			case -2:
				send_reply("405", "Method Not Allowed");
				exit;
		}
	}
	route(RELAY);
	exit;
}

route[RELAY] {
	if (is_method("INVITE|BYE|UPDATE|CANCEL")) {
		if (!t_is_set("branch_route")) t_on_branch("MANAGE_BRANCH");
	}
	if (is_method("INVITE|UPDATE")) {
		if (!t_is_set("onreply_route")) t_on_reply("MANAGE_REPLY");
	}
	if (is_method("INVITE")) {
		if (!t_is_set("failure_route")) t_on_failure("MANAGE_FAILURE");
	}
	if (!t_relay()) {
		sl_reply_error();
	}
	exit;
}

# Media of a request's next leg, chosen by the transport of its destination
# ($du after lookup or handle_ruri_alias, else the R-URI).
route[RTPE] {
#!ifdef WITH_RTPENGINE
	if (!has_body("application/sdp") && !is_method("BYE|CANCEL")) return;
	if ($du != $null) {
		$var(dst) = $du;
	} else {
		$var(dst) = $ru;
	}
	if ($var(dst) =~ "transport=[wW][sS]") {
		rtpengine_manage("@RTPE_WEBRTC@");
	} else {
		rtpengine_manage("@RTPE_PLAIN@");
	}
#!else
	return;
#!endif
}

# Media of a reply: it goes back to the request's sender, on its transport.
route[RTPE_REPLY] {
#!ifdef WITH_RTPENGINE
	if (isflagset(FLT_SRC_WS)) {
		rtpengine_manage("@RTPE_WEBRTC@");
	} else {
		rtpengine_manage("@RTPE_PLAIN@");
	}
#!else
	return;
#!endif
}

branch_route[MANAGE_BRANCH] {
	if (isflagset(FLT_NATS) && is_method("INVITE") && !has_totag()) {
		add_rr_param(";nat=yes");
	}
	route(RTPE);
}

onreply_route[MANAGE_REPLY] {
	if (status =~ "[12][0-9][0-9]") {
		if (has_body("application/sdp")) {
			route(RTPE_REPLY);
		}
		if (nat_uac_test("64") || isbflagset(FLB_NATB)) {
			if (is_first_hop()) {
				set_contact_alias();
			}
		}
	}
}

failure_route[MANAGE_FAILURE] {
#!ifdef WITH_RTPENGINE
	rtpengine_delete();
#!endif
	if (t_is_canceled()) exit;
}

event_route[xhttp:request] {
	set_reply_close();
	set_reply_no_connect();
	if ($Rp != @WS_PORT@ && $Rp != @WSS_PORT@) {
		xhttp_reply("403", "Forbidden", "", "");
		exit;
	}
	if ($hdr(Upgrade) =~ "websocket" && $hdr(Connection) =~ "Upgrade" && $rm =~ "GET") {
		if (ws_handle_handshake()) {
			exit;
		}
	}
	xhttp_reply("404", "Not Found", "", "");
}
"#;
