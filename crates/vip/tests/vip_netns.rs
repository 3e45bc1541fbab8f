//! The halo:vip agent against real kernels: nodes A and B and a client, each its own
//! network namespace on one bridge (halo-testkit). Needs root; skips visibly otherwise.
//!
//! The client runs a plain TCP client; A and B each serve their own name on the same
//! port on every address, so the answering host's name shows who holds the VIP, and
//! the client's neighbour table shows which MAC it will send to.

use std::{
    collections::BTreeMap,
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    time::{Duration, Instant},
};

use halo_testkit::netns::{require_netns, spare_v4, spare_v6, Host, Net, NsRuntime};
use halo_vip::{list, Attrs, HaloAddress, OcfRc, OcfResult, Renewal, Vip, VipError};

const PORT: u16 = 7200;

fn attrs(pairs: &[(&str, &str)]) -> Attrs {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect::<BTreeMap<_, _>>()
}

fn vip(pairs: &[(&str, &str)]) -> Vip {
    Vip::from_params(&attrs(pairs)).expect("valid VIP parameters")
}

/// Nodes `a` and `b` serving their names, a `client`, and a tokio runtime inside each
/// node (standing in for the node's halo daemon).
struct Lab {
    net: Net,
    rt_a: NsRuntime,
    rt_b: NsRuntime,
}

impl Lab {
    fn new() -> Lab {
        let net = Net::new(&["a", "b", "client"]).expect("build the network");
        for name in ["a", "b"] {
            let h = net.host(name);
            // Only halo's own announcements may move the client's neighbour entry.
            h.sysctl("net.ipv4.conf.all.arp_notify", "0")
                .expect("sysctl");
            h.sysctl("net.ipv6.conf.all.ndisc_notify", "0")
                .expect("sysctl");
            serve_name(h);
        }
        let rt_a = net.host("a").runtime().expect("runtime in a");
        let rt_b = net.host("b").runtime().expect("runtime in b");
        Lab { net, rt_a, rt_b }
    }
    fn host(&self, name: &str) -> &Host {
        self.net.host(name)
    }
    fn rt(&self, name: &str) -> &NsRuntime {
        match name {
            "a" => &self.rt_a,
            "b" => &self.rt_b,
            other => panic!("no runtime for {other}"),
        }
    }
    fn start(&self, node: &str, v: &Vip) -> OcfResult {
        let v = v.clone();
        self.rt(node).run(async move { v.start().await })
    }
    fn stop(&self, node: &str, v: &Vip) -> OcfResult {
        let v = v.clone();
        self.rt(node).run(async move { v.stop().await })
    }
    fn monitor(&self, node: &str, v: &Vip) -> OcfResult {
        let v = v.clone();
        self.rt(node).run(async move { v.monitor().await })
    }
    fn renew(&self, node: &str, v: &Vip) -> Result<Renewal, VipError> {
        let v = v.clone();
        self.rt(node).run(async move { v.renew().await })
    }
    /// halo's address `ip` on `node` as `list` shows it.
    fn held(&self, node: &str, ip: IpAddr) -> Option<HaloAddress> {
        let held = self.rt(node).run(list()).expect("list");
        held.into_iter().find(|h| h.ip == ip)
    }
    /// The `ip -o address show dev eth0` line of `ip` on `node`.
    fn address_line(&self, node: &str, ip: IpAddr) -> Option<String> {
        let out = self
            .host(node)
            .ip(&["-o", "address", "show", "dev", "eth0"])
            .expect("ip address show");
        out.lines()
            .find(|l| {
                l.split_whitespace()
                    .any(|w| w.split('/').next() == Some(&ip.to_string()))
            })
            .map(str::to_string)
    }
    /// The addresses `ip` has on `node`'s eth0 per `ip address show`.
    fn has_address(&self, node: &str, ip: IpAddr) -> bool {
        let out = self
            .host(node)
            .ip(&["-o", "address", "show", "dev", "eth0"])
            .expect("ip address show");
        out.split_whitespace()
            .any(|w| w.split('/').next() == Some(&ip.to_string()))
    }
}

/// Serves "<host name>\n" on PORT, all addresses, IPv4 and IPv6, in `host`.
fn serve_name(host: &Host) {
    let listener = host
        .in_ns(|| TcpListener::bind(("::", PORT)))
        .expect("enter namespace")
        .expect("bind");
    let name = host.name().to_string();
    std::thread::spawn(move || {
        for mut s in listener.incoming().flatten() {
            let _ = s.write_all(format!("{name}\n").as_bytes());
        }
    });
}

