//! Virtual-IP benchmarks in network namespaces (root only), from the client's view:
//! a client in its own namespace starts a new connection to the VIP every
//! 0.2 ms (every 2 ms for keepalived) and the clock stops at the first answer from the
//! new holder.
//!
//! Usage: `cargo bench -p halo-vip --bench failover -- MODE [ITERATIONS]`
//!
//! - `halo`: the VIP moves A → B: stop on A, then the clock runs from the call of
//!   `start` on B (halo:vip, in-process, as the daemon will call it) until the client
//!   is answered by B. Also reports how long `start` itself took.
//! - `halo-fresh`: nobody held the VIP and the client has no neighbour entry: from
//!   `start` on A until the client is answered (ARP resolution instead of GARP).
//! - `ipaddr2`: the same move with `ocf:heartbeat:IPaddr2` (resource-agents) run as
//!   Pacemaker runs it, through `ip netns exec` (its overhead is measured and printed).
//! - `keepalived`: Debian's keepalived, VRRP with `advert_int 1`, A master (priority
//!   150), B backup (100). A "dies" (its switch port goes down and its keepalived is
//!   SIGKILLed); the clock runs until the client is answered by B.
//! - `all`: halo, halo-fresh, ipaddr2, keepalived.

use std::{
    io::Write,
    net::{IpAddr, SocketAddr, TcpListener},
    path::PathBuf,
    process::Stdio,
    sync::{Arc, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use tokio::io::AsyncReadExt;

use halo_testkit::netns::{require_netns, Host, Net, NetError, NsRuntime, Proc};
use halo_vip::{OcfRc, Vip};

const PORT: u16 = 7300;
const VIP: &str = "10.213.0.230";
const IPADDR2: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";

fn main() {
    // `cargo test --all-targets` runs bench targets without `--bench`: do nothing then
    // (this benchmark takes a minute and wants a quiet machine).
    if !std::env::args().any(|a| a == "--bench") {
        println!("failover benchmark: run it with `cargo bench -p halo-vip --bench failover`");
        return;
    }
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let mode = args
        .first()
        .map(String::as_str)
        .unwrap_or("all")
        .to_string();
    let iterations: Option<usize> = args.get(1).and_then(|s| s.parse().ok());
    if !require_netns() {
        return;
    }
    let run = |m: &str| match m {
        "halo" => bench_halo(iterations.unwrap_or(30)),
        "halo-fresh" => bench_halo_fresh(iterations.unwrap_or(30)),
        "ipaddr2" => bench_ipaddr2(iterations.unwrap_or(15)),
        "keepalived" => bench_keepalived(iterations.unwrap_or(5)),
        other => {
            eprintln!("unknown mode {other:?}: use halo, halo-fresh, ipaddr2, keepalived or all");
            std::process::exit(2);
        }
    };
    if mode == "all" {
        for m in ["halo", "halo-fresh", "ipaddr2", "keepalived"] {
            run(m);
        }
    } else {
        run(&mode);
    }
}

fn must<T>(r: Result<T, NetError>, what: &str) -> T {
    match r {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bench set-up failed: {what}: {e}");
            std::process::exit(1);
        }
    }
}

fn vip_ip() -> IpAddr {
    VIP.parse().unwrap_or(IpAddr::from([10, 213, 0, 230]))
}

/// The lab: nodes a and b serving their own names on PORT, and a client.
fn lab() -> Net {
    let net = must(Net::new(&["a", "b", "client"]), "build network");
    for name in ["a", "b"] {
        let h = net.host(name);
        must(h.sysctl("net.ipv4.conf.all.arp_notify", "0"), "sysctl");
        let listener = must(h.in_ns(|| TcpListener::bind(("::", PORT))), "enter ns");
        let listener = match listener {
            Ok(l) => l,
            Err(e) => {
                eprintln!("bind: {e}");
                std::process::exit(1);
            }
        };
        let name = name.to_string();
        std::thread::spawn(move || {
            for mut s in listener.incoming().flatten() {
                let _ = s.write_all(format!("{name}\n").as_bytes());
            }
        });
    }
    net
}

/// From `client`, starts a connection to the VIP every `every` (each with its own
/// 100 ms timeout, so a lost SYN does not hold the next one up) until one is answered
/// by `want` or `give_up` passes; the instant of that answer. The clock's resolution
/// is `every`.
fn probe_every(
    client: &Host,
    want: &'static str,
    give_up: Duration,
    every: Duration,
) -> JoinHandle<Option<Instant>> {
    let addr = SocketAddr::new(vip_ip(), PORT);
    let h = client.spawn_in_ns(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .ok()?;
        let found: Arc<Mutex<Option<Instant>>> = Arc::new(Mutex::new(None));
        let deadline = Instant::now() + give_up;
        while Instant::now() < deadline {
            if let Ok(f) = found.lock() {
                if f.is_some() {
                    break;
                }
            }
            let found = found.clone();
            rt.spawn(async move {
                let attempt = async {
                    let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
                    let mut name = String::new();
                    s.read_to_string(&mut name).await.ok()?;
                    (name.trim() == want).then(Instant::now)
                };
                if let Ok(Some(t)) = tokio::time::timeout(Duration::from_millis(100), attempt).await
                {
                    if let Ok(mut f) = found.lock() {
                        if f.is_none_or(|old| t < old) {
                            *f = Some(t);
                        }
                    }
                }
            });
            std::thread::sleep(every);
        }
        // Attempts still in flight may have started before the winner.
        std::thread::sleep(Duration::from_millis(5));
        rt.shutdown_timeout(Duration::from_millis(200));
        let f = found.lock().ok()?;
        *f
    });
    std::thread::spawn(move || h.join().ok().and_then(|r| r.ok()).flatten())
}

