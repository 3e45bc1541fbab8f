//! Failover from the client's view, in network namespaces (root only): halo against
//! keepalived and Pacemaker + Corosync on the same machine, round after round.
//!
//! Every node runs a tiny HTTP server on 0.0.0.0 (this binary re-executed with
//! `HALO_FAILOVER_SERVE=NODE`, answering its node's name). A client in its own namespace
//! starts a request to `http://VIP:PORT/` every 10 ms (connect timeout 50 ms); the VIP
//! holder "dies" and the clock runs from the fault until the first answer from a node
//! other than the dead one. Kinds of death:
//!
//! - `link-cut`: the holder's switch port goes down (its cable is pulled);
//! - `daemon-sigkill`: SIGKILL of the holder's cluster daemon (halo: `halo daemon`;
//!   keepalived: all its processes; Pacemaker: `corosync`, or `pacemaker-controld`
//!   with `PCMK_DAEMON=controld`);
//! - `daemon-sigstop`: SIGSTOP of the same process(es);
//! - `node-killed`: every process of the holder's namespace SIGKILLed (`Net::kill`).
//!
//! `monitor`: the time from a monitor failure to the resource running again: an
//! `ocf:heartbeat:Dummy` with a 1 s monitor has its state file deleted; the clock runs
//! until the file exists again (halo and Pacemaker; keepalived has no resources).
//!
//! An observer reads every node's addresses (getifaddrs inside each namespace) every
//! 2 ms: a round counts in `two_holders` when, from the fault until the cluster is whole
//! again, two nodes held the VIP at once; `answered_by_two` counts rounds in which, in the
//! 300 ms after the first answer from the new holder, another node answered too.
//!
//! halo: three `halo daemon`s (`--watchdog FIFO --watchdog-timeout 1s`), `halo cluster
//! init/token/join`, `halo config apply` with a `halo:vip` and the Dummy. This machine has
//! no /dev/watchdog: the bench plays the device, as `tests/controller_netns.rs` does — a
//! node whose daemon stops feeding its FIFO for 1 s has all its processes SIGKILLed and
//! its HA_RSCTMP wiped (a reset), and is then booted again (daemon and HTTP server).
//! keepalived: two nodes, VRRP `advert_int 1`, both priority 100 with `nopreempt` (the
//! survivor keeps the VIP after the dead node is back, so the next round kills it).
//! Pacemaker 2.1 + Corosync 3 (knet, `token: 1000`): three nodes, each in its own network,
//! mount, UTS and PID namespace with its own /etc/corosync, /var/lib/corosync,
//! /var/lib/pacemaker, /var/log/pacemaker, /run and /dev/shm; `stonith-enabled=false`, an
//! `ocf:heartbeat:IPaddr2` VIP and the Dummy, both with a 1 s monitor. Nodes that died
//! other than by a link cut are rebooted (processes killed, VIP address removed, fresh
//! /run, daemons started again).
//!
//! halo and Pacemaker have a DC: their rounds alternate between a holder that is the DC
//! and one that is not (the VIP is moved there first by a location constraint, dropped
//! again before the fault; stickiness keeps it), and the table splits the times by that.
//! Before each fault the cluster has been stable for a random 0.5 to 1.5 s, so that
//! faults fall at random points of heartbeat and advertisement periods.
//!
//! Usage: `cargo bench -p halo-cli --bench failover -- [ROUNDS]` (`bench/failover [ROUNDS]`
//! builds halo and installs the Debian packages first). ROUNDS (default 10) rounds of
//! each kind for halo; keepalived and Pacemaker run `CMP_ROUNDS` (default ROUNDS / 2,
//! rounded up) of each kind of death, to keep a whole run near ten minutes, and
//! Pacemaker ROUNDS monitor rounds (they are quick). Environment:
//! `FAILOVER_TOOLS=halo,keepalived,pacemaker`, `FAILOVER_KINDS=link-cut,daemon-sigkill,
//! daemon-sigstop,node-killed,monitor`, `HALO_FAILURE_TIMEOUT=2s` (`halo cluster init
//! --failure-timeout`), `PCMK_DAEMON=corosync|controld`, `FAILOVER_PLACE=natural` (no
//! DC/not-DC alternation), `HALO_BIN`, `FAILOVER_KEEP=1` (keep the scratch directories
//! with every log).
//!
//! The last lines are halo's: `vip_failover_ms kind=KIND median=M max=X` per kind and
//! `monitor_recovery_ms median=M max=X`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use halo_testkit::netns::{has_ipv4, require_netns, Host, Net, Proc};
use halo_testkit::watchdog::FifoWatchdog;

/// The virtual IP every tool moves around.
const VIP: Ipv4Addr = Ipv4Addr::new(10, 213, 0, 201);
/// The HTTP port of every node's server.
const PORT: u16 = 8213;
/// Set in the environment of this binary when it runs as a node's HTTP server.
const SERVE_ENV: &str = "HALO_FAILOVER_SERVE";
const PROBE_EVERY: Duration = Duration::from_millis(10);
const CONNECT_TIMEOUT: Duration = Duration::from_millis(50);
/// How long the client keeps probing after the first answer from the new holder.
const GRACE: Duration = Duration::from_millis(300);
/// The most a failover may take before the round counts as failed.
const FAULT_DEADLINE: Duration = Duration::from_secs(40);
/// The most the cluster may take to be whole again after a round.
const HEAL_DEADLINE: Duration = Duration::from_secs(120);
/// The emulated watchdog's timeout (the daemons are told the same).
const WATCHDOG: Duration = Duration::from_millis(1000);
const DUMMY: &str = "/usr/lib/ocf/resource.d/heartbeat/Dummy";
const IPADDR2: &str = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2";

type Res<T> = Result<T, String>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    LinkCut,
    DaemonKill,
    DaemonStop,
    NodeKilled,
}

const KINDS: [Kind; 4] = [
    Kind::LinkCut,
    Kind::DaemonKill,
    Kind::DaemonStop,
    Kind::NodeKilled,
];

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::LinkCut => "link-cut",
            Kind::DaemonKill => "daemon-sigkill",
            Kind::DaemonStop => "daemon-sigstop",
            Kind::NodeKilled => "node-killed",
        }
    }
}

