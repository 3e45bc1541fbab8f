//! The running load balancer: listeners, sessions, health-check tasks, reload.
//!
//! One tokio multi-thread runtime owned by the [`Engine`]. Each `bind` address gets one
//! `SO_REUSEPORT` socket per worker thread, bound with `IP_FREEBIND` so an address the
//! node does not hold yet (a VIP) can be bound in advance. A configuration *generation*
//! (frontends, backends, servers) is swapped atomically on reload; sessions keep the
//! generation they started with, listeners whose address did not change are kept open
//! (no refused connection), and server state (health, counters, operator state) carries
//! over by backend/server name and address.

pub mod admin;
pub mod h1;
pub mod http;
pub mod logfmt;
mod payload;
pub(crate) mod proxy_proto;
mod rules;
pub mod state;
pub mod stats;
pub mod table;
pub mod tcp;
pub(crate) mod tls;

use crate::config::{Bind, Config, Mode};
use crate::health::Event;
use crate::probe::{probe, ProbeTimeouts};
use arc_swap::ArcSwap;
use logfmt::Logger;
use socket2::{Domain, Socket, Type};
use state::*;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;

/// Why the engine could not start or reload.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("HALO-E110 {place}: cannot bind {addr}: {source}{hint}")]
    Bind {
        place: String,
        addr: SocketAddr,
        source: std::io::Error,
        hint: &'static str,
    },
    #[error("HALO-E111 cannot start the engine's threads: {0}")]
    Runtime(std::io::Error),
    #[error("HALO-E112 {0}")]
    Config(String),
}

/// Start-up choices that are not part of the configuration.
#[derive(Debug, Clone, Default)]
pub struct EngineOptions {
    /// Worker threads; default: `nbthread` from the configuration, else one per CPU.
    pub threads: Option<usize>,
}

/// Listening sockets of one bind address: one per worker thread.
pub struct ListenerGroup {
    pub addr: SocketAddr,
    /// `fd@N`: the inherited descriptor the sockets duplicate.
    pub fd: Option<i32>,
    pub sockets: Vec<std::net::TcpListener>,
}

/// A socket filter that drops every packet: on a listener, every SYN.
const DROP_ALL: [socket2::SockFilter; 1] = [socket2::SockFilter::new(0x06, 0, 0, 0)];

/// Listeners paused by [`Engine::quiesce`]; dropping it resumes them.
#[derive(Default)]
pub struct Quiesce {
    groups: Vec<std::sync::Weak<ListenerGroup>>,
    frontends: Vec<Arc<FrontendRt>>,
}

impl Quiesce {
    /// Whether any listener was paused.
    pub fn is_empty(&self) -> bool {
        self.groups.is_empty()
    }

    /// Sessions still open on the paused listeners' frontends.
    pub fn sessions(&self) -> u64 {
        self.frontends
            .iter()
            .map(|f| f.stats.cur.load(Relaxed))
            .sum()
    }
}

impl Drop for Quiesce {
    fn drop(&mut self) {
        // A listener a reload closed meanwhile is gone: nothing to resume.
        for group in self.groups.iter().filter_map(|g| g.upgrade()) {
            for s in &group.sockets {
                let _ = socket2::SockRef::from(s).detach_filter();
            }
        }
    }
}

/// One configuration, running.
pub struct Generation {
    pub config: Config,
    pub frontends: Vec<Arc<FrontendRt>>,
    pub backends: Vec<Arc<BackendRt>>,
    pub listeners: Vec<(String, Arc<ListenerGroup>)>,
    /// Stick tables with counters, by section.
    pub tables: Arc<table::Tables>,
}

/// State shared by every task of the engine.
pub struct Shared {
    pub current: ArcSwap<Generation>,
    pub global_sem: Arc<Semaphore>,
    global_max: AtomicU32,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    pub started: Instant,
    pub threads: usize,
    proxy_stats: Mutex<HashMap<(bool, String), Arc<ProxyStats>>>,
    /// Variables of the process (`proc.`), kept across reloads.
    proc_vars: Arc<Mutex<HashMap<String, crate::sample::Value>>>,
    pub reloads: AtomicU64,
    /// The first worker's runtime (health checks, runtime API, signals).
    pub handle: tokio::runtime::Handle,
    /// One single-threaded runtime per worker thread; listener socket `i` is served by
    /// worker `i`, which keeps a connection it accepts or hands it to a less loaded
    /// worker ([`Activity`]); a session then stays on its worker (thread per core, like
    /// HAProxy).
    pub handles: Vec<tokio::runtime::Handle>,
    /// Re-reads the configuration for `reload` from the runtime API or SIGHUP.
    pub loader: Mutex<Option<Loader>>,
    reload_lock: Mutex<()>,
    /// The runtime sockets (`stats socket`) being served.
    admin: Mutex<Vec<admin::AdminSocket>>,
    /// Sessions per worker thread.
    pub activity: Activity,
}

/// A function that reads the configuration again (from its file).
pub type Loader = Box<dyn Fn() -> Result<Config, String> + Send + Sync>;

/// The load balancer engine. Dropping it stops everything.
pub struct Engine {
    shared: Arc<Shared>,
    workers: Option<Workers>,
}

/// Worker threads, each driving a current-thread tokio runtime until told to stop.
struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    stops: Vec<tokio::sync::oneshot::Sender<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    fn spawn(n: usize) -> std::io::Result<Workers> {
        let mut w = Workers {
            handles: Vec::new(),
            stops: Vec::new(),
            threads: Vec::new(),
        };
        for i in 0..n.max(1) {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (tx, rx) = tokio::sync::oneshot::channel::<()>();
            w.handles.push(rt.handle().clone());
            w.stops.push(tx);
            let t = std::thread::Builder::new()
                .name(format!("halo-lb-{i}"))
                .spawn(move || {
                    rt.block_on(async {
                        // Keep a timer pending at all times. When tokio's timer wheel is
                        // empty, arming a timer wakes the driver through its eventfd
                        // (a write(2) and an extra epoll round), although this thread is
                        // the one running it. Sessions arm a timer only when they must
                        // wait, so between waits the wheel was often empty: a third of
                        // the proxied requests paid that wake-up.
                        let beat = async {
                            loop {
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        };
                        tokio::select! {
                            _ = rx => {}
                            _ = beat => {}
                        }
                    });
                    rt.shutdown_background();
                });
            match t {
                Ok(t) => w.threads.push(t),
                Err(e) => {
                    w.stop(false);
                    return Err(e);
                }
            }
        }
        Ok(w)
    }

    fn stop(&mut self, join: bool) {
        for s in self.stops.drain(..) {
            let _ = s.send(());
        }
        if join {
            for t in self.threads.drain(..) {
                let _ = t.join();
            }
        }
    }
}