fn probe(client: &Host, want: &'static str, give_up: Duration) -> JoinHandle<Option<Instant>> {
    probe_every(client, want, give_up, Duration::from_micros(200))
}

fn wait_answer(client: &Host, want: &'static str, give_up: Duration) -> bool {
    probe(client, want, give_up).join().ok().flatten().is_some()
}

struct Stats {
    name: String,
    ms: Vec<f64>,
}

impl Stats {
    fn new(name: &str) -> Stats {
        Stats {
            name: name.to_string(),
            ms: Vec::new(),
        }
    }
    fn push(&mut self, d: Duration) {
        self.ms.push(d.as_secs_f64() * 1000.0);
    }
    fn report(&mut self) -> f64 {
        if self.ms.is_empty() {
            println!("{:<64} no samples", self.name);
            return f64::NAN;
        }
        self.ms.sort_by(f64::total_cmp);
        let q = |p: f64| self.ms[((self.ms.len() - 1) as f64 * p).round() as usize];
        println!(
            "{:<64} n={:<3} median {:>9.3} ms  p90 {:>9.3} ms  min {:>9.3}  max {:>9.3}",
            self.name,
            self.ms.len(),
            q(0.5),
            q(0.9),
            self.ms[0],
            self.ms[self.ms.len() - 1]
        );
        q(0.5)
    }
}

fn halo_op(rt: &NsRuntime, vip: &Vip, op: &'static str) -> OcfRc {
    let v = vip.clone();
    let r = rt.run(async move {
        match op {
            "start" => v.start().await,
            _ => v.stop().await,
        }
    });
    if r.rc != OcfRc::Success {
        eprintln!("halo:vip {op}: {r:?}");
    }
    r.rc
}