/// One TCP exchange from `from` to `ip:PORT`: the answering host's name, or None when
/// nothing answers within 900 ms. That is less than the kernel's first SYN
/// retransmission (1 s), so an answer means the very first SYN went to the right MAC.
fn ask(from: &Host, ip: IpAddr) -> Option<String> {
    from.in_ns(|| {
        let addr = SocketAddr::new(ip, PORT);
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_millis(900)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out.trim().to_string())
    })
    .expect("enter namespace")
}

/// Polls (without sending anything to `ip`) the client's neighbour entry until its MAC
/// is `mac` or 2 s pass; returns the MAC last seen.
fn neighbour_mac_becomes(client: &Host, ip: IpAddr, mac: [u8; 6]) -> Option<[u8; 6]> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let seen = client
            .neighbour(ip)
            .expect("ip neigh")
            .and_then(|n| n.lladdr);
        if seen == Some(mac) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn assert_rc(r: &OcfResult, rc: OcfRc, what: &str) {
    assert_eq!(r.rc, rc, "{what}: {r:?}");
}

/// The VIP moves from A to B and the client, without any cache flush, follows at once:
/// B's gratuitous ARP rewrites the client's neighbour entry to B's MAC before the
/// client sends anything, and the client's very next connection is answered by B.
fn vip_moves_and_client_follows(ip: IpAddr) {
    let lab = Lab::new();
    let (a, b, client) = (lab.host("a"), lab.host("b"), lab.host("client"));
    let v = vip(&[("ip", &ip.to_string())]);

    assert_rc(&lab.start("a", &v), OcfRc::Success, "start on a");
    assert!(lab.has_address("a", ip), "a holds {ip}");
    assert_eq!(ask(client, ip).as_deref(), Some("a"));
    let entry = client.neighbour(ip).expect("ip neigh").expect("entry");
    assert_eq!(entry.lladdr, Some(a.mac()), "client sends to a: {entry:?}");

    assert_rc(&lab.stop("a", &v), OcfRc::Success, "stop on a");
    assert!(!lab.has_address("a", ip), "a gave {ip} up");
    assert_rc(&lab.start("b", &v), OcfRc::Success, "start on b");

    let seen = neighbour_mac_becomes(client, ip, b.mac());
    assert_eq!(
        seen,
        Some(b.mac()),
        "the announcement must move the client's entry to b's MAC before any traffic"
    );
    assert_eq!(ask(client, ip).as_deref(), Some("b"));
}

/// IPv4: start on A, client reaches A; stop on A, start on B; the gratuitous ARP moves
/// the client to B at once.
#[test]
fn vip_v4_moves_and_client_follows_gratuitous_arp() {
    if !require_netns() {
        return;
    }
    vip_moves_and_client_follows(spare_v4(0).into());
}

/// IPv6: the same, through an unsolicited neighbour advertisement.
#[test]
fn vip_v6_moves_and_client_follows_unsolicited_na() {
    if !require_netns() {
        return;
    }
    vip_moves_and_client_follows(spare_v6(0).into());
}

/// The control experiment: with `arp_count=0` (no announcement) the client keeps A's
/// MAC after the move and its first connection goes unanswered. This is what the
/// announcement in the tests above fixes.
#[test]
fn vip_without_announcement_client_keeps_stale_mac() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let (a, client) = (lab.host("a"), lab.host("client"));
    let ip: IpAddr = spare_v4(1).into();
    let v = vip(&[("ip", &ip.to_string()), ("arp_count", "0")]);
    assert_rc(&lab.start("a", &v), OcfRc::Success, "start on a");
    assert_eq!(ask(client, ip).as_deref(), Some("a"));
    assert_rc(&lab.stop("a", &v), OcfRc::Success, "stop on a");
    assert_rc(&lab.start("b", &v), OcfRc::Success, "start on b");
    std::thread::sleep(Duration::from_millis(300));
    let entry = client.neighbour(ip).expect("ip neigh").expect("entry");
    assert_eq!(
        entry.lladdr,
        Some(a.mac()),
        "no announcement: entry unchanged"
    );
    assert_eq!(
        ask(client, ip),
        None,
        "the first SYN goes to a, which drops it"
    );
}

/// A raw AF_PACKET capture on the client's eth0 (all protocols), for checking frames.
struct Capture {
    fd: i32,
}

impl Capture {
    fn open(client: &Host) -> Capture {
        let fd = client
            .in_ns(|| {
                // SAFETY: plain socket(2); checked below.
                unsafe {
                    libc::socket(
                        libc::AF_PACKET,
                        libc::SOCK_RAW,
                        i32::from((libc::ETH_P_ALL as u16).to_be()),
                    )
                }
            })
            .expect("enter namespace");
        assert!(
            fd >= 0,
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        );
        Capture { fd }
    }

