//! A small network of "hosts" in Linux network namespaces, for tests that need real,
//! separate network stacks on one machine (virtual IPs, ARP, partitions).
//!
//! Topology of one [`Net`]: a private "switch" namespace holds a Linux bridge `br0`;
//! every host is its own namespace with one interface `eth0`, a veth pair whose other
//! end (`p1`, `p2`, ...) is a port of the bridge. Hosts get `10.213.0.(11+i)/24` and
//! `fd00:213::(11+i)/64` (i = 0, 1, ...) and the MAC `02:13:00:00:00:(11+i)`. Nothing is
//! created in, or changed in, the namespace the test runs in: every interface, address,
//! bridge and qdisc lives inside namespaces this module creates and deletes.
//!
//! Names are unique per test (`halo-<pid>-<n>-<host>`) so tests run in parallel; a
//! [`Net`] deletes its namespaces (killing what runs in them) on drop, also when the
//! test panics; namespaces left by a killed run (their pid is dead) are deleted the
//! next time a process creates a [`Net`].
//!
//! Shell commands (`ip`, `tc`) drive the set-up: this is test support; product code
//! uses netlink.

use std::{
    collections::BTreeSet,
    fmt,
    fs::File,
    future::Future,
    io::Write as _,
    net::{Ipv4Addr, Ipv6Addr},
    path::Path,
    process::{Child, Command, Output, Stdio},
    sync::{
        atomic::{AtomicU32, Ordering},
        Mutex, OnceLock,
    },
    time::Duration,
};

use nix::sched::CloneFlags;

/// The interface name of every host.
pub const IFNAME: &str = "eth0";
/// Prefix length of the hosts' IPv4 subnet (10.213.0.0/24).
pub const PREFIX_V4: u8 = 24;
/// Prefix length of the hosts' IPv6 subnet (fd00:213::/64).
pub const PREFIX_V6: u8 = 64;
/// Directory where `ip netns` keeps its namespaces.
const NETNS_DIR: &str = "/run/netns";
/// First host number used in addresses (host i gets .11+i).
const FIRST_HOST: u8 = 11;
/// Most hosts in one [`Net`] (keeps host numbers below the spare addresses).
pub const MAX_HOSTS: usize = 80;

/// A failure to build or change the test network.
#[derive(Debug)]
pub struct NetError(pub String);

impl fmt::Display for NetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for NetError {}

type Result<T, E = NetError> = std::result::Result<T, E>;

/// An address of the shared subnet that no host has (for VIPs): `10.213.0.(200+n)`.
pub fn spare_v4(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(10, 213, 0, 200u8.saturating_add(n))
}

/// An IPv6 address of the shared subnet that no host has: `fd00:213::2nn` (n < 100).
pub fn spare_v6(n: u8) -> Ipv6Addr {
    Ipv6Addr::new(0xfd00, 0x213, 0, 0, 0, 0, 0, 0x200 + u16::from(n))
}

/// Whether the calling thread's network namespace has `ip` on an interface (read with
/// getifaddrs, cheap enough to sample every few milliseconds; run it inside a host with
/// [`Host::spawn_in_ns`]).
pub fn has_ipv4(ip: Ipv4Addr) -> bool {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return false;
    };
    addrs
        .filter_map(|a| a.address)
        .filter_map(|a| a.as_sockaddr_in().map(|s| s.ip()))
        .any(|a| a == ip)
}

/// Whether this process can build network namespaces (root, CAP_NET_ADMIN, CAP_NET_RAW,
/// CAP_SYS_ADMIN, the `ip` command). When it cannot, prints a visible
/// `skipped: ...` line naming the test and the reason, and returns false: the test
/// must then return at once. With `HALO_TEST_REQUIRE_NETNS=1` in the environment a
/// missing capability fails the test instead (for CI, where these tests must run).
pub fn require_netns() -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    match PROBE.get_or_init(probe) {
        Ok(()) => true,
        Err(why) => {
            let test = std::thread::current()
                .name()
                .unwrap_or("this test")
                .to_string();
            let line = format!(
                "{test}: skipped: needs root and CAP_NET_ADMIN (network namespaces): {why}"
            );
            if std::env::var_os("HALO_TEST_REQUIRE_NETNS").is_some_and(|v| v != "0") {
                panic!("{line} (HALO_TEST_REQUIRE_NETNS is set)");
            }
            // Straight to the stderr handle: libtest does not capture this, so the skip
            // is visible in a normal `cargo test` run.
            let _ = writeln!(std::io::stderr(), "{line}");
            false
        }
    }
}