fn bench_halo(n: usize) {
    let net = lab();
    let (client, rt_a, rt_b) = (
        net.host("client"),
        must(net.host("a").runtime(), "runtime a"),
        must(net.host("b").runtime(), "runtime b"),
    );
    let vip = match Vip::from_params(&[("ip".to_string(), VIP.to_string())].into()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let mut answer = Stats::new("halo:vip move A->B: start on B -> client answered by B");
    let mut call = Stats::new("halo:vip move A->B: start call returns");
    for _ in 0..n {
        halo_op(&rt_a, &vip, "start");
        if !wait_answer(client, "a", Duration::from_secs(5)) {
            eprintln!("client never reached a");
            continue;
        }
        halo_op(&rt_a, &vip, "stop");
        let p = probe(client, "b", Duration::from_secs(10));
        let t0 = Instant::now();
        let rc = halo_op(&rt_b, &vip, "start");
        call.push(t0.elapsed());
        match p.join().ok().flatten() {
            Some(t) if rc == OcfRc::Success => answer.push(t - t0),
            _ => eprintln!("client never reached b"),
        }
        halo_op(&rt_b, &vip, "stop");
    }
    answer.report();
    call.report();
}

fn bench_halo_fresh(n: usize) {
    let net = lab();
    let (a, client) = (net.host("a"), net.host("client"));
    let rt_a = must(a.runtime(), "runtime a");
    let vip = match Vip::from_params(&[("ip".to_string(), VIP.to_string())].into()) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return;
        }
    };
    let mut answer = Stats::new("halo:vip fresh start on A -> client answered");
    for _ in 0..n {
        let _ = client.ip(&["neigh", "flush", "dev", "eth0"]);
        let p = probe(client, "a", Duration::from_secs(10));
        let t0 = Instant::now();
        let rc = halo_op(&rt_a, &vip, "start");
        match p.join().ok().flatten() {
            Some(t) if rc == OcfRc::Success => answer.push(t - t0),
            _ => eprintln!("client never reached a"),
        }
        halo_op(&rt_a, &vip, "stop");
        // Let the client's failed resolution attempts die down before the next round.
        std::thread::sleep(Duration::from_millis(50));
    }
    answer.report();
}

fn scratch_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("halo-bench-{}-{name}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

fn ipaddr2(host: &Host, action: &str, rsctmp: &std::path::Path) -> bool {
    let out = host
        .command(IPADDR2)
        .arg(action)
        .env("OCF_ROOT", "/usr/lib/ocf")
        .env("OCF_RESOURCE_INSTANCE", "vip")
        .env("OCF_RESKEY_ip", VIP)
        .env("HA_RSCTMP", rsctmp)
        .stdin(Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            eprintln!(
                "IPaddr2 {action} on {}: {} {}",
                host.name(),
                o.status,
                String::from_utf8_lossy(&o.stderr).trim()
            );
            false
        }
        Err(e) => {
            eprintln!("IPaddr2: {e}");
            false
        }
    }
}

fn bench_ipaddr2(n: usize) {
    if !std::path::Path::new(IPADDR2).exists() {
        println!("ipaddr2: skipped: {IPADDR2} missing (Debian package resource-agents)");
        return;
    }
    let net = lab();
    let (a, b, client) = (net.host("a"), net.host("b"), net.host("client"));
    let (tmp_a, tmp_b) = (scratch_dir("a"), scratch_dir("b"));
    let mut exec = Stats::new("`ip netns exec NS true` (overhead in the IPaddr2 rows)");
    for _ in 0..10 {
        let t0 = Instant::now();
        let _ = a.run("true", &[]);
        exec.push(t0.elapsed());
    }
    let mut answer = Stats::new("IPaddr2 move A->B: start on B -> client answered by B");
    let mut call = Stats::new("IPaddr2 move A->B: start returns");
    for _ in 0..n {
        ipaddr2(a, "start", &tmp_a);
        if !wait_answer(client, "a", Duration::from_secs(5)) {
            eprintln!("client never reached a");
            continue;
        }
        ipaddr2(a, "stop", &tmp_a);
        let p = probe(client, "b", Duration::from_secs(10));
        let t0 = Instant::now();
        let ok = ipaddr2(b, "start", &tmp_b);
        call.push(t0.elapsed());
        match p.join().ok().flatten() {
            Some(t) if ok => answer.push(t - t0),
            _ => eprintln!("client never reached b"),
        }
        ipaddr2(b, "stop", &tmp_b);
    }
    answer.report();
    call.report();
    exec.report();
    let _ = std::fs::remove_dir_all(tmp_a);
    let _ = std::fs::remove_dir_all(tmp_b);
}

