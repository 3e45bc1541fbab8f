//! Runtime state: servers, backends and frontends of one configuration generation, and
//! the counters that survive reloads.

use crate::balance::{Balancer, Cand, Pick};
use crate::config::{Backend, Frontend, Server};
use crate::engine::logfmt::Logger;
use crate::health::{Change, Event, Health};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify, Semaphore};

/// Operator state of a server (runtime API).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Admin {
    Ready = 0,
    /// No new sessions; existing ones continue.
    Drain = 1,
    /// No traffic at all.
    Maint = 2,
}

impl Admin {
    fn from_u8(v: u8) -> Admin {
        match v {
            1 => Admin::Drain,
            2 => Admin::Maint,
            _ => Admin::Ready,
        }
    }
}

/// Counters of a proxy (frontend or backend), kept across reloads by name.
#[derive(Debug, Default)]
pub struct ProxyStats {
    pub cur: AtomicU64,
    pub max: AtomicU64,
    pub total: AtomicU64,
    pub bytes_in: AtomicU64,
    pub bytes_out: AtomicU64,
    pub denied: AtomicU64,
    pub ereq: AtomicU64,
    pub econ: AtomicU64,
    pub eresp: AtomicU64,
    pub wretr: AtomicU64,
    pub wredis: AtomicU64,
    pub req_tot: AtomicU64,
    pub hrsp: [AtomicU64; 6],
    pub lbtot: AtomicU64,
}

impl ProxyStats {
    pub fn open(&self) {
        let c = self.cur.fetch_add(1, Relaxed) + 1;
        self.max.fetch_max(c, Relaxed);
        self.total.fetch_add(1, Relaxed);
    }
    pub fn close(&self) {
        self.cur.fetch_sub(1, Relaxed);
    }
    pub fn status(&self, code: u16) {
        let i = match code {
            100..=199 => 0,
            200..=299 => 1,
            300..=399 => 2,
            400..=499 => 3,
            500..=599 => 4,
            _ => 5,
        };
        self.hrsp[i].fetch_add(1, Relaxed);
    }
}

/// The last health check of a server, for stats.
#[derive(Debug, Clone, Default)]
pub struct CheckInfo {
    pub status: String,
    pub code: Option<u32>,
    pub duration_ms: u64,
    pub detail: String,
}

/// A server's state shared by every generation that has the same server (backend name,
/// server name, address): health, operator state, counters, sessions.
pub struct ServerShared {
    pub backend: String,
    pub name: String,
    pub addr: SocketAddr,
    pub health: Mutex<Health>,
    pub up: AtomicBool,
    pub admin: AtomicU8,
    /// Held back by the cluster (its host is in standby, or back and not settled yet):
    /// no new sessions while another server of the backend can take them. Apart from
    /// the operator's `admin` state, which it never changes.
    pub held: AtomicBool,
    /// Runtime weight (the configured one until the runtime API or an agent changes it).
    pub weight: AtomicU32,
    /// Runtime connection limit, 0 for none (the configured one until an agent changes it).
    pub maxconn: AtomicU32,
    /// When the server last came back from down or maintenance (its `slowstart`
    /// counts from there).
    pub back_since: Mutex<Option<Instant>>,
    /// The server's agent said it may not serve (`down`, `fail`, `stopped`): down
    /// whatever its health checks say, until the agent says `up`.
    pub agent_down: AtomicBool,
    pub cur: AtomicU32,
    pub max: AtomicU32,
    pub stats: ProxyStats,
    pub chkfail: AtomicU64,
    pub chkdown: AtomicU64,
    pub last_change: Mutex<Instant>,
    pub last_check: Mutex<CheckInfo>,
    /// Bumped to end every session on this server.
    pub kill: watch::Sender<u64>,
    /// Idle HTTP connections to this server (hyper's, for HTTP/2 clients).
    pub pool: Mutex<Vec<crate::engine::http::PooledConn>>,
    /// Idle HTTP/1 connections to this server (for HTTP/1 clients).
    pub h1_pool: Mutex<std::collections::VecDeque<crate::engine::h1::IdleConn>>,
}