fn main() {
    if let Ok(name) = std::env::var(SERVE_ENV) {
        serve(&name);
    }
    // `cargo test --all-targets` runs bench targets without `--bench`: do nothing then
    // (this benchmark takes minutes and wants a quiet machine).
    if !std::env::args().any(|a| a == "--bench") {
        println!("failover benchmark: run it with bench/failover [ROUNDS]");
        return;
    }
    let rounds: usize = std::env::args()
        .skip(1)
        .find(|a| !a.starts_with("--"))
        .and_then(|a| a.parse().ok())
        .unwrap_or(10)
        .max(1);
    let tools = list_env("FAILOVER_TOOLS", "halo,keepalived,pacemaker");
    let kind_names = list_env(
        "FAILOVER_KINDS",
        "link-cut,daemon-sigkill,daemon-sigstop,node-killed,monitor",
    );
    let kinds: Vec<Kind> = KINDS
        .into_iter()
        .filter(|k| kind_names.iter().any(|n| n == k.name()))
        .collect();
    let monitor = kind_names.iter().any(|n| n == "monitor");
    if !require_netns() {
        return;
    }
    // The comparisons run half as many rounds by default, to keep a whole run near ten
    // minutes (each of their rounds takes 5 to 10 s).
    let cmp_rounds = std::env::var("CMP_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(rounds.div_ceil(2))
        .max(1);
    let mut results = Results::default();
    let t0 = Instant::now();
    println!(
        "failover bench: {rounds} round(s) per kind for halo; {cmp_rounds} per kind of death \
         for keepalived and Pacemaker (CMP_ROUNDS){}; tools {}; kinds {}",
        if monitor {
            format!(", {rounds} monitor rounds for Pacemaker")
        } else {
            String::new()
        },
        tools.join(","),
        kind_names.join(",")
    );
    if tools.iter().any(|t| t == "halo") {
        let t = Instant::now();
        if let Err(e) = halo::run(rounds, &kinds, monitor, &mut results) {
            println!("halo: FAILED: {e}");
            results.notes.push(format!("halo: {e}"));
        }
        println!("halo phase took {:.0} s", t.elapsed().as_secs_f64());
    }
    if tools.iter().any(|t| t == "keepalived") {
        let t = Instant::now();
        if let Err(e) = keepalived::run(cmp_rounds, &kinds, &mut results) {
            println!("keepalived: FAILED: {e}");
            results.notes.push(format!("keepalived: {e}"));
        }
        println!("keepalived phase took {:.0} s", t.elapsed().as_secs_f64());
    }
    if tools.iter().any(|t| t == "pacemaker") {
        let t = Instant::now();
        // Monitor rounds are quick: as many as halo's.
        let monitor_rounds = if monitor { rounds } else { 0 };
        if let Err(e) = pacemaker::run(cmp_rounds, monitor_rounds, &kinds, &mut results) {
            println!("pacemaker: FAILED: {e}");
            results.notes.push(format!("pacemaker: {e}"));
        }
        println!("pacemaker phase took {:.0} s", t.elapsed().as_secs_f64());
    }
    results.report(&kinds, monitor, t0.elapsed());
}

fn list_env(key: &str, default: &str) -> Vec<String> {
    std::env::var(key)
        .unwrap_or_else(|_| default.to_string())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

// ---------------------------------------------------------------------------------------
// Results

#[derive(Default)]
struct Series {
    ms: Vec<f64>,
    /// The same samples split by whether the dead holder was the DC (halo, Pacemaker).
    dc_ms: Vec<f64>,
    other_ms: Vec<f64>,
    failed: usize,
    two_holders: usize,
    answered_by_two: usize,
}

fn median_of(v: &[f64]) -> Option<f64> {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => None,
        n if n % 2 == 1 => Some(v[n / 2]),
        n => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

impl Series {
    fn sorted(&self) -> Vec<f64> {
        let mut v = self.ms.clone();
        v.sort_by(f64::total_cmp);
        v
    }
    fn median(&self) -> Option<f64> {
        median_of(&self.ms)
    }
    fn push(&mut self, d: Duration, was_dc: Option<bool>) -> f64 {
        let ms = d.as_secs_f64() * 1000.0;
        self.ms.push(ms);
        match was_dc {
            Some(true) => self.dc_ms.push(ms),
            Some(false) => self.other_ms.push(ms),
            None => {}
        }
        ms
    }
    fn max(&self) -> Option<f64> {
        self.sorted().last().copied()
    }
    fn min(&self) -> Option<f64> {
        self.sorted().first().copied()
    }
    fn p90(&self) -> Option<f64> {
        let v = self.sorted();
        (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * 0.9).round() as usize])
    }
}

#[derive(Default)]
struct Results {
    /// (tool, kind) -> series; kind is a `Kind::name()` or "monitor".
    series: BTreeMap<(String, String), Series>,
    /// Settings and observations printed with the table.
    notes: Vec<String>,
}

impl Results {
    fn get(&mut self, tool: &str, kind: &str) -> &mut Series {
        self.series
            .entry((tool.to_string(), kind.to_string()))
            .or_default()
    }

    fn report(&self, kinds: &[Kind], monitor: bool, took: Duration) {
        let f = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0}"));
        println!();
        println!("== results (ms from the fault to the first answer from another node; monitor: from the deleted state file to the file again) ==");
        println!(
            "{:<11} {:<15} {:>3} {:>7} {:>7} {:>7} {:>7} {:>6} {:>11} {:>15}",
            "tool",
            "kind",
            "n",
            "min",
            "median",
            "p90",
            "max",
            "failed",
            "two_holders",
            "answered_by_two"
        );
        let mut names: Vec<String> = kinds.iter().map(|k| k.name().to_string()).collect();
        if monitor {
            names.push("monitor".into());
        }
        for tool in ["halo", "keepalived", "pacemaker"] {
            for kind in &names {
                let Some(s) = self.series.get(&(tool.to_string(), kind.clone())) else {
                    continue;
                };
                println!(
                    "{:<11} {:<15} {:>3} {:>7} {:>7} {:>7} {:>7} {:>6} {:>11} {:>15}",
                    tool,
                    kind,
                    s.ms.len(),
                    f(s.min()),
                    f(s.median()),
                    f(s.p90()),
                    f(s.max()),
                    s.failed,
                    s.two_holders,
                    s.answered_by_two
                );
            }
        }
        println!();
        println!("== by the dead holder's role (median ms, rounds) ==");
        for ((tool, kind), s) in &self.series {
            if s.dc_ms.is_empty() && s.other_ms.is_empty() {
                continue;
            }
            println!(
                "{tool:<11} {kind:<15} holder was the DC: {:>6} (n={:<2})  holder was not the DC: {:>6} (n={})",
                f(median_of(&s.dc_ms)),
                s.dc_ms.len(),
                f(median_of(&s.other_ms)),
                s.other_ms.len()
            );
        }
        println!();
        for n in &self.notes {
            println!("note: {n}");
        }
        println!();
        println!("== ratios of medians (below 1: halo is faster) ==");
        for kind in &names {
            let med = |tool: &str| {
                self.series
                    .get(&(tool.to_string(), kind.clone()))
                    .and_then(Series::median)
            };
            let ratio = |other: &str| match (med("halo"), med(other)) {
                (Some(h), Some(o)) if o > 0.0 => format!("{:.2}", h / o),
                _ => "n/a".to_string(),
            };
            println!(
                "ratio kind={kind} halo/keepalived={} halo/pacemaker={}",
                ratio("keepalived"),
                ratio("pacemaker")
            );
        }
        println!();
        for tool in ["halo", "keepalived", "pacemaker"] {
            let of_tool: Vec<(&String, &Series)> = self
                .series
                .iter()
                .filter(|((t, k), _)| t == tool && k != "monitor")
                .map(|((_, k), s)| (k, s))
                .collect();
            if of_tool.is_empty() {
                continue;
            }
            let total: usize = of_tool.iter().map(|(_, s)| s.two_holders).sum();
            let answered: usize = of_tool.iter().map(|(_, s)| s.answered_by_two).sum();
            let per: Vec<String> = of_tool
                .iter()
                .map(|(k, s)| format!("{k}={}", s.two_holders))
                .collect();
            println!(
                "two_holders tool={tool} two_holders={total} answered_by_two={answered} ({})",
                per.join(" ")
            );
        }
        println!("total time {:.0} s", took.as_secs_f64());
        for kind in kinds {
            if let Some(s) = self
                .series
                .get(&("halo".to_string(), kind.name().to_string()))
            {
                println!(
                    "vip_failover_ms kind={} median={} max={}",
                    kind.name(),
                    f(s.median()),
                    f(s.max())
                );
            }
        }
        if monitor {
            if let Some(s) = self
                .series
                .get(&("halo".to_string(), "monitor".to_string()))
            {
                println!(
                    "monitor_recovery_ms median={} max={}",
                    f(s.median()),
                    f(s.max())
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The service, the client and the observer

/// A node's HTTP server: answers every request with the node's name.
fn serve(name: &str) -> ! {
    let listener = match TcpListener::bind((Ipv4Addr::UNSPECIFIED, PORT)) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("serve {name}: bind 0.0.0.0:{PORT}: {e}");
            std::process::exit(1);
        }
    };
    let body = format!("{name}\n");
    let answer = format!(
        "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    for mut s in listener.incoming().flatten() {
        let answer = answer.clone();
        std::thread::spawn(move || {
            let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
            let mut req = Vec::new();
            let mut buf = [0u8; 1024];
            while !req.windows(4).any(|w| w == b"\r\n\r\n") && req.len() < 8192 {
                match s.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => req.extend_from_slice(&buf[..n]),
                }
            }
            let _ = s.write_all(answer.as_bytes());
        });
    }
    std::process::exit(1);
}

/// Starts `host`'s HTTP server; waits until it accepts connections.
fn start_server(host: &Host, log_dir: &Path) -> Res<Proc> {
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_dir.join(format!("http-{}.log", host.name())))
        .map_err(|e| format!("server log: {e}"))?;
    let mut cmd = host.command(exe);
    cmd.env(SERVE_ENV, host.name())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    let proc = host.spawn(&mut cmd).map_err(|e| e.to_string())?;
    let addr = SocketAddr::from((host.ipv4(), PORT));
    let up = host
        .in_ns(|| {
            poll(Duration::from_secs(10), Duration::from_millis(10), || {
                TcpStream::connect_timeout(&addr, CONNECT_TIMEOUT)
                    .ok()
                    .map(|_| ())
            })
        })
        .map_err(|e| e.to_string())?;
    up.ok_or_else(|| format!("the HTTP server of {} did not start", host.name()))?;
    Ok(proc)
}

/// A random duration from `lo_ms` to `hi_ms`.
fn random_between(lo_ms: u64, hi_ms: u64) -> Duration {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    Duration::from_millis(lo_ms + h.finish() % (hi_ms - lo_ms + 1))
}

/// Polls `f` every `every` until it returns `Some` or `deadline` passes.
fn poll<T>(deadline: Duration, every: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + deadline;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(every);
    }
}

/// One request to the VIP; the name of the node that answered.
fn ask() -> Option<String> {
    let mut s = TcpStream::connect_timeout(&SocketAddr::from((VIP, PORT)), CONNECT_TIMEOUT).ok()?;
    s.set_read_timeout(Some(Duration::from_millis(500))).ok()?;
    s.set_write_timeout(Some(Duration::from_millis(500))).ok()?;
    s.write_all(b"GET / HTTP/1.0\r\nHost: vip\r\n\r\n").ok()?;
    let mut text = String::new();
    s.read_to_string(&mut text).ok()?;
    if !text.starts_with("HTTP/1.0 200") {
        return None;
    }
    let (_, body) = text.split_once("\r\n\r\n")?;
    Some(body.trim().to_string())
}

/// The client: a request to the VIP every 10 ms, from its own namespace, each on its
/// own thread; every answer is logged with its instant.
struct Probe {
    answers: Arc<Mutex<Vec<(Instant, String)>>>,
    stop: Arc<AtomicBool>,
}