    /// Frames received during `dur`.
    fn frames(&self, dur: Duration) -> Vec<Vec<u8>> {
        let deadline = Instant::now() + dur;
        let mut out = Vec::new();
        while let Some(left) = deadline.checked_duration_since(Instant::now()) {
            let tv = libc::timeval {
                tv_sec: left.as_secs() as libc::time_t,
                tv_usec: left.subsec_micros().max(1) as libc::suseconds_t,
            };
            let mut buf = vec![0u8; 2048];
            // SAFETY: valid fd, pointers and lengths.
            let n = unsafe {
                libc::setsockopt(
                    self.fd,
                    libc::SOL_SOCKET,
                    libc::SO_RCVTIMEO,
                    (&tv as *const libc::timeval).cast(),
                    std::mem::size_of::<libc::timeval>() as libc::socklen_t,
                );
                libc::recv(self.fd, buf.as_mut_ptr().cast(), buf.len(), 0)
            };
            if n > 0 {
                buf.truncate(n as usize);
                out.push(buf);
            }
        }
        out
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: we own the fd.
        unsafe { libc::close(self.fd) };
    }
}

fn is_garp_for(f: &[u8], ip: [u8; 4], mac: [u8; 6]) -> bool {
    f.len() >= 42
        && f[0..6] == [0xff; 6]
        && f[12..14] == [0x08, 0x06]
        && f[20..22] == [0, 1]
        && f[22..28] == mac
        && f[28..32] == ip
        && f[38..42] == ip
}

fn is_na_for(f: &[u8], ip: [u8; 16], mac: [u8; 6]) -> bool {
    f.len() >= 86
        && f[0..6] == [0x33, 0x33, 0, 0, 0, 1]
        && f[6..12] == mac
        && f[12..14] == [0x86, 0xdd]
        && f[20] == 58
        && f[21] == 255
        && f[54] == 136
        && f[58] & 0xe0 == 0x20
        && f[62..78] == ip
        && f[78..80] == [2, 1]
        && f[80..86] == mac
}

/// On the wire: start sends exactly `arp_count` gratuitous ARP requests (broadcast,
/// sender IP = target IP = VIP, A's MAC), and monitor sends `arp_count_refresh` more;
/// the same for IPv6 neighbour advertisements (ff02::1, hop limit 255, Override, target
/// link-layer address option).
#[test]
fn vip_announcements_on_the_wire() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let (a, client) = (lab.host("a"), lab.host("client"));
    let v4 = spare_v4(2);
    let v6 = spare_v6(2);
    let cap = Capture::open(client);
    let common = [
        ("arp_count", "3"),
        ("arp_interval", "40"),
        ("arp_count_refresh", "2"),
    ];
    let mut p4 = vec![("ip", v4.to_string())];
    let mut p6 = vec![("ip", v6.to_string())];
    for (k, val) in common {
        p4.push((k, val.to_string()));
        p6.push((k, val.to_string()));
    }
    let to_attrs = |p: &Vec<(&str, String)>| -> Attrs {
        p.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    };
    let vip4 = Vip::from_params(&to_attrs(&p4)).expect("params");
    let vip6 = Vip::from_params(&to_attrs(&p6)).expect("params");
    assert_rc(&lab.start("a", &vip4), OcfRc::Success, "start v4");
    assert_rc(&lab.start("a", &vip6), OcfRc::Success, "start v6");
    let frames = cap.frames(Duration::from_millis(1000));
    let garps = frames
        .iter()
        .filter(|f| is_garp_for(f, v4.octets(), a.mac()))
        .count();
    let nas = frames
        .iter()
        .filter(|f| is_na_for(f, v6.octets(), a.mac()))
        .count();
    assert_eq!((garps, nas), (3, 3), "start: arp_count announcements each");

    assert_rc(&lab.monitor("a", &vip4), OcfRc::Success, "monitor v4");
    assert_rc(&lab.monitor("a", &vip6), OcfRc::Success, "monitor v6");
    let frames = cap.frames(Duration::from_millis(800));
    let garps = frames
        .iter()
        .filter(|f| is_garp_for(f, v4.octets(), a.mac()))
        .count();
    let nas = frames
        .iter()
        .filter(|f| is_na_for(f, v6.octets(), a.mac()))
        .count();
    assert_eq!(
        (garps, nas),
        (2, 2),
        "monitor: arp_count_refresh announcements each"
    );
}