impl ServerShared {
    pub fn new(backend: &str, s: &Server) -> ServerShared {
        let (kill, _) = watch::channel(0);
        ServerShared {
            backend: backend.to_string(),
            name: s.name.clone(),
            addr: s.addr,
            health: Mutex::new(Health::new(
                s.check_params.rise,
                s.check_params.fall,
                s.error_limit,
                s.on_error,
            )),
            up: AtomicBool::new(true),
            held: AtomicBool::new(false),
            admin: AtomicU8::new(if s.disabled {
                Admin::Maint as u8
            } else {
                Admin::Ready as u8
            }),
            weight: AtomicU32::new(s.weight),
            maxconn: AtomicU32::new(s.maxconn),
            agent_down: AtomicBool::new(false),
            back_since: Mutex::new(None),
            cur: AtomicU32::new(0),
            max: AtomicU32::new(0),
            stats: ProxyStats::default(),
            chkfail: AtomicU64::new(0),
            chkdown: AtomicU64::new(0),
            last_change: Mutex::new(Instant::now()),
            last_check: Mutex::new(CheckInfo::default()),
            kill,
            pool: Mutex::new(Vec::new()),
            h1_pool: Mutex::new(std::collections::VecDeque::new()),
        }
    }

    pub fn admin(&self) -> Admin {
        Admin::from_u8(self.admin.load(Relaxed))
    }

    pub fn set_admin(&self, a: Admin) {
        self.admin.store(a as u8, Relaxed);
        *lock(&self.last_change) = Instant::now();
    }

    /// During its `slowstart` after coming back, the share of its weight the server
    /// has (in (0, 1)); `None` at full weight.
    pub fn slow_share(&self, slowstart: Option<crate::config::Dur>) -> Option<f64> {
        let ramp = slowstart?.0;
        let mut since = lock(&self.back_since);
        let elapsed = since.as_ref()?.elapsed();
        if elapsed >= ramp {
            *since = None;
            return None;
        }
        Some(elapsed.as_secs_f64() / ramp.as_secs_f64().max(1e-9))
    }

    /// The server is back (up again, or out of maintenance): its `slowstart` begins.
    fn came_back(&self, slowstart: Option<crate::config::Dur>) {
        if slowstart.is_some() {
            *lock(&self.back_since) = Some(Instant::now());
        }
    }

    pub fn kill_sessions(&self) {
        self.kill.send_modify(|v| *v += 1);
        lock(&self.pool).clear();
        lock(&self.h1_pool).clear();
    }

    /// "UP", "DOWN", "MAINT", "DRAIN", "UP 1/3" (going down), "DOWN 1/2" (going up),
    /// "DOWN (agent)", "no check"; a server that tracks another is "UP" or "DOWN" as
    /// that one.
    pub fn status_text(&self, checked: bool, tracks: bool) -> String {
        match self.admin() {
            Admin::Maint => return "MAINT".into(),
            Admin::Drain if self.up.load(Relaxed) => return "DRAIN".into(),
            _ => {}
        }
        if tracks {
            return if self.up.load(Relaxed) { "UP" } else { "DOWN" }.into();
        }
        if self.held.load(Relaxed) && self.up.load(Relaxed) {
            return "DRAIN".into();
        }
        if self.agent_down.load(Relaxed) {
            return "DOWN (agent)".into();
        }
        if !checked {
            return "no check".into();
        }
        let h = lock(&self.health);
        let (v, max) = h.counter();
        if h.is_up() {
            if v == max {
                "UP".into()
            } else {
                format!("UP {}/{}", v - h.rise() + 1, h.fall())
            }
        } else if v == 0 {
            "DOWN".into()
        } else {
            format!("DOWN {v}/{}", h.rise())
        }
    }
}

/// Locks a mutex, ignoring poisoning (the data is counters and small state).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One server in one generation: its configuration and its shared state.
pub struct ServerRt {
    pub cfg: Server,
    pub shared: Arc<ServerShared>,
    /// TLS to the server for its traffic (`ssl`).
    pub tls: Option<Arc<super::tls::Upstream>>,
    /// TLS for its health checks (`check-ssl`).
    pub check_tls: Option<Arc<super::tls::Upstream>>,
}