fn probe() -> Result<(), String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|e| format!("cannot read /proc/self/status: {e}"))?;
    let field = |key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim().to_string())
    };
    let uid = field("Uid:").unwrap_or_default();
    if uid.split_whitespace().nth(1) != Some("0") {
        return Err(format!("not running as root (uid {uid})"));
    }
    let cap_eff = field("CapEff:")
        .and_then(|v| u64::from_str_radix(&v, 16).ok())
        .unwrap_or(0);
    for (bit, name) in [
        (12, "CAP_NET_ADMIN"),
        (13, "CAP_NET_RAW"),
        (21, "CAP_SYS_ADMIN"),
    ] {
        if cap_eff & (1u64 << bit) == 0 {
            return Err(format!("{name} is not in the effective capability set"));
        }
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Err(format!("`ip -V` failed: {}", o.status)),
        Err(e) => return Err(format!("the `ip` command (iproute2) is missing: {e}")),
    }
    let name = format!("halo-{}-probe", std::process::id());
    ip(&["netns", "add", &name]).map_err(|e| e.0)?;
    let exec = run(Command::new("ip").args(["netns", "exec", &name, "ip", "link", "show", "lo"]));
    let del = ip(&["netns", "del", &name]);
    exec.map_err(|e| e.0)?;
    del.map_err(|e| e.0)?;
    Ok(())
}

/// `11` -> `0x11`: host .11 gets `fd00:213::11`, easy to read next to `10.213.0.11`.
fn decimal_as_hex(n: u8) -> u16 {
    u16::from(n / 100) * 0x100 + u16::from(n / 10 % 10) * 0x10 + u16::from(n % 10)
}

/// Runs a command and returns its stdout, or an error naming the command and its stderr.
fn run(cmd: &mut Command) -> Result<String> {
    let out: Output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|e| NetError(format!("cannot run {cmd:?}: {e}")))?;
    if !out.status.success() {
        return Err(NetError(format!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> Result<String> {
    run(Command::new("ip").args(args))
}

fn ip_in(ns: &str, args: &[&str]) -> Result<String> {
    run(Command::new("ip").arg("-n").arg(ns).args(args))
}

fn tc_in(ns: &str, args: &[&str]) -> Result<String> {
    run(Command::new("ip")
        .args(["netns", "exec", ns, "tc"])
        .args(args))
}

/// The pid encoded in a namespace name `halo-<pid>-...`.
fn owner_pid(name: &str) -> Option<u32> {
    name.strip_prefix("halo-")?.split('-').next()?.parse().ok()
}

/// SIGKILLs every process whose network namespace is `ns` (except this process).
pub(crate) fn kill_ns_processes(ns: &str) {
    let me = std::process::id();
    let Ok(out) = ip(&["netns", "pids", ns]) else {
        return;
    };
    for pid in out.split_whitespace().filter_map(|p| p.parse::<i32>().ok()) {
        if pid as u32 != me {
            let _ = nix::sys::signal::kill(
                nix::unistd::Pid::from_raw(pid),
                nix::sys::signal::Signal::SIGKILL,
            );
        }
    }
}

fn delete_ns(ns: &str) -> Result<()> {
    kill_ns_processes(ns);
    ip(&["netns", "del", ns]).map(|_| ())
}

/// Deletes namespaces left by earlier test processes that are gone (names
/// `halo-<pid>-...` whose pid no longer exists). Returns the names deleted. Runs
/// automatically, once per process, before the first [`Net`] is built.
pub fn cleanup_stale() -> Vec<String> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir(NETNS_DIR) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in dir.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = owner_pid(&name) else {
            continue;
        };
        if pid == me || Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if delete_ns(&name).is_ok() {
            removed.push(name);
        }
    }
    removed
}

/// Name prefix of the nftables tables (one per device) used for loss when the kernel
/// has no netem.
const NFT_TABLE: &str = "halo_loss";

/// Whether this kernel has `sch_netem` (so [`Net::netem`] can add delay); probed once
/// in a scratch namespace.
pub fn netem_delay_available() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        let ns = format!("halo-{}-netemprobe", std::process::id());
        if ip(&["netns", "add", &ns]).is_err() {
            return false;
        }
        let ok = tc_in(
            &ns,
            &["qdisc", "add", "dev", "lo", "root", "netem", "delay", "1ms"],
        )
        .is_ok();
        let _ = ip(&["netns", "del", &ns]);
        ok
    })
}