/// A node that gives the VIP up stops announcing it at once: A starts a long burst,
/// stops, B takes over; the client stays on B (A's remaining announcements would move
/// it back).
#[test]
fn vip_stopped_node_stops_announcing() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let (a, b, client) = (lab.host("a"), lab.host("b"), lab.host("client"));
    let v4 = spare_v4(3);
    let ip: IpAddr = v4.into();
    let long = vip(&[
        ("ip", &ip.to_string()),
        ("arp_count", "20"),
        ("arp_interval", "50"),
    ]);
    assert_rc(&lab.start("a", &long), OcfRc::Success, "start on a");
    assert_eq!(ask(client, ip).as_deref(), Some("a"));
    assert_rc(&lab.stop("a", &long), OcfRc::Success, "stop on a");
    let cap = Capture::open(client);
    assert_rc(
        &lab.start("b", &vip(&[("ip", &ip.to_string())])),
        OcfRc::Success,
        "start b",
    );
    let frames = cap.frames(Duration::from_millis(600));
    let from_a_total = frames
        .iter()
        .filter(|f| is_garp_for(f, v4.octets(), a.mac()))
        .count();
    assert_eq!(from_a_total, 0, "a announced after it stopped");
    assert_eq!(
        client.neighbour(ip).expect("neigh").and_then(|n| n.lladdr),
        Some(b.mac())
    );
    assert_eq!(ask(client, ip).as_deref(), Some("b"));
}

/// start and stop are idempotent; monitor follows the address and the link.
#[test]
fn vip_start_stop_idempotent_and_monitor() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let ip: IpAddr = spare_v4(4).into();
    let v = vip(&[("ip", &ip.to_string())]);
    assert_rc(
        &lab.monitor("a", &v),
        OcfRc::NotRunning,
        "monitor before start",
    );
    assert_rc(&lab.start("a", &v), OcfRc::Success, "start");
    assert_rc(&lab.start("a", &v), OcfRc::Success, "second start");
    let held = lab.rt("a").run(list()).expect("list");
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(
        (held[0].ip, held[0].prefix, held[0].ifname.as_str()),
        (ip, 24, "eth0")
    );
    assert_rc(&lab.monitor("a", &v), OcfRc::Success, "monitor running");

    lab.host("a").set_link_up(false).expect("link down");
    let r = lab.monitor("a", &v);
    assert_rc(&r, OcfRc::ErrGeneric, "monitor with eth0 down");
    assert!(
        r.reason.as_deref().unwrap_or("").contains("eth0 is down"),
        "{r:?}"
    );
    lab.host("a").set_link_up(true).expect("link up");
    assert_rc(
        &lab.monitor("a", &v),
        OcfRc::Success,
        "monitor after link up",
    );

    lab.net.cut("a").expect("cut");
    let r = lab.monitor("a", &v);
    assert_rc(&r, OcfRc::ErrGeneric, "monitor without carrier");
    assert!(
        r.reason.as_deref().unwrap_or("").contains("no carrier"),
        "{r:?}"
    );
    lab.net.reconnect("a").expect("reconnect");

    assert_rc(&lab.stop("a", &v), OcfRc::Success, "stop");
    assert_rc(&lab.stop("a", &v), OcfRc::Success, "second stop");
    assert_rc(
        &lab.monitor("a", &v),
        OcfRc::NotRunning,
        "monitor after stop",
    );
    assert!(!lab.has_address("a", ip));

    // Someone removes the address behind halo's back: monitor notices.
    assert_rc(&lab.start("a", &v), OcfRc::Success, "start again");
    lab.host("a")
        .ip(&["address", "del", &format!("{ip}/24"), "dev", "eth0"])
        .expect("ip address del");
    assert_rc(
        &lab.monitor("a", &v),
        OcfRc::NotRunning,
        "monitor after removal by hand",
    );
}

/// Explicit nic, dotted netmask, label and broadcast are applied as IPaddr2 applies
/// them.
#[test]
fn vip_explicit_nic_netmask_label_broadcast() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let v = vip(&[
        ("ip", "10.213.0.205"),
        ("nic", "eth0"),
        ("cidr_netmask", "255.255.255.128"),
        ("iflabel", "web"),
        ("broadcast", "-"),
    ]);
    assert_rc(&lab.start("a", &v), OcfRc::Success, "start");
    let out = lab
        .host("a")
        .ip(&["-4", "-o", "address", "show", "dev", "eth0"])
        .expect("ip address");
    let line = out
        .lines()
        .find(|l| l.contains("10.213.0.205/25"))
        .unwrap_or_else(|| panic!("VIP with /25 missing: {out}"));
    assert!(line.contains("brd 10.213.0.128"), "{line}");
    assert!(line.contains("eth0:web"), "{line}");
    let held = lab.rt("a").run(list()).expect("list");
    assert_eq!(held[0].label.as_deref(), Some("eth0:web"));
    assert_rc(&lab.stop("a", &v), OcfRc::Success, "stop");
}

