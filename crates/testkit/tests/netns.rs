//! The network-namespace kit against the real kernel: hosts reach each other, and every
//! fault (cut, partition, netem loss, kill) does what it says and heals. Needs root;
//! skips visibly otherwise.

use std::{
    io::{Read, Write},
    net::{IpAddr, SocketAddr, TcpListener, TcpStream},
    time::Duration,
};

use halo_testkit::netns::{cleanup_stale, netem_delay_available, require_netns, Host, Net, Netem};

const PORT: u16 = 7100;

/// Serves "<host name>\n" to every TCP connection on PORT (all addresses) in `host`.
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

/// Connects from `from` to `to:PORT`; the answering host's name, or None when no
/// answer comes within 300 ms (used to show that something is unreachable).
fn ask(from: &Host, to: IpAddr) -> Option<String> {
    ask_within(from, to, Duration::from_millis(300))
}

/// Like [`ask`] but keeps trying for up to 5 s: after a fault heals, the neighbour
/// entry may still be INCOMPLETE (the kernel re-solicits once a second) or turn FAILED
/// under the first attempt, which then fails at once with "no route to host".
fn reach(from: &Host, to: IpAddr) -> Option<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return None;
        }
        if let Some(name) = ask_within(from, to, left) {
            return Some(name);
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn ask_within(from: &Host, to: IpAddr, timeout: Duration) -> Option<String> {
    from.in_ns(|| {
        let mut s = TcpStream::connect_timeout(&SocketAddr::new(to, PORT), timeout).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut out = String::new();
        s.read_to_string(&mut out).ok()?;
        Some(out.trim().to_string())
    })
    .expect("enter namespace")
}

fn ns_exists(name: &str) -> bool {
    std::path::Path::new("/run/netns").join(name).exists()
}

/// Hosts reach each other over IPv4 and IPv6, and each answers as itself.
#[test]
fn netns_hosts_reach_each_other() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b", "c"]).expect("build net");
    for h in net.hosts() {
        serve_name(h);
    }
    let (a, b, c) = (net.host("a"), net.host("b"), net.host("c"));
    assert_eq!(reach(a, b.ipv4().into()).as_deref(), Some("b"));
    assert_eq!(reach(a, c.ipv6().into()).as_deref(), Some("c"));
    assert_eq!(reach(c, a.ipv4().into()).as_deref(), Some("a"));
    // Each host really is a separate stack with the MAC the kit promises.
    let link = b.ip(&["link", "show", "eth0"]).expect("ip link");
    assert!(link.contains("02:13:00:00:00:0c"), "{link}");
}

/// Two networks at once use the same addresses without seeing each other.
#[test]
fn netns_parallel_nets_are_isolated() {
    if !require_netns() {
        return;
    }
    let one = Net::new(&["a", "b"]).expect("net one");
    let two = Net::new(&["x", "y"]).expect("net two");
    assert_ne!(one.id(), two.id());
    serve_name(one.host("b"));
    serve_name(two.host("y"));
    // Same address (10.213.0.12) in both: each client reaches its own network's host.
    assert_eq!(
        reach(one.host("a"), one.host("b").ipv4().into()).as_deref(),
        Some("b")
    );
    assert_eq!(
        reach(two.host("x"), two.host("y").ipv4().into()).as_deref(),
        Some("y")
    );
}

/// A cut host is unreachable and reaches nobody; reconnect restores it.
#[test]
fn netns_cut_and_reconnect() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b"]).expect("build net");
    serve_name(net.host("b"));
    let (a, b) = (net.host("a"), net.host("b"));
    assert_eq!(reach(a, b.ipv4().into()).as_deref(), Some("b"));
    net.cut("b").expect("cut");
    assert_eq!(ask(a, b.ipv4().into()), None);
    let link = b.ip(&["link", "show", "eth0"]).expect("ip link");
    assert!(
        link.contains("NO-CARRIER"),
        "b should see no carrier: {link}"
    );
    net.reconnect("b").expect("reconnect");
    assert_eq!(reach(a, b.ipv4().into()).as_deref(), Some("b"));
}

/// A partition splits the hosts into groups that only reach their own members; heal
/// joins them again.
#[test]
fn netns_partition_and_heal() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b", "c", "d"]).expect("build net");
    for h in net.hosts() {
        serve_name(h);
    }
    let h = |n| net.host(n);
    net.partition(&[&["a", "b"], &["c"]]).expect("partition");
    assert_eq!(reach(h("a"), h("b").ipv4().into()).as_deref(), Some("b"));
    assert_eq!(ask(h("a"), h("c").ipv4().into()), None);
    assert_eq!(ask(h("c"), h("d").ipv6().into()), None);
    assert_eq!(ask(h("b"), h("d").ipv4().into()), None);
    net.heal().expect("heal");
    assert_eq!(reach(h("a"), h("c").ipv4().into()).as_deref(), Some("c"));
    assert_eq!(reach(h("d"), h("b").ipv6().into()).as_deref(), Some("b"));
}