/// A backend of one generation.
pub struct BackendRt {
    pub cfg: Backend,
    pub servers: Vec<ServerRt>,
    pub stats: Arc<ProxyStats>,
    pub balancer: Mutex<Balancer>,
    pub queue: Notify,
    pub qcur: AtomicU32,
    pub qmax: AtomicU32,
    pub logger: Arc<Logger>,
    /// Some server's sessions may be shut down (`on-marked-down shutdown-sessions`,
    /// `on-marked-up shutdown-backup-sessions`): sessions watch for it.
    pub kills_sessions: bool,
    /// Some server is told the client's addresses (`send-proxy`): the address a
    /// client connected to is then read for each request (a system call).
    pub tells_clients: bool,
    /// The `stick` rules with their tables.
    pub stick: Vec<StickRt>,
    /// For each server, the servers that track it (`track`), in any backend: they go
    /// down and up with it. Set once the generation's backends are all made.
    pub trackers: std::sync::OnceLock<Vec<Trackers>>,
    /// The servers' numbers (`id`, else their order).
    pub server_ids: Vec<u32>,
    /// Its algorithm weighs servers at each choice (round robin, leastconn, random):
    /// a server's `slowstart` then ramps its weight.
    pub ramps: bool,
}

/// The servers that track one server: their backends and their places there.
pub type Trackers = Vec<(std::sync::Weak<BackendRt>, usize)>;

/// A backend's `stick` rule with its table.
pub struct StickRt {
    pub rule: crate::config::StickRule,
    pub table: Arc<super::table::Table>,
}

/// A request's stick keys: for each `stick` rule that applies (its index in
/// [`BackendRt::stick`]), the key its sample gave.
pub type StickKeys = Vec<(usize, super::table::Key)>;

/// Who a session is for: the balance hash of its client's address, its stick keys and
/// the server its persistence cookie names.
#[derive(Debug, Clone, Copy)]
pub struct Affinity<'k> {
    /// What the backend's `balance` hashes (the client's address, a part of the
    /// request), if it hashes and there is one.
    pub hash: Option<u32>,
    /// The keys of the backend's `stick` rules that read the request.
    pub stick: &'k [(usize, super::table::Key)],
    /// The server the request's persistence cookie names.
    pub cookie: Option<usize>,
}

impl Affinity<'_> {
    /// For a client at `peer`, with these stick keys.
    pub fn of<'k>(
        be: &BackendRt,
        peer: std::net::IpAddr,
        stick: &'k [(usize, super::table::Key)],
    ) -> Affinity<'k> {
        Affinity {
            hash: (be.cfg.balance == crate::config::Balance::Source)
                .then(|| crate::balance::hash_ip(peer)),
            stick,
            cookie: None,
        }
    }
}

/// Why no server slot could be had.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoSlot {
    NoServer,
    QueueTimeout,
}

/// A session's claim on a server: released (and the queue woken) when dropped.
pub struct Lease {
    pub backend: Arc<BackendRt>,
    pub idx: usize,
}

impl Lease {
    pub fn server(&self) -> &ServerRt {
        &self.backend.servers[self.idx]
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let s = &self.backend.servers[self.idx].shared;
        s.cur.fetch_sub(1, Relaxed);
        s.stats.cur.fetch_sub(1, Relaxed);
        self.backend.queue.notify_one();
    }
}

impl BackendRt {
    pub fn new(
        cfg: Backend,
        servers: Vec<ServerRt>,
        stats: Arc<ProxyStats>,
        logger: Arc<Logger>,
        tables: &super::table::Tables,
    ) -> BackendRt {
        let stick = cfg
            .stick
            .iter()
            .filter_map(|r| {
                let table = tables.get(&r.table)?.clone();
                table.set_sticky();
                Some(StickRt {
                    rule: r.clone(),
                    table,
                })
            })
            .collect();
        let names: Vec<(&str, u32)> = cfg
            .server
            .iter()
            .map(|s| (s.name.as_str(), s.weight))
            .collect();
        let balancer = Balancer::new(cfg.balance, cfg.hash_consistent, &names);
        let kills_sessions = cfg
            .server
            .iter()
            .any(|s| s.shutdown_sessions_on_down || s.shutdown_backup_sessions_on_up);
        BackendRt {
            tells_clients: cfg.server.iter().any(|s| s.proxy.is_some()),
            kills_sessions,
            stick,
            trackers: std::sync::OnceLock::new(),
            server_ids: cfg.server_ids(),
            ramps: matches!(
                cfg.balance,
                crate::config::Balance::Roundrobin
                    | crate::config::Balance::Leastconn
                    | crate::config::Balance::Random
            ),
            cfg,
            servers,
            stats,
            balancer: Mutex::new(balancer),
            queue: Notify::new(),
            qcur: AtomicU32::new(0),
            qmax: AtomicU32::new(0),
            logger,
        }
    }