/// An address in no local subnet, without nic: a clear refusal naming the address and
/// the subnets this node has; nothing is added.
#[test]
fn vip_outside_local_subnets_without_nic_is_refused() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let r = lab.start("a", &vip(&[("ip", "10.214.0.5")]));
    assert_rc(&r, OcfRc::ErrInstalled, "start");
    let why = r.reason.unwrap_or_default();
    assert!(
        why.contains("HALO-E510") && why.contains("10.214.0.5"),
        "{why}"
    );
    assert!(
        why.contains("10.213.0.0/24 dev eth0"),
        "names the subnets: {why}"
    );
    assert!(!lab.has_address("a", "10.214.0.5".parse().expect("ip")));

    let r = lab.start("a", &vip(&[("ip", "fd00:214::5")]));
    assert_rc(&r, OcfRc::ErrInstalled, "start v6");
    assert!(r
        .reason
        .unwrap_or_default()
        .contains("fd00:213::/64 dev eth0"));

    let r = lab.start("a", &vip(&[("ip", "10.214.0.5"), ("nic", "eth0")]));
    assert_rc(
        &r,
        OcfRc::ErrConfigured,
        "nic without netmask outside its subnets",
    );
    assert!(r.reason.unwrap_or_default().contains("HALO-E512"));

    let r = lab.start("a", &vip(&[("ip", "10.213.0.206"), ("nic", "eth9")]));
    assert_rc(&r, OcfRc::ErrInstalled, "unknown nic");
    assert!(r.reason.unwrap_or_default().contains("nic=eth9"));
}

/// A VIP equal to a node's own address is refused by start, stop and monitor alike,
/// and the node keeps its address (IPv4 and IPv6).
#[test]
fn vip_equal_to_node_address_is_refused() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let a = lab.host("a");
    for own in [IpAddr::from(a.ipv4()), IpAddr::from(a.ipv6())] {
        let v = vip(&[("ip", &own.to_string())]);
        for (what, r) in [
            ("start", lab.start("a", &v)),
            ("stop", lab.stop("a", &v)),
            ("monitor", lab.monitor("a", &v)),
        ] {
            assert_rc(&r, OcfRc::ErrConfigured, what);
            let why = r.reason.unwrap_or_default();
            assert!(
                why.contains("HALO-E520") && why.contains("did not add"),
                "{what}: {why}"
            );
            assert!(
                lab.has_address("a", own),
                "{what} must leave {own} in place"
            );
        }
    }
    // The node still talks with its own address.
    serve_check(&lab);
}

fn serve_check(lab: &Lab) {
    let client = lab.host("client");
    assert_eq!(
        ask(client, lab.host("a").ipv4().into()).as_deref(),
        Some("a")
    );
}

/// stop refuses to remove an address that someone else added (by hand), and leaves it.
#[test]
fn vip_stop_refuses_address_added_by_hand() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    lab.host("a")
        .ip(&["address", "add", "10.213.0.207/24", "dev", "eth0"])
        .expect("ip address add");
    let v = vip(&[("ip", "10.213.0.207")]);
    let r = lab.stop("a", &v);
    assert_rc(&r, OcfRc::ErrConfigured, "stop");
    assert!(r.reason.unwrap_or_default().contains("refusing to remove"));
    assert!(lab.has_address("a", "10.213.0.207".parse().expect("ip")));
    assert!(
        lab.rt("a").run(list()).expect("list").is_empty(),
        "not halo's"
    );
}

/// With `nodad=false`, start waits for IPv6 duplicate address detection: it fails (and
/// removes the address) when another host already has it, and succeeds otherwise.
#[test]
fn vip_v6_duplicate_address_detection() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    lab.host("a")
        .sysctl("net.ipv6.conf.eth0.accept_dad", "1")
        .expect("sysctl");
    let ip = spare_v6(8);
    lab.host("b")
        .ip(&[
            "address",
            "add",
            &format!("{ip}/64"),
            "dev",
            "eth0",
            "nodad",
        ])
        .expect("b takes the address");
    let v = vip(&[("ip", &ip.to_string()), ("nodad", "false")]);
    let r = lab.start("a", &v);
    assert_rc(&r, OcfRc::ErrGeneric, "start with a duplicate on the link");
    assert!(r.reason.unwrap_or_default().contains("HALO-E530"));
    assert!(
        !lab.has_address("a", ip.into()),
        "a must not keep a duplicate"
    );

    lab.host("b")
        .ip(&["address", "del", &format!("{ip}/64"), "dev", "eth0"])
        .expect("b drops it");
    assert_rc(
        &lab.start("a", &v),
        OcfRc::Success,
        "start once the address is free",
    );
    let held = lab.rt("a").run(list()).expect("list");
    assert!(
        held.iter()
            .any(|h| h.ip == IpAddr::from(ip) && !h.tentative),
        "{held:?}"
    );
    assert_eq!(ask(lab.host("client"), ip.into()).as_deref(), Some("a"));
}