fn bind_error_hint(e: &std::io::Error) -> &'static str {
    match e.raw_os_error() {
        Some(libc::EADDRINUSE) => " (the address is in use by another program)",
        Some(libc::EACCES) => " (ports below 1024 need root or CAP_NET_BIND_SERVICE)",
        Some(libc::EADDRNOTAVAIL) => " (address not available)",
        _ => "",
    }
}

/// Binds `n` SO_REUSEPORT + IP_FREEBIND (+ IP_TRANSPARENT when allowed) sockets on
/// `b.addr`; `probe`: after checking that no other program listens there
/// (SO_REUSEPORT alone would silently share the port with it).
pub fn bind_group(b: &Bind, n: usize, probe: bool) -> Result<ListenerGroup, EngineError> {
    let err = |source: std::io::Error| EngineError::Bind {
        place: b.source.clone(),
        addr: b.addr,
        hint: bind_error_hint(&source),
        source,
    };
    if let Some(fd) = b.fd {
        return inherited_group(b, fd).map_err(err);
    }
    let domain = if b.addr.is_ipv4() {
        Domain::IPV4
    } else {
        Domain::IPV6
    };
    let mk = |reuseport: bool| -> std::io::Result<Socket> {
        let s = Socket::new(domain, Type::STREAM, None)?;
        s.set_reuse_address(true)?;
        if reuseport {
            s.set_reuse_port(true)?;
        }
        // IP_TRANSPARENT too (it needs CAP_NET_ADMIN; without it, freebind alone): a
        // session accepted on a virtual IP may still answer once the address has left
        // this node (the kernel refuses to send from an address that is not local
        // otherwise), so a request in flight when the VIP moves is not stranded.
        // Accepted sockets inherit it; without TPROXY rules it changes nothing else.
        if b.addr.is_ipv4() {
            s.set_freebind_v4(true)?;
            let _ = s.set_ip_transparent_v4(true);
        } else {
            s.set_only_v6(b.v6only)?;
            s.set_freebind_v6(true)?;
            let _ = s.set_ip_transparent_v6(true);
        }
        s.set_nonblocking(true)?;
        s.set_cloexec(true)?;
        Ok(s)
    };
    // Probe without SO_REUSEPORT: fails if anyone else has the port.
    if probe {
        let p = mk(false).map_err(err)?;
        p.bind(&b.addr.into()).map_err(err)?;
    }
    if n == 0 {
        return Ok(ListenerGroup {
            addr: b.addr,
            fd: None,
            sockets: Vec::new(),
        });
    }
    let mut sockets = Vec::with_capacity(n);
    for _ in 0..n.max(1) {
        let s = mk(true).map_err(err)?;
        s.bind(&b.addr.into()).map_err(err)?;
        s.listen(b.backlog.unwrap_or(1024) as i32).map_err(err)?;
        sockets.push(s.into());
    }
    Ok(ListenerGroup {
        addr: b.addr,
        fd: None,
        sockets,
    })
}

/// A socket this process was given as descriptor `fd` (`fd@N`), as a duplicate of its
/// own: `fd` itself stays open, so that a reload can take it again.
pub fn inherited_socket(fd: i32) -> std::io::Result<Socket> {
    // SAFETY: F_DUPFD_CLOEXEC makes a new descriptor, which the Socket then owns.
    let dup = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if dup < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `dup` is a fresh descriptor owned by nothing else.
    Ok(unsafe { <Socket as std::os::fd::FromRawFd>::from_raw_fd(dup) })
}

/// `fd@N`: one socket, a duplicate of the inherited descriptor (kept open itself, so a
/// reload can take it again), listening.
fn inherited_group(b: &Bind, fd: i32) -> std::io::Result<ListenerGroup> {
    let s = inherited_socket(fd)?;
    s.listen(b.backlog.unwrap_or(1024) as i32)?;
    s.set_nonblocking(true)?;
    Ok(ListenerGroup {
        addr: b.addr,
        fd: Some(fd),
        sockets: vec![s.into()],
    })
}

impl Engine {
    /// Binds every listener and starts serving `config`.
    pub fn start(config: Config, opts: EngineOptions) -> Result<Engine, EngineError> {
        let pre = prebind(&config, &opts)?;
        Engine::start_prebound(config, pre)
    }