    pub fn alive(&self, i: usize) -> bool {
        let s = &self.servers[i];
        s.shared.up.load(Relaxed) && s.shared.admin() != Admin::Maint
    }

    /// Number of usable servers (active, backup).
    pub fn usable(&self) -> (usize, usize) {
        let mut a = (0, 0);
        for (i, s) in self.servers.iter().enumerate() {
            if self.alive(i) {
                if s.cfg.backup {
                    a.1 += 1;
                } else {
                    a.0 += 1;
                }
            }
        }
        a
    }

    /// Whether server `i` may take new sessions by the operator's state and weight
    /// (the cluster's hold aside).
    fn open(&self, i: usize) -> bool {
        let sh = &self.servers[i].shared;
        self.alive(i) && sh.admin() != Admin::Drain && sh.weight.load(Relaxed) > 0
    }

    /// The server the first `stick on|match` key with an entry names, while it may
    /// take the session: up, not in maintenance, not excluded, and not held back by the
    /// cluster while another server could serve (as `pick` weighs held servers).
    fn stuck(&self, keys: &[(usize, super::table::Key)], exclude: &[usize]) -> Option<usize> {
        keys.iter().find_map(|(r, k)| {
            let st = self.stick.get(*r).filter(|st| st.rule.kind.matches())?;
            let name = st.table.stuck(k)?;
            let i = self.servers.iter().position(|s| *s.cfg.name == *name)?;
            self.persists(i, exclude).then_some(i)
        })
    }

    /// Stores server `i` under the keys of the storing rules among `keys`: the first
    /// of each table (a `stick match` stores nothing).
    pub fn remember(&self, keys: &[(usize, super::table::Key)], i: usize) {
        let mut done: Vec<&Arc<super::table::Table>> = Vec::new();
        for (r, k) in keys {
            let Some(st) = self.stick.get(*r) else {
                continue;
            };
            if st.rule.kind == crate::config::StickKind::Match
                || done.iter().any(|t| Arc::ptr_eq(t, &st.table))
            {
                continue;
            }
            done.push(&st.table);
            st.table.stick(
                k,
                super::table::StuckTo {
                    id: self.server_ids[i],
                    name: self.servers[i].cfg.name.as_str().into(),
                },
            );
        }
    }

    /// Whether a session may persist on server `i` (from a stick table or a cookie):
    /// it is alive, not excluded, and not held back while another can serve.
    fn persists(&self, i: usize, exclude: &[usize]) -> bool {
        i < self.servers.len()
            && !exclude.contains(&i)
            && self.alive(i)
            && !(self.held(i) && self.unheld_can_serve(exclude))
    }

    fn held(&self, i: usize) -> bool {
        self.servers[i].shared.held.load(Relaxed)
    }

    /// Whether a server the cluster does not hold back can take a session.
    fn unheld_can_serve(&self, exclude: &[usize]) -> bool {
        (0..self.servers.len()).any(|i| !exclude.contains(&i) && self.open(i) && !self.held(i))
    }

    fn pick(&self, aff: Affinity, exclude: &[usize]) -> Pick {
        let hash = aff.hash;
        // The cluster's hold applies only while another server can take the session
        // (looked for only when some server is held: nearly never).
        let held = |i: usize| self.held(i);
        let hold = (0..self.servers.len()).any(held) && self.unheld_can_serve(exclude);
        let cand = |(i, s): (usize, &ServerRt)| {
            let sh = &s.shared;
            let cur = sh.cur.load(Relaxed);
            let weight = if sh.admin() == Admin::Drain || (hold && held(i)) {
                0
            } else {
                let w = sh.weight.load(Relaxed);
                match self.ramps.then(|| sh.slow_share(s.cfg.slowstart)).flatten() {
                    Some(f) if w > 0 => ((f64::from(w) * f).ceil() as u32).max(1),
                    _ => w,
                }
            };
            Cand {
                weight,
                alive: self.alive(i),
                has_room: {
                    let max = sh.maxconn.load(Relaxed);
                    max == 0 || cur < max
                },
                cur,
                backup: s.cfg.backup,
            }
        };
        // Small backends (the usual case) are looked at without allocating.
        const ON_STACK: usize = 16;
        if self.servers.len() <= ON_STACK {
            let mut buf = [Cand {
                weight: 0,
                alive: false,
                has_room: false,
                cur: 0,
                backup: false,
            }; ON_STACK];
            for (k, x) in self.servers.iter().enumerate().map(cand).enumerate() {
                buf[k] = x;
            }
            lock(&self.balancer).pick(
                &buf[..self.servers.len()],
                hash,
                self.cfg.allbackups,
                exclude,
            )
        } else {
            let cands: Vec<Cand> = self.servers.iter().enumerate().map(cand).collect();
            lock(&self.balancer).pick(&cands, hash, self.cfg.allbackups, exclude)
        }
    }