/// Bad parameters never reach the kernel: from_params refuses them with the OCF code
/// a configuration error gets.
#[test]
fn vip_bad_parameters_are_configuration_errors() {
    for (pairs, needle) in [
        (
            vec![("ip", "10.213.0.9"), ("cidr_netmask", "33")],
            "cidr_netmask=\"33\"",
        ),
        (
            vec![("ip", "10.213.0.9"), ("cidr_netmask", "255.0.255.0")],
            "contiguous",
        ),
        (vec![("ip", "fd00::9"), ("cidr_netmask", "200")], "1 to 128"),
        (vec![("cidr_netmask", "24")], "parameter ip: missing"),
    ] {
        let e = Vip::from_params(&attrs(&pairs)).expect_err("must be refused");
        assert_eq!(e.ocf_rc(), OcfRc::ErrConfigured, "{e}");
        assert!(e.to_string().contains(needle), "{e}");
    }
}

/// How long the tests below wait for the kernel to remove an address whose 1 s lifetime
/// ran out (it does so about a second after; IPv6's timer is coarser). Not a speed
/// assertion: only "gone by itself, eventually".
const EXPIRY_DEADLINE: Duration = Duration::from_secs(6);

/// Polls `list` on `node` until none of `ips` is there or `deadline` passes; returns,
/// per address, how long after `since` it was first seen gone (None: still there).
fn wait_gone(lab: &Lab, node: &str, ips: &[(IpAddr, Instant)]) -> Vec<Option<Duration>> {
    let mut gone: Vec<Option<Duration>> = vec![None; ips.len()];
    let start = Instant::now();
    while gone.iter().any(Option::is_none) && start.elapsed() < EXPIRY_DEADLINE {
        let held = lab.rt(node).run(list()).expect("list");
        for (i, (ip, since)) in ips.iter().enumerate() {
            if gone[i].is_none() && !held.iter().any(|h| h.ip == *ip) {
                gone[i] = Some(since.elapsed());
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    gone
}

fn lifetime_vip(ip: IpAddr, lifetime: &str) -> Vip {
    vip(&[("ip", &ip.to_string()), ("lifetime", lifetime)])
}

/// (a) An IPv4 and an IPv6 VIP added with `lifetime=1s` are there right after start
/// (halo's, with at most 1 s left, monitor running) and disappear by themselves: the
/// kernel removes them, and monitor then reports not running (7).
#[test]
fn vip_with_lifetime_disappears_by_itself() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let ips: [IpAddr; 2] = [spare_v4(10).into(), spare_v6(10).into()];
    let vips = ips.map(|ip| lifetime_vip(ip, "1s"));
    let mut started = Vec::new();
    for (ip, v) in ips.iter().zip(&vips) {
        assert_rc(&lab.start("a", v), OcfRc::Success, &format!("start {ip}"));
        started.push((*ip, Instant::now()));
    }
    for (ip, v) in ips.iter().zip(&vips) {
        assert!(lab.has_address("a", *ip), "{ip} present right after start");
        let h = lab.held("a", *ip).expect("halo's address listed");
        assert!(
            matches!(h.valid_lft, Some(d) if d <= Duration::from_secs(1)),
            "{ip}: kernel lifetime of at most 1 s: {h:?}"
        );
        assert_eq!(h.preferred_lft, h.valid_lft, "{h:?}");
        let line = lab.address_line("a", *ip).expect("ip address line");
        assert!(!line.contains("forever"), "{ip} is not permanent: {line}");
        assert_rc(&lab.monitor("a", v), OcfRc::Success, "monitor while held");
    }
    let gone = wait_gone(&lab, "a", &started);
    for ((ip, _), g) in started.iter().zip(&gone) {
        eprintln!("lifetime 1s: {ip} disappeared {g:?} after start");
        assert!(
            g.is_some(),
            "{ip} still there {EXPIRY_DEADLINE:?} after start"
        );
        assert!(!lab.has_address("a", *ip), "{ip} gone per ip address");
    }
    for (ip, v) in ips.iter().zip(&vips) {
        assert_rc(
            &lab.monitor("a", v),
            OcfRc::NotRunning,
            &format!("monitor of expired {ip}"),
        );
        assert_rc(&lab.stop("a", v), OcfRc::Success, "stop of an expired VIP");
    }
}

/// (b) Renewed every 300 ms, a 1 s-lifetime VIP (IPv4 and IPv6) stays for 3 s, with
/// halo's mark, and no renewal sends an announcement; once renewals stop it
/// disappears by itself, and a late renewal is refused (HALO-E522) without bringing it
/// back. Logs how long after its last renewal each address disappeared.
#[test]
fn vip_lifetime_renewed_stays_then_expires() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let (a, client) = (lab.host("a"), lab.host("client"));
    let v4 = spare_v4(11);
    let v6 = spare_v6(11);
    let ips: [IpAddr; 2] = [v4.into(), v6.into()];
    // One announcement each, sent before start returns: the capture below sees only
    // what renewals send.
    let vips = ips.map(|ip| {
        vip(&[
            ("ip", &ip.to_string()),
            ("lifetime", "1s"),
            ("arp_count", "1"),
        ])
    });
    for v in &vips {
        assert_rc(&lab.start("a", v), OcfRc::Success, "start");
    }
    let cap = Capture::open(client);
    let renewing = Duration::from_secs(3);
    let capture = std::thread::spawn(move || cap.frames(renewing + Duration::from_millis(300)));
    let begin = Instant::now();
    let mut last = [begin; 2];
    let mut renewals = 0;
    while begin.elapsed() < renewing {
        for (i, v) in vips.iter().enumerate() {
            let r = lab
                .renew("a", v)
                .unwrap_or_else(|e| panic!("renewal at {:?} of {}: {e}", begin.elapsed(), ips[i]));
            last[i] = Instant::now();
            assert_eq!(
                (r.ip, r.ifname.as_str(), r.lifetime),
                (ips[i], "eth0", Duration::from_secs(1)),
                "{r:?}"
            );
        }
        renewals += 1;
        for ip in ips {
            let h = lab
                .held("a", ip)
                .unwrap_or_else(|| panic!("{ip} gone (or lost halo's mark) while renewed"));
            assert!(
                matches!(h.valid_lft, Some(d) if d <= Duration::from_secs(1)),
                "{h:?}"
            );
        }
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(renewals >= 9, "renewed {renewals} times in 3 s");
    let line6 = lab.address_line("a", ips[1]).expect("v6 line");
    assert!(line6.contains("nodad"), "renewal keeps the flags: {line6}");
    for ip in ips {
        assert!(lab.has_address("a", ip), "{ip} held after 3 s of renewals");
    }
    let stopped = [(ips[0], last[0]), (ips[1], last[1])];
    let gone = wait_gone(&lab, "a", &stopped);
    for ((ip, _), g) in stopped.iter().zip(&gone) {
        eprintln!(
            "lifetime 1s, renewed every 300 ms: {ip} disappeared {g:?} after its last renewal"
        );
        assert!(
            g.is_some(),
            "{ip} still there {EXPIRY_DEADLINE:?} after its last renewal"
        );
    }

    let frames = capture.join().expect("capture thread");
    let garps = frames
        .iter()
        .filter(|f| is_garp_for(f, v4.octets(), a.mac()))
        .count();
    let nas = frames
        .iter()
        .filter(|f| is_na_for(f, v6.octets(), a.mac()))
        .count();
    assert_eq!((garps, nas), (0, 0), "renewals announce nothing");

    for (ip, v) in ips.iter().zip(&vips) {
        let e = lab.renew("a", v).expect_err("renewal of an expired VIP");
        assert!(
            matches!(e, VipError::NotHeld { .. }) && e.to_string().contains("HALO-E522"),
            "{e}"
        );
        assert_eq!(e.ocf_rc(), OcfRc::NotRunning, "{e}");
        assert!(!lab.has_address("a", *ip), "renewal must not add {ip} back");
        assert_rc(&lab.monitor("a", v), OcfRc::NotRunning, "monitor");
    }
}

/// (c) Renewal refuses an address that is not halo's (added with `ip address add`:
/// IPv4 permanent, IPv6 with a 100 s lifetime) and leaves it untouched: same lifetime,
/// no mark, still there after the 1 s a wrongful renewal would have given it. Renewal
/// of an absent address is refused and adds nothing; a VIP without `lifetime` has
/// nothing to renew.
#[test]
fn vip_renew_refuses_address_not_halos() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let a = lab.host("a");
    let v4: IpAddr = spare_v4(12).into();
    let v6: IpAddr = spare_v6(12).into();
    a.ip(&["address", "add", &format!("{v4}/24"), "dev", "eth0"])
        .expect("ip address add v4");
    a.ip(&[
        "address",
        "add",
        &format!("{v6}/64"),
        "dev",
        "eth0",
        "nodad",
        "valid_lft",
        "100",
        "preferred_lft",
        "100",
    ])
    .expect("ip address add v6");
    let before = [v4, v6].map(|ip| lab.address_line("a", ip).expect("line"));
    for ip in [v4, v6] {
        let e = lab
            .renew("a", &lifetime_vip(ip, "1s"))
            .expect_err("renewal of an address halo did not add");
        let msg = e.to_string();
        assert!(
            msg.contains("HALO-E520") && msg.contains("refusing to renew it"),
            "{msg}"
        );
        assert_eq!(e.ocf_rc(), OcfRc::ErrConfigured, "{e}");
    }
    assert!(
        lab.rt("a").run(list()).expect("list").is_empty(),
        "neither became halo's"
    );
    std::thread::sleep(Duration::from_millis(1500));
    let after = [v4, v6].map(|ip| lab.address_line("a", ip).expect("still there"));
    assert!(after[0].contains("valid_lft forever"), "{}", after[0]);
    let valid = |line: &str| -> u64 {
        let w: Vec<&str> = line.split_whitespace().collect();
        let i = w.iter().position(|x| *x == "valid_lft").expect("valid_lft");
        w[i + 1].trim_end_matches("sec").parse().expect("seconds")
    };
    assert!(
        valid(&after[1]) > 90,
        "v6 keeps its own lifetime: before {} / after {}",
        before[1],
        after[1]
    );
    for l in after.iter().chain(&before) {
        assert!(!l.contains("0xa1"), "no halo mark: {l}");
    }

    let absent: IpAddr = spare_v4(13).into();
    let e = lab
        .renew("a", &lifetime_vip(absent, "2s"))
        .expect_err("renewal of an absent address");
    assert!(e.to_string().contains("HALO-E522"), "{e}");
    assert!(!lab.has_address("a", absent), "renewal added nothing");

    let permanent = vip(&[("ip", &absent.to_string())]);
    let e = lab.renew("a", &permanent).expect_err("no lifetime");
    assert!(e.to_string().contains("parameter lifetime: missing"), "{e}");
}

/// start of a VIP halo already holds gives it the configured lifetime again (as a
/// renewal would), and a permanent configuration makes it permanent.
#[test]
fn vip_start_of_held_vip_sets_its_lifetime() {
    if !require_netns() {
        return;
    }
    let lab = Lab::new();
    let ip: IpAddr = spare_v4(14).into();
    let v = lifetime_vip(ip, "3s");
    assert_rc(&lab.start("a", &v), OcfRc::Success, "start");
    std::thread::sleep(Duration::from_millis(1200));
    let h = lab.held("a", ip).expect("held");
    assert_eq!(h.valid_lft, Some(Duration::from_secs(2)), "{h:?}");
    assert_rc(&lab.start("a", &v), OcfRc::Success, "start again");
    let h = lab.held("a", ip).expect("held");
    assert_eq!(
        h.valid_lft,
        Some(Duration::from_secs(3)),
        "renewed by start: {h:?}"
    );
    assert_rc(
        &lab.start("a", &vip(&[("ip", &ip.to_string())])),
        OcfRc::Success,
        "start without lifetime",
    );
    let h = lab.held("a", ip).expect("held");
    assert_eq!(
        (h.valid_lft, h.preferred_lft),
        (None, None),
        "permanent: {h:?}"
    );
    assert!(
        lab.address_line("a", ip)
            .expect("line")
            .contains("valid_lft forever"),
        "permanent per ip address"
    );
}

/// (d) The `lifetime` parameter is validated: bad values are configuration errors
/// (HALO-E502) naming the parameter and saying why; good ones are whole seconds for
/// the kernel, rounded up.
#[test]
fn vip_lifetime_parameter_is_validated() {
    for (value, why) in [
        ("2", "no unit"),
        ("soon", "not a duration"),
        ("-2s", "not a duration"),
        ("1.5s", "unknown unit"),
        ("3 days", "unknown unit"),
        ("0s", "more than 0"),
        ("86401s", "at most"),
    ] {
        let e = Vip::from_params(&attrs(&[("ip", "10.213.0.9"), ("lifetime", value)]))
            .expect_err("must be refused");
        assert_eq!(e.ocf_rc(), OcfRc::ErrConfigured, "{e}");
        let msg = e.to_string();
        assert!(
            msg.starts_with(&format!("HALO-E502 parameter lifetime={value:?}"))
                && msg.contains(why),
            "{value}: {msg}"
        );
    }
    for (value, given) in [
        ("2s", Some(Duration::from_secs(2))),
        ("1500ms", Some(Duration::from_millis(1500))),
        ("forever", None),
    ] {
        let v = Vip::from_params(&attrs(&[("ip", "fd00::9"), ("lifetime", value)]))
            .expect("valid lifetime");
        assert_eq!(v.params().lifetime, given, "{value}");
    }
    assert_eq!(
        halo_vip::params::lifetime_secs(Duration::from_millis(1500)),
        2,
        "rounded up to whole seconds"
    );
    assert_eq!(
        halo_vip::params::lifetime_secs(Duration::from_millis(10)),
        1
    );
}
