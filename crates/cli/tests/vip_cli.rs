//! `halo vip add|del|show` run as a real process inside network namespaces
//! (halo-testkit). Needs root; skips visibly otherwise.

use std::{
    process::Output,
    time::{Duration, Instant},
};

use halo_testkit::netns::{require_netns, spare_v4, spare_v6, Host, Net};

fn halo(host: &Host, args: &[&str]) -> Output {
    host.command(env!("CARGO_BIN_EXE_halo"))
        .args(args)
        .output()
        .expect("run halo")
}

fn ok(host: &Host, args: &[&str]) -> String {
    let out = halo(host, args);
    assert!(
        out.status.success(),
        "halo {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn fails(host: &Host, args: &[&str]) -> String {
    let out = halo(host, args);
    assert_eq!(
        out.status.code(),
        Some(1),
        "halo {args:?} must fail: {out:?}"
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Polls the client's neighbour entry for `ip` until it shows `mac` (up to 2 s).
fn client_mac_becomes(client: &Host, ip: std::net::IpAddr, mac: [u8; 6]) -> Option<[u8; 6]> {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let seen = client.neighbour(ip).expect("neigh").and_then(|n| n.lladdr);
        if seen == Some(mac) || Instant::now() > deadline {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// add, show and del by hand; moving the address with the CLI moves the client too,
/// because `add` sends the same announcements as the agent's start.
#[test]
fn vip_cli_add_show_del_and_move() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a", "b", "client"]).expect("net");
    let (a, b, client) = (net.host("a"), net.host("b"), net.host("client"));
    let v4 = spare_v4(10);
    let v6 = spare_v6(10);

    let out = ok(
        a,
        &[
            "vip",
            "add",
            &format!("{v4}/24"),
            "--arp-count",
            "2",
            "--arp-interval",
            "20",
        ],
    );
    assert!(out.contains(&format!("added {v4}/24 on eth0")), "{out}");
    let out = ok(a, &["vip", "add", &v6.to_string(), "--arp-count", "1"]);
    assert!(out.contains(&format!("added {v6}/64 on eth0")), "{out}");
    let out = ok(a, &["vip", "add", &format!("{v4}/24")]);
    assert!(out.contains("already held"), "idempotent add: {out}");

    let table = ok(a, &["vip", "show"]);
    assert!(
        table.contains(&format!("{v4}/24")) && table.contains(&format!("{v6}/64")),
        "{table}"
    );
    assert!(table.contains("eth0") && table.contains("up"), "{table}");
    let json: serde_json::Value =
        serde_json::from_str(&ok(a, &["vip", "show", "--json"])).expect("JSON");
    let rows = json.as_array().expect("array");
    assert_eq!(rows.len(), 2, "{json}");
    assert!(rows
        .iter()
        .any(|r| r["address"] == v4.to_string() && r["prefix"] == 24));

    // The client learns a's MAC for the VIP (a ping-like exchange: a TCP connect, which
    // a answers with a reset since nothing listens there).
    client
        .in_ns(|| std::net::TcpStream::connect_timeout(&(v4, 9).into(), Duration::from_secs(2)))
        .expect("enter namespace")
        .expect_err("nothing listens on port 9");
    assert_eq!(
        client
            .neighbour(v4.into())
            .expect("neigh")
            .and_then(|n| n.lladdr),
        Some(a.mac())
    );

    let out = ok(a, &["vip", "del", &format!("{v4}/24")]);
    assert!(out.contains(&format!("removed {v4}")), "{out}");
    let out = ok(a, &["vip", "del", &v4.to_string()]);
    assert!(out.contains("nothing to remove"), "idempotent del: {out}");
    ok(b, &["vip", "add", &v4.to_string(), "--nic", "eth0"]);
    assert_eq!(
        client_mac_becomes(client, v4.into(), b.mac()),
        Some(b.mac())
    );

    ok(a, &["vip", "del", &v6.to_string()]);
    let out = ok(a, &["vip", "show"]);
    assert!(out.contains("no virtual IPs"), "{out}");
}

/// Refusals: the node's own address (add and del), an address in no local subnet, an
/// invalid prefix, an unknown interface. Each exits 1 with a message naming the cause,
/// and the node's address stays.
#[test]
fn vip_cli_refusals() {
    if !require_netns() {
        return;
    }
    let net = Net::new(&["a"]).expect("net");
    let a = net.host("a");
    let own = a.ipv4().to_string();

    let err = fails(a, &["vip", "add", &own]);
    assert!(
        err.contains("HALO-E520") && err.contains("did not add"),
        "{err}"
    );
    let err = fails(a, &["vip", "del", &format!("{own}/24")]);
    assert!(err.contains("refusing to remove"), "{err}");
    let addrs = a.ip(&["-o", "address", "show", "dev", "eth0"]).expect("ip");
    assert!(
        addrs.contains(&format!("{own}/24")),
        "own address must stay: {addrs}"
    );

    let err = fails(a, &["vip", "add", "10.214.0.5"]);
    assert!(
        err.contains("HALO-E510") && err.contains("10.213.0.0/24 dev eth0"),
        "{err}"
    );
    let err = fails(a, &["vip", "add", "10.213.0.210/33"]);
    assert!(err.contains("cidr_netmask=\"33\""), "{err}");
    let err = fails(a, &["vip", "add", "10.213.0.210/24", "--nic", "eth7"]);
    assert!(err.contains("nic=eth7"), "{err}");
    let err = fails(a, &["vip", "add", "not-an-ip"]);
    assert!(err.contains("parameter ip="), "{err}");
}