    fn try_take(self: &Arc<Self>, i: usize) -> Option<Lease> {
        let s = &self.servers[i];
        let max = s.shared.maxconn.load(Relaxed);
        let sh = &s.shared;
        let mut cur = sh.cur.load(Relaxed);
        loop {
            if max != 0 && cur >= max {
                return None;
            }
            match sh.cur.compare_exchange_weak(cur, cur + 1, Relaxed, Relaxed) {
                Ok(_) => break,
                Err(c) => cur = c,
            }
        }
        sh.max.fetch_max(cur + 1, Relaxed);
        sh.stats.open();
        sh.stats.lbtot.fetch_add(1, Relaxed);
        self.stats.lbtot.fetch_add(1, Relaxed);
        Some(Lease {
            backend: self.clone(),
            idx: i,
        })
    }

    /// Chooses a server and takes a slot on it, waiting in the queue while every usable
    /// server is full (up to `timeout queue`, or `timeout connect` as HAProxy does).
    pub async fn acquire(
        self: &Arc<Self>,
        aff: Affinity<'_>,
        exclude: &[usize],
    ) -> Result<Lease, NoSlot> {
        let wait = self
            .cfg
            .timeout_queue
            .or(self.cfg.timeout_connect)
            .map(|d| d.0)
            .unwrap_or(Duration::from_secs(3600));
        let deadline = tokio::time::Instant::now() + wait;
        let mut queued = false;
        let res = loop {
            let notified = self.queue.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let sticky = aff
                .cookie
                .filter(|&i| self.persists(i, exclude))
                .or_else(|| self.stuck(aff.stick, exclude));
            let pick = match sticky {
                Some(i) => Pick::Server(i),
                None => self.pick(aff, exclude),
            };
            match pick {
                Pick::Server(i) => {
                    if let Some(l) = self.try_take(i) {
                        self.remember(aff.stick, i);
                        break Ok(l);
                    }
                    // Lost a race for the last slot: look again.
                    tokio::task::yield_now().await;
                    continue;
                }
                Pick::NoServer if exclude.is_empty() => break Err(NoSlot::NoServer),
                Pick::NoServer => {
                    // Every other server is gone: the excluded one is the only hope.
                    return Box::pin(self.acquire(aff, &[])).await;
                }
                Pick::Full => {
                    if !queued {
                        queued = true;
                        let q = self.qcur.fetch_add(1, Relaxed) + 1;
                        self.qmax.fetch_max(q, Relaxed);
                    }
                    if tokio::time::timeout_at(deadline, notified).await.is_err() {
                        break Err(NoSlot::QueueTimeout);
                    }
                }
            }
        };
        if queued {
            self.qcur.fetch_sub(1, Relaxed);
        }
        res
    }

    /// Feeds a health event for server `i` and applies the consequences of a change.
    pub fn health_event(&self, i: usize, ev: Event, why: &str) {
        let s = &self.servers[i];
        let change = lock(&s.shared.health).on(ev);
        self.apply_change(i, change, why);
    }

    pub fn apply_change(&self, i: usize, change: Change, why: &str) {
        let s = &self.servers[i];
        let was_up = s.shared.up.load(Relaxed);
        self.apply_own_change(i, change, why);
        // The servers that track this one follow it.
        if was_up != s.shared.up.load(Relaxed) {
            let via = format!("via {}/{}", self.cfg.name, s.cfg.name);
            let list = self.trackers.get().and_then(|t| t.get(i));
            for (be, j) in list.into_iter().flatten() {
                if let Some(be) = be.upgrade() {
                    be.apply_change(*j, change, &via);
                }
            }
        }
    }