/// One-way delay and loss added to a host's link (both directions) by [`Net::netem`].
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Netem {
    /// Added to every packet in each direction (so a round trip gets twice this).
    pub delay: Duration,
    /// Random variation of the delay (uniform, ±).
    pub jitter: Duration,
    /// Share of packets dropped in each direction, 0.0 to 100.0.
    pub loss_percent: f64,
}

/// A neighbour-table entry of a host, as `ip neigh` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Neighbour {
    /// The link-layer address, absent for INCOMPLETE/FAILED entries.
    pub lladdr: Option<[u8; 6]>,
    /// The NUD state words (`REACHABLE`, `STALE`, `DELAY`, ...).
    pub state: String,
}

/// Formats a MAC address as `aa:bb:cc:dd:ee:ff`.
pub fn mac_string(mac: &[u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in mac.iter_mut() {
        *b = u8::from_str_radix(parts.next()?, 16).ok()?;
    }
    parts.next().is_none().then_some(mac)
}

/// One host: a network namespace with `lo` and `eth0`.
#[derive(Debug)]
pub struct Host {
    name: String,
    netns: String,
    port: String,
    ipv4: Ipv4Addr,
    ipv6: Ipv6Addr,
    mac: [u8; 6],
}

impl Host {
    /// The short name given to [`Net::new`].
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The namespace name (for `ip netns exec`, `ip -n`).
    pub fn netns(&self) -> &str {
        &self.netns
    }
    /// The host's own IPv4 address on `eth0`.
    pub fn ipv4(&self) -> Ipv4Addr {
        self.ipv4
    }
    /// The host's own IPv6 address on `eth0`.
    pub fn ipv6(&self) -> Ipv6Addr {
        self.ipv6
    }
    /// The MAC address of `eth0`.
    pub fn mac(&self) -> [u8; 6] {
        self.mac
    }
    /// The interface name (`eth0`).
    pub fn ifname(&self) -> &'static str {
        IFNAME
    }

    /// A command that runs `program` inside this host (`ip netns exec`).
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.netns]).arg(program);
        cmd
    }

    /// Runs `program args` inside this host; its stdout, or an error with its stderr.
    pub fn run(&self, program: &str, args: &[&str]) -> Result<String> {
        run(self.command(program).args(args))
    }

    /// Runs `ip ARGS` inside this host.
    pub fn ip(&self, args: &[&str]) -> Result<String> {
        ip_in(&self.netns, args)
    }

    /// This host's IPv4 addresses with their prefix length (`10.0.0.1/24`), by `ip`.
    pub fn addresses_v4(&self) -> Vec<String> {
        self.ip(&["-4", "-o", "addr", "show"])
            .unwrap_or_default()
            .lines()
            .filter_map(|l| {
                let mut w = l.split_whitespace();
                w.find(|x| *x == "inet").and_then(|_| w.next())
            })
            .map(str::to_string)
            .collect()
    }

    /// Whether this host has the IPv4 address `ip` on an interface ([`has_ipv4`] inside
    /// its namespace).
    pub fn holds(&self, ip: &str) -> bool {
        ip.parse::<Ipv4Addr>()
            .is_ok_and(|ip| self.in_ns(|| has_ipv4(ip)).unwrap_or(false))
    }

    /// Starts `cmd` (made with [`Host::command`]); the process is killed and reaped when
    /// the returned guard drops.
    pub fn spawn(&self, cmd: &mut Command) -> Result<Proc> {
        let child = cmd
            .spawn()
            .map_err(|e| NetError(format!("cannot start {cmd:?} in {}: {e}", self.name)))?;
        Ok(Proc { child })
    }

    /// SIGKILLs every process running in this host (as when the host dies).
    pub fn kill_processes(&self) {
        kill_ns_processes(&self.netns);
    }

    /// Sets a sysctl inside this host (`net.ipv4.conf.all.arp_notify`, ...).
    pub fn sysctl(&self, key: &str, value: &str) -> Result<()> {
        let path = format!("/proc/sys/{}", key.replace('.', "/"));
        self.in_ns(|| std::fs::write(&path, value))?
            .map_err(|e| NetError(format!("sysctl {key}={value} in {}: {e}", self.name)))
    }

    /// Brings this host's own `eth0` administratively up or down (from inside the host).
    pub fn set_link_up(&self, up: bool) -> Result<()> {
        self.ip(&["link", "set", IFNAME, if up { "up" } else { "down" }])
            .map(|_| ())
    }

    /// The host's neighbour-table entry for `ip` on `eth0`, if any.
    pub fn neighbour(&self, ip: std::net::IpAddr) -> Result<Option<Neighbour>> {
        let out = self.ip(&["neigh", "show", "to", &ip.to_string(), "dev", IFNAME])?;
        let Some(line) = out.lines().find(|l| !l.trim().is_empty()) else {
            return Ok(None);
        };
        let mut words = line.split_whitespace().skip(1).peekable();
        let mut lladdr = None;
        let mut state = Vec::new();
        while let Some(w) = words.next() {
            match w {
                "lladdr" => lladdr = words.next().and_then(parse_mac),
                "router" | "proxy" => {}
                w if w.chars().all(|c| c.is_ascii_uppercase()) => state.push(w),
                _ => {}
            }
        }
        Ok(Some(Neighbour {
            lladdr,
            state: state.join(" "),
        }))
    }

    /// Runs `f` on a thread that has entered this host's network namespace: sockets and
    /// netlink connections made there belong to the host. A panic in `f` propagates.
    pub fn in_ns<F, R>(&self, f: F) -> Result<R>
    where
        F: FnOnce() -> R + Send,
        R: Send,
    {
        let path = format!("{NETNS_DIR}/{}", self.netns);
        let joined = std::thread::scope(|s| {
            s.spawn(|| -> Result<R> {
                let file =
                    File::open(&path).map_err(|e| NetError(format!("cannot open {path}: {e}")))?;
                nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                    .map_err(|e| NetError(format!("setns({path}): {e}")))?;
                Ok(f())
            })
            .join()
        });
        match joined {
            Ok(r) => r,
            Err(panic) => std::panic::resume_unwind(panic),
        }
    }

    /// Like [`Host::in_ns`] but in the background: `f` runs on a new thread inside this
    /// host; join the handle for its result.
    pub fn spawn_in_ns<F, R>(&self, f: F) -> std::thread::JoinHandle<Result<R>>
    where
        F: FnOnce() -> R + Send + 'static,
        R: Send + 'static,
    {
        let path = format!("{NETNS_DIR}/{}", self.netns);
        std::thread::spawn(move || {
            let file =
                File::open(&path).map_err(|e| NetError(format!("cannot open {path}: {e}")))?;
            nix::sched::setns(&file, CloneFlags::CLONE_NEWNET)
                .map_err(|e| NetError(format!("setns({path}): {e}")))?;
            Ok(f())
        })
    }

    /// A tokio runtime whose worker threads live in this host: tasks given to
    /// [`NsRuntime::run`] / [`NsRuntime::spawn`] open their sockets inside the host, and
    /// background tasks keep running between calls (like a daemon on that host).
    pub fn runtime(&self) -> Result<NsRuntime> {
        let name = format!("ns-{}", self.name);
        let rt = self.in_ns(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(name)
                .enable_all()
                .build()
        })?;
        rt.map(|rt| NsRuntime { rt })
            .map_err(|e| NetError(format!("tokio runtime in {}: {e}", self.name)))
    }
}