impl Probe {
    fn start(client: &Host) -> Probe {
        let answers: Arc<Mutex<Vec<(Instant, String)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (a, s) = (answers.clone(), stop.clone());
        drop(client.spawn_in_ns(move || {
            while !s.load(Ordering::SeqCst) {
                let a = a.clone();
                // Threads made here inherit this thread's network namespace.
                std::thread::spawn(move || {
                    if let Some(name) = ask() {
                        let t = Instant::now();
                        a.lock().unwrap_or_else(|e| e.into_inner()).push((t, name));
                    }
                });
                std::thread::sleep(PROBE_EVERY);
            }
        }));
        Probe { answers, stop }
    }

    /// Forgets the answers so far.
    fn clear(&self) {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    /// The earliest answer at or after `since` from a node `pred` accepts.
    fn first(&self, since: Instant, pred: impl Fn(&str) -> bool) -> Option<(Instant, String)> {
        self.answers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .filter(|(t, n)| *t >= since && pred(n))
            .min_by_key(|(t, _)| *t)
            .cloned()
    }

    /// Waits for the first answer after `t0` from a node other than `dead`; then
    /// watches `GRACE` longer for answers from a third party. (recovery time, new
    /// holder, whether another node answered after it).
    fn measure(&self, t0: Instant, dead: &str) -> Option<(Duration, String, bool)> {
        let (t, who) = poll(FAULT_DEADLINE, Duration::from_millis(5), || {
            self.first(t0, |n| n != dead)
        })?;
        std::thread::sleep(GRACE);
        let other = self.first(t, |n| n != who).is_some();
        Some((t - t0, who, other))
    }

    /// Whether `node` answered at or after `since`.
    fn answered_by(&self, since: Instant, node: &str) -> bool {
        self.first(since, |n| n == node).is_some()
    }
}

impl Drop for Probe {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// Which nodes hold the VIP: a thread inside each node's namespace reads its addresses
/// every 2 ms; `two` is raised whenever two nodes hold it at once.
struct Holders {
    held: Arc<Vec<AtomicBool>>,
    two: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
}

impl Holders {
    fn start(hosts: &[&Host]) -> Holders {
        let held: Arc<Vec<AtomicBool>> =
            Arc::new(hosts.iter().map(|_| AtomicBool::new(false)).collect());
        let two = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        for (i, host) in hosts.iter().enumerate() {
            let (held, stop) = (held.clone(), stop.clone());
            drop(host.spawn_in_ns(move || {
                while !stop.load(Ordering::SeqCst) {
                    held[i].store(has_ipv4(VIP), Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(2));
                }
            }));
        }
        let (h, t, s) = (held.clone(), two.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                if h.iter().filter(|b| b.load(Ordering::SeqCst)).count() > 1 {
                    t.store(true, Ordering::SeqCst);
                }
                std::thread::sleep(Duration::from_millis(2));
            }
        });
        // Let the first samples come in.
        std::thread::sleep(Duration::from_millis(20));
        Holders { held, two, stop }
    }

    fn now(&self) -> Vec<usize> {
        (0..self.held.len())
            .filter(|i| self.held[*i].load(Ordering::SeqCst))
            .collect()
    }

    /// Whether two nodes held the VIP at once since the last call.
    fn take_two(&self) -> bool {
        self.two.swap(false, Ordering::SeqCst)
    }
}

impl Drop for Holders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

/// The host pids of the processes in `host`'s network namespace, with their names.
fn ns_procs(host: &Host) -> Vec<(i32, String)> {
    let out = Command::new("ip")
        .args(["netns", "pids", host.netns()])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default();
    out.split_whitespace()
        .filter_map(|p| p.parse::<i32>().ok())
        .filter(|p| *p as u32 != std::process::id())
        .map(|p| {
            let comm = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            (p, comm.trim().to_string())
        })
        .collect()
}

/// Sends `sig` to every process of `host` called one of `names`; how many.
fn signal_named(host: &Host, names: &[&str], sig: i32) -> usize {
    let mut n = 0;
    for (pid, comm) in ns_procs(host) {
        if names.contains(&comm.as_str()) {
            // SAFETY: kill(2); no memory involved.
            unsafe {
                libc::kill(pid, sig);
            }
            n += 1;
        }
    }
    n
}