    /// Starts with sockets bound beforehand by [`prebind`] (so a process can chroot and
    /// drop privileges in between, as HAProxy does).
    pub fn start_prebound(config: Config, pre: Prebound) -> Result<Engine, EngineError> {
        let Prebound {
            threads,
            groups,
            admin,
        } = pre;
        let workers = Workers::spawn(threads).map_err(EngineError::Runtime)?;
        let maxconn = config.global.maxconn;
        let empty = Generation {
            config: config.clone(),
            frontends: Vec::new(),
            backends: Vec::new(),
            listeners: Vec::new(),
            tables: Arc::default(),
        };
        let shared = Arc::new(Shared {
            current: ArcSwap::from_pointee(empty),
            global_sem: Arc::new(Semaphore::new(maxconn as usize)),
            global_max: AtomicU32::new(maxconn),
            tasks: Mutex::new(Vec::new()),
            started: Instant::now(),
            threads,
            proxy_stats: Mutex::new(HashMap::new()),
            proc_vars: Arc::default(),
            reloads: AtomicU64::new(0),
            handle: workers.handles[0].clone(),
            handles: workers.handles.clone(),
            loader: Mutex::new(None),
            reload_lock: Mutex::new(()),
            admin: Mutex::new(Vec::new()),
            activity: Activity::new(workers.handles.len()),
        });
        let gen = build(&shared, config, groups)?;
        install(&shared, gen);
        let engine = Engine {
            shared,
            workers: Some(workers),
        };
        let served: Vec<_> = admin
            .into_iter()
            .map(|(conf, b)| admin::serve(&engine.shared, &conf, b))
            .collect();
        *lock(&engine.shared.admin) = served;
        Ok(engine)
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// The runtime the engine runs on (to spawn signal handlers and the like).
    pub fn handle(&self) -> tokio::runtime::Handle {
        self.shared.handle.clone()
    }

    /// Sets how `reload` without a configuration re-reads it.
    pub fn set_loader(&self, l: Loader) {
        *lock(&self.shared.loader) = Some(l);
    }

    /// Replaces the configuration without dropping connections. On error nothing changes.
    pub fn reload(&self, config: Config) -> Result<(), EngineError> {
        reload(&self.shared, config)
    }

    /// Re-reads the configuration with the loader and reloads.
    pub fn reload_from_loader(&self) -> Result<(), EngineError> {
        reload_from_loader(&self.shared)
    }

    /// Sessions open right now, over every frontend.
    /// Servers whose host the cluster declared lost (their address is one of `ips`):
    /// each one still up is marked down at once and its sessions, which can no longer
    /// get an answer, are ended, instead of waiting for `fall` failed checks and for
    /// the clients' timeouts. Checks go on: a server comes back after `rise` passed
    /// checks. Returns how many servers it marked down.
    pub fn hosts_lost(&self, ips: &[std::net::IpAddr]) -> usize {
        let generation = self.shared.current.load();
        let mut n = 0;
        for be in &generation.backends {
            for (i, s) in be.servers.iter().enumerate() {
                if ips.contains(&s.shared.addr.ip())
                    && s.shared.up.load(std::sync::atomic::Ordering::Relaxed)
                {
                    be.health_event(
                        i,
                        crate::health::Event::HostLost,
                        "its host left the cluster",
                    );
                    s.shared.kill_sessions();
                    n += 1;
                }
            }
        }
        n
    }

    /// Servers whose host the cluster holds back (in standby, or back and not settled
    /// yet; their address is one of `ips`) take no new sessions while another server of
    /// their backend can; their sessions go on and so do their checks. Every other
    /// server is released. Returns how many servers are held.
    pub fn hold_hosts(&self, ips: &[std::net::IpAddr]) -> usize {
        let generation = self.shared.current.load();
        let mut n = 0;
        for be in &generation.backends {
            for s in &be.servers {
                let held = ips.contains(&s.shared.addr.ip());
                s.shared.held.store(held, Relaxed);
                n += usize::from(held);
            }
        }
        n
    }

    /// The listeners bound to `ip` stop taking connections until the returned
    /// [`Quiesce`] is dropped: their SYNs are dropped (a socket filter), so a client
    /// retries a second later, when a moved virtual IP answers elsewhere, instead of
    /// being refused; sessions already accepted go on, and [`Quiesce::sessions`] counts
    /// them. Listeners on a wildcard address are left alone (they serve other addresses).
    pub fn quiesce(&self, ip: std::net::IpAddr) -> Quiesce {
        let gen = self.shared.current.load();
        let mut q = Quiesce::default();
        for (fe, group) in gen.listeners.iter().filter(|(_, g)| g.addr.ip() == ip) {
            for s in &group.sockets {
                if let Err(e) = socket2::SockRef::from(s).attach_filter(&DROP_ALL) {
                    tracing::warn!("{}: cannot pause the listener on {}: {e}", fe, group.addr);
                }
            }
            q.groups.push(Arc::downgrade(group));
            q.frontends
                .extend(gen.frontends.iter().filter(|f| f.cfg.name == *fe).cloned());
        }
        q
    }

    pub fn current_sessions(&self) -> u64 {
        self.shared
            .current
            .load()
            .frontends
            .iter()
            .map(|f| f.stats.cur.load(Relaxed))
            .sum()
    }

    /// True while every listener is open and the runtime runs (for `monitor`).
    pub fn is_healthy(&self) -> bool {
        let g = self.shared.current.load();
        let want: usize = g
            .frontends
            .iter()
            .filter(|f| !f.cfg.disabled)
            .map(|f| f.cfg.bind.len())
            .sum();
        let have = lock(&self.shared.tasks)
            .iter()
            .filter(|t| !t.is_finished())
            .count();
        have >= want
    }

    /// Stops accepting, waits up to `grace` for sessions to end, then stops.
    pub fn stop(mut self, grace: Duration) {
        for t in lock(&self.shared.tasks).drain(..) {
            t.abort();
        }
        let empty = Generation {
            config: self.shared.current.load().config.clone(),
            frontends: Vec::new(),
            backends: Vec::new(),
            listeners: Vec::new(),
            tables: Arc::default(),
        };
        let old = self.shared.current.swap(Arc::new(empty));
        // Close the listening sockets now (the generation owns them); sessions keep
        // their frontends alive on their own.
        let fronts: Vec<Arc<FrontendRt>> = old.frontends.clone();
        drop(old);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline && fronts.iter().any(|f| f.stats.cur.load(Relaxed) > 0) {
            std::thread::sleep(Duration::from_millis(20));
        }
        drop(fronts);
        if let Some(mut w) = self.workers.take() {
            // Join unless called from one of the workers themselves.
            let on_worker = std::thread::current()
                .name()
                .map(|n| n.starts_with("halo-lb-"))
                .unwrap_or(false);
            w.stop(!on_worker);
        }
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        for t in lock(&self.shared.tasks).drain(..) {
            t.abort();
        }
        admin::close_all(&self.shared);
        if let Some(mut w) = self.workers.take() {
            w.stop(false);
        }
    }
}

/// Sockets bound before the engine starts.
pub struct Prebound {
    pub threads: usize,
    pub groups: Vec<(String, Arc<ListenerGroup>)>,
    pub admin: Vec<(crate::config::StatsSocket, admin::Bound)>,
}

/// Binds the listeners and runtime sockets of `config`.
pub fn prebind(config: &Config, opts: &EngineOptions) -> Result<Prebound, EngineError> {
    let threads = opts.threads.or(config.global.nbthread).unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let groups = bind_all(config, threads, None)?;
    let mut admin_socks = Vec::new();
    for s in &config.global.stats_socket {
        let l = admin::bind(s)
            .map_err(|e| EngineError::Config(format!("stats socket {}: {e}", s.path.display())))?;
        admin_socks.push((s.clone(), l));
    }
    Ok(Prebound {
        threads,
        groups,
        admin: admin_socks,
    })
}

/// Binds the listeners of `config`, reusing those of `old` with the same address.
pub fn bind_all(
    config: &Config,
    threads: usize,
    old: Option<&Generation>,
) -> Result<Vec<(String, Arc<ListenerGroup>)>, EngineError> {
    let binds = config
        .frontends
        .iter()
        .filter(|f| !f.disabled)
        .flat_map(|f| f.bind.iter().map(move |b| (f, b)));
    let reused = |b: &Bind| {
        old.and_then(|g| {
            g.listeners.iter().find(|(_, l)| {
                l.addr == b.addr
                    && l.fd == b.fd
                    && (b.fd.is_some() || l.sockets.len() == threads.max(1))
            })
        })
    };
    // Every new address is probed before any is bound: a dual-stack `:::P` beside
    // `*:P` in the same configuration shares the port with it, which a probe made once
    // `*:P` is bound would take for another program.
    for (_, b) in binds.clone() {
        if reused(b).is_none() && b.fd.is_none() {
            bind_group(b, 0, true)?;
        }
    }
    let mut out = Vec::new();
    for (f, b) in binds {
        let group = match reused(b) {
            Some((_, l)) => l.clone(),
            None => Arc::new(bind_group(b, threads, false)?),
        };
        // `option tcp-smart-accept` (set or cleared again on a reload): a connection is
        // handed over only once its first bytes came (up to a second).
        for s in &group.sockets {
            let secs: libc::c_int = i32::from(f.tcp_smart_accept);
            // SAFETY: a valid socket descriptor and an int option of the right size.
            let rc = unsafe {
                libc::setsockopt(
                    std::os::fd::AsRawFd::as_raw_fd(s),
                    libc::IPPROTO_TCP,
                    libc::TCP_DEFER_ACCEPT,
                    std::ptr::addr_of!(secs).cast(),
                    std::mem::size_of::<libc::c_int>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                tracing::warn!(
                    "{}: TCP_DEFER_ACCEPT on {}: {}",
                    f.name,
                    b.addr,
                    std::io::Error::last_os_error()
                );
            }
        }
        out.push((f.name.clone(), group));
    }
    Ok(out)
}

fn proxy_stats(shared: &Shared, frontend: bool, name: &str) -> Arc<ProxyStats> {
    lock(&shared.proxy_stats)
        .entry((frontend, name.to_string()))
        .or_default()
        .clone()
}

/// The `global` section's `set-var`s, in order, into the process's variables: only
/// constants, variables and converters have values there (no message, no connection).
fn set_global_vars(shared: &Shared, config: &Config) {
    let Ok(mut vars) = shared.proc_vars.lock() else {
        return;
    };
    for (name, value) in &config.global.set_var {
        let v = match value {
            crate::config::VarValue::Expr(e) => e.eval(&crate::sample::NoMessage, &mut *vars),
            crate::config::VarValue::Fmt(f) => Some(crate::sample::Value::Str(
                f.render(&crate::sample::NoMessage, &mut *vars),
            )),
        };
        if let Some(v) = v {
            vars.insert(name.clone(), v);
        }
    }
}

type Upstreams = (Option<Arc<tls::Upstream>>, Option<Arc<tls::Upstream>>);

/// A server's TLS connectors, for its traffic and for its checks.
fn upstreams(
    b: &crate::config::Backend,
    s: &crate::config::Server,
) -> Result<Upstreams, EngineError> {
    let Some(t) = &s.tls else {
        return Ok((None, None));
    };
    let err = |e: String| EngineError::Config(format!("{}: server `{}`: {e}", s.source, s.name));
    // halo speaks HTTP/1.1 to servers: in mode http only that is offered.
    let alpn: Vec<String> = match b.mode {
        Mode::Http => t.alpn.iter().filter(|p| *p != "h2").cloned().collect(),
        Mode::Tcp => t.alpn.clone(),
    };
    let traffic = match t.traffic {
        true => Some(Arc::new(
            tls::Upstream::new(t, s.addr.ip(), &alpn, t.sni.is_some()).map_err(err)?,
        )),
        false => None,
    };
    let ip = s.check_params.addr.unwrap_or(s.addr.ip());
    let checks = match t.checks {
        true => Some(Arc::new(
            tls::Upstream::new(t, ip, &t.check_alpn, t.check_sni.is_some()).map_err(err)?,
        )),
        false => None,
    };
    Ok((traffic, checks))
}

/// Builds the runtime objects of a configuration, carrying over server state.
fn build(
    shared: &Arc<Shared>,
    config: Config,
    listeners: Vec<(String, Arc<ListenerGroup>)>,
) -> Result<Generation, EngineError> {
    let old = shared.current.load();
    set_global_vars(shared, &config);
    let global_logger = Arc::new(Logger::new(&config.global.log));
    let tables = Arc::new(table::build(&config.tables, &old.tables));
    let mut backends: Vec<Arc<BackendRt>> = Vec::new();
    for b in &config.backends {
        let old_b = old.backends.iter().find(|x| x.cfg.name == b.name);
        let servers = b
            .server
            .iter()
            .map(|s| {
                let reuse = old_b.and_then(|ob| {
                    ob.servers
                        .iter()
                        .find(|os| os.cfg.name == s.name && os.cfg.addr == s.addr)
                });
                let shared = match reuse {
                    Some(os) => {
                        let sh = os.shared.clone();
                        lock(&sh.health).reconfigure(
                            s.check_params.rise,
                            s.check_params.fall,
                            s.error_limit,
                            s.on_error,
                        );
                        if os.cfg.weight != s.weight {
                            sh.weight.store(s.weight, Relaxed);
                        }
                        if os.cfg.maxconn != s.maxconn {
                            sh.maxconn.store(s.maxconn, Relaxed);
                        }
                        if os.cfg.disabled != s.disabled {
                            sh.set_admin(if s.disabled {
                                Admin::Maint
                            } else {
                                Admin::Ready
                            });
                        }
                        sh
                    }
                    None => Arc::new(ServerShared::new(&b.name, s)),
                };
                if !s.check {
                    shared.up.store(true, Relaxed);
                }
                let (tls, check_tls) = upstreams(b, s)?;
                Ok(ServerRt {
                    cfg: s.clone(),
                    shared,
                    tls,
                    check_tls,
                })
            })
            .collect::<Result<Vec<_>, EngineError>>()?;
        // A backend logs to its own targets, else where the frontends that use it log
        // (HAProxy: `log global`).
        let own = (!b.log.is_empty()).then(|| Arc::new(Logger::new(&b.log)));
        let logger = own
            .or_else(|| {
                config
                    .frontends
                    .iter()
                    .find(|f| {
                        f.default_backend.as_deref() == Some(&b.name)
                            || f.use_backend.iter().any(|u| u.backend == b.name)
                    })
                    .map(|f| Arc::new(Logger::new(&f.log)))
            })
            .filter(|l| l.is_active())
            .unwrap_or_else(|| global_logger.clone());
        backends.push(Arc::new(BackendRt::new(
            b.clone(),
            servers,
            proxy_stats(shared, false, &b.name),
            logger,
            &tables,
        )));
    }
    wire_trackers(&backends);
    let find = |n: &str| backends.iter().find(|b| b.cfg.name == n).cloned();
    let mut frontends = Vec::new();
    let auth = Arc::new(state::Auth::new(config.userlists.clone()));
    let by_name: Arc<HashMap<String, Arc<BackendRt>>> = Arc::new(
        backends
            .iter()
            .map(|b| (b.cfg.name.clone(), b.clone()))
            .collect(),
    );
    for f in &config.frontends {
        let rules: Vec<(crate::config::UseBackend, state::Route)> = f
            .use_backend
            .iter()
            .filter_map(|u| {
                let route = if u.backend.contains('%') {
                    let named = match &u.named {
                        Some(f) => f.clone(),
                        None => crate::sample::LogFmt::parse(&u.backend).ok()?,
                    };
                    state::Route::Named(named)
                } else {
                    state::Route::Fixed(find(&u.backend)?)
                };
                Some((u.clone(), route))
            })
            .collect();
        let tls_servers = |b: &BackendRt| b.servers.iter().any(|s| s.tls.is_some());
        let upstream_tls = rules.iter().any(|(_, r)| match r {
            // A backend named by a sample may be any of them.
            state::Route::Named(_) => backends.iter().any(|b| tls_servers(b)),
            state::Route::Fixed(b) => tls_servers(b.as_ref()),
        }) || f
            .default_backend
            .as_deref()
            .and_then(find)
            .is_some_and(|b| tls_servers(&b));
        let maxconn = f.maxconn.unwrap_or(config.global.maxconn).max(1) as usize;
        // TLS listeners: their certificates are read here, at each start and reload.
        let tls = f
            .bind
            .iter()
            .filter_map(|b| b.tls.as_ref().map(|t| (b, t)))
            .map(|(b, t)| {
                tls::acceptor(t)
                    .map(|a| (b.addr, b.fd, a))
                    .map_err(|e| EngineError::Config(format!("{}: {e}", b.source)))
            })
            .collect::<Result<Vec<_>, _>>()?;
        frontends.push(Arc::new(FrontendRt {
            cfg: f.clone(),
            default_backend: f.default_backend.as_deref().and_then(find),
            rules,
            stats: proxy_stats(shared, true, &f.name),
            sem: Arc::new(Semaphore::new(maxconn)),
            logger: Arc::new(Logger::new(&f.log)),
            log_line: logfmt::line_format(f),
            splice: config.global.splice,
            proc_vars: shared.proc_vars.clone(),
            after_any: !f.http_after_response.is_empty()
                || config
                    .backends
                    .iter()
                    .any(|b| !b.http_after_response.is_empty()),
            auth: auth.clone(),
            by_name: by_name.clone(),
            tls,
            upstream_tls,
            tables: tables.clone(),
        }));
    }
    Ok(Generation {
        config,
        frontends,
        backends,
        listeners,
        tables,
    })
}

/// Makes `gen` current: starts its accept and check tasks, then stops the old ones.
fn install(shared: &Arc<Shared>, gen: Generation) {
    let gen = Arc::new(gen);
    let want = gen.config.global.maxconn;
    let had = shared.global_max.swap(want, Relaxed);
    if want > had {
        shared.global_sem.add_permits((want - had) as usize);
    } else if want < had {
        let sem = shared.global_sem.clone();
        shared.handle.spawn(async move {
            if let Ok(p) = sem.acquire_many(had - want).await {
                p.forget();
            }
        });
    }
    shared.current.store(gen.clone());
    let mut tasks = Vec::new();
    for fe in gen.frontends.iter().filter(|f| !f.cfg.disabled) {
        for (_, group) in gen.listeners.iter().filter(|(n, _)| *n == fe.cfg.name) {
            let tls = fe
                .tls
                .iter()
                .find(|(a, fd, _)| *a == group.addr && *fd == group.fd)
                .map(|(_, _, t)| t.clone());
            let tls = Listening {
                tls,
                accept_proxy: fe
                    .cfg
                    .bind
                    .iter()
                    .any(|b| b.addr == group.addr && b.fd == group.fd && b.accept_proxy),
            };
            for (j, sock) in group.sockets.iter().enumerate() {
                let Ok(sock) = sock.try_clone() else { continue };
                let fe = fe.clone();
                let sh = shared.clone();
                let w = j % shared.handles.len();
                let tls = tls.clone();
                tasks.push(shared.handles[w].spawn(async move {
                    match TcpListener::from_std(sock) {
                        Ok(l) => accept_loop(sh, fe, l, w, tls).await,
                        Err(e) => tracing::error!("cannot register listener: {e}"),
                    }
                }));
            }
        }
    }
    for be in &gen.backends {
        let n = be.servers.len();
        for i in 0..n {
            let h = &shared.handles[i % shared.handles.len()];
            if be.servers[i].cfg.check {
                let be = be.clone();
                tasks.push(h.spawn(check_loop(be, i, n, gen.config.global.spread_checks)));
            }
            if be.servers[i].cfg.agent.is_some() {
                tasks.push(h.spawn(agent_loop(be.clone(), i)));
            }
        }
    }
    let old = std::mem::replace(&mut *lock(&shared.tasks), tasks);
    for t in old {
        t.abort();
    }
}

fn reload(shared: &Arc<Shared>, config: Config) -> Result<(), EngineError> {
    let _guard = lock(&shared.reload_lock);
    let old = shared.current.load_full();
    let listeners = bind_all(&config, shared.threads, Some(&old))?;
    let sockets = config.global.stats_socket.clone();
    let fresh = admin::prepare(shared, &sockets).map_err(EngineError::Config)?;
    let gen = build(shared, config, listeners)?;
    install(shared, gen);
    admin::apply(shared, &sockets, fresh);
    shared.reloads.fetch_add(1, Relaxed);
    tracing::info!("configuration reloaded");
    Ok(())
}

pub(crate) fn reload_from_loader(shared: &Arc<Shared>) -> Result<(), EngineError> {
    let cfg = {
        let l = lock(&shared.loader);
        match l.as_ref() {
            Some(f) => f().map_err(EngineError::Config)?,
            None => {
                return Err(EngineError::Config(
                    "this engine has no configuration file to re-read".into(),
                ))
            }
        }
    };
    reload(shared, cfg)
}

/// Applies a change to the current configuration (runtime `add server` and the like).
pub(crate) fn reconfigure(
    shared: &Arc<Shared>,
    f: impl FnOnce(&mut Config) -> Result<(), String>,
) -> Result<(), EngineError> {
    let mut cfg = shared.current.load().config.clone();
    f(&mut cfg).map_err(EngineError::Config)?;
    let errs = crate::config::haproxy::validate(&cfg);
    if let Some(e) = errs.first() {
        return Err(EngineError::Config(e.to_string()));
    }
    reload(shared, cfg)
}

/// What a listener does with the connections it accepts before serving them.
#[derive(Clone)]
struct Listening {
    /// TLS termination.
    tls: Option<tokio_rustls::TlsAcceptor>,
    /// `accept-proxy`: a PROXY protocol header comes first.
    accept_proxy: bool,
}

async fn accept_loop(
    shared: Arc<Shared>,
    fe: Arc<FrontendRt>,
    listener: TcpListener,
    worker: usize,
    tls: Listening,
) {
    loop {
        // Accept only while below maxconn (frontend and global), but do not hold a slot
        // while waiting: with one listener per worker, a slot held by an idle accept
        // would be missing for a connection queued on another worker's socket.
        {
            let Ok(_f) = fe.sem.acquire().await else {
                return;
            };
            let Ok(_g) = shared.global_sem.acquire().await else {
                return;
            };
        }
        match listener.accept().await {
            Ok((stream, peer)) => {
                let Ok(fp) = fe.sem.clone().acquire_owned().await else {
                    return;
                };
                let Ok(gp) = shared.global_sem.clone().acquire_owned().await else {
                    return;
                };
                let permits = (fp, gp);
                let to = shared.activity.assign(worker);
                let load = WorkerLoad {
                    shared: shared.clone(),
                    worker: to,
                };
                if to == worker {
                    tokio::spawn(serve(fe.clone(), stream, peer, permits, load, tls.clone()));
                    continue;
                }
                // Another worker carries fewer sessions: the connection moves there
                // (out of this worker's epoll set, into that one's).
                match stream.into_std() {
                    Ok(std) => {
                        let fe = fe.clone();
                        let tls = tls.clone();
                        shared.handles[to].spawn(async move {
                            match tokio::net::TcpStream::from_std(std) {
                                Ok(stream) => serve(fe, stream, peer, permits, load, tls).await,
                                Err(e) => tracing::warn!("cannot hand over a connection: {e}"),
                            }
                        });
                    }
                    Err(e) => tracing::warn!("cannot hand over a connection: {e}"),
                }
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!("accept on {} failed: {e}", fe.cfg.name);
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// One accepted connection, served on the worker it was given to.
async fn serve(
    fe: Arc<FrontendRt>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    load: WorkerLoad,
    lst: Listening,
) {
    if lst.accept_proxy {
        // What the header tells stays with the connection's task (`http::local_addr`
        // and the `fc_pp_*` fetches read it).
        let told = proxy_proto::PROXIED.scope(
            Default::default(),
            serve_conn(fe, stream, peer, permits, load, lst),
        );
        Box::pin(told).await
    } else {
        serve_conn(fe, stream, peer, permits, load, lst).await
    }
}

async fn serve_conn(
    fe: Arc<FrontendRt>,
    mut stream: tokio::net::TcpStream,
    mut peer: SocketAddr,
    _permits: (OwnedSemaphorePermit, OwnedSemaphorePermit),
    load: WorkerLoad,
    lst: Listening,
) {
    let tls = lst.tls;
    let _ = stream.set_nodelay(true);
    if fe.cfg.clitcpka {
        let _ = socket2::SockRef::from(&stream).set_keepalive(true);
    }
    if fe.cfg.nolinger {
        let _ = socket2::SockRef::from(&stream).set_linger(Some(Duration::ZERO));
    }
    fe.stats.open();
    // The session's variables, which `tcp-request connection|session` rules may set.
    let mut sess = rules::Session::default();
    use crate::config::TcpStage::{Connection, Content, Session};
    // In `mode tcp` (not terminating TLS), `inspect-delay` has the content rules and
    // the routing read the client's first bytes.
    let inspect = match (fe.cfg.mode, &tls, fe.cfg.inspect_delay) {
        (Mode::Tcp, None, Some(d)) => Some(d.0),
        _ => None,
    };
    let stages: &[crate::config::TcpStage] = match fe.cfg.mode == Mode::Tcp && inspect.is_none() {
        true => &[Connection, Session, Content],
        false => &[Connection, Session],
    };
    if lst.accept_proxy {
        // The `tcp-request connection` rules see the proxy in front; the header comes
        // before anything else and tells the session's addresses (what those rules
        // moved stays the connection's: `fc_src`, `fc_dst`).
        let proxy = peer;
        if !fe.cfg.tcp_request.is_empty()
            && !accepted(&fe, &stream, &mut peer, &mut sess, None, &stages[..1])
        {
            fe.stats.denied.fetch_add(1, Relaxed);
            fe.stats.close();
            return;
        }
        let within = fe
            .cfg
            .timeout_client
            .map_or(Duration::from_secs(5), |d| d.0);
        match proxy_proto::receive(&mut stream, within).await {
            Ok(told) => {
                let mut addrs = sess.addrs();
                if peer != proxy || addrs.dst.is_some() {
                    let dst = addrs.dst.take();
                    let local = dst.unwrap_or_else(|| http::local_addr(&stream));
                    addrs.fc = Some((peer, local));
                    sess.set_addrs(addrs);
                    peer = proxy;
                }
                if let Some((src, _)) = told.addrs {
                    peer = src;
                }
                let _ = proxy_proto::PROXIED.try_with(|c| c.set(told));
            }
            Err(e) => {
                tracing::debug!("{}: connection from {peer} refused: {e}", fe.cfg.name);
                fe.stats.close();
                return;
            }
        }
    }
    let stages = match lst.accept_proxy {
        true => &stages[1..],
        false => stages,
    };
    if !fe.cfg.tcp_request.is_empty() && !accepted(&fe, &stream, &mut peer, &mut sess, None, stages)
    {
        fe.stats.denied.fetch_add(1, Relaxed);
        fe.stats.close();
        return;
    }
    let payload = match inspect {
        Some(d) => Some(payload::inspect(&stream, d).await),
        None => None,
    };
    if let (Some(p), false) = (&payload, fe.cfg.tcp_request.is_empty()) {
        if !accepted(&fe, &stream, &mut peer, &mut sess, Some(p), &[Content]) {
            fe.stats.denied.fetch_add(1, Relaxed);
            fe.stats.close();
            return;
        }
    }
    if let Some(acceptor) = tls {
        match fe.cfg.mode {
            Mode::Http => {
                Box::pin(tls::session(
                    &load.shared,
                    &fe,
                    stream,
                    peer,
                    sess,
                    acceptor,
                ))
                .await
            }
            Mode::Tcp => {
                if let Some(s) = tls::handshake(&fe, stream, peer, acceptor).await {
                    let client = tcp::ClientStream::Tls(Box::new(s));
                    Box::pin(tcp::session(&fe, client, peer, sess, None)).await
                }
            }
        }
        fe.stats.close();
        return;
    }
    // Boxed so that a task is only as large as its own mode needs.
    match fe.cfg.mode {
        Mode::Tcp => {
            Box::pin(tcp::session(
                &fe,
                tcp::ClientStream::Plain(stream),
                peer,
                sess,
                payload.as_deref(),
            ))
            .await
        }
        Mode::Http => match http::opening(&fe, &stream).await {
            Some(http::Opening::Http1) if fe.upstream_tls => {
                let client = http::Client {
                    peer,
                    local: sess
                        .addrs()
                        .dst
                        .unwrap_or_else(|| http::local_addr(&stream)),
                    sess,
                    tls: None,
                };
                let io = hyper_util::rt::TokioIo::new(stream);
                Box::pin(http::serve_hyper(&load.shared, &fe, io, client, false)).await
            }
            Some(http::Opening::Http1) => {
                Box::pin(h1::session(&load.shared, &fe, stream, peer, sess)).await
            }
            Some(http::Opening::Http2) if !fe.cfg.disable_h2_upgrade => {
                Box::pin(http::session_h2(&load.shared, &fe, stream, peer, sess)).await
            }
            // `option disable-h2-upgrade`: an HTTP/1 server cannot answer the preface.
            _ => {}
        },
    }
    fe.stats.close();
}

/// The frontend's `tcp-request connection` then `session` rules (in `mode tcp`, its
/// `content` rules too, which have no payload to read): whether the connection goes on.
/// What they move of the addresses is the connection's at the `connection` stage, else
/// the session's (`fc_src` and `fc_dst` keep the connection's); `peer` becomes the
/// session's client.
fn accepted(
    fe: &FrontendRt,
    stream: &tokio::net::TcpStream,
    peer: &mut SocketAddr,
    sess: &mut rules::Session,
    payload: Option<&[u8]>,
    stages: &[crate::config::TcpStage],
) -> bool {
    let mut addrs = sess.addrs();
    let mut vars = rules::TxnVars::new(sess, fe);
    let mut pass = true;
    for stage in stages {
        let dst = addrs.dst;
        let local = || dst.unwrap_or_else(|| http::local_addr(stream));
        let conn = rules::Conn {
            payload,
            fc: addrs.fc,
            ..rules::Conn::new(*peer, &local, fe)
        };
        let rules = &fe.cfg.tcp_request;
        let Some(moved) = rules::tcp_rules_pass(rules, *stage, &fe.cfg.acl, &conn, &mut vars)
        else {
            pass = false;
            break;
        };
        if moved == rules::Moved::default() {
            continue;
        }
        if *stage != crate::config::TcpStage::Connection && addrs.fc.is_none() {
            addrs.fc = Some((*peer, local()));
        }
        *peer = moved.src.unwrap_or(*peer);
        addrs.dst = moved.dst.or(addrs.dst);
    }
    // What `track-sc*` tracked stays tracked for the connection (in `mode http`, the
    // connection and session stages' entries, which its requests count on).
    let counters = std::mem::take(&mut vars.counters);
    drop(vars);
    if !pass {
        return false;
    }
    if stages.contains(&crate::config::TcpStage::Session) {
        // A session begins: counted on what its connection's rules track.
        counters.count(crate::sample::stick::Counter::Sess);
    }
    sess.set_tracked(counters.slots);
    sess.set_addrs(addrs);
    true
}

/// Per worker thread: the sessions it carries, the connections it accepted and those it
/// handed to another worker (`show activity`).
///
/// The kernel spreads connections over the SO_REUSEPORT sockets by a hash of their
/// addresses, which leaves some workers with more sessions than others (50 connections
/// over two workers: 25 ± 4 each), and the busier worker answers later. As HAProxy does,
/// the worker that accepts a connection gives it to the worker with the fewest sessions
/// when that one has fewer than itself.
pub struct Activity {
    sessions: Vec<AtomicU64>,
    accepted: Vec<AtomicU64>,
    pushed: Vec<AtomicU64>,
}

impl Activity {
    fn new(workers: usize) -> Activity {
        let zeros = || (0..workers.max(1)).map(|_| AtomicU64::new(0)).collect();
        Activity {
            sessions: zeros(),
            accepted: zeros(),
            pushed: zeros(),
        }
    }

    /// The worker that is to serve a connection accepted by worker `own`, counted there.
    fn assign(&self, own: usize) -> usize {
        self.accepted[own].fetch_add(1, Relaxed);
        let mut to = own;
        let mut least = self.sessions[own].load(Relaxed);
        for (i, s) in self.sessions.iter().enumerate() {
            let n = s.load(Relaxed);
            if n < least {
                (to, least) = (i, n);
            }
        }
        if to != own {
            self.pushed[own].fetch_add(1, Relaxed);
        }
        self.sessions[to].fetch_add(1, Relaxed);
        to
    }

    /// `show activity`: each counter's total, then its value per worker.
    pub fn report(&self) -> String {
        let mut out = format!("thread_id: 0 (0..{})\n", self.sessions.len() - 1);
        for (name, v) in [
            ("sessions", &self.sessions),
            ("accepted", &self.accepted),
            ("accq_pushed", &self.pushed),
        ] {
            let each: Vec<u64> = v.iter().map(|c| c.load(Relaxed)).collect();
            let list: Vec<String> = each.iter().map(u64::to_string).collect();
            out += &format!(
                "{name}: {} [ {} ]\n",
                each.iter().sum::<u64>(),
                list.join(" ")
            );
        }
        out
    }
}

/// A session counted on its worker until it ends.
struct WorkerLoad {
    shared: Arc<Shared>,
    worker: usize,
}

impl Drop for WorkerLoad {
    fn drop(&mut self) {
        self.shared.activity.sessions[self.worker].fetch_sub(1, Relaxed);
    }
}

/// Timeouts of a health check, HAProxy's way: without `timeout check`, the whole check
/// must fit in `inter`; with it, connecting gets min(`timeout connect`, `inter`) and
/// the exchange `timeout check` more.
pub fn check_timeouts(be: &crate::config::Backend, inter: Duration) -> ProbeTimeouts {
    match be.timeout_check {
        None => ProbeTimeouts {
            connect: inter,
            total: inter,
        },
        Some(tc) => {
            let connect = be.timeout_connect.map(|c| c.0.min(inter)).unwrap_or(inter);
            ProbeTimeouts {
                connect,
                total: connect + tc.0,
            }
        }
    }
}

async fn check_loop(be: Arc<BackendRt>, i: usize, n: usize, spread: u8) {
    let s = &be.servers[i];
    let cp = s.cfg.check_params.clone();
    // Spread the first checks of a backend over a short window.
    let first = cp.inter.0.min(Duration::from_millis(500)) * (i as u32 + 1) / (n as u32 + 1);
    tokio::time::sleep(first).await;
    let target = SocketAddr::new(
        cp.addr.unwrap_or(s.cfg.addr.ip()),
        cp.port.unwrap_or(s.cfg.addr.port()),
    );
    loop {
        let tls = s
            .check_tls
            .as_deref()
            .map(|upstream| crate::probe::CheckTls {
                upstream,
                sni: s.cfg.tls.as_ref().and_then(|t| t.check_sni.as_deref()),
            });
        let proxy = s.cfg.proxy.filter(|_| s.cfg.check_proxy);
        let timeouts = check_timeouts(&be.cfg, cp.inter.0);
        let from = s.cfg.source_addr.or(be.cfg.source_addr);
        let r = probe(&be.cfg.check, (target, from), timeouts, tls, proxy).await;
        let status_was = {
            let mut lc = lock(&s.shared.last_check);
            lc.code = r.code;
            lc.duration_ms = r.duration.as_millis() as u64;
            lc.detail = r.detail.clone();
            std::mem::replace(&mut lc.status, r.status.to_string())
        };
        if !r.ok {
            s.shared.chkfail.fetch_add(1, Relaxed);
        }
        let why = check_reason(&r);
        let ev = if r.ok {
            Event::CheckPassed
        } else {
            Event::CheckFailed
        };
        // The check moves the server's health once; as HAProxy, its line is logged
        // (when the status or the health moved) before the change of state it brings.
        let (change, line) = {
            let mut h = lock(&s.shared.health);
            let health_was = h.counter().0;
            let change = h.on(ev);
            let health = h.counter().0;
            let moved = status_was != r.status || health != health_was;
            let line = (be.cfg.log_health_checks && moved).then(|| {
                let (a, b, state) = match h.is_up() {
                    true => (health + 1 - h.rise(), h.fall(), "UP"),
                    false => (health, h.rise(), "DOWN"),
                };
                format!(
                    "Health check for server {}/{} {}, reason: {why}, status: {a}/{b} {state}.",
                    be.cfg.name,
                    s.cfg.name,
                    if r.ok { "succeeded" } else { "failed" },
                )
            });
            (change, line)
        };
        if let Some(line) = line {
            be.logger.check(&line);
        }
        be.apply_change(i, change, &why);
        let next = {
            let h = lock(&s.shared.health);
            h.next_interval(&cp)
        };
        tokio::time::sleep(spread_interval(next, spread)).await;
    }
}

/// Tells each server which servers track it (`track`), and starts each tracking server
/// as up or down as the checked server at the end of its chain.
fn wire_trackers(backends: &[Arc<BackendRt>]) {
    let find = |t: &str| {
        let (b, n) = t.split_once('/')?;
        let be = backends.iter().find(|x| x.cfg.name == b)?;
        let j = be.servers.iter().position(|s| s.cfg.name == n)?;
        Some((be, j))
    };
    for be in backends {
        let lists = be
            .servers
            .iter()
            .map(|s| {
                let me = format!("{}/{}", be.cfg.name, s.cfg.name);
                backends
                    .iter()
                    .flat_map(|o| {
                        o.servers
                            .iter()
                            .enumerate()
                            .filter(|(_, t)| t.cfg.track.as_deref() == Some(me.as_str()))
                            .map(move |(j, _)| (Arc::downgrade(o), j))
                    })
                    .collect()
            })
            .collect();
        let _ = be.trackers.set(lists);
    }
    for be in backends {
        for s in &be.servers {
            let mut at = s.cfg.track.as_deref().and_then(find);
            // Validation bounds the chain; so does the number of servers here.
            for _ in 0..backends.iter().map(|b| b.servers.len()).sum::<usize>() {
                match at {
                    Some((b, j)) if b.servers[j].cfg.track.is_some() => {
                        at = b.servers[j].cfg.track.as_deref().and_then(find);
                    }
                    _ => break,
                }
            }
            if let Some((b, j)) = at {
                let up = b.servers[j].shared.up.load(Relaxed);
                s.shared.up.store(up, Relaxed);
            }
        }
    }
}

/// An interval moved by up to `spread` percent either way (`spread-checks`).
fn spread_interval(inter: Duration, spread: u8) -> Duration {
    if spread == 0 {
        return inter;
    }
    let pct = fastrand::i32(-i32::from(spread)..=i32::from(spread));
    inter.mul_f64(1.0 + f64::from(pct) / 100.0)
}

/// Server `i`'s agent check: every `agent-inter`, connect to the agent, send
/// `agent-send`, read one line (up to a line end, a NUL or the agent's close) and let
/// the backend act on it; an agent that cannot be reached or says nothing in time
/// changes nothing.
async fn agent_loop(be: Arc<BackendRt>, i: usize) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let s = &be.servers[i];
    let Some(agent) = s.cfg.agent.clone() else {
        return;
    };
    let target = SocketAddr::new(agent.addr.unwrap_or(s.cfg.addr.ip()), agent.port);
    let timeouts = check_timeouts(&be.cfg, agent.inter.0);
    let ask = || async {
        let mut c = tokio::time::timeout(timeouts.connect, tokio::net::TcpStream::connect(target))
            .await
            .ok()?
            .ok()?;
        if let Some(text) = &agent.send {
            c.write_all(text.as_bytes()).await.ok()?;
        }
        let mut buf = Vec::with_capacity(128);
        let mut chunk = [0u8; 512];
        while !buf.iter().any(|b| matches!(b, b'\n' | b'\r' | 0)) && buf.len() < 4096 {
            match c.read(&mut chunk).await.ok()? {
                0 => break,
                n => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let end = buf
            .iter()
            .position(|b| matches!(b, b'\n' | b'\r' | 0))
            .unwrap_or(buf.len());
        Some(String::from_utf8_lossy(&buf[..end]).into_owned())
    };
    loop {
        let said = tokio::time::timeout(timeouts.total, ask()).await;
        if let Ok(Some(line)) = said {
            be.agent_said(i, &line);
        }
        tokio::time::sleep(agent.inter.0).await;
    }
}

/// A check's outcome in HAProxy's words: `Layer7 timeout, info: "...", check duration:
/// 3ms` (what the health-check log line and the server state changes give as reason).
fn check_reason(r: &crate::probe::ProbeResult) -> String {
    let words = match r.status {
        "L4OK" => "Layer4 check passed",
        "L4TOUT" => "Layer4 timeout",
        "L4CON" => "Layer4 connection problem",
        "L6OK" => "Layer6 check passed",
        "L6TOUT" => "Layer6 timeout",
        "L6RSP" => "Layer6 invalid response",
        "L7OK" => "Layer7 check passed",
        "L7OKC" => "Layer7 check conditionally passed",
        "L7TOUT" => "Layer7 timeout",
        "L7RSP" => "Layer7 invalid response",
        "L7STS" => "Layer7 wrong status",
        _ => "Socket error",
    };
    let mut out = words.to_string();
    if let Some(c) = r.code {
        out.push_str(&format!(", code: {c}"));
    }
    if !r.detail.is_empty() {
        out.push_str(&format!(", info: \"{}\"", r.detail));
    }
    out.push_str(&format!(", check duration: {}ms", r.duration.as_millis()));
    out
}

/// Re-reads the configuration with the engine's loader and reloads (for signal handlers).
pub fn reload_shared(shared: &Arc<Shared>) -> Result<(), EngineError> {
    reload_from_loader(shared)
}