/// A tokio runtime bound to one host's namespace (see [`Host::runtime`]).
pub struct NsRuntime {
    rt: tokio::runtime::Runtime,
}

impl NsRuntime {
    /// Runs `fut` as a task on the host's worker threads and waits for its output. A
    /// panic in the task propagates.
    pub fn run<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        match self.rt.block_on(self.rt.spawn(fut)) {
            Ok(v) => v,
            Err(e) => match e.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                Err(e) => panic!("task in namespace runtime was cancelled: {e}"),
            },
        }
    }

    /// Starts `fut` in the background on the host's worker threads.
    pub fn spawn<F>(&self, fut: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        self.rt.spawn(fut)
    }

    /// The runtime's handle.
    pub fn handle(&self) -> &tokio::runtime::Handle {
        self.rt.handle()
    }
}

/// A process started in a host; killed and reaped on drop.
#[derive(Debug)]
pub struct Proc {
    child: Child,
}

impl Proc {
    /// The process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }
    /// The child, to read its pipes or poll it.
    pub fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }
    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }
    /// SIGKILLs the process and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

static NEXT_NET: AtomicU32 = AtomicU32::new(0);

/// A network of hosts on one bridge, deleted on drop.
#[derive(Debug)]
pub struct Net {
    id: String,
    switch: String,
    hosts: Vec<Host>,
    /// Every namespace created so far, deleted in reverse order on drop.
    created: Vec<String>,
    /// Extra bridges made by [`Net::partition`] (`br1`, `br2`, ...).
    bridges: Mutex<BTreeSet<usize>>,
}