    fn apply_own_change(&self, i: usize, change: Change, why: &str) {
        let s = &self.servers[i];
        match change {
            Change::None => {}
            // Already down by the agent's word.
            Change::WentDown if !s.shared.up.load(Relaxed) => {}
            Change::WentDown => {
                s.shared.up.store(false, Relaxed);
                s.shared.chkdown.fetch_add(1, Relaxed);
                *lock(&s.shared.last_change) = Instant::now();
                let (a, b) = self.usable();
                self.logger.event_at(
                    1,
                    &format!(
                        "Server {}/{} is DOWN, reason: {why}. {a} active and {b} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                        self.cfg.name,
                        s.cfg.name,
                        s.shared.cur.load(Relaxed)
                    ),
                );
                self.tell_if_none_left();
                lock(&s.shared.pool).clear();
                lock(&s.shared.h1_pool).clear();
                if s.cfg.shutdown_sessions_on_down {
                    s.shared.kill_sessions();
                }
                self.queue.notify_waiters();
            }
            // Kept down by its agent (or already up).
            Change::WentUp if s.shared.agent_down.load(Relaxed) || s.shared.up.load(Relaxed) => {}
            Change::WentUp => {
                s.shared.up.store(true, Relaxed);
                s.shared.came_back(s.cfg.slowstart);
                *lock(&s.shared.last_change) = Instant::now();
                let (a, b) = self.usable();
                self.logger.event(&format!(
                    "Server {}/{} is UP, reason: {why}. {a} active and {b} backup servers online. 0 sessions requeued, 0 total in queue.",
                    self.cfg.name, s.cfg.name
                ));
                if s.cfg.shutdown_backup_sessions_on_up && !s.cfg.backup {
                    for b in self.servers.iter().filter(|b| b.cfg.backup) {
                        b.shared.kill_sessions();
                    }
                }
                self.queue.notify_waiters();
            }
        }
    }

    /// A line from server `i`'s agent: weight (`75%`, of the configured weight),
    /// `maxconn:N`, `ready`/`drain`/`maint`, `up`, or `down`/`fail`/`stopped` (the rest
    /// after `#` as the reason); words apart by spaces, tabs or commas, unknown ones
    /// ignored.
    pub fn agent_said(&self, i: usize, line: &str) {
        let s = &self.servers[i];
        let sh = &s.shared;
        let (words, reason) = line.split_once('#').unwrap_or((line, ""));
        for w in words.split([' ', '\t', ',']).filter(|w| !w.is_empty()) {
            let w = w.to_ascii_lowercase();
            if let Some(pct) = w.strip_suffix('%').and_then(|p| p.parse::<u64>().ok()) {
                let weight = (u64::from(s.cfg.weight) * pct / 100).min(256) as u32;
                sh.weight.store(weight, Relaxed);
                self.queue.notify_waiters();
            } else if let Some(n) = w.strip_prefix("maxconn:").and_then(|n| n.parse().ok()) {
                sh.maxconn.store(n, Relaxed);
                self.queue.notify_waiters();
            } else {
                match w.as_str() {
                    "ready" if sh.admin() != Admin::Ready => self.set_admin(i, Admin::Ready),
                    "drain" if sh.admin() != Admin::Drain => self.set_admin(i, Admin::Drain),
                    "maint" if sh.admin() != Admin::Maint => self.set_admin(i, Admin::Maint),
                    "up" => {
                        sh.agent_down.store(false, Relaxed);
                        let healthy = !s.cfg.check || lock(&sh.health).is_up();
                        if healthy {
                            self.apply_change(i, Change::WentUp, "Agent reports UP");
                        }
                    }
                    "down" | "fail" | "stopped" => {
                        sh.agent_down.store(true, Relaxed);
                        let why = match reason.trim() {
                            "" => format!("Agent reports {}", w.to_ascii_uppercase()),
                            r => format!("Agent reports {}: {r}", w.to_ascii_uppercase()),
                        };
                        self.apply_change(i, Change::WentDown, &why);
                    }
                    _ => {}
                }
            }
        }
    }

