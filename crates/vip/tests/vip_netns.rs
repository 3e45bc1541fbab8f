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
use halo_vip::{list, Attrs, OcfRc, OcfResult, Vip};

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