impl Net {
    /// Builds a network with one host per name (short names: lowercase letters and
    /// digits, at most 12 characters), all on one bridge, links up, addresses set.
    /// Host i (in the order given) gets `10.213.0.(11+i)/24`, `fd00:213::(11+i)/64`.
    pub fn new(names: &[&str]) -> Result<Net> {
        static CLEANED: OnceLock<()> = OnceLock::new();
        CLEANED.get_or_init(|| {
            cleanup_stale();
        });
        if names.is_empty() || names.len() > MAX_HOSTS {
            return Err(NetError(format!(
                "a Net needs 1 to {MAX_HOSTS} hosts, got {}",
                names.len()
            )));
        }
        let id = format!(
            "halo-{}-{}",
            std::process::id(),
            NEXT_NET.fetch_add(1, Ordering::Relaxed)
        );
        let mut net = Net {
            switch: format!("{id}-sw"),
            id,
            hosts: Vec::new(),
            created: Vec::new(),
            bridges: Mutex::new(BTreeSet::new()),
        };
        // From here on, an early return drops `net`, which deletes what exists.
        ip(&["netns", "add", &net.switch])?;
        net.created.push(net.switch.clone());
        let sw = net.switch.clone();
        ip_in(&sw, &["link", "set", "lo", "up"])?;
        net.add_bridge(0)?;
        for (i, name) in names.iter().enumerate() {
            let valid = !name.is_empty()
                && name.len() <= 12
                && name != &"sw"
                && name
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
            if !valid || names[..i].contains(name) {
                return Err(NetError(format!(
                    "host name {name:?}: use a unique short name of lowercase letters and \
                     digits (at most 12, not \"sw\")"
                )));
            }
            let n = FIRST_HOST + i as u8;
            let host = Host {
                name: name.to_string(),
                netns: format!("{}-{name}", net.id),
                port: format!("p{}", i + 1),
                ipv4: Ipv4Addr::new(10, 213, 0, n),
                ipv6: Ipv6Addr::new(0xfd00, 0x213, 0, 0, 0, 0, 0, decimal_as_hex(n)),
                mac: [0x02, 0x13, 0, 0, 0, n],
            };
            ip(&["netns", "add", &host.netns])?;
            net.created.push(host.netns.clone());
            let ns = host.netns.clone();
            ip_in(&ns, &["link", "set", "lo", "up"])?;
            ip_in(
                &sw,
                &[
                    "link", "add", &host.port, "type", "veth", "peer", "name", IFNAME, "netns", &ns,
                ],
            )?;
            ip_in(&sw, &["link", "set", &host.port, "master", "br0", "up"])?;
            ip_in(
                &ns,
                &[
                    "link",
                    "set",
                    IFNAME,
                    "address",
                    &mac_string(&host.mac),
                    "up",
                ],
            )?;
            ip_in(
                &ns,
                &[
                    "addr",
                    "add",
                    &format!("{}/{PREFIX_V4}", host.ipv4),
                    "dev",
                    IFNAME,
                ],
            )?;
            ip_in(
                &ns,
                &[
                    "addr",
                    "add",
                    &format!("{}/{PREFIX_V6}", host.ipv6),
                    "dev",
                    IFNAME,
                    "nodad",
                ],
            )?;
            net.hosts.push(host);
        }
        Ok(net)
    }