/// Loss (tc netem, or the nftables fallback on kernels without netem) cuts traffic at
/// 100% and clearing it restores traffic; where the kernel has netem, delay installs a
/// real netem qdisc on the host's link.
#[test]
fn netem_loss_and_delay_then_clear() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b"]).expect("build net");
    serve_name(net.host("b"));
    let (a, b) = (net.host("a"), net.host("b"));
    net.netem(
        "b",
        Netem {
            loss_percent: 100.0,
            ..Netem::default()
        },
    )
    .expect("netem loss");
    assert_eq!(ask(a, b.ipv4().into()), None);
    assert_eq!(ask(b, a.ipv6().into()), None);
    net.clear_netem("b");
    assert_eq!(reach(a, b.ipv4().into()).as_deref(), Some("b"));
    let delay = Netem {
        delay: Duration::from_millis(5),
        jitter: Duration::from_millis(1),
        loss_percent: 0.0,
    };
    if !netem_delay_available() {
        let err = net
            .netem("b", delay)
            .expect_err("delay without netem must fail");
        assert!(err.to_string().contains("sch_netem"), "{err}");
        let _ = writeln!(
            std::io::stderr(),
            "netem_loss_and_delay_then_clear: delay part skipped: kernel has no sch_netem"
        );
        return;
    }
    net.netem("b", delay).expect("netem delay");
    let qdisc = b.run("tc", &["qdisc", "show", "dev", "eth0"]).expect("tc");
    assert!(
        qdisc.contains("netem") && qdisc.contains("delay 5ms"),
        "{qdisc}"
    );
    assert_eq!(reach(a, b.ipv4().into()).as_deref(), Some("b"));
    net.heal().expect("heal");
    let qdisc = b.run("tc", &["qdisc", "show", "dev", "eth0"]).expect("tc");
    assert!(!qdisc.contains("netem"), "{qdisc}");
}

/// Killing a host's processes kills what runs there and nothing else.
#[test]
fn netns_kill_host_processes() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b"]).expect("build net");
    let mut sleeper_a = net
        .host("a")
        .spawn(net.host("a").command("sleep").arg("600"))
        .expect("spawn");
    let mut sleeper_b = net
        .host("b")
        .spawn(net.host("b").command("sleep").arg("600"))
        .expect("spawn");
    // `ip netns exec` execs the program, so the pid is the sleeper's once it runs.
    let pids = |h: &str| {
        let mut out = String::new();
        for _ in 0..100 {
            out = halo_testkit_pids(net.host(h).netns());
            if !out.trim().is_empty() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        out
    };
    assert!(pids("a").contains(&sleeper_a.id().to_string()));
    net.kill("a");
    let status = sleeper_a.child_mut().wait().expect("wait");
    assert!(
        !status.success(),
        "killed sleeper must not exit successfully"
    );
    assert!(sleeper_b.is_running(), "b's process must survive a's death");
}

fn halo_testkit_pids(ns: &str) -> String {
    let out = std::process::Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .expect("ip netns pids");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A Net is torn down when the test that owns it panics.
#[test]
fn netns_teardown_on_panic() {
    if !require_netns() {
        return;
    }
    let names = std::sync::Mutex::new(Vec::new());
    let result = std::panic::catch_unwind(|| {
        let net = Net::new(&["a", "b"]).expect("build net");
        let mut n = names.lock().unwrap_or_else(|e| e.into_inner());
        n.push(net.switch_netns().to_string());
        n.extend(net.hosts().iter().map(|h| h.netns().to_string()));
        drop(n);
        assert!(ns_exists(net.host("a").netns()));
        panic!("deliberate failure inside a test");
    });
    assert!(result.is_err());
    let names = names.into_inner().unwrap_or_else(|e| e.into_inner());
    assert_eq!(names.len(), 3);
    for n in names {
        assert!(!ns_exists(&n), "{n} left behind after a panic");
    }
}

/// Namespaces left by a dead test process are deleted; live ones are kept.
#[test]
fn netns_stale_leftovers_cleaned() {
    if !require_netns() {
        return;
    }
    // A pid that is certainly dead: a child we started and reaped.
    let mut child = std::process::Command::new("true").spawn().expect("spawn");
    let dead = child.id();
    child.wait().expect("wait");
    let stale = format!("halo-{dead}-0-leftover");
    let live = Net::new(&["a"]).expect("live net");
    let out = std::process::Command::new("ip")
        .args(["netns", "add", &stale])
        .output()
        .expect("ip netns add");
    assert!(out.status.success(), "{out:?}");
    let removed = cleanup_stale();
    assert!(removed.contains(&stale), "removed: {removed:?}");
    assert!(!ns_exists(&stale));
    assert!(
        ns_exists(live.host("a").netns()),
        "a live Net must survive cleanup"
    );
}