fn scratch(tool: &str) -> Res<PathBuf> {
    let root = std::env::temp_dir().join(format!("halo-failover-{}-{tool}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).map_err(|e| format!("{}: {e}", root.display()))?;
    Ok(root)
}

fn remove_scratch(root: &Path) {
    if std::env::var_os("FAILOVER_KEEP").is_some() {
        println!("(logs kept in {})", root.display());
    } else {
        let _ = std::fs::remove_dir_all(root);
    }
}

fn del_vip(host: &Host) {
    let _ = host.ip(&["addr", "del", &format!("{VIP}/24"), "dev", "eth0"]);
}

/// Seconds since the epoch of a log timestamp `2026-12-06T09:35:40.387273Z`.
fn parse_rfc3339(s: &str) -> Option<f64> {
    let (date, time) = s.split_once('T')?;
    let mut d = date.split('-').map(|v| v.parse::<i64>().ok());
    let (y, m, day) = (d.next()??, d.next()??, d.next()??);
    let mut t = time.strip_suffix('Z')?.split(':');
    let h: f64 = t.next()?.parse().ok()?;
    let mi: f64 = t.next()?.parse().ok()?;
    let sec: f64 = t.next()?.parse().ok()?;
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days as f64 * 86400.0 + h * 3600.0 + mi * 60.0 + sec)
}

/// A log line without its colour codes.
fn plain(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

fn wall_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Seconds since midnight, local time, of a Pacemaker log line's `Dec 06 10:10:01.084`
/// (its third word).
fn pcmk_time_of_day(line: &str) -> Option<f64> {
    let mut t = line.split_whitespace().nth(2)?.split(':');
    let h: f64 = t.next()?.parse().ok()?;
    let m: f64 = t.next()?.parse().ok()?;
    let s: f64 = t.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

/// Seconds east of UTC of the local time zone (Pacemaker logs local time).
fn utc_offset() -> f64 {
    let now = wall_now() as libc::time_t;
    // SAFETY: a zeroed libc::tm is a valid value for localtime_r to overwrite.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    // SAFETY: localtime_r reads `now` and writes the `tm` we own.
    if unsafe { libc::localtime_r(&now, &mut tm) }.is_null() {
        return 0.0;
    }
    tm.tm_gmtoff as f64
}

/// The text appended to `path` after its first `from` bytes.
fn read_from(path: &Path, from: u64) -> String {
    use std::io::Seek;
    let mut bytes = Vec::new();
    if let Ok(mut f) = std::fs::File::open(path) {
        if f.seek(std::io::SeekFrom::Start(from)).is_ok() {
            let _ = f.read_to_end(&mut bytes);
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn file_len(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

fn round_line(tool: &str, kind: &str, round: usize, what: &str) {
    println!("{tool:<10} {kind:<15} round {:>2}: {what}", round + 1);
}

// ---------------------------------------------------------------------------------------
// The rounds, shared by the three tools

/// One tool's cluster, as the round loops drive it.
trait Lab {
    fn tool(&self) -> &'static str;
    /// The nodes that may hold the VIP (the first hosts of the lab's `Net`).
    fn names(&self) -> &'static [&'static str];
    /// Waits until the cluster is whole again and the VIP is on one node (`want`, when
    /// given), answering the client; (the holder, the DC if the tool has one).
    fn settle(
        &self,
        probe: &Probe,
        holders: &Holders,
        want: Option<usize>,
    ) -> Res<(usize, Option<String>)>;
    /// Prefers node `i` for the VIP (a location constraint above the stickiness), or,
    /// with `None`, drops that preference (the stickiness keeps the VIP where it is).
    fn place(&mut self, i: Option<usize>) -> Res<()>;
    fn inject(&mut self, kind: Kind, holder: usize) -> Res<()>;
    /// Undoes the fault (reconnects or reboots the node); a remark for the round line.
    fn undo(&mut self, kind: Kind, holder: usize) -> Res<String>;
    /// The Dummy's state file on node `i`, for the monitor rounds.
    fn mon_file(&self, i: usize) -> Option<PathBuf>;
    /// Notes the wall clock and the length of every node's log.
    fn mark_logs(&mut self) {}
    /// When, in seconds after the mark, the logs first show the Dummy's monitor failure
    /// (or the reaction to it), and what that log event is.
    fn monitor_seen(&self) -> Option<(f64, &'static str)> {
        None
    }
}

/// Where the Dummy runs now, by its state files.
fn mon_at(lab: &dyn Lab) -> Vec<usize> {
    (0..lab.names().len())
        .filter(|i| lab.mon_file(*i).is_some_and(|f| f.exists()))
        .collect()
}

/// Rounds of each kind of death. With a DC, rounds alternate between a holder that is
/// the DC and one that is not (`FAILOVER_PLACE=natural`: wherever the VIP is).
fn fault_rounds(
    lab: &mut dyn Lab,
    probe: &Probe,
    holders: &Holders,
    kinds: &[Kind],
    rounds: usize,
    results: &mut Results,
) -> Res<()> {
    let tool = lab.tool();
    let alternate = std::env::var("FAILOVER_PLACE").as_deref() != Ok("natural");
    for &kind in kinds {
        for round in 0..rounds {
            let (mut holder, mut dc) = lab.settle(probe, holders, None)?;
            let dc_index = dc
                .as_deref()
                .and_then(|d| lab.names().iter().position(|n| *n == d));
            if let (true, Some(d)) = (alternate, dc_index) {
                let want = if round % 2 == 0 {
                    d
                } else if holder != d {
                    holder
                } else {
                    (d + 1) % lab.names().len()
                };
                if want != holder {
                    lab.place(Some(want))?;
                    (holder, dc) = lab.settle(probe, holders, Some(want))?;
                    lab.place(None)?;
                }
            }
            let dead = lab.names()[holder];
            let was_dc = dc.as_deref().map(|d| d == dead);
            holders.take_two();
            probe.clear();
            let t0 = Instant::now();
            lab.inject(kind, holder)?;
            let got = probe.measure(t0, dead);
            let kept = holders.now().contains(&holder);
            let remark = lab.undo(kind, holder)?;
            let settled = lab.settle(probe, holders, None);
            let two = holders.take_two();
            let s = results.get(tool, kind.name());
            s.two_holders += usize::from(two);
            let mut extra = format!("holder {dead}");
            match was_dc {
                Some(true) => extra.push_str(", the DC"),
                Some(false) => extra.push_str(", not the DC"),
                None => {}
            }
            if two {
                extra.push_str(", TWO HOLDERS");
            }
            if kept {
                extra.push_str(", the dead node still held the VIP then");
            }
            if !remark.is_empty() {
                extra.push_str(", ");
                extra.push_str(&remark);
            }
            match got {
                Some((d, who, other)) => {
                    let ms = s.push(d, was_dc);
                    s.answered_by_two += usize::from(other);
                    let other = if other { " ANSWERED BY TWO" } else { "" };
                    round_line(
                        tool,
                        kind.name(),
                        round,
                        &format!("{ms:>6.0} ms -> {who} ({extra}){other}"),
                    );
                }
                None => {
                    s.failed += 1;
                    round_line(tool, kind.name(), round, &format!("no failover ({extra})"));
                }
            }
            settled?;
        }
    }
    Ok(())
}

/// Rounds of monitor failures: the Dummy's state file is deleted where it runs; the
/// clock runs until the file exists again.
fn monitor_rounds(
    lab: &mut dyn Lab,
    probe: &Probe,
    holders: &Holders,
    rounds: usize,
    results: &mut Results,
) -> Res<()> {
    let tool = lab.tool();
    let (mut seen_s, mut after_ms, mut event) = (Vec::new(), Vec::new(), "");
    for round in 0..rounds {
        lab.settle(probe, holders, None)?;
        let Some(&i) = mon_at(&*lab).first() else {
            return Err(format!("{tool}: the Dummy runs nowhere"));
        };
        let Some(file) = lab.mon_file(i) else {
            return Err(format!("{tool}: no Dummy"));
        };
        lab.mark_logs();
        let t0 = Instant::now();
        std::fs::remove_file(&file).map_err(|e| format!("{}: {e}", file.display()))?;
        let back = poll(FAULT_DEADLINE, Duration::from_millis(2), || {
            (!mon_at(&*lab).is_empty()).then(Instant::now)
        });
        // Let the log lines be written.
        std::thread::sleep(Duration::from_millis(100));
        let seen = lab.monitor_seen();
        let s = results.get(tool, "monitor");
        match back {
            Some(t) => {
                let ms = s.push(t - t0, None);
                let on: Vec<&str> = mon_at(&*lab).iter().map(|i| lab.names()[*i]).collect();
                let mut detail = String::new();
                if let Some((at, what)) = seen {
                    let after = ms - at * 1000.0;
                    detail = format!(", {what} +{at:.2} s, running again {after:.0} ms later");
                    seen_s.push(at);
                    after_ms.push(after);
                    event = what;
                }
                round_line(
                    tool,
                    "monitor",
                    round,
                    &format!(
                        "{ms:>6.0} ms (failed on {}, running on {on:?}{detail})",
                        lab.names()[i]
                    ),
                );
            }
            None => {
                s.failed += 1;
                round_line(tool, "monitor", round, "not recovered");
            }
        }
    }
    if let (Some(a), Some(b)) = (median_of(&seen_s), median_of(&after_ms)) {
        results.notes.push(format!(
            "{tool} monitor: from the logs, {event} a median {a:.2} s after the state file \
             was deleted (the 1 s monitor interval), the resource running again a median \
             {b:.0} ms after that"
        ));
    }
    Ok(())
}

/// Waits until `check` holds twice, a second apart (with the same answer).
/// The second is drawn from 0.5 to 1.5 s, so that the fault that follows falls at a
/// random point of the tools' heartbeat, ping and advertisement periods.
fn stable<T: PartialEq>(mut check: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + HEAL_DEADLINE;
    while Instant::now() < end {
        if let Some(a) = check() {
            std::thread::sleep(random_between(500, 1500));
            if check().as_ref() == Some(&a) {
                return Some(a);
            }
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

// ---------------------------------------------------------------------------------------
// halo

mod halo {
    use super::*;

    const NAMES: [&str; 3] = ["n1", "n2", "n3"];

    fn bin() -> PathBuf {
        std::env::var_os("HALO_BIN")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_halo")))
    }

    struct Node {
        name: &'static str,
        dir: PathBuf,
        daemon: Option<Proc>,
        server: Option<Proc>,
        /// Its emulated watchdog device.
        wd: FifoWatchdog,
    }

    impl Node {
        fn rsctmp(&self) -> PathBuf {
            self.dir.with_extension("rsctmp")
        }
    }

    pub(super) struct HaloLab {
        nodes: Vec<Node>,
        pub(super) net: Net,
        pub(super) root: PathBuf,
        stop: Arc<AtomicBool>,
        /// At the fault: the wall-clock time and every node's log length.
        mark: Option<(f64, Vec<u64>)>,
        /// Per kind: (new DC acting, dead node self-fenced, VIP added), seconds after
        /// the fault, from the daemons' logs.
        steps: BTreeMap<Kind, Vec<Steps>>,
    }

    #[derive(Default, Clone, Copy)]
    struct Steps {
        dc: Option<f64>,
        fenced: Option<f64>,
        silent_ms: Option<f64>,
        vip: Option<f64>,
    }

    fn secs(v: Option<f64>) -> String {
        v.map_or("-".to_string(), |v| format!("{v:.2} s"))
    }

    impl Drop for HaloLab {
        fn drop(&mut self) {
            self.stop.store(true, Ordering::SeqCst);
            for n in &mut self.nodes {
                n.daemon = None;
                n.server = None;
            }
        }
    }

    impl HaloLab {
        fn addr(&self, i: usize) -> String {
            format!("{}:7000", self.net.hosts()[i].ipv4())
        }

        fn halo(&self, i: usize, args: &[&str]) -> Res<String> {
            let out = Command::new(bin())
                .args(args)
                .env("HALO_STATE_DIR", &self.nodes[i].dir)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("halo {args:?}: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "halo {args:?} on {}: {}",
                    NAMES[i],
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }

        fn status(&self, i: usize) -> serde_json::Value {
            self.halo(i, &["status", "--json"])
                .ok()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or(serde_json::Value::Null)
        }

        /// The DC when every node is quorate, sees every node online and names it.
        fn whole(&self) -> Option<String> {
            let mut dc = None;
            for i in 0..3 {
                let s = self.status(i);
                let ok = s["quorate"] == true
                    && s["nodes"]
                        .as_array()
                        .is_some_and(|n| n.len() == 3 && n.iter().all(|n| n["online"] == true));
                let this = s["dc"].as_str().map(str::to_string);
                if !ok || this.is_none() || (dc.is_some() && dc != this) {
                    return None;
                }
                dc = this;
            }
            dc
        }

        /// Starts node `i`'s daemon and HTTP server.
        fn start(&mut self, i: usize) -> Res<()> {
            let node = &self.nodes[i];
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(node.dir.with_extension("log"))
                .map_err(|e| format!("log: {e}"))?;
            let log2 = log.try_clone().map_err(|e| format!("log: {e}"))?;
            let host = &self.net.hosts()[i];
            let mut cmd = host.command(bin());
            cmd.args(["daemon", "--name", node.name, "--listen", &self.addr(i)])
                .arg("--state-dir")
                .arg(&node.dir)
                .arg("--rsctmp")
                .arg(node.rsctmp())
                .arg("--run-dir")
                .arg(node.dir.with_extension("run"))
                .arg("--watchdog")
                .arg(node.wd.path())
                .args(["--watchdog-timeout", "1s"])
                .env("HALO_LOG", "info")
                .stdin(Stdio::null())
                .stdout(log)
                .stderr(log2);
            node.wd.rearm();
            let proc = host.spawn(&mut cmd).map_err(|e| e.to_string())?;
            self.nodes[i].daemon = Some(proc);
            let sock = self.nodes[i].dir.join("halo.sock");
            poll(Duration::from_secs(30), Duration::from_millis(10), || {
                std::os::unix::net::UnixStream::connect(&sock)
                    .ok()
                    .map(|_| ())
            })
            .ok_or_else(|| format!("{} did not start", NAMES[i]))?;
            self.nodes[i].server = None;
            self.nodes[i].server = Some(start_server(host, &self.root)?);
            Ok(())
        }

        fn signal(&self, i: usize, sig: i32) {
            if let Some(p) = &self.nodes[i].daemon {
                // SAFETY: kill(2) on our own child's pid.
                unsafe {
                    libc::kill(p.id() as i32, sig);
                }
            }
        }

        fn logs(&self) -> String {
            let mut out = String::new();
            for n in &self.nodes {
                let text = std::fs::read_to_string(n.dir.with_extension("log")).unwrap_or_default();
                let lines: Vec<&str> = text
                    .lines()
                    .filter(|l| l.contains("halo_controller") || l.contains("ERROR"))
                    .collect();
                let tail = &lines[lines.len().saturating_sub(8)..];
                out.push_str(&format!("--- {}\n{}\n", n.name, tail.join("\n")));
            }
            out
        }

        /// What the survivors' logs say since the fault: when a new DC began acting,
        /// when it took the dead node as self-fenced, when the VIP was added.
        fn steps(&self, dead: usize) -> Steps {
            let mut st = Steps::default();
            let Some((t0, sizes)) = &self.mark else {
                return st;
            };
            for (i, n) in self.nodes.iter().enumerate() {
                if i == dead {
                    continue;
                }
                let text = read_from(&n.dir.with_extension("log"), sizes[i]);
                for line in text.lines() {
                    let line = plain(line);
                    let Some(at) = line
                        .split_whitespace()
                        .next()
                        .and_then(parse_rfc3339)
                        .map(|t| t - t0)
                    else {
                        continue;
                    };
                    let first = |slot: &mut Option<f64>| {
                        if !matches!(slot, Some(old) if *old <= at) {
                            *slot = Some(at);
                        }
                    };
                    if line.contains("acting as DC") {
                        first(&mut st.dc);
                    } else if line.contains("self-fenced") && line.ends_with(NAMES[dead]) {
                        first(&mut st.fenced);
                        st.silent_ms = line
                            .split("silent for ")
                            .nth(1)
                            .and_then(|r| r.split(' ').next())
                            .and_then(|v| v.parse().ok());
                    } else if line.contains("VIP added") {
                        first(&mut st.vip);
                    }
                }
            }
            st
        }

        fn apply(&self, place: Option<usize>) -> Res<()> {
            let mut text = format!(
                "version = 1\n\
                 [resource-defaults]\nresource-stickiness = 100\n\
                 [[resource]]\nid = \"vip\"\nagent = \"halo:vip\"\n\
                 params = {{ ip = \"{VIP}\", cidr_netmask = 24, nic = \"eth0\" }}\n\
                 op = [ {{ name = \"monitor\", interval = \"1s\" }} ]\n\
                 [[resource]]\nid = \"mon\"\nagent = \"ocf:heartbeat:Dummy\"\n\
                 op = [ {{ name = \"monitor\", interval = \"1s\" }} ]\n"
            );
            if let Some(i) = place {
                text.push_str(&format!(
                    "[[location]]\nid = \"bench-place\"\nresource = \"vip\"\nnode = \"{}\"\nscore = 1000\n",
                    NAMES[i]
                ));
            }
            let config = self.root.join("config.toml");
            std::fs::write(&config, text).map_err(|e| format!("config: {e}"))?;
            let from = (0..3)
                .find(|i| self.nodes[*i].daemon.is_some())
                .unwrap_or(0);
            self.halo(from, &["config", "apply", &config.display().to_string()])
                .map(|_| ())
        }
    }

    impl Lab for HaloLab {
        fn tool(&self) -> &'static str {
            "halo"
        }

        fn names(&self) -> &'static [&'static str] {
            &NAMES
        }

        fn settle(
            &self,
            probe: &Probe,
            holders: &Holders,
            want: Option<usize>,
        ) -> Res<(usize, Option<String>)> {
            let since = Instant::now();
            stable(|| {
                let h = match holders.now().as_slice() {
                    [h] if !matches!(want, Some(w) if w != *h) => *h,
                    _ => return None,
                };
                if mon_at(self).len() != 1 || !probe.answered_by(since, NAMES[h]) {
                    return None;
                }
                Some((h, Some(self.whole()?)))
            })
            .ok_or_else(|| {
                format!(
                    "the halo cluster did not settle: VIP on {:?}, Dummy on {:?}, DC {}\n{}",
                    holders.now(),
                    mon_at(self),
                    self.status(0)["dc"],
                    self.logs()
                )
            })
        }

        fn place(&mut self, i: Option<usize>) -> Res<()> {
            self.apply(i)
        }

        fn inject(&mut self, kind: Kind, holder: usize) -> Res<()> {
            self.mark_logs();
            match kind {
                Kind::LinkCut => self.net.cut(NAMES[holder]).map_err(|e| e.to_string())?,
                Kind::DaemonKill => self.signal(holder, libc::SIGKILL),
                Kind::DaemonStop => self.signal(holder, libc::SIGSTOP),
                Kind::NodeKilled => self.net.kill(NAMES[holder]),
            }
            Ok(())
        }

        fn undo(&mut self, kind: Kind, holder: usize) -> Res<String> {
            let steps = self.steps(holder);
            self.steps.entry(kind).or_default().push(steps);
            // Reconnect, or wait for the watchdog's reset; then boot what it reset.
            if kind == Kind::LinkCut {
                self.net
                    .reconnect(NAMES[holder])
                    .map_err(|e| e.to_string())?;
            } else {
                poll(Duration::from_secs(30), Duration::from_millis(20), || {
                    self.nodes[holder].wd.was_reset().then_some(())
                })
                .ok_or_else(|| format!("the watchdog never reset {}", NAMES[holder]))?;
            }
            let mut remark = String::new();
            for (i, name) in NAMES.iter().enumerate() {
                if self.nodes[i].wd.was_reset() {
                    if kind == Kind::LinkCut || i != holder {
                        remark.push_str(&format!("watchdog reset {name} "));
                    }
                    self.nodes[i].daemon = None;
                    self.nodes[i].server = None;
                    self.start(i)?;
                }
            }
            Ok(format!(
                "DC acting +{}, self-fenced +{} (silent {} ms), VIP added +{}{}{}",
                secs(steps.dc),
                secs(steps.fenced),
                steps.silent_ms.map_or("-".into(), |v| format!("{v:.0}")),
                secs(steps.vip),
                if remark.is_empty() { "" } else { ", " },
                remark.trim_end()
            ))
        }

        fn mon_file(&self, i: usize) -> Option<PathBuf> {
            Some(self.nodes[i].rsctmp().join("Dummy-mon.state"))
        }

        fn mark_logs(&mut self) {
            let sizes = self
                .nodes
                .iter()
                .map(|n| file_len(&n.dir.with_extension("log")))
                .collect();
            self.mark = Some((wall_now(), sizes));
        }

        fn monitor_seen(&self) -> Option<(f64, &'static str)> {
            let (t0, sizes) = self.mark.as_ref()?;
            let mut first: Option<f64> = None;
            for (i, n) in self.nodes.iter().enumerate() {
                for line in read_from(&n.dir.with_extension("log"), sizes[i]).lines() {
                    let line = plain(line);
                    if !line.contains("new transition") {
                        continue;
                    }
                    if let Some(at) = line.split_whitespace().next().and_then(parse_rfc3339) {
                        let at = at - t0;
                        if at >= 0.0 && !matches!(first, Some(f) if f <= at) {
                            first = Some(at);
                        }
                    }
                }
            }
            first.map(|f| (f, "the DC planned the recovery"))
        }
    }

    fn form(failure_timeout: &str) -> Res<HaloLab> {
        let net = Net::new(&["n1", "n2", "n3", "client"]).map_err(|e| e.to_string())?;
        let root = scratch("halo")?;
        let stop = Arc::new(AtomicBool::new(false));
        let mut nodes = Vec::new();
        for (i, name) in NAMES.iter().enumerate() {
            let dir = root.join(name);
            let wd = FifoWatchdog::start(
                dir.with_extension("watchdog"),
                &net.hosts()[i],
                dir.with_extension("rsctmp"),
                WATCHDOG,
            )
            .map_err(|e| e.to_string())?;
            let node = Node {
                name,
                dir,
                daemon: None,
                server: None,
                wd,
            };
            nodes.push(node);
        }
        let mut lab = HaloLab {
            nodes,
            net,
            root,
            stop,
            mark: None,
            steps: BTreeMap::new(),
        };
        for i in 0..3 {
            lab.start(i)?;
        }
        lab.halo(
            0,
            &[
                "cluster",
                "init",
                "--name",
                "bench",
                "--failure-timeout",
                failure_timeout,
            ],
        )?;
        for i in 1..3 {
            let token = lab.halo(0, &["cluster", "token"])?;
            lab.halo(
                i,
                &["cluster", "join", &lab.addr(0), "--token", token.trim()],
            )?;
        }
        poll(HEAL_DEADLINE, Duration::from_millis(100), || lab.whole())
            .ok_or_else(|| format!("never quorate\n{}", lab.logs()))?;
        lab.apply(None)?;
        Ok(lab)
    }

    pub(super) fn run(
        rounds: usize,
        kinds: &[Kind],
        monitor: bool,
        results: &mut Results,
    ) -> Res<()> {
        if !Path::new(DUMMY).exists() {
            return Err(format!(
                "{DUMMY} is missing (Debian package resource-agents)"
            ));
        }
        let failure_timeout =
            std::env::var("HALO_FAILURE_TIMEOUT").unwrap_or_else(|_| "2s".to_string());
        println!(
            "halo: 3 nodes, `halo cluster init --failure-timeout {failure_timeout}`, \
             halo:vip + ocf:heartbeat:Dummy with 1 s monitors, resource-stickiness 100; \
             daemons run with --watchdog FIFO --watchdog-timeout 1s and this bench plays \
             the watchdog device: a node whose daemon stops feeding it for 1 s has all \
             its processes SIGKILLed (a reset), then boots again"
        );
        let mut lab = form(&failure_timeout)?;
        // The timings in effect, as the daemon reports them.
        let ms = |v: &serde_json::Value| v.as_u64().map_or("?".to_string(), |v| v.to_string());
        let status = lab.status(0);
        let info = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()
            .and_then(|rt| {
                rt.block_on(halo_api::Client::new(&lab.nodes[0].dir).controller())
                    .ok()
            });
        results.notes.push(format!(
            "halo: failure_timeout {} ms (halo cluster init --failure-timeout \
             {failure_timeout}); from GET /v1/controller: guard lease {} ms, the DC waits {} \
             ms of silence before taking a lost node as self-fenced, watchdog {} ms \
             (emulated by the bench); halo:vip monitor 1 s",
            ms(&status["failure_timeout_ms"]),
            info.as_ref()
                .map_or("?".to_string(), |i| i.guard_lease_ms.to_string()),
            info.as_ref()
                .map_or("?".to_string(), |i| i.self_fence_wait_ms.to_string()),
            info.as_ref()
                .and_then(|i| i.watchdog_timeout_ms)
                .map_or("?".to_string(), |t| t.to_string()),
        ));
        let hosts: Vec<&Host> = lab.net.hosts()[..3].iter().collect();
        let holders = Holders::start(&hosts);
        let probe = Probe::start(lab.net.host("client"));
        let outcome =
            fault_rounds(&mut lab, &probe, &holders, kinds, rounds, results).and_then(|()| {
                if monitor {
                    monitor_rounds(&mut lab, &probe, &holders, rounds, results)
                } else {
                    Ok(())
                }
            });
        drop(probe);
        drop(holders);
        for (kind, steps) in &lab.steps {
            let med = |f: fn(&Steps) -> Option<f64>| {
                let v: Vec<f64> = steps.iter().filter_map(f).collect();
                median_of(&v).map_or("-".to_string(), |m| format!("{m:.2} s"))
            };
            results.notes.push(format!(
                "halo {}: from the daemons' logs, medians after the fault: a DC began acting {} \
                 (rounds where one did), the dead node taken as self-fenced {}, VIP added {}",
                kind.name(),
                med(|s| s.dc),
                med(|s| s.fenced),
                med(|s| s.vip)
            ));
        }
        let root = lab.root.clone();
        drop(lab);
        if outcome.is_ok() {
            remove_scratch(&root);
        } else {
            println!("(halo logs kept in {})", root.display());
        }
        outcome
    }
}

// ---------------------------------------------------------------------------------------
// keepalived

mod keepalived {
    use super::*;

    const NAMES: [&str; 2] = ["n1", "n2"];

    pub(super) struct KaLab {
        net: Net,
        dir: PathBuf,
        servers: Vec<Option<Proc>>,
        ka: Vec<Option<Proc>>,
    }

    impl Drop for KaLab {
        fn drop(&mut self) {
            for i in 0..2 {
                self.ka[i] = None;
                self.servers[i] = None;
            }
        }
    }

    fn conf(dir: &Path, node: &str) -> Res<PathBuf> {
        let path = dir.join(format!("keepalived-{node}.conf"));
        let conf = format!(
            "global_defs {{\n  router_id halo_bench_{node}\n}}\n\
             vrrp_instance VI_1 {{\n  state BACKUP\n  nopreempt\n  interface eth0\n  \
             virtual_router_id 51\n  priority 100\n  advert_int 1\n  \
             virtual_ipaddress {{\n    {VIP}/24 dev eth0\n  }}\n}}\n"
        );
        std::fs::write(&path, conf).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    }

    fn start(host: &Host, dir: &Path) -> Res<Proc> {
        let name = host.name();
        // A reboot clears /run: pid files of a killed keepalived would stop the new one
        // ("daemon is already running" while the old child is not reaped yet).
        for f in ["ka-{}.pid", "ka-{}-vrrp.pid", "ka-{}-checkers.pid"] {
            let _ = std::fs::remove_file(dir.join(f.replace("{}", name)));
        }
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join(format!("keepalived-{name}.log")))
            .map_err(|e| e.to_string())?;
        let mut cmd = host.command("keepalived");
        cmd.args([
            "--dont-fork",
            "--log-console",
            "--log-detail",
            "--no-syslog",
            "--vrrp",
        ])
        .arg("--use-file")
        .arg(dir.join(format!("keepalived-{name}.conf")))
        .arg("--pid")
        .arg(dir.join(format!("ka-{name}.pid")))
        .arg("--vrrp_pid")
        .arg(dir.join(format!("ka-{name}-vrrp.pid")))
        .arg("--checkers_pid")
        .arg(dir.join(format!("ka-{name}-checkers.pid")))
        .stdin(Stdio::null())
        .stdout(log.try_clone().map_err(|e| e.to_string())?)
        .stderr(log);
        host.spawn(&mut cmd).map_err(|e| e.to_string())
    }

    impl Lab for KaLab {
        fn tool(&self) -> &'static str {
            "keepalived"
        }

        fn names(&self) -> &'static [&'static str] {
            &NAMES
        }

        fn settle(
            &self,
            probe: &Probe,
            holders: &Holders,
            _want: Option<usize>,
        ) -> Res<(usize, Option<String>)> {
            let since = Instant::now();
            let h = poll(HEAL_DEADLINE, Duration::from_millis(20), || {
                match holders.now().as_slice() {
                    [h] if probe.answered_by(since, NAMES[*h]) => Some(*h),
                    _ => None,
                }
            })
            .ok_or_else(|| format!("keepalived did not settle: VIP on {:?}", holders.now()))?;
            // Let the backup hear the master's advertisements; the fault then falls at a
            // random point of the advertisement period.
            std::thread::sleep(random_between(1500, 2500));
            if holders.now() != [h] {
                return Err(format!("the VIP moved while settling: {:?}", holders.now()));
            }
            Ok((h, None))
        }

        fn place(&mut self, _i: Option<usize>) -> Res<()> {
            Ok(())
        }

        fn inject(&mut self, kind: Kind, holder: usize) -> Res<()> {
            let host = self.net.host(NAMES[holder]);
            match kind {
                Kind::LinkCut => self.net.cut(NAMES[holder]).map_err(|e| e.to_string())?,
                Kind::DaemonKill => {
                    signal_named(host, &["keepalived"], libc::SIGKILL);
                }
                Kind::DaemonStop => {
                    signal_named(host, &["keepalived"], libc::SIGSTOP);
                }
                Kind::NodeKilled => self.net.kill(NAMES[holder]),
            }
            Ok(())
        }

        fn undo(&mut self, kind: Kind, holder: usize) -> Res<String> {
            let name = NAMES[holder];
            if kind == Kind::LinkCut {
                self.net.reconnect(name).map_err(|e| e.to_string())?;
                return Ok(String::new());
            }
            // A reboot: keepalived restarted, without the VIP; it stays a backup
            // (nopreempt).
            let host = self.net.host(name);
            signal_named(host, &["keepalived"], libc::SIGKILL);
            self.ka[holder] = None;
            del_vip(host);
            if kind == Kind::NodeKilled {
                self.servers[holder] = None;
                self.servers[holder] = Some(start_server(host, &self.dir)?);
            }
            self.ka[holder] = Some(start(host, &self.dir)?);
            Ok(String::new())
        }

        fn mon_file(&self, _i: usize) -> Option<PathBuf> {
            None
        }
    }

    pub(super) fn run(rounds: usize, kinds: &[Kind], results: &mut Results) -> Res<()> {
        if Command::new("keepalived")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Err("keepalived is not installed (Debian package keepalived)".into());
        }
        println!(
            "keepalived: 2 nodes, VRRP advert_int 1, priority 100 on both with nopreempt; \
             daemon-sigkill/-sigstop signal every keepalived process of the holder; \
             nodes that died other than by a link cut are rebooted after the round \
             (VIP removed, keepalived started again as a backup)"
        );
        results.notes.push(
            "keepalived: advert_int 1 s: a backup takes over 3 x 1 s + skew (0.61 s at \
             priority 100) after the last advertisement it heard"
                .into(),
        );
        let net = Net::new(&["n1", "n2", "client"]).map_err(|e| e.to_string())?;
        let dir = scratch("keepalived")?;
        let mut lab = KaLab {
            net,
            dir,
            servers: vec![None, None],
            ka: vec![None, None],
        };
        for (i, name) in NAMES.iter().enumerate() {
            let h = lab.net.host(name);
            h.sysctl("net.ipv4.conf.all.arp_notify", "0")
                .map_err(|e| e.to_string())?;
            conf(&lab.dir, name)?;
            lab.servers[i] = Some(start_server(h, &lab.dir)?);
        }
        let hosts: Vec<&Host> = NAMES.iter().map(|n| lab.net.host(n)).collect();
        let holders = Holders::start(&hosts);
        let probe = Probe::start(lab.net.host("client"));
        // n1 first, so that it becomes master alone; then n2 as its backup.
        lab.ka[0] = Some(start(lab.net.host("n1"), &lab.dir)?);
        poll(Duration::from_secs(20), Duration::from_millis(20), || {
            (holders.now() == [0]).then_some(())
        })
        .ok_or("keepalived on n1 never became master")?;
        lab.ka[1] = Some(start(lab.net.host("n2"), &lab.dir)?);
        let outcome = fault_rounds(&mut lab, &probe, &holders, kinds, rounds, results);
        drop(probe);
        drop(holders);
        let dir = lab.dir.clone();
        drop(lab);
        if outcome.is_ok() {
            remove_scratch(&dir);
        } else {
            println!("(keepalived logs kept in {})", dir.display());
        }
        outcome
    }
}

// ---------------------------------------------------------------------------------------
// Pacemaker + Corosync

mod pacemaker {
    use super::*;

    const NAMES: [&str; 3] = ["n1", "n2", "n3"];

    /// Run as PID 1 of the node's PID namespace, inside its own mount and UTS namespace
    /// (`ip netns exec NS unshare --mount --uts --pid --fork --mount-proc`): gives the
    /// node its own Corosync and Pacemaker paths, then starts corosync and pacemakerd.
    const NODE_SH: &str = r#"#!/bin/bash
set -e
name=$1 d=$2
hostname "$name"
mount --bind "$d/etc-corosync" /etc/corosync
mount --bind "$d/var-lib-corosync" /var/lib/corosync
mount --bind "$d/var-lib-pacemaker" /var/lib/pacemaker
mount --bind "$d/var-log-pacemaker" /var/log/pacemaker
mount --bind "$d/run" /run
mount -t tmpfs -o mode=1777 tmpfs /dev/shm
mkdir -p /run/crm /run/resource-agents
chown hacluster:haclient /run/crm
corosync -f &
for i in $(seq 200); do corosync-cfgtool -s >/dev/null 2>&1 && break; sleep 0.05; done
PCMK_logfile=/var/log/pacemaker/pacemaker.log pacemakerd &
set +e
wait
# Stay: as PID 1 of the node, going away would kill every process of the node.
while :; do sleep 60; done
"#;

    fn corosync_conf() -> String {
        let mut nodes = String::new();
        for (i, n) in NAMES.iter().enumerate() {
            nodes.push_str(&format!(
                "  node {{\n    ring0_addr: 10.213.0.{}\n    name: {n}\n    nodeid: {}\n  }}\n",
                11 + i,
                i + 1
            ));
        }
        format!(
            "totem {{\n  version: 2\n  cluster_name: bench\n  transport: knet\n  token: 1000\n  \
             crypto_cipher: none\n  crypto_hash: none\n}}\n\
             nodelist {{\n{nodes}}}\n\
             quorum {{\n  provider: corosync_votequorum\n}}\n\
             logging {{\n  to_logfile: yes\n  logfile: /var/log/pacemaker/corosync.log\n  \
             to_syslog: no\n  to_stderr: no\n  timestamp: on\n}}\n"
        )
    }

    pub(super) struct PcmkLab {
        nodes: Vec<Option<Proc>>,
        servers: Vec<Option<Proc>>,
        net: Net,
        root: PathBuf,
        /// The process name signalled by the daemon kinds (`corosync` or
        /// `pacemaker-contr`, /proc's 15-character cut of pacemaker-controld).
        comm: &'static str,
        /// The wall-clock time and every node's pacemaker.log length at a mark.
        mark: Option<(f64, Vec<u64>)>,
    }

    impl Drop for PcmkLab {
        fn drop(&mut self) {
            for (i, name) in NAMES.iter().enumerate() {
                self.net.kill(name);
                self.nodes[i] = None;
                self.servers[i] = None;
            }
        }
    }

    fn chown_hacluster(path: &Path) -> Res<()> {
        let st = Command::new("chown")
            .args(["-R", "hacluster:haclient"])
            .arg(path)
            .status()
            .map_err(|e| format!("chown: {e}"))?;
        st.success()
            .then_some(())
            .ok_or_else(|| format!("chown {} failed", path.display()))
    }

    impl PcmkLab {
        fn dir(&self, i: usize) -> PathBuf {
            self.root.join(NAMES[i])
        }

        fn log(&self, i: usize) -> PathBuf {
            self.dir(i).join("var-log-pacemaker/pacemaker.log")
        }

        fn prepare(&self, i: usize) -> Res<()> {
            let d = self.dir(i);
            for sub in [
                "etc-corosync",
                "var-lib-corosync",
                "var-lib-pacemaker/cib",
                "var-lib-pacemaker/pengine",
                "var-lib-pacemaker/blackbox",
                "var-lib-pacemaker/cores",
                "var-log-pacemaker",
            ] {
                std::fs::create_dir_all(d.join(sub)).map_err(|e| format!("{sub}: {e}"))?;
            }
            std::fs::write(d.join("etc-corosync/corosync.conf"), corosync_conf())
                .map_err(|e| format!("corosync.conf: {e}"))?;
            chown_hacluster(&d.join("var-lib-pacemaker"))?;
            chown_hacluster(&d.join("var-log-pacemaker"))?;
            Ok(())
        }

        /// Boots node `i`: a fresh /run, corosync and pacemakerd; and its HTTP server.
        fn boot(&mut self, i: usize) -> Res<()> {
            let run = self.dir(i).join("run");
            let _ = std::fs::remove_dir_all(&run);
            std::fs::create_dir_all(&run).map_err(|e| format!("run: {e}"))?;
            let host = &self.net.hosts()[i];
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.dir(i).join("boot.log"))
                .map_err(|e| e.to_string())?;
            let mut cmd = host.command("unshare");
            cmd.args([
                "--mount",
                "--uts",
                "--pid",
                "--fork",
                "--mount-proc",
                "--propagation",
                "private",
                "bash",
            ])
            .arg(self.root.join("node.sh"))
            .arg(NAMES[i])
            .arg(self.dir(i))
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log);
            self.nodes[i] = Some(host.spawn(&mut cmd).map_err(|e| e.to_string())?);
            self.servers[i] = None;
            self.servers[i] = Some(start_server(host, &self.root)?);
            Ok(())
        }

        /// Runs a Pacemaker/Corosync command inside node `i` (its namespaces).
        fn exec(&self, i: usize, args: &[&str]) -> Res<String> {
            let host = &self.net.hosts()[i];
            let pid = ns_procs(host)
                .into_iter()
                .find(|(_, c)| c == "pacemakerd")
                .map(|(p, _)| p)
                .ok_or_else(|| format!("pacemakerd is not running on {}", NAMES[i]))?;
            let out = Command::new("nsenter")
                .args(["-t", &pid.to_string(), "-m", "-u", "-n", "-p", "--"])
                .args(args)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| format!("nsenter: {e}"))?;
            if !out.status.success() {
                return Err(format!(
                    "{args:?} on {}: {} {}",
                    NAMES[i],
                    String::from_utf8_lossy(&out.stdout).trim(),
                    String::from_utf8_lossy(&out.stderr).trim()
                ));
            }
            Ok(String::from_utf8_lossy(&out.stdout).into_owned())
        }

        /// The DC when node `i` sees all three nodes online with a quorate DC.
        fn whole_from(&self, i: usize) -> Option<String> {
            let xml = self.exec(i, &["crm_mon", "-1", "--output-as=xml"]).ok()?;
            let online = xml
                .lines()
                .filter(|l| l.trim_start().starts_with("<node ") && l.contains("online=\"true\""))
                .filter(|l| l.contains("unclean=\"false\"") && l.contains("pending=\"false\""))
                .count();
            let dc = xml.lines().find(|l| {
                l.contains("<current_dc present=\"true\"") && l.contains("with_quorum=\"true\"")
            })?;
            let name = dc.split(" name=\"").nth(1)?.split('"').next()?.to_string();
            (online == 3).then_some(name)
        }

        fn whole(&self) -> Option<String> {
            let mut dc = None;
            for i in 0..3 {
                let this = self.whole_from(i)?;
                if dc.as_ref().is_some_and(|d| d != &this) {
                    return None;
                }
                dc = Some(this);
            }
            dc
        }

        fn configure(&self) -> Res<()> {
            for (kind, name, value) in [
                ("crm_config", "stonith-enabled", "false"),
                ("rsc_defaults", "resource-stickiness", "100"),
            ] {
                self.exec(
                    0,
                    &[
                        "crm_attribute",
                        "--type",
                        kind,
                        "--name",
                        name,
                        "--update",
                        value,
                    ],
                )?;
            }
            let vip = format!(
                "<primitive id=\"vip\" class=\"ocf\" provider=\"heartbeat\" type=\"IPaddr2\">\
                 <instance_attributes id=\"vip-ia\">\
                 <nvpair id=\"vip-ip\" name=\"ip\" value=\"{VIP}\"/>\
                 <nvpair id=\"vip-mask\" name=\"cidr_netmask\" value=\"24\"/>\
                 <nvpair id=\"vip-nic\" name=\"nic\" value=\"eth0\"/>\
                 </instance_attributes><operations>\
                 <op id=\"vip-monitor\" name=\"monitor\" interval=\"1s\"/>\
                 </operations></primitive>"
            );
            let mon = "<primitive id=\"mon\" class=\"ocf\" provider=\"heartbeat\" type=\"Dummy\">\
                       <operations><op id=\"mon-monitor\" name=\"monitor\" interval=\"1s\"/>\
                       </operations></primitive>";
            for x in [vip.as_str(), mon] {
                self.exec(
                    0,
                    &["cibadmin", "--create", "-o", "resources", "--xml-text", x],
                )?;
            }
            Ok(())
        }

        fn live_node(&self) -> usize {
            (0..3)
                .find(|i| {
                    ns_procs(&self.net.hosts()[*i])
                        .iter()
                        .any(|(_, c)| c == "pacemakerd")
                })
                .unwrap_or(0)
        }
    }

    impl Lab for PcmkLab {
        fn tool(&self) -> &'static str {
            "pacemaker"
        }

        fn names(&self) -> &'static [&'static str] {
            &NAMES
        }

        fn settle(
            &self,
            probe: &Probe,
            holders: &Holders,
            want: Option<usize>,
        ) -> Res<(usize, Option<String>)> {
            let since = Instant::now();
            stable(|| {
                let h = match holders.now().as_slice() {
                    [h] if !matches!(want, Some(w) if w != *h) => *h,
                    _ => return None,
                };
                if mon_at(self).len() != 1 || !probe.answered_by(since, NAMES[h]) {
                    return None;
                }
                Some((h, Some(self.whole()?)))
            })
            .ok_or_else(|| {
                let mon = (0..3)
                    .find_map(|i| self.exec(i, &["crm_mon", "-1"]).ok())
                    .unwrap_or_default();
                format!(
                    "Pacemaker did not settle: VIP on {:?}, Dummy on {:?}\n{mon}",
                    holders.now(),
                    mon_at(self)
                )
            })
        }

        fn place(&mut self, i: Option<usize>) -> Res<()> {
            let xml = match i {
                Some(i) => format!(
                    "<constraints><rsc_location id=\"bench-place\" rsc=\"vip\" node=\"{}\" \
                     score=\"1000\"/></constraints>",
                    NAMES[i]
                ),
                None => "<constraints/>".to_string(),
            };
            self.exec(
                self.live_node(),
                &[
                    "cibadmin",
                    "--replace",
                    "-o",
                    "constraints",
                    "--xml-text",
                    &xml,
                ],
            )
            .map(|_| ())
        }

        fn inject(&mut self, kind: Kind, holder: usize) -> Res<()> {
            let host = &self.net.hosts()[holder];
            match kind {
                Kind::LinkCut => self.net.cut(NAMES[holder]).map_err(|e| e.to_string())?,
                Kind::DaemonKill => {
                    signal_named(host, &[self.comm], libc::SIGKILL);
                }
                Kind::DaemonStop => {
                    signal_named(host, &[self.comm], libc::SIGSTOP);
                }
                Kind::NodeKilled => self.net.kill(NAMES[holder]),
            }
            Ok(())
        }

        fn undo(&mut self, kind: Kind, holder: usize) -> Res<String> {
            if kind == Kind::LinkCut {
                self.net
                    .reconnect(NAMES[holder])
                    .map_err(|e| e.to_string())?;
                return Ok(String::new());
            }
            // A reboot: every process killed, the VIP gone with the kernel's state, a
            // fresh /run, then corosync and pacemakerd again.
            self.net.kill(NAMES[holder]);
            self.nodes[holder] = None;
            self.servers[holder] = None;
            del_vip(&self.net.hosts()[holder]);
            self.boot(holder)?;
            Ok("rebooted".to_string())
        }

        fn mon_file(&self, i: usize) -> Option<PathBuf> {
            Some(self.dir(i).join("run/resource-agents/Dummy-mon.state"))
        }

        fn mark_logs(&mut self) {
            let sizes = (0..3).map(|i| file_len(&self.log(i))).collect();
            self.mark = Some((wall_now(), sizes));
        }

        fn monitor_seen(&self) -> Option<(f64, &'static str)> {
            let (t0, sizes) = self.mark.as_ref()?;
            let day = 86_400.0;
            let t0_local = (t0 + utc_offset()).rem_euclid(day);
            let mut first: Option<f64> = None;
            for (i, from) in sizes.iter().enumerate() {
                for line in read_from(&self.log(i), *from).lines() {
                    if !(line.contains("Result of monitor operation for mon on")
                        && line.contains("not running"))
                    {
                        continue;
                    }
                    if let Some(tod) = pcmk_time_of_day(line) {
                        let at = (tod - t0_local).rem_euclid(day);
                        if at < day / 2.0 && !matches!(first, Some(f) if f <= at) {
                            first = Some(at);
                        }
                    }
                }
            }
            first.map(|f| (f, "the node's monitor reported the failure"))
        }
    }

    /// `rounds` of each kind of death, `monitor_rounds` monitor failures.
    pub(super) fn run(
        rounds: usize,
        monitor_rounds: usize,
        kinds: &[Kind],
        results: &mut Results,
    ) -> Res<()> {
        for p in [
            "corosync",
            "pacemakerd",
            "cibadmin",
            "crm_mon",
            "unshare",
            "nsenter",
        ] {
            let found = std::env::var("PATH")
                .unwrap_or_default()
                .split(':')
                .chain(["/usr/sbin", "/sbin"])
                .any(|d| Path::new(d).join(p).exists());
            if !found {
                return Err(format!(
                    "{p} is missing (Debian packages pacemaker, corosync, util-linux)"
                ));
            }
        }
        for agent in [DUMMY, IPADDR2] {
            if !Path::new(agent).exists() {
                return Err(format!(
                    "{agent} is missing (Debian package resource-agents)"
                ));
            }
        }
        let (daemon, comm) = match std::env::var("PCMK_DAEMON").as_deref() {
            Ok("controld") => ("pacemaker-controld", "pacemaker-contr"),
            _ => ("corosync", "corosync"),
        };
        println!(
            "pacemaker: 3 nodes (own network, mount, UTS and PID namespace each), Corosync \
             knet token 1000, stonith-enabled=false, IPaddr2 + Dummy with 1 s monitors, \
             resource-stickiness 100; daemon-sigkill/-sigstop signal {daemon}; nodes that \
             died other than by a link cut are rebooted after the round"
        );
        let net = Net::new(&["n1", "n2", "n3", "client"]).map_err(|e| e.to_string())?;
        let root = scratch("pacemaker")?;
        std::fs::write(root.join("node.sh"), NODE_SH).map_err(|e| e.to_string())?;
        let mut lab = PcmkLab {
            nodes: vec![None, None, None],
            servers: vec![None, None, None],
            net,
            root,
            comm,
            mark: None,
        };
        let outcome = (|| -> Res<()> {
            for i in 0..3 {
                lab.prepare(i)?;
            }
            for i in 0..3 {
                lab.boot(i)?;
            }
            let t = Instant::now();
            poll(HEAL_DEADLINE, Duration::from_millis(500), || lab.whole())
                .ok_or("Pacemaker never formed a cluster")?;
            println!(
                "pacemaker: cluster formed in {:.1} s",
                t.elapsed().as_secs_f64()
            );
            let get = |key: &str| {
                lab.exec(0, &["corosync-cmapctl", "-g", key])
                    .ok()
                    .and_then(|s| s.rsplit('=').next().map(|v| v.trim().to_string()))
                    .unwrap_or_else(|| "?".into())
            };
            results.notes.push(format!(
                "pacemaker: corosync.conf token 1000 -> runtime token {} ms, consensus {} ms \
                 (token_coefficient 650 ms per node above two); stonith-enabled=false, so \
                 nothing stops a dead node's VIP; the daemon kinds signal {daemon}",
                get("runtime.config.totem.token"),
                get("runtime.config.totem.consensus")
            ));
            lab.configure()?;
            let hosts: Vec<&Host> = lab.net.hosts()[..3].iter().collect();
            let holders = Holders::start(&hosts);
            let probe = Probe::start(lab.net.host("client"));
            fault_rounds(&mut lab, &probe, &holders, kinds, rounds, results)?;
            if monitor_rounds > 0 {
                super::monitor_rounds(&mut lab, &probe, &holders, monitor_rounds, results)?;
            }
            Ok(())
        })();
        let root = lab.root.clone();
        drop(lab);
        if outcome.is_ok() {
            remove_scratch(&root);
        } else {
            println!("(Pacemaker logs kept in {})", root.display());
        }
        outcome
    }
}