    /// The prefix shared by all this network's namespace names (`halo-<pid>-<n>`).
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The namespace that holds the bridge.
    pub fn switch_netns(&self) -> &str {
        &self.switch
    }

    /// All hosts, in the order given to [`Net::new`].
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// The host called `name`. Panics (a bug in the test) when there is none.
    pub fn host(&self, name: &str) -> &Host {
        match self.hosts.iter().find(|h| h.name == name) {
            Some(h) => h,
            None => panic!("no host {name:?} in this Net (hosts: {:?})", self.names()),
        }
    }

    fn names(&self) -> Vec<&str> {
        self.hosts.iter().map(|h| h.name.as_str()).collect()
    }

    fn add_bridge(&self, n: usize) -> Result<String> {
        let br = format!("br{n}");
        let mut made = self
            .bridges
            .lock()
            .map_err(|_| NetError("bridge list lock poisoned".into()))?;
        if made.insert(n) {
            ip_in(
                &self.switch,
                &["link", "add", &br, "type", "bridge", "mcast_snooping", "0"],
            )?;
            ip_in(&self.switch, &["link", "set", &br, "up"])?;
        }
        Ok(br)
    }

    /// Cuts `host` off the network: its switch port goes down (the host sees no
    /// carrier), as when its cable is pulled.
    pub fn cut(&self, host: &str) -> Result<()> {
        let port = &self.host(host).port;
        ip_in(&self.switch, &["link", "set", port, "down"]).map(|_| ())
    }

    /// Undoes [`Net::cut`] for one host.
    pub fn reconnect(&self, host: &str) -> Result<()> {
        let port = &self.host(host).port;
        ip_in(&self.switch, &["link", "set", port, "up"]).map(|_| ())
    }

    /// Splits the network: each group gets a bridge of its own, so hosts reach only the
    /// members of their group. Hosts named in no group stay together on a further
    /// group of their own. [`Net::heal`] joins everything again.
    pub fn partition(&self, groups: &[&[&str]]) -> Result<()> {
        for name in groups.iter().flat_map(|g| g.iter()) {
            self.host(name);
        }
        for host in &self.hosts {
            let group = groups
                .iter()
                .position(|g| g.contains(&host.name.as_str()))
                .map_or(0, |k| k + 1);
            let br = self.add_bridge(group)?;
            ip_in(&self.switch, &["link", "set", &host.port, "master", &br])?;
        }
        Ok(())
    }