fn keepalived_conf(dir: &std::path::Path, node: &str, priority: u8) -> PathBuf {
    let path = dir.join(format!("keepalived-{node}.conf"));
    let conf = format!(
        "global_defs {{\n  router_id halo_bench_{node}\n}}\n\
         vrrp_instance VI_1 {{\n  state BACKUP\n  interface eth0\n  virtual_router_id 51\n  \
         priority {priority}\n  advert_int 1\n  virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n"
    );
    if let Err(e) = std::fs::write(&path, conf) {
        eprintln!("write {}: {e}", path.display());
        std::process::exit(1);
    }
    path
}

fn keepalived(host: &Host, dir: &std::path::Path, conf: &std::path::Path) -> Option<Proc> {
    let name = host.name();
    let log = std::fs::File::create(dir.join(format!("keepalived-{name}.log"))).ok()?;
    let mut cmd = host.command("keepalived");
    cmd.args([
        "--dont-fork",
        "--log-console",
        "--log-detail",
        "--no-syslog",
        "--vrrp",
    ])
    .arg("--use-file")
    .arg(conf)
    .arg("--pid")
    .arg(dir.join(format!("ka-{name}.pid")))
    .arg("--vrrp_pid")
    .arg(dir.join(format!("ka-{name}-vrrp.pid")))
    .arg("--checkers_pid")
    .arg(dir.join(format!("ka-{name}-checkers.pid")))
    .stdin(Stdio::null())
    .stdout(log.try_clone().ok()?)
    .stderr(log);
    match host.spawn(&mut cmd) {
        Ok(p) => Some(p),
        Err(e) => {
            eprintln!("keepalived on {name}: {e}");
            None
        }
    }
}

fn bench_keepalived(n: usize) {
    if std::process::Command::new("keepalived")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_err()
    {
        println!("keepalived: skipped: keepalived is not installed (Debian package keepalived)");
        return;
    }
    let net = lab();
    let (a, b, client) = (net.host("a"), net.host("b"), net.host("client"));
    let dir = scratch_dir("keepalived");
    let conf_a = keepalived_conf(&dir, "a", 150);
    let conf_b = keepalived_conf(&dir, "b", 100);
    let Some(_ka_b) = keepalived(b, &dir, &conf_b) else {
        return;
    };
    let mut answer = Stats::new("keepalived VRRP (advert_int 1): A dies -> client answered by B");
    for i in 0..n {
        let Some(mut ka_a) = keepalived(a, &dir, &conf_a) else {
            return;
        };
        if !wait_answer(client, "a", Duration::from_secs(20)) {
            eprintln!("round {i}: a never became master; see {}", dir.display());
            return;
        }
        // Let b settle as backup (it has heard a's advertisements).
        std::thread::sleep(Duration::from_secs(2));
        let p = probe_every(
            client,
            "b",
            Duration::from_secs(30),
            Duration::from_millis(2),
        );
        let t0 = Instant::now();
        must(net.cut("a"), "cut a");
        ka_a.kill();
        match p.join().ok().flatten() {
            Some(t) => answer.push(t - t0),
            None => eprintln!("round {i}: client never reached b"),
        }
        // a comes back as after a reboot: without the VIP, keepalived restarted.
        let _ = a.ip(&["address", "del", &format!("{VIP}/24"), "dev", "eth0"]);
        must(net.reconnect("a"), "reconnect a");
    }
    answer.report();
    let _ = std::fs::remove_dir_all(dir);
}