    /// The operator puts server `i` in maintenance, drain or back in service (`disable
    /// server`, `set server ... state`, `enable server`); logged as HAProxy does.
    pub fn set_admin(&self, i: usize, to: Admin) {
        let s = &self.servers[i];
        let was = s.shared.admin();
        s.shared.set_admin(to);
        let name = format!("{}/{}", self.cfg.name, s.cfg.name);
        match (was, to) {
            (Admin::Maint, Admin::Maint) => {}
            (_, Admin::Maint) => {
                let (a, b) = self.usable();
                self.logger.event_at(
                    1,
                    &format!(
                        "Server {name} is going DOWN for maintenance. {a} active and {b} backup servers left. {} sessions active, 0 requeued, 0 remaining in queue.",
                        s.shared.cur.load(Relaxed)
                    ),
                );
                self.tell_if_none_left();
            }
            (Admin::Maint, _) => {
                s.shared.came_back(s.cfg.slowstart);
                let state = if s.shared.up.load(Relaxed) {
                    "UP/READY"
                } else {
                    "DOWN"
                };
                self.logger.event(&format!(
                    "Server {name} is {state} (leaving forced maintenance)."
                ));
            }
            _ => {}
        }
        self.queue.notify_waiters();
    }

    /// "backend B has no server available!" (severity emergency) when none is left.
    fn tell_if_none_left(&self) {
        if self.usable() == (0, 0) {
            self.logger.event_at(
                0,
                &format!("backend {} has no server available!", self.cfg.name),
            );
        }
    }

    /// Should retry number `r` (1-based) go to another server? HAProxy's interval rule.
    pub fn redispatch_on(&self, r: u32) -> bool {
        let Some(rd) = self.cfg.redispatch else {
            return false;
        };
        let retries = self.cfg.retries as i64;
        if rd.interval > 0 {
            (r as i64) % (rd.interval as i64) == 0
        } else {
            r as i64 == retries + 1 + rd.interval as i64
        }
    }
}

/// The configuration's `userlist`s, and the credentials found good lately (a hash of
/// list, user and password), so that a client sending the same ones on every request
/// does not cost a crypt(3) each time.
pub struct Auth {
    lists: Vec<crate::config::Userlist>,
    good: std::sync::Mutex<std::collections::HashSet<[u8; 32]>>,
}

impl Auth {
    pub fn new(lists: Vec<crate::config::Userlist>) -> Auth {
        Auth {
            lists,
            good: Default::default(),
        }
    }

    /// Whether `user` and `password` are those of a user of list `list`.
    pub fn check(&self, list: &str, user: &str, password: &str) -> bool {
        use sha2::Digest;
        let Some(l) = self.lists.iter().find(|l| l.name == list) else {
            return false;
        };
        let mut h = sha2::Sha256::new();
        for part in [list, user, password] {
            h.update(part.as_bytes());
            h.update([0]);
        }
        let key: [u8; 32] = h.finalize().into();
        if lock(&self.good).contains(&key) {
            return true;
        }
        let ok = l.check(user, password);
        if ok {
            let mut good = lock(&self.good);
            if good.len() >= 1024 {
                good.clear();
            }
            good.insert(key);
        }
        ok
    }
}

/// Where a `use_backend` rule sends: a backend, or the one a log-format names.
pub enum Route {
    Fixed(Arc<BackendRt>),
    Named(crate::sample::LogFmt),
}

/// A frontend of one generation.
pub struct FrontendRt {
    pub cfg: Frontend,
    pub default_backend: Option<Arc<BackendRt>>,
    pub rules: Vec<(crate::config::UseBackend, Route)>,
    /// Every backend by name, for `use_backend` names made of samples.
    pub by_name: Arc<HashMap<String, Arc<BackendRt>>>,
    pub stats: Arc<ProxyStats>,
    pub sem: Arc<Semaphore>,
    pub logger: Arc<Logger>,
    /// The traffic lines' format (`None`: HAProxy's short default line).
    pub log_line: Option<crate::sample::LogFmt>,
    /// Forward TCP with splice(2) (global `nosplice` turns it off).
    pub splice: bool,
    /// The `userlist`s, for `http_auth()`.
    pub auth: Arc<Auth>,
    /// TLS listeners' acceptors, by bind address (and inherited descriptor).
    pub tls: Vec<(std::net::SocketAddr, Option<i32>, tokio_rustls::TlsAcceptor)>,
    /// Whether this frontend or any backend has `http-after-response` rules.
    pub after_any: bool,
    /// Some backend it may route to talks TLS to its servers: its HTTP/1 clients are
    /// served by the HTTP engine that can (hyper's), not by the splicing one.
    pub upstream_tls: bool,
    /// The configuration's stick tables (with counters), by section.
    pub tables: Arc<super::table::Tables>,
    /// The process's variables (`proc.`).
    pub proc_vars: Arc<std::sync::Mutex<std::collections::HashMap<String, crate::sample::Value>>>,
}