    /// Adds delay/loss to `host`'s link in both directions (replacing earlier netem).
    ///
    /// Uses `tc qdisc ... netem` on both ends of the host's veth. Kernels without
    /// `sch_netem` still get loss (no delay): an nftables `netdev` egress rule on both
    /// ends drops that share of all frames; asking for delay there is an error (see
    /// [`netem_delay_available`]).
    pub fn netem(&self, host: &str, netem: Netem) -> Result<()> {
        let h = self.host(host);
        self.clear_netem(host);
        let ends = [
            (h.netns.as_str(), IFNAME),
            (self.switch.as_str(), h.port.as_str()),
        ];
        if netem_delay_available() {
            let mut args: Vec<String> = vec![
                "qdisc".into(),
                "replace".into(),
                "dev".into(),
                String::new(),
                "root".into(),
                "netem".into(),
                "delay".into(),
                format!("{}us", netem.delay.as_micros()),
            ];
            if !netem.jitter.is_zero() {
                args.push(format!("{}us", netem.jitter.as_micros()));
            }
            if netem.loss_percent > 0.0 {
                args.extend(["loss".into(), format!("{}%", netem.loss_percent)]);
            }
            for (ns, dev) in ends {
                args[3] = dev.to_string();
                let refs: Vec<&str> = args.iter().map(String::as_str).collect();
                tc_in(ns, &refs)?;
            }
            return Ok(());
        }
        if !netem.delay.is_zero() || !netem.jitter.is_zero() {
            return Err(NetError(
                "this kernel has no sch_netem (tc netem): delay cannot be emulated; \
                 loss alone can (nftables fallback)"
                    .into(),
            ));
        }
        if netem.loss_percent <= 0.0 {
            return Ok(());
        }
        // Per 10,000 frames, so fractions of a percent work.
        let per_10k = (netem.loss_percent.min(100.0) * 100.0).round() as u32;
        let rule = if per_10k >= 10_000 {
            "drop".to_string()
        } else {
            format!("numgen random mod 10000 < {per_10k} drop")
        };
        for (ns, dev) in ends {
            let rules = format!(
                "table netdev {NFT_TABLE}_{dev} {{\n  chain loss {{ type filter hook egress device \"{dev}\" \
                 priority 0; {rule}; }}\n}}\n"
            );
            let mut child = Command::new("ip")
                .args(["netns", "exec", ns, "nft", "-f", "-"])
                .stdin(Stdio::piped())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .map_err(|e| NetError(format!("cannot run nft (package nftables): {e}")))?;
            if let Some(mut stdin) = child.stdin.take() {
                stdin
                    .write_all(rules.as_bytes())
                    .map_err(|e| NetError(format!("nft stdin: {e}")))?;
            }
            let out = child
                .wait_with_output()
                .map_err(|e| NetError(format!("nft: {e}")))?;
            if !out.status.success() {
                return Err(NetError(format!(
                    "nft loss rule in {ns} failed: {}",
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
        }
        Ok(())
    }

    /// Removes any delay/loss from `host`'s link.
    pub fn clear_netem(&self, host: &str) {
        let h = self.host(host);
        for (ns, dev) in [
            (h.netns.as_str(), IFNAME),
            (self.switch.as_str(), h.port.as_str()),
        ] {
            let _ = tc_in(ns, &["qdisc", "del", "dev", dev, "root"]);
            let _ = run(Command::new("ip").args([
                "netns",
                "exec",
                ns,
                "nft",
                "delete",
                "table",
                "netdev",
                &format!("{NFT_TABLE}_{dev}"),
            ]));
        }
    }

    /// Undoes every fault: all ports back on `br0` and up, no netem.
    pub fn heal(&self) -> Result<()> {
        for h in &self.hosts {
            ip_in(
                &self.switch,
                &["link", "set", &h.port, "master", "br0", "up"],
            )?;
            self.clear_netem(&h.name);
        }
        Ok(())
    }

    /// Kills every process of `host` (as when the machine dies; see also [`Net::cut`]).
    pub fn kill(&self, host: &str) {
        self.host(host).kill_processes();
    }
}

impl Drop for Net {
    fn drop(&mut self) {
        for ns in self.created.iter().rev() {
            if let Err(e) = delete_ns(ns) {
                let _ = writeln!(std::io::stderr(), "testkit: cleanup: {e}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_pid_parses_only_halo_names() {
        assert_eq!(owner_pid("halo-1234-0-a"), Some(1234));
        assert_eq!(owner_pid("halo-99-probe"), Some(99));
        assert_eq!(owner_pid("halo-x-0-a"), None);
        assert_eq!(owner_pid("other-1234-0"), None);
    }

    #[test]
    fn mac_round_trip() {
        let mac = [0x02, 0x13, 0, 0, 0xab, 0x0b];
        assert_eq!(mac_string(&mac), "02:13:00:00:ab:0b");
        assert_eq!(parse_mac(&mac_string(&mac)), Some(mac));
        assert_eq!(parse_mac("02:13:00"), None);
        assert_eq!(parse_mac("02:13:00:00:ab:0b:01"), None);
    }

    #[test]
    fn spare_addresses_are_outside_host_range() {
        assert_eq!(spare_v4(0), Ipv4Addr::new(10, 213, 0, 200));
        assert_eq!(spare_v6(5).to_string(), "fd00:213::205");
        assert!(FIRST_HOST as usize + MAX_HOSTS < 200);
        assert_eq!(decimal_as_hex(11), 0x11);
        assert_eq!(decimal_as_hex(90), 0x90);
    }
}
